//! The policy as a model: who acts (`Actor`), what they want (`Action`), the outcome (`Decision`),
//! and the bounds the file sets, for flags (`FlagBounds`) and per environment (`EnvPolicy`), with the
//! webhooks to notify.

use std::collections::BTreeMap;
use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::calendar::{Freeze, Window};
use super::checklist::{ChecklistFacts, ChecklistPolicy};
use crate::domain::bucket::Percent;
use crate::domain::flag::ChangeType;
use crate::domain::gate::GateConfig;
use crate::domain::prometheus::PrometheusSource;
use crate::domain::segment::Segment;

/// An action the policy can name: the MCP tool names, plus what only humans do.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    CreateFlag,
    WrapChange,
    SetTargeting,
    StartCanary,
    AdvanceCanary,
    RecordSignals,
    Rollback,
    CleanupFlag,
    AddVersion,
    Approve,
    Reject,
    ArchiveFlag,
    /// Freezing a rollout's exposure where it is (no traffic, sample-ratio mismatch, a hold too
    /// long): the controller's and people's, never an agent's.
    Pause,
    /// Taking a paused rollout up again: the controller's once missing traffic returns.
    Resume,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::CreateFlag => "create_flag",
            ActionKind::WrapChange => "wrap_change",
            ActionKind::SetTargeting => "set_targeting",
            ActionKind::StartCanary => "start_canary",
            ActionKind::AdvanceCanary => "advance_canary",
            ActionKind::RecordSignals => "record_signals",
            ActionKind::Rollback => "rollback",
            ActionKind::CleanupFlag => "cleanup_flag",
            ActionKind::AddVersion => "add_version",
            ActionKind::Approve => "approve",
            ActionKind::Reject => "reject",
            ActionKind::ArchiveFlag => "archive_flag",
            ActionKind::Pause => "pause",
            ActionKind::Resume => "resume",
        }
    }
    /// Actions that change who is exposed to what; freezes and change windows stop these.
    pub fn changes_exposure(self) -> bool {
        matches!(
            self,
            ActionKind::SetTargeting | ActionKind::StartCanary | ActionKind::AdvanceCanary
        )
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who acts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Actor {
    /// An MCP client, named by its clientInfo.
    Agent(String),
    /// A person at the CLI or with a human token.
    Human(String),
    /// An application reporting evidence with an ingest or sdk token (or on loopback).
    App(String),
    System,
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Agent(_) => "agent",
            Actor::Human(_) => "human",
            Actor::App(_) => "app",
            Actor::System => "system",
        }
    }
    pub fn name(&self) -> &str {
        match self {
            Actor::Agent(n) | Actor::Human(n) | Actor::App(n) => n,
            Actor::System => "flagwarden",
        }
    }
}

/// What the actor wants to do, with the facts the bounds need.
#[derive(Debug, Clone, PartialEq)]
pub enum Action<'a> {
    CreateFlag,
    WrapChange {
        creates_flag: bool,
    },
    /// A new immutable version (variant) of a prompt or model flag; exposes nobody by itself.
    AddVersion {
        creates_flag: bool,
    },
    SetTargeting {
        env: &'a str,
    },
    StartCanary {
        env: &'a str,
        /// The plan's percentages.
        steps: &'a [Percent],
        /// The pre-release checklist's facts about the flag; `None` where the list was already
        /// checked when the rollout was created (a DRAFT opening after its preflight).
        checklist: Option<&'a ChecklistFacts>,
        /// The segments the plan exposes first, in order.
        segments: &'a [String],
        change_type: ChangeType,
    },
    /// An experiment putting `traffic` of the environment's units into a fixed split. An agent
    /// needs `start_canary` here, and may put at most `experiments.max_traffic` into it.
    StartExperiment {
        env: &'a str,
        traffic: Percent,
        /// As for `StartCanary`: an experiment exposes people too.
        checklist: Option<&'a ChecklistFacts>,
    },
    /// `from == to == 100 %` is the final bake: completing the rollout.
    AdvanceCanary {
        env: &'a str,
        from: Percent,
        to: Percent,
        dwell: SignedDuration,
    },
    RecordSignals {
        env: &'a str,
    },
    Rollback {
        env: &'a str,
    },
    /// The system rolling back by itself on harm the gate found (`critical`: a tripped breaker or
    /// harm on a critical metric); where `auto_rollback` does not allow it, a human confirms.
    AutoRollback {
        env: &'a str,
        critical: bool,
    },
    /// The controller freezing a rollout where it is, or resuming one whose missing traffic returned.
    Pause {
        env: &'a str,
    },
    Resume {
        env: &'a str,
    },
    CleanupFlag,
    /// Takes a flag out of serving once no code references it. Never an agent's.
    ArchiveFlag,
    /// An answer given in the agent's own MCP client (elicitation) to a pending approval. The server
    /// cannot see whether a person saw the question, so the environment's `confirm_in_client` level
    /// says which answers count, by what deciding would do to exposure.
    AnswerInClient {
        env: &'a str,
        approval_id: i64,
        answer: ClientAnswer,
        effect: Exposure,
    },
}

impl Action<'_> {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::CreateFlag => ActionKind::CreateFlag,
            Action::WrapChange { .. } => ActionKind::WrapChange,
            Action::AddVersion { .. } => ActionKind::AddVersion,
            Action::SetTargeting { .. } => ActionKind::SetTargeting,
            Action::StartCanary { .. } | Action::StartExperiment { .. } => ActionKind::StartCanary,
            Action::AdvanceCanary { .. } => ActionKind::AdvanceCanary,
            Action::RecordSignals { .. } => ActionKind::RecordSignals,
            Action::Rollback { .. } | Action::AutoRollback { .. } => ActionKind::Rollback,
            Action::Pause { .. } => ActionKind::Pause,
            Action::Resume { .. } => ActionKind::Resume,
            Action::CleanupFlag => ActionKind::CleanupFlag,
            Action::ArchiveFlag => ActionKind::ArchiveFlag,
            Action::AnswerInClient {
                answer: ClientAnswer::Approve,
                ..
            } => ActionKind::Approve,
            Action::AnswerInClient { .. } => ActionKind::Reject,
        }
    }
    pub(super) fn env(&self) -> Option<&str> {
        match self {
            Action::SetTargeting { env }
            | Action::StartCanary { env, .. }
            | Action::StartExperiment { env, .. }
            | Action::AdvanceCanary { env, .. }
            | Action::RecordSignals { env }
            | Action::Rollback { env }
            | Action::AutoRollback { env, .. }
            | Action::Pause { env }
            | Action::Resume { env }
            | Action::AnswerInClient { env, .. } => Some(env),
            Action::CreateFlag
            | Action::WrapChange { .. }
            | Action::AddVersion { .. }
            | Action::CleanupFlag
            | Action::ArchiveFlag => None,
        }
    }
}

/// What came back from the agent's client when it was asked to decide an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAnswer {
    /// `accept` with the decision approve.
    Approve,
    /// `accept` with the decision reject.
    Reject,
    /// `decline`: codex answers this by itself, with nobody asked.
    Decline,
    /// `cancel`: dismissed (Claude Code headless answers this by itself).
    Cancel,
    /// No answer within the time allowed.
    Timeout,
    /// An answer that could not be read as the form asked for.
    Malformed,
}

impl ClientAnswer {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAnswer::Approve => "approve",
            ClientAnswer::Reject => "reject",
            ClientAnswer::Decline => "decline",
            ClientAnswer::Cancel => "cancel",
            ClientAnswer::Timeout => "timeout",
            ClientAnswer::Malformed => "malformed",
        }
    }
}

impl fmt::Display for ClientAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What deciding an approval would do to who is exposed to what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exposure {
    /// Confirming a proposed rollback or a pause.
    Reduce,
    /// Starting a canary, a human-gated step, going past max_auto_percent.
    Widen,
    /// Ending a proposal (a rejection): exposure stays as it is.
    Keep,
}

impl Exposure {
    /// What approving (`approve`) or rejecting an approval of this kind does to exposure.
    pub fn of(approval_kind: &str, approve: bool) -> Exposure {
        match (approve, approval_kind) {
            (false, _) => Exposure::Keep,
            (true, "rollback" | "pause") => Exposure::Reduce,
            (true, _) => Exposure::Widen,
        }
    }
}

/// `confirm_in_client`: which answers given in the agent's own client count as a person's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientTrust {
    /// Answers in the client decide nothing; only the CLI or a human token does.
    None,
    /// An approve may confirm what reduces exposure (a proposed rollback, a pause), nothing else.
    ReduceOnly,
    /// An approve may also widen exposure, and a reject (which keeps it) counts.
    All,
}

impl ClientTrust {
    pub const NAMES: &'static str = "\"none\", \"reduce_only\" or \"all\"";

    pub fn as_str(self) -> &'static str {
        match self {
            ClientTrust::None => "none",
            ClientTrust::ReduceOnly => "reduce_only",
            ClientTrust::All => "all",
        }
    }

    pub fn parse(s: &str) -> Option<ClientTrust> {
        match s {
            "none" => Some(ClientTrust::None),
            "reduce_only" => Some(ClientTrust::ReduceOnly),
            "all" => Some(ClientTrust::All),
            _ => None,
        }
    }

    /// Whether the client is asked at all: under `none` no answer could count.
    pub fn asks(self) -> bool {
        self != ClientTrust::None
    }
}

/// Counts from the audit trail that rate limits are checked against, gathered by the caller.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub flags_created_last_day: u32,
    pub rollouts_started_last_day: u32,
    pub advances_last_hour: u32,
    /// A human's break-glass for this environment, active until this instant.
    pub break_glass_until: Option<Timestamp>,
}

/// The name of the policy rule behind a decision, e.g. `production.max_auto_percent`.
pub type RuleId = String;

/// The outcome of `decide`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Deny { rule: RuleId, message: String },
    NeedsApproval { rule: RuleId, message: String },
}

impl Decision {
    pub fn rule(&self) -> Option<&str> {
        match self {
            Decision::Allow => None,
            Decision::Deny { rule, .. } | Decision::NeedsApproval { rule, .. } => Some(rule),
        }
    }
    pub fn label(&self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny { .. } => "deny",
            Decision::NeedsApproval { .. } => "needs_approval",
        }
    }
}

/// Whether an agent's rollback happens at once or waits for a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentRollback {
    Allow,
    Propose,
}

/// `auto_rollback`: which harm the system rolls back by itself, without waiting for a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoRollback {
    /// Every harm freezes exposure and a human confirms the rollback.
    None,
    /// A tripped circuit breaker or harm on a critical metric rolls back at once; other harm waits.
    Critical,
    /// Any harm the gate finds rolls back at once.
    Any,
}

impl AutoRollback {
    pub const NAMES: &'static str = "\"none\", \"critical\" or \"any\"";
    pub fn as_str(self) -> &'static str {
        match self {
            AutoRollback::None => "none",
            AutoRollback::Critical => "critical",
            AutoRollback::Any => "any",
        }
    }
    pub fn parse(s: &str) -> Option<AutoRollback> {
        match s {
            "none" => Some(AutoRollback::None),
            "critical" => Some(AutoRollback::Critical),
            "any" => Some(AutoRollback::Any),
            _ => None,
        }
    }
}

/// `advance`: who takes the next step once the gate says PROMOTE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Advance {
    /// The agent calls advance_canary; the controller only records the verdict.
    Agent,
    /// The controller advances by itself, within every bound an agent has.
    Auto,
}

impl Advance {
    pub fn as_str(self) -> &'static str {
        match self {
            Advance::Agent => "agent",
            Advance::Auto => "auto",
        }
    }
}

/// `[controller]`: the task in `flagwarden serve` that runs the gate by itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControllerConfig {
    pub enabled: bool,
    /// How often every unfinished rollout is looked at, evidence or not.
    pub interval: SignedDuration,
    /// How long after a commit of evidence the controller waits for more before it looks, so a
    /// burst of batches costs one gate run per rollout.
    pub debounce: SignedDuration,
    /// How long the controller's lease lasts unrenewed: a dead controller is replaced by another
    /// process on the store after at most this (its holder renews it five times as often).
    pub lease: SignedDuration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            enabled: true,
            interval: SignedDuration::from_secs(30),
            debounce: SignedDuration::from_millis(10),
            lease: SignedDuration::from_secs(5),
        }
    }
}

/// A parsed, validated policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    pub version: u32,
    pub controller: ControllerConfig,
    pub flags: FlagBounds,
    pub environments: BTreeMap<String, EnvPolicy>,
    /// Named audiences (`[segments.NAME]`) a rollout plan may expose before any percentage.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub segments: BTreeMap<String, Segment>,
    pub webhooks: Vec<Webhook>,
    /// What the file still says in an older form and how it is read now, for the loader to show
    /// once (on stderr); the domain prints nothing.
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// Where to tell people about a release: approvals asked for and decided, a rollout's life (started,
/// advanced, held, paused, completed, rolled back) and emergency changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Webhook {
    pub url: String,
    pub format: WebhookFormat,
    /// Which events to send; all of them when empty.
    pub events: Vec<NotifyEvent>,
    /// Which environments' notices to send; all of them when empty. A notice about no one
    /// environment (a flag-wide change) goes to every webhook.
    pub environments: Vec<String>,
    /// Batch the notices that are not urgent into one message per this interval; `None` sends
    /// each at once. Urgent ones ([`NotifyEvent::urgent`]) always go at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<SignedDuration>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// Slack's incoming-webhook body (`text` plus blocks); Mattermost and others accept it too.
    Slack,
    /// A flat JSON object describing the event.
    #[default]
    Json,
}

/// What a webhook can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// A human's approval is asked for: a start, a human-gated step, or a proposed rollback.
    ApprovalRequested,
    /// A human approved or rejected a request.
    ApprovalDecided,
    /// A rollout started exposing people (or was created as a draft waiting for its preflight).
    Started,
    /// A rollout took a step: a larger percentage or the next segment.
    Advanced,
    /// The gate held a rollout at its step on evidence that is not just still coming in.
    Held,
    /// A rollout paused: exposure is frozen until it resumes.
    Paused,
    /// A rollout reached everyone: the candidate is the new last-known-good.
    Completed,
    /// A flag rolled back (by a human, an allowed agent, or the system on a tripped breaker).
    RolledBack,
    /// A break-glass was opened, a change was made under one, or its follow-up review opened or closed.
    Emergency,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 9] = [
        NotifyEvent::ApprovalRequested,
        NotifyEvent::ApprovalDecided,
        NotifyEvent::Started,
        NotifyEvent::Advanced,
        NotifyEvent::Held,
        NotifyEvent::Paused,
        NotifyEvent::Completed,
        NotifyEvent::RolledBack,
        NotifyEvent::Emergency,
    ];

    /// The name in the policy file and in the generic body.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::ApprovalRequested => "approval_requested",
            NotifyEvent::ApprovalDecided => "approval_decided",
            NotifyEvent::Started => "started",
            NotifyEvent::Advanced => "advanced",
            NotifyEvent::Held => "held",
            NotifyEvent::Paused => "paused",
            NotifyEvent::Completed => "completed",
            NotifyEvent::RolledBack => "rolled_back",
            NotifyEvent::Emergency => "emergency",
        }
    }

    pub fn parse(s: &str) -> Option<NotifyEvent> {
        NotifyEvent::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Sent at once even to a digest webhook: someone must act, or exposure just changed for the worse.
    pub fn urgent(self) -> bool {
        matches!(
            self,
            NotifyEvent::ApprovalRequested | NotifyEvent::RolledBack | NotifyEvent::Emergency
        )
    }
}

impl Webhook {
    /// Whether this webhook is told of `e` in `env` (`None`: a flag-wide notice).
    pub fn wants(&self, e: NotifyEvent, env: Option<&str>) -> bool {
        (self.events.is_empty() || self.events.contains(&e))
            && match env {
                Some(env) => {
                    self.environments.is_empty() || self.environments.iter().any(|w| w == env)
                }
                None => true,
            }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlagBounds {
    pub agent_may_create: bool,
    pub created_per_day: Option<u32>,
    /// Expected lifetime per change type, overriding `ChangeType::default_lifetime_days`; 0 means
    /// permanent (never stale by age).
    pub lifetime_days: BTreeMap<String, u32>,
}

impl FlagBounds {
    /// Days a flag of this type is expected to live, or `None` when it is permanent by design.
    pub fn lifetime(&self, change_type: ChangeType) -> Option<u32> {
        match self.lifetime_days.get(change_type.as_str()) {
            Some(0) => None,
            Some(days) => Some(*days),
            None => change_type.default_lifetime_days(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvPolicy {
    pub agent_may: Vec<ActionKind>,
    pub human_only: Vec<ActionKind>,
    pub steps: Vec<Percent>,
    /// The segments the default plan exposes before its percentages (`steps = ["internal", 1, ...]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub segment_steps: Vec<String>,
    /// Per change type, the segments an agent's plan must expose before any percentage, e.g.
    /// `segments_first = { prompt = ["internal"] }`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub segments_first: BTreeMap<String, Vec<String>>,
    pub max_auto_percent: Percent,
    pub max_step_increase: Percent,
    pub min_dwell: MinDwell,
    pub requires_start_approval: bool,
    pub agent_rollback: AgentRollback,
    pub approvals: u32,
    /// Which harm the system rolls back without a human (default `none`).
    pub auto_rollback: AutoRollback,
    /// Who advances a rollout whose gate says PROMOTE (default `agent`).
    pub advance: Advance,
    /// Which answers given in the agent's own MCP client (elicitation) decide an approval
    /// (default `reduce_only`); `decide` applies it to `Action::AnswerInClient`.
    pub confirm_in_client: ClientTrust,
    pub gate: GateConfig,
    /// Where the gate's evidence is also read from Prometheus, for every flag here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSource>,
    /// Flags with a Prometheus section of their own (the environment's keys they do not set filled in).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub prometheus_flags: BTreeMap<String, PrometheusSource>,
    pub preflight: PreflightConfig,
    pub rate_limits: RateLimits,
    pub change_windows: Vec<Window>,
    pub freezes: Vec<Freeze>,
    /// What must be in place before a rollout starts (nothing by default).
    pub checklist: ChecklistPolicy,
    /// The span attributes OTLP ingest reads as task success and safety checks (booleans).
    #[serde(skip)]
    pub telemetry: crate::domain::telemetry::Knobs,
    /// A shadow run's divergence margin here (`[environments.E.shadow]`).
    pub shadow: crate::domain::gate::ShadowConfig,
    /// The splits experiments may use here and how much traffic an agent may put into one.
    pub experiments: crate::domain::experiment::ExperimentBounds,
}

/// The offline eval gate for prompt and model flags: candidate against last-known-good on the same
/// eval items, before anyone is exposed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreflightConfig {
    /// A rollout of a prompt or model flag waits in DRAFT until a preflight passes.
    pub required: bool,
    pub alpha: f64,
    /// How much lower the candidate's mean score may be (score points) before it is a regression.
    pub score_margin: f64,
    pub min_items: u64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RateLimits {
    pub advances_per_hour: Option<u32>,
    pub rollouts_per_day: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinDwell {
    pub default: SignedDuration,
    pub per_step: BTreeMap<u16, SignedDuration>,
}

impl EnvPolicy {
    /// The Prometheus a flag's rollouts here are read from: its own section, else the environment's.
    pub fn prometheus_for(&self, flag: &str) -> Option<&PrometheusSource> {
        self.prometheus_flags.get(flag).or(self.prometheus.as_ref())
    }
}

impl MinDwell {
    /// How long a rollout must stay at `step` before it may leave it.
    pub fn at(&self, step: Percent) -> SignedDuration {
        self.per_step
            .get(&step.basis_points())
            .copied()
            .unwrap_or(self.default)
    }
}

impl Policy {
    pub fn env(&self, name: &str) -> Option<&EnvPolicy> {
        self.environments.get(name)
    }

    pub fn env_names(&self) -> impl Iterator<Item = &str> {
        self.environments.keys().map(String::as_str)
    }

    /// The defined segments' names, for messages: `internal, beta` or `none`.
    pub fn segment_names(&self) -> String {
        crate::domain::segment::names(&self.segments)
    }
}
