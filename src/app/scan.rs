//! Code references from scanning the project: `flagwarden scan`, and `--scan-every` beside the
//! servers. The walk and search are `crate::scan`'s; this records what they found in one transaction
//! and, when references disappeared, says so in the audit trail as the system, so the change stream
//! and the webhook workers see it. A scan changes no flag, so it does not go through `mutate`: a scan
//! that only confirms what is known writes its `scans` row and no audit event.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::json;

use super::{App, AppError, Result, invalid};
use crate::domain::audit::AuditEvent;
use crate::domain::code_ref::RefChange;
use crate::domain::policy::{Actor, Decision};
use crate::scan::{ScanError, ScanOutcome};
use crate::store::{self, FoundRef, ScanRun};

/// What one scan found and changed.
#[derive(Debug, Serialize)]
pub struct ScanReport {
    pub scan_id: i64,
    /// The directory searched.
    pub root: String,
    pub files: u64,
    /// References found (one per flag, file and line).
    pub refs: usize,
    /// Files that could not be read and were skipped.
    pub unreadable: u64,
    pub refs_per_flag: BTreeMap<String, usize>,
    pub appeared: Vec<RefChange>,
    pub disappeared: Vec<RefChange>,
    /// References found again in the same file at another line.
    pub moved: usize,
    /// The audit events written because references disappeared, one per flag concerned.
    pub audit_seqs: Vec<i64>,
    /// Walking and searching, and writing to the store, in milliseconds.
    pub scan_ms: u64,
    pub record_ms: u64,
}

impl App {
    /// Scans `root` (default: the project root) for every flag key and records what it found.
    pub fn scan_code_refs(&self, root: Option<&Path>) -> Result<ScanReport> {
        let project = canonical("project root", &self.config.project_root)?;
        let root = match root {
            Some(r) => canonical("root", r)?,
            None => project.clone(),
        };
        let under = root.strip_prefix(&project).map_err(|_| {
            invalid(
                "root",
                format!(
                    "{} is outside the project root {}: scan a directory inside it (references are stored relative to the project root)",
                    root.display(),
                    project.display()
                ),
            )
        })?;
        let under: Vec<_> = under
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let keys: Vec<String> = self.read(|conn, _| {
            Ok(store::load_flags(conn)?
                .into_iter()
                .map(|f| f.key.to_string())
                .collect())
        })?;
        let started_at = self.now();
        let clock = Instant::now();
        let outcome = crate::scan::scan(&root, &keys).map_err(|e| match e {
            ScanError::Root { .. } => invalid("root", e.to_string()),
            ScanError::Key { .. } | ScanError::Pattern(_) => invalid("key", e.to_string()),
        })?;
        let scan_ms = clock.elapsed().as_millis() as u64;
        let mut report = self.record_scan(
            &root.display().to_string(),
            &under.join("/"),
            started_at,
            &outcome,
        )?;
        report.scan_ms = scan_ms;
        Ok(report)
    }

    /// Records a scan of the project below `under` (a `/`-separated path relative to the project
    /// root, empty for all of it) in one transaction, with a system audit event per flag whose
    /// references disappeared.
    pub fn record_scan(
        &self,
        root: &str,
        under: &str,
        started_at: Timestamp,
        outcome: &ScanOutcome,
    ) -> Result<ScanReport> {
        let clock = Instant::now();
        let files: Vec<String> = outcome
            .hits
            .iter()
            .map(|h| match under {
                "" => h.file.clone(),
                _ => format!("{under}/{}", h.file),
            })
            .collect();
        let found: Vec<FoundRef> = outcome
            .hits
            .iter()
            .zip(&files)
            .map(|(h, file)| FoundRef {
                flag: &h.flag,
                file,
                line: h.line,
                language: h.language,
                snippet: &h.snippet,
            })
            .collect();
        self.refresh()?;
        let now = self.now();
        let mut store = self.store();
        let tx = store.begin()?;
        let run = ScanRun {
            root,
            under,
            started_at,
            finished_at: now,
            files: outcome.files,
        };
        let changes = store::record_scan(&tx, &run, &found)?;
        let mut audit_seqs = Vec::new();
        if !changes.disappeared.is_empty() {
            for event in self.scan_events(
                root,
                now,
                changes.scan_id,
                &changes.appeared,
                &changes.disappeared,
            ) {
                audit_seqs.push(store::append_audit(&tx, event)?);
            }
        }
        tx.commit().map_err(AppError::from)?;
        drop(store);
        if !audit_seqs.is_empty() {
            self.bump(true);
        }
        let mut refs_per_flag = BTreeMap::new();
        for h in &outcome.hits {
            *refs_per_flag.entry(h.flag.clone()).or_insert(0) += 1;
        }
        Ok(ScanReport {
            scan_id: changes.scan_id,
            root: root.into(),
            files: outcome.files,
            refs: outcome.hits.len(),
            unreadable: outcome.unreadable,
            refs_per_flag,
            appeared: changes.appeared,
            disappeared: changes.disappeared,
            moved: changes.moved,
            audit_seqs,
            scan_ms: 0,
            record_ms: clock.elapsed().as_millis() as u64,
        })
    }

    /// One `scan_code_refs` event by the system per flag whose references changed, naming them.
    fn scan_events(
        &self,
        root: &str,
        now: Timestamp,
        scan_id: i64,
        appeared: &[RefChange],
        disappeared: &[RefChange],
    ) -> Vec<AuditEvent> {
        let mut per_flag: BTreeMap<&str, (Vec<&RefChange>, Vec<&RefChange>)> = BTreeMap::new();
        for c in appeared {
            per_flag.entry(&c.flag).or_default().0.push(c);
        }
        for c in disappeared {
            per_flag.entry(&c.flag).or_default().1.push(c);
        }
        let args = json!({"root": root, "scan_id": scan_id}).to_string();
        per_flag
            .into_iter()
            .map(|(flag, (appeared, disappeared))| {
                let place = |c: &&RefChange| c.place();
                let mut message = String::new();
                if !disappeared.is_empty() {
                    let places: Vec<_> = disappeared.iter().map(place).collect();
                    message = format!("references to {flag} disappeared: {}", places.join(", "));
                }
                if !appeared.is_empty() {
                    let places: Vec<_> = appeared.iter().map(place).collect();
                    let sep = if message.is_empty() { "" } else { "; " };
                    message = format!(
                        "{message}{sep}references to {flag} appeared: {}",
                        places.join(", ")
                    );
                }
                AuditEvent {
                    seq: 0,
                    ts: store::ts_text(now),
                    actor_kind: Actor::System.kind().into(),
                    actor: Actor::System.name().into(),
                    action: "scan_code_refs".into(),
                    flag: Some(flag.into()),
                    env: None,
                    rollout_id: None,
                    approval_id: None,
                    decision: Decision::Allow.label().into(),
                    rule: None,
                    message: Some(message),
                    reason: None,
                    args: args.clone(),
                    before: serde_json::Value::Null.to_string(),
                    after: json!({"disappeared": disappeared, "appeared": appeared}).to_string(),
                    policy_version: self.policy.policy.version,
                    policy_sha256: self.policy.sha256.clone(),
                }
            })
            .collect()
    }
}

fn canonical(field: &str, path: &Path) -> Result<PathBuf> {
    path.canonicalize().map_err(|e| {
        invalid(
            field,
            format!(
                "cannot read {}: {e}; pass an existing directory",
                path.display()
            ),
        )
    })
}
