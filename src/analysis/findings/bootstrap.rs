//! Bootstrap and version negotiation: clients that never complete
//! bootstrap, ApiVersions failing or looping, API versions the client wants
//! that the broker does not offer.
//!
//! How Kafka negotiates: a client's first request on a connection is
//! ApiVersions at the highest version it knows. A broker that does not know
//! that version answers UNSUPPORTED_VERSION with (since KIP-511) the
//! ApiVersions range it supports; the client retries at a version in it
//! (librdkafka: v0) and then uses, per API, the highest version both know.
//! So one UNSUPPORTED_VERSION followed by a lower version is normal; the same
//! version again, or nothing else ever sent, is a client stuck.
//!
//! Contract: no panic whatever the exchanges and events hold; per-client,
//! per-connection and per-broker tables have named limits (new keys past
//! them are not tracked).

use foldhash::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use crate::capture::Timestamp;
use crate::kafka::ApiKey;
use crate::kafka::errors::ErrorCode;
use crate::kafka::schema::views::ApiVersionsResponse;
use crate::session::{Body, Event, EventKind, Exchange, Status};
use crate::tcp::CloseReason;

use super::requests::client_key;
use super::{Context, Detector, Finding, MAX_FRAMES, Severity};
use crate::present::{duration, plural_suffix};

/// This family's detectors.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    vec![Box::new(Bootstrap::default())]
}

const UNSUPPORTED_VERSION: i16 = ErrorCode::UNSUPPORTED_VERSION.0;

/// The same ApiVersions version answered UNSUPPORTED_VERSION this many
/// times, with nothing else ever sent, is a loop: a negotiating client
/// falls back after the first one, so a third identical attempt is a client
/// repeating itself, not negotiating.
pub const LOOP_MIN_ATTEMPTS: u64 = 3;
/// Clients tracked.
pub const MAX_CLIENTS: usize = 4096;
/// Connections tracked (their negotiation state).
pub const MAX_STREAMS: usize = 65_536;
/// Brokers whose offered versions are kept.
pub const MAX_BROKERS: usize = 1024;
/// Largest ApiVersions answer kept per broker to recognise the same offer
/// again without reading it (a real one is under 1 KiB).
pub const MAX_OFFER_KEPT: usize = 4096;
/// (broker, API, version) triples used, tracked.
pub const MAX_USED: usize = 8192;
/// (API, outcome) pairs kept per client for the bootstrap summary.
pub const MAX_OUTCOMES: usize = 16;

/// APIs of the bootstrap itself: before the first of any other API
/// answered, a client has not started its work.
fn bootstrap_api(api: ApiKey) -> bool {
    matches!(
        api,
        ApiKey::METADATA
            | ApiKey::SASL_HANDSHAKE
            | ApiKey::API_VERSIONS
            | ApiKey::SASL_AUTHENTICATE
    )
}

#[derive(Default)]
struct Client {
    /// Connections carrying its requests (count) and some of them.
    conns: u64,
    streams: BTreeSet<u64>,
    brokers: BTreeSet<SocketAddr>,
    /// ApiVersions version → (answered UNSUPPORTED_VERSION, their frames,
    /// connections).
    av_unsupported: BTreeMap<i16, (u64, Vec<u64>, BTreeSet<u64>)>,
    av_total: u64,
    /// Requests of other APIs than ApiVersions.
    other_requests: u64,
    /// A response without error to anything but SaslHandshake.
    ok: bool,
    /// An answered request of a non-bootstrap API, or an answered Metadata.
    started: bool,
    /// A request answered with an error, or not answered.
    failures: u64,
    /// One of its connections ended before the capture did.
    ended: bool,
    /// ApiVersions re-sent at the version just refused, on the same connection.
    same_version_retries: u64,
    retry_frames: Vec<u64>,
    outcomes: BTreeMap<(ApiKey, &'static str), u64>,
    frames: Vec<u64>,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

#[derive(Default)]
struct Stream {
    client: String,
    /// The ApiVersions version last answered UNSUPPORTED_VERSION here.
    refused: Option<i16>,
}

#[derive(Default)]
struct Used {
    count: u64,
    frames: Vec<u64>,
    clients: BTreeSet<String>,
    refused: u64,
}

/// The detector: `apiversions_loop` (Error), `apiversions_retry` (Warning),
/// `apiversions_fallback` (Info), `bootstrap_incomplete` (Error),
/// `version_unsupported` (Error: answered UNSUPPORTED_VERSION; Warning: a
/// version outside the range the broker advertised).
#[derive(Default)]
pub struct Bootstrap {
    clients: HashMap<String, Client>,
    streams: HashMap<u64, Stream>,
    /// Per broker, API → (min, max) from its ApiVersions answers.
    offered: HashMap<SocketAddr, BTreeMap<i16, (i16, i16)>>,
    /// Per broker (those of `offered`), the body of its last offer when no
    /// larger than [`MAX_OFFER_KEPT`].
    last_offer: HashMap<SocketAddr, Box<[u8]>>,
    used: BTreeMap<(SocketAddr, i16, i16), Used>,
    /// (from, to) → a finding accumulating negotiations down.
    fallbacks: BTreeMap<(i16, i16), Finding>,
}

fn push_frame(v: &mut Vec<u64>, f: u64) {
    if v.len() < MAX_FRAMES && !v.contains(&f) {
        v.push(f);
    }
}

/// The versions an ApiVersions response offers, by API key (`None` for an
/// error response, whose list is not the broker's offer).
fn offered_ranges(body: &Body) -> Option<BTreeMap<i16, (i16, i16)>> {
    let r = body.view().map(ApiVersionsResponse)?;
    if r.error_code().unwrap_or(0) != 0 {
        return None;
    }
    let mut m = BTreeMap::new();
    for k in r.api_keys()? {
        if let (Some(a), Some(lo), Some(hi)) = (k.api_key(), k.min_version(), k.max_version()) {
            m.insert(a, (lo, hi));
        }
    }
    Some(m)
}

impl Detector for Bootstrap {
    fn exchange(&mut self, e: &Exchange, _cx: &Context<'_>) {
        let key = client_key(e);
        if !self.clients.contains_key(&key) && self.clients.len() >= MAX_CLIENTS {
            return;
        }
        let new_stream = !self.streams.contains_key(&e.stream);
        if new_stream && self.streams.len() < MAX_STREAMS {
            self.streams.insert(
                e.stream,
                Stream {
                    client: key.clone(),
                    refused: None,
                },
            );
        }
        let c = self.clients.entry(key.clone()).or_default();
        if new_stream {
            c.conns += 1;
        }
        if c.streams.len() < MAX_FRAMES {
            c.streams.insert(e.stream);
        }
        if c.brokers.len() < MAX_FRAMES {
            c.brokers.insert(e.broker);
        }
        push_frame(&mut c.frames, e.request.frame);
        c.first = Some(c.first.map_or(e.request.ts, |f| f.min(e.request.ts)));
        c.last = Some(c.last.map_or(e.request.ts, |l| l.max(e.request.ts)));
        let answered = e.response.is_some();
        let unsupported = e.errors.iter().any(|r| r.code == UNSUPPORTED_VERSION);
        let outcome: &'static str = match e.status {
            Status::Ok => "ok",
            Status::Error => e.errors.first().map_or("error", |r| r.name),
            Status::NoResponse(_) => "unanswered",
            Status::NoResponseExpected => "ok",
            Status::Malformed => "malformed",
        };
        if c.outcomes.len() < MAX_OUTCOMES || c.outcomes.contains_key(&(e.api_key, outcome)) {
            *c.outcomes.entry((e.api_key, outcome)).or_default() += 1;
        }
        match e.status {
            Status::Ok if e.api_key != ApiKey::SASL_HANDSHAKE => c.ok = true,
            Status::Error | Status::Malformed | Status::NoResponse(_) => c.failures += 1,
            _ => {}
        }
        if answered && (!bootstrap_api(e.api_key) || e.api_key == ApiKey::METADATA) {
            c.started = true;
        }
        let stream = self.streams.get_mut(&e.stream);
        if e.api_key == ApiKey::API_VERSIONS {
            c.av_total += 1;
            if let Some(s) = &stream
                && s.refused == Some(e.api_version)
            {
                c.same_version_retries += 1;
                push_frame(&mut c.retry_frames, e.request.frame);
            }
            if unsupported {
                let (n, frames, streams) = c.av_unsupported.entry(e.api_version).or_default();
                *n += 1;
                push_frame(frames, e.request.frame);
                if streams.len() < MAX_STREAMS {
                    streams.insert(e.stream);
                }
            }
            if let Some(s) = stream {
                if unsupported {
                    s.refused = Some(e.api_version);
                } else if e.status == Status::Ok
                    && let Some(from) = s.refused.take()
                    && e.api_version < from
                {
                    {
                        let f = self
                            .fallbacks
                            .entry((from, e.api_version))
                            .or_insert_with(|| {
                                Finding::new(Severity::Info, "apiversions_fallback", "")
                            });
                        f.count += 1;
                        f.frame(e.request.frame);
                        f.at(e.request.ts);
                        f.stream(e.stream);
                        f.client(&key);
                        f.broker(e.broker);
                    }
                }
            }
            // A broker answers every client alike: an offer the broker made
            // last time changes nothing (and is not read again).
            if let Some(body) = e.response_body.as_deref()
                && (self.offered.contains_key(&e.broker) || self.offered.len() < MAX_BROKERS)
                && self
                    .last_offer
                    .get(&e.broker)
                    .is_none_or(|last| **last != *body.bytes)
                && let Some(r) = offered_ranges(body)
            {
                self.offered.entry(e.broker).or_default().extend(r);
                if body.bytes.len() <= MAX_OFFER_KEPT {
                    self.last_offer.insert(e.broker, body.bytes.clone());
                } else {
                    self.last_offer.remove(&e.broker);
                }
            }
        } else {
            c.other_requests += 1;
            let k = (e.broker, e.api_key.0, e.api_version);
            if self.used.contains_key(&k) || self.used.len() < MAX_USED {
                let u = self.used.entry(k).or_default();
                u.count += 1;
                push_frame(&mut u.frames, e.request.frame);
                if u.clients.len() < MAX_FRAMES {
                    u.clients.insert(key);
                }
                if unsupported {
                    u.refused += 1;
                }
            }
        }
    }

    fn event(&mut self, ev: &Event, _cx: &Context<'_>) {
        if let EventKind::ConnectionClose { reason, .. } = ev.kind
            && !matches!(
                reason,
                CloseReason::CaptureEnd | CloseReason::Evicted | CloseReason::Reused
            )
            && let Some(s) = ev.stream.and_then(|s| self.streams.get(&s))
            && let Some(c) = self.clients.get_mut(&s.client)
        {
            c.ended = true;
        }
    }

    fn findings(&self, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let mut clients: Vec<_> = self.clients.iter().collect();
        clients.sort_by(|a, b| a.0.cmp(b.0));
        for (name, c) in clients {
            let brokers: Vec<String> = c.brokers.iter().map(|b| b.to_string()).collect();
            let span = match (c.first, c.last) {
                (Some(f), Some(l)) => l.micros_since(f),
                _ => 0,
            };
            let never_moved_on = c.other_requests == 0 && !c.ok;
            let mut looped = false;
            if never_moved_on {
                for (v, (n, frames, streams)) in &c.av_unsupported {
                    if *n < LOOP_MIN_ATTEMPTS {
                        continue;
                    }
                    looped = true;
                    let mut f = Finding::new(
                        Severity::Error,
                        "apiversions_loop",
                        format!(
                            "client {name} retried ApiVersions v{v} {n} times on {} connection{} to {} ({}); the broker answered UNSUPPORTED_VERSION {} and the client never sent another request",
                            streams.len(),
                            plural_suffix(streams.len() as u64),
                            if brokers.len() == 1 {
                                "broker".to_string()
                            } else {
                                format!("{} brokers", brokers.len())
                            },
                            brokers.join(", "),
                            if *n == c.av_total {
                                "every time"
                            } else {
                                "each of those times"
                            },
                        ),
                    );
                    f.count = *n;
                    f.frames = frames.clone();
                    f.streams = c.streams.iter().copied().collect();
                    f.clients.push(name.clone());
                    f.brokers = c.brokers.iter().copied().collect();
                    f.first = c.first;
                    f.last = c.last;
                    f.details.push(format!(
                        "over {}: the client never got past bootstrap (no Metadata, nothing produced or fetched)",
                        duration(span)
                    ));
                    f.details.push(
                        "the broker's UNSUPPORTED_VERSION answer carries the ApiVersions versions it supports (KIP-511); a client should retry at one of them (librdkafka falls back to v0) — this one does not: upgrade it or pin its api_version to the broker's".to_string(),
                    );
                    if let Some(max) = self
                        .offered
                        .values()
                        .filter_map(|m| m.get(&ApiKey::API_VERSIONS.0))
                        .map(|r| r.1)
                        .max()
                    {
                        f.details.push(format!(
                            "other connections show these brokers offer ApiVersions up to v{max}"
                        ));
                    }
                    out.push(f);
                }
            }
            if !looped && c.same_version_retries > 0 {
                let mut f = Finding::new(
                    Severity::Warning,
                    "apiversions_retry",
                    format!(
                        "client {name} re-sent the same ApiVersions version {} time{} on a connection right after the broker answered it UNSUPPORTED_VERSION",
                        c.same_version_retries,
                        plural_suffix(c.same_version_retries)
                    ),
                );
                f.count = c.same_version_retries;
                f.frames = c.retry_frames.clone();
                f.clients.push(name.clone());
                f.brokers = c.brokers.iter().copied().collect();
                out.push(f);
            }
            if !looped && !c.started && !c.ok && c.failures > 0 && c.ended {
                let what: Vec<String> = c
                    .outcomes
                    .iter()
                    .map(|((api, o), n)| format!("{} {} {}", n, api.name(), o))
                    .collect();
                let mut f = Finding::new(
                    Severity::Error,
                    "bootstrap_incomplete",
                    format!(
                        "client {name} never completed bootstrap: {} connection{} to {} over {}, and no request was answered successfully ({})",
                        c.conns,
                        plural_suffix(c.conns),
                        brokers.join(", "),
                        duration(span),
                        what.join(", ")
                    ),
                );
                f.count = c.conns;
                f.frames = c.frames.clone();
                f.streams = c.streams.iter().copied().collect();
                f.clients.push(name.clone());
                f.brokers = c.brokers.iter().copied().collect();
                f.first = c.first;
                f.last = c.last;
                out.push(f);
            }
        }
        for ((from, to), f) in &self.fallbacks {
            let mut f = f.clone();
            f.title = format!(
                "ApiVersions negotiated down on {} connection{} ({} client{}): v{from} answered UNSUPPORTED_VERSION, then v{to} accepted — normal version negotiation",
                f.count,
                plural_suffix(f.count),
                f.clients.len(),
                plural_suffix(f.clients.len() as u64),
            );
            f.details.push(format!("clients: {}", f.clients.join(", ")));
            out.push(f);
        }
        // Versions the broker does not offer.
        let mut refused: BTreeMap<(i16, i16), Finding> = BTreeMap::new();
        for ((broker, api, ver), u) in &self.used {
            let range = self.offered.get(broker).map(|m| m.get(api).copied());
            let outside = match range {
                Some(None) => true,
                Some(Some((lo, hi))) => *ver < lo || *ver > hi,
                None => false,
            };
            if u.refused == 0 && !outside {
                continue;
            }
            let sev = if u.refused > 0 {
                Severity::Error
            } else {
                Severity::Warning
            };
            let f = refused
                .entry((*api, *ver))
                .or_insert_with(|| Finding::new(sev, "version_unsupported", ""));
            f.severity = f.severity.max(sev);
            f.count += u.count;
            for fr in &u.frames {
                f.frame(*fr);
            }
            f.broker(*broker);
            for c in &u.clients {
                f.client(c);
            }
            let offer = match range {
                Some(Some((lo, hi))) => format!("v{lo}–v{hi}"),
                Some(None) => "none".to_string(),
                None => "unknown".to_string(),
            };
            f.details.push(format!(
                "{broker}: {} request{} at v{ver}, {} answered UNSUPPORTED_VERSION; it advertises {} {offer}",
                u.count,
                plural_suffix(u.count),
                u.refused,
                ApiKey(*api).name()
            ));
        }
        for ((api, ver), mut f) in refused {
            let api = ApiKey(api);
            let brokers: Vec<String> = f.brokers.iter().map(|b| b.to_string()).collect();
            f.title = if f.severity == Severity::Error {
                format!(
                    "{} sent {} v{ver} {} time{} to {}, which answered UNSUPPORTED_VERSION",
                    f.clients.join(", "),
                    api.name(),
                    f.count,
                    plural_suffix(f.count),
                    brokers.join(", ")
                )
            } else {
                format!(
                    "{} sent {} v{ver} {} time{} to {}, outside the versions that broker advertises in ApiVersions",
                    f.clients.join(", "),
                    api.name(),
                    f.count,
                    plural_suffix(f.count),
                    brokers.join(", ")
                )
            };
            out.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::requests::tests::{Either, body, close, encode, ex, run};
    use super::*;
    use crate::kafka::schema::MessageKind;
    use crate::session::ErrorRef;

    const METADATA: i16 = ApiKey::METADATA.0;
    const API_VERSIONS: i16 = ApiKey::API_VERSIONS.0;

    fn av(stream: u64, ver: i16, client: &str, broker: u16, ms: i64, refused: bool) -> Exchange {
        let mut e = ex(stream, API_VERSIONS, ver, client, broker, ms, Some(ms + 1));
        if refused {
            e.status = Status::Error;
            e.errors = vec![ErrorRef {
                code: UNSUPPORTED_VERSION,
                name: "UNSUPPORTED_VERSION",
                path: "errorCode".into(),
            }];
        }
        e
    }

    #[test]
    fn loop_detected() {
        let mut items = Vec::new();
        for i in 0..5u64 {
            items.push(Either::E(av(
                i,
                4,
                "py",
                9092 + (i % 2) as u16,
                i as i64 * 100,
                true,
            )));
            items.push(Either::V(close(i, i as i64 * 100 + 5, CloseReason::Fin)));
        }
        let f = run(&mut Bootstrap::default(), &items);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].code, "apiversions_loop");
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].count, 5);
        assert_eq!(
            f[0].title,
            "client py retried ApiVersions v4 5 times on 5 connections to 2 brokers (127.0.0.1:9092, 127.0.0.1:9093); the broker answered UNSUPPORTED_VERSION every time and the client never sent another request"
        );
        assert_eq!(f[0].frames, vec![1, 101, 201, 301, 401]);
    }

    #[test]
    fn fallback_is_info() {
        let items = vec![
            Either::E(av(0, 3, "rd", 9092, 0, true)),
            Either::E(av(0, 0, "rd", 9092, 10, false)),
            Either::E(ex(0, METADATA, 12, "rd", 9092, 20, Some(21))),
        ];
        let f = run(&mut Bootstrap::default(), &items);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].code, "apiversions_fallback");
        assert_eq!(f[0].severity, Severity::Info);
    }

    #[test]
    fn same_version_retry_then_progress() {
        let items = vec![
            Either::E(av(0, 3, "rd", 9092, 0, true)),
            Either::E(av(0, 3, "rd", 9092, 10, true)),
            Either::E(av(0, 2, "rd", 9092, 20, false)),
            Either::E(ex(0, METADATA, 12, "rd", 9092, 30, Some(31))),
        ];
        let f = run(&mut Bootstrap::default(), &items);
        let codes: Vec<_> = f.iter().map(|f| f.code).collect();
        assert_eq!(codes, ["apiversions_retry", "apiversions_fallback"]);
    }

    #[test]
    fn versions_outside_the_offer() {
        use kafka_protocol::messages as kp;
        use kp::api_versions_response::ApiVersion;
        let offer = |key: ApiKey, lo: i16, hi: i16| {
            ApiVersion::default()
                .with_api_key(key.0)
                .with_min_version(lo)
                .with_max_version(hi)
        };
        let answer = kp::ApiVersionsResponse::default().with_api_keys(vec![
            offer(ApiKey::METADATA, 0, 12),
            offer(ApiKey::API_VERSIONS, 0, 3),
        ]);
        let mut a = av(0, 3, "c", 9092, 0, false);
        a.response_body = body(
            ApiKey::API_VERSIONS,
            3,
            MessageKind::Response,
            &encode(&answer, 3),
        );
        let items = [
            Either::E(a),
            Either::E(ex(0, METADATA, 13, "c", 9092, 10, Some(11))),
        ];
        let f = run(&mut Bootstrap::default(), &items);
        let v: Vec<_> = f
            .iter()
            .filter(|f| f.code == "version_unsupported")
            .collect();
        assert_eq!(v.len(), 1, "{f:?}");
        assert_eq!(v[0].severity, Severity::Warning);
        assert!(v[0].details[0].contains("v0–v12"), "{:?}", v[0].details);
        // An error response (the v0 layout a broker answers a version it
        // does not know with) is no offer: the same Metadata is not judged.
        let refusal = kp::ApiVersionsResponse::default()
            .with_error_code(UNSUPPORTED_VERSION)
            .with_api_keys(vec![offer(ApiKey::API_VERSIONS, 0, 2)]);
        let mut a = av(0, 3, "c", 9092, 0, true);
        a.response_body = body(
            ApiKey::API_VERSIONS,
            3,
            MessageKind::Response,
            &encode(&refusal, 0),
        );
        let items = [
            Either::E(a),
            Either::E(ex(0, METADATA, 13, "c", 9092, 10, Some(11))),
        ];
        let f = run(&mut Bootstrap::default(), &items);
        assert!(f.iter().all(|f| f.code != "version_unsupported"), "{f:?}");
    }

    #[test]
    fn unanswered_metadata_never_bootstraps() {
        let mut m = ex(0, METADATA, 12, "c", 9092, 10, None);
        m.status = Status::NoResponse(crate::session::NoResponseReason::ConnectionClosed);
        let items = vec![
            Either::E(av(0, 3, "c", 9092, 0, false)),
            Either::E(m),
            Either::V(close(0, 40_000, CloseReason::Fin)),
        ];
        let f = run(&mut Bootstrap::default(), &items);
        // ApiVersions answered OK: the broker talked; not "never completed".
        assert!(f.iter().all(|f| f.code != "bootstrap_incomplete"));
        let mut m = ex(0, METADATA, 12, "c", 9092, 10, None);
        m.status = Status::NoResponse(crate::session::NoResponseReason::ConnectionClosed);
        let f = run(
            &mut Bootstrap::default(),
            &[Either::E(m), Either::V(close(0, 40_000, CloseReason::Fin))],
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, "bootstrap_incomplete");
        assert!(
            f[0].title.contains("1 Metadata unanswered"),
            "{}",
            f[0].title
        );
    }
}
