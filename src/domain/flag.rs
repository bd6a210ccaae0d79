//! Flags as the domain sees them: validated keys and variant names, typed variants, change types and
//! the per-environment state (enabled, default variant, targeting rules, a rollback pin).
//!
//! Everything here is validated once in a constructor and trusted afterwards: a `FlagKey` is always a
//! legal key, a `Variants` set always holds at least one variant and all of one type.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::rules::Rule;

/// Why a piece of flag input was refused. `field` names the input field so an agent can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidFlag {
    pub field: String,
    pub message: String,
}

impl InvalidFlag {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidFlag {
            field: field.into(),
            message: message.into(),
        }
    }
}

const MAX_KEY_LEN: usize = 100;

fn check_name(field: &str, what: &str, s: &str) -> Result<(), InvalidFlag> {
    let ok_first = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if s.is_empty() || s.len() > MAX_KEY_LEN || !ok_first || !ok_rest {
        return Err(InvalidFlag::new(
            field,
            format!(
                "{what} {s:?} is not valid: use 1 to {MAX_KEY_LEN} characters of letters, digits, '-', '_' or '.', starting with a letter or digit (e.g. \"new-checkout\")"
            ),
        ));
    }
    Ok(())
}

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

/// Validates a variant name in the context of `field` (the input field that carried it).
pub fn check_variant_name(field: &str, s: &str) -> Result<(), InvalidFlag> {
    check_name(field, "variant name", s)
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

/// The value type shared by every variant of a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlagType {
    Boolean,
    String,
    Number,
    Object,
}

impl FlagType {
    pub fn of(value: &Value) -> Option<FlagType> {
        match value {
            Value::Bool(_) => Some(FlagType::Boolean),
            Value::String(_) => Some(FlagType::String),
            Value::Number(_) => Some(FlagType::Number),
            Value::Object(_) => Some(FlagType::Object),
            Value::Null | Value::Array(_) => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            FlagType::Boolean => "boolean",
            FlagType::String => "string",
            FlagType::Number => "number",
            FlagType::Object => "object",
        }
    }
}

/// A flag's variants: named values, at least one, all of one `FlagType`. Order is kept as given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variants {
    kind: FlagType,
    entries: Vec<(String, Value)>,
}

const MAX_VARIANTS: usize = 32;
const MAX_VARIANT_VALUE_BYTES: usize = 32 * 1024;

impl Variants {
    /// The boolean pair `on` = true, `off` = false: what a flag is when the caller names no variants.
    pub fn boolean() -> Variants {
        Variants {
            kind: FlagType::Boolean,
            entries: vec![
                ("on".into(), Value::Bool(true)),
                ("off".into(), Value::Bool(false)),
            ],
        }
    }

    pub fn parse(map: &serde_json::Map<String, Value>) -> Result<Variants, InvalidFlag> {
        if map.is_empty() {
            return Err(InvalidFlag::new(
                "variants",
                "give at least one variant, e.g. {\"on\": true, \"off\": false}",
            ));
        }
        if map.len() > MAX_VARIANTS {
            return Err(InvalidFlag::new(
                "variants",
                format!(
                    "at most {MAX_VARIANTS} variants are allowed, got {}",
                    map.len()
                ),
            ));
        }
        let mut kind = None;
        let mut entries = Vec::with_capacity(map.len());
        for (name, value) in map {
            let field = format!("variants.{name}");
            check_variant_name(&field, name)?;
            let Some(t) = FlagType::of(value) else {
                return Err(InvalidFlag::new(
                    field,
                    "a variant value must be a boolean, string, number or JSON object (not null or an array)",
                ));
            };
            if value.to_string().len() > MAX_VARIANT_VALUE_BYTES {
                return Err(InvalidFlag::new(
                    field,
                    format!(
                        "a variant value may be at most {MAX_VARIANT_VALUE_BYTES} bytes of JSON"
                    ),
                ));
            }
            match kind {
                None => kind = Some(t),
                Some(k) if k != t => {
                    return Err(InvalidFlag::new(
                        field,
                        format!(
                            "all variants must share one type: this one is {}, earlier ones are {}",
                            t.as_str(),
                            k.as_str()
                        ),
                    ));
                }
                Some(_) => {}
            }
            entries.push((name.clone(), value.clone()));
        }
        Ok(Variants {
            kind: kind.expect("non-empty map"),
            entries,
        })
    }

    pub fn kind(&self) -> FlagType {
        self.kind
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v))
    }
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|(n, _)| n == name)
    }
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Checks that `name` (carried by input field `field`) is one of the variants.
    pub fn require(&self, field: &str, name: &str) -> Result<(), InvalidFlag> {
        if self.index_of(name).is_some() {
            return Ok(());
        }
        let names: Vec<_> = self.names().collect();
        Err(InvalidFlag::new(
            field,
            format!(
                "unknown variant {name:?}: this flag's variants are {}",
                names.join(", ")
            ),
        ))
    }

    pub fn to_map(&self) -> serde_json::Map<String, Value> {
        self.entries.iter().cloned().collect()
    }

    /// The variant that means "off": for booleans the one holding `false`, otherwise the last one.
    pub fn natural_off(&self) -> &str {
        self.entries
            .iter()
            .find(|(_, v)| *v == Value::Bool(false))
            .or(self.entries.last())
            .map(|(n, _)| n.as_str())
            .expect("variants are never empty")
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
    use serde_json::json;

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

    #[test]
    fn variants_share_one_type() {
        let v = Variants::parse(json!({"a": "x", "b": "y"}).as_object().unwrap()).unwrap();
        assert_eq!(v.kind(), FlagType::String);
        let err = Variants::parse(json!({"a": "x", "b": 1}).as_object().unwrap()).unwrap_err();
        assert_eq!(err.field, "variants.b");
        let err = Variants::parse(json!({"a": null}).as_object().unwrap()).unwrap_err();
        assert!(err.message.contains("not null"));
        let err = Variants::parse(json!({}).as_object().unwrap()).unwrap_err();
        assert_eq!(err.field, "variants");
    }

    #[test]
    fn natural_off_is_false_for_booleans() {
        assert_eq!(Variants::boolean().natural_off(), "off");
        let v =
            Variants::parse(json!({"gpt-5": "m1", "gpt-4": "m0"}).as_object().unwrap()).unwrap();
        assert_eq!(v.natural_off(), "gpt-4");
    }
}
