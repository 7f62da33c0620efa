//! The decoded value tree: what the interpreter makes of a message body.
//!
//! Every [`Node`] carries its byte range within the decoded buffer (offsets
//! from the start of the body, length prefixes included), so that a hex view
//! can show which bytes make which field. The tree owns its values: strings
//! and bytes are copied out of the frame, so it lives on without the frame;
//! `records` fields are kept as a byte range only, for the records module to
//! decode. The tree's size is bounded by the body's: every node stands for at
//! least one byte of it, except elements of arrays of empty structs, which
//! are bounded by the body's size too (a count above the remaining bytes is
//! rejected before any element is read).
//!
//! JSON ([`to_json`]) follows Kafka's field names with the first letter
//! lower-cased, as the broker's request log prints them
//! (`topics[].partitions[].partitionIndex`). Objects have their keys in
//! serde_json's map order.

use std::ops::Range;

use serde_json::{Map, Value as Json};

/// One decoded field, array element or message.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The field's JSON name (`partitionIndex`); the message's name for the
    /// root; empty for array elements and unknown tagged fields.
    pub name: &'static str,
    /// Bytes of the body this node was read from, prefixes included.
    pub range: Range<u32>,
    pub value: Value,
}

/// A decoded value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Bool(bool),
    /// int8, int16, int32, int64, uint16 and uint32.
    Int(i64),
    Float(f64),
    /// A string; invalid UTF-8 is replaced (lossy), never an error.
    Str(String),
    Uuid([u8; 16]),
    Bytes(Vec<u8>),
    /// A `records` field: the range of the record data (after the length
    /// prefix) within the body, decoded later by the records module.
    Records(Range<u32>),
    Array(Vec<Node>),
    Struct(Vec<Node>),
    /// A null string, bytes, records, array or struct.
    Null,
    /// A tagged field this version's schema does not know: kept as bytes.
    UnknownTagged {
        tag: u32,
        data: Vec<u8>,
    },
}

impl Node {
    /// The child field called `name`, for structs.
    pub fn get(&self, name: &str) -> Option<&Node> {
        match &self.value {
            Value::Struct(fields) => fields.iter().find(|n| n.name == name),
            _ => None,
        }
    }

    /// Follow a dotted path of field names (`"topics"`) or indexes
    /// (`"topics.0.name"`).
    pub fn at(&self, path: &str) -> Option<&Node> {
        let mut n = self;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            n = match &n.value {
                Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
                _ => n.get(part)?,
            };
        }
        Some(n)
    }

    pub fn as_int(&self) -> Option<i64> {
        match self.value {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.value {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The elements of an array, or the fields of a struct.
    pub fn children(&self) -> &[Node] {
        match &self.value {
            Value::Array(c) | Value::Struct(c) => c,
            _ => &[],
        }
    }
}

/// One step of a path from the root to a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Field(&'static str),
    Index(u32),
    /// An unknown tagged field, by tag.
    Tag(u32),
}

/// Format a path the JSON way: `topics[0].partitions[2].errorCode`.
pub fn path_string(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Field(name) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(name);
            }
            Step::Index(i) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
            Step::Tag(t) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str("_unknownTaggedFields[tag=");
                s.push_str(&t.to_string());
                s.push(']');
            }
        }
    }
    s
}

/// Visit every node below `root` depth first, in wire order, with its path
/// (the root itself is not visited). For the hex view: each node's range
/// and depth (`path.len()`).
pub fn walk(root: &Node, f: &mut dyn FnMut(&[Step], &Node)) {
    let mut path = Vec::new();
    walk_children(root, &mut path, f);
}

fn walk_children(node: &Node, path: &mut Vec<Step>, f: &mut dyn FnMut(&[Step], &Node)) {
    match &node.value {
        Value::Struct(fields) => {
            for n in fields {
                path.push(match &n.value {
                    Value::UnknownTagged { tag, .. } => Step::Tag(*tag),
                    _ => Step::Field(n.name),
                });
                f(path, n);
                walk_children(n, path, f);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, n) in items.iter().enumerate() {
                path.push(Step::Index(i as u32));
                f(path, n);
                walk_children(n, path, f);
                path.pop();
            }
        }
        _ => {}
    }
}

/// A leaf of the tree with its JSON path, for a hex view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRange {
    /// `topics[0].partitions[1].partitionIndex`
    pub path: String,
    /// Nesting depth (1 for the body's top-level fields).
    pub depth: usize,
    pub range: Range<u32>,
}

/// Every node below the root with its path, depth and byte range, in wire
/// order (parents before their children).
pub fn field_ranges(root: &Node) -> Vec<FieldRange> {
    let mut out = Vec::new();
    walk(root, &mut |path, n| {
        out.push(FieldRange {
            path: path_string(path),
            depth: path.len(),
            range: n.range.clone(),
        })
    });
    out
}

/// An error code found in a decoded body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorCodeAt {
    /// JSON path: `responses[0].partitionResponses[1].errorCode`.
    pub path: String,
    pub code: i16,
    pub range: Range<u32>,
}

/// Every int-valued field named `errorCode` or `…ErrorCode`
/// (`topicConfigErrorCode`, `acknowledgeErrorCode`), with its path, in wire
/// order; zeros (NONE) included.
pub fn error_codes(root: &Node) -> Vec<ErrorCodeAt> {
    let mut out = Vec::new();
    walk(root, &mut |path, n| {
        if super::spec::is_error_code_name(n.name)
            && let Value::Int(code) = n.value
        {
            out.push(ErrorCodeAt {
                path: path_string(path),
                code: code as i16,
                range: n.range.clone(),
            });
        }
    });
    out
}

/// How [`to_json_with`] writes bulky values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonOptions {
    /// Bytes fields up to this length are written in base64; longer ones as
    /// `{"bytes": N}`.
    pub max_inline_bytes: usize,
}

impl Default for JsonOptions {
    fn default() -> Self {
        JsonOptions {
            max_inline_bytes: 4096,
        }
    }
}

/// The node as JSON: structs as objects keyed by field name, arrays as
/// arrays, UUIDs as canonical strings, bytes in base64 (standard alphabet,
/// padded), records as `{"bytes": N}` (to be replaced by the records
/// module), unknown tagged fields under `_unknownTaggedFields` as
/// `{"tag": T, "data": base64}`.
pub fn to_json(node: &Node) -> Json {
    to_json_with(node, &JsonOptions::default())
}

pub fn to_json_with(node: &Node, opts: &JsonOptions) -> Json {
    match &node.value {
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or_else(|| Json::String(f.to_string()), Json::Number),
        Value::Str(s) => Json::String(s.clone()),
        Value::Uuid(u) => Json::String(uuid_string(u)),
        Value::Bytes(b) if b.len() <= opts.max_inline_bytes => Json::String(base64(b)),
        Value::Bytes(b) => placeholder(b.len()),
        Value::Records(r) => placeholder(r.len()),
        Value::Null => Json::Null,
        Value::Array(items) => Json::Array(items.iter().map(|n| to_json_with(n, opts)).collect()),
        Value::Struct(fields) => {
            let mut m = Map::new();
            let mut unknown = Vec::new();
            for n in fields {
                if let Value::UnknownTagged { tag, data } = &n.value {
                    let mut t = Map::new();
                    t.insert("tag".into(), Json::from(*tag));
                    t.insert("data".into(), Json::String(base64(data)));
                    unknown.push(Json::Object(t));
                } else {
                    m.insert(n.name.to_string(), to_json_with(n, opts));
                }
            }
            if !unknown.is_empty() {
                m.insert("_unknownTaggedFields".into(), Json::Array(unknown));
            }
            Json::Object(m)
        }
        Value::UnknownTagged { tag, data } => {
            let mut t = Map::new();
            t.insert("tag".into(), Json::from(*tag));
            t.insert("data".into(), Json::String(base64(data)));
            Json::Object(t)
        }
    }
}

fn placeholder(len: usize) -> Json {
    let mut m = Map::new();
    m.insert("bytes".into(), Json::from(len));
    Json::Object(m)
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lower-case.
pub fn uuid_string(u: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0xf)] as char);
    }
    s
}

/// Standard base64 with padding (RFC 4648), as Kafka's JSON writes bytes.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(name: &'static str, at: u32, value: Value) -> Node {
        Node {
            name,
            range: at..at + 1,
            value,
        }
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(base64(&[0xff, 0xfe]), "//4=");
    }

    #[test]
    fn uuid_is_canonical() {
        let u = [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
            0xcd, 0xef,
        ];
        assert_eq!(uuid_string(&u), "12345678-9abc-def0-0123-456789abcdef");
    }

    #[test]
    fn json_paths_and_error_codes() {
        let part = |i: i64, e: i64| Node {
            name: "",
            range: 0..4,
            value: Value::Struct(vec![
                leaf("partitionIndex", 0, Value::Int(i)),
                leaf("errorCode", 2, Value::Int(e)),
            ]),
        };
        let root = Node {
            name: "X",
            range: 0..10,
            value: Value::Struct(vec![
                leaf("errorCode", 0, Value::Int(0)),
                Node {
                    name: "partitions",
                    range: 1..9,
                    value: Value::Array(vec![part(0, 0), part(1, 6)]),
                },
                leaf(
                    "",
                    9,
                    Value::UnknownTagged {
                        tag: 7,
                        data: vec![1, 2, 3],
                    },
                ),
            ]),
        };
        let codes = error_codes(&root);
        assert_eq!(codes.len(), 3);
        assert_eq!(codes[2].path, "partitions[1].errorCode");
        assert_eq!(codes[2].code, 6);
        assert_eq!(root.at("partitions.1.errorCode").unwrap().as_int(), Some(6));
        let j = to_json(&root);
        assert_eq!(j["partitions"][1]["partitionIndex"], 1);
        assert_eq!(j["_unknownTaggedFields"][0]["tag"], 7);
        assert_eq!(j["_unknownTaggedFields"][0]["data"], "AQID");
        let ranges = field_ranges(&root);
        assert_eq!(ranges[0].path, "errorCode");
        assert_eq!(ranges[2].path, "partitions[0]");
        assert_eq!(ranges[3].path, "partitions[0].partitionIndex");
        assert_eq!(ranges[3].depth, 3);
        assert_eq!(ranges.last().unwrap().path, "_unknownTaggedFields[tag=7]");
    }

    #[test]
    fn bulky_values_become_placeholders() {
        let root = Node {
            name: "X",
            range: 0..10,
            value: Value::Struct(vec![
                leaf("metadata", 0, Value::Bytes(vec![0; 10])),
                leaf("records", 0, Value::Records(4..104)),
                leaf("ratio", 0, Value::Float(f64::NAN)),
            ]),
        };
        let j = to_json_with(
            &root,
            &JsonOptions {
                max_inline_bytes: 4,
            },
        );
        assert_eq!(j["metadata"]["bytes"], 10);
        assert_eq!(j["records"]["bytes"], 100);
        assert_eq!(j["ratio"], "NaN");
    }
}
