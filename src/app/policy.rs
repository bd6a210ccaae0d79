//! The policy in force: as loaded (with the hash audit events name), as the tools show it
//! (`get_policy`: each environment's bounds in plain words and as data), and the check that an
//! environment is one it declares.

use serde_json::{Map, json};
use sha2::{Digest, Sha256};

use super::*;
use crate::domain::policy::PolicyError;

/// The policy in force, with what identifies it on audit events.
#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    pub policy: Policy,
    pub sha256: String,
    pub path: String,
}

impl LoadedPolicy {
    pub fn parse(path: &str, source: &str) -> std::result::Result<LoadedPolicy, PolicyError> {
        let policy = Policy::parse(path, source)?;
        Ok(LoadedPolicy {
            policy,
            sha256: hex::encode(Sha256::digest(source.as_bytes())),
            path: path.into(),
        })
    }
}

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

pub fn check_env(policy: &Policy, env: &str) -> Result<()> {
    if policy.env(env).is_some() {
        return Ok(());
    }
    let known: Vec<_> = policy.env_names().collect();
    Err(invalid(
        "environment",
        format!(
            "unknown environment {env:?}: the policy declares {}",
            known.join(", ")
        ),
    ))
}
