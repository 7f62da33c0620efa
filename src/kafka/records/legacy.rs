//! Legacy message sets, magic 0 and 1 (before Kafka 0.11).
//!
//! ```text
//! offset:int64 messageSize:int32 crc:uint32 magic:int8 attributes:int8
//! [timestamp:int64, magic 1] key:bytes value:bytes      (bytes: int32 length, -1 null)
//! ```
//!
//! The CRC-32 covers `magic` to the end. Attributes: bits 0-2 compression,
//! bit 3 (magic 1) timestamp type. A compressed message is a *wrapper*: its
//! value, decompressed, is a message set of the same magic. In a magic 1
//! wrapper the inner offsets are relative and the wrapper carries the
//! absolute offset of the last inner message; with LogAppendTime the
//! wrapper's timestamp applies to every inner message.

use super::compression::Compression;
use super::v2::TimestampType;
use super::{Ctx, IssueKind, Payload, Reader};

/// A legacy message (magic 0 or 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Byte offset in the set holding the message: the decoded input for a
    /// top-level message, the decompressed inner set for a nested one.
    pub position: usize,
    /// The offset as written.
    pub wire_offset: i64,
    /// The absolute offset: `wire_offset`, except in a magic 1 wrapper's inner
    /// set, where it is computed from the wrapper's (as Kafka does).
    pub offset: i64,
    pub message_size: i32,
    pub crc: u32,
    /// The CRC-32 over magic..end verifies.
    pub crc_valid: bool,
    pub magic: i8,
    pub attributes: i8,
    /// Magic 1 only. For an inner message of a LogAppendTime wrapper, the
    /// wrapper's timestamp (as Kafka reports it).
    pub timestamp: Option<i64>,
    pub key: Payload,
    /// For a wrapper: the size of the compressed value (never its bytes).
    pub value: Payload,
    /// For a wrapper: size of the decompressed inner set, when decompressed.
    pub decompressed_size: Option<usize>,
    /// For a wrapper: the inner messages.
    pub messages: Vec<Message>,
}

impl Message {
    pub fn compression(&self) -> Compression {
        Compression((self.attributes & 0x7) as u8)
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.magic == 0 {
            TimestampType::NoTimestampType
        } else if self.attributes & 0x8 != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
}

/// Smallest `messageSize`: crc, magic, attributes, [timestamp,] two lengths.
fn min_size(magic: i8) -> i32 {
    if magic == 0 { 14 } else { 22 }
}

/// Decode one message. `entry` is the whole entry (`12 + messageSize`
/// bytes) at `position` in its set; `top` is the position of the top-level
/// entry it belongs to (for issues); `depth` is 0 at top level.
pub(crate) fn decode_message(
    ctx: &mut Ctx<'_>,
    entry: &[u8],
    top: usize,
    position: usize,
    depth: usize,
    magic: i8,
) -> Option<Message> {
    let at = |pos: usize| {
        if depth == 0 {
            String::new()
        } else {
            format!("inner message at +{pos} (depth {depth}): ")
        }
    };
    let size = i32::from_be_bytes([entry[8], entry[9], entry[10], entry[11]]);
    if size < min_size(magic) {
        ctx.issue(
            top,
            IssueKind::InvalidBatch,
            format!(
                "{}messageSize {size} is below the magic {magic} minimum {}",
                at(position),
                min_size(magic)
            ),
        );
        return None;
    }
    let crc = u32::from_be_bytes([entry[12], entry[13], entry[14], entry[15]]);
    let computed = crc32fast::hash(&entry[16..]);
    if crc != computed {
        ctx.issue(
            top,
            IssueKind::CrcMismatch,
            format!(
                "{}message crc {crc:#010x}, computed CRC-32 {computed:#010x}",
                at(position)
            ),
        );
    }
    let offset = i64::from_be_bytes(entry[..8].try_into().unwrap_or([0; 8]));
    let mut r = Reader::new(&entry[17..]);
    let fields = (|| {
        let attributes = r.i8("attributes")?;
        let timestamp = if magic == 1 {
            Some(r.i64("timestamp")?)
        } else {
            None
        };
        let key = bytes_field(&mut r, "key")?;
        let value = bytes_field(&mut r, "value")?;
        Ok::<_, &'static str>((attributes, timestamp, key, value))
    })();
    let (attributes, timestamp, key, value) = match fields {
        Ok(f) => f,
        Err(e) => {
            ctx.issue(
                top,
                IssueKind::InvalidRecord,
                format!("{}{e} beyond the messageSize {size}", at(position)),
            );
            return None;
        }
    };
    if r.remaining() > 0 {
        ctx.issue(
            top,
            IssueKind::InvalidRecord,
            format!(
                "{}{} bytes after the value, inside messageSize",
                at(position),
                r.remaining()
            ),
        );
    }
    let mut m = Message {
        position,
        wire_offset: offset,
        offset,
        message_size: size,
        crc,
        crc_valid: crc == computed,
        magic,
        attributes,
        timestamp,
        key: ctx.payload(key),
        value: Payload::null(),
        decompressed_size: None,
        messages: Vec::new(),
    };
    let codec = m.compression();
    if codec == Compression::NONE {
        m.value = ctx.payload(value);
        return Some(m);
    }
    m.value = Payload {
        size: value.map(|v| v.len() as u32),
        ..Payload::default()
    };
    let Some(value) = value else {
        ctx.issue(
            top,
            IssueKind::InvalidRecord,
            format!(
                "{}{} wrapper message with a null value",
                at(position),
                codec.name()
            ),
        );
        return Some(m);
    };
    if depth >= ctx.limits.max_nesting {
        ctx.issue(
            top,
            IssueKind::NestingTooDeep,
            format!(
                "{}compressed message at depth {depth}; max_nesting is {}",
                at(position),
                ctx.limits.max_nesting
            ),
        );
        return Some(m);
    }
    if ctx.records_left == 0 {
        ctx.record_limit(top);
        return Some(m);
    }
    let what = if depth == 0 {
        "wrapper message".to_string()
    } else {
        format!("{}wrapper", at(position))
    };
    let (data, complete) = ctx.decompress(codec, value, top, depth, &what);
    m.decompressed_size = (complete || !data.is_empty()).then_some(data.len());
    m.messages = decode_inner_set(ctx, &data, complete, top, depth + 1, magic);
    ctx.give_back(depth, data);
    if magic == 1
        && let Some(last) = m.messages.last()
    {
        // Kafka's deep iterator: absolute = wrapper offset - last relative + relative.
        let base = m.wire_offset.wrapping_sub(last.wire_offset);
        let log_append = m.timestamp_type() == TimestampType::LogAppendTime;
        for inner in &mut m.messages {
            inner.offset = base.wrapping_add(inner.wire_offset);
            if log_append {
                inner.timestamp = m.timestamp;
            }
        }
    }
    Some(m)
}

fn bytes_field<'a>(
    r: &mut Reader<'a>,
    what: &'static str,
) -> Result<Option<&'a [u8]>, &'static str> {
    let len = r.i32(what)?;
    match len {
        -1 => Ok(None),
        l if l < -1 => Err("length below -1"),
        l => Ok(Some(r.take(l as usize, what)?)),
    }
}

/// Decode the message set inside a wrapper.
fn decode_inner_set(
    ctx: &mut Ctx<'_>,
    data: &[u8],
    complete: bool,
    top: usize,
    depth: usize,
    wrapper_magic: i8,
) -> Vec<Message> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let rest = &data[pos..];
        let cut = |ctx: &mut Ctx<'_>| {
            if complete {
                ctx.issue(
                    top,
                    IssueKind::InvalidRecord,
                    format!(
                        "inner message set at depth {depth} ends with {} bytes of a cut message",
                        rest.len()
                    ),
                );
            }
        };
        let Some(l) = rest.get(8..12) else {
            cut(ctx);
            break;
        };
        let length = i32::from_be_bytes([l[0], l[1], l[2], l[3]]);
        if length < 0 {
            ctx.issue(
                top,
                IssueKind::InvalidRecord,
                format!("inner message at +{pos} (depth {depth}): negative messageSize {length}"),
            );
            break;
        }
        let total = 12 + length as usize;
        if rest.len() < total {
            cut(ctx);
            break;
        }
        if ctx.records_left == 0 {
            ctx.record_limit(top);
            break;
        }
        let entry = &rest[..total];
        match entry.get(16).map(|&m| m as i8) {
            Some(magic @ (0 | 1)) => {
                if magic != wrapper_magic {
                    ctx.issue(
                        top,
                        IssueKind::InvalidRecord,
                        format!(
                            "inner message at +{pos} (depth {depth}): magic {magic} in a magic {wrapper_magic} wrapper"
                        ),
                    );
                }
                if out.is_empty() {
                    // At most what the bytes can hold, never a count off the wire.
                    out.reserve((data.len() / 26).min(ctx.records_left).min(1 << 12));
                }
                if let Some(m) = decode_message(ctx, entry, top, pos, depth, magic) {
                    ctx.records_left -= 1;
                    out.push(m);
                }
            }
            other => ctx.issue(
                top,
                IssueKind::InvalidRecord,
                format!(
                    "inner message at +{pos} (depth {depth}): magic {} is not a legacy message",
                    other.map_or(-1, i16::from)
                ),
            ),
        }
        pos += total;
    }
    out
}
