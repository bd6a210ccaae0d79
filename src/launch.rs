//! The composition root: the one module that knows every edge. It builds the two long-running modes
//! from the `App`, the edges and the workers beside them: `flagwarden mcp` (the tools over stdio) and
//! `flagwarden serve` (HTTP), each with the webhook workers, periodic evaluation-count flushes and,
//! when asked, periodic code-reference scans; and it publishes what the MCP edge offers (`tools/list`
//! for `flagwarden schema`). The CLI asks for a mode here and never imports an edge itself. Both modes
//! make the process's key for sealing in-client confirmations at start, so a restart refuses older
//! states. Both export their traces and metrics over OTLP when the `OTEL_*` variables ask
//! (`telemetry_out`), started before the runtime and flushed after it.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::Args;

use crate::app::{App, Tokens};
use crate::controller::Controller;
use crate::notify::{Deliveries, Notifier, Retry};
use crate::prometheus::Poller;
use crate::telemetry_out;
use crate::{flagd_sync, http, mcp};

/// Exactly what tools/list returns, sorted by name: `flagwarden schema` prints it.
pub fn tool_list() -> Vec<rmcp::model::Tool> {
    mcp::Server::tool_list()
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
pub fn mcp(app: Arc<App>, every: &ScanEvery) -> Result<()> {
    let deliveries: Arc<Deliveries> = Arc::default();
    let seal = state_seal()?;
    let telemetry = telemetry_out::start("mcp", app.clone(), deliveries.clone())?;
    let result = runtime()?.block_on(beside(
        app.clone(),
        every,
        deliveries,
        serve_stdio(app, seal),
    ));
    if let Some(t) = telemetry {
        t.shutdown();
    }
    result
}

/// `flagwarden serve`: tokens from the file and the environment, then HTTP until a signal, with the
/// controller beside it (unless the policy turns it off).
pub fn serve(app: Arc<App>, args: &ServeArgs) -> Result<()> {
    let mut tokens = Tokens::default();
    if let Some(path) = &args.tokens {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the tokens file {}", path.display()))?;
        tokens.parse_file(path, &text)?;
    }
    if let Ok(value) = std::env::var("FLAGWARDEN_TOKENS") {
        tokens.parse_env(&value)?;
    }
    let deliveries = Arc::new(Deliveries::default());
    let looks = Arc::new(crate::controller::Stats::default());
    let cfg = http::ServeConfig {
        listen: args.listen,
        tokens,
        allowed_hosts: args.allowed_hosts.clone(),
        default_environment: args.environment.clone(),
        public_url: args.public_url.clone(),
        deliveries: deliveries.clone(),
        controller: looks.clone(),
        seal: state_seal()?,
        grpc: Vec::new(),
        shutdown: tokio_util::sync::CancellationToken::new(),
    };
    let telemetry = telemetry_out::start("serve", app.clone(), deliveries.clone())?;
    let result = runtime()?.block_on(async move {
        let mut cfg = cfg;
        let controller = Controller::start(app.clone(), looks);
        // The flagd sync source on the same port; its publisher follows the watch feed `beside` starts.
        let (flagd, publisher) =
            flagd_sync::start(app.clone(), &args.environment, cfg.shutdown.clone());
        cfg.grpc.push((flagd_sync::PATH, flagd));
        let served = beside(app.clone(), &args.scan, deliveries, http::serve(app, cfg)).await;
        publisher.abort();
        if let Some(c) = controller {
            c.stop().await;
        }
        served
    });
    if let Some(t) = telemetry {
        t.shutdown();
    }
    result
}

/// Runs a long-running mode with its workers beside it: the watch feed that MCP resource updates
/// and `canary_status` waits follow, the webhook workers (when the policy has webhooks), the
/// Prometheus query worker (when the policy names a Prometheus), periodic code-reference scans (when
/// asked for) and evaluation counts written to the store every `FLUSH_EVERY`. When the mode ends,
/// well or not, the workers stop and the counts are
/// written once more, so counts taken are not lost.
async fn beside(
    app: Arc<App>,
    every: &ScanEvery,
    deliveries: Arc<Deliveries>,
    mode: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    let notifier = Notifier::start(app.clone(), Retry::DEFAULT, deliveries).await?;
    let watching = tokio_util::sync::CancellationToken::new();
    let after = {
        let app = app.clone();
        tokio::task::spawn_blocking(move || app.last_audit_seq()).await??
    };
    let feed = tokio::spawn(app.clone().follow(after, watching.clone()));
    let poller = Poller::start(app.clone())?;
    let scanner = every
        .scan_every
        .map(|d| tokio::spawn(scan_periodically(app.clone(), d)));
    let flusher = tokio::spawn(flush_periodically(app.clone()));
    let result = mode.await;
    if let Some(n) = notifier {
        n.stop().await;
    }
    if let Some(p) = poller {
        p.stop().await;
    }
    if let Some(s) = scanner {
        s.abort();
    }
    flusher.abort();
    watching.cancel();
    feed.abort();
    let flushed = tokio::task::spawn_blocking(move || app.flush_counts()).await?;
    result?;
    Ok(flushed?)
}

/// The process's key for sealing in-client confirmations (MCP request state): random at each start.
fn state_seal() -> Result<Arc<mcp::StateSeal>> {
    let seal =
        mcp::StateSeal::random().map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    Ok(Arc::new(seal))
}

/// How often in-memory evaluation counts are written to the store.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// The runtime both servers use: two workers, as many as the machines flagwarden is sized for.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// Writes evaluation counts to the store every `FLUSH_EVERY`, forever; the caller flushes at exit.
async fn flush_periodically(app: Arc<App>) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.tick().await; // the first tick is immediate
    loop {
        tick.tick().await;
        let app = app.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || app.flush_counts()).await {
            tracing::warn!("flushing evaluation counts failed: {e}");
        }
    }
}

/// Scans the project for code references now and then every `every`, forever. Each scan runs on the
/// blocking pool, so tool handlers never wait for a walk; a failed scan is logged and the next one
/// tried at its time.
async fn scan_periodically(app: Arc<App>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await; // the first tick is immediate
        let app = app.clone();
        match tokio::task::spawn_blocking(move || app.scan_code_refs(None)).await {
            Ok(Ok(r)) => tracing::info!(
                "scanned {} files: {} references, {} appeared, {} disappeared",
                r.files,
                r.refs,
                r.appeared.len(),
                r.disappeared.len()
            ),
            Ok(Err(e)) => tracing::warn!("scanning for code references failed: {e}"),
            Err(e) => tracing::warn!("the code reference scan stopped: {e}"),
        }
    }
}

/// Serves MCP over stdio until the client disconnects. Nothing but JSON-RPC goes to stdout. `seal`
/// seals in-client confirmations' request state.
async fn serve_stdio(app: Arc<App>, seal: Arc<mcp::StateSeal>) -> Result<()> {
    use rmcp::ServiceExt;
    let service = mcp::Server::new(app, seal)
        .serve(rmcp::transport::stdio())
        .await?;
    service.waiting().await?;
    Ok(())
}
