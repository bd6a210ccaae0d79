//! `judge`: an experiment's evidence so far to its outcome.
//!
//! Every pair of variants is compared on the primary metric with a two-sided anytime-valid
//! confidence sequence at alpha split over the pairs, so naming a winner where none differs stays
//! within alpha however often anyone looks. A variant wins once it is shown better than every other
//! one, and every guardrail shows it no worse than the baseline by more than its margin. Before
//! that, a guardrail can stop the experiment: a breaker crossed by any variant but the
//! baseline, or a variant shown worse than the baseline on a guardrail metric (one-sided, like the
//! gate's harm). Once every variant has the stated sample and none won, the answer is "no detectable
//! difference at this sample", with the bounds that say how large a difference is ruled out.

use serde::{Deserialize, Serialize};

use super::config::ExperimentConfig;
use crate::domain::gate::{
    ArmData, ArmValue, BreakerResult, Metric, MetricConfig, check_breaker, metric_counts,
    score_moments, smoothed_rates,
};
use crate::domain::stats::{Diff, cs_halfwidth_two_sided};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Still collecting evidence.
    Running,
    /// One variant is better than every other on the primary metric.
    Winner,
    /// Every variant reached the stated sample and none is better than the rest.
    NoDifference,
    /// A guardrail stopped it.
    StoppedByGuardrail,
}

/// One variant's value of the primary metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ArmResult {
    pub variant: String,
    #[serde(flatten)]
    pub value: ArmValue,
}

/// One pair on the primary metric: `a` minus `b` in the "worse" direction (negative: `a` is
/// better), and its two-sided anytime-valid bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub difference: f64,
    pub lower: f64,
    pub upper: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExperimentResult {
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<String>,
    pub primary: String,
    pub arms: Vec<ArmResult>,
    pub comparisons: Vec<Comparison>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breakers: Vec<BreakerResult>,
    /// Why, in words, most important first.
    pub reasons: Vec<String>,
    /// Samples the smallest variant still needs to reach the stated sample.
    pub samples_missing: u64,
}

/// A metric's value for one arm, and the difference of two arms oriented so positive means `a` is
/// worse; `None` while either arm has too little.
fn value(m: &MetricConfig, a: &ArmData) -> ArmValue {
    match metric_counts(m, a) {
        Some((bad, n)) => ArmValue {
            n,
            value: (n > 0).then(|| {
                let r = bad as f64 / n as f64;
                match m.metric {
                    Metric::TaskSuccessRate | Metric::SafetyPassRate => 1.0 - r,
                    _ => r,
                }
            }),
        },
        None => ArmValue {
            n: a.scores.n,
            value: a.scores.mean(),
        },
    }
}

fn diff(m: &MetricConfig, a: &ArmData, b: &ArmData) -> Option<Diff> {
    match metric_counts(m, a).zip(metric_counts(m, b)) {
        Some(((ba, na), (bb, nb))) => smoothed_rates(ba, na, bb, nb),
        None => Diff::of_means(score_moments(&a.scores)?, score_moments(&b.scores)?),
    }
}

/// The outcome of an experiment whose variants (in `cfg.variants` order) reported `arms`.
pub fn judge(cfg: &ExperimentConfig, arms: &[ArmData]) -> ExperimentResult {
    let k = cfg.variants.len().min(arms.len());
    let names = &cfg.variants[..k];
    let m = &cfg.primary;
    let values: Vec<ArmResult> = names
        .iter()
        .zip(arms)
        .map(|(v, a)| ArmResult {
            variant: v.clone(),
            value: value(m, a),
        })
        .collect();
    let smallest = values.iter().map(|a| a.value.n).min().unwrap_or(0);
    let mut result = ExperimentResult {
        outcome: Outcome::Running,
        winner: None,
        primary: m.metric.name().to_owned(),
        arms: values,
        comparisons: Vec::new(),
        breakers: Vec::new(),
        reasons: Vec::new(),
        samples_missing: cfg.sample.saturating_sub(smallest),
    };

    // Guardrails first: a variant harming users outranks any winner.
    for (v, a) in names.iter().zip(arms).skip(1) {
        for b in &cfg.breakers {
            let mut r = check_breaker(b, a);
            if r.tripped {
                result.reasons.push(format!(
                    "guardrail: {v:?}'s {} is {} the limit {} over {} samples",
                    r.metric, r.op, r.limit, r.canary.n
                ));
            }
            r.metric = format!("{v}:{}", r.metric);
            result.breakers.push(r);
        }
    }
    let tests = ((k.saturating_sub(1)) * cfg.guardrails.len()).max(1) as f64;
    for g in &cfg.guardrails {
        for (v, a) in names.iter().zip(arms).skip(1) {
            let (va, vb) = (value(g, a), value(g, &arms[0]));
            if va.n.min(vb.n) < g.min_samples {
                continue;
            }
            let Some(d) = diff(g, a, &arms[0]) else {
                continue;
            };
            let lower = d.lower(cfg.alpha_guardrail / tests, cfg.tuning_n);
            if lower > 0.0 {
                result.reasons.push(format!(
                    "guardrail {}: {v:?} is worse than the baseline {:?} by at least {lower:.4} (difference {:.4})",
                    g.metric.name(),
                    names[0],
                    d.estimate
                ));
            }
        }
    }
    if !result.reasons.is_empty() {
        result.outcome = Outcome::StoppedByGuardrail;
        return result;
    }

    // Every pair, both ways, at alpha split over the pairs.
    let pairs = (k * k.saturating_sub(1) / 2).max(1) as f64;
    let alpha = cfg.alpha / pairs;
    let mut better = vec![0usize; k];
    for i in 0..k {
        for j in i + 1..k {
            let (na, nb) = (result.arms[i].value.n, result.arms[j].value.n);
            let Some(d) = diff(m, &arms[i], &arms[j]).filter(|_| na.min(nb) >= m.min_samples)
            else {
                continue;
            };
            let hw = cs_halfwidth_two_sided(d.se2, d.n as f64, alpha, cfg.tuning_n);
            let (lower, upper) = (d.estimate - hw, d.estimate + hw);
            if upper < 0.0 {
                better[i] += 1;
            } else if lower > 0.0 {
                better[j] += 1;
            }
            result.comparisons.push(Comparison {
                a: names[i].clone(),
                b: names[j].clone(),
                difference: d.estimate,
                lower,
                upper,
            });
        }
    }
    let leader = (0..k).find(|&i| k > 1 && better[i] == k - 1);
    // A leader other than the baseline wins only once every guardrail shows it no worse than the
    // baseline by more than the guardrail's margin, as a canary must before it is promoted.
    let pending: Vec<String> = leader
        .filter(|&w| w > 0)
        .map(|w| {
            cfg.guardrails
                .iter()
                .filter(|g| {
                    let short = value(g, &arms[w]).n.min(value(g, &arms[0]).n) < g.min_samples;
                    short
                        || diff(g, &arms[w], &arms[0]).is_none_or(|d| {
                            d.upper(cfg.alpha_guardrail / tests, cfg.tuning_n) >= g.margin
                        })
                })
                .map(|g| g.metric.name().to_owned())
                .collect()
        })
        .unwrap_or_default();
    if let Some(w) = leader.filter(|_| !pending.is_empty()) {
        result.reasons.push(format!(
            "{:?} leads on {}, but is not yet shown within the margin of the baseline on {}: it keeps running",
            names[w],
            result.primary,
            pending.join(", ")
        ));
    } else if let Some(w) = leader {
        result.outcome = Outcome::Winner;
        result.winner = Some(names[w].clone());
        result.reasons.push(format!(
            "{:?} is better than every other variant on {} beyond doubt at the experiment's level",
            names[w], result.primary
        ));
    } else if smallest >= cfg.sample.max(m.min_samples) && result.comparisons.len() as f64 >= pairs
    {
        let widest = result
            .comparisons
            .iter()
            .map(|c| c.lower.abs().max(c.upper.abs()))
            .fold(0.0, f64::max);
        result.outcome = Outcome::NoDifference;
        result.reasons.push(format!(
            "no detectable difference on {} at the stated sample of {} per variant: differences beyond {widest:.4} are ruled out",
            result.primary, cfg.sample
        ));
    } else {
        result.reasons.push(format!(
            "running: {smallest} samples in the smallest variant of {} stated; no variant is yet better than every other on {}",
            cfg.sample, result.primary
        ));
    }
    result
}
