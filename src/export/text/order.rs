//! The listing's lines in frame order.
//!
//! The analysis completes a record when it has all of it: an exchange at its
//! response, a connection's open line when the connection is recognised as
//! Kafka, its close at the close. So records come out of the analysis in
//! completion order, and a close can come before an earlier connection's
//! open. [`Reorder`] holds the lines back and lets them go by their first
//! frame (the one the line begins with; arrival order among equal frames).
//!
//! Bounded, as everything fed by the wire: a line is held until the
//! capture's clock (the latest time of any record, or a live capture's
//! tick) has passed its start by the window, and at most
//! [`MAX_HELD_LINES`] lines are held (beyond, the earliest go at once). A
//! line that completes after a later frame's line was listed (a request
//! that waited longer than the window for its response, or unanswered
//! requests told at the capture's end) is listed as it comes, out of order:
//! the caller says so. A file's order depends on its packets alone, never
//! on the wall clock.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::capture::Timestamp;

/// The window a line of a file waits for earlier frames by default: past a
/// Fetch's long poll (500 ms in Java and librdkafka, 5 s in KafkaJS) and a
/// consumer group's first rebalance delay (3 s).
pub const DEFAULT_WINDOW_SECS: f64 = 10.0;

/// The window of a live listing by default: what it lags by (a tick comes
/// every 500 ms), past the Java consumer's long poll.
pub const LIVE_WINDOW_SECS: f64 = 1.0;

/// Most lines held at once, whatever the window (about 200 bytes each).
pub const MAX_HELD_LINES: usize = 100_000;

/// A line waiting for its turn.
pub struct Held {
    pub frame: u64,
    seq: u64,
    /// When the line may go whatever comes: its start (or the clock, if
    /// it is stamped ahead of it) plus the window.
    due: i128,
    pub line: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.frame, self.seq) == (other.frame, other.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.frame, self.seq).cmp(&(other.frame, other.seq))
    }
}

/// Lines on their way to the listing, let go in frame order.
pub struct Reorder {
    window_ns: i128,
    max_lines: usize,
    held: BinaryHeap<Reverse<Held>>,
    seq: u64,
    /// The latest time seen (nanoseconds since the epoch).
    clock: Option<i128>,
    /// The highest frame listed so far.
    listed: Option<u64>,
}

impl Reorder {
    /// Lines held for `window_secs` of capture time, at most `max_lines`.
    pub fn new(window_secs: f64, max_lines: usize) -> Self {
        Reorder {
            window_ns: (window_secs.max(0.0) * 1e9) as i128,
            max_lines: max_lines.max(1),
            held: BinaryHeap::new(),
            seq: 0,
            clock: None,
            listed: None,
        }
    }

    /// Time has come to `now` (a record completed then, or a live tick).
    pub fn advance(&mut self, now: Timestamp) {
        let now = now.as_nanos();
        self.clock = Some(self.clock.map_or(now, |c| c.max(now)));
    }

    /// A line beginning at `frame` at `begun`. `Err` gives it back when it
    /// is late (a line of a later frame was listed: the frame listed is
    /// the other value) to be listed at once.
    pub fn offer(
        &mut self,
        frame: u64,
        begun: Timestamp,
        line: Vec<u8>,
    ) -> Result<(), (Vec<u8>, u64)> {
        if let Some(listed) = self.listed
            && frame < listed
        {
            return Err((line, listed));
        }
        let begun = begun.as_nanos();
        let start = self.clock.map_or(begun, |c| begun.min(c));
        self.held.push(Reverse(Held {
            frame,
            seq: self.seq,
            due: start.saturating_add(self.window_ns),
            line,
        }));
        self.seq += 1;
        Ok(())
    }

    /// The next line to list now, if one is due: the earliest frame, when
    /// its window has passed or too many are held.
    pub fn next_due(&mut self) -> Option<Held> {
        let Reverse(first) = self.held.peek()?;
        let due = self.held.len() > self.max_lines || self.clock.is_some_and(|c| first.due <= c);
        due.then(|| self.pop()).flatten()
    }

    /// The next line whatever its window (the capture ended).
    pub fn pop(&mut self) -> Option<Held> {
        let Reverse(h) = self.held.pop()?;
        self.listed = Some(self.listed.map_or(h.frame, |l| l.max(h.frame)));
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::new(secs, 0)
    }

    fn drain_due(r: &mut Reorder) -> Vec<u64> {
        std::iter::from_fn(|| r.next_due())
            .map(|h| h.frame)
            .collect()
    }

    #[test]
    fn lines_go_in_frame_order_once_their_window_passed() {
        let mut r = Reorder::new(5.0, 100);
        r.advance(at(100));
        r.offer(20, at(100), b"20".to_vec()).unwrap();
        r.offer(10, at(99), b"10".to_vec()).unwrap();
        assert!(drain_due(&mut r).is_empty());
        r.advance(at(104));
        assert_eq!(drain_due(&mut r), [10]);
        r.advance(at(105));
        r.offer(30, at(105), b"30".to_vec()).unwrap();
        assert_eq!(drain_due(&mut r), [20]);
        // Frame 15 completes after frame 20 was listed: late.
        let late = r.offer(15, at(100), b"15".to_vec()).unwrap_err();
        assert_eq!(late, (b"15".to_vec(), 20));
        assert_eq!(r.pop().map(|h| h.frame), Some(30));
        assert!(r.pop().is_none());
    }

    #[test]
    fn equal_frames_keep_their_order_and_the_count_is_bounded() {
        let mut r = Reorder::new(1000.0, 2);
        r.advance(at(0));
        for (f, l) in [(5, "a"), (5, "b"), (4, "c")] {
            r.offer(f, at(0), l.as_bytes().to_vec()).unwrap();
        }
        // Three held, two allowed: the earliest goes.
        assert_eq!(r.next_due().map(|h| h.line), Some(b"c".to_vec()));
        assert!(r.next_due().is_none());
        let rest: Vec<Vec<u8>> = std::iter::from_fn(|| r.pop()).map(|h| h.line).collect();
        assert_eq!(rest, [b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn a_line_stamped_ahead_of_the_clock_does_not_stall_the_rest() {
        let mut r = Reorder::new(5.0, 100);
        r.advance(at(100));
        r.offer(1, at(100_000), b"1".to_vec()).unwrap();
        r.offer(2, at(100), b"2".to_vec()).unwrap();
        r.advance(at(105));
        assert_eq!(drain_due(&mut r), [1, 2]);
    }
}
