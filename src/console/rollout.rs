//! The rollouts index (one line per rollout) and one rollout's page: its state, step and exposure
//! over time; per metric the chart of every stored look with its table; the sample-ratio check and
//! breakers; and the timeline of audit events that moved it.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};

use super::evidence::{self, MAX_LOOKS, Stored};
use super::layout::{self, Nav, Refresh};
use super::{Ctx, Shared, refusal, render};
use crate::app::RolloutHistory;
use crate::domain::audit::AuditEvent;

/// Rollouts the index lists besides the unfinished ones.
const RECENT: u32 = 50;

/// `GET /console/rollouts`.
pub async fn index(State(c): State<Shared>, headers: HeaderMap) -> Response {
    render(
        &c,
        &headers,
        |app| Ok(app.watchable(RECENT)?.rollouts),
        |ctx, rollouts| {
            layout::page(
                &ctx.page("Rollouts", Nav::Rollouts, Refresh::Always),
                html! {
                    h1 { "Rollouts" }
                    @if rollouts.is_empty() {
                        p { "No rollouts yet." }
                    } @else {
                        div.scroll tabindex="0" {
                            table {
                                caption { "Unfinished rollouts and the latest finished ones" }
                                thead { tr { th scope="col" { "Rollout" } th scope="col" { "Flag" } th scope="col" { "Environment" } th scope="col" { "State" } } }
                                tbody {
                                    @for (id, flag, env, state) in &rollouts {
                                        tr {
                                            th scope="row" { a href=(format!("/console/rollouts/{id}")) { "#" (id) } }
                                            td { (flag) } td { (env) } td { (state) }
                                        }
                                    }
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

struct Data {
    id: i64,
    history: RolloutHistory,
    evals: Vec<Stored>,
    timeline: Vec<AuditEvent>,
    /// The flag's variants, name -> value, to show what the candidate and last-known-good serve.
    variants: serde_json::Map<String, serde_json::Value>,
}

/// `GET /console/rollouts/{id}`.
pub async fn page(State(c): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return refusal(
            &c,
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("{id:?} is not a rollout id (a number)"),
            "/console/rollouts",
        );
    };
    render(
        &c,
        &headers,
        move |app| {
            let Some(history) = app.rollout_history(id)? else {
                return Err(crate::app::AppError::NotFound(format!(
                    "rollout {id} does not exist; the rollouts page lists them"
                )));
            };
            let evals = evidence::stored(app.gate_looks(id, MAX_LOOKS)?);
            let mut timeline: Vec<AuditEvent> = app
                .audit_events(Some(&history.flag), Some(&history.env), 500)?
                .into_iter()
                .filter(|e| e.rollout_id == Some(id))
                .collect();
            timeline.sort_by_key(|e| e.seq);
            let variants = app.get_flag(&history.flag)?.variants;
            Ok(Data {
                id,
                history,
                evals,
                timeline,
                variants,
            })
        },
        view,
    )
    .await
}

fn view(ctx: &Ctx, d: Data) -> Markup {
    let h = &d.history;
    let v = &h.view;
    let title = format!("Rollout #{} of {} in {}", d.id, h.flag, h.env);
    layout::page(
        &ctx.page(&title, Nav::Rollouts, Refresh::Always),
        html! {
            h1 { (title) }
            dl.summary {
                dt { "State" } dd { strong.state id="rollout-state" { (v.state.as_str()) } }
                dt { "Candidate" } dd { code { (v.candidate) } " = " code.value { (value(&d, &v.candidate)) } }
                dt { "Last-known-good" } dd { code { (v.lkg) } " = " code.value { (value(&d, &v.lkg)) } }
                dt { "Exposure now" } dd { (v.percent) "% of " (h.env) }
                dt { "Steps" } dd { (v.steps.iter().map(|s| format!("{s}%")).collect::<Vec<_>>().join(" → ")) }
                @if let Some(p) = v.pending_percent { dt { "Waiting to go to" } dd { (p) "%" } }
                @if let Some(why) = &v.paused_reason { dt { "Paused because" } dd { (why) } }
                dt { "Started" } dd { time datetime=(h.created_at) { (h.created_at) } }
            }
            h2 { "Exposure over time" }
            div.scroll tabindex="0" {
                table.steps {
                    caption { "The canary's share of " (h.env) " from each change on" }
                    thead { tr { th scope="col" { "From" } th scope="col" { "Canary share" } } }
                    tbody {
                        @for (at, pct) in &h.steps {
                            tr { th scope="row" { time datetime=(at) { (at) } } td.num { (pct) "%" } }
                        }
                    }
                }
            }
            h2 { "Evidence" }
            (evidence::verdict(&d.evals))
            (evidence::checks(&d.evals))
            (evidence::metrics(&format!("rollout-{}", d.id), &d.evals, true))
            h2 { "Timeline" }
            @if d.timeline.is_empty() {
                p { "No audit events name this rollout." }
            } @else {
                ol.timeline {
                    @for e in &d.timeline {
                        li data-seq=(e.seq) {
                            time datetime=(e.ts) { (e.ts) } " · "
                            strong { (e.action) } " by " (actor(e)) " · " (e.decision)
                            @if let Some(m) = &e.message { " — " (m) }
                            @if let Some(r) = &e.reason { @if !r.is_empty() { " (reason: " (r) ")" } }
                        }
                    }
                }
            }
        },
    )
}

/// A variant's value as JSON text (shown as text, whatever it holds).
fn value(d: &Data, variant: &str) -> String {
    d.variants
        .get(variant)
        .map(|v| v.to_string())
        .unwrap_or_else(|| "(no such variant)".into())
}

/// `kind:name`, or `system`.
pub fn actor(e: &AuditEvent) -> String {
    if e.actor_kind == "system" {
        "system".into()
    } else {
        format!("{}:{}", e.actor_kind, e.actor)
    }
}
