//! Stage 2: TCP reassembly.
//!
//! [`Reassembler`] tracks TCP connections and turns their segments into two
//! ordered byte streams each (one per direction), delivered to a
//! [`StreamSink`] as data, gaps (bytes that were sent but not captured) and
//! connection open/close. Out-of-order segments are buffered, retransmitted
//! and overlapping bytes are delivered once, lost segments become gaps.
//!
//! Contract: memory is bounded by [`TcpConfig`] (flows, buffered out-of-order
//! bytes and segments per direction) and grows only with what is in flight,
//! never with the capture's length. Hitting a limit is reported through
//! [`StreamSink::on_event`], naming the limit. Nothing panics on any segment,
//! and the work per segment is linear in its length whatever the arrival
//! order (see [`assembler`]).
//!
//! What the sink can rely on:
//! - Per connection: `on_open` first, then data, gaps and events, then
//!   `on_close` once, and nothing after it. After the sink answers
//!   [`Interest::Ignore`] there are no more callbacks for that connection,
//!   not even `on_close`.
//! - Per direction, data and gaps together cover the stream from its first
//!   byte, in order, each byte once: the stream position of a byte is the sum
//!   of the data and gap lengths before it.
//! - In-order data is the captured packet's own slice (no copy); only
//!   out-of-order data is copied, into a buffer per direction, and delivered
//!   from it in pieces of at most [`assembler::PAGE_BYTES`].
//! - Output is a deterministic function of the segments and timestamps
//!   given: no hash order reaches the sink.
//!
//! Rules, in the terms of the TCP stream:
//! - A hole is given up as [`GapCause::Lost`] once the peer's ACK passes it
//!   *and* `hole_packets` more packets (or `hole_timeout_ns`) went by, so a
//!   segment swapped with the ACK that follows it is still delivered. A FIN
//!   proves the bytes before it were sent in the same way; bytes proven only
//!   by the FIN become [`GapCause::Closed`] gaps.
//! - An ACK exactly one past the delivered data, with nothing buffered and
//!   no FIN seen, is taken to acknowledge an uncaptured FIN, not a lost byte.
//! - Where segments overlap, the first captured wins (except that an
//!   in-order segment is delivered as it is). Where the copies' bytes
//!   differ, [`TcpEvent::RetransmissionMismatch`] says so, once per segment:
//!   for a segment overlapping bytes already buffered out of order (the
//!   buffered copy is kept, [`Kept::First`]), and for an in-order segment
//!   delivered over bytes buffered earlier (the buffered copy is discarded,
//!   [`Kept::Last`]). Bytes already delivered are not kept, so a
//!   retransmission of delivered bytes cannot be compared: it is counted as
//!   retransmitted and dropped, whatever it carries.
//! - A connection closes when both directions have delivered up to their
//!   FIN, at a RST (after flushing), after `idle_timeout_ns` without packets,
//!   when evicted, when a SYN with a new ISN takes its address pair, or at
//!   [`Reassembler::finish`]. A closed connection is remembered for
//!   `min(idle_timeout_ns, 60 s)` so its late packets are dropped rather than
//!   opening a new connection.

pub mod assembler;
mod flow;
mod half;
#[doc(hidden)]
pub mod shapes;

use std::net::SocketAddr;

use crate::capture::link::TcpSegment;
use crate::capture::{PacketRef, Timestamp};
use flow::{Conn, FlowTable, Key, State};
use half::{Out, Stop};

/// Limits of the reassembler. Every field is a user-facing option.
#[derive(Clone, Debug)]
pub struct TcpConfig {
    /// Connections tracked at once; beyond it the least recently active one
    /// is evicted (closed with [`CloseReason::Evicted`]).
    pub max_flows: usize,
    /// Out-of-order bytes buffered per direction; beyond it the oldest hole
    /// is declared lost (a gap).
    pub max_ooo_bytes: usize,
    /// Out-of-order segments (holes) buffered per direction: runs of
    /// contiguous bytes. Besides its bytes, each run may hold up to two
    /// partly used pages of [`assembler::PAGE_BYTES`].
    pub max_ooo_segments: usize,
    /// Out-of-order bytes buffered over all connections; a direction that
    /// would go beyond it gives up its oldest holes.
    pub max_total_ooo_bytes: usize,
    /// A connection without packets for this long (capture time) is closed
    /// with [`CloseReason::Idle`].
    pub idle_timeout_ns: u64,
    /// A hole the peer has acknowledged (so the capture lost it) is declared
    /// lost after this long, or after `hole_packets` more packets on the
    /// connection, whichever comes first.
    pub hole_timeout_ns: u64,
    pub hole_packets: u32,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_flows: 65_536,
            max_ooo_bytes: 4 << 20,
            max_ooo_segments: 256,
            max_total_ooo_bytes: 256 << 20,
            idle_timeout_ns: 300 * 1_000_000_000,
            hole_timeout_ns: 1_000_000_000,
            hole_packets: 16,
        }
    }
}

/// A connection's index in capture order, from 0 (like Wireshark's `tcp.stream`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// A direction within a connection. `A` is the side that sent the SYN when
/// the handshake was captured, otherwise the source of the first packet seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    AtoB,
    BtoA,
}

impl Dir {
    pub fn reverse(self) -> Dir {
        match self {
            Dir::AtoB => Dir::BtoA,
            Dir::BtoA => Dir::AtoB,
        }
    }
    pub fn index(self) -> usize {
        match self {
            Dir::AtoB => 0,
            Dir::BtoA => 1,
        }
    }
}

/// What the reassembler knows about a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    pub id: ConnId,
    pub a: SocketAddr,
    pub b: SocketAddr,
    /// True when A's SYN (or B's SYN-ACK) was captured, so A is the client.
    pub handshake_seen: bool,
    /// Segments captured in each direction (by [`Dir::index`]), pure ACKs
    /// included: a side with none was not captured at all.
    pub segments: [u64; 2],
}

impl ConnInfo {
    pub fn src(&self, dir: Dir) -> SocketAddr {
        match dir {
            Dir::AtoB => self.a,
            Dir::BtoA => self.b,
        }
    }
    pub fn dst(&self, dir: Dir) -> SocketAddr {
        self.src(dir.reverse())
    }
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// FIN seen in both directions.
    Fin,
    /// RST seen.
    Reset,
    /// No packet for `idle_timeout`.
    Idle,
    /// Evicted to stay within `max_flows`.
    Evicted,
    /// The capture ended with the connection open.
    CaptureEnd,
    /// A SYN with a new initial sequence number took the address pair over
    /// before the old connection was seen to close (its FIN or RST was not
    /// captured).
    Reused,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Fin => "fin",
            CloseReason::Reset => "reset",
            CloseReason::Idle => "idle",
            CloseReason::Evicted => "evicted",
            CloseReason::CaptureEnd => "capture_end",
            CloseReason::Reused => "reused",
        }
    }
}

/// Why bytes were skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapCause {
    /// The peer acknowledged bytes the capture does not have.
    Lost,
    /// The out-of-order buffer limit forced the hole to be given up.
    BufferLimit,
    /// The connection closed or the capture ended with a hole outstanding.
    Closed,
    /// The snaplen cut the segment's payload.
    Snaplen,
}

impl GapCause {
    pub fn as_str(self) -> &'static str {
        match self {
            GapCause::Lost => "lost",
            GapCause::BufferLimit => "buffer_limit",
            GapCause::Closed => "closed",
            GapCause::Snaplen => "snaplen",
        }
    }
}

/// Which out-of-order buffer limit was hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OooLimitKind {
    /// `max_ooo_bytes`: bytes buffered in one direction.
    Bytes,
    /// `max_ooo_segments`: runs (holes) buffered in one direction.
    Segments,
    /// `max_total_ooo_bytes`: bytes buffered over all connections; this
    /// direction could hold only what the others left.
    TotalBytes,
}

impl OooLimitKind {
    /// The name of the limit's option.
    pub fn as_str(self) -> &'static str {
        match self {
            OooLimitKind::Bytes => "max_ooo_bytes",
            OooLimitKind::Segments => "max_ooo_segments",
            OooLimitKind::TotalBytes => "max_total_ooo_bytes",
        }
    }
}

/// Which copy of differing overlapping bytes was delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    /// The copy buffered first; the new segment's bytes were discarded.
    First,
    /// The in-order segment's; the differing buffered copy was discarded.
    Last,
}

impl Kept {
    /// The NDJSON `kept`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kept::First => "first",
            Kept::Last => "last",
        }
    }
}

/// Noteworthy things the reassembler saw, besides data and gaps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpEvent {
    /// An out-of-order buffer limit was hit in `dir`: its oldest holes are
    /// given up (gaps of [`GapCause::BufferLimit`]) until it is within them.
    OooLimit {
        dir: Dir,
        kind: OooLimitKind,
        /// The configured value of the limit `kind` names.
        limit: usize,
        /// What `dir` held when the limit was hit.
        buffered_bytes: usize,
        buffered_segments: usize,
    },
    /// A segment overlapping bytes held (buffered, not yet delivered) carries
    /// different bytes there. One event per segment.
    RetransmissionMismatch {
        dir: Dir,
        /// Stream offset of the first differing byte.
        offset: u64,
        /// How many bytes of the overlap differ.
        len: u64,
        kept: Kept,
    },
    /// The flow table was full; the connection given was evicted.
    FlowLimit { max_flows: usize },
}

/// Whether the sink wants more of a connection. `Ignore` lets the
/// reassembler stop buffering it (its packets are then counted only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    Keep,
    Ignore,
}

/// Receives what the reassembler makes of the segments.
///
/// `at` is always the packet being processed: the one that made the bytes
/// contiguous, so a message completed by it gets its frame number.
pub trait StreamSink {
    fn on_open(&mut self, conn: &ConnInfo, at: PacketRef) -> Interest;
    /// In-order bytes of `dir`, each delivered exactly once.
    fn on_data(&mut self, conn: &ConnInfo, dir: Dir, data: &[u8], at: PacketRef) -> Interest;
    /// `len` bytes of `dir` that will never be delivered.
    fn on_gap(&mut self, conn: &ConnInfo, dir: Dir, len: u64, cause: GapCause, at: PacketRef);
    fn on_close(&mut self, conn: &ConnInfo, reason: CloseReason, at: PacketRef);
    fn on_event(&mut self, conn: &ConnInfo, event: TcpEvent, at: PacketRef);
}

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpStats {
    pub segments: u64,
    pub connections: u64,
    pub retransmitted_bytes: u64,
    pub out_of_order_segments: u64,
    pub gap_bytes: u64,
    pub evicted: u64,
    /// Segments whose overlap with bytes held differed
    /// ([`TcpEvent::RetransmissionMismatch`] events, not bytes).
    pub retransmission_mismatches: u64,
    /// Most out-of-order bytes buffered at once, over all connections.
    pub peak_buffered_bytes: usize,
}

/// How long a closed connection is remembered (capped by `idle_timeout_ns`),
/// so late retransmissions and final ACKs are recognised and ignored instead
/// of starting a new connection. Linux keeps TIME_WAIT for 60 s.
const CLOSED_LINGER_NS: u64 = 60_000_000_000;

/// Timeouts (idle connections, overdue holes) are checked once per second of
/// capture time, not per packet.
const TICK_NS: i64 = 1_000_000_000;

/// The connection table and per-direction assemblers.
pub struct Reassembler {
    cfg: TcpConfig,
    stats: TcpStats,
    table: FlowTable,
    next_id: u64,
    /// Capture clock: the latest timestamp seen, in ns (capture timestamps
    /// can go backwards; the clock does not).
    clock: Option<i64>,
    next_tick: i64,
    /// Out-of-order bytes buffered now, over all connections.
    buffered: usize,
}

/// What a segment for a known address pair means.
enum Found {
    Use(usize),
    /// A late packet of a closed connection.
    Drop,
    New,
}

fn ns_of(ts: Timestamp) -> i64 {
    ts.as_nanos().clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

fn ns_limit(ns: u64) -> i64 {
    ns.min(i64::MAX as u64) as i64
}

fn dir_of(info: &ConnInfo, seg: &TcpSegment<'_>) -> Dir {
    if seg.src == info.a {
        Dir::AtoB
    } else {
        Dir::BtoA
    }
}

/// A SYN that cannot belong to the connection: its ISN differs from the one
/// the connection started with (a retransmitted SYN has the same ISN).
fn starts_new(c: &Conn, seg: &TcpSegment<'_>) -> bool {
    if !seg.flags.syn() {
        return false;
    }
    let h = &c.halves[dir_of(&c.info, seg).index()];
    if h.started() {
        seg.seq.wrapping_add(1) != h.base_seq()
    } else {
        c.state == State::Closed
    }
}

impl Reassembler {
    pub fn new(cfg: TcpConfig) -> Self {
        Reassembler {
            cfg,
            stats: TcpStats::default(),
            table: FlowTable::new(),
            next_id: 0,
            clock: None,
            next_tick: 0,
            buffered: 0,
        }
    }

    /// Process one segment.
    pub fn segment(&mut self, seg: &TcpSegment<'_>, at: PacketRef, sink: &mut impl StreamSink) {
        self.stats.segments += 1;
        self.set_clock(at.ts, at, sink);
        let key = Key::new(seg.src, seg.dst);
        let found = match self.table.find(&key) {
            Some(i) => self.existing(i, seg, at, sink),
            None => Found::New,
        };
        let i = match found {
            Found::Use(i) => i,
            Found::Drop => return,
            Found::New => self.open(key, seg, at, sink),
        };
        self.process(i, seg, at, sink);
    }

    /// Let capture time advance to `now` without a segment (live idle ticks):
    /// expire idle connections and overdue holes.
    pub fn advance(&mut self, now: Timestamp, at: PacketRef, sink: &mut impl StreamSink) {
        self.set_clock(now, at, sink);
    }

    /// The capture ended: deliver what is buffered (holes become gaps) and
    /// close every connection with [`CloseReason::CaptureEnd`].
    pub fn finish(&mut self, at: PacketRef, sink: &mut impl StreamSink) {
        let mut open: Vec<usize> = self.table.open_slots().collect();
        open.sort_by_key(|&i| self.table.conn(i).info.id);
        for i in open {
            self.close(i, CloseReason::CaptureEnd, at, sink);
        }
        self.table.clear();
        self.buffered = 0;
    }

    pub fn stats(&self) -> TcpStats {
        self.stats
    }

    /// Connections held (open, ignored, and closed ones still remembered).
    pub fn tracked(&self) -> usize {
        self.table.len()
    }

    /// Out-of-order bytes buffered now, over all connections.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Change the limit on out-of-order bytes over all connections (the
    /// caller's memory budget, less what the later stages hold). Takes
    /// effect at the next segment; what is buffered beyond it stays until
    /// its direction next receives data.
    pub fn set_max_total_ooo_bytes(&mut self, n: usize) {
        self.cfg.max_total_ooo_bytes = n;
    }

    fn now(&self) -> i64 {
        self.clock.unwrap_or(0)
    }

    fn set_clock(&mut self, ts: Timestamp, at: PacketRef, sink: &mut impl StreamSink) {
        let ns = ns_of(ts);
        match self.clock {
            None => {
                self.clock = Some(ns);
                self.next_tick = ns.saturating_add(TICK_NS);
            }
            Some(c) if ns > c => self.clock = Some(ns),
            Some(_) => {}
        }
        let now = self.now();
        if now >= self.next_tick {
            self.tick(at, sink);
            self.next_tick = now.saturating_add(TICK_NS);
        }
    }

    fn account(&mut self, before: usize, after: usize) {
        self.buffered = (self.buffered + after).saturating_sub(before);
        self.stats.peak_buffered_bytes = self.stats.peak_buffered_bytes.max(self.buffered);
    }

    fn linger_ns(&self) -> i64 {
        ns_limit(CLOSED_LINGER_NS.min(self.cfg.idle_timeout_ns))
    }

    /// Expire idle connections, forget old closed ones, give up overdue holes.
    fn tick(&mut self, at: PacketRef, sink: &mut impl StreamSink) {
        let now = self.now();
        let idle = ns_limit(self.cfg.idle_timeout_ns);
        while let Some(i) = self.table.oldest_open()
            && now.saturating_sub(self.table.conn(i).last_ns) > idle
        {
            self.close(i, CloseReason::Idle, at, sink);
            self.table.remove(i);
        }
        let linger = self.linger_ns();
        while let Some(i) = self.table.oldest_closed()
            && now.saturating_sub(self.table.conn(i).last_ns) > linger
        {
            self.table.remove(i);
        }
        // Holes acknowledged on connections that went quiet. Slot order is a
        // function of the input, so the callback order is deterministic.
        for i in 0..self.table.slot_count() {
            let c = self.table.conn_mut(i);
            if c.state != State::Open || !(c.halves[0].has_arm() || c.halves[1].has_arm()) {
                continue;
            }
            let before = c.buffered();
            let result = check_arms(c, now, &self.cfg, at, sink, &mut self.stats);
            let after = c.buffered();
            self.account(before, after);
            match result {
                Err(Stop) => self.ignore(i),
                Ok(true) => self.close(i, CloseReason::Fin, at, sink),
                Ok(false) => {}
            }
        }
    }

    /// A segment for a connection in the table: use it, drop it, or replace it.
    fn existing(
        &mut self,
        i: usize,
        seg: &TcpSegment<'_>,
        at: PacketRef,
        sink: &mut impl StreamSink,
    ) -> Found {
        let c = self.table.conn(i);
        let quiet = self.now().saturating_sub(c.last_ns);
        if c.state == State::Closed {
            if quiet > self.linger_ns() || starts_new(c, seg) {
                self.table.remove(i);
                return Found::New;
            }
            return Found::Drop;
        }
        let reason = if quiet > ns_limit(self.cfg.idle_timeout_ns) {
            CloseReason::Idle
        } else if starts_new(c, seg) {
            CloseReason::Reused
        } else {
            return Found::Use(i);
        };
        self.close(i, reason, at, sink);
        self.table.remove(i);
        Found::New
    }

    /// Start a connection for `seg` (evicting one if the table is full).
    fn open(
        &mut self,
        key: Key,
        seg: &TcpSegment<'_>,
        at: PacketRef,
        sink: &mut impl StreamSink,
    ) -> usize {
        self.make_room(at, sink);
        let (syn, ack) = (seg.flags.syn(), seg.flags.ack());
        let (a, b, handshake_seen) = match (syn, ack) {
            (true, false) => (seg.src, seg.dst, true),
            (true, true) => (seg.dst, seg.src, true),
            _ => (seg.src, seg.dst, false),
        };
        let info = ConnInfo {
            id: ConnId(self.next_id),
            a,
            b,
            handshake_seen,
            segments: [0; 2],
        };
        self.next_id += 1;
        self.stats.connections += 1;
        let i = self.table.insert(Conn::new(info, key, self.now()));
        if sink.on_open(&info, at) == Interest::Ignore {
            self.table.set_state(i, State::Ignored);
        }
        i
    }

    /// Keep the table within `max_flows`: forget the oldest closed
    /// connection, or else evict the least recently active open one.
    fn make_room(&mut self, at: PacketRef, sink: &mut impl StreamSink) {
        let max = self.cfg.max_flows.max(1);
        while self.table.len() >= max {
            if let Some(i) = self.table.oldest_closed() {
                self.table.remove(i);
                continue;
            }
            let Some(i) = self.table.oldest_open() else {
                break;
            };
            self.stats.evicted += 1;
            let c = self.table.conn(i);
            if c.state == State::Open {
                let event = TcpEvent::FlowLimit {
                    max_flows: self.cfg.max_flows,
                };
                sink.on_event(&c.info, event, at);
            }
            self.close(i, CloseReason::Evicted, at, sink);
            self.table.remove(i);
        }
    }

    /// Flush connection `i` (holes become gaps), report its close unless it
    /// is ignored, and keep it as closed.
    fn close(&mut self, i: usize, reason: CloseReason, at: PacketRef, sink: &mut impl StreamSink) {
        let c = self.table.conn_mut(i);
        let before = c.buffered();
        if c.state == State::Open {
            let info = c.info;
            let mut keep = true;
            for dir in [Dir::AtoB, Dir::BtoA] {
                let mut out = Out {
                    sink: &mut *sink,
                    info,
                    dir,
                    at,
                    stats: &mut self.stats,
                    total_limit: None,
                };
                if c.halves[dir.index()].flush(&mut out).is_err() {
                    keep = false;
                    break;
                }
            }
            if keep {
                sink.on_close(&info, reason, at);
            }
        }
        self.table.set_state(i, State::Closed);
        self.account(before, 0);
    }

    /// The sink lost interest in connection `i`: drop its buffers, go quiet.
    fn ignore(&mut self, i: usize) {
        let c = self.table.conn_mut(i);
        let before = c.buffered();
        for h in &mut c.halves {
            h.release();
        }
        self.table.set_state(i, State::Ignored);
        self.account(before, 0);
    }

    /// Apply `seg` to open (or ignored) connection `i`.
    fn process(
        &mut self,
        i: usize,
        seg: &TcpSegment<'_>,
        at: PacketRef,
        sink: &mut impl StreamSink,
    ) {
        let now = self.now();
        self.table.touch(i);
        let c = self.table.conn_mut(i);
        c.packets += 1;
        c.last_ns = now;
        let d = dir_of(&c.info, seg);
        if let Some(n) = c.info.segments.get_mut(d.index()) {
            *n = n.saturating_add(1);
        }
        let flags = seg.flags;
        // Where each direction's stream starts.
        if flags.syn() {
            let h = &mut c.halves[d.index()];
            if !h.started() {
                h.start(seg.seq.wrapping_add(1));
            }
            // The SYN-ACK acknowledges the SYN: the peer's stream starts there.
            let peer = &mut c.halves[d.reverse().index()];
            if flags.ack() && !peer.started() {
                peer.start(seg.ack);
            }
        } else if !c.halves[d.index()].started() {
            c.halves[d.index()].start(seg.seq);
        }
        if flags.fin() {
            c.fin_seen[d.index()] = true;
        }
        if flags.rst() {
            self.close(i, CloseReason::Reset, at, sink);
            return;
        }
        match c.state {
            State::Open => {}
            State::Ignored => {
                if c.fin_seen == [true, true] {
                    self.table.set_state(i, State::Closed);
                }
                return;
            }
            State::Closed | State::Free => return,
        }
        let before = c.buffered();
        // Within the global budget: this direction may hold what the others
        // leave of `max_total_ooo_bytes`, if that is less than its own limit.
        let others = self.buffered.saturating_sub(c.halves[d.index()].buffered());
        let room = self.cfg.max_total_ooo_bytes.saturating_sub(others);
        let shrunk;
        let total = room < self.cfg.max_ooo_bytes;
        let cfg = if total {
            shrunk = TcpConfig {
                max_ooo_bytes: room,
                ..self.cfg.clone()
            };
            &shrunk
        } else {
            &self.cfg
        };
        let total_limit = total.then_some(self.cfg.max_total_ooo_bytes);
        let result = apply(
            c,
            d,
            seg,
            now,
            (cfg, total_limit),
            at,
            sink,
            &mut self.stats,
        );
        let after = c.buffered();
        self.account(before, after);
        match result {
            Err(Stop) => self.ignore(i),
            Ok(true) => self.close(i, CloseReason::Fin, at, sink),
            Ok(false) => {}
        }
    }
}

/// The data, FIN and ACK of `seg` in direction `d` of open connection `c`.
/// Returns whether both directions have now delivered everything up to
/// their FIN.
#[allow(clippy::too_many_arguments)]
fn apply<S: StreamSink>(
    c: &mut Conn,
    d: Dir,
    seg: &TcpSegment<'_>,
    now: i64,
    (cfg, total_limit): (&TcpConfig, Option<usize>),
    at: PacketRef,
    sink: &mut S,
    stats: &mut TcpStats,
) -> Result<bool, Stop> {
    if seg.flags.ack() {
        c.halves[d.reverse().index()].on_ack(seg.ack, c.packets, now);
    }
    let h = &mut c.halves[d.index()];
    // A SYN's data starts after the SYN's sequence number.
    let start = h.offset(seg.seq) + i64::from(seg.flags.syn());
    let wire_len = u64::from(seg.payload_len).max(seg.payload.len() as u64);
    if wire_len > 0 {
        let mut out = Out {
            sink: &mut *sink,
            info: c.info,
            dir: d,
            at,
            stats: &mut *stats,
            total_limit,
        };
        h.receive(start, seg.payload, wire_len, cfg, &mut out)?;
    }
    if seg.flags.fin() {
        h.set_fin(start + wire_len as i64, c.packets, now);
    }
    check_arms(c, now, cfg, at, sink, stats)
}

/// Give up overdue holes in both directions. Returns whether both
/// directions have now delivered everything up to their FIN.
fn check_arms<S: StreamSink>(
    c: &mut Conn,
    now: i64,
    cfg: &TcpConfig,
    at: PacketRef,
    sink: &mut S,
    stats: &mut TcpStats,
) -> Result<bool, Stop> {
    for dir in [Dir::AtoB, Dir::BtoA] {
        let h = &mut c.halves[dir.index()];
        if h.has_arm() {
            let mut out = Out {
                sink: &mut *sink,
                info: c.info,
                dir,
                at,
                stats: &mut *stats,
                total_limit: None,
            };
            h.check_arm(c.packets, now, cfg, &mut out)?;
        }
    }
    Ok(c.halves[0].done() && c.halves[1].done())
}

#[cfg(test)]
mod tests;
