//! Charts as inline SVG, drawn here: no script, no external file.
//!
//! A chart is a `<figure>`: the plot is an SVG whose view box is
//! [`VIEW_W`]×[`VIEW_H`] stretched to the page's width
//! (`preserveAspectRatio="none"`, strokes that do not scale), and its
//! labels (the scale, the time axis) are HTML around it, so that they stay
//! readable at any width. One value per column; a column without a value
//! (no answered request: no latency) breaks the line.

use std::fmt::Write as _;

use super::html;

/// Width of the plot's view box: columns share it.
pub const VIEW_W: f64 = 1000.0;
/// Height of the plot's view box.
pub const VIEW_H: f64 = 100.0;

/// Colours of a breakdown's series, busiest first ("other" is [`OTHER`]).
pub const COLORS: [&str; 5] = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed"];
/// Colour of the "other" series.
pub const OTHER: &str = "#6b7280";
/// Colour of errors over all exchanges.
pub const ERRORS: &str = "#dc2626";

/// One series of a chart: one value per column (`None`: nothing to show).
#[derive(Clone, Debug)]
pub struct Line {
    pub color: &'static str,
    pub values: Vec<Option<f64>>,
}

/// How values map to heights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    /// 0 at the bottom, `max` at the top.
    Linear { max: f64 },
    /// Powers of ten from `10^lo` at the bottom to `10^hi` at the top.
    Log { lo: i32, hi: i32 },
}

/// The smallest of 1, 2, 5 × a power of ten at least `v` (1 for nothing).
pub fn nice(v: f64) -> f64 {
    if !v.is_finite() || v <= 0.0 {
        return 1.0;
    }
    let exp = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * exp >= v * (1.0 - 1e-9) {
            return m * exp;
        }
    }
    10.0 * exp
}

impl Scale {
    /// A linear scale up to a round number at least the largest value.
    pub fn linear(values: impl Iterator<Item = f64>) -> Scale {
        Scale::Linear {
            max: nice(values.fold(0.0, f64::max)),
        }
    }

    /// A log scale covering the positive values, a decade at least.
    pub fn log(values: impl Iterator<Item = f64>) -> Scale {
        let (mut lo, mut hi) = (f64::MAX, 0.0f64);
        for v in values.filter(|v| v.is_finite() && *v > 0.0) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if hi <= 0.0 {
            return Scale::Log { lo: 0, hi: 1 };
        }
        let lo = lo.log10().floor().clamp(-3.0, 12.0) as i32;
        let hi = (hi.log10().ceil().clamp(-3.0, 12.0) as i32).max(lo + 1);
        Scale::Log { lo, hi }
    }

    /// Height of `v` from the top of the view box (0 at the top).
    pub fn y(&self, v: f64) -> f64 {
        let share = match *self {
            Scale::Linear { max } => {
                if max > 0.0 {
                    v / max
                } else {
                    0.0
                }
            }
            Scale::Log { lo, hi } => {
                let span = f64::from(hi - lo).max(1.0);
                (v.max(1e-9).log10() - f64::from(lo)) / span
            }
        };
        let share = if share.is_finite() { share } else { 0.0 };
        VIEW_H - share.clamp(0.0, 1.0) * VIEW_H
    }
}

/// A number with at most one decimal written into SVG (`12.5`, `100`).
fn coord(out: &mut String, v: f64) {
    let v = if v.is_finite() { v } else { 0.0 };
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        let _ = write!(out, "{}", r as i64);
    } else {
        let _ = write!(out, "{r:.1}");
    }
}

/// The centre of column `c` of `n`.
fn x_of(c: usize, n: usize) -> f64 {
    (c as f64 + 0.5) * VIEW_W / n.max(1) as f64
}

/// The `d` of a path through `values` (one per column, `None` breaks the
/// line): each run of points starts with `M` and goes on with `L`; a run of
/// one point is a short level stroke across the middle of its column, so
/// that it shows. Empty when there is no value.
pub fn path(values: &[Option<f64>], scale: &Scale) -> String {
    let n = values.len();
    let half = VIEW_W / n.max(1) as f64 / 4.0;
    let mut d = String::new();
    let mut i = 0;
    while i < n {
        let Some(v) = values[i] else {
            i += 1;
            continue;
        };
        let end = values[i..]
            .iter()
            .position(Option::is_none)
            .map_or(n, |p| i + p);
        let y = scale.y(v);
        if !d.is_empty() {
            d.push(' ');
        }
        if end - i == 1 {
            d.push('M');
            coord(&mut d, x_of(i, n) - half);
            d.push(' ');
            coord(&mut d, y);
            d.push('H');
            coord(&mut d, x_of(i, n) + half);
        } else {
            for (k, v) in values[i..end].iter().enumerate() {
                d.push(if k == 0 { 'M' } else { 'L' });
                coord(&mut d, x_of(i + k, n));
                d.push(' ');
                coord(&mut d, scale.y(v.unwrap_or(0.0)));
            }
        }
        i = end;
    }
    d
}

/// What a chart shows, beside its series.
pub struct Chart<'a> {
    /// `requests`, `latency`, `errors`: the figure's `data-metric`.
    pub metric: &'a str,
    pub title: &'a str,
    /// The time axis' labels, spread evenly from the first column's start
    /// to the last's end.
    pub times: &'a [String],
    /// One tooltip per column (HTML-escaped already), or none.
    pub tips: Option<&'a [String]>,
    /// Label of a value at a height of the scale.
    pub label: &'a dyn Fn(f64) -> String,
}

/// The scale's labels: (share of the height from the top, text).
fn ticks(scale: &Scale, label: &dyn Fn(f64) -> String) -> Vec<(f64, String)> {
    match *scale {
        Scale::Linear { max } => vec![
            (0.0, label(max)),
            (50.0, label(max / 2.0)),
            (100.0, label(0.0)),
        ],
        Scale::Log { lo, hi } => {
            let span = (hi - lo).max(1);
            // At most five labels: every decade, or every other.
            let step = if span > 4 { 2 } else { 1 };
            (lo..=hi)
                .step_by(step as usize)
                .map(|e| {
                    let share = f64::from(hi - e) / f64::from(span) * 100.0;
                    (share, label(10f64.powi(e)))
                })
                .collect()
        }
    }
}

fn open(out: &mut String, c: &Chart, scale: &Scale, n: usize) {
    let _ = write!(
        out,
        "<figure class=\"chart\" data-metric=\"{}\" data-columns=\"{n}\"><figcaption>{}</figcaption>\
         <div class=\"plot\"><svg viewBox=\"0 0 {VIEW_W} {VIEW_H}\" preserveAspectRatio=\"none\" \
         role=\"img\" aria-label=\"{}\">",
        html::escape(c.metric),
        html::escape(c.title),
        html::escape(c.title),
    );
    for (share, _) in ticks(scale, c.label) {
        let mut y = String::new();
        coord(&mut y, share / 100.0 * VIEW_H);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"0\" x2=\"{VIEW_W}\" y1=\"{y}\" y2=\"{y}\"/>"
        );
    }
}

fn close(out: &mut String, c: &Chart, scale: &Scale, n: usize) {
    if let Some(tips) = c.tips {
        let w = VIEW_W / n.max(1) as f64;
        for (i, t) in tips.iter().enumerate().take(n) {
            let mut x = String::new();
            coord(&mut x, i as f64 * w);
            let mut wd = String::new();
            coord(&mut wd, w);
            let _ = write!(
                out,
                "<rect class=\"tip\" x=\"{x}\" y=\"0\" width=\"{wd}\" height=\"{VIEW_H}\"><title>{t}</title></rect>"
            );
        }
    }
    out.push_str("</svg>");
    for (share, text) in ticks(scale, c.label) {
        let _ = write!(
            out,
            "<span class=\"ylab\" style=\"top:{share:.0}%\">{}</span>",
            html::escape(&text)
        );
    }
    out.push_str("</div><div class=\"xaxis\">");
    for t in c.times {
        let _ = write!(out, "<span>{}</span>", html::escape(t));
    }
    out.push_str("</div></figure>\n");
}

/// A chart of lines; the first one filled below when `fill` (a single
/// series). No value at all: the plot says so.
pub fn lines(out: &mut String, c: &Chart, scale: &Scale, series: &[Line], fill: bool) {
    let n = series.iter().map(|l| l.values.len()).max().unwrap_or(0);
    open(out, c, scale, n);
    let mut any = false;
    for (i, l) in series.iter().enumerate() {
        let d = path(&l.values, scale);
        if d.is_empty() {
            continue;
        }
        any = true;
        if fill && i == 0 && l.values.iter().all(Option::is_some) && n > 1 {
            let mut area = d.clone();
            area.push_str(" L");
            coord(&mut area, x_of(n - 1, n));
            let _ = write!(area, " {VIEW_H} L");
            coord(&mut area, x_of(0, n));
            let _ = write!(area, " {VIEW_H} Z");
            let _ = write!(
                out,
                "<path class=\"area\" d=\"{area}\" fill=\"{}\"/>",
                l.color
            );
        }
        let _ = write!(
            out,
            "<path class=\"line\" d=\"{d}\" stroke=\"{}\"/>",
            l.color
        );
    }
    if !any {
        out.push_str("<text class=\"none\" x=\"500\" y=\"55\">no data</text>");
    }
    close(out, c, scale, n);
}

/// A chart of bars, the series stacked in each column.
pub fn bars(out: &mut String, c: &Chart, scale: &Scale, series: &[Line]) {
    let n = series.iter().map(|l| l.values.len()).max().unwrap_or(0);
    open(out, c, scale, n);
    let w = VIEW_W / n.max(1) as f64;
    let mut base = vec![0.0f64; n];
    for l in series {
        for (i, v) in l.values.iter().enumerate() {
            let Some(v) = v.filter(|v| *v > 0.0) else {
                continue;
            };
            let Some(b) = base.get_mut(i) else { continue };
            let top = scale.y(*b + v);
            let bottom = scale.y(*b);
            *b += v;
            let mut o = String::new();
            o.push_str("<rect x=\"");
            coord(&mut o, i as f64 * w + w * 0.1);
            o.push_str("\" y=\"");
            coord(&mut o, top);
            o.push_str("\" width=\"");
            coord(&mut o, w * 0.8);
            o.push_str("\" height=\"");
            // At least a sliver: a bar of one error in a busy chart shows.
            coord(&mut o, (bottom - top).max(0.8));
            let _ = write!(o, "\" fill=\"{}\"/>", l.color);
            out.push_str(&o);
        }
    }
    close(out, c, scale, n);
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIN: Scale = Scale::Linear { max: 10.0 };

    #[test]
    fn path_of_nothing_one_point_and_runs() {
        assert_eq!(path(&[], &LIN), "");
        assert_eq!(path(&[None, None], &LIN), "");
        // One point: a level stroke across the middle of its column.
        assert_eq!(path(&[Some(5.0)], &LIN), "M250 50H750");
        // Two columns, the second empty: one point again.
        assert_eq!(path(&[Some(10.0), None], &LIN), "M125 0H375");
        // A run, a gap, a point.
        assert_eq!(
            path(&[Some(0.0), Some(10.0), None, Some(5.0)], &LIN),
            "M125 100L375 0 M812.5 50H937.5"
        );
        // Values beyond the scale stay in the box; NaN is the bottom.
        assert_eq!(path(&[Some(99.0), Some(f64::NAN)], &LIN), "M250 0L750 100");
    }

    #[test]
    fn scales() {
        assert_eq!(nice(0.0), 1.0);
        assert_eq!(nice(f64::NAN), 1.0);
        assert_eq!(nice(7.0), 10.0);
        assert_eq!(nice(10.0), 10.0);
        assert_eq!(nice(11.0), 20.0);
        assert_eq!(nice(0.3), 0.5);
        assert_eq!(nice(1234.0), 2000.0);
        assert_eq!(
            Scale::linear([3.0, 4.5].into_iter()),
            Scale::Linear { max: 5.0 }
        );
        assert_eq!(
            Scale::log([150.0, 4000.0].into_iter()),
            Scale::Log { lo: 2, hi: 4 }
        );
        assert_eq!(Scale::log(std::iter::empty()), Scale::Log { lo: 0, hi: 1 });
        // One value on a power of ten: still a decade tall.
        assert_eq!(Scale::log([100.0].into_iter()), Scale::Log { lo: 2, hi: 3 });
        let log = Scale::Log { lo: 2, hi: 4 };
        assert_eq!(log.y(100.0), VIEW_H);
        assert_eq!(log.y(10_000.0), 0.0);
        assert_eq!(log.y(1000.0), VIEW_H / 2.0);
        assert_eq!(log.y(0.0), VIEW_H);
    }

    #[test]
    fn a_chart_without_values_says_so_and_keeps_its_axis() {
        let label = |v: f64| format!("{v}");
        let times = ["a".to_string(), "b<".to_string()];
        let c = Chart {
            metric: "latency",
            title: "p99 latency",
            times: &times,
            tips: None,
            label: &label,
        };
        let mut o = String::new();
        lines(
            &mut o,
            &c,
            &LIN,
            &[Line {
                color: OTHER,
                values: vec![None, None],
            }],
            false,
        );
        assert!(o.contains("no data"), "{o}");
        assert!(!o.contains("<path"), "{o}");
        assert!(o.contains("<span>b&lt;</span>"), "{o}");
        assert!(o.contains("data-columns=\"2\""), "{o}");
        let mut b = String::new();
        bars(&mut b, &c, &LIN, &[]);
        assert!(b.contains("data-columns=\"0\""), "{b}");
        assert!(!b.contains("<rect"), "{b}");
    }

    #[test]
    fn bars_stack() {
        let label = |v: f64| format!("{v}");
        let c = Chart {
            metric: "errors",
            title: "errors/s",
            times: &[],
            tips: None,
            label: &label,
        };
        let mut o = String::new();
        let a = Line {
            color: COLORS[0],
            values: vec![Some(5.0), Some(0.0)],
        };
        let b = Line {
            color: COLORS[1],
            values: vec![Some(5.0), None],
        };
        bars(&mut o, &c, &LIN, &[a, b]);
        // Two bars in the first column, one above the other; none in the
        // second.
        assert_eq!(o.matches("<rect").count(), 2, "{o}");
        assert!(
            o.contains("x=\"50\" y=\"50\" width=\"400\" height=\"50\""),
            "{o}"
        );
        assert!(
            o.contains("x=\"50\" y=\"0\" width=\"400\" height=\"50\""),
            "{o}"
        );
    }
}
