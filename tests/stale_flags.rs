//! Stale-flag reason codes with a controlled clock, one case per code, and the human-only archive
//! that ends a flag's life.

mod common;

use common::world::{self, Clock};
use flagwarden::app::types::*;
use flagwarden::app::{App, AppError};
use flagwarden::domain::policy::Actor;
use flagwarden::domain::stale::Reason;
use flagwarden::store::Store;
use serde_json::json;

const POLICY: &str = r#"
version = 1
[flags]
lifetime_days = { code = 30, kill_switch = 0 }
[environments.development]
agent_may = ["set_targeting", "start_canary", "advance_canary", "record_signals", "rollback", "cleanup_flag"]
[environments.production]
agent_may = ["set_targeting", "cleanup_flag"]
"#;

const DAY: i64 = 86_400;

struct World {
    app: App,
    clock: Clock,
    root: tempfile::TempDir,
}

fn agent() -> Actor {
    Actor::Agent("agent".into())
}

fn human() -> Actor {
    Actor::Human("alice".into())
}

impl World {
    fn new() -> World {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("app.py"), "def pay():\n    charge()\n").unwrap();
        let clock = Clock::new();
        let app = world::app_with(
            Store::open_in_memory().unwrap(),
            POLICY,
            clock.app_clock(),
            root.path(),
        );
        World { app, clock, root }
    }

    fn days(&self, n: i64) {
        self.clock.advance(n * DAY);
    }

    fn create(&self, key: &str, change_type: &str) {
        let req: CreateFlag = serde_json::from_value(
            json!({"key": key, "description": "d", "change_type": change_type, "reason": "r"}),
        )
        .unwrap();
        self.app.create_flag(&agent(), &req).unwrap();
    }

    fn everyone(&self, key: &str, variant: &str) {
        for env in ["development", "production"] {
            let req: SetTargeting = serde_json::from_value(json!({
                "key": key, "environment": env, "rules": [], "enabled": true,
                "default_variant": variant, "reason": "launch"
            }))
            .unwrap();
            self.app.set_targeting(&agent(), &req).unwrap();
        }
    }

    fn evaluate(&self, key: &str) {
        let req: EvaluateFlag =
            serde_json::from_value(json!({"key": key, "environment": "production"})).unwrap();
        self.app.evaluate_flag(&req).unwrap();
        // Counts are flushed every few seconds in a server; here, at once, stamped with this day.
        self.app.flush_counts().unwrap();
    }

    /// Evaluates the flag once a day for `n` days, so it never counts as inactive.
    fn in_use(&self, key: &str, n: i64) {
        for _ in 0..n {
            self.evaluate(key);
            self.days(1);
        }
        self.evaluate(key);
    }

    fn reference(&self, key: &str) {
        let req: WrapChange = serde_json::from_value(json!({
            "key": key, "language": "python", "change_description": "new payment path",
            "file": "app.py", "reason": "record where it is used"
        }))
        .unwrap();
        self.app.wrap_change(&agent(), &req).unwrap();
    }

    fn stale(&self, key: &str) -> Option<StaleFlag> {
        let list = self.app.list_stale_flags(&ListStale::default()).unwrap();
        list.flags.into_iter().find(|f| f.key == key)
    }

    fn reasons(&self, key: &str) -> Vec<Reason> {
        self.stale(key)
            .map(|f| f.reasons.iter().map(|r| r.code).collect())
            .unwrap_or_default()
    }
}

#[test]
fn past_lifetime_follows_the_policy_lifetime_of_the_change_type() {
    let w = World::new();
    w.create("checkout-v2", "code");
    w.create("panic-button", "kill_switch");
    w.reference("checkout-v2");
    w.in_use("checkout-v2", 29);
    assert_eq!(w.reasons("checkout-v2"), vec![], "day 29 of 30");
    w.in_use("checkout-v2", 1);
    let f = w.stale("checkout-v2").unwrap();
    assert_eq!(
        f.reasons.iter().map(|r| r.code).collect::<Vec<_>>(),
        vec![Reason::PastLifetime]
    );
    assert!(
        f.reasons[0].evidence.contains("30 days"),
        "{}",
        f.reasons[0].evidence
    );
    assert!(f.recommended_action.contains("cleanup_flag"));
    // lifetime_days.kill_switch = 0: permanent, never past its lifetime (it is inactive, though).
    assert!(!w.reasons("panic-button").contains(&Reason::PastLifetime));
}

#[test]
fn launched_needs_one_variant_for_everyone_everywhere_for_seven_days() {
    let w = World::new();
    w.create("dark-mode", "experiment");
    w.reference("dark-mode");
    w.everyone("dark-mode", "on");
    w.in_use("dark-mode", 6);
    assert_eq!(w.reasons("dark-mode"), vec![]);
    w.in_use("dark-mode", 1);
    let f = w.stale("dark-mode").unwrap();
    assert_eq!(
        f.reasons.iter().map(|r| r.code).collect::<Vec<_>>(),
        vec![Reason::Launched, Reason::ReadyForCodeRemoval]
    );
    assert_eq!(f.keep_variant.as_deref(), Some("on"));
    assert!(
        f.recommended_action.contains("keep_variant \"on\""),
        "{}",
        f.recommended_action
    );
    // Changing targeting restarts the week.
    w.everyone("dark-mode", "off");
    assert_eq!(w.reasons("dark-mode"), vec![]);
}

#[test]
fn inactive_after_seven_days_without_an_evaluation() {
    let w = World::new();
    w.create("quiet", "experiment");
    w.reference("quiet");
    w.in_use("quiet", 2);
    w.days(6);
    assert_eq!(w.reasons("quiet"), vec![]);
    w.days(1);
    let f = w.stale("quiet").unwrap();
    assert_eq!(
        f.reasons.iter().map(|r| r.code).collect::<Vec<_>>(),
        vec![Reason::Inactive, Reason::ReadyForCodeRemoval]
    );
    assert!(f.reasons[0].evidence.starts_with("last evaluated"));
}

#[test]
fn ready_to_archive_once_marked_for_removal_without_references() {
    let w = World::new();
    w.create("gone", "experiment");
    w.in_use("gone", 1);
    assert_eq!(w.reasons("gone"), vec![]);
    let req: CleanupFlag = serde_json::from_value(
        json!({"key": "gone", "keep_variant": "off", "reason": "abandoned"}),
    )
    .unwrap();
    w.app.cleanup_flag(&agent(), &req).unwrap();
    let f = w.stale("gone").unwrap();
    assert_eq!(
        f.reasons.iter().map(|r| r.code).collect::<Vec<_>>(),
        vec![Reason::ReadyToArchive]
    );
    assert!(
        f.recommended_action.contains("flagwarden scan"),
        "never scanned: {}",
        f.recommended_action
    );
}

#[test]
fn stale_over_ninety_days_and_settled() {
    let w = World::new();
    w.create("old-prompt", "prompt");
    w.reference("old-prompt");
    w.days(90);
    assert!(!w.reasons("old-prompt").contains(&Reason::Stale));
    w.days(1);
    assert_eq!(
        w.reasons("old-prompt"),
        vec![
            Reason::PastLifetime,
            Reason::Inactive,
            Reason::ReadyForCodeRemoval,
            Reason::Stale
        ]
    );
    let older: ListStale = serde_json::from_value(json!({"min_age_days": 92})).unwrap();
    assert!(
        w.app.list_stale_flags(&older).unwrap().flags.is_empty(),
        "min_age_days filters out younger flags"
    );
}

#[test]
fn only_a_human_archives_and_only_without_live_references() {
    let w = World::new();
    w.create("retired", "code");
    w.reference("retired");
    let err = w
        .app
        .archive_flag(&agent(), "retired", "done", false)
        .unwrap_err();
    assert!(err.to_string().contains("reserved for humans"), "{err}");
    let err = w
        .app
        .archive_flag(&human(), "retired", "done", false)
        .unwrap_err();
    assert!(matches!(err, AppError::Conflict(_)), "{err}");
    assert!(err.to_string().contains("1 code reference"), "{err}");
    let out = w
        .app
        .archive_flag(&human(), "retired", "checked by hand", true)
        .unwrap();
    assert_eq!(
        out.flag.status,
        flagwarden::domain::flag::FlagStatus::Archived
    );
    let req: EvaluateFlag =
        serde_json::from_value(json!({"key": "retired", "environment": "production"})).unwrap();
    let eval = w.app.evaluate_flag(&req).unwrap();
    assert_eq!(
        serde_json::to_value(eval.error_code).unwrap(),
        json!("FLAG_NOT_FOUND"),
        "{eval:?}"
    );
    assert_eq!(
        w.reasons("retired"),
        vec![],
        "archived flags are not debt any more"
    );
    let audit = w.app.audit_events(Some("retired"), None, 10).unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "archive_flag" && e.actor == "alice"),
        "the archive is audited"
    );
}

#[test]
fn ready_to_archive_once_a_scan_finds_the_last_reference_gone() {
    let w = World::new();
    w.create("old-banner", "experiment");
    std::fs::write(
        w.root.path().join("banner.py"),
        "if client.get_boolean_value(\"old-banner\", False):\n    show()\n",
    )
    .unwrap();
    w.app.scan_code_refs(None).unwrap();
    w.everyone("old-banner", "off");
    w.in_use("old-banner", 7);
    let f = w.stale("old-banner").unwrap();
    assert_eq!(
        f.reasons.iter().map(|r| r.code).collect::<Vec<_>>(),
        vec![Reason::Launched, Reason::ReadyForCodeRemoval]
    );
    assert_eq!(f.code_refs.len(), 1);
    std::fs::write(w.root.path().join("banner.py"), "show()\n").unwrap();
    w.app.scan_code_refs(None).unwrap();
    let f = w.stale("old-banner").unwrap();
    assert_eq!(
        f.reasons.iter().map(|r| r.code).collect::<Vec<_>>(),
        vec![Reason::Launched, Reason::ReadyToArchive]
    );
    let archive = f
        .reasons
        .iter()
        .find(|r| r.code == Reason::ReadyToArchive)
        .unwrap();
    assert!(
        archive.evidence.contains("found no references left"),
        "{}",
        archive.evidence
    );
    assert!(
        f.recommended_action
            .contains("flagwarden archive old-banner"),
        "{}",
        f.recommended_action
    );
    w.app
        .archive_flag(&human(), "old-banner", "gone from the code", false)
        .unwrap();
}
