//! Release operations through the real binary (`flagwarden serve` with the controlled clock
//! `FLAGWARDEN_CLOCK_FILE`, an agent over MCP on HTTP, an application over OFREP, a person at the
//! CLI): the classic failure under the default production policy (a 50 % start refused, a start
//! without a rehearsed rollback refused with the whole checklist, a Friday-evening start frozen),
//! a rehearsal that fails blocking the start and saying why, a stale rehearsal not counting, and bad
//! input to every new field and command refused by name, changing nothing.

mod common;

use std::path::{Path, PathBuf};

use common::{Project, Served, connect_http, db_digest_except};
use serde_json::json;

const DEFAULT_POLICY: &str = include_str!("../src/cli/default_policy.toml");

/// Tuesday 2026-11-24, 10:00 UTC: outside the default weekend freeze.
const TUESDAY: &str = "2026-11-24T10:00:00Z";
/// Friday 2026-11-27, 17:30 UTC: inside it.
const FRIDAY_EVENING: &str = "2026-11-27T17:30:00Z";

fn set_clock(clock: &Path, at: &str) {
    let tmp = clock.with_extension("tmp");
    std::fs::write(&tmp, at).unwrap();
    std::fs::rename(&tmp, clock).unwrap();
}

struct Setup {
    p: Project,
    clock: PathBuf,
    s: Served,
    http: reqwest::Client,
}

impl Setup {
    fn new(policy: &str) -> Setup {
        let p = Project::new(policy);
        let clock = p.path().join("now.txt");
        set_clock(&clock, TUESDAY);
        let s = p.serve_with(&[], &[("FLAGWARDEN_CLOCK_FILE", clock.to_str().unwrap())]);
        Setup {
            p,
            clock,
            s,
            http: reqwest::Client::new(),
        }
    }

    /// The person at the CLI (`alice`), on the same clock.
    fn cli(&self, args: &[&str]) -> std::process::Output {
        self.cli_as("alice", args)
    }

    /// Another person at the CLI, on the same clock.
    fn cli_as(&self, person: &str, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_flagwarden"))
            .arg("--policy")
            .arg(self.p.policy())
            .args(args)
            .env("FLAGWARDEN_HUMAN", person)
            .env("FLAGWARDEN_CLOCK_FILE", &self.clock)
            .env_remove("FLAGWARDEN_DB")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "flagwarden {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn cli_err(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(!out.status.success(), "flagwarden {args:?} should fail");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// The application evaluates `key` in `env` over OFREP `n` times; the variants it was served.
    async fn evaluate(&self, key: &str, env: &str, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        for i in 0..n {
            let res = self
                .http
                .post(format!("{}/ofrep/v1/evaluate/flags/{key}", self.s.url))
                .header("x-flagwarden-environment", env)
                .json(&json!({"context": {"targetingKey": format!("user-{i}")}}))
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success(), "{}", res.status());
            let body: serde_json::Value = res.json().await.unwrap();
            out.push(body["variant"].as_str().unwrap_or_default().to_owned());
        }
        out
    }

    fn count(&self, sql: &str) -> i64 {
        rusqlite::Connection::open(self.p.db())
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    }
}

#[tokio::test]
async fn the_classic_failure_is_refused_step_by_step_under_the_default_production_policy() {
    let t = Setup::new(DEFAULT_POLICY);
    let agent = connect_http(&t.s.url, "agent", None).await;
    agent
        .call(
            "create_flag",
            json!({"key": "new-checkout", "description": "the new checkout", "change_type": "code",
                   "owner": "payments", "escalation": "pager: payments-oncall", "reason": "ship it"}),
        )
        .await
        .ok();
    let start = |extra: serde_json::Value| {
        let mut args = json!({"key": "new-checkout", "environment": "production",
                              "candidate_variant": "on", "reason": "release"});
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        args
    };

    // 1. Straight to 50 %: refused by the step bound before anything else.
    let e = agent
        .call("start_canary", start(json!({"steps": [50, 100]})))
        .await
        .err();
    assert!(e.contains("production.max_step_increase"), "{e}");

    // 2. A sensible first step, but nothing prepared: the whole checklist, every item with its fix.
    let e = agent.call("start_canary", start(json!({}))).await.err();
    assert!(e.contains("production.checklist"), "{e}");
    assert!(e.contains("4 missing"), "{e}");
    for part in [
        "plan: no rollback plan",
        "pass `plan` on start_canary",
        "evidence: new-checkout was never evaluated in production",
        "limitations: no known limitations stated",
        "flagwarden checklist attest new-checkout --env production --item limitations",
        "rehearsal: the rollback of new-checkout in production was never rehearsed",
        "`rehearse: true`",
    ] {
        assert!(e.contains(part), "{part:?} missing from {e}");
    }
    assert!(
        !e.contains("owner:") && !e.contains("escalation:"),
        "owner and escalation were given: {e}"
    );
    assert_eq!(
        t.count("SELECT COUNT(*) FROM rollouts"),
        0,
        "a refusal starts nothing"
    );

    // 3. The application evaluates the flag (evidence flowing), the agent rehearses the rollback.
    assert_eq!(
        t.evaluate("new-checkout", "production", 5).await,
        vec!["off"; 5]
    );
    let r = agent
        .call("start_canary", start(json!({"rehearse": true})))
        .await
        .ok();
    let summary = r["summary"].as_str().unwrap_or_else(|| panic!("{r}"));
    assert!(summary.contains("passed"), "{summary}");
    assert!(r["rollout"].is_null(), "a rehearsal starts nothing: {r}");
    let (passed, result): (bool, String) = rusqlite::Connection::open(t.p.db())
        .unwrap()
        .query_row(
            "SELECT passed, result FROM rehearsals ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(passed);
    let result: serde_json::Value = serde_json::from_str(&result).unwrap();
    for arm in result["arms"].as_array().unwrap() {
        assert_eq!(
            arm["after"], "off",
            "every arm gets the LKG after the flip: {arm}"
        );
    }
    assert!(result["flip_ms"].as_f64().unwrap() > 0.0, "{result}");
    assert!(
        result["feed_seq"].as_i64().is_some(),
        "the flip reached the change feed: {result}"
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM rollouts"), 0);

    // 4. The agent's word on limitations does not count: in production only a person's does.
    let words = json!({"plan": "LKG is off; nothing else to undo (no migration)",
                       "limitations": "none known"});
    let e = agent.call("start_canary", start(words.clone())).await.err();
    assert!(e.contains("1 missing"), "{e}");
    assert!(
        e.contains("limitations: only a human may attest it in production"),
        "{e}"
    );
    t.cli_ok(&[
        "checklist",
        "attest",
        "new-checkout",
        "--env",
        "production",
        "--item",
        "limitations",
        "--text",
        "slower on old Android WebViews",
    ]);

    // 5. Friday evening: the weekend freeze.
    set_clock(&t.clock, FRIDAY_EVENING);
    let e = agent.call("start_canary", start(words.clone())).await.err();
    assert!(
        e.contains("production.freezes[0]") && e.contains("weekend"),
        "{e}"
    );

    // 6. Tuesday again, everything in place: the canary starts at 1 %.
    set_clock(&t.clock, "2026-12-01T10:00:00Z");
    t.evaluate("new-checkout", "production", 3).await;
    let out = agent.call("start_canary", start(words)).await.ok();
    assert_eq!(out["rollout"]["percent"], 1.0, "{out}");
    agent.close().await;
}

const STAGING: &str = r#"
version = 1
[environments.staging]
agent_may = ["set_targeting", "start_canary", "advance_canary", "record_signals", "rollback"]
steps = [5, 50, 100]
[environments.staging.checklist]
required = ["rehearsal"]
"#;

#[tokio::test]
async fn a_failing_or_stale_rehearsal_blocks_the_start_and_says_why() {
    let t = Setup::new(STAGING);
    let agent = connect_http(&t.s.url, "agent", None).await;
    agent
        .call(
            "create_flag",
            json!({"key": "theme", "description": "d", "change_type": "config",
                   "variants": {"classic": "c", "bold": "b", "dark": "d"}, "off_variant": "classic",
                   "reason": "r"}),
        )
        .await
        .ok();
    // The application runs on "classic" (the flag is off): that is what is known good.
    assert_eq!(t.evaluate("theme", "staging", 4).await, vec!["classic"; 4]);
    let start = json!({"key": "theme", "environment": "staging", "candidate_variant": "bold", "reason": "r"});

    // A passing rehearsal, then a change to the flag: the rehearsal no longer counts.
    let out = t.cli_ok(&[
        "rollouts",
        "rehearse",
        "theme",
        "--env",
        "staging",
        "--candidate",
        "bold",
    ]);
    assert!(out.contains("passed"), "{out}");
    assert!(out.contains("canary: \"bold\" → \"classic\""), "{out}");
    set_clock(&t.clock, "2026-11-24T10:05:00Z");
    // The known-good variant is taken out of the targeting: the environment now defaults to "dark",
    // which nobody was ever served.
    agent
        .call(
            "set_targeting",
            json!({"key": "theme", "environment": "staging", "rules": [], "enabled": true,
                   "default_variant": "dark", "reason": "r"}),
        )
        .await
        .ok();
    let e = agent.call("start_canary", start.clone()).await.err();
    assert!(e.contains("staging.checklist"), "{e}");
    assert!(e.contains("older than the flag's last change"), "{e}");

    // Rehearsing again fails: the last-known-good would be "dark", never served in staging. (The
    // agent's rehearsal runs in the serving process, which also sees counts not yet flushed.)
    let mut again = start.clone();
    again["rehearse"] = json!(true);
    let out = agent.call("start_canary", again).await.ok();
    let out = out["summary"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    assert!(out.contains("failed"), "{out}");
    assert!(
        out.contains("the last-known-good \"dark\" was never served in staging")
            && out.contains("\"classic\" (4)"),
        "{out}"
    );
    let e = agent.call("start_canary", start.clone()).await.err();
    assert!(
        e.contains("failed: the last-known-good \"dark\" was never served"),
        "{e}"
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM rollouts"), 0);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM rehearsals WHERE passed = 0"),
        1
    );
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_events WHERE action = 'rehearse_rollback'"),
        2
    );
    agent.close().await;
}

#[tokio::test]
async fn bad_input_to_every_new_field_and_command_is_refused_by_name_and_changes_nothing() {
    let t = Setup::new(DEFAULT_POLICY);
    let agent = connect_http(&t.s.url, "agent", None).await;
    agent.create_flag("pay").await;
    // `meta` holds the serving process's controller lease, renewed while the test runs.
    let digest = db_digest_except(&t.p.db(), &["meta"]);
    for (field, bad) in [
        ("plan", json!("")),
        ("limitations", json!("  ")),
        ("no_evidence", json!("x".repeat(2001))),
    ] {
        let mut args = json!({"key": "pay", "environment": "production", "candidate_variant": "on", "reason": "r"});
        args[field] = bad;
        let e = agent.call("start_canary", args).await.err();
        assert!(e.contains(&format!("invalid {field}")), "{field}: {e}");
    }
    let e = agent
        .call(
            "create_flag",
            json!({"key": "p2", "description": "d", "change_type": "code", "escalation": "x".repeat(2001), "reason": "r"}),
        )
        .await
        .err();
    assert!(e.contains("invalid escalation"), "{e}");
    for (args, names) in [
        (
            vec![
                "checklist",
                "attest",
                "pay",
                "--env",
                "production",
                "--item",
                "vibes",
                "--text",
                "t",
            ],
            "invalid item",
        ),
        (
            vec![
                "checklist",
                "attest",
                "pay",
                "--env",
                "production",
                "--item",
                "plan",
                "--text",
                " ",
            ],
            "invalid text",
        ),
        (
            vec![
                "checklist",
                "attest",
                "pay",
                "--env",
                "nowhere",
                "--item",
                "plan",
                "--text",
                "t",
            ],
            "\"nowhere\"",
        ),
        (vec!["flags", "contacts", "pay"], "invalid owner"),
        (
            vec!["flags", "contacts", "pay", "--escalation", ""],
            "invalid escalation",
        ),
        (
            vec!["flags", "contacts", "nope", "--owner", "x"],
            "\"nope\" does not exist",
        ),
        (
            vec!["rollouts", "rehearse", "nope", "--env", "production"],
            "\"nope\" does not exist",
        ),
        (
            vec![
                "rollouts",
                "rehearse",
                "pay",
                "--env",
                "production",
                "--candidate",
                "purple",
            ],
            "candidate_variant",
        ),
        (
            vec![
                "rollouts",
                "rehearse",
                "pay",
                "--env",
                "production",
                "--contexts",
                "/nonexistent.json",
            ],
            "--contexts",
        ),
    ] {
        let e = t.cli_err(&args);
        assert!(e.contains(names), "{args:?}: {e}");
    }
    assert_eq!(
        db_digest_except(&t.p.db(), &["meta"]),
        digest,
        "bad input wrote nothing"
    );
    agent.close().await;

    // A policy naming an unknown checklist item is refused by file, line and field.
    for (bad, field) in [
        (
            "required = [\"vibes\"]",
            "environments.production.checklist.required",
        ),
        (
            "human_only = [\"owner\"]",
            "environments.production.checklist.human_only",
        ),
        (
            "by_type = { nonsense = [] }",
            "environments.production.checklist.by_type.nonsense",
        ),
        (
            "evidence_within = \"soon\"",
            "environments.production.checklist.evidence_within",
        ),
    ] {
        let text = format!(
            "version = 1\n[environments.production]\n[environments.production.checklist]\n{bad}\n"
        );
        let e = flagwarden::domain::policy::Policy::parse("f.toml", &text).unwrap_err();
        assert_eq!(e.field, field, "{e}");
        assert_eq!(e.line, 4, "{e}");
    }
}

#[test]
fn policy_check_explain_lists_what_is_on_and_what_is_off() {
    let p = Project::new(DEFAULT_POLICY);
    let out = p.cli_ok(&["policy", "check", "--explain"]);
    let prod = out
        .split("\nproduction:")
        .nth(1)
        .expect("production listed");
    for on in [
        "[on ] pre-release checklist: owner, escalation, plan, evidence, limitations, rehearsal",
        "[on ] rehearsed rollback before a start: required for code",
        "[on ] checklist items only a human may attest: limitations",
        "[on ] freezes: weekend",
    ] {
        assert!(prod.contains(on), "{on:?} missing from {prod}");
    }
    let dev = out
        .split("\ndevelopment:")
        .nth(1)
        .unwrap()
        .split("\nproduction:")
        .next()
        .unwrap();
    for off in [
        "[off] pre-release checklist: none",
        "[off] freezes: none (a Friday-evening start is allowed)",
    ] {
        assert!(dev.contains(off), "{off:?} missing from {dev}");
    }
}

#[tokio::test]
async fn an_emergency_change_opens_a_follow_up_that_only_a_second_person_closes() {
    let t = Setup::new(DEFAULT_POLICY);
    let agent = connect_http(&t.s.url, "agent", None).await;
    agent.create_flag("search").await;
    // Friday evening, an outage: alice breaks the glass and rolls the flag back.
    set_clock(&t.clock, FRIDAY_EVENING);
    t.cli_ok(&[
        "break-glass",
        "--env",
        "production",
        "--reason",
        "outage INC-7",
        "--for",
        "2h",
        "--yes",
    ]);
    t.cli_ok(&[
        "rollback",
        "search",
        "--env",
        "production",
        "--reason",
        "outage INC-7",
        "--yes",
    ]);
    let list: serde_json::Value =
        serde_json::from_str(&t.cli_ok(&["approvals", "--json"])).unwrap();
    let follow = list["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "follow_up")
        .unwrap_or_else(|| panic!("a follow-up review is listed: {list}"))
        .clone();
    assert_eq!(follow["status"], "pending");
    assert_eq!(follow["requested_by"], "human:alice");
    let id = follow["id"].as_i64().unwrap().to_string();
    // The agent sees it too, and the trail marks what was done under the glass.
    let seen = agent.call("list_approvals", json!({})).await.ok();
    assert!(seen.to_string().contains("follow_up"), "{seen}");
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_events WHERE action = 'rollback' AND message LIKE '[emergency: done under break-glass #1 in production, opened by alice%'"),
        1
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_events WHERE action = 'open_follow_up' AND actor_kind = 'system'"), 1);

    // Nobody over HTTP without a human token, not alice alone, not without a note, not by rejecting.
    let res = t
        .http
        .post(format!("{}/api/v1/approvals/{id}/approve", t.s.url))
        .json(&json!({"reason": "fine"}))
        .send()
        .await
        .unwrap();
    assert!(!res.status().is_success(), "{}", res.status());
    let e = t.cli_err(&["approve", &id, "--reason", "all good", "--yes"]);
    assert!(
        e.contains("follow_up.second_person") && e.contains("alice broke the glass"),
        "{e}"
    );
    let bob = |args: &[&str]| t.cli_as("bob", args);
    let out = bob(&["approve", &id, "--reason", " ", "--yes"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("invalid reason")
    );
    let out = bob(&["reject", &id, "--reason", "no", "--yes"]);
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("cannot be rejected")
    );
    let out = bob(&[
        "approve",
        &id,
        "--reason",
        "reviewed INC-7: rollback was right, fix in #123",
        "--yes",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value =
        serde_json::from_str(&t.cli_ok(&["approvals", "--all", "--json"])).unwrap();
    let closed = list["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"].as_i64().is_some_and(|v| v.to_string() == id))
        .unwrap()
        .clone();
    assert_eq!(closed["status"], "approved", "{closed}");
    assert_eq!(closed["decided_by"], "bob");
    agent.close().await;
}

const HARM: &str = r#"
version = 1
[controller]
enabled = false
[environments.prod]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
steps = [5, 50, 100]
[environments.prod.gate]
min_samples = 100
required = ["error_rate"]
fresh_within = "2h"
[environments.prod.gate.metrics.error_rate]
margin = 0.05
"#;

#[tokio::test]
async fn the_postmortem_numbers_are_the_clock_and_traffic_the_test_produced() {
    let t = Setup::new(HARM);
    let agent = connect_http(&t.s.url, "agent", None).await;
    agent.create_flag("pm").await;
    let out = agent
        .call(
            "start_canary",
            json!({"key": "pm", "environment": "prod", "candidate_variant": "on", "reason": "ship"}),
        )
        .await
        .ok();
    let id = out["rollout"]["id"].as_i64().unwrap();
    // Ten minutes in, the canary errs 30 % of the time against 0.5 % on the control.
    set_clock(&t.clock, "2026-11-24T10:10:00Z");
    let batch = json!({"batch_id": "b-1", "environment": "prod", "signals": [
        {"flag": "pm", "arm": "canary", "exposures": 1000, "requests": 1000, "errors": 300},
        {"flag": "pm", "arm": "control", "exposures": 1000, "requests": 1000, "errors": 5}]});
    let res = t
        .http
        .post(format!("{}/api/v1/signals", t.s.url))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let _ = agent
        .call(
            "advance_canary",
            json!({"key": "pm", "environment": "prod", "reason": "look"}),
        )
        .await;
    // A quarter of an hour later a person confirms the proposed rollback.
    set_clock(&t.clock, "2026-11-24T10:25:00Z");
    let list: serde_json::Value =
        serde_json::from_str(&t.cli_ok(&["approvals", "--json"])).unwrap();
    let proposal = list["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "rollback")
        .unwrap_or_else(|| panic!("a rollback proposal: {list}"))["id"]
        .to_string();
    t.cli_ok(&["approve", &proposal, "--reason", "confirmed", "--yes"]);

    let md = t.cli_ok(&["postmortem", &id.to_string()]);
    for part in [
        &format!("# Postmortem: rollout {id} of `pm` in prod"),
        "candidate `on` against the last-known-good `off`",
        "- exposure started: 2026-11-24T10:00:00Z",
        "- harm first detectable: 2026-11-24T10:10:00Z (eval #",
        "- exposure froze: 2026-11-24T10:10:00Z",
        "- rollback completed: 2026-11-24T10:25:00Z",
        "- time to detect: 10m",
        "- time to recover: 15m",
        "- 5% from 2026-11-24T10:00:00Z to 2026-11-24T10:25:00Z: 25.0 min, 1000 canary units counted by then",
        "1.2 share-minutes",
        "| start_canary | allow |",
        "| approve | allow |",
        "the first step was already the smallest",
    ] {
        assert!(md.contains(part), "{part:?} missing from\n{md}");
    }
    let e = t.cli_err(&["postmortem", "999"]);
    assert!(e.contains("rollout 999 does not exist"), "{e}");
    agent.close().await;
}
