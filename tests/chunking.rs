//! Chunking: the output must not depend on how the TCP byte streams were cut
//! into segments. The byte streams of real Kafka connections (from a corpus
//! capture) are re-segmented every way — each run of bytes split at every
//! offset, and everything cut into fixed sizes from 1 byte up — and fed as
//! packets; the records must be identical except for frame numbers.

mod common;

use std::net::SocketAddr;

use common::*;
use kwire::capture::file::FileSource;
use kwire::capture::link::{Decoded, decode};
use kwire::capture::{LinkType, Packet, PacketRef, Timestamp};
use kwire::capture::{PacketSource, SourceFormat};
use kwire::export::ndjson::to_json;
use kwire::session::{Analyzer, CaptureInfo, Record, SessionConfig};
use kwire::tcp::{
    CloseReason, ConnInfo, Dir, GapCause, Interest, Reassembler, StreamSink, TcpConfig, TcpEvent,
};

/// A connection's bytes as runs of one direction, in arrival order.
struct Conn {
    client: SocketAddr,
    server: SocketAddr,
    runs: Vec<(bool, Vec<u8>)>, // (from client, bytes)
}

#[derive(Default)]
struct Collect {
    conns: Vec<Conn>,
}

impl StreamSink for Collect {
    fn on_open(&mut self, c: &ConnInfo, _at: PacketRef) -> Interest {
        assert!(c.handshake_seen);
        self.conns.push(Conn {
            client: c.a,
            server: c.b,
            runs: Vec::new(),
        });
        Interest::Keep
    }
    fn on_data(&mut self, c: &ConnInfo, dir: Dir, data: &[u8], _at: PacketRef) -> Interest {
        let conn = &mut self.conns[c.id.0 as usize];
        let from_client = dir == Dir::AtoB;
        match conn.runs.last_mut() {
            Some((d, bytes)) if *d == from_client => bytes.extend_from_slice(data),
            _ => conn.runs.push((from_client, data.to_vec())),
        }
        Interest::Keep
    }
    fn on_gap(&mut self, _: &ConnInfo, _: Dir, _: u64, _: GapCause, _: PacketRef) {
        panic!("the source capture has no gaps");
    }
    fn on_close(&mut self, _: &ConnInfo, _: CloseReason, _: PacketRef) {}
    fn on_event(&mut self, _: &ConnInfo, _: TcpEvent, _: PacketRef) {}
}

fn streams(name: &str) -> Vec<Conn> {
    let path = corpus_dir().join(format!("{name}.pcap"));
    let mut src = FileSource::open(path.to_str().unwrap()).unwrap();
    let mut tcp = Reassembler::new(TcpConfig::default());
    let mut sink = Collect::default();
    while let Some(p) = src.next_packet().unwrap() {
        if let Decoded::Tcp(seg) = decode(p.link_type, p.data) {
            tcp.segment(&seg, p.at(), &mut sink);
        }
    }
    tcp.finish(PacketRef::default(), &mut sink);
    sink.conns
}

/// An IPv4+TCP packet (link type RAW); checksums are not checked by kwire.
fn packet(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let (SocketAddr::V4(s), SocketAddr::V4(d)) = (src, dst) else {
        panic!("IPv4 only")
    };
    let total = 40 + payload.len();
    let mut p = Vec::with_capacity(total);
    p.extend([
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ]);
    p.extend(s.ip().octets());
    p.extend(d.ip().octets());
    p.extend(s.port().to_be_bytes());
    p.extend(d.port().to_be_bytes());
    p.extend(seq.to_be_bytes());
    p.extend(ack.to_be_bytes());
    p.extend([0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    p.extend(payload);
    p
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;

/// Build the packets of all connections, cutting run `r` of every connection
/// with `cut(conn, run, len) -> segment lengths`. Each run's packets share a
/// timestamp so that latencies do not depend on the cut.
fn build(
    conns: &[Conn],
    cut: &dyn Fn(usize, usize, usize) -> Vec<usize>,
) -> Vec<(Timestamp, Vec<u8>)> {
    let mut out = Vec::new();
    let mut t = 1_700_000_000i64;
    for (ci, c) in conns.iter().enumerate() {
        let (mut cs, mut ss) = (1000u32, 5000u32);
        let push = |out: &mut Vec<(Timestamp, Vec<u8>)>, t: i64, p: Vec<u8>| {
            out.push((Timestamp::new(t, 0), p))
        };
        push(&mut out, t, packet(c.client, c.server, cs, 0, SYN, &[]));
        push(
            &mut out,
            t,
            packet(c.server, c.client, ss, cs + 1, SYN | ACK, &[]),
        );
        cs += 1;
        ss += 1;
        push(&mut out, t, packet(c.client, c.server, cs, ss, ACK, &[]));
        for (ri, (from_client, bytes)) in c.runs.iter().enumerate() {
            t += 1;
            let mut off = 0;
            for len in cut(ci, ri, bytes.len()) {
                let chunk = &bytes[off..off + len];
                off += len;
                let p = if *from_client {
                    let p = packet(c.client, c.server, cs, ss, ACK | PSH, chunk);
                    cs = cs.wrapping_add(len as u32);
                    p
                } else {
                    let p = packet(c.server, c.client, ss, cs, ACK | PSH, chunk);
                    ss = ss.wrapping_add(len as u32);
                    p
                };
                push(&mut out, t, p);
            }
            assert_eq!(off, bytes.len());
        }
        t += 1;
        push(
            &mut out,
            t,
            packet(c.client, c.server, cs, ss, FIN | ACK, &[]),
        );
        push(
            &mut out,
            t,
            packet(c.server, c.client, ss, cs + 1, FIN | ACK, &[]),
        );
    }
    out
}

/// Run packets through the pipeline; records as JSON without frame numbers
/// (which depend on the cut by definition) and without the summary.
fn run(packets: &[(Timestamp, Vec<u8>)]) -> Vec<serde_json::Value> {
    let mut recs = Vec::new();
    let sink = |r: Record| {
        if !matches!(r, Record::Summary(_)) {
            recs.push(r);
        }
        Ok(())
    };
    let mut a = Analyzer::new(TcpConfig::default(), SessionConfig::default(), sink);
    a.begin(CaptureInfo {
        source: "chunks".into(),
        format: SourceFormat::Pcap,
        link_types: vec![LinkType::RAW],
        filter: None,
    })
    .unwrap();
    for (i, (ts, data)) in packets.iter().enumerate() {
        let p = Packet {
            frame: i as u64 + 1,
            ts: *ts,
            link_type: LinkType::RAW,
            data,
            orig_len: data.len() as u32,
        };
        a.packet(&p).unwrap();
    }
    drop(a.finish().unwrap());
    recs.iter()
        .map(|r| {
            let mut v = to_json(r);
            strip(&mut v);
            v
        })
        .collect()
}

fn strip(v: &mut serde_json::Value) {
    if let Some(o) = v.as_object_mut() {
        o.remove("frame");
        o.remove("first_frame");
        for (_, x) in o.iter_mut() {
            strip(x);
        }
    }
}

fn sizes(len: usize, k: usize) -> Vec<usize> {
    let mut v = vec![k; len / k];
    if !len.is_multiple_of(k) {
        v.push(len % k);
    }
    v
}

#[test]
fn output_is_independent_of_segmentation() {
    let conns = streams("kafka_python");
    assert!(conns.len() >= 3);
    let whole = run(&build(&conns, &|_, _, len| vec![len]));
    let exchanges = whole.iter().filter(|v| v["type"] == "exchange").count();
    assert!(exchanges >= 20, "{exchanges}");
    assert!(
        whole
            .iter()
            .all(|v| v["type"] != "gap" && v["type"] != "resync")
    );

    // Fixed segment sizes over all runs.
    for k in (1..=40).chain([64, 100, 333, 1000, 1448]) {
        let got = run(&build(&conns, &|_, _, len| sizes(len, k)));
        assert_eq!(got, whole, "segments of {k} bytes");
    }
    // Every run split at every offset (one run at a time).
    let total_runs: usize = conns.iter().map(|c| c.runs.len()).sum();
    let mut variants = 0;
    for (ci, c) in conns.iter().enumerate() {
        for (ri, (_, bytes)) in c.runs.iter().enumerate() {
            for at in 1..bytes.len() {
                let got = run(&build(&conns, &|cj, rj, len| {
                    if (cj, rj) == (ci, ri) {
                        vec![at, len - at]
                    } else {
                        vec![len]
                    }
                }));
                assert_eq!(got, whole, "conn {ci} run {ri} split at {at}");
                variants += 1;
            }
        }
    }
    eprintln!("{variants} splits over {total_runs} runs, {exchanges} exchanges each");
}
