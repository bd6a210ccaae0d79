//! The bodies a webhook receives for a notice: the generic JSON body (the notice serialized as is)
//! and Slack's incoming-webhook body, whose text from people is escaped so it cannot become markup;
//! and for a digest webhook, one body carrying several notices in order (`digest_body`).

use serde_json::{Value, json};

use super::{Notice, note_lines};
use crate::domain::policy::{NotifyEvent, WebhookFormat};

/// The body a webhook of `format` receives for `n`.
pub fn body(format: WebhookFormat, n: &Notice) -> Value {
    match format {
        WebhookFormat::Json => serde_json::to_value(n).expect("notices serialize"),
        WebhookFormat::Slack => slack_body(n),
    }
}

/// Most notices a Slack digest lists one by one: Slack takes at most 50 blocks a message.
const SLACK_DIGEST_MOST: usize = 40;

/// One body for the notices a digest webhook batched, oldest first. Generic: `event` is `digest`,
/// `notices` the generic bodies; Slack: a line per notice (its title and summary) and a context
/// line naming the events.
pub fn digest_body(format: WebhookFormat, notices: &[Notice]) -> Value {
    let first = notices.first().map_or(0, |n| n.audit_seq);
    let through = notices.last().map_or(0, |n| n.audit_seq);
    let summary = format!(
        "{} release notice{} (audit events {first} to {through})",
        notices.len(),
        if notices.len() == 1 { "" } else { "s" }
    );
    match format {
        WebhookFormat::Json => json!({
            "event": "digest",
            "summary": summary,
            "from_seq": first,
            "through_seq": through,
            "notices": notices,
        }),
        WebhookFormat::Slack => {
            let mut blocks: Vec<Value> = notices
                .iter()
                .take(SLACK_DIGEST_MOST)
                .map(|n| {
                    json!({"type": "section", "text": {"type": "mrkdwn", "text": format!(
                        "*{}*: {}", title(n), slack_escape(&n.summary)
                    )}})
                })
                .collect();
            if notices.len() > SLACK_DIGEST_MOST {
                blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": format!(
                    "and {} more; `flagwarden audit` lists them all", notices.len() - SLACK_DIGEST_MOST
                )}}));
            }
            blocks.push(json!({"type": "context", "elements": [{
                "type": "mrkdwn",
                "text": format!("digest of audit events {first} to {through}"),
            }]}));
            json!({"text": format!("flagwarden digest: {summary}"), "blocks": blocks})
        }
    }
}

fn title(n: &Notice) -> String {
    match (n.event, n.decision.as_deref()) {
        (NotifyEvent::ApprovalRequested, _) => "Approval requested".to_owned(),
        (NotifyEvent::ApprovalDecided, Some(d)) => format!("Approval {d}"),
        (NotifyEvent::ApprovalDecided, None) => "Approval decided".to_owned(),
        (NotifyEvent::Started, _) => "Rollout started".to_owned(),
        (NotifyEvent::Advanced, _) => "Rollout advanced".to_owned(),
        (NotifyEvent::Held, _) => "Rollout held".to_owned(),
        (NotifyEvent::Paused, _) => "Rollout paused".to_owned(),
        (NotifyEvent::Completed, _) => "Rollout completed".to_owned(),
        (NotifyEvent::RolledBack, _) => "Rolled back".to_owned(),
        (NotifyEvent::Emergency, _) => "Emergency change".to_owned(),
    }
}

/// Slack's incoming-webhook body: `text` (what notifications and old clients show) and one
/// mrkdwn section with the details, then a context line naming the audit event.
pub fn slack_body(n: &Notice) -> Value {
    let title = title(n);
    let mut lines = vec![format!("*{title}*: {}", slack_escape(&n.summary))];
    if let Some(reason) = n.reason.as_deref().filter(|r| !r.trim().is_empty()) {
        for line in reason.lines() {
            lines.push(format!(">{}", slack_escape(line)));
        }
    }
    if n.event == NotifyEvent::ApprovalRequested
        && let Some(id) = n.approval_id
    {
        lines.push(format!(
            "Decide: `flagwarden approve {id}` or `flagwarden reject {id} --reason TEXT`"
        ));
    }
    if let Some(note) = &n.release_note {
        lines.extend(note_lines(note).iter().map(|l| slack_escape(l)));
    }
    json!({
        "text": format!("flagwarden: {}", slack_escape(&n.summary)),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": lines.join("\n")}},
            {"type": "context", "elements": [{
                "type": "mrkdwn",
                "text": format!("audit event {} · {} · {}", n.audit_seq, slack_escape(&n.actor), n.at),
            }]},
        ],
    })
}

/// Slack reads `&`, `<` and `>` as markup (links, mentions); text from people must not be.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::notify::classify;
    use crate::notify::fixtures::event;

    #[test]
    fn bodies_carry_every_field_and_slack_text_is_escaped() {
        let mut n = classify(&event(
            "rollback",
            "needs_approval",
            Some(3),
            json!({"rollout": {"state": "ROLLBACK_PENDING"}}),
        ))
        .remove(0);
        n.reason = Some("p95 <2s> & rising\nsee dashboards".into());
        let generic = body(WebhookFormat::Json, &n);
        let keys: Vec<&str> = generic
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "event",
                "flag",
                "environment",
                "rollout_id",
                "approval_id",
                "approval_kind",
                "decision",
                "decided_via",
                "actor",
                "reason",
                "summary",
                "how_to_decide",
                "exposure",
                "gate_evaluation_id",
                "release_note",
                "audit_seq",
                "at"
            ]
        );
        assert_eq!(generic["event"], "approval_requested");
        assert_eq!(generic["audit_seq"], 9);
        let slack = body(WebhookFormat::Slack, &n);
        let section = slack["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(
            section,
            "*Approval requested*: system proposes rolling back pay in production (approval #3); exposure is frozen until a human decides\n\
             >p95 &lt;2s&gt; &amp; rising\n>see dashboards\n\
             Decide: `flagwarden approve 3` or `flagwarden reject 3 --reason TEXT`"
        );
        assert_eq!(slack["blocks"][0]["text"]["type"], "mrkdwn");
        assert!(
            slack["text"]
                .as_str()
                .unwrap()
                .starts_with("flagwarden: system proposes")
        );
    }
}
