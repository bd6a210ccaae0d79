//! How long the console takes to render its two heaviest pages, measured against the real
//! `flagwarden serve` on 127.0.0.1: the approvals page with ten pending rollbacks, each with a day of
//! looks (49 stored evaluations), and the flags page with 1,000 flags. Sequential GETs, the latency
//! seen by the client on loopback (server time plus a loopback round trip), p50 and p99, and each
//! page's transfer size. Stores are seeded as tests/console.rs seeds them.
//!
//! cargo run --release --example console_bench -- [REQUESTS]   (the README's numbers)

#[path = "../tests/common/console_seed.rs"]
mod seed;

use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

fn serve(bin: &Path, dir: &Path, now: &str) -> (std::process::Child, String) {
    let clock = dir.join("now.txt");
    std::fs::write(&clock, now).unwrap();
    let mut child = std::process::Command::new(bin)
        .arg("--policy")
        .arg(dir.join("flagwarden.toml"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("FLAGWARDEN_CLOCK_FILE", &clock)
        .env_remove("FLAGWARDEN_TOKENS")
        .env_remove("FLAGWARDEN_DB")
        .stdout(std::process::Stdio::piped())
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("start flagwarden serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.split_whitespace().last().unwrap().to_owned();
    (child, url)
}

/// User plus system CPU seconds process `pid` has used (Linux `/proc`, clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

async fn measure(url: &str, path: &str, n: usize) -> (Duration, Duration, usize) {
    let http = reqwest::Client::new();
    let mut times = Vec::with_capacity(n);
    let mut size = 0;
    for i in 0..n + 5 {
        let t = Instant::now();
        let res = http.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let body = res.bytes().await.unwrap();
        if i >= 5 {
            times.push(t.elapsed()); // the first five warm the server up
        }
        size = body.len();
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    (pct(0.50), pct(0.99), size)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(200, |s| s.parse().expect("REQUESTS"));
    let bin = std::env::var_os("FLAGWARDEN_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().unwrap();
            exe.parent().unwrap().parent().unwrap().join("flagwarden")
        });
    let approvals = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let a = seed::seed(approvals.path(), 10, 0);
    eprintln!("seeded 10 rollouts x 49 looks in {:?}", t.elapsed());
    let flags = tempfile::tempdir().unwrap();
    let f = seed::seed(flags.path(), 0, 1000);
    let (now_a, now_f) = (a.now.clone(), f.now.clone());
    drop((a, f));
    for (dir, now, path, what) in [
        (
            approvals.path(),
            now_a,
            "/console/approvals",
            "approvals, 10 pending x 49 looks",
        ),
        (flags.path(), now_f, "/console/flags", "flags, 1,000 flags"),
    ] {
        let (mut child, url) = serve(&bin, dir, &now);
        let cpu_before = cpu_seconds(child.id());
        let (p50, p99, size) = measure(&url, path, n).await;
        // Server CPU per request (warm-up included): what the render costs whatever else the
        // machine runs, where the latencies also carry the scheduler's noise.
        let cpu = (cpu_seconds(child.id()) - cpu_before) / (n + 5) as f64;
        println!(
            "{what}: p50 {:.2} ms, p99 {:.2} ms, server CPU {:.2} ms per request, {size} bytes ({n} requests)",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            cpu * 1e3
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}
