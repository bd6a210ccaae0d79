//! The tool schemas as OpenAI's Codex CLI (0.169.0) hands them to its model. Codex does not pass an
//! MCP input schema through: codex-rs (`tools/src/mcp_tool.rs`, `tools/src/json_schema.rs`) inserts
//! `properties: {}` at the root when absent, then "sanitizes" every node and deserializes the result
//! into a small schema struct. The facts, re-implemented here (no code copied):
//!
//! - a boolean schema becomes `{"type": "string"}`;
//! - a local `$ref` is replaced by its target (merged with the node's other keys), and a single-branch
//!   `oneOf`/`anyOf`/`allOf` by its branch; `const` becomes a one-value `enum`;
//! - a node without a known `type` gets one: object if it has `properties`/`required`/
//!   `additionalProperties`, array if `items`/`prefixItems`, string if `enum`/`format`, number if a
//!   numeric bound, else **string** (a node with only `anyOf` is left as it is);
//! - an object without `properties` gets `properties: {}`; an array without `items` gets
//!   `items: {"type": "string"}` (how `values: [18]` reached the model as `["18"]`);
//! - only `type`, `description`, `enum`, `items`, `properties`, `required`, `additionalProperties` and
//!   `anyOf` survive the struct; every other keyword (`$defs`, `oneOf`, `minimum`, `format`, ...) is
//!   dropped.
//!
//! The tests show the rewrite is the identity on tools-schema/tools.json (so Codex's model reads what
//! the server declares), that every numeric and semantic-version operand is still typed as such, and,
//! as a control, that the rewrite does change the schema shapes this fixed.

use serde_json::{Map, Value, json};

const KEPT: [&str; 8] = [
    "type",
    "description",
    "enum",
    "items",
    "properties",
    "required",
    "additionalProperties",
    "anyOf",
];
const TYPES: [&str; 7] = [
    "string", "number", "boolean", "integer", "object", "array", "null",
];

fn tools() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tools-schema/tools.json");
    let text = std::fs::read_to_string(path).expect("tools-schema/tools.json");
    serde_json::from_str::<Vec<Value>>(&text).expect("tools.json is a JSON array of tools")
}

/// What Codex's model sees for one MCP tool's input schema.
fn codex_rewrite(input_schema: &Value) -> Value {
    let mut root = input_schema.clone();
    if let Some(m) = root.as_object_mut()
        && m.get("properties").is_none_or(Value::is_null)
    {
        m.insert("properties".into(), json!({}));
    }
    let original = root.clone();
    sanitize(&mut root, &original, &mut Vec::new());
    project(&root)
}

fn sanitize(node: &mut Value, root: &Value, active: &mut Vec<String>) {
    match node {
        Value::Bool(_) => *node = json!({"type": "string"}),
        Value::Array(a) => a.iter_mut().for_each(|n| sanitize(n, root, active)),
        Value::Object(m) => {
            if let Some(ptr) = m
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix('#'))
                .map(str::to_owned)
            {
                if active.contains(&ptr) {
                    *node = json!({"type": "string"});
                    return;
                }
                if let Some(target) = root.pointer(&ptr) {
                    let mut target = target.clone();
                    if let Value::Object(t) = &mut target {
                        for (k, v) in m.iter() {
                            if k != "$ref" {
                                t.entry(k.clone()).or_insert_with(|| v.clone());
                            }
                        }
                    }
                    *node = target;
                    active.push(ptr);
                    sanitize(node, root, active);
                    active.pop();
                    return;
                }
            }
            for combiner in ["oneOf", "anyOf", "allOf"] {
                if let Some([only]) = m.get(combiner).and_then(Value::as_array).map(Vec::as_slice) {
                    let mut only = only.clone();
                    if let Value::Object(o) = &mut only {
                        for (k, v) in m.iter() {
                            if k != combiner {
                                o.entry(k.clone()).or_insert_with(|| v.clone());
                            }
                        }
                    }
                    *node = only;
                    return sanitize(node, root, active);
                }
            }
            if let Some(Value::Object(props)) = m.get_mut("properties") {
                props.values_mut().for_each(|p| sanitize(p, root, active));
            }
            for key in ["items", "prefixItems", "anyOf"] {
                if let Some(v) = m.get_mut(key) {
                    sanitize(v, root, active);
                }
            }
            if let Some(ap) = m.get_mut("additionalProperties")
                && !ap.is_boolean()
            {
                sanitize(ap, root, active);
            }
            if let Some(c) = m.remove("const") {
                m.insert("enum".into(), json!([c]));
            }
            let mut types: Vec<String> = match m.get("type") {
                Some(Value::String(t)) => vec![t.clone()],
                Some(Value::Array(ts)) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                _ => vec![],
            };
            types.retain(|t| TYPES.contains(&t.as_str()));
            if types.is_empty() && m.contains_key("anyOf") {
                return;
            }
            if types.is_empty() {
                let has = |k: &str| m.contains_key(k);
                let t = if has("properties") || has("required") || has("additionalProperties") {
                    "object"
                } else if has("items") || has("prefixItems") {
                    "array"
                } else if has("enum") || has("format") {
                    "string"
                } else if [
                    "minimum",
                    "maximum",
                    "exclusiveMinimum",
                    "exclusiveMaximum",
                    "multipleOf",
                ]
                .iter()
                .any(|k| has(k))
                {
                    "number"
                } else {
                    "string"
                };
                types.push(t.into());
            }
            let t = match types.as_slice() {
                [one] => json!(one),
                many => json!(many),
            };
            m.insert("type".into(), t);
            if types.iter().any(|t| t == "object") && !m.contains_key("properties") {
                m.insert("properties".into(), json!({}));
            }
            if types.iter().any(|t| t == "array") && !m.contains_key("items") {
                m.insert("items".into(), json!({"type": "string"}));
            }
        }
        _ => {}
    }
}

/// Keeps only what Codex's schema struct can hold, recursively.
fn project(node: &Value) -> Value {
    let Some(m) = node.as_object() else {
        return node.clone();
    };
    let mut out = Map::new();
    for (k, v) in m {
        if !KEPT.contains(&k.as_str()) {
            continue;
        }
        let v = match k.as_str() {
            "properties" => Value::Object(
                v.as_object()
                    .map(|p| p.iter().map(|(n, s)| (n.clone(), project(s))).collect())
                    .unwrap_or_default(),
            ),
            "items" | "additionalProperties" => project(v),
            "anyOf" => Value::Array(
                v.as_array()
                    .map(|a| a.iter().map(project).collect())
                    .unwrap_or_default(),
            ),
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

/// Every (path, schema) below `node`, depth first.
fn nodes<'a>(node: &'a Value, path: String, out: &mut Vec<(String, &'a Value)>) {
    out.push((path.clone(), node));
    let Some(m) = node.as_object() else { return };
    if let Some(Value::Object(props)) = m.get("properties") {
        for (n, p) in props {
            nodes(p, format!("{path}.{n}"), out);
        }
    }
    if let Some(items) = m.get("items") {
        nodes(items, format!("{path}[]"), out);
    }
    if let Some(Value::Array(any)) = m.get("anyOf") {
        for (i, a) in any.iter().enumerate() {
            nodes(a, format!("{path}|{i}"), out);
        }
    }
}

#[test]
fn codex_reads_every_input_schema_exactly_as_declared() {
    let mut failures = Vec::new();
    for tool in tools() {
        let name = tool["name"].as_str().unwrap_or("?").to_owned();
        let declared = &tool["inputSchema"];
        let seen = codex_rewrite(declared);
        if &seen != declared {
            failures.push(format!(
                "{name}: Codex rewrites the schema\n  declared: {declared}\n  seen:     {seen}"
            ));
        }
        let mut all = Vec::new();
        nodes(declared, name.clone(), &mut all);
        for (path, n) in all {
            let m = n.as_object().expect("every schema node is an object");
            for k in m.keys() {
                if !KEPT.contains(&k.as_str()) {
                    failures.push(format!("{path}: Codex drops `{k}`"));
                }
            }
            match m.get("type").and_then(Value::as_str) {
                Some("array") if !m.contains_key("items") => {
                    failures.push(format!("{path}: an array without an item type"))
                }
                Some("object") if !m.contains_key("properties") => {
                    failures.push(format!("{path}: an object without properties"))
                }
                None if !m.contains_key("anyOf") => {
                    failures.push(format!("{path}: a schema without a single type"))
                }
                _ => {}
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The condition schema inside `set_targeting`, as Codex's model reads it.
fn codex_condition() -> Value {
    let tool = tools()
        .into_iter()
        .find(|t| t["name"] == "set_targeting")
        .expect("set_targeting is listed");
    let seen = codex_rewrite(&tool["inputSchema"]);
    seen["properties"]["rules"]["items"]["properties"]["conditions"]["items"].clone()
}

#[test]
fn numeric_and_version_operands_reach_codex_typed() {
    let cond = codex_condition();
    let ops: Vec<&str> = cond["properties"]["op"]["enum"]
        .as_array()
        .expect("op is an enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for op in [
        "gt",
        "gte",
        "lt",
        "lte",
        "semver_gt",
        "semver_gte",
        "semver_lt",
        "semver_lte",
    ] {
        assert!(ops.contains(&op), "{op} missing from {ops:?}");
    }
    // gt/gte/lt/lte take `numbers`: an array of numbers, not strings.
    assert_eq!(
        cond["properties"]["numbers"],
        json!({"description": cond["properties"]["numbers"]["description"], "type": "array", "items": {"type": "number"}})
    );
    let numbers_doc = cond["properties"]["numbers"]["description"]
        .as_str()
        .unwrap();
    assert!(numbers_doc.contains("gt/gte/lt/lte"), "{numbers_doc}");
    // Versions are strings in `values`, and `values` admits no number a model could confuse with one.
    let values = &cond["properties"]["values"];
    assert_eq!(values["type"], "array");
    assert_eq!(
        values["items"],
        json!({"anyOf": [{"type": "string"}, {"type": "boolean"}]})
    );
    assert!(values["description"].as_str().unwrap().contains("semver"));
    // Neither is required on its own: the server asks for exactly one of them.
    assert_eq!(cond["required"], json!(["attribute", "op"]));
    // Percentages and every other number in any tool stay numbers too.
    let mut numeric = Vec::new();
    for tool in tools() {
        let seen = codex_rewrite(&tool["inputSchema"]);
        let mut all = Vec::new();
        nodes(&tool["inputSchema"], String::new(), &mut all);
        let mut seen_all = Vec::new();
        nodes(&seen, String::new(), &mut seen_all);
        for ((p, d), (_, s)) in all.iter().zip(&seen_all) {
            if matches!(d["type"].as_str(), Some("number" | "integer")) {
                assert_eq!(d["type"], s["type"], "{}{p}", tool["name"]);
                numeric.push(format!("{}{p}", tool["name"].as_str().unwrap()));
            }
        }
    }
    assert!(
        numeric
            .iter()
            .any(|p| p == "set_targeting.rules[].conditions[].numbers[]"),
        "{numeric:?}"
    );
    assert!(numeric.iter().any(|p| p.ends_with("split[].percent")));
}

/// The control: the rewrite as re-implemented does what the issue saw Codex do to the old shapes.
#[test]
fn the_rewrite_turns_untyped_arrays_into_strings_and_drops_refs() {
    let old = json!({
        "type": "object",
        "properties": {
            "values": {"type": "array"},
            "context": {"type": "object"},
            "op": {"$ref": "#/$defs/Op"},
            "kind": {"oneOf": [{"const": "a"}, {"const": "b"}]}
        },
        "$defs": {"Op": {"type": "string", "enum": ["gt", "lt"]}}
    });
    let seen = codex_rewrite(&old);
    assert_eq!(
        seen["properties"]["values"],
        json!({"type": "array", "items": {"type": "string"}})
    );
    assert_eq!(
        seen["properties"]["context"],
        json!({"type": "object", "properties": {}})
    );
    assert_eq!(
        seen["properties"]["op"],
        json!({"type": "string", "enum": ["gt", "lt"]})
    );
    // A many-branch oneOf is not understood: it falls back to a bare string and loses its values.
    assert_eq!(seen["properties"]["kind"], json!({"type": "string"}));
    assert!(seen.get("$defs").is_none());
}

mod common;

/// End to end: the typed form works, and the old well-typed form (a number in `values`) still does.
#[tokio::test]
async fn numbers_and_versions_target_as_written() {
    let p = common::Project::new(common::TEST_POLICY);
    let agent = p.connect("codex-mcp-client").await;
    agent.create_flag("typed").await;
    let rules = json!([
        {"conditions": [{"attribute": "age", "op": "gte", "numbers": [18]}, {"attribute": "app", "op": "semver_gte", "values": ["2.4.0"]}], "serve": {"variant": "on"}},
        {"conditions": [{"attribute": "score", "op": "lt", "values": [10]}], "serve": {"variant": "on"}}
    ]);
    agent
        .call(
            "set_targeting",
            json!({"key": "typed", "environment": "development", "reason": "r", "rules": rules}),
        )
        .await
        .ok();
    for (context, expect) in [
        (
            json!({"targetingKey": "u", "age": 21, "app": "2.10.0"}),
            "on",
        ),
        (
            json!({"targetingKey": "u", "age": 17, "app": "2.10.0"}),
            "off",
        ),
        (
            json!({"targetingKey": "u", "age": 21, "app": "2.3.9"}),
            "off",
        ),
        (json!({"targetingKey": "u", "score": 3}), "on"),
    ] {
        let got = agent
            .call(
                "evaluate_flag",
                json!({"key": "typed", "environment": "development", "context": context}),
            )
            .await
            .ok();
        assert_eq!(got["variant"], expect, "{context} -> {got}");
    }
    // A numeric comparison written with a string, as Codex's model wrote it, is refused with the fix.
    let err = agent
        .call(
            "set_targeting",
            json!({"key": "typed", "environment": "development", "reason": "r", "rules": [{"conditions": [{"attribute": "age", "op": "gte", "values": ["18"]}], "serve": {"variant": "on"}}]}),
        )
        .await
        .err();
    assert!(
        err.contains(
            "rules[0].conditions[0].values[0]: gte compares numbers: give them in `numbers`"
        ),
        "{err}"
    );
    agent.close().await;
}

/// A refusal's structured content (`{"refused", "kind", "rule", "field"}`) must not fail a client that
/// checks structured content against the output schema (Claude Code does): no output schema requires
/// a field, forbids extra ones, or gives those names another type.
#[test]
fn every_output_schema_admits_a_refusal() {
    for tool in tools() {
        let Some(out) = tool.get("outputSchema") else {
            continue;
        };
        let name = tool["name"].as_str().unwrap();
        assert!(out.get("required").is_none(), "{name} requires fields");
        assert!(
            out.get("additionalProperties") != Some(&json!(false)),
            "{name} forbids extra fields"
        );
        for field in ["refused", "kind", "rule", "field"] {
            if let Some(t) = out["properties"][field]["type"].as_str() {
                assert_eq!(t, "string", "{name}.{field}");
            }
        }
    }
}
