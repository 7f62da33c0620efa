//! RecordBatch, magic 2 (KIP-98; Kafka 0.11 and later).
//!
//! ```text
//! baseOffset:int64 batchLength:int32 partitionLeaderEpoch:int32 magic:int8
//! crc:uint32 attributes:int16 lastOffsetDelta:int32 baseTimestamp:int64
//! maxTimestamp:int64 producerId:int64 producerEpoch:int16 baseSequence:int32
//! recordCount:int32 records...
//! ```
//!
//! `batchLength` counts from `partitionLeaderEpoch` to the end; the CRC-32C
//! covers `attributes` to the end. Attributes: bits 0-2 compression, bit 3
//! timestamp type, bit 4 transactional, bit 5 control, bit 6 delete horizon.
//!
//! A record (all varints zigzag):
//!
//! ```text
//! length:varint attributes:int8 timestampDelta:varlong offsetDelta:varint
//! keyLength:varint key valueLength:varint value
//! headerCount:varint [headerKeyLength:varint headerKey headerValueLength:varint headerValue]...
//! ```
//!
//! A record's `length` bounds its fields: a record whose fields do not fit is
//! reported and skipped, and the next record is read after `length` bytes.

use super::compression::Compression;
use super::{Ctx, Field, IssueKind, Payload, Reader, RecordsMode};

/// Size of the fixed header, up to and including `recordCount`.
pub const HEADER_LEN: usize = 61;
/// Smallest `batchLength`: the header after `baseOffset` and `batchLength`.
pub const MIN_BATCH_LENGTH: i32 = 49;
/// Smallest record: seven one-byte fields.
const MIN_RECORD_LEN: usize = 7;

/// A RecordBatch (magic 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordBatch {
    /// Byte offset in the decoded input.
    pub position: usize,
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    /// The CRC-32C over attributes..end verifies.
    pub crc_valid: bool,
    /// Whether `crc_valid` was computed (see `RecordLimits::verify_crc`).
    pub crc_checked: bool,
    pub attributes: BatchAttributes,
    pub last_offset_delta: i32,
    /// With [`BatchAttributes::has_delete_horizon`], the delete horizon.
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    /// `recordCount` as written.
    pub record_count: i32,
    /// Size of the records area after decompression, for a compressed batch
    /// that was decompressed (in full or up to a limit).
    pub decompressed_size: Option<usize>,
    /// The records decoded (fewer than `record_count` when an issue or a
    /// limit stopped decoding; the issues say which).
    pub records: Vec<Record>,
}

/// The `attributes` of a RecordBatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchAttributes(pub i16);

impl BatchAttributes {
    pub fn compression(self) -> Compression {
        Compression((self.0 & 0x7) as u8)
    }
    pub fn timestamp_type(self) -> TimestampType {
        if self.0 & 0x8 != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
    pub fn is_transactional(self) -> bool {
        self.0 & 0x10 != 0
    }
    pub fn is_control(self) -> bool {
        self.0 & 0x20 != 0
    }
    pub fn has_delete_horizon(self) -> bool {
        self.0 & 0x40 != 0
    }
}

/// Kafka's `TimestampType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampType {
    /// Magic 0 messages have no timestamp.
    NoTimestampType,
    CreateTime,
    LogAppendTime,
}

impl TimestampType {
    /// Kafka's name (`TimestampType.name`).
    pub fn name(self) -> &'static str {
        match self {
            TimestampType::NoTimestampType => "NoTimestampType",
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

/// One record of a RecordBatch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// The record's `length` field: bytes after it.
    pub size: u32,
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    /// `baseOffset + offsetDelta`.
    pub offset: i64,
    /// `baseTimestamp + timestampDelta`; `maxTimestamp` in a LogAppendTime
    /// batch (what the broker reports, as Kafka's `DefaultRecord` does).
    pub timestamp: i64,
    pub key: Payload,
    pub value: Payload,
    /// `headerCount` as written.
    pub header_count: u32,
    /// The headers, in [`super::RecordsMode::Full`] only (and up to
    /// [`super::RecordLimits::max_headers`] per call).
    pub headers: Vec<Header>,
    /// In a control batch, the decoded control record.
    pub control: Option<ControlRecord>,
}

/// A record header: a string key (kept as bytes, possibly not UTF-8) and a
/// nullable byte value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub key: Payload,
    pub value: Payload,
}

/// A control record (the records of a control batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlRecord {
    /// Key `version:int16`.
    pub version: i16,
    /// Key `type:int16`.
    pub kind: ControlType,
    /// For ABORT/COMMIT markers: value `version:int16`.
    pub marker_version: Option<i16>,
    /// For ABORT/COMMIT markers: value `coordinatorEpoch:int32`.
    pub coordinator_epoch: Option<i32>,
}

/// Kafka's `ControlRecordType` id; unknown ids are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ControlType(pub i16);

impl ControlType {
    pub const ABORT: ControlType = ControlType(0);
    pub const COMMIT: ControlType = ControlType(1);
    pub const LEADER_CHANGE: ControlType = ControlType(2);
    pub const SNAPSHOT_HEADER: ControlType = ControlType(3);
    pub const SNAPSHOT_FOOTER: ControlType = ControlType(4);
    pub const KRAFT_VERSION: ControlType = ControlType(5);
    pub const KRAFT_VOTERS: ControlType = ControlType(6);

    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "ABORT",
            1 => "COMMIT",
            2 => "LEADER_CHANGE",
            3 => "SNAPSHOT_HEADER",
            4 => "SNAPSHOT_FOOTER",
            5 => "KRAFT_VERSION",
            6 => "KRAFT_VOTERS",
            _ => "UNKNOWN",
        }
    }
}

fn be<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}

/// Decode one RecordBatch: `entry` is the whole entry (`12 + batchLength`
/// bytes, magic 2 at offset 16) found at `position` in the input.
pub(crate) fn decode_batch(
    ctx: &mut Ctx<'_>,
    entry: &[u8],
    position: usize,
) -> Option<RecordBatch> {
    let batch_length = i32::from_be_bytes(be(entry, 8));
    if batch_length < MIN_BATCH_LENGTH || entry.len() < HEADER_LEN {
        ctx.issue(
            position,
            IssueKind::InvalidBatch,
            format!("batchLength {batch_length} is below the header's {MIN_BATCH_LENGTH}"),
        );
        return None;
    }
    let crc = u32::from_be_bytes(be(entry, 17));
    let crc_checked = ctx.limits.verify_crc;
    let computed = if crc_checked {
        crc32c::crc32c(&entry[21..])
    } else {
        crc
    };
    let crc_valid = crc == computed;
    if !crc_valid {
        ctx.issue(
            position,
            IssueKind::CrcMismatch,
            format!("batch crc {crc:#010x}, computed CRC-32C {computed:#010x}"),
        );
    }
    let mut b = RecordBatch {
        position,
        base_offset: i64::from_be_bytes(be(entry, 0)),
        batch_length,
        partition_leader_epoch: i32::from_be_bytes(be(entry, 12)),
        magic: 2,
        crc,
        crc_valid,
        crc_checked,
        attributes: BatchAttributes(i16::from_be_bytes(be(entry, 21))),
        last_offset_delta: i32::from_be_bytes(be(entry, 23)),
        base_timestamp: i64::from_be_bytes(be(entry, 27)),
        max_timestamp: i64::from_be_bytes(be(entry, 35)),
        producer_id: i64::from_be_bytes(be(entry, 43)),
        producer_epoch: i16::from_be_bytes(be(entry, 51)),
        base_sequence: i32::from_be_bytes(be(entry, 53)),
        record_count: i32::from_be_bytes(be(entry, 57)),
        decompressed_size: None,
        records: Vec::new(),
    };
    if b.record_count < 0 {
        ctx.issue(
            position,
            IssueKind::InvalidBatch,
            format!("negative recordCount {}", b.record_count),
        );
        return Some(b);
    }
    if b.record_count == 0 {
        return Some(b);
    }
    if ctx.records_left == 0 {
        ctx.record_limit(position);
        return Some(b);
    }
    // Meta mode: the header has the counts, sizes, offsets and timestamps;
    // records are read (and decompressed) only in Full mode, and always for
    // a control batch, whose markers (COMMIT/ABORT) matter.
    if ctx.mode == RecordsMode::Meta && !b.attributes.is_control() {
        return Some(b);
    }
    let area = &entry[HEADER_LEN..];
    let codec = b.attributes.compression();
    if codec == Compression::NONE {
        decode_records(ctx, &mut b, area, true);
    } else {
        ctx.batch_decompressed_left = ctx.limits.max_decompressed_bytes;
        let (data, complete) = ctx.decompress(codec, area, position, 0, "batch");
        b.decompressed_size = (complete || !data.is_empty()).then_some(data.len());
        decode_records(ctx, &mut b, &data, complete);
        ctx.give_back(0, data);
    }
    Some(b)
}

/// Decode `b.record_count` records from `data` into `b.records`. When
/// `complete` is false (decompression stopped early, already reported),
/// running out of bytes is not reported again.
fn decode_records(ctx: &mut Ctx<'_>, b: &mut RecordBatch, data: &[u8], complete: bool) {
    let declared = b.record_count as usize;
    let fit = data.len() / MIN_RECORD_LEN;
    b.records
        .reserve(declared.min(fit).min(ctx.records_left).min(1 << 16));
    let mut r = Reader::new(data);
    let mut index = 0usize;
    while index < declared {
        if r.remaining() == 0 {
            if complete {
                ctx.issue(
                    b.position,
                    IssueKind::RecordCountMismatch,
                    format!("recordCount {declared}, the data holds {index}"),
                );
            }
            return;
        }
        if ctx.records_left == 0 {
            ctx.record_limit(b.position);
            return;
        }
        let at = r.pos;
        let len = match r.varint("record length cut short") {
            Ok(l) if l >= 0 => l as usize,
            Ok(l) => {
                ctx.issue(
                    b.position,
                    IssueKind::InvalidRecord,
                    format!(
                        "record {index} at +{at}: negative length {l}; the rest is undecodable"
                    ),
                );
                return;
            }
            Err(e) => {
                if complete {
                    ctx.issue(
                        b.position,
                        IssueKind::InvalidRecord,
                        format!("record {index} at +{at}: {e}"),
                    );
                }
                return;
            }
        };
        let Ok(body) = r.take(len, "") else {
            if complete {
                ctx.issue(
                    b.position,
                    IssueKind::InvalidRecord,
                    format!(
                        "record {index} at +{at}: length {len} exceeds the {} bytes left",
                        r.remaining()
                    ),
                );
            }
            return;
        };
        match decode_record(ctx, b, body, len as u32) {
            Ok(rec) => {
                ctx.records_left -= 1;
                b.records.push(rec);
            }
            Err(e) => ctx.issue(
                b.position,
                IssueKind::InvalidRecord,
                format!("record {index} at +{at}: {e}"),
            ),
        }
        index += 1;
    }
    if r.remaining() > 0 && complete {
        ctx.issue(
            b.position,
            IssueKind::RecordCountMismatch,
            format!(
                "{} bytes after the {declared} records the batch declares",
                r.remaining()
            ),
        );
    }
}

/// A nullable varint-length byte field.
fn bytes_field<'a>(r: &mut Reader<'a>, what: &'static str) -> Field<Option<&'a [u8]>> {
    let len = r.varint(what)?;
    match len {
        -1 => Ok(None),
        l if l < -1 => Err("length below -1"),
        l => Ok(Some(r.take(l as usize, what)?)),
    }
}

fn decode_record(ctx: &mut Ctx<'_>, b: &RecordBatch, body: &[u8], size: u32) -> Field<Record> {
    let mut r = Reader::new(body);
    let attributes = r.i8("attributes beyond the record")?;
    let timestamp_delta = r.varlong("timestampDelta beyond the record")?;
    let offset_delta = r.varint("offsetDelta beyond the record")?;
    let key = bytes_field(&mut r, "key beyond the record")?;
    let value = bytes_field(&mut r, "value beyond the record")?;
    let header_count = r.varint("headerCount beyond the record")?;
    if header_count < 0 {
        return Err("negative headerCount");
    }
    let header_count = header_count as u32;
    let mut headers = Vec::new();
    if ctx.full() {
        // Each header takes at least two bytes.
        headers.reserve(
            (header_count as usize)
                .min(r.remaining() / 2)
                .min(ctx.headers_left),
        );
    }
    for _ in 0..header_count {
        let klen = r.varint("header key beyond the record")?;
        if klen < 0 {
            return Err("negative header key length");
        }
        let hkey = r.take(klen as usize, "header key beyond the record")?;
        let hval = bytes_field(&mut r, "header value beyond the record")?;
        if ctx.full() {
            if ctx.headers_left > 0 {
                ctx.headers_left -= 1;
                headers.push(Header {
                    key: ctx.payload(Some(hkey)),
                    value: ctx.payload(hval),
                });
            } else if !ctx.header_limit_reported {
                ctx.header_limit_reported = true;
                let n = ctx.limits.max_headers;
                ctx.issue(
                    b.position,
                    IssueKind::RecordLimit,
                    format!("max_headers ({n}) reached; later headers are not kept"),
                );
            }
        }
    }
    if r.remaining() > 0 {
        return Err("bytes after the headers, inside the record's length");
    }
    let control = if b.attributes.is_control() {
        decode_control(ctx, b.position, key, value)
    } else {
        None
    };
    let timestamp = match b.attributes.timestamp_type() {
        TimestampType::LogAppendTime => b.max_timestamp,
        _ => b.base_timestamp.wrapping_add(timestamp_delta),
    };
    Ok(Record {
        size,
        attributes,
        timestamp_delta,
        offset_delta,
        offset: b.base_offset.wrapping_add(i64::from(offset_delta)),
        timestamp,
        key: ctx.payload(key),
        value: ctx.payload(value),
        header_count,
        headers,
        control,
    })
}

/// Key: `version:int16 type:int16`; an ABORT/COMMIT value (Kafka's
/// `EndTransactionMarker`): `version:int16 coordinatorEpoch:int32`.
fn decode_control(
    ctx: &mut Ctx<'_>,
    position: usize,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Option<ControlRecord> {
    let Some(key) = key.filter(|k| k.len() >= 4) else {
        ctx.issue(
            position,
            IssueKind::InvalidControlRecord,
            format!(
                "control record key of {} bytes (needs version and type)",
                key.map_or(-1, |k| k.len() as i64)
            ),
        );
        return None;
    };
    let mut c = ControlRecord {
        version: i16::from_be_bytes([key[0], key[1]]),
        kind: ControlType(i16::from_be_bytes([key[2], key[3]])),
        marker_version: None,
        coordinator_epoch: None,
    };
    if c.kind == ControlType::ABORT || c.kind == ControlType::COMMIT {
        match value.filter(|v| v.len() >= 6) {
            Some(v) => {
                c.marker_version = Some(i16::from_be_bytes([v[0], v[1]]));
                c.coordinator_epoch = Some(i32::from_be_bytes([v[2], v[3], v[4], v[5]]));
            }
            None => ctx.issue(
                position,
                IssueKind::InvalidControlRecord,
                format!(
                    "{} marker value of {} bytes (needs version and coordinatorEpoch)",
                    c.kind.name(),
                    value.map_or(-1, |v| v.len() as i64)
                ),
            ),
        }
    }
    Some(c)
}
