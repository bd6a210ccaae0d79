//! The flags table family: a flag's own row, its per-environment state (`flag_envs`), its appended
//! variants, and the immutable version records of prompt and model flags (`flag_versions`).
//! Loading a flag re-validates what was stored, so corrupt rows surface as `StoreError::Corrupt`.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::{Result, StoreError, parse_json, parse_ts, ts_text};
use crate::domain::flag::{ChangeType, EnvState, Flag, FlagKey, FlagStatus, Variants};
use crate::domain::rules::{Rule, RuleSpec};
use crate::domain::version::VersionRow;

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
    let text: String = conn
        .prepare_cached("SELECT variants FROM flags WHERE key = ?1")?
        .query_row([key], |r| r.get(0))?;
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
        "INSERT INTO flag_envs (flag_key, env, enabled, default_variant, rules, pinned_variant, updated_at, prerequisite)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (flag_key, env) DO UPDATE SET enabled = ?3, default_variant = ?4, rules = ?5, pinned_variant = ?6, updated_at = ?7, prerequisite = ?8",
        params![key, env, s.enabled, s.default_variant, serde_json::to_string(&rules).expect("rules serialize"), s.pinned_variant, ts_text(s.updated_at), s.prerequisite.as_ref().map(|p| serde_json::to_string(p).expect("a prerequisite serializes"))],
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

const ENV_COLUMNS: &str =
    "env, enabled, default_variant, rules, pinned_variant, updated_at, prerequisite";

/// One `flag_envs` row (its columns from `i` on, in `ENV_COLUMNS` order) as `flag`'s state there.
fn read_env(flag: &Flag, r: &rusqlite::Row, i: usize) -> Result<(String, EnvState)> {
    let env: String = r.get(i)?;
    let specs: Vec<RuleSpec> = parse_json("rules", &r.get::<_, String>(i + 3)?)?;
    let rules = Rule::parse_all(&specs, &flag.variants)
        .map_err(|e| StoreError::Corrupt(format!("rules of {}/{env}: {e}", flag.key)))?;
    let state = EnvState {
        enabled: r.get(i + 1)?,
        default_variant: r.get(i + 2)?,
        rules,
        pinned_variant: r.get(i + 4)?,
        updated_at: parse_ts(&r.get::<_, String>(i + 5)?)?,
        prerequisite: r
            .get::<_, Option<String>>(i + 6)?
            .map(|t| parse_json("prerequisite", &t))
            .transpose()?,
    };
    Ok((env, state))
}

fn attach_envs(conn: &Connection, flag: &mut Flag) -> Result<()> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ENV_COLUMNS} FROM flag_envs WHERE flag_key = ?1 ORDER BY env"
    ))?;
    let mut rows = stmt.query([flag.key.as_str()])?;
    while let Some(r) = rows.next()? {
        let (env, state) = read_env(flag, r, 0)?;
        flag.envs.insert(env, state);
    }
    Ok(())
}

pub fn load_flag(conn: &Connection, key: &str) -> Result<Option<Flag>> {
    let flag = conn
        .prepare_cached(&format!("SELECT {FLAG_COLUMNS} FROM flags WHERE key = ?1"))?
        .query_row([key], |r| Ok(read_flag(r)))
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

/// Every flag with its environments, in key order: two queries, whatever the number of flags.
pub fn load_flags(conn: &Connection) -> Result<Vec<Flag>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {FLAG_COLUMNS} FROM flags ORDER BY key"))?;
    let mut flags = stmt
        .query_map([], |r| Ok(read_flag(r)))?
        .collect::<std::result::Result<Vec<_>, _>>()?
        .into_iter()
        .collect::<Result<Vec<Flag>>>()?;
    let index: std::collections::HashMap<String, usize> = flags
        .iter()
        .enumerate()
        .map(|(i, f)| (f.key.as_str().to_owned(), i))
        .collect();
    let mut envs = conn.prepare_cached(&format!(
        "SELECT flag_key, {ENV_COLUMNS} FROM flag_envs ORDER BY flag_key, env"
    ))?;
    let mut rows = envs.query([])?;
    while let Some(r) = rows.next()? {
        let key: String = r.get(0)?;
        let Some(&i) = index.get(&key) else {
            continue; // an environment row of no flag: nothing reads it
        };
        let (env, state) = read_env(&flags[i], r, 1)?;
        flags[i].envs.insert(env, state);
    }
    Ok(flags)
}

pub fn count_flags_created_since(conn: &Connection, since: Timestamp) -> Result<u32> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM flags WHERE created_at >= ?1")?
        .query_row([ts_text(since)], |r| r.get(0))?)
}

// ---- version records of prompt and model flags ------------------------------------------------

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
