//! The page from synthetic exchanges: every section there with its ids,
//! hostile strings escaped, limits said, size bounded, no panic on an
//! empty or odd capture.

use std::net::SocketAddr;
use std::sync::Arc;

use super::*;
use crate::kafka::ApiKey;
use crate::kafka::errors::ErrorCode;
use crate::session::{ErrorRef, Exchange, MessageInfo, NoResponseReason, Status};

fn ts(ms: i64) -> Timestamp {
    series::timestamp(i128::from(ms) * 1_000_000 + 1_764_000_000_000_000_000)
}

fn info(frame: u64, t: Timestamp) -> MessageInfo {
    MessageInfo {
        frame,
        first_frame: frame,
        ts: t,
        size: 100,
        lost_bytes: 0,
    }
}

/// An exchange of `client` with broker port `port` at `ms`, answered after
/// 2 ms with error `code` (0: none; -1: no response).
fn exchange(frame: u64, ms: i64, client: &str, api: i16, port: u16, code: i16) -> Exchange {
    let req = info(frame, ts(ms));
    Exchange {
        stream: frame,
        client: "10.0.0.1:40000".parse().unwrap(),
        broker: SocketAddr::from(([10, 0, 0, 9], port)),
        api_key: ApiKey(api),
        api_version: 9,
        correlation_id: frame as i32,
        client_id: Some(Arc::from(client)),
        request: req,
        response: (code >= 0).then(|| info(frame + 1, ts(ms + 2))),
        status: match code {
            0 => Status::Ok,
            -1 => Status::NoResponse(NoResponseReason::ConnectionClosed),
            _ => Status::Error,
        },
        errors: (code > 0)
            .then(|| ErrorRef {
                path: "errorCode".into(),
                code,
                name: ErrorCode(code).name(),
            })
            .into_iter()
            .collect(),
        request_body: None,
        response_body: None,
        capture: 0,
        broker_side: None,
    }
}

fn gathered(exchanges: impl IntoIterator<Item = Exchange>) -> Gathered {
    let mut g = Gathered::default();
    g.record(Record::Capture(crate::session::CaptureInfo {
        source: "<b>capture</b>.pcap".into(),
        format: crate::capture::SourceFormat::Pcap,
        link_types: Vec::new(),
        filter: None,
        merged: Vec::new(),
    }))
    .unwrap();
    for e in exchanges {
        g.record(Record::Exchange(Box::new(e))).unwrap();
    }
    g
}

fn page(g: &Gathered) -> String {
    render(
        g,
        &Options {
            generator: "kwire test".into(),
        },
    )
}

const SECTIONS: [&str; 9] = [
    "summary", "health", "findings", "charts", "bursts", "groups", "clients", "brokers", "apis",
];

#[test]
fn an_empty_capture_gives_every_section_saying_so() {
    let p = page(&Gathered::default());
    for s in SECTIONS {
        assert!(p.contains(&format!("id=\"{s}\"")), "{s} missing");
    }
    assert!(p.contains("data-exchanges=\"0\""));
    assert!(p.contains("No exchanges to chart."));
    assert!(p.contains("No errors over time."));
    assert!(p.contains("No consumer group seen."));
    assert!(p.contains("no Kafka exchange"));
    // Nothing loaded from anywhere.
    assert!(!p.contains("src=") && !p.contains("href=\"http") && !p.contains("@import"));
    assert!(p.starts_with("<!DOCTYPE html>") && p.ends_with("</html>\n"));
}

#[test]
fn numbers_are_in_their_attributes() {
    const PRODUCE: i16 = 0;
    const METADATA: i16 = 3;
    const NOT_LEADER: i16 = 6;
    let mut ex = Vec::new();
    for i in 0..30u64 {
        let code = if i % 10 == 3 { NOT_LEADER } else { 0 };
        ex.push(exchange(
            i * 2,
            i as i64 * 100,
            "prod-1",
            PRODUCE,
            9092,
            code,
        ));
    }
    ex.push(exchange(100, 50, "meta-1", METADATA, 9093, -1));
    let g = gathered(ex);
    let p = page(&g);
    assert!(
        p.contains("data-client=\"prod-1\" data-requests=\"30\" data-errors=\"3\""),
        "{p}"
    );
    assert!(p.contains("data-client=\"meta-1\" data-requests=\"1\" data-errors=\"0\""));
    assert!(p.contains("data-api=\"Produce\" data-requests=\"30\" data-errors=\"3\""));
    assert!(p.contains("data-broker=\"10.0.0.9:9092\" data-requests=\"30\""));
    assert!(p.contains("data-clients=\"2\" data-brokers=\"2\""));
    // Charts: three splits of three charts each.
    assert_eq!(p.matches("<figure class=\"chart\"").count(), 9);
    assert!(p.contains("data-split=\"api\""));
    // The bursts: the three errors and the unanswered request, with their
    // frames.
    let bursts = &p[p.find("id=\"bursts\"").unwrap()..p.find("id=\"groups\"").unwrap()];
    assert_eq!(bursts.matches("<tr data-problems=").count(), 4, "{bursts}");
    assert!(
        bursts.contains("NOT_<wbr>LEADER_<wbr>OR_<wbr>FOLLOWER"),
        "{bursts}"
    );
    assert!(bursts.contains("no response"), "{bursts}");
    assert!(bursts.contains("<td class=\"frames\">6</td>"), "{bursts}");
}

#[test]
fn wire_strings_are_escaped_everywhere() {
    let evil = "<script>alert(1)</script>\"'&";
    let g = gathered([exchange(1, 0, evil, 0, 9092, 6)]);
    let p = page(&g);
    assert!(!p.contains("<script>alert"), "unescaped");
    assert!(!p.contains("<b>capture"), "the capture's name unescaped");
    assert!(p.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
    // The only scripts are the page's own.
    assert_eq!(p.matches("<script>").count(), 1);
}

#[test]
fn rows_beyond_the_limits_are_counted_not_shown_and_the_page_stays_small() {
    // Many client ids, each longer than a cell shows, with errors spread
    // over a long span.
    let long = "c".repeat(1000);
    let n = MAX_CLIENTS as u64 + 50;
    let ex = (0..n).map(|i| {
        exchange(
            i * 2,
            i as i64 * 997,
            &format!("{i}-{long}"),
            (i % 70) as i16,
            9092 + (i % 30) as u16,
            if i % 3 == 0 { 6 } else { 0 },
        )
    });
    let g = gathered(ex);
    let p = page(&g);
    assert!(
        p.contains("data-more=\"50\">50 more client ids not shown"),
        "no more-line"
    );
    assert_eq!(p.matches("<tr data-problems=").count(), MAX_BURSTS);
    assert!(p.contains("stretches with errors not shown"));
    // Lines per chart: the busiest four and "other".
    let api = &p[p.find("data-split=\"api\"").unwrap()..p.find("data-split=\"broker\"").unwrap()];
    assert_eq!(api.matches("<li>").count(), MAX_LINES);
    assert!(api.contains("other"));
    // No cell holds a whole 1000-character id.
    assert!(!p.contains(&long));
    assert!(p.len() < 1_000_000, "{} bytes", p.len());
}

#[test]
fn hostile_times_and_one_exchange_render() {
    let mut far = exchange(1, 0, "a", 0, 9092, 0);
    far.request.ts = Timestamp::new(i64::MAX, 999_999_999);
    let mut early = exchange(2, 0, "a", 0, 9092, 0);
    early.request.ts = Timestamp::new(i64::MIN, 0);
    // A response stamped before its request.
    let mut odd = exchange(3, 0, "a", 0, 9092, 0);
    if let Some(r) = odd.response.as_mut() {
        r.ts = ts(-5000);
    }
    let p = page(&gathered([far, early, odd]));
    assert!(p.contains("data-exchanges"));
    let one = page(&gathered([exchange(1, 0, "a", 0, 9092, 0)]));
    // One column: a level stroke, not an empty path.
    assert!(one.contains("data-columns=\"1\""), "{one}");
    assert!(one.contains("<path class=\"line\" d=\"M250 "), "{one}");
}

#[test]
fn findings_beyond_the_limits_are_counted_and_long_ones_cut() {
    use crate::analysis::findings::Severity;
    let huge = "w".repeat(5000);
    let found: Vec<Finding> = (0..1000)
        .map(|i| {
            let mut f = Finding::new(Severity::Warning, "retry_loop", format!("{i} {huge}"));
            f.details = (0..100).map(|_| huge.clone()).collect();
            for k in 0..MAX_FRAMES as u64 {
                f.frame(k);
            }
            f.count = 1000;
            f
        })
        .collect();
    let p = super::page(&Gathered::default(), &found, &Options::default());
    assert!(p.contains("data-findings=\"1000\""));
    assert_eq!(p.matches("<article class=\"finding").count(), MAX_FINDINGS);
    assert!(p.contains("800 more findings not shown"));
    assert!(p.contains("80 more lines not shown"));
    assert!(!p.contains(&huge[..2000]), "a detail not cut");
    // Findings at their limits: within a few megabytes.
    assert!(p.len() < 3 << 20, "{} bytes", p.len());
}
