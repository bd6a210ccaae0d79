//! Sustained mixed load against `flagwarden serve` on 127.0.0.1, bounded in time: OFREP single and
//! bulk evaluations from `SOAK_OFREP` connections as fast as the server answers, MCP tool calls from
//! `SOAK_AGENTS` agents (reads, evaluations, canary status, and a targeting change now and then), and
//! signal batches ten times a second. It samples the server's resident memory every second and
//! prints, per endpoint, the count, rate and latency percentiles, then the memory after warm-up and
//! at the end. It exits 1 if any valid request failed, or if, in a run of 30 s or more, memory grew
//! 10 % or more after warm-up. Under `cargo test` (no `--bench`) it is a five-second smoke run.
//!
//!   scripts/soak.sh                      # 60 s, server and load pinned to different cores
//!   SOAK_SECS=10 SOAK_WARMUP=4 cargo bench --bench soak
//!
//! Everything stops by itself after SOAK_SECS; the server is killed on exit.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

const POLICY: &str = r#"
version = 1
[flags]
created_per_day = 1000
[environments.development]
agent_may = ["set_targeting", "start_canary", "advance_canary", "record_signals", "rollback"]
steps = [10, 50, 100]
agent_rollback = "allow"
"#;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Latencies in microseconds and failures, per endpoint.
#[derive(Default)]
struct Stats {
    by: Mutex<BTreeMap<&'static str, (Vec<u32>, u64)>>,
}

impl Stats {
    fn record(&self, name: &'static str, started: Instant, ok: bool) {
        let us = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
        let mut by = self.by.lock().unwrap();
        let e = by.entry(name).or_default();
        e.0.push(us);
        if !ok {
            e.1 += 1;
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn call(tool: &str, args: Value) -> CallToolRequestParams {
    let Value::Object(m) = args else {
        unreachable!()
    };
    CallToolRequestParams::new(tool.to_owned()).with_arguments(m)
}

struct Server {
    child: std::process::Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path) -> Server {
    let cpu = std::env::var("SOAK_SERVER_CPU").ok();
    let mut cmd = match &cpu {
        Some(c) => {
            let mut t = std::process::Command::new("taskset");
            t.args(["-c", c]).arg(env!("CARGO_BIN_EXE_flagwarden"));
            t
        }
        None => std::process::Command::new(env!("CARGO_BIN_EXE_flagwarden")),
    };
    cmd.arg("--policy")
        .arg(dir.join("flagwarden.toml"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("start flagwarden serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("flagwarden serving ")
        .expect("address line")
        .to_owned();
    Server { child, url }
}

async fn agent(
    url: &str,
    name: &str,
) -> rmcp::service::RunningService<rmcp::RoleClient, ClientConfig> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{url}/mcp")),
    );
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new(name, "1"),
    )
    .serve(transport)
    .await
    .expect("connect an agent")
}

fn main() {
    // `cargo bench` passes --bench: the full run. `cargo test --all-targets` runs this without it: a
    // five-second smoke of the same load, whose memory figure is printed but too short to judge.
    let full = std::env::args().any(|a| a == "--bench");
    let secs = env_or("SOAK_SECS", if full { 60 } else { 5 });
    let warmup = env_or("SOAK_WARMUP", if full { 10 } else { 2 }).min(secs.saturating_sub(1));
    let ofrep_conns = env_or("SOAK_OFREP", 16) as usize;
    let agents = env_or("SOAK_AGENTS", 4) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("flagwarden.toml"), POLICY).unwrap();
    let server = start(dir.path());
    let pid = server.child.id();
    let url = server.url.clone();
    let stats = Arc::new(Stats::default());

    let failed = rt.block_on(async {
        // Twenty flags with targeting, one of them in a canary that signal batches feed.
        let setup = agent(&url, "setup").await;
        for i in 0..20 {
            let key = format!("flag-{i:02}");
            setup.call_tool(call("create_flag", json!({"key": key, "description": "soak", "change_type": "code", "reason": "r"}))).await.unwrap();
            setup.call_tool(call("set_targeting", json!({"key": key, "environment": "development", "rules": [
                {"conditions": [{"attribute": "plan", "op": "in", "values": ["pro", "team"]}], "serve": {"variant": "on"}},
                {"serve": {"split": [{"variant": "on", "percent": 30}, {"variant": "off", "percent": 70}]}}], "reason": "r"}))).await.unwrap();
        }
        setup.call_tool(call("create_flag", json!({"key": "canary", "description": "soak", "change_type": "code", "reason": "r"}))).await.unwrap();
        setup.call_tool(call("start_canary", json!({"key": "canary", "environment": "development", "candidate_variant": "on", "reason": "r"}))).await.unwrap();
        let _ = setup.cancel().await;

        let end = Instant::now() + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        let http = reqwest::Client::builder().pool_max_idle_per_host(ofrep_conns + 4).build().unwrap();
        for c in 0..ofrep_conns {
            let (http, url, stats) = (http.clone(), url.clone(), stats.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < end {
                    n += 1;
                    let user = format!("user-{}", (c as u64 * 7919 + n) % 100_000);
                    let plan = if n.is_multiple_of(5) { "pro" } else { "free" };
                    let body = json!({"context": {"targetingKey": user, "plan": plan}}).to_string();
                    let (name, path) = if n.is_multiple_of(50) {
                        ("ofrep bulk", "/ofrep/v1/evaluate/flags".to_owned())
                    } else {
                        ("ofrep single", format!("/ofrep/v1/evaluate/flags/flag-{:02}", n % 20))
                    };
                    let t = Instant::now();
                    let res = http.post(format!("{url}{path}")).header("content-type", "application/json").header("x-flagwarden-environment", "development").body(body).send().await;
                    let ok = match res {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    stats.record(name, t, ok);
                }
            }));
        }
        for a in 0..agents {
            let (url, stats) = (url.clone(), stats.clone());
            tasks.push(tokio::spawn(async move {
                let client = agent(&url, &format!("agent-{a}")).await;
                let mut n = 0u64;
                while Instant::now() < end {
                    n += 1;
                    let key = format!("flag-{:02}", (n + a as u64) % 20);
                    let (name, tool, args) = match n % 10 {
                        0 => ("mcp set_targeting", "set_targeting", json!({"key": key, "environment": "development", "rules": [], "enabled": n.is_multiple_of(20), "reason": "soak"})),
                        1..=3 => ("mcp evaluate_flag", "evaluate_flag", json!({"key": key, "environment": "development", "context": {"targetingKey": format!("u{n}")}})),
                        4..=5 => ("mcp canary_status", "canary_status", json!({"key": "canary", "environment": "development"})),
                        6 => ("mcp list_flags", "list_flags", json!({})),
                        _ => ("mcp get_flag", "get_flag", json!({"key": key})),
                    };
                    let t = Instant::now();
                    let ok = matches!(client.call_tool(call(tool, args)).await, Ok(r) if r.is_error != Some(true));
                    stats.record(name, t, ok);
                }
                let _ = client.cancel().await;
            }));
        }
        {
            let (http, url, stats) = (http.clone(), url.clone(), stats.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                while Instant::now() < end {
                    tick.tick().await;
                    n += 1;
                    let batch = json!({"batch_id": format!("soak-{n}"), "environment": "development", "signals": [
                        {"flag": "canary", "arm": "canary", "exposures": 100, "requests": 100, "errors": n % 3, "latency_ms": {"50": 90, "250": 9, "+Inf": 1}},
                        {"flag": "canary", "arm": "control", "exposures": 100, "requests": 100, "errors": 1, "latency_ms": {"50": 91, "250": 8, "+Inf": 1}}]});
                    let t = Instant::now();
                    let ok = matches!(http.post(format!("{url}/api/v1/signals")).json(&batch).send().await, Ok(r) if r.status().is_success());
                    stats.record("signals batch", t, ok);
                }
            }));
        }
        // Memory, once a second.
        let mut samples = Vec::new();
        let started = Instant::now();
        while Instant::now() < end {
            tokio::time::sleep(Duration::from_secs(1)).await;
            samples.push((started.elapsed().as_secs(), rss_kib(pid)));
        }
        for t in tasks {
            let _ = t.await;
        }
        report(&stats, &samples, secs, warmup)
    });
    drop(server);
    std::process::exit(i32::from(failed));
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    f64::from(sorted[i]) / 1000.0
}

/// Prints the figures; true if the run failed its bounds.
fn report(stats: &Stats, samples: &[(u64, u64)], secs: u64, warmup: u64) -> bool {
    let mut failed = false;
    println!(
        "{:<20} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "endpoint", "requests", "per s", "p50 ms", "p90 ms", "p99 ms", "max ms", "failed"
    );
    for (name, (lat, errors)) in stats.by.lock().unwrap().iter_mut() {
        lat.sort_unstable();
        println!(
            "{name:<20} {:>9} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {errors:>7}",
            lat.len(),
            lat.len() as f64 / secs as f64,
            pct(lat, 0.50),
            pct(lat, 0.90),
            pct(lat, 0.99),
            pct(lat, 1.0),
        );
        failed |= *errors > 0;
    }
    let after_warmup: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= warmup)
        .map(|(_, r)| *r)
        .collect();
    let (Some(first), Some(peak)) = (after_warmup.first(), after_warmup.iter().max()) else {
        println!("no memory samples after the warm-up");
        return true;
    };
    let last = *after_warmup.last().unwrap();
    let growth = (*peak as f64 - *first as f64) / *first as f64 * 100.0;
    println!(
        "resident memory: {:.1} MiB after {warmup} s warm-up, {:.1} MiB at the end, peak {:.1} MiB: {growth:+.1} % (bound: under 10 %)",
        *first as f64 / 1024.0,
        last as f64 / 1024.0,
        *peak as f64 / 1024.0
    );
    println!(
        "memory samples (s, MiB): {}",
        samples
            .iter()
            .map(|(t, r)| format!("{t}:{:.1}", *r as f64 / 1024.0))
            .collect::<Vec<_>>()
            .join(" ")
    );
    if secs < 30 {
        println!("(a run under 30 s does not judge memory growth)");
    } else if growth >= 10.0 {
        println!("FAILED: memory grew {growth:.1} % after warm-up");
        failed = true;
    }
    if failed {
        println!("FAILED: see above");
    }
    failed
}
