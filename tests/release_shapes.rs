//! Staged audiences and coordinated releases in the domain: segments in the policy (parsed strictly,
//! with file-line-field errors), plans whose first steps are segments, `segments_first` in
//! `decide`, and evaluation at a segment step and under a group's shared bucketing salt.

use std::collections::BTreeMap;

use flagwarden::domain::bucket::Percent;
use flagwarden::domain::eval::{Arm, Context, Snapshot, evaluate};
use flagwarden::domain::flag::{ChangeType, EnvState, Flag, FlagKey, FlagStatus, Variants};
use flagwarden::domain::policy::{Action, Actor, Decision, Policy, Usage, decide};
use flagwarden::domain::rollout::{Analysis, Event, Opening, Rollout};
use jiff::Timestamp;
use serde_json::json;

const POLICY: &str = r#"
version = 1

[segments.internal]
description = "employees"
conditions = [{ attribute = "email", op = "ends_with", values = ["@acme.test"] }]

[segments.beta]
conditions = [{ attribute = "beta", op = "equals", values = [true] }]

[environments.production]
agent_may = ["start_canary", "advance_canary", "rollback"]
steps = ["internal", "beta", 1, 5, 25, 100]
segments_first = { prompt = ["internal"] }
"#;

fn policy() -> Policy {
    Policy::parse("flagwarden.toml", POLICY).unwrap()
}

fn pct(p: f64) -> Percent {
    Percent::from_percent(p).unwrap()
}

fn now() -> Timestamp {
    "2026-11-24T09:00:00Z".parse().unwrap()
}

#[test]
fn segments_and_segment_steps_parse_from_the_policy() {
    let p = policy();
    assert_eq!(p.segment_names(), "beta, internal");
    let env = p.env("production").unwrap();
    assert_eq!(env.segment_steps, ["internal", "beta"]);
    assert_eq!(env.steps, [pct(1.0), pct(5.0), pct(25.0), pct(100.0)]);
    assert_eq!(env.segments_first["prompt"], ["internal"]);
    let described = flagwarden::domain::policy::describe(env).join("\n");
    assert!(described.contains("segments internal, beta"), "{described}");
    assert!(
        described.contains("a prompt change exposes segment internal"),
        "{described}"
    );
}

#[test]
fn bad_segments_are_refused_with_file_line_and_field() {
    let cases: &[(&str, &str, usize, &str)] = &[
        (
            "[segments.internal]\nconditions = []\n",
            "segments.internal.conditions",
            2,
            "at least one condition",
        ),
        (
            "[segments.internal]\nconditions = [{ attribute = \"email\", op = \"ends_with\" }]\n",
            "segments.internal.conditions[0].values",
            2,
            "at least one operand",
        ),
        (
            "[segments.internal]\nconditions = [{ attribute = \"email\", op = \"nearly\", values = [\"x\"] }]\n",
            "segments.internal.conditions",
            2,
            "unknown variant",
        ),
        (
            "[environments.production]\nsteps = [\"staff\", 1, 100]\n",
            "environments.production.steps",
            2,
            "unknown segment \"staff\"",
        ),
        (
            "[segments.beta]\nconditions = [{ attribute = \"beta\", op = \"equals\", values = [true] }]\n[environments.production]\nsteps = [1, \"beta\", 100]\n",
            "environments.production.steps",
            4,
            "comes after a percentage",
        ),
        (
            "[segments.beta]\nconditions = [{ attribute = \"beta\", op = \"equals\", values = [true] }]\n[environments.production]\nsegments_first = { prompt = [\"internal\"] }\n",
            "environments.production.segments_first.prompt",
            4,
            "unknown segment \"internal\"",
        ),
        (
            "[segments.beta]\nconditions = [{ attribute = \"beta\", op = \"equals\", values = [true] }]\n[environments.production]\nsegments_first = { poetry = [\"beta\"] }\n",
            "environments.production.segments_first.poetry",
            4,
            "",
        ),
    ];
    for (body, field, line, says) in cases {
        let mut source = "version = 1\n".to_owned();
        source.push_str(body);
        if !body.contains("[environments.") {
            source.push_str("[environments.production]\n");
        }
        let e = Policy::parse("ops/flagwarden.toml", &source).unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.field.as_str()),
            ("ops/flagwarden.toml", *field),
            "{source}\n{e}"
        );
        assert_eq!(e.line, line + 1, "{source}\n{e}");
        assert!(e.message.contains(says), "{e}");
    }
}

#[test]
fn segments_first_binds_the_change_types_it_names() {
    let p = policy();
    let agent = Actor::Agent("claude-code".into());
    let percents = [pct(1.0), pct(100.0)];
    let ask = |segments: &[String], change_type| {
        decide(
            &p,
            &agent,
            &Action::StartCanary {
                env: "production",
                steps: &percents,
                segments,
                change_type,
                checklist: None,
            },
            &Usage::default(),
            now(),
        )
    };
    let d = ask(&[], ChangeType::Prompt);
    let Decision::Deny { rule, message } = &d else {
        panic!("{d:?}")
    };
    assert_eq!(rule, "production.segments_first");
    assert!(
        message.contains("must expose segment internal")
            && message.contains("[\"internal\", 1, 100]"),
        "{message}"
    );
    assert_eq!(ask(&["beta".into()], ChangeType::Prompt).label(), "deny");
    assert_eq!(
        ask(&["internal".into()], ChangeType::Prompt),
        Decision::Allow
    );
    assert_eq!(
        ask(&[], ChangeType::Code),
        Decision::Allow,
        "code changes are not named"
    );
}

fn flag(key: &str, salt: &str) -> Flag {
    let variants = Variants::parse(json!({"old": "a", "new": "b"}).as_object().unwrap()).unwrap();
    let mut state = EnvState::new_off("old", Timestamp::UNIX_EPOCH);
    state.enabled = true;
    Flag {
        key: FlagKey::parse(key).unwrap(),
        description: "test".into(),
        change_type: ChangeType::Prompt,
        off_variant: "old".into(),
        default_variant: "old".into(),
        variants,
        owner: None,
        lifetime_days: None,
        tags: vec![],
        salt: salt.into(),
        status: FlagStatus::Active,
        version: 1,
        created_at: Timestamp::UNIX_EPOCH,
        updated_at: Timestamp::UNIX_EPOCH,
        envs: BTreeMap::from([("production".to_owned(), state)]),
    }
}

fn rollout(key: &str, analysis: Analysis) -> Rollout {
    let steps = vec![Percent::ZERO, Percent::ZERO, pct(1.0), pct(100.0)];
    Rollout::start(
        1,
        key,
        "production",
        "new",
        "old",
        steps,
        Opening::Running,
        analysis,
        now(),
    )
}

fn ctx(key: &str, email: &str, beta: bool) -> Context {
    Context::from_json(&json!({"targetingKey": key, "email": email, "beta": beta})).unwrap()
}

#[test]
fn a_segment_step_exposes_its_segment_with_a_control_from_the_same_segment() {
    let p = policy();
    let analysis = Analysis {
        audiences: vec![p.segments["internal"].clone(), p.segments["beta"].clone()],
        ..Analysis::default()
    };
    let r = rollout("prompt", analysis);
    let f = flag("prompt", "prompt");
    let at = |r: &Rollout| Snapshot::compile(std::slice::from_ref(&f), &[r.live().unwrap()], None);
    let snap = at(&r);
    let mut arms = BTreeMap::<&str, u32>::new();
    for i in 0..4000 {
        let member = i % 2 == 0;
        let email = if member {
            format!("u{i}@acme.test")
        } else {
            format!("u{i}@else.test")
        };
        let res = evaluate(
            &snap,
            "prompt",
            "production",
            &ctx(&format!("u{i}"), &email, false),
            None,
        );
        let arm = res.arm.unwrap();
        if !member {
            assert_eq!(
                (arm, res.variant),
                (Arm::Excluded, Some("old")),
                "outsiders are never exposed"
            );
            continue;
        }
        *arms.entry(arm.as_str()).or_default() += 1;
        let want = if arm == Arm::Canary { "new" } else { "old" };
        assert_eq!(res.variant, Some(want));
    }
    // Half of the segment's 2000 members canary, the other half control; nobody excluded.
    assert!(!arms.contains_key("excluded"), "{arms:?}");
    assert!((900..1100).contains(&arms["canary"]), "{arms:?}");
    assert!((900..1100).contains(&arms["control"]), "{arms:?}");

    // The next step exposes the next segment only; the one after is 1 % of everyone.
    let beta = r.apply(Event::Advance, now()).unwrap();
    assert_eq!(beta.segment().unwrap().name, "beta");
    let snap = at(&beta);
    let internal_only = evaluate(
        &snap,
        "prompt",
        "production",
        &ctx("u1", "u1@acme.test", false),
        None,
    );
    assert_eq!(internal_only.arm, Some(Arm::Excluded));
    let one = beta.apply(Event::Advance, now()).unwrap();
    assert!(one.segment().is_none());
    assert_eq!(one.live().unwrap().percent, pct(1.0));
    assert_eq!(one.exposure_label(), "1%");
    assert_eq!(beta.exposure_label(), "segment \"beta\"");
}

#[test]
fn a_group_salt_puts_the_same_units_in_every_members_canary() {
    let analysis = Analysis {
        group: Some("release".into()),
        salt: Some("group/release".into()),
        ..Analysis::default()
    };
    // Two flags with different salts of their own: the group's salt decides for both.
    let (a, b) = (flag("prompt", "prompt-salt"), flag("model", "model-salt"));
    let steps = vec![pct(5.0), pct(100.0)];
    let ra = Rollout::start(
        1,
        "prompt",
        "production",
        "new",
        "old",
        steps.clone(),
        Opening::Running,
        analysis.clone(),
        now(),
    );
    let rb = Rollout::start(
        2,
        "model",
        "production",
        "new",
        "old",
        steps,
        Opening::Running,
        analysis,
        now(),
    );
    let snap = Snapshot::compile(&[a, b], &[ra.live().unwrap(), rb.live().unwrap()], None);
    let mut canary = 0;
    for i in 0..10_000 {
        let c = Context::with_key(&format!("user-{i}"));
        let pa = evaluate(&snap, "prompt", "production", &c, None);
        let pb = evaluate(&snap, "model", "production", &c, None);
        assert_eq!((pa.arm, pa.variant), (pb.arm, pb.variant), "user-{i}");
        canary += u32::from(pa.arm == Some(Arm::Canary));
    }
    assert!((400..600).contains(&canary), "{canary}");
}
