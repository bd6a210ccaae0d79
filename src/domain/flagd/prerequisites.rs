//! Prerequisites in a flagd definition. flagd has no prerequisite operator, so a flag B that is on
//! only where flag A serves variant v gets A's answer inlined as its condition:
//! `{"if": [{"===": [A, "v"]}, B's targeting, B's off variant]}`, where A is A's own targeting
//! (with its own prerequisite inlined, and `{"or": [..., A's default]}` for a `null` answer) or the
//! literal variant A serves everyone. A's conditions stay `$ref`s to the shared `$evaluators` and its
//! `fractional` buckets by its own salt, so an engine computes exactly A's answer. Where B's targeting
//! is only the prerequisite, its "met" branch is `null`: B's default, reason DEFAULT, as `evaluate`
//! answers; "unmet" is a literal variant, TARGETING_MATCH in both.

use serde_json::Value;

use super::logic::Logic;
use crate::domain::prerequisite::{MAX_DEPTH, Prerequisite};

/// What the document knows of one flag's answer in the environment.
pub(super) struct Answer<'a> {
    pub key: &'a str,
    pub prerequisite: Option<&'a Prerequisite>,
    pub off: &'a str,
    /// Its targeting without the prerequisite; `None` when its answer is the same for everyone.
    pub chain: Option<&'a Logic>,
    /// What it serves when targeting gives `null`, or everyone when it has none.
    pub default: &'a str,
}

/// The targeting of flag `i`: its chain, wrapped in its prerequisite when it has one.
pub(super) fn targeting(all: &[Answer<'_>], i: usize) -> Option<Logic> {
    // A chain of nothing but `null` (a prerequisite met, nothing else targeted) is no targeting.
    wrapped(all, i, 0).filter(|t| *t != Logic::lit(Value::Null))
}

fn wrapped(all: &[Answer<'_>], i: usize, depth: usize) -> Option<Logic> {
    let a = &all[i];
    let Some(p) = a.prerequisite.filter(|_| a.chain.is_some()) else {
        return a.chain.cloned();
    };
    let met = match all.iter().position(|o| o.key == p.flag) {
        // A chain that deep is never stored; like `evaluate`, count it as unmet.
        Some(j) if depth < MAX_DEPTH => match wrapped(all, j, depth + 1) {
            Some(t) => Logic::op(
                "===",
                vec![
                    Logic::op("or", vec![t, Logic::lit(all[j].default)]),
                    Logic::lit(p.variant.as_str()),
                ],
            ),
            None => Logic::lit(all[j].default == p.variant),
        },
        // Not in this environment's document (archived, unknown): never met.
        _ => Logic::lit(false),
    };
    let chain = a.chain.cloned().expect("checked");
    Some(match met {
        Logic::Literal(Value::Bool(true)) => chain,
        Logic::Literal(Value::Bool(false)) => Logic::lit(a.off),
        met => Logic::op("if", vec![met, chain, Logic::lit(a.off)]),
    })
}
