//! An approval request as stored: what a human is asked to decide (a start, a step past the agent's
//! bound, a rollback), who asked and under which rule, and how it was decided, by whom and where.
//! The queue the tools list, the question asked in an agent's client and the CLI all show this.

use serde::{Deserialize, Serialize};

/// One approval request and its decision so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Approval {
    pub id: i64,
    /// start_canary, advance_canary or rollback.
    pub kind: String,
    pub flag: String,
    pub env: String,
    pub rollout_id: Option<i64>,
    pub target_percent: Option<f64>,
    pub requested_by: String,
    pub rule: String,
    pub reason: String,
    /// pending, approved, rejected or superseded.
    pub status: String,
    pub approvals_needed: u32,
    pub approved_by: Vec<String>,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    pub created_at: String,
    pub decided_at: Option<String>,
    /// Where the deciding human answered: cli, http, console or elicitation (in the agent's own
    /// client).
    #[serde(default)]
    pub decided_via: Option<String>,
}
