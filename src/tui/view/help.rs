//! The help overlay, generated from the key table and the filter's terms.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::tui::app::App;
use crate::tui::filter::terms_help;
use crate::tui::keys::{BINDINGS, Scope, keys_label};
use crate::tui::theme::glyph;

/// Widest the help box gets: past it, lines are long to read.
pub const MAX_HELP_WIDTH: u16 = 110;
/// Narrowest description column kept beside the keys; below it the
/// description goes under its key.
const MIN_TEXT_WIDTH: usize = 24;

/// One entry: `key` in a column of `key_w` cells (after two of indent) and
/// `what` beside it, wrapped at word boundaries to fit `width` cells, the
/// continuation lines under the description. Display width, not chars, is
/// measured (glyphs such as `⧗` or `✓`).
fn entry(
    out: &mut Vec<Line<'static>>,
    key: &str,
    key_style: ratatui::style::Style,
    key_w: usize,
    what: &str,
    width: usize,
) {
    use unicode_width::UnicodeWidthStr;
    let key_cells = key.width();
    // Every description of a section starts in one column; a key wider
    // than its column stands on a line of its own above its description.
    let indent = 2 + key_w;
    // Two cells at least between a key and its description.
    let long_key = key_cells + 2 > key_w;
    let (first_pad, text_w, under) = if width >= indent + MIN_TEXT_WIDTH {
        (key_w.saturating_sub(key_cells), width - indent, long_key)
    } else {
        // Too narrow for two columns: the description under its key.
        (0, width.saturating_sub(4).max(8), true)
    };
    let under_indent = if width >= indent + MIN_TEXT_WIDTH {
        indent
    } else {
        4
    };
    let mut rows: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in what.split(' ') {
        let need = if cur.is_empty() {
            word.width()
        } else {
            cur.width() + 1 + word.width()
        };
        if need > text_w && !cur.is_empty() {
            rows.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() || rows.is_empty() {
        rows.push(cur);
    }
    let key_span = Span::styled(format!("  {key}{}", " ".repeat(first_pad)), key_style);
    if under {
        out.push(Line::from(key_span));
        for r in rows {
            out.push(Line::from(Span::raw(format!(
                "{}{r}",
                " ".repeat(under_indent)
            ))));
        }
        return;
    }
    let mut rows = rows.into_iter();
    out.push(Line::from(vec![
        key_span,
        Span::raw(rows.next().unwrap_or_default()),
    ]));
    for r in rows {
        out.push(Line::from(Span::raw(format!("{}{r}", " ".repeat(indent)))));
    }
}

/// The help's lines for a box `width` cells wide inside (also used by
/// tests).
pub fn lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let t = &app.opts.theme;
    let mut out = Vec::new();
    for scope in [Scope::Global, Scope::Lists, Scope::Timeline, Scope::Charts] {
        out.push(Line::from(Span::styled(scope.title(), t.header())));
        for b in BINDINGS.iter().filter(|b| b.scope == scope) {
            entry(&mut out, &keys_label(b), t.key(), 14, b.help, width);
        }
        out.push(Line::raw(""));
    }
    out.push(Line::from(Span::styled("Detail", t.header())));
    for (k, h) in crate::tui::detail::KEYS {
        entry(&mut out, k, t.key(), 14, h, width);
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
        entry(&mut out, g, style, 14, what, width);
    }
    out.push(Line::raw(""));
    out.push(Line::from(Span::styled("Filter terms (/)", t.header())));
    for (term, what) in terms_help() {
        entry(&mut out, term, t.key(), 18, what, width);
    }
    out
}

/// The help box in `area`: centred, at most [`MAX_HELP_WIDTH`] wide.
fn boxed(area: Rect) -> Rect {
    let w = area.width.min(MAX_HELP_WIDTH);
    let x = area.x + (area.width - w) / 2;
    Rect::new(x, area.y, w, area.height)
}

/// How far the help can scroll down in `area`.
pub fn most_scroll(app: &App, area: Rect) -> usize {
    let rect = boxed(area);
    lines(app, usize::from(rect.width.saturating_sub(2)))
        .len()
        .saturating_sub(usize::from(rect.height.saturating_sub(2)))
}

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let t = app.opts.theme;
    let rect = boxed(area);
    let lines = lines(app, usize::from(rect.width.saturating_sub(2)));
    let scroll = u16::try_from(app.help_scroll).unwrap_or(u16::MAX);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).scroll((scroll, 0)).block(
            Block::default().borders(Borders::ALL).title(Span::styled(
                " Help: j/k scroll, any other key closes ",
                t.header(),
            )),
        ),
        rect,
    );
}
