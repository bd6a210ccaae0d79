//! Rollout use cases, one file each: `start` (start_canary, and opening a DRAFT once its preflight
//! passed), `advance` (advance_canary), `status` (canary_status, stored gate evaluations), `evidence`
//! (record_signals, ingest_signals, preflights, the system's reaction to harm), `prometheus`
//! (evidence the Prometheus query worker reads: targets, window claims, windows and gaps), `rollback`,
//! `approvals` (approve, reject), `steer` (a human's direct hand: resume, abort, promote, break-glass)
//! `control` (the controller's look at a rollout, as the system), and the shapes beside the canary:
//! `shadow` (shadow runs and their conversion to a canary) and `experiment` (fixed splits judged
//! by a two-sided comparison).
//! This file holds what they share: running and storing the gate, opening approvals, exposing and
//! rolling back a rollout inside the use case's transaction.

mod advance;
mod approvals;
mod checklist;
mod control;
mod emergency;
mod evidence;
mod experiment;
mod group;
mod joins;
mod prometheus;
pub(crate) use emergency::under_break_glass;
mod postmortem;
mod rehearse;
mod rollback;
mod shadow;
mod start;
mod status;
mod steer;
mod telemetry;

pub(crate) use joins::Joins;
pub use prometheus::{MAX_CATCH_UP, PromTarget, PromWindow};
pub use rehearse::{ArmFlip, RehearsalOutput, RehearsalView};

use jiff::SignedDuration;
use jiff::Timestamp;
use serde_json::json;

use super::flags::{outcome, rollout_view};
use super::*;
use crate::domain::approval::Approval;
use crate::domain::bucket::Percent;
use crate::domain::eval::Arm;
use crate::domain::gate::{self, ArmData, GateInput, GateResult};
use crate::domain::policy::Usage;
use crate::domain::rollout::{Event, Rollout};

/// Everything reported on a rollout, and the clock, as the gate reads it.
fn gate_input(
    conn: &rusqlite::Connection,
    policy: &Policy,
    r: &Rollout,
    now: Timestamp,
) -> Result<GateInput> {
    let reported = store::signal_periods(conn, r.id)?;
    // A canary that was a shadow run reads only the periods that began after it became one: no
    // shadow report counts as canary evidence (they stay on record under the same rollout).
    let after = r.analysis.shadow_ended_at.map(gate::slot);
    let rows: Vec<(Timestamp, Arm, ArmData)> = reported
        .rows
        .into_iter()
        .filter(|(at, _, _)| after.is_none_or(|s| gate::slot(*at) > s))
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
        guardrails: store::guardrail_readings(conn, r.id)?,
        gaps: store::open_gaps(conn, r.id)?
            .into_iter()
            .map(|g| g.describe())
            .collect(),
    })
}

/// Runs the gate on a rollout under its frozen analysis. The `Started` goes to `store_evaluation`,
/// or to `traced` when the evaluation is not stored, so its span says which.
fn run_gate(tx: &Tx, r: &Rollout) -> Result<(GateInput, GateResult, Started)> {
    let started = Started(crate::telemetry_out::gate_started());
    let (input, result, _) = judged(tx.conn, tx.policy, r, tx.now)?;
    Ok((input, result, started))
}

/// The gate for the rollout's shape: the canary gate, a shadow run's divergence against its
/// margin, or an experiment's comparison (with its outcome so far).
fn judged(
    conn: &rusqlite::Connection,
    policy: &Policy,
    r: &Rollout,
    now: Timestamp,
) -> Result<(
    GateInput,
    GateResult,
    Option<crate::domain::experiment::ExperimentResult>,
)> {
    use crate::domain::mode::Mode;
    let input = gate_input(conn, policy, r, now)?;
    let cfg = &r.analysis.config;
    Ok(match r.analysis.mode {
        Mode::Canary => {
            let g = gate::evaluate(cfg, &input);
            (input, g, None)
        }
        Mode::Shadow => {
            let shadow = r.analysis.shadow.clone().unwrap_or_default();
            let g = gate::evaluate_shadow(cfg, &shadow, &input);
            (input, g, None)
        }
        Mode::Experiment => {
            let (g, e) = experiment::judge(conn, r, &input)?;
            (input, g, e)
        }
    })
}

/// When a gate evaluation began, for its span (nothing when traces are off).
#[must_use]
struct Started(Option<std::time::SystemTime>);

/// The span of a gate evaluation: its verdict, rollout and, once stored, its id.
fn traced(started: Started, r: &Rollout, result: &GateResult, evaluation_id: Option<i64>) {
    crate::telemetry_out::gate_evaluated(
        started.0,
        crate::telemetry_out::GateFacts {
            rollout_id: r.id,
            flag: &r.flag,
            environment: &r.env,
            verdict: verdict_label(result),
            critical: result.critical,
            evaluation_id,
        },
    );
}

fn verdict_label(result: &GateResult) -> &'static str {
    use crate::domain::gate::Verdict;
    match result.verdict {
        Verdict::Promote => "PROMOTE",
        Verdict::Hold => "HOLD",
        Verdict::Rollback => "ROLLBACK",
    }
}

/// Stores an evaluation with its inputs; the audit event of the decision it drives names the id.
fn store_evaluation(
    tx: &Tx,
    r: &Rollout,
    input: &GateInput,
    result: &GateResult,
    started: Started,
) -> Result<i64> {
    let totals = gate::totals(&input.periods);
    let inputs = json!({
        "periods": input.periods.len(),
        "canary": totals.canary,
        "control": totals.control,
        "step_started_at": store::ts_text(input.step_started_at),
        "min_dwell_secs": input.min_dwell.as_secs(),
        "latency_threshold_ms": input.latency_threshold_ms,
        "last_report_at": input.last_report_at.map(store::ts_text),
        "guardrails": input.guardrails,
        "gaps": input.gaps,
        "config": r.analysis.config,
    });
    let id = store::insert_gate_evaluation(
        tx.conn,
        &gate::GateEvaluation {
            id: 0,
            rollout_id: r.id,
            evaluated_at: store::ts_text(tx.now),
            verdict: format!("{:?}", result.verdict).to_uppercase(),
            config_sha256: result.config_sha256.clone(),
            inputs,
            result: state(result),
        },
    )?;
    traced(started, r, result, Some(id));
    Ok(id)
}

/// The flag exists but nothing is rolling out: a conflict with the current state (another agent may
/// have rolled it back or finished it), recorded like any other.
fn no_rollout(key: &str, env: &str) -> AppError {
    AppError::Conflict(format!(
        "flag {key:?} has no active rollout in {env}; start one with start_canary"
    ))
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
        self.also_changed
            .borrow_mut()
            .push(flag.key.as_str().to_owned());
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

    /// The pointer flip: everyone in `env` gets the LKG (or the off variant when nothing was rolling
    /// out). A member of a release group takes every other member with it, in this transaction.
    fn roll_back(
        &self,
        flag: &mut Flag,
        env: &str,
        rollout: Option<&Rollout>,
    ) -> Result<Option<Rollout>> {
        if let Some(r) = rollout {
            self.roll_back_group(r)?;
        }
        self.roll_back_one(flag, env, rollout)
    }

    fn roll_back_one(
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
        // An emergency's follow-up review outlives the rollback: a person still closes it.
        for mut a in store::pending_approvals_for(self.conn, flag.key.as_str(), env)?
            .into_iter()
            .filter(|a| a.kind != "follow_up")
        {
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
