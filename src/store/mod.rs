//! The SQLite store: schema migrations, and every query flagwarden runs. The only module that knows SQL.
//! This file holds `Store` itself (open, pragmas, transactions) and the shared text encodings; the
//! queries live one file per table family (flags, rollouts, evidence, approvals, audit, refs, meta,
//! sources, telemetry).
//!
//! One file, WAL mode, foreign keys on. Mutations run inside `BEGIN IMMEDIATE` transactions opened by
//! the application, so each change and its audit event commit together or not at all. Audit events are
//! append-only: triggers refuse UPDATE and DELETE on them.

mod schema;

mod approvals;
mod audit;
mod checklist;
mod evidence;
mod flags;
mod meta;
mod refs;
mod rollouts;
mod sources;
mod telemetry;

use std::path::Path;

use jiff::Timestamp;
use rusqlite::{Connection, Transaction, TransactionBehavior};

// One file per table family; callers keep using `store::name` whichever file holds it.
pub use approvals::{
    approval, approvals, break_glass_until, insert_approval, insert_break_glass,
    pending_approvals_for, update_approval,
};
pub use audit::{
    append_audit, approval_events, audit_chain, audit_events, audit_events_after,
    audit_events_of_rollout, changes_since, count_actions_since, last_audit_seq, last_watched,
    watched_since,
};
pub use checklist::{
    Attestation, RehearsalRow, active_break_glass, flag_escalation, insert_attestation,
    insert_rehearsal, last_evaluated_at, latest_attestation, latest_rehearsal, open_scratch,
    rollout_events, scratch_copy, set_contacts,
};
pub use evidence::{
    Periods, PreflightRun, SignalRow, arm_totals, arm_totals_by_source, gate_evaluations,
    gate_looks, insert_gate_evaluation, insert_preflight, insert_signals, latest_preflight,
    rollouts_reported_after, signal_periods,
};
pub use flags::{
    append_variant, count_flags_created_since, insert_flag, insert_version, load_flag, load_flags,
    update_flag, upsert_env, versions,
};
pub use meta::{
    add_evaluations, all_evaluations, evaluations, idempotent_response, meta_get, meta_set,
    save_idempotent_response,
};
pub use refs::{
    AllUsage, FoundRef, ScanChanges, ScanRun, UsageFacts, add_code_ref, all_usage, code_refs,
    record_scan, usage_facts,
};
pub use rollouts::{
    active_by_flag_env, active_group, active_rollout, active_rollouts, active_rollouts_of,
    count_rollout_states, count_rollouts_started_since, group_rollouts, latest_rollout,
    listed_rollouts, next_rollout_id, rollout, rollout_steps, save_rollout,
};

pub use sources::{
    advance_cursor, claim_cursor, close_gap, guardrail_readings, insert_guardrail_reading,
    last_gaps, open_gaps, record_gap, release_cursor,
};
pub use telemetry::{
    ClaimKey, ClaimRow, HeldRow, Pending, claims_after, claims_forgotten_before, claims_through,
    forget_claims_through, forget_held_through, held_after, hold_spans, insert_pending,
    record_claims, take_expired_pending, take_pending_for, waiting_keys,
};

pub use rusqlite::Error as SqlError;

/// A storage failure, or stored data that no longer reads as valid.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot open the database {path}: {message}")]
    Open { path: String, message: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Timestamps are stored as fixed-width RFC 3339 text in UTC, so text order is time order.
pub fn ts_text(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn parse_ts(s: &str) -> Result<Timestamp> {
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("timestamp {s:?}: {e}")))
}

fn parse_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        }
        let conn = Connection::open(path).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Store::init(conn)
    }

    pub fn open_in_memory() -> Result<Store> {
        Store::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Store> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // WAL lets readers run beside the one writer; synchronous=FULL makes every acknowledged commit
        // survive power loss, which matters more here than write throughput.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // One export or signal batch runs some 40 distinct statements (its own, the gate's, the
        // audit chain's, the controller's look); rusqlite keeps 16 by default, so most were parsed
        // again every time.
        conn.set_prepared_statement_cache_capacity(256);
        // Bundled SQLite has STAT4, which re-plans a cached statement whenever a bound value might
        // change its plan: the change feed's and the gate's range queries were parsed again on
        // every step. Plans fixed at prepare time are what every other statement here assumes.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        schema::migrate(&mut conn)?;
        Ok(Store { conn })
    }

    /// A write transaction that takes the write lock at once, so two processes never interleave.
    pub fn begin(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Changes whenever another connection commits; cheap to poll.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?)
    }
}

/// Evidence and analysis are stored as JSON text; they are our own types, so serializing cannot fail.
fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("evidence serializes")
}
