//! flagwarden: release control for coding agents. See ARCHITECTURE.md for the map.

pub mod app;
pub mod cli;
pub mod codegen;
pub mod domain;
pub mod mcp;
pub mod store;

use std::sync::Arc;

/// Serves MCP over stdio until the client disconnects, flushing evaluation counts periodically and at
/// the end. Nothing but JSON-RPC goes to stdout.
pub fn serve_stdio(app: Arc<app::App>) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let flusher = {
            let app = app.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
                loop {
                    tick.tick().await;
                    let app = app.clone();
                    if let Ok(Err(e)) =
                        tokio::task::spawn_blocking(move || app.flush_counts()).await
                    {
                        tracing::warn!("flushing evaluation counts failed: {e}");
                    }
                }
            })
        };
        let service = mcp::Server::new(app.clone())
            .serve(rmcp::transport::stdio())
            .await?;
        service.waiting().await?;
        flusher.abort();
        anyhow::Ok(())
    })?;
    app.flush_counts()?;
    Ok(())
}
