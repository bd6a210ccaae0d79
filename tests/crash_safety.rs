//! Crash safety: `flagwarden serve` as a real process, a stream of mutating calls over HTTP MCP and
//! signal ingest, and SIGKILL at a random moment, many times over on the same store. After every
//! restart: every acknowledged call is there (its audit event, and an idempotent replay answers the
//! same), nothing is half-applied (every flag and rollout row has the audit event that made it, and
//! each allowed create or start made its row), the audit chain verifies, SQLite's integrity check
//! passes, and every rollout is in a legal state.
//!
//! `FLAGWARDEN_CRASH_ROUNDS` sets the number of kills (default 12; scripts/soak.sh runs 200).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::policies::DEVELOPMENT_POLICY as POLICY;
use common::{Project, connect_http};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

/// A call the server answered: what the store must hold from now on.
#[derive(Debug, Clone)]
struct Ack {
    tool: String,
    args: Value,
    answer: Value,
}

fn rounds() -> usize {
    std::env::var("FLAGWARDEN_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12)
}

/// Runs mutating calls until the server dies; returns what it acknowledged.
async fn drive(client: common::Client, url: String, round: usize, seed: u64) -> Vec<Ack> {
    let mut acks = Vec::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for i in 0.. {
        let key = format!("r{round}-f{}", i / 6);
        let (tool, args) = match i % 6 {
            0 => (
                "create_flag",
                json!({"key": key, "description": "crash test", "change_type": "code", "reason": "r", "idempotency_key": format!("create-{key}")}),
            ),
            1 => (
                "set_targeting",
                json!({"key": key, "environment": "development", "rules": [{"conditions": [{"attribute": "plan", "op": "equals", "values": ["pro"]}], "serve": {"variant": "on"}}], "enabled": true, "reason": "r"}),
            ),
            2 => (
                "start_canary",
                json!({"key": key, "environment": "development", "candidate_variant": "on", "reason": "r", "idempotency_key": format!("start-{key}")}),
            ),
            3 => {
                let batch = json!({"batch_id": format!("b-{key}"), "environment": "development", "signals": [
                    {"flag": key, "arm": "canary", "exposures": 50, "requests": 50, "errors": rng.random_range(0..3)},
                    {"flag": key, "arm": "control", "exposures": 50, "requests": 50, "errors": 1}]});
                match http
                    .post(format!("{url}/api/v1/signals"))
                    .json(&batch)
                    .send()
                    .await
                {
                    Ok(res) if res.status().is_success() => {
                        let answer: Value = res.json().await.unwrap_or(Value::Null);
                        if answer.is_object() {
                            acks.push(Ack {
                                tool: "ingest".into(),
                                args: batch,
                                answer,
                            });
                        }
                        continue;
                    }
                    _ => return acks,
                }
            }
            4 => (
                "advance_canary",
                json!({"key": key, "environment": "development", "reason": "r"}),
            ),
            _ => (
                "rollback",
                json!({"key": key, "environment": "development", "reason": "r"}),
            ),
        };
        let call = client.try_call(tool, args.clone());
        match tokio::time::timeout(Duration::from_secs(5), call).await {
            Ok(Ok(common::Answer::Ok(answer))) => acks.push(Ack {
                tool: tool.into(),
                args,
                answer,
            }),
            Ok(Ok(common::Answer::Err(_))) => {}
            Ok(Err(_)) | Err(_) => return acks,
        }
    }
    acks
}

fn rows(conn: &rusqlite::Connection, sql: &str) -> Vec<Vec<String>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        (0..n)
            .map(|i| {
                let v: rusqlite::types::Value = r.get(i)?;
                Ok(match v {
                    rusqlite::types::Value::Null => String::new(),
                    rusqlite::types::Value::Integer(x) => x.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    other => format!("{other:?}"),
                })
            })
            .collect()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Everything that must hold after a crash and a restart.
fn check_store(p: &Project, acks: &[Ack]) {
    let verify = p.cli(&["audit", "--verify"]);
    assert!(
        verify.status.success(),
        "audit chain: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let conn = rusqlite::Connection::open(p.db()).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");

    // Every acknowledged call left its audit event, with the action and flag it answered for.
    let events: BTreeSet<(i64, String, String)> = rows(
        &conn,
        "SELECT seq, action, coalesce(flag_key, '') FROM audit_events",
    )
    .into_iter()
    .map(|r| (r[0].parse().unwrap(), r[1].clone(), r[2].clone()))
    .collect();
    for ack in acks {
        let seq = ack.answer["audit_seq"]
            .as_i64()
            .unwrap_or_else(|| panic!("{} answered without audit_seq: {}", ack.tool, ack.answer));
        let flag = ack.args["key"].as_str().unwrap_or("");
        let action = if ack.tool == "ingest" {
            "ingest_signals"
        } else {
            ack.tool.as_str()
        };
        let found = events.iter().any(|(s, a, f)| {
            *s == seq && (a == action || ack.tool == "ingest") && (flag.is_empty() || f == flag)
        });
        assert!(
            found,
            "acknowledged {} {} (audit_seq {seq}) is missing after the crash",
            ack.tool, ack.args
        );
    }

    // Nothing half-applied: a row exists exactly when its allowed event does.
    let flags: BTreeSet<String> = rows(&conn, "SELECT key FROM flags")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let created: BTreeSet<String> = rows(
        &conn,
        "SELECT flag_key FROM audit_events WHERE action = 'create_flag' AND decision = 'allow'",
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    assert_eq!(flags, created, "flags and their create events disagree");
    let rollouts: i64 = conn
        .query_row("SELECT count(*) FROM rollouts", [], |r| r.get(0))
        .unwrap();
    let started: i64 = conn
        .query_row("SELECT count(*) FROM audit_events WHERE action = 'start_canary' AND decision IN ('allow', 'needs_approval') AND rollout_id IS NOT NULL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        rollouts, started,
        "rollouts and their start events disagree"
    );
    // Legal rollout states, with a step inside the plan.
    for r in rows(
        &conn,
        "SELECT id, state, steps, coalesce(step, -1) FROM rollouts",
    ) {
        let state = &r[1];
        assert!(
            [
                "DRAFT",
                "AWAITING_APPROVAL",
                "RUNNING",
                "ROLLBACK_PENDING",
                "PAUSED",
                "COMPLETED",
                "ROLLED_BACK",
                "ABORTED"
            ]
            .contains(&state.as_str()),
            "rollout {} in unknown state {state}",
            r[0]
        );
        let steps: Vec<Value> = serde_json::from_str(&r[2]).unwrap();
        let step: i64 = r[3].parse().unwrap();
        assert!(
            step < steps.len() as i64,
            "rollout {} at step {step} of {}",
            r[0],
            steps.len()
        );
        if state == "RUNNING" {
            assert!(step >= 0, "a running rollout has a step");
        }
    }
    let active: i64 = conn
        .query_row("SELECT count(*) - count(DISTINCT flag_key || '/' || env) FROM rollouts WHERE state NOT IN ('COMPLETED', 'ROLLED_BACK', 'ABORTED')", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        active, 0,
        "at most one unfinished rollout per flag and environment"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_nothing_acknowledged_and_half_applies_nothing() {
    let p = Project::new(POLICY);
    p.cli_ok(&["flags", "--json"]);
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut all_acks: Vec<Ack> = Vec::new();
    let rounds = rounds();
    for round in 0..rounds {
        let served = p.serve();
        let client = connect_http(&served.url, "crasher", None).await;
        let driver = tokio::spawn(drive(client, served.url.clone(), round, rng.random()));
        tokio::time::sleep(Duration::from_millis(rng.random_range(30..400))).await;
        served.kill9();
        let acks = driver.await.unwrap();
        all_acks.extend(acks);
        check_store(&p, &all_acks);
    }
    assert!(
        all_acks.len() >= rounds,
        "the driver got calls through before the kills: {}",
        all_acks.len()
    );

    // An acknowledged idempotent call replays to the same answer after all the crashes.
    let served = p.serve();
    let client = connect_http(&served.url, "crasher", None).await;
    let replays: Vec<&Ack> = all_acks
        .iter()
        .filter(|a| a.args.get("idempotency_key").is_some())
        .collect();
    assert!(!replays.is_empty());
    for ack in replays.iter().take(10) {
        let again = client.call(&ack.tool, ack.args.clone()).await.ok();
        assert_eq!(again, ack.answer, "replay of {} {}", ack.tool, ack.args);
    }
    client.close().await;
    served.stop();
    eprintln!(
        "{rounds} SIGKILLs, {} acknowledged calls, all present",
        all_acks.len()
    );
}

/// The controller acting by itself (advancing with `advance = "auto"`, proposing a rollback on a
/// harmful canary) while applications' batches stream in, and SIGKILL at random points, many times
/// over on one store; each restart takes the lease over after it expires. Afterwards: every
/// acknowledged batch is there, no step was entered twice, no proposal opened twice, and the rest
/// of `check_store` holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_the_controllers_actions_repeats_none_and_loses_nothing() {
    const FLAGS: usize = 5;
    let policy = r#"
version = 1
[controller]
interval = "100ms"
debounce = "5ms"
lease = "1s"
[environments.development]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
steps = [5, 10, 25, 50, 100]
advance = "auto"
[environments.development.gate]
min_samples = 20
fresh_within = "24h"
[environments.development.gate.metrics.error_rate]
margin = 0.5
"#;
    let p = Project::new(policy);
    {
        let served = p.serve();
        let agent = connect_http(&served.url, "setup", None).await;
        for f in 0..FLAGS {
            let key = format!("c{f}");
            agent.create_flag(&key).await;
            agent
                .call("start_canary", json!({"key": key, "environment": "development", "candidate_variant": "on", "reason": "r"}))
                .await
                .ok();
        }
        agent.close().await;
        served.stop();
    }
    let mut rng = StdRng::seed_from_u64(0xc0de);
    let mut acks: Vec<Ack> = Vec::new();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut batch = 0;
    for _round in 0..rounds() {
        let served = p.serve();
        let url = served.url.clone();
        let kill_after = Duration::from_millis(rng.random_range(50..600));
        let started = std::time::Instant::now();
        while started.elapsed() < kill_after {
            batch += 1;
            let f = batch % FLAGS;
            // The last flag's canary fails: the controller proposes its rollback, once.
            let errors = if f == FLAGS - 1 { 25 } else { 0 };
            let body = json!({"batch_id": format!("k{batch}"), "environment": "development", "signals": [
                {"flag": format!("c{f}"), "arm": "canary", "exposures": 30, "requests": 30, "errors": errors},
                {"flag": format!("c{f}"), "arm": "control", "exposures": 30, "requests": 30, "errors": 0}]});
            match http
                .post(format!("{url}/api/v1/signals"))
                .json(&body)
                .send()
                .await
            {
                Ok(res) if res.status().is_success() => {
                    let answer: Value = res.json().await.unwrap();
                    acks.push(Ack {
                        tool: "ingest".into(),
                        args: body,
                        answer,
                    });
                }
                // A finished rollout takes no evidence; nothing was written.
                Ok(res) => assert_eq!(res.status(), 400),
                Err(_) => break,
            }
        }
        served.kill9();
        check_store(&p, &acks);
        check_controller(&p, FLAGS);
    }
    // A last start: the controller finishes what the evidence allows, and still repeats nothing.
    let served = p.serve();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let conn = rusqlite::Connection::open(p.db()).unwrap();
        let done: i64 = conn
            .query_row(
                "SELECT count(*) FROM rollouts WHERE state IN ('COMPLETED', 'ROLLBACK_PENDING')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if done == FLAGS as i64 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the controller did not finish after the crashes: {:?}",
            rows(&conn, "SELECT flag_key, state, step FROM rollouts")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    served.stop();
    check_store(&p, &acks);
    check_controller(&p, FLAGS);
    eprintln!(
        "{} SIGKILLs around the controller, {} acknowledged batches, all present",
        rounds(),
        acks.len()
    );
}

/// No action of the controller's was repeated: each step of each rollout entered once, at most one
/// rollback proposal per rollout, and at most one pending approval.
fn check_controller(p: &Project, flags: usize) {
    let conn = rusqlite::Connection::open(p.db()).unwrap();
    let mut entered = std::collections::BTreeMap::<(i64, String, String), usize>::new();
    for r in rows(
        &conn,
        "SELECT state_before, state_after FROM audit_events WHERE action = 'advance_canary' AND decision = 'allow'",
    ) {
        let before: Value = serde_json::from_str(&r[0]).unwrap();
        let after: Value = serde_json::from_str(&r[1]).unwrap();
        let next = &after["rollout"];
        if next["step"] != before["step"] || next["state"] != before["state"] {
            *entered
                .entry((
                    next["id"].as_i64().unwrap(),
                    next["step"].to_string(),
                    next["state"].to_string(),
                ))
                .or_default() += 1;
        }
    }
    for (k, n) in &entered {
        assert_eq!(*n, 1, "{k:?} entered {n} times");
    }
    for r in rows(
        &conn,
        "SELECT rollout_id, count(*) FROM audit_events WHERE action = 'propose_rollback' GROUP BY rollout_id",
    ) {
        assert_eq!(r[1], "1", "rollout {} proposed twice", r[0]);
    }
    for r in rows(
        &conn,
        "SELECT rollout_id, count(*) FROM approvals WHERE status = 'pending' GROUP BY rollout_id",
    ) {
        assert_eq!(r[1], "1", "rollout {} has two pending approvals", r[0]);
    }
    let rollouts: i64 = conn
        .query_row("SELECT count(*) FROM rollouts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rollouts, flags as i64, "no rollout appeared or vanished");
}

/// OTLP ingest under SIGKILL: exports of canary-arm spans stream in while `serve` is killed at a
/// random moment; after a restart every acknowledged (200) export's exposures are counted, and at
/// most the one export in flight besides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_otlp_exports_survive_sigkill() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
    use prost::Message;

    const SPANS: u64 = 50;
    let text = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    };
    let p = Project::new(POLICY);
    let s = p.serve();
    let agent = connect_http(&s.url, "otlp-crash", None).await;
    agent
        .call(
            "create_flag",
            json!({"key": "pay", "description": "d", "change_type": "code", "reason": "t"}),
        )
        .await
        .ok();
    agent.call("start_canary", json!({"key": "pay", "environment": "development", "candidate_variant": "on", "reason": "t"})).await.ok();
    agent.close().await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut canary_users = Vec::new();
    for i in 0..200 {
        let u = format!("user-{i}");
        let r: Value = http
            .post(format!("{}/ofrep/v1/evaluate/flags/pay", s.url))
            .json(&json!({"context": {"targetingKey": u}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if r["variant"] == "on" {
            canary_users.push(u);
        }
    }
    assert!(!canary_users.is_empty());
    let url = s.url.clone();
    let sender = tokio::spawn(async move {
        let mut acked = 0u64;
        for export in 0u64.. {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            let spans = (0..SPANS)
                .map(|i| {
                    let mut trace = vec![0x5a; 16];
                    trace[8..].copy_from_slice(&(export * SPANS + i).to_be_bytes());
                    let user = &canary_users[(i as usize) % canary_users.len()];
                    Span {
                        trace_id: trace,
                        span_id: vec![1; 8],
                        kind: 2,
                        start_time_unix_nano: now - 1_000_000,
                        end_time_unix_nano: now,
                        events: vec![span::Event {
                            time_unix_nano: now - 500_000,
                            name: "feature_flag.evaluation".into(),
                            attributes: vec![
                                text("feature_flag.key", "pay"),
                                text("feature_flag.context.id", user),
                                text("feature_flag.result.variant", "on"),
                            ],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }
                })
                .collect();
            let req = ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(Resource {
                        attributes: vec![text("deployment.environment.name", "development")],
                        ..Default::default()
                    }),
                    scope_spans: vec![ScopeSpans {
                        spans,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            };
            match http
                .post(format!("{url}/v1/traces"))
                .header("content-type", "application/x-protobuf")
                .body(req.encode_to_vec())
                .send()
                .await
            {
                Ok(r) if r.status() == 200 => acked += 1,
                Ok(r) => panic!("export refused: {}", r.status()),
                Err(_) => return acked, // the server died
            }
        }
        acked
    });
    let mut rng = StdRng::seed_from_u64(14);
    tokio::time::sleep(Duration::from_millis(rng.random_range(300..1500))).await;
    s.kill9();
    let acked = sender.await.unwrap();
    assert!(acked > 0, "some exports were acknowledged before the kill");
    let s = p.serve();
    let agent = connect_http(&s.url, "otlp-crash", None).await;
    let st = agent
        .call(
            "canary_status",
            json!({"key": "pay", "environment": "development"}),
        )
        .await
        .ok();
    let counted = st["canary"]["by_source"]["otlp"]["exposures"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        counted >= acked * SPANS && counted <= (acked + 1) * SPANS,
        "{acked} acknowledged exports of {SPANS} spans, {counted} exposures counted: {st}"
    );
    assert_eq!(counted % SPANS, 0, "an export counts whole or not at all");
    agent.close().await;
    drop(s);
}
