//! flagwarden: release control for coding agents. See ARCHITECTURE.md for the map.

pub mod app;
pub mod cli;
pub mod codegen;
pub mod domain;
pub mod http;
pub mod mcp;
pub mod notify;
pub mod scan;
pub mod store;

use std::sync::Arc;

/// How often in-memory evaluation counts are written to the store.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// The runtime both servers use: two workers, as many as the machines flagwarden is sized for.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// Writes evaluation counts to the store every `FLUSH_EVERY`, forever; the caller flushes at exit.
pub async fn flush_periodically(app: Arc<app::App>) {
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
pub async fn scan_periodically(app: Arc<app::App>, every: std::time::Duration) {
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

/// Serves MCP over stdio until the client disconnects, flushing evaluation counts periodically and at
/// the end. Nothing but JSON-RPC goes to stdout. `seal` seals in-client confirmations' request state.
pub async fn serve_stdio(app: Arc<app::App>, seal: Arc<mcp::StateSeal>) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let flusher = tokio::spawn(flush_periodically(app.clone()));
    let service = mcp::Server::new(app.clone(), seal)
        .serve(rmcp::transport::stdio())
        .await?;
    service.waiting().await?;
    flusher.abort();
    tokio::task::spawn_blocking(move || app.flush_counts()).await??;
    Ok(())
}
