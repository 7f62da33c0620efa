//! IP reassembly: the fragments of a TCP datagram (IPv4, RFC 791; IPv6
//! Fragment header, RFC 8200 section 4.5) back into one datagram.
//!
//! [`Defragmenter::push`] takes each [`IpFragment`] that
//! [`link::decode`](super::link::decode) finds; when a datagram is complete
//! it returns it as a whole IP packet, to be decoded by `link::decode` as
//! [`LinkType::RAW`](super::LinkType::RAW) so that its TCP segment
//! reaches the TCP stage exactly as if it had not been fragmented.
//!
//! Rules:
//! - Fragments belong together when they share source, destination,
//!   identification and protocol (IPv4), or source, destination,
//!   identification and the next header after the Fragment header (IPv6).
//!   They may arrive in any order.
//! - Where a fragment overlaps bytes already held, **the first copy wins**. A
//!   fragment whose overlapping bytes differ is reported
//!   ([`Conflict::BytesDiffer`]); an exact duplicate is absorbed silently.
//! - The first last fragment (MF=0) fixes the datagram's length. A fragment
//!   that contradicts it — a second last fragment ending elsewhere, a
//!   fragment reaching beyond the end, a last fragment ending before bytes
//!   already held — is not used and is reported ([`Conflict::LengthDiffers`]).
//! - A fragment other than the last must carry a non-zero multiple of 8
//!   bytes (RFC 791, RFC 8200); one that does not is malformed and not used.
//! - A datagram whose payload would exceed [`DefragConfig::max_datagram_size`]
//!   or what the rebuilt header can declare (65,515 bytes after a 20-byte
//!   IPv4 header, 65,535 after an IPv6 header) is given up as
//!   [`GiveUp::TooLarge`]; its further fragments are absorbed without a word
//!   until its timeout.
//! - A reassembled datagram is remembered, bytes included, until its
//!   timeout: a copy of one of its fragments captured late (a capture that
//!   saw every packet twice) is absorbed as a duplicate instead of starting
//!   a datagram that would never complete. A fragment that does not match
//!   it is a new datagram that reuses the identification: it replaces the
//!   one remembered. Remembered datagrams count in the limits like the
//!   others and are let go of silently.
//! - A fragment cut by the snaplen counts for its declared length. The
//!   reassembled packet then holds the captured bytes up to the first cut
//!   and declares the full length, as an unfragmented packet cut by the
//!   snaplen would: the TCP stage makes the rest a `snaplen` gap.
//! - The reassembled packet is a fresh header — 20-byte IPv4 without options,
//!   or the 40-byte IPv6 header without the unfragmentable extension headers
//!   — with the fragments' addresses, identification and protocol, then the
//!   payload. No checksum is computed or checked (kwire checks none: a
//!   capture taken on the sending host has offloaded checksums).
//!
//! Time is capture time: a datagram not complete [`DefragConfig::timeout_ns`]
//! after its first fragment is given up. Timestamps can jump (a clock step,
//! a bogus 0 or far-future timestamp), so the defragmenter keeps its own
//! clock of elapsed capture time that **never goes backwards**, as the TCP
//! stage's does, and that a jump cannot move far: each packet advances it
//! by the time since the latest timestamp seen, but by at most
//! [`MAX_CLOCK_STEP_NS`]; a timestamp before the latest advances nothing,
//! and one more than `MAX_CLOCK_STEP_NS` before it becomes the new latest
//! (the timestamps start again from there). So a single bogus timestamp
//! ages the datagrams by at most twice `MAX_CLOCK_STEP_NS`: far in the
//! future it neither expires everything nor, by leaving every later
//! timestamp "in the past", stops time. The price: a pause in the capture
//! counts for `MAX_CLOCK_STEP_NS` only (a live capture's idle ticks, every
//! half second, keep time running).
//!
//! Contract: nothing panics on any fragment. Memory is bounded by
//! [`DefragConfig`]: datagrams held, bytes buffered over all of them
//! ([`Defragmenter::buffered_bytes`], which counts a fixed overhead per
//! piece and datagram besides the bytes), the size of one datagram. Over a
//! limit the oldest datagram is let go of first. Nothing is allocated
//! beyond the bytes that arrived: the reassembled packet is allocated when
//! it is complete. A fragment costs O(log n + its length). The results and
//! [`DefragEvent`]s are a function of the fragments and timestamps given:
//! no hash order reaches them.

use foldhash::{HashMap, HashMapExt};
use std::collections::BTreeMap;
use std::net::IpAddr;

use super::link::IpFragment;
use super::{PacketRef, Timestamp};

/// Limits of the defragmenter. `max_bytes` and `timeout_ns` are user
/// options (`--max-fragment-bytes`, `--fragment-timeout`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefragConfig {
    /// Datagrams held at once, in progress or remembered (at least 1); a
    /// new one beyond it lets go of the oldest ([`GiveUp::MaxDatagrams`]).
    pub max_datagrams: usize,
    /// Bytes buffered over all datagrams held, as
    /// [`Defragmenter::buffered_bytes`] counts them; beyond it the oldest are
    /// let go of ([`GiveUp::MaxBytes`]).
    pub max_bytes: usize,
    /// Largest reassembled payload (what follows the IPv4 header or the IPv6
    /// Fragment header); a datagram claiming more is given up
    /// ([`GiveUp::TooLarge`]). IPv6 jumbograms are never fragmented.
    pub max_datagram_size: usize,
    /// A datagram not complete this long (capture time) after its first
    /// fragment is given up ([`GiveUp::Timeout`]). Linux waits 30 s for IPv4
    /// and 60 s for IPv6; the default is 30 s for both.
    pub timeout_ns: u64,
}

impl Default for DefragConfig {
    fn default() -> Self {
        DefragConfig {
            max_datagrams: 4096,
            max_bytes: 16 << 20,
            max_datagram_size: 65_535,
            timeout_ns: 30_000_000_000,
        }
    }
}

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefragStats {
    /// Fragments given to [`Defragmenter::push`].
    pub fragments: u64,
    /// Datagrams reassembled.
    pub reassembled: u64,
    /// Datagrams given up before they were complete (every [`GiveUp`]).
    pub incomplete: u64,
    /// Fragments that contradicted earlier ones (every [`Conflict`]).
    pub overlap_mismatches: u64,
    /// Most bytes buffered at once.
    pub peak_buffered_bytes: usize,
}

/// Why a datagram was given up before it was complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUp {
    /// Not complete within [`DefragConfig::timeout_ns`].
    Timeout,
    /// The oldest when [`DefragConfig::max_datagrams`] were in progress.
    MaxDatagrams,
    /// The oldest when [`DefragConfig::max_bytes`] were buffered.
    MaxBytes,
    /// A fragment claimed a payload beyond [`DefragConfig::max_datagram_size`]
    /// or what an IP header can declare.
    TooLarge,
    /// The caller asked for memory back ([`Defragmenter::shed_oldest`]).
    MemoryBudget,
    /// Still in progress when the capture ended.
    CaptureEnd,
}

impl GiveUp {
    pub fn as_str(self) -> &'static str {
        match self {
            GiveUp::Timeout => "timeout",
            GiveUp::MaxDatagrams => "max_fragment_datagrams",
            GiveUp::MaxBytes => "max_fragment_bytes",
            GiveUp::TooLarge => "max_datagram_size",
            GiveUp::MemoryBudget => "memory_budget",
            GiveUp::CaptureEnd => "capture_end",
        }
    }
}

/// How a fragment contradicted the fragments before it. The first copy is
/// kept either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conflict {
    /// It overlaps bytes already held, with different bytes.
    BytesDiffer,
    /// It disagrees on where the datagram ends.
    LengthDiffers,
}

impl Conflict {
    pub fn as_str(self) -> &'static str {
        match self {
            Conflict::BytesDiffer => "bytes_differ",
            Conflict::LengthDiffers => "length_differs",
        }
    }
}

/// Something to report, besides the datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefragEvent {
    /// A datagram given up before it was complete.
    Incomplete {
        /// The packet being processed when it was given up.
        at: PacketRef,
        reason: GiveUp,
        /// The frame of its first fragment captured.
        first_frame: u64,
        /// Fragments received (duplicates included).
        fragments: u32,
        /// Payload bytes the fragments received covered.
        bytes: u32,
    },
    /// A fragment that contradicted earlier ones of its datagram.
    Overlap {
        at: PacketRef,
        conflict: Conflict,
        first_frame: u64,
    },
}

/// What [`Defragmenter::push`] made of a fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Push {
    /// Held (or absorbed); the datagram is not complete.
    Pending,
    /// The fragment completed its datagram: a whole IP packet (header, then
    /// payload), to decode as raw IP.
    Complete(Vec<u8>),
    /// A fragment that breaks the fragmentation rules; not used.
    Malformed(&'static str),
}

/// Counted in [`Defragmenter::buffered_bytes`] for each datagram in
/// progress, besides its bytes.
pub const DATAGRAM_OVERHEAD: usize = 128;
/// Counted for each piece (a fragment, or the part of it not held before).
pub const PIECE_OVERHEAD: usize = 64;
/// The most capture time one packet (or idle tick) can add to the clock.
pub const MAX_CLOCK_STEP_NS: i64 = 1_000_000_000;

/// Largest payload a rebuilt IPv4 header (20 bytes, total length a u16)
/// can declare.
const IPV4_MAX_PAYLOAD: usize = 65_535 - 20;
/// Largest payload the IPv6 payload length (a u16) can declare.
const IPV6_MAX_PAYLOAD: usize = 65_535;

/// Fragments belong together when these are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    protocol: u8,
}

/// Bytes `[start, start + declared)` of the payload, as one fragment brought
/// them: `bytes` is what was captured of them (shorter when the snaplen cut
/// the fragment).
struct Piece {
    declared: u32,
    bytes: Box<[u8]>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Collecting fragments.
    Open,
    /// Given up as too large: absorbs its fragments until its timeout.
    TooLarge,
    /// Reassembled: remembered to recognise late duplicates.
    Done,
}

struct Datagram {
    state: State,
    /// Order of creation: the key in `Defragmenter::order`.
    seq: u64,
    /// Clock at the first fragment.
    born: i64,
    first_frame: u64,
    /// Disjoint pieces by start offset.
    pieces: BTreeMap<u32, Piece>,
    /// Payload length, once the last fragment arrived.
    end: Option<u32>,
    /// Declared bytes held (the pieces' lengths).
    covered: u32,
    fragments: u32,
    /// What it counts in `buffered`.
    cost: usize,
}

impl Datagram {
    /// Whether a fragment of a reassembled datagram is a copy of what it
    /// holds: within it, ending where it ends if it is the last, and the
    /// same bytes where both were captured.
    fn holds(&self, start: u32, end: u32, more: bool, data: &[u8]) -> bool {
        let Some(d_end) = self.end else {
            return false;
        };
        if end > d_end || (!more && end != d_end) {
            return false;
        }
        let first = self
            .pieces
            .range(..=start)
            .next_back()
            .map_or(start, |(&at, _)| at);
        !self.pieces.range(first..end).any(|(&at, p)| {
            captured_differ(
                at,
                p,
                start,
                data,
                at.max(start),
                (at + p.declared).min(end),
            )
        })
    }

    /// Where the last piece held ends.
    fn held_end(&self) -> u32 {
        self.pieces
            .last_key_value()
            .map_or(0, |(&start, p)| start + p.declared)
    }
}

/// Elapsed capture time, in ns: never goes backwards, and advances by at
/// most [`MAX_CLOCK_STEP_NS`] per packet.
#[derive(Clone, Copy, Debug, Default)]
struct Clock {
    now: i64,
    /// The latest timestamp seen (none before the first), in ns.
    latest: Option<i64>,
}

fn ns_of(ts: Timestamp) -> i64 {
    ts.as_nanos().clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

impl Clock {
    fn observe(&mut self, ts: Timestamp) {
        let ts = ns_of(ts);
        let Some(latest) = self.latest else {
            self.latest = Some(ts);
            return;
        };
        let step = ts.saturating_sub(latest);
        if step > 0 {
            self.now = self.now.saturating_add(step.min(MAX_CLOCK_STEP_NS));
            self.latest = Some(ts);
        } else if step < -MAX_CLOCK_STEP_NS {
            self.latest = Some(ts);
        }
    }
}

/// Reassembles IP datagrams; see the module documentation.
pub struct Defragmenter {
    cfg: DefragConfig,
    stats: DefragStats,
    datagrams: HashMap<Key, Datagram>,
    /// Datagrams held by creation order (oldest first).
    order: BTreeMap<u64, Key>,
    next_seq: u64,
    buffered: usize,
    clock: Clock,
    events: Vec<DefragEvent>,
}

impl Defragmenter {
    pub fn new(cfg: DefragConfig) -> Self {
        Defragmenter {
            cfg,
            stats: DefragStats::default(),
            datagrams: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            buffered: 0,
            clock: Clock::default(),
            events: Vec::new(),
        }
    }

    /// Take one fragment, captured in packet `at`. Call this or
    /// [`Self::advance`] once per packet, so that the clock sees every
    /// timestamp once.
    pub fn push(&mut self, frag: &IpFragment<'_>, at: PacketRef) -> Push {
        self.stats.fragments += 1;
        self.advance(at);
        if !frag.offset.is_multiple_of(8) {
            // Not from `link::decode`, which reads offsets in units of 8.
            return Push::Malformed("IP fragment offset not a multiple of 8 bytes");
        }
        if frag.more && frag.data_len == 0 {
            return Push::Malformed("empty IP fragment");
        }
        if frag.more && !frag.data_len.is_multiple_of(8) {
            return Push::Malformed("IP fragment other than the last not a multiple of 8 bytes");
        }
        let key = Key {
            src: frag.src,
            dst: frag.dst,
            id: frag.id,
            protocol: frag.protocol,
        };
        let end = u64::from(frag.offset) + u64::from(frag.data_len);
        match self.datagrams.get(&key) {
            None => self.start(key, at),
            Some(d) if d.state == State::Done => {
                let copy = u32::try_from(end)
                    .is_ok_and(|end| d.holds(frag.offset, end, frag.more, frag.data));
                if copy {
                    return Push::Pending;
                }
                self.remove(&key);
                self.start(key, at);
            }
            Some(_) => {}
        }
        let limit = self.cfg.max_datagram_size.min(if frag.src.is_ipv4() {
            IPV4_MAX_PAYLOAD
        } else {
            IPV6_MAX_PAYLOAD
        });
        let Some(d) = self.datagrams.get_mut(&key) else {
            return Push::Pending; // not reached: started above
        };
        d.fragments = d.fragments.saturating_add(1);
        if d.state == State::TooLarge {
            return Push::Pending;
        }
        if end > limit as u64 {
            let freed = d.cost - DATAGRAM_OVERHEAD;
            d.cost = DATAGRAM_OVERHEAD;
            d.state = State::TooLarge;
            let event = DefragEvent::Incomplete {
                at,
                reason: GiveUp::TooLarge,
                first_frame: d.first_frame,
                fragments: d.fragments,
                bytes: d.covered,
            };
            d.pieces.clear();
            d.covered = 0;
            self.buffered -= freed;
            self.stats.incomplete += 1;
            self.events.push(event);
            return Push::Pending;
        }
        // Within the limit, so within u32.
        let end = end as u32;
        let contradicts = match (frag.more, d.end) {
            (false, Some(e)) => e != end,
            (false, None) => d.held_end() > end,
            (true, Some(e)) => end > e,
            (true, None) => false,
        };
        if contradicts {
            self.stats.overlap_mismatches += 1;
            self.events.push(DefragEvent::Overlap {
                at,
                conflict: Conflict::LengthDiffers,
                first_frame: d.first_frame,
            });
            return Push::Pending;
        }
        if !frag.more {
            d.end = Some(end);
        }
        let added = insert(&mut d.pieces, frag.offset, end, frag.data);
        d.covered += added.covered;
        d.cost += added.cost;
        self.buffered += added.cost;
        self.stats.peak_buffered_bytes = self.stats.peak_buffered_bytes.max(self.buffered);
        if added.differs {
            self.stats.overlap_mismatches += 1;
            self.events.push(DefragEvent::Overlap {
                at,
                conflict: Conflict::BytesDiffer,
                first_frame: d.first_frame,
            });
        }
        let done = d.end == Some(d.covered);
        let packet = if done {
            d.state = State::Done;
            self.stats.reassembled += 1;
            Push::Complete(rebuild(&key, d))
        } else {
            Push::Pending
        };
        while self.buffered > self.cfg.max_bytes && self.give_up_oldest(GiveUp::MaxBytes, at) {}
        packet
    }

    /// A packet that is not a fragment (or a live capture's idle tick) at
    /// `at`: let the clock move, give up datagrams that timed out.
    pub fn advance(&mut self, at: PacketRef) {
        self.clock.observe(at.ts);
        let timeout = i64::try_from(self.cfg.timeout_ns).unwrap_or(i64::MAX);
        while let Some((_, key)) = self.order.first_key_value()
            && let Some(d) = self.datagrams.get(key)
            && self.clock.now.saturating_sub(d.born) > timeout
        {
            self.give_up_oldest(GiveUp::Timeout, at);
        }
    }

    /// Let go of the oldest datagram held, in progress (given up and
    /// reported) or remembered (to stay within a memory budget shared with
    /// other stages). False when there is none.
    pub fn shed_oldest(&mut self, at: PacketRef) -> bool {
        self.give_up_oldest(GiveUp::MemoryBudget, at)
    }

    /// The capture ended: give up every datagram in progress, forget the
    /// others.
    pub fn finish(&mut self, at: PacketRef) {
        while self.give_up_oldest(GiveUp::CaptureEnd, at) {}
    }

    /// What happened since the last call, in order.
    pub fn take_events(&mut self) -> Vec<DefragEvent> {
        std::mem::take(&mut self.events)
    }

    /// Memory held now: the bytes of the fragments, plus
    /// [`PIECE_OVERHEAD`] per piece and [`DATAGRAM_OVERHEAD`] per datagram.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Datagrams held: in progress, or remembered after they were
    /// reassembled or given up as too large.
    pub fn datagrams_held(&self) -> usize {
        self.datagrams.len()
    }

    pub fn stats(&self) -> DefragStats {
        self.stats
    }

    /// Open a datagram for `key`, giving up the oldest if that makes too many.
    fn start(&mut self, key: Key, at: PacketRef) {
        while self.datagrams.len() >= self.cfg.max_datagrams.max(1)
            && self.give_up_oldest(GiveUp::MaxDatagrams, at)
        {}
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, key);
        self.datagrams.insert(
            key,
            Datagram {
                seq,
                born: self.clock.now,
                first_frame: at.frame,
                pieces: BTreeMap::new(),
                end: None,
                covered: 0,
                fragments: 0,
                cost: DATAGRAM_OVERHEAD,
                state: State::Open,
            },
        );
        self.buffered += DATAGRAM_OVERHEAD;
        self.stats.peak_buffered_bytes = self.stats.peak_buffered_bytes.max(self.buffered);
    }

    fn remove(&mut self, key: &Key) -> Option<Datagram> {
        let d = self.datagrams.remove(key)?;
        self.order.remove(&d.seq);
        self.buffered -= d.cost;
        Some(d)
    }

    /// Let go of the oldest datagram, reporting it if it was in progress.
    /// False when there is none.
    fn give_up_oldest(&mut self, reason: GiveUp, at: PacketRef) -> bool {
        let Some((_, &key)) = self.order.first_key_value() else {
            return false;
        };
        let Some(d) = self.remove(&key) else {
            // Not reached: `order` and `datagrams` hold the same keys.
            self.order.pop_first();
            return true;
        };
        if d.state == State::Open {
            self.stats.incomplete += 1;
            self.events.push(DefragEvent::Incomplete {
                at,
                reason,
                first_frame: d.first_frame,
                fragments: d.fragments,
                bytes: d.covered,
            });
        }
        true
    }
}

/// What [`insert`] added.
struct Added {
    /// Declared bytes not held before.
    covered: u32,
    /// Their cost in `buffered`.
    cost: usize,
    /// Bytes captured in both the fragment and a piece held differ.
    differs: bool,
}

/// Add the parts of `[start, end)` not held yet as new pieces (the first
/// copy wins); `data` is what was captured of it. Pieces visited are the
/// ones the fragment overlaps; as every piece boundary but the datagram's
/// end is a multiple of 8, there are at most `(end - start) / 8 + 2`.
fn insert(pieces: &mut BTreeMap<u32, Piece>, start: u32, end: u32, data: &[u8]) -> Added {
    let mut differs = false;
    let mut holes: Vec<(u32, u32)> = Vec::new();
    let mut cursor = start;
    if let Some((&at, p)) = pieces.range(..start).next_back() {
        let p_end = at + p.declared;
        if p_end > start {
            cursor = p_end.min(end);
            differs |= captured_differ(at, p, start, data, start, cursor);
        }
    }
    for (&at, p) in pieces.range(start..end) {
        if at > cursor {
            holes.push((cursor, at));
        }
        let upto = (at + p.declared).min(end);
        differs |= captured_differ(at, p, start, data, at, upto);
        cursor = cursor.max(upto);
    }
    if cursor < end {
        holes.push((cursor, end));
    }
    let mut added = Added {
        covered: 0,
        cost: 0,
        differs,
    };
    for (from, to) in holes {
        let lo = ((from - start) as usize).min(data.len());
        let hi = ((to - start) as usize).min(data.len());
        let bytes: Box<[u8]> = data[lo..hi].into();
        added.covered += to - from;
        added.cost += bytes.len() + PIECE_OVERHEAD;
        pieces.insert(
            from,
            Piece {
                declared: to - from,
                bytes,
            },
        );
    }
    added
}

/// Whether the bytes of `[from, to)` captured both in piece `p` (at `p_at`)
/// and in `data` (at `d_at`) differ.
fn captured_differ(p_at: u32, p: &Piece, d_at: u32, data: &[u8], from: u32, to: u32) -> bool {
    let to = (to as usize)
        .min(p_at as usize + p.bytes.len())
        .min(d_at as usize + data.len());
    let from = from as usize;
    if to <= from {
        return false;
    }
    let (p_at, d_at) = (p_at as usize, d_at as usize);
    p.bytes[from - p_at..to - p_at] != data[from - d_at..to - d_at]
}

/// The reassembled datagram as one IP packet: a fresh header declaring the
/// whole payload, then the payload's captured bytes up to the first byte
/// the snaplen cut.
fn rebuild(key: &Key, d: &Datagram) -> Vec<u8> {
    let payload_len = d.end.unwrap_or(d.covered);
    let mut captured = 0;
    for p in d.pieces.values() {
        captured += p.bytes.len();
        if p.bytes.len() < p.declared as usize {
            break;
        }
    }
    let mut out = Vec::with_capacity(40 + captured);
    match (key.src, key.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            // Within IPV4_MAX_PAYLOAD, so the total fits.
            let total = (20 + payload_len) as u16;
            out.extend_from_slice(&[0x45, 0]);
            out.extend_from_slice(&total.to_be_bytes());
            out.extend_from_slice(&(key.id as u16).to_be_bytes());
            // No flags, offset 0, TTL 64, protocol, no checksum.
            out.extend_from_slice(&[0, 0, 64, key.protocol, 0, 0]);
            out.extend_from_slice(&src.octets());
            out.extend_from_slice(&dst.octets());
        }
        (src, dst) => {
            let to16 = |a: IpAddr| match a {
                IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
                IpAddr::V6(a) => a.octets(),
            };
            // Within IPV6_MAX_PAYLOAD. Version 6, no traffic class or flow
            // label, next header, hop limit 64.
            out.extend_from_slice(&[0x60, 0, 0, 0]);
            out.extend_from_slice(&(payload_len as u16).to_be_bytes());
            out.extend_from_slice(&[key.protocol, 64]);
            out.extend_from_slice(&to16(src));
            out.extend_from_slice(&to16(dst));
        }
    }
    for p in d.pieces.values() {
        out.extend_from_slice(&p.bytes);
        if p.bytes.len() < p.declared as usize {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::capture::LinkType;
    use crate::capture::link::{Decoded, decode};

    const CLIENT4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const BROKER4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const BROKER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

    /// A TCP segment, 40000 -> 9092, seq 1000, ack 2000, PSH|ACK, then the
    /// start of a Kafka ApiVersions v3 request (size 22, key 18, version 3,
    /// correlation id 1, client id "kw") padded to 20 bytes: 40 bytes.
    const SEGMENT: [u8; 40] = [
        0x9c, 0x40, 0x23, 0x84, // ports 40000 -> 9092
        0, 0, 0x03, 0xe8, // seq 1000
        0, 0, 0x07, 0xd0, // ack 2000
        0x50, 0x18, 0x02, 0x00, // data offset 5, PSH|ACK, window 512
        0, 0, 0, 0, // checksum, urgent pointer
        0, 0, 0, 22, // size
        0, 18, 0, 3, // ApiVersions v3
        0, 0, 0, 1, // correlation id
        0, 2, b'k', b'w', // client id
        0, 0, 0, 0, // body (cut)
    ];

    /// The segment in three fragments: 16 + 16 + 8 bytes.
    const PARTS: [(u32, bool, std::ops::Range<usize>); 3] =
        [(0, true, 0..16), (16, true, 16..32), (32, false, 32..40)];

    fn at(frame: u64, secs: i64) -> PacketRef {
        PacketRef {
            frame,
            ts: Timestamp::new(1_700_000_000 + secs, 0),
        }
    }

    fn frag4(id: u32, offset: u32, more: bool, data: &[u8]) -> IpFragment<'_> {
        IpFragment {
            src: IpAddr::V4(CLIENT4),
            dst: IpAddr::V4(BROKER4),
            id,
            protocol: 6,
            offset,
            more,
            data,
            data_len: data.len() as u32,
        }
    }

    fn frag6(id: u32, protocol: u8, offset: u32, more: bool, data: &[u8]) -> IpFragment<'_> {
        IpFragment {
            src: IpAddr::V6(CLIENT6),
            dst: IpAddr::V6(BROKER6),
            protocol,
            ..frag4(id, offset, more, data)
        }
    }

    fn parts4(id: u32) -> Vec<IpFragment<'static>> {
        PARTS
            .iter()
            .map(|(off, more, r)| frag4(id, *off, *more, &SEGMENT[r.clone()]))
            .collect()
    }

    /// The IPv4 packet the defragmenter rebuilds for `SEGMENT` (id 7).
    fn whole4() -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 60, // version 4, IHL 5, total length 20 + 40
            0, 7, 0, 0, // identification 7, no flags, offset 0
            64, 6, 0, 0, // TTL, TCP, no checksum
            10, 0, 0, 1, // source
            10, 0, 0, 2, // destination
        ];
        p.extend_from_slice(&SEGMENT);
        p
    }

    fn complete(p: Push) -> Vec<u8> {
        match p {
            Push::Complete(v) => v,
            other => panic!("expected a datagram, got {other:?}"),
        }
    }

    /// Push fragments in order, one packet each from frame 1 at time 0;
    /// what the last push gave.
    fn push_all(d: &mut Defragmenter, frags: &[IpFragment<'_>]) -> Vec<Push> {
        frags
            .iter()
            .enumerate()
            .map(|(i, f)| d.push(f, at(i as u64 + 1, 0)))
            .collect()
    }

    fn check_segment(packet: &[u8]) {
        match decode(LinkType::RAW, packet) {
            Decoded::Tcp(s) => {
                assert_eq!(s.src.port(), 40000);
                assert_eq!(s.dst.port(), 9092);
                assert_eq!((s.seq, s.ack), (1000, 2000));
                assert_eq!(s.payload, &SEGMENT[20..]);
                assert_eq!(s.payload_len, 20);
            }
            other => panic!("expected TCP, got {other:?}"),
        }
    }

    #[test]
    fn in_order() {
        let mut d = Defragmenter::new(DefragConfig::default());
        let out = push_all(&mut d, &parts4(7));
        assert_eq!(out[..2], [Push::Pending, Push::Pending]);
        let p = complete(out[2].clone());
        assert_eq!(p, whole4());
        check_segment(&p);
        // Remembered until its timeout, with its three pieces.
        assert_eq!(d.datagrams_held(), 1);
        assert_eq!(
            d.buffered_bytes(),
            DATAGRAM_OVERHEAD + 40 + 3 * PIECE_OVERHEAD
        );
        assert!(d.take_events().is_empty());
        let s = d.stats();
        assert_eq!((s.fragments, s.reassembled, s.incomplete), (3, 1, 0));
        assert_eq!(s.peak_buffered_bytes, d.buffered_bytes());
        // Forgotten without a word at the end.
        d.finish(at(4, 0));
        assert!(d.take_events().is_empty());
        assert_eq!((d.datagrams_held(), d.buffered_bytes()), (0, 0));
    }

    #[test]
    fn every_order_gives_the_same_datagram() {
        let frags = parts4(7);
        for order in [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ] {
            let mut d = Defragmenter::new(DefragConfig::default());
            let out = push_all(&mut d, &order.map(|i| frags[i]));
            assert_eq!(out[..2], [Push::Pending, Push::Pending], "{order:?}");
            assert_eq!(complete(out[2].clone()), whole4(), "{order:?}");
        }
    }

    #[test]
    fn duplicates_and_agreeing_overlaps_are_absorbed() {
        let mut d = Defragmenter::new(DefragConfig::default());
        let f = parts4(7);
        // The first fragment twice, then bytes 8..24 (overlapping the first
        // and the second, the same bytes), then the rest.
        let overlap = frag4(7, 8, true, &SEGMENT[8..24]);
        let out = push_all(&mut d, &[f[0], f[0], overlap, f[1], f[2]]);
        assert!(out[..4].iter().all(|p| *p == Push::Pending));
        assert_eq!(complete(out[4].clone()), whole4());
        assert!(d.take_events().is_empty());
        assert_eq!(d.stats().overlap_mismatches, 0);
        assert_eq!(d.stats().fragments, 5);
    }

    #[test]
    fn late_copies_of_a_reassembled_datagram_are_absorbed() {
        let mut d = Defragmenter::new(DefragConfig::default());
        let f = parts4(7);
        // Every fragment captured twice in a row: the datagram completes at
        // the first copy of the last, and the second copy is absorbed.
        let out = push_all(&mut d, &[f[0], f[0], f[1], f[1], f[2], f[2]]);
        assert_eq!(complete(out[4].clone()), whole4());
        assert_eq!(out[5], Push::Pending);
        // So is a copy cut differently, later.
        assert_eq!(
            d.push(&frag4(7, 8, true, &SEGMENT[8..24]), at(7, 1)),
            Push::Pending
        );
        d.finish(at(8, 2));
        assert!(d.take_events().is_empty());
        let s = d.stats();
        assert_eq!(
            (s.reassembled, s.incomplete, s.overlap_mismatches),
            (1, 0, 0)
        );

        // The identification reused for another datagram: the fragments do
        // not match what was reassembled, so they make a new one.
        let mut d = Defragmenter::new(DefragConfig::default());
        push_all(&mut d, &f);
        let mut other = SEGMENT;
        other[39] = 0xee;
        let again: Vec<IpFragment<'_>> = PARTS
            .iter()
            .map(|(off, more, r)| frag4(7, *off, *more, &other[r.clone()]))
            .collect();
        // Only the last fragment differs: the first two match what was
        // reassembled and are absorbed as copies, the last starts a datagram
        // that never completes.
        assert_eq!(d.push(&again[0], at(4, 0)), Push::Pending);
        assert_eq!(d.push(&again[1], at(5, 0)), Push::Pending);
        assert_eq!(d.push(&again[2], at(6, 0)), Push::Pending);
        d.finish(at(7, 0));
        assert!(matches!(
            d.take_events()[..],
            [DefragEvent::Incomplete {
                reason: GiveUp::CaptureEnd,
                first_frame: 6,
                bytes: 8,
                ..
            }]
        ));
        // In the other order, the new datagram is reassembled.
        let mut d = Defragmenter::new(DefragConfig::default());
        push_all(&mut d, &f);
        assert_eq!(d.push(&again[2], at(4, 0)), Push::Pending);
        assert_eq!(d.push(&again[0], at(5, 0)), Push::Pending);
        let p = complete(d.push(&again[1], at(6, 0)));
        assert_eq!(p[20..], other[..]);
        assert_eq!(d.stats().reassembled, 2);
    }

    #[test]
    fn overlapping_different_bytes_first_copy_wins() {
        let mut d = Defragmenter::new(DefragConfig::default());
        let f = parts4(7);
        // Bytes 8..24 with the window changed (bytes 14..16) and the Kafka
        // size (bytes 20..24): it overlaps the first fragment and fills
        // 16..24 before the second fragment comes.
        let mut forged = SEGMENT[8..24].to_vec();
        forged[6] = 0xff;
        forged[12] = 0xff;
        let forged = frag4(7, 8, true, &forged);
        assert_eq!(d.push(&f[0], at(1, 0)), Push::Pending);
        assert_eq!(d.push(&forged, at(2, 0)), Push::Pending);
        assert_eq!(
            d.take_events(),
            [DefragEvent::Overlap {
                at: at(2, 0),
                conflict: Conflict::BytesDiffer,
                first_frame: 1,
            }]
        );
        // The second fragment now differs from the forged bytes held at
        // 16..24: reported too; the forged copy came first and stays.
        assert_eq!(d.push(&f[1], at(3, 0)), Push::Pending);
        assert_eq!(d.take_events().len(), 1);
        let p = complete(d.push(&f[2], at(4, 0)));
        let mut expected = whole4();
        expected[20 + 20] = 0xff;
        assert_eq!(p, expected);
        assert_eq!(d.stats().overlap_mismatches, 2);
    }

    #[test]
    fn contradicting_lengths_are_not_used() {
        let mut d = Defragmenter::new(DefragConfig::default());
        let f = parts4(7);
        assert_eq!(d.push(&f[2], at(1, 0)), Push::Pending); // end 40
        // Another last fragment ending at 48, and one ending at 32.
        let longer = frag4(7, 40, false, &[0; 8]);
        let shorter = frag4(7, 24, false, &[0; 8]);
        // A fragment with more to come reaching beyond the end.
        let beyond = frag4(7, 32, true, &[0; 16]);
        for (i, bad) in [longer, shorter, beyond].iter().enumerate() {
            assert_eq!(d.push(bad, at(2 + i as u64, 0)), Push::Pending);
            assert_eq!(
                d.take_events(),
                [DefragEvent::Overlap {
                    at: at(2 + i as u64, 0),
                    conflict: Conflict::LengthDiffers,
                    first_frame: 1,
                }]
            );
        }
        assert_eq!(d.push(&f[0], at(5, 0)), Push::Pending);
        assert_eq!(complete(d.push(&f[1], at(6, 0))), whole4());
        assert_eq!(d.stats().overlap_mismatches, 3);

        // A last fragment ending before bytes already held.
        let mut d = Defragmenter::new(DefragConfig::default());
        assert_eq!(d.push(&f[1], at(1, 0)), Push::Pending); // 16..32
        assert_eq!(
            d.push(&frag4(7, 8, false, &[0; 8]), at(2, 0)),
            Push::Pending
        );
        assert_eq!(d.stats().overlap_mismatches, 1);
        assert_eq!(d.push(&f[0], at(3, 0)), Push::Pending);
        assert_eq!(complete(d.push(&f[2], at(4, 0))), whole4());
    }

    #[test]
    fn missing_middle_is_reported_at_capture_end() {
        let mut d = Defragmenter::new(DefragConfig::default());
        let f = parts4(7);
        assert_eq!(d.push(&f[0], at(1, 0)), Push::Pending);
        assert_eq!(d.push(&f[2], at(2, 0)), Push::Pending);
        assert_eq!(d.datagrams_held(), 1);
        assert_eq!(
            d.buffered_bytes(),
            DATAGRAM_OVERHEAD + 16 + 8 + 2 * PIECE_OVERHEAD
        );
        d.finish(at(3, 0));
        assert_eq!(
            d.take_events(),
            [DefragEvent::Incomplete {
                at: at(3, 0),
                reason: GiveUp::CaptureEnd,
                first_frame: 1,
                fragments: 2,
                bytes: 24,
            }]
        );
        assert_eq!((d.datagrams_held(), d.buffered_bytes()), (0, 0));
        assert_eq!(d.stats().incomplete, 1);
    }

    #[test]
    fn fragments_breaking_the_rules_are_malformed() {
        let mut d = Defragmenter::new(DefragConfig::default());
        // Not the last, and 12 bytes.
        assert!(matches!(
            d.push(&frag4(7, 0, true, &SEGMENT[..12]), at(1, 0)),
            Push::Malformed(_)
        ));
        // Not the last, and empty.
        assert!(matches!(
            d.push(&frag4(7, 8, true, &[]), at(2, 0)),
            Push::Malformed(_)
        ));
        // At an offset that is not a multiple of 8.
        assert!(matches!(
            d.push(&frag4(7, 4, false, &[0; 8]), at(2, 0)),
            Push::Malformed(_)
        ));
        assert_eq!(d.datagrams_held(), 0);
        // The last may be any length, even empty: the end is at 40.
        assert_eq!(d.push(&frag4(7, 40, false, &[]), at(3, 0)), Push::Pending);
        let f = frag4(7, 0, true, &SEGMENT);
        assert_eq!(complete(d.push(&f, at(4, 0))), whole4());
    }

    #[test]
    fn oversize_claims_give_the_datagram_up() {
        let mut d = Defragmenter::new(DefragConfig::default());
        // The last byte an IPv4 datagram can hold after a 20-byte header
        // is payload byte 65,514: a fragment ending there is fine (and only
        // its own 8 bytes are buffered)...
        assert_eq!(
            d.push(&frag4(1, 65_504, true, &[0; 8]), at(1, 0)),
            Push::Pending
        );
        assert_eq!(d.buffered_bytes(), DATAGRAM_OVERHEAD + 8 + PIECE_OVERHEAD);
        // ... one byte more is the "ping of death".
        assert_eq!(
            d.push(&frag4(2, 65_512, false, &[0; 4]), at(2, 0)),
            Push::Pending
        );
        assert_eq!(
            d.take_events(),
            [DefragEvent::Incomplete {
                at: at(2, 0),
                reason: GiveUp::TooLarge,
                first_frame: 2,
                fragments: 1,
                bytes: 0,
            }]
        );
        // Its other fragments are absorbed without a word, even one that
        // would complete it.
        assert_eq!(d.push(&frag4(2, 0, true, &[0; 8]), at(3, 0)), Push::Pending);
        assert!(d.take_events().is_empty());
        assert_eq!(d.stats().incomplete, 1);
        // Capture end reports the other datagram, not the one given up.
        d.finish(at(4, 0));
        let ev = d.take_events();
        assert_eq!(ev.len(), 1);
        assert!(matches!(
            ev[0],
            DefragEvent::Incomplete {
                first_frame: 1,
                reason: GiveUp::CaptureEnd,
                ..
            }
        ));
        assert_eq!(d.buffered_bytes(), 0);

        // IPv6 allows 65,535 bytes; a configured maximum applies to both.
        let mut d = Defragmenter::new(DefragConfig::default());
        assert_eq!(
            d.push(&frag6(1, 6, 65_528, false, &[0; 7]), at(1, 0)),
            Push::Pending
        );
        assert!(d.take_events().is_empty());
        let mut d = Defragmenter::new(DefragConfig {
            max_datagram_size: 1000,
            ..DefragConfig::default()
        });
        assert_eq!(
            d.push(&frag6(1, 6, 992, true, &[0; 16]), at(1, 0)),
            Push::Pending
        );
        assert!(matches!(
            d.take_events()[..],
            [DefragEvent::Incomplete {
                reason: GiveUp::TooLarge,
                ..
            }]
        ));
    }

    #[test]
    fn datagram_limit_gives_up_the_oldest() {
        let mut d = Defragmenter::new(DefragConfig {
            max_datagrams: 2,
            ..DefragConfig::default()
        });
        for id in 1..=3 {
            let f = frag4(id, 0, true, &SEGMENT[..16]);
            assert_eq!(d.push(&f, at(u64::from(id), 0)), Push::Pending);
        }
        assert_eq!(d.datagrams_held(), 2);
        assert_eq!(
            d.take_events(),
            [DefragEvent::Incomplete {
                at: at(3, 0),
                reason: GiveUp::MaxDatagrams,
                first_frame: 1,
                fragments: 1,
                bytes: 16,
            }]
        );
        // Datagrams 2 and 3 are still there.
        for id in [2, 3] {
            let f = frag4(id, 16, false, &SEGMENT[16..]);
            assert!(matches!(d.push(&f, at(9, 0)), Push::Complete(_)));
        }
    }

    #[test]
    fn byte_limit_gives_up_the_oldest() {
        let one = DATAGRAM_OVERHEAD + 16 + PIECE_OVERHEAD;
        let mut d = Defragmenter::new(DefragConfig {
            max_bytes: 2 * one,
            ..DefragConfig::default()
        });
        for id in 1..=2 {
            let f = frag4(id, 0, true, &SEGMENT[..16]);
            assert_eq!(d.push(&f, at(u64::from(id), 0)), Push::Pending);
        }
        assert_eq!(d.buffered_bytes(), 2 * one);
        assert!(d.take_events().is_empty());
        // 8 more bytes in datagram 2: datagram 1 goes.
        assert_eq!(
            d.push(&frag4(2, 16, true, &[0; 8]), at(3, 0)),
            Push::Pending
        );
        assert!(matches!(
            d.take_events()[..],
            [DefragEvent::Incomplete {
                reason: GiveUp::MaxBytes,
                first_frame: 1,
                ..
            }]
        ));
        assert_eq!(d.buffered_bytes(), one + 8 + PIECE_OVERHEAD);
        assert_eq!(d.stats().peak_buffered_bytes, 2 * one + 8 + PIECE_OVERHEAD);
        // A fragment larger than the limit on its own goes at once.
        let big = vec![0; 2 * one];
        assert_eq!(d.push(&frag4(3, 0, true, &big), at(4, 0)), Push::Pending);
        assert_eq!(d.datagrams_held(), 0);
        assert_eq!(d.take_events().len(), 2);
        assert!(d.buffered_bytes() <= 2 * one);
    }

    #[test]
    fn shed_oldest_lets_go_of_the_oldest() {
        let mut d = Defragmenter::new(DefragConfig::default());
        assert!(!d.shed_oldest(at(1, 0)));
        for id in 1..=2 {
            d.push(&frag4(id, 0, true, &SEGMENT[..16]), at(u64::from(id), 0));
        }
        let before = d.buffered_bytes();
        assert!(d.shed_oldest(at(3, 0)));
        assert_eq!(
            before - d.buffered_bytes(),
            DATAGRAM_OVERHEAD + 16 + PIECE_OVERHEAD
        );
        assert!(matches!(
            d.take_events()[..],
            [DefragEvent::Incomplete {
                reason: GiveUp::MemoryBudget,
                first_frame: 1,
                ..
            }]
        ));
        assert_eq!(d.datagrams_held(), 1);
    }

    /// Feed one non-fragment packet per second from `from` to `to`.
    fn tick(d: &mut Defragmenter, from: i64, to: i64) {
        for t in from..=to {
            d.advance(at(100 + t as u64, t));
        }
    }

    #[test]
    fn timeout_in_capture_time() {
        let mut d = Defragmenter::new(DefragConfig::default());
        let f = parts4(7);
        d.push(&f[0], at(1, 0));
        tick(&mut d, 1, 30);
        assert_eq!(d.datagrams_held(), 1, "30 s is not more than the timeout");
        d.advance(at(200, 30));
        d.advance(at(201, 31));
        assert_eq!(
            d.take_events(),
            [DefragEvent::Incomplete {
                at: at(201, 31),
                reason: GiveUp::Timeout,
                first_frame: 1,
                fragments: 1,
                bytes: 16,
            }]
        );
        // The rest then starts a new datagram.
        d.push(&f[1], at(202, 31));
        d.push(&f[2], at(203, 31));
        assert_eq!(d.datagrams_held(), 1);
        tick(&mut d, 32, 61);
        assert_eq!(d.datagrams_held(), 1);
        // A fragment's own push moves the clock too.
        d.push(&frag4(8, 0, true, &[0; 8]), at(204, 62));
        assert_eq!(d.datagrams_held(), 1);
        assert!(matches!(
            d.take_events()[..],
            [DefragEvent::Incomplete {
                reason: GiveUp::Timeout,
                first_frame: 202,
                ..
            }]
        ));
    }

    #[test]
    fn a_bogus_timestamp_neither_expires_everything_nor_stops_time() {
        let far = 1_000_000_000; // 30 years on
        let mut d = Defragmenter::new(DefragConfig::default());
        d.push(&frag4(7, 0, true, &[0; 8]), at(1, 0));
        // One packet far in the future, one at the epoch: each counts for
        // at most a second.
        d.advance(at(2, far));
        d.advance(at(3, 1));
        d.advance(PacketRef {
            frame: 4,
            ts: Timestamp::new(0, 0),
        });
        d.advance(at(5, 2));
        assert_eq!(d.datagrams_held(), 1);
        assert_eq!(d.clock.now, 2 * MAX_CLOCK_STEP_NS);
        // And time still passes: the datagram times out 30 s on.
        tick(&mut d, 3, 30);
        assert_eq!(d.datagrams_held(), 1);
        tick(&mut d, 31, 31);
        assert_eq!(d.datagrams_held(), 0);

        // A bogus first timestamp: the clock follows the next packets back.
        let mut d = Defragmenter::new(DefragConfig::default());
        d.advance(at(1, far));
        d.push(&frag4(7, 0, true, &[0; 8]), at(2, 0));
        tick(&mut d, 1, 30);
        assert_eq!(d.datagrams_held(), 1);
        tick(&mut d, 31, 31);
        assert_eq!(d.datagrams_held(), 0);

        // Timestamps a little out of order do not add time.
        let mut d = Defragmenter::new(DefragConfig::default());
        for (frame, ms) in [(1, 0), (2, 500), (3, 400), (4, 600), (5, 100)] {
            d.advance(PacketRef {
                frame,
                ts: Timestamp::new(0, ms * 1_000_000),
            });
        }
        assert_eq!(d.clock.now, 600_000_000);
    }

    #[test]
    fn a_pause_in_the_capture_counts_for_one_step() {
        let mut d = Defragmenter::new(DefragConfig::default());
        d.push(&frag4(7, 0, true, &[0; 8]), at(1, 0));
        // An hour without packets, then the capture goes on.
        d.advance(at(2, 3600));
        assert_eq!(d.datagrams_held(), 1);
        tick(&mut d, 3601, 3628);
        assert_eq!(d.datagrams_held(), 1, "1 + 28 s");
        tick(&mut d, 3629, 3630);
        assert_eq!(d.datagrams_held(), 0);
    }

    #[test]
    fn ipv6_fragments() {
        // The segment in two fragments, next header TCP, id 0x01020304.
        let a = frag6(0x0102_0304, 6, 0, true, &SEGMENT[..24]);
        let b = frag6(0x0102_0304, 6, 24, false, &SEGMENT[24..]);
        // Same id and addresses, another next header: another datagram.
        let other = frag6(0x0102_0304, 60, 0, true, &SEGMENT[..24]);
        // Same id over IPv4: another datagram too.
        let v4 = frag4(0x0102_0304, 0, true, &SEGMENT[..24]);
        let mut d = Defragmenter::new(DefragConfig::default());
        assert_eq!(d.push(&b, at(1, 0)), Push::Pending);
        assert_eq!(d.push(&other, at(2, 0)), Push::Pending);
        assert_eq!(d.push(&v4, at(3, 0)), Push::Pending);
        let p = complete(d.push(&a, at(4, 0)));
        let mut header = vec![
            0x60, 0, 0, 0, // version 6
            0, 40, 6, 64, // payload length 40, next header TCP, hop limit
        ];
        header.extend_from_slice(&CLIENT6.octets());
        header.extend_from_slice(&BROKER6.octets());
        assert_eq!(p[..40], header[..]);
        assert_eq!(p[40..], SEGMENT[..]);
        check_segment(&p);
        assert_eq!(d.datagrams_held(), 3);
        d.finish(at(5, 0));
        assert_eq!(d.take_events().len(), 2);

        // Destination options (8 bytes, next header TCP) in the fragmentable
        // part: the reassembled packet is decoded through them.
        let mut payload = vec![6, 0, 1, 4, 0, 0, 0, 0];
        payload.extend_from_slice(&SEGMENT);
        let a = frag6(9, 60, 0, true, &payload[..32]);
        let b = frag6(9, 60, 32, false, &payload[32..]);
        let mut d = Defragmenter::new(DefragConfig::default());
        d.push(&a, at(1, 0));
        check_segment(&complete(d.push(&b, at(2, 0))));
    }

    #[test]
    fn snaplen_cut_fragment_becomes_a_short_payload() {
        let mut d = Defragmenter::new(DefragConfig::default());
        let f = parts4(7);
        // The middle fragment was cut after 6 of its 16 bytes: payload
        // bytes 22..32 were not captured.
        let cut = IpFragment {
            data: &SEGMENT[16..22],
            ..f[1]
        };
        d.push(&f[2], at(1, 0));
        d.push(&cut, at(2, 0));
        let p = complete(d.push(&f[0], at(3, 0)));
        // The header declares all 40 bytes; the bytes stop at the cut.
        assert_eq!(p[2..4], [0, 60]);
        assert_eq!(p[20..], SEGMENT[..22]);
        match decode(LinkType::RAW, &p) {
            Decoded::Tcp(s) => {
                assert_eq!(s.payload, &SEGMENT[20..22]);
                assert_eq!(s.payload_len, 20);
            }
            other => panic!("expected TCP, got {other:?}"),
        }
        // A duplicate that was captured whole does not fill the cut: the
        // first copy wins, and it agrees where both were captured.
        let mut d = Defragmenter::new(DefragConfig::default());
        d.push(&cut, at(1, 0));
        d.push(&f[1], at(2, 0));
        d.push(&f[0], at(3, 0));
        let p = complete(d.push(&f[2], at(4, 0)));
        assert_eq!(p[20..], SEGMENT[..22]);
        assert!(d.take_events().is_empty());
    }

    #[test]
    fn largest_datagram_in_smallest_fragments_backwards() {
        // 65,512 payload bytes in 8,189 fragments of 8 bytes, last first:
        // each push costs a lookup, not a walk over what is held.
        let payload: Vec<u8> = (0..65_512u32).map(|i| (i % 251) as u8).collect();
        let n = payload.len() / 8;
        let mut d = Defragmenter::new(DefragConfig {
            max_bytes: usize::MAX,
            ..DefragConfig::default()
        });
        for i in (0..n).rev() {
            let f = frag4(1, (i * 8) as u32, i + 1 < n, &payload[i * 8..i * 8 + 8]);
            let out = d.push(&f, at(1, 0));
            if i > 0 {
                assert_eq!(out, Push::Pending);
            } else {
                let p = complete(out);
                assert_eq!(p.len(), 20 + payload.len());
                assert_eq!(p[20..], payload[..]);
            }
        }
        // One fragment covering everything, pushed again over the pieces.
        let mut d = Defragmenter::new(DefragConfig::default());
        for i in 0..n - 1 {
            d.push(
                &frag4(1, (i * 8) as u32, true, &payload[i * 8..i * 8 + 8]),
                at(1, 0),
            );
        }
        let whole = frag4(1, 0, false, &payload);
        assert_eq!(complete(d.push(&whole, at(2, 0)))[20..], payload[..]);
    }

    /// Numerical Recipes' LCG.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) as u32
        }
        fn one_in(&mut self, n: u32) -> bool {
            self.next().is_multiple_of(n)
        }
    }

    #[test]
    fn random_fragments_stay_within_the_limits() {
        let cfg = DefragConfig {
            max_datagrams: 8,
            max_bytes: 20_000,
            max_datagram_size: 4000,
            timeout_ns: 5_000_000_000,
        };
        let mut d = Defragmenter::new(cfg.clone());
        let mut rng = Lcg(0x006b_7769_7265);
        let data = [0x5au8; 2048];
        let mut complete = 0;
        for frame in 1..50_000u64 {
            let len = rng.next() as usize % 1500;
            let f = IpFragment {
                id: rng.next() % 16,
                protocol: if rng.one_in(4) { 60 } else { 6 },
                offset: (rng.next() % 600) * 8 + u32::from(rng.one_in(50)),
                more: !rng.one_in(3),
                data: &data[..len.min(data.len())],
                data_len: if rng.one_in(10) {
                    len as u32 + 5
                } else {
                    len as u32
                },
                ..if rng.one_in(2) {
                    frag4(0, 0, false, &[])
                } else {
                    frag6(0, 6, 0, false, &[])
                }
            };
            let t = (frame / 100) as i64 + i64::from(rng.one_in(3)) * 1000;
            if let Push::Complete(p) = d.push(&f, at(frame, t)) {
                complete += 1;
                assert!(p.len() <= 40 + cfg.max_datagram_size);
                let _ = decode(LinkType::RAW, &p);
            }
            assert!(d.buffered_bytes() <= cfg.max_bytes);
            assert!(d.datagrams_held() <= cfg.max_datagrams);
            let s = d.stats();
            assert!(s.reassembled + s.incomplete <= s.fragments);
        }
        d.finish(at(50_000, 600));
        assert_eq!((d.datagrams_held(), d.buffered_bytes()), (0, 0));
        assert!(complete > 0, "some datagrams completed");
    }
}
