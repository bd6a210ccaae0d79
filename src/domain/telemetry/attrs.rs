//! Reading OTLP attributes by name. The feature-flag conventions renamed several attributes
//! (`feature_flag.variant` became `feature_flag.result.variant`, and so on) and hooks in the wild
//! still send the old names, so every read takes the current name first, then the deprecated ones.

use std::borrow::Cow;

use super::wire::{KeyValue, Value, text as utf8};

/// The value of the first of `names` present in `attrs`.
pub fn find<'a>(attrs: &'a [KeyValue], names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|n| {
        attrs
            .iter()
            .find(|kv| kv.key == n.as_bytes())
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.as_ref())
    })
}

/// A string attribute; numbers and booleans are read as their text (a targeting key may be sent
/// as an integer), anything else is absent. A string is borrowed from the export, not copied.
pub fn text<'a>(attrs: &'a [KeyValue], names: &[&str]) -> Option<Cow<'a, str>> {
    match find(attrs, names)? {
        Value::StringValue(s) => utf8(s).map(Cow::Borrowed),
        Value::IntValue(i) => Some(Cow::Owned(i.to_string())),
        Value::BoolValue(b) => Some(Cow::Owned(b.to_string())),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

/// An integer attribute (an HTTP status code), also when sent as a string or a whole double.
pub fn int(attrs: &[KeyValue], names: &[&str]) -> Option<i64> {
    match find(attrs, names)? {
        Value::IntValue(i) => Some(*i),
        Value::StringValue(s) => utf8(s)?.trim().parse().ok(),
        Value::DoubleValue(d) if d.fract() == 0.0 && d.is_finite() => Some(*d as i64),
        _ => None,
    }
}

/// A number attribute (a score).
pub fn number(attrs: &[KeyValue], names: &[&str]) -> Option<f64> {
    match find(attrs, names)? {
        Value::DoubleValue(d) => Some(*d),
        Value::IntValue(i) => Some(*i as f64),
        Value::StringValue(s) => utf8(s)?.trim().parse().ok(),
        _ => None,
    }
    .filter(|d: &f64| d.is_finite())
}

/// A yes/no attribute: a boolean, 0/1, or the strings "true"/"false" (SDKs that only carry
/// strings); anything else is absent rather than guessed.
pub fn flag(attrs: &[KeyValue], names: &[&str]) -> Option<bool> {
    match find(attrs, names)? {
        Value::BoolValue(b) => Some(*b),
        Value::IntValue(0) => Some(false),
        Value::IntValue(1) => Some(true),
        Value::StringValue(s) if s.eq_ignore_ascii_case(b"true") => Some(true),
        Value::StringValue(s) if s.eq_ignore_ascii_case(b"false") => Some(false),
        _ => None,
    }
}
