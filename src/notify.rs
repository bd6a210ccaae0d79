//! Webhook notifications, outbox style. The audit trail is the outbox: every approval request,
//! human decision and rollback is already an audit event, committed with the change it describes.
//! One worker per webhook follows the trail from a cursor kept in the store's `meta` table, reads
//! each event as zero or more [`Notice`]s ([`classify`], a pure function), and POSTs them in order
//! with a short timeout, retrying with capped exponential backoff and giving up after a bounded
//! number of attempts (logged and counted). Nothing here runs inside a commit, so a dead or hanging
//! receiver delays no rollback, no other commit and no other receiver.
//!
//! Delivery is at least once: the cursor moves only after a notice was delivered (or given up on),
//! so a restart neither loses an event nor sends the old ones again, except one cut off mid-flight.
//! Before sending an event a worker claims it in the cursor for a while, so two processes on one
//! store (`serve` beside `mcp`) do not both send it; a claim left by a crashed process expires.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::app::{App, AppError};
use crate::domain::audit::AuditEvent;
use crate::domain::policy::{NotifyEvent, Webhook, WebhookFormat};

// ---- what to tell --------------------------------------------------------------------------------

/// One thing to tell people, read from one audit event. Serialized as is, it is the generic JSON
/// body; `(audit_seq, event)` identifies it, for receivers that drop repeats.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    pub event: NotifyEvent,
    pub flag: Option<String>,
    pub environment: Option<String>,
    pub rollout_id: Option<i64>,
    pub approval_id: Option<i64>,
    /// What the approval is for: `start_canary`, `advance_canary` or `rollback`.
    pub approval_kind: Option<String>,
    /// For `approval_decided`: `approved` or `rejected`.
    pub decision: Option<String>,
    /// For `approval_decided`: where the human decided (`cli`, `http`, `elicitation`).
    pub decided_via: Option<String>,
    /// Who acted, as in the audit log: `agent:NAME`, `human:NAME` or `system`.
    pub actor: String,
    pub reason: Option<String>,
    pub summary: String,
    /// For `approval_requested`: what a human runs to decide.
    pub how_to_decide: Option<String>,
    pub audit_seq: i64,
    pub at: String,
}

/// The parts of an approval, as approve and reject record it after the decision.
#[derive(Deserialize)]
struct ApprovalAfter {
    kind: String,
    status: String,
    #[serde(default)]
    decided_via: Option<String>,
}

/// Reads an audit event as what people are told about it, by the events the use cases write:
///
/// - `approval_requested`: an allowed or approval-needing event that opened an approval (it has an
///   `approval_id` and is not itself an approve or reject): an agent's rollback proposal, the gate's
///   ROLLBACK from `advance_canary`, a start or step that needs a human.
/// - `approval_decided`: an allowed `approve` or `reject` that settled the approval. An approval
///   that still waits for another human's approval is not decided yet.
/// - `rolled_back`: a rollback that took effect: an allowed `rollback` by anyone (a human, an agent
///   the policy lets roll back alone, the system), or the `approve` that executed a rollback request.
///
/// Denials, dry runs (never written) and everything else tell nobody anything.
pub fn classify(e: &AuditEvent) -> Vec<Notice> {
    if e.decision == "deny" {
        return Vec::new();
    }
    let notice = |event: NotifyEvent, summary: String| Notice {
        event,
        flag: e.flag.clone(),
        environment: e.env.clone(),
        rollout_id: e.rollout_id,
        approval_id: e.approval_id,
        approval_kind: None,
        decision: None,
        decided_via: None,
        actor: actor(e),
        reason: e.reason.clone(),
        summary,
        how_to_decide: None,
        audit_seq: e.seq,
        at: e.ts.clone(),
    };
    let what = format!(
        "{} in {}",
        e.flag.as_deref().unwrap_or("a flag"),
        e.env.as_deref().unwrap_or("every environment")
    );
    let who = actor(e);
    match (e.action.as_str(), e.decision.as_str(), e.approval_id) {
        ("approve" | "reject", "allow", Some(id)) => {
            let Ok(a) = serde_json::from_str::<ApprovalAfter>(&e.after) else {
                return Vec::new();
            };
            if a.status != "approved" && a.status != "rejected" {
                return Vec::new(); // more approvals are needed before it is decided
            }
            let via = a
                .decided_via
                .clone()
                .unwrap_or_else(|| "an unknown channel".into());
            let mut decided = notice(
                NotifyEvent::ApprovalDecided,
                format!(
                    "{who} {} approval #{id} ({} of {what}) via {via}",
                    a.status, a.kind
                ),
            );
            decided.approval_kind = Some(a.kind.clone());
            decided.decision = Some(a.status.clone());
            decided.decided_via = a.decided_via.clone();
            let mut out = vec![decided];
            if a.status == "approved" && a.kind == "rollback" {
                let mut rolled = notice(
                    NotifyEvent::RolledBack,
                    format!("rolled back {what}: {who} approved the rollback (#{id})"),
                );
                rolled.approval_kind = Some(a.kind);
                out.push(rolled);
            }
            out
        }
        ("approve" | "reject", ..) => Vec::new(),
        ("rollback", "allow", _) => {
            let pinned = serde_json::from_str::<Value>(&e.after)
                .ok()
                .and_then(|v| v["pinned_variant"].as_str().map(str::to_owned));
            let now = match pinned {
                Some(v) => format!(": everyone gets {v:?}"),
                None => String::new(),
            };
            vec![notice(
                NotifyEvent::RolledBack,
                format!("{who} rolled back {what}{now}"),
            )]
        }
        (action, "allow" | "needs_approval", Some(id)) => {
            let kind = if action == "rollback" || proposes_rollback(&e.after) {
                "rollback"
            } else {
                action
            };
            let asks = match (kind, action) {
                ("rollback", "rollback") => format!("{who} proposes rolling back {what}"),
                ("rollback", _) => format!("the canary gate proposes rolling back {what}"),
                ("start_canary", _) => format!("{who} asks to start a rollout of {what}"),
                ("advance_canary", _) => {
                    format!("{who} asks to take the next canary step of {what}")
                }
                _ => format!("{who} asks for a human decision on {action} of {what}"),
            };
            let frozen = if kind == "rollback" {
                "; exposure is frozen until a human decides"
            } else {
                ""
            };
            let mut n = notice(
                NotifyEvent::ApprovalRequested,
                format!("{asks} (approval #{id}){frozen}"),
            );
            n.approval_kind = Some(kind.into());
            n.how_to_decide = Some(format!(
                "a human runs `flagwarden approve {id}` or `flagwarden reject {id} --reason TEXT`, \
                 or POSTs /api/v1/approvals/{id}/approve with a human token"
            ));
            vec![n]
        }
        _ => Vec::new(),
    }
}

/// Whether an event's after-state is a rollout frozen for a proposed rollback (the gate's
/// ROLLBACK verdict records the rollout itself; an agent's proposal nests it under `rollout`).
fn proposes_rollback(after: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(after) else {
        return false;
    };
    [&v["state"], &v["rollout"]["state"]]
        .iter()
        .any(|s| s.as_str() == Some("ROLLBACK_PENDING"))
}

fn actor(e: &AuditEvent) -> String {
    if e.actor_kind == "system" {
        "system".into()
    } else {
        format!("{}:{}", e.actor_kind, e.actor)
    }
}

/// The body a webhook of `format` receives for `n`.
pub fn body(format: WebhookFormat, n: &Notice) -> Value {
    match format {
        WebhookFormat::Json => serde_json::to_value(n).expect("notices serialize"),
        WebhookFormat::Slack => slack_body(n),
    }
}

/// Slack's incoming-webhook body: `text` (what notifications and old clients show) and one
/// mrkdwn section with the details, then a context line naming the audit event.
pub fn slack_body(n: &Notice) -> Value {
    let title = match (n.event, n.decision.as_deref()) {
        (NotifyEvent::ApprovalRequested, _) => "Approval requested".to_owned(),
        (NotifyEvent::ApprovalDecided, Some(d)) => format!("Approval {d}"),
        (NotifyEvent::ApprovalDecided, None) => "Approval decided".to_owned(),
        (NotifyEvent::RolledBack, _) => "Rolled back".to_owned(),
    };
    let mut lines = vec![format!("*{title}*: {}", slack_escape(&n.summary))];
    if let Some(reason) = n.reason.as_deref().filter(|r| !r.trim().is_empty()) {
        for line in reason.lines() {
            lines.push(format!(">{}", slack_escape(line)));
        }
    }
    if n.event == NotifyEvent::ApprovalRequested
        && let Some(id) = n.approval_id
    {
        lines.push(format!(
            "Decide: `flagwarden approve {id}` or `flagwarden reject {id} --reason TEXT`"
        ));
    }
    json!({
        "text": format!("flagwarden: {}", slack_escape(&n.summary)),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": lines.join("\n")}},
            {"type": "context", "elements": [{
                "type": "mrkdwn",
                "text": format!("audit event {} · {} · {}", n.audit_seq, slack_escape(&n.actor), n.at),
            }]},
        ],
    })
}

/// Slack reads `&`, `<` and `>` as markup (links, mentions); text from people must not be.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

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

// ---- who sends what: the cursor ------------------------------------------------------------------

/// A webhook's cursor as stored in `meta`: every notifying event up to `done` was delivered or given
/// up on; `claim` says which process is sending which event now.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
struct Cursor {
    done: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claim: Option<Claim>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Claim {
    seq: i64,
    by: String,
    until: Timestamp,
}

/// Whose turn it is to send an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    /// This worker sends it (the returned cursor records the claim).
    Mine,
    /// It was sent already, by this process before a restart or by another one.
    Done,
    /// Another process is sending it; look again later.
    Busy,
}

fn take_turn(
    c: &Cursor,
    seq: i64,
    me: &str,
    now: Timestamp,
    ttl: SignedDuration,
) -> (Option<Cursor>, Turn) {
    if c.done >= seq {
        return (None, Turn::Done);
    }
    if let Some(claim) = &c.claim
        && claim.by != me
        && claim.until > now
    {
        return (None, Turn::Busy);
    }
    let claimed = Cursor {
        done: c.done,
        claim: Some(Claim {
            seq,
            by: me.into(),
            until: now + ttl,
        }),
    };
    (Some(claimed), Turn::Mine)
}

/// The cursor after this worker finished (`done` = `Some(seq)`) or dropped (`None`) its claim.
fn settle(c: &Cursor, me: &str, done: Option<i64>) -> Cursor {
    Cursor {
        done: done.map_or(c.done, |seq| c.done.max(seq)),
        claim: c.claim.clone().filter(|claim| claim.by != me),
    }
}

fn read_cursor(stored: Option<&str>) -> Option<Cursor> {
    stored.and_then(|s| serde_json::from_str(s).ok())
}

fn format_name(f: WebhookFormat) -> &'static str {
    match f {
        WebhookFormat::Slack => "slack",
        WebhookFormat::Json => "json",
    }
}

fn event_name(e: NotifyEvent) -> &'static str {
    match e {
        NotifyEvent::ApprovalRequested => "approval_requested",
        NotifyEvent::ApprovalDecided => "approval_decided",
        NotifyEvent::RolledBack => "rolled_back",
    }
}

/// The `meta` key of a webhook's cursor: a digest, since webhook URLs carry secrets.
fn cursor_key(hook: &Webhook) -> String {
    let format = format_name(hook.format);
    let digest = Sha256::digest(format!("{format} {}", hook.url).as_bytes());
    format!("webhook:{}", &hex::encode(digest)[..16])
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

fn json_text<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("cursors serialize")
}

/// Each webhook's position: its stored cursor, or for a new webhook the newest audit event.
fn init_cursors(app: &App, keys: &[String]) -> Result<Vec<i64>, AppError> {
    let newest = app.last_audit_seq()?;
    keys.iter()
        .map(|key| {
            app.update_meta(key, |stored| match read_cursor(stored) {
                Some(c) => (None, c.done),
                None => {
                    if stored.is_some() {
                        tracing::warn!(
                            "webhook cursor {key} is unreadable; starting it at event {newest}"
                        );
                    }
                    let c = Cursor {
                        done: newest,
                        claim: None,
                    };
                    (Some(json_text(&c)), newest)
                }
            })
        })
        .collect()
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
}

impl Worker {
    async fn run(mut self) {
        let mut commits = self.app.commits();
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

    /// Sends what was committed since `position`, in order.
    async fn catch_up(&mut self, draining: bool) -> Result<Flow, Pause> {
        loop {
            let after = self.position;
            let (events, through) = self
                .blocking(move |app| app.audit_after(after, PAGE))
                .await?;
            for e in &events {
                let notices: Vec<Notice> = classify(e)
                    .into_iter()
                    .filter(|n| self.hook.wants(n.event))
                    .collect();
                if !notices.is_empty() {
                    match self.take_turn(e.seq).await? {
                        Turn::Done => {}
                        Turn::Busy => return Ok(Flow::Busy),
                        Turn::Mine => {
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
                return Ok(Flow::CaughtUp);
            }
        }
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
        let attempts = if draining {
            1
        } else {
            self.retry.attempts.max(1)
        };
        let what = format!("{} of event {}", event_name(n.event), n.audit_seq);
        let mut attempt = 1;
        loop {
            let why = match self.post(&body).await {
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
    use super::*;
    use crate::app::types::*;
    use crate::app::{Config, LoadedPolicy};
    use crate::domain::policy::Actor;
    use crate::store::Store;

    const POLICY: &str = r#"
version = 1
[environments.development]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
agent_rollback = "allow"
[environments.production]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
steps = [5, 25, 100]
approvals = 2
agent_rollback = "propose"
[environments.production.gate]
min_samples = 100
fresh_within = "24h"
breakers = [{ metric = "error_rate", above = 0.05, min_samples = 100 }]
[environments.production.gate.metrics.error_rate]
margin = 0.1
[environments.gated]
agent_may = ["start_canary"]
requires_start_approval = true
"#;

    fn app(policy: &str) -> Arc<App> {
        Arc::new(
            App::new(
                Store::open_in_memory().unwrap(),
                LoadedPolicy::parse("flagwarden.toml", policy).unwrap(),
                Arc::new(|| Timestamp::from_second(1_800_000_000).unwrap()),
                Config {
                    ofrep_base_url: "http://127.0.0.1:7070".into(),
                    project_root: ".".into(),
                },
            )
            .unwrap(),
        )
    }

    fn req<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    fn agent() -> Actor {
        Actor::Agent("claude".into())
    }

    fn human(name: &str) -> Actor {
        Actor::Human(name.into())
    }

    /// Every notifying event the use cases write, read back from the store as the worker reads it:
    /// (action, what each notice says).
    #[test]
    fn the_events_the_use_cases_write_read_as_notices() {
        let app = app(POLICY);
        let key = |env: &str| json!({"key": "pay", "environment": env, "reason": "looks off"});
        let start = |env: &str| {
            let r: StartCanary = req(
                json!({"key": "pay", "environment": env, "candidate_variant": "on", "reason": "ship"}),
            );
            app.start_canary(&agent(), &r)
        };
        app.create_flag(
            &agent(),
            &req(json!({"key": "pay", "description": "d", "change_type": "code", "reason": "r"})),
        )
        .unwrap();
        start("production").unwrap();
        let proposed = app.rollback(&agent(), &req(key("production"))).unwrap();
        let id = proposed.approval_id.unwrap();
        app.reject(&human("alice"), id, "noise", Channel::Http)
            .unwrap();
        // Clearly worse than the control, though under the breaker: the gate proposes at the advance.
        for (arm, errors) in [("canary", 45), ("control", 10)] {
            let signals: RecordSignals = req(
                json!({"key": "pay", "environment": "production", "arm": arm, "requests": 1000, "errors": errors}),
            );
            app.record_signals(&agent(), &signals).unwrap();
        }
        let gate = app
            .advance_canary(&agent(), &req(key("production")))
            .unwrap();
        let id = gate.approval_id.unwrap();
        app.approve(&human("alice"), id, "yes", Channel::Cli)
            .unwrap(); // one of two
        app.approve(&human("bob"), id, "yes", Channel::Elicitation)
            .unwrap();
        let gated = start("gated").unwrap();
        app.approve(
            &human("alice"),
            gated.approval_id.unwrap(),
            "",
            Channel::Cli,
        )
        .unwrap();
        start("development").unwrap();
        app.rollback(&agent(), &req(key("development"))).unwrap();
        app.rollback(&human("carol"), &req(key("gated"))).unwrap();

        let (events, through) = app.audit_after(0, 1000).unwrap();
        assert_eq!(through, app.last_audit_seq().unwrap());
        let got: Vec<String> = events
            .iter()
            .map(|e| {
                let said: Vec<String> = classify(e)
                    .iter()
                    .map(|n| {
                        format!(
                            "{:?} {} / {}",
                            n.event,
                            n.approval_kind.as_deref().unwrap_or("-"),
                            n.summary
                        )
                    })
                    .collect();
                format!("{} {}: {}", e.actor, e.action, said.join(" + "))
            })
            .collect();
        let want = [
            "claude create_flag: ",
            "claude start_canary: ",
            "claude rollback: ApprovalRequested rollback / agent:claude proposes rolling back pay in production (approval #1); exposure is frozen until a human decides",
            "alice reject: ApprovalDecided rollback / human:alice rejected approval #1 (rollback of pay in production) via http",
            "claude advance_canary: ApprovalRequested rollback / the canary gate proposes rolling back pay in production (approval #2); exposure is frozen until a human decides",
            "alice approve: ",
            "bob approve: ApprovalDecided rollback / human:bob approved approval #2 (rollback of pay in production) via elicitation \
             + RolledBack rollback / rolled back pay in production: human:bob approved the rollback (#2)",
            "claude start_canary: ApprovalRequested start_canary / agent:claude asks to start a rollout of pay in gated (approval #3)",
            "alice approve: ApprovalDecided start_canary / human:alice approved approval #3 (start_canary of pay in gated) via cli",
            "claude start_canary: ",
            "claude rollback: RolledBack - / agent:claude rolled back pay in development: everyone gets \"off\"",
            "carol rollback: RolledBack - / human:carol rolled back pay in gated: everyone gets \"off\"",
        ];
        assert_eq!(got, want, "record_signals is never read");
        let request = classify(&events[2]).remove(0);
        assert_eq!(
            request.how_to_decide.as_deref(),
            Some(
                "a human runs `flagwarden approve 1` or `flagwarden reject 1 --reason TEXT`, or POSTs /api/v1/approvals/1/approve with a human token"
            )
        );
    }

    fn event(action: &str, decision: &str, approval_id: Option<i64>, after: Value) -> AuditEvent {
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

    #[test]
    fn denials_and_unreadable_decisions_tell_nobody() {
        let rolled = classify(&event(
            "rollback",
            "allow",
            None,
            json!({"pinned_variant": "off"}),
        ));
        assert_eq!(rolled.len(), 1);
        assert_eq!(
            (rolled[0].event, rolled[0].actor.as_str()),
            (NotifyEvent::RolledBack, "system")
        );
        for e in [
            event("rollback", "deny", None, json!(null)),
            event("start_canary", "deny", Some(3), json!(null)),
            event(
                "approve",
                "deny",
                Some(3),
                json!({"kind": "rollback", "status": "pending"}),
            ),
            event("approve", "allow", Some(3), json!("not an approval")),
            event("set_targeting", "allow", None, json!({})),
        ] {
            assert_eq!(classify(&e), [], "{} {}", e.action, e.decision);
        }
    }

    #[test]
    fn bodies_carry_every_field_and_slack_text_is_escaped() {
        let mut n = classify(&event(
            "rollback",
            "needs_approval",
            Some(3),
            json!({"rollout": {"state": "ROLLBACK_PENDING"}}),
        ))
        .remove(0);
        n.reason = Some("p95 <2s> & rising\nsee dashboards".into());
        let generic = body(WebhookFormat::Json, &n);
        let keys: Vec<&str> = generic
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "event",
                "flag",
                "environment",
                "rollout_id",
                "approval_id",
                "approval_kind",
                "decision",
                "decided_via",
                "actor",
                "reason",
                "summary",
                "how_to_decide",
                "audit_seq",
                "at"
            ]
        );
        assert_eq!(generic["event"], "approval_requested");
        assert_eq!(generic["audit_seq"], 9);
        let slack = body(WebhookFormat::Slack, &n);
        let section = slack["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(
            section,
            "*Approval requested*: system proposes rolling back pay in production (approval #3); exposure is frozen until a human decides\n\
             >p95 &lt;2s&gt; &amp; rising\n>see dashboards\n\
             Decide: `flagwarden approve 3` or `flagwarden reject 3 --reason TEXT`"
        );
        assert_eq!(slack["blocks"][0]["text"]["type"], "mrkdwn");
        assert!(
            slack["text"]
                .as_str()
                .unwrap()
                .starts_with("flagwarden: system proposes")
        );
    }

    #[test]
    fn one_process_sends_an_event_and_a_dead_ones_claim_expires() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let ttl = SignedDuration::from_mins(5);
        let fresh = Cursor {
            done: 4,
            claim: None,
        };
        let (mine, turn) = take_turn(&fresh, 7, "a", now, ttl);
        assert_eq!(turn, Turn::Mine);
        let mine = mine.unwrap();
        assert_eq!(
            take_turn(&mine, 7, "b", now, ttl),
            (None, Turn::Busy),
            "another process waits"
        );
        assert_eq!(
            take_turn(&mine, 7, "a", now, ttl).1,
            Turn::Mine,
            "the claimant may go on"
        );
        let later = now + ttl + SignedDuration::from_secs(1);
        assert_eq!(
            take_turn(&mine, 7, "b", later, ttl).1,
            Turn::Mine,
            "an expired claim is taken over"
        );
        let sent = settle(&mine, "a", Some(7));
        assert_eq!(
            sent,
            Cursor {
                done: 7,
                claim: None
            }
        );
        assert_eq!(
            take_turn(&sent, 7, "b", now, ttl),
            (None, Turn::Done),
            "sent once"
        );
        assert_eq!(
            settle(&mine, "a", None),
            fresh,
            "a dropped claim sends it again later"
        );
    }

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
