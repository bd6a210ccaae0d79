//! `protections`: the release protections an environment's policy turns on and leaves off, in
//! words, for `flagwarden policy check --explain`, so a team sees what its policy leaves open.

use jiff::SignedDuration;

use super::checklist::ChecklistItem;
use super::model::{AgentRollback, AutoRollback, EnvPolicy, Policy, WebhookFormat};
use crate::domain::bucket::Percent;
use crate::domain::duration::fmt_duration;
use crate::domain::flag::ChangeType;

/// Each protection with whether it is on, in the order a release meets them.
pub fn protections(policy: &Policy, name: &str, env: &EnvPolicy) -> Vec<(bool, String)> {
    let mut out: Vec<(bool, String)> = Vec::new();
    let c = &env.checklist;
    let names = |l: &[ChecklistItem]| l.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(", ");
    if c.is_on() {
        out.push((
            true,
            format!("pre-release checklist: {}", names(&c.required)),
        ));
        for (t, l) in &c.by_type {
            out.push((
                !l.is_empty(),
                format!(
                    "checklist for {t} changes: {}",
                    if l.is_empty() {
                        "nothing".into()
                    } else {
                        names(l)
                    }
                ),
            ));
        }
    } else {
        out.push((
            false,
            format!(
                "pre-release checklist: none (add [environments.{name}.checklist] required = [...])"
            ),
        ));
    }
    let rehearsed: Vec<&str> = ChangeType::ALL
        .iter()
        .filter(|t| c.items_for(**t).contains(&ChecklistItem::Rehearsal))
        .map(|t| t.as_str())
        .collect();
    out.push((
        !rehearsed.is_empty(),
        if rehearsed.is_empty() {
            "rehearsed rollback before a start: not required".into()
        } else {
            format!(
                "rehearsed rollback before a start: required for {}",
                rehearsed.join(", ")
            )
        },
    ));
    out.push((
        !c.human_only.is_empty(),
        if c.human_only.is_empty() {
            "checklist items only a human may attest: none (an agent's word counts for every item)"
                .into()
        } else {
            format!(
                "checklist items only a human may attest: {}",
                names(&c.human_only)
            )
        },
    ));
    out.push((
        env.max_step_increase < Percent::FULL,
        format!(
            "a step (the first one too) may add at most {}; a larger one is refused",
            env.max_step_increase
        ),
    ));
    out.push((
        env.max_auto_percent < Percent::FULL,
        format!("a human approves every step above {}", env.max_auto_percent),
    ));
    out.push((
        env.requires_start_approval,
        "a human approves every start".into(),
    ));
    let dwell = env.min_dwell.default > SignedDuration::ZERO || !env.min_dwell.per_step.is_empty();
    out.push((
        dwell,
        if dwell {
            format!(
                "minimum dwell at each step: {}",
                fmt_duration(env.min_dwell.default)
            )
        } else {
            "minimum dwell: none".into()
        },
    ));
    out.push((
        !env.freezes.is_empty(),
        if env.freezes.is_empty() {
            "freezes: none (a Friday-evening start is allowed)".into()
        } else {
            let r: Vec<&str> = env
                .freezes
                .iter()
                .map(|f| {
                    if f.reason.is_empty() {
                        "(no reason)"
                    } else {
                        f.reason.as_str()
                    }
                })
                .collect();
            format!("freezes: {}", r.join(", "))
        },
    ));
    out.push((
        !env.change_windows.is_empty(),
        format!("change windows: {}", env.change_windows.len()),
    ));
    out.push((
        env.agent_rollback == AgentRollback::Propose,
        "an agent's rollback waits for a human (agent_rollback = \"propose\")".into(),
    ));
    out.push((
        env.auto_rollback != AutoRollback::None,
        format!(
            "the system rolls back by itself on harm: {}",
            env.auto_rollback.as_str()
        ),
    ));
    let required: Vec<&str> = env
        .gate
        .metrics
        .iter()
        .filter(|m| m.required)
        .map(|m| m.metric.name())
        .collect();
    out.push((
        !required.is_empty(),
        format!(
            "gate metrics required to promote: {}",
            if required.is_empty() {
                "none".into()
            } else {
                required.join(", ")
            }
        ),
    ));
    out.push((
        !env.gate.breakers.is_empty(),
        format!("circuit breakers: {}", env.gate.breakers.len()),
    ));
    out.push((
        env.preflight.required,
        "offline eval (preflight) before prompt and model rollouts".into(),
    ));
    out.push((
        env.rate_limits.rollouts_per_day.is_some() || env.rate_limits.advances_per_hour.is_some(),
        "rate limits on starts and advances".into(),
    ));
    out.push((
        true,
        "an emergency change (break-glass) opens a follow-up review a second person closes".into(),
    ));
    out.push(release_notices(policy, name));
    out
}

/// Whether release notices reach anyone in `env`: which webhooks (by position and format; the URL
/// is a secret), which events and whether they are batched into a digest.
fn release_notices(policy: &Policy, env: &str) -> (bool, String) {
    let hooks: Vec<String> = policy
        .webhooks
        .iter()
        .enumerate()
        .filter(|(_, w)| w.environments.is_empty() || w.environments.iter().any(|e| e == env))
        .map(|(i, w)| {
            let format = match w.format {
                WebhookFormat::Slack => "slack",
                WebhookFormat::Json => "json",
            };
            let events = if w.events.is_empty() {
                "every event".to_owned()
            } else {
                w.events
                    .iter()
                    .map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let digest = match w.digest {
                Some(d) => format!(", digest every {} (urgent ones at once)", fmt_duration(d)),
                None => String::new(),
            };
            format!("webhooks[{i}] ({format}: {events}{digest})")
        })
        .collect();
    if hooks.is_empty() {
        let why = if policy.webhooks.is_empty() {
            "add [[webhooks]]"
        } else {
            "no webhook names this environment"
        };
        return (
            false,
            format!(
                "release notices: none (nobody is told of approvals, steps, rollbacks or emergencies; {why})"
            ),
        );
    }
    (true, format!("release notices: {}", hooks.join("; ")))
}
