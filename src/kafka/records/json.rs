//! JSON rendering of decoded records.
//!
//! Field names are Kafka's own, camelCase as in the protocol's JSON schemas
//! and `kafka-dump-log` (`baseOffset`, `producerId`, `isTransactional`,
//! `keySize`, ...). The format of [`to_json`]:
//!
//! ```text
//! {
//!   "batches": [ <batch>... ],
//!   "partialTailBytes": N,            // bytes of a cut entry at the end (0: none)
//!   "issues": [ {"position": N, "kind": "crc_mismatch", "detail": "..."} ],
//!   "issuesOmitted": N                // only when > 0
//! }
//!
//! <batch>, magic 2:
//!   position baseOffset batchLength partitionLeaderEpoch magic crc [crcValid]
//!   attributes compression timestampType isTransactional isControl
//!   hasDeleteHorizon lastOffsetDelta baseTimestamp maxTimestamp producerId
//!   producerEpoch baseSequence recordCount [decompressedSize]
//!   meta mode: the header only (records are neither decompressed nor
//!   read), except a control batch, whose records (COMMIT/ABORT markers)
//!   are listed; full mode: records: [<record>]
//! <record>:
//!   offset timestamp offsetDelta timestampDelta attributes keySize valueSize
//!   headerCount [control: {version type [typeId] [markerVersion coordinatorEpoch]}]
//!   full mode: key value headers: [{key, value, [keyTruncated]}]
//! <batch>, magic 0/1 (a legacy message):
//!   position offset [wireOffset] messageSize crc crcValid magic attributes
//!   compression timestampType [timestamp] keySize valueSize
//!   full mode, not a wrapper: key value
//!   a wrapper: [decompressedSize] messageCount, and in full mode
//!   messages: [<message>...]
//! ```
//!
//! Sizes are as on the wire, -1 for null. `compression` is `none`, `gzip`,
//! `snappy`, `lz4`, `zstd` or `unknown` (the id is in `attributes`);
//! `timestampType` is `CreateTime`, `LogAppendTime` or `NoTimestampType`;
//! control `type` is Kafka's name (`ABORT`, `COMMIT`, ...; `UNKNOWN` adds
//! `typeId`). Keys, values and header values are `null` or a payload object
//! (see [`payload_json`]); a header key is a string (Kafka's header keys are
//! strings; invalid UTF-8 is replaced by U+FFFD), with `keyTruncated: true`
//! when cut.

use serde_json::Value;

use crate::kafka::schema::json::{Obj, write_base64, write_str};

use super::legacy::Message;
use super::v2::{Record, RecordBatch};
use super::{Batch, Payload, RecordSet, RecordsMode};

/// Render captured payload bytes for JSON.
///
/// * `{"text": "..."}` when the bytes are valid UTF-8;
/// * `{"base64": "..."}` (standard alphabet, padded) otherwise;
/// * plus `"truncated": true` when `truncated` (the bytes are a prefix). A
///   prefix whose only flaw is a UTF-8 sequence cut at its very end is still
///   text: the incomplete sequence (at most 3 bytes) is dropped, since the
///   value is marked truncated anyway.
pub fn payload_json(data: &[u8], truncated: bool) -> Value {
    let mut out = Vec::new();
    write_payload(&mut out, data, truncated);
    parse(&out)
}

/// [`payload_json`], written as JSON.
pub fn write_payload(out: &mut Vec<u8>, data: &[u8], truncated: bool) {
    let mut o = Obj::new(out);
    match std::str::from_utf8(data) {
        Ok(s) => o.str("text", s),
        Err(e) if truncated && e.error_len().is_none() => {
            let valid = data.get(..e.valid_up_to()).unwrap_or_default();
            o.str("text", &String::from_utf8_lossy(valid));
        }
        Err(_) => write_base64(o.key("base64"), data),
    }
    if truncated {
        o.bool("truncated", true);
    }
    o.end();
}

/// JSON this module wrote, as a value.
fn parse(json: &[u8]) -> Value {
    // What the writers write always parses.
    serde_json::from_slice(json).unwrap_or(Value::Null)
}

impl Payload {
    /// `null` for a null payload, else [`payload_json`] of the captured bytes.
    pub fn to_json(&self) -> Value {
        let mut out = Vec::new();
        self.write_json(&mut out);
        parse(&out)
    }

    /// [`Payload::to_json`], written as JSON.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        if self.is_null() {
            out.extend_from_slice(b"null");
        } else {
            write_payload(out, &self.data, self.truncated);
        }
    }
}

/// Render a [`RecordSet`] in `mode`: `null` for [`RecordsMode::None`];
/// payloads only when both `mode` and the set's own mode are `Full` (a set
/// decoded in `Meta` has no bytes to show). The format is in the module doc.
pub fn to_json(set: &RecordSet, mode: RecordsMode) -> Value {
    let mut out = Vec::new();
    write_json(set, mode, &mut out);
    parse(&out)
}

/// [`to_json`], written as JSON (keys in the order the module doc gives).
pub fn write_json(set: &RecordSet, mode: RecordsMode, out: &mut Vec<u8>) {
    if mode == RecordsMode::None || set.mode == RecordsMode::None {
        out.extend_from_slice(b"null");
        return;
    }
    let full = mode == RecordsMode::Full && set.mode == RecordsMode::Full;
    let mut o = Obj::new(out);
    let a = o.key("batches");
    a.push(b'[');
    for (i, b) in set.batches.iter().enumerate() {
        if i > 0 {
            a.push(b',');
        }
        match b {
            Batch::V2(b) => write_batch(a, b, full),
            Batch::Legacy(m) => write_message(a, m, full),
        }
    }
    a.push(b']');
    o.int("partialTailBytes", set.partial_tail_bytes);
    let a = o.key("issues");
    a.push(b'[');
    for (i, issue) in set.issues.iter().enumerate() {
        if i > 0 {
            a.push(b',');
        }
        let mut x = Obj::new(a);
        x.int("position", issue.position);
        x.str("kind", issue.kind.as_str());
        x.str("detail", &issue.detail);
        x.end();
    }
    a.push(b']');
    if set.issues_omitted > 0 {
        o.int("issuesOmitted", set.issues_omitted);
    }
    o.end();
}

fn write_batch(out: &mut Vec<u8>, b: &RecordBatch, full: bool) {
    let a = b.attributes;
    let mut o = Obj::new(out);
    o.int("position", b.position);
    o.int("baseOffset", b.base_offset);
    o.int("batchLength", b.batch_length);
    o.int("partitionLeaderEpoch", b.partition_leader_epoch);
    o.int("magic", b.magic);
    o.int("crc", b.crc);
    if b.crc_checked {
        o.bool("crcValid", b.crc_valid);
    }
    o.int("attributes", a.0);
    o.str("compression", a.compression().name());
    o.str("timestampType", a.timestamp_type().name());
    o.bool("isTransactional", a.is_transactional());
    o.bool("isControl", a.is_control());
    o.bool("hasDeleteHorizon", a.has_delete_horizon());
    o.int("lastOffsetDelta", b.last_offset_delta);
    o.int("baseTimestamp", b.base_timestamp);
    o.int("maxTimestamp", b.max_timestamp);
    o.int("producerId", b.producer_id);
    o.int("producerEpoch", b.producer_epoch);
    o.int("baseSequence", b.base_sequence);
    o.int("recordCount", b.record_count);
    if let Some(n) = b.decompressed_size {
        o.int("decompressedSize", n);
    }
    if full || a.is_control() {
        let l = o.key("records");
        l.push(b'[');
        for (i, r) in b.records.iter().enumerate() {
            if i > 0 {
                l.push(b',');
            }
            write_record(l, r, full);
        }
        l.push(b']');
    }
    o.end();
}

fn write_record(out: &mut Vec<u8>, r: &Record, full: bool) {
    let mut o = Obj::new(out);
    o.int("offset", r.offset);
    o.int("timestamp", r.timestamp);
    o.int("offsetDelta", r.offset_delta);
    o.int("timestampDelta", r.timestamp_delta);
    o.int("attributes", r.attributes);
    o.int("keySize", r.key.wire_size());
    o.int("valueSize", r.value.wire_size());
    o.int("headerCount", r.header_count);
    if let Some(c) = r.control {
        let mut x = Obj::new(o.key("control"));
        x.int("version", c.version);
        x.str("type", c.kind.name());
        if c.kind.name() == "UNKNOWN" {
            x.int("typeId", c.kind.0);
        }
        if let Some(mv) = c.marker_version {
            x.int("markerVersion", mv);
        }
        if let Some(e) = c.coordinator_epoch {
            x.int("coordinatorEpoch", e);
        }
        x.end();
    }
    if full {
        r.key.write_json(o.key("key"));
        r.value.write_json(o.key("value"));
        let l = o.key("headers");
        l.push(b'[');
        for (i, h) in r.headers.iter().enumerate() {
            if i > 0 {
                l.push(b',');
            }
            let mut x = Obj::new(l);
            write_str(x.key("key"), &String::from_utf8_lossy(&h.key.data));
            h.value.write_json(x.key("value"));
            if h.key.truncated {
                x.bool("keyTruncated", true);
            }
            x.end();
        }
        l.push(b']');
    }
    o.end();
}

fn write_message(out: &mut Vec<u8>, m: &Message, full: bool) {
    let mut o = Obj::new(out);
    o.int("position", m.position);
    o.int("offset", m.offset);
    if m.wire_offset != m.offset {
        o.int("wireOffset", m.wire_offset);
    }
    o.int("messageSize", m.message_size);
    o.int("crc", m.crc);
    o.bool("crcValid", m.crc_valid);
    o.int("magic", m.magic);
    o.int("attributes", m.attributes);
    o.str("compression", m.compression().name());
    o.str("timestampType", m.timestamp_type().name());
    if let Some(t) = m.timestamp {
        o.int("timestamp", t);
    }
    o.int("keySize", m.key.wire_size());
    o.int("valueSize", m.value.wire_size());
    let wrapper = m.compression().0 != 0;
    if full {
        m.key.write_json(o.key("key"));
        if !wrapper {
            m.value.write_json(o.key("value"));
        }
    }
    if wrapper {
        if let Some(n) = m.decompressed_size {
            o.int("decompressedSize", n);
        }
        o.int("messageCount", m.messages.len());
        if full {
            let l = o.key("messages");
            l.push(b'[');
            for (i, inner) in m.messages.iter().enumerate() {
                if i > 0 {
                    l.push(b',');
                }
                write_message(l, inner, full);
            }
            l.push(b']');
        }
    }
    o.end();
}
