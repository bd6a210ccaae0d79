//! OpenFeature Remote Evaluation Protocol (OFREP 0.3): single-flag evaluation for server-side
//! providers and bulk evaluation with ETag / If-None-Match for client-side ones, answered from the
//! compiled snapshot with no lock and no SQL. Errors take OFREP's shapes, not the API's.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{ApiError, Shared, environment};
use crate::app::Caller;
use crate::domain::eval::{Context, ErrorCode, Reason, Resolution, evaluate};
use crate::telemetry_out;

#[derive(Deserialize)]
struct EvaluationRequest {
    #[serde(default)]
    context: Option<Map<String, Value>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Success<'a> {
    key: &'a str,
    reason: Reason,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a Value>,
    metadata: Metadata<'a>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    environment: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    arm: Option<&'static str>,
    /// A shadow run's shadow arm: the candidate to run unseen beside the served value, and its
    /// value where OFREP metadata can carry it (a string, number or boolean).
    #[serde(skip_serializing_if = "Option::is_none")]
    shadow_variant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shadow_value: Option<&'a Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Failure<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    error_code: ErrorCode,
    error_details: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Item<'a> {
    Success(Success<'a>),
    Failure(Failure<'a>),
}

fn item<'a>(key: &'a str, env: &'a str, r: &Resolution<'a>) -> Item<'a> {
    match r.error {
        Some((code, details)) => Item::Failure(Failure {
            key: Some(key),
            error_code: code,
            error_details: details,
        }),
        None => Item::Success(Success {
            key,
            reason: r.reason,
            variant: r.variant,
            value: r.value,
            metadata: Metadata {
                environment: env,
                arm: r.arm.map(|a| a.as_str()),
                shadow_variant: r.shadow.map(|(name, _)| name),
                shadow_value: r
                    .shadow
                    .map(|(_, v)| v)
                    .filter(|v| !(v.is_object() || v.is_array() || v.is_null())),
            },
        }),
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// A whole-request failure in OFREP's shape (`key` only on the single-flag endpoint).
fn failure(status: StatusCode, key: Option<&str>, code: ErrorCode, details: &str) -> Response {
    let body = serde_json::to_vec(&Failure {
        key,
        error_code: code,
        error_details: details,
    })
    .expect("failures serialize");
    json_response(status, body)
}

/// Why a request's context is refused: status, OFREP error code, details.
type Refused = (StatusCode, ErrorCode, String);

/// The request's context, or why it is refused.
fn context(body: Result<Bytes, BytesRejection>) -> Result<Context, Refused> {
    let body = body.map_err(|e| {
        let status = e.status();
        let details = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "the request body is too large: keep the evaluation context under 64 KiB".to_owned()
        } else {
            e.body_text()
        };
        (status, ErrorCode::General, details)
    })?;
    parse_ofrep_body(&body).map_err(|(code, details)| (StatusCode::BAD_REQUEST, code, details))
}

/// Reads an OFREP request body, `{"context": {"targetingKey": "user-1", ...}}` (the context may be
/// absent), into the evaluation context, or says why not with OFREP's error code. Pure and public
/// so the fuzzer drives exactly what the endpoints run on a body.
pub fn parse_ofrep_body(body: &[u8]) -> Result<Context, (ErrorCode, String)> {
    let req: EvaluationRequest = serde_json::from_slice(body).map_err(|e| {
        let details = format!(
            "the body must be JSON like {{\"context\": {{\"targetingKey\": \"user-1\"}}}}: {e}"
        );
        (ErrorCode::ParseError, details)
    })?;
    Context::from_object(req.context.unwrap_or_default(), body.len())
        .map_err(|e| (ErrorCode::InvalidContext, e.0))
}

/// The OFREP view of an `ApiError` about the environment.
fn env_failure(e: ApiError, key: Option<&str>) -> Response {
    if e.status == StatusCode::BAD_REQUEST {
        failure(e.status, key, ErrorCode::General, &e.message)
    } else {
        e.into_response()
    }
}

pub async fn evaluate_one(
    State(s): State<Shared>,
    Extension(who): Extension<Caller>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let env = match environment(&s, &who, &headers) {
        Ok(e) => e,
        Err(e) => return env_failure(e, Some(&key)),
    };
    let ctx = match context(body) {
        Ok(c) => c,
        Err((status, code, details)) => return failure(status, Some(&key), code, &details),
    };
    let snap = s.app.snapshot();
    let r = evaluate(&snap, &key, &env, &ctx, None);
    let status = match r.error {
        None => StatusCode::OK,
        Some((ErrorCode::FlagNotFound, _)) => StatusCode::NOT_FOUND,
        Some(_) => StatusCode::BAD_REQUEST,
    };
    r.record();
    if let Some(mut span) = telemetry_out::ofrep(ONE_ROUTE, traceparent(&headers)) {
        span.flag(&traced(&key, &env, &ctx, &r, snap.version()));
        span.end(status.as_u16());
    }
    let body = serde_json::to_vec(&item(&key, &env, &r)).expect("answers serialize");
    json_response(status, body)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bulk<'a> {
    flags: Vec<Item<'a>>,
    metadata: Map<String, Value>,
    event_streams: [Value; 1],
}

/// The bulk answer's ETag, known before evaluating: the answer is a function of the snapshot, the
/// environment and the request body alone, so a matching If-None-Match costs a hash, not 100
/// evaluations. The process nonce keeps a restarted server's versions from matching old tags.
fn bulk_etag(nonce: &[u8; 16], version: u64, env: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(nonce);
    h.update(version.to_le_bytes());
    h.update((env.len() as u64).to_le_bytes());
    h.update(env.as_bytes());
    h.update(body);
    format!("\"{}\"", hex::encode(&h.finalize()[..16]))
}

pub async fn evaluate_all(
    State(s): State<Shared>,
    Extension(who): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let env = match environment(&s, &who, &headers) {
        Ok(e) => e,
        Err(e) => return env_failure(e, None),
    };
    let snap = s.app.snapshot();
    let etag = match &body {
        Ok(bytes) => bulk_etag(&s.nonce, snap.version(), &env, bytes),
        Err(_) => String::new(),
    };
    let etag_value = HeaderValue::from_str(&etag).expect("hex is a valid header");
    let ctx = match context(body) {
        Ok(c) => c,
        Err((status, code, details)) => return failure(status, None, code, &details),
    };
    if if_none_match(&headers, &etag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response();
    }
    let mut keys: Vec<&str> = snap.keys().collect();
    keys.sort_unstable();
    let resolutions: Vec<(&str, Resolution)> = keys
        .into_iter()
        .map(|k| (k, evaluate(&snap, k, &env, &ctx, None)))
        .collect();
    let mut metadata = Map::new();
    metadata.insert("environment".into(), env.clone().into());
    let bulk = Bulk {
        flags: resolutions.iter().map(|(k, r)| item(k, &env, r)).collect(),
        metadata,
        event_streams: [match &s.public_stream_url {
            Some(url) => json!({
                "type": "sse",
                "url": format!("{url}?environment={env}"),
                "inactivityDelaySec": 120,
            }),
            None => json!({
                "type": "sse",
                "endpoint": {"requestUri": format!("/api/v1/stream?environment={env}")},
                "inactivityDelaySec": 120,
            }),
        }],
    };
    let body = serde_json::to_vec(&bulk).expect("answers serialize");
    resolutions.iter().for_each(|(_, r)| r.record());
    if let Some(mut span) = telemetry_out::ofrep(BULK_ROUTE, traceparent(&headers)) {
        for (k, r) in &resolutions {
            span.flag(&traced(k, &env, &ctx, r, snap.version()));
        }
        span.end(200);
    }
    let mut res = json_response(StatusCode::OK, body);
    res.headers_mut().insert(header::ETAG, etag_value);
    res
}

const ONE_ROUTE: &str = "/ofrep/v1/evaluate/flags/{key}";
const BULK_ROUTE: &str = "/ofrep/v1/evaluate/flags";

fn traceparent(headers: &HeaderMap) -> Option<&str> {
    headers.get("traceparent").and_then(|v| v.to_str().ok())
}

/// One answer as its span event records it (the OpenTelemetry feature-flag conventions).
fn traced<'a>(
    key: &'a str,
    env: &'a str,
    ctx: &'a Context,
    r: &'a Resolution,
    version: u64,
) -> telemetry_out::FlagEvaluation<'a> {
    telemetry_out::FlagEvaluation {
        key,
        environment: env,
        targeting_key: ctx.targeting_key.as_deref(),
        variant: r.variant,
        reason: r.reason,
        error: r.error,
        version,
        arm: r.arm.map(|a| a.as_str()),
    }
}

/// Whether If-None-Match names `etag` (weak comparison, lists and `*` included).
pub(super) fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_in_lists() {
        let mut h = HeaderMap::new();
        assert!(!if_none_match(&h, "\"a\""));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"a\""),
        );
        assert!(if_none_match(&h, "\"a\""));
        assert!(!if_none_match(&h, "\"b\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(if_none_match(&h, "\"b\""));
    }
}
