//! Statistics as tables: per API (counts, latency percentiles, bytes,
//! versions), errors by API and code, records and bytes per topic and
//! partition, per client id, per connection. `kwire stats` prints them as
//! text (or the models' JSON); the TUI's Stats view draws the same tables.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::analysis::connections::Connections;
use crate::analysis::stats::Stats;

use crate::present::{bytes, latency};

/// How a row should stand out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Normal,
    /// Totals and notes.
    Dim,
    /// A topic's own row (its partitions follow).
    Name,
    /// Rows with errors.
    Error,
    /// Rows with retriable errors, unanswered requests or throttling.
    Warning,
}

/// One table.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub title: &'static str,
    pub header: Vec<&'static str>,
    /// Columns aligned right (numbers).
    pub right: Vec<bool>,
    pub rows: Vec<(Tone, Vec<String>)>,
}

impl Table {
    fn new(title: &'static str, cols: &[(&'static str, bool)]) -> Table {
        Table {
            title,
            header: cols.iter().map(|c| c.0).collect(),
            right: cols.iter().map(|c| c.1).collect(),
            rows: Vec::new(),
        }
    }

    /// Width of each column: its widest cell or header (in chars).
    pub fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for (_, r) in &self.rows {
            for (i, c) in r.iter().enumerate() {
                if let Some(x) = w.get_mut(i) {
                    *x = (*x).max(c.chars().count());
                }
            }
        }
        w
    }

    /// A row's cells aligned to `widths`, two spaces apart.
    pub fn line(&self, cells: &[impl AsRef<str>], widths: &[usize]) -> String {
        let mut o = String::new();
        for (i, c) in cells.iter().enumerate() {
            let c = c.as_ref();
            let w = widths.get(i).copied().unwrap_or(0);
            let pad = w.saturating_sub(c.chars().count());
            if i > 0 {
                o.push_str("  ");
            }
            if self.right.get(i).copied().unwrap_or(false) {
                o.push_str(&" ".repeat(pad));
                o.push_str(c);
            } else {
                o.push_str(c);
                if i + 1 < cells.len() {
                    o.push_str(&" ".repeat(pad));
                }
            }
        }
        o
    }
}

fn lat(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_string(), latency)
}

/// The tables, in the order they are shown. Connections are listed when
/// `conns` is given (the TUI has a view of its own for them).
pub fn tables(s: &Stats, conns: Option<&Connections>) -> Vec<Table> {
    let mut out = Vec::new();

    let mut t = Table::new(
        "Requests by API",
        &[
            ("API", false),
            ("reqs", true),
            ("answered", true),
            ("errors", true),
            ("unanswered", true),
            ("p50", true),
            ("p90", true),
            ("p99", true),
            ("max", true),
            ("out", true),
            ("in", true),
            ("versions", false),
        ],
    );
    for a in s.apis() {
        let c = &a.counts;
        let l = &a.latency;
        let versions: Vec<String> = a.versions.iter().map(|v| format!("v{v}")).collect();
        let mut v = versions.join(",");
        if a.throttled > 0 {
            let _ = write!(
                v,
                "  throttled {}× ({} ms)",
                a.throttled, a.throttle_time_ms
            );
        }
        if c.malformed > 0 {
            // Rare and the broker's fault: said where it is, not a column.
            let _ = write!(v, "  {} malformed", c.malformed);
        }
        let tone = if c.errors > 0 {
            Tone::Error
        } else if c.no_response > 0 || a.throttled > 0 || c.malformed > 0 {
            Tone::Warning
        } else {
            Tone::Normal
        };
        t.rows.push((
            tone,
            vec![
                a.api_key.name().to_string(),
                c.requests.to_string(),
                c.answered.to_string(),
                c.errors.to_string(),
                c.no_response.to_string(),
                lat(l.percentile(0.5)),
                lat(l.percentile(0.9)),
                lat(l.percentile(0.99)),
                lat(l.max()),
                bytes(c.request_bytes),
                bytes(c.response_bytes),
                v,
            ],
        ));
    }
    let tot = s.totals();
    t.rows.push((
        Tone::Dim,
        vec![
            "all".to_string(),
            tot.requests.to_string(),
            tot.answered.to_string(),
            tot.errors.to_string(),
            tot.no_response.to_string(),
            lat(s.latency().percentile(0.5)),
            lat(s.latency().percentile(0.9)),
            lat(s.latency().percentile(0.99)),
            lat(s.latency().max()),
            bytes(tot.request_bytes),
            bytes(tot.response_bytes),
            String::new(),
        ],
    ));
    out.push(t);

    // Several captures read as one: each API's latency split into the
    // broker's time and the network's.
    if s.ends().next().is_some() {
        let mut t = Table::new(
            "Latency at both ends (client = broker + network)",
            &[
                ("API", false),
                ("seen", true),
                ("client p50", true),
                ("p99", true),
                ("broker p50", true),
                ("p99", true),
                ("network p50", true),
                ("p99", true),
            ],
        );
        let p = |h: &crate::analysis::histogram::Histogram, q: f64| {
            h.percentile(q).map_or("-".to_string(), latency)
        };
        for x in s.ends() {
            t.rows.push((
                Tone::Normal,
                vec![
                    x.api_key.name().to_string(),
                    x.latency.count().to_string(),
                    p(&x.latency.client, 0.5),
                    p(&x.latency.client, 0.99),
                    p(&x.latency.broker, 0.5),
                    p(&x.latency.broker, 0.99),
                    p(&x.latency.network, 0.5),
                    p(&x.latency.network, 0.99),
                ],
            ));
        }
        out.push(t);
    }

    let mut t = Table::new(
        "Errors by API and code",
        &[
            ("API", false),
            ("code", true),
            ("name", false),
            ("count", true),
            ("exchanges", true),
            ("first frames", false),
        ],
    );
    for e in s.errors() {
        let frames: Vec<String> = e.frames.iter().map(u64::to_string).collect();
        // A negotiation's expected answer every time is no error.
        let negotiation = e.negotiations == e.exchanges;
        t.rows.push((
            if negotiation {
                Tone::Dim
            } else if e.code.is_retriable() {
                Tone::Warning
            } else {
                Tone::Error
            },
            vec![
                e.api_key.name().to_string(),
                e.code.0.to_string(),
                if negotiation {
                    format!("{} (negotiation)", e.code.name())
                } else {
                    e.code.name().to_string()
                },
                e.count.to_string(),
                e.exchanges.to_string(),
                frames.join(" "),
            ],
        ));
    }
    out.push(t);

    let mut t = Table::new(
        "Records by topic and partition",
        &[
            ("topic / partition", false),
            ("produce reqs", true),
            ("produced", true),
            ("bytes", true),
            ("fetch reqs", true),
            ("fetched", true),
            ("bytes", true),
        ],
    );
    for tp in s.topics() {
        let row = |name: String, tr: &crate::analysis::stats::Traffic| {
            vec![
                name,
                tr.produce_requests.to_string(),
                tr.produced.records.to_string(),
                bytes(tr.produced.bytes),
                tr.fetch_requests.to_string(),
                tr.fetched.records.to_string(),
                bytes(tr.fetched.bytes),
            ]
        };
        t.rows
            .push((Tone::Name, row(tp.topic.clone(), &tp.traffic)));
        for p in &tp.partitions {
            t.rows.push((
                Tone::Normal,
                row(format!("  [{}]", p.partition), &p.traffic),
            ));
        }
    }
    out.push(t);

    let mut t = Table::new(
        "By client id",
        &[
            ("client id", false),
            ("reqs", true),
            ("errors", true),
            ("unanswered", true),
            ("p50", true),
            ("p99", true),
            ("out", true),
            ("in", true),
        ],
    );
    for c in s.clients() {
        t.rows.push((
            if c.counts.errors > 0 {
                Tone::Error
            } else {
                Tone::Normal
            },
            vec![
                c.client_id.as_deref().unwrap_or("-").to_string(),
                c.counts.requests.to_string(),
                c.counts.errors.to_string(),
                c.counts.no_response.to_string(),
                lat(c.latency.percentile(0.5)),
                lat(c.latency.percentile(0.99)),
                bytes(c.counts.request_bytes),
                bytes(c.counts.response_bytes),
            ],
        ));
    }
    out.push(t);

    if let Some(conns) = conns {
        let mut t = Table::new(
            "By connection",
            &[
                ("conn", true),
                ("client → broker", false),
                ("client id", false),
                ("software", false),
                ("reqs", true),
                ("errors", true),
                ("unanswered", true),
                ("out", true),
                ("in", true),
                ("state", false),
            ],
        );
        for c in conns.iter() {
            t.rows.push((
                if c.errors > 0 {
                    Tone::Error
                } else if c.no_response > 0 {
                    Tone::Warning
                } else {
                    Tone::Normal
                },
                vec![
                    format!("s{}", c.stream),
                    format!("{} → {}", c.client, c.broker),
                    c.client_id.as_deref().unwrap_or("-").to_string(),
                    c.software
                        .as_ref()
                        .map_or_else(|| "-".to_string(), |(n, v)| format!("{n} {v}")),
                    c.requests.to_string(),
                    c.errors.to_string(),
                    c.no_response.to_string(),
                    bytes(c.request_bytes),
                    bytes(c.response_bytes),
                    c.state.as_str().replace('_', " "),
                ],
            ));
        }
        out.push(t);
    }
    out
}

/// The tables as plain text, each with its title, columns aligned.
pub fn to_text(tables: &[Table]) -> String {
    let mut o = String::new();
    for t in tables {
        let _ = writeln!(o, "# {}", t.title);
        if t.rows.is_empty() {
            let _ = writeln!(o, "(none)\n");
            continue;
        }
        let w = t.widths();
        let _ = writeln!(o, "{}", t.line(&t.header, &w).trim_end());
        for (_, r) in &t.rows {
            let _ = writeln!(o, "{}", t.line(r, &w).trim_end());
        }
        o.push('\n');
    }
    o
}

/// `kwire stats --json`: one object with the statistics and connections
/// (key names documented on `Stats::to_json` and `Connections::to_json`).
pub fn to_json(s: &Stats, conns: &Connections) -> Value {
    json!({
        "type": "stats",
        "stats": s.to_json(),
        "connections": conns.to_json(),
    })
}
