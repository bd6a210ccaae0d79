//! What the policy names for the Prometheus query provider, checked: the server, how often and how
//! late its windows are read, the PromQL templates of each gate metric's trials and events per arm,
//! and the guardrails, absolute limits on any PromQL value that act as circuit breakers.

use jiff::SignedDuration;
use serde::Serialize;

use super::template::Template;
use crate::domain::gate::Metric;

/// The gate metrics Prometheus can feed: rates of events over trials.
pub const QUERYABLE: &str =
    "error_rate, task_success_rate, safety_pass_rate or a custom counter's name";

/// One environment's (or one flag's) Prometheus.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrometheusSource {
    /// The server's base URL, e.g. `http://127.0.0.1:9090`; queries go to `{url}/api/v1/query`.
    pub url: String,
    /// The length of each window read, and so how often a rollout is queried.
    #[serde(with = "secs")]
    pub interval: SignedDuration,
    /// How long one query may take before the window is a gap.
    #[serde(with = "secs")]
    pub timeout: SignedDuration,
    /// How long after a window ends it is read, so the last scrape of the window has landed.
    #[serde(with = "secs")]
    pub delay: SignedDuration,
    pub metrics: Vec<MetricQueries>,
    pub guardrails: Vec<Guardrail>,
}

/// The PromQL of one gate metric: how many trials and how many events (errors for `error_rate`,
/// successes for `task_success_rate`, passes for `safety_pass_rate`, the counter's bad events for a
/// custom metric) one arm saw in one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricQueries {
    pub metric: Metric,
    pub trials: Template,
    pub events: Template,
}

/// An absolute limit on one PromQL value (a service's 5xx ratio): a circuit breaker in the gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Guardrail {
    pub name: String,
    pub query: Template,
    pub above: Option<f64>,
    pub below: Option<f64>,
}

impl Guardrail {
    /// Whether a real value passes the limit.
    pub fn trips(&self, value: f64) -> bool {
        self.above.is_some_and(|a| value > a) || self.below.is_some_and(|b| value < b)
    }
}

mod secs {
    use jiff::SignedDuration;
    use serde::Serializer;
    pub fn serialize<S: Serializer>(d: &SignedDuration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.as_secs())
    }
}
