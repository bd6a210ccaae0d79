//! What a human does to a rollout directly, outside the gate: resume a paused one, abort one,
//! promote one under an active break-glass, and open the break-glass that lifts freezes and windows.

use jiff::SignedDuration;
use serde_json::json;

use super::*;
use crate::domain::rollout::Event;

impl App {
    /// What a human may do to a rollout directly: resume a paused one, abort one, or (under an
    /// active break-glass) promote one to everyone.
    pub fn steer_rollout(
        &self,
        human: &Actor,
        rollout_id: i64,
        action: Steer,
        reason: &str,
    ) -> Result<CanaryOutput> {
        if !matches!(human, Actor::Human(_)) {
            return Err(AppError::Conflict(format!(
                "only a human can {} a rollout",
                action.as_str()
            )));
        }
        if reason.trim().is_empty() {
            return Err(invalid(
                "reason",
                "say why; the audit trail and the agent read this",
            ));
        }
        let args = json!({"rollout_id": rollout_id, "action": action.as_str(), "reason": reason});
        self.mutate(human, action.as_str(), &args, &Meta::because(reason), |tx| {
            let r = store::rollout(tx.conn, rollout_id)?.ok_or_else(|| {
                AppError::NotFound(format!("rollout {rollout_id} does not exist; `flagwarden flags show KEY` names a flag's rollouts"))
            })?;
            let mut flag = tx.flag(&r.flag)?;
            let env = r.env.clone();
            let event = match action {
                Steer::Resume => Event::Resume,
                Steer::Abort => Event::Abort,
                Steer::Promote => {
                    if store::break_glass_until(tx.conn, &env, tx.now)?.is_none() {
                        return Err(AppError::Conflict(format!(
                            "promoting past the gate is a break-glass override: open one first with `flagwarden break-glass --env {env} --reason ... --for 1h`"
                        ))
                        .into());
                    }
                    Event::ForcePromote
                }
            };
            let next = r.apply(event, tx.now).map_err(|e| AppError::Conflict(e.0))?;
            store::save_rollout(tx.conn, &next)?;
            tx.mirror(&r, event)?;
            for mut a in store::pending_approvals_for(tx.conn, &r.flag, &env)?.into_iter().filter(|_| next.state.is_terminal()) {
                a.status = "superseded".into();
                a.decided_at = Some(store::ts_text(tx.now));
                a.decision_reason = Some(format!("the rollout was {}", next.state.as_str()));
                store::update_approval(tx.conn, &a)?;
            }
            let summary = match action {
                Steer::Resume => format!("resumed rollout {rollout_id} at {}; the gate decides the next step", next.percent()),
                Steer::Abort => format!("aborted rollout {rollout_id}: everyone in {env} gets {:?}", r.lkg),
                Steer::Promote => {
                    let s = flag.envs.get_mut(&env).expect("declared");
                    s.default_variant = next.candidate.clone();
                    s.pinned_variant = None;
                    s.updated_at = tx.now;
                    store::upsert_env(tx.conn, flag.key.as_str(), &env, s)?;
                    format!("break-glass override: rollout {rollout_id} completed, everyone in {env} gets {:?}", next.candidate)
                }
            };
            tx.bump(&mut flag)?;
            let audit = Audit {
                flag: Some(r.flag.clone()),
                env: Some(env),
                rollout_id: Some(rollout_id),
                decision: Some(Decision::Allow),
                before: state(&r),
                after: state(&next),
                ..Audit::default()
            };
            Ok(Done { output: canary(outcome(tx, &Decision::Allow, flag.version, summary), Some(&next), None, None), audit })
        })
    }

    /// A human lifts freezes and change windows in `env` until `until`, with a reason.
    pub fn break_glass(
        &self,
        human: &Actor,
        env: &str,
        reason: &str,
        ttl: SignedDuration,
    ) -> Result<String> {
        check_env(&self.policy.policy, env)?;
        if reason.trim().is_empty() {
            return Err(invalid("reason", "break-glass needs a reason"));
        }
        if ttl <= SignedDuration::ZERO || ttl > SignedDuration::from_hours(24) {
            return Err(invalid("for", "between 1 minute and 24 hours"));
        }
        let args = json!({"env": env, "reason": reason, "for_secs": ttl.as_secs()});
        self.mutate(human, "break_glass", &args, &Meta::because(reason), |tx| {
            let until = tx.now + ttl;
            store::insert_break_glass(tx.conn, env, tx.actor.name(), reason, tx.now, until)?;
            let audit = Audit {
                env: Some(env.into()),
                after: json!({"until": store::ts_text(until)}),
                decision: Some(Decision::Allow),
                ..Audit::default()
            };
            Ok(Done {
                output: format!(
                    "freezes and change windows in {env} are lifted until {}",
                    store::ts_text(until)
                ),
                audit,
            })
        })
    }
}
