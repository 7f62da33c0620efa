//! The pipeline across threads: the analysis (capture, TCP, Kafka) on the
//! calling thread; the rendering of the output (JSON lines, listing lines)
//! on worker threads, batch by batch; the sink (findings, statistics,
//! writing) on a thread of its own, taking the batches back in order.
//!
//! ```text
//!  analysis ──batches──▶ render workers (N-1) ──▶ reorder ──▶ sink
//! ```
//!
//! The sink sees exactly the records, in exactly the order, that it sees on
//! one thread, and each rendered line is what the sink would have written:
//! the output is the same byte for byte (tests/threads.rs checks it on
//! every corpus capture), only the work is split. A sink without a
//! [`Render`] (statistics, diagnosis) gets no workers: the batches go
//! straight to it.
//!
//! The analysis itself is not split by connection: brokers learnt on one
//! connection identify others, one memory budget and one clock govern all
//! connections, and the connection table evicts across them, so sharding
//! connections would change what is found. What is split is what follows
//! the analysis and depends on one record alone.
//!
//! Memory: batches of at most [`HANDOFF_BATCH`] records or
//! [`HANDOFF_BYTES`] of bodies (whichever comes first; a body is its wire
//! bytes), and no more than `2 ×` [`HANDOFF_DEPTH`] `+ workers + 1` of them
//! between the analysis and the sink, whatever order the workers finish in
//! (credits: the analysis takes one per batch, the sink gives it back), so
//! the reorder buffer is bounded too.

use std::collections::BTreeMap;
use std::io;
use std::ops::Range;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use super::{Record, RecordSink, Render, SessionConfig, Sources, Summary};
use crate::capture::{DropStats, Timestamp};
use crate::tcp::TcpConfig;

/// Records handed over at a time (a live capture hands over each at once).
pub const HANDOFF_BATCH: usize = 256;
/// Body bytes handed over at most at a time (a batch of large bodies goes
/// before it has [`HANDOFF_BATCH`] records, so that few wait in flight).
pub const HANDOFF_BYTES: usize = 1 << 20;
/// Batches in flight between the analysis and the sink.
pub const HANDOFF_DEPTH: usize = 8;

/// The threads a run uses by default: one per core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Records on their way from the analysis to the sink, with their output
/// once rendered.
struct Batch {
    /// Its place in the analysis' order.
    seq: u64,
    records: Vec<Record>,
    /// The rendered output of the records, one after the other.
    text: Vec<u8>,
    /// Where each record's output lies in `text` (`None`: not rendered).
    spans: Vec<Option<Range<usize>>>,
    /// A live capture's tick after the records ([`RecordSink::tick`]).
    tick: Option<Timestamp>,
    /// The summary so far that goes with the tick ([`RecordSink::progress`]).
    progress: Option<Box<Summary>>,
}

impl Batch {
    fn render(&mut self, with: &dyn Render) {
        self.spans.clear();
        for r in &self.records {
            let start = self.text.len();
            let done = with.render(r, &mut self.text);
            self.spans.push(done.then_some(start..self.text.len()));
        }
    }

    /// Hand the records to the sink, rendered where they were.
    fn sink(self, sink: &mut impl RecordSink) -> io::Result<()> {
        let mut spans = self.spans.into_iter();
        for r in self.records {
            match spans.next().flatten() {
                Some(span) => sink.record_rendered(r, self.text.get(span))?,
                None => sink.record(r)?,
            }
        }
        if let Some(so_far) = self.progress {
            sink.progress(&so_far)?;
        }
        match self.tick {
            Some(now) => sink.tick(now),
            None => Ok(()),
        }
    }
}

/// The analysis' sink when the real one runs on another thread.
struct Handoff {
    tx: SyncSender<Batch>,
    /// One credit per batch that may be on its way: the sink gives one back
    /// for each batch it has taken, so that however the workers run, no
    /// more than [`window`] batches are ever between the two.
    credits: Receiver<()>,
    batch: Vec<Record>,
    size: usize,
    /// Body bytes in `batch`.
    bytes: usize,
    seq: u64,
    /// The summary so far, until the tick that follows it goes.
    progress: Option<Box<Summary>>,
}

impl Handoff {
    fn send(&mut self) -> io::Result<()> {
        self.send_with(None)
    }

    /// Hand the records over, and `tick` after them (even with none).
    fn send_with(&mut self, tick: Option<Timestamp>) -> io::Result<()> {
        if self.batch.is_empty() && tick.is_none() {
            return Ok(());
        }
        let records = std::mem::replace(&mut self.batch, Vec::with_capacity(self.size));
        self.bytes = 0;
        let b = Batch {
            seq: self.seq,
            records,
            text: Vec::new(),
            spans: Vec::new(),
            tick,
            progress: self.progress.take(),
        };
        self.seq += 1;
        // The sink is gone only when it failed; its error is the one
        // reported (see `drive_threads`).
        let stopped = || io::Error::new(io::ErrorKind::BrokenPipe, "the output stopped");
        self.credits.recv().map_err(|_| stopped())?;
        self.tx.send(b).map_err(|_| stopped())
    }
}

impl RecordSink for Handoff {
    fn record(&mut self, r: Record) -> io::Result<()> {
        let last = matches!(r, Record::Summary(_));
        if let Record::Exchange(e) = &r {
            self.bytes += [&e.request_body, &e.response_body]
                .into_iter()
                .flatten()
                .map(|b| b.bytes.len())
                .sum::<usize>();
        }
        self.batch.push(r);
        if last || self.batch.len() >= self.size || self.bytes >= HANDOFF_BYTES {
            self.send()?;
        }
        Ok(())
    }

    fn tick(&mut self, now: Timestamp) -> io::Result<()> {
        self.send_with(Some(now))
    }

    fn progress(&mut self, so_far: &Summary) -> io::Result<()> {
        self.progress = Some(Box::new(so_far.clone()));
        Ok(())
    }
}

/// A render worker: batches in, the same batches rendered out, until
/// either side is gone.
fn render_worker(from: &Mutex<Receiver<Batch>>, to: SyncSender<Batch>, with: &dyn Render) {
    loop {
        // The lock is held only while waiting for one batch.
        let next = match from.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(mut b) = next else {
            return;
        };
        b.render(with);
        if to.send(b).is_err() {
            return;
        }
    }
}

/// The sink's loop: batches (in any order) in, records to the sink in the
/// analysis' order.
fn sink_loop<S: RecordSink>(
    mut sink: S,
    rx: Receiver<Batch>,
    credits: SyncSender<()>,
) -> io::Result<S> {
    let mut next = 0u64;
    let mut early: BTreeMap<u64, Batch> = BTreeMap::new();
    for b in rx {
        if b.seq != next {
            early.insert(b.seq, b);
            continue;
        }
        let mut ready = Some(b);
        while let Some(b) = ready {
            b.sink(&mut sink)?;
            next += 1;
            // Credits given back never exceed those taken: the channel
            // has room for all of them.
            let _ = credits.try_send(());
            ready = early.remove(&next);
        }
    }
    Ok(sink)
}

/// Batches that may be between the analysis and the sink at once: the two
/// queues, one in each worker's hands, and one in the sink's.
fn window(workers: usize) -> usize {
    2 * HANDOFF_DEPTH + workers + 1
}

/// [`Sources::drive`] with the sink on its own thread, and the rendering of its
/// output on `session.threads - 1` workers (at least one) when the sink
/// has a [`Render`], when `session.threads` is above 1; the same records
/// reach the sink, in the same order, with the same output.
pub fn drive_threads<S: RecordSink + Send>(
    sources: Sources,
    tcp: TcpConfig,
    session: SessionConfig,
    sink: S,
    stop: &AtomicBool,
    on_drops: impl FnMut(DropStats),
) -> io::Result<(S, Summary)> {
    if session.threads <= 1 {
        return sources.drive(tcp, session, sink, stop, on_drops);
    }
    let size = if sources.live() { 1 } else { HANDOFF_BATCH };
    let workers = session.threads.saturating_sub(1).max(1);
    let renderer = sink.renderer();
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Batch>(HANDOFF_DEPTH);
        let (credit_tx, credits) = sync_channel::<()>(window(workers));
        for _ in 0..window(workers) {
            let _ = credit_tx.try_send(());
        }
        let (to_sink, sink_rx) = match &renderer {
            None => (None, rx),
            Some(with) => {
                let (done_tx, done_rx) = sync_channel::<Batch>(HANDOFF_DEPTH);
                let from = Arc::new(Mutex::new(rx));
                for i in 0..workers {
                    let (from, to, with) = (Arc::clone(&from), done_tx.clone(), Arc::clone(with));
                    std::thread::Builder::new()
                        .name(format!("kwire-render-{i}"))
                        .spawn_scoped(scope, move || render_worker(&from, to, with.as_ref()))?;
                }
                (Some(done_tx), done_rx)
            }
        };
        // The workers hold the only senders to the sink: it stops when
        // they do.
        drop(to_sink);
        let sinker = std::thread::Builder::new()
            .name("kwire-sink".into())
            .spawn_scoped(scope, move || sink_loop(sink, sink_rx, credit_tx))?;
        let hand = Handoff {
            tx,
            credits,
            batch: Vec::with_capacity(size),
            size,
            bytes: 0,
            seq: 0,
            progress: None,
        };
        let ran =
            sources
                .drive(tcp, session, hand, stop, on_drops)
                .and_then(|(mut hand, summary)| {
                    hand.send()?;
                    Ok(summary)
                });
        // Dropping the analyzer's side ends the workers' and the sink's
        // loops (the scope joins the workers).
        let sunk = match sinker.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        match (ran, sunk) {
            (Ok(summary), Ok(sink)) => Ok((sink, summary)),
            // The sink's own error says why the output stopped.
            (_, Err(e)) => Err(e),
            (Err(e), Ok(_)) => Err(e),
        }
    })
}
