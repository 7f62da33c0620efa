//! Unit tests over hand-built batches: every field, every codec and framing,
//! control records, legacy wrappers, truncation at every offset, hostile
//! counts and lengths (with the bytes they make us allocate measured), and
//! decompression bombs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;

use super::compression::{CodecError, decompress};
use super::*;

// ------------------------------------------------------------ allocation

/// Counts the bytes each thread allocates, so a test can measure what
/// decoding a hostile input costs. Tests run on separate threads, so the
/// per-thread count is not disturbed by other tests.
struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

fn count(n: usize) {
    let _ = ALLOCATED.try_with(|a| a.set(a.get().saturating_add(n)));
}

// SAFETY: every call is forwarded to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count(l.size());
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        count(l.size());
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        count(new);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Bytes allocated by this thread while running `f` (a bound on its peak).
fn allocated<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATED.with(|a| a.get());
    let t = f();
    (t, ALLOCATED.with(|a| a.get()) - before)
}

#[test]
fn allocation_counter_counts() {
    let (v, n) = allocated(|| vec![1u8; 1 << 20]);
    assert!(n >= 1 << 20 && v.len() == 1 << 20);
    let ((), n) = allocated(|| ());
    assert_eq!(n, 0);
}

// ------------------------------------------------------------ builders

fn varint(out: &mut Vec<u8>, v: i64) {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let b = (u & 0x7f) as u8;
        u >>= 7;
        if u == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

#[derive(Clone, Default)]
pub(super) struct Rec<'a> {
    pub ts_delta: i64,
    pub off_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<(&'a [u8], Option<&'a [u8]>)>,
}

fn nullable(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => varint(out, -1),
        Some(b) => {
            varint(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

/// A record with its length prefix.
fn record(r: &Rec) -> Vec<u8> {
    let mut body = vec![0u8]; // attributes
    varint(&mut body, r.ts_delta);
    varint(&mut body, i64::from(r.off_delta));
    nullable(&mut body, r.key);
    nullable(&mut body, r.value);
    varint(&mut body, r.headers.len() as i64);
    for (k, v) in &r.headers {
        nullable(&mut body, Some(k));
        nullable(&mut body, *v);
    }
    let mut out = Vec::new();
    varint(&mut out, body.len() as i64);
    out.extend(body);
    out
}

pub(super) fn records(rs: &[Rec]) -> Vec<u8> {
    rs.iter().flat_map(record).collect()
}

struct BatchSpec {
    base_offset: i64,
    attributes: i16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    count: i32,
}

impl Default for BatchSpec {
    fn default() -> Self {
        BatchSpec {
            base_offset: 100,
            attributes: 0,
            last_offset_delta: 0,
            base_timestamp: 1_700_000_000_000,
            max_timestamp: 1_700_000_000_500,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            count: 0,
        }
    }
}

/// A RecordBatch around an already-encoded (maybe compressed) records area.
fn batch(s: &BatchSpec, area: &[u8]) -> Vec<u8> {
    let mut after_crc = Vec::new();
    after_crc.extend(s.attributes.to_be_bytes());
    after_crc.extend(s.last_offset_delta.to_be_bytes());
    after_crc.extend(s.base_timestamp.to_be_bytes());
    after_crc.extend(s.max_timestamp.to_be_bytes());
    after_crc.extend(s.producer_id.to_be_bytes());
    after_crc.extend(s.producer_epoch.to_be_bytes());
    after_crc.extend(s.base_sequence.to_be_bytes());
    after_crc.extend(s.count.to_be_bytes());
    after_crc.extend(area);
    let mut out = Vec::new();
    out.extend(s.base_offset.to_be_bytes());
    out.extend(((9 + after_crc.len()) as i32).to_be_bytes());
    out.extend(7i32.to_be_bytes()); // partitionLeaderEpoch
    out.push(2);
    out.extend(crc32c::crc32c(&after_crc).to_be_bytes());
    out.extend(after_crc);
    out
}

/// A batch of `rs` compressed with `codec`.
fn batch_of(codec: Compression, rs: &[Rec]) -> Vec<u8> {
    let spec = BatchSpec {
        attributes: i16::from(codec.0),
        count: rs.len() as i32,
        last_offset_delta: rs.len() as i32 - 1,
        ..BatchSpec::default()
    };
    batch(&spec, &compress(codec, &records(rs)))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn snappy_raw(data: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(data).unwrap()
}

/// The xerial framing, with blocks of at most `block` input bytes.
fn snappy_xerial(data: &[u8], block: usize) -> Vec<u8> {
    let mut out = b"\x82SNAPPY\x00".to_vec();
    out.extend(1i32.to_be_bytes());
    out.extend(1i32.to_be_bytes());
    for chunk in data.chunks(block) {
        let c = snappy_raw(chunk);
        out.extend((c.len() as i32).to_be_bytes());
        out.extend(c);
    }
    out
}

fn xxh32(d: &[u8]) -> u32 {
    twox_hash::XxHash32::oneshot(0, d)
}

#[derive(Clone, Copy, Default)]
struct Lz4Opts {
    linked: bool,
    block_checksum: bool,
    content_checksum: bool,
    content_size: bool,
    /// Kafka's magic 0 header checksum (hashed from the magic number).
    kafka_v0_hc: bool,
    /// Store blocks uncompressed.
    stored: bool,
    block: usize,
}

fn lz4_frame(data: &[u8], o: Lz4Opts) -> Vec<u8> {
    let mut out = 0x184D_2204u32.to_le_bytes().to_vec();
    let flg = 0x40
        | if o.linked { 0 } else { 0x20 }
        | if o.block_checksum { 0x10 } else { 0 }
        | if o.content_size { 0x08 } else { 0 }
        | if o.content_checksum { 0x04 } else { 0 };
    out.push(flg);
    out.push(0x40); // 64 KiB blocks
    if o.content_size {
        out.extend((data.len() as u64).to_le_bytes());
    }
    let hc_from = if o.kafka_v0_hc { 0 } else { 4 };
    out.push((xxh32(&out[hc_from..]) >> 8) as u8);
    let block = if o.block == 0 { 64 << 10 } else { o.block };
    let mut done: usize = 0;
    for chunk in data.chunks(block) {
        let c = if o.stored {
            chunk.to_vec()
        } else if o.linked && done > 0 {
            let dict = &data[done.saturating_sub(64 << 10)..done];
            lz4_flex::block::compress_with_dict(chunk, dict)
        } else {
            lz4_flex::block::compress(chunk)
        };
        // As real writers do: a block that does not shrink is stored.
        let stored = o.stored || c.len() >= chunk.len();
        let c = if stored { chunk.to_vec() } else { c };
        let size = c.len() as u32 | if stored { 0x8000_0000 } else { 0 };
        out.extend(size.to_le_bytes());
        out.extend(&c);
        if o.block_checksum {
            out.extend(xxh32(&c).to_le_bytes());
        }
        done += chunk.len();
    }
    out.extend(0u32.to_le_bytes());
    if o.content_checksum {
        out.extend(xxh32(data).to_le_bytes());
    }
    out
}

fn zstd(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

pub(super) fn compress(codec: Compression, data: &[u8]) -> Vec<u8> {
    match codec {
        Compression::NONE => data.to_vec(),
        Compression::GZIP => gzip(data),
        Compression::SNAPPY => snappy_raw(data),
        Compression::LZ4 => lz4_frame(data, Lz4Opts::default()),
        Compression::ZSTD => zstd(data),
        _ => unreachable!(),
    }
}

/// A legacy message entry (offset, size, crc, magic, ...).
fn message(
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Vec<u8> {
    let mut m = vec![magic as u8, attributes as u8];
    if magic == 1 {
        m.extend(timestamp.to_be_bytes());
    }
    for f in [key, value] {
        match f {
            None => m.extend((-1i32).to_be_bytes()),
            Some(b) => {
                m.extend((b.len() as i32).to_be_bytes());
                m.extend(b);
            }
        }
    }
    let mut out = offset.to_be_bytes().to_vec();
    out.extend(((m.len() + 4) as i32).to_be_bytes());
    out.extend(crc32fast::hash(&m).to_be_bytes());
    out.extend(m);
    out
}

fn full(bytes: &[u8]) -> RecordSet {
    decode_records(bytes, RecordsMode::Full, &RecordLimits::default())
}

fn v2(set: &RecordSet, i: usize) -> &RecordBatch {
    match &set.batches[i] {
        Batch::V2(b) => b,
        other => panic!("not v2: {other:?}"),
    }
}

fn legacy(set: &RecordSet, i: usize) -> &Message {
    match &set.batches[i] {
        Batch::Legacy(m) => m,
        other => panic!("not legacy: {other:?}"),
    }
}

fn kinds(set: &RecordSet) -> Vec<IssueKind> {
    set.issues.iter().map(|i| i.kind).collect()
}

fn data(p: &Payload) -> Option<&[u8]> {
    p.size.map(|_| &p.data[..])
}

fn three() -> Vec<Rec<'static>> {
    vec![
        Rec {
            ts_delta: 0,
            off_delta: 0,
            key: Some(b"k0"),
            value: Some(b"first value"),
            headers: vec![(b"trace", Some(b"t0")), (b"empty", None)],
        },
        Rec {
            ts_delta: 250,
            off_delta: 1,
            key: None,
            value: Some(b"\xff\xfe binary"),
            headers: vec![],
        },
        Rec {
            ts_delta: 500,
            off_delta: 2,
            key: Some(b"tomb"),
            value: None,
            headers: vec![],
        },
    ]
}

// ------------------------------------------------------------ v2

#[test]
fn v2_uncompressed_fields() {
    let spec = BatchSpec {
        base_offset: 100,
        attributes: 0,
        last_offset_delta: 2,
        producer_id: 4242,
        producer_epoch: 3,
        base_sequence: 17,
        count: 3,
        ..BatchSpec::default()
    };
    let bytes = batch(&spec, &records(&three()));
    let set = full(&bytes);
    assert!(set.issues.is_empty(), "{:?}", set.issues);
    assert_eq!(set.partial_tail_bytes, 0);
    let b = v2(&set, 0);
    assert_eq!(b.position, 0);
    assert_eq!(b.base_offset, 100);
    assert_eq!(b.batch_length as usize, bytes.len() - 12);
    assert_eq!(b.partition_leader_epoch, 7);
    assert!(b.crc_valid);
    assert_eq!(b.attributes.compression(), Compression::NONE);
    assert!(!b.attributes.is_transactional() && !b.attributes.is_control());
    assert_eq!(b.last_offset_delta, 2);
    assert_eq!(
        (b.producer_id, b.producer_epoch, b.base_sequence),
        (4242, 3, 17)
    );
    assert_eq!(b.record_count, 3);
    assert_eq!(b.decompressed_size, None);
    let r = &b.records;
    assert_eq!(r.len(), 3);
    assert_eq!(
        r.iter().map(|r| r.offset).collect::<Vec<_>>(),
        [100, 101, 102]
    );
    assert_eq!(
        r.iter().map(|r| r.timestamp).collect::<Vec<_>>(),
        [1_700_000_000_000, 1_700_000_000_250, 1_700_000_000_500]
    );
    assert_eq!(data(&r[0].key), Some(&b"k0"[..]));
    assert_eq!(data(&r[0].value), Some(&b"first value"[..]));
    assert_eq!(r[0].header_count, 2);
    assert_eq!(data(&r[0].headers[0].key), Some(&b"trace"[..]));
    assert_eq!(data(&r[0].headers[0].value), Some(&b"t0"[..]));
    assert!(r[0].headers[1].value.is_null());
    assert!(r[1].key.is_null());
    assert!(r[2].value.is_null());
    assert_eq!(r[2].value.wire_size(), -1);
    assert!(r.iter().all(|r| r.control.is_none()));

    // JSON, full mode.
    let j = to_json(&set, RecordsMode::Full);
    let jb = &j["batches"][0];
    assert_eq!(jb["baseOffset"], 100);
    assert_eq!(jb["producerId"], 4242);
    assert_eq!(jb["isTransactional"], false);
    assert_eq!(jb["compression"], "none");
    assert_eq!(jb["timestampType"], "CreateTime");
    assert_eq!(jb["crcValid"], true);
    assert_eq!(jb["records"][0]["offset"], 100);
    assert_eq!(jb["records"][0]["key"], serde_json::json!({"text": "k0"}));
    assert_eq!(jb["records"][0]["headers"][0]["key"], "trace");
    assert_eq!(
        jb["records"][0]["headers"][0]["value"],
        serde_json::json!({"text": "t0"})
    );
    assert_eq!(
        jb["records"][0]["headers"][1]["value"],
        serde_json::Value::Null
    );
    assert_eq!(
        jb["records"][1]["value"],
        serde_json::json!({"base64": "//4gYmluYXJ5"})
    );
    assert_eq!(jb["records"][1]["key"], serde_json::Value::Null);
    assert_eq!(jb["records"][2]["valueSize"], -1);
    assert_eq!(j["partialTailBytes"], 0);
    assert!(j.get("issuesOmitted").is_none());
}

#[test]
fn meta_mode_reads_batch_headers_only() {
    // Meta: counts, sizes, offsets and timestamps from the batch header; the
    // records are neither decompressed nor read.
    let bytes = batch_of(Compression::GZIP, &three());
    let set = decode_records(&bytes, RecordsMode::Meta, &RecordLimits::default());
    assert!(set.issues.is_empty());
    let b = v2(&set, 0);
    assert_eq!(b.record_count, 3);
    assert!(b.records.is_empty());
    assert_eq!(b.decompressed_size, None);
    let j = to_json(&set, RecordsMode::Meta);
    let jb = &j["batches"][0];
    assert!(jb.get("records").is_none());
    assert_eq!(jb["recordCount"], 3);
    assert_eq!(jb["compression"], "gzip");
    assert!(jb.get("baseOffset").is_some() && jb.get("maxTimestamp").is_some());
    // Full reads them: sizes without payload limits cut.
    let full = decode_records(&bytes, RecordsMode::Full, &RecordLimits::default());
    let fb = v2(&full, 0);
    assert_eq!(fb.records.len(), 3);
    assert_eq!(fb.decompressed_size, Some(records(&three()).len()));
    assert_eq!(fb.records[0].value.size, Some(11));
    assert_eq!(fb.records[0].header_count, 2);
}

#[test]
fn none_mode_decodes_nothing() {
    let bytes = batch_of(Compression::NONE, &three());
    let set = decode_records(&bytes, RecordsMode::None, &RecordLimits::default());
    assert!(set.batches.is_empty() && set.issues.is_empty() && set.partial_tail_bytes == 0);
    assert_eq!(to_json(&set, RecordsMode::None), serde_json::Value::Null);
    assert_eq!(to_json(&set, RecordsMode::Full), serde_json::Value::Null);
    // A Meta set rendered as Full shows sizes, not empty payloads.
    let meta = decode_records(&bytes, RecordsMode::Meta, &RecordLimits::default());
    let j = to_json(&meta, RecordsMode::Full);
    assert!(j["batches"][0]["records"][0].get("value").is_none());
}

fn many(n: usize) -> Vec<Rec<'static>> {
    (0..n)
        .map(|i| Rec {
            ts_delta: i as i64,
            off_delta: i as i32,
            key: Some(b"key"),
            value: Some(Box::leak(
                format!("value {i} {}", "x".repeat(i % 300))
                    .into_bytes()
                    .into_boxed_slice(),
            )),
            headers: vec![(b"h", Some(b"v"))],
        })
        .collect()
}

fn assert_same_records(b: &RecordBatch, rs: &[Rec]) {
    assert_eq!(b.records.len(), rs.len());
    for (got, want) in b.records.iter().zip(rs) {
        assert_eq!(data(&got.key), want.key);
        assert_eq!(data(&got.value), want.value);
        assert_eq!(got.offset_delta, want.off_delta);
        assert_eq!(got.timestamp_delta, want.ts_delta);
        assert_eq!(got.headers.len(), want.headers.len());
    }
}

#[test]
fn every_codec_byte_exact() {
    let rs = many(2000); // several 64 KiB lz4 blocks, many zstd blocks
    for codec in [
        Compression::NONE,
        Compression::GZIP,
        Compression::SNAPPY,
        Compression::LZ4,
        Compression::ZSTD,
    ] {
        let set = full(&batch_of(codec, &rs));
        assert!(set.issues.is_empty(), "{}: {:?}", codec.name(), set.issues);
        let b = v2(&set, 0);
        assert_eq!(b.attributes.compression(), codec);
        assert_same_records(b, &rs);
    }
}

#[test]
fn snappy_xerial_framing() {
    let rs = many(500);
    let raw = records(&rs);
    for block in [1, 100, 32 << 10, 1 << 20] {
        let spec = BatchSpec {
            attributes: 2,
            count: rs.len() as i32,
            ..BatchSpec::default()
        };
        let set = full(&batch(&spec, &snappy_xerial(&raw, block)));
        assert!(set.issues.is_empty(), "{:?}", set.issues);
        assert_same_records(v2(&set, 0), &rs);
    }
    // Header alone, no blocks: an empty stream.
    let mut out = Vec::new();
    let mut w = Vec::new();
    assert_eq!(
        decompress(
            Compression::SNAPPY,
            &snappy_xerial(b"", 10),
            100,
            &mut out,
            &mut w
        ),
        Ok(())
    );
    assert!(out.is_empty());
    // A block length past the end is corrupt, not a panic.
    let mut bad = snappy_xerial(b"hello hello hello", 100);
    bad[16..20].copy_from_slice(&1000i32.to_be_bytes());
    assert!(matches!(
        decompress(Compression::SNAPPY, &bad, 100, &mut out, &mut w),
        Err(CodecError::Corrupt(_))
    ));
}

#[test]
fn lz4_frame_variants() {
    let rs = many(1500);
    let raw = records(&rs);
    assert!(raw.len() > 3 * (64 << 10));
    let variants = [
        Lz4Opts::default(),
        Lz4Opts {
            linked: true,
            ..Lz4Opts::default()
        },
        Lz4Opts {
            linked: true,
            block: 1000,
            ..Lz4Opts::default()
        },
        Lz4Opts {
            block_checksum: true,
            content_checksum: true,
            content_size: true,
            ..Lz4Opts::default()
        },
        Lz4Opts {
            kafka_v0_hc: true,
            ..Lz4Opts::default()
        },
        Lz4Opts {
            stored: true,
            block: 5000,
            ..Lz4Opts::default()
        },
    ];
    for o in variants {
        let mut out = Vec::new();
        let mut w = Vec::new();
        let frame = lz4_frame(&raw, o);
        assert_eq!(
            decompress(Compression::LZ4, &frame, 64 << 20, &mut out, &mut w),
            Ok(())
        );
        assert!(w.is_empty(), "{w:?}");
        assert!(out == raw);
    }
    // Two frames back to back make one stream.
    let mut two = lz4_frame(&raw[..1000], Lz4Opts::default());
    two.extend(lz4_frame(&raw[1000..], Lz4Opts::default()));
    let (mut out, mut w) = (Vec::new(), Vec::new());
    decompress(Compression::LZ4, &two, 64 << 20, &mut out, &mut w).unwrap();
    assert!(out == raw);
    // Checksums that do not verify are warnings; the data still comes out.
    let mut bad = lz4_frame(
        &raw[..5000],
        Lz4Opts {
            content_checksum: true,
            ..Lz4Opts::default()
        },
    );
    let n = bad.len();
    bad[n - 1] ^= 1;
    bad[6] ^= 0x55; // header checksum
    decompress(Compression::LZ4, &bad, 64 << 20, &mut out, &mut w).unwrap();
    assert_eq!(out, &raw[..5000]);
    assert_eq!(w.len(), 2, "{w:?}");
}

#[test]
fn zstd_frames_and_skippable() {
    let raw = records(&many(300));
    let mut input = zstd(&raw[..100]);
    // A skippable frame between two frames.
    input.extend(0x184D_2A50u32.to_le_bytes());
    input.extend(3u32.to_le_bytes());
    input.extend(b"abc");
    input.extend(zstd(&raw[100..]));
    let (mut out, mut w) = (Vec::new(), Vec::new());
    decompress(Compression::ZSTD, &input, 64 << 20, &mut out, &mut w).unwrap();
    assert!(out == raw);
    assert!(w.is_empty());
    // Cut anywhere: an error, never a panic; never more than the input made.
    for cut in 0..input.len() {
        let _ = decompress(Compression::ZSTD, &input[..cut], 64 << 20, &mut out, &mut w);
        assert!(out.len() <= raw.len());
    }
}

#[test]
fn control_records_commit_and_abort() {
    // A transactional data batch, then COMMIT and ABORT markers.
    let txn = BatchSpec {
        attributes: 0x10,
        producer_id: 9,
        producer_epoch: 1,
        base_sequence: 0,
        count: 1,
        ..BatchSpec::default()
    };
    let mut bytes = batch(
        &txn,
        &records(&[Rec {
            value: Some(b"doomed 0"),
            ..Rec::default()
        }]),
    );
    for (kind, epoch) in [(1i16, 5i32), (0, 6)] {
        let key = [0u8, 0, (kind >> 8) as u8, kind as u8];
        let mut value = 0i16.to_be_bytes().to_vec();
        value.extend(epoch.to_be_bytes());
        let spec = BatchSpec {
            attributes: 0x30,
            base_offset: 101,
            producer_id: 9,
            producer_epoch: 1,
            count: 1,
            ..BatchSpec::default()
        };
        bytes.extend(batch(
            &spec,
            &records(&[Rec {
                key: Some(&key),
                value: Some(&value),
                ..Rec::default()
            }]),
        ));
    }
    let set = full(&bytes);
    assert!(set.issues.is_empty(), "{:?}", set.issues);
    assert!(v2(&set, 0).attributes.is_transactional());
    assert!(v2(&set, 0).records[0].control.is_none());
    let commit = v2(&set, 1);
    assert!(commit.attributes.is_control() && commit.attributes.is_transactional());
    let c = commit.records[0].control.unwrap();
    assert_eq!(c.kind, ControlType::COMMIT);
    assert_eq!(
        (c.version, c.marker_version, c.coordinator_epoch),
        (0, Some(0), Some(5))
    );
    let a = v2(&set, 2).records[0].control.unwrap();
    assert_eq!((a.kind, a.coordinator_epoch), (ControlType::ABORT, Some(6)));
    let j = to_json(&set, RecordsMode::Meta);
    assert_eq!(
        j["batches"][1]["records"][0]["control"],
        serde_json::json!({"version": 0, "type": "COMMIT", "markerVersion": 0, "coordinatorEpoch": 5})
    );
    assert_eq!(j["batches"][2]["records"][0]["control"]["type"], "ABORT");
    assert_eq!(j["batches"][1]["isControl"], true);

    // A control record with a short key is reported.
    let spec = BatchSpec {
        attributes: 0x30,
        count: 1,
        ..BatchSpec::default()
    };
    let set = full(&batch(
        &spec,
        &records(&[Rec {
            key: Some(b"\x00"),
            ..Rec::default()
        }]),
    ));
    assert_eq!(kinds(&set), [IssueKind::InvalidControlRecord]);
}

#[test]
fn log_append_time_and_delete_horizon() {
    let spec = BatchSpec {
        attributes: 0x08 | 0x40,
        count: 3,
        ..BatchSpec::default()
    };
    let set = full(&batch(&spec, &records(&three())));
    let b = v2(&set, 0);
    assert!(b.attributes.has_delete_horizon());
    assert!(b.records.iter().all(|r| r.timestamp == b.max_timestamp));
    let j = to_json(&set, RecordsMode::Meta);
    assert_eq!(j["batches"][0]["timestampType"], "LogAppendTime");
    assert_eq!(j["batches"][0]["hasDeleteHorizon"], true);
}

// ------------------------------------------------------------ legacy

#[test]
fn legacy_v0_and_v1_messages() {
    let mut bytes = message(5, 0, 0, 0, Some(b"k"), Some(b"old 0"));
    bytes.extend(message(6, 1, 0, 1_600_000_000_123, None, Some(b"old 1")));
    bytes.extend(message(7, 1, 0x08, 42, Some(b"k"), None));
    let set = full(&bytes);
    assert!(set.issues.is_empty(), "{:?}", set.issues);
    let m0 = legacy(&set, 0);
    assert_eq!((m0.offset, m0.magic, m0.timestamp), (5, 0, None));
    assert!(m0.crc_valid);
    assert_eq!(data(&m0.value), Some(&b"old 0"[..]));
    let m1 = legacy(&set, 1);
    assert_eq!(m1.timestamp, Some(1_600_000_000_123));
    assert!(m1.key.is_null());
    assert_eq!(set.batches[1].position(), 32);
    let j = to_json(&set, RecordsMode::Full);
    assert_eq!(j["batches"][0]["timestampType"], "NoTimestampType");
    assert_eq!(j["batches"][1]["timestampType"], "CreateTime");
    assert_eq!(j["batches"][2]["timestampType"], "LogAppendTime");
    assert_eq!(
        j["batches"][1]["value"],
        serde_json::json!({"text": "old 1"})
    );
    assert_eq!(j["batches"][2]["valueSize"], -1);
    assert!(j["batches"][0].get("timestamp").is_none());
}

/// A v1 wrapper of `n` inner messages with relative offsets 0..n.
fn v1_wrapper(codec: Compression, wrapper_offset: i64, n: usize, attributes_extra: i8) -> Vec<u8> {
    let inner: Vec<u8> = (0..n)
        .flat_map(|i| {
            message(
                i as i64,
                1,
                0,
                1000 + i as i64,
                Some(b"k"),
                Some(format!("inner {i}").as_bytes()),
            )
        })
        .collect();
    let value = match codec {
        Compression::LZ4 => lz4_frame(&inner, Lz4Opts::default()),
        Compression::SNAPPY => snappy_xerial(&inner, 64),
        c => compress(c, &inner),
    };
    message(
        wrapper_offset,
        1,
        codec.0 as i8 | attributes_extra,
        9999,
        None,
        Some(&value),
    )
}

#[test]
fn legacy_compressed_wrappers() {
    for codec in [Compression::GZIP, Compression::SNAPPY, Compression::LZ4] {
        let set = full(&v1_wrapper(codec, 41, 3, 0));
        assert!(set.issues.is_empty(), "{}: {:?}", codec.name(), set.issues);
        let w = legacy(&set, 0);
        assert_eq!(w.compression(), codec);
        assert!(w.value.data.is_empty());
        let inner = &w.messages;
        assert_eq!(inner.len(), 3);
        // Absolute offsets: the wrapper's offset is the last inner's.
        assert_eq!(
            inner.iter().map(|m| m.offset).collect::<Vec<_>>(),
            [39, 40, 41]
        );
        assert_eq!(inner[2].wire_offset, 2);
        assert_eq!(data(&inner[1].value), Some(&b"inner 1"[..]));
        assert_eq!(inner[1].timestamp, Some(1001));
        let j = to_json(&set, RecordsMode::Full);
        assert_eq!(j["batches"][0]["messages"][1]["offset"], 40);
        assert_eq!(j["batches"][0]["messages"][1]["wireOffset"], 1);
        assert!(j["batches"][0].get("value").is_none());
    }
    // LogAppendTime wrapper: its timestamp applies to the inner messages.
    let set = full(&v1_wrapper(Compression::GZIP, 2, 3, 0x08));
    assert!(
        legacy(&set, 0)
            .messages
            .iter()
            .all(|m| m.timestamp == Some(9999))
    );
}

#[test]
fn legacy_v0_lz4_with_kafkas_broken_header_checksum() {
    let inner: Vec<u8> = (0..4)
        .flat_map(|i| message(i, 0, 0, 0, None, Some(format!("v0 {i}").as_bytes())))
        .collect();
    let frame = lz4_frame(
        &inner,
        Lz4Opts {
            kafka_v0_hc: true,
            ..Lz4Opts::default()
        },
    );
    let set = full(&message(3, 0, 3, 0, None, Some(&frame)));
    assert!(set.issues.is_empty(), "{:?}", set.issues);
    let w = legacy(&set, 0);
    // Magic 0 inner offsets are absolute already.
    assert_eq!(
        w.messages.iter().map(|m| m.offset).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    assert_eq!(data(&w.messages[3].value), Some(&b"v0 3"[..]));
}

#[test]
fn legacy_nesting_is_bounded() {
    // gzip(gzip(gzip(message))) : three levels of wrappers.
    let mut m = message(0, 1, 0, 0, None, Some(b"deep"));
    for _ in 0..3 {
        m = message(0, 1, 1, 0, None, Some(&gzip(&m)));
    }
    let set = full(&m);
    assert_eq!(kinds(&set), [IssueKind::NestingTooDeep]);
    let w = legacy(&set, 0);
    assert_eq!(w.messages[0].messages.len(), 1);
    assert!(w.messages[0].messages[0].messages.is_empty());
    let limits = RecordLimits {
        max_nesting: 3,
        ..RecordLimits::default()
    };
    let set = decode_records(&m, RecordsMode::Full, &limits);
    assert!(set.issues.is_empty());
    let deep = &legacy(&set, 0).messages[0].messages[0].messages[0];
    assert_eq!(data(&deep.value), Some(&b"deep"[..]));
}

// ------------------------------------------------------------ damage

/// A mixed input: v2 plain, v2 zstd, legacy v1 gzip wrapper, legacy v0.
fn mixed() -> (Vec<u8>, Vec<usize>) {
    let parts = [
        batch_of(Compression::NONE, &three()),
        batch_of(Compression::ZSTD, &three()),
        v1_wrapper(Compression::GZIP, 10, 2, 0),
        message(11, 0, 0, 0, None, Some(b"last")),
    ];
    let mut ends = Vec::new();
    let mut bytes = Vec::new();
    for p in parts {
        bytes.extend(p);
        ends.push(bytes.len());
    }
    (bytes, ends)
}

#[test]
fn truncation_at_every_offset_is_a_partial_tail() {
    let (bytes, ends) = mixed();
    let whole = full(&bytes);
    assert!(whole.issues.is_empty());
    assert_eq!(whole.batches.len(), 4);
    for cut in 0..=bytes.len() {
        for mode in [RecordsMode::Meta, RecordsMode::Full] {
            let set = decode_records(&bytes[..cut], mode, &RecordLimits::default());
            assert!(set.issues.is_empty(), "cut {cut}: {:?}", set.issues);
            let complete = ends.iter().filter(|&&e| e <= cut).count();
            assert_eq!(set.batches.len(), complete, "cut {cut}");
            let consumed = if complete == 0 { 0 } else { ends[complete - 1] };
            assert_eq!(set.partial_tail_bytes, cut - consumed, "cut {cut}");
            if mode == RecordsMode::Full {
                assert_eq!(set.batches[..], whole.batches[..complete]);
            }
        }
    }
}

#[test]
fn every_byte_flipped_never_panics() {
    let (bytes, _) = mixed();
    let mut lz4 = batch(
        &BatchSpec {
            attributes: 3,
            count: 3,
            ..BatchSpec::default()
        },
        &lz4_frame(
            &records(&three()),
            Lz4Opts {
                linked: true,
                block_checksum: true,
                content_checksum: true,
                ..Lz4Opts::default()
            },
        ),
    );
    lz4.extend(batch_of(Compression::SNAPPY, &three()));
    for input in [bytes, lz4] {
        for i in 0..input.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = input.clone();
                b[i] ^= flip;
                let set = full(&b);
                let _ = to_json(&set, RecordsMode::Full);
            }
        }
    }
}

#[test]
fn corrupt_batch_is_reported_and_decoding_goes_on() {
    let good = batch_of(Compression::NONE, &three());
    // CRC mismatch: reported, still decoded.
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 3] ^= 0x20; // inside the last record's key
    let mut bytes = bad.clone();
    bytes.extend(&good);
    let set = full(&bytes);
    assert_eq!(kinds(&set), [IssueKind::CrcMismatch]);
    assert_eq!(set.issues[0].position, 0);
    assert!(!v2(&set, 0).crc_valid && v2(&set, 1).crc_valid);
    assert_eq!(v2(&set, 0).records.len(), 3);

    // A batchLength too small for the header: skipped by its length.
    let mut short = 0i64.to_be_bytes().to_vec();
    short.extend(20i32.to_be_bytes());
    short.extend([0u8; 4]);
    short.push(2);
    short.extend([0u8; 15]);
    let mut bytes = short.clone();
    bytes.extend(&good);
    let set = full(&bytes);
    assert_eq!(kinds(&set), [IssueKind::InvalidBatch]);
    assert_eq!(set.batches.len(), 1);
    assert_eq!(set.batches[0].position(), 32);

    // An unknown magic: skipped by its length.
    let mut unknown = good.clone();
    unknown[16] = 3;
    unknown.extend(&good);
    let set = full(&unknown);
    assert_eq!(kinds(&set), [IssueKind::UnknownMagic]);
    assert_eq!(set.batches.len(), 1);

    // A negative length: nothing after it can be framed.
    let mut neg = good.clone();
    neg.extend(0i64.to_be_bytes());
    neg.extend((-5i32).to_be_bytes());
    neg.extend([0u8; 40]);
    let set = full(&neg);
    assert_eq!(kinds(&set), [IssueKind::InvalidBatch]);
    assert_eq!(set.batches.len(), 1);
    assert_eq!(set.partial_tail_bytes, 0);

    // A corrupt compressed area: reported, the next batch decodes.
    let mut gz = batch_of(Compression::GZIP, &three());
    let n = gz.len();
    gz[n - 12] ^= 0xff;
    gz.extend(&good);
    let set = full(&gz);
    assert!(
        kinds(&set).contains(&IssueKind::Decompression),
        "{:?}",
        set.issues
    );
    assert_eq!(set.batches.len(), 2);
    assert_eq!(v2(&set, 1).records.len(), 3);
}

#[test]
fn record_count_mismatches() {
    let area = records(&three());
    // Declares 5, holds 3.
    let set = full(&batch(
        &BatchSpec {
            count: 5,
            ..BatchSpec::default()
        },
        &area,
    ));
    assert_eq!(kinds(&set), [IssueKind::RecordCountMismatch]);
    assert_eq!(v2(&set, 0).records.len(), 3);
    // Declares 2, holds 3: the extra bytes are reported.
    let set = full(&batch(
        &BatchSpec {
            count: 2,
            ..BatchSpec::default()
        },
        &area,
    ));
    assert_eq!(kinds(&set), [IssueKind::RecordCountMismatch]);
    assert_eq!(v2(&set, 0).records.len(), 2);
    // A record whose length leaves a byte after its fields: reported, and
    // the next record, framed by that length, decodes.
    let mut area = record(&three()[0]);
    assert!(area[0] < 0x7e); // a one-byte length
    area[0] += 2; // zigzag: one more byte
    area.push(0);
    area.extend(record(&three()[1]));
    let set = full(&batch(
        &BatchSpec {
            count: 2,
            ..BatchSpec::default()
        },
        &area,
    ));
    assert_eq!(kinds(&set), [IssueKind::InvalidRecord]);
    assert_eq!(v2(&set, 0).records.len(), 1);
    assert_eq!(v2(&set, 0).records[0].offset_delta, 1);
}

// ------------------------------------------------------------ hostile sizes

/// Batch with `count` records declared over `area`.
fn declared(count: i32, area: &[u8]) -> Vec<u8> {
    batch(
        &BatchSpec {
            count,
            ..BatchSpec::default()
        },
        area,
    )
}

#[test]
fn huge_counts_and_lengths_allocate_little() {
    let small = 64 << 10;
    // recordCount 2^31-1 over three records.
    let input = declared(i32::MAX, &records(&three()));
    let (set, n) = allocated(|| full(&input));
    assert_eq!(v2(&set, 0).records.len(), 3);
    assert!(n < small, "{n} bytes allocated");

    // A headerCount of 2^31-1 in a tiny record.
    let mut body = vec![0u8, 0, 0, 2, b'k', 2, b'v'];
    varint(&mut body, i64::from(i32::MAX));
    let mut area = Vec::new();
    varint(&mut area, body.len() as i64);
    area.extend(&body);
    let input = declared(1, &area);
    let (set, n) = allocated(|| full(&input));
    assert_eq!(kinds(&set), [IssueKind::InvalidRecord]);
    assert!(n < small, "{n} bytes allocated");

    // A key length of 2 GiB - 1.
    let mut body = vec![0u8, 0, 0];
    varint(&mut body, i64::from(i32::MAX));
    body.extend(b"short");
    let mut area = Vec::new();
    varint(&mut area, body.len() as i64);
    area.extend(&body);
    let input = declared(1, &area);
    let (set, n) = allocated(|| full(&input));
    assert_eq!(kinds(&set), [IssueKind::InvalidRecord]);
    assert!(n < small, "{n} bytes allocated");

    // A record length of 2 GiB - 1.
    let mut area = Vec::new();
    varint(&mut area, i64::from(i32::MAX));
    area.extend([0u8; 10]);
    let (set, n) = allocated(|| full(&declared(1, &area)));
    assert_eq!(kinds(&set), [IssueKind::InvalidRecord]);
    assert!(n < small, "{n} bytes allocated");

    // A batchLength of 2 GiB - 1: a partial tail, not an allocation.
    let mut input = batch_of(Compression::NONE, &three());
    input[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    let (set, n) = allocated(|| full(&input));
    assert_eq!(set.partial_tail_bytes, input.len());
    assert!(set.batches.is_empty() && set.issues.is_empty());
    assert!(n < small, "{n} bytes allocated");

    // Legacy key and value lengths of 2 GiB - 1.
    let mut m = message(0, 1, 0, 0, Some(b"k"), Some(b"v"));
    m[26..30].copy_from_slice(&i32::MAX.to_be_bytes());
    let (set, n) = allocated(|| full(&m));
    assert!(kinds(&set).contains(&IssueKind::InvalidRecord));
    assert!(n < small, "{n} bytes allocated");
}

#[test]
fn declared_sizes_inside_codecs_allocate_little() {
    let small = 256 << 10;
    let (mut out, mut w) = (Vec::new(), Vec::new());
    // A snappy block declaring 4 GiB - 1.
    let mut sn = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
    sn.extend([0u8; 8]);
    let (r, n) = allocated(|| decompress(Compression::SNAPPY, &sn, 64 << 20, &mut out, &mut w));
    assert!(matches!(r, Err(CodecError::Corrupt(_))));
    assert!(n < small, "{n}");
    // An lz4 frame declaring 4 MiB blocks, with a tiny block.
    let mut lz = lz4_frame(b"hello hello hello hello", Lz4Opts::default());
    lz[5] = 0x70;
    lz[6] = (xxh32(&lz[4..6]) >> 8) as u8;
    let (r, n) = allocated(|| decompress(Compression::LZ4, &lz, 64 << 20, &mut out, &mut w));
    assert_eq!(r, Ok(()));
    assert!(n < small, "{n}");
    // A zstd frame declaring a huge window and content size.
    let mut zs = 0xFD2F_B528u32.to_le_bytes().to_vec();
    zs.push(0xC0); // FCS 8 bytes, no single segment
    zs.push(0xF8); // window descriptor: exponent 31
    zs.extend(u64::MAX.to_le_bytes());
    zs.extend([1, 0, 0]); // a raw last block of 0 bytes
    let (_, n) = allocated(|| decompress(Compression::ZSTD, &zs, 64 << 20, &mut out, &mut w));
    assert!(n < small, "{n}");
}

#[test]
fn decompression_bombs_stop_at_the_limit() {
    let zeros = vec![0u8; 8 << 20];
    let limit = 1 << 20;
    let bombs = [
        (Compression::GZIP, gzip(&zeros)),
        (Compression::SNAPPY, snappy_raw(&zeros)),
        (Compression::SNAPPY, snappy_xerial(&zeros, 32 << 10)),
        (Compression::LZ4, lz4_frame(&zeros, Lz4Opts::default())),
        (
            Compression::LZ4,
            lz4_frame(
                &zeros,
                Lz4Opts {
                    linked: true,
                    ..Lz4Opts::default()
                },
            ),
        ),
        (Compression::ZSTD, zstd(&zeros)),
    ];
    for (codec, input) in &bombs {
        let (mut out, mut w) = (Vec::new(), Vec::new());
        let (r, n) = allocated(|| decompress(*codec, input, limit, &mut out, &mut w));
        assert_eq!(
            r,
            Err(CodecError::LimitExceeded { limit }),
            "{}",
            codec.name()
        );
        assert!(out.len() <= limit && out.iter().all(|&b| b == 0));
        // Never much more than the limit in all (buffers grow to it once).
        assert!(n < 4 * limit + input.len(), "{}: {n}", codec.name());
    }

    // In a batch: the records before the cut decode; one issue says why.
    let rs = many(3000);
    let input = batch_of(Compression::ZSTD, &rs);
    let limits = RecordLimits {
        max_decompressed_bytes: 100_000,
        ..RecordLimits::default()
    };
    let set = decode_records(&input, RecordsMode::Full, &limits);
    assert_eq!(kinds(&set), [IssueKind::DecompressedLimit]);
    let b = v2(&set, 0);
    assert!(!b.records.is_empty() && b.records.len() < rs.len());
    assert_eq!(b.decompressed_size, Some(100_000));
    assert_same_records(b, &rs[..b.records.len()]);

    // The per-call total: the second batch is cut, reported once.
    let mut two = batch_of(Compression::GZIP, &rs);
    two.extend(batch_of(Compression::GZIP, &rs));
    two.extend(batch_of(Compression::GZIP, &rs));
    let raw_len = records(&rs).len();
    let limits = RecordLimits {
        max_total_decompressed_bytes: raw_len + 10,
        ..RecordLimits::default()
    };
    let set = decode_records(&two, RecordsMode::Full, &limits);
    assert_eq!(kinds(&set), [IssueKind::DecompressedLimit]);
    assert_eq!(v2(&set, 0).records.len(), rs.len());
    assert!(v2(&set, 1).records.is_empty() && v2(&set, 2).records.is_empty());
}

// ------------------------------------------------------------ limits, payloads

#[test]
fn record_header_and_issue_limits() {
    let rs = many(50);
    let mut input = batch_of(Compression::NONE, &rs);
    input.extend(batch_of(Compression::LZ4, &rs));
    let limits = RecordLimits {
        max_records: 60,
        max_headers: 5,
        ..RecordLimits::default()
    };
    let set = decode_records(&input, RecordsMode::Full, &limits);
    assert_eq!(
        kinds(&set),
        [IssueKind::RecordLimit, IssueKind::RecordLimit]
    );
    assert_eq!(v2(&set, 0).records.len(), 50);
    assert_eq!(v2(&set, 1).records.len(), 10);
    let headers: usize = set
        .batches
        .iter()
        .map(|b| match b {
            Batch::V2(b) => b.records.iter().map(|r| r.headers.len()).sum::<usize>(),
            _ => 0,
        })
        .sum();
    assert_eq!(headers, 5);
    assert_eq!(v2(&set, 1).records[9].header_count, 1);

    // Issues beyond max_issues are counted.
    let mut bad = Vec::new();
    for _ in 0..10 {
        let mut b = batch_of(Compression::NONE, &three());
        b[20] ^= 1;
        bad.extend(b);
    }
    let limits = RecordLimits {
        max_issues: 4,
        ..RecordLimits::default()
    };
    let set = decode_records(&bad, RecordsMode::Meta, &limits);
    assert_eq!((set.issues.len(), set.issues_omitted), (4, 6));
    assert_eq!(to_json(&set, RecordsMode::Meta)["issuesOmitted"], 6);
}

#[test]
fn payloads_are_capped_and_rendered() {
    // 1201 bytes: the cut at 1024 splits an "é" in two.
    let odd = format!("x{}", "é".repeat(600));
    let bin = vec![0xffu8; 2000];
    let rs = [
        Rec {
            value: Some(odd.as_bytes()),
            key: Some(&bin),
            headers: vec![(odd.as_bytes(), Some(&bin))],
            ..Rec::default()
        },
        Rec {
            value: Some(b""),
            ..Rec::default()
        },
    ];
    let set = full(&batch_of(Compression::NONE, &rs));
    let r = &v2(&set, 0).records[0];
    assert_eq!(r.value.size, Some(1201));
    assert_eq!(r.value.data.len(), 1024);
    assert!(r.value.truncated && r.key.truncated && r.headers[0].value.truncated);
    let j = to_json(&set, RecordsMode::Full);
    let rj = &j["batches"][0]["records"][0];
    let text = rj["value"]["text"].as_str().unwrap();
    assert!(odd.starts_with(text) && text.len() == 1023);
    assert_eq!(rj["value"]["truncated"], true);
    assert_eq!(rj["key"]["base64"].as_str().unwrap().len(), 1368); // 1024 bytes
    assert_eq!(rj["key"]["truncated"], true);
    assert_eq!(rj["headers"][0]["keyTruncated"], true);
    assert_eq!(rj["valueSize"], 1201);
    let empty = &j["batches"][0]["records"][1]["value"];
    assert_eq!(empty, &serde_json::json!({"text": ""}));

    // The helper on its own.
    assert_eq!(
        payload_json(b"abc", false),
        serde_json::json!({"text": "abc"})
    );
    assert_eq!(
        payload_json(b"\x00\xff", false),
        serde_json::json!({"base64": "AP8="})
    );
    // Invalid UTF-8 in the middle stays base64 even when truncated.
    assert_eq!(
        payload_json(b"a\xffb\xc3", true),
        serde_json::json!({"base64": "Yf9iww==", "truncated": true})
    );
    assert_eq!(
        payload_json(b"ab\xc3", true),
        serde_json::json!({"text": "ab", "truncated": true})
    );
    // Not truncated: a dangling lead byte is not text.
    assert_eq!(
        payload_json(b"ab\xc3", false),
        serde_json::json!({"base64": "YWLD"})
    );
}

#[test]
fn empty_and_tiny_inputs() {
    for n in 0..20 {
        let set = full(&vec![0u8; n]);
        let _ = to_json(&set, RecordsMode::Full);
        assert!(set.batches.is_empty());
    }
    assert_eq!(full(&[]).batches.len(), 0);
    assert_eq!(full(&[1, 2, 3]).partial_tail_bytes, 3);
}
