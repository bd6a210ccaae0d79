//! `set_targeting`: an environment's rules, default and on/off, under policy; refused where it would
//! change what a running rollout treats as its last-known-good.

use super::*;
use crate::domain::flag::EnvState;
use crate::domain::policy::{Action, Usage, decide};
use crate::domain::rules::Rule;

impl App {
    pub fn set_targeting(&self, actor: &Actor, req: &SetTargeting) -> Result<FlagOutput> {
        let m = &req.meta;
        self.mutate(actor, "set_targeting", req, m, |tx| {
            let mut flag = tx.flag(&req.key)?;
            tx.env(&req.environment)?;
            let rules = Rule::parse_all(&req.rules, &flag.variants)?;
            if let Some(d) = &req.default_variant {
                flag.variants.require("default_variant", d)?;
            }
            tx.check_version(&flag, req.expected_version)?;
            if let Some(Some(p)) = &req.prerequisite {
                check_prerequisite(tx, flag.key.as_str(), &req.environment, p)?;
            }
            let active = store::active_rollout(tx.conn, flag.key.as_str(), &req.environment)?;
            if let Some(r) = &active {
                let changes_default = req.default_variant.as_ref().is_some_and(|d| *d != r.lkg) || req.enabled == Some(false);
                if changes_default {
                    return Err(AppError::Conflict(format!(
                        "rollout {} is {} in {}: its default must stay {:?}; finish it or roll back before changing the default or disabling",
                        r.id,
                        r.state.as_str(),
                        req.environment,
                        r.lkg
                    ))
                    .into());
                }
            }
            let env = req.environment.as_str();
            let usage = Usage { break_glass_until: store::break_glass_until(tx.conn, env, tx.now)?, ..Usage::default() };
            let decision = decide(tx.policy, tx.actor, &Action::SetTargeting { env }, &usage, tx.now);
            let before = flag.envs.get(env).cloned();
            let mut audit = Audit { flag: Some(req.key.clone()), env: Some(env.into()), decision: Some(decision.clone()), before: state(&before), ..Audit::default() };
            if decision != Decision::Allow {
                return tx.refuse(audit, &decision);
            }
            let s = flag.envs.entry(env.to_owned()).or_insert_with(|| EnvState::new_off(&flag.default_variant, tx.now));
            s.rules = rules;
            s.enabled = req.enabled.unwrap_or(true);
            if let Some(d) = &req.default_variant {
                s.default_variant = d.clone();
            }
            if let Some(p) = &req.prerequisite {
                s.prerequisite = p.clone();
            }
            // Changing targeting on purpose lifts a rollback's pin: the human or agent is now saying who gets what.
            s.pinned_variant = None;
            s.updated_at = tx.now;
            let after = s.clone();
            store::upsert_env(tx.conn, flag.key.as_str(), env, &after)?;
            flag.version += 1;
            flag.updated_at = tx.now;
            store::update_flag(tx.conn, &flag)?;
            audit.after = state(&after);
            let view = flag_view(tx.conn, &flag, Some(env))?;
            let summary = format!("set targeting of {} in {env}: {}", flag.key, view.environments[0].serving);
            Ok(Done { output: FlagOutput { outcome: outcome(tx, &decision, flag.version, summary), flag: view }, audit })
        })
    }
}

/// A new prerequisite of `key` in `env`: the flag and variant exist, and no cycle of prerequisites
/// comes back to `key` (each flag on the way named in the refusal).
fn check_prerequisite(
    tx: &Tx,
    key: &str,
    env: &str,
    p: &crate::domain::prerequisite::Prerequisite,
) -> std::result::Result<(), Failure> {
    use crate::domain::prerequisite::{Known, check};
    let flags = store::load_flags(tx.conn)?;
    let lookup = |k: &str| {
        let f = flags.iter().find(|f| {
            f.key.as_str() == k && f.status != crate::domain::flag::FlagStatus::Archived
        })?;
        Some(Known {
            variants: f.variants.iter().map(|(n, _)| n).collect(),
            prerequisite: f.envs.get(env).and_then(|s| s.prerequisite.as_ref()),
        })
    };
    check("prerequisite", key, p, &lookup).map_err(|e| Failure::Error(invalid(&e.field, e.message)))
}
