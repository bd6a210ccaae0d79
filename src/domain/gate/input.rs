//! What the gate reads: each arm's additive counts, latency and scores (`ArmData`), grouped into
//! five-minute periods (`PeriodData`) because the sequential tests need the order of arrival, and the
//! clock and step facts of one evaluation (`GateInput`).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::domain::eval::Arm;
use crate::domain::evidence::{LatencyHistogram, ScoreSummary};

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
#[serde(expecting = r#"an object such as {"events": 3, "trials": 1200}"#)]
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
    /// The latest reading of each guardrail (an absolute limit on a value read from outside the
    /// arms, such as a PromQL 5xx ratio): each is a circuit breaker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardrails: Vec<GuardrailReading>,
    /// Evidence a source could not read and has not read since, in words: while any is open,
    /// nothing promotes (missing evidence is never a pass), and a gap alone never rolls back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<String>,
}

/// A guardrail's latest real value and its limit, as recorded when it was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardrailReading {
    pub name: String,
    pub value: f64,
    pub above: Option<f64>,
    pub below: Option<f64>,
    pub at: Timestamp,
}
