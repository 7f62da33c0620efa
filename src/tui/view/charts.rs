//! Charts: requests/s, p99 latency and errors/s over time, of the exchanges
//! the timeline shows (its filter applies), over all of them or by API or
//! by broker. The model and the view's state (changed by keys, in
//! [`ChartsState::act`](crate::tui::series::ChartsState::act)) are in
//! [`crate::tui::series`]; this module draws them from `&App`.
//!
//! One column is one stretch of time (one or more of the series' buckets);
//! the cursor is a column, marked `▲` under the charts and shaded,
//! and the readout under them says what it holds. Enter goes to the
//! timeline filtered to the cursor's frames (and to its problems when the
//! errors chart is chosen). Following (a live tail), the charts show the
//! newest buckets one a column and the cursor stays on the newest.
//!
//! In a breakdown each series has a band of its own, labelled, on a scale
//! shared by the bands: readable without colour, nothing drawn over
//! anything else. Latency is on a log scale (5 s and 50 µs in one chart).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline, SparklineBar};

use super::{fit, rpad};
use crate::present::{latency, short_clock as clock_ms};
use crate::tui::app::App;
use crate::tui::series::{
    Bucket, MAX_SHOWN, Metric, Shown, Split, Window, gutter, plot_columns, timestamp,
};
use crate::tui::theme::Theme;

/// Rows that are not plots: the mode line, three titles, the time axis and
/// its labels, and the readout's two lines.
const FIXED_ROWS: u16 = 8;
/// Error names the readout lists.
const READOUT_ERRORS: usize = 4;

/// `12/s`, `1.5/s`, `2.3k/s`.
fn rate(count: u64, column_ns: i128) -> String {
    let secs = column_ns as f64 / 1e9;
    if secs <= 0.0 {
        return format!("{count}");
    }
    crate::present::rate(count as f64 / secs)
}

/// A span of time: `500ms`, `2s`, `1min`, `1h`.
pub fn duration(ns: i128) -> String {
    const S: i128 = 1_000_000_000;
    match ns {
        n if n < S => format!("{}ms", n / 1_000_000),
        n if n < 60 * S && n % S == 0 => format!("{}s", n / S),
        n if n < 60 * S => format!("{:.1}s", n as f64 / S as f64),
        n if n < 3600 * S => format!("{}min", n / (60 * S)),
        n => format!("{}h", n / (3600 * S)),
    }
}

/// The clock at `ns`, to the millisecond (`HH:MM:SS.mmm`).
fn short_clock(ns: i128) -> String {
    clock_ms(timestamp(ns))
}

/// Plot heights in eighths of a row for `values` on `rows` rows: linear
/// from 0 to `max`, and anything above 0 at least one eighth (one error
/// among thousands of requests is still seen).
fn linear(values: &[u64], max: u64, rows: u16) -> Vec<u64> {
    let full = u64::from(rows) * 8;
    values
        .iter()
        .map(|&v| match v {
            0 => 0,
            v => {
                ((u128::from(v) * u128::from(full) / u128::from(max.max(1))) as u64).clamp(1, full)
            }
        })
        .collect()
}

/// Heights for latencies on a log scale from `lo` to `hi`; none: 0.
fn logarithmic(values: &[Option<i64>], lo: i64, hi: i64, rows: u16) -> Vec<u64> {
    let full = u64::from(rows) * 8;
    let l = (lo.max(1) as f64).ln();
    let h = (hi.max(1) as f64).ln();
    values
        .iter()
        .map(|v| match v {
            None => 0,
            Some(_) if h <= l => full,
            Some(v) => {
                let x = ((v.max(&1).to_owned() as f64).ln() - l) / (h - l);
                (1.0 + x.clamp(0.0, 1.0) * (full.saturating_sub(1)) as f64).round() as u64
            }
        })
        .collect()
}

/// Draw one plot: `heights` (eighths) as bars from the bottom of `area`.
fn bars(f: &mut Frame, area: Rect, heights: Vec<u64>, rows: u16, style: Style) {
    let data: Vec<SparklineBar> = heights.into_iter().map(SparklineBar::from).collect();
    f.render_widget(
        Sparkline::default()
            .data(data)
            .max(u64::from(rows) * 8)
            .style(style),
        area,
    );
}

/// The gutter of a plot: `labels` (row from the top, text) right-aligned
/// before the axis.
fn gutter_lines(f: &mut Frame, area: Rect, labels: &[(u16, String, Style)], t: &Theme) {
    let w = usize::from(area.width.saturating_sub(1));
    for y in 0..area.height {
        let label = labels.iter().find(|(row, _, _)| *row == y);
        let line = match label {
            Some((_, text, style)) => Line::from(vec![
                Span::styled(rpad(text, w), *style),
                Span::styled("┤", t.dim()),
            ]),
            None => Line::from(vec![Span::raw(" ".repeat(w)), Span::styled("│", t.dim())]),
        };
        f.render_widget(
            Paragraph::new(line),
            Rect::new(area.x, area.y + y, area.width, 1),
        );
    }
}

/// `s` in `width` characters, its start cut (`…0.0.1:9092`) when too long.
fn fit_end(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let tail: String = s.chars().skip(n - (width - 1)).collect();
    format!("…{tail}")
}

/// The style of the `i`-th series of a breakdown.
fn series_style(i: usize, label: &str, t: &Theme) -> Style {
    if label == "other" {
        return t.dim();
    }
    match i % 4 {
        0 => t.name(),
        1 => t.ok(),
        2 => t.retriable(),
        _ => t.throttled(),
    }
}

/// One chart: its title row and its plot rows.
#[allow(clippy::too_many_arguments)]
fn chart(
    f: &mut Frame,
    area: Rect,
    app: &App,
    m: Metric,
    shown: &[Shown],
    w: &Window,
    cursor: usize,
    split: Split,
) {
    let t = app.opts.theme;
    let g = gutter(area.width);
    let rows = area.height.saturating_sub(1);
    if rows == 0 || shown.is_empty() {
        return;
    }
    let value = |b: &Bucket| match m {
        Metric::Requests => b.requests,
        Metric::Errors => b.problems,
        Metric::Latency => 0,
    };
    let max = shown
        .iter()
        .flat_map(|s| s.columns.iter().map(value))
        .max()
        .unwrap_or(0);
    let p99s: Vec<Vec<Option<i64>>> = shown
        .iter()
        .map(|s| s.columns.iter().map(Bucket::p99).collect())
        .collect();
    let lo = p99s.iter().flatten().flatten().min().copied().unwrap_or(0);
    let hi = p99s.iter().flatten().flatten().max().copied().unwrap_or(0);
    let scale = match m {
        Metric::Latency if hi > 0 => format!("{} … {}", latency(lo), latency(hi)),
        Metric::Latency => "nothing answered".to_string(),
        _ => format!("max {}", rate(max, w.column_ns())),
    };
    let focused = app.charts.focus == m;
    let mut title = format!("{} {}", if focused { "▶" } else { " " }, m.title());
    if split != Split::All {
        title.push_str(&format!(" {}", split.label()));
    }
    title.push_str(&format!(" · {scale}"));
    if split != Split::All {
        title.push_str(" a band");
    }
    let title_style = if focused { t.header() } else { t.dim() };
    f.render_widget(
        Paragraph::new(Line::from(Span::styled(
            fit(&title, usize::from(area.width)),
            title_style,
        ))),
        Rect::new(area.x, area.y, area.width, 1),
    );
    let plot_y = area.y + 1;
    let plot_x = area.x + g;
    let plot_w = (w.columns as u16).min(area.width.saturating_sub(g + 1));
    // Bands: one a series, from the top; all of them on one scale.
    let n = shown.len().min(usize::from(rows)).max(1) as u16;
    let band = rows / n;
    let mut labels = Vec::new();
    for (i, s) in shown.iter().take(usize::from(n)).enumerate() {
        let y = plot_y + band * i as u16;
        let style = match (split, m) {
            (Split::All, Metric::Requests) => t.name(),
            (Split::All, Metric::Latency) => t.retriable(),
            (Split::All, Metric::Errors) => t.fatal(),
            _ => series_style(i, &s.label, &t),
        };
        let heights = match m {
            Metric::Latency => logarithmic(&p99s[i], lo, hi, band),
            _ => linear(&s.columns.iter().map(value).collect::<Vec<_>>(), max, band),
        };
        bars(f, Rect::new(plot_x, y, plot_w, band), heights, band, style);
        let rel = y - plot_y;
        if split == Split::All {
            let (top, bottom) = match m {
                Metric::Latency if hi > 0 => (latency(hi), latency(lo)),
                Metric::Latency => (String::new(), String::new()),
                _ => (rate(max, w.column_ns()), "0".to_string()),
            };
            labels.push((rel, top, t.dim()));
            if band > 1 {
                labels.push((rel + band - 1, bottom, t.dim()));
            }
        } else {
            // A broker's port tells it from the others: cut from the left.
            let label = if split == Split::Broker {
                fit_end(&s.label, usize::from(g.saturating_sub(1)))
            } else {
                s.label.clone()
            };
            labels.push((rel + band - 1, label, style));
        }
    }
    gutter_lines(f, Rect::new(area.x, plot_y, g, rows), &labels, &t);
    // The cursor: its column shaded.
    if (cursor as u16) < plot_w {
        f.buffer_mut().set_style(
            Rect::new(plot_x + cursor as u16, plot_y, 1, band * n),
            t.cursor(),
        );
    }
}

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let t = app.opts.theme;
    let series = &app.series;
    let st = &app.charts;
    let width = usize::from(area.width);
    if series.is_empty() {
        let msg = if app.filter.is_empty() {
            " no exchanges to chart yet".to_string()
        } else {
            format!(" no exchange matches /{}", app.filter_text)
        };
        f.render_widget(Paragraph::new(Line::from(Span::styled(msg, t.dim()))), area);
        return;
    }
    let g = gutter(area.width);
    let w = series.window(plot_columns(area.width), app.follow);
    let cur = st.column(&w, app.follow);
    let all = series.all(&w);
    let shown: Vec<Shown> = match st.split {
        Split::All => vec![Shown {
            label: "all".into(),
            total: series.exchanges(),
            columns: all.clone(),
        }],
        s => {
            let rows = area.height.saturating_sub(FIXED_ROWS) / 3;
            series.shown(s, MAX_SHOWN.min(usize::from(rows).max(1)), &w)
        }
    };

    // The mode line.
    let mut mode = format!(
        " {} · {} a column · b: {} · ←→ bucket ↑↓ chart Enter exchanges",
        st.split.label(),
        duration(w.column_ns()),
        st.split.next().label(),
    );
    if !app.filter.is_empty() {
        mode = format!(" /{} ·{mode}", app.filter_text);
    }
    if app.follow {
        mode.push_str(" · following");
    }
    f.render_widget(
        Paragraph::new(Line::from(Span::styled(fit(&mode, width), t.dim()))),
        Rect::new(area.x, area.y, area.width, 1),
    );

    // Three charts in what is left above the axis and the readout.
    let plots = area.height.saturating_sub(FIXED_ROWS);
    let (each, extra) = (plots / 3, plots % 3);
    let mut y = area.y + 1;
    for (i, m) in Metric::ALL.into_iter().enumerate() {
        let h = 1 + each + u16::from((i as u16) < extra);
        chart(
            f,
            Rect::new(area.x, y, area.width, h),
            app,
            m,
            &shown,
            &w,
            cur,
            st.split,
        );
        y += h;
    }

    // The time axis, the cursor's ▲ on it, and its labels.
    let cols = w.columns;
    let mut axis: String = " ".repeat(usize::from(g.saturating_sub(1)));
    axis.push('└');
    for c in 0..cols {
        axis.push(if c == cur { '▲' } else { '─' });
    }
    f.render_widget(
        Paragraph::new(Line::from(Span::styled(fit(&axis, width), t.dim()))),
        Rect::new(area.x, y, area.width, 1),
    );
    let from = short_clock(w.start_of(0));
    let to = short_clock(w.start_of(cols));
    let room = cols.saturating_sub(from.len());
    let labels = format!("{}{from}{}", " ".repeat(usize::from(g)), rpad(&to, room));
    f.render_widget(
        Paragraph::new(Line::from(Span::styled(fit(&labels, width), t.dim()))),
        Rect::new(area.x, y + 1, area.width, 1),
    );

    // The readout of the cursor's column.
    let b = all.get(cur).cloned().unwrap_or_default();
    let start = w.start_of(cur);
    let end = w.start_of(cur + 1);
    let mut first = vec![
        Span::styled("▲ ", t.key()),
        Span::raw(format!(
            "{}–{} ({})",
            short_clock(start),
            short_clock(end),
            duration(w.column_ns())
        )),
        Span::raw(format!(
            " · {}",
            crate::present::count(b.requests, "request", "requests")
        )),
    ];
    let errors = crate::present::count(b.problems, "error", "errors");
    first.push(Span::styled(
        format!(" · {errors}"),
        if b.problems > 0 { t.fatal() } else { t.text() },
    ));
    if let Some(p) = b.p99() {
        first.push(Span::raw(format!(" · p99 {}", latency(p))));
    }
    first.push(Span::styled(
        format!(" · {}", super::bytes(b.bytes)),
        t.dim(),
    ));
    let mut second = vec![Span::raw("  ")];
    let top = b.errors.top();
    if top.is_empty() {
        second.push(Span::styled(
            if b.requests == 0 {
                "no exchanges here"
            } else {
                "no errors"
            },
            t.dim(),
        ));
    }
    for (i, (p, n)) in top.iter().take(READOUT_ERRORS).enumerate() {
        if i > 0 {
            second.push(Span::raw(" "));
        }
        let times = if *n > 1 {
            format!("×{n}")
        } else {
            String::new()
        };
        second.push(Span::styled(format!("{}{times}", p.name()), t.fatal()));
    }
    let more = top.len().saturating_sub(READOUT_ERRORS) as u64 + b.errors.others;
    if more > 0 {
        second.push(Span::styled(format!(" +{more} more"), t.dim()));
    }
    if b.requests > 0 {
        let what = if st.focus == Metric::Errors {
            " · Enter: its errors"
        } else {
            " · Enter: its exchanges"
        };
        // Said when it fits whole.
        let used: usize = second.iter().map(Span::width).sum();
        if used + unicode_width::UnicodeWidthStr::width(what) <= width {
            second.push(Span::styled(what, t.dim()));
        }
    }
    let readout = Rect::new(
        area.x,
        y + 2,
        area.width,
        2.min(area.height.saturating_sub(y + 2 - area.y)),
    );
    f.render_widget(
        Paragraph::new(vec![Line::from(first), Line::from(second)]),
        readout,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration(1_000_000), "1ms");
        assert_eq!(duration(500_000_000), "500ms");
        assert_eq!(duration(2_000_000_000), "2s");
        assert_eq!(duration(1_500_000_000), "1.5s");
        assert_eq!(duration(120_000_000_000), "2min");
        assert_eq!(duration(7_200_000_000_000), "2h");
    }

    #[test]
    fn rates_and_scales() {
        assert_eq!(rate(12, 1_000_000_000), "12/s");
        assert_eq!(rate(3, 2_000_000_000), "1.5/s");
        assert_eq!(rate(1, 10_000_000_000), "0.10/s");
        assert_eq!(rate(5, 1_000_000), "5.0k/s");
        // One error among many is still drawn; the largest fills the rows.
        assert_eq!(linear(&[0, 1, 1000], 1000, 5), vec![0, 1, 40]);
        // Log scale: the smallest answered is above 0, the largest full.
        let h = logarithmic(&[None, Some(50), Some(5_000_000)], 50, 5_000_000, 4);
        assert_eq!(h, vec![0, 1, 32]);
        // One latency only: full height.
        assert_eq!(logarithmic(&[Some(7)], 7, 7, 2), vec![16]);
    }

    #[test]
    fn broker_labels_keep_their_port() {
        assert_eq!(fit_end("127.0.0.1:45015", 11), "….0.1:45015");
        assert_eq!(fit_end("b:9092", 11), "b:9092");
        assert_eq!(fit_end("b:9092", 0), "");
    }
}
