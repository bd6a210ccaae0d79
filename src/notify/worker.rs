//! Delivery: one worker per webhook follows the audit trail from its cursor, woken by the commit
//! signal and polling for what other processes commit, and POSTs each notice in order with a
//! timeout, retrying with capped exponential backoff a bounded number of times. Nothing here runs
//! inside a commit, so a dead or hanging receiver slows no rollback and no other receiver.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::SignedDuration;
use serde_json::Value;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::cursor::{
    Turn, cursor_key, format_name, init_cursors, json_text, read_cursor, settle, take_turn,
};
use super::{Notice, body, classify, digest_body, with_release_note};
use crate::app::{App, AppError};
use crate::domain::policy::Webhook;

// ---- how to retry --------------------------------------------------------------------------------

/// How hard a worker tries one notice.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Wait after the first failed attempt; each further wait doubles, up to `cap`.
    pub first: Duration,
    pub cap: Duration,
    /// How long one attempt may take, connecting included.
    pub timeout: Duration,
}

impl Retry {
    /// About two and a half minutes of trying, at most: long enough to ride out a receiver's restart.
    pub const DEFAULT: Retry = Retry {
        attempts: 8,
        first: Duration::from_secs(1),
        cap: Duration::from_secs(30),
        timeout: Duration::from_secs(10),
    };

    /// The wait after failed attempt `n` (1-based).
    pub fn backoff(&self, n: u32) -> Duration {
        let doubled = self
            .first
            .checked_mul(1 << n.saturating_sub(1).min(30))
            .unwrap_or(self.cap);
        doubled.min(self.cap)
    }

    /// The longest one notice can take, every attempt timing out.
    pub fn longest(&self) -> Duration {
        let waits: Duration = (1..self.attempts).map(|n| self.backoff(n)).sum();
        waits + self.timeout * self.attempts
    }
}

/// The URL's scheme and host, for logs: the path of a Slack webhook URL is its secret.
fn redacted(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{scheme}://{host}/…")
}

// ---- delivery --------------------------------------------------------------------------------

/// How often a worker looks for events committed by other processes (the CLI).
const POLL: Duration = Duration::from_millis(250);
/// Most events read at once.
const PAGE: u32 = 200;
/// How long a stopping process still tries the events it has not sent (once each, no backoff).
const GRACE: Duration = Duration::from_secs(3);

/// Delivery counts since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct Deliveries {
    delivered: AtomicU64,
    retried: AtomicU64,
    gave_up: AtomicU64,
}

impl Deliveries {
    /// `(result, count)`: notices delivered, failed attempts retried, notices given up on.
    pub fn counts(&self) -> [(&'static str, u64); 3] {
        [
            ("delivered", self.delivered.load(Ordering::Relaxed)),
            ("retried", self.retried.load(Ordering::Relaxed)),
            ("gave_up", self.gave_up.load(Ordering::Relaxed)),
        ]
    }
}

/// Why notifications could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("webhooks[{index}].url {url:?} is not a URL: {message}")]
    Url {
        index: usize,
        url: String,
        message: String,
    },
    #[error("cannot make the webhook HTTP client: {0}")]
    Client(String),
    #[error("cannot read the webhook cursors: {0}")]
    Store(String),
}

/// The running workers, one per webhook.
pub struct Notifier {
    stop: CancellationToken,
    tasks: JoinSet<()>,
    app: Arc<App>,
    keys: Vec<String>,
    me: String,
}

impl Notifier {
    /// Starts a worker per webhook in the policy, or returns `None` when there are none. A new
    /// webhook starts at the newest audit event (it is not sent the past); a known one resumes
    /// where it left off. Every cursor is read before this returns, so nothing committed after it
    /// is missed. Call it inside the runtime.
    pub async fn start(
        app: Arc<App>,
        retry: Retry,
        deliveries: Arc<Deliveries>,
    ) -> Result<Option<Notifier>, StartError> {
        let hooks = app.policy().policy.webhooks.clone();
        if hooks.is_empty() {
            return Ok(None);
        }
        for (index, hook) in hooks.iter().enumerate() {
            reqwest::Url::parse(&hook.url).map_err(|e| StartError::Url {
                index,
                url: redacted(&hook.url),
                message: e.to_string(),
            })?;
        }
        let client = client(&retry).map_err(|e| StartError::Client(e.to_string()))?;
        let me = {
            let mut n = [0u8; 8];
            getrandom::fill(&mut n).map_err(|e| StartError::Client(e.to_string()))?;
            hex::encode(n)
        };
        let keys: Vec<String> = hooks.iter().map(cursor_key).collect();
        let positions = {
            let (app, keys) = (app.clone(), keys.clone());
            tokio::task::spawn_blocking(move || init_cursors(&app, &keys))
                .await
                .map_err(|e| StartError::Store(e.to_string()))?
                .map_err(|e| StartError::Store(e.to_string()))?
        };
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        for ((hook, key), position) in hooks.into_iter().zip(&keys).zip(positions) {
            tracing::info!(
                "webhook {} ({}) follows the audit trail from event {position}",
                redacted(&hook.url),
                format_name(hook.format)
            );
            let worker = Worker {
                app: app.clone(),
                name: redacted(&hook.url),
                hook,
                key: key.clone(),
                me: me.clone(),
                client: client.clone(),
                retry,
                ttl: SignedDuration::try_from(retry.longest() + Duration::from_secs(60))
                    .unwrap_or(SignedDuration::from_hours(1)),
                stop: stop.clone(),
                deliveries: deliveries.clone(),
                position,
                pending: Vec::new(),
                pending_since: None,
            };
            tasks.spawn(worker.run());
        }
        Ok(Some(Notifier {
            stop,
            tasks,
            app,
            keys,
            me,
        }))
    }

    /// Stops the workers: each tries what it has not sent once more, for up to `GRACE`; whatever is
    /// still unsent then is sent at the next start.
    pub async fn stop(mut self) {
        self.stop.cancel();
        let finished = tokio::time::timeout(GRACE, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            self.tasks.shutdown().await;
            tracing::warn!(
                "webhook deliveries still in flight at shutdown are sent at the next start"
            );
            // Drop this process's claims so the next start need not wait for them to expire.
            let (app, keys, me) = (self.app, self.keys, self.me);
            let released = tokio::task::spawn_blocking(move || {
                keys.iter().try_for_each(|key| {
                    app.update_meta(key, |stored| {
                        (
                            read_cursor(stored).map(|c| json_text(&settle(&c, &me, None))),
                            (),
                        )
                    })
                })
            })
            .await;
            if let Ok(Err(e)) = released {
                tracing::warn!("webhook claims not released: {e}");
            }
        }
    }
}

/// One client for every worker. Redirects are not followed: a webhook URL names its receiver.
fn client(retry: &Retry) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(retry.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("flagwarden/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Why a worker paused until its next look.
#[derive(Debug, thiserror::Error)]
enum Pause {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("a store task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// How a catch-up ended.
enum Flow {
    CaughtUp,
    /// Another process is sending the next event.
    Busy,
    /// Shutdown came while an event was unsent.
    Stopped,
}

/// How one notice went.
#[derive(PartialEq, Eq)]
enum Sent {
    Delivered,
    GaveUp,
    /// Shutdown came first; it is sent at the next start.
    Interrupted,
}

struct Worker {
    app: Arc<App>,
    hook: Webhook,
    /// The URL without its secret, for logs.
    name: String,
    key: String,
    /// This process, in claims.
    me: String,
    client: reqwest::Client,
    retry: Retry,
    ttl: SignedDuration,
    stop: CancellationToken,
    deliveries: Arc<Deliveries>,
    /// The last audit event looked at.
    position: i64,
    /// A digest webhook's notices not yet sent, oldest first, and when the first of them happened.
    pending: Vec<Notice>,
    pending_since: Option<jiff::Timestamp>,
}

impl Worker {
    async fn run(mut self) {
        let mut commits = self.app.told();
        loop {
            let draining = self.stop.is_cancelled();
            match self.catch_up(draining).await {
                Ok(Flow::Stopped) => return,
                Ok(Flow::CaughtUp | Flow::Busy) => {}
                Err(e) => tracing::warn!("webhook {}: delivery paused: {e}", self.name),
            }
            if draining {
                return;
            }
            tokio::select! {
                _ = self.stop.cancelled() => {}
                _ = commits.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&App) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, Pause> {
        let app = self.app.clone();
        Ok(tokio::task::spawn_blocking(move || f(&app)).await??)
    }

    /// Sends what was committed since `position`, in order. A digest webhook holds the notices that
    /// are not urgent in `pending` until its interval is up; an urgent one sends the pending digest
    /// first, then itself, so order holds. The cursor moves past a held notice only once the digest
    /// carrying it was delivered, so a restart mid-digest reads those events again.
    async fn catch_up(&mut self, draining: bool) -> Result<Flow, Pause> {
        loop {
            let after = self.position;
            let (events, through) = self
                .blocking(move |app| app.audit_after(after, PAGE))
                .await?;
            for e in &events {
                let wanted: Vec<Notice> = classify(e)
                    .into_iter()
                    .filter(|n| self.hook.wants(n.event, n.environment.as_deref()))
                    .collect();
                let notices = self.enrich(wanted).await;
                if !notices.is_empty() {
                    if self.hook.digest.is_some() && !notices.iter().any(|n| n.event.urgent()) {
                        if self.pending.is_empty() {
                            // From the event's own time, not from when this process read it: a
                            // restart mid-digest (which reads the events again) keeps the interval.
                            self.pending_since =
                                Some(e.ts.parse().unwrap_or_else(|_| self.app.now()));
                        }
                        self.pending.extend(notices);
                        self.position = e.seq;
                        continue;
                    }
                    match self.take_turn(e.seq).await? {
                        Turn::Done => self.pending.clear(), // sent by another process, digest and all
                        Turn::Busy => return Ok(Flow::Busy),
                        Turn::Mine => {
                            if !self.pending.is_empty() {
                                if self.deliver_digest(draining).await == Sent::Interrupted {
                                    self.settle(None).await?;
                                    return Ok(Flow::Stopped);
                                }
                                self.pending.clear();
                            }
                            for n in &notices {
                                if self.deliver(n, draining).await == Sent::Interrupted {
                                    self.settle(None).await?;
                                    return Ok(Flow::Stopped);
                                }
                            }
                            self.settle(Some(e.seq)).await?;
                        }
                    }
                }
                self.position = e.seq;
            }
            self.position = self.position.max(through);
            if events.len() < PAGE as usize {
                return self.flush_due(draining).await;
            }
        }
    }

    /// Sends the pending digest when its interval is up (or at shutdown), claiming the last event
    /// it carries; the cursor then moves past every event in it.
    async fn flush_due(&mut self, draining: bool) -> Result<Flow, Pause> {
        let (Some(every), Some(since)) = (self.hook.digest, self.pending_since) else {
            return Ok(Flow::CaughtUp);
        };
        if self.pending.is_empty() || (!draining && self.app.now() < since + every) {
            return Ok(Flow::CaughtUp);
        }
        let last = self.pending.last().map_or(0, |n| n.audit_seq);
        match self.take_turn(last).await? {
            Turn::Done => {}
            Turn::Busy => return Ok(Flow::Busy),
            Turn::Mine => {
                if self.deliver_digest(draining).await == Sent::Interrupted {
                    self.settle(None).await?;
                    return Ok(Flow::Stopped);
                }
                self.settle(Some(last)).await?;
            }
        }
        self.pending.clear();
        self.pending_since = None;
        Ok(Flow::CaughtUp)
    }

    async fn deliver_digest(&self, draining: bool) -> Sent {
        let body = digest_body(self.hook.format, &self.pending);
        let (first, last) = (
            self.pending.first().map_or(0, |n| n.audit_seq),
            self.pending.last().map_or(0, |n| n.audit_seq),
        );
        let what = format!(
            "a digest of {} notices (events {first} to {last})",
            self.pending.len()
        );
        self.post_retrying(&body, &what, draining).await
    }

    /// Adds each notice's release note (`with_release_note`, on the blocking pool) and drops a
    /// hold that is no news.
    async fn enrich(&self, notices: Vec<Notice>) -> Vec<Notice> {
        if notices.is_empty() {
            return notices;
        }
        let name = self.name.clone();
        self.blocking(move |app| {
            Ok(notices
                .into_iter()
                .filter_map(|n| with_release_note(app, n, &name))
                .collect())
        })
        .await
        .unwrap_or_else(|e| {
            tracing::warn!("webhook {}: release notes not read: {e}", self.name);
            Vec::new()
        })
    }

    /// Claims event `seq` for this worker unless it was sent or another process is sending it.
    async fn take_turn(&self, seq: i64) -> Result<Turn, Pause> {
        let (key, me, ttl) = (self.key.clone(), self.me.clone(), self.ttl);
        self.blocking(move |app| {
            let now = app.now();
            // Look first, so a process that waits for another one's claim takes no write lock.
            let stored = app.meta(&key)?;
            let seen = read_cursor(stored.as_deref()).unwrap_or_default();
            if let (None, turn) = take_turn(&seen, seq, &me, now, ttl) {
                return Ok(turn);
            }
            app.update_meta(&key, |stored| {
                let current = read_cursor(stored).unwrap_or_default();
                let (next, turn) = take_turn(&current, seq, &me, now, ttl);
                (next.map(|c| json_text(&c)), turn)
            })
        })
        .await
    }

    async fn settle(&self, done: Option<i64>) -> Result<(), Pause> {
        let (key, me) = (self.key.clone(), self.me.clone());
        self.blocking(move |app| {
            app.update_meta(&key, |stored| {
                let c = settle(&read_cursor(stored).unwrap_or_default(), &me, done);
                (Some(json_text(&c)), ())
            })
        })
        .await
    }

    /// Sends one notice, retrying; while draining, once.
    async fn deliver(&self, n: &Notice, draining: bool) -> Sent {
        let body = body(self.hook.format, n);
        let what = format!("{} of event {}", n.event.as_str(), n.audit_seq);
        self.post_retrying(&body, &what, draining).await
    }

    async fn post_retrying(&self, body: &Value, what: &str, draining: bool) -> Sent {
        let attempts = if draining {
            1
        } else {
            self.retry.attempts.max(1)
        };
        let mut attempt = 1;
        loop {
            let why = match self.post(body).await {
                Ok(()) => {
                    self.deliveries.delivered.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("webhook {}: sent {what}", self.name);
                    return Sent::Delivered;
                }
                Err(why) => why,
            };
            if attempt >= attempts {
                if draining {
                    tracing::info!(
                        "webhook {}: {what} not sent before shutdown ({why}); it is sent at the next start",
                        self.name
                    );
                    return Sent::Interrupted;
                }
                self.deliveries.gave_up.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "webhook {}: gave up on {what} after {attempts} attempts: {why}",
                    self.name
                );
                return Sent::GaveUp;
            }
            let wait = self.retry.backoff(attempt);
            self.deliveries.retried.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                "webhook {}: attempt {attempt} of {what} failed ({why}); retrying in {wait:?}",
                self.name
            );
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.stop.cancelled() => return Sent::Interrupted,
            }
            attempt += 1;
        }
    }

    /// One POST; any 2xx answer is a delivery.
    async fn post(&self, body: &Value) -> Result<(), String> {
        let res = self.client.post(&self.hook.url).json(body).send().await;
        match res {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("answered {}", r.status())),
            Err(e) if e.is_timeout() => Err(format!("no answer within {:?}", self.retry.timeout)),
            Err(e) => {
                // reqwest's message names the URL, and the URL is a secret: name the causes only.
                let e = e.without_url();
                let mut why = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    why = format!("{why}: {c}");
                    cause = c.source();
                }
                Err(why)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::app::types::*;
    use crate::notify::cursor::Cursor;
    use crate::notify::fixtures::{POLICY, app, human, req};

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let r = Retry::DEFAULT;
        let waits: Vec<u64> = (1..r.attempts).map(|n| r.backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(r.longest(), Duration::from_secs(91 + 80));
        assert_eq!(r.backoff(200), r.cap);
    }

    /// The client speaks TLS (Slack's webhooks are https): against a listener that answers in plain
    /// HTTP, an https POST fails in the TLS handshake, not for want of TLS support.
    #[tokio::test]
    async fn https_is_spoken() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            while let Ok((mut socket, _)) = listener.accept().await {
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let e = client(&Retry::DEFAULT)
            .unwrap()
            .post(format!("https://127.0.0.1:{port}/hook"))
            .json(&json!({}))
            .send()
            .await
            .unwrap_err();
        let mut chain = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            chain = format!("{chain}: {c}");
            cause = c.source();
        }
        // rustls read the plain HTTP answer as a broken TLS record (without TLS, reqwest would say
        // the scheme is not http).
        assert!(chain.contains("corrupt message"), "{chain}");
    }

    async fn next(requests: &mut tokio::sync::mpsc::UnboundedReceiver<Value>) -> Value {
        tokio::time::timeout(Duration::from_secs(20), requests.recv())
            .await
            .expect("a request within 20 s")
            .expect("the receiver runs")
    }

    /// A receiver that always fails is given up on after the bounded attempts, counted, and the
    /// worker goes on with the next event; the cursor records both as done.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_receiver_that_always_fails_is_given_up_on_and_the_next_event_still_goes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (seen, mut requests) = tokio::sync::mpsc::unbounded_channel::<Value>();
        let receiver = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let seen = seen.clone();
                async move {
                    let _ = seen.send(body);
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, receiver).await });
        let policy = format!("{POLICY}\n[[webhooks]]\nurl = \"http://127.0.0.1:{port}/hook\"\n");
        let app = app(&policy);
        app.create_flag(
            &human("alice"),
            &req(json!({"key": "pay", "description": "d", "change_type": "code", "reason": "r"})),
        )
        .unwrap();
        let deliveries = Arc::new(Deliveries::default());
        let retry = Retry {
            attempts: 3,
            first: Duration::from_millis(10),
            cap: Duration::from_millis(20),
            timeout: Duration::from_secs(5),
        };
        let notifier = Notifier::start(app.clone(), retry, deliveries.clone())
            .await
            .unwrap()
            .unwrap();
        let rollback = |env: &str| {
            let app = app.clone();
            let r: RollbackFlag = req(json!({"key": "pay", "environment": env, "reason": "bad"}));
            tokio::task::spawn_blocking(move || app.rollback(&human("alice"), &r).unwrap())
        };
        let first = rollback("development")
            .await
            .unwrap()
            .outcome
            .audit_seq
            .unwrap();
        for _ in 0..3 {
            assert_eq!(next(&mut requests).await["audit_seq"], first);
        }
        let second = rollback("production")
            .await
            .unwrap()
            .outcome
            .audit_seq
            .unwrap();
        assert_eq!(
            next(&mut requests).await["audit_seq"],
            second,
            "given up after 3 attempts, the worker moves on"
        );
        assert_eq!(deliveries.counts()[2], ("gave_up", 1));
        for _ in 0..2 {
            assert_eq!(next(&mut requests).await["audit_seq"], second);
        }
        notifier.stop().await; // the last attempt is answered before the worker sees the stop
        assert_eq!(
            deliveries.counts(),
            [("delivered", 0), ("retried", 4), ("gave_up", 2)]
        );
        let key = cursor_key(&app.policy().policy.webhooks[0]);
        let cursor = read_cursor(app.meta(&key).unwrap().as_deref()).unwrap();
        assert_eq!(
            cursor,
            Cursor {
                done: second,
                claim: None
            },
            "given up counts as done"
        );
    }
}
