//! Traffic shaped like production and hostile captures (issue 9): many
//! requests in flight, many flows, partial messages everywhere, packets
//! stamped years away, messages cut by the end of their connection. Each
//! case checks that memory stays under the budget (a counting allocator),
//! that every loss is reported (an event, a summary count, a finding), and
//! that nothing is invented (no negative latency, no false timeout).
//!
//! The generators of these shapes live here so that benches and later
//! tests can reuse them; time is never asserted (see benches/).

mod common;

use std::net::SocketAddr;

use common::{ACK, FIN, PSH, SYN, packet};
use kwire::analysis::findings::Diagnoser;
use kwire::capture::{LinkType, Packet, SourceFormat, Timestamp};
use kwire::session::{
    Analyzer, CaptureInfo, EventKind, Limit, NoResponseReason, Record, SessionConfig, Status,
    Summary,
};
use kwire::tcp::TcpConfig;

// ------------------------------------------------------------ allocation

#[path = "common/counting.rs"]
mod counting;

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

/// Tests measuring memory run one at a time (the counter is global).
static MEASURE: std::sync::Mutex<()> = std::sync::Mutex::new(());

// ------------------------------------------------------------ generators

fn addr(host: u32, port: u16) -> SocketAddr {
    SocketAddr::from(((10u32 << 24 | host).to_be_bytes(), port))
}

/// An ApiVersions v0 request (size prefix included).
fn request(corr: i32, body_len: usize) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend(18i16.to_be_bytes());
    m.extend(0i16.to_be_bytes());
    m.extend(corr.to_be_bytes());
    m.extend(4i16.to_be_bytes());
    m.extend(b"prod");
    m.extend(std::iter::repeat_n(0u8, body_len));
    let mut f = (m.len() as u32).to_be_bytes().to_vec();
    f.extend(m);
    f
}

/// Its response: no error, no API keys.
fn response(corr: i32) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend(corr.to_be_bytes());
    m.extend(0i16.to_be_bytes());
    m.extend(0i32.to_be_bytes());
    let mut f = (m.len() as u32).to_be_bytes().to_vec();
    f.extend(m);
    f
}

/// One TCP connection's packets, written as the conversation goes.
struct Flow {
    client: SocketAddr,
    broker: SocketAddr,
    cs: u32,
    ss: u32,
}

impl Flow {
    fn open(
        out: &mut Vec<(Timestamp, Vec<u8>)>,
        ts: Timestamp,
        client: SocketAddr,
        broker: SocketAddr,
    ) -> Flow {
        let (cs, ss) = (1000u32, 9000u32);
        out.push((ts, packet(client, broker, cs, 0, SYN, &[])));
        out.push((ts, packet(broker, client, ss, cs + 1, SYN | ACK, &[])));
        out.push((ts, packet(client, broker, cs + 1, ss + 1, ACK, &[])));
        Flow {
            client,
            broker,
            cs: cs + 1,
            ss: ss + 1,
        }
    }
    fn send(&mut self, out: &mut Vec<(Timestamp, Vec<u8>)>, ts: Timestamp, bytes: &[u8]) {
        out.push((
            ts,
            packet(self.client, self.broker, self.cs, self.ss, ACK | PSH, bytes),
        ));
        self.cs = self.cs.wrapping_add(bytes.len() as u32);
    }
    fn answer(&mut self, out: &mut Vec<(Timestamp, Vec<u8>)>, ts: Timestamp, bytes: &[u8]) {
        out.push((
            ts,
            packet(self.broker, self.client, self.ss, self.cs, ACK | PSH, bytes),
        ));
        self.ss = self.ss.wrapping_add(bytes.len() as u32);
    }
    fn fin(&mut self, out: &mut Vec<(Timestamp, Vec<u8>)>, ts: Timestamp) {
        out.push((
            ts,
            packet(self.client, self.broker, self.cs, self.ss, FIN | ACK, &[]),
        ));
        out.push((
            ts,
            packet(
                self.broker,
                self.client,
                self.ss,
                self.cs + 1,
                FIN | ACK,
                &[],
            ),
        ));
    }
}

fn at(ms: i64) -> Timestamp {
    let base = 1_700_000_000_000i64 + ms;
    Timestamp::new(base / 1000, (base % 1000) as u32 * 1_000_000)
}

/// `n` requests sent before any response, then all responses, on one
/// connection: what librdkafka does with `linger.ms=0` under load.
fn deep_pipeline(n: i32) -> Vec<(Timestamp, Vec<u8>)> {
    let mut out = Vec::new();
    let mut f = Flow::open(&mut out, at(0), addr(1, 40000), addr(2, 9092));
    for c in 0..n {
        f.send(&mut out, at(1), &request(c, 0));
    }
    for c in 0..n {
        f.answer(&mut out, at(2), &response(c));
    }
    f.fin(&mut out, at(3));
    out
}

/// `flows` connections, each sending one request of which only the first
/// `have` of `size` body bytes are ever captured.
fn partial_frames(flows: u32, size: usize, have: usize) -> Vec<(Timestamp, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..flows {
        let mut f = Flow::open(&mut out, at(i as i64), addr(i + 10, 40000), addr(1, 9092));
        let req = request(1, size);
        f.send(&mut out, at(i as i64), &req[..have.min(req.len())]);
    }
    out
}

/// A short conversation on `flows` connections, one after the other.
fn many_flows(flows: u32) -> Vec<(Timestamp, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..flows {
        let t = at(i64::from(i));
        let mut f = Flow::open(&mut out, t, addr(i + 10, 40000), addr(1, 9092));
        f.send(&mut out, t, &request(7, 0));
        f.answer(&mut out, t, &response(7));
    }
    out
}

// ------------------------------------------------------------ running

struct Run {
    records: Vec<Record>,
    summary: Summary,
    findings: Vec<kwire::analysis::findings::Finding>,
    /// Peak live heap during the run, above what was live before it.
    peak: usize,
}

/// Run the pipeline, keeping only what `keep` selects of the records (so
/// the records themselves do not weigh in the measured peak).
fn run_with(
    packets: &[(Timestamp, Vec<u8>)],
    tcp: TcpConfig,
    session: SessionConfig,
    keep: fn(&Record) -> bool,
) -> Run {
    run_link(packets, LinkType::RAW, tcp, session, keep)
}

fn run_link(
    packets: &[(Timestamp, Vec<u8>)],
    link: LinkType,
    tcp: TcpConfig,
    session: SessionConfig,
    keep: fn(&Record) -> bool,
) -> Run {
    let _g = MEASURE.lock().unwrap_or_else(|e| e.into_inner());
    let mut records = Vec::new();
    let mut diag = Diagnoser::new();
    let base = counting::start();
    let sink = |r: Record| {
        match &r {
            Record::Exchange(e) => diag.observe_exchange(e),
            Record::Event(e) => diag.observe_event(e),
            Record::Summary(s) => diag.observe_summary(s),
            Record::Capture(_) => {}
        }
        if keep(&r) {
            records.push(r);
        }
        Ok(())
    };
    let mut a = Analyzer::new(tcp, session, sink);
    a.begin(CaptureInfo {
        source: "synthetic".into(),
        format: SourceFormat::Pcap,
        link_types: vec![link],
        filter: None,
        merged: Vec::new(),
    })
    .unwrap();
    for (i, (ts, data)) in packets.iter().enumerate() {
        a.packet(&Packet {
            frame: i as u64 + 1,
            ts: *ts,
            link_type: link,
            data,
            orig_len: data.len() as u32,
        })
        .unwrap();
    }
    let (_, summary) = a.finish().unwrap();
    let peak = counting::peak_since(base);
    let findings = diag.findings();
    Run {
        records,
        summary,
        findings,
        peak,
    }
}

fn all(_: &Record) -> bool {
    true
}

fn events_only(r: &Record) -> bool {
    matches!(r, Record::Event(_))
}

fn exchanges(r: &Run) -> Vec<&kwire::session::Exchange> {
    r.records
        .iter()
        .filter_map(|r| match r {
            Record::Exchange(e) => Some(&**e),
            _ => None,
        })
        .collect()
}

fn limit_events(r: &Run, l: Limit) -> usize {
    r.records
        .iter()
        .filter(|r| matches!(r, Record::Event(e) if matches!(e.kind, EventKind::Limit { limit, .. } if limit == l)))
        .count()
}

fn codes(r: &Run) -> Vec<&'static str> {
    r.findings.iter().map(|f| f.code).collect()
}

// ------------------------------------------------------------ cases

#[test]
fn ten_thousand_requests_in_flight_are_all_answered() {
    let r = run_with(
        &deep_pipeline(10_000),
        TcpConfig::default(),
        SessionConfig::default(),
        all,
    );
    let ex = exchanges(&r);
    assert_eq!(ex.len(), 10_000);
    assert!(
        ex.iter().all(|e| e.status == Status::Ok),
        "every request answered"
    );
    assert_eq!(r.summary.orphans, 0);
    assert!(r.summary.limits.is_empty(), "{:?}", r.summary.limits);
}

#[test]
fn a_count_limit_on_requests_in_flight_is_told_once_and_found() {
    let session = SessionConfig {
        max_in_flight: 100,
        kafka_ports: vec![9092],
        ..SessionConfig::default()
    };
    let r = run_with(&deep_pipeline(5_000), TcpConfig::default(), session, all);
    assert_eq!(r.summary.limits.get(&Limit::MaxInFlight), Some(&4_900));
    assert_eq!(limit_events(&r, Limit::MaxInFlight), 10, "events capped");
    assert_eq!(r.summary.suppressed_events.get("limit"), Some(&4_890));
    let given_up = exchanges(&r)
        .iter()
        .filter(|e| e.status == Status::NoResponse(NoResponseReason::InFlightLimit))
        .count();
    assert_eq!(given_up, 4_900);
    let f = r.findings.iter().find(|f| f.code == "limit_max_in_flight");
    let f = f.expect("a finding for the limit");
    assert_eq!(f.count, 4_900);
    assert!(
        f.details.iter().any(|d| d.contains("--max-in-flight")),
        "{:?}",
        f.details
    );
}

#[test]
fn partial_frames_on_many_flows_stay_within_the_memory_budget() {
    // 4,000 flows × 32 KiB partial requests = 125 MiB held without a budget.
    let packets = partial_frames(4_000, 32 << 10, 32 << 10);
    let budget = 16 << 20;
    let session = SessionConfig {
        max_memory: budget,
        ..SessionConfig::default()
    };
    let r = run_with(&packets, TcpConfig::default(), session, events_only);
    // The packets themselves are the test's; what the pipeline holds on top
    // of them must stay near the budget. Each tracked flow's fixed state
    // (about 2.5 KiB: both sides' reassembly and framing state, table
    // slots; bounded by --max-flows) comes on top.
    let per_flow = 4 << 10;
    assert!(
        r.peak < budget + 4_000 * per_flow,
        "peak {} MiB over a {} MiB budget",
        r.peak >> 20,
        budget >> 20
    );
    assert!(r.summary.memory.peak_bytes <= budget as u64 + (64 << 10));
    assert!(r.summary.memory.full > 0);
    assert!(r.summary.memory.shed.frame_bytes > 0);
    assert!(limit_events(&r, Limit::MaxMemory) >= 1);
    assert!(codes(&r).contains(&"limit_max_memory"), "{:?}", codes(&r));
    // Every request whose header was seen is still an exchange (on a
    // Kafka port: without a response nothing says these flows are Kafka).
    let r = run_with(
        &packets,
        TcpConfig::default(),
        SessionConfig {
            max_memory: budget,
            kafka_ports: vec![9092],
            ..SessionConfig::default()
        },
        |r| matches!(r, Record::Exchange(_)),
    );
    let ex = exchanges(&r);
    assert_eq!(ex.len(), 4_000);
    assert!(
        ex.iter()
            .all(|e| e.status == Status::NoResponse(NoResponseReason::RequestIncomplete))
    );
}

#[test]
fn evicted_flows_are_one_finding_not_thousands_of_lines() {
    let tcp = TcpConfig {
        max_flows: 100,
        ..TcpConfig::default()
    };
    // Flows never closed: every one past the first 100 evicts one. The
    // first one has a whole exchange, so the broker is known to be Kafka.
    let mut packets = many_flows(1);
    for i in 1..3_000u32 {
        let t = at(i64::from(i));
        let mut f = Flow::open(&mut packets, t, addr(i + 10, 40000), addr(1, 9092));
        f.send(&mut packets, t, &request(7, 0));
    }
    let r = run_with(&packets, tcp, SessionConfig::default(), all);
    assert_eq!(r.summary.limits.get(&Limit::MaxFlows), Some(&2_900));
    assert_eq!(limit_events(&r, Limit::MaxFlows), 10);
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "limit_max_flows")
        .expect("finding");
    assert_eq!(f.count, 2_900);
    assert!(f.details.iter().any(|d| d.contains("--max-flows")));
    // Their requests are still exchanges, said evicted.
    let evicted = exchanges(&r)
        .iter()
        .filter(|e| e.status == Status::NoResponse(NoResponseReason::Evicted))
        .count();
    // The first flow's request was answered before it was evicted.
    assert_eq!(evicted, 2_899);
}

#[test]
fn requests_cut_by_the_end_of_their_stream_are_exchanges() {
    for end in ["capture_end", "fin", "rst"] {
        let mut out = Vec::new();
        let mut f = Flow::open(&mut out, at(0), addr(1, 40000), addr(2, 9092));
        f.send(&mut out, at(1), &request(1, 0));
        f.answer(&mut out, at(2), &response(1));
        let req = request(2, 1000);
        f.send(&mut out, at(3), &req[..300]);
        match end {
            "fin" => f.fin(&mut out, at(4)),
            "rst" => out.push((at(4), packet(f.client, f.broker, f.cs + 700, 0, 0x04, &[]))),
            _ => {}
        }
        let r = run_with(&out, TcpConfig::default(), SessionConfig::default(), all);
        let ex = exchanges(&r);
        assert_eq!(ex.len(), 2, "{end}");
        let cut = ex
            .iter()
            .find(|e| e.correlation_id == 2)
            .expect("the cut request");
        assert_eq!(
            cut.status,
            Status::NoResponse(NoResponseReason::RequestIncomplete),
            "{end}"
        );
        assert!(cut.request.lost_bytes > 0, "{end}");
    }
}

/// The conversation of `many_flows(20)` with one packet's stamp replaced.
fn with_stamp(i: usize, ts: Timestamp) -> Vec<(Timestamp, Vec<u8>)> {
    let mut p = many_flows(20);
    p[i].0 = ts;
    p
}

#[test]
fn a_packet_stamped_years_away_changes_nothing_but_is_reported() {
    let clean = run_with(
        &many_flows(20),
        TcpConfig::default(),
        SessionConfig::default(),
        all,
    );
    let lat =
        |r: &Run| -> Vec<Option<i64>> { exchanges(r).iter().map(|e| e.latency_us()).collect() };
    for bogus in [
        Timestamp::new(1_700_000_000 + 10 * 365 * 86_400, 0),
        Timestamp::new(0, 0),
        Timestamp::new(i64::MAX, 999_999_999),
        Timestamp::new(i64::MIN, 0),
    ] {
        // A response packet in the middle (its latency would be absurd).
        for i in [0, 4, 50] {
            let r = run_with(
                &with_stamp(i, bogus),
                TcpConfig::default(),
                SessionConfig::default(),
                all,
            );
            assert_eq!(exchanges(&r).len(), 20, "{bogus:?} at {i}");
            assert_eq!(lat(&r), lat(&clean), "{bogus:?} at {i}");
            assert!(exchanges(&r).iter().all(|e| e.status == Status::Ok));
            assert_eq!(r.summary.time_jumps, 1, "{bogus:?} at {i}");
            assert!(codes(&r).contains(&"time_jump"), "{:?}", codes(&r));
            for c in ["broker_down", "request_timeout", "no_response"] {
                assert!(
                    !codes(&r).contains(&c),
                    "{c} from a bogus stamp: {:?}",
                    codes(&r)
                );
            }
            let closes_idle = r.records.iter().any(|r| {
                matches!(r, Record::Event(e) if matches!(e.kind, EventKind::ConnectionClose { reason: kwire::tcp::CloseReason::Idle, .. }))
            });
            assert!(!closes_idle, "{bogus:?} at {i}");
        }
    }
}

#[test]
fn a_capture_resumed_hours_later_moves_the_clock() {
    let mut p = many_flows(10);
    let later = 6 * 3_600_000;
    let split = p.len() / 2;
    for (ts, _) in &mut p[split..] {
        *ts = Timestamp::new(ts.secs + later / 1000, ts.nanos);
    }
    let r = run_with(&p, TcpConfig::default(), SessionConfig::default(), all);
    assert_eq!(exchanges(&r).len(), 10);
    assert!(
        exchanges(&r)
            .iter()
            .all(|e| e.latency_us().is_some_and(|l| l >= 0))
    );
    // Each exchange keeps its own stamps: the later ones are hours later.
    let last = exchanges(&r).iter().map(|e| e.request.ts).max().unwrap();
    assert!(last.secs > p[0].0.secs + 5 * 3600);
    let accepted = r.records.iter().any(|r| {
        matches!(r, Record::Event(e) if matches!(e.kind, EventKind::TimeJump { accepted: true, .. }))
    });
    assert!(accepted);
}

#[test]
fn a_response_stamped_before_its_request_has_no_negative_latency() {
    let mut out = Vec::new();
    let mut f = Flow::open(&mut out, at(0), addr(1, 40000), addr(2, 9092));
    f.send(&mut out, at(10), &request(1, 0));
    f.answer(&mut out, at(5), &response(1));
    let r = run_with(&out, TcpConfig::default(), SessionConfig::default(), all);
    let ex = exchanges(&r);
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].latency_us(), None);
    assert!(ex[0].response_first());
    let rec = r.records.iter().find(|r| matches!(r, Record::Exchange(_)));
    let v = kwire::export::ndjson::to_json(rec.expect("the exchange"));
    assert_eq!(v["latency_us"], serde_json::Value::Null, "{v}");
    assert_eq!(v["response_first"], true, "{v}");
}

#[test]
fn a_retransmission_with_different_bytes_is_reported_with_the_copy_kept() {
    let mut out = Vec::new();
    let mut f = Flow::open(&mut out, at(0), addr(1, 40000), addr(2, 9092));
    f.send(&mut out, at(1), &request(1, 0));
    f.answer(&mut out, at(2), &response(1));
    // The next request in two segments; the second arrives first (buffered),
    // then again with other bytes, then the first.
    let req = request(2, 100);
    let (head, tail) = req.split_at(40);
    let start = f.cs;
    f.cs = start.wrapping_add(40);
    f.send(&mut out, at(3), tail);
    let mut other = tail.to_vec();
    other[50] ^= 0xff;
    f.cs = start.wrapping_add(40);
    f.send(&mut out, at(3), &other);
    f.cs = start;
    f.send(&mut out, at(4), head);
    f.cs = start.wrapping_add(req.len() as u32);
    f.answer(&mut out, at(5), &response(2));
    let r = run_with(&out, TcpConfig::default(), SessionConfig::default(), all);
    assert_eq!(exchanges(&r).len(), 2);
    assert!(exchanges(&r).iter().all(|e| e.status == Status::Ok));
    let ev = r.records.iter().find_map(|r| match r {
        Record::Event(e) => match e.kind {
            EventKind::RetransmissionMismatch { bytes, kept, .. } => Some((bytes, kept)),
            _ => None,
        },
        _ => None,
    });
    assert_eq!(ev, Some((1, kwire::tcp::Kept::First)));
    assert_eq!(r.summary.retransmission_mismatches, 1);
    assert!(
        codes(&r).contains(&"retransmission_mismatch"),
        "{:?}",
        codes(&r)
    );
}

#[test]
fn a_decompression_limit_is_an_event_a_count_and_a_finding() {
    use kwire::capture::PacketSource;
    let path = common::samples_dir().join("demo.pcap");
    let mut src = kwire::capture::file::FileSource::open(path.to_str().unwrap()).unwrap();
    let link = src.link_types()[0];
    let mut packets = Vec::new();
    while let Some(p) = src.next_packet().unwrap() {
        assert_eq!(p.link_type, link);
        packets.push((p.ts, p.data.to_vec()));
    }
    let mut session = SessionConfig {
        records: kwire::kafka::records::RecordsMode::Full,
        ..SessionConfig::default()
    };
    session.record_limits.max_decompressed_bytes = 16;
    let r = run_link(&packets, link, TcpConfig::default(), session, all);
    let summary = &r.summary;
    let hits = summary.limits.get(&Limit::MaxDecompressedBytes).copied();
    assert!(hits.is_some_and(|n| n > 0), "{:?}", summary.limits);
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "limit_max_decompressed_bytes");
    let f = f.expect("finding");
    assert_eq!(Some(f.count), hits);
    assert!(
        f.details
            .iter()
            .any(|d| d.contains("--max-decompressed-bytes"))
    );
}
