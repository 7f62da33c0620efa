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
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::capture::Timestamp;
use crate::kafka::ApiKey;
use crate::kafka::schema::JsonOptions;
use crate::kafka::schema::json::{self, Obj, Splice};
use crate::kafka::{embedded, records};
use crate::session::{
    Body, CaptureInfo, Event, EventKind, Exchange, MessageInfo, PacketIssue, Record, RecordSink,
    Render, Status, Summary,
};

/// Version of the NDJSON format; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

/// Writes records as NDJSON.
pub struct NdjsonWriter<W: Write> {
    out: W,
    /// The line being written.
    buf: Vec<u8>,
    /// Flush after every record (live capture, so readers see lines at once).
    pub flush_each: bool,
}

impl<W: Write> NdjsonWriter<W> {
    pub fn new(out: W) -> Self {
        NdjsonWriter {
            out,
            buf: Vec::new(),
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

impl<W: Write> NdjsonWriter<W> {
    fn line(&mut self, r: &Record, line: &[u8]) -> io::Result<()> {
        self.out.write_all(line)?;
        if self.flush_each || matches!(r, Record::Summary(_)) {
            self.out.flush()?;
        }
        Ok(())
    }
}

impl<W: Write> RecordSink for NdjsonWriter<W> {
    fn record(&mut self, r: Record) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        Lines.render(&r, &mut buf);
        let written = self.line(&r, &buf);
        if buf.capacity() <= KEEP_BUFFER {
            self.buf = buf;
        }
        written
    }

    fn renderer(&self) -> Option<Arc<dyn Render>> {
        Some(Arc::new(Lines))
    }

    fn record_rendered(&mut self, r: Record, rendered: Option<&[u8]>) -> io::Result<()> {
        match rendered {
            Some(line) => self.line(&r, line),
            None => self.record(r),
        }
    }
}

/// The NDJSON line of a record, newline included (what [`NdjsonWriter`]
/// writes, rendered on any thread).
pub struct Lines;

impl Render for Lines {
    fn render(&self, r: &Record, out: &mut Vec<u8>) -> bool {
        write_record(r, out);
        out.push(b'\n');
        true
    }
}

/// Capacity of the line buffer kept between records (a larger one, from a
/// huge body, is let go).
const KEEP_BUFFER: usize = 1 << 20;

/// The JSON object for a record, as a value (for tests and single
/// exports; the writer writes lines straight from the records).
pub fn to_json(r: &Record) -> Value {
    match r {
        Record::Capture(c) => capture(c),
        Record::Exchange(e) => {
            let mut out = Vec::new();
            exchange(e, &mut out);
            serde_json::from_slice(&out).unwrap_or(Value::Null)
        }
        Record::Event(e) => event(e),
        Record::Summary(s) => summary(s),
    }
}

/// Write a record's JSON object into `out` (no newline).
pub fn write_record(r: &Record, out: &mut Vec<u8>) {
    match r {
        Record::Exchange(e) => exchange(e, out),
        r => {
            // Writing into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, &to_json(r));
        }
    }
}

fn ts(t: Timestamp) -> Value {
    Value::String(t.rfc3339())
}

fn capture(c: &CaptureInfo) -> Value {
    let mut v = json!({
        "type": "capture",
        "format_version": FORMAT_VERSION,
        "kwire_version": env!("CARGO_PKG_VERSION"),
        "source": c.source,
        "format": c.format.as_str(),
        "link_types": c.link_types.iter().map(|l| l.name()).collect::<Vec<_>>(),
        "filter": c.filter,
    });
    if !c.merged.is_empty()
        && let Value::Object(o) = &mut v
    {
        let list: Vec<Value> = c
            .merged
            .iter()
            .enumerate()
            .map(|(i, m)| {
                json!({
                    "index": i,
                    "source": m.source,
                    "format": m.format.as_str(),
                    "link_types": m.link_types.iter().map(|l| l.name()).collect::<Vec<_>>(),
                    "clock_offset_ns": clamp_i64(m.clock.offset_ns),
                    "offset_error_ns": clamp_i64(m.clock.error_ns),
                    "clock_drift_ppb": m.clock.drift_ppb,
                    "offset_from": m.clock.from.as_str(),
                    "compared_with": m.clock.compared_with,
                    "shared_segments": m.clock.shared_segments,
                    "shared_connections": m.clock.shared_connections,
                })
            })
            .collect();
        o.insert("captures".into(), Value::Array(list));
    }
    v
}

/// Nanoseconds as JSON's integers hold them.
fn clamp_i64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

fn message(out: &mut Vec<u8>, m: &MessageInfo, api_version: i16, body: Option<&Body>) {
    let mut o = Obj::new(out);
    o.int("frame", m.frame as i64);
    if m.first_frame != m.frame {
        o.int("first_frame", m.first_frame as i64);
    }
    let out = o.key("ts");
    out.push(b'"');
    m.ts.write_rfc3339(out);
    out.push(b'"');
    o.int("size", i64::from(m.size));
    if m.lost_bytes > 0 {
        o.int("lost_bytes", m.lost_bytes as i64);
    }
    if let Some(b) = body {
        body_fields(&mut o, api_version, b);
    }
    o.end();
}

/// A decoded body: `body` (Kafka's field names in camelCase, records and
/// embedded protocols decoded in place), and when applicable `schema_version` (the schema used,
/// when not the message's own version), `version_assumed`, `decode_error`
/// with `raw` (the body's bytes, base64), and `notes`.
fn body_fields(o: &mut Obj<'_>, api_version: i16, b: &Body) {
    let Some(spec) = b.message else {
        return;
    };
    let out = o.key("body");
    if b.error_code_only {
        // Only the error code is meaningful (see `Body::error_code_only`).
        let code = b.bytes.get(..2).map(|c| i16::from_be_bytes([c[0], c[1]]));
        let mut inner = Obj::new(out);
        if let Some(code) = code {
            inner.int("errorCode", i64::from(code));
        }
        inner.end();
    } else {
        let mut splice = Nested { body: b };
        json::write_message(
            spec,
            b.version,
            &b.bytes,
            0,
            &JsonOptions::default(),
            &mut splice,
            out,
        );
    }
    if b.version != api_version {
        o.int("schema_version", i64::from(b.version));
    }
    if b.assumed_version {
        o.raw("version_assumed", b"true");
    }
    if let Some(raw) = b.raw() {
        if let Some(e) = &b.error {
            let out = o.key("decode_error");
            let mut d = Obj::new(out);
            d.int("offset", e.offset as i64);
            d.str("path", &e.path);
            d.str("reason", &format!("{:?}", e.kind));
            d.end();
        }
        json::write_base64(o.key("raw"), raw);
    }
    if !b.notes.is_empty() {
        let out = o.key("notes");
        out.push(b'[');
        for (i, n) in b.notes.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::write_str(out, n);
        }
        out.push(b']');
    }
}

/// Writes the decoded records and embedded protocols of a body in place of
/// their fields.
struct Nested<'b> {
    body: &'b Body,
}

impl Splice for Nested<'_> {
    fn records(&mut self, start: u32, out: &mut Vec<u8>) -> bool {
        match self.body.records.iter().find(|(s, _)| *s == start) {
            Some((_, set)) => {
                records::write_json(set, set.mode, out);
                true
            }
            None => false,
        }
    }

    fn topic_name(&self, at: u32) -> Option<&str> {
        self.body.topic_names.at(at)
    }

    fn bytes(&mut self, at: u32, out: &mut Vec<u8>) -> bool {
        match self.body.embedded.iter().find(|(a, _)| *a == at) {
            Some((_, e)) => {
                let _ = serde_json::to_writer(&mut *out, &embedded::to_json(e));
                true
            }
            None => false,
        }
    }
}

fn exchange(e: &Exchange, out: &mut Vec<u8>) {
    let mut o = Obj::new(out);
    o.str("type", "exchange");
    o.int("stream", e.stream as i64);
    // Several captures read as one: which one's view (absent: the first).
    if e.capture != 0 || e.broker_side.is_some() {
        o.int("capture", i64::from(e.capture));
    }
    json::write_endpoint(o.key("client"), &e.client);
    json::write_endpoint(o.key("broker"), &e.broker);
    o.int("api_key", i64::from(e.api_key.0));
    o.str("api_name", e.api_key.name());
    o.int("api_version", i64::from(e.api_version));
    o.int("correlation_id", i64::from(e.correlation_id));
    match e.client_id.as_deref() {
        Some(c) => o.str("client_id", c),
        None => o.raw("client_id", b"null"),
    }
    message(
        o.key("request"),
        &e.request,
        e.api_version,
        e.request_body.as_deref(),
    );
    match &e.response {
        Some(m) => message(
            o.key("response"),
            m,
            e.api_version,
            e.response_body.as_deref(),
        ),
        None => o.raw("response", b"null"),
    }
    match e.latency_us() {
        Some(l) => o.int("latency_us", l),
        None => o.raw("latency_us", b"null"),
    }
    if e.response_first() {
        o.raw("response_first", b"true");
    }
    if let Some(b) = &e.broker_side {
        // Several captures: the client's side is this exchange, the
        // broker's beside it.
        let out = o.key("broker_side");
        let mut x = Obj::new(out);
        x.int("capture", i64::from(b.capture));
        x.int("stream", b.stream as i64);
        json::write_endpoint(x.key("client"), &b.client);
        json::write_endpoint(x.key("broker"), &b.broker);
        message(x.key("request"), &b.request, e.api_version, None);
        match &b.response {
            Some(m) => message(x.key("response"), m, e.api_version, None),
            None => x.raw("response", b"null"),
        }
        match b.latency_us() {
            Some(l) => x.int("latency_us", l),
            None => x.raw("latency_us", b"null"),
        }
        x.end();
        if let Some((b, n)) = e.split_us() {
            o.int("broker_us", b);
            o.int("network_us", n);
        }
    }
    o.str("status", e.status.as_str());
    if let Status::NoResponse(why) = e.status {
        o.str("reason", why.as_str());
    }
    let out = o.key("errors");
    out.push(b'[');
    for (i, er) in e.errors.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let mut x = Obj::new(out);
        x.int("code", i64::from(er.code));
        x.str("name", er.name);
        x.str("path", &er.path);
        x.end();
    }
    out.push(b']');
    o.end();
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
            ..
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
        EventKind::Tls(t) => {
            let i = &t.info;
            put("client", t.client.to_string().into());
            put("server", t.server.to_string().into());
            put("kafka", t.kafka.into());
            put("version", t.version_name().map_or(Value::Null, Value::from));
            put(
                "cipher",
                i.cipher.map_or(Value::Null, |c| {
                    crate::tls::cipher_name(c)
                        .map_or_else(|| format!("0x{c:04x}"), str::to_string)
                        .into()
                }),
            );
            put("sni", i.sni.clone().map_or(Value::Null, Value::from));
            put("alpn", i.alpn.clone().into());
            put("keys", tls_keys(i.keys).into());
            put("decrypted", t.decrypted().into());
            put(
                "unread_reason",
                t.unread_reason().map_or(Value::Null, Value::from),
            );
            put("server_answered", i.server_answered.into());
            put(
                "server_cert",
                i.server_cert.as_ref().map_or(Value::Null, |c| {
                    json!({
                        "subject": c.subject,
                        "not_after": c.not_after.map(|t| crate::capture::Timestamp::new(t, 0).rfc3339()),
                    })
                }),
            );
            put("records", i.records.into());
            put("decrypted_bytes", i.decrypted_bytes.into());
            put("undecryptable_records", i.undecryptable_records.into());
            put("decrypt_failures", t.decrypt_failures.into());
            put("resyncs", t.resyncs.into());
            put(
                "alerts",
                i.alerts
                    .iter()
                    .map(|a| {
                        json!({
                            "level": if a.level == 2 { "fatal" } else { "warning" },
                            "description": a.name,
                            "code": a.description,
                            "from": if a.from == t.client_dir { "client" } else { "server" },
                            "encrypted": a.encrypted,
                        })
                    })
                    .collect::<Vec<_>>()
                    .into(),
            );
        }
    }
    Value::Object(o)
}

/// The `keys` of a `tls` event.
fn tls_keys(k: crate::tls::KeyState) -> &'static str {
    use crate::tls::KeyState;
    match k {
        KeyState::Found => "found",
        KeyState::Missing => "missing",
        KeyState::Unsupported(_) => "unsupported",
        KeyState::Unknown => "unknown",
    }
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
    let mut v = json!({
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
    });
    if let (Some(m), Value::Object(o)) = (&s.merge, &mut v) {
        o.insert(
            "merge".into(),
            json!({
                "paired": m.paired,
                "seen": m.seen,
                "packets": m.packets,
                "released_early": m.released_early,
                "late": m.late,
            }),
        );
    }
    v
}
