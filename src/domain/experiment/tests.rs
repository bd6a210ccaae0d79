//! The experiment judge on small hand-made arms: a clear winner, no difference at the stated
//! sample, a guardrail, three variants.

use super::*;
use crate::domain::gate::{ArmCounts, ArmData, Breaker, Metric, default_metric};

fn cfg(variants: &[&str]) -> ExperimentConfig {
    ExperimentConfig {
        variants: variants.iter().map(|v| v.to_string()).collect(),
        weights: vec![100 / variants.len() as u16; variants.len()],
        primary: default_metric(Metric::TaskSuccessRate, 100),
        guardrails: vec![default_metric(Metric::ErrorRate, 100)],
        breakers: vec![Breaker {
            metric: Metric::ErrorRate,
            above: Some(0.2),
            below: None,
            min_samples: 50,
        }],
        alpha: 0.05,
        alpha_guardrail: 0.05,
        tuning_n: 5000.0,
        sample: 4000,
    }
}

fn arm(tasks: u64, successes: u64, errors: u64) -> ArmData {
    ArmData {
        counts: ArmCounts {
            exposures: tasks,
            requests: tasks,
            errors,
            task_attempts: tasks,
            task_successes: successes,
            ..ArmCounts::default()
        },
        ..ArmData::default()
    }
}

#[test]
fn a_clearly_better_variant_wins() {
    let r = judge(
        &cfg(&["a", "b"]),
        &[arm(3000, 1500, 30), arm(3000, 1800, 30)],
    );
    assert_eq!(r.outcome, Outcome::Winner, "{:?}", r.reasons);
    assert_eq!(r.winner.as_deref(), Some("b"));
    assert!(r.comparisons[0].upper < 0.0 || r.comparisons[0].lower > 0.0);
}

#[test]
fn equal_variants_at_the_stated_sample_show_no_difference() {
    let r = judge(
        &cfg(&["a", "b"]),
        &[arm(4000, 2000, 40), arm(4000, 2010, 40)],
    );
    assert_eq!(r.outcome, Outcome::NoDifference, "{:?}", r.reasons);
    let short = judge(&cfg(&["a", "b"]), &[arm(1000, 500, 10), arm(1000, 505, 10)]);
    assert_eq!(short.outcome, Outcome::Running);
    assert_eq!(short.samples_missing, 3000);
}

#[test]
fn a_guardrail_stops_it_before_any_winner() {
    // b is far better on the primary metric, but errors on a quarter of its requests.
    let r = judge(
        &cfg(&["a", "b"]),
        &[arm(3000, 1500, 30), arm(3000, 2500, 750)],
    );
    assert_eq!(r.outcome, Outcome::StoppedByGuardrail, "{:?}", r.reasons);
    assert!(
        r.reasons.iter().any(|w| w.contains("\"b\"")),
        "{:?}",
        r.reasons
    );
}

#[test]
fn with_three_variants_the_winner_must_beat_both_others() {
    let c = cfg(&["a", "b", "c"]);
    let r = judge(
        &c,
        &[
            arm(3000, 1500, 30),
            arm(3000, 1800, 30),
            arm(3000, 1790, 30),
        ],
    );
    assert_eq!(r.outcome, Outcome::Running, "b and c cannot be told apart");
    assert_eq!(r.comparisons.len(), 3);
    let r = judge(
        &c,
        &[
            arm(3000, 1500, 30),
            arm(3000, 2100, 30),
            arm(3000, 1790, 30),
        ],
    );
    assert_eq!(r.winner.as_deref(), Some("b"), "{:?}", r.reasons);
}
