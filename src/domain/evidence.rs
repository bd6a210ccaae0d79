//! Distributions an application reports beside its counts: a latency histogram on fixed bucket
//! bounds, and eval scores in [0, 1] kept as sums and a 20-bin histogram. Both merge by addition, so
//! batches from many instances sum into one per arm, and both are small enough to store per batch.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a piece of evidence came from: an agent's `record_signals`, an application's
/// `/api/v1/signals` batch, OTLP telemetry, or a Prometheus query. Every source lands in the same
/// per-period arm summaries; the source is kept on each raw report so an answer can say how much
/// evidence came from where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Agent,
    Api,
    Otlp,
    Prometheus,
}

impl Source {
    pub const ALL: [Source; 4] = [Source::Agent, Source::Api, Source::Otlp, Source::Prometheus];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Agent => "agent",
            Source::Api => "api",
            Source::Otlp => "otlp",
            Source::Prometheus => "prometheus",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Evidence a source could not read for a rollout: a run of failed (or empty) reads of one query,
/// with the latest reason. It is closed when that query reads real values again. A gap is never a
/// pass and never, on its own, a rollback; the status shows the last one per source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceGap {
    pub source: Source,
    /// What could not be read: a gate metric's name or `guardrail:NAME`.
    pub name: String,
    pub reason: String,
    /// The first and the latest failed read of this run, and how many there were.
    pub since: jiff::Timestamp,
    pub last_at: jiff::Timestamp,
    pub count: u64,
    /// When real values were read again; `None` while the gap is open.
    pub closed_at: Option<jiff::Timestamp>,
}

impl EvidenceGap {
    /// One line for the status and the gate's reasons.
    pub fn describe(&self) -> String {
        let state = match self.closed_at {
            None => format!("open since {}", self.since),
            Some(t) => format!("from {} to {t}", self.since),
        };
        format!(
            "{} {}: {} ({state}, {} failed reads, the last at {})",
            self.source.as_str(),
            self.name,
            self.reason,
            self.count,
            self.last_at
        )
    }
}

/// Upper bounds of the latency buckets in milliseconds; a last bucket, `+Inf`, takes the rest.
pub const LATENCY_BOUNDS_MS: [u32; 13] =
    [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;

/// Per-bucket (not cumulative) latency counts. On the wire: `{"10": 5, "25": 3, "+Inf": 1}`, keys
/// being bucket upper bounds in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    pub counts: [u64; LATENCY_BUCKETS],
}

fn bucket_label(i: usize) -> String {
    LATENCY_BOUNDS_MS
        .get(i)
        .map_or_else(|| "+Inf".to_owned(), |b| b.to_string())
}

impl LatencyHistogram {
    pub fn is_empty(&self) -> bool {
        self.counts.iter().all(|c| *c == 0)
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, c| a.saturating_add(*c))
    }

    pub fn add(&mut self, o: &LatencyHistogram) {
        self.counts
            .iter_mut()
            .zip(o.counts)
            .for_each(|(a, b)| *a = a.saturating_add(b));
    }

    /// The upper bound (ms) of the bucket holding quantile `q`; `None` without samples or when it
    /// falls in the `+Inf` bucket.
    pub fn quantile_bound(&self, q: f64) -> Option<u32> {
        let n = self.total();
        if n == 0 {
            return None;
        }
        let rank = (q * n as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return LATENCY_BOUNDS_MS.get(i).copied();
            }
        }
        None
    }

    /// How many samples are slower than `ms`, which must be one of the bucket bounds.
    pub fn above(&self, ms: u32) -> u64 {
        let first = LATENCY_BOUNDS_MS.partition_point(|b| *b <= ms);
        self.counts[first..]
            .iter()
            .fold(0u64, |a, c| a.saturating_add(*c))
    }

    /// Builds a histogram from `{bound: count}`, naming the first unknown bound.
    pub fn from_map(map: &BTreeMap<String, u64>) -> Result<LatencyHistogram, String> {
        let mut h = LatencyHistogram::default();
        for (k, v) in map {
            let i = (0..LATENCY_BUCKETS)
                .find(|i| bucket_label(*i) == *k)
                .ok_or_else(|| {
                    format!(
                        "unknown bucket {k:?}: the upper bounds are {} and \"+Inf\" (milliseconds, counts per bucket)",
                        LATENCY_BOUNDS_MS.map(|b| format!("\"{b}\"")).join(", ")
                    )
                })?;
            h.counts[i] = *v;
        }
        Ok(h)
    }
}

impl Serialize for LatencyHistogram {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(
            self.counts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(i, c)| (bucket_label(i), c)),
        )
    }
}

impl<'de> Deserialize<'de> for LatencyHistogram {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, u64>::deserialize(d)?;
        LatencyHistogram::from_map(&map).map_err(serde::de::Error::custom)
    }
}

const SCORE_BINS: usize = 20;

/// Eval scores in [0, 1]: count, sum and sum of squares (mean and variance), and counts per 0.05-wide
/// bin `[k/20, (k+1)/20)` plus one for exactly 1, so the share below any floor on that grid is exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreSummary {
    pub n: u64,
    pub sum: f64,
    pub sum_sq: f64,
    pub bins: [u64; SCORE_BINS + 1],
}

impl ScoreSummary {
    /// Summarises raw scores, naming the index of the first one outside [0, 1].
    pub fn of(scores: &[f64]) -> Result<ScoreSummary, (usize, f64)> {
        let mut s = ScoreSummary::default();
        for (i, x) in scores.iter().copied().enumerate() {
            if !(0.0..=1.0).contains(&x) {
                return Err((i, x));
            }
            s.n += 1;
            s.sum += x;
            s.sum_sq += x * x;
            s.bins[(x * SCORE_BINS as f64) as usize] += 1;
        }
        Ok(s)
    }

    pub fn add(&mut self, o: &ScoreSummary) {
        self.n += o.n;
        self.sum += o.sum;
        self.sum_sq += o.sum_sq;
        self.bins.iter_mut().zip(o.bins).for_each(|(a, b)| *a += b);
    }

    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }

    /// How many scores are below `floor`, for a floor on the 0.05 grid (rounded down to it otherwise).
    pub fn below(&self, floor: f64) -> u64 {
        let k = ((floor * SCORE_BINS as f64).floor().max(0.0) as usize).min(SCORE_BINS);
        self.bins[..k].iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_histogram_round_trips_and_names_bad_bounds() {
        let h: LatencyHistogram = serde_json::from_str(r#"{"10": 5, "25": 3, "+Inf": 1}"#).unwrap();
        assert_eq!(h.total(), 9);
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            r#"{"10":5,"25":3,"+Inf":1}"#
        );
        assert_eq!(h.quantile_bound(0.5), Some(10));
        assert_eq!(h.quantile_bound(0.8), Some(25));
        assert_eq!(h.quantile_bound(0.95), None);
        let err = serde_json::from_str::<LatencyHistogram>(r#"{"12": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown bucket \"12\"") && err.contains("\"+Inf\""),
            "{err}"
        );
    }

    #[test]
    fn score_summary_counts_below_a_floor() {
        let s = ScoreSummary::of(&[0.0, 0.3, 0.5, 0.9, 1.0]).unwrap();
        assert_eq!(s.n, 5);
        assert!((s.mean().unwrap() - 0.54).abs() < 1e-12);
        assert_eq!(s.below(0.5), 2);
        assert_eq!(s.below(1.0), 4);
        let mut t = s;
        t.add(&s);
        assert_eq!(t.below(0.5), 4);
        assert_eq!(ScoreSummary::of(&[0.2, 1.5]), Err((1, 1.5)));
        assert!(ScoreSummary::of(&[f64::NAN]).is_err(), "NaN is not a score");
    }
}
