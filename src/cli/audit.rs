//! `flagwarden audit`: the trail as a table (oldest of the page first) or JSON, after checking the
//! hash chain with `--verify`.

use anyhow::{Result, bail};

use super::{Cli, print_json, table};

/// `flagwarden audit [--verify]`: checks the hash chain when asked, then lists the trail.
pub(super) fn show(
    cli: &Cli,
    verify: bool,
    key: Option<&str>,
    env: Option<&str>,
    limit: u32,
    json: bool,
) -> Result<()> {
    let app = cli.open_app()?;
    if verify {
        match app.verify_audit()? {
            Ok(n) => println!("audit chain verified: {n} events, no gaps or edits"),
            Err(broken) => bail!("{broken}"),
        }
    }
    let events = app.audit_events(key, env, limit)?;
    if json {
        return print_json(&events);
    }
    let mut t = table(&[
        "seq", "time", "actor", "action", "flag", "env", "decision", "rule", "reason",
    ]);
    for e in events.iter().rev() {
        t.add_row(vec![
            e.seq.to_string(),
            e.ts.clone(),
            format!("{}:{}", e.actor_kind, e.actor),
            e.action.clone(),
            e.flag.clone().unwrap_or_default(),
            e.env.clone().unwrap_or_default(),
            e.decision.clone(),
            e.rule.clone().unwrap_or_default(),
            e.reason.clone().unwrap_or_default(),
        ]);
    }
    println!("{t}");
    Ok(())
}
