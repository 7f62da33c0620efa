//! Drawing: one module per view, each drawing from `&App` and the analysis
//! models, nothing else. State changes happen in `App` (keys, records, and
//! [`App::fit`] for the screen's size), never here.
//!
//! A frame is made in three steps ([`frame`]): the views [`measure`] what the
//! screen has room for, `App::fit` keeps selections and scrolls within it,
//! then [`draw`] paints from the state as it is.

pub mod charts;
pub mod connections;
pub mod findings;
pub mod groups;
pub mod help;
pub mod stats;
pub mod timeline;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::app::{App, Mode, PromptKind, View, Viewport};

pub use crate::present::bytes;

/// Display width of `s` in terminal cells (`⏳` is two, `→` one).
pub fn width_of(s: &str) -> usize {
    s.width()
}

/// `s` cut to `width` cells, with `…` when cut.
pub fn fit(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// `s` cut to `width` cells keeping its start and its end, `…` between:
/// for names that differ at the end (`sara…ber-a`, `sara…ber-b` for
/// `sarama-member-a` and `-b`).
pub fn fit_middle(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    if width < 3 {
        return fit(s, width);
    }
    let head_w = (width - 1) / 2;
    let tail_w = width - 1 - head_w;
    let mut head = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > head_w {
            break;
        }
        used += w;
        head.push(c);
    }
    let mut tail: Vec<char> = Vec::new();
    let mut used = 0;
    for c in s.chars().rev() {
        let w = c.width().unwrap_or(0);
        if used + w > tail_w {
            break;
        }
        used += w;
        tail.push(c);
    }
    head.push('…');
    head.extend(tail.into_iter().rev());
    head
}

/// Whether `w` has the shape of a Kafka error name (`NOT_COORDINATOR`).
fn error_name_like(w: &str) -> bool {
    w.len() >= 3
        && w.contains('_')
        && w.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// `s` cut to `width` cells like [`fit`], but never inside an error name:
/// a name the cut would fall in is left out whole (the text ends `… …`
/// before it), so that what is shown of a sentence never misnames an error.
pub fn fit_words(s: &str, width: usize) -> String {
    let cut = fit(s, width);
    if cut == s {
        return cut;
    }
    let kept = cut.strip_suffix('…').unwrap_or(&cut);
    // The word the cut fell in: from the last space of what is kept to the
    // next space of the whole.
    let start = kept.rfind(' ').map_or(0, |i| i + 1);
    let end = s[start..].find(' ').map_or(s.len(), |i| start + i);
    let word = s[start..end].trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_');
    if start < kept.len() && end > kept.len() && error_name_like(word) {
        format!("{}…", kept[..start].trim_end())
    } else {
        cut
    }
}

/// `s` cut or padded to exactly `width` cells.
pub fn pad(s: &str, width: usize) -> String {
    let f = fit(s, width);
    let n = f.width();
    format!("{f}{}", " ".repeat(width.saturating_sub(n)))
}

/// `s` right-aligned in `width` cells.
pub fn rpad(s: &str, width: usize) -> String {
    let f = fit(s, width);
    let n = f.width();
    format!("{}{f}", " ".repeat(width.saturating_sub(n)))
}

/// Widest of `lines`, in cells.
pub fn widest(lines: &[Line]) -> usize {
    lines.iter().map(Line::width).max().unwrap_or(0)
}

/// The part of `area` rows are laid out in: all but its last column, kept
/// for the `…` that marks a row going on beyond the edge (so that the mark
/// never covers an error name laid out to end at the edge).
pub fn content(area: Rect) -> Rect {
    Rect {
        width: area.width.saturating_sub(1),
        ..area
    }
}

/// Draw `lines` in `area` scrolled `hscroll` cells to the right, with a dim
/// `…` in the last column where a row goes on beyond it, and in the first
/// where the scroll hides its start. The lines are laid out for
/// [`content`]`(area)`.
pub fn draw_scrolled(f: &mut Frame, area: Rect, lines: Vec<Line>, hscroll: usize, app: &App) {
    let t = app.opts.theme;
    let inner = content(area);
    let w = usize::from(inner.width);
    let marks: Vec<(bool, bool)> = lines
        .iter()
        .map(|l| (hscroll > 0 && l.width() > 0, l.width() > hscroll + w))
        .collect();
    let x = u16::try_from(hscroll).unwrap_or(u16::MAX);
    f.render_widget(Paragraph::new(lines).scroll((0, x)), inner);
    if area.width < 2 {
        return;
    }
    let buf = f.buffer_mut();
    for (k, (left, right)) in marks.into_iter().enumerate().take(usize::from(area.height)) {
        let y = area.y + k as u16;
        if left {
            buf[(area.x, y)].set_symbol("…").set_style(t.dim());
        }
        if right {
            buf[(area.right() - 1, y)]
                .set_symbol("…")
                .set_style(t.dim());
        }
    }
}

/// Cells the widest of `lines` goes beyond [`content`]`(area)`.
pub fn overflow_of(lines: &[Line], area: Rect) -> usize {
    widest(lines).saturating_sub(usize::from(content(area).width))
}

/// The header, the views' area and the footer of a `size` screen.
fn areas(app: &App, size: Rect) -> [Rect; 3] {
    Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(if app.prompt.is_some() { 2 } else { 1 }),
    ])
    .areas(size)
}

/// What a `size` screen has room for in the current view.
pub fn measure(app: &App, size: Rect) -> Viewport {
    let [_, body, _] = areas(app, size);
    let mut vp = Viewport {
        body,
        page: usize::from(body.height.saturating_sub(2)).max(1),
        help_max: help::most_scroll(app, body),
        ..Viewport::default()
    };
    if app.detail.is_some() {
        return vp;
    }
    match app.view {
        View::Timeline => {
            vp.list_rows = timeline::rows(body);
            vp.overflow = timeline::overflow(app, body);
        }
        View::Connections => {
            vp.list_rows = connections::rows(body);
            vp.overflow = connections::overflow(app, body);
        }
        View::Groups => {
            let (list, flow) = groups::panes(body);
            vp.list_rows = usize::from(list.height.saturating_sub(2));
            vp.flow_rows = usize::from(flow.height.saturating_sub(2));
            // Inside the border, less the column for the `…` mark.
            vp.flow_width = usize::from(flow.width.saturating_sub(3));
            vp.overflow = groups::overflow(app, flow);
        }
        View::Stats => {
            vp.stats_max = stats::most_scroll(app, body);
            vp.overflow = stats::overflow(app, body);
        }
        View::Findings => vp.list_rows = findings::rows(app, body),
        // Its columns follow from the body's width (`App::fit`).
        View::Charts => {}
    }
    vp
}

/// Update `app` for the frame's size, then draw it: what the terminal loop
/// and the tests call.
pub fn frame(app: &mut App, f: &mut Frame) {
    app.refresh();
    let vp = measure(app, f.area());
    app.fit(vp);
    draw(app, f);
}

/// Draw the whole UI from the state as it is.
pub fn draw(app: &App, f: &mut Frame) {
    let [head, body, foot] = areas(app, f.area());
    draw_head(app, f, head);
    match &app.detail {
        Some((_, d)) => d.render(f, body, &app.opts.theme),
        None => match app.view {
            View::Timeline => timeline::render(app, f, body),
            View::Connections => connections::render(app, f, body),
            View::Groups => groups::render(app, f, body),
            View::Stats => stats::render(app, f, body),
            View::Findings => findings::render(app, f, body),
            View::Charts => charts::render(app, f, body),
        },
    }
    draw_foot(app, f, foot);
    if app.help {
        help::render(app, f, body);
    }
}

/// Draw `app` into a `width`×`height` test terminal and return its text,
/// one line per row (trailing spaces trimmed): for snapshots.
pub fn render_to_string(app: &mut App, width: u16, height: u16) -> String {
    let backend = ratatui::backend::TestBackend::new(width, height);
    let mut term = match ratatui::Terminal::new(backend) {
        Ok(t) => t,
        Err(_) => return String::new(),
    };
    if term.draw(|f| frame(app, f)).is_err() {
        return String::new();
    }
    let buf = term.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn draw_head(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.opts.theme;
    // The file's name: the path is in the shell that opened it (several
    // captures read as one: each one's).
    let name = |p: &str| -> String {
        std::path::Path::new(p)
            .file_name()
            .map_or(p.into(), |n| n.to_string_lossy().into_owned())
    };
    let src = match &app.capture {
        Some(c) if !c.merged.is_empty() => c
            .merged
            .iter()
            .map(|m| name(&m.source))
            .collect::<Vec<_>>()
            .join(" + "),
        Some(c) => name(&c.source),
        None => String::new(),
    };
    let mut right = format!(" {src} ");
    if app.opts.mode == Mode::Live {
        right = format!(" ● live {src} ");
    }
    let tabs = |short: bool| {
        let mut spans = vec![Span::styled(" kwire ", t.header())];
        for v in View::ALL {
            let shown = v == app.view && app.detail.is_none();
            let label = if short && !shown {
                format!(" {} ", v.number())
            } else {
                format!(" {} {} ", v.number(), v.title())
            };
            spans.push(Span::styled(
                label,
                if shown { t.selected() } else { t.dim() },
            ));
        }
        if app.detail.is_some() {
            spans.push(Span::styled(" Detail ", t.selected()));
        }
        spans.push(Span::raw(right.clone()));
        Line::from(spans)
    };
    // When the titles and the source do not fit, the views not shown keep
    // their numbers only.
    let mut line = tabs(false);
    if line.width() > usize::from(area.width) {
        line = tabs(true);
    }
    f.render_widget(Paragraph::new(line), area);
}

fn draw_foot(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.opts.theme;
    if let Some(p) = &app.prompt {
        let [err, line] =
            Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
        let label = match p.kind {
            PromptKind::Filter => "/",
            PromptKind::Export => "write NDJSON to: ",
        };
        let msg = match (&p.kind, &p.error) {
            (_, Some((at, m))) => Line::from(vec![
                Span::styled(format!(" ✗ at {}: ", at + 1), t.fatal()),
                Span::styled(m.clone(), t.fatal()),
            ]),
            (PromptKind::Filter, None) if !p.text.trim().is_empty() => Line::from(Span::styled(
                " ✓ valid filter; Enter applies, Esc cancels",
                t.ok(),
            )),
            (PromptKind::Filter, None) => Line::from(Span::styled(
                " api:Fetch topic:orders group:billing err client:… lat>50ms, free text; ? for all terms",
                t.dim(),
            )),
            (PromptKind::Export, None) => Line::from(Span::styled(
                " the exchanges the timeline shows, as `kwire export` writes them; Enter writes",
                t.dim(),
            )),
        };
        f.render_widget(Paragraph::new(msg), err);
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(label, t.key()),
                Span::raw(p.text.clone()),
                Span::styled("▏", t.key()),
            ])),
            line,
        );
        return;
    }
    let mut spans = Vec::new();
    let shown = app.visible_exchanges;
    spans.push(Span::raw(format!(
        " {}",
        crate::present::count(app.store.len() as u64, "exchange", "exchanges")
    )));
    if !app.filter.is_empty() {
        spans.push(Span::styled(
            format!(" · {shown} match /{}", app.filter_text),
            t.key(),
        ));
    }
    if app.loading {
        spans.push(Span::styled(
            if app.opts.mode == Mode::Live {
                " · capturing"
            } else {
                " · reading…"
            },
            t.ok(),
        ));
    }
    if app.follow {
        spans.push(Span::styled(" · follow", t.key()));
    }
    if app.paused {
        let pending = app.pending_rows();
        spans.push(Span::styled(
            format!(" · PAUSED ({pending} new)"),
            t.warning(),
        ));
    }
    if let Some(d) = app.drops
        && d.any()
    {
        spans.push(Span::styled(
            format!(
                " · ⚠ packets dropped: kernel {} (if {}), queue {}",
                d.dropped, d.if_dropped, d.queue_dropped
            ),
            t.warning(),
        ));
    }
    if app.internal_drops > 0 {
        spans.push(Span::styled(
            format!(
                " · ⚠ UI behind: {} dropped",
                crate::present::count(app.internal_drops, "record", "records")
            ),
            t.warning(),
        ));
    }
    let s = &app.store;
    if s.evicted_exchanges > 0 || s.evicted_bodies > 0 {
        spans.push(Span::styled(
            format!(
                " · ⚠ let go: {} exchanges, {} bodies (memory limits)",
                s.evicted_exchanges, s.evicted_bodies
            ),
            t.warning(),
        ));
    }
    if let Some(m) = &app.message {
        spans.push(Span::styled(format!(" · {m}"), t.key()));
    }
    spans.push(Span::styled("  ? help  q quit", t.dim()));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting() {
        assert_eq!(fit("NOT_LEADER", 20), "NOT_LEADER");
        assert_eq!(fit("abcdef", 4), "abc…");
        // Display width: `⧗` is one cell, CJK two.
        assert_eq!(width_of("⧗ x"), 3);
        assert_eq!(fit("日本語", 4), "日…");
        assert_eq!(pad("ab", 4), "ab  ");
        assert_eq!(rpad("ab", 4), "  ab");
        assert_eq!(fit_middle("sarama-member-a", 10), "sara…ber-a");
        assert_eq!(fit_middle("sarama-member-b", 10), "sara…ber-b");
        assert_eq!(fit_middle("short", 10), "short");
        assert_eq!(fit_middle("abcdef", 2), "a…");
    }

    #[test]
    fn error_names_are_left_out_whole() {
        let t = "group ledger could not reach its coordinator: FindCoordinator COORDINATOR_NOT_AVAILABLE ×3";
        let f = fit_words(t, 70);
        assert_eq!(
            f,
            "group ledger could not reach its coordinator: FindCoordinator…"
        );
        assert!(width_of(&f) <= 70);
        // A cut after a whole name keeps it.
        let f = fit_words("answered UNSUPPORTED_VERSION to the client", 30);
        assert_eq!(f, "answered UNSUPPORTED_VERSION …");
        // Other words are cut as fit cuts them.
        assert_eq!(fit_words("FindCoordinator answered", 8), "FindCoo…");
        assert_eq!(fit_words("short", 10), "short");
    }
}
