//! The canary gate: a pure function from what both arms reported and the analysis config frozen at the
//! rollout's start to a verdict, PROMOTE, HOLD or ROLLBACK, with every number behind it
//! (notes/canary-gate.md §12.3).
//!
//! One file per part: `input.rs` what the arms reported, grouped in periods; `config.rs` the frozen
//! `GateConfig` and its hash; `judge.rs` the test of one metric and of one breaker; `verdict.rs`
//! `evaluate`, which orders them into a verdict; `result.rs` the verdict and the numbers behind it;
//! `preflight.rs` the offline eval gate for prompt and model changes; `shadow.rs` the gate of a
//! shadow run (the shadow arm's divergence share against its margin). All is re-exported here.

mod config;
mod input;
mod judge;
mod preflight;
mod result;
mod shadow;
mod verdict;

pub use config::{Breaker, GateConfig, Metric, MetricConfig, SrmAction, default_metric};
pub use input::{
    ArmCounts, ArmData, CustomCount, GateInput, GuardrailReading, PERIOD, PeriodData, periods,
    slot, totals,
};
pub use judge::{check_breaker, metric_counts, score_moments, smoothed_rates};
pub use preflight::{EvalPair, PreflightResult, preflight};
pub use result::{
    ArmValue, BreakerResult, GateEvaluation, GateLook, GateResult, Label, MetricResult,
    PauseReason, SrmResult, Verdict,
};
pub use shadow::{SHADOW_AGREEMENT, ShadowConfig, evaluate_shadow, shadow_metric};
pub use verdict::{GUARDRAIL, evaluate};

#[cfg(test)]
mod tests;
