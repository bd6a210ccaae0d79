//! Reads of a rollout: `canary_status` (the gate as it would judge now, each arm's evidence, what
//! the next step still waits for), the same answer for one rollout by its id (the MCP resource
//! `flagwarden://rollouts/{id}`), and the stored gate evaluations behind past decisions. Each answer
//! carries `seq`, the newest committed change to its flag in its environment: the version a
//! watcher names to hear of the next one.

use jiff::SignedDuration;

use super::*;
use crate::domain::gate::{self, ArmData, Verdict};

/// What one arm of a rollout has recorded: counts, latency and eval scores.
fn arm_view(d: &ArmData) -> ArmEvidence {
    ArmEvidence {
        counts: d.counts,
        latency_p95_ms: d.latency_ms.quantile_bound(0.95),
        latency_ms: d.latency_ms,
        eval_scores: d.scores.n,
        eval_score_mean: d.scores.mean(),
        custom: d.custom.clone(),
        by_source: Default::default(),
    }
}

impl App {
    pub fn canary_status(&self, req: &FlagEnv) -> Result<CanaryStatus> {
        check_env(&self.policy.policy, &req.environment)?;
        crate::domain::flag::FlagKey::parse(&req.key)?;
        self.read(|conn, now| {
            let env = req.environment.as_str();
            let r = match store::active_rollout(conn, &req.key, env)? {
                Some(r) => Some(r),
                None => store::latest_rollout(conn, &req.key, env)?,
            };
            self.status_of(conn, now, &req.key, env, r)
        })
    }

    /// `canary_status` of rollout `id`, finished or not, whichever rollout is now its flag's latest.
    pub fn rollout_status(&self, id: i64) -> Result<CanaryStatus> {
        self.read(|conn, now| {
            let r = store::rollout(conn, id)?.ok_or_else(|| {
                AppError::NotFound(format!(
                    "rollout {id} does not exist; canary_status names a flag's rollout, list_flags shows the flags"
                ))
            })?;
            let (key, env) = (r.flag.clone(), r.env.clone());
            self.status_of(conn, now, &key, &env, Some(r))
        })
    }

    fn status_of(
        &self,
        conn: &rusqlite::Connection,
        now: jiff::Timestamp,
        key: &str,
        env: &str,
        r: Option<crate::domain::rollout::Rollout>,
    ) -> Result<CanaryStatus> {
        {
            let flag = store::load_flag(conn, key)?.ok_or_else(|| not_found_flag(key))?;
            let mut missing = Vec::new();
            let (mut canary_counts, mut control_counts, mut gate_result, mut next_at) =
                Default::default();
            let mut last_evaluation = None;
            let mut gaps = Vec::new();
            let mut shape = None;
            let pending: Vec<i64> = store::pending_approvals_for(conn, key, env)?
                .iter()
                .map(|a| a.id)
                .collect();
            if let Some(r) = &r {
                let started = Started(crate::telemetry_out::gate_started());
                let (input, g, experiment) = judged(conn, &self.policy.policy, r, now)?;
                shape =
                    experiment::record(r, experiment.as_ref()).or_else(|| shadow::shadow_record(r));
                let totals = gate::totals(&input.periods);
                canary_counts = arm_view(&totals.canary);
                control_counts = arm_view(&totals.control);
                for (arm, source, counts) in store::arm_totals_by_source(conn, r.id)? {
                    let view: &mut ArmEvidence = match arm.as_str() {
                        "canary" => &mut canary_counts,
                        "control" => &mut control_counts,
                        _ => continue,
                    };
                    view.by_source.insert(source, counts);
                }
                traced(started, r, &g, None);
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
                gaps = store::last_gaps(conn, r.id)?
                    .iter()
                    .map(|g| g.describe())
                    .collect();
                gate_result = Some(g);
            }
            Ok(CanaryStatus {
                key: key.into(),
                environment: env.into(),
                version: flag.version,
                seq: store::last_watched(conn, key, env)?,
                rollout: r.as_ref().map(rollout_view),
                gate: gate_result,
                canary: canary_counts,
                control: control_counts,
                next_advance_at: next_at,
                missing,
                gaps,
                pending_approvals: pending,
                last_evaluation,
                shape,
            })
        }
    }
}
