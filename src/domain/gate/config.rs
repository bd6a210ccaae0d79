//! How the gate judges: the metrics (built-in and custom counters), each one's margin and minimum
//! samples, the circuit breakers, the error levels and time limits. A `GateConfig` is frozen into a
//! rollout when it starts, and its hash names the exact analysis behind every evaluation.

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::stats;

/// The built-in metrics, oriented so a positive difference means the canary is worse.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Metric {
    /// errors / requests, lower is better.
    ErrorRate,
    /// task_successes / task_attempts, higher is better.
    TaskSuccessRate,
    /// safety_passes / safety_checks, higher is better.
    SafetyPassRate,
    /// The share of requests slower than the control's P95, lower is better.
    LatencyP95,
    /// The mean eval score in [0, 1], higher is better.
    EvalScore,
    /// The share of eval scores below the metric's floor, lower is better.
    EvalScoreTail,
    /// An application's own counter (`custom` in a report): events / trials, lower is better.
    Custom(String),
}

impl Metric {
    pub const BUILT_IN: [Metric; 6] = [
        Metric::ErrorRate,
        Metric::TaskSuccessRate,
        Metric::SafetyPassRate,
        Metric::LatencyP95,
        Metric::EvalScore,
        Metric::EvalScoreTail,
    ];

    pub fn name(&self) -> &str {
        match self {
            Metric::ErrorRate => "error_rate",
            Metric::TaskSuccessRate => "task_success_rate",
            Metric::SafetyPassRate => "safety_pass_rate",
            Metric::LatencyP95 => "latency_p95",
            Metric::EvalScore => "eval_score",
            Metric::EvalScoreTail => "eval_score_tail",
            Metric::Custom(n) => n,
        }
    }

    /// A built-in name, or any other word as an application's counter.
    pub fn parse(s: &str) -> Result<Metric, String> {
        if let Some(m) = Metric::BUILT_IN.iter().find(|m| m.name() == s) {
            return Ok(m.clone());
        }
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && s.as_bytes()[0].is_ascii_lowercase();
        if ok {
            Ok(Metric::Custom(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not a metric: use one of {} or a custom counter's name (lowercase letters, digits, '_')",
                Metric::BUILT_IN.map(|m| m.name().to_owned()).join(", ")
            ))
        }
    }

    /// The unit of the canary's value that breakers compare against.
    pub(super) fn unit(&self) -> &'static str {
        match self {
            Metric::EvalScore => "mean score",
            _ => "rate",
        }
    }
}

impl From<Metric> for String {
    fn from(m: Metric) -> String {
        m.name().to_owned()
    }
}

impl TryFrom<String> for Metric {
    type Error = String;
    fn try_from(s: String) -> Result<Metric, String> {
        Metric::parse(&s)
    }
}

/// How one metric is judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricConfig {
    pub metric: Metric,
    /// PROMOTE needs this metric shown NONINFERIOR.
    pub required: bool,
    /// How much worse the canary may be and still count as non-inferior (absolute: rate points, or
    /// score points for eval_score).
    pub margin: f64,
    /// Samples per arm before the metric is judged at all.
    pub min_samples: u64,
    /// HARM on this metric is critical: with `auto_rollback = "critical"` (or "any") the system rolls back at once.
    pub critical: bool,
    /// safety_pass_rate: the canary's own pass rate must also reach this. eval_score_tail: the score
    /// below which an answer counts as bad.
    pub floor: Option<f64>,
}

/// An absolute limit on the canary: no statistics, just "never this bad".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breaker {
    pub metric: Metric,
    pub above: Option<f64>,
    pub below: Option<f64>,
    pub min_samples: u64,
}

/// What to do on a sample-ratio mismatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SrmAction {
    Pause,
    Rollback,
}

/// The analysis config, frozen into a rollout when it starts; its hash is stored with every
/// evaluation so a changed policy never silently changes a running analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateConfig {
    /// Chance of rolling back a canary that is no worse, over the whole rollout, split over metrics.
    pub alpha_rollback: f64,
    /// Chance of promoting a canary worse than a margin, split over the required metrics.
    pub alpha_promote: f64,
    /// The confidence sequences are narrowest near this many samples (both arms).
    pub tuning_n: f64,
    pub srm_threshold: f64,
    pub srm_min_per_arm: u64,
    pub srm_action: SrmAction,
    /// Evidence older than this cannot promote.
    #[serde(with = "secs")]
    pub fresh_within: SignedDuration,
    /// No report at all this long into a step: pause.
    #[serde(with = "secs")]
    pub no_traffic_grace: SignedDuration,
    /// Still holding this long into a step: pause, and a human looks.
    #[serde(with = "secs")]
    pub max_step_duration: SignedDuration,
    pub metrics: Vec<MetricConfig>,
    pub breakers: Vec<Breaker>,
}

mod secs {
    use jiff::SignedDuration;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(d: &SignedDuration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.as_secs())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SignedDuration, D::Error> {
        Ok(SignedDuration::from_secs(i64::deserialize(d)?))
    }
}

/// Placeholder margins a team should tune (notes/canary-gate.md §12.3): they are product choices.
pub fn default_metric(metric: Metric, min_samples: u64) -> MetricConfig {
    let (margin, floor) = match metric {
        Metric::ErrorRate => (0.01, None),
        Metric::TaskSuccessRate => (0.02, None),
        Metric::SafetyPassRate => (0.005, Some(0.99)),
        Metric::LatencyP95 => (0.02, None),
        Metric::EvalScore => (0.02, None),
        Metric::EvalScoreTail => (0.02, Some(0.5)),
        Metric::Custom(_) => (0.01, None),
    };
    MetricConfig {
        required: metric == Metric::ErrorRate,
        critical: metric == Metric::SafetyPassRate,
        metric,
        margin,
        min_samples,
        floor,
    }
}

impl Default for GateConfig {
    fn default() -> GateConfig {
        GateConfig {
            alpha_rollback: 0.05,
            alpha_promote: 0.05,
            tuning_n: stats::DEFAULT_TUNING_N,
            srm_threshold: 0.001,
            srm_min_per_arm: 8,
            srm_action: SrmAction::Pause,
            fresh_within: SignedDuration::from_mins(15),
            no_traffic_grace: SignedDuration::from_hours(24),
            max_step_duration: SignedDuration::from_hours(72),
            metrics: Metric::BUILT_IN
                .into_iter()
                .map(|m| default_metric(m, 200))
                .collect(),
            breakers: Vec::new(),
        }
    }
}

impl GateConfig {
    /// The sha256 of the config as stored: evaluations name it, so any decision can be traced to
    /// the exact analysis that made it.
    pub fn sha256(&self) -> String {
        let json = serde_json::to_vec(self).expect("a config serializes");
        hex::encode(Sha256::digest(json))
    }
}
