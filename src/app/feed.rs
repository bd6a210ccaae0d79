//! Following the audit trail: the commit signal, the committed flag changes the change stream sends,
//! and the events the webhook workers turn into notices. The trail is durable and ordered, so a
//! follower keeps only the last sequence number it saw and resumes from it, in this process or after
//! a restart. `follow` broadcasts what watchers (MCP resource subscriptions, `canary_status`
//! waits) are told about: each one subscribes to the broadcast before it reads, so nothing
//! committed in between is missed, and reads what a lag made it miss from the store.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{App, Result};
use crate::domain::audit::{AuditEvent, Change};
use crate::store;

/// How often `follow` looks for changes committed by other processes (the CLI, another server).
pub const WATCH_POLL: Duration = Duration::from_millis(200);
/// Most changes read at once.
const PAGE: u32 = 1000;

impl App {
    /// Changes after each commit this process makes; each follower holds its own receiver.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// Committed changes to flags after audit event `after` (from any process), oldest first.
    pub fn changes_since(&self, after: i64, limit: u32) -> Result<Vec<Change>> {
        self.read(|conn, _| Ok(store::changes_since(conn, after, limit)?))
    }

    /// Committed changes watchers are told about after audit event `after` (from any process),
    /// oldest first: `store::watched_since`.
    pub fn watched_since(&self, after: i64, limit: u32) -> Result<Vec<Change>> {
        self.read(|conn, _| Ok(store::watched_since(conn, after, limit)?))
    }

    /// The changes `follow` broadcasts, from the moment of the call.
    pub fn watch(&self) -> broadcast::Receiver<Arc<Change>> {
        self.watched.subscribe()
    }

    /// Broadcasts every change watchers are told about after audit event `last`, committed by this
    /// process (at once, on the commit signal) or another one (within `WATCH_POLL`), in order, until
    /// `stop`. The long-running modes read `last` and start it before they serve, so no watcher can
    /// miss a change committed in between. Each read is short and on the blocking pool; between
    /// reads it holds nothing.
    pub async fn follow(self: Arc<Self>, mut last: i64, stop: CancellationToken) {
        let mut commits = self.commits();
        loop {
            loop {
                let app = self.clone();
                let page = match tokio::task::spawn_blocking(move || app.watched_since(last, PAGE))
                    .await
                {
                    Ok(Ok(page)) => page,
                    Ok(Err(e)) => {
                        tracing::warn!("watch feed: {e}");
                        break;
                    }
                    Err(_) => break,
                };
                let full = page.len() == PAGE as usize;
                for c in page {
                    last = c.seq;
                    let _ = self.watched.send(Arc::new(c)); // no watcher is fine
                }
                if !full {
                    break;
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = commits.changed() => {}
                _ = tokio::time::sleep(WATCH_POLL) => {}
            }
        }
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
