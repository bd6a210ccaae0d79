//! Why a span, log record or flag evaluation was not counted, and the tally OTLP's
//! `partial_success` reports: how many items were rejected and one message listing each reason
//! with its count, so the sender's logs say what to fix.

use std::collections::BTreeMap;
use std::fmt;

/// One reason an evaluation (or a whole item) is not evidence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rejection {
    /// The trace or span id is missing or has the wrong length.
    BadIds,
    /// A log-record evaluation without the span it happened in carries no outcome.
    NoSpan,
    NoTargetingKey {
        flag: String,
    },
    UnknownFlag {
        flag: String,
    },
    UnknownEnvironment {
        env: String,
    },
    /// The token may report only for its own environment.
    OtherEnvironment {
        env: String,
        bound: String,
    },
    NoRollout {
        flag: String,
        env: String,
    },
    FutureTime {
        flag: String,
    },
    BeforeRollout {
        flag: String,
    },
    /// The unit is in neither arm at the evaluation's time.
    OutsideArms {
        flag: String,
    },
    /// The hook says it was served something other than its arm's variant.
    Disagrees {
        flag: String,
        detail: String,
    },
    EvaluationFailed {
        flag: String,
    },
    Duplicate {
        flag: String,
    },
    /// Older than the claims the receiver still remembers: a replay of it could not be recognised.
    BeyondReplayHorizon {
        flag: String,
    },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::BadIds => write!(
                f,
                "invalid trace or span id (OTLP ids are 16 and 8 bytes, not all zero)"
            ),
            Rejection::NoSpan => write!(
                f,
                "feature_flag.evaluation log record without trace_id/span_id: emit it inside the request's span"
            ),
            Rejection::NoTargetingKey { flag } => write!(
                f,
                "flag {flag:?}: no targeting key (feature_flag.context.id): set the evaluation context's targetingKey"
            ),
            Rejection::UnknownFlag { flag } => write!(f, "flag {flag:?} is not a flagwarden flag"),
            Rejection::UnknownEnvironment { env } => write!(
                f,
                "environment {env:?} (deployment.environment.name) is not declared in the policy"
            ),
            Rejection::OtherEnvironment { env, bound } => write!(
                f,
                "environment {env:?}: this token reports only for {bound:?}"
            ),
            Rejection::NoRollout { flag, env } => {
                write!(f, "flag {flag:?} has no unfinished rollout in {env}")
            }
            Rejection::FutureTime { flag } => write!(
                f,
                "flag {flag:?}: evaluation timestamp more than 5 minutes in the future (check the clock)"
            ),
            Rejection::BeforeRollout { flag } => write!(
                f,
                "flag {flag:?}: evaluated before the rollout exposed anyone"
            ),
            Rejection::OutsideArms { flag } => write!(
                f,
                "flag {flag:?}: the unit is in neither arm (not part of the comparison)"
            ),
            Rejection::Disagrees { flag, detail } => write!(
                f,
                "flag {flag:?}: {detail}; not counted in an arm it was not served"
            ),
            Rejection::EvaluationFailed { flag } => write!(
                f,
                "flag {flag:?}: the evaluation failed (error.type), so no arm was served"
            ),
            Rejection::Duplicate { flag } => write!(
                f,
                "flag {flag:?}: duplicate, this span's exposure was already counted"
            ),
            Rejection::BeyondReplayHorizon { flag } => write!(
                f,
                "flag {flag:?}: evaluated before the oldest exposure still remembered to recognise replays (the newest 1000000 are), so it is not counted; export sooner"
            ),
        }
    }
}

/// Rejections counted by reason, and how many items (spans or log records) were rejected whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub items: u64,
    pub reasons: BTreeMap<String, u64>,
}

impl Tally {
    pub fn add(&mut self, r: &Rejection) {
        *self.reasons.entry(r.to_string()).or_default() += 1;
    }

    pub fn merge(&mut self, o: Tally) {
        self.items += o.items;
        for (k, v) in o.reasons {
            *self.reasons.entry(k).or_default() += v;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items == 0 && self.reasons.is_empty()
    }

    /// One line for `partial_success.error_message`: the reasons, most frequent first, capped so a
    /// batch of many distinct flags still gives a short message.
    pub fn message(&self) -> String {
        let mut v: Vec<(&String, &u64)> = self.reasons.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut parts: Vec<String> = v
            .iter()
            .take(12)
            .map(|(r, n)| format!("{n} × {r}"))
            .collect();
        if v.len() > 12 {
            parts.push(format!("and {} more reasons", v.len() - 12));
        }
        parts.join("; ")
    }
}
