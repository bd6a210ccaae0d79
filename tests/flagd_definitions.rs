//! flagd flag definitions through the `App` façade: one document per environment, its version the
//! audit sequence it reflects, cached per snapshot, and an unknown environment refused by name.

mod common;

use common::world::{self, Clock};
use flagwarden::app::types::*;
use flagwarden::app::{App, AppError};
use flagwarden::domain::policy::Actor;
use serde_json::{Value, json};

const POLICY: &str = concat!(
    "\nversion = 1\n",
    include_str!("data/policies/development.toml"),
    "[environments.production]\nagent_may = [\"start_canary\"]\n"
);

fn agent() -> Actor {
    Actor::Agent("test-agent".into())
}

fn create(app: &App, key: &str) {
    let req: CreateFlag = serde_json::from_value(
        json!({"key": key, "description": "d", "change_type": "code", "reason": "r"}),
    )
    .unwrap();
    app.create_flag(&agent(), &req).unwrap();
}

fn parsed(app: &App, env: &str) -> Value {
    serde_json::from_str(&app.flagd_definition(env).unwrap().json).unwrap()
}

#[test]
fn a_document_per_environment_versioned_by_the_audit_sequence() {
    let clock = Clock::new();
    let app = world::app(POLICY, &clock);
    create(&app, "new-checkout");
    let first = app.flagd_definition("development").unwrap();
    let doc: Value = serde_json::from_str(&first.json).unwrap();
    assert_eq!(doc["metadata"]["flagSetId"], "development");
    assert_eq!(doc["metadata"]["version"], first.seq.to_string());
    assert!(first.seq > 0);
    let flag = &doc["flags"]["new-checkout"];
    assert_eq!(flag["state"], "ENABLED");
    assert_eq!(flag["variants"], json!({"on": true, "off": false}));
    assert_eq!(flag["defaultVariant"], "off");

    // Unchanged snapshot: the same document, shared.
    let again = app.flagd_definition("development").unwrap();
    assert!(std::sync::Arc::ptr_eq(&first.json, &again.json));
    assert_eq!(first.etag, again.etag);

    create(&app, "dark-mode");
    let second = app.flagd_definition("development").unwrap();
    assert!(second.seq > first.seq);
    assert_ne!(second.etag, first.etag);
    assert!(parsed(&app, "production")["flags"]["dark-mode"].is_object());
}

#[test]
fn an_unknown_environment_is_refused_by_name() {
    let clock = Clock::new();
    let app = world::app(POLICY, &clock);
    match app.flagd_definition("staging") {
        Err(AppError::Invalid { field, message }) => {
            assert_eq!(field, "environment");
            assert!(message.contains("development"), "{message}");
            assert!(message.contains("production"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn call<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

#[test]
fn targeting_splits_and_a_canarys_arms_are_written_as_flagd_reads_them() {
    let clock = Clock::new();
    let app = world::app(POLICY, &clock);
    create(&app, "checkout");
    let targeting: SetTargeting = call(json!({"key": "checkout", "environment": "development",
    "reason": "r", "rules": [
        {"conditions": [{"attribute": "email", "op": "ends_with", "values": ["@corp.com"]},
                        {"attribute": "age", "op": "lt", "numbers": [18]}], "serve": {"variant": "on"}},
        {"conditions": [], "serve": {"split": [{"variant": "on", "percent": 25}, {"variant": "off", "percent": 75}]}}
    ]}));
    app.set_targeting(&agent(), &targeting).unwrap();
    let doc = parsed(&app, "development");
    let flag = &doc["flags"]["checkout"];
    assert_eq!(flag["defaultVariant"], "off");
    let chain = flag["targeting"]["if"].as_array().unwrap();
    assert_eq!(chain.len(), 5, "two rules and the fall-through: {chain:?}");
    assert_eq!(
        chain[0],
        json!({"and": [
            {"ends_with": [{"var": "email"}, "@corp.com"]},
            {"and": [{"!=": [{"var": "age"}, null]}, {"<": [{"var": "age"}, 18]}]}
        ]})
    );
    assert_eq!(chain[1], "on");
    assert_eq!(chain[2], true);
    let bucketing = json!({"cat": ["checkout/", {"var": "targetingKey"}]});
    assert_eq!(
        chain[3]["if"][1],
        json!({"fractional": [bucketing, ["on", 2500], ["off", 7500]]})
    );
    assert_eq!(chain[3]["if"][2], "flagwarden:targeting-key-missing");
    assert_eq!(chain[4], Value::Null);

    // A canary at 10 % on a flag without rules: canary, null, control, null buckets, the LKG default.
    create(&app, "search");
    let on: SetTargeting = call(
        json!({"key": "search", "environment": "development", "rules": [], "reason": "r",
        "default_variant": "off"}),
    );
    app.set_targeting(&agent(), &on).unwrap();
    let start: StartCanary = call(json!({"key": "search", "environment": "development",
        "candidate_variant": "on", "reason": "r", "steps": [10, 50, 100]}));
    app.start_canary(&agent(), &start).unwrap();
    let doc = parsed(&app, "development");
    let flag = &doc["flags"]["search"];
    assert_eq!(flag["defaultVariant"], "off");
    assert_eq!(
        flag["targeting"]["if"][1]["fractional"],
        json!([{"cat": ["search/", {"var": "targetingKey"}]}, ["on", 1000], [null, 4000], ["off", 1000], [null, 4000]])
    );
    assert_eq!(flag["metadata"]["canaryPercent"], 10.0);

    // The rollback pins the last-known-good: no targeting at all.
    let rollback: RollbackFlag =
        call(json!({"key": "search", "environment": "development", "reason": "r"}));
    app.rollback(&agent(), &rollback).unwrap();
    let doc = parsed(&app, "development");
    let flag = &doc["flags"]["search"];
    assert_eq!(flag["defaultVariant"], "off");
    assert!(flag.get("targeting").is_none(), "{flag}");
    assert_eq!(flag["metadata"]["flagwardenState"], "pinned");
    // Production never enabled it: the off variant, ENABLED for flagd.
    let prod = parsed(&app, "production");
    assert_eq!(prod["flags"]["search"]["state"], "ENABLED");
    assert_eq!(prod["flags"]["search"]["defaultVariant"], "off");
    assert_eq!(
        prod["flags"]["search"]["metadata"]["flagwardenState"],
        "disabled"
    );
}

#[test]
fn conditions_two_flags_share_are_written_once_as_evaluators() {
    let clock = Clock::new();
    let app = world::app(POLICY, &clock);
    let corp = json!([{"conditions": [{"attribute": "email", "op": "ends_with", "values": ["@corp.com"]}], "serve": {"variant": "on"}}]);
    let accented = json!([{"conditions": [{"attribute": "city", "op": "equals", "values": ["Zürich"]}], "serve": {"variant": "on"}}]);
    for key in ["a", "b"] {
        create(&app, key);
        let mut rules = corp.as_array().unwrap().clone();
        rules.extend(accented.as_array().unwrap().iter().cloned());
        let t: SetTargeting =
            call(json!({"key": key, "environment": "development", "rules": rules, "reason": "r"}));
        app.set_targeting(&agent(), &t).unwrap();
    }
    let doc = parsed(&app, "development");
    assert_eq!(
        doc["$evaluators"],
        json!({"shared-1": {"ends_with": [{"var": "email"}, "@corp.com"]}})
    );
    for key in ["a", "b"] {
        let chain = &doc["flags"][key]["targeting"]["if"];
        assert_eq!(chain[0], json!({"$ref": "shared-1"}));
        // Non-ASCII text stays inline: the Python core's textual substitution would break on it.
        assert_eq!(chain[2], json!({"===": [{"var": "city"}, "Zürich"]}));
    }
}
