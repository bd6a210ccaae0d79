//! Malformed tool calls over stdio: each is answered in-band with a message that names the problem, and
//! none of them changes a byte of the database.

mod common;

use common::{Project, TEST_POLICY};
use serde_json::{Value, json};

/// (tool, arguments, a fragment the error message must contain)
fn cases() -> Vec<(&'static str, Value, &'static str)> {
    let huge = "x".repeat(70 * 1024);
    let long_key = "k".repeat(101);
    vec![
        (
            "create_flag",
            json!({"key": "bad key", "description": "d", "change_type": "code", "reason": "r"}),
            "key",
        ),
        (
            "create_flag",
            json!({"key": "'; DROP TABLE flags; --", "description": "d", "change_type": "code", "reason": "r"}),
            "key",
        ),
        (
            "create_flag",
            json!({"key": long_key, "description": "d", "change_type": "code", "reason": "r"}),
            "key",
        ),
        (
            "create_flag",
            json!({"key": "f1", "description": "d", "change_type": "feature", "reason": "r"}),
            "feature",
        ),
        (
            "create_flag",
            json!({"key": "f1", "description": "d", "change_type": "code", "variants": {"a": 1, "b": "x"}, "reason": "r"}),
            "variants.b",
        ),
        (
            "create_flag",
            json!({"key": "f1", "description": "d", "change_type": "code", "variants": {"a": null}, "reason": "r"}),
            "variants.a",
        ),
        (
            "create_flag",
            json!({"key": "f1", "description": "d", "change_type": "code", "default_variant": "blue", "reason": "r"}),
            "default_variant",
        ),
        (
            "create_flag",
            json!({"key": "f1", "description": "d", "change_type": "code", "lifetime_days": 0, "reason": "r"}),
            "lifetime_days",
        ),
        (
            "create_flag",
            json!({"key": "f1", "description": " ", "change_type": "code", "reason": "r"}),
            "description",
        ),
        (
            "create_flag",
            json!({"description": "d", "change_type": "code", "reason": "r"}),
            "key",
        ),
        (
            "create_flag",
            json!({"key": 42, "description": "d", "change_type": "code", "reason": "r"}),
            "invalid type",
        ),
        (
            "create_flag",
            json!({"key": "base", "description": "d", "change_type": "code", "reason": "r"}),
            "already exists",
        ),
        (
            "create_flag",
            json!({"key": "f1", "description": "d", "change_type": "code", "reason": "r", "colour": "red"}),
            "colour",
        ),
        (
            "create_flag",
            json!({"key": "base", "description": "other", "change_type": "code", "reason": "r", "idempotency_key": "idem-1"}),
            "idempotency_key",
        ),
        (
            "set_targeting",
            json!({"key": "nope", "environment": "production", "rules": [], "reason": "r"}),
            "does not exist",
        ),
        (
            "set_targeting",
            json!({"key": "base", "environment": "prod", "rules": [], "reason": "r"}),
            "unknown environment",
        ),
        (
            "set_targeting",
            json!({"key": "base", "environment": "production", "reason": "r", "rules": [{"serve": {"split": [{"variant": "on", "percent": 150}, {"variant": "off", "percent": 0}]}}]}),
            "percent",
        ),
        (
            "set_targeting",
            json!({"key": "base", "environment": "production", "reason": "r", "rules": [{"serve": {"split": [{"variant": "on", "percent": 40}, {"variant": "off", "percent": 50}]}}]}),
            "sum to 100",
        ),
        (
            "set_targeting",
            json!({"key": "base", "environment": "production", "reason": "r", "rules": [{"serve": {"variant": "blue"}}]}),
            "rules[0].serve.variant",
        ),
        (
            "set_targeting",
            json!({"key": "base", "environment": "production", "reason": "r", "rules": [{"conditions": [{"attribute": "email", "op": "regex", "values": ["x"]}], "serve": {"variant": "on"}}]}),
            "regex",
        ),
        (
            "set_targeting",
            json!({"key": "base", "environment": "production", "reason": "r", "rules": [{"conditions": [{"attribute": "v", "op": "semver_gte", "values": ["not-a-version"]}], "serve": {"variant": "on"}}]}),
            "rules[0].conditions[0].values[0]",
        ),
        (
            "set_targeting",
            json!({"key": "base", "environment": "production", "reason": "r", "rules": [{"conditions": [{"attribute": "age", "op": "gt", "values": ["old"]}], "serve": {"variant": "on"}}]}),
            "numeric",
        ),
        (
            "set_targeting",
            json!({"key": "base", "environment": "production", "reason": "r", "rules": [{"serve": {"variant": "on", "split": [{"variant": "on", "percent": 100}]}}]}),
            "exactly one",
        ),
        (
            "set_targeting",
            json!({"key": "base", "environment": "production", "reason": "r", "rules": [{"conditions": [{"attribute": "plan", "op": "equals", "values": ["a", "b"]}], "serve": {"variant": "on"}}]}),
            "exactly one value",
        ),
        (
            "set_targeting",
            json!({"key": "base", "environment": "production", "reason": "r", "rules": "all"}),
            "invalid type",
        ),
        (
            "set_targeting",
            json!({"key": "base", "environment": "production", "reason": "r", "rules": [], "expected_version": 99}),
            "stale",
        ),
        (
            "start_canary",
            json!({"key": "base", "environment": "production", "candidate_variant": "on", "steps": [5, 200], "reason": "r"}),
            "steps[1]",
        ),
        (
            "start_canary",
            json!({"key": "base", "environment": "production", "candidate_variant": "on", "steps": [5, 25], "reason": "r"}),
            "last step must be 100",
        ),
        (
            "start_canary",
            json!({"key": "base", "environment": "production", "candidate_variant": "blue", "reason": "r"}),
            "candidate_variant",
        ),
        (
            "start_canary",
            json!({"key": "base", "environment": "production", "candidate_variant": "off", "reason": "r"}),
            "already what everyone",
        ),
        (
            "advance_canary",
            json!({"key": "base", "environment": "production", "reason": "r"}),
            "no active rollout",
        ),
        (
            "record_signals",
            json!({"key": "base", "environment": "production", "arm": "canary", "requests": 10, "errors": 11}),
            "errors",
        ),
        (
            "record_signals",
            json!({"key": "base", "environment": "production", "arm": "both", "requests": 10}),
            "both",
        ),
        (
            "record_signals",
            json!({"key": "base", "environment": "production", "arm": "canary", "requests": -5}),
            "invalid value",
        ),
        (
            "record_signals",
            json!({"key": "base", "environment": "production", "arm": "canary"}),
            "all counts are zero",
        ),
        (
            "record_signals",
            json!({"key": "base", "environment": "production", "arm": "canary", "requests": 10}),
            "no active rollout",
        ),
        (
            "rollback",
            json!({"key": "base", "environment": "production", "reason": ""}),
            "reason",
        ),
        (
            "evaluate_flag",
            json!({"key": "base", "environment": "production", "context": "user-1"}),
            "context must be a JSON object",
        ),
        (
            "evaluate_flag",
            json!({"key": "base", "environment": "production", "context": {"targetingKey": "u", "blob": huge}}),
            "bytes of JSON",
        ),
        (
            "evaluate_flag",
            json!({"key": "base", "environment": "production", "context": {"targetingKey": 7}}),
            "targetingKey must be a string",
        ),
        (
            "wrap_change",
            json!({"key": "base", "language": "cobol", "change_description": "x", "reason": "r"}),
            "cobol",
        ),
        (
            "wrap_change",
            json!({"key": "base", "language": "rust", "change_description": "x", "start_line": 3, "reason": "r"}),
            "start_line",
        ),
        (
            "cleanup_flag",
            json!({"key": "base", "keep_variant": "blue", "reason": "r"}),
            "keep_variant",
        ),
        (
            "wrap_change",
            json!({"key": "base", "language": "rust", "change_description": "x", "file": "../../etc/passwd", "start_line": 1, "end_line": 2, "reason": "r"}),
            "without '..'",
        ),
        (
            "wrap_change",
            json!({"key": "base", "language": "rust", "change_description": "x", "file": "/etc/passwd", "start_line": 1, "end_line": 2, "reason": "r"}),
            "relative to the project root",
        ),
        ("audit_log", json!({"limit": 0}), "limit"),
        ("list_approvals", json!({"status": "maybe"}), "status"),
    ]
}

#[tokio::test]
async fn malformed_calls_are_answered_in_band_and_change_nothing() {
    let p = Project::new(TEST_POLICY);
    let agent = p.connect("fuzzy-agent").await;
    agent
        .call("create_flag", json!({"key": "base", "description": "d", "change_type": "code", "reason": "r", "idempotency_key": "idem-1"}))
        .await
        .ok();
    let before = p.db_bytes();
    let cases = cases();
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for (tool, args, fragment) in &cases {
        match agent.call(tool, args.clone()).await {
            common::Answer::Err(msg) if msg.contains(fragment) => {}
            other => failures.push(format!(
                "{tool} {}: expected an error mentioning {fragment:?}, got {other:?}",
                truncate(args)
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(
        p.db_bytes() == before,
        "a refused call changed the database"
    );
    agent.close().await;
}

fn truncate(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 160 {
        format!("{}…", &s[..160])
    } else {
        s
    }
}
