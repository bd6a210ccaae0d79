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
    fn takes_one(self) -> bool {
        !matches!(
            self,
            Op::In | Op::NotIn | Op::StartsWith | Op::EndsWith | Op::Contains
        )
    }
}

/// One test on the evaluation context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(
    expecting = r#"an object such as {"attribute": "plan", "op": "equals", "values": ["pro"]}"#
)]
pub struct ConditionSpec {
    /// Context attribute, e.g. "email" or "targetingKey".
    pub attribute: String,
    pub op: Op,
    /// Operands; with several, any match.
    pub values: Vec<Value>,
}

/// One arm of a percentage split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(expecting = r#"an object such as {"variant": "on", "percent": 50}"#)]
pub struct SplitSpec {
    pub variant: String,
    /// 0-100, two decimals; a split sums to 100.
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
        for (j, c) in spec.conditions.iter().enumerate() {
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
        Ok(Rule {
            spec: spec.clone(),
            serve,
        })
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

fn check_condition(field: &str, c: &ConditionSpec) -> Result<(), InvalidFlag> {
    if c.attribute.is_empty() || c.attribute.len() > 200 {
        return Err(InvalidFlag::new(
            format!("{field}.attribute"),
            "name a context attribute (1 to 200 characters), e.g. \"email\" or \"targetingKey\"",
        ));
    }
    let values_field = format!("{field}.values");
    if c.values.is_empty() {
        return Err(InvalidFlag::new(
            values_field,
            "give at least one value to compare against",
        ));
    }
    if c.values.len() > MAX_VALUES {
        return Err(InvalidFlag::new(
            values_field,
            format!("at most {MAX_VALUES} values per condition"),
        ));
    }
    if c.op.takes_one() && c.values.len() != 1 {
        return Err(InvalidFlag::new(
            values_field,
            format!(
                "{:?} takes exactly one value; use `in` to match any of several",
                c.op
            )
            .to_lowercase(),
        ));
    }
    for (k, v) in c.values.iter().enumerate() {
        let f = format!("{values_field}[{k}]");
        if c.op.is_numeric() {
            if !v.is_number() {
                return Err(InvalidFlag::new(
                    f,
                    "numeric comparisons need a number, e.g. 18",
                ));
            }
        } else if c.op.is_semver() {
            let ok = v
                .as_str()
                .is_some_and(|s| semver::Version::parse(s.trim_start_matches('v')).is_ok());
            if !ok {
                return Err(InvalidFlag::new(
                    f,
                    "semantic-version comparisons need a version string such as \"2.4.0\"",
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
