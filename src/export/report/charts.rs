//! The charts of `kwire report` (requests/s, p99 latency, errors/s over
//! time, over all exchanges, by API and by broker) and its error bursts,
//! from the time series of every exchange ([`crate::analysis::series`]).

use std::fmt::Write as _;

use super::html::{error_name, escape, head, more, num_attr, num_cell, text};
use super::{MAX_BURSTS, MAX_COLUMNS, MAX_LINES, date_time, svg};
use crate::analysis::series::{self, Bucket, Series, Split, Window};
use crate::present::{self, count, latency};

/// `12/s`, `1.5/s`, `2.3k/s`.
fn rate(r: f64) -> String {
    if !r.is_finite() || r <= 0.0 {
        "0".to_string()
    } else {
        present::rate(r)
    }
}

/// A latency label of the log scale: `100µs`, `1ms`, `10s`.
fn decade(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0}µs")
    } else if us < 1e6 {
        format!("{:.0}ms", us / 1e3)
    } else {
        format!("{:.0}s", us / 1e6)
    }
}

/// A stretch of time: `1 ms`, `200 ms`, `10 s`, `2 min`.
fn stretch(ns: i128) -> String {
    const MS: i128 = 1_000_000;
    match ns {
        n if n < 1000 * MS => format!("{} ms", n / MS),
        n if n < 60_000 * MS => format!("{} s", n / (1000 * MS)),
        n if n < 3_600_000 * MS => format!("{} min", n / (60_000 * MS)),
        n => format!("{} h", n / (3_600_000 * MS)),
    }
}

/// The time axis' labels: the start, the middle and the end.
fn axis(w: &Window) -> Vec<String> {
    let start = w.start_of(0);
    let end = w.start_of(w.columns);
    let mid = start + (end - start) / 2;
    [start, mid, end]
        .iter()
        .map(|&ns| present::short_clock(series::timestamp(ns)))
        .collect()
}

/// What a column's tooltip says.
fn tip(w: &Window, c: usize, b: &Bucket) -> String {
    let mut s = format!(
        "{} (+{}): {}",
        present::clock(series::timestamp(w.start_of(c))),
        stretch(w.column_ns()),
        count(b.requests, "request", "requests")
    );
    if b.problems > 0 {
        let _ = write!(s, ", {}", count(b.problems, "error", "errors"));
        let names = error_names(b);
        if !names.is_empty() {
            let _ = write!(s, " ({names})");
        }
    }
    if let Some(p) = b.p99() {
        let _ = write!(s, ", p99 {}", latency(p));
    }
    escape(&s)
}

/// `NOT_LEADER_OR_FOLLOWER×2, no response`, and how many others.
fn error_names(b: &Bucket) -> String {
    let mut parts: Vec<String> = b
        .errors
        .top()
        .iter()
        .map(|(p, n)| {
            if *n > 1 {
                format!("{}×{n}", p.name())
            } else {
                p.name().to_string()
            }
        })
        .collect();
    if b.errors.others > 0 {
        parts.push(format!("{} more", b.errors.others));
    }
    parts.join(", ")
}

pub(super) fn charts(o: &mut String, s: &Series) {
    o.push_str("<section id=\"charts\"><h2>Over time</h2>\n");
    let w = s.window(MAX_COLUMNS, false);
    if s.is_empty() || w.columns == 0 {
        o.push_str("<p class=\"empty\">No exchanges to chart.</p></section>\n");
        return;
    }
    let _ = writeln!(
        o,
        "<p class=\"note\">{} columns of {} each, from {} (UTC); an exchange counts at its \
         request's time. Errors are retriable and fatal error codes, unanswered requests and \
         malformed responses (not a version negotiation's expected answer). Hover a column of \
         the first charts for its numbers.</p>",
        w.columns,
        stretch(w.column_ns()),
        date_time(series::timestamp(w.start_of(0)))
    );
    let splits = [
        (Split::All, "all", "all exchanges"),
        (Split::Api, "api", "by API"),
        (Split::Broker, "broker", "by broker"),
    ];
    o.push_str("<div class=\"splits\">");
    for (i, (_, id, label)) in splits.iter().enumerate() {
        let _ = write!(
            o,
            "<input type=\"radio\" name=\"split\" id=\"split-{id}\"{}><label for=\"split-{id}\">{label}</label>",
            if i == 0 { " checked" } else { "" }
        );
    }
    let secs = w.column_ns() as f64 / 1e9;
    let times = axis(&w);
    for (split, id, _) in splits {
        let shown = s.shown(split, MAX_LINES, &w);
        let _ = write!(o, "<div class=\"split split-{id}\" data-split=\"{id}\">");
        o.push_str("<ul class=\"legend\">");
        let color = |i: usize, label: &str| {
            if split == Split::All {
                svg::COLORS[0]
            } else if label == "other" {
                svg::OTHER
            } else {
                svg::COLORS[i % svg::COLORS.len()]
            }
        };
        for (i, sh) in shown.iter().enumerate() {
            let _ = write!(
                o,
                "<li><i style=\"background:{}\"></i>",
                color(i, &sh.label)
            );
            text(o, &sh.label);
            let _ = write!(
                o,
                " <span class=\"dim\">{}</span></li>",
                count(sh.total, "exchange", "exchanges")
            );
        }
        o.push_str("</ul>");
        let lines = |f: &dyn Fn(&Bucket) -> Option<f64>| -> Vec<svg::Line> {
            shown
                .iter()
                .enumerate()
                .map(|(i, sh)| svg::Line {
                    color: color(i, &sh.label),
                    values: sh.columns.iter().map(f).collect(),
                })
                .collect()
        };
        let tips: Option<Vec<String>> = (split == Split::All).then(|| {
            s.all(&w)
                .iter()
                .enumerate()
                .map(|(c, b)| tip(&w, c, b))
                .collect()
        });
        let tips = tips.as_deref();

        let req = lines(&|b| Some(b.requests as f64 / secs));
        let scale = svg::Scale::linear(req.iter().flat_map(|l| l.values.iter().flatten().copied()));
        let label = |v: f64| rate(v);
        svg::lines(
            o,
            &svg::Chart {
                metric: "requests",
                title: "requests/s",
                times: &times,
                tips,
                label: &label,
            },
            &scale,
            &req,
            split == Split::All,
        );

        let lat = lines(&|b| b.p99().map(|us| us.max(1) as f64));
        let scale = svg::Scale::log(lat.iter().flat_map(|l| l.values.iter().flatten().copied()));
        svg::lines(
            o,
            &svg::Chart {
                metric: "latency",
                title: "p99 latency (log scale)",
                times: &times,
                tips,
                label: &decade,
            },
            &scale,
            &lat,
            false,
        );

        let mut err = lines(&|b| Some(b.problems as f64 / secs));
        if split == Split::All {
            for l in &mut err {
                l.color = svg::ERRORS;
            }
        }
        let totals = (0..w.columns).map(|c| {
            err.iter()
                .filter_map(|l| l.values.get(c).copied().flatten())
                .sum::<f64>()
        });
        let scale = svg::Scale::linear(totals);
        svg::bars(
            o,
            &svg::Chart {
                metric: "errors",
                title: "errors/s",
                times: &times,
                tips,
                label: &label,
            },
            &scale,
            &err,
        );
        o.push_str("</div>\n");
    }
    o.push_str("</div></section>\n");
}

pub(super) fn bursts(o: &mut String, s: &Series) {
    o.push_str("<section id=\"bursts\"><h2>Error bursts</h2>\n");
    let w = s.window(MAX_COLUMNS, false);
    let all = s.all(&w);
    let mut worst: Vec<(usize, &Bucket)> = all
        .iter()
        .enumerate()
        .filter(|(_, b)| b.problems > 0)
        .collect();
    let total = worst.len();
    // Most errors first; of equals, the earliest.
    worst.sort_by(|a, b| b.1.problems.cmp(&a.1.problems).then(a.0.cmp(&b.0)));
    worst.truncate(MAX_BURSTS);
    worst.sort_by_key(|(c, _)| *c);
    if worst.is_empty() {
        o.push_str("<p class=\"empty\">No errors over time.</p></section>\n");
        return;
    }
    let _ = write!(
        o,
        "<p class=\"note\">The stretches of {} (a column of the charts) with the most errors, in \
         time order, on {} (UTC).</p>\n<div class=\"scroll\"><table class=\"bursts\">",
        stretch(w.column_ns()),
        series::timestamp(w.start_of(0))
            .rfc3339()
            .get(..10)
            .unwrap_or("?")
    );
    head(
        o,
        &[
            ("time (UTC)", false),
            ("errors", true),
            ("requests", true),
            ("error names", false),
            ("frames", false),
        ],
    );
    o.push_str("<tbody>");
    for (c, b) in worst {
        let _ = write!(o, "<tr data-problems=\"{}\"", b.problems);
        num_attr(o, "data-requests", b.requests);
        let _ = write!(
            o,
            "><td>{}</td>",
            present::clock(series::timestamp(w.start_of(c)))
        );
        num_cell(o, b.problems);
        num_cell(o, b.requests);
        o.push_str("<td class=\"names\">");
        error_name(o, &error_names(b));
        o.push_str("</td>");
        let frames: Vec<String> = b.problem_frames.iter().map(u64::to_string).collect();
        let cut = if b.problems as usize > b.problem_frames.len() {
            " …"
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "<td class=\"frames\">{}{cut}</td></tr>",
            frames.join(" ")
        );
    }
    o.push_str("</tbody></table></div>\n");
    more(o, total.saturating_sub(MAX_BURSTS), "stretches with errors");
    o.push_str("</section>\n");
}
