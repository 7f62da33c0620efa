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

mod charts;
pub mod html;
mod ladder;
pub mod svg;
mod tables;

use std::fmt::Write as _;

use crate::analysis::Report;
use crate::analysis::findings::{Finding, MAX_FRAMES, Severity};
use crate::analysis::groups::{GroupLimits, Groups};
use crate::analysis::series::{self, Sample, Series};
use crate::capture::Timestamp;
use crate::present::{self, bytes, count};
use crate::session::{Record, RecordSink, Summary};

use html::{attr, escape, more, num_attr, text};

/// Findings shown, most severe first.
pub const MAX_FINDINGS: usize = 200;
/// Detail lines shown per finding.
pub const MAX_DETAILS: usize = 20;
/// Columns of a chart (the series' buckets, merged to fit).
pub const MAX_COLUMNS: usize = series::MAX_BUCKETS;
/// Series of a chart by API or by broker: the busiest four and "other".
pub const MAX_LINES: usize = 5;
/// Stretches of time listed as error bursts.
pub const MAX_BURSTS: usize = 10;
/// Consumer groups shown (those with errors first).
pub const MAX_GROUPS: usize = 20;
/// Members listed per group.
pub const MAX_MEMBERS: usize = 50;
/// Generations listed per group (the latest).
pub const MAX_GENERATIONS: usize = 30;
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
    page(g, &g.report.diagnoser.findings(), opts)
}

/// The page of `g` with the findings `found`.
fn page(g: &Gathered, found: &[Finding], opts: &Options) -> String {
    let r = &g.report;
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
    let clients = tables::client_rows(r);
    let brokers = tables::broker_rows(r);
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
    summary(&mut o, g, found, clients.len(), brokers.len());
    findings(&mut o, found);
    charts::charts(&mut o, &g.series);
    charts::bursts(&mut o, &g.series);
    ladder::groups(&mut o, &g.groups);
    tables::clients_table(&mut o, &clients);
    tables::brokers_table(&mut o, &brokers);
    tables::apis(&mut o, r);
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
    text(
        &mut src,
        if r.source.is_empty() {
            "(unnamed)"
        } else {
            &r.source
        },
    );
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
            html::escape_into(o, &html::cut(d, 2 * html::MAX_TEXT));
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

#[cfg(test)]
mod tests;
