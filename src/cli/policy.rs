//! The policy file: `init` writes the embedded default and creates the store, `policy check` validates
//! a policy and prints its bounds, and `break-glass` is a human lifting its freezes and change
//! windows in one environment for a while.

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;

use super::Cli;
use super::human::{Confirm, confirm, human};

pub const DEFAULT_POLICY: &str = include_str!("default_policy.toml");

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Validate the policy file and print its bounds.
    Check {
        /// Per environment, which release protections are on and which are off.
        #[arg(long)]
        explain: bool,
    },
}

pub(super) fn init(cli: &Cli, force: bool) -> Result<()> {
    if cli.policy.exists() && !force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            cli.policy.display()
        );
    }
    std::fs::write(&cli.policy, DEFAULT_POLICY)
        .with_context(|| format!("cannot write {}", cli.policy.display()))?;
    let app = cli.open_app()?;
    drop(app);
    println!(
        "wrote {} (development permissive, production strict) and created {}",
        cli.policy.display(),
        cli.db_path().display()
    );
    Ok(())
}

/// `flagwarden policy check`: validates the policy and prints each environment's bounds in words.
pub(super) fn check(cli: &Cli, explain: bool) -> Result<()> {
    let p = cli.load_policy()?;
    if explain {
        println!("{}: version {}", p.path, p.policy.version);
        for (name, env) in &p.policy.environments {
            println!("\n{name}:");
            for (on, line) in crate::domain::policy::protections(&p.policy, name, env) {
                println!("  [{}] {line}", if on { "on " } else { "off" });
            }
        }
        return Ok(());
    }
    println!(
        "{}: version {}, sha256 {}",
        p.path, p.policy.version, p.sha256
    );
    for (name, env) in &p.policy.environments {
        println!("\n{name}:");
        for line in crate::domain::policy::describe(env) {
            println!("  - {line}");
        }
    }
    Ok(())
}

/// `flagwarden break-glass --env E`: a human lifts freezes and change windows for a while.
pub(super) fn break_glass(
    cli: &Cli,
    env: &str,
    reason: &str,
    duration: &str,
    c: &Confirm,
) -> Result<()> {
    let ttl: jiff::SignedDuration = duration
        .parse()
        .with_context(|| format!("--for {duration:?}: use a duration such as \"2h\""))?;
    let app = cli.open_app()?;
    confirm(c, &format!("lift freezes in {env} for {duration}"), env)?;
    println!("{}", app.break_glass(&human(), env, reason, ttl)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::domain::policy::Policy;

    use super::DEFAULT_POLICY;

    /// The default policy parses, and so does its commented Prometheus example once uncommented.
    #[test]
    fn the_default_policy_and_its_prometheus_example_parse() {
        Policy::parse("flagwarden.toml", DEFAULT_POLICY).unwrap();
        let mut example = false;
        let uncommented: Vec<&str> = DEFAULT_POLICY
            .lines()
            .map(|l| {
                if l.starts_with("# [environments.production.prometheus]") {
                    example = true;
                } else if l.trim().is_empty() {
                    example = false;
                }
                match l.strip_prefix("# ") {
                    Some(rest) if example && (rest.starts_with('[') || rest.contains(" = ")) => {
                        rest
                    }
                    _ => l,
                }
            })
            .collect();
        let p = Policy::parse("flagwarden.toml", &uncommented.join("\n")).unwrap();
        let source = p.env("production").unwrap().prometheus.as_ref().unwrap();
        assert_eq!((source.metrics.len(), source.guardrails.len()), (1, 1));
    }
}
