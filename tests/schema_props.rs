//! The schema decoder against an independent implementation of Kafka's
//! protocol, the `kafka-protocol` crate (generated from Kafka's JSON by
//! other code, in another project).
//!
//! Round trip, for every api key and version both know, requests and
//! responses, and for the data and header messages: random values are
//! written by a small encoder driven by kwire's tables (`B1`); kafka-protocol
//! decodes `B1` into its typed message, consuming every byte, and encodes it
//! again (`B2`); kwire decodes `B2` completely to exactly the values written.
//! A field kwire's tables got wrong (missing, extra, wrong type, nullability,
//! compactness, tag) breaks kafka-protocol's decode of `B1` or changes `B2`.
//!
//! Then spot checks: typed messages built with kafka-protocol, encoded by it
//! and decoded by kwire, field by field.
//!
//! And hostile input: every message version, its valid bodies overwritten
//! at every offset with huge counts and sizes, decodes without panicking
//! and allocates at most in proportion to the body's size (measured by a
//! counting allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{self as kp, ApiKey as KpApiKey, RequestKind, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, Message, StrBytes};
use kwire::kafka::schema::{self, FieldSpec, MessageKind, Ty};
use serde_json::{Map, Value as Json};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// Writes random values of a message by kwire's tables, and the JSON kwire
/// should make of them.
struct Gen {
    rng: Rng,
    version: i16,
    flexible: bool,
}

fn uvarint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn b64(data: &[u8]) -> Json {
    Json::String(schema::value::base64(data))
}

impl Gen {
    fn length(&mut self, out: &mut Vec<u8>, compact: bool, wide: bool, n: Option<usize>) {
        match (compact, n) {
            (true, None) => uvarint(out, 0),
            (true, Some(n)) => uvarint(out, n as u32 + 1),
            (false, None) if wide => out.extend((-1i32).to_be_bytes()),
            (false, None) => out.extend((-1i16).to_be_bytes()),
            (false, Some(n)) if wide => out.extend((n as i32).to_be_bytes()),
            (false, Some(n)) => out.extend((n as i16).to_be_bytes()),
        }
    }

    fn string(&mut self, min: u64) -> String {
        let n = min + self.rng.below(7);
        (0..n)
            .map(|_| (b'a' + self.rng.below(26) as u8) as char)
            .collect()
    }

    fn structure(&mut self, fields: &'static [FieldSpec], out: &mut Vec<u8>) -> Json {
        let v = self.version;
        let mut obj = Map::new();
        for f in fields {
            if f.versions.contains(v) && !f.tagged.contains(v) {
                let j = self.field(f, out, false);
                obj.insert(f.name.into(), j);
            }
        }
        if self.flexible {
            let mut tagged: Vec<&FieldSpec> = fields
                .iter()
                .filter(|f| f.versions.contains(v) && f.tagged.contains(v))
                .filter(|_| !self.rng.one_in(3))
                .collect();
            tagged.sort_by_key(|f| f.tag);
            // Unknown tags, above any Kafka uses, kept by both decoders.
            let unknown: Vec<u32> = if self.rng.one_in(4) {
                vec![100 + self.rng.below(50) as u32]
            } else {
                Vec::new()
            };
            uvarint(out, (tagged.len() + unknown.len()) as u32);
            for f in tagged {
                let mut data = Vec::new();
                let j = self.field(f, &mut data, true);
                uvarint(out, f.tag);
                uvarint(out, data.len() as u32);
                out.extend(data);
                obj.insert(f.name.into(), j);
            }
            let mut list = Vec::new();
            for tag in unknown {
                let data: Vec<u8> = (0..self.rng.below(5))
                    .map(|_| self.rng.next() as u8)
                    .collect();
                uvarint(out, tag);
                uvarint(out, data.len() as u32);
                out.extend(&data);
                let mut t = Map::new();
                t.insert("tag".into(), Json::from(tag));
                t.insert("data".into(), b64(&data));
                list.push(Json::Object(t));
            }
            if !list.is_empty() {
                obj.insert("_unknownTaggedFields".into(), Json::Array(list));
            }
        }
        Json::Object(obj)
    }

    /// A field's value. Tagged fields get values other than Kafka's
    /// defaults, which encoders may leave out.
    fn field(&mut self, f: &'static FieldSpec, out: &mut Vec<u8>, tagged: bool) -> Json {
        let compact = self.flexible && !f.never_compact;
        let nullable = f.nullable.contains(self.version) && !tagged;
        if f.array {
            if nullable && self.rng.one_in(6) {
                self.length(out, compact, true, None);
                return Json::Null;
            }
            let n = if tagged { 1 } else { 0 } + self.rng.below(3) as usize;
            self.length(out, compact, true, Some(n));
            return Json::Array(
                (0..n)
                    .map(|_| self.value(f, out, compact, false, tagged))
                    .collect(),
            );
        }
        self.value(f, out, compact, nullable, tagged)
    }

    fn value(
        &mut self,
        f: &'static FieldSpec,
        out: &mut Vec<u8>,
        compact: bool,
        nullable: bool,
        tagged: bool,
    ) -> Json {
        let r = self.rng.next();
        match f.ty {
            Ty::Bool => {
                let b = tagged || r & 1 == 1;
                out.push(u8::from(b));
                Json::Bool(b)
            }
            Ty::Int8 => {
                out.push(r as u8);
                Json::from(r as u8 as i8)
            }
            Ty::Int16 => {
                out.extend((r as i16).to_be_bytes());
                Json::from(r as i16)
            }
            Ty::Uint16 => {
                out.extend((r as u16).to_be_bytes());
                Json::from(r as u16)
            }
            Ty::Int32 => {
                out.extend((r as i32).to_be_bytes());
                Json::from(r as i32)
            }
            Ty::Uint32 => {
                out.extend((r as u32).to_be_bytes());
                Json::from(r as u32)
            }
            Ty::Int64 => {
                out.extend((r as i64).to_be_bytes());
                Json::from(r as i64)
            }
            Ty::Float64 => {
                let x = (r % 1_000_000) as f64 / 8.0 + 0.5;
                out.extend(x.to_be_bytes());
                Json::from(x)
            }
            Ty::Uuid => {
                let mut u = [0u8; 16];
                u[..8].copy_from_slice(&r.to_be_bytes());
                u[8..].copy_from_slice(&self.rng.next().to_be_bytes());
                out.extend(u);
                Json::String(schema::value::uuid_string(&u))
            }
            Ty::Str => {
                if nullable && self.rng.one_in(6) {
                    self.length(out, compact, false, None);
                    return Json::Null;
                }
                let s = self.string(u64::from(tagged));
                self.length(out, compact, false, Some(s.len()));
                out.extend(s.as_bytes());
                Json::String(s)
            }
            Ty::Bytes | Ty::Records => {
                if nullable && self.rng.one_in(6) {
                    self.length(out, compact, true, None);
                    return Json::Null;
                }
                let n = u64::from(tagged) + self.rng.below(9);
                let data: Vec<u8> = (0..n).map(|_| self.rng.next() as u8).collect();
                self.length(out, compact, true, Some(data.len()));
                out.extend(&data);
                if f.ty == Ty::Bytes {
                    b64(&data)
                } else {
                    let mut m = Map::new();
                    m.insert("bytes".into(), Json::from(data.len()));
                    Json::Object(m)
                }
            }
            Ty::Struct => {
                if nullable {
                    if self.rng.one_in(6) {
                        out.push(0xff);
                        return Json::Null;
                    }
                    out.push(1);
                }
                self.structure(f.fields(), out)
            }
        }
    }
}

/// Random bytes for `name` at `version`, and the JSON kwire should make of
/// them.
fn generate(spec: &'static schema::MessageSpec, version: i16, seed: u64) -> (Vec<u8>, Json) {
    let seg = spec.segment(version).unwrap();
    let mut g = Gen {
        rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
        version,
        flexible: seg.flexible.contains(version),
    };
    let mut out = Vec::new();
    let j = g.structure(seg.fields(), &mut out);
    (out, j)
}

/// kafka-protocol's decode then encode of one body.
type Reencode = fn(&[u8], i16) -> Result<Vec<u8>, String>;
type DynReencode<'a> = &'a dyn Fn(&[u8], i16) -> Result<Vec<u8>, String>;

fn reencode_request(key: KpApiKey) -> impl Fn(&[u8], i16) -> Result<Vec<u8>, String> {
    move |b, v| {
        let mut buf = Bytes::copy_from_slice(b);
        let m = RequestKind::decode(key, &mut buf, v).map_err(|e| format!("{e:#}"))?;
        if !buf.is_empty() {
            return Err(format!("{} bytes left by kafka-protocol", buf.len()));
        }
        let mut out = BytesMut::new();
        m.encode(&mut out, v).map_err(|e| format!("{e:#}"))?;
        Ok(out.to_vec())
    }
}

fn reencode_response(key: KpApiKey) -> impl Fn(&[u8], i16) -> Result<Vec<u8>, String> {
    move |b, v| {
        let mut buf = Bytes::copy_from_slice(b);
        let m = ResponseKind::decode(key, &mut buf, v).map_err(|e| format!("{e:#}"))?;
        if !buf.is_empty() {
            return Err(format!("{} bytes left by kafka-protocol", buf.len()));
        }
        let mut out = BytesMut::new();
        m.encode(&mut out, v).map_err(|e| format!("{e:#}"))?;
        Ok(out.to_vec())
    }
}

fn reencode_typed<T: Decodable + Encodable>(b: &[u8], v: i16) -> Result<Vec<u8>, String> {
    let mut buf = Bytes::copy_from_slice(b);
    let m = T::decode(&mut buf, v).map_err(|e| format!("{e:#}"))?;
    if !buf.is_empty() {
        return Err(format!("{} bytes left by kafka-protocol", buf.len()));
    }
    let mut out = BytesMut::new();
    m.encode(&mut out, v).map_err(|e| format!("{e:#}"))?;
    Ok(out.to_vec())
}

const SEEDS: u64 = 40;

#[derive(Default)]
struct Tally {
    /// (message, versions) checked.
    checked: BTreeMap<String, Vec<i16>>,
    cases: usize,
    identical: usize,
    /// Versions kafka-protocol lists but its decoder refuses.
    refused: Vec<String>,
    failures: Vec<String>,
}

impl Tally {
    fn run(
        &mut self,
        spec: &'static schema::MessageSpec,
        versions: impl Iterator<Item = i16>,
        reencode: DynReencode,
    ) {
        for v in versions {
            if spec.segment(v).is_none() {
                continue;
            }
            for seed in 0..SEEDS {
                self.cases += 1;
                match self.case(spec, v, seed, reencode) {
                    Ok(()) => {}
                    Err(e) if e.contains("version not supported by this message type") => {
                        self.cases -= 1;
                        self.refused.push(format!("{} v{v}", spec.name));
                        break;
                    }
                    Err(e) => {
                        self.failures
                            .push(format!("{} v{v} seed {seed}: {e}", spec.name));
                        break;
                    }
                }
                if seed == 0 {
                    self.checked.entry(spec.name.into()).or_default().push(v);
                }
            }
        }
    }

    fn case(
        &mut self,
        spec: &'static schema::MessageSpec,
        v: i16,
        seed: u64,
        reencode: DynReencode,
    ) -> Result<(), String> {
        let (b1, expected) = generate(spec, v, seed);
        let decode = |b: &[u8]| match spec.kind {
            MessageKind::Request | MessageKind::Response => {
                schema::decode_body(spec.api_key, v, spec.kind, b)
            }
            _ => schema::decode_data(spec.name, v, b),
        };
        let d1 = decode(&b1);
        if !d1.is_complete() || schema::to_json(&d1.tree) != expected {
            return Err(format!("kwire misreads its own encoding: {:?}", d1.error));
        }
        let b2 = reencode(&b1, v).map_err(|e| format!("kafka-protocol: {e}"))?;
        if b1 == b2 {
            self.identical += 1;
        }
        let d2 = decode(&b2);
        if !d2.is_complete() {
            return Err(format!("kafka-protocol's encoding: {:?}", d2.error));
        }
        let got = schema::to_json(&d2.tree);
        if got != expected {
            return Err(format!(
                "values differ\n  written: {expected}\n  kwire:   {got}"
            ));
        }
        Ok(())
    }
}

#[test]
fn kafka_protocol_round_trips_every_key_and_version() {
    let mut t = Tally::default();
    let mut keys = 0;
    for key in KpApiKey::iter() {
        let range = key.valid_versions();
        let k = key as i16;
        keys += 1;
        for kind in [MessageKind::Request, MessageKind::Response] {
            let spec = schema::message(k, kind).unwrap_or_else(|| panic!("kwire lacks {key:?}"));
            let versions = range.min..=range.max;
            match kind {
                MessageKind::Request => t.run(spec, versions, &reencode_request(key)),
                _ => t.run(spec, versions, &reencode_response(key)),
            }
        }
    }
    let data: [(&str, Reencode, i16, i16); 11] = [
        (
            "ConsumerProtocolSubscription",
            reencode_typed::<kp::ConsumerProtocolSubscription>,
            kp::ConsumerProtocolSubscription::VERSIONS.min,
            kp::ConsumerProtocolSubscription::VERSIONS.max,
        ),
        (
            "ConsumerProtocolAssignment",
            reencode_typed::<kp::ConsumerProtocolAssignment>,
            kp::ConsumerProtocolAssignment::VERSIONS.min,
            kp::ConsumerProtocolAssignment::VERSIONS.max,
        ),
        (
            "DefaultPrincipalData",
            reencode_typed::<kp::DefaultPrincipalData>,
            kp::DefaultPrincipalData::VERSIONS.min,
            kp::DefaultPrincipalData::VERSIONS.max,
        ),
        (
            "LeaderChangeMessage",
            reencode_typed::<kp::LeaderChangeMessage>,
            kp::LeaderChangeMessage::VERSIONS.min,
            kp::LeaderChangeMessage::VERSIONS.max,
        ),
        (
            "SnapshotHeaderRecord",
            reencode_typed::<kp::SnapshotHeaderRecord>,
            kp::SnapshotHeaderRecord::VERSIONS.min,
            kp::SnapshotHeaderRecord::VERSIONS.max,
        ),
        (
            "SnapshotFooterRecord",
            reencode_typed::<kp::SnapshotFooterRecord>,
            kp::SnapshotFooterRecord::VERSIONS.min,
            kp::SnapshotFooterRecord::VERSIONS.max,
        ),
        (
            "KRaftVersionRecord",
            reencode_typed::<kp::KRaftVersionRecord>,
            kp::KRaftVersionRecord::VERSIONS.min,
            kp::KRaftVersionRecord::VERSIONS.max,
        ),
        (
            "VotersRecord",
            reencode_typed::<kp::VotersRecord>,
            kp::VotersRecord::VERSIONS.min,
            kp::VotersRecord::VERSIONS.max,
        ),
        (
            "EndTxnMarker",
            reencode_typed::<kp::EndTxnMarker>,
            kp::EndTxnMarker::VERSIONS.min,
            kp::EndTxnMarker::VERSIONS.max,
        ),
        (
            "RequestHeader",
            reencode_typed::<kp::RequestHeader>,
            kp::RequestHeader::VERSIONS.min,
            kp::RequestHeader::VERSIONS.max,
        ),
        (
            "ResponseHeader",
            reencode_typed::<kp::ResponseHeader>,
            kp::ResponseHeader::VERSIONS.min,
            kp::ResponseHeader::VERSIONS.max,
        ),
    ];
    for (name, f, lo, hi) in data {
        let spec = schema::message_by_name(name).unwrap_or_else(|| panic!("kwire lacks {name}"));
        t.run(spec, lo..=hi, &f);
    }
    let versions: usize = t.checked.values().map(Vec::len).sum();
    eprintln!(
        "{keys} api keys, {} messages, {versions} message versions, {} cases \
         ({} byte-identical after kafka-protocol's re-encoding), {} failures; \
         listed but refused by kafka-protocol: {:?}",
        t.checked.len(),
        t.cases,
        t.identical,
        t.failures.len(),
        t.refused
    );
    assert!(
        t.failures.is_empty(),
        "{} message versions failed:\n{}",
        t.failures.len(),
        t.failures.join("\n")
    );
    assert!(
        keys >= 85 && versions >= 590,
        "{keys} keys, {versions} versions"
    );
}

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.into())
}

fn encode<T: Encodable>(m: &T, v: i16) -> Vec<u8> {
    let mut out = BytesMut::new();
    m.encode(&mut out, v).unwrap();
    out.to_vec()
}

#[test]
fn typed_messages_decode_field_by_field() {
    // Metadata v12 response with a topic id, a null rack and a partition.
    let resp = kp::MetadataResponse::default()
        .with_throttle_time_ms(7)
        .with_brokers(vec![
            kp::metadata_response::MetadataResponseBroker::default()
                .with_node_id(kp::BrokerId(3))
                .with_host(s("b3"))
                .with_port(9092)
                .with_rack(None),
        ])
        .with_cluster_id(Some(s("c1")))
        .with_topics(vec![
            kp::metadata_response::MetadataResponseTopic::default()
                .with_error_code(3)
                .with_name(Some(kp::TopicName(s("orders"))))
                .with_topic_id("01020304-0506-0708-090a-0b0c0d0e0f10".parse().unwrap())
                .with_partitions(vec![
                    kp::metadata_response::MetadataResponsePartition::default()
                        .with_partition_index(5)
                        .with_leader_id(kp::BrokerId(3))
                        .with_replica_nodes(vec![kp::BrokerId(1), kp::BrokerId(3)]),
                ]),
        ]);
    let b = encode(&resp, 12);
    let d = schema::decode_body(3, 12, MessageKind::Response, &b);
    assert!(d.is_complete(), "{:?}", d.error);
    let j = schema::to_json(&d.tree);
    assert_eq!(j["throttleTimeMs"], 7);
    assert_eq!(j["brokers"][0]["host"], "b3");
    assert_eq!(j["brokers"][0]["rack"], Json::Null);
    assert_eq!(j["clusterId"], "c1");
    assert_eq!(j["topics"][0]["name"], "orders");
    assert_eq!(
        j["topics"][0]["topicId"],
        "01020304-0506-0708-090a-0b0c0d0e0f10"
    );
    assert_eq!(j["topics"][0]["partitions"][0]["partitionIndex"], 5);
    assert_eq!(
        j["topics"][0]["partitions"][0]["replicaNodes"],
        serde_json::json!([1, 3])
    );
    let codes = schema::error_codes(&d.tree);
    assert!(
        codes
            .iter()
            .any(|c| c.path == "topics[0].errorCode" && c.code == 3)
    );
}

/// Counts the bytes allocated by the current thread, and their peak.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|l| {
        let now = l.get() + delta;
        l.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

// SAFETY: forwards to the system allocator; the bookkeeping touches only
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        track(l.size() as isize);
        // SAFETY: the caller upholds `alloc`'s contract.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        track(-(l.size() as isize));
        // SAFETY: the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        track(new as isize - l.size() as isize);
        // SAFETY: the caller upholds `realloc`'s contract.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak bytes allocated (above the start) while running `f`.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let r = f();
    let peak = PEAK.with(Cell::get) - base;
    (r, peak.max(0) as usize)
}

/// Bytes a decode may allocate for a body of `len` bytes: a tree node per
/// byte at most, array capacity at each nesting level, the strings' bytes.
fn budget(len: usize) -> usize {
    400 * len + 16 * 1024
}

#[test]
fn hostile_counts_and_sizes_allocate_in_proportion() {
    const PATTERNS: [&[u8]; 5] = [
        &[0x7f, 0xff, 0xff, 0xff],       // int32 count or size 2^31 - 1
        &[0x80, 0x80, 0x80, 0x80, 0x08], // compact: 2^31
        &[0xff, 0xff, 0xff, 0x7f],       // int16 -1, then a huge one
        &[0x00, 0x00, 0x7f, 0xff],       // a huge int16 string length
        &[0xff, 0xff, 0xff, 0xff, 0x0f], // compact: u32::MAX
    ];
    let mut decodes = 0usize;
    let mut worst = (0.0f64, String::new());
    for spec in schema::messages() {
        for v in spec.versions.lo..=spec.versions.hi {
            for seed in 0..2 {
                let (body, _) = generate(spec, v, seed);
                for at in 0..body.len().min(160) {
                    for pat in PATTERNS {
                        let mut b = body.clone();
                        for (i, x) in pat.iter().enumerate() {
                            if let Some(y) = b.get_mut(at + i) {
                                *y = *x;
                            }
                        }
                        let (d, peak) = peak_of(|| match spec.kind {
                            MessageKind::Request | MessageKind::Response => {
                                schema::decode_body(spec.api_key, v, spec.kind, &b)
                            }
                            _ => schema::decode_data(spec.name, v, &b),
                        });
                        decodes += 1;
                        assert!(d.consumed <= b.len());
                        assert!(
                            peak <= budget(b.len()),
                            "{} v{v}: {peak} bytes allocated for a {}-byte body \
                             (pattern {pat:02x?} at {at})",
                            spec.name,
                            b.len()
                        );
                        let ratio = peak as f64 / (b.len() as f64 + 1.0);
                        if ratio > worst.0 {
                            worst = (ratio, format!("{} v{v}, {} bytes", spec.name, b.len()));
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "{decodes} hostile decodes; most allocated per body byte: {:.0} ({})",
        worst.0, worst.1
    );
    // A 2^31 count in a tiny body allocates next to nothing.
    let (d, peak) =
        peak_of(|| schema::decode_body(3, 1, MessageKind::Request, &[0x7f, 0xff, 0xff, 0xff]));
    assert!(d.error.is_some());
    assert!(peak < 1024, "{peak}");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut n = 0;
    for spec in schema::messages() {
        for v in spec.versions.lo..=spec.versions.hi + 1 {
            for _ in 0..8 {
                let len = rng.below(48) as usize;
                let b: Vec<u8> = (0..len)
                    .map(|_| match rng.below(4) {
                        0 => 0,
                        1 => 0xff,
                        _ => rng.next() as u8,
                    })
                    .collect();
                let d = match spec.kind {
                    MessageKind::Request | MessageKind::Response => {
                        schema::decode_body(spec.api_key, v, spec.kind, &b)
                    }
                    _ => schema::decode_data(spec.name, v, &b),
                };
                assert!(d.consumed <= b.len());
                let _ = schema::to_json(&d.tree);
                n += 1;
            }
        }
    }
    assert!(n > 5000);
}

/// Records, with their paths, the error codes and records fields a walk
/// reads and the nulls it finds where the schema allows none; told of
/// every field (`ALL`) or only of those (and of structs and arrays).
#[derive(Default)]
struct Interests<const ALL: bool> {
    path: Vec<String>,
    seen: Vec<String>,
}

impl<'a, const ALL: bool> schema::walk::Visit<'a> for Interests<ALL> {
    const EVERY_FIELD: bool = ALL;

    fn interesting(f: &FieldSpec) -> bool {
        f.error_code || f.ty == schema::Ty::Records
    }

    fn open(&mut self, step: schema::Step, f: &'static FieldSpec, at: usize) {
        self.path.push(format!("{step:?}/{}@{at}", f.name));
    }

    fn close(&mut self, _: usize) {
        self.path.pop();
    }

    fn abort(&mut self) {
        self.path.pop();
    }

    fn scalar(&mut self, v: schema::walk::Scalar<'a>) {
        use schema::walk::Scalar;
        let Some(last) = self.path.last() else { return };
        let wanted = match v {
            Scalar::Null { allowed: false } => true,
            Scalar::Int(_) | Scalar::Records(..) => {
                let name = last.rsplit('/').next().unwrap_or("");
                let name = name.split('@').next().unwrap_or("");
                schema::is_error_code_name(name) || matches!(v, Scalar::Records(..))
            }
            _ => false,
        };
        if wanted {
            self.seen.push(format!("{} = {v:?}", self.path.join(" ")));
        }
    }
}

/// The walker, the JSON writer and the views read exactly what the tree
/// holds: same error, offset and path; the same JSON values; every field of
/// the tree (partial trees of damaged bodies included) read back through
/// the views with the same value.
#[test]
fn walker_json_and_views_agree_with_the_tree() {
    use schema::json::{NoSplice, write_message};
    use schema::walk::{Skip, body_version, walk_message};
    use schema::{JsonOptions, Node, StructView, Value};

    fn same(view: &StructView<'_>, node: &Node, what: &str) {
        let kids = node.children();
        for (i, n) in kids.iter().enumerate() {
            // Unknown tagged fields are JSON only; of a tagged field sent
            // twice, the last is read (as Kafka's readers do).
            if n.name.is_empty() || kids[i + 1..].iter().any(|k| k.name == n.name) {
                continue;
            }
            let w = format!("{what}.{}", n.name);
            match &n.value {
                Value::Int(i) => assert_eq!(view.int(n.name), Some(*i), "{w}"),
                Value::Bool(b) => assert_eq!(view.bool(n.name), Some(*b), "{w}"),
                Value::Float(f) => {
                    assert_eq!(
                        view.float(n.name).map(f64::to_bits),
                        Some(f.to_bits()),
                        "{w}"
                    )
                }
                Value::Str(s) => {
                    let b = view.str_bytes(n.name).expect(&w);
                    assert_eq!(String::from_utf8_lossy(b), *s, "{w}");
                }
                Value::Uuid(u) => assert_eq!(view.uuid(n.name), Some(u), "{w}"),
                Value::Bytes(b) => assert_eq!(view.bytes(n.name), Some(&b[..]), "{w}"),
                Value::Records(r) => assert_eq!(view.records(n.name), Some(r.clone()), "{w}"),
                Value::Null => {
                    assert!(view.has(n.name), "{w}");
                    assert!(view.str_bytes(n.name).is_none() && view.array(n.name).is_none());
                }
                Value::Struct(_) => same(&view.strukt(n.name).expect(&w), n, &w),
                Value::Array(items) => {
                    let a = view.array(n.name).expect(&w);
                    if let Some(Value::Struct(_)) = items.first().map(|i| &i.value) {
                        let got: Vec<_> = a.structs().collect();
                        assert_eq!(got.len(), items.len(), "{w}");
                        for (i, (v, item)) in got.iter().zip(items).enumerate() {
                            same(v, item, &format!("{w}[{i}]"));
                        }
                    } else {
                        assert_eq!(a.scalars().count(), items.len(), "{w}");
                    }
                }
                Value::UnknownTagged { .. } => {}
            }
        }
    }

    let mut rng = Rng(0x005e_ed0f_1a1c);
    let mut checked = 0usize;
    for spec in schema::messages() {
        for v in spec.versions.lo..=spec.versions.hi + 1 {
            for seed in 0..2 {
                let (good, _) = generate(spec, v.min(spec.versions.hi), seed);
                let mut bodies = vec![good.clone()];
                for _ in 0..6 {
                    let mut b = good.clone();
                    match rng.below(3) {
                        0 => b.truncate(rng.below(b.len() as u64 + 1) as usize),
                        1 if !b.is_empty() => {
                            let at = rng.below(b.len() as u64) as usize;
                            b[at] = rng.next() as u8;
                        }
                        _ => b.push(rng.next() as u8),
                    }
                    bodies.push(b);
                }
                for b in bodies {
                    let d = match spec.kind {
                        MessageKind::Request | MessageKind::Response => {
                            schema::decode_body(spec.api_key, v, spec.kind, &b)
                        }
                        _ => schema::decode_data(spec.name, v, &b),
                    };
                    let used = match spec.kind {
                        MessageKind::Request | MessageKind::Response => body_version(spec, v, &b),
                        _ => v,
                    };
                    let walked = walk_message(spec, used, &b, 0, &mut Skip);
                    let what = format!("{} v{v} {:02x?}", spec.name, &b[..b.len().min(400)]);
                    assert_eq!(walked.error, d.error, "{what}");
                    assert_eq!(walked.consumed, d.consumed, "{what}");
                    assert_eq!(walked.version, d.version, "{what}");
                    // A visitor told only of what interests it sees those
                    // fields exactly as one told of every field does.
                    let mut every = Interests::<true>::default();
                    let mut some = Interests::<false>::default();
                    let w1 = walk_message(spec, used, &b, 0, &mut every);
                    let w2 = walk_message(spec, used, &b, 0, &mut some);
                    assert_eq!(w1, w2, "{what}");
                    assert_eq!(every.seen, some.seen, "{what}");
                    let mut out = Vec::new();
                    let opts = JsonOptions::default();
                    write_message(spec, used, &b, 0, &opts, &mut NoSplice, &mut out);
                    let got: Json = serde_json::from_slice(&out).unwrap_or_else(|e| {
                        panic!("{what}: {e}: {}", String::from_utf8_lossy(&out))
                    });
                    // Both through the same text parser (serde_json's
                    // default float parsing is not always exact).
                    let want: Json = serde_json::from_str(&schema::to_json(&d.tree).to_string())
                        .expect("valid JSON");
                    assert_eq!(got, want, "{what}");
                    if let Some(view) = StructView::message(spec, used, &b) {
                        let trailing = d
                            .error
                            .as_ref()
                            .is_some_and(|e| e.kind == schema::DecodeErrorKind::TrailingBytes);
                        assert_eq!(view.is_complete(), d.error.is_none() || trailing, "{what}");
                        same(&view, &d.tree, &what);
                        // The view from the decode's own walk is the same.
                        let (_, root) = schema::view::walk_with_root(spec, used, &b, &mut Skip);
                        let kept = StructView::from_root(spec, used, &b, &root).expect("known");
                        assert_eq!(kept.is_complete(), view.is_complete(), "{what}");
                        assert_eq!(kept.range(), view.range(), "{what}");
                        same(&kept, &d.tree, &what);
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 10_000, "{checked}");
}
