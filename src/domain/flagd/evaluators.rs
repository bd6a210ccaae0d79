//! Conditions shared by several flags, lifted into the document's `$evaluators` and referenced as
//! `{"$ref": name}`, so a shared audience ("beta testers", "internal staff") is written once.
//!
//! Engines substitute references textually, and not safely for every text: the Python core's
//! `re.sub` reads backslashes in the replacement as escapes (and its `json.dumps` writes every
//! non-ASCII character as one), and the JavaScript core's `replaceAll` reads `$` patterns. So a
//! condition is lifted only when its JSON is ASCII without `\` or `$`; any other stays inline,
//! which means the same.

use std::collections::HashMap;

use super::logic::Logic;

/// How many flags (at least) must share a condition before it is lifted.
const SHARED_BY: usize = 2;

/// The conditions of every flag (`per_flag[f][r]` is flag f's rule r), with shared ones replaced by
/// references, and the evaluators they refer to, named `shared-1`, `shared-2`, … in first-use order.
pub(super) fn lift(per_flag: Vec<Vec<Logic>>) -> (Vec<Vec<Logic>>, Vec<(String, Logic)>) {
    // Each condition's text, written once: it is both the key that finds sharers and the check.
    let texts: Vec<Vec<String>> = per_flag
        .iter()
        .map(|conditions| {
            conditions
                .iter()
                .map(|c| serde_json::to_string(c).expect("JSONLogic serializes"))
                .collect()
        })
        .collect();
    let mut users: HashMap<&str, usize> = HashMap::new();
    for conditions in &texts {
        let mut seen: Vec<&str> = conditions.iter().map(String::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        for t in seen {
            *users.entry(t).or_default() += 1;
        }
    }
    let liftable = |v: &Logic, t: &str| {
        v.is_operator()
            && users.get(t).is_some_and(|n| *n >= SHARED_BY)
            && t.chars().all(|c| c.is_ascii() && c != '\\' && c != '$')
    };
    let mut names: HashMap<&str, String> = HashMap::new();
    let mut evaluators = Vec::new();
    let lifted = per_flag
        .into_iter()
        .zip(&texts)
        .map(|(conditions, texts)| {
            conditions
                .into_iter()
                .zip(texts)
                .map(|(v, t)| {
                    if !liftable(&v, t) {
                        return v;
                    }
                    let next = names.len() + 1;
                    let name = names
                        .entry(t)
                        .or_insert_with(|| {
                            let name = format!("shared-{next}");
                            evaluators.push((name.clone(), v));
                            name
                        })
                        .clone();
                    Logic::Unary("$ref", Box::new(Logic::lit(name)))
                })
                .collect()
        })
        .collect();
    (lifted, evaluators)
}
