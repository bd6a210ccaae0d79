//! A temp project with its own policy file and store, and the real `flagwarden` binary run in it: the
//! human CLI, `flagwarden mcp` over stdio to rmcp's client, and `flagwarden serve` on a free port.

use std::path::{Path, PathBuf};
use std::process::Output;

use rmcp::ServiceExt;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::transport::TokioChildProcess;

use super::client::Client;

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
