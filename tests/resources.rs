//! MCP resources over stdio with rmcp's client (2025-11-25): `resources/list`, the templates,
//! `resources/read` of a flag, a rollout and the policy (the same JSON the tools give), bad URIs
//! refused with the URI and the forms that work, and `resources/subscribe` / `unsubscribe`: a
//! subscribed URI hears a change the CLI makes in another process, an unsubscribed one no longer does.
//! Over HTTP, a dropped standalone SSE stream resumed with `Last-Event-ID` replays the update sent
//! while it was away, then carries new ones live.

#![allow(deprecated)] // resources/subscribe is the 2025 era's form, which this client speaks

mod common;

use std::time::Duration;

use common::{Project, TEST_POLICY};
use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, ReadResourceRequestParams, ResourceContents,
    ResourceUpdatedNotificationParam, SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// How long a notification may take: the feed notices another process's commit within 200 ms.
const HEAR_WITHIN: Duration = Duration::from_secs(10);

/// rmcp's client, passing on the URI of every `notifications/resources/updated`.
#[derive(Clone)]
struct Listener(mpsc::UnboundedSender<String>);

impl ClientHandler for Listener {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("resources-test", "1.0"),
        )
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(params.uri);
    }
}

struct Agent {
    inner: RunningService<RoleClient, Listener>,
    updates: mpsc::UnboundedReceiver<String>,
}

async fn connect(p: &Project) -> Agent {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_flagwarden"));
    cmd.arg("--policy")
        .arg(p.policy())
        .arg("mcp")
        .env_remove("FLAGWARDEN_DB");
    let (tx, updates) = mpsc::unbounded_channel();
    let inner = Listener(tx)
        .serve(TokioChildProcess::new(cmd).expect("spawn flagwarden mcp"))
        .await
        .expect("initialize");
    Agent { inner, updates }
}

impl Agent {
    async fn tool(&self, name: &str, args: Value) -> Value {
        let Value::Object(map) = args else {
            panic!("arguments must be an object")
        };
        let r = self
            .inner
            .call_tool(rmcp::model::CallToolRequestParams::new(name.to_owned()).with_arguments(map))
            .await
            .expect("tools/call");
        assert_ne!(r.is_error, Some(true), "{name} failed: {:?}", r.content);
        r.structured_content.expect("structured content")
    }

    async fn read(&self, uri: &str) -> Result<Value, rmcp::ErrorData> {
        match self
            .inner
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
        {
            Ok(r) => match r.contents.as_slice() {
                [
                    ResourceContents::TextResourceContents {
                        uri: got,
                        mime_type,
                        text,
                        ..
                    },
                ] => {
                    assert_eq!(got, uri);
                    assert_eq!(mime_type.as_deref(), Some("application/json"));
                    Ok(serde_json::from_str(text).expect("JSON text"))
                }
                other => panic!("one text content expected, got {other:?}"),
            },
            Err(rmcp::ServiceError::McpError(e)) => Err(e),
            Err(e) => panic!("resources/read {uri}: {e}"),
        }
    }

    /// The next update, or a failure after `HEAR_WITHIN`.
    async fn next_update(&mut self) -> String {
        tokio::time::timeout(HEAR_WITHIN, self.updates.recv())
            .await
            .expect("a resource update in time")
            .expect("the client is alive")
    }
}

/// Creates `key` and starts its canary in development; returns the rollout id.
async fn rollout(a: &Agent, key: &str) -> i64 {
    a.tool(
        "create_flag",
        json!({"key": key, "description": "watched", "change_type": "code", "reason": "r"}),
    )
    .await;
    let started = a
        .tool(
            "start_canary",
            json!({"key": key, "environment": "development", "candidate_variant": "on", "reason": "r"}),
        )
        .await;
    started["rollout"]["id"].as_i64().expect("a rollout id")
}

#[tokio::test]
async fn resources_list_and_read_the_answers_the_tools_give() {
    let p = Project::new(TEST_POLICY);
    let a = connect(&p).await;
    let id = rollout(&a, "watched").await;

    let listed: Vec<String> = a
        .inner
        .list_all_resources()
        .await
        .expect("resources/list")
        .into_iter()
        .map(|r| r.uri.clone())
        .collect();
    for uri in [
        "flagwarden://policy".to_owned(),
        "flagwarden://flags/watched".to_owned(),
        format!("flagwarden://rollouts/{id}"),
    ] {
        assert!(listed.contains(&uri), "{uri} not in {listed:?}");
    }
    let templates: Vec<String> = a
        .inner
        .list_resource_templates(None)
        .await
        .expect("templates")
        .resource_templates
        .into_iter()
        .map(|t| t.uri_template.clone())
        .collect();
    assert_eq!(
        templates,
        ["flagwarden://flags/{key}", "flagwarden://rollouts/{id}"]
    );

    let flag = a.read("flagwarden://flags/watched").await.unwrap();
    assert_eq!(flag, a.tool("get_flag", json!({"key": "watched"})).await);
    let status = a
        .read(&format!("flagwarden://rollouts/{id}"))
        .await
        .unwrap();
    let tool = a
        .tool(
            "canary_status",
            json!({"key": "watched", "environment": "development"}),
        )
        .await;
    assert_eq!(status["rollout"], tool["rollout"]);
    assert_eq!(status["seq"], tool["seq"]);
    assert!(status["seq"].as_i64().unwrap() > 0);
    let policy = a.read("flagwarden://policy").await.unwrap();
    assert_eq!(policy, a.tool("get_policy", json!({})).await);

    // A finished rollout is still read by its id, though canary_status now shows a newer one.
    p.cli_ok(&["abort", &id.to_string(), "--yes", "--reason", "r"]);
    let newer = a
        .tool(
            "start_canary",
            json!({"key": "watched", "environment": "development", "candidate_variant": "on", "reason": "again"}),
        )
        .await;
    assert_ne!(newer["rollout"]["id"].as_i64(), Some(id));
    let old = a
        .read(&format!("flagwarden://rollouts/{id}"))
        .await
        .unwrap();
    assert_eq!(old["rollout"]["id"].as_i64(), Some(id));
    assert_eq!(old["rollout"]["state"], "ABORTED");
    a.inner.cancel().await.ok();
}

#[tokio::test]
async fn bad_uris_are_refused_naming_the_uri_and_the_forms_that_work() {
    let p = Project::new(TEST_POLICY);
    let a = connect(&p).await;
    a.tool(
        "create_flag",
        json!({"key": "exists", "description": "d", "change_type": "code", "reason": "r"}),
    )
    .await;
    let before = p.db_bytes();
    for uri in [
        "flagwarden://nope",
        "flag://development/exists",
        "flagwarden://rollouts/abc",
        "flagwarden://rollouts/-1",
        "flagwarden://flags/Not A Key!",
        "flagwarden://policy/extra",
    ] {
        let e = a.read(uri).await.expect_err(uri);
        assert_eq!(
            e.code,
            rmcp::model::ErrorCode::INVALID_PARAMS,
            "{uri}: {e:?}"
        );
        assert!(e.message.contains(uri), "{uri}: {}", e.message);
        assert!(
            e.message.contains("flagwarden://flags/{key}")
                && e.message.contains("flagwarden://rollouts/{id}"),
            "{uri}: the fix is missing: {}",
            e.message
        );
        let sub = a
            .inner
            .subscribe(SubscribeRequestParams::new(uri))
            .await
            .expect_err(uri);
        assert!(sub.to_string().contains(uri), "subscribe {uri}: {sub}");
    }
    for uri in ["flagwarden://flags/missing", "flagwarden://rollouts/99"] {
        let e = a.read(uri).await.expect_err(uri);
        assert!(e.message.contains(uri), "{uri}: {}", e.message);
        assert!(e.message.contains("does not exist"), "{uri}: {}", e.message);
        let sub = a
            .inner
            .subscribe(SubscribeRequestParams::new(uri))
            .await
            .expect_err(uri);
        assert!(
            sub.to_string().contains("does not exist"),
            "subscribe {uri}: {sub}"
        );
    }
    assert!(
        p.db_bytes() == before,
        "refused reads and subscribes changed the store"
    );
    a.inner.cancel().await.ok();
}

#[tokio::test]
async fn a_subscription_hears_another_process_and_unsubscribe_stops_it() {
    let p = Project::new(TEST_POLICY);
    let mut a = connect(&p).await;
    let id = rollout(&a, "watched").await;
    rollout(&a, "other").await;
    let (mine, theirs) = (
        format!("flagwarden://rollouts/{id}"),
        "flagwarden://flags/other",
    );
    a.inner
        .subscribe(SubscribeRequestParams::new(&mine))
        .await
        .unwrap();
    a.inner
        .subscribe(SubscribeRequestParams::new(theirs))
        .await
        .unwrap();

    // The CLI, another process on the same store, aborts the rollout.
    p.cli_ok(&["abort", &id.to_string(), "--yes", "--reason", "stop"]);
    assert_eq!(a.next_update().await, mine);
    assert_eq!(a.read(&mine).await.unwrap()["rollout"]["state"], "ABORTED");

    // This session's own change to the other flag is heard too.
    a.tool(
        "set_targeting",
        json!({"key": "other", "environment": "development", "rules": [], "enabled": true, "reason": "r"}),
    )
    .await;
    assert_eq!(a.next_update().await, theirs);

    // Unsubscribed, the other flag is silent: a change to it, then one to a URI still subscribed,
    // and only the second is heard (updates arrive in commit order).
    a.inner
        .unsubscribe(UnsubscribeRequestParams::new(theirs))
        .await
        .unwrap();
    a.inner
        .subscribe(SubscribeRequestParams::new("flagwarden://flags/watched"))
        .await
        .unwrap();
    p.cli_ok(&[
        "rollback",
        "other",
        "--env",
        "development",
        "--yes",
        "--reason",
        "r",
    ]);
    a.tool(
        "set_targeting",
        json!({"key": "watched", "environment": "development", "rules": [], "enabled": true, "reason": "r"}),
    )
    .await;
    assert_eq!(a.next_update().await, "flagwarden://flags/watched");
    assert!(
        a.updates.try_recv().is_err(),
        "an unsubscribed URI was updated"
    );
    // Unsubscribing what is not subscribed is fine; a bad URI is not.
    a.inner
        .unsubscribe(UnsubscribeRequestParams::new(theirs))
        .await
        .unwrap();
    let e = a
        .inner
        .unsubscribe(UnsubscribeRequestParams::new("flagwarden://nope"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("flagwarden://nope"), "{e}");
    a.inner.cancel().await.ok();
}

// ---- SSE resumption over HTTP (2025-11-25 sessions) ----------------------------------------

/// A raw 2025-11-25 session on `flagwarden serve`, to drop and resume its standalone SSE stream.
struct Session {
    http: reqwest::Client,
    url: String,
    id: String,
}

const ACCEPT: &str = "application/json, text/event-stream";

impl Session {
    async fn open(base: &str) -> Session {
        let http = reqwest::Client::new();
        let url = format!("{base}/mcp");
        let res = http
            .post(&url)
            .header("accept", ACCEPT)
            .json(
                &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "resume-test", "version": "1"}}}),
            )
            .send()
            .await
            .expect("initialize");
        assert!(res.status().is_success(), "{}", res.status());
        let id = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        let _ = res.text().await;
        let s = Session { http, url, id };
        s.post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        s
    }

    async fn post(&self, body: Value) -> String {
        let res = self
            .http
            .post(&self.url)
            .header("accept", ACCEPT)
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", "2025-11-25")
            .json(&body)
            .send()
            .await
            .expect("POST /mcp");
        assert!(res.status().is_success(), "{}", res.status());
        res.text().await.unwrap_or_default()
    }

    /// The session's standalone stream, resumed after `last` when given.
    async fn stream(&self, last: Option<&str>) -> Sse {
        let mut req = self
            .http
            .get(&self.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", "2025-11-25");
        if let Some(l) = last {
            req = req.header("last-event-id", l);
        }
        let res = req.send().await.expect("GET /mcp");
        assert!(res.status().is_success(), "{}", res.status());
        Sse {
            res,
            buf: String::new(),
        }
    }
}

struct Sse {
    res: reqwest::Response,
    buf: String,
}

impl Sse {
    /// The next event carrying a message: (id, the message).
    async fn next_message(&mut self) -> (String, Value) {
        tokio::time::timeout(HEAR_WITHIN, async {
            loop {
                while let Some(end) = self.buf.find("\n\n") {
                    let block: String = self.buf.drain(..end + 2).collect();
                    let field = |name: &str| {
                        block
                            .lines()
                            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
                    };
                    if let (Some(id), Some(data)) = (field("id:"), field("data:"))
                        && !data.is_empty()
                    {
                        return (id, serde_json::from_str(&data).expect("JSON data"));
                    }
                }
                let chunk = self
                    .res
                    .chunk()
                    .await
                    .expect("read SSE")
                    .expect("stream open");
                self.buf.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("an SSE message in time")
    }
}

fn updated_uri(message: &Value) -> &str {
    assert_eq!(
        message["method"], "notifications/resources/updated",
        "{message}"
    );
    message["params"]["uri"].as_str().unwrap()
}

/// Updates missed while the stream was down: more than rmcp's own per-session cache holds (16), so
/// only the event store can replay them all.
const MISSED: usize = 40;

#[tokio::test]
async fn a_resumed_sse_stream_replays_the_updates_it_missed() {
    let p = Project::new(TEST_POLICY);
    let served = p.serve();
    let keys: Vec<String> = (0..=MISSED).map(|i| format!("watched-{i}")).collect();
    let agent = common::connect_http(&served.url, "setup", None).await;
    for k in &keys {
        agent.create_flag(k).await;
    }
    agent.close().await;

    let s = Session::open(&served.url).await;
    for (i, k) in keys.iter().enumerate() {
        let subscribed = s
            .post(
                json!({"jsonrpc": "2.0", "id": 1000 + i, "method": "resources/subscribe",
                         "params": {"uri": format!("flagwarden://flags/{k}")}}),
            )
            .await;
        assert!(subscribed.contains("\"result\""), "{subscribed}");
    }
    let set = |n: usize| {
        json!({"jsonrpc": "2.0", "id": 2000 + n, "method": "tools/call", "params": {
            "name": "set_targeting", "arguments": {"key": keys[n], "environment": "development",
            "rules": [], "enabled": true, "reason": format!("change {n}")}}})
    };
    let mut live = s.stream(None).await;
    // The first update arrives live; its id is where a resume starts.
    s.post(set(0)).await;
    let first = live.next_message().await;
    assert_eq!(updated_uri(&first.1), "flagwarden://flags/watched-0");
    drop(live); // the stream drops

    // While no stream is open, a change to each other flag: every update is kept for the resume.
    for n in 1..MISSED {
        s.post(set(n)).await;
    }
    let mut resumed = s.stream(Some(&first.0)).await;
    let mut heard = Vec::new();
    for _ in 1..MISSED {
        let (_, message) = resumed.next_message().await;
        heard.push(updated_uri(&message).to_owned());
    }
    let expected: Vec<String> = (1..MISSED)
        .map(|n| format!("flagwarden://flags/watched-{n}"))
        .collect();
    assert_eq!(
        heard, expected,
        "the resumed stream replays every missed update, in order"
    );
    // The resumed stream is live: a later change arrives on it.
    s.post(set(MISSED)).await;
    let (_, later) = resumed.next_message().await;
    assert_eq!(
        updated_uri(&later),
        format!("flagwarden://flags/watched-{MISSED}")
    );
}
