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

use base64::Engine;
use serde_json::{Map, Value, json};

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
    let mut m = Map::new();
    match std::str::from_utf8(data) {
        Ok(s) => {
            m.insert("text".into(), Value::String(s.to_owned()));
        }
        Err(e) if truncated && e.error_len().is_none() => {
            let s = String::from_utf8_lossy(&data[..e.valid_up_to()]);
            m.insert("text".into(), Value::String(s.into_owned()));
        }
        Err(_) => {
            let b = base64::engine::general_purpose::STANDARD.encode(data);
            m.insert("base64".into(), Value::String(b));
        }
    }
    if truncated {
        m.insert("truncated".into(), Value::Bool(true));
    }
    Value::Object(m)
}

impl Payload {
    /// `null` for a null payload, else [`payload_json`] of the captured bytes.
    pub fn to_json(&self) -> Value {
        if self.is_null() {
            Value::Null
        } else {
            payload_json(&self.data, self.truncated)
        }
    }
}

/// Render a [`RecordSet`] in `mode`: `null` for [`RecordsMode::None`];
/// payloads only when both `mode` and the set's own mode are `Full` (a set
/// decoded in `Meta` has no bytes to show). The format is in the module doc.
pub fn to_json(set: &RecordSet, mode: RecordsMode) -> Value {
    if mode == RecordsMode::None || set.mode == RecordsMode::None {
        return Value::Null;
    }
    let full = mode == RecordsMode::Full && set.mode == RecordsMode::Full;
    let batches: Vec<Value> = set
        .batches
        .iter()
        .map(|b| match b {
            Batch::V2(b) => batch_json(b, full),
            Batch::Legacy(m) => message_json(m, full),
        })
        .collect();
    let issues: Vec<Value> = set
        .issues
        .iter()
        .map(|i| json!({"position": i.position, "kind": i.kind.as_str(), "detail": i.detail}))
        .collect();
    let mut v = json!({
        "batches": batches,
        "partialTailBytes": set.partial_tail_bytes,
        "issues": issues,
    });
    if set.issues_omitted > 0 {
        v["issuesOmitted"] = json!(set.issues_omitted);
    }
    v
}

fn batch_json(b: &RecordBatch, full: bool) -> Value {
    let a = b.attributes;
    let mut v = json!({
        "position": b.position,
        "baseOffset": b.base_offset,
        "batchLength": b.batch_length,
        "partitionLeaderEpoch": b.partition_leader_epoch,
        "magic": b.magic,
        "crc": b.crc,
        "attributes": a.0,
        "compression": a.compression().name(),
        "timestampType": a.timestamp_type().name(),
        "isTransactional": a.is_transactional(),
        "isControl": a.is_control(),
        "hasDeleteHorizon": a.has_delete_horizon(),
        "lastOffsetDelta": b.last_offset_delta,
        "baseTimestamp": b.base_timestamp,
        "maxTimestamp": b.max_timestamp,
        "producerId": b.producer_id,
        "producerEpoch": b.producer_epoch,
        "baseSequence": b.base_sequence,
        "recordCount": b.record_count,
    });
    if b.crc_checked {
        v["crcValid"] = json!(b.crc_valid);
    }
    if let Some(n) = b.decompressed_size {
        v["decompressedSize"] = json!(n);
    }
    if full || a.is_control() {
        v["records"] = Value::Array(b.records.iter().map(|r| record_json(r, full)).collect());
    }
    v
}

fn record_json(r: &Record, full: bool) -> Value {
    let mut v = json!({
        "offset": r.offset,
        "timestamp": r.timestamp,
        "offsetDelta": r.offset_delta,
        "timestampDelta": r.timestamp_delta,
        "attributes": r.attributes,
        "keySize": r.key.wire_size(),
        "valueSize": r.value.wire_size(),
        "headerCount": r.header_count,
    });
    if let Some(c) = r.control {
        let mut cv = json!({"version": c.version, "type": c.kind.name()});
        if c.kind.name() == "UNKNOWN" {
            cv["typeId"] = json!(c.kind.0);
        }
        if let Some(mv) = c.marker_version {
            cv["markerVersion"] = json!(mv);
        }
        if let Some(e) = c.coordinator_epoch {
            cv["coordinatorEpoch"] = json!(e);
        }
        v["control"] = cv;
    }
    if full {
        v["key"] = r.key.to_json();
        v["value"] = r.value.to_json();
        let headers: Vec<Value> = r
            .headers
            .iter()
            .map(|h| {
                let mut hv = json!({
                    "key": String::from_utf8_lossy(&h.key.data),
                    "value": h.value.to_json(),
                });
                if h.key.truncated {
                    hv["keyTruncated"] = Value::Bool(true);
                }
                hv
            })
            .collect();
        v["headers"] = Value::Array(headers);
    }
    v
}

fn message_json(m: &Message, full: bool) -> Value {
    let mut v = json!({
        "position": m.position,
        "offset": m.offset,
        "messageSize": m.message_size,
        "crc": m.crc,
        "crcValid": m.crc_valid,
        "magic": m.magic,
        "attributes": m.attributes,
        "compression": m.compression().name(),
        "timestampType": m.timestamp_type().name(),
    });
    if m.wire_offset != m.offset {
        v["wireOffset"] = json!(m.wire_offset);
    }
    if let Some(t) = m.timestamp {
        v["timestamp"] = json!(t);
    }
    v["keySize"] = json!(m.key.wire_size());
    v["valueSize"] = json!(m.value.wire_size());
    let wrapper = m.compression().0 != 0;
    if full {
        v["key"] = m.key.to_json();
        if !wrapper {
            v["value"] = m.value.to_json();
        }
    }
    if wrapper {
        if let Some(n) = m.decompressed_size {
            v["decompressedSize"] = json!(n);
        }
        v["messageCount"] = json!(m.messages.len());
        if full {
            v["messages"] =
                Value::Array(m.messages.iter().map(|i| message_json(i, full)).collect());
        }
    }
    v
}
