//! How far apart the captures' clocks are, from the TCP segments two
//! captures both saw.
//!
//! A segment seen by capture A at `ta` and by capture B at `tb` says
//! `tb - ta = θ + d`, where `θ` is how far B's clock is ahead of A's and `d`
//! the time the segment took from A's vantage point to B's: positive when A
//! is upstream (it saw the segment first), negative when B is. On one
//! connection the two directions go opposite ways, so one direction's
//! differences are all at least `θ` and the other's at most `θ`: the
//! smallest difference of the first and the largest of the second bound
//! `θ` from both sides, as NTP bounds a clock with a request and its reply.
//! Over all the connections both captures saw, the tightest bounds are
//! kept; their middle is the estimate, half their width its error.
//!
//! Segments are matched by what both ends see alike whatever addresses
//! NAT rewrites: sequence and acknowledgement numbers, length, the
//! SYN/FIN/RST flags and the first payload bytes. Memory is bounded by
//! sampling on the key's hash ([`MAX_SYNC_SEGMENTS`] per capture): both
//! captures keep the same segments, so the sample still matches.

use std::net::SocketAddr;

use foldhash::{HashMap, HashMapExt};

use crate::capture::Timestamp;
use crate::capture::link::TcpSegment;

/// Segments remembered per capture for matching; beyond it, a hash-chosen
/// half is forgotten and the sample made sparser (the same segments in
/// every capture).
pub const MAX_SYNC_SEGMENTS: usize = 1 << 18;

/// Connections (address pairs) remembered per capture; segments of later
/// ones are not sampled.
pub const MAX_SYNC_CONNECTIONS: usize = 1 << 16;

/// Segments two captures must share before their clocks are compared.
pub const MIN_SHARED_SEGMENTS: u64 = 4;

/// Payload bytes that go into a segment's key.
const KEY_PAYLOAD: usize = 16;

/// The sample's threshold starts with every hash kept.
const FULL: u64 = 1 << 24;

/// A segment in one capture: when it was seen, on which connection, which
/// way.
#[derive(Clone, Copy, Debug)]
struct Seen {
    ns: i128,
    conn: u32,
    /// From the higher address to the lower.
    down: bool,
}

/// The segments one capture saw, sampled.
#[derive(Debug)]
pub struct Segments {
    seen: HashMap<u64, Seen>,
    /// Hashes below this (their top 24 bits) are kept.
    threshold: u64,
    conns: Vec<(SocketAddr, SocketAddr)>,
    conn_index: HashMap<(SocketAddr, SocketAddr), u32>,
    /// TCP segments looked at.
    pub segments: u64,
}

impl Default for Segments {
    fn default() -> Self {
        Segments {
            seen: HashMap::new(),
            threshold: FULL,
            conns: Vec::new(),
            conn_index: HashMap::new(),
            segments: 0,
        }
    }
}

/// A 64-bit mix (splitmix64's finaliser): the same in every run and
/// process, which matching across captures needs.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What identifies a segment at both ends of a path.
fn key(seg: &TcpSegment<'_>) -> u64 {
    let flags = u64::from(seg.flags.syn()) | u64::from(seg.flags.fin()) << 1 | {
        u64::from(seg.flags.rst()) << 2
    };
    let ack = if seg.flags.ack() { seg.ack } else { 0 };
    let mut h = mix(u64::from(seg.seq) << 32 | u64::from(ack));
    h = mix(h ^ u64::from(seg.payload_len) << 8 ^ flags);
    let head = seg.payload.get(..KEY_PAYLOAD).unwrap_or(seg.payload);
    for chunk in head.chunks(8) {
        let mut b = [0u8; 8];
        for (d, s) in b.iter_mut().zip(chunk) {
            *d = *s;
        }
        h = mix(h ^ u64::from_le_bytes(b));
    }
    h
}

impl Segments {
    /// Note one TCP segment seen at `ts`.
    pub fn observe(&mut self, ts: Timestamp, seg: &TcpSegment<'_>) {
        self.segments += 1;
        let h = key(seg);
        if h >> 40 >= self.threshold {
            return;
        }
        let down = seg.src > seg.dst;
        let pair = if down {
            (seg.dst, seg.src)
        } else {
            (seg.src, seg.dst)
        };
        let conn = match self.conn_index.get(&pair) {
            Some(&c) => c,
            None if self.conns.len() < MAX_SYNC_CONNECTIONS => {
                let c = self.conns.len() as u32;
                self.conns.push(pair);
                self.conn_index.insert(pair, c);
                c
            }
            None => return,
        };
        // The first sighting counts: a retransmission only lengthens the
        // path's apparent delay, which the bounds do not use.
        self.seen.entry(h).or_insert(Seen {
            ns: ts.as_nanos(),
            conn,
            down,
        });
        while self.seen.len() > MAX_SYNC_SEGMENTS && self.threshold > 1 {
            self.threshold /= 2;
            let t = self.threshold;
            self.seen.retain(|h, _| h >> 40 < t);
        }
    }

    /// Segments kept in the sample.
    pub fn sampled(&self) -> usize {
        self.seen.len()
    }
}

/// How far one capture's clock is from another's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offset {
    /// How far the second capture's clock is ahead of the first's, ns.
    pub offset_ns: i128,
    /// Half the width of the bounds the segments set (how far off the
    /// estimate may be), ns.
    pub error_ns: i128,
    /// Segments both captures saw (of the samples).
    pub shared: u64,
    /// Connections both captures saw in both directions (the ones that
    /// bound the offset from both sides).
    pub connections: u64,
    /// The bounds disagree (clocks drifting apart during the captures, or
    /// paths much slower one way): the estimate is the connections' median.
    pub inconsistent: bool,
    /// How fast the second clock runs ahead of the first, ns per s (parts
    /// per billion; 0 when none was seen or the capture is short).
    pub drift_ppb: i64,
    /// When `offset_ns` holds, on the first capture's clock (ns since the
    /// epoch): the first shared segment.
    pub at_ns: i128,
}

/// One direction of a connection: the differences `tb - ta` of its shared
/// segments.
#[derive(Clone, Copy, Debug)]
struct Spread {
    min: i128,
    max: i128,
    sum: i128,
    n: u64,
}

impl Spread {
    fn new(d: i128) -> Spread {
        Spread {
            min: d,
            max: d,
            sum: d,
            n: 1,
        }
    }

    fn add(&mut self, d: i128) {
        self.min = self.min.min(d);
        self.max = self.max.max(d);
        self.sum += d;
        self.n += 1;
    }

    fn mean(&self) -> i128 {
        self.sum / i128::from(self.n.max(1))
    }
}

/// The connections both captures saw: for each of `a`'s connections the
/// one of `b`'s that shared most segments with it.
pub type ConnMatch = Vec<((SocketAddr, SocketAddr), (SocketAddr, SocketAddr))>;

/// One segment both captures saw: when `a` saw it, `tb - ta`, on which of
/// `a`'s connections, which way.
#[derive(Clone, Copy)]
struct Shared {
    ta: i128,
    d: i128,
    conn: u32,
    down: bool,
}

/// What a set of shared segments says of the offset, once `trend(ta)` is
/// taken off each difference: the middle, the half width, whether the
/// connections' bounds agree, and how many connections were seen both ways.
fn bound(samples: &[Shared], trend: impl Fn(i128) -> i128) -> Option<(i128, i128, bool, u64)> {
    let mut dirs: HashMap<(u32, bool), Spread> = HashMap::new();
    for x in samples {
        let d = x.d - trend(x.ta);
        dirs.entry((x.conn, x.down))
            .and_modify(|s| s.add(d))
            .or_insert_with(|| Spread::new(d));
    }
    if dirs.is_empty() {
        return None;
    }
    // Per connection seen both ways: the bounds it sets.
    let mut lower = i128::MIN;
    let mut upper = i128::MAX;
    let mut middles = Vec::new();
    for (&(conn, down), up_or_down) in &dirs {
        if down {
            continue;
        }
        let Some(other) = dirs.get(&(conn, true)) else {
            continue;
        };
        // The direction A sees first has the larger differences.
        let (first, second) = if up_or_down.mean() >= other.mean() {
            (up_or_down, other)
        } else {
            (other, up_or_down)
        };
        let (lo, hi) = (second.max, first.min);
        lower = lower.max(lo);
        upper = upper.min(hi);
        middles.push(lo + (hi - lo) / 2);
    }
    let connections = middles.len() as u64;
    Some(if middles.is_empty() {
        // Every shared connection one way only: the middle of all the
        // differences, path delay included.
        let mut all: Vec<i128> = dirs.values().map(Spread::mean).collect();
        all.sort_unstable();
        let lo = all.first().copied().unwrap_or(0);
        let hi = all.last().copied().unwrap_or(0);
        let mid = all.get(all.len() / 2).copied().unwrap_or(0);
        (mid, (hi - lo) / 2, false, 0)
    } else if lower <= upper {
        (
            lower + (upper - lower) / 2,
            (upper - lower) / 2,
            true,
            connections,
        )
    } else {
        middles.sort_unstable();
        let mid = middles.get(middles.len() / 2).copied().unwrap_or(0);
        (mid, (lower - upper) / 2, false, connections)
    })
}

/// Captures shorter than this (of shared traffic) are not checked for
/// drift: a constant offset is all they can tell.
pub const MIN_DRIFT_SPAN_NS: i128 = 10_000_000_000;

/// Time windows the shared traffic is cut into to see the offset move.
const DRIFT_WINDOWS: usize = 16;

/// How fast `b`'s clock runs ahead of `a`'s, in ns per s (parts per
/// billion), from the middles of the windows with connections seen both
/// ways (least squares); `None` when fewer than three windows tell.
fn drift(samples: &[Shared], t0: i128, span: i128) -> Option<f64> {
    let width = span / DRIFT_WINDOWS as i128 + 1;
    let mut windows: Vec<Vec<Shared>> = vec![Vec::new(); DRIFT_WINDOWS];
    for x in samples {
        let w = ((x.ta - t0) / width).clamp(0, DRIFT_WINDOWS as i128 - 1) as usize;
        if let Some(v) = windows.get_mut(w) {
            v.push(*x);
        }
    }
    let points: Vec<(f64, f64)> = windows
        .iter()
        .filter_map(|w| {
            // A window's middle, agreeing or not (within a window the
            // drift itself may widen the bounds past each other).
            let (mid, _, _, conns) = bound(w, |_| 0)?;
            if conns == 0 {
                return None;
            }
            let t = w.iter().map(|x| (x.ta - t0) as f64).sum::<f64>() / w.len() as f64;
            Some((t, mid as f64))
        })
        .collect();
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mt = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mo = points.iter().map(|p| p.1).sum::<f64>() / n;
    let var = points.iter().map(|p| (p.0 - mt).powi(2)).sum::<f64>();
    if var <= 0.0 {
        return None;
    }
    let cov = points.iter().map(|p| (p.0 - mt) * (p.1 - mo)).sum::<f64>();
    Some(cov / var * 1e9)
}

/// How far `b`'s clock is ahead of `a`'s, when they share segments enough;
/// and which connections of the two are the same.
pub fn estimate(a: &Segments, b: &Segments) -> Option<(Offset, ConnMatch)> {
    let mut pairs: HashMap<(u32, u32), u64> = HashMap::new();
    let mut samples = Vec::new();
    // Only hashes both samples keep: the sparser one's threshold.
    let t = a.threshold.min(b.threshold);
    for (h, sa) in &a.seen {
        if h >> 40 >= t {
            continue;
        }
        let Some(sb) = b.seen.get(h) else { continue };
        samples.push(Shared {
            ta: sa.ns,
            d: sb.ns - sa.ns,
            conn: sa.conn,
            down: sa.down,
        });
        *pairs.entry((sa.conn, sb.conn)).or_default() += 1;
    }
    let shared = samples.len() as u64;
    if shared < MIN_SHARED_SEGMENTS {
        return None;
    }
    let t0 = samples.iter().map(|x| x.ta).min().unwrap_or(0);
    let span = samples.iter().map(|x| x.ta).max().unwrap_or(0) - t0;
    let (mut offset_ns, mut error_ns, agree, connections) = bound(&samples, |_| 0)?;
    let mut inconsistent = !agree;
    let mut drift_ppb = 0i64;
    // A clock running at another rate: the offset moves along the capture.
    // Taken when it makes the bounds agree, or tighter.
    if span >= MIN_DRIFT_SPAN_NS
        && let Some(ppb) = drift(&samples, t0, span)
        && ppb.is_finite()
        && ppb.abs() < 1e8
    {
        let ppb = ppb.round() as i64;
        let trend = |ta: i128| (ta - t0) * i128::from(ppb) / 1_000_000_000;
        if let Some((o, e, ok, _)) = bound(&samples, trend)
            && ok
            && (inconsistent || e < error_ns)
        {
            offset_ns = o;
            error_ns = e;
            inconsistent = false;
            drift_ppb = ppb;
        }
    }
    // Each of a's connections with the one of b's it shared most with.
    let mut best: HashMap<u32, (u32, u64)> = HashMap::new();
    for (&(ca, cb), &n) in &pairs {
        let e = best.entry(ca).or_insert((cb, n));
        if n > e.1 || (n == e.1 && cb < e.0) {
            *e = (cb, n);
        }
    }
    let mut matched: ConnMatch = best
        .into_iter()
        .filter_map(|(ca, (cb, _))| Some((*a.conns.get(ca as usize)?, *b.conns.get(cb as usize)?)))
        .collect();
    matched.sort_unstable();
    Some((
        Offset {
            offset_ns,
            error_ns,
            shared,
            connections,
            inconsistent,
            drift_ppb,
            at_ns: t0,
        },
        matched,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::link::TcpFlags;

    fn seg<'a>(src: &str, dst: &str, seq: u32, ack: u32, payload: &'a [u8]) -> TcpSegment<'a> {
        TcpSegment {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            seq,
            ack,
            flags: TcpFlags(0x10),
            window: 1000,
            payload,
            payload_len: payload.len() as u32,
        }
    }

    fn at(ns: i128) -> Timestamp {
        Timestamp::new((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32)
    }

    /// Client-side capture A and broker-side capture B of one connection,
    /// B's clock `theta` ahead, 3 ms one way: the offset comes out exact
    /// (symmetric paths) with the bounds' half width as its error.
    #[test]
    fn two_ends_of_one_connection_bound_the_offset() {
        let theta: i128 = 2_500_000_000;
        let d: i128 = 3_000_000;
        let (mut a, mut b) = (Segments::default(), Segments::default());
        let base: i128 = 1_700_000_000_000_000_000;
        for i in 0..50u32 {
            let t = base + i128::from(i) * 10_000_000;
            let req = seg(
                "10.0.0.1:5000",
                "10.0.0.2:9092",
                1000 + i * 10,
                7000 + i,
                b"request",
            );
            a.observe(at(t), &req);
            b.observe(at(t + d + theta), &req);
            let resp = seg(
                "10.0.0.2:9092",
                "10.0.0.1:5000",
                7000 + i,
                1010 + i * 10,
                b"resp",
            );
            b.observe(at(t + d + 1_000_000 + theta), &resp);
            a.observe(at(t + 2 * d + 1_000_000), &resp);
        }
        let (off, conns) = estimate(&a, &b).unwrap();
        assert_eq!(off.offset_ns, theta);
        assert_eq!(off.error_ns, d);
        assert_eq!(off.shared, 100);
        assert_eq!(off.connections, 1);
        assert!(!off.inconsistent);
        assert_eq!(conns.len(), 1);
        // And the other way round.
        let (back, _) = estimate(&b, &a).unwrap();
        assert_eq!(back.offset_ns, -theta);
    }

    /// A clock running 50 ppm fast over a minute: the offset moves 3 ms,
    /// thirty times the path's delay; the drift is found and the offset at
    /// the start, with the path's delay as its error.
    #[test]
    fn a_drifting_clock_is_followed() {
        let theta: i128 = -1_250_000_000;
        let d: i128 = 100_000;
        let ppb: i128 = 50_000;
        let (mut a, mut b) = (Segments::default(), Segments::default());
        let base: i128 = 1_700_000_000_000_000_000;
        let skew = |t: i128| theta + (t - base) * ppb / 1_000_000_000;
        for i in 0..600u32 {
            let t = base + i128::from(i) * 100_000_000;
            let req = seg(
                "10.0.0.1:5000",
                "10.0.0.2:9092",
                1000 + i * 10,
                7000 + i,
                b"request",
            );
            a.observe(at(t), &req);
            b.observe(at(t + d + skew(t + d)), &req);
            let r = t + d + 200_000;
            let resp = seg(
                "10.0.0.2:9092",
                "10.0.0.1:5000",
                7000 + i,
                1010 + i * 10,
                b"resp",
            );
            b.observe(at(r + skew(r)), &resp);
            a.observe(at(r + d), &resp);
        }
        let (off, _) = estimate(&a, &b).unwrap();
        assert!((off.drift_ppb - 50_000).abs() <= 50, "{off:?}");
        assert!((off.offset_ns - theta).abs() <= 1_000, "{off:?}");
        assert!(off.error_ns <= d + 1_000, "{off:?}");
        assert!(!off.inconsistent);
    }

    /// Behind NAT the addresses differ; the segments still match, and the
    /// connections are paired.
    #[test]
    fn segments_match_across_nat() {
        let (mut a, mut b) = (Segments::default(), Segments::default());
        for i in 0..10u32 {
            let t = 1_000_000_000 + i128::from(i) * 1_000_000;
            let out = seg("192.168.1.5:40000", "10.1.1.1:9092", 50 + i, 90 + i, b"x");
            let nat = seg("203.0.113.9:61000", "10.1.1.1:9092", 50 + i, 90 + i, b"x");
            a.observe(at(t), &out);
            b.observe(at(t + 500_000), &nat);
            let back = seg("10.1.1.1:9092", "203.0.113.9:61000", 90 + i, 51 + i, b"y");
            let back_nat = seg("10.1.1.1:9092", "192.168.1.5:40000", 90 + i, 51 + i, b"y");
            b.observe(at(t + 600_000), &back);
            a.observe(at(t + 1_100_000), &back_nat);
        }
        let (off, conns) = estimate(&a, &b).unwrap();
        assert_eq!(off.offset_ns, 0);
        assert_eq!(
            conns,
            vec![(
                (
                    "10.1.1.1:9092".parse().unwrap(),
                    "192.168.1.5:40000".parse().unwrap()
                ),
                (
                    "10.1.1.1:9092".parse().unwrap(),
                    "203.0.113.9:61000".parse().unwrap()
                ),
            )]
        );
    }

    /// Unrelated traffic shares nothing: no estimate.
    #[test]
    fn unrelated_captures_give_no_offset() {
        let (mut a, mut b) = (Segments::default(), Segments::default());
        for i in 0..20u32 {
            a.observe(at(1_000), &seg("10.0.0.1:1", "10.0.0.2:2", i, 0, b"a"));
            b.observe(
                at(1_000),
                &seg("10.0.0.1:1", "10.0.0.2:2", i + 1000, 0, b"a"),
            );
        }
        assert!(estimate(&a, &b).is_none());
    }

    /// The sample stays bounded and keeps the same segments everywhere.
    #[test]
    fn sample_is_bounded_and_consistent() {
        let (mut a, mut b) = (Segments::default(), Segments::default());
        let n = MAX_SYNC_SEGMENTS as u32 * 3;
        for i in 0..n {
            let s = seg("10.0.0.1:1", "10.0.0.2:2", i, 5, b"");
            a.observe(at(i128::from(i) * 1000), &s);
            if i % 2 == 0 {
                b.observe(at(i128::from(i) * 1000 + 7), &s);
            }
        }
        assert!(a.sampled() <= MAX_SYNC_SEGMENTS);
        let (off, _) = estimate(&a, &b).unwrap();
        assert_eq!(off.offset_ns, 7);
        assert!(off.shared > 1000);
    }
}
