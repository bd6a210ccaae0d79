//! The audit page: the trail, newest first, filtered by flag, actor, action and decision, and the
//! result of verifying the whole hash chain, naming the first broken event if any.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, Nav, Refresh};
use super::rollout::actor;
use super::{Ctx, Shared, render};
use crate::domain::audit::{AuditEvent, BrokenChain};

/// Events read before filtering.
const READ: u32 = 500;

#[derive(Deserialize, Default, Clone)]
pub struct Filters {
    #[serde(default)]
    flag: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    decision: String,
}

impl Filters {
    fn keeps(&self, e: &AuditEvent) -> bool {
        let has = |want: &str, got: &str| want.is_empty() || got.contains(want);
        has(self.actor.trim(), &actor(e))
            && has(self.action.trim(), &e.action)
            && (self.decision.is_empty() || e.decision == self.decision)
    }
}

struct Data {
    events: Vec<AuditEvent>,
    chain: Result<usize, BrokenChain>,
}

/// `GET /console/audit?flag=&actor=&action=&decision=`.
pub async fn page(
    State(c): State<Shared>,
    headers: HeaderMap,
    query: Result<Query<Filters>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let f = query.map(|Query(f)| f).unwrap_or_default();
    let keep = f.clone();
    render(
        &c,
        &headers,
        move |app| {
            let flag = keep.flag.trim();
            let events = app
                .audit_events((!flag.is_empty()).then_some(flag), None, READ)?
                .into_iter()
                .filter(|e| keep.keeps(e))
                .collect();
            Ok(Data {
                events,
                chain: app.verify_audit()?,
            })
        },
        move |ctx, d| view(ctx, &f, d),
    )
    .await
}

fn view(ctx: &Ctx, f: &Filters, d: Data) -> Markup {
    let decisions = ["", "allow", "deny", "needs_approval"];
    layout::page(
        &ctx.page("Audit", Nav::Audit, Refresh::KeepTyping),
        html! {
            h1 { "Audit trail" }
            @match &d.chain {
                Ok(n) => p.chain.ok role="status" { "Hash chain verified: " strong { (n) " events" } ", none altered." },
                Err(b) => p.chain.broken role="alert" {
                    strong { "Hash chain broken at event #" (b.seq) } ": " (b.why)
                    ". Events from there on cannot be trusted; compare with a backup."
                },
            }
            form.filters method="get" action="/console/audit" {
                div { label for="f-flag" { "Flag" } input id="f-flag" name="flag" type="text" value=(f.flag); }
                div { label for="f-actor" { "Actor" } input id="f-actor" name="actor" type="text" value=(f.actor) placeholder="human:alice"; }
                div { label for="f-action" { "Action" } input id="f-action" name="action" type="text" value=(f.action) placeholder="approve"; }
                div {
                    label for="f-decision" { "Decision" }
                    select id="f-decision" name="decision" {
                        @for d in decisions {
                            option value=(d) selected[f.decision == d] { @if d.is_empty() { "any" } @else { (d) } }
                        }
                    }
                }
                button type="submit" { "Filter" }
            }
            div.scroll tabindex="0" {
                table.audit {
                    caption { (d.events.len()) " events, newest first (of the latest " (READ) ")" }
                    thead { tr {
                        th scope="col" { "#" } th scope="col" { "When" } th scope="col" { "Actor" } th scope="col" { "Action" }
                        th scope="col" { "Flag" } th scope="col" { "Env" } th scope="col" { "Decision" } th scope="col" { "Channel" }
                        th scope="col" { "Reason or message" }
                    } }
                    tbody {
                        @for e in &d.events {
                            @let broken = matches!(&d.chain, Err(b) if b.seq == e.seq);
                            tr id=(format!("event-{}", e.seq)) class=[broken.then_some("broken")] data-action=(e.action) {
                                th scope="row" { (e.seq) }
                                td { time datetime=(e.ts) { (e.ts) } }
                                td { (actor(e)) }
                                td { (e.action) }
                                td { (e.flag.clone().unwrap_or_default()) }
                                td { (e.env.clone().unwrap_or_default()) }
                                td { (e.decision) @if let Some(r) = &e.rule { " (" code { (r) } ")" } }
                                td.channel { (channel(e)) }
                                td {
                                    @if let Some(r) = e.reason.as_ref().filter(|r| !r.is_empty()) { (r) }
                                    @else if let Some(m) = &e.message { (m) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// Where a person decided, as the event's arguments record it (`via`).
fn channel(e: &AuditEvent) -> String {
    serde_json::from_str::<serde_json::Value>(&e.args)
        .ok()
        .and_then(|v| v.get("via").and_then(|v| v.as_str()).map(str::to_owned))
        .unwrap_or_default()
}
