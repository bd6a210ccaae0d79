//! Staged audiences: a segment is a named audience the policy defines (`[segments.internal]`), a
//! conjunction of conditions in the targeting rules' language, and a rollout plan may expose
//! segments before percentages (`["internal", "beta", 1, 5, 100]`). Agents name segments; only the
//! policy file defines or widens one, so a rollout freezes the definitions it was started with.
//!
//! A segment step exposes exactly its segment, with a control drawn from the same segment: a
//! member whose bucket is below `SEGMENT_SHARE_BP` is canary, the rest of the segment is control,
//! and everyone outside the segment is in neither arm. Evidence from both arms comes from the
//! same audience, so it stays comparable.

use serde::{Deserialize, Serialize};

use super::bucket::Percent;
use super::invalid::InvalidFlag;
use super::rules::{ConditionSpec, check_condition};

/// The canary's share of a segment at a segment step, in basis points: half of its members by
/// bucket, the other half control (balanced arms, as at 50 %).
pub const SEGMENT_SHARE_BP: u16 = 5_000;

/// A validated segment: a name and the conditions every member matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub conditions: Vec<ConditionSpec>,
}

const MAX_CONDITIONS: usize = 20;

impl Segment {
    /// Checks a segment's conditions as a rule's are checked; `field` prefixes the path in errors.
    pub fn parse(
        field: &str,
        name: &str,
        description: String,
        mut conditions: Vec<ConditionSpec>,
    ) -> Result<Segment, InvalidFlag> {
        super::invalid::check_name(field, "segment name", name)?;
        if conditions.is_empty() {
            return Err(InvalidFlag::new(
                format!("{field}.conditions"),
                "a segment needs at least one condition, e.g. {attribute = \"email\", op = \"ends_with\", values = [\"@example.com\"]}",
            ));
        }
        if conditions.len() > MAX_CONDITIONS {
            return Err(InvalidFlag::new(
                format!("{field}.conditions"),
                format!("at most {MAX_CONDITIONS} conditions per segment"),
            ));
        }
        for (i, c) in conditions.iter_mut().enumerate() {
            check_condition(&format!("{field}.conditions[{i}]"), c)?;
        }
        Ok(Segment {
            name: name.to_owned(),
            description,
            conditions,
        })
    }
}

/// One step of a rollout plan as written: a segment's name or a percentage.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanStep {
    Segment(String),
    Percent(Percent),
}

/// One plan step: a percentage, or the name of a segment the policy defines.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StepSpec {
    Percent(f64),
    Segment(String),
}

/// By hand rather than `untagged`, so a wrong type says what a step may be instead of "did not match
/// any variant".
impl<'de> Deserialize<'de> for StepSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Step;
        impl serde::de::Visitor<'_> for Step {
            type Value = StepSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"a percentage such as 5 or a segment name such as "internal""#)
            }
            fn visit_f64<E>(self, v: f64) -> Result<StepSpec, E> {
                Ok(StepSpec::Percent(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<StepSpec, E> {
                Ok(StepSpec::Percent(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<StepSpec, E> {
                Ok(StepSpec::Percent(v as f64))
            }
            fn visit_str<E>(self, v: &str) -> Result<StepSpec, E> {
                Ok(StepSpec::Segment(v.to_owned()))
            }
        }
        d.deserialize_any(Step)
    }
}

impl StepSpec {
    /// The plan step this names. A number written as a string is refused, so "25" is never taken
    /// for a segment's name.
    pub fn step(&self) -> Result<PlanStep, String> {
        match self {
            StepSpec::Percent(p) => Percent::from_percent(*p).map(PlanStep::Percent),
            StepSpec::Segment(n) if n.trim().parse::<f64>().is_ok() => Err(format!(
                "{n:?} is a string: write a percentage as a number, e.g. {}; strings name the policy's segments",
                n.trim()
            )),
            StepSpec::Segment(n) => Ok(PlanStep::Segment(n.clone())),
        }
    }
}

/// The defined segments' names for an error message, or how a person defines one.
pub fn names(segments: &std::collections::BTreeMap<String, Segment>) -> String {
    if segments.is_empty() {
        return "none (a person defines one with [segments.NAME] in the policy)".into();
    }
    segments.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// A plan split into its segment steps (first) and its percentages (ending at 100).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub segments: Vec<String>,
    pub percents: Vec<Percent>,
}

impl Plan {
    /// Checks a plan: segments known to `defined`, each once and all before the first percentage;
    /// percentages above 0, strictly increasing and ending at 100. Errors name `field[i]`.
    pub fn check(
        field: &str,
        steps: &[PlanStep],
        defined: &dyn Fn(&str) -> bool,
        known: &str,
    ) -> Result<Plan, InvalidFlag> {
        let mut plan = Plan::default();
        for (i, s) in steps.iter().enumerate() {
            let at = format!("{field}[{i}]");
            match s {
                PlanStep::Segment(name) => {
                    if !defined(name) {
                        return Err(InvalidFlag::new(
                            at,
                            format!(
                                "unknown segment {name:?}: segments are defined by humans in the policy ([segments.NAME]); defined: {known}"
                            ),
                        ));
                    }
                    if !plan.percents.is_empty() {
                        return Err(InvalidFlag::new(
                            at,
                            format!(
                                "segment step {name:?} comes after a percentage: segment steps come first, e.g. [\"internal\", \"beta\", 1, 5, 100]"
                            ),
                        ));
                    }
                    if plan.segments.contains(name) {
                        return Err(InvalidFlag::new(
                            at,
                            format!("segment {name:?} is already a step of this plan"),
                        ));
                    }
                    plan.segments.push(name.clone());
                }
                PlanStep::Percent(p) => {
                    if *p == Percent::ZERO || plan.percents.last().is_some_and(|l| l >= p) {
                        return Err(InvalidFlag::new(
                            at,
                            "percentages must be above 0 and strictly increasing, e.g. [1, 5, 25, 50, 100]",
                        ));
                    }
                    plan.percents.push(*p);
                }
            }
        }
        if plan.percents.last() != Some(&Percent::FULL) {
            return Err(InvalidFlag::new(field, "the last step must be 100"));
        }
        Ok(plan)
    }

    /// The plan as a rollout's steps: each segment step exposes 0 % of the population at large
    /// (its segment is exposed beside it), then the percentages.
    pub fn rollout_steps(&self) -> Vec<Percent> {
        std::iter::repeat_n(Percent::ZERO, self.segments.len())
            .chain(self.percents.iter().copied())
            .collect()
    }

    /// The plan as people write it: `internal, beta, 1%, 5%, 100%`.
    pub fn describe(&self) -> String {
        self.segments
            .iter()
            .cloned()
            .chain(self.percents.iter().map(|p| p.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rules::Op;

    fn pct(p: f64) -> PlanStep {
        PlanStep::Percent(Percent::from_percent(p).unwrap())
    }
    fn seg(s: &str) -> PlanStep {
        PlanStep::Segment(s.into())
    }
    fn check(steps: &[PlanStep]) -> Result<Plan, InvalidFlag> {
        Plan::check(
            "steps",
            steps,
            &|n| n == "internal" || n == "beta",
            "internal, beta",
        )
    }

    #[test]
    fn segments_come_first_and_percentages_end_at_100() {
        let plan = check(&[seg("internal"), seg("beta"), pct(1.0), pct(100.0)]).unwrap();
        assert_eq!(plan.segments, ["internal", "beta"]);
        assert_eq!(plan.rollout_steps().len(), 4);
        assert_eq!(plan.rollout_steps()[1], Percent::ZERO);
        assert_eq!(plan.describe(), "internal, beta, 1%, 100%");

        let e = check(&[seg("staff"), pct(100.0)]).unwrap_err();
        assert_eq!(e.field, "steps[0]");
        assert!(e.message.contains("unknown segment \"staff\""), "{e}");
        let e = check(&[pct(1.0), seg("beta"), pct(100.0)]).unwrap_err();
        assert_eq!(e.field, "steps[1]");
        assert!(e.message.contains("segment steps come first"), "{e}");
        let e = check(&[seg("beta"), seg("beta"), pct(100.0)]).unwrap_err();
        assert!(e.message.contains("already a step"), "{e}");
        let e = check(&[seg("beta")]).unwrap_err();
        assert!(e.message.contains("last step must be 100"), "{e}");
    }

    #[test]
    fn a_segment_needs_checked_conditions() {
        let c = |values: Vec<serde_json::Value>| ConditionSpec {
            attribute: "email".into(),
            op: Op::EndsWith,
            values,
            numbers: vec![],
        };
        assert!(
            Segment::parse(
                "segments.internal",
                "internal",
                String::new(),
                vec![c(vec!["@x.io".into()])]
            )
            .is_ok()
        );
        let e = Segment::parse("segments.internal", "internal", String::new(), vec![]).unwrap_err();
        assert_eq!(e.field, "segments.internal.conditions");
        let e = Segment::parse(
            "segments.internal",
            "internal",
            String::new(),
            vec![c(vec![])],
        )
        .unwrap_err();
        assert_eq!(e.field, "segments.internal.conditions[0].values");
    }
}
