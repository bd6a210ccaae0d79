//! Webhook notifications, outbox style. The audit trail is the outbox: every approval request,
//! human decision, step of a rollout, rollback and emergency change is already an audit event,
//! committed with the change it describes.
//! One worker per webhook follows the trail from a cursor kept in the store's `meta` table, reads
//! each event as zero or more [`Notice`]s ([`classify`], a pure function), and POSTs them in order
//! with a short timeout, retrying with capped exponential backoff and giving up after a bounded
//! number of attempts (logged and counted). Nothing here runs inside a commit, so a dead or hanging
//! receiver delays no rollback, no other commit and no other receiver. A worker adds each notice's
//! release note ([`release_note`], pure) from what it reads through `App` before it sends.
//!
//! Delivery is at least once: the cursor moves only after a notice was delivered (or given up on),
//! so a restart neither loses an event nor sends the old ones again, except one cut off mid-flight.
//! Before sending an event a worker claims it in the cursor for a while, so two processes on one
//! store (`serve` beside `mcp`) do not both send it; a claim left by a crashed process expires.

mod body;
mod classify;
mod cursor;
mod lifecycle;
mod release_note;
mod worker;

pub use body::{body, digest_body, slack_body};
pub use classify::{Notice, classify};
pub use release_note::{ReleaseNote, note_lines, release_note, with_release_note, worth_telling};
pub use worker::{Deliveries, Notifier, Retry, StartError};

/// What the unit tests of more than one file here share: a policy with approvals and a breaker,
/// an in-memory `App` under it, and an audit event as the use cases write it.
#[cfg(test)]
mod fixtures {
    use std::sync::Arc;

    use serde_json::Value;

    use crate::app::App;
    use crate::domain::audit::AuditEvent;
    use crate::domain::policy::Actor;

    pub const POLICY: &str = concat!(
        r#"
version = 1
[environments.development]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
agent_rollback = "allow"
[environments.production]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
steps = [5, 25, 100]
approvals = 2
agent_rollback = "propose"
"#,
        include_str!("../../tests/data/policies/production_gate.toml"),
        r#"[environments.gated]
agent_may = ["start_canary"]
requires_start_approval = true
"#
    );

    pub fn app(policy: &str) -> Arc<App> {
        Arc::new(crate::app::for_tests(policy))
    }

    pub fn req<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    pub fn agent() -> Actor {
        Actor::Agent("claude".into())
    }

    pub fn human(name: &str) -> Actor {
        Actor::Human(name.into())
    }

    pub fn event(
        action: &str,
        decision: &str,
        approval_id: Option<i64>,
        after: Value,
    ) -> AuditEvent {
        AuditEvent {
            seq: 9,
            ts: "2026-11-23T10:00:00.000Z".into(),
            actor_kind: "system".into(),
            actor: "flagwarden".into(),
            action: action.into(),
            flag: Some("pay".into()),
            env: Some("production".into()),
            rollout_id: Some(4),
            approval_id,
            decision: decision.into(),
            rule: None,
            message: None,
            reason: Some("error-rate breaker tripped".into()),
            args: "{}".into(),
            before: "null".into(),
            after: after.to_string(),
            policy_version: 1,
            policy_sha256: "ab".into(),
        }
    }
}
