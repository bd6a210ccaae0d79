//! Which process is the controller: a lease in the store's `meta` table (holder, expiry), taken when
//! free or expired, renewed by its holder's heartbeat, released at a clean stop. Pure: the caller
//! reads and writes the stored value in one write transaction (`App::update_meta`), so two
//! processes that try at once take turns and exactly one holds it.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// The `meta` key the lease is stored under.
pub const KEY: &str = "controller:lease";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    pub holder: String,
    pub until: Timestamp,
}

/// The lease after `me` tried to take or renew it at `now`, and whether `me` holds it: a free, an
/// expired or an own lease is (re)taken until `now + ttl`; another live holder's is left alone.
pub fn take(
    stored: Option<&str>,
    me: &str,
    now: Timestamp,
    ttl: SignedDuration,
) -> (Option<String>, bool) {
    let current: Option<Lease> = stored.and_then(|s| serde_json::from_str(s).ok());
    match current {
        Some(l) if l.holder != me && l.until > now => (None, false),
        _ => {
            let next = Lease {
                holder: me.to_owned(),
                until: now + ttl,
            };
            (
                Some(serde_json::to_string(&next).expect("leases serialize")),
                true,
            )
        }
    }
}

/// The lease after `me` let go of it: expired now if `me` held it, untouched otherwise.
pub fn release(stored: Option<&str>, me: &str, now: Timestamp) -> Option<String> {
    let current: Lease = stored.and_then(|s| serde_json::from_str(s).ok())?;
    (current.holder == me).then(|| {
        serde_json::to_string(&Lease {
            holder: current.holder,
            until: now,
        })
        .expect("leases serialize")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_a_dead_ones_lease_is_taken_over_when_it_expires() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let ttl = SignedDuration::from_secs(5);
        let (a, mine) = take(None, "a", now, ttl);
        assert!(mine, "a free lease is taken");
        let a = a.unwrap();
        assert_eq!(take(Some(&a), "b", now, ttl), (None, false), "b waits");
        let (renewed, mine) = take(Some(&a), "a", now + SignedDuration::from_secs(4), ttl);
        assert!(mine && renewed.is_some(), "the holder renews");
        let renewed = renewed.unwrap();
        let later = now + SignedDuration::from_secs(9);
        assert!(
            !take(
                Some(&renewed),
                "b",
                later - SignedDuration::from_secs(1),
                ttl
            )
            .1
        );
        assert!(
            take(Some(&renewed), "b", later, ttl).1,
            "expired: taken over"
        );
        let released = release(Some(&renewed), "a", now).unwrap();
        assert!(
            take(Some(&released), "b", now, ttl).1,
            "a released lease is free at once"
        );
        assert_eq!(
            release(Some(&renewed), "b", now),
            None,
            "only the holder releases"
        );
        assert!(
            take(Some("garbage"), "b", now, ttl).1,
            "an unreadable lease is free"
        );
    }
}
