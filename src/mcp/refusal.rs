//! Refusals every client reads. Codex shows a tool result's serialized structured content and no error
//! flag; Claude Code reads only structured content when there is some. So an in-band error (a policy
//! denial, a bad argument, a stale version, a confirmation that cannot be used) also carries
//! structured content whose first words say it was refused, naming the rule or field, followed by the
//! message with the way forward: `{"refused": "denied by production.max_auto_percent (25%): a human can
//! approve with ...", "kind": "denied", "rule": "production.max_auto_percent"}`. The text content stays
//! the message, for clients that read text.
//!
//! This is done once, on every tool's answer (`Server::call_tool`), from the message: every error text
//! has one of the shapes `AppError` and the argument extractor write, which the tests below pin.

use rmcp::model::{CallToolResponse, CallToolResult};
use serde::Serialize;

use super::args::IN_BAND_PREFIX;

/// An in-band error as structured content. Field order is the order clients print.
#[derive(Debug, PartialEq, Serialize)]
pub struct Refusal {
    /// The whole message: what was refused (the rule or field first) and what to do instead.
    pub refused: String,
    /// denied, invalid, invalid_arguments, internal or refused (not found, conflict, confirmation).
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Gives an error result without structured content its refusal; anything else passes unchanged.
pub fn structure(response: CallToolResponse) -> CallToolResponse {
    let CallToolResponse::Complete(mut result) = response else {
        return response;
    };
    if result.is_error == Some(true) && result.structured_content.is_none() {
        let text = text_of(&result);
        let refusal = classify(&text);
        // The derive cannot fail on a struct of strings.
        result.structured_content = serde_json::to_value(&refusal).ok();
    }
    result.into()
}

fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads which refusal a message is from its shape.
pub fn classify(text: &str) -> Refusal {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix(IN_BAND_PREFIX) {
        let rest = rest.trim_start();
        let field = path_of(rest).or_else(|| backticked_field(rest));
        let refused = match path_of(rest) {
            Some(_) => format!("invalid {rest}"),
            None => format!("invalid arguments: {rest}"),
        };
        return Refusal {
            refused,
            kind: "invalid_arguments",
            rule: None,
            field,
        };
    }
    let denied = text
        .strip_prefix("dry run: would be denied by ")
        .or_else(|| text.strip_prefix("denied by "));
    if let Some(rule) = denied
        .and_then(|r| r.split_once(": "))
        .map(|(rule, _)| rule)
    {
        return Refusal {
            refused: text.to_owned(),
            kind: "denied",
            rule: Some(rule.split_whitespace().next().unwrap_or(rule).to_owned()),
            field: None,
        };
    }
    if let Some((field, _)) = text
        .strip_prefix("invalid ")
        .and_then(|r| r.split_once(": "))
    {
        return Refusal {
            refused: text.to_owned(),
            kind: "invalid",
            rule: None,
            field: Some(field.to_owned()),
        };
    }
    let kind = if text.starts_with("internal error") {
        "internal"
    } else {
        "refused"
    };
    Refusal {
        refused: if kind == "refused" {
            format!("refused: {text}")
        } else {
            text.to_owned()
        },
        kind,
        rule: None,
        field: None,
    }
}

/// `rules[0].serve: invalid type ...` → `rules[0].serve`: a leading path has no spaces or quotes.
fn path_of(message: &str) -> Option<String> {
    let (path, _) = message.split_once(": ")?;
    let plain = !path.is_empty()
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.[]-".contains(c));
    plain.then(|| path.to_owned())
}

/// serde's "missing field `key`" and "unknown field `x`, expected ..." name the field in backticks.
fn backticked_field(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))?;
    rest.split_once('`').map(|(f, _)| f.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::AppError;

    fn check(text: &str, kind: &str, rule: Option<&str>, field: Option<&str>, starts: &str) {
        let r = classify(text);
        assert_eq!(r.kind, kind, "{text}");
        assert_eq!(r.rule.as_deref(), rule, "{text}");
        assert_eq!(r.field.as_deref(), field, "{text}");
        assert!(r.refused.starts_with(starts), "{text} -> {}", r.refused);
        // The serialized form, what Codex and Claude Code show, opens with the refusal.
        let shown = serde_json::to_string(&r).unwrap();
        assert!(
            shown.starts_with(&format!("{{\"refused\":\"{starts}")),
            "{shown}"
        );
    }

    #[test]
    fn every_app_error_shape_is_read() {
        let denied = AppError::Denied {
            rule: "production.max_auto_percent".into(),
            message: "25%: a human can approve with `flagwarden approve 4`".into(),
            dry_run: false,
        };
        check(
            &denied.to_string(),
            "denied",
            Some("production.max_auto_percent"),
            None,
            "denied by production.max_auto_percent: 25%",
        );
        let dry = AppError::Denied {
            rule: "production.freeze".into(),
            message: "frozen until Monday".into(),
            dry_run: true,
        };
        check(
            &dry.to_string(),
            "denied",
            Some("production.freeze"),
            None,
            "dry run: would be denied by production.freeze",
        );
        let invalid = AppError::Invalid {
            field: "rules[0].serve".into(),
            message: "give exactly one of `variant` or `split`".into(),
        };
        check(
            &invalid.to_string(),
            "invalid",
            None,
            Some("rules[0].serve"),
            "invalid rules[0].serve: give exactly one",
        );
        let missing = AppError::NotFound("unknown flag \"x\": list_flags shows the keys".into());
        check(
            &missing.to_string(),
            "refused",
            None,
            None,
            "refused: unknown flag",
        );
        let stale = AppError::Conflict("stale expected_version 3: the flag is at 4".into());
        check(
            &stale.to_string(),
            "refused",
            None,
            None,
            "refused: stale expected_version",
        );
    }

    #[test]
    fn argument_errors_name_their_field() {
        check(
            &format!(
                "{IN_BAND_PREFIX} rules[0].conditions[1].values: invalid type: string \"x\", expected an array"
            ),
            "invalid_arguments",
            None,
            Some("rules[0].conditions[1].values"),
            "invalid rules[0].conditions[1].values: invalid type",
        );
        check(
            &format!("{IN_BAND_PREFIX} missing field `key`"),
            "invalid_arguments",
            None,
            Some("key"),
            "invalid arguments: missing field `key`",
        );
        check(
            &format!("{IN_BAND_PREFIX} unknown field `colour`, expected one of `key`"),
            "invalid_arguments",
            None,
            Some("colour"),
            "invalid arguments: unknown field `colour`",
        );
    }

    #[test]
    fn successes_and_structured_errors_pass_unchanged() {
        let ok = CallToolResult::structured(serde_json::json!({"summary": "done"}));
        let CallToolResponse::Complete(after) = structure(ok.clone().into()) else {
            panic!("complete stays complete")
        };
        assert_eq!(after, ok);
        let err = CallToolResult::structured_error(serde_json::json!({"refused": "x"}));
        let CallToolResponse::Complete(after) = structure(err.clone().into()) else {
            panic!("complete stays complete")
        };
        assert_eq!(after, err);
    }
}
