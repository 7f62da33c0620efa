//! Memory bounded by the wire (issue 10), measured with a counting
//! allocator (peak live heap during the run), for what every command does
//! with the records: `list` (text), `export` (NDJSON and findings), `stats`
//! and `diagnose` (statistics, connections, topic names, findings) and the
//! UI's store.
//!
//! - A real cluster's metadata: a 4.2 MB Metadata v13 response (2,000
//!   topics of 50 partitions on librdkafka's mock cluster of 3 brokers, all
//!   listed by confluent-kafka; `tests/data/big_metadata.pcap.gz`, recorded
//!   with `tests/data/record_big_metadata.py`): under 64 MiB.
//! - A 10 MB Metadata request of small elements (3.3 million one-letter
//!   topic names), unanswered: under 128 MiB.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;

use common::{ACK, PSH, SYN, packet};
use kwire::analysis::Report;
use kwire::analysis::findings::{Diagnosing, Finding};
use kwire::capture::PacketSource;
use kwire::capture::file::FileSource;
use kwire::export::ndjson::NdjsonWriter;
use kwire::export::text::TextWriter;
use kwire::session::{self, CaptureInfo, Record, RecordSink, SessionConfig};
use kwire::tcp::TcpConfig;
use kwire::tui::app::{App, AppOptions};
#[path = "common/counting.rs"]
mod counting;

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

const MIB: usize = 1 << 20;

/// Peak heap (above what was live before) of reading `path` into `sink`.
fn peak<S: RecordSink>(path: &Path, sink: S) -> (usize, S) {
    let mut src = FileSource::open(path.to_str().unwrap()).unwrap();
    let info = CaptureInfo {
        source: "memory".into(),
        format: src.format(),
        link_types: src.link_types(),
        filter: None,
        merged: Vec::new(),
    };
    let base = counting::start();
    // The unanswered request's connection is Kafka by its port.
    let cfg = SessionConfig {
        kafka_ports: vec![9092],
        ..SessionConfig::default()
    };
    let (sink, summary) =
        session::run(&mut src, info, TcpConfig::default(), cfg, sink).expect("the run");
    assert!(summary.exchanges > 0);
    (counting::peak_since(base), sink)
}

/// Every command's records consumer over `path`: the peak of each.
fn every_command(path: &Path) -> Vec<(&'static str, usize)> {
    let mut out = Vec::new();
    let (p, _) = peak(path, TextWriter::new(std::io::sink()));
    out.push(("list", p));
    let export = Diagnosing::new(
        NdjsonWriter::new(std::io::sink()),
        |w: &mut NdjsonWriter<std::io::Sink>, found: &[Finding]| {
            found.iter().try_for_each(|f| w.write_value(&f.to_json()))
        },
    );
    let (p, _) = peak(path, export);
    out.push(("export", p));
    let (p, r) = peak(path, Report::default());
    let _ = r.diagnoser.findings();
    out.push(("stats/diagnose", p));
    let mut app = App::new(AppOptions::default());
    let (p, _) = peak(path, |r: Record| {
        app.ingest(r);
        Ok(())
    });
    out.push(("tui", p));
    out
}

/// All scenarios in one test: the counter is global to the binary.
#[test]
fn memory_is_bounded_by_the_wire() {
    let tmp = tempfile::tempdir().unwrap();

    // The cluster's metadata, recorded.
    let gz = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/big_metadata.pcap.gz");
    let mut pcap = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(gz).unwrap())
        .read_to_end(&mut pcap)
        .unwrap();
    let md = tmp.path().join("big_metadata.pcap");
    std::fs::write(&md, &pcap).unwrap();
    drop(pcap);
    let mut report = Vec::new();
    for (cmd, p) in every_command(&md) {
        let over = if p < 64 * MIB { "" } else { " OVER 64 MiB" };
        report.push(format!(
            "4.2 MB Metadata response, {cmd}: {:.1} MiB{over}",
            p as f64 / MIB as f64
        ));
    }

    // A 10 MB Metadata request of small elements, never answered.
    let big = tmp.path().join("big_request.pcap");
    write_big_request(&big, 10 << 20);
    for (cmd, p) in every_command(&big) {
        let over = if p < 128 * MIB { "" } else { " OVER 128 MiB" };
        report.push(format!(
            "10 MB Metadata request, {cmd}: {:.1} MiB{over}",
            p as f64 / MIB as f64
        ));
    }
    let report = report.join("\n");
    eprintln!("{report}");
    assert!(!report.contains("OVER"), "{report}");
}

fn uvarint(b: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        b.push((v as u8) | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

/// A classic pcap (link type RAW) of one connection carrying a Metadata v9
/// request of about `size` bytes: one-letter topic names, no answer.
fn write_big_request(path: &Path, size: usize) {
    let mut body = Vec::new();
    body.extend(3i16.to_be_bytes()); // Metadata
    body.extend(9i16.to_be_bytes()); // v9: flexible
    body.extend(1i32.to_be_bytes()); // correlation id
    body.extend(2i16.to_be_bytes());
    body.extend(b"me");
    body.push(0); // header tagged fields
    let n = size / 3;
    uvarint(&mut body, n as u32 + 1);
    for i in 0..n {
        body.push(2); // compact string of 1
        body.push(b'a' + (i % 26) as u8);
        body.push(0); // tagged fields
    }
    // allowAutoTopicCreation, includeClusterAuthorizedOperations,
    // includeTopicAuthorizedOperations, tagged fields.
    body.extend([1, 0, 0, 0]);
    let mut msg = (body.len() as u32).to_be_bytes().to_vec();
    msg.extend(body);
    let c = SocketAddr::from(([10, 0, 0, 1], 40000));
    let s = SocketAddr::from(([10, 0, 0, 2], 9092));
    let mut packets = vec![
        packet(c, s, 1000, 0, SYN, &[]),
        packet(s, c, 5000, 1001, SYN | ACK, &[]),
        packet(c, s, 1001, 5001, ACK, &[]),
    ];
    let mut seq = 1001u32;
    for chunk in msg.chunks(65000) {
        packets.push(packet(c, s, seq, 5001, ACK | PSH, chunk));
        seq = seq.wrapping_add(chunk.len() as u32);
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    // Classic pcap, microseconds, link type 101 (raw IP).
    f.write_all(&0xa1b2_c3d4u32.to_le_bytes()).unwrap();
    f.write_all(&[2, 0, 4, 0]).unwrap();
    f.write_all(&[0; 8]).unwrap();
    f.write_all(&262_144u32.to_le_bytes()).unwrap();
    f.write_all(&101u32.to_le_bytes()).unwrap();
    for (i, p) in packets.iter().enumerate() {
        f.write_all(&1_700_000_000u32.to_le_bytes()).unwrap();
        f.write_all(&(i as u32).to_le_bytes()).unwrap();
        f.write_all(&(p.len() as u32).to_le_bytes()).unwrap();
        f.write_all(&(p.len() as u32).to_le_bytes()).unwrap();
        f.write_all(p).unwrap();
    }
}
