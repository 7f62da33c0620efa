//! Consumer groups: the list of groups, and the selected group's flow: its
//! generations (members, leader, assignor, each member's partitions) and a
//! ladder of every step (laid out by `tui::ladder`), errors highlighted and
//! tied to the generation they hit. Enter on a step opens its exchange.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::{draw_scrolled, fit, overflow_of, pad};
use crate::analysis::groups::GroupFlow;
use crate::tui::app::App;
use crate::tui::theme::{Theme, glyph};

/// The list of groups and the selected group's flow.
pub fn panes(area: Rect) -> (Rect, Rect) {
    // Narrow screens give the ladder the room: its error names are whole.
    let list_w = match area.width {
        0..100 => 18,
        100..120 => 22,
        _ => 32,
    };
    let [left, right] =
        Layout::horizontal([Constraint::Length(list_w), Constraint::Min(20)]).areas(area);
    (left, right)
}

/// Cells the widest flow line goes beyond the flow's pane `flow`.
pub fn overflow(app: &App, flow: Rect) -> usize {
    let lines: Vec<Line> = app
        .group_cache
        .lines
        .iter()
        .map(|l| l.line.clone())
        .collect();
    let inner = Rect {
        width: flow.width.saturating_sub(2),
        ..flow
    };
    overflow_of(&lines, inner)
}

fn group_line(g: &GroupFlow, width: usize, t: &Theme) -> Line<'static> {
    let gens = g
        .generations
        .last()
        .map_or(String::new(), |x| format!(" g{}", x.id));
    let errs = if g.errors > 0 {
        format!(" {}{}", glyph::FATAL, g.errors)
    } else {
        String::new()
    };
    let present = g.members.iter().filter(|m| !m.left).count();
    // "3 members", not "3m" (which reads as minutes); "3 mbr" when narrow.
    let members = if width >= 36 {
        format!(" {present} member{}", if present == 1 { "" } else { "s" })
    } else if width >= 28 {
        format!(" {present} mbr")
    } else {
        String::new()
    };
    let tail = gens.chars().count() + members.len() + errs.chars().count();
    let mut spans = vec![Span::styled(
        pad(&g.group_id, width.saturating_sub(tail).max(4)),
        t.name(),
    )];
    spans.push(Span::raw(format!("{gens}{members}")));
    if g.errors > 0 {
        spans.push(Span::styled(errs, t.fatal()));
    }
    Line::from(spans)
}

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let t = app.opts.theme;
    let (left, right) = panes(area);
    let list_w = left.width;
    let height = usize::from(left.height.saturating_sub(2));
    let len = app.groups.len();
    let mut lines = Vec::new();
    for (i, g) in app
        .groups
        .iter()
        .enumerate()
        .skip(app.group_list.offset)
        .take(height)
    {
        let mut l = group_line(g, usize::from(list_w.saturating_sub(2)), &t);
        if i == app.group_list.selected {
            l = l.patch_style(t.selected());
        }
        lines.push(l);
    }
    if len == 0 {
        lines.push(Line::from(Span::styled(
            if app.loading {
                "waiting…"
            } else {
                "no consumer group"
            },
            t.dim(),
        )));
    }
    let focus_list = app.flow.is_none();
    let border = |focus: bool| if focus { t.header() } else { t.dim() };
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(border(focus_list))
                .title(format!(" Groups ({len}) ")),
        ),
        left,
    );

    let Some(g) = app.groups.iter().nth(app.group_list.selected) else {
        f.render_widget(Block::default().borders(Borders::ALL), right);
        return;
    };
    let mut title = format!(" {} · {}", g.group_id, g.kind.as_str());
    if let Some(p) = &g.protocol_type {
        title.push_str(&format!(" ({p})"));
    }
    if let Some(c) = g.coordinators.last() {
        title.push_str(&format!(" · coordinator {c}"));
    }
    if g.coordinators.len() > 1 {
        title.push_str(&format!(" (moved {}×)", g.coordinators.len() - 1));
    }
    title.push(' ');
    let inner_h = usize::from(right.height.saturating_sub(2));
    let (offset, selected) = match &app.flow {
        Some(st) => (st.offset, Some(st.selected)),
        None => (0, None),
    };
    let lines: Vec<Line> = app
        .group_cache
        .lines
        .iter()
        .enumerate()
        .skip(offset)
        .take(inner_h)
        .map(|(i, l)| {
            if Some(i) == selected {
                l.line.clone().patch_style(t.selected())
            } else {
                l.line.clone()
            }
        })
        .collect();
    let hint = if focus_list {
        " Enter: walk the steps "
    } else {
        " Enter: open the exchange · Esc: back to groups "
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(border(!focus_list))
        .title(Span::styled(
            fit(&title, usize::from(right.width.saturating_sub(4))),
            t.header(),
        ))
        .title_bottom(Span::styled(hint, t.dim()));
    let inner = block.inner(right);
    f.render_widget(block, right);
    draw_scrolled(f, inner, lines, app.hscroll, app);
}
