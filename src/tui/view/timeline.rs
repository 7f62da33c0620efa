//! The timeline: one line per exchange in request order, events in line.

use super::{content, draw_scrolled, fit_middle, overflow_of, pad, rpad};
use crate::capture::Timestamp;
use crate::present::latency;
use crate::present::{clock, seconds, short_clock};
use crate::tui::app::{App, TimeMode, status_text};
use crate::tui::store::{Item, Row, Severity};
use crate::tui::theme::{Theme, glyph};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// Which columns fit in `width`.
///
/// By priority: the frame, the time, the client id, the API and its
/// version, the latency and the status come first (the client id stays at
/// 80 columns, where the correlation id, the connection and the addresses
/// give way); the summary takes what is left.
struct Columns {
    client_id: usize,
    addresses: bool,
    stream: bool,
    corr: bool,
    api: usize,
    /// The clock to the millisecond (`HH:MM:SS.mmm`), not the microsecond.
    short_clock: bool,
    /// Width of the addresses column when shown (see [`MAX_ADDRESSES`]).
    addresses_w: usize,
}

/// Widest the `client → broker` column gets (two IPv6 endpoints); it is
/// as wide as the rows shown need.
const MAX_ADDRESSES: usize = 44;

impl Columns {
    fn for_width(width: u16) -> Columns {
        Columns {
            client_id: match width {
                0..100 => 10,
                100..140 => 12,
                _ => 16,
            },
            addresses: width >= 150,
            stream: (100..150).contains(&width),
            corr: width >= 100,
            api: if width >= 100 { 20 } else { 18 },
            short_clock: width < 100,
            addresses_w: 0,
        }
    }
}

/// Fewest cells a column keeps when a row's error name needs its room.
const MIN_SHRUNK: usize = 3;

fn time_text(app: &App, ts: Timestamp, prev: Option<Timestamp>, short: bool) -> String {
    match app.time_mode {
        TimeMode::Absolute if short => {
            // HH:MM:SS.mmm: the microseconds give way on narrow screens.
            short_clock(ts)
        }
        TimeMode::Absolute => clock(ts),
        TimeMode::SinceStart => seconds(app.first_ts.map_or(0, |f| ts.nanos_since(f))),
        TimeMode::SincePrevious => match prev {
            Some(p) => format!("+{}", seconds(ts.nanos_since(p))),
            None => "+0.000000".to_string(),
        },
    }
}

/// Glyph and style of an exchange's status.
pub fn status_look(it: &Item, t: &Theme) -> (&'static str, Style) {
    match it.severity() {
        Severity::Ok => match it.status {
            crate::session::Status::NoResponseExpected => (glyph::NO_RESPONSE_EXPECTED, t.dim()),
            _ => (glyph::OK, t.ok()),
        },
        Severity::Negotiation => (glyph::NEGOTIATION, t.dim()),
        Severity::Throttled => (glyph::THROTTLED, t.throttled()),
        Severity::Retriable => (glyph::RETRIABLE, t.retriable()),
        Severity::Fatal => (glyph::FATAL, t.fatal()),
        Severity::Unanswered => (glyph::NO_RESPONSE, t.warning()),
        Severity::Malformed => (glyph::MALFORMED, t.warning()),
    }
}

/// Rows of exchanges and events an `area` shows (under the header).
pub fn rows(area: Rect) -> usize {
    usize::from(area.height.saturating_sub(1))
}

/// Cells the widest row shown goes beyond `area`.
pub fn overflow(app: &App, area: Rect) -> usize {
    overflow_of(&lines(app, content(area)), area)
}

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    draw_scrolled(f, area, lines(app, content(area)), app.hscroll, app);
}

/// The header and the rows shown, as wide as they are (the caller clips
/// and scrolls them).
fn lines(app: &App, area: Rect) -> Vec<Line<'_>> {
    let t = app.opts.theme;
    let mut cols = Columns::for_width(area.width);
    let height = rows(area);
    let len = app.visible.len();
    let shown = || {
        let end = (app.timeline.offset + height).min(len);
        app.visible
            .get(app.timeline.offset.min(end)..end)
            .unwrap_or(&[])
            .iter()
    };
    let mut addr_w = 0;
    if cols.addresses {
        // As wide as the widest pair shown, not always the IPv6 width.
        addr_w = shown()
            .filter_map(|r| match r {
                Row::Exchange(i) => app.store.exchange(*i),
                Row::Event(_) => None,
            })
            .map(|it| super::width_of(&format!("{} → {}", it.client, it.broker)) + 1)
            .max()
            .unwrap_or(16)
            .clamp(16, MAX_ADDRESSES);
    }
    cols.addresses_w = addr_w;
    let tw = match app.time_mode {
        TimeMode::Absolute if cols.short_clock => 12,
        TimeMode::Absolute => 15,
        _ => 11,
    };
    // Header.
    let mut head = format!("{:>7} {} ", "frame", pad(app.time_mode.label(), tw));
    if cols.stream {
        head.push_str(&pad("conn", 5));
    }
    if cols.addresses {
        head.push_str(&pad("client → broker", cols.addresses_w));
    }
    if cols.client_id > 0 {
        head.push_str(&pad("client id", cols.client_id + 1));
    }
    head.push_str(&pad("api", cols.api));
    if cols.corr {
        head.push_str(&format!(" {:>6}", "corr"));
    }
    head.push_str(&format!(" {:>8}   status / summary", "latency"));
    let mut lines = vec![Line::from(Span::styled(head, t.header()))];
    let mut prev: Option<Timestamp> = None;
    if let Some(before) = app.timeline.offset.checked_sub(1)
        && let Some(r) = app.visible.get(before)
    {
        prev = row_ts(app, *r);
    }
    for (k, &row) in shown().enumerate() {
        let selected = app.timeline.offset + k == app.timeline.selected;
        let mut line = match row {
            Row::Exchange(i) => match app.store.exchange(i) {
                Some(it) => exchange_line(app, it, &cols, tw, prev, &t, usize::from(area.width)),
                None => Line::raw("(let go)"),
            },
            Row::Event(i) => match app.store.event(i) {
                Some(ev) => {
                    let mut s = format!(
                        "{:>7} {} ",
                        ev.frame,
                        pad(&time_text(app, ev.ts, prev, cols.short_clock), tw)
                    );
                    if cols.stream {
                        s.push_str(&pad(&ev.stream.map_or("-".into(), |s| format!("s{s}")), 5));
                    }
                    Line::from(vec![
                        Span::raw(s),
                        Span::styled(format!("{} {} ", glyph::GAP, ev.kind), t.warning()),
                        Span::styled(ev.text.to_string(), t.warning()),
                    ])
                }
                None => Line::raw("(let go)"),
            },
        };
        prev = row_ts(app, row).or(prev);
        if selected {
            line = line.patch_style(t.selected());
        }
        lines.push(line);
    }
    if len == 0 {
        let msg = if app.loading {
            "waiting for Kafka exchanges…"
        } else if !app.filter.is_empty() {
            "no exchange matches the filter (c clears it)"
        } else {
            "no Kafka exchange in this capture"
        };
        lines.push(Line::from(Span::styled(msg, t.dim())));
    }
    lines
}

fn row_ts(app: &App, row: Row) -> Option<Timestamp> {
    match row {
        Row::Exchange(i) => app.store.exchange(i).map(|it| it.request.ts),
        Row::Event(i) => app.store.event(i).map(|e| e.ts),
    }
}

fn exchange_line<'a>(
    app: &App,
    it: &'a Item,
    cols: &Columns,
    tw: usize,
    prev: Option<Timestamp>,
    t: &Theme,
    width: usize,
) -> Line<'a> {
    use unicode_width::UnicodeWidthStr;
    let mut status = match it.severity() {
        Severity::Ok => None,
        _ => Some(status_text(it)),
    };
    // An error name is never cut: when the row's status does not fit after
    // the columns, the client id and then the API give it room (down to a
    // few cells each) on that row.
    let (mut client_w, mut api_w) = (cols.client_id, cols.api);
    let prefix = 8
        + tw
        + 1
        + if cols.stream { 5 } else { 0 }
        + cols.addresses_w
        + if client_w > 0 { client_w + 1 } else { 0 }
        + api_w
        + if cols.corr { 7 } else { 0 }
        + 10;
    let room = width.saturating_sub(prefix);
    // The negotiation glyph says it already: the words go first.
    if let Some(st) = status.as_mut()
        && st.width() + 2 > room
        && let Some(bare) = st.strip_suffix(" (negotiation)")
    {
        *st = bare.to_string();
    }
    let need = status.as_deref().map_or(0, |s| s.width() + 2);
    let mut deficit = (prefix + need).saturating_sub(width);
    if deficit > 0 && client_w > 0 {
        let take = deficit.min(client_w.saturating_sub(MIN_SHRUNK));
        client_w -= take;
        deficit -= take;
    }
    if deficit > 0 {
        let take = deficit.min(api_w.saturating_sub(MIN_SHRUNK + 4));
        api_w -= take;
    }
    let mut s = format!(
        "{:>7} {} ",
        it.request.frame,
        pad(&time_text(app, it.request.ts, prev, cols.short_clock), tw)
    );
    if cols.stream {
        s.push_str(&pad(&format!("s{}", it.stream), 5));
    }
    if cols.addresses {
        s.push_str(&pad(
            &format!("{} → {}", it.client, it.broker),
            cols.addresses_w,
        ));
    }
    if client_w > 0 {
        // Client ids often differ at their end (`billing-1`, `billing-2`).
        let id = it.client_id.as_deref().unwrap_or("-");
        s.push_str(&pad(&fit_middle(id, client_w), client_w));
        s.push(' ');
    }
    let api = format!("{} v{}", it.api_key.name(), it.api_version);
    let lat = it.latency_us().map_or_else(|| "-".to_string(), latency);
    s.push_str(&pad(&api, api_w));
    if cols.corr {
        s.push_str(&format!(" {:>6}", rpad(&it.correlation_id.to_string(), 6)));
    }
    s.push_str(&format!(" {} ", rpad(&lat, 8)));
    let (g, style) = status_look(it, t);
    let mut spans = vec![Span::raw(s), Span::styled(format!("{g} "), style)];
    if let Some(st) = status {
        spans.push(Span::styled(format!("{st} "), style));
    }
    if it.damaged() {
        spans.push(Span::styled(
            format!("{} damaged ", glyph::GAP),
            t.warning(),
        ));
    }
    spans.push(Span::raw(it.summary.to_string()));
    Line::from(spans)
}
