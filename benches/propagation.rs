//! Change propagation, measured end to end on loopback: from a `rollback` tool call returning to an
//! agent (MCP over HTTP) to an `/api/v1/stream` subscriber holding the event, and from the call being
//! sent (which includes the durable commit). Runs the release binary
//! as `flagwarden serve`, 200 rollback cycles, and prints p50 / p99 / max. Bounded: 200 cycles, each
//! waiting at most 5 s.
//!
//!     cargo bench --bench propagation

use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Value, json};

const CYCLES: usize = 200;
const POLICY: &str = r#"
version = 1
[environments.development]
agent_may = ["set_targeting", "start_canary", "advance_canary", "record_signals", "rollback"]
agent_rollback = "allow"
"#;

struct Events {
    res: reqwest::Response,
    buf: String,
}

impl Events {
    /// Waits for the next event about `action`; returns when it was fully received.
    async fn until(&mut self, action: &str) -> Instant {
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                    let v: Value = serde_json::from_str(data).expect("event JSON");
                    if v["action"] == action {
                        return Instant::now();
                    }
                }
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.res.chunk())
                .await
                .expect("an event within 5 s")
                .expect("stream")
                .expect("stream open");
            self.buf
                .push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("flagwarden.toml"), POLICY).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flagwarden"))
        .arg("--policy")
        .arg(dir.path().join("flagwarden.toml"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line
        .trim()
        .strip_prefix("flagwarden serving ")
        .unwrap()
        .to_owned();

    let transport = StreamableHttpClientTransport::from_uri(format!("{url}/mcp"));
    let agent = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("bench", "1"),
    )
    .serve(transport)
    .await
    .expect("initialize");
    let call = |tool: &'static str, args: Value| {
        let Value::Object(map) = args else {
            unreachable!()
        };
        let agent = &agent;
        async move {
            let r = agent
                .call_tool(CallToolRequestParams::new(tool).with_arguments(map))
                .await
                .expect("tools/call");
            assert_ne!(r.is_error, Some(true), "{tool}: {:?}", r.content);
        }
    };
    call(
        "create_flag",
        json!({"key": "prop", "description": "d", "change_type": "code", "reason": "bench"}),
    )
    .await;
    let res = reqwest::Client::new()
        .get(format!("{url}/api/v1/stream?environment=development"))
        .send()
        .await
        .unwrap();
    let mut events = Events {
        res,
        buf: String::new(),
    };

    let (mut lags, mut totals) = (Vec::with_capacity(CYCLES), Vec::with_capacity(CYCLES));
    for _ in 0..CYCLES {
        call("start_canary", json!({"key": "prop", "environment": "development", "candidate_variant": "on", "reason": "bench"})).await;
        events.until("start_canary").await;
        let sent = Instant::now();
        call(
            "rollback",
            json!({"key": "prop", "environment": "development", "reason": "bench"}),
        )
        .await;
        let returned = Instant::now();
        let received = events.until("rollback").await;
        // The event often arrives before the tool's answer does: that counts as zero.
        lags.push(received.saturating_duration_since(returned));
        totals.push(received - sent);
    }
    for (what, d) in [
        ("rollback returned → stream event received", &mut lags),
        ("rollback sent → stream event received", &mut totals),
    ] {
        d.sort();
        println!(
            "{what}, {CYCLES} cycles: p50 {:?}, p99 {:?}, max {:?}",
            percentile(d, 0.50),
            percentile(d, 0.99),
            d[d.len() - 1]
        );
    }
    let _ = agent.cancel().await;
    let _ = child.kill();
    let _ = child.wait();
}
