//! Golden tests over the real captures of `../shared/corpus`: without any port
//! hint, kwire must find exactly the requests that tshark (told the broker
//! ports) finds, pair every response tshark pairs, and leave no request
//! unpaired whose response is in the capture.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use kwire::session::{Direction, EventKind, Record, Status};

fn check_capture(name: &str) {
    let dir = corpus_dir();
    let (records, summary) = analyze(&dir.join(format!("{name}.pcap")), &[]);
    let rows = read_tsv(&dir.join(format!("{name}.tshark.tsv")));
    let ex = exchanges(&records);

    // 1. The same set of requests: (frame, correlation id, api key, version).
    //    tshark drops a request whose bytes the capture partly lost; kwire
    //    keeps it, with `lost_bytes`, so compare the intact ones and check
    //    that each damaged one sits on a gap kwire reported.
    let want: BTreeSet<(u64, i32, i16, i16)> = rows
        .iter()
        .filter_map(|r| Some((r.frame, r.correlation_id?, r.request_key?, r.api_version?)))
        .collect();
    let intact = |e: &kwire::session::Exchange| e.request.lost_bytes == 0;
    let got: BTreeSet<(u64, i32, i16, i16)> = ex
        .iter()
        .filter(|e| intact(e))
        .map(|e| {
            (
                e.request.frame,
                e.correlation_id,
                e.api_key.0,
                e.api_version,
            )
        })
        .collect();
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{name}: requests differ from tshark\n  missing: {missing:?}\n  extra: {extra:?}"
    );
    assert_eq!(
        got.len(),
        ex.iter().filter(|e| intact(e)).count(),
        "{name}: duplicate exchanges"
    );
    let gaps: Vec<(u64, u64)> = records
        .iter()
        .filter_map(|r| match r {
            Record::Event(ev) => match &ev.kind {
                EventKind::Gap {
                    direction: Direction::ToBroker,
                    ..
                } => Some((ev.stream?, ev.at.frame)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    for e in ex.iter().filter(|e| !intact(e)) {
        assert!(
            gaps.iter()
                .any(|&(s, f)| s == e.stream
                    && (e.request.first_frame..=e.request.frame).contains(&f)),
            "{name}: damaged request frame {} without a reported gap",
            e.request.frame
        );
        assert!(
            !want
                .iter()
                .any(|w| w.0 == e.request.frame && w.1 == e.correlation_id),
            "{name}: tshark reads request frame {} whole",
            e.request.frame
        );
    }

    // 2. Every response tshark pairs is paired with the same request.
    let by_request: BTreeMap<u64, Option<u64>> = ex
        .iter()
        .map(|e| (e.request.frame, e.response.map(|r| r.frame)))
        .collect();
    let mut pairs = 0;
    for r in rows.iter().filter(|r| r.response_key.is_some()) {
        let Some(req) = r.request_frame else { continue };
        pairs += 1;
        assert_eq!(
            by_request.get(&req).copied().flatten(),
            Some(r.frame),
            "{name}: tshark pairs request frame {req} with response frame {}",
            r.frame
        );
    }

    // 3. No request is left unanswered while its response is in the capture:
    //    tshark reads the correlation id of every response, matched or not.
    let responses: BTreeSet<(u16, u16, i32)> = rows
        .iter()
        .filter(|r| r.request_key.is_none())
        .filter_map(|r| Some((r.dst_port, r.src_port, r.correlation_id?)))
        .collect();
    for e in &ex {
        if e.response.is_none() {
            let key = (e.client.port(), e.broker.port(), e.correlation_id);
            assert!(
                !responses.contains(&key),
                "{name}: request frame {} (#{} {}) has a response in the capture but was not paired",
                e.request.frame,
                e.correlation_id,
                e.api_key
            );
        }
    }
    // Every response kwire saw was paired, unless its request was in bytes
    // the capture lost (a reported gap toward the broker on that stream).
    let orphans: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            Record::Event(ev) if matches!(ev.kind, EventKind::OrphanResponse { .. }) => Some(ev),
            _ => None,
        })
        .filter(|ev| !gaps.iter().any(|&(s, _)| Some(s) == ev.stream))
        .collect();
    assert!(orphans.is_empty(), "{name}: orphan responses {orphans:?}");
    // Every header reads (response headers by their request's version).
    assert!(
        !summary.events.contains_key("malformed_header"),
        "{name}: malformed headers {:?}",
        summary.events
    );
    let answered = ex.iter().filter(|e| e.status == Status::Ok).count();
    eprintln!(
        "{name}: {} requests ({} answered; tshark pairs {pairs}), {} Kafka connections of {}, events {:?}",
        ex.len(),
        answered,
        summary.kafka_connections,
        summary.connections,
        summary.events
    );
}

#[test]
fn every_corpus_capture_matches_tshark() {
    let names = corpus_captures();
    assert!(names.len() >= 10, "corpus incomplete: {names:?}");
    for name in names {
        check_capture(&name);
    }
}

/// Kafka over TLS cannot be decoded yet (issue 11), but reading it must
/// do no harm: every packet read, no exchange invented.
#[test]
fn encrypted_captures_without_keys_say_so() {
    // Without the key log: no exchange invented, and every TLS connection
    // told as a `tls` event whose keys are missing.
    for name in common::encrypted_captures() {
        let path = corpus_dir().join(format!("{name}.pcap"));
        let (records, summary) = analyze_with(&path, &[], Vec::new());
        assert!(summary.packets > 0, "{name}");
        assert!(exchanges(&records).is_empty(), "{name}");
        let tls: Vec<_> = records
            .iter()
            .filter_map(|r| match r {
                Record::Event(e) => match &e.kind {
                    EventKind::Tls(t) => Some(t),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        assert_eq!(tls.len() as u64, summary.connections, "{name}");
        for t in tls {
            assert_eq!(t.info.keys, kwire::tls::KeyState::Missing, "{name}");
            assert!(!t.kafka && !t.decrypted(), "{name}");
        }
    }
}

#[test]
fn samples_match_tshark() {
    let dir = samples_dir();
    for name in [
        "demo",
        "errors",
        "segmented_mtu1500",
        "demo_any_sll2",
        "transactions_abort",
    ] {
        let (records, _) = analyze(&dir.join(format!("{name}.pcap")), &[]);
        let rows = read_tsv(&dir.join(format!("{name}.tshark.tsv")));
        let want = rows.iter().filter(|r| r.request_key.is_some()).count();
        assert_eq!(exchanges(&records).len(), want, "{name}");
    }
    let (records, _) = analyze(&dir.join("demo_any.pcapng"), &[]);
    let rows = read_tsv(&dir.join("demo_any.tshark.tsv"));
    let want = rows.iter().filter(|r| r.request_key.is_some()).count();
    assert_eq!(exchanges(&records).len(), want, "demo_any.pcapng");
}
