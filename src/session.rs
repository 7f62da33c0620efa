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
mod inflight;
pub mod names;
mod outcome;
pub mod pipeline;
pub mod record;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::capture::defrag::{DefragConfig, DefragEvent, Defragmenter, Push};
use crate::capture::link::{self, Decoded};
use crate::capture::{LinkType, Packet, PacketRef, Timestamp};
use crate::kafka::ApiKey;
use crate::kafka::records::{RecordLimits, RecordsMode};
use crate::tcp::{
    CloseReason, ConnId, ConnInfo, Dir, GapCause, Interest, OooLimitKind, Reassembler, StreamSink,
    TcpConfig, TcpEvent,
};
use crate::tls::{KeyLog, TlsConn, TlsEvent, TlsOut};

pub use body::{DecodeOptions, decode_body};
pub use outcome::{Outcome, expected_answer, retried};
pub use record::*;

use connection::{CaptureBudget, Conn, Ctx, Held, State};

/// Limits and hints of the Kafka analysis. Every field is a user option.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Ports that are Kafka whatever the traffic looks like (`--port`).
    pub kafka_ports: Vec<u16>,
    /// Threads of a run ([`pipeline::drive_threads`]): above 1, the
    /// output is rendered on `threads - 1` workers and consumed on one more
    /// thread, beside the analysis (`--threads`).
    pub threads: usize,
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
    /// Records decoded over the whole capture (`--max-capture-records`):
    /// later messages' records are not decoded (reported once).
    pub max_capture_records: u64,
    /// Bytes decompressed over the whole capture
    /// (`--max-capture-decompressed`): later batches are not decompressed
    /// (reported once).
    pub max_capture_decompressed_bytes: u64,
    /// Bytes of responses kept per connection while they wait for their
    /// request (to decode them then); beyond it they are paired undecoded.
    pub max_early_bytes: usize,
    /// Show secrets (SASL ones, and the fields of
    /// [`crate::kafka::secrets`]) instead of masking them (`--show-secrets`).
    pub show_secrets: bool,
    /// NSS key log files whose secrets decrypt TLS (`--keylog`): read at
    /// the start, read again when a session's keys are not found (a key log
    /// that grows while a live capture runs).
    pub keylogs: Vec<std::path::PathBuf>,
    /// Most bytes kwire holds while reading (`--max-memory`): out-of-order
    /// TCP bytes, IP fragments, messages in progress, responses waiting for
    /// their request and requests waiting for their response, over all
    /// connections. When it is full, the connection holding the most lets
    /// go first (reported: `limit` events, `memory` in the summary, a
    /// finding). The per-connection limits apply inside it.
    pub max_memory: usize,
    /// A packet stamped further than this from the capture clock is a time
    /// jump: unless the packets after it confirm the new time, it is
    /// reported and processed at the clock's time, so it drives no idle
    /// expiry, latency or finding (`--max-time-jump`).
    pub max_time_jump_ns: u64,
    /// IP reassembly limits (`--max-fragment-bytes`, `--fragment-timeout`).
    pub defrag: DefragConfig,
}

/// The default of [`SessionConfig::max_capture_records`].
pub const DEFAULT_MAX_CAPTURE_RECORDS: u64 = 10_000_000;
/// The default of [`SessionConfig::max_capture_decompressed_bytes`].
pub const DEFAULT_MAX_CAPTURE_DECOMPRESSED: u64 = 16 << 30;

/// The default memory budget: a laptop's share.
pub const DEFAULT_MAX_MEMORY: usize = 1 << 30;

/// Ports Kafka commonly listens on (the default listener, its TLS/SASL
/// neighbours, and the usual Docker/Confluent remaps): a connection to one
/// that carried plausible requests, or was refused, is reported as Kafka
/// (unconfirmed) even when no response confirmed it.
pub const KAFKA_COMMON_PORTS: [u16; 5] = [9092, 9093, 9094, 19092, 29092];

/// Refused connection attempts to one endpoint (and none accepted) that make
/// it taken for a broker that is down, on any port.
pub const MIN_REFUSALS: u32 = 3;

/// Server endpoints of unrecognised connections remembered (whether they
/// refused every attempt, and how many): more are not counted; the attempts'
/// records are bounded by `max_unresolved_records`.
pub const MAX_REFUSAL_ENDPOINTS: usize = 4096;

/// A connection refused: SYN answered by RST within this long, no byte
/// either way.
const REFUSED_WITHIN_NS: i128 = 1_000_000_000;

/// Shedding stops at this fraction of the budget (16ths), so that a full
/// budget is not shed again at every packet.
const SHED_TO_16THS: usize = 15;

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            kafka_ports: Vec::new(),
            threads: 1,
            max_frame_size: 100 << 20,
            scan_window: 1 << 20,
            max_in_flight: 1_000_000,
            max_early_responses: 1024,
            early_response_timeout_ns: 2_000_000_000,
            max_candidate_records: 4096,
            max_unresolved_records: 100_000,
            detect_scan_limit: 4 << 20,
            max_known_brokers: 65_536,
            max_packet_events: 100,
            decode_bodies: true,
            records: RecordsMode::Meta,
            // Batch CRCs are checked (CRC-32C at memory speed): a batch that
            // does not verify is a deviation diagnose reports.
            record_limits: RecordLimits::default(),
            max_capture_records: DEFAULT_MAX_CAPTURE_RECORDS,
            max_capture_decompressed_bytes: DEFAULT_MAX_CAPTURE_DECOMPRESSED,
            max_early_bytes: 16 << 20,
            show_secrets: false,
            keylogs: Vec::new(),
            max_memory: DEFAULT_MAX_MEMORY,
            max_time_jump_ns: 3_600_000_000_000,
            defrag: DefragConfig::default(),
        }
    }
}

/// Where records go.
pub trait RecordSink {
    /// Receive one record. An error stops the analysis (e.g. a closed pipe).
    fn record(&mut self, r: Record) -> std::io::Result<()>;

    /// What renders this sink's output for a record without the sink, so
    /// that other threads can do it ahead ([`pipeline::drive_threads`]);
    /// `None` (the default): the sink renders everything itself.
    fn renderer(&self) -> Option<std::sync::Arc<dyn Render>> {
        None
    }

    /// Receive one record whose output [`Self::renderer`] rendered already
    /// (`None`: it did not render this one). The same effect as
    /// [`Self::record`].
    fn record_rendered(&mut self, r: Record, rendered: Option<&[u8]>) -> std::io::Result<()> {
        let _ = rendered;
        self.record(r)
    }

    /// Time passed to `now` without a packet (a live capture's tick, after
    /// the records it completed): a sink holding output back for a while
    /// (the listing's frame order) lets go of what is due. A file is never
    /// ticked.
    fn tick(&mut self, now: Timestamp) -> std::io::Result<()> {
        let _ = now;
        Ok(())
    }

    /// The summary so far (a live capture's counters while it runs: packets,
    /// limits hit, every event counted, drops), handed over at each tick
    /// just before [`Self::tick`]; what the last record will say, up to now.
    /// A file is never ticked: its summary is its last record.
    fn progress(&mut self, so_far: &Summary) -> std::io::Result<()> {
        let _ = so_far;
        Ok(())
    }
}

/// Renders a sink's output for a record: a pure function of the record.
pub trait Render: Send + Sync {
    /// Append the output for `r` to `out` and say true, or say false (and
    /// leave `out` alone) when the sink renders `r` itself.
    fn render(&self, r: &Record, out: &mut Vec<u8>) -> bool;
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

/// Whether a connection nobody recognised looks like a Kafka client talking
/// to a broker that never answers: the server sent no byte, and every
/// request held is of an API and version Kafka knows, names a printable
/// client id, and the first is one a client opens a connection with.
fn unanswered_client(u: &Unresolved) -> bool {
    let core = &u.conn.core;
    let Some(cd) = core.client_dir else {
        return false;
    };
    if core.requests == 0 || core.data_dirs.get(cd.reverse().index()) != Some(&false) {
        return false;
    }
    let mut first = true;
    for h in &u.held {
        let Held::Record(Record::Exchange(e)) = h else {
            continue;
        };
        let known = e
            .api_key
            .info()
            .is_some_and(|a| a.knows_version(e.api_version));
        let named = e
            .client_id
            .as_deref()
            .is_some_and(|c| !c.is_empty() && crate::kafka::detect::printable(c.as_bytes()));
        let opens = matches!(
            e.api_key,
            ApiKey::API_VERSIONS | ApiKey::SASL_HANDSHAKE | ApiKey::METADATA
        );
        if !known || !named || (first && !opens) {
            return false;
        }
        first = false;
    }
    !first
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
    /// Connections by the bytes they hold (for the budget: largest first).
    held: std::collections::BTreeSet<(usize, ConnId)>,
    /// Bytes held by all connections.
    held_bytes: usize,
    /// What the capture-wide records budget has left.
    capture: CaptureBudget,
    /// Server endpoints of unrecognised connections: attempts refused, or
    /// `None` once one was accepted (something listens there).
    refusals: HashMap<SocketAddr, Option<u32>>,
    /// TLS secrets (`--keylog`).
    keys: KeyLog,
}

impl Tracker {
    fn new(cfg: SessionConfig) -> Self {
        let mut keys = KeyLog::new(cfg.keylogs.clone());
        // Unreadable files were reported by the caller (the command line
        // checks them first); what can be read is used.
        let _ = keys.load();
        Tracker {
            capture: CaptureBudget::new(&cfg),
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
            held: std::collections::BTreeSet::new(),
            held_bytes: 0,
            refusals: HashMap::new(),
            keys,
        }
    }

    /// Bring connection `id`'s share of the budget up to date.
    fn account(&mut self, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let now = c.held_bytes();
        if now == c.accounted {
            return;
        }
        if c.accounted > 0 {
            self.held.remove(&(c.accounted, id));
        }
        if now > 0 {
            self.held.insert((now, id));
        }
        self.held_bytes = self.held_bytes + now - c.accounted;
        c.accounted = now;
    }

    /// Connection `id` leaves the table: its share goes with it.
    fn unaccount(&mut self, c: &mut Conn, id: ConnId) {
        if c.accounted > 0 {
            self.held.remove(&(c.accounted, id));
            self.held_bytes -= c.accounted;
            c.accounted = 0;
        }
    }

    /// Let the connections holding the most give up state until `target`
    /// bytes or fewer are held. Returns what was let go and on how many
    /// connections.
    fn shed_to(&mut self, target: usize) -> (Shed, u64) {
        let mut total = Shed::default();
        let mut conns = 0;
        while self.held_bytes > target {
            let Some(&(_, id)) = self.held.last() else {
                break;
            };
            let Some(c) = self.conns.get_mut(&id) else {
                break;
            };
            let mut ctx = Ctx {
                cfg: &self.cfg,
                out: &mut self.out,
                reordered: &mut self.reordered,
                capture: &mut self.capture,
            };
            let shed = c.shed(&mut ctx);
            let before = c.accounted;
            self.account(id);
            let after = self.conns.get(&id).map_or(0, |c| c.accounted);
            if !shed.freed_anything() || after >= before {
                // Nothing more to give up here: out of the running until its
                // next data (never loop on it).
                self.held.remove(&(after, id));
                continue;
            }
            total.add(shed);
            conns += 1;
        }
        (total, conns)
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
                            limit: Limit::MaxKnownBrokers,
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
                self.release(u, DetectedBy::KnownBroker);
            } else {
                i += 1;
            }
        }
    }

    fn release(&mut self, u: Unresolved, by: DetectedBy) {
        self.unresolved_records -= u.held.len() + u.close.len();
        let mut conn = u.conn;
        conn.core.held = u.held;
        let mut ctx = Ctx {
            cfg: &self.cfg,
            out: &mut self.out,
            reordered: &mut self.reordered,
            capture: &mut self.capture,
        };
        conn.core.confirm(by, &mut ctx);
        self.kafka_connections += 1;
        self.out.extend(u.close);
    }

    /// Count a closed, unrecognised connection to `server`: refused, or
    /// accepted (then the endpoint is not one that refuses everything).
    fn count_refusal(&mut self, server: SocketAddr, refused: bool) {
        // Accepting endpoints take at most half the table, so that refusing
        // ones still find room among much other traffic.
        let room = if refused {
            MAX_REFUSAL_ENDPOINTS
        } else {
            MAX_REFUSAL_ENDPOINTS / 2
        };
        if !self.refusals.contains_key(&server) && self.refusals.len() >= room {
            return;
        }
        let n = self.refusals.entry(server).or_insert(Some(0));
        *n = if refused {
            n.map(|n| n.saturating_add(1))
        } else {
            None
        };
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
            if let Some(mut c) = self.conns.remove(&id) {
                self.unaccount(&mut c, id);
                // Something answers there: not an endpoint that refuses all.
                self.count_refusal(c.core.info.b, false);
            }
            return Interest::Ignore;
        }
        Interest::Keep
    }

    fn finish(&mut self) {
        // Connections still open were closed by the reassembler's finish;
        // what is left unresolved was never recognised.
        for u in std::mem::take(&mut self.unresolved) {
            if self.brokers.contains(&u.broker) {
                self.release(u, DetectedBy::KnownBroker);
            } else if KAFKA_COMMON_PORTS.contains(&u.broker.port()) {
                self.release(u, DetectedBy::CommonPort);
            } else if u.conn.core.requests == 0
                && self
                    .refusals
                    .get(&u.broker)
                    .is_some_and(|n| n.is_some_and(|n| n >= MIN_REFUSALS))
            {
                self.release(u, DetectedBy::Refusals);
            } else if unanswered_client(&u) {
                self.release(u, DetectedBy::Unanswered);
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
        // Bytes seen on the wire, TLS or not (a connection that carried any
        // was not refused, and its server is not silent).
        c.core.data_seen |= !data.is_empty();
        if let Some(seen) = c.core.data_dirs.get_mut(dir.index()) {
            *seen |= !data.is_empty();
        }
        if !c.tls_checked && !data.is_empty() {
            // TLS is known by its first record, a ClientHello, on any port.
            c.tls_checked = true;
            if TlsConn::is_client_hello(data) == Some(true) {
                c.tls = Some(Box::new(TlsConn::new(dir)));
            }
        }
        let mut ctx = Ctx {
            cfg: &self.cfg,
            out: &mut self.out,
            reordered: &mut self.reordered,
            capture: &mut self.capture,
        };
        match c.tls.take() {
            Some(mut tls) => {
                let (mut failures, mut resyncs) = (0, 0);
                tls.data(dir, data, at, &mut self.keys, &mut |o| match o {
                    TlsOut::Plain { dir, data, at } => c.data(dir, data, at, &mut ctx),
                    TlsOut::Event { event, .. } => match event {
                        TlsEvent::DecryptFailed => failures += 1,
                        TlsEvent::Resync { .. } => resyncs += 1,
                        _ => {}
                    },
                });
                c.tls = Some(tls);
                c.tls_failures += failures;
                c.tls_resyncs += resyncs;
            }
            None => c.data(dir, data, at, &mut ctx),
        }
        let interest = self.settle(conn.id);
        self.account(conn.id);
        interest
    }

    fn on_gap(&mut self, conn: &ConnInfo, dir: Dir, len: u64, cause: GapCause, at: PacketRef) {
        let Some(c) = self.conns.get_mut(&conn.id) else {
            return;
        };
        let mut ctx = Ctx {
            cfg: &self.cfg,
            out: &mut self.out,
            reordered: &mut self.reordered,
            capture: &mut self.capture,
        };
        if let Some(mut tls) = c.tls.take() {
            // The record layer resynchronises; the plaintext lost is about
            // as long as the ciphertext.
            let mut resyncs = 0;
            tls.gap(dir, len, at, &mut |o| {
                if let TlsOut::Event {
                    event: TlsEvent::Resync { .. },
                    ..
                } = o
                {
                    resyncs += 1;
                }
            });
            c.tls = Some(tls);
            c.tls_resyncs += resyncs;
        }
        c.gap(dir, len, cause, at, &mut ctx);
        self.settle(conn.id);
        self.account(conn.id);
    }

    fn on_close(&mut self, conn: &ConnInfo, reason: CloseReason, at: PacketRef) {
        let Some(mut c) = self.conns.remove(&conn.id) else {
            return;
        };
        self.unaccount(&mut c, conn.id);
        let candidate = c.core.state == State::Candidate;
        if !candidate {
            let mut ctx = Ctx {
                cfg: &self.cfg,
                out: &mut self.out,
                reordered: &mut self.reordered,
                capture: &mut self.capture,
            };
            c.close(reason, conn.segments, at, &mut ctx);
            let kafka = matches!(c.core.state, State::Kafka(_));
            self.out
                .extend(c.tls_record(at, kafka, !self.cfg.keylogs.is_empty()));
            return;
        }
        // TLS kwire could not read is told, Kafka or not.
        self.out
            .extend(c.tls_record(at, false, !self.cfg.keylogs.is_empty()));
        // A candidate with requests but no answer, or a connection attempt
        // refused: keep it until its broker is recognised elsewhere, or the
        // capture ends.
        let refused = conn.handshake_seen
            && reason == CloseReason::Reset
            && !c.core.data_seen
            && at.ts.as_nanos() - c.core.opened_at.ts.as_nanos() <= REFUSED_WITHIN_NS;
        self.count_refusal(conn.b, refused);
        if refused {
            // The side that sent the SYN.
            c.core.client_dir = Some(Dir::AtoB);
        }
        let Some(cd) = c.core.client_dir else {
            return;
        };
        if c.core.requests == 0 && !refused {
            return;
        }
        let mut close = Vec::new();
        let mut ctx = Ctx {
            cfg: &self.cfg,
            out: &mut close,
            reordered: &mut self.reordered,
            capture: &mut self.capture,
        };
        c.close(reason, conn.segments, at, &mut ctx);
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
                    limit: Limit::MaxUnresolvedRecords,
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
            self.release(u, DetectedBy::KnownBroker);
        } else {
            self.unresolved.push_back(u);
        }
    }

    fn on_event(&mut self, conn: &ConnInfo, event: TcpEvent, at: PacketRef) {
        let kind = match event {
            TcpEvent::OooLimit { kind, limit, .. } => EventKind::Limit {
                limit: match kind {
                    OooLimitKind::Bytes => Limit::MaxOooBytes,
                    OooLimitKind::Segments => Limit::MaxOooSegments,
                    // The total is what the memory budget leaves.
                    OooLimitKind::TotalBytes => Limit::MaxMemory,
                },
                value: match kind {
                    OooLimitKind::TotalBytes => self.cfg.max_memory as u64,
                    _ => limit as u64,
                },
            },
            TcpEvent::RetransmissionMismatch {
                dir,
                offset,
                len,
                kept,
            } => {
                let Some(cd) = self.conns.get(&conn.id).and_then(|c| c.core.client_dir) else {
                    return;
                };
                let direction = if dir == cd {
                    Direction::ToBroker
                } else {
                    Direction::ToClient
                };
                EventKind::RetransmissionMismatch {
                    direction,
                    offset,
                    bytes: len,
                    kept,
                }
            }
            TcpEvent::FlowLimit { max_flows } => EventKind::Limit {
                limit: Limit::MaxFlows,
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

/// Packets that agree on a new time before the capture clock follows it;
/// also the packets judged together at the start of a capture.
pub const TIME_JUMP_CONFIRM: usize = 8;

/// A packet held while its timestamp is judged.
struct HeldPacket {
    frame: u64,
    ts: Timestamp,
    link_type: LinkType,
    data: Vec<u8>,
    orig_len: u32,
}

impl HeldPacket {
    fn of(p: &Packet<'_>) -> HeldPacket {
        HeldPacket {
            frame: p.frame,
            ts: p.ts,
            link_type: p.link_type,
            data: p.data.to_vec(),
            orig_len: p.orig_len,
        }
    }
}

fn far(a: Timestamp, b: Timestamp, limit: u64) -> bool {
    a.nanos_since(b).unsigned_abs() > u128::from(limit)
}

/// The capture clock, judged against jumps: a packet stamped far from the
/// clock is held (with the ones after it, at most [`TIME_JUMP_CONFIRM`])
/// until a packet back near the clock shows it was a stray stamp (it is then
/// processed at the clock's time and reported) or [`TIME_JUMP_CONFIRM`]
/// packets agree on the new time (the clock follows: a capture resumed
/// later, or merged files; reported too). Normal packets are not copied.
#[derive(Default)]
struct Clock {
    /// The latest trusted timestamp.
    now: Option<Timestamp>,
    held: VecDeque<HeldPacket>,
}

/// The whole pipeline for one capture.
pub struct Analyzer<S: RecordSink> {
    defrag: Defragmenter,
    tcp: Reassembler,
    tracker: Tracker,
    sink: S,
    summary: Summary,
    clock: Clock,
    last: PacketRef,
    packet_events: HashMap<&'static str, u64>,
    unsupported_links: HashSet<LinkType>,
    /// The sink failed (e.g. closed pipe): stop emitting.
    failed: Option<std::io::Error>,
    /// Topic names learnt so far, attached to the exchanges that carry
    /// their ids ([`names`]).
    topic_ids: names::TopicIds,
}

impl<S: RecordSink> Analyzer<S> {
    pub fn new(tcp: TcpConfig, session: SessionConfig, sink: S) -> Self {
        let mut tcp = tcp;
        tcp.max_total_ooo_bytes = tcp.max_total_ooo_bytes.min(session.max_memory);
        let summary = Summary {
            memory: MemorySummary {
                max_memory: session.max_memory as u64,
                ..MemorySummary::default()
            },
            ..Summary::default()
        };
        Analyzer {
            defrag: Defragmenter::new(session.defrag.clone()),
            tcp: Reassembler::new(tcp),
            tracker: Tracker::new(session),
            sink,
            summary,
            clock: Clock::default(),
            last: PacketRef::default(),
            packet_events: HashMap::new(),
            unsupported_links: HashSet::new(),
            failed: None,
            topic_ids: names::TopicIds::new(),
        }
    }

    /// The sink, between packets (several captures read as one take each
    /// analysis' records after every packet: [`crate::merge`]).
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// Emit the first record.
    pub fn begin(&mut self, info: CaptureInfo) -> std::io::Result<()> {
        self.send(Record::Capture(info));
        self.check()
    }

    fn send(&mut self, mut r: Record) {
        if self.failed.is_some() {
            return;
        }
        if let Record::Exchange(e) = &mut r {
            self.topic_ids.observe(e);
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
                if let EventKind::Limit { limit, .. } = e.kind {
                    let n = self.summary.limits.entry(limit).or_default();
                    *n += 1;
                    if *n > MAX_LIMIT_EVENTS {
                        *self.summary.suppressed_events.entry("limit").or_default() += 1;
                        return;
                    }
                }
                if let EventKind::RetransmissionMismatch { .. } = e.kind {
                    self.summary.retransmission_mismatches += 1;
                    if self.summary.retransmission_mismatches > self.tracker.cfg.max_packet_events {
                        let name = e.kind.type_name();
                        *self.summary.suppressed_events.entry(name).or_default() += 1;
                        return;
                    }
                }
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
        let limit = self.tracker.cfg.max_time_jump_ns;
        match self.clock.now {
            Some(now) if self.clock.held.is_empty() && !far(pkt.ts, now, limit) => {
                self.clock.now = Some(now.max(pkt.ts));
                self.process(pkt);
            }
            _ => {
                self.clock.held.push_back(HeldPacket::of(pkt));
                self.judge_time(false);
            }
        }
        self.check()
    }

    /// Decide on held packets: process them at their own time or the
    /// clock's. `end`: no more packets are coming.
    fn judge_time(&mut self, end: bool) {
        let limit = self.tracker.cfg.max_time_jump_ns;
        let held = &self.clock.held;
        let Some(now) = self.clock.now else {
            // The start: the time most of the first packets agree on.
            if held.len() < TIME_JUMP_CONFIRM && !end {
                return;
            }
            let mut ts: Vec<Timestamp> = held.iter().map(|p| p.ts).collect();
            ts.sort();
            let Some(&median) = ts.get(ts.len() / 2) else {
                return;
            };
            let first = held.iter().map(|p| p.ts).find(|&t| !far(t, median, limit));
            self.clock.now = first;
            return self.release_held(false);
        };
        let back = held.back().is_some_and(|p| !far(p.ts, now, limit));
        if back || end {
            // The held packets far from the clock were stray stamps.
            return self.release_held(false);
        }
        if held.len() < TIME_JUMP_CONFIRM {
            return;
        }
        // Enough packets agree (with the first held one) on a new time.
        let new = held.front().map(|p| p.ts);
        let agree = held
            .iter()
            .filter(|p| new.is_some_and(|n| !far(p.ts, n, limit)))
            .count();
        if agree * 2 > held.len()
            && let Some(new) = new
        {
            self.clock.now = Some(new);
            self.release_held(true);
        } else {
            // No agreement: the first held packet is a stray.
            self.release_first_stray();
        }
    }

    /// Process the held packets in order, each at its own time when near the
    /// clock, else at the clock's time. `moved`: the clock was just moved
    /// to the first held packet's time (a confirmed jump).
    fn release_held(&mut self, moved: bool) {
        let limit = self.tracker.cfg.max_time_jump_ns;
        let mut first = true;
        while let Some(p) = self.clock.held.pop_front() {
            let now = self.clock.now.unwrap_or(p.ts);
            if moved && first {
                self.time_jump(&p, p.ts, true);
            }
            first = false;
            let ts = if far(p.ts, now, limit) {
                self.time_jump(&p, now, false);
                now
            } else {
                self.clock.now = Some(now.max(p.ts));
                p.ts
            };
            let pkt = Packet {
                frame: p.frame,
                ts,
                link_type: p.link_type,
                data: &p.data,
                orig_len: p.orig_len,
            };
            self.process(&pkt);
        }
    }

    /// The first held packet is a stray stamp: process it at the clock's
    /// time, and judge the rest again.
    fn release_first_stray(&mut self) {
        if let Some(p) = self.clock.held.pop_front() {
            let now = self.clock.now.unwrap_or(p.ts);
            self.time_jump(&p, now, false);
            let pkt = Packet {
                frame: p.frame,
                ts: now,
                link_type: p.link_type,
                data: &p.data,
                orig_len: p.orig_len,
            };
            self.process(&pkt);
        }
        self.judge_time(false);
    }

    fn time_jump(&mut self, p: &HeldPacket, used: Timestamp, accepted: bool) {
        self.summary.time_jumps += 1;
        let at = PacketRef {
            frame: p.frame,
            ts: used,
        };
        let kind = EventKind::TimeJump {
            stamped: p.ts,
            clock: self.clock.now.unwrap_or(used),
            accepted,
        };
        self.capped(at, None, "time_jump", kind);
    }

    /// Emit an event of a kind that can repeat without bound: the first
    /// `max_packet_events` of each kind (`key`), then one `limit` event,
    /// then only the summary's count of suppressed events.
    fn capped(&mut self, at: PacketRef, stream: Option<u64>, key: &'static str, kind: EventKind) {
        let n = self.packet_events.entry(key).or_default();
        *n += 1;
        let n = *n;
        let max = self.tracker.cfg.max_packet_events;
        if n <= max {
            self.send(Record::Event(Event { at, stream, kind }));
        } else {
            *self
                .summary
                .suppressed_events
                .entry(kind.type_name())
                .or_default() += 1;
        }
        if n == max + 1 {
            self.send(Record::Event(Event {
                at,
                stream: None,
                kind: EventKind::Limit {
                    limit: Limit::MaxPacketEvents,
                    value: max,
                },
            }));
        }
    }

    /// After a packet: keep within the memory budget. The reassembler may
    /// buffer what the connections leave of it; when the connections' own
    /// state takes more, those holding the most let go first.
    fn budget(&mut self, at: PacketRef) {
        let max = self.tracker.cfg.max_memory;
        let held =
            self.tracker.held_bytes + self.tcp.buffered_bytes() + self.defrag.buffered_bytes();
        let m = &mut self.summary.memory;
        m.peak_bytes = m.peak_bytes.max(held as u64);
        if held > max {
            m.full += 1;
            let target = (max / 16 * SHED_TO_16THS).saturating_sub(self.tcp.buffered_bytes());
            let (shed, conns) = self.tracker.shed_to(target);
            let m = &mut self.summary.memory;
            m.shed.add(shed);
            m.connections_shed += conns;
            self.tracker.out.push(Record::Event(Event {
                at,
                stream: None,
                kind: EventKind::Limit {
                    limit: Limit::MaxMemory,
                    value: max as u64,
                },
            }));
        }
        let room = max.saturating_sub(self.tracker.held_bytes + self.defrag.buffered_bytes());
        self.tcp.set_max_total_ooo_bytes(room);
    }

    fn process(&mut self, pkt: &Packet<'_>) {
        let at = pkt.at();
        self.last = at;
        self.summary.packets += 1;
        self.summary.bytes += u64::from(pkt.orig_len);
        match link::decode(pkt.link_type, pkt.data) {
            Decoded::Fragment(frag) => {
                let pushed = self.defrag.push(&frag, at);
                self.defrag_events();
                match pushed {
                    Push::Complete(ip) => match link::decode(LinkType::RAW, &ip) {
                        Decoded::Fragment(_) => self.packet_event(
                            at,
                            PacketIssue::Malformed("IP fragment inside a reassembled datagram"),
                        ),
                        d => self.decoded(d, at),
                    },
                    Push::Pending => {}
                    Push::Malformed(why) => self.packet_event(at, PacketIssue::Malformed(why)),
                }
            }
            d => {
                self.defrag.advance(at);
                self.defrag_events();
                self.decoded(d, at);
            }
        }
        self.budget(at);
        self.flush();
    }

    /// A packet's (or a reassembled datagram's) headers, decoded.
    fn decoded(&mut self, d: Decoded<'_>, at: PacketRef) {
        match d {
            Decoded::Tcp(seg) => {
                if (seg.payload.len() as u64) < u64::from(seg.payload_len) {
                    self.summary.truncated_packets += 1;
                }
                self.tcp.segment(&seg, at, &mut self.tracker);
            }
            Decoded::NotTcp | Decoded::Fragment(_) => {}
            Decoded::Truncated => self.packet_event(at, PacketIssue::Truncated),
            Decoded::Malformed(why) => self.packet_event(at, PacketIssue::Malformed(why)),
            Decoded::UnsupportedLink(lt) => {
                if self.unsupported_links.insert(lt) {
                    self.packet_event(at, PacketIssue::UnsupportedLink(lt));
                }
            }
        }
    }

    /// Report the datagrams the defragmenter gave up and the fragments that
    /// contradicted others.
    fn defrag_events(&mut self) {
        for e in self.defrag.take_events() {
            let (at, issue) = match e {
                DefragEvent::Incomplete {
                    at,
                    reason,
                    first_frame,
                    fragments,
                    bytes,
                } => (
                    at,
                    PacketIssue::FragmentIncomplete {
                        reason,
                        first_frame,
                        fragments,
                        bytes,
                    },
                ),
                DefragEvent::Overlap {
                    at,
                    conflict,
                    first_frame,
                } => (
                    at,
                    PacketIssue::FragmentOverlap {
                        conflict,
                        first_frame,
                    },
                ),
            };
            self.packet_event(at, issue);
        }
    }

    /// Let time pass without a packet (live capture): expire idle state.
    pub fn tick(&mut self, now: Timestamp) -> std::io::Result<()> {
        // Packets held while their time is judged are not kept waiting for
        // more on a quiet live capture: a tick decides with what is there.
        if !self.clock.held.is_empty() {
            self.judge_time(true);
        }
        let at = PacketRef {
            frame: self.last.frame,
            ts: now,
        };
        self.defrag.advance(at);
        self.defrag_events();
        self.tcp.advance(now, at, &mut self.tracker);
        self.flush();
        if self.failed.is_none() {
            let so_far = self.snapshot();
            if let Err(e) = self
                .sink
                .progress(&so_far)
                .and_then(|()| self.sink.tick(now))
            {
                self.failed = Some(e);
            }
        }
        self.check()
    }

    /// The summary as it stands, with the counters the reassembler and the
    /// tracker keep filled in (what [`Self::finish`] sends, so far).
    fn snapshot(&self) -> Summary {
        let tcp = self.tcp.stats();
        Summary {
            tcp,
            ip_fragments: self.defrag.stats(),
            connections: tcp.connections,
            kafka_connections: self.tracker.kafka_connections,
            dropped_records: self.tracker.dropped_records,
            responses_before_request: self.tracker.reordered,
            ..self.summary.clone()
        }
    }

    fn packet_event(&mut self, at: PacketRef, issue: PacketIssue) {
        *self
            .summary
            .packet_issues
            .entry(issue.as_str())
            .or_default() += 1;
        self.capped(at, None, issue.as_str(), EventKind::Packet { issue });
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
        self.judge_time(true);
        let at = self.last;
        self.defrag.finish(at);
        self.defrag_events();
        self.tcp.finish(at, &mut self.tracker);
        self.tracker.finish();
        self.flush();
        self.summary = self.snapshot();
        let s = self.summary.clone();
        self.send(Record::Summary(Box::new(s.clone())));
        self.check()?;
        Ok((self.sink, s))
    }
}

/// What a run reads: one capture (a file, stdin or a live interface), or
/// several capture files read as one ([`crate::merge`]).
pub enum Sources {
    One(Box<dyn crate::capture::PacketSource>, CaptureInfo),
    Many(crate::merge::Captures),
}

impl Sources {
    /// A live capture (records handed over one at a time, ticked).
    pub fn live(&self) -> bool {
        match self {
            Sources::One(s, _) => s.format() == crate::capture::SourceFormat::Live,
            Sources::Many(_) => false,
        }
    }

    /// Read to the end (or `stop`) into `sink`: [`drive`] for one capture,
    /// [`crate::merge::drive`] for several.
    pub fn drive<S: RecordSink>(
        self,
        tcp: TcpConfig,
        session: SessionConfig,
        sink: S,
        stop: &std::sync::atomic::AtomicBool,
        on_drops: impl FnMut(crate::capture::DropStats),
    ) -> std::io::Result<(S, Summary)> {
        match self {
            Sources::One(mut src, info) => {
                drive(src.as_mut(), info, tcp, session, sink, stop, on_drops)
            }
            Sources::Many(c) => c.drive(tcp, session, sink, stop),
        }
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
            let drops = source.drop_stats();
            // The tick's summary so far carries them (the final one is
            // set, and told as an event, at the end).
            if drops.is_some() {
                a.summary.drops = drops;
            }
            a.tick(Timestamp::now())?;
            if let Some(d) = drops {
                on_drops(d);
            }
        }
    }
    if let Some(d) = source.drop_stats() {
        a.drops(d);
    }
    a.finish()
}
