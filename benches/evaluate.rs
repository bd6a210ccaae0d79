//! Evaluation speed against unleash-yggdrasil, Unleash's Rust evaluation engine, on three equivalent
//! flags: an on/off toggle, a 50 % sticky rollout, and four conditions in front of a 50 % rollout.
//!
//! Each case is one criterion group, so both engines run in the same process and the same run:
//! `eval/<case>/flagwarden` and `eval/<case>/yggdrasil`. Contexts for 1000 users are built before
//! timing and cycled through, so the timed loop holds one evaluation and nothing else. Before timing,
//! every case checks that both engines give the same kind of answer (a matching user is on, about
//! half the users are in a 50 % split), so the comparison is between equal amounts of work.
//!
//! On the yggdrasil side the call is `EngineState::is_enabled(name, &context, &None)`: like
//! `evaluate`, it takes a flag name and a caller's context and decides the flag for that context,
//! and it neither counts metrics nor allocates a variant answer. `get_variant` would also clone
//! variant names into a new `String`, and `resolve` runs the strategies twice (once for `enabled`,
//! once inside `get_variant`), both work that `evaluate` does not do.
//!
//! Run with `cargo bench --bench evaluate -- --warm-up-time 1 --measurement-time 3`.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value, json};
use unleash_types::client_features::{ClientFeatures, Context as UnleashContext};
use unleash_yggdrasil::EngineState;

use flagwarden::domain::eval::{self, Snapshot, evaluate};
use flagwarden::domain::flag::{ChangeType, EnvState, Flag, FlagKey, FlagStatus, Variants};
use flagwarden::domain::rules::{Rule, RuleSpec};

const USERS: usize = 1000;
const ENV: &str = "production";

const ON_OFF: &str = "on-off";
const ROLLOUT: &str = "rollout-50";
const TARGETED: &str = "targeted-rollout-50";

/// One user, as each engine wants its context.
struct User {
    flagwarden: eval::Context,
    yggdrasil: UnleashContext,
}

/// Users who all match the four conditions of the targeted flag, with varied values.
fn users() -> Vec<User> {
    let countries = ["DE", "FR", "NL"];
    let plans = ["pro", "team", "enterprise"];
    (0..USERS)
        .map(|i| {
            let id = format!("user-{i}");
            let attrs = [
                ("email", format!("{id}@example.com")),
                ("country", countries[i % countries.len()].to_owned()),
                ("appVersion", format!("2.{}.{}", i % 10, i % 7)),
                ("plan", plans[i % plans.len()].to_owned()),
            ];
            user(&id, &attrs)
        })
        .collect()
}

fn user(id: &str, attrs: &[(&str, String)]) -> User {
    let attributes: Map<String, Value> = attrs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
        .collect();
    let properties: HashMap<String, String> = attrs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    User {
        flagwarden: eval::Context {
            targeting_key: Some(id.to_owned()),
            attributes,
        },
        yggdrasil: UnleashContext {
            user_id: Some(id.to_owned()),
            properties: Some(properties),
            ..UnleashContext::default()
        },
    }
}

/// A boolean flag, enabled in production, with the given targeting rules (JSON `RuleSpec`s).
fn flag(key: &str, rules: Value) -> Flag {
    let variants = Variants::boolean();
    let specs: Vec<RuleSpec> = serde_json::from_value(rules).expect("rule specs");
    let rules = Rule::parse_all(&specs, &variants).expect("valid rules");
    let t = jiff::Timestamp::UNIX_EPOCH;
    let production = EnvState {
        enabled: true,
        default_variant: "on".into(),
        rules,
        pinned_variant: None,
        prerequisite: None,
        updated_at: t,
    };
    Flag {
        key: FlagKey::parse(key).expect("valid key"),
        description: String::new(),
        change_type: ChangeType::Code,
        variants,
        off_variant: "off".into(),
        // With rules, a user no rule matches gets "off", as in Unleash where no strategy matched.
        default_variant: "on".into(),
        owner: None,
        lifetime_days: None,
        tags: Vec::new(),
        salt: key.into(),
        status: FlagStatus::Active,
        version: 1,
        created_at: t,
        updated_at: t,
        envs: BTreeMap::from([(ENV.to_owned(), production)]),
    }
}

fn flagwarden_snapshot() -> Snapshot {
    let half = json!([{"variant": "on", "percent": 50}, {"variant": "off", "percent": 50}]);
    let mut targeted = flag(
        TARGETED,
        json!([{
            "conditions": [
                {"attribute": "email", "op": "ends_with", "values": ["@example.com"]},
                {"attribute": "country", "op": "in", "values": ["DE", "FR", "NL"]},
                {"attribute": "appVersion", "op": "semver_gte", "values": ["2.0.0"]},
                {"attribute": "plan", "op": "not_equals", "values": ["free"]}
            ],
            "serve": {"split": half}
        }]),
    );
    targeted
        .envs
        .get_mut(ENV)
        .expect("production")
        .default_variant = "off".into();
    let flags = [
        flag(ON_OFF, json!([])),
        flag(ROLLOUT, json!([{"serve": {"split": half}}])),
        targeted,
    ];
    Snapshot::compile(&flags, &[], None)
}

fn yggdrasil_engine() -> EngineState {
    let rollout = |group: &str| json!({"rollout": "50", "stickiness": "default", "groupId": group});
    let features: ClientFeatures = serde_json::from_value(json!({
        "version": 2,
        "features": [
            {"name": ON_OFF, "enabled": true, "strategies": [{"name": "default", "parameters": {}}]},
            {"name": ROLLOUT, "enabled": true, "strategies": [{"name": "flexibleRollout", "parameters": rollout(ROLLOUT)}]},
            {"name": TARGETED, "enabled": true, "strategies": [{
                "name": "flexibleRollout",
                "parameters": rollout(TARGETED),
                "constraints": [
                    {"contextName": "email", "operator": "STR_ENDS_WITH", "values": ["@example.com"]},
                    {"contextName": "country", "operator": "IN", "values": ["DE", "FR", "NL"]},
                    {"contextName": "appVersion", "operator": "SEMVER_GTE", "value": "2.0.0"},
                    {"contextName": "plan", "operator": "NOT_IN", "values": ["free"]}
                ]
            }]}
        ]
    }))
    .expect("client features");
    let engine = EngineState::default();
    let warnings = engine.apply_client_features(features);
    assert!(
        warnings.is_none(),
        "yggdrasil could not compile a toggle: {warnings:?}"
    );
    engine
}

fn flagwarden_on(snapshot: &Snapshot, key: &str, user: &User) -> bool {
    let r = evaluate(snapshot, key, ENV, &user.flagwarden, None);
    assert!(r.error.is_none(), "{key}: {:?}", r.error);
    r.value == Some(&Value::Bool(true))
}

fn yggdrasil_on(engine: &EngineState, key: &str, user: &User) -> bool {
    engine.is_enabled(key, &user.yggdrasil, &None)
}

/// Checks, outside the timing, that both engines answer alike: how many of `users` are on, within
/// `expect_on`, and that a user who fails one condition is off in both.
fn check_answers(
    snapshot: &Snapshot,
    engine: &EngineState,
    key: &str,
    users: &[User],
    expect_on: std::ops::RangeInclusive<usize>,
) {
    let fw = users
        .iter()
        .filter(|u| flagwarden_on(snapshot, key, u))
        .count();
    let yg = users
        .iter()
        .filter(|u| yggdrasil_on(engine, key, u))
        .count();
    assert!(
        expect_on.contains(&fw),
        "{key}: flagwarden serves on to {fw} of {} users, expected {expect_on:?}",
        users.len()
    );
    assert!(
        expect_on.contains(&yg),
        "{key}: yggdrasil is on for {yg} of {} users, expected {expect_on:?}",
        users.len()
    );
}

fn bench_case(
    c: &mut Criterion,
    case: &str,
    key: &str,
    snapshot: &Snapshot,
    engine: &EngineState,
    users: &[User],
) {
    let mut group = c.benchmark_group(format!("eval/{case}"));
    group.bench_function("flagwarden", |b| {
        let mut next = users.iter().cycle();
        b.iter(|| {
            let user = next.next().expect("cycle never ends");
            black_box(evaluate(
                snapshot,
                black_box(key),
                black_box(ENV),
                &user.flagwarden,
                None,
            ))
        })
    });
    group.bench_function("yggdrasil", |b| {
        let mut next = users.iter().cycle();
        b.iter(|| {
            let user = next.next().expect("cycle never ends");
            black_box(engine.is_enabled(black_box(key), &user.yggdrasil, &None))
        })
    });
    group.finish();
}

fn evaluation(c: &mut Criterion) {
    let snapshot = flagwarden_snapshot();
    let engine = yggdrasil_engine();
    let users = users();

    check_answers(&snapshot, &engine, ON_OFF, &users, USERS..=USERS);
    check_answers(&snapshot, &engine, ROLLOUT, &users, 450..=550);
    check_answers(&snapshot, &engine, TARGETED, &users, 450..=550);
    // The targeted flag really tests its conditions: failing any one of them turns it off in both.
    let failing = [
        ("email", "x@example.org"),
        ("country", "US"),
        ("appVersion", "1.9.9"),
        ("plan", "free"),
    ];
    for (attr, bad) in failing {
        let outsiders: Vec<User> = (0..USERS)
            .map(|i| {
                let mut attrs = vec![
                    ("email", format!("user-{i}@example.com")),
                    ("country", "DE".to_owned()),
                    ("appVersion", "2.1.0".to_owned()),
                    ("plan", "pro".to_owned()),
                ];
                attrs
                    .iter_mut()
                    .filter(|(k, _)| *k == attr)
                    .for_each(|(_, v)| *v = bad.to_owned());
                user(&format!("user-{i}"), &attrs)
            })
            .collect();
        check_answers(&snapshot, &engine, TARGETED, &outsiders, 0..=0);
    }

    bench_case(c, "on_off", ON_OFF, &snapshot, &engine, &users);
    bench_case(c, "rollout_50", ROLLOUT, &snapshot, &engine, &users);
    bench_case(
        c,
        "conditions_4_rollout_50",
        TARGETED,
        &snapshot,
        &engine,
        &users,
    );
}

criterion_group!(benches, evaluation);
criterion_main!(benches);
