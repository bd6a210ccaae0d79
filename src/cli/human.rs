//! The person at the terminal: who they are (FLAGWARDEN_HUMAN, else the login name) and the typed
//! confirmation every human-only action asks for, so an agent's non-interactive shell does not
//! approve by accident.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Result, bail};
use clap::Args;

use crate::domain::policy::Actor;

#[derive(Args)]
pub struct Confirm {
    /// Skip the typed confirmation (scripts). Anyone who can run this can pass it: see README.
    #[arg(long)]
    yes: bool,
}

/// The person at this terminal: FLAGWARDEN_HUMAN, else the login name.
pub(super) fn human() -> Actor {
    let name = std::env::var("FLAGWARDEN_HUMAN")
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "human".into());
    Actor::Human(name)
}

/// A human-only action proceeds only after the person types `expected` on a terminal, or with --yes.
pub(super) fn confirm(c: &Confirm, what: &str, expected: &str) -> Result<()> {
    if c.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "{what} is a human action: run it in a terminal to confirm it, or pass --yes in a script you trust"
        );
    }
    eprint!("{what}\nType {expected:?} to confirm: ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim() != expected {
        bail!("not confirmed; nothing changed");
    }
    Ok(())
}
