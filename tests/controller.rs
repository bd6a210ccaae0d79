//! The controller in `flagwarden serve`, end to end through the real binary: a controlled clock (the
//! hidden `--clock-file`, an RFC 3339 instant the binary reads at every use, so dwell, change windows
//! and freezes are tested at the instants they bind without waiting), evidence scripted through
//! POST /api/v1/signals, and no agent call after the rollout starts. A test waits for "the
//! controller looked after my commit" by its counters on /metrics (`controller_looks_started` read
//! after the commit, then one more finished look), not by sleeping; the store is read directly.
//!
//! Shown here: a non-critical harm freezes exposure within one look and opens one proposal;
//! `auto_rollback = "any"` rolls back at once; `advance = "auto"` takes a rollout from 1 % to 100 %
//! respecting dwell, a freeze that falls mid-rollout and a change window; a human-gated step opens
//! exactly one approval; a no-traffic pause resumes when evidence returns; and two `serve` processes
//! on one store elect one controller, the other taking over when the first is killed.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Project, Served, connect_http};
use serde_json::json;

const POLICY: &str = r#"
version = 1
[controller]
interval = "200ms"
debounce = "10ms"

[environments.harm]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
[environments.harm.gate]
min_samples = 100
required = ["error_rate"]
fresh_within = "2h"
[environments.harm.gate.metrics.error_rate]
margin = 0.05

[environments.anyharm]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
auto_rollback = "any"
[environments.anyharm.gate]
min_samples = 100
required = ["error_rate"]
fresh_within = "2h"
[environments.anyharm.gate.metrics.error_rate]
margin = 0.05

[environments.auto]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
steps = [1, 5, 25, 50, 100]
max_step_increase = 50
min_dwell = "1h"
advance = "auto"
[[environments.auto.change_windows]]
days = ["mon", "tue", "wed", "thu", "fri"]
start = "08:00"
end = "18:00"
tz = "Europe/Berlin"
[[environments.auto.freezes]]
start = "2026-11-24T11:30:00Z"
end = "2026-11-24T13:00:00Z"
reason = "incident review"
[environments.auto.gate]
min_samples = 100
required = ["error_rate"]
fresh_within = "2h"
[environments.auto.gate.metrics.error_rate]
margin = 0.05

[environments.gated]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
steps = [1, 5, 25, 100]
max_auto_percent = 5
advance = "auto"
[environments.gated.gate]
min_samples = 100
required = ["error_rate"]
fresh_within = "2h"
[environments.gated.gate.metrics.error_rate]
margin = 0.05

[environments.quiet]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
[environments.quiet.gate]
min_samples = 100
required = ["error_rate"]
fresh_within = "2h"
no_traffic_grace = "1h"
[environments.quiet.gate.metrics.error_rate]
margin = 0.05
"#;

/// Tuesday 2026-11-24, 09:00 in Berlin: inside the change window, before the freeze.
const T0: &str = "2026-11-24T08:00:00Z";

struct Setup {
    p: Project,
    clock: PathBuf,
    s: Served,
    http: reqwest::Client,
    batches: std::sync::atomic::AtomicUsize,
}

/// Writes the test clock atomically (a rename), so the binary never reads half an instant.
fn set_clock(clock: &Path, at: &str) {
    let tmp = clock.with_extension("tmp");
    std::fs::write(&tmp, at).unwrap();
    std::fs::rename(&tmp, clock).unwrap();
}

fn serve(p: &Project, clock: &Path) -> Served {
    p.serve_with(&[], &[("FLAGWARDEN_CLOCK_FILE", clock.to_str().unwrap())])
}

impl Setup {
    async fn new(policy: &str) -> Setup {
        let p = Project::new(policy);
        let clock = p.path().join("now.txt");
        set_clock(&clock, T0);
        let s = serve(&p, &clock);
        Setup {
            p,
            clock,
            s,
            http: reqwest::Client::new(),
            batches: Default::default(),
        }
    }

    /// An agent creates `key` and starts its canary in `env`; the rollout's id. The last agent call.
    async fn start(&self, key: &str, env: &str) -> i64 {
        let agent = connect_http(&self.s.url, "agent", None).await;
        agent.create_flag(key).await;
        let out = agent
            .call(
                "start_canary",
                json!({"key": key, "environment": env, "candidate_variant": "on", "reason": "ship"}),
            )
            .await
            .ok();
        agent.close().await;
        out["rollout"]["id"].as_i64().expect("a rollout")
    }

    /// Both arms' evidence, `canary_errors` of 1000 requests on the canary against 5 on the control.
    async fn report(&self, key: &str, env: &str, canary_errors: u64) {
        let n = self
            .batches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let batch = json!({"batch_id": format!("b-{n}"), "environment": env, "signals": [
            {"flag": key, "arm": "canary", "exposures": 1000, "requests": 1000, "errors": canary_errors},
            {"flag": key, "arm": "control", "exposures": 1000, "requests": 1000, "errors": 5}]});
        let res = self
            .http
            .post(format!("{}/api/v1/signals", self.s.url))
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    }

    /// Waits until the controller finished a look that started after this call: every commit made
    /// before it has been looked at.
    async fn settle(&self) {
        settle(&self.http, &self.s.url).await;
    }

    fn at(&self, t: &str) {
        set_clock(&self.clock, t);
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.p.db()).unwrap()
    }

    /// (state, step index) of rollout `id`.
    fn rollout(&self, id: i64) -> (String, Option<i64>) {
        self.db()
            .query_row(
                "SELECT state, step FROM rollouts WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    }

    /// (actor_kind, action, decision) of every audit event on rollout `id`, oldest first.
    fn events(&self, id: i64) -> Vec<(String, String, String)> {
        let db = self.db();
        let mut stmt = db
            .prepare("SELECT actor_kind, action, decision FROM audit_events WHERE rollout_id = ?1 ORDER BY seq")
            .unwrap();
        stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// (kind, status, target percent) of every approval on rollout `id`.
    fn approvals(&self, id: i64) -> Vec<(String, String, Option<f64>)> {
        let db = self.db();
        let mut stmt = db
            .prepare("SELECT kind, status, target_percent FROM approvals WHERE rollout_id = ?1 ORDER BY id")
            .unwrap();
        stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Waits (bounded) for rollout `id` to reach `state`, driven by the controller's timer.
    async fn wait_state(&self, id: i64, state: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.rollout(id).0 != state {
            assert!(
                Instant::now() < deadline,
                "rollout {id} never became {state}: {:?}",
                self.rollout(id)
            );
            self.settle().await;
        }
    }
}

/// `(looks started, looks finished)` from /metrics.
async fn looks(http: &reqwest::Client, url: &str) -> (u64, u64, bool) {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut started = 0;
    let mut finished = 0;
    let mut leader = false;
    for line in text.lines() {
        let value = || line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64;
        if line.starts_with("flagwarden_controller_looks_started_total ") {
            started = value();
        } else if line.starts_with("flagwarden_controller_looks_total{") {
            finished += value();
        } else if line.starts_with("flagwarden_controller_leader ") {
            leader = value() == 1;
        }
    }
    (started, finished, leader)
}

async fn settle(http: &reqwest::Client, url: &str) {
    let (started, _, _) = looks(http, url).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, finished, _) = looks(http, url).await;
        if finished > started {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the controller did not look within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn count(events: &[(String, String, String)], actor: &str, action: &str) -> usize {
    events
        .iter()
        .filter(|(a, act, d)| a == actor && act == action && d != "deny")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_critical_harm_freezes_exposure_within_one_look_with_no_agent_call() {
    let t = Setup::new(POLICY).await;
    let id = t.start("pay", "harm").await;
    t.report("pay", "harm", 5).await;
    t.settle().await;
    assert_eq!(t.rollout(id).0, "RUNNING");
    t.report("pay", "harm", 200).await;
    t.settle().await;
    assert_eq!(
        t.rollout(id),
        ("ROLLBACK_PENDING".into(), Some(0)),
        "exposure frozen at its step"
    );
    // More harm and more looks open nothing more: one proposal, one freeze.
    t.report("pay", "harm", 200).await;
    t.settle().await;
    t.settle().await;
    let approvals = t.approvals(id);
    assert_eq!(
        approvals,
        [("rollback".into(), "pending".into(), None)],
        "one proposal"
    );
    let events = t.events(id);
    assert_eq!(
        count(&events, "system", "propose_rollback"),
        1,
        "{events:?}"
    );
    assert_eq!(
        count(&events, "system", "rollback"),
        0,
        "auto_rollback is none"
    );
    assert!(
        events
            .iter()
            .filter(|(a, ..)| a == "agent")
            .all(|(_, act, _)| act == "start_canary"),
        "no agent call after the start: {events:?}"
    );
    let after: String = t
        .db()
        .query_row(
            "SELECT state_after FROM audit_events WHERE action = 'propose_rollback'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        after.contains("gate_evaluation_id"),
        "names its evidence: {after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_rollback_any_rolls_back_a_non_critical_harm_at_once() {
    let t = Setup::new(POLICY).await;
    let id = t.start("pay", "anyharm").await;
    t.report("pay", "anyharm", 200).await;
    t.settle().await;
    assert_eq!(t.rollout(id).0, "ROLLED_BACK");
    let pinned: Option<String> = t
        .db()
        .query_row(
            "SELECT pinned_variant FROM flag_envs WHERE flag_key = 'pay' AND env = 'anyharm'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(pinned.as_deref(), Some("off"), "everyone is on the LKG");
    let events = t.events(id);
    assert_eq!(count(&events, "system", "rollback"), 1, "{events:?}");
    assert_eq!(count(&events, "system", "propose_rollback"), 0);
    assert!(t.approvals(id).is_empty(), "nobody was asked");
    t.report_after_rollback_is_refused("pay", "anyharm").await;
}

impl Setup {
    /// Evidence for a finished rollout has nowhere to go: refused, and nothing more happens.
    async fn report_after_rollback_is_refused(&self, key: &str, env: &str) {
        let res = self
            .http
            .post(format!("{}/api/v1/signals", self.s.url))
            .json(&json!({"batch_id": "late", "environment": env, "signals": [{"flag": key, "arm": "canary", "requests": 1}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advance_auto_takes_a_rollout_to_100_percent_within_dwell_a_freeze_and_a_window() {
    let t = Setup::new(POLICY).await;
    let id = t.start("pay", "auto").await;
    let step = |at: &str| {
        t.at(at);
        async {
            t.report("pay", "auto", 5).await;
            t.settle().await;
            t.rollout(id)
        }
    };
    assert_eq!(
        step(T0).await,
        ("RUNNING".into(), Some(0)),
        "dwell: 1h at 1% first"
    );
    assert_eq!(
        step("2026-11-24T08:30:00Z").await,
        ("RUNNING".into(), Some(0)),
        "still dwelling"
    );
    assert_eq!(step("2026-11-24T09:00:00Z").await.1, Some(1), "5%");
    assert_eq!(step("2026-11-24T10:00:00Z").await.1, Some(2), "25%");
    assert_eq!(step("2026-11-24T11:00:00Z").await.1, Some(3), "50%");
    assert_eq!(
        step("2026-11-24T12:00:00Z").await,
        ("RUNNING".into(), Some(3)),
        "the freeze holds it at 50%"
    );
    assert_eq!(
        step("2026-11-24T13:30:00Z").await.1,
        Some(4),
        "100% once the freeze ends"
    );
    assert_eq!(
        step("2026-11-24T17:30:00Z").await,
        ("RUNNING".into(), Some(4)),
        "18:30 in Berlin is outside the change window: not completed"
    );
    assert_eq!(
        step("2026-11-25T08:00:00Z").await.0,
        "COMPLETED",
        "the next morning, inside the window"
    );
    let events = t.events(id);
    assert_eq!(
        count(&events, "system", "advance_canary"),
        5,
        "each step entered once, and one completion: {events:?}"
    );
    assert_eq!(
        events.iter().filter(|(a, ..)| a == "agent").count(),
        1,
        "no agent call after the start: {events:?}"
    );
    let on: String = t
        .db()
        .query_row(
            "SELECT default_variant FROM flag_envs WHERE flag_key = 'pay' AND env = 'auto'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(on, "on", "the candidate is the new default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_human_gated_step_opens_exactly_one_approval() {
    let t = Setup::new(POLICY).await;
    let id = t.start("pay", "gated").await;
    t.report("pay", "gated", 5).await;
    t.settle().await;
    assert_eq!(t.rollout(id).1, Some(1), "5% is within max_auto_percent");
    t.wait_state(id, "AWAITING_APPROVAL").await;
    for _ in 0..3 {
        t.report("pay", "gated", 5).await;
        t.settle().await;
    }
    assert_eq!(
        t.approvals(id),
        [("advance_canary".into(), "pending".into(), Some(25.0))],
        "one approval for the 25% step, however often the controller looks"
    );
    let events = t.events(id);
    let asked = events
        .iter()
        .filter(|(a, act, d)| a == "system" && act == "advance_canary" && d == "needs_approval")
        .count();
    assert_eq!(asked, 1, "{events:?}");
    // A human approves: the step is taken, once.
    let approval: i64 = t
        .db()
        .query_row(
            "SELECT id FROM approvals WHERE rollout_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    t.p.cli_ok(&["approve", &approval.to_string(), "--reason", "ok", "--yes"]);
    t.settle().await;
    let (_, step) = t.rollout(id);
    assert!(
        step >= Some(2),
        "at 25% or waiting for the next human: {step:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_traffic_pause_resumes_when_evidence_returns() {
    let t = Setup::new(POLICY).await;
    let id = t.start("pay", "quiet").await;
    t.at("2026-11-24T09:30:00Z");
    t.wait_state(id, "PAUSED").await;
    let reason: String = t
        .db()
        .query_row(
            "SELECT paused_reason FROM rollouts WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(reason.starts_with("no traffic"), "{reason}");
    t.report("pay", "quiet", 5).await;
    t.settle().await;
    assert_eq!(t.rollout(id), ("RUNNING".into(), Some(0)));
    let events = t.events(id);
    assert_eq!(count(&events, "system", "pause"), 1, "{events:?}");
    assert_eq!(count(&events, "system", "resume"), 1, "{events:?}");
}

/// Two `serve` processes on one store: exactly one leads; SIGKILL it and the other takes over once
/// the lease expires, and acts on new evidence, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_elect_one_controller_and_the_survivor_takes_over() {
    let mut t = Setup::new(POLICY).await;
    let second = serve(&t.p, &t.clock);
    let id = t.start("pay", "harm").await;
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let first_leads = loop {
        let a = looks(&http, &t.s.url).await.2;
        let b = looks(&http, &second.url).await.2;
        assert!(!(a && b), "two leaders at once");
        if a || b {
            break a;
        }
        assert!(Instant::now() < deadline, "nobody leads");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Kill whichever leads; the survivor serves the rest of the test.
    if first_leads {
        std::mem::replace(&mut t.s, second).kill9();
    } else {
        second.kill9();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while !looks(&http, &t.s.url).await.2 {
        assert!(Instant::now() < deadline, "the survivor never took over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    t.report("pay", "harm", 200).await;
    t.settle().await;
    assert_eq!(t.rollout(id).0, "ROLLBACK_PENDING");
    assert_eq!(count(&t.events(id), "system", "propose_rollback"), 1);
}
