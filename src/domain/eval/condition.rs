//! A rule's conditions compiled once into tests: operands parsed ahead (numbers, semantic versions,
//! sorted string sets), so matching a context attribute does no parsing of the rule and never fails.

use serde_json::Value;

use crate::domain::rules::{ConditionSpec, Op};

#[derive(Debug)]
pub(super) enum Attr {
    TargetingKey,
    Named(Box<str>),
}

#[derive(Debug)]
pub(super) struct CompiledCondition {
    pub(super) attr: Attr,
    pub(super) test: Test,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Scalar<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
}

impl<'a> Scalar<'a> {
    #[inline]
    pub(super) fn of(v: &'a Value) -> Option<Scalar<'a>> {
        match v {
            Value::String(s) => Some(Scalar::Str(s)),
            Value::Number(n) => n.as_f64().map(Scalar::Num),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Owned {
    Str(Box<str>),
    Num(f64),
    Bool(bool),
}

impl Owned {
    fn of(v: &Value) -> Option<Owned> {
        Scalar::of(v).map(|s| match s {
            Scalar::Str(s) => Owned::Str(s.into()),
            Scalar::Num(n) => Owned::Num(n),
            Scalar::Bool(b) => Owned::Bool(b),
        })
    }
    #[inline]
    fn eq(&self, s: Scalar<'_>) -> bool {
        match (self, s) {
            (Owned::Str(a), Scalar::Str(b)) => **a == *b,
            (Owned::Num(a), Scalar::Num(b)) => *a == b,
            (Owned::Bool(a), Scalar::Bool(b)) => *a == b,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Cmp {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Cmp {
    #[inline]
    fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Cmp::Eq => ord == Equal,
            Cmp::Gt => ord == Greater,
            Cmp::Gte => ord != Less,
            Cmp::Lt => ord == Less,
            Cmp::Lte => ord != Greater,
        }
    }
}

#[derive(Debug)]
pub(super) enum Test {
    Equals(Owned),
    NotEquals(Owned),
    /// `strings` is sorted: a binary search hashes nothing, and for the few values a rule usually
    /// lists it beats a hash set.
    In {
        strings: Box<[Box<str>]>,
        others: Vec<Owned>,
        negate: bool,
    },
    StartsWith(Vec<Box<str>>),
    EndsWith(Vec<Box<str>>),
    Contains(Vec<Box<str>>),
    Number(Cmp, f64),
    Semver(Cmp, semver::Version),
}

fn parse_version(s: &str) -> Option<semver::Version> {
    semver::Version::parse(s.trim().trim_start_matches('v')).ok()
}

impl Test {
    pub(super) fn compile(c: &ConditionSpec) -> Test {
        // Rules were validated by `Rule::parse`, so operands have the right shapes here; anything odd
        // compiles to a test that never matches rather than a panic.
        let first = c.values.first();
        let strings = || {
            c.values
                .iter()
                .filter_map(|v| v.as_str().map(Box::from))
                .collect::<Vec<Box<str>>>()
        };
        let never = || Test::In {
            strings: Box::default(),
            others: Vec::new(),
            negate: false,
        };
        let num = |cmp| {
            first
                .and_then(Value::as_f64)
                .map_or_else(never, |n| Test::Number(cmp, n))
        };
        let ver = |cmp| {
            first
                .and_then(Value::as_str)
                .and_then(parse_version)
                .map_or_else(never, |v| Test::Semver(cmp, v))
        };
        match c.op {
            Op::Equals => first.and_then(Owned::of).map_or_else(never, Test::Equals),
            Op::NotEquals => first
                .and_then(Owned::of)
                .map_or_else(never, Test::NotEquals),
            Op::In | Op::NotIn => {
                let mut strings = Vec::new();
                let mut others = Vec::new();
                for v in &c.values {
                    match Owned::of(v) {
                        Some(Owned::Str(s)) => strings.push(s),
                        Some(o) => others.push(o),
                        None => {}
                    }
                }
                strings.sort_unstable();
                strings.dedup();
                Test::In {
                    strings: strings.into(),
                    others,
                    negate: c.op == Op::NotIn,
                }
            }
            Op::StartsWith => Test::StartsWith(strings()),
            Op::EndsWith => Test::EndsWith(strings()),
            Op::Contains => Test::Contains(strings()),
            Op::Gt => num(Cmp::Gt),
            Op::Gte => num(Cmp::Gte),
            Op::Lt => num(Cmp::Lt),
            Op::Lte => num(Cmp::Lte),
            Op::SemverEq => ver(Cmp::Eq),
            Op::SemverGt => ver(Cmp::Gt),
            Op::SemverGte => ver(Cmp::Gte),
            Op::SemverLt => ver(Cmp::Lt),
            Op::SemverLte => ver(Cmp::Lte),
        }
    }

    /// A missing attribute matches no condition, not even a negated one: "not in the beta list" should
    /// not silently include users whose list membership is unknown.
    // Inline, like the lookups in context.rs: `evaluate` calls these on every condition, and since
    // the split they sit in other modules, so possibly other codegen units.
    #[inline]
    pub(super) fn matches(&self, value: Scalar<'_>) -> bool {
        match self {
            Test::Equals(o) => o.eq(value),
            Test::NotEquals(o) => !o.eq(value),
            Test::In {
                strings,
                others,
                negate,
            } => {
                let found = match value {
                    Scalar::Str(s) => strings.binary_search_by(|p| (**p).cmp(s)).is_ok(),
                    other => others.iter().any(|o| o.eq(other)),
                };
                found != *negate
            }
            Test::StartsWith(p) => {
                matches!(value, Scalar::Str(s) if p.iter().any(|p| s.starts_with(&**p)))
            }
            Test::EndsWith(p) => {
                matches!(value, Scalar::Str(s) if p.iter().any(|p| s.ends_with(&**p)))
            }
            Test::Contains(p) => {
                matches!(value, Scalar::Str(s) if p.iter().any(|p| s.contains(&**p)))
            }
            Test::Number(cmp, n) => match value {
                Scalar::Num(v) => v.partial_cmp(n).is_some_and(|o| cmp.holds(o)),
                Scalar::Str(s) => s
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(|v| v.partial_cmp(n))
                    .is_some_and(|o| cmp.holds(o)),
                Scalar::Bool(_) => false,
            },
            Test::Semver(cmp, want) => match value {
                Scalar::Str(s) => parse_version(s).is_some_and(|v| cmp.holds(v.cmp(want))),
                _ => false,
            },
        }
    }
}
