//! `kwire report`: one self-contained HTML page for an incident ticket.
//!
//! [`Gathered`] is the record sink a capture is read into (the findings,
//! statistics, connections and topic names of [`crate::analysis::Report`],
//! the consumer groups, and the time series of every exchange); [`render`]
//! writes the page from it once the capture is read. The page has, in this
//! order and under these ids: `summary` (the capture, its span, packets,
//! exchanges, clients, brokers, the capture's health), `findings`,
//! `charts` (requests/s, p99 latency and errors/s over time, over all
//! exchanges, by API and by broker), `bursts` (the stretches of time with
//! the most errors), `groups` (each consumer group's members, generations
//! and ladder), `clients`, `brokers` and `apis` (tables, with errors by API
//! and code).
//!
//! What holds:
//! * **Self-contained.** The style, the few lines of script (the chart
//!   selector also works without it) and the charts (SVG drawn here, in
//!   [`svg`]) are inline; the page loads nothing, so it opens from a ticket
//!   attachment without network access.
//! * **Hostile strings stay text.** Every string from the wire (client,
//!   group, member ids, topics, software names, error paths) is escaped and
//!   cut ([`html::text`], [`html::attr`]).
//! * **Bounded.** Each section shows at most a named number of rows
//!   ([`MAX_FINDINGS`], [`MAX_GROUPS`], [`MAX_STEPS`], [`MAX_CLIENTS`]…) and
//!   says how many more it leaves out (`<p class="more" data-more="N">`);
//!   charts have at most [`MAX_COLUMNS`] columns and [`MAX_LINES`] series.
//!   Whatever the capture, the page stays within a few megabytes.
//! * **Checkable.** The numbers a reader looks for are also in stable
//!   attributes: `data-exchanges`, `data-packets`, `data-findings`,
//!   `data-clients`, `data-brokers` on `<main id="report">`;
//!   `data-severity`, `data-code` and `data-count` on each finding;
//!   `data-client` / `data-api` / `data-broker` with `data-requests` and
//!   `data-errors` on table rows; `data-group`, `data-members`,
//!   `data-generations` and `data-steps` on each group.
//! * **No panic**, on any input: a capture without exchanges gives a page
//!   that says so.

pub mod html;
pub mod svg;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::analysis::Report;
use crate::analysis::findings::{Finding, MAX_FRAMES, Severity};
use crate::analysis::groups::{GroupFlow, GroupLimits, GroupProtocolKind, Groups, Step, StepKind};
use crate::analysis::series::{self, Bucket, Sample, Series, Split, Window};
use crate::capture::Timestamp;
use crate::kafka::errors::ErrorCode;
use crate::present::{self, bytes, count, latency};
use crate::session::{Record, RecordSink, Summary};

use html::{
    attr, err_cell, error_name, escape, head, more, num_attr, num_cell, text, text_cell,
    unanswered_cell,
};

/// Findings shown, most severe first.
pub const MAX_FINDINGS: usize = 200;
/// Detail lines shown per finding.
pub const MAX_DETAILS: usize = 30;
/// Columns of a chart (the series' buckets, merged to fit).
pub const MAX_COLUMNS: usize = series::MAX_BUCKETS;
/// Series of a chart by API or by broker: the busiest four and "other".
pub const MAX_LINES: usize = 5;
/// Stretches of time listed as error bursts.
pub const MAX_BURSTS: usize = 10;
/// Consumer groups shown (those with errors first).
pub const MAX_GROUPS: usize = 25;
/// Members listed per group.
pub const MAX_MEMBERS: usize = 50;
/// Generations listed per group (the latest).
pub const MAX_GENERATIONS: usize = 50;
/// Ladder steps shown per group: the first half and the last half of
/// this, and a line saying how many between were left out.
pub const MAX_STEPS: usize = 200;
/// Member lanes of a ladder; further members share the last.
pub const MAX_LANES: usize = 8;
/// Client ids listed.
pub const MAX_CLIENTS: usize = 200;
/// Software names listed per client id.
pub const MAX_SOFTWARE: usize = 3;
/// Brokers listed.
pub const MAX_BROKERS: usize = 100;
/// Rows of the errors by API and code.
pub const MAX_ERROR_ROWS: usize = 100;

const STYLE: &str = include_str!("report/style.css");
const SCRIPT: &str = include_str!("report/script.js");

/// What a report is made of: fed every record of a capture (a
/// [`RecordSink`]), read by [`render`].
pub struct Gathered {
    pub report: Report,
    pub groups: Groups,
    pub series: Series,
    /// Exchanges seen (the index the groups' steps refer to).
    exchanges: usize,
    /// Earliest request and latest message of any exchange.
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    codes: Vec<i16>,
}

impl Default for Gathered {
    fn default() -> Self {
        Gathered {
            report: Report::default(),
            groups: Groups::new(GroupLimits::default()),
            series: Series::new(),
            exchanges: 0,
            first: None,
            last: None,
            codes: Vec::new(),
        }
    }
}

impl RecordSink for Gathered {
    fn record(&mut self, r: Record) -> std::io::Result<()> {
        match r {
            Record::Exchange(e) => {
                self.report.observe_exchange(&e);
                self.groups.observe(self.exchanges, &e, &self.report.names);
                self.exchanges += 1;
                series::distinct_codes(&e.errors, &mut self.codes);
                self.series.add(&Sample::of_exchange(&e, &self.codes));
                let end = e.response.map_or(e.request.ts, |r| r.ts.max(e.request.ts));
                self.first = Some(self.first.map_or(e.request.ts, |t| t.min(e.request.ts)));
                self.last = Some(self.last.map_or(end, |t| t.max(end)));
                Ok(())
            }
            r => self.report.record(r),
        }
    }
}

/// What the page says of itself.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Who wrote it: `kwire 0.1.0 (03de496 2026-12-04)`.
    pub generator: String,
}

/// The page.
pub fn render(g: &Gathered, opts: &Options) -> String {
    let r = &g.report;
    let found = r.diagnoser.findings();
    let mut o = String::with_capacity(256 * 1024);
    let title = format!("kwire report: {}", html::cut(&r.source, html::MAX_TEXT));
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"generator\" content=\"{}\">\
         <title>{}</title>\n<style>\n{STYLE}</style></head>\n<body>\n",
        escape(&opts.generator),
        escape(&title)
    );
    let ex = r.summary.as_ref().map_or(0, |s| s.exchanges);
    let clients = client_rows(r);
    let brokers = broker_rows(r);
    o.push_str("<main id=\"report\"");
    num_attr(&mut o, "data-exchanges", ex);
    num_attr(
        &mut o,
        "data-packets",
        r.summary.as_ref().map_or(0, |s| s.packets),
    );
    num_attr(&mut o, "data-findings", found.len());
    num_attr(&mut o, "data-clients", clients.len());
    num_attr(&mut o, "data-brokers", brokers.len());
    o.push_str(">\n");
    nav(&mut o);
    summary(&mut o, g, &found, clients.len(), brokers.len());
    findings(&mut o, &found);
    charts(&mut o, &g.series);
    bursts(&mut o, &g.series);
    groups(&mut o, &g.groups);
    clients_table(&mut o, &clients);
    brokers_table(&mut o, &brokers);
    apis(&mut o, r);
    let _ = write!(
        o,
        "<footer>Written by {} from {}. Times are UTC; frames are the capture's packet numbers, \
         as Wireshark counts them.</footer>\n</main>\n<script>\n{SCRIPT}</script>\n</body></html>\n",
        escape(&opts.generator),
        escape(&html::cut(&r.source, html::MAX_TEXT)),
    );
    o
}

fn nav(o: &mut String) {
    o.push_str(
        "<nav><a href=\"#summary\">Summary</a><a href=\"#findings\">Findings</a>\
         <a href=\"#charts\">Over time</a><a href=\"#bursts\">Error bursts</a>\
         <a href=\"#groups\">Groups</a><a href=\"#clients\">Clients</a>\
         <a href=\"#brokers\">Brokers</a><a href=\"#apis\">APIs</a></nav>\n",
    );
}

/// `2026-12-04 18:05:01.123456`.
fn date_time(t: Timestamp) -> String {
    let date = t.rfc3339();
    format!(
        "{} {}",
        date.get(..10).unwrap_or("????-??-??"),
        present::clock(t)
    )
}

/// A stat of the summary: `<div data-stat="k"><dt>label</dt><dd>value</dd></div>`.
fn stat(o: &mut String, key: &str, label: &str, value: &str) {
    let _ = write!(
        o,
        "<div data-stat=\"{key}\"><dt>{}</dt><dd>{value}</dd></div>",
        escape(label)
    );
}

fn summary(o: &mut String, g: &Gathered, found: &[Finding], clients: usize, brokers: usize) {
    let r = &g.report;
    o.push_str("<section id=\"summary\"><h1>Kafka traffic report</h1>\n<dl class=\"stats\">");
    let mut src = String::new();
    text(&mut src, &r.source);
    stat(o, "capture", "capture", &format!("<code>{src}</code>"));
    let span = match (g.first, g.last) {
        (Some(a), Some(b)) => format!(
            "{} → {} <span class=\"dim\">({})</span>",
            date_time(a),
            present::clock(b),
            present::duration(b.micros_since(a))
        ),
        _ => "no Kafka exchange".to_string(),
    };
    stat(o, "span", "Kafka traffic (UTC)", &span);
    let s = r.summary.as_ref();
    let n = |f: fn(&Summary) -> u64| s.map_or(0, f);
    stat(
        o,
        "packets",
        "packets",
        &format!(
            "{} <span class=\"dim\">({})</span>",
            n(|s| s.packets),
            bytes(n(|s| s.bytes))
        ),
    );
    stat(
        o,
        "exchanges",
        "exchanges",
        &format!(
            "{} <span class=\"dim\">({} answered, {} unanswered)</span>",
            n(|s| s.exchanges),
            n(|s| s.answered),
            n(|s| s.unanswered)
        ),
    );
    stat(
        o,
        "connections",
        "Kafka connections",
        &format!(
            "{} <span class=\"dim\">(of {} TCP)</span>",
            n(|s| s.kafka_connections),
            n(|s| s.connections)
        ),
    );
    stat(o, "clients", "client ids", &clients.to_string());
    stat(o, "brokers", "brokers", &brokers.to_string());
    let sev = |v| found.iter().filter(|f| f.severity == v).count();
    stat(
        o,
        "findings",
        "findings",
        &format!(
            "<span class=\"sev-error\">{}</span>, <span class=\"sev-warning\">{}</span>, {} info",
            count(sev(Severity::Error), "error", "errors"),
            count(sev(Severity::Warning), "warning", "warnings"),
            sev(Severity::Info)
        ),
    );
    o.push_str("</dl>\n");
    health(o, s);
    o.push_str("</section>\n");
}

/// The capture's health: what it lost or could not read.
fn health(o: &mut String, s: Option<&Summary>) {
    let mut issues: Vec<String> = Vec::new();
    if let Some(s) = s {
        if let Some(d) = s.drops.filter(|d| d.any()) {
            issues.push(crate::export::text::drops(&d));
        }
        if s.tcp.gap_bytes > 0 {
            issues.push(format!(
                "{} lost in TCP gaps",
                count(s.tcp.gap_bytes, "byte", "bytes")
            ));
        }
        if s.truncated_packets > 0 {
            issues.push(format!(
                "{} cut by the snap length",
                count(s.truncated_packets, "packet", "packets")
            ));
        }
        if s.time_jumps > 0 {
            issues.push(count(s.time_jumps, "time jump", "time jumps"));
        }
        if s.retransmission_mismatches > 0 {
            issues.push(format!(
                "{} whose bytes differed",
                count(
                    s.retransmission_mismatches,
                    "retransmission",
                    "retransmissions"
                )
            ));
        }
        if s.orphans > 0 {
            issues.push(format!(
                "{} without their request",
                count(s.orphans, "response", "responses")
            ));
        }
        for (l, n) in &s.limits {
            issues.push(format!(
                "limit {} reached {}",
                l.as_str(),
                present::times(*n)
            ));
        }
        if s.dropped_records > 0 {
            issues.push(format!(
                "{} dropped by the analysis",
                count(s.dropped_records, "record", "records")
            ));
        }
    }
    let _ = write!(
        o,
        "<div id=\"health\" class=\"{}\" data-issues=\"{}\"><h2>Capture health</h2>",
        if issues.is_empty() { "ok" } else { "issues" },
        issues.len()
    );
    if s.is_none() {
        o.push_str("<p>The capture was not read to its end.</p>");
    } else if issues.is_empty() {
        o.push_str("<p>Nothing lost: no gaps, drops, cut packets or limits reached.</p>");
    } else {
        o.push_str("<ul>");
        for i in &issues {
            let _ = write!(o, "<li>{}</li>", escape(i));
        }
        o.push_str("</ul>");
    }
    o.push_str("</div>\n");
}

fn findings(o: &mut String, found: &[Finding]) {
    let _ = writeln!(
        o,
        "<section id=\"findings\"><h2>Findings <span class=\"count\" id=\"finding-count\" \
         data-count=\"{}\">{}</span></h2>",
        found.len(),
        found.len()
    );
    if found.is_empty() {
        o.push_str("<p class=\"empty\">Nothing wrong found.</p>\n");
    }
    for f in found.iter().take(MAX_FINDINGS) {
        finding(o, f);
    }
    more(o, found.len().saturating_sub(MAX_FINDINGS), "findings");
    o.push_str("</section>\n");
}

fn finding(o: &mut String, f: &Finding) {
    let sev = f.severity.as_str();
    let _ = write!(
        o,
        "<article class=\"finding sev-{sev}\" data-severity=\"{sev}\""
    );
    attr(o, "data-code", f.code);
    num_attr(o, "data-count", f.count);
    let _ = write!(
        o,
        "><h3><span class=\"badge\">{sev}</span> <span class=\"title\">"
    );
    text_long(o, &f.title);
    o.push_str("</span></h3>");
    if !f.details.is_empty() {
        o.push_str("<ul class=\"details\">");
        for d in f.details.iter().take(MAX_DETAILS) {
            o.push_str("<li>");
            text_long(o, d);
            o.push_str("</li>");
        }
        o.push_str("</ul>");
        more(o, f.details.len().saturating_sub(MAX_DETAILS), "lines");
    }
    o.push_str("<dl class=\"involved\">");
    let _ = write!(o, "<dt>code</dt><dd><code>{}</code></dd>", escape(f.code));
    if let (Some(a), Some(b)) = (f.first, f.last) {
        let when = if a == b {
            date_time(a)
        } else {
            format!("{} → {}", date_time(a), present::clock(b))
        };
        let _ = write!(o, "<dt>when</dt><dd>{when}</dd>");
    }
    if !f.frames.is_empty() {
        let frames: Vec<String> = f.frames.iter().map(u64::to_string).collect();
        let cut = if f.count > f.frames.len() as u64 && f.frames.len() == MAX_FRAMES {
            " …"
        } else {
            ""
        };
        let _ = write!(
            o,
            "<dt>{}</dt><dd class=\"frames\">{}{cut}</dd>",
            present::noun(frames.len() as u64, "frame", "frames"),
            frames.join(" ")
        );
    }
    let list = |o: &mut String, label: &str, items: &[String]| {
        if !items.is_empty() {
            let _ = write!(o, "<dt>{label}</dt><dd>");
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    o.push_str(", ");
                }
                o.push_str("<code>");
                text(o, it);
                o.push_str("</code>");
            }
            o.push_str("</dd>");
        }
    };
    list(o, "groups", &f.groups);
    list(o, "topics", &f.topics);
    list(o, "clients", &f.clients);
    let brokers: Vec<String> = f.brokers.iter().map(|b| b.to_string()).collect();
    list(o, "brokers", &brokers);
    let streams: Vec<String> = f.streams.iter().map(|s| format!("s{s}")).collect();
    list(o, "connections", &streams);
    o.push_str("</dl></article>\n");
}

/// Prose built from wire strings (a finding's title and details): escaped,
/// cut at a length for sentences rather than names.
fn text_long(o: &mut String, s: &str) {
    html::escape_into(o, &html::cut(s, 8 * html::MAX_TEXT));
}

// ------------------------------------------------------------------ time

/// `12/s`, `1.5/s`, `2.3k/s`.
fn rate(r: f64) -> String {
    if !r.is_finite() || r <= 0.0 {
        "0".to_string()
    } else if r >= 1000.0 {
        format!("{:.1}k/s", r / 1000.0)
    } else if r >= 10.0 {
        format!("{r:.0}/s")
    } else if r >= 1.0 {
        format!("{r:.1}/s")
    } else {
        format!("{r:.2}/s")
    }
}

/// A latency label of the log scale: `100µs`, `1ms`, `10s`.
fn decade(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0}µs")
    } else if us < 1e6 {
        format!("{:.0}ms", us / 1e3)
    } else {
        format!("{:.0}s", us / 1e6)
    }
}

/// A stretch of time: `1 ms`, `200 ms`, `10 s`, `2 min`.
fn stretch(ns: i128) -> String {
    const MS: i128 = 1_000_000;
    match ns {
        n if n < 1000 * MS => format!("{} ms", n / MS),
        n if n < 60_000 * MS => format!("{} s", n / (1000 * MS)),
        n if n < 3_600_000 * MS => format!("{} min", n / (60_000 * MS)),
        n => format!("{} h", n / (3_600_000 * MS)),
    }
}

/// The time axis' labels: the start, the middle and the end.
fn axis(w: &Window) -> Vec<String> {
    let start = w.start_of(0);
    let end = w.start_of(w.columns);
    let mid = start + (end - start) / 2;
    [start, mid, end]
        .iter()
        .map(|&ns| present::short_clock(series::timestamp(ns)))
        .collect()
}

/// What a column's tooltip says.
fn tip(w: &Window, c: usize, b: &Bucket) -> String {
    let mut s = format!(
        "{} (+{}): {}",
        present::clock(series::timestamp(w.start_of(c))),
        stretch(w.column_ns()),
        count(b.requests, "request", "requests")
    );
    if b.problems > 0 {
        let _ = write!(s, ", {}", count(b.problems, "error", "errors"));
        let names = error_names(b);
        if !names.is_empty() {
            let _ = write!(s, " ({names})");
        }
    }
    if let Some(p) = b.p99() {
        let _ = write!(s, ", p99 {}", latency(p));
    }
    escape(&s)
}

/// `NOT_LEADER_OR_FOLLOWER×2, no response`, and how many others.
fn error_names(b: &Bucket) -> String {
    let mut parts: Vec<String> = b
        .errors
        .top()
        .iter()
        .map(|(p, n)| {
            if *n > 1 {
                format!("{}×{n}", p.name())
            } else {
                p.name().to_string()
            }
        })
        .collect();
    if b.errors.others > 0 {
        parts.push(format!("{} more", b.errors.others));
    }
    parts.join(", ")
}

fn charts(o: &mut String, s: &Series) {
    o.push_str("<section id=\"charts\"><h2>Over time</h2>\n");
    let w = s.window(MAX_COLUMNS, false);
    if s.is_empty() || w.columns == 0 {
        o.push_str("<p class=\"empty\">No exchanges to chart.</p></section>\n");
        return;
    }
    let _ = writeln!(
        o,
        "<p class=\"note\">{} columns of {} each, from {} (UTC); an exchange counts at its \
         request's time. Errors are retriable and fatal error codes, unanswered requests and \
         malformed responses (not a version negotiation's expected answer). Hover a column of \
         the first charts for its numbers.</p>",
        w.columns,
        stretch(w.column_ns()),
        date_time(series::timestamp(w.start_of(0)))
    );
    let splits = [
        (Split::All, "all", "all exchanges"),
        (Split::Api, "api", "by API"),
        (Split::Broker, "broker", "by broker"),
    ];
    o.push_str("<div class=\"splits\">");
    for (i, (_, id, label)) in splits.iter().enumerate() {
        let _ = write!(
            o,
            "<input type=\"radio\" name=\"split\" id=\"split-{id}\"{}><label for=\"split-{id}\">{label}</label>",
            if i == 0 { " checked" } else { "" }
        );
    }
    let secs = w.column_ns() as f64 / 1e9;
    let times = axis(&w);
    for (split, id, _) in splits {
        let shown = s.shown(split, MAX_LINES, &w);
        let _ = write!(o, "<div class=\"split split-{id}\" data-split=\"{id}\">");
        o.push_str("<ul class=\"legend\">");
        let color = |i: usize, label: &str| {
            if split == Split::All {
                svg::COLORS[0]
            } else if label == "other" {
                svg::OTHER
            } else {
                svg::COLORS[i % svg::COLORS.len()]
            }
        };
        for (i, sh) in shown.iter().enumerate() {
            let _ = write!(
                o,
                "<li><i style=\"background:{}\"></i>",
                color(i, &sh.label)
            );
            text(o, &sh.label);
            let _ = write!(
                o,
                " <span class=\"dim\">{}</span></li>",
                count(sh.total, "exchange", "exchanges")
            );
        }
        o.push_str("</ul>");
        let lines = |f: &dyn Fn(&Bucket) -> Option<f64>| -> Vec<svg::Line> {
            shown
                .iter()
                .enumerate()
                .map(|(i, sh)| svg::Line {
                    color: color(i, &sh.label),
                    values: sh.columns.iter().map(f).collect(),
                })
                .collect()
        };
        let tips: Option<Vec<String>> = (split == Split::All).then(|| {
            s.all(&w)
                .iter()
                .enumerate()
                .map(|(c, b)| tip(&w, c, b))
                .collect()
        });
        let tips = tips.as_deref();

        let req = lines(&|b| Some(b.requests as f64 / secs));
        let scale = svg::Scale::linear(req.iter().flat_map(|l| l.values.iter().flatten().copied()));
        let label = |v: f64| rate(v);
        svg::lines(
            o,
            &svg::Chart {
                metric: "requests",
                title: "requests/s",
                times: &times,
                tips,
                label: &label,
            },
            &scale,
            &req,
            split == Split::All,
        );

        let lat = lines(&|b| b.p99().map(|us| us.max(1) as f64));
        let scale = svg::Scale::log(lat.iter().flat_map(|l| l.values.iter().flatten().copied()));
        svg::lines(
            o,
            &svg::Chart {
                metric: "latency",
                title: "p99 latency (log scale)",
                times: &times,
                tips,
                label: &decade,
            },
            &scale,
            &lat,
            false,
        );

        let mut err = lines(&|b| Some(b.problems as f64 / secs));
        if split == Split::All {
            for l in &mut err {
                l.color = svg::ERRORS;
            }
        }
        let totals = (0..w.columns).map(|c| {
            err.iter()
                .filter_map(|l| l.values.get(c).copied().flatten())
                .sum::<f64>()
        });
        let scale = svg::Scale::linear(totals);
        svg::bars(
            o,
            &svg::Chart {
                metric: "errors",
                title: "errors/s",
                times: &times,
                tips,
                label: &label,
            },
            &scale,
            &err,
        );
        o.push_str("</div>\n");
    }
    o.push_str("</div></section>\n");
}

fn bursts(o: &mut String, s: &Series) {
    o.push_str("<section id=\"bursts\"><h2>Error bursts</h2>\n");
    let w = s.window(MAX_COLUMNS, false);
    let all = s.all(&w);
    let mut worst: Vec<(usize, &Bucket)> = all
        .iter()
        .enumerate()
        .filter(|(_, b)| b.problems > 0)
        .collect();
    let total = worst.len();
    // Most errors first; of equals, the earliest.
    worst.sort_by(|a, b| b.1.problems.cmp(&a.1.problems).then(a.0.cmp(&b.0)));
    worst.truncate(MAX_BURSTS);
    worst.sort_by_key(|(c, _)| *c);
    if worst.is_empty() {
        o.push_str("<p class=\"empty\">No errors over time.</p></section>\n");
        return;
    }
    let _ = write!(
        o,
        "<p class=\"note\">The stretches of {} (a column of the charts) with the most errors, in \
         time order.</p>\n<div class=\"scroll\"><table class=\"bursts\">",
        stretch(w.column_ns())
    );
    head(
        o,
        &[
            ("time (UTC)", false),
            ("errors", true),
            ("requests", true),
            ("error names", false),
            ("frames", false),
        ],
    );
    o.push_str("<tbody>");
    for (c, b) in worst {
        let _ = write!(o, "<tr data-problems=\"{}\"", b.problems);
        num_attr(o, "data-requests", b.requests);
        let _ = write!(
            o,
            "><td>{}</td>",
            date_time(series::timestamp(w.start_of(c)))
        );
        num_cell(o, b.problems);
        num_cell(o, b.requests);
        o.push_str("<td>");
        error_name(o, &error_names(b));
        o.push_str("</td>");
        let frames: Vec<String> = b.problem_frames.iter().map(u64::to_string).collect();
        let cut = if b.problems as usize > b.problem_frames.len() {
            " …"
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "<td class=\"frames\">{}{cut}</td></tr>",
            frames.join(" ")
        );
    }
    o.push_str("</tbody></table></div>\n");
    more(o, total.saturating_sub(MAX_BURSTS), "stretches with errors");
    o.push_str("</section>\n");
}

// ---------------------------------------------------------------- groups

fn groups(o: &mut String, gs: &Groups) {
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
fn error_class(code: i16) -> &'static str {
    if ErrorCode(code).is_retriable() || code == ErrorCode::REBALANCE_IN_PROGRESS.0 {
        "retry"
    } else {
        "fatal"
    }
}

fn group(o: &mut String, i: usize, g: &GroupFlow) {
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
                .map_or_else(|| "-".to_string(), |g| format!("gen {g}")),
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
                ("gen", true),
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
        (Some((code, _)), _) => error_class(code),
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
        let _ = write!(o, " <span class=\"err {}\">✗ ", error_class(code));
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

// ---------------------------------------------------------------- tables

/// One client id's row.
struct ClientRow {
    id: String,
    software: BTreeSet<String>,
    connections: u64,
    requests: u64,
    errors: u64,
    unanswered: u64,
    p50: Option<i64>,
    p99: Option<i64>,
    out: u64,
    inn: u64,
}

fn client_rows(r: &Report) -> Vec<ClientRow> {
    let mut soft: BTreeMap<&str, (BTreeSet<String>, u64)> = BTreeMap::new();
    for c in r.conns.iter() {
        let e = soft
            .entry(c.client_id.as_deref().unwrap_or(""))
            .or_default();
        e.1 += 1;
        if let Some((n, v)) = &c.software
            && e.0.len() < MAX_SOFTWARE
        {
            e.0.insert(format!("{n} {v}"));
        }
    }
    let mut rows: Vec<ClientRow> = r
        .stats
        .clients()
        .map(|c| {
            let id = c.client_id.as_deref().unwrap_or("");
            let (software, connections) = soft.get(id).cloned().unwrap_or_default();
            ClientRow {
                id: id.to_string(),
                software,
                connections,
                requests: c.counts.requests,
                errors: c.counts.errors,
                unanswered: c.counts.no_response,
                p50: c.latency.percentile(0.5),
                p99: c.latency.percentile(0.99),
                out: c.counts.request_bytes,
                inn: c.counts.response_bytes,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.id.cmp(&b.id)));
    rows
}

fn lat(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_string(), latency)
}

fn tone(errors: u64, unanswered: u64) -> &'static str {
    if errors > 0 {
        " class=\"fatal\""
    } else if unanswered > 0 {
        " class=\"warn\""
    } else {
        ""
    }
}

fn clients_table(o: &mut String, rows: &[ClientRow]) {
    o.push_str("<section id=\"clients\"><h2>Clients</h2>\n");
    if rows.is_empty() {
        o.push_str("<p class=\"empty\">No client seen.</p></section>\n");
        return;
    }
    o.push_str("<div class=\"scroll\"><table class=\"clients\">");
    head(
        o,
        &[
            ("client id", false),
            ("software", false),
            ("conns", true),
            ("requests", true),
            ("errors", true),
            ("unanswered", true),
            ("p50", true),
            ("p99", true),
            ("sent", true),
            ("received", true),
        ],
    );
    o.push_str("<tbody>");
    for c in rows.iter().take(MAX_CLIENTS) {
        let _ = write!(o, "<tr{}", tone(c.errors, c.unanswered));
        attr(o, "data-client", &c.id);
        num_attr(o, "data-requests", c.requests);
        num_attr(o, "data-errors", c.errors);
        o.push_str("><td><code>");
        text(o, if c.id.is_empty() { "(none)" } else { &c.id });
        o.push_str("</code></td>");
        let soft: Vec<&str> = c.software.iter().map(String::as_str).collect();
        text_cell(
            o,
            if soft.is_empty() {
                "-".into()
            } else {
                soft.join(", ")
            }
            .as_str(),
        );
        num_cell(o, c.connections);
        num_cell(o, c.requests);
        err_cell(o, c.errors);
        unanswered_cell(o, c.unanswered);
        num_cell(o, lat(c.p50));
        num_cell(o, lat(c.p99));
        num_cell(o, bytes(c.out));
        num_cell(o, bytes(c.inn));
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table></div>\n");
    more(o, rows.len().saturating_sub(MAX_CLIENTS), "client ids");
    o.push_str("</section>\n");
}

/// One broker's row, summed over its connections.
#[derive(Default)]
struct BrokerRow {
    connections: u64,
    clients: BTreeSet<String>,
    requests: u64,
    errors: u64,
    unanswered: u64,
    out: u64,
    inn: u64,
}

fn broker_rows(r: &Report) -> Vec<(SocketAddr, BrokerRow)> {
    let mut m: BTreeMap<SocketAddr, BrokerRow> = BTreeMap::new();
    for c in r.conns.iter() {
        let b = m.entry(c.broker).or_default();
        b.connections += 1;
        if b.clients.len() < MAX_CLIENTS
            && let Some(id) = c.client_id.as_deref()
        {
            b.clients.insert(id.to_string());
        }
        b.requests += c.requests;
        b.errors += c.errors;
        b.unanswered += c.no_response;
        b.out += c.request_bytes;
        b.inn += c.response_bytes;
    }
    let mut v: Vec<(SocketAddr, BrokerRow)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then(a.0.cmp(&b.0)));
    v
}

fn brokers_table(o: &mut String, rows: &[(SocketAddr, BrokerRow)]) {
    o.push_str("<section id=\"brokers\"><h2>Brokers</h2>\n");
    if rows.is_empty() {
        o.push_str("<p class=\"empty\">No broker seen.</p></section>\n");
        return;
    }
    o.push_str("<div class=\"scroll\"><table class=\"brokers\">");
    head(
        o,
        &[
            ("broker", false),
            ("conns", true),
            ("client ids", true),
            ("requests", true),
            ("errors", true),
            ("unanswered", true),
            ("sent to", true),
            ("received from", true),
        ],
    );
    o.push_str("<tbody>");
    for (addr, b) in rows.iter().take(MAX_BROKERS) {
        let _ = write!(o, "<tr{}", tone(b.errors, b.unanswered));
        attr(o, "data-broker", &addr.to_string());
        num_attr(o, "data-requests", b.requests);
        num_attr(o, "data-errors", b.errors);
        let _ = write!(o, "><td><code>{addr}</code></td>");
        num_cell(o, b.connections);
        num_cell(o, b.clients.len());
        num_cell(o, b.requests);
        err_cell(o, b.errors);
        unanswered_cell(o, b.unanswered);
        num_cell(o, bytes(b.out));
        num_cell(o, bytes(b.inn));
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table></div>\n");
    more(o, rows.len().saturating_sub(MAX_BROKERS), "brokers");
    o.push_str("</section>\n");
}

fn apis(o: &mut String, r: &Report) {
    o.push_str("<section id=\"apis\"><h2>APIs</h2>\n");
    let s = &r.stats;
    let mut apis: Vec<_> = s.apis().collect();
    if apis.is_empty() {
        o.push_str("<p class=\"empty\">No request seen.</p></section>\n");
        return;
    }
    apis.sort_by_key(|a| std::cmp::Reverse(a.counts.requests));
    o.push_str("<div class=\"scroll\"><table class=\"apis\">");
    head(
        o,
        &[
            ("API", false),
            ("requests", true),
            ("errors", true),
            ("unanswered", true),
            ("p50", true),
            ("p90", true),
            ("p99", true),
            ("max", true),
            ("sent", true),
            ("received", true),
            ("versions", false),
        ],
    );
    o.push_str("<tbody>");
    // At most every API key there is (the statistics bound them).
    for a in &apis {
        let c = &a.counts;
        let l = &a.latency;
        let _ = write!(o, "<tr{}", tone(c.errors, c.no_response));
        attr(o, "data-api", a.api_key.name());
        num_attr(o, "data-requests", c.requests);
        num_attr(o, "data-errors", c.errors);
        o.push('>');
        text_cell(o, a.api_key.name());
        num_cell(o, c.requests);
        err_cell(o, c.errors);
        unanswered_cell(o, c.no_response);
        num_cell(o, lat(l.percentile(0.5)));
        num_cell(o, lat(l.percentile(0.9)));
        num_cell(o, lat(l.percentile(0.99)));
        num_cell(o, lat(l.max()));
        num_cell(o, bytes(c.request_bytes));
        num_cell(o, bytes(c.response_bytes));
        let mut v: Vec<String> = a.versions.iter().map(|v| format!("v{v}")).collect();
        if a.throttled > 0 {
            v.push(format!("throttled {}×", a.throttled));
        }
        if c.malformed > 0 {
            v.push(format!("{} malformed", c.malformed));
        }
        text_cell(o, &v.join(" "));
        o.push_str("</tr>\n");
    }
    let t = s.totals();
    let _ = write!(o, "<tr class=\"total\" data-api=\"all\"");
    num_attr(o, "data-requests", t.requests);
    num_attr(o, "data-errors", t.errors);
    o.push_str("><td>all</td>");
    num_cell(o, t.requests);
    num_cell(o, t.errors);
    num_cell(o, t.no_response);
    num_cell(o, lat(s.latency().percentile(0.5)));
    num_cell(o, lat(s.latency().percentile(0.9)));
    num_cell(o, lat(s.latency().percentile(0.99)));
    num_cell(o, lat(s.latency().max()));
    num_cell(o, bytes(t.request_bytes));
    num_cell(o, bytes(t.response_bytes));
    o.push_str("<td></td></tr>\n</tbody></table></div>\n");

    let errors = s.errors();
    o.push_str("<h3>Errors by API and code</h3>\n");
    if errors.is_empty() {
        o.push_str("<p class=\"empty\">No error code in any response.</p>\n");
    } else {
        o.push_str("<div class=\"scroll\"><table class=\"errors\">");
        head(
            o,
            &[
                ("API", false),
                ("code", true),
                ("name", false),
                ("count", true),
                ("exchanges", true),
                ("first frames", false),
            ],
        );
        o.push_str("<tbody>");
        for e in errors.iter().take(MAX_ERROR_ROWS) {
            let negotiation = e.negotiations == e.exchanges;
            let class = if negotiation {
                "dim"
            } else if e.code.is_retriable() {
                "warn"
            } else {
                "fatal"
            };
            let _ = write!(o, "<tr class=\"{class}\"");
            attr(o, "data-api", e.api_key.name());
            attr(o, "data-error", e.code.name());
            num_attr(o, "data-count", e.count);
            o.push('>');
            text_cell(o, e.api_key.name());
            num_cell(o, e.code.0);
            o.push_str("<td>");
            error_name(o, e.code.name());
            if negotiation {
                o.push_str(" (negotiation)");
            }
            o.push_str("</td>");
            num_cell(o, e.count);
            num_cell(o, e.exchanges);
            let frames: Vec<String> = e.frames.iter().map(u64::to_string).collect();
            let _ = writeln!(o, "<td class=\"frames\">{}</td></tr>", frames.join(" "));
        }
        o.push_str("</tbody></table></div>\n");
        more(
            o,
            errors.len().saturating_sub(MAX_ERROR_ROWS),
            "error kinds",
        );
    }
    o.push_str("</section>\n");
}

#[cfg(test)]
mod tests;
