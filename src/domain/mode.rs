//! A rollout's shape, one vocabulary for tools, CLI and audit: `canary` (the candidate reaches a
//! growing share of users), `shadow` (everyone is served the last-known-good while the shadow arm
//! also runs the candidate unseen, and reports whether the two agreed), `experiment` (a fixed split
//! of two or more variants, judged by a two-sided comparison until one wins, none can be told apart,
//! or a guardrail stops it). It sits below rollouts and evaluation, which both name it.

use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Canary,
    Shadow,
    Experiment,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Canary, Mode::Shadow, Mode::Experiment];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Canary => "canary",
            Mode::Shadow => "shadow",
            Mode::Experiment => "experiment",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s)
    }

    pub fn is_canary(&self) -> bool {
        *self == Mode::Canary
    }
}
