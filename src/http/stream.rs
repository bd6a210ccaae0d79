//! `/api/v1/stream`: server-sent events of committed flag changes. One feed task reads the audit trail
//! after each commit that is not only evidence reports (and polls, to see what the CLI commits from another process) and broadcasts;
//! each subscriber replays from `Last-Event-ID` out of the store, then follows the broadcast. Events
//! use OFREP's form (ADR-0008): type `message`, data `{"type": "refetchEvaluation", ...}`, so OFREP
//! providers refetch at once; the extra fields say what changed. Release notices (a rollout's
//! start, steps, holds, pauses, completion, rollbacks, approvals and emergencies) follow the change
//! of the same audit event as SSE type `release` for a subscriber that asks (`?notices=true`), data
//! the webhooks' generic JSON body with its release note.

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
use crate::domain::policy::WebhookFormat;
use crate::notify::{Notice, body, classify, with_release_note};

/// How often the feed looks for changes committed by other processes.
const POLL: Duration = Duration::from_millis(250);
/// Most events replayed or fetched at once.
const PAGE: u32 = 1000;

/// What the stream sends: a committed flag change, or a release notice.
pub enum Item {
    Change(Change),
    Notice(Box<Notice>),
}

impl Item {
    fn seq(&self) -> i64 {
        match self {
            Item::Change(c) => c.seq,
            Item::Notice(n) => n.audit_seq,
        }
    }

    fn environment(&self) -> Option<&str> {
        match self {
            Item::Change(c) => c.environment.as_deref(),
            Item::Notice(n) => n.environment.as_deref(),
        }
    }
}

/// The items of audit events after `after`, in order (each event's change, then its notices with
/// their release notes), and the sequence number read through. Blocking: reads through `App`.
fn items_after(app: &App, after: i64) -> Result<(Vec<Item>, i64, bool), crate::app::AppError> {
    let (events, through) = app.audit_after(after, PAGE)?;
    let full = events.len() == PAGE as usize;
    let mut out = Vec::new();
    for e in &events {
        // What `changes_since` reads: an allowed change to a flag.
        if e.decision == "allow"
            && let Some(flag) = &e.flag
        {
            out.push(Item::Change(Change {
                seq: e.seq,
                flag: flag.clone(),
                environment: e.env.clone(),
                action: e.action.clone(),
                at: e.ts.clone(),
                rollout: e.rollout_id,
            }));
        }
        out.extend(
            classify(e)
                .into_iter()
                .filter_map(|n| with_release_note(app, n, "change stream"))
                .map(|n| Item::Notice(Box::new(n))),
        );
    }
    Ok((out, through, full))
}

/// Broadcasts every committed change and release notice after audit event `last`, in order, until
/// shutdown. The caller reads `last` before it starts serving, so no subscriber can miss one
/// committed in between.
pub async fn feed(
    app: Arc<App>,
    tx: broadcast::Sender<Arc<Item>>,
    stop: CancellationToken,
    mut last: i64,
) {
    let mut commits = app.told();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = commits.changed() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
        loop {
            let app = app.clone();
            let page = match tokio::task::spawn_blocking(move || items_after(&app, last)).await {
                Ok(Ok(page)) => page,
                Ok(Err(e)) => {
                    tracing::warn!("change feed: {e}");
                    break;
                }
                Err(_) => break,
            };
            let (items, through, full) = page;
            for item in items {
                let _ = tx.send(Arc::new(item)); // no subscribers is fine
            }
            last = last.max(through);
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
    /// `notices=true`: release notices too (SSE type `release`); off by default, so a subscriber
    /// that reads every event as a change is not sent what it does not know.
    #[serde(default)]
    notices: bool,
}

fn event(item: &Item) -> Event {
    match item {
        Item::Change(c) => Event::default().id(c.seq.to_string()).data(
            json!({
                "type": "refetchEvaluation",
                "seq": c.seq,
                "flag": c.flag,
                "environment": c.environment,
                "action": c.action,
                "at": c.at,
            })
            .to_string(),
        ),
        Item::Notice(n) => Event::default()
            .id(n.audit_seq.to_string())
            .event("release")
            .data(body(WebhookFormat::Json, n).to_string()),
    }
}

struct Follow {
    app: Arc<App>,
    rx: broadcast::Receiver<Arc<Item>>,
    /// The audit event of the last item sent.
    last: i64,
    /// Every event through this one was sent (or was before the subscriber's start).
    resumed: i64,
    /// Whether release notices are sent too (`?notices=true`).
    notices: bool,
    env: Option<String>,
}

impl Follow {
    /// Whether this subscriber is sent `item`. An item of the last event sent is still sent (an
    /// event's change and its notices share a sequence number); `catch_up` reads whole events.
    fn wants(&self, item: &Item) -> bool {
        (self.notices || matches!(item, Item::Change(_)))
            && item.seq() >= self.last
            && item.seq() > self.resumed
            && match (&self.env, item.environment()) {
                (Some(want), Some(env)) => want == env,
                _ => true, // flag-wide changes reach every environment
            }
    }

    /// The next events: the broadcast's, or after a lag, the missed ones from the store.
    async fn next(mut self) -> Option<(Vec<Event>, Follow)> {
        loop {
            match self.rx.recv().await {
                Ok(item) => {
                    if self.wants(&item) {
                        self.last = item.seq();
                        return Some((vec![event(&item)], self));
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

    /// Every change and notice after `resumed` from the store, page by page until a short page:
    /// what a resuming or lagging subscriber missed, however much it is.
    async fn catch_up(&mut self) -> Result<Vec<Event>, ApiError> {
        let mut out = Vec::new();
        loop {
            let (app, after) = (self.app.clone(), self.resumed.max(self.last));
            let (items, through, full) = blocking(move || items_after(&app, after)).await?;
            for item in &items {
                if self.wants(item) {
                    out.push(event(item));
                }
            }
            // Everything through `through` is read: the broadcast's copies of it are not sent again.
            self.resumed = self.resumed.max(through);
            self.last = self.last.max(through);
            if !full {
                return Ok(out);
            }
        }
    }
}

/// `GET /api/v1/stream[?environment=e][&notices=true]`, resuming after `Last-Event-ID` when given. A token bound to an
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
    // An id from the future (a restored or re-created store) resumes from now, not never.
    let from = resume.map_or(newest, |r| r.min(newest));
    let mut follow = Follow {
        app,
        rx,
        last: from,
        resumed: from,
        env,
        notices: q.notices,
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
