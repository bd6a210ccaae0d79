//! The OTLP/HTTP receiver: `POST /v1/traces`, `/v1/logs` and `/v1/metrics`, as the OTLP
//! specification defines them (opentelemetry-proto `docs/specification.md`), so a stock
//! OpenTelemetry exporter pointed at `serve` just works.
//!
//! Bodies are protobuf (`application/x-protobuf`) or OTLP's JSON mapping (`application/json`),
//! optionally `Content-Encoding: gzip`, at most `OTLP_BODY_LIMIT` bytes before and after
//! decompression (413 beyond). Other content types get 415. An undecodable body gets 400 with a
//! `google.rpc.Status` encoded like the request (never retried by exporters). A 200 means the
//! export is committed; what was not used is counted in `partial_success` with the reasons. When
//! too many exports are in flight, or the store is busy, the answer is 503 with `Retry-After`, which
//! exporters retry; a retried export counts nothing twice.

use std::io::Read;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{ApiError, Shared, environment};
use crate::app::types::{OtlpExport, TelemetryIngest};
use crate::app::{AppError, Caller};
use crate::domain::policy::Actor;
use crate::domain::telemetry::wire::{LogsExport, TracesExport};

/// The largest body accepted, compressed or not (the spec recommends a limit; one export is one
/// transaction, so it is kept well under the spec's 64 MiB example).
pub const OTLP_BODY_LIMIT: usize = 16 * 1024 * 1024;
/// Exports processed at once; more wait briefly, then get 503.
pub const OTLP_IN_FLIGHT: usize = 4;
const QUEUE_WAIT: Duration = Duration::from_secs(2);

/// The three signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Logs,
    Metrics,
}

/// How the request was encoded, and so how the answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

/// A decoded export.
#[derive(Debug)]
pub enum Decoded {
    Traces(TracesExport),
    Logs(LogsExport),
    /// Metrics are decoded (so a malformed body is still a 400) and counted, not used.
    Metrics {
        data_points: u64,
    },
}

/// A refusal before anything is stored: the status, and the message for the `google.rpc.Status`.
#[derive(Debug)]
pub struct OtlpError {
    pub status: StatusCode,
    pub message: String,
}

fn refuse(status: StatusCode, message: impl Into<String>) -> OtlpError {
    OtlpError {
        status,
        message: message.into(),
    }
}

/// The encoding `Content-Type` names; parameters (`; charset=utf-8`) are ignored.
pub fn encoding_of(content_type: Option<&str>) -> Result<Encoding, OtlpError> {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    match media.as_deref() {
        Some("application/x-protobuf") | Some("application/protobuf") => Ok(Encoding::Protobuf),
        Some("application/json") => Ok(Encoding::Json),
        other => Err(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type {}: OTLP/HTTP takes application/x-protobuf or application/json",
                other.map_or("missing".to_owned(), |o| format!("{o:?}"))
            ),
        )),
    }
}

/// The body after `Content-Encoding`, never longer than `limit`.
fn decompress(encoding: Option<&str>, body: Bytes, limit: usize) -> Result<Bytes, OtlpError> {
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("identity") => Ok(body),
        Some("gzip") => {
            let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
            let read = flate2::read::GzDecoder::new(&body[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out);
            match read {
                Err(e) => Err(refuse(
                    StatusCode::BAD_REQUEST,
                    format!("the gzip body is truncated or corrupt: {e}"),
                )),
                Ok(_) if out.len() > limit => Err(too_large(limit)),
                Ok(_) => Ok(out.into()),
            }
        }
        Some(other) => Err(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Encoding {other:?}: send gzip or no encoding"),
        )),
    }
}

fn too_large(limit: usize) -> OtlpError {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the export is over {} MiB (after decompression): lower the exporter's batch size",
            limit / (1024 * 1024)
        ),
    )
}

/// The body as the complete `opentelemetry-proto` message `P`.
fn decode_full<P: Message + Default + serde::de::DeserializeOwned>(
    enc: Encoding,
    body: &[u8],
) -> Result<P, OtlpError> {
    match enc {
        Encoding::Protobuf => P::decode(body).map_err(not_protobuf),
        Encoding::Json => serde_json::from_slice(body).map_err(|e| {
            refuse(
                StatusCode::BAD_REQUEST,
                format!("the body is not valid OTLP JSON: {e}"),
            )
        }),
    }
}

/// The body as `W`, the parts the receiver reads of the message `P` (`domain::telemetry::wire`):
/// protobuf straight from the request's bytes, JSON through `P` and its protobuf encoding.
fn decode_wire<P, W>(enc: Encoding, body: Bytes) -> Result<W, OtlpError>
where
    P: Message + Default + serde::de::DeserializeOwned,
    W: Message + Default,
{
    let body = match enc {
        Encoding::Protobuf => body,
        Encoding::Json => decode_full::<P>(enc, &body)?.encode_to_vec().into(),
    };
    W::decode(body).map_err(not_protobuf)
}

fn not_protobuf(e: prost::DecodeError) -> OtlpError {
    refuse(
        StatusCode::BAD_REQUEST,
        format!("the body is not a valid OTLP protobuf message: {e}"),
    )
}

/// Everything `POST /v1/<signal>` does to a body before the app sees it. Pure and public so the
/// fuzzer drives exactly the endpoint's decoding.
pub fn parse_otlp_body(
    signal: Signal,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: Bytes,
) -> Result<Decoded, OtlpError> {
    let enc = encoding_of(content_type)?;
    if body.len() > OTLP_BODY_LIMIT {
        return Err(too_large(OTLP_BODY_LIMIT));
    }
    let raw = decompress(content_encoding, body, OTLP_BODY_LIMIT)?;
    Ok(match signal {
        Signal::Traces => Decoded::Traces(decode_wire::<ExportTraceServiceRequest, TracesExport>(
            enc, raw,
        )?),
        Signal::Logs => Decoded::Logs(decode_wire::<ExportLogsServiceRequest, LogsExport>(
            enc, raw,
        )?),
        Signal::Metrics => {
            let m: ExportMetricsServiceRequest = decode_full(enc, &raw)?;
            let data_points = m
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .map(|m| match &m.data {
                    Some(Data::Gauge(g)) => g.data_points.len(),
                    Some(Data::Sum(s)) => s.data_points.len(),
                    Some(Data::Histogram(h)) => h.data_points.len(),
                    Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
                    Some(Data::Summary(s)) => s.data_points.len(),
                    None => 0,
                } as u64)
                .sum();
            Decoded::Metrics { data_points }
        }
    })
}

/// `google.rpc.Status`, the body of every OTLP error (its `details` are left out).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn with_type(enc: Encoding, status: StatusCode, body: Vec<u8>) -> Response {
    let ct = match enc {
        Encoding::Protobuf => "application/x-protobuf",
        Encoding::Json => "application/json",
    };
    let mut res = (status, body).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    res
}

/// An error answer: the HTTP status, and a `google.rpc.Status` with the gRPC code that matches it.
pub(super) fn error_response(enc: Encoding, status: StatusCode, message: String) -> Response {
    let code = match status {
        StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => 3, // INVALID_ARGUMENT
        StatusCode::UNAUTHORIZED => 16,                               // UNAUTHENTICATED
        StatusCode::FORBIDDEN => 7,                                   // PERMISSION_DENIED
        StatusCode::UNSUPPORTED_MEDIA_TYPE => 3,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => 14, // UNAVAILABLE
        _ => 13,                                                               // INTERNAL
    };
    let body = match enc {
        Encoding::Protobuf => RpcStatus { code, message }.encode_to_vec(),
        Encoding::Json => json!({"code": code, "message": message})
            .to_string()
            .into_bytes(),
    };
    let mut res = with_type(enc, status, body);
    if matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    res
}

/// The encoding of a request's answer: as the request, JSON when it named neither.
pub(super) fn answer_encoding(headers: &HeaderMap) -> Encoding {
    encoding_of(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    )
    .unwrap_or(Encoding::Json)
}

/// The 200 answer: `partial_success` set only when something was rejected or there is a warning.
fn success(enc: Encoding, signal: Signal, rejected: u64, message: String) -> Response {
    let partial = rejected > 0 || !message.is_empty();
    let body = match enc {
        Encoding::Protobuf => {
            let rejected = rejected as i64;
            let error_message = message;
            match signal {
                Signal::Traces => ExportTraceServiceResponse {
                    partial_success: partial.then_some(ExportTracePartialSuccess {
                        rejected_spans: rejected,
                        error_message,
                    }),
                }
                .encode_to_vec(),
                Signal::Logs => ExportLogsServiceResponse {
                    partial_success: partial.then_some(ExportLogsPartialSuccess {
                        rejected_log_records: rejected,
                        error_message,
                    }),
                }
                .encode_to_vec(),
                Signal::Metrics => ExportMetricsServiceResponse {
                    partial_success: partial.then_some(ExportMetricsPartialSuccess {
                        rejected_data_points: rejected,
                        error_message,
                    }),
                }
                .encode_to_vec(),
            }
        }
        Encoding::Json if !partial => b"{}".to_vec(),
        Encoding::Json => {
            let field = match signal {
                Signal::Traces => "rejectedSpans",
                Signal::Logs => "rejectedLogRecords",
                Signal::Metrics => "rejectedDataPoints",
            };
            // OTLP JSON writes 64-bit integers as strings.
            json!({"partialSuccess": {field: rejected.to_string(), "errorMessage": message}})
                .to_string()
                .into_bytes()
        }
    };
    with_type(enc, StatusCode::OK, body)
}

fn from_api(e: ApiError) -> (StatusCode, String) {
    (e.status, e.message)
}

pub async fn traces(
    s: State<Shared>,
    who: Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    export(s, who, headers, body, Signal::Traces).await
}

pub async fn logs(
    s: State<Shared>,
    who: Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    export(s, who, headers, body, Signal::Logs).await
}

pub async fn metrics(
    s: State<Shared>,
    who: Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    export(s, who, headers, body, Signal::Metrics).await
}

async fn export(
    State(s): State<Shared>,
    Extension(who): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    signal: Signal,
) -> Response {
    let enc = answer_encoding(&headers);
    let fail = |(status, message): (StatusCode, String)| error_response(enc, status, message);
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let e = too_large(OTLP_BODY_LIMIT);
            return fail((e.status, e.message));
        }
        Err(e) => return fail((e.status(), e.body_text())),
    };
    let text = |h| headers.get(h).and_then(|v: &HeaderValue| v.to_str().ok());
    let decoded = match parse_otlp_body(
        signal,
        text(header::CONTENT_TYPE),
        text(header::CONTENT_ENCODING),
        body.clone(),
    ) {
        Ok(d) => d,
        Err(e) => return fail((e.status, e.message)),
    };
    let export = match decoded {
        Decoded::Traces(t) => OtlpExport::Traces(t),
        Decoded::Logs(l) => OtlpExport::Logs(l),
        Decoded::Metrics { data_points } => {
            let why = if data_points == 0 {
                String::new()
            } else {
                "flagwarden reads rollout evidence from traces and logs (feature_flag.evaluation); metrics carry no rollout arm, so their data points are not used".into()
            };
            return success(enc, signal, data_points, why);
        }
    };
    let env = match environment(&s, &who, &headers) {
        Ok(e) => e,
        Err(e) => return fail(from_api(e)),
    };
    // Load shedding: a bounded number of exports at once, each one transaction.
    let permit = match tokio::time::timeout(QUEUE_WAIT, s.otlp_slots.clone().acquire_owned()).await
    {
        Ok(Ok(p)) => p,
        _ => {
            return fail((
                StatusCode::SERVICE_UNAVAILABLE,
                "too many exports in flight: retry after the Retry-After delay".into(),
            ));
        }
    };
    let req = TelemetryIngest {
        export,
        environment: env,
        bound: who.environment.clone(),
        body_sha256: hex::encode(Sha256::digest(&body)),
    };
    let app = s.app.clone();
    let actor = Actor::App(who.name);
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        app.ingest_telemetry(&actor, &req)
    })
    .await;
    match result {
        Ok(Ok(out)) => success(enc, signal, out.rejected, out.message),
        // A store failure changed nothing (the transaction rolled back): the exporter retries,
        // and whatever it had counted before is claimed, so nothing counts twice.
        Ok(Err(AppError::Store(e))) => {
            tracing::error!("OTLP export not stored: {e}");
            fail((
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is unavailable; nothing was recorded, retry".into(),
            ))
        }
        Ok(Err(e)) => fail(from_api(ApiError::from(e))),
        Err(e) => {
            tracing::error!("OTLP export task failed: {e}");
            fail((
                StatusCode::INTERNAL_SERVER_ERROR,
                "the export failed and changed nothing; retry".into(),
            ))
        }
    }
}
