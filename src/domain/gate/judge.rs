//! One metric at a time: the one-sided test of canary against control with anytime-valid bounds
//! (`stats`), or the exact event-share test for rare events, labelled INSUFFICIENT, HARM,
//! NONINFERIOR or INCONCLUSIVE with how many samples would settle it; and one circuit breaker, an
//! absolute limit on the canary alone.

use super::config::{Breaker, Metric, MetricConfig, default_metric};
use super::input::{ArmData, Counters, PeriodData};
use super::result::{ArmValue, BreakerResult, Label, MetricResult};
use crate::domain::evidence::ScoreSummary;
use crate::domain::stats::{self, Diff, Period};

/// Bad events and trials of a rate metric (oriented so that more events is worse).
fn rate_counts(m: &Metric, a: &ArmData, cfg: &MetricConfig, tau: Option<u32>) -> (u64, u64) {
    let c = &a.counts;
    match m {
        Metric::ErrorRate => (c.errors, c.requests),
        Metric::TaskSuccessRate => (c.task_attempts - c.task_successes, c.task_attempts),
        Metric::SafetyPassRate => (c.safety_checks - c.safety_passes, c.safety_checks),
        Metric::LatencyP95 => match tau {
            Some(t) => (a.latency_ms.above(t), a.latency_ms.total()),
            None => (0, 0),
        },
        Metric::EvalScoreTail => (a.scores.below(cfg.floor.unwrap_or(0.5)), a.scores.n),
        Metric::Custom(name) => a.custom.get(name).map_or((0, 0), |c| (c.events, c.trials)),
        Metric::EvalScore => unreachable!("a mean, not a rate"),
    }
}

/// Bad outcomes and trials of a rate metric for one arm, as the gate counts them: what an
/// experiment compares between variants. `None` for the mean score and for tail latency, which
/// needs a control's P95 that an experiment does not have.
pub fn metric_counts(cfg: &MetricConfig, a: &ArmData) -> Option<(u64, u64)> {
    match cfg.metric {
        Metric::EvalScore | Metric::LatencyP95 => None,
        ref m => Some(rate_counts(m, a, cfg, None)),
    }
}

/// An eval score summary's count, mean and (smoothed) variance, as the gate tests means.
pub fn score_moments(s: &ScoreSummary) -> Option<(u64, f64, f64)> {
    mean_and_var(s)
}

/// One breaker on one arm, with no latency threshold (an experiment has no control arm).
pub fn check_breaker(b: &Breaker, arm: &ArmData) -> BreakerResult {
    breaker(b, arm, None)
}

/// `rate_counts` for period `i`'s arm `a`, a custom counter read from the arm's table (`Counters`).
fn period_counts(
    m: &Metric,
    a: &ArmData,
    cfg: &MetricConfig,
    tau: Option<u32>,
    column: Option<(&Counters, Option<usize>)>,
    i: usize,
) -> (u64, u64) {
    match column {
        Some((table, Some(c))) => {
            let c = table.at(i, c);
            (c.events, c.trials)
        }
        Some((_, None)) => (0, 0),
        None => rate_counts(m, a, cfg, tau),
    }
}

/// The value a reader expects: success rates as successes, everything else as it is.
fn shown(m: &Metric, bad: u64, n: u64) -> ArmValue {
    let value = (n > 0).then(|| {
        let r = bad as f64 / n as f64;
        match m {
            Metric::TaskSuccessRate | Metric::SafetyPassRate => 1.0 - r,
            _ => r,
        }
    });
    ArmValue { n, value }
}

/// Count, mean and variance of scores in [0, 1]. Like rates, the variance never collapses to zero:
/// ten identical scores are not certainty, so it is computed as if one 0 and one 1 were also seen.
fn mean_and_var(s: &ScoreSummary) -> Option<(u64, f64, f64)> {
    if s.n < 2 {
        return None;
    }
    let n = s.n as f64;
    let mean = s.sum / n;
    let (n2, sum2, sq2) = (n + 2.0, s.sum + 1.0, s.sum_sq + 1.0);
    let mean2 = sum2 / n2;
    let var = ((sq2 - n2 * mean2 * mean2) / (n2 - 1.0)).max(0.0);
    Some((s.n, mean, var))
}

/// How many times more samples (per arm) until `upper` falls below the margin, if the estimate and
/// per-sample variance hold; `None` when no amount would do.
fn growth_needed(d: &Diff, margin: f64, alpha: f64, tuning_n: f64) -> Option<f64> {
    if d.estimate >= margin {
        return None;
    }
    let at = |k: f64| {
        let scaled = Diff {
            estimate: d.estimate,
            se2: d.se2 / k,
            n: (d.n as f64 * k) as u64,
        };
        scaled.upper(alpha, tuning_n) < margin
    };
    let (mut lo, mut hi) = (1.0, 2.0);
    while !at(hi) {
        if hi > 1e4 {
            return None;
        }
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..30 {
        let mid = (lo + hi) / 2.0;
        if at(mid) { hi = mid } else { lo = mid }
    }
    Some(hi)
}

pub(super) struct Alphas {
    pub(super) rollback: f64,
    pub(super) promote: f64,
}

pub(super) fn test_metric(
    cfg: &MetricConfig,
    totals: (&ArmData, &ArmData),
    periods: &[PeriodData],
    counters: &[Counters; 2],
    tau: Option<u32>,
    alpha: &Alphas,
    tuning_n: f64,
) -> MetricResult {
    let (canary, control) = totals;
    let m = &cfg.metric;
    let mut r = MetricResult {
        metric: m.name().to_owned(),
        required: cfg.required,
        critical: cfg.critical,
        canary: ArmValue { n: 0, value: None },
        control: ArmValue { n: 0, value: None },
        difference: None,
        lower: None,
        upper: None,
        margin: cfg.margin,
        e_value: None,
        method: "confidence_sequence".into(),
        label: Label::Insufficient,
        samples_missing: None,
        explanation: String::new(),
    };
    let diff = if *m == Metric::EvalScore {
        let (ct, cc) = (mean_and_var(&canary.scores), mean_and_var(&control.scores));
        r.canary = ArmValue {
            n: canary.scores.n,
            value: canary.scores.mean(),
        };
        r.control = ArmValue {
            n: control.scores.n,
            value: control.scores.mean(),
        };
        ct.zip(cc).and_then(|(t, c)| Diff::of_means(t, c))
    } else {
        let (bt, nt) = rate_counts(m, canary, cfg, tau);
        let (bc, nc) = rate_counts(m, control, cfg, tau);
        r.canary = shown(m, bt, nt);
        r.control = shown(m, bc, nc);
        // Rare events: the normal approximation fails, but the event-share test is exact.
        let rare = nc == 0 || (bc as f64) < 10.0 || (bc as f64 / nc as f64) < 0.01;
        if rare && nt > 0 && nc > 0 {
            r.method = "event_share".into();
            // A custom counter's column in each arm's table (none: no period reported it).
            let columns = match m {
                Metric::Custom(name) => {
                    let [t, c] = counters;
                    Some(((t, t.column(name)), (c, c.column(name))))
                }
                _ => None,
            };
            let (ct, cc) = columns.unzip();
            let per: Vec<Period> = periods
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let (et, xt) = period_counts(m, &p.canary, cfg, tau, ct, i);
                    let (ec, xc) = period_counts(m, &p.control, cfg, tau, cc, i);
                    Period {
                        canary_events: et,
                        canary_exposures: xt,
                        control_events: ec,
                        control_exposures: xc,
                    }
                })
                .collect();
            r.e_value = Some(stats::event_share_evalue(&per));
        }
        smoothed_rates(bt, nt, bc, nc)
    };
    if m == &Metric::LatencyP95 && tau.is_none() {
        r.explanation = "no control latency yet to set the P95 threshold".into();
        r.samples_missing = Some(cfg.min_samples);
        return r;
    }
    let (nt, nc) = (r.canary.n, r.control.n);
    let short = cfg.min_samples.saturating_sub(nt.min(nc));
    let Some(d) = diff.filter(|_| short == 0) else {
        r.samples_missing = Some(short.max(1));
        r.explanation = format!(
            "{nt} canary and {nc} control samples; {} per arm needed before it is judged",
            cfg.min_samples
        );
        return r;
    };
    let lower = d.lower(alpha.rollback, tuning_n);
    let upper = d.upper(alpha.promote, tuning_n);
    r.difference = Some(d.estimate);
    r.lower = Some(lower);
    r.upper = Some(upper);
    let harm = match r.e_value {
        Some(e) => e >= 1.0 / alpha.rollback,
        None => lower > 0.0,
    };
    let below_floor = match (m, cfg.floor, r.canary.value) {
        (Metric::SafetyPassRate, Some(floor), Some(v)) => v < floor,
        _ => false,
    };
    let name = m.name();
    if harm {
        r.label = Label::Harm;
        r.explanation = match r.e_value {
            Some(e) => format!(
                "{name}: the canary's events are {e:.0} times likelier under harm than under equal rates (limit {:.0})",
                1.0 / alpha.rollback
            ),
            None => format!(
                "{name}: the canary is worse by at least {lower:.4} (difference {:.4})",
                d.estimate
            ),
        };
    } else if upper < cfg.margin && !below_floor {
        r.label = Label::Noninferior;
        r.explanation = format!(
            "{name}: the canary is at most {upper:.4} worse, within the margin {}",
            cfg.margin
        );
    } else {
        r.label = Label::Inconclusive;
        r.samples_missing = growth_needed(&d, cfg.margin, alpha.promote, tuning_n)
            .map(|k| ((k - 1.0) * nt.min(nc) as f64).ceil() as u64);
        r.explanation = if below_floor {
            format!(
                "{name}: the canary's pass rate is below the floor {}",
                cfg.floor.unwrap_or(0.0)
            )
        } else {
            match r.samples_missing {
                Some(more) => format!(
                    "{name}: the canary may be up to {upper:.4} worse, beyond the margin {}; about {more} more samples per arm would settle it if the difference holds",
                    cfg.margin
                ),
                None => format!(
                    "{name}: the canary looks {:.4} worse, at or beyond the margin {}; more samples will not show it non-inferior",
                    d.estimate, cfg.margin
                ),
            }
        };
    }
    r
}

/// A difference of rates whose variance never collapses to zero: with no events in an arm the plain
/// estimate claims certainty it does not have, so each arm's variance uses (x + 1) / (n + 2).
pub fn smoothed_rates(bt: u64, nt: u64, bc: u64, nc: u64) -> Option<Diff> {
    let d = Diff::of_rates(bt, nt, bc, nc)?;
    let v = |x: u64, n: u64| {
        let p = (x as f64 + 1.0) / (n as f64 + 2.0);
        p * (1.0 - p) / n as f64
    };
    Some(Diff {
        se2: v(bt, nt) + v(bc, nc),
        ..d
    })
}

pub(super) fn breaker(b: &Breaker, canary: &ArmData, tau: Option<u32>) -> BreakerResult {
    let value = if b.metric == Metric::EvalScore {
        ArmValue {
            n: canary.scores.n,
            value: canary.scores.mean(),
        }
    } else {
        let cfg = default_metric(b.metric.clone(), 0);
        let (bad, n) = rate_counts(&b.metric, canary, &cfg, tau);
        shown(&b.metric, bad, n)
    };
    let (op, limit) = match (b.above, b.below) {
        (Some(a), _) => ("above", a),
        (None, Some(l)) => ("below", l),
        (None, None) => ("above", f64::INFINITY),
    };
    let tripped = value.n >= b.min_samples.max(1)
        && value
            .value
            .is_some_and(|v| if op == "above" { v > limit } else { v < limit });
    BreakerResult {
        metric: b.metric.name().to_owned(),
        op: op.into(),
        limit,
        canary: value,
        tripped,
    }
}
