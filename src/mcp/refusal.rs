//! Refusals every client reads. Codex shows a tool result's serialized structured content and no error
//! flag; Claude Code reads only structured content when there is some. So an in-band error (a policy
//! denial, a bad argument, a stale version, a confirmation that cannot be used) also carries
//! structured content whose first words say it was refused, naming the rule or field, followed by the
//! message with the way forward: `{"refused": "denied by production.max_auto_percent (25%): a human can
//! approve with ...", "kind": "denied", "rule": "production.max_auto_percent"}`. The text content stays
//! the message, for clients that read text.
//!
//! A tool body's error is a `Refused`, made from the `AppError` variant itself (its rule or field), so
//! nothing is read back out of a message. The one error a tool body never sees is a bad argument:
//! rmcp's router turns the extractor's error (`args.rs`) into an in-band result, and `structure` gives
//! that result its refusal from the path the extractor wrote.

use rmcp::ErrorData;
use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};
use serde::Serialize;

use super::args::IN_BAND_PREFIX;
use crate::app::AppError;

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

impl Refusal {
    fn new(
        message: &str,
        kind: &'static str,
        rule: Option<String>,
        field: Option<String>,
    ) -> Refusal {
        // A denial and an invalid value already open with what was refused; the rest say so first.
        let refused = match kind {
            "refused" => format!("refused: {message}"),
            _ => message.to_owned(),
        };
        Refusal {
            refused,
            kind,
            rule,
            field,
        }
    }
}

/// A tool's in-band error: the message as text, its `Refusal` as structured content.
#[derive(Debug)]
pub struct Refused {
    message: String,
    refusal: Refusal,
}

impl Refused {
    /// A refusal the MCP edge makes itself, with no rule or field (a confirmation that cannot be used).
    pub fn other(message: impl Into<String>) -> Refused {
        let message = message.into();
        let refusal = Refusal::new(&message, "refused", None, None);
        Refused { message, refusal }
    }

    /// A failure that is not the caller's to fix: nothing changed.
    pub fn internal(message: impl Into<String>) -> Refused {
        let message = message.into();
        let refusal = Refusal::new(&message, "internal", None, None);
        Refused { message, refusal }
    }
}

/// The message, as the text content says it.
impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<AppError> for Refused {
    fn from(e: AppError) -> Refused {
        let message = e.to_string();
        let (kind, rule, field) = match e {
            AppError::Denied { rule, .. } => ("denied", Some(rule), None),
            AppError::Invalid { field, .. } => ("invalid", None, Some(field)),
            AppError::NotFound(_) | AppError::Conflict(_) => ("refused", None, None),
            AppError::Store(_) => ("internal", None, None),
        };
        let refusal = Refusal::new(&message, kind, rule, field);
        Refused { message, refusal }
    }
}

impl IntoCallToolResult for Refused {
    fn into_call_tool_result(self) -> Result<CallToolResponse, ErrorData> {
        let mut result = CallToolResult::error(vec![ContentBlock::text(self.message)]);
        // The derive cannot fail on a struct of strings.
        result.structured_content = serde_json::to_value(&self.refusal).ok();
        Ok(result.into())
    }
}

/// Gives an error result without structured content (an argument the extractor refused) its
/// refusal; anything else passes unchanged.
pub fn structure(response: CallToolResponse) -> CallToolResponse {
    let CallToolResponse::Complete(mut result) = response else {
        return response;
    };
    if result.is_error == Some(true) && result.structured_content.is_none() {
        let text = text_of(&result);
        result.structured_content = serde_json::to_value(argument_refusal(&text)).ok();
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

/// The refusal of an argument error, from the path `args.rs` writes first: `<path>: <message>`, or
/// serde's own words for a missing or unknown field at the top.
fn argument_refusal(text: &str) -> Refusal {
    let text = text.trim();
    let Some(rest) = text.strip_prefix(IN_BAND_PREFIX) else {
        return Refusal::new(text, "refused", None, None);
    };
    let rest = rest.trim_start();
    let path = path_of(rest);
    let field = path.clone().or_else(|| backticked_field(rest));
    let refused = match path {
        Some(_) => format!("invalid {rest}"),
        None => format!("invalid arguments: {rest}"),
    };
    Refusal {
        refused,
        kind: "invalid_arguments",
        rule: None,
        field,
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

    fn check(r: &Refusal, kind: &str, rule: Option<&str>, field: Option<&str>, starts: &str) {
        assert_eq!(r.kind, kind, "{r:?}");
        assert_eq!(r.rule.as_deref(), rule, "{r:?}");
        assert_eq!(r.field.as_deref(), field, "{r:?}");
        assert!(r.refused.starts_with(starts), "{r:?}");
        // The serialized form, what Codex and Claude Code show, opens with the refusal.
        let shown = serde_json::to_string(r).unwrap();
        assert!(
            shown.starts_with(&format!("{{\"refused\":\"{starts}")),
            "{shown}"
        );
    }

    fn of(e: AppError) -> Refusal {
        Refused::from(e).refusal
    }

    #[test]
    fn every_app_error_becomes_its_refusal() {
        let denied = of(AppError::Denied {
            rule: "production.max_auto_percent".into(),
            message: "25%: a human can approve with `flagwarden approve 4`".into(),
            dry_run: false,
        });
        check(
            &denied,
            "denied",
            Some("production.max_auto_percent"),
            None,
            "denied by production.max_auto_percent: 25%",
        );
        let dry = of(AppError::Denied {
            rule: "production.freeze".into(),
            message: "frozen until Monday".into(),
            dry_run: true,
        });
        check(
            &dry,
            "denied",
            Some("production.freeze"),
            None,
            "dry run: would be denied by production.freeze",
        );
        let invalid = of(AppError::Invalid {
            field: "rules[0].serve".into(),
            message: "give exactly one of `variant` or `split`".into(),
        });
        check(
            &invalid,
            "invalid",
            None,
            Some("rules[0].serve"),
            "invalid rules[0].serve: give exactly one",
        );
        let missing = of(AppError::NotFound(
            "unknown flag \"x\": list_flags shows the keys".into(),
        ));
        check(&missing, "refused", None, None, "refused: unknown flag");
        let stale = of(AppError::Conflict(
            "stale expected_version 3: the flag is at 4".into(),
        ));
        check(
            &stale,
            "refused",
            None,
            None,
            "refused: stale expected_version",
        );
        let internal = Refused::internal("internal error: the request failed and changed nothing");
        check(&internal.refusal, "internal", None, None, "internal error");
    }

    #[test]
    fn a_refused_result_is_an_error_with_text_and_structure() {
        let CallToolResponse::Complete(result) = Refused::other("the confirmation expired")
            .into_call_tool_result()
            .unwrap()
        else {
            panic!("a refusal is a complete result")
        };
        assert_eq!(result.is_error, Some(true));
        assert_eq!(text_of(&result), "the confirmation expired");
        assert_eq!(
            result.structured_content.unwrap()["refused"],
            "refused: the confirmation expired"
        );
    }

    #[test]
    fn argument_errors_name_their_field() {
        check(
            &argument_refusal(&format!(
                "{IN_BAND_PREFIX} rules[0].conditions[1].values: invalid type: string \"x\", expected an array"
            )),
            "invalid_arguments",
            None,
            Some("rules[0].conditions[1].values"),
            "invalid rules[0].conditions[1].values: invalid type",
        );
        check(
            &argument_refusal(&format!("{IN_BAND_PREFIX} missing field `key`")),
            "invalid_arguments",
            None,
            Some("key"),
            "invalid arguments: missing field `key`",
        );
        check(
            &argument_refusal(&format!(
                "{IN_BAND_PREFIX} unknown field `colour`, expected one of `key`"
            )),
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
