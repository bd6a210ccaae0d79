//! Round trips over stdio against the real binary: `get_flag` (a read), `create_flag` (a durable write
//! with its audit event, fsynced), and the time from spawning `flagwarden mcp` to its first answer.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::json;

const POLICY: &str = "version = 1\n[environments.production]\nagent_may = [\"rollback\"]\n";

async fn connect(dir: &std::path::Path) -> RunningService<RoleClient, ClientConfig> {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_flagwarden"));
    cmd.arg("--policy")
        .arg(dir.join("flagwarden.toml"))
        .arg("mcp");
    let config = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("bench", "1"),
    );
    config
        .serve(TokioChildProcess::new(cmd).unwrap())
        .await
        .unwrap()
}

fn call(tool: &'static str, args: serde_json::Value) -> CallToolRequestParams {
    let serde_json::Value::Object(m) = args else {
        unreachable!()
    };
    CallToolRequestParams::new(tool).with_arguments(m)
}

fn stdio(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("flagwarden.toml"), POLICY).unwrap();
    let client = rt.block_on(connect(dir.path()));
    rt.block_on(client.call_tool(call(
        "create_flag",
        json!({"key": "bench", "description": "d", "change_type": "code", "reason": "r"}),
    )))
    .unwrap();

    let mut g = c.benchmark_group("stdio");
    g.measurement_time(Duration::from_secs(4));
    g.bench_function("get_flag", |b| {
        b.to_async(&rt).iter(|| async {
            client
                .call_tool(call("get_flag", json!({"key": "bench"})))
                .await
                .unwrap()
        })
    });
    let mut n = 0u64;
    g.bench_function("create_flag", |b| {
        b.to_async(&rt).iter(|| {
            n += 1;
            let req = call("create_flag", json!({"key": format!("f{n}"), "description": "d", "change_type": "code", "reason": "bench"}));
            let client = &client;
            async move {
                let r = client.call_tool(req).await.unwrap();
                assert_ne!(r.is_error, Some(true));
            }
        })
    });
    g.sample_size(20);
    // Startup on its own small store: the store above now holds every flag create_flag made, and
    // startup loads all flags, so measuring there would measure that benchmark's leftovers.
    let fresh = tempfile::tempdir().unwrap();
    std::fs::write(fresh.path().join("flagwarden.toml"), POLICY).unwrap();
    g.bench_function("first_answer_after_spawn", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let path = fresh.path().to_owned();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let c = connect(&path).await;
                    c.list_all_tools().await.unwrap();
                    total += start.elapsed();
                    let _ = c.cancel().await;
                }
                total
            }
        })
    });
    g.finish();
    rt.block_on(async {
        let _ = client.cancel().await;
    });
}

criterion_group!(benches, stdio);
criterion_main!(benches);
