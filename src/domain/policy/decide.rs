//! `decide()`, the pure function every action passes, and `describe()`, the same bounds in words.
//!
//! `decide` checks the hard bounds first (who may act, freezes and windows, rate limits, allowed steps,
//! step size, dwell) and only when all of them hold does it consider the human-gated ones
//! (max_auto_percent, start approval, rollback proposals), which turn the action into an approval
//! request instead of a refusal.

use jiff::{SignedDuration, Timestamp};

use super::calendar::FreezeWhen;
use super::checklist::{ChecklistFacts, missing};
use super::model::{
    Action, ActionKind, Actor, Advance, AgentRollback, AutoRollback, ClientAnswer, ClientTrust,
    Decision, EnvPolicy, Exposure, Policy, Usage,
};
use crate::domain::bucket::Percent;
use crate::domain::duration::fmt_duration;

fn deny(rule: String, message: String) -> Decision {
    Decision::Deny { rule, message }
}

fn human_gate(rule: String, message: String) -> Decision {
    Decision::NeedsApproval { rule, message }
}

/// Decides whether `actor` may do `action` now. Pure: every fact comes in as an argument.
pub fn decide(
    policy: &Policy,
    actor: &Actor,
    action: &Action,
    usage: &Usage,
    now: Timestamp,
) -> Decision {
    let kind = action.kind();
    let env_name = action.env();
    let env = match env_name {
        Some(name) => match policy.env(name) {
            Some(env) => Some((name, env)),
            None => {
                let known: Vec<_> = policy.env_names().collect();
                return deny(
                    "environments".into(),
                    format!(
                        "environment {name:?} is not declared in the policy; declared: {}",
                        known.join(", ")
                    ),
                );
            }
        },
        None => None,
    };
    let break_glass = usage.break_glass_until.is_some_and(|until| now < until);

    // Whoever the caller says it is, an answer in the agent's client is judged by the policy's level.
    if let (
        Action::AnswerInClient {
            approval_id,
            answer,
            effect,
            ..
        },
        Some((name, env)),
    ) = (action, env)
    {
        return answer_in_client(name, env.confirm_in_client, *approval_id, *answer, *effect);
    }

    // Freezes bind everyone, humans too, unless a human has broken the glass; rollback is never stopped.
    if let Some((name, env)) = env
        && kind.changes_exposure()
        && !break_glass
    {
        if let Some((i, fr)) = env
            .freezes
            .iter()
            .enumerate()
            .find(|(_, f)| f.contains(now))
        {
            let why = if fr.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", fr.reason)
            };
            return deny(
                format!("{name}.freezes[{i}]"),
                format!(
                    "{name} is frozen{why}: {kind} is not allowed now; rollback stays available, and a human can use break-glass for an emergency"
                ),
            );
        }
        if !env.change_windows.is_empty() && !env.change_windows.iter().any(|w| w.contains(now)) {
            let windows: Vec<_> = env
                .change_windows
                .iter()
                .map(|w| format!("{} {}–{} {}", w.days.join("/"), w.start, w.end, w.tz))
                .collect();
            return deny(
                format!("{name}.change_windows"),
                format!(
                    "{kind} in {name} is only allowed inside its change windows: {}",
                    windows.join("; ")
                ),
            );
        }
    }

    let agent = match actor {
        Actor::Agent(_) => true,
        Actor::System => {
            return match env {
                Some((name, env)) => system(name, env, action, usage),
                None => Decision::Allow,
            };
        }
        Actor::Human(_) | Actor::App(_) => false,
    };
    if !agent {
        // A person is bound by the checklist too: it is what the release needs, not a bound on agents.
        if let (
            Action::StartCanary {
                checklist: Some(facts),
                ..
            }
            | Action::StartExperiment {
                checklist: Some(facts),
                ..
            },
            Some((name, env)),
        ) = (action, env)
            && let Some(d) = checklist(name, env, facts, now)
        {
            return d;
        }
        return Decision::Allow;
    }

    match (kind, env) {
        (ActionKind::CreateFlag | ActionKind::WrapChange | ActionKind::AddVersion, _) => {
            let creates = matches!(
                action,
                Action::CreateFlag
                    | Action::WrapChange { creates_flag: true }
                    | Action::AddVersion { creates_flag: true }
            );
            if creates && !policy.flags.agent_may_create {
                return deny(
                    "flags.agent_may_create".into(),
                    "agents may not create flags under this policy; ask a human to create it"
                        .into(),
                );
            }
            if creates
                && let Some(limit) = policy.flags.created_per_day
                && usage.flags_created_last_day >= limit
            {
                return deny(
                    "flags.created_per_day".into(),
                    format!(
                        "{} flags were created in the last 24 h, the limit is {limit}; reuse an existing flag or wait",
                        usage.flags_created_last_day
                    ),
                );
            }
            return Decision::Allow;
        }
        (ActionKind::CleanupFlag, _) => return Decision::Allow,
        (ActionKind::ArchiveFlag, _) => {
            return deny(
                "archive_flag".into(),
                "archiving a flag is reserved for humans; ask one to run `flagwarden archive KEY --reason ...` once no code references it".into(),
            );
        }
        _ => {}
    }
    let Some((name, env)) = env else {
        return Decision::Allow;
    };

    if env.human_only.contains(&kind) {
        return deny(
            format!("{name}.human_only"),
            format!(
                "{kind} in {name} is reserved for humans; ask a human to do it with the flagwarden CLI"
            ),
        );
    }
    if !env.agent_may.contains(&kind) {
        return deny(
            format!("{name}.agent_may"),
            format!(
                "{kind} in {name} is not in the agent's allowed actions ({}); ask a human",
                list(&env.agent_may)
            ),
        );
    }
    match action {
        Action::Rollback { .. } => match env.agent_rollback {
            AgentRollback::Allow => Decision::Allow,
            AgentRollback::Propose => human_gate(
                format!("{name}.agent_rollback"),
                format!(
                    "in {name} an agent's rollback is a proposal: exposure is frozen until a human confirms it"
                ),
            ),
        },
        Action::StartExperiment {
            traffic,
            checklist: facts,
            ..
        } => {
            if let Some(d) = rollouts_per_day(name, env, usage) {
                return d;
            }
            let most = env.experiments.max_traffic;
            if *traffic > most {
                return deny(
                    format!("{name}.experiments.max_traffic"),
                    if most == Percent::ZERO {
                        format!(
                            "experiments are not allowed for agents in {name}; a human sets experiments.max_traffic in the policy"
                        )
                    } else {
                        format!(
                            "an agent may put at most {most} of {name} into an experiment, not {traffic}; use traffic {} or less",
                            most.as_f64()
                        )
                    },
                );
            }
            if let Some(d) = before_a_start(name, env, *facts, now) {
                return d;
            }
            Decision::Allow
        }
        Action::StartCanary {
            steps,
            checklist: facts,
            segments,
            change_type,
            ..
        } => {
            if let Some(d) = rollouts_per_day(name, env, usage) {
                return d;
            }
            if let Some(bad) = steps.iter().find(|s| !env.steps.contains(s)) {
                return deny(
                    format!("{name}.steps"),
                    format!(
                        "step {bad} is not allowed in {name}; allowed steps are {}",
                        percents(&env.steps)
                    ),
                );
            }
            if let Some(required) = env.segments_first.get(change_type.as_str()) {
                let missing: Vec<&str> = required
                    .iter()
                    .filter(|n| !segments.contains(n))
                    .map(String::as_str)
                    .collect();
                if !missing.is_empty() {
                    let mut plan: Vec<String> = required.iter().map(|n| format!("{n:?}")).collect();
                    plan.extend(steps.iter().map(|p| p.as_f64().to_string()));
                    return deny(
                        format!("{name}.segments_first"),
                        format!(
                            "a {} change in {name} must expose segment {} before any percentage; start with steps [{}]",
                            change_type.as_str(),
                            missing.join(", "),
                            plan.join(", ")
                        ),
                    );
                }
            }
            let first = steps.first().copied().unwrap_or(Percent::FULL);
            if first > env.max_step_increase {
                return deny(
                    format!("{name}.max_step_increase"),
                    format!(
                        "the first step {first} exceeds the largest allowed step of {} in {name}; start lower",
                        env.max_step_increase
                    ),
                );
            }
            if let Some(d) = before_a_start(name, env, *facts, now) {
                return d;
            }
            if first > env.max_auto_percent {
                return human_gate(
                    format!("{name}.max_auto_percent"),
                    format!(
                        "the first step {first} is above {name}'s max_auto_percent ({}); a human must approve it",
                        env.max_auto_percent
                    ),
                );
            }
            Decision::Allow
        }
        Action::AdvanceCanary {
            from, to, dwell, ..
        } => advance_bounds(name, env, *from, *to, *dwell, usage),
        _ => Decision::Allow,
    }
}

/// What every start (a canary or an experiment) meets before anyone is exposed: the pre-release
/// checklist, then a human's approval where the environment asks for one.
fn before_a_start(
    name: &str,
    env: &EnvPolicy,
    facts: Option<&ChecklistFacts>,
    now: Timestamp,
) -> Option<Decision> {
    if let Some(d) = facts.and_then(|f| checklist(name, env, f, now)) {
        return Some(d);
    }
    env.requires_start_approval.then(|| {
        human_gate(
            format!("{name}.requires_start_approval"),
            format!("starting a rollout in {name} needs a human's approval"),
        )
    })
}

/// The environment's bound on rollouts started a day (canaries and experiments alike), if reached.
fn rollouts_per_day(name: &str, env: &EnvPolicy, usage: &Usage) -> Option<Decision> {
    let limit = env.rate_limits.rollouts_per_day?;
    (usage.rollouts_started_last_day >= limit).then(|| {
        deny(
            format!("{name}.rate_limits.rollouts_per_day"),
            format!(
                "{} rollouts started in {name} in the last 24 h, the limit is {limit}; wait or ask a human",
                usage.rollouts_started_last_day
            ),
        )
    })
}

/// The pre-release checklist: a refusal naming every missing item and how to supply it.
fn checklist(
    name: &str,
    env: &EnvPolicy,
    facts: &ChecklistFacts,
    now: Timestamp,
) -> Option<Decision> {
    let gaps = missing(&env.checklist, name, facts, now);
    if gaps.is_empty() {
        return None;
    }
    let numbered: Vec<String> = gaps
        .iter()
        .enumerate()
        .map(|(i, g)| format!("({}) {g}", i + 1))
        .collect();
    Some(deny(
        format!("{name}.checklist"),
        format!(
            "the pre-release checklist for a {} change in {name} is incomplete, {} missing: {}",
            facts.change_type.as_str(),
            gaps.len(),
            numbered.join("; ")
        ),
    ))
}

/// The bounds on taking a rollout's next step, the same for an agent and for the controller: rate
/// limit, dwell, allowed steps, step size, then `max_auto_percent`, which a human passes.
fn advance_bounds(
    name: &str,
    env: &EnvPolicy,
    from: Percent,
    to: Percent,
    dwell: SignedDuration,
    usage: &Usage,
) -> Decision {
    if let Some(limit) = env.rate_limits.advances_per_hour
        && usage.advances_last_hour >= limit
    {
        return deny(
            format!("{name}.rate_limits.advances_per_hour"),
            format!(
                "this rollout advanced {} times in the last hour, the limit is {limit}; wait and advance later",
                usage.advances_last_hour
            ),
        );
    }
    let need = env.min_dwell.at(from);
    if dwell < need {
        return deny(
            format!("{name}.min_dwell"),
            format!(
                "the rollout must stay at {from} for {} (it has been {}); advance again in {}",
                fmt_duration(need),
                fmt_duration(dwell),
                fmt_duration(need - dwell)
            ),
        );
    }
    if from == to {
        return Decision::Allow;
    }
    if !env.steps.contains(&to) {
        return deny(
            format!("{name}.steps"),
            format!(
                "step {to} is not allowed in {name}; allowed steps are {}",
                percents(&env.steps)
            ),
        );
    }
    let increase =
        Percent::from_basis_points(to.basis_points().saturating_sub(from.basis_points()))
            .unwrap_or(Percent::ZERO);
    if increase > env.max_step_increase {
        return deny(
            format!("{name}.max_step_increase"),
            format!(
                "{from} → {to} is a step of {increase}, above {name}'s max_step_increase of {}",
                env.max_step_increase
            ),
        );
    }
    if to > env.max_auto_percent {
        return human_gate(
            format!("{name}.max_auto_percent"),
            format!(
                "{to} is above {name}'s max_auto_percent ({}); a human must approve this step",
                env.max_auto_percent
            ),
        );
    }
    Decision::Allow
}

/// What the system may do by itself: the controller advances only where `advance = "auto"`, within
/// every bound an agent has; it rolls back only the harm `auto_rollback` names (any other harm is a
/// proposal a human confirms); it may always pause, and resume what it paused. Freezes and change
/// windows were checked before, as for everyone.
fn system(name: &str, env: &EnvPolicy, action: &Action, usage: &Usage) -> Decision {
    match action {
        Action::AdvanceCanary {
            from, to, dwell, ..
        } => {
            if env.advance != Advance::Auto {
                return deny(
                    format!("{name}.advance"),
                    format!(
                        "in {name} the agent advances (advance = \"agent\"): the controller only records the verdict"
                    ),
                );
            }
            advance_bounds(name, env, *from, *to, *dwell, usage)
        }
        Action::AutoRollback { critical, .. } => match (env.auto_rollback, critical) {
            (AutoRollback::Any, _) | (AutoRollback::Critical, true) => Decision::Allow,
            (level, _) => human_gate(
                format!("{name}.auto_rollback"),
                format!(
                    "{name}.auto_rollback is {:?}: {}; exposure is frozen until a human confirms the rollback",
                    level.as_str(),
                    if level == AutoRollback::None {
                        "the system rolls back nothing by itself"
                    } else {
                        "the system rolls back by itself only on a tripped breaker or harm on a critical metric"
                    }
                ),
            ),
        },
        _ => Decision::Allow,
    }
}

/// Which answers in the agent's client count: an approve that reduces exposure where the level is at
/// least `reduce_only`; an approve that widens, or any reject (it keeps exposure), only under `all`;
/// a decline, a cancel, a timeout or a malformed answer never, since nobody may have seen the question.
fn answer_in_client(
    name: &str,
    level: ClientTrust,
    id: i64,
    answer: ClientAnswer,
    effect: Exposure,
) -> Decision {
    let rule = format!("{name}.confirm_in_client");
    let how = format!(
        "approval #{id} still waits: a person decides it with `flagwarden approve {id}` or `flagwarden reject {id} --reason TEXT`, or over HTTP with a human token"
    );
    if !matches!(answer, ClientAnswer::Approve | ClientAnswer::Reject) {
        return deny(
            rule,
            format!(
                "the agent's client answered {answer}, which decides nothing (a client may answer by itself, with nobody asked); {how}"
            ),
        );
    }
    let needs = match (answer, effect) {
        (ClientAnswer::Approve, Exposure::Reduce) => ClientTrust::ReduceOnly,
        _ => ClientTrust::All,
    };
    let counts = match level {
        ClientTrust::None => false,
        ClientTrust::ReduceOnly => needs == ClientTrust::ReduceOnly,
        ClientTrust::All => true,
    };
    if counts {
        return Decision::Allow;
    }
    let what = match (answer, effect) {
        (ClientAnswer::Approve, Exposure::Reduce) => "an approve that reduces exposure",
        (ClientAnswer::Approve, _) => "an approve that widens exposure",
        _ => "a reject, which keeps exposure as it is,",
    };
    let allowed = match level {
        ClientTrust::None => "no answer given in the agent's client counts",
        ClientTrust::ReduceOnly => {
            "an answer in the agent's client may only confirm what reduces exposure (a rollback, a pause)"
        }
        ClientTrust::All => "every approve or reject counts",
    };
    deny(
        rule,
        format!(
            "{name}.confirm_in_client is {:?}: {allowed}, so {what} given there decides nothing; {how}",
            level.as_str()
        ),
    )
}

fn list(actions: &[ActionKind]) -> String {
    if actions.is_empty() {
        "none".into()
    } else {
        actions
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn percents(steps: &[Percent]) -> String {
    steps
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The bounds of one environment in plain words, for `get_policy` and people.
pub fn describe(env: &EnvPolicy) -> Vec<String> {
    let mut out = vec![
        format!("agents may: {}", list(&env.agent_may)),
        format!("humans only: {}", list(&env.human_only)),
        if env.segment_steps.is_empty() {
            format!("rollout steps: {}", percents(&env.steps))
        } else {
            format!(
                "rollout steps: segments {} (half of each segment canary, half control), then {}",
                env.segment_steps.join(", "),
                percents(&env.steps)
            )
        },
        format!(
            "above {} a human approves each step; a step may add at most {}",
            env.max_auto_percent, env.max_step_increase
        ),
    ];
    if env.min_dwell.default > SignedDuration::ZERO || !env.min_dwell.per_step.is_empty() {
        let mut parts = vec![format!("default {}", fmt_duration(env.min_dwell.default))];
        for (bp, d) in &env.min_dwell.per_step {
            parts.push(format!("{}% {}", f64::from(*bp) / 100.0, fmt_duration(*d)));
        }
        out.push(format!("minimum time at each step: {}", parts.join(", ")));
    }
    for (ty, names) in &env.segments_first {
        out.push(format!(
            "a {ty} change exposes segment {} before any percentage",
            names.join(", ")
        ));
    }
    if env.requires_start_approval {
        out.push("starting a rollout needs a human's approval".into());
    }
    out.push(match env.confirm_in_client {
        ClientTrust::None => "answers in the agent's client decide nothing; a person uses the CLI or a human token".into(),
        ClientTrust::ReduceOnly => "an approve in the agent's client may confirm a rollback or a pause, nothing that widens exposure".into(),
        ClientTrust::All => "approve and reject in the agent's client count as a person's decision".into(),
    });
    out.push(match env.agent_rollback {
        AgentRollback::Allow => "an agent may roll back on its own".into(),
        AgentRollback::Propose => "an agent's rollback is a proposal a human confirms".into(),
    });
    out.push(match env.auto_rollback {
        AutoRollback::None => "harm freezes exposure and a human confirms the rollback".into(),
        AutoRollback::Critical => "a tripped breaker or critical harm rolls back at once; other harm freezes exposure for a human".into(),
        AutoRollback::Any => "any harm the gate finds rolls back at once".into(),
    });
    out.push(match env.advance {
        Advance::Agent => "the agent advances each step (advance_canary)".into(),
        Advance::Auto => {
            "the server's controller advances each step by itself within these bounds".into()
        }
    });
    let g = &env.gate;
    let required: Vec<&str> = g
        .metrics
        .iter()
        .filter(|m| m.required)
        .map(|m| m.metric.name())
        .collect();
    out.push(format!(
        "gate: promotes when {} {} shown no worse than the margin against the control arm, with no harm on any metric (false rollback {}, false promote {}, valid at every look)",
        required.join(", "),
        if required.len() == 1 { "is" } else { "are" },
        g.alpha_rollback,
        g.alpha_promote
    ));
    for b in &g.breakers {
        let (op, v) = b
            .above
            .map_or(("below", b.below.unwrap_or(0.0)), |a| ("above", a));
        out.push(format!(
            "circuit breaker: canary {} {op} {v} rolls back",
            b.metric.name()
        ));
    }
    let read_from = |who: String, p: &crate::domain::prometheus::PrometheusSource| {
        let metrics: Vec<&str> = p.metrics.iter().map(|m| m.metric.name()).collect();
        let mut line = format!(
            "{who}evidence is read from Prometheus at {} every {} ({}); do not report it again",
            p.url,
            fmt_duration(p.interval),
            if metrics.is_empty() {
                "no metrics".to_owned()
            } else {
                metrics.join(", ")
            }
        );
        for g in &p.guardrails {
            let (op, v) = g
                .above
                .map_or(("below", g.below.unwrap_or(0.0)), |a| ("above", a));
            line.push_str(&format!("; guardrail {} {op} {v} rolls back", g.name));
        }
        line
    };
    if let Some(p) = &env.prometheus {
        out.push(read_from(String::new(), p));
    }
    for (flag, p) in &env.prometheus_flags {
        out.push(read_from(format!("flag {flag}: "), p));
    }
    if env.preflight.required {
        out.push("prompt and model rollouts need a passing offline eval (record_signals with eval_pairs) before exposure".into());
    }
    if let Some(n) = env.rate_limits.advances_per_hour {
        out.push(format!("at most {n} advances per rollout per hour"));
    }
    if let Some(n) = env.rate_limits.rollouts_per_day {
        out.push(format!("at most {n} rollouts started per day"));
    }
    for w in &env.change_windows {
        out.push(format!(
            "changes only {} {}–{} ({})",
            w.days.join("/"),
            w.start,
            w.end,
            w.tz
        ));
    }
    for f in &env.freezes {
        let when = match &f.when {
            FreezeWhen::Weekly { from, to, tz, .. } => format!("every week {from} → {to} ({tz})"),
            FreezeWhen::Once { start, end } => format!("{start} → {end}"),
        };
        out.push(format!(
            "frozen {when}{}",
            if f.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", f.reason)
            }
        ));
    }
    out
}
