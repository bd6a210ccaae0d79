//! The `[environments.E.checklist]` section: its raw form and the checked `ChecklistPolicy` (items by
//! name, per change type, which only a human may attest, how recent evidence must be).

use std::collections::BTreeMap;

use jiff::SignedDuration;
use serde::Deserialize;
use toml::Spanned;

use super::checklist::{ChecklistItem, ChecklistPolicy};
use super::error::{Ctx, PolicyError};
use crate::domain::duration::parse_duration;
use crate::domain::flag::ChangeType;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChecklist {
    #[serde(default)]
    required: Vec<Spanned<String>>,
    #[serde(default)]
    by_type: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    human_only: Vec<Spanned<String>>,
    evidence_within: Option<Spanned<String>>,
}

fn items(
    cx: &Ctx,
    field: &str,
    raw: Vec<Spanned<String>>,
) -> Result<Vec<ChecklistItem>, PolicyError> {
    let mut out = Vec::new();
    for s in raw {
        let item = ChecklistItem::parse(s.get_ref()).ok_or_else(|| {
            cx.err(
                s.span(),
                field,
                format!(
                    "unknown checklist item {:?}: use {}",
                    s.get_ref(),
                    ChecklistItem::NAMES
                ),
            )
        })?;
        if !out.contains(&item) {
            out.push(item);
        }
    }
    Ok(out)
}

/// `env` is the dotted prefix, e.g. `environments.production`.
pub(super) fn parse_checklist(
    cx: &Ctx,
    env: &str,
    raw: RawChecklist,
) -> Result<ChecklistPolicy, PolicyError> {
    let f = |k: &str| format!("{env}.checklist.{k}");
    let mut by_type = BTreeMap::new();
    for (name, list) in raw.by_type {
        let field = f(&format!("by_type.{name}"));
        if let Err(e) = ChangeType::parse(&name) {
            return Err(cx.err(list.span(), field, e.message));
        }
        by_type.insert(name, items(cx, &field, list.into_inner())?);
    }
    let mut human_only = Vec::new();
    for s in raw.human_only {
        let span = s.span();
        let one = items(cx, &f("human_only"), vec![s])?;
        if let Some(item) = one.first().filter(|i| !i.attestable()) {
            return Err(cx.err(
                span,
                f("human_only"),
                format!("{item} is a field of the flag, set by whoever may create or edit it; human_only takes \"plan\", \"evidence\", \"limitations\" or \"rehearsal\""),
            ));
        }
        human_only.extend(one);
    }
    let mut c = ChecklistPolicy {
        required: items(cx, &f("required"), raw.required)?,
        by_type,
        human_only,
        ..ChecklistPolicy::default()
    };
    if let Some(text) = raw.evidence_within {
        c.evidence_within = parse_duration(text.get_ref())
            .filter(|d| *d > SignedDuration::ZERO && *d <= SignedDuration::from_hours(24 * 90))
            .ok_or_else(|| {
                cx.err(
                    text.span(),
                    f("evidence_within"),
                    "a duration between 1s and 90 days, such as \"24h\"",
                )
            })?;
    }
    Ok(c)
}
