//! A rollout's life and emergency changes as notices, read from the audit events the use cases
//! write: a start (or a draft created, or a human's approval of a start), each step, a hold, a
//! pause, completion, an abort, and break-glass with its follow-up review. Pure, like `classify`:
//! the rollout before and after is in the event itself (`before` and `after`), so nothing is read.

use serde::Deserialize;
use serde_json::Value;

use super::classify::{Notice, actor, notice, what};
use crate::domain::audit::AuditEvent;
use crate::domain::policy::NotifyEvent;

/// The parts of a rollout an audit event records (`Rollout` serialized).
#[derive(Debug, Deserialize)]
struct RolloutState {
    state: String,
    step: Option<usize>,
    steps: Vec<f64>,
    candidate: String,
    lkg: String,
    #[serde(default)]
    paused_reason: Option<String>,
}

impl RolloutState {
    /// Exposure as a percentage; a segment step records 0 (the release note names the segment).
    fn exposure(&self) -> String {
        match (self.state.as_str(), self.step) {
            ("COMPLETED", _) => "100%".into(),
            ("ROLLED_BACK" | "ABORTED", _) | (_, None) => "0%".into(),
            (_, Some(i)) => match self.steps.get(i) {
                Some(p) if *p > 0.0 => format!("{p}%"),
                _ => format!("segment step {}", i + 1),
            },
        }
    }

    fn plan(&self) -> String {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|p| {
                if *p > 0.0 {
                    format!("{p}%")
                } else {
                    "segment".into()
                }
            })
            .collect();
        steps.join(" → ")
    }
}

/// The rollout in an event's `before` or `after`: the value itself, or nested under `rollout`.
fn rollout_in(text: &str) -> Option<RolloutState> {
    let v: Value = serde_json::from_str(text).ok()?;
    let r = if v["rollout"].is_object() {
        v["rollout"].clone()
    } else {
        v
    };
    serde_json::from_value(r).ok()
}

fn evaluation_in(text: &str) -> Option<i64> {
    serde_json::from_str::<Value>(text).ok()?["gate_evaluation_id"].as_i64()
}

/// The parts of an approval that approve and reject record.
#[derive(Deserialize)]
struct ApprovalState {
    kind: String,
    status: String,
    #[serde(default)]
    target_percent: Option<f64>,
}

/// The break-glass mark `mutate` puts on every event done under one: `[emergency: done under
/// break-glass #N in ENV, opened by NAME...]`.
const MARK: &str = "[emergency: ";

pub(super) fn lifecycle(e: &AuditEvent) -> Vec<Notice> {
    let mut out: Vec<Notice> = rollout_life(e).into_iter().collect();
    out.extend(emergency(e));
    out
}

fn rollout_life(e: &AuditEvent) -> Option<Notice> {
    let who = actor(e);
    let what = what(e);
    let id = e
        .rollout_id
        .map(|i| format!("rollout {i}"))
        .unwrap_or_else(|| "the rollout".into());
    if matches!(e.action.as_str(), "approve") {
        let a: ApprovalState = serde_json::from_str(&e.after).ok()?;
        if a.status != "approved" {
            return None;
        }
        let to = a.target_percent.map(|p| format!("{p}%"));
        let (event, summary) = match a.kind.as_str() {
            "start_canary" => (
                NotifyEvent::Started,
                format!(
                    "{id} of {what} started at {}: {who} approved the start",
                    to.as_deref().unwrap_or("its first step")
                ),
            ),
            "advance_canary" => (
                NotifyEvent::Advanced,
                format!(
                    "{id} of {what} advanced to {}: {who} approved the step",
                    to.as_deref().unwrap_or("its next step")
                ),
            ),
            _ => return None,
        };
        let mut n = notice(e, event, summary);
        n.exposure = to;
        return Some(n);
    }
    // Events that open approvals are told as approval requests (`classify`).
    if e.approval_id.is_some() {
        return None;
    }
    let after = rollout_in(&e.after)?;
    let before = rollout_in(&e.before);
    let was = |state: &str| before.as_ref().is_some_and(|b| b.state == state);
    let evaluation = evaluation_in(&e.after);
    let (event, summary) = match (e.action.as_str(), after.state.as_str()) {
        ("start_canary", "RUNNING") => (
            NotifyEvent::Started,
            format!(
                "{who} started {id} of {what}: {} get {:?} instead of {:?} (plan {})",
                after.exposure(),
                after.candidate,
                after.lkg,
                after.plan()
            ),
        ),
        ("start_canary", "DRAFT") => (
            NotifyEvent::Started,
            format!(
                "{who} scheduled {id} of {what} as a draft: it exposes nobody until its preflight passes (plan {})",
                after.plan()
            ),
        ),
        ("advance_canary" | "override_promote", "COMPLETED") if !was("COMPLETED") => (
            NotifyEvent::Completed,
            format!(
                "{id} of {what} completed: everyone gets {:?}, the new last-known-good",
                after.candidate
            ),
        ),
        ("advance_canary", "RUNNING") if was("DRAFT") => (
            NotifyEvent::Started,
            format!(
                "{id} of {what} opened after its preflight: {} get {:?} (plan {})",
                after.exposure(),
                after.candidate,
                after.plan()
            ),
        ),
        ("advance_canary", "RUNNING") => {
            let from = before.as_ref().and_then(|b| b.step);
            if after.step > from {
                let from = before
                    .as_ref()
                    .map_or_else(|| "?".into(), RolloutState::exposure);
                (
                    NotifyEvent::Advanced,
                    format!(
                        "{who} advanced {id} of {what} from {from} to {} (plan {})",
                        after.exposure(),
                        after.plan()
                    ),
                )
            } else {
                (
                    NotifyEvent::Held,
                    format!(
                        "the gate held {id} of {what} at {}: the evidence does not yet allow the next step",
                        after.exposure()
                    ),
                )
            }
        }
        ("advance_canary" | "pause", "PAUSED") if !was("PAUSED") => (
            NotifyEvent::Paused,
            format!(
                "{id} of {what} paused at {}: {}",
                before.as_ref().unwrap_or(&after).exposure(),
                after
                    .paused_reason
                    .as_deref()
                    .unwrap_or("no reason recorded")
            ),
        ),
        ("abort", "ABORTED") => (
            NotifyEvent::RolledBack,
            format!(
                "{who} aborted {id} of {what}: everyone gets {:?}, the last-known-good",
                after.lkg
            ),
        ),
        _ => return None,
    };
    let mut n = notice(e, event, summary);
    n.exposure = Some(after.exposure());
    n.gate_evaluation_id = evaluation;
    Some(n)
}

fn emergency(e: &AuditEvent) -> Option<Notice> {
    let who = actor(e);
    let what = what(e);
    let env = e.env.as_deref().unwrap_or("every environment");
    let after: Value = serde_json::from_str(&e.after).unwrap_or(Value::Null);
    let summary = match (e.action.as_str(), e.approval_id) {
        ("break_glass", _) => format!(
            "{who} broke the glass in {env} until {}: freezes and change windows are lifted, and every flag change opens a follow-up review",
            after["until"].as_str().unwrap_or("an unknown time")
        ),
        ("open_follow_up", Some(id)) => format!(
            "follow-up review #{id} opened for the emergency change ({}) of {what}; a second person closes it with `flagwarden approve {id} --reason NOTE`",
            after["action"].as_str().unwrap_or("a change")
        ),
        ("approve", Some(id)) => {
            let a: ApprovalState = serde_json::from_str(&e.after).ok()?;
            if a.kind != "follow_up" || a.status != "approved" {
                return None;
            }
            format!("{who} closed follow-up review #{id} of the emergency change of {what}")
        }
        ("reject", _) => return None,
        (action, _) => {
            let mark = e.message.as_deref()?.strip_prefix(MARK)?;
            let glass = mark.split(" in ").next().unwrap_or("break-glass");
            format!(
                "emergency change: {who} did {action} on {what} {}",
                glass.trim_start_matches("done ")
            )
        }
    };
    let mut n = notice(e, NotifyEvent::Emergency, summary);
    if e.action == "open_follow_up" {
        n.approval_kind = Some("follow_up".into());
        n.how_to_decide = e.approval_id.map(|id| {
            format!(
                "a second person (not an agent, not the one who broke the glass alone) runs `flagwarden approve {id} --reason NOTE`"
            )
        });
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::notify::classify;
    use crate::notify::fixtures::event;

    fn rollout(state: &str, step: Option<usize>) -> Value {
        json!({"id": 4, "flag": "pay", "env": "production", "candidate": "on", "lkg": "off",
               "steps": [5.0, 25.0, 100.0], "step": step, "pending_step": null, "state": state,
               "step_started_at": null, "created_at": "2026-11-23T09:00:00Z",
               "updated_at": "2026-11-23T09:00:00Z", "paused_reason": if state == "PAUSED" { json!("sample-ratio mismatch: 60/40") } else { Value::Null }})
    }

    /// An event as the use cases write it: `action` by a human, from `before` to `after`.
    fn step(action: &str, before: Value, after: Value) -> AuditEvent {
        let mut e = event(action, "allow", None, after);
        e.actor_kind = "human".into();
        e.actor = "alice".into();
        e.before = before.to_string();
        e
    }

    /// What each event tells: (event, exposure, summary) of every notice.
    fn told(e: &AuditEvent) -> Vec<(NotifyEvent, Option<String>, String)> {
        classify(e)
            .into_iter()
            .map(|n| (n.event, n.exposure, n.summary))
            .collect()
    }

    #[test]
    fn a_rollouts_life_reads_as_release_notices() {
        let gate = |r: Value| json!({"rollout": r, "gate_evaluation_id": 11});
        let cases: Vec<(AuditEvent, NotifyEvent, &str, &str)> = vec![
            (
                step("start_canary", Value::Null, rollout("RUNNING", Some(0))),
                NotifyEvent::Started,
                "5%",
                "human:alice started rollout 4 of pay in production: 5% get \"on\" instead of \"off\" (plan 5% → 25% → 100%)",
            ),
            (
                step("start_canary", Value::Null, rollout("DRAFT", None)),
                NotifyEvent::Started,
                "0%",
                "human:alice scheduled rollout 4 of pay in production as a draft: it exposes nobody until its preflight passes (plan 5% → 25% → 100%)",
            ),
            (
                step(
                    "advance_canary",
                    rollout("DRAFT", None),
                    gate(rollout("RUNNING", Some(0))),
                ),
                NotifyEvent::Started,
                "5%",
                "rollout 4 of pay in production opened after its preflight: 5% get \"on\" (plan 5% → 25% → 100%)",
            ),
            (
                step(
                    "advance_canary",
                    rollout("RUNNING", Some(0)),
                    gate(rollout("RUNNING", Some(1))),
                ),
                NotifyEvent::Advanced,
                "25%",
                "human:alice advanced rollout 4 of pay in production from 5% to 25% (plan 5% → 25% → 100%)",
            ),
            (
                step(
                    "advance_canary",
                    rollout("RUNNING", Some(1)),
                    gate(rollout("RUNNING", Some(1))),
                ),
                NotifyEvent::Held,
                "25%",
                "the gate held rollout 4 of pay in production at 25%: the evidence does not yet allow the next step",
            ),
            (
                step(
                    "pause",
                    rollout("RUNNING", Some(1)),
                    gate(rollout("PAUSED", Some(1))),
                ),
                NotifyEvent::Paused,
                "25%",
                "rollout 4 of pay in production paused at 25%: sample-ratio mismatch: 60/40",
            ),
            (
                step(
                    "advance_canary",
                    rollout("RUNNING", Some(2)),
                    gate(rollout("COMPLETED", Some(2))),
                ),
                NotifyEvent::Completed,
                "100%",
                "rollout 4 of pay in production completed: everyone gets \"on\", the new last-known-good",
            ),
            (
                step(
                    "abort",
                    rollout("RUNNING", Some(1)),
                    rollout("ABORTED", Some(1)),
                ),
                NotifyEvent::RolledBack,
                "0%",
                "human:alice aborted rollout 4 of pay in production: everyone gets \"off\", the last-known-good",
            ),
        ];
        for (e, want, exposure, summary) in cases {
            assert_eq!(
                told(&e),
                [(want, Some(exposure.to_owned()), summary.to_owned())],
                "{} {} → {}",
                e.action,
                e.before,
                e.after
            );
            let n = classify(&e).remove(0);
            assert_eq!(
                n.gate_evaluation_id,
                (e.after.contains("gate_evaluation_id")).then_some(11)
            );
        }
        // A step a human approves, and the start one approves.
        for (kind, want, summary) in [
            (
                "start_canary",
                NotifyEvent::Started,
                "rollout 4 of pay in production started at 5%: human:alice approved the start",
            ),
            (
                "advance_canary",
                NotifyEvent::Advanced,
                "rollout 4 of pay in production advanced to 5%: human:alice approved the step",
            ),
        ] {
            let mut e = step(
                "approve",
                Value::Null,
                json!({"kind": kind, "status": "approved", "target_percent": 5.0, "decided_via": "cli"}),
            );
            e.approval_id = Some(3);
            let got = told(&e);
            assert_eq!(got.len(), 2, "{got:?}");
            assert_eq!(
                got[0].0,
                NotifyEvent::ApprovalDecided,
                "the decision comes first"
            );
            assert_eq!(got[1], (want, Some("5%".into()), summary.into()));
        }
    }

    #[test]
    fn nothing_new_tells_nobody() {
        for e in [
            // Paused again (a second look at a paused rollout), or a step that opened an approval.
            step(
                "pause",
                rollout("PAUSED", Some(1)),
                gate_of(rollout("PAUSED", Some(1))),
            ),
            {
                let mut e = step(
                    "advance_canary",
                    rollout("RUNNING", Some(0)),
                    gate_of(rollout("AWAITING_APPROVAL", Some(0))),
                );
                e.approval_id = Some(5);
                e.decision = "needs_approval".into();
                e
            },
            step("set_targeting", Value::Null, json!({"rules": []})),
            step(
                "advance_canary",
                rollout("RUNNING", Some(0)),
                json!("not a rollout"),
            ),
        ] {
            let got: Vec<NotifyEvent> = told(&e)
                .into_iter()
                .map(|t| t.0)
                .filter(|n| *n != NotifyEvent::ApprovalRequested)
                .collect();
            assert_eq!(got, [], "{} → {}", e.action, e.after);
        }
        let mut denied = step("start_canary", Value::Null, rollout("RUNNING", Some(0)));
        denied.decision = "deny".into();
        assert_eq!(told(&denied), []);
    }

    fn gate_of(r: Value) -> Value {
        json!({"rollout": r, "gate_evaluation_id": 11})
    }

    #[test]
    fn emergencies_read_as_emergency_notices() {
        let mut glass = step(
            "break_glass",
            Value::Null,
            json!({"until": "2026-11-23T11:00:00Z"}),
        );
        glass.flag = None;
        let mut opened = event(
            "open_follow_up",
            "allow",
            Some(8),
            json!({"follow_up": 8, "break_glass": 2, "action": "set_targeting"}),
        );
        opened.message = Some("[emergency: done under break-glass #2 in production, opened by alice]: follow-up review #8 opened".into());
        let mut closed = step(
            "approve",
            Value::Null,
            json!({"kind": "follow_up", "status": "approved", "decided_via": "cli"}),
        );
        closed.actor = "bob".into();
        closed.approval_id = Some(8);
        let mut change = step("set_targeting", Value::Null, json!({"rules": []}));
        change.message = Some("[emergency: done under break-glass #2 in production, opened by alice; follow-up review #8 opened]".into());
        let mut promoted = step(
            "override_promote",
            rollout("RUNNING", Some(0)),
            rollout("COMPLETED", Some(0)),
        );
        promoted.message = change.message.clone();

        let summaries = |e: &AuditEvent| -> Vec<(NotifyEvent, String)> {
            classify(e)
                .into_iter()
                .map(|n| (n.event, n.summary))
                .collect()
        };
        assert_eq!(summaries(&glass), [(NotifyEvent::Emergency, "human:alice broke the glass in production until 2026-11-23T11:00:00Z: freezes and change windows are lifted, and every flag change opens a follow-up review".into())]);
        assert_eq!(summaries(&opened), [(NotifyEvent::Emergency, "follow-up review #8 opened for the emergency change (set_targeting) of pay in production; a second person closes it with `flagwarden approve 8 --reason NOTE`".into())]);
        let n = classify(&opened).remove(0);
        assert_eq!(
            (n.approval_kind.as_deref(), n.approval_id),
            (Some("follow_up"), Some(8))
        );
        assert!(n.how_to_decide.unwrap().contains("flagwarden approve 8"));
        let got = summaries(&closed);
        assert_eq!(got[0].0, NotifyEvent::ApprovalDecided);
        assert_eq!(
            got[1],
            (
                NotifyEvent::Emergency,
                "human:bob closed follow-up review #8 of the emergency change of pay in production"
                    .into()
            )
        );
        assert_eq!(summaries(&change), [(NotifyEvent::Emergency, "emergency change: human:alice did set_targeting on pay in production under break-glass #2".into())]);
        assert_eq!(
            summaries(&promoted)
                .into_iter()
                .map(|t| t.0)
                .collect::<Vec<_>>(),
            [NotifyEvent::Completed, NotifyEvent::Emergency],
            "the change itself, then that it was an emergency"
        );
        for e in NotifyEvent::ALL {
            assert_eq!(NotifyEvent::parse(e.as_str()), Some(e));
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
    }
}
