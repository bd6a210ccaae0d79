//! Requests and answers of the use cases. The MCP tools take and return these types directly, so the
//! doc comments on request fields are the documentation a model reads: short, concrete, with examples.
//!
//! One file per concern (flags, rollouts, evidence, code, versions, approvals, audit, policy), each
//! re-exported here, so `app::types::*` names them all. This file holds what every concern shares:
//! the fields every mutation takes and the outcome every mutation answers with.

mod approvals;
mod audit;
mod code;
mod evidence;
mod flags;
mod policy;
mod rollouts;
mod versions;

pub use approvals::*;
pub use audit::*;
pub use code::*;
pub use evidence::*;
pub use flags::*;
pub use policy::*;
pub use rollouts::*;
pub use versions::*;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::policy::Decision;

/// Fields every mutating tool takes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Meta {
    pub reason: String,
    // A repeat with the same key returns the first answer (the name says enough to a model, and
    // tools/list is paid for in every conversation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub idempotency_key: Option<String>,
    // Self-explanatory names cost no description (see idempotency_key).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

impl Meta {
    /// Just a reason: no idempotency key, not a dry run (the human commands).
    pub fn because(reason: &str) -> Meta {
        Meta {
            reason: reason.to_owned(),
            ..Meta::default()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagEnv {
    pub key: String,
    pub environment: String,
}

/// The policy decision behind a mutation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DecisionView {
    /// allow, deny or needs_approval.
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl From<&Decision> for DecisionView {
    fn from(d: &Decision) -> Self {
        match d {
            Decision::Allow => DecisionView {
                result: "allow".into(),
                rule: None,
                message: None,
            },
            Decision::Deny { rule, message } | Decision::NeedsApproval { rule, message } => {
                DecisionView {
                    result: d.label().into(),
                    rule: Some(rule.clone()),
                    message: Some(message.clone()),
                }
            }
        }
    }
}

/// What a mutation did (or, in a dry run, would do). The decision comes first and the summary next:
/// clients show structured content serialized (Codex) or read nothing else (Claude Code), so a call
/// that needs a human's approval says so, with the rule and the way forward, in its first words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Outcome {
    pub decision: DecisionView,
    /// One sentence: what changed and what to do next.
    pub summary: String,
    pub dry_run: bool,
    /// The flag's version after the call; pass it as expected_version next time.
    pub version: i64,
    /// Audit event number; absent for dry runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_seq: Option<i64>,
}
