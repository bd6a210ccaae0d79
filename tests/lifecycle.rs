//! The rollout lifecycle through the `App` façade with a controlled clock and an in-memory store.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use flagwarden::app::types::*;
use flagwarden::app::{App, AppError, Config, LoadedPolicy};
use flagwarden::domain::policy::Actor;
use flagwarden::store::Store;
use serde_json::json;

const POLICY: &str = r#"
version = 1
[environments.development]
agent_may = ["set_targeting", "start_canary", "advance_canary", "record_signals", "rollback", "cleanup_flag"]
steps = [10, 50, 100]
agent_rollback = "allow"
[environments.development.gate]
min_samples = 10
[environments.development.gate.metrics.error_rate]
margin = 0.3
[environments.production]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
steps = [5, 25, 100]
max_auto_percent = 25
min_dwell = "1h"
approvals = 2
agent_rollback = "propose"
[environments.production.gate]
min_samples = 100
fresh_within = "24h"
breakers = [{ metric = "error_rate", above = 0.05, min_samples = 100 }]
[environments.production.gate.metrics.error_rate]
margin = 0.1
[environments.gated]
agent_may = ["start_canary"]
requires_start_approval = true
"#;

struct World {
    app: App,
    clock: Arc<AtomicI64>,
}

impl World {
    fn new() -> World {
        let clock = Arc::new(AtomicI64::new(1_800_000_000));
        let c = clock.clone();
        let app = App::new(
            Store::open_in_memory().unwrap(),
            LoadedPolicy::parse("flagwarden.toml", POLICY).unwrap(),
            Arc::new(move || jiff::Timestamp::from_second(c.load(Ordering::SeqCst)).unwrap()),
            Config {
                ofrep_base_url: "http://127.0.0.1:7070".into(),
                project_root: ".".into(),
            },
        )
        .unwrap();
        World { app, clock }
    }
    fn wait(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }
    fn flag(&self, key: &str) {
        let req: CreateFlag = serde_json::from_value(
            json!({"key": key, "description": "d", "change_type": "code", "reason": "r"}),
        )
        .unwrap();
        self.app.create_flag(&agent(), &req).unwrap();
    }
    fn start(&self, key: &str, env: &str) -> Result<CanaryOutput, AppError> {
        let req: StartCanary = serde_json::from_value(
            json!({"key": key, "environment": env, "candidate_variant": "on", "reason": "r"}),
        )
        .unwrap();
        self.app.start_canary(&agent(), &req)
    }
    /// Both arms report `requests` each, with these errors.
    fn signals(
        &self,
        key: &str,
        env: &str,
        requests: u64,
        canary_errors: u64,
        control_errors: u64,
    ) {
        for (arm, errors) in [("canary", canary_errors), ("control", control_errors)] {
            let req: RecordSignals = serde_json::from_value(json!({"key": key, "environment": env, "arm": arm, "requests": requests, "errors": errors, "exposures": requests})).unwrap();
            self.app.record_signals(&agent(), &req).unwrap();
        }
    }
    fn advance(
        &self,
        key: &str,
        env: &str,
        expected_version: Option<i64>,
    ) -> Result<CanaryOutput, AppError> {
        let req: AdvanceCanary = serde_json::from_value(json!({"key": key, "environment": env, "reason": "r", "expected_version": expected_version})).unwrap();
        self.app.advance_canary(&agent(), &req)
    }
    fn variant(&self, key: &str, env: &str, user: &str) -> Option<String> {
        let req = EvaluateFlag {
            key: key.into(),
            environment: env.into(),
            context: json!({"targetingKey": user}),
        };
        self.app.evaluate_flag(&req).unwrap().variant
    }
    fn on_share(&self, key: &str, env: &str) -> usize {
        (0..1000)
            .filter(|i| self.variant(key, env, &format!("u{i}")).as_deref() == Some("on"))
            .count()
    }
}

fn agent() -> Actor {
    Actor::Agent("test-agent".into())
}
fn human(name: &str) -> Actor {
    Actor::Human(name.into())
}

#[test]
fn dwell_holds_the_step_until_its_time_has_passed() {
    let w = World::new();
    w.flag("f");
    w.start("f", "production").unwrap();
    w.signals("f", "production", 500, 1, 1);
    let err = w.advance("f", "production", None).unwrap_err().to_string();
    assert!(
        err.contains("denied by production.min_dwell") && err.contains("advance again in 1h"),
        "{err}"
    );
    w.wait(3600);
    let out = w.advance("f", "production", None).unwrap();
    assert_eq!(out.rollout.unwrap().percent, 25.0);
}

#[test]
fn harmful_evidence_proposes_a_rollback_and_a_human_may_dismiss_it() {
    let w = World::new();
    w.flag("f");
    w.start("f", "production").unwrap();
    w.wait(3600);
    // 4.5 % against 1 %: below the breaker, but clearly worse than the control.
    w.signals("f", "production", 1000, 45, 10);
    let out = w.advance("f", "production", None).unwrap();
    assert_eq!(
        out.gate.unwrap().verdict,
        flagwarden::domain::gate::Verdict::Rollback
    );
    let r = out.rollout.unwrap();
    assert_eq!(
        (r.state, r.percent),
        (
            flagwarden::domain::rollout::RolloutState::RollbackPending,
            5.0
        )
    );
    let id = out.approval_id.unwrap();
    let before = w.on_share("f", "production");
    assert!(
        before > 20,
        "exposure is frozen, not removed, while the proposal waits ({before})"
    );
    w.app
        .reject(
            &human("alice"),
            id,
            "the errors came from a broken load generator",
            Channel::Cli,
        )
        .unwrap();
    let status = w
        .app
        .canary_status(&FlagEnv {
            key: "f".into(),
            environment: "production".into(),
        })
        .unwrap();
    assert_eq!(
        status.rollout.unwrap().state,
        flagwarden::domain::rollout::RolloutState::Running
    );
}

#[test]
fn an_approval_needs_the_configured_number_of_distinct_humans() {
    let w = World::new();
    w.flag("f");
    w.start("f", "production").unwrap();
    w.signals("f", "production", 500, 0, 0);
    w.wait(3600);
    w.advance("f", "production", None).unwrap(); // 5 → 25
    w.wait(3600);
    let gated = w.advance("f", "production", None).unwrap(); // 25 → 100 needs humans
    let id = gated.approval_id.unwrap();
    let first = w
        .app
        .approve(&human("alice"), id, "ok", Channel::Cli)
        .unwrap();
    assert!(!first.executed, "one of two approvals");
    let again = w
        .app
        .approve(&human("alice"), id, "ok", Channel::Cli)
        .unwrap_err()
        .to_string();
    assert!(again.contains("already approved"), "{again}");
    assert!(w.on_share("f", "production") < 400, "still at 25 %");
    let second = w
        .app
        .approve(&human("bob"), id, "ok", Channel::Cli)
        .unwrap();
    assert!(second.executed);
    assert_eq!(w.on_share("f", "production"), 1000);
    let agent_try = w
        .app
        .approve(&agent(), id, "me too", Channel::Cli)
        .unwrap_err()
        .to_string();
    assert!(agent_try.contains("only a human"), "{agent_try}");
}

#[test]
fn agents_cannot_approve() {
    let w = World::new();
    w.flag("f");
    let out = w.start("f", "gated").unwrap();
    let err = w
        .app
        .approve(
            &agent(),
            out.approval_id.unwrap(),
            "self-approval",
            Channel::Cli,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("only a human"), "{err}");
}

#[test]
fn a_gated_start_exposes_nobody_until_approved() {
    let w = World::new();
    w.flag("f");
    let out = w.start("f", "gated").unwrap();
    assert_eq!(
        out.outcome.decision.rule.as_deref(),
        Some("gated.requires_start_approval")
    );
    assert_eq!(w.on_share("f", "gated"), 0);
    let d = w
        .app
        .approve(
            &human("alice"),
            out.approval_id.unwrap(),
            "go",
            Channel::Cli,
        )
        .unwrap();
    assert!(d.executed);
    let share = w.on_share("f", "gated");
    assert!(
        (3..=25).contains(&share),
        "the first step is 1 % of users, got {share} of 1000"
    );
}

#[test]
fn a_completed_rollout_makes_the_candidate_the_new_default() {
    let w = World::new();
    w.flag("f");
    w.start("f", "development").unwrap();
    w.signals("f", "development", 50, 0, 0);
    for expect in [50.0, 100.0] {
        assert_eq!(
            w.advance("f", "development", None)
                .unwrap()
                .rollout
                .unwrap()
                .percent,
            expect
        );
    }
    let done = w.advance("f", "development", None).unwrap();
    assert_eq!(
        done.rollout.unwrap().state,
        flagwarden::domain::rollout::RolloutState::Completed
    );
    assert_eq!(w.on_share("f", "development"), 1000);
    let flag = w.app.get_flag("f").unwrap();
    assert_eq!(
        flag.environments
            .iter()
            .find(|e| e.environment == "development")
            .unwrap()
            .default_variant,
        "on"
    );
}

#[test]
fn two_agents_racing_on_one_version_advance_once() {
    let w = World::new();
    w.flag("f");
    let started = w.start("f", "development").unwrap();
    w.signals("f", "development", 50, 0, 0);
    let version = w.app.get_flag("f").unwrap().version;
    assert!(version > started.outcome.version - 1);
    let first = w.advance("f", "development", Some(version)).unwrap();
    assert_eq!(first.rollout.unwrap().percent, 50.0);
    let second = w
        .advance("f", "development", Some(version))
        .unwrap_err()
        .to_string();
    assert!(
        second.contains("stale") && second.contains(&format!("at version {}", version + 1)),
        "{second}"
    );
    assert_eq!(
        w.app
            .canary_status(&FlagEnv {
                key: "f".into(),
                environment: "development".into()
            })
            .unwrap()
            .rollout
            .unwrap()
            .percent,
        50.0
    );
}

#[test]
fn stale_flags_name_their_reasons() {
    let w = World::new();
    w.flag("old");
    w.flag("launched");
    let req: SetTargeting =
        serde_json::from_value(json!({"key": "launched", "environment": "development", "rules": [], "default_variant": "on", "reason": "launch"})).unwrap();
    w.app.set_targeting(&agent(), &req).unwrap();
    w.variant("launched", "development", "u1");
    w.wait(41 * 86_400);
    let stale = w.app.list_stale_flags(&ListStale::default()).unwrap();
    let reasons = |k: &str| {
        stale
            .flags
            .iter()
            .find(|f| f.key == k)
            .map(|f| f.reasons.clone())
            .unwrap_or_default()
    };
    assert_eq!(reasons("old"), ["past_lifetime", "never_evaluated"]);
    assert_eq!(reasons("launched"), ["past_lifetime", "launched"]);
    let recent = w
        .app
        .list_stale_flags(&ListStale {
            environment: None,
            min_age_days: Some(60),
        })
        .unwrap();
    assert!(recent.flags.is_empty());
}
