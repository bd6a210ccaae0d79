//! Bookkeeping that changes no flag: named values in `meta` (the webhook cursors), stored responses
//! for idempotency keys, and evaluation counts flushed from memory.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, ts_text};

// ---- meta ----------------------------------------------------------------------------------

/// A bookkeeping value by name.
pub fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

pub fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

// ---- idempotency -----------------------------------------------------------------------------

/// The stored (request hash, response) for an idempotency key of one tool.
pub fn idempotent_response(
    conn: &Connection,
    tool: &str,
    key: &str,
) -> Result<Option<(String, String)>> {
    Ok(conn
        .prepare_cached(
            "SELECT request_sha256, response FROM idempotency WHERE tool = ?1 AND key = ?2",
        )?
        .query_row(params![tool, key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

pub fn save_idempotent_response(
    conn: &Connection,
    tool: &str,
    key: &str,
    request_sha256: &str,
    response: &str,
    at: Timestamp,
) -> Result<()> {
    conn.execute(
        "INSERT INTO idempotency (tool, key, request_sha256, response, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![tool, key, request_sha256, response, ts_text(at)],
    )?;
    Ok(())
}

// ---- evaluation counts -------------------------------------------------------------------------

/// Adds flushed in-memory evaluation counts.
pub fn add_evaluations(
    conn: &Connection,
    flag: &str,
    env: &str,
    variant: &str,
    count: u64,
    at: Timestamp,
) -> Result<()> {
    conn.execute(
        "INSERT INTO evaluations (flag_key, env, variant, count, last_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (flag_key, env, variant) DO UPDATE SET count = count + ?4, last_at = ?5",
        params![flag, env, variant, count as i64, ts_text(at)],
    )?;
    Ok(())
}

/// (env, variant, count, last evaluated) for a flag.
pub fn evaluations(conn: &Connection, flag: &str) -> Result<Vec<(String, String, u64, String)>> {
    let mut stmt = conn.prepare_cached("SELECT env, variant, count, last_at FROM evaluations WHERE flag_key = ?1 ORDER BY env, variant")?;
    let rows = stmt.query_map([flag], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64, r.get(3)?))
    })?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

/// Stored evaluation counts of every flag: (flag, environment, variant, count).
pub fn all_evaluations(conn: &Connection) -> Result<Vec<(String, String, String, u64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT flag_key, env, variant, count FROM evaluations ORDER BY flag_key, env, variant",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? as u64))
    })?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}
