//! The policy in force as the tools show it: the query and the bounds in plain words and as data.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyQuery {
    #[serde(default)]
    #[schemars(with = "String")]
    pub environment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyView {
    pub version: u32,
    pub sha256: String,
    pub path: String,
    /// environment -> the bounds in plain words.
    pub plain: serde_json::Map<String, Value>,
    /// The parsed bounds as data.
    pub bounds: Value,
}
