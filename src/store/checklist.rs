//! The pre-release checklist's tables: a flag's escalation contact (a column of `flags`), the
//! statements people and agents attest (`checklist_attestations`), the rollback rehearsals
//! (`rehearsals`), the environment's latest evaluation of a flag, and the scratch copy of the store
//! a rehearsal flips in (SQLite's online backup into a temporary file).

use std::path::Path;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, StoreError, parse_ts, ts_text};
use crate::domain::policy::RehearsalFact;

/// Sets the owner and escalation contact of a flag; `None` leaves a field as it is.
pub fn set_contacts(
    conn: &Connection,
    key: &str,
    owner: Option<&str>,
    escalation: Option<&str>,
) -> Result<()> {
    conn.execute(
        "UPDATE flags SET owner = COALESCE(?2, owner), escalation = COALESCE(?3, escalation) WHERE key = ?1",
        params![key, owner, escalation],
    )?;
    Ok(())
}

pub fn flag_escalation(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT escalation FROM flags WHERE key = ?1")?
        .query_row([key], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

/// One attested checklist statement.
#[derive(Debug, Clone)]
pub struct Attestation {
    pub id: i64,
    pub text: String,
    pub actor_kind: String,
    pub actor: String,
    pub at: Timestamp,
}

// One row's columns, each a different fact: a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub fn insert_attestation(
    conn: &Connection,
    flag: &str,
    env: &str,
    item: &str,
    text: &str,
    actor_kind: &str,
    actor: &str,
    at: Timestamp,
) -> Result<i64> {
    conn.execute(
        "INSERT INTO checklist_attestations (flag_key, env, item, text, actor_kind, actor, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![flag, env, item, text, actor_kind, actor, ts_text(at)],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The latest statement of `item` for the flag in the environment.
pub fn latest_attestation(
    conn: &Connection,
    flag: &str,
    env: &str,
    item: &str,
) -> Result<Option<Attestation>> {
    let row = conn
        .prepare_cached(
            "SELECT id, text, actor_kind, actor, at FROM checklist_attestations
             WHERE flag_key = ?1 AND env = ?2 AND item = ?3 ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![flag, env, item], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })
        .optional()?;
    row.map(|(id, text, actor_kind, actor, at)| {
        Ok(Attestation {
            id,
            text,
            actor_kind,
            actor,
            at: parse_ts(&at)?,
        })
    })
    .transpose()
}

/// A rehearsal as stored: what it found, as JSON, and whether it passed.
pub struct RehearsalRow<'a> {
    pub flag: &'a str,
    pub env: &'a str,
    pub rollout_id: Option<i64>,
    pub lkg: &'a str,
    pub passed: bool,
    pub why: &'a str,
    pub result: &'a serde_json::Value,
    pub actor_kind: &'a str,
    pub actor: &'a str,
    pub at: Timestamp,
}

pub fn insert_rehearsal(conn: &Connection, r: &RehearsalRow) -> Result<i64> {
    conn.execute(
        "INSERT INTO rehearsals (flag_key, env, rollout_id, lkg, passed, why, result, actor_kind, actor, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            r.flag,
            r.env,
            r.rollout_id,
            r.lkg,
            r.passed,
            r.why,
            r.result.to_string(),
            r.actor_kind,
            r.actor,
            ts_text(r.at)
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The latest rehearsal of the flag's rollback in the environment.
pub fn latest_rehearsal(conn: &Connection, flag: &str, env: &str) -> Result<Option<RehearsalFact>> {
    let row = conn
        .prepare_cached(
            "SELECT id, at, passed, actor_kind, why FROM rehearsals
             WHERE flag_key = ?1 AND env = ?2 ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![flag, env], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })
        .optional()?;
    row.map(|(id, at, passed, kind, why)| {
        Ok(RehearsalFact {
            id,
            at: parse_ts(&at)?,
            passed,
            by_human: kind == "human",
            why,
        })
    })
    .transpose()
}

/// When the flag was last evaluated in the environment, by the flushed counts.
pub fn last_evaluated_at(conn: &Connection, flag: &str, env: &str) -> Result<Option<Timestamp>> {
    let at: Option<String> = conn
        .prepare_cached("SELECT MAX(last_at) FROM evaluations WHERE flag_key = ?1 AND env = ?2")?
        .query_row(params![flag, env], |r| r.get(0))?;
    at.map(|s| parse_ts(&s)).transpose()
}

/// Copies the committed database `conn` reads into a new file at `path` with SQLite's online backup,
/// in one step. `conn` must have no transaction open. The copy is a scratch store: nothing written
/// there reaches the real one.
pub fn scratch_copy(conn: &Connection, path: &Path) -> Result<Connection> {
    let mut dst = open_scratch(path)?;
    {
        let backup = rusqlite::backup::Backup::new(conn, &mut dst)?;
        match backup.step(-1)? {
            rusqlite::backup::StepResult::Done => {}
            other => {
                return Err(StoreError::Corrupt(format!(
                    "the scratch copy did not complete ({other:?}); try again"
                )));
            }
        }
    }
    Ok(dst)
}

/// Opens a scratch copy made by `scratch_copy`.
pub fn open_scratch(path: &Path) -> Result<Connection> {
    Connection::open(path).map_err(|e| StoreError::Open {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// The break-glass window open in `env` at `now` that lasts longest: its id and who opened it.
pub fn active_break_glass(
    conn: &Connection,
    env: &str,
    now: Timestamp,
) -> Result<Option<(i64, String)>> {
    Ok(conn
        .prepare_cached("SELECT id, opened_by FROM break_glass WHERE env = ?1 AND until > ?2 ORDER BY until DESC, id DESC LIMIT 1")?
.query_row(
            params![env, ts_text(now)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Every audit event about rollout `id`, oldest first (the postmortem's record).
pub fn rollout_events(conn: &Connection, id: i64) -> Result<Vec<crate::domain::audit::AuditEvent>> {
    let mut out = super::audit_events_of_rollout(conn, id)?;
    out.sort_by_key(|e| e.seq);
    Ok(out)
}
