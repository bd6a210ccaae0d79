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
    // Shadow run: units whose unseen candidate agreed with the served answer, and those whose did
    // not (plain comments: a doc comment would be the tool schema's description, paid per session).
    #[serde(default)]
    pub shadow_agreements: u64,
    #[serde(default)]
    pub shadow_divergences: u64,
}

impl ArmCounts {
    /// The field names, in the order of `values`.
    pub const NAMES: [&'static str; 9] = [
        "exposures",
        "requests",
        "errors",
        "task_attempts",
        "task_successes",
        "safety_checks",
        "safety_passes",
        "shadow_agreements",
        "shadow_divergences",
    ];

    pub fn values(&self) -> [u64; 9] {
        [
            self.exposures,
            self.requests,
            self.errors,
            self.task_attempts,
            self.task_successes,
            self.safety_checks,
            self.safety_passes,
            self.shadow_agreements,
            self.shadow_divergences,
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
        self.shadow_agreements += o.shadow_agreements;
        self.shadow_divergences += o.shadow_divergences;
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
        self.add_measures(o);
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

    /// Everything but the custom counters.
    fn add_measures(&mut self, o: &ArmData) {
        self.counts.add(&o.counts);
        self.latency_ms.add(&o.latency_ms);
        self.scores.add(&o.scores);
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
    sum(periods, false).0
}

/// Both arms' totals, and each arm's custom counters period by period (`Counters`), in one pass:
/// what `evaluate` reads.
pub(super) fn totals_and_counters(periods: &[PeriodData]) -> (PeriodData, [Counters<'_>; 2]) {
    let (t, canary, control) = sum(periods, true);
    (t, [canary, control])
}

fn sum(periods: &[PeriodData], keep: bool) -> (PeriodData, Counters<'_>, Counters<'_>) {
    let mut t = PeriodData::default();
    // Periods report the same counters: the first period's are the table's columns, and a counter
    // that turns up later widens the table once, at the end.
    let table = |arm: fn(&PeriodData) -> &ArmData| {
        keep.then(|| {
            Table::new(
                periods.first().map_or(0, |p| arm(p).custom.len()),
                periods.len(),
            )
        })
    };
    let (mut canary, mut control) = (
        CounterSums::new(table(|p| &p.canary)),
        CounterSums::new(table(|p| &p.control)),
    );
    for (i, p) in periods.iter().enumerate() {
        t.canary.add_measures(&p.canary);
        t.control.add_measures(&p.control);
        canary.add(i, &p.canary.custom);
        control.add(i, &p.control.custom);
    }
    let (canary_map, canary) = canary.finish(periods.len());
    let (control_map, control) = control.finish(periods.len());
    t.canary.custom = canary_map;
    t.control.custom = control_map;
    (t, canary, control)
}

/// One arm's custom counters in every period, as a table with a column per counter: the
/// event-share test reads a counter period by period, and a column is an index where a map is a
/// search with string comparisons, for every period and every rare counter.
#[derive(Debug, Default)]
pub(super) struct Counters<'a> {
    names: Vec<&'a str>,
    /// `cells[period * names.len() + column]`; a counter a period did not report is zero.
    cells: Vec<CustomCount>,
}

impl Counters<'_> {
    /// The column of counter `name`, if any period reported it.
    pub(super) fn column(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
    }

    pub(super) fn at(&self, period: usize, column: usize) -> CustomCount {
        self.cells[period * self.names.len() + column]
    }
}

/// Custom counters summed over many periods, the same sums `ArmData::add` makes. Periods report
/// the same counters, in the same (sorted) order, so each one is looked for first at its own
/// position in the running sums: an index and one comparison, where a map would search and
/// compare several keys for every counter of every period (most of a gate evaluation's time).
struct CounterSums<'a> {
    sums: Vec<(&'a str, CustomCount)>,
    table: Option<Table>,
}

/// The per-period table as it is filled: `stride` columns (the first period's counters), and the
/// counts of any column past them kept aside until the width is known.
struct Table {
    stride: usize,
    cells: Vec<CustomCount>,
    beyond: Vec<(usize, usize, CustomCount)>,
}

impl Table {
    fn new(stride: usize, periods: usize) -> Table {
        Table {
            stride,
            cells: vec![CustomCount::default(); stride * periods],
            beyond: Vec::new(),
        }
    }

    fn set(&mut self, period: usize, column: usize, c: CustomCount) {
        if column < self.stride {
            self.cells[period * self.stride + column] = c;
        } else {
            self.beyond.push((period, column, c));
        }
    }

    /// The cells, `width` to a period.
    fn finish(self, width: usize, periods: usize) -> Vec<CustomCount> {
        if width == self.stride {
            return self.cells;
        }
        let mut cells = vec![CustomCount::default(); width * periods];
        if self.stride > 0 {
            for (row, old) in cells.chunks_mut(width).zip(self.cells.chunks(self.stride)) {
                row[..self.stride].copy_from_slice(old);
            }
        }
        for (period, column, c) in self.beyond {
            cells[period * width + column] = c;
        }
        cells
    }
}

impl<'a> CounterSums<'a> {
    fn new(table: Option<Table>) -> Self {
        CounterSums {
            sums: Vec::new(),
            table,
        }
    }

    fn add(&mut self, period: usize, custom: &'a BTreeMap<String, CustomCount>) {
        for (i, (k, c)) in custom.iter().enumerate() {
            let at = match self.sums.get_mut(i) {
                Some((name, sum)) if *name == k.as_str() => {
                    sum.events += c.events;
                    sum.trials += c.trials;
                    i
                }
                _ => self.add_elsewhere(k, c),
            };
            if let Some(table) = &mut self.table {
                table.set(period, at, *c);
            }
        }
    }

    /// A counter not at its usual position: found by name, or new. Returns its position.
    #[cold]
    fn add_elsewhere(&mut self, k: &'a str, c: &CustomCount) -> usize {
        let at = match self.sums.iter().position(|(name, _)| *name == k) {
            Some(j) => j,
            None => {
                self.sums.push((k, CustomCount::default()));
                self.sums.len() - 1
            }
        };
        let sum = &mut self.sums[at].1;
        sum.events += c.events;
        sum.trials += c.trials;
        at
    }

    fn finish(self, periods: usize) -> (BTreeMap<String, CustomCount>, Counters<'a>) {
        let names: Vec<&str> = self.sums.iter().map(|(k, _)| *k).collect();
        let cells = self
            .table
            .map_or_else(Vec::new, |t| t.finish(names.len(), periods));
        let map = self
            .sums
            .into_iter()
            .map(|(k, c)| (k.to_owned(), c))
            .collect();
        (map, Counters { names, cells })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(counters: &[(&str, u64)]) -> ArmData {
        let custom = counters
            .iter()
            .map(|(k, n)| {
                let c = CustomCount {
                    events: *n,
                    trials: n * 10,
                };
                ((*k).to_owned(), c)
            })
            .collect();
        ArmData {
            custom,
            ..ArmData::default()
        }
    }

    /// The one-pass sums and tables must say exactly what `ArmData::add` and a map lookup say, also
    /// when periods report different counters: one missing, one appearing late, an arm without any.
    #[test]
    fn counter_tables_agree_with_the_maps_when_periods_report_different_counters() {
        let periods: Vec<PeriodData> = [
            (vec![("b", 1), ("c", 2)], vec![]),
            (vec![("b", 3)], vec![("x", 5)]),
            (
                vec![("a", 7), ("b", 11), ("c", 13)],
                vec![("x", 17), ("y", 19)],
            ),
            (vec![], vec![("y", 23)]),
            (vec![("c", 29), ("d", 31)], vec![("x", 37)]),
        ]
        .into_iter()
        .map(|(t, c)| PeriodData {
            canary: arm(&t),
            control: arm(&c),
        })
        .collect();
        let mut reference = PeriodData::default();
        for p in &periods {
            reference.canary.add(&p.canary);
            reference.control.add(&p.control);
        }
        let (sums, [canary, control]) = totals_and_counters(&periods);
        assert_eq!(sums, reference);
        assert_eq!(totals(&periods), reference);
        for (table, of) in [
            (
                &canary,
                (|p: &PeriodData| &p.canary) as fn(&PeriodData) -> &ArmData,
            ),
            (&control, |p: &PeriodData| &p.control),
        ] {
            for name in ["a", "b", "c", "d", "x", "y", "z"] {
                for (i, p) in periods.iter().enumerate() {
                    let want = of(p).custom.get(name).copied().unwrap_or_default();
                    let got = table
                        .column(name)
                        .map_or_else(CustomCount::default, |c| table.at(i, c));
                    assert_eq!(got, want, "{name} in period {i}");
                }
            }
        }
        assert_eq!(canary.column("z"), None);
    }
}
