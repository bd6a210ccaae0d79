//! What to tell: `classify` reads one audit event as zero or more notices, by the events the use
//! cases write: approval requests, decisions and rollbacks here, a rollout's life and emergency
//! changes in `lifecycle.rs`. Pure: no I/O and no clock, so a worker that reads an event twice
//! (after a restart) tells the same thing twice, never something else.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ReleaseNote;
use super::lifecycle::lifecycle;
use crate::domain::audit::AuditEvent;
use crate::domain::policy::NotifyEvent;

/// One thing to tell people, read from one audit event. Serialized as is, it is the generic JSON
/// body; `(audit_seq, event)` identifies it, for receivers that drop repeats.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    pub event: NotifyEvent,
    pub flag: Option<String>,
    pub environment: Option<String>,
    pub rollout_id: Option<i64>,
    pub approval_id: Option<i64>,
    /// What the approval is for: `start_canary`, `advance_canary` or `rollback`.
    pub approval_kind: Option<String>,
    /// For `approval_decided`: `approved` or `rejected`.
    pub decision: Option<String>,
    /// For `approval_decided`: where the human decided (`cli`, `http`, `elicitation`).
    pub decided_via: Option<String>,
    /// Who acted, as in the audit log: `agent:NAME`, `human:NAME` or `system`.
    pub actor: String,
    pub reason: Option<String>,
    pub summary: String,
    /// For `approval_requested`: what a human runs to decide.
    pub how_to_decide: Option<String>,
    /// For a rollout's life: the exposure it serves now (`25%`, or `segment "staff"` once the
    /// release note says which).
    pub exposure: Option<String>,
    /// The stored gate evaluation behind the event, when it had one (`flagwarden canary show`).
    pub gate_evaluation_id: Option<i64>,
    /// What the release is and what the evidence says, read when the notice is sent (`ReleaseNote`).
    pub release_note: Option<ReleaseNote>,
    pub audit_seq: i64,
    pub at: String,
}

/// The parts of an approval, as approve and reject record it after the decision.
#[derive(Deserialize)]
struct ApprovalAfter {
    kind: String,
    status: String,
    #[serde(default)]
    decided_via: Option<String>,
}

/// Reads an audit event as what people are told about it, by the events the use cases write:
///
/// - `approval_requested`: an allowed or approval-needing event that opened an approval (it has an
///   `approval_id` and is not itself an approve or reject): an agent's rollback proposal, the gate's
///   ROLLBACK from `advance_canary`, a start or step that needs a human.
/// - `approval_decided`: an allowed `approve` or `reject` that settled the approval. An approval
///   that still waits for another human's approval is not decided yet.
/// - `rolled_back`: a rollback that took effect: an allowed `rollback` by anyone (a human, an agent
///   the policy lets roll back alone, the system), or the `approve` that executed a rollback request.
///
/// Then a rollout's life and emergency changes (`lifecycle`), after the approval notices of the
/// same event: an approval decided comes before the start it lets happen.
///
/// Denials, dry runs (never written) and everything else tell nobody anything.
pub fn classify(e: &AuditEvent) -> Vec<Notice> {
    if e.decision == "deny" {
        return Vec::new();
    }
    let mut out = approvals(e);
    out.extend(lifecycle(e));
    out
}

/// A notice of `event` about `e`, saying `summary`; the caller fills in what only it knows.
pub(super) fn notice(e: &AuditEvent, event: NotifyEvent, summary: String) -> Notice {
    Notice {
        event,
        flag: e.flag.clone(),
        environment: e.env.clone(),
        rollout_id: e.rollout_id,
        approval_id: e.approval_id,
        approval_kind: None,
        decision: None,
        decided_via: None,
        actor: actor(e),
        reason: e.reason.clone(),
        summary,
        how_to_decide: None,
        exposure: None,
        gate_evaluation_id: None,
        release_note: None,
        audit_seq: e.seq,
        at: e.ts.clone(),
    }
}

/// `pay in production`, as summaries name what an event is about.
pub(super) fn what(e: &AuditEvent) -> String {
    format!(
        "{} in {}",
        e.flag.as_deref().unwrap_or("a flag"),
        e.env.as_deref().unwrap_or("every environment")
    )
}

fn approvals(e: &AuditEvent) -> Vec<Notice> {
    let notice = |event: NotifyEvent, summary: String| notice(e, event, summary);
    let what = what(e);
    let who = actor(e);
    match (e.action.as_str(), e.decision.as_str(), e.approval_id) {
        ("approve" | "reject", "allow", Some(id)) => {
            let Ok(a) = serde_json::from_str::<ApprovalAfter>(&e.after) else {
                return Vec::new();
            };
            if a.status != "approved" && a.status != "rejected" {
                return Vec::new(); // more approvals are needed before it is decided
            }
            let via = a
                .decided_via
                .clone()
                .unwrap_or_else(|| "an unknown channel".into());
            let mut decided = notice(
                NotifyEvent::ApprovalDecided,
                format!(
                    "{who} {} approval #{id} ({} of {what}) via {via}",
                    a.status, a.kind
                ),
            );
            decided.approval_kind = Some(a.kind.clone());
            decided.decision = Some(a.status.clone());
            decided.decided_via = a.decided_via.clone();
            let mut out = vec![decided];
            if a.status == "approved" && a.kind == "rollback" {
                let mut rolled = notice(
                    NotifyEvent::RolledBack,
                    format!("rolled back {what}: {who} approved the rollback (#{id})"),
                );
                rolled.approval_kind = Some(a.kind);
                out.push(rolled);
            }
            out
        }
        ("approve" | "reject", ..) => Vec::new(),
        ("rollback", "allow", _) => {
            let pinned = serde_json::from_str::<Value>(&e.after)
                .ok()
                .and_then(|v| v["pinned_variant"].as_str().map(str::to_owned));
            let now = match pinned {
                Some(v) => format!(": everyone gets {v:?}"),
                None => String::new(),
            };
            vec![notice(
                NotifyEvent::RolledBack,
                format!("{who} rolled back {what}{now}"),
            )]
        }
        ("open_follow_up" | "break_glass", ..) => Vec::new(), // emergencies: `lifecycle`
        (action, "allow" | "needs_approval", Some(id)) => {
            let kind = if action == "rollback" || proposes_rollback(&e.after) {
                "rollback"
            } else {
                action
            };
            let asks = match (kind, action) {
                ("rollback", "rollback") => format!("{who} proposes rolling back {what}"),
                ("rollback", _) => format!("the canary gate proposes rolling back {what}"),
                ("start_canary", _) => format!("{who} asks to start a rollout of {what}"),
                ("advance_canary", _) => {
                    format!("{who} asks to take the next canary step of {what}")
                }
                _ => format!("{who} asks for a human decision on {action} of {what}"),
            };
            let frozen = if kind == "rollback" {
                "; exposure is frozen until a human decides"
            } else {
                ""
            };
            let mut n = notice(
                NotifyEvent::ApprovalRequested,
                format!("{asks} (approval #{id}){frozen}"),
            );
            n.approval_kind = Some(kind.into());
            n.how_to_decide = Some(format!(
                "a human runs `flagwarden approve {id}` or `flagwarden reject {id} --reason TEXT`, \
                 or POSTs /api/v1/approvals/{id}/approve with a human token"
            ));
            vec![n]
        }
        _ => Vec::new(),
    }
}

/// Whether an event's after-state is a rollout frozen for a proposed rollback (the gate's
/// ROLLBACK verdict records the rollout itself; an agent's proposal nests it under `rollout`).
fn proposes_rollback(after: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(after) else {
        return false;
    };
    [&v["state"], &v["rollout"]["state"]]
        .iter()
        .any(|s| s.as_str() == Some("ROLLBACK_PENDING"))
}

pub(super) fn actor(e: &AuditEvent) -> String {
    if e.actor_kind == "system" {
        "system".into()
    } else {
        format!("{}:{}", e.actor_kind, e.actor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::app::types::*;
    use crate::notify::fixtures::{POLICY, agent, app, event, human, req};

    /// Every notifying event the use cases write, read back from the store as the worker reads it:
    /// (action, what each notice says).
    #[test]
    fn the_events_the_use_cases_write_read_as_notices() {
        let app = app(POLICY);
        let key = |env: &str| json!({"key": "pay", "environment": env, "reason": "looks off"});
        let start = |env: &str| {
            let r: StartCanary = req(
                json!({"key": "pay", "environment": env, "candidate_variant": "on", "reason": "ship"}),
            );
            app.start_canary(&agent(), &r)
        };
        app.create_flag(
            &agent(),
            &req(json!({"key": "pay", "description": "d", "change_type": "code", "reason": "r"})),
        )
        .unwrap();
        start("production").unwrap();
        let proposed = app.rollback(&agent(), &req(key("production"))).unwrap();
        let id = proposed.approval_id.unwrap();
        app.reject(&human("alice"), id, "noise", Channel::Http)
            .unwrap();
        // Clearly worse than the control, though under the breaker: the gate proposes at the advance.
        for (arm, errors) in [("canary", 45), ("control", 10)] {
            let signals: RecordSignals = req(
                json!({"key": "pay", "environment": "production", "arm": arm, "requests": 1000, "errors": errors}),
            );
            app.record_signals(&agent(), &signals).unwrap();
        }
        let gate = app
            .advance_canary(&agent(), &req(key("production")))
            .unwrap();
        let id = gate.approval_id.unwrap();
        app.approve(&human("alice"), id, "yes", Channel::Cli)
            .unwrap(); // one of two
        app.approve(&human("bob"), id, "yes", Channel::Elicitation)
            .unwrap();
        let gated = start("gated").unwrap();
        app.approve(
            &human("alice"),
            gated.approval_id.unwrap(),
            "",
            Channel::Cli,
        )
        .unwrap();
        start("development").unwrap();
        app.rollback(&agent(), &req(key("development"))).unwrap();
        app.rollback(&human("carol"), &req(key("gated"))).unwrap();

        let (events, through) = app.audit_after(0, 1000).unwrap();
        assert_eq!(through, app.last_audit_seq().unwrap());
        let got: Vec<String> = events
            .iter()
            .map(|e| {
                let said: Vec<String> = classify(e)
                    .iter()
                    .map(|n| {
                        format!(
                            "{:?} {} / {}",
                            n.event,
                            n.approval_kind.as_deref().unwrap_or("-"),
                            n.summary
                        )
                    })
                    .collect();
                format!("{} {}: {}", e.actor, e.action, said.join(" + "))
            })
            .collect();
        let want = [
            "claude create_flag: ",
            "claude start_canary: Started - / agent:claude started rollout 1 of pay in production: 5% get \"on\" instead of \"off\" (plan 5% → 25% → 100%)",
            "claude rollback: ApprovalRequested rollback / agent:claude proposes rolling back pay in production (approval #1); exposure is frozen until a human decides",
            "alice reject: ApprovalDecided rollback / human:alice rejected approval #1 (rollback of pay in production) via http",
            "claude advance_canary: ApprovalRequested rollback / the canary gate proposes rolling back pay in production (approval #2); exposure is frozen until a human decides",
            "alice approve: ",
            "bob approve: ApprovalDecided rollback / human:bob approved approval #2 (rollback of pay in production) via elicitation \
             + RolledBack rollback / rolled back pay in production: human:bob approved the rollback (#2)",
            "claude start_canary: ApprovalRequested start_canary / agent:claude asks to start a rollout of pay in gated (approval #3)",
            "alice approve: ApprovalDecided start_canary / human:alice approved approval #3 (start_canary of pay in gated) via cli \
             + Started - / rollout 2 of pay in gated started at 1%: human:alice approved the start",
            "claude start_canary: Started - / agent:claude started rollout 3 of pay in development: 1% get \"on\" instead of \"off\" (plan 1% → 5% → 25% → 50% → 100%)",
            "claude rollback: RolledBack - / agent:claude rolled back pay in development: everyone gets \"off\"",
            "carol rollback: RolledBack - / human:carol rolled back pay in gated: everyone gets \"off\"",
        ];
        assert_eq!(got, want, "record_signals is never read");
        let request = classify(&events[2]).remove(0);
        assert_eq!(
            request.how_to_decide.as_deref(),
            Some(
                "a human runs `flagwarden approve 1` or `flagwarden reject 1 --reason TEXT`, or POSTs /api/v1/approvals/1/approve with a human token"
            )
        );
    }

    #[test]
    fn denials_and_unreadable_decisions_tell_nobody() {
        let rolled = classify(&event(
            "rollback",
            "allow",
            None,
            json!({"pinned_variant": "off"}),
        ));
        assert_eq!(rolled.len(), 1);
        assert_eq!(
            (rolled[0].event, rolled[0].actor.as_str()),
            (NotifyEvent::RolledBack, "system")
        );
        for e in [
            event("rollback", "deny", None, json!(null)),
            event("start_canary", "deny", Some(3), json!(null)),
            event(
                "approve",
                "deny",
                Some(3),
                json!({"kind": "rollback", "status": "pending"}),
            ),
            event("approve", "allow", Some(3), json!("not an approval")),
            event("set_targeting", "allow", None, json!({})),
        ] {
            assert_eq!(classify(&e), [], "{} {}", e.action, e.decision);
        }
    }
}
