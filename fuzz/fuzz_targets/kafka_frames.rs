//! Kafka byte streams of one connection: framing, header decoding,
//! detection and correlation.
//!
//! The input is a script of chunks and gaps of the client→broker and
//! broker→client streams of one connection, in arrival order:
//!
//! ```text
//! header, 2 bytes:
//!   h0: bit 0  broker port 9092 given (--port) instead of detection
//!       bit 1  joined mid-stream (no handshake captured)
//!       bit 2  max_frame_size 512 instead of 1 MiB (oversize frames)
//!       bit 3  sequence numbers just below 2^32 (wrap-around)
//!       bit 4  records mode `full` (else `meta`) in check 3
//!   h1: seed of the re-chunking in check 2
//! ops, 3 bytes each plus data:
//!   o0: bit 0 broker->client; bit 1 a gap (no data follows);
//!       bit 2 gap length in units of 4096 bytes
//!   o1 o2: length (big-endian); that many data bytes follow
//! ```
//!
//! The seeds are the TCP payloads of real Kafka connections (`seed.sh`).
//!
//! 1. Two `kafka::frame::Framer`s (one per direction) with a handler that
//!    parses request headers (`kafka::header`), keeps the correlation ids in
//!    flight, parses the responses to them, and judges resync candidates with
//!    `kafka::detect`. Checks: frames lie within the bytes fed, in order and
//!    without overlap; a frame's data is all of it unless bytes were lost,
//!    and data + lost <= size; candidates get at least 4 bytes; event
//!    offsets lie within the stream; the framer's buffer stays within
//!    max(max_frame_size + 4, scan_window, 4096).
//! 2. Chunking: each direction framed once as the ops cut it and once cut at
//!    random sizes (seeded by h1), with a handler whose answers depend only
//!    on the bytes: the frames before the first framing event are the same.
//! 3. The whole analyzer on the connection as RAW IPv4 packets (handshake
//!    unless mid-stream, FINs at the end, gaps as sequence jumps the peer
//!    acknowledges); records and summary checked by `common::Checker`.
#![no_main]

mod common;

use std::collections::VecDeque;

use common::*;
use kwire::capture::{LinkType, Packet, PacketRef, SourceFormat, Timestamp};
use kwire::kafka::ApiKey;
use kwire::kafka::detect::{request_candidate, response_candidate, role_candidate};
use kwire::kafka::frame::{Frame, FrameEvent, FrameHandler, Framer, FramerConfig, Next, Verdict};
use kwire::kafka::header::{
    HeaderError, parse_request_header, parse_response_header, produce_acks, response_correlation_id,
};
use kwire::kafka::records::RecordsMode;
use kwire::session::{Analyzer, CaptureInfo, SessionConfig};
use kwire::tcp::TcpConfig;
use libfuzzer_sys::fuzz_target;

const MAX_OPS: usize = 4096;
const PROBE_MAX: usize = 4096;

#[derive(Clone, Copy, Debug)]
enum Item<'a> {
    Data(&'a [u8]),
    Gap(u64),
}

/// One frame as delivered, without packet references.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Got {
    offset: u64,
    size: u32,
    data: Vec<u8>,
    lost: u64,
}

/// Per-direction bookkeeping of what a framer did.
#[derive(Default)]
struct Track {
    /// Stream position: bytes and gaps fed so far.
    fed: u64,
    /// End of the last frame delivered.
    frame_end: u64,
    frames: Vec<Got>,
    /// Frames delivered before the first event, once there was one.
    before_event: Option<usize>,
    events: u64,
}

impl Track {
    fn frame(&mut self, f: &Frame<'_>) {
        let end = f.offset + 4 + u64::from(f.size);
        assert!(
            f.offset >= self.frame_end,
            "frame at {} overlaps the one before (end {})",
            f.offset,
            self.frame_end
        );
        assert!(
            end <= self.fed,
            "frame ends at {end}, past the {} bytes fed",
            self.fed
        );
        if f.lost == 0 {
            assert_eq!(
                f.data.len(),
                f.size as usize,
                "complete frame with short data"
            );
        } else {
            assert!(
                f.data.len() as u64 + f.lost <= u64::from(f.size),
                "data {} + lost {} > size {}",
                f.data.len(),
                f.lost,
                f.size
            );
        }
        self.frame_end = end;
        if self.frames.len() < 1024 {
            self.frames.push(Got {
                offset: f.offset,
                size: f.size,
                data: f.data.to_vec(),
                lost: f.lost,
            });
        }
    }

    fn event(&mut self, e: FrameEvent) {
        self.events += 1;
        if self.before_event.is_none() {
            self.before_event = Some(self.frames.len());
        }
        // The framer's own position may run ahead of `fed` only within the
        // bytes given in the current call, which `fed` already counts.
        let off = match e {
            FrameEvent::OutOfSync { offset, .. } => offset,
            FrameEvent::Resync { offset, skipped } => {
                assert!(
                    skipped <= offset,
                    "skipped {skipped} bytes before offset {offset}"
                );
                offset
            }
            FrameEvent::TooLarge {
                offset,
                size,
                limit,
            } => {
                assert!(size > limit);
                offset
            }
        };
        assert!(
            off <= self.fed,
            "event at {off}, past the {} bytes fed",
            self.fed
        );
    }

    fn prefix(&self) -> &[Got] {
        &self.frames[..self.before_event.unwrap_or(self.frames.len())]
    }
}

/// Frame handler. Stateful: requests' correlation ids are kept in flight and
/// drive the response judgement. Stateless: answers depend on the bytes only.
struct Handler {
    stateful: bool,
    /// Current direction: false client→broker, true broker→client.
    server: bool,
    max_frame_size: u32,
    /// Requests awaiting a response: correlation id, response header version.
    in_flight: VecDeque<(i32, u8)>,
    client_id: Option<Vec<u8>>,
    track: [Track; 2],
}

impl Handler {
    fn new(stateful: bool, max_frame_size: u32) -> Self {
        Handler {
            stateful,
            server: false,
            max_frame_size,
            in_flight: VecDeque::new(),
            client_id: None,
            track: [Track::default(), Track::default()],
        }
    }
    fn t(&mut self) -> &mut Track {
        &mut self.track[usize::from(self.server)]
    }
}

impl FrameHandler for Handler {
    fn on_frame(&mut self, f: Frame<'_>) -> Next {
        self.t().frame(&f);
        let complete = f.lost == 0;
        if !self.server {
            match parse_request_header(f.data) {
                Ok(h) => {
                    if h.header_len > f.size as usize {
                        return Next::Desync;
                    }
                    let body = &f.data[h.header_len.min(f.data.len())..];
                    let acks = if h.api_key == ApiKey::PRODUCE {
                        produce_acks(h.api_version, body)
                    } else {
                        None
                    };
                    if self.stateful && acks != Some(0) {
                        let hv = h.api_key.response_header_version(h.api_version);
                        self.in_flight.push_back((h.correlation_id, hv));
                        if self.in_flight.len() > 64 {
                            self.in_flight.pop_front();
                        }
                        if self.client_id.is_none() {
                            self.client_id = h.client_id.map(<[u8]>::to_vec);
                        }
                    }
                    let _ = h.api_key.name();
                    Next::Continue
                }
                Err(HeaderError::Incomplete) if !complete => Next::Continue,
                Err(_) => Next::Desync,
            }
        } else {
            let Some(corr) = response_correlation_id(f.data) else {
                return Next::Continue;
            };
            if !self.stateful {
                let _ = parse_response_header(f.data, 1);
                return Next::Continue;
            }
            if let Some(i) = self.in_flight.iter().position(|&(c, _)| c == corr) {
                let (_, hv) = self.in_flight.remove(i).expect("index from position");
                match parse_response_header(f.data, hv) {
                    Ok(h) => {
                        assert_eq!(h.correlation_id, corr);
                        assert!(h.header_len <= f.data.len());
                    }
                    Err(HeaderError::Incomplete) => {}
                    Err(HeaderError::Invalid(_)) => return Next::Desync,
                }
            }
            Next::Continue
        }
    }

    fn check_candidate(&mut self, bytes: &[u8]) -> Verdict {
        assert!(bytes.len() >= 4, "candidate of {} bytes", bytes.len());
        if !self.server {
            let v = if self.stateful {
                let _ = role_candidate(bytes);
                request_candidate(bytes, self.max_frame_size, self.client_id.as_deref())
            } else {
                request_candidate(bytes, self.max_frame_size, None)
            };
            return v;
        }
        if self.stateful {
            let in_flight = &self.in_flight;
            response_candidate(bytes, |c| in_flight.iter().any(|&(x, _)| x == c))
        } else {
            response_candidate(bytes, |_| false)
        }
    }

    fn on_event(&mut self, event: FrameEvent, _at: PacketRef) {
        self.t().event(event);
    }
}

fn at(frame: u64) -> PacketRef {
    PacketRef {
        frame,
        ts: Timestamp::new(1_700_000_000, 0),
    }
}

/// Feed one item to one direction's framer and check its buffer bound.
fn feed(f: &mut Framer, h: &mut Handler, server: bool, item: Item<'_>, frame: u64, bound: usize) {
    h.server = server;
    match item {
        Item::Data(d) => {
            h.t().fed += d.len() as u64;
            f.data(d, at(frame), h);
        }
        Item::Gap(n) => {
            h.t().fed += n;
            f.gap(n, at(frame), h);
        }
    }
    assert!(
        f.buffered() <= bound,
        "framer buffers {} bytes, bound {bound}",
        f.buffered()
    );
}

/// Tiny deterministic generator for the re-chunking.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fuzz_target!(|data: &[u8]| {
    let mut s = Script::new(data);
    let (h0, h1) = (s.u8(), s.u8());
    let known_port = h0 & 1 != 0;
    let mid_stream = h0 & 2 != 0;
    let max_frame_size: u32 = if h0 & 4 != 0 { 512 } else { 1 << 20 };
    let wrap = h0 & 8 != 0;

    let mut ops: Vec<(bool, Item<'_>)> = Vec::new();
    while s.len() >= 3 && ops.len() < MAX_OPS {
        let o0 = s.u8();
        let len = s.u16();
        let server = o0 & 1 != 0;
        if o0 & 2 != 0 {
            let unit = if o0 & 4 != 0 { 4096 } else { 1 };
            ops.push((server, Item::Gap(u64::from(len) * unit)));
        } else {
            ops.push((server, Item::Data(s.take(usize::from(len)))));
        }
    }

    // Every field is set; the update keeps this compiling when kwire adds one.
    #[allow(clippy::needless_update)]
    let fc = FramerConfig {
        max_frame_size,
        min_frame_size: 4,
        scan_window: 64 << 10,
        ..FramerConfig::default()
    };
    let bound = (max_frame_size as usize + 4)
        .max(fc.scan_window)
        .max(PROBE_MAX);

    // 1. Both directions, in arrival order, with a stateful handler.
    {
        let new = || {
            if mid_stream {
                Framer::new_mid_stream(fc)
            } else {
                Framer::new(fc)
            }
        };
        let mut framers = [new(), new()];
        let mut h = Handler::new(true, max_frame_size);
        for (i, &(server, item)) in ops.iter().enumerate() {
            feed(
                &mut framers[usize::from(server)],
                &mut h,
                server,
                item,
                i as u64 + 1,
                bound,
            );
        }
        for server in [false, true] {
            h.server = server;
            framers[usize::from(server)].retry(at(ops.len() as u64 + 1), &mut h);
        }
    }

    // 2. Chunking does not change the frames before the first event.
    for server in [false, true] {
        let items: Vec<Item<'_>> = ops
            .iter()
            .filter(|(s, _)| *s == server)
            .map(|&(_, it)| it)
            .collect();
        if items.is_empty() {
            continue;
        }
        let mut a = Handler::new(false, max_frame_size);
        let mut fa = Framer::new(fc);
        for (i, &it) in items.iter().enumerate() {
            feed(&mut fa, &mut a, server, it, i as u64 + 1, bound);
        }
        // The same stream, data re-cut at random sizes (runs merged first).
        let mut b = Handler::new(false, max_frame_size);
        let mut fb = Framer::new(fc);
        let mut rng = Lcg(u64::from(h1) + 1);
        let max_chunk = 1 + u64::from(h1 % 64) * 16;
        let mut run: Vec<u8> = Vec::new();
        let mut frame = 0;
        let mut flush = |run: &mut Vec<u8>, fb: &mut Framer, b: &mut Handler, frame: &mut u64| {
            let mut rest = &run[..];
            while !rest.is_empty() {
                let n = (1 + rng.next() % max_chunk) as usize;
                let (c, r) = rest.split_at(n.min(rest.len()));
                *frame += 1;
                feed(fb, b, server, Item::Data(c), *frame, bound);
                rest = r;
            }
            run.clear();
        };
        for &it in &items {
            match it {
                Item::Data(d) => run.extend_from_slice(d),
                Item::Gap(n) => {
                    flush(&mut run, &mut fb, &mut b, &mut frame);
                    frame += 1;
                    feed(&mut fb, &mut b, server, Item::Gap(n), frame, bound);
                }
            }
        }
        flush(&mut run, &mut fb, &mut b, &mut frame);
        let (ta, tb) = (&a.track[usize::from(server)], &b.track[usize::from(server)]);
        let (pa, pb) = (ta.prefix(), tb.prefix());
        let n = pa.len().min(pb.len());
        assert_eq!(
            pa[..n],
            pb[..n],
            "frames differ with chunking (server: {server})"
        );
        if ta.events == 0 && tb.events == 0 && ta.frames.len() < 1024 {
            assert_eq!(
                ta.frames, tb.frames,
                "frames differ with chunking (server: {server})"
            );
        }
    }

    // 3. The whole analyzer on the connection as packets.
    let client = v4(10, 0, 0, 1, 40000);
    let broker = v4(10, 0, 0, 2, 9092);
    let (cisn, bisn) = if wrap {
        (0xffff_f000u32, 0xffff_ff00u32)
    } else {
        (1000u32, 5000u32)
    };
    let mut packets: Vec<(Timestamp, Vec<u8>)> = Vec::new();
    let mut ns: i64 = 1_700_000_000_000_000_000;
    let mut push = |packets: &mut Vec<(Timestamp, Vec<u8>)>, p: Vec<u8>| {
        ns += 1_000_000;
        packets.push((
            Timestamp::new(ns / 1_000_000_000, (ns % 1_000_000_000) as u32),
            p,
        ));
    };
    let (mut cs, mut bs) = (cisn.wrapping_add(1), bisn.wrapping_add(1));
    if !mid_stream {
        push(&mut packets, packet(client, broker, cisn, 0, SYN, &[]));
        push(
            &mut packets,
            packet(broker, client, bisn, cs, SYN | ACK, &[]),
        );
        push(&mut packets, packet(client, broker, cs, bs, ACK, &[]));
    }
    for &(server, item) in &ops {
        let (src, dst, seq, ack) = if server {
            (broker, client, &mut bs, cs)
        } else {
            (client, broker, &mut cs, bs)
        };
        match item {
            Item::Data(d) => {
                for chunk in d.chunks(32 << 10) {
                    let p = packet(src, dst, *seq, ack, ACK | PSH, chunk);
                    *seq = seq.wrapping_add(chunk.len() as u32);
                    push(&mut packets, p);
                }
            }
            // Sent but not captured: the sequence number jumps; the peer's
            // next ACK covers it, so it becomes a gap.
            Item::Gap(n) => *seq = seq.wrapping_add(n.min(1 << 30) as u32),
        }
    }
    push(&mut packets, packet(client, broker, cs, bs, FIN | ACK, &[]));
    push(
        &mut packets,
        packet(broker, client, bs, cs.wrapping_add(1), FIN | ACK, &[]),
    );
    push(
        &mut packets,
        packet(
            client,
            broker,
            cs.wrapping_add(1),
            bs.wrapping_add(1),
            ACK,
            &[],
        ),
    );

    let session = SessionConfig {
        kafka_ports: if known_port { vec![9092] } else { Vec::new() },
        max_frame_size,
        scan_window: 64 << 10,
        max_in_flight: 64,
        max_early_responses: 16,
        detect_scan_limit: 256 << 10,
        records: if h0 & 16 != 0 {
            RecordsMode::Full
        } else {
            RecordsMode::Meta
        },
        record_limits: record_limits(),
        ..SessionConfig::default()
    };
    let tcp = TcpConfig {
        max_ooo_bytes: 1 << 20,
        hole_packets: 2,
        ..TcpConfig::default()
    };
    let mut a = Analyzer::new(tcp, session, Checker::new(false));
    a.begin(CaptureInfo {
        source: "fuzz".into(),
        format: SourceFormat::Pcap,
        link_types: vec![LinkType::RAW],
        filter: None,
        merged: Vec::new(),
    })
    .unwrap();
    for (i, (ts, p)) in packets.iter().enumerate() {
        a.packet(&Packet {
            frame: i as u64 + 1,
            ts: *ts,
            link_type: LinkType::RAW,
            data: p,
            orig_len: p.len() as u32,
        })
        .unwrap();
    }
    let (checker, summary) = a.finish().unwrap();
    checker.finish(&summary, Some(packets.len() as u64));
});
