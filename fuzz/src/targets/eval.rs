//! Evaluation contexts and targeting rules: any JSON case builds variants, rules (through their wire
//! form and `Rule::parse`) and a live rollout; whatever the parsers accept compiles into a snapshot
//! that answers every context with a value or an error, never a panic.

use std::collections::BTreeMap;

use flagwarden::domain::bucket::Percent;
use flagwarden::domain::eval::{Context, LiveRollout, Snapshot, evaluate};
use flagwarden::domain::flag::{
    ChangeType, EnvState, Flag, FlagKey, FlagStatus, FlagType, Variants,
};
use flagwarden::domain::rules::{Rule, RuleSpec};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
struct Case {
    #[serde(default)]
    variants: Option<Map<String, Value>>,
    #[serde(default)]
    rules: Vec<Value>,
    #[serde(default)]
    contexts: Vec<Value>,
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    pinned: Option<String>,
    /// (candidate, last known good, percent)
    #[serde(default)]
    rollout: Option<(String, String, f64)>,
    #[serde(default)]
    salt: Option<String>,
}

/// One input: panics on a broken invariant, like the fuzz target it serves.
pub fn run(data: &[u8]) {
    let Ok(case) = serde_json::from_slice::<Case>(data) else {
        return;
    };
    let variants = match &case.variants {
        Some(map) => match Variants::parse(map) {
            Ok(v) => v,
            Err(_) => return,
        },
        None => Variants::boolean(),
    };
    let names: Vec<String> = variants.names().map(str::to_owned).collect();
    let specs: Vec<RuleSpec> = case
        .rules
        .iter()
        .filter_map(|r| serde_json::from_value(r.clone()).ok())
        .collect();
    let Ok(rules) = Rule::parse_all(&specs, &variants) else {
        return;
    };
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    let first = names[0].clone();
    let last = names[names.len() - 1].clone();
    let pinned = case.pinned.filter(|p| names.contains(p));
    let mut envs = BTreeMap::new();
    envs.insert(
        "production".to_owned(),
        EnvState {
            enabled: case.enabled,
            default_variant: first.clone(),
            rules,
            pinned_variant: pinned,
            prerequisite: None,
            updated_at: now,
        },
    );
    let flag = Flag {
        key: FlagKey::parse("f").unwrap(),
        description: "d".into(),
        change_type: ChangeType::Code,
        variants,
        off_variant: last,
        default_variant: first,
        owner: None,
        lifetime_days: None,
        tags: vec![],
        salt: case.salt.unwrap_or_else(|| "f".into()),
        status: FlagStatus::Active,
        version: 1,
        created_at: now,
        updated_at: now,
        envs,
    };
    let rollouts: Vec<LiveRollout> = case
        .rollout
        .into_iter()
        .filter(|(c, l, _)| names.contains(c) && names.contains(l))
        .filter_map(|(candidate, lkg, p)| {
            Some(LiveRollout {
                flag: "f".into(),
                env: "production".into(),
                candidate,
                lkg,
                percent: Percent::from_percent(p).ok()?,
                audience: None,
                salt: None,
                shape: Default::default(),
            })
        })
        .collect();
    let snapshot = Snapshot::compile(std::slice::from_ref(&flag), &rollouts, None);
    let next = snapshot.with_flag("f", Some(&flag), &rollouts);
    for value in &case.contexts {
        let Ok(ctx) = Context::from_json(value) else {
            continue;
        };
        for snap in [&snapshot, &next] {
            for (key, env) in [("f", "production"), ("f", "staging"), ("g", "production")] {
                for expected in [
                    None,
                    Some(FlagType::Boolean),
                    Some(FlagType::String),
                    Some(FlagType::Object),
                ] {
                    let r = evaluate(snap, key, env, &ctx, expected);
                    assert!(r.value.is_some() != r.error.is_some(), "{r:?}");
                    if key != "f" || env != "production" {
                        assert!(
                            r.value.is_none(),
                            "a value for an unknown flag or environment"
                        );
                    }
                    r.record();
                }
            }
        }
    }
}
