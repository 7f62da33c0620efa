//! TCP reassembly of one connection carrying 4 MB, by arrival order: the
//! out-of-order buffer must cost the same per byte whatever the order (the
//! shapes are `kwire::tcp::shapes`, shared with the tests).
//!
//! - `in_order_64`: 64-byte segments in order (the baseline: the buffer is
//!   never used).
//! - `descending_64`, `descending_16`: the last segment first, so each one
//!   is placed in front of the run the others made.
//! - `descending_1_in_4k_windows`: 1-byte segments, last first within each
//!   4 KiB window, windows in order.
//! - `random_64_in_64k_windows`: 64-byte segments in a random order within
//!   each 64 KiB window.
//! - `holes_filled_later_64`: every other 64-byte segment first (32768
//!   holes), then the holes filled last first, the one in order last.
//!
//! The limits are set so that nothing is given up: the algorithm is what is
//! measured. Every iteration checks the stream came out whole. The
//! `descending_64_scaling` group runs the descending case at 1 MB and 4 MB:
//! the ratio of the times is the scaling exponent's witness (4 for linear).
//!
//! `cargo bench --bench reassembly -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kwire::tcp::shapes::{self, Seg};
use kwire::tcp::{Reassembler, TcpConfig};

const MB: u64 = 1 << 20;

fn config() -> TcpConfig {
    TcpConfig {
        max_ooo_bytes: 64 << 20,
        max_ooo_segments: 1 << 24,
        max_total_ooo_bytes: 64 << 20,
        ..TcpConfig::default()
    }
}

/// Feed one plan over `stream`; the stream must come out whole.
fn run(stream: &[u8], plan: impl Iterator<Item = Seg>) -> u64 {
    let mut r = Reassembler::new(config());
    let mut check = shapes::Check::new(stream);
    shapes::feed(&mut r, &mut check, stream, plan);
    assert!(check.exact(), "{check:?}");
    check.data_calls
}

fn orders(c: &mut Criterion) {
    let len = 4 * MB;
    let stream = shapes::stream(len as usize, 1);
    let mut g = c.benchmark_group("reassembly_4MB");
    g.sample_size(10).throughput(Throughput::Bytes(len));
    g.bench_function("in_order_64", |b| {
        b.iter(|| run(&stream, black_box(shapes::in_order(len, 64))))
    });
    g.bench_function("descending_64", |b| {
        b.iter(|| run(&stream, black_box(shapes::descending(len, 64))))
    });
    g.bench_function("descending_16", |b| {
        b.iter(|| run(&stream, black_box(shapes::descending(len, 16))))
    });
    g.bench_function("descending_1_in_4k_windows", |b| {
        b.iter(|| run(&stream, shapes::descending_in_windows(len, 1, 4096)))
    });
    g.bench_function("random_64_in_64k_windows", |b| {
        b.iter(|| run(&stream, shapes::shuffled_in_windows(len, 64, 64 * 1024, 7)))
    });
    g.bench_function("holes_filled_later_64", |b| {
        b.iter(|| run(&stream, shapes::holes_filled_later(len, 64, len)))
    });
    g.finish();
}

fn scaling(c: &mut Criterion) {
    let mut g = c.benchmark_group("descending_64_scaling");
    g.sample_size(10);
    for len in [MB, 4 * MB] {
        let stream = shapes::stream(len as usize, 2);
        g.throughput(Throughput::Bytes(len));
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{}MB", len / MB)),
            &stream,
            |b, s| b.iter(|| run(s, shapes::descending(len, 64))),
        );
    }
    g.finish();
}

criterion_group!(benches, orders, scaling);
criterion_main!(benches);
