//! Confirming in the agent's own client. When a tool's call opened an approval (a rollback proposal,
//! a human-gated step, a start that policy reserves for humans) and the environment's
//! `confirm_in_client` level is not `none`, the agent's MCP client is asked at once: 2025-era peers
//! through an `elicitation/create` request, 2026-07-28 peers through an input-required result whose
//! `requestState` is sealed, expiring and bound to the caller, the tool and its arguments.
//! The server cannot see whether a person saw the question (codex answers `decline` by itself), so
//! this file decides no trust: it hands the answer, with the client's name and version, to
//! `App::answer_in_client`, where `decide` says whether it counts. Whatever does not count, and a
//! client that cannot ask, leaves the approval waiting, and the tool's answer says how a person
//! decides it.

use std::time::Duration;

use rmcp::RoleServer;
use rmcp::model::{
    CallToolResponse, CallToolResult, ElicitRequest, ElicitRequestParams, ElicitResult,
    ElicitationAction, ElicitationSchema, InputRequest, InputRequests, InputRequiredResult,
    InputResponses, RequestStateCodec, RequestStateError, SealOptions,
};
use rmcp::service::{ElicitationError, RequestContext, ServiceError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::refusal::Refused;
use super::{Server, agent};
use crate::app::types::{CanaryOutput, ClientSeen, FlagEnv};
use crate::app::{App, AppError};
use crate::domain::approval::Approval;
use crate::domain::policy::{Actor, ClientAnswer};

/// How long a person has to answer, and how long a sealed request state stays valid.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10 * 60);

/// The key of the one input request an input-required result carries.
const ANSWER_KEY: &str = "confirm";

/// The key that seals request states. One per process, shared by every session's `Server` (the HTTP
/// service builds a `Server` per session), so a state sealed in one request opens in the next; a
/// restart makes new keys, so states from before it are refused like any other that does not open.
pub struct StateSeal {
    codec: RequestStateCodec,
}

impl StateSeal {
    /// A fresh random key.
    pub fn random() -> Result<StateSeal, getrandom::Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        Ok(StateSeal::with_key(key))
    }

    pub fn with_key(key: [u8; 32]) -> StateSeal {
        StateSeal {
            codec: RequestStateCodec::try_new(key.to_vec()).expect("32 bytes is long enough"),
        }
    }
}

/// What the client echoes back on the retry: which approval was asked about, until when (by the
/// App's clock, which every decision uses), and the answer the first round would have returned.
#[derive(Serialize, Deserialize)]
struct Asked {
    approval_id: i64,
    expires_at: i64,
    output: CanaryOutput,
}

// The form the person fills in: flat, primitive fields only, as elicitation requires. The titles and
// field docs are what the client shows.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(
    title = "flagwarden approval",
    description = "Your decision on the request above"
)]
pub struct ConfirmForm {
    /// approve or reject
    #[schemars(title = "Decision")]
    pub decision: Verdict,
    /// Why, for the audit trail (optional)
    #[serde(default)]
    #[schemars(title = "Reason")]
    pub reason: String,
}
rmcp::elicit_safe!(ConfirmForm);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum Verdict {
    Approve,
    Reject,
}

/// What came back from the client, and the reason to record: the answer only; whether it counts is
/// the policy's (`App::answer_in_client`).
struct Answer {
    given: ClientAnswer,
    reason: String,
}

impl Answer {
    fn only(given: ClientAnswer) -> Answer {
        let reason = format!("{given} in the agent's client");
        Answer { given, reason }
    }
}

fn answer(form: ConfirmForm) -> Answer {
    let reason = form.reason.trim().to_owned();
    let given = match form.decision {
        Verdict::Approve => ClientAnswer::Approve,
        Verdict::Reject => ClientAnswer::Reject,
    };
    let reason = match (reason.is_empty(), given) {
        (false, _) => reason,
        (true, ClientAnswer::Approve) => "approved in the agent's client".into(),
        (true, _) => "rejected in the agent's client".into(),
    };
    Answer { given, reason }
}

/// An `elicitation/create` result that came back inside a 2026-07-28 retry.
fn answer_of_result(value: serde_json::Value) -> Answer {
    let Ok(result) = serde_json::from_value::<ElicitResult>(value) else {
        return Answer::only(ClientAnswer::Malformed);
    };
    match result.action {
        ElicitationAction::Accept => {
            match result.content.map(serde_json::from_value::<ConfirmForm>) {
                Some(Ok(form)) => answer(form),
                _ => Answer::only(ClientAnswer::Malformed),
            }
        }
        ElicitationAction::Decline => Answer::only(ClientAnswer::Decline),
        _ => Answer::only(ClientAnswer::Cancel),
    }
}

/// The client as its session names itself, recorded with its answer.
fn client_seen(ctx: &RequestContext<RoleServer>) -> ClientSeen {
    let info = ctx.client_info();
    let text = |s: Option<String>| {
        s.filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".into())
    };
    ClientSeen {
        name: text(info.as_ref().map(|i| i.name.clone())),
        version: text(info.map(|i| i.version)),
    }
}

/// The tool call that may ask: its name, where it acts, and a digest of its typed arguments (typed,
/// so the bytes do not depend on how the client ordered the JSON keys).
pub(super) struct Call {
    tool: &'static str,
    key: String,
    env: String,
    digest: String,
}

impl Call {
    pub(super) fn new<P: Serialize>(tool: &'static str, key: &str, env: &str, args: &P) -> Call {
        let bytes = serde_json::to_vec(args).expect("tool arguments serialize");
        Call {
            tool,
            key: key.to_owned(),
            env: env.to_owned(),
            digest: hex::encode(Sha256::digest(bytes)),
        }
    }

    /// The associated data a state is sealed with: it opens only for the same caller, tool and arguments.
    fn binding(&self, caller: &Actor) -> Vec<u8> {
        format!(
            "flagwarden/confirm/v1\n{}:{}\n{}\n{}",
            caller.kind(),
            caller.name(),
            self.tool,
            self.digest
        )
        .into_bytes()
    }
}

/// The one answer to a state that does not open, whatever the reason.
fn state_refused() -> String {
    format!(
        "this confirmation cannot be used: its requestState was altered, has expired (answers are taken for {} minutes), \
         or belongs to another call, tool or client; nothing changed. Any approval the first call opened still waits: \
         list_approvals shows it, and a human decides with `flagwarden approve ID` or `flagwarden reject ID --reason TEXT`",
        ANSWER_WITHIN.as_secs() / 60
    )
}

fn complete(out: &CanaryOutput) -> CallToolResponse {
    CallToolResult::structured(serde_json::to_value(out).expect("answers serialize")).into()
}

fn modern(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.protocol_version().is_some_and(|v| !v.has_initialize())
}

/// Whether the client can show a form: it declared elicitation, with form mode or (older clients) no
/// mode at all.
fn can_ask(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.client_capabilities()
        .and_then(|c| c.elicitation)
        .is_some_and(|e| e.form.is_some() || e.url.is_none())
}

/// What the person reads: what would happen, who asks and why.
fn question(a: &Approval) -> String {
    let to = a.target_percent.map_or(String::new(), |p| format!(" {p}%"));
    let what = match a.kind.as_str() {
        "rollback" => format!(
            "Roll back {} in {} to its last-known-good variant now?",
            a.flag, a.env
        ),
        "advance_canary" => format!("Let the canary of {} in {} go to{to}?", a.flag, a.env),
        "start_canary" => format!("Start the canary of {} in {} at{to}?", a.flag, a.env),
        other => format!("Approve {other} of {} in {}?", a.flag, a.env),
    };
    format!(
        "{what}\n{} asks (approval #{}, rule {}): {}\nApprove or reject. Your answer is recorded with this client's name; the policy's confirm_in_client says whether an answer given here decides it.",
        a.requested_by, a.id, a.rule, a.reason
    )
}

/// An answer whose approval still waits names the command that decides it (the gate's rollback
/// proposal, for one, says only that a human confirms).
fn waiting(mut out: CanaryOutput) -> CanaryOutput {
    if let Some(id) = out.approval_id
        && !out.outcome.dry_run
        && !out.outcome.summary.contains("flagwarden approve")
    {
        out.outcome.summary = format!(
            "{}; a human decides with `flagwarden approve {id}` or `flagwarden reject {id} --reason TEXT`",
            out.outcome.summary
        );
    }
    out
}

impl Server {
    /// Runs a tool whose call may open an approval, then asks the person in the client to decide it.
    /// A retry that carries a request state is the second round of such a call: the mutation already
    /// happened, so it is never run again; the approval it opened is decided instead.
    pub(super) async fn confirmable(
        &self,
        call: Call,
        ctx: RequestContext<RoleServer>,
        state: Option<String>,
        responses: Option<InputResponses>,
        f: impl FnOnce(&App, &Actor) -> crate::app::Result<CanaryOutput> + Send + 'static,
    ) -> Result<CallToolResponse, Refused> {
        let caller = agent(&ctx);
        if let Some(sealed) = state {
            let asked = self.open(&sealed, &call, &caller).map_err(Refused::other)?;
            // A retry that brings no answer under the key it was asked for answered nothing readable.
            let answer = responses
                .and_then(|mut r| r.remove(ANSWER_KEY))
                .map_or(Answer::only(ClientAnswer::Malformed), answer_of_result);
            let out = self
                .apply(
                    &caller,
                    client_seen(&ctx),
                    &call,
                    asked.approval_id,
                    asked.output,
                    answer,
                )
                .await;
            return Ok(complete(&out));
        }
        let actor = caller.clone();
        let out = self.run(move |app| f(app, &actor)).await?.0;
        let Some(approval) = self.to_ask(&out, &call).await else {
            return Ok(complete(&waiting(out)));
        };
        if !can_ask(&ctx) {
            return Ok(complete(&waiting(out)));
        }
        let message = question(&approval);
        if modern(&ctx) {
            return Ok(self.ask_later(&call, &caller, approval.id, out, message));
        }
        let answer = match ctx
            .peer
            .elicit_with_timeout::<ConfirmForm>(message, Some(ANSWER_WITHIN))
            .await
        {
            Ok(Some(form)) => answer(form),
            Err(ElicitationError::UserDeclined) => Answer::only(ClientAnswer::Decline),
            Err(ElicitationError::UserCancelled) => Answer::only(ClientAnswer::Cancel),
            Ok(None)
            | Err(ElicitationError::ParseError { .. })
            | Err(ElicitationError::Service(
                ServiceError::McpError(_) | ServiceError::UnexpectedResponse,
            )) => Answer::only(ClientAnswer::Malformed),
            Err(ElicitationError::Service(ServiceError::Timeout { .. })) => {
                Answer::only(ClientAnswer::Timeout)
            }
            Err(e) => {
                // The client went away or the request never reached it: nobody answered anything.
                tracing::warn!(
                    "asking in the client about approval {} failed: {e}",
                    approval.id
                );
                return Ok(complete(&waiting(out)));
            }
        };
        let client = client_seen(&ctx);
        Ok(complete(
            &self
                .apply(&caller, client, &call, approval.id, out, answer)
                .await,
        ))
    }

    /// The pending approval this answer opened, if the person in the client may decide it now.
    async fn to_ask(&self, out: &CanaryOutput, call: &Call) -> Option<Approval> {
        let id = out.approval_id?;
        if out.outcome.dry_run {
            return None;
        }
        // Under `none` no answer given in the client could count, so nobody is asked.
        let env = self.app.policy().policy.env(&call.env)?;
        if !env.confirm_in_client.asks() {
            return None;
        }
        // An idempotent replay returns the first answer, whose approval may be decided by now.
        self.run(move |app| app.pending_approval(id)).await.ok()?.0
    }

    /// The first round for a 2026-07-28 peer: the question, and the state the retry must bring back.
    fn ask_later(
        &self,
        call: &Call,
        caller: &Actor,
        approval_id: i64,
        output: CanaryOutput,
        message: String,
    ) -> CallToolResponse {
        let expires_at = self.app.now().as_second() + ANSWER_WITHIN.as_secs() as i64;
        let asked = Asked {
            approval_id,
            expires_at,
            output,
        };
        let binding = call.binding(caller);
        let sealed = self
            .seal
            .codec
            .seal_json_with(
                &asked,
                &SealOptions::new()
                    .associated_data(&binding)
                    .ttl(ANSWER_WITHIN),
            )
            .expect("the state serializes");
        let schema = ElicitationSchema::from_type::<ConfirmForm>().expect("a flat form");
        let mut requests = InputRequests::new();
        requests.insert(
            ANSWER_KEY.into(),
            InputRequest::Elicitation(ElicitRequest::new(
                ElicitRequestParams::FormElicitationParams {
                    meta: None,
                    message,
                    requested_schema: schema,
                },
            )),
        );
        InputRequiredResult::new(Some(requests), Some(sealed)).into()
    }

    /// Opens the state a retry brought back. Every way it can fail to open gets the same answer, so
    /// the refusal tells a forger nothing; expiry by the App's clock is checked after the seal holds.
    fn open(&self, sealed: &str, call: &Call, caller: &Actor) -> Result<Asked, String> {
        let binding = call.binding(caller);
        let asked: Asked =
            self.seal
                .codec
                .open_json_with(sealed, &binding)
                .map_err(|e: RequestStateError| {
                    tracing::warn!("refused a request state for {}: {e}", call.tool);
                    state_refused()
                })?;
        if self.app.now().as_second() > asked.expires_at {
            let id = asked.approval_id;
            return Err(format!(
                "the confirmation of approval #{id} expired (answers are taken for {} minutes); nothing changed. \
                 Approval #{id} still waits: a human decides with `flagwarden approve {id}` or `flagwarden reject {id} --reason TEXT`",
                ANSWER_WITHIN.as_secs() / 60
            ));
        }
        Ok(asked)
    }

    /// Hands the client's answer to the App, which asks the policy whether it counts, and says in
    /// the tool's answer what happened: decided, or still waiting and how a person decides it.
    async fn apply(
        &self,
        caller: &Actor,
        client: ClientSeen,
        call: &Call,
        id: i64,
        mut out: CanaryOutput,
        answer: Answer,
    ) -> CanaryOutput {
        let agent = caller.clone();
        let Answer { given, reason } = answer;
        // The App's own error is kept (not its text) so a refusal by the policy reads as one.
        let result = self
            .run(move |app| Ok(app.answer_in_client(&agent, &client, id, given, &reason)))
            .await
            .map_err(|internal| (false, internal.to_string()))
            .and_then(|r| {
                r.0.map_err(|e| (matches!(e, AppError::Denied { .. }), e.to_string()))
            });
        let d = match result {
            Ok(d) => d,
            Err((denied, e)) => {
                out.outcome.summary = if denied {
                    format!(
                        "{}; your client's answer ({given}) was recorded and decided nothing: {e}",
                        out.outcome.summary
                    )
                } else {
                    format!(
                        "{}; the answer given in your client was not applied: {e}",
                        out.outcome.summary
                    )
                };
                return waiting(out);
            }
        };
        let a = &d.approval;
        out.outcome.summary = if a.status == "pending" {
            format!(
                "approval #{id} was approved in your client ({}); it needs {} more human(s): `flagwarden approve {id}`",
                d.summary,
                a.approvals_needed
                    .saturating_sub(a.approved_by.len() as u32)
            )
        } else {
            format!(
                "approval #{id} was {} in your client: {}",
                a.status, d.summary
            )
        };
        let at = FlagEnv {
            key: call.key.clone(),
            environment: call.env.clone(),
        };
        if let Ok(status) = self.run(move |app| app.canary_status(&at)).await {
            let status = status.0;
            out.outcome.version = status.version;
            let same = |r: &crate::app::types::RolloutView| {
                out.rollout.as_ref().is_some_and(|o| o.id == r.id)
            };
            if let Some(r) = status.rollout.filter(same) {
                out.rollout = Some(r);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_flat() {
        let schema = ElicitationSchema::from_type::<ConfirmForm>().unwrap();
        let json = serde_json::to_value(&schema).unwrap();
        assert_eq!(
            json["properties"]["decision"]["enum"],
            serde_json::json!(["approve", "reject"])
        );
        assert_eq!(json["required"], serde_json::json!(["decision"]));
    }
}
