//! The flag commands: `flags` (the list as a table), `flags show`, `eval` (as an application would)
//! and `archive`, a human's retirement of a flag no code references any more.

use anyhow::{Context as _, Result};
use clap::Subcommand;

use super::human::{Confirm, confirm, human};
use super::{Cli, print_json, table};
use crate::app::types::{EvaluateFlag, ListFlags};

#[derive(Subcommand)]
pub enum FlagsCmd {
    /// One flag in full.
    Show { key: String },
    /// Set a flag's owner and escalation contact (the pre-release checklist asks for both).
    Contacts {
        key: String,
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        escalation: Option<String>,
    },
}

/// `flagwarden flags`: every flag and what each environment serves, as a table or JSON.
pub(super) fn list(cli: &Cli, json: bool) -> Result<()> {
    let list = cli.open_app()?.list_flags(&ListFlags::default())?;
    if json {
        return print_json(&list);
    }
    let mut t = table(&["flag", "type", "status", "v", "serving"]);
    for f in list.flags {
        let serving: Vec<String> = f
            .serving
            .iter()
            .map(|(e, s)| format!("{e}: {}", s.as_str().unwrap_or_default()))
            .collect();
        t.add_row(vec![
            f.key.clone(),
            f.change_type.as_str().to_owned(),
            f.status.as_str().to_owned(),
            f.version.to_string(),
            serving.join("\n"),
        ]);
    }
    println!("{t}");
    Ok(())
}

/// `flagwarden flags show KEY`: one flag in full, as JSON.
pub(super) fn show(cli: &Cli, key: &str) -> Result<()> {
    print_json(&cli.open_app()?.get_flag(key)?)
}

/// `flagwarden eval KEY --env E`: evaluates a flag as an application would.
pub(super) fn eval(cli: &Cli, key: &str, env: &str, context: &str) -> Result<()> {
    let context: serde_json::Value =
        serde_json::from_str(context).context("--context must be a JSON object")?;
    print_json(&cli.open_app()?.evaluate_flag(&EvaluateFlag {
        key: key.to_owned(),
        environment: env.to_owned(),
        context,
    })?)
}

/// `flagwarden archive KEY`: a human retires a flag no code references any more.
pub(super) fn archive(cli: &Cli, key: &str, reason: &str, force: bool, c: &Confirm) -> Result<()> {
    let app = cli.open_app()?;
    confirm(c, &format!("archive {key}"), key)?;
    println!(
        "{}",
        app.archive_flag(&human(), key, reason, force)?
            .outcome
            .summary
    );
    Ok(())
}
