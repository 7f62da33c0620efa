//! The bounded packet queue between the thread that reads libpcap and the
//! thread that analyses packets (live capture).
//!
//! The reading thread only copies packets into a [`Batch`] (one buffer for
//! many packets, reused) and hands whole batches over; it never waits for the
//! analysis. The queue holds at most [`QueueLimits::max_bytes`] bytes of
//! packet data and [`QueueLimits::max_packets`] packets; a packet that does
//! not fit is dropped and counted ([`DropStats::queue_dropped`]), so that the
//! kernel's buffer keeps being drained however far the analysis falls behind.
//!
//! Order is kept: batches are taken in the order they were handed over, and
//! packets within a batch in the order they were offered. A packet dropped
//! for want of room is never followed by an earlier one.
//!
//! Shutdown never waits on the other side: the producer [`Producer::close`]s
//! (or is dropped), after which the consumer gets what is queued and then
//! [`Recv::Closed`]; a consumer that goes away marks the queue
//! [`Consumer::abandon`]ed, which the producer polls to stop reading.
//!
//! Memory: at most `max_bytes` of packet data (plus a small fixed cost per
//! packet) is queued; beside it, the batch being filled and the batch being
//! analysed, each also within `max_bytes`. Emptied batches are kept for reuse
//! (a few, [`MAX_SPARE_BATCHES`]) so that a steady capture does not allocate.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::{CaptureError, DropStats, Timestamp};

/// How much the queue holds before it drops packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    /// Bytes of captured packet data (`--queue-bytes`).
    pub max_bytes: usize,
    /// Packets (`--queue-packets`).
    pub max_packets: usize,
}

/// Emptied batches kept for reuse.
pub const MAX_SPARE_BATCHES: usize = 8;

/// A spare batch whose buffer grew beyond this is let go rather than kept.
const MAX_SPARE_CAPACITY: usize = 4 << 20;

/// Where one packet lies in a batch.
#[derive(Clone, Copy, Debug)]
struct Slot {
    ts: Timestamp,
    orig_len: u32,
    /// End of the packet's bytes in `data`; it starts where the previous one
    /// ends.
    end: usize,
}

/// Packets copied back to back into one buffer.
#[derive(Debug, Default)]
pub struct Batch {
    data: Vec<u8>,
    slots: Vec<Slot>,
}

impl Batch {
    /// Packets in the batch.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Bytes of packet data in the batch.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Packet `i`: its timestamp, length on the wire and captured bytes.
    pub fn get(&self, i: usize) -> Option<(Timestamp, u32, &[u8])> {
        let slot = self.slots.get(i)?;
        let start = match i {
            0 => 0,
            _ => self.slots[i - 1].end,
        };
        Some((slot.ts, slot.orig_len, &self.data[start..slot.end]))
    }

    fn push(&mut self, ts: Timestamp, orig_len: u32, data: &[u8]) {
        self.data.extend_from_slice(data);
        self.slots.push(Slot {
            ts,
            orig_len,
            end: self.data.len(),
        });
    }

    fn clear(&mut self) {
        self.data.clear();
        self.slots.clear();
    }
}

struct State {
    batches: VecDeque<Batch>,
    /// Bytes and packets in `batches`.
    bytes: usize,
    packets: usize,
    /// Emptied batches for the producer to fill again.
    spare: Vec<Batch>,
    /// Packets dropped for want of room, as far as the producer has told.
    dropped: u64,
    /// The last counters the producer read from the kernel.
    kernel: DropStats,
    /// The producer is done; `error` says why when it failed.
    closed: bool,
    error: Option<CaptureError>,
}

struct Shared {
    limits: QueueLimits,
    state: Mutex<State>,
    /// Signalled when a batch is queued or the queue is closed.
    ready: Condvar,
    /// The consumer is gone: the producer should stop.
    abandoned: AtomicBool,
}

impl Shared {
    /// The state, even if a thread panicked while holding it (every update
    /// leaves it consistent).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A new queue: the producer goes to the thread that reads packets, the
/// consumer to the one that analyses them.
pub fn queue(limits: QueueLimits) -> (Producer, Consumer) {
    let shared = Arc::new(Shared {
        limits,
        state: Mutex::new(State {
            batches: VecDeque::new(),
            bytes: 0,
            packets: 0,
            spare: Vec::new(),
            dropped: 0,
            kernel: DropStats::default(),
            closed: false,
            error: None,
        }),
        ready: Condvar::new(),
        abandoned: AtomicBool::new(false),
    });
    let producer = Producer {
        shared: shared.clone(),
        batch: Batch::default(),
        room_bytes: limits.max_bytes,
        room_packets: limits.max_packets,
        dropped: 0,
        closed: false,
    };
    (producer, Consumer { shared })
}

/// The reading side: offers packets, hands batches over, never waits for
/// the consumer.
pub struct Producer {
    shared: Arc<Shared>,
    /// The batch being filled.
    batch: Batch,
    /// Room in the queue when `batch` was started: the consumer only makes
    /// more, so filling up to it keeps within the limits.
    room_bytes: usize,
    room_packets: usize,
    /// Dropped since the last flush.
    dropped: u64,
    closed: bool,
}

impl Producer {
    /// Copy a packet into the current batch, or drop it (and count it) when
    /// the queue has no room for it. Returns whether it was kept.
    pub fn offer(&mut self, ts: Timestamp, orig_len: u32, data: &[u8]) -> bool {
        let fits = self.batch.len() < self.room_packets
            && data.len() <= self.room_bytes - self.batch.bytes();
        if fits {
            self.batch.push(ts, orig_len, data);
        } else {
            self.dropped += 1;
        }
        fits
    }

    /// Hand the current batch over (if it has packets), publish the drop
    /// count, and start a new batch with the room there is now.
    pub fn flush(&mut self) {
        let shared = &*self.shared;
        let mut st = shared.lock();
        st.dropped += std::mem::take(&mut self.dropped);
        if !self.batch.is_empty() {
            let fresh = st.spare.pop().unwrap_or_default();
            let batch = std::mem::replace(&mut self.batch, fresh);
            st.bytes += batch.bytes();
            st.packets += batch.len();
            st.batches.push_back(batch);
            shared.ready.notify_one();
        }
        let limits = shared.limits;
        self.room_bytes = limits.max_bytes.saturating_sub(st.bytes);
        self.room_packets = limits.max_packets.saturating_sub(st.packets);
    }

    /// Publish the kernel's counters (totals so far).
    pub fn set_kernel_stats(&mut self, kernel: DropStats) {
        self.shared.lock().kernel = kernel;
    }

    /// The consumer is gone: stop reading.
    pub fn abandoned(&self) -> bool {
        self.shared.abandoned.load(Ordering::Relaxed)
    }

    /// Hand over what is left and end the queue; `error` says why reading
    /// stopped, if it failed.
    pub fn close(mut self, error: Option<CaptureError>) {
        self.finish(error);
    }

    fn finish(&mut self, error: Option<CaptureError>) {
        if self.closed {
            return;
        }
        self.flush();
        self.closed = true;
        let mut st = self.shared.lock();
        st.closed = true;
        st.error = error;
        self.shared.ready.notify_all();
    }
}

impl Drop for Producer {
    /// A producer that ends without `close` (a panic) still ends the queue.
    fn drop(&mut self) {
        let error = (!self.closed && std::thread::panicking())
            .then(|| CaptureError::Live("the capture thread failed".into()));
        self.finish(error);
    }
}

/// What [`Consumer::recv`] found.
#[derive(Debug)]
pub enum Recv {
    Batch(Batch),
    /// Nothing arrived within the wait.
    Idle,
    /// The producer closed the queue and everything queued was taken; the
    /// error, once, if reading failed.
    Closed(Option<CaptureError>),
}

/// The analysing side.
pub struct Consumer {
    shared: Arc<Shared>,
}

impl Consumer {
    /// The next batch, waiting at most `wait` for one.
    pub fn recv(&self, wait: Duration) -> Recv {
        let mut st = self.shared.lock();
        if st.batches.is_empty() && !st.closed {
            st = self
                .shared
                .ready
                .wait_timeout_while(st, wait, |s| s.batches.is_empty() && !s.closed)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        match st.batches.pop_front() {
            Some(batch) => {
                st.bytes -= batch.bytes();
                st.packets -= batch.len();
                Recv::Batch(batch)
            }
            None if st.closed => Recv::Closed(st.error.take()),
            None => Recv::Idle,
        }
    }

    /// Give an analysed batch back for reuse.
    pub fn recycle(&self, mut batch: Batch) {
        if batch.data.capacity() > MAX_SPARE_CAPACITY {
            return;
        }
        batch.clear();
        let mut st = self.shared.lock();
        if st.spare.len() < MAX_SPARE_BATCHES {
            st.spare.push(batch);
        }
    }

    /// The kernel's counters as last published, with the queue's drops.
    pub fn drop_stats(&self) -> DropStats {
        let st = self.shared.lock();
        DropStats {
            queue_dropped: st.dropped,
            ..st.kernel
        }
    }

    /// Tell the producer to stop (also done when the consumer is dropped).
    pub fn abandon(&self) {
        self.shared.abandoned.store(true, Ordering::Relaxed);
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.abandon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOREVER: Duration = Duration::from_secs(3600);

    fn ts(n: u64) -> Timestamp {
        Timestamp::new(n as i64, 0)
    }

    fn limits(max_bytes: usize, max_packets: usize) -> QueueLimits {
        QueueLimits {
            max_bytes,
            max_packets,
        }
    }

    /// Every packet of every batch until the queue closes: (seconds of the
    /// timestamp, orig_len, bytes).
    fn drain(c: &Consumer) -> Vec<(i64, u32, Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            match c.recv(FOREVER) {
                Recv::Batch(b) => {
                    for i in 0..b.len() {
                        let (t, len, data) = b.get(i).unwrap();
                        out.push((t.secs, len, data.to_vec()));
                    }
                    c.recycle(b);
                }
                Recv::Idle => {}
                Recv::Closed(_) => return out,
            }
        }
    }

    #[test]
    fn batches_keep_packets_in_order() {
        let (mut p, c) = queue(limits(1 << 20, 1000));
        for n in 0..5u8 {
            assert!(p.offer(ts(n as u64), 100 + n as u32, &[n; 3][..n as usize % 3]));
        }
        p.flush();
        assert!(p.offer(ts(5), 105, b"five"));
        p.close(None);
        let got = drain(&c);
        let want: Vec<(i64, u32, Vec<u8>)> = (0..5u8)
            .map(|n| (n as i64, 100 + n as u32, vec![n; n as usize % 3]))
            .chain([(5, 105, b"five".to_vec())])
            .collect();
        assert_eq!(got, want);
        assert_eq!(c.drop_stats().queue_dropped, 0);
    }

    #[test]
    fn full_by_packets_drops_and_counts() {
        let (mut p, c) = queue(limits(1 << 20, 3));
        let kept: Vec<bool> = (0..5).map(|n| p.offer(ts(n), 1, b"x")).collect();
        assert_eq!(kept, [true, true, true, false, false]);
        p.flush();
        // Still full: the consumer has taken nothing.
        assert!(!p.offer(ts(5), 1, b"x"));
        p.flush();
        assert_eq!(c.drop_stats().queue_dropped, 3);
        // Taking the batch makes room again.
        let Recv::Batch(b) = c.recv(FOREVER) else {
            panic!("expected a batch")
        };
        assert_eq!(b.len(), 3);
        c.recycle(b);
        p.flush();
        assert!(p.offer(ts(6), 1, b"x"));
        p.close(None);
        let got: Vec<i64> = drain(&c).into_iter().map(|(t, ..)| t).collect();
        assert_eq!(got, [6]);
        assert_eq!(c.drop_stats().queue_dropped, 3);
    }

    #[test]
    fn full_by_bytes_drops_and_counts() {
        let (mut p, c) = queue(limits(10, 1000));
        assert!(p.offer(ts(0), 4, b"aaaa"));
        assert!(p.offer(ts(1), 4, b"bbbb"));
        // 8 of 10 bytes used: a 4-byte packet does not fit, a 2-byte one does.
        assert!(!p.offer(ts(2), 4, b"cccc"));
        assert!(p.offer(ts(3), 2, b"dd"));
        p.flush();
        let Recv::Batch(b) = c.recv(FOREVER) else {
            panic!("expected a batch")
        };
        assert_eq!((b.len(), b.bytes()), (3, 10));
        c.recycle(b);
        p.flush();
        // A packet larger than the whole queue never fits.
        assert!(!p.offer(ts(4), 11, &[0; 11]));
        assert!(p.offer(ts(5), 10, &[0; 10]));
        p.close(None);
        let got: Vec<i64> = drain(&c).into_iter().map(|(t, ..)| t).collect();
        assert_eq!(got, [5]);
        assert_eq!(c.drop_stats().queue_dropped, 2);
    }

    #[test]
    fn zero_limits_drop_everything_without_blocking() {
        let (mut p, c) = queue(limits(0, 0));
        assert!(!p.offer(ts(0), 0, b""));
        p.close(None);
        assert!(drain(&c).is_empty());
        assert_eq!(c.drop_stats().queue_dropped, 1);
    }

    /// A producer thread offering as fast as it can against a consumer that
    /// is slower: every packet is either delivered or counted as dropped,
    /// delivered ones in order, and the close reaches the waiting consumer.
    #[test]
    fn threads_keep_order_and_account_for_every_packet() {
        const N: u64 = 200_000;
        let (mut p, c) = queue(limits(64 << 10, 1000));
        let producer = std::thread::spawn(move || {
            let mut kept = 0u64;
            for n in 0..N {
                if p.offer(ts(n), 8, &n.to_le_bytes()) {
                    kept += 1;
                }
                if n % 97 == 0 {
                    p.flush();
                }
            }
            p.close(None);
            kept
        });
        let mut got = Vec::new();
        loop {
            match c.recv(FOREVER) {
                Recv::Batch(b) => {
                    for i in 0..b.len() {
                        let (t, _, data) = b.get(i).unwrap();
                        let n = u64::from_le_bytes(data.try_into().unwrap());
                        assert_eq!(t.secs as u64, n);
                        got.push(n);
                    }
                    // Slower than the producer, so that packets are dropped.
                    std::thread::sleep(Duration::from_micros(50));
                    c.recycle(b);
                }
                Recv::Idle => {}
                Recv::Closed(e) => {
                    assert!(e.is_none());
                    break;
                }
            }
        }
        let kept = producer.join().unwrap();
        assert_eq!(got.len() as u64, kept);
        assert!(got.windows(2).all(|w| w[0] < w[1]), "order lost");
        assert_eq!(kept + c.drop_stats().queue_dropped, N);
        eprintln!(
            "delivered {kept} of {N}, dropped {}",
            c.drop_stats().queue_dropped
        );
    }

    #[test]
    fn close_wakes_a_waiting_consumer_and_passes_the_error() {
        let (mut p, c) = queue(limits(1 << 20, 1000));
        let consumer = std::thread::spawn(move || {
            let mut packets = 0;
            loop {
                match c.recv(FOREVER) {
                    Recv::Batch(b) => packets += b.len(),
                    Recv::Idle => {}
                    Recv::Closed(e) => return (packets, e.map(|e| e.to_string())),
                }
            }
        });
        p.offer(ts(0), 1, b"x");
        p.close(Some(CaptureError::Live("lo: gone".into())));
        let (packets, err) = consumer.join().unwrap();
        assert_eq!(packets, 1);
        assert_eq!(err.as_deref(), Some("live capture: lo: gone"));
    }

    #[test]
    fn a_dropped_producer_closes_the_queue() {
        let (mut p, c) = queue(limits(1 << 20, 1000));
        p.offer(ts(0), 1, b"x");
        drop(p);
        assert!(matches!(c.recv(FOREVER), Recv::Batch(_)));
        assert!(matches!(c.recv(FOREVER), Recv::Closed(None)));
        // And stays closed.
        assert!(matches!(c.recv(FOREVER), Recv::Closed(None)));
    }

    #[test]
    fn a_panicking_producer_closes_the_queue_with_an_error() {
        let (p, c) = queue(limits(1 << 20, 1000));
        let t = std::thread::spawn(move || {
            let _p = p;
            panic!("capture thread panics (expected by this test)");
        });
        assert!(t.join().is_err());
        assert!(matches!(c.recv(FOREVER), Recv::Closed(Some(_))));
    }

    #[test]
    fn an_abandoned_queue_tells_the_producer_and_never_blocks_it() {
        let (mut p, c) = queue(limits(16, 2));
        assert!(!p.abandoned());
        drop(c);
        assert!(p.abandoned());
        // Offers and flushes go on (and drop) without anyone reading.
        for n in 0..100 {
            p.offer(ts(n), 1, b"x");
            p.flush();
        }
        p.close(None);
    }

    #[test]
    fn an_open_empty_queue_idles() {
        let (mut p, c) = queue(limits(1 << 20, 1000));
        assert!(matches!(c.recv(Duration::from_millis(1)), Recv::Idle));
        p.offer(ts(0), 1, b"x");
        // Not handed over until flushed.
        assert!(matches!(c.recv(Duration::ZERO), Recv::Idle));
        p.flush();
        assert!(matches!(c.recv(Duration::ZERO), Recv::Batch(_)));
    }

    #[test]
    fn kernel_counters_come_with_the_queue_drops() {
        let (mut p, c) = queue(limits(1 << 20, 1));
        p.offer(ts(0), 1, b"x");
        p.offer(ts(1), 1, b"x");
        p.set_kernel_stats(DropStats {
            received: 10,
            dropped: 2,
            if_dropped: 1,
            queue_dropped: 0,
        });
        p.flush();
        assert_eq!(
            c.drop_stats(),
            DropStats {
                received: 10,
                dropped: 2,
                if_dropped: 1,
                queue_dropped: 1,
            }
        );
    }

    #[test]
    fn spare_batches_are_reused_and_bounded() {
        let (mut p, c) = queue(limits(1 << 20, 1 << 20));
        let mut taken = Vec::new();
        for n in 0..(MAX_SPARE_BATCHES as u64 + 4) {
            p.offer(ts(n), 1, b"x");
            p.flush();
            let Recv::Batch(b) = c.recv(FOREVER) else {
                panic!("expected a batch")
            };
            taken.push(b);
        }
        for b in taken {
            c.recycle(b);
        }
        assert_eq!(c.shared.lock().spare.len(), MAX_SPARE_BATCHES);
        p.offer(ts(99), 1, b"y");
        p.flush();
        let Recv::Batch(b) = c.recv(FOREVER) else {
            panic!("expected a batch")
        };
        assert_eq!(b.get(0).map(|(_, _, d)| d), Some(&b"y"[..]));
        assert_eq!(b.len(), 1);
    }
}
