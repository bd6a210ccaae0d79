//! The evidence chart, drawn as inline SVG on the server: one metric's canary-minus-control estimate
//! at every stored look, its anytime-valid bounds as a band, the zero and margin lines, and the
//! gate's label at each look as a shaped marker (so colour is never the only cue). A pure function
//! from looks to markup: no script, no style attribute (the CSP forbids both; the stylesheet colours
//! the classes), and each look carries its stored numbers as `data-` attributes, so tests check the
//! structure and a table under the chart gives the same numbers as text.

use maud::{Markup, html};

use crate::domain::gate::Label;

/// One stored look at one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    /// When the gate looked, as stored (RFC 3339).
    pub at: String,
    /// Seconds since the epoch, for the x axis.
    pub secs: f64,
    pub difference: Option<f64>,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub label: Label,
}

pub fn label_name(l: Label) -> &'static str {
    match l {
        Label::Harm => "HARM",
        Label::Noninferior => "NONINFERIOR",
        Label::Inconclusive => "INCONCLUSIVE",
        Label::Insufficient => "INSUFFICIENT",
    }
}

fn label_class(l: Label) -> &'static str {
    match l {
        Label::Harm => "harm",
        Label::Noninferior => "noninferior",
        Label::Inconclusive => "inconclusive",
        Label::Insufficient => "insufficient",
    }
}

const W: f64 = 640.0;
const H: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

/// A finite number, for the scales: an infinite bound (no evidence yet) is not drawn.
fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

/// Shortest text that reads back as the same number, for `data-` attributes.
pub fn exact(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// How the page writes a number: four decimals, or a dash for none.
pub fn shown(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.4}"),
        Some(x) if x > 0.0 => "+∞".into(),
        Some(_) => "−∞".into(),
        None => "—".into(),
    }
}

struct Scale {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Scale {
    fn of(looks: &[Look], margin: f64) -> Scale {
        let xs = looks.iter().map(|l| l.secs);
        let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
        let ys = looks
            .iter()
            .flat_map(|l| [finite(l.difference), finite(l.lower), finite(l.upper)])
            .flatten()
            .chain([0.0, margin]);
        let (mut y0, mut y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
        let pad = ((y1 - y0) * 0.08).max(5e-4);
        y0 -= pad;
        y1 += pad;
        Scale { x0, x1, y0, y1 }
    }

    fn x(&self, secs: f64, i: usize, n: usize) -> f64 {
        let span = W - LEFT - RIGHT;
        if self.x1 > self.x0 {
            LEFT + (secs - self.x0) / (self.x1 - self.x0) * span
        } else if n > 1 {
            LEFT + i as f64 / (n - 1) as f64 * span
        } else {
            LEFT + span / 2.0
        }
    }

    fn y(&self, v: f64) -> f64 {
        let v = v.clamp(self.y0, self.y1);
        TOP + (self.y1 - v) / (self.y1 - self.y0) * (H - TOP - BOTTOM)
    }
}

fn f(v: f64) -> String {
    format!("{v:.1}")
}

/// The band: one closed path per run of consecutive looks that have both bounds.
fn band_paths(looks: &[Look], s: &Scale) -> Vec<String> {
    let n = looks.len();
    let mut out = Vec::new();
    let mut run: Vec<(f64, f64, f64)> = Vec::new();
    let flush = |run: &mut Vec<(f64, f64, f64)>, out: &mut Vec<String>| {
        if run.is_empty() {
            return;
        }
        let mut d = String::new();
        for (i, (x, _, hi)) in run.iter().enumerate() {
            d.push_str(&format!(
                "{}{},{} ",
                if i == 0 { "M" } else { "L" },
                f(*x),
                f(*hi)
            ));
        }
        for (x, lo, _) in run.iter().rev() {
            d.push_str(&format!("L{},{} ", f(*x), f(*lo)));
        }
        d.push('Z');
        out.push(d);
        run.clear();
    };
    for (i, l) in looks.iter().enumerate() {
        match (finite(l.lower), finite(l.upper)) {
            (Some(lo), Some(hi)) => run.push((s.x(l.secs, i, n), s.y(lo), s.y(hi))),
            _ => flush(&mut run, &mut out),
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The marker of one label: a triangle for HARM, a circle for NONINFERIOR, a square for
/// INCONCLUSIVE, a hollow diamond for INSUFFICIENT.
fn marker(label: Label, x: f64, y: f64) -> Markup {
    match label {
        Label::Harm => html! {
            path.marker d=(format!("M{},{} L{},{} L{},{} Z", f(x), f(y - 6.0), f(x + 6.0), f(y + 5.0), f(x - 6.0), f(y + 5.0))) {}
        },
        Label::Noninferior => html! { circle.marker cx=(f(x)) cy=(f(y)) r="4.5" {} },
        Label::Inconclusive => html! {
            rect.marker x=(f(x - 4.0)) y=(f(y - 4.0)) width="8" height="8" {}
        },
        Label::Insufficient => html! {
            path.marker d=(format!("M{},{} L{},{} L{},{} L{},{} Z", f(x), f(y - 5.0), f(x + 5.0), f(y), f(x), f(y + 5.0), f(x - 5.0), f(y))) {}
        },
    }
}

/// The chart of one metric over `looks` (oldest first) against `margin`. `id` makes the title and
/// description ids unique on the page.
pub fn metric_chart(id: &str, metric: &str, looks: &[Look], margin: f64) -> Markup {
    let title = format!("{metric}: canary minus control at each look (positive is worse)");
    let desc = match looks.last() {
        None => "no stored looks yet".to_owned(),
        Some(l) => format!(
            "{} looks; the latest ({}) is {}: difference {}, bounds {} to {}, margin {}",
            looks.len(),
            l.at,
            label_name(l.label),
            shown(l.difference),
            shown(l.lower),
            shown(l.upper),
            shown(Some(margin)),
        ),
    };
    let s = Scale::of(looks, margin);
    let n = looks.len();
    let ticks: Vec<f64> = (0..=4)
        .map(|i| s.y0 + (s.y1 - s.y0) * i as f64 / 4.0)
        .collect();
    let estimate: Vec<String> = looks
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            finite(l.difference).map(|d| format!("{},{}", f(s.x(l.secs, i, n)), f(s.y(d))))
        })
        .collect();
    let (t_id, d_id) = (format!("{id}-title"), format!("{id}-desc"));
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} {H}")) role="img"
            aria-labelledby=(format!("{t_id} {d_id}")) data-metric=(metric) data-margin=(margin) data-looks=(n) {
            title id=(t_id) { (title) }
            desc id=(d_id) { (desc) }
            g.axis {
                @for t in &ticks {
                    line.grid x1=(f(LEFT)) x2=(f(W - RIGHT)) y1=(f(s.y(*t))) y2=(f(s.y(*t))) {}
                    text.tick x=(f(LEFT - 6.0)) y=(f(s.y(*t) + 4.0)) text-anchor="end" { (format!("{t:.3}")) }
                }
                @if let (Some(a), Some(b)) = (looks.first(), looks.last()) {
                    text.tick x=(f(LEFT)) y=(f(H - 12.0)) text-anchor="start" { (a.at) }
                    @if n > 1 {
                        text.tick x=(f(W - RIGHT)) y=(f(H - 12.0)) text-anchor="end" { (b.at) }
                    }
                }
            }
            @for d in band_paths(looks, &s) {
                path.band d=(d) {}
            }
            line.zero x1=(f(LEFT)) x2=(f(W - RIGHT)) y1=(f(s.y(0.0))) y2=(f(s.y(0.0))) {}
            text.linelabel x=(f(W - RIGHT - 2.0)) y=(f(s.y(0.0) - 4.0)) text-anchor="end" { "0" }
            line.margin x1=(f(LEFT)) x2=(f(W - RIGHT)) y1=(f(s.y(margin))) y2=(f(s.y(margin))) data-value=(margin) {}
            text.linelabel x=(f(W - RIGHT - 2.0)) y=(f(s.y(margin) - 4.0)) text-anchor="end" { "margin " (shown(Some(margin))) }
            @if estimate.len() > 1 {
                polyline.estimate points=(estimate.join(" ")) {}
            }
            @for (i, l) in looks.iter().enumerate() {
                @let x = s.x(l.secs, i, n);
                @let y = s.y(finite(l.difference).unwrap_or(0.0));
                g class=(format!("look {}", label_class(l.label))) data-at=(l.at) data-label=(label_name(l.label))
                    data-difference=(exact(l.difference)) data-lower=(exact(l.lower)) data-upper=(exact(l.upper)) {
                    title { (l.at) ": " (label_name(l.label)) ", difference " (shown(l.difference)) ", bounds " (shown(l.lower)) " to " (shown(l.upper)) }
                    @if let (Some(lo), Some(hi)) = (finite(l.lower), finite(l.upper)) {
                        line.ci x1=(f(x)) x2=(f(x)) y1=(f(s.y(lo))) y2=(f(s.y(hi))) {}
                    }
                    (marker(l.label, x, y))
                }
            }
        }
    }
}

/// The legend under every chart: each label's shape in words.
pub fn legend() -> Markup {
    html! {
        p.legend {
            "Markers: ▲ HARM · ● NONINFERIOR · ■ INCONCLUSIVE · ◇ INSUFFICIENT. "
            "The band is the anytime-valid interval; the dashed line is the margin."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(i: i64, d: Option<f64>, lo: Option<f64>, hi: Option<f64>, label: Label) -> Look {
        Look {
            at: format!("t{i}"),
            secs: (i * 1800) as f64,
            difference: d,
            lower: lo,
            upper: hi,
            label,
        }
    }

    #[test]
    fn one_group_per_look_and_a_band_per_run_of_bounds() {
        let looks = vec![
            look(0, None, None, None, Label::Insufficient),
            look(1, Some(0.01), Some(-0.02), Some(0.04), Label::Inconclusive),
            look(2, Some(0.03), Some(0.01), Some(0.05), Label::Harm),
        ];
        let svg = metric_chart("m", "error_rate", &looks, 0.1).into_string();
        assert_eq!(svg.matches("<g class=\"look ").count(), 3);
        assert_eq!(svg.matches("<path class=\"band\"").count(), 1);
        assert!(svg.contains("data-lower=\"0.01\" data-upper=\"0.05\""));
        assert!(svg.contains("look harm"));
        assert!(!svg.contains("style="));
    }

    #[test]
    fn no_looks_one_look_and_infinite_bounds_draw_without_nan() {
        for looks in [
            vec![],
            vec![look(
                0,
                Some(0.0),
                Some(f64::NEG_INFINITY),
                Some(f64::INFINITY),
                Label::Inconclusive,
            )],
            vec![look(0, Some(0.2), Some(0.1), Some(0.3), Label::Harm)],
        ] {
            let svg = metric_chart("m", "x", &looks, 0.0).into_string();
            assert!(!svg.contains("NaN"), "{svg}");
            // Only the stored numbers may be infinite; no coordinate is.
            for coord in [" x=\"", " y=\"", " y1=\"", " y2=\"", " d=\"", " points=\""] {
                for part in svg.split(coord).skip(1) {
                    let value = part.split('"').next().unwrap();
                    assert!(!value.contains("inf"), "{coord}{value}");
                }
            }
        }
    }

    #[test]
    fn text_in_the_chart_is_escaped() {
        let mut l = look(0, Some(0.0), None, None, Label::Insufficient);
        l.at = "<script>alert(1)</script>".into();
        let svg = metric_chart("m", "<b>", &[l], 0.0).into_string();
        assert!(!svg.contains("<script>") && !svg.contains("<b>"));
    }
}
