//! `flagwarden serve` as a real process on 127.0.0.1: agents over MCP streamable HTTP (rmcp's client),
//! applications over OFREP and signal ingest (reqwest), the change stream, tokens, roles, Host and
//! Origin checks, limits and metrics.

mod common;

use std::time::{Duration, Instant};

use common::{Project, Served, TEST_POLICY, connect_http};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn post(url: &str, body: Value, headers: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut req = http().post(url).json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A GET with the given headers, answered in full.
async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = http().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request")
}

/// A bulk OFREP evaluation, conditional on `etag` when given.
async fn bulk(s: &Served, body: &Value, etag: Option<&str>) -> reqwest::Response {
    let mut req = http()
        .post(format!("{}/ofrep/v1/evaluate/flags", s.url))
        .json(body);
    if let Some(t) = etag {
        req = req.header("If-None-Match", t);
    }
    req.send().await.expect("request")
}

async fn ofrep(s: &Served, key: &str, context: Value) -> (StatusCode, Value) {
    post(
        &format!("{}/ofrep/v1/evaluate/flags/{key}", s.url),
        json!({ "context": context }),
        &[],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_evaluate_what_agents_configure() {
    let p = Project::new(TEST_POLICY);
    let s = p.serve();
    let agent = connect_http(&s.url, "http-agent", None).await;
    agent.call("create_flag", json!({"key": "dark-mode", "description": "dark theme", "change_type": "code", "reason": "test"})).await.ok();
    agent.call("set_targeting", json!({"key": "dark-mode", "environment": "development", "reason": "internal, then half",
        "rules": [
            {"name": "internal", "conditions": [{"attribute": "email", "op": "ends_with", "values": ["@corp.com"]}], "serve": {"variant": "on"}},
            {"name": "half", "conditions": [], "serve": {"split": [{"variant": "on", "percent": 50}, {"variant": "off", "percent": 50}]}}
        ]})).await.ok();
    agent.call("create_flag", json!({"key": "greeting", "description": "copy", "change_type": "config", "reason": "test",
        "variants": {"formal": "Good day", "casual": "Hey"}, "off_variant": "formal", "default_variant": "casual"})).await.ok();
    agent
        .call(
            "set_targeting",
            json!({"key": "greeting", "environment": "development", "rules": [], "reason": "on"}),
        )
        .await
        .ok();

    let (status, body) = ofrep(
        &s,
        "dark-mode",
        json!({"targetingKey": "u-1", "email": "ana@corp.com"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["key"], "dark-mode");
    assert_eq!(body["value"], true);
    assert_eq!(body["variant"], "on");
    assert_eq!(body["reason"], "TARGETING_MATCH");
    assert_eq!(body["metadata"]["environment"], "development");

    // The split is sticky and about even, and OFREP agrees with the MCP tool for every key.
    let mut on = 0;
    for i in 0..400 {
        let ctx = json!({"targetingKey": format!("user-{i}")});
        let (_, b) = ofrep(&s, "dark-mode", ctx.clone()).await;
        assert_eq!(b["reason"], "SPLIT");
        if i % 40 == 0 {
            let e = agent
                .call(
                    "evaluate_flag",
                    json!({"key": "dark-mode", "environment": "development", "context": ctx}),
                )
                .await
                .ok();
            assert_eq!(e["value"], b["value"], "user-{i}");
        }
        on += (b["value"] == true) as u32;
    }
    assert!((160..=240).contains(&on), "{on} of 400 on a 50% split");

    let (status, body) = ofrep(&s, "greeting", json!({})).await;
    assert_eq!(
        (status, &body["value"]),
        (StatusCode::OK, &json!("Hey")),
        "{body}"
    );

    // OFREP's error statuses and codes.
    let (status, body) = ofrep(&s, "no-such-flag", json!({"targetingKey": "u"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"key": "no-such-flag", "errorCode": "FLAG_NOT_FOUND", "errorDetails": "flag not found"})
    );
    let (status, body) = ofrep(&s, "dark-mode", json!({"email": "x@y.z"})).await;
    assert_eq!(
        (status, &body["errorCode"]),
        (StatusCode::BAD_REQUEST, &json!("TARGETING_KEY_MISSING"))
    );
    let (status, body) = ofrep(&s, "dark-mode", json!({"targetingKey": 7})).await;
    assert_eq!(
        (status, &body["errorCode"]),
        (StatusCode::BAD_REQUEST, &json!("INVALID_CONTEXT"))
    );

    // The environment comes from the header; production is still off.
    let (status, body) = post(
        &format!("{}/ofrep/v1/evaluate/flags/dark-mode", s.url),
        json!({"context": {"targetingKey": "u-1", "email": "ana@corp.com"}}),
        &[("X-Flagwarden-Environment", "production")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&body["value"], &body["metadata"]["environment"]),
        (&json!(false), &json!("production"))
    );
    let (status, body) = post(
        &format!("{}/ofrep/v1/evaluate/flags/dark-mode", s.url),
        json!({"context": {"targetingKey": "u"}}),
        &[("X-Flagwarden-Environment", "moon")],
    )
    .await;
    assert_eq!(
        (status, &body["errorCode"]),
        (StatusCode::BAD_REQUEST, &json!("GENERAL")),
        "{body}"
    );
    assert!(body["errorDetails"].as_str().unwrap().contains("moon"));

    // Bulk: every flag, an ETag, 304 while nothing changed, a new ETag after a change.
    let ctx = json!({"context": {"targetingKey": "u-1", "email": "ana@corp.com"}});
    let res = bulk(&s, &ctx, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    let flags = body["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 2);
    assert_eq!(flags[0]["key"], "dark-mode");
    assert_eq!(flags[1]["value"], "Hey");
    assert_eq!(body["eventStreams"][0]["type"], "sse");
    assert_eq!(
        body["eventStreams"][0]["endpoint"]["requestUri"],
        "/api/v1/stream?environment=development"
    );
    let again = bulk(&s, &ctx, Some(&etag)).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().await.unwrap().is_empty());
    let other = json!({"context": {"targetingKey": "u-2"}});
    let res = bulk(&s, &other, Some(&etag)).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "another context's answer is not that one"
    );
    agent.call("set_targeting", json!({"key": "greeting", "environment": "development", "rules": [], "default_variant": "formal", "reason": "formal"})).await.ok();
    let changed = bulk(&s, &ctx, Some(&etag)).await;
    assert_eq!(
        changed.status(),
        StatusCode::OK,
        "a change is visible to the next request"
    );
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);

    // Evaluations are counted in memory, shown in /metrics, and flushed when the server stops.
    let metrics = get(&format!("{}/metrics", s.url), &[])
        .await
        .text()
        .await
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("flagwarden_evaluations_total{flag=\"dark-mode\",environment=\"development\",variant=\"on\"}"))
        .unwrap_or_else(|| panic!("no evaluation counter in\n{metrics}"));
    let counted: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(counted > on as u64, "{line}");
    assert!(
        metrics
            .contains("flagwarden_http_requests_total{route=\"ofrep_evaluate\",status=\"404\"} 1"),
        "{metrics}"
    );
    agent.close().await;
    assert!(s.stop().success());
    let shown: Value =
        serde_json::from_str(&p.cli_ok(&["flags", "--json", "show", "dark-mode"])).unwrap();
    let dev = shown["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["environment"] == "development")
        .unwrap();
    let stored = dev["evaluations"]["on"]
        .as_u64()
        .unwrap_or_else(|| panic!("{dev}"));
    assert_eq!(stored, counted, "counts survive a clean stop: {shown}");
}

/// Starts a canary on `key` in development through MCP over HTTP.
async fn canary(s: &Served, key: &str) -> common::Client {
    let agent = connect_http(&s.url, "canary-agent", None).await;
    agent
        .call(
            "create_flag",
            json!({"key": key, "description": "d", "change_type": "code", "reason": "t"}),
        )
        .await
        .ok();
    agent.call("start_canary", json!({"key": key, "environment": "development", "candidate_variant": "on", "reason": "canary"})).await.ok();
    agent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_batches_count_once() {
    let p = Project::new(TEST_POLICY);
    let s = p.serve();
    let agent = canary(&s, "checkout").await;
    let url = format!("{}/api/v1/signals", s.url);
    let batch = json!({"batch_id": "b-1", "signals": [
        {"flag": "checkout", "arm": "canary", "exposures": 50, "requests": 100, "errors": 2,
         "latency_ms": {"25": 90, "100": 9, "+Inf": 1}, "eval_scores": [0.9, 0.8, 0.4]},
        {"flag": "checkout", "arm": "control", "requests": 100, "errors": 1,
         "custom": {"refunds": {"events": 1, "trials": 40}}},
        {"flag": "checkout", "arm": "canary", "requests": 10, "task_attempts": 4, "task_successes": 3,
         "custom": {"refunds": {"events": 3, "trials": 40}}}
    ]});
    let ctx = json!({"context": {"targetingKey": "u-1"}});
    let etag = bulk(&s, &ctx, None).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let (status, first) = post(&url, batch.clone(), &[]).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let res = bulk(&s, &ctx, Some(&etag)).await;
    assert_eq!(
        res.status(),
        StatusCode::NOT_MODIFIED,
        "evidence changes no answer, so cached answers stay valid"
    );
    assert_eq!(first["accepted"], 3);
    assert_eq!(first["environment"], "development");
    let canary_totals = &first["rollouts"][0]["totals"];
    assert_eq!(
        (
            canary_totals["requests"].as_u64(),
            canary_totals["errors"].as_u64()
        ),
        (Some(110), Some(2))
    );
    let (status, replay) = post(&url, batch.clone(), &[]).await;
    assert_eq!(
        (status, &replay),
        (StatusCode::OK, &first),
        "a retried batch returns the first answer"
    );
    let st = agent
        .call(
            "canary_status",
            json!({"key": "checkout", "environment": "development"}),
        )
        .await
        .ok();
    assert_eq!(st["canary"]["requests"], 110, "counted once: {st}");
    assert_eq!(
        st["canary"]["latency_ms"],
        json!({"25": 90, "100": 9, "+Inf": 1})
    );
    assert_eq!(st["canary"]["latency_p95_ms"], 100);
    assert_eq!(st["canary"]["eval_scores"], 3);
    assert_eq!(
        st["canary"]["custom"]["refunds"],
        json!({"events": 3, "trials": 40})
    );
    // The gate reads what the batch sent, custom counters included, per arm.
    let gate_metrics = st["gate"]["metrics"].as_array().unwrap();
    let eval = gate_metrics
        .iter()
        .find(|m| m["metric"] == "eval_score")
        .unwrap();
    assert_eq!(
        (eval["canary"]["n"].as_u64(), eval["control"]["n"].as_u64()),
        (Some(3), Some(0))
    );
    assert!(
        (st["canary"]["eval_score_mean"].as_f64().unwrap() - 0.7).abs() < 1e-9,
        "{st}"
    );
    assert!(st["control"].get("latency_ms").is_none(), "{st}");
    assert_eq!(st["control"]["requests"], 100);

    let mut changed = batch.clone();
    changed["signals"][0]["errors"] = json!(3);
    let (status, body) = post(&url, changed, &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["field"], "batch_id");

    // A bad report anywhere in a batch stores nothing of it.
    let audit_before = agent.call("audit_log", json!({"limit": 500})).await.ok()["events"]
        .as_array()
        .unwrap()
        .len();
    for (bad, field) in [
        (
            json!({"batch_id": "b-2", "signals": [{"flag": "checkout", "arm": "canary", "requests": 5}, {"flag": "nope", "arm": "canary", "requests": 5}]}),
            "signals[1].flag",
        ),
        (
            json!({"batch_id": "b-3", "signals": [{"flag": "checkout", "arm": "canary", "requests": 1, "errors": 2}]}),
            "signals[0].errors",
        ),
        (
            json!({"batch_id": "b-4", "signals": [{"flag": "checkout", "arm": "canary", "requests": "many"}]}),
            "signals[0].requests",
        ),
        (
            json!({"batch_id": "b-5", "signals": [{"flag": "checkout", "arm": "sideways", "requests": 1}]}),
            "signals[0].arm",
        ),
        (
            json!({"batch_id": "b-6", "signals": [{"flag": "checkout", "arm": "canary", "eval_scores": [0.5, 2]}]}),
            "signals[0].eval_scores[1]",
        ),
        (
            json!({"batch_id": "b-7", "signals": [{"flag": "checkout", "arm": "canary", "latency_ms": {"7": 1}}]}),
            "signals[0].latency_ms",
        ),
        (
            json!({"batch_id": "b-8", "signals": [{"flag": "checkout", "arm": "canary", "requets": 1}]}),
            "signals[0].requets",
        ),
        (
            json!({"batch_id": "b-9", "signals": [{"flag": "checkout", "arm": "excluded", "requests": 1}]}),
            "signals[0].arm",
        ),
        (
            json!({"batch_id": "", "signals": [{"flag": "checkout", "arm": "canary", "requests": 1}]}),
            "batch_id",
        ),
        (
            json!({"batch_id": "b-12", "signals": [{"flag": "checkout", "arm": "canary", "custom": {"refunds": {"events": 5, "trials": 2}}}]}),
            "signals[0].custom.refunds",
        ),
        (
            json!({"batch_id": "b-13", "signals": [{"flag": "checkout", "arm": "canary", "custom": {"Refunds!": {"events": 1, "trials": 2}}}]}),
            "signals[0].custom.Refunds!",
        ),
        (json!({"batch_id": "b-10", "signals": []}), "signals"),
        (
            json!({"signals": [{"flag": "checkout", "arm": "canary", "requests": 1}]}),
            "body",
        ),
        (
            json!({"batch_id": "b-11", "environment": "moon", "signals": [{"flag": "checkout", "arm": "canary", "requests": 1}]}),
            "environment",
        ),
    ] {
        let (status, body) = post(&url, bad.clone(), &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} -> {body}");
        assert_eq!(body["error"]["field"], field, "{bad} -> {body}");
    }
    let st2 = agent
        .call(
            "canary_status",
            json!({"key": "checkout", "environment": "development"}),
        )
        .await
        .ok();
    assert_eq!(st2["canary"], st["canary"]);
    let audit_after = agent.call("audit_log", json!({"limit": 500})).await.ok()["events"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(audit_before, audit_after);
    agent.close().await;
}

/// Reads server-sent events from `res` until `n` have arrived.
async fn read_events(res: &mut reqwest::Response, n: usize) -> Vec<(i64, Value)> {
    let mut out = Vec::new();
    let mut buf = String::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(5), res.chunk())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .expect("stream open");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let id = block
                .lines()
                .find_map(|l| l.strip_prefix("id: "))
                .map(|v| v.parse().unwrap());
            let data = block.lines().find_map(|l| l.strip_prefix("data: "));
            if let (Some(id), Some(data)) = (id, data) {
                out.push((id, serde_json::from_str(data).unwrap()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_reaches_stream_subscribers_and_resumes() {
    let p = Project::new(TEST_POLICY);
    let s = p.serve();
    let agent = canary(&s, "search").await;
    let mut stream = get(
        &format!("{}/api/v1/stream?environment=development", s.url),
        &[],
    )
    .await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let t = Instant::now();
    agent
        .call(
            "rollback",
            json!({"key": "search", "environment": "development", "reason": "errors up"}),
        )
        .await
        .ok();
    let returned = t.elapsed();
    let events = read_events(&mut stream, 1).await;
    eprintln!("rollback call {returned:?}, event after {:?}", t.elapsed());
    let (rollback_id, e) = &events[0];
    assert_eq!(e["type"], "refetchEvaluation");
    assert_eq!(
        (e["flag"].as_str(), e["action"].as_str()),
        (Some("search"), Some("rollback"))
    );

    // A change the CLI commits from another process reaches the stream too.
    p.cli_ok(&[
        "rollback",
        "search",
        "--env",
        "development",
        "--reason",
        "again",
        "--yes",
    ]);
    agent
        .call(
            "set_targeting",
            json!({"key": "search", "environment": "production", "rules": [], "reason": "prod on"}),
        )
        .await
        .ok();
    agent
        .call(
            "set_targeting",
            json!({"key": "search", "environment": "development", "rules": [], "reason": "dev on"}),
        )
        .await
        .ok();
    let more = read_events(&mut stream, 1).await;
    assert!(more[0].0 > *rollback_id);
    assert_eq!(
        more[0].1["environment"], "development",
        "the production change is filtered out"
    );
    drop(stream);

    // Resume after the rollback: the later development changes are replayed, in order.
    let mut resumed = get(
        &format!("{}/api/v1/stream?environment=development", s.url),
        &[("Last-Event-ID", &rollback_id.to_string())],
    )
    .await;
    let replay = read_events(&mut resumed, 1).await;
    assert!(replay[0].0 > *rollback_id);
    assert!(replay.windows(2).all(|w| w[0].0 < w[1].0));
    // An id from the future (a store restored from a backup) resumes from now instead of muting.
    let mut future = get(
        &format!("{}/api/v1/stream", s.url),
        &[("Last-Event-ID", "999999")],
    )
    .await;
    agent
        .call(
            "set_targeting",
            json!({"key": "search", "environment": "development", "rules": [], "reason": "again"}),
        )
        .await
        .ok();
    assert!(read_events(&mut future, 1).await[0].0 < 999_999);
    let bad = get(
        &format!("{}/api/v1/stream", s.url),
        &[("Last-Event-ID", "yesterday")],
    )
    .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    agent.close().await;
}

const AGENT: &str = "fw_agent_secret_000000000000";
const HUMAN: &str = "fw_human_secret_000000000000";
const SDK: &str = "fw_sdk_secret_00000000000000";
const INGEST: &str = "fw_ingest_secret_00000000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_bound_every_role() {
    let p = Project::new(TEST_POLICY);
    let tokens = format!(
        "agent:claude={AGENT},human:alice-token={HUMAN},sdk:web@development={SDK},ingest:collector@development={INGEST}"
    );
    let s = p.serve_with(&[], &[("FLAGWARDEN_TOKENS", &tokens)]);
    let bearer = |t: &str| format!("Bearer {t}");
    let eval = format!("{}/ofrep/v1/evaluate/flags/x", s.url);
    let ctx = json!({"context": {"targetingKey": "u"}});

    let res = http().post(&eval).json(&ctx).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let (status, _) = post(
        &eval,
        ctx.clone(),
        &[("Authorization", "Bearer fw_wrong_wrong_wrong_wrong")],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = post(&eval, ctx.clone(), &[("Authorization", &bearer(SDK))]).await;
    assert_eq!(
        (status, &body["errorCode"]),
        (StatusCode::NOT_FOUND, &json!("FLAG_NOT_FOUND"))
    );
    let (status, _) = post(&eval, ctx.clone(), &[("Authorization", &bearer(INGEST))]).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "ingest tokens do not read flags"
    );
    let (status, body) = post(
        &eval,
        ctx.clone(),
        &[
            ("Authorization", &bearer(SDK)),
            ("X-Flagwarden-Environment", "production"),
        ],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "an sdk token stays in its environment: {body}"
    );
    let health = get(&format!("{}/healthz", s.url), &[]).await;
    assert_eq!(health.status(), StatusCode::OK, "health needs no token");
    for t in [SDK, INGEST] {
        let (status, _) = post(
            &format!("{}/mcp", s.url),
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
            &[("Authorization", &bearer(t))],
        )
        .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "no MCP for application tokens"
        );
    }

    // The agent works under its token's name; what it may not do waits for a human token.
    let agent = connect_http(&s.url, "claims-to-be-alice", Some(AGENT)).await;
    agent
        .call(
            "create_flag",
            json!({"key": "pay", "description": "d", "change_type": "code", "reason": "t"}),
        )
        .await
        .ok();
    agent.call("start_canary", json!({"key": "pay", "environment": "production", "candidate_variant": "on", "reason": "c"})).await.ok();
    agent
        .call(
            "set_targeting",
            json!({"key": "pay", "environment": "development", "rules": [], "reason": "dev"}),
        )
        .await
        .ok();
    let (status, _) = post(
        &format!("{}/api/v1/signals", s.url),
        json!({"batch_id": "x", "signals": [{"flag": "pay", "arm": "canary", "requests": 1}]}),
        &[("Authorization", &bearer(AGENT))],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "agents do not report application evidence"
    );
    let proposal = agent
        .call(
            "rollback",
            json!({"key": "pay", "environment": "production", "reason": "looks off"}),
        )
        .await
        .ok();
    assert_eq!(
        proposal["decision"]["result"], "needs_approval",
        "{proposal}"
    );
    let approvals = format!("{}/api/v1/approvals", s.url);
    for t in [AGENT, SDK, INGEST] {
        let res = get(&approvals, &[("Authorization", &format!("Bearer {t}"))]).await;
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "only a human token sees approvals"
        );
    }
    let pending: Value = get(&approvals, &[("Authorization", &format!("Bearer {HUMAN}"))])
        .await
        .json()
        .await
        .unwrap();
    let id = pending["approvals"][0]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{pending}"));
    let (status, _) = post(
        &format!("{approvals}/{id}/approve"),
        json!({"reason": "yes"}),
        &[("Authorization", &bearer(AGENT))],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "an agent token cannot approve"
    );
    let human = [("Authorization", bearer(HUMAN))];
    let human: Vec<(&str, &str)> = human.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for (path, body, want) in [
        (
            format!("{approvals}/seven/approve"),
            json!({}),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{approvals}/{id}/maybe"),
            json!({}),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("{approvals}/{id}/approve"),
            json!({"reson": "typo"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{approvals}/{id}/approve"),
            json!({"reason": 5}),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{approvals}/999/approve"),
            json!({"reason": "x"}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, body) = post(&path, body, &human).await;
        assert_eq!(status, want, "{path}: {body}");
        assert!(body["error"]["message"].is_string(), "{path}: {body}");
    }
    let res = get(&format!("{}/metrics", s.url), &[]).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "metrics need a token"
    );
    let res = get(
        &format!("{}/api/v1/stream?environment=production", s.url),
        &[("Authorization", &format!("Bearer {SDK}"))],
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "an sdk token hears only its environment"
    );
    let res = get(
        &format!("{}/api/v1/stream?environment=moon", s.url),
        &[("Authorization", &format!("Bearer {HUMAN}"))],
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = get(
        &format!("{}/api/v1/stream?env=development", s.url),
        &[("Authorization", &format!("Bearer {HUMAN}"))],
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "unknown query parameters are named"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["field"], "query");
    // OFREP providers may send the token as X-API-Key, and the scheme in any case.
    let (status, _) = post(&eval, ctx.clone(), &[("X-API-Key", SDK)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(
        &eval,
        ctx.clone(),
        &[("Authorization", &format!("bearer {SDK}"))],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, done) = post(
        &format!("{approvals}/{id}/approve"),
        json!({"reason": "confirmed"}),
        &human,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["executed"], true);

    // Ingest with its own token, in its own environment.
    let (status, body) = post(
        &format!("{}/api/v1/signals", s.url),
        json!({"batch_id": "x", "signals": [{"flag": "pay", "arm": "canary", "requests": 1}]}),
        &[("Authorization", &bearer(INGEST))],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "no rollout runs in development: {body}"
    );

    let log = agent.call("audit_log", json!({"key": "pay"})).await.ok();
    let actors: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert!(actors.contains(&"agent:claude"), "{actors:?}");
    assert!(actors.contains(&"human:alice-token"), "{actors:?}");
    assert!(
        !actors.iter().any(|a| a.contains("claims-to-be-alice")),
        "{actors:?}"
    );
    agent.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_change_nothing() {
    let p = Project::new(TEST_POLICY);
    p.cli_ok(&["flags", "--json"]); // creates the store
    let s = p.serve();
    // The controller renews its lease in `meta` every second: bookkeeping, not a change.
    let before = common::db_digest_except(&p.db(), &["meta"]);
    let url = &s.url;
    let raw = |path: &str, body: &'static [u8]| {
        http()
            .post(format!("{url}{path}"))
            .header("content-type", "application/json")
            .body(body)
    };
    // Wrong Host (DNS rebinding) and foreign Origin, on every kind of endpoint.
    for path in ["/ofrep/v1/evaluate/flags/x", "/api/v1/signals", "/mcp"] {
        let res = raw(path, b"{}")
            .header("Host", "evil.example:7070")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path} Host");
        let res = raw(path, b"{}")
            .header("Origin", "http://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path} Origin");
    }
    let res = raw("/ofrep/v1/evaluate/flags", b"{}")
        .header("Origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "a local page may read flags");
    let res = get(&format!("{url}/ofrep/v1/evaluate/flags"), &[]).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "method_not_allowed"
    );

    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "/ofrep/v1/evaluate/flags/x",
            b"{not json".to_vec(),
            StatusCode::BAD_REQUEST,
            "PARSE_ERROR",
        ),
        (
            "/ofrep/v1/evaluate/flags/x",
            b"[1,2]".to_vec(),
            StatusCode::BAD_REQUEST,
            "PARSE_ERROR",
        ),
        (
            "/ofrep/v1/evaluate/flags/x",
            br#"{"context": "user-1"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "PARSE_ERROR",
        ),
        (
            "/ofrep/v1/evaluate/flags",
            br#"{"context": {"targetingKey": ["a"]}}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "INVALID_CONTEXT",
        ),
        (
            "/ofrep/v1/evaluate/flags/x",
            format!(r#"{{"context": {{"k": "{}"}}}}"#, "a".repeat(70_000)).into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "GENERAL",
        ),
        (
            "/api/v1/signals",
            b"{oops".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/api/v1/signals",
            br#"{"batch_id": 5, "signals": []}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/api/v1/signals",
            vec![b' '; 3 * 1024 * 1024],
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
        ),
        (
            "/api/v1/nothing",
            b"{}".to_vec(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (path, body, want, code) in cases {
        let res = http()
            .post(format!("{url}{path}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res
            .json()
            .await
            .unwrap_or_else(|e| panic!("{path}: JSON error body expected: {e}"));
        assert_eq!(status, want, "{path}: {body}");
        let got = body["errorCode"]
            .as_str()
            .or(body["error"]["code"].as_str());
        assert_eq!(got, Some(code), "{path}: {body}");
    }
    // MCP's own limit and errors come from rmcp, still refused.
    let res = http()
        .post(format!("{url}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    drop(s);
    assert_eq!(
        common::db_digest_except(&p.db(), &["meta"]),
        before,
        "bad requests changed the store"
    );

    // Without tokens only loopback is served.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flagwarden"))
        .arg("--policy")
        .arg(p.policy())
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env_remove("FLAGWARDEN_TOKENS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to serve on 0.0.0.0:0 without tokens"),
        "{err}"
    );
}
