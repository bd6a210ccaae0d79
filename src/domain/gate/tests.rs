//! The gate's unit tests: verdicts from small hand-made reports, periods, the stored result and the
//! config hash.

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::domain::eval::Arm;
use crate::domain::evidence::{LatencyHistogram, ScoreSummary};

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s).unwrap()
}

fn arm(requests: u64, errors: u64) -> ArmData {
    ArmData {
        counts: ArmCounts {
            exposures: requests,
            requests,
            errors,
            ..ArmCounts::default()
        },
        ..ArmData::default()
    }
}

fn input(periods: Vec<PeriodData>, now: i64) -> GateInput {
    GateInput {
        periods,
        first_report_at: Some(at(0)),
        last_report_at: Some(at(0)),
        step_started_at: at(0),
        min_dwell: SignedDuration::ZERO,
        latency_threshold_ms: None,
        now: at(now),
        guardrails: Vec::new(),
        gaps: Vec::new(),
    }
}

fn both(canary: ArmData, control: ArmData) -> Vec<PeriodData> {
    vec![PeriodData { canary, control }]
}

fn metric<'r>(g: &'r GateResult, name: &str) -> &'r MetricResult {
    g.metrics.iter().find(|m| m.metric == name).unwrap()
}

#[test]
fn equal_arms_with_enough_samples_promote_and_stale_evidence_holds() {
    let cfg = GateConfig::default();
    let g = evaluate(&cfg, &input(both(arm(5000, 50), arm(5000, 50)), 60));
    assert_eq!(g.verdict, Verdict::Promote, "{:?}", g.reasons);
    assert_eq!(metric(&g, "error_rate").label, Label::Noninferior);
    assert_eq!(
        metric(&g, "latency_p95").label,
        Label::Insufficient,
        "no data, not required: no block"
    );
    let stale = evaluate(&cfg, &input(both(arm(5000, 50), arm(5000, 50)), 3600));
    assert_eq!(stale.verdict, Verdict::Hold);
    assert!(
        stale
            .reasons
            .iter()
            .any(|r| r.contains("evidence must be fresh")),
        "{:?}",
        stale.reasons
    );
}

#[test]
fn dwell_and_missing_samples_hold_with_an_estimate() {
    let cfg = GateConfig::default();
    let mut i = input(both(arm(100, 1), arm(100, 1)), 60);
    i.min_dwell = SignedDuration::from_hours(1);
    let g = evaluate(&cfg, &i);
    assert_eq!(g.verdict, Verdict::Hold);
    assert_eq!(g.samples_missing, 100, "200 per arm needed, 100 recorded");
    assert_eq!(g.eta_secs, Some(60), "100 more per arm at 100 a minute");
    assert_eq!(g.dwell_remaining_secs, 3540);
}

#[test]
fn a_breaker_trips_on_the_canary_alone_and_is_critical() {
    let cfg = GateConfig {
        breakers: vec![Breaker {
            metric: Metric::ErrorRate,
            above: Some(0.2),
            below: None,
            min_samples: 20,
        }],
        ..GateConfig::default()
    };
    let below_min = evaluate(&cfg, &input(both(arm(19, 10), ArmData::default()), 60));
    assert_ne!(
        below_min.verdict,
        Verdict::Rollback,
        "a breaker waits for its minimum samples"
    );
    let g = evaluate(&cfg, &input(both(arm(20, 5), ArmData::default()), 60));
    assert_eq!((g.verdict, g.critical), (Verdict::Rollback, true));
    assert!(
        g.breakers[0].tripped && g.reasons[0].contains("circuit breaker"),
        "{:?}",
        g.reasons
    );
}

#[test]
fn tail_latency_is_the_share_above_the_controls_p95() {
    let cfg = GateConfig::default();
    let hist = |fast: u64, slow: u64| {
        LatencyHistogram::from_map(
            &[("50".to_owned(), fast), ("500".to_owned(), slow)]
                .into_iter()
                .collect(),
        )
        .unwrap()
    };
    let mut canary = arm(2000, 0);
    canary.latency_ms = hist(1400, 600);
    let mut control = arm(2000, 0);
    control.latency_ms = hist(1960, 40);
    let mut i = input(both(canary, control), 60);
    i.latency_threshold_ms = Some(50);
    let g = evaluate(&cfg, &i);
    let m = metric(&g, "latency_p95");
    assert_eq!((m.canary.value, m.control.value), (Some(0.3), Some(0.02)));
    assert_eq!(m.label, Label::Harm);
    assert_eq!(g.verdict, Verdict::Rollback);
}

#[test]
fn a_custom_counter_and_eval_scores_are_judged_like_the_built_ins() {
    let mut cfg = GateConfig::default();
    cfg.metrics.push(MetricConfig {
        required: true,
        ..default_metric(Metric::Custom("refunds".into()), 200)
    });
    let mut canary = arm(3000, 30);
    canary.custom.insert(
        "refunds".into(),
        CustomCount {
            events: 300,
            trials: 3000,
        },
    );
    canary.scores = ScoreSummary::of(&vec![0.6; 400]).unwrap();
    let mut control = arm(3000, 30);
    control.custom.insert(
        "refunds".into(),
        CustomCount {
            events: 60,
            trials: 3000,
        },
    );
    control.scores = ScoreSummary::of(&vec![0.9; 400]).unwrap();
    let g = evaluate(&cfg, &input(both(canary, control), 60));
    assert_eq!(metric(&g, "refunds").label, Label::Harm);
    assert_eq!(metric(&g, "eval_score").label, Label::Harm);
    assert_eq!(g.verdict, Verdict::Rollback);
}

#[test]
fn no_traffic_and_endless_holds_pause() {
    let cfg = GateConfig::default();
    let mut quiet = input(Vec::new(), 25 * 3600);
    quiet.first_report_at = None;
    quiet.last_report_at = None;
    assert_eq!(evaluate(&cfg, &quiet).pause, Some(PauseReason::NoTraffic));
    let mut long = input(both(arm(100, 1), arm(100, 1)), 73 * 3600);
    long.last_report_at = Some(at(73 * 3600 - 60));
    assert_eq!(evaluate(&cfg, &long).pause, Some(PauseReason::HoldTooLong));
}

#[test]
fn periods_group_both_arms_by_time() {
    let rows = vec![
        (at(0), Arm::Canary, arm(10, 1)),
        (at(60), Arm::Control, arm(12, 0)),
        (at(400), Arm::Canary, arm(5, 0)),
        (at(401), Arm::Excluded, arm(99, 9)),
    ];
    let p = periods(&rows);
    assert_eq!(p.len(), 2);
    assert_eq!(
        (p[0].canary.counts.requests, p[0].control.counts.requests),
        (10, 12)
    );
    assert_eq!(
        (p[1].canary.counts.requests, p[1].control.counts.requests),
        (5, 0)
    );
}

#[test]
fn a_result_reads_back_as_it_was_written() {
    let g = evaluate(
        &GateConfig::default(),
        &input(both(arm(300, 3), arm(300, 2)), 60),
    );
    assert!(
        g.breakers.is_empty(),
        "so the field is left out of the JSON"
    );
    let back: GateResult = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
    assert_eq!(
        (back.verdict, back.metrics.len(), back.reasons),
        (g.verdict, g.metrics.len(), g.reasons)
    );
}

#[test]
fn the_config_hash_changes_with_the_config() {
    let a = GateConfig::default();
    let b = GateConfig {
        alpha_promote: 0.01,
        ..GateConfig::default()
    };
    assert_ne!(a.sha256(), b.sha256());
    assert_eq!(a.sha256(), GateConfig::default().sha256());
}
