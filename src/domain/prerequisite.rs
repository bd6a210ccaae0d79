//! Prerequisites: flag B in an environment is on only where flag A serves a named variant there
//! ("B's candidate is served only where A's candidate is"). Where A serves anything else, B serves
//! its off variant, as if it were off, and a unit is in neither arm of B's rollout, so B's control
//! is drawn from the units that meet the prerequisite, like its canary. A pin (a rollback) and
//! `enabled = false` still win: they are a person's or the gate's explicit answer.
//!
//! This file holds the wire and stored form and the checks a new prerequisite passes: the flag
//! exists, is not B, has the variant, and following prerequisites from it never comes back to B.
//! Evaluation (`eval`) and the flagd export (`flagd`) read it; neither needs to guard against a
//! cycle beyond a depth bound, since none is ever stored.

use serde::{Deserialize, Serialize};

use super::invalid::InvalidFlag;

/// The longest chain of prerequisites evaluation follows: a longer one (never stored, as `check`
/// refuses it) counts as unmet.
pub const MAX_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Prerequisite {
    // The flag that must serve `variant` (undocumented in the schema: tools/list is paid per call,
    // and set_targeting's field says it).
    pub flag: String,
    pub variant: String,
}

/// What `check` needs to know of another flag in the environment: its variant names and its own
/// prerequisite there (`None` when the flag does not exist).
pub struct Known<'a> {
    pub variants: Vec<&'a str>,
    pub prerequisite: Option<&'a Prerequisite>,
}

/// Checks flag `key` may depend on `p` in its environment; `field` names the input. `lookup` finds
/// another flag of the environment. Refuses an unknown flag or variant, `key` itself, a cycle
/// (named flag by flag) and a chain longer than `MAX_DEPTH`.
pub fn check<'a>(
    field: &str,
    key: &str,
    p: &Prerequisite,
    lookup: &dyn Fn(&str) -> Option<Known<'a>>,
) -> Result<(), InvalidFlag> {
    let bad = |m: String| Err(InvalidFlag::new(format!("{field}.flag"), m));
    if p.flag == key {
        return bad(format!(
            "{key} cannot be its own prerequisite: name another flag"
        ));
    }
    let Some(first) = lookup(&p.flag) else {
        return bad(format!("unknown flag {:?}: create it first", p.flag));
    };
    if !first.variants.contains(&p.variant.as_str()) {
        return Err(InvalidFlag::new(
            format!("{field}.variant"),
            format!(
                "{:?} is not a variant of {}; its variants are {}",
                p.variant,
                p.flag,
                first.variants.join(", ")
            ),
        ));
    }
    let mut path = vec![key.to_owned(), p.flag.clone()];
    let mut next = first.prerequisite.cloned();
    while let Some(n) = next {
        path.push(n.flag.clone());
        if n.flag == key {
            return bad(format!(
                "a prerequisite cycle: {}; a flag cannot wait on itself",
                path.join(" -> ")
            ));
        }
        if path.len() > MAX_DEPTH {
            return bad(format!(
                "prerequisites nest at most {MAX_DEPTH} deep: {}",
                path.join(" -> ")
            ));
        }
        next = lookup(&n.flag).and_then(|k| k.prerequisite.cloned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn p(flag: &str, variant: &str) -> Prerequisite {
        Prerequisite {
            flag: flag.into(),
            variant: variant.into(),
        }
    }

    fn check_in(
        flags: &BTreeMap<&str, Option<Prerequisite>>,
        key: &str,
        new: &Prerequisite,
    ) -> Result<(), InvalidFlag> {
        let lookup = |k: &str| {
            flags.get(k).map(|pre| Known {
                variants: vec!["on", "off"],
                prerequisite: pre.as_ref(),
            })
        };
        check("prerequisite", key, new, &lookup)
    }

    #[test]
    fn a_prerequisite_names_another_existing_flag_and_one_of_its_variants() {
        let flags = BTreeMap::from([("a", None), ("b", None)]);
        assert!(check_in(&flags, "b", &p("a", "on")).is_ok());
        let e = check_in(&flags, "b", &p("b", "on")).unwrap_err();
        assert_eq!(e.field, "prerequisite.flag");
        let e = check_in(&flags, "b", &p("zzz", "on")).unwrap_err();
        assert!(e.message.contains("unknown flag \"zzz\""), "{e:?}");
        let e = check_in(&flags, "b", &p("a", "blue")).unwrap_err();
        assert_eq!(e.field, "prerequisite.variant");
        assert!(e.message.contains("on, off"), "{e:?}");
    }

    #[test]
    fn a_cycle_is_refused_flag_by_flag() {
        // c needs b, b needs a: a needing c closes the circle.
        let flags = BTreeMap::from([
            ("a", None),
            ("b", Some(p("a", "on"))),
            ("c", Some(p("b", "on"))),
        ]);
        let e = check_in(&flags, "a", &p("c", "on")).unwrap_err();
        assert_eq!(e.field, "prerequisite.flag");
        assert!(
            e.message.contains("a prerequisite cycle: a -> c -> b -> a"),
            "{e:?}"
        );
        // A chain that does not come back is fine.
        assert!(check_in(&flags, "d", &p("c", "on")).is_ok());
    }
}
