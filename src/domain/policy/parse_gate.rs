//! The gate section of an environment (`[environments.NAME.gate]`): its raw form and how it becomes
//! the frozen `GateConfig`, defaults filled in, with levels, durations, metrics and breakers checked.

use std::collections::BTreeMap;

use jiff::SignedDuration;
use serde::Deserialize;
use toml::Spanned;

use super::error::{Ctx, PolicyError};
use crate::domain::duration::parse_duration;
use crate::domain::gate::{Breaker, GateConfig, Metric, MetricConfig, SrmAction, default_metric};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGate {
    alpha_rollback: Option<Spanned<f64>>,
    alpha_promote: Option<Spanned<f64>>,
    tuning_n: Option<Spanned<f64>>,
    min_samples: Option<Spanned<u64>>,
    required: Option<Spanned<Vec<String>>>,
    fresh_within: Option<Spanned<String>>,
    no_traffic_grace: Option<Spanned<String>>,
    max_step_duration: Option<Spanned<String>>,
    srm_threshold: Option<Spanned<f64>>,
    srm_action: Option<SrmAction>,
    #[serde(default)]
    metrics: BTreeMap<String, Spanned<RawMetric>>,
    #[serde(default)]
    breakers: Vec<Spanned<RawBreaker>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    margin: Option<f64>,
    min_samples: Option<u64>,
    critical: Option<bool>,
    floor: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreaker {
    metric: String,
    above: Option<f64>,
    below: Option<f64>,
    #[serde(default)]
    min_samples: u64,
}

pub(super) fn parse_gate(
    cx: &Ctx,
    at: &str,
    span: std::ops::Range<usize>,
    g: RawGate,
) -> Result<GateConfig, PolicyError> {
    let f = |k: &str| format!("{at}.{k}");
    let mut cfg = GateConfig::default();
    let level = |v: &Option<Spanned<f64>>, key: &str, default: f64| match v {
        None => Ok(default),
        Some(a) if *a.get_ref() > 0.0 && *a.get_ref() < 0.5 => Ok(*a.get_ref()),
        Some(a) => Err(cx.err(a.span(), f(key), "a level between 0 and 0.5, e.g. 0.05")),
    };
    cfg.alpha_rollback = level(&g.alpha_rollback, "alpha_rollback", cfg.alpha_rollback)?;
    cfg.alpha_promote = level(&g.alpha_promote, "alpha_promote", cfg.alpha_promote)?;
    cfg.srm_threshold = level(&g.srm_threshold, "srm_threshold", cfg.srm_threshold)?;
    if let Some(t) = &g.tuning_n {
        if !(*t.get_ref() >= 10.0 && t.get_ref().is_finite()) {
            return Err(cx.err(
                t.span(),
                f("tuning_n"),
                "the planned total samples of both arms, at least 10, e.g. 5000",
            ));
        }
        cfg.tuning_n = *t.get_ref();
    }
    if let Some(a) = g.srm_action {
        cfg.srm_action = a;
    }
    let duration = |v: &Option<Spanned<String>>, key: &str, default: SignedDuration| match v {
        None => Ok(default),
        Some(d) => parse_duration(d.get_ref())
            .filter(|d| *d > SignedDuration::ZERO)
            .ok_or_else(|| {
                cx.err(
                    d.span(),
                    f(key),
                    "use a duration such as \"15m\" or \"24h\"",
                )
            }),
    };
    cfg.fresh_within = duration(&g.fresh_within, "fresh_within", cfg.fresh_within)?;
    cfg.no_traffic_grace = duration(
        &g.no_traffic_grace,
        "no_traffic_grace",
        cfg.no_traffic_grace,
    )?;
    cfg.max_step_duration = duration(
        &g.max_step_duration,
        "max_step_duration",
        cfg.max_step_duration,
    )?;
    let min_samples = match &g.min_samples {
        Some(n) if *n.get_ref() == 0 => {
            return Err(cx.err(n.span(), f("min_samples"), "at least 1 sample per arm"));
        }
        Some(n) => *n.get_ref(),
        None => 200,
    };
    cfg.metrics = Metric::BUILT_IN
        .into_iter()
        .map(|m| default_metric(m, min_samples))
        .collect();
    for (name, raw) in g.metrics {
        let s = raw.span();
        let field = f(&format!("metrics.{name}"));
        let metric = Metric::parse(&name).map_err(|m| cx.err(s.clone(), &field, m))?;
        let raw = raw.into_inner();
        let m = match cfg.metrics.iter_mut().find(|m| m.metric == metric) {
            Some(m) => m,
            None => {
                cfg.metrics.push(default_metric(metric, min_samples));
                cfg.metrics.last_mut().expect("just pushed")
            }
        };
        if let Some(margin) = raw.margin {
            if !(0.0..=1.0).contains(&margin) {
                return Err(cx.err(
                    s,
                    format!("{field}.margin"),
                    "how much worse the canary may be, between 0 and 1, e.g. 0.01",
                ));
            }
            m.margin = margin;
        }
        if let Some(floor) = raw.floor {
            if !(0.0..=1.0).contains(&floor) {
                return Err(cx.err(
                    s,
                    format!("{field}.floor"),
                    "a rate or score between 0 and 1",
                ));
            }
            m.floor = Some(floor);
        }
        m.min_samples = raw.min_samples.unwrap_or(m.min_samples).max(1);
        m.critical = raw.critical.unwrap_or(m.critical);
    }
    if let Some(req) = g.required {
        let s = req.span();
        let names = req.into_inner();
        if names.is_empty() {
            return Err(cx.err(s, f("required"), "name at least one metric that must be shown no worse, e.g. [\"error_rate\"]; missing evidence is never a pass"));
        }
        for m in &mut cfg.metrics {
            m.required = false;
        }
        for name in names {
            let metric = Metric::parse(&name).map_err(|m| cx.err(s.clone(), f("required"), m))?;
            match cfg.metrics.iter_mut().find(|m| m.metric == metric) {
                Some(m) => m.required = true,
                None => cfg.metrics.push(MetricConfig {
                    required: true,
                    ..default_metric(metric, min_samples)
                }),
            }
        }
    }
    for (i, b) in g.breakers.into_iter().enumerate() {
        let s = b.span();
        let field = f(&format!("breakers[{i}]"));
        let b = b.into_inner();
        let metric = Metric::parse(&b.metric)
            .map_err(|m| cx.err(s.clone(), format!("{field}.metric"), m))?;
        if b.above.is_some() == b.below.is_some() {
            return Err(cx.err(s, field, "give exactly one of above or below, e.g. { metric = \"error_rate\", above = 0.2, min_samples = 20 }"));
        }
        if metric == Metric::LatencyP95 {
            return Err(cx.err(s, format!("{field}.metric"), "latency_p95 is relative to the control; a breaker needs an absolute metric such as error_rate"));
        }
        cfg.breakers.push(Breaker {
            metric,
            above: b.above,
            below: b.below,
            min_samples: b.min_samples,
        });
    }
    let _ = span;
    Ok(cfg)
}
