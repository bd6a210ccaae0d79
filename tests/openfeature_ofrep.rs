//! OpenFeature's own Rust SDK (`open-feature`) with its OFREP provider (`open-feature-ofrep`) against a
//! real `flagwarden serve`: boolean, string, integer, float and object flags, a targeting rule and a
//! percentage rollout, exactly as an application would read them.

mod common;

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use common::{Project, TEST_POLICY, connect_http};
use open_feature::{EvaluationContext, EvaluationErrorCode, OpenFeature, Value};
use open_feature_ofrep::{OfrepOptions, OfrepProvider};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openfeature_rust_sdk_reads_flagwarden() {
    let p = Project::new(TEST_POLICY);
    let s = p.serve();
    let agent = connect_http(&s.url, "of-agent", None).await;
    let env = "development";
    for (key, variants, off, default) in [
        (
            "beta-banner",
            json!({"on": true, "off": false}),
            "off",
            "on",
        ),
        (
            "headline",
            json!({"plain": "Welcome", "bold": "WELCOME"}),
            "plain",
            "bold",
        ),
        ("max-items", json!({"few": 10, "many": 50}), "few", "many"),
        (
            "discount",
            json!({"none": 0.0, "some": 0.15}),
            "none",
            "some",
        ),
        (
            "theme",
            json!({"old": {"color": "grey", "radius": 0}, "new": {"color": "teal", "radius": 8}}),
            "old",
            "new",
        ),
    ] {
        agent
            .call(
                "create_flag",
                json!({"key": key, "description": "d", "change_type": "config", "reason": "t",
            "variants": variants, "off_variant": off, "default_variant": default}),
            )
            .await
            .ok();
    }
    agent.call("set_targeting", json!({"key": "beta-banner", "environment": env, "reason": "internal; then 30%",
        "rules": [
            {"conditions": [{"attribute": "email", "op": "ends_with", "values": ["@corp.com"]}], "serve": {"variant": "on"}},
            {"conditions": [], "serve": {"split": [{"variant": "on", "percent": 30}, {"variant": "off", "percent": 70}]}}
        ]})).await.ok();
    for key in ["headline", "max-items", "discount", "theme"] {
        agent
            .call(
                "set_targeting",
                json!({"key": key, "environment": env, "rules": [], "reason": "on"}),
            )
            .await
            .ok();
    }

    let mut headers = HeaderMap::new();
    headers.insert(
        "X-Flagwarden-Environment",
        HeaderValue::from_static("development"),
    );
    let provider = OfrepProvider::new(OfrepOptions {
        base_url: s.url.clone(),
        headers,
        connect_timeout: Duration::from_secs(5),
        ..Default::default()
    })
    .await
    .expect("provider");
    let mut api = OpenFeature::singleton_mut().await;
    api.set_provider(provider).await;
    let client = api.create_client();
    drop(api);

    let internal = EvaluationContext::default()
        .with_targeting_key("u-1")
        .with_custom_field("email", "ana@corp.com");
    let d = client
        .get_bool_details("beta-banner", Some(&internal), None)
        .await
        .unwrap();
    assert!(d.value);
    assert_eq!(d.variant.as_deref(), Some("on"));
    // open-feature-ofrep 0.1.2 reports every success as STATIC whatever the server says (it ignores
    // the response's reason), so the variant is what tells a rule from the split here.

    let mut on = 0;
    for i in 0..500 {
        let ctx = EvaluationContext::default().with_targeting_key(format!("visitor-{i}"));
        let d = client
            .get_bool_details("beta-banner", Some(&ctx), None)
            .await
            .unwrap();
        let again = client
            .get_bool_value("beta-banner", Some(&ctx), None)
            .await
            .unwrap();
        assert_eq!(d.value, again, "sticky for visitor-{i}");
        on += d.value as u32;
    }
    assert!((110..=190).contains(&on), "{on} of 500 on a 30% rollout");

    let anyone = EvaluationContext::default().with_targeting_key("u-2");
    assert_eq!(
        client
            .get_string_value("headline", Some(&anyone), None)
            .await
            .unwrap(),
        "WELCOME"
    );
    assert_eq!(
        client
            .get_int_value("max-items", Some(&anyone), None)
            .await
            .unwrap(),
        50
    );
    assert_eq!(
        client
            .get_float_value("discount", Some(&anyone), None)
            .await
            .unwrap(),
        0.15
    );
    let theme = client
        .get_struct_details::<open_feature::StructValue>("theme", Some(&anyone), None)
        .await
        .unwrap();
    assert_eq!(
        theme.value.fields.get("color"),
        Some(&Value::String("teal".into()))
    );
    assert_eq!(theme.value.fields.get("radius"), Some(&Value::Int(8)));

    let missing = client
        .get_bool_value("no-such-flag", Some(&anyone), None)
        .await
        .unwrap_err();
    assert_eq!(missing.code, EvaluationErrorCode::FlagNotFound);
    // The provider maps a value of the wrong type to PARSE_ERROR; either way the caller's default wins.
    let wrong_type = client
        .get_int_value("headline", Some(&anyone), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            wrong_type.code,
            EvaluationErrorCode::ParseError | EvaluationErrorCode::TypeMismatch
        ),
        "{wrong_type:?}"
    );
    agent.close().await;
}
