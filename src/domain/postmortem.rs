//! A blameless postmortem of one rollout, built from the record alone: its audit events, its stored
//! gate evaluations and its exposure history. `report` is pure (the app gathers the records), so
//! every number it prints comes with the audit event (`#seq`) or gate evaluation (`eval #id`) it
//! was read from, and the same records always give the same report.

use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};

use crate::domain::audit::AuditEvent;
use crate::domain::bucket::Percent;
use crate::domain::duration::fmt_duration;
use crate::domain::gate::GateEvaluation;
use crate::domain::rollout::Rollout;

/// Everything the report is built from.
pub struct Record<'a> {
    pub rollout: &'a Rollout,
    /// The rollout's audit events, oldest first.
    pub events: &'a [AuditEvent],
    /// Its stored gate evaluations, oldest first.
    pub evaluations: &'a [GateEvaluation],
    /// The canary share in force from each instant on (`rollout_steps`).
    pub steps: &'a [(Timestamp, Percent)],
    /// The smallest first step the environment's policy allows, for "what would have caught it".
    pub smallest_step: Option<Percent>,
    /// The end of the record: the rollout's end, or now for one still running.
    pub until: Timestamp,
}

/// The instants the report measures from, each with where it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub started: Option<(Timestamp, i64)>,
    pub first_harm: Option<(Timestamp, i64)>,
    pub froze: Option<(Timestamp, i64)>,
    pub recovered: Option<(Timestamp, i64)>,
}

fn ts(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

/// The instants: the first exposure, the first evaluation that said ROLLBACK, the first freeze
/// (a proposal or pause) after it, and the rollback.
pub fn facts(r: &Record) -> Facts {
    let allowed = |e: &&AuditEvent| e.decision == "allow" || e.decision == "needs_approval";
    let started = r
        .events
        .iter()
        .filter(allowed)
        .find(|e| matches!(e.action.as_str(), "start_canary" | "approve"))
        .and_then(|e| Some((ts(&e.ts)?, e.seq)));
    let first_harm = r
        .evaluations
        .iter()
        .find(|g| g.verdict == "ROLLBACK")
        .and_then(|g| Some((ts(&g.evaluated_at)?, g.id)));
    let after_harm =
        |e: &&AuditEvent| first_harm.is_some_and(|(at, _)| ts(&e.ts).is_some_and(|t| t >= at));
    let froze = r
        .events
        .iter()
        .filter(allowed)
        .filter(after_harm)
        .find(|e| {
            matches!(e.action.as_str(), "propose_rollback" | "pause" | "rollback")
                || (e.action == "advance_canary" && e.approval_id.is_some())
        })
        .and_then(|e| Some((ts(&e.ts)?, e.seq)));
    let recovered = r
        .events
        .iter()
        .filter(|e| e.decision == "allow")
        .find(|e| {
            e.action == "rollback"
                || e.action == "abort"
                || (e.action == "approve"
                    && e.after.contains("\"kind\":\"rollback\"")
                    && e.after.contains("\"status\":\"approved\""))
        })
        .and_then(|e| Some((ts(&e.ts)?, e.seq)));
    Facts {
        started,
        first_harm,
        froze,
        recovered,
    }
}

/// The canary share over time: (from, to, share), the last one ending at the rollback or `until`.
pub fn exposure(r: &Record, end: Timestamp) -> Vec<(Timestamp, Timestamp, Percent)> {
    let mut out = Vec::new();
    for (i, (from, share)) in r.steps.iter().enumerate() {
        if *from >= end {
            break;
        }
        let to = r.steps.get(i + 1).map_or(end, |(t, _)| (*t).min(end));
        out.push((*from, to, *share));
    }
    out
}

fn minutes(d: SignedDuration) -> f64 {
    d.as_secs_f64() / 60.0
}

/// The canary arm's exposures counted by the last evaluation at or before `at`, with its id.
fn canary_units(r: &Record, at: Timestamp) -> Option<(u64, i64)> {
    r.evaluations
        .iter()
        .rfind(|g| ts(&g.evaluated_at).is_some_and(|t| t <= at))
        .map(|g| {
            let n = g.inputs["canary"]["counts"]["exposures"]
                .as_u64()
                .or_else(|| g.inputs["canary"]["exposures"].as_u64())
                .unwrap_or(0);
            (n, g.id)
        })
}

/// The report in Markdown.
pub fn report(r: &Record) -> String {
    let ro = r.rollout;
    let f = facts(r);
    let end = f.recovered.map_or(r.until, |(t, _)| t);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Postmortem: rollout {} of `{}` in {}\n",
        ro.id, ro.flag, ro.env
    );
    let _ = writeln!(
        md,
        "Blameless: what the record shows, not who is at fault. Every number names the audit event (`#seq`) or gate evaluation (`eval #id`) it comes from.\n"
    );
    let _ = writeln!(md, "## What changed\n");
    let _ = writeln!(
        md,
        "- candidate `{}` against the last-known-good `{}`; planned steps {}",
        ro.candidate,
        ro.lkg,
        ro.steps
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(md, "- state now: {}", ro.state.as_str());
    if let Some(plan) = r
        .events
        .iter()
        .find(|e| e.action == "start_canary" && e.decision != "deny")
        .and_then(|e| serde_json::from_str::<serde_json::Value>(&e.args).ok())
    {
        for k in ["plan", "limitations", "no_evidence"] {
            if let Some(v) = plan[k].as_str() {
                let _ = writeln!(md, "- {k} as stated at the start: {v}");
            }
        }
    }
    let _ = writeln!(md, "\n## Timeline\n");
    let _ = writeln!(
        md,
        "| # | time | who | action | decision | policy | reason / message |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for e in r.events {
        let rule = e
            .rule
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let words = [e.reason.as_deref(), e.message.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" / ");
        let _ = writeln!(
            md,
            "| #{} | {} | {} {} | {} | {}{rule} | v{} | {} |",
            e.seq,
            e.ts,
            e.actor_kind,
            e.actor,
            e.action,
            e.decision,
            e.policy_version,
            words.replace('|', "\\|").replace('\n', " ")
        );
    }
    let _ = writeln!(md, "\n## Exposure\n");
    let mut share_minutes = 0.0;
    for (from, to, share) in exposure(r, end) {
        let m = minutes(to.duration_since(from));
        share_minutes += share.as_f64() * m / 100.0;
        let units = canary_units(r, to).map_or(String::new(), |(n, id)| {
            format!(", {n} canary units counted by then (eval #{id})")
        });
        let _ = writeln!(md, "- {share} from {from} to {to}: {m:.1} min{units}");
    }
    let units_minutes: f64 = {
        let mut total = 0.0;
        let mut prev = 0u64;
        for (from, to, _) in exposure(r, end) {
            if let Some((n, _)) = canary_units(r, to) {
                total += n.saturating_sub(prev) as f64 * minutes(to.duration_since(from));
                prev = n.max(prev);
            }
        }
        total
    };
    let _ = writeln!(
        md,
        "- exposure: {share_minutes:.1} share-minutes (percent of traffic × minutes / 100); about {units_minutes:.0} unit-minutes (canary units counted per step × the step's minutes)"
    );
    let _ = writeln!(md, "\n## Detection and recovery\n");
    match f.started {
        Some((t, seq)) => {
            let _ = writeln!(md, "- exposure started: {t} (#{seq})");
        }
        None => {
            let _ = writeln!(md, "- exposure never started");
        }
    }
    match f.first_harm {
        Some((t, id)) => {
            let why = r
                .evaluations
                .iter()
                .find(|g| g.id == id)
                .and_then(|g| {
                    g.result["reasons"].as_array().map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                })
                .unwrap_or_default();
            let _ = writeln!(
                md,
                "- harm first detectable: {t} (eval #{id}, the first look whose bounds excluded the margin: {why})"
            );
        }
        None => {
            let _ = writeln!(md, "- no stored gate evaluation found harm");
        }
    }
    if let Some((t, seq)) = f.froze {
        let _ = writeln!(md, "- exposure froze: {t} (#{seq})");
    }
    match f.recovered {
        Some((t, seq)) => {
            let _ = writeln!(md, "- rollback completed: {t} (#{seq})");
        }
        None => {
            let _ = writeln!(md, "- no rollback completed");
        }
    }
    if let (Some((s, seq)), Some((h, id))) = (f.started, f.first_harm) {
        let _ = writeln!(
            md,
            "- time to detect: {} (#{seq} → eval #{id})",
            fmt_duration(h.duration_since(s))
        );
    }
    if let (Some((h, id)), Some((t, seq))) = (f.first_harm, f.recovered) {
        let _ = writeln!(
            md,
            "- time to recover: {} (eval #{id} → #{seq})",
            fmt_duration(t.duration_since(h))
        );
    }
    let _ = writeln!(md, "\n## Decisions and the evidence behind them\n");
    for e in r
        .events
        .iter()
        .filter(|e| e.after.contains("gate_evaluation_id"))
    {
        let id = serde_json::from_str::<serde_json::Value>(&e.after)
            .ok()
            .and_then(|v| v["gate_evaluation_id"].as_i64());
        if let Some(g) = id.and_then(|id| r.evaluations.iter().find(|g| g.id == id)) {
            let _ = writeln!(
                md,
                "- #{} {} by {} {}: eval #{} said {}",
                e.seq, e.action, e.actor_kind, e.actor, g.id, g.verdict
            );
        }
    }
    let _ = writeln!(
        md,
        "\n## What the record shows would have caught it earlier\n"
    );
    let first = ro.steps.first().copied();
    match (first, r.smallest_step) {
        (Some(first), Some(small)) if first > small => {
            let _ = writeln!(
                md,
                "- a smaller first step: {small} instead of {first} would have exposed {:.0}× fewer units before detection",
                first.as_f64() / small.as_f64().max(0.01)
            );
        }
        _ => {
            let _ = writeln!(
                md,
                "- the first step was already the smallest the policy allows"
            );
        }
    }
    let holds_before = r
        .evaluations
        .iter()
        .take_while(|g| g.verdict != "ROLLBACK")
        .count();
    if f.first_harm.is_some() {
        let _ = writeln!(
            md,
            "- {holds_before} looks before the harm was detectable; a metric that moves sooner (configured in the gate with `required` or a breaker) would have shown it earlier"
        );
    } else {
        let _ = writeln!(
            md,
            "- no look found harm: if harm happened, the gate had no metric that saw it; configure one"
        );
    }
    md
}
