//! The MCP edge: one thin tool per use case. A tool extracts its typed input, calls one `App` method
//! on a blocking thread (SQLite is synchronous), and returns the typed answer as structured content.
//! Errors a model can act on come back in-band (`isError`) with the message that names the field or
//! rule and the way forward, as text and as structured content (`refusal.rs`); protocol errors are
//! left to rmcp. Resources (`resources.rs`) show a flag, a rollout and the policy as JSON, and
//! `watch.rs` tells subscribers when they change (both protocol eras) and lets `canary_status` wait
//! for a change. The only module that knows MCP.

mod args;
mod confirm;
mod prompts;
mod refusal;
mod resources;
mod schema;
mod watch;

use std::sync::Arc;

use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::{InputResponses, RequestState, schema_for_output};
use rmcp::handler::server::wrapper::Json;
use rmcp::model::{
    CallToolResponse, Implementation, ListResourceTemplatesResult, ListResourcesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities,
    ServerConfig, SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{RoleServer, ServerHandler, prompt_handler, tool, tool_handler, tool_router};

use crate::app::App;
use crate::app::types::*;
use crate::domain::policy::Actor;
use args::Parameters;
use confirm::Call;
pub use confirm::{ANSWER_WITHIN, StateSeal};
use refusal::Refused;

#[derive(Clone)]
pub struct Server {
    app: Arc<App>,
    /// Seals the request state of in-client confirmations; one per process, shared by all sessions.
    seal: Arc<StateSeal>,
    /// This session's resource subscriptions (2025-era); dropped with the session.
    subscriptions: Arc<watch::Subscriptions>,
    tool_router: ToolRouter<Server>,
    prompt_router: PromptRouter<Server>,
}

const INSTRUCTIONS: &str = "flagwarden ships changes behind feature flags and rolls them out under a human-owned policy. \
Read get_policy first. Use dry_run to preview any change. When a tool says a human must approve or confirm, \
tell the user the approval id and the command; never try to work around a denial.";

/// The agent behind a call: over HTTP with tokens, the token's name (a client names itself, so its
/// clientInfo cannot be trusted there); otherwise the client's own name.
fn agent(ctx: &RequestContext<RoleServer>) -> Actor {
    let token_name = ctx
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<crate::app::Caller>())
        .filter(|p| p.role.is_some())
        .map(|p| p.name.clone());
    if let Some(name) = token_name {
        return Actor::Agent(name);
    }
    let name = ctx
        .client_info()
        .map(|i| i.name)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "unknown-agent".into());
    Actor::Agent(name)
}

impl Server {
    pub fn new(app: Arc<App>, seal: Arc<StateSeal>) -> Server {
        Server {
            app,
            seal,
            subscriptions: Arc::default(),
            tool_router: Self::compact_router(),
            prompt_router: Self::prompt_router(),
        }
    }

    fn compact_router() -> ToolRouter<Server> {
        let mut tool_router = Self::tool_router();
        for route in tool_router.map.values_mut() {
            route.attr.input_schema = schema::compact_input(&route.attr.input_schema);
            route.attr.output_schema = route
                .attr
                .output_schema
                .as_deref()
                .map(schema::compact_output);
        }
        tool_router
    }

    /// Exactly what tools/list returns, sorted by name: `flagwarden schema` writes it to tools-schema/.
    pub fn tool_list() -> Vec<rmcp::model::Tool> {
        let mut tools = Self::compact_router().list_all();
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        tools
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&App) -> crate::app::Result<T> + Send + 'static,
    ) -> Result<Json<T>, Refused> {
        let app = self.app.clone();
        // The tool call's trace context goes along, so its policy decision is the call's child.
        let cx = crate::telemetry_out::carry();
        match tokio::task::spawn_blocking(move || {
            let _in_call = cx.map(|cx| cx.attach());
            f(&app)
        })
        .await
        {
            Ok(Ok(v)) => Ok(Json(v)),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => {
                tracing::error!("tool task failed: {e}");
                Err(Refused::internal(
                    "internal error: the request failed and changed nothing; retry, and report it if it persists",
                ))
            }
        }
    }
}

#[tool_router]
impl Server {
    #[tool(
        description = "Flags and who gets what where; filter by environment, change_type, status, text.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_flags(
        &self,
        Parameters(p): Parameters<ListFlags>,
    ) -> Result<Json<FlagList>, Refused> {
        self.run(move |app| app.list_flags(&p)).await
    }

    #[tool(
        description = "One flag in full: variants, rules, rollouts, counts, code refs, versions.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_flag(
        &self,
        Parameters(p): Parameters<FlagRef>,
    ) -> Result<Json<FlagView>, Refused> {
        self.run(move |app| app.get_flag(&p.key)).await
    }

    #[tool(
        description = "Evaluate as an app would: value, variant, reason, error, arm.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn evaluate_flag(
        &self,
        Parameters(p): Parameters<EvaluateFlag>,
    ) -> Result<Json<Evaluation>, Refused> {
        self.run(move |app| app.evaluate_flag(&p)).await
    }

    #[tool(
        description = "Your policy bounds, in words and data. Read it first.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_policy(
        &self,
        Parameters(p): Parameters<PolicyQuery>,
    ) -> Result<Json<PolicyView>, Refused> {
        self.run(move |app| app.get_policy(&p)).await
    }

    #[tool(
        description = "Rollout state, verdict, evidence per arm, what is missing. wait_s (max 60) waits for a change after seq since.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn canary_status(
        &self,
        Parameters(p): Parameters<CanaryQuery>,
    ) -> Result<Json<CanaryStatus>, Refused> {
        watch::canary_status(&self.app, p).await.map(Json)
    }

    #[tool(
        description = "Flags that are debt: why, variant to keep, next action, code refs.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_stale_flags(
        &self,
        Parameters(p): Parameters<ListStale>,
    ) -> Result<Json<StaleList>, Refused> {
        self.run(move |app| app.list_stale_flags(&p)).await
    }

    #[tool(
        description = "What waits for a human and why.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_approvals(
        &self,
        Parameters(p): Parameters<ListApprovals>,
    ) -> Result<Json<ApprovalList>, Refused> {
        self.run(move |app| app.list_approvals(&p)).await
    }

    #[tool(
        description = "Audit trail: who did what, the decision, rule and reason.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn audit_log(
        &self,
        Parameters(p): Parameters<AuditQuery>,
    ) -> Result<Json<AuditLog>, Refused> {
        self.run(move |app| app.audit_log(&p)).await
    }

    #[tool(
        description = "Create a flag, off everywhere; on/off unless variants given.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn create_flag(
        &self,
        Parameters(p): Parameters<CreateFlag>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<FlagOutput>, Refused> {
        let actor = agent(&ctx);
        self.run(move |app| app.create_flag(&actor, &p)).await
    }

    #[tool(
        description = "Put a change behind a flag (created if needed): OpenFeature setup, guard, diff, test plan.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn wrap_change(
        &self,
        Parameters(p): Parameters<WrapChange>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<WrapOutput>, Refused> {
        let actor = agent(&ctx);
        self.run(move |app| app.wrap_change(&actor, &p)).await
    }

    #[tool(
        description = "Replace a flag's rules in one environment (first match serves); on or off.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn set_targeting(
        &self,
        Parameters(p): Parameters<SetTargeting>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<FlagOutput>, Refused> {
        let actor = agent(&ctx);
        self.run(move |app| app.set_targeting(&actor, &p)).await
    }

    #[tool(
        description = "Start a rollout at its first step, or ask a human to start it.",
        output_schema = schema_for_output::<CanaryOutput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn start_canary(
        &self,
        Parameters(p): Parameters<StartCanary>,
        ctx: RequestContext<RoleServer>,
        RequestState(state): RequestState,
        InputResponses(answers): InputResponses,
    ) -> Result<CallToolResponse, Refused> {
        let call = Call::new("start_canary", &p.key, &p.environment, &p);
        self.confirmable(call, ctx, state, answers, move |app, actor| {
            app.start_canary(actor, &p)
        })
        .await
    }

    #[tool(
        description = "Next step per gate and policy: advance, hold (why), roll back or ask a human.",
        output_schema = schema_for_output::<CanaryOutput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn advance_canary(
        &self,
        Parameters(p): Parameters<AdvanceCanary>,
        ctx: RequestContext<RoleServer>,
        RequestState(state): RequestState,
        InputResponses(answers): InputResponses,
    ) -> Result<CallToolResponse, Refused> {
        let call = Call::new("advance_canary", &p.key, &p.environment, &p);
        self.confirmable(call, ctx, state, answers, move |app, actor| {
            app.advance_canary(actor, &p)
        })
        .await
    }

    #[tool(
        description = "Report a rollout arm's evidence.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn record_signals(
        &self,
        Parameters(p): Parameters<RecordSignals>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<SignalsOutput>, Refused> {
        let actor = agent(&ctx);
        self.run(move |app| app.record_signals(&actor, &p)).await
    }

    #[tool(
        description = "Back to last-known-good: now if policy allows, else proposed to a human. Freezes never block it.",
        output_schema = schema_for_output::<CanaryOutput>(),
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn rollback(
        &self,
        Parameters(p): Parameters<RollbackFlag>,
        ctx: RequestContext<RoleServer>,
        RequestState(state): RequestState,
        InputResponses(answers): InputResponses,
    ) -> Result<CallToolResponse, Refused> {
        let call = Call::new("rollback", &p.key, &p.environment, &p);
        self.confirmable(call, ctx, state, answers, move |app, actor| {
            app.rollback(actor, &p)
        })
        .await
    }

    #[tool(
        description = "Retire a flag: marks it for removal; each code ref's edit keeping keep_variant.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn cleanup_flag(
        &self,
        Parameters(p): Parameters<CleanupFlag>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<CleanupOutput>, Refused> {
        let actor = agent(&ctx);
        self.run(move |app| app.cleanup_flag(&actor, &p)).await
    }

    #[tool(
        description = "Add an immutable prompt/model version as a variant; the first creates the flag.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn add_version(
        &self,
        Parameters(p): Parameters<AddVersion>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<VersionOutput>, Refused> {
        let actor = agent(&ctx);
        self.run(move |app| app.add_version(&actor, &p)).await
    }
}

/// Runs a resource read on the blocking pool, like the tools.
async fn read_blocking<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&App) -> Result<T, rmcp::ErrorData> + Send + 'static,
) -> Result<T, rmcp::ErrorData> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || f(&app))
        .await
        .map_err(|e| {
            rmcp::ErrorData::internal_error(format!("the read failed: {e}; retry"), None)
        })?
}

#[tool_handler(router = self.tool_router)]
#[prompt_handler(router = self.prompt_router)]
#[allow(deprecated)] // resources/subscribe is the 2025 era's form, which those clients still speak
impl ServerHandler for Server {
    /// The router's answer, with every in-band error given its structured refusal.
    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, rmcp::ErrorData> {
        let span = crate::telemetry_out::tool_call(&request.name);
        let tcc = rmcp::handler::server::tool::ToolCallContext::new(self, request, context);
        let Some(span) = span else {
            return self.tool_router.call(tcc).await.map(refusal::structure);
        };
        use opentelemetry::context::FutureExt as _;
        let response = self
            .tool_router
            .call(tcc)
            .with_context(span.context())
            .await
            .map(refusal::structure);
        span.end(outcome(&response));
        response
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .enable_resources_subscribe()
                .build(),
        )
        .with_server_info(Implementation::new("flagwarden", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, rmcp::ErrorData> {
        read_blocking(&self.app, |app| {
            resources::list(app).map_err(|e| {
                tracing::error!("listing resources: {e}");
                rmcp::ErrorData::internal_error("listing resources failed; retry", None)
            })
        })
        .await
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, rmcp::ErrorData> {
        Ok(resources::templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, rmcp::ErrorData> {
        let uri = resources::Uri::parse(&request.uri)?;
        let raw = request.uri;
        read_blocking(&self.app, move |app| resources::read(app, &raw, &uri))
            .await
            .map(Into::into)
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), rmcp::ErrorData> {
        watch::resolve(&self.app, &request.uri).await?;
        self.subscriptions
            .subscribe(&self.app, request.uri, context.peer.clone())
            .await
            .map_err(|_| rmcp::ErrorData::internal_error("cannot follow changes now; retry", None))
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), rmcp::ErrorData> {
        resources::Uri::parse(&request.uri)?;
        self.subscriptions.unsubscribe(&request.uri);
        Ok(())
    }

    /// A listen gets the URIs it names that are flagwarden's (others are left out of the
    /// acknowledgment, which tells the client).
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let ours: Vec<String> = requested
            .resource_subscriptions
            .iter()
            .flatten()
            .filter(|u| resources::Uri::parse(u).is_ok())
            .cloned()
            .collect();
        Some(
            SubscriptionFilter::builder()
                .resource_subscriptions(ours)
                .build(),
        )
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), rmcp::ErrorData> {
        watch::listen(&self.app, context).await
    }
}

fn text(v: Option<&serde_json::Value>) -> Option<&str> {
    v.and_then(|v| v.as_str())
}

/// How a tool call ended, for its span: the refusal's kind and rule, or the decision the answer
/// names (`decision.result`, `decision.rule`).
fn outcome(
    response: &Result<CallToolResponse, rmcp::ErrorData>,
) -> crate::telemetry_out::ToolOutcome<'_> {
    use crate::telemetry_out::ToolOutcome;
    let result = match response {
        Ok(CallToolResponse::Complete(r)) => r,
        Ok(_) => {
            return ToolOutcome {
                outcome: "input_required",
                decision: Some("needs_approval"),
                rule: None,
            };
        }
        Err(_) => {
            return ToolOutcome {
                outcome: "protocol_error",
                decision: None,
                rule: None,
            };
        }
    };
    let content = result.structured_content.as_ref();
    if result.is_error == Some(true) {
        let kind = text(content.and_then(|c| c.get("kind"))).unwrap_or("refused");
        return ToolOutcome {
            outcome: kind,
            decision: (kind == "denied").then_some("deny"),
            rule: text(content.and_then(|c| c.get("rule"))),
        };
    }
    let decision = content.and_then(|c| c.get("decision"));
    ToolOutcome {
        outcome: "ok",
        decision: text(decision.and_then(|d| d.get("result"))),
        rule: text(decision.and_then(|d| d.get("rule"))),
    }
}
