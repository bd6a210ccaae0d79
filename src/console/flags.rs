//! The flags page: per environment who gets what, the rollouts in progress, and the stale flags with
//! the evidence for each reason, the recommended action and their code references.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{Markup, html};

use super::layout::{self, Nav, Refresh};
use super::{Ctx, Shared, render};
use crate::app::types::{FlagSummary, ListFlags, ListStale, StaleFlag};

struct Data {
    flags: Vec<FlagSummary>,
    stale: Vec<StaleFlag>,
    /// Unfinished rollouts: (id, flag, environment, state).
    rollouts: Vec<(i64, String, String, String)>,
}

/// `GET /console/flags`.
pub async fn page(State(c): State<Shared>, headers: HeaderMap) -> Response {
    render(
        &c,
        &headers,
        |app| {
            let flags = app.list_flags(&ListFlags::default())?.flags;
            let stale = app.list_stale_flags(&ListStale::default())?.flags;
            let rollouts = app
                .listed_rollouts(0)?
                .into_iter()
                .filter(|(_, _, _, s)| {
                    crate::domain::rollout::RolloutState::parse(s).is_some_and(|s| !s.is_terminal())
                })
                .collect();
            Ok(Data {
                flags,
                stale,
                rollouts,
            })
        },
        view,
    )
    .await
}

fn code(r: &impl serde::Serialize) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn view(ctx: &Ctx, d: Data) -> Markup {
    layout::page(
        &ctx.page("Flags", Nav::Flags, Refresh::Always),
        html! {
            h1 { "Flags (" (d.flags.len()) ")" }
            section aria-labelledby="rollouts-h" {
                h2 id="rollouts-h" { "Rollouts in progress (" (d.rollouts.len()) ")" }
                @if d.rollouts.is_empty() {
                    p { "None." }
                } @else {
                    ul {
                        @for (id, flag, env, state) in &d.rollouts {
                            li { a href=(format!("/console/rollouts/{id}")) { "#" (id) " " (flag) " in " (env) } " · " (state) }
                        }
                    }
                }
            }
            section aria-labelledby="stale-h" {
                h2 id="stale-h" { "Stale flags (" (d.stale.len()) ")" }
                @if d.stale.is_empty() {
                    p { "No flag is debt yet." }
                }
                @for s in &d.stale {
                    article.stale id=(format!("stale-{}", s.key)) {
                        h3 { (s.key) }
                        ul {
                            @for r in &s.reasons {
                                li { code { (code(&r.code)) } ": " (r.evidence) }
                            }
                        }
                        p { strong { "Recommended: " } (s.recommended_action) }
                        @if s.code_refs.is_empty() {
                            p { "No code references found." }
                        } @else {
                            p { "Code references:" }
                            ul.refs {
                                @for r in &s.code_refs {
                                    li {
                                        code { (r.file) @if let Some(l) = r.line { ":" (l) } }
                                        @if !r.snippet.is_empty() { " " code { (r.snippet) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="all-h" {
                h2 id="all-h" { "Who gets what" }
                div.scroll tabindex="0" {
                    table.flags {
                        caption { "Every flag, and what each environment serves" }
                        thead { tr {
                            th scope="col" { "Flag" } th scope="col" { "Description" } th scope="col" { "Kind" }
                            th scope="col" { "Status" } th scope="col" { "Serving" }
                        } }
                        tbody {
                            @for f in &d.flags {
                                tr {
                                    th scope="row" { (f.key) }
                                    td { (f.description) }
                                    td { (code(&f.change_type)) }
                                    td { (code(&f.status)) }
                                    td {
                                        @for (env, what) in &f.serving {
                                            div { strong { (env) } ": " (what.as_str().unwrap_or_default()) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
