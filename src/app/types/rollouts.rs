//! Requests and answers of the rollout use cases: start, advance, roll back, status, and what a
//! human does to a rollout directly.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::gate::GateResult;
use crate::domain::mode::Mode;
use crate::domain::rollout::RolloutState;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartCanary {
    pub key: String,
    pub environment: String,
    pub candidate_variant: String,
    /// Segments, then percents to 100: ["internal", 1, 100].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "step_array")]
    pub steps: Option<Vec<StepSpec>>,
    /// Release flags as one: {name, members: {flag: variant}}.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "GroupSpec")]
    pub group: Option<GroupSpec>,
    /// shadow: all get LKG, shadow arm runs candidate unseen. experiment: variants (default LKG,
    /// candidate), policy weights, traffic %, primary metric, sample/variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Mode")]
    pub mode: Option<Mode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<String>")]
    pub variants: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<u64>")]
    pub weights: Option<Vec<u16>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "f64")]
    pub traffic: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub primary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u64")]
    pub sample: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "i64")]
    pub expected_version: Option<i64>,
    // The checklist's words (rollback plan, known limitations, why no evidence can flow yet): the
    // refusal says which are needed, so their names carry no description (tools/list is paid per call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub plan: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub limitations: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub no_evidence: Option<String>,
    // Only rehearse the rollback, start nothing (the checklist's refusal says when it is needed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rehearse: bool,
    #[serde(flatten)]
    pub meta: Meta,
}

pub use crate::domain::segment::StepSpec;

fn step_array(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {"anyOf": [{"type": "number"}, {"type": "string"}]}
    })
}

/// A coordinated release: `key` plus these members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub members: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceCanary {
    pub key: String,
    pub environment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "i64")]
    pub expected_version: Option<i64>,
    #[serde(flatten)]
    pub meta: Meta,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackFlag {
    pub key: String,
    pub environment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "i64")]
    pub expected_version: Option<i64>,
    #[serde(flatten)]
    pub meta: Meta,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RolloutView {
    pub id: i64,
    pub state: RolloutState,
    /// shadow or experiment; absent for a canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    pub candidate: String,
    pub lkg: String,
    pub percent: f64,
    pub steps: Vec<f64>,
    /// The segments the first steps expose (their `steps` entries are 0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<String>,
    /// The segment now exposed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// Coordinated release this rollout moves with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CanaryOutput {
    #[serde(flatten)]
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<i64>,
}

/// `canary_status`'s input: which rollout, and optionally how long to wait for a change.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryQuery {
    pub key: String,
    pub environment: String,
    // The seq of an earlier answer: wait for a change after it (the tool's description says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "i64")]
    pub since: Option<i64>,
    // Seconds to wait for a change, at most 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u32")]
    pub wait_s: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CanaryStatus {
    pub key: String,
    pub environment: String,
    pub version: i64,
    /// The newest committed change here (audit seq); give it back as `since` to wait for the next.
    pub seq: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateResult>,
    pub canary: ArmEvidence,
    pub control: ArmEvidence,
    /// Earliest time policy lets the next advance happen (dwell), if later than now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_advance_at: Option<String>,
    /// What is missing before the next step: samples, dwell, approval.
    pub missing: Vec<String>,
    /// Last evidence gap per source (e.g. Prometheus down).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<String>,
    pub pending_approvals: Vec<i64>,
    /// The stored gate evaluation behind the last decision (`flagwarden canary show` prints it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_evaluation: Option<i64>,
    /// Experiment outcome, or the shadow run a canary came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub shape: Option<serde_json::Value>,
}

/// What a human does to a rollout directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steer {
    /// A PAUSED rollout runs again (the time at its step counts from now).
    Resume,
    /// Stop it: everyone gets the last-known-good.
    Abort,
    /// Break-glass override: complete it now, past the gate.
    Promote,
}

impl Steer {
    pub fn as_str(self) -> &'static str {
        match self {
            Steer::Resume => "resume",
            Steer::Abort => "abort",
            Steer::Promote => "override_promote",
        }
    }
}
