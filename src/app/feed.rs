//! Following the audit trail: the commit signal, the committed flag changes the change stream sends,
//! and the events the webhook workers turn into notices. The trail is durable and ordered, so a
//! follower keeps only the last sequence number it saw and resumes from it, in this process or after
//! a restart.

use super::{App, Result};
use crate::domain::audit::{AuditEvent, Change};
use crate::store;

impl App {
    /// Changes after each commit this process makes; each follower holds its own receiver.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// Committed changes to flags after audit event `after` (from any process), oldest first.
    pub fn changes_since(&self, after: i64, limit: u32) -> Result<Vec<Change>> {
        self.read(|conn, _| Ok(store::changes_since(conn, after, limit)?))
    }

    pub fn last_audit_seq(&self) -> Result<i64> {
        self.read(|conn, _| Ok(store::last_audit_seq(conn)?))
    }

    /// Audit events after `after` that are not evidence reports, oldest first, at most `limit`, and
    /// the sequence number read through: the last event returned, or the newest event when fewer than
    /// `limit` came back, so a follower can move past the evidence it skipped.
    pub fn audit_after(&self, after: i64, limit: u32) -> Result<(Vec<AuditEvent>, i64)> {
        self.read(|conn, _| {
            let newest = store::last_audit_seq(conn)?;
            let events = store::audit_events_after(conn, after, newest, limit)?;
            let through = match events.last() {
                Some(e) if events.len() == limit as usize => e.seq,
                _ => newest.max(after),
            };
            Ok((events, through))
        })
    }
}
