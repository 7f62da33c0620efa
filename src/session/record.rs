//! What the analysis produces: one [`Record`] per exchange, event, and the
//! capture's header and summary. `export` writes them as NDJSON or text; the
//! TUI shows them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::capture::{DropStats, LinkType, PacketRef, SourceFormat, Timestamp};
use crate::kafka::ApiKey;
use crate::kafka::embedded::Embedded;
use crate::kafka::frame::DesyncCause;
use crate::kafka::records::RecordSet;
use crate::kafka::schema::Decoded;
use crate::tcp::{CloseReason, GapCause, TcpStats};

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
}

/// A decoded message body.
#[derive(Clone, Debug, PartialEq)]
pub struct Body {
    /// The schema's tree (complete, or partial with an error).
    pub decoded: Decoded,
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
    /// The body's bytes (at most [`MAX_RAW_BYTES`]) when it failed to decode.
    pub raw: Option<Vec<u8>>,
    /// The body's bytes (at most `SessionConfig::keep_bytes`), SASL secrets
    /// masked, when asked for: for a hex view. Not exported.
    pub bytes: Option<Box<[u8]>>,
}

/// Most bytes of an undecodable body kept in its exchange.
pub const MAX_RAW_BYTES: usize = 1 << 20;

impl Exchange {
    /// Response time in microseconds, when answered.
    pub fn latency_us(&self) -> Option<i64> {
        self.response.map(|r| r.ts.micros_since(self.request.ts))
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
}

impl DetectedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            DetectedBy::Port => "port",
            DetectedBy::Traffic => "traffic",
            DetectedBy::KnownBroker => "known_broker",
        }
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
    /// A named limit was hit.
    Limit { limit: &'static str, value: u64 },
    /// A packet kwire could not use.
    Packet { issue: PacketIssue },
    /// The capture could not be read to its end.
    CaptureError { message: String },
    /// Drop counters of a live capture (kernel and packet queue), when
    /// packets were lost.
    Drops(DropStats),
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
        }
    }
}

/// Why a packet was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketIssue {
    Fragment,
    Truncated,
    Malformed(&'static str),
    UnsupportedLink(LinkType),
}

impl PacketIssue {
    pub fn as_str(self) -> &'static str {
        match self {
            PacketIssue::Fragment => "ip_fragment",
            PacketIssue::Truncated => "truncated",
            PacketIssue::Malformed(_) => "malformed",
            PacketIssue::UnsupportedLink(_) => "unsupported_link",
        }
    }
}

/// The last record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub packets: u64,
    /// Bytes on the wire (original lengths).
    pub bytes: u64,
    pub tcp: TcpStats,
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
    /// Events by `type`.
    pub events: BTreeMap<&'static str, u64>,
    /// Drop counters of a live capture (kernel and packet queue).
    pub drops: Option<DropStats>,
    /// Records the analysis dropped to stay within a limit.
    pub dropped_records: u64,
}
