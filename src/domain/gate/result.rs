//! What the gate answers: the `Verdict`, each metric's `Label` and numbers, breakers, the sample-ratio
//! check and why a rollout pauses, gathered in `GateResult`. These are stored with every evaluation
//! and shown to agents as they are, so they read back exactly as written.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Promote,
    Hold,
    Rollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Label {
    /// Below the minimum samples: no statistical decision yet, and never a pass.
    Insufficient,
    /// The canary is worse, beyond doubt at the configured level.
    Harm,
    /// The canary is shown no worse than the margin.
    Noninferior,
    /// Neither yet.
    Inconclusive,
}

/// One arm's value of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ArmValue {
    pub n: u64,
    /// A rate in [0, 1] or a mean score; absent with no samples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// The test of one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MetricResult {
    pub metric: String,
    pub required: bool,
    pub critical: bool,
    pub canary: ArmValue,
    pub control: ArmValue,
    /// Canary minus control in the "worse" direction (for success rates and scores: control minus
    /// canary), and the anytime-valid bounds on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difference: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    pub margin: f64,
    /// The event-share e-value for rare events (harm when it reaches 1/alpha).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e_value: Option<f64>,
    /// "confidence_sequence" or "event_share".
    pub method: String,
    pub label: Label,
    /// Samples per arm still needed before this metric can be judged or shown non-inferior, if the
    /// difference stays as it is; absent when no amount would do (the difference exceeds the margin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples_missing: Option<u64>,
    pub explanation: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BreakerResult {
    pub metric: String,
    /// "above" or "below".
    pub op: String,
    pub limit: f64,
    pub canary: ArmValue,
    pub tripped: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SrmResult {
    pub canary_exposures: u64,
    pub control_exposures: u64,
    /// The anytime-valid p-value of "the split is 50/50" (1 / Bayes factor, capped at 1).
    pub p_value: f64,
    pub mismatch: bool,
}

/// Why a rollout should pause rather than wait on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    SampleRatioMismatch,
    NoTraffic,
    HoldTooLong,
}

/// A verdict and the evidence for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GateResult {
    pub verdict: Verdict,
    /// A breaker tripped or a critical metric showed harm.
    pub critical: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause: Option<PauseReason>,
    /// Why, in words, most important first.
    pub reasons: Vec<String>,
    pub metrics: Vec<MetricResult>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breakers: Vec<BreakerResult>,
    pub srm: SrmResult,
    /// Seconds of dwell still needed at this step.
    pub dwell_remaining_secs: i64,
    /// The most samples per arm any required metric still needs, and at the recent rate of
    /// reporting, about how long that takes.
    pub samples_missing: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_secs: Option<i64>,
    pub config_sha256: String,
}

/// A stored look as the console draws it: when, and what came out, without what went in.
#[derive(Debug, Clone, PartialEq)]
pub struct GateLook {
    pub id: i64,
    pub evaluated_at: String,
    pub result: GateResult,
}

/// A stored gate evaluation: what went in, what came out, under which config.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateEvaluation {
    pub id: i64,
    pub rollout_id: i64,
    pub evaluated_at: String,
    pub verdict: String,
    pub config_sha256: String,
    pub inputs: serde_json::Value,
    pub result: serde_json::Value,
}
