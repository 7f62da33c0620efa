//! Inputs that fuzzing found to break kwire (`fuzz/regressions/`), replayed
//! on every test run: the whole pipeline over each capture (with and without
//! a port hint), and the plausibility checks over each byte string, whose
//! verdict on a prefix must be "need more" or the same as on the whole.

use std::path::Path;

use kwire::capture::PacketSource;
use kwire::capture::file::FileSource;
use kwire::export::ndjson::to_json;
use kwire::export::text::TextWriter;
use kwire::kafka::detect::{request_candidate, role_candidate};
use kwire::kafka::frame::Verdict;
use kwire::session::{self, CaptureInfo, Record, RecordSink, SessionConfig};
use kwire::tcp::TcpConfig;

fn files(dir: &str, exts: &[&str]) -> Vec<std::path::PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(dir);
    let mut v: Vec<_> = std::fs::read_dir(&d)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| exts.iter().any(|x| e == *x)));
    v.sort();
    v
}

#[test]
fn pcap_pipeline_regressions() {
    let caps = files("pcap_pipeline", &["pcap", "pcapng"]);
    assert!(!caps.is_empty());
    for path in caps {
        for ports in [vec![], vec![9092u16]] {
            let Ok(mut src) = FileSource::open(path.to_str().unwrap()) else {
                continue;
            };
            let info = CaptureInfo {
                source: path.display().to_string(),
                format: src.format(),
                link_types: src.link_types(),
                filter: None,
                merged: Vec::new(),
            };
            let cfg = SessionConfig {
                kafka_ports: ports,
                ..SessionConfig::default()
            };
            // Through both writers, as the CLI would.
            let mut text = TextWriter::new(Vec::new());
            let sink = |r: Record| {
                assert!(to_json(&r)["type"].is_string());
                text.record(r)
            };
            drop(session::run(&mut src, info, TcpConfig::default(), cfg, sink).unwrap());
        }
    }
}

#[test]
fn plausibility_regressions() {
    let inputs = files("link_decode", &["bin"]);
    assert!(!inputs.is_empty());
    for path in inputs {
        let b = std::fs::read(&path).unwrap();
        let whole = request_candidate(&b, 100 << 20, None);
        let role = role_candidate(&b);
        for cut in 0..b.len() {
            let v = request_candidate(&b[..cut], 100 << 20, None);
            assert!(
                v == Verdict::NeedMore || v == whole,
                "{}: cut {cut}",
                path.display()
            );
            let r = role_candidate(&b[..cut]);
            assert!(
                r == Verdict::NeedMore || r == role,
                "{}: cut {cut}",
                path.display()
            );
        }
    }
}
