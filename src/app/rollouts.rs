//! Rollout use cases: start, advance (gate + policy), status, signals, rollback, and the human side:
//! approve, reject, break-glass.

use jiff::SignedDuration;
use serde_json::json;

use super::flags::{outcome, rollout_view};
use super::*;
use crate::domain::bucket::Percent;
use crate::domain::eval::Arm;
use crate::domain::evidence::ScoreSummary;
use crate::domain::flag::ChangeType;
use crate::domain::flag::FlagKey;
use crate::domain::gate::{self, ArmCounts, ArmData, GateInput, GateResult, PauseReason, Verdict};
use crate::domain::policy::fmt_duration;
use crate::domain::policy::{Action, Usage, decide};
use crate::domain::rollout::{Analysis, Event, Opening, Rollout, RolloutState};
use crate::store::Approval;
use jiff::Timestamp;

const MAX_COUNT: u64 = 1_000_000_000;
/// Arm reports per ingest batch, and eval scores per batch.
pub const MAX_BATCH: usize = 1000;
pub const MAX_SCORES: usize = 100_000;

/// What one arm of a rollout has recorded: counts, latency and eval scores.
fn arm_view(d: &ArmData) -> ArmEvidence {
    ArmEvidence {
        counts: d.counts,
        latency_p95_ms: d.latency_ms.quantile_bound(0.95),
        latency_ms: d.latency_ms,
        eval_scores: d.scores.n,
        eval_score_mean: d.scores.mean(),
        custom: d.custom.clone(),
    }
}

/// Everything reported on a rollout, and the clock, as the gate reads it.
fn gate_input(
    conn: &rusqlite::Connection,
    policy: &Policy,
    r: &Rollout,
    now: Timestamp,
) -> Result<GateInput> {
    let reported = store::signal_periods(conn, r.id)?;
    let rows: Vec<(Timestamp, Arm, ArmData)> = reported
        .rows
        .into_iter()
        .filter_map(|(at, arm, d)| {
            let arm = match arm.as_str() {
                "canary" => Arm::Canary,
                "control" => Arm::Control,
                _ => return None,
            };
            Some((at, arm, d))
        })
        .collect();
    let env = policy
        .env(&r.env)
        .expect("rollouts exist only in declared environments");
    Ok(GateInput {
        periods: gate::periods(&rows),
        first_report_at: reported.first_at,
        last_report_at: reported.last_at,
        step_started_at: r.step_started_at.unwrap_or(r.created_at),
        min_dwell: env.min_dwell.at(r.percent()),
        latency_threshold_ms: r.analysis.latency_threshold_ms,
        now,
    })
}

/// Runs the gate on a rollout under its frozen analysis.
fn run_gate(tx: &Tx, r: &Rollout) -> Result<(GateInput, GateResult)> {
    let input = gate_input(tx.conn, tx.policy, r, tx.now)?;
    let result = gate::evaluate(&r.analysis.config, &input);
    Ok((input, result))
}

/// Stores an evaluation with its inputs; the audit event of the decision it drives names the id.
fn store_evaluation(tx: &Tx, r: &Rollout, input: &GateInput, result: &GateResult) -> Result<i64> {
    let totals = gate::totals(&input.periods);
    let inputs = json!({
        "periods": input.periods.len(),
        "canary": totals.canary,
        "control": totals.control,
        "step_started_at": store::ts_text(input.step_started_at),
        "min_dwell_secs": input.min_dwell.as_secs(),
        "latency_threshold_ms": input.latency_threshold_ms,
        "last_report_at": input.last_report_at.map(store::ts_text),
        "config": r.analysis.config,
    });
    let id = store::insert_gate_evaluation(
        tx.conn,
        &store::GateEvaluation {
            id: 0,
            rollout_id: r.id,
            evaluated_at: store::ts_text(tx.now),
            verdict: format!("{:?}", result.verdict).to_uppercase(),
            config_sha256: result.config_sha256.clone(),
            inputs,
            result: state(result),
        },
    )?;
    Ok(id)
}

/// Whether the actor may record evidence in `env`.
fn may_record(tx: &Tx, env: &str) -> Decision {
    let action = Action::RecordSignals { env };
    decide(tx.policy, tx.actor, &action, &Usage::default(), tx.now)
}

/// Counts must be plausible: each under a bound, no part above its whole, for a real arm. Fields are
/// named with `at` in front (e.g. `signals[3].`).
fn check_counts(c: &ArmCounts, arm: Arm, at: &str) -> Result<()> {
    for (field, v) in ArmCounts::NAMES.into_iter().zip(c.values()) {
        if v > MAX_COUNT {
            return Err(invalid(
                &format!("{at}{field}"),
                format!("at most {MAX_COUNT} per report; split the batch"),
            ));
        }
    }
    for (part, whole, a, b) in [
        ("errors", "requests", c.errors, c.requests),
        (
            "task_successes",
            "task_attempts",
            c.task_successes,
            c.task_attempts,
        ),
        (
            "safety_passes",
            "safety_checks",
            c.safety_passes,
            c.safety_checks,
        ),
    ] {
        if a > b {
            return Err(invalid(
                &format!("{at}{part}"),
                format!("{part} ({a}) cannot exceed {whole} ({b})"),
            ));
        }
    }
    if arm == Arm::Excluded {
        return Err(invalid(
            &format!("{at}arm"),
            "report evidence for the canary or the control arm",
        ));
    }
    Ok(())
}

/// The flag exists but nothing is rolling out: a conflict with the current state (another agent may
/// have rolled it back or finished it), recorded like any other.
fn no_rollout(key: &str, env: &str) -> AppError {
    AppError::Conflict(format!(
        "flag {key:?} has no active rollout in {env}; start one with start_canary"
    ))
}

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

/// What a human is asked to decide.
struct ApprovalRequest<'a> {
    kind: &'a str,
    rollout: Option<&'a Rollout>,
    flag: &'a str,
    env: &'a str,
    rule: &'a str,
    reason: &'a str,
    target: Option<Percent>,
}

impl Tx<'_> {
    /// A pending approval that the acting human may decide.
    fn pending_approval(&self, id: i64) -> Result<Approval> {
        if !matches!(self.actor, Actor::Human(_)) {
            return Err(AppError::Conflict(
                "only a human can approve or reject".into(),
            ));
        }
        let a = store::approval(self.conn, id)?.ok_or_else(|| {
            AppError::NotFound(format!(
                "approval {id} does not exist; `flagwarden approvals` lists them"
            ))
        })?;
        if a.status != "pending" {
            return Err(AppError::Conflict(format!(
                "approval {id} is already {}",
                a.status
            )));
        }
        Ok(a)
    }

    fn usage(&self, env: &str, rollout: Option<&Rollout>) -> Result<Usage> {
        let hour = self.now - SignedDuration::from_hours(1);
        let day = self.now - SignedDuration::from_hours(24);
        Ok(Usage {
            flags_created_last_day: 0,
            rollouts_started_last_day: store::count_rollouts_started_since(self.conn, env, day)?,
            advances_last_hour: match rollout {
                Some(r) => store::count_actions_since(self.conn, "advance_canary", r.id, hour)?,
                None => 0,
            },
            break_glass_until: store::break_glass_until(self.conn, env, self.now)?,
        })
    }

    fn bump(&self, flag: &mut Flag) -> Result<()> {
        flag.version += 1;
        flag.updated_at = self.now;
        store::update_flag(self.conn, flag)?;
        Ok(())
    }

    /// Puts the rollout's exposure in force: the environment is on, everyone else gets the LKG.
    fn expose(&self, flag: &mut Flag, r: &Rollout) -> Result<()> {
        let s = flag
            .envs
            .get_mut(&r.env)
            .expect("flags carry every declared environment");
        s.enabled = true;
        s.default_variant = r.lkg.clone();
        s.pinned_variant = None;
        s.updated_at = self.now;
        store::upsert_env(self.conn, flag.key.as_str(), &r.env, s)?;
        Ok(())
    }

    fn open_approval(&self, req: ApprovalRequest) -> Result<i64> {
        let ApprovalRequest {
            kind,
            rollout,
            flag,
            env,
            rule,
            reason,
            target,
        } = req;
        let needed = self.policy.env(env).map_or(1, |e| e.approvals);
        let a = Approval {
            id: 0,
            kind: kind.into(),
            flag: flag.into(),
            env: env.into(),
            rollout_id: rollout.map(|r| r.id),
            target_percent: target.map(Percent::as_f64),
            requested_by: format!("{}:{}", self.actor.kind(), self.actor.name()),
            rule: rule.into(),
            reason: reason.into(),
            status: "pending".into(),
            approvals_needed: needed,
            approved_by: Vec::new(),
            decided_by: None,
            decision_reason: None,
            created_at: store::ts_text(self.now),
            decided_at: None,
            decided_via: None,
        };
        Ok(store::insert_approval(self.conn, &a)?)
    }

    /// The pointer flip: everyone in `env` gets the LKG (or the off variant when nothing was rolling out).
    fn roll_back(
        &self,
        flag: &mut Flag,
        env: &str,
        rollout: Option<&Rollout>,
    ) -> Result<Option<Rollout>> {
        let target = rollout.map_or_else(|| flag.off_variant.clone(), |r| r.lkg.clone());
        let s = flag
            .envs
            .get_mut(env)
            .expect("flags carry every declared environment");
        s.pinned_variant = Some(target);
        s.updated_at = self.now;
        store::upsert_env(self.conn, flag.key.as_str(), env, s)?;
        let done = match rollout {
            Some(r) => {
                let done = r
                    .apply(Event::RollBack, self.now)
                    .map_err(|e| AppError::Conflict(e.0))?;
                store::save_rollout(self.conn, &done)?;
                Some(done)
            }
            None => None,
        };
        for mut a in store::pending_approvals_for(self.conn, flag.key.as_str(), env)? {
            a.status = "superseded".into();
            a.decided_at = Some(store::ts_text(self.now));
            a.decision_reason = Some("the flag was rolled back".into());
            store::update_approval(self.conn, &a)?;
        }
        self.bump(flag)?;
        Ok(done)
    }
}

fn pause_label(reason: PauseReason) -> &'static str {
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
fn open_draft(tx: &mut Tx, flag: &mut Flag, r: &Rollout, m: &Meta) -> Step<CanaryOutput> {
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

/// The gate said ROLLBACK. A critical finding rolls back at once where the policy lets the system
/// do so (`auto_rollback_critical`), recorded as the system's own audit event; otherwise exposure
/// freezes and a human is asked to confirm.
fn act_on_harm(
    tx: &mut Tx,
    flag: &mut Flag,
    r: &Rollout,
    gate: &GateResult,
    evaluation: i64,
) -> Result<(Rollout, Option<i64>, String)> {
    let env = r.env.clone();
    let why = gate.reasons.join("; ");
    let auto = tx
        .policy
        .env(&env)
        .is_some_and(|e| e.auto_rollback_critical);
    if gate.critical && auto {
        let before = state(r);
        let done = tx
            .roll_back(flag, &env, Some(r))?
            .expect("a rollout was given");
        tx.system_events.push((
            "rollback".into(),
            Audit {
                flag: Some(r.flag.clone()),
                env: Some(env.clone()),
                rollout_id: Some(r.id),
                decision: Some(Decision::Allow),
                before,
                after: json!({"rollout": done, "gate_evaluation_id": evaluation}),
                ..Audit::default()
            },
            Some(format!("auto_rollback_critical: {why}")),
        ));
        let summary = format!(
            "rolled back at once by the system (auto_rollback_critical): {why}; everyone in {env} gets {:?}",
            r.lkg
        );
        return Ok((done, None, summary));
    }
    if r.state == RolloutState::RollbackPending {
        return Ok((
            r.clone(),
            None,
            format!("a rollback is already proposed and waits for a human: {why}"),
        ));
    }
    let next = r
        .apply(Event::ProposeRollback, tx.now)
        .map_err(|e| AppError::Conflict(e.0))?;
    store::save_rollout(tx.conn, &next)?;
    let a = tx.open_approval(ApprovalRequest {
        kind: "rollback",
        rollout: Some(&next),
        flag: &r.flag,
        env: &env,
        rule: "gate",
        reason: &why,
        target: None,
    })?;
    tx.bump(flag)?;
    let summary = format!(
        "propose a rollback (approval #{a}): the gate says ROLLBACK ({why}); exposure is frozen at {} until a human confirms with `flagwarden approve {a}`",
        next.percent()
    );
    Ok((next, Some(a), summary))
}

/// New evidence on a rollout may reveal a critical harm (a tripped breaker, harm on a critical
/// metric): act on it now rather than at the agent's next look, as the system. Returns what was done.
fn react_to_evidence(tx: &mut Tx, rollout_id: i64) -> Result<Option<String>> {
    let Some(r) = store::rollout(tx.conn, rollout_id)? else {
        return Ok(None);
    };
    if !matches!(
        r.state,
        RolloutState::Running | RolloutState::AwaitingApproval | RolloutState::RollbackPending
    ) {
        return Ok(None);
    }
    let (input, gate) = run_gate(tx, &r)?;
    if !(gate.verdict == Verdict::Rollback && gate.critical) {
        return Ok(None);
    }
    let evaluation = store_evaluation(tx, &r, &input, &gate)?;
    let before = state(&r);
    let mut flag = store::load_flag(tx.conn, &r.flag)?.ok_or_else(|| not_found_flag(&r.flag))?;
    let (next, approval, summary) = act_on_harm(tx, &mut flag, &r, &gate, evaluation)?;
    if let Some(a) = approval {
        tx.system_events.push((
            "propose_rollback".into(),
            Audit {
                flag: Some(r.flag.clone()),
                env: Some(r.env.clone()),
                rollout_id: Some(r.id),
                approval_id: Some(a),
                decision: Some(Decision::Allow),
                before,
                after: json!({"rollout": next, "gate_evaluation_id": evaluation}),
                evidence_only: true,
            },
            Some(summary.clone()),
        ));
    }
    Ok(Some(summary))
}

/// Records a paired offline eval of the rollout's candidate against its last-known-good. A
/// significant regression rejects the candidate: a DRAFT rollout is aborted before anyone saw it.
fn record_preflight(
    tx: &mut Tx,
    flag: &mut Flag,
    r: &Rollout,
    pairs: &[gate::EvalPair],
    suite: &str,
) -> Result<(gate::PreflightResult, String)> {
    let cfg = &tx.policy.env(&r.env).expect("declared").preflight;
    let result = gate::preflight(pairs, cfg.alpha, cfg.score_margin, cfg.min_items);
    let verdict = format!("{:?}", result.verdict).to_uppercase();
    let id = store::insert_preflight(
        tx.conn,
        &store::PreflightRun {
            id: 0,
            flag: r.flag.clone(),
            candidate: r.candidate.clone(),
            baseline: r.lkg.clone(),
            suite: suite.to_owned(),
            items: result.items,
            verdict: verdict.clone(),
            result: state(&result),
            recorded_at: store::ts_text(tx.now),
        },
    )?;
    let mut summary = format!(
        "preflight #{id} of {:?} against {:?}: {verdict} ({})",
        r.candidate,
        r.lkg,
        result.reasons.join("; ")
    );
    if result.verdict == Verdict::Rollback && r.state == RolloutState::Draft {
        let next = r
            .apply(Event::Abort, tx.now)
            .map_err(|e| AppError::Conflict(e.0))?;
        store::save_rollout(tx.conn, &next)?;
        tx.bump(flag)?;
        summary.push_str(&format!(
            "; rollout {} is ABORTED before any exposure",
            r.id
        ));
    } else if result.verdict == Verdict::Promote && r.state == RolloutState::Draft {
        summary.push_str("; call advance_canary to open the rollout");
    }
    Ok((result, summary))
}

fn canary(
    o: Outcome,
    r: Option<&Rollout>,
    gate: Option<GateResult>,
    approval_id: Option<i64>,
) -> CanaryOutput {
    CanaryOutput {
        outcome: o,
        rollout: r.map(rollout_view),
        gate,
        approval_id,
    }
}

impl App {
    pub fn start_canary(&self, actor: &Actor, req: &StartCanary) -> Result<CanaryOutput> {
        let m = &req.meta;
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
            let decision = decide(tx.policy, tx.actor, &Action::StartCanary { env, steps: &steps }, &usage, tx.now);
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
            let (input, gate) = run_gate(tx, &r)?;
            let evaluation = store_evaluation(tx, &r, &input, &gate)?;
            let mut audit = Audit { flag: Some(req.key.clone()), env: Some(env.into()), rollout_id: Some(r.id), before: state(&r), ..Audit::default() };
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
                audit.after = json!({"rollout": next, "gate_evaluation_id": evaluation});
                audit.decision = Some(Decision::Allow);
                let summary = format!("pause rollout {} at {}: {why}; exposure stays as it is until a human runs `flagwarden resume {}`", r.id, r.percent(), r.id);
                return Ok(Done { output: canary(outcome(tx, &Decision::Allow, flag.version, summary), Some(&next), Some(gate), None), audit });
            }
            let from = r.percent();
            let target = r.next_step();
            let to = target.map_or(Percent::FULL, |i| r.steps[i]);
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
                let summary = format!("hold at {from}: {}{eta}", gate.reasons.join("; "));
                audit.after = json!({"rollout": r, "gate_evaluation_id": evaluation});
                return Ok(Done { output: canary(outcome(tx, &decision, flag.version, summary), Some(&r), Some(gate), None), audit });
            }
            let (mut next, approval_id, summary) = match (&decision, target) {
                (Decision::NeedsApproval { rule, message }, Some(t)) => {
                    let next = r.apply(Event::RequestApproval { target: t }, tx.now).map_err(|e| AppError::Conflict(e.0))?;
                    let a = tx.open_approval(ApprovalRequest { kind: "advance_canary", rollout: Some(&next), flag: flag.key.as_str(), env, rule, reason: &m.reason, target: Some(to) })?;
                    (next, Some(a), format!("open approval #{a} to go from {from} to {to} ({message}); a human runs `flagwarden approve {a}`"))
                }
                (_, Some(_)) => {
                    let next = r.apply(Event::Advance, tx.now).map_err(|e| AppError::Conflict(e.0))?;
                    (next, None, format!("advance rollout {} from {from} to {to} of {env}", r.id))
                }
                (_, None) => {
                    let next = r.apply(Event::Complete, tx.now).map_err(|e| AppError::Conflict(e.0))?;
                    let s = flag.envs.get_mut(env).expect("declared");
                    s.default_variant = next.candidate.clone();
                    s.updated_at = tx.now;
                    store::upsert_env(tx.conn, flag.key.as_str(), env, s)?;
                    (next, None, format!("complete rollout {}: everyone in {env} gets {:?}; it is the new last-known-good", r.id, r.candidate))
                }
            };
            freeze_latency_threshold(&mut next, &input);
            store::save_rollout(tx.conn, &next)?;
            tx.bump(&mut flag)?;
            audit.approval_id = approval_id;
            audit.after = json!({"rollout": next, "gate_evaluation_id": evaluation});
            Ok(Done { output: canary(outcome(tx, &decision, flag.version, summary), Some(&next), Some(gate), approval_id), audit })
        })
    }

    pub fn canary_status(&self, req: &FlagEnv) -> Result<CanaryStatus> {
        check_env(&self.policy.policy, &req.environment)?;
        crate::domain::flag::FlagKey::parse(&req.key)?;
        self.read(|conn, now| {
            let flag = store::load_flag(conn, &req.key)?.ok_or_else(|| not_found_flag(&req.key))?;
            let env = req.environment.as_str();
            let r = match store::active_rollout(conn, &req.key, env)? {
                Some(r) => Some(r),
                None => store::latest_rollout(conn, &req.key, env)?,
            };
            let mut missing = Vec::new();
            let (mut canary_counts, mut control_counts, mut gate_result, mut next_at) =
                Default::default();
            let mut last_evaluation = None;
            let pending: Vec<i64> = store::pending_approvals_for(conn, &req.key, env)?
                .iter()
                .map(|a| a.id)
                .collect();
            if let Some(r) = &r {
                let input = gate_input(conn, &self.policy.policy, r, now)?;
                let totals = gate::totals(&input.periods);
                canary_counts = arm_view(&totals.canary);
                control_counts = arm_view(&totals.control);
                let g = gate::evaluate(&r.analysis.config, &input);
                last_evaluation = store::gate_evaluations(conn, r.id, 1)?
                    .first()
                    .map(|e| e.id);
                if !r.state.is_terminal() {
                    missing.extend(
                        g.reasons
                            .iter()
                            .filter(|_| g.verdict != Verdict::Promote)
                            .cloned(),
                    );
                    if g.dwell_remaining_secs > 0 {
                        next_at = Some(store::ts_text(
                            now + SignedDuration::from_secs(g.dwell_remaining_secs),
                        ));
                    }
                    if !pending.is_empty() {
                        missing.push(format!("a human's decision on approval(s) {pending:?}"));
                    }
                    if let Some(why) = &r.paused_reason {
                        missing.push(format!(
                            "paused ({why}): a human resumes it with `flagwarden resume {}`",
                            r.id
                        ));
                    }
                }
                gate_result = Some(g);
            }
            Ok(CanaryStatus {
                key: req.key.clone(),
                environment: env.into(),
                version: flag.version,
                rollout: r.as_ref().map(rollout_view),
                gate: gate_result,
                canary: canary_counts,
                control: control_counts,
                next_advance_at: next_at,
                missing,
                pending_approvals: pending,
                last_evaluation,
            })
        })
    }

    pub fn record_signals(&self, actor: &Actor, req: &RecordSignals) -> Result<SignalsOutput> {
        let c = &req.counts;
        check_counts(c, req.arm, "")?;
        if req.eval_pairs.len() > MAX_SCORES {
            return Err(invalid(
                "eval_pairs",
                format!("at most {MAX_SCORES} items per call"),
            ));
        }
        for (i, p) in req.eval_pairs.iter().enumerate() {
            for (side, v) in [("candidate", p.candidate), ("baseline", p.baseline)] {
                if !(0.0..=1.0).contains(&v) {
                    return Err(invalid(
                        &format!("eval_pairs[{i}].{side}"),
                        format!(
                            "{v} is outside [0, 1]; use 1/0 for pass/fail or a score scaled to [0, 1]"
                        ),
                    ));
                }
            }
        }
        if *c == ArmCounts::default() && req.eval_pairs.is_empty() {
            return Err(invalid(
                "requests",
                "all counts are zero; report at least one count (or eval_pairs for a preflight)",
            ));
        }
        let meta = Meta {
            reason: req.reason.clone(),
            idempotency_key: req.idempotency_key.clone(),
            dry_run: req.dry_run,
        };
        self.mutate(actor, "record_signals", req, &meta, |tx| {
            let mut flag = tx.flag(&req.key)?;
            tx.env(&req.environment)?;
            let env = req.environment.as_str();
            let r = store::active_rollout(tx.conn, flag.key.as_str(), env)?
                .ok_or_else(|| no_rollout(&req.key, env))?;
            let decision = may_record(tx, env);
            let mut audit = Audit {
                flag: Some(req.key.clone()),
                env: Some(env.into()),
                rollout_id: Some(r.id),
                decision: Some(decision.clone()),
                evidence_only: true,
                ..Audit::default()
            };
            if decision != Decision::Allow {
                return tx.refuse(audit, &decision);
            }
            if !req.eval_pairs.is_empty() {
                let (result, summary) =
                    record_preflight(tx, &mut flag, &r, &req.eval_pairs, &req.reason)?;
                audit.after = state(&result);
                return Ok(Done {
                    output: SignalsOutput {
                        outcome: outcome(tx, &decision, flag.version, summary),
                        rollout_id: r.id,
                        arm: req.arm,
                        totals: ArmCounts::default(),
                        preflight: Some(result),
                    },
                    audit,
                });
            }
            let data = ArmData {
                counts: *c,
                ..ArmData::default()
            };
            let row = store::SignalRow {
                rollout_id: r.id,
                arm: req.arm.as_str(),
                data: &data,
                batch_id: None,
            };
            store::insert_signals(tx.conn, &row, tx.now)?;
            let totals = store::arm_totals(tx.conn, r.id, req.arm.as_str())?;
            audit.after = state(&totals);
            let mut summary = format!(
                "record {} requests / {} errors on the {} arm of rollout {}",
                c.requests,
                c.errors,
                req.arm.as_str(),
                r.id
            );
            if let Some(what) = react_to_evidence(tx, r.id)? {
                summary = format!("{summary}; {what}");
            }
            Ok(Done {
                output: SignalsOutput {
                    outcome: outcome(tx, &decision, flag.version, summary),
                    rollout_id: r.id,
                    arm: req.arm,
                    totals,
                    preflight: None,
                },
                audit,
            })
        })
    }

    /// Evidence from applications: every arm report of the batch lands in one transaction with one
    /// audit event, or none does. The batch id is the idempotency key.
    pub fn ingest_signals(&self, app: &Actor, batch: &SignalBatch) -> Result<IngestOutput> {
        let id = batch.batch_id.as_str();
        if id.is_empty() || id.len() > 200 {
            return Err(invalid(
                "batch_id",
                "use 1 to 200 characters, e.g. a UUID per batch",
            ));
        }
        let env = batch
            .environment
            .as_deref()
            .ok_or_else(|| invalid("environment", "name the environment the evidence is from"))?;
        check_env(&self.policy.policy, env)?;
        if batch.signals.is_empty() || batch.signals.len() > MAX_BATCH {
            return Err(invalid(
                "signals",
                format!("send 1 to {MAX_BATCH} arm reports per batch"),
            ));
        }
        let mut scores = Vec::with_capacity(batch.signals.len());
        let mut total_scores = 0;
        for (i, s) in batch.signals.iter().enumerate() {
            let at = format!("signals[{i}].");
            FlagKey::parse(&s.flag).map_err(|e| invalid(&format!("{at}flag"), e.message))?;
            check_counts(&s.counts, s.arm, &at)?;
            if s.latency_ms.counts.iter().any(|c| *c > MAX_COUNT) {
                return Err(invalid(
                    &format!("{at}latency_ms"),
                    format!("at most {MAX_COUNT} per bucket per report; split the batch"),
                ));
            }
            total_scores += s.eval_scores.len();
            if total_scores > MAX_SCORES {
                return Err(invalid(
                    &format!("{at}eval_scores"),
                    format!("at most {MAX_SCORES} eval scores per batch; split the batch"),
                ));
            }
            let summary = ScoreSummary::of(&s.eval_scores).map_err(|(j, x)| {
                invalid(
                    &format!("{at}eval_scores[{j}]"),
                    format!("{x} is outside [0, 1]; scale scores to [0, 1]"),
                )
            })?;
            for (name, c) in &s.custom {
                let field = format!("{at}custom.{name}");
                crate::domain::gate::Metric::parse(name).map_err(|m| invalid(&field, m))?;
                if c.events > c.trials || c.trials > MAX_COUNT {
                    return Err(invalid(
                        &field,
                        format!(
                            "events ({}) cannot exceed trials ({}), and trials are at most {MAX_COUNT}",
                            c.events, c.trials
                        ),
                    ));
                }
            }
            if s.counts == ArmCounts::default()
                && s.latency_ms.is_empty()
                && summary.n == 0
                && s.custom.is_empty()
            {
                return Err(invalid(
                    &format!("{at}requests"),
                    "the report is empty; report at least one count, latency or score",
                ));
            }
            scores.push(summary);
        }
        // Batch ids are unique per caller: two applications that number their batches alike do not
        // collide.
        let meta = Meta {
            reason: String::new(),
            idempotency_key: Some(format!("{}/{id}", app.name())),
            dry_run: false,
        };
        self.mutate(app, "ingest_signals", batch, &meta, |tx| {
            let decision = may_record(tx, env);
            let one_flag = batch.signals.iter().all(|s| s.flag == batch.signals[0].flag);
            let mut audit = Audit {
                flag: one_flag.then(|| batch.signals[0].flag.clone()),
                env: Some(env.into()),
                decision: Some(decision.clone()),
                evidence_only: true,
                ..Audit::default()
            };
            if decision != Decision::Allow {
                return tx.refuse(audit, &decision);
            }
            let mut touched: Vec<(String, i64, Arm)> = Vec::new();
            for (i, (s, summary)) in batch.signals.iter().zip(&scores).enumerate() {
                let r = store::active_rollout(tx.conn, &s.flag, env)?.ok_or_else(|| {
                    invalid(
                        &format!("signals[{i}].flag"),
                        format!(
                            "flag {:?} has no active rollout in {env}: evidence is recorded per rollout arm",
                            s.flag
                        ),
                    )
                })?;
                let part = format!("{id}#{i}");
                let data = ArmData { counts: s.counts, latency_ms: s.latency_ms, scores: *summary, custom: s.custom.clone() };
                let row = store::SignalRow { rollout_id: r.id, arm: s.arm.as_str(), data: &data, batch_id: Some(&part) };
                store::insert_signals(tx.conn, &row, tx.now)?;
                if !touched.iter().any(|(_, rid, arm)| *rid == r.id && *arm == s.arm) {
                    touched.push((s.flag.clone(), r.id, s.arm));
                }
            }
            let rollouts = touched
                .into_iter()
                .map(|(flag, rollout_id, arm)| {
                    Ok(IngestedArm {
                        totals: store::arm_totals(tx.conn, rollout_id, arm.as_str())?,
                        flag,
                        rollout_id,
                        arm,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let mut reacted = Vec::new();
            for rid in rollouts.iter().map(|r| r.rollout_id).collect::<std::collections::BTreeSet<_>>() {
                reacted.extend(react_to_evidence(tx, rid)?);
            }
            audit.after = json!({"rollouts": rollouts, "reactions": reacted});
            Ok(Done {
                output: IngestOutput {
                    batch_id: id.to_owned(),
                    environment: env.to_owned(),
                    accepted: batch.signals.len(),
                    rollouts,
                    audit_seq: None,
                },
                audit,
            })
        })
    }

    pub fn rollback(&self, actor: &Actor, req: &RollbackFlag) -> Result<CanaryOutput> {
        let m = &req.meta;
        if m.reason.trim().is_empty() {
            return Err(invalid(
                "reason",
                "say why you roll back; the human confirming it reads this",
            ));
        }
        self.mutate(actor, "rollback", req, m, |tx| {
            let mut flag = tx.flag(&req.key)?;
            tx.env(&req.environment)?;
            let env = req.environment.as_str();
            tx.check_version(&flag, req.expected_version)?;
            let r = store::active_rollout(tx.conn, flag.key.as_str(), env)?;
            let decision = decide(tx.policy, tx.actor, &Action::Rollback { env }, &Usage::default(), tx.now);
            let mut audit =
                Audit { flag: Some(req.key.clone()), env: Some(env.into()), rollout_id: r.as_ref().map(|r| r.id), decision: Some(decision.clone()), before: state(&flag.envs[env]), ..Audit::default() };
            match &decision {
                Decision::Deny { .. } => tx.refuse(audit, &decision),
                Decision::NeedsApproval { rule, .. } => {
                    if let Some(r) = &r
                        && r.state == crate::domain::rollout::RolloutState::RollbackPending
                    {
                        let pending = store::pending_approvals_for(tx.conn, flag.key.as_str(), env)?;
                        return Err(AppError::Conflict(format!(
                            "a rollback of {} in {env} is already proposed (approval {:?}); a human confirms it with `flagwarden approve ID`",
                            flag.key,
                            pending.iter().map(|a| a.id).collect::<Vec<_>>()
                        ))
                        .into());
                    }
                    let next = match &r {
                        Some(r) => {
                            let next = r.apply(Event::ProposeRollback, tx.now).map_err(|e| AppError::Conflict(e.0))?;
                            store::save_rollout(tx.conn, &next)?;
                            Some(next)
                        }
                        None => None,
                    };
                    let a = tx.open_approval(ApprovalRequest { kind: "rollback", rollout: next.as_ref(), flag: flag.key.as_str(), env, rule, reason: &m.reason, target: None })?;
                    tx.bump(&mut flag)?;
                    audit.approval_id = Some(a);
                    audit.after = json!({"rollout": next, "approval_id": a});
                    let summary = format!(
                        "propose rolling back {} in {env} (approval #{a}); exposure is frozen until a human confirms with `flagwarden approve {a}`",
                        flag.key
                    );
                    Ok(Done { output: canary(outcome(tx, &decision, flag.version, summary), next.as_ref(), None, Some(a)), audit })
                }
                Decision::Allow => {
                    let done = tx.roll_back(&mut flag, env, r.as_ref())?;
                    audit.after = state(&flag.envs[env]);
                    let pin = flag.envs[env].pinned_variant.clone().unwrap_or_default();
                    let summary = format!("roll back {} in {env}: everyone gets {pin:?} now", flag.key);
                    Ok(Done { output: canary(outcome(tx, &decision, flag.version, summary), done.as_ref(), None, None), audit })
                }
            }
        })
    }

    /// A human approves a pending request; when enough humans have, it takes effect.
    pub fn approve(
        &self,
        human: &Actor,
        id: i64,
        reason: &str,
        via: Channel,
    ) -> Result<ApprovalDecision> {
        let args = json!({"id": id, "reason": reason, "via": via});
        self.mutate(human, "approve", &args, &Meta::because(reason), |tx| {
            let mut a = tx.pending_approval(id)?;
            let me = tx.actor.name().to_owned();
            if a.approved_by.contains(&me) {
                return Err(AppError::Conflict(format!(
                    "{me} already approved {id}; it needs {} approval(s) from different humans",
                    a.approvals_needed
                ))
                .into());
            }
            let mut flag = tx.flag(&a.flag)?;
            let rollout = match a.rollout_id {
                Some(rid) => store::rollout(tx.conn, rid)?,
                None => None,
            };
            let mut audit = Audit {
                flag: Some(a.flag.clone()),
                env: Some(a.env.clone()),
                rollout_id: a.rollout_id,
                approval_id: Some(id),
                before: state(&a),
                ..Audit::default()
            };
            // Approving does not lift freezes: an approved step still waits for the window.
            if a.kind != "rollback" {
                let r = rollout
                    .as_ref()
                    .ok_or_else(|| AppError::Conflict(format!("approval {id} has no rollout")))?;
                let to = a
                    .target_percent
                    .and_then(|p| Percent::from_percent(p).ok())
                    .unwrap_or(Percent::FULL);
                let action = Action::AdvanceCanary {
                    env: &a.env,
                    from: r.percent(),
                    to,
                    dwell: SignedDuration::MAX,
                };
                let usage = tx.usage(&a.env, Some(r))?;
                let d = decide(tx.policy, tx.actor, &action, &usage, tx.now);
                if let Decision::Deny { .. } = d {
                    audit.decision = Some(d.clone());
                    return tx.refuse(audit, &d);
                }
            }
            a.approved_by.push(me.clone());
            let executed = a.approved_by.len() as u32 >= a.approvals_needed;
            let summary = if !executed {
                format!(
                    "approval {id}: {} of {} humans approved",
                    a.approved_by.len(),
                    a.approvals_needed
                )
            } else {
                a.status = "approved".into();
                a.decided_by = Some(me.clone());
                a.decided_at = Some(store::ts_text(tx.now));
                a.decision_reason = (!reason.is_empty()).then(|| reason.to_owned());
                a.decided_via = Some(via.as_str().into());
                match a.kind.as_str() {
                    "rollback" => {
                        tx.roll_back(&mut flag, &a.env, rollout.as_ref())?;
                        format!(
                            "rolled back {} in {}: everyone gets {:?}",
                            a.flag,
                            a.env,
                            flag.envs[&a.env].pinned_variant.clone().unwrap_or_default()
                        )
                    }
                    _ => {
                        let r = rollout.as_ref().expect("checked above");
                        let next = r
                            .apply(Event::Approve, tx.now)
                            .map_err(|e| AppError::Conflict(e.0))?;
                        store::save_rollout(tx.conn, &next)?;
                        tx.expose(&mut flag, &next)?;
                        tx.bump(&mut flag)?;
                        format!(
                            "approved: rollout {} of {} in {} now serves {:?} to {}",
                            next.id,
                            a.flag,
                            a.env,
                            next.candidate,
                            next.percent()
                        )
                    }
                }
            };
            store::update_approval(tx.conn, &a)?;
            audit.after = state(&a);
            audit.decision = Some(Decision::Allow);
            Ok(Done {
                output: ApprovalDecision {
                    approval: a,
                    executed,
                    summary,
                },
                audit,
            })
        })
    }

    /// A human rejects a pending request: a start is aborted, a step stays where it was, a proposed
    /// rollback is dismissed and the rollout runs on.
    pub fn reject(
        &self,
        human: &Actor,
        id: i64,
        reason: &str,
        via: Channel,
    ) -> Result<ApprovalDecision> {
        if reason.trim().is_empty() {
            return Err(invalid(
                "reason",
                "say why you reject it; the agent reads this",
            ));
        }
        let args = json!({"id": id, "reason": reason, "via": via});
        self.mutate(human, "reject", &args, &Meta::because(reason), |tx| {
            let mut a = tx.pending_approval(id)?;
            let mut flag = tx.flag(&a.flag)?;
            if let Some(r) = a
                .rollout_id
                .map(|rid| store::rollout(tx.conn, rid))
                .transpose()?
                .flatten()
            {
                let event = if a.kind == "rollback" {
                    Event::DismissRollback
                } else {
                    Event::Reject
                };
                let next = r
                    .apply(event, tx.now)
                    .map_err(|e| AppError::Conflict(e.0))?;
                store::save_rollout(tx.conn, &next)?;
                tx.bump(&mut flag)?;
            }
            a.status = "rejected".into();
            a.decided_by = Some(tx.actor.name().to_owned());
            a.decided_at = Some(store::ts_text(tx.now));
            a.decision_reason = Some(reason.to_owned());
            a.decided_via = Some(via.as_str().into());
            store::update_approval(tx.conn, &a)?;
            let audit = Audit {
                flag: Some(a.flag.clone()),
                env: Some(a.env.clone()),
                rollout_id: a.rollout_id,
                approval_id: Some(id),
                after: state(&a),
                decision: Some(Decision::Allow),
                ..Audit::default()
            };
            let summary = format!(
                "rejected approval {id} ({} of {} in {})",
                a.kind, a.flag, a.env
            );
            Ok(Done {
                output: ApprovalDecision {
                    approval: a,
                    executed: false,
                    summary,
                },
                audit,
            })
        })
    }

    /// What a human may do to a rollout directly: resume a paused one, abort one, or (under an
    /// active break-glass) promote one to everyone.
    pub fn steer_rollout(
        &self,
        human: &Actor,
        rollout_id: i64,
        action: Steer,
        reason: &str,
    ) -> Result<CanaryOutput> {
        if !matches!(human, Actor::Human(_)) {
            return Err(AppError::Conflict(format!(
                "only a human can {} a rollout",
                action.as_str()
            )));
        }
        if reason.trim().is_empty() {
            return Err(invalid(
                "reason",
                "say why; the audit trail and the agent read this",
            ));
        }
        let args = json!({"rollout_id": rollout_id, "action": action.as_str(), "reason": reason});
        self.mutate(human, action.as_str(), &args, &Meta::because(reason), |tx| {
            let r = store::rollout(tx.conn, rollout_id)?.ok_or_else(|| {
                AppError::NotFound(format!("rollout {rollout_id} does not exist; `flagwarden flags show KEY` names a flag's rollouts"))
            })?;
            let mut flag = tx.flag(&r.flag)?;
            let env = r.env.clone();
            let event = match action {
                Steer::Resume => Event::Resume,
                Steer::Abort => Event::Abort,
                Steer::Promote => {
                    if store::break_glass_until(tx.conn, &env, tx.now)?.is_none() {
                        return Err(AppError::Conflict(format!(
                            "promoting past the gate is a break-glass override: open one first with `flagwarden break-glass --env {env} --reason ... --for 1h`"
                        ))
                        .into());
                    }
                    Event::ForcePromote
                }
            };
            let next = r.apply(event, tx.now).map_err(|e| AppError::Conflict(e.0))?;
            store::save_rollout(tx.conn, &next)?;
            for mut a in store::pending_approvals_for(tx.conn, &r.flag, &env)?.into_iter().filter(|_| next.state.is_terminal()) {
                a.status = "superseded".into();
                a.decided_at = Some(store::ts_text(tx.now));
                a.decision_reason = Some(format!("the rollout was {}", next.state.as_str()));
                store::update_approval(tx.conn, &a)?;
            }
            let summary = match action {
                Steer::Resume => format!("resumed rollout {rollout_id} at {}; the gate decides the next step", next.percent()),
                Steer::Abort => format!("aborted rollout {rollout_id}: everyone in {env} gets {:?}", r.lkg),
                Steer::Promote => {
                    let s = flag.envs.get_mut(&env).expect("declared");
                    s.default_variant = next.candidate.clone();
                    s.pinned_variant = None;
                    s.updated_at = tx.now;
                    store::upsert_env(tx.conn, flag.key.as_str(), &env, s)?;
                    format!("break-glass override: rollout {rollout_id} completed, everyone in {env} gets {:?}", next.candidate)
                }
            };
            tx.bump(&mut flag)?;
            let audit = Audit {
                flag: Some(r.flag.clone()),
                env: Some(env),
                rollout_id: Some(rollout_id),
                decision: Some(Decision::Allow),
                before: state(&r),
                after: state(&next),
                ..Audit::default()
            };
            Ok(Done { output: canary(outcome(tx, &Decision::Allow, flag.version, summary), Some(&next), None, None), audit })
        })
    }

    /// A human lifts freezes and change windows in `env` until `until`, with a reason.
    pub fn break_glass(
        &self,
        human: &Actor,
        env: &str,
        reason: &str,
        ttl: SignedDuration,
    ) -> Result<String> {
        check_env(&self.policy.policy, env)?;
        if reason.trim().is_empty() {
            return Err(invalid("reason", "break-glass needs a reason"));
        }
        if ttl <= SignedDuration::ZERO || ttl > SignedDuration::from_hours(24) {
            return Err(invalid("for", "between 1 minute and 24 hours"));
        }
        let args = json!({"env": env, "reason": reason, "for_secs": ttl.as_secs()});
        self.mutate(human, "break_glass", &args, &Meta::because(reason), |tx| {
            let until = tx.now + ttl;
            store::insert_break_glass(tx.conn, env, tx.actor.name(), reason, tx.now, until)?;
            let audit = Audit {
                env: Some(env.into()),
                after: json!({"until": store::ts_text(until)}),
                decision: Some(Decision::Allow),
                ..Audit::default()
            };
            Ok(Done {
                output: format!(
                    "freezes and change windows in {env} are lifted until {}",
                    store::ts_text(until)
                ),
                audit,
            })
        })
    }
}
