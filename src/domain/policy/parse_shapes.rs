//! The sections for release shapes beside the canary: `[environments.E.shadow]` (a shadow run's
//! divergence margin) and `[environments.E.experiments]` (the splits an experiment may use, how much
//! traffic an agent may put into one, its guardrails, level and stated sample), each value checked
//! and named on error.

use serde::Deserialize;
use toml::Spanned;

use super::error::{Ctx, PolicyError};
use crate::domain::bucket::Percent;
use crate::domain::experiment::ExperimentBounds;
use crate::domain::gate::{Metric, ShadowConfig};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawShadow {
    margin: Option<Spanned<f64>>,
    min_samples: Option<u64>,
    alpha: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExperiments {
    weights: Option<Spanned<Vec<Vec<i64>>>>,
    max_traffic: Option<Spanned<f64>>,
    guardrails: Option<Spanned<Vec<String>>>,
    alpha: Option<Spanned<f64>>,
    sample: Option<u64>,
}

fn share(
    cx: &Ctx,
    v: Option<Spanned<f64>>,
    field: String,
    ok: impl Fn(f64) -> bool,
    hint: &str,
) -> Result<Option<f64>, PolicyError> {
    match v {
        None => Ok(None),
        Some(x) if ok(*x.get_ref()) => Ok(Some(*x.get_ref())),
        Some(x) => Err(cx.err(x.span(), field, hint)),
    }
}

/// A section's `alpha`, the error level of its anytime-valid test.
fn alpha(cx: &Ctx, v: Option<Spanned<f64>>, field: &str) -> Result<Option<f64>, PolicyError> {
    share(
        cx,
        v,
        format!("{field}.alpha"),
        |a| a > 0.0 && a <= 0.2,
        "an error level above 0 and at most 0.2, e.g. 0.05",
    )
}

/// `[environments.E.shadow]`: `field` names it as `environments.E.shadow`.
pub(super) fn parse_shadow(
    cx: &Ctx,
    field: &str,
    raw: RawShadow,
) -> Result<ShadowConfig, PolicyError> {
    let mut c = ShadowConfig::default();
    if let Some(m) = share(
        cx,
        raw.margin,
        format!("{field}.margin"),
        |m| m > 0.0 && m < 1.0,
        "the largest share of shadow units that may diverge, above 0 and below 1, e.g. 0.02",
    )? {
        c.margin = m;
    }
    if let Some(a) = alpha(cx, raw.alpha, field)? {
        c.alpha = a;
    }
    if let Some(n) = raw.min_samples {
        c.min_samples = n;
    }
    Ok(c)
}

/// `[environments.E.experiments]`: `field` names it as `environments.E.experiments`.
pub(super) fn parse_experiments(
    cx: &Ctx,
    field: &str,
    raw: RawExperiments,
) -> Result<ExperimentBounds, PolicyError> {
    let mut b = ExperimentBounds::default();
    if let Some(w) = raw.weights {
        let span = w.span();
        let mut splits = Vec::new();
        for (i, split) in w.into_inner().into_iter().enumerate() {
            let ok = split.len() >= 2
                && split.iter().all(|x| (1..=99).contains(x))
                && split.iter().sum::<i64>() == 100;
            if !ok {
                return Err(cx.err(
                    span,
                    format!("{field}.weights[{i}]"),
                    "a split of two or more whole percents from 1 to 99 that sum to 100, e.g. [50, 50] or [34, 33, 33]",
                ));
            }
            splits.push(split.into_iter().map(|x| x as u16).collect());
        }
        if splits.is_empty() {
            return Err(cx.err(
                span,
                format!("{field}.weights"),
                "list at least one allowed split, e.g. [[50, 50]]",
            ));
        }
        b.weights = splits;
    }
    if let Some(t) = raw.max_traffic {
        b.max_traffic = Percent::from_percent(*t.get_ref())
            .map_err(|m| cx.err(t.span(), format!("{field}.max_traffic"), m))?;
    }
    if let Some(g) = raw.guardrails {
        let span = g.span();
        let mut out = Vec::new();
        for (i, name) in g.into_inner().iter().enumerate() {
            let m = Metric::parse(name)
                .map_err(|m| cx.err(span.clone(), format!("{field}.guardrails[{i}]"), m))?;
            if m == Metric::LatencyP95 {
                return Err(cx.err(
                    span,
                    format!("{field}.guardrails[{i}]"),
                    "latency_p95 needs a control arm's P95, which an experiment has not: use error_rate, a success rate, eval_score or a custom counter",
                ));
            }
            out.push(m);
        }
        b.guardrails = out;
    }
    if let Some(a) = alpha(cx, raw.alpha, field)? {
        b.alpha = a;
    }
    if let Some(n) = raw.sample {
        b.sample = n.max(1);
    }
    Ok(b)
}
