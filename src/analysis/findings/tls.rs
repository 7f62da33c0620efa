//! TLS: sessions kwire could not read (and how to let it), handshakes that
//! failed with an alert, ClientHellos nobody answered, records that did not
//! decrypt.
//!
//! Each comes from the `tls` event a connection over TLS ends with
//! ([`EventKind::Tls`]). An alert `close_notify` is how TLS ends a
//! connection politely, not a failure.
//!
//! Contract: no panic; the tables are bounded by [`MAX_KEYS`].

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::capture::Timestamp;
use crate::session::{Event, EventKind, Exchange, TlsSession};
use crate::tls::{KeyState, cipher_name};

use super::{Context, Detector, Finding, MAX_FRAMES, Severity, push_bounded};
use crate::present::plural_suffix;

/// This family's detectors.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    vec![Box::new(Tls::default())]
}

/// Distinct (server, trouble) pairs tracked.
pub const MAX_KEYS: usize = 1024;
/// Clients named per finding.
const MAX_CLIENTS: usize = 8;
/// The alert that closes a TLS connection normally.
const CLOSE_NOTIFY: u8 = 0;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Trouble {
    /// Application data not read, and why.
    Unread(&'static str),
    /// The server never answered the ClientHello.
    Unanswered,
    /// A fatal alert before the handshake completed: its name, and whether
    /// the server sent it.
    Alert(&'static str, bool),
    /// Records that failed to decrypt, or losses resynchronised over.
    Damaged,
    /// The server's certificate had expired (true) or expires within
    /// [`EXPIRY_WARNING_DAYS`] (false) when the capture saw it: its subject
    /// and notAfter.
    Certificate(bool, String, i64),
}

/// A server certificate that expires within this many days of the capture
/// is worth a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

#[derive(Default)]
struct Tally {
    count: u64,
    frames: Vec<u64>,
    streams: Vec<u64>,
    clients: Vec<String>,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    versions: Vec<&'static str>,
    ciphers: Vec<String>,
    snis: Vec<String>,
    failures: u64,
    resyncs: u64,
}

/// `tls_unread` (Warning), `tls_unanswered`, `tls_handshake_failed`
/// (Error), `tls_damaged` (Warning).
#[derive(Default)]
pub struct Tls {
    tallies: BTreeMap<(SocketAddr, Trouble), Tally>,
}

impl Tls {
    fn add(&mut self, t: &TlsSession, trouble: Trouble, ev: &Event) {
        let key = (t.server, trouble);
        if !self.tallies.contains_key(&key) && self.tallies.len() >= MAX_KEYS {
            return;
        }
        let e = self.tallies.entry(key).or_default();
        e.count += 1;
        push_bounded(&mut e.frames, ev.at.frame, MAX_FRAMES);
        if let Some(s) = ev.stream {
            push_bounded(&mut e.streams, s, MAX_FRAMES);
        }
        push_bounded(&mut e.clients, t.client.ip().to_string(), MAX_CLIENTS);
        e.first = Some(e.first.map_or(ev.at.ts, |f| f.min(ev.at.ts)));
        e.last = Some(e.last.map_or(ev.at.ts, |l| l.max(ev.at.ts)));
        if let Some(v) = t.version_name() {
            push_bounded(&mut e.versions, v, 4);
        }
        if let Some(c) = t.info.cipher {
            let name = cipher_name(c).map_or_else(|| format!("0x{c:04x}"), str::to_string);
            push_bounded(&mut e.ciphers, name, 4);
        }
        if let Some(s) = &t.info.sni {
            push_bounded(&mut e.snis, s.clone(), 4);
        }
        e.failures += t.decrypt_failures;
        e.resyncs += t.resyncs;
    }
}

/// What a fatal handshake alert usually means for a Kafka client and
/// broker, and where to look.
fn alert_hint(name: &str, from_server: bool) -> Option<&'static str> {
    Some(match (name, from_server) {
        ("unknown_ca", false) => {
            "the client does not trust the CA that signed the broker's certificate: its truststore (ssl.truststore.location, librdkafka ssl.ca.location) lacks it"
        }
        ("unknown_ca", true) => {
            "the broker does not trust the client's certificate (mutual TLS): the broker's ssl.truststore lacks the client's CA"
        }
        ("bad_certificate" | "certificate_unknown", false) => {
            "the client rejected the broker's certificate: a hostname that does not match (ssl.endpoint.identification.algorithm), or a chain it cannot verify"
        }
        ("bad_certificate" | "certificate_unknown", true) => {
            "the broker rejected the client's certificate (ssl.client.auth=required), or none was sent"
        }
        ("certificate_expired", _) => "a certificate in the chain has expired",
        ("handshake_failure", _) => {
            "no cipher suite or protocol both sides accept (ssl.enabled.protocols, ssl.cipher.suites), or a required client certificate missing"
        }
        ("protocol_version", _) => {
            "the two sides share no TLS version (ssl.enabled.protocols, ssl.protocol)"
        }
        _ => return None,
    })
}

impl Detector for Tls {
    fn exchange(&mut self, _e: &Exchange, _cx: &Context<'_>) {}

    fn event(&mut self, ev: &Event, _cx: &Context<'_>) {
        let EventKind::Tls(t) = &ev.kind else {
            return;
        };
        let fatal = t
            .info
            .alerts
            .iter()
            .find(|a| a.level == 2 && a.description != CLOSE_NOTIFY);
        if let Some(a) = fatal
            && t.info.keys != KeyState::Found
        {
            self.add(t, Trouble::Alert(a.name, a.from != t.client_dir), ev);
        } else if !t.info.server_answered && t.info.handshake_seen {
            self.add(t, Trouble::Unanswered, ev);
        } else if let Some(why) = t.unread_reason() {
            self.add(t, Trouble::Unread(why), ev);
        }
        if t.decrypt_failures > 0 || t.resyncs > 0 {
            self.add(t, Trouble::Damaged, ev);
        }
        if let Some(c) = &t.info.server_cert
            && let Some(not_after) = c.not_after
        {
            let now = (ev.at.ts.as_nanos() / 1_000_000_000) as i64;
            if not_after < now {
                self.add(
                    t,
                    Trouble::Certificate(true, c.subject.clone(), not_after),
                    ev,
                );
            } else if not_after - now < EXPIRY_WARNING_DAYS * 86_400 {
                self.add(
                    t,
                    Trouble::Certificate(false, c.subject.clone(), not_after),
                    ev,
                );
            }
        }
    }

    fn findings(&self, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        for ((server, trouble), t) in &self.tallies {
            let n = t.count;
            let conns = format!("{n} TLS connection{}", plural_suffix(n));
            let session = {
                let mut parts: Vec<String> = t.versions.iter().map(|v| v.to_string()).collect();
                parts.extend(t.ciphers.iter().cloned());
                if !t.snis.is_empty() {
                    parts.push(format!("SNI {}", t.snis.join(", ")));
                }
                if parts.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", parts.join(", "))
                }
            };
            let mut f = match trouble {
                Trouble::Unread(why) => {
                    let mut f = Finding::new(
                        Severity::Warning,
                        "tls_unread",
                        format!(
                            "{conns} to {server} could not be read: {why}{session}; pass --keylog FILE with the clients' TLS secrets to decrypt them"
                        ),
                    );
                    f.details.push(
                        "key logs are written by SSLKEYLOGFILE (Java: a JVM agent), librdkafka's ssl.keylog.location, Go's tls.Config.KeyLogWriter and Python's SSLContext.keylog_filename; TLS 1.2 and 1.3 are read".to_string(),
                    );
                    if *why == "no keys for the session in the key log" {
                        f.details.push(
                            "the key log given has no secrets for these sessions: a key log of another run, or of another client".to_string(),
                        );
                    }
                    f
                }
                Trouble::Unanswered => Finding::new(
                    Severity::Error,
                    "tls_unanswered",
                    format!(
                        "{server} never answered {n} TLS ClientHello{}: the client could not start TLS (a plaintext listener on a TLS port, or a server that hangs)",
                        plural_suffix(n)
                    ),
                ),
                Trouble::Alert(name, from_server) => {
                    let mut f = Finding::new(
                        Severity::Error,
                        "tls_handshake_failed",
                        format!(
                            "{conns} to {server} failed in the handshake: the {} sent the fatal alert {name}{session}",
                            if *from_server { "server" } else { "client" }
                        ),
                    );
                    if let Some(hint) = alert_hint(name, *from_server) {
                        f.details.push(hint.to_string());
                    }
                    f
                }
                Trouble::Certificate(expired, subject, not_after) => {
                    let day = Timestamp::new(*not_after, 0).rfc3339();
                    let day = day.get(..10).unwrap_or(&day);
                    if *expired {
                        Finding::new(
                            Severity::Error,
                            "tls_cert_expired",
                            format!(
                                "the certificate of {server} (\"{subject}\") expired on {day}: clients that verify it cannot connect ({conns})"
                            ),
                        )
                    } else {
                        Finding::new(
                            Severity::Warning,
                            "tls_cert_expiring",
                            format!(
                                "the certificate of {server} (\"{subject}\") expires on {day}, within {EXPIRY_WARNING_DAYS} days of the capture ({conns})"
                            ),
                        )
                    }
                }
                Trouble::Damaged => Finding::new(
                    Severity::Warning,
                    "tls_damaged",
                    format!(
                        "{conns} to {server} lost TLS records: {} failed to decrypt, {} resynchronisation{} after bytes the capture lost; the Kafka messages in them are missing",
                        t.failures,
                        t.resyncs,
                        plural_suffix(t.resyncs)
                    ),
                ),
            };
            f.count = n;
            f.frames = t.frames.clone();
            f.streams = t.streams.clone();
            f.clients = t.clients.clone();
            f.broker(*server);
            if let Some(ts) = t.first {
                f.at(ts);
            }
            if let Some(ts) = t.last {
                f.at(ts);
            }
            out.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::analysis::findings::{Diagnoser, Severity};
    use crate::capture::{PacketRef, Timestamp};
    use crate::session::{Event, EventKind, TlsSession};
    use crate::tcp::Dir;
    use crate::tls::{CertInfo, KeyState, TlsInfo};

    /// A decrypted TLS 1.2 session seen at `now` whose certificate ends at
    /// `not_after` (Unix seconds).
    fn session(now: i64, not_after: i64) -> Event {
        Event {
            at: PacketRef {
                frame: 7,
                ts: Timestamp::new(now, 0),
            },
            stream: Some(0),
            kind: EventKind::Tls(Box::new(TlsSession {
                client: "127.0.0.1:5000".parse().unwrap(),
                server: "127.0.0.1:9093".parse().unwrap(),
                client_dir: Dir::AtoB,
                info: TlsInfo {
                    version: Some(0x0303),
                    keys: KeyState::Found,
                    handshake_seen: true,
                    server_answered: true,
                    server_cert: Some(CertInfo {
                        subject: "CN=broker".into(),
                        not_after: Some(not_after),
                    }),
                    ..TlsInfo::default()
                },
                kafka: true,
                decrypt_failures: 0,
                resyncs: 0,
                keylog_given: true,
            })),
        }
    }

    fn codes(ev: Event) -> Vec<(&'static str, Severity)> {
        let mut d = Diagnoser::new();
        d.observe_event(&ev);
        d.findings().iter().map(|f| (f.code, f.severity)).collect()
    }

    #[test]
    fn a_client_hello_never_answered_and_damaged_sessions() {
        let mut ev = session(1_800_000_000, 1_900_000_000);
        if let EventKind::Tls(t) = &mut ev.kind {
            t.info.server_answered = false;
            t.info.keys = KeyState::Unknown;
            t.info.version = None;
            t.info.server_cert = None;
        }
        assert_eq!(codes(ev), [("tls_unanswered", Severity::Error)]);
        let mut ev = session(1_800_000_000, 1_900_000_000);
        if let EventKind::Tls(t) = &mut ev.kind {
            t.decrypt_failures = 2;
            t.resyncs = 1;
        }
        assert_eq!(codes(ev), [("tls_damaged", Severity::Warning)]);
    }

    #[test]
    fn certificates_expired_or_expiring_are_findings() {
        let day = 86_400;
        let now = 1_800_000_000;
        assert_eq!(
            codes(session(now, now - day)),
            [("tls_cert_expired", Severity::Error)]
        );
        assert_eq!(
            codes(session(now, now + 10 * day)),
            [("tls_cert_expiring", Severity::Warning)]
        );
        assert!(codes(session(now, now + 100 * day)).is_empty());
    }
}
