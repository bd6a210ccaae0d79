//! Shared harness for the integration tests: a temp project with its own policy and store, the real
//! `flagwarden` binary served over stdio to rmcp's client, and the human CLI.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

pub const TEST_POLICY: &str = r#"
version = 3
[environments.development]
agent_may = ["set_targeting", "start_canary", "advance_canary", "record_signals", "rollback", "cleanup_flag"]
agent_rollback = "allow"
[environments.production]
agent_may = ["set_targeting", "start_canary", "advance_canary", "record_signals", "rollback", "cleanup_flag"]
steps = [5, 25, 50, 100]
max_auto_percent = 25
max_step_increase = 25
agent_rollback = "propose"
[environments.production.gate]
min_samples = 100
fresh_within = "24h"
breakers = [{ metric = "error_rate", above = 0.05, min_samples = 100 }]
[environments.production.gate.metrics.error_rate]
margin = 0.1
"#;

pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new(policy: &str) -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("flagwarden.toml"), policy).expect("write policy");
        Project { dir }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn policy(&self) -> PathBuf {
        self.path().join("flagwarden.toml")
    }
    pub fn db(&self) -> PathBuf {
        self.path().join(".flagwarden").join("flagwarden.db")
    }

    /// Runs the human CLI as `alice`.
    pub fn cli(&self, args: &[&str]) -> Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_flagwarden"))
            .arg("--policy")
            .arg(self.policy())
            .args(args)
            .env("FLAGWARDEN_HUMAN", "alice")
            .env_remove("FLAGWARDEN_DB")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run flagwarden")
    }

    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "flagwarden {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Starts `flagwarden mcp` and connects rmcp's client to it as `client_name`.
    pub async fn connect(&self, client_name: &str) -> Client {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_flagwarden"));
        cmd.arg("--policy")
            .arg(self.policy())
            .arg("mcp")
            .env_remove("FLAGWARDEN_DB");
        let transport = TokioChildProcess::new(cmd).expect("spawn flagwarden mcp");
        let config = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new(client_name, "1.0"),
        );
        Client {
            inner: config.serve(transport).await.expect("initialize"),
        }
    }

    /// The bytes of the database and its WAL, to prove nothing changed.
    pub fn db_bytes(&self) -> Vec<u8> {
        let mut all = std::fs::read(self.db()).expect("db exists");
        let wal = self.db().with_extension("db-wal");
        if let Ok(w) = std::fs::read(wal) {
            all.extend(w);
        }
        all
    }
}

pub struct Client {
    pub inner: RunningService<RoleClient, ClientConfig>,
}

/// A tool's answer: structured content on success, the message text on an in-band error.
#[derive(Debug)]
pub enum Answer {
    Ok(Value),
    Err(String),
}

impl Answer {
    pub fn ok(self) -> Value {
        match self {
            Answer::Ok(v) => v,
            Answer::Err(e) => panic!("expected success, got error: {e}"),
        }
    }
    pub fn err(self) -> String {
        match self {
            Answer::Ok(v) => panic!("expected an error, got {v}"),
            Answer::Err(e) => e,
        }
    }
}

impl Client {
    pub async fn call(&self, tool: &str, args: Value) -> Answer {
        self.try_call(tool, args).await.expect("tools/call")
    }

    /// Like `call`, but a transport failure (the server died) is an `Err` instead of a panic.
    pub async fn try_call(&self, tool: &str, args: Value) -> Result<Answer, rmcp::ServiceError> {
        let Value::Object(map) = args else {
            panic!("arguments must be an object")
        };
        let result = self
            .inner
            .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(map))
            .await?;
        if result.is_error == Some(true) {
            let text = result
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                .collect::<Vec<_>>()
                .join("\n");
            return Ok(Answer::Err(text));
        }
        Ok(Answer::Ok(
            result.structured_content.expect("structured content"),
        ))
    }

    pub async fn close(self) {
        let _ = self.inner.cancel().await;
    }
}

/// A running `flagwarden serve` on a free loopback port; killed on drop.
pub struct Served {
    pub url: String,
    child: std::process::Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// SIGKILL: no flush, no shutdown, like a crash or an OOM kill.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for a clean exit (evaluation counts flushed).
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("wait for serve")
    }
}

impl Project {
    /// Starts `flagwarden serve --listen 127.0.0.1:0` with `extra` arguments and environment, and
    /// reads the address from its first line of output.
    pub fn serve_with(&self, extra: &[&str], env: &[(&str, &str)]) -> Served {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_flagwarden"));
        cmd.arg("--policy")
            .arg(self.policy())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("FLAGWARDEN_DB")
            .env_remove("FLAGWARDEN_TOKENS")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn flagwarden serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the address");
        let url = line
            .trim()
            .strip_prefix("flagwarden serving ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Served { url, child }
    }

    pub fn serve(&self) -> Served {
        self.serve_with(&[], &[])
    }
}

/// Connects rmcp's streamable HTTP client to `url` (2025-11-25 with a session), optionally with a token.
pub async fn connect_http(url: &str, client_name: &str, token: Option<&str>) -> Client {
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let mut config = StreamableHttpClientTransportConfig::with_uri(format!("{url}/mcp"));
    if let Some(t) = token {
        config = config.auth_header(t);
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    let client = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new(client_name, "1.0"),
    );
    Client {
        inner: client.serve(transport).await.expect("initialize over HTTP"),
    }
}

/// A digest of the database's logical content: every row of every table, in rowid order. Equal
/// digests before and after prove nothing changed, whatever SQLite did with its pages and WAL.
pub fn db_digest(db: &Path) -> String {
    db_digest_except(db, &[])
}

/// The digest of every table but `skip`.
pub fn db_digest_except(db: &Path, skip: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the store read-only");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut hash = Sha256::new();
    for table in tables.iter().filter(|t| !skip.contains(&t.as_str())) {
        hash.update(table.as_bytes());
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                let v: rusqlite::types::Value = row.get(i).unwrap();
                hash.update(format!("{v:?}\u{1f}").as_bytes());
            }
            hash.update(b"\x1e");
        }
    }
    hex::encode(hash.finalize())
}

/// The state of everything but the audit trail, and where the trail ends: a refused attempt may add
/// audit events (its outcome) and nothing else.
pub struct Before {
    state: String,
    audit_len: i64,
}

pub fn before(db: &Path) -> Before {
    Before {
        state: db_digest_except(db, &["audit_events"]),
        audit_len: audit_len(db),
    }
}

fn audit_len(db: &Path) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the store read-only");
    conn.query_row("SELECT count(*) FROM audit_events", [], |r| r.get(0))
        .unwrap()
}

impl Before {
    /// Nothing changed but audit events recording refusals: conflicts and policy denials.
    pub fn assert_only_refusals_recorded(&self, db: &Path) {
        assert_eq!(
            db_digest_except(db, &["audit_events"]),
            self.state,
            "a refused request changed the store"
        );
        let conn =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        let mut stmt = conn
            .prepare("SELECT seq, action, decision FROM audit_events WHERE seq > ?1")
            .unwrap();
        let added: Vec<(i64, String, String)> = stmt
            .query_map([self.audit_len], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (seq, action, decision) in added {
            assert!(
                decision == "conflict" || decision == "deny",
                "audit event {seq} ({action}) records {decision:?}, not a refusal"
            );
        }
    }
}
