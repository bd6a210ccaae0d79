//! Evaluation driven by the case table in tests/data/evaluation.json, plus the properties of bucketing
//! that users rely on: the same answer everywhere, monotone growth of a split, balanced canary arms.

use std::collections::BTreeMap;

use flagwarden::domain::bucket::{Percent, bucket, bucketing_hash, slot};
use flagwarden::domain::eval::{Arm, Context, LiveRollout, Snapshot, evaluate};
use flagwarden::domain::flag::{
    ChangeType, EnvState, Flag, FlagKey, FlagStatus, FlagType, Variants,
};
use flagwarden::domain::rules::{Rule, RuleSpec};
use jiff::Timestamp;
use serde_json::Value;

fn build(spec: &Value) -> (Flag, Option<LiveRollout>) {
    let key = spec["key"].as_str().unwrap();
    let variants = Variants::parse(spec["variants"].as_object().unwrap()).unwrap();
    let env = &spec["env"];
    let rules: Vec<RuleSpec> = serde_json::from_value(env["rules"].clone()).unwrap();
    let state = EnvState {
        enabled: env["enabled"].as_bool().unwrap(),
        default_variant: env["default"].as_str().unwrap().into(),
        rules: Rule::parse_all(&rules, &variants).unwrap(),
        pinned_variant: env["pinned"].as_str().map(Into::into),
        prerequisite: env
            .get("prerequisite")
            .map(|p| serde_json::from_value(p.clone()).unwrap()),
        updated_at: Timestamp::UNIX_EPOCH,
    };
    let rollout = spec.get("rollout").map(|r| LiveRollout {
        flag: key.into(),
        env: "production".into(),
        candidate: r["candidate"].as_str().unwrap().into(),
        lkg: r["lkg"].as_str().unwrap().into(),
        percent: Percent::from_percent(r["percent"].as_f64().unwrap()).unwrap(),
        audience: None,
        salt: None,
        shape: Default::default(),
    });
    let flag = Flag {
        key: FlagKey::parse(key).unwrap(),
        description: "test".into(),
        change_type: ChangeType::Code,
        off_variant: spec["off"].as_str().unwrap().into(),
        default_variant: env["default"].as_str().unwrap().into(),
        variants,
        owner: None,
        lifetime_days: None,
        tags: vec![],
        salt: key.into(),
        status: FlagStatus::Active,
        version: 1,
        created_at: Timestamp::UNIX_EPOCH,
        updated_at: Timestamp::UNIX_EPOCH,
        envs: BTreeMap::from([("production".to_owned(), state)]),
    };
    (flag, rollout)
}

fn snapshot() -> Snapshot {
    let data: Value = serde_json::from_str(include_str!("data/evaluation.json")).unwrap();
    let (flags, rollouts): (Vec<_>, Vec<_>) =
        data["flags"].as_array().unwrap().iter().map(build).unzip();
    Snapshot::compile(
        &flags,
        &rollouts.into_iter().flatten().collect::<Vec<_>>(),
        None,
    )
}

#[test]
fn case_table() {
    let snap = snapshot();
    let data: Value = serde_json::from_str(include_str!("data/evaluation.json")).unwrap();
    for case in data["cases"].as_array().unwrap() {
        let ctx = Context::from_json(&case["context"]).unwrap();
        let expected = case
            .get("expect_type")
            .map(|t| serde_json::from_value::<FlagType>(t.clone()).unwrap());
        let r = evaluate(
            &snap,
            case["flag"].as_str().unwrap(),
            "production",
            &ctx,
            expected,
        );
        let got = serde_json::json!({
            "variant": r.variant, "reason": r.reason, "error": r.error.map(|(c, _)| c), "value": r.value,
        });
        if let Some(e) = case.get("error") {
            assert_eq!(&got["error"], e, "{case}");
            assert!(
                r.value.is_none(),
                "an error leaves the caller's default: {case}"
            );
            continue;
        }
        assert_eq!(&got["variant"], &case["variant"], "{case} gave {got}");
        if let Some(reason) = case.get("reason") {
            assert_eq!(&got["reason"], reason, "{case} gave {got}");
        }
        if let Some(value) = case.get("value") {
            assert_eq!(&got["value"], value, "{case}");
        }
    }
}

#[test]
fn an_unknown_environment_is_an_error_not_a_panic() {
    let snap = snapshot();
    let r = evaluate(&snap, "static", "mars", &Context::default(), None);
    assert!(r.error.is_some() && r.value.is_none());
}

/// A value of tests/data/bucketing-vectors.json: `value`, or `repeat` written `times` times.
fn vector_value(v: &Value) -> String {
    match v.get("value") {
        Some(s) => s.as_str().unwrap().to_owned(),
        None => v["repeat"]
            .as_str()
            .unwrap()
            .repeat(v["times"].as_u64().unwrap() as usize),
    }
}

#[test]
fn buckets_follow_flagds_spec_vectors() {
    // The vectors come from flagd's reference hashing (Python: cbor2 canonical + mmh3), not from
    // this crate: a change here changes every user's bucket everywhere, and must never be silent.
    let data: Value = serde_json::from_str(include_str!("data/bucketing-vectors.json")).unwrap();
    let vectors = data["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 15);
    for v in vectors {
        let value = vector_value(v);
        assert_eq!(value.len() as u64, v["utf8_bytes"].as_u64().unwrap());
        let hash = bucketing_hash(&[&value]);
        assert_eq!(u64::from(hash), v["cbor_murmur3"].as_u64().unwrap(), "{v}");
        // The raw-string hash the JavaScript core uses differs, as the vectors record.
        assert_ne!(u64::from(hash), v["raw_murmur3"].as_u64().unwrap(), "{v}");
        for (weight, want) in v["slots"].as_object().unwrap() {
            let got = slot(hash, weight.parse().unwrap());
            assert_eq!(got, want.as_u64().unwrap(), "{weight} of {v}");
        }
        // flagwarden's own bucket is the slot among 10 000 of `salt "/" key`, whichever way the
        // value splits into salt and key.
        if let Some((salt, key)) = value.split_once('/') {
            assert_eq!(
                u64::from(bucket(salt, key)),
                v["slots"]["10000"].as_u64().unwrap(),
                "{value}"
            );
        }
    }
    // A reference murmur3 of another crate over the CBOR bytes agrees too.
    let value = "new-checkout/user-1";
    let mut bytes = vec![0x60 | value.len() as u8];
    bytes.extend_from_slice(value.as_bytes());
    let reference = murmur3::murmur3_32(&mut std::io::Cursor::new(bytes), 0).unwrap();
    assert_eq!(bucketing_hash(&["new-checkout/", "user-1"]), reference);
}

#[test]
fn splits_are_sticky_and_monotone_and_arms_balanced() {
    let snap = snapshot();
    let users: Vec<String> = (0..20_000).map(|i| format!("user-{i}")).collect();
    // 50/50 split lands near half.
    let on = users
        .iter()
        .filter(|u| {
            evaluate(&snap, "split", "production", &Context::with_key(u), None).variant
                == Some("on")
        })
        .count();
    assert!(
        (9_600..=10_400).contains(&on),
        "{on} of 20000 in a 50% split"
    );
    // A canary at 10 %: arms of equal size, the rest excluded.
    let mut arms = BTreeMap::new();
    for u in &users {
        let r = evaluate(&snap, "canary", "production", &Context::with_key(u), None);
        *arms.entry(format!("{:?}", r.arm.unwrap())).or_insert(0) += 1;
        if r.arm == Some(Arm::Canary) {
            assert_eq!(r.variant, Some("on"));
        } else {
            assert_eq!(r.variant, Some("off"));
        }
    }
    let (canary, control) = (arms["Canary"], arms["Control"]);
    assert!(
        (1_800..=2_200).contains(&canary) && (1_800..=2_200).contains(&control),
        "{arms:?}"
    );
    // Growing the canary from 5 % to 25 % only adds units: nobody leaves the canary or the control arm.
    let data: Value = serde_json::from_str(include_str!("data/evaluation.json")).unwrap();
    let (flag, rollout) = build(
        &data["flags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["key"] == "canary")
            .unwrap()
            .clone(),
    );
    let at = |p: f64| {
        let r = LiveRollout {
            percent: Percent::from_percent(p).unwrap(),
            ..rollout.clone().unwrap()
        };
        Snapshot::compile(std::slice::from_ref(&flag), &[r], None)
    };
    let (small, large) = (at(5.0), at(25.0));
    let mut grew = 0;
    for u in &users {
        let a = evaluate(&small, "canary", "production", &Context::with_key(u), None)
            .arm
            .unwrap();
        let b = evaluate(&large, "canary", "production", &Context::with_key(u), None)
            .arm
            .unwrap();
        if a != Arm::Excluded {
            assert_eq!(a, b, "{u} changed arm as the canary grew");
        } else if b != Arm::Excluded {
            grew += 1;
        }
    }
    assert!(
        grew > 6_000,
        "growing to 25 % brought {grew} more units into the arms"
    );
}

#[test]
fn evaluation_counts_follow_variant_names_across_recompiles() {
    let spec = serde_json::json!({"key": "counted", "variants": {"on": true, "off": false}, "off": "off",
        "env": {"enabled": true, "default": "on", "rules": []}});
    let (flag, _) = build(&spec);
    let count = |snap: &Snapshot| -> BTreeMap<String, u64> {
        snap.all_counts()
            .map(|(_, _, v, c)| (v.to_owned(), c.load(std::sync::atomic::Ordering::Relaxed)))
            .collect()
    };
    let first = Snapshot::compile(std::slice::from_ref(&flag), &[], None);
    let ctx = Context::with_key("u");
    (0..3).for_each(|_| evaluate(&first, "counted", "production", &ctx, None).record());

    // Same variants: the counters are shared, so a request still holding the old snapshot counts too.
    let second = Snapshot::compile(std::slice::from_ref(&flag), &[], Some(&first));
    evaluate(&first, "counted", "production", &ctx, None).record();
    assert_eq!(
        count(&second),
        BTreeMap::from([("on".into(), 4), ("off".into(), 0)])
    );

    // Other variants: unflushed counts move by name; a new variant starts at zero, none is misfiled.
    let mut changed = flag.clone();
    changed.variants = Variants::parse(
        serde_json::json!({"off": false, "on": true, "maybe": true})
            .as_object()
            .unwrap(),
    )
    .unwrap();
    let third = Snapshot::compile(std::slice::from_ref(&changed), &[], Some(&second));
    assert_eq!(
        count(&third),
        BTreeMap::from([("on".into(), 4), ("off".into(), 0), ("maybe".into(), 0)])
    );
}

/// A prerequisite: flag B's candidate only where flag A's candidate is, B's control drawn from the
/// same units, and B off (its off variant, in neither arm) everywhere else; a pin or `enabled =
/// false` on B still wins, and A itself unmet (off) turns B off for everyone.
#[test]
fn a_prerequisite_serves_bs_candidate_only_where_a_serves_its_own() {
    let spec = |key: &str, env: Value, percent: f64| {
        serde_json::json!({"key": key, "variants": {"on": true, "off": false}, "off": "off", "env": env,
            "rollout": {"candidate": "on", "lkg": "off", "percent": percent}})
    };
    let (a, ra) = build(&spec(
        "model",
        serde_json::json!({"enabled": true, "default": "off", "rules": []}),
        25.0,
    ));
    let (b, rb) = build(&spec(
        "prompt",
        serde_json::json!({"enabled": true, "default": "off", "rules": [],
            "prerequisite": {"flag": "model", "variant": "on"}}),
        50.0,
    ));
    let snap = Snapshot::compile(
        &[a.clone(), b.clone()],
        &[ra.clone().unwrap(), rb.clone().unwrap()],
        None,
    );
    let (mut both, mut b_control, mut outside) = (0, 0, 0);
    for i in 0..10_000 {
        let ctx = Context::with_key(&format!("user-{i}"));
        let ra = evaluate(&snap, "model", "production", &ctx, None);
        let rb = evaluate(&snap, "prompt", "production", &ctx, None);
        let a_on = ra.variant == Some("on");
        if rb.variant == Some("on") {
            assert!(a_on, "user-{i} got prompt's candidate without model's");
            both += 1;
        }
        match (a_on, rb.arm) {
            (false, arm) => {
                assert_eq!(
                    arm,
                    Some(Arm::Excluded),
                    "user-{i}: unmet is in neither arm"
                );
                assert_eq!(rb.variant, Some("off"));
                outside += 1;
            }
            (true, Some(Arm::Control)) => b_control += 1,
            _ => {}
        }
    }
    // Inside model's canary (about 25 %), prompt's 50 % canary and control split it.
    assert!((1_000..1_500).contains(&both), "{both} in both canaries");
    assert!(
        (1_000..1_500).contains(&b_control),
        "{b_control} in prompt's control"
    );
    assert!(outside > 7_000, "{outside} outside model's canary");

    // model off: prompt is off for everyone; a pin on prompt still wins.
    let mut a_off = a.clone();
    a_off.envs.get_mut("production").unwrap().enabled = false;
    let snap = Snapshot::compile(&[a_off, b.clone()], &[rb.clone().unwrap()], None);
    for i in 0..500 {
        let ctx = Context::with_key(&format!("user-{i}"));
        assert_eq!(
            evaluate(&snap, "prompt", "production", &ctx, None).variant,
            Some("off")
        );
    }
    let mut b_pinned = b.clone();
    b_pinned.envs.get_mut("production").unwrap().pinned_variant = Some("on".into());
    let snap = Snapshot::compile(&[a.clone(), b_pinned], &[ra.unwrap()], None);
    let r = evaluate(
        &snap,
        "prompt",
        "production",
        &Context::with_key("user-1"),
        None,
    );
    assert_eq!(r.variant, Some("on"), "a pin is a person's answer");

    // A missing prerequisite flag is never met, and nothing panics.
    let snap = Snapshot::compile(std::slice::from_ref(&b), &[], None);
    let r = evaluate(
        &snap,
        "prompt",
        "production",
        &Context::with_key("user-1"),
        None,
    );
    assert_eq!(r.variant, Some("off"));
}
