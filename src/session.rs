//! Stage 4: Kafka sessions.
//!
//! The [`Analyzer`] drives the pipeline for one capture: each packet's
//! headers are decoded ([`crate::capture::link`]), its segment reassembled
//! ([`crate::tcp`]), the byte streams framed and correlated per connection
//! (`session::connection`), and every result handed to a [`RecordSink`] as a
//! [`Record`]: the capture header first, then exchanges and events in the
//! order they complete, the summary last.
//!
//! Contract: deterministic (the same packets give the same records), bounded
//! by [`SessionConfig`] and [`crate::tcp::TcpConfig`], never panics on input.

mod body;
mod connection;
pub mod describe;
pub mod record;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;

use crate::capture::link::{self, Decoded};
use crate::capture::{LinkType, Packet, PacketRef, Timestamp};
use crate::kafka::records::{RecordLimits, RecordsMode};
use crate::tcp::{
    CloseReason, ConnId, ConnInfo, Dir, GapCause, Interest, Reassembler, StreamSink, TcpConfig,
    TcpEvent,
};

pub use body::{DecodeOptions, decode_body};
pub use record::*;

use connection::{Conn, Ctx, Held, State};

/// Limits and hints of the Kafka analysis. Every field is a user option.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Ports that are Kafka whatever the traffic looks like (`--port`).
    pub kafka_ports: Vec<u16>,
    /// Frames larger than this are skipped and reported.
    pub max_frame_size: u32,
    /// Bytes kept while searching for a frame start after lost sync.
    pub scan_window: usize,
    /// Requests awaiting a response per connection.
    pub max_in_flight: usize,
    /// Responses awaiting their request per connection.
    pub max_early_responses: usize,
    /// How long a response waits for its request before it is an orphan.
    pub early_response_timeout_ns: u64,
    /// Records held per connection before it is recognised as Kafka.
    pub max_candidate_records: usize,
    /// Records held in all closed, unrecognised connections until their
    /// broker is recognised or the capture ends.
    pub max_unresolved_records: usize,
    /// Bytes of a connection joined mid-stream scanned for a first request
    /// before deciding it is not Kafka.
    pub detect_scan_limit: u64,
    /// Broker endpoints remembered.
    pub max_known_brokers: usize,
    /// Packet-level events (fragments, truncated, malformed) emitted per
    /// kind; further ones are only counted.
    pub max_packet_events: u64,
    /// Decode request and response bodies (off: headers only).
    pub decode_bodies: bool,
    /// How much of the records in Produce/Fetch to decode.
    pub records: RecordsMode,
    pub record_limits: RecordLimits,
    /// Bytes of responses kept per connection while they wait for their
    /// request (to decode them then); beyond it they are paired undecoded.
    pub max_early_bytes: usize,
    /// Show SASL secrets (PLAIN passwords, SCRAM proofs and signatures,
    /// OAUTHBEARER tokens) instead of masking them (`--show-secrets`).
    pub show_secrets: bool,
    /// Bytes of each body kept in the exchange ([`Body::bytes`]), for a hex
    /// view; 0 (the default) keeps none.
    pub keep_bytes: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            kafka_ports: Vec::new(),
            max_frame_size: 100 << 20,
            scan_window: 1 << 20,
            max_in_flight: 4096,
            max_early_responses: 1024,
            early_response_timeout_ns: 2_000_000_000,
            max_candidate_records: 4096,
            max_unresolved_records: 100_000,
            detect_scan_limit: 4 << 20,
            max_known_brokers: 65_536,
            max_packet_events: 100,
            decode_bodies: true,
            records: RecordsMode::Meta,
            // Meta shows counts, sizes, offsets and timestamps: the batch
            // CRC (a pass over every batch) is checked with Full.
            record_limits: RecordLimits {
                verify_crc: false,
                ..RecordLimits::default()
            },
            max_early_bytes: 16 << 20,
            show_secrets: false,
            keep_bytes: 0,
        }
    }
}

/// Where records go.
pub trait RecordSink {
    /// Receive one record. An error stops the analysis (e.g. a closed pipe).
    fn record(&mut self, r: Record) -> std::io::Result<()>;
}

impl<F: FnMut(Record) -> std::io::Result<()>> RecordSink for F {
    fn record(&mut self, r: Record) -> std::io::Result<()> {
        self(r)
    }
}

/// Records of a closed connection not (yet) recognised as Kafka.
struct Unresolved {
    broker: SocketAddr,
    held: Vec<Held>,
    close: Vec<Record>,
    conn: Conn,
}

/// The Kafka side of the pipeline: a [`StreamSink`] for the reassembler.
struct Tracker {
    cfg: SessionConfig,
    conns: HashMap<ConnId, Conn>,
    /// Broker endpoints recognised so far, oldest first for eviction.
    brokers: HashSet<SocketAddr>,
    broker_order: VecDeque<SocketAddr>,
    unresolved: VecDeque<Unresolved>,
    unresolved_records: usize,
    out: Vec<Record>,
    kafka_connections: u64,
    dropped_records: u64,
    reordered: u64,
    brokers_overflow: bool,
}

impl Tracker {
    fn new(cfg: SessionConfig) -> Self {
        Tracker {
            cfg,
            conns: HashMap::new(),
            brokers: HashSet::new(),
            broker_order: VecDeque::new(),
            unresolved: VecDeque::new(),
            unresolved_records: 0,
            out: Vec::new(),
            kafka_connections: 0,
            dropped_records: 0,
            reordered: 0,
            brokers_overflow: false,
        }
    }

    fn learn_broker(&mut self, conn: &Conn) {
        let Some(cd) = conn.core.client_dir else {
            return;
        };
        let broker = conn.core.info.dst(cd);
        if self.brokers.insert(broker) {
            self.broker_order.push_back(broker);
            if self.broker_order.len() > self.cfg.max_known_brokers
                && let Some(old) = self.broker_order.pop_front()
            {
                self.brokers.remove(&old);
                if !self.brokers_overflow {
                    self.brokers_overflow = true;
                    self.out.push(Record::Event(Event {
                        at: conn.core.opened_at,
                        stream: None,
                        kind: EventKind::Limit {
                            limit: "max_known_brokers",
                            value: self.cfg.max_known_brokers as u64,
                        },
                    }));
                }
            }
            self.resolve_waiting(broker);
        }
    }

    /// A broker was recognised: release closed connections to it.
    fn resolve_waiting(&mut self, broker: SocketAddr) {
        let mut i = 0;
        while i < self.unresolved.len() {
            if self.unresolved[i].broker == broker {
                let u = self.unresolved.remove(i).expect("index in range");
                self.release(u);
            } else {
                i += 1;
            }
        }
    }

    fn release(&mut self, u: Unresolved) {
        self.unresolved_records -= u.held.len() + u.close.len();
        let mut conn = u.conn;
        conn.core.held = u.held;
        let mut ctx = Ctx {
            cfg: &self.cfg,
            out: &mut self.out,
            reordered: &mut self.reordered,
        };
        conn.core.confirm(DetectedBy::KnownBroker, &mut ctx);
        self.kafka_connections += 1;
        self.out.extend(u.close);
    }

    /// Which side is the client, if known without looking at the traffic.
    fn known(&self, info: &ConnInfo) -> Option<(DetectedBy, Dir)> {
        let port_a = self.cfg.kafka_ports.contains(&info.a.port());
        let port_b = self.cfg.kafka_ports.contains(&info.b.port());
        if port_b || port_a {
            // The broker is the side on a Kafka port; A when both are.
            let client = if port_b { Dir::AtoB } else { Dir::BtoA };
            return Some((DetectedBy::Port, client));
        }
        if self.brokers.contains(&info.b) {
            return Some((DetectedBy::KnownBroker, Dir::AtoB));
        }
        if self.brokers.contains(&info.a) {
            return Some((DetectedBy::KnownBroker, Dir::BtoA));
        }
        None
    }

    /// After a callback: record a confirmation, drop what is not Kafka.
    fn settle(&mut self, id: ConnId) -> Interest {
        let Some(conn) = self.conns.get_mut(&id) else {
            return Interest::Ignore;
        };
        if conn.core.confirmed_broker {
            conn.core.confirmed_broker = false;
            self.kafka_connections += 1;
            let conn = self.conns.remove(&id).expect("present");
            self.learn_broker(&conn);
            self.conns.insert(id, conn);
            return Interest::Keep;
        }
        if conn.core.state == State::NotKafka {
            self.conns.remove(&id);
            return Interest::Ignore;
        }
        Interest::Keep
    }

    fn finish(&mut self) {
        // Connections still open were closed by the reassembler's finish;
        // what is left unresolved was never recognised.
        for u in std::mem::take(&mut self.unresolved) {
            if self.brokers.contains(&u.broker) {
                self.release(u);
            }
        }
        self.unresolved_records = 0;
    }
}

impl StreamSink for Tracker {
    fn on_open(&mut self, conn: &ConnInfo, at: PacketRef) -> Interest {
        let known = self.known(conn);
        let c = Conn::new(*conn, at, &self.cfg, known);
        if let Some((by, dir)) = known {
            self.out.push(c.core.open_record(by, dir));
            self.kafka_connections += 1;
        }
        self.conns.insert(conn.id, c);
        Interest::Keep
    }

    fn on_data(&mut self, conn: &ConnInfo, dir: Dir, data: &[u8], at: PacketRef) -> Interest {
        let Some(c) = self.conns.get_mut(&conn.id) else {
            return Interest::Ignore;
        };
        let mut ctx = Ctx {
            cfg: &self.cfg,
            out: &mut self.out,
            reordered: &mut self.reordered,
        };
        c.data(dir, data, at, &mut ctx);
        self.settle(conn.id)
    }

    fn on_gap(&mut self, conn: &ConnInfo, dir: Dir, len: u64, cause: GapCause, at: PacketRef) {
        let Some(c) = self.conns.get_mut(&conn.id) else {
            return;
        };
        let mut ctx = Ctx {
            cfg: &self.cfg,
            out: &mut self.out,
            reordered: &mut self.reordered,
        };
        c.gap(dir, len, cause, at, &mut ctx);
        self.settle(conn.id);
    }

    fn on_close(&mut self, conn: &ConnInfo, reason: CloseReason, at: PacketRef) {
        let Some(mut c) = self.conns.remove(&conn.id) else {
            return;
        };
        let candidate = c.core.state == State::Candidate;
        if !candidate {
            let mut ctx = Ctx {
                cfg: &self.cfg,
                out: &mut self.out,
                reordered: &mut self.reordered,
            };
            c.close(reason, at, &mut ctx);
            return;
        }
        // A candidate with requests but no answer: keep it until its broker
        // is recognised elsewhere, or the capture ends.
        let Some(cd) = c.core.client_dir else {
            return;
        };
        if c.core.requests == 0 {
            return;
        }
        let mut close = Vec::new();
        let mut ctx = Ctx {
            cfg: &self.cfg,
            out: &mut close,
            reordered: &mut self.reordered,
        };
        c.close(reason, at, &mut ctx);
        // Held records now include the close's; `close` got nothing while
        // the connection is a candidate.
        let held = std::mem::take(&mut c.core.held);
        let broker = conn.dst(cd);
        let n = held.len() + close.len();
        if self.unresolved_records + n > self.cfg.max_unresolved_records {
            self.dropped_records += n as u64;
            self.out.push(Record::Event(Event {
                at,
                stream: Some(conn.id.0),
                kind: EventKind::Limit {
                    limit: "max_unresolved_records",
                    value: self.cfg.max_unresolved_records as u64,
                },
            }));
            return;
        }
        self.unresolved_records += n;
        let u = Unresolved {
            broker,
            held,
            close,
            conn: c,
        };
        if self.brokers.contains(&broker) {
            self.release(u);
        } else {
            self.unresolved.push_back(u);
        }
    }

    fn on_event(&mut self, conn: &ConnInfo, event: TcpEvent, at: PacketRef) {
        let kind = match event {
            TcpEvent::OooLimit { limit, total, .. } => EventKind::Limit {
                limit: if total {
                    "max_total_ooo_bytes"
                } else {
                    "max_ooo_bytes"
                },
                value: limit as u64,
            },
            TcpEvent::FlowLimit { max_flows } => EventKind::Limit {
                limit: "max_flows",
                value: max_flows as u64,
            },
        };
        let kafka = self
            .conns
            .get(&conn.id)
            .is_some_and(|c| matches!(c.core.state, State::Kafka(_)));
        if kafka || matches!(event, TcpEvent::FlowLimit { .. }) {
            self.out.push(Record::Event(Event {
                at,
                stream: kafka.then_some(conn.id.0),
                kind,
            }));
        }
    }
}

/// The whole pipeline for one capture.
pub struct Analyzer<S: RecordSink> {
    tcp: Reassembler,
    tracker: Tracker,
    sink: S,
    summary: Summary,
    last: PacketRef,
    packet_events: HashMap<&'static str, u64>,
    unsupported_links: HashSet<LinkType>,
    /// The sink failed (e.g. closed pipe): stop emitting.
    failed: Option<std::io::Error>,
}

impl<S: RecordSink> Analyzer<S> {
    pub fn new(tcp: TcpConfig, session: SessionConfig, sink: S) -> Self {
        Analyzer {
            tcp: Reassembler::new(tcp),
            tracker: Tracker::new(session),
            sink,
            summary: Summary::default(),
            last: PacketRef::default(),
            packet_events: HashMap::new(),
            unsupported_links: HashSet::new(),
            failed: None,
        }
    }

    /// Emit the first record.
    pub fn begin(&mut self, info: CaptureInfo) -> std::io::Result<()> {
        self.send(Record::Capture(info));
        self.check()
    }

    fn send(&mut self, r: Record) {
        if self.failed.is_some() {
            return;
        }
        match &r {
            Record::Exchange(e) => {
                self.summary.exchanges += 1;
                if e.response.is_some() {
                    self.summary.answered += 1;
                } else if matches!(e.status, Status::NoResponse(_)) {
                    self.summary.unanswered += 1;
                }
            }
            Record::Event(e) => {
                *self.summary.events.entry(e.kind.type_name()).or_default() += 1;
                if let EventKind::OrphanResponse { .. } = e.kind {
                    self.summary.orphans += 1;
                }
            }
            _ => {}
        }
        if let Err(e) = self.sink.record(r) {
            self.failed = Some(e);
        }
    }

    fn flush(&mut self) {
        if self.tracker.out.is_empty() {
            return;
        }
        let out = std::mem::take(&mut self.tracker.out);
        let mut out = out;
        for r in out.drain(..) {
            self.send(r);
        }
        // Give the allocation back.
        self.tracker.out = out;
    }

    fn check(&mut self) -> std::io::Result<()> {
        match self.failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Process one packet. An error means the sink failed; stop reading.
    pub fn packet(&mut self, pkt: &Packet<'_>) -> std::io::Result<()> {
        let at = pkt.at();
        self.last = at;
        self.summary.packets += 1;
        self.summary.bytes += u64::from(pkt.orig_len);
        match link::decode(pkt.link_type, pkt.data) {
            Decoded::Tcp(seg) => {
                if (seg.payload.len() as u64) < u64::from(seg.payload_len) {
                    self.summary.truncated_packets += 1;
                }
                self.tcp.segment(&seg, at, &mut self.tracker);
            }
            Decoded::NotTcp => {}
            Decoded::Fragment => self.packet_event(at, PacketIssue::Fragment),
            Decoded::Truncated => self.packet_event(at, PacketIssue::Truncated),
            Decoded::Malformed(why) => self.packet_event(at, PacketIssue::Malformed(why)),
            Decoded::UnsupportedLink(lt) => {
                if self.unsupported_links.insert(lt) {
                    self.packet_event(at, PacketIssue::UnsupportedLink(lt));
                }
            }
        }
        self.flush();
        self.check()
    }

    /// Let time pass without a packet (live capture): expire idle state.
    pub fn tick(&mut self, now: Timestamp) -> std::io::Result<()> {
        let at = PacketRef {
            frame: self.last.frame,
            ts: now,
        };
        self.tcp.advance(now, at, &mut self.tracker);
        self.flush();
        self.check()
    }

    fn packet_event(&mut self, at: PacketRef, issue: PacketIssue) {
        let n = self.packet_events.entry(issue.as_str()).or_default();
        *n += 1;
        let n = *n;
        let max = self.tracker.cfg.max_packet_events;
        if n <= max {
            self.send(Record::Event(Event {
                at,
                stream: None,
                kind: EventKind::Packet { issue },
            }));
        }
        if n == max + 1 {
            self.send(Record::Event(Event {
                at,
                stream: None,
                kind: EventKind::Limit {
                    limit: "max_packet_events",
                    value: max,
                },
            }));
        }
    }

    /// Report an error that ended the capture early.
    pub fn capture_error(&mut self, message: String) {
        let at = self.last;
        self.send(Record::Event(Event {
            at,
            stream: None,
            kind: EventKind::CaptureError { message },
        }));
    }

    /// Report the drop counters of a live capture (the kernel's and the
    /// packet queue's): always in the summary, as an event when packets were
    /// dropped.
    pub fn drops(&mut self, d: crate::capture::DropStats) {
        self.summary.drops = Some(d);
        if !d.any() {
            return;
        }
        let at = self.last;
        self.send(Record::Event(Event {
            at,
            stream: None,
            kind: EventKind::Drops(d),
        }));
    }

    /// The input ended: close everything and emit the summary.
    pub fn finish(mut self) -> std::io::Result<(S, Summary)> {
        let at = self.last;
        self.tcp.finish(at, &mut self.tracker);
        self.tracker.finish();
        self.flush();
        let tcp = self.tcp.stats();
        self.summary.tcp = tcp;
        self.summary.connections = tcp.connections;
        self.summary.kafka_connections = self.tracker.kafka_connections;
        self.summary.dropped_records = self.tracker.dropped_records;
        self.summary.responses_before_request = self.tracker.reordered;
        let s = self.summary.clone();
        self.send(Record::Summary(Box::new(s.clone())));
        self.check()?;
        Ok((self.sink, s))
    }
}

/// How often a live capture lets time pass (expiring idle state) and reads
/// its drop counters while it runs.
pub const LIVE_TICK: std::time::Duration = std::time::Duration::from_millis(500);

/// Read `source` to its end through an analyzer. Returns the sink and the
/// summary. An `Err` is the sink's (e.g. a closed pipe); a damaged capture is
/// reported as an event, not an error. A live source ends when it is stopped
/// (see [`crate::capture::live::LiveOptions::stop`]).
pub fn run<S: RecordSink>(
    source: &mut dyn crate::capture::PacketSource,
    info: CaptureInfo,
    tcp: TcpConfig,
    session: SessionConfig,
    sink: S,
) -> std::io::Result<(S, Summary)> {
    let never = std::sync::atomic::AtomicBool::new(false);
    drive(source, info, tcp, session, sink, &never, |_| {})
}

/// The one loop that drives a source through an analyzer, for every command
/// and the UI: [`run`], and also
///
/// - stops reading when `stop` is set (the UI quits), then finishes as at
///   the end of the input;
/// - for a live source, every [`LIVE_TICK`] of wall-clock time (also when
///   no packet arrives) lets time pass, so that idle connections expire, and
///   hands the drop counters so far to `on_drops`.
///
/// A file is never ticked: its records depend on its packets alone.
pub fn drive<S: RecordSink>(
    source: &mut dyn crate::capture::PacketSource,
    info: CaptureInfo,
    tcp: TcpConfig,
    session: SessionConfig,
    sink: S,
    stop: &std::sync::atomic::AtomicBool,
    mut on_drops: impl FnMut(crate::capture::DropStats),
) -> std::io::Result<(S, Summary)> {
    use crate::capture::{Next, SourceFormat};
    use std::sync::atomic::Ordering;

    /// Packets between looks at the clock while packets pour in.
    const CLOCK_EVERY: u32 = 256;

    let live = source.format() == SourceFormat::Live;
    let mut a = Analyzer::new(tcp, session, sink);
    a.begin(info)?;
    let mut last_tick = std::time::Instant::now();
    let mut since_clock = 0u32;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let idle = match source.poll_packet() {
            Ok(Next::Packet(p)) => {
                a.packet(&p)?;
                false
            }
            Ok(Next::Idle) => true,
            Ok(Next::End) => break,
            Err(e) => {
                a.capture_error(e.to_string());
                break;
            }
        };
        if !live {
            continue;
        }
        since_clock += 1;
        if !idle && since_clock < CLOCK_EVERY {
            continue;
        }
        since_clock = 0;
        if last_tick.elapsed() >= LIVE_TICK {
            last_tick = std::time::Instant::now();
            a.tick(Timestamp::now())?;
            if let Some(d) = source.drop_stats() {
                on_drops(d);
            }
        }
    }
    if let Some(d) = source.drop_stats() {
        a.drops(d);
    }
    a.finish()
}
