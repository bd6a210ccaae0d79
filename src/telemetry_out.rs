//! OpenTelemetry out: flagwarden's own traces and metrics over OTLP/HTTP, configured only by the
//! standard `OTEL_*` variables. With an endpoint set (`OTEL_EXPORTER_OTLP_ENDPOINT`, or the
//! `_TRACES_`/`_METRICS_` one for one signal) and `OTEL_SDK_DISABLED` not `true`, `flagwarden serve`
//! and `flagwarden mcp` export a span per MCP tool call, per policy decision, per gate evaluation
//! and per OFREP request (each flag it answers is a `feature_flag.evaluation` span event in the
//! feature-flag conventions), and the figures `/metrics` shows as OTLP metrics. Protocol, headers,
//! timeout and compression are read by `opentelemetry-otlp` itself; service name and resource
//! attributes by the SDK (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`; the service name is
//! `flagwarden` when neither names one).
//!
//! Without an endpoint nothing is built: no exporter, no thread, and every instrumentation point
//! below costs one load of an unset `OnceLock`. The SDK's batch processor exports from its own
//! thread with a blocking client, so no request ever waits for the collector, and stdout is never
//! written (the SDK's own diagnostics go through `tracing`, to stderr). `Telemetry::shutdown`
//! flushes what is left, within `FLUSH_WITHIN`.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use anyhow::{Result, bail};
use opentelemetry::metrics::{Counter, Histogram, MeterProvider as _};
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use crate::app::App;
use crate::domain::eval::{ErrorCode, Reason};
use crate::notify::Deliveries;

/// How long shutdown waits for the last export before the process exits anyway.
const FLUSH_WITHIN: Duration = Duration::from_secs(5);

/// The instrumentation scope and `feature_flag.provider.name`.
const NAME: &str = "flagwarden";

/// What the instrumentation points reach when telemetry is on; unset otherwise.
static OUT: OnceLock<Out> = OnceLock::new();

struct Out {
    tracer: Option<SdkTracer>,
    http: Option<HttpInstruments>,
}

struct HttpInstruments {
    requests: Counter<u64>,
    duration: Histogram<f64>,
}

/// The providers, kept by the mode that started them so it can flush them at its end.
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
    metrics: Option<SdkMeterProvider>,
}

/// Which signals the environment asks for, and why not when it does not.
#[derive(Debug, PartialEq, Eq)]
pub struct Wanted {
    pub traces: bool,
    pub metrics: bool,
}

/// Reads the `OTEL_*` variables through `var` (so tests pass a map): which signals to export, or a
/// clear error for a setting flagwarden cannot honour (changing nothing, the mode does not start).
pub fn wanted(var: impl Fn(&str) -> Option<String>) -> Result<Wanted> {
    let set = |k: &str| var(k).filter(|v| !v.trim().is_empty());
    let none = Wanted {
        traces: false,
        metrics: false,
    };
    match set("OTEL_SDK_DISABLED").map(|v| v.trim().to_ascii_lowercase()) {
        Some(v) if v == "true" => return Ok(none),
        Some(v) if v != "false" => {
            bail!("OTEL_SDK_DISABLED={v:?} is not a boolean: set it to true or false")
        }
        _ => {}
    }
    for k in [
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    ] {
        if let Some(p) = set(k)
            && !matches!(p.trim(), "http/protobuf" | "http/json")
        {
            bail!(
                "{k}={p:?} is not supported: flagwarden exports OTLP over HTTP; set it to \
                 http/protobuf or http/json (the collector's port 4318)"
            );
        }
    }
    let exporter_off = |k: &str| set(k).is_some_and(|v| v.trim() == "none");
    let base = set("OTEL_EXPORTER_OTLP_ENDPOINT").is_some();
    Ok(Wanted {
        traces: (base || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some())
            && !exporter_off("OTEL_TRACES_EXPORTER"),
        metrics: (base || set("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT").is_some())
            && !exporter_off("OTEL_METRICS_EXPORTER"),
    })
}

/// Starts exporting as the environment asks (`mode` is `serve` or `mcp`, recorded on the resource).
/// Call it outside the async runtime: the exporters build a blocking HTTP client. `None` when the
/// environment asks for nothing.
pub fn start(
    mode: &'static str,
    app: Arc<App>,
    deliveries: Arc<Deliveries>,
) -> Result<Option<Telemetry>> {
    let want = wanted(|k| std::env::var(k).ok())?;
    if !want.traces && !want.metrics {
        return Ok(None);
    }
    let resource = resource(mode);
    let traces = match want.traces {
        true => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .build()
                .map_err(|e| anyhow::anyhow!("OTLP trace exporter: {e}; check OTEL_EXPORTER_OTLP_* (endpoint, headers, compression)"))?;
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource.clone())
                    .build(),
            )
        }
        false => None,
    };
    let metrics = match want.metrics {
        true => {
            let exporter = opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .build()
                .map_err(|e| anyhow::anyhow!("OTLP metric exporter: {e}; check OTEL_EXPORTER_OTLP_* (endpoint, headers, compression)"))?;
            Some(
                SdkMeterProvider::builder()
                    .with_periodic_exporter(exporter)
                    .with_resource(resource)
                    .build(),
            )
        }
        false => None,
    };
    let http = metrics.as_ref().map(|m| instruments(m, app, deliveries));
    let out = Out {
        tracer: traces.as_ref().map(|t| t.tracer(NAME)),
        http,
    };
    if OUT.set(out).is_err() {
        bail!("telemetry was already started in this process");
    }
    Ok(Some(Telemetry { traces, metrics }))
}

impl Telemetry {
    /// Flushes and stops both providers, waiting at most `FLUSH_WITHIN` (the collector may be gone);
    /// what is not sent by then is dropped with a warning, and the process ends on time.
    pub fn shutdown(self) {
        let (done, wait) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            if let Some(t) = &self.traces
                && let Err(e) = t.shutdown_with_timeout(FLUSH_WITHIN)
            {
                tracing::warn!("OTLP traces: the last export failed: {e}");
            }
            if let Some(m) = &self.metrics
                && let Err(e) = m.shutdown_with_timeout(FLUSH_WITHIN)
            {
                tracing::warn!("OTLP metrics: the last export failed: {e}");
            }
            let _ = done.send(());
        });
        if wait.recv_timeout(FLUSH_WITHIN).is_err() {
            tracing::warn!(
                "OTLP: the collector did not take the last export within {FLUSH_WITHIN:?}; exiting without it"
            );
        }
    }
}

/// The SDK's resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), named `flagwarden` when the
/// environment names no service, with the version and the mode.
fn resource(mode: &'static str) -> Resource {
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.trim().is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| {
            v.split(',')
                .any(|kv| kv.trim_start().starts_with("service.name="))
        });
    let mut b = Resource::builder().with_attributes([
        KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        KeyValue::new("flagwarden.mode", mode),
    ]);
    if !named {
        b = b.with_service_name(NAME);
    }
    b.build()
}

/// The instruments behind `/metrics`: HTTP requests (recorded as they end) and, read at each
/// export, evaluations, rollouts by state and webhook deliveries.
fn instruments(
    m: &SdkMeterProvider,
    app: Arc<App>,
    deliveries: Arc<Deliveries>,
) -> HttpInstruments {
    let meter = m.meter(NAME);
    let evaluations_app = app.clone();
    meter
        .u64_observable_counter("flagwarden.evaluations")
        .with_description("Flag evaluations served, by flag, environment and variant")
        .with_callback(move |o| match evaluations_app.evaluation_totals() {
            Ok(totals) => {
                for (flag, env, variant, n) in totals {
                    o.observe(
                        n,
                        &[
                            KeyValue::new("flag", flag),
                            KeyValue::new("environment", env),
                            KeyValue::new("variant", variant),
                        ],
                    );
                }
            }
            Err(e) => tracing::warn!("OTLP metrics: evaluation counts unavailable: {e}"),
        })
        .build();
    meter
        .u64_observable_gauge("flagwarden.rollouts")
        .with_description("Rollouts by state")
        .with_callback(move |o| match app.rollout_states() {
            Ok(states) => {
                for (state, n) in states {
                    o.observe(n, &[KeyValue::new("state", state)]);
                }
            }
            Err(e) => tracing::warn!("OTLP metrics: rollout states unavailable: {e}"),
        })
        .build();
    meter
        .u64_observable_counter("flagwarden.webhook.deliveries")
        .with_description("Webhook notices delivered, attempts retried, and notices given up on")
        .with_callback(move |o| {
            for (result, n) in deliveries.counts() {
                o.observe(n, &[KeyValue::new("result", result)]);
            }
        })
        .build();
    HttpInstruments {
        requests: meter
            .u64_counter("flagwarden.http.requests")
            .with_description("HTTP requests by endpoint and status")
            .build(),
        duration: meter
            .f64_histogram("flagwarden.http.request.duration")
            .with_unit("s")
            .with_description(
                "HTTP request latency by endpoint (to the response head; streams count their setup)",
            )
            // The buckets `/metrics` uses: 50 µs doubling 18 times, so both show the same histogram.
            .with_boundaries((0..18).map(|i| 0.000_05 * 2f64.powi(i)).collect())
            .build(),
    }
}

fn tracer() -> Option<&'static SdkTracer> {
    OUT.get()?.tracer.as_ref()
}

/// One HTTP request ended (`serve`): counted beside `/metrics`' own figures.
pub fn http_request(route: &'static str, status: u16, took: Duration) {
    let Some(h) = OUT.get().and_then(|o| o.http.as_ref()) else {
        return;
    };
    let route = KeyValue::new("route", route);
    h.requests.add(
        1,
        &[route.clone(), KeyValue::new("status", i64::from(status))],
    );
    h.duration.record(took.as_secs_f64(), &[route]);
}

/// The trace context to carry onto a blocking thread, so spans made there (policy decisions, gate
/// evaluations) are children of the tool call that runs them. `None` when traces are off.
pub fn carry() -> Option<Context> {
    tracer().map(|_| Context::current())
}

/// An MCP tool call's span (`tools/call <tool>`, in the MCP semantic conventions).
pub struct ToolCall {
    cx: Context,
}

/// How a tool call ended, as its span records it.
pub struct ToolOutcome<'a> {
    /// `ok`, or the refusal's kind (`denied`, `invalid`, `invalid_arguments`, `refused`, `internal`),
    /// `input_required`, or `protocol_error`.
    pub outcome: &'a str,
    /// The policy's decision the answer names: allow, deny or needs_approval.
    pub decision: Option<&'a str>,
    pub rule: Option<&'a str>,
}

/// Starts a tool call's span, a child of the caller's context if it has one; `None` when off.
pub fn tool_call(tool: &str) -> Option<ToolCall> {
    let t = tracer()?;
    let span = t
        .span_builder(format!("tools/call {tool}"))
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("mcp.method.name", "tools/call"),
            KeyValue::new("gen_ai.operation.name", "execute_tool"),
            KeyValue::new("gen_ai.tool.name", tool.to_owned()),
        ])
        .start(t);
    Some(ToolCall {
        cx: Context::current_with_span(span),
    })
}

impl ToolCall {
    /// The context the call runs in (attach it to the call's future).
    pub fn context(&self) -> Context {
        self.cx.clone()
    }

    pub fn end(self, o: ToolOutcome) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(
            "flagwarden.tool.outcome",
            o.outcome.to_owned(),
        ));
        if let Some(d) = o.decision {
            span.set_attribute(KeyValue::new("flagwarden.policy.decision", d.to_owned()));
        }
        if let Some(r) = o.rule {
            span.set_attribute(KeyValue::new("flagwarden.policy.rule", r.to_owned()));
        }
        if o.outcome != "ok" && o.outcome != "input_required" {
            // The MCP conventions' error type for a result with isError, and a protocol error's.
            let kind = match o.outcome {
                "protocol_error" => "protocol_error",
                _ => "tool_error",
            };
            span.set_attribute(KeyValue::new("error.type", kind));
            span.set_status(Status::error(o.outcome.to_owned()));
        }
        span.end();
    }
}

/// A policy decision's span (`policy.decide <action>`), around the use case that asks for it.
pub struct Decision {
    span: opentelemetry_sdk::trace::Span,
}

/// Starts the span of one `App::mutate`: the action and who asks. `None` when traces are off.
pub fn decision(action: &str, actor_kind: &str, actor: &str) -> Option<Decision> {
    let t = tracer()?;
    let span = t
        .span_builder(format!("policy.decide {action}"))
        .with_kind(SpanKind::Internal)
        .with_attributes(decision_attributes(action, actor_kind, actor))
        .start(t);
    Some(Decision { span })
}

fn decision_attributes(action: &str, actor_kind: &str, actor: &str) -> Vec<KeyValue> {
    vec![
        KeyValue::new("flagwarden.policy.action", action.to_owned()),
        KeyValue::new("flagwarden.actor.kind", actor_kind.to_owned()),
        KeyValue::new("flagwarden.actor.name", actor.to_owned()),
    ]
}

impl Decision {
    /// `result` is allow, deny or needs_approval (or conflict / error when the use case failed
    /// before the policy was asked or after); `rule` the policy rule that decided.
    pub fn end(mut self, result: &str, rule: Option<&str>, dry_run: bool) {
        decided(&mut self.span, result, rule, dry_run);
        self.span.end();
    }
}

fn decided(
    span: &mut opentelemetry_sdk::trace::Span,
    result: &str,
    rule: Option<&str>,
    dry_run: bool,
) {
    span.set_attribute(KeyValue::new(
        "flagwarden.policy.decision",
        result.to_owned(),
    ));
    if let Some(r) = rule {
        span.set_attribute(KeyValue::new("flagwarden.policy.rule", r.to_owned()));
    }
    span.set_attribute(KeyValue::new("flagwarden.dry_run", dry_run));
    if result == "error" {
        span.set_status(Status::error("the use case failed"));
    }
}

/// A decision the system made on its own inside another actor's call (a rollback on a tripped
/// breaker): its own span beside the call's.
pub fn system_decision(action: &str, result: &str, rule: Option<&str>) {
    if let Some(d) = decision(action, "system", "system") {
        d.end(result, rule, false);
    }
}

/// When a gate evaluation began, for its span; `None` when traces are off.
pub fn gate_started() -> Option<SystemTime> {
    tracer().map(|_| SystemTime::now())
}

/// What a gate evaluation's span records.
pub struct GateFacts<'a> {
    pub rollout_id: i64,
    pub flag: &'a str,
    pub environment: &'a str,
    pub verdict: &'a str,
    pub critical: bool,
    /// The stored evaluation's id; `None` for a look that stores nothing (`canary_status`).
    pub evaluation_id: Option<i64>,
}

/// One gate evaluation that began at `started` (from `gate_started`) and has just ended.
pub fn gate_evaluated(started: Option<SystemTime>, g: GateFacts) {
    let (Some(t), Some(started)) = (tracer(), started) else {
        return;
    };
    let mut attributes = vec![
        KeyValue::new("flagwarden.rollout.id", g.rollout_id),
        KeyValue::new("feature_flag.key", g.flag.to_owned()),
        KeyValue::new("flagwarden.environment", g.environment.to_owned()),
        KeyValue::new("flagwarden.gate.verdict", g.verdict.to_owned()),
        KeyValue::new("flagwarden.gate.critical", g.critical),
    ];
    if let Some(id) = g.evaluation_id {
        attributes.push(KeyValue::new("flagwarden.gate.evaluation.id", id));
    }
    let mut span = t
        .span_builder("gate.evaluate")
        .with_kind(SpanKind::Internal)
        .with_start_time(started)
        .with_attributes(attributes)
        .start(t);
    span.end();
}

/// An OFREP request's span; each flag it answers is a `feature_flag.evaluation` event on it.
pub struct Ofrep {
    span: opentelemetry_sdk::trace::Span,
}

/// Starts an OFREP request's span (`route` is the matched route, e.g. `/ofrep/v1/evaluate/flags`),
/// continuing the application's trace when its request carries a W3C `traceparent`.
pub fn ofrep(route: &'static str, traceparent: Option<&str>) -> Option<Ofrep> {
    let t = tracer()?;
    let parent = traceparent
        .and_then(remote_parent)
        .map(|sc| Context::new().with_remote_span_context(sc))
        .unwrap_or_default();
    let span = t
        .span_builder(format!("POST {route}"))
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("http.route", route),
        ])
        .start_with_context(t, &parent);
    Some(Ofrep { span })
}

/// One flag's answer, in the OpenTelemetry feature-flag conventions.
pub struct FlagEvaluation<'a> {
    pub key: &'a str,
    /// The environment: the flag set the answer comes from.
    pub environment: &'a str,
    pub targeting_key: Option<&'a str>,
    pub variant: Option<&'a str>,
    pub reason: Reason,
    pub error: Option<(ErrorCode, &'a str)>,
    /// The snapshot version the answer was computed from (the ruleset's version).
    pub version: u64,
    /// The canary arm (`canary` or `control`) while a rollout runs.
    pub arm: Option<&'static str>,
}

impl Ofrep {
    pub fn flag(&mut self, e: &FlagEvaluation) {
        let mut a = vec![
            KeyValue::new("feature_flag.key", e.key.to_owned()),
            KeyValue::new("feature_flag.provider.name", NAME),
            KeyValue::new("feature_flag.set.id", e.environment.to_owned()),
            KeyValue::new("feature_flag.version", e.version.to_string()),
            KeyValue::new("feature_flag.result.reason", reason(e.reason)),
        ];
        if let Some(k) = e.targeting_key {
            a.push(KeyValue::new("feature_flag.context.id", k.to_owned()));
        }
        if let Some(v) = e.variant {
            a.push(KeyValue::new("feature_flag.result.variant", v.to_owned()));
        }
        if let Some(arm) = e.arm {
            a.push(KeyValue::new("flagwarden.rollout.arm", arm));
        }
        if let Some((code, message)) = e.error {
            a.push(KeyValue::new("error.type", error_type(code)));
            a.push(KeyValue::new(
                "feature_flag.error.message",
                message.to_owned(),
            ));
        }
        self.span.add_event("feature_flag.evaluation", a);
    }

    pub fn end(mut self, status: u16) {
        self.span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= 500 {
            self.span.set_status(Status::error(status.to_string()));
        }
        self.span.end();
    }
}

/// `feature_flag.result.reason`: the conventions' lowercase names.
fn reason(r: Reason) -> &'static str {
    match r {
        Reason::Static => "static",
        Reason::Default => "default",
        Reason::TargetingMatch => "targeting_match",
        Reason::Split => "split",
        Reason::Disabled => "disabled",
        Reason::Error => "error",
    }
}

/// `error.type` for a flag evaluation error: the conventions' lowercase OpenFeature codes.
fn error_type(c: ErrorCode) -> &'static str {
    match c {
        ErrorCode::FlagNotFound => "flag_not_found",
        ErrorCode::TypeMismatch => "type_mismatch",
        ErrorCode::TargetingKeyMissing => "targeting_key_missing",
        ErrorCode::InvalidContext => "invalid_context",
        ErrorCode::ParseError => "parse_error",
        ErrorCode::General => "general",
    }
}

/// A W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), or `None` for anything else: a malformed
/// header starts a new trace rather than failing the request.
fn remote_parent(v: &str) -> Option<opentelemetry::trace::SpanContext> {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    let mut parts = v.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != "00"
        || parts.next().is_some()
        || trace.len() != 32
        || span.len() != 16
        || flags.len() != 2
    {
        return None;
    }
    let trace = TraceId::from_hex(trace)
        .ok()
        .filter(|t| *t != TraceId::INVALID)?;
    let span = SpanId::from_hex(span)
        .ok()
        .filter(|s| *s != SpanId::INVALID)?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some(SpanContext::new(
        trace,
        span,
        TraceFlags::new(flags) & TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn check(vars: &[(&str, &str)]) -> Result<Wanted> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        wanted(|k| m.get(k).cloned())
    }

    #[test]
    fn nothing_is_exported_without_an_endpoint_or_when_disabled() {
        let none = Wanted {
            traces: false,
            metrics: false,
        };
        assert_eq!(check(&[]).unwrap(), none);
        assert_eq!(check(&[("OTEL_SERVICE_NAME", "x")]).unwrap(), none);
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        assert_eq!(check(&[base, ("OTEL_SDK_DISABLED", "TRUE")]).unwrap(), none);
        assert_eq!(
            check(&[base]).unwrap(),
            Wanted {
                traces: true,
                metrics: true
            }
        );
        assert_eq!(
            check(&[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://h/v1/metrics")]).unwrap(),
            Wanted {
                traces: false,
                metrics: true
            }
        );
        assert_eq!(
            check(&[base, ("OTEL_TRACES_EXPORTER", "none")]).unwrap(),
            Wanted {
                traces: false,
                metrics: true
            }
        );
    }

    #[test]
    fn grpc_and_a_bad_boolean_are_refused_by_name() {
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        let e = check(&[base, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("OTEL_EXPORTER_OTLP_PROTOCOL=\"grpc\""),
            "{e}"
        );
        assert!(e.to_string().contains("http/protobuf"), "{e}");
        let e = check(&[base, ("OTEL_SDK_DISABLED", "yes")]).unwrap_err();
        assert!(e.to_string().contains("OTEL_SDK_DISABLED"), "{e}");
        assert!(check(&[base, ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")]).is_ok());
    }

    #[test]
    fn a_traceparent_is_read_or_ignored() {
        let sc = remote_parent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
        assert_eq!(
            sc.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert!(sc.is_sampled() && sc.is_remote());
        for bad in [
            "",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033-01",
            "00-zzf7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert!(remote_parent(bad).is_none(), "{bad}");
        }
    }
}
