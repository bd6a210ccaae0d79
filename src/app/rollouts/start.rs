//! `start_canary`: a new rollout, running at once, awaiting a human's approval, or (for a prompt or
//! model change whose policy requires an offline eval) a DRAFT; and opening that DRAFT once its
//! preflight passed, which `advance_canary` asks for.

use super::*;
use crate::domain::bucket::Percent;
use crate::domain::flag::ChangeType;
use crate::domain::mode::Mode;
use crate::domain::policy::{Action, decide};
use crate::domain::rollout::{Analysis, Event, Opening, Rollout};

fn parse_steps(steps: &[f64]) -> Result<Vec<Percent>> {
    let mut out: Vec<Percent> = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let p = Percent::from_percent(*s).map_err(|m| invalid(&format!("steps[{i}]"), m))?;
        if p == Percent::ZERO || out.last().is_some_and(|l| *l >= p) {
            return Err(invalid(
                "steps",
                "steps must be above 0 and strictly increasing, e.g. [1, 5, 25, 50, 100]",
            ));
        }
        out.push(p);
    }
    if out.last() != Some(&Percent::FULL) {
        return Err(invalid("steps", "the last step must be 100"));
    }
    Ok(out)
}

/// Whether the latest offline eval of `candidate` against `lkg` passed.
fn preflight_passed(
    conn: &rusqlite::Connection,
    flag: &str,
    candidate: &str,
    lkg: &str,
) -> Result<bool> {
    Ok(
        store::latest_preflight(conn, flag, candidate, lkg)?
            .is_some_and(|p| p.verdict == "PROMOTE"),
    )
}

/// A DRAFT rollout opens once its preflight passed, under the policy as it is now.
pub(super) fn open_draft(
    tx: &mut Tx,
    flag: &mut Flag,
    r: &Rollout,
    m: &Meta,
) -> Step<CanaryOutput> {
    let env = r.env.as_str();
    let mut audit = Audit {
        flag: Some(r.flag.clone()),
        env: Some(env.into()),
        rollout_id: Some(r.id),
        before: state(r),
        ..Audit::default()
    };
    if !preflight_passed(tx.conn, &r.flag, &r.candidate, &r.lkg)? {
        let last = store::latest_preflight(tx.conn, &r.flag, &r.candidate, &r.lkg)?;
        let why = match last {
            Some(p) => format!(
                "the latest preflight (#{}) says {}: {}",
                p.id,
                p.verdict,
                p.result["reasons"]
                    .as_array()
                    .map(|a| a
                        .iter()
                        .filter_map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join("; "))
                    .unwrap_or_default()
            ),
            None => "no preflight recorded yet".into(),
        };
        return Err(AppError::Conflict(format!(
            "rollout {} is a DRAFT: {why}; record paired eval results with record_signals (eval_pairs: candidate and baseline score per item) until it passes",
            r.id
        ))
        .into());
    }
    let usage = tx.usage(env, None)?;
    let action = match r.analysis.mode {
        Mode::Experiment => Action::StartExperiment {
            env,
            traffic: r.steps[0],
        },
        _ => Action::StartCanary {
            env,
            steps: &r.steps,
        },
    };
    let decision = decide(tx.policy, tx.actor, &action, &usage, tx.now);
    audit.decision = Some(decision.clone());
    if let Decision::Deny { .. } = decision {
        return tx.refuse(audit, &decision);
    }
    let gated = matches!(decision, Decision::NeedsApproval { .. });
    let next = r
        .apply(
            Event::Open {
                needs_approval: gated,
            },
            tx.now,
        )
        .map_err(|e| AppError::Conflict(e.0))?;
    store::save_rollout(tx.conn, &next)?;
    let mut approval_id = None;
    let summary = if let Decision::NeedsApproval { rule, .. } = &decision {
        let a = tx.open_approval(ApprovalRequest {
            kind: "start_canary",
            rollout: Some(&next),
            flag: &r.flag,
            env,
            rule,
            reason: &m.reason,
            target: Some(next.steps[0]),
        })?;
        approval_id = Some(a);
        format!(
            "preflight passed: open approval #{a} to start rollout {}; nobody is exposed until a human runs `flagwarden approve {a}`",
            r.id
        )
    } else {
        tx.expose(flag, &next)?;
        format!(
            "preflight passed: start rollout {}: {} of {env} get {:?}",
            r.id,
            next.percent(),
            next.candidate
        )
    };
    tx.bump(flag)?;
    audit.approval_id = approval_id;
    audit.after = state(&next);
    Ok(Done {
        output: canary(
            outcome(tx, &decision, flag.version, summary),
            Some(&next),
            None,
            approval_id,
        ),
        audit,
    })
}

impl App {
    pub fn start_canary(&self, actor: &Actor, req: &StartCanary) -> Result<CanaryOutput> {
        let m = &req.meta;
        self.mutate(actor, "start_canary", req, m, |tx| {
            let mut flag = tx.flag(&req.key)?;
            tx.env(&req.environment)?;
            let env = req.environment.as_str();
            flag.variants.require("candidate_variant", &req.candidate_variant)?;
            let mode = req.mode.unwrap_or_default();
            let experiment_only = [("variants", req.variants.is_some()), ("weights", req.weights.is_some()), ("traffic", req.traffic.is_some()), ("primary", req.primary.is_some()), ("sample", req.sample.is_some())];
            if let Some((field, _)) = experiment_only.iter().find(|(_, given)| *given && mode != Mode::Experiment) {
                return Err(invalid(field, format!("only an experiment takes {field}: pass mode \"experiment\", or leave it out for a {}", mode.as_str())).into());
            }
            if mode == Mode::Experiment && req.steps.is_some() {
                return Err(invalid("steps", "an experiment is a fixed split, not steps: give traffic and weights instead").into());
            }
            let steps = match &req.steps {
                Some(s) => parse_steps(s)?,
                None => tx.policy.env(env).expect("checked").steps.clone(),
            };
            tx.check_version(&flag, req.expected_version)?;
            if let Some(r) = store::active_rollout(tx.conn, flag.key.as_str(), env)? {
                return Err(AppError::Conflict(format!(
                    "rollout {} of {} in {env} is {}: one rollout at a time; finish or roll it back first",
                    r.id,
                    flag.key,
                    r.state.as_str()
                ))
                .into());
            }
            let lkg = flag.envs[env].served_default(&flag).to_owned();
            if mode == Mode::Shadow {
                shadow::check_shadow(&flag, &req.candidate_variant, &lkg)?;
            }
            let env_policy = tx.policy.env(env).expect("checked");
            let experiment = match mode {
                Mode::Experiment => Some(experiment::build(&flag, req, &lkg, env_policy)?),
                _ => None,
            };
            let steps = match &experiment {
                Some((_, traffic)) => vec![*traffic],
                None => steps,
            };
            if lkg == req.candidate_variant && mode != Mode::Experiment {
                return Err(invalid("candidate_variant", format!("{lkg:?} is already what everyone in {env} gets; pick the variant to roll out")).into());
            }
            let usage = tx.usage(env, None)?;
            let action = match &experiment {
                Some((_, traffic)) => Action::StartExperiment { env, traffic: *traffic },
                None => Action::StartCanary { env, steps: &steps },
            };
            let decision = decide(tx.policy, tx.actor, &action, &usage, tx.now);
            let mut audit = Audit { flag: Some(req.key.clone()), env: Some(env.into()), decision: Some(decision.clone()), ..Audit::default() };
            if let Decision::Deny { .. } = decision {
                return tx.refuse(audit, &decision);
            }
            let gated = matches!(decision, Decision::NeedsApproval { .. });
            let needs_preflight = env_policy.preflight.required
                && matches!(flag.change_type, ChangeType::Prompt | ChangeType::Model)
                && !preflight_passed(tx.conn, flag.key.as_str(), &req.candidate_variant, &lkg)?;
            let opening = match (needs_preflight, gated) {
                (true, _) => Opening::Draft,
                (false, true) => Opening::AwaitingApproval,
                (false, false) => Opening::Running,
            };
            let analysis = Analysis {
                config: env_policy.gate.clone(),
                latency_threshold_ms: None,
                mode,
                shadow: (mode == Mode::Shadow).then(|| env_policy.shadow.clone()),
                experiment: experiment.map(|(e, _)| e),
                ..Analysis::default()
            };
            let id = store::next_rollout_id(tx.conn)?;
            let r = Rollout::start(id, flag.key.as_str(), env, &req.candidate_variant, &lkg, steps, opening, analysis, tx.now);
            store::save_rollout(tx.conn, &r)?;
            audit.rollout_id = Some(id);
            audit.after = state(&r);
            let mut approval_id = None;
            let summary = match (opening, &decision) {
                (Opening::Draft, _) => format!(
                    "create rollout {id} of {:?} in {env} as a DRAFT: a {} change needs a passing offline eval first; record paired results with record_signals (eval_pairs), then advance_canary",
                    r.candidate,
                    flag.change_type.as_str()
                ),
                (_, Decision::NeedsApproval { rule, .. }) => {
                    let a = tx.open_approval(ApprovalRequest { kind: "start_canary", rollout: Some(&r), flag: flag.key.as_str(), env, rule, reason: &m.reason, target: Some(r.steps[0]) })?;
                    audit.approval_id = Some(a);
                    approval_id = Some(a);
                    format!("open approval #{a} to start rollout {id} of {:?} in {env}; nobody is exposed until a human runs `flagwarden approve {a}`", r.candidate)
                }
                _ => {
                    tx.expose(&mut flag, &r)?;
                    match mode {
                        Mode::Canary => format!("start rollout {id}: {} of {env} get {:?}; record signals, then advance_canary", r.percent(), r.candidate),
                        Mode::Shadow => format!("start shadow run {id}: everyone in {env} gets {:?}; the shadow arm ({}) also runs {:?} unseen (OFREP metadata shadow_variant); report shadow_agreements and shadow_divergences, then advance_canary", r.lkg, r.percent(), r.candidate),
                        Mode::Experiment => format!("start experiment {id}: {} of {env} split over {:?}; report each variant's evidence (variant), then advance_canary to see whether it is decided", r.percent(), r.analysis.experiment.as_ref().map(|e| e.variants.clone()).unwrap_or_default()),
                    }
                }
            };
            tx.bump(&mut flag)?;
            Ok(Done { output: canary(outcome(tx, &decision, flag.version, summary), Some(&r), None, approval_id), audit })
        })
    }
}
