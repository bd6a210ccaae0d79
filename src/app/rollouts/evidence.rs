//! Evidence intake: `record_signals` (an agent's counts or a preflight's paired eval scores) and
//! `ingest_signals` (applications' batches over HTTP). Both check plausibility before anything is
//! written, and both let the system act at once on a critical harm the new evidence reveals.

use serde_json::json;

use super::rollback::act_on_harm;
use super::*;
use crate::domain::eval::Arm;
use crate::domain::evidence::{ScoreSummary, Source};
use crate::domain::flag::FlagKey;
use crate::domain::gate::{self, ArmCounts, ArmData, Verdict};
use crate::domain::policy::{Action, Usage, decide};
use crate::domain::rollout::{Event, Rollout, RolloutState};

const MAX_COUNT: u64 = 1_000_000_000;
/// Arm reports per ingest batch, and eval scores per batch.
pub const MAX_BATCH: usize = 1000;
pub const MAX_SCORES: usize = 100_000;

/// Whether the actor may record evidence in `env`.
pub(super) fn may_record(tx: &Tx, env: &str) -> Decision {
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

/// New evidence on a rollout may reveal a critical harm (a tripped breaker, harm on a critical
/// metric), or harm the policy lets the system roll back whatever it is: act on it now, in the
/// evidence's own transaction, rather than at the agent's (or the controller's) next look, as the
/// system. Returns what was done.
pub(super) fn react_to_evidence(tx: &mut Tx, rollout_id: i64) -> Result<Option<String>> {
    let Some(r) = store::rollout(tx.conn, rollout_id)? else {
        return Ok(None);
    };
    if !matches!(
        r.state,
        RolloutState::Running | RolloutState::AwaitingApproval | RolloutState::RollbackPending
    ) {
        return Ok(None);
    }
    let (input, gate, started) = run_gate(tx, &r)?;
    // Critical harm is acted on here, in every mode; so is any harm the system may roll back by
    // itself (`auto_rollback = "any"`). Other harm is the controller's to freeze, in `serve`.
    let auto = || {
        let action = Action::AutoRollback {
            env: &r.env,
            critical: gate.critical,
        };
        decide(
            tx.policy,
            &Actor::System,
            &action,
            &Usage::default(),
            tx.now,
        ) == Decision::Allow
    };
    if !(gate.verdict == Verdict::Rollback && (gate.critical || auto())) {
        traced(started, &r, &gate, None);
        return Ok(None);
    }
    let evaluation = store_evaluation(tx, &r, &input, &gate, started)?;
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
                ..Audit::default()
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

impl App {
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
            let arm = super::experiment::stored_arm(&r, req.arm, req.variant.as_deref(), c, "")?;
            let row = store::SignalRow {
                rollout_id: r.id,
                arm: &arm,
                data: &data,
                batch_id: None,
                source: Source::Agent,
            };
            store::insert_signals(tx.conn, &row, tx.now)?;
            let totals = store::arm_totals(tx.conn, r.id, &arm)?;
            audit.after = state(&totals);
            let mut summary = format!(
                "record {} requests / {} errors on the {} arm of rollout {}",
                c.requests, c.errors, arm, r.id
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
            let mut touched: Vec<(String, i64, Arm, String)> = Vec::new();
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
                let arm = super::experiment::stored_arm(&r, s.arm, s.variant.as_deref(), &s.counts, &format!("signals[{i}]."))?;
                let row = store::SignalRow { rollout_id: r.id, arm: &arm, data: &data, batch_id: Some(&part), source: Source::Api };
                store::insert_signals(tx.conn, &row, tx.now)?;
                if !touched.iter().any(|(_, rid, _, stored)| *rid == r.id && *stored == arm) {
                    touched.push((s.flag.clone(), r.id, s.arm, arm));
                }
            }
            let rollouts = touched
                .into_iter()
                .map(|(flag, rollout_id, arm, stored)| {
                    Ok(IngestedArm {
                        totals: store::arm_totals(tx.conn, rollout_id, &stored)?,
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
}
