//! The selected consumer group's flow as lines for the Groups view: who is
//! who, its generations with each member's partitions, and a ladder of every
//! step, one lane per member (`●` the member acting, `│` members in the group
//! at that time), errors highlighted.
//!
//! The lines are laid out for the pane's width and kept ([`FlowCache`]):
//! they are built in the update step (`App::fit`) when the group, its steps
//! or the width change, and drawn as they are by `view::groups`. A step's
//! outcome (its error name, `×14`, `no response`) is never cut: what the step
//! did is shortened first.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::theme::{Theme, glyph};
use super::view::{fit, width_of};
use crate::analysis::groups::{GroupFlow, GroupProtocolKind, Groups, StepKind, format_assignment};
use crate::kafka::errors::ErrorCode;
use crate::present::{clock, short_clock};

/// Most member lanes drawn; further members share the last lane.
pub const MAX_LANES: usize = 8;

/// Below this width the ladder's clock is to the millisecond.
const SHORT_CLOCK_BELOW: usize = 90;

/// Least room left for what a step did before its outcome is cut instead.
const MIN_WHAT: usize = 10;

/// One line of a flow, and the exchange it stands for (if a step).
#[derive(Clone, Debug)]
pub struct FlowLine {
    pub line: Line<'static>,
    pub index: Option<usize>,
}

/// What the cached lines were built from: the group selected, how far its
/// flow had got, the colours and the width.
type CacheKey = (usize, usize, usize, usize, u32, bool, usize);

/// The flow lines of the selected group, rebuilt when the group changes.
#[derive(Clone, Debug, Default)]
pub struct FlowCache {
    key: Option<CacheKey>,
    pub lines: Vec<FlowLine>,
}

impl FlowCache {
    /// Lay out the flow of group `selected` for `width` columns, unless the
    /// lines kept are of it already.
    pub fn update(&mut self, groups: &Groups, selected: usize, theme: &Theme, width: usize) {
        let Some(g) = groups.iter().nth(selected) else {
            *self = FlowCache::default();
            return;
        };
        let key = (
            selected,
            g.steps.len(),
            g.generations.len(),
            g.members.len(),
            g.steps.last().map_or(0, |s| s.count),
            theme.color,
            width,
        );
        if self.key == Some(key) {
            return;
        }
        *self = FlowCache {
            key: Some(key),
            lines: flow_lines(g, theme, width),
        };
    }

    /// The exchange of line `line`, if it is a step.
    pub fn exchange(&self, line: usize) -> Option<usize> {
        self.lines.get(line)?.index
    }

    /// The first line that is a step (where walking the ladder starts).
    pub fn first_step(&self) -> usize {
        self.lines
            .iter()
            .position(|l| l.index.is_some())
            .unwrap_or(0)
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// A member's lane letter: A, B, … then `+`.
fn lane_letter(i: usize) -> char {
    if i < MAX_LANES - 1 {
        (b'A' + i as u8) as char
    } else {
        '+'
    }
}

/// How an error in the ladder is shown: as the timeline shows its kind.
fn error_style(code: i16, t: &Theme) -> (Style, &'static str) {
    if crate::session::retried(ErrorCode(code)) {
        (t.retriable(), glyph::RETRIABLE)
    } else {
        (t.fatal(), glyph::FATAL)
    }
}

/// Build the flow of `g` for `width` columns.
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
    let short = width < SHORT_CLOCK_BELOW;
    let time = |ts| if short { short_clock(ts) } else { clock(ts) };
    let time_w = if short { 12 } else { 15 };

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
    let what = if g.kind == GroupProtocolKind::Consumer {
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
        s.push_str(&format!("  {} (frame {})", time(gen_.ts), gen_.frame));
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
    let label = if short { "time" } else { "time (UTC)" };
    out.push(info(Line::from(Span::styled(
        format!("{label:<time_w$}  {head:<lanes$}  step"),
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
            let n = width.saturating_sub(width_of(&rule) + time_w + 2);
            out.push(info(Line::from(Span::styled(
                format!("{}  {rule}{}", " ".repeat(time_w), "─".repeat(n.min(60))),
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
        let lead = format!("{}  {}  ", time(s.ts), lane_str);
        out.push(FlowLine {
            line: step_line(s, lead, width, t),
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

/// A step's ladder line: `lead` (clock and lanes), what it did cut to the
/// room left, then its outcome whole.
fn step_line(
    s: &crate::analysis::groups::Step,
    lead: String,
    width: usize,
    t: &Theme,
) -> Line<'static> {
    let what_style = match &s.kind {
        StepKind::Join { .. } | StepKind::Leave { .. } => t.name(),
        _ => t.text(),
    };
    let mut tail: Vec<Span<'static>> = Vec::new();
    if s.count > 1 {
        tail.push(Span::styled(format!(" ×{}", s.count), what_style));
    }
    if let Some((code, name)) = s.error {
        // The model marks errors with ✗; the view's glyph says their kind.
        let (st, g) = error_style(code, t);
        tail.push(Span::styled(format!(" {g} {name}"), st));
    }
    if s.no_response {
        tail.push(Span::styled(
            format!(" {} no response", glyph::NO_RESPONSE),
            t.warning(),
        ));
    }
    let tail_w: usize = tail.iter().map(|sp| width_of(&sp.content)).sum();
    let room = width.saturating_sub(width_of(&lead) + tail_w).max(MIN_WHAT);
    let what_style = match (s.error, s.no_response) {
        (Some((code, _)), _) => error_style(code, t).0,
        (None, true) => t.warning(),
        _ => what_style,
    };
    let mut spans = vec![
        Span::raw(lead),
        Span::styled(fit(&s.what(), room), what_style),
    ];
    spans.extend(tail);
    Line::from(spans)
}
