//! The agent workflow end to end: the real binary over stdio, driven by rmcp's client, with a human
//! acting through the CLI beside it on the same SQLite file.

mod common;

use common::{Project, TEST_POLICY};
use serde_json::{Value, json};

fn variant(eval: &Value) -> &str {
    eval["variant"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn ship_canary_approve_propose_rollback_confirm() {
    let p = Project::new(TEST_POLICY);
    let agent = p.connect("rust-test-agent").await;

    let created = agent
        .call("create_flag", json!({"key": "new-checkout", "description": "one-page checkout", "change_type": "code", "reason": "ship the new checkout safely"}))
        .await
        .ok();
    assert_eq!(created["version"], 1);
    assert!(
        created["flag"]["environments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["enabled"] == false),
        "new flags are off everywhere"
    );

    let wrapped = agent
        .call("wrap_change", json!({"key": "new-checkout", "language": "rust", "change_description": "render the one-page checkout", "file": "src/checkout.rs", "reason": "guard it"}))
        .await
        .ok();
    assert_eq!(wrapped["created_flag"], false);
    assert!(wrapped["guard"].as_str().unwrap().contains("new-checkout"));
    assert!(
        wrapped["setup"]
            .as_str()
            .unwrap()
            .contains("http://127.0.0.1:7070")
    );

    let internal = json!({"targetingKey": "u-internal", "email": "dev@corp.com"});
    agent
        .call(
            "set_targeting",
            json!({"key": "new-checkout", "environment": "production", "expected_version": 1, "reason": "internal users first",
                   "rules": [{"name": "internal", "conditions": [{"attribute": "email", "op": "ends_with", "values": ["@corp.com"]}], "serve": {"variant": "on"}}]}),
        )
        .await
        .ok();
    let e = agent
        .call(
            "evaluate_flag",
            json!({"key": "new-checkout", "environment": "production", "context": internal}),
        )
        .await
        .ok();
    assert_eq!(
        (variant(&e), e["reason"].as_str()),
        ("on", Some("TARGETING_MATCH"))
    );

    let started = agent.call("start_canary", json!({"key": "new-checkout", "environment": "production", "candidate_variant": "on", "reason": "canary"})).await.ok();
    assert_eq!(started["rollout"]["state"], "RUNNING");
    assert_eq!(started["rollout"]["percent"], 5.0);
    assert_eq!(started["rollout"]["lkg"], "off");

    for arm in ["canary", "control"] {
        agent.call("record_signals", json!({"key": "new-checkout", "environment": "production", "arm": arm, "requests": 400, "errors": 2, "reason": "load test"})).await.ok();
    }
    let advanced = agent
        .call(
            "advance_canary",
            json!({"key": "new-checkout", "environment": "production", "reason": "healthy"}),
        )
        .await
        .ok();
    assert_eq!(advanced["decision"]["result"], "allow");
    assert_eq!(advanced["gate"]["verdict"], "PROMOTE");
    assert_eq!(advanced["rollout"]["percent"], 25.0);

    // Past max_auto_percent: an approval request, not a change.
    let gated = agent
        .call(
            "advance_canary",
            json!({"key": "new-checkout", "environment": "production", "reason": "still healthy"}),
        )
        .await
        .ok();
    assert_eq!(gated["decision"]["result"], "needs_approval");
    assert_eq!(gated["decision"]["rule"], "production.max_auto_percent");
    assert_eq!(gated["rollout"]["state"], "AWAITING_APPROVAL");
    assert_eq!(
        gated["rollout"]["percent"], 25.0,
        "no change until a human approves"
    );
    let approval = gated["approval_id"].as_i64().unwrap();
    let waiting = agent
        .call(
            "advance_canary",
            json!({"key": "new-checkout", "environment": "production", "reason": "again"}),
        )
        .await
        .err();
    assert!(waiting.contains("waiting for a human"), "{waiting}");

    // Without a terminal and without --yes, the CLI refuses to approve.
    let refused = p.cli(&["approve", &approval.to_string()]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("human action"));
    p.cli_ok(&[
        "approve",
        &approval.to_string(),
        "--yes",
        "--reason",
        "numbers look fine",
    ]);
    let status = agent
        .call(
            "canary_status",
            json!({"key": "new-checkout", "environment": "production"}),
        )
        .await
        .ok();
    assert_eq!(
        (
            status["rollout"]["state"].as_str(),
            status["rollout"]["percent"].as_f64()
        ),
        (Some("RUNNING"), Some(50.0))
    );

    // A human reads the gate on the command line: per metric and arm, and the stored evaluations.
    let shown = p.cli_ok(&["canary", "show", "new-checkout", "--env", "production"]);
    assert!(
        shown.contains("RUNNING at 50%") && shown.contains("error_rate"),
        "{shown}"
    );
    let shown: Value = serde_json::from_str(&p.cli_ok(&[
        "canary",
        "show",
        "new-checkout",
        "--env",
        "production",
        "--json",
    ]))
    .unwrap();
    let evaluations = shown["evaluations"].as_array().unwrap();
    assert_eq!(evaluations.len(), 2, "two advances asked the gate: {shown}");
    assert_eq!(evaluations[1]["verdict"], "PROMOTE");
    assert_eq!(
        evaluations[0]["inputs"]["canary"]["counts"]["requests"],
        400
    );
    assert_eq!(shown["status"]["last_evaluation"], evaluations[0]["id"]);

    // The agent proposes a rollback; production policy makes it a proposal.
    let proposed = agent
        .call("rollback", json!({"key": "new-checkout", "environment": "production", "reason": "support tickets about double charges"}))
        .await
        .ok();
    assert_eq!(proposed["decision"]["result"], "needs_approval");
    assert_eq!(proposed["rollout"]["state"], "ROLLBACK_PENDING");
    let proposal = proposed["approval_id"].as_i64().unwrap();
    let pending = agent.call("list_approvals", json!({})).await.ok();
    assert_eq!(pending["approvals"][0]["id"], proposal);
    assert_eq!(pending["approvals"][0]["kind"], "rollback");

    p.cli_ok(&[
        "approve",
        &proposal.to_string(),
        "--yes",
        "--reason",
        "confirmed",
    ]);
    let status = agent
        .call(
            "canary_status",
            json!({"key": "new-checkout", "environment": "production"}),
        )
        .await
        .ok();
    assert_eq!(status["rollout"]["state"], "ROLLED_BACK");
    for key in ["u-1", "u-2", "u-3", "u-internal", "u-42"] {
        let ctx = json!({"targetingKey": key, "email": format!("{key}@corp.com")});
        let e = agent
            .call(
                "evaluate_flag",
                json!({"key": "new-checkout", "environment": "production", "context": ctx}),
            )
            .await
            .ok();
        assert_eq!(
            variant(&e),
            "off",
            "{key} must get the last-known-good variant after the rollback"
        );
    }
    // The CLI's evaluation agrees with the server's.
    let cli_eval: Value = serde_json::from_str(&p.cli_ok(&[
        "eval",
        "new-checkout",
        "--env",
        "production",
        "--context",
        r#"{"targetingKey":"u-1"}"#,
    ]))
    .unwrap();
    assert_eq!(cli_eval["variant"], "off");
    agent.close().await;

    let verified = p.cli_ok(&["audit", "--verify", "--json", "--limit", "100"]);
    assert!(verified.starts_with("audit chain verified"), "{verified}");
    let events: Vec<Value> = serde_json::from_str(verified.split_once('\n').unwrap().1).unwrap();
    let steps: Vec<(String, String, String)> = events
        .iter()
        .rev()
        .map(|e| {
            (
                e["action"].as_str().unwrap().into(),
                format!(
                    "{}:{}",
                    e["actor_kind"].as_str().unwrap(),
                    e["actor"].as_str().unwrap()
                ),
                e["decision"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expect = [
        ("create_flag", "agent:rust-test-agent", "allow"),
        ("wrap_change", "agent:rust-test-agent", "allow"),
        ("set_targeting", "agent:rust-test-agent", "allow"),
        ("start_canary", "agent:rust-test-agent", "allow"),
        ("record_signals", "agent:rust-test-agent", "allow"),
        ("record_signals", "agent:rust-test-agent", "allow"),
        ("advance_canary", "agent:rust-test-agent", "allow"),
        ("advance_canary", "agent:rust-test-agent", "needs_approval"),
        // Asked again while the approval waits: refused, and the attempt is on the record.
        ("advance_canary", "agent:rust-test-agent", "conflict"),
        ("approve", "human:alice", "allow"),
        ("rollback", "agent:rust-test-agent", "needs_approval"),
        ("approve", "human:alice", "allow"),
    ];
    let got: Vec<(&str, &str, &str)> = steps
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(got, expect);
    assert!(
        events
            .iter()
            .all(|e| e["policy_version"] == 3 && e["policy_sha256"].as_str().unwrap().len() == 64)
    );
}

#[tokio::test]
async fn tools_list_is_complete_annotated_and_within_budget() {
    let p = Project::new(TEST_POLICY);
    let agent = p.connect("budget-check").await;
    let tools = agent.inner.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for want in [
        "list_flags",
        "get_flag",
        "evaluate_flag",
        "get_policy",
        "canary_status",
        "list_stale_flags",
        "list_approvals",
        "audit_log",
        "create_flag",
        "wrap_change",
        "set_targeting",
        "start_canary",
        "advance_canary",
        "record_signals",
        "rollback",
        "cleanup_flag",
    ] {
        assert!(names.contains(&want), "missing tool {want}");
    }
    for t in &tools {
        let a = t
            .annotations
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no annotations", t.name));
        assert!(
            a.read_only_hint.is_some()
                && a.destructive_hint.is_some()
                && a.idempotent_hint.is_some(),
            "{}",
            t.name
        );
        assert_eq!(a.open_world_hint, Some(false), "{}", t.name);
        assert!(t.output_schema.is_some(), "{} has no output schema", t.name);
    }
    let size = serde_json::to_string(&tools).unwrap().len();
    assert!(
        size < 16 * 1024,
        "tools/list is {size} bytes; the budget is 16 KiB"
    );
    agent.close().await;
}

#[tokio::test]
async fn idempotent_replays_and_dry_runs_change_nothing() {
    let p = Project::new(TEST_POLICY);
    let agent = p.connect("replayer").await;
    let args = json!({"key": "k1", "description": "d", "change_type": "config", "reason": "r", "idempotency_key": "req-1"});
    let first = agent.call("create_flag", args.clone()).await.ok();
    let again = agent.call("create_flag", args).await.ok();
    assert_eq!(first, again, "a replay returns the first answer");
    let log = agent.call("audit_log", json!({})).await.ok();
    assert_eq!(
        log["events"].as_array().unwrap().len(),
        1,
        "a replay has no second effect"
    );

    let before = p.db_bytes();
    let plan = agent
        .call("set_targeting", json!({"key": "k1", "environment": "development", "rules": [], "reason": "try", "dry_run": true}))
        .await
        .ok();
    assert_eq!(plan["dry_run"], true);
    assert!(plan["summary"].as_str().unwrap().starts_with("dry run"));
    assert_eq!(
        plan["version"], 2,
        "the plan shows the version the change would produce"
    );
    assert_eq!(
        agent.call("get_flag", json!({"key": "k1"})).await.ok()["version"],
        1
    );
    assert_eq!(before, p.db_bytes(), "a dry run writes nothing");
    agent.close().await;
}
