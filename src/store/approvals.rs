//! The human side of policy: approvals (requested, approved, rejected, superseded) and break-glass
//! windows that lift an environment's bounds for a while.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, parse_ts, ts_text};
use crate::domain::approval::Approval;

const APPROVAL_COLUMNS: &str = "id, kind, flag_key, env, rollout_id, target_percent, requested_by, rule, reason, status, approvals_needed, approved_by, decided_by, decision_reason, created_at, decided_at, decided_via";

fn read_approval(r: &rusqlite::Row) -> rusqlite::Result<Approval> {
    let approved_by: String = r.get(11)?;
    Ok(Approval {
        id: r.get(0)?,
        kind: r.get(1)?,
        flag: r.get(2)?,
        env: r.get(3)?,
        rollout_id: r.get(4)?,
        target_percent: r.get(5)?,
        requested_by: r.get(6)?,
        rule: r.get(7)?,
        reason: r.get(8)?,
        status: r.get(9)?,
        approvals_needed: r.get(10)?,
        approved_by: serde_json::from_str(&approved_by).unwrap_or_default(),
        decided_by: r.get(12)?,
        decision_reason: r.get(13)?,
        created_at: r.get(14)?,
        decided_at: r.get(15)?,
        decided_via: r.get(16)?,
    })
}

pub fn insert_approval(conn: &Connection, a: &Approval) -> Result<i64> {
    conn.execute(
        &format!("INSERT INTO approvals ({APPROVAL_COLUMNS}) VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"),
        params![
            a.kind,
            a.flag,
            a.env,
            a.rollout_id,
            a.target_percent,
            a.requested_by,
            a.rule,
            a.reason,
            a.status,
            a.approvals_needed,
            serde_json::to_string(&a.approved_by).expect("strings serialize"),
            a.decided_by,
            a.decision_reason,
            a.created_at,
            a.decided_at,
            a.decided_via
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn update_approval(conn: &Connection, a: &Approval) -> Result<()> {
    conn.execute(
        "UPDATE approvals SET status = ?2, approved_by = ?3, decided_by = ?4, decision_reason = ?5, decided_at = ?6, decided_via = ?7 WHERE id = ?1",
        params![a.id, a.status, serde_json::to_string(&a.approved_by).expect("strings serialize"), a.decided_by, a.decision_reason, a.decided_at, a.decided_via],
    )?;
    Ok(())
}

pub fn approval(conn: &Connection, id: i64) -> Result<Option<Approval>> {
    Ok(conn
        .query_row(
            &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"),
            [id],
            read_approval,
        )
        .optional()?)
}

pub fn approvals(conn: &Connection, status: Option<&str>, limit: u32) -> Result<Vec<Approval>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![status, limit], read_approval)?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

/// Pending approvals of one rollout (superseded when the rollout ends).
pub fn pending_approvals_for(conn: &Connection, flag: &str, env: &str) -> Result<Vec<Approval>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE flag_key = ?1 AND env = ?2 AND status = 'pending' ORDER BY id"))?;
    let rows = stmt.query_map(params![flag, env], read_approval)?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

// ---- break-glass -----------------------------------------------------------------------------

pub fn insert_break_glass(
    conn: &Connection,
    env: &str,
    by: &str,
    reason: &str,
    at: Timestamp,
    until: Timestamp,
) -> Result<()> {
    conn.execute(
        "INSERT INTO break_glass (env, opened_by, reason, opened_at, until) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![env, by, reason, ts_text(at), ts_text(until)],
    )?;
    Ok(())
}

pub fn break_glass_until(
    conn: &Connection,
    env: &str,
    now: Timestamp,
) -> Result<Option<Timestamp>> {
    let until: Option<String> = conn
        .prepare_cached("SELECT MAX(until) FROM break_glass WHERE env = ?1 AND until > ?2")?
        .query_row(params![env, ts_text(now)], |r| r.get(0))?;
    until.map(|u| parse_ts(&u)).transpose()
}
