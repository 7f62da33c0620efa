//! The records of several captures' analyses made one stream: connection
//! indexes made unique, an exchange two captures saw folded into one, the
//! summaries added up.
//!
//! Records pass through a delay line in the order they arrive: each is
//! held until the merged clock is [`super::MERGE_WINDOW_NS`] (plus the
//! clocks' error) past its arrival, so that the other capture's view of an
//! exchange can arrive and be folded into it in place. At most
//! [`super::MAX_MERGE_HELD`] records wait; beyond, the oldest goes on
//! unmatched (counted, and a `limit` event).

use std::collections::VecDeque;
use std::net::SocketAddr;

use foldhash::{HashMap, HashMapExt};

use crate::capture::{PacketRef, Timestamp};
use crate::kafka::ApiKey;
use crate::session::{
    BrokerSide, CaptureInfo, Event, EventKind, Exchange, Limit, MergeSummary, Record, RecordSink,
    Status, Summary,
};

use super::{MAX_MERGE_HELD, MAX_MERGE_HELD_BYTES};

/// Body bytes an exchange holds.
fn body_bytes(e: &Exchange) -> usize {
    e.request_body.as_ref().map_or(0, |b| b.bytes.len())
        + e.response_body.as_ref().map_or(0, |b| b.bytes.len())
}

/// What makes two captures' views the same exchange: the connection (as
/// the first capture names it), the correlation id and the API.
type Key = (SocketAddr, SocketAddr, i32, ApiKey);

struct Slot {
    seq: u64,
    /// Body bytes it holds (for [`MAX_MERGE_HELD_BYTES`]).
    bytes: usize,
    /// Held until the merged clock reaches this, ns.
    due: i128,
    rec: Record,
    key: Option<Key>,
    capture: u16,
}

/// The merged stream's sink side; see the module doc.
pub struct Merger<S: RecordSink> {
    sink: S,
    n: u16,
    aliases: HashMap<(u16, SocketAddr, SocketAddr), (SocketAddr, SocketAddr)>,
    window_ns: i128,
    line: VecDeque<Slot>,
    /// Body bytes the line holds.
    held_bytes: usize,
    /// The line's limits: [`MAX_MERGE_HELD`] records,
    /// [`MAX_MERGE_HELD_BYTES`] of bodies.
    max_held: usize,
    max_held_bytes: usize,
    next_seq: u64,
    index: HashMap<Key, u64>,
    /// Exchanges passed on unmatched, oldest first (at most
    /// [`MAX_MERGE_HELD`]): a second view arriving after its first went on
    /// (an analysis that completes it only when its connection ends) is
    /// recognised, and not counted twice.
    passed: HashMap<Key, (u16, Timestamp)>,
    passed_order: VecDeque<Key>,
    summaries: Vec<Option<Summary>>,
    merge: MergeSummary,
    exchanges: u64,
    answered: u64,
    unanswered: u64,
    limit_hits: u64,
    /// The merged clock: the latest packet's time, ns.
    now: Option<i128>,
    last: PacketRef,
}

impl<S: RecordSink> Merger<S> {
    pub fn new(
        sink: S,
        captures: usize,
        aliases: HashMap<(u16, SocketAddr, SocketAddr), (SocketAddr, SocketAddr)>,
        window_ns: i128,
    ) -> Self {
        Merger {
            sink,
            n: captures.clamp(1, usize::from(u16::MAX)) as u16,
            aliases,
            window_ns,
            line: VecDeque::new(),
            held_bytes: 0,
            max_held: MAX_MERGE_HELD,
            max_held_bytes: MAX_MERGE_HELD_BYTES,
            next_seq: 0,
            index: HashMap::new(),
            passed: HashMap::new(),
            passed_order: VecDeque::new(),
            summaries: vec![None; captures],
            merge: MergeSummary {
                seen: vec![0; captures],
                packets: vec![0; captures],
                ..MergeSummary::default()
            },
            exchanges: 0,
            answered: 0,
            unanswered: 0,
            limit_hits: 0,
            now: None,
            last: PacketRef::default(),
        }
    }

    /// The merged capture record, first.
    pub fn begin(&mut self, info: CaptureInfo) -> std::io::Result<()> {
        self.sink.record(Record::Capture(info))
    }

    /// Take capture `k`'s records (emptying `recs`).
    pub fn take(&mut self, k: usize, recs: &mut Vec<Record>) -> std::io::Result<()> {
        let cap = k.min(usize::from(u16::MAX)) as u16;
        for r in recs.drain(..) {
            match r {
                Record::Capture(_) => {}
                Record::Summary(s) => {
                    if let Some(slot) = self.summaries.get_mut(k) {
                        *slot = Some(*s);
                    }
                }
                Record::Exchange(mut e) => {
                    e.stream = self.stream(e.stream, cap);
                    e.capture = cap;
                    if let Some(n) = self.merge.seen.get_mut(k) {
                        *n += 1;
                    }
                    self.exchange(cap, e);
                }
                Record::Event(mut ev) => {
                    ev.stream = ev.stream.map(|s| self.stream(s, cap));
                    if ev.at.frame >= self.last.frame {
                        self.last = ev.at;
                    }
                    let due = ev.at.ts.as_nanos().max(self.now.unwrap_or(i128::MIN));
                    self.push(Record::Event(ev), None, cap, due);
                }
            }
        }
        self.overflow()
    }

    /// A connection index unique over the captures.
    fn stream(&self, s: u64, cap: u16) -> u64 {
        s.saturating_mul(u64::from(self.n))
            .saturating_add(u64::from(cap))
    }

    fn key(&self, cap: u16, e: &Exchange) -> Key {
        let (lo, hi) = if e.client <= e.broker {
            (e.client, e.broker)
        } else {
            (e.broker, e.client)
        };
        let (lo, hi) = self
            .aliases
            .get(&(cap, lo, hi))
            .copied()
            .unwrap_or((lo, hi));
        (lo, hi, e.correlation_id, e.api_key)
    }

    fn exchange(&mut self, cap: u16, e: Box<Exchange>) {
        let key = self.key(cap, &e);
        if let Some(&seq) = self.index.get(&key)
            && let Some(front) = self.line.front()
            && let Some(at) = seq.checked_sub(front.seq)
            && let Some(slot) = self.line.get_mut(at as usize)
            && slot.capture != cap
            && let Record::Exchange(held) = &mut slot.rec
            && (held.request.ts.nanos_since(e.request.ts)).abs() <= self.window_ns
        {
            fold(held, *e);
            // The folded exchange may have taken the other view's body.
            let now = body_bytes(held);
            self.held_bytes = self.held_bytes.saturating_sub(slot.bytes) + now;
            slot.bytes = now;
            // One fold per exchange: a third capture's view starts anew.
            slot.key = None;
            self.index.remove(&key);
            self.merge.paired += 1;
            return;
        }
        if let Some(&(c, ts)) = self.passed.get(&key)
            && c != cap
            && ts.nanos_since(e.request.ts).abs() <= self.window_ns
        {
            // Its first view went on already: this one is not a second
            // exchange.
            self.passed.remove(&key);
            self.merge.late += 1;
            return;
        }
        let at = e.response.map_or(e.request.ts, |r| r.ts).as_nanos();
        let due = at.max(self.now.unwrap_or(i128::MIN)) + self.window_ns;
        let seq = self.push(Record::Exchange(e), Some(key), cap, due);
        self.index.insert(key, seq);
    }

    fn push(&mut self, rec: Record, key: Option<Key>, capture: u16, due: i128) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let bytes = match &rec {
            Record::Exchange(e) => body_bytes(e),
            _ => 0,
        };
        self.held_bytes += bytes;
        self.line.push_back(Slot {
            seq,
            bytes,
            due,
            rec,
            key,
            capture,
        });
        seq
    }

    /// The merged clock moved to `now`: pass on what is due.
    pub fn advance(&mut self, now: Timestamp) -> std::io::Result<()> {
        let now = now.as_nanos();
        self.now = Some(self.now.map_or(now, |n| n.max(now)));
        while let Some(s) = self.line.front()
            && self.now.is_some_and(|n| s.due <= n)
        {
            self.release()?;
        }
        Ok(())
    }

    /// Keep within [`MAX_MERGE_HELD`] records and
    /// [`MAX_MERGE_HELD_BYTES`] of bodies: the oldest goes on unmatched.
    fn overflow(&mut self) -> std::io::Result<()> {
        while self.line.len() > self.max_held
            || (self.held_bytes > self.max_held_bytes && self.line.len() > 1)
        {
            self.merge.released_early += 1;
            self.limit_hits += 1;
            if self.limit_hits == 1 {
                let at = self.line.front().map_or(self.last, |s| match &s.rec {
                    Record::Exchange(e) => PacketRef {
                        frame: e.request.frame,
                        ts: e.request.ts,
                    },
                    Record::Event(ev) => ev.at,
                    _ => self.last,
                });
                self.sink.record(Record::Event(Event {
                    at,
                    stream: None,
                    kind: EventKind::Limit {
                        limit: Limit::MaxMergeHeld,
                        value: if self.line.len() > self.max_held {
                            self.max_held as u64
                        } else {
                            self.max_held_bytes as u64
                        },
                    },
                }))?;
            }
            self.release()?;
        }
        Ok(())
    }

    fn release(&mut self) -> std::io::Result<()> {
        let Some(s) = self.line.pop_front() else {
            return Ok(());
        };
        self.held_bytes = self.held_bytes.saturating_sub(s.bytes);
        if let Some(k) = s.key
            && self.index.get(&k) == Some(&s.seq)
        {
            self.index.remove(&k);
            if let Record::Exchange(e) = &s.rec {
                self.remember(k, s.capture, e.request.ts);
            }
        }
        if let Record::Exchange(e) = &s.rec {
            self.exchanges += 1;
            if e.response.is_some() {
                self.answered += 1;
            } else if matches!(e.status, Status::NoResponse(_)) {
                self.unanswered += 1;
            }
        }
        self.sink.record(s.rec)
    }

    /// An exchange passed on unmatched, for a late second view.
    fn remember(&mut self, k: Key, capture: u16, ts: Timestamp) {
        if self.passed.insert(k, (capture, ts)).is_none() {
            self.passed_order.push_back(k);
        }
        while self.passed_order.len() > MAX_MERGE_HELD {
            if let Some(old) = self.passed_order.pop_front() {
                self.passed.remove(&old);
            }
        }
    }

    /// Pass on everything held, then the merged summary.
    pub fn finish(mut self) -> std::io::Result<(S, Summary)> {
        while !self.line.is_empty() {
            self.release()?;
        }
        let mut total = Summary::default();
        for (k, s) in self.summaries.iter().enumerate() {
            let Some(s) = s else { continue };
            if let Some(p) = self.merge.packets.get_mut(k) {
                *p = s.packets;
            }
            absorb(&mut total, s);
        }
        total.exchanges = self.exchanges;
        total.answered = self.answered;
        total.unanswered = self.unanswered;
        if self.limit_hits > 0 {
            *total.limits.entry(Limit::MaxMergeHeld).or_default() += self.limit_hits;
            *total.events.entry("limit").or_default() += 1;
        }
        total.merge = Some(self.merge);
        self.sink.record(Record::Summary(Box::new(total.clone())))?;
        Ok((self.sink, total))
    }
}

/// Fold `other` (a second capture's view) into `held`: the client's side
/// (the one that saw the request first; on a tie, the longer latency)
/// stays the exchange, the other becomes its broker side.
fn fold(held: &mut Exchange, mut other: Exchange) {
    let other_first = match other.request.ts.cmp(&held.request.ts) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => other.latency_us() > held.latency_us(),
    };
    // `held` becomes the client's side, `other` the broker's.
    if other_first {
        std::mem::swap(held, &mut other);
    }
    // A body one side lost part of, the other may have whole.
    if held.request_body.is_none() && held.request.lost_bytes > 0 {
        held.request_body = other.request_body;
    }
    held.broker_side = Some(Box::new(BrokerSide {
        capture: other.capture,
        stream: other.stream,
        client: other.client,
        broker: other.broker,
        request: other.request,
        response: other.response,
    }));
}

/// Add one capture's summary into the total (peaks: the largest).
fn absorb(t: &mut Summary, s: &Summary) {
    t.packets += s.packets;
    t.bytes += s.bytes;
    let (a, b) = (&mut t.tcp, &s.tcp);
    a.segments += b.segments;
    a.connections += b.connections;
    a.retransmitted_bytes += b.retransmitted_bytes;
    a.out_of_order_segments += b.out_of_order_segments;
    a.gap_bytes += b.gap_bytes;
    a.evicted += b.evicted;
    a.retransmission_mismatches += b.retransmission_mismatches;
    a.peak_buffered_bytes = a.peak_buffered_bytes.max(b.peak_buffered_bytes);
    let (a, b) = (&mut t.ip_fragments, &s.ip_fragments);
    a.fragments += b.fragments;
    a.reassembled += b.reassembled;
    a.incomplete += b.incomplete;
    a.overlap_mismatches += b.overlap_mismatches;
    a.peak_buffered_bytes = a.peak_buffered_bytes.max(b.peak_buffered_bytes);
    t.truncated_packets += s.truncated_packets;
    t.connections += s.connections;
    t.kafka_connections += s.kafka_connections;
    t.orphans += s.orphans;
    t.responses_before_request += s.responses_before_request;
    for (k, v) in &s.events {
        *t.events.entry(k).or_default() += v;
    }
    for (k, v) in &s.suppressed_events {
        *t.suppressed_events.entry(k).or_default() += v;
    }
    if let Some(d) = s.drops {
        let x = t.drops.get_or_insert_default();
        x.received += d.received;
        x.dropped += d.dropped;
        x.if_dropped += d.if_dropped;
        x.queue_dropped += d.queue_dropped;
    }
    t.dropped_records += s.dropped_records;
    for (k, v) in &s.packet_issues {
        *t.packet_issues.entry(k).or_default() += v;
    }
    t.retransmission_mismatches += s.retransmission_mismatches;
    t.time_jumps += s.time_jumps;
    for (k, v) in &s.limits {
        *t.limits.entry(*k).or_default() += v;
    }
    let (a, b) = (&mut t.memory, &s.memory);
    a.max_memory += b.max_memory;
    a.peak_bytes += b.peak_bytes;
    a.full += b.full;
    a.connections_shed += b.connections_shed;
    a.shed.add(b.shed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Body, MessageInfo};

    /// An exchange with nothing in it.
    fn blank() -> Exchange {
        use crate::session::MessageInfo;
        let m = MessageInfo {
            frame: 0,
            first_frame: 0,
            ts: Timestamp::default(),
            size: 0,
            lost_bytes: 0,
        };
        let any: SocketAddr = SocketAddr::from(([0, 0, 0, 0], 0));
        Exchange {
            stream: 0,
            client: any,
            broker: any,
            api_key: ApiKey(0),
            api_version: 0,
            correlation_id: 0,
            client_id: None,
            request: m,
            response: None,
            status: Status::Ok,
            errors: Vec::new(),
            request_body: None,
            response_body: None,
            capture: 0,
            broker_side: None,
        }
    }

    fn exchange(corr: i32, ms: i64, body: usize) -> Box<Exchange> {
        let mut e = blank();
        e.client = "10.0.0.1:5000".parse().unwrap();
        e.broker = "10.0.0.2:9092".parse().unwrap();
        e.correlation_id = corr;
        e.api_key = ApiKey(3);
        let ts = Timestamp::new(1_000 + ms / 1000, (ms % 1000) as u32 * 1_000_000);
        e.request = MessageInfo {
            frame: corr as u64,
            first_frame: corr as u64,
            ts,
            size: 10,
            lost_bytes: 0,
        };
        e.status = Status::NoResponse(crate::session::NoResponseReason::CaptureEnded);
        if body > 0 {
            e.request_body = Some(Box::new(Body::of_bytes(&vec![0u8; body])));
        }
        Box::new(e)
    }

    /// Records wait for a second view within the window; past the line's
    /// limits (records or body bytes) the oldest goes on, counted, with one
    /// `limit` event.
    #[test]
    fn the_delay_line_is_bounded_by_records_and_bytes() {
        let out: Vec<Record> = Vec::new();
        let mut sink = out;
        let mut m = Merger::new(
            |r: Record| {
                sink.push(r);
                Ok(())
            },
            2,
            HashMap::new(),
            1_000_000_000,
        );
        m.max_held = 4;
        m.max_held_bytes = 1000;
        let mut recs = vec![Record::Exchange(exchange(1, 0, 600))];
        m.take(0, &mut recs).unwrap();
        assert_eq!(m.line.len(), 1);
        assert_eq!(m.held_bytes, 600);
        // A second 600-byte body: over the bytes, the first goes on.
        let mut recs = vec![Record::Exchange(exchange(2, 1, 600))];
        m.take(0, &mut recs).unwrap();
        assert_eq!(m.line.len(), 1);
        assert_eq!(m.held_bytes, 600);
        assert_eq!(m.merge.released_early, 1);
        // Small ones: at most four records.
        for c in 3..10 {
            let mut recs = vec![Record::Exchange(exchange(c, 2, 0))];
            m.take(0, &mut recs).unwrap();
        }
        assert_eq!(m.line.len(), 4);
        // The other capture's view of a held one is folded, not added.
        let mut recs = vec![Record::Exchange(exchange(9, 2, 0))];
        m.take(1, &mut recs).unwrap();
        assert_eq!(m.merge.paired, 1);
        assert_eq!(m.line.len(), 4);
        let (_, s) = m.finish().unwrap();
        assert_eq!(s.limits.get(&Limit::MaxMergeHeld), Some(&5));
        assert_eq!(s.exchanges, 9);
    }
}
