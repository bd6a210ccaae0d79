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

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::logic::Logic;
use super::{evaluators, prerequisites, targeting};
use crate::domain::eval::{FlagSource, LiveRollout, LiveShape};
use crate::domain::flag::{EnvState, Flag};
use crate::domain::variant::Variants;

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

/// One environment's definition document, serialized (`serde_json::to_string`) as flagd reads it.
pub struct Document<'a> {
    metadata: SetMetadata<'a>,
    evaluators: Vec<(String, Logic)>,
    flags: Vec<(&'a str, Entry<'a>)>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SetMetadata<'a> {
    flag_set_id: &'a str,
    version: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    state: &'static str,
    variants: VariantMap<'a>,
    default_variant: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    targeting: Option<Logic>,
    metadata: EntryMetadata<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryMetadata<'a> {
    flagwarden_state: &'static str,
    flag_version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    canary_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    canary_variant: Option<&'a str>,
    /// A shadow run or an experiment (absent for a canary): what the rollout's share means.
    #[serde(skip_serializing_if = "Option::is_none")]
    rollout_mode: Option<&'static str>,
}

/// A flag's variants as a JSON object, in the flag's order.
struct VariantMap<'a>(&'a Variants);

impl Serialize for VariantMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter())
    }
}

/// Named entries as a JSON object, in their order.
struct Named<'a, K, V>(&'a [(K, V)]);

impl<K: Serialize, V: Serialize> Serialize for Named<'_, K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let shared = !self.evaluators.is_empty();
        let mut m = s.serialize_map(Some(3 + usize::from(shared)))?;
        m.serialize_entry("$schema", SCHEMA_URL)?;
        m.serialize_entry("metadata", &self.metadata)?;
        if shared {
            m.serialize_entry("$evaluators", &Named(&self.evaluators))?;
        }
        m.serialize_entry("flags", &Named(&self.flags))?;
        m.end()
    }
}

/// The definition document of `env` for `flags` (in key order), reflecting audit event `seq`.
pub fn document<'a>(flags: &[FlagSource<'a>], env: &'a str, seq: i64) -> Document<'a> {
    let plans: Vec<Plan<'a>> = flags
        .iter()
        .filter_map(|s| {
            let state = s.flag.envs.get(env)?;
            let rollout = s.rollouts.iter().find(|r| r.env == env);
            let targeted = state.pinned_variant.is_none()
                && state.enabled
                && (!state.rules.is_empty() || rollout.is_some() || state.prerequisite.is_some());
            Some(Plan {
                flag: s.flag,
                state,
                rollout,
                targeted,
            })
        })
        .collect();
    let conditions: Vec<Vec<Logic>> = plans
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
    let (conditions, evaluators) = evaluators::lift(conditions);
    let chains: Vec<Option<Logic>> = plans
        .iter()
        .zip(conditions)
        .map(|(p, conditions)| {
            p.targeted
                .then(|| targeting::chain(&p.flag.salt, &p.state.rules, conditions, p.rollout))
        })
        .collect();
    let answers: Vec<prerequisites::Answer<'_>> = plans
        .iter()
        .zip(&chains)
        .map(|(p, chain)| prerequisites::Answer {
            key: p.flag.key.as_str(),
            prerequisite: p.state.prerequisite.as_ref(),
            off: p.flag.off_variant.as_str(),
            chain: chain.as_ref(),
            default: default_variant(p),
        })
        .collect();
    let flags = plans
        .iter()
        .enumerate()
        .map(|(i, plan)| {
            let targeting = prerequisites::targeting(&answers, i);
            (plan.flag.key.as_str(), entry(plan, targeting))
        })
        .collect();
    Document {
        metadata: SetMetadata {
            flag_set_id: env,
            version: seq.to_string(),
        },
        evaluators,
        flags,
    }
}

/// The entry's default variant: a running canary's last-known-good, else what `evaluate` serves
/// when nothing matched.
fn default_variant<'a>(plan: &Plan<'a>) -> &'a str {
    match plan.rollout.filter(|_| plan.targeted) {
        Some(r) => r.lkg.as_str(),
        None => plan.state.served_default(plan.flag),
    }
}

fn entry<'a>(plan: &Plan<'a>, targeting: Option<Logic>) -> Entry<'a> {
    let (flag, state) = (plan.flag, plan.state);
    let served = match (&state.pinned_variant, state.enabled) {
        (Some(_), _) => "pinned",
        (None, false) => "disabled",
        (None, true) => "enabled",
    };
    let canary = plan.rollout.filter(|_| plan.targeted);
    Entry {
        state: "ENABLED",
        variants: VariantMap(&flag.variants),
        default_variant: default_variant(plan),
        targeting,
        metadata: EntryMetadata {
            flagwarden_state: served,
            flag_version: flag.version,
            canary_percent: canary.map(|r| r.percent.as_f64()),
            // A shadow run's candidate is served to nobody here (see `arms::rollout`).
            canary_variant: canary
                .filter(|r| r.shape != LiveShape::Shadow)
                .map(|r| r.candidate.as_str()),
            rollout_mode: canary.and_then(|r| match r.shape {
                LiveShape::Canary => None,
                LiveShape::Shadow => Some("shadow"),
                LiveShape::Experiment(_) => Some("experiment"),
            }),
        },
    }
}
