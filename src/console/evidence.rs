//! A rollout's stored gate evaluations as the pages show them: the verdict and its reasons in words,
//! and per metric the chart with, under it, a table of the very numbers each look stored (the
//! chart's text equivalent). Evaluations are read back as stored, never recomputed.

use maud::{Markup, html};

use super::chart::{self, Look, label_name, shown};
use crate::domain::gate::{GateLook, GateResult, MetricResult, Verdict};

/// How many stored looks a chart shows at most: a day of looks every few minutes.
pub const MAX_LOOKS: u32 = 500;

/// One stored evaluation, its result read back.
pub struct Stored {
    pub id: i64,
    pub at: String,
    pub secs: f64,
    pub result: GateResult,
}

/// The stored looks, oldest first (the store gives them newest first).
pub fn stored(looks: Vec<GateLook>) -> Vec<Stored> {
    looks
        .into_iter()
        .rev()
        .map(|l| Stored {
            id: l.id,
            secs: l
                .evaluated_at
                .parse::<jiff::Timestamp>()
                .map(|t| t.as_millisecond() as f64 / 1000.0)
                .unwrap_or(0.0),
            at: l.evaluated_at,
            result: l.result,
        })
        .collect()
}

pub fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Promote => "PROMOTE",
        Verdict::Hold => "HOLD",
        Verdict::Rollback => "ROLLBACK",
    }
}

/// The metrics of the latest look, in its order, each with its value at every look that has it.
fn by_metric(evals: &[Stored]) -> Vec<(MetricResult, Vec<(&Stored, &MetricResult)>)> {
    let Some(latest) = evals.last() else {
        return Vec::new();
    };
    latest
        .result
        .metrics
        .iter()
        .map(|m| {
            let series = evals
                .iter()
                .filter_map(|e| {
                    e.result
                        .metrics
                        .iter()
                        .find(|x| x.metric == m.metric)
                        .map(|x| (e, x))
                })
                .collect();
            (m.clone(), series)
        })
        .collect()
}

/// The latest verdict, its reasons, and when it was stored.
pub fn verdict(evals: &[Stored]) -> Markup {
    html! {
        @match evals.last() {
            None => p { "The gate has not stored a look at this rollout yet." },
            Some(e) => {
                p.verdict {
                    "Gate verdict at " time datetime=(e.at) { (e.at) } ": "
                    strong class=(format!("v-{}", verdict_name(e.result.verdict).to_lowercase())) data-evaluation=(e.id) {
                        (verdict_name(e.result.verdict))
                    }
                    @if e.result.critical { " (critical)" }
                }
                @if !e.result.reasons.is_empty() {
                    ul.reasons {
                        @for r in &e.result.reasons { li { (r) } }
                    }
                }
            }
        }
    }
}

/// One chart and its table per metric. `prefix` keeps ids unique when several rollouts share a page;
/// `open` shows the tables expanded (the rollout page) or folded (the approvals page).
pub fn metrics(prefix: &str, evals: &[Stored], open: bool) -> Markup {
    // A metric no arm has reported yet has nothing to draw: it is named in one line instead.
    let (shown_metrics, empty): (Vec<_>, Vec<_>) = by_metric(evals)
        .into_iter()
        .partition(|(m, _)| m.canary.n + m.control.n > 0);
    html! {
        @if !empty.is_empty() {
            p.hint {
                "No evidence reported yet for: "
                (empty.iter().map(|(m, _)| m.metric.as_str()).collect::<Vec<_>>().join(", "))
                " (each INSUFFICIENT, never a pass)."
            }
        }
        @for (m, series) in shown_metrics {
            @let id = format!("{prefix}-{}", m.metric);
            section.metric aria-labelledby=(format!("{id}-h")) {
                h4 id=(format!("{id}-h")) {
                    (m.metric)
                    @if m.required { " · required" }
                    @if m.critical { " · critical" }
                    " · now " span class=(format!("l-{}", label_name(m.label).to_lowercase())) { (label_name(m.label)) }
                }
                p.explanation { (m.explanation) }
                @let looks: Vec<Look> = series.iter().map(|(e, x)| Look {
                    at: e.at.clone(),
                    secs: e.secs,
                    difference: x.difference,
                    lower: x.lower,
                    upper: x.upper,
                    label: x.label,
                }).collect();
                (chart::metric_chart(&id, &m.metric, &looks, m.margin))
                (chart::legend())
                details.numbers open[open] {
                    summary { "The numbers at each look (" (looks.len()) ")" }
                    (table(&id, &series))
                }
            }
        }
    }
}

fn table(id: &str, series: &[(&Stored, &MetricResult)]) -> Markup {
    html! {
        div.scroll tabindex="0" {
            table.looks id=(format!("{id}-table")) {
                caption { "Canary minus control at each stored look; positive is worse" }
                thead {
                    tr {
                        th scope="col" { "Look" }
                        th scope="col" { "Verdict" }
                        th scope="col" { "Label" }
                        th scope="col" { "Canary n" }
                        th scope="col" { "Canary" }
                        th scope="col" { "Control n" }
                        th scope="col" { "Control" }
                        th scope="col" { "Difference" }
                        th scope="col" { "Lower" }
                        th scope="col" { "Upper" }
                        th scope="col" { "Margin" }
                    }
                }
                tbody {
                    @for (e, m) in series {
                        tr data-evaluation=(e.id) {
                            th scope="row" { time datetime=(e.at) { (e.at) } }
                            td { (verdict_name(e.result.verdict)) }
                            td { (label_name(m.label)) }
                            td.num { (m.canary.n) }
                            td.num { (shown(m.canary.value)) }
                            td.num { (m.control.n) }
                            td.num { (shown(m.control.value)) }
                            td.num { (shown(m.difference)) }
                            td.num { (shown(m.lower)) }
                            td.num { (shown(m.upper)) }
                            td.num { (shown(Some(m.margin))) }
                        }
                    }
                }
            }
        }
    }
}

/// The sample-ratio check and the circuit breakers of the latest look.
pub fn checks(evals: &[Stored]) -> Markup {
    let Some(e) = evals.last() else {
        return html! {};
    };
    let srm = &e.result.srm;
    html! {
        h3 { "Sample ratio and breakers" }
        p.srm {
            "Exposures: canary " (srm.canary_exposures) ", control " (srm.control_exposures)
            "; anytime-valid p-value of a 50/50 split " (shown(Some(srm.p_value))) ": "
            strong { @if srm.mismatch { "MISMATCH" } @else { "ok" } }
        }
        @if e.result.breakers.is_empty() {
            p { "No circuit breakers are configured for this rollout." }
        } @else {
            div.scroll tabindex="0" {
                table.breakers {
                    caption { "Circuit breakers at the latest look" }
                    thead { tr {
                        th scope="col" { "Metric" } th scope="col" { "Trips when canary is" }
                        th scope="col" { "Canary n" } th scope="col" { "Canary" } th scope="col" { "State" }
                    } }
                    tbody {
                        @for b in &e.result.breakers {
                            tr {
                                th scope="row" { (b.metric) }
                                td { (b.op) " " (shown(Some(b.limit))) }
                                td.num { (b.canary.n) }
                                td.num { (shown(b.canary.value)) }
                                td { @if b.tripped { strong { "TRIPPED" } } @else { "ok" } }
                            }
                        }
                    }
                }
            }
        }
    }
}
