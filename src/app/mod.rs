//! The use cases, one method each, shared by every edge (MCP, CLI). Every mutation goes through
//! `App::mutate`: it opens one write transaction, checks idempotency, runs the use case (which asks
//! `domain::policy::decide` first), appends the audit event, and commits them together; a dry run
//! does all of that and rolls back. Evaluation reads the compiled snapshot, swapped after each commit.
//!
//! This file is the façade: `App`, `mutate`, the error type and the settings. The use cases live one
//! family to a room: `flags/`, `rollouts/`, `versions.rs`, `scan.rs`; the reads of the policy and the
//! audit trail in `policy.rs` and `audit.rs`; what changes no flag (evaluation counts, meta values)
//! in `bookkeeping.rs`; the requests and answers the tools expose in `types/`. What the edges read
//! beyond the use cases: who is calling (`caller.rs`), which token names whom (`tokens.rs`), the
//! change feed (`feed.rs`), and a rollout's stored gate evaluations and the approval an agent's
//! client is asked to confirm (`views.rs`).

mod audit;
mod bookkeeping;
mod caller;
mod feed;
pub use feed::WATCH_POLL;
mod flagd;
pub use flagd::FlagdDocument;
mod flags;
mod policy;
mod rollouts;
mod scan;
mod tokens;
pub mod types;
mod versions;
mod views;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use jiff::Timestamp;
use rusqlite::Connection;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::domain::audit::{AuditEvent, REPORTS};
use crate::domain::eval::Snapshot;
use crate::domain::flag::{Flag, InvalidFlag};
use crate::domain::policy::{Actor, Decision, Policy};
use crate::store::{self, Store, StoreError};
use crate::telemetry_out;

pub use caller::{Caller, Role};
pub use policy::{LoadedPolicy, check_env};
pub use rollouts::{ArmFlip, MAX_CATCH_UP, PromTarget, PromWindow, RehearsalOutput, RehearsalView};
pub use scan::ScanReport;
pub use tokens::{TokenError, Tokens};
pub use types::*;
pub use views::{RolloutHistory, Watchable};

/// Why a use case refused or failed. Edges map these once (MCP in-band error, CLI exit code).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{}denied by {rule}: {message}", if *dry_run { "dry run: would be " } else { "" })]
    Denied {
        rule: String,
        message: String,
        dry_run: bool,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<InvalidFlag> for AppError {
    fn from(e: InvalidFlag) -> Self {
        AppError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<rusqlite::Error> for AppError {
    fn from(e: rusqlite::Error) -> Self {
        AppError::Store(StoreError::Sql(e))
    }
}

pub type Result<T> = std::result::Result<T, AppError>;

pub fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Settings the edges pass in.
#[derive(Clone)]
pub struct Config {
    /// Where applications reach OFREP, used in generated setup code.
    pub ofrep_base_url: String,
    /// Root that relative `file` paths in wrap_change are read from.
    pub project_root: PathBuf,
}

pub struct App {
    store: Mutex<Store>,
    policy: LoadedPolicy,
    snapshot: ArcSwap<Snapshot>,
    data_version: Mutex<i64>,
    clock: Clock,
    config: Config,
    /// Bumped after every commit, so the controller looks at new evidence at once rather than at
    /// its next poll. A watch, not a `Notify`: every follower sees every bump.
    committed: tokio::sync::watch::Sender<u64>,
    /// Bumped after a commit with an audit event other than an evidence report
    /// (`domain::audit::REPORTS`): what the change stream, the watch feed and the webhook workers
    /// follow. An OTLP export or a signal batch wakes none of them.
    told: tokio::sync::watch::Sender<u64>,
    /// Every committed change a watcher is told about (`feed.rs`), from this process or another:
    /// what MCP resource updates and `canary_status` waits follow.
    watched: tokio::sync::broadcast::Sender<Arc<crate::domain::audit::Change>>,
    /// flagd definitions generated from the current snapshot (`flagd.rs`).
    flagd: flagd::DefinitionCache,
    /// The OTLP receiver's held spans and claimed exposures, as the store has them
    /// (`rollouts/joins.rs`).
    joins: Mutex<rollouts::Joins>,
}

/// An answer `mutate` can return, store for idempotent replays, and tag with its audit event.
pub(crate) trait Answer: Serialize + DeserializeOwned {
    fn set_audit_seq(&mut self, _seq: i64) {}
}

macro_rules! answers_with_outcome {
    ($($t:ty),*) => {$(
        impl Answer for $t {
            fn set_audit_seq(&mut self, seq: i64) {
                self.outcome.audit_seq = Some(seq);
            }
        }
    )*};
}
answers_with_outcome!(
    FlagOutput,
    CanaryOutput,
    SignalsOutput,
    WrapOutput,
    CleanupOutput,
    VersionOutput
);
impl Answer for ApprovalDecision {}
impl Answer for IngestOutput {
    fn set_audit_seq(&mut self, seq: i64) {
        self.audit_seq = Some(seq);
    }
}
impl Answer for TelemetryOutput {
    fn set_audit_seq(&mut self, seq: i64) {
        self.audit_seq = Some(seq);
    }
}
impl Answer for String {}
impl Answer for PromRecorded {
    fn set_audit_seq(&mut self, seq: i64) {
        self.audit_seq = Some(seq);
    }
}

/// What a use case hands back to `mutate`: its answer and the audit event to write.
pub(crate) struct Done<T> {
    pub output: T,
    pub audit: Audit,
}

/// The parts of an audit event a use case fills in; `mutate` adds actor, time, policy and arguments.
#[derive(Default)]
pub(crate) struct Audit {
    pub flag: Option<String>,
    pub env: Option<String>,
    pub rollout_id: Option<i64>,
    pub approval_id: Option<i64>,
    pub decision: Option<Decision>,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
    /// Evidence was recorded and no flag changed: evaluation stays as it is (no recompile, so caches
    /// keyed on the snapshot version stay valid).
    pub evidence_only: bool,
    /// The action to record when it is not the use case's name: the controller's pass records what
    /// it did (`advance_canary`, `pause`, `propose_rollback`, ...).
    pub action: Option<&'static str>,
    /// The event's message when the decision carries none (the system says why it acted).
    pub message: Option<String>,
    /// Nothing was done: the transaction rolls back and no event is written, as for a dry run (the
    /// controller looked and found nothing to act on).
    pub idle: bool,
}

/// A refusal the policy made: recorded in the audit trail, then returned as an error.
pub(crate) struct Refusal {
    pub audit: Audit,
    pub rule: String,
    pub message: String,
}

pub(crate) enum Failure {
    Refused(Box<Refusal>),
    Error(AppError),
}

impl<E: Into<AppError>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Error(e.into())
    }
}

pub(crate) type Step<T> = std::result::Result<Done<T>, Failure>;

/// What a use case sees inside its transaction.
pub(crate) struct Tx<'a> {
    pub conn: &'a Connection,
    pub now: Timestamp,
    pub actor: &'a Actor,
    pub policy: &'a Policy,
    pub dry_run: bool,
    /// Follow-up audit events by the system, e.g. an automatic rollback on a tripped breaker that
    /// evidence from this call revealed: `(action, audit, message)`.
    pub system_events: Vec<(String, Audit, Option<String>)>,
    /// Flags this call changed beside the one its audit event names (the other members of a
    /// coordinated release), so every one is recompiled after the commit.
    pub also_changed: std::cell::RefCell<Vec<String>>,
}

impl App {
    pub fn new(store: Store, policy: LoadedPolicy, clock: Clock, config: Config) -> Result<App> {
        let app = App {
            store: Mutex::new(store),
            policy,
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            data_version: Mutex::new(-1),
            clock,
            config,
            committed: tokio::sync::watch::Sender::new(0),
            told: tokio::sync::watch::Sender::new(0),
            watched: tokio::sync::broadcast::Sender::new(1024),
            flagd: flagd::DefinitionCache::default(),
            joins: Mutex::new(rollouts::Joins::default()),
        };
        app.reload()?;
        Ok(app)
    }

    /// Opens the store at `db` with the system clock.
    pub fn open(db: &Path, policy: LoadedPolicy, config: Config) -> Result<App> {
        App::open_with_clock(db, policy, Arc::new(Timestamp::now), config)
    }

    /// Opens the store at `db` with the given clock (the binary's hidden test clock).
    pub fn open_with_clock(
        db: &Path,
        policy: LoadedPolicy,
        clock: Clock,
        config: Config,
    ) -> Result<App> {
        App::new(Store::open(db)?, policy, clock, config)
    }

    pub fn policy(&self) -> &LoadedPolicy {
        &self.policy
    }

    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// The snapshot evaluation reads. Cheap; never blocks on writers.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave SQLite half-written (the transaction rolls
        // back on drop), so a poisoned lock is safe to keep using.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Recompiles the snapshot from the store.
    fn reload(&self) -> Result<()> {
        let store = self.store();
        self.rebuild(store.conn())?;
        *self.data_version.lock().unwrap_or_else(|p| p.into_inner()) = store.data_version()?;
        Ok(())
    }

    /// Swaps in a snapshot where only flag `key` is recompiled: a write costs one flag, not all.
    fn recompile(&self, conn: &Connection, key: &str) -> Result<()> {
        let flag = store::load_flag(conn, key)?;
        let live: Vec<_> = store::active_rollouts_of(conn, key)?
            .iter()
            .filter_map(|r| r.live())
            .collect();
        let seq = store::last_audit_seq(conn)?;
        let previous = self.snapshot.load();
        self.snapshot.store(Arc::new(
            previous
                .with_flag(key, flag.as_ref(), &live)
                .at_audit_seq(seq),
        ));
        Ok(())
    }

    fn rebuild(&self, conn: &Connection) -> Result<()> {
        let flags = store::load_flags(conn)?;
        let live: Vec<_> = store::active_rollouts(conn)?
            .iter()
            .filter_map(|r| r.live())
            .collect();
        let seq = store::last_audit_seq(conn)?;
        let previous = self.snapshot.load();
        self.snapshot.store(Arc::new(
            Snapshot::compile(&flags, &live, Some(&previous)).at_audit_seq(seq),
        ));
        Ok(())
    }

    /// Picks up changes another process (the CLI beside a running server) committed.
    pub fn refresh(&self) -> Result<()> {
        let changed = {
            let store = self.store();
            let now = store.data_version()?;
            let mut seen = self.data_version.lock().unwrap_or_else(|p| p.into_inner());
            let changed = *seen != now;
            *seen = now;
            changed
        };
        if changed {
            self.reload()?;
        }
        Ok(())
    }

    /// Runs a read against the store, in one read transaction: its queries see one state of the
    /// store, and take SQLite's locks once instead of once per statement (a page that reads a
    /// thousand flags runs thousands). Nothing is written, so ending it is a rollback.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection, Timestamp) -> Result<T>) -> Result<T> {
        self.refresh()?;
        let store = self.store();
        let tx = store.conn().unchecked_transaction()?;
        f(&tx, self.now())
    }

    /// The one path every mutation takes. See the module docs.
    pub(crate) fn mutate<A: Serialize, T: Answer>(
        &self,
        actor: &Actor,
        tool: &str,
        args: &A,
        meta: &Meta,
        run: impl FnOnce(&mut Tx) -> Step<T>,
    ) -> Result<T> {
        let (reason, dry_run) = (meta.reason.as_str(), meta.dry_run);
        let idempotency_key = meta.idempotency_key.as_deref();
        if reason.len() > 2000 {
            return Err(invalid("reason", "keep the reason under 2000 characters"));
        }
        if let Some(k) = idempotency_key
            && (k.is_empty() || k.len() > 200)
        {
            return Err(invalid(
                "idempotency_key",
                "use 1 to 200 characters, e.g. a UUID",
            ));
        }
        let args_json = serde_json::to_string(args).expect("requests serialize");
        let request_sha = hex::encode(Sha256::digest(args_json.as_bytes()));
        self.refresh()?;
        let now = self.now();
        let mut store = self.store();
        let tx = store.begin()?;
        if let Some(key) = idempotency_key
            && !dry_run
            && let Some((sha, response)) = store::idempotent_response(&tx, tool, key)?
        {
            if sha != request_sha {
                return Err(AppError::Conflict(format!(
                    "idempotency_key {key:?} was already used for a different {tool} request; use a new key for a new request"
                )));
            }
            return serde_json::from_str(&response).map_err(|e| {
                AppError::Store(StoreError::Corrupt(format!("stored response: {e}")))
            });
        }
        let mut cx = Tx {
            conn: &tx,
            now,
            actor,
            policy: &self.policy.policy,
            dry_run,
            system_events: Vec::new(),
            also_changed: Default::default(),
        };
        let span = telemetry_out::decision(tool, actor.kind(), actor.name());
        let mut result = run(&mut cx);
        // Whatever is done while a human's break-glass is open is marked, and a flag change opens
        // its follow-up review (rollouts/emergency.rs).
        let mut emergency = None;
        if let Ok(done) = &result
            && !dry_run
            && !done.audit.idle
        {
            match rollouts::under_break_glass(&mut cx, &done.audit, tool) {
                Ok(mark) => emergency = mark,
                Err(e) => result = Err(Failure::Error(e)),
            }
        }
        let system_events = std::mem::take(&mut cx.system_events);
        let also_changed = cx.also_changed.take();
        if let Some(span) = span {
            // What the trace shows of the decision: the policy's answer, or how the call failed.
            let (label, rule) = match &result {
                Ok(done) => done
                    .audit
                    .decision
                    .as_ref()
                    .map_or(("allow", None), |d| (d.label(), d.rule())),
                Err(Failure::Refused(r)) => ("deny", Some(r.rule.as_str())),
                Err(Failure::Error(AppError::Conflict(_))) => ("conflict", None),
                Err(Failure::Error(_)) => ("error", None),
            };
            span.end(label, rule, dry_run);
            let kept = result.is_ok() && !dry_run;
            for (action, audit, _) in system_events.iter().filter(|_| kept) {
                let d = audit.decision.as_ref();
                telemetry_out::system_decision(
                    action,
                    d.map_or("allow", |d| d.label()),
                    d.and_then(|d| d.rule()),
                );
            }
        }
        let event = |actor: &Actor,
                     action: &str,
                     audit: Audit,
                     decision: &Decision,
                     message: Option<String>| AuditEvent {
            seq: 0,
            ts: store::ts_text(now),
            actor_kind: actor.kind().into(),
            actor: actor.name().into(),
            action: action.into(),
            flag: audit.flag,
            env: audit.env,
            rollout_id: audit.rollout_id,
            approval_id: audit.approval_id,
            decision: decision.label().into(),
            rule: decision.rule().map(str::to_owned),
            message: message.or_else(|| match decision {
                Decision::Allow => None,
                Decision::Deny { message, .. } | Decision::NeedsApproval { message, .. } => {
                    Some(message.clone())
                }
            }),
            reason: (!reason.is_empty()).then(|| reason.to_owned()),
            args: args_json.clone(),
            before: audit.before.to_string(),
            after: audit.after.to_string(),
            policy_version: self.policy.policy.version,
            policy_sha256: self.policy.sha256.clone(),
        };
        match result {
            Ok(Done { mut output, audit }) => {
                if dry_run || audit.idle {
                    drop(tx); // rolls back: a dry run or an idle look changes nothing
                    return Ok(output);
                }
                let decision = audit.decision.clone().unwrap_or(Decision::Allow);
                let changed = |a: &Audit| a.flag.clone().filter(|_| !a.evidence_only);
                let mut touched: Vec<String> = changed(&audit).into_iter().collect();
                touched.extend(also_changed);
                let action = audit.action.unwrap_or(tool);
                let tells = std::iter::once(action)
                    .chain(system_events.iter().map(|(a, _, _)| a.as_str()))
                    .any(|a| !REPORTS.contains(&a));
                let own = audit.message.clone().or_else(|| match &decision {
                    Decision::Allow => None,
                    Decision::Deny { message, .. } | Decision::NeedsApproval { message, .. } => {
                        Some(message.clone())
                    }
                });
                let message = match (own, &emergency) {
                    (m, None) => m,
                    (None, Some(mark)) => Some(format!("[{mark}]")),
                    (Some(m), Some(mark)) => Some(format!("[{mark}] {m}")),
                };
                let seq =
                    store::append_audit(&tx, event(actor, action, audit, &decision, message))?;
                for (action, audit, message) in system_events {
                    let d = audit.decision.clone().unwrap_or(Decision::Allow);
                    touched.extend(changed(&audit));
                    store::append_audit(&tx, event(&Actor::System, &action, audit, &d, message))?;
                }
                // The answer names its audit event, known only now.
                output.set_audit_seq(seq);
                if let Some(key) = idempotency_key {
                    let response = serde_json::to_string(&output).expect("answers serialize");
                    store::save_idempotent_response(&tx, tool, key, &request_sha, &response, now)?;
                }
                tx.commit()?;
                // Committed: the answer stands whatever happens next. If the snapshot cannot be
                // brought up to date here, the next refresh rebuilds it from the store.
                touched.sort();
                touched.dedup();
                let seen = touched
                    .iter()
                    .try_for_each(|key| self.recompile(store.conn(), key))
                    .and_then(|()| Ok(store.data_version()?))
                    .unwrap_or_else(|e| {
                        tracing::error!(
                            "snapshot not updated after a commit, rebuilding on next read: {e}"
                        );
                        -1
                    });
                *self.data_version.lock().unwrap_or_else(|p| p.into_inner()) = seen;
                self.bump(tells);
                Ok(output)
            }
            Err(Failure::Refused(refusal)) => {
                let Refusal {
                    audit,
                    rule,
                    message,
                } = *refusal;
                drop(tx);
                if !dry_run {
                    // The refusal is recorded on its own: nothing else from the attempt survives.
                    let tx = store.begin()?;
                    let decision = Decision::Deny {
                        rule: rule.clone(),
                        message: message.clone(),
                    };
                    store::append_audit(&tx, event(actor, tool, audit, &decision, None))?;
                    tx.commit()?;
                }
                Err(AppError::Denied {
                    rule,
                    message,
                    dry_run,
                })
            }
            Err(Failure::Error(AppError::Conflict(message))) => {
                drop(tx);
                if !dry_run {
                    // A conflict (a stale expected_version, a step another agent already took) is an
                    // attempt with an outcome: the trail keeps it, and nothing else of it.
                    let args: serde_json::Value =
                        serde_json::from_str(&args_json).unwrap_or_default();
                    let text = |k: &str| args.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                    let audit = Audit {
                        flag: text("key"),
                        env: text("environment"),
                        ..Audit::default()
                    };
                    let mut e = event(actor, tool, audit, &Decision::Allow, Some(message.clone()));
                    e.decision = "conflict".into();
                    let tx = store.begin()?;
                    store::append_audit(&tx, e)?;
                    tx.commit()?;
                }
                Err(AppError::Conflict(message))
            }
            Err(Failure::Error(e)) => Err(e),
        }
    }
}

impl Tx<'_> {
    /// Loads a flag or says how to find the right key.
    pub fn flag(&self, key: &str) -> std::result::Result<Flag, Failure> {
        crate::domain::flag::FlagKey::parse(key)?;
        store::load_flag(self.conn, key)?.ok_or_else(|| Failure::Error(not_found_flag(key)))
    }

    /// Checks that the environment is declared in the policy.
    pub fn env(&self, env: &str) -> std::result::Result<(), Failure> {
        check_env(self.policy, env).map_err(Failure::Error)
    }

    pub fn check_version(
        &self,
        flag: &Flag,
        expected: Option<i64>,
    ) -> std::result::Result<(), Failure> {
        match expected {
            Some(v) if v != flag.version => Err(Failure::Error(AppError::Conflict(format!(
                "expected_version {v} is stale: flag {} is at version {}; read it again (get_flag) and retry with expected_version {}",
                flag.key, flag.version, flag.version
            )))),
            _ => Ok(()),
        }
    }

    /// Records a policy refusal.
    pub fn refuse<T>(&self, audit: Audit, decision: &Decision) -> Step<T> {
        match decision {
            Decision::Deny { rule, message } | Decision::NeedsApproval { rule, message } => {
                Err(Failure::Refused(Box::new(Refusal {
                    audit,
                    rule: rule.clone(),
                    message: message.clone(),
                })))
            }
            Decision::Allow => unreachable!("refuse is only called for denials"),
        }
    }
}

pub fn not_found_flag(key: &str) -> AppError {
    AppError::NotFound(format!(
        "flag {key:?} does not exist; list_flags shows the existing keys, create_flag makes a new one"
    ))
}

/// Serializes a value for the audit trail's before/after columns.
pub(crate) fn state<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// An `App` for unit tests: an in-memory store under `policy`, at a fixed time.
#[cfg(test)]
pub(crate) fn for_tests(policy: &str) -> App {
    App::new(
        Store::open_in_memory().unwrap(),
        LoadedPolicy::parse("flagwarden.toml", policy).unwrap(),
        Arc::new(|| Timestamp::from_second(1_800_000_000).unwrap()),
        Config {
            ofrep_base_url: "http://127.0.0.1:7070".into(),
            project_root: ".".into(),
        },
    )
    .unwrap()
}
