//! TCP reassembly and the session layer under scripted segments.
//!
//! The input is a script of TCP segments for 1–3 connections, turned into raw
//! IPv4+TCP packets (link type RAW) and fed both to a bare
//! `tcp::Reassembler` with a checking `StreamSink` and to the whole
//! `session::Analyzer` with a checking record sink.
//!
//! Input layout (all multi-byte numbers big-endian):
//!
//! ```text
//! header, 4 bytes:
//!   h0: bits 0-1  connections - 1 (1..=3)
//!       bit 2     broker port 9092 given (--port) instead of detection
//!       bit 3     "verify" mode: payload bytes are a function of their
//!                 sequence number (input bytes are not consumed), and every
//!                 byte the reassembler delivers is checked against it
//!       bit 4     initial sequence numbers just below 2^32 (wrap-around)
//!       bit 5     the bare sink answers Ignore after h2 data callbacks
//!       bit 6     max_flows = 2 (eviction)
//!   h1: bits 0-2  which connections start with a captured handshake
//!       bit 4     all connections on one address pair (reuse)
//!       bit 5     connection 1 goes to another broker (10.0.0.3:9093)
//!   h2: data callbacks before Ignore (bit 5 of h0)
//!   h3: bits 0-3 hole_packets - 1; bits 4-7 max_ooo_segments / 2
//! ops, 7 bytes each plus payload:
//!   o0: bits 0-1 connection (mod count), bit 2 server->client,
//!       bits 3-7 flags: < 24 ACK|PSH, else one of
//!       SYN, SYN|ACK, FIN|ACK, RST|ACK, RST, ACK, FIN, none
//!   o1 o2: sequence number, signed delta from the sender's next byte
//!          (0 = in order; a SYN's delta is from its initial number)
//!   o3: ACK number, signed delta from the peer's next byte (0x7f: +65536)
//!   o4: payload length (payload bytes follow unless in verify mode)
//!   o5: snaplen: 0 none; 1..=127 keep o5-1 payload bytes; 128.. keep the
//!       first o5-128 bytes of the packet
//!   o6: time step in ms (0xff: 30 s, beyond the idle timeout)
//! ```
//!
//! Checks: no panic; the bare sink sees, per connection, `on_open` first
//! (ids 0, 1, 2... in order), then non-empty data, non-zero gaps and events,
//! one `on_close` and nothing after it (nothing at all after Ignore), and
//! every connection closed or ignored after `finish`; in verify mode the data
//! at each stream position (sum of data and gap lengths before it) is the
//! byte sent at that sequence number; the analyzer's records and summary pass
//! `common::Checker` (answered <= exchanges, ...).
#![no_main]

mod common;

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, SocketAddrV4};

use common::*;
use kwire::capture::link::{Decoded, decode};
use kwire::capture::{LinkType, Packet, PacketRef, SourceFormat, Timestamp};
use kwire::session::{Analyzer, CaptureInfo, SessionConfig};
use kwire::tcp::{
    CloseReason, ConnInfo, Dir, GapCause, Interest, Reassembler, StreamSink, TcpConfig, TcpEvent,
};
use libfuzzer_sys::fuzz_target;

const SPECIAL_FLAGS: [u8; 8] = [SYN, SYN | ACK, FIN | ACK, RST | ACK, RST, ACK, FIN, 0];
const MAX_OPS: usize = 2048;
/// Delivered bytes kept per direction for verification.
const MAX_KEPT: usize = 1 << 16;

/// The byte at sequence number `seq` of the stream sent from port `port`.
fn content(port: u16, seq: u32) -> u8 {
    let x = (seq ^ (u32::from(port) << 16)).wrapping_mul(0x9e37_79b1);
    (x >> 24) as u8
}

#[derive(Clone, Copy)]
struct Side {
    addr: SocketAddrV4,
    isn: u32,
    /// Next sequence number to send.
    next: u32,
}

struct Conn {
    c: Side,
    s: Side,
}

#[derive(PartialEq, Eq, Debug, Clone, Copy)]
enum St {
    Open,
    Closed,
    Ignored,
}

struct RawConn {
    info: ConnInfo,
    st: St,
    /// Stream position per direction: data and gap bytes so far.
    pos: [u64; 2],
    data_calls: u64,
    /// Delivered data per direction, `(position, bytes)`, bounded.
    kept: [Vec<(u64, Vec<u8>)>; 2],
    kept_bytes: [usize; 2],
}

/// The bare reassembler's sink: checks its contract.
struct RawCheck {
    conns: Vec<RawConn>,
    ignore_after: Option<u64>,
}

impl RawCheck {
    fn conn(&mut self, info: &ConnInfo) -> &mut RawConn {
        let c = self
            .conns
            .get_mut(info.id.0 as usize)
            .unwrap_or_else(|| panic!("callback for unopened connection {:?}", info.id));
        // The connection's identity never changes; its segment counts only
        // grow.
        assert_eq!(ident(&c.info), ident(info), "ConnInfo changed");
        assert!(
            info.segments[0] >= c.info.segments[0] && info.segments[1] >= c.info.segments[1],
            "segment counts went down: {:?} → {info:?}",
            c.info
        );
        c.info = *info;
        assert_eq!(c.st, St::Open, "callback for a {:?} connection", c.st);
        c
    }
}

impl StreamSink for RawCheck {
    fn on_open(&mut self, info: &ConnInfo, _at: PacketRef) -> Interest {
        assert_eq!(
            info.id.0,
            self.conns.len() as u64,
            "connection ids in order"
        );
        assert_ne!(info.a, info.b);
        self.conns.push(RawConn {
            info: *info,
            st: St::Open,
            pos: [0; 2],
            data_calls: 0,
            kept: [Vec::new(), Vec::new()],
            kept_bytes: [0; 2],
        });
        Interest::Keep
    }

    fn on_data(&mut self, info: &ConnInfo, dir: Dir, data: &[u8], _at: PacketRef) -> Interest {
        let ignore_after = self.ignore_after;
        let c = self.conn(info);
        assert!(!data.is_empty(), "empty data callback");
        let d = dir.index();
        if c.kept_bytes[d] + data.len() <= MAX_KEPT {
            c.kept[d].push((c.pos[d], data.to_vec()));
            c.kept_bytes[d] += data.len();
        }
        c.pos[d] += data.len() as u64;
        c.data_calls += 1;
        if ignore_after.is_some_and(|n| c.data_calls >= n) {
            c.st = St::Ignored;
            return Interest::Ignore;
        }
        Interest::Keep
    }

    fn on_gap(&mut self, info: &ConnInfo, dir: Dir, len: u64, _cause: GapCause, _at: PacketRef) {
        let c = self.conn(info);
        assert!(len > 0, "empty gap");
        c.pos[dir.index()] += len;
    }

    fn on_close(&mut self, info: &ConnInfo, _reason: CloseReason, _at: PacketRef) {
        self.conn(info).st = St::Closed;
    }

    fn on_event(&mut self, info: &ConnInfo, _event: TcpEvent, _at: PacketRef) {
        self.conn(info);
    }
}

struct Gen {
    conns: Vec<Conn>,
    verify: bool,
    packets: Vec<(Timestamp, Vec<u8>, u32)>,
    ns: i64,
    /// Sequence numbers a direction's stream may be based on, by sender and
    /// receiver address: every SYN's seq + 1, every SYN-ACK's ack (for the
    /// peer), every segment's seq.
    bases: HashMap<(SocketAddrV4, SocketAddrV4), HashSet<u32>>,
}

impl Gen {
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        ci: usize,
        from_server: bool,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
        cut: u8,
    ) {
        let conn = &mut self.conns[ci];
        let (me, peer) = if from_server {
            (&mut conn.s, &mut conn.c)
        } else {
            (&mut conn.c, &mut conn.s)
        };
        let (src, dst) = (me.addr, peer.addr);
        let syn = u32::from(flags & SYN != 0);
        let fin = u32::from(flags & FIN != 0);
        let data_seq = seq.wrapping_add(syn);
        let verify_payload;
        let payload = if self.verify {
            verify_payload = (0..payload.len() as u32)
                .map(|k| content(src.port(), data_seq.wrapping_add(k)))
                .collect::<Vec<_>>();
            &verify_payload[..]
        } else {
            payload
        };
        let end = data_seq
            .wrapping_add(payload.len() as u32)
            .wrapping_add(fin);
        if flags & SYN != 0 {
            me.isn = seq;
            me.next = end;
        } else if end.wrapping_sub(me.next) as i32 > 0 {
            me.next = end;
        }
        if self.verify {
            let set = self.bases.entry((src, dst)).or_default();
            set.insert(seq);
            set.insert(data_seq);
            if flags & (SYN | ACK) == SYN | ACK {
                self.bases.entry((dst, src)).or_default().insert(ack);
            }
        }
        let mut p = packet(src, dst, seq, ack, flags, payload);
        let orig_len = p.len() as u32;
        match cut {
            0 => {}
            1..=127 => p.truncate(40 + payload.len().min(cut as usize - 1)),
            _ => p.truncate(cut as usize - 128),
        }
        self.packets.push((
            Timestamp::new(self.ns / 1_000_000_000, (self.ns % 1_000_000_000) as u32),
            p,
            orig_len,
        ));
    }
}

fuzz_target!(|data: &[u8]| {
    let mut s = Script::new(data);
    let (h0, h1, h2, h3) = (s.u8(), s.u8(), s.u8(), s.u8());
    let n = 1 + usize::from(h0 & 3) % 3;
    let known_port = h0 & 4 != 0;
    let verify = h0 & 8 != 0;
    let wrap = h0 & 16 != 0;
    let ignore_after = (h0 & 32 != 0).then_some(u64::from(h2));
    let max_flows = if h0 & 64 != 0 { 2 } else { 64 };

    let mut conns = Vec::new();
    for i in 0..n {
        let cport = if h1 & 0x10 != 0 {
            40000
        } else {
            40000 + i as u16
        };
        let server = if i == 1 && h1 & 0x20 != 0 {
            v4(10, 0, 0, 3, 9093)
        } else {
            v4(10, 0, 0, 2, 9092)
        };
        let (cisn, sisn) = if wrap {
            (0xffff_ff00u32 - i as u32 * 0x40, 0xffff_fff0u32 - i as u32)
        } else {
            (1000 + i as u32 * 100_000, 5000 + i as u32 * 100_000)
        };
        conns.push(Conn {
            c: Side {
                addr: v4(10, 0, 0, 1, cport),
                isn: cisn,
                next: cisn.wrapping_add(1),
            },
            s: Side {
                addr: server,
                isn: sisn,
                next: sisn.wrapping_add(1),
            },
        });
    }
    let mut g = Gen {
        conns,
        verify,
        packets: Vec::new(),
        ns: 1_700_000_000_000_000_000,
        bases: HashMap::new(),
    };
    for i in 0..n {
        if h1 & (1 << i) != 0 {
            let (c, sv) = (g.conns[i].c, g.conns[i].s);
            g.send(i, false, c.isn, 0, SYN, &[], 0);
            g.send(i, true, sv.isn, c.isn.wrapping_add(1), SYN | ACK, &[], 0);
            g.send(
                i,
                false,
                c.isn.wrapping_add(1),
                sv.isn.wrapping_add(1),
                ACK,
                &[],
                0,
            );
        }
    }
    let mut ops = 0;
    while s.len() >= 7 && ops < MAX_OPS {
        ops += 1;
        let o0 = s.u8();
        let delta = s.u16() as i16;
        let o3 = s.u8();
        let len = s.u8() as usize;
        let cut = s.u8();
        let step = s.u8();
        let ci = usize::from(o0 & 3) % n;
        let from_server = o0 & 4 != 0;
        let v = o0 >> 3;
        let flags = if v < 24 {
            ACK | PSH
        } else {
            SPECIAL_FLAGS[usize::from(v - 24)]
        };
        let (me, peer) = if from_server {
            (g.conns[ci].s, g.conns[ci].c)
        } else {
            (g.conns[ci].c, g.conns[ci].s)
        };
        let from = if flags & SYN != 0 { me.isn } else { me.next };
        let seq = from.wrapping_add(delta as i32 as u32);
        let ack = if o3 == 0x7f {
            peer.next.wrapping_add(0x10000)
        } else {
            peer.next.wrapping_add(o3 as i8 as i32 as u32)
        };
        let payload = if verify {
            &[0u8; 255][..len]
        } else {
            s.take(len)
        };
        g.ns += if step == 0xff {
            30_000_000_000
        } else {
            i64::from(step) * 1_000_000
        };
        g.send(ci, from_server, seq, ack, flags, payload, cut);
    }

    // Every field is set; the update keeps this compiling when kwire adds one.
    #[allow(clippy::needless_update)]
    let tcp_cfg = TcpConfig {
        max_flows,
        max_ooo_bytes: 4096,
        max_total_ooo_bytes: 6144,
        max_ooo_segments: 1 + usize::from(h3 >> 4) * 2,
        idle_timeout_ns: 10_000_000_000,
        hole_timeout_ns: 200_000_000,
        hole_packets: 1 + u32::from(h3 & 0x0f),
        ..TcpConfig::default()
    };

    // 1. The bare reassembler and its contract.
    let mut raw = RawCheck {
        conns: Vec::new(),
        ignore_after,
    };
    let mut tcp = Reassembler::new(tcp_cfg.clone());
    let mut last = PacketRef::default();
    for (i, (ts, p, _)) in g.packets.iter().enumerate() {
        let at = PacketRef {
            frame: i as u64 + 1,
            ts: *ts,
        };
        last = at;
        if let Decoded::Tcp(seg) = decode(LinkType::RAW, p) {
            tcp.segment(&seg, at, &mut raw);
        }
    }
    tcp.finish(last, &mut raw);
    assert_eq!(tcp.stats().connections, raw.conns.len() as u64);
    assert_eq!(tcp.buffered_bytes(), 0, "bytes still buffered after finish");
    for c in &raw.conns {
        assert_ne!(c.st, St::Open, "connection {:?} never closed", c.info.id);
    }
    if verify {
        for c in &raw.conns {
            for dir in [Dir::AtoB, Dir::BtoA] {
                let (src, dst) = match (c.info.src(dir), c.info.dst(dir)) {
                    (SocketAddr::V4(a), SocketAddr::V4(b)) => (a, b),
                    _ => unreachable!(),
                };
                let kept = &c.kept[dir.index()];
                let Some((p0, first)) = kept.first() else {
                    continue;
                };
                let bases = g
                    .bases
                    .get(&(src, dst))
                    .expect("bytes from a sender that sent nothing");
                let matches = |base: u32, pos: u64, bytes: &[u8]| {
                    bytes.iter().enumerate().all(|(k, &b)| {
                        b == content(src.port(), base.wrapping_add((pos + k as u64) as u32))
                    })
                };
                let first8 = &first[..first.len().min(8)];
                let ok = bases.iter().any(|&base| {
                    matches(base, *p0, first8)
                        && kept.iter().all(|(pos, bytes)| matches(base, *pos, bytes))
                });
                assert!(
                    ok,
                    "connection {:?} {dir:?}: delivered bytes are not the stream sent \
                     at any base sequence number",
                    c.info.id
                );
            }
        }
    }

    // 2. The whole analyzer.
    let session = SessionConfig {
        kafka_ports: if known_port { vec![9092] } else { Vec::new() },
        max_frame_size: 64 << 10,
        scan_window: 4096,
        max_in_flight: 8,
        max_early_responses: 4,
        early_response_timeout_ns: 50_000_000,
        max_candidate_records: 16,
        max_unresolved_records: 32,
        detect_scan_limit: 8192,
        max_known_brokers: 2,
        max_packet_events: 4,
        record_limits: record_limits(),
        ..SessionConfig::default()
    };
    let mut a = Analyzer::new(tcp_cfg, session, Checker::new(false));
    a.begin(CaptureInfo {
        source: "fuzz".into(),
        format: SourceFormat::Pcap,
        link_types: vec![LinkType::RAW],
        filter: None,
        merged: Vec::new(),
    })
    .unwrap();
    for (i, (ts, p, orig_len)) in g.packets.iter().enumerate() {
        a.packet(&Packet {
            frame: i as u64 + 1,
            ts: *ts,
            link_type: LinkType::RAW,
            data: p,
            orig_len: *orig_len,
        })
        .unwrap();
    }
    let (checker, summary) = a.finish().unwrap();
    checker.finish(&summary, Some(g.packets.len() as u64));
});

/// What identifies a connection (its segment counts aside).
fn ident(i: &ConnInfo) -> (kwire::tcp::ConnId, SocketAddr, SocketAddr, bool) {
    (i.id, i.a, i.b, i.handshake_seen)
}
