//! `advance_canary`: the gate reads the evidence under the rollout's frozen analysis, then policy
//! bounds the step. Harm rolls back (or proposes it), a pause stops the clock, a hold explains what
//! is missing; otherwise the rollout moves to its next step, asks a human for it, or completes.

use jiff::SignedDuration;
use serde_json::json;

use super::rollback::act_on_harm;
use super::start::open_draft;
use super::*;
use crate::domain::bucket::Percent;
use crate::domain::gate::{self, GateInput, PauseReason, Verdict};
use crate::domain::mode::Mode;
use crate::domain::policy::fmt_duration;
use crate::domain::policy::{Action, decide};
use crate::domain::rollout::{Event, Rollout, RolloutState};

pub(super) fn pause_label(reason: PauseReason) -> &'static str {
    match reason {
        PauseReason::SampleRatioMismatch => "sample-ratio mismatch",
        PauseReason::NoTraffic => "no traffic",
        PauseReason::HoldTooLong => "held past max_step_duration",
    }
}

/// Control-arm latency samples needed before its P95 is frozen as the tail-latency threshold.
const LATENCY_THRESHOLD_SAMPLES: u64 = 300;

/// At a new step, freezes the control's P95 as the threshold tail latency is judged by, once the
/// control has enough samples (until then the gate uses the control's P95 so far).
fn freeze_latency_threshold(r: &mut Rollout, input: &GateInput) {
    if r.analysis.latency_threshold_ms.is_some() {
        return;
    }
    let control = gate::totals(&input.periods).control.latency_ms;
    if control.total() >= LATENCY_THRESHOLD_SAMPLES {
        r.analysis.latency_threshold_ms = control.quantile_bound(0.95);
    }
}

/// Takes the step `decide` allowed or reserved for a human: the next step, the approval a human
/// gives for it, or completion at the last step; saves the rollout and bumps the flag. Shared by
/// `advance_canary` and the controller, so both move a rollout the same way.
pub(super) fn take_step(
    tx: &Tx,
    flag: &mut Flag,
    r: &Rollout,
    input: &GateInput,
    decision: &Decision,
    reason: &str,
) -> Result<(Rollout, Option<i64>, String)> {
    let env = r.env.as_str();
    let from = r.exposure_label();
    let target = r.next_step();
    let to = target.map_or(Percent::FULL, |i| r.steps[i]);
    let to_label = target.map_or_else(|| Percent::FULL.to_string(), |i| r.step_label(i));
    let (mut next, approval_id, summary) = match (decision, target) {
        (Decision::NeedsApproval { rule, message }, Some(t)) => {
            let next = r
                .apply(Event::RequestApproval { target: t }, tx.now)
                .map_err(|e| AppError::Conflict(e.0))?;
            let a = tx.open_approval(ApprovalRequest {
                kind: "advance_canary",
                rollout: Some(&next),
                flag: flag.key.as_str(),
                env,
                rule,
                reason,
                target: Some(to),
            })?;
            (
                next,
                Some(a),
                format!(
                    "open approval #{a} to go from {from} to {to_label} ({message}); a human runs `flagwarden approve {a}`"
                ),
            )
        }
        (_, Some(_)) => {
            let next = r
                .apply(Event::Advance, tx.now)
                .map_err(|e| AppError::Conflict(e.0))?;
            (
                next,
                None,
                format!(
                    "advance rollout {} from {from} to {to_label} of {env}",
                    r.id
                ),
            )
        }
        (_, None) => {
            let next = r
                .apply(Event::Complete, tx.now)
                .map_err(|e| AppError::Conflict(e.0))?;
            let s = flag.envs.get_mut(env).expect("declared");
            s.default_variant = next.candidate.clone();
            s.updated_at = tx.now;
            store::upsert_env(tx.conn, flag.key.as_str(), env, s)?;
            (
                next,
                None,
                format!(
                    "complete rollout {}: everyone in {env} gets {:?}; it is the new last-known-good",
                    r.id, r.candidate
                ),
            )
        }
    };
    freeze_latency_threshold(&mut next, input);
    store::save_rollout(tx.conn, &next)?;
    tx.bump(flag)?;
    // A release group takes each step together: the same transition on every other member.
    let event = match (decision, target) {
        (Decision::NeedsApproval { .. }, Some(t)) => Event::RequestApproval { target: t },
        (_, Some(_)) => Event::Advance,
        (_, None) => Event::Complete,
    };
    let moved = tx.mirror(r, event)?;
    let summary = match &r.analysis.group {
        Some(g) if !moved.is_empty() => format!(
            "release group {g:?} ({}, {}): {summary}",
            r.flag,
            moved
                .iter()
                .map(|m| m.flag.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => summary,
    };
    Ok((next, approval_id, summary))
}

impl App {
    pub fn advance_canary(&self, actor: &Actor, req: &AdvanceCanary) -> Result<CanaryOutput> {
        let m = &req.meta;
        self.mutate(actor, "advance_canary", req, m, |tx| {
            let mut flag = tx.flag(&req.key)?;
            tx.env(&req.environment)?;
            let env = req.environment.as_str();
            tx.check_version(&flag, req.expected_version)?;
            let r = store::active_rollout(tx.conn, flag.key.as_str(), env)?.ok_or_else(|| no_rollout(&req.key, env))?;
            if r.state == RolloutState::Draft {
                return open_draft(tx, &mut flag, &r, m);
            }
            // Check the state first so a waiting rollout explains what it waits for.
            r.apply(if r.at_last_step() { Event::Complete } else { Event::Advance }, tx.now).map_err(|e| AppError::Conflict(e.0))?;
            let (input, mut gate, started) = run_gate(tx, &r)?;
            let evaluation = store_evaluation(tx, &r, &input, &gate, started)?;
            let mut audit = Audit { flag: Some(req.key.clone()), env: Some(env.into()), rollout_id: Some(r.id), before: state(&r), ..Audit::default() };
            // A release group: every member's gate, and any member's harm or hold is the group's.
            let mut held = Vec::new();
            for s in tx.siblings(&r)? {
                s.apply(if s.at_last_step() { Event::Complete } else { Event::Advance }, tx.now).map_err(|e| AppError::Conflict(format!("release group member {}: {}", s.flag, e.0)))?;
                let (si, sg, st) = run_gate(tx, &s)?;
                let se = store_evaluation(tx, &s, &si, &sg, st)?;
                if sg.verdict == Verdict::Rollback && gate.verdict != Verdict::Rollback {
                    let mut sflag = tx.flag(&s.flag)?;
                    let (_, a, summary) = act_on_harm(tx, &mut sflag, &s, &sg, se)?;
                    let next = store::rollout(tx.conn, r.id)?.unwrap_or_else(|| r.clone());
                    audit.approval_id = a;
                    audit.after = json!({"rollout": next, "gate_evaluation_id": se, "harmed": s.flag});
                    audit.decision = Some(Decision::Allow);
                    flag = tx.flag(&req.key)?;
                    let summary = format!("release group {:?}: harm on member {}: {summary}", r.analysis.group.as_deref().unwrap_or_default(), s.flag);
                    return Ok(Done { output: canary(outcome(tx, &Decision::Allow, flag.version, summary), Some(&next), Some(sg), a), audit });
                }
                if sg.pause.is_some() && gate.pause.is_none() && gate.verdict != Verdict::Rollback {
                    gate.pause = sg.pause;
                    gate.reasons.extend(sg.reasons.iter().map(|why| format!("{}: {why}", s.flag)));
                }
                if sg.verdict == Verdict::Hold {
                    held.extend(sg.reasons.iter().map(|why| format!("{}: {why}", s.flag)));
                }
            }
            if !held.is_empty() && gate.verdict == Verdict::Promote {
                gate.verdict = Verdict::Hold;
            }
            if gate.verdict == Verdict::Hold {
                gate.reasons.extend(held);
            }
            if gate.verdict == Verdict::Rollback {
                // Evidence of harm outranks every other bound.
                let (next, a, summary) = act_on_harm(tx, &mut flag, &r, &gate, evaluation)?;
                audit.approval_id = a;
                audit.after = json!({"rollout": next, "gate_evaluation_id": evaluation});
                audit.decision = Some(Decision::Allow);
                return Ok(Done { output: canary(outcome(tx, &Decision::Allow, flag.version, summary), Some(&next), Some(gate), a), audit });
            }
            if let Some(reason) = gate.pause {
                let why = format!("{}: {}", pause_label(reason), gate.reasons.join("; "));
                let next = r.apply(Event::Pause { reason: &why }, tx.now).map_err(|e| AppError::Conflict(e.0))?;
                store::save_rollout(tx.conn, &next)?;
                tx.bump(&mut flag)?;
                tx.mirror(&r, Event::Pause { reason: &why })?;
                audit.after = json!({"rollout": next, "gate_evaluation_id": evaluation});
                audit.decision = Some(Decision::Allow);
                let summary = format!("pause rollout {} at {}: {why}; exposure stays as it is until a human runs `flagwarden resume {}`", r.id, r.percent(), r.id);
                return Ok(Done { output: canary(outcome(tx, &Decision::Allow, flag.version, summary), Some(&next), Some(gate), None), audit });
            }
            if r.analysis.mode == Mode::Experiment {
                // An experiment does not step: decided, it ends and everyone gets the
                // last-known-good again (less exposure, so nothing to ask); otherwise it holds.
                if gate.verdict == Verdict::Promote {
                    let (_, result) = experiment::judge(tx.conn, &r, &input)?;
                    let result = result.expect("an experiment has its config");
                    let (next, summary) = experiment::end(tx, &mut flag, &r, result)?;
                    audit.after = json!({"rollout": next, "gate_evaluation_id": evaluation});
                    audit.decision = Some(Decision::Allow);
                    return Ok(Done { output: canary(outcome(tx, &Decision::Allow, flag.version, summary), Some(&next), Some(gate), None), audit });
                }
                let summary = format!("hold experiment {}: {}", r.id, gate.reasons.join("; "));
                audit.after = json!({"rollout": r, "gate_evaluation_id": evaluation});
                audit.decision = Some(Decision::Allow);
                return Ok(Done { output: canary(outcome(tx, &Decision::Allow, flag.version, summary), Some(&r), Some(gate), None), audit });
            }
            let shadow_run = r.analysis.mode == Mode::Shadow;
            let (from, target) = match shadow_run {
                true => (shadow::conversion_move(&r).0, r.step),
                false => (r.percent(), r.next_step()),
            };
            let to = target.map_or(Percent::FULL, |i| r.steps[i]);
            let from_label = r.exposure_label();
            let dwell = tx.now.duration_since(r.step_started_at.unwrap_or(r.created_at));
            let usage = tx.usage(env, Some(&r))?;
            let decision = decide(tx.policy, tx.actor, &Action::AdvanceCanary { env, from, to, dwell }, &usage, tx.now);
            audit.decision = Some(decision.clone());
            if let Decision::Deny { .. } = decision {
                // A refusal keeps nothing of the attempt, the stored evaluation included.
                return tx.refuse(audit, &decision);
            }
            if gate.verdict == Verdict::Hold {
                let eta = gate.eta_secs.map(|s| format!(" (about {} at the current rate)", fmt_duration(SignedDuration::from_secs(s)))).unwrap_or_default();
                let summary = match shadow_run {
                    true => format!("hold shadow run {} (nobody exposed): {}{eta}", r.id, gate.reasons.join("; ")),
                    false => format!("hold at {from_label}: {}{eta}", gate.reasons.join("; ")),
                };
                audit.after = json!({"rollout": r, "gate_evaluation_id": evaluation});
                return Ok(Done { output: canary(outcome(tx, &decision, flag.version, summary), Some(&r), Some(gate), None), audit });
            }
            let (next, approval_id, summary) = if shadow_run {
                shadow::convert(tx, &mut flag, &r, &gate, &decision, &m.reason, evaluation)?
            } else {
                take_step(tx, &mut flag, &r, &input, &decision, &m.reason)?
            };
            audit.approval_id = approval_id;
            audit.after = json!({"rollout": next, "gate_evaluation_id": evaluation});
            Ok(Done { output: canary(outcome(tx, &decision, flag.version, summary), Some(&next), Some(gate), approval_id), audit })
        })
    }
}
