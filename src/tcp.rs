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
//! [`StreamSink::on_event`]. Nothing panics on any segment.

pub mod assembler;

use std::net::SocketAddr;

use crate::capture::link::TcpSegment;
use crate::capture::{PacketRef, Timestamp};

/// Limits of the reassembler. Every field is a user-facing option.
#[derive(Clone, Debug)]
pub struct TcpConfig {
    /// Connections tracked at once; beyond it the least recently active one
    /// is evicted (closed with [`CloseReason::Evicted`]).
    pub max_flows: usize,
    /// Out-of-order bytes buffered per direction; beyond it the oldest hole
    /// is declared lost (a gap).
    pub max_ooo_bytes: usize,
    /// Out-of-order segments (holes) buffered per direction.
    pub max_ooo_segments: usize,
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
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Fin => "fin",
            CloseReason::Reset => "reset",
            CloseReason::Idle => "idle",
            CloseReason::Evicted => "evicted",
            CloseReason::CaptureEnd => "capture_end",
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

/// Noteworthy things the reassembler saw, besides data and gaps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpEvent {
    /// The out-of-order byte or segment limit was hit in `dir`.
    OooLimit { dir: Dir, buffered_bytes: usize },
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
    /// Most out-of-order bytes buffered at once, over all connections.
    pub peak_buffered_bytes: usize,
}

/// The connection table and per-direction assemblers.
pub struct Reassembler {
    _cfg: TcpConfig,
    stats: TcpStats,
}

impl Reassembler {
    pub fn new(cfg: TcpConfig) -> Self {
        Reassembler {
            _cfg: cfg,
            stats: TcpStats::default(),
        }
    }

    /// Process one segment.
    pub fn segment(&mut self, seg: &TcpSegment<'_>, at: PacketRef, sink: &mut impl StreamSink) {
        let _ = (seg, at, sink);
    }

    /// Let capture time advance to `now` without a segment (live idle ticks):
    /// expire idle connections and overdue holes.
    pub fn advance(&mut self, now: Timestamp, at: PacketRef, sink: &mut impl StreamSink) {
        let _ = (now, at, sink);
    }

    /// The capture ended: deliver what is buffered (holes become gaps) and
    /// close every connection with [`CloseReason::CaptureEnd`].
    pub fn finish(&mut self, at: PacketRef, sink: &mut impl StreamSink) {
        let _ = (at, sink);
    }

    pub fn stats(&self) -> TcpStats {
        self.stats
    }
}
