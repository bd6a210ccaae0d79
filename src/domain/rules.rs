//! Targeting rules: ordered, each a conjunction of conditions on the context, serving one variant or a
//! percentage split. `RuleSpec` is the wire form an agent sends; `Rule` is the validated form, built
//! only by `Rule::parse`, so percentages always sum to 100 % and every operand fits its operator.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::bucket::Percent;
use super::invalid::InvalidFlag;
use super::variant::Variants;

/// A comparison operator in a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Equals,
    NotEquals,
    In,
    NotIn,
    StartsWith,
    EndsWith,
    Contains,
    Gt,
    Gte,
    Lt,
    Lte,
    SemverEq,
    SemverGt,
    SemverGte,
    SemverLt,
    SemverLte,
}

impl Op {
    pub fn is_numeric(self) -> bool {
        matches!(self, Op::Gt | Op::Gte | Op::Lt | Op::Lte)
    }
    pub fn is_semver(self) -> bool {
        matches!(
            self,
            Op::SemverEq | Op::SemverGt | Op::SemverGte | Op::SemverLt | Op::SemverLte
        )
    }
    /// The operator as agents write it, e.g. "semver_gte".
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
    fn takes_one(self) -> bool {
        !matches!(
            self,
            Op::In | Op::NotIn | Op::StartsWith | Op::EndsWith | Op::Contains
        )
    }
}

/// One test on the evaluation context. Operands come typed by field, so no client that rewrites an
/// untyped array into strings (Codex does) can turn `gt 18` into `gt "18"`: `values` holds strings
/// (and booleans), `numbers` holds numbers. `Rule::parse` moves `numbers` into `values`, the one form
/// stored and evaluated; a number sent in `values` (the older spelling) is still read as a number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(
    expecting = r#"an object such as {"attribute": "plan", "op": "equals", "values": ["pro"]}"#
)]
pub struct ConditionSpec {
    /// E.g. "email", "targetingKey".
    pub attribute: String,
    pub op: Op,
    /// String operands (semver_* too: "2.4.0"); any match.
    #[serde(default)]
    #[schemars(schema_with = "string_or_bool_array")]
    pub values: Vec<Value>,
    /// For gt/gte/lt/lte (or equals/in a number).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub numbers: Vec<serde_json::Number>,
}

/// `values` as the schema declares it: every item typed, so a client that fills in a missing item
/// type with "string" changes nothing.
fn string_or_bool_array(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {"anyOf": [{"type": "string"}, {"type": "boolean"}]}
    })
}

/// One arm of a percentage split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(expecting = r#"an object such as {"variant": "on", "percent": 50}"#)]
pub struct SplitSpec {
    pub variant: String,
    /// 0-100, 2 decimals; sums to 100.
    pub percent: f64,
}

/// What a matching rule serves: exactly one of `variant` or `split`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(expecting = r#"an object such as {"variant": "on"}"#)]
pub struct ServeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Sticky split by targetingKey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Vec<SplitSpec>>,
}

/// A targeting rule as an agent writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(expecting = r#"an object such as {"conditions": [], "serve": {"variant": "on"}}"#)]
pub struct RuleSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// All must match; empty matches all.
    #[serde(default)]
    pub conditions: Vec<ConditionSpec>,
    pub serve: ServeSpec,
}

/// What a validated rule serves.
#[derive(Debug, Clone, PartialEq)]
pub enum Serve {
    Variant(String),
    /// Cumulative split: (variant, share). Shares sum to 10 000 basis points.
    Split(Vec<(String, Percent)>),
}

/// A validated targeting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    spec: RuleSpec,
    serve: Serve,
}

const MAX_RULES: usize = 100;
const MAX_CONDITIONS: usize = 20;
const MAX_VALUES: usize = 1000;

impl Rule {
    /// Validates every rule against the flag's variants; `field` prefixes the path in errors.
    pub fn parse_all(specs: &[RuleSpec], variants: &Variants) -> Result<Vec<Rule>, InvalidFlag> {
        if specs.len() > MAX_RULES {
            return Err(InvalidFlag::new(
                "rules",
                format!("at most {MAX_RULES} rules are allowed, got {}", specs.len()),
            ));
        }
        specs
            .iter()
            .enumerate()
            .map(|(i, s)| Rule::parse(&format!("rules[{i}]"), s, variants))
            .collect()
    }

    pub fn parse(field: &str, spec: &RuleSpec, variants: &Variants) -> Result<Rule, InvalidFlag> {
        if let Some(name) = &spec.name
            && name.len() > 200
        {
            return Err(InvalidFlag::new(
                format!("{field}.name"),
                "a rule name may be at most 200 characters",
            ));
        }
        if spec.conditions.len() > MAX_CONDITIONS {
            return Err(InvalidFlag::new(
                format!("{field}.conditions"),
                format!("at most {MAX_CONDITIONS} conditions per rule"),
            ));
        }
        let mut spec = spec.clone();
        for (j, c) in spec.conditions.iter_mut().enumerate() {
            check_condition(&format!("{field}.conditions[{j}]"), c)?;
        }
        let serve = match (&spec.serve.variant, &spec.serve.split) {
            (Some(v), None) => {
                variants.require(&format!("{field}.serve.variant"), v)?;
                Serve::Variant(v.clone())
            }
            (None, Some(split)) => Serve::Split(parse_split(
                &format!("{field}.serve.split"),
                split,
                variants,
            )?),
            _ => {
                return Err(InvalidFlag::new(
                    format!("{field}.serve"),
                    "give exactly one of `variant` (e.g. {\"variant\": \"on\"}) or `split` (e.g. {\"split\": [{\"variant\": \"on\", \"percent\": 10}, {\"variant\": \"off\", \"percent\": 90}]})",
                ));
            }
        };
        Ok(Rule { spec, serve })
    }

    pub fn spec(&self) -> &RuleSpec {
        &self.spec
    }
    pub fn serve(&self) -> &Serve {
        &self.serve
    }
    pub fn conditions(&self) -> &[ConditionSpec] {
        &self.spec.conditions
    }
    /// Whether this rule can serve `variant` to anyone.
    pub fn may_serve(&self, variant: &str) -> bool {
        match &self.serve {
            Serve::Variant(v) => v == variant,
            Serve::Split(arms) => arms
                .iter()
                .any(|(v, p)| v == variant && p.basis_points() > 0),
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.spec.serialize(s)
    }
}

fn parse_split(
    field: &str,
    split: &[SplitSpec],
    variants: &Variants,
) -> Result<Vec<(String, Percent)>, InvalidFlag> {
    if split.is_empty() {
        return Err(InvalidFlag::new(
            field,
            "a split needs at least one {variant, percent}",
        ));
    }
    let mut total = 0u32;
    let mut arms = Vec::with_capacity(split.len());
    for (k, arm) in split.iter().enumerate() {
        variants.require(&format!("{field}[{k}].variant"), &arm.variant)?;
        let p = Percent::from_percent(arm.percent)
            .map_err(|m| InvalidFlag::new(format!("{field}[{k}].percent"), m))?;
        total += u32::from(p.basis_points());
        arms.push((arm.variant.clone(), p));
    }
    if total != 10_000 {
        return Err(InvalidFlag::new(
            field,
            format!(
                "split percents must sum to 100, they sum to {}",
                f64::from(total) / 100.0
            ),
        ));
    }
    Ok(arms)
}

/// Checks one condition and moves its `numbers` into `values`, the form stored and evaluated.
pub fn check_condition(field: &str, c: &mut ConditionSpec) -> Result<(), InvalidFlag> {
    if c.attribute.is_empty() || c.attribute.len() > 200 {
        return Err(InvalidFlag::new(
            format!("{field}.attribute"),
            "name a context attribute (1 to 200 characters), e.g. \"email\" or \"targetingKey\"",
        ));
    }
    let op = c.op.name();
    let values_field = match (c.values.is_empty(), c.numbers.is_empty()) {
        (true, true) => {
            return Err(InvalidFlag::new(
                format!("{field}.values"),
                format!(
                    "give at least one operand: `values` for strings and versions, `numbers` for numbers, e.g. {}",
                    example(c.op)
                ),
            ));
        }
        (false, false) => {
            return Err(InvalidFlag::new(
                format!("{field}.numbers"),
                "give operands in `values` (strings) or in `numbers`, not both",
            ));
        }
        (true, false) => {
            if !(c.op.is_numeric()
                || matches!(c.op, Op::Equals | Op::NotEquals | Op::In | Op::NotIn))
            {
                return Err(InvalidFlag::new(
                    format!("{field}.numbers"),
                    format!(
                        "{op} compares strings: give them in `values`, e.g. {}",
                        example(c.op)
                    ),
                ));
            }
            c.values = std::mem::take(&mut c.numbers)
                .into_iter()
                .map(Value::Number)
                .collect();
            format!("{field}.numbers")
        }
        (false, true) => format!("{field}.values"),
    };
    if c.values.len() > MAX_VALUES {
        return Err(InvalidFlag::new(
            values_field,
            format!("at most {MAX_VALUES} values per condition"),
        ));
    }
    if c.op.takes_one() && c.values.len() != 1 {
        return Err(InvalidFlag::new(
            values_field,
            format!("{op} takes exactly one value; use `in` to match any of several"),
        ));
    }
    for (k, v) in c.values.iter().enumerate() {
        let f = format!("{values_field}[{k}]");
        if c.op.is_numeric() {
            if !v.is_number() {
                return Err(InvalidFlag::new(
                    f,
                    format!(
                        "{op} compares numbers: give them in `numbers`, not as strings in `values`, e.g. {}",
                        example(c.op)
                    ),
                ));
            }
        } else if c.op.is_semver() {
            let ok = v
                .as_str()
                .is_some_and(|s| semver::Version::parse(s.trim_start_matches('v')).is_ok());
            if !ok {
                return Err(InvalidFlag::new(
                    f,
                    format!(
                        "{op} compares semantic versions: give a version string in `values`, e.g. {}",
                        example(c.op)
                    ),
                ));
            }
        } else if !(v.is_string() || v.is_number() || v.is_boolean()) {
            return Err(InvalidFlag::new(
                f,
                "compare against a string, number or boolean",
            ));
        }
    }
    Ok(())
}

/// A well-typed condition for `op`, quoted in refusals so the fix is one copy away.
fn example(op: Op) -> String {
    let name = op.name();
    if op.is_numeric() {
        format!(r#"{{"attribute": "age", "op": "{name}", "numbers": [18]}}"#)
    } else if op.is_semver() {
        format!(r#"{{"attribute": "app_version", "op": "{name}", "values": ["2.4.0"]}}"#)
    } else {
        format!(r#"{{"attribute": "plan", "op": "{name}", "values": ["pro"]}}"#)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Parses one rule with this condition against on/off, the validated condition or the error.
    fn check(condition: Value) -> Result<ConditionSpec, String> {
        let spec: RuleSpec =
            serde_json::from_value(json!({"conditions": [condition], "serve": {"variant": "on"}}))
                .map_err(|e| e.to_string())?;
        Rule::parse("rules[0]", &spec, &Variants::boolean())
            .map(|r| r.conditions()[0].clone())
            .map_err(|e| format!("{}: {}", e.field, e.message))
    }

    #[test]
    fn numbers_are_stored_as_values_and_the_older_spelling_still_reads() {
        let typed = check(json!({"attribute": "age", "op": "gte", "numbers": [18]})).unwrap();
        let older = check(json!({"attribute": "age", "op": "gte", "values": [18]})).unwrap();
        assert_eq!(typed, older);
        assert_eq!(typed.values, vec![json!(18)]);
        assert!(typed.numbers.is_empty());
        // What is stored is what was always stored: no `numbers` key.
        assert_eq!(
            serde_json::to_value(&typed).unwrap(),
            json!({"attribute": "age", "op": "gte", "values": [18]})
        );
        let member = check(json!({"attribute": "tier", "op": "in", "numbers": [1, 2]})).unwrap();
        assert_eq!(member.values, vec![json!(1), json!(2)]);
    }

    #[test]
    fn operands_in_the_wrong_field_are_refused_with_the_fix() {
        for (condition, expect) in [
            (
                json!({"attribute": "age", "op": "gt", "values": ["18"]}),
                r#"rules[0].conditions[0].values[0]: gt compares numbers: give them in `numbers`, not as strings in `values`, e.g. {"attribute": "age", "op": "gt", "numbers": [18]}"#,
            ),
            (
                json!({"attribute": "app", "op": "semver_gte", "numbers": [2]}),
                r#"rules[0].conditions[0].numbers: semver_gte compares strings: give them in `values`, e.g. {"attribute": "app_version", "op": "semver_gte", "values": ["2.4.0"]}"#,
            ),
            (
                json!({"attribute": "app", "op": "semver_lt", "values": ["two"]}),
                r#"rules[0].conditions[0].values[0]: semver_lt compares semantic versions: give a version string in `values`, e.g. {"attribute": "app_version", "op": "semver_lt", "values": ["2.4.0"]}"#,
            ),
            (
                json!({"attribute": "plan", "op": "in", "values": ["a"], "numbers": [1]}),
                "rules[0].conditions[0].numbers: give operands in `values` (strings) or in `numbers`, not both",
            ),
            (
                json!({"attribute": "plan", "op": "equals"}),
                r#"rules[0].conditions[0].values: give at least one operand: `values` for strings and versions, `numbers` for numbers, e.g. {"attribute": "plan", "op": "equals", "values": ["pro"]}"#,
            ),
            (
                json!({"attribute": "v", "op": "semver_eq", "values": ["1.0.0", "2.0.0"]}),
                "rules[0].conditions[0].values: semver_eq takes exactly one value; use `in` to match any of several",
            ),
        ] {
            assert_eq!(check(condition.clone()).unwrap_err(), expect, "{condition}");
        }
        let err = check(json!({"attribute": "age", "op": "gt", "numbers": ["18"]})).unwrap_err();
        assert!(err.contains("invalid type: string \"18\""), "{err}");
    }
}
