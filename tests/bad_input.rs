//! Malformed tool calls over stdio: each is answered in-band with a message that names the problem, and
//! none of them changes a byte of the database.

mod common;

use common::{Project, TEST_POLICY};
use serde_json::{Value, json};

/// set_targeting arguments for the flag `base` in production with these rules.
fn targeting(rules: Value) -> Value {
    json!({"key": "base", "environment": "production", "reason": "r", "rules": rules})
}

/// record_signals arguments for the canary arm of `base` in production, plus these fields.
fn signals(fields: Value) -> Value {
    let mut args = json!({"key": "base", "environment": "production", "arm": "canary"});
    args.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    args
}

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
            "key: invalid type",
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
            "rules[0].conditions[0].values[0]: gt compares numbers: give them in `numbers`",
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
            "rules: invalid type",
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
            "requests: invalid value",
        ),
        // Client-shaped: what the real Claude Code and Codex CLIs passed on unchanged when their model
        // wrote it (neither validates arguments against the schema; tests/agents drives them).
        (
            "record_signals",
            signals(json!({"arm": "candidate", "requests": 200})),
            "arm: unknown variant `candidate`, expected one of `canary`, `control`, `excluded`",
        ),
        (
            "record_signals",
            signals(json!({"requests": "200", "errors": 1})),
            r#"requests: invalid type: string "200", expected a non-negative integer"#,
        ),
        (
            "start_canary",
            json!({"key": "base", "environment": "production", "candidate_variant": "on", "steps": "5,25", "reason": "r"}),
            r#"steps: invalid type: string "5,25", expected an array"#,
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
        // Wrong types at depth: the message names the path and says, in JSON's words, what fits.
        (
            "set_targeting",
            targeting(json!([{"serve": "on"}])),
            r#"rules[0].serve: invalid type: string "on", expected an object such as {"variant": "on"}"#,
        ),
        (
            "set_targeting",
            targeting(json!([{"serve": {"variant": "on"}}, {"serve": {"variant": 1}}])),
            "rules[1].serve.variant: invalid type: integer `1`, expected a string",
        ),
        (
            "set_targeting",
            targeting(json!([{"name": ["beta"], "serve": {"variant": "on"}}])),
            "rules[0].name: invalid type: array, expected a string",
        ),
        (
            "set_targeting",
            targeting(json!([{"serve": {"split": {"on": 50, "off": 50}}}])),
            "rules[0].serve.split: invalid type: object, expected an array",
        ),
        (
            "set_targeting",
            targeting(
                json!([{"serve": {"split": [{"variant": "on", "percent": 50}, {"variant": "off", "percent": "50"}]}}]),
            ),
            r#"rules[0].serve.split[1].percent: invalid type: string "50", expected a number"#,
        ),
        (
            "set_targeting",
            targeting(json!([{"serve": {"split": ["on", "off"]}}])),
            r#"rules[0].serve.split[0]: invalid type: string "on", expected an object such as {"variant": "on", "percent": 50}"#,
        ),
        (
            "set_targeting",
            targeting(
                json!([{"conditions": {"attribute": "plan", "op": "equals", "values": ["pro"]}, "serve": {"variant": "on"}}]),
            ),
            "rules[0].conditions: invalid type: object, expected an array",
        ),
        (
            "set_targeting",
            targeting(
                json!([{"conditions": [{"attribute": "plan", "op": "equals", "values": ["pro"]}, {"attribute": "email", "op": "ends_with", "values": "@corp.com"}], "serve": {"variant": "on"}}]),
            ),
            r#"rules[0].conditions[1].values: invalid type: string "@corp.com", expected an array"#,
        ),
        (
            "set_targeting",
            targeting(
                json!([{"serve": {"variant": "on"}}, {"conditions": [{"attribute": "plan", "op": 5, "values": ["pro"]}], "serve": {"variant": "on"}}]),
            ),
            "rules[1].conditions[0].op: invalid type: integer `5`, expected a string",
        ),
        (
            "set_targeting",
            targeting(
                json!([{"conditions": [{"attribute": ["email"], "op": "equals", "values": ["a"]}], "serve": {"variant": "on"}}]),
            ),
            "rules[0].conditions[0].attribute: invalid type: array, expected a string",
        ),
        (
            "set_targeting",
            targeting(
                json!([{"conditions": [{"attribute": "plan", "op": "equals", "value": "pro"}], "serve": {"variant": "on"}}]),
            ),
            "rules[0].conditions[0].value: unknown field `value`",
        ),
        (
            "set_targeting",
            targeting(
                json!([{"conditions": [{"attribute": "plan", "op": "equals"}], "serve": {"variant": "on"}}]),
            ),
            "rules[0].conditions[0].values: give at least one operand: `values` for strings and versions, `numbers` for numbers",
        ),
        (
            "set_targeting",
            targeting(json!([{"conditions": []}])),
            "rules[0]: missing field `serve`",
        ),
        (
            "set_targeting",
            json!({"key": "base", "environment": "production", "reason": ["r"], "rules": []}),
            "reason: invalid type: array, expected a string",
        ),
        (
            "record_signals",
            signals(
                json!({"eval_pairs": [{"candidate": 1, "baseline": 0}, {"candidate": 1, "baseline": "pass"}]}),
            ),
            r#"eval_pairs[1].baseline: invalid type: string "pass", expected a number"#,
        ),
        (
            "record_signals",
            signals(json!({"eval_pairs": [0.9]})),
            r#"eval_pairs[0]: invalid type: floating point `0.9`, expected an object such as {"candidate": 1, "baseline": 0}"#,
        ),
        (
            "record_signals",
            signals(json!({"eval_pairs": [{"candidate": 1}]})),
            "eval_pairs[0]: missing field `baseline`",
        ),
        (
            "record_signals",
            signals(json!({"eval_pairs": [{"candidate": 1, "baseline": 0, "item": "q1"}]})),
            "eval_pairs[0].item: unknown field `item`",
        ),
        (
            "record_signals",
            signals(json!({"requests": "10"})),
            r#"requests: invalid type: string "10", expected a non-negative integer"#,
        ),
        (
            "record_signals",
            signals(json!({"requests": 10, "errors": 1.5})),
            "errors: invalid type: floating point `1.5`, expected a non-negative integer",
        ),
        (
            "record_signals",
            json!({"key": "base", "environment": "production", "arm": 1, "requests": 10}),
            "arm: invalid type: integer `1`, expected a string",
        ),
        (
            "start_canary",
            json!({"key": "base", "environment": "production", "candidate_variant": "on", "steps": [5, "25", 100], "reason": "r"}),
            r#"steps[1]: "25" is a string: write a percentage as a number, e.g. 25"#,
        ),
        (
            "create_flag",
            json!({"key": "f1", "description": "d", "change_type": "code", "tags": ["ok", 7], "reason": "r"}),
            "tags[1]: invalid type: integer `7`, expected a string",
        ),
        (
            "create_flag",
            json!({"key": "f1", "description": "d", "change_type": "code", "variants": ["on", "off"], "reason": "r"}),
            "variants: invalid type: array, expected an object",
        ),
    ]
}

/// Codex shows structured content without the error flag and Claude Code reads nothing else, so the
/// structured content of every refusal must open with the refusal: `refused` first, beginning with
/// the field (or "invalid arguments", whose message then names it), and containing the message.
async fn structured_refusal(
    agent: &common::Client,
    tool: &str,
    args: &Value,
    fragment: &str,
) -> Result<(), String> {
    let result = agent
        .inner
        .call_tool(
            rmcp::model::CallToolRequestParams::new(tool.to_owned())
                .with_arguments(args.as_object().cloned().unwrap_or_default()),
        )
        .await
        .map_err(|e| format!("tools/call failed: {e}"))?;
    let sc = result
        .structured_content
        .ok_or("an error without structured content")?;
    let shown = sc.to_string();
    let refused = sc["refused"]
        .as_str()
        .ok_or(format!("no `refused` in {shown}"))?;
    if !shown.starts_with("{\"refused\":\"") {
        return Err(format!(
            "structured content does not open with the refusal: {shown}"
        ));
    }
    if !refused.contains(fragment) {
        return Err(format!("`refused` does not carry {fragment:?}: {shown}"));
    }
    let names_it = match (
        sc["kind"].as_str(),
        sc["field"].as_str(),
        sc["rule"].as_str(),
    ) {
        (Some("invalid" | "invalid_arguments"), Some(field), _) => {
            refused.starts_with(&format!("invalid {field}"))
                || refused.starts_with("invalid arguments: ")
        }
        (Some("invalid_arguments"), None, _) => refused.starts_with("invalid arguments: "),
        (Some("denied"), _, Some(rule)) => refused.contains(&format!("denied by {rule}")),
        (Some("refused"), None, None) => refused.starts_with("refused: "),
        _ => false,
    };
    if !names_it {
        return Err(format!(
            "the refusal does not open with its field or rule: {shown}"
        ));
    }
    Ok(())
}

#[tokio::test]
async fn malformed_calls_are_answered_in_band_and_change_nothing() {
    let p = Project::new(TEST_POLICY);
    let agent = p.connect("fuzzy-agent").await;
    agent
        .call("create_flag", json!({"key": "base", "description": "d", "change_type": "code", "reason": "r", "idempotency_key": "idem-1"}))
        .await
        .ok();
    let before = common::before(&p.db());
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
        if let Err(e) = structured_refusal(&agent, tool, args, fragment).await {
            failures.push(format!("{tool} {}: {e}", truncate(args)));
        }
    }
    all_passed(&failures, cases.len());
    before.assert_only_refusals_recorded(&p.db());
    agent.close().await;
}

/// Fails listing every case that did not get its documented error.
fn all_passed(failures: &[String], total: usize) {
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn truncate(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 160 {
        format!("{}…", &s[..160])
    } else {
        s
    }
}

// ---- the rest of the catalogue: OFREP, signal ingest, the CLI and the policy file ---------------

/// A store with one flag in a running development canary, so a valid report or advance would change it.
async fn project_with_a_rollout() -> Project {
    let p = Project::new(TEST_POLICY);
    let agent = p.connect("setup").await;
    agent.create_flag("pay").await;
    agent
        .call("start_canary", json!({"key": "pay", "environment": "development", "candidate_variant": "on", "reason": "r"}))
        .await
        .ok();
    agent.close().await;
    p
}

/// (path, extra header, body, HTTP status, error code) for OFREP and signal ingest.
type HttpCase = (
    &'static str,
    Option<(&'static str, &'static str)>,
    Vec<u8>,
    u16,
    &'static str,
);

fn http_cases() -> Vec<HttpCase> {
    let one = "/ofrep/v1/evaluate/flags/pay";
    let bulk = "/ofrep/v1/evaluate/flags";
    let ingest = "/api/v1/signals";
    let dev = Some(("x-flagwarden-environment", "development"));
    let report = |r: Value| {
        json!({"batch_id": "b1", "environment": "development", "signals": [r]})
            .to_string()
            .into_bytes()
    };
    let good =
        json!({"flag": "pay", "arm": "canary", "exposures": 10, "requests": 10, "errors": 1});
    let with = |k: &str, v: Value| {
        let mut r = good.clone();
        r[k] = v;
        report(r)
    };
    vec![
        (one, None, b"{not json".to_vec(), 400, "PARSE_ERROR"),
        (one, None, b"[1,2]".to_vec(), 400, "PARSE_ERROR"),
        (one, None, b"null".to_vec(), 400, "PARSE_ERROR"),
        (one, None, br#"{"context": "user-1"}"#.to_vec(), 400, "PARSE_ERROR"),
        (one, None, br#"{"context": {"targetingKey": ["a"]}}"#.to_vec(), 400, "INVALID_CONTEXT"),
        (one, None, br#"{"context": {"targetingKey": 5}}"#.to_vec(), 400, "INVALID_CONTEXT"),
        (one, dev, br#"{"context": {}}"#.to_vec(), 400, "TARGETING_KEY_MISSING"),
        (one, None, format!(r#"{{"context": {{"k": "{}"}}}}"#, "a".repeat(70_000)).into_bytes(), 413, "GENERAL"),
        ("/ofrep/v1/evaluate/flags/nope", None, br#"{"context": {}}"#.to_vec(), 404, "FLAG_NOT_FOUND"),
        ("/ofrep/v1/evaluate/flags/bad%20key", None, br#"{"context": {}}"#.to_vec(), 404, "FLAG_NOT_FOUND"),
        ("/ofrep/v1/evaluate/flags/'%3B%20DROP%20TABLE%20flags", None, br#"{"context": {}}"#.to_vec(), 404, "FLAG_NOT_FOUND"),
        (one, Some(("x-flagwarden-environment", "nowhere")), br#"{"context": {}}"#.to_vec(), 400, "GENERAL"),
        (bulk, None, b"{not json".to_vec(), 400, "PARSE_ERROR"),
        (bulk, None, br#"{"context": 1}"#.to_vec(), 400, "PARSE_ERROR"),
        (bulk, None, br#"{"context": {"targetingKey": {"a": 1}}}"#.to_vec(), 400, "INVALID_CONTEXT"),
        (bulk, Some(("x-flagwarden-environment", "../production")), br#"{"context": {}}"#.to_vec(), 400, "GENERAL"),
        (ingest, None, b"{oops".to_vec(), 400, "invalid_request"),
        (ingest, None, br#"{"batch_id": 5, "signals": []}"#.to_vec(), 400, "invalid_request"),
        (ingest, None, br#"{"batch_id": "b1"}"#.to_vec(), 400, "invalid_request"),
        (ingest, None, br#"{"batch_id": "b1", "signals": {}}"#.to_vec(), 400, "invalid_request"),
        (ingest, None, br#"{"batch_id": "b1", "signals": [], "extra": 1}"#.to_vec(), 400, "invalid_request"),
        (ingest, None, br#"{"batch_id": "", "environment": "development", "signals": []}"#.to_vec(), 400, "invalid_request"),
        (ingest, None, br#"{"batch_id": "b1", "environment": "development", "signals": [{}]}"#.to_vec(), 400, "invalid_request"),
        (ingest, None, with("arm", json!("middle")), 400, "invalid_request"),
        (ingest, None, with("requests", json!(-1)), 400, "invalid_request"),
        (ingest, None, with("requests", json!("10")), 400, "invalid_request"),
        (ingest, None, with("errors", json!(11)), 400, "invalid_request"),
        (ingest, None, with("eval_scores", json!([0.5, 1.5])), 400, "invalid_request"),
        (ingest, None, with("latency_ms", json!({"soon": 3})), 400, "invalid_request"),
        (ingest, None, with("custom", json!({"refunds": {"events": 5, "trials": 2}})), 400, "invalid_request"),
        (ingest, None, with("flag", json!("nope")), 400, "invalid_request"),
        (ingest, None, with("flag", json!("bad key")), 400, "invalid_request"),
        (ingest, None, json!({"batch_id": "b1", "environment": "nowhere", "signals": [good]}).to_string().into_bytes(), 400, "invalid_request"),
        (ingest, None, json!({"batch_id": "b1", "environment": "development", "signals": [good, {"flag": "pay", "arm": "control", "requests": 1, "errors": 2}]}).to_string().into_bytes(), 400, "invalid_request"),
        (ingest, None, json!({"batch_id": "b1", "environment": "development", "signals": vec![good.clone(); 1001]}).to_string().into_bytes(), 400, "invalid_request"),
        (ingest, None, vec![b' '; 3 * 1024 * 1024], 413, "invalid_request"),
        ("/api/v1/approvals/1/approve", None, b"{}".to_vec(), 403, "forbidden"),
        ("/api/v1/nothing", None, b"{}".to_vec(), 404, "not_found"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_http_requests_get_their_documented_error_and_change_nothing() {
    let p = project_with_a_rollout().await;
    let served = p.serve();
    // The controller renews its lease in `meta` every second: bookkeeping, not a change.
    let before = common::db_digest_except(&p.db(), &["meta"]);
    // A fresh connection per case: the server closes one whose body it refused unread (413).
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let mut failures = Vec::new();
    let cases = http_cases();
    for (path, header, body, status, code) in &cases {
        let mut req = http
            .post(format!("{}{path}", served.url))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some((k, v)) = header {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        let got = res.status().as_u16();
        let body_text = res.text().await.unwrap_or_default();
        let json: Value = serde_json::from_str(&body_text).unwrap_or(Value::Null);
        let got_code = json["errorCode"]
            .as_str()
            .or(json["error"]["code"].as_str())
            .unwrap_or("");
        let message = json["errorDetails"]
            .as_str()
            .or(json["error"]["message"].as_str())
            .unwrap_or("");
        if got != *status || got_code != *code || message.trim().is_empty() {
            failures.push(format!(
                "POST {path} {}: expected {status} {code} with a message, got {got} {}",
                truncate(&Value::String(String::from_utf8_lossy(body).into_owned())),
                truncate(&Value::String(body_text))
            ));
        }
    }
    all_passed(&failures, cases.len());
    served.stop();
    assert_eq!(
        common::db_digest_except(&p.db(), &["meta"]),
        before,
        "a refused request changed the database"
    );
}

/// (a signal report's fields over a good one, the path the refusal must name) for signal ingest:
/// custom counters and the other nested evidence that only applications send.
fn ingest_path_cases() -> Vec<(Value, &'static str)> {
    vec![
        (
            json!({"custom": {"refunds": {"events": "3", "trials": 10}}}),
            "signals[0].custom.refunds.events",
        ),
        (
            json!({"custom": {"refunds": {"events": 3}}}),
            "signals[0].custom.refunds",
        ),
        (
            json!({"custom": {"refunds": 3}}),
            "signals[0].custom.refunds",
        ),
        (
            json!({"custom": {"refunds": {"events": 3, "trials": 10, "rate": 0.3}}}),
            "signals[0].custom.refunds.rate",
        ),
        (json!({"custom": ["refunds"]}), "signals[0].custom"),
        (
            json!({"eval_scores": [0.5, "high"]}),
            "signals[0].eval_scores[1]",
        ),
        (json!({"arm": 2}), "signals[0].arm"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_nested_signals_name_their_path_and_change_nothing() {
    let p = project_with_a_rollout().await;
    let served = p.serve();
    // The controller renews its lease in `meta` every second: bookkeeping, not a change.
    let before = common::db_digest_except(&p.db(), &["meta"]);
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let mut failures = Vec::new();
    let cases = ingest_path_cases();
    for (fields, path) in &cases {
        let mut report =
            json!({"flag": "pay", "arm": "canary", "exposures": 10, "requests": 10, "errors": 1});
        report
            .as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        let body = json!({"batch_id": "b1", "environment": "development", "signals": [report]});
        let res = http
            .post(format!("{}/api/v1/signals", served.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let json: Value = res.json().await.unwrap_or(Value::Null);
        if status != 400 || json["error"]["field"] != *path {
            failures.push(format!(
                "POST /api/v1/signals {}: expected 400 naming {path:?}, got {status} {json}",
                truncate(fields)
            ));
        }
    }
    all_passed(&failures, cases.len());
    served.stop();
    assert_eq!(
        common::db_digest_except(&p.db(), &["meta"]),
        before,
        "a refused report changed the database"
    );
}

/// (CLI arguments, a fragment stderr must contain)
fn cli_cases() -> Vec<(Vec<&'static str>, &'static str)> {
    vec![
        (vec!["approve", "999", "--yes"], "999"),
        (vec!["approve", "abc"], "invalid value"),
        (vec!["reject", "1"], "--reason"),
        (
            vec![
                "rollback", "pay", "--env", "nowhere", "--reason", "r", "--yes",
            ],
            "nowhere",
        ),
        (
            vec![
                "rollback",
                "nope",
                "--env",
                "production",
                "--reason",
                "r",
                "--yes",
            ],
            "nope",
        ),
        (
            vec![
                "rollback",
                "bad key",
                "--env",
                "production",
                "--reason",
                "r",
                "--yes",
            ],
            "key",
        ),
        (
            vec![
                "eval",
                "pay",
                "--env",
                "production",
                "--context",
                "not json",
            ],
            "context",
        ),
        (
            vec!["eval", "pay", "--env", "production", "--context", "[1]"],
            "context",
        ),
        (vec!["canary", "show", "pay", "--env", "nowhere"], "nowhere"),
        (vec!["archive", "nope", "--reason", "r", "--yes"], "nope"),
        (vec!["archive", "pay", "--reason", " ", "--yes"], "reason"),
        (
            vec![
                "break-glass",
                "--env",
                "production",
                "--reason",
                "r",
                "--for",
                "soon",
                "--yes",
            ],
            "soon",
        ),
        (
            vec![
                "break-glass",
                "--env",
                "nowhere",
                "--reason",
                "r",
                "--for",
                "1h",
                "--yes",
            ],
            "nowhere",
        ),
        (vec!["resume", "999", "--reason", "r", "--yes"], "999"),
        (vec!["abort", "999", "--reason", "r", "--yes"], "999"),
        (
            vec!["promote", "1", "--reason", "r", "--yes"],
            "break-glass",
        ),
        (vec!["flags", "show", "nope"], "nope"),
        (vec!["audit", "--limit", "many"], "invalid value"),
    ]
}

#[tokio::test]
async fn malformed_cli_commands_fail_naming_the_problem_and_change_nothing() {
    let p = project_with_a_rollout().await;
    let before = common::before(&p.db());
    let mut failures = Vec::new();
    let cases = cli_cases();
    for (args, fragment) in &cases {
        let out = p.cli(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() || !stderr.contains(fragment) {
            failures.push(format!(
                "flagwarden {args:?}: expected failure mentioning {fragment:?}, got {:?}: {stderr}",
                out.status.code()
            ));
        }
    }
    all_passed(&failures, cases.len());
    before.assert_only_refusals_recorded(&p.db());
}

/// (policy text, the line and field the error must name)
fn policy_cases() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "version = 1\n[environments.production]\nmax_auto_percnt = 25\n",
            ":3: environments.production.max_auto_percnt",
        ),
        (
            "version = 1\n[environments.production]\nmax_auto_percent = 150\n",
            ":3: environments.production.max_auto_percent",
        ),
        (
            "version = 1\n[environments.production]\nsteps = [5, 1, 100]\n",
            ":3: environments.production.steps",
        ),
        (
            "version = 1\n[environments.production]\nagent_may = [\"approve\"]\n",
            ":3: environments.production.agent_may",
        ),
        (
            "version = 1\n[environments.production]\nagent_may = [\"archive_flag\"]\n",
            ":3: environments.production.agent_may",
        ),
        (
            "version = 1\n[environments.production]\nmin_dwell = \"soon\"\n",
            ":3: environments.production.min_dwell",
        ),
        (
            "version = 1\n[environments.production]\nagent_rollback = \"sometimes\"\n",
            ":3: environments.production.agent_rollback",
        ),
        ("version = 0\n[environments.production]\n", ":1: version"),
        ("version = 1\n", "environments"),
        (
            "version = 1\n[environments.\"bad env\"]\n",
            "environments.bad env",
        ),
        (
            "version = 1\n[flags]\nlifetime_days = { feature = 3 }\n[environments.production]\n",
            ":3: flags.lifetime_days.feature",
        ),
        (
            "version = 1\n[environments.production.gate]\nalpha_promote = 0.9\n",
            ":3: environments.production.gate.alpha_promote",
        ),
        (
            "version = 1\n[[webhooks]]\nurl = \"ftp://x\"\n[environments.production]\n",
            "webhooks[0].url",
        ),
        (
            "version = 1\n[environments.production]\nconfirm_in_client = \"sometimes\"\n",
            ":3: environments.production.confirm_in_client: unknown level \"sometimes\": use \"none\", \"reduce_only\" or \"all\"",
        ),
        (
            "version = 1\n[environments.production]\nconfirm_in_client = 1\n",
            ":3: environments.production.confirm_in_client: unknown level 1",
        ),
        (
            "version = 1\n[environments.production]\n[environments.production.telemetry]\ntask_success_attribute = \"app task\"\n",
            ":4: environments.production.telemetry.task_success_attribute: \"app task\" is not an attribute name",
        ),
        (
            "version = 1\n[environments.production]\n[environments.production.telemetry]\nsafety_attribute = \"x\"\n",
            ":4: environments.production.telemetry.safety_attribute",
        ),
        ("version = 1\n[environments.production\n", ":2:"),
    ]
}

#[tokio::test]
async fn malformed_policy_files_are_refused_with_line_and_field_and_nothing_runs() {
    let p = project_with_a_rollout().await;
    let before = common::db_digest(&p.db());
    let mut failures = Vec::new();
    let cases = policy_cases();
    for (text, fragment) in &cases {
        let bad = p.path().join("bad.toml");
        std::fs::write(&bad, text).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_flagwarden"))
            .arg("--policy")
            .arg(&bad)
            .arg("--db")
            .arg(p.db())
            .args([
                "rollback",
                "pay",
                "--env",
                "development",
                "--reason",
                "r",
                "--yes",
            ])
            .env("FLAGWARDEN_HUMAN", "alice")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() || !stderr.contains(fragment) || !stderr.contains("bad.toml") {
            failures.push(format!(
                "{text:?}: expected a refusal naming bad.toml and {fragment:?}, got: {stderr}"
            ));
        }
    }
    all_passed(&failures, cases.len());
    assert_eq!(
        common::db_digest(&p.db()),
        before,
        "a command ran on a half-read policy"
    );
}

#[test]
fn the_catalogue_holds_at_least_100_malformed_inputs() {
    let total = cases().len()
        + http_cases().len()
        + ingest_path_cases().len()
        + cli_cases().len()
        + policy_cases().len();
    assert!(total >= 100, "{total} cases");
}

/// A policy denial (an error) and an approval request (a success that changed nothing) both say so,
/// with the rule and the way forward, in the first words of their structured content.
#[tokio::test]
async fn policy_refusals_open_with_their_rule() {
    let p = Project::new(TEST_POLICY);
    let agent = p.connect("codex-mcp-client").await;
    agent.create_flag("base").await;
    let jump = json!({"key": "base", "environment": "production", "candidate_variant": "on", "steps": [5, 80, 100], "reason": "r"});
    structured_refusal(&agent, "start_canary", &jump, "denied by production.")
        .await
        .unwrap();

    let start = json!({"key": "base", "environment": "production", "candidate_variant": "on", "reason": "r"});
    agent.call("start_canary", start).await.ok();
    for arm in ["canary", "control"] {
        agent.call("record_signals", json!({"key": "base", "environment": "production", "arm": arm, "requests": 400, "errors": 2, "reason": "load"})).await.ok();
    }
    let advance = json!({"key": "base", "environment": "production", "reason": "healthy"});
    agent.call("advance_canary", advance.clone()).await.ok();
    let gated = agent.call("advance_canary", advance).await.ok();
    let shown = gated.to_string();
    assert!(
        shown.starts_with(
            r#"{"decision":{"result":"needs_approval","rule":"production.max_auto_percent","message":"#
        ),
        "{shown}"
    );
    // The way forward follows at once: the summary, the second field, names the command.
    let after_decision = shown.split_once(r#"},"summary":""#).map(|(_, s)| s);
    assert!(
        after_decision.is_some_and(|s| s.contains("flagwarden approve")),
        "{shown}"
    );
    agent.close().await;
}
