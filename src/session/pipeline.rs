//! The pipeline across threads: the analysis (capture, TCP, Kafka) on the
//! calling thread, the sink (findings, statistics, writing JSON or text) on
//! another, fed batches of records through a bounded channel.
//!
//! The sink sees exactly the records, in exactly the order, that it sees on
//! one thread: the output is the same byte for byte (tests/threads.rs
//! checks it on every corpus capture), only the work is split. The analysis
//! cannot be split by connection without changing what it finds: brokers
//! learnt on one connection identify others, one memory budget and one
//! clock govern all connections, and the connection table evicts across
//! them; so the cut is between the analysis and what consumes it.
//!
//! Memory: at most [`HANDOFF_DEPTH`] batches of [`HANDOFF_BATCH`] records
//! wait between the two (records are small: bodies are their wire bytes).

use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{SyncSender, sync_channel};

use super::{CaptureInfo, Record, RecordSink, SessionConfig, Summary, drive};
use crate::capture::{DropStats, PacketSource, SourceFormat};
use crate::tcp::TcpConfig;

/// Records handed over at a time (a live capture hands over each at once).
pub const HANDOFF_BATCH: usize = 256;
/// Batches in flight between the analysis and the sink.
pub const HANDOFF_DEPTH: usize = 8;

/// The threads a run uses by default: one per core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The analysis' sink when the real one runs on another thread.
struct Handoff {
    tx: SyncSender<Vec<Record>>,
    batch: Vec<Record>,
    size: usize,
}

impl Handoff {
    fn send(&mut self) -> io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let b = std::mem::replace(&mut self.batch, Vec::with_capacity(self.size));
        // The receiver is gone only when the sink failed; its error is the
        // one reported (see `drive_threads`).
        self.tx
            .send(b)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the output stopped"))
    }
}

impl RecordSink for Handoff {
    fn record(&mut self, r: Record) -> io::Result<()> {
        let last = matches!(r, Record::Summary(_));
        self.batch.push(r);
        if last || self.batch.len() >= self.size {
            self.send()?;
        }
        Ok(())
    }
}

/// [`drive`] with the sink on its own thread when `session.threads` is
/// above 1; the same records reach the sink, in the same order.
pub fn drive_threads<S: RecordSink + Send>(
    source: &mut dyn PacketSource,
    info: CaptureInfo,
    tcp: TcpConfig,
    session: SessionConfig,
    sink: S,
    stop: &AtomicBool,
    on_drops: impl FnMut(DropStats),
) -> io::Result<(S, Summary)> {
    if session.threads <= 1 {
        return drive(source, info, tcp, session, sink, stop, on_drops);
    }
    let size = if source.format() == SourceFormat::Live {
        1
    } else {
        HANDOFF_BATCH
    };
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Vec<Record>>(HANDOFF_DEPTH);
        let worker = std::thread::Builder::new()
            .name("kwire-sink".into())
            .spawn_scoped(scope, move || -> io::Result<S> {
                let mut sink = sink;
                for batch in rx {
                    for r in batch {
                        sink.record(r)?;
                    }
                }
                Ok(sink)
            })?;
        let hand = Handoff {
            tx,
            batch: Vec::with_capacity(size),
            size,
        };
        let ran = drive(source, info, tcp, session, hand, stop, on_drops).and_then(
            |(mut hand, summary)| {
                hand.send()?;
                Ok(summary)
            },
        );
        // Dropping the analyzer's side ends the sink's loop.
        let sunk = match worker.join() {
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
