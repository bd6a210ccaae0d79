//! Experiments: a fixed split of two or more variants, a primary metric and guardrails, judged by
//! a two-sided anytime-valid comparison of every pair of variants until one wins, none can be told
//! apart at the stated sample, or a guardrail stops it.
//!
//! `config.rs` what an experiment is (variants, weights, metrics, error level, stated sample), frozen
//! into the rollout at its start; `compare.rs` `judge(config, arms)`, the outcome and every number
//! behind it. It reuses the gate's metric kinds and breakers and the confidence sequences of `stats`.

mod compare;
mod config;

pub use compare::{ArmResult, Comparison, ExperimentResult, Outcome, judge};
pub use config::{ExperimentBounds, ExperimentConfig};

#[cfg(test)]
mod tests;
