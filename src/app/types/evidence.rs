//! Evidence on a rollout's arms: what an agent records (`record_signals`), what applications send in
//! batches (`POST /api/v1/signals`), and each arm's evidence as the status shows it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::eval::Arm;
use crate::domain::evidence::LatencyHistogram;
use crate::domain::gate::{ArmCounts, CustomCount, EvalPair, PreflightResult};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordSignals {
    pub key: String,
    pub environment: String,
    pub arm: Arm,
    #[serde(flatten)]
    pub counts: ArmCounts,
    /// Experiment: variant served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub variant: Option<String>,
    /// Preflight: per item, candidate and LKG scores in [0, 1].
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
    /// How much of the counts came from each source (agent, api, otlp, prometheus).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, ArmCounts>")]
    pub by_source: BTreeMap<crate::domain::evidence::Source, ArmCounts>,
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
    /// An experiment's variant the report is for (the arm is then ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
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
pub const ARM_REPORT_OTHER_FIELDS: &[&str] = &[
    "flag",
    "arm",
    "variant",
    "latency_ms",
    "eval_scores",
    "custom",
];

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

/// What recording one window read from Prometheus did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromRecorded {
    pub rollout_id: i64,
    pub name: String,
    /// What the system did about a critical harm the window revealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reaction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_seq: Option<i64>,
}

/// A decoded OTLP export, as `POST /v1/traces` and `/v1/logs` received it.
#[derive(Debug, Clone)]
pub enum OtlpExport {
    Traces(crate::domain::telemetry::wire::TracesExport),
    Logs(crate::domain::telemetry::wire::LogsExport),
}

/// One OTLP export and where it may report.
#[derive(Debug, Clone)]
pub struct TelemetryIngest {
    pub export: OtlpExport,
    /// For resources without `deployment.environment.name`: the token's environment, else the
    /// request's header, else the server's default.
    pub environment: String,
    /// The environment the caller's token is bound to: nothing else is accepted from it.
    pub bound: Option<String>,
    /// The SHA-256 of the request body, recorded in the audit event.
    pub body_sha256: String,
}

/// What an OTLP export gave the rollouts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetryOutput {
    /// `traces` or `logs`.
    pub signal: String,
    /// Spans or log records in the export.
    pub items: u64,
    /// Items of which nothing was used (OTLP's `rejected_spans` / `rejected_log_records`).
    pub rejected: u64,
    /// Why evaluations were not counted, with their counts; empty when all were.
    pub message: String,
    /// Exposures counted by this export (including held ones it completed).
    pub counted: u64,
    /// Evaluations now held for a span that has not arrived.
    pub waiting: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_seq: Option<i64>,
}
