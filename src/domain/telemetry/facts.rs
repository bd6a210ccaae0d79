//! The compact records the receiver keeps: what a span says about its request's outcome, and what
//! one flag evaluation says about the unit it served. Both are small and serializable, because the
//! parts of a trace that arrive before their partner are held in the store until it comes.

use std::borrow::Cow;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::sampling::Sampling;

/// A span's identity: its trace id and span id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SpanKey {
    pub trace: [u8; 16],
    pub span: [u8; 8],
}

impl SpanKey {
    /// From the raw ids of an OTLP message; `None` unless they have OTLP's lengths and are not
    /// all zero (the spec's "invalid" ids).
    pub fn from_ids(trace: &[u8], span: &[u8]) -> Option<SpanKey> {
        let trace: [u8; 16] = trace.try_into().ok()?;
        let span: [u8; 8] = span.try_into().ok()?;
        (trace != [0; 16] && span != [0; 8]).then_some(SpanKey { trace, span })
    }

    /// The key as stored: 24 bytes, trace id then span id.
    pub fn bytes(&self) -> [u8; 24] {
        let mut b = [0u8; 24];
        b[..16].copy_from_slice(&self.trace);
        b[16..].copy_from_slice(&self.span);
        b
    }

    pub fn with_span(&self, span: [u8; 8]) -> SpanKey {
        SpanKey {
            trace: self.trace,
            span,
        }
    }
}

/// What a span says about the request it covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanFact {
    pub key: SpanKey,
    /// The parent span in the same trace, when the parent runs in this process; `None` for a root
    /// or a span whose parent is remote.
    pub parent: Option<[u8; 8]>,
    /// A SERVER span or a local root: the request whose outcome counts.
    pub root: bool,
    /// Status ERROR, or an HTTP status of 500 and above.
    pub error: bool,
    /// End minus start, when both are set and in order.
    pub latency_ms: Option<f64>,
    /// The policy-named task-success attribute, when the span carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<bool>,
    /// The policy-named safety-check attribute, when the span carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety: Option<bool>,
    /// `flagwarden.shadow.agreement`: in a shadow run, whether the candidate run unseen agreed with
    /// the served answer for this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<bool>,
    /// `gen_ai.evaluation.result` scores recorded on the span, in [0, 1].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<f64>,
    /// The sampling the exporter declared for the span (see `sampling.rs`).
    pub sampling: Sampling,
}

/// One feature-flag evaluation, as the OpenFeature OTel hooks record it; its texts are borrowed
/// from the export they were read from.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagEvaluation<'a> {
    /// The span that was active at evaluation.
    pub span: SpanKey,
    pub flag: Cow<'a, str>,
    /// `feature_flag.context.id`: the targeting key the evaluation was made for.
    pub context_id: Option<Cow<'a, str>>,
    pub variant: Option<Cow<'a, str>>,
    /// Lowercased, as the conventions write it (`split`, `default`, `cached`, ...).
    pub reason: Option<Cow<'a, str>>,
    /// The hook recorded an error (`error.type`, or reason `error`).
    pub failed: bool,
    /// When the evaluation happened.
    pub at: Option<Timestamp>,
    /// `deployment.environment.name` of the resource that sent it, else the request's.
    pub environment: Arc<str>,
    pub sampling: Sampling,
    /// `feature_flag.provider.name`: which provider evaluated it (a flagd engine reports arms as
    /// `targeting_match`, see attribution.rs).
    pub provider: Option<Cow<'a, str>>,
}
