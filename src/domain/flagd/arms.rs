//! Splits and a running rollout's arms as flagd's `fractional`, bucketed exactly as flagwarden
//! buckets (`domain::bucket`): the bucketing value is `salt + "/" + targetingKey`, written as
//! JSONLogic `cat`, and the weights are basis points (total 10 000), so a spec-following engine
//! computes the same slot and walks the same cumulative ranges.
//!
//! A rollout's three arms stay apart in what an engine returns, because the OpenTelemetry hooks
//! carry only the variant and the reason: the canary is the candidate variant, the control arm is
//! the last-known-good variant matched by `fractional` (TARGETING_MATCH), and a unit outside both
//! falls through a `null` bucket to the default variant, the same last-known-good, with reason
//! DEFAULT. flagwarden's own answer is SPLIT for the canary and control and DEFAULT outside.

use serde_json::Value;

use super::logic::Logic;
use crate::domain::bucket::Percent;
use crate::domain::eval::LiveRollout;

/// What targeting returns when a split or rollout needs a targeting key and the context has none:
/// not a variant, so the engine answers with an error and the caller's code default, as
/// flagwarden answers TARGETING_KEY_MISSING.
pub const TARGETING_KEY_MISSING: &str = "flagwarden:targeting-key-missing";

/// The bucketing value of a flag salted with `salt`: JSONLogic for `salt + "/" + targetingKey`.
fn bucketing_value(salt: &str) -> Logic {
    Logic::op(
        "cat",
        vec![Logic::lit(format!("{salt}/")), Logic::var("targetingKey")],
    )
}

/// `fractional` over weighted buckets (a `None` variant is a `null` bucket), zero weights left out
/// (they cover no slot), guarded by the targeting key's presence.
fn fractional(salt: &str, buckets: &[(Option<&str>, u16)]) -> Logic {
    let mut args = vec![bucketing_value(salt)];
    args.extend(
        buckets
            .iter()
            .filter(|(_, w)| *w > 0)
            .map(|(v, w)| Logic::lit(vec![v.map_or(Value::Null, Value::from), (*w).into()])),
    );
    Logic::op(
        "if",
        vec![
            Logic::var("targetingKey"),
            Logic::op("fractional", args),
            Logic::lit(TARGETING_KEY_MISSING),
        ],
    )
}

/// A rule's percentage split: each variant's share in basis points, in the rule's order.
pub(super) fn split(salt: &str, arms: &[(String, Percent)]) -> Logic {
    let buckets: Vec<(Option<&str>, u16)> = arms
        .iter()
        .map(|(v, p)| (Some(v.as_str()), p.basis_points()))
        .collect();
    fractional(salt, &buckets)
}

/// A running rollout at c basis points, as `eval::rollout_arm` places units: canary [0, c),
/// control [5000, 5000 + c) while c <= 5000, everyone else outside (the `null` buckets).
/// A release group's rollout buckets by the group's salt.
pub(super) fn rollout(salt: &str, r: &LiveRollout) -> Logic {
    let salt = r.bucket_salt(salt);
    let c = r.percent.basis_points();
    let (candidate, lkg) = (Some(r.candidate.as_str()), Some(r.lkg.as_str()));
    let buckets: Vec<(Option<&str>, u16)> = if c <= 5_000 {
        vec![
            (candidate, c),
            (None, 5_000 - c),
            (lkg, c),
            (None, 5_000 - c),
        ]
    } else {
        vec![(candidate, c), (None, 10_000 - c)]
    };
    fractional(salt, &buckets)
}
