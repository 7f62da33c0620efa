//! Producer and consumer-lag findings on real captures: the corpus (healthy
//! traffic raises no warning; errors_mtu1500's produce retries) and the
//! scenarios recorded for these findings in samples/findings (see its
//! README). Every expectation was checked by reading the capture with
//! `kwire list` / `kwire export` and tshark.

mod common;

use std::path::Path;

use common::*;
use kwire::analysis::findings::{Diagnoser, Finding, Severity};
use kwire::session::Record;

/// The codes this family raises.
const CODES: &[&str] = &[
    "produce_retries",
    "produce_failed",
    "message_too_large",
    "producer_sequence_error",
    "producer_duplicate_sequence",
    "producer_fenced",
    "transaction_error",
    "transaction_aborted_after_error",
    "transactions",
    "producer_idempotence",
    "producer_acks",
    "consumer_lag",
    "consumer_lag_growing",
    "consumer_stuck",
    "fetch_offset_out_of_range",
    "offset_commit_stalled",
];

fn findings(path: &Path) -> Vec<Finding> {
    let (records, _) = analyze(path, &[]);
    let mut d = Diagnoser::new();
    for r in &records {
        match r {
            Record::Exchange(e) => d.observe_exchange(e),
            Record::Event(ev) => d.observe_event(ev),
            _ => {}
        }
    }
    d.findings()
        .into_iter()
        .filter(|f| CODES.contains(&f.code))
        .collect()
}

fn show(fs: &[Finding]) -> String {
    let mut s = String::new();
    for f in fs {
        s += &format!(
            "{} {} ×{} {}\n    frames {:?} streams {:?} clients {:?} groups {:?} topics {:?}\n",
            f.severity.as_str(),
            f.code,
            f.count,
            f.title,
            f.frames,
            f.streams,
            f.clients,
            f.groups,
            f.topics
        );
        for d in &f.details {
            s += &format!("    | {d}\n");
        }
    }
    s
}

/// `KWIRE_FINDINGS=path cargo test --test findings_producer print -- --ignored --nocapture`
#[test]
#[ignore]
fn print() {
    let p = std::env::var("KWIRE_FINDINGS").expect("KWIRE_FINDINGS=capture");
    print!("{}", show(&findings(Path::new(&p))));
}

fn corpus(name: &str) -> Vec<Finding> {
    findings(&corpus_dir().join(format!("{name}.pcap")))
}

fn sample(name: &str) -> Vec<Finding> {
    findings(&samples_dir().join(format!("{name}.pcap")))
}

fn scenario(name: &str) -> Vec<Finding> {
    findings(&samples_dir().join("findings").join(format!("{name}.pcap")))
}

/// The findings with `code`.
fn with<'a>(fs: &'a [Finding], code: &str) -> Vec<&'a Finding> {
    fs.iter().filter(|f| f.code == code).collect()
}

/// The one finding with `code` whose title contains `part`.
fn one<'a>(fs: &'a [Finding], code: &str, part: &str) -> &'a Finding {
    let v: Vec<&Finding> = with(fs, code)
        .into_iter()
        .filter(|f| f.title.contains(part))
        .collect();
    assert_eq!(v.len(), 1, "{code} with {part:?} in\n{}", show(fs));
    v[0]
}

#[test]
fn healthy_corpus_raises_no_warning() {
    for name in [
        "confluent_basic",
        "confluent_basic_mtu1500",
        "kip848",
        "transactions",
        "kafka_python",
        "kafka_python_legacy",
        "kcat",
        "bulk_mtu1500",
    ] {
        let fs = corpus(name);
        // Every one of them has producers: the capture was read.
        assert_eq!(with(&fs, "producer_idempotence").len(), 1, "{name}");
        let bad: Vec<&Finding> = fs.iter().filter(|f| f.severity > Severity::Info).collect();
        assert!(bad.is_empty(), "{name}:\n{}", show(&fs));
    }
}

#[test]
fn errors_mtu1500_produce_retries() {
    let fs = corpus("errors_mtu1500");
    // Produce NOT_LEADER_OR_FOLLOWER ×2 then REQUEST_TIMED_OUT, each batch
    // re-sent once and acknowledged (kwire list: 38/40/47 → 58/53/55).
    let f = one(&fs, "produce_retries", "pay-producer");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.count, 3);
    assert_eq!(f.frames, [38, 58, 40, 53, 47, 55]);
    assert!(
        f.title
            .contains("3 batches (30 records) to payments (partition 0, 1, 2)"),
        "{}",
        f.title
    );
    assert!(
        f.title
            .contains("after NOT_LEADER_OR_FOLLOWER ×2, REQUEST_TIMED_OUT ×1; every retried batch was acknowledged"),
        "{}",
        f.title
    );
    assert!(f.details[0].contains("not idempotent"));
    assert!(
        !fs.iter().any(|f| f.severity == Severity::Error),
        "{}",
        show(&fs)
    );
    // The corpus README's Fetch OFFSET_OUT_OF_RANGE is not on the wire here.
    assert!(with(&fs, "fetch_offset_out_of_range").is_empty());
}

#[test]
fn errors_sample_offset_out_of_range() {
    let fs = sample("errors");
    let f = one(&fs, "produce_retries", "pay-producer");
    assert_eq!((f.count, &f.frames[..]), (2, &[37, 47, 38, 50][..]));
    // Fetch at frame 200 of payments-1 at offset 4: OFFSET_OUT_OF_RANGE
    // (log start 0, high watermark 4); the next fetch, frame 216, is at 0.
    let f = one(&fs, "fetch_offset_out_of_range", "ledger-1");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.count, 1);
    assert_eq!(f.frames, [200, 216]);
    assert_eq!(f.topics, ["payments"]);
    assert_eq!(f.groups, ["ledger"]);
    assert!(f.title.contains("read 4 records again"), "{}", f.title);
    assert!(
        f.details[0].contains("payments-1: fetch at offset 4 (frame 200)")
            && f.details[0].contains("log start 0, high watermark 4")
            && f.details[0].contains("reset to offset 0 (frame 216)"),
        "{:?}",
        f.details
    );
}

#[test]
fn transactions_committed_and_aborted_by_the_application() {
    let fs = sample("transactions_abort");
    let f = one(&fs, "transactions", "ledger-tx");
    assert_eq!(f.severity, Severity::Info);
    assert!(
        f.title
            .contains("1 transaction committed, 1 aborted by the application"),
        "{}",
        f.title
    );
    assert!(!f.title.contains("open"));
}

#[test]
fn producer_retries_idempotent_and_not() {
    let fs = scenario("producer_retries");
    // Idempotent: the same producer id, epoch and sequence re-sent after
    // NOT_LEADER_OR_FOLLOWER (frames 30 → 33).
    let f = one(&fs, "produce_retries", "idem-producer");
    assert_eq!((f.severity, f.count), (Severity::Warning, 1));
    assert_eq!(f.frames, [30, 33]);
    assert!(
        f.title
            .contains("after NOT_LEADER_OR_FOLLOWER ×1; the retry succeeded")
    );
    assert!(f.details[0].contains("sequence 0"), "{:?}", f.details);
    // Not idempotent: the same batch after REQUEST_TIMED_OUT twice.
    let f = one(&fs, "produce_retries", "plain-producer");
    assert_eq!((f.severity, f.count), (Severity::Warning, 2));
    assert_eq!(f.frames, [59, 64, 67]);
    assert!(f.title.contains("2 retries after REQUEST_TIMED_OUT ×2"));
    assert!(f.details[0].contains("may have been written twice"));
    // acks.
    let f = one(&fs, "producer_acks", "acks=0");
    assert_eq!((f.severity, &f.frames[..]), (Severity::Info, &[139][..]));
    assert_eq!(f.clients, ["acks0-producer"]);
    let f = one(&fs, "producer_acks", "acks=1");
    assert_eq!((f.severity, &f.frames[..]), (Severity::Info, &[108][..]));
    let f = one(&fs, "producer_idempotence", "idempotent: idem-producer");
    assert!(
        f.title.contains(
            "not idempotent (producer id -1; a retry may write duplicates): plain-producer"
        )
    );
    assert!(with(&fs, "produce_failed").is_empty());
}

#[test]
fn producer_message_too_large() {
    let fs = scenario("producer_too_large");
    let f = one(&fs, "message_too_large", "upload-producer");
    assert_eq!((f.severity, f.count), (Severity::Error, 1));
    assert_eq!(f.frames, [24]);
    assert_eq!(f.topics, ["uploads"]);
    assert!(
        f.title
            .contains("MESSAGE_TOO_LARGE ×1): 1 record not written")
    );
    assert!(f.details[0].contains("2073 bytes"));
    // Reported once, as too large, not again as a failed batch.
    assert!(with(&fs, "produce_failed").is_empty());
}

#[test]
fn producer_fenced() {
    let fs = scenario("producer_fenced");
    let f = one(&fs, "producer_fenced", "ledger-tx");
    assert_eq!((f.severity, f.count), (Severity::Error, 1));
    assert_eq!(f.frames, [107]);
    assert_eq!(f.clients, ["tx-old"]);
    assert!(f.title.contains("INVALID_PRODUCER_EPOCH ×1 on Produce"));
    let f = one(&fs, "transactions", "ledger-tx");
    assert!(f.title.contains("1 transaction committed"), "{}", f.title);
    assert!(
        f.title.contains("one under way since frame 47 aborted by the coordinator when InitProducerId was answered again at frame 102"),
        "{}",
        f.title
    );
    assert!(
        f.title
            .contains("after INVALID_PRODUCER_EPOCH at frame 107")
    );
}

#[test]
fn consumer_lag_growing() {
    let fs = scenario("lag_growing");
    let f = one(&fs, "consumer_lag_growing", "slow-consumer");
    assert_eq!((f.severity, f.count), (Severity::Warning, 1));
    assert_eq!(f.frames, [146, 319]);
    assert_eq!(f.groups, ["slow-readers"]);
    assert!(
        f.title.contains("lag grew from 60 to 324 records"),
        "{}",
        f.title
    );
}

#[test]
fn offset_commit_stalled() {
    let fs = scenario("lag_commit_stalled");
    let f = one(&fs, "offset_commit_stalled", "workers");
    assert_eq!((f.severity, f.count), (Severity::Warning, 1));
    assert_eq!(f.frames, [91, 182]);
    assert!(
        f.details[0].contains("4 commits at offset 3")
            && f.details[0].contains("stuck-worker had fetched to 30"),
        "{:?}",
        f.details
    );
}

/// Damaged captures (lost, reordered, repeated frames; a start mid-stream)
/// of the recorded scenarios: no panic, and no retry claimed out of
/// nothing on the healthy parts.
#[test]
fn damaged_scenarios_do_not_panic() {
    let dir = std::env::temp_dir().join(format!("kwire-fproducer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in [
        "producer_retries",
        "producer_fenced",
        "lag_growing",
        "lag_commit_stalled",
    ] {
        let src = samples_dir().join("findings").join(format!("{name}.pcap"));
        let clean = findings(&src);
        for (mode, seed) in [
            ("drop=0.05", 1),
            ("swap=0.2", 2),
            ("dup=0.2", 3),
            ("from=40", 4),
            ("snap=200", 5),
        ] {
            let out = dir.join(format!("{name}-{}.pcap", mode.replace('=', "")));
            mangle(&src, &out, mode, seed);
            let got = findings(&out);
            if mode.starts_with("dup") {
                // TCP retransmissions are not producer retries.
                assert_eq!(
                    got.iter().map(|f| (f.code, f.count)).collect::<Vec<_>>(),
                    clean.iter().map(|f| (f.code, f.count)).collect::<Vec<_>>(),
                    "{name} {mode}:\n{}",
                    show(&got)
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
