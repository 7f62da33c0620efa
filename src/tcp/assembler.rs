//! A bounded out-of-order buffer for one direction of a TCP connection.
//!
//! Positions are 64-bit stream offsets: the caller has already unwrapped the
//! 32-bit sequence numbers. The buffer holds *runs*, sorted and never
//! overlapping, each either captured bytes or an extent whose bytes the
//! snaplen cut (a "cut" run, which owns no memory and becomes a
//! [`GapCause::Snaplen`](super::GapCause::Snaplen) gap when it is reached).
//! Adjacent runs of the same kind are merged, so the number of runs is the
//! number of holes in front of them plus the data/cut boundaries.
//!
//! Contract: the first writer wins. Bytes already buffered are never
//! overwritten by a later segment covering them; the overlap is reported as
//! duplicate bytes, and where the new copy's bytes differ from the buffered
//! ones, as a [`Mismatch`]. The buffer enforces no limit itself (like
//! smoltcp's assembler, which answers "too many holes" instead of growing,
//! the limit is a decision for the caller): an insert may go past the limits
//! by at most the inserted segment, and the caller then gives up the oldest
//! holes until [`Assembler::bytes`] and [`Assembler::runs`] are within them
//! again.
//!
//! # Storage and cost
//!
//! The bytes live in pages of [`PAGE_BYTES`] aligned to stream offsets (page
//! `k` holds offsets `k * PAGE_BYTES ..`), shared by every run that touches
//! them; the runs themselves are only extents in an ordered map. So a byte
//! is copied once, into the buffer, whatever the arrival order: placing a
//! segment costs its length plus a logarithm per page and per run it
//! touches; runs that meet are joined without moving a byte (prepending to a
//! run, as segments arriving last-first do, is as cheap as appending); a run
//! is delivered from its pages, a page at a time
//! ([`Assembler::pop_front_with`]), each page freed as it is read, so
//! delivering needs no memory of its own. Overlaps are compared in the same
//! pass, byte for byte, once.
//!
//! Memory, honestly: [`Assembler::bytes`] (what the caller limits) counts the
//! data bytes held. Besides them the buffer holds at most two partly used
//! pages per data run plus one page (so up to `2 * PAGE_BYTES` per run,
//! which is what a hostile 1-byte segment far from any other costs: the run
//! limit bounds it), an index entry of some 40 bytes per page and per run,
//! and at most [`MAX_MARKS`] arrival marks (some 80 bytes each). That is
//! `bytes + (2 * runs + 1) * PAGE_BYTES` plus a few percent plus a fixed
//! amount: nothing grows with the number or the size of the segments that
//! went through.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::ops::Bound::{Excluded, Unbounded};

use crate::capture::PacketRef;

/// Most arrival marks kept per direction; beyond it neighbours are merged
/// (keeping the later packet, so a message is never dated too early).
pub const MAX_MARKS: usize = 1024;

/// Bytes per buffer page. Small enough that a run of one byte wastes little,
/// large enough that the page index stays a few percent of the bytes.
pub const PAGE_BYTES: usize = 1024;

const PAGE: u64 = PAGE_BYTES as u64;

/// Read in place of a missing page (which cannot be).
static ZEROS: [u8; PAGE_BYTES] = [0; PAGE_BYTES];

type Page = Box<[u8; PAGE_BYTES]>;

/// Where a run is: buffered bytes, or an extent the capture cut off (`cut`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    /// Exclusive.
    pub end: u64,
    pub cut: bool,
}

/// Bytes of a new copy that differ from the copy held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Stream offset of the first differing byte.
    pub offset: u64,
    /// How many bytes differ (not the extent they span).
    pub len: u64,
}

/// What inserting a segment found where it overlapped the buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Bytes that were already covered (kept, the new copy discarded).
    pub dup: u64,
    /// Covered data bytes the new copy has differently.
    pub mismatch: Option<Mismatch>,
}

#[derive(Clone, Copy)]
enum Piece<'a> {
    Data(&'a [u8]),
    Cut,
}

/// A run in the index, keyed by its start.
#[derive(Clone, Copy, Debug)]
struct Extent {
    end: u64,
    cut: bool,
}

/// A mark in the index, keyed by its start.
#[derive(Clone, Copy, Debug)]
struct Dated {
    end: u64,
    at: PacketRef,
}

/// The later of two packets.
fn later(a: PacketRef, b: PacketRef) -> PacketRef {
    if b.frame >= a.frame { b } else { a }
}

/// Forget the marks of bytes before `end`.
fn drop_marks(marks: &mut BTreeMap<u64, Dated>, end: u64) {
    while let Some(e) = marks.first_entry()
        && *e.key() < end
    {
        let m = e.remove();
        if m.end > end {
            marks.insert(end, m);
            break;
        }
    }
}

/// Add the bytes of `new` that differ from `held` (both at `offset`).
fn compare_into(offset: u64, held: &[u8], new: &[u8], acc: &mut Option<Mismatch>) {
    if held == new {
        return;
    }
    let mut differ = held
        .iter()
        .zip(new)
        .enumerate()
        .filter(|(_, (a, b))| a != b);
    let Some((first, _)) = differ.next() else {
        return;
    };
    let len = 1 + differ.count() as u64;
    match acc {
        Some(m) => m.len += len,
        None => {
            *acc = Some(Mismatch {
                offset: offset + first as u64,
                len,
            })
        }
    }
}

/// Out-of-order runs of one direction, in stream order.
#[derive(Debug, Default)]
pub struct Assembler {
    /// Runs by start: sorted, not overlapping, touching ones of the same kind
    /// merged.
    runs: BTreeMap<u64, Extent>,
    /// Pages by index. A page exists while a data run touches it, except that
    /// the one holding the front run's start may outlive its data by one pop.
    pages: BTreeMap<u64, Page>,
    /// Captured bytes held (cut runs count nothing).
    bytes: usize,
    /// Which packet brought which buffered bytes, by start, not overlapping:
    /// when a hole is given up, the bytes after it are dated by their own
    /// packets, not by the packet that gave the hole up.
    marks: BTreeMap<u64, Dated>,
}

impl Assembler {
    pub fn new() -> Self {
        Assembler::default()
    }

    /// Bytes of captured data held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of runs held.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Pages allocated (each [`PAGE_BYTES`] long).
    pub fn pages(&self) -> usize {
        self.pages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The first run.
    pub fn front(&self) -> Option<Span> {
        self.runs.first_key_value().map(|(&start, e)| Span {
            start,
            end: e.end,
            cut: e.cut,
        })
    }

    /// Take the first run off, dropping its bytes; its pages are freed (but
    /// the one where the next run starts).
    pub fn pop_front(&mut self) -> Option<Span> {
        self.pop_front_with(u64::MAX, false, |_, _, _| Ok::<(), Infallible>(()))
            .map(|(span, _)| span)
    }

    /// Take the first run off, and hand its bytes from offset `from` on to
    /// `each(offset, bytes, at)`, in order, a page at a time, freeing the
    /// pages as they are read: delivering a run needs no memory of its own.
    /// With `dated`, the pieces are also cut where the packet that brought
    /// them changes, and `at` is that packet (`None` for bytes no mark dates,
    /// which cannot be); without, `at` is `None`. The run's marks are
    /// dropped. After an error `each` gets nothing more, but the run is gone
    /// all the same. The caller is done with the offsets before the run's
    /// end: nothing is inserted there again.
    pub fn pop_front_with<E>(
        &mut self,
        from: u64,
        dated: bool,
        mut each: impl FnMut(u64, &[u8], Option<PacketRef>) -> Result<(), E>,
    ) -> Option<(Span, Result<(), E>)> {
        let (start, e) = self.runs.pop_first()?;
        // Pages before the one where the next run starts hold nothing else.
        let keep_from = self
            .runs
            .first_key_value()
            .map_or(u64::MAX, |(&s, _)| s / PAGE);
        let mut result = Ok(());
        if !e.cut {
            self.bytes -= (e.end - start) as usize;
            let mut pos = start;
            while pos < e.end {
                let (idx, within) = (pos / PAGE, (pos % PAGE) as usize);
                let n = (PAGE_BYTES - within).min((e.end - pos) as usize);
                let removed;
                let page = if idx < keep_from {
                    removed = self.pages.remove(&idx);
                    removed.as_deref()
                } else {
                    self.pages.get(&idx).map(|p| &**p)
                };
                let piece_end = pos + n as u64;
                if result.is_ok() && piece_end > from {
                    // Every data byte has its page; should one be missing,
                    // zeros keep the stream positions right.
                    let page = &page.unwrap_or(&ZEROS)[within..within + n];
                    let mut cur = pos.max(from);
                    while result.is_ok() && cur < piece_end {
                        let (stop, by) = if dated {
                            drop_marks(&mut self.marks, cur);
                            match self.marks.first_key_value() {
                                Some((&s, m)) if s <= cur => (m.end.min(piece_end), Some(m.at)),
                                Some((&s, _)) => (s.min(piece_end), None),
                                None => (piece_end, None),
                            }
                        } else {
                            (piece_end, None)
                        };
                        let bytes = &page[(cur - pos) as usize..(stop - pos) as usize];
                        result = each(cur, bytes, by);
                        cur = stop;
                    }
                }
                pos = piece_end;
            }
        }
        while let Some(p) = self.pages.first_entry()
            && *p.key() < keep_from
        {
            p.remove();
        }
        drop_marks(&mut self.marks, e.end);
        if self.runs.is_empty() {
            // Drained: an emptied map keeps nodes, so let all go.
            self.clear();
        }
        let span = Span {
            start,
            end: e.end,
            cut: e.cut,
        };
        Some((span, result))
    }

    /// End of the last run, if any.
    pub fn end(&self) -> Option<u64> {
        self.runs.last_key_value().map(|(_, e)| e.end)
    }

    /// Drop everything and release the memory.
    pub fn clear(&mut self) {
        *self = Assembler::default();
    }

    /// The packet that brought the first buffered data byte.
    pub fn first_mark(&self) -> Option<PacketRef> {
        self.marks.first_key_value().map(|(_, m)| m.at)
    }

    /// Date the bytes `start..end`, just placed, by packet `at`.
    fn mark(&mut self, start: u64, end: u64, at: PacketRef) {
        // Marks do not overlap: stop at the next one.
        let next = self
            .marks
            .range((Excluded(start), Unbounded))
            .next()
            .map_or(u64::MAX, |(&s, _)| s);
        let end = end.min(next);
        let mut start = start;
        if let Some((_, m)) = self.marks.range_mut(..=start).next_back() {
            if m.end > start {
                // Inside a mark merged over a hole (see `MAX_MARKS`): it
                // dates these bytes too, by the later packet.
                m.at = later(m.at, at);
                if m.end >= end {
                    return;
                }
                start = m.end;
            } else if m.end == start && m.at == at {
                // The same packet, contiguous.
                m.end = end;
                return;
            }
        }
        if start >= end {
            return;
        }
        if self.marks.len() >= MAX_MARKS
            && self
                .marks
                .first_key_value()
                .is_some_and(|(&s, _)| start < s)
            && let Some((_, first)) = self.marks.pop_first()
        {
            // It would be first, and merged with the first at once (below):
            // merge now (bytes arriving last-first do this every time).
            let at = later(at, first.at);
            self.marks.insert(start, Dated { end: first.end, at });
            return;
        }
        self.marks.insert(start, Dated { end, at });
        if self.marks.len() > MAX_MARKS {
            // Merge the first two: the later packet dates both.
            if let (Some((start, a)), Some((_, b))) =
                (self.marks.pop_first(), self.marks.pop_first())
            {
                self.marks.insert(
                    start,
                    Dated {
                        end: b.end,
                        at: later(a.at, b.at),
                    },
                );
            }
        }
    }

    /// Drop everything at or after `end`.
    pub fn truncate(&mut self, end: u64) {
        drop(self.marks.split_off(&end));
        if let Some(mut m) = self.marks.last_entry() {
            let m = m.get_mut();
            m.end = m.end.min(end);
        }
        for (start, e) in self.runs.split_off(&end) {
            if !e.cut {
                self.bytes -= (e.end - start) as usize;
            }
        }
        if let Some(mut last) = self.runs.last_entry()
            && last.get().end > end
        {
            let e = last.get_mut();
            if !e.cut {
                self.bytes -= (e.end - end) as usize;
            }
            e.end = end;
        }
        // Pages past the last data byte.
        let data_end = self
            .runs
            .iter()
            .rev()
            .find(|(_, e)| !e.cut)
            .map_or(0, |(_, e)| e.end);
        drop(self.pages.split_off(&data_end.div_ceil(PAGE)));
        if self.runs.is_empty() {
            self.clear();
        }
    }

    /// Buffer `data` at `start`, brought by packet `at`. Bytes already
    /// buffered are kept (first writer wins): they are counted as duplicates,
    /// and compared with the new copy.
    pub fn insert_data(&mut self, start: u64, data: &[u8], at: PacketRef) -> Inserted {
        if data.is_empty() {
            return Inserted::default();
        }
        self.insert(start, start + data.len() as u64, Piece::Data(data), at)
    }

    /// Remember that the capture cut the bytes `start..end`, where nothing is
    /// buffered yet. Returns the number of bytes already covered.
    pub fn insert_cut(&mut self, start: u64, end: u64) -> u64 {
        if end <= start {
            return 0;
        }
        self.insert(start, end, Piece::Cut, PacketRef::default())
            .dup
    }

    /// Compare `new`, a copy of the bytes at `start` about to be delivered
    /// in order, with the data buffered there.
    pub fn compare(&self, start: u64, new: &[u8]) -> Option<Mismatch> {
        let end = start + new.len() as u64;
        if self.front().is_none_or(|f| f.start >= end) {
            return None;
        }
        let from = match self.runs.range(..=start).next_back() {
            Some((&s, e)) if e.end > start => s,
            _ => start,
        };
        let mut acc = None;
        for (&s, e) in self.runs.range(from..) {
            if s >= end {
                break;
            }
            if !e.cut {
                let (a, b) = (s.max(start), e.end.min(end));
                self.compare_held(
                    a,
                    &new[(a - start) as usize..(b - start) as usize],
                    &mut acc,
                );
            }
        }
        acc
    }

    /// Compare `new` with the buffered bytes at `start` (all data).
    fn compare_held(&self, start: u64, new: &[u8], acc: &mut Option<Mismatch>) {
        let mut pos = start;
        let mut rest = new;
        while !rest.is_empty() {
            let (idx, within) = (pos / PAGE, (pos % PAGE) as usize);
            let n = (PAGE_BYTES - within).min(rest.len());
            if let Some(page) = self.pages.get(&idx) {
                compare_into(pos, &page[within..within + n], &rest[..n], acc);
            }
            pos += n as u64;
            rest = &rest[n..];
        }
    }

    /// Copy `bytes` into the pages at `start`.
    fn write(&mut self, start: u64, bytes: &[u8]) {
        let mut pos = start;
        let mut rest = bytes;
        while !rest.is_empty() {
            let (idx, within) = (pos / PAGE, (pos % PAGE) as usize);
            let n = (PAGE_BYTES - within).min(rest.len());
            let page = self
                .pages
                .entry(idx)
                .or_insert_with(|| Box::new([0; PAGE_BYTES]));
            page[within..within + n].copy_from_slice(&rest[..n]);
            pos += n as u64;
            rest = &rest[n..];
        }
    }

    /// The run covering `pos`.
    fn covering(&self, pos: u64) -> Option<Span> {
        let (&start, e) = self.runs.range(..=pos).next_back()?;
        (e.end > pos).then_some(Span {
            start,
            end: e.end,
            cut: e.cut,
        })
    }

    fn insert(&mut self, start: u64, end: u64, piece: Piece<'_>, at: PacketRef) -> Inserted {
        let mut out = Inserted::default();
        let mut cur = start;
        while cur < end {
            if let Some(r) = self.covering(cur) {
                // `cur..` is covered by run `r`: skip past it, comparing.
                let stop = r.end.min(end);
                out.dup += stop - cur;
                if let Piece::Data(d) = piece
                    && !r.cut
                {
                    let new = &d[(cur - start) as usize..(stop - start) as usize];
                    self.compare_held(cur, new, &mut out.mismatch);
                }
                cur = stop;
                continue;
            }
            // `cur..stop` is a hole: place it.
            let stop = self
                .runs
                .range((Excluded(cur), Unbounded))
                .next()
                .map_or(end, |(&s, _)| s.min(end));
            let cut = match piece {
                Piece::Data(d) => {
                    let bytes = &d[(cur - start) as usize..(stop - start) as usize];
                    self.write(cur, bytes);
                    self.bytes += bytes.len();
                    self.mark(cur, stop, at);
                    false
                }
                Piece::Cut => true,
            };
            self.place(cur, stop, cut);
            // The loop goes on at `stop`: if the run after was joined, what
            // it covered counts as duplicate.
            cur = stop;
        }
        out
    }

    /// Add the extent `start..stop` (a hole until now) to the runs, joining
    /// the runs that touch it if they are of the same kind.
    fn place(&mut self, start: u64, stop: u64, cut: bool) {
        let mut key = start;
        let mut end = stop;
        if let Some((&s, prev)) = self.runs.range(..start).next_back()
            && prev.end == start
            && prev.cut == cut
        {
            key = s;
        }
        if let Some(next) = self.runs.get(&stop)
            && next.cut == cut
        {
            end = next.end;
            self.runs.remove(&stop);
        }
        self.runs.insert(key, Extent { end, cut });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::shapes::{self, Prng};

    const P: PacketRef = PacketRef {
        frame: 1,
        ts: crate::capture::Timestamp { secs: 0, nanos: 0 },
    };

    fn pkt(frame: u64) -> PacketRef {
        PacketRef { frame, ..P }
    }

    /// (start, end, cut) of a run.
    type Shape = (u64, u64, bool);

    /// The shape of every run.
    fn shape(a: &Assembler) -> Vec<Shape> {
        a.runs.iter().map(|(&s, e)| (s, e.end, e.cut)).collect()
    }

    /// The bytes of the buffer at `start..end`, from its pages.
    fn read(a: &Assembler, start: u64, end: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut pos = start;
        while pos < end {
            let within = (pos % PAGE) as usize;
            let n = (PAGE_BYTES - within).min((end - pos) as usize);
            out.extend_from_slice(&a.pages[&(pos / PAGE)][within..within + n]);
            pos += n as u64;
        }
        out
    }

    /// (start, bytes) of every data run.
    fn contents(a: &Assembler) -> Vec<(u64, Vec<u8>)> {
        a.runs
            .iter()
            .filter(|(_, e)| !e.cut)
            .map(|(&s, e)| (s, read(a, s, e.end)))
            .collect()
    }

    /// Pop the first run with its bytes.
    fn pop(a: &mut Assembler) -> Option<(Span, Vec<u8>)> {
        let mut data = Vec::new();
        let mut next = None;
        let (span, r) = a.pop_front_with(0, false, |off, bytes, _| {
            // Pieces come in order, each from where the last ended.
            assert!(next.is_none_or(|n| n == off));
            assert!(!bytes.is_empty() && bytes.len() <= PAGE_BYTES);
            next = Some(off + bytes.len() as u64);
            data.extend_from_slice(bytes);
            Ok::<(), Infallible>(())
        })?;
        assert!(r.is_ok());
        assert_eq!(
            next.unwrap_or(span.start),
            if span.cut { span.start } else { span.end }
        );
        Some((span, data))
    }

    fn data_of(a: &Assembler) -> Vec<Vec<u8>> {
        contents(a).into_iter().map(|(_, d)| d).collect()
    }

    /// The structure's invariants: runs sorted, not overlapping, touching
    /// runs of different kinds; `bytes` is what the data runs hold; every
    /// data byte has its page and pages are only where data is (but one);
    /// marks sorted, not overlapping, at most `MAX_MARKS`.
    fn check(a: &Assembler) {
        let mut prev: Option<(u64, bool)> = None;
        let mut bytes = 0;
        let mut touched = std::collections::BTreeSet::new();
        for (&s, e) in &a.runs {
            assert!(s < e.end, "empty run at {s}");
            if let Some((end, cut)) = prev {
                assert!(end <= s, "overlap at {s}");
                assert!(end < s || cut != e.cut, "unjoined runs at {s}");
            }
            prev = Some((e.end, e.cut));
            if !e.cut {
                bytes += (e.end - s) as usize;
                for idx in s / PAGE..=(e.end - 1) / PAGE {
                    assert!(a.pages.contains_key(&idx), "page {idx} missing");
                    touched.insert(idx);
                }
            }
        }
        assert_eq!(a.bytes, bytes);
        let front_page = a.runs.first_key_value().map(|(&s, _)| s / PAGE);
        for idx in a.pages.keys() {
            assert!(
                touched.contains(idx) || Some(*idx) == front_page,
                "page {idx} holds nothing"
            );
        }
        assert!(a.pages.len() <= a.bytes / PAGE_BYTES + 2 * a.runs.len() + 1);
        assert!(a.marks.len() <= MAX_MARKS);
        let mut end = 0;
        for (&s, m) in &a.marks {
            assert!(s >= end && s < m.end, "mark {s}..{} after {end}", m.end);
            end = m.end;
        }
    }

    #[test]
    fn inserts_into_empty_and_appends() {
        let mut a = Assembler::new();
        assert_eq!(a.insert_data(10, b"abc", P).dup, 0);
        assert_eq!(a.insert_data(13, b"de", P).dup, 0);
        assert_eq!(shape(&a), [(10, 15, false)]);
        assert_eq!(data_of(&a), [b"abcde".to_vec()]);
        assert_eq!(a.bytes(), 5);
        check(&a);
    }

    #[test]
    fn prepends_and_bridges_holes() {
        let mut a = Assembler::new();
        a.insert_data(10, b"kl", P);
        a.insert_data(4, b"ef", P);
        assert_eq!(shape(&a), [(4, 6, false), (10, 12, false)]);
        // Fills 6..10 exactly: one run.
        assert_eq!(a.insert_data(6, b"ghij", P), Inserted::default());
        assert_eq!(shape(&a), [(4, 12, false)]);
        assert_eq!(data_of(&a), [b"efghijkl".to_vec()]);
        // Touches the front.
        a.insert_data(2, b"cd", P);
        assert_eq!(data_of(&a), [b"cdefghijkl".to_vec()]);
        assert_eq!(a.bytes(), 10);
        check(&a);
    }

    #[test]
    fn first_writer_wins_and_duplicates_are_counted() {
        let mut a = Assembler::new();
        a.insert_data(4, b"EF", P);
        a.insert_data(8, b"IJ", P);
        // Covers 2..12: new bytes 2..4, 6..8, 10..12; duplicates 4..6, 8..10,
        // all four different.
        let got = a.insert_data(2, b"cdefghijkl", P);
        assert_eq!(
            got,
            Inserted {
                dup: 4,
                mismatch: Some(Mismatch { offset: 4, len: 4 })
            }
        );
        assert_eq!(shape(&a), [(2, 12, false)]);
        assert_eq!(data_of(&a), [b"cdEFghIJkl".to_vec()]);
        assert_eq!(a.bytes(), 10);
        // Entirely inside, the same bytes: a duplicate, no mismatch.
        assert_eq!(
            a.insert_data(5, b"Fgh", P),
            Inserted {
                dup: 3,
                mismatch: None
            }
        );
        // One byte of three differs.
        assert_eq!(
            a.insert_data(5, b"Fxh", P).mismatch,
            Some(Mismatch { offset: 6, len: 1 })
        );
        assert_eq!(a.bytes(), 10);
        assert_eq!(data_of(&a), [b"cdEFghIJkl".to_vec()]);
        check(&a);
    }

    #[test]
    fn compare_looks_at_buffered_data_only() {
        let mut a = Assembler::new();
        a.insert_data(4, b"efgh", P);
        a.insert_cut(8, 10);
        a.insert_data(12, b"mn", P);
        // Over 0..14: only 4..8 and 12..14 are held; 5 and 13 differ.
        assert_eq!(
            a.compare(0, b"abcdeXghijklmY"),
            Some(Mismatch { offset: 5, len: 2 })
        );
        assert_eq!(a.compare(0, b"abcdefghijklmn"), None);
        assert_eq!(a.compare(0, b"abcd"), None);
        assert_eq!(a.compare(7, b"h"), None);
        assert_eq!(
            a.compare(7, b"HXXXXX"),
            Some(Mismatch { offset: 7, len: 2 })
        );
        // Nothing held.
        assert_eq!(Assembler::new().compare(0, b"abc"), None);
    }

    #[test]
    fn cut_runs_do_not_merge_with_data() {
        let mut a = Assembler::new();
        a.insert_data(0, b"ab", P);
        a.insert_cut(2, 6);
        a.insert_data(6, b"gh", P);
        assert_eq!(shape(&a), [(0, 2, false), (2, 6, true), (6, 8, false)]);
        assert_eq!(a.bytes(), 4);
        // Data over a cut extent: the cut stays (first writer), the rest
        // fills; a cut extent has no bytes to compare.
        assert_eq!(
            a.insert_data(4, b"XXghij", P),
            Inserted {
                dup: 4,
                mismatch: None
            }
        );
        assert_eq!(shape(&a), [(0, 2, false), (2, 6, true), (6, 10, false)]);
        a.insert_cut(10, 12);
        a.insert_cut(12, 14);
        assert_eq!(a.runs(), 4);
        assert_eq!(a.end(), Some(14));
        check(&a);
    }

    #[test]
    fn truncate_drops_and_trims() {
        let mut a = Assembler::new();
        a.insert_data(0, b"abc", P);
        a.insert_cut(3, 6);
        a.insert_data(8, b"ijkl", P);
        a.insert_data(3000, b"far", P);
        assert_eq!(a.pages(), 2);
        a.truncate(10);
        assert_eq!(shape(&a), [(0, 3, false), (3, 6, true), (8, 10, false)]);
        assert_eq!(a.bytes(), 5);
        assert_eq!(a.pages(), 1);
        check(&a);
        a.truncate(4);
        assert_eq!(shape(&a), [(0, 3, false), (3, 4, true)]);
        assert_eq!(a.bytes(), 3);
        check(&a);
        a.truncate(0);
        assert!(a.is_empty());
        assert_eq!(a.bytes(), 0);
        assert_eq!(a.pages(), 0);
        check(&a);
    }

    #[test]
    fn pop_front_releases_bytes_and_pages() {
        let mut a = Assembler::new();
        a.insert_data(5, b"xy", P);
        a.insert_cut(0, 3);
        let (r, data) = pop(&mut a).unwrap();
        assert!(r.cut && data.is_empty());
        assert_eq!((r.start, r.end), (0, 3));
        assert_eq!(a.bytes(), 2);
        assert_eq!(pop(&mut a).unwrap().1, b"xy");
        assert_eq!(a.bytes(), 0);
        assert!(a.is_empty());
        assert_eq!(a.pages(), 0);
        // A run across pages comes out a page at a time; the page it shares
        // with the next run stays until that one goes.
        let long = shapes::stream(3 * PAGE_BYTES, 1);
        a.insert_data(100, &long, P);
        let next = 100 + long.len() as u64 + 10;
        a.insert_data(next, b"z", P);
        assert_eq!(a.pages(), 4);
        let (r, data) = pop(&mut a).unwrap();
        assert_eq!((r.start, data), (100, long));
        assert_eq!(a.pages(), 1);
        check(&a);
        assert_eq!(pop(&mut a).unwrap().1, b"z");
        assert_eq!(a.pages(), 0);
    }

    #[test]
    fn pop_front_with_starts_at_from_and_stops_at_an_error() {
        let long = shapes::stream(3 * PAGE_BYTES, 5);
        let mut a = Assembler::new();
        a.insert_data(10, &long, P);
        a.insert_data(5000, b"after", P);
        let mut got = Vec::new();
        let (span, r) = a
            .pop_front_with(20, false, |off, bytes, _| {
                got.push((off, bytes.to_vec()));
                Ok::<(), Infallible>(())
            })
            .unwrap();
        assert!(r.is_ok());
        assert_eq!((span.start, span.end), (10, 10 + long.len() as u64));
        // From offset 20, split at the page boundaries.
        let firsts: Vec<u64> = got.iter().map(|(o, _)| *o).collect();
        assert_eq!(firsts, [20, PAGE, 2 * PAGE, 3 * PAGE]);
        let bytes: Vec<u8> = got.into_iter().flat_map(|(_, b)| b).collect();
        assert!(bytes == long[10..]);
        // An error stops the handing out; the run is gone all the same.
        a.insert_data(3000, &long[..1000], P);
        let mut calls = 0;
        let (_, r) = a
            .pop_front_with(0, false, |_, _, _| {
                calls += 1;
                Err("stop")
            })
            .unwrap();
        assert_eq!((r, calls), (Err("stop"), 1));
        assert_eq!(a.bytes(), 5);
        check(&a);
    }

    #[test]
    fn pages_outlive_their_data_by_one_pop_at_most() {
        // data, then a cut run in the same page, then data pages away.
        let mut a = Assembler::new();
        a.insert_data(0, b"ab", P);
        a.insert_cut(2, 5);
        a.insert_data(5000, b"far", P);
        a.pop_front();
        check(&a);
        assert_eq!(a.pages(), 2);
        a.pop_front();
        assert_eq!(a.pages(), 1);
        check(&a);
    }

    /// One cell of the byte-map model.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Cell {
        Hole,
        Data(u8),
        Cut,
    }

    struct Model(Vec<Cell>);

    impl Model {
        /// Place `new` (data, or a cut extent of `cut_len`) at `start`: what
        /// the assembler should answer.
        fn insert(&mut self, start: usize, new: Option<&[u8]>, cut_len: usize) -> Inserted {
            let len = new.map_or(cut_len, |d| d.len());
            let mut out = Inserted::default();
            for k in 0..len {
                let slot = &mut self.0[start + k];
                match (*slot, new) {
                    (Cell::Hole, Some(d)) => *slot = Cell::Data(d[k]),
                    (Cell::Hole, None) => *slot = Cell::Cut,
                    (Cell::Data(held), Some(d)) => {
                        out.dup += 1;
                        if held != d[k] {
                            match &mut out.mismatch {
                                Some(m) => m.len += 1,
                                None => {
                                    out.mismatch = Some(Mismatch {
                                        offset: (start + k) as u64,
                                        len: 1,
                                    })
                                }
                            }
                        }
                    }
                    _ => out.dup += 1,
                }
            }
            out
        }

        /// Maximal stretches of one kind: (start, end, cut), and the data.
        fn runs(&self) -> (Vec<Shape>, Vec<(u64, Vec<u8>)>) {
            let (mut shape, mut data) = (Vec::new(), Vec::new());
            let mut k = 0;
            while k < self.0.len() {
                let cell = self.0[k];
                if cell == Cell::Hole {
                    k += 1;
                    continue;
                }
                let start = k;
                let mut bytes = Vec::new();
                while k < self.0.len() {
                    match (cell, self.0[k]) {
                        (Cell::Data(_), Cell::Data(b)) => bytes.push(b),
                        (Cell::Cut, Cell::Cut) => {}
                        _ => break,
                    }
                    k += 1;
                }
                let cut = cell == Cell::Cut;
                shape.push((start as u64, k as u64, cut));
                if !cut {
                    data.push((start as u64, bytes));
                }
            }
            (shape, data)
        }

        fn bytes(&self) -> usize {
            self.0.iter().filter(|c| matches!(c, Cell::Data(_))).count()
        }

        fn assert_same(&self, a: &Assembler, what: &str) {
            let (shape_want, data_want) = self.runs();
            assert_eq!(shape(a), shape_want, "{what}");
            assert_eq!(contents(a), data_want, "{what}");
            assert_eq!(a.bytes(), self.bytes(), "{what}");
            check(a);
        }
    }

    #[test]
    fn matches_a_byte_map_on_every_overlap() {
        // Every (start, len) pair over a 12-byte window, inserted after a
        // fixed pattern (with a cut extent): runs, duplicates and mismatches
        // must equal a byte-by-byte model. The new bytes equal the held ones
        // at every third offset.
        for s in 0..12usize {
            for len in 1..=(12 - s) {
                let mut a = Assembler::new();
                let mut model = Model(vec![Cell::Hole; 12]);
                for (start, bytes) in [(1usize, &b"AB"[..]), (5, b"CDE"), (10, b"F")] {
                    a.insert_data(start as u64, bytes, P);
                    model.insert(start, Some(bytes), 0);
                }
                a.insert_cut(8, 9);
                model.insert(8, None, 1);
                let new: Vec<u8> = (s..s + len)
                    .map(|k| match model.0[k] {
                        Cell::Data(b) if k % 3 == 0 => b,
                        _ => b'a' + k as u8,
                    })
                    .collect();
                let want = model.insert(s, Some(&new), 0);
                assert_eq!(a.insert_data(s as u64, &new, P), want, "s={s} len={len}");
                model.assert_same(&a, &format!("s={s} len={len}"));
            }
        }
    }

    #[test]
    fn matches_a_byte_map_under_random_operations() {
        // Random data and cut inserts (sometimes across page boundaries),
        // truncations and pops over a small window; like the caller, nothing
        // before the end of what was popped.
        const N: usize = 5 * PAGE_BYTES;
        let mut steps = 0;
        for seed in 0..20u64 {
            let mut rng = Prng(seed);
            let mut a = Assembler::new();
            let mut model = Model(vec![Cell::Hole; N]);
            let mut floor = 0;
            for step in 0..300 {
                let what = format!("seed {seed} step {step}");
                if floor + 1 >= N {
                    break;
                }
                // Mostly near the front, as a window moves along a stream.
                let start = floor + rng.below((N - floor).min(3 * PAGE_BYTES / 2) as u64) as usize;
                steps += 1;
                let max = if rng.below(4) == 0 {
                    PAGE_BYTES + 40
                } else {
                    24
                };
                let len = 1 + (rng.below(max as u64) as usize).min(N - start - 1);
                match rng.below(20) {
                    0 => {
                        let end = floor + rng.below((N - floor) as u64) as usize;
                        a.truncate(end as u64);
                        model.0[end..].fill(Cell::Hole);
                    }
                    1 => {
                        let got = pop(&mut a);
                        let (shape, data) = model.runs();
                        let want = shape.first().copied();
                        assert_eq!(
                            got.as_ref().map(|(r, _)| (r.start, r.end, r.cut)),
                            want,
                            "{what}"
                        );
                        if let (Some((r, bytes)), Some((s, e, cut))) = (got, want) {
                            if !cut {
                                assert_eq!((r.start, bytes), data[0].clone(), "{what}");
                            }
                            model.0[s as usize..e as usize].fill(Cell::Hole);
                            floor = e as usize;
                        }
                    }
                    3 => {
                        let want = model.insert(start, None, len).dup;
                        assert_eq!(
                            a.insert_cut(start as u64, (start + len) as u64),
                            want,
                            "{what}"
                        );
                    }
                    _ => {
                        // Mostly the bytes held (or a fixed pattern), some not.
                        let new: Vec<u8> = (start..start + len)
                            .map(|k| match model.0[k] {
                                Cell::Data(b) if rng.below(8) != 0 => b,
                                _ => (k as u8).wrapping_mul(7),
                            })
                            .collect();
                        let want = model.insert(start, Some(&new), 0);
                        assert_eq!(a.insert_data(start as u64, &new, pkt(step)), want, "{what}");
                    }
                }
                model.assert_same(&a, &what);
            }
        }
        assert!(steps > 20 * 250, "{steps} steps");
    }

    /// Insert `plan`'s segments of `stream`, then pop everything: the stream
    /// comes back whole; the invariants hold throughout.
    fn round_trip(stream: &[u8], plan: impl IntoIterator<Item = shapes::Seg>, what: &str) {
        let mut a = Assembler::new();
        for (n, (off, len)) in plan.into_iter().enumerate() {
            let got = a.insert_data(
                off,
                &stream[off as usize..off as usize + len],
                pkt(n as u64),
            );
            assert_eq!(got, Inserted::default(), "{what}");
            if n % 97 == 0 {
                check(&a);
            }
        }
        check(&a);
        assert_eq!(a.runs(), 1, "{what}");
        assert_eq!(a.bytes(), stream.len(), "{what}");
        let (run, data) = pop(&mut a).unwrap();
        assert_eq!((run.start, run.end), (0, stream.len() as u64), "{what}");
        assert!(data == stream, "{what}");
        assert!(a.is_empty() && a.pages() == 0, "{what}");
    }

    #[test]
    fn any_arrival_order_gives_the_stream_back() {
        let stream = shapes::stream(20_000, 9);
        let len = stream.len() as u64;
        round_trip(&stream, shapes::descending(len, 64), "descending 64");
        round_trip(&stream, shapes::descending(len, 1), "descending 1");
        round_trip(&stream, shapes::descending(len, 3000), "descending 3000");
        round_trip(
            &stream,
            shapes::descending_in_windows(len, 1, 700),
            "1-byte windows",
        );
        round_trip(
            &stream,
            shapes::holes_filled_later(len, 16, len),
            "holes filled later",
        );
        for seed in 0..20 {
            let seg = 1 + seed as usize * 37;
            round_trip(
                &stream,
                shapes::shuffled_in_windows(len, seg, len, seed),
                &format!("random permutation of {seg}-byte segments"),
            );
            // Random sizes, random order.
            let mut rng = Prng(seed);
            let mut plan = Vec::new();
            let mut off = 0;
            while off < len {
                let n = (1 + rng.below(2 * PAGE)).min(len - off);
                plan.push((off, n as usize));
                off += n;
            }
            rng.shuffle(&mut plan);
            round_trip(&stream, plan, &format!("random sizes, seed {seed}"));
        }
    }

    #[test]
    fn descending_arrival_keeps_one_run_and_few_pages() {
        let stream = shapes::stream(50_000, 2);
        let mut a = Assembler::new();
        for (n, (off, len)) in shapes::descending(stream.len() as u64, 16).enumerate() {
            a.insert_data(
                off,
                &stream[off as usize..off as usize + len],
                pkt(n as u64),
            );
            assert_eq!(a.runs(), 1);
            assert!(a.pages() <= a.bytes() / PAGE_BYTES + 2);
        }
        check(&a);
    }

    /// Pop the first run dated: (offset, bytes, frame) of every piece.
    fn pop_dated(a: &mut Assembler, from: u64) -> Vec<(u64, Vec<u8>, Option<u64>)> {
        let mut got = Vec::new();
        a.pop_front_with(from, true, |off, bytes, at| {
            got.push((off, bytes.to_vec(), at.map(|p| p.frame)));
            Ok::<(), Infallible>(())
        });
        got
    }

    #[test]
    fn marks_date_bytes_by_their_packets_and_stay_bounded() {
        let mut a = Assembler::new();
        a.insert_data(10, b"cd", pkt(3));
        a.insert_data(12, b"ef", pkt(3)); // the same packet: one mark
        a.insert_data(4, b"ab", pkt(5));
        a.insert_data(6, b"XY", pkt(6));
        assert_eq!(a.marks.len(), 3);
        assert_eq!(a.first_mark(), Some(pkt(5)));
        assert_eq!(
            pop_dated(&mut a, 5),
            [(5, b"b".to_vec(), Some(5)), (6, b"XY".to_vec(), Some(6))]
        );
        assert_eq!(a.first_mark(), Some(pkt(3)));
        assert_eq!(pop_dated(&mut a, 10), [(10, b"cdef".to_vec(), Some(3))]);
        assert!(a.marks.is_empty());
        // Undated pieces stop at page boundaries only.
        a.insert_data(PAGE - 2, b"wxyz", pkt(7));
        a.insert_data(PAGE + 2, b"!", pkt(8));
        let mut pieces = Vec::new();
        a.pop_front_with(0, false, |off, bytes, at| {
            pieces.push((off, bytes.to_vec(), at));
            Ok::<(), Infallible>(())
        });
        assert_eq!(
            pieces,
            [
                (PAGE - 2, b"wx".to_vec(), None),
                (PAGE, b"yz!".to_vec(), None)
            ]
        );
        assert!(a.marks.is_empty(), "a pop drops the run's marks");
        // Many packets: merged at the front, by the later packet, within
        // MAX_MARKS; bytes later placed inside a merged mark date it later.
        let mut a = Assembler::new();
        for n in 0..(MAX_MARKS as u64 + 50) {
            a.insert_data(2 * n, b"x", pkt(n + 1));
        }
        check(&a);
        assert_eq!(a.marks.len(), MAX_MARKS);
        assert_eq!(a.first_mark(), Some(pkt(51)));
        a.insert_data(1, b"y", pkt(9999));
        check(&a);
        assert_eq!(a.first_mark(), Some(pkt(9999)));
        // The merged mark dates the whole of its run's bytes.
        a.insert_data(0, b"x", pkt(1));
        let first = pop_dated(&mut a, 0);
        assert_eq!(first, [(0, b"xyx".to_vec(), Some(9999))]);
    }
}
