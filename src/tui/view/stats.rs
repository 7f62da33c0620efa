//! Statistics: the tables `kwire stats` prints (`export::stats`), drawn
//! with the theme: per API counts and latency percentiles, errors by code,
//! bytes and records per topic and partition, per client id.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::fit;
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
