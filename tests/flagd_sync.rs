//! `flagwarden serve` as a gRPC flagd sync source (`flagd.sync.v1.FlagSyncService`), over a raw
//! HTTP/2 client on 127.0.0.1: the definition on connect and after every change, a reconnect that
//! gets the current definition, subscribers that never read slowing neither the others nor a commit,
//! and refusals (no or wrong token, a token bound elsewhere, unknown or malformed selectors) as gRPC
//! statuses that name the problem. The real flagd providers are in tests/python/test_flagd_sync.py.

mod common;
#[path = "flagd/grpc.rs"]
mod grpc;

use std::time::{Duration, Instant};

use common::{Project, TEST_POLICY, connect_http};
use flagwarden::flagd_sync::proto::*;
use grpc::Conn;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(5);

fn doc(m: &SyncFlagsResponse) -> Value {
    serde_json::from_str(&m.flag_configuration).expect("the definition is JSON")
}

fn version(m: &SyncFlagsResponse) -> i64 {
    doc(m)["metadata"]["version"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("metadata.version is the audit sequence")
}

fn has_flag(m: &SyncFlagsResponse, key: &str) -> bool {
    doc(m)["flags"].get(key).is_some()
}

fn sync_request(selector: &str) -> SyncFlagsRequest {
    #[allow(deprecated)]
    SyncFlagsRequest {
        provider_id: "flagwarden-test".into(),
        selector: selector.into(),
    }
}

/// Reads `call` until a definition holding flag `key` arrives; returns it and how many were read.
async fn until_flag(call: &mut grpc::Call, key: &str) -> (SyncFlagsResponse, usize) {
    let mut read = 0;
    loop {
        let m: SyncFlagsResponse = call.next(WAIT).await.expect("the stream stays open");
        read += 1;
        if has_flag(&m, key) {
            return (m, read);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_sends_the_definition_on_connect_and_after_every_change() {
    let p = Project::new(TEST_POLICY);
    let s = p.serve();
    let agent = connect_http(&s.url, "sync-agent", None).await;
    agent.create_flag("dark-mode").await;

    let mut conn = Conn::connect(&s.url).await;
    let mut stream = conn
        .call(
            "SyncFlags",
            &sync_request(""),
            &[("flagd-selector", "development")],
        )
        .await;
    assert_eq!(stream.refused(), None);
    let first: SyncFlagsResponse = stream.next(WAIT).await.unwrap();
    assert!(
        has_flag(&first, "dark-mode"),
        "{}",
        first.flag_configuration
    );
    assert_eq!(doc(&first)["metadata"]["flagSetId"], "development");

    agent.create_flag("new-checkout").await;
    let (changed, _) = until_flag(&mut stream, "new-checkout").await;
    assert!(version(&changed) > version(&first));
    agent
        .call(
            "set_targeting",
            json!({"key": "new-checkout", "environment": "development", "enabled": true, "rules": [], "default_variant": "on", "reason": "on"}),
        )
        .await
        .ok();
    let on: SyncFlagsResponse = stream.next(WAIT).await.unwrap();
    assert!(version(&on) > version(&changed));
    assert_ne!(
        doc(&on)["flags"]["new-checkout"],
        doc(&changed)["flags"]["new-checkout"]
    );

    // A canary, then a rollback the CLI commits from another process: both reach the stream.
    agent.create_flag("search").await;
    let (created, _) = until_flag(&mut stream, "search").await;
    agent
        .call(
            "start_canary",
            json!({"key": "search", "environment": "development", "candidate_variant": "on", "reason": "try"}),
        )
        .await
        .ok();
    let canary: SyncFlagsResponse = stream.next(WAIT).await.unwrap();
    assert_ne!(
        doc(&canary)["flags"]["search"],
        doc(&created)["flags"]["search"]
    );
    p.cli_ok(&[
        "rollback",
        "search",
        "--env",
        "development",
        "--reason",
        "from the CLI",
        "--yes",
    ]);
    let rolled: SyncFlagsResponse = stream.next(WAIT).await.unwrap();
    assert!(version(&rolled) > version(&canary));
    assert_ne!(
        doc(&rolled)["flags"]["search"],
        doc(&canary)["flags"]["search"]
    );
    let on = rolled;

    // FetchAllFlags answers the same document, once; the body's selector works too.
    let mut fetch = conn
        .call(
            "FetchAllFlags",
            &FetchAllFlagsRequest {
                provider_id: String::new(),
                #[allow(deprecated)]
                selector: "development".into(),
            },
            &[],
        )
        .await;
    let all: FetchAllFlagsResponse = fetch.next(WAIT).await.unwrap();
    assert_eq!(all.flag_configuration, on.flag_configuration);
    assert_eq!(fetch.status().await.0, 0);

    #[allow(deprecated)]
    let mut meta = conn.call("GetMetadata", &GetMetadataRequest {}, &[]).await;
    #[allow(deprecated)]
    let m: GetMetadataResponse = meta.next(WAIT).await.unwrap();
    assert_eq!(m.metadata.map(|s| s.fields.len()), Some(0));
    agent.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_reconnects_gets_the_current_definition() {
    let p = Project::new(TEST_POLICY);
    let s = p.serve();
    let agent = connect_http(&s.url, "sync-agent", None).await;
    {
        let mut conn = Conn::connect(&s.url).await;
        let mut stream = conn
            .call("SyncFlags", &sync_request("development"), &[])
            .await;
        let first: SyncFlagsResponse = stream.next(WAIT).await.unwrap();
        assert!(!has_flag(&first, "while-away"));
    } // the connection drops here
    agent.create_flag("while-away").await;
    let newest = {
        let mut fetch = Conn::connect(&s.url).await;
        let mut f = fetch
            .call("FetchAllFlags", &FetchAllFlagsRequest::default(), &[])
            .await;
        f.next::<FetchAllFlagsResponse>(WAIT).await.unwrap()
    };
    let mut conn = Conn::connect(&s.url).await;
    let mut stream = conn
        .call("SyncFlags", &sync_request("development"), &[])
        .await;
    let first: SyncFlagsResponse = stream.next(WAIT).await.unwrap();
    assert!(
        has_flag(&first, "while-away"),
        "{}",
        first.flag_configuration
    );
    assert_eq!(first.flag_configuration, newest.flag_configuration);
    agent.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_that_never_read_slow_neither_the_others_nor_a_commit() {
    let p = Project::new(TEST_POLICY);
    let s = p.serve();
    let agent = connect_http(&s.url, "sync-agent", None).await;
    agent.create_flag("f-start").await;

    // Five subscribers that may be sent nothing at all (stream window 0), each on its own connection.
    let mut stalled = Vec::new();
    for _ in 0..5 {
        let mut conn = Conn::stalled(&s.url).await;
        let call = conn
            .call("SyncFlags", &sync_request("development"), &[])
            .await;
        assert_eq!(call.refused(), None);
        stalled.push((conn, call));
    }
    let mut conn = Conn::connect(&s.url).await;
    let mut reader = conn
        .call("SyncFlags", &sync_request("development"), &[])
        .await;
    until_flag(&mut reader, "f-start").await;

    let mut commits = Vec::new();
    let mut seen = Vec::new();
    for i in 0..20 {
        let key = format!("f-{i}");
        let started = Instant::now();
        agent.create_flag(&key).await;
        commits.push(started.elapsed());
        until_flag(&mut reader, &key).await;
        seen.push(started.elapsed());
    }
    let slowest_commit = commits.iter().max().unwrap();
    let slowest_seen = seen.iter().max().unwrap();
    eprintln!("commit max {slowest_commit:?}, commit-to-reader max {slowest_seen:?}");
    assert!(*slowest_commit < Duration::from_secs(2), "{commits:?}");
    assert!(*slowest_seen < Duration::from_secs(2), "{seen:?}");

    // A stalled subscriber that starts reading gets the newest definition at once, not a backlog
    // of the twenty it missed (at most the one it was handed before it stalled comes first).
    let (mut conn, mut call) = stalled.pop().unwrap();
    conn.open();
    let (newest, read) = until_flag(&mut call, "f-19").await;
    assert!(read <= 2, "read {read} definitions to reach the newest");
    assert!(has_flag(&newest, "f-0"));
    agent.close().await;
}

const AGENT: &str = "fw_agent_secret_000000000000";
const SDK: &str = "fw_sdk_secret_00000000000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_tokens_and_unknown_selectors_are_refused_by_name() {
    let p = Project::new(TEST_POLICY);
    let tokens = format!("agent:claude={AGENT},sdk:web@development={SDK}");
    let s = p.serve_with(&[], &[("FLAGWARDEN_TOKENS", &tokens)]);
    let sdk = format!("Bearer {SDK}");
    let agent = format!("Bearer {AGENT}");
    let mut conn = Conn::connect(&s.url).await;

    let refused = async |conn: &mut Conn, req: SyncFlagsRequest, meta: &[(&str, &str)]| {
        let call = conn.call("SyncFlags", &req, meta).await;
        call.refused().expect("refused in the response headers")
    };
    let (code, message) = refused(&mut conn, sync_request("development"), &[]).await;
    assert_eq!(code, 16, "UNAUTHENTICATED: {message}");
    assert!(message.contains("Bearer"), "{message}");
    let (code, message) = refused(
        &mut conn,
        sync_request("development"),
        &[("authorization", "Bearer fw_wrong_wrong_wrong_wrong")],
    )
    .await;
    assert_eq!((code, message.as_str()), (16, "unknown token"));
    let (code, message) = refused(
        &mut conn,
        sync_request(""),
        &[("authorization", &sdk), ("flagd-selector", "production")],
    )
    .await;
    assert_eq!(code, 7, "PERMISSION_DENIED: {message}");
    assert!(
        message.contains("bound to environment \"development\""),
        "{message}"
    );
    let (code, message) = refused(
        &mut conn,
        sync_request(""),
        &[("authorization", &agent), ("flagd-selector", "nope")],
    )
    .await;
    assert_eq!(code, 5, "NOT_FOUND: {message}");
    assert!(
        message.contains("\"nope\"") && message.contains("development"),
        "{message}"
    );
    let (code, message) = refused(
        &mut conn,
        sync_request("nope"),
        &[("authorization", &agent)],
    )
    .await;
    assert_eq!(code, 5, "{message}");
    let (code, message) = refused(
        &mut conn,
        sync_request("source=db"),
        &[("authorization", &agent)],
    )
    .await;
    assert_eq!(code, 3, "INVALID_ARGUMENT: {message}");
    assert!(message.contains("source=db"), "{message}");
    let (code, message) = refused(
        &mut conn,
        sync_request("staging"),
        &[("authorization", &agent), ("flagd-selector", "development")],
    )
    .await;
    assert_eq!(code, 3, "{message}");

    // FetchAllFlags is guarded the same way.
    let call = conn
        .call("FetchAllFlags", &FetchAllFlagsRequest::default(), &[])
        .await;
    assert_eq!(call.refused().map(|r| r.0), Some(16));

    // The sdk token syncs its own environment, with or without naming it (`flagSetId=` too).
    for selector in ["", "development", "flagSetId=development"] {
        let mut call = conn
            .call(
                "SyncFlags",
                &sync_request(selector),
                &[("authorization", &sdk)],
            )
            .await;
        assert_eq!(call.refused(), None, "selector {selector:?}");
        let m: SyncFlagsResponse = call.next(WAIT).await.unwrap();
        assert_eq!(doc(&m)["metadata"]["flagSetId"], "development");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_ends_every_stream_unavailable_so_providers_reconnect() {
    let p = Project::new(TEST_POLICY);
    let s = p.serve();
    let mut conn = Conn::connect(&s.url).await;
    let mut stream = conn
        .call("SyncFlags", &sync_request("development"), &[])
        .await;
    let _: SyncFlagsResponse = stream.next(WAIT).await.unwrap();
    let stopping = tokio::task::spawn_blocking(move || s.stop());
    let (code, message) = tokio::time::timeout(WAIT, stream.status())
        .await
        .expect("the stream ends at shutdown");
    assert_eq!(code, 14, "UNAVAILABLE: {message}");
    assert!(message.contains("reconnect"), "{message}");
    let exit = tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
    assert!(exit.success(), "serve exited with {exit}");
}
