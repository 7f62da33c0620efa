//! IP fragments: a Kafka request and response whose TCP segments were
//! fragmented — IPv4, IPv6, IPv6 with a Hop-by-Hop header — in various
//! orders, with duplicates and overlaps, decode exactly as the same exchange
//! unfragmented (records equal but for frame numbers). Datagrams that never
//! complete and fragments that contradict each other are reported.
//!
//! The captures are written by hand: pcap files of Ethernet (IPv4) or raw IP
//! (IPv6) frames, checksums left at zero (kwire checks none).

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::Command;

use common::{analyze, exchanges};
use kwire::export::ndjson::to_json;
use kwire::session::{Record, Status, Summary};

const CLIENT_PORT: u16 = 51_000;
const BROKER_PORT: u16 = 9092;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;

const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_RAW: u32 = 101;

// ---- Kafka messages ------------------------------------------------------

/// ApiVersions v3 request, correlation id 7, client id "fragmented-client",
/// client software "kwire-test" version "1.0.0-aaaa…" (100 bytes): 145 bytes
/// with the size prefix.
fn request() -> Vec<u8> {
    let mut m = Vec::new();
    m.extend(18i16.to_be_bytes()); // ApiVersions
    m.extend(3i16.to_be_bytes()); // v3: request header v2
    m.extend(7i32.to_be_bytes()); // correlation id
    let client_id = b"fragmented-client";
    m.extend((client_id.len() as i16).to_be_bytes());
    m.extend(client_id);
    m.push(0); // header tagged fields
    for s in [
        "kwire-test".to_string(),
        format!("1.0.0-{}", "a".repeat(94)),
    ] {
        m.push(s.len() as u8 + 1); // compact string length + 1
        m.extend(s.as_bytes());
    }
    m.push(0); // body tagged fields
    sized(m)
}

/// ApiVersions v3 response (header v0), correlation id 7, error 0, API keys
/// 0..60 each with versions 0..9, no throttle: 436 bytes.
fn response() -> Vec<u8> {
    let mut m = Vec::new();
    m.extend(7i32.to_be_bytes()); // correlation id
    m.extend(0i16.to_be_bytes()); // error code
    m.push(61); // compact array of 60
    for key in 0..60i16 {
        m.extend(key.to_be_bytes());
        m.extend(0i16.to_be_bytes()); // min version
        m.extend(9i16.to_be_bytes()); // max version
        m.push(0); // tagged fields
    }
    m.extend(0i32.to_be_bytes()); // throttle time
    m.push(0); // tagged fields
    sized(m)
}

fn sized(m: Vec<u8>) -> Vec<u8> {
    let mut out = (m.len() as i32).to_be_bytes().to_vec();
    out.extend(m);
    out
}

// ---- packets -------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ip {
    V4,
    V6,
    /// IPv6 with a Hop-by-Hop options header before the Fragment header
    /// (the unfragmentable part) and a Destination options header after it
    /// (the fragmentable part).
    V6Ext,
}

impl Ip {
    fn addrs(self) -> (IpAddr, IpAddr) {
        match self {
            Ip::V4 => (
                IpAddr::V4(Ipv4Addr::new(192, 168, 7, 1)),
                IpAddr::V4(Ipv4Addr::new(192, 168, 7, 2)),
            ),
            Ip::V6 | Ip::V6Ext => (
                IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
                IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
            ),
        }
    }

    fn link(self) -> u32 {
        match self {
            Ip::V4 => LINKTYPE_ETHERNET,
            Ip::V6 | Ip::V6Ext => LINKTYPE_RAW,
        }
    }
}

/// A TCP header (no options, checksum 0) and payload.
fn tcp(src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend(src_port.to_be_bytes());
    t.extend(dst_port.to_be_bytes());
    t.extend(seq.to_be_bytes());
    t.extend(ack.to_be_bytes());
    t.extend([0x50, flags, 0xff, 0xff, 0, 0, 0, 0]); // offset 5, window, checksum, urgent
    t.extend(payload);
    t
}

/// An Ethernet frame around an IPv4 packet.
fn ethernet_ipv4(src: IpAddr, dst: IpAddr, id: u16, flags_offset: u16, payload: &[u8]) -> Vec<u8> {
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (src, dst) else {
        unreachable!()
    };
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]; // MACs, IPv4
    f.extend([0x45, 0]);
    f.extend((20 + payload.len() as u16).to_be_bytes());
    f.extend(id.to_be_bytes());
    f.extend(flags_offset.to_be_bytes());
    f.extend([64, 6, 0, 0]); // TTL, TCP, checksum
    f.extend(src.octets());
    f.extend(dst.octets());
    f.extend(payload);
    f
}

/// A raw IPv6 packet: fixed header, `exts` (already encoded), `payload`.
fn raw_ipv6(src: IpAddr, dst: IpAddr, next: u8, exts: &[u8], payload: &[u8]) -> Vec<u8> {
    let (IpAddr::V6(src), IpAddr::V6(dst)) = (src, dst) else {
        unreachable!()
    };
    let mut p = vec![0x60, 0, 0, 0];
    p.extend(((exts.len() + payload.len()) as u16).to_be_bytes());
    p.extend([next, 64]);
    p.extend(src.octets());
    p.extend(dst.octets());
    p.extend(exts);
    p.extend(payload);
    p
}

/// Hop-by-Hop options, 8 bytes of padding: `next` follows.
fn hop_by_hop(next: u8) -> [u8; 8] {
    [next, 0, 1, 4, 0, 0, 0, 0]
}

/// One packet carrying a whole TCP segment.
fn whole(ip: Ip, from_client: bool, segment: &[u8]) -> Vec<u8> {
    let (c, b) = ip.addrs();
    let (src, dst) = if from_client { (c, b) } else { (b, c) };
    match ip {
        Ip::V4 => ethernet_ipv4(src, dst, 0, 0x4000, segment), // DF
        Ip::V6 => raw_ipv6(src, dst, 6, &[], segment),
        Ip::V6Ext => {
            let mut exts = hop_by_hop(60).to_vec();
            exts.extend(hop_by_hop(6)); // as destination options
            raw_ipv6(src, dst, 0, &exts, segment)
        }
    }
}

/// A fragment: its offset in the datagram's payload, whether more follow,
/// its bytes.
type Frag = (usize, bool, Vec<u8>);

/// One packet carrying fragment `f` of datagram `id`.
fn fragment(ip: Ip, from_client: bool, id: u32, f: &Frag) -> Vec<u8> {
    let (c, b) = ip.addrs();
    let (src, dst) = if from_client { (c, b) } else { (b, c) };
    let (offset, more, bytes) = f;
    assert_eq!(offset % 8, 0);
    let offset_flags = (*offset as u16 / 8) << 3 | u16::from(*more);
    match ip {
        Ip::V4 => ethernet_ipv4(
            src,
            dst,
            id as u16,
            (*offset as u16 / 8) | if *more { 0x2000 } else { 0 },
            bytes,
        ),
        Ip::V6 | Ip::V6Ext => {
            // Fragment header: next header, reserved, offset and M, id.
            let next = if ip == Ip::V6 { 6 } else { 60 };
            let mut exts = if ip == Ip::V6 {
                Vec::new()
            } else {
                hop_by_hop(44).to_vec()
            };
            exts.extend([next, 0]);
            exts.extend(offset_flags.to_be_bytes());
            exts.extend(id.to_be_bytes());
            let first = if ip == Ip::V6 { 44 } else { 0 };
            raw_ipv6(src, dst, first, &exts, bytes)
        }
    }
}

/// The fragmentable payload of a segment: the segment, after destination
/// options for `V6Ext`.
fn fragmentable(ip: Ip, segment: &[u8]) -> Vec<u8> {
    let mut p = if ip == Ip::V6Ext {
        hop_by_hop(6).to_vec()
    } else {
        Vec::new()
    };
    p.extend(segment);
    p
}

/// `payload` cut into fragments of `size` bytes (a multiple of 8), in order.
fn split(payload: &[u8], size: usize) -> Vec<Frag> {
    payload
        .chunks(size)
        .enumerate()
        .map(|(i, c)| (i * size, (i + 1) * size < payload.len(), c.to_vec()))
        .collect()
}

/// How a datagram's payload is sent as fragments.
type Plan = fn(&[u8]) -> Vec<Frag>;

const PLANS: [(&str, Plan); 7] = [
    ("in order, 48 bytes", |p| split(p, 48)),
    ("reversed, 24 bytes", |p| {
        let mut f = split(p, 24);
        f.reverse();
        f
    }),
    ("last first, 104 bytes", |p| {
        let mut f = split(p, 104);
        f.rotate_right(1);
        f
    }),
    ("even then odd, 64 bytes", |p| {
        let f = split(p, 64);
        let (even, odd): (Vec<_>, Vec<_>) =
            f.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
        even.into_iter().chain(odd).map(|(_, f)| f).collect()
    }),
    ("every fragment twice, 32 bytes, reversed", |p| {
        let mut f: Vec<Frag> = split(p, 32)
            .into_iter()
            .flat_map(|f| [f.clone(), f])
            .collect();
        f.reverse();
        f
    }),
    ("overlapping copies, 40 bytes", |p| {
        // The same bytes cut at 40 and at 40 shifted by 16: every fragment
        // overlaps two of the other cut.
        let a = split(p, 40);
        let b: Vec<Frag> = split(&p[16..], 40)
            .into_iter()
            .map(|(o, m, bytes)| (o + 16, m, bytes))
            .collect();
        let mut f = Vec::new();
        for i in 0..a.len().max(b.len()) {
            f.extend(b.get(i).cloned());
            f.extend(a.get(i).cloned());
        }
        f
    }),
    ("a big first fragment, then it all again in 16 bytes", |p| {
        let big = (p.len() - 1) / 8 * 8;
        let mut f = vec![(0, true, p[..big].to_vec())];
        f.extend(split(p, 16));
        f
    }),
];

/// The connection, segment by segment: (time in µs, from client, TCP
/// flags, payload).
fn script() -> Vec<(u32, bool, u8, Vec<u8>)> {
    vec![
        (0, true, SYN, vec![]),
        (100, false, SYN | ACK, vec![]),
        (200, true, ACK, vec![]),
        (1_000, true, PSH | ACK, request()),
        (1_100, false, ACK, vec![]),
        (1_750, false, PSH | ACK, response()),
        (1_800, true, ACK, vec![]),
        (5_000, true, FIN | ACK, vec![]),
        (5_100, false, FIN | ACK, vec![]),
        (5_200, true, ACK, vec![]),
    ]
}

/// The capture's packets: (µs since the start, frame). Segments with a
/// payload are sent as `plan` says (all their fragments at the segment's
/// time), or whole when `plan` is `None`.
fn capture(ip: Ip, plan: Option<Plan>) -> Vec<(u32, Vec<u8>)> {
    let (mut cseq, mut bseq) = (1_000u32, 50_000u32);
    let mut out = Vec::new();
    for (n, (us, from_client, flags, payload)) in script().into_iter().enumerate() {
        let segment = if from_client {
            let s = tcp(CLIENT_PORT, BROKER_PORT, cseq, bseq, flags, &payload);
            cseq += payload.len() as u32 + u32::from(flags & (SYN | FIN) != 0);
            s
        } else {
            let s = tcp(BROKER_PORT, CLIENT_PORT, bseq, cseq, flags, &payload);
            bseq += payload.len() as u32 + u32::from(flags & (SYN | FIN) != 0);
            s
        };
        match plan {
            Some(plan) if !payload.is_empty() => {
                let id = 0x4000 + n as u32;
                for f in plan(&fragmentable(ip, &segment)) {
                    out.push((us, fragment(ip, from_client, id, &f)));
                }
            }
            _ => out.push((us, whole(ip, from_client, &segment))),
        }
    }
    out
}

/// A classic pcap file, microsecond timestamps from 2026-01-01T00:00:00Z.
fn write_pcap(path: &Path, link: u32, packets: &[(u32, Vec<u8>)]) {
    let mut f = Vec::new();
    f.extend(0xa1b2_c3d4u32.to_le_bytes());
    f.extend(2u16.to_le_bytes());
    f.extend(4u16.to_le_bytes());
    f.extend([0; 8]); // thiszone, sigfigs
    f.extend(65_535u32.to_le_bytes()); // snaplen
    f.extend(link.to_le_bytes());
    for (us, data) in packets {
        f.extend((1_767_225_600 + us / 1_000_000).to_le_bytes());
        f.extend((us % 1_000_000).to_le_bytes());
        f.extend((data.len() as u32).to_le_bytes());
        f.extend((data.len() as u32).to_le_bytes());
        f.extend(data);
    }
    std::fs::write(path, f).unwrap();
}

/// The records but the capture header and the summary, as NDJSON values
/// without frame numbers (which depend on how many fragments there were).
fn comparable(records: &[Record]) -> Vec<serde_json::Value> {
    fn strip(v: &mut serde_json::Value) {
        if let Some(o) = v.as_object_mut() {
            o.remove("frame");
            o.remove("first_frame");
            for (_, x) in o.iter_mut() {
                strip(x);
            }
        }
    }
    records
        .iter()
        .filter(|r| !matches!(r, Record::Capture(_) | Record::Summary(_)))
        .map(|r| {
            let mut v = to_json(r);
            strip(&mut v);
            v
        })
        .collect()
}

/// What the whole capture must give: one answered ApiVersions v3.
fn check_reference(records: &[Record], summary: &Summary) {
    let ex = exchanges(records);
    assert_eq!(ex.len(), 1, "{records:#?}");
    let e = ex[0];
    assert_eq!((e.api_key.0, e.api_version, e.correlation_id), (18, 3, 7));
    assert_eq!(e.client_id.as_deref(), Some("fragmented-client"));
    assert_eq!(e.status, Status::Ok);
    assert_eq!(e.latency_us(), Some(750));
    let body = to_json(&Record::Exchange(Box::new(e.clone())));
    assert_eq!(
        body["request"]["body"]["clientSoftwareName"], "kwire-test",
        "{body}"
    );
    assert_eq!(
        body["response"]["body"]["apiKeys"]
            .as_array()
            .unwrap()
            .len(),
        60
    );
    assert_eq!(summary.ip_fragments.fragments, 0);
    assert_eq!(summary.kafka_connections, 1);
}

#[test]
fn fragmented_segments_decode_like_whole_ones() {
    let dir = tempfile::tempdir().unwrap();
    for ip in [Ip::V4, Ip::V6, Ip::V6Ext] {
        let path = dir.path().join(format!("{ip:?}-whole.pcap"));
        write_pcap(&path, ip.link(), &capture(ip, None));
        let (records, summary) = analyze(&path, &[]);
        check_reference(&records, &summary);
        let expected = comparable(&records);
        for (name, plan) in PLANS {
            let packets = capture(ip, Some(plan));
            let path = dir.path().join(format!("{ip:?}-{name}.pcap"));
            write_pcap(&path, ip.link(), &packets);
            let (records, s) = analyze(&path, &[]);
            assert_eq!(comparable(&records), expected, "{ip:?}, {name}");
            let f = s.ip_fragments;
            let fragments = packets.len() as u64 - 8; // 8 segments not fragmented
            assert_eq!(f.fragments, fragments, "{ip:?}, {name}");
            assert_eq!((f.reassembled, f.incomplete), (2, 0), "{ip:?}, {name}");
            assert_eq!(f.overlap_mismatches, 0, "{ip:?}, {name}");
            assert!(f.peak_buffered_bytes > 0);
            assert_eq!(s.exchanges, 1);
            assert!(s.events.keys().all(|k| k.starts_with("connection_")));
        }
    }
}

fn kwire(args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_kwire"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn packet_events(lines: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    lines.iter().filter(|l| l["type"] == "packet").collect()
}

#[test]
fn export_reports_incomplete_datagrams_and_conflicting_fragments() {
    let dir = tempfile::tempdir().unwrap();
    // The request in 48-byte fragments, then a forged copy of its second
    // fragment (different bytes: the first copy wins); the response's
    // middle fragment is missing.
    let packets = capture(Ip::V4, None);
    let request_at = packets.iter().position(|(us, _)| *us == 1_000).unwrap();
    let response_at = packets.iter().position(|(us, _)| *us == 1_750).unwrap();
    let segment = |i: usize| packets[i].1[14 + 20..].to_vec(); // after Ethernet and IPv4
    let (req, resp) = (segment(request_at), segment(response_at));
    let mut req_frags: Vec<Vec<u8>> = split(&req, 48)
        .iter()
        .map(|f| fragment(Ip::V4, true, 0x77, f))
        .collect();
    let mut forged = split(&req, 48)[1].clone();
    forged.2[0] ^= 0xff;
    req_frags.insert(2, fragment(Ip::V4, true, 0x77, &forged));
    let resp_frags: Vec<Vec<u8>> = split(&resp, 200)
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, f)| fragment(Ip::V4, false, 0x78, f))
        .collect();
    let mut all = Vec::new();
    for (i, (us, frame)) in packets.into_iter().enumerate() {
        if i == request_at {
            all.extend(req_frags.iter().map(|f| (us, f.clone())));
        } else if i == response_at {
            all.extend(resp_frags.iter().map(|f| (us, f.clone())));
        } else {
            all.push((us, frame));
        }
    }
    let path = dir.path().join("damaged.pcap");
    write_pcap(&path, LINKTYPE_ETHERNET, &all);
    let path = path.to_str().unwrap();

    // The response never arrives: only the port says this is Kafka.
    let lines = kwire(&["export", path, "-p", "9092"]);
    let issues = packet_events(&lines);
    assert_eq!(issues.len(), 2, "{issues:#?}");
    // Frames: 3 handshake packets, then the request's fragments from 4;
    // the forged copy is frame 6.
    assert_eq!(issues[0]["issue"], "fragment_overlap");
    assert_eq!(issues[0]["reason"], "bytes_differ");
    assert_eq!(
        (
            issues[0]["frame"].as_u64(),
            issues[0]["first_frame"].as_u64()
        ),
        (Some(6), Some(4))
    );
    assert_eq!(issues[1]["issue"], "fragment_incomplete");
    assert_eq!(issues[1]["reason"], "capture_end");
    assert_eq!(issues[1]["fragments"], 2);
    assert_eq!(issues[1]["bytes"], resp.len() - 200);
    assert_eq!(issues[1]["frame"].as_u64(), Some(all.len() as u64));
    // The request was decoded intact; its response is lost.
    let ex: Vec<_> = lines.iter().filter(|l| l["type"] == "exchange").collect();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0]["client_id"], "fragmented-client");
    assert_eq!(ex[0]["request"]["body"]["clientSoftwareName"], "kwire-test");
    assert!(ex[0]["response"].is_null());
    let summary = lines.last().unwrap();
    assert_eq!(
        summary["ip_fragments"],
        serde_json::json!({
            "fragments": req_frags.len() + resp_frags.len(),
            "reassembled": 1,
            "incomplete": 1,
            "overlap_mismatches": 1,
            "peak_buffered_bytes": summary["ip_fragments"]["peak_buffered_bytes"],
        })
    );
    assert_eq!(summary["events"]["packet"], 2);

    // The same in the listing.
    let out = Command::new(env!("CARGO_BIN_EXE_kwire"))
        .args(["list", path, "-p", "9092"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("packet fragment_overlap: bytes_differ, datagram from frame 4"),
        "{text}"
    );
    assert!(
        text.contains("packet fragment_incomplete: capture_end, 2 fragments"),
        "{text}"
    );
    assert!(
        text.contains("IP fragments, 1 datagram reassembled, 1 incomplete, 1 overlap mismatch"),
        "{text}"
    );

    // Options: a buffer too small for any fragment gives every datagram up
    // at once; a short timeout does not hurt fragments that come together.
    let whole = dir.path().join("whole.pcap");
    let frags = dir.path().join("fragments.pcap");
    write_pcap(&whole, LINKTYPE_ETHERNET, &capture(Ip::V4, None));
    write_pcap(
        &frags,
        LINKTYPE_ETHERNET,
        &capture(Ip::V4, Some(PLANS[2].1)),
    );
    let lines = kwire(&[
        "export",
        frags.to_str().unwrap(),
        "--max-fragment-bytes",
        "100",
    ]);
    let issues = packet_events(&lines);
    assert!(!issues.is_empty());
    assert!(
        issues.iter().all(|i| i["reason"] == "max_fragment_bytes"),
        "{issues:#?}"
    );
    assert_eq!(lines.last().unwrap()["ip_fragments"]["reassembled"], 0);
    let lines = kwire(&[
        "export",
        frags.to_str().unwrap(),
        "--fragment-timeout",
        "0.5",
    ]);
    assert!(packet_events(&lines).is_empty());
    assert_eq!(lines.last().unwrap()["ip_fragments"]["reassembled"], 2);
    let ex = |lines: &[serde_json::Value]| -> Vec<serde_json::Value> {
        lines
            .iter()
            .filter(|l| l["type"] == "exchange")
            .cloned()
            .collect()
    };
    let reference = kwire(&["export", whole.to_str().unwrap()]);
    // Frames differ: compare what they do not touch.
    let (a, b) = (&ex(&lines)[0], &ex(&reference)[0]);
    assert_eq!(a["request"]["body"], b["request"]["body"]);
    assert_eq!(a["response"]["body"], b["response"]["body"]);
    assert_eq!(a["latency_us"], b["latency_us"]);
}
