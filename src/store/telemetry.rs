//! What the OTLP receiver keeps between requests: spans held for a later join (`otlp_spans`),
//! evaluations attributed to an arm and waiting for the span whose outcome they take
//! (`otlp_pending`), and every counted (span, flag) exposure (`otlp_exposures`), so a replayed
//! export counts nothing twice. Held parts are bounded by age and count; see `app`'s ingest.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, parse_json, to_json};
use crate::domain::telemetry::SpanFact;

/// Claims an exposure key for a rollout; `false` when it was claimed before (a duplicate).
pub fn claim_exposure(conn: &Connection, key: &[u8], rollout_id: i64) -> Result<bool> {
    let n = conn
        .prepare_cached("INSERT OR IGNORE INTO otlp_exposures (key, rollout_id) VALUES (?1, ?2)")?
        .execute(params![key, rollout_id])?;
    Ok(n == 1)
}

/// Forgets the exposure keys of finished rollouts: nothing can be counted on them any more.
pub fn forget_finished_exposures(conn: &Connection) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM otlp_exposures WHERE rollout_id IN
           (SELECT id FROM rollouts WHERE state IN ('COMPLETED', 'ROLLED_BACK', 'ABORTED'))",
    )?
    .execute([])?;
    Ok(())
}

/// Holds a span for a later join; a span already held stays as it was.
pub fn hold_span(conn: &Connection, fact: &SpanFact, now_s: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO otlp_spans (key, fact, received_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![&fact.key.bytes()[..], to_json(fact), now_s])?;
    Ok(())
}

pub fn held_span(conn: &Connection, key: &[u8]) -> Result<Option<SpanFact>> {
    let text: Option<String> = conn
        .prepare_cached("SELECT fact FROM otlp_spans WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?;
    text.map(|t| parse_json("otlp_spans.fact", &t)).transpose()
}

/// Drops held spans received before `cutoff_s`, and the oldest beyond `max` rows.
pub fn prune_spans(conn: &Connection, cutoff_s: i64, max: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM otlp_spans WHERE received_at < ?1")?
        .execute([cutoff_s])?;
    conn.prepare_cached(
        "DELETE FROM otlp_spans WHERE id <= (SELECT MAX(id) FROM otlp_spans) - ?1",
    )?
    .execute([max])?;
    Ok(())
}

/// An evaluation waiting for a span.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: i64,
    pub rollout_id: i64,
    pub arm: String,
    /// The span key (24 bytes) it waits for.
    pub waiting: Vec<u8>,
    /// The span active at evaluation, once it arrived.
    pub own: Option<SpanFact>,
    pub sampling: String,
}

pub fn insert_pending(conn: &Connection, p: &Pending, now_s: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO otlp_pending (rollout_id, arm, waiting, own, sampling, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        p.rollout_id,
        p.arm,
        p.waiting,
        p.own.as_ref().map(to_json),
        p.sampling,
        now_s
    ])?;
    Ok(())
}

fn read_pending(r: &rusqlite::Row) -> rusqlite::Result<(Pending, Option<String>)> {
    Ok((
        Pending {
            id: r.get(0)?,
            rollout_id: r.get(1)?,
            arm: r.get(2)?,
            waiting: r.get(3)?,
            own: None,
            sampling: r.get(5)?,
        },
        r.get(4)?,
    ))
}

fn collect(rows: Vec<(Pending, Option<String>)>) -> Result<Vec<Pending>> {
    rows.into_iter()
        .map(|(mut p, own)| {
            p.own = own
                .map(|t| parse_json("otlp_pending.own", &t))
                .transpose()?;
            Ok(p)
        })
        .collect()
}

const PENDING_COLUMNS: &str = "id, rollout_id, arm, waiting, own, sampling";

/// The evaluations waiting for span `key`, oldest first; they are taken out of the table.
pub fn take_pending_for(conn: &Connection, key: &[u8]) -> Result<Vec<Pending>> {
    let rows = conn
        .prepare_cached(&format!(
            "DELETE FROM otlp_pending WHERE waiting = ?1 RETURNING {PENDING_COLUMNS}"
        ))?
        .query_map([key], read_pending)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    collect(rows)
}

/// Takes out the evaluations that waited since before `cutoff_s`, and the oldest beyond `max`:
/// their partner did not come in time.
pub fn take_expired_pending(conn: &Connection, cutoff_s: i64, max: i64) -> Result<Vec<Pending>> {
    let rows = conn
        .prepare_cached(&format!(
            "DELETE FROM otlp_pending WHERE received_at < ?1 OR id <= (SELECT MAX(id) FROM otlp_pending) - ?2 RETURNING {PENDING_COLUMNS}"
        ))?
        .query_map(params![cutoff_s, max], read_pending)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    collect(rows)
}

/// How many evaluations are waiting, and how many spans are held.
pub fn held_counts(conn: &Connection) -> Result<(u64, u64)> {
    Ok(conn.query_row(
        "SELECT (SELECT COUNT(*) FROM otlp_pending), (SELECT COUNT(*) FROM otlp_spans)",
        [],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
    )?)
}
