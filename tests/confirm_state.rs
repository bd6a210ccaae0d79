//! Confirming in the agent's client, at the MCP edge in-process: the `Server` over a duplex pipe to
//! rmcp's client, an in-memory store and a controlled clock. The request state a 2026-07-28 client
//! echoes back is untrusted: a tampered one, one replayed against other arguments, another tool or
//! by another client, and an expired one are refused in-band and change nothing; a good one decides
//! the approval the first round opened without running the tool's mutation again. What an answer
//! decides is the policy's `confirm_in_client` level: a decline or cancel never decides, an approve
//! that widens exposure counts only under `all`, and every answer that decides nothing is recorded.

mod common;

use std::sync::{Arc, Mutex};

use common::world::{self, Clock};
use flagwarden::app::App;
use flagwarden::app::types::*;
use flagwarden::domain::policy::Actor;
use flagwarden::mcp::{ANSWER_WITHIN, Server, StateSeal};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientConfig, ElicitRequestParams,
    ElicitResult, ElicitationAction, Implementation, InitializeRequestParams, InitializeResult,
    InputRequiredResult, InputResponses, ProtocolVersion, RequestStateCodec, ServerCapabilities,
};
use rmcp::service::{RequestContext, RunningService, serve_directly};
use rmcp::{ClientHandler, ErrorData, RoleClient, RoleServer};
use serde_json::{Value, json};

/// Production behind the shared production gate (`confirm_in_client` unset: `reduce_only`, and a
/// human approves each step above 5 %), a gated environment that asks at every step and trusts every
/// answer (`all`), and one where the client is never asked (`none`).
const POLICY: &str = concat!(
    r#"
version = 1
[environments.production]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
steps = [5, 25, 50, 100]
max_auto_percent = 5
agent_rollback = "propose"
"#,
    include_str!("data/policies/production_gate.toml"),
    r#"[environments.gated]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
steps = [5, 50, 100]
max_auto_percent = 5
max_step_increase = 50
requires_start_approval = true
confirm_in_client = "all"
[environments.gated.gate]
min_samples = 100
fresh_within = "24h"
[environments.gated.gate.metrics.error_rate]
margin = 0.1
[environments.locked]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
agent_rollback = "propose"
confirm_in_client = "none"
"#
);

/// A client whose person answers every question the same way, and remembers what was asked.
#[derive(Clone)]
struct Person {
    name: &'static str,
    answer: Option<ElicitResult>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Person {
    fn new(name: &'static str, answer: Option<ElicitResult>) -> Person {
        Person {
            name,
            answer,
            asked: Arc::default(),
        }
    }
}

impl ClientHandler for Person {
    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let ElicitRequestParams::FormElicitationParams { message, .. } = request else {
            panic!("expected a form")
        };
        self.asked.lock().unwrap().push(message);
        Ok(self.answer.clone().expect("this person is never asked"))
    }

    fn get_info(&self) -> ClientConfig {
        let caps = if self.answer.is_some() {
            ClientCapabilities::builder().enable_elicitation().build()
        } else {
            ClientCapabilities::default()
        };
        ClientConfig::new(caps, Implementation::new(self.name, "1.0"))
    }
}

fn approve(reason: &str) -> ElicitResult {
    ElicitResult::new(ElicitationAction::Accept)
        .with_content(json!({"decision": "approve", "reason": reason}))
}

struct World {
    app: Arc<App>,
    seal: Arc<StateSeal>,
    clock: Clock,
}

impl World {
    fn new() -> World {
        let clock = Clock::new();
        let app = world::app(POLICY, &clock);
        let w = World {
            app: Arc::new(app),
            seal: Arc::new(StateSeal::random().unwrap()),
            clock,
        };
        let agent = Actor::Agent("setup".into());
        let create: CreateFlag = serde_json::from_value(
            json!({"key": "f", "description": "d", "change_type": "code", "reason": "r"}),
        )
        .unwrap();
        w.app.create_flag(&agent, &create).unwrap();
        for env in ["production", "locked"] {
            let start: StartCanary = serde_json::from_value(
                json!({"key": "f", "environment": env, "candidate_variant": "on", "reason": "r"}),
            )
            .unwrap();
            w.app.start_canary(&agent, &start).unwrap();
        }
        w
    }

    /// A client speaking `version`, connected to a new `Server` on this world's App and key.
    fn connect(
        &self,
        person: Person,
        version: ProtocolVersion,
    ) -> RunningService<RoleClient, Person> {
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let server = Server::new(self.app.clone(), self.seal.clone());
        let info = person.get_info();
        let client_as_peer = InitializeRequestParams::new(info.capabilities, info.client_info)
            .with_protocol_version(version.clone());
        tokio::spawn(async move {
            let running =
                serve_directly::<RoleServer, _, _, _, _>(server, server_io, Some(client_as_peer));
            let _ = running.waiting().await;
        });
        let mut server_as_peer =
            InitializeResult::new(ServerCapabilities::builder().enable_tools().build());
        server_as_peer.protocol_version = version;
        serve_directly::<RoleClient, _, _, _, _>(person, client_io, Some(server_as_peer.into()))
    }

    fn wait(&self, secs: i64) {
        self.clock.advance(secs);
    }

    /// Everything a refused retry must leave as it was: the audit trail, the approvals, the flag.
    fn fingerprint(&self) -> Value {
        let audit = self
            .app
            .audit_log(&AuditQuery {
                limit: Some(500),
                ..AuditQuery::default()
            })
            .unwrap();
        let approvals = self
            .app
            .list_approvals(&ListApprovals {
                status: Some("all".into()),
            })
            .unwrap();
        let flag = self.app.get_flag("f").unwrap();
        // A refused retry may record its outcome (a conflict) and nothing else.
        let decided = audit
            .events
            .iter()
            .filter(|e| e.decision != "conflict")
            .count();
        json!({"audit": decided, "approvals": approvals.approvals, "flag": flag})
    }

    fn approval(&self, id: i64) -> flagwarden::domain::approval::Approval {
        self.app
            .list_approvals(&ListApprovals {
                status: Some("all".into()),
            })
            .unwrap()
            .approvals
            .into_iter()
            .find(|a| a.id == id)
            .unwrap()
    }
}

fn rollback_args(env: &str, reason: &str) -> serde_json::Map<String, Value> {
    json!({"key": "f", "environment": env, "reason": reason})
        .as_object()
        .unwrap()
        .clone()
}

fn call(tool: &'static str, args: serde_json::Map<String, Value>) -> CallToolRequestParams {
    CallToolRequestParams::new(tool).with_arguments(args)
}

/// The structured answer, or the in-band error text.
fn complete(r: CallToolResponse) -> Result<Value, String> {
    let CallToolResponse::Complete(r) = r else {
        panic!("expected a complete result, got {r:?}")
    };
    if r.is_error == Some(true) {
        return Err(r.content[0].as_text().unwrap().text.clone());
    }
    Ok(r.structured_content.unwrap())
}

fn input_required(r: CallToolResponse) -> InputRequiredResult {
    match r {
        CallToolResponse::InputRequired(r) => r,
        other => panic!("expected input_required, got {other:?}"),
    }
}

fn answers(result: &ElicitResult) -> InputResponses {
    let mut a = InputResponses::new();
    a.insert("confirm".into(), serde_json::to_value(result).unwrap());
    a
}

/// The first round of a rollback proposal from a 2026-07-28 client: the approval it opened and the
/// sealed state.
async fn propose(client: &RunningService<RoleClient, Person>, w: &World) -> (i64, String) {
    let first = input_required(
        client
            .call_tool_once(call("rollback", rollback_args("production", "errors up")))
            .await
            .unwrap(),
    );
    let question = &first.input_requests.as_ref().unwrap()["confirm"];
    let q = serde_json::to_value(question).unwrap();
    assert_eq!(q["method"], "elicitation/create", "{q}");
    assert_eq!(
        q["params"]["requestedSchema"]["properties"]["decision"]["enum"],
        json!(["approve", "reject"])
    );
    let pending = w
        .app
        .list_approvals(&ListApprovals::default())
        .unwrap()
        .approvals;
    assert_eq!(pending.len(), 1, "the first round opens the proposal");
    (pending[0].id, first.request_state.unwrap())
}

async fn retry(
    client: &RunningService<RoleClient, Person>,
    tool: &'static str,
    args: serde_json::Map<String, Value>,
    state: &str,
    answer: &ElicitResult,
) -> Result<Value, String> {
    let params = call(tool, args)
        .with_request_state(state)
        .with_input_responses(answers(answer));
    complete(client.call_tool_once(params).await.unwrap())
}

fn modern(name: &'static str) -> Person {
    Person::new(name, Some(approve("seen it")))
}

#[tokio::test]
async fn a_good_state_decides_the_approval_without_running_the_tool_again() {
    let w = World::new();
    let client = w.connect(modern("agent-a"), ProtocolVersion::V_2026_07_28);
    let (id, state) = propose(&client, &w).await;
    let events = w.fingerprint()["audit"].clone();

    let out = retry(
        &client,
        "rollback",
        rollback_args("production", "errors up"),
        &state,
        &approve("seen it"),
    )
    .await
    .unwrap();
    assert_eq!(out["approval_id"], id);
    assert_eq!(out["rollout"]["state"], "ROLLED_BACK", "{out}");
    assert!(
        out["summary"]
            .as_str()
            .unwrap()
            .contains("approved in your client"),
        "{out}"
    );
    let a = w.approval(id);
    assert_eq!(
        (a.status.as_str(), a.decided_via.as_deref()),
        ("approved", Some("elicitation"))
    );
    assert_eq!(a.decided_by.as_deref(), Some("person at agent-a's client"));
    let log = w.app.audit_events(None, None, 10).unwrap();
    assert_eq!(
        w.fingerprint()["audit"].as_u64(),
        events.as_u64().map(|n| n + 1),
        "only the approval is recorded"
    );
    let last = &log[0];
    assert_eq!(
        (last.action.as_str(), last.actor_kind.as_str()),
        ("approve", "human")
    );
    let args = serde_json::from_str::<Value>(&last.args).unwrap();
    assert_eq!(
        (&args["via"], &args["client"], &args["answer"]),
        (
            &json!("elicitation"),
            &json!({"name": "agent-a", "version": "1.0"}),
            &json!("approve")
        ),
        "{args}"
    );

    // The same state again: the approval is decided, so the answer is not applied twice.
    let before = w.fingerprint();
    let again = retry(
        &client,
        "rollback",
        rollback_args("production", "errors up"),
        &state,
        &approve("again"),
    )
    .await
    .unwrap();
    assert!(
        again["summary"].as_str().unwrap().contains("not applied"),
        "{again}"
    );
    assert_eq!(w.fingerprint(), before);
}

#[tokio::test]
async fn a_tampered_state_is_refused_and_changes_nothing() {
    let w = World::new();
    let client = w.connect(modern("agent-a"), ProtocolVersion::V_2026_07_28);
    let (id, state) = propose(&client, &w).await;
    let before = w.fingerprint();

    // Flip one character of the payload, of the tag, and forge a state of our own.
    let mut tampered = Vec::new();
    for at in [state.len() / 2, state.len() - 3] {
        let mut bytes = state.clone().into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        tampered.push(String::from_utf8(bytes).unwrap());
    }
    let forger = RequestStateCodec::try_new([7u8; 32].to_vec()).unwrap();
    let forged = json!({"approval_id": id, "expires_at": i64::MAX, "output": {}});
    tampered.push(forger.seal_json(&forged).unwrap());
    for bad in &tampered {
        let err = retry(
            &client,
            "rollback",
            rollback_args("production", "errors up"),
            bad,
            &approve("x"),
        )
        .await
        .unwrap_err();
        assert!(
            err.contains("cannot be used") && err.contains("nothing changed"),
            "{err}"
        );
        assert!(
            err.contains("flagwarden approve"),
            "says how to proceed: {err}"
        );
    }
    assert_eq!(w.fingerprint(), before);
    assert_eq!(w.approval(id).status, "pending");
}

#[tokio::test]
async fn a_state_is_bound_to_its_arguments_tool_and_client() {
    let w = World::new();
    let client = w.connect(modern("agent-a"), ProtocolVersion::V_2026_07_28);
    let (id, state) = propose(&client, &w).await;
    let before = w.fingerprint();

    // Other arguments (a different reason), and the same arguments sent to another tool.
    let other_args = retry(
        &client,
        "rollback",
        rollback_args("production", "something else"),
        &state,
        &approve("x"),
    )
    .await;
    let other_tool = retry(
        &client,
        "advance_canary",
        rollback_args("production", "errors up"),
        &state,
        &approve("x"),
    )
    .await;
    // Another client replaying the first one's state with the same arguments.
    let other = w.connect(modern("agent-b"), ProtocolVersion::V_2026_07_28);
    let other_client = retry(
        &other,
        "rollback",
        rollback_args("production", "errors up"),
        &state,
        &approve("x"),
    )
    .await;
    for (case, r) in [
        ("arguments", other_args),
        ("tool", other_tool),
        ("client", other_client),
    ] {
        let err = r.expect_err(case);
        assert!(err.contains("nothing changed"), "{case}: {err}");
    }
    assert_eq!(w.fingerprint(), before);
    assert_eq!(w.approval(id).status, "pending");
}

#[tokio::test]
async fn an_expired_state_is_refused_and_changes_nothing() {
    let w = World::new();
    let client = w.connect(modern("agent-a"), ProtocolVersion::V_2026_07_28);
    let (id, state) = propose(&client, &w).await;
    w.wait(ANSWER_WITHIN.as_secs() as i64 + 1);
    let before = w.fingerprint();
    let err = retry(
        &client,
        "rollback",
        rollback_args("production", "errors up"),
        &state,
        &approve("late"),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("expired") && err.contains("nothing changed"),
        "{err}"
    );
    assert!(err.contains(&format!("flagwarden approve {id}")), "{err}");
    assert_eq!(w.fingerprint(), before);
    assert_eq!(w.approval(id).status, "pending");
}

/// The in-client answers recorded for one approval that decided nothing: (actor, answer, rule).
fn refused_answers(w: &World, id: i64) -> Vec<(String, String, Option<String>)> {
    w.app
        .audit_events(None, None, 500)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "answer_in_client" && e.approval_id == Some(id))
        .map(|e| {
            assert_eq!(e.decision, "deny", "{e:?}");
            let args: Value = serde_json::from_str(&e.args).unwrap();
            assert_eq!(args["via"], "elicitation", "{args}");
            let client = format!(
                "{} {}",
                args["client"]["name"].as_str().unwrap(),
                args["client"]["version"].as_str().unwrap()
            );
            assert_eq!(
                e.actor,
                client.split(' ').next().unwrap(),
                "the client's own agent"
            );
            (client, args["answer"].as_str().unwrap().to_owned(), e.rule)
        })
        .collect()
}

#[tokio::test]
async fn an_automatic_decline_or_cancel_leaves_the_approval_pending_and_is_recorded() {
    // Rule change (issue 13): a decline used to reject the proposal; codex answers it by itself.
    for (answer, said) in [
        (ElicitationAction::Decline, "decline"),
        (ElicitationAction::Cancel, "cancel"),
    ] {
        let w = World::new();
        let person = Person::new("agent-old", Some(ElicitResult::new(answer)));
        let asked = person.asked.clone();
        let client = w.connect(person, ProtocolVersion::V_2025_11_25);
        let out = complete(
            client
                .call_tool_once(call("rollback", rollback_args("production", "errors up")))
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            asked.lock().unwrap().len(),
            1,
            "legacy clients are asked with elicitation/create"
        );
        let id = out["approval_id"].as_i64().unwrap();
        assert_eq!(out["rollout"]["state"], "ROLLBACK_PENDING", "{out}");
        let summary = out["summary"].as_str().unwrap();
        assert!(
            summary.contains("decided nothing")
                && summary.contains(&format!("flagwarden approve {id}")),
            "{summary}"
        );
        let a = w.approval(id);
        assert_eq!(
            (a.status.as_str(), a.decided_via.as_deref()),
            ("pending", None)
        );
        assert_eq!(
            refused_answers(&w, id),
            [(
                "agent-old 1.0".to_owned(),
                said.to_owned(),
                Some("production.confirm_in_client".to_owned())
            )]
        );
        let seen = w.app.client_answers_without_effect().unwrap();
        assert_eq!(
            seen.iter().map(|c| c.line()).collect::<Vec<_>>(),
            [format!("client agent-old 1.0 answered {said}: no effect")]
        );
    }
    // The same from a 2026-07-28 client, through the retry.
    let w = World::new();
    let client = w.connect(modern("agent-a"), ProtocolVersion::V_2026_07_28);
    let (id, state) = propose(&client, &w).await;
    let out = retry(
        &client,
        "rollback",
        rollback_args("production", "errors up"),
        &state,
        &ElicitResult::new(ElicitationAction::Decline),
    )
    .await
    .unwrap();
    assert_eq!(out["rollout"]["state"], "ROLLBACK_PENDING", "{out}");
    assert_eq!(w.approval(id).status, "pending");
    assert_eq!(refused_answers(&w, id).len(), 1);
}

#[tokio::test]
async fn a_client_that_approves_a_widening_under_reduce_only_is_refused_and_recorded() {
    let w = World::new();
    for arm in ["canary", "control"] {
        let signals: RecordSignals = serde_json::from_value(
            json!({"key": "f", "environment": "production", "arm": arm, "requests": 200, "errors": 0}),
        )
        .unwrap();
        w.app
            .record_signals(&Actor::Agent("setup".into()), &signals)
            .unwrap();
    }
    let person = Person::new("eager", Some(approve("looks fine to me")));
    let asked = person.asked.clone();
    let client = w.connect(person, ProtocolVersion::V_2025_11_25);
    let out = complete(
        client
            .call_tool_once(call("advance_canary", rollback_args("production", "next")))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(out["decision"]["result"], "needs_approval", "{out}");
    assert_eq!(asked.lock().unwrap().len(), 1);
    let id = out["approval_id"].as_i64().unwrap();
    assert_eq!(out["rollout"]["percent"].as_f64(), Some(5.0), "{out}");
    let summary = out["summary"].as_str().unwrap();
    assert!(
        summary.contains("production.confirm_in_client")
            && summary.contains("reduce_only")
            && summary.contains(&format!("flagwarden approve {id}")),
        "{summary}"
    );
    assert_eq!(w.approval(id).status, "pending");
    assert_eq!(
        refused_answers(&w, id),
        [(
            "eager 1.0".to_owned(),
            "approve".to_owned(),
            Some("production.confirm_in_client".to_owned())
        )]
    );
    let status = w
        .app
        .canary_status(&FlagEnv {
            key: "f".into(),
            environment: "production".into(),
        })
        .unwrap();
    assert_eq!(
        status.rollout.unwrap().percent,
        5.0,
        "exposure did not widen"
    );
}

#[tokio::test]
async fn under_all_a_reject_in_the_client_counts() {
    let w = World::new();
    let start: StartCanary = serde_json::from_value(
        json!({"key": "f", "environment": "gated", "candidate_variant": "on", "reason": "r"}),
    )
    .unwrap();
    // A rollout in gated to propose rolling back (its start waits for a human; that is not asked here).
    w.app
        .start_canary(&Actor::Agent("setup".into()), &start)
        .unwrap();
    let rejects = Person::new(
        "agent-r",
        Some(
            ElicitResult::new(ElicitationAction::Accept)
                .with_content(json!({"decision": "reject", "reason": "not today"})),
        ),
    );
    // A reject under reduce_only (production) decides nothing; under all (gated) it counts.
    let client = w.connect(rejects, ProtocolVersion::V_2025_11_25);
    let out = complete(
        client
            .call_tool_once(call("rollback", rollback_args("production", "errors up")))
            .await
            .unwrap(),
    )
    .unwrap();
    let id = out["approval_id"].as_i64().unwrap();
    assert_eq!(w.approval(id).status, "pending", "{out}");
    assert_eq!(refused_answers(&w, id)[0].1, "reject");
    let out = complete(
        client
            .call_tool_once(call("rollback", rollback_args("gated", "errors up")))
            .await
            .unwrap(),
    )
    .unwrap();
    let id = out["approval_id"].as_i64().unwrap();
    let a = w.approval(id);
    assert_eq!(
        (
            a.status.as_str(),
            a.decided_via.as_deref(),
            a.decided_by.as_deref()
        ),
        (
            "rejected",
            Some("elicitation"),
            Some("person at agent-r's client")
        ),
        "{out}"
    );
    assert_eq!(a.decision_reason.as_deref(), Some("not today"));
    assert!(refused_answers(&w, id).is_empty());
}

#[tokio::test]
async fn nobody_is_asked_where_policy_or_client_cannot() {
    let w = World::new();
    // confirm_in_client = "none": a capable client is not asked; the proposal waits.
    let capable = w.connect(modern("agent-a"), ProtocolVersion::V_2026_07_28);
    let out = complete(
        capable
            .call_tool_once(call("rollback", rollback_args("locked", "errors up")))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(out["rollout"]["state"], "ROLLBACK_PENDING", "{out}");
    assert!(
        out["summary"]
            .as_str()
            .unwrap()
            .contains("flagwarden approve"),
        "{out}"
    );
    // A client without elicitation: the proposal waits, and the answer says how a human confirms.
    let unable = Person::new("agent-c", None);
    for version in [ProtocolVersion::V_2026_07_28, ProtocolVersion::V_2025_11_25] {
        let w = World::new();
        let client = w.connect(unable.clone(), version);
        let out = complete(
            client
                .call_tool_once(call("rollback", rollback_args("production", "errors up")))
                .await
                .unwrap(),
        )
        .unwrap();
        let id = out["approval_id"].as_i64().unwrap();
        assert_eq!(w.approval(id).status, "pending");
        assert!(
            out["summary"]
                .as_str()
                .unwrap()
                .contains(&format!("flagwarden approve {id}")),
            "{out}"
        );
    }
}

#[tokio::test]
async fn human_gated_starts_and_steps_are_confirmed_in_the_client() {
    let w = World::new();
    let person = modern("agent-a");
    let asked = person.asked.clone();
    let client = w.connect(person, ProtocolVersion::V_2026_07_28);
    let gated = |extra: Value| {
        let mut args = json!({"key": "f", "environment": "gated", "reason": "ship it"});
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        args.as_object().unwrap().clone()
    };
    // rmcp's client answers the input request through the person and retries with the state.
    let start = client
        .call_tool(call(
            "start_canary",
            gated(json!({"candidate_variant": "on"})),
        ))
        .await
        .unwrap();
    let start = start.structured_content.unwrap();
    assert_eq!(start["decision"]["result"], "needs_approval", "{start}");
    assert_eq!(
        (
            start["rollout"]["state"].as_str(),
            start["rollout"]["percent"].as_f64()
        ),
        (Some("RUNNING"), Some(5.0)),
        "{start}"
    );
    for arm in ["canary", "control"] {
        let signals: RecordSignals = serde_json::from_value(
            json!({"key": "f", "environment": "gated", "arm": arm, "requests": 200, "errors": 0}),
        )
        .unwrap();
        w.app
            .record_signals(&Actor::Agent("setup".into()), &signals)
            .unwrap();
    }
    let step = client
        .call_tool(call("advance_canary", gated(json!({}))))
        .await
        .unwrap();
    let step = step
        .structured_content
        .clone()
        .unwrap_or_else(|| panic!("{step:?}"));
    assert_eq!(step["decision"]["result"], "needs_approval", "{step}");
    assert_eq!(
        (
            step["rollout"]["state"].as_str(),
            step["rollout"]["percent"].as_f64()
        ),
        (Some("RUNNING"), Some(50.0)),
        "{step}"
    );
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(
        asked[0].starts_with("Start the canary of f in gated at 5%?"),
        "{}",
        asked[0]
    );
    assert!(
        asked[1].starts_with("Let the canary of f in gated go to 50%?"),
        "{}",
        asked[1]
    );
    for id in [
        start["approval_id"].as_i64().unwrap(),
        step["approval_id"].as_i64().unwrap(),
    ] {
        assert_eq!(w.approval(id).decided_via.as_deref(), Some("elicitation"));
    }
}

#[tokio::test]
async fn a_gate_proposal_that_waits_says_how_a_human_decides_it() {
    let w = World::new();
    // Clearly worse than the control, though under the breaker: the gate proposes at the advance.
    for (arm, errors) in [("canary", 45), ("control", 10)] {
        let signals: RecordSignals = serde_json::from_value(
            json!({"key": "f", "environment": "production", "arm": arm, "requests": 1000, "errors": errors}),
        )
        .unwrap();
        w.app
            .record_signals(&Actor::Agent("setup".into()), &signals)
            .unwrap();
    }
    let client = w.connect(Person::new("agent-c", None), ProtocolVersion::V_2026_07_28);
    let out = complete(
        client
            .call_tool_once(call("advance_canary", rollback_args("production", "next")))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(out["gate"]["verdict"], "ROLLBACK", "{out}");
    assert_eq!(out["rollout"]["state"], "ROLLBACK_PENDING", "{out}");
    let id = out["approval_id"].as_i64().unwrap();
    assert!(
        out["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("flagwarden approve {id}")),
        "{out}"
    );
}
