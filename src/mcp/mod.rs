//! The MCP edge: one thin tool per use case. A tool extracts its typed input, calls one `App` method
//! on a blocking thread (SQLite is synchronous), and returns the typed answer as structured content.
//! Errors a model can act on come back in-band (`isError`) with the message that names the field or
//! rule and the way forward; protocol errors are left to rmcp. The only module that knows MCP.

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, tool, tool_handler, tool_router};

use crate::app::App;
use crate::app::types::*;
use crate::domain::policy::Actor;

#[derive(Clone)]
pub struct Server {
    app: Arc<App>,
    tool_router: ToolRouter<Server>,
}

const INSTRUCTIONS: &str = "flagwarden ships changes behind feature flags and rolls them out under a human-owned policy. \
Read get_policy first. Use dry_run to preview any change. When a tool says a human must approve or confirm, \
tell the user the approval id and the command; never try to work around a denial.";

type ToolResult<T> = Result<Json<T>, String>;

fn agent(ctx: &RequestContext<RoleServer>) -> Actor {
    let name = ctx.client_info().map(|i| i.name).filter(|n| !n.is_empty()).unwrap_or_else(|| "unknown-agent".into());
    Actor::Agent(name)
}

impl Server {
    pub fn new(app: Arc<App>) -> Server {
        Server { app, tool_router: Self::tool_router() }
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce(&App) -> crate::app::Result<T> + Send + 'static) -> ToolResult<T> {
        let app = self.app.clone();
        match tokio::task::spawn_blocking(move || f(&app)).await {
            Ok(Ok(v)) => Ok(Json(v)),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => {
                tracing::error!("tool task failed: {e}");
                Err("internal error: the request failed and changed nothing; retry, and report it if it persists".into())
            }
        }
    }
}

#[tool_router]
impl Server {
    #[tool(
        description = "List flags with their per-environment serving state. Filter by environment, change_type, status or a text query.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_flags(&self, Parameters(p): Parameters<ListFlags>) -> ToolResult<FlagList> {
        self.run(move |app| app.list_flags(&p)).await
    }

    #[tool(
        description = "One flag in full: variants, per-environment state and rules, active rollout, evaluation counts, code references, version.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_flag(&self, Parameters(p): Parameters<FlagRef>) -> ToolResult<FlagView> {
        self.run(move |app| app.get_flag(&p.key)).await
    }

    #[tool(
        description = "Evaluate a flag for a context exactly as an application would (OpenFeature value, variant, reason, error code, canary arm).",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn evaluate_flag(&self, Parameters(p): Parameters<EvaluateFlag>) -> ToolResult<Evaluation> {
        self.run(move |app| app.evaluate_flag(&p)).await
    }

    #[tool(
        description = "The policy bounds you work under, per environment, in plain words and as data. Read it before changing anything.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_policy(&self, Parameters(p): Parameters<PolicyQuery>) -> ToolResult<PolicyView> {
        self.run(move |app| app.get_policy(&p)).await
    }

    #[tool(
        description = "A rollout's state, step, gate verdict with evidence per arm, when the next advance is allowed, and what is missing.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn canary_status(&self, Parameters(p): Parameters<FlagEnv>) -> ToolResult<CanaryStatus> {
        self.run(move |app| app.canary_status(&p)).await
    }

    #[tool(
        description = "Flags that are debt: past their lifetime, launched to everyone for 7 days, or never evaluated; with evidence, the recommended action and code references.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_stale_flags(&self, Parameters(p): Parameters<ListStale>) -> ToolResult<StaleList> {
        self.run(move |app| app.list_stale_flags(&p)).await
    }

    #[tool(
        description = "Approval requests (pending by default): what waits for a human, why, and how a human decides.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_approvals(&self, Parameters(p): Parameters<ListApprovals>) -> ToolResult<ApprovalList> {
        self.run(move |app| app.list_approvals(&p)).await
    }

    #[tool(
        description = "The audit trail, newest first: who did what, the policy decision and rule, and the stated reason.",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn audit_log(&self, Parameters(p): Parameters<AuditQuery>) -> ToolResult<AuditLog> {
        self.run(move |app| app.audit_log(&p)).await
    }

    #[tool(
        description = "Create a flag, off in every environment. Boolean on/off unless you give variants.",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn create_flag(&self, Parameters(p): Parameters<CreateFlag>, ctx: RequestContext<RoleServer>) -> ToolResult<FlagOutput> {
        let actor = agent(&ctx);
        self.run(move |app| app.create_flag(&actor, &p)).await
    }

    #[tool(
        description = "Put a code change behind a flag: creates the flag if needed and returns the OpenFeature setup for the language, the guard (new path behind the flag, old path as fallback), a diff when given a file range, and how to test both paths.",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn wrap_change(&self, Parameters(p): Parameters<WrapChange>, ctx: RequestContext<RoleServer>) -> ToolResult<WrapOutput> {
        let actor = agent(&ctx);
        self.run(move |app| app.wrap_change(&actor, &p)).await
    }

    #[tool(
        description = "Replace a flag's targeting in one environment (ordered rules, first match serves) and turn it on or off.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn set_targeting(&self, Parameters(p): Parameters<SetTargeting>, ctx: RequestContext<RoleServer>) -> ToolResult<FlagOutput> {
        let actor = agent(&ctx);
        self.run(move |app| app.set_targeting(&actor, &p)).await
    }

    #[tool(
        description = "Start a canary rollout of a candidate variant at the first step, or an approval request where policy reserves the start for a human.",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn start_canary(&self, Parameters(p): Parameters<StartCanary>, ctx: RequestContext<RoleServer>) -> ToolResult<CanaryOutput> {
        let actor = agent(&ctx);
        self.run(move |app| app.start_canary(&actor, &p)).await
    }

    #[tool(
        description = "Ask the gate and the policy to move a rollout to its next step. PROMOTE and allowed: advances. HOLD: no change, with reasons. ROLLBACK: proposes a rollback. Human-gated step: an approval request.",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn advance_canary(&self, Parameters(p): Parameters<AdvanceCanary>, ctx: RequestContext<RoleServer>) -> ToolResult<CanaryOutput> {
        let actor = agent(&ctx);
        self.run(move |app| app.advance_canary(&actor, &p)).await
    }

    #[tool(
        description = "Report evidence for a running rollout's canary or control arm (requests, errors, task and safety outcomes), e.g. from an eval suite.",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn record_signals(&self, Parameters(p): Parameters<RecordSignals>, ctx: RequestContext<RoleServer>) -> ToolResult<SignalsOutput> {
        let actor = agent(&ctx);
        self.run(move |app| app.record_signals(&actor, &p)).await
    }

    #[tool(
        description = "Roll a flag back to its last-known-good variant in one environment. Where policy lets agents roll back it happens at once; otherwise it proposes and a human confirms. Never blocked by a freeze.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = false)
    )]
    async fn rollback(&self, Parameters(p): Parameters<RollbackFlag>, ctx: RequestContext<RoleServer>) -> ToolResult<CanaryOutput> {
        let actor = agent(&ctx);
        self.run(move |app| app.rollback(&actor, &p)).await
    }

    #[tool(
        description = "Retire a flag: marks it for removal and returns the code references to edit so only keep_variant's path stays.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn cleanup_flag(&self, Parameters(p): Parameters<CleanupFlag>, ctx: RequestContext<RoleServer>) -> ToolResult<CleanupOutput> {
        let actor = agent(&ctx);
        self.run(move |app| app.cleanup_flag(&actor, &p)).await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("flagwarden", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}
