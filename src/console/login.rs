//! Logging in and out. The token goes in a POSTed form, never a URL (URLs leak through history, logs
//! and Referer); only a human token opens a session. A server without tokens has nothing to log in
//! to: the page says the console is read only and how to enable decisions.

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::layout::{self, Nav, Page, Refresh};
use super::{Shared, now_text, refusal, session};

fn login_page(c: &Shared, error: Option<&str>) -> String {
    let at = now_text(&c.app);
    let read_only = c.tokens.is_empty();
    layout::page(
        &Page {
            title: "Log in",
            nav: Nav::Login,
            viewer: None,
            rendered_at: &at,
            seq: 0,
            refresh: Refresh::Never,
        },
        html! {
            h1 { "Log in to decide" }
            @if read_only {
                p.notice role="note" {
                    strong { "Read only." } " This server runs without tokens, so there is no one to log in as and "
                    "nobody can decide here. To enable decisions, " (layout::how_to_enable()) ". "
                    a href="/console/approvals" { "Look at the approvals" }
                }
            } @else {
                @if let Some(e) = error {
                    p.error role="alert" id="login-error" { (e) }
                }
                form.login method="post" action="/console/login" {
                    label for="token" { "Human token" }
                    input id="token" name="token" type="password" required autocomplete="off" spellcheck="false"
                        aria-describedby=[error.map(|_| "login-error")];
                    p.hint { "The secret `flagwarden token new --role human` printed. Agent, sdk and ingest tokens cannot log in." }
                    button type="submit" { "Log in" }
                }
            }
        },
    )
    .into_string()
}

/// `GET /console/login`.
pub async fn form(State(c): State<Shared>, headers: HeaderMap) -> Response {
    if c.sessions.person(&c.tokens, &headers).is_some() {
        return Redirect::to("/console/approvals").into_response();
    }
    Html(login_page(&c, None)).into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

/// `POST /console/login`: a human token opens a session (a fresh random id, so nobody can fix one
/// in advance), anything else is refused and opens nothing.
pub async fn submit(
    State(c): State<Shared>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    if let Err(why) = session::same_origin(&headers) {
        return refusal(&c, StatusCode::FORBIDDEN, "Refused", &why, "/console/login");
    }
    let Ok(Form(f)) = form else {
        let page = login_page(&c, Some("token: paste your human token"));
        return (StatusCode::BAD_REQUEST, Html(page)).into_response();
    };
    match c.sessions.open(&c.tokens, &f.token) {
        Ok(id) => {
            let mut res = Redirect::to("/console/approvals").into_response();
            if let Ok(v) = HeaderValue::from_str(&session::set_cookie(&id)) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        Err(why) => {
            let status = if why.starts_with("unknown") {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::FORBIDDEN
            };
            (status, Html(login_page(&c, Some(&why)))).into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/logout`: ends the session and asks the browser to drop its cookies.
pub async fn logout(
    State(c): State<Shared>,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Response {
    if let Err(why) = session::same_origin(&headers) {
        return refusal(
            &c,
            StatusCode::FORBIDDEN,
            "Refused",
            &why,
            "/console/approvals",
        );
    }
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    match c.sessions.person(&c.tokens, &headers) {
        Some(p) if session::csrf_matches(&p, &csrf) => c.sessions.close(&headers),
        Some(_) => {
            return refusal(
                &c,
                StatusCode::FORBIDDEN,
                "Refused",
                "refused: the form's csrf token is not this session's; reload the page and try again",
                "/console/approvals",
            );
        }
        None => {}
    }
    let mut res = Redirect::to("/console/login").into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie()) {
        h.insert(header::SET_COOKIE, v);
    }
    h.insert("clear-site-data", HeaderValue::from_static("\"cookies\""));
    res
}
