//! Code references: those wrap_change records and those scans find, with `record_scan` diffing a
//! scan against what was known (appeared, disappeared, moved within a file), and the usage facts
//! staleness reads (live references, last evaluation, last scan).

use std::path::Path;

use jiff::Timestamp;
use rusqlite::{Connection, params};

use super::{Result, parse_ts, ts_text};
use crate::domain::code_ref::{CodeRef, RefChange};

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

/// Staleness facts: how many references no scan found gone, when the flag was last evaluated in
/// any environment, and when the repository was last scanned.
pub struct UsageFacts {
    pub live_refs: usize,
    pub last_evaluated: Option<Timestamp>,
    pub last_scan: Option<Timestamp>,
}

pub fn usage_facts(conn: &Connection, flag: &str) -> Result<UsageFacts> {
    let live_refs: i64 = conn
        .prepare_cached("SELECT count(*) FROM code_refs WHERE flag_key = ?1 AND gone_at IS NULL")?
        .query_row([flag], |r| r.get(0))?;
    let last_evaluated: Option<String> = conn
        .prepare_cached("SELECT max(last_at) FROM evaluations WHERE flag_key = ?1 AND count > 0")?
        .query_row([flag], |r| r.get(0))?;
    let last_scan: Option<String> = conn
        .prepare_cached("SELECT max(finished_at) FROM scans")?
        .query_row([], |r| r.get(0))?;
    Ok(UsageFacts {
        live_refs: live_refs as usize,
        last_evaluated: last_evaluated.as_deref().map(parse_ts).transpose()?,
        last_scan: last_scan.as_deref().map(parse_ts).transpose()?,
    })
}

/// The usage facts of every flag at once, for reads that assess them all (`list_stale_flags`):
/// three queries instead of three per flag.
pub struct AllUsage {
    by_flag: std::collections::HashMap<String, (usize, Option<Timestamp>)>,
    last_scan: Option<Timestamp>,
}

impl AllUsage {
    pub fn of(&self, flag: &str) -> UsageFacts {
        let (live_refs, last_evaluated) = self.by_flag.get(flag).copied().unwrap_or_default();
        UsageFacts {
            live_refs,
            last_evaluated,
            last_scan: self.last_scan,
        }
    }
}

pub fn all_usage(conn: &Connection) -> Result<AllUsage> {
    let mut by_flag: std::collections::HashMap<String, (usize, Option<Timestamp>)> =
        std::collections::HashMap::new();
    let mut live = conn.prepare_cached(
        "SELECT flag_key, count(*) FROM code_refs WHERE gone_at IS NULL GROUP BY flag_key",
    )?;
    let mut rows = live.query([])?;
    while let Some(r) = rows.next()? {
        by_flag.entry(r.get(0)?).or_default().0 = r.get::<_, i64>(1)? as usize;
    }
    let mut evaluated = conn.prepare_cached(
        "SELECT flag_key, max(last_at) FROM evaluations WHERE count > 0 GROUP BY flag_key",
    )?;
    let mut rows = evaluated.query([])?;
    while let Some(r) = rows.next()? {
        let at: Option<String> = r.get(1)?;
        by_flag.entry(r.get(0)?).or_default().1 = at.as_deref().map(parse_ts).transpose()?;
    }
    let last_scan: Option<String> = conn
        .prepare_cached("SELECT max(finished_at) FROM scans")?
        .query_row([], |r| r.get(0))?;
    Ok(AllUsage {
        by_flag,
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
