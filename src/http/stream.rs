//! `/api/v1/stream`: server-sent events of committed flag changes. One feed task reads the audit trail
//! after each commit (and polls, to see what the CLI commits from another process) and broadcasts;
//! each subscriber replays from `Last-Event-ID` out of the store, then follows the broadcast. Events
//! use OFREP's form (ADR-0008): type `message`, data `{"type": "refetchEvaluation", ...}`, so OFREP
//! providers refetch at once; the extra fields say what changed.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::{ApiError, Shared, blocking};
use crate::app::App;
use crate::store::Change;

/// How often the feed looks for changes committed by other processes.
const POLL: Duration = Duration::from_millis(250);
/// Most events replayed or fetched at once.
const PAGE: u32 = 1000;

/// Broadcasts every committed change, in order, until shutdown.
pub async fn feed(app: Arc<App>, tx: broadcast::Sender<Arc<Change>>, stop: CancellationToken) {
    let commits = app.commits();
    let mut last = {
        let app = app.clone();
        tokio::task::spawn_blocking(move || app.last_audit_seq())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(0)
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = commits.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
        loop {
            let app = app.clone();
            let page = match tokio::task::spawn_blocking(move || app.changes_since(last, PAGE)).await {
                Ok(Ok(page)) => page,
                Ok(Err(e)) => {
                    tracing::warn!("change feed: {e}");
                    break;
                }
                Err(_) => break,
            };
            let full = page.len() == PAGE as usize;
            for c in page {
                last = c.seq;
                let _ = tx.send(Arc::new(c)); // no subscribers is fine
            }
            if !full {
                break;
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    #[serde(default)]
    environment: Option<String>,
}

fn event(c: &Change) -> Event {
    Event::default().id(c.seq.to_string()).data(
        json!({
            "type": "refetchEvaluation",
            "seq": c.seq,
            "flag": c.flag,
            "environment": c.environment,
            "action": c.action,
            "at": c.at,
        })
        .to_string(),
    )
}

struct Follow {
    app: Arc<App>,
    rx: broadcast::Receiver<Arc<Change>>,
    last: i64,
    env: Option<String>,
}

impl Follow {
    fn wants(&self, c: &Change) -> bool {
        c.seq > self.last
            && match (&self.env, &c.environment) {
                (Some(want), Some(env)) => want == env,
                _ => true, // flag-wide changes reach every environment
            }
    }

    /// The next events: the broadcast's, or after a lag, the missed ones from the store.
    async fn next(mut self) -> Option<(Vec<Event>, Follow)> {
        loop {
            match self.rx.recv().await {
                Ok(c) => {
                    if self.wants(&c) {
                        self.last = c.seq;
                        return Some((vec![event(&c)], self));
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    let (app, after) = (self.app.clone(), self.last);
                    let missed = blocking(move || app.changes_since(after, PAGE)).await.ok()?;
                    let events = self.take(missed);
                    if !events.is_empty() {
                        return Some((events, self));
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    fn take(&mut self, changes: Vec<Change>) -> Vec<Event> {
        let mut out = Vec::new();
        for c in changes {
            if self.wants(&c) {
                out.push(event(&c));
            }
            self.last = self.last.max(c.seq);
        }
        out
    }
}

/// `GET /api/v1/stream[?environment=e]`, resuming after `Last-Event-ID` when given.
pub async fn subscribe(
    State(s): State<Shared>,
    Query(q): Query<StreamQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if let Some(env) = &q.environment {
        crate::app::check_env(&s.app.policy().policy, env)?;
    }
    let resume = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|t| t.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    ApiError::invalid("Last-Event-ID", "expected the id of an event this stream sent (a number)")
                })?,
        ),
    };
    // Subscribe before reading the backlog, so nothing committed in between is missed.
    let rx = s.changes.subscribe();
    let app = s.app.clone();
    let (last, backlog) = match resume {
        Some(after) => {
            let a = app.clone();
            (after, blocking(move || a.changes_since(after, PAGE)).await?)
        }
        None => {
            let a = app.clone();
            (blocking(move || a.last_audit_seq()).await?, Vec::new())
        }
    };
    let mut follow = Follow {
        app,
        rx,
        last,
        env: q.environment,
    };
    let replay = follow.take(backlog);
    let live = stream::unfold(follow, Follow::next).flat_map(stream::iter);
    let events = stream::iter(replay)
        .chain(live)
        .map(Ok)
        .take_until(s.shutdown.clone().cancelled_owned());
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
