//! Webhook notifications from the real binary to receivers on 127.0.0.1: what an agent's proposal,
//! a human's decision and a rollback send in both formats, retries, a dead receiver beside a
//! rollback, and a restart that neither loses nor repeats. Every wait is bounded; nothing sleeps.

mod common;

use std::time::Duration;

use common::{Project, Receiver, Served, TEST_POLICY, connect_http};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// How long any one thing may take before the test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(30);

const AGENT: &str = "fw_agent_secret_000000000000";
const HUMAN: &str = "fw_human_secret_000000000000";

/// A receiver that takes the request and never answers: says when a request has arrived, and when
/// the sender gives up on the connection.
struct Hanging {
    url: String,
    arrived: UnboundedReceiver<()>,
    closed: UnboundedReceiver<()>,
}

impl Hanging {
    async fn start() -> Hanging {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (arrived_tx, arrived) = unbounded_channel();
        let (closed_tx, closed) = unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let (arrived_tx, closed_tx) = (arrived_tx.clone(), closed_tx.clone());
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let mut told = false;
                    // Read until the sender hangs up; never write a byte back.
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        if !told {
                            told = true;
                            let _ = arrived_tx.send(());
                        }
                    }
                    let _ = closed_tx.send(());
                });
            }
        });
        Hanging {
            url,
            arrived,
            closed,
        }
    }
}

/// A generic body without its release note (read when it was sent, so checked on its own).
fn without_note(mut body: Value) -> Value {
    let note = body
        .as_object_mut()
        .and_then(|o| o.remove("release_note"))
        .expect("every body has a release_note key");
    assert!(note.is_null() || note["description"].is_string(), "{note}");
    body
}

/// A URL nothing listens on.
async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    drop(listener);
    url
}

fn policy(hooks: &[(&str, &str, &str)]) -> String {
    let mut p = TEST_POLICY.to_owned();
    for (url, format, events) in hooks {
        p.push_str(&format!(
            "\n[[webhooks]]\nurl = \"{url}\"\nformat = \"{format}\"\nevents = {events}\n"
        ));
    }
    p
}

fn tokens() -> String {
    format!("agent:claude={AGENT},human:alice-token={HUMAN}")
}

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, f)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {PATIENCE:?}"))
}

/// Stops a server with SIGTERM and says whether it exited cleanly, within the patience.
async fn stop(s: Served) -> bool {
    bounded(
        "a clean stop",
        tokio::task::spawn_blocking(move || s.stop()),
    )
    .await
    .unwrap()
    .success()
}

async fn post(url: &str, token: Option<&str>, body: Value, headers: &[(&str, &str)]) -> Value {
    let mut req = reqwest::Client::new().post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = bounded("a request", req.send()).await.expect("request");
    let status = res.status();
    let body: Value = res.json().await.expect("a JSON answer");
    assert!(status.is_success(), "{url}: {status} {body}");
    body
}

/// The variant OFREP serves `user` in `env`, asked with `token` when the server has tokens.
async fn variant(s: &Served, token: Option<&str>, env: &str, user: &str) -> String {
    let answer = post(
        &format!("{}/ofrep/v1/evaluate/flags/pay", s.url),
        token,
        json!({"context": {"targetingKey": user}}),
        &[("X-Flagwarden-Environment", env)],
    )
    .await;
    answer["variant"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_its_approval_and_the_rollback_reach_both_formats() {
    let mut generic = Receiver::start(0).await;
    let mut slack = Receiver::start(0).await;
    let p = Project::new(&policy(&[
        (&generic.url, "json", "[]"),
        (
            &slack.url,
            "slack",
            "[\"approval_requested\", \"rolled_back\"]",
        ),
    ]));
    let s = p.serve_with(&[], &[("FLAGWARDEN_TOKENS", &tokens())]);
    let agent = connect_http(&s.url, "claude-code", Some(AGENT)).await;
    agent
        .call(
            "create_flag",
            json!({"key": "pay", "description": "d", "change_type": "code", "reason": "new checkout"}),
        )
        .await
        .ok();
    let started = agent.call("start_canary", json!({"key": "pay", "environment": "production", "candidate_variant": "on", "reason": "canary"})).await.ok();
    let rollout_id = started["rollout"]["id"].as_i64().unwrap();
    let proposal = agent
        .call(
            "rollback",
            json!({"key": "pay", "environment": "production", "reason": "p95 <2s> & rising"}),
        )
        .await
        .ok();
    let id = proposal["approval_id"].as_i64().unwrap();
    let proposed_at = proposal["audit_seq"].as_i64().unwrap();

    let told = generic.next().await;
    assert_eq!(
        (
            &told["event"],
            &told["exposure"],
            &told["release_note"]["description"]
        ),
        (&json!("started"), &json!("5%"), &json!("d")),
        "{told}"
    );
    let asked = without_note(generic.next().await);
    let at = asked["at"].as_str().unwrap().to_owned();
    assert!(at.parse::<jiff::Timestamp>().is_ok(), "{at}");
    assert_eq!(
        asked,
        json!({
            "event": "approval_requested",
            "flag": "pay",
            "environment": "production",
            "rollout_id": rollout_id,
            "approval_id": id,
            "approval_kind": "rollback",
            "decision": null,
            "decided_via": null,
            "actor": "agent:claude",
            "reason": "p95 <2s> & rising",
            "summary": format!("agent:claude proposes rolling back pay in production (approval #{id}); exposure is frozen until a human decides"),
            "how_to_decide": format!("a human runs `flagwarden approve {id}` or `flagwarden reject {id} --reason TEXT`, or POSTs /api/v1/approvals/{id}/approve with a human token"),
            "exposure": "5%",
            "gate_evaluation_id": null,
            "audit_seq": proposed_at,
            "at": at,
        })
    );
    let mut asked = slack.next().await;
    let section = asked["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let (event, note) = section
        .split_once("\nd (code change, owner not set)\n")
        .unwrap_or_else(|| panic!("the release note follows the event: {section}"));
    assert!(
        note.starts_with("plan 5% → 25% → 50% → 100%; now 5%\n"),
        "{note}"
    );
    asked["blocks"][0]["text"]["text"] = json!(event);
    assert_eq!(
        asked,
        json!({
            "text": format!("flagwarden: agent:claude proposes rolling back pay in production (approval #{id}); exposure is frozen until a human decides"),
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": format!(
                    "*Approval requested*: agent:claude proposes rolling back pay in production (approval #{id}); exposure is frozen until a human decides\n\
                     >p95 &lt;2s&gt; &amp; rising\n\
                     Decide: `flagwarden approve {id}` or `flagwarden reject {id} --reason TEXT`"
                )}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("audit event {proposed_at} · agent:claude · {at}")}]},
            ],
        })
    );

    // A human approves over HTTP: the decision and the rollback it executes.
    let decided = post(
        &format!("{}/api/v1/approvals/{id}/approve", s.url),
        Some(HUMAN),
        json!({"reason": "confirmed"}),
        &[],
    )
    .await;
    assert_eq!(decided["executed"], true, "{decided}");
    let decision = without_note(generic.next().await);
    let seq = decision["audit_seq"].as_i64().unwrap();
    assert!(seq > proposed_at, "{decision}");
    let at = decision["at"].as_str().unwrap().to_owned();
    let summary = format!(
        "human:alice-token approved approval #{id} (rollback of pay in production) via http"
    );
    assert_eq!(
        decision,
        json!({
            "event": "approval_decided",
            "flag": "pay",
            "environment": "production",
            "rollout_id": rollout_id,
            "approval_id": id,
            "approval_kind": "rollback",
            "decision": "approved",
            "decided_via": "http",
            "actor": "human:alice-token",
            "reason": "confirmed",
            "summary": summary,
            "how_to_decide": null,
            "exposure": "0%",
            "gate_evaluation_id": null,
            "audit_seq": seq,
            "at": at,
        })
    );
    let rolled = without_note(generic.next().await);
    let summary =
        format!("rolled back pay in production: human:alice-token approved the rollback (#{id})");
    assert_eq!(
        rolled,
        json!({
            "event": "rolled_back",
            "flag": "pay",
            "environment": "production",
            "rollout_id": rollout_id,
            "approval_id": id,
            "approval_kind": "rollback",
            "decision": null,
            "decided_via": null,
            "actor": "human:alice-token",
            "reason": "confirmed",
            "summary": summary,
            "how_to_decide": null,
            "exposure": "0%",
            "gate_evaluation_id": null,
            "audit_seq": seq,
            "at": at,
        }),
        "one audit event, two notices"
    );
    let rolled = slack.next().await;
    assert_eq!(
        rolled["text"],
        format!("flagwarden: {summary}"),
        "Slack hears no decision: it asked for requests and rollbacks only"
    );
    assert!(
        rolled["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "*Rolled back*: {summary}\n>confirmed\nd (code change, owner not set)\n"
            )),
        "{rolled}"
    );
    assert_eq!(
        rolled["blocks"][1]["elements"][0]["text"],
        format!("audit event {seq} · human:alice-token · {at}")
    );
    assert_eq!(variant(&s, Some(HUMAN), "production", "u-1").await, "off");
    agent.close().await;
    assert!(stop(s).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_the_event_on_retry() {
    let mut flaky = Receiver::start(1).await;
    let p = Project::new(&policy(&[(&flaky.url, "json", "[\"rolled_back\"]")]));
    let s = p.serve();
    let agent = connect_http(&s.url, "claude-code", None).await;
    agent.create_flag("pay").await;
    let rollback = json!({"key": "pay", "environment": "development", "reason": "errors"});
    let first = agent.call("rollback", rollback.clone()).await.ok();
    let seq = first["audit_seq"].as_i64().unwrap();
    let refused = flaky.next().await;
    let retried = flaky.next().await;
    assert_eq!(refused["audit_seq"], seq);
    assert_eq!(retried, refused, "the same notice again, after a 500");
    // A second rollback is sent only after the first was delivered: then the counts are known.
    let second = agent.call("rollback", rollback).await.ok();
    assert_eq!(flaky.next().await["audit_seq"], second["audit_seq"]);
    let metrics = reqwest::get(format!("{}/metrics", s.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "flagwarden_webhook_deliveries_total{result=\"retried\"} 1",
        "flagwarden_webhook_deliveries_total{result=\"gave_up\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    assert!(
        metrics.contains("flagwarden_webhook_deliveries_total{result=\"delivered\"} "),
        "{metrics}"
    );
    agent.close().await;
    assert!(stop(s).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_receiver_does_not_delay_a_rollback() {
    let mut hanging = Hanging::start().await;
    let refused = closed_port().await;
    let mut alive = Receiver::start(0).await;
    let p = Project::new(&policy(&[
        (&hanging.url, "json", "[]"),
        (&refused, "slack", "[]"),
        (&alive.url, "json", "[]"),
    ]));
    let s = p.serve();
    let agent = connect_http(&s.url, "claude-code", None).await;
    agent.create_flag("pay").await;
    agent.call("start_canary", json!({"key": "pay", "environment": "development", "candidate_variant": "on", "steps": [50, 100], "reason": "canary"})).await.ok();
    let mut exposed = None;
    for i in 0..100 {
        let user = format!("u-{i}");
        if variant(&s, None, "development", &user).await == "on" {
            exposed = Some(user);
            break;
        }
    }
    let user = exposed.expect("half the users see the candidate");

    // An agent's proposal in production: the hanging receiver takes it and never answers.
    agent
        .call(
            "rollback",
            json!({"key": "pay", "environment": "production", "reason": "check"}),
        )
        .await
        .ok();
    bounded("the hanging receiver's request", hanging.arrived.recv()).await;
    assert_eq!(alive.next().await["event"], "started");
    assert_eq!(alive.next().await["event"], "approval_requested");

    // While that delivery hangs, a rollback returns, takes effect, and is told to the live receiver.
    let rolled = bounded(
        "the rollback",
        agent.call(
            "rollback",
            json!({"key": "pay", "environment": "development", "reason": "errors"}),
        ),
    )
    .await
    .ok();
    assert!(
        rolled["summary"]
            .as_str()
            .unwrap()
            .starts_with("roll back pay in development"),
        "{rolled}"
    );
    assert_eq!(
        variant(&s, None, "development", &user).await,
        "off",
        "the last-known-good variant"
    );
    let told = alive.next().await;
    assert_eq!(
        (&told["event"], &told["audit_seq"]),
        (&json!("rolled_back"), &rolled["audit_seq"])
    );
    assert!(
        hanging.closed.try_recv().is_err(),
        "the hanging delivery is still open"
    );
    agent.close().await;
    assert!(
        stop(s).await,
        "a hanging receiver does not stop a clean shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_neither_loses_nor_repeats() {
    let mut receiver = Receiver::start(0).await;
    let p = Project::new(&policy(&[(&receiver.url, "json", "[]")]));

    // Over stdio: the agent's proposal is sent by `flagwarden mcp` itself.
    let agent = p.connect("claude-code").await;
    agent.create_flag("pay").await;
    let proposal = agent
        .call(
            "rollback",
            json!({"key": "pay", "environment": "production", "reason": "check"}),
        )
        .await
        .ok();
    let id = proposal["approval_id"].as_i64().unwrap();
    let asked = receiver.next().await;
    assert_eq!(
        (&asked["event"], &asked["actor"]),
        (&json!("approval_requested"), &json!("agent:claude-code"))
    );
    agent.close().await;

    // A human approves on the command line while no server runs: the events wait in the trail.
    p.cli_ok(&["approve", &id.to_string(), "--yes", "--reason", "ok"]);
    let s = p.serve();
    let decided = receiver.next().await;
    assert_eq!(
        (
            &decided["event"],
            &decided["decided_via"],
            &decided["actor"]
        ),
        (
            &json!("approval_decided"),
            &json!("cli"),
            &json!("human:alice")
        ),
        "the first thing sent after the restart is the approval, not the proposal again"
    );
    assert_eq!(receiver.next().await["event"], "rolled_back");
    assert!(stop(s).await);

    // Once more: only what is new is sent.
    let s = p.serve();
    let agent = connect_http(&s.url, "claude-code", None).await;
    let rolled = agent
        .call(
            "rollback",
            json!({"key": "pay", "environment": "development", "reason": "errors"}),
        )
        .await
        .ok();
    let next = receiver.next().await;
    assert_eq!(
        (&next["event"], &next["audit_seq"]),
        (&json!("rolled_back"), &rolled["audit_seq"])
    );
    agent.close().await;
    assert!(stop(s).await);
}
