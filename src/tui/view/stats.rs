//! Statistics: per API counts and latency percentiles, errors by code,
//! bytes and records per topic.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{bytes, fit, pad, rpad};
use crate::export::text::latency;
use crate::tui::app::App;
use crate::tui::theme::Theme;

fn lat(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_string(), latency)
}

/// The view's lines (scrolled by the caller).
pub fn lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let t: Theme = app.opts.theme;
    let s = &app.stats;
    let mut out = Vec::new();
    let h = |s: String| Line::from(Span::styled(fit(&s, width), t.header()));
    out.push(h(format!(
        "{} {:>7} {:>7} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  versions",
        pad("API", 24),
        "reqs",
        "answer",
        "errs",
        "unans",
        "p50",
        "p90",
        "p99",
        "max",
        "out",
        "in"
    )));
    for a in s.apis() {
        let c = &a.counts;
        let l = &a.latency;
        let versions: Vec<String> = a.versions.iter().map(|v| format!("v{v}")).collect();
        let mut spans = vec![Span::raw(format!(
            "{} {:>7} {:>7} ",
            pad(a.api_key.name(), 24),
            c.requests,
            c.answered
        ))];
        let e = rpad(&c.errors.to_string(), 6);
        spans.push(if c.errors > 0 {
            Span::styled(e, t.fatal())
        } else {
            Span::raw(e)
        });
        spans.push(Span::raw(" "));
        let u = rpad(&c.no_response.to_string(), 6);
        spans.push(if c.no_response > 0 {
            Span::styled(u, t.warning())
        } else {
            Span::raw(u)
        });
        spans.push(Span::raw(format!(
            " {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  {}",
            lat(l.percentile(0.5)),
            lat(l.percentile(0.9)),
            lat(l.percentile(0.99)),
            lat(l.max()),
            bytes(c.request_bytes),
            bytes(c.response_bytes),
            versions.join(",")
        )));
        if a.throttled > 0 {
            spans.push(Span::styled(
                format!(
                    "  ⏳ throttled {}× ({} ms)",
                    a.throttled, a.throttle_time_ms
                ),
                t.throttled(),
            ));
        }
        out.push(Line::from(spans));
    }
    let tot = s.totals();
    out.push(Line::from(Span::styled(
        format!(
            "{} {:>7} {:>7} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            pad("all", 24),
            tot.requests,
            tot.answered,
            tot.errors,
            tot.no_response,
            lat(s.latency().percentile(0.5)),
            lat(s.latency().percentile(0.9)),
            lat(s.latency().percentile(0.99)),
            lat(s.latency().max()),
            bytes(tot.request_bytes),
            bytes(tot.response_bytes),
        ),
        t.dim(),
    )));
    out.push(Line::raw(""));

    let errors = s.errors();
    out.push(h(format!(
        "{} {} {:>7}  first frames",
        pad("Errors: API", 24),
        pad("code", 40),
        "count"
    )));
    if errors.is_empty() {
        out.push(Line::from(Span::styled("  none", t.ok())));
    }
    for e in errors {
        let style = if e.code.is_retriable() {
            t.retriable()
        } else {
            t.fatal()
        };
        let frames: Vec<String> = e.frames.iter().map(u64::to_string).collect();
        out.push(Line::from(vec![
            Span::raw(format!("{} ", pad(e.api_key.name(), 24))),
            Span::styled(pad(&format!("{} {}", e.code.0, e.code.name()), 40), style),
            Span::raw(format!(" {:>7}  {}", e.count, frames.join(" "))),
        ]));
    }
    out.push(Line::raw(""));

    out.push(h(format!(
        "{} {:>8} {:>9} {:>9} {:>8} {:>9} {:>9}",
        pad("Topic / partition", 32),
        "produce",
        "records",
        "bytes",
        "fetch",
        "records",
        "bytes"
    )));
    let topics = s.topics();
    if topics.is_empty() {
        out.push(Line::from(Span::styled(
            "  no records produced or fetched",
            t.dim(),
        )));
    }
    for tp in topics {
        let tr = &tp.traffic;
        out.push(Line::from(Span::styled(
            format!(
                "{} {:>8} {:>9} {:>9} {:>8} {:>9} {:>9}",
                pad(&tp.topic, 32),
                tr.produce_requests,
                tr.produced.records,
                bytes(tr.produced.bytes),
                tr.fetch_requests,
                tr.fetched.records,
                bytes(tr.fetched.bytes)
            ),
            t.name(),
        )));
        for p in &tp.partitions {
            let tr = &p.traffic;
            out.push(Line::raw(format!(
                "{} {:>8} {:>9} {:>9} {:>8} {:>9} {:>9}",
                pad(&format!("  [{}]", p.partition), 32),
                tr.produce_requests,
                tr.produced.records,
                bytes(tr.produced.bytes),
                tr.fetch_requests,
                tr.fetched.records,
                bytes(tr.fetched.bytes)
            )));
        }
    }
    out.push(Line::raw(""));
    out.push(h(format!(
        "{} {:>7} {:>6} {:>8} {:>8} {:>8} {:>8}",
        pad("Client id", 32),
        "reqs",
        "errs",
        "p50",
        "p99",
        "out",
        "in"
    )));
    for c in s.clients() {
        out.push(Line::raw(format!(
            "{} {:>7} {:>6} {:>8} {:>8} {:>8} {:>8}",
            pad(c.client_id.as_deref().unwrap_or("-"), 32),
            c.counts.requests,
            c.counts.errors,
            lat(c.latency.percentile(0.5)),
            lat(c.latency.percentile(0.99)),
            bytes(c.counts.request_bytes),
            bytes(c.counts.response_bytes)
        )));
    }
    out
}

pub fn render(app: &mut App, f: &mut Frame, area: Rect) {
    let lines = lines(app, usize::from(area.width));
    let max = lines.len().saturating_sub(usize::from(area.height));
    app.stats_scroll = app.stats_scroll.min(max);
    let visible: Vec<Line> = lines
        .into_iter()
        .skip(app.stats_scroll)
        .take(usize::from(area.height))
        .collect();
    f.render_widget(Paragraph::new(visible), area);
}
