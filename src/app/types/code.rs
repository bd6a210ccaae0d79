//! The flag in the code: wrapping a change behind it, finding the flags that are debt, and the edits
//! that remove one.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::code_ref::CodeRef;
use crate::domain::flag::ChangeType;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WrapChange {
    /// Created (on/off, off) if new.
    pub key: String,
    /// rust, typescript, javascript, python, go, java or csharp.
    pub language: String,
    pub change_description: String,
    /// Old code's file: records the ref; with lines, a diff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub file: Option<String>,
    /// First line (1-based) to wrap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u32")]
    pub start_line: Option<u32>,
    /// Last line (inclusive) to wrap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u32")]
    pub end_line: Option<u32>,
    /// New flag's, as create_flag. Default code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub change_type: Option<ChangeType>,
    #[serde(flatten)]
    pub meta: Meta,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CleanupFlag {
    pub key: String,
    /// Variant whose code stays.
    pub keep_variant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "i64")]
    pub expected_version: Option<i64>,
    #[serde(flatten)]
    pub meta: Meta,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListStale {
    #[serde(default)]
    #[schemars(with = "String")]
    pub environment: Option<String>,
    /// Default 0.
    #[serde(default)]
    #[schemars(with = "u32")]
    pub min_age_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WrapOutput {
    #[serde(flatten)]
    pub outcome: Outcome,
    pub created_flag: bool,
    pub install: String,
    pub setup: String,
    pub guard: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    pub test_plan: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CleanupOutput {
    #[serde(flatten)]
    pub outcome: Outcome,
    pub keep_variant: String,
    pub code_refs: Vec<CodeRef>,
    /// One per reference found in the code: a guard the diff rewrites, or a manual edit.
    pub edits: Vec<RefEdit>,
    /// Unified diff (git apply) replacing each guard with keep_variant's branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    pub steps: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RefEdit {
    pub file: String,
    pub line: usize,
    /// "guard" (in the diff) or "manual".
    pub kind: crate::codegen::EditKind,
    pub instruction: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StaleFlag {
    pub key: String,
    pub reasons: Vec<StaleReason>,
    /// The variant served to everyone everywhere, when launched: the one to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub keep_variant: Option<String>,
    pub recommended_action: String,
    pub code_refs: Vec<CodeRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StaleReason {
    pub code: crate::domain::stale::Reason,
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StaleList {
    pub flags: Vec<StaleFlag>,
}
