//! `rollback`: the pointer flip to the last-known-good, or a proposal a human confirms where policy
//! asks for one; and what the gate's ROLLBACK verdict leads to, for `advance_canary` and for the
//! system reacting to evidence.

use serde_json::json;

use super::*;
use crate::domain::gate::GateResult;
use crate::domain::policy::{Action, Usage, decide};
use crate::domain::rollout::{Event, Rollout, RolloutState};

/// The gate said ROLLBACK. Where the environment's `auto_rollback` lets the system roll this harm
/// back (`critical`: a tripped breaker or harm on a critical metric; `any`: any harm), `decide`
/// allows it and it rolls back at once, recorded as the system's own audit event; otherwise exposure
/// freezes and a human is asked to confirm (once: a rollout already ROLLBACK_PENDING keeps its
/// proposal).
pub(super) fn act_on_harm(
    tx: &mut Tx,
    flag: &mut Flag,
    r: &Rollout,
    gate: &GateResult,
    evaluation: i64,
) -> Result<(Rollout, Option<i64>, String)> {
    let env = r.env.clone();
    let why = gate.reasons.join("; ");
    let action = Action::AutoRollback {
        env: &env,
        critical: gate.critical,
    };
    let auto = decide(
        tx.policy,
        &Actor::System,
        &action,
        &Usage::default(),
        tx.now,
    );
    let level = tx
        .policy
        .env(&env)
        .map_or("none", |e| e.auto_rollback.as_str());
    if auto == Decision::Allow {
        let before = state(r);
        let done = tx
            .roll_back(flag, &env, Some(r))?
            .expect("a rollout was given");
        tx.system_events.push((
            "rollback".into(),
            Audit {
                flag: Some(r.flag.clone()),
                env: Some(env.clone()),
                rollout_id: Some(r.id),
                decision: Some(Decision::Allow),
                before,
                after: json!({"rollout": done, "gate_evaluation_id": evaluation}),
                ..Audit::default()
            },
            Some(format!("auto_rollback = {level:?}: {why}")),
        ));
        let summary = format!(
            "rolled back at once by the system (auto_rollback = {level:?}): {why}; everyone in {env} gets {:?}",
            r.lkg
        );
        return Ok((done, None, summary));
    }
    if r.state == RolloutState::RollbackPending {
        return Ok((
            r.clone(),
            None,
            format!("a rollback is already proposed and waits for a human: {why}"),
        ));
    }
    let next = r
        .apply(Event::ProposeRollback, tx.now)
        .map_err(|e| AppError::Conflict(e.0))?;
    store::save_rollout(tx.conn, &next)?;
    // A release group freezes as one; confirming the proposal rolls every member back.
    tx.mirror(r, Event::ProposeRollback)?;
    let a = tx.open_approval(ApprovalRequest {
        kind: "rollback",
        rollout: Some(&next),
        flag: &r.flag,
        env: &env,
        rule: "gate",
        reason: &why,
        target: None,
    })?;
    tx.bump(flag)?;
    let summary = format!(
        "propose a rollback (approval #{a}): the gate says ROLLBACK ({why}); exposure is frozen at {} until a human confirms with `flagwarden approve {a}`",
        next.percent()
    );
    Ok((next, Some(a), summary))
}

impl App {
    pub fn rollback(&self, actor: &Actor, req: &RollbackFlag) -> Result<CanaryOutput> {
        let m = &req.meta;
        if m.reason.trim().is_empty() {
            return Err(invalid(
                "reason",
                "say why you roll back; the human confirming it reads this",
            ));
        }
        self.mutate(actor, "rollback", req, m, |tx| {
            let mut flag = tx.flag(&req.key)?;
            tx.env(&req.environment)?;
            let env = req.environment.as_str();
            tx.check_version(&flag, req.expected_version)?;
            let r = store::active_rollout(tx.conn, flag.key.as_str(), env)?;
            let decision = decide(tx.policy, tx.actor, &Action::Rollback { env }, &Usage::default(), tx.now);
            let mut audit =
                Audit { flag: Some(req.key.clone()), env: Some(env.into()), rollout_id: r.as_ref().map(|r| r.id), decision: Some(decision.clone()), before: state(&flag.envs[env]), ..Audit::default() };
            match &decision {
                Decision::Deny { .. } => tx.refuse(audit, &decision),
                Decision::NeedsApproval { rule, .. } => {
                    if let Some(r) = &r
                        && r.state == crate::domain::rollout::RolloutState::RollbackPending
                    {
                        let pending = store::pending_approvals_for(tx.conn, flag.key.as_str(), env)?;
                        return Err(AppError::Conflict(format!(
                            "a rollback of {} in {env} is already proposed (approval {:?}); a human confirms it with `flagwarden approve ID`",
                            flag.key,
                            pending.iter().map(|a| a.id).collect::<Vec<_>>()
                        ))
                        .into());
                    }
                    let next = match &r {
                        Some(r) => {
                            let next = r.apply(Event::ProposeRollback, tx.now).map_err(|e| AppError::Conflict(e.0))?;
                            store::save_rollout(tx.conn, &next)?;
                            tx.mirror(r, Event::ProposeRollback)?;
                            Some(next)
                        }
                        None => None,
                    };
                    let a = tx.open_approval(ApprovalRequest { kind: "rollback", rollout: next.as_ref(), flag: flag.key.as_str(), env, rule, reason: &m.reason, target: None })?;
                    tx.bump(&mut flag)?;
                    audit.approval_id = Some(a);
                    audit.after = json!({"rollout": next, "approval_id": a});
                    let summary = format!(
                        "propose rolling back {} in {env} (approval #{a}); exposure is frozen until a human confirms with `flagwarden approve {a}`",
                        flag.key
                    );
                    Ok(Done { output: canary(outcome(tx, &decision, flag.version, summary), next.as_ref(), None, Some(a)), audit })
                }
                Decision::Allow => {
                    let members = match &r { Some(r) => tx.siblings(r)?, None => Vec::new() };
                    let done = tx.roll_back(&mut flag, env, r.as_ref())?;
                    if !members.is_empty() {
                        audit.after = json!({"env": flag.envs[env], "group": r.as_ref().and_then(|r| r.analysis.group.clone()), "also_rolled_back": members.iter().map(|m| &m.flag).collect::<Vec<_>>()});
                        let summary = format!("roll back release group {:?} in {env}: {} and {} get their last-known-good now, in one transaction", r.as_ref().and_then(|r| r.analysis.group.clone()).unwrap_or_default(), flag.key, members.iter().map(|m| m.flag.as_str()).collect::<Vec<_>>().join(", "));
                        return Ok(Done { output: canary(outcome(tx, &decision, flag.version, summary), done.as_ref(), None, None), audit });
                    }
                    audit.after = state(&flag.envs[env]);
                    let pin = flag.envs[env].pinned_variant.clone().unwrap_or_default();
                    let summary = format!("roll back {} in {env}: everyone gets {pin:?} now", flag.key);
                    Ok(Done { output: canary(outcome(tx, &decision, flag.version, summary), done.as_ref(), None, None), audit })
                }
            }
        })
    }
}
