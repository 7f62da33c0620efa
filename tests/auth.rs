//! Authentication findings over real clients' SASL traffic: failed logins
//! with the user and the broker, mechanisms a broker does not enable,
//! handshakes and authentications never answered, re-authentication.

mod common;

use common::*;
use kwire::analysis::findings::{Finding, Severity};

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

fn sample(name: &str) -> Vec<Finding> {
    let dir = samples_dir().join("findings");
    let ports: Vec<u16> = std::fs::read_to_string(dir.join(format!("{name}.ports")))
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    diagnose(&dir.join(format!("{name}.pcap")), &ports)
}

/// confluent-kafka 2.16 (`plain-producer`, PLAIN) against a broker that
/// enables only SCRAM-SHA-512: every SaslHandshake (responses at frames 9,
/// 21, … 141, one per connection, 12 in 3 s) answered
/// UNSUPPORTED_SASL_MECHANISM; said once, by the auth family (not again as
/// a bare error code).
#[test]
fn a_mechanism_the_broker_does_not_enable() {
    let all = sample("auth_mechanism");
    let f = of(&all, "auth_mechanism");
    assert_eq!(f.len(), 1, "{all:#?}");
    assert_eq!(f[0].severity, Severity::Error);
    assert_eq!(f[0].count, 12);
    assert!(
        f[0].title
            .ends_with("does not enable PLAIN (12 handshakes refused); it offers SCRAM-SHA-512"),
        "{}",
        f[0].title
    );
    assert_eq!(f[0].frames.first(), Some(&9));
    assert_eq!(f[0].clients, ["plain-producer"]);
    assert!(of(&all, "error_response").is_empty(), "{all:#?}");
}

/// PLAIN as alice with a wrong password: SASL_AUTHENTICATION_FAILED and
/// the broker's message, 12 times (responses at frames 11, 25, … 165).
#[test]
fn a_plain_login_refused() {
    let all = sample("auth_failed");
    let f = of(&all, "auth_failed");
    assert_eq!(f.len(), 1, "{all:#?}");
    assert_eq!(f[0].count, 12);
    assert!(
        f[0].title
            .starts_with("12 PLAIN logins as alice failed at broker 127.0.0.1:")
            && f[0]
                .title
                .ends_with(": Authentication failed: Invalid username or password"),
        "{}",
        f[0].title
    );
    assert_eq!(f[0].frames.first(), Some(&11));
    assert!(of(&all, "error_response").is_empty(), "{all:#?}");
    // The password the client sent is masked everywhere.
    assert!(!format!("{all:?}").contains("guess"));
}

/// The broker reads SaslHandshake and closes: 12 handshakes never answered
/// (requests at frames 8, 19, … 129).
#[test]
fn a_handshake_never_answered() {
    let all = sample("auth_unanswered");
    let f = of(&all, "auth_unanswered");
    assert_eq!(f.len(), 1, "{all:#?}");
    assert_eq!(f[0].count, 12);
    assert!(
        f[0].title
            .ends_with("never answered 12 PLAIN SaslHandshakes before the connection closed"),
        "{}",
        f[0].title
    );
    assert_eq!(f[0].frames.first(), Some(&8));
}

/// sessionLifetimeMs 1500: the producer re-authenticates its connection
/// (SaslAuthenticate at frames 40, 55, 70) while producing for 5 s.
#[test]
fn re_authentication_is_seen() {
    let all = sample("auth_reauth");
    let f = of(&all, "reauthentication");
    assert_eq!(f.len(), 1, "{all:#?}");
    assert_eq!(f[0].severity, Severity::Info);
    assert_eq!(f[0].count, 3);
    assert_eq!(f[0].frames, [40, 55, 70]);
    assert!(f[0].details.iter().any(|d| d.contains("1500 ms")));
    assert!(of(&all, "auth_failed").is_empty());
}

/// OAUTHBEARER with an unsecured JWT: the broker answers the token with
/// RFC 7628's error status (error code 0), the client aborts, the broker
/// fails the login (SASL_AUTHENTICATION_FAILED, responses at frames 13,
/// 29, … 189): one failed login each, told with the status.
#[test]
fn an_oauthbearer_token_refused() {
    let all = sample("auth_oauth");
    let f = of(&all, "auth_failed");
    assert_eq!(f.len(), 1, "{all:#?}");
    assert_eq!(f[0].count, 12);
    assert!(
        f[0].title
            .starts_with("12 OAUTHBEARER logins failed at broker 127.0.0.1:")
            && f[0].title.ends_with(r#": {"status":"invalid_token"}"#),
        "{}",
        f[0].title
    );
    assert_eq!(f[0].frames.first(), Some(&13));
    assert!(of(&all, "error_response").is_empty(), "{all:#?}");
}
