//! Chunking: the output must not depend on how the TCP byte streams were cut
//! into segments. The byte streams of real Kafka connections (from a corpus
//! capture) are re-segmented every way — each run of bytes split at every
//! offset, and everything cut into fixed sizes from 1 byte up — and fed as
//! packets; the records must be identical except for frame numbers.

mod common;

use common::*;
use kwire::capture::{LinkType, Packet, SourceFormat, Timestamp};
use kwire::export::ndjson::to_json;
use kwire::session::{Analyzer, CaptureInfo, Record, SessionConfig};
use kwire::tcp::TcpConfig;

/// Run packets through the pipeline; records as JSON without frame numbers
/// (which depend on the cut by definition) and without the summary.
fn run(packets: &[(Timestamp, Vec<u8>)]) -> Vec<serde_json::Value> {
    let mut recs = Vec::new();
    let sink = |r: Record| {
        if !matches!(r, Record::Summary(_)) {
            recs.push(r);
        }
        Ok(())
    };
    let mut a = Analyzer::new(TcpConfig::default(), SessionConfig::default(), sink);
    a.begin(CaptureInfo {
        source: "chunks".into(),
        format: SourceFormat::Pcap,
        link_types: vec![LinkType::RAW],
        filter: None,
        merged: Vec::new(),
    })
    .unwrap();
    for (i, (ts, data)) in packets.iter().enumerate() {
        let p = Packet {
            frame: i as u64 + 1,
            ts: *ts,
            link_type: LinkType::RAW,
            data,
            orig_len: data.len() as u32,
        };
        a.packet(&p).unwrap();
    }
    drop(a.finish().unwrap());
    recs.iter()
        .map(|r| {
            let mut v = to_json(r);
            strip(&mut v);
            v
        })
        .collect()
}

fn strip(v: &mut serde_json::Value) {
    if let Some(o) = v.as_object_mut() {
        o.remove("frame");
        o.remove("first_frame");
        for (_, x) in o.iter_mut() {
            strip(x);
        }
    }
}

fn sizes(len: usize, k: usize) -> Vec<usize> {
    let mut v = vec![k; len / k];
    if !len.is_multiple_of(k) {
        v.push(len % k);
    }
    v
}

#[test]
fn output_is_independent_of_segmentation() {
    let conns = streams("kafka_python");
    assert!(conns.len() >= 3);
    let whole = run(&build(&conns, &|_, _, len| vec![len]));
    let exchanges = whole.iter().filter(|v| v["type"] == "exchange").count();
    assert!(exchanges >= 20, "{exchanges}");
    assert!(
        whole
            .iter()
            .all(|v| v["type"] != "gap" && v["type"] != "resync")
    );

    // Fixed segment sizes over all runs.
    for k in (1..=40).chain([64, 100, 333, 1000, 1448]) {
        let got = run(&build(&conns, &|_, _, len| sizes(len, k)));
        assert_eq!(got, whole, "segments of {k} bytes");
    }
    // Every run split at every offset (one run at a time).
    let total_runs: usize = conns.iter().map(|c| c.runs.len()).sum();
    let mut variants = 0;
    for (ci, c) in conns.iter().enumerate() {
        for (ri, (_, bytes)) in c.runs.iter().enumerate() {
            for at in 1..bytes.len() {
                let got = run(&build(&conns, &|cj, rj, len| {
                    if (cj, rj) == (ci, ri) {
                        vec![at, len - at]
                    } else {
                        vec![len]
                    }
                }));
                assert_eq!(got, whole, "conn {ci} run {ri} split at {at}");
                variants += 1;
            }
        }
    }
    eprintln!("{variants} splits over {total_runs} runs, {exchanges} exchanges each");
}
