//! What the query providers (Prometheus) keep per rollout: a cursor per rollout and query saying
//! where the windows already recorded end, with a claim so two processes on one store do not both
//! read a window; the evidence gaps, one row per rollout, source and query, the latest run of
//! failures; and each guardrail's readings.

use jiff::{SignedDuration, Timestamp};
use rusqlite::{Connection, params};

use super::{Result, StoreError, parse_ts, ts_text};
use crate::domain::evidence::{EvidenceGap, Source};
use crate::domain::gate::GuardrailReading;

// ---- cursors -------------------------------------------------------------------------------------

/// Claims the next window of query `name` on a rollout for `me` until `now + ttl`, creating the
/// cursor at `start` if there is none. Returns where the recorded windows end, or `None` while
/// another process holds an unexpired claim.
pub fn claim_cursor(
    conn: &Connection,
    rollout_id: i64,
    name: &str,
    start: Timestamp,
    me: &str,
    now: Timestamp,
    ttl: SignedDuration,
) -> Result<Option<Timestamp>> {
    conn.execute(
        "INSERT INTO evidence_cursors (rollout_id, name, until) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![rollout_id, name, ts_text(start)],
    )?;
    let (until, by, claim_until): (String, Option<String>, Option<String>) = conn.prepare_cached("SELECT until, claimed_by, claimed_until FROM evidence_cursors WHERE rollout_id = ?1 AND name = ?2")?
.query_row(
        params![rollout_id, name],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    if let (Some(by), Some(claim_until)) = (by, claim_until)
        && by != me
        && parse_ts(&claim_until)? > now
    {
        return Ok(None);
    }
    conn.execute(
        "UPDATE evidence_cursors SET claimed_by = ?3, claimed_until = ?4 WHERE rollout_id = ?1 AND name = ?2",
        params![rollout_id, name, me, ts_text(now + ttl)],
    )?;
    Ok(Some(parse_ts(&until)?))
}

/// Moves the cursor from `from` to `to`, only if it is still at `from` and not claimed by someone
/// else: `false` means another process recorded the window. `me`'s claim stays, so a worker reading
/// several windows in a row keeps them; it releases the claim when it is done.
pub fn advance_cursor(
    conn: &Connection,
    rollout_id: i64,
    name: &str,
    from: Timestamp,
    to: Timestamp,
    me: &str,
) -> Result<bool> {
    let n = conn.execute(
        "UPDATE evidence_cursors SET until = ?4
         WHERE rollout_id = ?1 AND name = ?2 AND until = ?3 AND (claimed_by IS NULL OR claimed_by = ?5)",
        params![rollout_id, name, ts_text(from), ts_text(to), me],
    )?;
    Ok(n == 1)
}

/// Drops `me`'s claim without moving the cursor: the window is read again later.
pub fn release_cursor(conn: &Connection, rollout_id: i64, name: &str, me: &str) -> Result<()> {
    conn.execute(
        "UPDATE evidence_cursors SET claimed_by = NULL, claimed_until = NULL WHERE rollout_id = ?1 AND name = ?2 AND claimed_by = ?3",
        params![rollout_id, name, me],
    )?;
    Ok(())
}

// ---- gaps ----------------------------------------------------------------------------------------

/// Records a failed read: it extends the open gap of that query, or opens a new one.
pub fn record_gap(
    conn: &Connection,
    rollout_id: i64,
    source: Source,
    name: &str,
    reason: &str,
    at: Timestamp,
) -> Result<()> {
    conn.execute(
        "INSERT INTO evidence_gaps (rollout_id, source, name, reason, since, last_at, count, closed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, 1, NULL)
         ON CONFLICT (rollout_id, source, name) DO UPDATE SET
           reason = excluded.reason,
           last_at = excluded.last_at,
           since = CASE WHEN closed_at IS NULL THEN since ELSE excluded.since END,
           count = CASE WHEN closed_at IS NULL THEN count + 1 ELSE 1 END,
           closed_at = NULL",
        params![rollout_id, source.as_str(), name, reason, ts_text(at)],
    )?;
    Ok(())
}

/// Closes the open gap of a query that read real values again.
pub fn close_gap(
    conn: &Connection,
    rollout_id: i64,
    source: Source,
    name: &str,
    at: Timestamp,
) -> Result<()> {
    conn.execute(
        "UPDATE evidence_gaps SET closed_at = ?4 WHERE rollout_id = ?1 AND source = ?2 AND name = ?3 AND closed_at IS NULL",
        params![rollout_id, source.as_str(), name, ts_text(at)],
    )?;
    Ok(())
}

fn gaps(conn: &Connection, sql: &str, rollout_id: i64) -> Result<Vec<EvidenceGap>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([rollout_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, Option<String>>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (source, name, reason, since, last_at, count, closed_at) = row?;
        out.push(EvidenceGap {
            source: Source::parse(&source)
                .ok_or_else(|| StoreError::Corrupt(format!("evidence source {source:?}")))?,
            name,
            reason,
            since: parse_ts(&since)?,
            last_at: parse_ts(&last_at)?,
            count: count.max(0) as u64,
            closed_at: closed_at.as_deref().map(parse_ts).transpose()?,
        });
    }
    Ok(out)
}

const GAP_COLUMNS: &str = "source, name, reason, since, last_at, count, closed_at";

/// A rollout's open gaps, by source and query.
pub fn open_gaps(conn: &Connection, rollout_id: i64) -> Result<Vec<EvidenceGap>> {
    gaps(
        conn,
        &format!(
            "SELECT {GAP_COLUMNS} FROM evidence_gaps WHERE rollout_id = ?1 AND closed_at IS NULL ORDER BY source, name"
        ),
        rollout_id,
    )
}

/// The latest gap of each source on a rollout, open or closed.
pub fn last_gaps(conn: &Connection, rollout_id: i64) -> Result<Vec<EvidenceGap>> {
    let all = gaps(
        conn,
        &format!(
            "SELECT {GAP_COLUMNS} FROM evidence_gaps WHERE rollout_id = ?1 ORDER BY source, last_at DESC"
        ),
        rollout_id,
    )?;
    let mut out: Vec<EvidenceGap> = Vec::new();
    for g in all {
        if out.last().is_none_or(|o| o.source != g.source) {
            out.push(g);
        }
    }
    Ok(out)
}

// ---- guardrail readings --------------------------------------------------------------------------

/// Stores one guardrail's real value read at `at`, with the limit it was read under.
pub fn insert_guardrail_reading(
    conn: &Connection,
    rollout_id: i64,
    g: &GuardrailReading,
    recorded_at: Timestamp,
) -> Result<()> {
    conn.execute(
        "INSERT INTO guardrail_readings (rollout_id, name, at, value, above, below, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (rollout_id, name, at) DO NOTHING",
        params![rollout_id, g.name, ts_text(g.at), g.value, g.above, g.below, ts_text(recorded_at)],
    )?;
    Ok(())
}

/// The latest reading of each guardrail on a rollout.
pub fn guardrail_readings(conn: &Connection, rollout_id: i64) -> Result<Vec<GuardrailReading>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, value, above, below, at FROM guardrail_readings g WHERE rollout_id = ?1
           AND at = (SELECT MAX(at) FROM guardrail_readings WHERE rollout_id = g.rollout_id AND name = g.name)
         ORDER BY name",
    )?;
    let rows = stmt.query_map([rollout_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, f64>(1)?,
            r.get::<_, Option<f64>>(2)?,
            r.get::<_, Option<f64>>(3)?,
            r.get::<_, String>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (name, value, above, below, at) = row?;
        out.push(GuardrailReading {
            name,
            value,
            above,
            below,
            at: parse_ts(&at)?,
        });
    }
    Ok(out)
}
