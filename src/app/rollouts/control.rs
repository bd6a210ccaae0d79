//! The controller's look at one rollout: `App::control_rollout`, the use case `flagwarden serve`'s
//! controller runs when evidence for a rollout commits and on its timer. It is the `system` actor
//! and goes through `mutate` and `decide` like any other, so it does nothing the policy would not
//! let it do. In order, inside one write transaction (so two processes, or an agent racing it, see
//! each other's result and never repeat an action):
//!
//! - the gate says ROLLBACK (any harm): exposure freezes (ROLLBACK_PENDING) with a proposal for a
//!   human, or it rolls back at once where `auto_rollback` allows; a pending proposal is never
//!   opened twice, and a rollback happens once;
//! - a rollout PAUSED for missing traffic resumes once evidence came back after the pause (every
//!   other pause waits for a human);
//! - the gate asks for a pause (no traffic past the grace period, sample-ratio mismatch, a hold past
//!   `max_step_duration`): the rollout pauses;
//! - PROMOTE where `advance = "auto"`: the next step, within every bound `decide` checks, or the
//!   approval a human-gated step needs (its state then waits, so it opens once);
//! - otherwise the verdict is recorded when it changed since the last stored one (and once there is
//!   any evidence), so a HOLD or a PROMOTE the agent acts on is on the trail without a write per look.
//!
//! Each action is one audit event with its stored gate evaluation named in `after`; a look that
//! finds nothing to do writes nothing.

use serde_json::json;

use super::advance::{pause_label, take_step};
use super::rollback::act_on_harm;
use super::*;
use crate::domain::gate::{PauseReason, Verdict};
use crate::domain::policy::{Action, decide};
use crate::domain::rollout::RolloutState;

/// What an idle look answers: nothing written, no audit event.
fn idle(summary: String) -> Step<CanaryOutput> {
    Ok(Done {
        output: canary(
            Outcome {
                decision: (&Decision::Allow).into(),
                summary,
                dry_run: false,
                version: 0,
                audit_seq: None,
            },
            None,
            None,
            None,
        ),
        audit: Audit {
            idle: true,
            ..Audit::default()
        },
    })
}

/// Whether a paused rollout paused for missing traffic: the one pause that lifts by itself.
fn paused_for_no_traffic(r: &Rollout) -> bool {
    r.paused_reason
        .as_deref()
        .is_some_and(|why| why.starts_with(pause_label(PauseReason::NoTraffic)))
}

/// What a look found to do.
enum Plan {
    Idle(String),
    /// The gate says ROLLBACK: propose one, or roll back where `auto_rollback` allows.
    Harm,
    /// A no-traffic pause whose evidence came back.
    Resume(Decision),
    Pause(PauseReason, Decision),
    /// PROMOTE, and `decide` lets the system take the step (or asks a human for it).
    Advance(Decision),
    /// Only the verdict changed; the message says why nothing moved, when a bound held it.
    Record(Option<String>),
}

/// A rollout as a look saw it: the gate's input and result, and what to do.
struct Look {
    r: Rollout,
    input: gate::GateInput,
    gate: GateResult,
    /// When the gate ran, for its span (OTel out).
    started: Started,
    plan: Plan,
}

/// Reads rollout `id` and decides what to do, writing nothing: run in a plain read first (so a look
/// with nothing to do never takes the write lock), then again inside the write transaction, where
/// the state it reads is the state it changes.
fn look(tx: &Tx, id: i64) -> Result<std::result::Result<Look, String>> {
    let Some(r) = store::rollout(tx.conn, id)? else {
        return Ok(Err(format!("rollout {id} does not exist")));
    };
    if r.state.is_terminal() || r.state == RolloutState::Draft {
        return Ok(Err(format!("rollout {id} is {}", r.state.as_str())));
    }
    let (input, gate, started) = run_gate(tx, &r)?;
    let now = tx.now;
    let env = r.env.as_str();
    let ask = |action: &Action, usage: &Usage| decide(tx.policy, tx.actor, action, usage, now);
    let plan = if gate.verdict == Verdict::Rollback {
        let auto = ask(
            &Action::AutoRollback {
                env,
                critical: gate.critical,
            },
            &Usage::default(),
        );
        if r.state == RolloutState::RollbackPending && auto != Decision::Allow {
            // Proposed already; a human decides. Nothing is opened twice.
            Plan::Record(None)
        } else {
            Plan::Harm
        }
    } else if r.state == RolloutState::Paused {
        let returned = input.last_report_at.is_some_and(|t| t >= r.updated_at);
        let decision = ask(&Action::Resume { env }, &Usage::default());
        if paused_for_no_traffic(&r) && returned && decision == Decision::Allow {
            Plan::Resume(decision)
        } else {
            Plan::Idle(format!("rollout {id} is paused and waits for a human"))
        }
    } else if let Some(reason) = gate.pause
        && r.state == RolloutState::Running
        && ask(&Action::Pause { env }, &Usage::default()) == Decision::Allow
    {
        Plan::Pause(reason, Decision::Allow)
    } else if gate.verdict == Verdict::Promote
        && r.state == RolloutState::Running
        // Turning a shadow run into a canary, or ending an experiment, is an explicit call.
        && r.analysis.mode.is_canary()
    {
        let from = r.percent();
        let to = r.next_step().map_or(Percent::FULL, |i| r.steps[i]);
        let dwell = now.duration_since(r.step_started_at.unwrap_or(r.created_at));
        let usage = tx.usage(env, Some(&r))?;
        match ask(
            &Action::AdvanceCanary {
                env,
                from,
                to,
                dwell,
            },
            &usage,
        ) {
            // Not the controller's step to take (the agent advances here, or a bound such as
            // dwell, a change window or a freeze holds it): the verdict is recorded, nothing moves.
            Decision::Deny { rule, message } => Plan::Record(Some(format!(
                "PROMOTE, not advanced by the controller: {rule}: {message}"
            ))),
            decision => {
                // A release group advances only when every member's gate says PROMOTE.
                let mut waiting = Vec::new();
                for s in tx.siblings(&r)? {
                    let (_, sg, st) = run_gate(tx, &s)?;
                    traced(st, &s, &sg, None);
                    if sg.verdict != Verdict::Promote {
                        waiting.push(format!("{}: {}", s.flag, verdict_name(&sg)));
                    }
                }
                if waiting.is_empty() {
                    Plan::Advance(decision)
                } else {
                    Plan::Record(Some(format!(
                        "PROMOTE, not advanced by the controller: release group members wait ({})",
                        waiting.join("; ")
                    )))
                }
            }
        }
    } else {
        Plan::Record(None)
    };
    let plan = match plan {
        Plan::Record(why) => {
            let verdict = verdict_name(&gate);
            if input.last_report_at.is_none() {
                // No evidence yet: nothing has been judged, so there is no verdict worth a record.
                Plan::Idle(format!("rollout {id}: no evidence yet"))
            } else if store::gate_evaluations(tx.conn, r.id, 1)?
                .first()
                .is_some_and(|e| e.verdict == verdict)
            {
                Plan::Idle(format!("rollout {id}: still {verdict}"))
            } else {
                Plan::Record(why)
            }
        }
        other => other,
    };
    Ok(Ok(Look {
        r,
        input,
        gate,
        started,
        plan,
    }))
}

fn verdict_name(gate: &GateResult) -> String {
    format!("{:?}", gate.verdict).to_uppercase()
}

/// One look at rollout `id` as the system, inside its write transaction. See the module docs.
fn control(tx: &mut Tx, id: i64) -> Step<CanaryOutput> {
    let Look {
        r,
        input,
        gate,
        started,
        plan,
    } = match look(tx, id)? {
        Ok(l) => l,
        Err(why) => return idle(why),
    };
    let mut flag = tx.flag(&r.flag)?;
    let now = tx.now;
    let mut audit = Audit {
        flag: Some(r.flag.clone()),
        env: Some(r.env.clone()),
        rollout_id: Some(r.id),
        before: state(&r),
        decision: Some(Decision::Allow),
        ..Audit::default()
    };
    let (action, decision, next, approval, summary) = match plan {
        Plan::Idle(why) => return idle(why),
        Plan::Record(why) => {
            return record_verdict(tx, &r, &input, gate, started, audit, why, flag.version);
        }
        Plan::Harm => {
            let evaluation = store_evaluation(tx, &r, &input, &gate, started)?;
            let (next, approval, summary) = act_on_harm(tx, &mut flag, &r, &gate, evaluation)?;
            // A rollback act_on_harm did is recorded as the system's follow-up event; here the
            // system is the caller, so it is this look's own event.
            let rolled_back = tx.system_events.pop().is_some();
            let action = if rolled_back {
                "rollback"
            } else {
                "propose_rollback"
            };
            audit.after = json!({"rollout": next, "gate_evaluation_id": evaluation});
            (action, Decision::Allow, next, approval, summary)
        }
        Plan::Resume(decision) => {
            let evaluation = store_evaluation(tx, &r, &input, &gate, started)?;
            let next = r
                .apply(Event::Resume, now)
                .map_err(|e| AppError::Conflict(e.0))?;
            store::save_rollout(tx.conn, &next)?;
            tx.bump(&mut flag)?;
            tx.mirror(&r, Event::Resume)?;
            let summary = format!(
                "resume rollout {id} at {}: evidence came back after the no-traffic pause",
                next.percent()
            );
            audit.after = json!({"rollout": next, "gate_evaluation_id": evaluation});
            ("resume", decision, next, None, summary)
        }
        Plan::Pause(reason, decision) => {
            let evaluation = store_evaluation(tx, &r, &input, &gate, started)?;
            let why = format!("{}: {}", pause_label(reason), gate.reasons.join("; "));
            let next = r
                .apply(Event::Pause { reason: &why }, now)
                .map_err(|e| AppError::Conflict(e.0))?;
            store::save_rollout(tx.conn, &next)?;
            tx.bump(&mut flag)?;
            tx.mirror(&r, Event::Pause { reason: &why })?;
            let waits = if reason == PauseReason::NoTraffic {
                "it resumes by itself when evidence returns".to_owned()
            } else {
                format!("a human resumes it with `flagwarden resume {id}`")
            };
            let summary = format!("pause rollout {id} at {}: {why}; {waits}", r.percent());
            audit.after = json!({"rollout": next, "gate_evaluation_id": evaluation});
            ("pause", decision, next, None, summary)
        }
        Plan::Advance(decision) => {
            let evaluation = store_evaluation(tx, &r, &input, &gate, started)?;
            let why = "the controller: the gate says PROMOTE";
            let (next, approval, summary) = take_step(tx, &mut flag, &r, &input, &decision, why)?;
            audit.after = json!({"rollout": next, "gate_evaluation_id": evaluation});
            ("advance_canary", decision, next, approval, summary)
        }
    };
    audit.action = Some(action);
    audit.decision = Some(decision.clone());
    audit.approval_id = approval;
    audit.message = Some(summary.clone());
    let output = canary(
        outcome(tx, &decision, flag.version, summary),
        Some(&next),
        Some(gate),
        approval,
    );
    Ok(Done { output, audit })
}

/// Records the gate's verdict as the system's `record_verdict` event with its stored evaluation
/// (`look` checked that it changed since the last stored one).
fn record_verdict(
    tx: &mut Tx,
    r: &Rollout,
    input: &gate::GateInput,
    gate: GateResult,
    started: Started,
    mut audit: Audit,
    why: Option<String>,
    version: i64,
) -> Step<CanaryOutput> {
    let verdict = verdict_name(&gate);
    let evaluation = store_evaluation(tx, r, input, &gate, started)?;
    let summary = format!(
        "rollout {} at {}: the gate says {verdict} ({})",
        r.id,
        r.percent(),
        gate.reasons.join("; ")
    );
    audit.action = Some("record_verdict");
    audit.evidence_only = true;
    audit.message = Some(why.unwrap_or_else(|| summary.clone()));
    audit.after = json!({"verdict": verdict, "gate_evaluation_id": evaluation});
    let output = canary(
        outcome(tx, &Decision::Allow, version, summary),
        Some(r),
        Some(gate),
        None,
    );
    Ok(Done { output, audit })
}

impl App {
    /// The controller's look at one rollout (see the module docs): what it did, or `None` when
    /// there was nothing to do and nothing was written.
    pub fn control_rollout(&self, id: i64) -> Result<Option<CanaryOutput>> {
        // Most looks find nothing to do: decide that on a plain read, without the write lock.
        let busy = self.read(|conn, now| {
            let tx = Tx {
                conn,
                now,
                actor: &Actor::System,
                policy: &self.policy.policy,
                dry_run: true,
                system_events: Vec::new(),
                also_changed: Default::default(),
            };
            Ok(look(&tx, id)?.is_ok_and(|l| !matches!(l.plan, Plan::Idle(_))))
        })?;
        if !busy {
            return Ok(None);
        }
        let args = json!({ "rollout_id": id });
        let out = self.mutate(&Actor::System, "control", &args, &Meta::because(""), |tx| {
            control(tx, id)
        })?;
        Ok(out.outcome.audit_seq.is_some().then_some(out))
    }

    /// Every unfinished rollout, for the controller's timer.
    pub fn unfinished_rollouts(&self) -> Result<Vec<i64>> {
        self.read(|conn, _| Ok(store::active_rollouts(conn)?.iter().map(|r| r.id).collect()))
    }

    /// Rollouts with evidence committed (by any process) after signal row `after`, and the newest
    /// row: what the controller looks at after a commit. Without `after`, only the newest row.
    pub fn reported_after(&self, after: Option<i64>) -> Result<(Vec<i64>, i64)> {
        self.read(|conn, _| Ok(store::rollouts_reported_after(conn, after)?))
    }
}
