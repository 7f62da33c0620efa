//! Running the UI in a terminal: the analysis runs on a thread of its own
//! (`kwire-analysis`, driven by [`crate::session::drive`] as every other
//! command is) and hands records over a bounded channel; the UI thread takes
//! what arrived (for at most a frame's time), draws, and waits for a key or
//! more records.
//!
//! A file is read as fast as the UI takes it (the channel blocks the
//! reader); a live capture never waits for the UI: records that do not fit
//! in the channel are dropped and counted, shown in the status bar, so that
//! the analysis keeps taking packets from the capture's queue (see
//! [`crate::capture::live`]: libpcap is read on a third thread) whatever the
//! UI does.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};

use crate::analysis::metrics::{FindingsFrom, Metered, Shared};
use crate::capture::{CaptureError, DropStats, PacketSource};
use crate::session::Sources;
use crate::session::{CaptureInfo, Record, SessionConfig};
use crate::tcp::TcpConfig;

use super::app::{App, AppOptions, Mode};

/// Records in flight between the capture thread and the UI.
pub const FEED_CAPACITY: usize = 16_384;

/// Longest the UI spends taking records before it draws again.
const INGEST_BUDGET: Duration = Duration::from_millis(30);

/// What the analysis thread sends.
pub enum Feed {
    Record(Record),
    /// Drop counters so far (kernel and packet queue).
    Drops(DropStats),
}

/// Opens the source, on the analysis thread.
pub type Opener = Box<dyn FnOnce() -> Result<Sources, CaptureError> + Send>;

/// The analysis thread's handle.
pub struct Feeder {
    pub rx: Receiver<Feed>,
    /// Set when the UI quits: the analysis stops reading (a live capture
    /// with it).
    pub stop: Arc<AtomicBool>,
    /// Records dropped because the UI was behind (live only).
    pub dropped: Arc<AtomicU64>,
    pub thread: Option<JoinHandle<()>>,
}

/// Start reading: opens the source on a new thread and returns once it is
/// open (or failed to open, with the one-line reason).
pub fn start(
    open: Opener,
    tcp: TcpConfig,
    session: SessionConfig,
    live: bool,
    stop: Arc<AtomicBool>,
) -> Result<Feeder, CaptureError> {
    start_metered(open, tcp, session, live, stop, None)
}

/// [`start`], the records also counted into `metrics` (`--metrics`) on the
/// analysis thread, before the UI may drop them.
pub fn start_metered(
    open: Opener,
    tcp: TcpConfig,
    session: SessionConfig,
    live: bool,
    stop: Arc<AtomicBool>,
    metrics: Option<Arc<Shared>>,
) -> Result<Feeder, CaptureError> {
    let (tx, rx) = sync_channel(FEED_CAPACITY);
    let dropped = Arc::new(AtomicU64::new(0));
    let (open_tx, open_rx) = sync_channel(1);
    let st = stop.clone();
    let dr = dropped.clone();
    let thread = std::thread::Builder::new()
        .name("kwire-analysis".into())
        .spawn(move || {
            let sources = match open() {
                Ok(x) => {
                    let _ = open_tx.send(Ok(()));
                    x
                }
                Err(e) => {
                    let _ = open_tx.send(Err(e));
                    return;
                }
            };
            feed(sources, tcp, session, live, tx, st, dr, metrics);
        })
        .map_err(|e| CaptureError::Live(format!("cannot start the analysis thread: {e}")))?;
    match open_rx.recv() {
        Ok(Ok(())) => Ok(Feeder {
            rx,
            stop,
            dropped,
            thread: Some(thread),
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(CaptureError::Live("the analysis thread ended".into())),
    }
}

/// Hands records to the UI: blocking for a file, dropping (and counting)
/// for live capture.
struct Sender {
    tx: SyncSender<Feed>,
    live: bool,
    dropped: Arc<AtomicU64>,
}

impl Sender {
    fn send(&self, f: Feed) -> io::Result<()> {
        let gone = || io::Error::new(io::ErrorKind::BrokenPipe, "the UI has quit");
        if self.live {
            match self.tx.try_send(f) {
                Ok(()) => Ok(()),
                Err(TrySendError::Full(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                Err(TrySendError::Disconnected(_)) => Err(gone()),
            }
        } else {
            self.tx.send(f).map_err(|_| gone())
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn feed(
    sources: Sources,
    tcp: TcpConfig,
    session: SessionConfig,
    live: bool,
    tx: SyncSender<Feed>,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    metrics: Option<Arc<Shared>>,
) {
    let sender = Arc::new(Sender { tx, live, dropped });
    let s = sender.clone();
    let sink = move |r: Record| {
        // The summary and the capture header must arrive whatever the load.
        if matches!(r, Record::Summary(_) | Record::Capture(_)) {
            return s
                .tx
                .send(Feed::Record(r))
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the UI has quit"));
        }
        s.send(Feed::Record(r))
    };
    // The same driver as the other commands: a live source is ticked and
    // its drop counters come here while it runs.
    let on_drops = |d: DropStats| {
        let _ = sender.send(Feed::Drops(d));
    };
    let _ = match metrics {
        None => sources.drive(tcp, session, sink, &stop, on_drops).map(drop),
        Some(shared) => {
            let sink = Metered::new(sink, shared, FindingsFrom::own());
            sources.drive(tcp, session, sink, &stop, on_drops).map(drop)
        }
    };
}

/// Take what the feeder has, for at most `budget`. Returns whether
/// anything arrived.
pub fn drain(app: &mut App, feeder: &Feeder, budget: Duration) -> bool {
    let start = Instant::now();
    let mut any = false;
    loop {
        match feeder.rx.try_recv() {
            Ok(Feed::Record(r)) => app.ingest(r),
            Ok(Feed::Drops(d)) => app.drops = Some(d),
            Err(_) => break,
        }
        any = true;
        if start.elapsed() >= budget {
            break;
        }
    }
    app.internal_drops = feeder.dropped.load(Ordering::Relaxed);
    any
}

/// Put the terminal back however the UI ends (also on panic).
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> io::Result<TerminalGuard> {
        enable_raw_mode()?;
        if let Err(e) = execute!(io::stdout(), EnterAlternateScreen) {
            let _ = disable_raw_mode();
            return Err(e);
        }
        Ok(TerminalGuard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen);
}

/// Run the UI until the user quits. The feeder is stopped on the way out.
pub fn run(opts: AppOptions, mut feeder: Feeder) -> io::Result<()> {
    let live = opts.mode == Mode::Live;
    let mut app = App::new(opts);
    // A panic must not leave the terminal raw: restore, then report.
    let hook = std::panic::take_hook();
    let hook = Arc::new(Mutex::new(Some(hook)));
    let h = hook.clone();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        if let Ok(g) = h.lock()
            && let Some(prev) = g.as_ref()
        {
            prev(info);
        }
    }));
    let guard = TerminalGuard::enter()?;
    let mut term = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    term.clear()?;
    let result = ui_loop(&mut app, &mut term, &feeder, live);
    drop(term);
    drop(guard);
    feeder.stop.store(true, Ordering::SeqCst);
    // Unblock a file reader waiting on a full channel.
    while feeder.rx.try_recv().is_ok() {}
    drop(std::mem::replace(&mut feeder.rx, sync_channel(1).1));
    if let Some(t) = feeder.thread.take() {
        let _ = t.join();
    }
    result
}

fn ui_loop(
    app: &mut App,
    term: &mut Terminal<CrosstermBackend<io::Stdout>>,
    feeder: &Feeder,
    live: bool,
) -> io::Result<()> {
    let mut dirty = true;
    let mut last_draw = Instant::now();
    loop {
        if drain(app, feeder, INGEST_BUDGET) {
            dirty = true;
        }
        // Redraw what changed, at most every 50 ms while records pour in,
        // and once a second anyway in live mode (the clock moves on).
        let due = last_draw.elapsed() >= Duration::from_millis(50);
        if (dirty && due) || (live && last_draw.elapsed() >= Duration::from_secs(1)) {
            term.draw(|f| crate::tui::view::frame(app, f))?;
            last_draw = Instant::now();
            dirty = false;
        }
        let wait = if dirty || app.loading {
            Duration::from_millis(20)
        } else {
            Duration::from_millis(250)
        };
        if event::poll(wait)? {
            match event::read()? {
                Event::Key(k) if k.kind != event::KeyEventKind::Release => app.key(k),
                Event::Resize(..) => {}
                _ => continue,
            }
            if app.quit {
                return Ok(());
            }
            term.draw(|f| crate::tui::view::frame(app, f))?;
            last_draw = Instant::now();
            dirty = false;
        }
    }
}

/// Read a whole capture file into a new [`App`], on this thread: for
/// tests, benchmarks and snapshots.
pub fn load_file(
    path: &str,
    opts: AppOptions,
    tcp: TcpConfig,
    session: SessionConfig,
) -> Result<App, CaptureError> {
    let mut src = crate::capture::file::FileSource::open(path)?;
    let info = CaptureInfo {
        source: path.to_string(),
        format: src.format(),
        link_types: src.link_types(),
        filter: None,
        merged: Vec::new(),
    };
    let mut app = App::new(opts);
    let sink = |r: Record| {
        app.ingest(r);
        Ok(())
    };
    let _ = crate::session::run(&mut src, info, tcp, session, sink);
    Ok(app)
}
