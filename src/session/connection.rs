//! One TCP connection as Kafka: detection, framing of both directions, and
//! correlation of responses to requests.
//!
//! A connection starts as a *candidate* unless `--port` or an already
//! recognised broker endpoint says it is Kafka. A candidate's records are held
//! (bounded) until a response carries the correlation id of a plausible
//! request, which confirms it; a candidate that cannot be Kafka (its first
//! request is implausible, its framing breaks, nothing plausible in the first
//! bytes) is dropped and its records discarded.
//!
//! Correlation keeps the requests in flight in order (Kafka answers in order
//! per connection). A response whose request has not been seen waits a
//! little (captures swap adjacent frames) before it is reported as an orphan.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::capture::PacketRef;
use crate::kafka::ApiKey;
use crate::kafka::detect::{self, plausible_request_header};
use crate::kafka::frame::{
    DesyncCause, Frame, FrameEvent, FrameHandler, Framer, FramerConfig, Next, Verdict,
};
use crate::kafka::header::{
    HeaderError, parse_request_header, parse_response_header, produce_acks, response_correlation_id,
};
use crate::kafka::records::{IssueKind, RecordLimits};
use crate::kafka::schema::MessageKind;
use crate::kafka::schema::view::RootOffsets;
use crate::tcp::{CloseReason, ConnInfo, Dir, GapCause};

use super::SessionConfig;
use super::body;
use super::inflight::{Entry, InFlight};
use super::record::{Body, Shed};
use super::record::{
    DetectedBy, Direction, Event, EventKind, Exchange, Limit, MessageInfo, NoResponseReason,
    Record, Status, TlsSession,
};

/// Whether a connection is Kafka.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    Candidate,
    Kafka(DetectedBy),
    NotKafka,
}

/// A request waiting for its response.
#[derive(Clone, Debug)]
struct Pending {
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    client_id: Option<Arc<str>>,
    request: MessageInfo,
    /// Gaps toward the client before this request was seen.
    gaps_before: u64,
    body: Option<Box<Body>>,
}

/// Bytes a request in flight stands for in the memory budget besides its
/// frame: the entry, its client id handle and index slots.
pub const PENDING_OVERHEAD: usize = 256;

impl Entry for Pending {
    fn correlation_id(&self) -> i32 {
        self.correlation_id
    }
    /// What it holds, by what was on the wire: its decoded body is the
    /// captured bytes it was decoded from, plus the body's own record
    /// (where its fields lie, what decoding found).
    fn cost(&self) -> usize {
        let captured = u64::from(self.request.size).saturating_sub(self.request.lost_bytes);
        PENDING_OVERHEAD
            + self.body.as_ref().map_or(0, |b| {
                captured as usize
                    + std::mem::size_of::<Body>()
                    + b.root.as_ref().map_or(0, RootOffsets::heap_bytes)
            })
    }
}

/// Bytes of a frame in progress kept when the memory budget takes the
/// rest: enough for any request or response header.
pub const SHED_KEEP: usize = 4096;

/// A response that arrived before (or without) its request.
#[derive(Clone, Debug)]
struct Early {
    correlation_id: i32,
    response: MessageInfo,
    /// The frame's bytes, to decode once the request is known (within
    /// `max_early_bytes` per connection).
    data: Option<Vec<u8>>,
}

/// An event tied to a direction, held until the roles are known.
#[derive(Clone, Copy, Debug)]
pub(super) enum DirEvent {
    Gap { bytes: u64, cause: GapCause },
    OutOfSync { offset: u64, cause: DesyncCause },
    Resync { offset: u64, skipped: u64 },
    TooLarge { size: u32, limit: u32 },
    Malformed { reason: &'static str, size: u32 },
    Lost { size: u32 },
}

/// A record held while the connection is a candidate.
#[derive(Clone, Debug)]
pub(super) enum Held {
    Record(Record),
    Dir(PacketRef, Dir, DirEvent),
}

/// Everything but the framers, so a framer can borrow it as its handler.
pub(super) struct Core {
    pub info: ConnInfo,
    pub opened_at: PacketRef,
    pub state: State,
    /// The client→broker direction, once known.
    pub client_dir: Option<Dir>,
    in_flight: InFlight<Pending>,
    early: VecDeque<Early>,
    pub held: Vec<Held>,
    /// The client id of the last request (interned: clients keep one).
    client_id: Option<Arc<str>>,
    pub requests: u64,
    pub responses: u64,
    pub unanswered: u64,
    pub orphans: u64,
    matched: u64,
    mismatched: u64,
    /// A direction whose framer should rescan (a request is now in flight).
    retry: Option<Dir>,
    /// Bytes scanned while no direction had a role.
    scanned: u64,
    /// Whether any byte was delivered, in either direction (on the wire:
    /// TLS records count; set by the tracker).
    pub data_seen: bool,
    /// Whether any byte was delivered in each direction (by `Dir::index`).
    pub data_dirs: [bool; 2],
    held_overflow: bool,
    early_overflow: bool,
    /// Gaps seen toward the client.
    response_gaps: u64,
    /// Bytes held in `early` responses' frames.
    early_bytes: usize,
    /// Between a successful SaslHandshake v0 and the next Kafka request:
    /// frames are raw SASL tokens.
    sasl_raw: bool,
    /// `sasl_raw` changed: the framers' smallest size must follow.
    sasl_switched: bool,
    /// Broker endpoint newly confirmed (for the tracker's known-broker set).
    pub confirmed_broker: bool,
}

/// A connection: its framers and its state.
pub(super) struct Conn {
    framers: [Framer; 2],
    pub core: Core,
    /// `held_bytes` when last accounted in the tracker's budget.
    pub accounted: usize,
    /// The TLS layer, when the connection began with a ClientHello: the
    /// Kafka side is fed its plaintext.
    pub tls: Option<Box<crate::tls::TlsConn>>,
    /// Whether the first bytes were looked at for a ClientHello.
    pub tls_checked: bool,
    /// TLS records that failed to decrypt, and resyncs after losses.
    pub tls_failures: u64,
    pub tls_resyncs: u64,
}

/// Context shared by all connections during one callback.
pub(super) struct Ctx<'a> {
    pub cfg: &'a SessionConfig,
    pub out: &'a mut Vec<Record>,
    /// Responses paired with a request captured after them.
    pub reordered: &'a mut u64,
    pub capture: &'a mut CaptureBudget,
}

/// What the capture-wide budget of records
/// ([`SessionConfig::max_capture_records`],
/// [`SessionConfig::max_capture_decompressed_bytes`]) has left, and whether
/// running out of it was reported.
#[derive(Debug)]
pub(super) struct CaptureBudget {
    records: usize,
    decompressed_bytes: usize,
    reported: [bool; 2],
}

impl CaptureBudget {
    pub fn new(cfg: &SessionConfig) -> Self {
        CaptureBudget {
            records: usize::try_from(cfg.max_capture_records).unwrap_or(usize::MAX),
            decompressed_bytes: usize::try_from(cfg.max_capture_decompressed_bytes)
                .unwrap_or(usize::MAX),
            reported: [false; 2],
        }
    }
}

impl Conn {
    /// A connection seen for the first time. `known` is how it is already
    /// known to be Kafka (and which direction is the client's), if it is.
    pub fn new(
        info: ConnInfo,
        at: PacketRef,
        cfg: &SessionConfig,
        known: Option<(DetectedBy, Dir)>,
    ) -> Conn {
        let fc = FramerConfig {
            max_frame_size: cfg.max_frame_size,
            min_frame_size: 4,
            scan_window: cfg.scan_window,
        };
        let framer = || {
            if info.handshake_seen {
                Framer::new(fc)
            } else {
                Framer::new_mid_stream(fc)
            }
        };
        let (state, client_dir) = match known {
            Some((by, dir)) => (State::Kafka(by), Some(dir)),
            None if info.handshake_seen => (State::Candidate, Some(Dir::AtoB)),
            None => (State::Candidate, None),
        };
        Conn {
            accounted: 0,
            tls: None,
            tls_checked: false,
            tls_failures: 0,
            tls_resyncs: 0,
            framers: [framer(), framer()],
            core: Core {
                info,
                opened_at: at,
                state,
                client_dir,
                in_flight: InFlight::default(),
                early: VecDeque::new(),
                held: Vec::new(),
                client_id: None,
                requests: 0,
                responses: 0,
                unanswered: 0,
                orphans: 0,
                matched: 0,
                mismatched: 0,
                retry: None,
                scanned: 0,
                data_seen: false,
                data_dirs: [false; 2],
                held_overflow: false,
                early_overflow: false,
                response_gaps: 0,
                early_bytes: 0,
                sasl_raw: false,
                sasl_switched: false,
                confirmed_broker: false,
            },
        }
    }

    pub fn data(&mut self, dir: Dir, data: &[u8], at: PacketRef, ctx: &mut Ctx<'_>) {
        if self.core.client_dir.is_none() {
            self.core.scanned += data.len() as u64;
            if self.core.scanned > ctx.cfg.detect_scan_limit {
                self.core.state = State::NotKafka;
                return;
            }
        }
        let mut h = Handler {
            core: &mut self.core,
            dir,
            ctx,
        };
        self.framers[dir.index()].data(data, at, &mut h);
        self.after_frames(at, ctx);
    }

    pub fn gap(&mut self, dir: Dir, len: u64, cause: GapCause, at: PacketRef, ctx: &mut Ctx<'_>) {
        if self.core.client_dir.is_some_and(|cd| cd != dir) {
            self.core.response_gaps += 1;
        }
        self.core
            .emit_dir(ctx, at, dir, DirEvent::Gap { bytes: len, cause });
        let mut h = Handler {
            core: &mut self.core,
            dir,
            ctx,
        };
        self.framers[dir.index()].gap(len, at, &mut h);
        self.after_frames(at, ctx);
    }

    /// Rescan a direction whose judgement may have changed.
    fn after_frames(&mut self, at: PacketRef, ctx: &mut Ctx<'_>) {
        if self.core.sasl_switched {
            self.core.sasl_switched = false;
            let min = if self.core.sasl_raw { 0 } else { 4 };
            for f in &mut self.framers {
                f.set_min_frame_size(min);
            }
        }
        // Each retry can only set `retry` for the other direction when it
        // assigns roles, which happens once: this loop runs at most twice.
        for _ in 0..2 {
            let Some(d) = self.core.retry.take() else {
                break;
            };
            let mut h = Handler {
                core: &mut self.core,
                dir: d,
                ctx,
            };
            self.framers[d.index()].retry(at, &mut h);
        }
    }

    /// Bytes this connection holds for the memory budget: frames in
    /// progress and scan windows, responses waiting for their request,
    /// requests waiting for their response.
    pub fn held_bytes(&self) -> usize {
        self.framers[0].heap_bytes()
            + self.framers[1].heap_bytes()
            + self.core.early_bytes
            + self.core.in_flight.bytes()
            + self.tls.as_ref().map_or(0, |t| t.buffered_bytes())
    }

    /// The `tls` event of this connection, when it has one to tell (see
    /// [`EventKind::Tls`]): `kafka` says whether it is a Kafka connection.
    pub fn tls_record(&self, at: PacketRef, kafka: bool, keylog_given: bool) -> Option<Record> {
        let t = self.tls.as_deref()?;
        let info = t.info().clone();
        if !kafka && info.keys == crate::tls::KeyState::Found {
            // Read, and not Kafka: other traffic.
            return None;
        }
        let client_dir = t.client();
        Some(Record::Event(Event {
            at,
            stream: kafka.then_some(self.core.info.id.0),
            kind: EventKind::Tls(Box::new(TlsSession {
                client: self.core.info.src(client_dir),
                server: self.core.info.dst(client_dir),
                client_dir,
                info,
                kafka,
                decrypt_failures: self.tls_failures,
                resyncs: self.tls_resyncs,
                keylog_given,
            })),
        }))
    }

    /// The memory budget is full and this connection holds the most: let go
    /// of what can be given up with the least loss first. Frames in progress
    /// keep their first [`SHED_KEEP`] bytes (their header, so the exchange
    /// still appears, marked damaged); waiting responses and requests lose
    /// their bytes or decoded bodies (they are still paired). Only when
    /// nothing else is left are the oldest requests in flight given up
    /// (`no_response`, reason `memory_limit`). Returns what was let go.
    pub fn shed(&mut self, ctx: &mut Ctx<'_>) -> Shed {
        let mut shed = Shed::default();
        for f in &mut self.framers {
            shed.frame_bytes += f.shed(SHED_KEEP) as u64;
        }
        let c = &mut self.core;
        for e in &mut c.early {
            if let Some(d) = e.data.take() {
                shed.response_bytes += d.len() as u64;
            }
        }
        c.early_bytes = 0;
        c.in_flight.for_each_mut(|p| {
            if let Some(b) = p.body.take() {
                drop(b);
                shed.request_bodies += 1;
            }
        });
        if shed.freed_anything() {
            return shed;
        }
        // Only the entries themselves are left: the oldest half goes.
        let n = c.in_flight.len().div_ceil(2);
        for _ in 0..n {
            let Some(p) = c.in_flight.pop_oldest() else {
                break;
            };
            c.unanswered += 1;
            shed.requests += 1;
            let why = NoResponseReason::MemoryLimit;
            let r = c.exchange(p, None, None, Status::NoResponse(why));
            c.emit(ctx, r);
        }
        shed
    }

    /// The connection ended: unanswered requests and waiting responses are
    /// reported, then the close itself.
    pub fn close(
        &mut self,
        reason: CloseReason,
        segments: [u64; 2],
        at: PacketRef,
        ctx: &mut Ctx<'_>,
    ) {
        // Messages cut by the end of the stream: requests become exchanges
        // (`request_incomplete`), responses still answer their request.
        // Requests first, so a response cut with them finds its request.
        let order = match self.core.client_dir {
            Some(cd) => [cd, cd.reverse()],
            None => [Dir::AtoB, Dir::BtoA],
        };
        for d in order {
            let mut h = Handler {
                core: &mut self.core,
                dir: d,
                ctx,
            };
            self.framers[d.index()].finish(at, &mut h);
        }
        let c = &mut self.core;
        let why = NoResponseReason::from_close(reason);
        while let Some(p) = c.in_flight.pop_oldest() {
            c.unanswered += 1;
            let why = if c.response_gaps > p.gaps_before {
                NoResponseReason::ResponseLostInCapture
            } else {
                why
            };
            let ex = c.exchange(p, None, None, Status::NoResponse(why));
            c.emit(ctx, ex);
        }
        while let Some(e) = c.early.pop_front() {
            c.orphan(ctx, e);
        }
        let cd = c.client_dir.unwrap_or(Dir::AtoB);
        let ev = c.event(
            at,
            EventKind::ConnectionClose {
                reason,
                requests: c.requests,
                responses: c.responses,
                unanswered: c.unanswered,
                client_packets: segments.get(cd.index()).copied().unwrap_or(0),
                broker_packets: segments.get(cd.reverse().index()).copied().unwrap_or(0),
            },
        );
        c.emit(ctx, ev);
    }
}

impl Core {
    fn event(&self, at: PacketRef, kind: EventKind) -> Record {
        Record::Event(Event {
            at,
            stream: Some(self.info.id.0),
            kind,
        })
    }

    /// Emit or hold a record.
    fn emit(&mut self, ctx: &mut Ctx<'_>, r: Record) {
        match self.state {
            State::Kafka(_) => ctx.out.push(r),
            State::Candidate => self.hold(ctx, Held::Record(r)),
            State::NotKafka => {}
        }
    }

    fn hold(&mut self, ctx: &mut Ctx<'_>, h: Held) {
        if self.held.len() < ctx.cfg.max_candidate_records {
            self.held.push(h);
        } else {
            // A candidate that produces this much without a single matched
            // response is not a Kafka connection we can follow (`--port`
            // would force it).
            self.held_overflow = true;
            self.state = State::NotKafka;
            self.held = Vec::new();
            ctx.out.push(self.event(
                self.opened_at,
                EventKind::Limit {
                    limit: Limit::MaxCandidateRecords,
                    value: ctx.cfg.max_candidate_records as u64,
                },
            ));
        }
    }

    fn emit_dir(&mut self, ctx: &mut Ctx<'_>, at: PacketRef, dir: Dir, ev: DirEvent) {
        match (self.state, self.client_dir) {
            (State::Kafka(_), Some(cd)) => {
                let r = self.dir_record(at, dir, cd, ev);
                ctx.out.push(r);
            }
            (State::NotKafka, _) => {}
            _ => self.hold(ctx, Held::Dir(at, dir, ev)),
        }
    }

    fn dir_record(&self, at: PacketRef, dir: Dir, client_dir: Dir, ev: DirEvent) -> Record {
        let direction = if dir == client_dir {
            Direction::ToBroker
        } else {
            Direction::ToClient
        };
        let kind = match ev {
            DirEvent::Gap { bytes, cause } => EventKind::Gap {
                direction,
                bytes,
                cause,
            },
            DirEvent::OutOfSync { offset, cause } => EventKind::OutOfSync {
                direction,
                offset,
                cause,
            },
            DirEvent::Resync { offset, skipped } => EventKind::Resync {
                direction,
                offset,
                skipped,
            },
            DirEvent::TooLarge { size, limit } => EventKind::FrameTooLarge {
                direction,
                size,
                limit,
            },
            DirEvent::Malformed { reason, size } => EventKind::MalformedHeader {
                direction,
                reason,
                size,
            },
            DirEvent::Lost { size } => EventKind::MessageLost { direction, size },
        };
        self.event(at, kind)
    }

    /// The connection is Kafka: announce it and release what was held.
    pub fn confirm(&mut self, by: DetectedBy, ctx: &mut Ctx<'_>) {
        if self.state != State::Candidate {
            return;
        }
        let Some(cd) = self.client_dir else {
            return;
        };
        self.state = State::Kafka(by);
        self.confirmed_broker = true;
        ctx.out.push(self.open_record(by, cd));
        for h in std::mem::take(&mut self.held) {
            let r = match h {
                Held::Record(r) => r,
                Held::Dir(at, dir, ev) => self.dir_record(at, dir, cd, ev),
            };
            ctx.out.push(r);
        }
    }

    pub fn open_record(&self, by: DetectedBy, client_dir: Dir) -> Record {
        self.event(
            self.opened_at,
            EventKind::ConnectionOpen {
                client: self.info.src(client_dir),
                broker: self.info.dst(client_dir),
                handshake_seen: self.info.handshake_seen,
                detected_by: by,
            },
        )
    }

    fn exchange(
        &self,
        p: Pending,
        response: Option<MessageInfo>,
        response_body: Option<Box<Body>>,
        status: Status,
    ) -> Record {
        let cd = self.client_dir.unwrap_or(Dir::AtoB);
        let errors = response_body
            .as_deref()
            .map(body::errors)
            .unwrap_or_default();
        let undecoded = response_body.as_deref().is_some_and(|b| {
            b.message.is_some() && b.error.as_ref().is_some_and(|e| e.kind.malformed())
        });
        let whole = response.is_some_and(|r| r.lost_bytes == 0);
        let status = if status == Status::Ok && !errors.is_empty() {
            Status::Error
        } else if status == Status::Ok && undecoded && whole {
            Status::Malformed
        } else {
            status
        };
        Record::Exchange(Box::new(Exchange {
            stream: self.info.id.0,
            client: self.info.src(cd),
            broker: self.info.dst(cd),
            api_key: p.api_key,
            api_version: p.api_version,
            correlation_id: p.correlation_id,
            client_id: p.client_id,
            request: p.request,
            response,
            status,
            errors,
            request_body: p.body,
            response_body,
            capture: 0,
            broker_side: None,
        }))
    }

    /// Decode a body, reporting a failure that is news as an event.
    #[allow(clippy::too_many_arguments)]
    fn decode(
        &mut self,
        ctx: &mut Ctx<'_>,
        at: PacketRef,
        dir: Dir,
        api_key: ApiKey,
        version: i16,
        kind: MessageKind,
        bytes: &[u8],
        complete: bool,
    ) -> Option<Box<Body>> {
        if !ctx.cfg.decode_bodies {
            return None;
        }
        // A message's records get the smaller of their own budget and what
        // is left of the capture's.
        let own = &ctx.cfg.record_limits;
        let left = &*ctx.capture;
        let capture_binds = [
            left.records < own.max_records,
            left.decompressed_bytes < own.max_total_decompressed_bytes,
        ];
        let opts = body::DecodeOptions {
            records: ctx.cfg.records,
            limits: RecordLimits {
                max_records: own.max_records.min(left.records),
                max_total_decompressed_bytes: own
                    .max_total_decompressed_bytes
                    .min(left.decompressed_bytes),
                ..own.clone()
            },
            show_secrets: ctx.cfg.show_secrets,
        };
        let (b, problem, spent) = body::decode(api_key, version, kind, bytes, complete, &opts);
        ctx.capture.records = ctx.capture.records.saturating_sub(spent.records);
        ctx.capture.decompressed_bytes = ctx
            .capture
            .decompressed_bytes
            .saturating_sub(spent.decompressed_bytes);
        if let Some(p) = problem {
            let direction = match (self.client_dir, dir) {
                (Some(cd), d) if cd != d => Direction::ToClient,
                _ => Direction::ToBroker,
            };
            let r = self.event(
                at,
                EventKind::DecodeError {
                    direction,
                    api_key: api_key.0,
                    api_version: version,
                    reason: p.reason,
                    offset: p.offset,
                    path: p.path,
                },
            );
            self.emit(ctx, r);
        }
        // Record limits cut what is shown: say so, once per limit and body.
        let hit = |k: IssueKind| {
            b.records
                .iter()
                .any(|(_, set)| set.issues.iter().any(|i| i.kind == k))
        };
        // The capture's budget, when it was the smaller, is said once for
        // the whole capture.
        let limits = [
            (
                IssueKind::RecordLimit,
                Limit::MaxRecords,
                own.max_records as u64,
                Limit::MaxCaptureRecords,
                ctx.cfg.max_capture_records,
            ),
            (
                IssueKind::DecompressedLimit,
                Limit::MaxDecompressedBytes,
                own.max_decompressed_bytes as u64,
                Limit::MaxCaptureDecompressedBytes,
                ctx.cfg.max_capture_decompressed_bytes,
            ),
        ];
        for (i, (kind, limit, value, capture_limit, capture_value)) in
            limits.into_iter().enumerate()
        {
            if !hit(kind) {
                continue;
            }
            let (limit, value) = match capture_binds.get(i) {
                Some(true) => {
                    let Some(said) = ctx.capture.reported.get_mut(i) else {
                        continue;
                    };
                    if std::mem::replace(said, true) {
                        continue;
                    }
                    (capture_limit, capture_value)
                }
                _ => (limit, value),
            };
            let r = self.event(at, EventKind::Limit { limit, value });
            self.emit(ctx, r);
        }
        Some(Box::new(b))
    }

    fn orphan(&mut self, ctx: &mut Ctx<'_>, e: Early) {
        self.orphans += 1;
        self.early_bytes -= e.data.as_ref().map_or(0, Vec::len);
        let r = self.event(
            PacketRef {
                frame: e.response.frame,
                ts: e.response.ts,
            },
            EventKind::OrphanResponse {
                correlation_id: e.correlation_id,
                size: e.response.size,
                frame: e.response.frame,
                ts: e.response.ts,
            },
        );
        self.emit(ctx, r);
    }

    fn intern_client_id(&mut self, raw: Option<&[u8]>) -> Option<Arc<str>> {
        let raw = raw?;
        if let Some(cur) = &self.client_id
            && cur.as_bytes() == raw
        {
            return Some(cur.clone());
        }
        let s: Arc<str> = Arc::from(String::from_utf8_lossy(raw).as_ref());
        self.client_id = Some(s.clone());
        Some(s)
    }

    fn role(&self, dir: Dir) -> Option<bool> {
        self.client_dir.map(|cd| cd == dir)
    }

    /// A candidate whose framing was known from the start and broke is not
    /// Kafka; one joined mid-stream just keeps scanning.
    fn reject_if_strict(&mut self) {
        if self.state == State::Candidate && self.info.handshake_seen {
            self.state = State::NotKafka;
        }
    }

    fn on_request(&mut self, dir: Dir, f: Frame<'_>, ctx: &mut Ctx<'_>) -> Next {
        let msg = MessageInfo {
            frame: f.at.frame,
            first_frame: f.first.frame,
            ts: f.at.ts,
            size: f.size,
            lost_bytes: f.lost,
        };
        let complete = f.lost == 0;
        let h = match parse_request_header(f.data) {
            Ok(h) if h.header_len <= f.size as usize => h,
            Err(HeaderError::Incomplete) if !complete => {
                self.emit_dir(ctx, f.at, dir, DirEvent::Lost { size: f.size });
                return Next::Continue;
            }
            Ok(_) | Err(HeaderError::Incomplete) => {
                return self.malformed(dir, f, "header longer than frame", ctx);
            }
            Err(HeaderError::Invalid(reason)) => return self.malformed(dir, f, reason, ctx),
        };
        if self.state == State::Candidate {
            let plausible = match plausible_request_header(f.data, f.size as usize, None) {
                Ok(()) => true,
                // The header survived but the frame was cut after it.
                Err(HeaderError::Incomplete) => !complete,
                // After a plausible first request, a well-framed one from the
                // same client id may carry a key or version newer than
                // kwire's table: keep it.
                Err(HeaderError::Invalid(_)) => {
                    self.requests > 0
                        && h.client_id.is_some_and(|id| {
                            self.client_id.as_deref().map(str::as_bytes) == Some(id)
                        })
                }
            };
            if !plausible {
                self.reject_if_strict();
                return Next::Desync;
            }
        }
        if self.client_dir.is_none() {
            self.client_dir = Some(dir);
        }
        self.requests += 1;
        if h.api_key.info().is_none() {
            let r = self.event(
                f.at,
                EventKind::UnknownApi {
                    api_key: h.api_key.0,
                    api_version: h.api_version,
                },
            );
            self.emit(ctx, r);
        }
        let client_id = self.intern_client_id(h.client_id);
        let body_bytes = f.data.get(h.header_len..).unwrap_or(&[]);
        let body = self.decode(
            ctx,
            f.at,
            dir,
            h.api_key,
            h.api_version,
            MessageKind::Request,
            body_bytes,
            complete,
        );
        let p = Pending {
            api_key: h.api_key,
            api_version: h.api_version,
            correlation_id: h.correlation_id,
            client_id,
            request: msg,
            gaps_before: self.response_gaps,
            body,
        };
        if f.incomplete {
            // The stream ended inside the request: it can have no response.
            self.unanswered += 1;
            let why = NoResponseReason::RequestIncomplete;
            let r = self.exchange(p, None, None, Status::NoResponse(why));
            self.emit(ctx, r);
            return Next::Continue;
        }
        if h.api_key == ApiKey::PRODUCE
            && produce_acks(h.api_version, &f.data[h.header_len.min(f.data.len())..]) == Some(0)
        {
            let r = self.exchange(p, None, None, Status::NoResponseExpected);
            self.emit(ctx, r);
            return Next::Continue;
        }
        if let Some(i) = self
            .early
            .iter()
            .position(|e| e.correlation_id == h.correlation_id)
        {
            let e = self.early.remove(i).expect("index from position");
            self.early_bytes -= e.data.as_ref().map_or(0, Vec::len);
            *ctx.reordered += 1;
            self.answered(p, e.response, e.data.as_deref(), ctx);
            return Next::Continue;
        }
        if let Some(first) = self.in_flight.oldest_with(h.correlation_id) {
            let r = self.event(
                f.at,
                EventKind::DuplicateCorrelationId {
                    correlation_id: h.correlation_id,
                    first_frame: first.request.frame,
                },
            );
            self.emit(ctx, r);
        }
        self.in_flight.push(p);
        if self.in_flight.len() > ctx.cfg.max_in_flight
            && let Some(old) = self.in_flight.pop_oldest()
        {
            self.unanswered += 1;
            let r = self.event(
                f.at,
                EventKind::Limit {
                    limit: Limit::MaxInFlight,
                    value: ctx.cfg.max_in_flight as u64,
                },
            );
            self.emit(ctx, r);
            let r = self.exchange(
                old,
                None,
                None,
                Status::NoResponse(NoResponseReason::InFlightLimit),
            );
            self.emit(ctx, r);
        }
        // The broker's direction may be waiting for a request to sync on.
        self.retry = Some(dir.reverse());
        Next::Continue
    }

    fn malformed(
        &mut self,
        dir: Dir,
        f: Frame<'_>,
        reason: &'static str,
        ctx: &mut Ctx<'_>,
    ) -> Next {
        if self.state == State::Candidate {
            self.reject_if_strict();
            return Next::Desync;
        }
        self.emit_dir(
            ctx,
            f.at,
            dir,
            DirEvent::Malformed {
                reason,
                size: f.size,
            },
        );
        Next::Desync
    }

    /// Pair `p` with its response; `data` is the response frame (after the
    /// size), when kept.
    fn answered(
        &mut self,
        p: Pending,
        response: MessageInfo,
        data: Option<&[u8]>,
        ctx: &mut Ctx<'_>,
    ) {
        self.matched += 1;
        if self.state == State::Candidate {
            self.confirm(DetectedBy::Traffic, ctx);
        }
        let server = self.client_dir.unwrap_or(Dir::AtoB).reverse();
        let at = PacketRef {
            frame: response.frame,
            ts: response.ts,
        };
        let mut body = None;
        if p.api_key == ApiKey::SASL_HANDSHAKE
            && p.api_version == 0
            && data.and_then(|d| d.get(4..6)) == Some(&[0, 0][..])
        {
            // SaslHandshake v0 succeeded: raw SASL tokens follow (v1 uses
            // SaslAuthenticate instead). The error code is the body's first
            // field, after the 4-byte v0 response header.
            self.sasl_raw = true;
            self.sasl_switched = true;
        }
        if let Some(data) = data {
            // The response header's version follows the request's API key
            // and version (v1 adds tagged fields, except for ApiVersions).
            let hv = p.api_key.response_header_version(p.api_version);
            match parse_response_header(data, hv) {
                Ok(h) => {
                    let bytes = data.get(h.header_len..).unwrap_or(&[]);
                    body = self.decode(
                        ctx,
                        at,
                        server,
                        p.api_key,
                        p.api_version,
                        MessageKind::Response,
                        bytes,
                        response.lost_bytes == 0,
                    );
                }
                Err(HeaderError::Invalid(reason)) => {
                    let ev = DirEvent::Malformed {
                        reason,
                        size: response.size,
                    };
                    self.emit_dir(ctx, at, server, ev);
                }
                Err(HeaderError::Incomplete) => {}
            }
        }
        let r = self.exchange(p, Some(response), body, Status::Ok);
        self.emit(ctx, r);
    }

    fn on_response(&mut self, dir: Dir, f: Frame<'_>, ctx: &mut Ctx<'_>) -> Next {
        let Some(corr) = response_correlation_id(f.data) else {
            self.emit_dir(ctx, f.at, dir, DirEvent::Lost { size: f.size });
            return Next::Continue;
        };
        self.responses += 1;
        let msg = MessageInfo {
            frame: f.at.frame,
            first_frame: f.first.frame,
            ts: f.at.ts,
            size: f.size,
            lost_bytes: f.lost,
        };
        self.expire_early(f.at, ctx);
        if let Some(p) = self.in_flight.take(corr) {
            self.answered(p, msg, Some(f.data), ctx);
            return Next::Continue;
        }
        self.mismatched += 1;
        if self.state == State::Candidate && self.matched == 0 && self.mismatched > 8 {
            self.state = State::NotKafka;
            return Next::Continue;
        }
        let keep =
            ctx.cfg.decode_bodies && self.early_bytes + f.data.len() <= ctx.cfg.max_early_bytes;
        let data = keep.then(|| f.data.to_vec());
        self.early_bytes += data.as_ref().map_or(0, Vec::len);
        self.early.push_back(Early {
            correlation_id: corr,
            response: msg,
            data,
        });
        if self.early.len() > ctx.cfg.max_early_responses {
            if !self.early_overflow {
                self.early_overflow = true;
                let r = self.event(
                    f.at,
                    EventKind::Limit {
                        limit: Limit::MaxEarlyResponses,
                        value: ctx.cfg.max_early_responses as u64,
                    },
                );
                self.emit(ctx, r);
            }
            let e = self.early.pop_front().expect("non-empty");
            self.orphan(ctx, e);
        }
        Next::Continue
    }

    /// Responses that waited too long for their request are orphans.
    fn expire_early(&mut self, now: PacketRef, ctx: &mut Ctx<'_>) {
        while let Some(e) = self.early.front() {
            let waited = now.ts.nanos_since(e.response.ts);
            if waited < ctx.cfg.early_response_timeout_ns as i128 {
                break;
            }
            let e = self.early.pop_front().expect("non-empty");
            self.orphan(ctx, e);
        }
    }

    /// In the raw SASL phase, whether `f` is a SASL token (reported as
    /// such) rather than a Kafka message. A Kafka request from the same
    /// client ends the phase; a response to a request in flight is Kafka.
    fn sasl_token(&mut self, dir: Dir, f: &Frame<'_>, ctx: &mut Ctx<'_>) -> bool {
        let to_broker = self.client_dir == Some(dir);
        if to_broker {
            let cid = self.client_id.as_deref().map(str::as_bytes);
            if cid.is_some() && plausible_request_header(f.data, f.size as usize, cid).is_ok() {
                self.sasl_raw = false;
                self.sasl_switched = true;
                return false;
            }
        } else if let Some(corr) = response_correlation_id(f.data)
            && self.in_flight.contains(corr)
        {
            return false;
        }
        let direction = if to_broker {
            Direction::ToBroker
        } else {
            Direction::ToClient
        };
        let r = self.event(
            f.at,
            EventKind::SaslToken {
                direction,
                size: f.size,
            },
        );
        self.emit(ctx, r);
        true
    }

    fn judge(&mut self, dir: Dir, bytes: &[u8], ctx: &Ctx<'_>) -> Verdict {
        let max = ctx.cfg.max_frame_size;
        match self.role(dir) {
            Some(true) => {
                let cid = self.client_id.as_deref().map(str::as_bytes);
                detect::request_candidate(bytes, max, cid)
            }
            // Which side is the client is not known: only a request with a
            // client id settles it (a response's correlation id reads as api
            // key 0, version N, and its body often as an empty client id).
            None => detect::role_candidate(bytes),
            Some(false) => {
                let in_flight = &self.in_flight;
                detect::response_candidate(bytes, |c| in_flight.contains(c))
            }
        }
    }
}

/// The framer's view of a connection, for one direction.
struct Handler<'a, 'b> {
    core: &'a mut Core,
    dir: Dir,
    ctx: &'a mut Ctx<'b>,
}

impl FrameHandler for Handler<'_, '_> {
    fn on_frame(&mut self, f: Frame<'_>) -> Next {
        if self.core.state == State::NotKafka {
            return Next::Continue;
        }
        if self.core.sasl_raw && self.core.sasl_token(self.dir, &f, self.ctx) {
            return Next::Continue;
        }
        match self.core.role(self.dir) {
            Some(false) => self.core.on_response(self.dir, f, self.ctx),
            _ => {
                let had_role = self.core.client_dir.is_some();
                let next = self.core.on_request(self.dir, f, self.ctx);
                if !had_role && self.core.client_dir.is_some() {
                    self.core.retry = Some(self.dir.reverse());
                }
                next
            }
        }
    }

    fn check_candidate(&mut self, bytes: &[u8]) -> Verdict {
        if self.core.state == State::NotKafka {
            return Verdict::No;
        }
        self.core.judge(self.dir, bytes, self.ctx)
    }

    fn on_event(&mut self, event: FrameEvent, at: PacketRef) {
        let ev = match event {
            FrameEvent::OutOfSync { offset, cause } => {
                if cause == DesyncCause::BadSize {
                    self.core.reject_if_strict();
                }
                DirEvent::OutOfSync { offset, cause }
            }
            FrameEvent::Resync { offset, skipped } => DirEvent::Resync { offset, skipped },
            FrameEvent::TooLarge { size, limit, .. } => DirEvent::TooLarge { size, limit },
        };
        self.core.emit_dir(self.ctx, at, self.dir, ev);
    }
}
