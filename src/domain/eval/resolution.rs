//! The answer to one evaluation: value, variant, OpenFeature reason and error code, the canary arm
//! while a rollout runs, and the counter `record` bumps.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde_json::Value;

/// OpenFeature resolution reasons.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    Static,
    Default,
    TargetingMatch,
    Split,
    Disabled,
    Error,
}

/// OpenFeature error codes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    FlagNotFound,
    TypeMismatch,
    TargetingKeyMissing,
    InvalidContext,
    ParseError,
    General,
}

/// Which side of a running canary a unit is on; stable for a unit as the canary grows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    Canary,
    Control,
    Excluded,
}

impl Arm {
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Canary => "canary",
            Arm::Control => "control",
            Arm::Excluded => "excluded",
        }
    }
}

/// The answer to one evaluation. `value == None` means "use your code default" (with `error` set).
#[derive(Debug, Clone)]
pub struct Resolution<'s> {
    pub value: Option<&'s Value>,
    pub variant: Option<&'s str>,
    pub reason: Reason,
    pub error: Option<(ErrorCode, &'static str)>,
    /// Set while a rollout runs in this environment.
    pub arm: Option<Arm>,
    /// In a shadow run's shadow arm: the candidate variant and value to run unseen beside the
    /// served one. The reason stays SPLIT: OpenFeature providers read reasons as a closed set (the
    /// Python OFREP provider fails an evaluation whose reason it does not know), so the instruction
    /// travels in the metadata, which every provider passes through.
    pub shadow: Option<(&'s str, &'s Value)>,
    pub(super) counter: Option<&'s AtomicU64>,
}

impl<'s> Resolution<'s> {
    pub(super) fn error(code: ErrorCode, message: &'static str) -> Resolution<'s> {
        Resolution {
            value: None,
            variant: None,
            reason: Reason::Error,
            error: Some((code, message)),
            arm: None,
            shadow: None,
            counter: None,
        }
    }
    /// Counts this evaluation toward the flag's per-variant evaluation counts.
    pub fn record(&self) {
        if let Some(c) = self.counter {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}
