//! Connections: client ↔ broker pairs, the client's software, requests,
//! errors, bytes and state. Enter shows a connection's exchanges.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::{bytes, content, draw_scrolled, fit_middle, overflow_of, pad, rpad};
use crate::analysis::connections::{ConnState, ConnStats};
use crate::tui::app::App;
use crate::tui::theme::glyph;

/// Rows of connections an `area` shows (under the header).
pub fn rows(area: Rect) -> usize {
    usize::from(area.height.saturating_sub(1))
}

/// Cells the widest row shown goes beyond `area`.
pub fn overflow(app: &App, area: Rect) -> usize {
    overflow_of(&lines(app, content(area)), area)
}

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    draw_scrolled(f, area, lines(app, content(area)), app.hscroll, app);
}

/// The header and the connections shown, as wide as they are.
fn lines(app: &App, area: Rect) -> Vec<Line<'static>> {
    let t = app.opts.theme;
    let wide = area.width >= 150;
    let height = rows(area);
    let len = app.conns.len();
    let addr_w = if wide { 44 } else { 23 };
    let sw_w = match area.width {
        0..110 => 0,
        110..150 => 26,
        _ => 34,
    };
    let mut head = format!(
        "{:>5} {} {}",
        "conn",
        pad(if wide { "client → broker" } else { "broker" }, addr_w),
        pad("client id", 16)
    );
    if sw_w > 0 {
        head.push_str(&pad("software", sw_w));
    }
    head.push_str(&format!(
        "{:>6} {:>5} {:>5} {:>8} {:>8}  state",
        "reqs", "errs", "unans", "out", "in"
    ));
    let mut lines = vec![Line::from(Span::styled(head, t.header()))];
    for (pos, c) in app
        .conns
        .iter()
        .enumerate()
        .skip(app.conn_list.offset)
        .take(height)
    {
        let mut line = conn_line(c, addr_w, sw_w, wide, &t);
        if pos == app.conn_list.selected {
            line = line.patch_style(t.selected());
        }
        lines.push(line);
    }
    if len == 0 {
        lines.push(Line::from(Span::styled(
            if app.loading {
                "waiting for Kafka connections…"
            } else {
                "no Kafka connection"
            },
            t.dim(),
        )));
    }
    if app.conns.dropped() > 0 {
        lines.push(Line::from(Span::styled(
            format!(
                "{} {} older connections not kept (limit)",
                glyph::GAP,
                app.conns.dropped()
            ),
            t.warning(),
        )));
    }
    lines
}

fn conn_line(
    c: &ConnStats,
    addr_w: usize,
    sw_w: usize,
    wide: bool,
    t: &crate::tui::theme::Theme,
) -> Line<'static> {
    let addr = if wide {
        format!("{} → {}", c.client, c.broker)
    } else {
        c.broker.to_string()
    };
    let mut s = format!(
        "{:>5} {} {}",
        format!("s{}", c.stream),
        pad(&addr, addr_w),
        pad(&fit_middle(c.client_id.as_deref().unwrap_or("-"), 15), 15)
    );
    s.push(' ');
    if sw_w > 0 {
        let sw = c
            .software
            .as_ref()
            .map_or_else(|| "-".to_string(), |(n, v)| format!("{n} {v}"));
        s.push_str(&pad(&sw, sw_w));
    }
    s.push_str(&format!("{:>6} ", c.requests));
    let mut spans = vec![Span::raw(s)];
    let errs = rpad(&c.errors.to_string(), 5);
    spans.push(if c.errors > 0 {
        Span::styled(errs, t.fatal())
    } else {
        Span::raw(errs)
    });
    spans.push(Span::raw(" "));
    let un = rpad(&c.no_response.to_string(), 5);
    spans.push(if c.no_response > 0 {
        Span::styled(un, t.warning())
    } else {
        Span::raw(un)
    });
    spans.push(Span::raw(format!(
        " {:>8} {:>8}  ",
        bytes(c.request_bytes),
        bytes(c.response_bytes)
    )));
    let state = c.state.as_str().replace('_', " ");
    spans.push(match c.state {
        ConnState::Open => Span::styled(format!("● {state}"), t.ok()),
        ConnState::Reset => Span::styled(format!("{} {state}", glyph::FATAL), t.fatal()),
        _ => Span::styled(format!("○ {state}"), t.dim()),
    });
    if c.gaps > 0 || c.resyncs > 0 {
        spans.push(Span::styled(
            format!(
                "  {} {} ({}), {}",
                glyph::GAP,
                crate::present::count(c.gaps, "gap", "gaps"),
                bytes(c.lost_bytes),
                crate::present::count(c.resyncs, "resync", "resyncs"),
            ),
            t.warning(),
        ));
    }
    if c.requests == 0 && c.state == ConnState::Reset {
        spans.push(Span::styled(
            "  refused or cut before any request",
            t.warning(),
        ));
    }
    Line::from(spans)
}
