//! Which span's outcome a flag evaluation takes, and what one exposure adds to its arm.
//!
//! The outcome is the request's: the span active at evaluation when it is a SERVER span or a
//! local root, else the nearest such ancestor in the same process (an evaluation made inside a
//! handler's inner span counts the handler's request). Children end, and are exported, before
//! their parents, so the walk up may stop at a span that has not arrived yet: `app` holds the
//! evaluation until it does, within a bounded window, and if it never comes falls back to the
//! active span's own outcome, or, when even that never came, to the exposure alone.

use super::facts::{SpanFact, SpanKey};
use crate::domain::evidence::{LATENCY_BOUNDS_MS, ScoreSummary};
use crate::domain::gate::ArmData;

/// Where the walk from a span goes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// This span is the request's: its outcome counts.
    Outcome,
    /// The outcome is further up: this parent in the same trace.
    Parent(SpanKey),
}

pub fn next_link(f: &SpanFact) -> Link {
    match f.parent {
        Some(p) if !f.root => Link::Parent(f.key.with_span(p)),
        _ => Link::Outcome,
    }
}

/// The evidence of one exposure: always the exposure; with the request's span (`outcome`, else
/// the active span `own`) one request, its error, its latency, the policy-named task and safety
/// attributes and GenAI evaluation scores found on either span.
pub fn exposure_data(own: Option<&SpanFact>, outcome: Option<&SpanFact>) -> ArmData {
    let mut d = ArmData::default();
    d.counts.exposures = 1;
    let Some(req) = outcome.or(own) else {
        return d;
    };
    d.counts.requests = 1;
    d.counts.errors = u64::from(req.error);
    if let Some(ms) = req.latency_ms {
        let i = LATENCY_BOUNDS_MS.partition_point(|b| f64::from(*b) < ms);
        d.latency_ms.counts[i] += 1;
    }
    let pick = |f: fn(&SpanFact) -> Option<bool>| f(req).or_else(|| own.and_then(f));
    if let Some(ok) = pick(|s| s.task) {
        d.counts.task_attempts = 1;
        d.counts.task_successes = u64::from(ok);
    }
    if let Some(ok) = pick(|s| s.safety) {
        d.counts.safety_checks = 1;
        d.counts.safety_passes = u64::from(ok);
    }
    if let Some(agreed) = pick(|s| s.shadow) {
        d.counts.shadow_agreements = u64::from(agreed);
        d.counts.shadow_divergences = u64::from(!agreed);
    }
    let mut scores: Vec<f64> = req.scores.clone();
    if let Some(o) = own.filter(|o| o.key != req.key) {
        scores.extend(&o.scores);
    }
    // Scores were checked to be in [0, 1] when they were read.
    d.scores = ScoreSummary::of(&scores).unwrap_or_default();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(span: u8, parent: Option<u8>, root: bool, error: bool, ms: f64) -> SpanFact {
        SpanFact {
            key: SpanKey {
                trace: [7; 16],
                span: [span; 8],
            },
            parent: parent.map(|p| [p; 8]),
            root,
            error,
            latency_ms: Some(ms),
            task: None,
            safety: None,
            shadow: None,
            scores: Vec::new(),
            sampling: "undeclared".into(),
        }
    }

    #[test]
    fn the_request_span_gives_the_outcome() {
        let child = span(2, Some(1), false, false, 3.0);
        let mut root = span(1, None, true, true, 40.0);
        root.task = Some(true);
        assert_eq!(next_link(&child), Link::Parent(root.key));
        assert_eq!(next_link(&root), Link::Outcome);
        let d = exposure_data(Some(&child), Some(&root));
        assert_eq!(
            (d.counts.exposures, d.counts.requests, d.counts.errors),
            (1, 1, 1)
        );
        assert_eq!(d.latency_ms.quantile_bound(0.5), Some(50));
        assert_eq!((d.counts.task_attempts, d.counts.task_successes), (1, 1));
        let alone = exposure_data(None, None);
        assert_eq!((alone.counts.exposures, alone.counts.requests), (1, 0));
    }
}
