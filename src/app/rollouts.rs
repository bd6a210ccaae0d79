//! Rollout use cases: start, advance (gate + policy), status, signals, rollback, and the human side:
//! approve, reject, break-glass.

use jiff::SignedDuration;
use serde_json::json;

use super::flags::{outcome, rollout_view};
use super::*;
use crate::domain::bucket::Percent;
use crate::domain::eval::Arm;
use crate::domain::evidence::ScoreSummary;
use crate::domain::flag::FlagKey;
use crate::domain::gate::ArmCounts;
use crate::domain::gate::{self, ArmStats, GateResult, Verdict};
use crate::domain::policy::{Action, Usage, decide};
use crate::domain::rollout::{Event, Rollout};
use crate::store::Approval;

const MAX_COUNT: u64 = 1_000_000_000;
/// Arm reports per ingest batch, and eval scores per batch.
pub const MAX_BATCH: usize = 1000;
pub const MAX_SCORES: usize = 100_000;

/// What one arm of a rollout has recorded: counts, latency and eval scores.
fn arm_evidence(conn: &rusqlite::Connection, rollout_id: i64, arm: Arm) -> Result<ArmEvidence> {
    let counts = store::arm_totals(conn, rollout_id, arm.as_str())?;
    let (latency_ms, scores) = store::arm_distributions(conn, rollout_id, arm.as_str())?;
    Ok(ArmEvidence {
        counts,
        latency_p95_ms: latency_ms.quantile_bound(0.95),
        latency_ms,
        eval_scores: scores.n,
        eval_score_mean: scores.mean(),
    })
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

fn no_rollout(key: &str, env: &str) -> AppError {
    AppError::NotFound(format!(
        "flag {key:?} has no active rollout in {env}; start one with start_canary"
    ))
}

fn gate_for(tx: &Tx, r: &Rollout) -> Result<GateResult> {
    let stats = ArmStats {
        canary: store::arm_totals(tx.conn, r.id, "canary")?,
        control: store::arm_totals(tx.conn, r.id, "control")?,
    };
    let bounds = &tx
        .policy
        .env(&r.env)
        .expect("rollouts exist only in declared environments")
        .gate;
    Ok(gate::verdict(&stats, bounds))
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
            let id = store::next_rollout_id(tx.conn)?;
            let r = Rollout::start(id, flag.key.as_str(), env, &req.candidate_variant, &lkg, steps, gated, tx.now);
            store::save_rollout(tx.conn, &r)?;
            audit.rollout_id = Some(id);
            audit.after = state(&r);
            let mut approval_id = None;
            let summary = if let Decision::NeedsApproval { rule, .. } = &decision {
                let a = tx.open_approval(ApprovalRequest { kind: "start_canary", rollout: Some(&r), flag: flag.key.as_str(), env, rule, reason: &m.reason, target: Some(r.steps[0]) })?;
                audit.approval_id = Some(a);
                approval_id = Some(a);
                format!("open approval #{a} to start rollout {id} of {:?} in {env}; nobody is exposed until a human runs `flagwarden approve {a}`", r.candidate)
            } else {
                tx.expose(&mut flag, &r)?;
                format!("start rollout {id}: {} of {env} get {:?}; record signals, then advance_canary", r.percent(), r.candidate)
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
            // Check the state first so a waiting rollout explains what it waits for.
            r.apply(if r.at_last_step() { Event::Complete } else { Event::Advance }, tx.now).map_err(|e| AppError::Conflict(e.0))?;
            let gate = gate_for(tx, &r)?;
            let mut audit = Audit { flag: Some(req.key.clone()), env: Some(env.into()), rollout_id: Some(r.id), before: state(&r), ..Audit::default() };
            if gate.verdict == Verdict::Rollback {
                // Evidence of harm outranks every other bound: freeze exposure and ask a human.
                let next = r.apply(Event::ProposeRollback, tx.now).map_err(|e| AppError::Conflict(e.0))?;
                store::save_rollout(tx.conn, &next)?;
                let a = tx.open_approval(ApprovalRequest { kind: "rollback", rollout: Some(&next), flag: flag.key.as_str(), env, rule: "gate", reason: &gate.reasons.join("; "), target: None })?;
                tx.bump(&mut flag)?;
                audit.approval_id = Some(a);
                audit.after = state(&next);
                audit.decision = Some(Decision::Allow);
                let summary = format!(
                    "propose a rollback (approval #{a}): the gate says ROLLBACK ({}); exposure is frozen at {} until a human confirms",
                    gate.reasons.join("; "),
                    next.percent()
                );
                return Ok(Done { output: canary(outcome(tx, &Decision::Allow, flag.version, summary), Some(&next), Some(gate), Some(a)), audit });
            }
            let from = r.percent();
            let target = r.next_step();
            let to = target.map_or(Percent::FULL, |i| r.steps[i]);
            let dwell = tx.now.duration_since(r.step_started_at.unwrap_or(r.created_at));
            let usage = tx.usage(env, Some(&r))?;
            let decision = decide(tx.policy, tx.actor, &Action::AdvanceCanary { env, from, to, dwell }, &usage, tx.now);
            audit.decision = Some(decision.clone());
            if let Decision::Deny { .. } = decision {
                return tx.refuse(audit, &decision);
            }
            if gate.verdict == Verdict::Hold {
                let summary = format!("hold at {from}: {}", gate.reasons.join("; "));
                audit.after = state(&r);
                return Ok(Done { output: canary(outcome(tx, &decision, flag.version, summary), Some(&r), Some(gate), None), audit });
            }
            let (next, approval_id, summary) = match (&decision, target) {
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
            store::save_rollout(tx.conn, &next)?;
            tx.bump(&mut flag)?;
            audit.approval_id = approval_id;
            audit.after = state(&next);
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
            let pending: Vec<i64> = store::pending_approvals_for(conn, &req.key, env)?
                .iter()
                .map(|a| a.id)
                .collect();
            if let Some(r) = &r {
                canary_counts = arm_evidence(conn, r.id, Arm::Canary)?;
                control_counts = arm_evidence(conn, r.id, Arm::Control)?;
                let bounds = &self.policy.policy.env(env).expect("checked").gate;
                let g = gate::verdict(
                    &ArmStats {
                        canary: canary_counts.counts,
                        control: control_counts.counts,
                    },
                    bounds,
                );
                if !r.state.is_terminal() {
                    if g.samples_missing > 0 {
                        missing.push(format!(
                            "{} more canary requests (record_signals)",
                            g.samples_missing
                        ));
                    }
                    if let Some(started) = r.step_started_at {
                        let need = self
                            .policy
                            .policy
                            .env(env)
                            .expect("checked")
                            .min_dwell
                            .at(r.percent());
                        let at = started + need;
                        if at > now {
                            next_at = Some(store::ts_text(at));
                            missing.push(format!(
                                "dwell at {} until {}",
                                r.percent(),
                                store::ts_text(at)
                            ));
                        }
                    }
                    if !pending.is_empty() {
                        missing.push(format!("a human's decision on approval(s) {pending:?}"));
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
            })
        })
    }

    pub fn record_signals(&self, actor: &Actor, req: &RecordSignals) -> Result<SignalsOutput> {
        let c = &req.counts;
        check_counts(c, req.arm, "")?;
        if *c == ArmCounts::default() {
            return Err(invalid(
                "requests",
                "all counts are zero; report at least one count",
            ));
        }
        let meta = Meta {
            reason: req.reason.clone(),
            idempotency_key: req.idempotency_key.clone(),
            dry_run: req.dry_run,
        };
        self.mutate(actor, "record_signals", req, &meta, |tx| {
            let flag = tx.flag(&req.key)?;
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
            let row = store::SignalRow {
                rollout_id: r.id,
                arm: req.arm.as_str(),
                counts: c,
                latency: None,
                scores: None,
                batch_id: None,
            };
            store::insert_signals(tx.conn, &row, tx.now)?;
            let totals = store::arm_totals(tx.conn, r.id, req.arm.as_str())?;
            audit.after = state(&totals);
            let summary = format!(
                "record {} requests / {} errors on the {} arm of rollout {}",
                c.requests,
                c.errors,
                req.arm.as_str(),
                r.id
            );
            Ok(Done {
                output: SignalsOutput {
                    outcome: outcome(tx, &decision, flag.version, summary),
                    rollout_id: r.id,
                    arm: req.arm,
                    totals,
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
            if s.counts == ArmCounts::default() && s.latency_ms.is_empty() && summary.n == 0 {
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
                let row = store::SignalRow {
                    rollout_id: r.id,
                    arm: s.arm.as_str(),
                    counts: &s.counts,
                    latency: (!s.latency_ms.is_empty()).then_some(&s.latency_ms),
                    scores: (summary.n > 0).then_some(summary),
                    batch_id: Some(&part),
                };
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
            audit.after = state(&rollouts);
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
