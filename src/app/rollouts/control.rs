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

/// One look at rollout `id` as the system. See the module docs.
fn control(tx: &mut Tx, id: i64) -> Step<CanaryOutput> {
    let Some(r) = store::rollout(tx.conn, id)? else {
        return idle(format!("rollout {id} does not exist"));
    };
    if r.state.is_terminal() || r.state == RolloutState::Draft {
        return idle(format!("rollout {id} is {}", r.state.as_str()));
    }
    let mut flag = tx.flag(&r.flag)?;
    let env = r.env.clone();
    let (input, gate) = run_gate(tx, &r)?;
    let mut audit = Audit {
        flag: Some(r.flag.clone()),
        env: Some(env.clone()),
        rollout_id: Some(r.id),
        before: state(&r),
        decision: Some(Decision::Allow),
        ..Audit::default()
    };
    let now = tx.now;

    if gate.verdict == Verdict::Rollback {
        let auto = decide(
            tx.policy,
            tx.actor,
            &Action::AutoRollback {
                env: &env,
                critical: gate.critical,
            },
            &Usage::default(),
            now,
        );
        if r.state == RolloutState::RollbackPending && auto != Decision::Allow {
            // Proposed already; a human decides. Nothing is opened twice.
            return record_verdict(tx, &r, &input, gate, audit, flag.version);
        }
        let evaluation = store_evaluation(tx, &r, &input, &gate)?;
        let (next, approval, summary) = act_on_harm(tx, &mut flag, &r, &gate, evaluation)?;
        // A rollback act_on_harm did is recorded as the system's follow-up event; here the system
        // is the caller, so it is this look's own event.
        let rolled_back = tx.system_events.pop().is_some();
        audit.action = Some(if rolled_back {
            "rollback"
        } else {
            "propose_rollback"
        });
        audit.approval_id = approval;
        audit.message = Some(summary.clone());
        audit.after = json!({"rollout": next, "gate_evaluation_id": evaluation});
        let output = canary(
            outcome(tx, &Decision::Allow, flag.version, summary),
            Some(&next),
            Some(gate),
            approval,
        );
        return Ok(Done { output, audit });
    }

    if r.state == RolloutState::Paused {
        let returned = input.last_report_at.is_some_and(|t| t >= r.updated_at);
        if !(paused_for_no_traffic(&r) && returned) {
            return idle(format!("rollout {id} is paused and waits for a human"));
        }
        let decision = decide(
            tx.policy,
            tx.actor,
            &Action::Resume { env: &env },
            &Usage::default(),
            now,
        );
        if decision != Decision::Allow {
            return idle(format!("rollout {id} may not resume: {decision:?}"));
        }
        let evaluation = store_evaluation(tx, &r, &input, &gate)?;
        let next = r
            .apply(Event::Resume, now)
            .map_err(|e| AppError::Conflict(e.0))?;
        store::save_rollout(tx.conn, &next)?;
        tx.bump(&mut flag)?;
        let summary = format!(
            "resume rollout {id} at {}: evidence came back after the no-traffic pause",
            next.percent()
        );
        audit.action = Some("resume");
        audit.message = Some(summary.clone());
        audit.after = json!({"rollout": next, "gate_evaluation_id": evaluation});
        let output = canary(
            outcome(tx, &decision, flag.version, summary),
            Some(&next),
            Some(gate),
            None,
        );
        return Ok(Done { output, audit });
    }

    if let Some(reason) = gate.pause
        && r.state == RolloutState::Running
    {
        let decision = decide(
            tx.policy,
            tx.actor,
            &Action::Pause { env: &env },
            &Usage::default(),
            now,
        );
        if decision == Decision::Allow {
            let evaluation = store_evaluation(tx, &r, &input, &gate)?;
            let why = format!("{}: {}", pause_label(reason), gate.reasons.join("; "));
            let next = r
                .apply(Event::Pause { reason: &why }, now)
                .map_err(|e| AppError::Conflict(e.0))?;
            store::save_rollout(tx.conn, &next)?;
            tx.bump(&mut flag)?;
            let waits = if reason == PauseReason::NoTraffic {
                "it resumes by itself when evidence returns".to_owned()
            } else {
                format!("a human resumes it with `flagwarden resume {id}`")
            };
            let summary = format!("pause rollout {id} at {}: {why}; {waits}", r.percent());
            audit.action = Some("pause");
            audit.message = Some(summary.clone());
            audit.after = json!({"rollout": next, "gate_evaluation_id": evaluation});
            let output = canary(
                outcome(tx, &decision, flag.version, summary),
                Some(&next),
                Some(gate),
                None,
            );
            return Ok(Done { output, audit });
        }
    }

    if gate.verdict == Verdict::Promote && r.state == RolloutState::Running {
        let from = r.percent();
        let to = r.next_step().map_or(Percent::FULL, |i| r.steps[i]);
        let dwell = now.duration_since(r.step_started_at.unwrap_or(r.created_at));
        let usage = tx.usage(&env, Some(&r))?;
        let action = Action::AdvanceCanary {
            env: &env,
            from,
            to,
            dwell,
        };
        let decision = decide(tx.policy, tx.actor, &action, &usage, now);
        if !matches!(decision, Decision::Deny { .. }) {
            let evaluation = store_evaluation(tx, &r, &input, &gate)?;
            let why = "the controller: the gate says PROMOTE";
            let (next, approval_id, summary) =
                take_step(tx, &mut flag, &r, &input, &decision, why)?;
            audit.action = Some("advance_canary");
            audit.decision = Some(decision.clone());
            audit.approval_id = approval_id;
            audit.message = Some(summary.clone());
            audit.after = json!({"rollout": next, "gate_evaluation_id": evaluation});
            let output = canary(
                outcome(tx, &decision, flag.version, summary),
                Some(&next),
                Some(gate),
                approval_id,
            );
            return Ok(Done { output, audit });
        }
        // Not the controller's step to take (the agent advances here, or a bound such as dwell, a
        // change window or a freeze holds it): the verdict is recorded, nothing moves.
        if let Decision::Deny { rule, message } = &decision {
            audit.message = Some(format!(
                "PROMOTE, not advanced by the controller: {rule}: {message}"
            ));
        }
    }
    record_verdict(tx, &r, &input, gate, audit, flag.version)
}

/// Records the gate's verdict as the system's `record_verdict` event with its stored evaluation,
/// when it differs from the last stored verdict for the rollout; otherwise the look is idle.
fn record_verdict(
    tx: &mut Tx,
    r: &Rollout,
    input: &gate::GateInput,
    gate: GateResult,
    mut audit: Audit,
    version: i64,
) -> Step<CanaryOutput> {
    let verdict = format!("{:?}", gate.verdict).to_uppercase();
    if input.last_report_at.is_none() {
        // No evidence yet: nothing has been judged, so there is no verdict worth a record.
        return idle(format!("rollout {}: no evidence yet", r.id));
    }
    let last = store::gate_evaluations(tx.conn, r.id, 1)?;
    if last.first().is_some_and(|e| e.verdict == verdict) {
        return idle(format!("rollout {}: still {verdict}", r.id));
    }
    let evaluation = store_evaluation(tx, r, input, &gate)?;
    let summary = format!(
        "rollout {} at {}: the gate says {verdict} ({})",
        r.id,
        r.percent(),
        gate.reasons.join("; ")
    );
    audit.action = Some("record_verdict");
    audit.evidence_only = true;
    audit.message = Some(audit.message.take().unwrap_or_else(|| summary.clone()));
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
