//! Requests and answers of the use cases. The MCP tools take and return these types directly, so the
//! doc comments on request fields are the documentation a model reads: short, concrete, with examples.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::eval::{Arm, ErrorCode, Reason};
use crate::domain::evidence::LatencyHistogram;
use crate::domain::flag::{ChangeType, FlagStatus, FlagType};
use crate::domain::gate::{ArmCounts, CustomCount, EvalPair, GateResult, PreflightResult};
use crate::domain::policy::Decision;
use crate::domain::rollout::RolloutState;
use crate::domain::rules::RuleSpec;
use crate::store::{Approval, CodeRef, VersionRow};
use std::collections::BTreeMap;

// ---- requests --------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFlag {
    /// Letters, digits, - _ . e.g. "new-checkout".
    pub key: String,
    /// What it guards.
    pub description: String,
    pub change_type: ChangeType,
    /// name -> value, one type. Default {"on": true, "off": false}.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "serde_json::Map<String, Value>")]
    pub variants: Option<serde_json::Map<String, Value>>,
    /// Served when off (old path). Default: the false variant, else the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub off_variant: Option<String>,
    /// Served when on and no rule matches. Default: off_variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub default_variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub owner: Option<String>,
    /// Days before stale. Default by change_type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u32")]
    pub lifetime_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(flatten)]
    pub meta: Meta,
}

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
pub struct FlagRef {
    /// Flag key.
    pub key: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListFlags {
    #[serde(default)]
    #[schemars(with = "String")]
    pub environment: Option<String>,
    #[serde(default)]
    #[schemars(with = "ChangeType")]
    pub change_type: Option<ChangeType>,
    #[serde(default)]
    #[schemars(with = "FlagStatus")]
    pub status: Option<FlagStatus>,
    /// Substring of key, description, owner or tags.
    #[serde(default)]
    #[schemars(with = "String")]
    pub query: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateFlag {
    pub key: String,
    pub environment: String,
    /// OpenFeature context, e.g. {"targetingKey": "user-1", "email": "a@corp.com"}.
    #[serde(default = "empty_object")]
    #[schemars(with = "serde_json::Map<String, Value>")]
    pub context: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagEnv {
    pub key: String,
    pub environment: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddVersion {
    pub key: String,
    /// The prompt text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub content: Option<String>,
    /// Instead of content, when the text lives in the repo.
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
    /// For a new flag: prompt (default) or model.
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

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTargeting {
    pub key: String,
    pub environment: String,
    /// Replaces current rules, e.g. [{"conditions": [{"attribute": "email", "op": "ends_with", "values": ["@corp.com"]}], "serve": {"variant": "on"}}]
    pub rules: Vec<RuleSpec>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    pub enabled: Option<bool>,
    /// Served when no rule matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub default_variant: Option<String>,
    /// Version you read; stale is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "i64")]
    pub expected_version: Option<i64>,
    #[serde(flatten)]
    pub meta: Meta,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartCanary {
    pub key: String,
    pub environment: String,
    /// The variant to roll out, e.g. "on".
    pub candidate_variant: String,
    /// Percents ending at 100, e.g. [1, 5, 25, 100]. Default: policy steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<f64>")]
    pub steps: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "i64")]
    pub expected_version: Option<i64>,
    #[serde(flatten)]
    pub meta: Meta,
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
pub struct RecordSignals {
    pub key: String,
    pub environment: String,
    pub arm: Arm,
    #[serde(flatten)]
    pub counts: ArmCounts,
    /// Preflight pairs: per eval item, candidate and LKG scores in [0, 1].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eval_pairs: Vec<EvalPair>,
    /// Evidence source, e.g. a suite run.
    #[serde(default)]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
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

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WrapChange {
    /// Flag key; created (boolean, off) if it does not exist.
    pub key: String,
    /// rust, typescript, javascript, python, go, java or csharp.
    pub language: String,
    /// What the new code path does.
    pub change_description: String,
    /// File with the old code: records the reference; with lines, a diff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub file: Option<String>,
    /// First line (1-based) of the old code to wrap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u32")]
    pub start_line: Option<u32>,
    /// Last line (inclusive) of the old code to wrap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u32")]
    pub end_line: Option<u32>,
    /// For a new flag, as in create_flag. Default code.
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
    /// The variant whose code path stays, e.g. "on".
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
    /// Only flags at least this old. Default 0.
    #[serde(default)]
    #[schemars(with = "u32")]
    pub min_age_days: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyQuery {
    #[serde(default)]
    #[schemars(with = "String")]
    pub environment: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListApprovals {
    /// pending (default), approved, rejected, superseded or all.
    #[serde(default)]
    #[schemars(with = "String")]
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    #[serde(default)]
    #[schemars(with = "String")]
    pub key: Option<String>,
    #[serde(default)]
    #[schemars(with = "String")]
    pub environment: Option<String>,
    /// Newest first; default 50, max 500.
    #[serde(default)]
    #[schemars(with = "u32")]
    pub limit: Option<u32>,
}

// ---- answers ---------------------------------------------------------------------------------

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

/// What a mutation did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Outcome {
    pub dry_run: bool,
    pub decision: DecisionView,
    /// One sentence: what changed and what to do next.
    pub summary: String,
    /// The flag's version after the call; pass it as expected_version next time.
    pub version: i64,
    /// Audit event number; absent for dry runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_seq: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RolloutView {
    pub id: i64,
    pub state: RolloutState,
    pub candidate: String,
    pub lkg: String,
    pub percent: f64,
    pub steps: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnvView {
    pub environment: String,
    pub enabled: bool,
    pub default_variant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_variant: Option<String>,
    pub rules: Vec<RuleSpec>,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CanaryStatus {
    pub key: String,
    pub environment: String,
    pub version: i64,
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
    pub pending_approvals: Vec<i64>,
    /// The stored gate evaluation behind the last decision (`flagwarden canary show` prints it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_evaluation: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SignalsOutput {
    #[serde(flatten)]
    pub outcome: Outcome,
    pub rollout_id: i64,
    pub arm: Arm,
    /// Totals for this arm after the call.
    pub totals: ArmCounts,
    /// The preflight's verdict, when eval_pairs were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preflight: Option<PreflightResult>,
}

/// One arm's evidence so far: the summed counts, and what the reported distributions say.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ArmEvidence {
    #[serde(flatten)]
    pub counts: ArmCounts,
    /// Per-bucket latency counts, keyed by upper bound in ms.
    #[serde(default, skip_serializing_if = "LatencyHistogram::is_empty")]
    #[schemars(with = "std::collections::BTreeMap<String, u64>")]
    pub latency_ms: LatencyHistogram,
    /// Upper bound (ms) of the bucket holding the 95th percentile latency (absent above 10 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p95_ms: Option<u32>,
    /// How many eval scores were reported, and their mean.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub eval_scores: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_score_mean: Option<f64>,
    /// The application's own counters, summed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, CustomCount>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A batch of arm-level evidence from applications (`POST /api/v1/signals`). Retrying a batch with
/// the same `batch_id` counts nothing twice.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalBatch {
    pub batch_id: String,
    /// Filled from the caller's token or header when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub signals: Vec<ArmReport>,
}

/// One arm's evidence for one flag's active rollout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArmReport {
    pub flag: String,
    pub arm: Arm,
    #[serde(flatten)]
    pub counts: ArmCounts,
    /// Per-bucket latency counts keyed by upper bound in ms: {"10": 5, "25": 3, "+Inf": 1}.
    #[serde(default, skip_serializing_if = "LatencyHistogram::is_empty")]
    pub latency_ms: LatencyHistogram,
    /// Eval scores in [0, 1].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eval_scores: Vec<f64>,
    /// The application's own counters: {"refunds": {"events": 3, "trials": 1200}}.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, CustomCount>,
}

/// The fields of an `ArmReport` besides its counts.
pub const ARM_REPORT_OTHER_FIELDS: &[&str] =
    &["flag", "arm", "latency_ms", "eval_scores", "custom"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestOutput {
    pub batch_id: String,
    pub environment: String,
    pub accepted: usize,
    /// Totals per rollout and arm after the batch.
    pub rollouts: Vec<IngestedArm>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_seq: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestedArm {
    pub flag: String,
    pub rollout_id: i64,
    pub arm: Arm,
    pub totals: ArmCounts,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalList {
    pub approvals: Vec<Approval>,
    /// How a human decides.
    pub how_to_decide: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditLog {
    pub events: Vec<AuditEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEntry {
    pub seq: i64,
    pub ts: String,
    /// agent:<client>, human:<name> or system.
    pub actor: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    pub decision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
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

/// Where a human decided: recorded on the approval and in the audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Cli,
    Http,
    /// Answered by the person at the agent's own MCP client (elicitation).
    Elicitation,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Cli => "cli",
            Channel::Http => "http",
            Channel::Elicitation => "elicitation",
        }
    }
}

/// A human's decision on an approval (CLI).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalDecision {
    pub approval: Approval,
    pub executed: bool,
    pub summary: String,
}
