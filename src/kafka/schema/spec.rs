//! The shape of the generated tables (`generated.rs`): field and message
//! specifications, and the `const fn` builders the generator writes them with.
//!
//! A message is a list of version segments; each segment names a run of
//! [`FIELDS`](super::generated::FIELDS) (the top-level struct), and each
//! struct field names the run of its own fields. Every field carries the
//! version ranges in which it is present, nullable and tagged, exactly as
//! Kafka's JSON says (`"versions": "3+"`), so one table row serves all the
//! versions of a message instead of one row per version.

/// A version range `lo..=hi`; empty when `lo > hi`; `hi == i16::MAX` is
/// Kafka's open-ended `"N+"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Versions {
    pub lo: i16,
    pub hi: i16,
}

impl Versions {
    /// Whether `v` lies in the range.
    #[inline]
    pub const fn contains(self, v: i16) -> bool {
        self.lo <= v && v <= self.hi
    }

    pub const fn is_empty(self) -> bool {
        self.lo > self.hi
    }
}

/// The type of a field, or of an array's elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    Bool,
    Int8,
    Int16,
    Uint16,
    Int32,
    Uint32,
    Int64,
    Float64,
    /// `string`: int16 length (compact: unsigned varint length + 1).
    Str,
    /// `bytes`: int32 length (compact: unsigned varint length + 1).
    Bytes,
    Uuid,
    /// `records`: a record batch or message set, length-prefixed like
    /// bytes; kept as a byte range for the records module.
    Records,
    /// A struct whose fields are the field's `first..first + len` run.
    Struct,
}

impl Ty {
    /// The fixed wire size, for fixed-size types.
    #[inline]
    pub const fn fixed_size(self) -> Option<usize> {
        match self {
            Ty::Bool | Ty::Int8 => Some(1),
            Ty::Int16 | Ty::Uint16 => Some(2),
            Ty::Int32 | Ty::Uint32 => Some(4),
            Ty::Int64 | Ty::Float64 => Some(8),
            Ty::Uuid => Some(16),
            Ty::Str | Ty::Bytes | Ty::Records | Ty::Struct => None,
        }
    }
}

/// One field of a message or struct.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    /// Kafka's name with the first letter lower-cased (`topicData`), as in
    /// the JSON kwire writes.
    pub name: &'static str,
    /// The field's type, or its elements' when `array`.
    pub ty: Ty,
    pub array: bool,
    /// Versions in which the field is on the wire (as a regular field, or
    /// as a tagged one where `tagged` also holds).
    pub versions: Versions,
    /// Versions in which the field may be null.
    pub nullable: Versions,
    /// Versions in which the field is a tagged field with tag `tag`.
    pub tagged: Versions,
    pub tag: u32,
    /// Never in the compact encoding, even in flexible versions (the
    /// request header's client id).
    pub never_compact: bool,
    /// For structs: the run of [`FIELDS`](super::generated::FIELDS)
    /// holding the struct's fields.
    pub first: u16,
    pub len: u16,
    /// The field holds an error code: named `errorCode` or `…ErrorCode`
    /// (`topicConfigErrorCode`), see [`is_error_code_name`].
    pub error_code: bool,
}

/// Whether a field of this name holds an error code: `errorCode`, or a name
/// ending in `ErrorCode` (`topicConfigErrorCode`, `acknowledgeErrorCode`).
pub const fn is_error_code_name(name: &str) -> bool {
    const SUFFIX: &[u8] = b"ErrorCode";
    let b = name.as_bytes();
    if b.len() == SUFFIX.len() {
        // `errorCode` (or the suffix itself).
        let mut i = 1;
        while i < b.len() {
            if b[i] != SUFFIX[i] {
                return false;
            }
            i += 1;
        }
        return b[0] == b'e' || b[0] == b'E';
    }
    if b.len() < SUFFIX.len() {
        return false;
    }
    let off = b.len() - SUFFIX.len();
    let mut i = 0;
    while i < SUFFIX.len() {
        if b[off + i] != SUFFIX[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// What a message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    Request,
    Response,
    /// `RequestHeader`, `ResponseHeader`.
    Header,
    /// Versioned data carried inside other messages or records
    /// (`ConsumerProtocolSubscription`, `LeaderChangeMessage`, ...).
    Data,
}

/// Which package's JSON a segment's tree came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// tansu-sans-io 0.6: Kafka 3.9.
    Tansu,
    /// kafka_client 0.8: Kafka 4.2/4.3.
    KafkaClient,
}

/// A contiguous range of a message's versions that one field tree decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub versions: Versions,
    /// Flexible versions (compact types and tagged fields).
    pub flexible: Versions,
    /// The top-level fields: a run of [`FIELDS`](super::generated::FIELDS).
    pub first: u16,
    pub len: u16,
    pub source: Source,
}

/// One message (a request, a response, a header or a data message) in all
/// the versions either source defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageSpec {
    /// Kafka's name (`ProduceRequest`).
    pub name: &'static str,
    /// -1 for headers and data messages.
    pub api_key: i16,
    pub kind: MessageKind,
    /// Lowest and highest defined version.
    pub versions: Versions,
    /// Versions deprecated by the definition that defines them (Produce
    /// v0-2: deprecated in Kafka 3.9, gone from Kafka 4's definitions).
    pub deprecated: Versions,
    /// Ordered, contiguous, covering `versions`. A segment's tree may also
    /// serve versions only the older source defines, when its field
    /// versions describe them identically.
    pub segments: &'static [Segment],
}

impl MessageSpec {
    /// The segment decoding `version`, if the version is defined.
    pub fn segment(&self, version: i16) -> Option<&'static Segment> {
        self.segments.iter().find(|s| s.versions.contains(version))
    }
}

// Builders used by the generated file; short names keep it small.

pub(super) const M: i16 = i16::MAX;
#[allow(dead_code)] // when every key has both a request and a response
pub(super) const X: u16 = u16::MAX;
pub(super) const NO: Versions = Versions { lo: 0, hi: -1 };

#[allow(non_snake_case)]
pub(super) const fn V(lo: i16, hi: i16) -> Versions {
    Versions { lo, hi }
}

pub(super) use MessageKind::{Data, Header, Request, Response};
pub(super) use Source::{KafkaClient, Tansu};
pub(super) const BOOL: Ty = Ty::Bool;
pub(super) const I8: Ty = Ty::Int8;
pub(super) const I16: Ty = Ty::Int16;
pub(super) const U16: Ty = Ty::Uint16;
pub(super) const I32: Ty = Ty::Int32;
#[allow(dead_code)] // no definition uses uint32 yet
pub(super) const U32: Ty = Ty::Uint32;
pub(super) const I64: Ty = Ty::Int64;
pub(super) const F64: Ty = Ty::Float64;
pub(super) const STR: Ty = Ty::Str;
pub(super) const BYTES: Ty = Ty::Bytes;
pub(super) const UUID: Ty = Ty::Uuid;
pub(super) const RECORDS: Ty = Ty::Records;
pub(super) const STRUCT: Ty = Ty::Struct;

/// A field present in `lo..=hi`, neither nullable nor tagged.
pub(super) const fn s(name: &'static str, ty: Ty, lo: i16, hi: i16) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        array: false,
        versions: Versions { lo, hi },
        nullable: NO,
        tagged: NO,
        tag: 0,
        never_compact: false,
        first: 0,
        len: 0,
        error_code: is_error_code_name(name),
    }
}

impl FieldSpec {
    pub(super) const fn arr(mut self) -> Self {
        self.array = true;
        self
    }
    pub(super) const fn null(mut self, lo: i16, hi: i16) -> Self {
        self.nullable = Versions { lo, hi };
        self
    }
    pub(super) const fn tag(mut self, tag: u32, lo: i16, hi: i16) -> Self {
        self.tag = tag;
        self.tagged = Versions { lo, hi };
        self
    }
    pub(super) const fn never_compact(mut self) -> Self {
        self.never_compact = true;
        self
    }
    pub(super) const fn kids(mut self, first: u16, len: u16) -> Self {
        self.first = first;
        self.len = len;
        self
    }
}

pub(super) const fn seg(
    lo: i16,
    hi: i16,
    flexible: Versions,
    first: u16,
    len: u16,
    source: Source,
) -> Segment {
    Segment {
        versions: Versions { lo, hi },
        flexible,
        first,
        len,
        source,
    }
}

pub(super) const fn msg(
    name: &'static str,
    api_key: i16,
    kind: MessageKind,
    lo: i16,
    hi: i16,
    deprecated: Versions,
    segments: &'static [Segment],
) -> MessageSpec {
    MessageSpec {
        name,
        api_key,
        kind,
        versions: Versions { lo, hi },
        deprecated,
        segments,
    }
}
