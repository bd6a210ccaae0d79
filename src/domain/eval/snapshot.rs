//! The compiled `Snapshot`: every flag's variants, environments, rules and live rollout resolved to
//! indices once, so `evaluate` only compares and hashes. A new snapshot shares the flags it did not
//! touch with the previous one and carries over its evaluation counters.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::condition::{Attr, CompiledCondition, Test};
use super::resolution::Reason;
use crate::domain::bucket::Percent;
use crate::domain::flag::{Flag, FlagStatus};
use crate::domain::rules::{ConditionSpec, Rule, Serve};
use crate::domain::variant::FlagType;

/// A rollout as evaluation needs it: who is in the canary right now.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveRollout {
    pub flag: String,
    pub env: String,
    pub candidate: String,
    pub lkg: String,
    pub percent: Percent,
    /// At a segment step: the conditions a unit must match to be in either arm.
    pub audience: Option<Vec<ConditionSpec>>,
    /// The bucketing salt when not the flag's own (a coordinated release's).
    pub salt: Option<String>,
    /// What the units in it are served (canary, shadow run, experiment).
    pub shape: LiveShape,
}

impl LiveRollout {
    /// The salt this rollout buckets units by: a release group's, shared by its members, else the
    /// flag's own. Anything that places units in arms outside `evaluate` (OTLP attribution, a flagd
    /// export) buckets by this, and at a segment step puts a unit in either arm only when it
    /// matches every condition of `audience` (everyone else: the last-known-good, reason DEFAULT).
    pub fn bucket_salt<'a>(&'a self, flag_salt: &'a str) -> &'a str {
        self.salt.as_deref().unwrap_or(flag_salt)
    }
}

/// What the rollout's units are served, beside who is in it.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum LiveShape {
    /// The canary arm gets the candidate.
    #[default]
    Canary,
    /// Everyone gets the last-known-good; the canary arm is told to run the candidate unseen.
    Shadow,
    /// The units within `percent` are split over these variants by weight (basis points of the
    /// experiment, summing to 10 000).
    Experiment(Vec<(String, u16)>),
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
    pub(super) flags: HashMap<Box<str>, Arc<CompiledFlag>, foldhash::fast::RandomState>,
    /// One more than the snapshot it was built from: within a process, equal versions mean equal
    /// answers for every context (caches key on it).
    version: u64,
    /// The audit sequence number of the last committed event this snapshot reflects: what a flag
    /// definition exported from it (`domain::flagd`) names as its version. Set by the application,
    /// which alone knows it; 0 until then.
    audit_seq: i64,
}

/// One flag as it was compiled, with the live rollouts of its environments: what a generator of
/// flag definitions for another engine (`domain::flagd`) reads, so it sees exactly what `evaluate`
/// serves.
#[derive(Debug, Clone, Copy)]
pub struct FlagSource<'s> {
    pub flag: &'s Flag,
    pub rollouts: &'s [LiveRollout],
}

#[derive(Debug)]
pub(super) struct CompiledFlag {
    /// The definition and live rollouts it was compiled from (see `FlagSource`).
    pub(super) source: Flag,
    pub(super) rollouts: Vec<LiveRollout>,
    pub(super) kind: FlagType,
    pub(super) variants: Vec<(Box<str>, Value)>,
    pub(super) salt: Box<str>,
    pub(super) envs: Vec<(Box<str>, CompiledEnv)>,
}

#[derive(Debug)]
pub(super) struct CompiledEnv {
    /// The answer when it cannot depend on the context (pinned, off, or on without rules or rollout),
    /// decided once at compile time.
    pub(super) fixed: Option<(usize, Reason)>,
    pub(super) default: usize,
    pub(super) rules: Vec<CompiledRule>,
    pub(super) rollout: Option<CompiledRollout>,
    /// (flag, variant): on only where that flag serves that variant here; elsewhere `off`.
    pub(super) prerequisite: Option<(Box<str>, Box<str>)>,
    pub(super) off: usize,
    pub(super) counts: Counts,
}

#[derive(Debug)]
pub(super) struct CompiledRollout {
    pub(super) candidate: usize,
    pub(super) lkg: usize,
    pub(super) canary_bp: u16,
    /// A segment step's audience: outside it, a unit is in neither arm.
    pub(super) audience: Option<Vec<CompiledCondition>>,
    pub(super) salt: Option<Box<str>>,
    pub(super) shape: CompiledShape,
}

#[derive(Debug)]
pub(super) enum CompiledShape {
    Canary,
    Shadow,
    /// (exclusive cumulative upper bound in basis points of the experiment, variant index)
    Experiment(Vec<(u16, usize)>),
}

#[derive(Debug)]
pub(super) struct CompiledRule {
    pub(super) conditions: Vec<CompiledCondition>,
    pub(super) serve: CompiledServe,
}

#[derive(Debug)]
pub(super) enum CompiledServe {
    Variant(usize),
    /// (exclusive cumulative upper bound in basis points, variant index)
    Split(Vec<(u16, usize)>),
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
            audit_seq: previous.map_or(0, |p| p.audit_seq),
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
            audit_seq: self.audit_seq,
        }
    }

    /// This snapshot, known to reflect the audit trail up to event `seq`.
    pub fn at_audit_seq(mut self, seq: i64) -> Snapshot {
        self.audit_seq = seq;
        self
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// The audit sequence number this snapshot reflects (see `at_audit_seq`).
    pub fn audit_seq(&self) -> i64 {
        self.audit_seq
    }

    /// Every flag as it was compiled, in key order.
    pub fn sources(&self) -> Vec<FlagSource<'_>> {
        let mut all: Vec<FlagSource<'_>> = self
            .flags
            .values()
            .map(|f| FlagSource {
                flag: &f.source,
                rollouts: &f.rollouts,
            })
            .collect();
        all.sort_unstable_by(|a, b| a.flag.key.as_str().cmp(b.flag.key.as_str()));
        all
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
                    audience: r
                        .audience
                        .as_ref()
                        .map(|cs| cs.iter().map(compile_condition).collect()),
                    salt: r.salt.as_deref().map(Box::from),
                    shape: match &r.shape {
                        LiveShape::Canary => CompiledShape::Canary,
                        LiveShape::Shadow => CompiledShape::Shadow,
                        LiveShape::Experiment(arms) => {
                            let mut upper = 0u16;
                            CompiledShape::Experiment(
                                arms.iter()
                                    .map(|(v, w)| {
                                        upper = upper.saturating_add(*w);
                                        (upper, index(v))
                                    })
                                    .collect(),
                            )
                        }
                    },
                });
            let counts = carried_counts(flag, env, previous);
            let default = index(&state.default_variant);
            let fixed = match (state.pinned_variant.as_deref(), state.enabled) {
                (Some(pin), _) => Some((index(pin), Reason::Static)),
                (None, false) => Some((off, Reason::Disabled)),
                (None, true)
                    if state.rules.is_empty()
                        && rollout.is_none()
                        && state.prerequisite.is_none() =>
                {
                    Some((default, Reason::Static))
                }
                (None, true) => None,
            };
            let compiled = CompiledEnv {
                fixed,
                default,
                rules,
                rollout,
                prerequisite: state
                    .prerequisite
                    .as_ref()
                    .map(|p| (Box::from(p.flag.as_str()), Box::from(p.variant.as_str()))),
                off,
                counts,
            };
            (Box::<str>::from(env.as_str()), compiled)
        })
        .collect();
    CompiledFlag {
        source: flag.clone(),
        rollouts: rollouts
            .iter()
            .filter(|r| r.flag == flag.key.as_str())
            .cloned()
            .collect(),
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

fn compile_condition(c: &ConditionSpec) -> CompiledCondition {
    CompiledCondition {
        attr: if c.attribute == "targetingKey" {
            Attr::TargetingKey
        } else {
            Attr::Named(c.attribute.as_str().into())
        },
        test: Test::compile(c),
    }
}

fn compile_rule(rule: &Rule, index: &impl Fn(&str) -> usize) -> CompiledRule {
    let conditions = rule.conditions().iter().map(compile_condition).collect();
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
