//! The Prometheus query provider's pure part: what the policy names (`source.rs`: a server, PromQL
//! templates per gate metric and arm, absolute guardrails), filling a template in (`template.rs`),
//! reading Prometheus's JSON answer as a value, no data or a failure (`answer.rs`), and which
//! windows of time a rollout still needs read and what they add to each arm (`window.rs`). Querying
//! Prometheus is I/O and lives at the edge (`src/prometheus/`); everything here is tested with values.

mod answer;
mod source;
mod template;
mod window;

pub use answer::{Reading, read_answer};
pub use source::{Guardrail, MetricQueries, PrometheusSource, QUERYABLE};
pub use template::{Template, Vars};
pub use window::{ArmOutcome, Window, arm_data, due_windows, prom_duration};
