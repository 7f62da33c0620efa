//! One decoded body as a flat list of tree lines.
//!
//! The tree is flattened once, when the detail opens, into [`Item`]s in
//! pre-order: each knows its depth, its parent and where its subtree ends,
//! so that the visible lines are found by skipping collapsed subtrees, with
//! no recursion per frame. Every item carries the bytes of the body it was
//! read from, when they are known, for the hex view.
//!
//! Contract: no panic on any body (the tree, the records and the embedded
//! protocols come from hostile bytes); the number of items is bounded by the
//! body's size (each schema node stands for at least one byte of it) plus, per
//! `records` field, at most [`MAX_RECORD_LINES`] lines of records.

use crate::present::noun;
use std::ops::Range;

use crate::capture::Timestamp;
use crate::kafka::embedded::{Embedded, GroupProtocol, Role, SaslMessage};
use crate::kafka::errors::ErrorCode;
use crate::kafka::records::{Batch, Compression, Message, Payload, Record, RecordBatch, RecordSet};
use crate::kafka::schema::value::uuid_string;
use crate::kafka::schema::{DecodeErrorKind, Node, Value};
use crate::session::Body;
use crate::tui::theme::glyph;

/// Parent of a top-level item.
pub(super) const NO_PARENT: u32 = u32::MAX;

/// Most lines listing the batches and records of one `records` field; the
/// records beyond are counted on a last `… N more records` line.
pub(super) const MAX_RECORD_LINES: usize = 1000;

/// Characters of a string or payload shown before it is cut.
const MAX_TEXT: usize = 60;
/// Characters of a collapsed struct's preview.
const MAX_PREVIEW: usize = 60;

/// What a piece of a line means, for the theme to style.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Tone {
    Text,
    Dim,
    Name,
    Header,
    Ok,
    Warning,
    Retriable,
    Fatal,
}

/// One line of the tree.
#[derive(Clone, Debug)]
pub(super) struct Item {
    pub depth: u16,
    /// Index of the parent item, or [`NO_PARENT`].
    pub parent: u32,
    /// One past the index of the last item of the subtree.
    pub end: u32,
    /// Bytes of the body, when known (else the nearest ancestor's apply).
    pub range: Option<Range<u32>>,
    pub name: String,
    /// Dim, right after the name: an array's ` [3]`.
    pub suffix: String,
    pub value: String,
    pub tone: Tone,
    /// Dim, after the value, when the item is collapsed: a struct's first
    /// fields.
    pub preview: String,
    /// The gravest error or warning in the subtree (shown on a collapsed
    /// item).
    pub inner: Option<Tone>,
}

impl Item {
    pub fn has_children(&self, index: usize) -> bool {
        self.end as usize > index + 1
    }
}

/// Flatten `body` (whose bytes are `len` long; `complete` unless the
/// capture lost part of the message).
pub(super) fn build(body: &Body, len: usize, complete: bool) -> Vec<Item> {
    let mut b = Builder {
        body,
        items: Vec::new(),
        stack: Vec::new(),
    };
    for n in body.tree().children() {
        b.node(n, None, 0, true);
    }
    let len32 = u32::try_from(len).unwrap_or(u32::MAX);
    if let Some(e) = &body.error
        && complete
    {
        let at = u32::try_from(e.offset).unwrap_or(u32::MAX).min(len32);
        let rest = Some(at..len32);
        let path = if e.path.is_empty() {
            String::new()
        } else {
            format!(" ({})", e.path)
        };
        let (name, value, tone) = match e.kind {
            DecodeErrorKind::TrailingBytes => (
                "trailing bytes",
                format!(
                    "{} {} after the last field",
                    len32 - at,
                    noun((len32 - at) as usize, "byte", "bytes")
                ),
                Tone::Dim,
            ),
            DecodeErrorKind::UnknownMessage => (
                "not decoded",
                format!("no message defined for this API key; {len} bytes"),
                Tone::Warning,
            ),
            DecodeErrorKind::UnknownVersion => (
                "not decoded",
                format!("version unknown for this API; {len} bytes"),
                Tone::Warning,
            ),
            DecodeErrorKind::Truncated => (
                "decode error",
                format!("{} truncated at byte {}{path}", glyph::GAP, e.offset),
                Tone::Warning,
            ),
            DecodeErrorKind::Invalid(why) => (
                "decode error",
                format!("{} {why} at byte {}{path}", glyph::GAP, e.offset),
                Tone::Warning,
            ),
        };
        b.leaf(name.to_string(), rest, value, tone);
        if tone == Tone::Warning {
            b.flag(Tone::Warning);
        }
    }
    b.items
}

struct Builder<'b> {
    body: &'b Body,
    items: Vec<Item>,
    /// Indexes of the items whose subtree is being built.
    stack: Vec<u32>,
}

fn shifted(r: &Range<u32>, by: u32) -> Range<u32> {
    r.start.saturating_add(by)..r.end.saturating_add(by)
}

fn is_error_field(name: &str) -> bool {
    crate::kafka::schema::is_error_code_name(name)
}

impl Builder<'_> {
    /// Start an item whose children follow until [`Builder::close`].
    fn open(
        &mut self,
        name: String,
        range: Option<Range<u32>>,
        value: String,
        tone: Tone,
    ) -> usize {
        let i = self.items.len();
        self.items.push(Item {
            depth: u16::try_from(self.stack.len()).unwrap_or(u16::MAX),
            parent: self.stack.last().copied().unwrap_or(NO_PARENT),
            end: 0,
            range,
            name,
            suffix: String::new(),
            value,
            tone,
            preview: String::new(),
            inner: None,
        });
        self.stack.push(i as u32);
        i
    }

    fn close(&mut self) {
        if let Some(i) = self.stack.pop() {
            self.items[i as usize].end = self.items.len() as u32;
        }
    }

    fn leaf(
        &mut self,
        name: String,
        range: Option<Range<u32>>,
        value: String,
        tone: Tone,
    ) -> usize {
        let i = self.open(name, range, value, tone);
        self.close();
        i
    }

    /// Mark the items being built as holding something of `tone`.
    fn flag(&mut self, tone: Tone) {
        for &i in &self.stack {
            let inner = &mut self.items[i as usize].inner;
            *inner = Some(inner.map_or(tone, |t| t.max(tone)));
        }
    }

    /// A schema node; `shift` maps its range to the body (embedded trees);
    /// `embedded_ok`: its bytes fields may hold an embedded protocol.
    fn node(&mut self, n: &Node, index: Option<usize>, shift: u32, embedded_ok: bool) {
        let name = match (index, &n.value) {
            (Some(i), _) => format!("[{i}]"),
            (None, Value::UnknownTagged { tag, .. }) => format!("tag {tag}"),
            _ => n.name.to_string(),
        };
        let range = Some(shifted(&n.range, shift));
        match &n.value {
            Value::Bool(v) => {
                self.leaf(name, range, v.to_string(), Tone::Text);
            }
            Value::Int(v) if is_error_field(n.name) => {
                if *v == 0 {
                    self.leaf(name, range, "0".to_string(), Tone::Text);
                } else {
                    let code = ErrorCode(*v as i16);
                    let (g, tone) = if code.is_retriable() {
                        (glyph::RETRIABLE, Tone::Retriable)
                    } else {
                        (glyph::FATAL, Tone::Fatal)
                    };
                    self.leaf(name, range, format!("{v} {} {g}", code.name()), tone);
                    self.flag(tone);
                }
            }
            Value::Int(v) => {
                self.leaf(name, range, v.to_string(), Tone::Text);
            }
            Value::Float(v) => {
                self.leaf(name, range, v.to_string(), Tone::Text);
            }
            Value::Str(s) => {
                self.leaf(name, range, quoted(s, MAX_TEXT), Tone::Name);
            }
            Value::Uuid(u) => {
                let i = self.leaf(name, range, uuid_string(u), Tone::Text);
                // The topic's name, known from elsewhere in the capture.
                if shift == 0
                    && n.name == "topicId"
                    && let Some(t) = self.body.topic_names.at(n.range.start)
                {
                    self.items[i].suffix = format!(" ({t})");
                }
            }
            Value::Null => {
                self.leaf(name, range, "null".to_string(), Tone::Dim);
            }
            Value::UnknownTagged { data, .. } => {
                let i = self.leaf(name, range, format!("{} bytes", data.len()), Tone::Dim);
                self.items[i].suffix = " (unknown tagged field)".to_string();
            }
            Value::Bytes(data) => self.bytes(n, name, data, embedded_ok, shift),
            Value::Records(r) => self.records(name, range, r),
            Value::Array(elements) => {
                let i = self.open(name, range, String::new(), Tone::Text);
                self.items[i].suffix = format!(" [{}]", elements.len());
                for (k, e) in elements.iter().enumerate() {
                    self.node(e, Some(k), shift, embedded_ok);
                }
                self.close();
            }
            Value::Struct(fields) => {
                let i = self.open(name, range, String::new(), Tone::Text);
                self.items[i].preview = preview(fields);
                for f in fields {
                    self.node(f, None, shift, embedded_ok);
                }
                self.close();
            }
        }
    }

    fn bytes(&mut self, n: &Node, name: String, data: &[u8], embedded_ok: bool, shift: u32) {
        let range = Some(shifted(&n.range, shift));
        let found = embedded_ok
            .then(|| {
                self.body
                    .embedded
                    .iter()
                    .find(|(at, _)| *at == n.range.start)
            })
            .flatten();
        let Some((_, e)) = found else {
            let value = format!("{} bytes", data.len());
            self.leaf(name, range, value, Tone::Text);
            return;
        };
        // The embedded tree's ranges count from the bytes field's data.
        let data_start = n.range.end.saturating_sub(data.len() as u32);
        let what = match e {
            Embedded::Group {
                protocol,
                role,
                version,
                ..
            } => {
                let role = match (protocol, role) {
                    (GroupProtocol::Consumer, Role::Metadata) => "subscription",
                    (GroupProtocol::Connect, Role::Metadata) => "worker metadata",
                    (_, Role::Assignment) => "assignment",
                };
                format!("{} {role} v{version}", protocol.as_str())
            }
            Embedded::Sasl {
                mechanism, message, ..
            } => {
                if *message == SaslMessage::Plain {
                    format!("SASL {}", mechanism.as_str())
                } else {
                    format!("SASL {} {}", mechanism.as_str(), message.as_str())
                }
            }
        };
        let value = format!("{} bytes · {what}", data.len());
        self.open(name, range, value, Tone::Text);
        if let Embedded::Group { version, .. } = e {
            let r = data_start..data_start.saturating_add(2);
            self.leaf(
                "version".to_string(),
                Some(r),
                version.to_string(),
                Tone::Text,
            );
        }
        for f in e.tree().children() {
            self.node(f, None, data_start, false);
        }
        self.close();
    }

    fn records(&mut self, name: String, range: Option<Range<u32>>, r: &Range<u32>) {
        let Some((_, set)) = self.body.records.iter().find(|(at, _)| *at == r.start) else {
            let value = format!("{} bytes of records", r.len());
            self.leaf(name, range, value, Tone::Text);
            return;
        };
        let batches = set.batches.len();
        let records: usize = set.batches.iter().map(record_count).sum();
        let value = format!(
            "{batches} {}, {records} {}",
            noun(batches, "batch", "batches"),
            noun(records, "record", "records")
        );
        self.open(name, range, value, Tone::Text);
        self.record_set(set, r.start, r.end);
        self.close();
    }

    /// The batches of a records field whose data spans `base..end` of the
    /// body.
    fn record_set(&mut self, set: &RecordSet, base: u32, end: u32) {
        let limit = self.items.len() + MAX_RECORD_LINES;
        let mut not_listed = 0usize;
        for (k, b) in set.batches.iter().enumerate() {
            if not_listed > 0 || self.items.len() >= limit {
                not_listed += listed_records(b).max(1);
                continue;
            }
            not_listed += match b {
                Batch::V2(b) => self.batch(k, b, base, limit),
                Batch::Legacy(m) => self.message(&format!("message {k}"), m, Some(base), limit),
            };
        }
        if not_listed > 0 {
            let value = format!("{not_listed} more records not listed");
            self.leaf("…".to_string(), None, value, Tone::Dim);
        }
        for issue in &set.issues {
            let at = base.saturating_add(issue.position as u32);
            let value = format!(
                "{} {} at byte {}: {}",
                glyph::GAP,
                issue.kind.as_str(),
                issue.position,
                issue.detail
            );
            let r = set
                .batches
                .iter()
                .find(|b| b.position() == issue.position)
                .map_or(at..at.saturating_add(1), |b| entry_range(b, base));
            self.leaf("issue".to_string(), Some(r), value, Tone::Warning);
            self.flag(Tone::Warning);
        }
        if set.issues_omitted > 0 {
            let value = format!("{} more issues", set.issues_omitted);
            self.leaf("…".to_string(), None, value, Tone::Dim);
        }
        if set.partial_tail_bytes > 0 {
            let n = set.partial_tail_bytes as u32;
            let value = format!(
                "{n} bytes of a batch cut short (a fetch's size limit cuts the last batch)"
            );
            self.leaf(
                "partial batch".to_string(),
                Some(end.saturating_sub(n)..end),
                value,
                Tone::Dim,
            );
        }
    }

    /// A RecordBatch; returns how many of its records were left out for
    /// the line limit.
    fn batch(&mut self, k: usize, b: &RecordBatch, base: u32, limit: usize) -> usize {
        let start = base.saturating_add(b.position as u32);
        let at = |from: u32, to: u32| Some(start.saturating_add(from)..start.saturating_add(to));
        let a = b.attributes;
        let mut value = format!(
            "offsets {}..{}, {} {}, {}",
            b.base_offset,
            b.base_offset.saturating_add(i64::from(b.last_offset_delta)),
            b.record_count,
            noun(b.record_count.max(0) as usize, "record", "records"),
            a.compression().name()
        );
        if b.producer_id >= 0 {
            value.push_str(&format!(
                ", producer {}/{}",
                b.producer_id, b.producer_epoch
            ));
        }
        if a.is_transactional() {
            value.push_str(", transactional");
        }
        if a.is_control() {
            value.push_str(", control");
        }
        let bad_crc = b.crc_checked && !b.crc_valid;
        self.open(
            format!("batch {k}"),
            Some(entry_at(base, b.position, b.batch_length)),
            value,
            Tone::Text,
        );
        let h = self.open("header".to_string(), at(0, 61), String::new(), Tone::Text);
        let crc = if !b.crc_checked {
            String::new()
        } else if b.crc_valid {
            " ok".to_string()
        } else {
            format!(" MISMATCH {}", glyph::FATAL)
        };
        self.items[h].preview = format!(
            "magic {} crc{} {} seq {}",
            b.magic,
            if crc.is_empty() { " -" } else { &crc },
            a.timestamp_type().name(),
            b.base_sequence
        );
        let fields: [(&str, u32, u32, String); 13] = [
            ("baseOffset", 0, 8, b.base_offset.to_string()),
            ("batchLength", 8, 12, b.batch_length.to_string()),
            (
                "partitionLeaderEpoch",
                12,
                16,
                b.partition_leader_epoch.to_string(),
            ),
            ("magic", 16, 17, b.magic.to_string()),
            ("crc", 17, 21, format!("0x{:08x}{crc}", b.crc)),
            ("attributes", 21, 23, attributes(b)),
            ("lastOffsetDelta", 23, 27, b.last_offset_delta.to_string()),
            ("baseTimestamp", 27, 35, timestamp(b.base_timestamp)),
            ("maxTimestamp", 35, 43, timestamp(b.max_timestamp)),
            ("producerId", 43, 51, b.producer_id.to_string()),
            ("producerEpoch", 51, 53, b.producer_epoch.to_string()),
            ("baseSequence", 53, 57, b.base_sequence.to_string()),
            ("recordCount", 57, 61, b.record_count.to_string()),
        ];
        for (name, from, to, value) in fields {
            let tone = if name == "crc" && bad_crc {
                Tone::Fatal
            } else {
                Tone::Text
            };
            self.leaf(name.to_string(), at(from, to), value, tone);
            if tone == Tone::Fatal {
                self.flag(Tone::Fatal);
            }
        }
        self.close();
        let end = start
            .saturating_add(12)
            .saturating_add(b.batch_length.max(0) as u32);
        let area = start.saturating_add(61)..end.max(start.saturating_add(61));
        if a.compression() != Compression::NONE {
            let mut v = format!("{} bytes {}", area.len(), a.compression().name());
            if let Some(n) = b.decompressed_size {
                v.push_str(&format!(", {n} decompressed"));
            }
            self.leaf("compressed".to_string(), Some(area.clone()), v, Tone::Text);
        }
        // Records' bytes are known when they are not compressed and all
        // were read; otherwise they are somewhere in the batch.
        let mut pos = (a.compression() == Compression::NONE
            && b.records.len() == b.record_count.max(0) as usize)
            .then_some(area.start);
        let mut left = 0;
        for (i, r) in b.records.iter().enumerate() {
            if self.items.len() >= limit {
                left = b.records.len() - i;
                break;
            }
            let layout = pos
                .and_then(|p| RecordLayout::of(r, p))
                .filter(|l| l.all.end <= end);
            pos = layout.as_ref().map(|l| l.all.end);
            self.record(i, r, layout);
        }
        self.close();
        left
    }

    fn record(&mut self, i: usize, r: &Record, layout: Option<RecordLayout>) {
        let (key, _) = payload(&r.key, 24);
        let (value, _) = payload(&r.value, 40);
        let summary = match &r.control {
            Some(c) => format!("offset {} · control {}", r.offset, c.kind.name()),
            None => format!(
                "offset {} · {} · key {key} · value {value}",
                r.offset,
                clock(r.timestamp)
            ),
        };
        let l = layout.as_ref();
        let all = l.map(|l| l.all.clone());
        self.open(format!("record {i}"), all, summary, Tone::Text);
        self.leaf(
            "timestamp".to_string(),
            l.map(|l| l.timestamp_delta.clone()),
            format!("{} (delta {})", timestamp(r.timestamp), r.timestamp_delta),
            Tone::Text,
        );
        self.leaf(
            "offset".to_string(),
            l.map(|l| l.offset_delta.clone()),
            format!("{} (delta {})", r.offset, r.offset_delta),
            Tone::Text,
        );
        let (v, t) = payload(&r.key, MAX_TEXT);
        self.leaf("key".to_string(), l.map(|l| l.key.clone()), v, t);
        let (v, t) = payload(&r.value, MAX_TEXT);
        self.leaf("value".to_string(), l.map(|l| l.value.clone()), v, t);
        if let Some(c) = &r.control {
            let mut v = format!("{} (key version {})", c.kind.name(), c.version);
            if let Some(e) = c.coordinator_epoch {
                v.push_str(&format!(", coordinatorEpoch {e}"));
            }
            self.leaf("control".to_string(), None, v, Tone::Text);
        }
        if r.header_count > 0 || !r.headers.is_empty() {
            let i = self.open(
                "headers".to_string(),
                l.map(|l| l.headers.clone()),
                String::new(),
                Tone::Text,
            );
            self.items[i].suffix = format!(" [{}]", r.header_count);
            for (k, h) in r.headers.iter().enumerate() {
                let name = match std::str::from_utf8(&h.key.data) {
                    Ok(s) if !h.key.is_null() => cut(s, 32),
                    _ => format!("[{k}]"),
                };
                let (v, t) = payload(&h.value, MAX_TEXT);
                self.leaf(name, l.and_then(|l| l.each_header.get(k).cloned()), v, t);
            }
            self.close();
        }
        self.close();
    }

    /// A legacy message; `base` is the body offset of its set when the
    /// message is at the top level (a nested message's bytes are
    /// compressed). Returns how many messages were left out for the line
    /// limit.
    fn message(&mut self, name: &str, m: &Message, base: Option<u32>, limit: usize) -> usize {
        let range = base.map(|b| {
            let s = b.saturating_add(m.position as u32);
            s..s.saturating_add(12)
                .saturating_add(m.message_size.max(0) as u32)
        });
        let start = range.as_ref().map(|r| r.start);
        let at = |from: u32, to: u32| start.map(|s| s.saturating_add(from)..s.saturating_add(to));
        let codec = m.compression();
        let mut value = format!("offset {}, magic {}, {}", m.offset, m.magic, codec.name());
        if !m.messages.is_empty() || codec != Compression::NONE {
            let n = m.messages.len();
            value.push_str(&format!(
                ", wrapper of {n} {}",
                noun(n, "message", "messages")
            ));
        } else {
            let (k, _) = payload(&m.key, 24);
            let (v, _) = payload(&m.value, 40);
            value.push_str(&format!(" · key {k} · value {v}"));
        }
        self.open(name.to_string(), range, value, Tone::Text);
        self.leaf(
            "offset".to_string(),
            at(0, 8),
            m.offset.to_string(),
            Tone::Text,
        );
        let size = m.message_size.to_string();
        self.leaf("messageSize".to_string(), at(8, 12), size, Tone::Text);
        let crc_ok = if m.crc_valid {
            " ok".to_string()
        } else {
            format!(" MISMATCH {}", glyph::FATAL)
        };
        let tone = if m.crc_valid { Tone::Text } else { Tone::Fatal };
        let crc = format!("0x{:08x}{crc_ok}", m.crc);
        self.leaf("crc".to_string(), at(12, 16), crc, tone);
        if tone == Tone::Fatal {
            self.flag(tone);
        }
        self.leaf(
            "magic".to_string(),
            at(16, 17),
            m.magic.to_string(),
            Tone::Text,
        );
        let attrs = format!(
            "0x{:02x} {} {}",
            m.attributes,
            codec.name(),
            m.timestamp_type().name()
        );
        self.leaf("attributes".to_string(), at(17, 18), attrs, Tone::Text);
        let mut p = 18;
        if let Some(ts) = m.timestamp {
            self.leaf(
                "timestamp".to_string(),
                at(18, 26),
                timestamp(ts),
                Tone::Text,
            );
            p = 26;
        }
        let klen = m.key.size.unwrap_or(0).saturating_add(4);
        let (v, t) = payload(&m.key, MAX_TEXT);
        self.leaf("key".to_string(), at(p, p.saturating_add(klen)), v, t);
        p = p.saturating_add(klen);
        let vlen = m.value.size.unwrap_or(0).saturating_add(4);
        let (v, t) = if m.messages.is_empty() && codec == Compression::NONE {
            payload(&m.value, MAX_TEXT)
        } else {
            (
                format!("{} bytes compressed", m.value.size.unwrap_or(0)),
                Tone::Text,
            )
        };
        self.leaf("value".to_string(), at(p, p.saturating_add(vlen)), v, t);
        let mut left = 0;
        if !m.messages.is_empty() {
            let i = self.open("messages".to_string(), None, String::new(), Tone::Text);
            self.items[i].suffix = format!(" [{}]", m.messages.len());
            for (k, inner) in m.messages.iter().enumerate() {
                if left > 0 || self.items.len() >= limit {
                    left += message_count(inner);
                    continue;
                }
                left += self.message(&format!("[{k}]"), inner, None, limit);
            }
            self.close();
        }
        self.close();
        left
    }
}

/// Where a v2 record's fields are in the body, from the sizes the record
/// declares (Kafka writes minimal varints); `None` when they do not add up
/// to its length.
struct RecordLayout {
    all: Range<u32>,
    timestamp_delta: Range<u32>,
    offset_delta: Range<u32>,
    key: Range<u32>,
    value: Range<u32>,
    headers: Range<u32>,
    each_header: Vec<Range<u32>>,
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn varint_len(v: i64) -> u64 {
    let z = zigzag(v);
    u64::from((64 - z.leading_zeros()).div_ceil(7).max(1))
}

fn payload_len(p: &Payload) -> u64 {
    varint_len(p.wire_size()) + u64::from(p.size.unwrap_or(0))
}

impl RecordLayout {
    fn of(r: &Record, start: u32) -> Option<RecordLayout> {
        if r.headers.len() != r.header_count as usize {
            return None;
        }
        let s = u64::from(start);
        let size_len = varint_len(i64::from(r.size));
        let mut p = s + size_len + 1;
        let mut take = |n: u64| {
            let from = p;
            p += n;
            from..p
        };
        let timestamp_delta = take(varint_len(r.timestamp_delta));
        let offset_delta = take(varint_len(i64::from(r.offset_delta)));
        let key = take(payload_len(&r.key));
        let value = take(payload_len(&r.value));
        let count = take(varint_len(i64::from(r.header_count)));
        let each: Vec<Range<u64>> = r
            .headers
            .iter()
            .map(|h| take(payload_len(&h.key) + payload_len(&h.value)))
            .collect();
        let end = each.last().map_or(count.end, |h| h.end);
        let headers = count.start..end;
        let all = s..end;
        if end - s - size_len != u64::from(r.size) || end > u64::from(u32::MAX) {
            return None;
        }
        let c = |r: Range<u64>| r.start as u32..r.end as u32;
        Some(RecordLayout {
            all: c(all),
            timestamp_delta: c(timestamp_delta),
            offset_delta: c(offset_delta),
            key: c(key),
            value: c(value),
            headers: c(headers),
            each_header: each.into_iter().map(c).collect(),
        })
    }
}

/// The bytes of a top-level entry of a records field at `base`.
fn entry_range(b: &Batch, base: u32) -> Range<u32> {
    match b {
        Batch::V2(b) => entry_at(base, b.position, b.batch_length),
        Batch::Legacy(m) => entry_at(base, m.position, m.message_size),
    }
}

/// The bytes of an entry at `pos` in a records field at `base`, of length
/// field `len`.
fn entry_at(base: u32, pos: usize, len: i32) -> Range<u32> {
    let s = base.saturating_add(pos as u32);
    s..s.saturating_add(12).saturating_add(len.max(0) as u32)
}

/// Records an entry declares (v2) or holds (legacy).
fn record_count(b: &Batch) -> usize {
    match b {
        Batch::V2(b) => b.record_count.max(0) as usize,
        Batch::Legacy(m) => message_count(m),
    }
}

fn message_count(m: &Message) -> usize {
    if m.messages.is_empty() {
        1
    } else {
        m.messages.iter().map(message_count).sum()
    }
}

/// Records of an entry that would be listed.
fn listed_records(b: &Batch) -> usize {
    match b {
        Batch::V2(b) => b.records.len(),
        Batch::Legacy(m) => message_count(m),
    }
}

fn attributes(b: &RecordBatch) -> String {
    let a = b.attributes;
    let mut s = format!(
        "0x{:04x} {} {}",
        a.0 as u16,
        a.compression().name(),
        a.timestamp_type().name()
    );
    if a.is_transactional() {
        s.push_str(" transactional");
    }
    if a.is_control() {
        s.push_str(" control");
    }
    if a.has_delete_horizon() {
        s.push_str(" deleteHorizon");
    }
    s
}

/// A struct's first scalar fields, `name=value`, for a collapsed line.
fn preview(fields: &[Node]) -> String {
    let mut s = String::new();
    for f in fields {
        let v = match &f.value {
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(x) => x.to_string(),
            Value::Str(t) => quoted(t, 24),
            Value::Uuid(u) => cut(&uuid_string(u), 9),
            Value::Null => "null".to_string(),
            Value::Bytes(b) => format!("{}B", b.len()),
            Value::Array(a) => format!("[{}]", a.len()),
            Value::Records(_) | Value::Struct(_) | Value::UnknownTagged { .. } => continue,
        };
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(f.name);
        s.push('=');
        s.push_str(&v);
        if s.chars().count() >= MAX_PREVIEW {
            return cut(&s, MAX_PREVIEW);
        }
    }
    s
}

/// `s` cut to `max` characters, `…` marking the cut.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max.saturating_sub(1)) {
        Some((i, _)) if s[i..].chars().nth(1).is_some() => format!("{}…", &s[..i]),
        _ => s.to_string(),
    }
}

/// A string quoted, escaped, and cut to about `max` characters.
fn quoted(s: &str, max: usize) -> String {
    let escaped: String = s
        .chars()
        .take(max + 1)
        .flat_map(char::escape_debug)
        .collect();
    format!("\"{}\"", cut(&escaped, max))
}

/// A key, value or header value: quoted text when it is text, else hex.
fn payload(p: &Payload, max: usize) -> (String, Tone) {
    let Some(size) = p.size else {
        return ("null".to_string(), Tone::Dim);
    };
    if p.data.is_empty() && size > 0 {
        return (format!("{size} bytes"), Tone::Text);
    }
    let text = match std::str::from_utf8(&p.data) {
        Ok(s) => Some(s),
        Err(e) if p.truncated && e.error_len().is_none() => {
            std::str::from_utf8(&p.data[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    }
    .filter(|s| {
        !s.chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    });
    let shown = match text {
        Some(s) => quoted(s, max),
        None => {
            let n = (max / 2).min(p.data.len());
            let mut h = String::from("0x");
            for b in &p.data[..n] {
                h.push_str(&format!("{b:02x}"));
            }
            if n < p.data.len() {
                h.push('…');
            }
            h
        }
    };
    if p.truncated || shown.ends_with('…') || shown.ends_with("…\"") {
        (format!("{shown} ({size} bytes)"), Tone::Text)
    } else {
        (shown, Tone::Text)
    }
}

/// Milliseconds since the epoch, with the UTC time when plausible.
fn timestamp(ms: i64) -> String {
    match utc(ms) {
        Some(t) => format!("{ms} ({t})"),
        None => ms.to_string(),
    }
}

/// `HH:MM:SS.mmm` of a timestamp in milliseconds, or the number.
fn clock(ms: i64) -> String {
    match utc(ms) {
        Some(t) => t.get(11..23).unwrap_or(&t).to_string(),
        None => ms.to_string(),
    }
}

/// `2026-01-02T23:49:33.174Z`, for years 1970 to 9999.
fn utc(ms: i64) -> Option<String> {
    if !(0..=253_402_300_799_999).contains(&ms) {
        return None;
    }
    let t = Timestamp::new(ms / 1000, (ms % 1000) as u32 * 1_000_000).rfc3339();
    // "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" → milliseconds.
    Some(format!("{}Z", t.get(..23)?))
}
