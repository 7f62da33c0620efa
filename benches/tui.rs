//! The terminal UI with 100,000+ exchanges loaded: the time to draw one
//! frame of every view (the budget is 16 ms, a 60 Hz frame), the cost of
//! the keys that walk every exchange (`/` applying a filter, `c`, `n`,
//! Enter on an exchange), and the memory the UI holds per exchange.
//!
//! The load is real traffic made bigger: `examples/make_many.rs` plays the
//! corpus' `confluent_basic` (producers on every codec, a consumer group
//! growing and shrinking, fetches) and `errors_mtu1500` (injected broker
//! errors, a broker going down) one after the other, and repeats that on
//! new addresses and later times until the capture holds 100,000
//! exchanges (`target/bench/many_100k.pcap`, made here when missing). It is
//! read with [`load_file`] and the defaults of `kwire tui`: bodies kept for
//! the detail.
//!
//! Frames are drawn through `Terminal::draw` (render, then the diff against
//! the previous frame) on a `TestBackend`; the `scroll` cases also move the
//! selection before each frame and write the changed cells as escape codes
//! (`CrosstermBackend` into a sink), as a real terminal gets them. Every
//! iteration is timed on its own, so the summary printed at the end gives
//! the median and the 99th percentile of single frames and keys (over a
//! uniform sample of up to 100,000 iterations per case).
//!
//! Memory is counted by this binary's global allocator: bytes asked for
//! (and, on Linux, bytes malloc actually gave, with its 8-byte header per
//! block) live before and after the load, and what dropping each part of the
//! [`App`] gives back, against the store's own accounting
//! (`Store::memory`, `heap_bytes`, `body_bytes`). A second load with a body
//! budget of 0 isolates what the rows cost without the bodies.
//!
//! `cargo bench --bench tui` (or `scripts/bench-tui`); `-- --quick` for a
//! fast check. No timing here is asserted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use kwire::analysis::connections::Connections;
use kwire::analysis::groups::Groups;
use kwire::analysis::stats::Stats;
use kwire::analysis::topics::TopicNames;
use kwire::session::SessionConfig;
use kwire::tcp::TcpConfig;
use kwire::tui::app::{App, AppOptions, View};
use kwire::tui::run::load_file;
use kwire::tui::store::{Row, Store, StoreLimits};
use kwire::tui::theme::Theme;
use ratatui::backend::{Backend, CrosstermBackend, TestBackend};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};

// ---------------------------------------------------------------------------
// Counting allocator.

/// Wraps the system allocator, counting what is live.
struct Counting;

/// Bytes asked for, live.
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// Most `LIVE` since the last [`reset_peak`].
static PEAK: AtomicIsize = AtomicIsize::new(0);
/// Blocks live.
static BLOCKS: AtomicIsize = AtomicIsize::new(0);
/// Bytes malloc gave (its usable size, at least what was asked), live.
static USABLE: AtomicIsize = AtomicIsize::new(0);

#[cfg(target_os = "linux")]
fn usable(p: *mut u8, _asked: usize) -> isize {
    // SAFETY: `p` is a live block of the system allocator.
    unsafe { libc::malloc_usable_size(p.cast()) as isize }
}

#[cfg(not(target_os = "linux"))]
fn usable(_p: *mut u8, asked: usize) -> isize {
    asked as isize
}

fn count(bytes: isize, blocks: isize, usable: isize) {
    let now = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
    BLOCKS.fetch_add(blocks, Ordering::Relaxed);
    USABLE.fetch_add(usable, Ordering::Relaxed);
}

// SAFETY: every call is passed to `System` unchanged; the counters are
// only read.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: as the caller promised.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            count(l.size() as isize, 1, usable(p, l.size()));
        }
        p
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: as the caller promised.
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            count(l.size() as isize, 1, usable(p, l.size()));
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let u = usable(p, l.size());
        // SAFETY: as the caller promised.
        unsafe { System.dealloc(p, l) };
        count(-(l.size() as isize), -1, -u);
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let old = usable(p, l.size());
        // SAFETY: as the caller promised.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            count(new as isize - l.size() as isize, 0, usable(q, new) - old);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Live heap now: bytes asked for, blocks, bytes malloc holds for them
/// (usable size plus glibc's 8-byte chunk header).
#[derive(Clone, Copy, Debug, Default)]
struct Heap {
    bytes: isize,
    blocks: isize,
    malloc: isize,
}

impl Heap {
    fn now() -> Heap {
        let blocks = BLOCKS.load(Ordering::Relaxed);
        Heap {
            bytes: LIVE.load(Ordering::Relaxed),
            blocks,
            malloc: USABLE.load(Ordering::Relaxed) + 8 * blocks,
        }
    }

    fn minus(self, o: Heap) -> Heap {
        Heap {
            bytes: self.bytes - o.bytes,
            blocks: self.blocks - o.blocks,
            malloc: self.malloc - o.malloc,
        }
    }
}

fn reset_peak() {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}

// ---------------------------------------------------------------------------
// The load.

const MIN_EXCHANGES: usize = 100_000;

/// The corpus' directory.
fn corpus() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::var("KWIRE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("../shared"))
        .join("corpus")
}

fn capture() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("target/bench/many_100k.pcap");
    if !out.exists() {
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let st = Command::new("cargo")
            .args([
                "run",
                "--release",
                "--quiet",
                "--example",
                "make_many",
                "--",
            ])
            .arg(&out)
            .arg(MIN_EXCHANGES.to_string())
            .arg(corpus().join("confluent_basic.pcap"))
            .arg(corpus().join("errors_mtu1500.pcap"))
            .status()
            .unwrap();
        assert!(st.success(), "make_many failed");
    }
    out
}

/// `kwire tui`'s options (colours on, whatever the environment says).
fn options(limits: StoreLimits) -> AppOptions {
    AppOptions {
        theme: Theme { color: true },
        limits,
        ..AppOptions::default()
    }
}

fn load(path: &Path, limits: StoreLimits) -> App {
    let app = load_any(path, limits);
    assert!(
        app.store.len() >= MIN_EXCHANGES,
        "{} exchanges loaded",
        app.store.len()
    );
    app
}

fn load_any(path: &Path, limits: StoreLimits) -> App {
    load_file(
        path.to_str().unwrap(),
        options(limits),
        TcpConfig::default(),
        SessionConfig::default(),
    )
    .expect("the bench capture opens")
}

fn frame(app: &mut App, w: u16, h: u16) {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| kwire::tui::view::frame(app, f)).unwrap();
}

// ---------------------------------------------------------------------------
// Memory.

/// Bytes per exchange, as text.
fn per(bytes: isize, n: usize) -> String {
    format!("{:>8.1}", bytes as f64 / n as f64)
}

fn mb(bytes: isize) -> String {
    format!("{:>7.1} MB", bytes as f64 / 1e6)
}

/// What giving back `part` frees.
fn freed(part: impl FnOnce()) -> Heap {
    let before = Heap::now();
    part();
    before.minus(Heap::now())
}

/// Load the capture twice (bodies let go, then kept), print what the UI
/// holds per exchange, and return the second load for the frame benches.
fn memory(path: &Path) -> App {
    println!("\n== memory held for the UI ({}) ==", path.display());
    println!(
        "  size_of: Item {} B (of which 2 SocketAddr {} B, MessageInfo + Option<MessageInfo> {} B), a row {} B",
        std::mem::size_of::<kwire::tui::store::Item>(),
        2 * std::mem::size_of::<std::net::SocketAddr>(),
        std::mem::size_of::<kwire::session::MessageInfo>()
            + std::mem::size_of::<Option<kwire::session::MessageInfo>>(),
        std::mem::size_of::<(u64, Row)>()
    );

    // Bodies let go as they arrive: the rows alone.
    let lean_limits = StoreLimits {
        max_body_bytes: 0,
        ..StoreLimits::default()
    };
    let base = Heap::now();
    reset_peak();
    let t = Instant::now();
    let mut app = load(path, lean_limits);
    let load_time = t.elapsed();
    let lean = Heap::now().minus(base);
    let n = app.store.len();
    let store_memory = app.store.memory() as isize;
    let store_heap = app.store.heap_bytes() as isize;
    let visible = freed(|| frame(&mut app, 160, 50));
    let visible = Heap::default().minus(visible);
    // What each part holds, by dropping it.
    let opts = app.opts.clone();
    let parts = [
        (
            "timeline index (visible)",
            freed(|| app.visible = Vec::new()),
        ),
        (
            "group flows",
            freed(|| app.groups = Groups::new(opts.groups)),
        ),
        (
            "group flow cache",
            freed(|| app.group_cache = Default::default()),
        ),
        ("stats", freed(|| app.stats = Stats::new())),
        ("connections", freed(|| app.conns = Connections::new())),
        ("topic names", freed(|| app.names = TopicNames::new())),
        (
            "store (items, rows, events)",
            freed(|| app.store = Store::new(opts.limits)),
        ),
        ("the rest of the App", freed(|| drop(app))),
    ];
    println!(
        "  without bodies (--ui-max-body-bytes 0): {n} exchanges, loaded in {:.2} s",
        load_time.as_secs_f64()
    );
    println!(
        "    {:<32} {:>10} {:>10} {:>9} {:>12}",
        "part", "total", "B/exch", "blocks/ex", "malloc B/ex"
    );
    let row = |name: &str, h: Heap| {
        println!(
            "    {:<32} {} {} {:>9.2} {}",
            name,
            mb(h.bytes),
            per(h.bytes, n),
            h.blocks as f64 / n as f64,
            per(h.malloc, n)
        )
    };
    row("after load_file (App alive)", lean);
    row("+ first frame", visible);
    for (name, h) in &parts {
        row(name, *h);
    }
    let store_alloc = parts[6].1.bytes;
    let analysis: isize = parts[1..6].iter().map(|p| p.1.bytes).sum();
    println!(
        "    store per allocator {:.1} B/exch; Store::memory() says {:.1} (heap_bytes {:.1}): {:+.1}%",
        store_alloc as f64 / n as f64,
        store_memory as f64 / n as f64,
        store_heap as f64 / n as f64,
        100.0 * (store_memory - store_alloc) as f64 / store_alloc as f64
    );
    println!(
        "    analysis models (groups, cache, stats, connections, topics): {:.1} B/exch, {:.0}% of the App",
        analysis as f64 / n as f64,
        100.0 * analysis as f64 / (lean.bytes + visible.bytes) as f64
    );

    // Bodies kept, as `kwire tui` does by default.
    let base = Heap::now();
    reset_peak();
    let t = Instant::now();
    let mut app = load(path, StoreLimits::default());
    let load_time = t.elapsed();
    let full = Heap::now().minus(base);
    let peak = PEAK.load(Ordering::Relaxed) - base.bytes;
    let n = app.store.len();
    let s = &app.store;
    println!(
        "  with bodies (defaults): {n} exchanges, loaded in {:.2} s ({:.0} exchanges/s); {} bodies let go, {} cut",
        load_time.as_secs_f64(),
        n as f64 / load_time.as_secs_f64(),
        s.evicted_bodies,
        s.cut_bodies
    );
    row("after load_file (App alive)", full);
    let bodies = full.bytes - lean.bytes;
    println!(
        "    bodies per allocator (this load − the lean one) {:.1} B/exch; Store::body_bytes() {:.1}: {:+.1}%",
        bodies as f64 / n as f64,
        s.body_bytes() as f64 / n as f64,
        100.0 * (s.body_bytes() as isize - bodies) as f64 / bodies as f64
    );
    // The analysis models do not depend on the bodies: the store is what
    // this load added over the lean one's other parts.
    let store_full = full.bytes - (lean.bytes - store_alloc);
    println!(
        "    store per allocator {:.1} B/exch; Store::memory() says {:.1} (heap_bytes {:.1}): {:+.1}%",
        store_full as f64 / n as f64,
        s.memory() as f64 / n as f64,
        s.heap_bytes() as f64 / n as f64,
        100.0 * (s.memory() as isize - store_full) as f64 / store_full as f64
    );
    println!(
        "    peak during the load {} (the analysis' own buffers included)",
        mb(peak)
    );
    let visible = Heap::now();
    frame(&mut app, 160, 50);
    println!(
        "    first frame (builds the timeline index): {:.1} B/exch",
        (Heap::now().bytes - visible.bytes) as f64 / n as f64
    );
    app
}

// ---------------------------------------------------------------------------
// Timing.

/// Every single iteration's time, by benchmark id, for the summary.
static TIMES: Mutex<Vec<(String, Vec<Duration>)>> = Mutex::new(Vec::new());

/// Benchmark `one`, which does one iteration (its setup included) and
/// returns the time of the part that counts.
fn measure(
    g: &mut BenchmarkGroup<'_, WallTime>,
    app: &mut App,
    id: &str,
    mut one: impl FnMut(&mut App) -> Duration,
) {
    let mut times = Reservoir::default();
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let d = one(app);
                times.add(d);
                total += d;
            }
            total
        })
    });
    let name = format!("{}/{id}", group_name(g));
    TIMES.lock().unwrap().push((name, times.kept));
}

/// A uniform sample of at most `MAX` of the times seen (fast cases run
/// millions of iterations), by reservoir sampling.
#[derive(Default)]
struct Reservoir {
    kept: Vec<Duration>,
    seen: u64,
    rng: u64,
}

impl Reservoir {
    const MAX: usize = 100_000;

    fn add(&mut self, d: Duration) {
        self.seen += 1;
        if self.kept.len() < Self::MAX {
            self.kept.push(d);
            return;
        }
        // xorshift64*, seeded once.
        if self.rng == 0 {
            self.rng = 0x9e37_79b9_7f4a_7c15;
        }
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) % self.seen;
        if let Some(slot) = self.kept.get_mut(r as usize) {
            *slot = d;
        }
    }
}

/// Criterion does not say a group's name back; the benches set it here.
static GROUP: Mutex<String> = Mutex::new(String::new());

fn group_name(_: &BenchmarkGroup<'_, WallTime>) -> String {
    GROUP.lock().unwrap().clone()
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    *GROUP.lock().unwrap() = name.to_string();
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g
}

fn key(app: &mut App, c: char) {
    app.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
}

fn code(app: &mut App, k: KeyCode) {
    app.key(KeyEvent::new(k, KeyModifiers::NONE));
}

fn ctrl(app: &mut App, c: char) {
    app.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
}

/// `/`, the text, Enter.
fn apply_filter(app: &mut App, text: &str) {
    key(app, '/');
    ctrl(app, 'u');
    for c in text.chars() {
        key(app, c);
    }
    code(app, KeyCode::Enter);
    assert!(app.prompt.is_none(), "filter {text:?} applies");
}

/// Back to the unfiltered timeline at the top, nothing open.
fn reset(app: &mut App) {
    app.detail = None;
    app.help = false;
    app.prompt = None;
    app.flow = None;
    if !app.filter_text.is_empty() {
        key(app, 'c');
    }
    app.view = View::Timeline;
    app.follow = false;
    app.timeline.selected = 0;
    app.timeline.offset = 0;
}

/// The exchange with the most body bytes kept, and its position in the
/// unfiltered timeline.
fn largest(app: &App) -> (u64, usize, String) {
    let (i, it) = app
        .store
        .exchanges()
        .max_by_key(|(_, it)| {
            it.request_bytes.as_ref().map_or(0, |b| b.len())
                + it.response_bytes.as_ref().map_or(0, |b| b.len())
        })
        .unwrap();
    let what = format!(
        "{:?} v{} ({} + {} body bytes)",
        it.api_key,
        it.api_version,
        it.request_bytes.as_ref().map_or(0, |b| b.len()),
        it.response_bytes.as_ref().map_or(0, |b| b.len())
    );
    let pos = app
        .visible
        .iter()
        .position(|r| *r == Row::Exchange(i))
        .unwrap();
    (i, pos, what)
}

/// The timed part of drawing a frame.
fn draw<B: Backend>(t: &mut Terminal<B>, app: &mut App) -> Duration {
    let s = Instant::now();
    t.draw(|f| kwire::tui::view::frame(app, f)).unwrap();
    s.elapsed()
}

const SIZES: [(u16, u16); 2] = [(160, 50), (80, 24)];

fn frames(c: &mut Criterion, app: &mut App, bulk: &mut App) {
    reset(app);
    let (_, big_pos, big) = largest(app);
    println!("detail cases open the largest exchange: {big}");
    reset(bulk);
    let (_, bulk_pos, bulk_big) = largest(bulk);
    println!(
        "bulk detail cases open bulk_mtu1500's largest exchange ({} exchanges loaded): {bulk_big}",
        bulk.store.len()
    );
    for (w, h) in SIZES {
        let mut g = group(c, &format!("frame {w}x{h}"));
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        let mid = app.visible.len() / 2;

        reset(app);
        measure(&mut g, app, "timeline top", |a| draw(&mut t, a));
        reset(app);
        app.timeline.selected = mid;
        measure(&mut g, app, "timeline middle", |a| draw(&mut t, a));
        reset(app);
        key(app, 'f');
        assert!(app.follow);
        measure(&mut g, app, "timeline end (follow)", |a| draw(&mut t, a));
        reset(app);
        apply_filter(app, "api:Fetch");
        measure(&mut g, app, "timeline /api:Fetch", |a| draw(&mut t, a));
        reset(app);
        apply_filter(app, "err");
        key(app, 'G');
        measure(&mut g, app, "timeline /err at end", |a| draw(&mut t, a));

        // Each frame different: j or k, then the frame, written as escape
        // codes (into a sink) as a terminal gets them.
        reset(app);
        app.timeline.selected = mid;
        let mut ct = Terminal::with_options(
            CrosstermBackend::new(std::io::sink()),
            TerminalOptions {
                viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
            },
        )
        .unwrap();
        let mut down = true;
        measure(&mut g, app, "timeline scroll (j/k + frame)", |a| {
            let s = Instant::now();
            key(a, if down { 'j' } else { 'k' });
            down = !down;
            ct.draw(|f| kwire::tui::view::frame(a, f)).unwrap();
            s.elapsed()
        });
        let mut down = true;
        measure(&mut g, app, "timeline page (PgDn/PgUp + frame)", |a| {
            let s = Instant::now();
            code(
                a,
                if down {
                    KeyCode::PageDown
                } else {
                    KeyCode::PageUp
                },
            );
            down = !down;
            ct.draw(|f| kwire::tui::view::frame(a, f)).unwrap();
            s.elapsed()
        });

        reset(app);
        key(app, '2');
        measure(&mut g, app, "connections top", |a| draw(&mut t, a));
        key(app, 'G');
        measure(&mut g, app, "connections end", |a| draw(&mut t, a));

        reset(app);
        key(app, '3');
        measure(&mut g, app, "groups", |a| draw(&mut t, a));
        draw(&mut t, app);
        code(app, KeyCode::Enter);
        assert!(app.flow.is_some(), "a group's flow opens");
        measure(&mut g, app, "groups flow", |a| draw(&mut t, a));
        key(app, 'G');
        measure(&mut g, app, "groups flow end", |a| draw(&mut t, a));

        reset(app);
        key(app, '4');
        measure(&mut g, app, "stats", |a| draw(&mut t, a));

        reset(app);
        app.timeline.selected = big_pos;
        draw(&mut t, app);
        code(app, KeyCode::Enter);
        assert!(app.detail.is_some(), "the detail opens");
        key(app, 's');
        measure(&mut g, app, "detail response (largest exchange)", |a| {
            draw(&mut t, a)
        });
        key(app, 'e');
        measure(&mut g, app, "detail all expanded (e)", |a| draw(&mut t, a));

        reset(bulk);
        bulk.timeline.selected = bulk_pos;
        draw(&mut t, bulk);
        code(bulk, KeyCode::Enter);
        assert!(bulk.detail.is_some(), "the detail opens");
        key(bulk, 's');
        measure(
            &mut g,
            bulk,
            "detail response (bulk_mtu1500's largest)",
            |a| draw(&mut t, a),
        );
        key(bulk, 'e');
        measure(&mut g, bulk, "detail bulk all expanded (e)", |a| {
            draw(&mut t, a)
        });
        key(bulk, 'G');
        measure(&mut g, bulk, "detail bulk expanded, end (G)", |a| {
            draw(&mut t, a)
        });
        reset(bulk);

        reset(app);
        key(app, '?');
        assert!(app.help);
        measure(&mut g, app, "help", |a| draw(&mut t, a));
        g.finish();
    }
    reset(app);
}

fn keys(c: &mut Criterion, app: &mut App, bulk: &mut App) {
    let mut g = group(c, "key 160x50");
    reset(app);
    let (_, big_pos, _) = largest(app);
    for text in [
        "api:Fetch",
        "err",
        "billing",
        "api:Produce,Fetch lat>1ms !err",
    ] {
        measure(&mut g, app, &format!("/{text} Enter"), |a| {
            let s = Instant::now();
            apply_filter(a, text);
            s.elapsed()
        });
        // Also when criterion skipped the bench (a filter on its command line).
        apply_filter(app, text);
        println!("  /{text}: {} rows shown", app.visible.len());
        reset(app);
    }
    measure(&mut g, app, "c (clear a filter)", |a| {
        apply_filter(a, "api:Fetch");
        let s = Instant::now();
        key(a, 'c');
        s.elapsed()
    });
    reset(app);
    measure(&mut g, app, "n from the top", |a| {
        a.timeline.selected = 0;
        let s = Instant::now();
        key(a, 'n');
        s.elapsed()
    });
    app.timeline.selected = 0;
    key(app, 'n');
    assert!(app.timeline.selected > 0, "n finds an error");
    // Worst case: no error after the selection, every row is looked at.
    apply_filter(app, "ok");
    measure(&mut g, app, "n from the top, none (/ok)", |a| {
        a.timeline.selected = 0;
        let s = Instant::now();
        key(a, 'n');
        s.elapsed()
    });
    reset(app);
    measure(&mut g, app, "Enter: open the largest exchange", |a| {
        a.detail = None;
        a.timeline.selected = big_pos;
        let s = Instant::now();
        code(a, KeyCode::Enter);
        s.elapsed()
    });
    reset(app);
    reset(bulk);
    let (_, bulk_pos, _) = largest(bulk);
    measure(&mut g, bulk, "Enter: open bulk_mtu1500's largest", |a| {
        a.detail = None;
        a.timeline.selected = bulk_pos;
        let s = Instant::now();
        code(a, KeyCode::Enter);
        s.elapsed()
    });
    reset(bulk);
    g.finish();
}

// ---------------------------------------------------------------------------
// Summary.

fn summary() {
    const BUDGET: Duration = Duration::from_millis(16);
    let times = TIMES.lock().unwrap();
    println!(
        "\n== summary: single iterations (up to {} per case, drawn uniformly, criterion's warm-up included) ==",
        Reservoir::MAX
    );
    println!(
        "{:<56} {:>10} {:>10} {:>10} {:>9}  vs 16 ms",
        "benchmark", "median", "p99", "max", "kept"
    );
    let fmt = |d: Duration| {
        let us = d.as_secs_f64() * 1e6;
        if us >= 1000.0 {
            format!("{:.2} ms", us / 1000.0)
        } else if us >= 1.0 {
            format!("{us:.1} µs")
        } else {
            format!("{} ns", d.as_nanos())
        }
    };
    for (name, ts) in times.iter() {
        if ts.is_empty() {
            continue;
        }
        let mut ts = ts.clone();
        ts.sort();
        let q = |f: f64| ts[((ts.len() - 1) as f64 * f).round() as usize];
        let med = q(0.5);
        let verdict = if med <= BUDGET {
            format!(
                "ok, {:.1}% of it",
                100.0 * med.as_secs_f64() / BUDGET.as_secs_f64()
            )
        } else {
            format!("OVER, {:.1}×", med.as_secs_f64() / BUDGET.as_secs_f64())
        };
        println!(
            "{:<56} {:>10} {:>10} {:>10} {:>9}  {verdict}",
            name,
            fmt(med),
            fmt(q(0.99)),
            fmt(*ts.last().unwrap()),
            ts.len(),
        );
    }
}

fn main() {
    let path = capture();
    let mut app = memory(&path);
    println!("\n{} exchanges loaded", app.store.len());
    let mut bulk = load_any(&corpus().join("bulk_mtu1500.pcap"), StoreLimits::default());
    frame(&mut bulk, 160, 50);
    let mut c = Criterion::default().configure_from_args();
    frames(&mut c, &mut app, &mut bulk);
    keys(&mut c, &mut app, &mut bulk);
    c.final_summary();
    summary();
}
