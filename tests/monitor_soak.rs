//! `kwire monitor`'s pipeline keeps nothing per exchange: memory is flat
//! however long it runs. A soak of bounded length, in process and not
//! timed: two real captures (`confluent_basic`: producers, a consumer
//! group growing and shrinking, telemetry; `errors_mtu1500`: broker errors,
//! a broker down and back) replayed one after the other, 240 rounds, each
//! shifted 400 s of capture time after the last (past the idle timeout and
//! TIME_WAIT, so each round's connections are new ones), through the
//! analysis into the metrics, as `kwire monitor` runs them. The live heap (a counting allocator) after the warm-up rounds and
//! at the end must not differ by more than [`MAX_GROWTH`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;

use kwire::analysis::metrics::{FindingsFrom, Metered, Shared};
use kwire::capture::file::FileSource;
use kwire::capture::{LinkType, Packet, PacketSource, SourceFormat, Timestamp};
use kwire::session::{self, CaptureInfo, Record, SessionConfig};
use kwire::tcp::TcpConfig;

/// The system allocator, counting the live heap.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            LIVE.fetch_add(l.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Rounds replayed (each capture in turn).
const ROUNDS: usize = 240;
/// Rounds before the first measurement (every table has seen every name).
const WARM_UP: usize = 40;
/// Most the live heap may grow between the warm-up and the end.
const MAX_GROWTH: usize = 256 << 10;
/// Capture time between the end of a round and the start of the next.
const PAUSE_SECS: i64 = 400;

/// One packet, owned.
struct Owned {
    ts: Timestamp,
    link: LinkType,
    data: Vec<u8>,
    orig_len: u32,
}

fn load(name: &str) -> Vec<Owned> {
    let path = common::corpus_dir().join(name);
    let mut src = FileSource::open(path.to_str().unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some(p) = src.next_packet().unwrap() {
        out.push(Owned {
            ts: p.ts,
            link: p.link_type,
            data: p.data.to_vec(),
            orig_len: p.orig_len,
        });
    }
    out
}

/// The captures replayed round after round, later in time each round; the
/// live heap noted at the start of each round.
struct Replay {
    captures: Vec<Vec<Owned>>,
    round: usize,
    next: usize,
    frame: u64,
    /// Added to the current round's time stamps, in seconds.
    shift: i64,
    /// The last time stamp handed out.
    last: Timestamp,
    heap: Vec<usize>,
    shared: std::sync::Arc<Shared>,
}

impl PacketSource for Replay {
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, kwire::capture::CaptureError> {
        let cap = &self.captures[self.round % self.captures.len()];
        if self.next == cap.len() {
            self.round += 1;
            self.next = 0;
            if self.round == ROUNDS {
                return Ok(None);
            }
            // The next round starts PAUSE_SECS after this one ended.
            let first = self.captures[self.round % self.captures.len()][0].ts;
            self.shift = self.last.secs + PAUSE_SECS - first.secs;
        }
        if self.next == 0 {
            // As a scrape would (monitor states no findings: a no-op).
            self.shared.want_findings();
            self.heap.push(LIVE.load(Ordering::Relaxed));
        }
        let cap = &self.captures[self.round % self.captures.len()];
        let p = &cap[self.next];
        self.next += 1;
        self.frame += 1;
        let ts = Timestamp::new(p.ts.secs + self.shift, p.ts.nanos);
        self.last = ts;
        Ok(Some(Packet {
            frame: self.frame,
            ts,
            link_type: p.link,
            data: &p.data,
            orig_len: p.orig_len,
        }))
    }

    fn format(&self) -> SourceFormat {
        SourceFormat::Pcap
    }

    fn link_types(&self) -> Vec<LinkType> {
        vec![self.captures[0][0].link]
    }
}

#[test]
fn monitor_memory_is_flat_over_a_long_replay() {
    let captures = vec![load("confluent_basic.pcap"), load("errors_mtu1500.pcap")];
    let shared = Shared::new();
    let mut src = Replay {
        captures,
        round: 0,
        next: 0,
        frame: 0,
        shift: 0,
        last: Timestamp::new(0, 0),
        heap: Vec::with_capacity(ROUNDS + 1),
        shared: shared.clone(),
    };
    let info = CaptureInfo {
        source: "soak".into(),
        format: SourceFormat::Pcap,
        link_types: src.link_types(),
        filter: None,
        merged: Vec::new(),
    };
    // As `kwire monitor` runs it: the metrics alone (no diagnoser: its
    // detectors keep history that grows, bounded, with the traffic).
    let sink = Metered::new(|_: Record| Ok(()), shared.clone(), FindingsFrom::Nowhere);
    let (_, summary) = session::run(
        &mut src,
        info,
        TcpConfig::default(),
        SessionConfig::default(),
        sink,
    )
    .unwrap();

    let heap = &src.heap;
    assert_eq!(heap.len(), ROUNDS);
    let warm = heap[WARM_UP];
    let end = *heap.last().unwrap();
    let most = *heap[WARM_UP..].iter().max().unwrap();
    eprintln!(
        "soak: {} packets, {} exchanges, {} rounds; live heap after round {WARM_UP}: {} KiB, \
         at the end: {} KiB, most after the warm-up: {} KiB (round 1: {} KiB)",
        summary.packets,
        summary.exchanges,
        ROUNDS,
        warm >> 10,
        end >> 10,
        most >> 10,
        heap[1] >> 10
    );
    // Every round's exchanges were counted.
    let m = shared.lock();
    let requests: u64 = m.series().iter().map(|(_, c)| c.requests).sum();
    assert_eq!(requests, summary.exchanges);
    assert!(summary.exchanges > 100 * ROUNDS as u64);
    assert!(m.health().packets == summary.packets);
    assert!(
        end.saturating_sub(warm) <= MAX_GROWTH && most.saturating_sub(warm) <= 4 * MAX_GROWTH,
        "the live heap grows: {} KiB after round {WARM_UP}, {} KiB at the end, {} KiB at most",
        warm >> 10,
        end >> 10,
        most >> 10
    );
}
