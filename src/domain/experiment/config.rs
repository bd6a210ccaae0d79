//! What an experiment is, frozen into its rollout when it starts: the variants and their weights
//! (one of the splits the policy allows), the primary metric the winner is chosen by, the guardrails
//! that stop it, the error level, and the sample per variant at which "no detectable difference" is
//! the answer.

use serde::{Deserialize, Serialize};

use crate::domain::gate::{Breaker, Metric, MetricConfig};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentConfig {
    /// The variants compared; the first is the baseline guardrails are held against (the
    /// last-known-good where it takes part).
    pub variants: Vec<String>,
    /// Each variant's share of the experiment's traffic in percent, summing to 100.
    pub weights: Vec<u16>,
    /// The metric a winner is chosen by (its kind, minimum samples and floor as the gate reads them).
    pub primary: MetricConfig,
    /// Metrics on which a variant shown worse than the baseline stops the experiment.
    pub guardrails: Vec<MetricConfig>,
    /// Absolute limits on any variant but the baseline: crossing one stops the experiment.
    pub breakers: Vec<Breaker>,
    /// Chance of naming a winner where no variant differs, at any look, over all pairs.
    pub alpha: f64,
    /// Chance of stopping on a guardrail that no variant harms, at any look, over all of them.
    pub alpha_guardrail: f64,
    /// The confidence sequences are narrowest near this many samples (both arms of a pair).
    pub tuning_n: f64,
    /// Samples per variant at which an undecided experiment ends as "no detectable difference".
    pub sample: u64,
}

impl ExperimentConfig {
    /// The split evaluation serves: each variant and its share of the experiment in basis points.
    pub fn split_bp(&self) -> Vec<(String, u16)> {
        self.variants
            .iter()
            .cloned()
            .zip(self.weights.iter().map(|w| w * 100))
            .collect()
    }
}

/// What the policy lets an experiment be in one environment (`[environments.E.experiments]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentBounds {
    /// The splits an experiment may use, in percent, e.g. [[50, 50], [34, 33, 33]].
    pub weights: Vec<Vec<u16>>,
    /// The most traffic an agent may put into one experiment; 0 allows none.
    pub max_traffic: crate::domain::bucket::Percent,
    /// Gate metrics held as guardrails (a variant shown worse than the baseline stops it).
    pub guardrails: Vec<Metric>,
    pub alpha: f64,
    /// The default stated sample per variant.
    pub sample: u64,
}

impl Default for ExperimentBounds {
    fn default() -> ExperimentBounds {
        ExperimentBounds {
            weights: vec![vec![50, 50]],
            max_traffic: crate::domain::bucket::Percent::ZERO,
            guardrails: vec![Metric::ErrorRate],
            alpha: 0.05,
            sample: 5000,
        }
    }
}
