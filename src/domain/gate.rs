//! The canary gate: a pure function from what both arms reported and the analysis config frozen at the
//! rollout's start to a verdict, PROMOTE, HOLD or ROLLBACK, with every number behind it
//! (notes/canary-gate.md §12.3).
//!
//! Order: sample-ratio mismatch (the arms are not what the split says: nothing else can be trusted, so
//! pause), circuit breakers (absolute limits on the canary: roll back, critical), per-metric one-sided
//! tests of canary against control with anytime-valid bounds (`stats`), freshness, then the verdict.
//! Missing evidence is never a pass: a metric below its minimum samples is INSUFFICIENT, and a required
//! metric that is not shown NONINFERIOR holds the rollout.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::duration::fmt_duration;
use super::eval::Arm;
use super::evidence::{LatencyHistogram, ScoreSummary};
use super::stats::{self, Diff, Period};

/// Counts reported for one arm. Every field is additive, so batches are summed.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct ArmCounts {
    #[serde(default)]
    pub exposures: u64,
    #[serde(default)]
    pub requests: u64,
    #[serde(default)]
    pub errors: u64,
    #[serde(default)]
    pub task_attempts: u64,
    #[serde(default)]
    pub task_successes: u64,
    #[serde(default)]
    pub safety_checks: u64,
    #[serde(default)]
    pub safety_passes: u64,
}

impl ArmCounts {
    /// The field names, in the order of `values`.
    pub const NAMES: [&'static str; 7] = [
        "exposures",
        "requests",
        "errors",
        "task_attempts",
        "task_successes",
        "safety_checks",
        "safety_passes",
    ];

    pub fn values(&self) -> [u64; 7] {
        [
            self.exposures,
            self.requests,
            self.errors,
            self.task_attempts,
            self.task_successes,
            self.safety_checks,
            self.safety_passes,
        ]
    }

    pub fn add(&mut self, o: &ArmCounts) {
        self.exposures += o.exposures;
        self.requests += o.requests;
        self.errors += o.errors;
        self.task_attempts += o.task_attempts;
        self.task_successes += o.task_successes;
        self.safety_checks += o.safety_checks;
        self.safety_passes += o.safety_passes;
    }

    pub fn is_empty(&self) -> bool {
        self.values().iter().all(|v| *v == 0)
    }
}

/// A counter an application defines: bad events out of trials (refunds per order, retries per call).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct CustomCount {
    pub events: u64,
    pub trials: u64,
}

/// Everything one arm reported over some span of time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmData {
    pub counts: ArmCounts,
    #[serde(default, skip_serializing_if = "LatencyHistogram::is_empty")]
    pub latency_ms: LatencyHistogram,
    #[serde(default)]
    pub scores: ScoreSummary,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, CustomCount>,
}

impl ArmData {
    pub fn add(&mut self, o: &ArmData) {
        self.counts.add(&o.counts);
        self.latency_ms.add(&o.latency_ms);
        self.scores.add(&o.scores);
        for (k, c) in &o.custom {
            // Look up before inserting: the key is cloned only the first time it is seen.
            let mine = match self.custom.get_mut(k) {
                Some(mine) => mine,
                None => self.custom.entry(k.clone()).or_default(),
            };
            mine.events += c.events;
            mine.trials += c.trials;
        }
    }
}

/// Both arms over one period of reporting (the sequential tests need the order of arrival).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeriodData {
    pub canary: ArmData,
    pub control: ArmData,
}

/// How finely reports are grouped in time for the sequential tests: reports of both arms within one
/// period are compared with each other.
pub const PERIOD: SignedDuration = SignedDuration::from_mins(5);

/// The period a report at `at` belongs to, counted from the epoch.
pub fn slot(at: Timestamp) -> i64 {
    at.as_second().div_euclid(PERIOD.as_secs())
}

/// Groups reports (time, arm, data), oldest first, into periods of `PERIOD`. Reports on the
/// excluded arm carry no comparison and are left out.
pub fn periods(rows: &[(Timestamp, Arm, ArmData)]) -> Vec<PeriodData> {
    let mut out: Vec<(i64, PeriodData)> = Vec::new();
    for (at, arm, data) in rows {
        let slot = slot(*at);
        if out.last().is_none_or(|(s, _)| *s != slot) {
            out.push((slot, PeriodData::default()));
        }
        let p = &mut out.last_mut().expect("just ensured").1;
        match arm {
            Arm::Canary => p.canary.add(data),
            Arm::Control => p.control.add(data),
            Arm::Excluded => {}
        }
    }
    out.into_iter().map(|(_, p)| p).collect()
}

/// Both arms' totals over all periods.
pub fn totals(periods: &[PeriodData]) -> PeriodData {
    let mut t = PeriodData::default();
    for p in periods {
        t.canary.add(&p.canary);
        t.control.add(&p.control);
    }
    t
}

/// What the gate looks at: the reports in order of arrival, and the clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateInput {
    pub periods: Vec<PeriodData>,
    pub first_report_at: Option<Timestamp>,
    pub last_report_at: Option<Timestamp>,
    /// When the current step started, and how long the policy wants it held.
    pub step_started_at: Timestamp,
    pub min_dwell: SignedDuration,
    /// The control's P95 latency bucket bound frozen at the step's start, if it was known then.
    pub latency_threshold_ms: Option<u32>,
    pub now: Timestamp,
}

// ---- configuration ----------------------------------------------------------------------------

/// The built-in metrics, oriented so a positive difference means the canary is worse.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Metric {
    /// errors / requests, lower is better.
    ErrorRate,
    /// task_successes / task_attempts, higher is better.
    TaskSuccessRate,
    /// safety_passes / safety_checks, higher is better.
    SafetyPassRate,
    /// The share of requests slower than the control's P95, lower is better.
    LatencyP95,
    /// The mean eval score in [0, 1], higher is better.
    EvalScore,
    /// The share of eval scores below the metric's floor, lower is better.
    EvalScoreTail,
    /// An application's own counter (`custom` in a report): events / trials, lower is better.
    Custom(String),
}

impl Metric {
    pub const BUILT_IN: [Metric; 6] = [
        Metric::ErrorRate,
        Metric::TaskSuccessRate,
        Metric::SafetyPassRate,
        Metric::LatencyP95,
        Metric::EvalScore,
        Metric::EvalScoreTail,
    ];

    pub fn name(&self) -> &str {
        match self {
            Metric::ErrorRate => "error_rate",
            Metric::TaskSuccessRate => "task_success_rate",
            Metric::SafetyPassRate => "safety_pass_rate",
            Metric::LatencyP95 => "latency_p95",
            Metric::EvalScore => "eval_score",
            Metric::EvalScoreTail => "eval_score_tail",
            Metric::Custom(n) => n,
        }
    }

    /// A built-in name, or any other word as an application's counter.
    pub fn parse(s: &str) -> Result<Metric, String> {
        if let Some(m) = Metric::BUILT_IN.iter().find(|m| m.name() == s) {
            return Ok(m.clone());
        }
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && s.as_bytes()[0].is_ascii_lowercase();
        if ok {
            Ok(Metric::Custom(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not a metric: use one of {} or a custom counter's name (lowercase letters, digits, '_')",
                Metric::BUILT_IN.map(|m| m.name().to_owned()).join(", ")
            ))
        }
    }

    /// The unit of the canary's value that breakers compare against.
    fn unit(&self) -> &'static str {
        match self {
            Metric::EvalScore => "mean score",
            _ => "rate",
        }
    }
}

impl From<Metric> for String {
    fn from(m: Metric) -> String {
        m.name().to_owned()
    }
}

impl TryFrom<String> for Metric {
    type Error = String;
    fn try_from(s: String) -> Result<Metric, String> {
        Metric::parse(&s)
    }
}

/// How one metric is judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricConfig {
    pub metric: Metric,
    /// PROMOTE needs this metric shown NONINFERIOR.
    pub required: bool,
    /// How much worse the canary may be and still count as non-inferior (absolute: rate points, or
    /// score points for eval_score).
    pub margin: f64,
    /// Samples per arm before the metric is judged at all.
    pub min_samples: u64,
    /// HARM on this metric is critical: with auto_rollback_critical the system rolls back at once.
    pub critical: bool,
    /// safety_pass_rate: the canary's own pass rate must also reach this. eval_score_tail: the score
    /// below which an answer counts as bad.
    pub floor: Option<f64>,
}

/// An absolute limit on the canary: no statistics, just "never this bad".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breaker {
    pub metric: Metric,
    pub above: Option<f64>,
    pub below: Option<f64>,
    pub min_samples: u64,
}

/// What to do on a sample-ratio mismatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SrmAction {
    Pause,
    Rollback,
}

/// The analysis config, frozen into a rollout when it starts; its hash is stored with every
/// evaluation so a changed policy never silently changes a running analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateConfig {
    /// Chance of rolling back a canary that is no worse, over the whole rollout, split over metrics.
    pub alpha_rollback: f64,
    /// Chance of promoting a canary worse than a margin, split over the required metrics.
    pub alpha_promote: f64,
    /// The confidence sequences are narrowest near this many samples (both arms).
    pub tuning_n: f64,
    pub srm_threshold: f64,
    pub srm_min_per_arm: u64,
    pub srm_action: SrmAction,
    /// Evidence older than this cannot promote.
    #[serde(with = "secs")]
    pub fresh_within: SignedDuration,
    /// No report at all this long into a step: pause.
    #[serde(with = "secs")]
    pub no_traffic_grace: SignedDuration,
    /// Still holding this long into a step: pause, and a human looks.
    #[serde(with = "secs")]
    pub max_step_duration: SignedDuration,
    pub metrics: Vec<MetricConfig>,
    pub breakers: Vec<Breaker>,
}

mod secs {
    use jiff::SignedDuration;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(d: &SignedDuration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.as_secs())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SignedDuration, D::Error> {
        Ok(SignedDuration::from_secs(i64::deserialize(d)?))
    }
}

/// Placeholder margins a team should tune (notes/canary-gate.md §12.3): they are product choices.
pub fn default_metric(metric: Metric, min_samples: u64) -> MetricConfig {
    let (margin, floor) = match metric {
        Metric::ErrorRate => (0.01, None),
        Metric::TaskSuccessRate => (0.02, None),
        Metric::SafetyPassRate => (0.005, Some(0.99)),
        Metric::LatencyP95 => (0.02, None),
        Metric::EvalScore => (0.02, None),
        Metric::EvalScoreTail => (0.02, Some(0.5)),
        Metric::Custom(_) => (0.01, None),
    };
    MetricConfig {
        required: metric == Metric::ErrorRate,
        critical: metric == Metric::SafetyPassRate,
        metric,
        margin,
        min_samples,
        floor,
    }
}

impl Default for GateConfig {
    fn default() -> GateConfig {
        GateConfig {
            alpha_rollback: 0.05,
            alpha_promote: 0.05,
            tuning_n: stats::DEFAULT_TUNING_N,
            srm_threshold: 0.001,
            srm_min_per_arm: 8,
            srm_action: SrmAction::Pause,
            fresh_within: SignedDuration::from_mins(15),
            no_traffic_grace: SignedDuration::from_hours(24),
            max_step_duration: SignedDuration::from_hours(72),
            metrics: Metric::BUILT_IN
                .into_iter()
                .map(|m| default_metric(m, 200))
                .collect(),
            breakers: Vec::new(),
        }
    }
}

impl GateConfig {
    /// The sha256 of the config as stored: evaluations name it, so any decision can be traced to
    /// the exact analysis that made it.
    pub fn sha256(&self) -> String {
        let json = serde_json::to_vec(self).expect("a config serializes");
        hex::encode(Sha256::digest(json))
    }
}

// ---- the result -------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Promote,
    Hold,
    Rollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Label {
    /// Below the minimum samples: no statistical decision yet, and never a pass.
    Insufficient,
    /// The canary is worse, beyond doubt at the configured level.
    Harm,
    /// The canary is shown no worse than the margin.
    Noninferior,
    /// Neither yet.
    Inconclusive,
}

/// One arm's value of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ArmValue {
    pub n: u64,
    /// A rate in [0, 1] or a mean score; absent with no samples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// The test of one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MetricResult {
    pub metric: String,
    pub required: bool,
    pub critical: bool,
    pub canary: ArmValue,
    pub control: ArmValue,
    /// Canary minus control in the "worse" direction (for success rates and scores: control minus
    /// canary), and the anytime-valid bounds on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difference: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    pub margin: f64,
    /// The event-share e-value for rare events (harm when it reaches 1/alpha).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e_value: Option<f64>,
    /// "confidence_sequence" or "event_share".
    pub method: String,
    pub label: Label,
    /// Samples per arm still needed before this metric can be judged or shown non-inferior, if the
    /// difference stays as it is; absent when no amount would do (the difference exceeds the margin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples_missing: Option<u64>,
    pub explanation: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BreakerResult {
    pub metric: String,
    /// "above" or "below".
    pub op: String,
    pub limit: f64,
    pub canary: ArmValue,
    pub tripped: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SrmResult {
    pub canary_exposures: u64,
    pub control_exposures: u64,
    /// The anytime-valid p-value of "the split is 50/50" (1 / Bayes factor, capped at 1).
    pub p_value: f64,
    pub mismatch: bool,
}

/// Why a rollout should pause rather than wait on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    SampleRatioMismatch,
    NoTraffic,
    HoldTooLong,
}

/// A verdict and the evidence for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GateResult {
    pub verdict: Verdict,
    /// A breaker tripped or a critical metric showed harm.
    pub critical: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause: Option<PauseReason>,
    /// Why, in words, most important first.
    pub reasons: Vec<String>,
    pub metrics: Vec<MetricResult>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breakers: Vec<BreakerResult>,
    pub srm: SrmResult,
    /// Seconds of dwell still needed at this step.
    pub dwell_remaining_secs: i64,
    /// The most samples per arm any required metric still needs, and at the recent rate of
    /// reporting, about how long that takes.
    pub samples_missing: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_secs: Option<i64>,
    pub config_sha256: String,
}

// ---- the gate ---------------------------------------------------------------------------------

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

struct Alphas {
    rollback: f64,
    promote: f64,
}

fn test_metric(
    cfg: &MetricConfig,
    totals: (&ArmData, &ArmData),
    periods: &[PeriodData],
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
            let per: Vec<Period> = periods
                .iter()
                .map(|p| {
                    let (et, xt) = rate_counts(m, &p.canary, cfg, tau);
                    let (ec, xc) = rate_counts(m, &p.control, cfg, tau);
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
fn smoothed_rates(bt: u64, nt: u64, bc: u64, nc: u64) -> Option<Diff> {
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

fn breaker(b: &Breaker, canary: &ArmData, tau: Option<u32>) -> BreakerResult {
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

/// The verdict for the evidence so far.
pub fn evaluate(cfg: &GateConfig, input: &GateInput) -> GateResult {
    let PeriodData { canary, control } = totals(&input.periods);
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

    let breakers: Vec<BreakerResult> = cfg
        .breakers
        .iter()
        .map(|b| breaker(b, &canary, tau))
        .collect();
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

// ---- preflight: the offline eval gate for prompt and model changes ---------------------------

/// One eval item scored for the candidate and for the last-known-good, in [0, 1] (1 and 0 for pass
/// and fail).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvalPair {
    pub candidate: f64,
    pub baseline: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PreflightResult {
    /// PROMOTE: shown no worse than the margin; ROLLBACK: a significant regression (the candidate is
    /// rejected); HOLD: not enough items, or inconclusive.
    pub verdict: Verdict,
    pub items: u64,
    /// "mcnemar" for pass/fail items, "paired_t" for scores.
    pub method: String,
    /// Items where the baseline passed and the candidate failed, and the reverse (pass/fail only).
    pub regressions: u64,
    pub improvements: u64,
    /// Mean of baseline minus candidate: positive is a regression.
    pub mean_regression: f64,
    /// The p-value of "no regression beyond the margin" (small: the candidate regressed).
    pub regression_p: f64,
    /// The p-value of "the regression reaches the margin" (small: shown no worse).
    pub noninferiority_p: f64,
    pub reasons: Vec<String>,
}

/// Tests paired eval results: a significant regression rejects the candidate, a significant
/// non-inferiority (regression below `score_margin`) passes it, anything else holds.
pub fn preflight(
    pairs: &[EvalPair],
    alpha: f64,
    score_margin: f64,
    min_items: u64,
) -> PreflightResult {
    let items = pairs.len() as u64;
    let binary = pairs.iter().all(|p| {
        [p.candidate, p.baseline]
            .iter()
            .all(|v| *v == 0.0 || *v == 1.0)
    });
    let regressions = pairs.iter().filter(|p| p.baseline > p.candidate).count() as u64;
    let improvements = pairs.iter().filter(|p| p.baseline < p.candidate).count() as u64;
    let diffs: Vec<f64> = pairs.iter().map(|p| p.baseline - p.candidate).collect();
    let mean_regression = if items > 0 {
        diffs.iter().sum::<f64>() / items as f64
    } else {
        0.0
    };
    let (method, regression_p) = if binary {
        (
            "mcnemar",
            stats::mcnemar_regression_p(regressions, improvements),
        )
    } else {
        (
            "paired_t",
            stats::paired_regression_p(&diffs, score_margin).unwrap_or(1.0),
        )
    };
    // Non-inferiority: the mean regression is below the margin, one-sided at `alpha`.
    let noninferiority_p =
        stats::paired_regression_p(&diffs, score_margin).map_or(1.0, |p| 1.0 - p);
    let mut reasons = Vec::new();
    let verdict = if items < min_items {
        reasons.push(format!("{items} paired items, {min_items} needed"));
        Verdict::Hold
    } else if regression_p < alpha {
        reasons.push(format!(
            "the candidate regresses: {regressions} items got worse, {improvements} better, mean regression {mean_regression:.3} (p = {regression_p:.4} < {alpha})"
        ));
        Verdict::Rollback
    } else if noninferiority_p < alpha {
        reasons.push(format!(
            "no worse than the baseline by more than {score_margin}: mean regression {mean_regression:.3} over {items} items (p = {noninferiority_p:.4})"
        ));
        Verdict::Promote
    } else {
        reasons.push(format!(
            "inconclusive: mean regression {mean_regression:.3} over {items} items could still reach the margin {score_margin} (p = {noninferiority_p:.4}); run more items"
        ));
        Verdict::Hold
    };
    PreflightResult {
        verdict,
        items,
        method: method.into(),
        regressions,
        improvements,
        mean_regression,
        regression_p,
        noninferiority_p,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
