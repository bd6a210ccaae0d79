//! `[segments.NAME]` and the policy's uses of them: the segments themselves (audiences in the
//! targeting rules' condition language), an environment's `steps` with segment steps before its
//! percentages, and `segments_first`, the segments a change type's rollout must expose first.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::error::{Ctx, PolicyError};
use crate::domain::bucket::Percent;
use crate::domain::flag::ChangeType;
use crate::domain::rules::ConditionSpec;
use crate::domain::segment::{Plan, Segment, StepSpec, names};

/// `[segments.NAME]`: a named audience in the targeting rules' condition language.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSegment {
    #[serde(default)]
    description: String,
    conditions: Vec<ConditionSpec>,
}

pub(super) fn parse_segments(
    cx: &Ctx,
    raw: BTreeMap<String, Spanned<RawSegment>>,
) -> Result<BTreeMap<String, Segment>, PolicyError> {
    let mut segments = BTreeMap::new();
    for (name, seg) in raw {
        let span = seg.span();
        let field = format!("segments.{name}");
        let seg = seg.into_inner();
        let parsed =
            Segment::parse(&field, &name, seg.description, seg.conditions).map_err(|e| {
                // Point at the `conditions` line; the error names the exact field below it.
                let mut err = cx.err(span.clone(), format!("{field}.conditions"), e.message);
                err.field = e.field;
                err
            })?;
        segments.insert(name, parsed);
    }
    Ok(segments)
}

/// An environment's `steps`: segment names first, then percentages ending at 100.
pub(super) fn parse_plan(
    cx: &Ctx,
    field: &str,
    list: &Spanned<Vec<Spanned<StepSpec>>>,
    segments: &BTreeMap<String, Segment>,
) -> Result<(Vec<Percent>, Vec<String>), PolicyError> {
    let plan = list
        .get_ref()
        .iter()
        .map(|s| s.get_ref().step().map_err(|m| cx.err(s.span(), field, m)))
        .collect::<Result<Vec<_>, _>>()?;
    let plan = Plan::check(
        field,
        &plan,
        &|n| segments.contains_key(n),
        &names(segments),
    )
    .map_err(|e| {
        // Point at the entry named by the error's index, else at the list.
        let at = e
            .field
            .rsplit_once('[')
            .and_then(|(_, i)| i.trim_end_matches(']').parse::<usize>().ok())
            .and_then(|i| list.get_ref().get(i))
            .map_or(list.span(), |s| s.span());
        cx.err(at, field, e.message)
    })?;
    Ok((plan.percents, plan.segments))
}

/// `segments_first = { prompt = ["internal"] }`: per change type, segments that come first.
pub(super) fn parse_segments_first(
    cx: &Ctx,
    field: &str,
    sf: &Spanned<BTreeMap<String, Vec<String>>>,
    segments: &BTreeMap<String, Segment>,
) -> Result<BTreeMap<String, Vec<String>>, PolicyError> {
    let mut out = BTreeMap::new();
    for (ty, list) in sf.get_ref() {
        let field = format!("{field}.{ty}");
        if let Err(e) = ChangeType::parse(ty) {
            return Err(cx.err(sf.span(), field, e.message));
        }
        if list.is_empty() {
            return Err(cx.err(
                sf.span(),
                field,
                "name at least one segment, e.g. [\"internal\"]",
            ));
        }
        if let Some(n) = list.iter().find(|n| !segments.contains_key(*n)) {
            return Err(cx.err(
                sf.span(),
                field,
                format!(
                    "unknown segment {n:?}: defined segments are {}",
                    names(segments)
                ),
            ));
        }
        out.insert(ty.clone(), list.clone());
    }
    Ok(out)
}
