//! Client-side and connection findings (bootstrap, requests, connections)
//! over real captures: the corpus in `../shared/corpus` and the scenarios
//! recorded for them in `samples/findings/client_*.pcap`
//! (`scripts/record_findings_client.py`). Every expectation here was
//! checked by reading the capture (`kwire list`, tshark).

mod common;

use common::*;
use kwire::analysis::findings::{Finding, Severity};

/// The codes of this side's detectors.
const MINE: &[&str] = &[
    "apiversions_loop",
    "apiversions_retry",
    "apiversions_fallback",
    "bootstrap_incomplete",
    "version_unsupported",
    "request_timeout",
    "request_lost",
    "no_response_at_capture_end",
    "slow_responses",
    "slow_broker",
    "throttled",
    "error_response",
    "broker_down",
    "reconnect_storm",
];

fn corpus(name: &str) -> Vec<Finding> {
    diagnose(&corpus_dir().join(format!("{name}.pcap")), &[])
}

fn mine(f: &[Finding]) -> Vec<&Finding> {
    f.iter().filter(|f| MINE.contains(&f.code)).collect()
}

fn sample(name: &str) -> Vec<Finding> {
    let dir = samples_dir().join("findings");
    let ports: Vec<u16> = std::fs::read_to_string(dir.join(format!("{name}.ports")))
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    diagnose(&dir.join(format!("{name}.pcap")), &ports)
}

fn codes(f: &[&Finding]) -> Vec<(&'static str, Severity, u64)> {
    f.iter().map(|f| (f.code, f.severity, f.count)).collect()
}

/// The must-hold: the first finding of the whole Diagnoser says the client
/// is stuck retrying ApiVersions, how often, on how many connections, and
/// that it never sent another request.
#[test]
fn kafka_python_apiversions_loop() {
    let all = corpus("kafka_python_apiversions_loop");
    let f = &all[0];
    assert_eq!(f.code, "apiversions_loop");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.count, 27);
    assert_eq!(
        f.title,
        "client py-stuck retried ApiVersions v4 27 times on 27 connections to 3 brokers \
         (127.0.0.1:40193, 127.0.0.1:42079, 127.0.0.1:43733); the broker answered \
         UNSUPPORTED_VERSION every time and the client never sent another request"
    );
    // The requests: frame 4, then every 10th frame (kwire list).
    assert_eq!(f.frames, (0..20).map(|i| 4 + 10 * i).collect::<Vec<u64>>());
    assert_eq!(f.clients, ["py-stuck"]);
    // Its consequence, a reconnect storm (27 connections of ~1 ms, up to 9
    // to one broker), is said in the loop's details, not as a finding.
    let m = mine(&all);
    assert_eq!(codes(&m), [("apiversions_loop", Severity::Error, 27)]);
    assert!(
        f.details.iter().any(|d| d.starts_with("as a consequence: ")
            && d.contains("(up to 9 to one broker within 60 s)")),
        "{:?}",
        f.details
    );
}

/// The broker taken down and brought back: broker 2 (port 45015) closed s1,
/// s5, s6 at 22:43:57.411 (frames 184, 188, 190; s5 with its JoinGroup #16
/// unanswered), refused s7–s13 (frames 196…248), and answered again on s14
/// (ApiVersions response, frame 256).
#[test]
fn errors_mtu1500() {
    let all = corpus("errors_mtu1500");
    let m = mine(&all);
    assert_eq!(
        codes(&m),
        [
            ("broker_down", Severity::Error, 10),
            ("apiversions_fallback", Severity::Info, 8),
        ]
    );
    assert_eq!(
        m[0].title,
        "broker 127.0.0.1:45015 was down from 22:43:57.411 to 22:43:59.421 (2.0 s): \
         3 connections cut (1 request unanswered), 7 connection attempts refused; \
         it came back at 22:43:59.421 (frame 256)"
    );
    // The JoinGroup cut by the outage (frame 175) is the same outage, told
    // in it; ledger-1 joined again on s14.
    assert_eq!(
        m[0].frames,
        [175, 184, 188, 190, 196, 212, 220, 230, 235, 237, 248, 256]
    );
    assert_eq!(m[0].streams, [1, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    assert_eq!(m[0].groups, ["ledger"]);
    assert!(m[0].clients.contains(&"ledger-1".to_string()));
    assert_eq!(
        m[0].details.last().unwrap(),
        "the same outage: 1 request (1 JoinGroup) to 127.0.0.1:45015 got no response because \
         the connection ended under it (1 closed); the client carried on afterwards"
    );
}

/// Healthy traffic: nothing above Info from these detectors. The Info is
/// librdkafka's ApiVersions v3 → UNSUPPORTED_VERSION → v0 against the mock
/// (which offers ApiVersions v0–v2).
#[test]
fn healthy_corpus_is_quiet() {
    for (name, fallback) in [
        ("confluent_basic", Some(30)),
        ("confluent_basic_mtu1500", Some(27)),
        ("kip848", Some(11)),
        ("transactions", Some(8)),
        ("kafka_python", None),
        ("kafka_python_legacy", None),
        ("kcat", Some(7)),
        ("bulk_mtu1500", Some(9)),
    ] {
        let all = corpus(name);
        let m = mine(&all);
        let want: Vec<_> = fallback
            .map(|n| ("apiversions_fallback", Severity::Info, n))
            .into_iter()
            .collect();
        assert_eq!(codes(&m), want, "{name}: {m:#?}");
    }
}

/// A producer whose only bootstrap broker is down for its whole life: 21
/// SYNs answered by RST (frames 1–42, a pair each), 6 s.
#[test]
fn client_broker_dead() {
    let all = sample("client_broker_dead");
    let m = mine(&all);
    assert_eq!(codes(&m), [("broker_down", Severity::Error, 21)]);
    assert_eq!(
        m[0].title,
        "broker 127.0.0.1:36905 refused every connection of the capture: 21 connection \
         attempts refused from 04:07:34.549 to 04:07:40.553; nothing was listening"
    );
    assert_eq!(m[0].frames, (1..=20).map(|i| 2 * i).collect::<Vec<u64>>());
}

/// The same capture without `--port`: no response ever names a broker, but
/// an endpoint that refused all of 21 attempts is one that is down; the
/// finding says it was not confirmed as Kafka.
#[test]
fn client_broker_dead_without_ports() {
    let dir = samples_dir().join("findings");
    let all = diagnose(&dir.join("client_broker_dead.pcap"), &[]);
    let m = mine(&all);
    assert_eq!(codes(&m), [("broker_down", Severity::Error, 21)]);
    assert!(
        m[0].title
            .starts_with("broker 127.0.0.1:36905 refused every connection")
    );
    assert!(
        m[0].details
            .iter()
            .any(|d| d.contains("never seen answering Kafka")),
        "{:?}",
        m[0].details
    );
}

/// 30 Produce answered in ~30 µs, then 5 with every broker delaying 400 ms
/// (requests at frames 97, 101, 104, 107, 110), then fast again.
#[test]
fn client_slow() {
    let all = sample("client_slow");
    let m = mine(&all);
    assert_eq!(
        codes(&m),
        [
            ("slow_responses", Severity::Warning, 5),
            ("apiversions_fallback", Severity::Info, 3)
        ]
    );
    assert_eq!(m[0].frames, [97, 101, 104, 107, 110]);
    assert!(
        m[0].title
            .starts_with("5 of 36 Produce responses from 127.0.0.1:44075 took over 100 ms"),
        "{}",
        m[0].title
    );
}

/// Every broker delays responses by 30 s: the producer's Produce #8 (frame
/// 34) is timed out after 2 s and its connection closed (frame 37), the
/// ApiVersions on the reconnections (frames 42, 47) likewise; then the
/// brokers answer again (frames 70, 80) and the Produce is retried (#12).
#[test]
fn client_hang() {
    let all = sample("client_hang");
    let m = mine(&all);
    assert_eq!(
        codes(&m),
        [
            ("request_timeout", Severity::Error, 2),
            ("apiversions_fallback", Severity::Info, 5),
        ]
    );
    // One outage of both brokers: the timed-out ApiVersions (42, 47), the
    // brokers down with what came back (70, 80), the Produce cut (34).
    assert_eq!(m[0].frames, [34, 42, 47, 70, 80]);
    let told: Vec<&str> = m[0]
        .details
        .iter()
        .filter_map(|d| d.strip_prefix("the same outage: "))
        .collect();
    assert_eq!(told.len(), 3, "{told:#?}");
    assert!(told[0].contains("it came back at 04:08:04.659 (frame 80)"));
    assert!(told[1].starts_with("1 request (1 Produce) to 127.0.0.1:38473 got no response"));
    assert!(told[2].contains("it came back at 04:08:04.630 (frame 70)"));
}

/// The partition leader (port 38973) taken down and up six times: the first
/// outage cuts s1 (frame 31) and refuses s3, s4 (frames 44, 46) until s5
/// (frame 58); the client then opens 7 connections of ~40 ms to it in 12 s.
#[test]
fn client_flapping() {
    let all = sample("client_flapping");
    let m = mine(&all);
    assert_eq!(
        codes(&m),
        [
            ("broker_down", Severity::Error, 3),
            ("reconnect_storm", Severity::Warning, 7),
            ("apiversions_fallback", Severity::Info, 9),
        ]
    );
    assert_eq!(m[0].frames, [31, 44, 46, 58]);
    assert_eq!(m[1].frames, [15, 53, 77, 101, 125, 149, 173]);
}
