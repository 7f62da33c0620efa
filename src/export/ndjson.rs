//! NDJSON: one JSON object per line, each with a `"type"`.
//!
//! The full specification, with every field, is `docs/ndjson.md`; this
//! module is its implementation and must stay in step with it. In short:
//!
//! - the first line is `"capture"` (source, format, link types, kwire and
//!   format version), the last `"summary"` (counters);
//! - `"exchange"`: one per request, answered or not, with `stream`, `client`,
//!   `broker`, `api_key`, `api_name`, `api_version`, `correlation_id`,
//!   `client_id`, `request` and `response` (`{frame, ts, size}` or null),
//!   `latency_us`, `status` and `errors`;
//! - events, each with its own `type`, `stream` (or null), `frame` and `ts`.
//!
//! `frame` is the 1-based packet number that completed the message (the one
//! Wireshark shows); `ts` is RFC 3339 UTC with nanoseconds. Records appear in
//! the order kwire completes them: an exchange when its response arrives (or
//! when kwire gives up waiting), so they are not sorted by request frame.

use std::io::{self, Write};

use serde_json::{Map, Value, json};

use crate::capture::Timestamp;
use crate::kafka::ApiKey;
use crate::kafka::schema::{self, Node, Value as SValue};
use crate::kafka::{embedded, records};
use crate::session::{
    Body, CaptureInfo, Event, EventKind, Exchange, MessageInfo, PacketIssue, Record, RecordSink,
    Status, Summary,
};

/// Version of the NDJSON format; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

/// Writes records as NDJSON.
pub struct NdjsonWriter<W: Write> {
    out: W,
    /// Flush after every record (live capture, so readers see lines at once).
    pub flush_each: bool,
}

impl<W: Write> NdjsonWriter<W> {
    pub fn new(out: W) -> Self {
        NdjsonWriter {
            out,
            flush_each: false,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// Write a JSON object of another kind (`finding`) as one line.
    pub fn write_value(&mut self, v: &Value) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, v)?;
        self.out.write_all(b"\n")?;
        if self.flush_each {
            self.out.flush()?;
        }
        Ok(())
    }
}

impl<W: Write> RecordSink for NdjsonWriter<W> {
    fn record(&mut self, r: Record) -> io::Result<()> {
        let v = to_json(&r);
        serde_json::to_writer(&mut self.out, &v)?;
        self.out.write_all(b"\n")?;
        if self.flush_each {
            self.out.flush()?;
        }
        if matches!(r, Record::Summary(_)) {
            self.out.flush()?;
        }
        Ok(())
    }
}

/// The JSON object for a record.
pub fn to_json(r: &Record) -> Value {
    match r {
        Record::Capture(c) => capture(c),
        Record::Exchange(e) => exchange(e),
        Record::Event(e) => event(e),
        Record::Summary(s) => summary(s),
    }
}

fn ts(t: Timestamp) -> Value {
    Value::String(t.rfc3339())
}

fn capture(c: &CaptureInfo) -> Value {
    json!({
        "type": "capture",
        "format_version": FORMAT_VERSION,
        "kwire_version": env!("CARGO_PKG_VERSION"),
        "source": c.source,
        "format": c.format.as_str(),
        "link_types": c.link_types.iter().map(|l| l.name()).collect::<Vec<_>>(),
        "filter": c.filter,
    })
}

fn message(m: &MessageInfo, api_version: i16, body: Option<&Body>) -> Value {
    let mut o = Map::new();
    o.insert("frame".into(), m.frame.into());
    if m.first_frame != m.frame {
        o.insert("first_frame".into(), m.first_frame.into());
    }
    o.insert("ts".into(), ts(m.ts));
    o.insert("size".into(), m.size.into());
    if m.lost_bytes > 0 {
        o.insert("lost_bytes".into(), m.lost_bytes.into());
    }
    if let Some(b) = body {
        body_fields(&mut o, api_version, b);
    }
    Value::Object(o)
}

/// A decoded body: `body` (Kafka's field names in camelCase, records and
/// embedded protocols decoded in place), and when applicable `schema_version` (the schema used,
/// when not the message's own version), `version_assumed`, `decode_error`
/// with `raw` (the body's bytes, base64), and `notes`.
fn body_fields(o: &mut Map<String, Value>, api_version: i16, b: &Body) {
    let d = &b.decoded;
    if d.message.is_none() {
        return;
    }
    let mut v = schema::to_json(&d.tree);
    if !b.records.is_empty() || !b.embedded.is_empty() {
        fill_nested(&d.tree, &mut v, b);
    }
    o.insert("body".into(), v);
    if d.version != api_version {
        o.insert("schema_version".into(), d.version.into());
    }
    if d.assumed_version {
        o.insert("version_assumed".into(), true.into());
    }
    if let Some(raw) = &b.raw {
        if let Some(e) = &d.error {
            o.insert(
                "decode_error".into(),
                json!({"offset": e.offset, "path": e.path, "reason": format!("{:?}", e.kind)}),
            );
        }
        o.insert("raw".into(), schema::value::base64(raw).into());
    }
    if !b.notes.is_empty() {
        o.insert("notes".into(), b.notes.clone().into());
    }
}

/// Replace the schema's `{"bytes": N}` placeholders of `records` fields by
/// the decoded records, and the base64 of bytes fields that hold an
/// embedded protocol by its decoded message.
fn fill_nested(node: &Node, json: &mut Value, b: &Body) {
    match &node.value {
        SValue::Records(r) => {
            if let Some((_, set)) = b.records.iter().find(|(start, _)| *start == r.start) {
                *json = records::to_json(set, set.mode);
            }
        }
        SValue::Bytes(_) => {
            if let Some((_, e)) = b.embedded.iter().find(|(at, _)| *at == node.range.start) {
                *json = embedded::to_json(e);
            }
        }
        SValue::Struct(fields) => {
            if let Value::Object(m) = json {
                for f in fields {
                    if let Some(j) = m.get_mut(f.name) {
                        fill_nested(f, j, b);
                    }
                }
            }
        }
        SValue::Array(items) => {
            if let Value::Array(a) = json {
                for (n, j) in items.iter().zip(a.iter_mut()) {
                    fill_nested(n, j, b);
                }
            }
        }
        _ => {}
    }
}

fn exchange(e: &Exchange) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), "exchange".into());
    o.insert("stream".into(), e.stream.into());
    o.insert("client".into(), e.client.to_string().into());
    o.insert("broker".into(), e.broker.to_string().into());
    o.insert("api_key".into(), e.api_key.0.into());
    o.insert("api_name".into(), e.api_key.name().into());
    o.insert("api_version".into(), e.api_version.into());
    o.insert("correlation_id".into(), e.correlation_id.into());
    o.insert(
        "client_id".into(),
        e.client_id.as_deref().map_or(Value::Null, Value::from),
    );
    o.insert(
        "request".into(),
        message(&e.request, e.api_version, e.request_body.as_deref()),
    );
    o.insert(
        "response".into(),
        e.response.as_ref().map_or(Value::Null, |m| {
            message(m, e.api_version, e.response_body.as_deref())
        }),
    );
    o.insert(
        "latency_us".into(),
        e.latency_us().map_or(Value::Null, Value::from),
    );
    if e.response_first() {
        o.insert("response_first".into(), true.into());
    }
    o.insert("status".into(), e.status.as_str().into());
    if let Status::NoResponse(why) = e.status {
        o.insert("reason".into(), why.as_str().into());
    }
    o.insert(
        "errors".into(),
        Value::Array(
            e.errors
                .iter()
                .map(|er| json!({"code": er.code, "name": er.name, "path": er.path}))
                .collect(),
        ),
    );
    Value::Object(o)
}

fn event(e: &Event) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), e.kind.type_name().into());
    o.insert("stream".into(), e.stream.map_or(Value::Null, Value::from));
    o.insert("frame".into(), e.at.frame.into());
    o.insert("ts".into(), ts(e.at.ts));
    let mut put = |k: &str, v: Value| {
        o.insert(k.into(), v);
    };
    match &e.kind {
        EventKind::ConnectionOpen {
            client,
            broker,
            handshake_seen,
            detected_by,
        } => {
            put("client", client.to_string().into());
            put("broker", broker.to_string().into());
            put("handshake_seen", (*handshake_seen).into());
            put("detected_by", detected_by.as_str().into());
        }
        EventKind::ConnectionClose {
            reason,
            requests,
            responses,
            unanswered,
        } => {
            put("reason", reason.as_str().into());
            put("requests", (*requests).into());
            put("responses", (*responses).into());
            put("unanswered", (*unanswered).into());
        }
        EventKind::Gap {
            direction,
            bytes,
            cause,
        } => {
            put("direction", direction.as_str().into());
            put("bytes", (*bytes).into());
            put("cause", cause.as_str().into());
        }
        EventKind::OutOfSync {
            direction,
            offset,
            cause,
        } => {
            put("direction", direction.as_str().into());
            put("offset", (*offset).into());
            put("cause", cause.as_str().into());
        }
        EventKind::Resync {
            direction,
            offset,
            skipped,
        } => {
            put("direction", direction.as_str().into());
            put("offset", (*offset).into());
            put("skipped_bytes", (*skipped).into());
        }
        EventKind::OrphanResponse {
            correlation_id,
            size,
            ..
        } => {
            put("correlation_id", (*correlation_id).into());
            put("size", (*size).into());
        }
        EventKind::DuplicateCorrelationId {
            correlation_id,
            first_frame,
        } => {
            put("correlation_id", (*correlation_id).into());
            put("first_frame", (*first_frame).into());
        }
        EventKind::FrameTooLarge {
            direction,
            size,
            limit,
        } => {
            put("direction", direction.as_str().into());
            put("size", (*size).into());
            put("limit", (*limit).into());
        }
        EventKind::MalformedHeader {
            direction,
            reason,
            size,
        } => {
            put("direction", direction.as_str().into());
            put("reason", (*reason).into());
            put("size", (*size).into());
        }
        EventKind::MessageLost { direction, size } => {
            put("direction", direction.as_str().into());
            put("size", (*size).into());
        }
        EventKind::UnknownApi {
            api_key,
            api_version,
        } => {
            put("api_key", (*api_key).into());
            put("api_version", (*api_version).into());
        }
        EventKind::SaslToken { direction, size } => {
            put("direction", direction.as_str().into());
            put("size", (*size).into());
        }
        EventKind::DecodeError {
            direction,
            api_key,
            api_version,
            reason,
            offset,
            path,
        } => {
            put("direction", direction.as_str().into());
            put("api_key", (*api_key).into());
            put("api_name", ApiKey(*api_key).name().into());
            put("api_version", (*api_version).into());
            put("reason", reason.clone().into());
            put("offset", (*offset).into());
            put("path", path.clone().into());
        }
        EventKind::Limit { limit, value } => {
            put("limit", limit.as_str().into());
            put("value", (*value).into());
            if let Some(o) = limit.option() {
                put("option", o.into());
            }
        }
        EventKind::Packet { issue } => {
            put("issue", issue.as_str().into());
            match issue {
                PacketIssue::FragmentIncomplete {
                    reason,
                    first_frame,
                    fragments,
                    bytes,
                } => {
                    put("reason", reason.as_str().into());
                    put("first_frame", (*first_frame).into());
                    put("fragments", (*fragments).into());
                    put("bytes", (*bytes).into());
                }
                PacketIssue::FragmentOverlap {
                    conflict,
                    first_frame,
                } => {
                    put("reason", conflict.as_str().into());
                    put("first_frame", (*first_frame).into());
                }
                PacketIssue::Malformed(why) => put("reason", (*why).into()),
                PacketIssue::UnsupportedLink(lt) => put("link_type", lt.name().into()),
                PacketIssue::Truncated => {}
            }
        }
        EventKind::CaptureError { message } => put("message", message.clone().into()),
        EventKind::Drops(d) => {
            put("received", d.received.into());
            put("dropped", d.dropped.into());
            put("if_dropped", d.if_dropped.into());
            put("queue_dropped", d.queue_dropped.into());
        }
        EventKind::RetransmissionMismatch {
            direction,
            offset,
            bytes,
            kept,
        } => {
            put("direction", direction.as_str().into());
            put("offset", (*offset).into());
            put("bytes", (*bytes).into());
            put("kept", kept.as_str().into());
        }
        EventKind::TimeJump {
            stamped,
            clock,
            accepted,
        } => {
            put("stamped_ts", ts(*stamped));
            put("clock_ts", ts(*clock));
            put("accepted", (*accepted).into());
        }
    }
    Value::Object(o)
}

/// A live capture's drop counters, as in the summary (`kwire stats --json`
/// has them too).
pub fn drops(d: &crate::capture::DropStats) -> Value {
    json!({
        "received": d.received,
        "dropped": d.dropped,
        "if_dropped": d.if_dropped,
        "queue_dropped": d.queue_dropped,
    })
}

fn summary(s: &Summary) -> Value {
    json!({
        "type": "summary",
        "packets": s.packets,
        "bytes": s.bytes,
        "truncated_packets": s.truncated_packets,
        "connections": s.connections,
        "kafka_connections": s.kafka_connections,
        "exchanges": s.exchanges,
        "answered": s.answered,
        "unanswered": s.unanswered,
        "orphans": s.orphans,
        "responses_before_request": s.responses_before_request,
        "events": s.events,
        "suppressed_events": s.suppressed_events,
        "packet_issues": s.packet_issues,
        "limits": s.limits.iter().map(|(l, n)| (l.as_str().to_string(), Value::from(*n))).collect::<Map<String, Value>>(),
        "memory": {
            "max_memory": s.memory.max_memory,
            "peak_bytes": s.memory.peak_bytes,
            "full": s.memory.full,
            "connections_shed": s.memory.connections_shed,
            "shed_frame_bytes": s.memory.shed.frame_bytes,
            "shed_response_bytes": s.memory.shed.response_bytes,
            "shed_request_bodies": s.memory.shed.request_bodies,
            "shed_requests": s.memory.shed.requests,
        },
        "drops": s.drops.as_ref().map(drops),
        "dropped_records": s.dropped_records,
        "time_jumps": s.time_jumps,
        "retransmission_mismatches": s.retransmission_mismatches,
        "tcp": {
            "segments": s.tcp.segments,
            "retransmitted_bytes": s.tcp.retransmitted_bytes,
            "out_of_order_segments": s.tcp.out_of_order_segments,
            "gap_bytes": s.tcp.gap_bytes,
            "evicted": s.tcp.evicted,
            "peak_buffered_bytes": s.tcp.peak_buffered_bytes,
            "retransmission_mismatches": s.tcp.retransmission_mismatches,
        },
        "ip_fragments": {
            "fragments": s.ip_fragments.fragments,
            "reassembled": s.ip_fragments.reassembled,
            "incomplete": s.ip_fragments.incomplete,
            "overlap_mismatches": s.ip_fragments.overlap_mismatches,
            "peak_buffered_bytes": s.ip_fragments.peak_buffered_bytes,
        },
    })
}
