//! The policy page, read only: what agents may do in each environment in words, and which file,
//! version and hash the server runs under. No page edits the policy.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;

use super::layout::{self, Nav, Refresh};
use super::{Shared, render};
use crate::app::types::PolicyQuery;

/// `GET /console/policy`.
pub async fn page(State(c): State<Shared>, headers: HeaderMap) -> Response {
    render(
        &c,
        &headers,
        |app| app.get_policy(&PolicyQuery::default()),
        |ctx, p| {
            layout::page(
                &ctx.page("Policy", Nav::Policy, Refresh::Never),
                html! {
                    h1 { "Policy" }
                    dl.summary {
                        dt { "File" } dd { code { (p.path) } }
                        dt { "Version" } dd { (p.version) }
                        dt { "SHA-256" } dd { code.hash { (p.sha256) } }
                    }
                    p { "Read only: people edit the file and restart the server; no tool and no page changes it." }
                    @for (env, lines) in &p.plain {
                        section.env aria-labelledby=(format!("env-{env}")) {
                            h2 id=(format!("env-{env}")) { (env) }
                            ul {
                                @for l in lines.as_array().into_iter().flatten() {
                                    li { (l.as_str().unwrap_or_default()) }
                                }
                            }
                        }
                    }
                },
            )
        },
    )
    .await
}
