//! Consumer groups: the list of groups, and the selected group's flow: its
//! generations (members, leader, assignor, each member's partitions) and a
//! ladder of every step, one lane per member (`●` the member acting, `│`
//! members in the group at that time), errors highlighted and tied to the
//! generation they hit. Enter on a step opens its exchange.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::{fit, pad};
use crate::analysis::groups::{GroupFlow, StepKind, format_assignment};
use crate::kafka::errors::ErrorCode;
use crate::tui::app::App;
use crate::tui::theme::{Theme, glyph};
use crate::tui::view::timeline::clock;

/// Most member lanes drawn; further members share the last lane.
const MAX_LANES: usize = 8;

/// One line of a flow, and the exchange it stands for (if a step).
#[derive(Clone, Debug)]
pub struct FlowLine {
    pub line: Line<'static>,
    pub index: Option<usize>,
}

/// The flow lines of the selected group, rebuilt when the group changes.
#[derive(Clone, Debug, Default)]
pub struct FlowCache {
    key: Option<(usize, usize, usize, usize, u32, bool)>,
    pub lines: Vec<FlowLine>,
}

/// A member's lane letter: A, B, … then `+`.
fn lane_letter(i: usize) -> char {
    if i < MAX_LANES - 1 {
        (b'A' + i as u8) as char
    } else {
        '+'
    }
}

fn error_style(code: i16, t: &Theme) -> (Style, &'static str) {
    // REBALANCE_IN_PROGRESS is the coordinator asking members to rejoin.
    if ErrorCode(code).is_retriable() || code == 27 {
        (t.retriable(), glyph::RETRIABLE)
    } else {
        (t.fatal(), glyph::FATAL)
    }
}

/// Build the flow of `g`.
pub fn flow_lines(g: &GroupFlow, t: &Theme, width: usize) -> Vec<FlowLine> {
    let mut out = Vec::new();
    let info = |line: Line<'static>| FlowLine { line, index: None };
    let lane_of = |member: &str| -> usize {
        g.members
            .iter()
            .position(|m| m.member_id == member)
            .map_or(MAX_LANES - 1, |i| i.min(MAX_LANES - 1))
    };
    let letter = |member: &str| lane_letter(lane_of(member));
    let lanes = g.members.len().clamp(1, MAX_LANES);

    // Who is who.
    out.push(info(Line::from(Span::styled("Members", t.header()))));
    for (i, m) in g.members.iter().enumerate() {
        // Most telling first, so that a narrow pane cuts the least useful.
        let mut s = format!(
            "  {}  {}",
            lane_letter(i.min(MAX_LANES - 1)),
            m.client_id.as_deref().unwrap_or("-"),
        );
        if let Some(gen_) = m.joined_generation {
            s.push_str(&format!("  joined gen {gen_}"));
        }
        let mut spans = vec![Span::styled(s, t.name())];
        if m.left {
            spans.push(Span::styled(", left", t.dim()));
        }
        spans.push(Span::styled(
            format!("  {}  {}", fit(&m.member_id, 40), m.client),
            t.dim(),
        ));
        out.push(info(Line::from(spans)));
    }
    if g.members.is_empty() {
        out.push(info(Line::from(Span::styled("  no member seen", t.dim()))));
    }
    out.push(info(Line::raw("")));

    // Generations, each with its members' partitions.
    let what = if g.kind == crate::analysis::groups::GroupProtocolKind::Consumer {
        "Group epochs"
    } else {
        "Generations"
    };
    out.push(info(Line::from(Span::styled(what, t.header()))));
    for gen_ in &g.generations {
        let members: String = gen_.members.iter().map(|m| letter(m)).collect();
        let mut s = format!("  gen {:<4} members {members:<3}", gen_.id);
        if let Some(l) = &gen_.leader {
            s.push_str(&format!(" leader {}", letter(l)));
        }
        if let Some(p) = &gen_.protocol {
            s.push_str(&format!("  {p}"));
        }
        s.push_str(&format!("  {} (frame {})", clock(gen_.ts), gen_.frame));
        out.push(info(Line::from(Span::styled(s, t.header()))));
        for (m, a) in &gen_.assignments {
            out.push(info(Line::from(vec![
                Span::raw(format!("      {} → ", letter(m))),
                Span::styled(
                    fit(&format_assignment(a), width.saturating_sub(12)),
                    t.name(),
                ),
            ])));
        }
    }
    if g.generations.is_empty() {
        out.push(info(Line::from(Span::styled("  none seen", t.dim()))));
    }
    out.push(info(Line::raw("")));

    // The ladder.
    let head: String = (0..lanes).map(lane_letter).collect();
    out.push(info(Line::from(Span::styled(
        format!("{}  {}  step", pad("time (UTC)", 15), pad(&head, lanes)),
        t.header(),
    ))));
    let mut active = [false; MAX_LANES];
    let mut next_gen = 0;
    for s in &g.steps {
        // A generation starts: a rule across the ladder.
        while let Some(gen_) = g.generations.get(next_gen) {
            if gen_.frame > s.frame {
                break;
            }
            next_gen += 1;
            let rule = format!("── generation {} ", gen_.id);
            let n = width.saturating_sub(rule.chars().count() + 17);
            out.push(info(Line::from(Span::styled(
                format!("{}  {rule}{}", " ".repeat(15), "─".repeat(n.min(60))),
                t.dim(),
            ))));
        }
        let me = s.member.as_deref().map(lane_of);
        if let Some(l) = me {
            active[l] = true;
        }
        let lane_str: String = (0..lanes)
            .map(|l| {
                if Some(l) == me {
                    '●'
                } else if active[l] {
                    '│'
                } else {
                    ' '
                }
            })
            .collect();
        let mut spans = vec![Span::raw(format!("{}  {}  ", clock(s.ts), lane_str))];
        let mut label = s.label();
        if s.count > 1 && !label.contains('×') {
            label.push_str(&format!(" ×{}", s.count));
        }
        let style = match (s.error, s.no_response) {
            (Some((code, _)), _) => error_style(code, t).0,
            (None, true) => t.warning(),
            _ => match &s.kind {
                StepKind::Join { .. } | StepKind::Leave { .. } => t.name(),
                _ => t.text(),
            },
        };
        let label_has_error = s.error.is_some_and(|(_, n)| label.contains(n));
        // The model marks errors with ✗; the view's glyph says their kind.
        if let Some((code, _)) = s.error {
            label = label.replace(" ✗ ", &format!(" {} ", error_style(code, t).1));
        }
        spans.push(Span::styled(label, style));
        if let Some((code, name)) = s.error
            && !label_has_error
        {
            let (st, g) = error_style(code, t);
            spans.push(Span::styled(format!(" {g} {name}"), st));
        }
        if s.no_response {
            spans.push(Span::styled(
                format!(" {} no response", glyph::NO_RESPONSE),
                t.warning(),
            ));
        }
        out.push(FlowLine {
            line: Line::from(spans),
            index: Some(s.index),
        });
        if let (Some(l), StepKind::Leave { .. }) = (me, &s.kind) {
            active[l] = false;
        }
        if let (Some(l), StepKind::ConsumerHeartbeat { request_epoch, .. }) = (me, &s.kind)
            && *request_epoch < 0
        {
            active[l] = false;
        }
    }
    out
}

/// Rebuild the cache for the selected group when it changed.
pub fn refresh(app: &mut App, width: usize) {
    let sel = app.group_list.selected;
    let Some(g) = app.groups.iter().nth(sel) else {
        app.group_cache = FlowCache::default();
        return;
    };
    let key = (
        sel,
        g.steps.len(),
        g.generations.len(),
        g.members.len(),
        g.steps.last().map_or(0, |s| s.count),
        app.opts.theme.color,
    );
    if app.group_cache.key == Some(key) {
        return;
    }
    app.group_cache = FlowCache {
        key: Some(key),
        lines: flow_lines(g, &app.opts.theme, width),
    };
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

pub fn render(app: &mut App, f: &mut Frame, area: Rect) {
    let t = app.opts.theme;
    let list_w = if area.width >= 120 { 32 } else { 22 };
    let [left, right] =
        Layout::horizontal([Constraint::Length(list_w), Constraint::Min(20)]).areas(area);
    let height = usize::from(left.height.saturating_sub(2));
    let len = app.groups.len();
    app.group_list.scroll_into_view(height, len);
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

    refresh(app, usize::from(right.width.saturating_sub(2)));
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
    let total = app.group_cache.lines.len();
    let (offset, selected) = match &mut app.flow {
        Some(st) => {
            st.scroll_into_view(inner_h, total);
            (st.offset, Some(st.selected))
        }
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
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(border(!focus_list))
                .title(Span::styled(
                    fit(&title, usize::from(right.width.saturating_sub(4))),
                    t.header(),
                ))
                .title_bottom(Span::styled(hint, t.dim())),
        ),
        right,
    );
}

/// Lines in the selected group's flow (as last drawn).
pub fn flow_len_of(cache: &FlowCache) -> usize {
    cache.lines.len()
}

/// The exchange of flow line `line`, if it is a step.
pub fn flow_exchange(app: &App, line: usize) -> Option<usize> {
    app.group_cache.lines.get(line)?.index
}
