//! The human-owned policy (`flagwarden.toml`) and `decide()`, the pure function every action passes.
//!
//! `model.rs` holds what a policy says (actors, actions, decisions, each environment's bounds);
//! `parse.rs` the file format and its strict parser, with `parse_gate.rs` for the gate section and
//! `parse_prometheus.rs` for the Prometheus query provider's section, `parse_controller.rs` for
//! `[controller]`, `parse_webhooks.rs` for `[[webhooks]]`, `parse_checklist.rs` for an environment's
//! `checklist`, `parse_segments.rs` for segments and plans, `parse_shapes.rs` for the shadow and
//! experiment sections, and `error.rs` for file-line-field errors; `decide.rs` `decide()` and
//! `describe()`; `explain.rs` the protections on and off; `checklist.rs` the pre-release checklist's
//! items, facts and what is missing; `calendar.rs`
//! change windows and freezes in time zones. This file only re-exports them, so the rest of the crate
//! names `domain::policy::X` whichever file holds it, and no file here imports one that imports it.

mod calendar;
mod checklist;
mod decide;
mod error;
mod explain;
mod model;
mod parse;
mod parse_checklist;
mod parse_controller;
mod parse_gate;
mod parse_prometheus;
mod parse_segments;
mod parse_shapes;
mod parse_webhooks;

pub use calendar::{Freeze, FreezeWhen, Window};
pub use checklist::{
    Attested, ChecklistFacts, ChecklistItem, ChecklistPolicy, RehearsalFact, missing,
};
pub use decide::{decide, describe};
pub use error::PolicyError;
pub use explain::protections;
pub use model::{
    Action, ActionKind, Actor, Advance, AgentRollback, AutoRollback, ClientAnswer, ClientTrust,
    ControllerConfig, Decision, EnvPolicy, Exposure, FlagBounds, MinDwell, NotifyEvent, Policy,
    PreflightConfig, RateLimits, RuleId, Usage, Webhook, WebhookFormat,
};

// Re-exported for the app's messages, which name it by this path.
pub(crate) use super::duration::fmt_duration;
