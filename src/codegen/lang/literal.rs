//! Values as literals of each language: strings quoted by its escapes, booleans, floats that stay
//! floats, and JSON objects and arrays in each language's own constructors, for the guard's fallback
//! and candidate and for `cleanup` to recognise the candidate a guard compares to.

use serde_json::Value;

use crate::codegen::{Compare, Language};

/// A string literal: Rust's escapes differ from JSON's, which the six others accept as they are.
pub(super) fn quote(language: Language, s: &str) -> String {
    match language {
        Language::Rust => format!("{s:?}"),
        _ => Value::from(s).to_string(),
    }
}

/// A float literal; Debug keeps the `.0` of whole numbers, so `5.0` stays a float everywhere.
fn float(f: f64) -> String {
    format!("{f:?}")
}

/// (fallback, candidate) as literals of `language`.
pub(super) fn literals(language: Language, compare: &Compare) -> (String, String) {
    let boolean = |b: bool| match (language, b) {
        (Language::Python, true) => "True".to_owned(),
        (Language::Python, false) => "False".to_owned(),
        _ => b.to_string(),
    };
    match *compare {
        Compare::Bool {
            fallback,
            candidate,
        } => (boolean(fallback), boolean(candidate)),
        Compare::Str {
            fallback,
            candidate,
        } => (quote(language, fallback), quote(language, candidate)),
        Compare::Int {
            fallback,
            candidate,
        } => (fallback.to_string(), candidate.to_string()),
        Compare::Float {
            fallback,
            candidate,
        } => (float(fallback), float(candidate)),
        Compare::Object {
            fallback,
            candidate,
        } => (literal(language, fallback), literal(language, candidate)),
    }
}

/// One flag value as the guard writes it, for `cleanup` to recognise the candidate it compares to.
pub(in crate::codegen) fn value_literal(language: Language, v: &Value) -> String {
    match v {
        Value::Bool(b) => {
            literals(
                language,
                &Compare::Bool {
                    fallback: *b,
                    candidate: *b,
                },
            )
            .0
        }
        Value::String(s) => quote(language, s),
        Value::Number(n) => match n.as_i64().filter(|i| i32::try_from(*i).is_ok()) {
            Some(i) => i.to_string(),
            None => float(n.as_f64().unwrap_or_default()),
        },
        other => literal(language, other),
    }
}

/// Number literal inside structured values: integers that fit 32 bits stay integers, others become
/// floats, as Java and C# store bigger JSON integers anyway.
fn number(n: &serde_json::Number) -> String {
    match n.as_i64().filter(|i| i32::try_from(*i).is_ok()) {
        Some(i) => i.to_string(),
        None => float(n.as_f64().unwrap_or_default()),
    }
}

/// A JSON value as a literal of `language`, for object flags.
fn literal(language: Language, v: &Value) -> String {
    use Language::*;
    // Rust's JSON conversion refuses nulls and so do Java's Map.of and List.of (its mapToStructure
    // drops null fields anyway), so those two leave nulls out.
    let keep = |x: &&Value| !(x.is_null() && matches!(language, Rust | Java));
    let items = |a: &Vec<Value>| -> Vec<String> {
        a.iter()
            .filter(keep)
            .map(|x| literal(language, x))
            .collect()
    };
    let fields = |f: &dyn Fn(String, String) -> String, separator: &str| match v {
        Value::Object(m) => {
            let kept = m.iter().filter(|(_, x)| keep(x));
            let each = kept.map(|(k, x)| f(quote(language, k), literal(language, x)));
            each.collect::<Vec<_>>().join(separator)
        }
        _ => String::new(),
    };
    match (language, v) {
        (TypeScript | JavaScript, _) => v.to_string(),
        // Go compares decoded JSON, so its literal is the JSON text, raw when it can be.
        (Go, _) if !v.to_string().contains('`') => format!("`{v}`"),
        (Go, _) => quote(Go, &v.to_string()),
        (Rust | Python, Value::Array(a)) => format!("[{}]", items(a).join(", ")),
        (Rust | Python, Value::Object(_)) => {
            format!("{{{}}}", fields(&|k, x| format!("{k}: {x}"), ", "))
        }
        (Rust, Value::String(s)) => quote(Rust, s),
        // An unsuffixed integer in json! is an i32, so bigger ones need their type.
        (Rust, Value::Number(n)) if n.is_i64() && number(n).contains('.') => format!("{n}i64"),
        (Rust, Value::Number(n)) if n.is_u64() && !n.is_i64() => format!("{n}u64"),
        (Python, Value::Null) => "None".to_owned(),
        (Python, Value::Bool(b)) => if *b { "True" } else { "False" }.to_owned(),
        (Java, Value::Array(a)) => format!("List.of({})", items(a).join(", ")),
        (Java, Value::Object(m)) if m.len() <= 10 => {
            format!("Map.of({})", fields(&|k, x| format!("{k}, {x}"), ", "))
        }
        (Java, Value::Object(_)) => format!(
            "Map.ofEntries({})",
            fields(&|k, x| format!("Map.entry({k}, {x})"), ", ")
        ),
        (Java, Value::Number(n)) => number(n),
        (CSharp, Value::Null) => "new Value()".to_owned(),
        (CSharp, Value::Number(n)) => format!("new Value({})", number(n)),
        (CSharp, Value::Array(a)) => {
            format!("new Value(new List<Value> {{ {} }})", items(a).join(", "))
        }
        (CSharp, Value::Object(_)) => {
            let sets = fields(&|k, x| format!(".Set({k}, {x})"), "");
            format!("new Value(Structure.Builder(){sets}.Build())")
        }
        (CSharp, other) => format!("new Value({other})"),
        (_, other) => other.to_string(),
    }
}
