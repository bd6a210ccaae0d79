//! Simulations of experiments and shadow runs through the domain's public API
//! (`experiment::judge`, `gate::shadow_metric`), with fixed seeds (issue 18): many simulated
//! experiments, a look after every batch as an agent polling would take, and the share that ever
//! reach an outcome, held against what the configuration promises.
//!
//! As in `gate_simulation.rs`, "within α" is checked as `rate ≤ α + 3·sqrt(α(1 − α)/R)` over R runs.
//! Each simulation prints what it measured: `cargo test --test experiment_simulation -- --nocapture`.

use jiff::{SignedDuration, Timestamp};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Binomial, Distribution};

use flagwarden::domain::experiment::{ExperimentConfig, Outcome, judge};
use flagwarden::domain::gate::{
    self, ArmCounts, ArmData, Breaker, GateConfig, GateInput, Label, Metric, PeriodData,
    ShadowConfig, Verdict, default_metric,
};

const LOOKS: usize = 100;
const RUNS: usize = 400;
const ALPHA: f64 = 0.05;

fn mc_bound(alpha: f64, runs: usize) -> f64 {
    alpha + 3.0 * (alpha * (1.0 - alpha) / runs as f64).sqrt()
}

fn binomial(rng: &mut StdRng, n: u64, p: f64) -> u64 {
    Binomial::new(n, p).expect("a probability").sample(rng)
}

fn config(variants: usize, weights: Vec<u16>, sample: u64) -> ExperimentConfig {
    ExperimentConfig {
        variants: (0..variants).map(|i| format!("v{i}")).collect(),
        weights,
        primary: default_metric(Metric::TaskSuccessRate, 100),
        guardrails: vec![default_metric(Metric::ErrorRate, 200)],
        breakers: vec![Breaker {
            metric: Metric::ErrorRate,
            above: Some(0.2),
            below: None,
            min_samples: 100,
        }],
        alpha: ALPHA,
        alpha_guardrail: ALPHA,
        tuning_n: 5000.0,
        sample,
    }
}

/// One variant's batch: `n` units, each one task that succeeds with `success` and one request that
/// errs with `error`.
fn batch(rng: &mut StdRng, n: u64, success: f64, error: f64) -> ArmData {
    ArmData {
        counts: ArmCounts {
            exposures: n,
            requests: n,
            errors: binomial(rng, n, error),
            task_attempts: n,
            task_successes: binomial(rng, n, success),
            ..ArmCounts::default()
        },
        ..ArmData::default()
    }
}

/// Runs `runs` experiments of up to `LOOKS` batches, each variant `i` getting `per_look[i]` units
/// with success rate `success[i]` and error rate `error[i]`; returns each run's first decided
/// outcome, the winner named, and the look it came at.
fn simulate(
    seed: u64,
    runs: usize,
    cfg: &ExperimentConfig,
    per_look: &[u64],
    success: &[f64],
    error: &[f64],
) -> Vec<Option<(Outcome, Option<String>, usize)>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..runs)
        .map(|_| {
            let mut arms = vec![ArmData::default(); per_look.len()];
            for look in 1..=LOOKS {
                for (i, a) in arms.iter_mut().enumerate() {
                    a.add(&batch(&mut rng, per_look[i], success[i], error[i]));
                }
                let r = judge(cfg, &arms);
                if r.outcome != Outcome::Running {
                    return Some((r.outcome, r.winner, look));
                }
            }
            None
        })
        .collect()
}

fn share(runs: &[Option<(Outcome, Option<String>, usize)>], outcome: Outcome) -> f64 {
    runs.iter()
        .filter(|r| r.as_ref().is_some_and(|(o, _, _)| *o == outcome))
        .count() as f64
        / runs.len() as f64
}

#[test]
fn with_no_true_difference_a_winner_is_declared_within_alpha_over_100_looks() {
    // The stated sample is out of reach, so every run looks 100 times unless it names a winner.
    let two = config(2, vec![50, 50], u64::MAX);
    let runs = simulate(11, RUNS, &two, &[150, 150], &[0.3, 0.3], &[0.01, 0.01]);
    let rate = share(&runs, Outcome::Winner);
    eprintln!("false winners, two variants, 100 looks: {rate}");
    assert!(rate <= mc_bound(ALPHA, RUNS), "false winner rate {rate}");

    let three = config(3, vec![34, 33, 33], u64::MAX);
    let runs = simulate(
        12,
        RUNS,
        &three,
        &[102, 99, 99],
        &[0.6, 0.6, 0.6],
        &[0.01; 3],
    );
    let rate = share(&runs, Outcome::Winner);
    eprintln!("false winners, three variants, 100 looks: {rate}");
    assert!(rate <= mc_bound(ALPHA, RUNS), "false winner rate {rate}");
    let stops = share(&runs, Outcome::StoppedByGuardrail);
    assert!(
        stops <= mc_bound(ALPHA, RUNS),
        "false guardrail stops {stops}"
    );
}

#[test]
fn with_no_true_difference_it_ends_as_no_detectable_difference_at_the_stated_sample() {
    let cfg = config(2, vec![50, 50], 6000);
    let runs = simulate(13, 200, &cfg, &[200, 200], &[0.3, 0.3], &[0.01, 0.01]);
    let none = share(&runs, Outcome::NoDifference);
    eprintln!("no detectable difference at 6000 per variant: {none}");
    assert!(none >= 0.9, "{none}");
    for (o, _, look) in runs.iter().flatten() {
        if *o == Outcome::NoDifference {
            assert_eq!(
                *look, 30,
                "decided exactly when the stated sample was reached"
            );
        }
    }
}

#[test]
fn a_real_difference_at_realistic_traffic_is_found_within_the_expected_sample() {
    // 30 % against 35 % task success, 200 units per variant per look (an hour of a modest
    // service). A fixed-horizon two-sided test at α = 0.05 and power 0.8 needs about 1,380 per
    // variant; an anytime-valid sequence costs about three times that: the winner must be found by
    // 4,200 per variant (21 looks) in at least 80 % of runs, and within 100 looks in nearly all.
    let cfg = config(2, vec![50, 50], u64::MAX);
    let runs = simulate(14, 200, &cfg, &[200, 200], &[0.30, 0.35], &[0.01, 0.01]);
    let found: Vec<usize> = runs
        .iter()
        .flatten()
        .filter(|(o, w, _)| *o == Outcome::Winner && w.as_deref() == Some("v1"))
        .map(|(_, _, look)| *look)
        .collect();
    let wrong = runs
        .iter()
        .flatten()
        .filter(|(_, w, _)| w.as_deref() == Some("v0"))
        .count();
    let by_expected = found.iter().filter(|l| **l <= 21).count() as f64 / runs.len() as f64;
    let mut sorted = found.clone();
    sorted.sort();
    eprintln!(
        "winner found: {} of {} runs, {by_expected} by 4,200 per variant, median look {:?}",
        found.len(),
        runs.len(),
        sorted.get(sorted.len() / 2)
    );
    assert_eq!(wrong, 0, "the worse variant is never named");
    assert!(by_expected >= 0.8, "{by_expected}");
    assert!(found.len() as f64 >= 0.98 * runs.len() as f64);
}

#[test]
fn a_guardrail_breach_stops_it_before_a_winner() {
    // v1 is better on the primary metric but triples the error rate.
    let cfg = config(2, vec![50, 50], u64::MAX);
    let runs = simulate(15, 200, &cfg, &[200, 200], &[0.30, 0.40], &[0.01, 0.03]);
    let stopped = share(&runs, Outcome::StoppedByGuardrail);
    let won = share(&runs, Outcome::Winner);
    eprintln!("guardrail stops: {stopped}, winners first: {won}");
    assert!(stopped >= 0.9, "{stopped}");
    // And a breaker: a variant erring on a quarter of its requests stops it within a few looks.
    let runs = simulate(16, 100, &cfg, &[200, 200], &[0.30, 0.30], &[0.01, 0.25]);
    assert!(
        runs.iter()
            .all(|r| matches!(r, Some((Outcome::StoppedByGuardrail, None, l)) if *l <= 3)),
        "{runs:?}"
    );
}

// ---- shadow runs ------------------------------------------------------------------------------

fn shadow_input(periods: Vec<PeriodData>) -> GateInput {
    let at = Timestamp::from_second(1_800_000_000).unwrap();
    GateInput {
        periods,
        first_report_at: Some(at),
        last_report_at: Some(at),
        step_started_at: at,
        min_dwell: SignedDuration::ZERO,
        latency_threshold_ms: None,
        now: at,
        guardrails: Vec::new(),
        gaps: Vec::new(),
    }
}

/// Shadow comparisons at a true divergence share `p`: how often each label is ever reached.
fn shadow_runs(seed: u64, p: f64, per_look: u64) -> (f64, f64) {
    let cfg = ShadowConfig {
        margin: 0.02,
        min_samples: 200,
        alpha: ALPHA,
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut harm, mut pass) = (0, 0);
    for _ in 0..RUNS {
        let mut periods = Vec::new();
        let (mut h, mut ok) = (false, false);
        for _ in 0..LOOKS {
            let d = binomial(&mut rng, per_look, p);
            let mut canary = ArmData::default();
            canary.counts.shadow_divergences = d;
            canary.counts.shadow_agreements = per_look - d;
            periods.push(PeriodData {
                canary,
                control: ArmData::default(),
            });
            let m = gate::shadow_metric(&cfg, &shadow_input(periods.clone()), 5000.0);
            h |= m.label == Label::Harm;
            ok |= m.label == Label::Noninferior;
            if h {
                break;
            }
        }
        harm += h as usize;
        pass += ok as usize;
    }
    (harm as f64 / RUNS as f64, pass as f64 / RUNS as f64)
}

#[test]
fn a_shadow_run_stops_on_divergence_beyond_its_margin_and_rarely_otherwise() {
    // Exactly at the margin: stopping is a false alarm, bounded by α over 100 looks.
    let (harm, _) = shadow_runs(21, 0.02, 100);
    eprintln!("shadow stops at the margin: {harm}");
    assert!(harm <= mc_bound(ALPHA, RUNS), "{harm}");
    // Well within it: it passes, never stops.
    let (harm, pass) = shadow_runs(22, 0.005, 100);
    eprintln!("shadow at 0.5 %: stops {harm}, passes {pass}");
    assert!(harm == 0.0 && pass >= 0.95, "{harm} {pass}");
    // Far beyond it: it stops.
    let (harm, pass) = shadow_runs(23, 0.08, 100);
    eprintln!("shadow at 8 %: stops {harm}, passes {pass}");
    assert!(harm >= 0.99 && pass == 0.0, "{harm} {pass}");
}

#[test]
fn the_shadow_gate_rolls_back_on_divergence_and_promotes_within_the_margin() {
    let cfg = GateConfig::default();
    let shadow = ShadowConfig::default();
    let arm = |agree: u64, diverge: u64, requests: u64| ArmData {
        counts: ArmCounts {
            exposures: requests,
            requests,
            shadow_agreements: agree,
            shadow_divergences: diverge,
            ..ArmCounts::default()
        },
        ..ArmData::default()
    };
    let within = vec![PeriodData {
        canary: arm(2990, 10, 3000),
        control: arm(0, 0, 3000),
    }];
    let g = gate::evaluate_shadow(&cfg, &shadow, &shadow_input(within));
    assert_eq!(g.verdict, Verdict::Promote, "{:?}", g.reasons);
    assert_eq!(g.metrics[0].metric, "shadow_agreement");
    let beyond = vec![PeriodData {
        canary: arm(2700, 300, 3000),
        control: arm(0, 0, 3000),
    }];
    let g = gate::evaluate_shadow(&cfg, &shadow, &shadow_input(beyond));
    assert_eq!(g.verdict, Verdict::Rollback, "{:?}", g.reasons);
    assert!(
        g.reasons[0].contains("no user was shown it"),
        "{:?}",
        g.reasons
    );
    let few = vec![PeriodData {
        canary: arm(50, 0, 50),
        control: arm(0, 0, 50),
    }];
    let g = gate::evaluate_shadow(&cfg, &shadow, &shadow_input(few));
    assert_eq!(g.verdict, Verdict::Hold, "too few comparisons never pass");
}
