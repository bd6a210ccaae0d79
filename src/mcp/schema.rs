//! Keeps tools/list small: an agent pays for it in every conversation, so the whole list stays under
//! 16 KiB. Input schemas keep their field docs (the model reads them) but lose `$schema`, number
//! formats and type-level descriptions; output schemas keep the top-level fields (but the echoed
//! `dry_run`) and their JSON types,
//! which is what a client needs to read structured content; nested values and required-ness are left
//! open, so the schema never rejects a valid answer. Every declared schema has a single `type`, so the
//! MCP Inspector's `--strict` portability check passes.

use std::sync::Arc;

use serde_json::{Map, Value, json};

type Obj = Map<String, Value>;

/// Removes keys that cost bytes without telling a model anything, recursively.
fn strip(v: &mut Value, depth: usize) {
    match v {
        Value::Object(m) => {
            // The server refuses unknown fields itself, with a message naming them.
            m.remove("additionalProperties");
            for k in ["$schema", "format", "minimum", "default", "title"] {
                m.remove(k);
            }
            // `items: true` constrains nothing and is not portable; an absent `items` says the same.
            if m.get("items") == Some(&Value::Bool(true)) {
                m.remove("items");
            }
            // A nullable type array: absent already means "none", so the single type is the portable
            // spelling (some clients map schemas onto a one-type dialect).
            if let Some(t) = m.get("type").and_then(single_non_null) {
                m.insert("type".into(), t);
            }
            // Type-level docs in $defs repeat what the field docs say.
            if depth >= 2 && (m.contains_key("properties") || m.contains_key("enum")) {
                m.remove("description");
            }
            for (_, child) in m.iter_mut() {
                strip(child, depth + 1);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| strip(c, depth + 1)),
        _ => {}
    }
}

/// `["T", "null"]` → `"T"`.
fn single_non_null(t: &Value) -> Option<Value> {
    match t.as_array()?.as_slice() {
        [a, n] | [n, a] if n == "null" => Some(a.clone()),
        _ => None,
    }
}

/// Input schemas are also written so that clients which rewrite schemas read the same meaning: Codex
/// fills an array without `items` with strings and an object without `properties` with an empty
/// map, and resolves (older versions: drops) `$ref`s. So every `$ref` is inlined (each definition is
/// used once, so this also saves bytes), every array names its item type (checked by
/// tests/client_schemas.rs) and a free-form object says so with `additionalProperties: true`.
pub fn compact_input(schema: &Obj) -> Arc<Obj> {
    let mut v = Value::Object(schema.clone());
    strip(&mut v, 0);
    let defs = match &mut v {
        Value::Object(m) => m.remove("$defs"),
        _ => None,
    };
    let defs = defs
        .and_then(|d| d.as_object().cloned())
        .unwrap_or_default();
    inline(&mut v, &defs, 0);
    match v {
        Value::Object(m) => Arc::new(m),
        _ => unreachable!("an object stays an object"),
    }
}

/// Replaces each `#/$defs/…` reference by its definition and declares free-form objects as such.
fn inline(v: &mut Value, defs: &Obj, depth: usize) {
    // Tool inputs are not recursive; the bound only keeps a mistaken cycle from hanging the build.
    if depth > 32 {
        return;
    }
    match v {
        Value::Object(m) => {
            if let Some(def) = m
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
                .and_then(|name| defs.get(name))
            {
                let mut def = def.clone();
                m.remove("$ref");
                if let Value::Object(d) = &mut def {
                    // The field's own doc wins over the definition's.
                    for (k, x) in std::mem::take(m) {
                        d.insert(k, x);
                    }
                }
                *v = def;
                return inline(v, defs, depth + 1);
            }
            if m.get("type") == Some(&json!("object")) && !m.contains_key("properties") {
                m.insert("properties".into(), json!({}));
                m.insert("additionalProperties".into(), json!(true));
            }
            for (_, child) in m.iter_mut() {
                inline(child, defs, depth + 1);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| inline(c, defs, depth + 1)),
        _ => {}
    }
}

/// The JSON type(s) a property schema allows, resolving `$ref`s and nullable `anyOf`s; `None` if open.
fn json_type(p: &Value, defs: &Obj) -> Option<Value> {
    if let Some(t) = p.get("type") {
        return Some(t.clone());
    }
    if let Some(r) = p.get("$ref").and_then(Value::as_str) {
        let def = defs.get(r.trim_start_matches("#/$defs/"))?;
        if def.get("oneOf").or(def.get("enum")).is_some() && def.get("type").is_none() {
            return Some(json!("string"));
        }
        return json_type(def, defs);
    }
    if let Some(any) = p.get("anyOf").and_then(Value::as_array) {
        let mut types = Vec::new();
        for alt in any {
            match json_type(alt, defs)? {
                Value::Array(ts) => types.extend(ts),
                t => types.push(t),
            }
        }
        return Some(Value::Array(types));
    }
    None
}

pub fn compact_output(schema: &Obj) -> Arc<Obj> {
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut props = Obj::new();
    if let Some(p) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in p {
            // `dry_run` only echoes the caller's own flag (the summary also starts "dry run").
            if name == "dry_run" {
                continue;
            }
            // Optional answers are left out when absent, never null, so one type describes them.
            // A value of any type (a flag's value) is left out: the schema cannot say more than
            // "anything", which is what an undeclared property already means.
            let t = json_type(prop, &defs).and_then(|t| match t {
                Value::Array(_) => single_non_null(&t),
                t => Some(t),
            });
            if let Some(t) = t {
                props.insert(name.clone(), json!({ "type": t }));
            }
        }
    }
    let mut out = Obj::new();
    out.insert("type".into(), json!("object"));
    out.insert("properties".into(), Value::Object(props));
    Arc::new(out)
}
