//! Splitting one direction of a TCP stream into Kafka frames.
//!
//! A [`Framer`] is fed the in-order bytes and gaps of one direction and hands
//! each complete frame (`size:int32` + `size` bytes) to a [`FrameHandler`].
//!
//! Three outcomes, never two: a frame is complete, or more bytes are needed
//! (kept, bounded by `max_frame_size`), or the bytes cannot be a frame (the
//! framer is *out of sync*). When a gap (bytes the capture lost) falls inside a
//! frame whose size is known, the framing survives: the frame is delivered
//! with the bytes before the gap and a count of lost bytes. When a gap swallows
//! a frame boundary, or a size is impossible, the framer scans forward,
//! asking the handler at each byte offset whether a frame plausibly starts
//! there, and resynchronizes on the first one it accepts.
//!
//! Bounds: a frame in progress is buffered only up to `max_frame_size` (larger
//! frames are skipped and reported); the scan window holds at most
//! `scan_window` bytes. Buffers grow with the bytes that arrive, never with a
//! size read off the wire.

use std::borrow::Cow;

use crate::capture::PacketRef;

/// Limits of a framer.
#[derive(Clone, Copy, Debug)]
pub struct FramerConfig {
    /// Frames larger than this (excluding the size prefix) are skipped.
    pub max_frame_size: u32,
    /// Smallest size that can hold a header.
    pub min_frame_size: u32,
    /// Most bytes kept while searching for a frame start.
    pub scan_window: usize,
}

impl Default for FramerConfig {
    fn default() -> Self {
        FramerConfig {
            max_frame_size: 100 << 20,
            min_frame_size: 4,
            scan_window: 1 << 20,
        }
    }
}

/// One complete frame.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Stream offset of the size prefix.
    pub offset: u64,
    /// The size prefix: bytes after it.
    pub size: u32,
    /// The bytes after the size prefix; all `size` of them unless `lost > 0`,
    /// in which case only those before the first lost byte.
    pub data: &'a [u8],
    /// Bytes of the frame that the capture lost.
    pub lost: u64,
    /// The packet that brought the frame's first byte.
    pub first: PacketRef,
    /// The packet that completed it (for an incomplete frame: the last one
    /// before the stream ended).
    pub at: PacketRef,
    /// The stream ended inside the frame ([`Framer::finish`]): its end was
    /// never seen; `lost` counts the bytes that never came.
    pub incomplete: bool,
}

/// A judgement on whether a frame starts at some offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Yes,
    No,
    /// Cannot tell from the bytes so far.
    NeedMore,
}

/// What the handler wants after a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    Continue,
    /// The frame was garbage: the stream is out of sync from here.
    Desync,
}

/// Framing anomalies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameEvent {
    /// Framing was lost at `offset` (a gap over a boundary, an impossible size,
    /// or the handler's `Desync`).
    OutOfSync { offset: u64, cause: DesyncCause },
    /// A frame start was found at `offset` after discarding `skipped` bytes.
    Resync { offset: u64, skipped: u64 },
    /// A frame larger than `max_frame_size` is being skipped.
    TooLarge { offset: u64, size: u32, limit: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DesyncCause {
    Gap,
    BadSize,
    BadHeader,
    /// The stream was joined mid-way (no known frame boundary).
    MidStream,
}

impl DesyncCause {
    pub fn as_str(self) -> &'static str {
        match self {
            DesyncCause::Gap => "gap",
            DesyncCause::BadSize => "bad_size",
            DesyncCause::BadHeader => "bad_header",
            DesyncCause::MidStream => "mid_stream",
        }
    }
}

/// Receives frames and judges candidate frame starts.
pub trait FrameHandler {
    fn on_frame(&mut self, frame: Frame<'_>) -> Next;
    /// Whether a frame may start at `bytes[0]`. `bytes` is everything known
    /// from there on (at least 4 bytes). Called while out of sync, and for
    /// frames larger than the limit (to tell an oversize frame from garbage).
    /// `No` is final; a judgement that may change (more bytes, or a request
    /// the handler has not seen yet) must be `NeedMore`.
    fn check_candidate(&mut self, bytes: &[u8]) -> Verdict;
    fn on_event(&mut self, event: FrameEvent, at: PacketRef);
}

/// Most header bytes gathered to judge an oversize frame.
const PROBE_MAX: usize = 4096;

/// Undecided resync candidates remembered while scanning.
pub const PENDING_MAX: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At a frame boundary; `buf` holds fewer than 4 bytes of the size.
    Boundary,
    /// Inside a frame of `size` bytes; `have` bytes of it (prefix included)
    /// were received or lost; `buf` holds the prefix and the bytes before the
    /// first lost one.
    Body { size: u32, have: u64, lost: u64 },
    /// Skipping `remaining` bytes of an oversize frame.
    Skip { remaining: u64 },
    /// Out of sync; `buf` is the scan window, candidates before `scan` were
    /// ruled out; `skipped` bytes were discarded so far.
    Lost { scan: usize, skipped: u64 },
}

/// The framing state of one direction of one connection.
#[derive(Debug)]
pub struct Framer {
    cfg: FramerConfig,
    state: State,
    buf: Vec<u8>,
    /// Stream offset of the next byte fed.
    pos: u64,
    /// Packet of the first byte of the frame in progress.
    first: PacketRef,
    frames: u64,
    /// Offsets in the scan window whose judgement awaits more bytes.
    pending: Vec<usize>,
}

impl Framer {
    /// A framer at a known frame boundary (the start of a connection).
    pub fn new(cfg: FramerConfig) -> Self {
        Framer {
            cfg,
            state: State::Boundary,
            buf: Vec::new(),
            pos: 0,
            first: PacketRef::default(),
            frames: 0,
            pending: Vec::new(),
        }
    }

    /// A framer that joins a stream mid-way: it scans for the first frame.
    pub fn new_mid_stream(cfg: FramerConfig) -> Self {
        let mut f = Framer::new(cfg);
        f.state = State::Lost {
            scan: 0,
            skipped: 0,
        };
        f
    }

    pub fn is_synced(&self) -> bool {
        !matches!(self.state, State::Lost { .. })
    }

    /// Change the smallest acceptable size (legacy SASL tokens after a
    /// SaslHandshake v0 may be empty: size 0).
    pub fn set_min_frame_size(&mut self, n: u32) {
        self.cfg.min_frame_size = n;
    }

    /// Frames delivered so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Bytes held in the frame buffer or scan window.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Heap bytes the framer holds (its buffer's capacity): what a memory
    /// budget must count.
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity() + self.pending.capacity() * std::mem::size_of::<usize>()
    }

    /// Feed in-order bytes.
    pub fn data(&mut self, data: &[u8], at: PacketRef, h: &mut impl FrameHandler) {
        let mut input: Cow<'_, [u8]> = Cow::Borrowed(data);
        // `consume` returns bytes to replay after a resync; each round
        // consumes at least one byte or returns None, so this ends.
        while let Some(replay) = self.consume(&input, at, h) {
            input = Cow::Owned(replay);
        }
    }

    /// Re-run the scan over the window without new bytes (the handler's
    /// judgement may have changed, e.g. a request is now in flight).
    ///
    /// Only the undecided candidates (at most [`PENDING_MAX`]) are judged
    /// again: a handler's `No` must not depend on what may change (it says
    /// `NeedMore` instead), so a retry costs a bounded amount of work however
    /// large the window (found by fuzzing: a full rescan per request was
    /// quadratic).
    pub fn retry(&mut self, at: PacketRef, h: &mut impl FrameHandler) {
        if !self.is_synced() && !self.pending.is_empty() {
            self.data(&[], at, h);
        }
    }

    /// `len` bytes were lost.
    pub fn gap(&mut self, len: u64, at: PacketRef, h: &mut impl FrameHandler) {
        if len == 0 {
            return;
        }
        let gap_start = self.pos;
        self.pos += len;
        match self.state {
            State::Boundary => {
                self.buf.clear();
                self.lose(gap_start, DesyncCause::Gap, at, h);
            }
            State::Body { size, have, lost } => {
                let remaining = u64::from(size) + 4 - have;
                if len < remaining {
                    self.state = State::Body {
                        size,
                        have: have + len,
                        lost: lost + len,
                    };
                } else {
                    self.state = State::Body {
                        size,
                        have: have + remaining,
                        lost: lost + remaining,
                    };
                    let next = self.emit_buffered(size, gap_start + remaining, at, h);
                    if len > remaining || next == Next::Desync {
                        self.lose(gap_start + remaining, DesyncCause::Gap, at, h);
                    }
                }
            }
            State::Skip { remaining } => {
                if len < remaining {
                    self.state = State::Skip {
                        remaining: remaining - len,
                    };
                } else if len == remaining {
                    self.state = State::Boundary;
                } else {
                    self.lose(gap_start + remaining, DesyncCause::Gap, at, h);
                }
            }
            State::Lost { skipped, .. } => {
                // Bytes before a gap cannot begin a frame that we could follow.
                let dropped = self.buf.len() as u64;
                self.buf.clear();
                self.pending.clear();
                self.state = State::Lost {
                    scan: 0,
                    skipped: skipped + dropped,
                };
            }
        }
    }

    /// The stream ended (connection closed, capture ended): deliver the frame
    /// in progress, if its size prefix was seen, as an incomplete frame
    /// (`incomplete`, the missing bytes counted in `lost`), so a message
    /// whose header was captured is never silently dropped.
    pub fn finish(&mut self, at: PacketRef, h: &mut impl FrameHandler) {
        if let State::Body { size, have, lost } = self.state {
            let missing = (u64::from(size) + 4).saturating_sub(have);
            let offset = self.pos.saturating_sub(have);
            let buf = std::mem::take(&mut self.buf);
            self.state = State::Boundary;
            self.frames += 1;
            h.on_frame(Frame {
                offset,
                size,
                data: buf.get(4..).unwrap_or(&[]),
                lost: lost + missing,
                first: self.first,
                at,
                incomplete: true,
            });
        }
    }

    /// Bytes of the frame in progress held, and what they belong to: `Some`
    /// when a frame body is being gathered (for a memory budget to let go).
    pub fn partial_frame(&self) -> Option<usize> {
        matches!(self.state, State::Body { lost: 0, .. }).then_some(self.buf.len())
    }

    /// Let go of the bytes of the frame in progress beyond its first `keep`
    /// (a memory budget is over): they are counted as lost, later bytes of
    /// the frame are skipped, and the frame is still delivered at its end,
    /// with what was kept (enough for its header). Returns the bytes freed.
    pub fn shed(&mut self, keep: usize) -> usize {
        let State::Body { size, have, lost } = self.state else {
            return 0;
        };
        let keep = keep.max(4);
        if lost > 0 || self.buf.len() <= keep {
            return 0;
        }
        let freed = self.buf.capacity() - keep;
        // A new small buffer rather than shrinking in place: the large one
        // goes back whole, so the allocator can reuse it for the next large
        // message instead of leaving a hole too small for it.
        let kept = self.buf.get(..keep).unwrap_or(&[]).to_vec();
        self.buf = kept;
        self.state = State::Body {
            size,
            have,
            lost: freed as u64,
        };
        freed
    }

    /// Enter the out-of-sync state at stream offset `offset`.
    fn lose(&mut self, offset: u64, cause: DesyncCause, at: PacketRef, h: &mut impl FrameHandler) {
        self.buf.clear();
        self.pending.clear();
        self.state = State::Lost {
            scan: 0,
            skipped: 0,
        };
        h.on_event(FrameEvent::OutOfSync { offset, cause }, at);
    }

    /// Deliver the buffered frame (state must be a complete Body).
    /// `end` is the stream offset just past the frame.
    fn emit_buffered(
        &mut self,
        size: u32,
        end: u64,
        at: PacketRef,
        h: &mut impl FrameHandler,
    ) -> Next {
        let State::Body { lost, .. } = self.state else {
            return Next::Continue;
        };
        let offset = end - (u64::from(size) + 4);
        let buf = std::mem::take(&mut self.buf);
        let data = buf.get(4..).unwrap_or(&[]);
        self.state = State::Boundary;
        self.frames += 1;
        let next = h.on_frame(Frame {
            offset,
            size,
            data,
            lost,
            first: self.first,
            at,
            incomplete: false,
        });
        // Keep the allocation for the next frame unless it is large.
        self.buf = buf;
        self.buf.clear();
        if self.buf.capacity() > 1 << 20 {
            self.buf = Vec::new();
        }
        next
    }

    /// Process `input`; returns bytes to replay when a resync found a frame
    /// start inside the scan window.
    fn consume(
        &mut self,
        input: &[u8],
        at: PacketRef,
        h: &mut impl FrameHandler,
    ) -> Option<Vec<u8>> {
        let mut i = 0;
        // Stream offset of input[0].
        let base = self.pos;
        self.pos += input.len() as u64;
        while i < input.len() || matches!(self.state, State::Lost { .. }) {
            match self.state {
                State::Boundary => {
                    if self.buf.is_empty() && input.len() - i >= 4 {
                        // Fast path: the size prefix is in the input.
                        let size = u32::from_be_bytes(input[i..i + 4].try_into().unwrap());
                        match self.check_size(size, &input[i..], h) {
                            Verdict::No => {
                                self.lose(base + i as u64, DesyncCause::BadSize, at, h);
                                continue;
                            }
                            Verdict::NeedMore => {
                                // An oversize frame whose header is still
                                // coming: gather it on the slow path.
                                self.first = at;
                                let n = (input.len() - i).min(PROBE_MAX).min(size as usize + 4);
                                self.buf.extend_from_slice(&input[i..i + n]);
                                i += n;
                                continue;
                            }
                            Verdict::Yes => {}
                        }
                        if size > self.cfg.max_frame_size {
                            self.start_skip(base + i as u64, size, at, h);
                            i += 4;
                            continue;
                        }
                        let end = i + 4 + size as usize;
                        if end <= input.len() {
                            // Whole frame in the input: no copy.
                            self.frames += 1;
                            let next = h.on_frame(Frame {
                                offset: base + i as u64,
                                size,
                                data: &input[i + 4..end],
                                lost: 0,
                                first: at,
                                at,
                                incomplete: false,
                            });
                            i = end;
                            if next == Next::Desync {
                                self.lose(base + i as u64, DesyncCause::BadHeader, at, h);
                            }
                            continue;
                        }
                        self.first = at;
                        self.buf.extend_from_slice(&input[i..]);
                        self.state = State::Body {
                            size,
                            have: (input.len() - i) as u64,
                            lost: 0,
                        };
                        return None;
                    }
                    // Slow path: gather the size prefix in `buf`.
                    if self.buf.is_empty() {
                        self.first = at;
                    }
                    // The size prefix, or (for an oversize frame still being
                    // judged) header bytes up to a small bound.
                    let want = if self.buf.len() < 4 {
                        4 - self.buf.len()
                    } else {
                        let size = u32::from_be_bytes(self.buf[..4].try_into().unwrap());
                        PROBE_MAX
                            .min(size as usize + 4)
                            .saturating_sub(self.buf.len())
                    };
                    let take = want.min(input.len() - i);
                    self.buf.extend_from_slice(&input[i..i + take]);
                    i += take;
                    if self.buf.len() < 4 {
                        continue;
                    }
                    let size = u32::from_be_bytes(self.buf[..4].try_into().unwrap());
                    let mut probe = std::mem::take(&mut self.buf);
                    let verdict = self.check_size(size, &probe, h);
                    match verdict {
                        Verdict::No => {
                            let off = base + i as u64 - probe.len() as u64;
                            self.lose(off, DesyncCause::BadSize, at, h);
                            // Rescan from the byte after the bad prefix start.
                            self.buf = probe.split_off(1);
                            self.state = State::Lost {
                                scan: 0,
                                skipped: 1,
                            };
                        }
                        Verdict::NeedMore => {
                            // Oversize frame: keep gathering header bytes (bounded).
                            if probe.len() >= PROBE_MAX.min(size as usize + 4) {
                                let off = base + i as u64 - probe.len() as u64;
                                self.lose(off, DesyncCause::BadSize, at, h);
                                self.buf = probe.split_off(1);
                                self.state = State::Lost {
                                    scan: 0,
                                    skipped: 1,
                                };
                            } else {
                                self.buf = probe;
                            }
                        }
                        Verdict::Yes if size > self.cfg.max_frame_size => {
                            let off = base + i as u64 - probe.len() as u64;
                            let have = (probe.len() - 4) as u64;
                            self.start_skip(off, size, at, h);
                            if let State::Skip { remaining } = self.state {
                                if have >= remaining {
                                    // The probe never reaches past the frame.
                                    self.state = State::Boundary;
                                } else {
                                    self.state = State::Skip {
                                        remaining: remaining - have,
                                    };
                                }
                            }
                        }
                        Verdict::Yes => {
                            let have = probe.len() as u64;
                            self.buf = probe;
                            self.state = State::Body {
                                size,
                                have,
                                lost: 0,
                            };
                            if have == u64::from(size) + 4 {
                                let end = base + i as u64;
                                if self.emit_buffered(size, end, at, h) == Next::Desync {
                                    self.lose(base + i as u64, DesyncCause::BadHeader, at, h);
                                }
                            }
                        }
                    }
                }
                State::Body { size, have, lost } => {
                    let remaining = (u64::from(size) + 4 - have) as usize;
                    let take = remaining.min(input.len() - i);
                    if lost == 0 {
                        self.buf.extend_from_slice(&input[i..i + take]);
                    }
                    i += take;
                    self.state = State::Body {
                        size,
                        have: have + take as u64,
                        lost,
                    };
                    if take == remaining
                        && self.emit_buffered(size, base + i as u64, at, h) == Next::Desync
                    {
                        self.lose(base + i as u64, DesyncCause::BadHeader, at, h);
                    }
                }
                State::Skip { remaining } => {
                    let take = (remaining.min((input.len() - i) as u64)) as usize;
                    i += take;
                    self.state = if take as u64 == remaining {
                        State::Boundary
                    } else {
                        State::Skip {
                            remaining: remaining - take as u64,
                        }
                    };
                }
                State::Lost { scan, skipped } => {
                    self.buf.extend_from_slice(&input[i..]);
                    return self.scan(scan, skipped, at, h);
                }
            }
        }
        None
    }

    /// Judge a size prefix at a boundary: `Yes` for a usable size (or an
    /// oversize frame that looks like a real one), `No` for an impossible
    /// size.
    fn check_size(&mut self, size: u32, bytes: &[u8], h: &mut impl FrameHandler) -> Verdict {
        if size > i32::MAX as u32 || size < self.cfg.min_frame_size {
            return Verdict::No;
        }
        if size <= self.cfg.max_frame_size {
            return Verdict::Yes;
        }
        h.check_candidate(bytes)
    }

    fn start_skip(&mut self, offset: u64, size: u32, at: PacketRef, h: &mut impl FrameHandler) {
        h.on_event(
            FrameEvent::TooLarge {
                offset,
                size,
                limit: self.cfg.max_frame_size,
            },
            at,
        );
        self.buf.clear();
        self.state = State::Skip {
            remaining: u64::from(size),
        };
    }

    /// Scan the window for a frame start: first re-judge the undecided
    /// candidates (`pending`), then the offsets from `scan` on. The first
    /// definite `Yes` wins; undecided ones are kept (at most
    /// [`PENDING_MAX`]) to be judged again when more bytes arrive.
    fn scan(
        &mut self,
        mut scan: usize,
        mut skipped: u64,
        at: PacketRef,
        h: &mut impl FrameHandler,
    ) -> Option<Vec<u8>> {
        let mut found = None;
        let mut pending = std::mem::take(&mut self.pending);
        pending.retain(|&p| {
            if found.is_some() {
                return true;
            }
            match self.judge(p, h) {
                Verdict::Yes => {
                    found = Some(p);
                    true
                }
                Verdict::No => false,
                Verdict::NeedMore => true,
            }
        });
        while found.is_none() && scan + 4 <= self.buf.len() {
            match self.judge(scan, h) {
                Verdict::Yes => found = Some(scan),
                Verdict::No => {}
                Verdict::NeedMore => {
                    if pending.len() < PENDING_MAX {
                        pending.push(scan);
                    }
                }
            }
            scan += 1;
        }
        if let Some(at_off) = found {
            self.pending.clear();
            skipped += at_off as u64;
            let offset = self.pos - (self.buf.len() - at_off) as u64;
            let mut window = std::mem::take(&mut self.buf);
            let replay = window.split_off(at_off);
            h.on_event(FrameEvent::Resync { offset, skipped }, at);
            self.state = State::Boundary;
            // The replayed bytes are fed again from `offset`.
            self.pos = offset;
            return Some(replay);
        }
        // Drop what was ruled out, and keep the window bounded.
        let keep_from = pending.first().copied().unwrap_or(scan).min(scan);
        let excess = self.buf.len().saturating_sub(self.cfg.scan_window);
        let drop = keep_from.max(excess).min(self.buf.len());
        if drop > 0 {
            self.buf.drain(..drop);
            skipped += drop as u64;
            scan -= drop.min(scan);
            pending.retain(|&p| p >= drop);
            for p in pending.iter_mut() {
                *p -= drop;
            }
        }
        self.pending = pending;
        self.state = State::Lost { scan, skipped };
        None
    }

    fn judge(&self, at: usize, h: &mut impl FrameHandler) -> Verdict {
        let cand = &self.buf[at..];
        let Some(size) = cand.get(..4) else {
            return Verdict::NeedMore;
        };
        let size = u32::from_be_bytes(size.try_into().unwrap());
        if size > i32::MAX as u32 || size < self.cfg.min_frame_size {
            return Verdict::No;
        }
        let v = h.check_candidate(cand);
        if v == Verdict::NeedMore && cand.len() >= self.cfg.scan_window {
            // Wants more than the window can ever hold.
            return Verdict::No;
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts any candidate whose 4 bytes after the size are `0xKK 0x00`
    /// (a stand-in for "api key looks right").
    #[derive(Default)]
    struct Rec {
        frames: Vec<(u64, u32, Vec<u8>, u64, u64)>,
        events: Vec<FrameEvent>,
    }

    impl FrameHandler for Rec {
        fn on_frame(&mut self, f: Frame<'_>) -> Next {
            self.frames
                .push((f.offset, f.size, f.data.to_vec(), f.lost, f.at.frame));
            Next::Continue
        }
        fn check_candidate(&mut self, b: &[u8]) -> Verdict {
            match b.get(4..6) {
                None => Verdict::NeedMore,
                Some([0xee, 0]) => Verdict::Yes,
                Some(_) => Verdict::No,
            }
        }
        fn on_event(&mut self, e: FrameEvent, _at: PacketRef) {
            self.events.push(e);
        }
    }

    fn at(frame: u64) -> PacketRef {
        PacketRef {
            frame,
            ts: Default::default(),
        }
    }

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn finish_delivers_a_frame_cut_by_the_end_of_the_stream() {
        let mut f = Framer::new(cfg());
        let mut r = Rec::default();
        let whole = frame(&[0xee, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        f.data(&whole[..7], at(3), &mut r);
        assert!(r.frames.is_empty());
        f.finish(at(4), &mut r);
        // 3 of 10 body bytes seen; 7 never came.
        assert_eq!(r.frames, [(0, 10, vec![0xee, 0, 1], 7, 4)]);
        // Nothing in progress: nothing more.
        f.finish(at(5), &mut r);
        assert_eq!(r.frames.len(), 1);
        // At a boundary, or with only part of the size prefix: nothing.
        let mut f = Framer::new(cfg());
        let mut r = Rec::default();
        f.data(&whole[..2], at(1), &mut r);
        f.finish(at(2), &mut r);
        assert!(r.frames.is_empty());
    }

    #[test]
    fn shed_keeps_the_head_and_delivers_the_frame_at_its_end() {
        let mut f = Framer::new(cfg());
        let mut r = Rec::default();
        let body: Vec<u8> = (0..60u8).collect();
        let whole = frame(&body);
        f.data(&whole[..40], at(1), &mut r);
        assert_eq!(f.partial_frame(), Some(40));
        let freed = f.shed(10);
        assert!(freed >= 30, "{freed}");
        assert!(f.heap_bytes() <= 10 + 4);
        // Shedding again frees nothing: the rest is already counted lost.
        assert_eq!(f.shed(10), 0);
        f.data(&whole[40..], at(2), &mut r);
        assert_eq!(r.frames.len(), 1);
        let (offset, size, data, lost, pkt) = &r.frames[0];
        assert_eq!((*offset, *size, *pkt), (0, 60, 2));
        assert_eq!(
            data[..],
            body[..6],
            "the first 10 bytes, size prefix included"
        );
        assert!(*lost > 0);
        // The stream goes on in sync.
        f.data(&frame(&[0xee, 0, 9]), at(3), &mut r);
        assert_eq!(r.frames[1], (64, 3, vec![0xee, 0, 9], 0, 3));
    }

    fn cfg() -> FramerConfig {
        FramerConfig {
            max_frame_size: 64,
            min_frame_size: 2,
            scan_window: 256,
        }
    }

    fn stream() -> Vec<u8> {
        let mut s = frame(&[0xee, 0, 1, 2, 3]);
        s.extend(frame(&[0xee, 0]));
        s.extend(frame(&[0xee, 0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]));
        s
    }

    #[test]
    fn frames_are_independent_of_chunking() {
        let s = stream();
        let mut whole = Rec::default();
        Framer::new(cfg()).data(&s, at(1), &mut whole);
        assert_eq!(whole.frames.len(), 3);
        let bodies: Vec<_> = whole.frames.iter().map(|f| f.2.clone()).collect();
        for a in 0..=s.len() {
            for b in a..=s.len() {
                let mut r = Rec::default();
                let mut f = Framer::new(cfg());
                f.data(&s[..a], at(1), &mut r);
                f.data(&s[a..b], at(2), &mut r);
                f.data(&s[b..], at(3), &mut r);
                let got: Vec<_> = r.frames.iter().map(|f| f.2.clone()).collect();
                assert_eq!(got, bodies, "split at {a},{b}");
                assert!(r.events.is_empty());
                let offsets: Vec<_> = r.frames.iter().map(|f| f.0).collect();
                assert_eq!(offsets, vec![0, 9, 15]);
            }
        }
    }

    #[test]
    fn gap_inside_a_frame_keeps_framing() {
        let s = stream();
        let mut r = Rec::default();
        let mut f = Framer::new(cfg());
        // Lose bytes 6..8 of the first frame (inside its body).
        f.data(&s[..6], at(1), &mut r);
        f.gap(2, at(2), &mut r);
        f.data(&s[8..], at(3), &mut r);
        assert_eq!(r.frames.len(), 3);
        assert_eq!(r.frames[0].3, 2);
        assert_eq!(r.frames[0].2, vec![0xee, 0]);
        assert_eq!(r.frames[1].2, vec![0xee, 0]);
        assert!(r.events.is_empty());
    }

    #[test]
    fn gap_over_a_boundary_resyncs_on_next_frame() {
        let s = stream();
        let mut r = Rec::default();
        let mut f = Framer::new(cfg());
        // Lose from inside frame 1 to inside frame 2's size prefix.
        f.data(&s[..6], at(1), &mut r);
        f.gap(5, at(2), &mut r);
        f.data(&s[11..], at(3), &mut r);
        assert_eq!(r.frames.len(), 2, "{:?}", r.frames);
        assert_eq!(r.frames[0].3, 3);
        assert_eq!(r.frames[1].0, 15);
        assert!(matches!(
            r.events[0],
            FrameEvent::OutOfSync {
                cause: DesyncCause::Gap,
                offset: 9
            }
        ));
        assert!(matches!(r.events[1], FrameEvent::Resync { offset: 15, .. }));
    }

    #[test]
    fn mid_stream_start_finds_first_frame() {
        let s = stream();
        for start in 1..9 {
            let mut r = Rec::default();
            let mut f = Framer::new_mid_stream(cfg());
            f.data(&s[start..], at(1), &mut r);
            assert_eq!(r.frames.len(), 2, "start {start}");
        }
    }

    #[test]
    fn oversize_frames_are_skipped_and_reported() {
        let mut s = frame(&[0xee, 0].repeat(50)); // 100 > 64
        s.extend(frame(&[0xee, 0, 7]));
        for split in 0..s.len() {
            let mut r = Rec::default();
            let mut f = Framer::new(cfg());
            f.data(&s[..split], at(1), &mut r);
            f.data(&s[split..], at(2), &mut r);
            assert_eq!(r.frames.len(), 1, "split {split}");
            assert_eq!(r.frames[0].2, vec![0xee, 0, 7]);
            assert!(matches!(
                r.events[0],
                FrameEvent::TooLarge { size: 100, .. }
            ));
        }
    }

    #[test]
    fn garbage_never_panics_and_stays_bounded() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut f = Framer::new(cfg());
        let mut r = Rec::default();
        for round in 0..2000 {
            let mut chunk = vec![0u8; (round % 97) + 1];
            for b in chunk.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = (x >> 24) as u8;
            }
            f.data(&chunk, at(round as u64), &mut r);
            if round % 13 == 0 {
                f.gap(round as u64 % 5, at(round as u64), &mut r);
            }
            assert!(f.buffered() <= 256 + 97 + 68);
        }
    }
}
