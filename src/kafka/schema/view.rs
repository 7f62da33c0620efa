//! Zero-copy views over a message body: what analysis reads instead of a
//! tree. A [`StructView`] borrows the body's bytes and knows where each of
//! its fields starts (one scan by the walker, no allocation); scalars,
//! strings and bytes are read from the bytes when asked for, nested structs
//! and arrays are scanned when they are reached, array elements one by one.
//!
//! The generated typed views ([`super::views`]) wrap these with one method
//! per field; code outside the generator and the JSON writer never names a
//! field by string.
//!
//! A field the message's version lacks, a null, a string that is not UTF-8
//! and a field the body ends before are all `None`: the view of a body that
//! failed to decode holds what was read before the error, as the tree did
//! (a struct or array cut by the error keeps its complete part).

use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

use super::spec::{FieldSpec, MessageSpec, Ty};
use super::walk::{Cx, Offsets, Reader, Scalar, Skip, Walker, children, read_scalar, resolve};

/// Most fields of one struct a view records (the table tests check that no
/// Kafka struct has more).
pub const MAX_FIELDS: usize = 20;

const NOT_READ: u32 = u32::MAX;

/// Where the top-level fields of a message lie: recorded by the walk that
/// decodes a body ([`walk_with_root`]), kept with it, so that views of the
/// body need no scan of their own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootOffsets {
    /// Where the first `n` fields start, then where they end (`n` each:
    /// up to the last field read).
    offsets: Box<[u32]>,
    end: u32,
    complete: bool,
}

impl RootOffsets {
    /// Heap bytes it holds (for memory budgets).
    pub fn heap_bytes(&self) -> usize {
        self.offsets.len() * std::mem::size_of::<u32>()
    }
}

/// [`walk_message`](super::walk::walk_message) telling `v`, and where the
/// message's top-level fields lie.
pub fn walk_with_root<'a, V: super::walk::Visit<'a>>(
    spec: &'static MessageSpec,
    version: i16,
    buf: &'a [u8],
    v: &mut V,
) -> (super::walk::Walked, RootOffsets) {
    let mut starts = [NOT_READ; MAX_FIELDS];
    let mut ends = [NOT_READ; MAX_FIELDS];
    let walked = super::walk::walk_message_with(
        spec,
        version,
        buf,
        0,
        v,
        Some(&mut Offsets {
            starts: &mut starts,
            ends: &mut ends,
        }),
    );
    // The struct is complete when every field was read: trailing bytes are
    // after it.
    let complete = walked
        .error
        .as_ref()
        .is_none_or(|e| e.kind == super::interp::DecodeErrorKind::TrailingBytes);
    let n = starts
        .iter()
        .rposition(|&s| s != NOT_READ)
        .map_or(0, |i| i + 1);
    let offsets = starts
        .iter()
        .take(n)
        .chain(ends.iter().take(n))
        .copied()
        .collect();
    let root = RootOffsets {
        offsets,
        end: walked.consumed as u32,
        complete,
    };
    (walked, root)
}

/// One struct (or the message itself) of a body.
#[derive(Clone, Copy, Debug)]
pub struct StructView<'a> {
    buf: &'a [u8],
    specs: &'static [FieldSpec],
    cx: Cx,
    start: u32,
    end: u32,
    complete: bool,
    starts: [u32; MAX_FIELDS],
    ends: [u32; MAX_FIELDS],
}

impl<'a> StructView<'a> {
    /// The view of `buf`, a whole `spec` message at `version` (the schema
    /// version a decode used: see [`super::Decoded::version`]); `None` for a
    /// version below any known.
    pub fn message(spec: &'static MessageSpec, version: i16, buf: &'a [u8]) -> Option<Self> {
        let (used, _, cx) = resolve(spec, version)?;
        let specs = spec.segment(used)?.fields();
        Some(Self::scan(buf, specs, cx, 0, buf.len()))
    }

    /// The view of `buf`, a whole `spec` message preceded by its int16
    /// version (the consumer protocol's subscription and assignment as
    /// JoinGroup and SyncGroup carry them); offsets count the version's
    /// two bytes. `None` when `buf` is shorter than two bytes or the version
    /// is below any known.
    pub fn versioned_message(spec: &'static MessageSpec, buf: &'a [u8]) -> Option<Self> {
        let v = buf.get(..2)?;
        let (used, _, cx) = resolve(spec, i16::from_be_bytes([v[0], v[1]]))?;
        let specs = spec.segment(used)?.fields();
        Some(Self::scan(buf, specs, cx, 2, buf.len()))
    }

    /// Scan the struct of `specs` at `buf[start..end]`.
    fn scan(buf: &'a [u8], specs: &'static [FieldSpec], cx: Cx, start: usize, end: usize) -> Self {
        let mut starts = [NOT_READ; MAX_FIELDS];
        let mut ends = [NOT_READ; MAX_FIELDS];
        let mut skip = Skip;
        let mut w = Walker::new(Reader::new(buf, start, end), cx, &mut skip);
        let r = w.fields(
            specs,
            Some(&mut Offsets {
                starts: &mut starts,
                ends: &mut ends,
            }),
        );
        StructView {
            buf,
            specs,
            cx,
            start: start as u32,
            end: w.r.pos as u32,
            complete: r.is_ok(),
            starts,
            ends,
        }
    }

    /// The view of a whole message from what a walk of it recorded
    /// (no scan).
    pub fn from_root(
        spec: &'static MessageSpec,
        version: i16,
        buf: &'a [u8],
        root: &RootOffsets,
    ) -> Option<Self> {
        let (used, _, cx) = resolve(spec, version)?;
        let specs = spec.segment(used)?.fields();
        let mut starts = [NOT_READ; MAX_FIELDS];
        let mut ends = [NOT_READ; MAX_FIELDS];
        let (s, e) = root.offsets.split_at(root.offsets.len() / 2);
        for (to, from) in [(&mut starts, s), (&mut ends, e)] {
            for (t, f) in to.iter_mut().zip(from) {
                *t = *f;
            }
        }
        Some(StructView {
            buf,
            specs,
            cx,
            start: 0,
            end: root.end,
            complete: root.complete,
            starts,
            ends,
        })
    }

    /// The whole body the view reads (offsets are into it).
    pub fn body(&self) -> &'a [u8] {
        self.buf
    }

    /// Every field was read (no error inside the struct).
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The struct's bytes in the body (up to the error, if any).
    pub fn range(&self) -> Range<u32> {
        self.start..self.end
    }

    /// The schema version the view reads.
    pub fn version(&self) -> i16 {
        self.cx.version
    }

    /// The field called `name` with where its value lies, when read.
    fn find(&self, name: &str) -> Option<(&'static FieldSpec, usize, usize)> {
        let i = self
            .specs
            .iter()
            .position(|f| f.name == name && f.versions.contains(self.cx.version))?;
        let (s, e) = (*self.starts.get(i)?, *self.ends.get(i)?);
        if s == NOT_READ {
            return None;
        }
        Some((self.specs.get(i)?, s as usize, e as usize))
    }

    /// Whether the field is in this version and was read.
    pub fn has(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// Where the field's bytes start in the body (its length prefix; its tag
    /// for a tagged field); the key of decoded embedded protocols.
    pub fn offset(&self, name: &str) -> Option<u32> {
        self.find(name).map(|(_, s, _)| s as u32)
    }

    fn scalar(&self, name: &str) -> Option<Scalar<'a>> {
        let (f, s, e) = self.find(name)?;
        if f.array {
            return None;
        }
        let mut r = Reader::new(self.buf, s, e);
        let compact = self.cx.flexible && !f.never_compact;
        read_scalar(&mut r, f, compact, true).ok().flatten()
    }

    /// An integer field (int8 to int64, uint16, uint32).
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.scalar(name)? {
            Scalar::Int(i) => Some(i),
            _ => None,
        }
    }

    // The integer of a field of that type, for the generated views (a
    // value that does not fit, which the walker cannot read, is `None`).

    pub fn i8(&self, name: &str) -> Option<i8> {
        self.int(name).and_then(|i| i8::try_from(i).ok())
    }

    pub fn i16(&self, name: &str) -> Option<i16> {
        self.int(name).and_then(|i| i16::try_from(i).ok())
    }

    pub fn u16(&self, name: &str) -> Option<u16> {
        self.int(name).and_then(|i| u16::try_from(i).ok())
    }

    pub fn i32(&self, name: &str) -> Option<i32> {
        self.int(name).and_then(|i| i32::try_from(i).ok())
    }

    pub fn u32(&self, name: &str) -> Option<u32> {
        self.int(name).and_then(|i| u32::try_from(i).ok())
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.scalar(name)? {
            Scalar::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn float(&self, name: &str) -> Option<f64> {
        match self.scalar(name)? {
            Scalar::Float(f) => Some(f),
            _ => None,
        }
    }

    /// A string field; `None` when null or not UTF-8 (see [`Self::str_bytes`]).
    pub fn str(&self, name: &str) -> Option<&'a str> {
        std::str::from_utf8(self.str_bytes(name)?).ok()
    }

    /// A string field's bytes, whatever they hold.
    pub fn str_bytes(&self, name: &str) -> Option<&'a [u8]> {
        match self.scalar(name)? {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn bytes(&self, name: &str) -> Option<&'a [u8]> {
        match self.scalar(name)? {
            Scalar::Bytes(b) => Some(b),
            _ => None,
        }
    }

    pub fn uuid(&self, name: &str) -> Option<&'a [u8; 16]> {
        match self.scalar(name)? {
            Scalar::Uuid(u) => Some(u),
            _ => None,
        }
    }

    /// A bytes field's data range in the body (after its length).
    pub fn bytes_range(&self, name: &str) -> Option<Range<u32>> {
        let (f, s, e) = self.find(name)?;
        let mut r = Reader::new(self.buf, s, e);
        let compact = self.cx.flexible && !f.never_compact;
        match read_scalar(&mut r, f, compact, true).ok().flatten()? {
            Scalar::Bytes(b) => Some((r.pos - b.len()) as u32..r.pos as u32),
            _ => None,
        }
    }

    /// A `records` field's data range in the body (after its length).
    pub fn records(&self, name: &str) -> Option<Range<u32>> {
        match self.scalar(name)? {
            Scalar::Records(s, e) => Some(s..e),
            _ => None,
        }
    }

    /// A struct field; `None` when null.
    pub fn strukt(&self, name: &str) -> Option<StructView<'a>> {
        let (f, s, e) = self.find(name)?;
        if f.array || f.ty != Ty::Struct {
            return None;
        }
        let mut r = Reader::new(self.buf, s, e);
        let compact = self.cx.flexible && !f.never_compact;
        let nullable = f.nullable.contains(self.cx.version);
        match read_scalar(&mut r, f, compact, nullable) {
            Ok(None) => Some(Self::scan(
                self.buf,
                children(f.first, f.len),
                self.cx,
                r.pos,
                e,
            )),
            _ => None,
        }
    }

    /// An array field; `None` when null.
    pub fn array(&self, name: &str) -> Option<ArrayView<'a>> {
        let (f, s, e) = self.find(name)?;
        if !f.array {
            return None;
        }
        let mut r = Reader::new(self.buf, s, e);
        let compact = self.cx.flexible && !f.never_compact;
        let count = r.length(compact, true).ok()??;
        Some(ArrayView {
            buf: self.buf,
            f,
            cx: self.cx,
            pos: r.pos,
            end: e,
            count,
        })
    }
}

/// An array field: its elements are read as they are iterated.
#[derive(Clone, Copy, Debug)]
pub struct ArrayView<'a> {
    buf: &'a [u8],
    f: &'static FieldSpec,
    cx: Cx,
    pos: usize,
    /// Where the array's bytes end (all of them, or where reading stopped).
    end: usize,
    count: usize,
}

impl<'a> ArrayView<'a> {
    /// The count on the wire (the elements read may be fewer when the body
    /// is cut inside the array).
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The elements of an array of structs (nothing for other arrays); a
    /// struct cut by an error is the last one yielded.
    pub fn structs(&self) -> Structs<'a> {
        Structs {
            a: *self,
            left: if self.f.ty == Ty::Struct {
                self.count
            } else {
                0
            },
            done: false,
            fixed: None,
        }
    }

    /// The elements of an array of scalars, up to the first that cannot be
    /// read (nothing for arrays of structs).
    pub fn scalars(&self) -> Scalars<'a> {
        Scalars {
            a: *self,
            left: if self.f.ty == Ty::Struct {
                0
            } else {
                self.count
            },
        }
    }

    /// The elements of an array of integers.
    pub fn ints(&self) -> impl Iterator<Item = i64> + 'a {
        self.scalars().filter_map(|s| match s {
            Scalar::Int(i) => Some(i),
            _ => None,
        })
    }

    /// The elements of an array of strings (`None` for one that is not UTF-8).
    pub fn strs(&self) -> impl Iterator<Item = Option<&'a str>> + 'a {
        self.scalars().filter_map(|s| match s {
            Scalar::Str(b) => Some(std::str::from_utf8(b).ok()),
            _ => None,
        })
    }

    /// The elements of an array of UUIDs.
    pub fn uuids(&self) -> impl Iterator<Item = &'a [u8; 16]> + 'a {
        self.scalars().filter_map(|s| match s {
            Scalar::Uuid(u) => Some(u),
            _ => None,
        })
    }
}

/// Iterator over an array's struct elements.
pub struct Structs<'a> {
    a: ArrayView<'a>,
    left: usize,
    done: bool,
    /// The elements' layout when every regular field (in this version) has
    /// a fixed width: worked out once [`FIXED_FROM`] elements are left.
    fixed: Option<Option<Box<Fixed>>>,
}

/// Elements left from which an array's [`Fixed`] layout is worked out.
const FIXED_FROM: usize = 2;

/// Where the fields of a struct whose regular fields all have a fixed width
/// lie, from its start: an element without tagged fields is then read
/// without a scan (what the scan would record, at a fraction of the cost).
struct Fixed {
    /// The regular fields' width (the tagged section follows).
    width: usize,
    starts: [u32; MAX_FIELDS],
    ends: [u32; MAX_FIELDS],
}

impl Fixed {
    fn of(specs: &'static [FieldSpec], cx: Cx) -> Option<Box<Fixed>> {
        let mut fx = Fixed {
            width: 0,
            starts: [NOT_READ; MAX_FIELDS],
            ends: [NOT_READ; MAX_FIELDS],
        };
        for (i, f) in super::walk::regular(specs, cx.version) {
            if f.array {
                return None;
            }
            let w = f.ty.fixed_size()?;
            let (s, e) = (fx.starts.get_mut(i)?, fx.ends.get_mut(i)?);
            *s = fx.width as u32;
            fx.width += w;
            *e = fx.width as u32;
        }
        Some(Box::new(fx))
    }

    /// The element at `pos` when it is whole and has no tagged fields.
    fn view<'a>(
        &self,
        buf: &'a [u8],
        specs: &'static [FieldSpec],
        cx: Cx,
        pos: usize,
        end: usize,
    ) -> Option<StructView<'a>> {
        let tags = usize::from(cx.flexible);
        let end = end.min(buf.len());
        if end.saturating_sub(pos) < self.width + tags
            || (tags == 1 && buf.get(pos + self.width) != Some(&0))
        {
            return None;
        }
        let at = u32::try_from(pos).ok()?;
        let shift = |o: &[u32; MAX_FIELDS]| o.map(|x| if x == NOT_READ { x } else { x + at });
        Some(StructView {
            buf,
            specs,
            cx,
            start: at,
            end: (pos + self.width + tags) as u32,
            complete: true,
            starts: shift(&self.starts),
            ends: shift(&self.ends),
        })
    }
}

impl<'a> Iterator for Structs<'a> {
    type Item = StructView<'a>;

    fn next(&mut self) -> Option<StructView<'a>> {
        if self.left == 0 || self.done {
            return None;
        }
        // Worth working out for arrays of more than one element (this one
        // included).
        if self.fixed.is_none() && self.left >= FIXED_FROM {
            self.fixed = Some(Fixed::of(children(self.a.f.first, self.a.f.len), self.a.cx));
        }
        self.left -= 1;
        let a = &mut self.a;
        let specs = children(a.f.first, a.f.len);
        if let Some(v) = self
            .fixed
            .as_ref()
            .and_then(|fx| fx.as_ref()?.view(a.buf, specs, a.cx, a.pos, a.end))
        {
            a.pos = v.end as usize;
            return Some(v);
        }
        let v = StructView::scan(a.buf, specs, a.cx, a.pos, a.end);
        a.pos = v.end as usize;
        self.done = !v.complete;
        Some(v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

/// Iterator over an array's scalar elements.
pub struct Scalars<'a> {
    a: ArrayView<'a>,
    left: usize,
}

impl<'a> Iterator for Scalars<'a> {
    type Item = Scalar<'a>;

    fn next(&mut self) -> Option<Scalar<'a>> {
        if self.left == 0 {
            return None;
        }
        let a = &mut self.a;
        let mut r = Reader::new(a.buf, a.pos, a.end);
        let compact = a.cx.flexible && !a.f.never_compact;
        match read_scalar(&mut r, a.f, compact, false) {
            Ok(Some(s)) => {
                self.left -= 1;
                a.pos = r.pos;
                Some(s)
            }
            _ => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

/// What a typed [`Array`] yields: a generated struct view
/// ([`super::views`]) or a scalar. A conversion that fails (an element of
/// another type) ends the iteration, as an unreadable element does.
pub trait Element<'a>: Sized {
    /// An element of an array of structs.
    fn from_struct(_: StructView<'a>) -> Option<Self> {
        None
    }

    /// An element of an array of scalars.
    fn from_scalar(_: Scalar<'a>) -> Option<Self> {
        None
    }
}

macro_rules! int_elements {
    ($($t:ty)*) => {$(
        impl Element<'_> for $t {
            fn from_scalar(s: Scalar<'_>) -> Option<Self> {
                match s {
                    Scalar::Int(i) => <$t>::try_from(i).ok(),
                    _ => None,
                }
            }
        }
    )*};
}

int_elements!(i8 i16 u16 i32 u32 i64);

impl Element<'_> for bool {
    fn from_scalar(s: Scalar<'_>) -> Option<Self> {
        match s {
            Scalar::Bool(b) => Some(b),
            _ => None,
        }
    }
}

impl Element<'_> for f64 {
    fn from_scalar(s: Scalar<'_>) -> Option<Self> {
        match s {
            Scalar::Float(f) => Some(f),
            _ => None,
        }
    }
}

/// A string element; `None` when it is not UTF-8 (the element is still
/// counted, so indexes stay those of the wire).
impl<'a> Element<'a> for Option<&'a str> {
    fn from_scalar(s: Scalar<'a>) -> Option<Self> {
        match s {
            Scalar::Str(b) => Some(std::str::from_utf8(b).ok()),
            _ => None,
        }
    }
}

impl<'a> Element<'a> for &'a [u8] {
    fn from_scalar(s: Scalar<'a>) -> Option<Self> {
        match s {
            Scalar::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

impl<'a> Element<'a> for &'a [u8; 16] {
    fn from_scalar(s: Scalar<'a>) -> Option<Self> {
        match s {
            Scalar::Uuid(u) => Some(u),
            _ => None,
        }
    }
}

/// A typed array field of a generated view: its elements are read as they
/// are iterated, as with [`ArrayView`].
pub struct Array<'a, T> {
    view: ArrayView<'a>,
    elem: PhantomData<fn() -> T>,
}

impl<T> Clone for Array<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Array<'_, T> {}

impl<T> fmt::Debug for Array<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Array").field(&self.view).finish()
    }
}

impl<'a, T> Array<'a, T> {
    pub fn new(view: ArrayView<'a>) -> Self {
        Array {
            view,
            elem: PhantomData,
        }
    }

    /// The count on the wire (the elements read may be fewer when the body
    /// is cut inside the array).
    pub fn len(&self) -> usize {
        self.view.len()
    }

    pub fn is_empty(&self) -> bool {
        self.view.is_empty()
    }

    /// The untyped view.
    pub fn view(&self) -> ArrayView<'a> {
        self.view
    }
}

impl<'a, T: Element<'a>> Array<'a, T> {
    /// The elements, read one by one; a struct cut by an error is the last
    /// one yielded, a scalar that cannot be read ends the iteration.
    pub fn iter(&self) -> Elements<'a, T> {
        Elements {
            structs: self.view.structs(),
            scalars: self.view.scalars(),
            elem: PhantomData,
        }
    }
}

impl<'a, T: Element<'a>> IntoIterator for Array<'a, T> {
    type Item = T;
    type IntoIter = Elements<'a, T>;

    fn into_iter(self) -> Elements<'a, T> {
        self.iter()
    }
}

/// Iterator over a typed [`Array`].
pub struct Elements<'a, T> {
    // One of the two is empty: `structs` for arrays of scalars, `scalars`
    // for arrays of structs.
    structs: Structs<'a>,
    scalars: Scalars<'a>,
    elem: PhantomData<fn() -> T>,
}

impl<'a, T: Element<'a>> Iterator for Elements<'a, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let next = match self.structs.next() {
            Some(v) => T::from_struct(v),
            None => self.scalars.next().and_then(T::from_scalar),
        };
        if next.is_none() {
            self.structs.left = 0;
            self.scalars.left = 0;
        }
        next
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.structs.left + self.scalars.left))
    }
}
