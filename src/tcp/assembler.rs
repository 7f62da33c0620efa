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
//! duplicate bytes. The buffer enforces no limit itself (like smoltcp's
//! assembler, which answers "too many holes" instead of growing, the limit is
//! a decision for the caller): an insert may go past the limits by at most
//! the inserted segment, and the caller then gives up the oldest holes until
//! [`Assembler::bytes`] and [`Assembler::runs`] are within them again.

use std::collections::VecDeque;

use crate::capture::PacketRef;

/// Most arrival marks kept per direction; beyond it neighbours are merged
/// (keeping the later packet, so a message is never dated too early).
const MAX_MARKS: usize = 1024;

/// Bytes `start..end` of the buffer arrived in packet `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    pub start: u64,
    pub end: u64,
    pub at: PacketRef,
}

/// Buffered bytes, or an extent of bytes the capture cut off (`cut`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub start: u64,
    /// Exclusive. `end - start == data.len()` for a data run.
    pub end: u64,
    /// The bytes; empty for a cut run.
    pub data: Vec<u8>,
    pub cut: bool,
}

#[derive(Clone, Copy)]
enum Piece<'a> {
    Data(&'a [u8]),
    Cut,
}

/// Out-of-order runs of one direction, in stream order.
#[derive(Debug, Default)]
pub struct Assembler {
    runs: VecDeque<Run>,
    /// Captured bytes held (cut runs count nothing).
    bytes: usize,
    /// Which packet brought which buffered bytes, sorted, not overlapping:
    /// when a hole is given up, the bytes after it are dated by their own
    /// packets, not by the packet that gave the hole up.
    marks: VecDeque<Mark>,
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

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    pub fn front(&self) -> Option<&Run> {
        self.runs.front()
    }

    pub fn pop_front(&mut self) -> Option<Run> {
        let run = self.runs.pop_front()?;
        self.bytes -= run.data.len();
        Some(run)
    }

    /// End of the last run, if any.
    pub fn end(&self) -> Option<u64> {
        self.runs.back().map(|r| r.end)
    }

    /// Drop everything and release the memory.
    pub fn clear(&mut self) {
        self.runs = VecDeque::new();
        self.bytes = 0;
        self.marks = VecDeque::new();
    }

    /// The packet that brought the first buffered data byte.
    pub fn first_mark(&self) -> Option<PacketRef> {
        self.marks.front().map(|m| m.at)
    }

    /// Remove and return (in `out`) the marks of bytes before `end`.
    pub fn take_marks(&mut self, end: u64, out: &mut Vec<Mark>) {
        while let Some(m) = self.marks.front_mut() {
            if m.start >= end {
                break;
            }
            if m.end <= end {
                out.push(*m);
                self.marks.pop_front();
            } else {
                out.push(Mark { end, ..*m });
                m.start = end;
                break;
            }
        }
    }

    fn mark(&mut self, start: u64, end: u64, at: PacketRef) {
        let i = self.marks.partition_point(|m| m.end <= start);
        if i > 0 && self.marks[i - 1].end == start && self.marks[i - 1].at == at {
            self.marks[i - 1].end = end;
        } else {
            self.marks.insert(i, Mark { start, end, at });
        }
        if self.marks.len() > MAX_MARKS {
            // Merge the first two: the later packet dates both.
            if let (Some(a), Some(b)) = (self.marks.pop_front(), self.marks.pop_front()) {
                let at = if b.at.frame >= a.at.frame { b.at } else { a.at };
                self.marks.push_front(Mark {
                    start: a.start,
                    end: b.end,
                    at,
                });
            }
        }
    }

    /// Drop everything at or after `end`.
    pub fn truncate(&mut self, end: u64) {
        while self.marks.back().is_some_and(|m| m.start >= end) {
            self.marks.pop_back();
        }
        if let Some(m) = self.marks.back_mut() {
            m.end = m.end.min(end);
        }
        while let Some(last) = self.runs.back_mut() {
            if last.start >= end {
                self.bytes -= last.data.len();
                self.runs.pop_back();
            } else {
                if last.end > end {
                    if !last.cut {
                        let keep = (end - last.start) as usize;
                        self.bytes -= last.data.len() - keep;
                        last.data.truncate(keep);
                    }
                    last.end = end;
                }
                break;
            }
        }
    }

    /// Buffer `data` at `start`, brought by packet `at`. Bytes already
    /// buffered are kept (first writer wins). Returns the number of bytes
    /// that were already covered (duplicates).
    pub fn insert_data(&mut self, start: u64, data: &[u8], at: PacketRef) -> u64 {
        if data.is_empty() {
            return 0;
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
    }

    fn insert(&mut self, start: u64, end: u64, piece: Piece<'_>, at: PacketRef) -> u64 {
        let cut = matches!(piece, Piece::Cut);
        let mut dup = 0;
        // The first run that ends after `start`: the only ones that can overlap.
        let mut i = self.runs.partition_point(|r| r.end <= start);
        let mut cur = start;
        while cur < end {
            if let Some(r) = self.runs.get(i)
                && r.start <= cur
            {
                // `cur..` is covered by run `i`: skip past it.
                dup += r.end.min(end).saturating_sub(cur);
                cur = cur.max(r.end);
                i += 1;
                continue;
            }
            // `cur..stop` is uncovered: place it.
            let stop = match self.runs.get(i) {
                Some(r) => r.start.min(end),
                None => end,
            };
            let bytes: &[u8] = match piece {
                Piece::Data(d) => &d[(cur - start) as usize..(stop - start) as usize],
                Piece::Cut => &[],
            };
            self.bytes += bytes.len();
            if !cut {
                self.mark(cur, stop, at);
            }
            if i > 0 && self.runs[i - 1].end == cur && self.runs[i - 1].cut == cut {
                i -= 1;
                let prev = &mut self.runs[i];
                prev.data.extend_from_slice(bytes);
                prev.end = stop;
            } else {
                self.runs.insert(
                    i,
                    Run {
                        start: cur,
                        end: stop,
                        data: bytes.to_vec(),
                        cut,
                    },
                );
            }
            // Run `i` now ends at `stop`; join the next run if it touches.
            if let Some(next) = self.runs.get(i + 1)
                && next.start == stop
                && next.cut == cut
                && let Some(next) = self.runs.remove(i + 1)
            {
                let run = &mut self.runs[i];
                run.data.extend_from_slice(&next.data);
                run.end = next.end;
            }
            // The loop goes on at run `i`, which covers `cur..stop` and
            // counts what the joined run covered as duplicate.
            cur = stop;
        }
        dup
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: PacketRef = PacketRef {
        frame: 1,
        ts: crate::capture::Timestamp { secs: 0, nanos: 0 },
    };

    /// (start, end, cut) of every run.
    fn shape(a: &Assembler) -> Vec<(u64, u64, bool)> {
        a.runs.iter().map(|r| (r.start, r.end, r.cut)).collect()
    }

    fn data_of(a: &Assembler) -> Vec<Vec<u8>> {
        a.runs.iter().map(|r| r.data.clone()).collect()
    }

    #[test]
    fn inserts_into_empty_and_appends() {
        let mut a = Assembler::new();
        assert_eq!(a.insert_data(10, b"abc", P), 0);
        assert_eq!(a.insert_data(13, b"de", P), 0);
        assert_eq!(shape(&a), [(10, 15, false)]);
        assert_eq!(data_of(&a), [b"abcde".to_vec()]);
        assert_eq!(a.bytes(), 5);
    }

    #[test]
    fn prepends_and_bridges_holes() {
        let mut a = Assembler::new();
        a.insert_data(10, b"kl", P);
        a.insert_data(4, b"ef", P);
        assert_eq!(shape(&a), [(4, 6, false), (10, 12, false)]);
        // Fills 6..10 exactly: one run.
        assert_eq!(a.insert_data(6, b"ghij", P), 0);
        assert_eq!(shape(&a), [(4, 12, false)]);
        assert_eq!(data_of(&a), [b"efghijkl".to_vec()]);
        // Touches the front.
        a.insert_data(2, b"cd", P);
        assert_eq!(data_of(&a), [b"cdefghijkl".to_vec()]);
        assert_eq!(a.bytes(), 10);
    }

    #[test]
    fn first_writer_wins_and_duplicates_are_counted() {
        let mut a = Assembler::new();
        a.insert_data(4, b"EF", P);
        a.insert_data(8, b"IJ", P);
        // Covers 2..12: new bytes 2..4, 6..8, 10..12; duplicates 4..6, 8..10.
        assert_eq!(a.insert_data(2, b"cdefghijkl", P), 4);
        assert_eq!(shape(&a), [(2, 12, false)]);
        assert_eq!(data_of(&a), [b"cdEFghIJkl".to_vec()]);
        assert_eq!(a.bytes(), 10);
        // Entirely inside.
        assert_eq!(a.insert_data(5, b"xyz", P), 3);
        assert_eq!(a.bytes(), 10);
    }

    #[test]
    fn cut_runs_do_not_merge_with_data() {
        let mut a = Assembler::new();
        a.insert_data(0, b"ab", P);
        a.insert_cut(2, 6);
        a.insert_data(6, b"gh", P);
        assert_eq!(shape(&a), [(0, 2, false), (2, 6, true), (6, 8, false)]);
        assert_eq!(a.bytes(), 4);
        // Data over a cut extent: the cut stays (first writer), the rest fills.
        assert_eq!(a.insert_data(4, b"efghij", P), 4);
        assert_eq!(shape(&a), [(0, 2, false), (2, 6, true), (6, 10, false)]);
        a.insert_cut(10, 12);
        a.insert_cut(12, 14);
        assert_eq!(a.runs(), 4);
        assert_eq!(a.end(), Some(14));
    }

    #[test]
    fn truncate_drops_and_trims() {
        let mut a = Assembler::new();
        a.insert_data(0, b"abc", P);
        a.insert_cut(3, 6);
        a.insert_data(8, b"ijkl", P);
        a.truncate(10);
        assert_eq!(shape(&a), [(0, 3, false), (3, 6, true), (8, 10, false)]);
        assert_eq!(a.bytes(), 5);
        a.truncate(4);
        assert_eq!(shape(&a), [(0, 3, false), (3, 4, true)]);
        assert_eq!(a.bytes(), 3);
        a.truncate(0);
        assert!(a.is_empty());
        assert_eq!(a.bytes(), 0);
    }

    #[test]
    fn pop_front_releases_bytes() {
        let mut a = Assembler::new();
        a.insert_data(5, b"xy", P);
        a.insert_cut(0, 3);
        let r = a.pop_front().unwrap();
        assert!(r.cut);
        assert_eq!(a.bytes(), 2);
        assert_eq!(a.pop_front().unwrap().data, b"xy");
        assert_eq!(a.bytes(), 0);
        assert!(a.is_empty());
    }

    #[test]
    fn matches_a_byte_map_on_every_overlap() {
        // Every (start, len) pair over a 12-byte window, inserted after a
        // fixed pattern: the result must equal a byte-by-byte model.
        for s in 0..12u64 {
            for len in 1..=(12 - s) {
                let mut a = Assembler::new();
                let mut model = [None::<u8>; 12];
                for (start, bytes) in [(1u64, &b"AB"[..]), (5, b"CDE"), (10, b"F")] {
                    a.insert_data(start, bytes, P);
                    for (k, b) in bytes.iter().enumerate() {
                        model[start as usize + k] = Some(*b);
                    }
                }
                let new: Vec<u8> = (0..len).map(|k| b'a' + (s + k) as u8).collect();
                let mut want_dup = 0;
                for (k, b) in new.iter().enumerate() {
                    let slot = &mut model[(s as usize) + k];
                    if slot.is_some() {
                        want_dup += 1;
                    } else {
                        *slot = Some(*b);
                    }
                }
                assert_eq!(a.insert_data(s, &new, P), want_dup, "s={s} len={len}");
                // Rebuild the runs from the model.
                let mut want = Vec::new();
                let mut k = 0;
                while k < 12 {
                    if let Some(b) = model[k] {
                        let start = k;
                        let mut bytes = vec![b];
                        k += 1;
                        while k < 12
                            && let Some(b) = model[k]
                        {
                            bytes.push(b);
                            k += 1;
                        }
                        want.push((start as u64, bytes));
                    } else {
                        k += 1;
                    }
                }
                let got: Vec<(u64, Vec<u8>)> =
                    a.runs.iter().map(|r| (r.start, r.data.clone())).collect();
                assert_eq!(got, want, "s={s} len={len}");
                assert_eq!(a.bytes(), model.iter().flatten().count());
            }
        }
    }
}
