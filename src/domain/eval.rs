//! Evaluation: flags compiled once into an immutable `Snapshot`, and `evaluate()`, which reads it.
//!
//! `evaluate` never fails and never panics: an unknown flag, a wrong type or a missing targeting key
//! come back as a `Resolution` with an OpenFeature error code and no value (the caller's code default
//! applies). It takes no lock and does no I/O; the application swaps whole snapshots atomically when a
//! flag changes. Evaluation counts are atomics inside the snapshot, bumped by the caller through
//! `Resolution::record`, so counting never needs a lock either.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde_json::{Map, Value};

use super::bucket::{Percent, bucket};
use super::flag::{Flag, FlagStatus};
use super::rules::{ConditionSpec, Op, Rule, Serve};
use super::variant::FlagType;

/// The subject of an evaluation: OpenFeature's targetingKey plus attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    pub targeting_key: Option<String>,
    pub attributes: Map<String, Value>,
}

/// Why a context was refused, in OpenFeature's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidContext(pub String);

const MAX_CONTEXT_ATTRIBUTES: usize = 256;
const MAX_CONTEXT_BYTES: usize = 64 * 1024;
/// Up to this many attributes, a lookup scans the names instead of hashing.
const SCAN_ATTRIBUTES: usize = 8;

impl Context {
    pub fn with_key(key: &str) -> Context {
        Context {
            targeting_key: Some(key.to_owned()),
            attributes: Map::new(),
        }
    }

    /// Reads an OpenFeature context object: `{"targetingKey": "user-1", "email": "...", ...}`.
    pub fn from_json(value: &Value) -> Result<Context, InvalidContext> {
        let Value::Object(map) = value else {
            return Err(InvalidContext("context must be a JSON object, e.g. {\"targetingKey\": \"user-1\", \"email\": \"a@b.c\"}".into()));
        };
        Context::from_object(map.clone(), value.to_string().len())
    }

    /// A context from an object already parsed, whose JSON text was `size` bytes (an upper bound
    /// will do, e.g. the request body's length).
    pub fn from_object(
        mut attributes: Map<String, Value>,
        size: usize,
    ) -> Result<Context, InvalidContext> {
        if attributes.len() > MAX_CONTEXT_ATTRIBUTES {
            return Err(InvalidContext(format!(
                "context has {} attributes; at most {MAX_CONTEXT_ATTRIBUTES} are allowed",
                attributes.len()
            )));
        }
        if size > MAX_CONTEXT_BYTES {
            return Err(InvalidContext(format!(
                "context is {size} bytes of JSON; at most {MAX_CONTEXT_BYTES} are allowed"
            )));
        }
        let targeting_key = match attributes.remove("targetingKey") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                return Err(InvalidContext(
                    "context.targetingKey must be a string".into(),
                ));
            }
        };
        Ok(Context {
            targeting_key,
            attributes,
        })
    }

    fn get(&self, attr: &Attr) -> Option<Scalar<'_>> {
        match attr {
            Attr::TargetingKey => self.targeting_key.as_deref().map(Scalar::Str),
            Attr::Named(name) => self.attribute(name).and_then(Scalar::of),
        }
    }

    /// A typical context holds a handful of attributes: comparing their names is cheaper than hashing
    /// the name, and a map's keys are unique, so both find the same entry.
    fn attribute(&self, name: &str) -> Option<&Value> {
        if self.attributes.len() <= SCAN_ATTRIBUTES {
            self.attributes
                .iter()
                .find_map(|(k, v)| (k == name).then_some(v))
        } else {
            self.attributes.get(name)
        }
    }
}

/// OpenFeature resolution reasons.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    Static,
    Default,
    TargetingMatch,
    Split,
    Disabled,
    Error,
}

/// OpenFeature error codes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    FlagNotFound,
    TypeMismatch,
    TargetingKeyMissing,
    InvalidContext,
    ParseError,
    General,
}

/// Which side of a running canary a unit is on; stable for a unit as the canary grows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    Canary,
    Control,
    Excluded,
}

impl Arm {
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Canary => "canary",
            Arm::Control => "control",
            Arm::Excluded => "excluded",
        }
    }
}

/// The answer to one evaluation. `value == None` means "use your code default" (with `error` set).
#[derive(Debug, Clone)]
pub struct Resolution<'s> {
    pub value: Option<&'s Value>,
    pub variant: Option<&'s str>,
    pub reason: Reason,
    pub error: Option<(ErrorCode, &'static str)>,
    /// Set while a rollout runs in this environment.
    pub arm: Option<Arm>,
    counter: Option<&'s AtomicU64>,
}

impl<'s> Resolution<'s> {
    fn error(code: ErrorCode, message: &'static str) -> Resolution<'s> {
        Resolution {
            value: None,
            variant: None,
            reason: Reason::Error,
            error: Some((code, message)),
            arm: None,

            counter: None,
        }
    }
    /// Counts this evaluation toward the flag's per-variant evaluation counts.
    pub fn record(&self) {
        if let Some(c) = self.counter {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A rollout as evaluation needs it: who is in the canary right now.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveRollout {
    pub flag: String,
    pub env: String,
    pub candidate: String,
    pub lkg: String,
    pub percent: Percent,
}

/// Evaluation counts per (flag, environment, variant), shared by every snapshot compiled from the
/// previous one so a swap loses no counts.
pub type Counts = Arc<[AtomicU64]>;

/// All flags, compiled for evaluation. Immutable once built.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Compiled flags are shared between snapshots, so a change recompiles only the flag it touched.
    /// Keyed with foldhash rather than SipHash: the lookup is on every evaluation and SipHash was about
    /// a quarter of an on/off evaluation. Keys are the operator's flag keys and a lookup never inserts,
    /// so callers cannot flood the map with colliding keys.
    flags: HashMap<Box<str>, Arc<CompiledFlag>, foldhash::fast::RandomState>,
    /// One more than the snapshot it was built from: within a process, equal versions mean equal
    /// answers for every context (caches key on it).
    version: u64,
}

#[derive(Debug)]
struct CompiledFlag {
    kind: FlagType,
    variants: Vec<(Box<str>, Value)>,
    salt: Box<str>,
    envs: Vec<(Box<str>, CompiledEnv)>,
}

#[derive(Debug)]
struct CompiledEnv {
    /// The answer when it cannot depend on the context (pinned, off, or on without rules or rollout),
    /// decided once at compile time.
    fixed: Option<(usize, Reason)>,
    default: usize,
    rules: Vec<CompiledRule>,
    rollout: Option<CompiledRollout>,
    counts: Counts,
}

#[derive(Debug)]
struct CompiledRollout {
    candidate: usize,
    lkg: usize,
    canary_bp: u16,
}

#[derive(Debug)]
struct CompiledRule {
    conditions: Vec<CompiledCondition>,
    serve: CompiledServe,
}

#[derive(Debug)]
enum CompiledServe {
    Variant(usize),
    /// (exclusive cumulative upper bound in basis points, variant index)
    Split(Vec<(u16, usize)>),
}

#[derive(Debug)]
enum Attr {
    TargetingKey,
    Named(Box<str>),
}

#[derive(Debug)]
struct CompiledCondition {
    attr: Attr,
    test: Test,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Scalar<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
}

impl<'a> Scalar<'a> {
    fn of(v: &'a Value) -> Option<Scalar<'a>> {
        match v {
            Value::String(s) => Some(Scalar::Str(s)),
            Value::Number(n) => n.as_f64().map(Scalar::Num),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Owned {
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
enum Cmp {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Cmp {
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
enum Test {
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
    fn compile(c: &ConditionSpec) -> Test {
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
    fn matches(&self, value: Scalar<'_>) -> bool {
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

impl Snapshot {
    /// Compiles flags and their live rollouts. `previous` hands over evaluation counters, so counts
    /// survive the swap.
    pub fn compile(
        flags: &[Flag],
        rollouts: &[LiveRollout],
        previous: Option<&Snapshot>,
    ) -> Snapshot {
        let flags = flags
            .iter()
            .filter(|f| f.status != FlagStatus::Archived)
            .map(|f| {
                (
                    Box::from(f.key.as_str()),
                    Arc::new(compile_flag(f, rollouts, previous)),
                )
            })
            .collect();
        Snapshot {
            flags,
            version: previous.map_or(0, |p| p.version + 1),
        }
    }

    /// This snapshot with one flag recompiled (`Some`) or removed (`None`); every other flag is shared.
    pub fn with_flag(&self, key: &str, flag: Option<&Flag>, rollouts: &[LiveRollout]) -> Snapshot {
        let mut flags = self.flags.clone();
        match flag.filter(|f| f.status != FlagStatus::Archived) {
            Some(f) => {
                flags.insert(
                    Box::from(key),
                    Arc::new(compile_flag(f, rollouts, Some(self))),
                );
            }
            None => {
                flags.remove(key);
            }
        }
        Snapshot {
            flags,
            version: self.version + 1,
        }
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// The counters of one flag in one environment (for flushing and for carrying across swaps).
    pub fn counts(&self, flag: &str, env: &str) -> Option<Counts> {
        let f = self.flags.get(flag)?;
        f.envs
            .iter()
            .find(|(e, _)| **e == *env)
            .map(|(_, s)| s.counts.clone())
    }

    /// Every counter with its (flag, environment, variant) name.
    pub fn all_counts(&self) -> impl Iterator<Item = (&str, &str, &str, &AtomicU64)> {
        self.flags.iter().flat_map(|(key, f)| {
            f.envs.iter().flat_map(move |(env, s)| {
                f.variants
                    .iter()
                    .zip(s.counts.iter())
                    .map(move |((variant, _), c)| (&**key, &**env, &**variant, c))
            })
        })
    }

    pub fn len(&self) -> usize {
        self.flags.len()
    }
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.flags.keys().map(|k| &**k)
    }
}

/// The evaluation counters for `flag` in `env`: the previous snapshot's own, shared, when the
/// variants are the same names in the same order (so a request still holding the old snapshot counts
/// into the new one); otherwise new counters that take over the old ones' unflushed counts by variant
/// name, so nothing is credited to the wrong variant.
fn carried_counts(flag: &Flag, env: &str, previous: Option<&Snapshot>) -> Counts {
    let old = previous.and_then(|p| {
        Some((
            p.flags.get(flag.key.as_str())?,
            p.counts(flag.key.as_str(), env)?,
        ))
    });
    let names: Vec<&str> = flag.variants.iter().map(|(n, _)| n).collect();
    match old {
        Some((f, c))
            if f.variants
                .iter()
                .map(|(n, _)| &**n)
                .eq(names.iter().copied()) =>
        {
            c
        }
        old => names
            .iter()
            .map(|name| {
                let carried = old
                    .as_ref()
                    .and_then(|(f, c)| c.get(f.variants.iter().position(|(n, _)| &**n == *name)?))
                    .map_or(0, |c| c.swap(0, Ordering::Relaxed));
                AtomicU64::new(carried)
            })
            .collect(),
    }
}

fn compile_flag(
    flag: &Flag,
    rollouts: &[LiveRollout],
    previous: Option<&Snapshot>,
) -> CompiledFlag {
    let index = |name: &str| flag.variants.index_of(name).unwrap_or(0);
    let off = index(&flag.off_variant);
    let envs = flag
        .envs
        .iter()
        .map(|(env, state)| {
            let rules = state
                .rules
                .iter()
                .map(|r| compile_rule(r, &index))
                .collect();
            let rollout = rollouts
                .iter()
                .find(|r| r.flag == flag.key.as_str() && r.env == *env)
                .map(|r| CompiledRollout {
                    candidate: index(&r.candidate),
                    lkg: index(&r.lkg),
                    canary_bp: r.percent.basis_points(),
                });
            let counts = carried_counts(flag, env, previous);
            let default = index(&state.default_variant);
            let fixed = match (state.pinned_variant.as_deref(), state.enabled) {
                (Some(pin), _) => Some((index(pin), Reason::Static)),
                (None, false) => Some((off, Reason::Disabled)),
                (None, true) if state.rules.is_empty() && rollout.is_none() => {
                    Some((default, Reason::Static))
                }
                (None, true) => None,
            };
            let compiled = CompiledEnv {
                fixed,
                default,
                rules,
                rollout,
                counts,
            };
            (Box::<str>::from(env.as_str()), compiled)
        })
        .collect();
    CompiledFlag {
        kind: flag.variants.kind(),
        variants: flag
            .variants
            .iter()
            .map(|(n, v)| (Box::from(n), v.clone()))
            .collect(),
        salt: flag.salt.as_str().into(),
        envs,
    }
}

fn compile_rule(rule: &Rule, index: &impl Fn(&str) -> usize) -> CompiledRule {
    let conditions = rule
        .conditions()
        .iter()
        .map(|c| CompiledCondition {
            attr: if c.attribute == "targetingKey" {
                Attr::TargetingKey
            } else {
                Attr::Named(c.attribute.as_str().into())
            },
            test: Test::compile(c),
        })
        .collect();
    let serve = match rule.serve() {
        Serve::Variant(v) => CompiledServe::Variant(index(v)),
        Serve::Split(arms) => {
            let mut upper = 0u16;
            CompiledServe::Split(
                arms.iter()
                    .map(|(v, p)| {
                        upper += p.basis_points();
                        (upper, index(v))
                    })
                    .collect(),
            )
        }
    };
    CompiledRule { conditions, serve }
}

/// Evaluates flag `key` in `env` for `ctx`. When `expected` is given and the flag's type differs, the
/// answer is TYPE_MISMATCH, as OpenFeature's typed getters expect.
#[inline]
pub fn evaluate<'s>(
    snapshot: &'s Snapshot,
    key: &str,
    env: &str,
    ctx: &Context,
    expected: Option<FlagType>,
) -> Resolution<'s> {
    let Some(flag) = snapshot.flags.get(key) else {
        return Resolution::error(ErrorCode::FlagNotFound, "flag not found");
    };
    if expected.is_some_and(|t| t != flag.kind) {
        return Resolution::error(
            ErrorCode::TypeMismatch,
            "flag has a different type than requested",
        );
    }
    let Some((_, state)) = flag.envs.iter().find(|(e, _)| **e == *env) else {
        return Resolution::error(
            ErrorCode::General,
            "environment is not declared in the policy",
        );
    };
    let serve = |idx: usize, reason: Reason, arm: Option<Arm>| {
        let (name, value) = &flag.variants[idx];
        Resolution {
            value: Some(value),
            variant: Some(name),
            reason,
            error: None,
            arm,

            counter: state.counts.get(idx),
        }
    };
    if let Some((variant, reason)) = state.fixed {
        return serve(variant, reason, None);
    }
    for rule in &state.rules {
        let matched = rule
            .conditions
            .iter()
            .all(|c| ctx.get(&c.attr).is_some_and(|v| c.test.matches(v)));
        if !matched {
            continue;
        }
        return match &rule.serve {
            CompiledServe::Variant(v) => serve(*v, Reason::TargetingMatch, None),
            CompiledServe::Split(arms) => {
                let Some(tk) = ctx.targeting_key.as_deref() else {
                    return Resolution::error(
                        ErrorCode::TargetingKeyMissing,
                        "a percentage split needs context.targetingKey",
                    );
                };
                let b = bucket(&flag.salt, tk);
                let idx = arms
                    .iter()
                    .find(|(upper, _)| b < *upper)
                    .map_or(arms[arms.len() - 1].1, |(_, v)| *v);
                serve(idx, Reason::Split, None)
            }
        };
    }
    if let Some(r) = &state.rollout {
        let Some(tk) = ctx.targeting_key.as_deref() else {
            return Resolution::error(
                ErrorCode::TargetingKeyMissing,
                "a canary rollout is running: context.targetingKey is needed to place the user",
            );
        };
        let b = bucket(&flag.salt, tk);
        let c = r.canary_bp;
        // Balanced arms: canary [0, c), control [5000, 5000 + c) on the last-known-good variant. As c
        // grows both ranges only gain units, so nobody changes arm and evidence accumulates.
        return if b < c {
            serve(r.candidate, Reason::Split, Some(Arm::Canary))
        } else if c <= 5_000 && (5_000..5_000 + c).contains(&b) {
            serve(r.lkg, Reason::Split, Some(Arm::Control))
        } else {
            serve(r.lkg, Reason::Default, Some(Arm::Excluded))
        };
    }
    // Rules exist and none matched (the rule-free case is `fixed`): the default variant, by default.
    serve(state.default, Reason::Default, None)
}
