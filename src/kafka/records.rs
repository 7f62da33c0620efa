//! Record data: the `records` field of Produce requests and Fetch responses.
//!
//! [`decode_records`] is a pure function over the bytes of one `records`
//! field. Those bytes are a sequence of entries, each `offset:int64
//! length:int32` followed by `length` bytes, with the magic byte at entry
//! offset 16 in every format:
//!
//! * magic 2: a RecordBatch (KIP-98): a 61-byte header (base offset, producer
//!   id/epoch, base sequence, attributes, timestamps, a CRC-32C over
//!   everything after the CRC field, the record count) and the records, the
//!   whole records area compressed when the attributes say so ([`v2`]);
//! * magic 0/1: a legacy message (CRC-32, attributes, v1's timestamp, key,
//!   value); a compressed *wrapper* message's value is a nested message set,
//!   decoded recursively to a bounded depth ([`legacy`]).
//!
//! Contract:
//! * **No panic**, whatever the bytes.
//! * **Three outcomes per entry** (style point 7): decoded, incomplete, or
//!   corrupt. An entry cut short by the end of the input is not an error:
//!   Kafka brokers end Fetch responses with a partial batch when the fetch
//!   size cuts one, so the remaining bytes are counted in
//!   [`RecordSet::partial_tail_bytes`] and decoding stops. A corrupt entry is
//!   reported as a [`RecordIssue`] with its byte position and reason, and
//!   decoding goes on with the next entry whenever the entry's length field
//!   still tells where that is. A CRC that does not verify is reported, and the
//!   batch is still decoded (the fields are shown for what they are worth).
//! * **Bounded memory** (style point 6): nothing is allocated from a count or
//!   length read off the wire. Vectors are pre-sized at most to what the
//!   remaining bytes could hold; decompression produces at most
//!   [`RecordLimits::max_decompressed_bytes`] per top-level entry (nested
//!   message sets included) and [`RecordLimits::max_total_decompressed_bytes`]
//!   per message (its `records` fields share a [`RecordBudget`]); the
//!   records and headers kept are capped per message, the issues per call, and
//!   payload bytes are copied only in [`RecordsMode::Full`], at most
//!   [`RecordLimits::max_payload_bytes`] per key, value or header. A limit that
//!   is reached is reported once as an issue, never silently.
//! * The result owns its data; the input is not borrowed.
//!
//! [`to_json`] renders a [`RecordSet`]; the format is specified there.

pub mod compression;
mod json;
pub mod legacy;
pub mod v2;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod tests;

pub use compression::Compression;
pub use json::{payload_json, to_json, write_json};
pub use legacy::Message;
pub use v2::{BatchAttributes, ControlRecord, ControlType, Header, Record, RecordBatch};

/// How deep to decode records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecordsMode {
    /// Do not decode: [`decode_records`] returns an empty set at once and
    /// [`to_json`] gives `null`.
    None,
    /// RecordBatch headers only (counts, sizes, offsets and timestamps are
    /// in the header): records are neither decompressed nor read, except a
    /// control batch's (its COMMIT/ABORT markers). A legacy (magic 0/1)
    /// message set is read message by message, compressed wrappers
    /// decompressed; payloads are not copied.
    #[default]
    Meta,
    /// Everything in `Meta`, plus keys, values and headers, each cut at
    /// [`RecordLimits::max_payload_bytes`].
    Full,
}

/// Bounds on the work and memory of one [`decode_records`] call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordLimits {
    /// Most bytes decompression may produce for one top-level entry (a
    /// RecordBatch, or a legacy wrapper with all its nested sets).
    pub max_decompressed_bytes: usize,
    /// Most bytes decompression may produce for one message, over all its
    /// `records` fields and entries (see [`RecordBudget`]).
    pub max_total_decompressed_bytes: usize,
    /// Most records kept per message (v2 records and messages from nested
    /// legacy sets, over all its `records` fields); decoding of records
    /// stops when it is reached.
    pub max_records: usize,
    /// Most record headers kept per message ([`RecordsMode::Full`] only).
    pub max_headers: usize,
    /// Most bytes kept of each key, value, header key and header value
    /// ([`RecordsMode::Full`] only); longer ones are cut and flagged.
    pub max_payload_bytes: usize,
    /// Most issues kept per call; later ones are only counted.
    pub max_issues: usize,
    /// How many levels of message sets nested in compressed legacy wrapper
    /// messages are decoded (Kafka writes one); deeper ones are reported.
    pub max_nesting: usize,
    /// Check each RecordBatch's CRC-32C (it costs a pass over the batch;
    /// the command line checks it unless `--records none`).
    pub verify_crc: bool,
}

impl Default for RecordLimits {
    fn default() -> Self {
        RecordLimits {
            max_decompressed_bytes: 64 << 20,
            max_total_decompressed_bytes: 1 << 30,
            max_records: 100_000,
            max_headers: 100_000,
            max_payload_bytes: 1024,
            max_issues: 256,
            max_nesting: 2,
            verify_crc: true,
        }
    }
}

/// One entry of a `records` field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Batch {
    /// Magic 2.
    V2(RecordBatch),
    /// Magic 0 or 1: a message, possibly a compressed wrapper.
    Legacy(Message),
}

impl Batch {
    /// Byte offset of the entry in the decoded input.
    pub fn position(&self) -> usize {
        match self {
            Batch::V2(b) => b.position,
            Batch::Legacy(m) => m.position,
        }
    }

    pub fn magic(&self) -> i8 {
        match self {
            Batch::V2(b) => b.magic,
            Batch::Legacy(m) => m.magic,
        }
    }
}

/// What [`decode_records`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordSet {
    /// The mode it was decoded in (payload bytes exist only in `Full`).
    pub mode: RecordsMode,
    pub batches: Vec<Batch>,
    /// Bytes at the end that start an entry the input cuts short (normal at
    /// the end of a Fetch response); they start at `len - partial_tail_bytes`.
    pub partial_tail_bytes: usize,
    pub issues: Vec<RecordIssue>,
    /// Issues beyond [`RecordLimits::max_issues`], counted only.
    pub issues_omitted: usize,
}

/// Something wrong in the records, found while decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordIssue {
    /// Byte offset in the input of the top-level entry concerned (for a
    /// nested message, of its outermost wrapper; `detail` says where inside).
    pub position: usize,
    pub kind: IssueKind,
    pub detail: String,
}

/// Kinds of [`RecordIssue`] (style point 9: anomalies are data).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IssueKind {
    /// The entry's CRC (CRC-32C for magic 2, CRC-32 for 0/1) does not verify.
    CrcMismatch,
    /// The entry's header cannot be right (length too small or negative,
    /// negative record count); when the length is unusable, decoding stops.
    InvalidBatch,
    /// A magic byte other than 0, 1 or 2; the entry is skipped.
    UnknownMagic,
    /// The compressed data is corrupt, truncated or of an unknown codec.
    Decompression,
    /// A codec-level finding that does not stop decoding (a checksum inside
    /// the compressed stream, bytes after its end).
    CodecWarning,
    /// Decompression stopped at [`RecordLimits::max_decompressed_bytes`] or
    /// [`RecordLimits::max_total_decompressed_bytes`].
    DecompressedLimit,
    /// A record or message whose fields cannot be right.
    InvalidRecord,
    /// Fewer or more records than the batch declares, or bytes after them.
    RecordCountMismatch,
    /// [`RecordLimits::max_records`] or [`RecordLimits::max_headers`] reached.
    RecordLimit,
    /// A compressed message nested deeper than [`RecordLimits::max_nesting`].
    NestingTooDeep,
    /// A control record whose key or value is not a known control layout.
    InvalidControlRecord,
}

impl IssueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueKind::CrcMismatch => "crc_mismatch",
            IssueKind::InvalidBatch => "invalid_batch",
            IssueKind::UnknownMagic => "unknown_magic",
            IssueKind::Decompression => "decompression",
            IssueKind::CodecWarning => "codec_warning",
            IssueKind::DecompressedLimit => "decompressed_limit",
            IssueKind::InvalidRecord => "invalid_record",
            IssueKind::RecordCountMismatch => "record_count_mismatch",
            IssueKind::RecordLimit => "record_limit",
            IssueKind::NestingTooDeep => "nesting_too_deep",
            IssueKind::InvalidControlRecord => "invalid_control_record",
        }
    }
}

/// A key, value, header key or header value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Payload {
    /// Size on the wire; `None` for null (size -1).
    pub size: Option<u32>,
    /// In [`RecordsMode::Full`], the first `min(size, max_payload_bytes)`
    /// bytes; empty in `Meta` mode.
    pub data: Vec<u8>,
    /// `data` is shorter than `size` because of `max_payload_bytes`.
    pub truncated: bool,
}

impl Payload {
    pub fn null() -> Payload {
        Payload::default()
    }

    pub fn is_null(&self) -> bool {
        self.size.is_none()
    }

    /// The size as Kafka writes it: -1 for null.
    pub fn wire_size(&self) -> i64 {
        self.size.map_or(-1, i64::from)
    }
}

/// Decode the bytes of a `records` field. See the module doc for the
/// contract.
pub fn decode_records(bytes: &[u8], mode: RecordsMode, limits: &RecordLimits) -> RecordSet {
    decode_records_within(bytes, mode, limits, &mut RecordBudget::new(limits))
}

/// What the records of one message may still take: its `records` fields
/// (one per partition in Produce and Fetch) share
/// [`RecordLimits::max_records`], [`RecordLimits::max_headers`] and
/// [`RecordLimits::max_total_decompressed_bytes`], so that a message of many
/// partitions costs no more than one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordBudget {
    pub records: usize,
    pub headers: usize,
    pub decompressed_bytes: usize,
}

impl RecordBudget {
    pub fn new(limits: &RecordLimits) -> Self {
        RecordBudget {
            records: limits.max_records,
            headers: limits.max_headers,
            decompressed_bytes: limits.max_total_decompressed_bytes,
        }
    }
}

/// [`decode_records`] within what is left of a message's `budget`, which it
/// spends.
pub fn decode_records_within(
    bytes: &[u8],
    mode: RecordsMode,
    limits: &RecordLimits,
    budget: &mut RecordBudget,
) -> RecordSet {
    let mut set = RecordSet {
        mode,
        ..RecordSet::default()
    };
    if mode == RecordsMode::None {
        return set;
    }
    let mut ctx = Ctx::new(mode, limits);
    ctx.records_left = ctx.records_left.min(budget.records);
    ctx.headers_left = ctx.headers_left.min(budget.headers);
    ctx.total_decompressed_left = ctx.total_decompressed_left.min(budget.decompressed_bytes);
    let mut pos = 0;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let Some(length) = be_i32(rest, 8) else {
            set.partial_tail_bytes = rest.len();
            break;
        };
        if length < 0 {
            ctx.issue(
                pos,
                IssueKind::InvalidBatch,
                format!(
                    "negative length {length}; {} bytes left undecoded",
                    rest.len()
                ),
            );
            break;
        }
        let total = 12 + length as usize;
        if rest.len() < total {
            set.partial_tail_bytes = rest.len();
            break;
        }
        let entry = &rest[..total];
        match entry.get(16).map(|&m| m as i8) {
            None => ctx.issue(
                pos,
                IssueKind::InvalidBatch,
                format!("length {length} leaves no room for a magic byte"),
            ),
            Some(2) => {
                if let Some(b) = v2::decode_batch(&mut ctx, entry, pos) {
                    set.batches.push(Batch::V2(b));
                }
            }
            Some(magic @ (0 | 1)) => {
                ctx.batch_decompressed_left = limits.max_decompressed_bytes;
                if let Some(m) = legacy::decode_message(&mut ctx, entry, pos, pos, 0, magic) {
                    set.batches.push(Batch::Legacy(m));
                }
            }
            Some(magic) => ctx.issue(
                pos,
                IssueKind::UnknownMagic,
                format!("magic {magic}; {total} bytes skipped"),
            ),
        }
        pos += total;
    }
    budget.records = ctx.records_left;
    budget.headers = ctx.headers_left;
    budget.decompressed_bytes = ctx.total_decompressed_left;
    set.issues = ctx.issues;
    set.issues_omitted = ctx.issues_omitted;
    set
}

/// State of one [`decode_records`] call: budgets and the issues found.
pub(crate) struct Ctx<'l> {
    pub mode: RecordsMode,
    pub limits: &'l RecordLimits,
    pub records_left: usize,
    pub headers_left: usize,
    pub total_decompressed_left: usize,
    /// Left for the top-level entry being decoded (shared by nested sets).
    pub batch_decompressed_left: usize,
    pub record_limit_reported: bool,
    pub header_limit_reported: bool,
    pub total_limit_reported: bool,
    pub issues: Vec<RecordIssue>,
    pub issues_omitted: usize,
    /// Decompression buffers, one per nesting depth, reused across entries.
    pub scratch: Vec<Vec<u8>>,
}

impl<'l> Ctx<'l> {
    fn new(mode: RecordsMode, limits: &'l RecordLimits) -> Self {
        Ctx {
            mode,
            limits,
            records_left: limits.max_records,
            headers_left: limits.max_headers,
            total_decompressed_left: limits.max_total_decompressed_bytes,
            batch_decompressed_left: limits.max_decompressed_bytes,
            record_limit_reported: false,
            header_limit_reported: false,
            total_limit_reported: false,
            issues: Vec::new(),
            issues_omitted: 0,
            scratch: Vec::new(),
        }
    }

    pub fn issue(&mut self, position: usize, kind: IssueKind, detail: impl Into<String>) {
        if self.issues.len() < self.limits.max_issues {
            self.issues.push(RecordIssue {
                position,
                kind,
                detail: detail.into(),
            });
        } else {
            self.issues_omitted += 1;
        }
    }

    pub fn full(&self) -> bool {
        self.mode == RecordsMode::Full
    }

    /// A payload as the mode wants it: the size, and in Full mode a prefix.
    pub fn payload(&self, bytes: Option<&[u8]>) -> Payload {
        let Some(b) = bytes else {
            return Payload::null();
        };
        let size = Some(b.len() as u32);
        if !self.full() {
            return Payload {
                size,
                ..Payload::default()
            };
        }
        let keep = b.len().min(self.limits.max_payload_bytes);
        Payload {
            size,
            data: b[..keep].to_vec(),
            truncated: keep < b.len(),
        }
    }

    /// Record that the record budget stopped decoding (reported once).
    pub fn record_limit(&mut self, position: usize) {
        if !self.record_limit_reported {
            self.record_limit_reported = true;
            let n = self.limits.max_records;
            self.issue(
                position,
                IssueKind::RecordLimit,
                format!(
                    "the record budget ({n} for this message: max_records, or what the capture's budget had left) is spent; later records are not decoded"
                ),
            );
        }
    }

    /// Decompress `input` for the entry at `position`, at nesting `depth`,
    /// into the scratch buffer of that depth (taken out; give it back with
    /// [`Ctx::give_back`]). Issues are reported here; the second value is
    /// whether the output is the whole decompressed stream.
    pub fn decompress(
        &mut self,
        codec: Compression,
        input: &[u8],
        position: usize,
        depth: usize,
        what: &str,
    ) -> (Vec<u8>, bool) {
        if self.scratch.len() <= depth {
            self.scratch.resize_with(depth + 1, Vec::new);
        }
        let mut out = std::mem::take(&mut self.scratch[depth]);
        // Which budget is the tighter one decides which limit a stop is on.
        let per_call = self.total_decompressed_left < self.batch_decompressed_left;
        let limit = self
            .batch_decompressed_left
            .min(self.total_decompressed_left);
        let mut warnings = Vec::new();
        let result = compression::decompress(codec, input, limit, &mut out, &mut warnings);
        self.batch_decompressed_left -= out.len();
        self.total_decompressed_left -= out.len();
        for w in warnings {
            self.issue(
                position,
                IssueKind::CodecWarning,
                format!("{what}: {} {w}", codec.name()),
            );
        }
        let complete = match result {
            Ok(()) => true,
            Err(compression::CodecError::LimitExceeded { .. }) => {
                if !per_call || !self.total_limit_reported {
                    self.total_limit_reported |= per_call;
                    let detail = if per_call {
                        format!(
                            "{what}: the decompression budget ({} bytes for this message: max_total_decompressed_bytes, or what the capture's budget had left) is spent; records after {} decompressed bytes are not decoded",
                            self.limits.max_total_decompressed_bytes,
                            out.len()
                        )
                    } else {
                        format!(
                            "{what}: {} output stopped at max_decompressed_bytes ({}) after {} bytes",
                            codec.name(),
                            self.limits.max_decompressed_bytes,
                            out.len()
                        )
                    };
                    self.issue(position, IssueKind::DecompressedLimit, detail);
                }
                false
            }
            Err(e) => {
                self.issue(
                    position,
                    IssueKind::Decompression,
                    format!("{what}: {} {e}", codec.name()),
                );
                false
            }
        };
        (out, complete)
    }

    pub fn give_back(&mut self, depth: usize, mut buf: Vec<u8>) {
        // Keep a buffer for reuse, but not a huge one from a rare large batch.
        if buf.capacity() > 8 << 20 {
            buf = Vec::new();
        }
        buf.clear();
        self.scratch[depth] = buf;
    }
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A cursor over untrusted bytes; every read checks the length first.
pub(crate) struct Reader<'a> {
    pub b: &'a [u8],
    pub pos: usize,
}

/// A field ran past the end of its bytes, or was impossible.
pub(crate) type Field<T> = Result<T, &'static str>;

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    pub fn take(&mut self, n: usize, what: &'static str) -> Field<&'a [u8]> {
        if self.remaining() < n {
            return Err(what);
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Field<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn i8(&mut self, what: &'static str) -> Field<i8> {
        Ok(self.array::<1>(what)?[0] as i8)
    }
    pub fn i32(&mut self, what: &'static str) -> Field<i32> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }
    pub fn i64(&mut self, what: &'static str) -> Field<i64> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    /// An unsigned LEB128 of at most `max_bytes` bytes.
    fn uvarint(&mut self, max_bytes: u32, what: &'static str) -> Field<u64> {
        let mut v: u64 = 0;
        for i in 0..max_bytes {
            let byte = *self.b.get(self.pos).ok_or(what)?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long")
    }

    /// Kafka's zigzag `varint` (an int32, at most 5 bytes).
    pub fn varint(&mut self, what: &'static str) -> Field<i32> {
        let u = self.uvarint(5, what)?;
        if u > u64::from(u32::MAX) {
            return Err("varint beyond 32 bits");
        }
        let u = u as u32;
        Ok(((u >> 1) as i32) ^ -((u & 1) as i32))
    }

    /// Kafka's zigzag `varlong` (an int64, at most 10 bytes).
    pub fn varlong(&mut self, what: &'static str) -> Field<i64> {
        let u = self.uvarint(10, what)?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}
