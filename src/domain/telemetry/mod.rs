//! Telemetry as rollout evidence: what OpenTelemetry spans and log records an application already
//! emits (with the OpenFeature OTel hooks) say about a rollout's arms. Pure: the edge decodes OTLP,
//! this room reads the decoded messages, and `app` joins what it finds with the store.
//!
//! The parts: `attrs.rs` reads attributes by their current and deprecated names; `facts.rs` the
//! compact records kept of a span and a flag evaluation; `extract.rs` finds them in an export
//! (span events `feature_flag.evaluation` and the older `feature_flag`, log events, GenAI
//! evaluation results, the policy-named task and safety attributes); `sampling.rs` what sampling
//! the exporter declared; `attribution.rs` which arm an evaluation served, recomputed as the
//! evaluator assigns it and checked against what the hook says was served; `join.rs` which span's
//! outcome an evaluation takes and what one exposure adds to its arm; `rejection.rs` why an
//! evaluation was not counted, tallied for OTLP's `partial_success`.

mod attribution;
mod attrs;
mod extract;
mod facts;
mod join;
mod rejection;
mod sampling;
pub mod wire;

pub use attribution::{ArmPlan, attribute, percent_at};
pub use extract::{Extracted, Knobs, extract_logs, extract_traces};
pub use facts::{FlagEvaluation, SpanFact, SpanKey};
pub use join::{Link, exposure_data, next_link};
pub use rejection::{Rejection, Tally};
pub use sampling::{Sampling, declared_sampling};
