//! Following the audit trail: the commit signals (every commit, and those with more than evidence
//! reports), the committed flag changes the change stream sends, and the events the webhook
//! workers turn into notices. The trail is durable and ordered, so a
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

/// A page of changes, and the sequence number it was read through: the last change when the page
/// is full, else the newest audit event then, so a follower moves past the events no watcher is
/// told about (evidence reports, a rollout's thousands of them) instead of reading them again at
/// every commit.
#[derive(Debug)]
pub struct Page {
    pub changes: Vec<Change>,
    pub through: i64,
}

/// One read, so the newest sequence number and the page see the same state of the trail.
fn page(conn: &rusqlite::Connection, after: i64, limit: u32) -> Result<Page> {
    let newest = store::last_audit_seq(conn)?;
    let changes = store::watched_since(conn, after, limit)?;
    let through = match changes.last() {
        Some(c) if changes.len() == limit as usize => c.seq,
        _ => newest.max(after),
    };
    Ok(Page { changes, through })
}

impl App {
    /// Changes after each commit this process makes; each follower holds its own receiver.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// Changes after each commit this process makes that has an audit event besides evidence
    /// reports: what a follower of the trail's changes and notices waits on.
    pub fn told(&self) -> tokio::sync::watch::Receiver<u64> {
        self.told.subscribe()
    }

    /// After a commit: every commit wakes `commits`, one that `tells` also wakes `told`.
    pub(super) fn bump(&self, tells: bool) {
        self.committed.send_modify(|n| *n = n.wrapping_add(1));
        if tells {
            self.told.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Committed changes watchers are told about after audit event `after` (from any process),
    /// oldest first: `store::watched_since`, and the sequence number read through.
    pub fn watched_since(&self, after: i64, limit: u32) -> Result<Page> {
        self.read(|conn, _| page(conn, after, limit))
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
        let mut commits = self.told();
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
                let full = page.changes.len() == PAGE as usize;
                for c in page.changes {
                    let _ = self.watched.send(Arc::new(c)); // no watcher is fine
                }
                last = page.through;
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::app::types::RecordSignals;
    use crate::domain::policy::Actor;

    fn req<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    /// Evidence reports are audited but told to no watcher: a page after them is empty and read
    /// through the newest of them, so the next commit's read starts past them, not before.
    #[test]
    fn a_page_reads_through_the_reports_no_watcher_is_told_about() {
        let policy = "version = 1\n[environments.development]\nagent_may = [\"start_canary\", \"record_signals\"]\n";
        let app = crate::app::for_tests(policy);
        let agent = Actor::Agent("claude".into());
        let flag = json!({"key": "pay", "environment": "development", "reason": "r"});
        app.create_flag(
            &agent,
            &req(json!({"key": "pay", "description": "d", "change_type": "code", "reason": "r"})),
        )
        .unwrap();
        app.start_canary(
                &agent,
                &req(json!({"key": "pay", "environment": "development", "candidate_variant": "on", "reason": "r"})),
            )
            .unwrap();
        let start_seq = app.last_audit_seq().unwrap();
        for _ in 0..5 {
            let mut signals = flag.clone();
            signals["arm"] = json!("canary");
            signals["requests"] = json!(10);
            app.record_signals(&agent, &req::<RecordSignals>(signals))
                .unwrap();
        }
        let newest = app.last_audit_seq().unwrap();
        assert_eq!(newest, start_seq + 5, "each report is audited");

        let all = app.watched_since(0, 100).unwrap();
        let seqs: Vec<i64> = all.changes.iter().map(|c| c.seq).collect();
        assert_eq!(
            seqs,
            [start_seq - 1, start_seq],
            "create and start, no reports"
        );
        assert_eq!(all.through, newest);
        let after = app.watched_since(start_seq, 100).unwrap();
        assert!(after.changes.is_empty());
        assert_eq!(after.through, newest, "read through the reports");
        // A full page is read through its last change only: what follows it is read next.
        let first = app.watched_since(0, 1).unwrap();
        assert_eq!((first.changes.len(), first.through), (1, start_seq - 1));
    }

    /// A commit of evidence reports alone wakes what follows evidence (the controller), not what
    /// follows the trail's changes; a change wakes both.
    #[test]
    fn reports_wake_the_evidence_followers_only() {
        let policy = "version = 1\n[environments.development]\nagent_may = [\"start_canary\", \"record_signals\"]\n";
        let app = crate::app::for_tests(policy);
        let agent = Actor::Agent("claude".into());
        let (mut commits, mut told) = (app.commits(), app.told());
        app.create_flag(
            &agent,
            &req(json!({"key": "pay", "description": "d", "change_type": "code", "reason": "r"})),
        )
        .unwrap();
        assert!(commits.has_changed().unwrap() && told.has_changed().unwrap());
        commits.mark_unchanged();
        told.mark_unchanged();
        app.start_canary(
                &agent,
                &req(json!({"key": "pay", "environment": "development", "candidate_variant": "on", "reason": "r"})),
            )
            .unwrap();
        told.mark_unchanged();
        commits.mark_unchanged();
        let signals = json!({"key": "pay", "environment": "development", "reason": "r", "arm": "canary", "requests": 10});
        app.record_signals(&agent, &req::<RecordSignals>(signals))
            .unwrap();
        assert!(commits.has_changed().unwrap(), "the controller looks");
        assert!(!told.has_changed().unwrap(), "nothing to tell a watcher");
    }
}
