//! Evaluation: flags compiled once into an immutable `Snapshot`, and `evaluate()`, which reads it.
//!
//! `evaluate` never fails and never panics: an unknown flag, a wrong type or a missing targeting key
//! come back as a `Resolution` with an OpenFeature error code and no value (the caller's code default
//! applies). It takes no lock and does no I/O; the application swaps whole snapshots atomically when a
//! flag changes. Evaluation counts are atomics inside the snapshot, bumped by the caller through
//! `Resolution::record`, so counting never needs a lock either.
//!
//! The parts: `context.rs` the subject of an evaluation; `snapshot.rs` the compiled flags and how they
//! are built; `condition.rs` a rule's conditions compiled into tests; `resolution.rs` the answer. This
//! file holds `evaluate` and re-exports the rest.

mod condition;
mod context;
mod resolution;
mod snapshot;

pub use context::{Context, InvalidContext};
pub use resolution::{Arm, ErrorCode, Reason, Resolution};
pub use snapshot::{Counts, FlagSource, LiveRollout, LiveShape, Snapshot};

use super::bucket::bucket;
use super::prerequisite::MAX_DEPTH;
use super::variant::FlagType;
use snapshot::{CompiledServe, CompiledShape};

/// Evaluates flag `key` in `env` for `ctx`. When `expected` is given and the flag's type differs, the
/// answer is TYPE_MISMATCH, as OpenFeature's typed getters expect.
#[inline]
pub fn evaluate<'s>(
    snapshot: &'s Snapshot,
    key: &str,
    env: &str,
    ctx: &Context,
    expected: Option<FlagType>,
) -> Resolution<'s> {
    evaluate_at(snapshot, key, env, ctx, expected, 0)
}

/// `evaluate` for a flag reached through `depth` prerequisites.
fn evaluate_at<'s>(
    snapshot: &'s Snapshot,
    key: &str,
    env: &str,
    ctx: &Context,
    expected: Option<FlagType>,
    depth: usize,
) -> Resolution<'s> {
    let Some(flag) = snapshot.flags.get(key) else {
        return Resolution::error(ErrorCode::FlagNotFound, "flag not found");
    };
    if expected.is_some_and(|t| t != flag.kind) {
        return Resolution::error(
            ErrorCode::TypeMismatch,
            "flag has a different type than requested",
        );
    }
    let Some((_, state)) = flag.envs.iter().find(|(e, _)| **e == *env) else {
        return Resolution::error(
            ErrorCode::General,
            "environment is not declared in the policy",
        );
    };
    let serve = |idx: usize, reason: Reason, arm: Option<Arm>| {
        let (name, value) = &flag.variants[idx];
        Resolution {
            value: Some(value),
            variant: Some(name),
            reason,
            error: None,
            arm,
            shadow: None,
            counter: state.counts.get(idx),
        }
    };
    if let Some((variant, reason)) = state.fixed {
        return serve(variant, reason, None);
    }
    // A prerequisite not met: the flag is off for this unit, and the unit in neither arm of its
    // rollout (TARGETING_MATCH, as a flagd engine answers the same condition).
    if let Some((other, variant)) = &state.prerequisite {
        let met = depth < MAX_DEPTH
            && evaluate_at(snapshot, other, env, ctx, None, depth + 1)
                .variant
                .is_some_and(|v| v == &**variant);
        if !met {
            let arm = state.rollout.as_ref().map(|_| Arm::Excluded);
            return serve(state.off, Reason::TargetingMatch, arm);
        }
    }
    let matches = |conditions: &[condition::CompiledCondition]| {
        conditions
            .iter()
            .all(|c| ctx.get(&c.attr).is_some_and(|v| c.test.matches(v)))
    };
    for rule in &state.rules {
        if !matches(&rule.conditions) {
            continue;
        }
        return match &rule.serve {
            CompiledServe::Variant(v) => serve(*v, Reason::TargetingMatch, None),
            CompiledServe::Split(arms) => {
                let Some(tk) = ctx.targeting_key.as_deref() else {
                    return Resolution::error(
                        ErrorCode::TargetingKeyMissing,
                        "a percentage split needs context.targetingKey",
                    );
                };
                let b = bucket(&flag.salt, tk);
                let idx = arms
                    .iter()
                    .find(|(upper, _)| b < *upper)
                    .map_or(arms[arms.len() - 1].1, |(_, v)| *v);
                serve(idx, Reason::Split, None)
            }
        };
    }
    if let Some(r) = &state.rollout {
        // A segment step exposes its segment only: everyone else is in neither arm.
        if r.audience.as_deref().is_some_and(|a| !matches(a)) {
            return serve(r.lkg, Reason::Default, Some(Arm::Excluded));
        }
        let Some(tk) = ctx.targeting_key.as_deref() else {
            return Resolution::error(
                ErrorCode::TargetingKeyMissing,
                "a canary rollout is running: context.targetingKey is needed to place the user",
            );
        };
        let salt = r.salt.as_deref().unwrap_or(&flag.salt);
        if let CompiledShape::Experiment(split) = &r.shape {
            return match experiment_variant(salt, tk, r.canary_bp, split) {
                Some(idx) => serve(idx, Reason::Split, None),
                None => serve(r.lkg, Reason::Default, Some(Arm::Excluded)),
            };
        }
        return match rollout_arm(salt, tk, r.canary_bp) {
            Arm::Canary if matches!(r.shape, CompiledShape::Shadow) => {
                let (name, value) = &flag.variants[r.candidate];
                Resolution {
                    shadow: Some((name, value)),
                    ..serve(r.lkg, Reason::Split, Some(Arm::Canary))
                }
            }
            Arm::Canary => serve(r.candidate, Reason::Split, Some(Arm::Canary)),
            Arm::Control => serve(r.lkg, Reason::Split, Some(Arm::Control)),
            Arm::Excluded => serve(r.lkg, Reason::Default, Some(Arm::Excluded)),
        };
    }
    // Rules exist and none matched (the rule-free case is `fixed`): the default variant, by default.
    serve(state.default, Reason::Default, None)
}

/// The arm a unit is in while a rollout exposes `canary_bp` basis points: the one rule both
/// evaluation and the attribution of telemetry to arms follow. Balanced arms: canary [0, c),
/// control [5000, 5000 + c) on the last-known-good variant. As c grows both ranges only gain
/// units, so nobody changes arm and evidence accumulates.
pub fn rollout_arm(salt: &str, targeting_key: &str, canary_bp: u16) -> Arm {
    let b = bucket(salt, targeting_key);
    let c = canary_bp;
    if b < c {
        Arm::Canary
    } else if c <= 5_000 && (5_000..5_000 + c).contains(&b) {
        Arm::Control
    } else {
        Arm::Excluded
    }
}

/// The variant an experiment serves a unit, if the unit is in it: units whose bucket is below the
/// experiment's traffic share take part, and their place within that share falls into the split's
/// cumulative weights, so a unit keeps its variant for the experiment's life. `split` holds each
/// variant's exclusive cumulative upper bound in basis points of the experiment, and its index.
pub fn experiment_variant(
    salt: &str,
    targeting_key: &str,
    traffic_bp: u16,
    split: &[(u16, usize)],
) -> Option<usize> {
    let b = bucket(salt, targeting_key);
    if b >= traffic_bp || split.is_empty() {
        return None;
    }
    let at = (u32::from(b) * 10_000 / u32::from(traffic_bp.max(1))) as u16;
    Some(
        split
            .iter()
            .find(|(upper, _)| at < *upper)
            .map_or(split[split.len() - 1].1, |(_, v)| *v),
    )
}
