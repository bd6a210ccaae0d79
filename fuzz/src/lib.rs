//! What the App-level fuzz targets share: a small world (a fresh App on an in-memory store, with two
//! flags and a running canary), a dump of every table to prove a refused call changed nothing, and
//! the invariants each call's result must keep.
//!
//! The store is a named shared-cache in-memory database, so a second, read-only connection sees
//! exactly what the App committed: the App keeps its own connection private, and the fuzzer must not
//! need a door into it.

pub mod targets;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use flagwarden::app::{App, AppError, Config, LoadedPolicy};
use flagwarden::domain::eval::{Context, evaluate};
use flagwarden::domain::policy::Actor;
use flagwarden::store::Store;
use rusqlite::{Connection, OpenFlags};
use serde_json::json;

/// Every environment kind the use cases branch on: an open one, one with approvals and bounds, one
/// where a human starts rollouts, one with required preflight evals.
pub const POLICY: &str = concat!(
    r#"
version = 1
[environments.development]
agent_may = ["set_targeting", "start_canary", "advance_canary", "record_signals", "rollback", "cleanup_flag"]
steps = [10, 50, 100]
agent_rollback = "allow"
[environments.development.gate]
min_samples = 10
breakers = [{ metric = "error_rate", above = 0.5, min_samples = 10 }]
[environments.development.gate.metrics.error_rate]
margin = 0.3
[environments.production]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
steps = [5, 25, 100]
max_auto_percent = 25
min_dwell = "1h"
approvals = 2
agent_rollback = "propose"
auto_rollback = "critical"
"#,
    include_str!("../../tests/data/policies/production_gate.toml"),
    r#"[environments.gated]
agent_may = ["start_canary"]
requires_start_approval = true
[environments.prompts]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
steps = [10, 100]
[environments.prompts.preflight]
required = true
min_items = 20
"#
);

pub const ENVS: [&str; 5] = ["development", "production", "gated", "prompts", "nowhere"];
pub const FLAGS: [&str; 3] = ["checkout", "dark-mode", "missing"];

/// A project root with one source file, so wrap_change has a real range to read.
fn project_root() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("flagwarden-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src")).expect("make the project root");
        std::fs::write(
            dir.join("src/checkout.ts"),
            "export function total(cart) {\n  let sum = 0;\n  for (const item of cart) sum += item.price;\n  return sum;\n}\n",
        )
        .expect("write the sample source");
        dir
    })
    .clone()
}

/// A fresh App in a known state. Each input gets its own, so a crash reproduces from its input alone.
pub struct World {
    pub app: App,
    /// A second connection to the App's database: how the fuzzer sees what was committed.
    reader: Connection,
}

/// Every table's rows, and the same without the audit trail (where a denial is allowed to land).
#[derive(Debug, PartialEq, Eq)]
pub struct Dump {
    pub all: String,
    pub without_audit: String,
}

pub fn agent() -> Actor {
    Actor::Agent("fuzzer".into())
}

pub fn human() -> Actor {
    Actor::Human("person".into())
}

impl World {
    pub fn new() -> World {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let uri = format!(
            "file:fuzz-{}-{}?mode=memory&cache=shared",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let store = Store::open(std::path::Path::new(&uri)).expect("open the in-memory store");
        let reader = Connection::open_with_flags(
            &uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
        )
        .expect("open a reader on the same database");
        let app = App::new(
            store,
            LoadedPolicy::parse("fuzz.toml", POLICY).expect("the fuzz policy parses"),
            Arc::new(|| jiff::Timestamp::from_second(1_800_000_000).unwrap()),
            Config {
                ofrep_base_url: "http://127.0.0.1:7070".into(),
                project_root: project_root(),
            },
        )
        .expect("the app starts");
        let world = World { app, reader };
        let agent = agent();
        for (key, change_type) in [("checkout", "code"), ("dark-mode", "config")] {
            let req = serde_json::from_value(
                json!({"key": key, "description": "d", "change_type": change_type, "reason": "seed"}),
            )
            .unwrap();
            world.app.create_flag(&agent, &req).expect("seed flag");
        }
        let start = serde_json::from_value(json!({"key": "checkout", "environment": "development", "candidate_variant": "on", "reason": "seed"})).unwrap();
        world.app.start_canary(&agent, &start).expect("seed canary");
        // A pending approval for approve/reject to find: gated environments need a human to start.
        let gated = serde_json::from_value(json!({"key": "dark-mode", "environment": "gated", "candidate_variant": "on", "reason": "seed"})).unwrap();
        let _ = world.app.start_canary(&agent, &gated);
        world
    }

    pub fn dump(&self) -> Dump {
        let tables: Vec<String> = self
            .reader
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut all = String::new();
        let mut without_audit = String::new();
        for table in tables {
            let mut text = format!("## {table}\n");
            let mut stmt = self
                .reader
                .prepare(&format!("SELECT * FROM \"{table}\""))
                .unwrap();
            let columns = stmt.column_count();
            let mut rows = stmt.query([]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                for i in 0..columns {
                    let v: rusqlite::types::Value = row.get(i).unwrap();
                    text.push_str(&format!("{v:?}\u{1f}"));
                }
                text.push('\n');
            }
            all.push_str(&text);
            if table != "audit_events" {
                without_audit.push_str(&text);
            }
        }
        Dump { all, without_audit }
    }

    /// The invariants of one call: bad input and dry runs write nothing, a policy refusal or a conflict
    /// writes only its audit event, no input reaches a store error, and evaluation still answers afterwards.
    pub fn check<T: std::fmt::Debug>(
        &self,
        what: &str,
        before: &Dump,
        dry_run: bool,
        result: &Result<T, AppError>,
    ) {
        let after = self.dump();
        match result {
            Err(AppError::Store(e)) => panic!("{what}: an input reached a store error: {e}"),
            // A policy refusal or a conflict with the current state is recorded as an attempt.
            Err(AppError::Denied { dry_run: false, .. } | AppError::Conflict(_)) if !dry_run => {
                assert_eq!(
                    before.without_audit, after.without_audit,
                    "{what}: a refusal changed more than the audit trail"
                )
            }
            Err(e) => assert_eq!(before, &after, "{what}: {e} but the store changed"),
            Ok(_) if dry_run => assert_eq!(before, &after, "{what}: a dry run changed the store"),
            Ok(_) => {}
        }
        self.evaluate_everything();
    }

    /// Evaluation never fails and always answers: a value, or an error sending the caller to its default.
    pub fn evaluate_everything(&self) {
        let snapshot = self.app.snapshot();
        let contexts = [
            Context::default(),
            Context::with_key("user-1"),
            Context::from_json(&json!({"targetingKey": "user-2", "email": "a@corp.com", "version": "1.2.3", "age": 42})).unwrap(),
        ];
        let mut keys: Vec<&str> = snapshot.keys().collect();
        keys.extend(FLAGS);
        for key in keys {
            for env in ENVS {
                for ctx in &contexts {
                    let r = evaluate(&snapshot, key, env, ctx, None);
                    assert!(
                        r.value.is_some() != r.error.is_some(),
                        "{key} in {env}: {r:?}"
                    );
                }
            }
        }
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}
