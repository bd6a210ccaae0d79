//! Rules and their conditions as JSONLogic with flagd's operators, meaning what `eval::condition`
//! means. Two of its choices need a word:
//!
//! - A missing attribute matches no condition, not even a negated one or `lt 3` (in JSONLogic
//!   `null < 3` holds): such conditions are guarded by `{"!=": [attr, null]}`, which is false for a
//!   missing or null attribute in every engine.
//! - Equality is strict (`===`, `!==`), as flagwarden never equates "1" with 1.
//!
//! A rule is `{"and": [...]}` of its conditions (`true` when it has none); the rules form one
//! `if` chain whose last branch is the running rollout, or `null` (the default variant, reason
//! DEFAULT, as flagwarden answers when no rule matched).

use serde_json::{Value, json};

use super::arms;
use crate::domain::eval::LiveRollout;
use crate::domain::rules::{ConditionSpec, Op, Rule, Serve};

/// The condition part of one rule.
pub(super) fn rule_condition(rule: &Rule) -> Value {
    all_of(rule.conditions())
}

/// Conditions that must all match (a rule's, or a segment step's audience); none matches all.
pub(super) fn all_of(conditions: &[ConditionSpec]) -> Value {
    let mut all: Vec<Value> = conditions.iter().map(condition).collect();
    match all.len() {
        0 => Value::Bool(true),
        1 => all.remove(0),
        _ => json!({ "and": all }),
    }
}

/// What a matching rule serves: a variant name, or the split as `fractional`.
pub(super) fn rule_serve(salt: &str, rule: &Rule) -> Value {
    match rule.serve() {
        Serve::Variant(v) => Value::String(v.clone()),
        Serve::Split(split) => arms::split(salt, split),
    }
}

/// The targeting of one environment: the rules in order (`conditions[i]` already written, possibly
/// as `$ref`s), then the rollout, then `null`.
pub(super) fn chain(
    salt: &str,
    rules: &[Rule],
    conditions: Vec<Value>,
    rollout: Option<&LiveRollout>,
) -> Value {
    // A segment step's arms exist only inside its audience: everyone else falls through to the
    // last-known-good, as in `eval`.
    let last = rollout.map_or(Value::Null, |r| match &r.audience {
        Some(audience) => json!({"if": [all_of(audience), arms::rollout(salt, r), null]}),
        None => arms::rollout(salt, r),
    });
    if rules.is_empty() {
        return last;
    }
    let mut args = Vec::with_capacity(rules.len() * 2 + 1);
    for (rule, cond) in rules.iter().zip(conditions) {
        args.push(cond);
        args.push(rule_serve(salt, rule));
    }
    args.push(last);
    json!({ "if": args })
}

fn var(attribute: &str) -> Value {
    json!({ "var": attribute })
}

/// True only when the attribute is present and not null.
fn present(attribute: &str) -> Value {
    json!({"!=": [var(attribute), null]})
}

fn any(mut tests: Vec<Value>) -> Value {
    match tests.len() {
        0 => Value::Bool(false),
        1 => tests.remove(0),
        _ => json!({ "or": tests }),
    }
}

fn strings(c: &ConditionSpec) -> impl Iterator<Item = &str> {
    c.values.iter().filter_map(Value::as_str)
}

/// A semantic version as flagd's schema writes it (no `v`, no spaces), as `eval::condition` reads it.
fn version(c: &ConditionSpec) -> Option<String> {
    let s = c.values.first()?.as_str()?;
    semver::Version::parse(s.trim().trim_start_matches('v'))
        .ok()
        .map(|v| v.to_string())
}

fn condition(c: &ConditionSpec) -> Value {
    let a = c.attribute.as_str();
    let first = c.values.first().cloned().unwrap_or(Value::Null);
    let guarded = |test: Value| json!({"and": [present(a), test]});
    match c.op {
        Op::Equals => json!({"===": [var(a), first]}),
        Op::NotEquals => guarded(json!({"!==": [var(a), first]})),
        Op::In => json!({"in": [var(a), c.values]}),
        Op::NotIn => guarded(json!({"!": {"in": [var(a), c.values]}})),
        Op::StartsWith => any(strings(c)
            .map(|p| json!({"starts_with": [var(a), p]}))
            .collect()),
        Op::EndsWith => any(strings(c)
            .map(|p| json!({"ends_with": [var(a), p]}))
            .collect()),
        // JSONLogic `in` with a string haystack is a substring test.
        Op::Contains => guarded(any(strings(c)
            .map(|p| json!({"in": [p, var(a)]}))
            .collect())),
        Op::Gt => guarded(json!({">": [var(a), first]})),
        Op::Gte => guarded(json!({">=": [var(a), first]})),
        Op::Lt => guarded(json!({"<": [var(a), first]})),
        Op::Lte => guarded(json!({"<=": [var(a), first]})),
        Op::SemverEq | Op::SemverGt | Op::SemverGte | Op::SemverLt | Op::SemverLte => {
            let op = match c.op {
                Op::SemverEq => "=",
                Op::SemverGt => ">",
                Op::SemverGte => ">=",
                Op::SemverLt => "<",
                _ => "<=",
            };
            match version(c) {
                Some(v) => guarded(json!({"sem_ver": [var(a), op, v]})),
                // Validated rules always carry a version; anything else never matches, as there.
                None => Value::Bool(false),
            }
        }
    }
}
