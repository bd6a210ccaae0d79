//! Read-only views the edges show people: a rollout's stored gate evaluations (`flagwarden canary
//! show`), the code references a scan saw come and go (`flagwarden scan`), and the pending approval
//! the person in an agent's client is asked about. Each is an app type built from the store's rows,
//! so the edges never name a store type.

use serde::Serialize;

use super::types::ListApprovals;
use super::{App, Result};
use crate::store;

/// A stored gate evaluation: what went in, what came out, under which config.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateEvaluation {
    pub id: i64,
    pub rollout_id: i64,
    pub evaluated_at: String,
    pub verdict: String,
    pub config_sha256: String,
    pub inputs: serde_json::Value,
    pub result: serde_json::Value,
}

impl From<store::GateEvaluation> for GateEvaluation {
    fn from(e: store::GateEvaluation) -> GateEvaluation {
        GateEvaluation {
            id: e.id,
            rollout_id: e.rollout_id,
            evaluated_at: e.evaluated_at,
            verdict: e.verdict,
            config_sha256: e.config_sha256,
            inputs: e.inputs,
            result: e.result,
        }
    }
}

/// A reference that a scan saw appear or disappear. `line` is absent for a wrap_change reference
/// recorded without one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RefChange {
    pub flag: String,
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl From<store::RefChange> for RefChange {
    fn from(c: store::RefChange) -> RefChange {
        RefChange {
            flag: c.flag,
            file: c.file,
            line: c.line,
        }
    }
}

/// A pending approval as the person asked in the agent's client reads it: what would happen, who
/// asks and under which rule.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingApproval {
    pub id: i64,
    /// start_canary, advance_canary or rollback.
    pub kind: String,
    pub flag: String,
    pub env: String,
    pub target_percent: Option<f64>,
    pub requested_by: String,
    pub rule: String,
    pub reason: String,
}

impl App {
    /// A rollout's stored gate evaluations, newest first: what `flagwarden canary show` prints.
    pub fn gate_evaluations(&self, rollout_id: i64, limit: u32) -> Result<Vec<GateEvaluation>> {
        self.read(|conn, _| {
            let rows = store::gate_evaluations(conn, rollout_id, limit)?;
            Ok(rows.into_iter().map(GateEvaluation::from).collect())
        })
    }

    /// Approval `id` if it still waits for a human, as the queue (`list_approvals`) shows it.
    pub fn pending_approval(&self, id: i64) -> Result<Option<PendingApproval>> {
        let pending = ListApprovals {
            status: Some("pending".into()),
        };
        let list = self.list_approvals(&pending)?;
        Ok(list
            .approvals
            .into_iter()
            .find(|a| a.id == id)
            .map(|a| PendingApproval {
                id: a.id,
                kind: a.kind,
                flag: a.flag,
                env: a.env,
                target_percent: a.target_percent,
                requested_by: a.requested_by,
                rule: a.rule,
                reason: a.reason,
            }))
    }
}
