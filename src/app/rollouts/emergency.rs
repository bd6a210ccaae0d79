//! Emergency changes: what is done in an environment while a human's break-glass is open. `mutate`
//! asks `under_break_glass` about every event it is about to write: the event is marked with the
//! break-glass window it was done under, and a change to a flag opens that flag's follow-up review
//! (an approval of kind `follow_up`, one pending per flag and environment), which `flagwarden
//! approvals`, the approvals API and the webhooks show until a second person closes it with a note
//! (`close_follow_up`; never an agent, never the person who broke the glass alone).

use serde_json::json;

use super::*;

/// Actions that settle approvals: closing a review under break-glass must not open another.
const SETTLING: [&str; 2] = ["approve", "reject"];

/// The mark for an event done under break-glass (and, for a flag change, its follow-up opened as a
/// system event), or `None` outside break-glass.
pub(crate) fn under_break_glass(tx: &mut Tx, audit: &Audit, tool: &str) -> Result<Option<String>> {
    let Some(env) = audit.env.as_deref() else {
        return Ok(None);
    };
    let Some((glass, opener)) = store::active_break_glass(tx.conn, env, tx.now)? else {
        return Ok(None);
    };
    let action = audit.action.unwrap_or(tool);
    let mark = format!("emergency: done under break-glass #{glass} in {env}, opened by {opener}");
    let Some(flag) = audit.flag.as_deref() else {
        return Ok(Some(mark));
    };
    if audit.evidence_only || SETTLING.contains(&action) {
        return Ok(Some(mark));
    }
    let open = store::pending_approvals_for(tx.conn, flag, env)?
        .into_iter()
        .find(|a| a.kind == "follow_up");
    if let Some(a) = open {
        return Ok(Some(format!("{mark}; follow-up review #{}", a.id)));
    }
    // Opened in the opener's name: the person who broke the glass cannot close it alone.
    let id = store::insert_approval(
        tx.conn,
        &Approval {
            id: 0,
            kind: "follow_up".into(),
            flag: flag.into(),
            env: env.into(),
            rollout_id: audit.rollout_id,
            target_percent: None,
            requested_by: format!("human:{opener}"),
            rule: "break_glass".into(),
            reason: format!(
                "emergency change ({action}) under break-glass #{glass}: a second person reviews what was done and closes this with a note"
            ),
            status: "pending".into(),
            approvals_needed: 1,
            approved_by: Vec::new(),
            decided_by: None,
            decision_reason: None,
            created_at: store::ts_text(tx.now),
            decided_at: None,
            decided_via: None,
        },
    )?;
    tx.system_events.push((
        "open_follow_up".into(),
        Audit {
            flag: Some(flag.into()),
            env: Some(env.into()),
            rollout_id: audit.rollout_id,
            approval_id: Some(id),
            decision: Some(Decision::Allow),
            after: json!({"follow_up": id, "break_glass": glass, "action": action}),
            evidence_only: true,
            ..Audit::default()
        },
        Some(format!("{mark}: follow-up review #{id} opened; a second person closes it with `flagwarden approve {id} --reason NOTE`")),
    ));
    Ok(Some(format!("{mark}; follow-up review #{id} opened")))
}
