//! JSON straight from the bytes: a [`Visit`] that writes a message body as
//! JSON while the walker reads it, with no tree in between.
//!
//! The output has the values [`to_json_with`](super::to_json_with) gives for
//! the same bytes (the golden tests compare them as parsed JSON); keys follow
//! the schema's field order, as Kafka's own request log prints them, and
//! unknown tagged fields come last under `_unknownTaggedFields`.
//! Bytes fields that hold a decoded protocol and `records` fields are handed
//! to a [`Splice`], which writes their decoded form in place.

use std::io::Write as _;

use super::spec::{FieldSpec, MessageSpec};
use super::value::{JsonOptions, Step};
use super::walk::{Reader, Scalar, Visit, Walked, read_scalar, regular, walk_message};

/// Writes decoded forms in place of raw fields.
pub trait Splice {
    /// Write the decoded records whose data starts at `start` in the body;
    /// false to leave the `{"bytes": N}` placeholder.
    fn records(&mut self, start: u32, out: &mut Vec<u8>) -> bool;
    /// Write the decoded protocol held by the bytes field whose node starts
    /// at `at`; false to write the bytes.
    fn bytes(&mut self, at: u32, out: &mut Vec<u8>) -> bool;
    /// The name of the topic whose `topicId` field starts at `at`, when
    /// known from elsewhere: written as `topicName` after the id (the
    /// default: none).
    fn topic_name(&self, at: u32) -> Option<&str> {
        let _ = at;
        None
    }
}

/// No splicing: records as placeholders, bytes as base64.
pub struct NoSplice;
impl Splice for NoSplice {
    fn records(&mut self, _: u32, _: &mut Vec<u8>) -> bool {
        false
    }
    fn bytes(&mut self, _: u32, _: &mut Vec<u8>) -> bool {
        false
    }
}

/// Write `buf[start..]`, a `spec` message at `version`, as a JSON object
/// into `out`; what was read (the error, if any) is returned. A body that
/// fails to decode is written up to the error, as the tree would hold it.
pub fn write_message<S: Splice>(
    spec: &'static MessageSpec,
    version: i16,
    buf: &[u8],
    start: usize,
    opts: &JsonOptions,
    splice: &mut S,
    out: &mut Vec<u8>,
) -> Walked {
    let mut w = JsonVisit {
        out,
        opts,
        splice,
        opened: Vec::new(),
        levels: Vec::new(),
        base: buf.as_ptr() as usize,
        fixed_at: None,
    };
    w.begin_struct();
    let walked = walk_message(spec, version, buf, start, &mut w);
    w.end_struct();
    walked
}

/// A value opened and not yet closed.
struct Opened {
    /// Output length before its separator and key (what an abort restores).
    mark: usize,
    /// The enclosing level's `first` before it.
    was_first: bool,
    /// Where its node starts in the body.
    at: u32,
}

/// An object or array being written.
struct Level {
    first: bool,
    /// Unknown tagged fields of an object, written at its end.
    unknown: Vec<u8>,
}

struct JsonVisit<'o, 'p, S: Splice> {
    out: &'o mut Vec<u8>,
    opts: &'p JsonOptions,
    splice: &'p mut S,
    opened: Vec<Opened>,
    levels: Vec<Level>,
    /// Where the body starts in memory: an element taken whole
    /// ([`Visit::fixed_element`]) gives its fields' places from it.
    base: usize,
    /// The start of the field of an element taken whole being written.
    fixed_at: Option<u32>,
}

impl<S: Splice> JsonVisit<'_, '_, S> {
    fn level(&mut self) -> Option<&mut Level> {
        self.levels.last_mut()
    }
}

/// Writes the members of one JSON object, straight into a buffer.
pub struct Obj<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

#[cfg(test)]
mod endpoint_tests {
    #[test]
    fn every_schema_field_name_is_a_plain_key() {
        for f in super::super::generated::FIELDS.iter() {
            assert!(super::plain(f.name), "{:?}", f.name);
        }
    }

    #[test]
    fn endpoints_as_display_writes_them() {
        for a in [
            "127.0.0.1:9092",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "[::1]:9092",
            "[fe80::1%2]:1",
        ] {
            let addr: std::net::SocketAddr = match a.parse() {
                Ok(x) => x,
                Err(_) => continue,
            };
            let mut out = Vec::new();
            super::write_endpoint(&mut out, &addr);
            assert_eq!(out, format!("\"{addr}\"").into_bytes());
        }
    }
}

impl<'o> Obj<'o> {
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }

    /// Start the member `k` (a name of kwire's own or of the schema,
    /// never wire data: see [`write_key`]); its value follows.
    pub fn key(&mut self, k: &'static str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_key(self.out, k);
        self.out
    }

    pub fn int(&mut self, k: &'static str, v: impl itoa::Integer) {
        let mut b = itoa::Buffer::new();
        self.key(k).extend_from_slice(b.format(v).as_bytes());
    }

    pub fn str(&mut self, k: &'static str, v: &str) {
        write_str(self.key(k), v);
    }

    pub fn bool(&mut self, k: &'static str, v: bool) {
        self.raw(k, if v { b"true" } else { b"false" });
    }

    /// A member whose value is already JSON.
    pub fn raw(&mut self, k: &'static str, v: &[u8]) {
        self.key(k).extend_from_slice(v);
    }

    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// `"ip:port"` (`"[::1]:9092"` for IPv6), as `SocketAddr`'s `Display`
/// writes it; IPv4 without the formatter.
pub fn write_endpoint(out: &mut Vec<u8>, a: &std::net::SocketAddr) {
    match a {
        std::net::SocketAddr::V4(v4) => {
            out.push(b'"');
            out.extend_from_slice(V4Text::of(v4).as_str().as_bytes());
            out.push(b'"');
        }
        std::net::SocketAddr::V6(_) => write_str(out, &a.to_string()),
    }
}

/// An IPv4 endpoint as `SocketAddrV4`'s `Display` writes it
/// (`255.255.255.255:65535` at most), written without the formatter.
pub struct V4Text {
    buf: [u8; 21],
    len: usize,
}

impl V4Text {
    pub fn of(a: &std::net::SocketAddrV4) -> Self {
        let mut t = V4Text {
            buf: [0; 21],
            len: 0,
        };
        let mut b = itoa::Buffer::new();
        for (i, octet) in a.ip().octets().iter().enumerate() {
            if i > 0 {
                t.push(b".");
            }
            t.push(b.format(*octet).as_bytes());
        }
        t.push(b":");
        t.push(b.format(a.port()).as_bytes());
        t
    }

    fn push(&mut self, s: &[u8]) {
        // At most 21 bytes in all: the slice always fits.
        if let Some(to) = self.buf.get_mut(self.len..self.len + s.len()) {
            to.copy_from_slice(s);
            self.len += s.len();
        }
    }

    pub fn as_str(&self) -> &str {
        // Digits, dots and a colon: ASCII.
        std::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

/// `"k":` for a key known when kwire was built (a schema field name or one
/// of kwire's own): such names need no escaping (checked by a test over
/// the whole schema), so the check [`write_str`] makes is skipped.
pub fn write_key(out: &mut Vec<u8>, k: &'static str) {
    debug_assert!(plain(k), "a key that needs escaping: {k:?}");
    out.reserve(k.len() + 3);
    out.push(b'"');
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Whether `s` is written in JSON as it is, between quotes.
fn plain(s: &str) -> bool {
    s.bytes().all(|c| c >= 0x20 && c != b'"' && c != b'\\')
}

/// A JSON string of `s` (serde_json's escaping: `"`, `\\` and control
/// characters; the common string with none of them is copied as it is).
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if plain(s) {
        out.reserve(b.len() + 2);
        out.push(b'"');
        out.extend_from_slice(b);
        out.push(b'"');
    } else {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// A JSON string of bytes read as UTF-8, invalid sequences replaced (as the
/// tree's strings are).
pub fn write_lossy(out: &mut Vec<u8>, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => write_str(out, s),
        Err(_) => write_str(out, &String::from_utf8_lossy(b)),
    }
}

pub fn write_int(out: &mut Vec<u8>, i: i64) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(i).as_bytes());
}

fn write_placeholder(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(b"{\"bytes\":");
    write_int(out, n as i64);
    out.push(b'}');
}

/// Standard padded base64 (RFC 4648), as a JSON string.
pub fn write_base64(out: &mut Vec<u8>, data: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out.reserve(data.len().div_ceil(3) * 4 + 2);
    out.push(b'"');
    for chunk in data.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize]
            } else {
                b'='
            });
        }
    }
    out.push(b'"');
}

/// `"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"`, lower-case.
pub fn write_uuid(out: &mut Vec<u8>, u: &[u8; 16]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
    out.push(b'"');
}

pub fn write_float(out: &mut Vec<u8>, f: f64) {
    if f.is_finite() {
        let _ = serde_json::to_writer(&mut *out, &f);
    } else {
        write_str(out, &f.to_string());
    }
}

impl<'a, S: Splice> Visit<'a> for JsonVisit<'_, '_, S> {
    fn open(&mut self, step: Step, _: &'static FieldSpec, at: usize) {
        let mark = self.out.len();
        let unknown = matches!(step, Step::Tag(_));
        let was_first = self.level().is_none_or(|l| l.first);
        if !unknown {
            if !was_first {
                self.out.push(b',');
            }
            if let Step::Field(name) = step {
                write_key(self.out, name);
            }
            if let Some(l) = self.level() {
                l.first = false;
            }
        }
        self.opened.push(Opened {
            mark,
            was_first,
            at: at as u32,
        });
    }

    fn close(&mut self, _: usize) {
        self.opened.pop();
    }

    fn abort(&mut self) {
        if let Some(o) = self.opened.pop() {
            self.out.truncate(o.mark);
            if let Some(l) = self.level() {
                l.first = o.was_first;
            }
        }
    }

    fn scalar(&mut self, v: Scalar<'a>) {
        let at = self
            .fixed_at
            .unwrap_or_else(|| self.opened.last().map_or(0, |o| o.at));
        let out = &mut *self.out;
        match v {
            Scalar::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            Scalar::Int(i) => write_int(out, i),
            Scalar::Float(f) => write_float(out, f),
            Scalar::Uuid(u) => {
                write_uuid(out, u);
                // Only a `topicId` can be named (the splice says which).
                if let Some(name) = self.splice.topic_name(at) {
                    out.extend_from_slice(b",\"topicName\":");
                    write_str(out, name);
                }
            }
            Scalar::Str(s) => write_lossy(out, s),
            Scalar::Bytes(b) => {
                if !self.splice.bytes(at, out) {
                    if b.len() <= self.opts.max_inline_bytes {
                        write_base64(out, b);
                    } else {
                        write_placeholder(out, b.len());
                    }
                }
            }
            Scalar::Records(start, end) => {
                if !self.splice.records(start, out) {
                    write_placeholder(out, end.saturating_sub(start) as usize);
                }
            }
            Scalar::Null { .. } => out.extend_from_slice(b"null"),
        }
    }

    fn fixed_element(
        &mut self,
        _: Step,
        _: &'static FieldSpec,
        specs: &'static [FieldSpec],
        version: i16,
        data: &'a [u8],
    ) -> bool {
        // What open, begin_struct, a scalar per field, end_struct and close
        // write, in one go.
        let Some(level) = self.levels.last_mut() else {
            return false;
        };
        if !level.first {
            self.out.push(b',');
        }
        level.first = false;
        self.out.push(b'{');
        let mut r = Reader::new(data, 0, data.len());
        let start = (data.as_ptr() as usize).saturating_sub(self.base);
        for (n, (_, k)) in regular(specs, version).enumerate() {
            let at = u32::try_from(start + r.pos).unwrap_or(u32::MAX);
            let Ok(Some(v)) = read_scalar(&mut r, k, false, false) else {
                break;
            };
            if n > 0 {
                self.out.push(b',');
            }
            write_key(self.out, k.name);
            self.fixed_at = Some(at);
            self.scalar(v);
        }
        self.fixed_at = None;
        self.out.push(b'}');
        true
    }

    fn begin_struct(&mut self) {
        self.out.push(b'{');
        self.levels.push(Level {
            first: true,
            unknown: Vec::new(),
        });
    }

    fn end_struct(&mut self) {
        if let Some(l) = self.levels.pop()
            && !l.unknown.is_empty()
        {
            if !l.first {
                self.out.push(b',');
            }
            self.out.extend_from_slice(b"\"_unknownTaggedFields\":[");
            self.out.extend_from_slice(&l.unknown);
            self.out.push(b']');
        }
        self.out.push(b'}');
    }

    fn begin_array(&mut self, _: usize) {
        self.out.push(b'[');
        self.levels.push(Level {
            first: true,
            unknown: Vec::new(),
        });
    }

    fn end_array(&mut self) {
        self.levels.pop();
        self.out.push(b']');
    }

    fn unknown_tagged(&mut self, tag: u32, data: &'a [u8]) {
        if let Some(l) = self.levels.last_mut() {
            let u = &mut l.unknown;
            if !u.is_empty() {
                u.push(b',');
            }
            u.extend_from_slice(b"{\"tag\":");
            let _ = write!(u, "{tag}");
            u.extend_from_slice(b",\"data\":");
            write_base64(u, data);
            u.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        for s in [
            "",
            "plain",
            "quo\"te",
            "back\\slash",
            "nl\n",
            "\u{1}",
            "é ∑ \u{7f}",
            "tab\t",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
    }
}
