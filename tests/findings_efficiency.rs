//! The efficiency family over real clients' traffic
//! (`scripts/record_findings_efficiency.py`, samples/findings/efficiency_*):
//! the same application (a producer writing 300 JSON orders to `orders`
//! one at a time, a consumer of group `shipping` reading them) with
//! wasteful and with tuned client settings. Every number here was checked by
//! reading the capture (`kwire list`, `kwire stats`): the producer's 169
//! Produce v10 requests on s5 (frames 98 to 845, 300 records), the
//! consumer's 471 Fetch v16 requests with maxWaitMs 10 on s6.

mod common;

use common::*;
use kwire::analysis::findings::{Finding, Severity};

const CODES: &[&str] = &[
    "produce_small_batches",
    "produce_batch_size_cap",
    "produce_uncompressed",
    "fetch_short_wait",
    "fetch_sessions_unused",
    "metadata_refresh_frequent",
    "connection_per_request",
    "offset_commits_frequent",
];

fn sample(name: &str) -> Vec<Finding> {
    diagnose_recorded(&samples_dir().join("findings"), name)
}

fn efficiency(all: &[Finding]) -> Vec<&Finding> {
    all.iter().filter(|f| CODES.contains(&f.code)).collect()
}

fn one<'a>(all: &'a [Finding], code: &str) -> &'a Finding {
    let v: Vec<&Finding> = all.iter().filter(|f| f.code == code).collect();
    assert_eq!(
        v.len(),
        1,
        "{code}: {:?}",
        all.iter().map(|f| f.code).collect::<Vec<_>>()
    );
    v[0]
}

/// confluent-kafka 2.16.1 with `linger.ms=0`, `compression.type=none` and a
/// consumer with `fetch.wait.max.ms=10`: advice naming each setting, for
/// librdkafka (the ApiVersions v3 requests say `confluent-kafka-python
/// 2.16.1-rdkafka-2.16.0`).
#[test]
fn wasteful_client_gets_advice_naming_its_settings() {
    let all = sample("efficiency_wasteful");
    let eff = efficiency(&all);
    assert_eq!(eff.len(), 3, "{eff:?}");
    assert!(eff.iter().all(|f| f.severity == Severity::Info));

    // 300 records in 169 one-batch Produce requests; the application
    // produces in bursts about 10 ms apart (its consumer's poll), so a 5 ms
    // linger would have gathered each burst.
    let f = one(&all, "produce_small_batches");
    assert_eq!(f.count, 169);
    assert!(
        f.title.starts_with(
            "orders-producer sends small batches: 169 batches of 1.8 records (598 bytes) on average in 169 Produce requests; \
             with `linger.ms` (librdkafka) at 5 ms they would have been about 14 batches"
        ),
        "{}",
        f.title
    );
    assert_eq!(f.clients, ["orders-producer"]);
    assert_eq!(f.topics, ["orders"]);
    assert_eq!(f.streams, [5]);
    assert_eq!(f.frames[..3], [98, 100, 102]);

    let f = one(&all, "produce_uncompressed");
    assert_eq!(f.count, 169);
    assert!(
        f.title
            .contains("set `compression.type` (librdkafka) to lz4"),
        "{}",
        f.title
    );
    assert!(
        f.title.contains("lz4 shrinks a 64 KiB sample"),
        "{}",
        f.title
    );

    // 301 of the 471 Fetch requests returned no records.
    let f = one(&all, "fetch_short_wait");
    assert_eq!(f.count, 301);
    assert!(
        f.title.starts_with(
            "orders-consumer fetches with maxWaitMs 10 (500 by default): 301 of its 471 Fetch requests came back empty"
        ),
        "{}",
        f.title
    );
    assert!(
        f.title
            .ends_with("set `fetch.wait.max.ms` (librdkafka) to 500")
    );
    assert_eq!(f.groups, Vec::<String>::new());
    assert_eq!(f.streams, [6]);
}

/// The same application with `linger.ms=50`, lz4 and the default fetch wait:
/// 31 Produce requests of ~10 records, 41 Fetch requests; none of the advice.
#[test]
fn tuned_client_gets_none_of_it() {
    let all = sample("efficiency_tuned");
    assert!(efficiency(&all).is_empty(), "{:?}", efficiency(&all));
}

/// The corpus captures get no efficiency warning or error (the family says
/// Info at most); the healthy librdkafka ones (the mock cluster, lingering
/// 5 ms or more, default fetch waits) none of its advice.
#[test]
fn corpus_captures_get_no_efficiency_warnings() {
    for name in corpus_captures() {
        let dir = corpus_dir();
        let ports: Vec<u16> = std::fs::read_to_string(dir.join(format!("{name}.ports")))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        let all = diagnose(&dir.join(format!("{name}.pcap")), &ports);
        let eff = efficiency(&all);
        for f in &eff {
            assert_eq!(f.severity, Severity::Info, "{name}: {}", f.title);
        }
        if ["confluent_basic", "kip848", "transactions", "kcat"].contains(&name.as_str()) {
            assert!(eff.is_empty(), "{name}: {eff:?}");
        }
    }
}

/// confluent-kafka 2.16.1 with `batch.size=16384`, `linger.ms=5`, writing
/// 1300 JSON orders as fast as it takes them (efficiency_batch_cap): 25
/// Produce v10 requests on s1, 24 of them one batch of 53 records and
/// 16,129–16,192 bytes (the last, 28 records). The cap is said, with
/// `batch.size` named for librdkafka; the uncompressed JSON gets its advice
/// too.
#[test]
fn backlogged_producer_meets_its_batch_size() {
    let all = sample("efficiency_batch_cap");
    let f = one(&all, "produce_batch_size_cap");
    assert_eq!((f.severity, f.count), (Severity::Info, 24));
    assert!(
        f.title.starts_with(
            "events-producer fills its batches to about 16192 bytes: 24 of its 25 batches (96%) are within a tenth of that, 53.0 records each; `batch.size` (librdkafka) caps them"
        ),
        "{}",
        f.title
    );
    assert!(
        f.details
            .iter()
            .any(|d| d.contains("librdkafka's default is 1000000 bytes"))
    );
    one(&all, "produce_uncompressed");
    assert!(all.iter().all(|f| f.severity == Severity::Info), "{all:#?}");
}
