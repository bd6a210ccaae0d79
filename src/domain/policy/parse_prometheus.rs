//! The Prometheus section of an environment (`[environments.NAME.prometheus]`, and per flag
//! `[environments.NAME.prometheus.flags.KEY]`): its raw form and how it becomes the checked
//! `PrometheusSource` each rollout's queries use. A flag's section may set any key of the
//! environment's; what it sets wins (metrics by name, guardrails as a whole list), the rest is the
//! environment's. Templates are checked here, so an unknown variable never reaches Prometheus.

use std::collections::BTreeMap;

use jiff::SignedDuration;
use serde::Deserialize;
use toml::Spanned;

use super::error::{Ctx, PolicyError};
use crate::domain::duration::parse_duration;
use crate::domain::flag::FlagKey;
use crate::domain::gate::{GateConfig, Metric};
use crate::domain::prometheus::{Guardrail, MetricQueries, PrometheusSource, QUERYABLE, Template};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPrometheus {
    url: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    delay: Option<Spanned<String>>,
    #[serde(default)]
    metrics: BTreeMap<String, Spanned<RawQueries>>,
    guardrails: Option<Vec<Spanned<RawGuardrail>>>,
    #[serde(default)]
    flags: BTreeMap<String, Spanned<RawPrometheus>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueries {
    trials: Spanned<String>,
    events: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGuardrail {
    name: String,
    query: Spanned<String>,
    above: Option<f64>,
    below: Option<f64>,
}

/// The environment's source (when it names a server) and each flag's, resolved.
pub(super) type Sources = (Option<PrometheusSource>, BTreeMap<String, PrometheusSource>);

/// Checks the section of environment `env`, whose gate is `gate`.
pub(super) fn parse_prometheus(
    cx: &Ctx,
    at: &str,
    span: std::ops::Range<usize>,
    raw: RawPrometheus,
    gate: &GateConfig,
) -> Result<Sources, PolicyError> {
    let base = Partial::read(cx, at, raw.url, raw.interval, raw.timeout, raw.delay)?;
    let metrics = queries(cx, at, raw.metrics, gate)?;
    let shared = raw.guardrails.map(|g| guardrails(cx, at, g)).transpose()?;
    let env = match &base.url {
        Some(_) => Some(base.complete(metrics.clone(), shared.clone().unwrap_or_default())),
        None if raw.flags.is_empty() => {
            return Err(cx.err(
                span,
                format!("{at}.url"),
                "name the Prometheus server, e.g. url = \"http://127.0.0.1:9090\" (or give each flag its own under flags.KEY)",
            ));
        }
        None => None,
    };
    let mut flags = BTreeMap::new();
    for (key, f) in raw.flags {
        let s = f.span();
        let fat = format!("{at}.flags.{key}");
        FlagKey::parse(&key).map_err(|e| cx.err(s.clone(), &fat, e.message))?;
        let f = f.into_inner();
        if !f.flags.is_empty() {
            return Err(cx.err(
                s,
                format!("{fat}.flags"),
                "a flag's section cannot hold flags of its own",
            ));
        }
        let own = Partial::read(cx, &fat, f.url, f.interval, f.timeout, f.delay)?;
        let merged = Partial {
            url: own.url.or_else(|| base.url.clone()),
            interval: own.interval.or(base.interval),
            timeout: own.timeout.or(base.timeout),
            delay: own.delay.or(base.delay),
        };
        if merged.url.is_none() {
            return Err(cx.err(
                s,
                format!("{fat}.url"),
                "name the Prometheus server here or in the environment's [prometheus] section",
            ));
        }
        let mut m = metrics.clone();
        for q in queries(cx, &fat, f.metrics, gate)? {
            m.retain(|old| old.metric != q.metric);
            m.push(q);
        }
        let g = match f.guardrails {
            Some(g) => guardrails(cx, &fat, g)?,
            None => shared.clone().unwrap_or_default(),
        };
        flags.insert(key, merged.complete(m, g));
    }
    Ok((env, flags))
}

/// The scalar keys of a section, each optional until resolved.
struct Partial {
    url: Option<String>,
    interval: Option<SignedDuration>,
    timeout: Option<SignedDuration>,
    delay: Option<SignedDuration>,
}

impl Partial {
    fn read(
        cx: &Ctx,
        at: &str,
        url: Option<Spanned<String>>,
        interval: Option<Spanned<String>>,
        timeout: Option<Spanned<String>>,
        delay: Option<Spanned<String>>,
    ) -> Result<Partial, PolicyError> {
        let url = url
            .map(|u| {
                let text = u.get_ref().trim().trim_end_matches('/');
                let ok = ["http://", "https://"]
                    .iter()
                    .any(|p| text.starts_with(p) && text.len() > p.len())
                    && !text.contains(['?', '#', ' ']);
                if ok {
                    Ok(text.to_owned())
                } else {
                    Err(cx.err(
                        u.span(),
                        format!("{at}.url"),
                        "the server's base URL, http:// or https://, without a query, e.g. \"http://127.0.0.1:9090\"",
                    ))
                }
            })
            .transpose()?;
        let duration =
            |v: Option<Spanned<String>>, key: &str, ok: fn(SignedDuration) -> bool, hint: &str| {
                v.map(|d| {
                    parse_duration(d.get_ref())
                        .filter(|x| ok(*x) && x.subsec_nanos() == 0)
                        .ok_or_else(|| cx.err(d.span(), format!("{at}.{key}"), hint))
                })
                .transpose()
            };
        Ok(Partial {
            url,
            interval: duration(
                interval,
                "interval",
                |d| d >= SignedDuration::from_secs(1) && d <= SignedDuration::from_hours(1),
                "whole seconds from \"1s\" to \"1h\", e.g. \"1m\": each window read is this long",
            )?,
            timeout: duration(
                timeout,
                "timeout",
                |d| d >= SignedDuration::from_secs(1) && d <= SignedDuration::from_mins(2),
                "whole seconds from \"1s\" to \"2m\", e.g. \"10s\"",
            )?,
            delay: duration(
                delay,
                "delay",
                |d| d <= SignedDuration::from_hours(1),
                "whole seconds up to \"1h\", e.g. \"15s\": about two scrape intervals, so a window's last scrape has landed",
            )?,
        })
    }

    fn complete(
        &self,
        metrics: Vec<MetricQueries>,
        guardrails: Vec<Guardrail>,
    ) -> PrometheusSource {
        PrometheusSource {
            url: self.url.clone().expect("checked by the caller"),
            interval: self.interval.unwrap_or(SignedDuration::from_mins(1)),
            timeout: self.timeout.unwrap_or(SignedDuration::from_secs(10)),
            delay: self.delay.unwrap_or(SignedDuration::from_secs(15)),
            metrics,
            guardrails,
        }
    }
}

fn template(cx: &Ctx, field: &str, t: &Spanned<String>) -> Result<Template, PolicyError> {
    Template::parse(t.get_ref()).map_err(|m| cx.err(t.span(), field, m))
}

fn queries(
    cx: &Ctx,
    at: &str,
    raw: BTreeMap<String, Spanned<RawQueries>>,
    gate: &GateConfig,
) -> Result<Vec<MetricQueries>, PolicyError> {
    let mut out = Vec::new();
    for (name, q) in raw {
        let s = q.span();
        let field = format!("{at}.metrics.{name}");
        let metric = Metric::parse(&name).map_err(|m| cx.err(s.clone(), &field, m))?;
        if matches!(
            metric,
            Metric::LatencyP95 | Metric::EvalScore | Metric::EvalScoreTail
        ) {
            return Err(cx.err(
                s,
                &field,
                format!(
                    "{name} is not a count of events over trials; Prometheus can feed {QUERYABLE}"
                ),
            ));
        }
        if matches!(metric, Metric::Custom(_)) && !gate.metrics.iter().any(|m| m.metric == metric) {
            return Err(cx.err(
                s,
                &field,
                format!("the gate does not judge {name}: declare it under the environment's [gate.metrics.{name}] too"),
            ));
        }
        let q = q.into_inner();
        let trials = template(cx, &format!("{field}.trials"), &q.trials)?;
        let events = template(cx, &format!("{field}.events"), &q.events)?;
        for (key, t, raw) in [
            ("trials", &trials, &q.trials),
            ("events", &events, &q.events),
        ] {
            if !t.uses("arm") {
                return Err(cx.err(
                    raw.span(),
                    format!("{field}.{key}"),
                    "select one arm's series with {{arm}} (e.g. arm=\"{{arm}}\"), or both arms would read the same numbers",
                ));
            }
        }
        out.push(MetricQueries {
            metric,
            trials,
            events,
        });
    }
    Ok(out)
}

fn guardrails(
    cx: &Ctx,
    at: &str,
    raw: Vec<Spanned<RawGuardrail>>,
) -> Result<Vec<Guardrail>, PolicyError> {
    let mut out: Vec<Guardrail> = Vec::new();
    for (i, g) in raw.into_iter().enumerate() {
        let s = g.span();
        let field = format!("{at}.guardrails[{i}]");
        let g = g.into_inner();
        let name_ok = !g.name.is_empty()
            && g.name.len() <= 64
            && g.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            return Err(cx.err(
                s,
                format!("{field}.name"),
                "a short name of lowercase letters, digits and '_', e.g. \"http_5xx_ratio\"",
            ));
        }
        if out.iter().any(|o| o.name == g.name) {
            return Err(cx.err(
                s,
                format!("{field}.name"),
                format!(
                    "{:?} is named twice; give each guardrail its own name",
                    g.name
                ),
            ));
        }
        let limits = [g.above, g.below];
        if g.above.is_some() == g.below.is_some() || limits.iter().flatten().any(|x| !x.is_finite())
        {
            return Err(cx.err(
                s,
                field,
                "give exactly one finite limit, above or below, e.g. { name = \"http_5xx_ratio\", query = \"…\", above = 0.05 }",
            ));
        }
        out.push(Guardrail {
            name: g.name,
            query: template(cx, &format!("{field}.query"), &g.query)?,
            above: g.above,
            below: g.below,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::domain::policy::Policy;

    const GOOD: &str = r#"version = 1
[environments.production.gate.metrics.refunds]
margin = 0.01
[environments.production.prometheus]
url = "http://127.0.0.1:9090/"
interval = "30s"
[environments.production.prometheus.metrics.error_rate]
trials = 'sum(increase(http_requests_total{arm="{{arm}}"}[{{window}}]))'
events = 'sum(increase(http_requests_total{arm="{{arm}}",code=~"5.."}[{{window}}])) or vector(0)'
[[environments.production.prometheus.guardrails]]
name = "http_5xx_ratio"
query = 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
above = 0.05
[environments.production.prometheus.flags.checkout]
url = "http://prom.internal:9090"
[environments.production.prometheus.flags.checkout.metrics.refunds]
trials = 'sum(increase(orders_total{arm="{{arm}}"}[{{window}}]))'
events = 'sum(increase(refunds_total{arm="{{arm}}"}[{{window}}]))'
"#;

    #[test]
    fn an_environment_and_a_flag_name_their_prometheus() {
        let p = Policy::parse("flagwarden.toml", GOOD).unwrap();
        let env = p.env("production").unwrap();
        let base = env.prometheus_for("anything").unwrap();
        assert_eq!(base.url, "http://127.0.0.1:9090");
        assert_eq!(base.interval.as_secs(), 30);
        assert_eq!((base.timeout.as_secs(), base.delay.as_secs()), (10, 15));
        assert_eq!(base.metrics.len(), 1);
        assert_eq!(base.guardrails[0].name, "http_5xx_ratio");
        assert!(base.guardrails[0].trips(0.06) && !base.guardrails[0].trips(0.05));
        let flag = env.prometheus_for("checkout").unwrap();
        assert_eq!(flag.url, "http://prom.internal:9090");
        assert_eq!(
            flag.interval.as_secs(),
            30,
            "the environment's keys fill in"
        );
        let names: Vec<_> = flag.metrics.iter().map(|m| m.metric.name()).collect();
        assert_eq!(names, ["error_rate", "refunds"]);
        assert_eq!(flag.guardrails.len(), 1, "guardrails are inherited");
        let said = crate::domain::policy::describe(env).join("\n");
        assert!(
            said.contains(
                "evidence is read from Prometheus at http://127.0.0.1:9090 every 30s (error_rate)"
            ),
            "{said}"
        );
        assert!(
            said.contains(
                "flag checkout: evidence is read from Prometheus at http://prom.internal:9090"
            ),
            "{said}"
        );
        assert!(
            said.contains("guardrail http_5xx_ratio above 0.05 rolls back"),
            "{said}"
        );
    }

    fn refused(policy: &str) -> crate::domain::policy::PolicyError {
        Policy::parse("flagwarden.toml", policy).unwrap_err()
    }

    #[test]
    fn bad_sections_are_refused_with_file_line_and_field() {
        let e = refused(&GOOD.replace("{{window}}]))'\nevents", "{{period}}]))'\nevents"));
        assert_eq!(e.line, 8);
        assert_eq!(
            e.field,
            "environments.production.prometheus.metrics.error_rate.trials"
        );
        assert!(e.message.contains("{{period}}"), "{e}");
        let e = refused(&GOOD.replace("interval = \"30s\"", "interval = \"30s\"\nstep = \"1m\""));
        assert!(e.message.contains("unknown field `step`"), "{e}");
        let e = refused(&GOOD.replace(
            "url = \"http://127.0.0.1:9090/\"",
            "url = \"127.0.0.1:9090\"",
        ));
        assert_eq!(
            (e.line, e.field.as_str()),
            (5, "environments.production.prometheus.url")
        );
        let e = refused(&GOOD.replace("interval = \"30s\"", "interval = \"1.5s\""));
        assert_eq!(e.field, "environments.production.prometheus.interval");
        let e = refused(&GOOD.replace(
            r#"{arm="{{arm}}"}[{{window}}]))'
events"#,
            r#"[{{window}}]))'
events"#,
        ));
        assert!(e.message.contains("{{arm}}"), "{e}");
        let e = refused(&GOOD.replace("metrics.error_rate]", "metrics.latency_p95]"));
        assert!(e.message.contains("not a count"), "{e}");
        let e = refused(&GOOD.replace("above = 0.05", "above = 0.05\nbelow = 0.01"));
        assert_eq!(e.field, "environments.production.prometheus.guardrails[0]");
        let e = refused(&GOOD.replace(
            "flags.checkout.metrics.refunds]",
            "flags.checkout.metrics.chargebacks]",
        ));
        assert!(e.message.contains("gate.metrics.chargebacks"), "{e}");
        let e = refused(&GOOD.replace("flags.checkout]", "flags.\"Bad Key\"]"));
        assert!(e.field.contains("flags.Bad Key"), "{e}");
        let e = refused("version = 1\n[environments.production.prometheus]\ninterval = \"1m\"\n");
        assert_eq!(e.field, "environments.production.prometheus.url");
    }
}
