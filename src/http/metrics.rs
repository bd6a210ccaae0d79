//! `/metrics` in the Prometheus text format: requests and their latency per endpoint, kept in memory;
//! evaluations per flag, environment and variant, rollouts per state, and webhook deliveries, read at
//! scrape time.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::{ApiError, Shared, blocking};
use crate::app::App;
use crate::app::Role;
use crate::controller::Stats as ControllerStats;
use crate::notify::Deliveries;

/// The endpoints, as metric labels and for their access rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Route {
    mcp,
    ofrep_evaluate,
    ofrep_bulk,
    signals,
    otlp,
    stream,
    flagd,
    flagd_sync,
    approvals,
    healthz,
    metrics,
    /// The `/console` pages: who may see and do what is the console's own session check.
    console,
    other,
}

impl Route {
    pub fn of(path: &str) -> Route {
        match path {
            "/ofrep/v1/evaluate/flags" => Route::ofrep_bulk,
            p if p.starts_with("/ofrep/v1/evaluate/flags/") => Route::ofrep_evaluate,
            "/api/v1/signals" => Route::signals,
            "/v1/traces" | "/v1/logs" | "/v1/metrics" => Route::otlp,
            "/api/v1/stream" => Route::stream,
            p if p.starts_with("/flagd/v1/") => Route::flagd,
            p if p.starts_with("/flagd.sync.v1.") => Route::flagd_sync,
            p if p.starts_with("/api/v1/approvals") => Route::approvals,
            "/healthz" => Route::healthz,
            "/metrics" => Route::metrics,
            p if p == "/mcp" || p.starts_with("/mcp/") => Route::mcp,
            p if p == "/console" || p.starts_with("/console/") => Route::console,
            _ => Route::other,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Route::mcp => "/mcp",
            Route::ofrep_evaluate | Route::ofrep_bulk => "/ofrep/v1",
            Route::signals => "/api/v1/signals",
            Route::otlp => "/v1 (OTLP)",
            Route::stream => "/api/v1/stream",
            Route::flagd => "/flagd/v1",
            Route::flagd_sync => "flagd sync (gRPC flagd.sync.v1)",
            Route::approvals => "/api/v1/approvals",
            Route::healthz => "/healthz",
            Route::metrics => "/metrics",
            Route::console => "/console",
            Route::other => "this path",
        }
    }

    /// The label's text, as `/metrics` writes it.
    pub fn name(self) -> &'static str {
        match self {
            Route::mcp => "mcp",
            Route::ofrep_evaluate => "ofrep_evaluate",
            Route::ofrep_bulk => "ofrep_bulk",
            Route::signals => "signals",
            Route::otlp => "otlp",
            Route::stream => "stream",
            Route::flagd => "flagd",
            Route::flagd_sync => "flagd_sync",
            Route::approvals => "approvals",
            Route::healthz => "healthz",
            Route::metrics => "metrics",
            Route::console => "console",
            Route::other => "other",
        }
    }

    /// Who may call it; empty means anyone (health checks).
    pub fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Route::mcp => &[Agent, Human],
            Route::ofrep_evaluate
            | Route::ofrep_bulk
            | Route::stream
            | Route::flagd
            | Route::flagd_sync => &[Sdk, Agent, Human],
            Route::signals | Route::otlp => &[Ingest, Sdk],
            Route::approvals => &[Human],
            Route::metrics | Route::other => &[Agent, Human, Sdk, Ingest],
            // Pages take no bearer token: a person logs in with a session cookie (console/session.rs).
            Route::healthz | Route::console => &[],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: Route,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: Route,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
}

impl Metrics {
    pub fn new(app: Arc<App>, deliveries: Arc<Deliveries>, looks: Arc<ControllerStats>) -> Metrics {
        let mut registry = Registry::with_prefix("flagwarden");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_05, 2.0, 18))
        });
        registry.register(
            "http_requests",
            "HTTP requests by endpoint and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by endpoint (to the response head; streams count their setup)",
            latency.clone(),
        );
        registry.register_collector(Box::new(AppCollector(app, deliveries, looks)));
        Metrics {
            registry,
            requests,
            latency,
        }
    }

    pub fn observe(&self, route: Route, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(took.as_secs_f64());
        crate::telemetry_out::http_request(route.name(), status, took);
    }
}

/// Reads evaluation counts and rollout states from the app, and the webhook delivery counts, at each
/// scrape.
struct AppCollector(Arc<App>, Arc<Deliveries>, Arc<ControllerStats>);

impl std::fmt::Debug for AppCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppCollector")
    }
}

impl Collector for AppCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        match self.0.evaluation_totals() {
            Ok(totals) => {
                let mut family = encoder.encode_descriptor(
                    "evaluations",
                    "Flag evaluations served, by flag, environment and variant",
                    None,
                    prometheus_client::metrics::MetricType::Counter,
                )?;
                for (flag, env, variant, n) in &totals {
                    let labels = [
                        ("flag", flag.as_str()),
                        ("environment", env.as_str()),
                        ("variant", variant.as_str()),
                    ];
                    ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
                }
            }
            Err(e) => tracing::warn!("metrics: evaluation counts unavailable: {e}"),
        }
        match self.0.rollout_states() {
            Ok(states) => {
                let mut family = encoder.encode_descriptor(
                    "rollouts",
                    "Rollouts by state",
                    None,
                    prometheus_client::metrics::MetricType::Gauge,
                )?;
                for (state, n) in &states {
                    let labels = [("state", state.as_str())];
                    ConstGauge::new(*n as i64).encode(family.encode_family(&labels)?)?;
                }
            }
            Err(e) => tracing::warn!("metrics: rollout states unavailable: {e}"),
        }
        let mut family = encoder.encode_descriptor(
            "webhook_deliveries",
            "Webhook notices delivered, attempts retried, and notices given up on",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (result, n) in self.1.counts() {
            ConstCounter::new(n).encode(family.encode_family(&[("result", result)])?)?;
        }

        let (started, finished) = self.2.looks();
        ConstCounter::new(started).encode(encoder.encode_descriptor(
            "controller_looks_started",
            "Looks the controller started at a rollout",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?)?;
        let mut family = encoder.encode_descriptor(
            "controller_looks",
            "Looks the controller finished at a rollout: acted, idle (nothing to do) or failed",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (result, n) in finished {
            ConstCounter::new(n).encode(family.encode_family(&[("result", result)])?)?;
        }

        ConstGauge::new(i64::from(self.2.leads())).encode(encoder.encode_descriptor(
            "controller_leader",
            "1 while this process holds the controller lease",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?)?;
        let (last, max) = self.2.lag();
        let mut family = encoder.encode_descriptor(
            "controller_evidence_lag_seconds",
            "How old new evidence was at most when the controller looked at it: the last round's and the largest",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (which, d) in [("last", last), ("max", max)] {
            ConstGauge::new(d.as_secs_f64()).encode(family.encode_family(&[("round", which)])?)?;
        }
        Ok(())
    }
}

pub async fn scrape(State(s): State<Shared>) -> Result<Response, ApiError> {
    let metrics = s.metrics.clone();
    let text = blocking(move || {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &metrics.registry)
            .expect("writing to a String cannot fail");
        Ok(out)
    })
    .await?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
