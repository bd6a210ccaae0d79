//! The rollout lifecycle through the `App` façade with a controlled clock and an in-memory store.

mod common;

use common::world::{self, Clock};
use flagwarden::app::types::*;
use flagwarden::app::{App, AppError};
use flagwarden::domain::policy::Actor;
use serde_json::json;

/// The shared development environment with a gate, production bounded with two approvals behind the
/// shared production gate, and three environments of their own.
const POLICY: &str = concat!(
    "\nversion = 1\n",
    include_str!("data/policies/development.toml"),
    r#"[environments.development.gate]
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
"#,
    include_str!("data/policies/production_gate.toml"),
    r#"[environments.gated]
agent_may = ["start_canary"]
requires_start_approval = true
[environments.critical]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
steps = [5, 25, 100]
agent_rollback = "propose"
auto_rollback = "critical"
[environments.critical.gate]
min_samples = 100
breakers = [{ metric = "error_rate", above = 0.05, min_samples = 100 }]
[environments.prompts]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
steps = [10, 100]
[environments.prompts.preflight]
required = true
min_items = 20
"#
);

struct World {
    app: App,
    clock: Clock,
}

impl World {
    fn new() -> World {
        let clock = Clock::new();
        let app = world::app(POLICY, &clock);
        World { app, clock }
    }
    fn wait(&self, secs: i64) {
        self.clock.advance(secs);
    }
    fn flag(&self, key: &str) {
        self.flag_of(key, "code");
    }
    fn flag_of(&self, key: &str, change_type: &str) {
        let req: CreateFlag = serde_json::from_value(
            json!({"key": key, "description": "d", "change_type": change_type, "reason": "r"}),
        )
        .unwrap();
        self.app.create_flag(&agent(), &req).unwrap();
    }
    fn report(&self, key: &str, env: &str, arm: &str, counts: serde_json::Value) -> SignalsOutput {
        let mut req = json!({"key": key, "environment": env, "arm": arm});
        req.as_object_mut()
            .unwrap()
            .extend(counts.as_object().unwrap().clone());
        let req: RecordSignals = serde_json::from_value(req).unwrap();
        self.app.record_signals(&agent(), &req).unwrap()
    }
    fn status(&self, key: &str, env: &str) -> CanaryStatus {
        self.app
            .canary_status(&FlagEnv {
                key: key.into(),
                environment: env.into(),
            })
            .unwrap()
    }
    fn audit(&self) -> Vec<flagwarden::domain::audit::AuditEvent> {
        self.app.audit_events(None, None, 200).unwrap()
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

use flagwarden::domain::gate::{PauseReason, Verdict};
use flagwarden::domain::rollout::RolloutState;

#[test]
fn a_tripped_breaker_proposes_a_rollback_as_soon_as_the_evidence_arrives() {
    let w = World::new();
    w.flag("f");
    w.start("f", "production").unwrap();
    let out = w.report(
        "f",
        "production",
        "canary",
        json!({"requests": 200, "errors": 40}),
    );
    assert!(
        out.outcome.summary.contains("propose a rollback"),
        "{}",
        out.outcome.summary
    );
    let status = w.status("f", "production");
    assert_eq!(status.rollout.unwrap().state, RolloutState::RollbackPending);
    assert_eq!(status.pending_approvals.len(), 1);
    let proposal = w
        .audit()
        .into_iter()
        .find(|e| e.action == "propose_rollback")
        .expect("a system event");
    assert_eq!(
        (proposal.actor_kind.as_str(), proposal.approval_id),
        ("system", Some(status.pending_approvals[0]))
    );
    assert!(
        w.on_share("f", "production") > 20,
        "exposure is frozen, not removed"
    );
}

#[test]
fn auto_rollback_critical_rolls_back_at_once_as_the_system() {
    let w = World::new();
    w.flag("f");
    w.start("f", "critical").unwrap();
    assert!(w.on_share("f", "critical") > 20);
    let out = w.report(
        "f",
        "critical",
        "canary",
        json!({"requests": 200, "errors": 40}),
    );
    assert!(
        out.outcome
            .summary
            .contains("rolled back at once by the system"),
        "{}",
        out.outcome.summary
    );
    assert_eq!(
        w.on_share("f", "critical"),
        0,
        "everyone is back on the last-known-good"
    );
    let status = w.status("f", "critical");
    assert_eq!(status.rollout.unwrap().state, RolloutState::RolledBack);
    let rollback = w
        .audit()
        .into_iter()
        .find(|e| e.action == "rollback")
        .expect("a rollback event");
    assert_eq!(rollback.actor_kind, "system");
    assert!(
        rollback
            .message
            .unwrap()
            .contains("auto_rollback = \"critical\"")
    );
    assert!(
        rollback.after.contains("gate_evaluation_id"),
        "the decision names its evidence"
    );
}

#[test]
fn every_gate_decision_is_stored_with_its_inputs_and_named_by_its_audit_event() {
    let w = World::new();
    w.flag("f");
    w.start("f", "production").unwrap();
    w.signals("f", "production", 300, 1, 1);
    let held = w.advance("f", "production", None);
    assert!(held.is_err(), "dwell is not met yet: denied");
    w.wait(3600);
    w.signals("f", "production", 300, 1, 1);
    let out = w.advance("f", "production", None).unwrap();
    assert_eq!(out.gate.as_ref().unwrap().verdict, Verdict::Promote);
    let rollout = out.rollout.unwrap().id;
    let stored = w.app.gate_evaluations(rollout, 10).unwrap();
    assert_eq!(stored.len(), 1, "a refusal keeps nothing of the attempt");
    let event = w
        .audit()
        .into_iter()
        .find(|e| e.action == "advance_canary" && e.decision == "allow")
        .unwrap();
    let after: serde_json::Value = serde_json::from_str(&event.after).unwrap();
    assert_eq!(after["gate_evaluation_id"], json!(stored[0].id));
    assert_eq!(stored[0].verdict, "PROMOTE");
    assert_eq!(stored[0].config_sha256, out.gate.unwrap().config_sha256);
    assert_eq!(stored[0].inputs["canary"]["counts"]["requests"], json!(600));
    assert_eq!(
        stored[0].inputs["periods"],
        json!(2),
        "4 reports in two 5-minute periods, an hour apart"
    );
    let status = w.status("f", "production");
    assert_eq!(status.last_evaluation, Some(stored[0].id));
    let error_rate = &status.gate.unwrap().metrics[0];
    assert_eq!(
        (
            error_rate.metric.as_str(),
            error_rate.canary.n,
            error_rate.control.n
        ),
        ("error_rate", 600, 600)
    );
}

#[test]
fn a_sample_ratio_mismatch_pauses_the_rollout_until_a_human_resumes_it() {
    let w = World::new();
    w.flag("f");
    w.start("f", "production").unwrap();
    w.wait(3600);
    w.report(
        "f",
        "production",
        "canary",
        json!({"exposures": 4500, "requests": 4500}),
    );
    w.report(
        "f",
        "production",
        "control",
        json!({"exposures": 5500, "requests": 5500}),
    );
    let out = w.advance("f", "production", None).unwrap();
    let gate = out.gate.unwrap();
    assert_eq!(gate.pause, Some(PauseReason::SampleRatioMismatch));
    assert!(gate.srm.mismatch && gate.srm.p_value < 0.001);
    let r = out.rollout.unwrap();
    assert_eq!((r.state, r.percent), (RolloutState::Paused, 5.0));
    let err = w.advance("f", "production", None).unwrap_err().to_string();
    assert!(
        err.contains("paused") && err.contains(&format!("flagwarden resume {}", r.id)),
        "{err}"
    );
    let by_agent = w
        .app
        .steer_rollout(&agent(), r.id, Steer::Resume, "me")
        .unwrap_err()
        .to_string();
    assert!(by_agent.contains("only a human"), "{by_agent}");
    let resumed = w
        .app
        .steer_rollout(&human("alice"), r.id, Steer::Resume, "fixed the reporter")
        .unwrap();
    assert_eq!(resumed.rollout.unwrap().state, RolloutState::Running);
}

#[test]
fn a_human_aborts_or_overrides_only_under_break_glass() {
    let w = World::new();
    w.flag("f");
    let r = w.start("f", "production").unwrap().rollout.unwrap().id;
    let err = w
        .app
        .steer_rollout(&human("alice"), r, Steer::Promote, "ship it")
        .unwrap_err()
        .to_string();
    assert!(err.contains("break-glass"), "{err}");
    w.app
        .break_glass(
            &human("alice"),
            "production",
            "incident 42",
            jiff::SignedDuration::from_hours(1),
        )
        .unwrap();
    let done = w
        .app
        .steer_rollout(
            &human("alice"),
            r,
            Steer::Promote,
            "incident 42: the old path is down",
        )
        .unwrap();
    assert_eq!(done.rollout.unwrap().state, RolloutState::Completed);
    assert_eq!(w.on_share("f", "production"), 1000);

    w.flag("g");
    let r = w.start("g", "production").unwrap().rollout.unwrap().id;
    assert!(w.on_share("g", "production") > 20);
    let aborted = w
        .app
        .steer_rollout(&human("bob"), r, Steer::Abort, "wrong candidate")
        .unwrap();
    assert_eq!(aborted.rollout.unwrap().state, RolloutState::Aborted);
    assert_eq!(w.on_share("g", "production"), 0);
}

#[test]
fn a_prompt_rollout_waits_in_draft_until_its_offline_eval_passes() {
    let w = World::new();
    w.flag_of("p", "prompt");
    let draft = w.start("p", "prompts").unwrap().rollout.unwrap();
    assert_eq!(draft.state, RolloutState::Draft);
    assert_eq!(w.on_share("p", "prompts"), 0, "a draft exposes nobody");
    let err = w.advance("p", "prompts", None).unwrap_err().to_string();
    assert!(
        err.contains("DRAFT") && err.contains("no preflight"),
        "{err}"
    );

    // The candidate fails 12 items the last-known-good passed: rejected before anyone sees it.
    let worse: Vec<_> = (0..40)
        .map(|i| json!({"candidate": if i < 12 { 0.0 } else { 1.0 }, "baseline": 1.0}))
        .collect();
    let out = w.report("p", "prompts", "canary", json!({"eval_pairs": worse}));
    assert_eq!(out.preflight.unwrap().verdict, Verdict::Rollback);
    assert_eq!(
        w.status("p", "prompts").rollout.unwrap().state,
        RolloutState::Aborted
    );

    let draft = w.start("p", "prompts").unwrap().rollout.unwrap();
    assert_eq!(draft.state, RolloutState::Draft);
    let same: Vec<_> = (0..40).map(|i| json!({"candidate": 0.8 + (i % 3) as f64 * 0.05, "baseline": 0.8 + (i % 3) as f64 * 0.05 - 0.01})).collect();
    let out = w.report("p", "prompts", "canary", json!({"eval_pairs": same}));
    assert_eq!(
        out.preflight.unwrap().verdict,
        Verdict::Promote,
        "{}",
        out.outcome.summary
    );
    let opened = w.advance("p", "prompts", None).unwrap().rollout.unwrap();
    assert_eq!(
        (opened.state, opened.percent),
        (RolloutState::Running, 10.0)
    );
    assert!(w.on_share("p", "prompts") > 50);
}

#[test]
fn eight_agents_racing_on_one_version_advance_it_once() {
    let w = World::new();
    w.flag("f");
    w.start("f", "development").unwrap();
    w.signals("f", "development", 50, 0, 0);
    let version = w.app.get_flag("f").unwrap().version;
    let results: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| w.advance("f", "development", Some(version)).is_ok()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|ok| **ok).count(), 1, "{results:?}");
    assert_eq!(w.status("f", "development").rollout.unwrap().percent, 50.0);
}
