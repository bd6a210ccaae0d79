//! The OTLP/HTTP receiver of `flagwarden serve`, as a real process on 127.0.0.1, fed exports built
//! with the `opentelemetry-proto` types an OpenTelemetry SDK exports: protobuf and JSON, gzip,
//! attribution of span and log evaluations to the arm OFREP served, joins across requests, replays,
//! and every bad input the issue lists with its documented status and nothing stored.

mod common;

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::policies::DEVELOPMENT_POLICY;
use common::{Project, Served, connect_http};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn text(k: &str, v: &str) -> KeyValue {
    kv(k, any_value::Value::StringValue(v.into()))
}

/// The attributes OpenFeature's OTel hooks put on an evaluation.
fn evaluation_attrs(flag: &str, user: Option<&str>, variant: &str, reason: &str) -> Vec<KeyValue> {
    let mut a = vec![
        text("feature_flag.key", flag),
        text("feature_flag.provider.name", "ofrep"),
        text("feature_flag.result.variant", variant),
        text("feature_flag.result.reason", reason),
        text("feature_flag.result.value", "true"),
    ];
    if let Some(u) = user {
        a.push(text("feature_flag.context.id", u));
    }
    a
}

fn trace_id(n: u64) -> Vec<u8> {
    let mut t = vec![0xab; 16];
    t[8..].copy_from_slice(&n.to_be_bytes());
    t
}

fn span_id(n: u64) -> Vec<u8> {
    (n + 1).to_be_bytes().to_vec()
}

/// A SERVER span of `ms` milliseconds, failed or not, with the given events.
fn server_span(trace: u64, id: u64, failed: bool, ms: u64, events: Vec<span::Event>) -> Span {
    let end = now_ns();
    Span {
        trace_id: trace_id(trace),
        span_id: span_id(id),
        name: "GET /checkout".into(),
        kind: 2,
        start_time_unix_nano: end - ms * 1_000_000,
        end_time_unix_nano: end,
        attributes: vec![kv(
            "http.response.status_code",
            any_value::Value::IntValue(if failed { 503 } else { 200 }),
        )],
        events,
        status: failed.then(|| Status {
            code: 2,
            message: "boom".into(),
        }),
        ..Default::default()
    }
}

fn flag_event(flag: &str, user: Option<&str>, variant: &str, reason: &str) -> span::Event {
    span::Event {
        time_unix_nano: now_ns() - 1_000_000,
        name: "feature_flag.evaluation".into(),
        attributes: evaluation_attrs(flag, user, variant, reason),
        ..Default::default()
    }
}

fn resource(env: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            text("service.name", "checkout"),
            text("deployment.environment.name", env),
        ],
        ..Default::default()
    })
}

fn traces(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource("development"),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

struct Reply {
    status: StatusCode,
    content_type: String,
    retry_after: Option<String>,
    body: Vec<u8>,
}

async fn post_raw(s: &Served, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
    let mut req = http().post(format!("{}{path}", s.url)).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("request");
    let h = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
    Reply {
        status: res.status(),
        content_type: h("content-type").unwrap_or_default(),
        retry_after: h("retry-after"),
        body: res.bytes().await.unwrap().to_vec(),
    }
}

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
const JSON: (&str, &str) = ("content-type", "application/json");

/// Posts a protobuf trace export and decodes the answer.
async fn send_traces(s: &Served, req: &ExportTraceServiceRequest) -> (i64, String) {
    let r = post_raw(s, "/v1/traces", &[PROTOBUF], req.encode_to_vec()).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.content_type, "application/x-protobuf");
    let answer = ExportTraceServiceResponse::decode(&r.body[..]).expect("an OTLP answer");
    answer
        .partial_success
        .map_or((0, String::new()), |p| (p.rejected_spans, p.error_message))
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// What OFREP serves each user: (user, variant, reason).
async fn served(s: &Served, flag: &str, users: usize) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for i in 0..users {
        let user = format!("user-{i}");
        let res: Value = http()
            .post(format!("{}/ofrep/v1/evaluate/flags/{flag}", s.url))
            .json(&json!({"context": {"targetingKey": user}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        out.push((
            user,
            res["variant"].as_str().unwrap().to_owned(),
            res["reason"].as_str().unwrap().to_owned(),
        ));
    }
    out
}

/// A flag with a canary at 10 % in development, and the users OFREP puts in each arm.
struct Canary {
    agent: common::Client,
    canary: Vec<String>,
    control: Vec<String>,
    outside: Vec<String>,
}

async fn canary(s: &Served, flag: &str) -> Canary {
    let agent = connect_http(&s.url, "otlp-agent", None).await;
    agent
        .call(
            "create_flag",
            json!({"key": flag, "description": "d", "change_type": "code", "reason": "t"}),
        )
        .await
        .ok();
    agent.call("start_canary", json!({"key": flag, "environment": "development", "candidate_variant": "on", "reason": "canary"})).await.ok();
    let mut c = Canary {
        agent,
        canary: vec![],
        control: vec![],
        outside: vec![],
    };
    for (user, variant, reason) in served(s, flag, 300).await {
        match (variant.as_str(), reason.as_str()) {
            ("on", "SPLIT") => c.canary.push(user),
            ("off", "SPLIT") => c.control.push(user),
            ("off", "DEFAULT") => c.outside.push(user),
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(
        c.canary.len() >= 10 && c.control.len() >= 10,
        "both arms have users"
    );
    c
}

async fn status(c: &Canary, flag: &str) -> Value {
    c.agent
        .call(
            "canary_status",
            json!({"key": flag, "environment": "development"}),
        )
        .await
        .ok()
}

fn otlp_counts(st: &Value, arm: &str) -> (u64, u64, u64) {
    let o = &st[arm]["by_source"]["otlp"];
    let n = |k: &str| o[k].as_u64().unwrap_or(0);
    (n("exposures"), n("requests"), n("errors"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn span_evaluations_count_in_the_arm_they_were_served() {
    let p = Project::new(DEVELOPMENT_POLICY);
    let s = p.serve();
    let c = canary(&s, "checkout").await;
    // Each canary user's request fails one time in two, the control's never; one span per request.
    let mut spans = Vec::new();
    let mut n = 0;
    for (i, u) in c.canary.iter().take(10).enumerate() {
        n += 1;
        spans.push(server_span(
            n,
            n,
            i % 2 == 0,
            30,
            vec![flag_event("checkout", Some(u), "on", "split")],
        ));
    }
    for u in c.control.iter().take(10) {
        n += 1;
        spans.push(server_span(
            n,
            n,
            false,
            3,
            vec![flag_event("checkout", Some(u), "off", "split")],
        ));
    }
    // A span without a flag evaluation is accepted and counts for nothing.
    spans.push(server_span(999, 999, true, 1, vec![]));
    let export = traces(spans);
    assert_eq!(
        send_traces(&s, &export).await,
        (0, String::new()),
        "all used"
    );

    let st = status(&c, "checkout").await;
    assert_eq!(otlp_counts(&st, "canary"), (10, 10, 5), "{st}");
    assert_eq!(otlp_counts(&st, "control"), (10, 10, 0), "{st}");
    assert_eq!(
        st["canary"]["requests"], 10,
        "in the same summaries the gate reads"
    );
    assert_eq!(st["canary"]["latency_ms"]["50"], 10, "30 ms spans: {st}");
    assert_eq!(st["control"]["latency_ms"]["5"], 10, "3 ms spans: {st}");

    // The same export again (an exporter's retry) counts nothing twice.
    let (rejected, why) = send_traces(&s, &export).await;
    assert_eq!(rejected, 20, "{why}");
    assert!(why.contains("20 × flag \"checkout\": duplicate"), "{why}");
    assert_eq!(
        otlp_counts(&status(&c, "checkout").await, "canary"),
        (10, 10, 5)
    );

    // The same export as OTLP JSON, gzipped, with a new trace id per span: counted like protobuf.
    let mut again = export.clone();
    for sp in &mut again.resource_spans[0].scope_spans[0].spans {
        sp.trace_id[0] = 0xcd;
    }
    let body = gzip(&serde_json::to_vec(&again).unwrap());
    let r = post_raw(
        &s,
        "/v1/traces",
        &[JSON, ("content-encoding", "gzip")],
        body,
    )
    .await;
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (StatusCode::OK, "application/json")
    );
    assert_eq!(String::from_utf8(r.body).unwrap(), "{}");
    let st = status(&c, "checkout").await;
    assert_eq!(otlp_counts(&st, "canary"), (20, 20, 10), "{st}");
    c.agent.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluations_that_are_not_evidence_are_rejected_with_the_reason() {
    let p = Project::new(DEVELOPMENT_POLICY);
    let s = p.serve();
    let c = canary(&s, "checkout").await;
    c.agent
        .call(
            "create_flag",
            json!({"key": "idle", "description": "d", "change_type": "code", "reason": "t"}),
        )
        .await
        .ok();
    let (cu, ku, xu) = (&c.canary[0], &c.control[0], &c.outside[0]);
    let far = now_ns() + 3600 * 1_000_000_000;
    let mut future = server_span(
        6,
        6,
        false,
        1,
        vec![flag_event("checkout", Some(cu), "on", "split")],
    );
    future.events[0].time_unix_nano = far;
    let mut before = server_span(
        7,
        7,
        false,
        1,
        vec![flag_event("checkout", Some(cu), "on", "split")],
    );
    before.events[0].time_unix_nano = now_ns() - 3600 * 1_000_000_000;
    let mut bad_ids = server_span(
        8,
        8,
        false,
        1,
        vec![flag_event("checkout", Some(cu), "on", "split")],
    );
    bad_ids.trace_id = vec![1, 2, 3];
    let export = traces(vec![
        server_span(
            1,
            1,
            false,
            1,
            vec![flag_event("checkout", None, "on", "split")],
        ),
        server_span(
            2,
            2,
            false,
            1,
            vec![flag_event("no-such-flag", Some(cu), "on", "split")],
        ),
        server_span(
            3,
            3,
            false,
            1,
            vec![flag_event("idle", Some(cu), "off", "static")],
        ),
        server_span(
            4,
            4,
            false,
            1,
            vec![flag_event("checkout", Some(xu), "off", "default")],
        ),
        // A stale cached answer: the control's variant for a canary user.
        server_span(
            5,
            5,
            false,
            1,
            vec![flag_event("checkout", Some(cu), "off", "cached")],
        ),
        future,
        before,
        bad_ids,
        // The hook says the rule path served it.
        server_span(
            9,
            9,
            false,
            1,
            vec![flag_event("checkout", Some(ku), "off", "targeting_match")],
        ),
    ]);
    let (rejected, why) = send_traces(&s, &export).await;
    assert_eq!(rejected, 9, "{why}");
    for reason in [
        "no targeting key (feature_flag.context.id)",
        "flag \"no-such-flag\" is not a flagwarden flag",
        "flag \"idle\" has no unfinished rollout in development",
        "the unit is in neither arm",
        "served variant \"off\", but its targeting key is in the canary arm",
        "more than 5 minutes in the future",
        "evaluated before the rollout exposed anyone",
        "invalid trace or span id",
        "served with reason \"targeting_match\"",
    ] {
        assert!(why.contains(reason), "{reason:?} in {why}");
    }
    let st = status(&c, "checkout").await;
    assert!(
        st["canary"]["by_source"].get("otlp").is_none(),
        "nothing counted: {st}"
    );
    assert_eq!(st["canary"]["requests"], 0, "{st}");

    // An environment the policy does not declare.
    let mut other = traces(vec![server_span(
        10,
        10,
        false,
        1,
        vec![flag_event("checkout", Some(cu), "on", "split")],
    )]);
    other.resource_spans[0].resource = resource("moon");
    let (rejected, why) = send_traces(&s, &other).await;
    assert_eq!(rejected, 1);
    assert!(why.contains("environment \"moon\""), "{why}");
    c.agent.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_bodies_get_their_status_and_change_nothing() {
    let p = Project::new(DEVELOPMENT_POLICY);
    let s = p.serve();
    let c = canary(&s, "checkout").await;
    let good = traces(vec![server_span(
        1,
        1,
        false,
        1,
        vec![flag_event("checkout", Some(&c.canary[0]), "on", "split")],
    )]);
    let state = common::before_serving(&p.db());
    let status_of = |r: &Reply| -> (i32, String) {
        if r.content_type == "application/x-protobuf" {
            #[derive(Clone, PartialEq, prost::Message)]
            struct RpcStatus {
                #[prost(int32, tag = "1")]
                code: i32,
                #[prost(string, tag = "2")]
                message: String,
            }
            let st = RpcStatus::decode(&r.body[..]).expect("a google.rpc.Status");
            (st.code, st.message)
        } else {
            let v: Value = serde_json::from_slice(&r.body).expect("a JSON Status");
            (
                v["code"].as_i64().unwrap() as i32,
                v["message"].as_str().unwrap().into(),
            )
        }
    };

    // Malformed protobuf: 400, a Status in protobuf, never retried.
    let r = post_raw(
        &s,
        "/v1/traces",
        &[PROTOBUF],
        vec![0x0a, 0xff, 0xff, 0x01, 0x02],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let (code, msg) = status_of(&r);
    assert_eq!(code, 3);
    assert!(msg.contains("not a valid OTLP protobuf"), "{msg}");
    // Malformed JSON, answered in JSON.
    let r = post_raw(
        &s,
        "/v1/logs",
        &[JSON],
        br#"{"resourceLogs": [{"scopeLogs": 7}]}"#.to_vec(),
    )
    .await;
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (StatusCode::BAD_REQUEST, "application/json")
    );
    assert!(status_of(&r).1.contains("not valid OTLP JSON"));
    // Wrong content types.
    for ct in ["text/plain", "application/grpc", ""] {
        let r = post_raw(
            &s,
            "/v1/traces",
            &[("content-type", ct)],
            good.encode_to_vec(),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
        assert!(
            status_of(&r)
                .1
                .contains("application/x-protobuf or application/json")
        );
    }
    // Truncated gzip.
    let mut z = gzip(&good.encode_to_vec());
    z.truncate(z.len() - 6);
    let r = post_raw(
        &s,
        "/v1/traces",
        &[PROTOBUF, ("content-encoding", "gzip")],
        z,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        status_of(&r)
            .1
            .contains("gzip body is truncated or corrupt"),
        "{}",
        status_of(&r).1
    );
    // An unknown encoding.
    let r = post_raw(
        &s,
        "/v1/traces",
        &[PROTOBUF, ("content-encoding", "br")],
        good.encode_to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Oversized: as sent, and after decompression (17 MiB of zeros gzip to a few KiB).
    let r = post_raw(&s, "/v1/traces", &[PROTOBUF], vec![0u8; 17 << 20]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        status_of(&r).1.contains("over 16 MiB"),
        "{}",
        status_of(&r).1
    );
    let bomb = gzip(&vec![0u8; 17 << 20]);
    assert!(bomb.len() < 1 << 20);
    let r = post_raw(
        &s,
        "/v1/traces",
        &[PROTOBUF, ("content-encoding", "gzip")],
        bomb,
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(status_of(&r).1.contains("after decompression"));
    state.assert_only_refusals_recorded(&p.db());

    // Metrics decode, and say why their points are not used.
    let r = post_raw(&s, "/v1/metrics", &[JSON], br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","sum":{"dataPoints":[{"asInt":"3","timeUnixNano":"1"}]}}]}]}]}"#.to_vec()).await;
    assert_eq!(r.status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["partialSuccess"]["rejectedDataPoints"], "1", "{v}");
    assert!(
        v["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("metrics carry no rollout arm")
    );
    c.agent.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_child_spans_join_their_request_across_exports() {
    let p = Project::new(DEVELOPMENT_POLICY);
    let s = p.serve();
    let c = canary(&s, "checkout").await;
    // JS EventHook: the evaluation is a log record on /v1/logs, before its span reaches /v1/traces.
    let (trace, span) = (41, 41);
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("development"),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord {
                        time_unix_nano: now_ns(),
                        event_name: "feature_flag.evaluation".into(),
                        trace_id: trace_id(trace),
                        span_id: span_id(span),
                        attributes: evaluation_attrs("checkout", Some(&c.canary[0]), "on", "split"),
                        ..Default::default()
                    },
                    // An ordinary log line is neither used nor rejected.
                    LogRecord {
                        time_unix_nano: now_ns(),
                        body: Some(AnyValue {
                            value: Some(any_value::Value::StringValue("hello".into())),
                        }),
                        ..Default::default()
                    },
                    // An evaluation outside any span carries no outcome.
                    LogRecord {
                        time_unix_nano: now_ns(),
                        event_name: "feature_flag.evaluation".into(),
                        attributes: evaluation_attrs("checkout", Some(&c.canary[1]), "on", "split"),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let r = post_raw(&s, "/v1/logs", &[PROTOBUF], logs.encode_to_vec()).await;
    assert_eq!(r.status, StatusCode::OK);
    let answer = ExportLogsServiceResponse::decode(&r.body[..]).unwrap();
    let partial = answer.partial_success.expect("one rejected");
    assert_eq!(partial.rejected_log_records, 1, "{}", partial.error_message);
    assert!(partial.error_message.contains("without trace_id/span_id"));
    assert_eq!(
        otlp_counts(&status(&c, "checkout").await, "canary"),
        (0, 0, 0),
        "waiting for its span"
    );

    // A child span with an evaluation, whose SERVER parent comes in a later export.
    let mut child = server_span(
        42,
        2,
        false,
        1,
        vec![flag_event("checkout", Some(&c.control[0]), "off", "split")],
    );
    child.kind = 1;
    child.parent_span_id = span_id(1);
    child.name = "load cart".into();
    child.attributes.clear();
    assert_eq!(send_traces(&s, &traces(vec![child])).await.0, 0);
    assert_eq!(
        otlp_counts(&status(&c, "checkout").await, "control"),
        (0, 0, 0),
        "waiting for its parent"
    );

    // The spans arrive: the log's span failed; the child's parent took 700 ms.
    let (rejected, why) = send_traces(
        &s,
        &traces(vec![
            server_span(trace, span, true, 20, vec![]),
            server_span(42, 1, false, 700, vec![]),
        ]),
    )
    .await;
    assert_eq!(rejected, 0, "{why}");
    let st = status(&c, "checkout").await;
    assert_eq!(otlp_counts(&st, "canary"), (1, 1, 1), "{st}");
    assert_eq!(otlp_counts(&st, "control"), (1, 1, 0), "{st}");
    assert_eq!(
        st["control"]["latency_ms"]["1000"], 1,
        "the request's latency, not the child's: {st}"
    );
    // The log replayed after the join counts nothing more.
    let r = post_raw(&s, "/v1/logs", &[PROTOBUF], logs.encode_to_vec()).await;
    let partial = ExportLogsServiceResponse::decode(&r.body[..])
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_log_records, 2, "{}", partial.error_message);
    assert_eq!(
        otlp_counts(&status(&c, "checkout").await, "canary"),
        (1, 1, 1)
    );
    c.agent.close().await;
}

/// OTLP's JSON quirks, one body per signal as a JavaScript exporter writes them: hex ids in any
/// case, integer enums, 64-bit integers as strings, `intValue` as a string, unknown keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_json_conformance_per_signal() {
    let p = Project::new(DEVELOPMENT_POLICY);
    let s = p.serve();
    let c = canary(&s, "checkout").await;
    let t = now_ns();
    let (cu, ku) = (&c.canary[0], &c.control[0]);
    let span_json = format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"deployment.environment.name","value":{{"stringValue":"development"}}}}],"droppedAttributesCount":0}},
          "scopeSpans":[{{"scope":{{"name":"@openfeature/open-telemetry-hooks","version":"1.0.0"}},"spans":[
            {{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","name":"GET /","kind":2,
              "startTimeUnixNano":"{start}","endTimeUnixNano":"{t}","futureField":{{"x":1}},
              "attributes":[{{"key":"http.response.status_code","value":{{"intValue":"500"}}}}],
              "events":[{{"timeUnixNano":"{start}","name":"feature_flag.evaluation","attributes":[
                {{"key":"feature_flag.key","value":{{"stringValue":"checkout"}}}},
                {{"key":"feature_flag.context.id","value":{{"stringValue":"{cu}"}}}},
                {{"key":"feature_flag.variant","value":{{"stringValue":"on"}}}},
                {{"key":"feature_flag.evaluation.reason","value":{{"stringValue":"SPLIT"}}}}]}}],
              "status":{{"code":2}}}}]}}]}}]}}"#,
        start = t - 2_000_000
    );
    let r = post_raw(&s, "/v1/traces", &[JSON], span_json.into_bytes()).await;
    assert_eq!(
        (r.status, String::from_utf8(r.body).unwrap()),
        (StatusCode::OK, "{}".into())
    );
    let log_json = format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[{{"key":"deployment.environment.name","value":{{"stringValue":"development"}}}}]}},
          "scopeLogs":[{{"logRecords":[{{"timeUnixNano":{t},"observedTimeUnixNano":"{t}","eventName":"feature_flag.evaluation",
            "traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","severityNumber":9,"flags":1,
            "attributes":[{{"key":"feature_flag.key","value":{{"stringValue":"checkout"}}}},
              {{"key":"feature_flag.context.id","value":{{"stringValue":"{ku}"}}}},
              {{"key":"feature_flag.result.variant","value":{{"stringValue":"off"}}}},
              {{"key":"feature_flag.result.reason","value":{{"stringValue":"split"}}}},
              {{"key":"feature_flag.result.value","value":{{"boolValue":false}}}}]}}]}}]}}]}}"#
    );
    let r = post_raw(&s, "/v1/logs", &[JSON], log_json.into_bytes()).await;
    assert_eq!(
        (r.status, String::from_utf8(r.body).unwrap()),
        (StatusCode::OK, "{}".into())
    );
    let span_for_log = format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"deployment.environment.name","value":{{"stringValue":"development"}}}}]}},
          "scopeSpans":[{{"spans":[{{"traceId":"0AF7651916CD43DD8448EB211C80319C","spanId":"B7AD6B7169203331","kind":2,
            "startTimeUnixNano":{start},"endTimeUnixNano":"{t}","status":{{}}}}]}}]}}]}}"#,
        start = t - 4_000_000
    );
    let r = post_raw(&s, "/v1/traces", &[JSON], span_for_log.into_bytes()).await;
    assert_eq!(r.status, StatusCode::OK);
    let metrics_json = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
        {"name":"feature_flag.evaluation_success_total","sum":{"aggregationTemporality":2,"isMonotonic":true,
          "dataPoints":[{"asInt":"7","startTimeUnixNano":"1","timeUnixNano":"2","attributes":[{"key":"feature_flag.key","value":{"stringValue":"checkout"}}]}]}},
        {"name":"http.server.request.duration","histogram":{"aggregationTemporality":2,
          "dataPoints":[{"count":"3","sum":0.5,"bucketCounts":["1","2"],"explicitBounds":[0.1],"timeUnixNano":"2"}]}}]}]}]}"#;
    let r = post_raw(&s, "/v1/metrics", &[JSON], metrics_json.as_bytes().to_vec()).await;
    assert_eq!(r.status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        v["partialSuccess"]["rejectedDataPoints"], "2",
        "both points decoded: {v}"
    );
    let st = status(&c, "checkout").await;
    assert_eq!(
        otlp_counts(&st, "canary"),
        (1, 1, 1),
        "intValue \"500\" is an error: {st}"
    );
    assert_eq!(otlp_counts(&st, "control"), (1, 1, 0), "{st}");
    c.agent.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_guard_the_receiver() {
    let p = Project::new(DEVELOPMENT_POLICY);
    let out = p.cli_ok(&[
        "token",
        "new",
        "--role",
        "ingest",
        "--name",
        "collector",
        "--environment",
        "development",
    ]);
    let secret = out
        .split_whitespace()
        .find(|w| w.starts_with("fw_"))
        .unwrap_or_else(|| panic!("no token in {out}"))
        .to_owned();
    let tokens = p.path().join("tokens.toml");
    let entry = out
        .lines()
        .filter(|l| {
            l.starts_with("name")
                || l.starts_with("role")
                || l.starts_with("sha256")
                || l.starts_with("environment")
                || l.starts_with("[[token]]")
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&tokens, entry).unwrap();
    let s = p.serve_with(&["--tokens", tokens.to_str().unwrap()], &[]);
    let body = traces(vec![]).encode_to_vec();
    let r = post_raw(&s, "/v1/traces", &[PROTOBUF], body.clone()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.content_type, "application/x-protobuf",
        "a Status like the request"
    );
    let auth = format!("Bearer {secret}");
    let r = post_raw(
        &s,
        "/v1/traces",
        &[PROTOBUF, ("authorization", &auth)],
        body.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = post_raw(
        &s,
        "/v1/traces",
        &[
            PROTOBUF,
            ("authorization", &auth),
            ("x-flagwarden-environment", "production"),
        ],
        body,
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let _ = r.retry_after;
}
