//! Eight agents at once over HTTP MCP on one flag: conflicting advances, rollbacks and targeting
//! changes, each carrying the version it read. Afterwards: every rollout step was taken once, the
//! flag's versions only went up and no two changes claimed the same version (no update lost), and
//! the audit trail holds every attempt that reached the store, each with its outcome.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Answer, Project, connect_http};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

const POLICY: &str = r#"
version = 1
[environments.development]
agent_may = ["set_targeting", "start_canary", "advance_canary", "record_signals", "rollback"]
steps = [10, 25, 50, 100]
agent_rollback = "allow"
[environments.development.gate]
min_samples = 20
fresh_within = "24h"
[environments.development.gate.metrics.error_rate]
margin = 0.5
"#;

const AGENTS: usize = 8;
const CALLS: usize = 24;

#[derive(Debug)]
struct Attempt {
    agent: usize,
    tool: &'static str,
    answer: Result<Value, String>,
}

async fn agent(url: String, n: usize) -> Vec<Attempt> {
    let client = connect_http(&url, &format!("agent-{n}"), None).await;
    let mut rng = StdRng::seed_from_u64(n as u64);
    let mut out = Vec::new();
    for i in 0..CALLS {
        let flag = client.call("get_flag", json!({"key": "race"})).await.ok();
        let version = flag["version"].as_i64().unwrap();
        let (tool, args) = match rng.random_range(0..10) {
            0..=4 => (
                "advance_canary",
                json!({"key": "race", "environment": "development", "expected_version": version, "reason": format!("a{n}-{i}")}),
            ),
            5..=6 => (
                "record_signals",
                json!({"key": "race", "environment": "development", "arm": if i % 2 == 0 { "canary" } else { "control" }, "exposures": 30, "requests": 30, "errors": 0, "reason": "suite"}),
            ),
            7..=8 => (
                "set_targeting",
                json!({"key": "race", "environment": "staging", "rules": [], "enabled": true, "default_variant": if rng.random() { "on" } else { "off" }, "expected_version": version, "reason": format!("t{n}-{i}")}),
            ),
            _ => (
                "rollback",
                json!({"key": "race", "environment": "development", "reason": format!("r{n}-{i}")}),
            ),
        };
        let answer = match client.call(tool, args).await {
            Answer::Ok(v) => Ok(v),
            Answer::Err(e) => Err(e),
        };
        out.push(Attempt {
            agent: n,
            tool,
            answer,
        });
    }
    client.close().await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_agents_racing_on_one_flag_take_every_step_once_and_lose_nothing() {
    let p = Project::new(&format!(
        "{POLICY}[environments.staging]\nagent_may = [\"set_targeting\"]\n"
    ));
    p.cli_ok(&["flags", "--json"]);
    let served = p.serve();
    let setup = connect_http(&served.url, "setup", None).await;
    setup.create_flag("race").await;
    setup
        .call("start_canary", json!({"key": "race", "environment": "development", "candidate_variant": "on", "reason": "r"}))
        .await
        .ok();
    for arm in ["canary", "control"] {
        setup
            .call("record_signals", json!({"key": "race", "environment": "development", "arm": arm, "exposures": 100, "requests": 100, "errors": 0, "reason": "seed"}))
            .await
            .ok();
    }
    setup.close().await;
    let audit_before: i64 = rusqlite::Connection::open(p.db())
        .unwrap()
        .query_row("SELECT max(seq) FROM audit_events", [], |r| r.get(0))
        .unwrap();

    let tasks: Vec<_> = (0..AGENTS)
        .map(|n| tokio::spawn(agent(served.url.clone(), n)))
        .collect();
    let mut attempts = Vec::new();
    for t in tasks {
        attempts.extend(t.await.unwrap());
    }
    served.stop();

    let conn = rusqlite::Connection::open(p.db()).unwrap();
    let events: Vec<(i64, String, String, String, String)> = conn
        .prepare("SELECT seq, action, decision, actor, state_after FROM audit_events WHERE seq > ?1 ORDER BY seq")
        .unwrap()
        .query_map([audit_before], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();

    // Every attempt that reached the store is on the record with its outcome: allowed changes and
    // holds, denials, conflicts. Each answered attempt names its event; each refusal has one too.
    let answered: Vec<&Attempt> = attempts.iter().filter(|a| a.answer.is_ok()).collect();
    let seqs: BTreeSet<i64> = answered
        .iter()
        .filter_map(|a| a.answer.as_ref().unwrap()["audit_seq"].as_i64())
        .collect();
    assert_eq!(
        seqs.len(),
        answered.len(),
        "each answer names its own audit event"
    );
    for s in &seqs {
        assert!(
            events.iter().any(|e| e.0 == *s),
            "audit event {s} is missing"
        );
    }
    let refused = attempts.len() - answered.len();
    let refusals = events
        .iter()
        .filter(|e| (e.2 == "conflict" || e.2 == "deny") && e.3.starts_with("agent"))
        .count();
    assert_eq!(
        refusals,
        refused,
        "every refused attempt is recorded with its outcome: {:#?}",
        attempts
            .iter()
            .filter(|a| a.answer.is_err())
            .collect::<Vec<_>>()
    );
    let per_agent: BTreeMap<String, usize> = events
        .iter()
        .filter(|e| e.3.starts_with("agent"))
        .fold(BTreeMap::new(), |mut m, e| {
            *m.entry(e.3.clone()).or_default() += 1;
            m
        });
    for n in 0..AGENTS {
        let made = attempts.iter().filter(|a| a.agent == n).count();
        assert_eq!(
            per_agent.get(&format!("agent-{n}")).copied().unwrap_or(0),
            made,
            "agent-{n}'s attempts"
        );
    }

    // Versions: every change that bumped the flag claims a version no other change claims, and the
    // versions follow the order of the audit trail.
    let mut changes: Vec<(i64, i64)> = answered
        .iter()
        .filter(|a| a.tool != "record_signals")
        .map(|a| {
            let v = a.answer.as_ref().unwrap();
            (
                v["audit_seq"].as_i64().unwrap(),
                v["version"].as_i64().unwrap(),
            )
        })
        .collect();
    changes.sort();
    for w in changes.windows(2) {
        assert!(
            w[0].1 <= w[1].1,
            "version went down between events {} and {}: {:?}",
            w[0].0,
            w[1].0,
            w
        );
    }
    let targeting: Vec<i64> = answered
        .iter()
        .filter(|a| a.tool == "set_targeting")
        .map(|a| a.answer.as_ref().unwrap()["version"].as_i64().unwrap())
        .collect();
    let distinct: BTreeSet<i64> = targeting.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        targeting.len(),
        "two targeting changes claimed one version: {targeting:?}"
    );

    // Steps: each rollout step was entered at most once, and the recorded steps only go forward
    // within a rollout.
    let mut entered: BTreeMap<(i64, i64), usize> = BTreeMap::new();
    for a in &answered {
        let v = a.answer.as_ref().unwrap();
        if a.tool == "advance_canary"
            && v["summary"]
                .as_str()
                .is_some_and(|s| s.starts_with("advance"))
        {
            let r = &v["rollout"];
            let percent = (r["percent"].as_f64().unwrap() * 100.0).round() as i64;
            *entered
                .entry((r["id"].as_i64().unwrap(), percent))
                .or_default() += 1;
        }
    }
    for ((rollout, step), n) in &entered {
        assert_eq!(
            *n,
            1,
            "rollout {rollout} entered {}% {n} times",
            *step as f64 / 100.0
        );
    }
    let flag_version: i64 = conn
        .query_row("SELECT version FROM flags WHERE key = 'race'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let max_claimed = changes.iter().map(|c| c.1).max().unwrap_or(0);
    assert!(
        flag_version >= max_claimed,
        "the stored version {flag_version} is behind an answer ({max_claimed})"
    );
    let verify = p.cli(&["audit", "--verify"]);
    assert!(verify.status.success());
    eprintln!(
        "{} attempts by {AGENTS} agents: {} answered, {refused} refused and recorded; steps entered {:?}",
        attempts.len(),
        answered.len(),
        entered.keys().collect::<Vec<_>>()
    );
}

/// The controller in the race: two `serve` processes on one store (one of them the controller, by
/// its lease), eight agents split between them and a ninth on `flagwarden mcp` over stdio, all
/// advancing with the version they read and recording evidence, and applications' batches to both
/// servers, each of which makes the controller look. Every
/// step is entered exactly once whoever took it, the chain verifies, and every agent attempt is on
/// the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_agents_and_the_controller_on_two_servers_enter_every_step_once() {
    let policy = r#"
version = 1
[controller]
interval = "100ms"
debounce = "5ms"
[environments.development]
agent_may = ["start_canary", "advance_canary", "record_signals"]
steps = [10, 25, 50, 100]
advance = "auto"
[environments.development.gate]
min_samples = 20
fresh_within = "24h"
[environments.development.gate.metrics.error_rate]
margin = 0.5
"#;
    let p = Project::new(policy);
    p.cli_ok(&["flags", "--json"]);
    let a = p.serve();
    let b = p.serve();
    let setup = connect_http(&a.url, "setup", None).await;
    setup.create_flag("race").await;
    setup
        .call("start_canary", json!({"key": "race", "environment": "development", "candidate_variant": "on", "reason": "r"}))
        .await
        .ok();
    setup.close().await;
    let audit_before: i64 = rusqlite::Connection::open(p.db())
        .unwrap()
        .query_row("SELECT max(seq) FROM audit_events", [], |r| r.get(0))
        .unwrap();

    let urls = [a.url.clone(), b.url.clone()];
    let ingest = {
        let urls = urls.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0..40 {
                let batch = json!({"batch_id": format!("b-{i}"), "environment": "development", "signals": [
                    {"flag": "race", "arm": "canary", "exposures": 30, "requests": 30, "errors": 0},
                    {"flag": "race", "arm": "control", "exposures": 30, "requests": 30, "errors": 0}]});
                let res = http
                    .post(format!("{}/api/v1/signals", urls[i % 2]))
                    .json(&batch)
                    .send()
                    .await
                    .unwrap();
                // Once the rollout completed, evidence has nowhere to go: refused, nothing written.
                assert!(res.status().is_success() || res.status() == 400);
            }
        })
    };
    let mut tasks = Vec::new();
    for n in 0..AGENTS {
        let client = connect_http(&urls[n % 2], &format!("agent-{n}"), None).await;
        tasks.push(tokio::spawn(controller_race_agent(client, n)));
    }
    // And one more over stdio: `flagwarden mcp` on the same store, beside both servers.
    let stdio = p.connect(&format!("agent-{AGENTS}")).await;
    tasks.push(tokio::spawn(controller_race_agent(stdio, AGENTS)));
    let mut attempts = Vec::new();
    for t in tasks {
        attempts.extend(t.await.unwrap());
    }
    ingest.await.unwrap();
    a.stop();
    b.stop();

    let conn = rusqlite::Connection::open(p.db()).unwrap();
    let events: Vec<(i64, String, String, String, String, String)> = conn
        .prepare("SELECT seq, action, decision, actor_kind || ':' || actor, state_before, state_after FROM audit_events WHERE seq > ?1 ORDER BY seq")
        .unwrap()
        .query_map([audit_before], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // Steps entered, from the trail: every allowed advance that moved the rollout, by anyone.
    let mut entered: BTreeMap<(i64, i64, String), usize> = BTreeMap::new();
    let mut by = BTreeMap::<String, usize>::new();
    for (_, action, decision, actor, before, after) in &events {
        if action != "advance_canary" || decision != "allow" {
            continue;
        }
        let before: Value = serde_json::from_str(before).unwrap();
        let after: Value = serde_json::from_str(after).unwrap();
        let r = &after["rollout"];
        let moved = r["step"] != before["step"] || r["state"] != before["state"];
        if moved {
            *entered
                .entry((
                    r["id"].as_i64().unwrap(),
                    r["step"].as_i64().unwrap(),
                    r["state"].as_str().unwrap().to_owned(),
                ))
                .or_default() += 1;
            *by.entry(actor.split(':').next().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    for (k, n) in &entered {
        assert_eq!(*n, 1, "{k:?} entered {n} times");
    }
    let state: String = conn
        .query_row(
            "SELECT state FROM rollouts WHERE flag_key = 'race'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        state, "COMPLETED",
        "the rollout went all the way: {entered:?}"
    );
    assert_eq!(
        entered.len(),
        4,
        "three steps and the completion: {entered:?}"
    );
    // Every agent attempt is on the record: answered ones name their event, refused ones have one.
    for n in 0..AGENTS {
        let made = attempts.iter().filter(|a| a.agent == n).count();
        let recorded = events
            .iter()
            .filter(|e| e.3 == format!("agent:agent-{n}"))
            .count();
        assert_eq!(recorded, made, "agent-{n}'s attempts");
    }
    let verify = p.cli(&["audit", "--verify"]);
    assert!(verify.status.success(), "{verify:?}");
    eprintln!(
        "{} agent attempts; steps entered by {by:?}: {:?}",
        attempts.len(),
        entered.keys().collect::<Vec<_>>()
    );
}

async fn controller_race_agent(client: common::Client, n: usize) -> Vec<Attempt> {
    let mut rng = StdRng::seed_from_u64(100 + n as u64);
    let mut out = Vec::new();
    for i in 0..CALLS {
        let flag = client.call("get_flag", json!({"key": "race"})).await.ok();
        let version = flag["version"].as_i64().unwrap();
        let (tool, args) = if rng.random_range(0..10) < 7 {
            (
                "advance_canary",
                json!({"key": "race", "environment": "development", "expected_version": version, "reason": format!("a{n}-{i}")}),
            )
        } else {
            (
                "record_signals",
                json!({"key": "race", "environment": "development", "arm": if i % 2 == 0 { "canary" } else { "control" }, "exposures": 30, "requests": 30, "errors": 0, "reason": "suite"}),
            )
        };
        let answer = match client.call(tool, args).await {
            Answer::Ok(v) => Ok(v),
            Answer::Err(e) => Err(e),
        };
        out.push(Attempt {
            agent: n,
            tool,
            answer,
        });
    }
    client.close().await;
    out
}
