//! Every policy bound, one case each: the decision, and the rule a denial names. Pure `decide()` with a
//! controlled clock; plus parse errors naming file, line and field, and a freeze through the binary.

mod common;

use flagwarden::domain::bucket::Percent;
use flagwarden::domain::policy::{
    Action, Actor, ClientAnswer, ClientTrust, Decision, Exposure, Policy, Usage, decide,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

const POLICY: &str = r#"
version = 1
[flags]
created_per_day = 2
[environments.production]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
human_only = ["set_targeting"]
steps = [1, 5, 25, 50, 100]
max_auto_percent = 25
max_step_increase = 25
min_dwell = { default = "1h", "25" = "6h" }
agent_rollback = "propose"
[environments.production.rate_limits]
advances_per_hour = 2
rollouts_per_day = 3
[[environments.production.change_windows]]
days = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "17:00"
tz = "Europe/Berlin"
[[environments.production.freezes]]
from = "fri 16:00"
to = "mon 09:00"
tz = "Europe/Berlin"
reason = "weekend"
[[environments.production.freezes]]
start = "2026-12-20T00:00:00Z"
end = "2027-01-04T00:00:00Z"
reason = "holidays"
[environments.gated]
agent_may = ["start_canary", "rollback"]
requires_start_approval = true
agent_rollback = "allow"
"#;

/// Tuesday 2026-11-24, 10:00 in Berlin: inside the window, outside every freeze.
fn tuesday_morning() -> Timestamp {
    "2026-11-24T09:00:00Z".parse().unwrap()
}

fn pct(p: f64) -> Percent {
    Percent::from_percent(p).unwrap()
}

fn agent() -> Actor {
    Actor::Agent("claude-code".into())
}

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

fn check(action: Action, usage: Usage, now: Timestamp, actor: Actor, expect: &str) {
    let policy = Policy::parse("flagwarden.toml", POLICY).unwrap();
    let d = decide(&policy, &actor, &action, &usage, now);
    let got = match &d {
        Decision::Allow => "allow".to_owned(),
        Decision::Deny { rule, message } => {
            assert!(!message.is_empty());
            format!("deny {rule}")
        }
        Decision::NeedsApproval { rule, .. } => format!("approval {rule}"),
    };
    assert_eq!(got, expect, "{action:?} at {now}: {d:?}");
}

fn advance(from: f64, to: f64, dwell: SignedDuration) -> Action<'static> {
    Action::AdvanceCanary {
        env: "production",
        from: pct(from),
        to: pct(to),
        dwell,
    }
}

#[test]
fn each_bound_names_its_rule() {
    let t = tuesday_morning();
    let u = Usage::default;
    let steps_ok = [pct(1.0), pct(5.0), pct(25.0), pct(100.0)];
    let steps_bad = [pct(2.0), pct(100.0)];
    // who may act
    check(
        Action::SetTargeting { env: "production" },
        u(),
        t,
        agent(),
        "deny production.human_only",
    );
    check(Action::CleanupFlag, u(), t, agent(), "allow");
    check(
        Action::SetTargeting { env: "gated" },
        u(),
        t,
        agent(),
        "deny gated.agent_may",
    );
    check(
        Action::SetTargeting { env: "staging" },
        u(),
        t,
        agent(),
        "deny environments",
    );
    // steps, step size, dwell, automatic ceiling
    check(
        Action::StartCanary {
            env: "production",
            steps: &steps_ok,
            checklist: None,
            segments: &[],
            change_type: flagwarden::domain::flag::ChangeType::Code,
        },
        u(),
        t,
        agent(),
        "allow",
    );
    check(
        Action::StartCanary {
            env: "production",
            steps: &steps_bad,
            checklist: None,
            segments: &[],
            change_type: flagwarden::domain::flag::ChangeType::Code,
        },
        u(),
        t,
        agent(),
        "deny production.steps",
    );
    check(advance(1.0, 5.0, hours(2)), u(), t, agent(), "allow");
    check(
        advance(5.0, 50.0, hours(2)),
        u(),
        t,
        agent(),
        "deny production.max_step_increase",
    );
    check(
        advance(1.0, 5.0, SignedDuration::from_mins(59)),
        u(),
        t,
        agent(),
        "deny production.min_dwell",
    );
    check(
        advance(25.0, 50.0, hours(5)),
        u(),
        t,
        agent(),
        "deny production.min_dwell",
    );
    check(
        advance(25.0, 50.0, hours(6)),
        u(),
        t,
        agent(),
        "approval production.max_auto_percent",
    );
    check(
        advance(25.0, 50.0, hours(6)),
        u(),
        t,
        Actor::Human("alice".into()),
        "allow",
    );
    // start approval and rollback proposals
    check(
        Action::StartCanary {
            env: "gated",
            steps: &steps_ok,
            checklist: None,
            segments: &[],
            change_type: flagwarden::domain::flag::ChangeType::Code,
        },
        u(),
        t,
        agent(),
        "approval gated.requires_start_approval",
    );
    check(
        Action::Rollback { env: "production" },
        u(),
        t,
        agent(),
        "approval production.agent_rollback",
    );
    check(Action::Rollback { env: "gated" }, u(), t, agent(), "allow");
    // rate limits
    check(
        Action::CreateFlag,
        Usage {
            flags_created_last_day: 2,
            ..u()
        },
        t,
        agent(),
        "deny flags.created_per_day",
    );
    check(
        Action::WrapChange {
            creates_flag: false,
        },
        Usage {
            flags_created_last_day: 2,
            ..u()
        },
        t,
        agent(),
        "allow",
    );
    check(
        Action::StartCanary {
            env: "production",
            steps: &steps_ok,
            checklist: None,
            segments: &[],
            change_type: flagwarden::domain::flag::ChangeType::Code,
        },
        Usage {
            rollouts_started_last_day: 3,
            ..u()
        },
        t,
        agent(),
        "deny production.rate_limits.rollouts_per_day",
    );
    check(
        advance(1.0, 5.0, hours(2)),
        Usage {
            advances_last_hour: 2,
            ..u()
        },
        t,
        agent(),
        "deny production.rate_limits.advances_per_hour",
    );
}

#[test]
fn windows_and_freezes_follow_the_time_zone() {
    let u = Usage::default;
    let at = |s: &str| s.parse::<Timestamp>().unwrap();
    // 07:30 UTC is 08:30 in Berlin (CET): before the window opens.
    check(
        advance(1.0, 5.0, hours(2)),
        u(),
        at("2026-11-24T07:30:00Z"),
        agent(),
        "deny production.change_windows",
    );
    check(
        advance(1.0, 5.0, hours(2)),
        u(),
        at("2026-11-24T08:30:00Z"),
        agent(),
        "allow",
    );
    // In summer Berlin is UTC+2: 15:30 UTC is 17:30 local, after the window.
    check(
        advance(1.0, 5.0, hours(2)),
        u(),
        at("2026-06-16T14:30:00Z"),
        agent(),
        "allow",
    );
    check(
        advance(1.0, 5.0, hours(2)),
        u(),
        at("2026-06-16T15:30:00Z"),
        agent(),
        "deny production.change_windows",
    );
    // Weekly freeze from Friday 16:00 Berlin: Friday 15:30 UTC is 16:30 local.
    check(
        advance(1.0, 5.0, hours(2)),
        u(),
        at("2026-11-27T14:30:00Z"),
        agent(),
        "allow",
    );
    check(
        advance(1.0, 5.0, hours(2)),
        u(),
        at("2026-11-27T15:30:00Z"),
        agent(),
        "deny production.freezes[0]",
    );
    // One-off holiday freeze, on a Tuesday.
    check(
        advance(1.0, 5.0, hours(2)),
        u(),
        at("2026-12-22T10:00:00Z"),
        agent(),
        "deny production.freezes[1]",
    );
}

#[test]
fn a_freeze_blocks_advancing_but_never_a_rollback() {
    let saturday: Timestamp = "2026-11-28T12:00:00Z".parse().unwrap();
    let u = Usage::default;
    check(
        advance(1.0, 5.0, hours(2)),
        u(),
        saturday,
        agent(),
        "deny production.freezes[0]",
    );
    check(
        advance(1.0, 5.0, hours(2)),
        u(),
        saturday,
        Actor::Human("alice".into()),
        "deny production.freezes[0]",
    );
    check(
        Action::Rollback { env: "production" },
        u(),
        saturday,
        agent(),
        "approval production.agent_rollback",
    );
    check(
        Action::Rollback { env: "production" },
        u(),
        saturday,
        Actor::Human("alice".into()),
        "allow",
    );
    check(
        Action::RecordSignals { env: "production" },
        u(),
        saturday,
        agent(),
        "allow",
    );
    // A human's break-glass lifts the freeze until it expires.
    let glass = Usage {
        break_glass_until: Some(saturday + hours(1)),
        ..u()
    };
    check(
        advance(1.0, 5.0, hours(2)),
        glass.clone(),
        saturday,
        agent(),
        "allow",
    );
    check(
        advance(1.0, 5.0, hours(2)),
        glass,
        saturday + hours(2),
        agent(),
        "deny production.freezes[0]",
    );
}

#[test]
fn bad_policies_are_refused_with_file_line_and_field() {
    let cases = [
        (
            "version = 1\n[flags]\nlifetime_days = { code = 40, feature = 30 }\n[environments.production]\n",
            3,
            "flags.lifetime_days.feature",
        ),
        (
            "version = 1\n[flags]\nlifetime_days = { code = 9999 }\n[environments.production]\n",
            3,
            "flags.lifetime_days.code",
        ),
        (
            "version = 1\n[environments.production]\nmax_auto_percnt = 25\n",
            3,
            "environments.production.max_auto_percnt",
        ),
        (
            "version = 1\n[environments.production]\nmax_auto_percent = 150\n",
            3,
            "environments.production.max_auto_percent",
        ),
        (
            "version = 1\n[environments.production]\nsteps = [5, 1, 100]\n",
            3,
            "environments.production.steps",
        ),
        (
            "version = 1\n[environments.production]\nsteps = [5, 50]\n",
            3,
            "environments.production.steps",
        ),
        (
            "version = 1\n[environments.production]\nagent_may = [\"approve\"]\n",
            3,
            "environments.production.agent_may",
        ),
        (
            "version = 1\n[environments.production]\nagent_may = [\"launch\"]\n",
            3,
            "environments.production.agent_may",
        ),
        (
            "version = 1\n[environments.production]\nmin_dwell = \"soon\"\n",
            3,
            "environments.production.min_dwell",
        ),
        (
            "version = 1\n\n[[environments.production.change_windows]]\ndays = [\"mon\"]\nstart = \"09:00\"\nend = \"17:00\"\ntz = \"Mars/Olympus\"\n",
            7,
            "environments.production.change_windows[0].tz",
        ),
        (
            "version = 1\n[[environments.production.freezes]]\nfrom = \"someday\"\nto = \"mon 09:00\"\ntz = \"UTC\"\n",
            3,
            "environments.production.freezes[0].from",
        ),
        (
            "version = 1\n[environments.production.gate]\nalpha_promote = 0.9\n",
            3,
            "environments.production.gate.alpha_promote",
        ),
        (
            "version = 1\n[environments.production.gate]\nrequired = [\"Error Rate\"]\n",
            3,
            "environments.production.gate.required",
        ),
        (
            "version = 1\n[environments.production.gate]\nrequired = []\n",
            3,
            "environments.production.gate.required",
        ),
        (
            "version = 1\n[environments.production.gate.metrics.error_rate]\nmargin = 2\n",
            3,
            "environments.production.gate.metrics.error_rate.margin",
        ),
        (
            "version = 1\n[[environments.production.gate.breakers]]\nmetric = \"error_rate\"\nabove = 0.2\nbelow = 0.1\n",
            2,
            "environments.production.gate.breakers[0]",
        ),
        (
            "version = 1\n[environments.production.preflight]\nrequired = true\nalpha = 0\n",
            4,
            "environments.production.preflight.alpha",
        ),
        (
            "version = 1\n[environments.production]\n[[webhooks]]\nurl = \"ftp://example\"\n",
            4,
            "webhooks[0].url",
        ),
        ("version = 0\n[environments.production]\n", 1, "version"),
        ("version = 1\n", 1, "environments"),
        ("version = 1\n[environments.production\n", 2, "(syntax)"),
    ];
    for (source, line, field) in cases {
        let err = Policy::parse("policy/flagwarden.toml", source).unwrap_err();
        assert_eq!(
            (err.line, err.field.as_str()),
            (line, field),
            "{source:?} gave {err}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("policy/flagwarden.toml:{line}: ")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_frozen_environment_refuses_advance_but_rolls_back_through_the_binary() {
    let policy = r#"
version = 1
[environments.production]
agent_may = ["set_targeting", "start_canary", "advance_canary", "record_signals", "rollback"]
steps = [10, 100]
agent_rollback = "allow"
[environments.production.gate]
min_samples = 1
[[environments.production.freezes]]
start = "2000-01-01T00:00:00Z"
end = "2100-01-01T00:00:00Z"
reason = "test freeze"
"#;
    let p = common::Project::new(policy);
    let agent = p.connect("frozen-agent").await;
    agent.create_flag("f").await;
    let denied = agent.call("start_canary", json!({"key": "f", "environment": "production", "candidate_variant": "on", "reason": "r"})).await.err();
    assert!(
        denied.contains("denied by production.freezes[0]") && denied.contains("test freeze"),
        "{denied}"
    );
    let rolled = agent
        .call(
            "rollback",
            json!({"key": "f", "environment": "production", "reason": "incident"}),
        )
        .await
        .ok();
    assert_eq!(rolled["decision"]["result"], "allow");
    // The denial is on the audit trail; the rollback too.
    let log = agent.call("audit_log", json!({"key": "f"})).await.ok();
    let decisions: Vec<(&str, &str)> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("rollback", "allow"),
            ("start_canary", "deny"),
            ("create_flag", "allow")
        ]
    );
    agent.close().await;
}

/// One environment per level, for the in-client answer table.
const LEVELS: &str = r#"
version = 1
[environments.none]
confirm_in_client = "none"
[environments.reduce_only]
confirm_in_client = "reduce_only"
[environments.all]
confirm_in_client = "all"
[environments.unset]
"#;

#[test]
fn an_answer_in_the_client_counts_only_as_far_as_its_level_allows() {
    use ClientAnswer::*;
    use Exposure::*;
    let policy = Policy::parse("flagwarden.toml", LEVELS).unwrap();
    assert!(policy.notes.is_empty(), "{:?}", policy.notes);
    // (answer, effect) → counts under none, reduce_only, all. "unset" must behave as reduce_only.
    let table = [
        (Approve, Reduce, [false, true, true]),
        (Approve, Widen, [false, false, true]),
        (Approve, Keep, [false, false, true]),
        (Reject, Keep, [false, false, true]),
        (Reject, Reduce, [false, false, true]),
        (Reject, Widen, [false, false, true]),
    ];
    let never = [Decline, Cancel, Timeout, Malformed];
    let mut rows: Vec<(ClientAnswer, Exposure, [bool; 3])> = table.to_vec();
    for answer in never {
        for effect in [Reduce, Widen, Keep] {
            rows.push((answer, effect, [false; 3]));
        }
    }
    // Whoever the caller claims to be, the level decides: an agent, or one posing as a human.
    for actor in [agent(), Actor::Human("person at codex's client".into())] {
        for (answer, effect, expect) in &rows {
            for (env, counts) in ["none", "reduce_only", "all", "unset"]
                .into_iter()
                .zip([expect[0], expect[1], expect[2], expect[1]])
            {
                let action = Action::AnswerInClient {
                    env,
                    approval_id: 7,
                    answer: *answer,
                    effect: *effect,
                };
                let d = decide(
                    &policy,
                    &actor,
                    &action,
                    &Usage::default(),
                    tuesday_morning(),
                );
                match (&d, counts) {
                    (Decision::Allow, true) => {}
                    (Decision::Deny { rule, message }, false) => {
                        assert_eq!(rule, &format!("{env}.confirm_in_client"));
                        assert!(
                            message.contains("decides nothing")
                                && message.contains("flagwarden approve 7")
                                && message.contains("flagwarden reject 7"),
                            "{env} {answer} {effect:?}: {message}"
                        );
                    }
                    _ => panic!("{env} {answer} {effect:?} by {actor:?}: {d:?}"),
                }
            }
        }
    }
}

#[test]
fn what_deciding_an_approval_does_to_exposure() {
    assert_eq!(Exposure::of("rollback", true), Exposure::Reduce);
    assert_eq!(Exposure::of("start_canary", true), Exposure::Widen);
    assert_eq!(Exposure::of("advance_canary", true), Exposure::Widen);
    for kind in ["rollback", "start_canary", "advance_canary"] {
        assert_eq!(Exposure::of(kind, false), Exposure::Keep, "{kind}");
    }
}

#[test]
fn confirm_in_client_takes_a_level_and_reads_old_booleans_with_a_note() {
    let env =
        |v: &str| format!("version = 1\n[environments.production]\nconfirm_in_client = {v}\n");
    for (value, level) in [
        ("\"none\"", ClientTrust::None),
        ("\"reduce_only\"", ClientTrust::ReduceOnly),
        ("\"all\"", ClientTrust::All),
    ] {
        let p = Policy::parse("flagwarden.toml", &env(value)).unwrap();
        assert_eq!(p.env("production").unwrap().confirm_in_client, level);
        assert!(p.notes.is_empty(), "{:?}", p.notes);
    }
    for (value, level) in [
        ("true", ClientTrust::ReduceOnly),
        ("false", ClientTrust::None),
    ] {
        let p = Policy::parse("ops/flagwarden.toml", &env(value)).unwrap();
        assert_eq!(p.env("production").unwrap().confirm_in_client, level);
        let [note] = p.notes.as_slice() else {
            panic!("one note, got {:?}", p.notes)
        };
        for part in [
            "ops/flagwarden.toml:3: environments.production.confirm_in_client",
            &format!("confirm_in_client = {value}"),
            &format!("read as \"{}\"", level.as_str()),
            &format!("write `confirm_in_client = \"{}\"`", level.as_str()),
        ] {
            assert!(note.contains(part), "{part:?} missing from {note}");
        }
    }
    let unset = Policy::parse(
        "flagwarden.toml",
        "version = 1\n[environments.production]\n",
    )
    .unwrap();
    assert_eq!(
        unset.env("production").unwrap().confirm_in_client,
        ClientTrust::ReduceOnly
    );
    for bad in ["\"sometimes\"", "\"ALL\"", "3", "[\"all\"]"] {
        let err = Policy::parse("flagwarden.toml", &env(bad)).unwrap_err();
        assert_eq!(
            (err.line, err.field.as_str()),
            (3, "environments.production.confirm_in_client"),
            "{bad}: {err}"
        );
        assert!(
            err.message.contains("\"none\", \"reduce_only\" or \"all\""),
            "{bad}: {err}"
        );
    }
}

#[test]
fn an_old_boolean_gets_one_note_on_stderr_and_init_writes_reduce_only() {
    let p = common::Project::new(
        "version = 1\n[environments.development]\n[environments.production]\nconfirm_in_client = true\n",
    );
    let out = p.cli(&["policy", "check"]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let notes: Vec<&str> = stderr.lines().filter(|l| l.starts_with("note: ")).collect();
    let [note] = notes.as_slice() else {
        panic!("one note, got: {stderr}")
    };
    let file = p.policy().display().to_string();
    for part in [
        &format!("{file}:4: environments.production.confirm_in_client"),
        "`confirm_in_client = true` is read as \"reduce_only\"",
        "write `confirm_in_client = \"reduce_only\"`",
    ] {
        assert!(note.contains(part), "{part:?} missing from {note}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("note: "),
        "notes go to stderr, stdout may be JSON-RPC: {stdout}"
    );
    assert!(
        stdout.contains("an approve in the agent's client may confirm a rollback or a pause"),
        "{stdout}"
    );

    // `flagwarden init` writes the level by name for production, and no old form.
    std::fs::remove_file(p.policy()).unwrap();
    p.cli_ok(&["init"]);
    let written = std::fs::read_to_string(p.policy()).unwrap();
    let policy = Policy::parse("flagwarden.toml", &written).unwrap();
    assert!(policy.notes.is_empty(), "{:?}", policy.notes);
    assert_eq!(
        policy.env("production").unwrap().confirm_in_client,
        ClientTrust::ReduceOnly
    );
    assert!(
        written.contains("confirm_in_client = \"reduce_only\""),
        "{written}"
    );
}

#[test]
fn the_controller_section_and_the_system_keys_parse_strictly() {
    use flagwarden::domain::policy::{Advance, AutoRollback};
    let default = Policy::parse("f.toml", "version = 1\n[environments.production]\n").unwrap();
    let c = &default.controller;
    assert_eq!(
        (c.enabled, c.interval, c.debounce),
        (
            true,
            SignedDuration::from_secs(30),
            SignedDuration::from_millis(10)
        ),
        "on by default"
    );
    let env = default.env("production").unwrap();
    assert_eq!(
        (env.auto_rollback, env.advance),
        (AutoRollback::None, Advance::Agent)
    );
    let p = Policy::parse(
        "f.toml",
        "version = 1\n[controller]\nenabled = false\ninterval = \"2s\"\ndebounce = \"0s\"\n[environments.production]\nauto_rollback = \"any\"\nadvance = \"auto\"\n",
    )
    .unwrap();
    assert_eq!(
        (p.controller.enabled, p.controller.interval),
        (false, SignedDuration::from_secs(2))
    );
    let env = p.env("production").unwrap();
    assert_eq!(
        (env.auto_rollback, env.advance),
        (AutoRollback::Any, Advance::Auto)
    );
    // The old boolean is read with a note naming the new key.
    for (old, level) in [("true", "critical"), ("false", "none")] {
        let p = Policy::parse(
            "ops/f.toml",
            &format!("version = 1\n[environments.production]\nauto_rollback_critical = {old}\n"),
        )
        .unwrap();
        assert_eq!(p.env("production").unwrap().auto_rollback.as_str(), level);
        let [note] = p.notes.as_slice() else {
            panic!("one note: {:?}", p.notes)
        };
        assert!(
            note.contains("ops/f.toml:3: environments.production.auto_rollback_critical")
                && note.contains(&format!("read as `auto_rollback = \"{level}\"`")),
            "{note}"
        );
    }
    let cases = [
        (
            "version = 1\n[controller]\ninterval = \"soon\"\n[environments.production]\n",
            3,
            "controller.interval",
        ),
        (
            "version = 1\n[controller]\ndebounce = \"1h\"\n[environments.production]\n",
            3,
            "controller.debounce",
        ),
        (
            "version = 1\n[controller]\nenable = true\n[environments.production]\n",
            3,
            "controller.enable",
        ),
        (
            "version = 1\n[environments.production]\nauto_rollback = \"sometimes\"\n",
            3,
            "environments.production.auto_rollback",
        ),
        (
            "version = 1\n[environments.production]\nauto_rollback = \"any\"\nauto_rollback_critical = true\n",
            4,
            "environments.production.auto_rollback_critical",
        ),
        (
            "version = 1\n[environments.production]\nadvance = \"always\"\n",
            3,
            "environments.production.advance",
        ),
        (
            "version = 1\n[environments.production]\nagent_may = [\"pause\"]\n",
            3,
            "environments.production.agent_may",
        ),
    ];
    for (source, line, field) in cases {
        let err = Policy::parse("f.toml", source).unwrap_err();
        assert_eq!(
            (err.line, err.field.as_str()),
            (line, field),
            "{source:?} gave {err}"
        );
    }
}

/// The controller is the system actor and `decide` bounds it like an agent: it advances only where
/// `advance = "auto"`, within dwell, steps, rate limits and freezes, and past max_auto_percent only
/// with a human; it rolls back by itself only the harm `auto_rollback` names.
#[test]
fn the_system_advances_and_rolls_back_only_as_the_policy_says() {
    let source = POLICY.replace(
        "agent_rollback = \"propose\"\n[environments.production.rate_limits]",
        "agent_rollback = \"propose\"\nadvance = \"auto\"\nauto_rollback = \"critical\"\n[environments.production.rate_limits]",
    );
    let policy = Policy::parse("f.toml", &source).unwrap();
    let sys = |action: Action, usage: Usage, now: Timestamp| {
        let d = decide(&policy, &Actor::System, &action, &usage, now);
        match d {
            Decision::Allow => "allow".to_owned(),
            Decision::Deny { rule, .. } => format!("deny {rule}"),
            Decision::NeedsApproval { rule, .. } => format!("approval {rule}"),
        }
    };
    let t = tuesday_morning();
    let u = Usage::default;
    assert_eq!(sys(advance(1.0, 5.0, hours(2)), u(), t), "allow");
    assert_eq!(
        sys(advance(1.0, 5.0, SignedDuration::from_mins(5)), u(), t),
        "deny production.min_dwell"
    );
    assert_eq!(
        sys(advance(5.0, 50.0, hours(2)), u(), t),
        "deny production.max_step_increase"
    );
    assert_eq!(
        sys(advance(25.0, 50.0, hours(7)), u(), t),
        "approval production.max_auto_percent"
    );
    let busy = Usage {
        advances_last_hour: 2,
        ..Usage::default()
    };
    assert_eq!(
        sys(advance(1.0, 5.0, hours(2)), busy, t),
        "deny production.rate_limits.advances_per_hour"
    );
    let holidays: Timestamp = "2026-12-24T10:00:00Z".parse().unwrap();
    assert_eq!(
        sys(advance(1.0, 5.0, hours(2)), u(), holidays),
        "deny production.freezes[1]"
    );
    let critical = |critical| Action::AutoRollback {
        env: "production",
        critical,
    };
    assert_eq!(
        sys(critical(true), u(), holidays),
        "allow",
        "a freeze never stops a rollback"
    );
    assert_eq!(
        sys(critical(false), u(), t),
        "approval production.auto_rollback"
    );
    assert_eq!(sys(Action::Pause { env: "production" }, u(), t), "allow");
    // Where the agent advances (the default), the controller only records the verdict.
    let agent_env = Policy::parse("f.toml", POLICY).unwrap();
    let d = decide(
        &agent_env,
        &Actor::System,
        &advance(1.0, 5.0, hours(2)),
        &Usage::default(),
        t,
    );
    assert_eq!(d.rule(), Some("production.advance"), "{d:?}");
    let d = decide(
        &agent_env,
        &Actor::System,
        &critical(true),
        &Usage::default(),
        t,
    );
    assert_eq!(d.rule(), Some("production.auto_rollback"), "{d:?}");
    // An agent never pauses or resumes by itself.
    check(
        Action::Pause { env: "production" },
        Usage::default(),
        t,
        agent(),
        "deny production.agent_may",
    );
}
