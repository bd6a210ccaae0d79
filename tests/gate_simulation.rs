//! Simulations of the canary gate through its public API (`gate::evaluate`, `gate::preflight`), with
//! fixed seeds (issue 4, notes/canary-gate.md §12.3): many simulated rollouts, a look after every
//! batch as an agent polling the gate would take, and the share of rollouts that ever reach a
//! verdict, held against what the configuration promises.
//!
//! A rate measured over R rollouts has a Monte-Carlo standard error of sqrt(a(1 − a)/R) around its
//! true value a, so "within α" is checked as `rate ≤ α + 3·sqrt(α(1 − α)/R)`: a gate whose true rate
//! is α fails that for about one seed in 700, one whose rate is well above α for almost every seed.
//! Each simulation prints what it measured: `cargo test --test gate_simulation -- --nocapture`.
//!
//! The gate sums every period at every look, so a debug build spends 20–30 ms on a rollout of
//! 100 looks; the repetitions are sized so the file runs in under 20 s on two cores.

use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Binomial, Distribution};

use flagwarden::domain::evidence::{LATENCY_BOUNDS_MS, LatencyHistogram, ScoreSummary};
use flagwarden::domain::gate::{
    self, ArmCounts, ArmData, CustomCount, EvalPair, GateConfig, GateInput, GateResult, Label,
    Metric, MetricConfig, PauseReason, PeriodData, Verdict,
};

/// Looks per simulated rollout: one after each batch.
const LOOKS: usize = 100;
/// Rollouts per simulation whose rate is held against an α: the 3-sigma bound is then 1.65 α at
/// α = 0.05.
const RUNS: usize = 400;
/// Rollouts for the false PROMOTE rate, the costliest (six metrics, and all 100 looks in nearly
/// every rollout): 300 keep the file under 20 s, and the bound at 1.75 α.
const PROMOTE_RUNS: usize = 300;
/// Rollouts for power and detection: those rates are far from their bounds, and a rollout stops
/// once it has been caught.
const POWER_RUNS: usize = 200;

// ---- a simulated rollout ----------------------------------------------------------------------

/// One rollout as the gate sees it: the batches so far, and a clock that moves one period per
/// batch. Every look comes right after a batch, so the evidence is fresh; dwell is zero, and 100
/// looks of five minutes stay far inside the step limit, so only the statistics decide.
struct Rollout<'a> {
    cfg: &'a GateConfig,
    input: GateInput,
}

impl<'a> Rollout<'a> {
    fn new(cfg: &'a GateConfig, latency_threshold_ms: Option<u32>) -> Rollout<'a> {
        let start = Timestamp::from_second(1_800_000_000).expect("a valid time");
        Rollout {
            cfg,
            input: GateInput {
                periods: Vec::with_capacity(LOOKS),
                first_report_at: None,
                last_report_at: None,
                step_started_at: start,
                min_dwell: SignedDuration::ZERO,
                latency_threshold_ms,
                now: start,
                guardrails: Vec::new(),
                gaps: Vec::new(),
            },
        }
    }

    /// Both arms report one batch, and the gate is asked.
    fn look(&mut self, batch: PeriodData) -> GateResult {
        let input = &mut self.input;
        input.now += gate::PERIOD;
        input.first_report_at.get_or_insert(input.now);
        input.last_report_at = Some(input.now);
        input.periods.push(batch);
        gate::evaluate(self.cfg, input)
    }
}

type Batches<'b> = &'b mut dyn FnMut(&mut StdRng) -> PeriodData;

/// Runs `runs` rollouts of up to `LOOKS` batches and returns, per rollout and per predicate in
/// `watch`, the first look (from 1) whose result satisfied it. A rollout ends once every predicate
/// has been seen.
fn simulate(
    seed: u64,
    runs: usize,
    cfg: &GateConfig,
    batch: Batches<'_>,
    watch: &[fn(&GateResult) -> bool],
) -> Vec<Vec<Option<usize>>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..runs)
        .map(|_| {
            let mut rollout = Rollout::new(cfg, None);
            let mut first = vec![None; watch.len()];
            for look in 1..=LOOKS {
                let result = rollout.look(batch(&mut rng));
                for (f, hit) in first.iter_mut().zip(watch) {
                    if f.is_none() && hit(&result) {
                        *f = Some(look);
                    }
                }
                if first.iter().all(Option::is_some) {
                    break;
                }
            }
            first
        })
        .collect()
}

/// The share of rollouts where predicate `i` was ever seen.
fn share(hits: &[Vec<Option<usize>>], i: usize) -> f64 {
    hits.iter().filter(|h| h[i].is_some()).count() as f64 / hits.len() as f64
}

/// The most a rate whose true value is `alpha` shows over `runs` rollouts, short of a 3-sigma fluke.
fn mc_bound(alpha: f64, runs: usize) -> f64 {
    alpha + 3.0 * (alpha * (1.0 - alpha) / runs as f64).sqrt()
}

/// The result after `looks` batches of one rollout, to see which test the gate chose.
fn after(cfg: &GateConfig, looks: usize, batch: Batches<'_>) -> GateResult {
    let mut rng = StdRng::seed_from_u64(0);
    let mut rollout = Rollout::new(cfg, None);
    for _ in 1..looks {
        rollout.look(batch(&mut rng));
    }
    rollout.look(batch(&mut rng))
}

fn rollback(r: &GateResult) -> bool {
    r.verdict == Verdict::Rollback
}

fn promote(r: &GateResult) -> bool {
    r.verdict == Verdict::Promote
}

/// A sample-ratio mismatch, answered as the default `SrmAction::Pause` says: hold, and pause.
fn srm_pause(r: &GateResult) -> bool {
    r.srm.mismatch
        && r.verdict == Verdict::Hold
        && r.pause == Some(PauseReason::SampleRatioMismatch)
}

// ---- batches ----------------------------------------------------------------------------------

fn binomial(rng: &mut StdRng, n: u64, p: f64) -> u64 {
    Binomial::new(n, p).expect("a probability").sample(rng)
}

/// `units` exposed units making `requests` requests, of which `errors` failed.
fn traffic(units: u64, requests: u64, errors: u64) -> ArmData {
    ArmData {
        counts: ArmCounts {
            exposures: units,
            requests,
            errors,
            ..ArmCounts::default()
        },
        ..ArmData::default()
    }
}

/// `per_arm` requests in each arm (one unit each, so exposures are equal), failing with the given
/// probabilities.
fn error_batch(rng: &mut StdRng, per_arm: u64, p_canary: f64, p_control: f64) -> PeriodData {
    PeriodData {
        canary: traffic(per_arm, per_arm, binomial(rng, per_arm, p_canary)),
        control: traffic(per_arm, per_arm, binomial(rng, per_arm, p_control)),
    }
}

/// `units` units assigned by a fair or unfair coin (`canary_share`), each making two requests that
/// fail with probability `p` in both arms: the rates are equal, only the split may be wrong.
fn split_batch(rng: &mut StdRng, units: u64, canary_share: f64, p: f64) -> PeriodData {
    let canary = binomial(rng, units, canary_share);
    let mut arm = |units: u64| traffic(units, 2 * units, binomial(rng, 2 * units, p));
    PeriodData {
        canary: arm(canary),
        control: arm(units - canary),
    }
}

/// Latency per bucket of `LATENCY_BOUNDS_MS` and +Inf: exactly 5 % of requests are slower than
/// 250 ms.
const LATENCY: [f64; LATENCY_BOUNDS_MS.len() + 1] = [
    0.0, 0.0, 0.0, 0.01, 0.09, 0.25, 0.30, 0.30, 0.04, 0.008, 0.002, 0.0, 0.0, 0.0,
];

/// `n` latencies drawn from `probs`, one bucket at a time (a multinomial as successive binomials).
fn latencies(rng: &mut StdRng, n: u64, probs: &[f64]) -> LatencyHistogram {
    let mut h = LatencyHistogram::default();
    let (mut left, mut mass) = (n, 1.0);
    for (count, p) in h.counts.iter_mut().zip(probs) {
        let q = if mass - p <= 1e-12 { 1.0 } else { p / mass };
        *count = binomial(rng, left, q.clamp(0.0, 1.0));
        left -= *count;
        mass -= p;
    }
    h
}

// ---- configurations ---------------------------------------------------------------------------

/// The error rate alone, so the whole of each α is spent on it and the bound checked is the
/// tightest the configuration allows (with more metrics each gets a share of α).
fn error_rate_only() -> GateConfig {
    GateConfig {
        metrics: vec![gate::default_metric(Metric::ErrorRate, 200)],
        ..GateConfig::default()
    }
}

// ---- no true difference: false rollback (and a fair split: false mismatch) --------------------

/// `units` units assigned by a fair coin; in both arms each unit makes a request that fails with
/// probability 2 %, and passes two safety checks, each failing with probability 0.3 %.
fn no_difference_batch(rng: &mut StdRng, units: u64) -> PeriodData {
    let canary = binomial(rng, units, 0.5);
    let mut arm = |units: u64| {
        let mut a = traffic(units, units, binomial(rng, units, 0.02));
        a.counts.safety_checks = 2 * units;
        a.counts.safety_passes = 2 * units - binomial(rng, 2 * units, 0.003);
        a
    };
    PeriodData {
        canary: arm(canary),
        control: arm(units - canary),
    }
}

fn error_rate_harm(r: &GateResult) -> bool {
    r.metrics[0].label == Label::Harm
}

fn safety_harm(r: &GateResult) -> bool {
    r.metrics[1].label == Label::Harm
}

/// Equal rates in both arms and a look after each of 100 batches: the share of rollouts ever told
/// ROLLBACK stays within `alpha_rollback`. Two metrics, each tested at α = 0.05 (`alpha_rollback` =
/// 0.1 split over two), exercise both tests: the error rate, 2 % over about 500 requests per arm per
/// batch, by the confidence sequence; safety failures, 0.3 % over about 1000 checks, by the exact
/// event-share e-value (the control's rate is under 1 %). Each metric's share of rollouts ever
/// labelled HARM stays within its 0.05, and the verdict's within 0.1. Units are split by a fair coin
/// in every batch, so the same rollouts check that a true 50/50 split is rarely taken for a
/// sample-ratio mismatch (at most `srm_threshold`).
#[test]
fn equal_rates_rarely_roll_back_however_often_the_gate_is_asked() {
    let cfg = GateConfig {
        alpha_rollback: 0.1,
        metrics: vec![
            gate::default_metric(Metric::ErrorRate, 200),
            gate::default_metric(Metric::SafetyPassRate, 200),
        ],
        ..GateConfig::default()
    };
    let per_metric = cfg.alpha_rollback / cfg.metrics.len() as f64;
    let mut batch = |rng: &mut StdRng| no_difference_batch(rng, 1_000);
    let methods: Vec<String> = after(&cfg, 10, &mut batch)
        .metrics
        .into_iter()
        .map(|m| m.method)
        .collect();
    assert_eq!(methods, ["confidence_sequence", "event_share"]);
    let hits = simulate(
        11,
        RUNS,
        &cfg,
        &mut batch,
        &[rollback, error_rate_harm, safety_harm, srm_pause],
    );
    let [verdict, errors, safety, srm] = [0, 1, 2, 3].map(|i| share(&hits, i));
    let (verdict_bound, metric_bound, srm_bound) = (
        mc_bound(cfg.alpha_rollback, RUNS),
        mc_bound(per_metric, RUNS),
        mc_bound(cfg.srm_threshold, RUNS),
    );
    eprintln!(
        "no difference, {LOOKS} looks, {RUNS} rollouts: ever HARM on the error rate at 2 % (confidence sequence) {errors:.4}, \
         on safety failures at 0.3 % (event share) {safety:.4} (alpha {per_metric} each, bound {metric_bound:.4}); \
         ever ROLLBACK {verdict:.4} (alpha {}, bound {verdict_bound:.4}); \
         ever a sample-ratio mismatch {srm:.4} (threshold {}, bound {srm_bound:.4})",
        cfg.alpha_rollback, cfg.srm_threshold
    );
    assert!(
        errors <= metric_bound,
        "error rate: {errors} > {metric_bound}"
    );
    assert!(safety <= metric_bound, "safety: {safety} > {metric_bound}");
    assert!(verdict <= verdict_bound, "{verdict} > {verdict_bound}");
    assert!(srm <= srm_bound, "{srm} > {srm_bound}");
}

// ---- at the margin: false promote -------------------------------------------------------------

/// A false PROMOTE is promoting a canary worse than the non-inferiority margin, so its rate is
/// largest, and bounded by `alpha_promote`, for a canary worse by exactly the margin: 3 % errors
/// against 2 % with the default error-rate margin of 0.01. The config is the default: six metrics,
/// the error rate the only required one; the others see no data and stay INSUFFICIENT.
///
/// At that boundary the canary is truly worse, so the harm test rightly rolls most rollouts back,
/// and at a look that declares harm the verdict is ROLLBACK whatever the non-inferiority bound says.
/// No α makes the harm test step aside (at a true difference of 0.01 it wins at any level once the
/// samples are large), so the rate counted is of looks that PROMOTE or whose upper bound falls below
/// the margin: the looks that would promote but for the harm found. It bounds the false PROMOTE
/// rate of the same gate from above.
#[test]
fn a_canary_worse_by_exactly_the_margin_rarely_promotes() {
    let cfg = GateConfig::default();
    let margin = cfg.metrics[0].margin;
    assert!(cfg.metrics[0].metric == Metric::ErrorRate && cfg.metrics[0].required);
    assert_eq!(cfg.metrics.iter().filter(|m| m.required).count(), 1);
    let mut batch = |rng: &mut StdRng| error_batch(rng, 500, 0.02 + margin, 0.02);
    let last = after(&cfg, 10, &mut batch);
    assert!(
        last.metrics[1..]
            .iter()
            .all(|m| m.label == Label::Insufficient)
    );
    let would_promote =
        |r: &GateResult| promote(r) || r.metrics[0].upper.is_some_and(|u| u < r.metrics[0].margin);
    let hits = simulate(
        21,
        PROMOTE_RUNS,
        &cfg,
        &mut batch,
        &[would_promote, promote, rollback],
    );
    let (false_promote, promoted, rolled_back) =
        (share(&hits, 0), share(&hits, 1), share(&hits, 2));
    let bound = mc_bound(cfg.alpha_promote, PROMOTE_RUNS);
    eprintln!(
        "canary worse by the margin ({} against 0.02, 500 requests per arm per batch, {LOOKS} looks, {PROMOTE_RUNS} rollouts): \
         PROMOTE or upper bound under the margin {false_promote:.4} (alpha {}, bound {bound:.4}); PROMOTE {promoted:.4}; \
         ROLLBACK (rightly: the canary is worse) {rolled_back:.4}",
        0.02 + margin,
        cfg.alpha_promote
    );
    assert!(false_promote <= bound, "{false_promote} > {bound}");
}

// ---- power: half again the error rate ---------------------------------------------------------

/// Φ⁻¹(0.95) and Φ⁻¹(0.80).
const Z_ALPHA: f64 = 1.644_853_626_951_472;
const Z_BETA: f64 = 0.841_621_233_572_914;

/// Samples per arm a fixed-horizon one-sided two-proportion z-test needs to tell `p1` from `p0` at
/// α = 0.05 with power 0.8: n = (z_α·√(2·p̄(1 − p̄)) + z_β·√(p0(1 − p0) + p1(1 − p1)))² / (p1 − p0)².
fn fixed_horizon_n(p0: f64, p1: f64) -> f64 {
    let mean = (p0 + p1) / 2.0;
    let z = Z_ALPHA * (2.0 * mean * (1.0 - mean)).sqrt()
        + Z_BETA * (p0 * (1.0 - p0) + p1 * (1.0 - p1)).sqrt();
    (z / (p1 - p0)).powi(2)
}

/// A canary failing 1.5 times as often as the control, at 500 and 1000 requests per arm per batch,
/// is rolled back within 100 looks in at least 90 % of rollouts, after at most about three times
/// the samples a fixed-horizon test would plan for: the price of looking at every batch. The
/// fixed-horizon n is for one look at α = 0.05, the α the gate spends on the error rate when it is
/// the only metric; the default config splits α over six metrics, which costs more samples still.
#[test]
fn half_again_the_error_rate_is_rolled_back_within_the_expected_samples() {
    assert!(
        (fixed_horizon_n(0.01, 0.015) - 6_104.0).abs() < 5.0,
        "the formula"
    );
    let (alone, default) = (error_rate_only(), GateConfig::default());
    for (seed, control, per_arm, cfg, name) in [
        (31, 0.02, 500, &alone, "error rate alone"),
        (32, 0.01, 1000, &alone, "error rate alone"),
        (33, 0.02, 500, &default, "default config"),
        (34, 0.01, 1000, &default, "default config"),
    ] {
        let canary = 1.5 * control;
        let mut batch = |rng: &mut StdRng| error_batch(rng, per_arm, canary, control);
        let hits = simulate(seed, POWER_RUNS, cfg, &mut batch, &[rollback]);
        let power = share(&hits, 0);
        let mut n: Vec<u64> = hits
            .iter()
            .filter_map(|h| h[0])
            .map(|look| look as u64 * per_arm)
            .collect();
        n.sort_unstable();
        let mean = n.iter().sum::<u64>() as f64 / n.len() as f64;
        let fixed = fixed_horizon_n(control, canary);
        eprintln!(
            "{canary} against {control}, {name} ({per_arm} requests per arm per batch, {POWER_RUNS} rollouts): ROLLBACK within {LOOKS} looks in {power:.4}; \
             samples per arm at detection mean {mean:.0}, median {}, 90th percentile {}; fixed-horizon n {fixed:.0}; mean/fixed {:.2}",
            n[n.len() / 2],
            n[n.len() * 9 / 10],
            mean / fixed
        );
        assert!(power >= 0.9, "power {power}");
        assert!(
            mean <= 3.0 * fixed,
            "mean detection n {mean} against 3 × {fixed}"
        );
    }
}

// ---- sample-ratio mismatch --------------------------------------------------------------------

/// Units assigned 45/55 instead of 50/50 (200 units a batch, drawn one coin per unit) are caught as a
/// sample-ratio mismatch, held and paused, within 50 looks in at least 95 % of rollouts. The error
/// rates are equal, so nothing but the split is wrong.
#[test]
fn a_45_55_split_is_caught_as_a_sample_ratio_mismatch() {
    let cfg = GateConfig::default();
    let within = 50;
    let mut batch = |rng: &mut StdRng| split_batch(rng, 200, 0.45, 0.02);
    let hits = simulate(41, POWER_RUNS, &cfg, &mut batch, &[srm_pause]);
    let mut looks: Vec<usize> = hits.iter().filter_map(|h| h[0]).collect();
    looks.sort_unstable();
    let caught = looks.iter().filter(|l| **l <= within).count() as f64 / POWER_RUNS as f64;
    eprintln!(
        "45/55 split (200 units per batch, {POWER_RUNS} rollouts): caught within {within} looks in {caught:.4}, ever in {:.4}; \
         look of detection median {} (about {} units), 95th percentile {}",
        share(&hits, 0),
        looks[looks.len() / 2],
        looks[looks.len() / 2] * 200,
        looks[looks.len() * 95 / 100]
    );
    assert!(caught >= 0.95, "caught within {within} looks: {caught}");
}

// ---- insufficient samples ---------------------------------------------------------------------

/// The metrics the property below draws from: the built-in ones and an application's counter.
fn metric_pool() -> Vec<Metric> {
    let mut pool = Metric::BUILT_IN.to_vec();
    pool.push(Metric::Custom("refunds".into()));
    pool
}

/// One arm's data with `n[i]` samples of `metric_pool()[i]`, the arms being alike in distribution:
/// 1 % errors, 95 % task success, 99.5 % safety passes, the latency above, eval scores with mean 2/3
/// (a quarter below 0.5), 1 % refunds. Eval score and its tail share the scores, so they share `n`.
fn arm_with(rng: &mut StdRng, n: &[u64]) -> ArmData {
    let scores: Vec<f64> = (0..n[4].max(n[5]))
        .map(|_| rng.random::<f64>().sqrt())
        .collect();
    ArmData {
        counts: ArmCounts {
            exposures: 1_000,
            requests: n[0],
            errors: binomial(rng, n[0], 0.01),
            task_attempts: n[1],
            task_successes: binomial(rng, n[1], 0.95),
            safety_checks: n[2],
            safety_passes: binomial(rng, n[2], 0.995),
            ..ArmCounts::default()
        },
        latency_ms: latencies(rng, n[3], &LATENCY),
        scores: ScoreSummary::of(&scores).expect("scores in [0, 1]"),
        custom: [(
            "refunds".to_owned(),
            CustomCount {
                events: binomial(rng, n[6], 0.01),
                trials: n[6],
            },
        )]
        .into(),
    }
}

/// A property over seeded random cases: a config of some of the metrics with random minimum
/// samples and generous margins, and data where one required metric has fewer samples than its
/// minimum in one arm while everything else has plenty. The gate never answers PROMOTE, and that
/// metric is INSUFFICIENT. The same case with the short arm topped up promotes most of the time, so
/// the property is not vacuous: only the missing samples stand in the way.
#[test]
fn a_required_metric_short_of_its_minimum_samples_never_promotes() {
    const CASES: usize = 300;
    let pool = metric_pool();
    let mut rng = StdRng::seed_from_u64(51);
    let mut promoted_when_topped_up = 0;
    for case in 0..CASES {
        let short = rng.random_range(0..pool.len());
        let mut metrics: Vec<MetricConfig> = Vec::new();
        for (i, m) in pool.iter().enumerate() {
            if i != short && rng.random_bool(0.4) {
                continue;
            }
            let mut c = gate::default_metric(m.clone(), rng.random_range(1..=400));
            c.required = i == short || rng.random_bool(0.5);
            c.margin = 0.25;
            c.floor = match m {
                Metric::SafetyPassRate => Some(0.9),
                _ => c.floor,
            };
            metrics.push(c);
        }
        let mins: Vec<u64> = pool
            .iter()
            .map(|m| {
                metrics
                    .iter()
                    .find(|c| c.metric == *m)
                    .map_or(0, |c| c.min_samples)
            })
            .collect();
        let min = |i: usize| mins[i];
        // Plenty: the minimum and at least 300 more; short: anything below the minimum.
        let plenty: Vec<u64> = (0..pool.len())
            .map(|i| min(i) + rng.random_range(300..1_000))
            .collect();
        let mut lacking = plenty.clone();
        lacking[short] = rng.random_range(0..min(short));
        if matches!(pool[short], Metric::EvalScore | Metric::EvalScoreTail) {
            (lacking[4], lacking[5]) = (lacking[short], lacking[short]);
        }
        let short_arm_is_canary = rng.random_bool(0.5);
        let periods = rng.random_range(1..=4);
        let per_period = |n: &[u64], k: usize| -> Vec<u64> {
            n.iter()
                .map(|x| x / periods + u64::from((k as u64) < x % periods))
                .collect()
        };
        let cfg = GateConfig {
            metrics,
            ..GateConfig::default()
        };
        let tau = rng.random_bool(0.5).then_some(250);
        let mut with = |short_arm: &[u64]| {
            let mut rollout = Rollout::new(&cfg, tau);
            let mut last = None;
            for k in 0..periods as usize {
                let mut p = PeriodData {
                    canary: arm_with(&mut rng, &per_period(&plenty, k)),
                    control: arm_with(&mut rng, &per_period(&plenty, k)),
                };
                let thin = arm_with(&mut rng, &per_period(short_arm, k));
                *(if short_arm_is_canary {
                    &mut p.canary
                } else {
                    &mut p.control
                }) = thin;
                last = Some(rollout.look(p));
            }
            last.expect("at least one period")
        };
        let r = with(&lacking);
        let name = pool[short].name();
        assert_ne!(
            r.verdict,
            Verdict::Promote,
            "case {case}: {name} has {} of {} samples in one arm: {:#?}",
            lacking[short],
            min(short),
            r.metrics
        );
        let m = r.metrics.iter().find(|m| m.metric == name).expect("tested");
        assert_eq!(m.label, Label::Insufficient, "case {case}: {m:#?}");
        promoted_when_topped_up += usize::from(with(&plenty).verdict == Verdict::Promote);
    }
    let topped = promoted_when_topped_up as f64 / CASES as f64;
    eprintln!(
        "{CASES} cases with a required metric short of its minimum: none promoted; topped up, {topped:.3} promoted"
    );
    assert!(topped >= 0.5, "topped up, only {topped} promoted");
}

/// No reports at all: every metric is INSUFFICIENT and the gate holds, however long it has waited.
#[test]
fn missing_evidence_holds() {
    let cfg = GateConfig::default();
    let mut rollout = Rollout::new(&cfg, None);
    rollout.input.now += SignedDuration::from_hours(1);
    let r = gate::evaluate(&cfg, &rollout.input);
    assert_eq!(r.verdict, Verdict::Hold, "{:#?}", r.reasons);
    assert!(r.metrics.iter().all(|m| m.label == Label::Insufficient));
    assert!(
        r.reasons.iter().any(|x| x.contains("no signals")),
        "{:#?}",
        r.reasons
    );
    // Only the canary reporting is no evidence either.
    let r = rollout.look(PeriodData {
        canary: traffic(5_000, 5_000, 10),
        control: ArmData::default(),
    });
    assert_eq!(r.verdict, Verdict::Hold, "{:#?}", r.reasons);
}

/// Regression test: eval scores that happen to be all alike (ten perfect scores in each arm) have a
/// sample variance of zero, and the confidence sequence around a difference of means then has no
/// width at all, so ten samples show the canary "at most 0 worse". Rates guard against this by
/// smoothing the variance (`smoothed_rates`); ten requests without an error in each arm stay
/// INCONCLUSIVE.
#[test]
fn ten_perfect_eval_scores_per_arm_are_not_proof_of_non_inferiority() {
    let cfg = GateConfig {
        metrics: vec![MetricConfig {
            required: true,
            ..gate::default_metric(Metric::EvalScore, 10)
        }],
        ..GateConfig::default()
    };
    let perfect = ArmData {
        scores: ScoreSummary::of(&[1.0; 10]).expect("scores in [0, 1]"),
        ..ArmData::default()
    };
    let r = Rollout::new(&cfg, None).look(PeriodData {
        canary: perfect.clone(),
        control: perfect,
    });
    let m = &r.metrics[0];
    assert_ne!(
        (m.label, r.verdict),
        (Label::Noninferior, Verdict::Promote),
        "upper bound {:?} from ten scores per arm",
        m.upper
    );

    // The rate path for comparison: ten requests per arm without an error.
    let cfg = GateConfig {
        metrics: vec![gate::default_metric(Metric::ErrorRate, 10)],
        ..GateConfig::default()
    };
    let r = Rollout::new(&cfg, None).look(PeriodData {
        canary: traffic(10, 10, 0),
        control: traffic(10, 10, 0),
    });
    assert_eq!(r.metrics[0].label, Label::Inconclusive);
}

// ---- preflight --------------------------------------------------------------------------------

/// A suite of `items` pass/fail items: the baseline passes item i with its own probability (items
/// differ in difficulty); the candidate copies the baseline's result, except that it loses a pass
/// with probability `lose` and gains one with probability `gain`.
fn suite(rng: &mut StdRng, items: usize, lose: f64, gain: f64) -> Vec<EvalPair> {
    (0..items)
        .map(|_| {
            let difficulty = rng.random::<f64>();
            let base = rng.random_bool(0.6 + 0.35 * difficulty);
            let cand = if base {
                !rng.random_bool(lose)
            } else {
                rng.random_bool(gain)
            };
            EvalPair {
                candidate: f64::from(u8::from(cand)),
                baseline: f64::from(u8::from(base)),
            }
        })
        .collect()
}

/// Paired pass/fail and score suites: a clear regression is rejected (ROLLBACK), a candidate equal
/// to the baseline is never rejected and passes (PROMOTE) given enough items, and too few items
/// hold whatever they show.
#[test]
fn preflight_rejects_regressions_passes_equals_and_holds_on_few_items() {
    const SUITES: usize = 200;
    let (alpha, margin, min_items) = (0.05, 0.05, 30);
    let mut rng = StdRng::seed_from_u64(61);
    let verdicts = |rng: &mut StdRng, lose: f64, gain: f64| -> [usize; 3] {
        let mut count = [0; 3];
        for _ in 0..SUITES {
            let r = gate::preflight(&suite(rng, 300, lose, gain), alpha, margin, min_items);
            assert_eq!(r.method, "mcnemar");
            count[match r.verdict {
                Verdict::Promote => 0,
                Verdict::Hold => 1,
                Verdict::Rollback => 2,
            }] += 1;
        }
        count
    };
    let [_, _, rejected] = verdicts(&mut rng, 0.12, 0.02);
    let [identical_passed, _, identical_rejected] = verdicts(&mut rng, 0.0, 0.0);
    // The baseline passes 77.5 % of items on average: losing 5 % of passes and gaining this share of
    // fails leaves the candidate's pass rate the same.
    let [noisy_passed, _, noisy_rejected] = verdicts(&mut rng, 0.05, 0.05 * 0.775 / 0.225);
    eprintln!(
        "preflight over {SUITES} suites of 300 pass/fail items: a regression (12 % of passes lost) rejected in {rejected}; \
         identical: {identical_passed} passed, {identical_rejected} rejected; equal quality with noise: {noisy_passed} passed, {noisy_rejected} rejected"
    );
    assert!(rejected as f64 >= 0.99 * SUITES as f64, "{rejected}");
    assert_eq!((identical_passed, identical_rejected), (SUITES, 0));
    assert!(
        noisy_rejected as f64 / SUITES as f64 <= mc_bound(alpha, SUITES),
        "{noisy_rejected}"
    );

    // Scores: a regression of 0.1 against a margin of 0.05 is rejected, identical scores pass.
    let scores: Vec<f64> = (0..100).map(|_| rng.random_range(0.3..1.0)).collect();
    let pairs = |shift: f64, rng: &mut StdRng| -> Vec<EvalPair> {
        scores
            .iter()
            .map(|s| EvalPair {
                candidate: (s - shift + rng.random_range(-0.05..0.05)).clamp(0.0, 1.0),
                baseline: *s,
            })
            .collect()
    };
    let worse = gate::preflight(&pairs(0.1, &mut rng), alpha, margin, min_items);
    assert_eq!(
        (worse.method.as_str(), worse.verdict),
        ("paired_t", Verdict::Rollback)
    );
    let same: Vec<EvalPair> = scores
        .iter()
        .map(|s| EvalPair {
            candidate: *s,
            baseline: *s,
        })
        .collect();
    assert_eq!(
        gate::preflight(&same, alpha, margin, min_items).verdict,
        Verdict::Promote
    );

    // Too few items hold, whether they show a regression or none.
    let all_regress = vec![
        EvalPair {
            candidate: 0.0,
            baseline: 1.0
        };
        20
    ];
    for few in [&all_regress[..], &same[..20]] {
        let r = gate::preflight(few, alpha, margin, min_items);
        assert_eq!(r.verdict, Verdict::Hold, "{:?}", r.reasons);
    }
}
