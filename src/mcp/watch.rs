//! Watching instead of polling: resource subscriptions and `canary_status`'s bounded wait, both fed
//! by the App's watch feed (`App::watch`, every committed change from this process or another).
//!
//! - 2025-era sessions (`resources/subscribe`): a session's subscribed URIs live in its
//!   `Subscriptions`; the first subscribe starts one task that follows the feed and sends
//!   `notifications/resources/updated` for each subscribed URI a change touches. The task ends with
//!   the session (the `Subscriptions` is dropped with the session's `Server`) or when the peer is
//!   gone. Over HTTP these ride the session's standalone SSE stream, which the event store
//!   (`http/events.rs`) makes resumable.
//! - 2026-07-28 (`subscriptions/listen`): the URIs a listen request names, followed for as long as
//!   the request stays open, sent through its subscription sink.
//! - `canary_status` with `wait_s`: answers at once when the state changed after `since`, else
//!   waits on the feed (holding no store connection and no thread) until a change to that flag in
//!   that environment, or the wait ends, then reads again.
//!
//! A follower reads the newest audit seq before it subscribes to the feed, and after a lag reads
//! what it missed from the store, so a burst of commits never loses an update.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::RoleServer;
use rmcp::model::ResourceUpdatedNotificationParam;
use rmcp::service::{Peer, SubscriptionContext};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio_util::sync::CancellationToken;

use super::refusal::Refused;
use super::resources::{Uri, touched};
use crate::app::{App, CanaryQuery, CanaryStatus, FlagEnv, invalid};
use crate::domain::audit::Change;

/// The longest `canary_status` waits.
pub const MAX_WAIT_S: u32 = 60;
/// Most changes read from the store at once after a lag.
const PAGE: u32 = 1000;

/// Runs a short `App` read on the blocking pool.
async fn blocking<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&App) -> crate::app::Result<T> + Send + 'static,
) -> Result<T, Refused> {
    let app = app.clone();
    match tokio::task::spawn_blocking(move || f(&app)).await {
        Ok(r) => r.map_err(Refused::from),
        Err(e) => {
            tracing::error!("read task failed: {e}");
            Err(Refused::internal(
                "internal error: the read failed; retry, and report it if it persists",
            ))
        }
    }
}

/// Follows the watch feed from the moment it starts, in order, without gaps.
struct Follower {
    app: Arc<App>,
    rx: broadcast::Receiver<Arc<Change>>,
    last: i64,
}

impl Follower {
    async fn start(app: &Arc<App>) -> Result<Follower, Refused> {
        let last = blocking(app, |a| a.last_audit_seq()).await?;
        Ok(Follower {
            app: app.clone(),
            rx: app.watch(),
            last,
        })
    }

    /// The next changes (at least one, unless they were all older than the start), waiting for
    /// them; `None` once the feed is gone.
    async fn next(&mut self) -> Option<Vec<Arc<Change>>> {
        let mut out = Vec::new();
        match self.rx.recv().await {
            Ok(c) => self.take(c, &mut out),
            Err(RecvError::Lagged(_)) => self.catch_up(&mut out).await,
            Err(RecvError::Closed) => return None,
        }
        // What else is ready goes out together, so a burst becomes one update per URI.
        loop {
            match self.rx.try_recv() {
                Ok(c) => self.take(c, &mut out),
                Err(TryRecvError::Lagged(_)) => self.catch_up(&mut out).await,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => break,
            }
        }
        Some(out)
    }

    fn take(&mut self, c: Arc<Change>, out: &mut Vec<Arc<Change>>) {
        if c.seq > self.last {
            self.last = c.seq;
            out.push(c);
        }
    }

    /// Everything after `last` from the store: what the broadcast dropped while this one lagged.
    async fn catch_up(&mut self, out: &mut Vec<Arc<Change>>) {
        loop {
            let after = self.last;
            let page = match blocking(&self.app, move |a| a.watched_since(after, PAGE)).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!("resource updates: catching up failed: {e}");
                    return;
                }
            };
            let full = page.changes.len() == PAGE as usize;
            for c in page.changes {
                self.take(Arc::new(c), out);
            }
            self.last = self.last.max(page.through);
            if !full {
                return;
            }
        }
    }
}

/// The URIs among `subscribed` that `changes` touch, each once, in the order first touched.
fn updated(changes: &[Arc<Change>], subscribed: &HashSet<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for uri in changes.iter().flat_map(|c| touched(c)) {
        if subscribed.contains(&uri) && !out.contains(&uri) {
            out.push(uri);
        }
    }
    out
}

/// One 2025-era session's subscriptions. Dropping it (the session ended) stops its task.
#[derive(Default)]
pub struct Subscriptions {
    uris: Arc<Mutex<HashSet<String>>>,
    started: Mutex<bool>,
    stop: CancellationToken,
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Subscriptions {
    fn uris(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.uris.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribes the session to `uri` (already checked to exist); starts its follower once. The
    /// follower is subscribed to the feed before this returns, so any change committed after the
    /// subscribe is answered is told.
    pub async fn subscribe(
        &self,
        app: &Arc<App>,
        uri: String,
        peer: Peer<RoleServer>,
    ) -> Result<(), Refused> {
        let start = {
            let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
            !std::mem::replace(&mut *started, true)
        };
        if start {
            let follower = match Follower::start(app).await {
                Ok(f) => f,
                Err(e) => {
                    *self.started.lock().unwrap_or_else(|p| p.into_inner()) = false;
                    return Err(e);
                }
            };
            tokio::spawn(notify_session(
                follower,
                self.uris.clone(),
                peer,
                self.stop.clone(),
            ));
        }
        self.uris().insert(uri);
        Ok(())
    }

    /// Whether the session was subscribed to `uri`; it no longer is.
    pub fn unsubscribe(&self, uri: &str) -> bool {
        self.uris().remove(uri)
    }
}

async fn notify_session(
    mut follower: Follower,
    uris: Arc<Mutex<HashSet<String>>>,
    peer: Peer<RoleServer>,
    stop: CancellationToken,
) {
    loop {
        let changes = tokio::select! {
            _ = stop.cancelled() => return,
            c = follower.next() => match c { Some(c) => c, None => return },
        };
        let send = {
            let subscribed = uris.lock().unwrap_or_else(|p| p.into_inner());
            updated(&changes, &subscribed)
        };
        for uri in send {
            let param = ResourceUpdatedNotificationParam::new(uri);
            if let Err(e) = peer.notify_resource_updated(param).await {
                tracing::debug!("resource updates stop: the client is gone ({e})");
                return;
            }
        }
    }
}

/// Serves one 2026-07-28 `subscriptions/listen` request until the client cancels it.
pub async fn listen(app: &Arc<App>, cx: SubscriptionContext) -> Result<(), rmcp::ErrorData> {
    let subscribed: HashSet<String> = cx
        .accepted()
        .resource_subscriptions
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut follower = Follower::start(app).await.map_err(|_| {
        rmcp::ErrorData::internal_error("cannot follow changes now; listen again", None)
    })?;
    loop {
        let changes = tokio::select! {
            _ = cx.cancelled() => return Ok(()),
            c = follower.next() => match c { Some(c) => c, None => return Ok(()) },
        };
        for uri in updated(&changes, &subscribed) {
            if let Err(e) = cx.sink().notify_resource_updated(uri).await {
                tracing::debug!("listen ends: {e}");
                return Ok(());
            }
        }
    }
}

/// `canary_status`, answering at once, or after a change or the end of `wait_s`. See the module docs.
pub async fn canary_status(app: &Arc<App>, q: CanaryQuery) -> Result<CanaryStatus, Refused> {
    let wait = q.wait_s.unwrap_or(0);
    if wait > MAX_WAIT_S {
        return Err(Refused::from(invalid(
            "wait_s",
            format!(
                "wait at most {MAX_WAIT_S} seconds; to wait longer, call again with the seq you got"
            ),
        )));
    }
    let at = FlagEnv {
        key: q.key.clone(),
        environment: q.environment.clone(),
    };
    if wait == 0 {
        return blocking(app, move |a| a.canary_status(&at)).await;
    }
    // Follow before reading, so a change committed after the read wakes the wait.
    let mut follower = Follower::start(app).await?;
    let first = {
        let at = at.clone();
        blocking(app, move |a| a.canary_status(&at)).await?
    };
    let since = q.since.unwrap_or(first.seq);
    if first.seq > since {
        return Ok(first);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait.into());
    loop {
        let changes = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            c = follower.next() => match c { Some(c) => c, None => break },
        };
        let here = |c: &Arc<Change>| {
            c.flag == q.key
                && c.seq > since
                && c.environment.as_deref().is_none_or(|e| e == q.environment)
        };
        if changes.iter().any(here) {
            break;
        }
    }
    blocking(app, move |a| a.canary_status(&at)).await
}

/// The URI a subscribe or unsubscribe names, checked to exist (a read that fails says why).
pub async fn resolve(app: &Arc<App>, raw: &str) -> Result<Uri, rmcp::ErrorData> {
    let uri = Uri::parse(raw)?;
    let (u, r) = (uri.clone(), raw.to_owned());
    let app = app.clone();
    tokio::task::spawn_blocking(move || super::resources::read(&app, &r, &u).map(|_| ()))
        .await
        .map_err(|e| rmcp::ErrorData::internal_error(format!("the read stopped: {e}"), None))??;
    Ok(uri)
}
