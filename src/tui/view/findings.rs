//! Findings: what went wrong, most severe first (`analysis::findings`), the
//! selected one's details, frames and what it involves below. Enter shows
//! its exchanges in the timeline (a filter on its frames).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::fit_words;
use crate::analysis::findings::Severity;
use crate::tui::app::App;
use crate::tui::theme::{Theme, glyph};

fn look(s: Severity, t: &Theme) -> (&'static str, ratatui::style::Style) {
    match s {
        Severity::Error => (glyph::FATAL, t.fatal()),
        Severity::Warning => ("!", t.retriable()),
        Severity::Info => ("·", t.dim()),
    }
}

/// The list of findings and the selected one's details.
fn panes(app: &App, area: Rect) -> [Rect; 2] {
    let n = u16::try_from(app.findings.len()).unwrap_or(u16::MAX);
    let list_h = n
        .saturating_add(2)
        .clamp(3, area.height.saturating_sub(8).max(3));
    Layout::vertical([Constraint::Length(list_h), Constraint::Min(3)]).areas(area)
}

/// Rows of findings an `area` shows.
pub fn rows(app: &App, area: Rect) -> usize {
    usize::from(panes(app, area)[0].height.saturating_sub(2))
}

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let t = app.opts.theme;
    let found = &app.findings;
    let [top, bottom] = panes(app, area);
    let inner = rows(app, area);
    let width = usize::from(top.width.saturating_sub(4));
    let mut lines = Vec::new();
    for (i, fd) in found
        .iter()
        .enumerate()
        .skip(app.finding_list.offset)
        .take(inner)
    {
        let (g, style) = look(fd.severity, &t);
        let mut l = Line::from(vec![
            Span::styled(format!("{g} "), style),
            Span::styled(fit_words(&fd.title, width), style),
        ]);
        if i == app.finding_list.selected {
            l = l.patch_style(t.selected());
        }
        lines.push(l);
    }
    if found.is_empty() {
        lines.push(Line::from(Span::styled(
            if app.loading {
                "nothing wrong found so far"
            } else {
                "nothing wrong found"
            },
            t.ok(),
        )));
    }
    let count = |s| found.iter().filter(|f| f.severity == s).count();
    let title = format!(
        " Findings: {}, {}, {} info ",
        crate::present::count(count(Severity::Error) as u64, "error", "errors"),
        crate::present::count(count(Severity::Warning) as u64, "warning", "warnings"),
        count(Severity::Info)
    );
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(title, t.header())),
        ),
        top,
    );
    let Some(fd) = found.get(app.finding_list.selected) else {
        f.render_widget(Block::default().borders(Borders::ALL), bottom);
        return;
    };
    let (_, style) = look(fd.severity, &t);
    let mut d = vec![Line::from(Span::styled(fd.title.clone(), style))];
    for x in &fd.details {
        d.push(Line::raw(format!("  {x}")));
    }
    let mut kv = |k: &str, v: String| {
        if !v.is_empty() {
            d.push(Line::from(vec![
                Span::styled(format!("{k:<12}"), t.header()),
                Span::raw(v),
            ]));
        }
    };
    kv(
        "severity",
        match fd.count {
            1 => format!("{} ({}), once", fd.severity.as_str(), fd.code),
            n => format!("{} ({}), {n} times", fd.severity.as_str(), fd.code),
        },
    );
    kv(
        "frames",
        fd.frames
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" "),
    );
    kv("groups", fd.groups.join(", "));
    kv("topics", fd.topics.join(", "));
    kv("clients", fd.clients.join(", "));
    kv(
        "brokers",
        fd.brokers
            .iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    );
    kv(
        "connections",
        fd.streams
            .iter()
            .map(|s| format!("s{s}"))
            .collect::<Vec<_>>()
            .join(" "),
    );
    if let (Some(a), Some(b)) = (fd.first, fd.last) {
        kv(
            "when",
            format!(
                "{} → {}",
                crate::present::clock(a),
                crate::present::clock(b)
            ),
        );
    }
    f.render_widget(
        Paragraph::new(d).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title_bottom(Span::styled(
                    " Enter: its exchanges in the timeline ",
                    t.dim(),
                )),
        ),
        bottom,
    );
}
