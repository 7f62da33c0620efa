//! The Kafka connections: who talks to which broker, as which client id and
//! software, how much, how it ended, and what the capture lost of it. Fed
//! the exchanges ([`Connections::observe_exchange`]) and the events
//! ([`Connections::observe_event`]) in the order the analyzer emits them;
//! read by the TUI's Connections view and the findings.
//!
//! Contract:
//! * **No panic**, whatever the records hold, in whatever order they come
//!   (an exchange of a stream whose `connection_open` was never seen makes
//!   the entry; events of an unknown stream other than `connection_open`
//!   and `connection_close` are ignored).
//! * **Bounded**: at most [`MAX_CONNECTIONS`] entries; to make room the
//!   oldest closed connection is dropped, else the oldest one, and drops are
//!   counted ([`Connections::dropped`]). Per connection, request counts are
//!   kept for [`MAX_APIS_PER_CONN`] API keys (the rest summed), and strings
//!   are cut at [`MAX_STR_LEN`] bytes.
//! * **Incremental**: each call is a map lookup and a few additions.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use crate::capture::Timestamp;
use crate::kafka::ApiKey;
use crate::kafka::schema::views::ApiVersionsRequest;
use crate::session::{Body, DetectedBy, Event, EventKind, Exchange, Status};
use crate::tcp::CloseReason;

/// Most connections kept.
pub const MAX_CONNECTIONS: usize = 16_384;
/// API keys whose requests are counted per connection.
pub const MAX_APIS_PER_CONN: usize = 8;
/// Longest client id or software name/version kept, in bytes.
pub const MAX_STR_LEN: usize = 256;

/// Where a connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    Open,
    /// FIN both ways.
    Closed,
    /// RST.
    Reset,
    /// Silent for the idle timeout.
    Idle,
    /// Evicted to stay within the flow limit.
    Evicted,
    /// Still open when the capture ended.
    CaptureEnd,
    /// A new connection took its address pair over (its close not captured).
    Reused,
}

impl ConnState {
    pub fn from_close(r: CloseReason) -> Self {
        match r {
            CloseReason::Fin => ConnState::Closed,
            CloseReason::Reset => ConnState::Reset,
            CloseReason::Idle => ConnState::Idle,
            CloseReason::Evicted => ConnState::Evicted,
            CloseReason::CaptureEnd => ConnState::CaptureEnd,
            CloseReason::Reused => ConnState::Reused,
        }
    }

    pub fn is_open(self) -> bool {
        self == ConnState::Open
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::Open => "open",
            ConnState::Closed => "closed",
            ConnState::Reset => "reset",
            ConnState::Idle => "idle",
            ConnState::Evicted => "evicted",
            ConnState::CaptureEnd => "capture_end",
            ConnState::Reused => "reused",
        }
    }
}

/// One Kafka connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnStats {
    /// The TCP connection's index in capture order.
    pub stream: u64,
    pub client: SocketAddr,
    pub broker: SocketAddr,
    /// The first client id sent on it.
    pub client_id: Option<Arc<str>>,
    /// `(clientSoftwareName, clientSoftwareVersion)` of an ApiVersions v3+
    /// request.
    pub software: Option<(String, String)>,
    /// The connection's start was captured (SYN); false when the capture
    /// joined it mid-stream, or when no `connection_open` was seen.
    pub handshake_seen: bool,
    /// How it was recognised as Kafka (from `connection_open`).
    pub detected_by: Option<DetectedBy>,
    pub requests: u64,
    pub answered: u64,
    /// Answered with a non-zero error code: an error, or a negotiation's
    /// expected answer the client did not follow with a successful retry
    /// on this connection by its close.
    pub errors: u64,
    /// Negotiations (ApiVersions answered UNSUPPORTED_VERSION, JoinGroup
    /// v4+ MEMBER_ID_REQUIRED) followed by a successful request of the same
    /// API on this connection (KIP-511, KIP-394): not errors.
    pub negotiations: u64,
    /// Negotiation answers not yet followed by that success: errors if the
    /// connection closes first.
    pub pending_negotiations: u64,
    pub no_response: u64,
    /// Size prefix + 4, summed.
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// The first packet: of `connection_open`, else of the first request.
    pub first_frame: u64,
    pub first_ts: Timestamp,
    /// The latest time seen on it (message or event).
    pub last_ts: Timestamp,
    pub state: ConnState,
    /// Gaps (bytes the capture lost), either direction.
    pub gaps: u64,
    /// Bytes in those gaps.
    pub lost_bytes: u64,
    /// Framing found again after losing it.
    pub resyncs: u64,
    /// Other events on it (orphan responses, duplicate correlation ids,
    /// decode errors…).
    pub other_events: u64,
    /// Requests per API key, for the first [`MAX_APIS_PER_CONN`] keys seen
    /// (most requests first: see [`ConnStats::top_apis`]).
    pub apis: Vec<(ApiKey, u64)>,
    /// Requests of other keys.
    pub other_api_requests: u64,
}

impl ConnStats {
    fn new(stream: u64, client: SocketAddr, broker: SocketAddr, frame: u64, ts: Timestamp) -> Self {
        ConnStats {
            stream,
            client,
            broker,
            client_id: None,
            software: None,
            handshake_seen: false,
            detected_by: None,
            requests: 0,
            answered: 0,
            errors: 0,
            negotiations: 0,
            pending_negotiations: 0,
            no_response: 0,
            request_bytes: 0,
            response_bytes: 0,
            first_frame: frame,
            first_ts: ts,
            last_ts: ts,
            state: ConnState::Open,
            gaps: 0,
            lost_bytes: 0,
            resyncs: 0,
            other_events: 0,
            apis: Vec::new(),
            other_api_requests: 0,
        }
    }

    /// The `n` API keys with most requests, most first (ties by key).
    pub fn top_apis(&self, n: usize) -> Vec<(ApiKey, u64)> {
        let mut v = self.apis.clone();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    fn touch(&mut self, ts: Timestamp) {
        self.last_ts = self.last_ts.max(ts);
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "stream": self.stream,
            "client": self.client.to_string(),
            "broker": self.broker.to_string(),
            "client_id": self.client_id.as_deref(),
            "software": self.software.as_ref().map(|(n, v)| serde_json::json!({"name": n, "version": v})),
            "handshake_seen": self.handshake_seen,
            "detected_by": self.detected_by.map(DetectedBy::as_str),
            "state": self.state.as_str(),
            "requests": self.requests,
            "answered": self.answered,
            "errors": self.errors,
            "no_response": self.no_response,
            "request_bytes": self.request_bytes,
            "response_bytes": self.response_bytes,
            "first_frame": self.first_frame,
            "first_ts": self.first_ts.rfc3339(),
            "last_ts": self.last_ts.rfc3339(),
            "gaps": self.gaps,
            "lost_bytes": self.lost_bytes,
            "resyncs": self.resyncs,
            "other_events": self.other_events,
            "apis": self.top_apis(MAX_APIS_PER_CONN).iter()
                .map(|(k, n)| serde_json::json!({"api_key": k.0, "api_name": k.name(), "requests": n}))
                .collect::<Vec<_>>(),
            "other_api_requests": self.other_api_requests,
        })
    }
}

fn cut(s: &str) -> &str {
    if s.len() <= MAX_STR_LEN {
        return s;
    }
    let mut end = MAX_STR_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The Kafka connections of a capture. See the module doc.
#[derive(Clone, Debug, Default)]
pub struct Connections {
    conns: BTreeMap<u64, ConnStats>,
    /// Streams of `conns` no longer open, for eviction.
    closed: BTreeSet<u64>,
    dropped: u64,
}

impl Connections {
    pub fn new() -> Self {
        Connections::default()
    }

    /// The entry of `stream`, made (evicting if full) when absent.
    fn entry(&mut self, stream: u64, make: impl FnOnce() -> ConnStats) -> Option<&mut ConnStats> {
        if !self.conns.contains_key(&stream) {
            if self.conns.len() >= MAX_CONNECTIONS {
                let victim = match self.closed.pop_first() {
                    Some(s) => s,
                    None => *self.conns.keys().next()?,
                };
                self.conns.remove(&victim);
                self.dropped += 1;
            }
            self.conns.insert(stream, make());
        }
        self.conns.get_mut(&stream)
    }

    /// Add one exchange.
    pub fn observe_exchange(&mut self, e: &Exchange) {
        let Some(c) = self.entry(e.stream, || {
            ConnStats::new(
                e.stream,
                e.client,
                e.broker,
                e.request.first_frame,
                e.request.ts,
            )
        }) else {
            return;
        };
        c.requests += 1;
        c.request_bytes += u64::from(e.request.size) + 4;
        c.touch(e.request.ts);
        if let Some(r) = &e.response {
            c.answered += 1;
            c.response_bytes += u64::from(r.size) + 4;
            c.touch(r.ts);
        }
        match e.status {
            Status::Error if e.negotiation() => c.pending_negotiations += 1,
            Status::Ok
                if c.pending_negotiations > 0
                    && matches!(e.api_key, ApiKey::API_VERSIONS | ApiKey::JOIN_GROUP) =>
            {
                c.negotiations += c.pending_negotiations;
                c.pending_negotiations = 0;
            }
            Status::Error | Status::Malformed => c.errors += 1,
            Status::NoResponse(_) => c.no_response += 1,
            Status::Ok | Status::NoResponseExpected => {}
        }
        if c.client_id.is_none()
            && let Some(id) = &e.client_id
        {
            c.client_id = Some(if id.len() > MAX_STR_LEN {
                Arc::from(cut(id))
            } else {
                id.clone()
            });
        }
        if let Some(a) = c.apis.iter_mut().find(|a| a.0 == e.api_key) {
            a.1 += 1;
        } else if c.apis.len() < MAX_APIS_PER_CONN {
            c.apis.push((e.api_key, 1));
        } else {
            c.other_api_requests += 1;
        }
        if e.api_key == ApiKey::API_VERSIONS
            && e.api_version >= 3
            && let Some(q) = e
                .request_body
                .as_deref()
                .and_then(Body::view)
                .map(ApiVersionsRequest)
            && let (Some(n), Some(v)) = (q.client_software_name(), q.client_software_version())
        {
            c.software = Some((cut(n).to_string(), cut(v).to_string()));
        }
    }

    /// Add one event: `connection_open` makes the entry (or completes one an
    /// exchange made), `connection_close` sets its state, gaps and resyncs
    /// are counted.
    pub fn observe_event(&mut self, ev: &Event) {
        let Some(stream) = ev.stream else {
            return;
        };
        if let EventKind::ConnectionOpen {
            client,
            broker,
            handshake_seen,
            detected_by,
        } = &ev.kind
        {
            let Some(c) = self.entry(stream, || {
                ConnStats::new(stream, *client, *broker, ev.at.frame, ev.at.ts)
            }) else {
                return;
            };
            c.handshake_seen = *handshake_seen;
            c.detected_by = Some(*detected_by);
            c.first_frame = c.first_frame.min(ev.at.frame);
            c.first_ts = c.first_ts.min(ev.at.ts);
            return;
        }
        let Some(c) = self.conns.get_mut(&stream) else {
            return;
        };
        c.touch(ev.at.ts);
        match &ev.kind {
            EventKind::ConnectionClose { reason, .. } => {
                // A negotiation the client never completed here failed.
                c.errors += c.pending_negotiations;
                c.pending_negotiations = 0;
                c.state = ConnState::from_close(*reason);
                self.closed.insert(stream);
            }
            EventKind::Gap { bytes, .. } => {
                c.gaps += 1;
                c.lost_bytes = c.lost_bytes.saturating_add(*bytes);
            }
            EventKind::Resync { .. } => c.resyncs += 1,
            _ => c.other_events += 1,
        }
    }

    /// Every connection, in stream order.
    pub fn iter(&self) -> impl Iterator<Item = &ConnStats> {
        self.conns.values()
    }

    pub fn get(&self, stream: u64) -> Option<&ConnStats> {
        self.conns.get(&stream)
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Connections currently open.
    pub fn open(&self) -> usize {
        self.conns.len() - self.closed.len()
    }

    /// Connections dropped to stay within [`MAX_CONNECTIONS`].
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// `[connection...]`, each as [`ConnStats::to_json`], in stream order.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(self.iter().map(ConnStats::to_json).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::tests::exchange;
    use crate::capture::PacketRef;

    fn at(frame: u64) -> PacketRef {
        PacketRef {
            frame,
            // As the exchanges of `stats::tests::exchange`: frame × 1 ms.
            ts: Timestamp::new(
                1_700_000_000 + (frame / 1000) as i64,
                (frame % 1000) as u32 * 1_000_000,
            ),
        }
    }

    fn open(stream: u64, frame: u64, handshake_seen: bool) -> Event {
        Event {
            at: at(frame),
            stream: Some(stream),
            kind: EventKind::ConnectionOpen {
                client: format!("127.0.0.1:{}", 5000 + stream % 60_000)
                    .parse()
                    .unwrap(),
                broker: "127.0.0.1:9092".parse().unwrap(),
                handshake_seen,
                detected_by: DetectedBy::Traffic,
            },
        }
    }

    fn close(stream: u64, frame: u64, reason: CloseReason) -> Event {
        Event {
            at: at(frame),
            stream: Some(stream),
            kind: EventKind::ConnectionClose {
                reason,
                requests: 0,
                responses: 0,
                unanswered: 0,
                client_packets: 3,
                broker_packets: 3,
            },
        }
    }

    /// ApiVersions v3 request body: compact strings, no tagged fields.
    fn api_versions_v3(name: &str, version: &str) -> Vec<u8> {
        let mut v = vec![name.len() as u8 + 1];
        v.extend(name.as_bytes());
        v.push(version.len() as u8 + 1);
        v.extend(version.as_bytes());
        v.push(0);
        v
    }

    #[test]
    fn one_connection_from_open_to_close() {
        let mut c = Connections::new();
        c.observe_event(&open(3, 10, false));
        let q = api_versions_v3("librdkafka", "2.16");
        let mut e = exchange(18, 3, 11, Some("producer-1"), Some(&q), None, Some(40));
        e.stream = 3;
        c.observe_exchange(&e);
        let mut e = exchange(0, 3, 13, Some("producer-1"), None, None, None);
        e.stream = 3;
        c.observe_exchange(&e);
        e.api_key = ApiKey(3);
        c.observe_exchange(&e);
        c.observe_exchange(&e);
        c.observe_event(&Event {
            at: at(20),
            stream: Some(3),
            kind: EventKind::Gap {
                direction: crate::session::Direction::ToClient,
                bytes: 1460,
                cause: crate::tcp::GapCause::Lost,
            },
        });
        c.observe_event(&close(3, 30, CloseReason::Reset));
        let s = c.get(3).unwrap();
        assert_eq!(s.state, ConnState::Reset);
        assert!(!s.handshake_seen);
        assert_eq!(s.detected_by, Some(DetectedBy::Traffic));
        assert_eq!(s.client.port(), 5003);
        assert_eq!(s.client_id.as_deref(), Some("producer-1"));
        assert_eq!(
            s.software,
            Some(("librdkafka".to_string(), "2.16".to_string()))
        );
        assert_eq!(
            (s.requests, s.answered, s.no_response, s.errors),
            (4, 1, 3, 0)
        );
        assert_eq!((s.request_bytes, s.response_bytes), (400, 50));
        assert_eq!((s.gaps, s.lost_bytes, s.resyncs), (1, 1460, 0));
        assert_eq!(s.first_frame, 10);
        assert_eq!(s.last_ts, at(30).ts);
        assert_eq!(s.top_apis(2), [(ApiKey(3), 2), (ApiKey::PRODUCE, 1)]);
        assert_eq!(c.open(), 0);
        let j = c.to_json();
        assert_eq!(j[0]["state"], "reset");
        assert_eq!(j[0]["software"]["name"], "librdkafka");
        assert_eq!(j[0]["apis"][0]["api_name"], "Metadata");
    }

    #[test]
    fn exchange_before_open_and_unknown_streams() {
        let mut c = Connections::new();
        // A live view that starts late: the exchange makes the entry.
        let mut e = exchange(18, 0, 50, None, None, None, Some(1));
        e.stream = 9;
        c.observe_exchange(&e);
        c.observe_event(&close(4, 60, CloseReason::Fin)); // never seen: ignored
        c.observe_event(&Event {
            at: at(61),
            stream: None,
            kind: EventKind::CaptureError {
                message: "x".into(),
            },
        });
        assert_eq!(c.len(), 1);
        let s = c.get(9).unwrap();
        assert_eq!(
            (s.first_frame, s.state, s.software.clone()),
            (50, ConnState::Open, None)
        );
        assert_eq!(c.open(), 1);
        // Too many API keys on one connection: the rest are summed.
        for k in 0..20 {
            e.api_key = ApiKey(k);
            c.observe_exchange(&e);
        }
        let s = c.get(9).unwrap();
        assert_eq!(s.apis.len(), MAX_APIS_PER_CONN);
        // 18 came first; 0..=6 fill the table; 7..=19 but 18 are others.
        assert_eq!(s.other_api_requests, 12);
        assert_eq!(s.requests, 21);
    }

    #[test]
    fn full_table_drops_oldest_closed_first() {
        let mut c = Connections::new();
        for s in 0..MAX_CONNECTIONS as u64 {
            c.observe_event(&open(s, s + 1, true));
        }
        c.observe_event(&close(7, 100_000, CloseReason::Fin));
        c.observe_event(&close(5, 100_001, CloseReason::Idle));
        c.observe_event(&open(1_000_000, 100_002, true));
        assert_eq!(c.len(), MAX_CONNECTIONS);
        assert!(c.get(5).is_none());
        assert!(c.get(7).is_some());
        c.observe_event(&open(1_000_001, 100_003, true));
        assert!(c.get(7).is_none());
        // No closed one left: the oldest goes.
        c.observe_event(&open(1_000_002, 100_004, true));
        assert!(c.get(0).is_none());
        assert_eq!(c.dropped(), 3);
        assert_eq!(c.open(), MAX_CONNECTIONS);
        assert_eq!(c.iter().last().unwrap().stream, 1_000_002);
    }
}
