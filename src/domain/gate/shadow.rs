//! The gate of a shadow run. Everyone is served the last-known-good; the shadow arm also runs the
//! candidate unseen and reports, per unit, whether the two agreed. The question is not "is the
//! candidate worse for users" (no user sees it) but "does it diverge from what users get more often
//! than the policy's margin allows": the `shadow_agreement` metric, the divergence share of the
//! shadow arm, judged with an anytime-valid confidence sequence around it.
//!
//! Divergence beyond the margin is harm: the run stops before any user is exposed. Within the
//! margin, with the ordinary gate finding no harm in what the shadow arm served (running the
//! candidate beside the answer may slow it or break it), fresh evidence and dwell met, it
//! promotes: the run may become a live canary. The ordinary metrics are not required to be shown
//! non-inferior here, since both arms were served the same variant.

use serde::{Deserialize, Serialize};

use super::config::GateConfig;
use super::input::{GateInput, totals};
use super::result::{ArmValue, GateResult, Label, MetricResult, Verdict};
use super::verdict::evaluate;
use crate::domain::stats::Diff;

/// The metric's name everywhere: results, policy, audit.
pub const SHADOW_AGREEMENT: &str = "shadow_agreement";

/// How a shadow run is judged, from the policy's `[environments.E.shadow]`, frozen at its start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowConfig {
    /// The largest share of shadow-arm units whose candidate may diverge from the served answer.
    pub margin: f64,
    /// Agreements plus divergences before the share is judged at all.
    pub min_samples: u64,
    /// Chance of stopping a run whose divergence is within the margin, and of passing one beyond
    /// it, each at any look.
    pub alpha: f64,
}

impl Default for ShadowConfig {
    fn default() -> ShadowConfig {
        ShadowConfig {
            margin: 0.02,
            min_samples: 200,
            alpha: 0.05,
        }
    }
}

/// The divergence share of the shadow arm against its margin.
pub fn shadow_metric(shadow: &ShadowConfig, input: &GateInput, tuning_n: f64) -> MetricResult {
    let c = totals(&input.periods).canary.counts;
    let (agree, diverge) = (c.shadow_agreements, c.shadow_divergences);
    let n = agree + diverge;
    let mut r = MetricResult {
        metric: SHADOW_AGREEMENT.into(),
        required: true,
        critical: false,
        canary: ArmValue {
            n,
            value: (n > 0).then(|| agree as f64 / n as f64),
        },
        control: ArmValue { n: 0, value: None },
        difference: None,
        lower: None,
        upper: None,
        margin: shadow.margin,
        e_value: None,
        method: "confidence_sequence".into(),
        label: Label::Insufficient,
        samples_missing: None,
        explanation: String::new(),
    };
    if n < shadow.min_samples.max(1) {
        r.samples_missing = Some(shadow.min_samples.max(1) - n);
        r.explanation = format!(
            "{SHADOW_AGREEMENT}: {n} shadow comparisons reported; {} needed before it is judged",
            shadow.min_samples
        );
        return r;
    }
    // One arm against a fixed margin: the share's variance, smoothed so no divergence at all is not
    // read as certainty (as the gate's rates are).
    let p = diverge as f64 / n as f64;
    let smooth = (diverge as f64 + 1.0) / (n as f64 + 2.0);
    let d = Diff {
        estimate: p,
        se2: smooth * (1.0 - smooth) / n as f64,
        n,
    };
    let (lower, upper) = (
        d.lower(shadow.alpha, tuning_n),
        d.upper(shadow.alpha, tuning_n),
    );
    r.difference = Some(p);
    r.lower = Some(lower);
    r.upper = Some(upper);
    if lower > shadow.margin {
        r.label = Label::Harm;
        r.explanation = format!(
            "{SHADOW_AGREEMENT}: the candidate diverges from the served answer for at least {:.2}% of shadow units ({diverge} of {n}), beyond the margin {}%; no user was shown it",
            lower * 100.0,
            shadow.margin * 100.0
        );
    } else if upper < shadow.margin {
        r.label = Label::Noninferior;
        r.explanation = format!(
            "{SHADOW_AGREEMENT}: the candidate diverges for at most {:.2}% of shadow units ({diverge} of {n}), within the margin {}%",
            upper * 100.0,
            shadow.margin * 100.0
        );
    } else {
        r.label = Label::Inconclusive;
        r.explanation = format!(
            "{SHADOW_AGREEMENT}: {diverge} of {n} shadow units diverged ({:.2}%); the share may be up to {:.2}%, beyond the margin {}%; more comparisons will settle it",
            p * 100.0,
            upper * 100.0,
            shadow.margin * 100.0
        );
    }
    r
}

/// The verdict of a shadow run on the evidence so far.
pub fn evaluate_shadow(cfg: &GateConfig, shadow: &ShadowConfig, input: &GateInput) -> GateResult {
    let mut relaxed = cfg.clone();
    for m in &mut relaxed.metrics {
        m.required = false;
    }
    let mut g = evaluate(&relaxed, input);
    // The result names the frozen config, not the relaxed copy the ordinary metrics ran under.
    g.config_sha256 = cfg.sha256();
    let m = shadow_metric(shadow, input, cfg.tuning_n);
    let (label, why) = (m.label, m.explanation.clone());
    if let Some(missing) = m.samples_missing {
        g.samples_missing = g.samples_missing.max(missing);
    }
    g.metrics.insert(0, m);
    if g.verdict == Verdict::Rollback || g.pause.is_some() {
        return g;
    }
    match (label, g.verdict) {
        (Label::Harm, _) => {
            g.verdict = Verdict::Rollback;
            g.reasons = vec![why];
        }
        (Label::Noninferior, Verdict::Promote) => {
            g.reasons = vec![
                why,
                "no harm in what the shadow arm served, evidence fresh, dwell met: advance_canary makes it a live canary".into(),
            ];
        }
        (Label::Noninferior, _) => {
            g.reasons.insert(0, why);
        }
        (_, v) => {
            if v == Verdict::Promote {
                g.reasons.clear();
            }
            g.verdict = Verdict::Hold;
            g.reasons.insert(0, why);
        }
    }
    g
}
