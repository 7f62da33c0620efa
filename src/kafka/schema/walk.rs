//! The walker: goes over a message's bytes by the generated tables and tells
//! a [`Visit`] what it reads, without building anything itself. The JSON
//! writer ([`super::json`]), the error-code and records-range collectors
//! and the views' field scan ([`super::view`]) are visitors; the owned
//! [`Node`](super::Node) tree of [`super::interp`] is kept for the TUI's
//! detail and tests only.
//!
//! The walker reads exactly as the interpreter does (same encoding rules,
//! same bounds, same errors at the same offsets, same partial results): a
//! field whose node the interpreter would have kept after an error is
//! [`closed`](Visit::close), one it would have dropped is
//! [`aborted`](Visit::abort). The golden tests hold the JSON writer to the
//! tree's JSON on every corpus capture.
//!
//! Contract: no panic on any input, no allocation by the walker (visitors
//! allocate what they keep), recursion bounded by [`MAX_DEPTH`].

use super::generated::FIELDS;
use super::interp::{DecodeError, DecodeErrorKind, MAX_DEPTH};
use super::spec::{FieldSpec, MessageKind, MessageSpec, Ty};
use super::value::{Step, path_string};

/// A value read off the wire, borrowing the body's bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar<'a> {
    Bool(bool),
    /// int8 to int64, uint16 and uint32.
    Int(i64),
    Float(f64),
    Uuid(&'a [u8; 16]),
    /// A string's bytes (UTF-8 unless the peer is broken).
    Str(&'a [u8]),
    Bytes(&'a [u8]),
    /// A `records` field: the record data's range in the body (after the
    /// length prefix).
    Records(u32, u32),
    /// A null; `allowed` is false when the schema says the field is not
    /// nullable (read on, as librdkafka does, and warned about).
    Null {
        allowed: bool,
    },
}

/// What a walk tells its visitor, in wire order. Every [`open`](Visit::open)
/// is followed by exactly one [`close`](Visit::close) or
/// [`abort`](Visit::abort), with the value's events in between.
#[allow(unused_variables)]
pub trait Visit<'a> {
    /// A field (`Step::Field`), array element (`Step::Index`) or unknown
    /// tagged field (`Step::Tag`) starts at `at` (a tagged field's tag).
    fn open(&mut self, step: Step, f: &'static FieldSpec, at: usize) {}
    /// The value opened last is complete (or partial, for a struct or array
    /// cut by an error: the interpreter keeps those).
    fn close(&mut self, end: usize) {}
    /// The value opened last could not be read: nothing of it is kept.
    fn abort(&mut self) {}
    fn scalar(&mut self, v: Scalar<'a>) {}
    fn begin_struct(&mut self) {}
    fn end_struct(&mut self) {}
    /// An array of `count` elements (bounded by the bytes left).
    fn begin_array(&mut self, count: usize) {}
    fn end_array(&mut self) {}
    /// An unknown tagged field's bytes (after `open` with `Step::Tag`).
    fn unknown_tagged(&mut self, tag: u32, data: &'a [u8]) {}

    /// Whether the visitor is told of every field (the default). One that
    /// is not (`false`) is told of structs, arrays, unknown tagged fields,
    /// the scalar fields it finds [`interesting`](Visit::interesting), and
    /// nulls where the schema allows none; other scalars (the elements of
    /// arrays of them, and the elements of arrays of structs made only of
    /// them) are read over without a word: the same bytes, the same
    /// errors, the same offsets, at a fraction of the cost.
    const EVERY_FIELD: bool = true;

    /// With [`EVERY_FIELD`](Visit::EVERY_FIELD) false: a scalar field (or
    /// an array of them) whose events the visitor wants.
    fn interesting(f: &FieldSpec) -> bool {
        true
    }

    /// An element of array `f` (`step`) whose struct has only fixed-width
    /// scalars as regular fields in `version` (the fields of `specs` in
    /// it, in order, in `data`) and an empty tagged section: a visitor
    /// that takes it whole returns true and is not told of it field by
    /// field (it must then do what those events would have done); false
    /// (the default): it is told the long way.
    fn fixed_element(
        &mut self,
        step: Step,
        f: &'static FieldSpec,
        specs: &'static [FieldSpec],
        version: i16,
        data: &'a [u8],
    ) -> bool {
        false
    }
}

/// Two visitors fed by one walk: each is told of what either wants (so each
/// must let pass what it did not ask for), in the same order.
pub struct Both<'x, A, B>(pub &'x mut A, pub &'x mut B);

impl<'a, A: Visit<'a>, B: Visit<'a>> Visit<'a> for Both<'_, A, B> {
    const EVERY_FIELD: bool = A::EVERY_FIELD || B::EVERY_FIELD;

    fn interesting(f: &FieldSpec) -> bool {
        A::interesting(f) || B::interesting(f)
    }
    fn open(&mut self, step: Step, f: &'static FieldSpec, at: usize) {
        self.0.open(step, f, at);
        self.1.open(step, f, at);
    }
    fn close(&mut self, end: usize) {
        self.0.close(end);
        self.1.close(end);
    }
    fn abort(&mut self) {
        self.0.abort();
        self.1.abort();
    }
    fn scalar(&mut self, v: Scalar<'a>) {
        self.0.scalar(v);
        self.1.scalar(v);
    }
    fn begin_struct(&mut self) {
        self.0.begin_struct();
        self.1.begin_struct();
    }
    fn end_struct(&mut self) {
        self.0.end_struct();
        self.1.end_struct();
    }
    fn begin_array(&mut self, count: usize) {
        self.0.begin_array(count);
        self.1.begin_array(count);
    }
    fn end_array(&mut self) {
        self.0.end_array();
        self.1.end_array();
    }
    fn unknown_tagged(&mut self, tag: u32, data: &'a [u8]) {
        self.0.unknown_tagged(tag, data);
        self.1.unknown_tagged(tag, data);
    }
    // Whole fixed elements go the long way: neither visitor takes them
    // whole for the other.
}

/// The visitor that wants nothing: a validating skip.
pub struct Skip;
impl Visit<'_> for Skip {
    const EVERY_FIELD: bool = false;
    fn interesting(_: &FieldSpec) -> bool {
        false
    }
}

/// The regular (not tagged) fields of a struct in `version`, with their
/// index in `specs`, in wire order.
pub(super) fn regular(
    specs: &'static [FieldSpec],
    version: i16,
) -> impl Iterator<Item = (usize, &'static FieldSpec)> {
    specs
        .iter()
        .enumerate()
        .filter(move |(_, f)| f.versions.contains(version) && !f.tagged.contains(version))
}

/// The width of a struct's regular fields in `version` when every one is
/// a fixed-width scalar (and, with `skip`, one the visitor does not want):
/// an element then lies in that many bytes and its tagged section.
pub(super) fn fixed_layout(
    specs: &'static [FieldSpec],
    version: i16,
    skip: impl Fn(&FieldSpec) -> bool,
) -> Option<usize> {
    let mut width = 0;
    for (_, k) in regular(specs, version) {
        if k.array || skip(k) {
            return None;
        }
        width += k.ty.fixed_size()?;
    }
    Some(width)
}

/// An error on its way up, collecting its path in reverse.
pub(super) struct Stop {
    pub kind: DecodeErrorKind,
    pub offset: usize,
    pub rev_path: Vec<Step>,
}

pub(super) type Res<T> = Result<T, Box<Stop>>;

pub(super) fn stop<T>(kind: DecodeErrorKind, offset: usize) -> Res<T> {
    Err(Box::new(Stop {
        kind,
        offset,
        rev_path: Vec::new(),
    }))
}

pub(super) fn with_step(mut e: Box<Stop>, step: Step) -> Box<Stop> {
    e.rev_path.push(step);
    e
}

impl Stop {
    pub(super) fn into_error(self) -> DecodeError {
        let mut path = self.rev_path;
        path.reverse();
        DecodeError {
            kind: self.kind,
            offset: self.offset,
            path: path_string(&path),
        }
    }
}

/// A position in a body, with the bound reads stop at.
#[derive(Clone, Copy, Debug)]
pub(super) struct Reader<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
    /// The buffer's end, or a tagged field's.
    pub end: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], pos: usize, end: usize) -> Self {
        let end = end.min(buf.len());
        Reader {
            buf,
            pos: pos.min(end),
            end,
        }
    }

    #[inline]
    pub fn remaining(&self) -> usize {
        self.end - self.pos
    }

    #[inline]
    pub fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        match self.buf.get(self.pos..self.end).and_then(|s| s.get(..n)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => stop(DecodeErrorKind::Truncated, self.pos),
        }
    }

    #[inline]
    pub fn array<const N: usize>(&mut self) -> Res<&'a [u8; N]> {
        let s = self.take(N)?;
        s.try_into()
            .or_else(|_| stop(DecodeErrorKind::Truncated, self.pos))
    }

    pub fn uvarint(&mut self) -> Res<u32> {
        let start = self.pos;
        let mut value: u32 = 0;
        for i in 0..5 {
            let Ok(&[byte]) = self.array::<1>() else {
                return stop(DecodeErrorKind::Truncated, start);
            };
            if i == 4 && byte > 0x0f {
                break;
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
    pub fn length(&mut self, compact: bool, wide: bool) -> Res<Option<usize>> {
        let start = self.pos;
        if compact {
            let n = self.uvarint()?;
            return Ok(n.checked_sub(1).map(|n| n as usize));
        }
        let n = if wide {
            i32::from_be_bytes(*self.array()?)
        } else {
            i32::from(i16::from_be_bytes(*self.array()?))
        };
        match n {
            -1 => Ok(None),
            n if n < -1 => stop(DecodeErrorKind::Invalid("negative length"), start),
            n => Ok(Some(n as usize)),
        }
    }
}

/// Encoding parameters of a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Cx {
    pub version: i16,
    pub flexible: bool,
}

/// Where each field of a struct starts (`u32::MAX`: not read).
pub(super) struct Offsets<'o> {
    pub starts: &'o mut [u32],
    pub ends: &'o mut [u32],
}

pub(super) struct Walker<'a, 'v, V: Visit<'a>> {
    pub r: Reader<'a>,
    pub cx: Cx,
    depth: u32,
    pub v: &'v mut V,
    /// Whether the last value finished was kept (closed) or dropped.
    kept: bool,
}

impl<'a, 'v, V: Visit<'a>> Walker<'a, 'v, V> {
    pub fn new(r: Reader<'a>, cx: Cx, v: &'v mut V) -> Self {
        Walker {
            r,
            cx,
            depth: 0,
            v,
            kept: false,
        }
    }

    fn close(&mut self) {
        self.kept = true;
        self.v.close(self.r.pos);
    }

    fn abort(&mut self) {
        self.kept = false;
        self.v.abort();
    }

    /// The fields of one struct (regular ones, then the tagged section in
    /// flexible versions); with `offs`, where each field's value starts and
    /// ends (index in `specs`).
    pub fn fields(
        &mut self,
        specs: &'static [FieldSpec],
        mut offs: Option<&mut Offsets<'_>>,
    ) -> Res<()> {
        let v = self.cx.version;
        for (i, f) in regular(specs, v) {
            let start = self.r.pos;
            let r = if !f.array && self.is_quiet(f) {
                let compact = self.cx.flexible && !f.never_compact;
                let nullable = f.nullable.contains(v);
                self.quiet_value(f, compact, nullable, Step::Field(f.name), start)
            } else {
                self.field(f)
            };
            if let Some(o) = offs.as_deref_mut()
                && (r.is_ok() || self.kept)
                && let (Some(s), Some(e)) = (o.starts.get_mut(i), o.ends.get_mut(i))
            {
                *s = start as u32;
                // A field cut by an error is read again with the bytes the
                // walk had, so that it stops at the same place.
                *e = if r.is_ok() { self.r.pos } else { self.r.end } as u32;
            }
            r.map_err(|e| with_step(e, Step::Field(f.name)))?;
        }
        if self.cx.flexible {
            self.tagged_fields(specs, offs)?;
        }
        Ok(())
    }

    fn tagged_fields(
        &mut self,
        specs: &'static [FieldSpec],
        mut offs: Option<&mut Offsets<'_>>,
    ) -> Res<()> {
        let v = self.cx.version;
        let count = self.r.uvarint()?;
        // Nothing is sized by `count`: each entry takes at least two bytes
        // or stops with an error.
        for _ in 0..count {
            let start = self.r.pos;
            let tag = self.r.uvarint()?;
            let size = self.r.uvarint()? as usize;
            if self.r.remaining() < size {
                return stop(DecodeErrorKind::Truncated, start);
            }
            let field_end = self.r.pos + size;
            let known = specs
                .iter()
                .enumerate()
                .find(|(_, f)| f.tag == tag && f.tagged.contains(v) && f.versions.contains(v));
            match known {
                Some((i, f)) => {
                    let outer_end = self.r.end;
                    self.r.end = field_end;
                    let value_start = self.r.pos;
                    let r = self.field_at(f, start);
                    self.r.end = outer_end;
                    if let Some(o) = offs.as_deref_mut()
                        && (r.is_ok() || self.kept)
                        && let (Some(s), Some(e)) = (o.starts.get_mut(i), o.ends.get_mut(i))
                    {
                        *s = value_start as u32;
                        *e = field_end as u32;
                    }
                    r.map_err(|e| with_step(e, Step::Field(f.name)))?;
                    if self.r.pos != field_end {
                        return stop(
                            DecodeErrorKind::Invalid("tagged field shorter than its size"),
                            self.r.pos,
                        )
                        .map_err(|e| with_step(e, Step::Field(f.name)));
                    }
                }
                None => {
                    let spec = specs.first().unwrap_or(&UNKNOWN);
                    self.v.open(Step::Tag(tag), spec, start);
                    let data = self.r.take(size)?;
                    self.v.unknown_tagged(tag, data);
                    self.close();
                }
            }
        }
        Ok(())
    }

    fn field(&mut self, f: &'static FieldSpec) -> Res<()> {
        let at = self.r.pos;
        self.field_at(f, at)
    }

    /// One field (an array or a single value) whose node starts at `at`.
    fn field_at(&mut self, f: &'static FieldSpec, at: usize) -> Res<()> {
        self.v.open(Step::Field(f.name), f, at);
        let compact = self.cx.flexible && !f.never_compact;
        let nullable = f.nullable.contains(self.cx.version);
        if !f.array {
            return self.value(f, compact, nullable);
        }
        let start = self.r.pos;
        let count = match self.r.length(compact, true) {
            Ok(Some(n)) => n,
            Ok(None) => {
                self.v.scalar(Scalar::Null { allowed: nullable });
                self.close();
                return Ok(());
            }
            Err(e) => {
                self.abort();
                return Err(e);
            }
        };
        // Every element takes at least a byte, except structs with no field
        // in this version; Kafka's own decoders reject such counts too.
        if count > self.r.remaining() {
            self.abort();
            return stop(DecodeErrorKind::Truncated, start);
        }
        self.v.begin_array(count);
        self.depth += 1;
        let mut r = Ok(());
        if self.depth > MAX_DEPTH {
            r = stop(DecodeErrorKind::Invalid("nesting too deep"), start);
        } else {
            let quiet = self.is_quiet(f);
            let fixed = self.fixed_struct(f);
            for i in 0..count {
                let step = Step::Index(i as u32);
                if let Some(width) = fixed
                    && self.fixed_element(step, f, width)
                {
                    continue;
                }
                // Array elements are never null.
                let read = if quiet {
                    let at = self.r.pos;
                    self.quiet_value(f, compact, false, step, at)
                } else {
                    self.v.open(step, f, self.r.pos);
                    self.value(f, compact, false)
                };
                if let Err(e) = read {
                    r = Err(with_step(e, step));
                    break;
                }
            }
        }
        self.depth -= 1;
        self.v.end_array();
        self.close();
        r
    }

    /// Whether `f`'s values are read over without telling the visitor
    /// (see [`Visit::EVERY_FIELD`]): scalars the visitor does not want.
    #[inline]
    fn is_quiet(&self, f: &FieldSpec) -> bool {
        !V::EVERY_FIELD && f.ty != Ty::Struct && !V::interesting(f)
    }

    /// For an array of structs `f` whose elements are all fixed-width
    /// scalars in this version (and, to a visitor not told of every field,
    /// none it wants): the elements' width without their tagged section.
    /// Only where a struct one level deeper is allowed.
    fn fixed_struct(&self, f: &FieldSpec) -> Option<usize> {
        if f.ty != Ty::Struct || self.depth >= MAX_DEPTH {
            return None;
        }
        fixed_layout(children(f.first, f.len), self.cx.version, |k| {
            !V::EVERY_FIELD && V::interesting(k)
        })
    }

    /// The element at the reader, of `width` bytes (see
    /// [`fixed_struct`](Self::fixed_struct)) and an empty tagged section:
    /// read over without a word to a visitor not told of every field,
    /// offered whole to one that is ([`Visit::fixed_element`]). False
    /// (nothing read) when the element is cut, has tagged fields or the
    /// visitor wants it the long way.
    fn fixed_element(&mut self, step: Step, f: &'static FieldSpec, width: usize) -> bool {
        let start = self.r.pos;
        let end = start + width + usize::from(self.cx.flexible);
        if self.r.remaining() < end - start
            || (self.cx.flexible && self.r.buf.get(start + width) != Some(&0))
        {
            return false;
        }
        if V::EVERY_FIELD {
            let data = self.r.buf.get(start..start + width).unwrap_or_default();
            let specs = children(f.first, f.len);
            if !self.v.fixed_element(step, f, specs, self.cx.version, data) {
                return false;
            }
            self.kept = true;
        }
        self.r.pos = end;
        true
    }

    /// One scalar value of `f.ty` read over without an `open`: what
    /// [`value`](Self::value) reads and the errors it stops with; a null the
    /// schema does not allow is still told (as `step`, starting at `at`).
    fn quiet_value(
        &mut self,
        f: &'static FieldSpec,
        compact: bool,
        nullable: bool,
        step: Step,
        at: usize,
    ) -> Res<()> {
        let start = self.r.pos;
        let read = match f.ty.fixed_size() {
            Some(w) => self.r.take(w).map(|_| ()),
            None => match self.r.length(compact, f.ty != Ty::Str) {
                Ok(None) => {
                    if !nullable {
                        self.v.open(step, f, at);
                        self.v.scalar(Scalar::Null { allowed: false });
                        self.close();
                    }
                    Ok(())
                }
                Ok(Some(n)) => self.r.take(n).map(|_| ()).map_err(|mut e| {
                    e.offset = start;
                    e
                }),
                Err(e) => Err(e),
            },
        };
        if read.is_err() {
            // As an aborted value: nothing of it is kept.
            self.kept = false;
        }
        read
    }

    /// One value of `f.ty`, after its `open`.
    fn value(&mut self, f: &'static FieldSpec, compact: bool, nullable: bool) -> Res<()> {
        let start = self.r.pos;
        let v = match read_scalar(&mut self.r, f, compact, nullable) {
            Ok(Some(v)) => v,
            Ok(None) => return self.structure(f, start),
            Err(e) => {
                self.abort();
                return Err(e);
            }
        };
        self.v.scalar(v);
        self.close();
        Ok(())
    }

    fn structure(&mut self, f: &'static FieldSpec, start: usize) -> Res<()> {
        let specs = children(f.first, f.len);
        self.v.begin_struct();
        self.depth += 1;
        let r = if self.depth > MAX_DEPTH {
            stop(DecodeErrorKind::Invalid("nesting too deep"), start)
        } else {
            self.fields(specs, None)
        };
        self.depth -= 1;
        self.v.end_struct();
        self.close();
        r
    }
}

/// A value that is not a struct (`None` for a non-null struct, whose null
/// marker, if any, has been read), at `r`'s position.
pub(super) fn read_scalar<'a>(
    r: &mut Reader<'a>,
    f: &FieldSpec,
    compact: bool,
    nullable: bool,
) -> Res<Option<Scalar<'a>>> {
    let start = r.pos;
    Ok(Some(match f.ty {
        Ty::Bool => Scalar::Bool(r.array::<1>()?[0] != 0),
        Ty::Int8 => Scalar::Int(i64::from(i8::from_be_bytes(*r.array()?))),
        Ty::Int16 => Scalar::Int(i64::from(i16::from_be_bytes(*r.array()?))),
        Ty::Uint16 => Scalar::Int(i64::from(u16::from_be_bytes(*r.array()?))),
        Ty::Int32 => Scalar::Int(i64::from(i32::from_be_bytes(*r.array()?))),
        Ty::Uint32 => Scalar::Int(i64::from(u32::from_be_bytes(*r.array()?))),
        Ty::Int64 => Scalar::Int(i64::from_be_bytes(*r.array()?)),
        Ty::Float64 => Scalar::Float(f64::from_be_bytes(*r.array()?)),
        Ty::Uuid => Scalar::Uuid(r.array()?),
        Ty::Str | Ty::Bytes | Ty::Records => match r.length(compact, f.ty != Ty::Str)? {
            None => Scalar::Null { allowed: nullable },
            Some(n) => {
                let at = r.pos;
                let data = r.take(n).map_err(|mut e| {
                    e.offset = start;
                    e
                })?;
                match f.ty {
                    Ty::Str => Scalar::Str(data),
                    Ty::Bytes => Scalar::Bytes(data),
                    _ => Scalar::Records(at as u32, r.pos as u32),
                }
            }
        },
        Ty::Struct => {
            if nullable && i8::from_be_bytes(*r.array()?) < 0 {
                Scalar::Null { allowed: true }
            } else {
                return Ok(None);
            }
        }
    }))
}

/// Stands in for the spec of an unknown tagged field.
static UNKNOWN: FieldSpec = FieldSpec {
    name: "",
    ty: Ty::Bytes,
    array: false,
    versions: super::spec::NO,
    nullable: super::spec::NO,
    tagged: super::spec::NO,
    tag: 0,
    never_compact: false,
    first: 0,
    len: 0,
    error_code: false,
};

/// The run `first..first + len` of the field table.
pub(super) fn children(first: u16, len: u16) -> &'static [FieldSpec] {
    let (first, len) = (usize::from(first), usize::from(len));
    FIELDS.get(first..first + len).unwrap_or(&[])
}

/// What a walk of a whole message found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Walked {
    pub message: &'static MessageSpec,
    /// The schema version used (see [`super::Decoded::version`]).
    pub version: i16,
    pub assumed_version: bool,
    /// Bytes read.
    pub consumed: usize,
    pub error: Option<DecodeError>,
}

/// How a message's version is read: the schema version actually used and
/// whether it was assumed, or an error for a version below any known.
pub(super) fn resolve(spec: &'static MessageSpec, version: i16) -> Option<(i16, bool, Cx)> {
    let (used, assumed) = if version > spec.versions.hi {
        (spec.versions.hi, true)
    } else {
        (version, false)
    };
    let seg = spec.segment(used)?;
    Some((
        used,
        assumed,
        Cx {
            version: used,
            flexible: seg.flexible.contains(used),
        },
    ))
}

/// Walk `buf[start..]` as `spec` at `version`, telling `v`; the same
/// result as the interpreter (`interp::decode_at`) without its tree.
pub fn walk_message<'a, V: Visit<'a>>(
    spec: &'static MessageSpec,
    version: i16,
    buf: &'a [u8],
    start: usize,
    v: &mut V,
) -> Walked {
    walk_message_with(spec, version, buf, start, v, None)
}

/// [`walk_message`], also noting where each top-level field lies (what a
/// view of the message records; see [`super::view::RootOffsets`]).
pub(super) fn walk_message_with<'a, V: Visit<'a>>(
    spec: &'static MessageSpec,
    version: i16,
    buf: &'a [u8],
    start: usize,
    v: &mut V,
    offs: Option<&mut Offsets<'_>>,
) -> Walked {
    let fail = |kind, version| Walked {
        message: spec,
        version,
        assumed_version: false,
        consumed: start,
        error: Some(DecodeError {
            kind,
            offset: start,
            path: String::new(),
        }),
    };
    if u32::try_from(buf.len()).is_err() {
        return fail(DecodeErrorKind::Invalid("body larger than 4 GiB"), version);
    }
    let Some((used, assumed, cx)) = resolve(spec, version) else {
        return fail(DecodeErrorKind::UnknownVersion, version);
    };
    let specs = spec.segment(used).map_or(&[][..], |s| s.fields());
    let mut w = Walker::new(Reader::new(buf, start, buf.len()), cx, v);
    let r = w.fields(specs, offs);
    let pos = w.r.pos;
    let error = match r {
        Err(e) => Some((*e).into_error()),
        // Newer versions of data messages only append fields, which
        // readers of older versions ignore (Kafka's own rule for these).
        Ok(()) if assumed && spec.kind == MessageKind::Data => None,
        Ok(()) if pos < buf.len() => Some(DecodeError {
            kind: DecodeErrorKind::TrailingBytes,
            offset: pos,
            path: String::new(),
        }),
        Ok(()) => None,
    };
    Walked {
        message: spec,
        version: used,
        assumed_version: assumed,
        consumed: pos,
        error,
    }
}

/// The version a body is to be read at: its own, except for an ApiVersions
/// response that only decodes as v0 (a broker answers a version it does not
/// support with UNSUPPORTED_VERSION in the v0 layout). See
/// [`super::decode_body`].
pub fn body_version(spec: &'static MessageSpec, version: i16, buf: &[u8]) -> i16 {
    if spec.api_key == super::API_VERSIONS && spec.kind == MessageKind::Response && version > 0 {
        let own = walk_message(spec, version, buf, 0, &mut Skip);
        if own.error.is_some() && walk_message(spec, 0, buf, 0, &mut Skip).error.is_none() {
            return 0;
        }
    }
    version
}
