//! The human CLI: the same use cases as the MCP tools, on the same façade, with tables for people and
//! `--json` for scripts. Human-only actions ask for a typed confirmation on a terminal (or `--yes`), so
//! an agent's non-interactive shell does not approve by accident. Uses `anyhow`, like `main`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand};
use comfy_table::Table;
use serde::Serialize;

use crate::app::types::*;
use crate::app::{App, Config, LoadedPolicy};
use crate::domain::policy::Actor;
use crate::notify::{Deliveries, Notifier, Retry};

pub const DEFAULT_POLICY: &str = include_str!("default_policy.toml");

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

#[derive(Subcommand)]
pub enum CanaryCmd {
    /// A rollout's gate, explained per metric and arm, and its stored evaluations.
    Show {
        key: String,
        #[arg(long = "env")]
        env: String,
        /// How many stored evaluations to list.
        #[arg(long, default_value_t = 5)]
        history: u32,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum FlagsCmd {
    /// One flag in full.
    Show { key: String },
}

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Validate the policy file and print its bounds.
    Check,
}

#[derive(Args)]
pub struct ScanEvery {
    /// Scan the project for code references at start and then this often, e.g. "10m".
    #[arg(long, value_name = "DURATION", value_parser = parse_every)]
    pub scan_every: Option<std::time::Duration>,
}

fn parse_every(s: &str) -> std::result::Result<std::time::Duration, String> {
    let d: jiff::SignedDuration = s
        .parse()
        .map_err(|e| format!("{e}; use a duration such as \"10m\" or \"1h\""))?;
    std::time::Duration::try_from(d)
        .ok()
        .filter(|d| *d >= std::time::Duration::from_secs(1))
        .ok_or_else(|| "use a positive duration of at least 1s, such as \"10m\"".to_owned())
}

#[derive(Args)]
pub struct Confirm {
    /// Skip the typed confirmation (scripts). Anyone who can run this can pass it: see README.
    #[arg(long)]
    yes: bool,
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
        LoadedPolicy::parse(&path, &source)
            .map_err(|e| anyhow::anyhow!("refusing to start on a bad policy: {e}"))
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
        Ok(Arc::new(App::open(&db, policy, config).with_context(
            || format!("cannot open the store {}", db.display()),
        )?))
    }
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on. Anything but loopback needs tokens.
    #[arg(long, env = "FLAGWARDEN_LISTEN", default_value = "127.0.0.1:7070")]
    pub listen: std::net::SocketAddr,
    /// TOML file of [[token]] entries (name, role, sha256, environment); FLAGWARDEN_TOKENS adds more.
    #[arg(long, env = "FLAGWARDEN_TOKENS_FILE")]
    pub tokens: Option<PathBuf>,
    /// A host name clients use to reach this server, besides localhost (repeatable).
    #[arg(long = "allowed-host")]
    pub allowed_hosts: Vec<String>,
    /// Environment for OFREP and ingest calls whose token and headers name none.
    #[arg(long, env = "FLAGWARDEN_ENVIRONMENT", default_value = "development")]
    pub environment: String,
    /// URL clients reach this server at, for the OFREP event stream (default: the bound address).
    #[arg(long)]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub scan: ScanEvery,
}

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Make a new random token: prints the secret once, and the hashed entry for the tokens file.
    New {
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: String,
        /// For sdk and ingest tokens: the environment they read or report for.
        #[arg(long)]
        environment: Option<String>,
    },
}

fn serve(cli: &Cli, args: &ServeArgs) -> Result<()> {
    use crate::http::auth::Tokens;
    let mut tokens = Tokens::default();
    if let Some(path) = &args.tokens {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the tokens file {}", path.display()))?;
        tokens.parse_file(path, &text)?;
    }
    if let Ok(value) = std::env::var("FLAGWARDEN_TOKENS") {
        tokens.parse_env(&value)?;
    }
    let app = cli.open_app()?;
    let deliveries = Arc::new(Deliveries::default());
    let cfg = crate::http::ServeConfig {
        listen: args.listen,
        tokens,
        allowed_hosts: args.allowed_hosts.clone(),
        default_environment: args.environment.clone(),
        public_url: args.public_url.clone(),
        deliveries: deliveries.clone(),
        seal: state_seal()?,
    };
    crate::runtime()?.block_on(scanning(
        app.clone(),
        &args.scan,
        notifying(app.clone(), deliveries, crate::http::serve(app, cfg)),
    ))
}

/// Runs a long-running mode with periodic code-reference scans beside it, when asked for.
async fn scanning(
    app: Arc<App>,
    every: &ScanEvery,
    mode: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    let scanner = every
        .scan_every
        .map(|d| tokio::spawn(crate::scan_periodically(app, d)));
    let result = mode.await;
    if let Some(s) = scanner {
        s.abort();
    }
    result
}

fn scan(cli: &Cli, root: Option<&Path>, json: bool, keys: &[String]) -> Result<()> {
    if !keys.is_empty() {
        // Walk and search only, the same work as `rg` on the same tree: for benchmarks.
        let root = root.unwrap_or(Path::new("."));
        let outcome = crate::scan::scan(root, keys)?;
        println!(
            "{} files searched, {} references",
            outcome.files,
            outcome.hits.len()
        );
        return Ok(());
    }
    let report = cli.open_app()?.scan_code_refs(root)?;
    if json {
        return print_json(&report);
    }
    println!(
        "searched {} files under {} in {} ms (recorded in {} ms): {} references{}",
        report.files,
        report.root,
        report.scan_ms,
        report.record_ms,
        report.refs,
        match report.unreadable {
            0 => String::new(),
            n => format!(", {n} unreadable entries skipped"),
        }
    );
    for (flag, n) in &report.refs_per_flag {
        println!("  {flag}: {n}");
    }
    let place = |c: &crate::app::RefChange| match c.line {
        Some(l) => format!("{} {}:{l}", c.flag, c.file),
        None => format!("{} {}", c.flag, c.file),
    };
    for (what, list) in [
        ("appeared", &report.appeared),
        ("disappeared", &report.disappeared),
    ] {
        println!("{what}: {}", list.len());
        for c in list {
            println!("  {}", place(c));
        }
    }
    if report.moved > 0 {
        println!("moved within their file: {}", report.moved);
    }
    Ok(())
}

/// Runs a long-running mode with the webhook workers beside it (when the policy has webhooks), and
/// stops them when it ends.
async fn notifying(
    app: Arc<App>,
    deliveries: Arc<Deliveries>,
    mode: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    let notifier = Notifier::start(app, Retry::DEFAULT, deliveries).await?;
    let result = mode.await;
    if let Some(n) = notifier {
        n.stop().await;
    }
    result
}

fn new_token(role: &str, name: &str, environment: Option<&str>) -> Result<()> {
    use crate::app::Role;
    use crate::http::auth::{hash, new_secret};
    let Some(role) = Role::parse(role) else {
        bail!("unknown role {role:?}: use agent, human, sdk or ingest");
    };
    let secret = new_secret().map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    let env_line = environment.map_or(String::new(), |e| format!("environment = {e:?}\n"));
    let env_part = environment.map_or(String::new(), |e| format!("@{e}"));
    println!("secret (shown once; give it to the {role} client): {secret}\n");
    println!("add to the tokens file (serve --tokens FILE):\n");
    println!(
        "[[token]]\nname = {name:?}\nrole = \"{role}\"\nsha256 = \"{}\"\n{env_line}",
        hex::encode(hash(&secret))
    );
    println!(
        "or put it in the environment: FLAGWARDEN_TOKENS=\"{role}:{name}{env_part}=<secret>\""
    );
    Ok(())
}

/// The process's key for sealing in-client confirmations (MCP request state): random at each start.
fn state_seal() -> Result<Arc<crate::mcp::StateSeal>> {
    let seal = crate::mcp::StateSeal::random()
        .map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    Ok(Arc::new(seal))
}

fn human() -> Actor {
    let name = std::env::var("FLAGWARDEN_HUMAN")
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "human".into());
    Actor::Human(name)
}

/// A human-only action proceeds only after the person types `expected` on a terminal, or with --yes.
fn confirm(c: &Confirm, what: &str, expected: &str) -> Result<()> {
    if c.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "{what} is a human action: run it in a terminal to confirm it, or pass --yes in a script you trust"
        );
    }
    eprint!("{what}\nType {expected:?} to confirm: ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim() != expected {
        bail!("not confirmed; nothing changed");
    }
    Ok(())
}

/// The gate in words and numbers: the verdict, then one row per metric with both arms.
fn print_canary(status: &CanaryStatus, evaluations: &[crate::app::GateEvaluation]) {
    let Some(r) = &status.rollout else {
        println!("{} has no rollout in {}", status.key, status.environment);
        return;
    };
    println!(
        "rollout {} of {} in {}: {} at {}% ({:?} → {:?})",
        r.id,
        status.key,
        status.environment,
        r.state.as_str(),
        r.percent,
        r.lkg,
        r.candidate
    );
    if let Some(g) = &status.gate {
        println!(
            "gate now: {:?}{}",
            g.verdict,
            if g.critical { " (critical)" } else { "" }
        );
        for reason in &g.reasons {
            println!("  - {reason}");
        }
        let mut t = table(&[
            "metric",
            "req",
            "canary n",
            "canary",
            "control n",
            "control",
            "diff",
            "bounds",
            "margin",
            "label",
        ]);
        let num = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.4}"));
        for m in &g.metrics {
            t.add_row(vec![
                m.metric.clone(),
                if m.required {
                    "yes".into()
                } else {
                    String::new()
                },
                m.canary.n.to_string(),
                num(m.canary.value),
                m.control.n.to_string(),
                num(m.control.value),
                num(m.difference),
                match (m.lower, m.upper) {
                    (Some(l), Some(u)) => format!("[{l:.4}, {u:.4}]"),
                    _ => m.e_value.map_or("-".into(), |e| format!("e={e:.2}")),
                },
                m.margin.to_string(),
                format!("{:?}", m.label).to_uppercase(),
            ]);
        }
        println!("{t}");
        println!(
            "sample ratio: {} canary / {} control exposures, p = {:.3}{}",
            g.srm.canary_exposures,
            g.srm.control_exposures,
            g.srm.p_value,
            if g.srm.mismatch { " MISMATCH" } else { "" }
        );
        for b in &g.breakers {
            println!(
                "breaker {} {} {}: canary {} over {}{}",
                b.metric,
                b.op,
                b.limit,
                b.canary.value.map_or("-".into(), |v| format!("{v:.4}")),
                b.canary.n,
                if b.tripped { " TRIPPED" } else { "" }
            );
        }
    }
    for e in evaluations {
        println!(
            "evaluation #{} at {}: {} (config {})",
            e.id,
            e.evaluated_at,
            e.verdict,
            &e.config_sha256[..12]
        );
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

pub fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Init { force } => init(&cli, *force),
        Command::Mcp { scan: every } => {
            let app = cli.open_app()?;
            let deliveries = Arc::default();
            let seal = state_seal()?;
            crate::runtime()?.block_on(scanning(
                app.clone(),
                every,
                notifying(app.clone(), deliveries, crate::serve_stdio(app, seal)),
            ))
        }
        Command::Scan { root, json, keys } => scan(&cli, root.as_deref(), *json, keys),
        Command::Serve(args) => serve(&cli, args),
        Command::Token {
            cmd:
                TokenCmd::New {
                    role,
                    name,
                    environment,
                },
        } => new_token(role, name, environment.as_deref()),
        Command::Schema => print_json(&crate::mcp::Server::tool_list()),
        Command::Policy {
            cmd: PolicyCmd::Check,
        } => {
            let p = cli.load_policy()?;
            println!(
                "{}: version {}, sha256 {}",
                p.path, p.policy.version, p.sha256
            );
            for (name, env) in &p.policy.environments {
                println!("\n{name}:");
                for line in crate::domain::policy::describe(env) {
                    println!("  - {line}");
                }
            }
            Ok(())
        }
        Command::Flags {
            show: Some(FlagsCmd::Show { key }),
            ..
        } => print_json(&cli.open_app()?.get_flag(key)?),
        Command::Flags { show: None, json } => {
            let list = cli.open_app()?.list_flags(&ListFlags::default())?;
            if *json {
                return print_json(&list);
            }
            let mut t = table(&["flag", "type", "status", "v", "serving"]);
            for f in list.flags {
                let serving: Vec<String> = f
                    .serving
                    .iter()
                    .map(|(e, s)| format!("{e}: {}", s.as_str().unwrap_or_default()))
                    .collect();
                t.add_row(vec![
                    f.key.clone(),
                    f.change_type.as_str().to_owned(),
                    f.status.as_str().to_owned(),
                    f.version.to_string(),
                    serving.join("\n"),
                ]);
            }
            println!("{t}");
            Ok(())
        }
        Command::Approvals { all, json } => {
            let list = cli.open_app()?.list_approvals(&ListApprovals {
                status: Some(if *all { "all" } else { "pending" }.into()),
            })?;
            if *json {
                return print_json(&list);
            }
            let mut t = table(&[
                "id",
                "kind",
                "flag",
                "env",
                "to",
                "status",
                "requested by",
                "rule",
                "reason",
            ]);
            for a in &list.approvals {
                t.add_row(vec![
                    a.id.to_string(),
                    a.kind.clone(),
                    a.flag.clone(),
                    a.env.clone(),
                    a.target_percent
                        .map(|p| format!("{p}%"))
                        .unwrap_or_default(),
                    a.status.clone(),
                    a.requested_by.clone(),
                    a.rule.clone(),
                    a.reason.clone(),
                ]);
            }
            println!("{t}\n{}", list.how_to_decide);
            Ok(())
        }
        Command::Approve {
            id,
            reason,
            confirm: c,
        } => {
            let app = cli.open_app()?;
            confirm(c, &format!("approve request {id}"), &id.to_string())?;
            let d = app.approve(&human(), *id, reason, Channel::Cli)?;
            println!("{}", d.summary);
            Ok(())
        }
        Command::Reject {
            id,
            reason,
            confirm: c,
        } => {
            let app = cli.open_app()?;
            confirm(c, &format!("reject request {id}"), &id.to_string())?;
            println!(
                "{}",
                app.reject(&human(), *id, reason, Channel::Cli)?.summary
            );
            Ok(())
        }
        Command::Rollback {
            key,
            env,
            reason,
            confirm: c,
        } => {
            let app = cli.open_app()?;
            confirm(c, &format!("roll back {key} in {env}"), key)?;
            let req = RollbackFlag {
                key: key.clone(),
                environment: env.clone(),
                expected_version: None,
                meta: Meta::because(reason),
            };
            println!("{}", app.rollback(&human(), &req)?.outcome.summary);
            Ok(())
        }
        Command::Canary {
            cmd:
                CanaryCmd::Show {
                    key,
                    env,
                    history,
                    json,
                },
        } => {
            let app = cli.open_app()?;
            let status = app.canary_status(&FlagEnv {
                key: key.clone(),
                environment: env.clone(),
            })?;
            let evaluations = match &status.rollout {
                Some(r) => app.gate_evaluations(r.id, *history)?,
                None => Vec::new(),
            };
            if *json {
                return print_json(
                    &serde_json::json!({"status": status, "evaluations": evaluations}),
                );
            }
            print_canary(&status, &evaluations);
            Ok(())
        }
        Command::Resume {
            rollout,
            reason,
            confirm: c,
        }
        | Command::Abort {
            rollout,
            reason,
            confirm: c,
        }
        | Command::Promote {
            rollout,
            reason,
            confirm: c,
        } => {
            let steer = match &cli.command {
                Command::Resume { .. } => Steer::Resume,
                Command::Abort { .. } => Steer::Abort,
                _ => Steer::Promote,
            };
            let app = cli.open_app()?;
            confirm(
                c,
                &format!("{} rollout {rollout}", steer.as_str()),
                &rollout.to_string(),
            )?;
            println!(
                "{}",
                app.steer_rollout(&human(), *rollout, steer, reason)?
                    .outcome
                    .summary
            );
            Ok(())
        }
        Command::Archive {
            key,
            reason,
            force,
            confirm: c,
        } => {
            let app = cli.open_app()?;
            confirm(c, &format!("archive {key}"), key)?;
            println!(
                "{}",
                app.archive_flag(&human(), key, reason, *force)?
                    .outcome
                    .summary
            );
            Ok(())
        }
        Command::BreakGlass {
            env,
            reason,
            duration,
            confirm: c,
        } => {
            let ttl: jiff::SignedDuration = duration
                .parse()
                .with_context(|| format!("--for {duration:?}: use a duration such as \"2h\""))?;
            let app = cli.open_app()?;
            confirm(c, &format!("lift freezes in {env} for {duration}"), env)?;
            println!("{}", app.break_glass(&human(), env, reason, ttl)?);
            Ok(())
        }
        Command::Audit {
            verify,
            key,
            env,
            limit,
            json,
        } => {
            let app = cli.open_app()?;
            if *verify {
                match app.verify_audit()? {
                    Ok(n) => println!("audit chain verified: {n} events, no gaps or edits"),
                    Err(broken) => bail!("{broken}"),
                }
            }
            let events = app.audit_events(key.as_deref(), env.as_deref(), *limit)?;
            if *json {
                return print_json(&events);
            }
            let mut t = table(&[
                "seq", "time", "actor", "action", "flag", "env", "decision", "rule", "reason",
            ]);
            for e in events.iter().rev() {
                t.add_row(vec![
                    e.seq.to_string(),
                    e.ts.clone(),
                    format!("{}:{}", e.actor_kind, e.actor),
                    e.action.clone(),
                    e.flag.clone().unwrap_or_default(),
                    e.env.clone().unwrap_or_default(),
                    e.decision.clone(),
                    e.rule.clone().unwrap_or_default(),
                    e.reason.clone().unwrap_or_default(),
                ]);
            }
            println!("{t}");
            Ok(())
        }
        Command::Eval { key, env, context } => {
            let context: serde_json::Value =
                serde_json::from_str(context).context("--context must be a JSON object")?;
            print_json(&cli.open_app()?.evaluate_flag(&EvaluateFlag {
                key: key.clone(),
                environment: env.clone(),
                context,
            })?)
        }
    }
}

fn init(cli: &Cli, force: bool) -> Result<()> {
    if cli.policy.exists() && !force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            cli.policy.display()
        );
    }
    std::fs::write(&cli.policy, DEFAULT_POLICY)
        .with_context(|| format!("cannot write {}", cli.policy.display()))?;
    let app = cli.open_app()?;
    drop(app);
    println!(
        "wrote {} (development permissive, production strict) and created {}",
        cli.policy.display(),
        cli.db_path().display()
    );
    Ok(())
}
