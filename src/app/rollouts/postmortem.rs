//! `flagwarden postmortem ROLLOUT` and the `postmortem` prompt: the app gathers one rollout's
//! record (audit events, stored gate evaluations, exposure history, the policy's smallest step)
//! and the pure `domain::postmortem::report` writes the Markdown.

use super::*;
use crate::domain::postmortem::{Record, report};

impl App {
    /// The blameless Markdown postmortem of rollout `id`, from the record alone.
    pub fn postmortem(&self, id: i64) -> Result<String> {
        self.read(|conn, now| {
            let r = store::rollout(conn, id)?.ok_or_else(|| {
                AppError::NotFound(format!(
                    "rollout {id} does not exist; `flagwarden audit --key KEY` shows a flag's rollouts"
                ))
            })?;
            let events = store::rollout_events(conn, id)?;
            let mut evaluations = store::gate_evaluations(conn, id, 10_000)?;
            evaluations.sort_by_key(|g| g.id);
            let steps = store::rollout_steps(conn, id)?;
            let smallest_step = self.policy.policy.env(&r.env).and_then(|e| e.steps.first().copied());
            let until = if r.state.is_terminal() { r.updated_at } else { now };
            Ok(report(&Record {
                rollout: &r,
                events: &events,
                evaluations: &evaluations,
                steps: &steps,
                smallest_step,
                until,
            }))
        })
    }
}
