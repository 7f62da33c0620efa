//! Helpers shared by the fuzz targets: a byte-script reader, a raw IPv4+TCP
//! packet builder, and a record sink that checks what the analyzer emits.
#![allow(dead_code)]

use std::io;
use std::net::{SocketAddr, SocketAddrV4};

use kwire::export::ndjson::to_json;
use kwire::export::text::TextWriter;
use kwire::session::{Record, RecordSink, Status, Summary};

/// Reads a fuzz input front to back; out of bytes reads as zeros / empty.
pub struct Script<'a> {
    data: &'a [u8],
}

impl<'a> Script<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Script { data }
    }
    pub fn len(&self) -> usize {
        self.data.len()
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    /// Up to `n` bytes (fewer at the end of the input).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }
}

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// An IPv4+TCP packet (link type RAW); kwire does not check checksums.
/// (Copied from `tests/chunking.rs`.)
pub fn packet(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let total = 40 + payload.len();
    assert!(total <= 0xffff, "payload too long for one IPv4 packet");
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
    p.extend(src.ip().octets());
    p.extend(dst.ip().octets());
    p.extend(src.port().to_be_bytes());
    p.extend(dst.port().to_be_bytes());
    p.extend(seq.to_be_bytes());
    p.extend(ack.to_be_bytes());
    p.extend([0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    p.extend(payload);
    p
}

pub fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new([a, b, c, d].into(), port)
}

/// A sink that checks every record, serializes its JSON (what
/// `NdjsonWriter` writes) and, optionally, writes it as the text listing.
///
/// Checked per record: the capture record comes first and once, nothing
/// follows the summary, `to_json` gives an object whose string `"type"`
/// names the record, an exchange's status agrees with its response.
/// [`Checker::finish`] then checks the summary against what was seen.
pub struct Checker {
    text: Option<TextWriter<io::Sink>>,
    records: u64,
    summaries: u64,
    exchanges: u64,
    answered: u64,
    unanswered: u64,
    orphans: u64,
    /// Largest connection index named by a record.
    max_stream: Option<u64>,
}

impl Checker {
    pub fn new(text: bool) -> Self {
        Checker {
            text: text.then(|| TextWriter::new(io::sink())),
            records: 0,
            summaries: 0,
            exchanges: 0,
            answered: 0,
            unanswered: 0,
            orphans: 0,
            max_stream: None,
        }
    }

    fn stream(&mut self, s: u64) {
        self.max_stream = Some(self.max_stream.map_or(s, |m| m.max(s)));
    }

    /// Check the summary returned by the analyzer against the records seen.
    /// `packets`: how many packets were fed, when known.
    pub fn finish(&self, s: &Summary, packets: Option<u64>) {
        if std::env::var_os("KWIRE_FUZZ_DEBUG").is_some() {
            eprintln!("{s:?}");
        }
        assert_eq!(self.summaries, 1, "exactly one summary record");
        assert_eq!(s.exchanges, self.exchanges, "summary.exchanges");
        assert_eq!(s.answered, self.answered, "summary.answered");
        assert_eq!(s.unanswered, self.unanswered, "summary.unanswered");
        assert_eq!(s.orphans, self.orphans, "summary.orphans");
        assert!(s.answered <= s.exchanges, "answered > exchanges: {s:?}");
        assert!(
            s.answered + s.unanswered <= s.exchanges,
            "answered + unanswered > exchanges: {s:?}"
        );
        assert!(
            s.kafka_connections <= s.connections,
            "kafka_connections > connections: {s:?}"
        );
        assert_eq!(s.connections, s.tcp.connections);
        assert!(s.truncated_packets <= s.packets);
        assert!(s.tcp.segments <= s.packets);
        if let Some(m) = self.max_stream {
            assert!(
                m < s.connections,
                "a record names stream {m} of {} connections",
                s.connections
            );
        }
        if let Some(n) = packets {
            assert_eq!(s.packets, n, "summary.packets");
        }
    }
}

impl RecordSink for Checker {
    fn record(&mut self, r: Record) -> io::Result<()> {
        assert_eq!(self.summaries, 0, "a record after the summary: {r:?}");
        let first = self.records == 0;
        self.records += 1;
        assert_eq!(
            first,
            matches!(r, Record::Capture(_)),
            "the capture record comes first, and only first: {r:?}"
        );
        let want = match &r {
            Record::Capture(_) => "capture",
            Record::Summary(_) => {
                self.summaries += 1;
                "summary"
            }
            Record::Exchange(e) => {
                self.exchanges += 1;
                self.stream(e.stream);
                match (&e.response, e.status) {
                    (Some(_), Status::Ok | Status::Error | Status::Malformed) => self.answered += 1,
                    (None, Status::NoResponse(_)) => self.unanswered += 1,
                    (None, Status::NoResponseExpected) => {}
                    _ => panic!("status disagrees with response: {e:?}"),
                }
                assert!(
                    e.request.lost_bytes <= u64::from(e.request.size),
                    "request lost more than its size: {e:?}"
                );
                if let Some(resp) = &e.response {
                    assert!(resp.lost_bytes <= u64::from(resp.size), "{e:?}");
                }
                "exchange"
            }
            Record::Event(e) => {
                if let Some(s) = e.stream {
                    self.stream(s);
                }
                if let kwire::session::EventKind::OrphanResponse { .. } = e.kind {
                    self.orphans += 1;
                }
                e.kind.type_name()
            }
        };
        let v = to_json(&r);
        let obj = v.as_object().expect("to_json gives an object");
        let ty = obj
            .get("type")
            .and_then(|t| t.as_str())
            .expect("a string \"type\"");
        assert_eq!(ty, want, "JSON type of {r:?}");
        serde_json::to_writer(io::sink(), &v).expect("serializable");
        // regressions/pcap_pipeline/text_latency_i64_min.pcapng: the text
        // listing overflowed on a latency of i64::MIN (fixed in 4e0d59d).
        if let Some(t) = &mut self.text {
            t.record(r.clone())?;
        }
        Ok(())
    }
}

/// Ports of the brokers in the seed captures (`samples/*.ports`,
/// `../shared/corpus/*.ports`) and Kafka's default.
pub const SEED_BROKER_PORTS: &[u16] = &[
    9092, 33275, 41123, 40763, 34621, 43077, 35957, 35465, 35831, 44103, 36677, 46157, 39919,
    37507, 42733, 41281, 38037, 36809, 45907, 39819, 41095, 44589, 42079, 43733, 40193, 42211,
    40401, 39925, 42533, 43551, 41949, 44935, 38485, 39659, 45115, 45919, 45125, 45939, 42641,
    35693, 45965, 45015, 42047, 46135, 38959, 39951,
];

/// Record-decoding limits small enough to keep runs fast: 4 MiB decompressed
/// per entry, 16 MiB per call (kwire's defaults are 64 MiB and 1 GiB).
pub fn record_limits() -> kwire::kafka::records::RecordLimits {
    kwire::kafka::records::RecordLimits {
        max_decompressed_bytes: 4 << 20,
        max_total_decompressed_bytes: 16 << 20,
        ..Default::default()
    }
}

/// TCP limits small enough to keep whole-capture runs fast.
pub fn pipeline_tcp() -> kwire::tcp::TcpConfig {
    kwire::tcp::TcpConfig {
        max_flows: 1024,
        max_ooo_bytes: 1 << 20,
        max_ooo_segments: 64,
        ..kwire::tcp::TcpConfig::default()
    }
}

/// Session limits small enough to keep whole-capture runs fast (records
/// decoded within [`record_limits`]).
pub fn pipeline_session() -> kwire::session::SessionConfig {
    kwire::session::SessionConfig {
        max_frame_size: 1 << 20,
        scan_window: 64 << 10,
        detect_scan_limit: 1 << 20,
        max_unresolved_records: 10_000,
        record_limits: record_limits(),
        ..kwire::session::SessionConfig::default()
    }
}

pub fn addr(a: SocketAddrV4) -> SocketAddr {
    SocketAddr::V4(a)
}
