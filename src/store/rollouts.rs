//! The rollouts table: reading and saving the rollout state machine's rows, and the counts the
//! policy's rate limits and the metrics read. At most one unfinished rollout per flag and environment
//! (a unique partial index enforces it); `ACTIVE` is the SQL for "unfinished".

use jiff::Timestamp;
use rusqlite::{Connection, params};

use super::{Result, StoreError, parse_json, parse_ts, to_json, ts_text};
use crate::domain::bucket::Percent;
use crate::domain::rollout::{Analysis, Rollout, RolloutState};

const ROLLOUT_COLUMNS: &str = "id, flag_key, env, candidate, lkg, steps, step, pending_step, state, step_started_at, created_at, updated_at, analysis, paused_reason";

fn read_rollout(r: &rusqlite::Row) -> Result<Rollout> {
    let steps: String = r.get(5)?;
    let steps: Vec<u16> = parse_json("steps", &steps)?;
    let state: String = r.get(8)?;
    let opt_ts = |s: Option<String>| s.map(|s| parse_ts(&s)).transpose();
    Ok(Rollout {
        id: r.get(0)?,
        flag: r.get(1)?,
        env: r.get(2)?,
        candidate: r.get(3)?,
        lkg: r.get(4)?,
        steps: steps
            .into_iter()
            .map(|bp| {
                Percent::from_basis_points(bp)
                    .ok_or_else(|| StoreError::Corrupt(format!("step {bp}")))
            })
            .collect::<Result<_>>()?,
        step: r.get::<_, Option<i64>>(6)?.map(|s| s as usize),
        pending_step: r.get::<_, Option<i64>>(7)?.map(|s| s as usize),
        state: RolloutState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("rollout state {state:?}")))?,
        step_started_at: opt_ts(r.get(9)?)?,
        created_at: parse_ts(&r.get::<_, String>(10)?)?,
        updated_at: parse_ts(&r.get::<_, String>(11)?)?,
        analysis: match r.get::<_, Option<String>>(12)? {
            Some(text) => parse_json("rollouts.analysis", &text)?,
            None => Analysis::default(),
        },
        paused_reason: r.get(13)?,
    })
}

fn query_rollouts(
    conn: &Connection,
    filter: &str,
    p: impl rusqlite::Params,
) -> Result<Vec<Rollout>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {ROLLOUT_COLUMNS} FROM rollouts {filter}"))?;
    let rows = stmt
        .query_map(p, |r| Ok(read_rollout(r)))?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    rows.into_iter().collect()
}

const ACTIVE: &str = "state NOT IN ('COMPLETED', 'ROLLED_BACK', 'ABORTED')";

/// The rollout of `flag` in `env` that is not yet finished, if any (there is at most one).
pub fn active_rollout(conn: &Connection, flag: &str, env: &str) -> Result<Option<Rollout>> {
    Ok(query_rollouts(
        conn,
        &format!("WHERE flag_key = ?1 AND env = ?2 AND {ACTIVE}"),
        params![flag, env],
    )?
    .pop())
}

/// The most recent rollout of `flag` in `env`, finished or not.
pub fn latest_rollout(conn: &Connection, flag: &str, env: &str) -> Result<Option<Rollout>> {
    Ok(query_rollouts(
        conn,
        "WHERE flag_key = ?1 AND env = ?2 ORDER BY id DESC LIMIT 1",
        params![flag, env],
    )?
    .pop())
}

pub fn active_rollouts_of(conn: &Connection, flag: &str) -> Result<Vec<Rollout>> {
    query_rollouts(
        conn,
        &format!("WHERE flag_key = ?1 AND {ACTIVE} ORDER BY id"),
        [flag],
    )
}

/// The unfinished rollouts of release group `group` in `env` (its members), oldest first.
pub fn group_rollouts(conn: &Connection, group: &str, env: &str) -> Result<Vec<Rollout>> {
    query_rollouts(
        conn,
        &format!(
            "WHERE env = ?2 AND {ACTIVE} AND analysis IS NOT NULL AND json_extract(analysis, '$.group') = ?1 ORDER BY id"
        ),
        params![group, env],
    )
}

/// The unfinished members of release group `group` in `env`, when it has any.
pub fn active_group(conn: &Connection, group: &str, env: &str) -> Result<Option<Vec<Rollout>>> {
    let members = group_rollouts(conn, group, env)?;
    Ok((!members.is_empty()).then_some(members))
}

/// Every unfinished rollout by (flag, environment), for reads that go through every flag.
pub fn active_by_flag_env(
    conn: &Connection,
) -> Result<std::collections::HashMap<(String, String), Rollout>> {
    Ok(active_rollouts(conn)?
        .into_iter()
        .map(|r| ((r.flag.clone(), r.env.clone()), r))
        .collect())
}

pub fn active_rollouts(conn: &Connection) -> Result<Vec<Rollout>> {
    query_rollouts(conn, &format!("WHERE {ACTIVE} ORDER BY id"), [])
}

/// Every unfinished rollout and the newest `recent` finished ones, newest first.
pub fn listed_rollouts(conn: &Connection, recent: u32) -> Result<Vec<Rollout>> {
    query_rollouts(
        conn,
        &format!(
            "WHERE {ACTIVE} OR id IN (SELECT id FROM rollouts ORDER BY id DESC LIMIT ?1) ORDER BY id DESC"
        ),
        [recent],
    )
}

pub fn rollout(conn: &Connection, id: i64) -> Result<Option<Rollout>> {
    Ok(query_rollouts(conn, "WHERE id = ?1", [id])?.pop())
}

pub fn next_rollout_id(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT COALESCE(MAX(id), 0) + 1 FROM rollouts")?
        .query_row([], |r| r.get(0))?)
}

pub fn save_rollout(conn: &Connection, r: &Rollout) -> Result<()> {
    let steps: Vec<u16> = r.steps.iter().map(|p| p.basis_points()).collect();
    conn.execute(
        &format!(
            "INSERT INTO rollouts ({ROLLOUT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (id) DO UPDATE SET step = ?7, pending_step = ?8, state = ?9, step_started_at = ?10, updated_at = ?12, analysis = ?13, paused_reason = ?14"
        ),
        params![
            r.id,
            r.flag,
            r.env,
            r.candidate,
            r.lkg,
            serde_json::to_string(&steps).expect("numbers serialize"),
            r.step.map(|s| s as i64),
            r.pending_step.map(|s| s as i64),
            r.state.as_str(),
            r.step_started_at.map(ts_text),
            ts_text(r.created_at),
            ts_text(r.updated_at),
            to_json(&r.analysis),
            r.paused_reason,
        ],
    )?;
    record_step(conn, r)
}

/// Appends the rollout's canary share to its history when it changed (attribution reads the
/// share in force at an evaluation's time). A finished rollout exposes nobody and needs none.
fn record_step(conn: &Connection, r: &Rollout) -> Result<()> {
    if r.state.is_terminal() {
        return Ok(());
    }
    let bp = r.live().map_or(0, |l| l.percent.basis_points());
    conn.prepare_cached(
        "INSERT INTO rollout_steps (rollout_id, from_at, canary_bp) SELECT ?1, ?2, ?3
         WHERE COALESCE((SELECT canary_bp FROM rollout_steps WHERE rollout_id = ?1 ORDER BY from_at DESC LIMIT 1), -1) != ?3
         ON CONFLICT (rollout_id, from_at) DO UPDATE SET canary_bp = ?3",
    )?
    .execute(params![r.id, ts_text(r.updated_at), bp])?;
    Ok(())
}

/// A rollout's canary share from each change on, oldest first.
pub fn rollout_steps(conn: &Connection, rollout_id: i64) -> Result<Vec<(Timestamp, Percent)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT from_at, canary_bp FROM rollout_steps WHERE rollout_id = ?1 ORDER BY from_at",
    )?;
    let mut rows = stmt.query([rollout_id])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let bp: i64 = row.get(1)?;
        let p = u16::try_from(bp)
            .ok()
            .and_then(Percent::from_basis_points)
            .ok_or_else(|| StoreError::Corrupt(format!("rollout_steps.canary_bp {bp}")))?;
        out.push((parse_ts(&row.get::<_, String>(0)?)?, p));
    }
    Ok(out)
}

pub fn count_rollouts_started_since(conn: &Connection, env: &str, since: Timestamp) -> Result<u32> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM rollouts WHERE env = ?1 AND created_at >= ?2")?
        .query_row(params![env, ts_text(since)], |r| r.get(0))?)
}

pub fn count_rollout_states(conn: &Connection) -> Result<Vec<(String, u64)>> {
    let mut stmt =
        conn.prepare_cached("SELECT state, COUNT(*) FROM rollouts GROUP BY state ORDER BY state")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}
