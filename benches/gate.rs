//! One canary-gate evaluation (`gate::evaluate`) over 10 metrics: the six built-in ones and four
//! counters an application declares, with two circuit breakers, on a day of history (288 periods of
//! five minutes, both arms reporting every metric in each). The gate runs on every `advance_canary`
//! and `canary_status`; issue 4 asks that such an evaluation stay under 100 µs. A second case drops
//! the four counters from the config and the reports, to show what the built-in metrics cost alone.
//!
//! The history is built from a seeded generator before timing; the timed loop holds one evaluation
//! and nothing else. Before timing, the bench checks that the evaluation judged all 10 metrics and
//! both breakers, so it measures the whole gate and not an early exit.
//!
//! Run with `cargo bench --bench gate -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Binomial, Distribution};

use flagwarden::domain::evidence::{LatencyHistogram, ScoreSummary};
use flagwarden::domain::gate::{
    self, ArmCounts, ArmData, Breaker, CustomCount, GateConfig, GateInput, Label, Metric,
    PeriodData,
};

/// A day of five-minute periods.
const PERIODS: usize = 288;
const CUSTOM: [&str; 4] = ["refunds", "retries", "timeouts", "escalations"];

fn config() -> GateConfig {
    let mut cfg = GateConfig::default();
    for name in CUSTOM {
        cfg.metrics
            .push(gate::default_metric(Metric::Custom(name.into()), 200));
    }
    cfg.breakers = vec![
        Breaker {
            metric: Metric::ErrorRate,
            above: Some(0.2),
            below: None,
            min_samples: 100,
        },
        Breaker {
            metric: Metric::SafetyPassRate,
            above: None,
            below: Some(0.95),
            min_samples: 50,
        },
    ];
    cfg
}

/// One arm's five minutes at about 300 requests, with tasks, safety checks, eval scores, latencies
/// and the four counters.
fn arm(rng: &mut StdRng) -> ArmData {
    let mut b = |n: u64, p: f64| Binomial::new(n, p).expect("a probability").sample(rng);
    let requests = b(600, 0.5);
    let (tasks, safety) = (requests / 5, requests / 10);
    let counts = ArmCounts {
        exposures: requests / 3,
        requests,
        errors: b(requests, 0.02),
        task_attempts: tasks,
        task_successes: b(tasks, 0.9),
        safety_checks: safety,
        safety_passes: b(safety, 0.998),
        ..ArmCounts::default()
    };
    let custom = CUSTOM
        .iter()
        .zip([0.01, 0.05, 0.003, 0.02])
        .map(|(name, p)| {
            let events = b(tasks, p);
            (
                (*name).to_owned(),
                CustomCount {
                    events,
                    trials: tasks,
                },
            )
        })
        .collect();
    let mut latency_ms = LatencyHistogram::default();
    let scores: Vec<f64> = (0..tasks / 4).map(|_| rng.random::<f64>().sqrt()).collect();
    for _ in 0..requests {
        // Roughly log-uniform between 10 ms and 1 s.
        let bucket = 3 + (rng.random::<f64>() * 7.0) as usize;
        latency_ms.counts[bucket] += 1;
    }
    ArmData {
        counts,
        latency_ms,
        scores: ScoreSummary::of(&scores).expect("scores in [0, 1]"),
        custom,
    }
}

fn input() -> GateInput {
    let mut rng = StdRng::seed_from_u64(42);
    let start = Timestamp::from_second(1_800_000_000).expect("a valid time");
    let periods: Vec<PeriodData> = (0..PERIODS)
        .map(|_| PeriodData {
            canary: arm(&mut rng),
            control: arm(&mut rng),
        })
        .collect();
    let now = start + SignedDuration::from_mins(5 * PERIODS as i64);
    GateInput {
        periods,
        first_report_at: Some(start),
        last_report_at: Some(now),
        step_started_at: start,
        min_dwell: SignedDuration::from_hours(1),
        latency_threshold_ms: None,
        now,
        guardrails: Vec::new(),
        gaps: Vec::new(),
    }
}

fn bench(c: &mut Criterion) {
    let (cfg, input) = (config(), input());
    let check = gate::evaluate(&cfg, &input);
    assert_eq!(check.metrics.len(), 10);
    assert_eq!(check.breakers.len(), 2);
    assert!(
        check.metrics.iter().all(|m| m.label != Label::Insufficient),
        "every metric is judged: {:#?}",
        check.metrics
    );
    c.bench_function("gate/evaluate/10_metrics_288_periods", |b| {
        b.iter(|| gate::evaluate(black_box(&cfg), black_box(&input)))
    });

    // The same without the four counters, in the config and in the reports: what the built-in
    // metrics cost alone.
    let mut built_in = cfg.clone();
    built_in.metrics.truncate(Metric::BUILT_IN.len());
    let mut plain = input.clone();
    for p in &mut plain.periods {
        p.canary.custom.clear();
        p.control.custom.clear();
    }
    assert_eq!(gate::evaluate(&built_in, &plain).metrics.len(), 6);
    c.bench_function("gate/evaluate/6_built_in_metrics_288_periods", |b| {
        b.iter(|| gate::evaluate(black_box(&built_in), black_box(&plain)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
