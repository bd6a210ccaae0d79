//! flagwarden: release control for coding agents. See ARCHITECTURE.md for the map.

pub mod app;
pub mod cli;
pub mod codegen;
pub mod domain;
pub mod http;
pub mod mcp;
pub mod notify;
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
