//! Reads of flags: one flag with its environments, the list with who gets what, and an evaluation
//! as an application would see it (from the snapshot, counted like one).

use serde_json::{Map, json};

use super::*;
use crate::domain::eval::{Context, evaluate};
use crate::domain::flag::FlagKey;

impl App {
    pub fn get_flag(&self, key: &str) -> Result<FlagView> {
        FlagKey::parse(key)?;
        self.flush_counts()?;
        self.read(|conn, _| {
            let flag = store::load_flag(conn, key)?.ok_or_else(|| not_found_flag(key))?;
            flag_view(conn, &flag, None)
        })
    }

    pub fn list_flags(&self, q: &ListFlags) -> Result<FlagList> {
        if let Some(env) = &q.environment {
            check_env(&self.policy.policy, env)?;
        }
        let needle = q.query.as_deref().map(str::to_lowercase);
        self.read(|conn, _| {
            let mut out = Vec::new();
            let active = store::active_by_flag_env(conn)?;
            for f in store::load_flags(conn)? {
                if q.change_type.is_some_and(|c| c != f.change_type)
                    || q.status.is_some_and(|s| s != f.status)
                {
                    continue;
                }
                if let Some(n) = &needle {
                    let hay = format!(
                        "{} {} {} {}",
                        f.key,
                        f.description,
                        f.owner.clone().unwrap_or_default(),
                        f.tags.join(" ")
                    )
                    .to_lowercase();
                    if !hay.contains(n) {
                        continue;
                    }
                }
                let mut serving_map = Map::new();
                for (env, s) in &f.envs {
                    if q.environment.as_ref().is_some_and(|e| e != env) {
                        continue;
                    }
                    let r = active.get(&(f.key.to_string(), env.clone()));
                    serving_map.insert(env.clone(), json!(serving(&f, s, r)));
                }
                out.push(FlagSummary {
                    key: f.key.to_string(),
                    change_type: f.change_type,
                    status: f.status,
                    version: f.version,
                    description: f.description.clone(),
                    serving: serving_map,
                });
            }
            Ok(FlagList { flags: out })
        })
    }

    /// Evaluates like an application would, from the snapshot; counts the evaluation.
    pub fn evaluate_flag(&self, req: &EvaluateFlag) -> Result<Evaluation> {
        FlagKey::parse(&req.key)?;
        check_env(&self.policy.policy, &req.environment)?;
        let ctx = Context::from_json(&req.context).map_err(|e| invalid("context", e.0))?;
        self.refresh()?;
        let snap = self.snapshot();
        let r = evaluate(&snap, &req.key, &req.environment, &ctx, None);
        r.record();
        Ok(Evaluation {
            key: req.key.clone(),
            value: r.value.cloned(),
            variant: r.variant.map(str::to_owned),
            reason: r.reason,
            error_code: r.error.map(|(c, _)| c),
            error_message: r.error.map(|(_, m)| m.to_owned()),
            arm: r.arm,
            shadow_variant: r.shadow.map(|(name, _)| name.to_owned()),
        })
    }
}
