//! Findings librdkafka's mock cluster cannot produce, over real clients'
//! traffic with the small Python broker of `scripts/record_findings_extra.py`
//! (`samples/findings/extra_*.pcap`). Every expectation here was checked by
//! reading the capture (`kwire list`, `kwire diagnose`, tshark).

mod common;

use common::*;
use kwire::analysis::findings::{Finding, Severity};
use kwire::session::Record;

fn sample(name: &str) -> Vec<Finding> {
    diagnose_recorded(&samples_dir().join("findings"), name)
}

fn codes(f: &[Finding]) -> Vec<(&'static str, Severity, u64)> {
    f.iter().map(|f| (f.code, f.severity, f.count)).collect()
}

/// confluent-kafka 2.16.1 (`quota-producer`, acks=all) sends 5 Produce v7,
/// each answered with throttleTimeMs 300 (responses at frames 9…17).
#[test]
fn throttled_producer() {
    let all = sample("extra_throttled");
    let f: Vec<&Finding> = all.iter().filter(|f| f.code == "throttled").collect();
    assert_eq!(f.len(), 1, "{:?}", codes(&all));
    let f = f[0];
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.count, 5);
    assert_eq!(
        f.title,
        "client quota-producer was throttled by 127.0.0.1:33425 5 times (5 Produce): \
         1500 ms in total, up to 300 ms at once"
    );
    assert_eq!(f.frames, [9, 11, 13, 15, 17]);
    assert_eq!(f.clients, ["quota-producer"]);
    assert_eq!(f.topics, ["t"]);
    assert!(
        !all.iter()
            .any(|f| f.code == "error_response" || f.severity == Severity::Error)
    );
}

/// kafka-python 3.0.12 pinned to `api_version=(2, 0)` sends Produce v6
/// (frames 20, 22, 24) to a broker advertising Produce v0–v5, which answers
/// each UNSUPPORTED_VERSION; the client gives up on the three records.
#[test]
fn pinned_client_version_unsupported() {
    let all = sample("extra_version_unsupported");
    let f: Vec<&Finding> = all
        .iter()
        .filter(|f| f.code == "version_unsupported")
        .collect();
    assert_eq!(f.len(), 1, "{:?}", codes(&all));
    let f = f[0];
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.count, 3);
    assert_eq!(
        f.title,
        "pinned-producer sent Produce v6 3 times to 127.0.0.1:38233, which answered UNSUPPORTED_VERSION"
    );
    assert_eq!(f.frames, [20, 22, 24]);
    assert_eq!(f.clients, ["pinned-producer"]);
    assert!(
        f.details
            .iter()
            .any(|d| d.contains("it advertises Produce v0–v5")),
        "{:?}",
        f.details
    );
    assert_eq!(all[0].code, "version_unsupported");
    assert!(all.iter().any(|f| f.code == "produce_failed"));
}

/// confluent-kafka 2.16.1 (`silent-producer`, socket.timeout.ms 1000)
/// against a broker that accepts connections and never answers: three
/// connections, each an ApiVersions v3 left unanswered (frames 7, 15, 23).
/// Without `--port` nothing confirms Kafka there, yet the requests are
/// Kafka's: the connections are taken for Kafka (detected_by
/// `unanswered`) and the broker is named.
#[test]
fn a_broker_that_never_answers_is_found_without_ports() {
    let path = samples_dir().join("findings/extra_silent.pcap");
    let (records, _) = analyze(&path, &[]);
    let opened: Vec<&str> = records
        .iter()
        .filter_map(|r| match r {
            Record::Event(e) => match &e.kind {
                kwire::session::EventKind::ConnectionOpen { detected_by, .. } => {
                    Some(detected_by.as_str())
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(opened, ["unanswered"; 3]);
    let all = diagnose(&path, &[]);
    let down: Vec<&Finding> = all.iter().filter(|f| f.code == "broker_down").collect();
    assert_eq!(down.len(), 1, "{:?}", codes(&all));
    assert!(
        down[0].title.contains("never answered in the capture"),
        "{}",
        down[0].title
    );
    let boot: Vec<&Finding> = all
        .iter()
        .filter(|f| {
            f.code == "bootstrap_incomplete" || f.title.contains("never completed bootstrap")
        })
        .collect();
    assert_eq!(boot.len(), 1, "{:?}", codes(&all));
    assert_eq!(boot[0].frames, [7, 15, 23]);
}

/// A capture cut mid-packet (`head -c`, a file still being written): a
/// finding says so, where, and what it means for the others (the cut
/// capture was "nothing wrong found" before).
#[test]
fn a_capture_cut_short_says_so() {
    let full = std::fs::read(corpus_dir().join("confluent_basic.pcap")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.pcap");
    std::fs::write(&path, &full[..30_000]).unwrap();
    let all = diagnose(&path, &[]);
    let cut: Vec<&Finding> = all
        .iter()
        .filter(|f| f.code == "capture_truncated")
        .collect();
    assert_eq!(cut.len(), 1, "{:?}", codes(&all));
    assert_eq!(cut[0].severity, Severity::Warning);
    assert!(
        cut[0]
            .title
            .starts_with("the capture ends early: capture ends in the middle of a packet"),
        "{}",
        cut[0].title
    );
    assert_eq!(cut[0].frames.len(), 1);
    // The whole capture has no such finding.
    let whole = diagnose(&corpus_dir().join("confluent_basic.pcap"), &[]);
    assert!(whole.iter().all(|f| f.code != "capture_truncated"));
}
