//! Release operations from a terminal: `rollouts rehearse` (a rollback rehearsed in a scratch copy of
//! the store), `checklist attest` (a person's statement for one checklist item), `flags contacts`
//! (a flag's owner and escalation contact).

use anyhow::{Context as _, Result};
use clap::Subcommand;

use super::human::human;
use super::{Cli, print_json};
use crate::app::types::Meta;

#[derive(Subcommand)]
pub enum RolloutsCmd {
    /// Rehearse the rollback of KEY in an environment: the real start and flip in a scratch copy of
    /// the store, timed, every arm and the given contexts checked; recorded for the checklist.
    Rehearse {
        key: String,
        #[arg(long = "env")]
        env: String,
        /// The variant a rollout would roll out (default: its running rollout's, else the first
        /// variant that is not the last-known-good).
        #[arg(long)]
        candidate: Option<String>,
        /// A JSON file holding an array of OpenFeature contexts to check after the flip.
        #[arg(long)]
        contexts: Option<std::path::PathBuf>,
        #[arg(long, default_value = "")]
        reason: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum ChecklistCmd {
    /// Attest one checklist item (plan, evidence, limitations) of a flag in an environment.
    Attest {
        key: String,
        #[arg(long = "env")]
        env: String,
        #[arg(long)]
        item: String,
        #[arg(long)]
        text: String,
    },
}

pub(super) fn rehearse(
    cli: &Cli,
    key: &str,
    env: &str,
    candidate: Option<&str>,
    contexts: Option<&std::path::Path>,
    reason: &str,
    json: bool,
) -> Result<()> {
    let contexts: Vec<serde_json::Value> = match contexts {
        None => Vec::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--contexts {}: cannot read it", path.display()))?;
            serde_json::from_str(&text).with_context(|| {
                format!("--contexts {}: a JSON array of context objects, e.g. [{{\"targetingKey\":\"user-1\"}}]", path.display())
            })?
        }
    };
    let app = cli.open_app()?;
    let out = app.rehearse(
        &human(),
        key,
        env,
        candidate,
        &contexts,
        &Meta::because(reason),
    )?;
    if json {
        return print_json(&out);
    }
    println!("{}", out.outcome.summary);
    for a in &out.rehearsal.arms {
        println!("  {}: {:?} → {:?}", a.who, a.before, a.after);
    }
    if !out.rehearsal.passed {
        anyhow::bail!("rehearsal #{} failed", out.rehearsal.id);
    }
    Ok(())
}

pub(super) fn attest(cli: &Cli, key: &str, env: &str, item: &str, text: &str) -> Result<()> {
    let app = cli.open_app()?;
    println!(
        "{}",
        app.attest_checklist(&human(), key, env, item, text, &Meta::because("checklist"))?
    );
    Ok(())
}

pub(super) fn contacts(
    cli: &Cli,
    key: &str,
    owner: Option<&str>,
    escalation: Option<&str>,
) -> Result<()> {
    let app = cli.open_app()?;
    println!(
        "{}",
        app.set_contacts(&human(), key, owner, escalation, &Meta::because("contacts"))?
    );
    Ok(())
}
