//! The short release note a notice carries: what the flag is (description, change type, owner),
//! the rollout's plan and exposure, and the evidence in words (the gate's verdict and each
//! metric's estimate). `release_note` is pure: the worker reads the flag, the rollout and the
//! evaluation through `App` when it sends (never inside a commit) and passes them in. `worth_telling`
//! says whether a hold is news: one that waits only for samples or dwell is not.

use serde::Serialize;

use super::Notice;
use crate::app::App;
use crate::app::types::{CanaryStatus, FlagView, RolloutView};
use crate::domain::gate::{GateResult, Label, MetricResult};
use crate::domain::policy::NotifyEvent;

/// What people read about the release beside the event itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseNote {
    pub description: String,
    pub change_type: String,
    pub owner: Option<String>,
    /// The rollout's steps as people name them (`5%`, `segment "staff"`).
    pub plan: Vec<String>,
    /// The exposure served when the notice was sent.
    pub exposure: Option<String>,
    /// Units seen so far in the canary and control arms.
    pub exposures: Option<[u64; 2]>,
    /// The gate's verdict behind the event, or its latest one: PROMOTE, HOLD or ROLLBACK.
    pub verdict: Option<String>,
    /// Each metric's estimate in words, then the gate's reasons.
    pub evidence: Vec<String>,
}

/// `n` with its release note, read through `App` now (outside any commit; blocking, so call it on
/// the blocking pool), or `None` when it is a hold that is no news (`worth_telling`). A note that
/// cannot be read is left out, not waited for: the notice itself still goes. `who` names the
/// reader in logs.
pub fn with_release_note(app: &App, mut n: Notice, who: &str) -> Option<Notice> {
    let Some(key) = n.flag.clone() else {
        return Some(n); // a notice about no flag (a break-glass) has no release to describe
    };
    let read = (|| -> Result<_, crate::app::AppError> {
        let flag = app.get_flag(&key)?;
        let status = n.rollout_id.map(|id| app.rollout_status(id)).transpose()?;
        let gate = match (n.rollout_id, n.gate_evaluation_id) {
            (Some(r), Some(id)) => app
                .gate_evaluations(r, 50)?
                .into_iter()
                .find(|g| g.id == id)
                .and_then(|g| serde_json::from_value::<GateResult>(g.result).ok()),
            _ => None,
        };
        Ok((flag, status, gate))
    })();
    match read {
        Ok((flag, status, gate)) => {
            if !worth_telling(&n, gate.as_ref()) {
                return None;
            }
            let note = release_note(&flag, status.as_ref(), gate.as_ref());
            // A segment step is named by the rollout now; the audit event records only its index.
            if n.exposure
                .as_deref()
                .is_none_or(|e| e.starts_with("segment step"))
            {
                n.exposure = note.exposure.clone().or(n.exposure);
            }
            n.release_note = Some(note);
        }
        Err(e) => tracing::debug!("{who}: no release note for event {}: {e}", n.audit_seq),
    }
    Some(n)
}

/// The release note for `flag`, its rollout now (`status`) and the gate result behind the event
/// (`gate`, else the status's latest).
pub fn release_note(
    flag: &FlagView,
    status: Option<&CanaryStatus>,
    gate: Option<&GateResult>,
) -> ReleaseNote {
    let rollout = status.and_then(|s| s.rollout.as_ref());
    let gate = gate.or_else(|| status.and_then(|s| s.gate.as_ref()));
    // A metric with no samples in either arm says nothing yet; "no evidence yet" says it once.
    let mut evidence: Vec<String> = gate
        .map(|g| {
            g.metrics
                .iter()
                .filter(|m| m.canary.n + m.control.n > 0)
                .map(metric_words)
                .collect()
        })
        .unwrap_or_default();
    if evidence.is_empty() && gate.is_some() {
        evidence.push("no evidence yet: no metric has samples".into());
    }
    if let Some(g) = gate {
        evidence.extend(g.reasons.iter().take(3).cloned());
    }
    ReleaseNote {
        description: flag.description.clone(),
        change_type: flag.change_type.as_str().to_owned(),
        owner: flag.owner.clone(),
        plan: rollout.map(plan).unwrap_or_default(),
        exposure: rollout.map(exposure),
        exposures: status.map(|s| [s.canary.counts.exposures, s.control.counts.exposures]),
        verdict: gate.map(|g| verdict_name(g).to_owned()),
        evidence,
    }
}

fn verdict_name(g: &GateResult) -> &'static str {
    match g.verdict {
        crate::domain::gate::Verdict::Promote => "PROMOTE",
        crate::domain::gate::Verdict::Hold => "HOLD",
        crate::domain::gate::Verdict::Rollback => "ROLLBACK",
    }
}

fn plan(r: &RolloutView) -> Vec<String> {
    let mut segments = r.segments.iter();
    r.steps
        .iter()
        .map(|p| match (*p > 0.0, segments.next()) {
            (false, Some(s)) => format!("segment {s:?}"),
            _ => format!("{p}%"),
        })
        .collect()
}

fn exposure(r: &RolloutView) -> String {
    match &r.segment {
        Some(s) => format!("segment {s:?}"),
        None => format!("{}%", r.percent),
    }
}

/// `error_rate: canary 1.20% vs control 1.00% (n 4000/4000), NONINFERIOR`.
fn metric_words(m: &MetricResult) -> String {
    let value = |v: Option<f64>| match v {
        Some(v) if v <= 1.0 => format!("{:.2}%", v * 100.0),
        Some(v) => format!("{v:.3}"),
        None => "no data".into(),
    };
    let label = match m.label {
        Label::Insufficient => "INSUFFICIENT (too few samples to judge)",
        Label::Harm => "HARM (worse beyond the margin)",
        Label::Noninferior => "NONINFERIOR (no worse than the margin)",
        Label::Inconclusive => "INCONCLUSIVE (not yet shown either way)",
    };
    format!(
        "{}: canary {} vs control {} (n {}/{}), {label}",
        m.metric,
        value(m.canary.value),
        value(m.control.value),
        m.canary.n,
        m.control.n
    )
}

/// Whether a notice is worth sending once its evidence is known. A hold is news when the evidence
/// is unsure or bad (a metric INCONCLUSIVE or HARM, a breaker tripped); one that only waits for
/// samples (INSUFFICIENT) or for dwell would tell people the same nothing at every look.
pub fn worth_telling(n: &Notice, gate: Option<&GateResult>) -> bool {
    if n.event != NotifyEvent::Held {
        return true;
    }
    let Some(g) = gate else { return true };
    g.breakers.iter().any(|b| b.tripped)
        || g.metrics
            .iter()
            .any(|m| matches!(m.label, Label::Inconclusive | Label::Harm))
}

/// The note in a few lines, for bodies that show text (Slack).
pub fn note_lines(r: &ReleaseNote) -> Vec<String> {
    let mut lines = vec![format!(
        "{} ({} change, owner {})",
        r.description,
        r.change_type,
        r.owner.as_deref().unwrap_or("not set")
    )];
    if !r.plan.is_empty() {
        lines.push(format!(
            "plan {}; now {}",
            r.plan.join(" → "),
            r.exposure.as_deref().unwrap_or("unknown")
        ));
    }
    if let Some([canary, control]) = r.exposures {
        lines.push(format!(
            "exposed so far: {canary} canary, {control} control"
        ));
    }
    if let Some(v) = &r.verdict {
        lines.push(format!("gate: {v}"));
    }
    lines.extend(r.evidence.iter().cloned());
    lines
}
