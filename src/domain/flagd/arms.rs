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
use crate::domain::eval::{LiveRollout, LiveShape};

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
/// A release group's rollout buckets by the group's salt. A shadow run's canary arm is served the
/// last-known-good, as `evaluate` serves it: flagd has no way to tell a unit to run the candidate
/// unseen, so a flagd engine exposes nobody and reports no shadow variant. An experiment is its
/// split (`experiment`).
pub(super) fn rollout(salt: &str, r: &LiveRollout) -> Logic {
    let salt = r.bucket_salt(salt);
    let c = r.percent.basis_points();
    let (candidate, lkg) = match &r.shape {
        LiveShape::Canary => (Some(r.candidate.as_str()), Some(r.lkg.as_str())),
        LiveShape::Shadow => (Some(r.lkg.as_str()), Some(r.lkg.as_str())),
        LiveShape::Experiment(split) => return experiment(salt, c, split),
    };
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

/// An experiment taking `traffic` basis points of the units, as `eval::experiment_variant` places
/// them: a unit in bucket b < traffic is at `b * 10 000 / traffic` (integer division) of the
/// experiment, so variant i (cumulative weights U(i-1) <= at < U(i)) holds the buckets from
/// ceil(U(i-1) * traffic / 10 000) up to ceil(U(i) * traffic / 10 000), the last up to traffic;
/// everyone else falls through a `null` bucket to the last-known-good.
fn experiment(salt: &str, traffic: u16, split: &[(String, u16)]) -> Logic {
    let bound = |upper: u32| (upper * u32::from(traffic)).div_ceil(10_000) as u16;
    let mut buckets: Vec<(Option<&str>, u16)> = Vec::with_capacity(split.len() + 1);
    let (mut upper, mut from) = (0u32, 0u16);
    for (i, (variant, w)) in split.iter().enumerate() {
        upper += u32::from(*w);
        let to = if i + 1 == split.len() {
            traffic
        } else {
            bound(upper).min(traffic)
        };
        buckets.push((Some(variant.as_str()), to.saturating_sub(from)));
        from = from.max(to);
    }
    buckets.push((None, 10_000 - traffic));
    fractional(salt, &buckets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::bucket::bucket;
    use crate::domain::eval::experiment_variant;

    /// The bucket ranges `experiment` writes, walked as `fractional` walks them.
    fn ranges(traffic: u16, split: &[(String, u16)]) -> Vec<(Option<String>, u16)> {
        let Logic::Op(_, args) = experiment("s", traffic, split) else {
            panic!("an if")
        };
        let Logic::Op(_, fractional) = &args[1] else {
            panic!("fractional")
        };
        fractional[1..]
            .iter()
            .map(|b| {
                let Logic::Literal(v) = b else {
                    panic!("a bucket")
                };
                (
                    v[0].as_str().map(str::to_owned),
                    v[1].as_u64().unwrap() as u16,
                )
            })
            .collect()
    }

    #[test]
    fn an_experiments_buckets_are_the_variants_evaluate_serves() {
        for (traffic, weights) in [
            (1_000u16, vec![5_000u16, 5_000]),
            (2_000, vec![3_400, 3_300, 3_300]),
            (333, vec![3_400, 3_300, 3_300]),
            (10_000, vec![5_000, 5_000]),
        ] {
            let names = ["a", "b", "c"];
            let split: Vec<(String, u16)> = weights
                .iter()
                .enumerate()
                .map(|(i, w)| (names[i].to_owned(), *w))
                .collect();
            let indexed: Vec<(u16, usize)> = {
                let mut u = 0;
                weights
                    .iter()
                    .enumerate()
                    .map(|(i, w)| {
                        u += w;
                        (u, i)
                    })
                    .collect()
            };
            let r = ranges(traffic, &split);
            assert_eq!(r.iter().map(|(_, w)| u32::from(*w)).sum::<u32>(), 10_000);
            for n in 0..20_000 {
                let key = format!("user-{n}");
                let b = bucket("s", &key);
                let mut at = 0u16;
                let exported = r.iter().find_map(|(v, w)| {
                    at += w;
                    (b < at).then(|| v.clone())
                });
                let served =
                    experiment_variant("s", &key, traffic, &indexed).map(|i| names[i].to_owned());
                assert_eq!(exported.flatten(), served, "{key} at {traffic} bp");
            }
        }
    }
}
