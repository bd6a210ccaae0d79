//! The SQLite store: schema migrations, and every query flagwarden runs. The only module that knows SQL.
//!
//! One file, WAL mode, foreign keys on. Mutations run inside `BEGIN IMMEDIATE` transactions opened by
//! the application, so each change and its audit event commit together or not at all. Audit events are
//! append-only: triggers refuse UPDATE and DELETE on them.

mod schema;

use std::path::Path;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde_json::Value;

use crate::domain::audit::{AuditEvent, GENESIS};
use crate::domain::bucket::Percent;
use crate::domain::flag::{ChangeType, EnvState, Flag, FlagKey, FlagStatus, Variants};
use crate::domain::gate::{ArmCounts, ArmData};
use crate::domain::rollout::{Analysis, Rollout, RolloutState};
use crate::domain::rules::{Rule, RuleSpec};

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
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }
}

// ---- flags -----------------------------------------------------------------------------------

const FLAG_COLUMNS: &str = "key, description, change_type, variants, off_variant, default_variant, owner, lifetime_days, tags, salt, status, version, created_at, updated_at";

pub fn insert_flag(conn: &Connection, f: &Flag) -> Result<()> {
    conn.execute(
        &format!("INSERT INTO flags ({FLAG_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"),
        params![
            f.key.as_str(),
            f.description,
            f.change_type.as_str(),
            Value::Object(f.variants.to_map()).to_string(),
            f.off_variant,
            f.default_variant,
            f.owner,
            f.lifetime_days,
            serde_json::to_string(&f.tags).expect("strings serialize"),
            f.salt,
            f.status.as_str(),
            f.version,
            ts_text(f.created_at),
            ts_text(f.updated_at),
        ],
    )?;
    for (env, state) in &f.envs {
        upsert_env(conn, f.key.as_str(), env, state)?;
    }
    Ok(())
}

/// Writes the flag-level fields that change after creation, and the version.
pub fn update_flag(conn: &Connection, f: &Flag) -> Result<()> {
    conn.execute(
        "UPDATE flags SET status = ?2, version = ?3, updated_at = ?4 WHERE key = ?1",
        params![
            f.key.as_str(),
            f.status.as_str(),
            f.version,
            ts_text(f.updated_at)
        ],
    )?;
    Ok(())
}

/// Adds one variant to a flag. Variants are only ever appended: a served variant is never edited,
/// so an existing name is refused here too.
pub fn append_variant(conn: &Connection, key: &str, name: &str, value: &Value) -> Result<()> {
    let text: String = conn.query_row("SELECT variants FROM flags WHERE key = ?1", [key], |r| {
        r.get(0)
    })?;
    let mut map: serde_json::Map<String, Value> = parse_json("variants", &text)?;
    if map.contains_key(name) {
        return Err(StoreError::Corrupt(format!(
            "variant {name} of {key} exists; variants are never edited"
        )));
    }
    map.insert(name.to_owned(), value.clone());
    conn.execute(
        "UPDATE flags SET variants = ?2 WHERE key = ?1",
        params![key, Value::Object(map).to_string()],
    )?;
    Ok(())
}

pub fn upsert_env(conn: &Connection, key: &str, env: &str, s: &EnvState) -> Result<()> {
    let rules: Vec<&RuleSpec> = s.rules.iter().map(Rule::spec).collect();
    conn.execute(
        "INSERT INTO flag_envs (flag_key, env, enabled, default_variant, rules, pinned_variant, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (flag_key, env) DO UPDATE SET enabled = ?3, default_variant = ?4, rules = ?5, pinned_variant = ?6, updated_at = ?7",
        params![key, env, s.enabled, s.default_variant, serde_json::to_string(&rules).expect("rules serialize"), s.pinned_variant, ts_text(s.updated_at)],
    )?;
    Ok(())
}

fn read_flag(row: &rusqlite::Row) -> Result<Flag> {
    let key: String = row.get(0)?;
    let variants: String = row.get(3)?;
    let variants = Variants::parse(&parse_json::<serde_json::Map<String, Value>>(
        "variants", &variants,
    )?)
    .map_err(|e| StoreError::Corrupt(format!("flag {key}: {e}")))?;
    let change_type: String = row.get(2)?;
    let status: String = row.get(10)?;
    let tags: String = row.get(8)?;
    Ok(Flag {
        key: FlagKey::parse(&key).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        description: row.get(1)?,
        change_type: ChangeType::parse(&change_type)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        variants,
        off_variant: row.get(4)?,
        default_variant: row.get(5)?,
        owner: row.get(6)?,
        lifetime_days: row.get(7)?,
        tags: parse_json("tags", &tags)?,
        salt: row.get(9)?,
        status: FlagStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("flag status {status:?}")))?,
        version: row.get(11)?,
        created_at: parse_ts(&row.get::<_, String>(12)?)?,
        updated_at: parse_ts(&row.get::<_, String>(13)?)?,
        envs: Default::default(),
    })
}

fn attach_envs(conn: &Connection, flag: &mut Flag) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT env, enabled, default_variant, rules, pinned_variant, updated_at FROM flag_envs WHERE flag_key = ?1 ORDER BY env",
    )?;
    let rows = stmt.query_map([flag.key.as_str()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, bool>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    for row in rows {
        let (env, enabled, default_variant, rules, pinned_variant, updated_at) = row?;
        let specs: Vec<RuleSpec> = parse_json("rules", &rules)?;
        let rules = Rule::parse_all(&specs, &flag.variants)
            .map_err(|e| StoreError::Corrupt(format!("rules of {}/{env}: {e}", flag.key)))?;
        flag.envs.insert(
            env,
            EnvState {
                enabled,
                default_variant,
                rules,
                pinned_variant,
                updated_at: parse_ts(&updated_at)?,
            },
        );
    }
    Ok(())
}

pub fn load_flag(conn: &Connection, key: &str) -> Result<Option<Flag>> {
    let flag = conn
        .query_row(
            &format!("SELECT {FLAG_COLUMNS} FROM flags WHERE key = ?1"),
            [key],
            |r| Ok(read_flag(r)),
        )
        .optional()?
        .transpose()?;
    match flag {
        None => Ok(None),
        Some(mut f) => {
            attach_envs(conn, &mut f)?;
            Ok(Some(f))
        }
    }
}

pub fn load_flags(conn: &Connection) -> Result<Vec<Flag>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {FLAG_COLUMNS} FROM flags ORDER BY key"))?;
    let flags = stmt
        .query_map([], |r| Ok(read_flag(r)))?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(flags.len());
    for f in flags {
        let mut f = f?;
        attach_envs(conn, &mut f)?;
        out.push(f);
    }
    Ok(out)
}

pub fn count_flags_created_since(conn: &Connection, since: Timestamp) -> Result<u32> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM flags WHERE created_at >= ?1",
        [ts_text(since)],
        |r| r.get(0),
    )?)
}

// ---- rollouts --------------------------------------------------------------------------------

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

pub fn active_rollouts(conn: &Connection) -> Result<Vec<Rollout>> {
    query_rollouts(conn, &format!("WHERE {ACTIVE} ORDER BY id"), [])
}

pub fn rollout(conn: &Connection, id: i64) -> Result<Option<Rollout>> {
    Ok(query_rollouts(conn, "WHERE id = ?1", [id])?.pop())
}

pub fn next_rollout_id(conn: &Connection) -> Result<i64> {
    Ok(
        conn.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM rollouts", [], |r| {
            r.get(0)
        })?,
    )
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
    Ok(())
}

pub fn count_rollouts_started_since(conn: &Connection, env: &str, since: Timestamp) -> Result<u32> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM rollouts WHERE env = ?1 AND created_at >= ?2",
        params![env, ts_text(since)],
        |r| r.get(0),
    )?)
}

pub fn count_rollout_states(conn: &Connection) -> Result<Vec<(String, u64)>> {
    let mut stmt =
        conn.prepare_cached("SELECT state, COUNT(*) FROM rollouts GROUP BY state ORDER BY state")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

// ---- signals ---------------------------------------------------------------------------------

/// One arm's report: counts, and the distributions and custom counters when the application sent
/// them.
pub struct SignalRow<'a> {
    pub rollout_id: i64,
    pub arm: &'a str,
    pub data: &'a ArmData,
    pub batch_id: Option<&'a str>,
}

pub fn insert_signals(conn: &Connection, row: &SignalRow, at: Timestamp) -> Result<()> {
    let d = row.data;
    let c = &d.counts;
    conn.prepare_cached(
        "INSERT INTO signals (rollout_id, arm, exposures, requests, errors, task_attempts, task_successes, safety_checks, safety_passes, batch_id, recorded_at, latency_ms, eval_scores, custom)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
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
    ])?;
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

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("evidence serializes")
}

/// Summed counts of one arm of a rollout.
pub fn arm_totals(conn: &Connection, rollout_id: i64, arm: &str) -> Result<ArmCounts> {
    Ok(conn.query_row(
        "SELECT COALESCE(SUM(exposures),0), COALESCE(SUM(requests),0), COALESCE(SUM(errors),0), COALESCE(SUM(task_attempts),0),
                COALESCE(SUM(task_successes),0), COALESCE(SUM(safety_checks),0), COALESCE(SUM(safety_passes),0)
         FROM signals WHERE rollout_id = ?1 AND arm = ?2",
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
            })
        },
    )?)
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

/// A stored gate evaluation: what went in, what came out, under which config.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GateEvaluation {
    pub id: i64,
    pub rollout_id: i64,
    pub evaluated_at: String,
    pub verdict: String,
    pub config_sha256: String,
    pub inputs: serde_json::Value,
    pub result: serde_json::Value,
}

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

// ---- change feed -----------------------------------------------------------------------------

/// A committed change to a flag, from the audit trail: what the change stream sends.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Change {
    pub seq: i64,
    pub flag: String,
    pub environment: Option<String>,
    pub action: String,
    pub at: String,
}

/// Allowed, committed actions on flags after `after`, oldest first. Evidence reports change no
/// evaluation and are left out.
pub fn changes_since(conn: &Connection, after: i64, limit: u32) -> Result<Vec<Change>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, flag_key, env, action, ts FROM audit_events
         WHERE seq > ?1 AND decision = 'allow' AND flag_key IS NOT NULL
           AND action NOT IN ('record_signals', 'ingest_signals')
         ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit], |r| {
        Ok(Change {
            seq: r.get(0)?,
            flag: r.get(1)?,
            environment: r.get(2)?,
            action: r.get(3)?,
            at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

pub fn last_audit_seq(conn: &Connection) -> Result<i64> {
    Ok(
        conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM audit_events", [], |r| {
            r.get(0)
        })?,
    )
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

// ---- approvals -------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Approval {
    pub id: i64,
    /// start_canary, advance_canary or rollback.
    pub kind: String,
    pub flag: String,
    pub env: String,
    pub rollout_id: Option<i64>,
    pub target_percent: Option<f64>,
    pub requested_by: String,
    pub rule: String,
    pub reason: String,
    /// pending, approved, rejected or superseded.
    pub status: String,
    pub approvals_needed: u32,
    pub approved_by: Vec<String>,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    pub created_at: String,
    pub decided_at: Option<String>,
    /// Where the deciding human answered: cli, http or elicitation (in the agent's own client).
    #[serde(default)]
    pub decided_via: Option<String>,
}

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
    let until: Option<String> = conn.query_row(
        "SELECT MAX(until) FROM break_glass WHERE env = ?1 AND until > ?2",
        params![env, ts_text(now)],
        |r| r.get(0),
    )?;
    until.map(|u| parse_ts(&u)).transpose()
}

// ---- audit -----------------------------------------------------------------------------------

/// Appends an event, chaining it to the last one. Returns its sequence number.
pub fn append_audit(conn: &Connection, mut e: AuditEvent) -> Result<i64> {
    let (last_seq, prev): (i64, String) = conn
        .query_row(
            "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
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
         WHERE seq > ?1 AND seq <= ?2 AND action NOT IN ('record_signals', 'ingest_signals')
         ORDER BY seq LIMIT ?3"
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
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM audit_events WHERE action = ?1 AND rollout_id = ?2 AND decision = 'allow' AND ts >= ?3",
        params![action, rollout_id, ts_text(since)],
        |r| r.get(0),
    )?)
}

// ---- meta ----------------------------------------------------------------------------------

/// A bookkeeping value by name.
pub fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
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
        .query_row(
            "SELECT request_sha256, response FROM idempotency WHERE tool = ?1 AND key = ?2",
            params![tool, key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
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

// ---- code references and evaluation counts -----------------------------------------------------

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct CodeRef {
    pub file: String,
    pub line: Option<u32>,
    pub language: String,
    pub recorded_at: String,
    /// wrap_change or scan.
    #[serde(default = "wrap_change")]
    pub source: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub snippet: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub last_seen_at: Option<String>,
    /// When a scan stopped finding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub gone_at: Option<String>,
}

fn wrap_change() -> String {
    "wrap_change".into()
}

impl CodeRef {
    /// A reference wrap_change records where it put a guard (no scan has seen it yet).
    pub fn wrapped(file: String, line: Option<u32>, language: String, at: Timestamp) -> CodeRef {
        CodeRef {
            file,
            line,
            language,
            recorded_at: ts_text(at),
            source: wrap_change(),
            snippet: String::new(),
            last_seen_at: None,
            gone_at: None,
        }
    }
}

/// Records a reference wrap_change made; recording it again makes it live again.
pub fn add_code_ref(conn: &Connection, flag: &str, r: &CodeRef) -> Result<()> {
    conn.execute(
        "INSERT INTO code_refs (flag_key, file, line, language, recorded_at, source) VALUES (?1, ?2, ?3, ?4, ?5, 'wrap_change')
         ON CONFLICT (flag_key, file, line) DO UPDATE SET language = ?4, recorded_at = ?5, gone_at = NULL",
        params![flag, r.file, r.line.unwrap_or(0), r.language, r.recorded_at],
    )?;
    Ok(())
}

/// A flag's references: the live ones, then those scans no longer find (with `gone_at`).
pub fn code_refs(conn: &Connection, flag: &str) -> Result<Vec<CodeRef>> {
    let mut stmt = conn.prepare_cached(
        "SELECT file, line, language, recorded_at, source, snippet, last_seen_at, gone_at FROM code_refs
         WHERE flag_key = ?1 ORDER BY gone_at IS NOT NULL, file, line",
    )?;
    let rows = stmt.query_map([flag], |r| {
        let line: u32 = r.get(1)?;
        Ok(CodeRef {
            file: r.get(0)?,
            line: (line > 0).then_some(line),
            language: r.get(2)?,
            recorded_at: r.get(3)?,
            source: r.get(4)?,
            snippet: r.get(5)?,
            last_seen_at: r.get(6)?,
            gone_at: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

// ---- version records of prompt and model flags ------------------------------------------------

/// One immutable version record as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct VersionRow {
    pub variant: String,
    pub seq: i64,
    pub content_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    pub parameters: serde_json::Map<String, serde_json::Value>,
    pub created_at: String,
    pub created_by: String,
}

pub fn insert_version(conn: &Connection, flag: &str, v: &VersionRow) -> Result<()> {
    conn.execute(
        "INSERT INTO flag_versions (flag_key, variant, seq, content_sha256, model_id, parameters, created_at, created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            flag,
            v.variant,
            v.seq,
            v.content_sha256,
            v.model_id,
            serde_json::Value::Object(v.parameters.clone()).to_string(),
            v.created_at,
            v.created_by
        ],
    )?;
    Ok(())
}

/// A flag's versions, oldest first.
pub fn versions(conn: &Connection, flag: &str) -> Result<Vec<VersionRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT variant, seq, content_sha256, model_id, parameters, created_at, created_by
         FROM flag_versions WHERE flag_key = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([flag], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (variant, seq, content_sha256, model_id, parameters, created_at, created_by) = row?;
        out.push(VersionRow {
            variant,
            seq,
            content_sha256,
            model_id,
            parameters: parse_json("flag_versions.parameters", &parameters)?,
            created_at,
            created_by,
        });
    }
    Ok(out)
}

/// Staleness facts: how many references no scan found gone, when the flag was last evaluated in
/// any environment, and when the repository was last scanned.
pub struct UsageFacts {
    pub live_refs: usize,
    pub last_evaluated: Option<Timestamp>,
    pub last_scan: Option<Timestamp>,
}

pub fn usage_facts(conn: &Connection, flag: &str) -> Result<UsageFacts> {
    let live_refs: i64 = conn.query_row(
        "SELECT count(*) FROM code_refs WHERE flag_key = ?1 AND gone_at IS NULL",
        [flag],
        |r| r.get(0),
    )?;
    let last_evaluated: Option<String> = conn.query_row(
        "SELECT max(last_at) FROM evaluations WHERE flag_key = ?1 AND count > 0",
        [flag],
        |r| r.get(0),
    )?;
    let last_scan: Option<String> =
        conn.query_row("SELECT max(finished_at) FROM scans", [], |r| r.get(0))?;
    Ok(UsageFacts {
        live_refs: live_refs as usize,
        last_evaluated: last_evaluated.as_deref().map(parse_ts).transpose()?,
        last_scan: last_scan.as_deref().map(parse_ts).transpose()?,
    })
}

/// A reference a scan found: paths relative to the project root, with `/`.
pub struct FoundRef<'a> {
    pub flag: &'a str,
    pub file: &'a str,
    pub line: u32,
    pub language: &'a str,
    pub snippet: &'a str,
}

/// A reference that a scan saw appear or disappear. `line` is absent for a wrap_change reference
/// recorded without one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct RefChange {
    pub flag: String,
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// What one scan changed, and the `scans` row that records it.
#[derive(Debug, Default)]
pub struct ScanChanges {
    pub scan_id: i64,
    pub appeared: Vec<RefChange>,
    pub disappeared: Vec<RefChange>,
    /// References found again in the same file at another line.
    pub moved: usize,
}

/// The scan being recorded: where it looked (`under`: a path prefix relative to the project root,
/// empty for all of it), when, and how many files it searched.
pub struct ScanRun<'a> {
    pub root: &'a str,
    pub under: &'a str,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub files: u64,
}

/// Records a scan in the caller's transaction. Found references are upserted (one wrap_change
/// recorded at the same place keeps its source and gains the snippet); live references under
/// `run.under` that the scan did not find are marked gone; gone ones found again are live again.
/// A wrap_change reference without a line is live while its file still names the flag.
pub fn record_scan(conn: &Connection, run: &ScanRun, found: &[FoundRef]) -> Result<ScanChanges> {
    use std::collections::{HashMap, HashSet};
    let now = ts_text(run.finished_at);
    // References wrap_change recorded by an absolute path are not comparable with scanned ones.
    let under = |file: &str| {
        !Path::new(file).is_absolute() && run.under.is_empty()
            || file
                .strip_prefix(run.under)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    // (flag, file, line) -> still live?
    let mut known: HashMap<(String, String, u32), bool> = HashMap::new();
    {
        let mut stmt =
            conn.prepare_cached("SELECT flag_key, file, line, gone_at IS NULL FROM code_refs")?;
        let rows = stmt.query_map([], |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?)))?;
        for row in rows {
            let (k, live): ((String, String, u32), bool) = row?;
            if under(&k.1) {
                known.insert(k, live);
            }
        }
    }
    let mut changes = ScanChanges::default();
    let mut seen: HashSet<(&str, &str, u32)> = HashSet::with_capacity(found.len());
    let mut seen_files: HashSet<(&str, &str)> = HashSet::new();
    let mut upsert = conn.prepare_cached(
        "INSERT INTO code_refs (flag_key, file, line, language, recorded_at, source, snippet, last_seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'scan', ?6, ?5)
         ON CONFLICT (flag_key, file, line) DO UPDATE SET snippet = ?6, last_seen_at = ?5, gone_at = NULL",
    )?;
    for f in found {
        if !seen.insert((f.flag, f.file, f.line)) {
            continue;
        }
        seen_files.insert((f.flag, f.file));
        upsert.execute(params![f.flag, f.file, f.line, f.language, now, f.snippet])?;
        if known.get(&(f.flag.to_owned(), f.file.to_owned(), f.line)) != Some(&true) {
            changes.appeared.push(RefChange {
                flag: f.flag.into(),
                file: f.file.into(),
                line: Some(f.line),
            });
        }
    }
    let mut gone = conn.prepare_cached(
        "UPDATE code_refs SET gone_at = ?4 WHERE flag_key = ?1 AND file = ?2 AND line = ?3",
    )?;
    let mut still = conn.prepare_cached(
        "UPDATE code_refs SET last_seen_at = ?4, gone_at = NULL WHERE flag_key = ?1 AND file = ?2 AND line = ?3",
    )?;
    for ((flag, file, line), live) in &known {
        let key = (flag.as_str(), file.as_str());
        if *line == 0 {
            // No line to check: the file naming the flag anywhere keeps it.
            if seen_files.contains(&key) {
                still.execute(params![flag, file, line, now])?;
                if !live {
                    changes.appeared.push(RefChange {
                        flag: flag.clone(),
                        file: file.clone(),
                        line: None,
                    });
                }
                continue;
            }
        } else if seen.contains(&(key.0, key.1, *line)) {
            continue;
        }
        if *live {
            gone.execute(params![flag, file, line, now])?;
            changes.disappeared.push(RefChange {
                flag: flag.clone(),
                file: file.clone(),
                line: (*line > 0).then_some(*line),
            });
        }
    }
    // A reference that moved within its file (lines added above it) neither appeared nor
    // disappeared: its row takes the new line, keeping its source and when it was recorded.
    let brand_new = |c: &RefChange| {
        c.line
            .is_some_and(|l| !known.contains_key(&(c.flag.clone(), c.file.clone(), l)))
    };
    let mut per_file: HashMap<(String, String), (Vec<u32>, Vec<u32>)> = HashMap::new();
    for c in changes.disappeared.iter().filter(|c| c.line.is_some()) {
        let e = per_file
            .entry((c.flag.clone(), c.file.clone()))
            .or_default();
        e.0.extend(c.line);
    }
    for c in changes.appeared.iter().filter(|c| brand_new(c)) {
        if let Some(e) = per_file.get_mut(&(c.flag.clone(), c.file.clone())) {
            e.1.extend(c.line);
        }
    }
    let mut take_over = conn.prepare_cached(
        "UPDATE code_refs SET (source, recorded_at, language) =
           (SELECT source, recorded_at, language FROM code_refs WHERE flag_key = ?1 AND file = ?2 AND line = ?3)
         WHERE flag_key = ?1 AND file = ?2 AND line = ?4",
    )?;
    let mut forget = conn
        .prepare_cached("DELETE FROM code_refs WHERE flag_key = ?1 AND file = ?2 AND line = ?3")?;
    let mut moved: HashSet<(String, String, u32)> = HashSet::new();
    for ((flag, file), (mut from, mut to)) in per_file {
        from.sort_unstable();
        to.sort_unstable();
        for (old, new) in from.into_iter().zip(to) {
            take_over.execute(params![flag, file, old, new])?;
            forget.execute(params![flag, file, old])?;
            moved.insert((flag.clone(), file.clone(), old));
            moved.insert((flag.clone(), file.clone(), new));
        }
    }
    changes.moved = moved.len() / 2;
    let unmoved = |c: &RefChange| {
        !c.line
            .is_some_and(|l| moved.contains(&(c.flag.clone(), c.file.clone(), l)))
    };
    changes.appeared.retain(unmoved);
    changes.disappeared.retain(unmoved);
    changes.appeared.sort();
    changes.disappeared.sort();
    conn.execute(
        "INSERT INTO scans (root, started_at, finished_at, files, refs, appeared, disappeared)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            run.root,
            ts_text(run.started_at),
            now,
            run.files as i64,
            seen.len() as i64,
            changes.appeared.len() as i64,
            changes.disappeared.len() as i64
        ],
    )?;
    changes.scan_id = conn.last_insert_rowid();
    Ok(changes)
}

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
