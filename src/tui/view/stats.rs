//! Statistics: the tables `kwire stats` prints (`export::stats`), drawn
//! with the theme: per API counts and latency percentiles, errors by code,
//! bytes and records per topic and partition, per client id.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::{draw_scrolled, fit, overflow_of};
use crate::export::stats::{Tone, tables};
use crate::tui::app::App;

/// The view's lines (scrolled by the caller).
pub fn lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let t = app.opts.theme;
    let mut out = Vec::new();
    for table in tables(&app.stats, None) {
        let w = table.widths();
        out.push(Line::from(Span::styled(table.title, t.header())));
        if table.rows.is_empty() {
            out.push(Line::from(Span::styled("  none", t.dim())));
            out.push(Line::raw(""));
            continue;
        }
        out.push(Line::from(Span::styled(
            fit(&table.line(&table.header, &w), width),
            t.header(),
        )));
        for (tone, cells) in &table.rows {
            let style = match tone {
                Tone::Normal => t.text(),
                Tone::Dim => t.dim(),
                Tone::Name => t.name(),
                Tone::Error => t.fatal(),
                Tone::Warning => t.retriable(),
            };
            out.push(Line::from(Span::styled(
                fit(&table.line(cells, &w), width),
                style,
            )));
        }
        out.push(Line::raw(""));
    }
    out
}

/// How far the view can scroll down in `area`.
pub fn most_scroll(app: &App, area: Rect) -> usize {
    lines(app, usize::MAX)
        .len()
        .saturating_sub(usize::from(area.height))
}

/// Cells the widest line goes beyond `area`.
pub fn overflow(app: &App, area: Rect) -> usize {
    overflow_of(&lines(app, usize::MAX), area)
}

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    // Lines whole: the tables scroll sideways rather than cut.
    let visible: Vec<Line> = lines(app, usize::MAX)
        .into_iter()
        .skip(app.stats_scroll)
        .take(usize::from(area.height))
        .collect();
    draw_scrolled(f, area, visible, app.hscroll, app);
}
