//! Experiments in the app: building one from `start_canary` (mode `experiment`) under the policy's
//! allowed splits, its evidence per variant (reports name the variant; stored on the arm
//! `variant:NAME` of the rollout), its judgement as a gate result (a guardrail is a ROLLBACK, a
//! decided outcome a PROMOTE that ends it, anything else a HOLD, a skewed split a pause), and its end:
//! a decided experiment hands everyone back to the last-known-good and keeps its outcome, which
//! `list_stale_flags` then reports as debt to settle.

use super::*;
use crate::domain::bucket::Percent;
use crate::domain::eval::Arm;
use crate::domain::experiment::{self, ExperimentConfig, ExperimentResult, Outcome};
use crate::domain::gate::{
    ArmData, GateInput, GateResult, Metric, PauseReason, SrmResult, Verdict, default_metric,
};
use crate::domain::mode::Mode;
use crate::domain::policy::EnvPolicy;
use crate::domain::rollout::{Event, Rollout};
use crate::domain::stats;

/// How an experiment's per-variant evidence is stored: on the arm `variant:NAME`.
pub(super) const VARIANT_ARM: &str = "variant:";

/// The arm a report lands on: an experiment's reports name their variant, everything else reports
/// the canary or control arm. Shadow comparisons are only for a shadow run's shadow arm.
pub(super) fn stored_arm(
    r: &Rollout,
    arm: Arm,
    variant: Option<&str>,
    counts: &crate::domain::gate::ArmCounts,
    at: &str,
) -> Result<String> {
    let shadow = counts.shadow_agreements + counts.shadow_divergences > 0;
    if shadow && (r.analysis.mode != Mode::Shadow || arm != Arm::Canary || variant.is_some()) {
        return Err(invalid(
            &format!("{at}shadow_agreements"),
            format!(
                "rollout {} is not a shadow run's shadow arm: report shadow comparisons on the canary arm of a shadow run",
                r.id
            ),
        ));
    }
    match (&r.analysis.experiment, variant) {
        (Some(e), Some(v)) if e.variants.iter().any(|x| x == v) => Ok(format!("{VARIANT_ARM}{v}")),
        (Some(e), v) => Err(invalid(
            &format!("{at}variant"),
            format!(
                "rollout {} is an experiment of {}: name the variant this report is for{}",
                r.id,
                e.variants.join(", "),
                v.map_or(String::new(), |v| format!(", not {v:?}"))
            ),
        )),
        (None, Some(_)) => Err(invalid(
            &format!("{at}variant"),
            format!(
                "rollout {} is not an experiment: report the canary or control arm without a variant",
                r.id
            ),
        )),
        (None, None) => Ok(arm.as_str().to_owned()),
    }
}

/// The experiment `start_canary` asks for, checked against the policy: the variants exist and
/// differ, the weights are one of the allowed splits, the primary metric is one an experiment can
/// compare. Returns the frozen config and the traffic share.
pub(super) fn build(
    flag: &Flag,
    req: &StartCanary,
    lkg: &str,
    env: &EnvPolicy,
) -> Result<(ExperimentConfig, Percent)> {
    let variants = match &req.variants {
        Some(v) => v.clone(),
        None => vec![lkg.to_owned(), req.candidate_variant.clone()],
    };
    if variants.len() < 2 {
        return Err(invalid(
            "variants",
            "an experiment compares two or more variants",
        ));
    }
    for (i, v) in variants.iter().enumerate() {
        flag.variants.require(&format!("variants[{i}]"), v)?;
        if variants[..i].contains(v) {
            return Err(invalid(
                &format!("variants[{i}]"),
                format!("{v:?} is listed twice"),
            ));
        }
    }
    if !variants.contains(&req.candidate_variant) {
        return Err(invalid(
            "variants",
            format!(
                "the candidate_variant {:?} must be one of the variants",
                req.candidate_variant
            ),
        ));
    }
    let allowed = &env.experiments.weights;
    let shown: Vec<String> = allowed.iter().map(|w| format!("{w:?}")).collect();
    let weights = match &req.weights {
        Some(w) => w.clone(),
        None => allowed
            .iter()
            .find(|w| w.len() == variants.len())
            .cloned()
            .ok_or_else(|| {
                invalid(
                    "weights",
                    format!(
                        "no allowed split has {} variants; the policy allows {}",
                        variants.len(),
                        shown.join(", ")
                    ),
                )
            })?,
    };
    if !allowed.contains(&weights) {
        return Err(invalid(
            "weights",
            format!(
                "{weights:?} is not a split the policy allows here (experiments.weights): use one of {}",
                shown.join(", ")
            ),
        ));
    }
    if weights.len() != variants.len() {
        return Err(invalid(
            "weights",
            format!(
                "{} weights for {} variants: give one weight per variant",
                weights.len(),
                variants.len()
            ),
        ));
    }
    let traffic = req.traffic.ok_or_else(|| {
        invalid(
            "traffic",
            format!(
                "name the percent of units in the experiment (at most {} for an agent here)",
                env.experiments.max_traffic.as_f64()
            ),
        )
    })?;
    let traffic = Percent::from_percent(traffic).map_err(|m| invalid("traffic", m))?;
    if traffic == Percent::ZERO {
        return Err(invalid(
            "traffic",
            "an experiment needs some traffic, above 0",
        ));
    }
    let primary = req.primary.as_deref().ok_or_else(|| {
        invalid(
            "primary",
            "name the metric that picks the winner, e.g. task_success_rate",
        )
    })?;
    let primary = Metric::parse(primary).map_err(|m| invalid("primary", m))?;
    if primary == Metric::LatencyP95 {
        return Err(invalid(
            "primary",
            "latency_p95 needs a control arm's P95, which an experiment has not; use a rate, eval_score or a custom counter",
        ));
    }
    let gate = &env.gate;
    let metric = |m: &Metric| {
        gate.metrics
            .iter()
            .find(|c| c.metric == *m)
            .cloned()
            .unwrap_or_else(|| default_metric(m.clone(), 100))
    };
    let sample = req.sample.unwrap_or(env.experiments.sample);
    if sample == 0 {
        return Err(invalid(
            "sample",
            "state a sample of at least 1 per variant",
        ));
    }
    let cfg = ExperimentConfig {
        primary: metric(&primary),
        guardrails: env.experiments.guardrails.iter().map(metric).collect(),
        breakers: gate.breakers.clone(),
        alpha: env.experiments.alpha,
        alpha_guardrail: gate.alpha_rollback,
        tuning_n: gate.tuning_n,
        sample,
        variants,
        weights,
    };
    Ok((cfg, traffic))
}

/// Each variant's reports summed, in the experiment's order.
fn variant_totals(
    conn: &rusqlite::Connection,
    r: &Rollout,
    e: &ExperimentConfig,
) -> Result<Vec<ArmData>> {
    let mut arms = vec![ArmData::default(); e.variants.len()];
    for (_, arm, data) in store::signal_periods(conn, r.id)?.rows {
        let Some(v) = arm.strip_prefix(VARIANT_ARM) else {
            continue;
        };
        if let Some(i) = e.variants.iter().position(|x| x == v) {
            arms[i].add(&data);
        }
    }
    Ok(arms)
}

/// The experiment's outcome so far, and the gate result that drives what happens to it.
pub(super) fn judge(
    conn: &rusqlite::Connection,
    r: &Rollout,
    input: &GateInput,
) -> Result<(GateResult, Option<ExperimentResult>)> {
    let Some(e) = &r.analysis.experiment else {
        return Ok((
            crate::domain::gate::evaluate(&r.analysis.config, input),
            None,
        ));
    };
    let arms = variant_totals(conn, r, e)?;
    let result = experiment::judge(e, &arms);
    // The split must be what the weights say: a skew means assignment or reporting is broken.
    let exposures: Vec<u64> = arms.iter().map(|a| a.counts.exposures).collect();
    let expected: Vec<f64> = e.weights.iter().map(|w| f64::from(*w) / 100.0).collect();
    let cfg = &r.analysis.config;
    let srm_p = if exposures.iter().min().copied().unwrap_or(0) >= cfg.srm_min_per_arm {
        (1.0 / stats::srm_bayes_factor(&exposures, &expected, 10_000.0)).min(1.0)
    } else {
        1.0
    };
    let mismatch = srm_p < cfg.srm_threshold;
    let mut reasons = result.reasons.clone();
    let (verdict, pause) = if mismatch {
        reasons.insert(
            0,
            format!("sample-ratio mismatch: exposures {exposures:?} against the split {:?} (p = {srm_p:.2e}); no comparison can be trusted", e.weights),
        );
        (Verdict::Hold, Some(PauseReason::SampleRatioMismatch))
    } else {
        match result.outcome {
            Outcome::StoppedByGuardrail => (Verdict::Rollback, None),
            Outcome::Winner | Outcome::NoDifference => (Verdict::Promote, None),
            Outcome::Running => (Verdict::Hold, None),
        }
    };
    let gate = GateResult {
        verdict,
        critical: result.breakers.iter().any(|b| b.tripped),
        pause,
        reasons,
        metrics: Vec::new(),
        breakers: result.breakers.clone(),
        srm: SrmResult {
            canary_exposures: exposures.iter().skip(1).sum(),
            control_exposures: exposures.first().copied().unwrap_or(0),
            p_value: srm_p,
            mismatch,
        },
        dwell_remaining_secs: 0,
        samples_missing: result.samples_missing,
        eta_secs: None,
        config_sha256: cfg.sha256(),
    };
    Ok((gate, Some(result)))
}

/// Ends a decided experiment: everyone gets the last-known-good again, and the outcome stays on
/// the rollout.
pub(super) fn end(
    tx: &Tx,
    flag: &mut Flag,
    r: &Rollout,
    result: ExperimentResult,
) -> Result<(Rollout, String)> {
    let mut next = r
        .apply(Event::Complete, tx.now)
        .map_err(|e| AppError::Conflict(e.0))?;
    let summary = match (&result.outcome, &result.winner) {
        (Outcome::Winner, Some(w)) => format!(
            "experiment {} decided: {w:?} wins on {}; everyone in {} gets {:?} again. To ship {w:?}, start_canary with it; the flag is debt until then (list_stale_flags)",
            r.id, result.primary, r.env, r.lkg
        ),
        _ => format!(
            "experiment {} decided: no detectable difference on {} at {} per variant; everyone in {} gets {:?} again",
            r.id,
            result.primary,
            r.analysis.experiment.as_ref().map_or(0, |e| e.sample),
            r.env,
            r.lkg
        ),
    };
    next.analysis.outcome = Some(result);
    store::save_rollout(tx.conn, &next)?;
    tx.bump(flag)?;
    Ok((next, summary))
}

/// What canary_status shows of an experiment: the outcome so far (or the kept one once decided).
pub(super) fn record(r: &Rollout, live: Option<&ExperimentResult>) -> Option<serde_json::Value> {
    let e = r.analysis.experiment.as_ref()?;
    let result = r.analysis.outcome.as_ref().or(live)?;
    Some(serde_json::json!({
        "experiment": {
            "variants": e.variants,
            "weights": e.weights,
            "traffic": r.steps.first().map(|p| p.as_f64()),
            "sample": e.sample,
            "result": result,
        }
    }))
}
