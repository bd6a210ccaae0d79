//! The long-running modes: `flagwarden mcp` (the tools over stdio) and `flagwarden serve` (HTTP), each
//! with the webhook workers and, when asked, periodic code-reference scans beside it. Both make the
//! process's key for sealing in-client confirmations at start, so a restart refuses older states.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::Args;

use super::Cli;
use crate::app::App;
use crate::notify::{Deliveries, Notifier, Retry};

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

/// `flagwarden mcp`: the MCP tools over stdio until the client disconnects.
pub(super) fn mcp(cli: &Cli, every: &ScanEvery) -> Result<()> {
    let app = cli.open_app()?;
    let deliveries = Arc::default();
    let seal = state_seal()?;
    crate::runtime()?.block_on(scanning(
        app.clone(),
        every,
        notifying(app.clone(), deliveries, crate::serve_stdio(app, seal)),
    ))
}

/// `flagwarden serve`: tokens from the file and the environment, then HTTP until a signal.
pub(super) fn serve(cli: &Cli, args: &ServeArgs) -> Result<()> {
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

/// The process's key for sealing in-client confirmations (MCP request state): random at each start.
fn state_seal() -> Result<Arc<crate::mcp::StateSeal>> {
    let seal = crate::mcp::StateSeal::random()
        .map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    Ok(Arc::new(seal))
}
