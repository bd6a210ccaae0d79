//! The flagd sync source: flagwarden as the writer and any flagd engine (the daemon with
//! `--uri grpc://…`, in-process providers in every language) as the fleet. It serves gRPC
//! `flagd.sync.v1.FlagSyncService` on `flagwarden serve`'s own port (HTTP/2 beside HTTP/1.1), behind
//! the HTTP edge's one guard, so tokens, Host checks and metrics are those of every other endpoint.
//! `proto.rs` holds the generated messages and server trait; `hub.rs` the newest definition of each
//! environment anyone syncs, fed by the app's watch feed; `service.rs` the three RPCs and how a request
//! names its environment. The definitions themselves come from `App::flagd_definition`.

mod hub;
pub mod proto;
mod service;

pub use hub::Hub;
pub use service::{FlagSync, SELECTOR_HEADER};

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::app::App;

/// The path every `flagd.sync.v1.FlagSyncService` call is routed by.
pub const PATH: &str = "/flagd.sync.v1.FlagSyncService/{*method}";

/// The gRPC service as an axum router for `flagwarden serve` to mount at `PATH`, and the hub's
/// publisher task, which runs until `stop` (streams end then too, so a graceful shutdown finishes).
pub fn start(
    app: Arc<App>,
    default_env: &str,
    stop: CancellationToken,
) -> (axum::Router, tokio::task::JoinHandle<()>) {
    let hub = Arc::new(Hub::new(app.clone()));
    let publisher = tokio::spawn(hub.clone().publish(stop.clone()));
    let service = FlagSync::new(app, hub, default_env.into(), stop);
    let server = proto::flag_sync_service_server::FlagSyncServiceServer::new(service);
    (axum::Router::new().route_service(PATH, server), publisher)
}
