//! Properties of the pure core, checked with proptest on generated inputs:
//! - bucketing is stable, and monotone in the percentage (who is in at p stays in at any p' > p);
//! - bucketing is uniform: a chi-square test over 100,000 keys;
//! - a stricter policy never allows what a looser one denies, for any agent action and usage;
//! - evaluation never panics, and always answers, for any context and any valid targeting.

use std::collections::BTreeMap;

use flagwarden::domain::bucket::{Percent, bucket};
use flagwarden::domain::eval::{Context, Snapshot, evaluate};
use flagwarden::domain::flag::{ChangeType, EnvState, Flag, FlagKey, FlagStatus, Variants};
use flagwarden::domain::policy::{Action, Actor, Decision, Policy, Usage, decide};
use flagwarden::domain::rules::{Rule, RuleSpec};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use serde_json::{Value, json};

/// `cases` runs, with no failure files written into the source tree (a failure prints its input).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn in_rollout(salt: &str, key: &str, p: Percent) -> bool {
    bucket(salt, key) < p.basis_points()
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn bucketing_is_stable_and_monotone_in_the_percentage(
        salt in "[a-z0-9.-]{1,30}",
        key in ".{0,64}",
        a in 0u16..=10_000,
        b in 0u16..=10_000,
    ) {
        let first = bucket(&salt, &key);
        prop_assert_eq!(first, bucket(&salt, &key), "the same key lands in the same bucket");
        prop_assert!(first < 10_000);
        let (lo, hi) = (a.min(b), a.max(b));
        let (lo, hi) = (Percent::from_basis_points(lo).unwrap(), Percent::from_basis_points(hi).unwrap());
        if in_rollout(&salt, &key, lo) {
            prop_assert!(in_rollout(&salt, &key, hi), "in at {lo} but out at {hi}");
        }
    }
}

#[test]
fn bucketing_is_uniform_over_100_000_keys() {
    const KEYS: usize = 100_000;
    const BINS: usize = 100;
    for salt in ["new-checkout", "dark-mode"] {
        let mut counts = [0u32; BINS];
        for i in 0..KEYS {
            counts[bucket(salt, &format!("user-{i}")) as usize * BINS / 10_000] += 1;
        }
        let expected = (KEYS / BINS) as f64;
        let chi2: f64 = counts
            .iter()
            .map(|&c| (f64::from(c) - expected).powi(2) / expected)
            .sum();
        // The 0.999 quantile of chi-square with 99 degrees of freedom.
        use statrs::distribution::{ChiSquared, ContinuousCDF};
        let critical = ChiSquared::new((BINS - 1) as f64)
            .unwrap()
            .inverse_cdf(0.999);
        assert!(
            chi2 < critical,
            "salt {salt}: chi-square {chi2:.1} over {BINS} bins is above the 0.1 % critical value {critical:.1}: {counts:?}"
        );
        // The test has teeth: a bucketing that skews by 5 % in one half is rejected.
        let skewed: f64 = counts
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let c = f64::from(c) * if i < BINS / 2 { 1.05 } else { 0.95 };
                (c - expected).powi(2) / expected
            })
            .sum();
        assert!(
            skewed > critical,
            "a 5 % skew must fail the same test ({skewed:.1})"
        );
    }
}

// ---- stricter policies ----------------------------------------------------------------------------

const ACTIONS: [&str; 5] = [
    "set_targeting",
    "start_canary",
    "advance_canary",
    "record_signals",
    "rollback",
];
const STEPS: [f64; 5] = [1.0, 5.0, 25.0, 50.0, 100.0];

#[derive(Debug, Clone)]
struct Bounds {
    agent_may: Vec<bool>,
    max_auto: f64,
    max_increase: f64,
    dwell_min: i64,
    start_approval: bool,
    propose_rollback: bool,
    advances_per_hour: Option<u32>,
    rollouts_per_day: Option<u32>,
}

impl Bounds {
    fn toml(&self) -> String {
        let may: Vec<String> = ACTIONS
            .iter()
            .zip(&self.agent_may)
            .filter(|(_, m)| **m)
            .map(|(a, _)| format!("{a:?}"))
            .collect();
        let mut t = format!(
            "version = 1\n[environments.production]\nagent_may = [{}]\nsteps = [1, 5, 25, 50, 100]\n\
             max_auto_percent = {}\nmax_step_increase = {}\nmin_dwell = \"{}m\"\nrequires_start_approval = {}\n\
             agent_rollback = \"{}\"\n",
            may.join(", "),
            self.max_auto,
            self.max_increase,
            self.dwell_min,
            self.start_approval,
            if self.propose_rollback {
                "propose"
            } else {
                "allow"
            }
        );
        if self.advances_per_hour.is_some() || self.rollouts_per_day.is_some() {
            t.push_str("[environments.production.rate_limits]\n");
            if let Some(n) = self.advances_per_hour {
                t.push_str(&format!("advances_per_hour = {n}\n"));
            }
            if let Some(n) = self.rollouts_per_day {
                t.push_str(&format!("rollouts_per_day = {n}\n"));
            }
        }
        t
    }
}

fn percent() -> impl Strategy<Value = f64> {
    prop::sample::select(STEPS.to_vec())
}

fn limit() -> impl Strategy<Value = Option<u32>> {
    prop::option::of(0u32..10)
}

fn bounds() -> impl Strategy<Value = Bounds> {
    (
        prop::collection::vec(any::<bool>(), ACTIONS.len()),
        percent(),
        percent(),
        0i64..120,
        any::<bool>(),
        any::<bool>(),
        limit(),
        limit(),
    )
        .prop_map(
            |(
                agent_may,
                max_auto,
                max_increase,
                dwell_min,
                start_approval,
                propose_rollback,
                advances_per_hour,
                rollouts_per_day,
            )| Bounds {
                agent_may,
                max_auto,
                max_increase,
                dwell_min,
                start_approval,
                propose_rollback,
                advances_per_hour,
                rollouts_per_day,
            },
        )
}

/// A loose policy and one at least as strict on every bound.
fn loose_and_strict() -> impl Strategy<Value = (Bounds, Bounds)> {
    (bounds(), bounds()).prop_map(|(loose, tighten)| {
        let min_opt = |a: Option<u32>, b: Option<u32>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let strict = Bounds {
            agent_may: loose
                .agent_may
                .iter()
                .zip(&tighten.agent_may)
                .map(|(l, t)| *l && *t)
                .collect(),
            max_auto: loose.max_auto.min(tighten.max_auto),
            max_increase: loose.max_increase.min(tighten.max_increase),
            dwell_min: loose.dwell_min.max(tighten.dwell_min),
            start_approval: loose.start_approval || tighten.start_approval,
            propose_rollback: loose.propose_rollback || tighten.propose_rollback,
            advances_per_hour: min_opt(loose.advances_per_hour, tighten.advances_per_hour),
            rollouts_per_day: min_opt(loose.rollouts_per_day, tighten.rollouts_per_day),
        };
        (loose, strict)
    })
}

fn rank(d: &Decision) -> u8 {
    match d {
        Decision::Deny { .. } => 0,
        Decision::NeedsApproval { .. } => 1,
        Decision::Allow => 2,
    }
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn a_stricter_policy_never_allows_what_a_looser_one_denies(
        (loose, strict) in loose_and_strict(),
        which in 0usize..5,
        from in percent(),
        to in percent(),
        first in percent(),
        dwell_min in 0i64..180,
        advances in 0u32..12,
        rollouts in 0u32..12,
    ) {
        let parse = |b: &Bounds| Policy::parse("flagwarden.toml", &b.toml()).unwrap_or_else(|e| panic!("{e}\n{}", b.toml()));
        let (lp, sp) = (parse(&loose), parse(&strict));
        let pct = |p: f64| Percent::from_percent(p).unwrap();
        let steps = [pct(first), Percent::FULL];
        let action = match which {
            0 => Action::SetTargeting { env: "production" },
            1 => Action::StartCanary { env: "production", steps: &steps, segments: &[], change_type: flagwarden::domain::flag::ChangeType::Code, checklist: None },
            2 => Action::AdvanceCanary { env: "production", from: pct(from), to: pct(to.max(from)), dwell: SignedDuration::from_mins(dwell_min) },
            3 => Action::RecordSignals { env: "production" },
            _ => Action::Rollback { env: "production" },
        };
        let usage = Usage { advances_last_hour: advances, rollouts_started_last_day: rollouts, ..Usage::default() };
        let agent = Actor::Agent("agent".into());
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let l = decide(&lp, &agent, &action, &usage, now);
        let s = decide(&sp, &agent, &action, &usage, now);
        prop_assert!(rank(&s) <= rank(&l), "strict {s:?} is looser than loose {l:?} for {action:?}\nloose:\n{}\nstrict:\n{}", loose.toml(), strict.toml());
    }
}

// ---- evaluation never panics --------------------------------------------------------------------

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        prop::sample::select(vec!["1.2.3", "v2.0.0-rc.1", "@corp.com", "user-1", ""])
            .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn context() -> impl Strategy<Value = Value> {
    let attrs = prop::sample::select(vec![
        "targetingKey",
        "email",
        "version",
        "plan",
        "age",
        "country",
    ]);
    prop::collection::btree_map(attrs.prop_map(str::to_owned), json_value(), 0..6)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn rule() -> impl Strategy<Value = Value> {
    let ops = prop::sample::select(vec![
        "equals",
        "not_equals",
        "in",
        "not_in",
        "starts_with",
        "ends_with",
        "contains",
        "gt",
        "gte",
        "lt",
        "lte",
        "semver_eq",
        "semver_gt",
        "semver_gte",
        "semver_lt",
        "semver_lte",
    ]);
    let attrs = prop::sample::select(vec!["targetingKey", "email", "version", "plan", "age"]);
    let condition = (attrs, ops, prop::collection::vec(json_value(), 1..3))
        .prop_map(|(a, op, values)| json!({"attribute": a, "op": op, "values": values}));
    let serve = prop_oneof![
        prop::sample::select(vec!["on", "off"]).prop_map(|v| json!({"variant": v})),
        (0u32..=100).prop_map(|p| json!({"split": [{"variant": "on", "percent": p}, {"variant": "off", "percent": 100 - p}]})),
    ];
    (prop::collection::vec(condition, 0..3), serve)
        .prop_map(|(conditions, serve)| json!({"conditions": conditions, "serve": serve}))
}

fn flag(rules: Vec<Rule>, enabled: bool) -> Flag {
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    let mut envs = BTreeMap::new();
    envs.insert(
        "production".to_owned(),
        EnvState {
            enabled,
            default_variant: "off".into(),
            rules,
            pinned_variant: None,
            prerequisite: None,
            updated_at: now,
        },
    );
    Flag {
        key: FlagKey::parse("f").unwrap(),
        description: "d".into(),
        change_type: ChangeType::Code,
        variants: Variants::boolean(),
        off_variant: "off".into(),
        default_variant: "off".into(),
        owner: None,
        lifetime_days: None,
        tags: vec![],
        salt: "f".into(),
        status: FlagStatus::Active,
        version: 1,
        created_at: now,
        updated_at: now,
        envs,
    }
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn evaluation_never_panics_and_always_answers(
        specs in prop::collection::vec(rule(), 0..4),
        ctx in context(),
        enabled in any::<bool>(),
        env in prop::sample::select(vec!["production", "staging"]),
        key in prop::sample::select(vec!["f", "missing"]),
    ) {
        let variants = Variants::boolean();
        // Rules the parser refuses never reach a snapshot; the rest must evaluate for any context.
        let rules: Vec<Rule> = specs
            .iter()
            .filter_map(|s| serde_json::from_value::<RuleSpec>(s.clone()).ok())
            .filter_map(|s| Rule::parse("rules[0]", &s, &variants).ok())
            .collect();
        let snapshot = Snapshot::compile(&[flag(rules, enabled)], &[], None);
        if let Ok(context) = Context::from_json(&ctx) {
            let r = evaluate(&snapshot, key, env, &context, None);
            // Always an answer: a value, or an error that sends the caller to its code default.
            prop_assert!(r.value.is_some() != r.error.is_some(), "{r:?}");
            if key != "f" || env != "production" {
                prop_assert!(r.value.is_none(), "no value for an unknown flag or environment");
            }
        }
    }
}
