//! Reads the edges show people beyond the use cases: a rollout's stored gate evaluations
//! (`flagwarden canary show`), the pending approval the person in an agent's client is asked
//! about, and what can be watched (the MCP resources a client lists). All are domain records or
//! plain values, so the edges name no store type.

use super::{App, Result};
use crate::domain::approval::Approval;
use crate::domain::gate::{GateEvaluation, GateLook};
use crate::store;

/// A rollout and its exposure over time (each step's start and percent).
pub struct RolloutHistory {
    pub flag: String,
    pub env: String,
    pub created_at: String,
    pub view: crate::app::types::RolloutView,
    pub steps: Vec<(String, f64)>,
}

/// What a client can watch: every flag (key, description) and the rollouts `resources/list` shows
/// (id, flag, environment, state), newest first.
pub struct Watchable {
    pub flags: Vec<(String, String)>,
    pub rollouts: Vec<(i64, String, String, String)>,
}

impl App {
    /// Every flag, every unfinished rollout and the newest `recent` finished ones.
    pub fn watchable(&self, recent: u32) -> Result<Watchable> {
        self.read(|conn, _| {
            let flags = store::load_flags(conn)?
                .into_iter()
                .map(|f| (f.key.as_str().to_owned(), f.description.clone()))
                .collect();
            Ok(Watchable {
                flags,
                rollouts: listed(conn, recent)?,
            })
        })
    }

    /// Every unfinished rollout and the newest `recent` finished ones: (id, flag, environment,
    /// state).
    pub fn listed_rollouts(&self, recent: u32) -> Result<Vec<(i64, String, String, String)>> {
        self.read(|conn, _| listed(conn, recent))
    }

    /// A rollout's stored looks, newest first, without their inputs: what the console draws.
    pub fn gate_looks(&self, rollout_id: i64, limit: u32) -> Result<Vec<GateLook>> {
        self.read(|conn, _| Ok(store::gate_looks(conn, rollout_id, limit)?))
    }

    /// A rollout's stored gate evaluations, newest first: what `flagwarden canary show` prints.
    pub fn gate_evaluations(&self, rollout_id: i64, limit: u32) -> Result<Vec<GateEvaluation>> {
        self.read(|conn, _| Ok(store::gate_evaluations(conn, rollout_id, limit)?))
    }

    /// A rollout as the console's rollout page shows it: its view, flag and environment, and when
    /// each step's exposure began, oldest first.
    pub fn rollout_history(&self, id: i64) -> Result<Option<RolloutHistory>> {
        self.read(|conn, _| {
            let Some(r) = store::rollout(conn, id)? else {
                return Ok(None);
            };
            let steps = store::rollout_steps(conn, id)?
                .into_iter()
                .map(|(at, p)| (store::ts_text(at), p.as_f64()))
                .collect();
            Ok(Some(RolloutHistory {
                flag: r.flag.clone(),
                env: r.env.clone(),
                created_at: store::ts_text(r.created_at),
                view: super::flags::rollout_view(&r),
                steps,
            }))
        })
    }

    /// Approval `id` if it still waits for a human. Read by its id: the queue `list_approvals` shows
    /// is capped, and an approval past the cap still waits.
    pub fn pending_approval(&self, id: i64) -> Result<Option<Approval>> {
        self.read(|conn, _| Ok(store::approval(conn, id)?.filter(|a| a.status == "pending")))
    }
}

fn listed(conn: &rusqlite::Connection, recent: u32) -> Result<Vec<(i64, String, String, String)>> {
    Ok(store::listed_rollouts(conn, recent)?
        .into_iter()
        .map(|r| (r.id, r.flag, r.env, r.state.as_str().to_owned()))
        .collect())
}
