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

use serde_json::Value;

use super::arms;
use super::logic::Logic;
use crate::domain::eval::LiveRollout;
use crate::domain::rules::{ConditionSpec, Op, Rule, Serve};

/// The condition part of one rule.
pub(super) fn rule_condition(rule: &Rule) -> Logic {
    all_of(rule.conditions())
}

/// Conditions that must all match (a rule's, or a segment step's audience); none matches all.
pub(super) fn all_of(conditions: &[ConditionSpec]) -> Logic {
    let mut all: Vec<Logic> = conditions.iter().map(condition).collect();
    match all.len() {
        0 => Logic::lit(true),
        1 => all.remove(0),
        _ => Logic::op("and", all),
    }
}

/// What a matching rule serves: a variant name, or the split as `fractional`.
pub(super) fn rule_serve(salt: &str, rule: &Rule) -> Logic {
    match rule.serve() {
        Serve::Variant(v) => Logic::lit(v.as_str()),
        Serve::Split(split) => arms::split(salt, split),
    }
}

/// The targeting of one environment: the rules in order (`conditions[i]` already written, possibly
/// as `$ref`s), then the rollout, then `null`.
pub(super) fn chain(
    salt: &str,
    rules: &[Rule],
    conditions: Vec<Logic>,
    rollout: Option<&LiveRollout>,
) -> Logic {
    // A segment step's arms exist only inside its audience: everyone else falls through to the
    // last-known-good, as in `eval`.
    let last = rollout.map_or(Logic::lit(Value::Null), |r| match &r.audience {
        Some(audience) => Logic::op(
            "if",
            vec![
                all_of(audience),
                arms::rollout(salt, r),
                Logic::lit(Value::Null),
            ],
        ),
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
    Logic::op("if", args)
}

/// True only when the attribute is present and not null.
fn present(attribute: &str) -> Logic {
    Logic::op("!=", vec![Logic::var(attribute), Logic::lit(Value::Null)])
}

fn any(mut tests: Vec<Logic>) -> Logic {
    match tests.len() {
        0 => Logic::lit(false),
        1 => tests.remove(0),
        _ => Logic::op("or", tests),
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

fn condition(c: &ConditionSpec) -> Logic {
    let a = c.attribute.as_str();
    let first = c.values.first().cloned().unwrap_or(Value::Null);
    let var = || Logic::var(a);
    let guarded = |test: Logic| Logic::op("and", vec![present(a), test]);
    let compare = |name| guarded(Logic::op(name, vec![var(), Logic::lit(first.clone())]));
    let one_of = || Logic::op("in", vec![var(), Logic::lit(c.values.clone())]);
    match c.op {
        Op::Equals => Logic::op("===", vec![var(), Logic::lit(first.clone())]),
        Op::NotEquals => compare("!=="),
        Op::In => one_of(),
        Op::NotIn => guarded(Logic::Unary("!", Box::new(one_of()))),
        Op::StartsWith => any(strings(c)
            .map(|p| Logic::op("starts_with", vec![var(), Logic::lit(p)]))
            .collect()),
        Op::EndsWith => any(strings(c)
            .map(|p| Logic::op("ends_with", vec![var(), Logic::lit(p)]))
            .collect()),
        // JSONLogic `in` with a string haystack is a substring test.
        Op::Contains => guarded(any(strings(c)
            .map(|p| Logic::op("in", vec![Logic::lit(p), var()]))
            .collect())),
        Op::Gt => compare(">"),
        Op::Gte => compare(">="),
        Op::Lt => compare("<"),
        Op::Lte => compare("<="),
        Op::SemverEq | Op::SemverGt | Op::SemverGte | Op::SemverLt | Op::SemverLte => {
            let semver_op = match c.op {
                Op::SemverEq => "=",
                Op::SemverGt => ">",
                Op::SemverGte => ">=",
                Op::SemverLt => "<",
                _ => "<=",
            };
            match version(c) {
                Some(v) => guarded(Logic::op(
                    "sem_ver",
                    vec![var(), Logic::lit(semver_op), Logic::lit(v)],
                )),
                // Validated rules always carry a version; anything else never matches, as there.
                None => Logic::lit(false),
            }
        }
    }
}
