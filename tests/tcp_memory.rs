//! The out-of-order buffer's memory stays within its limit plus a small
//! fixed overhead, whatever the arrival order: a counting global allocator
//! (this binary's own) measures the peak of live heap bytes while hostile
//! shapes (`kwire::tcp::shapes`) go through a `Reassembler` with limits
//! well below the stream's length.
//!
//! The overhead is what the assembler's module doc promises: besides the
//! bytes it counts, the segment that went over the limit, two partly used
//! pages per run plus one, an index entry per page and per run, the arrival
//! marks (at most `MAX_MARKS`), the copy of a run being delivered (made
//! while its pages are freed), and the connection itself.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;

use kwire::tcp::assembler::{MAX_MARKS, PAGE_BYTES};
use kwire::tcp::shapes::{self, Seg};
use kwire::tcp::{Reassembler, TcpConfig};

struct Counting;

// Counted per thread: the test harness allocates on other threads while a
// test measures its own (a global count made exact comparisons flaky).
thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grew(n: usize) {
    LIVE.with(|l| {
        let live = l.get() + n as isize;
        l.set(live);
        PEAK.with(|p| p.set(p.get().max(live)));
    });
}

fn shrank(n: usize) {
    LIVE.with(|l| l.set(l.get() - n as isize));
}

/// Live heap bytes allocated by this thread (less those it freed).
fn live() -> usize {
    LIVE.with(|l| l.get()).max(0) as usize
}

fn peak() -> usize {
    PEAK.with(|p| p.get()).max(0) as usize
}

fn reset_peak() {
    PEAK.with(|p| p.set(LIVE.with(|l| l.get())));
}

// SAFETY: every call is passed to `System` unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Both blocks may be live while the bytes move: count the peak so.
            grew(new_size);
            shrank(layout.size());
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// One measurement at a time: the counters are global.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const MAX_OOO_BYTES: usize = 1 << 20;
const MAX_OOO_SEGMENTS: usize = 64;

/// The largest segment any shape here sends.
const MAX_SEGMENT: usize = 16 << 10;

/// Index cost per page or run (a B-tree entry and its share of the nodes,
/// generously).
const ENTRY: usize = 48;

/// The same for an arrival mark (which also holds a packet reference).
const MARK: usize = 96;

/// The connection, the flow table and the reassembler's own state.
const CONNECTION: usize = 16 << 10;

fn config() -> TcpConfig {
    TcpConfig {
        max_ooo_bytes: MAX_OOO_BYTES,
        max_ooo_segments: MAX_OOO_SEGMENTS,
        ..TcpConfig::default()
    }
}

/// What may be live besides `MAX_OOO_BYTES` (see the module doc): fixed by
/// the configuration, not by the stream's length or its segments.
fn overhead() -> usize {
    let runs = MAX_OOO_SEGMENTS + 1;
    let slack_pages = 2 * runs + 1;
    let pages = MAX_OOO_BYTES.div_ceil(PAGE_BYTES) + slack_pages;
    MAX_SEGMENT
        + slack_pages * PAGE_BYTES
        + ENTRY * (pages + runs)
        + MARK * MAX_MARKS
        + PAGE_BYTES // the page still being copied when a run is delivered
        + CONNECTION
}

/// Feed `plan` over a stream of `len` bytes; check the peak of live heap
/// bytes above what was live before (the stream and the plan excluded).
/// Returns the most bytes the buffer held.
fn peak_of(len: usize, plan: impl Iterator<Item = Seg>, what: &str) -> usize {
    let stream = shapes::stream(len, 3);
    let plan: Vec<Seg> = plan.collect();
    let base = live();
    reset_peak();
    let mut r = Reassembler::new(config());
    let mut check = shapes::Check::new(&stream);
    shapes::feed(&mut r, &mut check, &stream, plan.iter().copied());
    let stats = r.stats();
    drop(r);
    let peak = peak() - base;
    // The output is still right: every byte delivered at its position, the
    // rest given up as gaps.
    assert!(check.closed, "{what}");
    assert_eq!(check.wrong, 0, "{what}");
    assert_eq!(check.pos, len as u64, "{what}");
    assert!(
        stats.peak_buffered_bytes <= MAX_OOO_BYTES + MAX_SEGMENT,
        "{what}"
    );
    eprintln!(
        "{what}: peak {peak} B live, {} B buffered at most (limit {MAX_OOO_BYTES} \
         + overhead bound {}), {} B given up",
        stats.peak_buffered_bytes,
        overhead(),
        check.gap_bytes
    );
    assert!(
        peak <= MAX_OOO_BYTES + overhead(),
        "{what}: peak {peak} > {} + {}",
        MAX_OOO_BYTES,
        overhead()
    );
    stats.peak_buffered_bytes
}

/// The buffer was filled up to its limit: the bound was put to the test.
fn filled(held: usize) {
    assert!(held > MAX_OOO_BYTES - MAX_SEGMENT, "held {held}");
}

#[test]
fn descending_segments_stay_within_the_limit() {
    // The heap counter is global: measure one test at a time, from its
    // first allocation (plans are built before they are fed).
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let len = 3 << 20;
    filled(peak_of(
        len,
        shapes::descending(len as u64, 64),
        "descending 64",
    ));
    let len = 3 << 19;
    filled(peak_of(
        len,
        shapes::descending(len as u64, 16),
        "descending 16",
    ));
}

#[test]
fn one_byte_segments_stay_within_the_limit() {
    // The heap counter is global: measure one test at a time, from its
    // first allocation (plans are built before they are fed).
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let len = 3 << 19;
    filled(peak_of(
        len,
        shapes::descending(len as u64, 1),
        "descending 1",
    ));
    let len = 512 << 10;
    peak_of(
        len,
        shapes::descending_in_windows(len as u64, 1, 64 << 10),
        "1-byte, descending in 64 KiB windows",
    );
}

#[test]
fn random_orders_stay_within_the_limit() {
    // The heap counter is global: measure one test at a time, from its
    // first allocation (plans are built before they are fed).
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let len = 4 << 20;
    peak_of(
        len,
        shapes::shuffled_in_windows(len as u64, 64, 512 << 10, 11),
        "64-byte, random in 512 KiB windows",
    );
    // The segment limit comes first: the most partly used pages.
    peak_of(
        len,
        shapes::shuffled_in_windows(len as u64, 1460, len as u64, 12),
        "1460-byte, random over the whole stream",
    );
    // Large segments (as captured with GRO): the byte limit comes first.
    filled(peak_of(
        len,
        shapes::shuffled_in_windows(len as u64, MAX_SEGMENT, len as u64, 13),
        "16 KiB, random over the whole stream",
    ));
}

#[test]
fn holes_stay_within_the_limit() {
    // The heap counter is global: measure one test at a time, from its
    // first allocation (plans are built before they are fed).
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let len = 2 << 20;
    peak_of(
        len,
        shapes::holes_filled_later(len as u64, 64, 8 << 10),
        "holes filled later, 8 KiB windows",
    );
    peak_of(
        len,
        shapes::holes_filled_later(len as u64, 64, len as u64),
        "holes filled later, whole stream",
    );
    // A page per byte held: bounded by max_ooo_segments, not by the bytes.
    peak_of(
        len,
        shapes::sparse_then_rest(len as u64, 2 * PAGE_BYTES as u64),
        "one byte every two pages",
    );
}

/// Live heap bytes held by a reassembler after `plan` went through (within
/// the limits: everything delivered), the connection still open.
fn held_after(len: usize, plan: impl Iterator<Item = Seg>) -> usize {
    let stream = shapes::stream(len, 5);
    let plan: Vec<Seg> = plan.collect();
    let base = live();
    let mut r = Reassembler::new(config());
    let mut check = shapes::Check::new(&stream);
    shapes::feed_open(&mut r, &mut check, &stream, plan.iter().copied());
    assert_eq!(check.data_bytes, len as u64);
    assert_eq!(r.buffered_bytes(), 0);
    let held = live() - base;
    drop(r);
    held
}

/// Once everything buffered was delivered, the buffer keeps no memory: an
/// open connection that went through hostile orders costs what one that
/// saw everything in order costs.
#[test]
fn a_drained_buffer_keeps_nothing() {
    // The heap counter is global: measure one test at a time, from its
    // first allocation (plans are built before they are fed).
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let len = 256 << 10;
    let baseline = held_after(len, shapes::in_order(len as u64, 1460));
    for (what, held) in [
        (
            "descending",
            held_after(len, shapes::descending(len as u64, 64)),
        ),
        (
            "random",
            held_after(
                len,
                shapes::shuffled_in_windows(len as u64, 100, 4 << 10, 3),
            ),
        ),
        (
            "holes",
            held_after(len, shapes::holes_filled_later(len as u64, 64, 4 << 10)),
        ),
    ] {
        assert_eq!(held, baseline, "{what}");
    }
}
