//! Rollouts from a terminal: `canary show` explains the gate per metric and arm with its stored
//! evaluations; `rollback`, `resume`, `abort` and `promote` are a human steering a rollout, each
//! after a typed confirmation.

use anyhow::Result;
use clap::Subcommand;

use super::human::{Confirm, confirm, human};
use super::{Cli, print_json, table};
use crate::app::types::{CanaryStatus, FlagEnv, Meta, RollbackFlag, Steer};
use crate::domain::gate::GateEvaluation;

#[derive(Subcommand)]
pub enum CanaryCmd {
    /// A rollout's gate, explained per metric and arm, and its stored evaluations.
    Show {
        key: String,
        #[arg(long = "env")]
        env: String,
        /// How many stored evaluations to list.
        #[arg(long, default_value_t = 5)]
        history: u32,
        #[arg(long)]
        json: bool,
    },
}

/// `flagwarden canary show KEY --env E`: the gate explained, and the stored evaluations.
pub(super) fn show(cli: &Cli, key: &str, env: &str, history: u32, json: bool) -> Result<()> {
    let app = cli.open_app()?;
    let status = app.canary_status(&FlagEnv {
        key: key.to_owned(),
        environment: env.to_owned(),
    })?;
    let evaluations = match &status.rollout {
        Some(r) => app.gate_evaluations(r.id, history)?,
        None => Vec::new(),
    };
    if json {
        return print_json(&serde_json::json!({"status": status, "evaluations": evaluations}));
    }
    print_canary(&status, &evaluations);
    Ok(())
}

/// `flagwarden rollback KEY --env E`: a human rolls back to the last-known-good at once.
pub(super) fn rollback(cli: &Cli, key: &str, env: &str, reason: &str, c: &Confirm) -> Result<()> {
    let app = cli.open_app()?;
    confirm(c, &format!("roll back {key} in {env}"), key)?;
    let req = RollbackFlag {
        key: key.to_owned(),
        environment: env.to_owned(),
        expected_version: None,
        meta: Meta::because(reason),
    };
    println!("{}", app.rollback(&human(), &req)?.outcome.summary);
    Ok(())
}

/// `flagwarden resume|abort|promote ROLLOUT`: a human steers a rollout.
pub(super) fn steer(
    cli: &Cli,
    steer: Steer,
    rollout: i64,
    reason: &str,
    c: &Confirm,
) -> Result<()> {
    let app = cli.open_app()?;
    confirm(
        c,
        &format!("{} rollout {rollout}", steer.as_str()),
        &rollout.to_string(),
    )?;
    println!(
        "{}",
        app.steer_rollout(&human(), rollout, steer, reason)?
            .outcome
            .summary
    );
    Ok(())
}

/// The gate in words and numbers: the verdict, then one row per metric with both arms.
fn print_canary(status: &CanaryStatus, evaluations: &[GateEvaluation]) {
    let Some(r) = &status.rollout else {
        println!("{} has no rollout in {}", status.key, status.environment);
        return;
    };
    println!(
        "rollout {} of {} in {}: {} at {}% ({:?} → {:?})",
        r.id,
        status.key,
        status.environment,
        r.state.as_str(),
        r.percent,
        r.lkg,
        r.candidate
    );
    if let Some(g) = &status.gate {
        println!(
            "gate now: {:?}{}",
            g.verdict,
            if g.critical { " (critical)" } else { "" }
        );
        for reason in &g.reasons {
            println!("  - {reason}");
        }
        let mut t = table(&[
            "metric",
            "req",
            "canary n",
            "canary",
            "control n",
            "control",
            "diff",
            "bounds",
            "margin",
            "label",
        ]);
        let num = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.4}"));
        for m in &g.metrics {
            t.add_row(vec![
                m.metric.clone(),
                if m.required {
                    "yes".into()
                } else {
                    String::new()
                },
                m.canary.n.to_string(),
                num(m.canary.value),
                m.control.n.to_string(),
                num(m.control.value),
                num(m.difference),
                match (m.lower, m.upper) {
                    (Some(l), Some(u)) => format!("[{l:.4}, {u:.4}]"),
                    _ => m.e_value.map_or("-".into(), |e| format!("e={e:.2}")),
                },
                m.margin.to_string(),
                format!("{:?}", m.label).to_uppercase(),
            ]);
        }
        println!("{t}");
        println!(
            "sample ratio: {} canary / {} control exposures, p = {:.3}{}",
            g.srm.canary_exposures,
            g.srm.control_exposures,
            g.srm.p_value,
            if g.srm.mismatch { " MISMATCH" } else { "" }
        );
        for b in &g.breakers {
            println!(
                "breaker {} {} {}: canary {} over {}{}",
                b.metric,
                b.op,
                b.limit,
                b.canary.value.map_or("-".into(), |v| format!("{v:.4}")),
                b.canary.n,
                if b.tripped { " TRIPPED" } else { "" }
            );
        }
    }
    for e in evaluations {
        println!(
            "evaluation #{} at {}: {} (config {})",
            e.id,
            e.evaluated_at,
            e.verdict,
            &e.config_sha256[..12]
        );
    }
}
