//! What the analysis produces: one [`Record`] per exchange, event, and the
//! capture's header and summary. `export` writes them as NDJSON or text; the
//! TUI shows them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use crate::capture::defrag::{Conflict, DefragStats, GiveUp};
use crate::capture::{DropStats, LinkType, PacketRef, SourceFormat, Timestamp};
use crate::kafka::ApiKey;
use crate::kafka::embedded::Embedded;
use crate::kafka::frame::DesyncCause;
use crate::kafka::records::RecordSet;
use crate::kafka::schema::{
    self, DecodeError, DecodeWarning, MessageSpec, Node, StructView, Value, view::RootOffsets,
};
use crate::tcp::{CloseReason, GapCause, Kept, TcpStats};

/// Everything the analyzer emits, in the order it is completed.
#[derive(Clone, Debug)]
pub enum Record {
    Capture(CaptureInfo),
    Exchange(Box<Exchange>),
    Event(Event),
    Summary(Box<Summary>),
}

/// The first record: what is being read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureInfo {
    /// The path, `-` for stdin, or the interface name.
    pub source: String,
    pub format: SourceFormat,
    pub link_types: Vec<LinkType>,
    /// The BPF filter of a live capture.
    pub filter: Option<String>,
    /// When several captures are read as one (`kwire export a.pcap
    /// b.pcap`): each of them, in the order given, with its clock's offset
    /// ([`crate::merge`]); empty for one capture.
    pub merged: Vec<MergedCapture>,
}

/// One of several captures read as one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergedCapture {
    pub source: String,
    pub format: SourceFormat,
    pub link_types: Vec<LinkType>,
    pub clock: CaptureClock,
}

/// How a capture's clock was set against the first capture's: its
/// timestamps are moved back by `offset_ns`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureClock {
    /// How far its clock is ahead of the first capture's, ns.
    pub offset_ns: i128,
    /// How far off the offset may be, ns (half the width of the bounds
    /// the shared segments set).
    pub error_ns: i128,
    /// TCP segments it and the capture it was compared with both saw
    /// (of a bounded sample).
    pub shared_segments: u64,
    /// Connections both saw in both directions.
    pub shared_connections: u64,
    /// The capture it was compared with (`None`: the first capture, or one
    /// that shares no traffic with any other).
    pub compared_with: Option<u16>,
    pub from: ClockFrom,
    /// How fast its clock runs ahead of the first capture's, ns per s
    /// (parts per billion): the offset grows by this much a second.
    pub drift_ppb: i64,
    /// When `offset_ns` holds, ns since the epoch on the first capture's
    /// clock (with a drift, the offset is another at another time).
    pub at_ns: i128,
}

impl CaptureClock {
    /// The offset for a timestamp of this capture's own clock, `own_ns`
    /// (ns since the epoch): the offset at that moment on the first
    /// capture's clock.
    pub fn offset_of_own(&self, own_ns: i128) -> i128 {
        self.offset_at(own_ns.saturating_sub(self.offset_ns))
    }

    /// The offset at time `t_ns` on the first capture's clock (ns since
    /// the epoch).
    pub fn offset_at(&self, t_ns: i128) -> i128 {
        if self.drift_ppb == 0 {
            return self.offset_ns;
        }
        let dt = t_ns.saturating_sub(self.at_ns);
        self.offset_ns
            .saturating_add(dt.saturating_mul(i128::from(self.drift_ppb)) / 1_000_000_000)
    }
}

/// Where a capture's clock offset comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClockFrom {
    /// The first capture: the others are set against its clock.
    #[default]
    Reference,
    /// Segments both captures saw bound it from both sides.
    Segments,
    /// Segments both saw, but their bounds disagree (clocks drifting apart
    /// during the capture, or one-way traffic only): a rough estimate.
    Rough,
    /// It shares no traffic with any other capture: its clock is taken as
    /// it is.
    Unknown,
}

impl ClockFrom {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockFrom::Reference => "reference",
            ClockFrom::Segments => "segments",
            ClockFrom::Rough => "rough",
            ClockFrom::Unknown => "unknown",
        }
    }
}

/// One message of an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageInfo {
    /// The packet that completed the message.
    pub frame: u64,
    /// The packet that brought its first byte (same as `frame` unless the
    /// message spans several segments).
    pub first_frame: u64,
    pub ts: Timestamp,
    /// The size prefix: bytes after the 4-byte size.
    pub size: u32,
    /// Bytes of the message the capture lost (0 when complete).
    pub lost_bytes: u64,
}

/// A request and its response, or a request that got none.
#[derive(Clone, Debug, PartialEq)]
pub struct Exchange {
    /// The TCP connection's index in capture order.
    pub stream: u64,
    pub client: SocketAddr,
    pub broker: SocketAddr,
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<Arc<str>>,
    pub request: MessageInfo,
    pub response: Option<MessageInfo>,
    pub status: Status,
    /// Error codes found in the response body, at every level.
    pub errors: Vec<ErrorRef>,
    /// The decoded request body, unless decoding is off.
    pub request_body: Option<Box<Body>>,
    /// The decoded response body.
    pub response_body: Option<Box<Body>>,
    /// Which capture this view of the exchange is from, when several are
    /// read together (`kwire export a.pcap b.pcap`; 0 otherwise): the
    /// client's side when two captures saw it.
    pub capture: u16,
    /// The same exchange as a capture nearer the broker saw it (several
    /// captures merged; see [`crate::merge`]).
    pub broker_side: Option<Box<BrokerSide>>,
}

/// An exchange as a second capture, nearer the broker, saw it: its
/// messages' frames and times on the merged clock. The exchange's own
/// times are the client's side; the difference is the network's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerSide {
    pub capture: u16,
    /// The connection's index as that capture's analysis numbered it.
    pub stream: u64,
    /// The endpoints as that capture saw them (they differ behind NAT).
    pub client: SocketAddr,
    pub broker: SocketAddr,
    pub request: MessageInfo,
    pub response: Option<MessageInfo>,
}

impl BrokerSide {
    /// The broker's time: from the request's arrival to the response's
    /// departure, as the capture nearer the broker saw them.
    pub fn latency_us(&self) -> Option<i64> {
        self.response
            .map(|r| r.ts.micros_since(self.request.ts))
            .filter(|&us| us >= 0)
    }

    /// A client-side latency of `latency_us` split into the broker's time
    /// and the network's (both ways, with the hosts' stacks), when both
    /// ends saw the exchange answered.
    pub fn split_us(&self, latency_us: Option<i64>) -> Option<(i64, i64)> {
        let broker = self.latency_us()?;
        Some((broker, (latency_us? - broker).max(0)))
    }
}

/// A decoded message body: its bytes, and what decoding them found. The
/// fields are read through views of the bytes ([`Body::view`]); no tree of
/// values is kept (a tree costs hundreds of times the bytes; [`Body::tree`]
/// builds one for a view that shows every field).
#[derive(Clone, Debug)]
pub struct Body {
    /// The message's definition, when one is known for the api key.
    pub message: Option<&'static MessageSpec>,
    /// The schema version the body is read at (see
    /// [`Decoded::version`](crate::kafka::schema::Decoded::version)).
    pub version: i16,
    /// The version is newer than any known: the newest known was used.
    pub assumed_version: bool,
    /// Where and why decoding stopped, when it did not read every byte.
    pub error: Option<DecodeError>,
    /// Deviations read past (nulls the schema does not allow).
    pub warnings: Vec<DecodeWarning>,
    /// The `records` fields, decoded: keyed by their byte range's start in
    /// the body.
    pub records: Vec<(u32, RecordSet)>,
    /// Protocols embedded in bytes fields (consumer and Connect group
    /// metadata and assignments, SASL messages), decoded: keyed by the
    /// bytes field's byte range start in the body.
    pub embedded: Vec<(u32, Embedded)>,
    /// Why the body is not fully decoded, when it is not and that is not
    /// news (the capture lost part of it), or deviations read past.
    pub notes: Vec<String>,
    /// The body failed to decode and its bytes may be shown ([`Body::raw`]).
    pub raw: bool,
    /// Only the top-level error code is meaningful (an ApiVersions error
    /// response in a layout of the broker's choosing).
    pub error_code_only: bool,
    /// The body's bytes as received, SASL secrets masked unless shown.
    pub bytes: Box<[u8]>,
    /// Non-zero error codes of a response, with their paths.
    pub errors: Vec<ErrorRef>,
    /// Where the top-level fields lie (the decode's walk noted them), so
    /// that [`Body::view`] needs no scan.
    pub root: Option<RootOffsets>,
    /// The tree, once [`Body::tree`] built it.
    pub tree: OnceLock<Node>,
    /// The names of the topic ids the body carries without a name beside
    /// them, as the capture had told them when the exchange was analysed
    /// (see [`super::names`]); not on the wire.
    pub topic_names: TopicIdNames,
    /// The topic ids the decode's walk found (named beside them or not),
    /// for the analysis to learn from and name; taken when it has.
    pub(crate) topic_ids: Option<Box<super::names::Found>>,
}

/// A topic id of a body that the capture named elsewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicIdName {
    /// Where the `topicId` field starts in the body (what the walker's
    /// `open` gives).
    pub at: u32,
    pub id: [u8; 16],
    pub name: Arc<str>,
}

/// The named topic ids of a body, by their place in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicIdNames(Vec<TopicIdName>);

impl TopicIdNames {
    /// From entries in any order.
    pub fn new(mut v: Vec<TopicIdName>) -> Self {
        v.sort_by_key(|t| t.at);
        v.dedup_by_key(|t| t.at);
        TopicIdNames(v)
    }

    /// The name of the `topicId` field starting at `at`.
    pub fn at(&self, at: u32) -> Option<&str> {
        let i = self.0.binary_search_by_key(&at, |t| t.at).ok()?;
        self.0.get(i).map(|t| &*t.name)
    }

    /// The name of topic `id`, when the body carries it and it was named.
    pub fn by_id(&self, id: &[u8; 16]) -> Option<&str> {
        self.0.iter().find(|t| &t.id == id).map(|t| &*t.name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &TopicIdName> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Heap bytes held (for memory budgets; names are shared).
    pub fn heap_bytes(&self) -> usize {
        self.0.capacity() * std::mem::size_of::<TopicIdName>()
    }
}

impl PartialEq for Body {
    fn eq(&self, o: &Body) -> bool {
        self.message.map(|m| m.name) == o.message.map(|m| m.name)
            && self.version == o.version
            && self.assumed_version == o.assumed_version
            && self.error == o.error
            && self.warnings == o.warnings
            && self.records == o.records
            && self.embedded == o.embedded
            && self.notes == o.notes
            && self.raw == o.raw
            && self.error_code_only == o.error_code_only
            && self.bytes == o.bytes
            && self.errors == o.errors
            && self.topic_names == o.topic_names
    }
}

impl Body {
    /// The view of the body's fields, when its message is known.
    pub fn view(&self) -> Option<StructView<'_>> {
        if self.error_code_only {
            return None;
        }
        match &self.root {
            Some(r) => StructView::from_root(self.message?, self.version, &self.bytes, r),
            None => StructView::message(self.message?, self.version, &self.bytes),
        }
    }

    /// The body's bytes to show when it failed to decode (at most
    /// [`MAX_RAW_BYTES`]).
    pub fn raw(&self) -> Option<&[u8]> {
        self.raw
            .then(|| &self.bytes[..self.bytes.len().min(MAX_RAW_BYTES)])
    }

    /// A body of `bytes` that decoding found nothing in (for tests).
    #[doc(hidden)]
    pub fn of_bytes(bytes: &[u8]) -> Body {
        Body {
            message: None,
            version: 0,
            assumed_version: false,
            error: None,
            warnings: Vec::new(),
            records: Vec::new(),
            embedded: Vec::new(),
            notes: Vec::new(),
            raw: false,
            error_code_only: false,
            bytes: bytes.into(),
            errors: Vec::new(),
            root: None,
            tree: OnceLock::new(),
            topic_names: TopicIdNames::default(),
            topic_ids: None,
        }
    }

    /// The tree of every field (built once, on first use; it costs hundreds
    /// of times the body's bytes: for the UI's detail of the exchange on
    /// screen, and tests). Analysis and export read [`Body::view`].
    pub fn tree(&self) -> &Node {
        self.tree.get_or_init(|| {
            let Some(spec) = self.message else {
                return Node {
                    name: "",
                    range: 0..0,
                    value: Value::Struct(Vec::new()),
                };
            };
            let mut d = schema::decode_message(spec, self.version, &self.bytes);
            if self.error_code_only
                && let Value::Struct(fields) = &mut d.tree.value
            {
                fields.retain(|n| n.name == "errorCode" && n.range.start == 0);
            }
            d.tree
        })
    }
}

/// Most bytes of an undecodable body kept in its exchange.
pub const MAX_RAW_BYTES: usize = 1 << 20;

impl Exchange {
    /// Response time in microseconds, when answered, and the response was
    /// not stamped before its request (then [`Exchange::response_first`]).
    pub fn latency_us(&self) -> Option<i64> {
        self.response
            .map(|r| r.ts.micros_since(self.request.ts))
            .filter(|&us| us >= 0)
    }

    /// The response was stamped before its request (the capture reordered
    /// them): no latency can be given.
    pub fn response_first(&self) -> bool {
        self.response.is_some_and(|r| r.ts < self.request.ts)
    }

    /// The broker's share of the latency, when a capture nearer the broker
    /// saw the exchange answered too.
    pub fn broker_us(&self) -> Option<i64> {
        self.split_us().map(|(b, _)| b)
    }

    /// The network's share (both ways, with the hosts' stacks): the
    /// client's latency less the broker's, when both are known.
    pub fn network_us(&self) -> Option<i64> {
        self.split_us().map(|(_, n)| n)
    }

    /// [`Self::broker_us`] and [`Self::network_us`] together.
    pub fn split_us(&self) -> Option<(i64, i64)> {
        self.broker_side.as_ref()?.split_us(self.latency_us())
    }
}

/// An error code found in a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorRef {
    pub code: i16,
    pub name: &'static str,
    /// Where in the response, e.g. `topics[0].partitions[2].errorCode`.
    pub path: String,
}

/// How an exchange ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Answered.
    Ok,
    /// Answered, with a non-zero error code somewhere.
    Error,
    /// Answered, but the response's body does not decode as the version
    /// asked for (it ends early or holds invalid values), although the
    /// capture lost none of it: the broker broke the protocol, and whether
    /// it meant an error is not known.
    Malformed,
    /// Not answered, and why we stopped waiting.
    NoResponse(NoResponseReason),
    /// A request that gets no response by design (Produce with `acks=0`).
    NoResponseExpected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Malformed => "malformed",
            Status::NoResponse(_) => "no_response",
            Status::NoResponseExpected => "no_response_expected",
        }
    }
}

/// Why a request was given up on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoResponseReason {
    ConnectionClosed,
    ConnectionReset,
    CaptureEnded,
    IdleTimeout,
    /// The connection was evicted to stay within the flow limit.
    Evicted,
    /// Too many requests in flight on the connection; the oldest was dropped.
    InFlightLimit,
    /// A new connection took the address pair over (its close was not captured).
    ConnectionReused,
    /// The capture lost bytes toward the client after the request: the
    /// response was probably among them.
    ResponseLostInCapture,
    /// kwire let go of the request to stay within its memory budget
    /// (`--max-memory`).
    MemoryLimit,
    /// The request itself was not captured to its end: the connection
    /// closed, was reset or evicted, or the capture ended inside it
    /// (`request.lost_bytes` says how much is missing).
    RequestIncomplete,
}

impl NoResponseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            NoResponseReason::ConnectionClosed => "connection_closed",
            NoResponseReason::ConnectionReset => "connection_reset",
            NoResponseReason::CaptureEnded => "capture_ended",
            NoResponseReason::IdleTimeout => "idle_timeout",
            NoResponseReason::Evicted => "evicted",
            NoResponseReason::InFlightLimit => "in_flight_limit",
            NoResponseReason::ConnectionReused => "connection_reused",
            NoResponseReason::ResponseLostInCapture => "response_lost_in_capture",
            NoResponseReason::RequestIncomplete => "request_incomplete",
            NoResponseReason::MemoryLimit => "memory_limit",
        }
    }

    pub fn from_close(reason: CloseReason) -> Self {
        match reason {
            CloseReason::Fin => NoResponseReason::ConnectionClosed,
            CloseReason::Reset => NoResponseReason::ConnectionReset,
            CloseReason::Idle => NoResponseReason::IdleTimeout,
            CloseReason::Evicted => NoResponseReason::Evicted,
            CloseReason::CaptureEnd => NoResponseReason::CaptureEnded,
            CloseReason::Reused => NoResponseReason::ConnectionReused,
        }
    }
}

/// Which way bytes were going.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    ToBroker,
    ToClient,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ToBroker => "to_broker",
            Direction::ToClient => "to_client",
        }
    }
}

/// How a connection was recognised as Kafka.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetectedBy {
    /// `--port`.
    Port,
    /// A response carried the correlation id of a plausible request.
    Traffic,
    /// Its broker endpoint was recognised on another connection.
    KnownBroker,
    /// Not confirmed: its server port is one Kafka commonly listens on
    /// ([`KAFKA_COMMON_PORTS`](crate::session::KAFKA_COMMON_PORTS)) and it
    /// carried plausible requests or was refused; no response confirmed it.
    CommonPort,
    /// Not confirmed: a connection attempt to an endpoint that refused
    /// every one of at least [`MIN_REFUSALS`](crate::session::MIN_REFUSALS)
    /// attempts and accepted none (what a client whose broker is down
    /// leaves in a capture).
    Refusals,
    /// Not confirmed: a client's requests that nothing ever answered (the
    /// server sent no byte), each one known to Kafka at its version, with a
    /// printable client id, the first a bootstrap request (ApiVersions,
    /// SaslHandshake, Metadata): a broker that accepts connections but
    /// does not answer.
    Unanswered,
}

impl DetectedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            DetectedBy::Port => "port",
            DetectedBy::Traffic => "traffic",
            DetectedBy::KnownBroker => "known_broker",
            DetectedBy::CommonPort => "common_port",
            DetectedBy::Refusals => "refusals",
            DetectedBy::Unanswered => "unanswered",
        }
    }

    /// Whether no Kafka response confirmed the connection: it is taken for
    /// Kafka by where it went.
    pub fn unconfirmed(self) -> bool {
        matches!(
            self,
            DetectedBy::CommonPort | DetectedBy::Refusals | DetectedBy::Unanswered
        )
    }
}

/// Something noteworthy that is not an exchange.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The packet where it was seen.
    pub at: PacketRef,
    /// The Kafka connection, if it concerns one.
    pub stream: Option<u64>,
    pub kind: EventKind,
}

/// Anomalies are data: each has its own `type` in the NDJSON.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// A Kafka connection was recognised; `at` is its first packet.
    ConnectionOpen {
        client: SocketAddr,
        broker: SocketAddr,
        handshake_seen: bool,
        detected_by: DetectedBy,
    },
    ConnectionClose {
        reason: CloseReason,
        requests: u64,
        responses: u64,
        unanswered: u64,
        /// TCP segments captured from each side (pure ACKs included): a
        /// side with none was not in the capture (a one-sided capture).
        /// Not exported: they depend on how the capture cut the bytes, which
        /// the NDJSON does not.
        client_packets: u64,
        broker_packets: u64,
    },
    /// Bytes the capture does not have.
    Gap {
        direction: Direction,
        bytes: u64,
        cause: GapCause,
    },
    /// Framing was lost at a stream offset.
    OutOfSync {
        direction: Direction,
        offset: u64,
        cause: DesyncCause,
    },
    /// Framing found again after skipping bytes.
    Resync {
        direction: Direction,
        offset: u64,
        skipped: u64,
    },
    /// A response whose request was not captured.
    OrphanResponse {
        correlation_id: i32,
        size: u32,
        frame: u64,
        ts: Timestamp,
    },
    /// A request reused a correlation id still waiting for its response.
    DuplicateCorrelationId {
        correlation_id: i32,
        first_frame: u64,
    },
    /// A frame larger than `--max-frame-size`, skipped.
    FrameTooLarge {
        direction: Direction,
        size: u32,
        limit: u32,
    },
    /// A frame whose header cannot be read.
    MalformedHeader {
        direction: Direction,
        reason: &'static str,
        size: u32,
    },
    /// A message whose header the capture lost.
    MessageLost { direction: Direction, size: u32 },
    /// An API key kwire does not know.
    UnknownApi { api_key: i16, api_version: i16 },
    /// A raw SASL token (after a SaslHandshake v0, before SaslAuthenticate
    /// existed): size-prefixed, not a Kafka message. Its bytes are not
    /// exported (they carry credentials).
    SaslToken { direction: Direction, size: u32 },
    /// A body that did not decode completely (its bytes are kept in the
    /// exchange).
    DecodeError {
        direction: Direction,
        api_key: i16,
        api_version: i16,
        reason: String,
        offset: usize,
        path: String,
    },
    /// A named limit was hit (the first [`MAX_LIMIT_EVENTS`] times per
    /// limit; the summary's `limits` counts every time).
    Limit { limit: Limit, value: u64 },
    /// A packet kwire could not use.
    Packet { issue: PacketIssue },
    /// The capture could not be read to its end.
    CaptureError { message: String },
    /// Drop counters of a live capture (kernel and packet queue), when
    /// packets were lost.
    Drops(DropStats),
    /// Overlapping copies of stream bytes (a retransmission and what was
    /// buffered) differ: `bytes` of them from stream `offset`; `kept` says
    /// which copy was used (the first captured, or the in-order segment).
    /// Something rewrote the bytes in flight, or the capture mixed two
    /// streams: worth an analyst's eye.
    RetransmissionMismatch {
        direction: Direction,
        offset: u64,
        bytes: u64,
        kept: Kept,
    },
    /// A packet stamped far (more than `--max-time-jump`) from the capture
    /// clock. Not `accepted`: a stray stamp, processed at the clock's time
    /// (the event's `ts`) so it drives no expiry or latency. `accepted`: the
    /// packets after it agreed, and the clock followed (a capture resumed
    /// later, or files merged).
    TimeJump {
        stamped: Timestamp,
        clock: Timestamp,
        accepted: bool,
    },
    /// What kwire saw of a connection's TLS session, told once, when the
    /// connection ends: for every Kafka connection over TLS, and for every
    /// TLS connection kwire could not read (no keys, a suite it does not
    /// decrypt, a handshake that failed or was never answered). A TLS
    /// connection decrypted to something that is not Kafka is not told.
    Tls(Box<TlsSession>),
}

/// A TLS session as the `tls` event tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsSession {
    /// The side that sent the ClientHello, and the other.
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// The TCP direction of the client's records (what alerts' `from` is
    /// compared with).
    pub client_dir: crate::tcp::Dir,
    pub info: crate::tls::TlsInfo,
    /// The plaintext was Kafka (the connection is a Kafka connection).
    pub kafka: bool,
    /// Records that did not authenticate with the session's keys.
    pub decrypt_failures: u64,
    /// Times the record layer was found again after lost bytes.
    pub resyncs: u64,
    /// Whether a key log was given (`--keylog`).
    pub keylog_given: bool,
}

impl TlsSession {
    /// Whether kwire read the session's application data.
    pub fn decrypted(&self) -> bool {
        self.info.keys == crate::tls::KeyState::Found
    }

    /// The negotiated version as people write it (`TLS 1.2`).
    pub fn version_name(&self) -> Option<&'static str> {
        Some(match self.info.version? {
            0x0300 => "SSL 3.0",
            0x0301 => "TLS 1.0",
            0x0302 => "TLS 1.1",
            0x0303 => "TLS 1.2",
            0x0304 => "TLS 1.3",
            _ => "TLS (unknown version)",
        })
    }

    /// Why the application data could not be read, when it could not.
    pub fn unread_reason(&self) -> Option<&'static str> {
        use crate::tls::KeyState;
        match self.info.keys {
            KeyState::Found => None,
            KeyState::Missing if self.keylog_given => {
                Some("no keys for the session in the key log")
            }
            KeyState::Missing => Some("no key log given"),
            KeyState::Unsupported(_) => Some("a cipher suite or version kwire does not decrypt"),
            KeyState::Unknown if !self.info.server_answered => {
                Some("the server never answered the ClientHello")
            }
            KeyState::Unknown => Some("the handshake did not complete"),
        }
    }
}

impl EventKind {
    /// The NDJSON `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::ConnectionOpen { .. } => "connection_open",
            EventKind::ConnectionClose { .. } => "connection_close",
            EventKind::Gap { .. } => "gap",
            EventKind::OutOfSync { .. } => "out_of_sync",
            EventKind::Resync { .. } => "resync",
            EventKind::OrphanResponse { .. } => "orphan_response",
            EventKind::DuplicateCorrelationId { .. } => "duplicate_correlation_id",
            EventKind::FrameTooLarge { .. } => "frame_too_large",
            EventKind::MalformedHeader { .. } => "malformed_header",
            EventKind::MessageLost { .. } => "message_lost",
            EventKind::UnknownApi { .. } => "unknown_api",
            EventKind::SaslToken { .. } => "sasl_token",
            EventKind::DecodeError { .. } => "decode_error",
            EventKind::Limit { .. } => "limit",
            EventKind::Packet { .. } => "packet",
            EventKind::CaptureError { .. } => "capture_error",
            EventKind::Drops(_) => "drops",
            EventKind::TimeJump { .. } => "time_jump",
            EventKind::RetransmissionMismatch { .. } => "retransmission_mismatch",
            EventKind::Tls(_) => "tls",
        }
    }
}

/// `limit` events emitted per limit; later hits are only counted (in the
/// summary's `limits`), so a limit hit a million times is told once.
pub const MAX_LIMIT_EVENTS: u64 = 10;

/// A named limit: what hitting it gives up, and the option that raises it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Limit {
    /// TCP connections tracked at once: the least recently active one was
    /// evicted.
    MaxFlows,
    /// Out-of-order bytes per connection direction: a hole was given up.
    MaxOooBytes,
    /// Out-of-order segments (holes) per direction: a hole was given up.
    MaxOooSegments,
    /// The memory budget: state of the connections holding the most was
    /// let go (out-of-order holes given up, messages in progress cut,
    /// waiting responses and requests stripped or given up).
    MaxMemory,
    /// Requests awaiting a response per connection: the oldest was given up.
    MaxInFlight,
    /// Responses awaiting their request per connection: the oldest became
    /// an orphan.
    MaxEarlyResponses,
    /// Records held for a connection not yet recognised as Kafka: it was
    /// given up as not Kafka.
    MaxCandidateRecords,
    /// Records held for closed connections not yet recognised: dropped.
    MaxUnresolvedRecords,
    /// Broker endpoints remembered: the oldest was forgotten.
    MaxKnownBrokers,
    /// Events of one packet-level kind: later ones only counted.
    MaxPacketEvents,
    /// Bytes one compressed batch may decompress to: the rest of its
    /// records were not decoded.
    MaxDecompressedBytes,
    /// Records (or record headers) decoded per message: the rest were not.
    MaxRecords,
    /// Records decoded over the whole capture: later ones are not.
    MaxCaptureRecords,
    /// Bytes decompressed over the whole capture: later batches are not
    /// decompressed.
    MaxCaptureDecompressedBytes,
    /// Records held while several captures are merged, waiting for a
    /// second capture's view of the same exchange: the oldest went on
    /// unmatched.
    MaxMergeHeld,
}

impl Limit {
    pub const ALL: [Limit; 15] = [
        Limit::MaxFlows,
        Limit::MaxOooBytes,
        Limit::MaxOooSegments,
        Limit::MaxMemory,
        Limit::MaxInFlight,
        Limit::MaxEarlyResponses,
        Limit::MaxCandidateRecords,
        Limit::MaxUnresolvedRecords,
        Limit::MaxKnownBrokers,
        Limit::MaxPacketEvents,
        Limit::MaxDecompressedBytes,
        Limit::MaxRecords,
        Limit::MaxCaptureRecords,
        Limit::MaxCaptureDecompressedBytes,
        Limit::MaxMergeHeld,
    ];

    /// The NDJSON `limit` and the summary's key.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::MaxFlows => "max_flows",
            Limit::MaxOooBytes => "max_ooo_bytes",
            Limit::MaxOooSegments => "max_ooo_segments",
            Limit::MaxMemory => "max_memory",
            Limit::MaxInFlight => "max_in_flight",
            Limit::MaxEarlyResponses => "max_early_responses",
            Limit::MaxCandidateRecords => "max_candidate_records",
            Limit::MaxUnresolvedRecords => "max_unresolved_records",
            Limit::MaxKnownBrokers => "max_known_brokers",
            Limit::MaxPacketEvents => "max_packet_events",
            Limit::MaxDecompressedBytes => "max_decompressed_bytes",
            Limit::MaxRecords => "max_records",
            Limit::MaxCaptureRecords => "max_capture_records",
            Limit::MaxCaptureDecompressedBytes => "max_capture_decompressed_bytes",
            Limit::MaxMergeHeld => "max_merge_held",
        }
    }

    /// The command-line option that raises it, if users can.
    pub fn option(self) -> Option<&'static str> {
        match self {
            Limit::MaxFlows => Some("--max-flows"),
            Limit::MaxOooBytes => Some("--max-ooo-bytes"),
            Limit::MaxOooSegments => Some("--max-ooo-segments"),
            Limit::MaxMemory => Some("--max-memory"),
            Limit::MaxInFlight => Some("--max-in-flight"),
            Limit::MaxDecompressedBytes => Some("--max-decompressed-bytes"),
            Limit::MaxCaptureRecords => Some("--max-capture-records"),
            Limit::MaxCaptureDecompressedBytes => Some("--max-capture-decompressed"),
            Limit::MaxEarlyResponses
            | Limit::MaxCandidateRecords
            | Limit::MaxUnresolvedRecords
            | Limit::MaxKnownBrokers
            | Limit::MaxPacketEvents
            | Limit::MaxRecords
            | Limit::MaxMergeHeld => None,
        }
    }

    /// What hitting it gave up, in plain words (for findings).
    pub fn gives_up(self) -> &'static str {
        match self {
            Limit::MaxFlows => {
                "the least recently active connections were evicted: their requests in flight were closed as `evicted`, later packets of theirs start over mid-stream"
            }
            Limit::MaxOooBytes | Limit::MaxOooSegments => {
                "holes in a connection's byte stream were given up as gaps (cause `buffer_limit`): messages across them are damaged or lost"
            }
            Limit::MaxMemory => {
                "the connections holding the most let go of state: out-of-order holes given up, messages in progress cut after their header, waiting responses undecoded, request bodies dropped, at worst requests given up (`memory_limit`)"
            }
            Limit::MaxInFlight => {
                "the oldest requests awaiting a response were given up (`in_flight_limit`); their responses become orphans"
            }
            Limit::MaxEarlyResponses => {
                "responses waiting for a request captured after them became orphans"
            }
            Limit::MaxCandidateRecords => {
                "a connection that produced much without being recognised as Kafka was given up (`--port` forces it)"
            }
            Limit::MaxUnresolvedRecords => {
                "exchanges of closed connections never recognised as Kafka were dropped (`--port` forces them)"
            }
            Limit::MaxKnownBrokers => "the oldest broker endpoints were forgotten",
            Limit::MaxPacketEvents => "packet-level events beyond the first ones were only counted",
            Limit::MaxCaptureRecords => {
                "records were no longer decoded once the capture's budget of them was spent: later messages show their batches' headers only"
            }
            Limit::MaxCaptureDecompressedBytes => {
                "compressed batches were no longer decompressed once the capture's budget of decompressed bytes was spent: later ones show their headers only"
            }
            Limit::MaxDecompressedBytes => {
                "compressed batches were decompressed only up to the limit: their later records are not shown"
            }
            Limit::MaxRecords => "messages' records beyond the limit were not decoded",
            Limit::MaxMergeHeld => {
                "exchanges were passed on before a second capture's view of them could be matched: some exchanges seen at both ends are counted twice"
            }
        }
    }
}

/// Why a packet was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketIssue {
    /// An IP datagram given up before all its fragments arrived (its TCP
    /// segment is lost to the analysis).
    FragmentIncomplete {
        reason: GiveUp,
        /// The frame of its first fragment captured.
        first_frame: u64,
        /// Fragments received.
        fragments: u32,
        /// Payload bytes they covered.
        bytes: u32,
    },
    /// An IP fragment that contradicts earlier ones of its datagram; the
    /// first copy is kept.
    FragmentOverlap {
        conflict: Conflict,
        /// The frame of the datagram's first fragment captured.
        first_frame: u64,
    },
    Truncated,
    Malformed(&'static str),
    UnsupportedLink(LinkType),
}

impl PacketIssue {
    pub fn as_str(self) -> &'static str {
        match self {
            PacketIssue::FragmentIncomplete { .. } => "fragment_incomplete",
            PacketIssue::FragmentOverlap { .. } => "fragment_overlap",
            PacketIssue::Truncated => "truncated",
            PacketIssue::Malformed(_) => "malformed",
            PacketIssue::UnsupportedLink(_) => "unsupported_link",
        }
    }
}

/// What a connection let go of to keep within the memory budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shed {
    /// Bytes of messages in progress (the messages are marked damaged).
    pub frame_bytes: u64,
    /// Bytes of responses waiting for their request (paired undecoded).
    pub response_bytes: u64,
    /// Decoded bodies of requests waiting for their response.
    pub request_bodies: u64,
    /// Requests in flight given up (exchanges with reason `memory_limit`).
    pub requests: u64,
}

impl Shed {
    pub fn freed_anything(&self) -> bool {
        *self != Shed::default()
    }

    pub fn add(&mut self, o: Shed) {
        self.frame_bytes += o.frame_bytes;
        self.response_bytes += o.response_bytes;
        self.request_bodies += o.request_bodies;
        self.requests += o.requests;
    }
}

/// The memory budget (`--max-memory`): how full it got and what was let go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemorySummary {
    /// The budget, bytes.
    pub max_memory: u64,
    /// Most bytes held at once (checked after every packet).
    pub peak_bytes: u64,
    /// Times the budget was full.
    pub full: u64,
    /// Connections that let go of state (one count per time).
    pub connections_shed: u64,
    pub shed: Shed,
}

/// The last record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub packets: u64,
    /// Bytes on the wire (original lengths).
    pub bytes: u64,
    pub tcp: TcpStats,
    /// IP fragments and the datagrams reassembled from them.
    pub ip_fragments: DefragStats,
    /// Packets whose payload the snaplen cut.
    pub truncated_packets: u64,
    /// TCP connections seen, Kafka or not.
    pub connections: u64,
    pub kafka_connections: u64,
    pub exchanges: u64,
    pub answered: u64,
    pub unanswered: u64,
    pub orphans: u64,
    /// Responses captured before their request (reordered frames), paired.
    pub responses_before_request: u64,
    /// Events written, by `type`.
    pub events: BTreeMap<&'static str, u64>,
    /// Events not written because their kind reached its cap
    /// ([`MAX_LIMIT_EVENTS`] per limit, `max_packet_events` per packet-level
    /// kind), by `type`.
    pub suppressed_events: BTreeMap<&'static str, u64>,
    /// Drop counters of a live capture (kernel and packet queue).
    pub drops: Option<DropStats>,
    /// Records the analysis dropped to stay within a limit.
    pub dropped_records: u64,
    /// Packet-level issues (`packet` events' `issue`), every one counted
    /// (events stop at `max_packet_events` per issue).
    pub packet_issues: BTreeMap<&'static str, u64>,
    /// Overlapping copies of stream bytes that differed, on Kafka
    /// connections (`retransmission_mismatch` events).
    pub retransmission_mismatches: u64,
    /// Packets stamped far from the capture clock (`time_jump` events).
    pub time_jumps: u64,
    /// Times each limit was hit (including those beyond
    /// [`MAX_LIMIT_EVENTS`], which have no event).
    pub limits: BTreeMap<Limit, u64>,
    pub memory: MemorySummary,
    /// Several captures read as one: how their exchanges were folded.
    pub merge: Option<MergeSummary>,
}

/// How several captures' exchanges were folded into one set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergeSummary {
    /// Exchanges two captures saw, folded into one.
    pub paired: u64,
    /// Exchanges each capture saw (before folding), by capture.
    pub seen: Vec<u64>,
    /// Packets of each capture.
    pub packets: Vec<u64>,
    /// Second views of exchanges that arrived after the first had been
    /// passed on (their analysis completed them only when the connection
    /// ended): not counted twice, but not folded either.
    pub late: u64,
    /// Records let go before a second capture could match them, because
    /// the merge held [`crate::merge::MAX_MERGE_HELD`] records or
    /// [`crate::merge::MAX_MERGE_HELD_BYTES`] of bodies already.
    pub released_early: u64,
}
