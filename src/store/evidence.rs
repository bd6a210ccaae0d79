//! The evidence a rollout's gate reads: raw signal reports (`signals`), their per-period sums
//! (`signal_periods`, so a gate evaluation reads a few rows per period however often applications
//! report), the stored gate evaluations, and the paired offline preflight runs.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, StoreError, parse_json, parse_ts, to_json, ts_text};
use crate::domain::evidence::Source;
use crate::domain::gate::{ArmCounts, ArmData, GateEvaluation, GateLook};

// ---- signals ---------------------------------------------------------------------------------

/// One arm's report: counts, and the distributions and custom counters when the application sent
/// them.
pub struct SignalRow<'a> {
    pub rollout_id: i64,
    pub arm: &'a str,
    pub data: &'a ArmData,
    pub batch_id: Option<&'a str>,
    pub source: Source,
}

pub fn insert_signals(conn: &Connection, row: &SignalRow, at: Timestamp) -> Result<()> {
    let d = row.data;
    let c = &d.counts;
    conn.prepare_cached(
        "INSERT INTO signals (rollout_id, arm, exposures, requests, errors, task_attempts, task_successes, safety_checks, safety_passes, batch_id, recorded_at, latency_ms, eval_scores, custom, source, shadow_agreements, shadow_divergences)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?
    .execute(params![
        row.rollout_id,
        row.arm,
        c.exposures as i64,
        c.requests as i64,
        c.errors as i64,
        c.task_attempts as i64,
        c.task_successes as i64,
        c.safety_checks as i64,
        c.safety_passes as i64,
        row.batch_id,
        ts_text(at),
        (!d.latency_ms.is_empty()).then(|| to_json(&d.latency_ms)),
        (d.scores.n > 0).then(|| to_json(&d.scores)),
        (!d.custom.is_empty()).then(|| to_json(&d.custom)),
        row.source.as_str(),
        c.shadow_agreements as i64,
        c.shadow_divergences as i64,
    ])?;
    // The report just written, added to its arm's running totals for its source.
    conn.prepare_cached(
        "INSERT INTO signal_totals (rollout_id, arm, source, exposures, requests, errors, task_attempts, task_successes, safety_checks, safety_passes, shadow_agreements, shadow_divergences)
         SELECT rollout_id, arm, source, exposures, requests, errors, task_attempts, task_successes, safety_checks, safety_passes, shadow_agreements, shadow_divergences
         FROM signals WHERE id = ?1
         ON CONFLICT (rollout_id, arm, source) DO UPDATE SET
           exposures = exposures + excluded.exposures, requests = requests + excluded.requests,
           errors = errors + excluded.errors, task_attempts = task_attempts + excluded.task_attempts,
           task_successes = task_successes + excluded.task_successes,
           safety_checks = safety_checks + excluded.safety_checks, safety_passes = safety_passes + excluded.safety_passes,
           shadow_agreements = shadow_agreements + excluded.shadow_agreements,
           shadow_divergences = shadow_divergences + excluded.shadow_divergences",
    )?
    .execute([conn.last_insert_rowid()])?;
    add_to_period(conn, row.rollout_id, row.arm, d, at)
}

/// Adds a report to its arm's sum for the period it falls in.
fn add_to_period(
    conn: &Connection,
    rollout_id: i64,
    arm: &str,
    d: &ArmData,
    at: Timestamp,
) -> Result<()> {
    let slot = crate::domain::gate::slot(at);
    let mut sum: ArmData = match conn
        .prepare_cached(
            "SELECT data FROM signal_periods WHERE rollout_id = ?1 AND slot = ?2 AND arm = ?3",
        )?
        .query_row(params![rollout_id, slot, arm], |r| r.get::<_, String>(0))
        .optional()?
    {
        Some(text) => parse_json("signal_periods.data", &text)?,
        None => ArmData::default(),
    };
    sum.add(d);
    conn.prepare_cached(
        "INSERT INTO signal_periods (rollout_id, slot, arm, data, first_at, last_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (rollout_id, slot, arm) DO UPDATE SET data = ?4, last_at = ?5",
    )?
    .execute(params![rollout_id, slot, arm, to_json(&sum), ts_text(at)])?;
    Ok(())
}

/// Summed counts of one arm of a rollout.
pub fn arm_totals(conn: &Connection, rollout_id: i64, arm: &str) -> Result<ArmCounts> {
    Ok(conn.prepare_cached("SELECT COALESCE(SUM(exposures),0), COALESCE(SUM(requests),0), COALESCE(SUM(errors),0), COALESCE(SUM(task_attempts),0),
                COALESCE(SUM(task_successes),0), COALESCE(SUM(safety_checks),0), COALESCE(SUM(safety_passes),0),
                COALESCE(SUM(shadow_agreements),0), COALESCE(SUM(shadow_divergences),0)
         FROM signal_totals WHERE rollout_id = ?1 AND arm = ?2")?
.query_row(
        params![rollout_id, arm],
        |r| {
            Ok(ArmCounts {
                exposures: r.get::<_, i64>(0)? as u64,
                requests: r.get::<_, i64>(1)? as u64,
                errors: r.get::<_, i64>(2)? as u64,
                task_attempts: r.get::<_, i64>(3)? as u64,
                task_successes: r.get::<_, i64>(4)? as u64,
                safety_checks: r.get::<_, i64>(5)? as u64,
                safety_passes: r.get::<_, i64>(6)? as u64,
                shadow_agreements: r.get::<_, i64>(7)? as u64,
                shadow_divergences: r.get::<_, i64>(8)? as u64,
            })
        },
    )?)
}

/// Summed counts of a rollout per arm and source (agent, api, otlp, prometheus), in that order.
pub fn arm_totals_by_source(
    conn: &Connection,
    rollout_id: i64,
) -> Result<Vec<(String, Source, ArmCounts)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT arm, source, exposures, requests, errors, task_attempts, task_successes, safety_checks, safety_passes,
                shadow_agreements, shadow_divergences
         FROM signal_totals WHERE rollout_id = ?1 ORDER BY arm, source",
    )?;
    let mut rows = stmt.query([rollout_id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let source: String = r.get(1)?;
        let source = Source::parse(&source)
            .ok_or_else(|| StoreError::Corrupt(format!("signals.source {source:?}")))?;
        let n = |i: usize| r.get::<_, i64>(i).map(|v| v as u64);
        out.push((
            r.get(0)?,
            source,
            ArmCounts {
                exposures: n(2)?,
                requests: n(3)?,
                errors: n(4)?,
                task_attempts: n(5)?,
                task_successes: n(6)?,
                safety_checks: n(7)?,
                safety_passes: n(8)?,
                shadow_agreements: n(9)?,
                shadow_divergences: n(10)?,
            },
        ));
    }
    Ok(out)
}

/// A rollout's reports summed per period and arm, oldest first: (period start, arm, sum), and the
/// times of the first and the last report.
pub struct Periods {
    pub rows: Vec<(Timestamp, String, ArmData)>,
    pub first_at: Option<Timestamp>,
    pub last_at: Option<Timestamp>,
}

pub fn signal_periods(conn: &Connection, rollout_id: i64) -> Result<Periods> {
    let mut stmt = conn.prepare_cached(
        "SELECT slot, arm, data, first_at, last_at FROM signal_periods WHERE rollout_id = ?1 ORDER BY slot, arm",
    )?;
    let mut rows = stmt.query([rollout_id])?;
    let mut out = Periods {
        rows: Vec::new(),
        first_at: None,
        last_at: None,
    };
    let period = crate::domain::gate::PERIOD.as_secs();
    while let Some(r) = rows.next()? {
        let start = Timestamp::from_second(r.get::<_, i64>(0)? * period)
            .map_err(|e| StoreError::Corrupt(format!("signal_periods.slot: {e}")))?;
        let (first, last) = (
            parse_ts(&r.get::<_, String>(3)?)?,
            parse_ts(&r.get::<_, String>(4)?)?,
        );
        out.first_at = Some(out.first_at.map_or(first, |f| f.min(first)));
        out.last_at = Some(out.last_at.map_or(last, |l| l.max(last)));
        out.rows.push((
            start,
            r.get(1)?,
            parse_json("signal_periods.data", &r.get::<_, String>(2)?)?,
        ));
    }
    Ok(out)
}

// ---- gate evaluations and preflight runs -----------------------------------------------------

pub fn insert_gate_evaluation(conn: &Connection, e: &GateEvaluation) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO gate_evaluations (rollout_id, evaluated_at, verdict, config_sha256, inputs, result) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![e.rollout_id, e.evaluated_at, e.verdict, e.config_sha256, e.inputs.to_string(), e.result.to_string()])?;
    Ok(conn.last_insert_rowid())
}

fn read_gate_evaluation(r: &rusqlite::Row) -> Result<GateEvaluation> {
    Ok(GateEvaluation {
        id: r.get(0)?,
        rollout_id: r.get(1)?,
        evaluated_at: r.get(2)?,
        verdict: r.get(3)?,
        config_sha256: r.get(4)?,
        inputs: parse_json("gate_evaluations.inputs", &r.get::<_, String>(5)?)?,
        result: parse_json("gate_evaluations.result", &r.get::<_, String>(6)?)?,
    })
}

/// A rollout's stored evaluations, newest first.
pub fn gate_evaluations(
    conn: &Connection,
    rollout_id: i64,
    limit: u32,
) -> Result<Vec<GateEvaluation>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, rollout_id, evaluated_at, verdict, config_sha256, inputs, result FROM gate_evaluations
         WHERE rollout_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![rollout_id, limit])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(read_gate_evaluation(r)?);
    }
    Ok(out)
}

/// A rollout's stored looks, newest first, their results read straight into the domain's type and
/// their inputs (the larger part) left unread. A result an older version stored in a shape this
/// one no longer reads is left out, and said once in the log.
pub fn gate_looks(conn: &Connection, rollout_id: i64, limit: u32) -> Result<Vec<GateLook>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, evaluated_at, result FROM gate_evaluations
         WHERE rollout_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![rollout_id, limit])?;
    let (mut out, mut unread) = (Vec::new(), 0);
    while let Some(r) = rows.next()? {
        let text: String = r.get(2)?;
        match serde_json::from_str(&text) {
            Ok(result) => out.push(GateLook {
                id: r.get(0)?,
                evaluated_at: r.get(1)?,
                result,
            }),
            Err(_) => unread += 1,
        }
    }
    if unread > 0 {
        tracing::warn!("rollout {rollout_id}: {unread} stored looks no longer read; not shown");
    }
    Ok(out)
}

/// A paired offline eval run of a candidate variant against the last-known-good.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PreflightRun {
    pub id: i64,
    pub flag: String,
    pub candidate: String,
    pub baseline: String,
    pub suite: String,
    pub items: u64,
    pub verdict: String,
    pub result: serde_json::Value,
    pub recorded_at: String,
}

pub fn insert_preflight(conn: &Connection, p: &PreflightRun) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO preflight_runs (flag_key, candidate, baseline, suite, items, result, verdict, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![p.flag, p.candidate, p.baseline, p.suite, p.items.to_string(), p.result.to_string(), p.verdict, p.recorded_at])?;
    Ok(conn.last_insert_rowid())
}

/// The latest preflight of `candidate` against `baseline` on `flag`.
pub fn latest_preflight(
    conn: &Connection,
    flag: &str,
    candidate: &str,
    baseline: &str,
) -> Result<Option<PreflightRun>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, flag_key, candidate, baseline, suite, items, result, verdict, recorded_at FROM preflight_runs
         WHERE flag_key = ?1 AND candidate = ?2 AND baseline = ?3 ORDER BY id DESC LIMIT 1",
    )?;
    let mut rows = stmt.query(params![flag, candidate, baseline])?;
    let Some(r) = rows.next()? else {
        return Ok(None);
    };
    Ok(Some(PreflightRun {
        id: r.get(0)?,
        flag: r.get(1)?,
        candidate: r.get(2)?,
        baseline: r.get(3)?,
        suite: r.get(4)?,
        items: r.get::<_, String>(5)?.parse().unwrap_or(0),
        result: parse_json("preflight_runs.result", &r.get::<_, String>(6)?)?,
        verdict: r.get(7)?,
        recorded_at: r.get(8)?,
    }))
}

// ---- what the controller follows -------------------------------------------------------------

/// The rollouts that received reports after signal row `after` (from any process), and the newest
/// row id, so the controller looks at each rollout with new evidence once per batch of commits.
/// Without `after`, only the newest row id.
pub fn rollouts_reported_after(conn: &Connection, after: Option<i64>) -> Result<(Vec<i64>, i64)> {
    let newest: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM signals")?
        .query_row([], |r| r.get(0))?;
    let Some(after) = after else {
        return Ok((Vec::new(), newest));
    };
    if newest <= after {
        return Ok((Vec::new(), newest.max(after)));
    }
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT rollout_id FROM signals WHERE id > ?1 AND id <= ?2 ORDER BY rollout_id",
    )?;
    let ids = stmt
        .query_map(params![after, newest], |r| r.get(0))?
        .collect::<std::result::Result<Vec<i64>, _>>()?;
    Ok((ids, newest))
}
