//! Schema migrations, applied in order and tracked by `PRAGMA user_version`.

use rusqlite::Connection;

use super::Result;

/// Migration `i` takes the schema from version `i` to `i + 1`. Never edit a shipped migration; append.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE flags (
    key             TEXT PRIMARY KEY,
    description     TEXT NOT NULL,
    change_type     TEXT NOT NULL,
    variants        TEXT NOT NULL,
    off_variant     TEXT NOT NULL,
    default_variant TEXT NOT NULL,
    owner           TEXT,
    lifetime_days   INTEGER,
    tags            TEXT NOT NULL,
    salt            TEXT NOT NULL,
    status          TEXT NOT NULL,
    version         INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE INDEX flags_by_created ON flags (created_at);

CREATE TABLE flag_envs (
    flag_key        TEXT NOT NULL REFERENCES flags (key),
    env             TEXT NOT NULL,
    enabled         INTEGER NOT NULL,
    default_variant TEXT NOT NULL,
    rules           TEXT NOT NULL,
    pinned_variant  TEXT,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (flag_key, env)
) STRICT;

CREATE TABLE rollouts (
    id              INTEGER PRIMARY KEY,
    flag_key        TEXT NOT NULL REFERENCES flags (key),
    env             TEXT NOT NULL,
    candidate       TEXT NOT NULL,
    lkg             TEXT NOT NULL,
    steps           TEXT NOT NULL,
    step            INTEGER,
    pending_step    INTEGER,
    state           TEXT NOT NULL,
    step_started_at TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
-- At most one unfinished rollout per flag and environment.
CREATE INDEX rollouts_by_env_created ON rollouts (env, created_at);
CREATE UNIQUE INDEX one_active_rollout ON rollouts (flag_key, env) WHERE state NOT IN ('COMPLETED', 'ROLLED_BACK', 'ABORTED');

CREATE TABLE signals (
    id             INTEGER PRIMARY KEY,
    rollout_id     INTEGER NOT NULL REFERENCES rollouts (id),
    arm            TEXT NOT NULL,
    exposures      INTEGER NOT NULL,
    requests       INTEGER NOT NULL,
    errors         INTEGER NOT NULL,
    task_attempts  INTEGER NOT NULL,
    task_successes INTEGER NOT NULL,
    safety_checks  INTEGER NOT NULL,
    safety_passes  INTEGER NOT NULL,
    batch_id       TEXT UNIQUE,
    recorded_at    TEXT NOT NULL
) STRICT;
CREATE INDEX signals_by_rollout ON signals (rollout_id, arm);

CREATE TABLE approvals (
    id               INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL,
    flag_key         TEXT NOT NULL REFERENCES flags (key),
    env              TEXT NOT NULL,
    rollout_id       INTEGER REFERENCES rollouts (id),
    target_percent   REAL,
    requested_by     TEXT NOT NULL,
    rule             TEXT NOT NULL,
    reason           TEXT NOT NULL,
    status           TEXT NOT NULL,
    approvals_needed INTEGER NOT NULL,
    approved_by      TEXT NOT NULL,
    decided_by       TEXT,
    decision_reason  TEXT,
    created_at       TEXT NOT NULL,
    decided_at       TEXT
) STRICT;

CREATE TABLE break_glass (
    id        INTEGER PRIMARY KEY,
    env       TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    reason    TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    until     TEXT NOT NULL
) STRICT;

CREATE TABLE audit_events (
    seq            INTEGER PRIMARY KEY,
    ts             TEXT NOT NULL,
    actor_kind     TEXT NOT NULL,
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    flag_key       TEXT,
    env            TEXT,
    rollout_id     INTEGER,
    approval_id    INTEGER,
    decision       TEXT NOT NULL,
    rule           TEXT,
    message        TEXT,
    reason         TEXT,
    args           TEXT NOT NULL,
    state_before   TEXT NOT NULL,
    state_after    TEXT NOT NULL,
    policy_version INTEGER NOT NULL,
    policy_sha256  TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
) STRICT;
CREATE INDEX audit_by_flag ON audit_events (flag_key, env);
CREATE INDEX audit_by_rollout ON audit_events (rollout_id, action, ts);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;

CREATE TABLE idempotency (
    tool           TEXT NOT NULL,
    key            TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    response       TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (tool, key)
) STRICT;

CREATE TABLE code_refs (
    flag_key    TEXT NOT NULL REFERENCES flags (key),
    file        TEXT NOT NULL,
    line        INTEGER NOT NULL,
    language    TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (flag_key, file, line)
) STRICT;

CREATE TABLE evaluations (
    flag_key TEXT NOT NULL,
    env      TEXT NOT NULL,
    variant  TEXT NOT NULL,
    count    INTEGER NOT NULL,
    last_at  TEXT NOT NULL,
    PRIMARY KEY (flag_key, env, variant)
) STRICT;
"#,
    r#"
ALTER TABLE signals ADD COLUMN latency_ms TEXT;
ALTER TABLE signals ADD COLUMN eval_scores TEXT;
CREATE INDEX audit_changes ON audit_events (seq) WHERE decision = 'allow' AND flag_key IS NOT NULL;
"#,
    r#"
ALTER TABLE approvals ADD COLUMN decided_via TEXT;
ALTER TABLE signals ADD COLUMN custom TEXT;
ALTER TABLE rollouts ADD COLUMN analysis TEXT;
ALTER TABLE rollouts ADD COLUMN paused_reason TEXT;
-- Every gate evaluation that drove a decision, with its inputs and the hash of the frozen config.
CREATE TABLE gate_evaluations (
    id            INTEGER PRIMARY KEY,
    rollout_id    INTEGER NOT NULL REFERENCES rollouts (id),
    evaluated_at  TEXT NOT NULL,
    verdict       TEXT NOT NULL,
    config_sha256 TEXT NOT NULL,
    inputs        TEXT NOT NULL,
    result        TEXT NOT NULL
) STRICT;
CREATE INDEX gate_by_rollout ON gate_evaluations (rollout_id, id);
-- Each rollout arm's reports summed per gate period, so the gate reads a few rows per period however
-- often applications report.
CREATE TABLE signal_periods (
    rollout_id INTEGER NOT NULL REFERENCES rollouts (id),
    slot       INTEGER NOT NULL,
    arm        TEXT NOT NULL,
    data       TEXT NOT NULL,
    first_at   TEXT NOT NULL,
    last_at    TEXT NOT NULL,
    PRIMARY KEY (rollout_id, slot, arm)
) STRICT;
-- Paired offline eval-suite results for prompt and model changes (the preflight gate).
CREATE TABLE preflight_runs (
    id          INTEGER PRIMARY KEY,
    flag_key    TEXT NOT NULL REFERENCES flags (key),
    candidate   TEXT NOT NULL,
    baseline    TEXT NOT NULL,
    suite       TEXT NOT NULL,
    items       TEXT NOT NULL,
    result      TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    recorded_at TEXT NOT NULL
) STRICT;
CREATE INDEX preflight_by_flag ON preflight_runs (flag_key, candidate, id);
-- Small named values: the webhook delivery cursor.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
"#,
    r#"
-- Code references found by `flagwarden scan` beside those wrap_change recorded. A scan marks what
-- it no longer finds as gone instead of deleting it, so disappearing references are noticed.
ALTER TABLE code_refs ADD COLUMN source TEXT NOT NULL DEFAULT 'wrap_change';
ALTER TABLE code_refs ADD COLUMN snippet TEXT NOT NULL DEFAULT '';
ALTER TABLE code_refs ADD COLUMN last_seen_at TEXT;
ALTER TABLE code_refs ADD COLUMN gone_at TEXT;
CREATE TABLE scans (
    id          INTEGER PRIMARY KEY,
    root        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    files       INTEGER NOT NULL,
    refs        INTEGER NOT NULL,
    appeared    INTEGER NOT NULL,
    disappeared INTEGER NOT NULL
) STRICT;
-- Immutable version records of prompt and model flags: one per variant, never edited.
CREATE TABLE flag_versions (
    flag_key       TEXT NOT NULL REFERENCES flags (key),
    variant        TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    content_sha256 TEXT NOT NULL,
    model_id       TEXT,
    parameters     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    PRIMARY KEY (flag_key, variant),
    UNIQUE (flag_key, seq)
) STRICT;
CREATE TRIGGER flag_versions_no_update BEFORE UPDATE ON flag_versions BEGIN SELECT RAISE(ABORT, 'version records are immutable'); END;
CREATE TRIGGER flag_versions_no_delete BEFORE DELETE ON flag_versions BEGIN SELECT RAISE(ABORT, 'version records are immutable'); END;
"#,
    r#"
-- Where each report came from (agent, api, otlp, prometheus); older rows were all the API's or an
-- agent's, and the API's is the safer reading of a row nobody labelled.
ALTER TABLE signals ADD COLUMN source TEXT NOT NULL DEFAULT 'api';
"#,
    r#"
-- The Prometheus query provider. Per rollout and query (a gate metric, or guardrail:NAME): where the
-- recorded windows end, and which process is reading the next one.
CREATE TABLE evidence_cursors (
    rollout_id    INTEGER NOT NULL REFERENCES rollouts (id),
    name          TEXT NOT NULL,
    until         TEXT NOT NULL,
    claimed_by    TEXT,
    claimed_until TEXT,
    PRIMARY KEY (rollout_id, name)
) STRICT;
-- The latest run of failed reads per rollout, source and query; closed when real values come back.
CREATE TABLE evidence_gaps (
    rollout_id INTEGER NOT NULL REFERENCES rollouts (id),
    source     TEXT NOT NULL,
    name       TEXT NOT NULL,
    reason     TEXT NOT NULL,
    since      TEXT NOT NULL,
    last_at    TEXT NOT NULL,
    count      INTEGER NOT NULL,
    closed_at  TEXT,
    PRIMARY KEY (rollout_id, source, name)
) STRICT;
-- Guardrails' real values, each with the limit it was read under.
CREATE TABLE guardrail_readings (
    rollout_id  INTEGER NOT NULL REFERENCES rollouts (id),
    name        TEXT NOT NULL,
    at          TEXT NOT NULL,
    value       REAL NOT NULL,
    above       REAL,
    below       REAL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (rollout_id, name, at)
) STRICT;
"#,
    r#"
-- OTLP ingest. The canary share each rollout exposed from each change on, so telemetry is
-- attributed with the share in force when it was evaluated (rollouts already running start their
-- history at their current step).
CREATE TABLE rollout_steps (
    rollout_id INTEGER NOT NULL REFERENCES rollouts (id),
    from_at    TEXT NOT NULL,
    canary_bp  INTEGER NOT NULL,
    PRIMARY KEY (rollout_id, from_at)
) STRICT;
INSERT INTO rollout_steps (rollout_id, from_at, canary_bp)
    SELECT id, COALESCE(step_started_at, created_at), CAST(ROUND(json_extract(steps, '$[' || step || ']')) AS INTEGER)
    FROM rollouts WHERE step IS NOT NULL AND state NOT IN ('COMPLETED', 'ROLLED_BACK', 'ABORTED');
-- Spans held for a join (a later log record or child evaluation needs their outcome), bounded by
-- age and count; `fact` is the span's outcome as JSON.
CREATE TABLE otlp_spans (
    id          INTEGER PRIMARY KEY,
    key         BLOB NOT NULL UNIQUE,
    fact        TEXT NOT NULL,
    received_at INTEGER NOT NULL
) STRICT;
CREATE INDEX otlp_spans_by_age ON otlp_spans (received_at);
-- Evaluations attributed to an arm, waiting for the span whose outcome they take.
CREATE TABLE otlp_pending (
    id          INTEGER PRIMARY KEY,
    rollout_id  INTEGER NOT NULL REFERENCES rollouts (id),
    arm         TEXT NOT NULL,
    waiting     BLOB NOT NULL,
    own         TEXT,
    sampling    TEXT NOT NULL,
    received_at INTEGER NOT NULL
) STRICT;
CREATE INDEX otlp_pending_by_waiting ON otlp_pending (waiting);
CREATE INDEX otlp_pending_by_age ON otlp_pending (received_at);
-- Every (span, flag) exposure ever counted or held, so a replayed export counts nothing twice.
CREATE TABLE otlp_exposures (
    key        BLOB PRIMARY KEY,
    rollout_id INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
"#,
    r#"
-- Each OTLP export forgets the exposures of finished rollouts; without this index that is a scan of
-- every exposure ever claimed, once per export.
CREATE INDEX otlp_exposures_by_rollout ON otlp_exposures (rollout_id);
"#,
    r#"
-- Release operations. A flag's escalation contact, beside its owner.
ALTER TABLE flags ADD COLUMN escalation TEXT;
-- Pre-release checklist statements (a rollback plan, known limitations, why there can be no
-- evidence), each with who attested it.
CREATE TABLE checklist_attestations (
    id         INTEGER PRIMARY KEY,
    flag_key   TEXT NOT NULL REFERENCES flags (key),
    env        TEXT NOT NULL,
    item       TEXT NOT NULL,
    text       TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor      TEXT NOT NULL,
    at         TEXT NOT NULL
) STRICT;
CREATE INDEX attestations_by_flag ON checklist_attestations (flag_key, env, item, id);
-- Rollback rehearsals: the flip tried in a scratch copy of the store, and what it found.
CREATE TABLE rehearsals (
    id         INTEGER PRIMARY KEY,
    flag_key   TEXT NOT NULL REFERENCES flags (key),
    env        TEXT NOT NULL,
    rollout_id INTEGER,
    lkg        TEXT NOT NULL,
    passed     INTEGER NOT NULL,
    why        TEXT NOT NULL,
    result     TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor      TEXT NOT NULL,
    at         TEXT NOT NULL
) STRICT;
CREATE INDEX rehearsals_by_flag ON rehearsals (flag_key, env, id);
-- OTLP's join state as one row per export instead of one (and three index entries) per span: the
-- spans an export holds for later joins, packed (`store/telemetry.rs`), and the (span, flag)
-- exposures it claimed, 16 bytes each. The receiver reads both into memory once and follows them by
-- row id, so an export appends two rows whatever it carries. Old rows move over as they are (a
-- JSON span fact reads as a one-span row; an old claim as a one-key row).
CREATE TABLE otlp_held (
    id          INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    spans       INTEGER NOT NULL,
    facts       BLOB NOT NULL
) STRICT;
INSERT INTO otlp_held (received_at, spans, facts)
    SELECT received_at, 1, CAST(fact AS BLOB) FROM otlp_spans ORDER BY id;
DROP TABLE otlp_spans;
-- `newest_at`: unix seconds, rounded up, of the newest evaluation a row claims; once the row is
-- forgotten (beyond the bound on remembered claims), older evaluations are refused as too old.
CREATE TABLE otlp_claims (
    id          INTEGER PRIMARY KEY,
    newest_at   INTEGER NOT NULL,
    keys        BLOB NOT NULL
) STRICT;
INSERT INTO otlp_claims (newest_at, keys)
    SELECT CAST(strftime('%s', 'now') AS INTEGER) + 1, key FROM otlp_exposures;
DROP TABLE otlp_exposures;
"#,
    // Release shapes (issue 18). Shadow runs: each report's count of units whose unseen candidate agreed with the served answer,
    // and of those whose did not (the per-period sums carry them in their JSON already).
    r#"
ALTER TABLE signals ADD COLUMN shadow_agreements INTEGER NOT NULL DEFAULT 0;
ALTER TABLE signals ADD COLUMN shadow_divergences INTEGER NOT NULL DEFAULT 0;
-- Prerequisites: a flag on in an environment only where another flag serves a named variant
-- there, as JSON {"flag", "variant"}; NULL for none.
ALTER TABLE flag_envs ADD COLUMN prerequisite TEXT;
"#,
    r#"
-- Each arm's running totals per source, kept beside the append-only `signals` as each report is
-- added, so the totals an ingest answers with and canary_status shows are one row each, not a sum
-- over every report the rollout ever had (a report a second for a day is 86,400 rows per arm).
CREATE TABLE signal_totals (
    rollout_id     INTEGER NOT NULL REFERENCES rollouts (id),
    arm            TEXT NOT NULL,
    source         TEXT NOT NULL,
    exposures      INTEGER NOT NULL,
    requests       INTEGER NOT NULL,
    errors         INTEGER NOT NULL,
    task_attempts  INTEGER NOT NULL,
    task_successes INTEGER NOT NULL,
    safety_checks  INTEGER NOT NULL,
    safety_passes  INTEGER NOT NULL,
    shadow_agreements  INTEGER NOT NULL,
    shadow_divergences INTEGER NOT NULL,
    PRIMARY KEY (rollout_id, arm, source)
) STRICT, WITHOUT ROWID;
INSERT INTO signal_totals
    SELECT rollout_id, arm, source, SUM(exposures), SUM(requests), SUM(errors), SUM(task_attempts),
           SUM(task_successes), SUM(safety_checks), SUM(safety_passes), SUM(shadow_agreements),
           SUM(shadow_divergences)
    FROM signals GROUP BY rollout_id, arm, source;
"#,
];

pub fn migrate(conn: &mut Connection) -> Result<()> {
    let current: usize = conn
        .prepare_cached("PRAGMA user_version")?
        .query_row([], |r| r.get::<_, i64>(0))? as usize;
    if current > MIGRATIONS.len() {
        return Err(super::StoreError::Corrupt(format!(
            "the database is at schema version {current}, newer than this flagwarden knows ({}); upgrade flagwarden",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that already holds reports gets running totals equal to their sums, per arm and
    /// source, when it migrates.
    #[test]
    fn signal_totals_start_from_the_reports_already_stored() {
        let mut conn = Connection::open_in_memory().unwrap();
        let at = MIGRATIONS
            .iter()
            .position(|m| m.contains("CREATE TABLE signal_totals"))
            .unwrap();
        for m in &MIGRATIONS[..at] {
            conn.execute_batch(m).unwrap();
        }
        conn.pragma_update(None, "user_version", at as i64).unwrap();
        // Reports of rollouts this test does not create.
        conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        let insert = |rollout: i64, arm: &str, source: &str, exposures: i64, errors: i64| {
            conn.execute(
                "INSERT INTO signals (rollout_id, arm, exposures, requests, errors, task_attempts,
                 task_successes, safety_checks, safety_passes, recorded_at, source)
                 VALUES (?1, ?2, ?3, ?3, ?4, 1, 1, 0, 0, '2026-01-01T00:00:00Z', ?5)",
                rusqlite::params![rollout, arm, exposures, errors, source],
            )
            .unwrap();
        };
        insert(1, "canary", "api", 100, 3);
        insert(1, "canary", "api", 50, 1);
        insert(1, "canary", "otlp", 7, 0);
        insert(1, "control", "api", 120, 2);
        insert(2, "canary", "agent", 9, 9);
        migrate(&mut conn).unwrap();
        let rows: Vec<(i64, String, String, i64, i64, i64)> = conn
            .prepare(
                "SELECT rollout_id, arm, source, exposures, errors, task_attempts FROM signal_totals
                 ORDER BY rollout_id, arm, source",
            )
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            })
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        let row = |r: i64, arm: &str, s: &str, e: i64, err: i64, t: i64| {
            (r, arm.to_owned(), s.to_owned(), e, err, t)
        };
        assert_eq!(
            rows,
            [
                row(1, "canary", "api", 150, 4, 2),
                row(1, "canary", "otlp", 7, 0, 1),
                row(1, "control", "api", 120, 2, 1),
                row(2, "canary", "agent", 9, 9, 1),
            ]
        );
    }
}
