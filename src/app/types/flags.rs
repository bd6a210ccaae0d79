//! Requests and answers of the flag use cases: create, read, list, evaluate, target.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;
use crate::domain::code_ref::CodeRef;
use crate::domain::eval::{Arm, ErrorCode, Reason};
use crate::domain::flag::{ChangeType, FlagStatus, FlagType};
use crate::domain::rules::RuleSpec;
use crate::domain::version::VersionRow;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFlag {
    /// Letters, digits, - _ . e.g. "new-checkout".
    pub key: String,
    /// What it guards.
    pub description: String,
    pub change_type: ChangeType,
    /// name -> value, one type. Default {"on":true,"off":false}.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "serde_json::Map<String, Value>")]
    pub variants: Option<serde_json::Map<String, Value>>,
    /// Served when off. Default: the false variant, else last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub off_variant: Option<String>,
    /// Served when on, no rule matching. Default: off_variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub default_variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub escalation: Option<String>,
    /// Days before stale. Default by change_type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u32")]
    pub lifetime_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(flatten)]
    pub meta: Meta,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagRef {
    pub key: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListFlags {
    #[serde(default)]
    #[schemars(with = "String")]
    pub environment: Option<String>,
    // The values are create_flag's: named there once (tools/list is paid per call).
    #[serde(default)]
    #[schemars(with = "String")]
    pub change_type: Option<ChangeType>,
    #[serde(default)]
    #[schemars(with = "FlagStatus")]
    pub status: Option<FlagStatus>,
    /// Substring of key, description, owner, tags.
    #[serde(default)]
    #[schemars(with = "String")]
    pub query: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateFlag {
    pub key: String,
    pub environment: String,
    /// E.g. {"targetingKey":"user-1","email":"a@corp.com"}.
    #[serde(default = "empty_object")]
    #[schemars(with = "serde_json::Map<String, Value>")]
    pub context: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTargeting {
    pub key: String,
    pub environment: String,
    /// E.g. [{"conditions":[{"attribute":"email","op":"ends_with","values":["@corp.com"]}],"serve":{"variant":"on"}}]
    pub rules: Vec<RuleSpec>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    pub enabled: Option<bool>,
    /// Served when no rule matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub default_variant: Option<String>,
    /// On only where flag serves variant; null clears.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_or_null"
    )]
    #[schemars(with = "Prerequisite")]
    pub prerequisite: Option<Option<Prerequisite>>,
    /// Version you read; stale refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "i64")]
    pub expected_version: Option<i64>,
    #[serde(flatten)]
    pub meta: Meta,
}

pub use crate::domain::prerequisite::Prerequisite;

/// A field given as `null` (`Some(None)`: clear it) rather than left out (`None`: keep it).
fn some_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<Prerequisite>>, D::Error> {
    Option::<Prerequisite>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnvView {
    pub environment: String,
    pub enabled: bool,
    pub default_variant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_variant: Option<String>,
    pub rules: Vec<RuleSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prerequisite: Option<Prerequisite>,
    /// Plain words: who gets what.
    pub serving: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutView>,
    /// Evaluations per variant.
    pub evaluations: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FlagView {
    pub key: String,
    pub description: String,
    pub change_type: ChangeType,
    #[serde(rename = "type")]
    pub flag_type: FlagType,
    pub variants: serde_json::Map<String, Value>,
    pub off_variant: String,
    pub default_variant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_days: Option<u32>,
    pub tags: Vec<String>,
    pub status: FlagStatus,
    pub version: i64,
    pub created_at: String,
    pub environments: Vec<EnvView>,
    pub code_refs: Vec<CodeRef>,
    /// Prompt and model flags: immutable version records, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<VersionRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FlagOutput {
    #[serde(flatten)]
    pub outcome: Outcome,
    pub flag: FlagView,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FlagSummary {
    pub key: String,
    pub change_type: ChangeType,
    pub status: FlagStatus,
    pub version: i64,
    pub description: String,
    /// environment -> plain-words serving state.
    pub serving: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FlagList {
    pub flags: Vec<FlagSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evaluation {
    pub key: String,
    /// Absent when an error means the caller's code default applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub reason: Reason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// canary/control/excluded while a rollout runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<Arm>,
    // A shadow run's shadow arm: the candidate to run unseen (no doc comment: the schema is paid per session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_variant: Option<String>,
}
