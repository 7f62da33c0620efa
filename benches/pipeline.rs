//! Throughput of the whole file pipeline (read, decode, reassemble, frame,
//! correlate, write NDJSON to a sink) on a capture of at least 100 MB,
//! generated from the corpus' bulk capture by `examples/make_bulk.rs`
//! (`scripts/bench` makes it; this bench makes it too if missing).
//!
//! `scripts/bench` also times tshark on the same file and measures peak RSS
//! at two capture sizes; the README records the results.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kwire::capture::PacketSource;
use kwire::capture::file::FileSource;
use kwire::export::ndjson::NdjsonWriter;
use kwire::kafka::records::RecordsMode;
use kwire::session::{self, CaptureInfo, SessionConfig};
use kwire::tcp::TcpConfig;

fn bulk_capture() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("target/bench/bulk_7x.pcap");
    if !out.exists() {
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let shared = std::env::var("KWIRE_SHARED")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join("../shared"));
        let st = Command::new("cargo")
            .args([
                "run",
                "--release",
                "--quiet",
                "--example",
                "make_bulk",
                "--",
            ])
            .arg(shared.join("corpus/bulk_mtu1500.pcap"))
            .arg(&out)
            .arg("7")
            .status()
            .unwrap();
        assert!(st.success());
    }
    out
}

fn pipeline(c: &mut Criterion) {
    let path = bulk_capture();
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size >= 100 << 20, "bench capture under 100 MB");
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Bytes(size));
    // Issue 2's pipeline (headers only), and with bodies and `--records meta`
    // (the default), and `--records full`: the ratios are what to watch.
    for (name, cfg) in [
        (
            "headers_only",
            SessionConfig {
                decode_bodies: false,
                ..SessionConfig::default()
            },
        ),
        ("bodies_records_meta", SessionConfig::default()),
        (
            "bodies_records_full",
            SessionConfig {
                records: RecordsMode::Full,
                ..SessionConfig::default()
            },
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut src = FileSource::open(path.to_str().unwrap()).unwrap();
                let info = CaptureInfo {
                    source: "bench".into(),
                    format: src.format(),
                    link_types: src.link_types(),
                    filter: None,
                    merged: Vec::new(),
                };
                let sink = NdjsonWriter::new(std::io::sink());
                let (_, s) =
                    session::run(&mut src, info, TcpConfig::default(), cfg.clone(), sink).unwrap();
                assert!(s.exchanges > 0);
                s.exchanges
            })
        });
    }
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
