//! `flagwarden token new`: a random secret for a role, printed once, with the hashed entry for the
//! tokens file and the FLAGWARDEN_TOKENS form. The secret itself is never stored anywhere.

use anyhow::{Result, bail};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Make a new random token: prints the secret once, and the hashed entry for the tokens file.
    New {
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: String,
        /// For sdk and ingest tokens: the environment they read or report for.
        #[arg(long)]
        environment: Option<String>,
    },
}

pub(super) fn new_token(role: &str, name: &str, environment: Option<&str>) -> Result<()> {
    use crate::app::{Role, Tokens};
    let Some(role) = Role::parse(role) else {
        bail!("unknown role {role:?}: use agent, human, sdk or ingest");
    };
    let secret =
        Tokens::new_secret().map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    let env_line = environment.map_or(String::new(), |e| format!("environment = {e:?}\n"));
    let env_part = environment.map_or(String::new(), |e| format!("@{e}"));
    println!("secret (shown once; give it to the {role} client): {secret}\n");
    println!("add to the tokens file (serve --tokens FILE):\n");
    println!(
        "[[token]]\nname = {name:?}\nrole = \"{role}\"\nsha256 = \"{}\"\n{env_line}",
        hex::encode(Tokens::hash(&secret))
    );
    println!(
        "or put it in the environment: FLAGWARDEN_TOKENS=\"{role}:{name}{env_part}=<secret>\""
    );
    Ok(())
}
