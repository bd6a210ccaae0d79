//! The gate: from the evidence recorded for a rollout's arms to a verdict, PROMOTE, HOLD or ROLLBACK,
//! with the numbers behind it. This is the plain threshold gate (minimum samples and a maximum error
//! rate on the canary arm); the statistical gate will replace `verdict` without changing its callers.

use serde::{Deserialize, Serialize};

use super::policy::GateBounds;

/// Counts reported for one arm. Every field is additive, so batches are summed.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct ArmCounts {
    #[serde(default)]
    pub exposures: u64,
    #[serde(default)]
    pub requests: u64,
    #[serde(default)]
    pub errors: u64,
    #[serde(default)]
    pub task_attempts: u64,
    #[serde(default)]
    pub task_successes: u64,
    #[serde(default)]
    pub safety_checks: u64,
    #[serde(default)]
    pub safety_passes: u64,
}

impl ArmCounts {
    /// The field names, in the order of `values`.
    pub const NAMES: [&'static str; 7] = [
        "exposures",
        "requests",
        "errors",
        "task_attempts",
        "task_successes",
        "safety_checks",
        "safety_passes",
    ];

    pub fn values(&self) -> [u64; 7] {
        [
            self.exposures,
            self.requests,
            self.errors,
            self.task_attempts,
            self.task_successes,
            self.safety_checks,
            self.safety_passes,
        ]
    }

    pub fn add(&mut self, o: &ArmCounts) {
        self.exposures += o.exposures;
        self.requests += o.requests;
        self.errors += o.errors;
        self.task_attempts += o.task_attempts;
        self.task_successes += o.task_successes;
        self.safety_checks += o.safety_checks;
        self.safety_passes += o.safety_passes;
    }
    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors as f64 / self.requests as f64)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ArmStats {
    pub canary: ArmCounts,
    pub control: ArmCounts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Promote,
    Hold,
    Rollback,
}

/// A verdict and the evidence for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GateResult {
    pub verdict: Verdict,
    pub reasons: Vec<String>,
    pub canary_requests: u64,
    pub canary_error_rate: Option<f64>,
    pub control_error_rate: Option<f64>,
    pub min_samples: u64,
    pub max_error_rate: f64,
    /// Canary requests still needed before the gate can pass.
    pub samples_missing: u64,
}

/// The verdict for the evidence so far. Missing evidence is never a pass.
pub fn verdict(stats: &ArmStats, bounds: &GateBounds) -> GateResult {
    let n = stats.canary.requests;
    let rate = stats.canary.error_rate();
    let missing = bounds.min_samples.saturating_sub(n);
    let mut reasons = Vec::new();
    let verdict = match rate {
        Some(r) if n >= bounds.min_samples && r > bounds.max_error_rate => {
            reasons.push(format!(
                "canary error rate {:.2}% is above the limit of {:.2}%",
                r * 100.0,
                bounds.max_error_rate * 100.0
            ));
            Verdict::Rollback
        }
        _ if missing > 0 => {
            reasons.push(format!(
                "{n} canary requests recorded, {} needed: {missing} more",
                bounds.min_samples
            ));
            Verdict::Hold
        }
        _ => {
            reasons.push(format!(
                "canary error rate {:.2}% is within the limit of {:.2}% over {n} requests",
                rate.unwrap_or(0.0) * 100.0,
                bounds.max_error_rate * 100.0
            ));
            Verdict::Promote
        }
    };
    GateResult {
        verdict,
        reasons,
        canary_requests: n,
        canary_error_rate: rate,
        control_error_rate: stats.control.error_rate(),
        min_samples: bounds.min_samples,
        max_error_rate: bounds.max_error_rate,
        samples_missing: missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(requests: u64, errors: u64, expect: Verdict) {
        let bounds = GateBounds {
            min_samples: 100,
            max_error_rate: 0.05,
        };
        let stats = ArmStats {
            canary: ArmCounts {
                requests,
                errors,
                ..Default::default()
            },
            control: ArmCounts::default(),
        };
        assert_eq!(
            verdict(&stats, &bounds).verdict,
            expect,
            "{requests} requests, {errors} errors"
        );
    }

    #[test]
    fn threshold_gate() {
        check(0, 0, Verdict::Hold);
        check(99, 0, Verdict::Hold);
        check(99, 50, Verdict::Hold);
        check(100, 5, Verdict::Promote);
        check(100, 6, Verdict::Rollback);
        check(10_000, 0, Verdict::Promote);
    }
}
