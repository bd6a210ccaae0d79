//! The console: `/console` on `flagwarden serve`, HTML pages for the people who confirm what agents
//! propose. Server-rendered (maud templates compiled into the binary, the stylesheet embedded), with
//! no script needed: `live.js` only reloads a page when the audit trail moved and nobody is typing.
//! Every response carries a strict Content-Security-Policy (no inline script or style).
//!
//! Which file holds what: `session.rs` login, sessions and the POST checks; `layout.rs` the page
//! shell; `chart.rs` the SVG evidence chart; `evidence.rs` stored gate evaluations as charts and
//! tables; one file per page: `approvals.rs`, `rollout.rs` (and the rollouts index), `flags.rs`,
//! `audit.rs`, `policy.rs`, `login.rs`. Like `http/`, it is an edge: it reads and decides only
//! through `App`. The HTTP guard in front of it has already checked Host (and a present Origin)
//! against the allowed hosts; the console asks no bearer token, it has its own sessions.

mod approvals;
mod audit;
pub mod chart;
mod evidence;
mod flags;
mod layout;
mod login;
mod policy;
mod rollout;
pub mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::Markup;

use crate::app::{App, AppError, Tokens};
use layout::{Page, Viewer};
use session::Sessions;

/// What every console page's response carries. No inline script or style, nothing from another
/// origin, no framing, forms only to this origin.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = include_str!("style.css");
const LIVE_JS: &str = include_str!("live.js");

/// The console's state: the `App`, the configured tokens (to log people in) and the sessions.
pub struct Console {
    app: Arc<App>,
    tokens: Arc<Tokens>,
    sessions: Sessions,
}

impl Console {
    pub fn new(app: Arc<App>, tokens: Arc<Tokens>) -> Console {
        Console {
            app,
            tokens,
            sessions: Sessions::default(),
        }
    }

    /// Who is looking: without tokens (loopback only, `serve` refuses anything else) anyone, read
    /// only; with tokens, only a logged-in person.
    fn viewer(&self, headers: &HeaderMap) -> Option<Viewer> {
        if self.tokens.is_empty() {
            return Some(Viewer::ReadOnly);
        }
        self.sessions
            .person(&self.tokens, headers)
            .map(Viewer::Person)
    }
}

type Shared = Arc<Console>;

/// The `/console` routes, for the serve router to merge.
pub fn router<S: Clone + Send + Sync + 'static>(console: Arc<Console>) -> Router<S> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::to("/console/approvals") }),
        )
        .route(
            "/console/",
            get(|| async { Redirect::to("/console/approvals") }),
        )
        .route("/console/login", get(login::form).post(login::submit))
        .route("/console/logout", post(login::logout))
        .route("/console/approvals", get(approvals::page))
        .route("/console/approvals/{id}/decide", post(approvals::decide))
        .route("/console/rollouts", get(rollout::index))
        .route("/console/rollouts/{id}", get(rollout::page))
        .route("/console/flags", get(flags::page))
        .route("/console/audit", get(audit::page))
        .route("/console/policy", get(policy::page))
        .route("/console/live", get(live))
        .route(
            "/console/style.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }),
        )
        .route(
            "/console/live.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    LIVE_JS,
                )
            }),
        )
        .layer(middleware::from_fn(headers))
        .with_state(console)
}

/// The security headers of every console response, error pages included.
async fn headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, "content-security-policy", CSP);
    set(h, "x-content-type-options", "nosniff");
    set(h, "cache-control", "no-store");
    // Not `no-referrer`: under it Chromium sends `Origin: null` with the console's own form POSTs,
    // which the origin check must refuse. `same-origin` still sends nothing to other sites.
    set(h, "referrer-policy", "same-origin");
    set(h, "x-frame-options", "DENY");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(h, "cross-origin-resource-policy", "same-origin");
    res
}

/// `GET /console/live`: the newest audit sequence, which `live.js` compares with the page's.
async fn live(State(c): State<Shared>, headers: HeaderMap) -> Response {
    if c.viewer(&headers).is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let app = c.app.clone();
    match tokio::task::spawn_blocking(move || app.last_audit_seq()).await {
        Ok(Ok(seq)) => ([(header::CONTENT_TYPE, "text/plain")], seq.to_string()).into_response(),
        _ => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// What every page is rendered with besides its own data.
pub struct Ctx {
    pub viewer: Viewer,
    pub rendered_at: String,
    pub seq: i64,
}

impl Ctx {
    fn page<'a>(&'a self, title: &'a str, nav: layout::Nav, refresh: layout::Refresh) -> Page<'a> {
        Page {
            title,
            nav,
            viewer: Some(&self.viewer),
            rendered_at: &self.rendered_at,
            seq: self.seq,
            refresh,
        }
    }
}

fn now_text(app: &App) -> String {
    format!("{:.0}", app.now())
}

/// Loads a page's data off the async workers (`App` is synchronous), then renders it; a visitor
/// without a session is sent to the login page.
async fn render<T: Send + 'static>(
    c: &Shared,
    headers: &HeaderMap,
    load: impl FnOnce(&App) -> crate::app::Result<T> + Send + 'static,
    view: impl FnOnce(&Ctx, T) -> Markup,
) -> Response {
    let Some(viewer) = c.viewer(headers) else {
        return Redirect::to("/console/login").into_response();
    };
    let app = c.app.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let seq = app.last_audit_seq()?;
        let data = load(&app)?;
        Ok::<_, AppError>((seq, now_text(&app), data))
    })
    .await;
    match loaded {
        Ok(Ok((seq, rendered_at, data))) => {
            let ctx = Ctx {
                viewer,
                rendered_at,
                seq,
            };
            Html(view(&ctx, data).into_string()).into_response()
        }
        Ok(Err(e)) => failure(c, e, "/console/approvals"),
        Err(e) => {
            tracing::error!("console page task failed: {e}");
            refusal(
                c,
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page failed",
                "the page could not be read; reload it, and report it if it persists",
                "/console/approvals",
            )
        }
    }
}

/// A refusal or failure as a page with its status.
fn refusal(c: &Console, status: StatusCode, title: &str, message: &str, back: &str) -> Response {
    let at = now_text(&c.app);
    (
        status,
        Html(layout::problem(title, message, back, &at).into_string()),
    )
        .into_response()
}

/// An `App` error as a page: the status and the message the app wrote for people.
fn failure(c: &Console, e: AppError, back: &str) -> Response {
    let (status, title) = match &e {
        AppError::Invalid { .. } => (StatusCode::BAD_REQUEST, "Not accepted"),
        AppError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
        AppError::Conflict(_) => (StatusCode::CONFLICT, "Not possible now"),
        AppError::Denied { .. } => (StatusCode::FORBIDDEN, "Refused by the policy"),
        AppError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "The request failed"),
    };
    let message = match &e {
        AppError::Store(_) => {
            tracing::error!("console request failed: {e}");
            "the request failed and changed nothing; retry, and report it if it persists".to_owned()
        }
        AppError::Invalid { field, message } => format!("{field}: {message}"),
        other => other.to_string(),
    };
    refusal(c, status, title, &message, back)
}
