//! The approvals page: pending requests first, each with what is asked, who asked and why, the
//! gate's verdict and reasons, and the evidence charts; a logged-in person approves or rejects with a
//! required reason. Below, the decided ones: who decided, on which channel, when and why. Deciding
//! is `App::approve` / `App::reject` on the `console` channel, after the POST checks.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::evidence::{self, MAX_LOOKS, Stored};
use super::layout::{self, Nav, Refresh, Viewer};
use super::{Ctx, Shared, failure, refusal, render, session};
use crate::app::types::{Channel, ListApprovals};
use crate::domain::approval::Approval;
use crate::domain::policy::Actor;

/// Decided approvals shown under the pending ones.
const DECIDED_SHOWN: usize = 50;

struct Pending {
    approval: Approval,
    rollout_state: Option<String>,
    evals: Vec<Stored>,
}

struct Data {
    pending: Vec<Pending>,
    decided: Vec<Approval>,
    /// The approval a decision just went to, and its rollout's state now.
    just: Option<(Approval, Option<String>)>,
}

#[derive(Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    decided: Option<i64>,
}

/// What is asked, in words.
pub fn asked(a: &Approval) -> String {
    let pct = a
        .target_percent
        .map(|p| format!("{p}%"))
        .unwrap_or_default();
    match a.kind.as_str() {
        "rollback" => format!("Roll back {} in {}", a.flag, a.env),
        "start_canary" => format!("Start a rollout of {} in {} at {pct}", a.flag, a.env),
        "advance_canary" => format!("Step {} in {} to {pct}", a.flag, a.env),
        other => format!("{other} for {} in {}", a.flag, a.env),
    }
}

/// `GET /console/approvals`.
pub async fn page(
    State(c): State<Shared>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let decided = query.ok().and_then(|Query(q)| q.decided);
    render(
        &c,
        &headers,
        move |app| {
            let all = app
                .list_approvals(&ListApprovals {
                    status: Some("all".into()),
                })?
                .approvals;
            let state_of = |rid: Option<i64>| -> crate::app::Result<Option<String>> {
                Ok(match rid {
                    Some(id) => app
                        .rollout_history(id)?
                        .map(|h| h.view.state.as_str().to_owned()),
                    None => None,
                })
            };
            let mut pending = Vec::new();
            let mut done = Vec::new();
            for a in all {
                if a.status == "pending" {
                    let evals = match a.rollout_id {
                        Some(id) => evidence::stored(app.gate_looks(id, MAX_LOOKS)?),
                        None => Vec::new(),
                    };
                    pending.push(Pending {
                        rollout_state: state_of(a.rollout_id)?,
                        approval: a,
                        evals,
                    });
                } else {
                    done.push(a);
                }
            }
            pending.sort_by_key(|p| p.approval.id);
            done.sort_by(|a, b| b.decided_at.cmp(&a.decided_at).then(b.id.cmp(&a.id)));
            let just = match decided.and_then(|id| done.iter().find(|a| a.id == id)) {
                Some(a) => Some((a.clone(), state_of(a.rollout_id)?)),
                None => None,
            };
            done.truncate(DECIDED_SHOWN);
            Ok(Data {
                pending,
                decided: done,
                just,
            })
        },
        view,
    )
    .await
}

fn view(ctx: &Ctx, d: Data) -> Markup {
    let title = if d.pending.is_empty() {
        "Approvals".to_owned()
    } else {
        format!("Approvals ({} pending)", d.pending.len())
    };
    layout::page(
        &ctx.page(&title, Nav::Approvals, Refresh::KeepTyping),
        html! {
            h1 { "Approvals" }
            @if let Some((a, state)) = &d.just {
                p.done role="status" {
                    "Approval #" (a.id) " is " strong { (a.status) } " by " (a.decided_by.clone().unwrap_or_default())
                    " via " (a.decided_via.clone().unwrap_or_default()) "."
                    @if let (Some(rid), Some(s)) = (a.rollout_id, state) {
                        " Rollout " a href=(format!("/console/rollouts/{rid}")) { "#" (rid) } " is now " strong { (s) } "."
                    }
                }
            }
            section aria-labelledby="pending-h" {
                h2 id="pending-h" { "Waiting for a person (" (d.pending.len()) ")" }
                @if d.pending.is_empty() {
                    p { "Nothing is waiting. New requests appear here within a few seconds." }
                }
                @for p in &d.pending {
                    (pending(ctx, p))
                }
            }
            section aria-labelledby="decided-h" {
                h2 id="decided-h" { "Decided" }
                @if d.decided.is_empty() {
                    p { "No decisions yet." }
                } @else {
                    div.scroll tabindex="0" {
                        table.decided {
                            caption { "The latest decisions, newest first" }
                            thead { tr {
                                th scope="col" { "#" } th scope="col" { "Asked" } th scope="col" { "Outcome" }
                                th scope="col" { "Decided by" } th scope="col" { "Channel" } th scope="col" { "When" }
                                th scope="col" { "Reason" }
                            } }
                            tbody {
                                @for a in &d.decided {
                                    tr id=(format!("approval-{}", a.id)) {
                                        th scope="row" { (a.id) }
                                        td {
                                            (asked(a))
                                            @if let Some(rid) = a.rollout_id {
                                                " (" a href=(format!("/console/rollouts/{rid}")) { "rollout #" (rid) } ")"
                                            }
                                        }
                                        td { (a.status) }
                                        td { (a.decided_by.clone().unwrap_or_else(|| "—".into())) }
                                        td.channel { (a.decided_via.clone().unwrap_or_else(|| "—".into())) }
                                        td { (a.decided_at.clone().unwrap_or_else(|| "—".into())) }
                                        td { (a.decision_reason.clone().unwrap_or_default()) }
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

fn pending(ctx: &Ctx, p: &Pending) -> Markup {
    let a = &p.approval;
    let hid = format!("approval-{}", a.id);
    html! {
        article.approval.pending id=(hid) aria-labelledby=(format!("{hid}-h")) data-kind=(a.kind) {
            h3 id=(format!("{hid}-h")) { "#" (a.id) " " (asked(a)) }
            dl {
                dt { "Asked by" } dd { (a.requested_by) " at " time datetime=(a.created_at) { (a.created_at) } }
                dt { "Why" } dd.reason { (a.reason) }
                dt { "Rule" } dd { code { (a.rule) } }
                @if let Some(rid) = a.rollout_id {
                    dt { "Rollout" }
                    dd {
                        a href=(format!("/console/rollouts/{rid}")) { "#" (rid) }
                        @if let Some(s) = &p.rollout_state { " · " strong.state { (s) } }
                    }
                }
                @if a.approvals_needed > 1 {
                    dt { "Approvals" } dd { (a.approved_by.len()) " of " (a.approvals_needed) " (" (a.approved_by.join(", ")) ")" }
                }
            }
            @if a.rollout_id.is_some() {
                (evidence::verdict(&p.evals))
            }
            @match &ctx.viewer {
                Viewer::Person(person) => {
                    form.decide method="post" action=(format!("/console/approvals/{}/decide", a.id)) {
                        input type="hidden" name="csrf" value=(person.csrf);
                        label for=(format!("{hid}-reason")) { "Your reason (required; the agent and the audit trail read it)" }
                        textarea id=(format!("{hid}-reason")) name="reason" required rows="2" maxlength="2000" {}
                        div.buttons {
                            button.approve type="submit" name="decision" value="approve" { "Approve" }
                            button.reject type="submit" name="decision" value="reject" { "Reject" }
                        }
                    }
                }
                Viewer::ReadOnly => {
                    p.hint { "Read only: deciding needs a person logged in with a human token." }
                }
            }
            @if a.rollout_id.is_some() {
                (evidence::metrics(&hid, &p.evals, false))
            }
        }
    }
}

#[derive(Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    decision: String,
}

/// `POST /console/approvals/{id}/decide`: the origin checks, a live session, its CSRF token, a
/// reason, then `App::approve` or `App::reject` as that person on the console channel.
pub async fn decide(
    State(c): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Response {
    let back = "/console/approvals";
    let refuse = |status, message: &str| refusal(&c, status, "Refused", message, back);
    if let Err(why) = session::same_origin(&headers) {
        return refuse(StatusCode::FORBIDDEN, &why);
    }
    let person = match c.viewer(&headers) {
        Some(Viewer::Person(p)) => p,
        Some(Viewer::ReadOnly) => {
            return refuse(
                StatusCode::FORBIDDEN,
                &format!(
                    "refused: this console is read only; to enable decisions, {}",
                    layout::how_to_enable()
                ),
            );
        }
        None => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "refused: log in with a human token first (your session may have expired)",
            );
        }
    };
    let Ok(Form(f)) = form else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the form could not be read: send csrf, reason and decision",
        );
    };
    if !session::csrf_matches(&person, &f.csrf) {
        return refuse(
            StatusCode::FORBIDDEN,
            "refused: the form's csrf token is not this session's; reload the page and decide again",
        );
    }
    let Ok(id) = id.parse::<i64>() else {
        return refuse(
            StatusCode::NOT_FOUND,
            &format!("{id:?} is not an approval id (a number)"),
        );
    };
    let reason = f.reason.trim().to_owned();
    if reason.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "reason: say why you approve or reject it; the agent and the audit trail read it",
        );
    }
    let approve = match f.decision.as_str() {
        "approve" => true,
        "reject" => false,
        other => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("decision: {other:?} is not a decision; use approve or reject"),
            );
        }
    };
    let app = c.app.clone();
    let human = Actor::Human(person.name.clone());
    let done = tokio::task::spawn_blocking(move || {
        if approve {
            app.approve(&human, id, &reason, Channel::Console)
        } else {
            app.reject(&human, id, &reason, Channel::Console)
        }
    })
    .await;
    match done {
        Ok(Ok(_)) => Redirect::to(&format!("/console/approvals?decided={id}")).into_response(),
        Ok(Err(e)) => failure(&c, e, back),
        Err(e) => {
            tracing::error!("console decision task failed: {e}");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the decision failed and changed nothing; retry",
            )
        }
    }
}
