//! Reassembler tests: a recording sink, segment helpers, one test per rule,
//! chunking property tests and a random-segment test.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use super::*;
use crate::capture::link::TcpFlags;

const SYN: u8 = TcpFlags::SYN;
const ACK: u8 = TcpFlags::ACK;
const FIN: u8 = TcpFlags::FIN;
const RST: u8 = TcpFlags::RST;
const PSH: u8 = TcpFlags::PSH;

const C: &str = "10.0.0.1:40000";
const S: &str = "10.0.0.2:9092";
const AB: Dir = Dir::AtoB;
const BA: Dir = Dir::BtoA;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Open {
        id: u64,
        a: SocketAddr,
        b: SocketAddr,
        handshake: bool,
        frame: u64,
    },
    Data {
        id: u64,
        dir: Dir,
        data: Vec<u8>,
        frame: u64,
    },
    Gap {
        id: u64,
        dir: Dir,
        len: u64,
        cause: GapCause,
        frame: u64,
    },
    Close {
        id: u64,
        reason: CloseReason,
        frame: u64,
    },
    Event {
        id: u64,
        event: TcpEvent,
        frame: u64,
    },
}

fn data(id: u64, dir: Dir, bytes: &[u8], frame: u64) -> Ev {
    Ev::Data {
        id,
        dir,
        data: bytes.to_vec(),
        frame,
    }
}

fn gap(id: u64, dir: Dir, len: u64, cause: GapCause, frame: u64) -> Ev {
    Ev::Gap {
        id,
        dir,
        len,
        cause,
        frame,
    }
}

fn close(id: u64, reason: CloseReason, frame: u64) -> Ev {
    Ev::Close { id, reason, frame }
}

fn open(id: u64, a: &str, b: &str, handshake: bool, frame: u64) -> Ev {
    Ev::Open {
        id,
        a: addr(a),
        b: addr(b),
        handshake,
        frame,
    }
}

/// Logs every callback and checks the callback protocol: open first, no
/// callback after close or after `Interest::Ignore`, no empty data or gap.
#[derive(Default)]
struct Rec {
    evs: Vec<Ev>,
    /// Connections to answer `Ignore` at open.
    ignore_open: Vec<u64>,
    /// Answer `Ignore` to the n-th data callback (1-based) of a connection.
    ignore_data: Option<(u64, usize)>,
    /// Where each data slice pointed (to check zero-copy).
    ptrs: Vec<usize>,
    live: BTreeSet<u64>,
    dead: BTreeSet<u64>,
}

impl Rec {
    fn check_live(&self, id: ConnId) {
        assert!(
            self.live.contains(&id.0),
            "callback for conn {} not live",
            id.0
        );
    }
}

impl StreamSink for Rec {
    fn on_open(&mut self, conn: &ConnInfo, at: PacketRef) -> Interest {
        assert!(!self.dead.contains(&conn.id.0) && !self.live.contains(&conn.id.0));
        self.evs.push(Ev::Open {
            id: conn.id.0,
            a: conn.a,
            b: conn.b,
            handshake: conn.handshake_seen,
            frame: at.frame,
        });
        if self.ignore_open.contains(&conn.id.0) {
            self.dead.insert(conn.id.0);
            return Interest::Ignore;
        }
        self.live.insert(conn.id.0);
        Interest::Keep
    }

    fn on_data(&mut self, conn: &ConnInfo, dir: Dir, bytes: &[u8], at: PacketRef) -> Interest {
        self.check_live(conn.id);
        assert!(!bytes.is_empty());
        self.ptrs.push(bytes.as_ptr() as usize);
        self.evs.push(data(conn.id.0, dir, bytes, at.frame));
        if let Some((id, n)) = self.ignore_data
            && id == conn.id.0
            && n == self
                .evs
                .iter()
                .filter(|e| matches!(e, Ev::Data { id: i, .. } if *i == id))
                .count()
        {
            self.live.remove(&id);
            self.dead.insert(id);
            return Interest::Ignore;
        }
        Interest::Keep
    }

    fn on_gap(&mut self, conn: &ConnInfo, dir: Dir, len: u64, cause: GapCause, at: PacketRef) {
        self.check_live(conn.id);
        assert!(len > 0);
        self.evs.push(gap(conn.id.0, dir, len, cause, at.frame));
    }

    fn on_close(&mut self, conn: &ConnInfo, reason: CloseReason, at: PacketRef) {
        self.check_live(conn.id);
        self.live.remove(&conn.id.0);
        self.dead.insert(conn.id.0);
        self.evs.push(close(conn.id.0, reason, at.frame));
    }

    fn on_event(&mut self, conn: &ConnInfo, event: TcpEvent, at: PacketRef) {
        self.check_live(conn.id);
        self.evs.push(Ev::Event {
            id: conn.id.0,
            event,
            frame: at.frame,
        });
    }
}

/// A reassembler, a recorder, and a clock: each packet is frame n+1, 1 ms later.
struct H {
    r: Reassembler,
    rec: Rec,
    frame: u64,
    ns: i64,
    seen: usize,
}

impl H {
    fn new(cfg: TcpConfig) -> H {
        H {
            r: Reassembler::new(cfg),
            rec: Rec::default(),
            frame: 0,
            ns: 1_700_000_000_000_000_000,
            seen: 0,
        }
    }

    fn cfg(f: impl FnOnce(&mut TcpConfig)) -> H {
        let mut cfg = TcpConfig::default();
        f(&mut cfg);
        H::new(cfg)
    }

    fn at(&self) -> PacketRef {
        PacketRef {
            frame: self.frame,
            ts: Timestamp::new(
                self.ns.div_euclid(1_000_000_000),
                self.ns.rem_euclid(1_000_000_000) as u32,
            ),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send_cut(
        &mut self,
        src: &str,
        dst: &str,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
        wire: u32,
    ) -> u64 {
        self.frame += 1;
        self.ns += 1_000_000;
        let seg = TcpSegment {
            src: addr(src),
            dst: addr(dst),
            seq,
            ack,
            flags: TcpFlags(flags),
            window: 1000,
            payload,
            payload_len: wire,
        };
        let at = self.at();
        self.r.segment(&seg, at, &mut self.rec);
        self.frame
    }

    fn send(&mut self, src: &str, dst: &str, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> u64 {
        self.send_cut(src, dst, seq, ack, flags, payload, payload.len() as u32)
    }

    /// Client to server.
    fn c(&mut self, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> u64 {
        self.send(C, S, seq, ack, flags, payload)
    }

    /// Server to client.
    fn s(&mut self, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> u64 {
        self.send(S, C, seq, ack, flags, payload)
    }

    /// SYN, SYN-ACK, ACK: client data starts at `cisn + 1`, server's at `sisn + 1`.
    fn handshake(&mut self, cisn: u32, sisn: u32) {
        self.c(cisn, 0, SYN, b"");
        self.s(sisn, cisn.wrapping_add(1), SYN | ACK, b"");
        self.c(cisn.wrapping_add(1), sisn.wrapping_add(1), ACK, b"");
    }

    fn advance(&mut self, ns: i64) {
        self.ns += ns;
        let at = self.at();
        self.r.advance(at.ts, at, &mut self.rec);
    }

    fn finish(&mut self) {
        let at = self.at();
        self.r.finish(at, &mut self.rec);
    }

    /// Events since the last call.
    fn take(&mut self) -> Vec<Ev> {
        let new = self.rec.evs[self.seen..].to_vec();
        self.seen = self.rec.evs.len();
        new
    }

    /// Events since the last call, without opens.
    fn take_no_open(&mut self) -> Vec<Ev> {
        self.take()
            .into_iter()
            .filter(|e| !matches!(e, Ev::Open { .. }))
            .collect()
    }

    fn stream(&self, id: u64, dir: Dir) -> Vec<u8> {
        let mut out = Vec::new();
        for e in &self.rec.evs {
            if let Ev::Data {
                id: i,
                dir: d,
                data,
                ..
            } = e
                && *i == id
                && *d == dir
            {
                out.extend_from_slice(data);
            }
        }
        out
    }

    fn gaps(&self) -> Vec<Ev> {
        self.rec
            .evs
            .iter()
            .filter(|e| matches!(e, Ev::Gap { .. }))
            .cloned()
            .collect()
    }
}

#[test]
fn handshake_and_data_both_ways() {
    let mut h = H::new(TcpConfig::default());
    static HELLO: &[u8] = b"hello";
    h.handshake(1000, 5000); // frames 1-3
    h.c(1001, 5001, ACK | PSH, HELLO); // 4
    h.s(5001, 1006, ACK | PSH, b"world!"); // 5
    h.c(1006, 5007, ACK | FIN, b""); // 6
    h.s(5007, 1007, ACK | FIN, b""); // 7
    h.c(1007, 5008, ACK, b""); // 8: the last ACK, after the close
    assert_eq!(
        h.take(),
        [
            open(0, C, S, true, 1),
            data(0, AB, b"hello", 4),
            data(0, BA, b"world!", 5),
            close(0, CloseReason::Fin, 7),
        ]
    );
    // In-order data is the packet's own slice.
    assert_eq!(h.rec.ptrs[0], HELLO.as_ptr() as usize);
    let st = h.r.stats();
    assert_eq!(
        st,
        TcpStats {
            segments: 8,
            connections: 1,
            ..TcpStats::default()
        }
    );
    h.finish();
    assert!(h.take().is_empty());
}

#[test]
fn mid_stream_start_takes_the_first_sender_as_a() {
    let mut h = H::new(TcpConfig::default());
    h.s(7000, 3000, ACK | PSH, b"resp");
    h.c(3000, 7004, ACK | PSH, b"req");
    h.s(7004, 3003, ACK | PSH, b"more");
    assert_eq!(
        h.take(),
        [
            open(0, S, C, false, 1),
            data(0, AB, b"resp", 1),
            data(0, BA, b"req", 2),
            data(0, AB, b"more", 3),
        ]
    );
}

#[test]
fn syn_ack_alone_makes_its_receiver_a() {
    let mut h = H::new(TcpConfig::default());
    h.s(5000, 1001, SYN | ACK, b"");
    h.c(1001, 5001, ACK | PSH, b"x");
    h.s(5001, 1002, ACK, b"y");
    // The SYN, swapped after the SYN-ACK, is the same connection.
    h.c(1000, 0, SYN, b"");
    assert_eq!(
        h.take(),
        [
            open(0, C, S, true, 1),
            data(0, AB, b"x", 2),
            data(0, BA, b"y", 3),
        ]
    );
    assert_eq!(h.r.stats().connections, 1);
}

#[test]
fn out_of_order_is_delivered_when_the_hole_fills() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.c(1006, 5001, ACK, b"world"); // 4
    h.c(1011, 5001, ACK, b"!"); // 5
    assert!(h.take_no_open().is_empty());
    h.c(1001, 5001, ACK, b"hello"); // 6
    assert_eq!(
        h.take_no_open(),
        [data(0, AB, b"hello", 6), data(0, AB, b"world!", 6)]
    );
    assert_eq!(h.r.stats().out_of_order_segments, 2);
    assert_eq!(h.r.stats().peak_buffered_bytes, 6);
    assert_eq!(h.r.buffered_bytes(), 0);
}

#[test]
fn retransmissions_deliver_only_new_bytes() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK, b"hello"); // 4
    h.c(1001, 5001, ACK, b"hello"); // 5: exact
    h.c(1003, 5001, ACK, b"llo wo"); // 6: partial overlap
    h.c(1001, 5001, ACK, b"hello world"); // 7: extends past what was delivered
    h.c(990, 5001, ACK, b"old"); // 8: entirely old
    assert_eq!(
        h.take_no_open(),
        [
            data(0, AB, b"hello", 4),
            data(0, AB, b" wo", 6),
            data(0, AB, b"rld", 7),
        ]
    );
    assert_eq!(h.r.stats().retransmitted_bytes, 5 + 3 + 8 + 3);
}

#[test]
fn overlap_with_buffered_data_is_delivered_once() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.c(1004, 5001, ACK, b"defg"); // 4: buffered
    h.c(1003, 5001, ACK, b"cdefgh"); // 5: buffered, overlapping
    h.c(1001, 5001, ACK, b"abcdef"); // 6: in order, over the buffer
    assert_eq!(
        h.take_no_open(),
        [data(0, AB, b"abcdef", 6), data(0, AB, b"gh", 6)]
    );
    assert!(h.gaps().is_empty());
}

#[test]
fn sequence_numbers_wrap_around() {
    let mut h = H::cfg(|c| c.hole_packets = 2);
    let isn = u32::MAX - 2; // data starts at u32::MAX - 1
    h.handshake(isn, 77);
    h.c(u32::MAX - 1, 78, ACK, b"abcd"); // 4: bytes at MAX-1, MAX, 0, 1
    h.c(6, 78, ACK, b"ijkl"); // 5: out of order across the wrap
    h.c(2, 78, ACK, b"efgh"); // 6
    h.s(78, 10, ACK | PSH, b"pong"); // 7
    h.c(14, 82, ACK, b"qrst"); // 8: 10..14 missing
    h.s(82, 18, ACK, b""); // 9: acked past the hole
    h.s(82, 18, ACK, b""); // 10
    h.s(82, 18, ACK, b""); // 11: 2 packets after the ACK
    assert_eq!(
        h.take_no_open(),
        [
            data(0, AB, b"abcd", 4),
            data(0, AB, b"efgh", 6),
            data(0, AB, b"ijkl", 6),
            data(0, BA, b"pong", 7),
            gap(0, AB, 4, GapCause::Lost, 8),
            // Dated by the packet that brought it, not the one that gave up the hole.
            data(0, AB, b"qrst", 8),
        ]
    );
}

#[test]
fn acked_hole_is_lost_after_hole_packets() {
    let mut h = H::cfg(|c| {
        c.hole_packets = 3;
        c.hole_timeout_ns = u64::MAX;
    });
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK, b"aaaa"); // 4
    h.c(1009, 5001, ACK, b"cccc"); // 5: 1005..1009 missing
    h.s(5001, 1013, ACK, b""); // 6: the peer has it all
    h.s(5001, 1013, ACK, b""); // 7
    h.s(5001, 1013, ACK, b""); // 8
    assert_eq!(h.take_no_open(), [data(0, AB, b"aaaa", 4)]);
    h.s(5001, 1013, ACK, b""); // 9
    assert_eq!(
        h.take_no_open(),
        [gap(0, AB, 4, GapCause::Lost, 5), data(0, AB, b"cccc", 5)]
    );
    // The lost segment arriving late is old.
    h.c(1005, 5001, ACK, b"bbbb");
    assert!(h.take_no_open().is_empty());
    assert_eq!(h.r.stats().gap_bytes, 4);
}

#[test]
fn swapped_frames_after_the_ack_are_not_a_gap() {
    let mut h = H::cfg(|c| c.hole_packets = 3);
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK, b"aaaa"); // 4
    h.c(1009, 5001, ACK, b"cccc"); // 5
    h.s(5001, 1013, ACK, b""); // 6: ACK before the segment it acks
    h.c(1005, 5001, ACK, b"bbbb"); // 7
    for _ in 0..10 {
        h.s(5001, 1013, ACK, b"");
    }
    assert_eq!(
        h.take_no_open(),
        [
            data(0, AB, b"aaaa", 4),
            data(0, AB, b"bbbb", 7),
            data(0, AB, b"cccc", 7)
        ]
    );
}

#[test]
fn ack_past_all_data_is_a_gap_later() {
    let mut h = H::cfg(|c| c.hole_packets = 2);
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK, b"aaaa"); // 4
    h.s(5001, 1105, ACK, b""); // 5: 100 bytes never captured
    h.s(5001, 1105, ACK, b""); // 6
    assert_eq!(h.take_no_open(), [data(0, AB, b"aaaa", 4)]);
    h.s(5001, 1105, ACK, b""); // 7
    assert_eq!(h.take_no_open(), [gap(0, AB, 100, GapCause::Lost, 7)]);
    h.c(1105, 5001, ACK, b"zz"); // 8
    assert_eq!(h.take_no_open(), [data(0, AB, b"zz", 8)]);
}

#[test]
fn ack_proven_loss_is_reported_at_close() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK, b"aaaa"); // 4
    h.s(5001, 1105, ACK, b""); // 5
    h.finish();
    assert_eq!(
        h.take_no_open(),
        [
            data(0, AB, b"aaaa", 4),
            gap(0, AB, 100, GapCause::Closed, 5),
            close(0, CloseReason::CaptureEnd, 5),
        ]
    );
}

#[test]
fn ack_of_an_uncaptured_fin_is_not_a_gap() {
    let mut h = H::cfg(|c| c.hole_packets = 1);
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK, b"aaaa"); // 4; its FIN at 1005 is not captured
    h.s(5001, 1006, ACK | FIN, b""); // 5
    h.c(1006, 5002, ACK, b""); // 6
    h.finish();
    assert_eq!(
        h.take_no_open(),
        [
            data(0, AB, b"aaaa", 4),
            close(0, CloseReason::CaptureEnd, 6)
        ]
    );
}

#[test]
fn hole_timeout_applies_without_more_packets() {
    let mut h = H::cfg(|c| {
        c.hole_packets = 1000;
        c.hole_timeout_ns = 500_000_000;
    });
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK, b"aaaa"); // 4
    h.c(1009, 5001, ACK, b"cccc"); // 5
    h.s(5001, 1013, ACK, b""); // 6
    h.advance(300_000_000);
    assert_eq!(h.take_no_open(), [data(0, AB, b"aaaa", 4)]);
    h.advance(1_000_000_000);
    assert_eq!(
        h.take_no_open(),
        [gap(0, AB, 4, GapCause::Lost, 5), data(0, AB, b"cccc", 5)]
    );
}

#[test]
fn ooo_byte_limit_gives_up_the_oldest_hole() {
    let mut h = H::cfg(|c| c.max_ooo_bytes = 10);
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK, b"ab"); // 4
    h.c(1010, 5001, ACK, b"xxxxxxxx"); // 5: hole 1003..1010
    h.c(1020, 5001, ACK, b"yyyyyyyy"); // 6: 16 bytes > 10
    assert_eq!(
        h.take_no_open(),
        [
            data(0, AB, b"ab", 4),
            Ev::Event {
                id: 0,
                event: TcpEvent::OooLimit {
                    dir: AB,
                    kind: OooLimitKind::Bytes,
                    limit: 10,
                    buffered_bytes: 16,
                    buffered_segments: 2,
                },
                frame: 6
            },
            gap(0, AB, 7, GapCause::BufferLimit, 5),
            data(0, AB, b"xxxxxxxx", 5),
        ]
    );
    assert_eq!(h.r.buffered_bytes(), 8);
    assert_eq!(h.r.stats().peak_buffered_bytes, 8);
    h.c(1018, 5001, ACK, b"zz");
    assert_eq!(
        h.take_no_open(),
        [data(0, AB, b"zz", 7), data(0, AB, b"yyyyyyyy", 7)]
    );
}

#[test]
fn ooo_segment_limit_gives_up_the_oldest_hole() {
    let mut h = H::cfg(|c| c.max_ooo_segments = 2);
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK, b"ab"); // 4
    h.c(1005, 5001, ACK, b"c"); // 5
    h.c(1007, 5001, ACK, b"d"); // 6
    h.c(1009, 5001, ACK, b"e"); // 7: three runs
    assert_eq!(
        h.take_no_open(),
        [
            data(0, AB, b"ab", 4),
            Ev::Event {
                id: 0,
                event: TcpEvent::OooLimit {
                    dir: AB,
                    kind: OooLimitKind::Segments,
                    limit: 2,
                    buffered_bytes: 3,
                    buffered_segments: 3,
                },
                frame: 7
            },
            gap(0, AB, 2, GapCause::BufferLimit, 5),
            data(0, AB, b"c", 5),
        ]
    );
}

#[test]
fn a_segment_larger_than_the_buffer_is_taken_as_the_hole_given_up() {
    let mut h = H::cfg(|c| c.max_ooo_bytes = 4);
    h.handshake(1000, 5000);
    h.c(1003, 5001, ACK, b"cdefgh");
    assert!(matches!(
        h.take_no_open()[..],
        [Ev::Event { .. }, Ev::Gap { len: 2, .. }, Ev::Data { .. }]
    ));
    assert_eq!(h.stream(0, AB), b"cdefgh");
}

#[test]
fn snaplen_cut_in_order() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.send_cut(C, S, 1001, 5001, ACK, b"abc", 10); // 4
    h.c(1011, 5001, ACK, b"next"); // 5
    assert_eq!(
        h.take_no_open(),
        [
            data(0, AB, b"abc", 4),
            gap(0, AB, 7, GapCause::Snaplen, 4),
            data(0, AB, b"next", 5),
        ]
    );
}

#[test]
fn snaplen_cut_out_of_order() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.send_cut(C, S, 1006, 5001, ACK, b"ab", 5); // 4: 1006..1011, cut at 1008
    h.c(1011, 5001, ACK, b"zz"); // 5
    h.c(1001, 5001, ACK, b"hello"); // 6
    assert_eq!(
        h.take_no_open(),
        [
            data(0, AB, b"hello", 6),
            data(0, AB, b"ab", 6),
            gap(0, AB, 3, GapCause::Snaplen, 6),
            data(0, AB, b"zz", 6),
        ]
    );
    // Cut bytes do not count as buffered.
    assert_eq!(h.r.stats().peak_buffered_bytes, 4);
}

#[test]
fn snaplen_cut_over_buffered_data_keeps_the_data() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.c(1005, 5001, ACK, b"ef"); // 4: buffered
    h.send_cut(C, S, 1001, 5001, ACK, b"ab", 8); // 5: 1001..1009, cut at 1003
    assert_eq!(
        h.take_no_open(),
        [
            data(0, AB, b"ab", 5),
            gap(0, AB, 2, GapCause::Snaplen, 5),
            data(0, AB, b"ef", 5),
            gap(0, AB, 2, GapCause::Snaplen, 5),
        ]
    );
}

#[test]
fn fin_both_ways_with_a_hole_waits_then_gives_it_up() {
    let mut h = H::cfg(|c| c.hole_packets = 3);
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK, b"aa"); // 4
    h.c(1005, 5001, ACK, b"cc"); // 5
    h.c(1007, 5001, ACK | FIN, b""); // 6
    h.s(5001, 1003, ACK | FIN, b""); // 7
    h.c(1008, 5002, ACK, b""); // 8
    assert_eq!(h.take_no_open(), [data(0, AB, b"aa", 4)]);
    h.c(1008, 5002, ACK, b""); // 9: 3 packets after the FIN
    assert_eq!(
        h.take_no_open(),
        [
            gap(0, AB, 2, GapCause::Closed, 5),
            data(0, AB, b"cc", 5),
            close(0, CloseReason::Fin, 9),
        ]
    );
}

#[test]
fn data_swapped_after_both_fins_is_delivered() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK, b"aa"); // 4
    h.c(1005, 5001, ACK | FIN, b""); // 5: before the data it follows
    h.s(5001, 1003, ACK | FIN, b""); // 6
    h.c(1003, 5002, ACK, b"bb"); // 7
    assert_eq!(
        h.take_no_open(),
        [
            data(0, AB, b"aa", 4),
            data(0, AB, b"bb", 7),
            close(0, CloseReason::Fin, 7),
        ]
    );
}

#[test]
fn fin_proven_hole_on_a_quiet_connection_closes_on_timeout() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK, b"aa"); // 4
    h.c(1005, 5001, ACK | FIN, b""); // 5
    h.s(5001, 1006, ACK | FIN, b""); // 6: acks the FIN: 1003..1005 lost
    h.advance(2_000_000_000);
    assert_eq!(
        h.take_no_open(),
        [
            data(0, AB, b"aa", 4),
            gap(0, AB, 2, GapCause::Lost, 6),
            close(0, CloseReason::Fin, 6),
        ]
    );
}

#[test]
fn fin_out_of_order_waits_for_the_data() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.c(1003, 5001, ACK | FIN, b"cd"); // 4: FIN with data, out of order
    h.c(1001, 5001, ACK, b"ab"); // 5
    h.s(5001, 1006, ACK | FIN, b""); // 6
    assert_eq!(
        h.take_no_open(),
        [
            data(0, AB, b"ab", 5),
            data(0, AB, b"cd", 5),
            close(0, CloseReason::Fin, 6)
        ]
    );
}

#[test]
fn fin_with_data_in_order_closes_after_delivery() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK | FIN, b"bye"); // 4
    h.s(5001, 1005, ACK | FIN, b"ok"); // 5
    h.c(1005, 5004, ACK, b""); // 6
    assert_eq!(
        h.take_no_open(),
        [
            data(0, AB, b"bye", 4),
            data(0, BA, b"ok", 5),
            close(0, CloseReason::Fin, 5)
        ]
    );
}

#[test]
fn rst_flushes_buffered_data_then_closes() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK, b"aa"); // 4
    h.c(1005, 5001, ACK, b"cc"); // 5
    h.s(5001, 0, RST, b""); // 6
    assert_eq!(
        h.take_no_open(),
        [
            data(0, AB, b"aa", 4),
            gap(0, AB, 2, GapCause::Closed, 5),
            data(0, AB, b"cc", 5),
            close(0, CloseReason::Reset, 6),
        ]
    );
}

#[test]
fn new_syn_after_close_is_a_new_connection() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK | FIN, b""); // 4
    h.s(5001, 1002, ACK | FIN, b""); // 5
    h.c(1002, 5002, ACK, b""); // 6
    h.c(1000, 0, SYN, b""); // 7: the old SYN again
    h.c(9000, 0, SYN, b""); // 8: a new ISN
    h.s(7000, 9001, SYN | ACK, b""); // 9
    h.c(9001, 7001, ACK | PSH, b"new"); // 10
    assert_eq!(
        h.take(),
        [
            open(0, C, S, true, 1),
            close(0, CloseReason::Fin, 5),
            open(1, C, S, true, 8),
            data(1, AB, b"new", 10),
        ]
    );
    assert_eq!(h.r.stats().connections, 2);
}

#[test]
fn late_packets_after_close_are_ignored() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK, b"data"); // 4
    h.s(5001, 0, RST, b""); // 5
    h.c(1001, 5001, ACK, b"data"); // 6: retransmission
    h.c(1005, 5001, ACK | FIN, b""); // 7
    h.s(5001, 1006, ACK, b""); // 8
    h.s(5000, 1001, SYN | ACK, b""); // 9: retransmitted SYN-ACK
    assert_eq!(
        h.take_no_open(),
        [data(0, AB, b"data", 4), close(0, CloseReason::Reset, 5)]
    );
    assert_eq!(h.r.stats().connections, 1);
    assert_eq!(h.r.stats().segments, 9);
    assert_eq!(h.r.tracked(), 1);
    // Forgotten after the linger time.
    h.advance(120_000_000_000);
    assert_eq!(h.r.tracked(), 0);
}

#[test]
fn syn_with_new_isn_on_an_open_connection_replaces_it() {
    let mut h = H::new(TcpConfig::default());
    h.c(3000, 7000, ACK | PSH, b"old"); // 1
    h.c(9000, 0, SYN, b""); // 2
    assert_eq!(
        h.take(),
        [
            open(0, C, S, false, 1),
            data(0, AB, b"old", 1),
            close(0, CloseReason::Reused, 2),
            open(1, C, S, true, 2),
        ]
    );
}

#[test]
fn syn_with_data_delivers_it() {
    let mut h = H::new(TcpConfig::default());
    h.c(1000, 0, SYN, b"fast"); // TCP Fast Open
    h.s(5000, 1005, SYN | ACK, b"");
    h.c(1005, 5001, ACK, b"er");
    assert_eq!(h.stream(0, AB), b"faster");
}

const C1: &str = "10.0.0.1:1001";
const C2: &str = "10.0.0.1:1002";
const C3: &str = "10.0.0.1:1003";

#[test]
fn flow_limit_evicts_the_least_recently_active() {
    let mut h = H::cfg(|c| c.max_flows = 2);
    h.send(C1, S, 100, 0, ACK, b"a"); // 1: conn 0
    h.send(C2, S, 200, 0, ACK, b"b"); // 2: conn 1
    h.send(C1, S, 101, 0, ACK, b"c"); // 3: conn 0 is now the most recent
    h.send(C3, S, 300, 0, ACK, b"d"); // 4: conn 2 evicts conn 1
    let evs = h.take_no_open();
    assert_eq!(
        evs[3..],
        [
            Ev::Event {
                id: 1,
                event: TcpEvent::FlowLimit { max_flows: 2 },
                frame: 4
            },
            close(1, CloseReason::Evicted, 4),
            data(2, AB, b"d", 4),
        ]
    );
    assert_eq!(h.r.stats().evicted, 1);
    assert_eq!(h.r.tracked(), 2);
    // Conn 1's address pair again: a new connection, evicting conn 0.
    h.send(C2, S, 201, 0, ACK, b"e");
    assert_eq!(
        h.take()[..2],
        [
            Ev::Event {
                id: 0,
                event: TcpEvent::FlowLimit { max_flows: 2 },
                frame: 5
            },
            close(0, CloseReason::Evicted, 5)
        ]
    );
}

#[test]
fn closed_connections_make_room_before_open_ones() {
    let mut h = H::cfg(|c| c.max_flows = 2);
    h.send(C1, S, 100, 0, ACK, b"a");
    h.send(C2, S, 200, 0, ACK, b"b");
    h.send(S, C1, 500, 0, RST, b"");
    h.send(C3, S, 300, 0, ACK, b"d");
    assert_eq!(h.r.stats().evicted, 0);
    assert!(!h.rec.evs.iter().any(|e| matches!(e, Ev::Event { .. })));
    assert_eq!(h.r.table.list_lens(), (2, 0));
}

#[test]
fn idle_connections_close_on_advance() {
    let mut h = H::cfg(|c| c.idle_timeout_ns = 10_000_000_000);
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK, b"aa"); // 4
    h.c(1005, 5001, ACK, b"cc"); // 5: buffered
    h.advance(5_000_000_000);
    assert_eq!(h.take_no_open(), [data(0, AB, b"aa", 4)]);
    h.advance(6_000_000_000);
    assert_eq!(
        h.take_no_open(),
        [
            gap(0, AB, 2, GapCause::Closed, 5),
            data(0, AB, b"cc", 5),
            close(0, CloseReason::Idle, 5),
        ]
    );
    assert_eq!(h.r.tracked(), 0);
    assert_eq!(h.r.buffered_bytes(), 0);
    // The pair talks again: a new, mid-stream connection.
    h.c(1007, 5001, ACK, b"ee");
    assert_eq!(h.take(), [open(1, C, S, false, 6), data(1, AB, b"ee", 6)]);
}

#[test]
fn idle_is_detected_on_the_next_packet_between_ticks() {
    let mut h = H::cfg(|c| c.idle_timeout_ns = 10_000_000_000);
    h.c(1001, 5001, ACK, b"aa"); // 1
    h.ns += 10_500_000_000;
    h.c(1003, 5001, ACK, b"bb"); // 2
    assert_eq!(
        h.take(),
        [
            open(0, C, S, false, 1),
            data(0, AB, b"aa", 1),
            close(0, CloseReason::Idle, 2),
            open(1, C, S, false, 2),
            data(1, AB, b"bb", 2),
        ]
    );
}

#[test]
fn finish_flushes_in_conn_id_order() {
    let mut h = H::cfg(|c| c.max_flows = 2);
    h.send(C1, S, 100, 0, ACK, b"a"); // conn 0, slot 0
    h.send(C2, S, 200, 0, ACK, b"b"); // conn 1, slot 1
    h.send(S, C1, 500, 0, RST, b""); // conn 0 closed
    h.send(C3, S, 300, 0, ACK, b"c"); // conn 2 takes slot 0
    h.send(C3, S, 303, 0, ACK, b"z"); // buffered
    h.send(C2, S, 203, 0, ACK, b"y"); // buffered
    h.take();
    h.finish();
    assert_eq!(
        h.take(),
        [
            gap(1, AB, 2, GapCause::Closed, 6),
            data(1, AB, b"y", 6),
            close(1, CloseReason::CaptureEnd, 6),
            gap(2, AB, 2, GapCause::Closed, 5),
            data(2, AB, b"z", 5),
            close(2, CloseReason::CaptureEnd, 6),
        ]
    );
    assert_eq!(h.r.tracked(), 0);
    assert_eq!(h.r.buffered_bytes(), 0);
}

#[test]
fn ignored_at_open_gets_no_callbacks() {
    let mut h = H::new(TcpConfig::default());
    h.rec.ignore_open = vec![0];
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK, b"aa");
    h.c(1005, 5001, ACK, b"cc");
    h.c(1007, 5001, ACK | FIN, b"");
    h.s(5001, 1008, ACK | FIN, b"");
    h.c(2000, 0, SYN, b"");
    h.finish();
    assert_eq!(
        h.take(),
        [
            open(0, C, S, true, 1),
            open(1, C, S, true, 8),
            close(1, CloseReason::CaptureEnd, 8)
        ]
    );
    assert_eq!(h.r.stats().peak_buffered_bytes, 0);
}

#[test]
fn ignored_from_data_stops_callbacks() {
    let mut h = H::new(TcpConfig::default());
    h.rec.ignore_data = Some((0, 1));
    h.handshake(1000, 5000);
    h.c(1005, 5001, ACK, b"cc"); // buffered
    h.c(1001, 5001, ACK, b"aaaa"); // delivered, then Ignore: the buffer is dropped
    h.c(1007, 5001, ACK, b"dd");
    h.s(5001, 0, RST, b"");
    h.finish();
    assert_eq!(h.take_no_open(), [data(0, AB, b"aaaa", 5)]);
    assert_eq!(h.r.buffered_bytes(), 0);
}

// ---------------------------------------------------------------------------
// Property tests.

/// A deterministic pseudo-random sequence (Knuth's MMIX LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }
    fn below(&mut self, n: u32) -> u32 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, one_in: u32) -> bool {
        self.below(one_in) == 0
    }
}

fn pattern(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt) ^ (i >> 8) as u8)
        .collect()
}

/// One data segment of a plan: direction (client first), offset, length.
type Piece = (bool, usize, usize);

/// Play `plan` after a handshake. The receiver of each direction
/// acknowledges the contiguous bytes the capture has shown so far, plus the
/// `missed` ones: bytes it received but the capture never shows.
/// Returns the recorder after `finish`.
fn play(
    cisn: u32,
    sisn: u32,
    streams: [&[u8]; 2],
    plan: &[Piece],
    missed: Option<&[Vec<bool>; 2]>,
    cfg: TcpConfig,
) -> H {
    let mut h = H::new(cfg);
    h.handshake(cisn, sisn);
    let isn = [cisn.wrapping_add(1), sisn.wrapping_add(1)];
    let mut seen: [Vec<bool>; 2] = match missed {
        Some(m) => m.clone(),
        None => [vec![false; streams[0].len()], vec![false; streams[1].len()]],
    };
    let prefix = |v: &Vec<bool>| v.iter().position(|b| !b).unwrap_or(v.len());
    for &(client, off, len) in plan {
        let d = usize::from(!client);
        let p = 1 - d;
        let ack = prefix(&seen[p]);
        let (src, dst) = if client { (C, S) } else { (S, C) };
        h.send(
            src,
            dst,
            isn[d].wrapping_add(off as u32),
            isn[p].wrapping_add(ack as u32),
            ACK,
            &streams[d][off..off + len],
        );
        seen[d][off..off + len].iter_mut().for_each(|b| *b = true);
    }
    // Final ACKs from both sides.
    for client in [true, false] {
        let d = usize::from(!client);
        let p = 1 - d;
        let ack = prefix(&seen[p]);
        let (src, dst) = if client { (C, S) } else { (S, C) };
        h.send(
            src,
            dst,
            isn[d].wrapping_add(streams[d].len() as u32),
            isn[p].wrapping_add(ack as u32),
            ACK,
            b"",
        );
    }
    h.finish();
    h
}

fn assert_exact(h: &H, streams: [&[u8]; 2], what: &str) {
    assert!(h.gaps().is_empty(), "{what}: gaps {:?}", h.gaps());
    assert_eq!(h.stream(0, AB), streams[0], "{what}: client stream");
    assert_eq!(h.stream(0, BA), streams[1], "{what}: server stream");
    assert_eq!(h.r.stats().connections, 1, "{what}");
}

/// Cut `n` bytes at the given offsets.
fn cuts(client: bool, n: usize, at: &[usize]) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut start = 0;
    for &k in at.iter().chain([n].iter()) {
        if k > start {
            out.push((client, start, k - start));
            start = k;
        }
    }
    out
}

#[test]
fn chunking_fixed_sizes_and_every_split() {
    let c2s = pattern(40, 3);
    let s2c = pattern(29, 101);
    let streams = [&c2s[..], &s2c[..]];
    // Every segment size, the two directions interleaved.
    for size in 1..=40 {
        let mut plan = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < c2s.len() || j < s2c.len() {
            if i < c2s.len() {
                let len = size.min(c2s.len() - i);
                plan.push((true, i, len));
                i += len;
            }
            if j < s2c.len() {
                let len = size.min(s2c.len() - j);
                plan.push((false, j, len));
                j += len;
            }
        }
        for isn in [1000, u32::MAX - 5] {
            let h = play(
                isn,
                isn ^ 0x8000_0000,
                streams,
                &plan,
                None,
                TcpConfig::default(),
            );
            assert_exact(&h, streams, &format!("size {size}"));
        }
    }
    // Every split point and every pair of split points, in order and with
    // the pieces sent last-first.
    let small = pattern(16, 7);
    let other = pattern(5, 9);
    let streams = [&small[..], &other[..]];
    for k1 in 0..=16 {
        for k2 in k1..=16 {
            let mut plan = cuts(true, 16, &[k1, k2]);
            plan.insert(plan.len() / 2, (false, 0, 5));
            let h = play(u32::MAX - 3, 42, streams, &plan, None, TcpConfig::default());
            assert_exact(&h, streams, &format!("split {k1} {k2}"));
            plan.reverse();
            let h = play(u32::MAX - 3, 42, streams, &plan, None, TcpConfig::default());
            assert_exact(&h, streams, &format!("reversed split {k1} {k2}"));
        }
    }
}

/// Random sizes, reordered within a small window, duplicated, and
/// overlapping retransmissions.
fn random_plan(rng: &mut Lcg, lens: [usize; 2], min_size: u32) -> Vec<Piece> {
    let mut plan: Vec<Piece> = Vec::new();
    let mut pos = [0usize; 2];
    while pos[0] < lens[0] || pos[1] < lens[1] {
        let d = if pos[0] >= lens[0] {
            1
        } else if pos[1] >= lens[1] {
            0
        } else {
            rng.below(2) as usize
        };
        let rem = lens[d] - pos[d];
        let mut len = ((min_size + rng.below(10)) as usize).min(rem);
        if rem - len < min_size as usize {
            // No piece shorter than `min_size`, the last one included.
            len = rem;
        }
        plan.push((d == 0, pos[d], len));
        pos[d] += len;
    }
    plan
}

fn reorder_and_duplicate(rng: &mut Lcg, plan: &mut Vec<Piece>, streams_len: [usize; 2]) {
    // Swaps within a window of 4.
    for i in 0..plan.len() {
        if rng.chance(3) {
            let j = (i + 1 + rng.below(3) as usize).min(plan.len() - 1);
            plan.swap(i, j);
        }
    }
    // Duplicates, and retransmissions over a random range already sent.
    let mut i = 0;
    while i < plan.len() {
        if rng.chance(5) {
            let at = (i + rng.below(4) as usize).min(plan.len());
            plan.insert(at, plan[i]);
        } else if rng.chance(6) {
            let (client, off, len) = plan[i];
            let n = streams_len[usize::from(!client)];
            let start = off.saturating_sub(rng.below(12) as usize);
            let end = (off + len + rng.below(12) as usize).min(n);
            plan.insert(i + 1, (client, start, end - start));
        }
        i += 1;
    }
}

#[test]
fn chunking_random_reorder_and_duplicates() {
    let c2s = pattern(300, 11);
    let s2c = pattern(170, 200);
    let streams = [&c2s[..], &s2c[..]];
    for seed in 0..400u64 {
        let mut rng = Lcg(seed);
        let mut plan = random_plan(&mut rng, [300, 170], 1);
        reorder_and_duplicate(&mut rng, &mut plan, [300, 170]);
        let cisn = if seed % 2 == 0 {
            u32::MAX - rng.below(400)
        } else {
            rng.next()
        };
        let sisn = rng.next();
        let h = play(cisn, sisn, streams, &plan, None, TcpConfig::default());
        assert_exact(&h, streams, &format!("seed {seed}"));
    }
}

/// Segments the capture missed (but the receiver got, and acknowledged)
/// become gaps exactly where they were: positions are kept.
#[test]
fn lossy_capture_keeps_positions() {
    let c2s = pattern(400, 1);
    let s2c = pattern(250, 2);
    let streams = [&c2s[..], &s2c[..]];
    for seed in 0..200u64 {
        let mut rng = Lcg(seed);
        let mut plan = random_plan(&mut rng, [400, 250], 2);
        // Adjacent swaps only: the capture swapped two frames.
        for i in 0..plan.len().saturating_sub(1) {
            if rng.chance(8) {
                plan.swap(i, i + 1);
            }
        }
        let full = plan.clone();
        plan.retain(|_| !rng.chance(6));
        let mut lost = [vec![false; 400], vec![false; 250]];
        for &(client, off, len) in &full {
            lost[usize::from(!client)][off..off + len]
                .iter_mut()
                .for_each(|b| *b = true);
        }
        for &(client, off, len) in &plan {
            lost[usize::from(!client)][off..off + len]
                .iter_mut()
                .for_each(|b| *b = false);
        }
        let cfg = TcpConfig {
            hole_packets: 1 + rng.below(6),
            ..TcpConfig::default()
        };
        let h = play(rng.next(), rng.next(), streams, &plan, Some(&lost), cfg);
        for (dir, d) in [(AB, 0), (BA, 1)] {
            // Rebuild the stream: data in place, gaps as None.
            let mut got: Vec<Option<u8>> = Vec::new();
            for e in &h.rec.evs {
                match e {
                    Ev::Data { dir: x, data, .. } if *x == dir => {
                        got.extend(data.iter().map(|b| Some(*b)))
                    }
                    Ev::Gap {
                        dir: x, len, cause, ..
                    } if *x == dir => {
                        assert!(
                            matches!(cause, GapCause::Lost | GapCause::Closed),
                            "seed {seed}: {cause:?}"
                        );
                        got.extend((0..*len).map(|_| None));
                    }
                    _ => {}
                }
            }
            let want: Vec<Option<u8>> = streams[d]
                .iter()
                .zip(&lost[d])
                .map(|(b, l)| (!l).then_some(*b))
                .collect();
            assert_eq!(got, want, "seed {seed} dir {dir:?}");
        }
    }
}

/// Thousands of random segments over a few address pairs: no panic, the
/// callback protocol holds (checked by `Rec`), and the buffers stay within
/// their limits after every segment.
#[test]
fn random_segments_respect_limits() {
    let cfg = TcpConfig {
        max_flows: 4,
        max_ooo_bytes: 300,
        max_ooo_segments: 5,
        max_total_ooo_bytes: 1000,
        idle_timeout_ns: 3_000_000_000,
        hole_timeout_ns: 500_000_000,
        hole_packets: 4,
    };
    let hosts = [
        "10.0.0.1:1",
        "10.0.0.1:2",
        "10.0.0.2:9092",
        "[fe80::1]:5",
        "[fe80::2]:9092",
        "10.0.0.3:9",
    ];
    let mut payload = [0u8; 120];
    for seed in 0..30u64 {
        let mut rng = Lcg(seed ^ 0xdead_beef);
        let mut h = H::new(cfg.clone());
        if seed % 5 == 0 {
            h.rec.ignore_open = vec![1, 3];
        }
        let mut base = [0u32; 36];
        base.iter_mut().for_each(|b| *b = rng.next());
        for step in 0..3000 {
            // Mostly three busy pairs, sometimes any pair (and so evictions).
            let (si, di) = if rng.chance(6) {
                (rng.below(6) as usize, rng.below(6) as usize)
            } else {
                let pair = [(0, 2), (1, 2), (3, 4)][rng.below(3) as usize];
                if rng.chance(2) {
                    pair
                } else {
                    (pair.1, pair.0)
                }
            };
            let (src, dst) = (hosts[si], hosts[di]);
            let b = base[si * 6 + di];
            let seq = match rng.below(10) {
                0 => rng.next(),
                1 => b.wrapping_sub(rng.below(200)),
                2..=4 => b.wrapping_add(rng.below(1500)),
                _ => b,
            };
            let ack = base[di * 6 + si].wrapping_add(rng.below(300));
            let mut flags = if rng.chance(10) { 0 } else { ACK };
            for (f, odds) in [(SYN, 60), (FIN, 60), (RST, 150), (PSH, 3)] {
                if rng.chance(odds) {
                    flags |= f;
                }
            }
            let len = rng.below(121) as usize;
            payload[..len]
                .iter_mut()
                .for_each(|x| *x = rng.next() as u8);
            let wire = if rng.chance(10) {
                len as u32 + rng.below(200)
            } else {
                len as u32
            };
            h.ns += i64::from(rng.below(50)) * 1_000_000;
            if rng.chance(100) {
                h.ns += 5_000_000_000;
            }
            if rng.chance(50) {
                h.ns -= 20_000_000; // capture timestamps going back
            }
            if rng.chance(200) {
                h.advance(2_000_000_000);
            }
            h.send_cut(src, dst, seq, ack, flags, &payload[..len], wire);
            if seq == b || rng.chance(4) {
                base[si * 6 + di] = seq.wrapping_add(wire);
            }
            // Limits and accounting.
            let mut total = 0;
            for i in h.r.table.open_slots().collect::<Vec<_>>() {
                for half in &h.r.table.conn(i).halves {
                    assert!(
                        half.buffered() <= cfg.max_ooo_bytes,
                        "seed {seed} step {step}"
                    );
                    assert!(
                        half.runs() <= cfg.max_ooo_segments,
                        "seed {seed} step {step}"
                    );
                    total += half.buffered();
                }
            }
            assert_eq!(total, h.r.buffered_bytes(), "seed {seed} step {step}");
            assert!(h.r.tracked() <= cfg.max_flows);
        }
        h.finish();
        assert_eq!(h.r.tracked(), 0);
        assert_eq!(h.r.buffered_bytes(), 0);
        assert!(h.rec.live.is_empty(), "every open connection was closed");
        let st = h.r.stats();
        assert_eq!(st.segments, 3000);
        assert!(st.peak_buffered_bytes <= cfg.max_flows * 2 * cfg.max_ooo_bytes);
    }
}

#[test]
fn output_is_deterministic() {
    let run = || {
        let mut rng = Lcg(7);
        let c2s = pattern(200, 5);
        let s2c = pattern(100, 6);
        let mut plan = random_plan(&mut rng, [200, 100], 1);
        reorder_and_duplicate(&mut rng, &mut plan, [200, 100]);
        plan.retain(|_| !rng.chance(7));
        play(5, 6, [&c2s, &s2c], &plan, None, TcpConfig::default())
            .rec
            .evs
    };
    assert_eq!(run(), run());
}

#[test]
fn half_done_tracks_the_fin() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.c(1003, 5001, ACK | FIN, b"cd");
    let i = h.r.table.find(&Key::new(addr(C), addr(S))).unwrap();
    assert!(!h.r.table.conn(i).halves[0].done());
    h.c(1001, 5001, ACK, b"ab");
    assert!(h.r.table.conn(i).halves[0].done());
    assert_eq!(h.stream(0, AB), b"abcd");
}

/// Counts bytes; for the throughput measurement.
struct Count(u64);

impl StreamSink for Count {
    fn on_open(&mut self, _: &ConnInfo, _: PacketRef) -> Interest {
        Interest::Keep
    }
    fn on_data(&mut self, _: &ConnInfo, _: Dir, data: &[u8], _: PacketRef) -> Interest {
        self.0 += data.len() as u64;
        Interest::Keep
    }
    fn on_gap(&mut self, _: &ConnInfo, _: Dir, _: u64, _: GapCause, _: PacketRef) {}
    fn on_close(&mut self, _: &ConnInfo, _: CloseReason, _: PacketRef) {}
    fn on_event(&mut self, _: &ConnInfo, _: TcpEvent, _: PacketRef) {}
}

/// In-order segments over `flows` connections, round robin, with a swapped
/// pair every 50 segments. Run with
/// `cargo test --release --lib tcp::tests::throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    let payload = vec![7u8; 1460];
    for flows in [1usize, 10_000] {
        let mut r = Reassembler::new(TcpConfig::default());
        let mut sink = Count(0);
        let segments = 2_000_000u64;
        let addrs: Vec<(SocketAddr, SocketAddr)> = (0..flows)
            .map(|i| {
                (
                    SocketAddr::from((
                        [10, 1, (i >> 8) as u8, i as u8],
                        40_000 + (i % 20_000) as u16,
                    )),
                    addr("10.0.0.2:9092"),
                )
            })
            .collect();
        let mut seq = vec![1000u32; flows];
        let t = std::time::Instant::now();
        for n in 0..segments {
            let f = (n as usize) % flows;
            let (src, dst) = addrs[f];
            let seg = TcpSegment {
                src,
                dst,
                seq: seq[f],
                ack: 5000,
                flags: TcpFlags(ACK),
                window: 1000,
                payload: &payload,
                payload_len: 1460,
            };
            seq[f] = seq[f].wrapping_add(1460);
            let at = PacketRef {
                frame: n + 1,
                ts: Timestamp::new(
                    1_700_000_000 + (n / 100_000) as i64,
                    (n % 100_000) as u32 * 10_000,
                ),
            };
            r.segment(&seg, at, &mut sink);
        }
        let el = t.elapsed();
        assert_eq!(sink.0, segments * 1460);
        eprintln!(
            "{flows} flows: {segments} segments in {el:?}: {:.1} ns/segment, {:.2} GB/s",
            el.as_nanos() as f64 / segments as f64,
            (segments * 1460) as f64 / el.as_secs_f64() / 1e9
        );
    }
}

#[test]
fn memory_follows_what_is_in_flight_not_the_capture_length() {
    // 20,000 short connections, 10 per second of capture time: closed ones
    // are forgotten after the linger time, so the table stays small.
    let mut h = H::new(TcpConfig::default());
    for n in 0..20_000u32 {
        let client = format!("10.1.{}.{}:{}", n >> 14, (n >> 6) & 0xff, 30_000 + (n & 63));
        let c = client.as_str();
        h.ns += 100_000_000;
        h.send(c, S, 1000, 0, SYN, b"");
        h.send(S, c, 5000, 1001, SYN | ACK, b"");
        h.send(c, S, 1001, 5001, ACK | PSH, b"req");
        h.send(S, c, 5001, 1004, ACK | PSH, b"resp");
        h.send(c, S, 1004, 5005, ACK | FIN, b"");
        h.send(S, c, 5005, 1005, ACK | FIN, b"");
        h.send(c, S, 1005, 5006, ACK, b"");
        assert!(h.r.tracked() <= 700, "{} tracked", h.r.tracked());
    }
    assert!(h.r.table.slot_count() <= 700);
    assert_eq!(h.r.stats().connections, 20_000);
    let closes = h
        .rec
        .evs
        .iter()
        .filter(|e| {
            matches!(
                e,
                Ev::Close {
                    reason: CloseReason::Fin,
                    ..
                }
            )
        })
        .count();
    assert_eq!(closes, 20_000);
}

#[test]
fn nothing_after_the_fin_is_data() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.c(1010, 5001, ACK, b"zz"); // 4: buffered, beyond the FIN to come
    h.c(1001, 5001, ACK | FIN, b"abc"); // 5
    assert_eq!(h.r.buffered_bytes(), 0);
    h.c(1004, 5001, ACK, b"after"); // 6
    h.s(5001, 1005, ACK | FIN, b""); // 7
    assert_eq!(
        h.take_no_open(),
        [data(0, AB, b"abc", 5), close(0, CloseReason::Fin, 7)]
    );
}

/// `max_total_ooo_bytes` bounds the buffers of all connections together: a
/// direction that would go beyond it gives up its oldest holes, reported as
/// an `OooLimit` of kind `TotalBytes` (with the configured total).
#[test]
fn total_ooo_limit_bounds_all_connections() {
    let mut h = H::cfg(|c| {
        c.max_ooo_bytes = 80;
        c.max_total_ooo_bytes = 100;
    });
    let (a, b, x, y) = (
        "10.0.0.1:1000",
        "10.0.0.2:9092",
        "10.0.0.3:2000",
        "10.0.0.2:9093",
    );
    h.send(a, b, 100, 0, SYN, b"");
    h.send(x, y, 500, 0, SYN, b"");
    // Connection 0 buffers 60 bytes behind a hole.
    h.send(a, b, 111, 0, ACK, &[b'p'; 60]);
    assert_eq!(h.r.buffered_bytes(), 60);
    // Connection 1 may hold only the 40 left: it gives up its hole.
    h.send(x, y, 511, 0, ACK, &[b'q'; 60]);
    assert!(h.r.buffered_bytes() <= 100, "{}", h.r.buffered_bytes());
    let evs = h.take();
    assert!(
        evs.iter().any(|e| matches!(
            e,
            Ev::Event {
                id: 1,
                event: TcpEvent::OooLimit {
                    kind: OooLimitKind::TotalBytes,
                    limit: 100,
                    buffered_bytes: 60,
                    ..
                },
                ..
            }
        )),
        "{evs:?}"
    );
    assert!(
        evs.iter()
            .any(|e| *e == gap(1, Dir::AtoB, 10, GapCause::BufferLimit, 4))
    );
}

#[test]
fn limit_kinds_name_their_options() {
    assert_eq!(OooLimitKind::Bytes.as_str(), "max_ooo_bytes");
    assert_eq!(OooLimitKind::Segments.as_str(), "max_ooo_segments");
    assert_eq!(OooLimitKind::TotalBytes.as_str(), "max_total_ooo_bytes");
}

/// Both limits over at once: the bytes are named (giving up holes for them
/// also lowers the runs).
#[test]
fn ooo_limit_over_bytes_and_segments_names_the_bytes() {
    let mut h = H::cfg(|c| {
        c.max_ooo_bytes = 6;
        c.max_ooo_segments = 2;
    });
    h.handshake(1000, 5000);
    h.c(1003, 5001, ACK, b"cc"); // 4
    h.c(1007, 5001, ACK, b"gg"); // 5
    h.c(1011, 5001, ACK, b"kkk"); // 6: 7 bytes, 3 runs
    let evs = h.take_no_open();
    assert_eq!(
        evs[0],
        Ev::Event {
            id: 0,
            event: TcpEvent::OooLimit {
                dir: AB,
                kind: OooLimitKind::Bytes,
                limit: 6,
                buffered_bytes: 7,
                buffered_segments: 3,
            },
            frame: 6
        }
    );
    assert_eq!(
        evs.iter().filter(|e| matches!(e, Ev::Event { .. })).count(),
        1
    );
}

fn mismatch(dir: Dir, offset: u64, len: u64, kept: Kept, frame: u64) -> Ev {
    Ev::Event {
        id: 0,
        event: TcpEvent::RetransmissionMismatch {
            dir,
            offset,
            len,
            kept,
        },
        frame,
    }
}

#[test]
fn differing_overlap_in_the_buffer_keeps_the_first_copy() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000); // data offset 0 is seq 1001
    h.c(1004, 5001, ACK, b"defg"); // 4: buffered at 3..7
    h.c(1003, 5001, ACK, b"cdXYgh"); // 5: 4 and 5 differ
    h.c(1001, 5001, ACK, b"ab"); // 6
    assert_eq!(
        h.take_no_open(),
        [
            mismatch(AB, 4, 2, Kept::First, 5),
            data(0, AB, b"ab", 6),
            data(0, AB, b"cdefgh", 6),
        ]
    );
    let st = h.r.stats();
    assert_eq!(st.retransmission_mismatches, 1);
    assert_eq!(st.retransmitted_bytes, 4);
}

#[test]
fn differing_buffered_bytes_under_an_in_order_segment_are_dropped() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.c(1003, 5001, ACK, b"cdef"); // 4: buffered at 2..6
    h.c(1009, 5001, ACK, b"ij"); // 5: buffered at 8..10
    // 6: in order over both copies: 3 and 9 differ; one event.
    h.c(1001, 5001, ACK, b"abcXefghiZ");
    assert_eq!(
        h.take_no_open(),
        [
            mismatch(AB, 3, 2, Kept::Last, 6),
            data(0, AB, b"abcXefghiZ", 6),
        ]
    );
    assert_eq!(h.r.stats().retransmission_mismatches, 1);
    assert_eq!(h.r.buffered_bytes(), 0);
}

#[test]
fn same_bytes_overlapping_are_no_mismatch() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.c(1004, 5001, ACK, b"defg"); // 4
    h.c(1003, 5001, ACK, b"cdefgh"); // 5: the same bytes, more
    h.c(1001, 5001, ACK, b"abcde"); // 6: in order, the same bytes
    assert_eq!(
        h.take_no_open(),
        [data(0, AB, b"abcde", 6), data(0, AB, b"fgh", 6)]
    );
    assert_eq!(h.r.stats().retransmission_mismatches, 0);
}

/// Delivered bytes are not kept: a retransmission of them carrying other
/// bytes cannot be compared, and goes unreported (the module doc says so).
#[test]
fn retransmission_of_delivered_bytes_is_not_compared() {
    let mut h = H::new(TcpConfig::default());
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK, b"hello"); // 4
    h.c(1001, 5001, ACK, b"HELLO world"); // 5
    assert_eq!(
        h.take_no_open(),
        [data(0, AB, b"hello", 4), data(0, AB, b" world", 5)]
    );
    assert_eq!(h.r.stats().retransmission_mismatches, 0);
}

/// The hostile arrival orders of `shapes`, through the whole reassembler:
/// the stream comes out exactly, nothing given up.
#[test]
fn hostile_arrival_orders_deliver_the_stream() {
    let cfg = TcpConfig {
        max_ooo_bytes: 1 << 20,
        max_ooo_segments: 1 << 20,
        ..TcpConfig::default()
    };
    let stream = shapes::stream(30_000, 4);
    let len = stream.len() as u64;
    let plans: Vec<(&str, Vec<shapes::Seg>)> = vec![
        ("in order", shapes::in_order(len, 64).collect()),
        ("descending 64", shapes::descending(len, 64).collect()),
        ("descending 1", shapes::descending(len, 1).collect()),
        (
            "1-byte windows",
            shapes::descending_in_windows(len, 1, 1000).collect(),
        ),
        (
            "random windows",
            shapes::shuffled_in_windows(len, 50, 5000, 3).collect(),
        ),
        (
            "random",
            shapes::shuffled_in_windows(len, 7, len, 5).collect(),
        ),
        (
            "holes filled later",
            shapes::holes_filled_later(len, 16, len).collect(),
        ),
    ];
    for (what, plan) in plans {
        let mut r = Reassembler::new(cfg.clone());
        let mut check = shapes::Check::new(&stream);
        shapes::feed(&mut r, &mut check, &stream, plan);
        assert!(check.exact(), "{what}: {check:?}");
        assert_eq!(check.events, 0, "{what}");
        assert_eq!(r.stats().retransmitted_bytes, 0, "{what}");
        assert_eq!(r.buffered_bytes(), 0, "{what}");
    }
}

/// A random permutation of random-sized segments, some retransmitted with
/// other bytes, against a byte-by-byte model: bytes buffered out of order
/// are kept (first writer), an in-order segment is delivered as it is; one
/// event per segment whose overlap with bytes held differs.
#[test]
fn random_permutations_match_a_byte_model() {
    for seed in 0..40u64 {
        let mut rng = shapes::Prng(seed);
        let stream = shapes::stream(3000, seed);
        let len = stream.len();
        let mut plan: Vec<(usize, Vec<u8>)> = Vec::new();
        let mut off = 0;
        while off < len {
            let n = (1 + rng.below(200) as usize).min(len - off);
            plan.push((off, stream[off..off + n].to_vec()));
            off += n;
        }
        // Retransmissions over random ranges, every third byte damaged.
        for _ in 0..plan.len() / 3 {
            let start = rng.below(len as u64) as usize;
            let n = (1 + rng.below(300) as usize).min(len - start);
            let mut bytes = stream[start..start + n].to_vec();
            bytes.iter_mut().step_by(3).for_each(|b| *b ^= 0x5a);
            plan.push((start, bytes));
        }
        rng.shuffle(&mut plan);

        let mut h = H::new(TcpConfig::default());
        h.handshake(1000, 5000); // frames 1-3
        let mut next = 0;
        let mut held: Vec<Option<u8>> = vec![None; len];
        let mut want = Vec::new();
        let mut want_events = Vec::new();
        for (i, (off, bytes)) in plan.iter().enumerate() {
            let (off, end) = (*off, off + bytes.len());
            let frame = h.c(1001 + off as u32, 5001, ACK, bytes);
            assert_eq!(frame, i as u64 + 4);
            let mut diff: Option<(u64, u64)> = None;
            let mut note = |k: usize| match &mut diff {
                Some((_, n)) => *n += 1,
                None => diff = Some((k as u64, 1)),
            };
            if end <= next {
                continue;
            }
            let kept = if off <= next {
                for k in next..end {
                    if held[k].is_some_and(|b| b != bytes[k - off]) {
                        note(k);
                    }
                    want.push(bytes[k - off]);
                    held[k] = None;
                }
                next = end;
                while next < len
                    && let Some(b) = held[next].take()
                {
                    want.push(b);
                    next += 1;
                }
                Kept::Last
            } else {
                for k in off..end {
                    match held[k] {
                        None => held[k] = Some(bytes[k - off]),
                        Some(b) if b != bytes[k - off] => note(k),
                        Some(_) => {}
                    }
                }
                Kept::First
            };
            if let Some((offset, n)) = diff {
                want_events.push(mismatch(AB, offset, n, kept, frame));
            }
        }
        h.finish();
        assert_eq!(next, len, "seed {seed}: the plan covers the stream");
        assert!(h.gaps().is_empty(), "seed {seed}");
        assert!(h.stream(0, AB) == want, "seed {seed}");
        let got_events: Vec<Ev> = h
            .rec
            .evs
            .iter()
            .filter(|e| matches!(e, Ev::Event { .. }))
            .cloned()
            .collect();
        assert_eq!(got_events, want_events, "seed {seed}");
        assert_eq!(
            h.r.stats().retransmission_mismatches,
            want_events.len() as u64
        );
    }
}
