//! Why a flag is debt: reason codes with their evidence and the one action that pays it off.
//!
//! `assess` reads plain facts (ages, what each environment serves, when the flag was last evaluated,
//! how many code references are live) and the clock as arguments; the caller gathers them.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// How long one variant must be served to everyone, unchanged, before the flag counts as launched;
/// and how long without an evaluation before it counts as inactive.
pub const SETTLED_DAYS: i64 = 7;
/// Age past which a launched or inactive flag is plainly stale.
pub const STALE_DAYS: i64 = 90;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    PastLifetime,
    Launched,
    Inactive,
    ReadyForCodeRemoval,
    ReadyToArchive,
    Stale,
    /// An experiment on it reached its outcome: its split is over, and the winner (or the
    /// last-known-good) waits to be shipped or kept, the other variants to be removed.
    ExperimentDecided,
}

/// What one environment serves, as far as staleness cares.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvFacts {
    pub env: String,
    /// The variant everyone gets (pinned, or enabled without rules); `None` when rules split traffic
    /// or the flag is off there.
    pub everyone: Option<String>,
    pub since: Timestamp,
    pub rollout_active: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub created_at: Timestamp,
    pub change_type: &'static str,
    /// `None`: permanent by design (a kill switch).
    pub lifetime_days: Option<u32>,
    pub envs: Vec<EnvFacts>,
    pub last_evaluated: Option<Timestamp>,
    /// Code references the last scan (or wrap_change) saw and no later scan found gone.
    pub live_refs: usize,
    /// When the repository was last scanned; `None` if never, so "no references" is not yet known.
    pub last_scan: Option<Timestamp>,
    pub pending_removal: bool,
    /// Experiments decided on it (with no rollout since), per environment.
    pub decided_experiments: Vec<DecidedExperiment>,
}

/// An experiment that reached its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct DecidedExperiment {
    pub env: String,
    pub rollout_id: i64,
    /// The winning variant; `None` when no variant could be told apart from the others.
    pub winner: Option<String>,
    pub decided_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub reason: Reason,
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub findings: Vec<Finding>,
    /// The variant every environment serves to everyone, when they agree: the one to keep.
    pub launched_variant: Option<String>,
    pub action: String,
}

fn days(d: SignedDuration) -> i64 {
    d.as_hours() / 24
}

/// The flag's reasons, in a fixed order, or `None` when it is not debt.
pub fn assess(key: &str, f: &Facts, now: Timestamp) -> Option<Assessment> {
    let age = days(now.duration_since(f.created_at));
    let mut findings = Vec::new();
    let mut note = |reason, evidence: String| findings.push(Finding { reason, evidence });

    if let Some(life) = f.lifetime_days
        && age >= i64::from(life)
    {
        note(
            Reason::PastLifetime,
            format!(
                "created {age} days ago; a {} flag is expected to live {life} days",
                f.change_type
            ),
        );
    }

    let launched = launched(f, now);
    if let Some(variant) = &launched {
        let envs: Vec<String> = f
            .envs
            .iter()
            .map(|e| format!("{} since {}", e.env, e.since.strftime("%Y-%m-%d")))
            .collect();
        note(
            Reason::Launched,
            format!(
                "every environment serves {variant:?} to everyone, unchanged for {SETTLED_DAYS}+ days ({})",
                envs.join(", ")
            ),
        );
    }

    let quiet_since = f.last_evaluated.unwrap_or(f.created_at);
    let inactive = days(now.duration_since(quiet_since)) >= SETTLED_DAYS;
    if inactive {
        note(
            Reason::Inactive,
            match f.last_evaluated {
                Some(t) => format!(
                    "last evaluated {} ({} days ago)",
                    t.strftime("%Y-%m-%d"),
                    days(now.duration_since(t))
                ),
                None => format!("never evaluated in the {age} days since it was created"),
            },
        );
    }

    let settled = launched.is_some() || inactive;
    if settled && f.live_refs > 0 {
        note(
            Reason::ReadyForCodeRemoval,
            format!("{} code reference(s) still evaluate it", f.live_refs),
        );
    }
    if (settled || f.pending_removal) && f.live_refs == 0 {
        note(
            Reason::ReadyToArchive,
            match f.last_scan {
                Some(t) => format!(
                    "the scan of {} found no references left",
                    t.strftime("%Y-%m-%d %H:%M")
                ),
                None => {
                    "no code references recorded, and the repository was never scanned".to_owned()
                }
            },
        );
    }
    if settled && age > STALE_DAYS {
        note(
            Reason::Stale,
            format!(
                "{age} days old (over {STALE_DAYS}) and {}",
                if launched.is_some() {
                    "launched"
                } else {
                    "inactive"
                }
            ),
        );
    }
    for e in &f.decided_experiments {
        note(
            Reason::ExperimentDecided,
            match &e.winner {
                Some(w) => format!(
                    "experiment {} in {} decided on {}: {w:?} won",
                    e.rollout_id,
                    e.env,
                    e.decided_at.strftime("%Y-%m-%d")
                ),
                None => format!(
                    "experiment {} in {} decided on {}: no detectable difference",
                    e.rollout_id,
                    e.env,
                    e.decided_at.strftime("%Y-%m-%d")
                ),
            },
        );
    }
    if findings.is_empty() {
        return None;
    }
    let has = |r| findings.iter().any(|f| f.reason == r);
    // A decided experiment comes first: its winner is the variant that stays.
    let action = if let Some(e) = f.decided_experiments.first() {
        match &e.winner {
            Some(w) => format!(
                "ship the winner: start_canary with candidate_variant {w:?} in {}, then cleanup_flag keeping {w:?}",
                e.env
            ),
            None => "no variant won: cleanup_flag keeping the last-known-good, or run a new experiment with a larger sample".to_owned(),
        }
    } else if has(Reason::ReadyToArchive) {
        if f.last_scan.is_none() {
            format!(
                "run `flagwarden scan` to confirm no code references {key}; then a human archives it (`flagwarden archive {key} --reason ...`)"
            )
        } else {
            format!("ask a human to archive it: `flagwarden archive {key} --reason ...`")
        }
    } else if has(Reason::ReadyForCodeRemoval) {
        let keep = launched
            .as_deref()
            .map_or("the variant that stays".to_owned(), |v| format!("{v:?}"));
        format!(
            "call cleanup_flag with keep_variant {keep}, apply its edits to the {} reference(s), then ask a human to archive it",
            f.live_refs
        )
    } else if has(Reason::PastLifetime) {
        "finish the rollout (or roll it back) and decide which variant stays, then call cleanup_flag; or ask the owner for a longer lifetime_days".to_owned()
    } else {
        "decide which variant stays, then call cleanup_flag".to_owned()
    };
    Some(Assessment {
        findings,
        launched_variant: launched,
        action,
    })
}

/// The one variant every environment has served to everyone, with no rollout, for `SETTLED_DAYS`.
fn launched(f: &Facts, now: Timestamp) -> Option<String> {
    let mut variant: Option<&str> = None;
    for e in &f.envs {
        let v = e.everyone.as_deref()?;
        if e.rollout_active
            || days(now.duration_since(e.since)) < SETTLED_DAYS
            || variant.is_some_and(|w| w != v)
        {
            return None;
        }
        variant = Some(v);
    }
    variant.map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + SignedDuration::from_hours(24 * day)
    }

    fn facts() -> Facts {
        Facts {
            created_at: at(0),
            change_type: "code",
            lifetime_days: Some(40),
            envs: vec![EnvFacts {
                env: "production".into(),
                everyone: None,
                since: at(0),
                rollout_active: false,
            }],
            last_evaluated: Some(at(9)),
            live_refs: 2,
            last_scan: Some(at(9)),
            pending_removal: false,
            decided_experiments: Vec::new(),
        }
    }

    fn reasons(f: &Facts, day: i64) -> Vec<Reason> {
        assess("k", f, at(day))
            .map(|a| a.findings.iter().map(|f| f.reason).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_young_flag_in_use_is_not_debt() {
        assert_eq!(reasons(&facts(), 10), vec![]);
    }

    #[test]
    fn launched_needs_every_environment_on_one_variant_for_a_week_without_a_rollout() {
        let mut f = facts();
        f.envs = vec![
            EnvFacts {
                env: "development".into(),
                everyone: Some("on".into()),
                since: at(1),
                rollout_active: false,
            },
            EnvFacts {
                env: "production".into(),
                everyone: Some("on".into()),
                since: at(3),
                rollout_active: false,
            },
        ];
        assert_eq!(reasons(&f, 9), vec![], "production changed 6 days ago");
        assert_eq!(
            reasons(&f, 10),
            vec![Reason::Launched, Reason::ReadyForCodeRemoval]
        );
        f.envs[1].rollout_active = true;
        assert_eq!(reasons(&f, 10), vec![]);
        f.envs[1].rollout_active = false;
        f.envs[1].everyone = Some("off".into());
        assert_eq!(reasons(&f, 10), vec![], "environments disagree");
    }

    #[test]
    fn stale_needs_age_and_settling() {
        let mut f = facts();
        f.lifetime_days = None;
        f.last_evaluated = Some(at(90));
        assert_eq!(reasons(&f, 95), vec![]);
        assert_eq!(
            reasons(&f, 97),
            vec![Reason::Inactive, Reason::ReadyForCodeRemoval, Reason::Stale]
        );
    }

    #[test]
    fn the_action_follows_the_strongest_reason() {
        let mut f = facts();
        f.last_evaluated = None;
        f.live_refs = 0;
        f.last_scan = None;
        let a = assess("k", &f, at(8)).unwrap();
        assert!(a.action.contains("flagwarden scan"), "{}", a.action);
        f.last_scan = Some(at(8));
        assert!(
            assess("k", &f, at(8))
                .unwrap()
                .action
                .contains("flagwarden archive k")
        );
        f.live_refs = 3;
        assert!(
            assess("k", &f, at(8))
                .unwrap()
                .action
                .contains("cleanup_flag")
        );
    }

    #[test]
    fn a_decided_experiment_is_debt_with_its_winner_to_ship() {
        let mut f = facts();
        f.decided_experiments.push(DecidedExperiment {
            env: "production".into(),
            rollout_id: 4,
            winner: Some("b".into()),
            decided_at: Timestamp::from_second(1_800_000_000).unwrap(),
        });
        let a = assess("f", &f, Timestamp::from_second(1_800_000_100).unwrap()).unwrap();
        assert!(
            a.findings
                .iter()
                .any(|x| x.reason == Reason::ExperimentDecided && x.evidence.contains("\"b\" won")),
            "{:?}",
            a.findings
        );
        assert!(a.action.contains("candidate_variant \"b\""), "{}", a.action);
    }
}
