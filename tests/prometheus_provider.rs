//! The Prometheus query provider against a real Prometheus (Debian's 2.42, fetched by
//! scripts/prometheus.sh, its path in `PROMETHEUS_BIN`): the test starts it with its own config and
//! a temporary data directory on 127.0.0.1, scraping every second a small application in this test
//! whose `/metrics` counts requests per flag, arm and status code while a load thread drives it. A
//! real `flagwarden serve` reads Prometheus under a policy naming it and the PromQL per arm, and:
//!
//! - reaches a verdict (ROLLBACK, the canary failing 10 % of requests against 1 %) on Prometheus
//!   evidence alone, never counting more requests than the application served;
//! - trips a guardrail (the canary's 5xx ratio above 0.2) as a circuit breaker: the system rolls
//!   back at once under `auto_rollback_critical`;
//! - records no data (a series that does not exist) and a query Prometheus refuses as gaps;
//! - after `serve` is killed and restarted, resumes without counting a window twice;
//! - once Prometheus is stopped, records an evidence gap with its reason, shown by canary_status:
//!   the verdict is HOLD (no pass), and nothing rolls back on it.
//!
//! Without `PROMETHEUS_BIN` the test skips with a note, unless `FLAGWARDEN_REQUIRE_TOOLCHAINS=1`
//! (scripts/test.sh sets it), when it fails.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Project, connect_http};
use serde_json::{Value, json};

/// Flags and the share of their arms' requests that fail: (canary, control) in errors per 100.
const FLAGS: [(&str, u64, u64); 3] = [
    ("bad-checkout", 10, 1),
    ("guarded-search", 50, 1),
    ("steady-banner", 1, 1),
];
/// Requests per arm per load tick (every 50 ms: 400 a second per arm).
const PER_TICK: u64 = 20;

fn prometheus_bin() -> Option<String> {
    match std::env::var("PROMETHEUS_BIN") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            if std::env::var("FLAGWARDEN_REQUIRE_TOOLCHAINS").as_deref() == Ok("1") {
                panic!(
                    "PROMETHEUS_BIN is not set and FLAGWARDEN_REQUIRE_TOOLCHAINS=1: run `eval \"$(bash scripts/prometheus.sh)\"` first"
                );
            }
            eprintln!(
                "note: skipping the real-Prometheus test: PROMETHEUS_BIN is not set (eval \"$(bash scripts/prometheus.sh)\" fetches Debian's prometheus)"
            );
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The application's counters: (flag, arm, code) → requests served.
type Counters = Arc<Mutex<BTreeMap<(String, String, u16), u64>>>;

/// Serves `/metrics` in Prometheus's text format from `counters` on a free port; returns it.
fn serve_metrics(counters: Counters) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let mut body = String::from(
                "# HELP app_requests_total Requests served, by flag, arm and status code.\n# TYPE app_requests_total counter\n",
            );
            for ((flag, arm, code), n) in counters.lock().unwrap().iter() {
                body.push_str(&format!(
                    "app_requests_total{{flag=\"{flag}\",arm=\"{arm}\",code=\"{code}\"}} {n}\n"
                ));
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(body.as_bytes());
        }
    });
    port
}

/// Drives the application: every 50 ms each arm of each flag serves `PER_TICK` requests, of which
/// the flag's share fail (exactly: the errors owed so far are counted, not drawn at random).
fn drive_load(counters: Counters, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    {
        // Every series exists, at zero, before the first scrape: a counter that appears later
        // loses its first increase, and a missing error series would read as no data.
        let mut c = counters.lock().unwrap();
        for (flag, _, _) in FLAGS {
            for arm in ["canary", "control"] {
                for code in [200, 500] {
                    c.insert((flag.into(), arm.into(), code), 0);
                }
            }
        }
    }
    std::thread::spawn(move || {
        let mut served = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let before = served;
            served += PER_TICK;
            {
                let mut c = counters.lock().unwrap();
                for (flag, canary, control) in FLAGS {
                    for (arm, per100) in [("canary", canary), ("control", control)] {
                        let errors = served * per100 / 100 - before * per100 / 100;
                        *c.get_mut(&(flag.into(), arm.into(), 500)).unwrap() += errors;
                        *c.get_mut(&(flag.into(), arm.into(), 200)).unwrap() += PER_TICK - errors;
                    }
                }
            }
            // Load arrives over time: this pause is the traffic's pace, not a wait for anything.
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

fn truth(counters: &Counters, flag: &str, arm: &str) -> u64 {
    let c = counters.lock().unwrap();
    [200, 500]
        .iter()
        .map(|code| c[&(flag.to_owned(), arm.to_owned(), *code)])
        .sum()
}

async fn status(agent: &common::Client, flag: &str) -> Value {
    agent
        .call(
            "canary_status",
            json!({"key": flag, "environment": "production"}),
        )
        .await
        .ok()
}

/// Polls `f` every 200 ms until it returns `Some`, for at most `limit`.
async fn until<T>(what: &str, limit: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Prometheus {
    child: Child,
    url: String,
    _data: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Prometheus scraping `target` every second and waits until it is ready and the target up.
async fn start_prometheus(bin: &str, target: u16) -> Prometheus {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            data.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let p = Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _data: data,
    };
    let http = reqwest::Client::new();
    until(
        "Prometheus to be ready",
        Duration::from_secs(30),
        async || {
            let r = http.get(format!("{}/-/ready", p.url)).send().await.ok()?;
            r.status().is_success().then_some(())
        },
    )
    .await;
    until(
        "the application's target to be up",
        Duration::from_secs(30),
        async || {
            let v: Value = http
                .get(format!("{}/api/v1/targets", p.url))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (v["data"]["activeTargets"][0]["health"] == "up").then_some(())
        },
    )
    .await;
    p
}

fn policy(prometheus: &str) -> String {
    format!(
        r#"version = 1
[environments.production]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
steps = [50, 100]
auto_rollback_critical = true
[environments.production.gate]
min_samples = 100
[environments.production.prometheus]
url = "{prometheus}"
interval = "2s"
delay = "1s"
timeout = "2s"
[environments.production.prometheus.metrics.error_rate]
trials = 'sum(increase(app_requests_total{{flag="{{{{flag}}}}",arm="{{{{arm}}}}"}}[{{{{window}}}}]))'
events = 'sum(increase(app_requests_total{{flag="{{{{flag}}}}",arm="{{{{arm}}}}",code="500"}}[{{{{window}}}}]))'
[[environments.production.prometheus.flags.guarded-search.guardrails]]
name = "canary_5xx_ratio"
query = 'sum(rate(app_requests_total{{flag="{{{{flag}}}}",arm="{{{{arm}}}}",code="500"}}[5s])) / sum(rate(app_requests_total{{flag="{{{{flag}}}}",arm="{{{{arm}}}}"}}[5s]))'
above = 0.2
[environments.production.prometheus.flags.broken-query.metrics.error_rate]
trials = 'sum(increase(app_requests_total{{arm="{{{{arm}}}}"}}[{{{{window}}}}])'
events = 'sum(increase(app_requests_total{{arm="{{{{arm}}}}",code="500"}}[{{{{window}}}}]))'
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_reads_prometheus_trips_guardrails_and_shows_gaps() {
    let Some(bin) = prometheus_bin() else { return };
    let counters: Counters = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let load = drive_load(counters.clone(), stop.clone());
    let app_port = serve_metrics(counters.clone());
    let mut prometheus = start_prometheus(&bin, app_port).await;

    let project = Project::new(&policy(&prometheus.url));
    let mut served = project.serve();
    let mut agent = connect_http(&served.url, "prometheus-agent", None).await;
    // Two more flags: one whose series the application never exports (no data, never zero), one
    // whose trials query Prometheus refuses (an unclosed parenthesis the policy cannot see).
    let extra = ["quiet-flag", "broken-query"];
    for flag in FLAGS.iter().map(|f| f.0).chain(extra) {
        agent.create_flag(flag).await;
        agent
            .call(
                "start_canary",
                json!({"key": flag, "environment": "production", "candidate_variant": "on", "reason": "canary read from Prometheus"}),
            )
            .await
            .ok();
    }
    // A verdict on Prometheus evidence alone: the canary's 10 % against the control's 1 %.
    let bad = until(
        "ROLLBACK on bad-checkout",
        Duration::from_secs(90),
        async || {
            let s = status(&agent, "bad-checkout").await;
            (s["gate"]["verdict"] == "ROLLBACK").then_some(s)
        },
    )
    .await;
    let error_rate = bad["gate"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "error_rate")
        .unwrap()
        .clone();
    assert_eq!(error_rate["label"], "HARM", "{bad:#}");
    // error_rate is not critical: nothing rolls back by itself; the controller in `serve` freezes
    // exposure (ROLLBACK_PENDING, a proposed rollback) on its look after the evidence committed.
    assert!(
        ["RUNNING", "ROLLBACK_PENDING"].contains(&bad["rollout"]["state"].as_str().unwrap()),
        "a non-critical harm froze or awaited the controller's look, nothing rolled back: {bad:#}"
    );
    until(
        "the controller freezes bad-checkout",
        Duration::from_secs(30),
        async || {
            let s = status(&agent, "bad-checkout").await;
            (s["rollout"]["state"] == "ROLLBACK_PENDING").then_some(())
        },
    )
    .await;
    for arm in ["canary", "control"] {
        let recorded = bad[arm]["requests"].as_u64().unwrap();
        let served_so_far = truth(&counters, "bad-checkout", arm);
        assert!(recorded > 0, "{arm}: {bad:#}");
        // increase() extrapolates to a window's edges, a little either way; a window counted twice
        // would overshoot by far more.
        assert!(
            recorded as f64 <= served_so_far as f64 * 1.05 + 50.0,
            "{arm}: recorded {recorded} requests, the application served {served_so_far}"
        );
    }
    let canary_rate =
        bad["canary"]["errors"].as_f64().unwrap() / bad["canary"]["requests"].as_f64().unwrap();
    assert!(
        (0.07..0.13).contains(&canary_rate),
        "canary error rate {canary_rate}: {bad:#}"
    );

    // A guardrail is a circuit breaker: the system rolls back at once.
    let guarded = until(
        "the guardrail to roll back guarded-search",
        Duration::from_secs(60),
        async || {
            let s = status(&agent, "guarded-search").await;
            (s["rollout"]["state"] == "ROLLED_BACK").then_some(s)
        },
    )
    .await;
    let breaker = guarded["gate"]["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["metric"] == "guardrail:canary_5xx_ratio")
        .unwrap_or_else(|| panic!("no guardrail among the breakers: {guarded:#}"))
        .clone();
    assert_eq!(breaker["tripped"], true, "{guarded:#}");
    assert!(
        breaker["canary"]["value"].as_f64().unwrap() > 0.4,
        "{breaker}"
    );

    // Evidence flowed for the steady flag before Prometheus goes away.
    until(
        "evidence on steady-banner",
        Duration::from_secs(30),
        async || {
            let s = status(&agent, "steady-banner").await;
            (s["canary"]["requests"].as_u64() > Some(0)).then_some(())
        },
    )
    .await;

    // No series is no data, never a zero count; a query Prometheus refuses is a gap with its error.
    for (flag, says) in [
        (
            "quiet-flag",
            "no data: canary trials: the query returned no series",
        ),
        ("broken-query", "bad_data"),
    ] {
        let s = until(
            &format!("a gap on {flag}"),
            Duration::from_secs(30),
            async || {
                let s = status(&agent, flag).await;
                s["gaps"].to_string().contains(says).then_some(s)
            },
        )
        .await;
        assert_eq!(s["canary"]["requests"], 0, "{s:#}");
        assert_eq!(s["gate"]["verdict"], "HOLD", "{s:#}");
        assert_eq!(s["rollout"]["state"], "RUNNING", "{s:#}");
    }

    // A crash and a restart: the cursors resume where the recorded windows end, none twice.
    let before = status(&agent, "steady-banner").await["canary"]["requests"]
        .as_u64()
        .unwrap();
    agent.close().await;
    served.kill9();
    served = project.serve();
    agent = connect_http(&served.url, "prometheus-agent", None).await;
    let steady = until(
        "evidence on steady-banner after the restart",
        Duration::from_secs(30),
        async || {
            let s = status(&agent, "steady-banner").await;
            (s["canary"]["requests"].as_u64()? > before + 2000).then_some(s)
        },
    )
    .await;
    for arm in ["canary", "control"] {
        let recorded = steady[arm]["requests"].as_u64().unwrap();
        let served_so_far = truth(&counters, "steady-banner", arm);
        assert!(
            recorded as f64 <= served_so_far as f64 * 1.05 + 50.0,
            "{arm} after a restart: recorded {recorded} requests, the application served {served_so_far}"
        );
    }

    // Prometheus stops: a gap with its reason, never a verdict of its own.
    let _ = prometheus.child.kill();
    let _ = prometheus.child.wait();
    let steady = until(
        "an evidence gap on steady-banner",
        Duration::from_secs(30),
        async || {
            let s = status(&agent, "steady-banner").await;
            let open = s["gaps"].as_array().is_some_and(|g| {
                g.iter().any(|g| {
                    g.as_str().is_some_and(|g| {
                        g.contains("cannot reach Prometheus") && g.contains("open since")
                    })
                })
            });
            open.then_some(s)
        },
    )
    .await;
    assert_eq!(
        steady["gate"]["verdict"], "HOLD",
        "a gap is never a pass: {steady:#}"
    );
    assert_eq!(steady["rollout"]["state"], "RUNNING", "{steady:#}");
    let reasons = steady["gate"]["reasons"].to_string();
    assert!(reasons.contains("evidence gap"), "{steady:#}");
    let bad_after = status(&agent, "bad-checkout").await;
    assert_eq!(
        bad_after["rollout"]["state"], "ROLLBACK_PENDING",
        "a gap rolls nothing back: the frozen canary waits for its human: {bad_after:#}"
    );

    // Every window came from Prometheus, recorded by the system with an audit event each.
    let conn = rusqlite::Connection::open(project.db()).unwrap();
    let sources: Vec<String> = conn
        .prepare("SELECT DISTINCT source FROM signals")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(sources, ["prometheus"]);
    let audited: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'ingest_prometheus' AND actor_kind = 'system'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(audited > 0);

    agent.close().await;
    drop(served);
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
}
