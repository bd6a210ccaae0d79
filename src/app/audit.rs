//! Reads of the audit trail: the tools' summary view, the full events for the CLI, and the check of
//! the whole hash chain.

use super::*;
use crate::domain::flag::FlagKey;

impl App {
    pub fn audit_log(&self, q: &AuditQuery) -> Result<AuditLog> {
        if let Some(env) = &q.environment {
            check_env(&self.policy.policy, env)?;
        }
        if let Some(k) = &q.key {
            FlagKey::parse(k)?;
        }
        let limit = q.limit.unwrap_or(50);
        if limit == 0 || limit > 500 {
            return Err(invalid("limit", "between 1 and 500"));
        }
        self.read(|conn, _| {
            let events =
                store::audit_events(conn, q.key.as_deref(), q.environment.as_deref(), limit)?;
            Ok(AuditLog {
                events: events
                    .into_iter()
                    .map(|e| AuditEntry {
                        seq: e.seq,
                        ts: e.ts,
                        actor: if e.actor_kind == "system" {
                            "system".into()
                        } else {
                            format!("{}:{}", e.actor_kind, e.actor)
                        },
                        action: e.action,
                        flag: e.flag,
                        env: e.env,
                        decision: e.decision,
                        rule: e.rule,
                        reason: e.reason,
                    })
                    .collect(),
            })
        })
    }

    /// Full events (for the CLI's detailed view).
    pub fn audit_events(
        &self,
        key: Option<&str>,
        env: Option<&str>,
        limit: u32,
    ) -> Result<Vec<crate::domain::audit::AuditEvent>> {
        self.read(|conn, _| Ok(store::audit_events(conn, key, env, limit)?))
    }

    /// Verifies the whole audit chain; returns the number of events.
    pub fn verify_audit(
        &self,
    ) -> Result<std::result::Result<usize, crate::domain::audit::BrokenChain>> {
        self.read(|conn, _| {
            let chain = store::audit_chain(conn)?;
            Ok(crate::domain::audit::verify(
                chain.iter().map(|(e, p, h)| (e, p.as_str(), h.as_str())),
            ))
        })
    }
}
