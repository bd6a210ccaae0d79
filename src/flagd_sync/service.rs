//! `flagd.sync.v1.FlagSyncService`: `SyncFlags` streams an environment's whole definition on connect
//! and again on every change of it, `FetchAllFlags` answers it once, `GetMetadata` answers an empty
//! set of context values (flagwarden adds none: whatever a rule reads comes from the application).
//! The selector is the environment: read from the `flagd-selector` metadata header (flagd 0.11+) or
//! the request's deprecated `selector` field (older providers), as a bare name or `flagSetId=NAME`;
//! without either, the token's environment or the server's default. The HTTP edge's guard has
//! already checked the token and its role; a token bound to an environment syncs only that one.

use std::pin::Pin;
use std::sync::Arc;

use futures_util::Stream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::hub::Hub;
use super::proto::flag_sync_service_server::FlagSyncService;
use super::proto::{
    FetchAllFlagsRequest, FetchAllFlagsResponse, GetMetadataRequest, GetMetadataResponse,
    SyncFlagsRequest, SyncFlagsResponse,
};
use crate::app::{App, AppError, Caller, FlagdDocument};

/// The metadata header flagd 0.11+ and current providers send the selector in.
pub const SELECTOR_HEADER: &str = "flagd-selector";

/// The service `flagwarden serve` mounts.
pub struct FlagSync {
    app: Arc<App>,
    hub: Arc<Hub>,
    default_env: Arc<str>,
    /// Cancelled when the server shuts down: every stream then ends with UNAVAILABLE, so providers
    /// reconnect (to this server once it is back, or to another) and a graceful shutdown finishes.
    stop: CancellationToken,
}

impl FlagSync {
    pub fn new(
        app: Arc<App>,
        hub: Arc<Hub>,
        default_env: Arc<str>,
        stop: CancellationToken,
    ) -> FlagSync {
        FlagSync {
            app,
            hub,
            default_env,
            stop,
        }
    }

    /// The environment a request syncs; refuses a malformed or contradictory selector, a token bound
    /// to another environment and, through `flagd_definition`/`subscribe`, an unknown one.
    fn environment<T>(&self, req: &Request<T>, field: &str) -> Result<String, Status> {
        let who = req.extensions().get::<Caller>().ok_or_else(|| {
            Status::unauthenticated("send authorization: Bearer <sdk token> metadata")
        })?;
        let header = match req.metadata().get(SELECTOR_HEADER) {
            Some(v) => {
                let text = v.to_str().map_err(|_| {
                    Status::invalid_argument(format!(
                        "{SELECTOR_HEADER}: the selector must be plain ASCII, an environment name"
                    ))
                })?;
                selector(SELECTOR_HEADER, text)?
            }
            None => None,
        };
        let body = selector("selector", field)?;
        let named = match (header, body) {
            (Some(h), Some(b)) if h != b => {
                return Err(Status::invalid_argument(format!(
                    "{SELECTOR_HEADER} {h:?} and the request's selector {b:?} name different \
                     environments; send one"
                )));
            }
            (Some(h), _) => Some(h),
            (None, b) => b,
        };
        match (named, who.environment.as_deref()) {
            (Some(n), Some(bound)) if n != bound => Err(Status::permission_denied(format!(
                "token {:?} is bound to environment {bound:?}, not {n:?}; select {bound:?}",
                who.name
            ))),
            (Some(n), _) => Ok(n.to_owned()),
            (None, Some(bound)) => Ok(bound.to_owned()),
            (None, None) => Ok(self.default_env.to_string()),
        }
    }
}

/// A selector as flagwarden reads it: an environment name, bare or as `flagSetId=NAME` (the
/// definition's `metadata.flagSetId`); empty means none. Other `key=value` selectors of flagd's
/// (`source=…`) name nothing flagwarden has.
fn selector<'a>(field: &str, text: &'a str) -> Result<Option<&'a str>, Status> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let name = match text.split_once('=') {
        None => text,
        Some(("flagSetId", name)) if !name.trim().is_empty() => name.trim(),
        Some(_) => {
            return Err(Status::invalid_argument(format!(
                "{field} {text:?}: flagwarden selects by environment; send its name \
                 (e.g. \"production\") or flagSetId=<environment>"
            )));
        }
    };
    Ok(Some(name))
}

/// An app error as the gRPC status a flagd client understands; an unknown environment is NOT_FOUND,
/// naming the selector and the environments there are.
fn status(environment: &str, e: AppError) -> Status {
    match e {
        AppError::Invalid { message, .. } | AppError::NotFound(message) => {
            Status::not_found(format!("selector {environment:?}: {message}"))
        }
        AppError::Denied { .. } => Status::permission_denied(e.to_string()),
        AppError::Conflict(m) => Status::failed_precondition(m),
        AppError::Store(_) => {
            tracing::error!("flagd sync failed: {e}");
            Status::internal(
                "reading the flag definitions failed; retry, and report it if it persists",
            )
        }
    }
}

/// Runs a blocking app call off the async workers.
async fn blocking<T: Send + 'static>(
    environment: String,
    f: impl FnOnce(&str) -> crate::app::Result<T> + Send + 'static,
) -> Result<T, Status> {
    match tokio::task::spawn_blocking(move || f(&environment).map_err(|e| status(&environment, e)))
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("flagd sync task failed: {e}");
            Err(Status::internal("the request failed; retry"))
        }
    }
}

type Updates = Pin<Box<dyn Stream<Item = Result<SyncFlagsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl FlagSyncService for FlagSync {
    type SyncFlagsStream = Updates;

    async fn sync_flags(
        &self,
        req: Request<SyncFlagsRequest>,
    ) -> Result<Response<Updates>, Status> {
        #[allow(deprecated)]
        let env = self.environment(&req, &req.get_ref().selector)?;
        let hub = self.hub.clone();
        let rx = blocking(env, move |env| hub.subscribe(env)).await?;
        Ok(Response::new(updates(rx, self.stop.clone())))
    }

    async fn fetch_all_flags(
        &self,
        req: Request<FetchAllFlagsRequest>,
    ) -> Result<Response<FetchAllFlagsResponse>, Status> {
        #[allow(deprecated)]
        let env = self.environment(&req, &req.get_ref().selector)?;
        let app = self.app.clone();
        let doc = blocking(env, move |env| app.flagd_definition(env)).await?;
        Ok(Response::new(FetchAllFlagsResponse {
            flag_configuration: doc.json.to_string(),
        }))
    }

    #[allow(deprecated)]
    async fn get_metadata(
        &self,
        req: Request<GetMetadataRequest>,
    ) -> Result<Response<GetMetadataResponse>, Status> {
        self.environment(&req, "")?;
        Ok(Response::new(GetMetadataResponse {
            metadata: Some(prost_types::Struct::default()),
        }))
    }
}

/// The stream one subscriber reads: the definition held now, then the newest one each time the
/// channel moves. tonic polls it only when the connection can take another message, so a subscriber
/// that does not read is simply not polled: its receiver falls behind, which costs nothing, and
/// when it reads again it gets the newest definition, not a backlog.
fn updates(rx: watch::Receiver<Arc<FlagdDocument>>, stop: CancellationToken) -> Updates {
    let first = true;
    Box::pin(futures_util::stream::unfold(
        Some((rx, first, stop)),
        |state| async move {
            let (mut rx, first, stop) = state?;
            if !first {
                tokio::select! {
                    moved = rx.changed() => moved.ok()?,
                    _ = stop.cancelled() => {
                        let bye = Status::unavailable("flagwarden is shutting down; reconnect");
                        return Some((Err(bye), None));
                    }
                }
            }
            let doc = rx.borrow_and_update().clone();
            let message = SyncFlagsResponse {
                flag_configuration: doc.json.to_string(),
                sync_context: None,
            };
            Some((Ok(message), Some((rx, false, stop))))
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selector_is_an_environment_bare_or_as_a_flag_set_id() {
        assert_eq!(selector("selector", "").unwrap(), None);
        assert_eq!(selector("selector", "  ").unwrap(), None);
        assert_eq!(
            selector("selector", "production").unwrap(),
            Some("production")
        );
        assert_eq!(
            selector("selector", " flagSetId=production ").unwrap(),
            Some("production")
        );
        for bad in [
            "source=database",
            "flagSetId=",
            "app=weather,flagSetId=production",
        ] {
            let e = selector(SELECTOR_HEADER, bad).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{bad}");
            assert!(e.message().contains(SELECTOR_HEADER), "{}", e.message());
            assert!(e.message().contains(bad.trim()), "{}", e.message());
        }
    }

    #[test]
    fn an_unknown_environment_is_not_found_and_a_store_failure_says_nothing_inside() {
        let e = status(
            "nope",
            AppError::Invalid {
                field: "environment".into(),
                message: "unknown environment \"nope\": the policy declares development".into(),
            },
        );
        assert_eq!(e.code(), tonic::Code::NotFound);
        assert!(
            e.message()
                .starts_with("selector \"nope\": unknown environment")
        );
    }
}
