//! Shadow runs in the app: what `start_canary` checks before one starts, and how one becomes a live
//! canary. A shadow run that `advance_canary` (or a human's approval of that step) finds within its
//! margin keeps its rollout, its evidence and its stored evaluations: the mode turns to canary, the
//! shadow arm starts being served the candidate at the same share, and the canary's gate reads only
//! the periods that begin after the change (`shadow_ended_at`), so no shadow report counts as canary
//! evidence. The last `shadow_agreement` result is kept on the rollout and shown by canary_status.

use super::*;
use crate::domain::gate::{GateResult, SHADOW_AGREEMENT};
use crate::domain::mode::Mode;
use crate::domain::rollout::Rollout;

/// A shadow run needs a candidate beside the last-known-good to compare against.
pub(super) fn check_shadow(flag: &Flag, candidate: &str, lkg: &str) -> Result<()> {
    if flag.variants.len() < 2 || candidate == lkg {
        return Err(invalid(
            "mode",
            format!(
                "a shadow run compares a candidate with the last-known-good {lkg:?}, and flag {} has {} variant(s): add a candidate variant first",
                flag.key,
                flag.variants.len()
            ),
        ));
    }
    Ok(())
}

/// The shadow run's share and the share it would expose once converted: nobody sees the candidate
/// yet, and the canary starts at the share the shadow arm had.
pub(super) fn conversion_move(r: &Rollout) -> (Percent, Percent) {
    (Percent::ZERO, r.percent())
}

/// Keeps the shadow result the gate passed on the rollout, for the record.
pub(super) fn keep_result(r: &mut Rollout, gate: &GateResult) {
    if let Some(m) = gate.metrics.iter().find(|m| m.metric == SHADOW_AGREEMENT) {
        r.analysis.shadow_result = Some(m.clone());
    }
}

/// The shadow run as a live canary from `now`, at the share its shadow arm had.
pub(super) fn converted(r: &Rollout, now: jiff::Timestamp) -> Rollout {
    let mut next = r.clone();
    next.analysis.mode = Mode::Canary;
    next.analysis.shadow_ended_at = Some(now);
    next.step_started_at = Some(now);
    next.updated_at = now;
    next
}

/// What canary_status shows of the shadow run a canary came from.
pub(super) fn shadow_record(r: &Rollout) -> Option<serde_json::Value> {
    let ended = r.analysis.shadow_ended_at?;
    Some(serde_json::json!({
        "from_shadow": true,
        "shadow_ended_at": store::ts_text(ended),
        "shadow_agreement": r.analysis.shadow_result,
        "margin": r.analysis.shadow.as_ref().map(|s| s.margin),
    }))
}

/// `advance_canary` on a shadow run the gate passed: it becomes a live canary now, or a human is
/// asked to approve that step where the policy reserves it.
pub(super) fn convert(
    tx: &Tx,
    flag: &mut Flag,
    r: &Rollout,
    gate: &GateResult,
    decision: &Decision,
    reason: &str,
    evaluation: i64,
) -> Result<(Rollout, Option<i64>, String)> {
    let env = r.env.as_str();
    let at = r.percent();
    let (mut next, approval, summary) = match decision {
        Decision::NeedsApproval { rule, message } => {
            let next = r
                .apply(
                    crate::domain::rollout::Event::RequestApproval {
                        target: r.step.unwrap_or(0),
                    },
                    tx.now,
                )
                .map_err(|e| AppError::Conflict(e.0))?;
            let a = tx.open_approval(ApprovalRequest {
                kind: "advance_canary",
                rollout: Some(&next),
                flag: flag.key.as_str(),
                env,
                rule,
                reason,
                target: Some(at),
            })?;
            let summary = format!(
                "shadow run {} passed; open approval #{a} to make it a live canary at {at} ({message}); a human runs `flagwarden approve {a}`",
                r.id
            );
            (next, Some(a), summary)
        }
        _ => {
            let next = converted(r, tx.now);
            tx.expose(flag, &next)?;
            let summary = format!(
                "shadow run {} becomes a live canary: {at} of {env} now get {:?}; its shadow evidence stays on record (gate evaluation #{evaluation}); record signals, then advance_canary",
                r.id, r.candidate
            );
            (next, None, summary)
        }
    };
    keep_result(&mut next, gate);
    store::save_rollout(tx.conn, &next)?;
    tx.bump(flag)?;
    Ok((next, approval, summary))
}
