//! Hostile arrival orders for the out-of-order buffer, kept here so the
//! reassembly benchmark (`benches/reassembly.rs`), the memory test
//! (`tests/tcp_memory.rs`) and the unit tests feed the same shapes.
//!
//! A shape is a plan: the `(offset, len)` segments of one direction of one
//! connection in arrival order, covering `0..len` of the stream exactly once.
//! [`feed`] plays a plan through a [`Reassembler`] as one connection, and
//! [`Check`] verifies what comes out against the stream without keeping it.
//!
//! Not part of kwire's interface (hidden from the docs).

use std::net::SocketAddr;

use super::{CloseReason, ConnInfo, Dir, GapCause, Interest, Reassembler, StreamSink, TcpEvent};
use crate::capture::link::{TcpFlags, TcpSegment};
use crate::capture::{PacketRef, Timestamp};

/// One segment: stream offset and length.
pub type Seg = (u64, usize);

/// A tiny deterministic pseudo-random generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Prng(pub u64);

impl Prng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// Fisher-Yates.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// `len` pseudo-random bytes: a misplaced byte shows.
pub fn stream(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Prng(seed);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let word = rng.next_u64().to_le_bytes();
        out.extend_from_slice(&word[..(len - out.len()).min(8)]);
    }
    out
}

/// Segment `i` of a stream of `len` bytes cut into `seg`-byte segments.
fn nth(len: u64, seg: usize, i: u64) -> Seg {
    let off = i * seg as u64;
    (off, (len - off).min(seg as u64) as usize)
}

/// Segments of `seg` (at least 1) bytes, and segments per window of
/// `window` bytes (at least 1).
fn counts(len: u64, seg: usize, window: u64) -> (usize, u64, u64) {
    let seg = seg.max(1);
    let n = len.div_ceil(seg as u64);
    let per_window = (window / seg as u64).max(1);
    (seg, n, per_window)
}

/// The segments of the windows of `window` bytes, in order, each window's
/// segment indices arranged by `order`.
fn by_window<I: Iterator<Item = u64>>(
    len: u64,
    seg: usize,
    window: u64,
    mut order: impl FnMut(u64, u64) -> I,
) -> impl Iterator<Item = Seg> {
    let (seg, n, per) = counts(len, seg, window);
    (0..n.div_ceil(per)).flat_map(move |w| {
        let lo = w * per;
        order(lo, (lo + per).min(n)).map(move |i| nth(len, seg, i))
    })
}

/// Everything in order: the baseline.
pub fn in_order(len: u64, seg: usize) -> impl Iterator<Item = Seg> {
    let (seg, n, _) = counts(len, seg, 1);
    (0..n).map(move |i| nth(len, seg, i))
}

/// Last segment first: every segment is placed in front of one run.
pub fn descending(len: u64, seg: usize) -> impl Iterator<Item = Seg> {
    let (seg, n, _) = counts(len, seg, 1);
    (0..n).rev().map(move |i| nth(len, seg, i))
}

/// Windows of `window` bytes in order, each window's segments last first.
pub fn descending_in_windows(len: u64, seg: usize, window: u64) -> impl Iterator<Item = Seg> {
    by_window(len, seg, window, |lo, hi| (lo..hi).rev())
}

/// Windows of `window` bytes in order, each window's segments in a random
/// order.
pub fn shuffled_in_windows(
    len: u64,
    seg: usize,
    window: u64,
    seed: u64,
) -> impl Iterator<Item = Seg> {
    let mut rng = Prng(seed);
    by_window(len, seg, window, move |lo, hi| {
        let mut v: Vec<u64> = (lo..hi).collect();
        rng.shuffle(&mut v);
        v.into_iter()
    })
}

/// Windows of `window` bytes in order; in each, every other segment first
/// (a hole before each), then the holes filled last first, the one in
/// order last.
pub fn holes_filled_later(len: u64, seg: usize, window: u64) -> impl Iterator<Item = Seg> {
    by_window(len, seg, window, |lo, hi| {
        (lo..hi)
            .filter(move |i| (i - lo) % 2 == 1)
            .chain((lo..hi).rev().filter(move |i| (i - lo) % 2 == 0))
    })
}

/// One byte every `every` bytes (each its own run, each in its own page
/// when `every` is larger than a page), then the bytes between them in
/// order: the most buffer pages per byte held.
pub fn sparse_then_rest(len: u64, every: u64) -> impl Iterator<Item = Seg> {
    let every = every.max(2);
    let n = len.div_ceil(every);
    let singles = (1..n).map(move |k| (k * every, 1));
    let rest = (0..n).filter_map(move |k| {
        let from = k * every + u64::from(k > 0);
        let to = ((k + 1) * every).min(len);
        (from < to).then(|| (from, (to - from) as usize))
    });
    singles.chain(rest)
}

/// The client's initial sequence number in [`feed`]: offset `o` is sequence
/// number `CLIENT_ISN + 1 + o`.
pub const CLIENT_ISN: u32 = 1000;

/// The packet `frame`, 1 µs after the one before.
pub fn packet(frame: u64) -> PacketRef {
    PacketRef {
        frame,
        ts: Timestamp::new(
            1_700_000_000 + (frame / 1_000_000) as i64,
            (frame % 1_000_000) as u32 * 1000,
        ),
    }
}

/// Play `plan` (over `stream`) as one client-to-server connection: the
/// handshake, one packet per segment, then [`Reassembler::finish`].
pub fn feed(
    r: &mut Reassembler,
    sink: &mut impl StreamSink,
    stream: &[u8],
    plan: impl IntoIterator<Item = Seg>,
) {
    let last = feed_open(r, sink, stream, plan);
    r.finish(packet(last), sink);
}

/// [`feed`] without the finish: the connection stays open. Returns the
/// last frame number.
pub fn feed_open(
    r: &mut Reassembler,
    sink: &mut impl StreamSink,
    stream: &[u8],
    plan: impl IntoIterator<Item = Seg>,
) -> u64 {
    let client = SocketAddr::from(([10, 0, 0, 1], 40_000));
    let server = SocketAddr::from(([10, 0, 0, 2], 9092));
    let seg = |src, dst, seq, ack, flags, payload| TcpSegment {
        src,
        dst,
        seq,
        ack,
        flags: TcpFlags(flags),
        window: 1000,
        payload,
        payload_len: payload.len() as u32,
    };
    let (syn, ack, psh) = (TcpFlags::SYN, TcpFlags::ACK, TcpFlags::PSH);
    let data_seq = CLIENT_ISN.wrapping_add(1);
    let mut frame = 0;
    let mut send = |r: &mut Reassembler, sink: &mut _, s: TcpSegment<'_>| {
        frame += 1;
        r.segment(&s, packet(frame), sink);
        frame
    };
    send(r, sink, seg(client, server, CLIENT_ISN, 0, syn, &[]));
    send(r, sink, seg(server, client, 5000, data_seq, syn | ack, &[]));
    send(r, sink, seg(client, server, data_seq, 5001, ack, &[]));
    for (off, len) in plan {
        let Some(payload) = stream.get(off as usize..off as usize + len) else {
            continue;
        };
        let seq = data_seq.wrapping_add(off as u32);
        send(r, sink, seg(client, server, seq, 5001, ack | psh, payload));
    }
    send(r, sink, seg(server, client, 5001, data_seq, ack, &[]))
}

/// A sink that checks the client's stream against the bytes sent, keeping
/// only counts.
#[derive(Debug)]
pub struct Check<'a> {
    pub stream: &'a [u8],
    /// Stream position reached (data and gaps).
    pub pos: u64,
    pub data_bytes: u64,
    pub data_calls: u64,
    pub gap_bytes: u64,
    /// Data bytes that were not the stream's bytes at their position.
    pub wrong: u64,
    pub events: u64,
    pub closed: bool,
}

impl<'a> Check<'a> {
    pub fn new(stream: &'a [u8]) -> Self {
        Check {
            stream,
            pos: 0,
            data_bytes: 0,
            data_calls: 0,
            gap_bytes: 0,
            wrong: 0,
            events: 0,
            closed: false,
        }
    }

    /// Everything delivered, once, in order, without a gap.
    pub fn exact(&self) -> bool {
        self.closed
            && self.wrong == 0
            && self.gap_bytes == 0
            && self.data_bytes == self.stream.len() as u64
    }
}

impl StreamSink for Check<'_> {
    fn on_open(&mut self, _: &ConnInfo, _: PacketRef) -> Interest {
        Interest::Keep
    }

    fn on_data(&mut self, _: &ConnInfo, dir: Dir, data: &[u8], _: PacketRef) -> Interest {
        if dir == Dir::AtoB {
            let start = (self.pos as usize).min(self.stream.len());
            let want = &self.stream[start..(start + data.len()).min(self.stream.len())];
            if want != data {
                let same = want.iter().zip(data).filter(|(a, b)| a == b).count();
                self.wrong += (data.len() - same) as u64;
            }
            self.pos += data.len() as u64;
            self.data_bytes += data.len() as u64;
            self.data_calls += 1;
        }
        Interest::Keep
    }

    fn on_gap(&mut self, _: &ConnInfo, dir: Dir, len: u64, _: GapCause, _: PacketRef) {
        if dir == Dir::AtoB {
            self.pos += len;
            self.gap_bytes += len;
        }
    }

    fn on_close(&mut self, _: &ConnInfo, _: CloseReason, _: PacketRef) {
        self.closed = true;
    }

    fn on_event(&mut self, _: &ConnInfo, _: TcpEvent, _: PacketRef) {
        self.events += 1;
    }
}
