//! Kafka over TLS from a real client (confluent-kafka 2.16, librdkafka
//! 2.16.0) to the small broker of `scripts/record_findings_extra.py` behind
//! Python's ssl (`scripts/record_tls_kafka.py`): decrypted with the key log
//! beside the capture, the same exchanges as in the clear, frames those of
//! the packets completing each message; without keys, a `tls` event per
//! connection and a finding that says to pass `--keylog`; a handshake the
//! client refuses (unknown CA) is a finding of its own.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use kwire::analysis::findings::{Finding, Severity};
use kwire::session::{EventKind, Record, Status, TlsSession};

fn sample(name: &str) -> PathBuf {
    samples_dir().join("tls").join(format!("{name}.pcap"))
}

fn tls_events(records: &[Record]) -> Vec<&TlsSession> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Event(e) => match &e.kind {
                EventKind::Tls(t) => Some(&**t),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The producer's record values, as `kwire export --records full` gives
/// them.
fn values(path: &Path) -> Vec<String> {
    let keys = keys_of(path).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kwire"))
        .args(["export", "--records", "full", "--keylog"])
        .arg(&keys)
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut v = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let j: serde_json::Value = serde_json::from_str(line).unwrap();
        if j["type"] == "exchange" && j["api_name"] == "Produce" {
            let text = j["request"]["body"].to_string();
            for part in text.split("\"text\":\"").skip(1) {
                v.push(part.split('"').next().unwrap().to_string());
            }
        }
    }
    v
}

/// (api, request frame, answered) of every exchange.
fn exchanges_of(records: &[Record]) -> Vec<(&'static str, u64, bool)> {
    exchanges(records)
        .iter()
        .map(|e| (e.api_key.name(), e.request.frame, e.status == Status::Ok))
        .collect()
}

/// TLS 1.3, TLS_AES_256_GCM_SHA384 (OpenSSL's default), two connections:
/// ApiVersions and Metadata, then ApiVersions and five Produce.
#[test]
fn tls13_aes256gcm_decrypted() {
    let path = sample("kafka_tls13");
    let (records, summary) = analyze(&path, &[]);
    assert_eq!(summary.kafka_connections, 2);
    assert_eq!(
        exchanges_of(&records),
        [
            ("ApiVersions", 9, true),
            ("Metadata", 16, true),
            ("ApiVersions", 30, true),
            ("Produce", 35, true),
            ("Produce", 37, true),
            ("Produce", 39, true),
            ("Produce", 41, true),
            ("Produce", 43, true),
        ]
    );
    let tls = tls_events(&records);
    assert_eq!(tls.len(), 2);
    for t in tls {
        assert!(t.kafka && t.decrypted());
        assert_eq!(t.version_name(), Some("TLS 1.3"));
        assert_eq!(t.info.cipher, Some(0x1302));
        assert_eq!((t.decrypt_failures, t.info.undecryptable_records), (0, 0));
    }
    assert_eq!(
        values(&path),
        [
            "tls msg 0",
            "tls msg 1",
            "tls msg 2",
            "tls msg 3",
            "tls msg 4"
        ]
    );
}

/// TLS 1.2, ECDHE-RSA-AES128-GCM-SHA256: the same conversation.
#[test]
fn tls12_aes128gcm_decrypted() {
    let path = sample("kafka_tls12_aes128gcm");
    let (records, _) = analyze(&path, &[]);
    let ex = exchanges_of(&records);
    assert_eq!(ex.len(), 8, "{ex:?}");
    assert!(ex.iter().all(|e| e.2), "{ex:?}");
    assert_eq!(ex.iter().filter(|e| e.0 == "Produce").count(), 5);
    for t in tls_events(&records) {
        assert_eq!(t.version_name(), Some("TLS 1.2"));
        assert_eq!(t.info.cipher, Some(0xc02f));
        assert!(t.decrypted());
    }
    assert_eq!(values(&path).len(), 5);
}

/// Without the key log: nothing invented, each connection told, and
/// diagnose says to pass --keylog.
#[test]
fn without_keys_the_finding_names_keylog() {
    for name in ["kafka_tls13", "kafka_tls12_aes128gcm"] {
        let (records, _) = analyze_with(&sample(name), &[], Vec::new());
        assert!(exchanges(&records).is_empty(), "{name}");
        let tls = tls_events(&records);
        assert_eq!(tls.len(), 2, "{name}");
        assert!(tls.iter().all(|t| !t.decrypted() && !t.kafka));
        let f = findings_of(&records);
        let unread: Vec<&Finding> = f.iter().filter(|f| f.code == "tls_unread").collect();
        assert_eq!(unread.len(), 1, "{name}: {f:#?}");
        assert_eq!(unread[0].severity, Severity::Warning);
        assert!(unread[0].title.contains("--keylog"), "{}", unread[0].title);
        assert!(unread[0].title.contains("no key log given"));
    }
}

/// The client trusts another CA: every handshake ends with its fatal alert
/// unknown_ca; that is the finding (not a broker refusing connections), with
/// the certificate's near expiry (30 days from the recording).
#[test]
fn a_refused_certificate_is_a_handshake_failure() {
    let (records, _) = analyze(&sample("kafka_nokey"), &[]);
    let f = findings_of(&records);
    let codes: Vec<&str> = f.iter().map(|f| f.code).collect();
    // The certificate was made for 30 days on the day of the capture: it
    // expires within the warning window too.
    assert_eq!(
        codes,
        ["tls_handshake_failed", "tls_cert_expiring"],
        "{f:#?}"
    );
    assert_eq!(f[0].severity, Severity::Error);
    assert!(
        f[0].title
            .contains("the client sent the fatal alert unknown_ca"),
        "{}",
        f[0].title
    );
    assert!(f[0].details.iter().any(|d| d.contains("truststore")));
    assert!(f[0].count >= 3);
}

/// The server certificate's subject and expiry: in the clear in TLS 1.2,
/// decrypted in TLS 1.3 (with the key log only).
#[test]
fn server_certificates_are_read() {
    let cert = |path: PathBuf, keys: bool| {
        let keylogs = if keys {
            keys_of(&path).into_iter().collect()
        } else {
            Vec::new()
        };
        let (records, _) = analyze_with(&path, &[], keylogs);
        tls_events(&records)
            .first()
            .and_then(|t| t.info.server_cert.clone())
    };
    let c = cert(corpus_dir().join("aiokafka_tansu_tls12.pcap"), false).expect("TLS 1.2 cert");
    assert_eq!(c.subject, "CN=localhost");
    assert!(c.not_after.is_some());
    assert!(cert(sample("kafka_tls13"), false).is_none());
    let c = cert(sample("kafka_tls13"), true).expect("TLS 1.3 cert, decrypted");
    assert_eq!(c.subject, "CN=localhost");
}
