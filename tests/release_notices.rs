//! Release notices from the real binary to receivers on 127.0.0.1, on a controlled clock: a scripted
//! rollout (start, advance, a hold on unsure evidence, a proposed rollback a human approves) and an
//! emergency change (break-glass, a change under it, its follow-up review closed by a second
//! person) reach a generic and a Slack receiver in order, each with its release note; a receiver for
//! another environment hears none of it; a dead receiver delays nothing; a digest webhook batches
//! what is not urgent into one message per interval, flushes it before an urgent notice, and after
//! a crash mid-digest sends it again; bad webhook fields are refused by name. Nothing sleeps: every
//! wait is bounded and the digest interval passes by moving the clock file.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Project, Receiver, Served, connect_http};
use serde_json::{Value, json};
use tokio::net::TcpListener;

const PATIENCE: Duration = Duration::from_secs(30);
const TUESDAY: &str = "2027-01-12T10:00:00Z";

/// The standard environments, with a production gate that judges the error rate to a 1 % margin.
const POLICY: &str = concat!(
    "version = 1\n",
    include_str!("data/policies/standard.toml"),
    r#"
[environments.production.gate]
min_samples = 100
fresh_within = "24h"
breakers = [{ metric = "error_rate", above = 0.05, min_samples = 100 }]
[environments.production.gate.metrics.error_rate]
margin = 0.01
"#
);

fn set_clock(clock: &Path, at: &str) {
    let tmp = clock.with_extension("tmp");
    std::fs::write(&tmp, at).unwrap();
    std::fs::rename(&tmp, clock).unwrap();
}

struct Setup {
    p: Project,
    clock: PathBuf,
}

impl Setup {
    fn new(policy: &str) -> Setup {
        let p = Project::new(policy);
        let clock = p.path().join("now.txt");
        set_clock(&clock, TUESDAY);
        Setup { p, clock }
    }

    fn serve(&self) -> Served {
        self.p.serve_with(
            &[],
            &[("FLAGWARDEN_CLOCK_FILE", self.clock.to_str().unwrap())],
        )
    }

    /// `person` at the command line, on the same clock.
    fn cli_as(&self, person: &str, args: &[&str]) -> String {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_flagwarden"))
            .arg("--policy")
            .arg(self.p.policy())
            .args(args)
            .env("FLAGWARDEN_HUMAN", person)
            .env("FLAGWARDEN_CLOCK_FILE", &self.clock)
            .env_remove("FLAGWARDEN_DB")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "flagwarden {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

fn hook(url: &str, extra: &str) -> String {
    format!("\n[[webhooks]]\nurl = \"{url}\"\n{extra}\n")
}

async fn signals(agent: &common::Client, canary: (u64, u64), control: (u64, u64)) {
    for (arm, (requests, errors)) in [("canary", canary), ("control", control)] {
        agent
            .call(
                "record_signals",
                json!({"key": "pay", "environment": "production", "arm": arm,
                       "requests": requests, "errors": errors, "reason": "traffic"}),
            )
            .await
            .ok();
    }
}

async fn advance(agent: &common::Client) -> Value {
    agent
        .call(
            "advance_canary",
            json!({"key": "pay", "environment": "production", "reason": "next"}),
        )
        .await
        .ok()
}

async fn create_pay(agent: &common::Client) {
    agent
        .call(
            "create_flag",
            json!({"key": "pay", "description": "the new payment page", "change_type": "code",
                   "owner": "payments", "reason": "ship it"}),
        )
        .await
        .ok();
}

async fn start_pay(agent: &common::Client) -> i64 {
    let started = agent
        .call(
            "start_canary",
            json!({"key": "pay", "environment": "production", "candidate_variant": "on", "reason": "canary"}),
        )
        .await
        .ok();
    started["rollout"]["id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_rollout_and_an_emergency_reach_both_formats_in_order() {
    let mut generic = Receiver::start(0).await;
    let mut slack = Receiver::start(0).await;
    let mut development = Receiver::start(0).await;
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}/hook", l.local_addr().unwrap())
    };
    let policy = format!(
        "{POLICY}{}{}{}{}",
        hook(&generic.url, "environments = [\"production\"]"),
        hook(&refused, ""),
        hook(&slack.url, "format = \"slack\""),
        hook(&development.url, "environments = [\"development\"]"),
    );
    let t = Setup::new(&policy);
    let s = t.serve();
    let agent = connect_http(&s.url, "claude", None).await;
    create_pay(&agent).await;
    let rollout = start_pay(&agent).await;
    // No evidence yet: a hold that only waits for samples is no news, and tells nobody.
    let waiting = advance(&agent).await;
    assert_eq!(waiting["gate"]["verdict"], "HOLD", "{waiting}");
    // Enough samples, not yet enough to rule out harm beyond the 1 % margin: a hold worth telling.
    signals(&agent, (400, 2), (400, 2)).await;
    let held = advance(&agent).await;
    assert_eq!(held["gate"]["verdict"], "HOLD", "{held}");
    assert_eq!(
        held["gate"]["metrics"][0]["label"], "INCONCLUSIVE",
        "{held}"
    );
    signals(&agent, (10_000, 50), (10_000, 50)).await;
    let advanced = advance(&agent).await;
    assert_eq!(advanced["rollout"]["percent"], 25.0, "{advanced}");
    let proposal = agent
        .call(
            "rollback",
            json!({"key": "pay", "environment": "production", "reason": "errors up"}),
        )
        .await
        .ok();
    let id = proposal["approval_id"].as_i64().unwrap();
    t.cli_as(
        "alice",
        &["approve", &id.to_string(), "--yes", "--reason", "agreed"],
    );
    // The emergency: break-glass, a change under it, its review closed by someone else.
    t.cli_as(
        "alice",
        &[
            "break-glass",
            "--env",
            "production",
            "--reason",
            "outage",
            "--for",
            "1h",
            "--yes",
        ],
    );
    agent
        .call(
            "set_targeting",
            json!({"key": "pay", "environment": "production", "rules": [], "default_variant": "off", "reason": "outage fix"}),
        )
        .await
        .ok();
    let reviews: Value = serde_json::from_str(&t.cli_as("bob", &["approvals", "--json"])).unwrap();
    let review = reviews["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "follow_up")
        .and_then(|a| a["id"].as_i64())
        .unwrap_or_else(|| panic!("a follow-up review: {reviews}"));
    t.cli_as(
        "bob",
        &[
            "approve",
            &review.to_string(),
            "--yes",
            "--reason",
            "checked the fix",
        ],
    );

    let want = [
        "started",
        "held",
        "advanced",
        "approval_requested",
        "approval_decided",
        "rolled_back",
        "emergency",
        "emergency",
        "emergency",
        "approval_decided",
        "emergency",
    ];
    let mut got = Vec::new();
    let mut seqs = Vec::new();
    for _ in want {
        let b = generic.next().await;
        eprintln!("generic: {} {}", b["event"], b["summary"]);
        got.push(b["event"].as_str().unwrap().to_owned());
        seqs.push(b["audit_seq"].as_i64().unwrap());
        if b["event"] == "started" {
            assert_eq!(b["rollout_id"], rollout);
            assert_eq!(b["exposure"], "5%");
            let note = &b["release_note"];
            assert_eq!(note["description"], "the new payment page");
            assert_eq!(note["change_type"], "code");
            assert_eq!(note["owner"], "payments");
            assert_eq!(note["plan"], json!(["5%", "25%", "50%", "100%"]));
        }
        if b["event"] == "advanced" {
            assert_eq!(b["exposure"], "25%", "{b}");
            assert_eq!(
                b["release_note"]["verdict"], "PROMOTE",
                "the evaluation behind the step: {b}"
            );
        }
        if b["event"] == "held" {
            assert_eq!(b["release_note"]["verdict"], "HOLD", "{b}");
            let evidence = b["release_note"]["evidence"].to_string();
            assert!(
                evidence.contains(
                    "error_rate: canary 0.50% vs control 0.50% (n 400/400), INCONCLUSIVE"
                ),
                "{evidence}"
            );
            assert!(evidence.contains("INCONCLUSIVE"), "{evidence}");
        }
    }
    assert_eq!(got, want);
    assert!(
        seqs.windows(2).all(|w| w[0] <= w[1]),
        "in audit order: {seqs:?}"
    );

    let mut titles = Vec::new();
    for _ in want {
        let b = slack.next().await;
        let section = b["blocks"][0]["text"]["text"].as_str().unwrap().to_owned();
        titles.push(section.split(['*']).nth(1).unwrap_or_default().to_owned());
        assert!(
            b["text"].as_str().unwrap().starts_with("flagwarden: "),
            "{b}"
        );
        if section.starts_with("*Rollout started*") {
            assert!(section.contains("\nthe new payment page (code change, owner payments)\nplan 5% → 25% → 50% → 100%; now "), "{section}");
        }
    }
    assert_eq!(
        titles,
        [
            "Rollout started",
            "Rollout held",
            "Rollout advanced",
            "Approval requested",
            "Approval approved",
            "Rolled back",
            "Emergency change",
            "Emergency change",
            "Emergency change",
            "Approval approved",
            "Emergency change",
        ]
    );

    // The development receiver heard nothing of production: its first notice is this one.
    agent.create_flag("other").await;
    let dev = agent
        .call(
            "rollback",
            json!({"key": "other", "environment": "development", "reason": "check"}),
        )
        .await
        .ok();
    let first = development.next().await;
    assert_eq!(
        (&first["event"], &first["audit_seq"]),
        (&json!("rolled_back"), &dev["audit_seq"])
    );
    agent.close().await;
    s.stop();
}

/// The events of a digest body, in order.
fn events_of(digest: &Value) -> Vec<String> {
    assert_eq!(digest["event"], "digest", "{digest}");
    digest["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["event"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_batches_per_interval_flushes_before_urgent_notices_and_survives_a_crash() {
    let mut digest = Receiver::start(0).await;
    let mut live = Receiver::start(0).await;
    let policy = format!(
        "{POLICY}{}{}",
        hook(
            &digest.url,
            "digest = \"10m\"\nenvironments = [\"production\"]"
        ),
        hook(&live.url, "environments = [\"production\"]"),
    );
    let t = Setup::new(&policy);
    let s = t.serve();
    let agent = connect_http(&s.url, "claude", None).await;
    create_pay(&agent).await;
    start_pay(&agent).await;
    signals(&agent, (400, 2), (400, 2)).await;
    advance(&agent).await; // held on unsure evidence
    assert_eq!(live.next().await["event"], "started");
    assert_eq!(live.next().await["event"], "held");

    // Ten minutes on: one message with both, in order.
    set_clock(&t.clock, "2027-01-12T10:10:00Z");
    let first = digest.next().await;
    assert_eq!(events_of(&first), ["started", "held"], "{first}");
    assert!(first["notices"][0]["release_note"]["description"].is_string());
    assert!(first["from_seq"].as_i64() < first["through_seq"].as_i64());

    // A step waits in the digest; the proposed rollback is urgent: the digest goes first, at once.
    signals(&agent, (10_000, 50), (10_000, 50)).await;
    assert_eq!(advance(&agent).await["rollout"]["percent"], 25.0);
    agent
        .call(
            "rollback",
            json!({"key": "pay", "environment": "production", "reason": "errors up"}),
        )
        .await
        .ok();
    let flushed = digest.next().await;
    assert_eq!(events_of(&flushed), ["advanced"], "{flushed}");
    assert_eq!(digest.next().await["event"], "approval_requested");
    for want in ["advanced", "approval_requested"] {
        assert_eq!(live.next().await["event"], want);
    }

    // A crash with a notice waiting in the digest: after the restart it is read again and sent.
    t.cli_as("alice", &["reject", "1", "--yes", "--reason", "noise"]);
    assert_eq!(live.next().await["event"], "approval_decided");
    agent.close().await;
    s.kill9();
    let s = t.serve();
    set_clock(&t.clock, "2027-01-12T10:30:00Z");
    let again = digest.next().await;
    assert_eq!(events_of(&again), ["approval_decided"], "{again}");
    assert_eq!(again["notices"][0]["decision"], "rejected");
    s.stop();
}

#[test]
fn bad_webhook_fields_are_refused_by_name_and_change_nothing() {
    let t = Setup::new(&format!("{POLICY}{}", hook("http://127.0.0.1:9/hook", "")));
    t.cli_as("alice", &["flags"]);
    let before = t.p.db_bytes();
    for (field, want) in [
        (
            "events = [\"started\", \"shipped\"]",
            "webhooks[0].events: unknown event \"shipped\": use approval_requested, approval_decided, started, advanced, held, paused, completed, rolled_back, emergency",
        ),
        (
            "environments = [\"prod\"]",
            "webhooks[0].environments: unknown environment \"prod\": the policy declares development, production",
        ),
        (
            "digest = \"soon\"",
            "webhooks[0].digest: \"soon\" is not a digest interval: a duration between 10s and 24h, such as \"10m\"",
        ),
        (
            "digest = \"1s\"",
            "webhooks[0].digest: \"1s\" is not a digest interval",
        ),
        ("digests = \"10m\"", "unknown field `digests`"),
    ] {
        std::fs::write(
            t.p.policy(),
            format!("{POLICY}{}", hook("http://127.0.0.1:9/hook", field)),
        )
        .unwrap();
        for args in [&["policy", "check"][..], &["flags"][..]] {
            let out = t.p.cli(args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{field}: {args:?} ran");
            assert!(err.contains(want), "{field}: {args:?}: {err}");
        }
    }
    assert_eq!(t.p.db_bytes(), before, "a refused policy changed nothing");
}

#[test]
fn explain_says_per_environment_whether_release_notices_are_on() {
    let t = Setup::new(&format!(
        "{POLICY}{}{}",
        hook(
            "https://hooks.example/secret-path",
            "format = \"slack\"\nenvironments = [\"production\"]\ndigest = \"10m\"\nevents = [\"started\", \"rolled_back\"]"
        ),
        hook("http://127.0.0.1:9/hook", "environments = [\"production\"]"),
    ));
    let out = t.cli_as("alice", &["policy", "check", "--explain"]);
    assert!(
        out.contains("release notices: webhooks[0] (slack: started, rolled_back, digest every 10m (urgent ones at once)); webhooks[1] (json: every event)"),
        "{out}"
    );
    assert!(
        out.contains("release notices: none (nobody is told of approvals, steps, rollbacks or emergencies; no webhook names this environment)"),
        "development is left out: {out}"
    );
    assert!(
        !out.contains("secret-path"),
        "a webhook URL is a secret: {out}"
    );
}

/// Reads server-sent events from `res` until `n` have arrived: (id, SSE type, data).
async fn sse(res: &mut reqwest::Response, buf: &mut String, n: usize) -> Vec<(i64, String, Value)> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while out.len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} events within the patience: {out:?}"
        );
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(str::to_owned))
            };
            if let (Some(id), Some(data)) = (field("id: "), field("data: ")) {
                let kind = field("event: ").unwrap_or_else(|| "message".into());
                out.push((
                    id.parse().unwrap(),
                    kind,
                    serde_json::from_str(&data).unwrap(),
                ));
            }
            if out.len() == n {
                return out;
            }
        }
        let chunk = tokio::time::timeout(PATIENCE, res.chunk())
            .await
            .expect("an event within the patience")
            .unwrap()
            .expect("stream open");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_stream_carries_the_release_notices_after_each_change() {
    let t = Setup::new(POLICY);
    let s = t.serve();
    let agent = connect_http(&s.url, "claude", None).await;
    create_pay(&agent).await;
    let open = |from: Option<i64>| {
        let mut req = reqwest::Client::new().get(format!(
            "{}/api/v1/stream?environment=production&notices=true",
            s.url
        ));
        if let Some(id) = from {
            req = req.header("Last-Event-ID", id.to_string());
        }
        req.send()
    };
    let mut stream = open(None).await.unwrap();
    let mut buf = String::new();
    let rollout = start_pay(&agent).await;
    let proposal = agent
        .call(
            "rollback",
            json!({"key": "pay", "environment": "production", "reason": "errors up"}),
        )
        .await
        .ok();
    let got = sse(&mut stream, &mut buf, 3).await;
    let kinds: Vec<(&str, &str)> = got
        .iter()
        .map(|(_, kind, data)| {
            (
                kind.as_str(),
                data["type"].as_str().or(data["event"].as_str()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("message", "refetchEvaluation"),
            ("release", "started"),
            ("release", "approval_requested"),
        ],
        "a proposal changes no evaluation: only its notice"
    );
    assert_eq!(
        got[0].0, got[1].0,
        "the change and its notice are one audit event"
    );
    let started = &got[1].2;
    assert_eq!(started["rollout_id"], rollout);
    assert_eq!(started["release_note"]["owner"], "payments");
    assert_eq!(got[2].0, proposal["audit_seq"].as_i64().unwrap());
    drop(stream);

    // Resuming after the start replays the proposal's notice, then goes on live.
    let mut resumed = open(Some(got[1].0)).await.unwrap();
    let mut buf = String::new();
    let replay = sse(&mut resumed, &mut buf, 1).await;
    assert_eq!((replay[0].0, replay[0].1.as_str()), (got[2].0, "release"));
    assert_eq!(replay[0].2, got[2].2, "the same body live and replayed");
    t.cli_as("alice", &["approve", "1", "--yes", "--reason", "agreed"]);
    let live = sse(&mut resumed, &mut buf, 3).await;
    let kinds: Vec<&str> = live
        .iter()
        .map(|(_, _, d)| d["type"].as_str().or(d["event"].as_str()).unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["refetchEvaluation", "approval_decided", "rolled_back"]
    );
    // Without `notices=true` a subscriber hears only changes, as before.
    let mut plain = reqwest::Client::new()
        .get(format!("{}/api/v1/stream?environment=production", s.url))
        .header("Last-Event-ID", got[0].0.to_string())
        .send()
        .await
        .unwrap();
    let mut buf = String::new();
    let only = sse(&mut plain, &mut buf, 1).await;
    assert_eq!(only[0].2["type"], "refetchEvaluation", "{only:?}");
    assert!(
        only[0].0 > got[2].0,
        "the proposal's notice is not sent: {only:?}"
    );
    agent.close().await;
    s.stop();
}
