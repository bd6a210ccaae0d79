//! Flag use cases, one file each: `create` (create_flag), `reads` (get, list, evaluate),
//! `targeting` (set_targeting), `wrap` (wrap_change) and `lifecycle` (stale flags, cleanup, archive).
//! This file holds the views they share: a flag as the tools show it, who gets what in plain words,
//! and the outcome every mutation answers with.

mod create;
mod lifecycle;
mod reads;
mod targeting;
mod wrap;

pub(super) use create::create_in_tx;

use rusqlite::Connection;
use serde_json::{Map, Value, json};

use super::*;
use crate::domain::flag::EnvState;

const MAX_TEXT: usize = 2000;

fn text(field: &str, s: &str, required: bool) -> Result<()> {
    if required && s.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if s.len() > MAX_TEXT {
        return Err(invalid(field, format!("at most {MAX_TEXT} characters")));
    }
    Ok(())
}

pub(crate) fn rollout_view(r: &crate::domain::rollout::Rollout) -> RolloutView {
    RolloutView {
        id: r.id,
        state: r.state,
        mode: (!r.analysis.mode.is_canary()).then(|| r.analysis.mode.as_str().to_owned()),
        candidate: r.candidate.clone(),
        lkg: r.lkg.clone(),
        percent: r.percent().as_f64(),
        steps: r.steps.iter().map(|p| p.as_f64()).collect(),
        segments: r
            .analysis
            .audiences
            .iter()
            .map(|s| s.name.clone())
            .collect(),
        segment: r.segment().map(|s| s.name.clone()),
        group: r.analysis.group.clone(),
        pending_percent: r.pending_step.map(|i| r.steps[i].as_f64()),
        step_started_at: r.step_started_at.map(store::ts_text),
        paused_reason: r.paused_reason.clone(),
    }
}

fn serving(flag: &Flag, s: &EnvState, rollout: Option<&crate::domain::rollout::Rollout>) -> String {
    if let Some(pin) = &s.pinned_variant {
        return format!("everyone gets {pin:?} (pinned by a rollback)");
    }
    if !s.enabled {
        return format!("off: everyone gets {:?}", flag.off_variant);
    }
    let mut parts = Vec::new();
    if !s.rules.is_empty() {
        parts.push(format!("{} targeting rule(s) first", s.rules.len()));
    }
    match rollout.filter(|r| r.step.is_some()) {
        Some(r) => parts.push(match r.segment() {
            Some(seg) => format!(
                "canary in segment {:?}: half of its units get {:?}, the other half (control) and everyone outside it {:?}",
                seg.name, r.candidate, r.lkg
            ),
            None => format!(
                "canary: {} of the rest get {:?}, others {:?}",
                r.percent(),
                r.candidate,
                r.lkg
            ),
        }),
        None => parts.push(format!("everyone else gets {:?}", s.default_variant)),
    }
    let said = parts.join("; ");
    match &s.prerequisite {
        Some(p) => format!(
            "only where {} serves {:?} (everyone else gets {:?}): {said}",
            p.flag, p.variant, flag.off_variant
        ),
        None => said,
    }
}

pub(crate) fn flag_view(
    conn: &Connection,
    flag: &Flag,
    only_env: Option<&str>,
) -> Result<FlagView> {
    let evals = store::evaluations(conn, flag.key.as_str())?;
    let mut environments = Vec::new();
    for (env, s) in &flag.envs {
        if only_env.is_some_and(|e| e != env) {
            continue;
        }
        let rollout = store::active_rollout(conn, flag.key.as_str(), env)?;
        let evaluations: Map<String, Value> = evals
            .iter()
            .filter(|(e, ..)| e == env)
            .map(|(_, v, n, _)| (v.clone(), json!(n)))
            .collect();
        environments.push(EnvView {
            environment: env.clone(),
            enabled: s.enabled,
            default_variant: s.default_variant.clone(),
            pinned_variant: s.pinned_variant.clone(),
            rules: s.rules.iter().map(|r| r.spec().clone()).collect(),
            prerequisite: s.prerequisite.clone(),
            serving: serving(flag, s, rollout.as_ref()),
            rollout: rollout.as_ref().map(rollout_view),
            evaluations,
        });
    }
    Ok(FlagView {
        key: flag.key.to_string(),
        description: flag.description.clone(),
        change_type: flag.change_type,
        flag_type: flag.variants.kind(),
        variants: flag.variants.to_map(),
        off_variant: flag.off_variant.clone(),
        default_variant: flag.default_variant.clone(),
        owner: flag.owner.clone(),
        lifetime_days: flag.lifetime_days,
        tags: flag.tags.clone(),
        status: flag.status,
        version: flag.version,
        created_at: store::ts_text(flag.created_at),
        environments,
        code_refs: store::code_refs(conn, flag.key.as_str())?,
        versions: store::versions(conn, flag.key.as_str())?,
    })
}

pub(crate) fn outcome(tx: &Tx, decision: &Decision, version: i64, summary: String) -> Outcome {
    let summary = if tx.dry_run {
        format!("dry run, nothing changed: would {summary}")
    } else {
        summary
    };
    Outcome {
        dry_run: tx.dry_run,
        decision: decision.into(),
        summary,
        version,
        audit_seq: None,
    }
}
