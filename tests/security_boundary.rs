//! The security boundary, through the real binary: what an agent's MCP session can never do, SQL
//! injection strings kept inert, and a direct edit of the audit table caught by `audit --verify`,
//! which names the first broken event. (Roles, Host and Origin, tokens and non-loopback binds are in
//! http_serve.rs; tampered in-client confirmation state in confirm_state.rs.)

mod common;

use common::{Project, TEST_POLICY};
use serde_json::json;

const INJECTIONS: [&str; 5] = [
    "'; DROP TABLE flags; --",
    "x' OR '1'='1",
    "\"); DELETE FROM audit_events; --",
    "1; UPDATE flags SET status = 'archived'",
    "Robert'); DROP TABLE approvals;--",
];

#[tokio::test]
async fn an_agent_session_cannot_approve_confirm_edit_policy_or_break_glass() {
    let p = Project::new(TEST_POLICY);
    let agent = p.connect("sneaky-agent").await;
    agent.create_flag("pay").await;
    // A rollback in production is only a proposal for an agent.
    let proposal = agent
        .call(
            "rollback",
            json!({"key": "pay", "environment": "production", "reason": "looks bad"}),
        )
        .await
        .ok();
    let id = proposal["approval_id"]
        .as_i64()
        .expect("a proposal names its approval");

    // No tool decides an approval, edits the policy, breaks glass, archives or steers a rollout.
    let tools = agent.inner.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for forbidden in [
        "approve",
        "reject",
        "confirm",
        "break_glass",
        "edit_policy",
        "set_policy",
        "archive_flag",
        "promote",
        "resume",
        "abort",
    ] {
        assert!(
            !names.iter().any(|n| n.contains(forbidden)),
            "{forbidden} must not be a tool: {names:?}"
        );
        let refused = agent
            .inner
            .call_tool(
                rmcp::model::CallToolRequestParams::new(forbidden.to_owned()).with_arguments(
                    json!({"id": id, "key": "pay", "reason": "I approve myself"})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
            )
            .await;
        match refused {
            Err(_) => {}
            Ok(r) => assert_eq!(r.is_error, Some(true), "{forbidden} answered {r:?}"),
        }
    }
    // The proposal still waits for a human, and the policy file is untouched.
    let pending = agent.call("list_approvals", json!({})).await.ok();
    assert_eq!(pending["approvals"][0]["id"], id);
    assert_eq!(pending["approvals"][0]["status"], "pending");
    assert_eq!(std::fs::read_to_string(p.policy()).unwrap(), TEST_POLICY);
    agent.close().await;

    // The CLI refuses human-only commands from a non-interactive shell without --yes.
    for args in [
        vec!["approve", &id.to_string()],
        vec![
            "break-glass",
            "--env",
            "production",
            "--reason",
            "r",
            "--for",
            "1h",
        ],
        vec!["archive", "pay", "--reason", "r"],
    ] {
        let args: Vec<&str> = args.iter().map(|s| s.as_ref()).collect();
        let out = p.cli(&args);
        assert!(!out.status.success(), "{args:?} ran without confirmation");
    }
    let approvals = p.cli_ok(&["approvals", "--json"]);
    assert!(approvals.contains("\"pending\""), "{approvals}");
}

#[tokio::test]
async fn sql_injection_strings_are_inert_in_keys_descriptions_reasons_and_contexts() {
    let p = Project::new(TEST_POLICY);
    let agent = p.connect("agent").await;
    agent.create_flag("safe").await;
    for s in INJECTIONS {
        // As a key: refused by validation, naming the field.
        let err = agent
            .call(
                "create_flag",
                json!({"key": s, "description": "d", "change_type": "code", "reason": "r"}),
            )
            .await
            .err();
        assert!(err.contains("key"), "{err}");
        let err = agent.call("get_flag", json!({"key": s})).await.err();
        assert!(err.contains("key"), "{err}");
        // As free text: stored verbatim.
        let key = format!("flag-{}", s.len());
        agent
            .call("create_flag", json!({"key": key, "description": s, "change_type": "code", "reason": s, "tags": [s]}))
            .await
            .ok();
        let flag = agent.call("get_flag", json!({"key": key})).await.ok();
        assert_eq!(flag["description"], s);
        assert_eq!(flag["tags"][0], s);
        // As context: an attribute like any other.
        let eval = agent
            .call("evaluate_flag", json!({"key": "safe", "environment": "production", "context": {"targetingKey": s, s: s}}))
            .await
            .ok();
        assert_eq!(eval["variant"], "off");
        let found = agent.call("list_flags", json!({"query": s})).await.ok();
        assert_eq!(
            found["flags"].as_array().unwrap().len(),
            1,
            "the query matches the description only"
        );
    }
    let all = agent.call("list_flags", json!({})).await.ok();
    assert_eq!(
        all["flags"].as_array().unwrap().len(),
        1 + INJECTIONS.len(),
        "every table survived"
    );
    let log = agent.call("audit_log", json!({"limit": 100})).await.ok();
    assert!(
        log["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == INJECTIONS[0])
    );
    agent.close().await;
    let verified = p.cli_ok(&["audit", "--verify", "--json", "--limit", "100"]);
    assert!(verified.contains("audit chain verified"), "{verified}");
}

#[tokio::test]
async fn a_direct_edit_of_the_audit_table_is_detected_naming_the_first_broken_event() {
    let p = Project::new(TEST_POLICY);
    let agent = p.connect("agent").await;
    for i in 0..5 {
        agent
            .call("create_flag", json!({"key": format!("f{i}"), "description": "d", "change_type": "code", "reason": format!("r{i}")}))
            .await
            .ok();
    }
    agent.close().await;
    let ok = p.cli(&["audit", "--verify"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    // Someone with the file: the triggers refuse the edit, so they drop them first.
    let conn = rusqlite::Connection::open(p.db()).unwrap();
    let refused = conn.execute(
        "UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 3",
        [],
    );
    assert!(
        refused.is_err(),
        "the append-only trigger refuses an UPDATE"
    );
    conn.execute_batch(
        "DROP TRIGGER audit_no_update; UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 3;",
    )
    .unwrap();
    drop(conn);
    let out = p.cli(&["audit", "--verify"]);
    assert!(
        !out.status.success(),
        "a tampered chain must fail verification"
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("event 3") || text.contains("seq 3") || text.contains("#3"),
        "names the first broken event: {text}"
    );
    assert!(text.contains("edited"), "{text}");

    // Removing an event breaks the chain at the next one.
    let p2 = Project::new(TEST_POLICY);
    let agent = p2.connect("agent").await;
    for i in 0..4 {
        agent
            .call("create_flag", json!({"key": format!("g{i}"), "description": "d", "change_type": "code", "reason": "r"}))
            .await
            .ok();
    }
    agent.close().await;
    let conn = rusqlite::Connection::open(p2.db()).unwrap();
    conn.execute_batch("DROP TRIGGER audit_no_delete; DELETE FROM audit_events WHERE seq = 2;")
        .unwrap();
    drop(conn);
    let out = p2.cli(&["audit", "--verify"]);
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains('3') && text.contains("removed"),
        "names event 3, after the removed one: {text}"
    );
}
