//! `start_canary`: a new rollout, running at once, awaiting a human's approval, or (for a prompt or
//! model change whose policy requires an offline eval) a DRAFT; and opening that DRAFT once its
//! preflight passed, which `advance_canary` asks for.

use super::*;
use crate::domain::flag::ChangeType;
use crate::domain::mode::Mode;
use crate::domain::policy::{Action, Attested, ChecklistFacts, decide};
use crate::domain::rollout::{Analysis, Event, Opening, Rollout};
use crate::domain::segment::Plan;

/// The plan a start asks for (or the environment's default), checked against the policy's
/// segments: segment names first, then percentages ending at 100.
fn parse_plan(policy: &Policy, env: &str, steps: Option<&[StepSpec]>) -> Result<Plan> {
    let Some(steps) = steps else {
        let e = policy.env(env).expect("checked");
        return Ok(Plan {
            segments: e.segment_steps.clone(),
            percents: e.steps.clone(),
        });
    };
    let plan = steps
        .iter()
        .enumerate()
        .map(|(i, s)| s.step().map_err(|m| invalid(&format!("steps[{i}]"), m)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Plan::check(
        "steps",
        &plan,
        &|n| policy.segments.contains_key(n),
        &policy.segment_names(),
    )?)
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
            checklist: None,
        },
        _ => Action::StartCanary {
            env,
            steps: &r.steps[r.analysis.audiences.len()..],
            segments: &r
                .analysis
                .audiences
                .iter()
                .map(|s| s.name.clone())
                .collect::<Vec<_>>(),
            change_type: flag.change_type,
            checklist: None,
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

/// One flag of a start: the flag, its last-known-good and its candidate.
struct Member {
    flag: Flag,
    lkg: String,
    candidate: String,
}

/// Checks one flag may start a rollout to `candidate` in `env`; `field` names a group member's
/// input (`group.members.KEY`), empty for `key` itself.
fn member(
    tx: &Tx,
    field: &str,
    key: &str,
    candidate: &str,
    env: &str,
    mode: Mode,
) -> std::result::Result<Member, Failure> {
    let flag = tx.flag(key).map_err(|e| match e {
        Failure::Error(AppError::NotFound(m)) if !field.is_empty() => {
            Failure::Error(invalid(field, m))
        }
        e => e,
    })?;
    let variant_field = if field.is_empty() {
        "candidate_variant".to_owned()
    } else {
        field.to_owned()
    };
    flag.variants.require(&variant_field, candidate)?;
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
        shadow::check_shadow(&flag, candidate, &lkg)?;
    }
    // An experiment may name the last-known-good as its candidate: its variants are what it compares.
    if lkg == candidate && mode != Mode::Experiment {
        return Err(invalid(&variant_field, format!("{lkg:?} is already what everyone in {env} gets on {key}; pick the variant to roll out")).into());
    }
    Ok(Member {
        flag,
        lkg,
        candidate: candidate.to_owned(),
    })
}

/// The flags a start moves: `key`, then a group's other members, each checked; a group needs a
/// name and at least one other flag, each named once.
fn members(
    tx: &Tx,
    req: &StartCanary,
    env: &str,
    mode: Mode,
) -> std::result::Result<Vec<Member>, Failure> {
    let mut out = vec![member(tx, "", &req.key, &req.candidate_variant, env, mode)?];
    let Some(g) = &req.group else {
        return Ok(out);
    };
    if g.name.is_empty() {
        return Err(invalid("group.name", "name the release, e.g. \"support-v2\"").into());
    }
    crate::domain::flag::FlagKey::parse(&g.name).map_err(|e| invalid("group.name", e.message))?;
    if g.members.is_empty() {
        return Err(invalid("group.members", "a group releases at least 2 flags together: name the flags that move with `key` and their candidates, e.g. {\"support-model\": \"v2\"}").into());
    }
    if store::active_group(tx.conn, &g.name, env)?.is_some() {
        return Err(AppError::Conflict(format!(
            "release group {:?} is already rolling out in {env}; finish or roll it back first",
            g.name
        ))
        .into());
    }
    for (key, candidate) in &g.members {
        let field = format!("group.members.{key}");
        if out.iter().any(|o| o.flag.key.as_str() == key) {
            return Err(invalid(
                &field,
                format!("{key:?} is already in this release as `key`; name each flag once"),
            )
            .into());
        }
        out.push(member(tx, &field, key, candidate, env, mode)?);
    }
    Ok(out)
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
        let snapshot = self.snapshot();
        let evaluated_now = |key: &str| {
            snapshot.all_counts().any(|(f, e, _, c)| {
                f == key && e == req.environment && c.load(std::sync::atomic::Ordering::Relaxed) > 0
            })
        };
        self.mutate(actor, "start_canary", req, m, |tx| {
            tx.env(&req.environment)?;
            let env = req.environment.as_str();
            let mode = req.mode.unwrap_or_default();
            let experiment_only = [("variants", req.variants.is_some()), ("weights", req.weights.is_some()), ("traffic", req.traffic.is_some()), ("primary", req.primary.is_some()), ("sample", req.sample.is_some())];
            if let Some((field, _)) = experiment_only.iter().find(|(_, given)| *given && mode != Mode::Experiment) {
                return Err(invalid(field, format!("only an experiment takes {field}: pass mode \"experiment\", or leave it out for a {}", mode.as_str())).into());
            }
            if mode == Mode::Experiment && req.steps.is_some() {
                return Err(invalid("steps", "an experiment is a fixed split, not steps: give traffic and weights instead").into());
            }
            if mode != Mode::Canary && req.group.is_some() {
                return Err(invalid("group", format!("a release group moves as one canary; start a {} per flag, or leave out mode", mode.as_str())).into());
            }
            let env_policy = tx.policy.env(env).expect("checked");
            let mut members = members(tx, req, env, mode)?;
            tx.check_version(&members[0].flag, req.expected_version)?;
            let group = req.group.as_ref().map(|g| g.name.clone());
            // An experiment is one fixed split at its traffic share; the other shapes follow a plan.
            let experiment = match mode {
                Mode::Experiment => Some(experiment::build(&members[0].flag, req, &members[0].lkg, env_policy)?),
                _ => None,
            };
            let plan = match &experiment {
                Some((_, traffic)) => Plan { segments: Vec::new(), percents: vec![*traffic] },
                None => parse_plan(tx.policy, env, req.steps.as_deref())?,
            };
            let usage = tx.usage(env, None)?;
            let mut audit = Audit { flag: Some(req.key.clone()), env: Some(env.into()), ..Audit::default() };
            // Every member passes the policy (its own change type's bounds), or none starts.
            let mut decision = Decision::Allow;
            for mb in &members {
                let facts = checklist_facts(tx, &mb.flag, env, req, evaluated_now(mb.flag.key.as_str()))?;
                let action = match &experiment {
                    Some((_, traffic)) => Action::StartExperiment { env, traffic: *traffic, checklist: facts.as_ref() },
                    None => Action::StartCanary { env, steps: &plan.percents, segments: &plan.segments, change_type: mb.flag.change_type, checklist: facts.as_ref() },
                };
                let d = decide(tx.policy, tx.actor, &action, &usage, tx.now);
                match d {
                    Decision::Deny { .. } => {
                        audit.decision = Some(d.clone());
                        return tx.refuse(audit, &d);
                    }
                    Decision::NeedsApproval { .. } if decision == Decision::Allow => decision = d,
                    _ => {}
                }
            }
            audit.decision = Some(decision.clone());
            let gated = matches!(decision, Decision::NeedsApproval { .. });
            let mut drafts = Vec::new();
            for mb in &members {
                if env_policy.preflight.required
                    && matches!(mb.flag.change_type, ChangeType::Prompt | ChangeType::Model)
                    && !preflight_passed(tx.conn, mb.flag.key.as_str(), &mb.candidate, &mb.lkg)?
                {
                    drafts.push(mb.flag.key.to_string());
                }
            }
            if group.is_some() && !drafts.is_empty() {
                return Err(AppError::Conflict(format!(
                    "a release group starts once each prompt or model member passed its offline eval in {env}; {} has none passing yet: record paired results with record_signals (eval_pairs) for {}, then start the group",
                    drafts.join(", "),
                    drafts.join(", ")
                ))
                .into());
            }
            let opening = match (!drafts.is_empty(), gated) {
                (true, _) => Opening::Draft,
                (false, true) => Opening::AwaitingApproval,
                (false, false) => Opening::Running,
            };
            let audiences = plan.segments.iter().map(|n| tx.policy.segments[n].clone()).collect::<Vec<_>>();
            let salt = group.as_ref().map(|g| format!("group/{g}"));
            let experiment = experiment.map(|(e, _)| e);
            let mut started = Vec::new();
            for mb in &members {
                let analysis = Analysis {
                    config: env_policy.gate.clone(),
                    latency_threshold_ms: None,
                    audiences: audiences.clone(),
                    group: group.clone(),
                    salt: salt.clone(),
                    mode,
                    shadow: (mode == Mode::Shadow).then(|| env_policy.shadow.clone()),
                    experiment: experiment.clone(),
                    ..Analysis::default()
                };
                let id = store::next_rollout_id(tx.conn)?;
                let r = Rollout::start(id, mb.flag.key.as_str(), env, &mb.candidate, &mb.lkg, plan.rollout_steps(), opening, analysis, tx.now);
                store::save_rollout(tx.conn, &r)?;
                started.push(r);
            }
            let r = started[0].clone();
            let id = r.id;
            audit.rollout_id = Some(id);
            audit.after = if group.is_some() { json!({"rollout": r, "group": group, "members": started}) } else { state(&r) };
            let mut approval_id = None;
            let what = match &group {
                Some(g) => format!("release group {g:?} ({})", members.iter().map(|mb| format!("{} → {:?}", mb.flag.key, mb.candidate)).collect::<Vec<_>>().join(", ")),
                None => format!("rollout {id} of {:?}", r.candidate),
            };
            let summary = match (opening, &decision) {
                (Opening::Draft, _) => format!(
                    "create rollout {id} of {:?} in {env} as a DRAFT: a {} change needs a passing offline eval first; record paired results with record_signals (eval_pairs), then advance_canary",
                    r.candidate,
                    members[0].flag.change_type.as_str()
                ),
                (_, Decision::NeedsApproval { rule, .. }) => {
                    let a = tx.open_approval(ApprovalRequest { kind: "start_canary", rollout: Some(&r), flag: &req.key, env, rule, reason: &m.reason, target: Some(r.steps[0]) })?;
                    audit.approval_id = Some(a);
                    approval_id = Some(a);
                    format!("open approval #{a} to start {what} in {env}; nobody is exposed until a human runs `flagwarden approve {a}`")
                }
                _ => {
                    for (mb, r) in members.iter_mut().zip(&started) {
                        tx.expose(&mut mb.flag, r)?;
                    }
                    match mode {
                        Mode::Canary => format!("start {what}: {} of {env} get the candidate ({}); record signals, then advance_canary", r.exposure_label(), plan.describe()),
                        Mode::Shadow => format!("start shadow run {id}: everyone in {env} gets {:?}; the shadow arm ({}) also runs {:?} unseen (OFREP metadata shadow_variant); report shadow_agreements and shadow_divergences, then advance_canary", r.lkg, r.exposure_label(), r.candidate),
                        Mode::Experiment => format!("start experiment {id}: {} of {env} split over {:?}; report each variant's evidence (variant), then advance_canary to see whether it is decided", r.percent(), r.analysis.experiment.as_ref().map(|e| e.variants.clone()).unwrap_or_default()),
                    }
                }
            };
            for mb in &mut members {
                tx.bump(&mut mb.flag)?;
            }
            Ok(Done { output: canary(outcome(tx, &decision, members[0].flag.version, summary), Some(&r), None, approval_id), audit })
        })
    }
}
