//! The human CLI: the same use cases as the MCP tools, on the same façade, with tables for people and
//! `--json` for scripts. Human-only actions ask for a typed confirmation on a terminal (or `--yes`), so
//! an agent's non-interactive shell does not approve by accident. Uses `anyhow`, like `main`.

mod approvals;
mod audit;
mod export;
mod flags;
mod human;
mod policy;
mod release;
mod rollouts;
mod scan;
mod tokens;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use comfy_table::Table;
use serde::Serialize;

use crate::app::types::Steer;
use crate::app::{App, Config, LoadedPolicy};
use crate::launch::{self, ScanEvery, ServeArgs};

pub use flags::FlagsCmd;
pub use human::Confirm;
pub use policy::{DEFAULT_POLICY, PolicyCmd};
pub use rollouts::CanaryCmd;
pub use tokens::TokenCmd;

#[derive(Parser)]
#[command(
    name = "flagwarden",
    version,
    about = "Release control for coding agents: flags, policy-bounded canaries, audited rollbacks"
)]
pub struct Cli {
    /// Policy file. The database defaults to .flagwarden/flagwarden.db beside it.
    #[arg(
        long,
        global = true,
        env = "FLAGWARDEN_POLICY",
        default_value = "flagwarden.toml"
    )]
    pub policy: PathBuf,
    /// SQLite database file.
    #[arg(long, global = true, env = "FLAGWARDEN_DB")]
    pub db: Option<PathBuf>,
    /// Base URL applications reach flagwarden's OFREP endpoint at (used in generated code).
    #[arg(
        long,
        global = true,
        env = "FLAGWARDEN_OFREP_URL",
        default_value = "http://127.0.0.1:7070"
    )]
    pub ofrep_url: String,
    /// For tests only: "now" is the RFC 3339 instant this file holds, read at every use, instead of
    /// the system clock, so dwell, windows and freezes can be tested without waiting.
    #[arg(long, global = true, hide = true, env = "FLAGWARDEN_CLOCK_FILE")]
    pub clock_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Write a commented default policy and create an empty store.
    Init {
        /// Overwrite an existing policy file.
        #[arg(long)]
        force: bool,
    },
    /// Serve the MCP tools over stdio (register this command in Claude Code or Cursor).
    Mcp {
        #[command(flatten)]
        scan: ScanEvery,
    },
    /// Serve agents (MCP over streamable HTTP), applications (OFREP, signal ingest, change stream),
    /// human tokens (approvals), /healthz and /metrics on one address.
    Serve(ServeArgs),
    /// Bearer tokens for `serve`.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Print every tool's name, description, annotations and schemas (what tools/list returns) as JSON.
    Schema,
    /// List flags, or show one.
    Flags {
        #[command(subcommand)]
        show: Option<FlagsCmd>,
        #[arg(long)]
        json: bool,
    },
    /// Pending approval requests (all with --all).
    Approvals {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending request (human only).
    Approve {
        id: i64,
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Reject a pending request (human only).
    Reject {
        id: i64,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Roll a flag back to its last-known-good variant at once (human).
    Rollback {
        key: String,
        #[arg(long = "env")]
        env: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Release operations on rollouts: `rollouts rehearse KEY --env E` rehearses the rollback.
    Rollouts {
        #[command(subcommand)]
        cmd: release::RolloutsCmd,
    },
    /// A blameless Markdown postmortem of a rollout, from the audit trail and stored gate evaluations.
    Postmortem { rollout: i64 },
    /// The pre-release checklist: `checklist attest KEY --env E --item plan --text ...`.
    Checklist {
        #[command(subcommand)]
        cmd: release::ChecklistCmd,
    },
    /// Rollouts: `canary show KEY --env E` explains the gate per metric and arm.
    Canary {
        #[command(subcommand)]
        cmd: CanaryCmd,
    },
    /// Resume a PAUSED rollout (human).
    Resume {
        rollout: i64,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Abort a rollout: everyone gets the last-known-good (human).
    Abort {
        rollout: i64,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Archive a flag no code references any more (human): it stops being served and SDKs fall back
    /// to their code default.
    Archive {
        key: String,
        #[arg(long)]
        reason: String,
        /// Archive even though code references are still recorded as live.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Break-glass override: complete a rollout now, past the gate (human; needs an active break-glass).
    Promote {
        rollout: i64,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Lift freezes and change windows in an environment for a while (human, with a reason).
    BreakGlass {
        #[arg(long = "env")]
        env: String,
        #[arg(long)]
        reason: String,
        /// How long, e.g. "2h" (at most 24h).
        #[arg(long = "for", default_value = "1h")]
        duration: String,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// The audit trail; --verify checks the hash chain.
    Audit {
        #[arg(long)]
        verify: bool,
        #[arg(long)]
        key: Option<String>,
        #[arg(long = "env")]
        env: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Policy commands.
    Policy {
        #[command(subcommand)]
        cmd: PolicyCmd,
    },
    /// Find every reference to every flag key in the project (as `rg` would: .gitignore honoured,
    /// hidden and binary files skipped) and record them; references no longer found are marked gone.
    Scan {
        /// Directory to scan, inside the project (default: the policy file's directory).
        #[arg(long)]
        root: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Search for these comma-separated keys only, record nothing (for benchmarks).
        #[arg(long, hide = true, value_delimiter = ',')]
        keys: Vec<String>,
    },
    /// Write definitions for another engine: `export flagd --env E [--out FILE]`.
    Export {
        #[command(subcommand)]
        cmd: ExportCmd,
    },
    /// Evaluate a flag as an application would.
    Eval {
        key: String,
        #[arg(long = "env")]
        env: String,
        /// OpenFeature context as JSON, e.g. '{"targetingKey":"user-1"}'.
        #[arg(long, default_value = "{}")]
        context: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ExportCmd {
    /// The environment's flagd flag definitions (JSON), for flagd's file sync.
    Flagd {
        #[arg(long = "env")]
        env: String,
        /// Replace this file atomically instead of printing.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

impl Cli {
    fn db_path(&self) -> PathBuf {
        self.db.clone().unwrap_or_else(|| {
            let dir = self
                .policy
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            dir.join(".flagwarden").join("flagwarden.db")
        })
    }

    /// Reads the policy; a missing file means the embedded default (said on stderr), a bad one is fatal.
    pub fn load_policy(&self) -> Result<LoadedPolicy> {
        let path = self.policy.display().to_string();
        let source = match std::fs::read_to_string(&self.policy) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(
                    "no policy at {path}: using the embedded default policy (`flagwarden init` writes it out)"
                );
                return Ok(
                    LoadedPolicy::parse("(embedded default policy)", DEFAULT_POLICY)
                        .expect("the default policy is valid"),
                );
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read the policy {path}")),
        };
        let loaded = LoadedPolicy::parse(&path, &source)
            .map_err(|e| anyhow::anyhow!("refusing to start on a bad policy: {e}"))?;
        // Older forms the file still uses, said once per load on stderr (stdout may be JSON-RPC).
        for note in &loaded.policy.notes {
            eprintln!("note: {note}");
        }
        Ok(loaded)
    }

    pub fn open_app(&self) -> Result<Arc<App>> {
        let policy = self.load_policy()?;
        let root = self
            .policy
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let config = Config {
            ofrep_base_url: self.ofrep_url.clone(),
            project_root: root,
        };
        let db = self.db_path();
        let clock = match &self.clock_file {
            Some(path) => file_clock(path.clone()),
            None => Arc::new(jiff::Timestamp::now),
        };
        Ok(Arc::new(
            App::open_with_clock(&db, policy, clock, config)
                .with_context(|| format!("cannot open the store {}", db.display()))?,
        ))
    }
}

/// The test clock: the instant in `path`, read at every use. A file caught mid-write (or gone) reads
/// as the last instant read, so time never jumps to the system clock behind a test's back.
fn file_clock(path: PathBuf) -> crate::app::Clock {
    let last = std::sync::Mutex::new(None::<jiff::Timestamp>);
    Arc::new(move || {
        let read = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<jiff::Timestamp>().ok());
        let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = read {
            *last = Some(t);
        }
        last.unwrap_or_else(jiff::Timestamp::now)
    })
}

impl Command {
    /// Whether the command prints its answer and ends, as opposed to serving until stopped.
    pub fn is_one_shot(&self) -> bool {
        !matches!(self, Command::Mcp { .. } | Command::Serve(_))
    }
}

fn print_json<T: Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.set_header(header.to_vec());
    t
}

/// Runs one command: each family's file does the work.
pub fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Init { force } => policy::init(&cli, *force),
        Command::Mcp { scan: every } => launch::mcp(cli.open_app()?, every),
        Command::Scan { root, json, keys } => scan::scan(&cli, root.as_deref(), *json, keys),
        Command::Serve(args) => launch::serve(cli.open_app()?, args),
        Command::Token {
            cmd:
                TokenCmd::New {
                    role,
                    name,
                    environment,
                },
        } => tokens::new_token(role, name, environment.as_deref()),
        Command::Schema => print_json(&launch::tool_list()),
        Command::Policy {
            cmd: PolicyCmd::Check { explain },
        } => policy::check(&cli, *explain),
        Command::Flags {
            show:
                Some(FlagsCmd::Contacts {
                    key,
                    owner,
                    escalation,
                }),
            ..
        } => release::contacts(&cli, key, owner.as_deref(), escalation.as_deref()),
        Command::Rollouts {
            cmd:
                release::RolloutsCmd::Rehearse {
                    key,
                    env,
                    candidate,
                    contexts,
                    reason,
                    json,
                },
        } => release::rehearse(
            &cli,
            key,
            env,
            candidate.as_deref(),
            contexts.as_deref(),
            reason,
            *json,
        ),
        Command::Postmortem { rollout } => {
            print!("{}", cli.open_app()?.postmortem(*rollout)?);
            Ok(())
        }
        Command::Checklist {
            cmd:
                release::ChecklistCmd::Attest {
                    key,
                    env,
                    item,
                    text,
                },
        } => release::attest(&cli, key, env, item, text),
        Command::Flags {
            show: Some(FlagsCmd::Show { key }),
            ..
        } => flags::show(&cli, key),
        Command::Flags { show: None, json } => flags::list(&cli, *json),
        Command::Approvals { all, json } => approvals::list(&cli, *all, *json),
        Command::Approve {
            id,
            reason,
            confirm: c,
        } => approvals::approve(&cli, *id, reason, c),
        Command::Reject {
            id,
            reason,
            confirm: c,
        } => approvals::reject(&cli, *id, reason, c),
        Command::Rollback {
            key,
            env,
            reason,
            confirm: c,
        } => rollouts::rollback(&cli, key, env, reason, c),
        Command::Canary {
            cmd:
                CanaryCmd::Show {
                    key,
                    env,
                    history,
                    json,
                },
        } => rollouts::show(&cli, key, env, *history, *json),
        Command::Resume {
            rollout,
            reason,
            confirm: c,
        } => rollouts::steer(&cli, Steer::Resume, *rollout, reason, c),
        Command::Abort {
            rollout,
            reason,
            confirm: c,
        } => rollouts::steer(&cli, Steer::Abort, *rollout, reason, c),
        Command::Promote {
            rollout,
            reason,
            confirm: c,
        } => rollouts::steer(&cli, Steer::Promote, *rollout, reason, c),
        Command::Archive {
            key,
            reason,
            force,
            confirm: c,
        } => flags::archive(&cli, key, reason, *force, c),
        Command::BreakGlass {
            env,
            reason,
            duration,
            confirm: c,
        } => policy::break_glass(&cli, env, reason, duration, c),
        Command::Audit {
            verify,
            key,
            env,
            limit,
            json,
        } => audit::show(&cli, *verify, key.as_deref(), env.as_deref(), *limit, *json),
        Command::Eval { key, env, context } => flags::eval(&cli, key, env, context),
        Command::Export {
            cmd: ExportCmd::Flagd { env, out },
        } => export::flagd(&cli, env, out.as_deref()),
    }
}
