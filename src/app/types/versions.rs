//! Prompt and model versions: the request that appends one as a variant, and its answer.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;
use crate::domain::flag::ChangeType;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddVersion {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub content: Option<String>,
    /// Instead of content: text in the repo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub content_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub model_id: Option<String>,
    /// E.g. {"temperature": 0.2}.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "serde_json::Map<String, Value>")]
    pub parameters: Option<serde_json::Map<String, Value>>,
    /// New flag: prompt (default) or model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub change_type: Option<ChangeType>,
    #[serde(flatten)]
    pub meta: Meta,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VersionOutput {
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The new version's variant: canary it with start_canary.
    pub variant: String,
    pub flag: FlagView,
}
