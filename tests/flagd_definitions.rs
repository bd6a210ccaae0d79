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
