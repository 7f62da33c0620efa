//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kwire::capture::file::FileSource;
use kwire::capture::{PacketSource, Timestamp};
use kwire::session::{self, CaptureInfo, Exchange, Record, SessionConfig, Summary};
use kwire::tcp::TcpConfig;

/// `../shared` beside the repository, or `$KWIRE_SHARED`.
pub fn shared_dir() -> PathBuf {
    if let Ok(d) = std::env::var("KWIRE_SHARED") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// The corpus of real captures; the tests need it (CI has it beside the clone).
pub fn corpus_dir() -> PathBuf {
    let d = shared_dir().join("corpus");
    assert!(
        d.join("README.md").exists(),
        "corpus not found at {} (set KWIRE_SHARED to the shared/ directory)",
        d.display()
    );
    d
}

pub fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// Names of the corpus captures (without extension), sorted.
pub fn corpus_captures() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            if p.extension()? != "pcap" {
                return None;
            }
            Some(p.file_stem()?.to_string_lossy().into_owned())
        })
        .collect();
    v.sort();
    v
}

/// Run the library pipeline over a capture file.
pub fn analyze(path: &Path, ports: &[u16]) -> (Vec<Record>, Summary) {
    let mut src = FileSource::open(path.to_str().unwrap()).expect("open capture");
    let info = CaptureInfo {
        source: path.display().to_string(),
        format: src.format(),
        link_types: src.link_types(),
        filter: None,
    };
    let session = SessionConfig {
        kafka_ports: ports.to_vec(),
        ..SessionConfig::default()
    };
    let mut records = Vec::new();
    let sink = |r: Record| {
        records.push(r);
        Ok(())
    };
    let (_, summary) = session::run(&mut src, info, TcpConfig::default(), session, sink).unwrap();
    (records, summary)
}

pub fn exchanges(records: &[Record]) -> Vec<&Exchange> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Exchange(e) => Some(&**e),
            _ => None,
        })
        .collect()
}

/// One row of a `.tshark.tsv` reference table.
#[derive(Clone, Debug, Default)]
pub struct TsharkRow {
    pub frame: u64,
    pub stream: u64,
    pub src_port: u16,
    pub dst_port: u16,
    pub request_key: Option<i16>,
    pub response_key: Option<i16>,
    pub api_version: Option<i16>,
    pub correlation_id: Option<i32>,
    pub request_frame: Option<u64>,
}

fn first<T: std::str::FromStr>(s: &str) -> Option<T> {
    s.split(',').next().filter(|x| !x.is_empty())?.parse().ok()
}

/// Parse a tshark table; a frame holding several PDUs gives several rows.
pub fn read_tsv(path: &Path) -> Vec<TsharkRow> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (f, st, sp, dp, rk, pk, v, c, rf) = (
        col("frame.number"),
        col("tcp.stream"),
        col("tcp.srcport"),
        col("tcp.dstport"),
        col("kafka.request_key"),
        col("kafka.response_key"),
        col("kafka.api_version"),
        col("kafka.correlation_id"),
        col("kafka.request_frame"),
    );
    let mut rows = Vec::new();
    for line in lines {
        let cells: Vec<&str> = line.split('\t').collect();
        let get = |i: usize| cells.get(i).copied().unwrap_or("");
        // Several PDUs in one frame: the per-PDU columns are comma lists.
        let n = get(c).split(',').count().max(get(rk).split(',').count());
        for k in 0..n {
            let nth = |i: usize| get(i).split(',').nth(k).unwrap_or("").to_string();
            rows.push(TsharkRow {
                frame: get(f).parse().unwrap(),
                stream: get(st).parse().unwrap(),
                src_port: get(sp).parse().unwrap(),
                dst_port: get(dp).parse().unwrap(),
                request_key: first(&nth(rk)),
                response_key: first(&nth(pk)),
                api_version: first(&nth(v)),
                correlation_id: first(&nth(c)),
                request_frame: first(&nth(rf)),
            });
        }
    }
    rows
}

/// Read all packets of a capture: (frame, ts, bytes).
pub fn read_packets(path: &Path) -> Vec<(u64, Timestamp, Vec<u8>)> {
    let mut src = FileSource::open(path.to_str().unwrap()).unwrap();
    let mut v = Vec::new();
    while let Ok(Some(p)) = src.next_packet() {
        v.push((p.frame, p.ts, p.data.to_vec()));
    }
    v
}

/// Map each packet of `damaged` to the frame number of the identical packet
/// in `original` (same timestamp and bytes; a truncated copy maps too).
pub fn frame_map(original: &Path, damaged: &Path) -> HashMap<u64, u64> {
    let mut by_ts: HashMap<Timestamp, Vec<(u64, Vec<u8>)>> = HashMap::new();
    for (f, ts, data) in read_packets(original) {
        by_ts.entry(ts).or_default().push((f, data));
    }
    let mut map = HashMap::new();
    for (f, ts, data) in read_packets(damaged) {
        if let Some(cands) = by_ts.get(&ts)
            && let Some((of, _)) = cands.iter().find(|(_, d)| d.starts_with(&data))
        {
            map.insert(f, *of);
        }
    }
    map
}

/// Run `../shared/corpus-tools/mangle.py IN OUT MODE SEED`.
pub fn mangle(input: &Path, output: &Path, mode: &str, seed: u64) {
    let tool = shared_dir().join("corpus-tools/mangle.py");
    let st = std::process::Command::new("python3")
        .arg(&tool)
        .arg(input)
        .arg(output)
        .arg(mode)
        .arg(seed.to_string())
        .status()
        .expect("python3 runs mangle.py");
    assert!(st.success(), "mangle.py {mode} failed");
}
