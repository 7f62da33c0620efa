//! The interpreter: walks a message's bytes by the generated tables into a
//! [`Node`] tree.
//!
//! Contract: no panic on any input; no allocation in proportion to a count
//! or length read off the wire (an array's capacity is at most what the
//! remaining bytes could hold, a count larger than the remaining bytes is an
//! error before any element is read, and strings and bytes are copied only
//! once their bytes are known to be there); recursion bounded by
//! [`MAX_DEPTH`]. On error the tree decoded so far is returned with the
//! error's offset and field path.
//!
//! Encoding rules (Kafka's protocol guide): fixed-size integers big-endian;
//! `string` is an int16 length (-1: null), `bytes` and `records` an int32
//! length (-1: null), arrays an int32 count (-1: null). In flexible versions
//! (unless the field opts out) they are compact: an unsigned varint of
//! length + 1 (0: null); every struct then ends with a tagged-field section,
//! an unsigned varint count of `tag:uvarint size:uvarint data` entries.
//! A nullable struct field is preceded by an int8 marker (-1: null).

use super::generated::FIELDS;
use super::spec::{FieldSpec, MessageKind, MessageSpec, Segment, Ty};
use super::value::{Node, Step, Value, path_string, walk};
use super::walk::{Res, stop, with_step};

/// Deepest nesting of structs and arrays followed. Kafka's schemas nest at
/// most 5 deep; the limit only guards the stack against a corrupt table.
pub const MAX_DEPTH: u32 = 16;

/// Why a body did not decode completely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The body ends inside a field, or a length or count exceeds the bytes
    /// left.
    Truncated,
    /// The bytes cannot be this message at this version.
    Invalid(&'static str),
    /// Bytes are left after the last field.
    TrailingBytes,
    /// No message is defined for this api key (or data message name).
    UnknownMessage,
    /// The version is below the lowest defined one (or negative).
    UnknownVersion,
}

impl DecodeErrorKind {
    /// Whether the bytes break the message's layout (they end inside a field
    /// or hold impossible values), rather than carry bytes past its end or
    /// be of a message or version not known.
    pub fn malformed(&self) -> bool {
        matches!(
            self,
            DecodeErrorKind::Truncated | DecodeErrorKind::Invalid(_)
        )
    }
}

/// Where and why decoding stopped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?} at offset {offset} ({path})")]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    /// Offset in the decoded bytes where the failing read started.
    pub offset: usize,
    /// JSON path of the field being read (`topics[0].partitions[1].records`);
    /// empty at the top level.
    pub path: String,
}

/// Something decoded that the schema does not allow but that is harmless to
/// read on: a null in a field the schema says is not nullable (some brokers
/// and test brokers write null hosts, protocol names and assignments in
/// error responses; clients such as librdkafka read them as null, Kafka's
/// Java client would reject them). The value is decoded as null.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeWarning {
    pub what: &'static str,
    pub offset: usize,
    /// JSON path of the field.
    pub path: String,
    /// The first version of the message in which the field may be null,
    /// when there is one (KIP-516 made Metadata's topic names nullable
    /// from v12); `None` when it never may, or when it is not known.
    pub nullable_from: Option<i16>,
}

/// The result of decoding one body: always a tree, complete or partial.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// The message decoded, if one is defined for the key or name.
    pub message: Option<&'static MessageSpec>,
    /// The schema version used: the requested one; the newest known when the
    /// requested one is newer (`assumed_version`); 0 for an ApiVersions
    /// response sent in the v0 layout to a client whose version the broker
    /// does not support.
    pub version: i16,
    /// The requested version is newer than any known; the newest known
    /// schema was used.
    pub assumed_version: bool,
    /// The root: a struct named after the message.
    pub tree: Node,
    /// Bytes read: all of them when complete, except for a data message of
    /// a newer version than any known, whose appended fields are skipped as
    /// Kafka's readers skip them.
    pub consumed: usize,
    pub error: Option<DecodeError>,
    /// Deviations read past (see [`DecodeWarning`]); usually empty.
    pub warnings: Vec<DecodeWarning>,
}

impl Decoded {
    /// Every byte decoded, no error.
    pub fn is_complete(&self) -> bool {
        self.error.is_none()
    }
}

struct Interp<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Reads stop here: the buffer's end, or a tagged field's.
    end: usize,
    version: i16,
    flexible: bool,
    depth: u32,
    /// Offsets of nulls in non-nullable fields.
    null_at: Vec<usize>,
}

impl<'a> Interp<'a> {
    #[inline]
    fn remaining(&self) -> usize {
        self.end - self.pos
    }

    #[inline]
    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        if self.remaining() < n {
            return stop(DecodeErrorKind::Truncated, self.pos);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Res<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn uvarint(&mut self) -> Res<u32> {
        let start = self.pos;
        let mut value: u32 = 0;
        for i in 0..5 {
            let [byte] = self.array::<1>().map_err(|mut e| {
                e.offset = start;
                e
            })?;
            if i == 4 && byte > 0x0f {
                return stop(
                    DecodeErrorKind::Invalid("varint longer than 32 bits"),
                    start,
                );
            }
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        stop(
            DecodeErrorKind::Invalid("varint longer than 32 bits"),
            start,
        )
    }

    /// A length or count: `Some(n)`, or `None` for null. `wide` selects the
    /// int32 form (bytes, records, arrays) over int16 (strings).
    fn length(&mut self, compact: bool, wide: bool) -> Res<Option<usize>> {
        let start = self.pos;
        if compact {
            let n = self.uvarint()?;
            return Ok(n.checked_sub(1).map(|n| n as usize));
        }
        let n = if wide {
            i32::from_be_bytes(self.array()?)
        } else {
            i32::from(i16::from_be_bytes(self.array()?))
        };
        match n {
            -1 => Ok(None),
            n if n < -1 => stop(DecodeErrorKind::Invalid("negative length"), start),
            n => Ok(Some(n as usize)),
        }
    }

    /// Decode the fields of one struct (regular ones, then the tagged
    /// section in flexible versions) into `out`.
    fn fields(&mut self, specs: &'static [FieldSpec], out: &mut Vec<Node>) -> Res<()> {
        let v = self.version;
        for f in specs {
            if !f.versions.contains(v) || f.tagged.contains(v) {
                continue;
            }
            self.field(f, out)
                .map_err(|e| with_step(e, Step::Field(f.name)))?;
        }
        if self.flexible {
            self.tagged_fields(specs, out)?;
        }
        Ok(())
    }

    fn tagged_fields(&mut self, specs: &'static [FieldSpec], out: &mut Vec<Node>) -> Res<()> {
        let v = self.version;
        let count = self.uvarint()?;
        // No allocation follows from `count`: each entry takes at least two
        // bytes or stops with an error.
        for _ in 0..count {
            let start = self.pos;
            let tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            if self.remaining() < size {
                return stop(DecodeErrorKind::Truncated, start);
            }
            let field_end = self.pos + size;
            let known = specs
                .iter()
                .find(|f| f.tag == tag && f.tagged.contains(v) && f.versions.contains(v));
            match known {
                Some(f) => {
                    let outer_end = self.end;
                    self.end = field_end;
                    let before = out.len();
                    let r = self.field(f, out);
                    self.end = outer_end;
                    // The node covers the tag and size too.
                    if out.len() > before
                        && let Some(n) = out.last_mut()
                    {
                        n.range.start = start as u32;
                    }
                    r.map_err(|e| with_step(e, Step::Field(f.name)))?;
                    if self.pos != field_end {
                        return stop(
                            DecodeErrorKind::Invalid("tagged field shorter than its size"),
                            self.pos,
                        )
                        .map_err(|e| with_step(e, Step::Field(f.name)));
                    }
                }
                None => {
                    let data = self.take(size)?.to_vec();
                    out.push(Node {
                        name: "",
                        range: start as u32..self.pos as u32,
                        value: Value::UnknownTagged { tag, data },
                    });
                }
            }
        }
        Ok(())
    }

    /// One field: an array or a single value.
    fn field(&mut self, f: &'static FieldSpec, out: &mut Vec<Node>) -> Res<()> {
        let start = self.pos;
        let compact = self.flexible && !f.never_compact;
        let nullable = f.nullable.contains(self.version);
        if !f.array {
            return self.value(f, f.name, compact, nullable, out);
        }
        let Some(count) = self.length(compact, true)? else {
            if !nullable {
                self.null_at.push(start);
            }
            out.push(Node {
                name: f.name,
                range: start as u32..self.pos as u32,
                value: Value::Null,
            });
            return Ok(());
        };
        // Every element takes at least a byte, except structs with no field
        // in this version; Kafka's own decoders reject such counts too.
        if count > self.remaining() {
            return stop(DecodeErrorKind::Truncated, start);
        }
        let min = match f.ty.fixed_size() {
            Some(n) => n,
            None if f.ty == Ty::Str && !compact => 2,
            None if matches!(f.ty, Ty::Bytes | Ty::Records) && !compact => 4,
            None => 1,
        };
        let mut items = Vec::with_capacity(count.min(self.remaining() / min));
        self.depth += 1;
        let mut r = Ok(());
        if self.depth > MAX_DEPTH {
            r = stop(DecodeErrorKind::Invalid("nesting too deep"), start);
        } else {
            for i in 0..count {
                // Array elements are never null.
                r = self.value(f, "", compact, false, &mut items);
                if let Err(e) = r {
                    r = Err(with_step(e, Step::Index(i as u32)));
                    break;
                }
            }
        }
        self.depth -= 1;
        out.push(Node {
            name: f.name,
            range: start as u32..self.pos as u32,
            value: Value::Array(items),
        });
        r
    }

    /// One value of `f.ty` (a field, or an array element named "").
    fn value(
        &mut self,
        f: &'static FieldSpec,
        name: &'static str,
        compact: bool,
        nullable: bool,
        out: &mut Vec<Node>,
    ) -> Res<()> {
        let start = self.pos;
        let value = match f.ty {
            Ty::Bool => Value::Bool(self.array::<1>()?[0] != 0),
            Ty::Int8 => Value::Int(i64::from(i8::from_be_bytes(self.array()?))),
            Ty::Int16 => Value::Int(i64::from(i16::from_be_bytes(self.array()?))),
            Ty::Uint16 => Value::Int(i64::from(u16::from_be_bytes(self.array()?))),
            Ty::Int32 => Value::Int(i64::from(i32::from_be_bytes(self.array()?))),
            Ty::Uint32 => Value::Int(i64::from(u32::from_be_bytes(self.array()?))),
            Ty::Int64 => Value::Int(i64::from_be_bytes(self.array()?)),
            Ty::Float64 => Value::Float(f64::from_be_bytes(self.array()?)),
            Ty::Uuid => Value::Uuid(self.array()?),
            Ty::Str | Ty::Bytes | Ty::Records => match self.length(compact, f.ty != Ty::Str)? {
                None => {
                    if !nullable {
                        self.null_at.push(start);
                    }
                    Value::Null
                }
                Some(n) => {
                    let at = self.pos;
                    let data = self.take(n).map_err(|mut e| {
                        e.offset = start;
                        e
                    })?;
                    match f.ty {
                        Ty::Str => Value::Str(String::from_utf8_lossy(data).into_owned()),
                        Ty::Bytes => Value::Bytes(data.to_vec()),
                        _ => Value::Records(at as u32..self.pos as u32),
                    }
                }
            },
            Ty::Struct => {
                if nullable && i8::from_be_bytes(self.array()?) < 0 {
                    Value::Null
                } else {
                    return self.structure(f, name, start, out);
                }
            }
        };
        out.push(Node {
            name,
            range: start as u32..self.pos as u32,
            value,
        });
        Ok(())
    }

    fn structure(
        &mut self,
        f: &'static FieldSpec,
        name: &'static str,
        start: usize,
        out: &mut Vec<Node>,
    ) -> Res<()> {
        let specs = children(f.first, f.len);
        let mut kids = Vec::with_capacity(specs.len());
        self.depth += 1;
        let r = if self.depth > MAX_DEPTH {
            stop(DecodeErrorKind::Invalid("nesting too deep"), start)
        } else {
            self.fields(specs, &mut kids)
        };
        self.depth -= 1;
        out.push(Node {
            name,
            range: start as u32..self.pos as u32,
            value: Value::Struct(kids),
        });
        r
    }
}

/// The run `first..first + len` of the field table (empty if out of range,
/// which the table tests rule out).
fn children(first: u16, len: u16) -> &'static [FieldSpec] {
    let (first, len) = (usize::from(first), usize::from(len));
    FIELDS.get(first..first + len).unwrap_or(&[])
}

/// Decode `buf[start..]` as `spec` at `version`; ranges are offsets in `buf`.
pub(super) fn decode_at(
    spec: &'static MessageSpec,
    version: i16,
    buf: &[u8],
    start: usize,
) -> Decoded {
    let root = |fields: Vec<Node>, end: usize| Node {
        name: spec.name,
        range: start as u32..end as u32,
        value: Value::Struct(fields),
    };
    let fail = |kind, version| Decoded {
        message: Some(spec),
        version,
        assumed_version: false,
        tree: root(Vec::new(), start),
        consumed: start,
        error: Some(DecodeError {
            kind,
            offset: start,
            path: String::new(),
        }),
        warnings: Vec::new(),
    };
    if u32::try_from(buf.len()).is_err() {
        return fail(DecodeErrorKind::Invalid("body larger than 4 GiB"), version);
    }
    let (used, assumed) = if version > spec.versions.hi {
        (spec.versions.hi, true)
    } else {
        (version, false)
    };
    let Some(seg): Option<&Segment> = spec.segment(used) else {
        return fail(DecodeErrorKind::UnknownVersion, version);
    };
    let mut it = Interp {
        buf,
        pos: start.min(buf.len()),
        end: buf.len(),
        version: used,
        flexible: seg.flexible.contains(used),
        depth: 0,
        null_at: Vec::new(),
    };
    let specs = children(seg.first, seg.len);
    let mut fields = Vec::with_capacity(specs.len());
    let r = it.fields(specs, &mut fields);
    let error = match r {
        Err(e) => {
            let mut path = e.rev_path;
            path.reverse();
            Some(DecodeError {
                kind: e.kind,
                offset: e.offset,
                path: path_string(&path),
            })
        }
        // Newer versions of data messages (the consumer protocol's
        // subscription and assignment) only append fields, and readers of
        // older versions ignore them: Kafka's own rule for these.
        Ok(()) if assumed && spec.kind == MessageKind::Data => None,
        Ok(()) if it.pos < buf.len() => Some(DecodeError {
            kind: DecodeErrorKind::TrailingBytes,
            offset: it.pos,
            path: String::new(),
        }),
        Ok(()) => None,
    };
    let tree = root(fields, it.pos);
    let warnings = it
        .null_at
        .iter()
        .map(|&offset| DecodeWarning {
            what: "null in a non-nullable field",
            offset,
            path: null_path(&tree, offset),
            nullable_from: None,
        })
        .collect();
    Decoded {
        message: Some(spec),
        version: used,
        assumed_version: assumed,
        tree,
        consumed: it.pos,
        error,
        warnings,
    }
}

/// The path of the null node read at `offset`.
fn null_path(tree: &Node, offset: usize) -> String {
    let mut found = String::new();
    walk(tree, &mut |path, n| {
        if n.value == Value::Null && n.range.start as usize == offset {
            found = path_string(path);
        }
    });
    found
}
