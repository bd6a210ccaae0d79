//! Evidence read from Prometheus: which rollouts the query worker reads (`prometheus_targets`), the
//! claim on a rollout's next window of one query, and `record_prometheus`, one window's arm counts or
//! guardrail value recorded as the system in one transaction with its audit event, the cursor moved
//! in the same commit (so no window counts twice, across restarts and processes), and the gate's
//! reaction to what it shows. A read that failed is a gap (`record_prometheus_gap`): recorded and
//! shown, never a pass, never a rollback on its own.

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::evidence::react_to_evidence;
use super::*;
use crate::domain::eval::Arm;
use crate::domain::evidence::Source;
use crate::domain::gate::{ArmData, GuardrailReading};
use crate::domain::policy::{Action, Usage, decide};
use crate::domain::prometheus::{PrometheusSource, Window};
use crate::domain::rollout::RolloutState;

/// How far back a rollout's first window may start: older evidence is not read.
pub const MAX_CATCH_UP: SignedDuration = SignedDuration::from_hours(1);

/// A rollout whose environment (or flag) names a Prometheus.
#[derive(Debug, Clone)]
pub struct PromTarget {
    pub rollout_id: i64,
    pub flag: String,
    pub env: String,
    /// Where its first window starts, if it has no cursor yet.
    pub start: Timestamp,
    pub source: PrometheusSource,
}

/// One window of one query, read: an arm's counts, a guardrail's value, or what had no data.
#[derive(Debug, Clone, Serialize)]
pub struct PromWindow {
    pub rollout_id: i64,
    /// The gate metric or `guardrail:NAME` the cursor is for.
    pub name: String,
    pub start: Timestamp,
    pub end: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<ArmData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<ArmData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<GuardrailReading>,
    /// Why an arm or the guardrail had nothing to count (an empty result is no data, not zero).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub no_data: Vec<String>,
}

impl PromWindow {
    /// A window of `name` with nothing read yet.
    pub fn empty(rollout_id: i64, name: String, start: Timestamp, end: Timestamp) -> PromWindow {
        PromWindow {
            rollout_id,
            name,
            start,
            end,
            canary: None,
            control: None,
            guardrail: None,
            no_data: Vec::new(),
        }
    }
}

impl App {
    /// The unfinished rollouts that expose someone and whose flag or environment names a Prometheus.
    pub fn prometheus_targets(&self) -> Result<Vec<PromTarget>> {
        let policy = &self.policy.policy;
        self.read(|conn, now| {
            let mut out = Vec::new();
            for r in store::active_rollouts(conn)? {
                if r.step.is_none() || r.state == RolloutState::Draft {
                    continue;
                }
                let Some(source) = policy.env(&r.env).and_then(|e| e.prometheus_for(&r.flag))
                else {
                    continue;
                };
                let start = r.created_at.max(now - MAX_CATCH_UP);
                out.push(PromTarget {
                    rollout_id: r.id,
                    flag: r.flag.clone(),
                    env: r.env.clone(),
                    start: Timestamp::from_second(start.as_second()).unwrap_or(start),
                    source: source.clone(),
                });
            }
            Ok(out)
        })
    }

    /// Claims the next window of query `name` for `me` (bookkeeping, not audited); returns where the
    /// recorded windows end, or `None` while another process reads it.
    pub fn claim_prometheus_window(
        &self,
        rollout_id: i64,
        name: &str,
        start: Timestamp,
        me: &str,
        ttl: SignedDuration,
    ) -> Result<Option<Timestamp>> {
        self.bookkeeping(|conn, now| {
            Ok(store::claim_cursor(
                conn, rollout_id, name, start, me, now, ttl,
            )?)
        })
    }

    /// Drops `me`'s claim on a query's next window without moving its cursor.
    pub fn release_prometheus_window(&self, rollout_id: i64, name: &str, me: &str) -> Result<()> {
        self.bookkeeping(|conn, _| Ok(store::release_cursor(conn, rollout_id, name, me)?))
    }

    /// A read that failed: the gap is recorded (or extended). With `give_up`, the window is too old
    /// to retry and the cursor moves past it; otherwise the claim is dropped and it is read again.
    pub fn record_prometheus_gap(
        &self,
        rollout_id: i64,
        name: &str,
        reason: &str,
        give_up: Option<Window>,
        me: &str,
    ) -> Result<()> {
        self.bookkeeping(|conn, now| {
            let reason = match give_up {
                Some(w) => {
                    store::advance_cursor(conn, rollout_id, name, w.start, w.end, me)?;
                    format!("{reason}; the window {} to {} is given up", w.start, w.end)
                }
                None => reason.to_owned(),
            };
            store::release_cursor(conn, rollout_id, name, me)?;
            store::record_gap(conn, rollout_id, Source::Prometheus, name, &reason, now)?;
            Ok(())
        })
    }

    /// Records one window read from Prometheus, as the system: the arms' counts (as
    /// `Source::Prometheus` reports in the same per-period summaries as `/api/v1/signals`) or the
    /// guardrail's value, the cursor moved from `start` to `end`, the gap of this query opened (no
    /// data) or closed, one audit event, and the system's reaction to a critical harm it reveals.
    /// `NotFound` when the window was recorded already (another process) or the rollout finished.
    pub fn record_prometheus(&self, w: &PromWindow, me: &str) -> Result<PromRecorded> {
        let meta = Meta {
            reason: String::new(),
            idempotency_key: None,
            dry_run: false,
        };
        self.mutate(&Actor::System, "ingest_prometheus", w, &meta, |tx| {
            let gone = || {
                Failure::Error(AppError::NotFound(format!(
                    "rollout {} has no unrecorded window of {} from {}",
                    w.rollout_id, w.name, w.start
                )))
            };
            let r = store::rollout(tx.conn, w.rollout_id)?.ok_or_else(gone)?;
            if r.state.is_terminal() {
                return Err(gone());
            }
            if !store::advance_cursor(tx.conn, r.id, &w.name, w.start, w.end, me)? {
                return Err(gone());
            }
            let decision = decide(
                tx.policy,
                tx.actor,
                &Action::RecordSignals { env: &r.env },
                &Usage::default(),
                tx.now,
            );
            let audit = Audit {
                flag: Some(r.flag.clone()),
                env: Some(r.env.clone()),
                rollout_id: Some(r.id),
                decision: Some(decision.clone()),
                evidence_only: true,
                after: json!({"window": [w.start, w.end], "no_data": w.no_data}),
                ..Audit::default()
            };
            if decision != Decision::Allow {
                return tx.refuse(audit, &decision);
            }
            for (arm, data) in [(Arm::Canary, &w.canary), (Arm::Control, &w.control)] {
                let Some(data) = data else { continue };
                let batch = format!(
                    "prometheus/{}/{}/{}/{}",
                    r.id,
                    w.name,
                    store::ts_text(w.end),
                    arm.as_str()
                );
                let row = store::SignalRow {
                    rollout_id: r.id,
                    arm: arm.as_str(),
                    data,
                    batch_id: Some(&batch),
                    source: Source::Prometheus,
                };
                store::insert_signals(tx.conn, &row, tx.now)?;
            }
            if let Some(g) = &w.guardrail {
                store::insert_guardrail_reading(tx.conn, r.id, g, tx.now)?;
            }
            if w.no_data.is_empty() {
                store::close_gap(tx.conn, r.id, Source::Prometheus, &w.name, tx.now)?;
            } else {
                let reason = format!("no data: {}", w.no_data.join("; "));
                store::record_gap(tx.conn, r.id, Source::Prometheus, &w.name, &reason, tx.now)?;
            }
            let reacted = react_to_evidence(tx, r.id)?;
            let mut audit = audit;
            audit.after = json!({
                "window": [w.start, w.end],
                "name": w.name,
                "canary": w.canary.as_ref().map(|d| d.counts),
                "control": w.control.as_ref().map(|d| d.counts),
                "guardrail": w.guardrail,
                "no_data": w.no_data,
                "reaction": reacted,
            });
            Ok(Done {
                output: PromRecorded {
                    rollout_id: r.id,
                    name: w.name.clone(),
                    reaction: reacted,
                    audit_seq: None,
                },
                audit,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const POLICY: &str = r#"version = 1
[environments.production]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
auto_rollback_critical = true
[environments.production.prometheus]
url = "http://127.0.0.1:9"
[environments.production.prometheus.metrics.error_rate]
trials = 'sum(increase(http_requests_total{arm="{{arm}}"}[{{window}}]))'
events = 'sum(increase(http_requests_total{arm="{{arm}}",code="500"}[{{window}}]))'
[[environments.production.prometheus.guardrails]]
name = "http_5xx_ratio"
query = 'sum(rate(http_requests_total{code="500"}[1m])) / sum(rate(http_requests_total[1m]))'
above = 0.05
"#;

    fn app() -> (App, i64, Timestamp) {
        let app = crate::app::for_tests(POLICY);
        let agent = Actor::Agent("claude".into());
        fn req<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
            serde_json::from_value(v).unwrap()
        }
        app.create_flag(
            &agent,
            &req(json!({"key": "pay", "description": "d", "change_type": "code", "reason": "r"})),
        )
        .unwrap();
        app.start_canary(&agent, &req(json!({"key": "pay", "environment": "production", "candidate_variant": "on", "reason": "r"})))
            .unwrap();
        let targets = app.prometheus_targets().unwrap();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].source.metrics.len(), 1);
        (app, targets[0].rollout_id, targets[0].start)
    }

    fn window(rollout_id: i64, name: &str, start: Timestamp, secs: i64) -> PromWindow {
        PromWindow {
            rollout_id,
            name: name.into(),
            start,
            end: start + SignedDuration::from_secs(secs),
            canary: Some(crate::domain::prometheus::arm_data(
                &crate::domain::gate::Metric::ErrorRate,
                100,
                1,
            )),
            control: None,
            guardrail: None,
            no_data: vec!["control trials: the query returned no series".into()],
        }
    }

    fn status(app: &App) -> CanaryStatus {
        app.canary_status(&FlagEnv {
            key: "pay".into(),
            environment: "production".into(),
        })
        .unwrap()
    }

    #[test]
    fn a_window_is_recorded_once_across_processes_and_restarts() {
        let (app, id, start) = app();
        let ttl = SignedDuration::from_mins(1);
        let a = app
            .claim_prometheus_window(id, "error_rate", start, "a", ttl)
            .unwrap();
        assert_eq!(a, Some(start));
        assert_eq!(
            app.claim_prometheus_window(id, "error_rate", start, "b", ttl)
                .unwrap(),
            None,
            "another process waits while the claim holds"
        );
        let w = window(id, "error_rate", start, 60);
        app.record_prometheus(&w, "a").unwrap();
        assert!(
            matches!(app.record_prometheus(&w, "a"), Err(AppError::NotFound(_))),
            "the same window again (a retry, another process) records nothing"
        );
        assert!(matches!(
            app.record_prometheus(&w, "b"),
            Err(AppError::NotFound(_))
        ));
        assert_eq!(
            app.claim_prometheus_window(id, "error_rate", start, "b", ttl)
                .unwrap(),
            None,
            "the reader keeps its claim until it is done"
        );
        app.release_prometheus_window(id, "error_rate", "a")
            .unwrap();
        // A restart (or the other process) resumes where the recorded windows end.
        assert_eq!(
            app.claim_prometheus_window(id, "error_rate", start, "b", ttl)
                .unwrap(),
            Some(w.end)
        );
        let s = status(&app);
        assert_eq!((s.canary.counts.requests, s.canary.counts.errors), (100, 1));
        assert_eq!(s.control.counts.requests, 0, "no data is not a zero report");
        assert!(
            s.gaps[0].contains("no data") && s.gaps[0].contains("control trials"),
            "{:?}",
            s.gaps
        );
    }

    #[test]
    fn a_failed_read_is_a_gap_that_holds_and_closes_when_values_return() {
        let (app, id, start) = app();
        let ttl = SignedDuration::from_mins(1);
        app.claim_prometheus_window(id, "error_rate", start, "a", ttl)
            .unwrap();
        app.record_prometheus_gap(
            id,
            "error_rate",
            "cannot reach Prometheus at http://127.0.0.1:9: refused",
            None,
            "a",
        )
        .unwrap();
        let s = status(&app);
        assert!(
            s.gaps[0].contains("cannot reach") && s.gaps[0].contains("open since"),
            "{:?}",
            s.gaps
        );
        let gate = s.gate.unwrap();
        assert_eq!(gate.verdict, crate::domain::gate::Verdict::Hold);
        assert!(
            gate.reasons
                .iter()
                .any(|r| r.starts_with("evidence gap: prometheus error_rate")),
            "{:?}",
            gate.reasons
        );
        assert_eq!(
            s.rollout.unwrap().state,
            RolloutState::Running,
            "a gap rolls nothing back"
        );
        // The claim was dropped and the cursor kept: the same window is read again and recorded.
        assert_eq!(
            app.claim_prometheus_window(id, "error_rate", start, "b", ttl)
                .unwrap(),
            Some(start)
        );
        let mut w = window(id, "error_rate", start, 60);
        w.no_data.clear();
        app.record_prometheus(&w, "b").unwrap();
        let s = status(&app);
        assert!(
            s.gaps[0].contains(" to ") && !s.gaps[0].contains("open"),
            "closed: {:?}",
            s.gaps
        );
        // A window retried too long is given up: the cursor moves past it.
        let next = w.end;
        app.claim_prometheus_window(id, "error_rate", start, "b", ttl)
            .unwrap();
        let lost = Window {
            start: next,
            end: next + SignedDuration::from_secs(60),
        };
        app.record_prometheus_gap(id, "error_rate", "HTTP 503", Some(lost), "b")
            .unwrap();
        assert_eq!(
            app.claim_prometheus_window(id, "error_rate", start, "b", ttl)
                .unwrap(),
            Some(lost.end)
        );
        assert!(status(&app).gaps[0].contains("given up"));
    }

    #[test]
    fn a_guardrail_over_its_limit_trips_a_breaker_and_the_system_rolls_back() {
        let (app, id, start) = app();
        let name = "guardrail:http_5xx_ratio";
        let ttl = SignedDuration::from_mins(1);
        app.claim_prometheus_window(id, name, start, "a", ttl)
            .unwrap();
        let reading = |value: f64, end: Timestamp| GuardrailReading {
            name: "http_5xx_ratio".into(),
            value,
            above: Some(0.05),
            below: None,
            at: end,
        };
        let mut w = window(id, name, start, 60);
        (w.canary, w.no_data) = (None, Vec::new());
        w.guardrail = Some(reading(0.01, w.end));
        assert_eq!(app.record_prometheus(&w, "a").unwrap().reaction, None);
        let next = PromWindow {
            start: w.end,
            end: w.end + SignedDuration::from_secs(60),
            guardrail: Some(reading(0.3, w.end + SignedDuration::from_secs(60))),
            ..w.clone()
        };
        let done = app.record_prometheus(&next, "a").unwrap();
        assert!(done.reaction.unwrap().contains("rolled back"));
        let s = status(&app);
        assert_eq!(s.rollout.unwrap().state, RolloutState::RolledBack);
        let b = &s.gate.unwrap().breakers[0];
        assert_eq!((b.metric.as_str(), b.tripped), (name, true));
        assert!(
            app.prometheus_targets().unwrap().is_empty(),
            "a finished rollout is not read"
        );
    }
}
