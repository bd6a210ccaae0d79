//! Tool and prompt arguments, parsed so that a bad value names where it is and what would do. rmcp's
//! own `Parameters` passes on serde's bare message (`invalid type: string "on", expected struct
//! ServeSpec`); this one, of the same name so `#[tool]` and `#[prompt]` still find it and its schema,
//! says `rules[0].serve: invalid type: string "on", expected an object`, for every tool alike.

use rmcp::ErrorData;
use rmcp::handler::server::common::{FromContextPart, schema_for_type};
use rmcp::handler::server::prompt::PromptContext;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// rmcp's router answers an `invalid_params` error starting with exactly this in-band (`isError`), as
/// a tool result the model reads rather than a protocol error; so every argument error keeps it.
pub(super) const IN_BAND_PREFIX: &str = "failed to deserialize parameters:";

/// A tool's or prompt's arguments, deserialized from the call's JSON object.
pub struct Parameters<P>(pub P);

/// The schema is the inner type's, exactly as rmcp's wrapper gives it, so tools/list does not change.
impl<P: JsonSchema> JsonSchema for Parameters<P> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        P::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        P::json_schema(generator)
    }
}

impl<S, P: DeserializeOwned + JsonSchema + 'static> FromContextPart<ToolCallContext<'_, S>>
    for Parameters<P>
{
    fn from_context_part(context: &mut ToolCallContext<S>) -> Result<Self, ErrorData> {
        let arguments = context.arguments.take().unwrap_or_default();
        parse(arguments)
            .map(Parameters)
            .map_err(|m| ErrorData::invalid_params(format!("{IN_BAND_PREFIX} {m}"), None))
    }
}

/// Prompts have no in-band channel: a bad argument stays a protocol error, now naming its field.
impl<S, P: DeserializeOwned + JsonSchema + 'static> FromContextPart<PromptContext<'_, S>>
    for Parameters<P>
{
    fn from_context_part(context: &mut PromptContext<S>) -> Result<Self, ErrorData> {
        let arguments = context.arguments.take().unwrap_or_default();
        parse(arguments)
            .map(Parameters)
            .map_err(|m| ErrorData::invalid_params(format!("invalid prompt arguments: {m}"), None))
    }
}

/// Deserializes arguments, or names the first bad value's path and what was expected there, in JSON's
/// words: `rules[0].conditions[1].values: invalid type: string "x", expected an array`. A missing or
/// unknown argument at the top has no path of its own; serde's message names it.
fn parse<P: DeserializeOwned + JsonSchema + 'static>(arguments: JsonObject) -> Result<P, String> {
    let value = Value::Object(arguments);
    serde_path_to_error::deserialize(&value).map_err(|e| {
        let message = in_json_words(&e.inner().to_string());
        let path = match e.path().to_string() {
            // serde reads flattened fields (`reason`, the signal counts) from a buffer the path
            // tracker cannot see into, so they fail "at the top"; the schema tells which one it was.
            root if root == "." && is_about_a_value(&message) => value
                .as_object()
                .and_then(|args| misfit(&schema_for_type::<P>(), args)),
            root if root == "." => None,
            path => Some(path),
        };
        match path {
            Some(path) => format!("{path}: {message}"),
            None => message,
        }
    })
}

/// Whether serde's message is about a value (rather than a missing or unknown field, which it names).
fn is_about_a_value(message: &str) -> bool {
    message.starts_with("invalid type: ") || message.starts_with("invalid value: ")
}

/// The one top-level argument whose value the schema rules out, if exactly one is.
fn misfit(schema: &JsonObject, args: &JsonObject) -> Option<String> {
    let properties = schema.get("properties")?.as_object()?;
    let mut misfits = args.iter().filter(|(name, value)| {
        properties
            .get(name.as_str())
            .and_then(Value::as_object)
            .is_some_and(|property| !fits(property, value))
    });
    match (misfits.next(), misfits.next()) {
        (Some((name, _)), None) => Some(name.clone()),
        _ => None,
    }
}

/// A shallow check of a value against a property's `type` and `minimum`: enough to tell which
/// top-level argument serde refused, never used to accept or refuse anything itself.
fn fits(property: &JsonObject, value: &Value) -> bool {
    let kind_fits = |kind: &str| match kind {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => true,
    };
    let type_fits = match property.get("type") {
        Some(Value::String(kind)) => kind_fits(kind),
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).any(kind_fits),
        _ => true,
    };
    let minimum_fits = match (
        property.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        (Some(minimum), Some(v)) => v >= minimum,
        _ => true,
    };
    type_fits && minimum_fits
}

/// serde speaks of Rust types (`u64`, `struct ServeSpec`, `a sequence`); the model writes JSON, so
/// "got X, expected Y" is put in JSON's words. A type that sets `#[serde(expecting = "...")]` already
/// says what it wants in words, and is left as it is.
fn in_json_words(message: &str) -> String {
    let Some((got, expected)) = message.split_once(", expected ") else {
        return message.to_owned();
    };
    let Some((what, got)) = ["invalid type: ", "invalid value: "]
        .iter()
        .find_map(|what| Some((*what, got.strip_prefix(what)?)))
    else {
        return message.to_owned();
    };
    let got = match got {
        "sequence" => "array",
        "map" => "object",
        "unit value" => "null",
        other => other,
    };
    let expected = match expected {
        "f32" | "f64" => "a number",
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer",
        "a sequence" => "an array",
        "a map" => "an object",
        // serde_json's word for an enum; every enum a tool takes is a plain name.
        "string or map" => "a string",
        s if s.starts_with("struct ") => "an object",
        other => other,
    };
    format!("{what}{got}, expected {expected}")
}

#[cfg(test)]
mod tests;
