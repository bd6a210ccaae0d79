//! The pre-release checklist: which items an environment's policy requires before a rollout starts
//! (per change type), which of them only a human may attest, the facts the app gathers about one
//! flag (`ChecklistFacts`), and `missing`, every unmet item with how to supply it. Pure: the facts
//! and `now` come in as arguments, so `decide` can check the list at `start_canary`.

use std::collections::BTreeMap;
use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::domain::duration::fmt_duration;
use crate::domain::flag::ChangeType;

/// One thing that must be true of a flag before exposure starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChecklistItem {
    /// Who owns the flag (the flag's `owner`).
    Owner,
    /// Whom to call when it goes wrong (the flag's `escalation`).
    Escalation,
    /// The rollback plan in words: what the last-known-good is and what else must be undone.
    Plan,
    /// The gate's evidence already flowing: recent evaluations in the environment, or a stated reason
    /// there can be none.
    Evidence,
    /// Known limitations of the change, in words.
    Limitations,
    /// A passing rollback rehearsal newer than the flag's last change.
    Rehearsal,
}

impl ChecklistItem {
    pub const ALL: [ChecklistItem; 6] = [
        ChecklistItem::Owner,
        ChecklistItem::Escalation,
        ChecklistItem::Plan,
        ChecklistItem::Evidence,
        ChecklistItem::Limitations,
        ChecklistItem::Rehearsal,
    ];
    pub const NAMES: &'static str =
        "\"owner\", \"escalation\", \"plan\", \"evidence\", \"limitations\" or \"rehearsal\"";

    pub fn as_str(self) -> &'static str {
        match self {
            ChecklistItem::Owner => "owner",
            ChecklistItem::Escalation => "escalation",
            ChecklistItem::Plan => "plan",
            ChecklistItem::Evidence => "evidence",
            ChecklistItem::Limitations => "limitations",
            ChecklistItem::Rehearsal => "rehearsal",
        }
    }

    pub fn parse(s: &str) -> Option<ChecklistItem> {
        ChecklistItem::ALL.into_iter().find(|i| i.as_str() == s)
    }

    /// Items a person states in words, which the policy may reserve for humans. Owner and escalation
    /// are fields of the flag, set by whoever may create or edit it.
    pub fn attestable(self) -> bool {
        !matches!(self, ChecklistItem::Owner | ChecklistItem::Escalation)
    }
}

impl fmt::Display for ChecklistItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[environments.E.checklist]`: what must be in place before a rollout starts here.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChecklistPolicy {
    /// Items every change type needs, unless `by_type` names its own list.
    pub required: Vec<ChecklistItem>,
    /// Change type → its own list (an empty list: nothing required for that type).
    pub by_type: BTreeMap<String, Vec<ChecklistItem>>,
    /// Items an agent's word does not satisfy: a person attests them (`flagwarden checklist attest`,
    /// or a rehearsal run from the CLI).
    pub human_only: Vec<ChecklistItem>,
    /// How recent the environment's last evaluation of the flag must be to count as evidence flowing.
    pub evidence_within: SignedDuration,
}

impl Default for ChecklistPolicy {
    fn default() -> Self {
        ChecklistPolicy {
            required: Vec::new(),
            by_type: BTreeMap::new(),
            human_only: Vec::new(),
            evidence_within: SignedDuration::from_hours(24),
        }
    }
}

impl ChecklistPolicy {
    /// The items a change of this type needs here.
    pub fn items_for(&self, change_type: ChangeType) -> &[ChecklistItem] {
        self.by_type
            .get(change_type.as_str())
            .unwrap_or(&self.required)
    }

    /// Whether any change type needs anything at all.
    pub fn is_on(&self) -> bool {
        !self.required.is_empty() || self.by_type.values().any(|l| !l.is_empty())
    }
}

/// A statement in words and who made it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attested {
    pub text: String,
    pub by_human: bool,
    /// Where it came from, for the refusal: "start_canary" or "attestation #3".
    pub source: String,
}

/// The latest rollback rehearsal of the flag in the environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RehearsalFact {
    pub id: i64,
    pub at: Timestamp,
    pub passed: bool,
    pub by_human: bool,
    /// Why it failed, when it did.
    pub why: String,
}

/// What the app knows about one flag in one environment when a rollout would start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChecklistFacts {
    pub flag: String,
    pub change_type: ChangeType,
    pub owner: Option<String>,
    pub escalation: Option<String>,
    pub plan: Option<Attested>,
    pub limitations: Option<Attested>,
    /// A stated reason the environment can have no evaluations yet.
    pub no_evidence: Option<Attested>,
    /// The environment's latest evaluation of the flag.
    pub last_evaluated_at: Option<Timestamp>,
    pub rehearsal: Option<RehearsalFact>,
    /// The flag's last change: a rehearsal older than this does not count.
    pub flag_changed_at: Timestamp,
}

/// Every required item the facts do not meet, each with how to supply it, in the policy's order.
pub fn missing(
    policy: &ChecklistPolicy,
    env: &str,
    facts: &ChecklistFacts,
    now: Timestamp,
) -> Vec<String> {
    let key = &facts.flag;
    let human = |i: ChecklistItem| policy.human_only.contains(&i);
    // A statement counts when it was made, and by a person where the policy asks for one.
    let stated = |i: ChecklistItem, a: &Option<Attested>| {
        a.as_ref()
            .is_some_and(|a| !a.text.trim().is_empty() && (a.by_human || !human(i)))
    };
    let by_agent_only = |i: ChecklistItem, a: &Option<Attested>| {
        a.as_ref().is_some_and(|a| !a.by_human) && human(i)
    };
    let attest = |i: ChecklistItem| {
        format!(
            "a human runs `flagwarden checklist attest {key} --env {env} --item {i} --text \"...\"`"
        )
    };
    let mut out = Vec::new();
    for &item in policy.items_for(facts.change_type) {
        let gap = match item {
            ChecklistItem::Owner => facts.owner.as_deref().is_none_or(|o| o.trim().is_empty()).then(|| {
                format!("owner: {key} has no owner; set `owner` on create_flag, or a human runs `flagwarden flags contacts {key} --owner TEAM`")
            }),
            ChecklistItem::Escalation => facts.escalation.as_deref().is_none_or(|o| o.trim().is_empty()).then(|| {
                format!("escalation: {key} names no escalation contact; set `escalation` on create_flag, or a human runs `flagwarden flags contacts {key} --escalation PAGER`")
            }),
            ChecklistItem::Plan | ChecklistItem::Limitations => {
                let a = if item == ChecklistItem::Plan { &facts.plan } else { &facts.limitations };
                let what = if item == ChecklistItem::Plan {
                    "no rollback plan: say what the last-known-good is and what else must be undone"
                } else {
                    "no known limitations stated (write \"none known\" if there are none)"
                };
                (!stated(item, a)).then(|| {
                    if by_agent_only(item, a) {
                        format!("{item}: only a human may attest it in {env}; {}", attest(item))
                    } else if human(item) {
                        format!("{item}: {what}; {}", attest(item))
                    } else {
                        format!("{item}: {what}; pass `{item}` on start_canary, or {}", attest(item))
                    }
                })
            }
            ChecklistItem::Evidence => {
                let fresh = facts
                    .last_evaluated_at
                    .is_some_and(|at| now.duration_since(at) <= policy.evidence_within);
                (!fresh && !stated(item, &facts.no_evidence)).then(|| {
                    let seen = match facts.last_evaluated_at {
                        Some(at) => format!("the last evaluation of {key} in {env} was {} ago", fmt_duration(now.duration_since(at))),
                        None => format!("{key} was never evaluated in {env}"),
                    };
                    let how = if human(item) {
                        attest(item)
                    } else {
                        format!("pass `no_evidence` (why there can be none) on start_canary, or {}", attest(item))
                    };
                    format!(
                        "evidence: {seen}, so the gate would have nothing to judge; deploy the code that evaluates it (evaluations within {} count), or {how}",
                        fmt_duration(policy.evidence_within)
                    )
                })
            }
            ChecklistItem::Rehearsal => {
                let how = if human(item) {
                    format!("a human runs `flagwarden rollouts rehearse {key} --env {env}`")
                } else {
                    format!("call start_canary with `rehearse: true`, or run `flagwarden rollouts rehearse {key} --env {env}`")
                };
                match &facts.rehearsal {
                    None => Some(format!("rehearsal: the rollback of {key} in {env} was never rehearsed; {how}")),
                    Some(r) if r.at < facts.flag_changed_at => Some(format!(
                        "rehearsal: rehearsal #{} is older than the flag's last change ({}); rehearse again: {how}",
                        r.id, facts.flag_changed_at
                    )),
                    Some(r) if !r.passed => Some(format!(
                        "rehearsal: rehearsal #{} failed: {}; fix that, then {how}",
                        r.id, r.why
                    )),
                    Some(r) if !r.by_human && human(item) => Some(format!(
                        "rehearsal: rehearsal #{} was an agent's, and in {env} only a human's counts; {how}",
                        r.id
                    )),
                    Some(_) => None,
                }
            }
        };
        out.extend(gap);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> ChecklistFacts {
        ChecklistFacts {
            flag: "f".into(),
            change_type: ChangeType::Code,
            owner: Some("team".into()),
            escalation: Some("pager".into()),
            plan: Some(Attested {
                text: "flip to off".into(),
                by_human: false,
                source: "start_canary".into(),
            }),
            limitations: Some(Attested {
                text: "none known".into(),
                by_human: false,
                source: "start_canary".into(),
            }),
            no_evidence: None,
            last_evaluated_at: Some("2026-01-01T00:00:00Z".parse().unwrap()),
            rehearsal: Some(RehearsalFact {
                id: 1,
                at: "2026-01-01T00:00:00Z".parse().unwrap(),
                passed: true,
                by_human: false,
                why: String::new(),
            }),
            flag_changed_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        }
    }

    fn all() -> ChecklistPolicy {
        ChecklistPolicy {
            required: ChecklistItem::ALL.to_vec(),
            ..ChecklistPolicy::default()
        }
    }

    #[test]
    fn a_complete_list_misses_nothing_and_an_empty_one_misses_everything() {
        let now: Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
        assert!(missing(&all(), "production", &facts(), now).is_empty());
        let empty = ChecklistFacts {
            owner: None,
            escalation: None,
            plan: None,
            limitations: None,
            last_evaluated_at: None,
            rehearsal: None,
            ..facts()
        };
        let gaps = missing(&all(), "production", &empty, now);
        assert_eq!(gaps.len(), 6, "{gaps:?}");
        for (g, item) in gaps.iter().zip(ChecklistItem::ALL) {
            assert!(g.starts_with(&format!("{item}: ")), "{g}");
        }
    }

    #[test]
    fn stale_failed_and_agent_only_statements_do_not_count() {
        let now: Timestamp = "2026-01-03T00:00:00Z".parse().unwrap();
        let mut p = all();
        p.human_only = vec![ChecklistItem::Limitations, ChecklistItem::Rehearsal];
        let mut f = facts();
        f.flag_changed_at = "2026-01-02T00:00:00Z".parse().unwrap();
        let gaps = missing(&p, "production", &f, now);
        assert!(
            gaps[0].starts_with("evidence: the last evaluation of f in production was 48h"),
            "{gaps:?}"
        );
        assert!(gaps[1].contains("only a human may attest it"), "{gaps:?}");
        assert!(
            gaps[2].contains("older than the flag's last change"),
            "{gaps:?}"
        );
        f.no_evidence = Some(Attested {
            text: "batch job, runs at 03:00".into(),
            by_human: false,
            source: "start_canary".into(),
        });
        f.flag_changed_at = f.rehearsal.as_ref().unwrap().at;
        f.rehearsal.as_mut().unwrap().passed = false;
        f.rehearsal.as_mut().unwrap().why = "lkg gone".into();
        let gaps = missing(&p, "production", &f, now);
        assert!(gaps.iter().all(|g| !g.starts_with("evidence")), "{gaps:?}");
        assert!(
            gaps.iter().any(|g| g.contains("failed: lkg gone")),
            "{gaps:?}"
        );
        // A kill switch's own empty list needs nothing.
        p.by_type.insert("kill_switch".into(), Vec::new());
        f.change_type = ChangeType::KillSwitch;
        assert!(missing(&p, "production", &f, now).is_empty());
    }
}
