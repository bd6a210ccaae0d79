//! Reads the edges show people beyond the use cases: a rollout's stored gate evaluations
//! (`flagwarden canary show`), the pending approval the person in an agent's client is asked
//! about, and what can be watched (the MCP resources a client lists). All are domain records or
//! plain values, so the edges name no store type.

use super::{App, Result};
use crate::domain::approval::Approval;
use crate::domain::gate::GateEvaluation;
use crate::store;

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
            let rollouts = store::listed_rollouts(conn, recent)?
                .into_iter()
                .map(|r| (r.id, r.flag, r.env, r.state.as_str().to_owned()))
                .collect();
            Ok(Watchable { flags, rollouts })
        })
    }

    /// A rollout's stored gate evaluations, newest first: what `flagwarden canary show` prints.
    pub fn gate_evaluations(&self, rollout_id: i64, limit: u32) -> Result<Vec<GateEvaluation>> {
        self.read(|conn, _| Ok(store::gate_evaluations(conn, rollout_id, limit)?))
    }

    /// Approval `id` if it still waits for a human. Read by its id: the queue `list_approvals` shows
    /// is capped, and an approval past the cap still waits.
    pub fn pending_approval(&self, id: i64) -> Result<Option<Approval>> {
        self.read(|conn, _| Ok(store::approval(conn, id)?.filter(|a| a.status == "pending")))
    }
}
