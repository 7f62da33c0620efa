//! Client-side and connection findings (bootstrap, requests, connections)
//! over real captures: the corpus in `../shared/corpus` and the scenarios
//! recorded for them in `samples/findings/client_*.pcap`
//! (`scripts/record_findings_client.py`). Every expectation here was
//! checked by reading the capture (`kwire list`, tshark).

mod common;

use std::path::Path;

use common::*;
use kwire::analysis::findings::{Diagnoser, Finding, Severity};
use kwire::session::Record;

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

fn diagnose(path: &Path, ports: &[u16]) -> Vec<Finding> {
    let (records, _) = analyze(path, ports);
    let mut d = Diagnoser::new();
    for r in &records {
        match r {
            Record::Exchange(e) => d.observe_exchange(e),
            Record::Event(ev) => d.observe_event(ev),
            _ => {}
        }
    }
    d.findings()
}

fn corpus(name: &str) -> Vec<Finding> {
    diagnose(&corpus_dir().join(format!("{name}.pcap")), &[])
}

fn mine(f: &[Finding]) -> Vec<&Finding> {
    f.iter().filter(|f| MINE.contains(&f.code)).collect()
}

#[test]
fn print_all() {
    for name in corpus_captures() {
        if name == "bulk_mtu1500" && std::env::var("KWIRE_BULK").is_err() {
            continue;
        }
        println!("== {name}");
        for f in mine(&corpus(&name)) {
            println!(
                "  {:?} {} {} | {:?} | {:?}",
                f.severity, f.code, f.title, f.frames, f.details
            );
        }
    }
    let _ = Severity::Info;
}
