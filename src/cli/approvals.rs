//! The approval queue from a terminal: `approvals` lists it (with, under each waiting request, the
//! answers an agent's client gave that decided nothing), `approve` and `reject` decide a request as
//! the person at the terminal, after a typed confirmation, on the CLI channel.

use anyhow::Result;

use super::human::{Confirm, confirm, human};
use super::{Cli, print_json, table};
use crate::app::types::{ApprovalList, Channel, ClientAnswered, ListApprovals};

/// What `approvals --json` prints: the list, and the in-client answers without effect.
#[derive(serde::Serialize)]
struct Listed {
    #[serde(flatten)]
    list: ApprovalList,
    client_answers: Vec<ClientAnswered>,
}

/// `flagwarden approvals [--all]`: the queue as a table, and how a human decides.
pub(super) fn list(cli: &Cli, all: bool, json: bool) -> Result<()> {
    let app = cli.open_app()?;
    let list = app.list_approvals(&ListApprovals {
        status: Some(if all { "all" } else { "pending" }.into()),
    })?;
    let client_answers = app.client_answers_without_effect()?;
    if json {
        return print_json(&Listed {
            list,
            client_answers,
        });
    }
    let mut t = table(&[
        "id",
        "kind",
        "flag",
        "env",
        "to",
        "status",
        "requested by",
        "rule",
        "reason",
    ]);
    for a in &list.approvals {
        t.add_row(vec![
            a.id.to_string(),
            a.kind.clone(),
            a.flag.clone(),
            a.env.clone(),
            a.target_percent
                .map(|p| format!("{p}%"))
                .unwrap_or_default(),
            a.status.clone(),
            a.requested_by.clone(),
            a.rule.clone(),
            a.reason.clone(),
        ]);
    }
    println!("{t}");
    // Under the table: a client already answered these, and its answer counted for nothing.
    for c in &client_answers {
        println!(
            "#{}: {} ({})",
            c.approval_id,
            c.line(),
            c.rule.as_deref().unwrap_or("policy")
        );
    }
    println!("{}", list.how_to_decide);
    Ok(())
}

/// `flagwarden approve ID`: a human approves a pending request.
pub(super) fn approve(cli: &Cli, id: i64, reason: &str, c: &Confirm) -> Result<()> {
    let app = cli.open_app()?;
    confirm(c, &format!("approve request {id}"), &id.to_string())?;
    let d = app.approve(&human(), id, reason, Channel::Cli)?;
    println!("{}", d.summary);
    Ok(())
}

/// `flagwarden reject ID --reason TEXT`: a human rejects a pending request.
pub(super) fn reject(cli: &Cli, id: i64, reason: &str, c: &Confirm) -> Result<()> {
    let app = cli.open_app()?;
    confirm(c, &format!("reject request {id}"), &id.to_string())?;
    println!(
        "{}",
        app.reject(&human(), id, reason, Channel::Cli)?.summary
    );
    Ok(())
}
