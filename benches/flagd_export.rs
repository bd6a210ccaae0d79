//! Generating one environment's flagd definition document for 1,000 flags: what every change costs
//! the sync sources (`GET /flagd/v1/{env}`, the gRPC stream, `export flagd`) before the document is
//! cached for the snapshot. The flags mix every shape: 40 % on/off, 20 % with targeting rules (four
//! conditions, one shared by many flags, so `$evaluators` are built), 20 % with a 50/50 split,
//! 10 % with a canary at 10 %, 10 % disabled. The timed loop is `domain::flagd::document` plus its
//! serialization to JSON text, from the compiled `Snapshot`, as `App::flagd_definition` does it.
//! Issue 17's goal: under 5 ms.
//!
//! Run with `cargo bench --bench flagd_export -- --warm-up-time 1 --measurement-time 3`.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use sha2::Digest;

use flagwarden::domain::bucket::Percent;
use flagwarden::domain::eval::{LiveRollout, Snapshot};
use flagwarden::domain::flag::{ChangeType, EnvState, Flag, FlagKey, FlagStatus};
use flagwarden::domain::flagd;
use flagwarden::domain::rules::{Rule, RuleSpec};
use flagwarden::domain::variant::Variants;

const ENV: &str = "production";
const FLAGS: usize = 1_000;

fn flag(i: usize) -> (Flag, Option<LiveRollout>) {
    let key = format!("flag-{i:04}");
    let variants = Variants::boolean();
    let rules: Value = match i % 10 {
        4 | 5 => json!([
            {"conditions": [{"attribute": "email", "op": "ends_with", "values": ["@corp.com"]}], "serve": {"variant": "on"}},
            {"conditions": [
                {"attribute": "plan", "op": "in", "values": ["pro", "team"]},
                {"attribute": "country", "op": "not_equals", "values": [format!("C{i}")]},
                {"attribute": "app_version", "op": "semver_gte", "values": ["2.4.0"]},
                {"attribute": "orders", "op": "gte", "numbers": [i % 50]}
            ], "serve": {"variant": "on"}}
        ]),
        6 | 7 => {
            json!([{"serve": {"split": [{"variant": "on", "percent": 50}, {"variant": "off", "percent": 50}]}}])
        }
        _ => json!([]),
    };
    let specs: Vec<RuleSpec> = serde_json::from_value(rules).expect("rule specs");
    let t = jiff::Timestamp::UNIX_EPOCH;
    let state = EnvState {
        enabled: i % 10 != 9,
        default_variant: if i % 10 < 4 { "on" } else { "off" }.into(),
        rules: Rule::parse_all(&specs, &variants).expect("valid rules"),
        pinned_variant: None,
        prerequisite: None,
        updated_at: t,
    };
    let rollout = (i % 10 == 8).then(|| LiveRollout {
        flag: key.clone(),
        env: ENV.into(),
        candidate: "on".into(),
        lkg: "off".into(),
        percent: Percent::from_basis_points(1000).unwrap(),
        audience: None,
        salt: None,
        shape: Default::default(),
    });
    let flag = Flag {
        key: FlagKey::parse(&key).expect("valid key"),
        description: String::new(),
        change_type: ChangeType::Code,
        variants,
        off_variant: "off".into(),
        default_variant: "off".into(),
        owner: None,
        lifetime_days: None,
        tags: Vec::new(),
        salt: key.clone(),
        status: FlagStatus::Active,
        version: 1,
        created_at: t,
        updated_at: t,
        envs: BTreeMap::from([(ENV.to_owned(), state)]),
    };
    (flag, rollout)
}

fn bench(c: &mut Criterion) {
    let (flags, rollouts): (Vec<_>, Vec<_>) = (0..FLAGS).map(flag).unzip();
    let rollouts: Vec<LiveRollout> = rollouts.into_iter().flatten().collect();
    let snapshot = Snapshot::compile(&flags, &rollouts, None).at_audit_seq(12_345);
    let generate = || {
        let doc = flagd::document(&snapshot.sources(), ENV, snapshot.audit_seq());
        serde_json::to_string(&doc).expect("serializes")
    };
    // What is timed is the whole document: every flag, shared evaluators, the rollouts' arms.
    let text = generate();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["flags"].as_object().unwrap().len(), FLAGS);
    assert!(
        doc["$evaluators"]
            .as_object()
            .is_some_and(|e| !e.is_empty())
    );
    // The digest tells a change that only makes generation faster from one that changes the document.
    let digest = sha2::Sha256::digest(text.as_bytes());
    eprintln!(
        "document: {} bytes for {FLAGS} flags, sha256 {}",
        text.len(),
        hex::encode(digest)
    );
    c.bench_function("flagd definition, 1000 flags", |b| {
        b.iter(|| black_box(generate()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
