//! What a bad argument reads like: (arguments, the exact message) per tool input type, so a change in
//! wording is a visible diff here rather than a surprise to a model.

use super::*;
use crate::app::types::*;
use serde_json::json;

fn check<P: DeserializeOwned + JsonSchema + std::fmt::Debug + 'static>(args: Value, expect: &str) {
    let Value::Object(args) = args else {
        panic!("arguments are an object")
    };
    match parse::<P>(args) {
        Ok(p) => panic!("accepted {p:?}, expected {expect:?}"),
        Err(got) => assert_eq!(got, expect),
    }
}

fn rules(rules: Value) -> Value {
    json!({"key": "k", "environment": "e", "reason": "r", "rules": rules})
}

fn signals(extra: Value) -> Value {
    let mut args = json!({"key": "k", "environment": "e", "arm": "canary"});
    args.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    args
}

#[test]
fn a_wrong_type_at_depth_names_its_path_in_json_words() {
    let t = check::<SetTargeting>;
    t(
        rules(json!([{"serve": "on"}])),
        r#"rules[0].serve: invalid type: string "on", expected an object such as {"variant": "on"}"#,
    );
    t(
        rules(json!([{"serve": {"variant": 1}}])),
        "rules[0].serve.variant: invalid type: integer `1`, expected a string",
    );
    t(
        rules(json!([{"serve": {"split": [{"variant": "on", "percent": "50"}]}}])),
        r#"rules[0].serve.split[0].percent: invalid type: string "50", expected a number"#,
    );
    t(
        rules(json!([{"serve": {"split": {"on": 50}}}])),
        "rules[0].serve.split: invalid type: object, expected an array",
    );
    t(
        rules(
            json!([{"serve": {"variant": "on"}}, {"conditions": [{"attribute": "a", "op": "in", "values": ["x"]}, {"attribute": "a", "op": "in", "values": "x"}], "serve": {"variant": "on"}}]),
        ),
        r#"rules[1].conditions[1].values: invalid type: string "x", expected an array"#,
    );
    t(
        rules(json!("all")),
        r#"rules: invalid type: string "all", expected an array"#,
    );
    check::<RecordSignals>(
        signals(json!({"eval_pairs": [{"candidate": 1, "baseline": "x"}]})),
        r#"eval_pairs[0].baseline: invalid type: string "x", expected a number"#,
    );
    check::<StartCanary>(
        json!({"key": "k", "environment": "e", "candidate_variant": "on", "reason": "r", "steps": [5, true]}),
        r#"steps[1]: invalid type: boolean `true`, expected a percentage such as 5 or a segment name such as "internal""#,
    );
    check::<CreateFlag>(
        json!({"key": "k", "description": "d", "change_type": "code", "reason": "r", "variants": ["a"]}),
        "variants: invalid type: array, expected an object",
    );
    check::<AuditQuery>(
        json!({"limit": "many"}),
        r#"limit: invalid type: string "many", expected a non-negative integer"#,
    );
}

#[test]
fn a_flattened_field_is_named_from_the_schema() {
    // `reason`, `dry_run` (Meta) and the counts (ArmCounts) are flattened: serde gives no path.
    let t = check::<SetTargeting>;
    t(
        json!({"key": "k", "environment": "e", "reason": 5, "rules": []}),
        "reason: invalid type: integer `5`, expected a string",
    );
    t(
        json!({"key": "k", "environment": "e", "reason": "r", "rules": [], "dry_run": "yes"}),
        r#"dry_run: invalid type: string "yes", expected a boolean"#,
    );
    check::<RecordSignals>(
        signals(json!({"requests": -5})),
        "requests: invalid value: integer `-5`, expected a non-negative integer",
    );
    check::<RecordSignals>(
        signals(json!({"errors": "10"})),
        r#"errors: invalid type: string "10", expected a non-negative integer"#,
    );
    // Two flattened fields wrong at once: naming either could be the wrong one, so neither is named.
    t(
        json!({"key": "k", "environment": "e", "reason": 5, "rules": [], "dry_run": 1}),
        "invalid type: integer `5`, expected a string",
    );
}

#[test]
fn missing_and_unknown_fields_name_where_they_are() {
    let t = check::<SetTargeting>;
    t(rules(json!([{}])), "rules[0]: missing field `serve`");
    t(
        rules(
            json!([{"conditions": [{"attribute": "a", "values": ["x"]}], "serve": {"variant": "on"}}]),
        ),
        "rules[0].conditions[0]: missing field `op`",
    );
    t(
        rules(
            json!([{"conditions": [{"attribute": "a", "op": "in", "values": ["x"], "extra": 1}], "serve": {"variant": "on"}}]),
        ),
        "rules[0].conditions[0].extra: unknown field `extra`, expected one of `attribute`, `op`, `values`, `numbers`",
    );
    t(
        rules(
            json!([{"conditions": [{"attribute": "a", "op": "like", "values": ["x"]}], "serve": {"variant": "on"}}]),
        ),
        "rules[0].conditions[0].op: unknown variant `like`, expected one of `equals`, `not_equals`, `in`, `not_in`, `starts_with`, `ends_with`, `contains`, `gt`, `gte`, `lt`, `lte`, `semver_eq`, `semver_gt`, `semver_gte`, `semver_lt`, `semver_lte`",
    );
    check::<RecordSignals>(
        signals(json!({"eval_pairs": [{"candidate": 1}]})),
        "eval_pairs[0]: missing field `baseline`",
    );
    // At the top there is no path; serde's message names the field.
    t(
        json!({"key": "k", "environment": "e", "rules": []}),
        "missing field `reason`",
    );
    t(
        json!({"key": "k", "environment": "e", "reason": "r", "rules": [], "colour": 1}),
        "unknown field `colour`",
    );
}

#[test]
fn an_enum_given_a_non_string_is_asked_for_a_string() {
    check::<RecordSignals>(
        json!({"key": "k", "environment": "e", "arm": 1}),
        "arm: invalid type: integer `1`, expected a string",
    );
    check::<RecordSignals>(
        json!({"key": "k", "environment": "e", "arm": null}),
        "arm: invalid type: null, expected a string",
    );
}

#[test]
fn the_schema_is_the_inner_types() {
    assert_eq!(
        schema_for_type::<Parameters<SetTargeting>>(),
        schema_for_type::<SetTargeting>()
    );
}

#[test]
fn a_nested_object_of_the_wrong_type_gets_an_example_that_would_do() {
    let t = check::<SetTargeting>;
    t(
        rules(json!(["everyone"])),
        r#"rules[0]: invalid type: string "everyone", expected an object such as {"conditions": [], "serve": {"variant": "on"}}"#,
    );
    t(
        rules(json!([{"conditions": ["plan=pro"], "serve": {"variant": "on"}}])),
        r#"rules[0].conditions[0]: invalid type: string "plan=pro", expected an object such as {"attribute": "plan", "op": "equals", "values": ["pro"]}"#,
    );
    t(
        rules(json!([{"serve": {"split": [50]}}])),
        r#"rules[0].serve.split[0]: invalid type: integer `50`, expected an object such as {"variant": "on", "percent": 50}"#,
    );
    check::<RecordSignals>(
        signals(json!({"eval_pairs": [0.9]})),
        r#"eval_pairs[0]: invalid type: floating point `0.9`, expected an object such as {"candidate": 1, "baseline": 0}"#,
    );
}
