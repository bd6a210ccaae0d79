//! flagd's HTTP sync: `GET /flagd/v1/{environment}` answers the environment's flag-definition
//! document (`App::flagd_definition`) with a strong `ETag`, and `304 Not Modified` when the
//! `If-None-Match` names it, so a flagd daemon polling with `--sources '[{"provider":"http", ...}]'`
//! (or any HTTP client writing a file for file sync) downloads it only when it changed. Tokens are
//! as on OFREP: an sdk, agent or human token, and one bound to an environment reads only that one.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, Shared, blocking, ofrep::if_none_match};
use crate::app::Caller;

pub async fn definition(
    State(s): State<Shared>,
    Extension(who): Extension<Caller>,
    Path(env): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(bound) = who.environment.as_deref()
        && bound != env
    {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "token {:?} is bound to environment {bound:?}, not {env:?}",
                who.name
            ),
        )
        .into_response();
    }
    let app = s.app.clone();
    let doc = match blocking(move || app.flagd_definition(&env)).await {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let etag = HeaderValue::from_str(&doc.etag).expect("hex is a valid header");
    if if_none_match(&headers, &doc.etag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        StatusCode::OK,
        [
            (header::ETAG, etag),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        doc.json.to_string(),
    )
        .into_response()
}
