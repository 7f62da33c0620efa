//! Each consumer group of `kwire report`: members, generations (KIP-848:
//! group epochs) and the ladder of its steps, one lane per member, errors
//! highlighted, as the TUI's Groups view lays them out (`tui::ladder`).

use std::fmt::Write as _;

use super::html::{attr, error_name, escape, head, more, num_attr, num_cell, text, text_cell};
use super::{MAX_GENERATIONS, MAX_GROUPS, MAX_LANES, MAX_MEMBERS, MAX_STEPS};
use crate::analysis::groups::{GroupFlow, GroupProtocolKind, Groups, Step, StepKind};
use crate::kafka::errors::ErrorCode;
use crate::present::{self, count};

pub(super) fn groups(o: &mut String, gs: &Groups) {
    o.push_str("<section id=\"groups\"><h2>Consumer groups</h2>\n");
    let mut all: Vec<&GroupFlow> = gs.iter().collect();
    if all.is_empty() {
        o.push_str("<p class=\"empty\">No consumer group seen.</p>\n");
    }
    // Groups with errors first, then the busiest.
    all.sort_by(|a, b| {
        (b.errors > 0)
            .cmp(&(a.errors > 0))
            .then(b.steps.len().cmp(&a.steps.len()))
            .then(a.group_id.cmp(&b.group_id))
    });
    for (i, g) in all.iter().take(MAX_GROUPS).enumerate() {
        group(o, i, g);
    }
    more(o, all.len().saturating_sub(MAX_GROUPS), "groups");
    if gs.dropped() > 0 {
        let _ = writeln!(
            o,
            "<p class=\"more\">{} left out by the group analysis' limits</p>",
            count(gs.dropped(), "exchange", "exchanges")
        );
    }
    o.push_str("</section>\n");
}

fn lane_of(g: &GroupFlow, member: &str) -> usize {
    g.members
        .iter()
        .position(|m| m.member_id == member)
        .map_or(MAX_LANES - 1, |i| i.min(MAX_LANES - 1))
}

fn lane_letter(i: usize) -> char {
    if i < MAX_LANES - 1 {
        (b'A' + i as u8) as char
    } else {
        '+'
    }
}

/// How a step's error reads: retriable (and REBALANCE_IN_PROGRESS, the
/// coordinator asking members to rejoin) or fatal.
fn error_class(code: i16) -> (&'static str, &'static str) {
    if crate::session::retried(ErrorCode(code)) {
        ("retry", "↻")
    } else {
        ("fatal", "✗")
    }
}

fn group(o: &mut String, i: usize, g: &GroupFlow) {
    // KIP-848 groups have epochs where classic ones have generations.
    let gen_word = if g.kind == GroupProtocolKind::Consumer {
        "epoch"
    } else {
        "gen"
    };
    let _ = write!(o, "<section class=\"group\" id=\"group-{i}\"");
    attr(o, "data-group", &g.group_id);
    num_attr(o, "data-members", g.members.len());
    num_attr(o, "data-generations", g.generations.len());
    num_attr(o, "data-steps", g.steps.len());
    num_attr(o, "data-errors", g.errors);
    o.push_str("><h3>group <code>");
    text(o, &g.group_id);
    o.push_str("</code>");
    let mut tags = vec![g.kind.as_str().to_string()];
    if let Some(p) = &g.protocol_type {
        tags.push(p.clone());
    }
    for t in tags {
        o.push_str(" <span class=\"tag\">");
        text(o, &t);
        o.push_str("</span>");
    }
    if g.errors > 0 {
        let _ = write!(
            o,
            " <span class=\"tag fatal\">{}</span>",
            count(g.errors, "error", "errors")
        );
    }
    o.push_str("</h3>\n");
    if !g.coordinators.is_empty() {
        let c: Vec<String> = g.coordinators.iter().map(|c| c.to_string()).collect();
        let _ = write!(
            o,
            "<p class=\"note\">coordinator{} {}</p>",
            if c.len() > 1 { "s (moved)" } else { "" },
            escape(&c.join(" → "))
        );
    }

    // Members.
    o.push_str("<div class=\"scroll\"><table class=\"members\">");
    head(
        o,
        &[
            ("lane", false),
            ("client id", false),
            ("member id", false),
            ("client", false),
            ("joined", false),
            ("state", false),
        ],
    );
    o.push_str("<tbody>");
    for (i, m) in g.members.iter().take(MAX_MEMBERS).enumerate() {
        let _ = write!(
            o,
            "<tr><td class=\"lane\">{}</td>",
            lane_letter(i.min(MAX_LANES - 1))
        );
        text_cell(o, m.client_id.as_deref().unwrap_or("-"));
        o.push_str("<td><code>");
        text(o, &m.member_id);
        o.push_str("</code></td>");
        text_cell(o, &m.client.to_string());
        text_cell(
            o,
            &m.joined_generation
                .map_or_else(|| "-".to_string(), |g| format!("{gen_word} {g}")),
        );
        text_cell(o, if m.left { "left" } else { "in the group" });
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table></div>\n");
    if g.members.is_empty() {
        o.push_str("<p class=\"empty\">No member seen.</p>");
    }
    more(o, g.members.len().saturating_sub(MAX_MEMBERS), "members");

    // Generations, the latest kept.
    let what = if g.kind == GroupProtocolKind::Consumer {
        "Group epochs"
    } else {
        "Generations"
    };
    let _ = write!(o, "<h4>{what}</h4>");
    let skip = g.generations.len().saturating_sub(MAX_GENERATIONS);
    more(o, skip, "earlier generations");
    if g.generations.is_empty() {
        o.push_str("<p class=\"empty\">None seen.</p>");
    } else {
        o.push_str("<div class=\"scroll\"><table class=\"gens\">");
        head(
            o,
            &[
                (gen_word, true),
                ("members", false),
                ("leader", false),
                ("assignor", false),
                ("time (UTC)", false),
                ("frame", true),
                ("assignments", false),
            ],
        );
        o.push_str("<tbody>");
        for gen_ in g.generations.iter().skip(skip) {
            let members: String = gen_
                .members
                .iter()
                .map(|m| lane_letter(lane_of(g, m)))
                .collect();
            let _ = write!(o, "<tr><td class=\"n\">{}</td>", gen_.id);
            text_cell(o, &members);
            text_cell(
                o,
                &gen_.leader.as_deref().map_or_else(
                    || "-".to_string(),
                    |l| lane_letter(lane_of(g, l)).to_string(),
                ),
            );
            text_cell(o, gen_.protocol.as_deref().unwrap_or("-"));
            let _ = write!(o, "<td>{}</td>", present::clock(gen_.ts));
            num_cell(o, gen_.frame);
            o.push_str("<td class=\"assign\">");
            for (k, (m, a)) in gen_.assignments.iter().take(MAX_LANES).enumerate() {
                if k > 0 {
                    o.push_str("<br>");
                }
                let _ = write!(o, "{} → ", lane_letter(lane_of(g, m)));
                text(o, &crate::analysis::groups::format_assignment(a));
            }
            if gen_.assignments.len() > MAX_LANES {
                let _ = write!(o, "<br>{} more", gen_.assignments.len() - MAX_LANES);
            }
            o.push_str("</td></tr>\n");
        }
        o.push_str("</tbody></table></div>\n");
    }

    // The ladder.
    o.push_str("<h4>Ladder</h4>");
    if g.steps.is_empty() {
        o.push_str("<p class=\"empty\">No step.</p></section>\n");
        return;
    }
    let lanes = g.members.len().clamp(1, MAX_LANES);
    o.push_str("<div class=\"scroll\"><table class=\"ladder\"><thead><tr><th>time (UTC)</th>");
    for l in 0..lanes {
        let _ = write!(o, "<th class=\"lane\">{}</th>", lane_letter(l));
    }
    o.push_str("<th>step</th><th class=\"n\">frame</th></tr></thead><tbody>\n");
    let n = g.steps.len();
    let (head_n, tail_from) = if n > MAX_STEPS {
        (MAX_STEPS / 2, n - MAX_STEPS / 2)
    } else {
        (n, n)
    };
    let mut active = [false; MAX_LANES];
    let mut next_gen = 0;
    let cols = lanes + 3;
    for (k, s) in g.steps.iter().enumerate() {
        // Lanes follow every step, shown or not.
        let me = s.member.as_deref().map(|m| lane_of(g, m));
        let shown = k < head_n || k >= tail_from;
        if k == head_n && head_n < tail_from {
            let _ = writeln!(
                o,
                "<tr class=\"gap\"><td colspan=\"{cols}\"><p class=\"more\" data-more=\"{}\">{} \
                 more steps not shown (frames {} to {})</p></td></tr>",
                tail_from - head_n,
                tail_from - head_n,
                s.frame,
                g.steps[tail_from - 1].last_frame
            );
        }
        while let Some(gen_) = g.generations.get(next_gen) {
            if gen_.frame > s.frame {
                break;
            }
            next_gen += 1;
            if shown {
                let _ = writeln!(
                    o,
                    "<tr class=\"rule\"><td colspan=\"{cols}\">{} {}</td></tr>",
                    if g.kind == GroupProtocolKind::Consumer {
                        "epoch"
                    } else {
                        "generation"
                    },
                    gen_.id
                );
            }
        }
        if let Some(l) = me
            && let Some(a) = active.get_mut(l)
        {
            *a = true;
        }
        if shown {
            step_row(o, s, me, &active[..lanes]);
        }
        let leaves = matches!(s.kind, StepKind::Leave { .. })
            || matches!(s.kind, StepKind::ConsumerHeartbeat { request_epoch, .. } if request_epoch < 0);
        if let (Some(l), true) = (me, leaves)
            && let Some(a) = active.get_mut(l)
        {
            *a = false;
        }
    }
    o.push_str("</tbody></table></div></section>\n");
}

fn step_row(o: &mut String, s: &Step, me: Option<usize>, active: &[bool]) {
    let class = match (s.error, s.no_response) {
        (Some((code, _)), _) => error_class(code).0,
        (None, true) => "noresp",
        _ => "ok",
    };
    let _ = write!(o, "<tr class=\"step {class}\"");
    num_attr(o, "data-frame", s.frame);
    // The microseconds go where room is short (`.usec`).
    let clock = present::clock(s.ts);
    let (ms, us) = clock.split_at(clock.len().saturating_sub(3));
    let _ = write!(o, "><td>{ms}<span class=\"usec\">{us}</span></td>");
    for (l, a) in active.iter().enumerate() {
        let mark = if Some(l) == me {
            "●"
        } else if *a {
            "│"
        } else {
            ""
        };
        let _ = write!(o, "<td class=\"lane\">{mark}</td>");
    }
    o.push_str("<td class=\"what\">");
    text(o, &s.what());
    if s.count > 1 {
        let _ = write!(o, " <span class=\"dim\">×{}</span>", s.count);
    }
    if let Some((code, name)) = s.error {
        let (class, glyph) = error_class(code);
        let _ = write!(o, " <span class=\"err {class}\">{glyph} ");
        error_name(o, name);
        o.push_str("</span>");
    }
    if s.no_response {
        o.push_str(" <span class=\"err noresp\">… no response</span>");
    }
    o.push_str("</td>");
    num_cell(o, s.frame);
    o.push_str("</tr>\n");
}
