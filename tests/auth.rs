//! Authentication findings over real clients' SASL traffic: failed logins
//! with the user and the broker, mechanisms a broker does not enable,
//! handshakes and authentications never answered, re-authentication.

mod common;

use std::path::Path;

use common::*;
use kwire::analysis::findings::{Diagnoser, Finding, Severity};
use kwire::session::Record;

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

fn of<'a>(all: &'a [Finding], code: &str) -> Vec<&'a Finding> {
    all.iter().filter(|f| f.code == code).collect()
}

/// aiokafka 0.14 logs in to tansu as `bob` with SCRAM-SHA-256 three times
/// (clients aio-admin, aio-producer, aio-wrong-password); tansu's final
/// SCRAM message is `e=unknown-user` each time, with error code 0
/// (SaslAuthenticate responses at frames 31, 47, 63).
#[test]
fn failed_scram_logins_are_named_with_user_and_broker() {
    let all = diagnose(&corpus_dir().join("aiokafka_tansu_sasl_scram.pcap"), &[]);
    let f = of(&all, "auth_failed");
    assert_eq!(f.len(), 1, "{all:#?}");
    let f = f[0];
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.count, 3);
    assert_eq!(
        f.title,
        "3 SCRAM-SHA-256 logins as bob failed at broker 127.0.0.1:34465: unknown-user"
    );
    assert_eq!(f.frames, [31, 47, 63]);
    assert_eq!(
        f.clients,
        ["aio-admin", "aio-producer", "aio-wrong-password"]
    );
    assert!(
        f.details.iter().any(|d| d.contains("error code 0")),
        "{:?}",
        f.details
    );
    // No secret in any finding.
    for f in &all {
        let text = format!("{f:?}");
        assert!(!text.contains("p=") && !text.contains("proof"), "{text}");
    }
}
