//! Reads the edges show people beyond the use cases: a rollout's stored gate evaluations
//! (`flagwarden canary show`) and the pending approval the person in an agent's client is asked
//! about. Both are domain records, so the edges name no store type.

use super::{App, Result};
use crate::domain::approval::Approval;
use crate::domain::gate::GateEvaluation;
use crate::store;

impl App {
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
