//! The policy in force as the tools show it: `get_policy`, each environment's bounds in plain words
//! and as data.

use serde_json::{Map, json};

use super::*;

impl App {
    pub fn get_policy(&self, q: &PolicyQuery) -> Result<PolicyView> {
        let p = &self.policy;
        if let Some(env) = &q.environment {
            check_env(&p.policy, env)?;
        }
        let mut plain = Map::new();
        let mut bounds = serde_json::to_value(&p.policy).expect("policy serializes");
        for (name, env) in &p.policy.environments {
            if q.environment.as_ref().is_some_and(|e| e != name) {
                bounds["environments"]
                    .as_object_mut()
                    .map(|m| m.remove(name));
                continue;
            }
            plain.insert(name.clone(), json!(crate::domain::policy::describe(env)));
        }
        Ok(PolicyView {
            version: p.policy.version,
            sha256: p.sha256.clone(),
            path: p.path.clone(),
            plain,
            bounds,
        })
    }
}
