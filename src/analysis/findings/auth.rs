//! Authentication: SASL logins that fail, mechanisms a broker does not
//! enable, handshakes and authentications a broker never answers, and
//! re-authentication (KIP-368).
//!
//! How Kafka authenticates over SASL: on a new connection, after
//! ApiVersions, the client sends SaslHandshake naming a mechanism; the
//! broker answers with the mechanisms it enables (UNSUPPORTED_SASL_MECHANISM
//! when the one asked for is not among them). Then SaslAuthenticate
//! carries the mechanism's messages (PLAIN: one; SCRAM: client-first,
//! server-first, client-final, server-final; OAUTHBEARER: one, or an error
//! and the client's abort). A failed login is SASL_AUTHENTICATION_FAILED
//! (58) with an error message; SCRAM's server may also say why in its
//! final message (`e=unknown-user`, `e=invalid-proof`), and some brokers
//! (tansu) answer error code 0 with only that, which clients must read to
//! notice. Since KIP-368 a client re-authenticates on a live connection
//! before `sessionLifetimeMs` runs out.
//!
//! Findings name the client, the principal (the user name the client sent;
//! never a secret) and the broker.
//!
//! Contract: no panic whatever the exchanges hold; the per-connection and
//! per-failure tables have named limits (new keys past them are not
//! tracked).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use foldhash::HashMap;

use crate::capture::Timestamp;
use crate::kafka::ApiKey;
use crate::kafka::embedded::{Mechanism, SaslMessage};
use crate::kafka::errors::ErrorCode;
use crate::kafka::schema::views::{
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use crate::session::{Body, Event, EventKind, Exchange, Status};

use super::requests::client_key;
use super::{Context, Detector, Finding, MAX_FRAMES, Severity, push_bounded};
use crate::present::duration;
use crate::present::plural_suffix;

/// This family's detectors.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    vec![Box::new(Auth::default())]
}

/// Connections whose SASL state is tracked.
pub const MAX_STREAMS: usize = 65_536;
/// Distinct failures (broker, mechanism, user, reason) kept.
pub const MAX_FAILURES: usize = 1024;
/// Clients named per failure.
const MAX_CLIENTS: usize = 8;

/// The SASL state of one connection.
#[derive(Default)]
struct Conn {
    /// The mechanism the client asked for in SaslHandshake.
    mechanism: Option<String>,
    /// The user its last PLAIN or SCRAM client-first message named.
    user: Option<String>,
    /// Logins that succeeded on it.
    logins: u32,
    /// When the first login succeeded, and the latest.
    first_login: Option<Timestamp>,
    last_login: Option<Timestamp>,
    /// The broker's `sessionLifetimeMs` (0: no re-authentication asked).
    lifetime_ms: i64,
    /// A request of another API after a login (re-authentication is a
    /// login after such traffic).
    used: bool,
    /// OAUTHBEARER's error status (RFC 7628: sent with error code 0 as a
    /// challenge, the client aborts, then the broker fails the login),
    /// waiting for that failure: the exchange and the reason.
    oauth_error: Option<(Attempt, String)>,
    /// The mechanism's name for that pending failure.
    oauth_mechanism: Option<String>,
}

/// What a finding keeps of a login attempt (not the exchange: its bodies
/// may be large).
struct Attempt {
    /// The response's frame (the request's when unanswered).
    frame: u64,
    stream: u64,
    client: String,
    broker: SocketAddr,
    ts: Timestamp,
}

impl Attempt {
    fn of(e: &Exchange) -> Attempt {
        Attempt {
            frame: e.response.as_ref().map_or(e.request.frame, |r| r.frame),
            stream: e.stream,
            client: client_key(e),
            broker: e.broker,
            ts: e.request.ts,
        }
    }
}

/// What went wrong, as a finding groups it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Trouble {
    /// A login refused: the reason the broker gave.
    Failed(String),
    /// The mechanism asked for is not enabled: what the broker offers.
    Mechanism(Vec<String>),
    /// SaslHandshake (true) or SaslAuthenticate (false) never answered.
    Unanswered(bool),
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    trouble: Trouble,
    broker: SocketAddr,
    mechanism: String,
    user: Option<String>,
}

#[derive(Default)]
struct Tally {
    count: u64,
    frames: Vec<u64>,
    streams: Vec<u64>,
    clients: Vec<String>,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    /// The broker answered error code 0 while its SASL message said the
    /// login failed.
    code_zero: bool,
}

/// Re-authentications seen on one broker.
#[derive(Default)]
struct Reauth {
    count: u64,
    connections: u64,
    lifetime_ms: i64,
    /// Shortest and longest time between two logins on one connection.
    min_us: Option<i64>,
    max_us: Option<i64>,
    frames: Vec<u64>,
    clients: Vec<String>,
}

/// `auth_failed`, `auth_mechanism`, `auth_unanswered` (Error) and
/// `reauthentication` (Info).
#[derive(Default)]
pub struct Auth {
    conns: HashMap<u64, Conn>,
    failures: BTreeMap<Key, Tally>,
    reauth: BTreeMap<SocketAddr, Reauth>,
}

/// The mechanism's name as the handshake named it (SCRAM-SHA-256 and -512
/// look alike on the wire), else as recognised from the messages.
fn mechanism_name(conn: &Conn, body: Option<&Body>) -> String {
    if let Some(m) = &conn.mechanism {
        return m.clone();
    }
    body.and_then(|b| b.embedded.iter().find_map(|(_, e)| e.sasl()))
        .map_or("SASL", |(m, _)| m.as_str())
        .to_string()
}

impl Auth {
    fn conn(&mut self, stream: u64) -> Option<&mut Conn> {
        if !self.conns.contains_key(&stream) && self.conns.len() >= MAX_STREAMS {
            return None;
        }
        Some(self.conns.entry(stream).or_default())
    }

    fn fail(&mut self, key: Key, e: &Exchange, code_zero: bool) {
        self.fail_attempt(key, Attempt::of(e), code_zero);
    }

    fn fail_attempt(&mut self, key: Key, a: Attempt, code_zero: bool) {
        if !self.failures.contains_key(&key) && self.failures.len() >= MAX_FAILURES {
            return;
        }
        let t = self.failures.entry(key).or_default();
        t.count += 1;
        push_bounded(&mut t.frames, a.frame, MAX_FRAMES);
        push_bounded(&mut t.streams, a.stream, MAX_FRAMES);
        push_bounded(&mut t.clients, a.client, MAX_CLIENTS);
        let ts = a.ts;
        t.first = Some(t.first.map_or(ts, |f| f.min(ts)));
        t.last = Some(t.last.map_or(ts, |l| l.max(ts)));
        t.code_zero |= code_zero;
    }

    fn handshake(&mut self, e: &Exchange) {
        let asked = e
            .request_body
            .as_deref()
            .and_then(|b| b.view().map(SaslHandshakeRequest))
            .and_then(|r| r.mechanism())
            .map(str::to_string);
        let Some(c) = self.conn(e.stream) else {
            return;
        };
        if asked.is_some() {
            c.mechanism = asked.clone();
        }
        let mechanism = asked.unwrap_or_else(|| "SASL".to_string());
        let key = |trouble| Key {
            trouble,
            broker: e.broker,
            mechanism: mechanism.clone(),
            user: None,
        };
        if let Status::NoResponse(_) = e.status {
            self.fail(key(Trouble::Unanswered(true)), e, false);
            return;
        }
        let Some(r) = e
            .response_body
            .as_deref()
            .and_then(|b| b.view().map(SaslHandshakeResponse))
        else {
            return;
        };
        if r.error_code() == Some(ErrorCode::UNSUPPORTED_SASL_MECHANISM.0) {
            let offered = r
                .mechanisms()
                .into_iter()
                .flatten()
                .flatten()
                .map(str::to_string)
                .collect();
            self.fail(key(Trouble::Mechanism(offered)), e, false);
        }
    }

    fn authenticate(&mut self, e: &Exchange) {
        let request = e.request_body.as_deref();
        let user = request
            .and_then(|b| b.embedded.iter().find_map(|(_, m)| m.sasl_user()))
            .map(str::to_string);
        let Some(c) = self.conn(e.stream) else {
            return;
        };
        if user.is_some() {
            c.user = user;
        }
        let mechanism = mechanism_name(c, request);
        let user = c.user.clone();
        let key = |trouble| Key {
            trouble,
            broker: e.broker,
            mechanism: mechanism.clone(),
            user: user.clone(),
        };
        if let Status::NoResponse(_) = e.status {
            self.fail(key(Trouble::Unanswered(false)), e, false);
            return;
        }
        let Some(body) = e.response_body.as_deref() else {
            return;
        };
        let r = body.view().map(SaslAuthenticateResponse);
        let code = r.and_then(|r| r.error_code()).unwrap_or(0);
        let sasl_error = body.embedded.iter().find_map(|(_, m)| m.sasl_error());
        // OAUTHBEARER's failure comes in two steps (the status, the abort's
        // SASL_AUTHENTICATION_FAILED): one login, told with the status.
        let oauth = body
            .embedded
            .iter()
            .find_map(|(_, m)| m.sasl())
            .is_some_and(|(m, _)| m == Mechanism::OAuthBearer);
        let pending = self
            .conns
            .get_mut(&e.stream)
            .and_then(|c| c.oauth_error.take());
        if code != 0 {
            let why = pending
                .map(|(_, why)| why)
                .or_else(|| {
                    r.and_then(|r| r.error_message())
                        .filter(|m| !m.is_empty())
                        .map(str::to_string)
                })
                .or_else(|| sasl_error.map(str::to_string))
                .unwrap_or_else(|| ErrorCode(code).name().to_string());
            self.fail(key(Trouble::Failed(why)), e, false);
            return;
        }
        if let Some(why) = sasl_error {
            if oauth && let Some(c) = self.conns.get_mut(&e.stream) {
                c.oauth_error = Some((Attempt::of(e), why.to_string()));
                c.oauth_mechanism = Some(mechanism.clone());
                return;
            }
            self.fail(key(Trouble::Failed(why.to_string())), e, true);
            return;
        }
        // A login completes with SCRAM's server-final message or PLAIN's
        // (or OAUTHBEARER's) one answered without error.
        let done = match request.and_then(|b| b.embedded.iter().find_map(|(_, m)| m.sasl())) {
            Some((Mechanism::Scram, SaslMessage::ClientFinal)) => true,
            Some((Mechanism::Scram, _)) => false,
            Some(_) => true,
            None => body.embedded.iter().any(|(_, m)| {
                m.sasl()
                    .is_some_and(|(_, msg)| msg == SaslMessage::ServerFinal)
            }),
        };
        if !done {
            return;
        }
        let Some(c) = self.conns.get_mut(&e.stream) else {
            return;
        };
        let ts = e.request.ts;
        let again = c.logins > 0 && c.used;
        let since = c.last_login.map(|l| ts.micros_since(l));
        c.logins = c.logins.saturating_add(1);
        c.first_login.get_or_insert(ts);
        c.last_login = Some(ts);
        c.used = false;
        if let Some(l) = r.and_then(|r| r.session_lifetime_ms()) {
            c.lifetime_ms = l;
        }
        let lifetime = c.lifetime_ms;
        if again {
            let ra = self.reauth.entry(e.broker).or_default();
            ra.count += 1;
            if c.logins == 2 {
                ra.connections += 1;
            }
            ra.lifetime_ms = ra.lifetime_ms.max(lifetime);
            if let Some(us) = since {
                ra.min_us = Some(ra.min_us.map_or(us, |m| m.min(us)));
                ra.max_us = Some(ra.max_us.map_or(us, |m| m.max(us)));
            }
            push_bounded(&mut ra.frames, e.request.frame, MAX_FRAMES);
            push_bounded(&mut ra.clients, client_key(e), MAX_CLIENTS);
        }
    }
}

impl Detector for Auth {
    fn exchange(&mut self, e: &Exchange, _cx: &Context<'_>) {
        match e.api_key {
            ApiKey::SASL_HANDSHAKE => self.handshake(e),
            ApiKey::SASL_AUTHENTICATE => self.authenticate(e),
            ApiKey::API_VERSIONS => {}
            _ => {
                if let Some(c) = self.conns.get_mut(&e.stream) {
                    c.used |= c.logins > 0;
                }
            }
        }
    }

    fn event(&mut self, ev: &Event, _cx: &Context<'_>) {
        if let (EventKind::ConnectionClose { .. }, Some(s)) = (&ev.kind, ev.stream)
            && let Some(mut c) = self.conns.remove(&s)
            && let Some((a, why)) = c.oauth_error.take()
        {
            // The client left after OAUTHBEARER's error status.
            let key = Key {
                trouble: Trouble::Failed(why),
                broker: a.broker,
                mechanism: c.oauth_mechanism.take().unwrap_or_default(),
                user: c.user.clone(),
            };
            self.fail_attempt(key, a, false);
        }
    }

    fn findings(&self, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        for (k, t) in &self.failures {
            let who = match &k.user {
                Some(u) => format!(" as {u}"),
                None => String::new(),
            };
            let (code, title) = match &k.trouble {
                Trouble::Failed(why) => (
                    "auth_failed",
                    format!(
                        "{} {} login{}{who} failed at broker {}: {why}",
                        t.count,
                        k.mechanism,
                        plural_suffix(t.count),
                        k.broker
                    ),
                ),
                Trouble::Mechanism(offered) => (
                    "auth_mechanism",
                    format!(
                        "broker {} does not enable {} ({} handshake{} refused); it offers {}",
                        k.broker,
                        k.mechanism,
                        t.count,
                        plural_suffix(t.count),
                        if offered.is_empty() {
                            "none".to_string()
                        } else {
                            offered.join(", ")
                        }
                    ),
                ),
                Trouble::Unanswered(handshake) => (
                    "auth_unanswered",
                    format!(
                        "broker {} never answered {} {} {}{who} before the connection closed",
                        k.broker,
                        t.count,
                        k.mechanism,
                        match (handshake, t.count) {
                            (true, 1) => "SaslHandshake",
                            (true, _) => "SaslHandshakes",
                            (false, 1) => "SaslAuthenticate",
                            (false, _) => "SaslAuthenticates",
                        }
                    ),
                ),
            };
            let mut f = Finding::new(Severity::Error, code, title);
            f.count = t.count;
            f.frames = t.frames.clone();
            f.streams = t.streams.clone();
            f.clients = t.clients.clone();
            f.broker(k.broker);
            if let Some(ts) = t.first {
                f.at(ts);
            }
            if let Some(ts) = t.last {
                f.at(ts);
            }
            if t.code_zero {
                f.details.push(format!(
                    "the broker answered error code 0 and said why only in its {} message; Kafka's brokers answer SASL_AUTHENTICATION_FAILED (58), which clients act on",
                    k.mechanism
                ));
            }
            if let Trouble::Failed(why) = &k.trouble
                && why == "unknown-user"
            {
                f.details.push(format!(
                    "the broker has no {} credentials for {}: they are created with AlterUserScramCredentials (kafka-configs --alter --add-config '{}=[password=…]' --entity-type users --entity-name …)",
                    k.mechanism,
                    k.user.as_deref().unwrap_or("this user"),
                    if k.mechanism.starts_with("SCRAM-") {
                        k.mechanism.as_str()
                    } else {
                        "SCRAM-SHA-256"
                    }
                ));
            }
            out.push(f);
        }
        for (broker, r) in &self.reauth {
            let mut f = Finding::new(
                Severity::Info,
                "reauthentication",
                format!(
                    "clients re-authenticated {} time{} on {} connection{} to broker {broker} (KIP-368){}",
                    r.count,
                    plural_suffix(r.count),
                    r.connections,
                    plural_suffix(r.connections),
                    match (r.min_us.map(duration), r.max_us.map(duration)) {
                        (Some(a), Some(b)) if a == b => format!(", every {a}"),
                        (Some(a), Some(b)) => format!(", every {a} to {b}"),
                        _ => String::new(),
                    }
                ),
            );
            if r.lifetime_ms > 0 {
                f.details.push(format!(
                    "the broker's sessionLifetimeMs is {} ms (connections.max.reauth.ms)",
                    r.lifetime_ms
                ));
            }
            f.count = r.count;
            f.frames = r.frames.clone();
            f.clients = r.clients.clone();
            f.broker(*broker);
            out.push(f);
        }
    }
}
