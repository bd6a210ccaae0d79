//! Approvals: the list of requests waiting for a human, where a human decided, and the decision.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::approval::Approval;

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListApprovals {
    /// pending (default), approved, rejected, superseded, all.
    #[serde(default)]
    #[schemars(with = "String")]
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalList {
    pub approvals: Vec<Approval>,
    /// How a human decides.
    pub how_to_decide: String,
}

/// Where a human decided: recorded on the approval and in the audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Cli,
    Http,
    /// Answered by the person at the agent's own MCP client (elicitation).
    Elicitation,
    /// Decided by a logged-in person in the `/console` pages of `flagwarden serve`.
    Console,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Cli => "cli",
            Channel::Http => "http",
            Channel::Elicitation => "elicitation",
            Channel::Console => "console",
        }
    }
}

/// The agent's MCP client as its session names itself (clientInfo), recorded with every answer given
/// in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSeen {
    pub name: String,
    pub version: String,
}

/// An answer given in the agent's client that decided nothing, on an approval that may still wait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientAnswered {
    pub approval_id: i64,
    pub client: ClientSeen,
    /// approve, reject, decline, cancel, timeout or malformed.
    pub answer: String,
    /// The policy rule that gave it no effect, e.g. `production.confirm_in_client`.
    pub rule: Option<String>,
    pub at: String,
}

impl ClientAnswered {
    /// One line for people: "client codex-mcp-client 0.169.0 answered decline: no effect".
    pub fn line(&self) -> String {
        format!(
            "client {} {} answered {}: no effect",
            self.client.name, self.client.version, self.answer
        )
    }
}

/// A human's decision on an approval (CLI).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalDecision {
    pub approval: Approval,
    pub executed: bool,
    pub summary: String,
}
