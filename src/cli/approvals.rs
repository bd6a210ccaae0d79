//! The approval queue from a terminal: `approvals` lists it, `approve` and `reject` decide a request
//! as the person at the terminal, after a typed confirmation, on the CLI channel.

use anyhow::Result;

use super::human::{Confirm, confirm, human};
use super::{Cli, print_json, table};
use crate::app::types::{Channel, ListApprovals};

/// `flagwarden approvals [--all]`: the queue as a table, and how a human decides.
pub(super) fn list(cli: &Cli, all: bool, json: bool) -> Result<()> {
    let list = cli.open_app()?.list_approvals(&ListApprovals {
        status: Some(if all { "all" } else { "pending" }.into()),
    })?;
    if json {
        return print_json(&list);
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
    println!("{t}\n{}", list.how_to_decide);
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
