//! Prompt and model versions as flags: immutable version records as variants, a new version is a new
//! variant, rollback flips the pointer back to the last-known-good version, get_flag shows history.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::policies::DEVELOPMENT_POLICY as POLICY;
use common::world;
use flagwarden::app::types::*;
use flagwarden::app::{App, AppError};
use flagwarden::domain::policy::Actor;
use flagwarden::store::Store;
use serde_json::{Value, json};

fn agent() -> Actor {
    Actor::Agent("agent".into())
}

fn app(db: &std::path::Path) -> App {
    world::app_with(
        Store::open(db).unwrap(),
        POLICY,
        Arc::new(jiff::Timestamp::now),
        Path::new("."),
    )
}

fn add(app: &App, args: Value) -> Result<VersionOutput, AppError> {
    let mut req = json!({"key": "support-prompt", "reason": "new wording"});
    req.as_object_mut()
        .unwrap()
        .extend(args.as_object().unwrap().clone());
    app.add_version(&agent(), &serde_json::from_value(req).unwrap())
}

fn serve(app: &App) -> Value {
    let req: EvaluateFlag = serde_json::from_value(
        json!({"key": "support-prompt", "environment": "development", "context": {"targetingKey": "u1"}}),
    )
    .unwrap();
    app.evaluate_flag(&req).unwrap().value.unwrap()
}

#[test]
fn versions_are_new_variants_never_edited_and_rollback_returns_to_the_last_known_good() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("flagwarden.db");
    let app = app(&db);

    let v1 = add(&app, json!({"content": "You are a careful support agent.", "model_id": "model-a", "parameters": {"temperature": 0.2}})).unwrap();
    assert_eq!(v1.variant, "v1");
    assert_eq!(v1.flag.off_variant, "v1");
    assert_eq!(
        v1.flag.change_type,
        flagwarden::domain::flag::ChangeType::Prompt
    );
    let served = serve(&app);
    assert_eq!(served["version"], "v1");
    assert_eq!(served["content"], "You are a careful support agent.");
    assert_eq!(served["model_id"], "model-a");
    assert_eq!(served["parameters"], json!({"temperature": 0.2}));
    let v1_value = v1.flag.variants["v1"].clone();

    // The same version again is refused, naming the existing variant; nothing is added.
    let err = add(&app, json!({"content": "You are a careful support agent.", "model_id": "model-a", "parameters": {"temperature": 0.2}})).unwrap_err();
    assert!(err.to_string().contains("version v1 already"), "{err}");

    // A new version is a new variant; nobody gets it yet.
    let v2 = add(&app, json!({"content": "You are a concise support agent.", "model_id": "model-a", "parameters": {"temperature": 0.2}})).unwrap();
    assert_eq!(v2.variant, "v2");
    assert_eq!(v2.flag.variants["v1"], v1_value, "v1 is never edited");
    assert_eq!(serve(&app)["version"], "v1");

    // Canary v2 at 100 % of the first step's arm, then roll back: a pointer flip to v1.
    let start: StartCanary = serde_json::from_value(json!({
        "key": "support-prompt", "environment": "development", "candidate_variant": "v2",
        "steps": [100], "reason": "try the concise prompt"
    }))
    .unwrap();
    app.start_canary(&agent(), &start).unwrap();
    assert_eq!(serve(&app)["version"], "v2");
    let rb: RollbackFlag = serde_json::from_value(json!({
        "key": "support-prompt", "environment": "development", "reason": "answers got worse"
    }))
    .unwrap();
    app.rollback(&agent(), &rb).unwrap();
    assert_eq!(
        serve(&app)["version"],
        "v1",
        "rolled back to the last-known-good version"
    );

    // get_flag shows the history, oldest first, with who added each.
    let flag = app.get_flag("support-prompt").unwrap();
    let history: Vec<_> = flag
        .versions
        .iter()
        .map(|v| (v.variant.as_str(), v.seq, v.created_by.as_str()))
        .collect();
    assert_eq!(history, [("v1", 1, "agent"), ("v2", 2, "agent")]);
    assert_ne!(
        flag.versions[0].content_sha256,
        flag.versions[1].content_sha256
    );

    // The store itself refuses to edit or delete a version record.
    drop(app);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let err = conn
        .execute(
            "UPDATE flag_versions SET content_sha256 = 'x' WHERE variant = 'v1'",
            [],
        )
        .unwrap_err();
    assert!(err.to_string().contains("immutable"), "{err}");
    assert!(conn.execute("DELETE FROM flag_versions", []).is_err());
}

#[test]
fn model_versions_and_bad_input_name_the_field_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir.path().join("flagwarden.db"));
    let m1 = app
        .add_version(
            &agent(),
            &serde_json::from_value(json!({"key": "planner-model", "change_type": "model", "model_id": "model-a", "parameters": {"max_tokens": 500}, "reason": "baseline"})).unwrap(),
        )
        .unwrap();
    assert_eq!(
        m1.flag.change_type,
        flagwarden::domain::flag::ChangeType::Model
    );
    let field = |args: Value| match add(&app, args).unwrap_err() {
        AppError::Invalid { field, .. } => field,
        e => panic!("expected an invalid-field error, got {e}"),
    };
    assert_eq!(
        field(json!({"content_sha256": "not-hex"})),
        "content_sha256"
    );
    assert_eq!(
        field(json!({"model_id": "model-a"})),
        "content",
        "a prompt needs its text or hash"
    );
    assert_eq!(field(json!({"content": "   "})), "content");
    assert_eq!(
        field(json!({"content": "x", "parameters": {"blob": "y".repeat(5000)}})),
        "parameters"
    );
    // A code flag holds plain variants, not versions.
    let create: CreateFlag = serde_json::from_value(
        json!({"key": "checkout", "description": "d", "change_type": "code", "reason": "r"}),
    )
    .unwrap();
    app.create_flag(&agent(), &create).unwrap();
    let err = app
        .add_version(
            &agent(),
            &serde_json::from_value(json!({"key": "checkout", "content": "x", "reason": "r"}))
                .unwrap(),
        )
        .unwrap_err();
    assert!(
        matches!(&err, AppError::Invalid { field, .. } if field == "key"),
        "{err}"
    );
    // None of the refusals created the prompt flag or touched the model flag.
    assert!(app.get_flag("support-prompt").is_err());
    let model = app.get_flag("planner-model").unwrap();
    assert_eq!(model.version, 1);
    assert_eq!(model.versions.len(), 1);
}
