//! Which windows of time a rollout's query still has to read, and what one window's readings add to
//! an arm. A window is read once its end is `delay` in the past; a cursor per rollout and metric
//! (kept in the store) says where the read windows end, so a restart resumes where it stopped and
//! no window is counted twice. Prometheus's `increase()` over a window is not always a whole number
//! (it extrapolates to the window's edges), so counts are rounded.

use jiff::{SignedDuration, Timestamp};

use super::answer::Reading;
use crate::domain::gate::{ArmData, CustomCount, Metric};

/// The window `(start, end]` a query at `end` covers with `[{{window}}]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// The windows after `until` that have ended at least `delay` before `now`, oldest first, at most
/// `max` of them (the rest wait for the next look).
pub fn due_windows(
    until: Timestamp,
    interval: SignedDuration,
    delay: SignedDuration,
    now: Timestamp,
    max: usize,
) -> Vec<Window> {
    let mut out = Vec::new();
    if interval <= SignedDuration::ZERO {
        return out;
    }
    let mut start = until;
    while out.len() < max {
        let end = start + interval;
        if end + delay > now {
            break;
        }
        out.push(Window { start, end });
        start = end;
    }
    out
}

/// A window's length as PromQL writes a duration: whole seconds, e.g. `60s`.
pub fn prom_duration(d: SignedDuration) -> String {
    format!("{}s", d.as_secs().max(1))
}

/// What one arm's two readings of a window say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArmOutcome {
    /// Both were real counts.
    Counted { trials: u64, events: u64 },
    /// One of them had no data: nothing is recorded for this arm and window (never a zero).
    NoData(String),
}

impl ArmOutcome {
    /// Reads an arm's trials and events; `Err` is a failure that makes the window a gap to retry.
    pub fn of(trials: &Reading, events: &Reading) -> Result<ArmOutcome, String> {
        let count = |r: &Reading, what: &str| -> Result<Result<u64, String>, String> {
            match r {
                Reading::Value(x) if *x < 0.0 => Err(format!(
                    "the {what} query gave {x}, a negative count; count with increase(...) over a counter"
                )),
                Reading::Value(x) => Ok(Ok(x.round() as u64)),
                Reading::NoData(why) => Ok(Err(format!("{what}: {why}"))),
                Reading::Failed(why) => Err(format!("{what}: {why}")),
            }
        };
        let (t, e) = (count(trials, "trials")?, count(events, "events")?);
        let (trials, events) = match (t, e) {
            (Ok(t), Ok(e)) => (t, e),
            (Err(why), _) | (_, Err(why)) => return Ok(ArmOutcome::NoData(why)),
        };
        // increase() extrapolates each series on its own, so events can overshoot trials a little.
        let slack = (trials as f64 * 0.01).ceil() as u64 + 1;
        if events > trials + slack {
            return Err(format!(
                "events ({events}) exceed trials ({trials}): the two queries do not count the same requests"
            ));
        }
        Ok(ArmOutcome::Counted {
            trials,
            events: events.min(trials),
        })
    }
}

/// One window's counts of `metric` for one arm, as the gate reads them.
pub fn arm_data(metric: &Metric, trials: u64, events: u64) -> ArmData {
    let mut d = ArmData::default();
    let c = &mut d.counts;
    match metric {
        Metric::ErrorRate => (c.requests, c.errors) = (trials, events),
        Metric::TaskSuccessRate => (c.task_attempts, c.task_successes) = (trials, events),
        Metric::SafetyPassRate => (c.safety_checks, c.safety_passes) = (trials, events),
        Metric::Custom(name) => {
            d.custom
                .insert(name.clone(), CustomCount { events, trials });
        }
        // The policy refuses these for Prometheus: they are not counts.
        Metric::LatencyP95 | Metric::EvalScore | Metric::EvalScoreTail => {}
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn windows_tile_time_and_wait_for_their_delay() {
        let (i, d) = (SignedDuration::from_secs(60), SignedDuration::from_secs(10));
        assert!(
            due_windows(at(0), i, d, at(69), 10).is_empty(),
            "not yet settled"
        );
        let w = due_windows(at(0), i, d, at(200), 10);
        assert_eq!(
            w,
            vec![
                Window {
                    start: at(0),
                    end: at(60)
                },
                Window {
                    start: at(60),
                    end: at(120)
                },
                Window {
                    start: at(120),
                    end: at(180)
                },
            ]
        );
        assert_eq!(
            due_windows(at(0), i, d, at(10_000), 5).len(),
            5,
            "bounded catch-up"
        );
        assert_eq!(prom_duration(i), "60s");
    }

    #[test]
    fn an_arm_counts_only_when_both_queries_have_real_values() {
        let v = Reading::Value;
        assert_eq!(
            ArmOutcome::of(&v(1000.4), &v(49.6)),
            Ok(ArmOutcome::Counted {
                trials: 1000,
                events: 50
            })
        );
        let none = Reading::NoData("the query returned no series".into());
        assert!(
            matches!(ArmOutcome::of(&v(10.0), &none), Ok(ArmOutcome::NoData(r)) if r.starts_with("events"))
        );
        let down = Reading::Failed("connection refused".into());
        assert!(
            ArmOutcome::of(&down, &v(1.0))
                .unwrap_err()
                .contains("connection refused")
        );
        assert!(
            ArmOutcome::of(&v(-3.0), &v(0.0)).is_err(),
            "a negative count is a template bug"
        );
        assert!(ArmOutcome::of(&v(100.0), &v(150.0)).is_err());
        assert_eq!(
            ArmOutcome::of(&v(100.0), &v(101.0)),
            Ok(ArmOutcome::Counted {
                trials: 100,
                events: 100
            }),
            "extrapolation's overshoot is clamped"
        );
    }

    #[test]
    fn counts_land_in_the_metric_s_fields() {
        let d = arm_data(&Metric::ErrorRate, 200, 7);
        assert_eq!((d.counts.requests, d.counts.errors), (200, 7));
        let d = arm_data(&Metric::TaskSuccessRate, 50, 45);
        assert_eq!((d.counts.task_attempts, d.counts.task_successes), (50, 45));
        let d = arm_data(&Metric::Custom("refunds".into()), 300, 3);
        assert_eq!(
            d.custom["refunds"],
            CustomCount {
                events: 3,
                trials: 300
            }
        );
    }
}
