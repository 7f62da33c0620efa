//! The progress of a file run, on stderr: bytes read, share of the file,
//! rate and time left (`indicatif` draws it).
//!
//! Contract: the command line shows it only when [`wanted`] says so (stderr
//! is a terminal, no `--quiet`, and no output streaming to that terminal),
//! and only once the run has lasted [`DELAY`], so a short run prints
//! nothing; [`Progress::finish`] (or dropping it) clears it before the
//! caller writes anything else. It watches a count of the input's bytes
//! read ([`crate::capture::file::FileSource::bytes_read`]) from a thread of
//! its own, every [`REFRESH`]: the reading pays nothing per packet. Without
//! a total (stdin, a pipe) it shows bytes and rate, no share or time left.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a run goes before its progress appears.
pub const DELAY: Duration = Duration::from_secs(1);
/// How often the count is looked at (indicatif draws at most 20 times a
/// second).
pub const REFRESH: Duration = Duration::from_millis(100);

/// `DELAY`, or `KWIRE_PROGRESS_DELAY_MS` milliseconds when set (the tests
/// set 0, to see a short run's progress, or its absence, at once).
pub fn delay() -> Duration {
    std::env::var("KWIRE_PROGRESS_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(DELAY, Duration::from_millis)
}

/// Whether a file run shows its progress: only on a terminal, not with
/// `--quiet`, and not when the command's output streams to a terminal as
/// it is read (`kwire list` on a terminal: the lines scrolling by are the
/// progress, and a bar drawn between them would garble them).
pub fn wanted(stderr_is_terminal: bool, quiet: bool, output_streams_to_terminal: bool) -> bool {
    stderr_is_terminal && !quiet && !output_streams_to_terminal
}

/// The line drawn: with a total, bytes of total, share, rate, time left and
/// a bar; without one, bytes and rate. Decimal units, as kwire's figures.
pub fn style(total_known: bool) -> ProgressStyle {
    let template = if total_known {
        "{decimal_bytes} of {decimal_total_bytes} ({percent}%), \
         {decimal_bytes_per_sec}, {eta} left [{wide_bar}]"
    } else {
        "{decimal_bytes} read, {decimal_bytes_per_sec}"
    };
    // The templates are constants: a failure is caught by the tests.
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// A progress display running on its own thread until [`Progress::finish`].
pub struct Progress {
    /// `true` once the run is over; the thread waits on it between looks.
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Watch `read` (bytes of the input read so far) against `total` (the
    /// input's size, when known), drawing on stderr after `delay`.
    pub fn start(read: Arc<AtomicU64>, total: Option<u64>, delay: Duration) -> Progress {
        Progress::with_target(vec![read], total, delay, ProgressDrawTarget::stderr())
    }

    /// [`Progress::start`] for several inputs read together (several
    /// captures read as one): their bytes read, added up.
    pub fn start_many(reads: Vec<Arc<AtomicU64>>, total: Option<u64>, delay: Duration) -> Progress {
        Progress::with_target(reads, total, delay, ProgressDrawTarget::stderr())
    }

    /// [`Progress::start`] drawing on `target`.
    pub fn with_target(
        read: Vec<Arc<AtomicU64>>,
        total: Option<u64>,
        delay: Duration,
        target: ProgressDrawTarget,
    ) -> Progress {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || watch(&read, total, delay, target, &s))
            .ok();
        Progress { stop, thread }
    }

    /// Stop and clear the display (it is gone from the terminal when this
    /// returns).
    pub fn finish(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// The display's thread: counts from the start (so the rate and time left
/// are the whole run's), hidden until `delay` has passed.
fn watch(
    read: &[Arc<AtomicU64>],
    total: Option<u64>,
    delay: Duration,
    target: ProgressDrawTarget,
    stop: &(Mutex<bool>, Condvar),
) {
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
    bar.set_style(style(total.is_some()));
    let start = Instant::now();
    let mut target = Some(target);
    let (lock, cv) = stop;
    let mut stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
    while !*stopped {
        if start.elapsed() >= delay
            && let Some(t) = target.take()
        {
            bar.set_draw_target(t);
        }
        bar.set_position(read.iter().map(|r| r.load(Ordering::Relaxed)).sum());
        // Wake at the next look, or at once when stopped.
        let wait = if target.is_some() {
            delay.saturating_sub(start.elapsed()).min(REFRESH)
        } else {
            REFRESH
        };
        stopped = cv
            .wait_timeout(stopped, wait)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    drop(stopped);
    bar.finish_and_clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::TermLike;
    use std::io;

    /// A terminal of one line: what is on it, what was (each clear ends a
    /// line), and the clears.
    #[derive(Debug, Default, Clone)]
    struct Screen(Arc<Mutex<ScreenState>>);

    #[derive(Debug, Default)]
    struct ScreenState {
        line: String,
        lines: Vec<String>,
        cleared: usize,
    }

    impl Screen {
        /// The line shown now, without trailing padding.
        fn shown(&self) -> String {
            self.0.lock().unwrap().line.trim_end().to_string()
        }

        /// Every line ever shown.
        fn all(&self) -> Vec<String> {
            let s = self.0.lock().unwrap();
            s.lines.iter().chain([&s.line]).cloned().collect()
        }
    }

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            self.0.lock().unwrap().line.push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            let mut s = self.0.lock().unwrap();
            let line = std::mem::take(&mut s.line);
            if !line.is_empty() {
                s.lines.push(line);
            }
            s.cleared += 1;
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The line with a total: bytes of total, share, rate, time left, bar.
    #[test]
    fn line_with_a_total() {
        let screen = Screen::default();
        let bar = ProgressBar::with_draw_target(
            Some(59_000_000),
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        bar.set_style(style(true));
        bar.set_position(29_500_000);
        let line = screen.shown();
        assert!(line.starts_with("29.50 MB of 59.00 MB (50%), "), "{line:?}");
        assert!(
            line.contains("/s, ") && line.contains(" left ["),
            "{line:?}"
        );
        assert!(line.ends_with(']') && line.contains("=>"), "{line:?}");
        assert_eq!(line.chars().count(), 100, "{line:?}");
    }

    /// Without a total (stdin): bytes and rate, no share, no time left.
    #[test]
    fn line_without_a_total() {
        let screen = Screen::default();
        let bar = ProgressBar::with_draw_target(
            None,
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        bar.set_style(style(false));
        bar.set_position(1_500_000);
        let line = screen.shown();
        assert!(line.starts_with("1.50 MB read, "), "{line:?}");
        assert!(line.ends_with("/s"), "{line:?}");
        assert!(!line.contains('%') && !line.contains("left"), "{line:?}");
    }

    /// Shown after the delay, cleared by `finish`.
    #[test]
    fn drawn_after_the_delay_and_cleared() {
        let screen = Screen::default();
        let read = Arc::new(AtomicU64::new(0));
        let p = Progress::with_target(
            vec![read.clone()],
            Some(1000),
            Duration::ZERO,
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        read.store(250, Ordering::Relaxed);
        let t0 = Instant::now();
        while !screen.all().iter().any(|l| l.contains("(25%)")) {
            assert!(t0.elapsed() < Duration::from_secs(10), "never drawn");
            std::thread::sleep(Duration::from_millis(10));
        }
        let cleared = screen.0.lock().unwrap().cleared;
        p.finish();
        assert!(screen.0.lock().unwrap().cleared > cleared, "not cleared");
        assert_eq!(screen.shown(), "");
    }

    /// A run shorter than the delay draws nothing.
    #[test]
    fn a_short_run_draws_nothing() {
        let screen = Screen::default();
        let read = Arc::new(AtomicU64::new(0));
        let p = Progress::with_target(
            vec![read.clone()],
            Some(1000),
            Duration::from_secs(3600),
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        read.store(1000, Ordering::Relaxed);
        std::thread::sleep(REFRESH * 2);
        p.finish();
        let s = screen.0.lock().unwrap();
        assert!(
            s.line.is_empty() && s.lines.is_empty() && s.cleared == 0,
            "{s:?}"
        );
    }

    #[test]
    fn wanted_only_on_a_terminal_without_quiet_or_streamed_output() {
        assert!(wanted(true, false, false));
        assert!(!wanted(false, false, false));
        assert!(!wanted(true, true, false));
        assert!(!wanted(true, false, true));
    }
}
