//! Finding evidence in a decoded OTLP export: every span's outcome (`SpanFact`) and every
//! feature-flag evaluation (`FlagEvaluation`), with the attribute names of the current conventions
//! and the deprecated ones hooks still send.
//!
//! Evaluations come from span events named `feature_flag.evaluation` (OpenFeature's Python
//! `TracingHook`, JS `SpanEventHook`) and `feature_flag` (the conventions before v1.29, and
//! LaunchDarkly's hook); from spans named `feature_flag.evaluation` that carry the attributes
//! themselves (JS `SpanHook`: the evaluation belongs to its parent); and from log records whose
//! `event_name` is `feature_flag.evaluation` (JS `EventHook`), tied to their span by trace and span
//! id. GenAI evaluation results (`gen_ai.evaluation.result` span events with
//! `gen_ai.evaluation.score.value` in [0, 1]) become eval scores of the span they are on.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;

use super::attrs;
use super::facts::{FlagEvaluation, SpanFact, SpanKey};
use super::rejection::{Rejection, Tally};
use super::sampling::{Sampling, declared_sampling};
use super::wire::{KeyValue, LogsExport, Resource, Span, TracesExport, text};

const EVALUATION_EVENTS: [&str; 2] = ["feature_flag.evaluation", "feature_flag"];
const KEY: &[&str] = &["feature_flag.key"];
const VARIANT: &[&str] = &["feature_flag.result.variant", "feature_flag.variant"];
const REASON: &[&str] = &[
    "feature_flag.result.reason",
    "feature_flag.evaluation.reason",
];
const PROVIDER: &[&str] = &["feature_flag.provider.name", "feature_flag.provider_name"];
const CONTEXT_ID: &[&str] = &["feature_flag.context.id", "feature_flag.context.key"];
const ERROR_TYPE: &[&str] = &["error.type"];
const ENVIRONMENT: &[&str] = &["deployment.environment.name", "deployment.environment"];
const HTTP_STATUS: &[&str] = &["http.response.status_code", "http.status_code"];
const GENAI_RESULT: &str = "gen_ai.evaluation.result";
const GENAI_SCORE: &[&str] = &["gen_ai.evaluation.score.value"];

/// What the policy names for one environment: span attributes that carry task success and safety
/// checks (booleans).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Knobs {
    pub task_success_attribute: Option<String>,
    pub safety_check_attribute: Option<String>,
}

/// What one export holds.
#[derive(Debug, Default)]
pub struct Extracted<'a> {
    /// How many spans or log records the export carried.
    pub items: u64,
    pub spans: Vec<SpanFact>,
    /// Each evaluation with the index of the item (span or log record) it came from.
    pub evaluations: Vec<(u64, FlagEvaluation<'a>)>,
    /// Items refused as they were read (bad ids, a log evaluation without its span).
    pub rejected: Tally,
    /// GenAI scores outside [0, 1], which were left out.
    pub ignored_scores: u64,
}

fn nanos(n: u64) -> Option<Timestamp> {
    (n > 0)
        .then(|| Timestamp::from_nanosecond(i128::from(n)).ok())
        .flatten()
}

fn environment(resource: Option<&Resource>, fallback: &str) -> String {
    resource
        .and_then(|r| attrs::text(&r.attributes, ENVIRONMENT))
        .map_or_else(|| fallback.to_owned(), Cow::into_owned)
}

/// An evaluation from the attributes of an event, log record or span.
fn evaluation<'a>(
    a: &'a [KeyValue],
    span: SpanKey,
    at: u64,
    env: &Arc<str>,
    sampling: &Sampling,
) -> Option<FlagEvaluation<'a>> {
    let flag = attrs::text(a, KEY)?;
    let reason = attrs::text(a, REASON).map(|r| {
        if r.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(r.to_ascii_lowercase())
        } else {
            r
        }
    });
    Some(FlagEvaluation {
        span,
        flag,
        context_id: attrs::text(a, CONTEXT_ID),
        variant: attrs::text(a, VARIANT),
        failed: attrs::find(a, ERROR_TYPE).is_some() || reason.as_deref() == Some("error"),
        reason,
        at: nanos(at),
        environment: env.clone(),
        sampling: sampling.clone(),
        provider: attrs::text(a, PROVIDER),
    })
}

/// The span attribute a shadow run's application sets on the request span: `true` when the
/// candidate it ran unseen agreed with the served answer, `false` when it diverged.
pub const SHADOW_AGREEMENT: &str = "flagwarden.shadow.agreement";

fn span_fact(s: &Span, key: SpanKey, knobs: Option<&Knobs>, ignored: &mut u64) -> SpanFact {
    const SERVER: i32 = 2;
    const STATUS_ERROR: i32 = 2;
    // Bits 8 and 9 of `flags`: whether the parent's remoteness is known, and whether it is remote.
    const HAS_IS_REMOTE: u32 = 0x100;
    const IS_REMOTE: u32 = 0x200;
    let parent: Option<[u8; 8]> = s.parent_span_id[..].try_into().ok();
    let remote_parent = s.flags & HAS_IS_REMOTE != 0 && s.flags & IS_REMOTE != 0;
    let status_error = s.status.as_ref().is_some_and(|st| st.code == STATUS_ERROR);
    let http_error = attrs::int(&s.attributes, HTTP_STATUS).is_some_and(|c| c >= 500);
    let latency_ms = (s.start_time_unix_nano > 0 && s.end_time_unix_nano >= s.start_time_unix_nano)
        .then(|| (s.end_time_unix_nano - s.start_time_unix_nano) as f64 / 1e6);
    let read = |name: &Option<String>| {
        name.as_deref()
            .and_then(|n| attrs::flag(&s.attributes, &[n]))
    };
    let mut scores = Vec::new();
    for ev in s
        .events
        .iter()
        .filter(|e| e.name == GENAI_RESULT.as_bytes())
    {
        match attrs::number(&ev.attributes, GENAI_SCORE) {
            Some(x) if (0.0..=1.0).contains(&x) => scores.push(x),
            Some(_) => *ignored += 1,
            None => {}
        }
    }
    SpanFact {
        key,
        parent: parent.filter(|p| *p != [0; 8] && !remote_parent),
        root: s.kind == SERVER || parent.is_none() || remote_parent,
        error: status_error || http_error,
        latency_ms,
        task: knobs.and_then(|k| read(&k.task_success_attribute)),
        safety: knobs.and_then(|k| read(&k.safety_check_attribute)),
        shadow: attrs::flag(&s.attributes, &[SHADOW_AGREEMENT]),
        scores,
        sampling: declared_sampling(text(&s.trace_state).unwrap_or_default()),
    }
}

/// Spans and the evaluations recorded on them. `fallback_env` is the environment of resources
/// that do not name one.
pub fn extract_traces<'a>(
    req: &'a TracesExport,
    fallback_env: &str,
    knobs: &BTreeMap<String, Knobs>,
) -> Extracted<'a> {
    let mut out = Extracted::default();
    for rs in &req.resource_spans {
        let env: Arc<str> = environment(rs.resource.as_ref(), fallback_env).into();
        let k = knobs.get(&*env);
        for s in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            let item = out.items;
            out.items += 1;
            let Some(key) = SpanKey::from_ids(&s.trace_id, &s.span_id) else {
                out.rejected.items += 1;
                out.rejected.add(&Rejection::BadIds);
                continue;
            };
            let fact = span_fact(s, key, k, &mut out.ignored_scores);
            for ev in s
                .events
                .iter()
                .filter(|e| EVALUATION_EVENTS.iter().any(|n| e.name == n.as_bytes()))
            {
                let at = if ev.time_unix_nano > 0 {
                    ev.time_unix_nano
                } else {
                    s.start_time_unix_nano
                };
                if let Some(e) = evaluation(&ev.attributes, key, at, &env, &fact.sampling) {
                    out.evaluations.push((item, e));
                }
            }
            // JS `SpanHook`: a span of its own whose attributes are the evaluation's; the request
            // it belongs to is its parent's.
            if s.name == EVALUATION_EVENTS[0].as_bytes()
                && let Some(p) = fact.parent
                && let Some(e) = evaluation(
                    &s.attributes,
                    key.with_span(p),
                    s.start_time_unix_nano,
                    &env,
                    &fact.sampling,
                )
            {
                out.evaluations.push((item, e));
            }
            out.spans.push(fact);
        }
    }
    out
}

/// Log records that are feature-flag evaluation events. Other records are not evidence and are
/// neither used nor rejected.
pub fn extract_logs<'a>(req: &'a LogsExport, fallback_env: &str) -> Extracted<'a> {
    let mut out = Extracted::default();
    for rl in &req.resource_logs {
        let env: Arc<str> = environment(rl.resource.as_ref(), fallback_env).into();
        for r in rl.scope_logs.iter().flat_map(|sl| &sl.log_records) {
            let item = out.items;
            out.items += 1;
            let is_evaluation = r.event_name == EVALUATION_EVENTS[0].as_bytes()
                || attrs::text(&r.attributes, &["event.name"]).as_deref()
                    == Some(EVALUATION_EVENTS[0]);
            if !is_evaluation {
                continue;
            }
            let Some(key) = SpanKey::from_ids(&r.trace_id, &r.span_id) else {
                out.rejected.items += 1;
                out.rejected.add(&Rejection::NoSpan);
                continue;
            };
            let at = if r.time_unix_nano > 0 {
                r.time_unix_nano
            } else {
                r.observed_time_unix_nano
            };
            // Logs are not sampled; the span they join says how it was.
            if let Some(e) = evaluation(&r.attributes, key, at, &env, &Sampling::Borrowed("logs")) {
                out.evaluations.push((item, e));
            }
        }
    }
    out
}
