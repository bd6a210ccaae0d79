//! flagwarden's own JSON API: evidence ingest for applications and approvals for human tokens.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use super::{ApiError, Shared, blocking, environment, parse_json};
use crate::app::Caller;
use crate::app::types::{
    ARM_REPORT_OTHER_FIELDS, ApprovalDecision, ApprovalList, Channel, IngestOutput, ListApprovals,
    SignalBatch,
};
use crate::domain::gate::ArmCounts;
use crate::domain::policy::Actor;

/// The body, or the JSON error for a body that is too large or unreadable.
fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        let status = e.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "the request body is too large: send at most 2 MiB; split the batch".to_owned()
        } else {
            e.body_text()
        };
        ApiError::new(status, "invalid_request", message)
    })
}

/// Names the first misspelt field or non-count of an arm report: counts are flattened into the
/// report, where serde neither refuses unknown fields nor says which count was wrong, and a silently
/// dropped count would be wrong evidence.
fn check_report_fields(raw: &Value) -> Result<(), ApiError> {
    let Some(reports) = raw.get("signals").and_then(Value::as_array) else {
        return Ok(()); // the typed parse names what is missing
    };
    for (i, r) in reports.iter().enumerate() {
        for (k, v) in r.as_object().into_iter().flatten() {
            let known = || ARM_REPORT_OTHER_FIELDS.iter().chain(&ArmCounts::NAMES);
            if !known().any(|f| f == k) {
                let all: Vec<&str> = known().copied().collect();
                return Err(ApiError::invalid(
                    format!("signals[{i}].{k}"),
                    format!("unknown field; an arm report has {}", all.join(", ")),
                ));
            }
            if ArmCounts::NAMES.contains(&k.as_str()) && !v.is_u64() {
                return Err(ApiError::invalid(
                    format!("signals[{i}].{k}"),
                    format!("expected a whole number of at least 0, got {v}"),
                ));
            }
        }
    }
    Ok(())
}

/// The batch a body holds, every field checked, or the error naming the first wrong one.
fn signal_batch(body: &[u8]) -> Result<SignalBatch, ApiError> {
    let raw: Value = parse_json(body)?;
    check_report_fields(&raw)?;
    parse_json(body)
}

/// What `POST /api/v1/signals` reads from a body before the app sees it, with the error as the
/// client would read it. Pure and public so the fuzzer drives exactly the endpoint's parse.
pub fn parse_signal_batch(body: &[u8]) -> Result<SignalBatch, String> {
    signal_batch(body).map_err(|e| match e.field {
        Some(field) => format!("{field}: {}", e.message),
        None => e.message,
    })
}

/// `POST /api/v1/signals`: one batch, all or nothing, counted once per `batch_id`.
pub async fn ingest(
    State(s): State<Shared>,
    Extension(who): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IngestOutput>, ApiError> {
    let mut batch = signal_batch(&body_bytes(body)?)?;
    if batch.environment.is_none() {
        batch.environment = Some(environment(&s, &who, &headers)?);
    } else if let (Some(bound), Some(named)) = (&who.environment, &batch.environment)
        && bound != named
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("token {:?} reports for {bound:?}, not {named:?}", who.name),
        ));
    }
    let app = s.app.clone();
    let actor = Actor::App(who.name);
    let id = batch.batch_id.clone();
    match blocking(move || app.ingest_signals(&actor, &batch)).await {
        Ok(out) => Ok(Json(out)),
        Err(e) if e.status == StatusCode::CONFLICT => Err(ApiError {
            field: Some("batch_id".into()),
            message: format!(
                "batch_id {id:?} was already used for a different batch: a retry repeats its batch exactly, a new batch needs a new id"
            ),
            ..e
        }),
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsQuery {
    #[serde(default)]
    status: Option<String>,
}

/// `GET /api/v1/approvals?status=pending`.
pub async fn approvals(
    State(s): State<Shared>,
    query: Result<Query<ApprovalsQuery>, QueryRejection>,
) -> Result<Json<ApprovalList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let app = s.app.clone();
    let q = ListApprovals { status: q.status };
    blocking(move || app.list_approvals(&q)).await.map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    #[serde(default)]
    reason: String,
}

/// `POST /api/v1/approvals/{id}/approve|reject` with `{"reason": "..."}`; human tokens only (the
/// guard checks the role), recorded under the token's name.
pub async fn decide(
    State(s): State<Shared>,
    Extension(who): Extension<Caller>,
    Path((id, decision)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ApprovalDecision>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::invalid("id", format!("{id:?} is not an approval id (a number)")))?;
    let body = body_bytes(body)?;
    let DecisionBody { reason } = if body.is_empty() {
        DecisionBody {
            reason: String::new(),
        }
    } else {
        parse_json(&body)?
    };
    let approve = match decision.as_str() {
        "approve" => true,
        "reject" => false,
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{other:?} is not a decision: use /approve or /reject"),
            ));
        }
    };
    let app = s.app.clone();
    let human = Actor::Human(who.name);
    blocking(move || {
        if approve {
            app.approve(&human, id, &reason, Channel::Http)
        } else {
            app.reject(&human, id, &reason, Channel::Http)
        }
    })
    .await
    .map(Json)
}
