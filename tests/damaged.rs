//! Damaged captures, made from real ones with `../shared/corpus-tools/mangle.py`
//! the way real captures are damaged: lost frames (drop), reordered frames
//! (swap), repeated frames (dup), a capture that starts mid-stream (from) and
//! a short snaplen (snap). For each: the CLI exits 0, writes only valid JSON
//! lines and reports the damage; reordering and repetition lose no exchange;
//! a mid-stream start decodes every exchange whose request starts after the
//! cut; a lost frame costs at most the messages it touched.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use common::*;
use kwire::capture::LinkType;
use kwire::capture::link::{Decoded, decode};
use kwire::session::{EventKind, Exchange, Record};

const CAPTURES: &[&str] = &[
    "confluent_basic_mtu1500",
    "errors_mtu1500",
    "kcat",
    "kafka_python",
    "transactions",
];

/// Identity of an exchange that survives renumbering of frames.
type Key = (u16, u16, i32, i16, i16);

fn key(e: &Exchange) -> Key {
    (
        e.client.port(),
        e.broker.port(),
        e.correlation_id,
        e.api_key.0,
        e.api_version,
    )
}

/// Run the CLI: exit 0, every line a JSON object with a type, capture first,
/// summary last. Returns the summary.
fn cli_export(path: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_kwire"))
        .arg("export")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: exit {:?}: {}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("invalid JSON {e}: {l}")))
        .collect();
    assert!(lines.len() >= 2);
    assert_eq!(lines[0]["type"], "capture");
    assert!(lines.iter().all(|l| l["type"].is_string()));
    let last = lines.last().unwrap().clone();
    assert_eq!(last["type"], "summary");
    last
}

fn answered(records: &[Record]) -> BTreeMap<Key, bool> {
    exchanges(records)
        .into_iter()
        .map(|e| (key(e), e.response.is_some()))
        .collect()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn swapped_frames_lose_no_exchange() {
    let dir = tmp();
    for name in CAPTURES {
        let orig = corpus_dir().join(format!("{name}.pcap"));
        let bad = dir.path().join(format!("{name}.swap.pcap"));
        mangle(&orig, &bad, "swap=0.2", 11);
        let summary = cli_export(&bad);
        let reordered = summary["tcp"]["out_of_order_segments"].as_u64().unwrap()
            + summary["responses_before_request"].as_u64().unwrap();
        assert!(reordered > 0, "{name}: reordering not reported");
        let (a, _) = analyze(&orig, &[]);
        let (b, _) = analyze(&bad, &[]);
        assert_eq!(
            answered(&a),
            answered(&b),
            "{name}: swap lost or unpaired exchanges"
        );
    }
}

#[test]
fn repeated_frames_lose_no_exchange() {
    let dir = tmp();
    for name in CAPTURES {
        let orig = corpus_dir().join(format!("{name}.pcap"));
        let bad = dir.path().join(format!("{name}.dup.pcap"));
        mangle(&orig, &bad, "dup=0.2", 12);
        let summary = cli_export(&bad);
        assert!(
            summary["tcp"]["retransmitted_bytes"].as_u64().unwrap() > 0,
            "{name}: duplicates not reported"
        );
        let (a, _) = analyze(&orig, &[]);
        let (b, _) = analyze(&bad, &[]);
        assert_eq!(
            answered(&a),
            answered(&b),
            "{name}: dup lost or unpaired exchanges"
        );
        // And no duplicate exchange came out of a duplicated frame.
        assert_eq!(exchanges(&a).len(), exchanges(&b).len(), "{name}");
    }
}

#[test]
fn mid_stream_start_decodes_everything_after_the_cut() {
    let dir = tmp();
    for name in CAPTURES {
        let orig = corpus_dir().join(format!("{name}.pcap"));
        let total = read_packets(&orig).len() as u64;
        for cut in [total / 3, total / 2 + 7] {
            let bad = dir.path().join(format!("{name}.from{cut}.pcap"));
            mangle(&orig, &bad, &format!("from={cut}"), 1);
            let summary = cli_export(&bad);
            let (a, _) = analyze(&orig, &[]);
            let (b, _) = analyze(&bad, &[]);
            let got = answered(&b);
            let mut expected = 0;
            for e in exchanges(&a) {
                if e.request.first_frame < cut {
                    continue;
                }
                expected += 1;
                let k = key(e);
                let Some(&ans) = got.get(&k) else {
                    panic!(
                        "{name} from={cut}: lost request frame {} {:?}",
                        e.request.frame, k
                    );
                };
                if e.response.is_some_and(|r| r.first_frame >= cut) {
                    assert!(
                        ans,
                        "{name} from={cut}: request frame {} unpaired",
                        e.request.frame
                    );
                }
            }
            assert!(expected > 0);
            // Connections open before the cut, with requests after it, are
            // reported as joined mid-stream.
            let opened: HashMap<u64, u64> = a
                .iter()
                .filter_map(|r| match r {
                    Record::Event(ev) if matches!(ev.kind, EventKind::ConnectionOpen { .. }) => {
                        Some((ev.stream?, ev.at.frame))
                    }
                    _ => None,
                })
                .collect();
            let spans_cut = exchanges(&a).iter().any(|e| {
                e.request.first_frame >= cut && opened.get(&e.stream).is_some_and(|&f| f < cut)
            });
            let _ = summary;
            let midstream = !spans_cut
                || b.iter().any(|r| {
                    matches!(r, Record::Event(ev)
                if matches!(ev.kind, EventKind::ConnectionOpen { handshake_seen: false, .. }))
                });
            assert!(
                midstream,
                "{name} from={cut}: no connection joined mid-stream reported"
            );
        }
    }
}

#[test]
fn lost_frames_cost_only_the_messages_they_touched() {
    let dir = tmp();
    for name in CAPTURES {
        for seed in [3, 4] {
            let orig = corpus_dir().join(format!("{name}.pcap"));
            let bad = dir.path().join(format!("{name}.drop{seed}.pcap"));
            mangle(&orig, &bad, "drop=0.03", seed);
            let summary = cli_export(&bad);
            let map = frame_map(&orig, &bad);
            let kept: BTreeSet<u64> = map.values().copied().collect();
            let total = read_packets(&orig).len() as u64;
            let dropped: BTreeSet<u64> = (1..=total).filter(|f| !kept.contains(f)).collect();
            assert!(!dropped.is_empty());
            let (a, _) = analyze(&orig, &[]);
            let (b, _) = analyze(&bad, &[]);
            let got: HashMap<Key, &Exchange> =
                exchanges(&b).into_iter().map(|e| (key(e), e)).collect();
            let touched = |first: u64, last: u64| dropped.range(first..=last).next().is_some();
            let mut checked = 0;
            for e in exchanges(&a) {
                // Only messages whose every packet survived, and which did not
                // start right after a lost packet of the same stream (their
                // first bytes may share a lost segment with the previous message).
                if touched(e.request.first_frame.saturating_sub(1), e.request.frame) {
                    continue;
                }
                checked += 1;
                let Some(g) = got.get(&key(e)) else {
                    panic!(
                        "{name} drop seed {seed}: lost untouched request frame {} {:?}",
                        e.request.frame,
                        key(e)
                    );
                };
                if let Some(r) = e.response
                    && !touched(r.first_frame.saturating_sub(1), r.frame)
                {
                    assert!(
                        g.response.is_some(),
                        "{name} seed {seed}: request frame {} unpaired",
                        e.request.frame
                    );
                }
            }
            assert!(checked > 0);
            // A request answered in the original but not here must say that
            // the capture lost its response (not that the connection closed).
            for e in exchanges(&a) {
                if let (Some(_), Some(g)) = (e.response, got.get(&key(e)))
                    && let kwire::session::Status::NoResponse(why) = g.status
                {
                    assert_eq!(
                        why,
                        kwire::session::NoResponseReason::ResponseLostInCapture,
                        "{name} seed {seed}: request frame {}",
                        e.request.frame
                    );
                }
            }
            // A dropped packet that carried payload must show up as a gap.
            let packets = read_packets(&orig);
            let lost_payload = dropped.iter().any(|f| {
                let (_, _, data) = &packets[*f as usize - 1];
                // The corpus is recorded on Ethernet-framed loopback.
                matches!(decode(LinkType::ETHERNET, data), Decoded::Tcp(s) if s.payload_len > 0)
            });
            if lost_payload {
                let gaps = summary["events"]["gap"].as_u64().unwrap_or(0);
                assert!(
                    gaps > 0 && summary["tcp"]["gap_bytes"].as_u64().unwrap() > 0,
                    "{name} seed {seed}: lost payload not reported as a gap"
                );
            }
        }
    }
}

#[test]
fn short_snaplen_is_reported_not_fatal() {
    let dir = tmp();
    for name in CAPTURES {
        let orig = corpus_dir().join(format!("{name}.pcap"));
        for snap in [60, 96, 200] {
            let bad = dir.path().join(format!("{name}.snap{snap}.pcap"));
            mangle(&orig, &bad, &format!("snap={snap}"), 1);
            let summary = cli_export(&bad);
            // Cut inside the payload: counted and reported as snaplen gaps;
            // cut inside the TCP header: reported as truncated packets.
            let truncated = summary["truncated_packets"].as_u64().unwrap();
            let gaps = summary["events"]["gap"].as_u64().unwrap_or(0);
            let packets = summary["events"]["packet"].as_u64().unwrap_or(0);
            assert!(
                (truncated > 0 && gaps > 0) || packets > 0,
                "{name} snap={snap}: truncation not reported: {summary}"
            );
        }
    }
}
