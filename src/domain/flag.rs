//! Flags as the domain sees them: validated keys, change types and the per-environment state
//! (enabled, default variant, targeting rules, a rollback pin). The variants and the input error are
//! in `variant.rs` and `invalid.rs`, below both this file and `rules.rs`, and re-exported here.
//!
//! Everything here is validated once in a constructor and trusted afterwards: a `FlagKey` is always a
//! legal key, a `Variants` set always holds at least one variant and all of one type.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use super::invalid::InvalidFlag;
use super::invalid::check_name;
use super::prerequisite::Prerequisite;
use super::rules::Rule;
pub use super::variant::{FlagType, Variants, check_variant_name};

/// A flag's key: 1..=100 ASCII letters, digits, `-`, `_`, `.`, starting alphanumeric.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct FlagKey(String);

impl FlagKey {
    pub fn parse(s: &str) -> Result<FlagKey, InvalidFlag> {
        check_name("key", "flag key", s)?;
        Ok(FlagKey(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FlagKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
/// An environment name as declared in the policy file. Validity (that the policy declares it) is
/// checked against the policy, not here.
pub fn check_environment_name(s: &str) -> Result<(), InvalidFlag> {
    check_name("environment", "environment name", s)
}

/// What kind of change a flag guards. It sets the expected lifetime and how the flag is reviewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeType {
    Code,
    Prompt,
    Model,
    Agent,
    Eval,
    Data,
    Config,
    KillSwitch,
    Experiment,
}

impl ChangeType {
    pub const ALL: [ChangeType; 9] = [
        ChangeType::Code,
        ChangeType::Prompt,
        ChangeType::Model,
        ChangeType::Agent,
        ChangeType::Eval,
        ChangeType::Data,
        ChangeType::Config,
        ChangeType::KillSwitch,
        ChangeType::Experiment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Code => "code",
            ChangeType::Prompt => "prompt",
            ChangeType::Model => "model",
            ChangeType::Agent => "agent",
            ChangeType::Eval => "eval",
            ChangeType::Data => "data",
            ChangeType::Config => "config",
            ChangeType::KillSwitch => "kill_switch",
            ChangeType::Experiment => "experiment",
        }
    }

    pub fn parse(s: &str) -> Result<ChangeType, InvalidFlag> {
        ChangeType::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = ChangeType::ALL.iter().map(|c| c.as_str()).collect();
                InvalidFlag::new(
                    "change_type",
                    format!("unknown change type {s:?}: use one of {}", names.join(", ")),
                )
            })
    }

    /// How long a flag of this type is expected to live before it is debt. `None`: it is permanent
    /// by design (a kill switch stays). Release-type lifetimes follow Unleash's (40 days).
    pub fn default_lifetime_days(self) -> Option<u32> {
        match self {
            ChangeType::KillSwitch => None,
            ChangeType::Config => Some(365),
            ChangeType::Experiment => Some(40),
            ChangeType::Code | ChangeType::Agent | ChangeType::Data => Some(40),
            ChangeType::Prompt | ChangeType::Model | ChangeType::Eval => Some(90),
        }
    }
}
/// Whether a flag is live or on its way out of the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlagStatus {
    Active,
    PendingRemoval,
    // Out of the code and no longer served: evaluations answer FLAG_NOT_FOUND, so SDKs use the
    // code default. Only a human archives. (No doc comment: it would turn the schema's enum into a
    // oneOf that tools/list pays for.)
    Archived,
}

impl FlagStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FlagStatus::Active => "active",
            FlagStatus::PendingRemoval => "pending_removal",
            FlagStatus::Archived => "archived",
        }
    }
    pub fn parse(s: &str) -> Option<FlagStatus> {
        match s {
            "active" => Some(FlagStatus::Active),
            "pending_removal" => Some(FlagStatus::PendingRemoval),
            "archived" => Some(FlagStatus::Archived),
            _ => None,
        }
    }
}

/// A flag's definition, shared by all environments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flag {
    pub key: FlagKey,
    pub description: String,
    pub change_type: ChangeType,
    pub variants: Variants,
    /// Served when the flag is disabled in an environment: the old path.
    pub off_variant: String,
    /// Served to everyone not matched by a rule once the flag is enabled, unless an environment overrides it.
    pub default_variant: String,
    pub owner: Option<String>,
    pub lifetime_days: Option<u32>,
    pub tags: Vec<String>,
    /// Mixed into the bucketing hash. Defaults to the key; changing it reshuffles who is in a split.
    pub salt: String,
    pub status: FlagStatus,
    pub version: i64,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
    pub envs: BTreeMap<String, EnvState>,
}

/// A flag's state in one environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvState {
    pub enabled: bool,
    pub default_variant: String,
    pub rules: Vec<Rule>,
    /// Set by a rollback: every evaluation in this environment serves this variant until someone
    /// changes targeting or starts a new rollout. A rollback is one write of this pointer.
    pub pinned_variant: Option<String>,
    /// On only where another flag serves a named variant (`domain::prerequisite`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prerequisite: Option<Prerequisite>,
    pub updated_at: jiff::Timestamp,
}

impl EnvState {
    /// A new environment state: off, serving the flag's off variant.
    pub fn new_off(flag_default: &str, now: jiff::Timestamp) -> EnvState {
        EnvState {
            enabled: false,
            default_variant: flag_default.to_owned(),
            rules: Vec::new(),
            pinned_variant: None,
            prerequisite: None,
            updated_at: now,
        }
    }

    /// The variant everyone outside rules and rollouts gets: what a rollout starts from (its LKG).
    pub fn served_default<'a>(&'a self, flag: &'a Flag) -> &'a str {
        if let Some(pin) = &self.pinned_variant {
            return pin;
        }
        if self.enabled {
            &self.default_variant
        } else {
            &flag.off_variant
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated_once() {
        for ok in ["a", "new-checkout", "svc.payments_v2", "A1"] {
            assert!(FlagKey::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "has space",
            "semi;colon",
            "ünï",
            "a/b",
            &"k".repeat(101),
            "'; DROP TABLE flags; --",
        ] {
            let err = FlagKey::parse(bad).unwrap_err();
            assert_eq!(err.field, "key");
            assert!(err.message.contains("letters, digits"), "{err}");
        }
    }
}
