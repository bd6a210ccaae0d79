//! Preflight, the offline eval gate for prompt and model changes: paired eval items scored for the
//! candidate and the last-known-good, tested before anyone is exposed (McNemar for pass/fail items,
//! a paired t-test for scores).

use serde::{Deserialize, Serialize};

use super::result::Verdict;
use crate::domain::stats;

/// One eval item scored for the candidate and for the last-known-good, in [0, 1] (1 and 0 for pass
/// and fail).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(expecting = r#"an object such as {"candidate": 1, "baseline": 0}"#)]
pub struct EvalPair {
    pub candidate: f64,
    pub baseline: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PreflightResult {
    /// PROMOTE: shown no worse than the margin; ROLLBACK: a significant regression (the candidate is
    /// rejected); HOLD: not enough items, or inconclusive.
    pub verdict: Verdict,
    pub items: u64,
    /// "mcnemar" for pass/fail items, "paired_t" for scores.
    pub method: String,
    /// Items where the baseline passed and the candidate failed, and the reverse (pass/fail only).
    pub regressions: u64,
    pub improvements: u64,
    /// Mean of baseline minus candidate: positive is a regression.
    pub mean_regression: f64,
    /// The p-value of "no regression beyond the margin" (small: the candidate regressed).
    pub regression_p: f64,
    /// The p-value of "the regression reaches the margin" (small: shown no worse).
    pub noninferiority_p: f64,
    pub reasons: Vec<String>,
}

/// Tests paired eval results: a significant regression rejects the candidate, a significant
/// non-inferiority (regression below `score_margin`) passes it, anything else holds.
pub fn preflight(
    pairs: &[EvalPair],
    alpha: f64,
    score_margin: f64,
    min_items: u64,
) -> PreflightResult {
    let items = pairs.len() as u64;
    let binary = pairs.iter().all(|p| {
        [p.candidate, p.baseline]
            .iter()
            .all(|v| *v == 0.0 || *v == 1.0)
    });
    let regressions = pairs.iter().filter(|p| p.baseline > p.candidate).count() as u64;
    let improvements = pairs.iter().filter(|p| p.baseline < p.candidate).count() as u64;
    let diffs: Vec<f64> = pairs.iter().map(|p| p.baseline - p.candidate).collect();
    let mean_regression = if items > 0 {
        diffs.iter().sum::<f64>() / items as f64
    } else {
        0.0
    };
    let (method, regression_p) = if binary {
        (
            "mcnemar",
            stats::mcnemar_regression_p(regressions, improvements),
        )
    } else {
        (
            "paired_t",
            stats::paired_regression_p(&diffs, score_margin).unwrap_or(1.0),
        )
    };
    // Non-inferiority: the mean regression is below the margin, one-sided at `alpha`.
    let noninferiority_p =
        stats::paired_regression_p(&diffs, score_margin).map_or(1.0, |p| 1.0 - p);
    let mut reasons = Vec::new();
    let verdict = if items < min_items {
        reasons.push(format!("{items} paired items, {min_items} needed"));
        Verdict::Hold
    } else if regression_p < alpha {
        reasons.push(format!(
            "the candidate regresses: {regressions} items got worse, {improvements} better, mean regression {mean_regression:.3} (p = {regression_p:.4} < {alpha})"
        ));
        Verdict::Rollback
    } else if noninferiority_p < alpha {
        reasons.push(format!(
            "no worse than the baseline by more than {score_margin}: mean regression {mean_regression:.3} over {items} items (p = {noninferiority_p:.4})"
        ));
        Verdict::Promote
    } else {
        reasons.push(format!(
            "inconclusive: mean regression {mean_regression:.3} over {items} items could still reach the margin {score_margin} (p = {noninferiority_p:.4}); run more items"
        ));
        Verdict::Hold
    };
    PreflightResult {
        verdict,
        items,
        method: method.into(),
        regressions,
        improvements,
        mean_regression,
        regression_p,
        noninferiority_p,
        reasons,
    }
}
