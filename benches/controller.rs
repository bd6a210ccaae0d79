//! The controller's two figures, against the real `flagwarden serve` on 127.0.0.1, bounded in time:
//!
//! 1. **Harm to freeze.** `CTL_SAMPLES` rollouts, one at a time: a subscriber on the change stream
//!    (`/api/v1/stream`), then the evidence batch that tips the gate to ROLLBACK (POST
//!    /api/v1/signals), then the `propose_rollback` event on the stream (exposure frozen). Latency
//!    from the batch's acknowledgement (its commit came just before) and from its send, p50/p99/max,
//!    with the default debounce (10 ms).
//! 2. **Load.** `CTL_ROLLOUTS` unfinished rollouts, each receiving one batch a second for
//!    `CTL_SECS` seconds, run twice: with the controller off and on. The server's CPU time in each run
//!    (from /proc), so the difference is the controller's share, and from /metrics how many looks it
//!    made and how old evidence was at most when it looked (how far it falls behind).
//!
//!   cargo bench --bench controller                           # 100 samples, 1000 rollouts for 20 s
//!   CTL_ROLLOUTS=200 CTL_SECS=10 cargo bench --bench controller
//!
//! Under `cargo test` (no `--bench`) it is a short smoke run. The servers are killed on exit.

use std::io::BufRead;
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

fn policy(enabled: bool) -> String {
    format!(
        r#"
version = 1
[controller]
enabled = {enabled}
[flags]
created_per_day = 100000
[environments.development]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
steps = [10, 50, 100]
[environments.development.gate]
min_samples = 100
required = ["error_rate"]
fresh_within = "1h"
[environments.development.gate.metrics.error_rate]
margin = 0.05
"#
    )
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Server {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(policy: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("flagwarden.toml"), policy).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flagwarden"))
        .arg("--policy")
        .arg(dir.path().join("flagwarden.toml"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("FLAGWARDEN_DB")
        .env_remove("FLAGWARDEN_TOKENS")
        .env_remove("FLAGWARDEN_CLOCK_FILE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start flagwarden serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("flagwarden serving ")
        .expect("the address")
        .to_owned();
    Server {
        child,
        url,
        _dir: dir,
    }
}

/// The server's CPU time so far (user + system), from /proc.
fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or(Vec::new(), |(_, rest)| rest.split(' ').collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the command: state is field 0, utime field 11, stime field 12; 100 ticks a second.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

async fn agent(url: &str) -> rmcp::service::RunningService<rmcp::RoleClient, ClientConfig> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{url}/mcp")),
    );
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("bench", "1.0"),
    )
    .serve(transport)
    .await
    .expect("initialize")
}

fn call(tool: &str, args: Value) -> CallToolRequestParams {
    let Value::Object(map) = args else {
        unreachable!()
    };
    CallToolRequestParams::new(tool.to_owned()).with_arguments(map)
}

/// Creates flags `{prefix}0..n` and starts a canary on each.
async fn rollouts(url: &str, prefix: &str, n: usize) {
    let client = agent(url).await;
    for i in 0..n {
        let key = format!("{prefix}{i}");
        let created = client
            .call_tool(call(
                "create_flag",
                json!({"key": key, "description": "d", "change_type": "code", "reason": "bench"}),
            ))
            .await
            .unwrap();
        assert_ne!(created.is_error, Some(true), "{created:?}");
        let started = client
            .call_tool(call("start_canary", json!({"key": key, "environment": "development", "candidate_variant": "on", "reason": "bench"})))
            .await
            .unwrap();
        assert_ne!(started.is_error, Some(true), "{started:?}");
    }
    let _ = client.cancel().await;
}

fn batch(id: String, key: &str, canary_errors: u64) -> Value {
    json!({"batch_id": id, "environment": "development", "signals": [
        {"flag": key, "arm": "canary", "exposures": 200, "requests": 200, "errors": canary_errors},
        {"flag": key, "arm": "control", "exposures": 200, "requests": 200, "errors": 1}]})
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Waits on the change stream for `action` on `flag`.
async fn wait_for(stream: &mut reqwest::Response, buf: &mut String, flag: &str, action: &str) {
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                let v: Value = serde_json::from_str(data).unwrap();
                if v["flag"] == flag && v["action"] == action {
                    return;
                }
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("the freeze on the stream within 10 s")
            .unwrap()
            .expect("the stream stays open");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

async fn harm_to_freeze(samples: usize) {
    let s = start(&policy(true));
    let http = reqwest::Client::new();
    rollouts(&s.url, "h", samples).await;
    let mut stream = http
        .get(format!("{}/api/v1/stream", s.url))
        .send()
        .await
        .unwrap();
    let mut buf = String::new();
    let (mut from_ack, mut from_send) = (Vec::new(), Vec::new());
    for i in 0..samples {
        let key = format!("h{i}");
        let sent = Instant::now();
        let res = http
            .post(format!("{}/api/v1/signals", s.url))
            .json(&batch(format!("harm-{i}"), &key, 60))
            .send()
            .await
            .unwrap();
        let acked = Instant::now();
        assert!(res.status().is_success());
        wait_for(&mut stream, &mut buf, &key, "propose_rollback").await;
        from_ack.push(acked.elapsed().as_secs_f64() * 1000.0);
        from_send.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    for v in [&mut from_ack, &mut from_send] {
        v.sort_by(f64::total_cmp);
    }
    println!("harm to freeze on the change stream, {samples} rollouts, debounce 10 ms:");
    for (what, v) in [
        ("from the batch's acknowledgement", &from_ack),
        ("from the batch's send", &from_send),
    ] {
        println!(
            "  {what}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            percentile(v, 0.5),
            percentile(v, 0.99),
            percentile(v, 1.0)
        );
    }
}

/// What /metrics says about the controller: (looks started, evidence lag last, max).
async fn controller_metrics(http: &reqwest::Client, url: &str) -> (u64, f64, f64) {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (
        value("flagwarden_controller_looks_started_total ") as u64,
        value("flagwarden_controller_evidence_lag_seconds{round=\"last\"}"),
        value("flagwarden_controller_evidence_lag_seconds{round=\"max\"}"),
    )
}

/// What one load run measured.
struct Run {
    cpu: Duration,
    wall: Duration,
    looks: u64,
    lag_last: f64,
    lag_max: f64,
    sent: u64,
}

/// One load run: `n` rollouts, a batch each per second for `secs` (or as fast as the server takes
/// them, when it cannot take `n` a second).
async fn load(n: usize, secs: u64, controller: bool) -> Run {
    let s = start(&policy(controller));
    rollouts(&s.url, "l", n).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(32)
        .build()
        .unwrap();
    let cpu_before = cpu(s.child.id());
    let looks_before = controller_metrics(&http, &s.url).await.0;
    let started = Instant::now();
    let mut sent = 0u64;
    for second in 0..secs {
        let tick = started + Duration::from_secs(second + 1);
        let mut pending = futures_util::stream::FuturesUnordered::new();
        for i in 0..n {
            let (http, url) = (http.clone(), s.url.clone());
            let body = batch(format!("l{i}-{second}"), &format!("l{i}"), 1);
            pending.push(async move {
                http.post(format!("{url}/api/v1/signals"))
                    .json(&body)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            });
            // At most 16 batches in flight, as a fleet of applications behind a proxy would send.
            if pending.len() >= 16 {
                use futures_util::StreamExt;
                assert!(pending.next().await.unwrap(), "a batch failed");
            }
        }
        use futures_util::StreamExt;
        while let Some(ok) = pending.next().await {
            assert!(ok, "a batch failed");
        }
        sent += n as u64;
        tokio::time::sleep_until(tick.into()).await;
    }
    let wall = started.elapsed();
    let took = cpu(s.child.id()) - cpu_before;
    let (looks, lag_last, lag_max) = controller_metrics(&http, &s.url).await;
    Run {
        cpu: took,
        wall,
        looks: looks - looks_before,
        lag_last,
        lag_max,
        sent,
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let samples = env_or("CTL_SAMPLES", if bench { 100 } else { 5 }) as usize;
    let n = env_or("CTL_ROLLOUTS", if bench { 1000 } else { 20 }) as usize;
    let secs = env_or("CTL_SECS", if bench { 20 } else { 2 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        harm_to_freeze(samples).await;
        let off = load(n, secs, false).await;
        let on = load(n, secs, true).await;
        let share = |r: &Run| r.cpu.as_secs_f64() / r.wall.as_secs_f64() * 100.0;
        for (what, r) in [("without", &off), ("with", &on)] {
            println!(
                "{n} rollouts {what} the controller: {} batches in {:.1} s ({:.0}/s); server CPU {:.2} s, {:.0} % of a core",
                r.sent,
                r.wall.as_secs_f64(),
                r.sent as f64 / r.wall.as_secs_f64(),
                r.cpu.as_secs_f64(),
                share(r)
            );
        }
        // Per batch, so runs the server took at different rates compare: the controller's part is
        // what a batch costs with it beyond what it costs without.
        let per = |r: &Run| r.cpu.as_secs_f64() / r.sent.max(1) as f64;
        let extra = (per(&on) - per(&off)).max(0.0);
        println!(
            "  the controller: {:.0} % of the server's CPU ({:.2} ms of {:.2} ms per batch, about {:.0} % of a core); {} looks ({:.0}/s); evidence at most {:.0} ms old when looked at in the last round, {:.0} ms at worst",
            extra / per(&on).max(1e-12) * 100.0,
            extra * 1000.0,
            per(&on) * 1000.0,
            extra * on.sent as f64 / on.wall.as_secs_f64() * 100.0,
            on.looks,
            on.looks as f64 / on.wall.as_secs_f64(),
            on.lag_last * 1000.0,
            on.lag_max * 1000.0
        );
    });
}
