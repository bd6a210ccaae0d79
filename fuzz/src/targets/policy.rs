//! The policy file parser: any text either parses or is refused with an error, never a panic; a
//! policy that parses answers `decide` for every action in every environment it declares.

use flagwarden::domain::bucket::Percent;
use flagwarden::domain::policy::{Action, Actor, Policy, Usage, decide};
use jiff::{SignedDuration, Timestamp};

/// One input: panics on a broken invariant, like the fuzz target it serves.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = Policy::parse("fuzz.toml", text) else {
        return;
    };
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    let steps = [
        Percent::from_basis_points(500).unwrap(),
        Percent::from_basis_points(10_000).unwrap(),
    ];
    let (from, to) = (steps[0], steps[1]);
    let usage = Usage {
        flags_created_last_day: 3,
        rollouts_started_last_day: 2,
        advances_last_hour: 1,
        break_glass_until: None,
    };
    let envs: Vec<String> = policy
        .environments
        .keys()
        .cloned()
        .chain(["undeclared".to_owned()])
        .collect();
    for actor in [
        Actor::Agent("a".into()),
        Actor::Human("h".into()),
        Actor::App("x".into()),
        Actor::System,
    ] {
        for action in [
            Action::CreateFlag,
            Action::CleanupFlag,
            Action::ArchiveFlag,
            Action::WrapChange { creates_flag: true },
            Action::AddVersion {
                creates_flag: false,
            },
        ] {
            let _ = decide(&policy, &actor, &action, &usage, now);
        }
        for env in &envs {
            let actions = [
                Action::SetTargeting { env },
                Action::StartCanary {
                    env,
                    steps: &steps,
                    checklist: None,
                    segments: &[],
                    change_type: flagwarden::domain::flag::ChangeType::Code,
                },
                Action::AdvanceCanary {
                    env,
                    from,
                    to,
                    dwell: SignedDuration::from_mins(30),
                },
                Action::RecordSignals { env },
                Action::Rollback { env },
            ];
            for action in &actions {
                let _ = decide(&policy, &actor, action, &usage, now);
            }
        }
    }
}
