//! The HTTP edge (`flagwarden serve`): MCP streamable HTTP for agents, OFREP for applications, signal
//! ingest, the OTLP/HTTP receiver, flagd's HTTP sync (`flagd.rs`), the change stream, approvals for
//! human tokens, health and metrics,
//! and it mounts the `/console` pages (`crate::console`, an edge of its own). Every request passes one
//! guard first (Host, Origin, bearer token and role), which also records the request's metrics. The
//! handlers are thin: they parse, call one `App` method, and shape the answer. MCP sessions of the
//! 2025 era keep their SSE events in `events.rs`, so a dropped stream resumes from `Last-Event-ID`.

mod api;
pub mod auth;
mod events;
mod flagd;
mod metrics;
mod ofrep;
mod otlp;
mod stream;

pub use api::parse_signal_batch;
pub use ofrep::parse_ofrep_body;
pub use otlp::{Decoded, OtlpError, Signal, parse_otlp_body};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::app::Caller;
use crate::app::Tokens;
use crate::app::{App, AppError};
use auth::HostRules;
use metrics::{Metrics, Route};

/// What `flagwarden serve` needs beyond the `App`.
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub tokens: Tokens,
    pub allowed_hosts: Vec<String>,
    /// The environment OFREP and ingest use when neither the token nor a header names one.
    pub default_environment: String,
    /// Where clients reach this server, for the OFREP event-stream URL; defaults to the bound address.
    pub public_url: Option<String>,
    /// Webhook delivery counts, shown on /metrics.
    pub deliveries: Arc<crate::notify::Deliveries>,
    /// What the controller did, shown on /metrics.
    pub controller: Arc<crate::controller::Stats>,
    /// Seals the request state of in-client confirmations; every MCP session shares it.
    pub seal: Arc<crate::mcp::StateSeal>,
    /// gRPC services served on the same port over HTTP/2, by route path, behind the same guard:
    /// the flagd sync source (`launch.rs` builds it, so this edge imports no other).
    pub grpc: Vec<(&'static str, Router)>,
    /// Cancelled on SIGINT or SIGTERM; long-lived streams (SSE, gRPC) end on it.
    pub shutdown: CancellationToken,
}

/// Request body limits: OFREP contexts are small, signal batches larger, MCP calls in between.
const OFREP_BODY_LIMIT: usize = 64 * 1024;
const API_BODY_LIMIT: usize = 2 * 1024 * 1024;
const MCP_BODY_LIMIT: usize = 1024 * 1024;

/// The header that picks the environment when the token does not.
pub const ENV_HEADER: &str = "x-flagwarden-environment";

#[derive(Clone)]
struct Shared {
    app: Arc<App>,
    tokens: Arc<Tokens>,
    hosts: Arc<HostRules>,
    default_env: Arc<str>,
    /// Absolute stream URL when `--public-url` says where clients reach this server; otherwise OFREP
    /// clients are given the path, resolved against the URL they already use.
    public_stream_url: Option<Arc<str>>,
    seal: Arc<crate::mcp::StateSeal>,
    changes: broadcast::Sender<Arc<stream::Item>>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    /// Random per process: bulk ETags from an earlier run never match.
    nonce: [u8; 16],
    /// OTLP exports processed at once (load shedding).
    otlp_slots: Arc<tokio::sync::Semaphore>,
}

/// An error in the shape every non-OFREP endpoint uses: `{"error": {"code", "message", "field"?}}`.
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    field: Option<String>,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            field: None,
            message: message.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.into()),
            ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        let message = e.to_string();
        match e {
            AppError::Invalid { field, message } => ApiError::invalid(field, message),
            AppError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
            AppError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            AppError::Denied { .. } => ApiError::new(StatusCode::FORBIDDEN, "denied", message),
            AppError::Store(_) => {
                tracing::error!("request failed: {message}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the request failed and changed nothing; retry, and report it if it persists",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"code": self.code, "message": self.message});
        if let Some(f) = self.field {
            body["field"] = f.into();
        }
        let mut res = (self.status, axum::Json(json!({ "error": body }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// Runs a blocking `App` call off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crate::app::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => {
            tracing::error!("request task failed: {e}");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the request failed and changed nothing; retry, and report it if it persists",
            ))
        }
    }
}

/// Parses a JSON body, naming the path of the first bad field (`signals[2].arm`).
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." { "body".to_owned() } else { path };
        ApiError::invalid(field, format!("{inner}"))
    })
}

/// Which environment a request is about: the header, else the token's, else the server default.
/// A token bound to an environment cannot be pointed at another one.
fn environment(s: &Shared, who: &Caller, headers: &HeaderMap) -> Result<String, ApiError> {
    let named = match headers.get(ENV_HEADER) {
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::invalid(ENV_HEADER, "the environment name must be plain ASCII")
        })?),
        None => None,
    };
    let env = match (named, who.environment.as_deref()) {
        (Some(n), Some(bound)) if n != bound => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "token {:?} is bound to environment {bound:?}, not {n:?}",
                    who.name
                ),
            ));
        }
        (Some(n), _) => n,
        (None, Some(bound)) => bound,
        (None, None) => &s.default_env,
    };
    crate::app::check_env(&s.app.policy().policy, env).map_err(|e| match e {
        AppError::Invalid { message, .. } => ApiError::invalid(
            ENV_HEADER,
            format!("{message}; pick one with the {ENV_HEADER} header"),
        ),
        other => other.into(),
    })?;
    Ok(env.to_owned())
}

/// Host and Origin checks, the bearer token and its role, then the handler; records metrics.
async fn guard(State(s): State<Shared>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = Route::of(req.uri().path());
    let res = match admit(&s, route, &req) {
        Ok(who) => {
            req.extensions_mut().insert(who);
            next.run(req).await
        }
        // OTLP clients read a `google.rpc.Status`, encoded like their request.
        Err(e) if route == Route::otlp => {
            otlp::error_response(otlp::answer_encoding(req.headers()), e.status, e.message)
        }
        // gRPC clients read the status from trailers-only headers, not from a JSON body.
        Err(e) if route == Route::flagd_sync => grpc_refusal(e),
        Err(e) => e.into_response(),
    };
    s.metrics
        .observe(route, res.status().as_u16(), started.elapsed());
    res
}

/// A refusal as gRPC says it: HTTP 200 with `grpc-status` and `grpc-message`, so a client reports
/// UNAUTHENTICATED or PERMISSION_DENIED with the guard's message instead of a protocol error.
fn grpc_refusal(e: ApiError) -> Response {
    let status = match e.status {
        StatusCode::UNAUTHORIZED => tonic::Status::unauthenticated(e.message),
        StatusCode::FORBIDDEN => tonic::Status::permission_denied(e.message),
        _ => tonic::Status::invalid_argument(e.message),
    };
    status.into_http::<axum::body::Body>()
}

fn admit(s: &Shared, route: Route, req: &Request) -> Result<Caller, ApiError> {
    let headers = req.headers();
    let text = |h| headers.get(h).and_then(|v: &HeaderValue| v.to_str().ok());
    let forbidden = |m: String| ApiError::new(StatusCode::FORBIDDEN, "forbidden", m);
    // HTTP/2 (gRPC) names the host in the `:authority` pseudo-header, which is the URI's authority.
    let host = text(header::HOST).or_else(|| req.uri().authority().map(|a| a.as_str()));
    s.hosts.check_host(host).map_err(forbidden)?;
    s.hosts
        .check_origin(text(header::ORIGIN))
        .map_err(forbidden)?;
    let roles = route.roles();
    if roles.is_empty() {
        return Ok(Caller::anonymous()); // /healthz
    }
    let who = if s.tokens.is_empty() {
        Caller::anonymous()
    } else {
        // `Authorization: Bearer <token>` (scheme case-insensitive), or OFREP's `X-API-Key: <token>`.
        let bearer = text(header::AUTHORIZATION).and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        });
        let secret = bearer
            .or_else(|| text(HeaderName::from_static("x-api-key")))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "send Authorization: Bearer <token>; `flagwarden token new` makes one",
                )
            })?;
        s.tokens.lookup(secret.trim()).cloned().ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "unknown token")
        })?
    };
    if !who.may(roles) {
        let needs = roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(" or ");
        let has = who.role.map_or("no token", |r| r.as_str());
        return Err(forbidden(format!(
            "{} needs a {needs} token; this caller has {has}",
            route.path()
        )));
    }
    Ok(who)
}

fn router(s: Shared, grpc: Vec<(&'static str, Router)>) -> Router {
    let hosts: Vec<String> = s.hosts.hosts().to_vec();
    let mcp = {
        let (app, seal) = (s.app.clone(), s.seal.clone());
        StreamableHttpService::new(
            move || Ok(crate::mcp::Server::new(app.clone(), seal.clone())),
            // 2025-era sessions resume a dropped SSE stream from Last-Event-ID (events.rs).
            Arc::new(
                LocalSessionManager::default()
                    .with_event_store(Arc::new(events::EventLog::default())),
            ),
            StreamableHttpServerConfig::default()
                .with_allowed_hosts(hosts)
                .with_max_request_body_bytes(MCP_BODY_LIMIT)
                .with_cancellation_token(s.shutdown.child_token()),
        )
    };
    let ofrep = Router::new()
        .route("/ofrep/v1/evaluate/flags/{key}", post(ofrep::evaluate_one))
        .route("/ofrep/v1/evaluate/flags", post(ofrep::evaluate_all))
        .layer(DefaultBodyLimit::max(OFREP_BODY_LIMIT));
    let api = Router::new()
        .route("/api/v1/signals", post(api::ingest))
        .route("/api/v1/approvals", get(api::approvals))
        .route("/api/v1/approvals/{id}/{decision}", post(api::decide))
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT));
    let otlp = Router::new()
        .route("/v1/traces", post(otlp::traces))
        .route("/v1/logs", post(otlp::logs))
        .route("/v1/metrics", post(otlp::metrics))
        .layer(DefaultBodyLimit::max(otlp::OTLP_BODY_LIMIT));
    let grpc = grpc.into_iter().fold(Router::new(), |r, (path, service)| {
        r.route_service(path, service)
    });
    // The console is its own edge with its own sessions; the guard below still checks its Host.
    let console = Arc::new(crate::console::Console::new(
        s.app.clone(),
        s.tokens.clone(),
    ));
    Router::new()
        .merge(ofrep)
        .merge(api)
        .merge(otlp)
        .merge(grpc)
        .merge(crate::console::router(console))
        .route("/api/v1/stream", get(stream::subscribe))
        .route("/flagd/v1/{env}", get(flagd::definition))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::scrape))
        .nest_service("/mcp", mcp)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method; see the README",
            )
        })
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint; see the README for /mcp, /ofrep/v1, /flagd/v1, /api/v1, /console, /healthz and /metrics",
            )
        })
        .layer(middleware::from_fn_with_state(s.clone(), guard))
        .with_state(s)
}

async fn healthz(State(s): State<Shared>) -> Response {
    axum::Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "flags": s.app.snapshot().len(),
        "policy_sha256": s.app.policy().sha256,
    }))
    .into_response()
}

/// Serves until SIGINT or SIGTERM. The first line on stdout names the address, for scripts and tests.
pub async fn serve(app: Arc<App>, cfg: ServeConfig) -> anyhow::Result<()> {
    if cfg.tokens.is_empty() && !cfg.listen.ip().is_loopback() {
        anyhow::bail!(
            "refusing to serve on {} without tokens: anyone on the network could change flags. \
             Bind 127.0.0.1 (the default), or configure tokens (FLAGWARDEN_TOKENS or --tokens; \
             `flagwarden token new` makes one)",
            cfg.listen
        );
    }
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.listen))?;
    let local = listener.local_addr()?;
    let shutdown = cfg.shutdown.clone();
    let (changes, _) = broadcast::channel(1024);
    let shared = Shared {
        app: app.clone(),
        tokens: Arc::new(cfg.tokens),
        hosts: Arc::new(HostRules::new(&cfg.allowed_hosts)),
        default_env: cfg.default_environment.into(),
        public_stream_url: cfg
            .public_url
            .as_deref()
            .map(|base| format!("{}/api/v1/stream", base.trim_end_matches('/')).into()),
        seal: cfg.seal,
        changes: changes.clone(),
        metrics: Arc::new(Metrics::new(
            app.clone(),
            cfg.deliveries.clone(),
            cfg.controller.clone(),
        )),
        shutdown: shutdown.clone(),
        nonce: {
            let mut n = [0u8; 16];
            getrandom::fill(&mut n).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
            n
        },
        otlp_slots: Arc::new(tokio::sync::Semaphore::new(otlp::OTLP_IN_FLIGHT)),
    };
    let newest = {
        let app = app.clone();
        tokio::task::spawn_blocking(move || app.last_audit_seq()).await??
    };
    let feed = tokio::spawn(stream::feed(app.clone(), changes, shutdown.clone(), newest));
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "flagwarden serving http://{local}")?;
        out.flush()?;
    }
    tracing::info!(
        "serving on http://{local} ({} tokens; {})",
        shared.tokens.len(),
        if shared.tokens.is_empty() {
            "loopback only, no tokens required"
        } else {
            "bearer tokens required"
        }
    );
    let stop = shutdown.clone();
    axum::serve(listener, router(shared, cfg.grpc))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            stop.cancel();
        })
        .await?;
    feed.abort();
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: flushing evaluation counts");
}
