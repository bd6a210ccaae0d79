//! `start_canary`: a new rollout, running at once, awaiting a human's approval, or (for a prompt or
//! model change whose policy requires an offline eval) a DRAFT; and opening that DRAFT once its
//! preflight passed, which `advance_canary` asks for.

use super::*;
use crate::domain::bucket::Percent;
use crate::domain::flag::ChangeType;
use crate::domain::policy::{Action, Attested, ChecklistFacts, decide};
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
    let decision = decide(
        tx.policy,
        tx.actor,
        &Action::StartCanary {
            env,
            steps: &r.steps,
            checklist: None,
        },
        &usage,
        tx.now,
    );
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

/// What the checklist needs to know about the flag, when the environment has a checklist at all.
/// The words come from the request (attested by its caller) or else from the latest attestation.
fn checklist_facts(
    tx: &Tx,
    flag: &Flag,
    env: &str,
    req: &StartCanary,
    evaluated_now: bool,
) -> Result<Option<ChecklistFacts>> {
    let policy = &tx.policy.env(env).expect("checked").checklist;
    if policy.items_for(flag.change_type).is_empty() {
        return Ok(None);
    }
    let key = flag.key.as_str();
    let by_human = matches!(tx.actor, Actor::Human(_));
    let words = |item: &str, given: &Option<String>| -> Result<Option<Attested>> {
        let stored = store::latest_attestation(tx.conn, key, env, item)?.map(|a| Attested {
            text: a.text,
            by_human: a.actor_kind == "human",
            source: format!("attestation #{}", a.id),
        });
        // A person's attestation stands beside an agent's words: where only a person's counts,
        // the agent repeating its own does not undo it.
        Ok(match given {
            Some(text) if by_human || !stored.as_ref().is_some_and(|a| a.by_human) => {
                Some(Attested {
                    text: text.clone(),
                    by_human,
                    source: "start_canary".into(),
                })
            }
            _ => stored,
        })
    };
    let last = store::last_evaluated_at(tx.conn, key, env)?;
    Ok(Some(ChecklistFacts {
        flag: key.into(),
        change_type: flag.change_type,
        owner: flag.owner.clone(),
        escalation: store::flag_escalation(tx.conn, key)?,
        plan: words("plan", &req.plan)?,
        limitations: words("limitations", &req.limitations)?,
        no_evidence: words("evidence", &req.no_evidence)?,
        last_evaluated_at: if evaluated_now { Some(tx.now) } else { last },
        rehearsal: store::latest_rehearsal(tx.conn, key, env)?,
        flag_changed_at: flag.updated_at,
    }))
}

impl App {
    pub fn start_canary(&self, actor: &Actor, req: &StartCanary) -> Result<CanaryOutput> {
        let m = &req.meta;
        for (field, v) in [
            ("plan", &req.plan),
            ("limitations", &req.limitations),
            ("no_evidence", &req.no_evidence),
        ] {
            if let Some(text) = v
                && (text.trim().is_empty() || text.len() > 2000)
            {
                return Err(invalid(
                    field,
                    "say it in 1 to 2000 characters, or leave the field out",
                ));
            }
        }
        if req.rehearse {
            let r = self.rehearse(
                actor,
                &req.key,
                &req.environment,
                Some(&req.candidate_variant),
                &[],
                m,
            )?;
            return Ok(CanaryOutput {
                outcome: r.outcome,
                rollout: None,
                gate: None,
                approval_id: None,
            });
        }
        // Evaluations still in memory are the application's too: evidence flowing right now.
        let evaluated_now = self.snapshot().all_counts().any(|(f, e, _, c)| {
            f == req.key && e == req.environment && c.load(std::sync::atomic::Ordering::Relaxed) > 0
        });
        self.mutate(actor, "start_canary", req, m, |tx| {
            let mut flag = tx.flag(&req.key)?;
            tx.env(&req.environment)?;
            let env = req.environment.as_str();
            flag.variants.require("candidate_variant", &req.candidate_variant)?;
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
            if lkg == req.candidate_variant {
                return Err(invalid("candidate_variant", format!("{lkg:?} is already what everyone in {env} gets; pick the variant to roll out")).into());
            }
            let usage = tx.usage(env, None)?;
            let facts = checklist_facts(tx, &flag, env, req, evaluated_now)?;
            let decision = decide(tx.policy, tx.actor, &Action::StartCanary { env, steps: &steps, checklist: facts.as_ref() }, &usage, tx.now);
            let mut audit = Audit { flag: Some(req.key.clone()), env: Some(env.into()), decision: Some(decision.clone()), ..Audit::default() };
            if let Decision::Deny { .. } = decision {
                return tx.refuse(audit, &decision);
            }
            let gated = matches!(decision, Decision::NeedsApproval { .. });
            let env_policy = tx.policy.env(env).expect("checked");
            let needs_preflight = env_policy.preflight.required
                && matches!(flag.change_type, ChangeType::Prompt | ChangeType::Model)
                && !preflight_passed(tx.conn, flag.key.as_str(), &req.candidate_variant, &lkg)?;
            let opening = match (needs_preflight, gated) {
                (true, _) => Opening::Draft,
                (false, true) => Opening::AwaitingApproval,
                (false, false) => Opening::Running,
            };
            let analysis = Analysis { config: env_policy.gate.clone(), latency_threshold_ms: None };
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
                    format!("start rollout {id}: {} of {env} get {:?}; record signals, then advance_canary", r.percent(), r.candidate)
                }
            };
            tx.bump(&mut flag)?;
            Ok(Done { output: canary(outcome(tx, &decision, flag.version, summary), Some(&r), None, approval_id), audit })
        })
    }
}
