//! The human-owned policy (`flagwarden.toml`) and `decide()`, the pure function every action passes.
//!
//! Parsing is strict: unknown keys, bad types and out-of-range values are refused with the file, the
//! line and the field, so a server never runs on a half-read policy. `decide` checks the hard bounds
//! first (who may act, freezes and windows, rate limits, allowed steps, step size, dwell) and only when
//! all of them hold does it consider the human-gated ones (max_auto_percent, start approval, rollback
//! proposals), which turn the action into an approval request instead of a refusal.

use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::bucket::Percent;
// Re-exported for the app's messages, which name it by this path.
pub(crate) use super::duration::fmt_duration;
use super::duration::parse_duration;
use super::flag::ChangeType;
use super::gate::{Breaker, GateConfig, Metric, MetricConfig, SrmAction, default_metric};

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
        steps: &'a [Percent],
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
    CleanupFlag,
    /// Takes a flag out of serving once no code references it. Never an agent's.
    ArchiveFlag,
}

impl Action<'_> {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::CreateFlag => ActionKind::CreateFlag,
            Action::WrapChange { .. } => ActionKind::WrapChange,
            Action::AddVersion { .. } => ActionKind::AddVersion,
            Action::SetTargeting { .. } => ActionKind::SetTargeting,
            Action::StartCanary { .. } => ActionKind::StartCanary,
            Action::AdvanceCanary { .. } => ActionKind::AdvanceCanary,
            Action::RecordSignals { .. } => ActionKind::RecordSignals,
            Action::Rollback { .. } => ActionKind::Rollback,
            Action::CleanupFlag => ActionKind::CleanupFlag,
            Action::ArchiveFlag => ActionKind::ArchiveFlag,
        }
    }
    fn env(&self) -> Option<&str> {
        match self {
            Action::SetTargeting { env }
            | Action::StartCanary { env, .. }
            | Action::AdvanceCanary { env, .. }
            | Action::RecordSignals { env }
            | Action::Rollback { env } => Some(env),
            Action::CreateFlag
            | Action::WrapChange { .. }
            | Action::AddVersion { .. }
            | Action::CleanupFlag
            | Action::ArchiveFlag => None,
        }
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

/// A parsed, validated policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    pub version: u32,
    pub flags: FlagBounds,
    pub environments: BTreeMap<String, EnvPolicy>,
    pub webhooks: Vec<Webhook>,
}

/// Where to tell people that something needs or got a human decision, or that a flag rolled back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub url: String,
    #[serde(default)]
    pub format: WebhookFormat,
    /// Which events to send; all of them when empty.
    #[serde(default)]
    pub events: Vec<NotifyEvent>,
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
    /// A flag rolled back (by a human, an allowed agent, or the system on a tripped breaker).
    RolledBack,
}

impl Webhook {
    pub fn wants(&self, e: NotifyEvent) -> bool {
        self.events.is_empty() || self.events.contains(&e)
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
    pub max_auto_percent: Percent,
    pub max_step_increase: Percent,
    pub min_dwell: MinDwell,
    pub requires_start_approval: bool,
    pub agent_rollback: AgentRollback,
    pub approvals: u32,
    pub auto_rollback_critical: bool,
    /// Whether a person answering an elicitation in the agent's own MCP client counts as the human
    /// who approves or rejects (default true). Set false where only the CLI or a human token may.
    pub confirm_in_client: bool,
    pub gate: GateConfig,
    pub preflight: PreflightConfig,
    pub rate_limits: RateLimits,
    pub change_windows: Vec<Window>,
    pub freezes: Vec<Freeze>,
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

impl MinDwell {
    /// How long a rollout must stay at `step` before it may leave it.
    pub fn at(&self, step: Percent) -> SignedDuration {
        self.per_step
            .get(&step.basis_points())
            .copied()
            .unwrap_or(self.default)
    }
}

/// A recurring weekly window in a time zone: on `days`, from `start` to `end` (overnight if end < start).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    pub days: Vec<String>,
    #[serde(skip)]
    weekdays: Vec<Weekday>,
    pub start: String,
    pub end: String,
    pub tz: String,
    #[serde(skip)]
    times: (Time, Time),
    #[serde(skip)]
    zone: TimeZone,
}

/// A freeze: weekly recurring (`from`/`to` such as "fri 16:00" → "mon 09:00" in `tz`) or one-off.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Freeze {
    pub reason: String,
    #[serde(flatten)]
    pub when: FreezeWhen,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FreezeWhen {
    Weekly {
        from: String,
        to: String,
        tz: String,
        #[serde(skip)]
        minutes: (u32, u32),
        #[serde(skip)]
        zone: TimeZone,
    },
    Once {
        start: Timestamp,
        end: Timestamp,
    },
}

const MINUTES_PER_WEEK: u32 = 7 * 24 * 60;

fn minute_of_week(ts: Timestamp, zone: &TimeZone) -> (Weekday, u32, Time) {
    let z = ts.to_zoned_datetime(zone.clone());
    let day = z.weekday();
    let t = z.time();
    let m = day.to_monday_zero_offset() as u32 * 1440 + t.hour() as u32 * 60 + t.minute() as u32;
    (day, m, t)
}

impl Window {
    pub fn contains(&self, now: Timestamp) -> bool {
        let (day, _, t) = minute_of_week(now, &self.zone);
        let (start, end) = self.times;
        if start < end {
            self.weekdays.contains(&day) && start <= t && t < end
        } else {
            (self.weekdays.contains(&day) && t >= start)
                || (self.weekdays.contains(&day.previous()) && t < end)
        }
    }
}

impl Freeze {
    pub fn contains(&self, now: Timestamp) -> bool {
        match &self.when {
            FreezeWhen::Once { start, end } => *start <= now && now < *end,
            FreezeWhen::Weekly {
                minutes: (from, to),
                zone,
                ..
            } => {
                let (_, m, _) = minute_of_week(now, zone);
                if from < to {
                    *from <= m && m < *to
                } else {
                    m >= *from || m < *to
                }
            }
        }
    }
}

/// Where a policy file went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {field}: {message}")]
pub struct PolicyError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

// ---- the file format -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: Spanned<u32>,
    #[serde(default)]
    flags: Option<RawFlags>,
    environments: Spanned<BTreeMap<String, Spanned<RawEnv>>>,
    #[serde(default)]
    webhooks: Vec<Spanned<Webhook>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlags {
    #[serde(default = "yes")]
    agent_may_create: bool,
    created_per_day: Option<u32>,
    #[serde(default)]
    lifetime_days: BTreeMap<String, Spanned<u32>>,
}

fn yes() -> bool {
    true
}

impl Default for RawFlags {
    /// An absent `[flags]` section means the same as an empty one.
    fn default() -> Self {
        RawFlags {
            agent_may_create: true,
            created_per_day: None,
            lifetime_days: BTreeMap::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnv {
    #[serde(default)]
    agent_may: Vec<ActionKind>,
    #[serde(default)]
    human_only: Vec<ActionKind>,
    steps: Option<Spanned<Vec<Spanned<f64>>>>,
    max_auto_percent: Option<Spanned<f64>>,
    max_step_increase: Option<Spanned<f64>>,
    min_dwell: Option<Spanned<RawDwell>>,
    #[serde(default)]
    requires_start_approval: bool,
    agent_rollback: Option<AgentRollback>,
    approvals: Option<Spanned<u32>>,
    #[serde(default)]
    auto_rollback_critical: bool,
    #[serde(default = "yes")]
    confirm_in_client: bool,
    gate: Option<RawGate>,
    preflight: Option<Spanned<RawPreflight>>,
    rate_limits: Option<RawRateLimits>,
    #[serde(default)]
    change_windows: Vec<Spanned<RawWindow>>,
    #[serde(default)]
    freezes: Vec<Spanned<RawFreeze>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDwell {
    All(String),
    PerStep(BTreeMap<String, String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGate {
    alpha_rollback: Option<Spanned<f64>>,
    alpha_promote: Option<Spanned<f64>>,
    tuning_n: Option<Spanned<f64>>,
    min_samples: Option<Spanned<u64>>,
    required: Option<Spanned<Vec<String>>>,
    fresh_within: Option<Spanned<String>>,
    no_traffic_grace: Option<Spanned<String>>,
    max_step_duration: Option<Spanned<String>>,
    srm_threshold: Option<Spanned<f64>>,
    srm_action: Option<SrmAction>,
    #[serde(default)]
    metrics: BTreeMap<String, Spanned<RawMetric>>,
    #[serde(default)]
    breakers: Vec<Spanned<RawBreaker>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    margin: Option<f64>,
    min_samples: Option<u64>,
    critical: Option<bool>,
    floor: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreaker {
    metric: String,
    above: Option<f64>,
    below: Option<f64>,
    #[serde(default)]
    min_samples: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPreflight {
    #[serde(default)]
    required: bool,
    alpha: Option<f64>,
    score_margin: Option<f64>,
    min_items: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimits {
    advances_per_hour: Option<u32>,
    rollouts_per_day: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    days: Vec<String>,
    start: String,
    end: String,
    tz: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFreeze {
    #[serde(default)]
    reason: String,
    from: Option<String>,
    to: Option<String>,
    tz: Option<String>,
    start: Option<String>,
    end: Option<String>,
}

struct Ctx<'a> {
    file: &'a str,
    source: &'a str,
}

impl Ctx<'_> {
    /// An error at `span`, pointing at the line of the field's own key when the span holds it.
    fn err(
        &self,
        span: std::ops::Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> PolicyError {
        let field = field.into();
        let start = span.start.min(self.source.len());
        let key = field.rsplit('.').next().unwrap_or("");
        let mut at = start;
        let mut offset = start;
        // A table's span may cover only its header, so look through its lines up to the next header.
        for (i, l) in self.source[start..].split_inclusive('\n').enumerate() {
            let t = l.trim_start();
            if i > 0 && t.starts_with('[') {
                break;
            }
            if t.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
            {
                at = offset;
                break;
            }
            offset += l.len();
        }
        let line = self.source[..at].matches('\n').count() + 1;
        PolicyError {
            file: self.file.to_owned(),
            line,
            field,
            message: message.into(),
        }
    }
}

/// The dotted path of the key on the line holding byte `at`: the nearest table header above it plus
/// the key, e.g. `environments.production.agent_may`; `(syntax)` when the line is not a key.
fn field_at(source: &str, at: usize) -> String {
    let at = at.min(source.len());
    let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = source[line_start..].lines().next().unwrap_or("");
    let Some((key, _)) = line.split_once('=') else {
        return "(syntax)".into();
    };
    let key = key.trim().trim_matches('"');
    let header = source[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|h| h.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    match header {
        Some(h) => format!("{h}.{key}"),
        None => key.to_owned(),
    }
}

fn parse_weekday(s: &str) -> Option<Weekday> {
    Some(match s.to_ascii_lowercase().get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

fn parse_time(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

fn parse_zone(s: &str) -> Option<TimeZone> {
    TimeZone::get(s).ok()
}

impl Policy {
    /// Parses and validates a policy file's text. `file` is used in error messages only.
    pub fn parse(file: &str, source: &str) -> Result<Policy, PolicyError> {
        let cx = Ctx { file, source };
        let raw: RawPolicy = toml::from_str(source).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_owned();
            // serde names a missing key in its message; point at that key rather than the line.
            let field = match message
                .strip_prefix("missing field `")
                .and_then(|m| m.split_once('`'))
            {
                Some((missing, _)) => missing.to_owned(),
                None => field_at(source, span.start),
            };
            cx.err(span, field, message)
        })?;
        if *raw.version.get_ref() == 0 {
            return Err(cx.err(
                raw.version.span(),
                "version",
                "version must be 1 or more; bump it on every change",
            ));
        }
        let flags = raw.flags.unwrap_or_default();
        let mut lifetime_days = BTreeMap::new();
        for (name, days) in flags.lifetime_days {
            let field = format!("flags.lifetime_days.{name}");
            if let Err(e) = ChangeType::parse(&name) {
                return Err(cx.err(days.span(), field, e.message));
            }
            if *days.get_ref() > 3650 {
                return Err(cx.err(
                    days.span(),
                    field,
                    "at most 3650 days; use 0 for a flag type that is permanent by design",
                ));
            }
            lifetime_days.insert(name, days.into_inner());
        }
        let env_span = raw.environments.span();
        let mut environments = BTreeMap::new();
        for (name, env) in raw.environments.into_inner() {
            if super::flag::check_environment_name(&name).is_err() {
                return Err(cx.err(
                    env.span(),
                    format!("environments.{name}"),
                    "an environment name uses letters, digits, '-', '_' or '.'",
                ));
            }
            let span = env.span();
            let parsed = parse_env(&cx, &name, span, env.into_inner())?;
            environments.insert(name, parsed);
        }
        if environments.is_empty() {
            return Err(cx.err(
                env_span,
                "environments",
                "declare at least one environment, e.g. [environments.development]",
            ));
        }
        let mut webhooks = Vec::new();
        for (i, w) in raw.webhooks.into_iter().enumerate() {
            let span = w.span();
            let w = w.into_inner();
            let ok = ["http://", "https://"].iter().any(|p| w.url.starts_with(p))
                && w.url.len() > "https://".len();
            if !ok {
                return Err(cx.err(
                    span,
                    format!("webhooks[{i}].url"),
                    "an http:// or https:// URL, e.g. a Slack incoming-webhook URL",
                ));
            }
            webhooks.push(w);
        }
        Ok(Policy {
            version: raw.version.into_inner(),
            webhooks,
            flags: FlagBounds {
                agent_may_create: flags.agent_may_create,
                created_per_day: flags.created_per_day,
                lifetime_days,
            },
            environments,
        })
    }

    pub fn env(&self, name: &str) -> Option<&EnvPolicy> {
        self.environments.get(name)
    }

    pub fn env_names(&self) -> impl Iterator<Item = &str> {
        self.environments.keys().map(String::as_str)
    }
}

fn percent(cx: &Ctx, field: &str, v: &Spanned<f64>) -> Result<Percent, PolicyError> {
    Percent::from_percent(*v.get_ref()).map_err(|m| cx.err(v.span(), field, m))
}

fn parse_env(
    cx: &Ctx,
    name: &str,
    span: std::ops::Range<usize>,
    raw: RawEnv,
) -> Result<EnvPolicy, PolicyError> {
    let f = |k: &str| format!("environments.{name}.{k}");
    for a in &raw.agent_may {
        if raw.human_only.contains(a) {
            return Err(cx.err(
                span.clone(),
                f("agent_may"),
                format!("{a} is in both agent_may and human_only; keep it in one"),
            ));
        }
        if matches!(
            a,
            ActionKind::Approve | ActionKind::Reject | ActionKind::ArchiveFlag
        ) {
            return Err(cx.err(
                span.clone(),
                f("agent_may"),
                format!("{a} is for humans only and cannot be given to agents"),
            ));
        }
    }
    let steps = match &raw.steps {
        None => [1.0, 5.0, 25.0, 50.0, 100.0]
            .iter()
            .map(|p| Percent::from_percent(*p).expect("valid"))
            .collect(),
        Some(list) => {
            let mut out: Vec<Percent> = Vec::new();
            for s in list.get_ref() {
                let p = percent(cx, &f("steps"), s)?;
                if p == Percent::ZERO || out.last().is_some_and(|last| *last >= p) {
                    return Err(cx.err(
                        s.span(),
                        f("steps"),
                        "steps must be above 0 and strictly increasing, e.g. [1, 5, 25, 50, 100]",
                    ));
                }
                out.push(p);
            }
            if out.last() != Some(&Percent::FULL) {
                return Err(cx.err(list.span(), f("steps"), "the last step must be 100"));
            }
            out
        }
    };
    let max_auto_percent = raw
        .max_auto_percent
        .as_ref()
        .map(|v| percent(cx, &f("max_auto_percent"), v))
        .transpose()?
        .unwrap_or(Percent::FULL);
    let max_step_increase = raw
        .max_step_increase
        .as_ref()
        .map(|v| percent(cx, &f("max_step_increase"), v))
        .transpose()?
        .unwrap_or(Percent::FULL);
    if max_step_increase == Percent::ZERO {
        let s = raw.max_step_increase.as_ref().expect("set").span();
        return Err(cx.err(
            s,
            f("max_step_increase"),
            "must be above 0, or no rollout could ever advance",
        ));
    }
    let bad_duration = "use a duration such as \"30m\", \"2h\" or \"1h 30m\"";
    let min_dwell = match raw.min_dwell {
        None => MinDwell {
            default: SignedDuration::ZERO,
            per_step: BTreeMap::new(),
        },
        Some(d) => {
            let s = d.span();
            match d.into_inner() {
                RawDwell::All(text) => MinDwell {
                    default: parse_duration(&text)
                        .ok_or_else(|| cx.err(s.clone(), f("min_dwell"), bad_duration))?,
                    per_step: BTreeMap::new(),
                },
                RawDwell::PerStep(map) => {
                    let mut dwell = MinDwell {
                        default: SignedDuration::ZERO,
                        per_step: BTreeMap::new(),
                    };
                    for (k, v) in map {
                        let field = format!("{}.{k}", f("min_dwell"));
                        let d = parse_duration(&v)
                            .ok_or_else(|| cx.err(s.clone(), &field, bad_duration))?;
                        if k == "default" {
                            dwell.default = d;
                        } else {
                            let p = k
                                .parse::<f64>()
                                .ok()
                                .and_then(|p| Percent::from_percent(p).ok())
                                .filter(|p| steps.contains(p))
                                .ok_or_else(|| {
                                    cx.err(
                                        s.clone(),
                                        &field,
                                        "keys are \"default\" or one of the steps, e.g. \"25\"",
                                    )
                                })?;
                            dwell.per_step.insert(p.basis_points(), d);
                        }
                    }
                    dwell
                }
            }
        }
    };
    let approvals = match raw.approvals {
        None => 1,
        Some(a) if *a.get_ref() == 0 || *a.get_ref() > 5 => {
            return Err(cx.err(a.span(), f("approvals"), "between 1 and 5 humans"));
        }
        Some(a) => a.into_inner(),
    };
    let gate = match raw.gate {
        None => GateConfig::default(),
        Some(g) => parse_gate(cx, &f("gate"), span.clone(), g)?,
    };
    let preflight = match raw.preflight {
        None => PreflightConfig {
            required: false,
            alpha: 0.05,
            score_margin: 0.02,
            min_items: 20,
        },
        Some(p) => {
            let s = p.span();
            let p = p.into_inner();
            let alpha = p.alpha.unwrap_or(0.05);
            let score_margin = p.score_margin.unwrap_or(0.02);
            if !(alpha > 0.0 && alpha < 0.5) {
                return Err(cx.err(
                    s,
                    f("preflight.alpha"),
                    "a level between 0 and 0.5, e.g. 0.05",
                ));
            }
            if !(0.0..=1.0).contains(&score_margin) {
                return Err(cx.err(
                    s,
                    f("preflight.score_margin"),
                    "score points between 0 and 1, e.g. 0.02",
                ));
            }
            PreflightConfig {
                required: p.required,
                alpha,
                score_margin,
                min_items: p.min_items.unwrap_or(20).max(1),
            }
        }
    };
    let rate_limits = raw
        .rate_limits
        .map(|r| RateLimits {
            advances_per_hour: r.advances_per_hour,
            rollouts_per_day: r.rollouts_per_day,
        })
        .unwrap_or_default();
    let mut change_windows = Vec::new();
    for (i, w) in raw.change_windows.into_iter().enumerate() {
        let s = w.span();
        let field = format!("{}[{i}]", f("change_windows"));
        let w = w.into_inner();
        let weekdays = w
            .days
            .iter()
            .map(|d| parse_weekday(d))
            .collect::<Option<Vec<_>>>()
            .filter(|d| !d.is_empty())
            .ok_or_else(|| {
                cx.err(
                    s.clone(),
                    format!("{field}.days"),
                    "days like [\"mon\", \"tue\"]",
                )
            })?;
        let start = parse_time(&w.start)
            .ok_or_else(|| cx.err(s.clone(), format!("{field}.start"), "a time \"HH:MM\""))?;
        let end = parse_time(&w.end)
            .ok_or_else(|| cx.err(s.clone(), format!("{field}.end"), "a time \"HH:MM\""))?;
        let zone = parse_zone(&w.tz).ok_or_else(|| {
            cx.err(
                s.clone(),
                format!("{field}.tz"),
                format!(
                    "unknown time zone {:?}: use an IANA name such as \"Europe/Berlin\"",
                    w.tz
                ),
            )
        })?;
        change_windows.push(Window {
            days: w.days,
            weekdays,
            start: w.start,
            end: w.end,
            tz: w.tz,
            times: (start, end),
            zone,
        });
    }
    let mut freezes = Vec::new();
    for (i, fr) in raw.freezes.into_iter().enumerate() {
        let s = fr.span();
        let field = format!("{}[{i}]", f("freezes"));
        let fr = fr.into_inner();
        let when = match (fr.from, fr.to, fr.tz, fr.start, fr.end) {
            (Some(from), Some(to), Some(tz), None, None) => {
                let at = |text: &str, k: &str| -> Result<u32, PolicyError> {
                    let bad = || {
                        cx.err(
                            s.clone(),
                            format!("{field}.{k}"),
                            "a weekday and time such as \"fri 16:00\"",
                        )
                    };
                    let (d, t) = text.trim().split_once(' ').ok_or_else(bad)?;
                    let day = parse_weekday(d).ok_or_else(bad)?;
                    let time = parse_time(t.trim()).ok_or_else(bad)?;
                    Ok(day.to_monday_zero_offset() as u32 * 1440
                        + time.hour() as u32 * 60
                        + time.minute() as u32)
                };
                let minutes = (at(&from, "from")?, at(&to, "to")?);
                if minutes.0 == minutes.1 || minutes.0 >= MINUTES_PER_WEEK {
                    return Err(cx.err(s, format!("{field}.to"), "`to` must differ from `from`"));
                }
                let zone = parse_zone(&tz).ok_or_else(|| {
                    cx.err(
                        s.clone(),
                        format!("{field}.tz"),
                        format!(
                            "unknown time zone {tz:?}: use an IANA name such as \"Europe/Berlin\""
                        ),
                    )
                })?;
                FreezeWhen::Weekly {
                    from,
                    to,
                    tz,
                    minutes,
                    zone,
                }
            }
            (None, None, None, Some(start), Some(end)) => {
                let ts = |text: &str, k: &str| {
                    text.parse::<Timestamp>().map_err(|_| {
                        cx.err(
                            s.clone(),
                            format!("{field}.{k}"),
                            "an RFC 3339 instant such as \"2026-12-20T00:00:00Z\"",
                        )
                    })
                };
                let (start, end) = (ts(&start, "start")?, ts(&end, "end")?);
                if end <= start {
                    return Err(cx.err(s, format!("{field}.end"), "`end` must be after `start`"));
                }
                FreezeWhen::Once { start, end }
            }
            _ => {
                return Err(cx.err(
                    s,
                    field,
                    "a freeze is either weekly (from = \"fri 16:00\", to = \"mon 09:00\", tz = \"Europe/Berlin\") or one-off (start and end as RFC 3339 instants)",
                ));
            }
        };
        freezes.push(Freeze {
            reason: fr.reason,
            when,
        });
    }
    Ok(EnvPolicy {
        agent_may: raw.agent_may,
        human_only: raw.human_only,
        steps,
        max_auto_percent,
        max_step_increase,
        min_dwell,
        requires_start_approval: raw.requires_start_approval,
        agent_rollback: raw.agent_rollback.unwrap_or(AgentRollback::Propose),
        approvals,
        auto_rollback_critical: raw.auto_rollback_critical,
        confirm_in_client: raw.confirm_in_client,
        gate,
        preflight,
        rate_limits,
        change_windows,
        freezes,
    })
}

// ---- deciding --------------------------------------------------------------------------------

fn deny(rule: String, message: String) -> Decision {
    Decision::Deny { rule, message }
}

fn human_gate(rule: String, message: String) -> Decision {
    Decision::NeedsApproval { rule, message }
}

/// Decides whether `actor` may do `action` now. Pure: every fact comes in as an argument.
pub fn decide(
    policy: &Policy,
    actor: &Actor,
    action: &Action,
    usage: &Usage,
    now: Timestamp,
) -> Decision {
    let kind = action.kind();
    let env_name = action.env();
    let env = match env_name {
        Some(name) => match policy.env(name) {
            Some(env) => Some((name, env)),
            None => {
                let known: Vec<_> = policy.env_names().collect();
                return deny(
                    "environments".into(),
                    format!(
                        "environment {name:?} is not declared in the policy; declared: {}",
                        known.join(", ")
                    ),
                );
            }
        },
        None => None,
    };
    let break_glass = usage.break_glass_until.is_some_and(|until| now < until);

    // Freezes bind everyone, humans too, unless a human has broken the glass; rollback is never stopped.
    if let Some((name, env)) = env
        && kind.changes_exposure()
        && !break_glass
    {
        if let Some((i, fr)) = env
            .freezes
            .iter()
            .enumerate()
            .find(|(_, f)| f.contains(now))
        {
            let why = if fr.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", fr.reason)
            };
            return deny(
                format!("{name}.freezes[{i}]"),
                format!(
                    "{name} is frozen{why}: {kind} is not allowed now; rollback stays available, and a human can use break-glass for an emergency"
                ),
            );
        }
        if !env.change_windows.is_empty() && !env.change_windows.iter().any(|w| w.contains(now)) {
            let windows: Vec<_> = env
                .change_windows
                .iter()
                .map(|w| format!("{} {}–{} {}", w.days.join("/"), w.start, w.end, w.tz))
                .collect();
            return deny(
                format!("{name}.change_windows"),
                format!(
                    "{kind} in {name} is only allowed inside its change windows: {}",
                    windows.join("; ")
                ),
            );
        }
    }

    let agent = match actor {
        Actor::Agent(_) => true,
        Actor::Human(_) | Actor::App(_) | Actor::System => false,
    };
    if !agent {
        return Decision::Allow;
    }

    match (kind, env) {
        (ActionKind::CreateFlag | ActionKind::WrapChange | ActionKind::AddVersion, _) => {
            let creates = matches!(
                action,
                Action::CreateFlag
                    | Action::WrapChange { creates_flag: true }
                    | Action::AddVersion { creates_flag: true }
            );
            if creates && !policy.flags.agent_may_create {
                return deny(
                    "flags.agent_may_create".into(),
                    "agents may not create flags under this policy; ask a human to create it"
                        .into(),
                );
            }
            if creates
                && let Some(limit) = policy.flags.created_per_day
                && usage.flags_created_last_day >= limit
            {
                return deny(
                    "flags.created_per_day".into(),
                    format!(
                        "{} flags were created in the last 24 h, the limit is {limit}; reuse an existing flag or wait",
                        usage.flags_created_last_day
                    ),
                );
            }
            return Decision::Allow;
        }
        (ActionKind::CleanupFlag, _) => return Decision::Allow,
        (ActionKind::ArchiveFlag, _) => {
            return deny(
                "archive_flag".into(),
                "archiving a flag is reserved for humans; ask one to run `flagwarden archive KEY --reason ...` once no code references it".into(),
            );
        }
        _ => {}
    }
    let Some((name, env)) = env else {
        return Decision::Allow;
    };

    if env.human_only.contains(&kind) {
        return deny(
            format!("{name}.human_only"),
            format!(
                "{kind} in {name} is reserved for humans; ask a human to do it with the flagwarden CLI"
            ),
        );
    }
    if !env.agent_may.contains(&kind) {
        return deny(
            format!("{name}.agent_may"),
            format!(
                "{kind} in {name} is not in the agent's allowed actions ({}); ask a human",
                list(&env.agent_may)
            ),
        );
    }
    match action {
        Action::Rollback { .. } => match env.agent_rollback {
            AgentRollback::Allow => Decision::Allow,
            AgentRollback::Propose => human_gate(
                format!("{name}.agent_rollback"),
                format!(
                    "in {name} an agent's rollback is a proposal: exposure is frozen until a human confirms it"
                ),
            ),
        },
        Action::StartCanary { steps, .. } => {
            if let Some(limit) = env.rate_limits.rollouts_per_day
                && usage.rollouts_started_last_day >= limit
            {
                return deny(
                    format!("{name}.rate_limits.rollouts_per_day"),
                    format!(
                        "{} rollouts started in {name} in the last 24 h, the limit is {limit}; wait or ask a human",
                        usage.rollouts_started_last_day
                    ),
                );
            }
            if let Some(bad) = steps.iter().find(|s| !env.steps.contains(s)) {
                return deny(
                    format!("{name}.steps"),
                    format!(
                        "step {bad} is not allowed in {name}; allowed steps are {}",
                        percents(&env.steps)
                    ),
                );
            }
            let first = steps.first().copied().unwrap_or(Percent::FULL);
            if first > env.max_step_increase {
                return deny(
                    format!("{name}.max_step_increase"),
                    format!(
                        "the first step {first} exceeds the largest allowed step of {} in {name}; start lower",
                        env.max_step_increase
                    ),
                );
            }
            if env.requires_start_approval {
                return human_gate(
                    format!("{name}.requires_start_approval"),
                    format!("starting a rollout in {name} needs a human's approval"),
                );
            }
            if first > env.max_auto_percent {
                return human_gate(
                    format!("{name}.max_auto_percent"),
                    format!(
                        "the first step {first} is above {name}'s max_auto_percent ({}); a human must approve it",
                        env.max_auto_percent
                    ),
                );
            }
            Decision::Allow
        }
        Action::AdvanceCanary {
            from, to, dwell, ..
        } => {
            if let Some(limit) = env.rate_limits.advances_per_hour
                && usage.advances_last_hour >= limit
            {
                return deny(
                    format!("{name}.rate_limits.advances_per_hour"),
                    format!(
                        "this rollout advanced {} times in the last hour, the limit is {limit}; wait and advance later",
                        usage.advances_last_hour
                    ),
                );
            }
            let need = env.min_dwell.at(*from);
            if *dwell < need {
                return deny(
                    format!("{name}.min_dwell"),
                    format!(
                        "the rollout must stay at {from} for {} (it has been {}); advance again in {}",
                        fmt_duration(need),
                        fmt_duration(*dwell),
                        fmt_duration(need - *dwell)
                    ),
                );
            }
            if from == to {
                return Decision::Allow;
            }
            if !env.steps.contains(to) {
                return deny(
                    format!("{name}.steps"),
                    format!(
                        "step {to} is not allowed in {name}; allowed steps are {}",
                        percents(&env.steps)
                    ),
                );
            }
            let increase =
                Percent::from_basis_points(to.basis_points().saturating_sub(from.basis_points()))
                    .unwrap_or(Percent::ZERO);
            if increase > env.max_step_increase {
                return deny(
                    format!("{name}.max_step_increase"),
                    format!(
                        "{from} → {to} is a step of {increase}, above {name}'s max_step_increase of {}",
                        env.max_step_increase
                    ),
                );
            }
            if *to > env.max_auto_percent {
                return human_gate(
                    format!("{name}.max_auto_percent"),
                    format!(
                        "{to} is above {name}'s max_auto_percent ({}); a human must approve this step",
                        env.max_auto_percent
                    ),
                );
            }
            Decision::Allow
        }
        _ => Decision::Allow,
    }
}

fn list(actions: &[ActionKind]) -> String {
    if actions.is_empty() {
        "none".into()
    } else {
        actions
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn percents(steps: &[Percent]) -> String {
    steps
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The bounds of one environment in plain words, for `get_policy` and people.
pub fn describe(env: &EnvPolicy) -> Vec<String> {
    let mut out = vec![
        format!("agents may: {}", list(&env.agent_may)),
        format!("humans only: {}", list(&env.human_only)),
        format!("rollout steps: {}", percents(&env.steps)),
        format!(
            "above {} a human approves each step; a step may add at most {}",
            env.max_auto_percent, env.max_step_increase
        ),
    ];
    if env.min_dwell.default > SignedDuration::ZERO || !env.min_dwell.per_step.is_empty() {
        let mut parts = vec![format!("default {}", fmt_duration(env.min_dwell.default))];
        for (bp, d) in &env.min_dwell.per_step {
            parts.push(format!("{}% {}", f64::from(*bp) / 100.0, fmt_duration(*d)));
        }
        out.push(format!("minimum time at each step: {}", parts.join(", ")));
    }
    if env.requires_start_approval {
        out.push("starting a rollout needs a human's approval".into());
    }
    out.push(match env.agent_rollback {
        AgentRollback::Allow => "an agent may roll back on its own".into(),
        AgentRollback::Propose => "an agent's rollback is a proposal a human confirms".into(),
    });
    let g = &env.gate;
    let required: Vec<&str> = g
        .metrics
        .iter()
        .filter(|m| m.required)
        .map(|m| m.metric.name())
        .collect();
    out.push(format!(
        "gate: promotes when {} {} shown no worse than the margin against the control arm, with no harm on any metric (false rollback {}, false promote {}, valid at every look)",
        required.join(", "),
        if required.len() == 1 { "is" } else { "are" },
        g.alpha_rollback,
        g.alpha_promote
    ));
    for b in &g.breakers {
        let (op, v) = b
            .above
            .map_or(("below", b.below.unwrap_or(0.0)), |a| ("above", a));
        out.push(format!(
            "circuit breaker: canary {} {op} {v} rolls back",
            b.metric.name()
        ));
    }
    if env.preflight.required {
        out.push("prompt and model rollouts need a passing offline eval (record_signals with eval_pairs) before exposure".into());
    }
    if let Some(n) = env.rate_limits.advances_per_hour {
        out.push(format!("at most {n} advances per rollout per hour"));
    }
    if let Some(n) = env.rate_limits.rollouts_per_day {
        out.push(format!("at most {n} rollouts started per day"));
    }
    for w in &env.change_windows {
        out.push(format!(
            "changes only {} {}–{} ({})",
            w.days.join("/"),
            w.start,
            w.end,
            w.tz
        ));
    }
    for f in &env.freezes {
        let when = match &f.when {
            FreezeWhen::Weekly { from, to, tz, .. } => format!("every week {from} → {to} ({tz})"),
            FreezeWhen::Once { start, end } => format!("{start} → {end}"),
        };
        out.push(format!(
            "frozen {when}{}",
            if f.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", f.reason)
            }
        ));
    }
    out
}

fn parse_gate(
    cx: &Ctx,
    at: &str,
    span: std::ops::Range<usize>,
    g: RawGate,
) -> Result<GateConfig, PolicyError> {
    let f = |k: &str| format!("{at}.{k}");
    let mut cfg = GateConfig::default();
    let level = |v: &Option<Spanned<f64>>, key: &str, default: f64| match v {
        None => Ok(default),
        Some(a) if *a.get_ref() > 0.0 && *a.get_ref() < 0.5 => Ok(*a.get_ref()),
        Some(a) => Err(cx.err(a.span(), f(key), "a level between 0 and 0.5, e.g. 0.05")),
    };
    cfg.alpha_rollback = level(&g.alpha_rollback, "alpha_rollback", cfg.alpha_rollback)?;
    cfg.alpha_promote = level(&g.alpha_promote, "alpha_promote", cfg.alpha_promote)?;
    cfg.srm_threshold = level(&g.srm_threshold, "srm_threshold", cfg.srm_threshold)?;
    if let Some(t) = &g.tuning_n {
        if !(*t.get_ref() >= 10.0 && t.get_ref().is_finite()) {
            return Err(cx.err(
                t.span(),
                f("tuning_n"),
                "the planned total samples of both arms, at least 10, e.g. 5000",
            ));
        }
        cfg.tuning_n = *t.get_ref();
    }
    if let Some(a) = g.srm_action {
        cfg.srm_action = a;
    }
    let duration = |v: &Option<Spanned<String>>, key: &str, default: SignedDuration| match v {
        None => Ok(default),
        Some(d) => parse_duration(d.get_ref())
            .filter(|d| *d > SignedDuration::ZERO)
            .ok_or_else(|| {
                cx.err(
                    d.span(),
                    f(key),
                    "use a duration such as \"15m\" or \"24h\"",
                )
            }),
    };
    cfg.fresh_within = duration(&g.fresh_within, "fresh_within", cfg.fresh_within)?;
    cfg.no_traffic_grace = duration(
        &g.no_traffic_grace,
        "no_traffic_grace",
        cfg.no_traffic_grace,
    )?;
    cfg.max_step_duration = duration(
        &g.max_step_duration,
        "max_step_duration",
        cfg.max_step_duration,
    )?;
    let min_samples = match &g.min_samples {
        Some(n) if *n.get_ref() == 0 => {
            return Err(cx.err(n.span(), f("min_samples"), "at least 1 sample per arm"));
        }
        Some(n) => *n.get_ref(),
        None => 200,
    };
    cfg.metrics = Metric::BUILT_IN
        .into_iter()
        .map(|m| default_metric(m, min_samples))
        .collect();
    for (name, raw) in g.metrics {
        let s = raw.span();
        let field = f(&format!("metrics.{name}"));
        let metric = Metric::parse(&name).map_err(|m| cx.err(s.clone(), &field, m))?;
        let raw = raw.into_inner();
        let m = match cfg.metrics.iter_mut().find(|m| m.metric == metric) {
            Some(m) => m,
            None => {
                cfg.metrics.push(default_metric(metric, min_samples));
                cfg.metrics.last_mut().expect("just pushed")
            }
        };
        if let Some(margin) = raw.margin {
            if !(0.0..=1.0).contains(&margin) {
                return Err(cx.err(
                    s,
                    format!("{field}.margin"),
                    "how much worse the canary may be, between 0 and 1, e.g. 0.01",
                ));
            }
            m.margin = margin;
        }
        if let Some(floor) = raw.floor {
            if !(0.0..=1.0).contains(&floor) {
                return Err(cx.err(
                    s,
                    format!("{field}.floor"),
                    "a rate or score between 0 and 1",
                ));
            }
            m.floor = Some(floor);
        }
        m.min_samples = raw.min_samples.unwrap_or(m.min_samples).max(1);
        m.critical = raw.critical.unwrap_or(m.critical);
    }
    if let Some(req) = g.required {
        let s = req.span();
        let names = req.into_inner();
        if names.is_empty() {
            return Err(cx.err(s, f("required"), "name at least one metric that must be shown no worse, e.g. [\"error_rate\"]; missing evidence is never a pass"));
        }
        for m in &mut cfg.metrics {
            m.required = false;
        }
        for name in names {
            let metric = Metric::parse(&name).map_err(|m| cx.err(s.clone(), f("required"), m))?;
            match cfg.metrics.iter_mut().find(|m| m.metric == metric) {
                Some(m) => m.required = true,
                None => cfg.metrics.push(MetricConfig {
                    required: true,
                    ..default_metric(metric, min_samples)
                }),
            }
        }
    }
    for (i, b) in g.breakers.into_iter().enumerate() {
        let s = b.span();
        let field = f(&format!("breakers[{i}]"));
        let b = b.into_inner();
        let metric = Metric::parse(&b.metric)
            .map_err(|m| cx.err(s.clone(), format!("{field}.metric"), m))?;
        if b.above.is_some() == b.below.is_some() {
            return Err(cx.err(s, field, "give exactly one of above or below, e.g. { metric = \"error_rate\", above = 0.2, min_samples = 20 }"));
        }
        if metric == Metric::LatencyP95 {
            return Err(cx.err(s, format!("{field}.metric"), "latency_p95 is relative to the control; a breaker needs an absolute metric such as error_rate"));
        }
        cfg.breakers.push(Breaker {
            metric,
            above: b.above,
            below: b.below,
            min_samples: b.min_samples,
        });
    }
    let _ = span;
    Ok(cfg)
}
