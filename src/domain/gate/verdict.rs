//! `evaluate`: the evidence so far, in order, to one verdict.
//!
//! Order: sample-ratio mismatch (the arms are not what the split says: nothing else can be trusted, so
//! pause), circuit breakers (absolute limits on the canary: roll back, critical), per-metric one-sided
//! tests of canary against control with anytime-valid bounds (`stats`), freshness, then the verdict.
//! Missing evidence is never a pass: a metric below its minimum samples is INSUFFICIENT, and a required
//! metric that is not shown NONINFERIOR holds the rollout.

use jiff::SignedDuration;

use super::config::{GateConfig, Metric, SrmAction};
use super::input::{GateInput, GuardrailReading, PeriodData, totals_and_counters};
use super::judge::{Alphas, breaker, test_metric};
use super::result::{
    ArmValue, BreakerResult, GateResult, Label, MetricResult, PauseReason, SrmResult, Verdict,
};
use crate::domain::duration::fmt_duration;
use crate::domain::stats;

/// How a guardrail shows among the breakers: `guardrail:NAME`.
pub const GUARDRAIL: &str = "guardrail:";

/// A guardrail's latest reading as a breaker: it trips only on the real value it was read at.
fn guardrail(g: &GuardrailReading) -> BreakerResult {
    let (op, limit) = match (g.above, g.below) {
        (Some(a), _) => ("above", a),
        (None, Some(b)) => ("below", b),
        (None, None) => ("above", f64::INFINITY),
    };
    BreakerResult {
        metric: format!("{GUARDRAIL}{}", g.name),
        op: op.into(),
        limit,
        canary: ArmValue {
            n: 1,
            value: Some(g.value),
        },
        tripped: g.above.is_some_and(|a| g.value > a) || g.below.is_some_and(|b| g.value < b),
    }
}

/// The verdict for the evidence so far.
pub fn evaluate(cfg: &GateConfig, input: &GateInput) -> GateResult {
    let (PeriodData { canary, control }, counters) = totals_and_counters(&input.periods);
    let (mut srm_t, mut srm_c) = (0u64, 0u64);
    for p in &input.periods {
        // Only periods where both arms reported: past 50 % the control arm is empty by design.
        if p.canary.counts.exposures > 0 && p.control.counts.exposures > 0 {
            srm_t += p.canary.counts.exposures;
            srm_c += p.control.counts.exposures;
        }
    }
    // The threshold for tail latency: frozen at the step's start, else the control's P95 so far.
    let tau = input
        .latency_threshold_ms
        .or_else(|| control.latency_ms.quantile_bound(0.95));
    let mut reasons = Vec::new();

    let srm_p = if srm_t.min(srm_c) >= cfg.srm_min_per_arm {
        (1.0 / stats::srm_bayes_factor(&[srm_t, srm_c], &[0.5, 0.5], 10_000.0)).min(1.0)
    } else {
        1.0
    };
    let srm = SrmResult {
        canary_exposures: srm_t,
        control_exposures: srm_c,
        p_value: srm_p,
        mismatch: srm_p < cfg.srm_threshold,
    };

    let mut breakers: Vec<BreakerResult> = cfg
        .breakers
        .iter()
        .map(|b| breaker(b, &canary, tau))
        .collect();
    breakers.extend(input.guardrails.iter().map(guardrail));
    let required = cfg.metrics.iter().filter(|m| m.required).count().max(1);
    let alpha = Alphas {
        rollback: cfg.alpha_rollback / cfg.metrics.len().max(1) as f64,
        promote: cfg.alpha_promote / required as f64,
    };
    let metrics: Vec<MetricResult> = cfg
        .metrics
        .iter()
        .map(|m| {
            test_metric(
                m,
                (&canary, &control),
                &input.periods,
                &counters,
                tau,
                &alpha,
                cfg.tuning_n,
            )
        })
        .collect();

    let dwell_remaining = (input.step_started_at + input.min_dwell)
        .duration_since(input.now)
        .max(SignedDuration::ZERO);
    let in_step = input.now.duration_since(input.step_started_at);
    let fresh = input
        .last_report_at
        .is_some_and(|t| input.now.duration_since(t) <= cfg.fresh_within);
    let samples_missing = metrics
        .iter()
        .filter(|m| m.required && m.label != Label::Noninferior)
        .filter_map(|m| m.samples_missing)
        .max()
        .unwrap_or(0);
    let eta_secs = input.first_report_at.and_then(|first| {
        let secs = input.now.duration_since(first).as_secs_f64();
        let per_arm = canary.counts.requests.min(control.counts.requests) as f64;
        (secs > 0.0 && per_arm > 0.0 && samples_missing > 0)
            .then(|| (samples_missing as f64 * secs / per_arm).ceil() as i64)
    });

    let tripped: Vec<&BreakerResult> = breakers.iter().filter(|b| b.tripped).collect();
    let harmed: Vec<&MetricResult> = metrics.iter().filter(|m| m.label == Label::Harm).collect();
    let mut pause = None;
    let mut critical = false;
    let verdict = if srm.mismatch {
        reasons.push(format!(
            "sample-ratio mismatch: {srm_t} canary against {srm_c} control exposures where the split is equal (p = {srm_p:.2e}); the assignment or the reporting is broken, so no other number can be trusted"
        ));
        match cfg.srm_action {
            SrmAction::Pause => {
                pause = Some(PauseReason::SampleRatioMismatch);
                Verdict::Hold
            }
            SrmAction::Rollback => Verdict::Rollback,
        }
    } else if !tripped.is_empty() || !harmed.is_empty() {
        critical = !tripped.is_empty() || harmed.iter().any(|m| m.critical);
        for b in &tripped {
            if let Some(name) = b.metric.strip_prefix(GUARDRAIL) {
                let value = b.canary.value.unwrap_or(f64::NAN);
                reasons.push(format!(
                    "guardrail {name}: its value {value} is {} the limit {}",
                    b.op, b.limit
                ));
                continue;
            }
            reasons.push(format!(
                "circuit breaker: the canary's {} {} is {} the limit {} over {} samples",
                b.metric,
                Metric::parse(&b.metric).map_or("value", |m| m.unit()),
                b.op,
                b.limit,
                b.canary.n
            ));
        }
        reasons.extend(harmed.iter().map(|m| m.explanation.clone()));
        Verdict::Rollback
    } else {
        let mut waiting = Vec::new();
        for m in metrics
            .iter()
            .filter(|m| m.required && m.label != Label::Noninferior)
        {
            waiting.push(m.explanation.clone());
        }
        if !fresh {
            waiting.push(match input.last_report_at {
                Some(t) => format!(
                    "the last report is from {t}, older than {}; evidence must be fresh to promote",
                    fmt_duration(cfg.fresh_within)
                ),
                None => "no signals reported yet for this rollout".into(),
            });
        }
        waiting.extend(input.gaps.iter().map(|g| format!("evidence gap: {g}")));
        if dwell_remaining > SignedDuration::ZERO {
            waiting.push(format!(
                "dwell: {} more at this step",
                fmt_duration(dwell_remaining)
            ));
        }
        if waiting.is_empty() {
            reasons.push(
                "every required metric is non-inferior, no harm, no breaker, dwell met".into(),
            );
            Verdict::Promote
        } else {
            let reported_in_step = input
                .last_report_at
                .is_some_and(|t| t >= input.step_started_at);
            if !reported_in_step && in_step > cfg.no_traffic_grace {
                pause = Some(PauseReason::NoTraffic);
                waiting.insert(
                    0,
                    format!("no signals for {} at this step", fmt_duration(in_step)),
                );
            } else if in_step > cfg.max_step_duration {
                pause = Some(PauseReason::HoldTooLong);
                waiting.insert(
                    0,
                    format!(
                        "holding for {}, past the step limit of {}",
                        fmt_duration(in_step),
                        fmt_duration(cfg.max_step_duration)
                    ),
                );
            }
            reasons.extend(waiting);
            Verdict::Hold
        }
    };
    GateResult {
        verdict,
        critical,
        pause,
        reasons,
        metrics,
        breakers,
        srm,
        dwell_remaining_secs: dwell_remaining.as_secs(),
        samples_missing,
        eta_secs,
        config_sha256: cfg.sha256(),
    }
}
