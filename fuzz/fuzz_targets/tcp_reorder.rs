//! TCP reassembly of one connection whose segments arrive in any order, with
//! overlaps, duplicates and retransmissions carrying other bytes, checked
//! against a model of the two streams that were sent.
//!
//! The input describes the two streams (client→server, server→client), how
//! they were cut into segments, which copies were retransmitted (with the
//! same or different bytes, or cut by the snaplen), which ACKs and FINs went
//! with them, and the order in which the capture saw it all. Every packet is
//! planned first, so whether bytes may be lost follows from the plan and the
//! limits alone; then the packets (RAW IPv4+TCP, through `capture::link`) go
//! to a bare `tcp::Reassembler` with a checking `StreamSink`.
//!
//! Input layout (multi-byte numbers big-endian):
//!
//! ```text
//! header, 8 bytes:
//!   h0: bit 0  the handshake (SYN, SYN-ACK, ACK) comes first; else each
//!              stream starts at the first segment seen in its direction
//!       bit 1  initial sequence numbers just below 2^32 (wrap-around)
//!       bit 2  the client ends its stream with a FIN (ACKs may cover it)
//!       bit 3  the server ends its stream with a FIN
//!       bit 4  a RST|ACK from the client after everything else
//!       bit 5  the fill segments (below) in shuffled order, else last
//!       bit 6  the fill does not capture the FINs (only records do)
//!       bit 7  the fill segments acknowledge the peer's whole stream
//!   h1 h2: client stream length (mod 4097)
//!   h3 h4: server stream length (mod 4097)
//!   h5: fill segment size - 16
//!   h6: limits, 0 = none is hit: bits 0-1 hole_packets (2^20, 1, 4, 16);
//!       bits 2-3 hole_timeout (1 h, 1 ms, 50 ms, 2 s); bits 4-5
//!       max_ooo_bytes (1 MiB, 64, 512, 4096); bits 6-7 max_ooo_segments
//!       (4096, 1, 4, 32)
//!   h7: bits 0-1 max_total_ooo_bytes (1 GiB, max_ooo_bytes, half of it,
//!       three halves of it); bits 2-7 time between packets, x 160 µs
//! records, 5 bytes each (at most 2048):
//!   r0: bit 0 from the server (else from the client);
//!       bits 1-2 kind: 0 piece: the next 1+r2 bytes of the stream
//!                               (nothing once the stream is cut up);
//!                               bit 3 lost: the capture misses it
//!                      1 copy: bytes [p, p+1+r2), p = r3 * len / 256;
//!                              bit 3 cut by the snaplen (first half kept)
//!                      2 altered copy: as 1, bytes XOR (1 + bits 6-7)
//!                      3 control: bit 4 a retransmitted SYN / SYN-ACK
//!                                 (with the handshake), else bit 3 a FIN
//!                                 (if the stream ends with one), else an
//!                                 empty segment at p = r3 * (len+1) / 256
//!       bit 4 (kinds 0-2): FIN set when the data reaches the stream's end
//!             (if the stream ends with one)
//!       bit 5: no ACK flag
//!   r1: slot: the capture order is by slot, then by position in the input
//!   r2: length - 1
//!   r3: position (kinds 1-3)
//!   r4: ACK number: r4 * (peer's length, + 1 with its FIN) / 255 into the
//!       peer's stream
//! after the records, the fill: the rest of each stream after its last
//! piece, in pieces of h5 + 16 bytes, and each FIN (unless h0 bit 6), all at
//! slot 255 (or pseudo-random slots with h0 bit 5).
//! ```
//!
//! Checks, per direction (the sink's stream position of a byte is the sum of
//! the data and gap lengths before it): `on_open` comes first and once with
//! the right endpoints, `on_close` once and nothing after it, with a reason
//! that can be true (FIN only after both FINs, reset only after the RST,
//! capture end only from `finish`); data and gaps are never empty; every
//! data byte lies inside the stream sent and equals a copy of that byte
//! captured by then (the original or an altered one); data and gaps together
//! end within the stream (+1 for a FIN the ACKs cover: see the end of this
//! file); snaplen gaps only when a segment was cut, buffer-limit gaps only
//! after an `OooLimit` event.
//! When nothing can lose bytes (every byte captured at least once, no
//! snaplen cut, the hole timers and the buffer limits out of reach), there
//! is no gap and no `OooLimit`, and the data is the whole stream from where
//! it started. After `finish` nothing is buffered.
#![no_main]

mod common;

use std::net::{SocketAddr, SocketAddrV4};

use common::*;
use kwire::capture::link::{Decoded, decode};
use kwire::capture::{LinkType, PacketRef, Timestamp};
use kwire::tcp::{
    CloseReason, ConnInfo, Dir, GapCause, Interest, Reassembler, StreamSink, TcpConfig, TcpEvent,
};
use libfuzzer_sys::fuzz_target;

const MAX_RECORDS: usize = 2048;
const MAX_LEN: u16 = 4096;
const CLIENT: usize = 0;
const SERVER: usize = 1;

/// The original byte at stream offset `off` of side `side`.
fn original(side: usize, off: u64) -> u8 {
    let x = (off as u32 ^ ((side as u32) << 20)).wrapping_mul(0x9e37_79b1);
    (x >> 24) as u8
}

/// One planned packet.
struct Seg {
    side: usize,
    slot: u8,
    /// Stream offset of the sequence number (data start, or the FIN's
    /// place); ignored for a SYN.
    off: u64,
    /// Payload as sent, and how many of its bytes were captured.
    data: Vec<u8>,
    captured: usize,
    /// XOR applied to the original bytes (0: the original).
    mask: u8,
    flags: u8,
    /// Offset into the peer's stream acknowledged (with ACK).
    ack: u64,
}

/// What the sink knows of the plan, updated as packets are fed.
struct Model {
    client: SocketAddrV4,
    server: SocketAddrV4,
    handshake: bool,
    len: [u64; 2],
    /// The stream offset the reassembler's stream starts at, per side, once
    /// a segment of that side was fed.
    start: [Option<u64>; 2],
    /// Per side and offset, which copies were captured so far: bit 0 the
    /// original, bit k the copy XOR k (1..=4).
    copies: [Vec<u8>; 2],
    /// Nothing can lose bytes (decided from the whole plan).
    exact: bool,
    /// Some segment was cut by the snaplen (fed so far).
    cut_fed: bool,
    fins_fed: [bool; 2],
    rst_fed: bool,
    finishing: bool,
    /// Side of the first packet fed.
    first_side: Option<usize>,
}

#[derive(PartialEq, Eq, Debug, Clone, Copy)]
enum St {
    New,
    Open,
    Closed,
}

struct Check {
    m: Model,
    st: St,
    info: Option<ConnInfo>,
    /// Stream position per side (data and gaps so far), and data bytes.
    pos: [u64; 2],
    data_bytes: [u64; 2],
    ooo_limit: [bool; 2],
    /// `KWIRE_FUZZ_DEBUG`: print gaps, events and the close.
    debug: bool,
}

impl Check {
    /// The side sending in `dir`, after checking the connection is open.
    fn side(&self, info: &ConnInfo, dir: Dir) -> usize {
        assert_eq!(self.st, St::Open, "callback while {:?}", self.st);
        // The connection's identity never changes; its segment counts only
        // grow.
        let known = self.info.expect("a callback before the open");
        assert_eq!(ident(info), ident(&known), "ConnInfo changed");
        assert!(
            info.segments[0] >= known.segments[0] && info.segments[1] >= known.segments[1],
            "segment counts went down: {known:?} → {info:?}"
        );
        if info.src(dir) == SocketAddr::V4(self.m.client) {
            CLIENT
        } else {
            SERVER
        }
    }
}

impl StreamSink for Check {
    fn on_open(&mut self, info: &ConnInfo, _at: PacketRef) -> Interest {
        assert_eq!(self.st, St::New, "a second connection: {info:?}");
        self.st = St::Open;
        self.info = Some(*info);
        let (c, s) = (SocketAddr::V4(self.m.client), SocketAddr::V4(self.m.server));
        assert!(
            (info.a, info.b) == (c, s) || (info.a, info.b) == (s, c),
            "endpoints {info:?}"
        );
        if self.m.handshake {
            assert!(info.handshake_seen && info.a == c, "{info:?}");
        } else {
            assert!(!info.handshake_seen, "{info:?}");
            let first = [c, s][self.m.first_side.expect("opened before a packet")];
            assert_eq!(info.a, first, "A is the source of the first packet");
        }
        Interest::Keep
    }

    fn on_data(&mut self, info: &ConnInfo, dir: Dir, data: &[u8], _at: PacketRef) -> Interest {
        let side = self.side(info, dir);
        assert!(!data.is_empty(), "empty data");
        let start = self.m.start[side].expect("data from a side that sent nothing");
        for (k, &b) in data.iter().enumerate() {
            let off = start + self.pos[side] + k as u64;
            assert!(
                off < self.m.len[side],
                "side {side}: data at offset {off}, beyond the {}-byte stream",
                self.m.len[side]
            );
            let x = b ^ original(side, off);
            let seen = self.m.copies[side][off as usize];
            assert!(
                x <= 4 && seen & (1 << x) != 0,
                "side {side}: byte {b:#04x} at offset {off} (stream position {}) is \
                 no captured copy (original {:#04x}, copies captured {seen:#07b})",
                self.pos[side] + k as u64,
                original(side, off)
            );
        }
        self.pos[side] += data.len() as u64;
        self.data_bytes[side] += data.len() as u64;
        Interest::Keep
    }

    fn on_gap(&mut self, info: &ConnInfo, dir: Dir, len: u64, cause: GapCause, _at: PacketRef) {
        let side = self.side(info, dir);
        assert!(len > 0, "empty gap");
        assert!(
            self.m.start[side].is_some(),
            "gap in a side that sent nothing"
        );
        assert!(
            !self.m.exact,
            "side {side}: a {len}-byte {cause:?} gap at position {} though nothing can be lost",
            self.pos[side]
        );
        if self.debug {
            eprintln!(
                "side {side}: {len}-byte {cause:?} gap at position {} (offset {:?})",
                self.pos[side],
                self.m.start[side].map(|s| s + self.pos[side])
            );
        }
        match cause {
            GapCause::Snaplen => assert!(self.m.cut_fed, "snaplen gap without a cut segment"),
            GapCause::BufferLimit => assert!(
                self.ooo_limit[side],
                "side {side}: buffer-limit gap without an OooLimit event"
            ),
            GapCause::Lost | GapCause::Closed => {}
        }
        self.pos[side] += len;
    }

    fn on_close(&mut self, info: &ConnInfo, reason: CloseReason, _at: PacketRef) {
        self.side(info, Dir::AtoB);
        if self.debug {
            eprintln!("closed: {reason:?}");
        }
        match reason {
            CloseReason::Fin => assert!(
                self.m.fins_fed == [true, true],
                "closed by FIN before both FINs were captured"
            ),
            CloseReason::Reset => assert!(self.m.rst_fed, "reset without a RST"),
            CloseReason::CaptureEnd => assert!(self.m.finishing, "capture end before finish"),
            r => panic!("closed as {r:?}: no idle time, one flow, one ISN"),
        }
        self.st = St::Closed;
    }

    fn on_event(&mut self, info: &ConnInfo, event: TcpEvent, _at: PacketRef) {
        self.side(info, Dir::AtoB);
        if self.debug {
            eprintln!("event: {event:?}");
        }
        // Other events (FlowLimit cannot happen here, and kwire adds more)
        // pass unchecked.
        if let TcpEvent::OooLimit { dir, .. } = event {
            let side = self.side(info, dir);
            assert!(
                !self.m.exact,
                "side {side}: OooLimit though no limit is in reach"
            );
            self.ooo_limit[side] = true;
        }
    }
}

/// A small deterministic generator for the shuffled fill slots.
fn next_rand(x: &mut u32) -> u8 {
    *x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
    (*x >> 24) as u8
}

/// A segment without payload.
fn control(side: usize, flags: u8, off: u64, ack: u64) -> Seg {
    Seg {
        side,
        slot: 0,
        off,
        data: Vec::new(),
        captured: 0,
        mask: 0,
        flags,
        ack,
    }
}

/// The RAW IPv4+TCP packet of `g`, cut to its captured bytes. Stream offset
/// `o` of a side has sequence number `isn + 1 + o`.
fn packet_of(g: &Seg, isn: &[u32; 2], addr: [SocketAddrV4; 2]) -> Vec<u8> {
    let peer = 1 - g.side;
    let seq_of = |side: usize, off: u64| isn[side].wrapping_add(1).wrapping_add(off as u32);
    let (seq, ack) = if g.flags & SYN != 0 {
        // A SYN-ACK acknowledges the SYN.
        (isn[g.side], isn[peer].wrapping_add(1))
    } else {
        (seq_of(g.side, g.off), seq_of(peer, g.ack))
    };
    let mut p = packet(addr[g.side], addr[peer], seq, ack, g.flags, &g.data);
    p.truncate(40 + g.captured);
    p
}

fuzz_target!(|data: &[u8]| {
    let mut s = Script::new(data);
    let h0 = s.u8();
    let len = [
        u64::from(s.u16() % (MAX_LEN + 1)),
        u64::from(s.u16() % (MAX_LEN + 1)),
    ];
    let fill = 16 + usize::from(s.u8());
    let (h6, h7) = (s.u8(), s.u8());
    let handshake = h0 & 1 != 0;
    let wrap = h0 & 2 != 0;
    let fin_sent = [h0 & 4 != 0, h0 & 8 != 0];
    let rst = h0 & 16 != 0;
    let shuffle = h0 & 32 != 0;
    let fill_fins = h0 & 64 == 0;
    let fill_acks_all = h0 & 128 != 0;
    let end = |side: usize| len[side] + u64::from(fin_sent[side]);

    let max_ooo_bytes = [1 << 20, 64, 512, 4096][usize::from(h6 >> 4 & 3)];
    #[allow(clippy::needless_update)]
    let cfg = TcpConfig {
        hole_packets: [1 << 20, 1, 4, 16][usize::from(h6 & 3)],
        hole_timeout_ns: [3_600_000_000_000, 1_000_000, 50_000_000, 2_000_000_000]
            [usize::from(h6 >> 2 & 3)],
        max_ooo_bytes,
        max_ooo_segments: [4096, 1, 4, 32][usize::from(h6 >> 6)],
        max_total_ooo_bytes: [
            1 << 30,
            max_ooo_bytes,
            max_ooo_bytes / 2,
            max_ooo_bytes * 3 / 2,
        ][usize::from(h7 & 3)],
        // At most ~2600 packets 10 ms apart: well within the idle timeout
        // and within the 60 s a closed connection is remembered.
        idle_timeout_ns: 300_000_000_000,
        max_flows: 16,
        ..TcpConfig::default()
    };
    let step_ns = i64::from(h7 >> 2) * 160_000;

    // The plan.
    let mut segs: Vec<Seg> = Vec::new();
    let mut cursor = [0u64; 2];
    let mut records = 0;
    while s.len() >= 5 && records < MAX_RECORDS {
        records += 1;
        let (r0, slot, r2, r3, r4) = (s.u8(), s.u8(), s.u8(), s.u8(), s.u8());
        let side = usize::from(r0 & 1);
        let peer = 1 - side;
        let kind = r0 >> 1 & 3;
        let n = u64::from(r2) + 1;
        let ack = u64::from(r4) * end(peer) / 255;
        let mut flags = if r0 & 32 != 0 { 0 } else { ACK };
        let (off, stop, mask, captured_all) = match kind {
            0 => {
                let off = cursor[side];
                if off >= len[side] {
                    continue;
                }
                cursor[side] = (off + n).min(len[side]);
                if r0 & 8 != 0 {
                    continue; // sent, not captured
                }
                (off, cursor[side], 0, true)
            }
            1 | 2 => {
                if len[side] == 0 {
                    continue;
                }
                let off = u64::from(r3) * len[side] / 256;
                let mask = if kind == 2 { 1 + (r0 >> 6) } else { 0 };
                (off, (off + n).min(len[side]), mask, r0 & 8 == 0)
            }
            _ => {
                if r0 & 16 != 0 {
                    if !handshake {
                        continue;
                    }
                    // A retransmitted SYN (client) or SYN-ACK (server).
                    let flags = if side == CLIENT { SYN } else { SYN | ACK };
                    segs.push(Seg {
                        slot,
                        ..control(side, flags, 0, 0)
                    });
                    continue;
                }
                if r0 & 8 != 0 && fin_sent[side] {
                    flags |= FIN;
                    (len[side], len[side], 0, true)
                } else {
                    let off = u64::from(r3) * (len[side] + 1) / 256;
                    (off, off, 0, true)
                }
            }
        };
        if kind < 3 && r0 & 16 != 0 && stop == len[side] && fin_sent[side] {
            flags |= FIN;
        }
        let bytes: Vec<u8> = (off..stop).map(|o| original(side, o) ^ mask).collect();
        let captured = if captured_all {
            bytes.len()
        } else {
            bytes.len() / 2
        };
        segs.push(Seg {
            side,
            slot,
            off,
            data: bytes,
            captured,
            mask,
            flags,
            ack,
        });
    }
    // The fill: the rest of each stream, and the FINs.
    let mut rng = len[0] as u32 ^ (len[1] as u32) << 16 ^ fill as u32;
    for side in [CLIENT, SERVER] {
        let ack = if fill_acks_all { end(1 - side) } else { 0 };
        let mut off = cursor[side];
        while off < len[side] {
            let stop = (off + fill as u64).min(len[side]);
            segs.push(Seg {
                side,
                slot: if shuffle { next_rand(&mut rng) } else { 255 },
                off,
                data: (off..stop).map(|o| original(side, o)).collect(),
                captured: (stop - off) as usize,
                mask: 0,
                flags: ACK | PSH,
                ack,
            });
            off = stop;
        }
        if fin_sent[side] && fill_fins {
            segs.push(Seg {
                slot: if shuffle { next_rand(&mut rng) } else { 255 },
                ..control(side, FIN | ACK, len[side], ack)
            });
        }
    }
    segs.sort_by_key(|g| g.slot);

    // Endpoints and sequence numbers: stream offset o is isn + 1 + o.
    let client = v4(10, 0, 0, 1, 40000);
    let server = v4(10, 0, 0, 2, 9092);
    let isn: [u32; 2] = if wrap {
        // Both streams cross 2^32 within their first 4 KiB.
        [0xffff_f800, 0xffff_fc00]
    } else {
        [1000, 500_000]
    };
    let handshake_segs = [
        control(CLIENT, SYN, 0, 0),
        control(SERVER, SYN | ACK, 0, 0),
        control(CLIENT, ACK, 0, 0),
    ];
    let rst_seg = control(CLIENT, RST | ACK, end(CLIENT), end(SERVER));
    let mut order: Vec<&Seg> = Vec::new();
    if handshake {
        order.extend(&handshake_segs);
    }
    order.extend(&segs);
    if rst {
        order.push(&rst_seg);
    }

    // Can anything lose bytes? Every byte captured at least once from where
    // each stream starts, no snaplen cut, hole timers and buffer limits out
    // of reach.
    let mut start: [Option<u64>; 2] = [None; 2];
    if handshake {
        start = [Some(0), Some(0)];
    }
    let mut covered = [vec![false; len[0] as usize], vec![false; len[1] as usize]];
    let mut data_segs = [0usize; 2];
    let mut any_cut = false;
    for g in &order {
        if start[g.side].is_none() && g.flags & SYN == 0 {
            start[g.side] = Some(g.off);
        }
        if !g.data.is_empty() {
            data_segs[g.side] += 1;
        }
        any_cut |= g.captured < g.data.len();
        for o in g.off..g.off + g.captured as u64 {
            covered[g.side][o as usize] = true;
        }
    }
    let elapsed = step_ns as u64 * order.len().saturating_sub(1) as u64;
    let exact = !any_cut
        && (order.len() as u64) < u64::from(cfg.hole_packets)
        && elapsed < cfg.hole_timeout_ns
        && cfg.max_ooo_bytes as u64 >= len[0].max(len[1])
        && cfg.max_total_ooo_bytes as u64 >= len[0] + len[1]
        && data_segs.iter().all(|&n| n <= cfg.max_ooo_segments)
        && [CLIENT, SERVER].iter().all(|&side| {
            let from = start[side].unwrap_or(len[side]) as usize;
            covered[side][from.min(covered[side].len())..]
                .iter()
                .all(|&c| c)
        });
    let debug = std::env::var_os("KWIRE_FUZZ_DEBUG").is_some();
    if debug {
        eprintln!(
            "len {len:?} fin {fin_sent:?} handshake {handshake} rst {rst} exact {exact} {cfg:?}"
        );
        for (i, g) in order.iter().enumerate() {
            eprintln!(
                "{:4} side {} flags {:#04x} off {} len {} captured {} mask {} ack {}",
                i + 1,
                g.side,
                g.flags,
                g.off,
                g.data.len(),
                g.captured,
                g.mask,
                g.ack,
            );
        }
    }

    let mut check = Check {
        m: Model {
            client,
            server,
            handshake,
            len,
            start: [None; 2],
            copies: [vec![0; len[0] as usize], vec![0; len[1] as usize]],
            exact,
            cut_fed: false,
            fins_fed: [false; 2],
            rst_fed: false,
            finishing: false,
            first_side: None,
        },
        st: St::New,
        info: None,
        pos: [0; 2],
        data_bytes: [0; 2],
        ooo_limit: [false; 2],
        debug,
    };
    let mut tcp = Reassembler::new(cfg);
    let mut at = PacketRef::default();
    let t0: i64 = 1_700_000_000_000_000_000;
    for (i, &g) in order.iter().enumerate() {
        let side = &g.side;
        let p = packet_of(g, &isn, [client, server]);
        let ns = t0 + step_ns * i as i64;
        at = PacketRef {
            frame: i as u64 + 1,
            ts: Timestamp::new(ns / 1_000_000_000, (ns % 1_000_000_000) as u32),
        };
        let Decoded::Tcp(seg) = decode(LinkType::RAW, &p) else {
            panic!("packet {} does not decode as TCP", i + 1);
        };
        // What the sink may see once this packet is in.
        let m = &mut check.m;
        m.first_side.get_or_insert(*side);
        if g.flags & SYN == 0 {
            m.start[*side].get_or_insert(g.off);
        } else if g.flags & ACK != 0 {
            // A SYN-ACK starts both streams at offset 0.
            m.start = [Some(0), Some(0)];
        } else {
            m.start[*side] = Some(0);
        }
        m.cut_fed |= g.captured < g.data.len();
        m.fins_fed[*side] |= g.flags & FIN != 0;
        m.rst_fed |= g.flags & RST != 0;
        let bit = 1u8 << g.mask;
        for o in g.off..g.off + g.captured as u64 {
            m.copies[*side][o as usize] |= bit;
        }
        tcp.segment(&seg, at, &mut check);
    }
    check.m.finishing = true;
    tcp.finish(at, &mut check);

    assert_eq!(tcp.buffered_bytes(), 0, "bytes still buffered after finish");
    if order.is_empty() {
        assert_eq!(check.st, St::New);
        return;
    }
    assert_eq!(check.st, St::Closed, "the connection was not closed");
    assert_eq!(tcp.stats().connections, 1);
    for side in [CLIENT, SERVER] {
        let Some(start) = check.m.start[side] else {
            assert_eq!(check.pos[side], 0, "side {side} sent nothing");
            continue;
        };
        let want = len[side].saturating_sub(start);
        // `end`, not `len`: a Lost gap may run one past the data when the
        // peer's ACK covers a FIN the capture lacks while holes are pending
        // (README "Findings" 4, regressions/tcp_reorder/
        // fin_ack_gap_past_end.bin); use `len` once that is fixed.
        assert!(
            check.pos[side] <= end(side).saturating_sub(start),
            "side {side}: data and gaps cover {} bytes of a stream of {} from offset {start}",
            check.pos[side],
            len[side]
        );
        if exact {
            assert_eq!(
                (check.pos[side], check.data_bytes[side]),
                (want, want),
                "side {side}: (covered, delivered) of a stream of {} from offset {start}",
                len[side]
            );
        }
    }
});

/// What identifies a connection (its segment counts aside).
fn ident(i: &ConnInfo) -> (kwire::tcp::ConnId, SocketAddr, SocketAddr, bool) {
    (i.id, i.a, i.b, i.handshake_seen)
}
