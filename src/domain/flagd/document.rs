//! The flag-definition document of one environment: `$schema`, the flag set's `metadata`
//! (`flagSetId` = the environment, `version` = the audit sequence it reflects), `$evaluators` when
//! flags share conditions, and one entry per flag, in the order `evaluate` decides:
//!
//! - pinned (a rollback): the pinned variant, no targeting;
//! - disabled: the off variant, no targeting. The entry's `state` is still `ENABLED`: flagd's
//!   `DISABLED` answers the caller's code default, while flagwarden serves the off variant, and
//!   every engine must give the same value;
//! - enabled: the rules, then the running rollout, as targeting (`targeting.rs`); the default
//!   variant is what flagwarden serves when nothing matched (the rollout's last-known-good while
//!   one runs).
//!
//! Each entry's `metadata` says what flagwarden knows beyond the answer: its state there, the flag's
//! version, and a running canary's share.

use serde_json::{Map, Value, json};

use super::{evaluators, targeting};
use crate::domain::eval::{FlagSource, LiveRollout};
use crate::domain::flag::{EnvState, Flag};

/// The schema flagd publishes for flag definitions.
pub const SCHEMA_URL: &str = "https://flagd.dev/schema/v0/flags.json";

/// What one flag serves in the environment, before its conditions are written.
struct Plan<'a> {
    flag: &'a Flag,
    state: &'a EnvState,
    rollout: Option<&'a LiveRollout>,
    /// Whether the answer depends on the context (rules or a rollout apply).
    targeted: bool,
}

/// The definition document of `env` for `flags` (in key order), reflecting audit event `seq`.
pub fn document(flags: &[FlagSource<'_>], env: &str, seq: i64) -> Value {
    let plans: Vec<Plan<'_>> = flags
        .iter()
        .filter_map(|s| {
            let state = s.flag.envs.get(env)?;
            let rollout = s.rollouts.iter().find(|r| r.env == env);
            let targeted = state.pinned_variant.is_none()
                && state.enabled
                && (!state.rules.is_empty() || rollout.is_some());
            Some(Plan {
                flag: s.flag,
                state,
                rollout,
                targeted,
            })
        })
        .collect();
    let conditions: Vec<Vec<Value>> = plans
        .iter()
        .map(|p| match p.targeted {
            true => p
                .state
                .rules
                .iter()
                .map(targeting::rule_condition)
                .collect(),
            false => Vec::new(),
        })
        .collect();
    let (conditions, shared) = evaluators::lift(conditions);
    let mut entries = Map::new();
    for (plan, conditions) in plans.iter().zip(conditions) {
        entries.insert(plan.flag.key.as_str().to_owned(), entry(plan, conditions));
    }
    let mut doc = Map::new();
    doc.insert("$schema".into(), SCHEMA_URL.into());
    doc.insert(
        "metadata".into(),
        json!({"flagSetId": env, "version": seq.to_string()}),
    );
    if !shared.is_empty() {
        doc.insert("$evaluators".into(), Value::Object(shared));
    }
    doc.insert("flags".into(), Value::Object(entries));
    Value::Object(doc)
}

fn entry(plan: &Plan<'_>, conditions: Vec<Value>) -> Value {
    let (flag, state) = (plan.flag, plan.state);
    let variants: Map<String, Value> = flag
        .variants
        .iter()
        .map(|(n, v)| (n.to_owned(), v.clone()))
        .collect();
    let served = match (&state.pinned_variant, state.enabled) {
        (Some(_), _) => "pinned",
        (None, false) => "disabled",
        (None, true) => "enabled",
    };
    let mut metadata = Map::new();
    metadata.insert("flagwardenState".into(), served.into());
    metadata.insert("flagVersion".into(), flag.version.into());
    let mut entry = Map::new();
    entry.insert("state".into(), "ENABLED".into());
    entry.insert("variants".into(), Value::Object(variants));
    let default = match plan.rollout.filter(|_| plan.targeted) {
        Some(r) => {
            metadata.insert("canaryPercent".into(), r.percent.as_f64().into());
            metadata.insert("canaryVariant".into(), r.candidate.clone().into());
            r.lkg.as_str()
        }
        None => state.served_default(flag),
    };
    entry.insert("defaultVariant".into(), default.into());
    if plan.targeted {
        let t = targeting::chain(&flag.salt, &state.rules, conditions, plan.rollout);
        entry.insert("targeting".into(), t);
    }
    entry.insert("metadata".into(), Value::Object(metadata));
    Value::Object(entry)
}
