//! The tables of `kwire report`: per client id (with the software its
//! connections announced), per broker, per API, and errors by API and code.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use std::fmt::Write as _;

use super::html::{
    attr, err_cell, error_name, head, more, num_attr, num_cell, text, text_cell, unanswered_cell,
};
use super::{MAX_BROKERS, MAX_CLIENTS, MAX_ERROR_ROWS, MAX_SOFTWARE};
use crate::analysis::Report;
use crate::present::{bytes, latency};

/// One client id's row.
pub(super) struct ClientRow {
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

pub(super) fn client_rows(r: &Report) -> Vec<ClientRow> {
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

pub(super) fn clients_table(o: &mut String, rows: &[ClientRow]) {
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
pub(super) struct BrokerRow {
    connections: u64,
    clients: BTreeSet<String>,
    requests: u64,
    errors: u64,
    unanswered: u64,
    out: u64,
    inn: u64,
}

pub(super) fn broker_rows(r: &Report) -> Vec<(SocketAddr, BrokerRow)> {
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

pub(super) fn brokers_table(o: &mut String, rows: &[(SocketAddr, BrokerRow)]) {
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

pub(super) fn apis(o: &mut String, r: &Report) {
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
