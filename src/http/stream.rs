//! `/api/v1/stream`: server-sent events of committed flag changes. One feed task reads the audit trail
//! after each commit (and polls, to see what the CLI commits from another process) and broadcasts;
//! each subscriber replays from `Last-Event-ID` out of the store, then follows the broadcast. Events
//! use OFREP's form (ADR-0008): type `message`, data `{"type": "refetchEvaluation", ...}`, so OFREP
//! providers refetch at once; the extra fields say what changed.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::{ApiError, Shared, blocking};
use crate::app::App;
use crate::app::Caller;
use crate::domain::audit::Change;

/// How often the feed looks for changes committed by other processes.
const POLL: Duration = Duration::from_millis(250);
/// Most events replayed or fetched at once.
const PAGE: u32 = 1000;

/// Broadcasts every committed change after audit event `last`, in order, until shutdown. The caller
/// reads `last` before it starts serving, so no subscriber can miss a change committed in between.
pub async fn feed(
    app: Arc<App>,
    tx: broadcast::Sender<Arc<Change>>,
    stop: CancellationToken,
    mut last: i64,
) {
    let mut commits = app.commits();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = commits.changed() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
        loop {
            let app = app.clone();
            let page =
                match tokio::task::spawn_blocking(move || app.changes_since(last, PAGE)).await {
                    Ok(Ok(page)) => page,
                    Ok(Err(e)) => {
                        tracing::warn!("change feed: {e}");
                        break;
                    }
                    Err(_) => break,
                };
            let full = page.changes.len() == PAGE as usize;
            for c in page.changes {
                let _ = tx.send(Arc::new(c)); // no subscribers is fine
            }
            last = page.through;
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
                    let events = self.catch_up().await.ok()?;
                    if !events.is_empty() {
                        return Some((events, self));
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// Every change after `last` from the store, page by page until a short page: what a resuming or
    /// lagging subscriber missed, however much it is.
    async fn catch_up(&mut self) -> Result<Vec<Event>, ApiError> {
        let mut out = Vec::new();
        loop {
            let (app, after) = (self.app.clone(), self.last);
            let page = blocking(move || app.changes_since(after, PAGE)).await?;
            let full = page.changes.len() == PAGE as usize;
            for c in page.changes {
                if self.wants(&c) {
                    out.push(event(&c));
                }
            }
            self.last = self.last.max(page.through);
            if !full {
                return Ok(out);
            }
        }
    }
}

/// `GET /api/v1/stream[?environment=e]`, resuming after `Last-Event-ID` when given. A token bound to an
/// environment hears only that one.
pub async fn subscribe(
    State(s): State<Shared>,
    Extension(who): Extension<Caller>,
    query: Result<Query<StreamQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let env = match (q.environment, &who.environment) {
        (Some(e), Some(bound)) if e != *bound => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "token {:?} is bound to environment {bound:?}, not {e:?}",
                    who.name
                ),
            ));
        }
        (Some(e), _) => Some(e),
        (None, bound) => bound.clone(),
    };
    if let Some(env) = &env {
        crate::app::check_env(&s.app.policy().policy, env)?;
    }
    let resume = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|t| t.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    ApiError::invalid(
                        "Last-Event-ID",
                        "expected the id of an event this stream sent (a number)",
                    )
                })?,
        ),
    };
    // Subscribe before reading the store, so nothing committed in between is missed.
    let rx = s.changes.subscribe();
    let app = s.app.clone();
    let newest = {
        let a = app.clone();
        blocking(move || a.last_audit_seq()).await?
    };
    let mut follow = Follow {
        app,
        rx,
        // An id from the future (a restored or re-created store) resumes from now, not never.
        last: resume.map_or(newest, |r| r.min(newest)),
        env,
    };
    let replay = if resume.is_some() {
        follow.catch_up().await?
    } else {
        Vec::new()
    };
    let live = stream::unfold(follow, Follow::next).flat_map(stream::iter);
    let events = stream::iter(replay)
        .chain(live)
        .map(Ok)
        .take_until(s.shutdown.clone().cancelled_owned());
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
