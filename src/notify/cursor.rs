//! Who sends what: each webhook's cursor in the store's `meta` table says which events were sent
//! (or given up on) and which process is sending which event now. The claim outlasts a worker's
//! retries, so two processes on one store do not both send an event, and a crashed one's expires.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::app::{App, AppError};
use crate::domain::policy::{Webhook, WebhookFormat};

/// A webhook's cursor as stored in `meta`: every notifying event up to `done` was delivered or given
/// up on; `claim` says which process is sending which event now.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(super) struct Cursor {
    pub(super) done: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) claim: Option<Claim>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Claim {
    seq: i64,
    by: String,
    until: Timestamp,
}

/// Whose turn it is to send an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Turn {
    /// This worker sends it (the returned cursor records the claim).
    Mine,
    /// It was sent already, by this process before a restart or by another one.
    Done,
    /// Another process is sending it; look again later.
    Busy,
}

pub(super) fn take_turn(
    c: &Cursor,
    seq: i64,
    me: &str,
    now: Timestamp,
    ttl: SignedDuration,
) -> (Option<Cursor>, Turn) {
    if c.done >= seq {
        return (None, Turn::Done);
    }
    if let Some(claim) = &c.claim
        && claim.by != me
        && claim.until > now
    {
        return (None, Turn::Busy);
    }
    let claimed = Cursor {
        done: c.done,
        claim: Some(Claim {
            seq,
            by: me.into(),
            until: now + ttl,
        }),
    };
    (Some(claimed), Turn::Mine)
}

/// The cursor after this worker finished (`done` = `Some(seq)`) or dropped (`None`) its claim.
pub(super) fn settle(c: &Cursor, me: &str, done: Option<i64>) -> Cursor {
    Cursor {
        done: done.map_or(c.done, |seq| c.done.max(seq)),
        claim: c.claim.clone().filter(|claim| claim.by != me),
    }
}

pub(super) fn read_cursor(stored: Option<&str>) -> Option<Cursor> {
    stored.and_then(|s| serde_json::from_str(s).ok())
}

pub(super) fn format_name(f: WebhookFormat) -> &'static str {
    match f {
        WebhookFormat::Slack => "slack",
        WebhookFormat::Json => "json",
    }
}

/// The `meta` key of a webhook's cursor: a digest, since webhook URLs carry secrets.
pub(super) fn cursor_key(hook: &Webhook) -> String {
    let format = format_name(hook.format);
    let digest = Sha256::digest(format!("{format} {}", hook.url).as_bytes());
    format!("webhook:{}", &hex::encode(digest)[..16])
}

pub(super) fn json_text<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("cursors serialize")
}

/// Each webhook's position: its stored cursor, or for a new webhook the newest audit event.
pub(super) fn init_cursors(app: &App, keys: &[String]) -> Result<Vec<i64>, AppError> {
    let newest = app.last_audit_seq()?;
    keys.iter()
        .map(|key| {
            app.update_meta(key, |stored| match read_cursor(stored) {
                Some(c) => (None, c.done),
                None => {
                    if stored.is_some() {
                        tracing::warn!(
                            "webhook cursor {key} is unreadable; starting it at event {newest}"
                        );
                    }
                    let c = Cursor {
                        done: newest,
                        claim: None,
                    };
                    (Some(json_text(&c)), newest)
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_process_sends_an_event_and_a_dead_ones_claim_expires() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let ttl = SignedDuration::from_mins(5);
        let fresh = Cursor {
            done: 4,
            claim: None,
        };
        let (mine, turn) = take_turn(&fresh, 7, "a", now, ttl);
        assert_eq!(turn, Turn::Mine);
        let mine = mine.unwrap();
        assert_eq!(
            take_turn(&mine, 7, "b", now, ttl),
            (None, Turn::Busy),
            "another process waits"
        );
        assert_eq!(
            take_turn(&mine, 7, "a", now, ttl).1,
            Turn::Mine,
            "the claimant may go on"
        );
        let later = now + ttl + SignedDuration::from_secs(1);
        assert_eq!(
            take_turn(&mine, 7, "b", later, ttl).1,
            Turn::Mine,
            "an expired claim is taken over"
        );
        let sent = settle(&mine, "a", Some(7));
        assert_eq!(
            sent,
            Cursor {
                done: 7,
                claim: None
            }
        );
        assert_eq!(
            take_turn(&sent, 7, "b", now, ttl),
            (None, Turn::Done),
            "sent once"
        );
        assert_eq!(
            settle(&mine, "a", None),
            fresh,
            "a dropped claim sends it again later"
        );
    }
}
