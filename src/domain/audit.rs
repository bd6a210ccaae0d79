//! Audit events and their hash chain. Each event's hash covers the previous event's hash and every
//! stored field of the event, length-prefixed so no two field lists hash alike; editing, deleting or
//! reordering any stored event breaks the chain at that event. The allowed, committed changes to
//! flags among the events are what the change stream sends (`Change`).

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash before the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The actions of evidence reports. No follower of the audit trail (the change stream, the watch
/// feed, the webhook workers) is told about them: the store's feed queries leave them out, and a
/// commit of reports alone does not wake those followers.
pub const REPORTS: [&str; 4] = [
    "record_signals",
    "ingest_signals",
    "ingest_telemetry",
    "ingest_prometheus",
];

/// A committed change to a flag, from the audit trail: what the change stream sends, and what the
/// MCP resources of the flag and of its rollout (`rollout`) are updated by.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub seq: i64,
    pub flag: String,
    pub environment: Option<String>,
    pub action: String,
    pub at: String,
    /// The rollout the change moved, when it moved one.
    pub rollout: Option<i64>,
}

/// One audit event as stored. Free-form parts (arguments, states) are JSON text.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AuditEvent {
    pub seq: i64,
    pub ts: String,
    pub actor_kind: String,
    pub actor: String,
    pub action: String,
    pub flag: Option<String>,
    pub env: Option<String>,
    pub rollout_id: Option<i64>,
    pub approval_id: Option<i64>,
    pub decision: String,
    pub rule: Option<String>,
    pub message: Option<String>,
    pub reason: Option<String>,
    pub args: String,
    pub before: String,
    pub after: String,
    pub policy_version: u32,
    pub policy_sha256: String,
}

impl AuditEvent {
    fn fields(&self) -> [String; 18] {
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        let opt_i = |o: Option<i64>| o.map(|v| v.to_string()).unwrap_or_default();
        [
            self.seq.to_string(),
            self.ts.clone(),
            self.actor_kind.clone(),
            self.actor.clone(),
            self.action.clone(),
            opt(&self.flag),
            opt(&self.env),
            opt_i(self.rollout_id),
            opt_i(self.approval_id),
            self.decision.clone(),
            opt(&self.rule),
            opt(&self.message),
            opt(&self.reason),
            self.args.clone(),
            self.before.clone(),
            self.after.clone(),
            self.policy_version.to_string(),
            self.policy_sha256.clone(),
        ]
    }

    /// The chained hash of this event after `prev`.
    pub fn chain_hash(&self, prev: &str) -> String {
        let mut h = Sha256::new();
        h.update(prev.as_bytes());
        for f in self.fields() {
            h.update((f.len() as u64).to_le_bytes());
            h.update(f.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// Where a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at event {seq}: {why}")]
pub struct BrokenChain {
    pub seq: i64,
    pub why: String,
}

/// Checks `(event, prev_hash, hash)` triples in order; returns how many events verified.
pub fn verify<'a>(
    events: impl IntoIterator<Item = (&'a AuditEvent, &'a str, &'a str)>,
) -> Result<usize, BrokenChain> {
    let mut prev = GENESIS.to_owned();
    let mut n = 0;
    for (event, stored_prev, stored_hash) in events {
        if stored_prev != prev {
            return Err(BrokenChain { seq: event.seq, why: "its previous-hash does not match the event before it (an event was removed or reordered)".into() });
        }
        let hash = event.chain_hash(&prev);
        if hash != stored_hash {
            return Err(BrokenChain {
                seq: event.seq,
                why: "its contents do not match its hash (the event was edited)".into(),
            });
        }
        prev = hash;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, action: &str) -> AuditEvent {
        AuditEvent {
            seq,
            ts: "2026-11-23T10:00:00Z".into(),
            actor_kind: "agent".into(),
            actor: "claude-code".into(),
            action: action.into(),
            flag: Some("f".into()),
            env: None,
            rollout_id: None,
            approval_id: None,
            decision: "allow".into(),
            rule: None,
            message: None,
            reason: Some("why".into()),
            args: "{}".into(),
            before: "null".into(),
            after: "{}".into(),
            policy_version: 1,
            policy_sha256: "ab".into(),
        }
    }

    #[test]
    fn edits_and_removals_break_the_chain_where_they_happen() {
        let events = [
            event(1, "create_flag"),
            event(2, "set_targeting"),
            event(3, "rollback"),
        ];
        let mut hashes = Vec::new();
        let mut prev = GENESIS.to_owned();
        for e in &events {
            let h = e.chain_hash(&prev);
            hashes.push((prev.clone(), h.clone()));
            prev = h;
        }
        fn rows<'a>(
            evs: &'a [AuditEvent],
            hs: &'a [(String, String)],
        ) -> Vec<(&'a AuditEvent, &'a str, &'a str)> {
            evs.iter()
                .zip(hs)
                .map(|(e, (p, h))| (e, p.as_str(), h.as_str()))
                .collect()
        }
        assert_eq!(verify(rows(&events, &hashes)), Ok(3));

        let mut edited = events.clone();
        edited[1].actor = "human".into();
        assert_eq!(verify(rows(&edited, &hashes)).unwrap_err().seq, 2);

        let removed = [events[0].clone(), events[2].clone()];
        let removed_hashes = [hashes[0].clone(), hashes[2].clone()];
        assert_eq!(verify(rows(&removed, &removed_hashes)).unwrap_err().seq, 3);
    }
}
