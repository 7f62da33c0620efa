//! One direction of a connection: sequence tracking, in-order delivery,
//! the out-of-order buffer and the rules that turn holes into gaps.
//!
//! Sequence numbers are unwrapped into 64-bit stream offsets (offset 0 is
//! the first byte after the SYN, or the first byte seen when the SYN was not
//! captured) by their signed 32-bit distance from the next expected byte, so
//! arithmetic is mod 2^32 and a segment more than 2^31 behind is old.

use super::assembler::{Assembler, Mismatch};
use super::{
    ConnInfo, Dir, GapCause, Interest, Kept, OooLimitKind, StreamSink, TcpConfig, TcpEvent,
    TcpStats,
};
use crate::capture::PacketRef;

/// Which packet buffered bytes are delivered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dating {
    /// The current packet: it filled the hole, so it completes them.
    Now,
    /// The packet that brought them: the hole before them was given up, and
    /// what they complete was complete when they arrived (as Wireshark, which
    /// does not wait for holes, dates it).
    Arrival,
}

/// The sink asked to ignore the connection: stop all work on it.
#[derive(Debug)]
pub(super) struct Stop;

/// Where a direction's output goes, and what it is about.
pub(super) struct Out<'a, S> {
    pub sink: &'a mut S,
    pub info: ConnInfo,
    pub dir: Dir,
    pub at: PacketRef,
    pub stats: &'a mut TcpStats,
    /// `Some(max_total_ooo_bytes)` when the byte limit in force is what
    /// `max_total_ooo_bytes` leaves.
    pub total_limit: Option<usize>,
}

impl<S: StreamSink> Out<'_, S> {
    fn data(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        let at = self.at;
        self.data_at(bytes, at)
    }

    /// Deliver bytes dated by the packet that brought them.
    fn data_at(&mut self, bytes: &[u8], at: PacketRef) -> Result<(), Stop> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self.sink.on_data(&self.info, self.dir, bytes, at) {
            Interest::Keep => Ok(()),
            Interest::Ignore => Err(Stop),
        }
    }

    /// A segment's bytes differ from the copy held.
    fn mismatch(&mut self, m: Mismatch, kept: Kept) {
        self.stats.retransmission_mismatches += 1;
        let event = TcpEvent::RetransmissionMismatch {
            dir: self.dir,
            offset: m.offset,
            len: m.len,
            kept,
        };
        self.sink.on_event(&self.info, event, self.at);
    }

    fn gap(&mut self, len: u64, cause: GapCause) {
        let at = self.at;
        self.gap_at(len, cause, at);
    }

    fn gap_at(&mut self, len: u64, cause: GapCause, at: PacketRef) {
        if len == 0 {
            return;
        }
        self.stats.gap_bytes += len;
        self.sink.on_gap(&self.info, self.dir, len, cause, at);
    }
}

/// The peer acknowledged (or the FIN proved sent) bytes the capture lacks:
/// give them up once `hole_packets` more packets or `hole_timeout_ns` have
/// passed since.
#[derive(Clone, Copy, Debug)]
struct Arm {
    /// Offset up to which the bytes are proven sent.
    end: u64,
    /// The connection's packet count when armed.
    packets: u64,
    /// Capture clock when armed.
    ns: i64,
}

#[derive(Debug, Default)]
pub(super) struct Half {
    /// A base sequence number is known (a SYN, SYN-ACK or segment was seen).
    started: bool,
    /// Sequence number of stream offset 0.
    base_seq: u32,
    /// Stream offset of the next byte to deliver: everything before it was
    /// delivered or reported as a gap.
    next: u64,
    /// Stream offset of the FIN (the end of the data), once seen.
    fin: Option<u64>,
    /// Highest offset the peer acknowledged.
    acked: u64,
    arm: Option<Arm>,
    ooo: Assembler,
}

impl Half {
    pub fn started(&self) -> bool {
        self.started
    }

    pub fn base_seq(&self) -> u32 {
        self.base_seq
    }

    /// Start the stream at `seq` (offset 0).
    pub fn start(&mut self, seq: u32) {
        *self = Half {
            started: true,
            base_seq: seq,
            ..Half::default()
        };
    }

    /// Stream offset of `seq`, by its signed distance from the next byte.
    pub fn offset(&self, seq: u32) -> i64 {
        let next_seq = self.base_seq.wrapping_add(self.next as u32);
        self.next as i64 + i64::from(seq.wrapping_sub(next_seq) as i32)
    }

    pub fn buffered(&self) -> usize {
        self.ooo.bytes()
    }

    /// Everything before the FIN was delivered or given up.
    pub fn done(&self) -> bool {
        self.fin.is_some_and(|f| self.next >= f)
    }

    /// Out-of-order runs held.
    #[cfg(test)]
    pub fn runs(&self) -> usize {
        self.ooo.runs()
    }

    pub fn has_arm(&self) -> bool {
        self.arm.is_some()
    }

    /// Drop the buffer (the connection is ignored or closed).
    pub fn release(&mut self) {
        self.ooo.clear();
        self.arm = None;
    }

    /// Record the FIN at `off` (the end of the data). The first FIN counts.
    /// Like an ACK, it proves the bytes before it were sent.
    pub fn set_fin(&mut self, off: i64, packets: u64, ns: i64) {
        if self.fin.is_none() {
            let fin = off.max(self.next as i64) as u64;
            self.fin = Some(fin);
            // Nothing after the FIN is data.
            self.ooo.truncate(fin);
            if self.arm.is_none() {
                self.rearm(packets, ns);
            }
        }
    }

    /// End of the bytes proven sent: by the FIN, or else by the peer's ACK.
    /// An ACK one past the data with nothing buffered most likely covers an
    /// uncaptured FIN, not a lost byte.
    fn proven_end(&self) -> u64 {
        let Some(f) = self.fin else {
            // An ACK one past the last byte known (delivered or buffered)
            // covers an uncaptured FIN, not one more lost byte.
            let known = self.ooo.end().unwrap_or(self.next).max(self.next);
            return if self.acked == known + 1 {
                known
            } else {
                self.acked
            };
        };
        f
    }

    fn rearm(&mut self, packets: u64, ns: i64) {
        let end = self.proven_end();
        self.arm = (end > self.next).then_some(Arm { end, packets, ns });
    }

    /// The peer acknowledged up to `ack`.
    pub fn on_ack(&mut self, ack: u32, packets: u64, ns: i64) {
        if !self.started {
            return;
        }
        let off = self.offset(ack);
        if off > self.acked as i64 {
            self.acked = off as u64;
        }
        if self.arm.is_none() {
            self.rearm(packets, ns);
        }
    }

    /// Give up the acknowledged hole if it is overdue; forget it if it was
    /// filled.
    pub fn check_arm<S: StreamSink>(
        &mut self,
        packets: u64,
        ns: i64,
        cfg: &TcpConfig,
        out: &mut Out<'_, S>,
    ) -> Result<(), Stop> {
        let Some(arm) = self.arm else {
            return Ok(());
        };
        if self.next < arm.end {
            let waited_packets = packets.saturating_sub(arm.packets);
            let waited_ns = ns.saturating_sub(arm.ns);
            if waited_packets < u64::from(cfg.hole_packets)
                && (waited_ns < 0 || (waited_ns as u64) < cfg.hole_timeout_ns)
            {
                return Ok(());
            }
            // Bytes the peer acknowledged are lost; bytes only the FIN
            // proves are given up as the connection closes.
            self.skip_to(
                arm.end.min(self.acked),
                GapCause::Lost,
                Dating::Arrival,
                out,
            )?;
            self.skip_to(arm.end, GapCause::Closed, Dating::Arrival, out)?;
            self.drain(Dating::Arrival, out)?;
        }
        self.rearm(packets, ns);
        Ok(())
    }

    /// Take a segment's payload: `captured` bytes at stream offset `start`,
    /// `wire_len` bytes long on the wire (more when the snaplen cut it).
    pub fn receive<S: StreamSink>(
        &mut self,
        start: i64,
        captured: &[u8],
        wire_len: u64,
        cfg: &TcpConfig,
        out: &mut Out<'_, S>,
    ) -> Result<(), Stop> {
        let wire_len = wire_len.max(captured.len() as u64) as i64;
        let mut end = start + wire_len;
        if let Some(f) = self.fin {
            // Nothing after the FIN is data.
            end = end.min(f as i64);
        }
        let cap_end = (start + captured.len() as i64).min(end);
        let next = self.next as i64;
        if end <= next {
            out.stats.retransmitted_bytes += wire_len as u64;
            return Ok(());
        }
        if start <= next {
            // In order, possibly overlapping what was delivered: deliver the
            // new part straight from the packet.
            out.stats.retransmitted_bytes += (next - start) as u64;
            if cap_end > next {
                let bytes = &captured[(next - start) as usize..(cap_end - start) as usize];
                // Delivered as it is: buffered bytes it covers are dropped.
                if let Some(m) = self.ooo.compare(self.next, bytes) {
                    out.mismatch(m, Kept::Last);
                }
                out.data(bytes)?;
                self.next = cap_end as u64;
            }
            // What the snaplen cut, in order (buffered bytes there still count).
            self.skip_to(end as u64, GapCause::Snaplen, Dating::Now, out)?;
            // This packet filled the hole: it completes what follows.
            return self.drain(Dating::Now, out);
        }
        // Out of order: buffer a copy.
        out.stats.out_of_order_segments += 1;
        let (start, end, cap_end) = (start as u64, end as u64, cap_end.max(start) as u64);
        let inserted = self
            .ooo
            .insert_data(start, &captured[..(cap_end - start) as usize], out.at);
        if let Some(m) = inserted.mismatch {
            out.mismatch(m, Kept::First);
        }
        let dup = inserted.dup + self.ooo.insert_cut(cap_end, end);
        out.stats.retransmitted_bytes += dup;
        self.enforce(cfg, out)
    }

    /// Over a limit: give up the oldest holes until within them again.
    fn enforce<S: StreamSink>(
        &mut self,
        cfg: &TcpConfig,
        out: &mut Out<'_, S>,
    ) -> Result<(), Stop> {
        let over = |a: &Assembler| a.bytes() > cfg.max_ooo_bytes || a.runs() > cfg.max_ooo_segments;
        // Bytes first: when both are over, giving up holes for the bytes
        // may bring the runs within their limit too.
        let (kind, limit) = if self.ooo.bytes() > cfg.max_ooo_bytes {
            match out.total_limit {
                Some(total) => (OooLimitKind::TotalBytes, total),
                None => (OooLimitKind::Bytes, cfg.max_ooo_bytes),
            }
        } else if self.ooo.runs() > cfg.max_ooo_segments {
            (OooLimitKind::Segments, cfg.max_ooo_segments)
        } else {
            return Ok(());
        };
        let event = TcpEvent::OooLimit {
            dir: out.dir,
            kind,
            limit,
            buffered_bytes: self.ooo.bytes(),
            buffered_segments: self.ooo.runs(),
        };
        out.sink.on_event(&out.info, event, out.at);
        while over(&self.ooo)
            && let Some(front) = self.ooo.front()
        {
            let to = front.start;
            self.skip_to(to, GapCause::BufferLimit, Dating::Arrival, out)?;
            self.drain(Dating::Arrival, out)?;
        }
        Ok(())
    }

    /// Move `next` to at least `end`: bytes not buffered become gaps of
    /// `cause`, buffered runs on the way are delivered.
    fn skip_to<S: StreamSink>(
        &mut self,
        end: u64,
        cause: GapCause,
        dating: Dating,
        out: &mut Out<'_, S>,
    ) -> Result<(), Stop> {
        while self.next < end {
            match self.ooo.front() {
                Some(front) if front.start <= self.next => self.deliver_front(dating, out)?,
                front => {
                    let stop = front.map_or(end, |f| f.start.min(end));
                    // A given-up hole is dated by the packet that brought the
                    // first byte after it: where the loss became visible.
                    let at = match (dating, front) {
                        (Dating::Arrival, Some(f)) if f.start == stop => {
                            self.ooo.first_mark().unwrap_or(out.at)
                        }
                        _ => out.at,
                    };
                    out.gap_at(stop - self.next, cause, at);
                    self.next = stop;
                }
            }
        }
        Ok(())
    }

    /// Deliver the buffered runs that are now contiguous.
    fn drain<S: StreamSink>(&mut self, dating: Dating, out: &mut Out<'_, S>) -> Result<(), Stop> {
        while let Some(front) = self.ooo.front()
            && front.start <= self.next
        {
            self.deliver_front(dating, out)?;
        }
        Ok(())
    }

    /// Deliver the front run's bytes beyond `next` (its start is `<= next`).
    fn deliver_front<S: StreamSink>(
        &mut self,
        dating: Dating,
        out: &mut Out<'_, S>,
    ) -> Result<(), Stop> {
        let Some(run) = self.ooo.front() else {
            return Ok(());
        };
        if run.end <= self.next {
            // Delivered meanwhile by an in-order segment.
            self.ooo.pop_front();
            out.stats.retransmitted_bytes += run.end - run.start;
            return Ok(());
        }
        let from = self.next;
        out.stats.retransmitted_bytes += from - run.start;
        self.next = run.end;
        if run.cut {
            self.ooo.pop_front();
            out.gap(run.end - from, GapCause::Snaplen);
            return Ok(());
        }
        // The bytes come a page at a time (and, dated by arrival, a packet
        // at a time). Every data byte has a mark; should one be missing, its
        // bytes go out with the current packet rather than not at all.
        let dated = dating == Dating::Arrival;
        let delivered = self.ooo.pop_front_with(from, dated, |_, bytes, at| {
            out.data_at(bytes, at.unwrap_or(out.at))
        });
        delivered.map_or(Ok(()), |(_, result)| result)
    }

    /// The connection is closing: deliver what is buffered, the holes before
    /// it, and bytes the ACKs or the FIN prove were sent, as gaps of
    /// [`GapCause::Closed`].
    pub fn flush<S: StreamSink>(&mut self, out: &mut Out<'_, S>) -> Result<(), Stop> {
        self.arm = None;
        if !self.started {
            return Ok(());
        }
        let end = self
            .ooo
            .end()
            .unwrap_or(0)
            .max(self.proven_end())
            .max(self.fin.unwrap_or(0));
        self.skip_to(end, GapCause::Closed, Dating::Arrival, out)?;
        self.drain(Dating::Arrival, out)
    }
}
