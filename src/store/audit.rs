//! The audit trail: appending hash-chained events, reading them back (recent, after a cursor, the
//! whole chain for verification), and the change feed the stream sends, which is the trail's
//! allowed flag changes. Events are never updated or deleted: triggers in the schema refuse it.

use std::sync::LazyLock;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, ts_text};
use crate::domain::audit::{AuditEvent, Change, GENESIS, REPORTS};

/// SQL for "not an evidence report" (`audit::REPORTS`): what the watch feed leaves out.
static NOT_A_REPORT: LazyLock<String> = LazyLock::new(|| not_in(&REPORTS));
/// SQL for "neither an evidence report nor the gate's own record of a look, a rollback rehearsal or
/// a checklist attestation": what the change stream and the webhook workers leave out.
static NOT_EVIDENCE: LazyLock<String> = LazyLock::new(|| {
    not_in(
        &[
            &REPORTS[..],
            &["record_verdict", "rehearse_rollback", "attest_checklist"],
        ]
        .concat(),
    )
});

fn not_in(actions: &[&str]) -> String {
    let quoted: Vec<String> = actions.iter().map(|a| format!("'{a}'")).collect();
    format!("action NOT IN ({})", quoted.join(", "))
}

/// Appends an event, chaining it to the last one. Returns its sequence number.
pub fn append_audit(conn: &Connection, mut e: AuditEvent) -> Result<i64> {
    let (last_seq, prev): (i64, String) = conn
        .prepare_cached("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((0, GENESIS.to_owned()));
    e.seq = last_seq + 1;
    let hash = e.chain_hash(&prev);
    conn.execute(
        "INSERT INTO audit_events (seq, ts, actor_kind, actor, action, flag_key, env, rollout_id, approval_id, decision, rule, message, reason,
                                   args, state_before, state_after, policy_version, policy_sha256, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
        params![
            e.seq,
            e.ts,
            e.actor_kind,
            e.actor,
            e.action,
            e.flag,
            e.env,
            e.rollout_id,
            e.approval_id,
            e.decision,
            e.rule,
            e.message,
            e.reason,
            e.args,
            e.before,
            e.after,
            e.policy_version,
            e.policy_sha256,
            prev,
            hash
        ],
    )?;
    Ok(e.seq)
}

const AUDIT_COLUMNS: &str = "seq, ts, actor_kind, actor, action, flag_key, env, rollout_id, approval_id, decision, rule, message, reason, args, state_before, state_after, policy_version, policy_sha256, prev_hash, hash";

fn read_audit(r: &rusqlite::Row) -> rusqlite::Result<(AuditEvent, String, String)> {
    Ok((
        AuditEvent {
            seq: r.get(0)?,
            ts: r.get(1)?,
            actor_kind: r.get(2)?,
            actor: r.get(3)?,
            action: r.get(4)?,
            flag: r.get(5)?,
            env: r.get(6)?,
            rollout_id: r.get(7)?,
            approval_id: r.get(8)?,
            decision: r.get(9)?,
            rule: r.get(10)?,
            message: r.get(11)?,
            reason: r.get(12)?,
            args: r.get(13)?,
            before: r.get(14)?,
            after: r.get(15)?,
            policy_version: r.get(16)?,
            policy_sha256: r.get(17)?,
        },
        r.get(18)?,
        r.get(19)?,
    ))
}

/// Events after `after` through `through`, oldest first, leaving out evidence reports (which change
/// nothing anyone is told about and can be large).
pub fn audit_events_after(
    conn: &Connection,
    after: i64,
    through: i64,
    limit: u32,
) -> Result<Vec<AuditEvent>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_events
         WHERE seq > ?1 AND seq <= ?2 AND {}
         ORDER BY seq LIMIT ?3",
        *NOT_EVIDENCE
    ))?;
    let rows = stmt.query_map(params![after, through, limit], read_audit)?;
    Ok(rows
        .map(|r| r.map(|(e, _, _)| e))
        .collect::<std::result::Result<_, _>>()?)
}

/// Recent events, newest first, optionally for one flag and/or environment.
pub fn audit_events(
    conn: &Connection,
    flag: Option<&str>,
    env: Option<&str>,
    limit: u32,
) -> Result<Vec<AuditEvent>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE (?1 IS NULL OR flag_key = ?1) AND (?2 IS NULL OR env = ?2) ORDER BY seq DESC LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![flag, env, limit], read_audit)?;
    Ok(rows
        .map(|r| r.map(|(e, _, _)| e))
        .collect::<std::result::Result<_, _>>()?)
}

/// Every event naming rollout `id`, oldest first.
pub fn audit_events_of_rollout(conn: &Connection, id: i64) -> Result<Vec<AuditEvent>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE rollout_id = ?1 ORDER BY seq"
    ))?;
    let rows = stmt.query_map(params![id], read_audit)?;
    Ok(rows
        .map(|r| r.map(|(e, _, _)| e))
        .collect::<std::result::Result<_, _>>()?)
}

/// One action's events about one approval, oldest first (the in-client answers that decided nothing).
pub fn approval_events(
    conn: &Connection,
    approval_id: i64,
    action: &str,
) -> Result<Vec<AuditEvent>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE approval_id = ?1 AND action = ?2 ORDER BY seq"
    ))?;
    let rows = stmt.query_map(params![approval_id, action], read_audit)?;
    Ok(rows
        .map(|r| r.map(|(e, _, _)| e))
        .collect::<std::result::Result<_, _>>()?)
}

/// Every event in order with its stored previous hash and hash, for verification.
pub fn audit_chain(conn: &Connection) -> Result<Vec<(AuditEvent, String, String)>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_events ORDER BY seq"
    ))?;
    let rows = stmt.query_map([], read_audit)?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

/// How many allowed `action` events touched rollout `rollout_id` since `since`.
pub fn count_actions_since(
    conn: &Connection,
    action: &str,
    rollout_id: i64,
    since: Timestamp,
) -> Result<u32> {
    Ok(conn.prepare_cached("SELECT COUNT(*) FROM audit_events WHERE action = ?1 AND rollout_id = ?2 AND decision = 'allow' AND ts >= ?3")?
.query_row(
        params![action, rollout_id, ts_text(since)],
        |r| r.get(0),
    )?)
}

// ---- change feed -----------------------------------------------------------------------------

/// Allowed, committed actions on flags after `after`, oldest first. Evidence reports change no
/// evaluation and are left out.
pub fn changes_since(conn: &Connection, after: i64, limit: u32) -> Result<Vec<Change>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT seq, flag_key, env, action, ts, rollout_id FROM audit_events
         WHERE seq > ?1 AND decision = 'allow' AND flag_key IS NOT NULL AND {}
         ORDER BY seq LIMIT ?2",
        *NOT_EVIDENCE
    ))?;
    let rows = stmt.query_map(params![after, limit], change_row)?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

/// What a watcher of a flag or a rollout is told about: every committed change after `after`,
/// oldest first. Beside the allowed changes of `changes_since` this counts an approval opened
/// (`needs_approval`: the rollout waits for a human), which changes no evaluation but changes the
/// rollout. Refusals and conflicts changed nothing; evidence reports are read live, not notified.
pub fn watched_since(conn: &Connection, after: i64, limit: u32) -> Result<Vec<Change>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT seq, flag_key, env, action, ts, rollout_id FROM audit_events
         WHERE seq > ?1 AND decision IN ('allow', 'needs_approval') AND flag_key IS NOT NULL
           AND {}
         ORDER BY seq LIMIT ?2",
        *NOT_A_REPORT
    ))?;
    let rows = stmt.query_map(params![after, limit], change_row)?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

/// The newest change `watched_since` would report for flag `flag` in environment `env` (flag-wide
/// changes count for every environment), or 0: the version a watcher of that rollout names.
pub fn last_watched(conn: &Connection, flag: &str, env: &str) -> Result<i64> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT COALESCE(MAX(seq), 0) FROM audit_events
         WHERE flag_key = ?1 AND (env = ?2 OR env IS NULL)
           AND decision IN ('allow', 'needs_approval') AND {}",
            *NOT_A_REPORT
        ))?
        .query_row(params![flag, env], |r| r.get(0))?)
}

fn change_row(r: &rusqlite::Row) -> rusqlite::Result<Change> {
    Ok(Change {
        seq: r.get(0)?,
        flag: r.get(1)?,
        environment: r.get(2)?,
        action: r.get(3)?,
        at: r.get(4)?,
        rollout: r.get(5)?,
    })
}

pub fn last_audit_seq(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM audit_events")?
        .query_row([], |r| r.get(0))?)
}
