//! The help overlay, generated from the key table and the filter's terms.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::tui::app::App;
use crate::tui::filter::terms_help;
use crate::tui::keys::{BINDINGS, Scope, keys_label};
use crate::tui::theme::glyph;

/// The help's lines (also used by tests).
pub fn lines(app: &App) -> Vec<Line<'static>> {
    let t = &app.opts.theme;
    let mut out = Vec::new();
    for scope in [Scope::Global, Scope::Lists, Scope::Timeline] {
        out.push(Line::from(Span::styled(scope.title(), t.header())));
        for b in BINDINGS.iter().filter(|b| b.scope == scope) {
            out.push(Line::from(vec![
                Span::styled(format!("  {:<14}", keys_label(b)), t.key()),
                Span::raw(b.help),
            ]));
        }
        out.push(Line::raw(""));
    }
    out.push(Line::from(Span::styled("Detail", t.header())));
    for (k, h) in crate::tui::detail::KEYS {
        out.push(Line::from(vec![
            Span::styled(format!("  {k:<14}"), t.key()),
            Span::raw(*h),
        ]));
    }
    out.push(Line::raw(""));
    out.push(Line::from(Span::styled("Status", t.header())));
    for (g, style, what) in [
        (glyph::OK, t.ok(), "answered"),
        (
            glyph::NEGOTIATION,
            t.dim(),
            "negotiation, not an error (ApiVersions UNSUPPORTED_VERSION, JoinGroup v4+ MEMBER_ID_REQUIRED); skipped by n and err",
        ),
        (
            glyph::RETRIABLE,
            t.retriable(),
            "retriable error (the client may retry)",
        ),
        (glyph::FATAL, t.fatal(), "error that is not retriable"),
        (
            glyph::THROTTLED,
            t.throttled(),
            "throttled by a quota (throttleTimeMs > 0)",
        ),
        (
            glyph::NO_RESPONSE,
            t.warning(),
            "no response (why is said in line)",
        ),
        (
            glyph::NO_RESPONSE_EXPECTED,
            t.dim(),
            "no response expected (Produce acks=0)",
        ),
        (
            glyph::GAP,
            t.warning(),
            "capture trouble: bytes lost, resync, orphan response",
        ),
    ] {
        out.push(Line::from(vec![
            Span::styled(format!("  {g:<14}"), style),
            Span::raw(what),
        ]));
    }
    out.push(Line::raw(""));
    out.push(Line::from(Span::styled("Filter terms (/)", t.header())));
    for (term, what) in terms_help() {
        out.push(Line::from(vec![
            Span::styled(format!("  {term:<18}"), t.key()),
            Span::raw(*what),
        ]));
    }
    out
}

pub fn render(app: &mut App, f: &mut Frame, area: Rect) {
    let t = app.opts.theme;
    let lines = lines(app);
    let w = area.width.min(100);
    let x = area.x + (area.width - w) / 2;
    let rect = Rect::new(x, area.y, w, area.height);
    let inner_h = usize::from(rect.height.saturating_sub(2));
    let max = lines.len().saturating_sub(inner_h);
    app.help_scroll = app.help_scroll.min(max);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines)
            .scroll((app.help_scroll as u16, 0))
            .block(Block::default().borders(Borders::ALL).title(Span::styled(
                " Help: j/k scroll, any other key closes ",
                t.header(),
            ))),
        rect,
    );
}
