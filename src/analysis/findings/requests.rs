//! Requests: requests that got no response (and how their connection
//! ended), responses slower than the norm for their API on their broker,
//! throttling, and the error codes no other family claims.
//!
//! Contract: no panic whatever the exchanges and events hold, in whatever
//! order; every table has a named limit (past it, new keys are not tracked
//! and counts stop growing; nothing is reallocated in proportion to input).
//! The helpers at the top (`client_key`, `hms`, `hold`, unanswered-request
//! bookkeeping) are shared with the other client-side detectors.

use foldhash::HashMap;
use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::analysis::histogram::{Histogram, Total};
use crate::analysis::stats::throttle_time_ms;
use crate::analysis::topics::{group_of, topics_of};
use crate::capture::Timestamp;
use crate::kafka::ApiKey;
use crate::kafka::errors::ErrorCode;
use crate::kafka::schema::views::{
    AlterPartitionReassignmentsRequest, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteRecordsRequest, DeleteTopicsRequest, ElectLeadersRequest, FetchRequest, JoinGroupRequest,
    ProduceRequest, ShareFetchRequest,
};
use crate::present::{duration, plural_suffix};
use crate::session::{Body, Event, EventKind, Exchange, NoResponseReason, Status};
use crate::tcp::CloseReason;

use super::{About, Context, Detector, Finding, MAX_FRAMES, MAX_NAMES, Severity};

/// This family's detectors.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    vec![
        Box::new(NoResponse::default()),
        Box::new(Slow::default()),
        Box::new(Throttle::default()),
        Box::new(OtherErrors::default()),
    ]
}

// ------------------------------------------------------------------ shared

/// Error codes other families explain, as `(api key or None for any API,
/// code)`: the catch-all [`OtherErrors`] stays quiet about them.
/// * metadata churn: unknown topic, leadership (LEADER_NOT_AVAILABLE,
///   NOT_LEADER_OR_FOLLOWER, REPLICA_NOT_AVAILABLE) and the topic, group and
///   cluster authorization failures, and every `*_AUTHORIZATION_FAILED`
///   (see [`claimed`]);
/// * groups: the coordinator codes, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
///   REBALANCE_IN_PROGRESS, MEMBER_ID_REQUIRED and the KIP-848 codes
///   (FENCED_MEMBER_EPOCH to STALE_MEMBER_EPOCH);
/// * producer and lag: OFFSET_OUT_OF_RANGE (any API), REQUEST_TIMED_OUT on
///   Produce, the size, sequence and epoch codes, INVALID_RECORD, and the
///   transaction codes;
/// * bootstrap (this side): UNSUPPORTED_VERSION on any API (ApiVersions
///   negotiation and versions a broker does not offer).
pub const CLAIMED_CODES: &[(Option<ApiKey>, ErrorCode)] = &[
    // metadata churn
    (None, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
    (None, ErrorCode::LEADER_NOT_AVAILABLE),
    (None, ErrorCode::NOT_LEADER_OR_FOLLOWER),
    (None, ErrorCode::REPLICA_NOT_AVAILABLE),
    (None, ErrorCode::TOPIC_AUTHORIZATION_FAILED),
    (None, ErrorCode::GROUP_AUTHORIZATION_FAILED),
    (None, ErrorCode::CLUSTER_AUTHORIZATION_FAILED),
    // groups (classic and KIP-848)
    (None, ErrorCode::COORDINATOR_LOAD_IN_PROGRESS),
    (None, ErrorCode::COORDINATOR_NOT_AVAILABLE),
    (None, ErrorCode::NOT_COORDINATOR),
    (None, ErrorCode::ILLEGAL_GENERATION),
    (None, ErrorCode::UNKNOWN_MEMBER_ID),
    (None, ErrorCode::REBALANCE_IN_PROGRESS),
    (None, ErrorCode::MEMBER_ID_REQUIRED),
    (None, ErrorCode::FENCED_MEMBER_EPOCH),
    (None, ErrorCode::UNRELEASED_INSTANCE_ID),
    (None, ErrorCode::UNSUPPORTED_ASSIGNOR),
    (None, ErrorCode::STALE_MEMBER_EPOCH),
    // producer, transactions, lag
    (None, ErrorCode::OFFSET_OUT_OF_RANGE),
    (Some(ApiKey::PRODUCE), ErrorCode::REQUEST_TIMED_OUT),
    (None, ErrorCode::MESSAGE_TOO_LARGE),
    (None, ErrorCode::RECORD_LIST_TOO_LARGE),
    (None, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER),
    (None, ErrorCode::DUPLICATE_SEQUENCE_NUMBER),
    (None, ErrorCode::INVALID_PRODUCER_EPOCH),
    (None, ErrorCode::INVALID_TXN_STATE),
    (None, ErrorCode::INVALID_PRODUCER_ID_MAPPING),
    (None, ErrorCode::INVALID_TRANSACTION_TIMEOUT),
    (None, ErrorCode::CONCURRENT_TRANSACTIONS),
    (None, ErrorCode::TRANSACTION_COORDINATOR_FENCED),
    (None, ErrorCode::UNKNOWN_PRODUCER_ID),
    (None, ErrorCode::INVALID_RECORD),
    (None, ErrorCode::PRODUCER_FENCED),
    (None, ErrorCode::TRANSACTIONAL_ID_NOT_FOUND),
    (None, ErrorCode::TRANSACTION_ABORTABLE),
    // bootstrap and versions
    (None, ErrorCode::UNSUPPORTED_VERSION),
    // authentication (findings/auth.rs)
    (
        Some(ApiKey::SASL_HANDSHAKE),
        ErrorCode::UNSUPPORTED_SASL_MECHANISM,
    ),
    (
        Some(ApiKey::SASL_AUTHENTICATE),
        ErrorCode::SASL_AUTHENTICATION_FAILED,
    ),
];

/// Whether another family (or the bootstrap detector) explains `code` on
/// `api`.
pub fn claimed(api: ApiKey, code: i16) -> bool {
    let code = ErrorCode(code);
    CLAIMED_CODES
        .iter()
        .any(|&(a, c)| c == code && a.is_none_or(|a| a == api))
        || code.name().ends_with("_AUTHORIZATION_FAILED")
}

/// Who sent a request: its client id, or its address when it sent none.
pub(super) fn client_key(e: &Exchange) -> String {
    match e.client_id.as_deref() {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => format!("address {}", e.client.ip()),
    }
}

/// How long a broker may hold a request before answering, by design.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Hold {
    /// Answered as soon as it is processed (Metadata, OffsetCommit,
    /// Heartbeat, ConsumerGroupHeartbeat, ListOffsets…).
    No,
    /// Up to this many milliseconds, from the request: Fetch and ShareFetch
    /// `maxWaitMs` (a long poll), JoinGroup `rebalanceTimeoutMs` (held until
    /// the group rebalances), Produce `timeoutMs` (waiting for the replicas'
    /// acknowledgements with acks=all), admin requests' `timeoutMs`.
    UpTo(i64),
    /// Held without a bound the request states: SyncGroup (a follower's is
    /// held until the leader's arrives, within the group's rebalance timeout).
    Unbounded,
}

/// The request's [`Hold`].
pub(super) fn hold(e: &Exchange) -> Hold {
    let q = e.request_body.as_deref().and_then(Body::view);
    let ms = |v: Option<i32>| Hold::UpTo(v.map_or(0, i64::from).max(0));
    match e.api_key {
        // Fetch, ShareFetch: long poll.
        ApiKey::FETCH => ms(q.map(FetchRequest).and_then(|q| q.max_wait_ms())),
        ApiKey::SHARE_FETCH => ms(q.map(ShareFetchRequest).and_then(|q| q.max_wait_ms())),
        // JoinGroup: rebalanceTimeoutMs (v1+), sessionTimeoutMs before.
        ApiKey::JOIN_GROUP => {
            let q = q.map(JoinGroupRequest);
            match q
                .and_then(|q| q.rebalance_timeout_ms())
                .or(q.and_then(|q| q.session_timeout_ms()))
            {
                Some(v) => ms(Some(v)),
                None => Hold::Unbounded,
            }
        }
        ApiKey::SYNC_GROUP => Hold::Unbounded,
        // Produce (acks=all waits for the ISR), CreateTopics, DeleteTopics,
        // DeleteRecords, CreatePartitions, ElectLeaders,
        // AlterPartitionReassignments: timeoutMs.
        ApiKey::PRODUCE => ms(q.map(ProduceRequest).and_then(|q| q.timeout_ms())),
        ApiKey::CREATE_TOPICS => ms(q.map(CreateTopicsRequest).and_then(|q| q.timeout_ms())),
        ApiKey::DELETE_TOPICS => ms(q.map(DeleteTopicsRequest).and_then(|q| q.timeout_ms())),
        ApiKey::DELETE_RECORDS => ms(q.map(DeleteRecordsRequest).and_then(|q| q.timeout_ms())),
        ApiKey::CREATE_PARTITIONS => {
            ms(q.map(CreatePartitionsRequest).and_then(|q| q.timeout_ms()))
        }
        ApiKey::ELECT_LEADERS => ms(q.map(ElectLeadersRequest).and_then(|q| q.timeout_ms())),
        ApiKey::ALTER_PARTITION_REASSIGNMENTS => ms(q
            .map(AlterPartitionReassignmentsRequest)
            .and_then(|q| q.timeout_ms())),
        _ => Hold::No,
    }
}

/// Whether the broker holds this API's requests by design (a long poll or
/// a rebalance barrier), so its latency says nothing of the broker's speed.
pub(super) fn long_poll(api: ApiKey) -> bool {
    matches!(
        api,
        ApiKey::FETCH | ApiKey::JOIN_GROUP | ApiKey::SYNC_GROUP | ApiKey::SHARE_FETCH
    )
}

/// A request that waiting longer than its [`Hold`] plus this had stalled:
/// brokers answer requests they do not hold in milliseconds (the request
/// queue and a log append or a lookup), so one left unanswered a whole
/// second past its hold was not being answered.
pub const STALL_MS: i64 = 1_000;

/// A request still unanswered at capture end is worth a word only past
/// Kafka's default `request.timeout.ms` (30 s) beyond its hold: sooner, the
/// capture merely stopped before the answer.
pub const CAPTURE_END_OVERDUE_MS: i64 = 30_000;

/// Most unanswered requests kept waiting for their connection's close.
pub const MAX_PENDING: usize = 16_384;
/// Most unanswered requests kept per connection.
pub const MAX_PENDING_PER_STREAM: usize = 256;

/// An unanswered request.
#[derive(Clone, Debug)]
pub(super) struct Unanswered {
    pub stream: u64,
    pub client: String,
    pub broker: SocketAddr,
    pub api: ApiKey,
    pub frame: u64,
    pub ts: Timestamp,
    pub hold: Hold,
    pub reason: NoResponseReason,
    pub group: Option<String>,
    pub topics: Vec<String>,
}

impl Unanswered {
    pub fn of(e: &Exchange, reason: NoResponseReason, cx: &Context<'_>) -> Unanswered {
        let mut topics = topics_of(e, cx.names);
        topics.truncate(4);
        Unanswered {
            stream: e.stream,
            client: client_key(e),
            broker: e.broker,
            api: e.api_key,
            frame: e.request.frame,
            ts: e.request.ts,
            hold: hold(e),
            reason,
            group: group_of(e),
            topics,
        }
    }

    /// Microseconds it waited past its hold by `end` (negative: not yet).
    pub fn overdue_us(&self, end: Timestamp) -> Option<i64> {
        match self.hold {
            Hold::No => Some(end.micros_since(self.ts)),
            Hold::UpTo(ms) => Some(end.micros_since(self.ts) - ms.saturating_mul(1000)),
            Hold::Unbounded => None,
        }
    }
}

/// Unanswered requests waiting for their connection's close (the analyzer
/// emits them just before the `connection_close`; the close says when the
/// wait ended).
#[derive(Default)]
pub(super) struct Pending {
    by_stream: HashMap<u64, Vec<Unanswered>>,
    len: usize,
}

impl Pending {
    pub fn push(&mut self, u: Unanswered) {
        if self.len >= MAX_PENDING {
            return;
        }
        let v = self.by_stream.entry(u.stream).or_default();
        if v.len() < MAX_PENDING_PER_STREAM {
            v.push(u);
            self.len += 1;
        }
    }

    /// The requests of a connection that closed, with when and how.
    pub fn close(&mut self, ev: &Event) -> Option<(Vec<Unanswered>, Timestamp, u64, CloseReason)> {
        let EventKind::ConnectionClose { reason, .. } = ev.kind else {
            return None;
        };
        let v = self.by_stream.remove(&ev.stream?)?;
        self.len -= v.len();
        Some((v, ev.at.ts, ev.at.frame, reason))
    }
}

/// Most client ids whose latest request time is kept.
pub const MAX_CLIENTS: usize = 4096;

/// `n API, m API` from counts, most first.
fn api_counts(counts: &BTreeMap<ApiKey, u64>) -> String {
    let mut v: Vec<_> = counts.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(k, n)| format!("{} {}", n, k.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn join_brokers(b: &[SocketAddr]) -> String {
    b.iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

// ------------------------------------------------------------- no response

/// Requests left unanswered when their connection ended.
///
/// * `request_timeout` (Error): closed, reset or idle after waiting more
///   than [`STALL_MS`] past their hold: the broker was not answering.
/// * `request_lost` (Warning): cut by the end of the connection sooner than
///   that while the client carried on (it sent requests afterwards): the
///   client had to retry elsewhere.
/// * Cut by the end of the connection while the client sent nothing after:
///   the client shutting down with requests in flight (a Fetch long poll,
///   a last Metadata): normal, not reported.
/// * `no_response_at_capture_end` (Warning): still unanswered when the
///   capture ended, [`CAPTURE_END_OVERDUE_MS`] past the hold. Sooner, the
///   capture merely ended first: not reported.
/// * Responses the capture lost, connections evicted or reused: the
///   capture's limits, reported by its own events, not here.
#[derive(Default)]
pub struct NoResponse {
    pending: Pending,
    done: Vec<(Unanswered, Timestamp, CloseReason)>,
    overflow: u64,
    /// Per client, its connections: (stream, opened, latest request).
    activity: HashMap<String, Vec<(u64, Timestamp, Timestamp)>>,
    /// Connections' first packet, from `connection_open`.
    opened: HashMap<u64, Timestamp>,
    /// Latest request per (client, API).
    latest: HashMap<(String, ApiKey), Timestamp>,
}

/// (client, API) pairs whose latest request time is kept.
pub const MAX_CLIENT_APIS: usize = 16_384;

/// Connections remembered per client (to tell a client that carried on
/// from one that exited).
pub const MAX_STREAMS_PER_CLIENT: usize = 256;
/// Connections whose opening time is remembered.
pub const MAX_OPENED: usize = 65_536;

impl NoResponse {
    /// Whether the client of `u` carried on after `end`: it sent a request
    /// on a connection opened before (the same process: a client id shared
    /// by a process started afterwards opens new connections), or sent the
    /// same API again.
    fn carried_on(&self, u: &Unanswered, end: Timestamp) -> bool {
        let kept_going = self
            .activity
            .get(&u.client)
            .is_some_and(|v| v.iter().any(|&(_, open, last)| open < end && last > end));
        // Or it sent the same API again: a retry (a later process with the
        // same client id rarely starts with the request a previous one was
        // cut in, and a shutdown sends nothing after).
        let retried = self
            .latest
            .get(&(u.client.clone(), u.api))
            .is_some_and(|t| *t > end);
        kept_going || retried
    }
}

/// Most resolved unanswered requests kept for the findings.
pub const MAX_UNANSWERED: usize = 16_384;

impl Detector for NoResponse {
    fn exchange(&mut self, e: &Exchange, cx: &Context<'_>) {
        let key = client_key(e);
        let k2 = (key.clone(), e.api_key);
        if let Some(t) = self.latest.get_mut(&k2) {
            *t = (*t).max(e.request.ts);
        } else if self.latest.len() < MAX_CLIENT_APIS {
            self.latest.insert(k2, e.request.ts);
        }
        if self.activity.contains_key(&key) || self.activity.len() < MAX_CLIENTS {
            let v = self.activity.entry(key).or_default();
            if let Some(c) = v.iter_mut().find(|c| c.0 == e.stream) {
                c.2 = c.2.max(e.request.ts);
            } else if v.len() < MAX_STREAMS_PER_CLIENT {
                let open = self.opened.get(&e.stream).copied().unwrap_or(e.request.ts);
                v.push((e.stream, open.min(e.request.ts), e.request.ts));
            }
        }
        if let Status::NoResponse(reason) = e.status {
            match reason {
                NoResponseReason::ConnectionClosed
                | NoResponseReason::ConnectionReset
                | NoResponseReason::IdleTimeout
                | NoResponseReason::CaptureEnded => {
                    self.pending.push(Unanswered::of(e, reason, cx));
                }
                _ => {}
            }
        }
    }

    fn event(&mut self, ev: &Event, _cx: &Context<'_>) {
        if let (EventKind::ConnectionOpen { .. }, Some(s)) = (&ev.kind, ev.stream)
            && self.opened.len() < MAX_OPENED
        {
            self.opened.insert(s, ev.at.ts);
        }
        if let (EventKind::ConnectionClose { .. }, Some(s)) = (&ev.kind, ev.stream) {
            self.opened.remove(&s);
        }
        if let Some((v, ts, _frame, reason)) = self.pending.close(ev) {
            for u in v {
                if self.done.len() < MAX_UNANSWERED {
                    self.done.push((u, ts, reason));
                } else {
                    self.overflow += 1;
                }
            }
        }
    }

    fn findings(&self, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        #[derive(Default)]
        struct Acc {
            f: Option<Finding>,
            apis: BTreeMap<ApiKey, u64>,
            closed: u64,
            reset: u64,
            idle: u64,
            max_wait: i64,
            /// Per broker, from the first request sent to the last end.
            windows: Vec<(SocketAddr, Timestamp, Timestamp)>,
        }
        let mut timeout = Acc::default();
        let mut lost = Acc::default();
        let mut at_end = Acc::default();
        for (u, end, reason) in &self.done {
            let overdue = u.overdue_us(*end);
            let acc = match u.reason {
                NoResponseReason::CaptureEnded => {
                    if overdue.is_some_and(|o| o > CAPTURE_END_OVERDUE_MS * 1000) {
                        &mut at_end
                    } else {
                        continue;
                    }
                }
                _ if overdue.is_some_and(|o| o > STALL_MS * 1000) => &mut timeout,
                _ => {
                    if !self.carried_on(u, *end) {
                        continue;
                    }
                    &mut lost
                }
            };
            let f = acc
                .f
                .get_or_insert_with(|| Finding::new(Severity::Info, "", String::new()));
            f.count += 1;
            f.frame(u.frame);
            f.at(u.ts);
            f.stream(u.stream);
            f.client(&u.client);
            f.broker(u.broker);
            if let Some(g) = &u.group {
                f.group(g);
            }
            for t in &u.topics {
                f.topic(t);
            }
            *acc.apis.entry(u.api).or_default() += 1;
            match reason {
                CloseReason::Reset => acc.reset += 1,
                CloseReason::Idle => acc.idle += 1,
                _ => acc.closed += 1,
            }
            acc.max_wait = acc.max_wait.max(end.micros_since(u.ts));
            if let Some(w) = acc.windows.iter_mut().find(|w| w.0 == u.broker) {
                w.1 = w.1.min(u.ts);
                w.2 = w.2.max(*end);
            } else if acc.windows.len() < MAX_NAMES {
                acc.windows.push((u.broker, u.ts, *end));
            }
        }
        // The outages these requests tell of (a broker down tells them too).
        let outages = |f: &mut Finding, a: &Acc| {
            for &(broker, first, last) in &a.windows {
                f.about(About::Outage {
                    broker,
                    first,
                    last,
                });
            }
        };
        let how = |a: &Acc| {
            let mut parts = Vec::new();
            if a.closed > 0 {
                parts.push(format!("{} closed", a.closed));
            }
            if a.reset > 0 {
                parts.push(format!("{} reset", a.reset));
            }
            if a.idle > 0 {
                parts.push(format!("{} idle", a.idle));
            }
            parts.join(", ")
        };
        if let Some(mut f) = timeout.f.take() {
            f.severity = Severity::Error;
            f.code = "request_timeout";
            f.title = format!(
                "{} request{} ({}) to {} went unanswered for up to {} until the connection ended ({}): the broker was not answering",
                f.count,
                plural_suffix(f.count),
                api_counts(&timeout.apis),
                join_brokers(&f.brokers),
                duration(timeout.max_wait),
                how(&timeout)
            );
            f.details.push(format!(
                "a broker answers requests it does not hold within milliseconds; these waited more than {} s past their hold (Fetch maxWaitMs, JoinGroup rebalance timeout, Produce timeoutMs)",
                STALL_MS / 1000
            ));
            f.details.push(format!("clients: {}", f.clients.join(", ")));
            outages(&mut f, &timeout);
            out.push(f);
        }
        if let Some(mut f) = lost.f.take() {
            f.severity = Severity::Warning;
            f.code = "request_lost";
            f.title = format!(
                "{} request{} ({}) to {} got no response because the connection ended under {} ({}); the client carried on afterwards",
                f.count,
                plural_suffix(f.count),
                api_counts(&lost.apis),
                join_brokers(&f.brokers),
                if f.count == 1 { "it" } else { "them" },
                how(&lost)
            );
            f.details.push(format!("clients: {}", f.clients.join(", ")));
            outages(&mut f, &lost);
            out.push(f);
        }
        if let Some(mut f) = at_end.f.take() {
            f.severity = Severity::Warning;
            f.code = "no_response_at_capture_end";
            f.title = format!(
                "{} request{} ({}) to {} still had no response when the capture ended, up to {} after being sent",
                f.count,
                plural_suffix(f.count),
                api_counts(&at_end.apis),
                join_brokers(&f.brokers),
                duration(at_end.max_wait)
            );
            out.push(f);
        }
    }
}

// -------------------------------------------------------------------- slow

/// A response is slow when it took at least [`SLOW_FACTOR`] times the
/// median of its API on its broker, and at least [`SLOW_FLOOR_MS`] more
/// than that median. The factor: a broker's latency for one API is tight
/// (request queue, one log append or lookup), so ten times the median is
/// not jitter; the floor: below a tenth of a second nobody's client times
/// out or lags (Kafka's request-latency alerts start in the hundreds of ms).
pub const SLOW_FACTOR: i64 = 10;
/// See [`SLOW_FACTOR`].
pub const SLOW_FLOOR_MS: i64 = 100;
/// Responses of one API on one broker needed before its median is a norm.
pub const SLOW_MIN_SAMPLES: u64 = 10;
/// A held request (Fetch `maxWaitMs`, JoinGroup) is late when answered this
/// long after its hold expired: the broker completes a delayed request when
/// its wait expires, to the millisecond.
pub const HELD_LATE_MS: i64 = 1_000;
/// (API, broker) pairs tracked.
pub const MAX_SLOW_KEYS: usize = 1024;
/// Slow candidates (at least [`SLOW_FLOOR_MS`]) kept per (API, broker).
pub const MAX_SLOW_KEPT: usize = 256;

#[derive(Clone, Debug)]
struct SlowOne {
    us: i64,
    frame: u64,
    ts: Timestamp,
    stream: u64,
    client: String,
}

/// A held request answered late: API, the exchange, its hold (ms), broker.
type Late = (ApiKey, SlowOne, i64, SocketAddr);

#[derive(Default)]
struct SlowKey {
    hist: Histogram,
    kept: Vec<SlowOne>,
    more: u64,
}

/// `slow_responses` (Warning): responses slower than the norm of their API
/// on their broker (see [`SLOW_FACTOR`]); long polls and rebalance barriers
/// (Fetch, ShareFetch, JoinGroup, SyncGroup) are left out of the norm, and
/// are slow only when answered [`HELD_LATE_MS`] after their stated wait.
/// `slow_broker` (Warning): a broker whose median for an API is
/// [`SLOW_FACTOR`] times (and [`SLOW_FLOOR_MS`] above) the other brokers'
/// median for it (a broker slow throughout has no slow outliers of its own).
#[derive(Default)]
pub struct Slow {
    keys: HashMap<(ApiKey, SocketAddr), SlowKey>,
    late: Vec<Late>,
    late_more: u64,
}

impl Detector for Slow {
    fn exchange(&mut self, e: &Exchange, _cx: &Context<'_>) {
        let Some(us) = e.latency_us() else { return };
        if us < 0 {
            return;
        }
        let one = || SlowOne {
            us,
            frame: e.request.frame,
            ts: e.request.ts,
            stream: e.stream,
            client: client_key(e),
        };
        if long_poll(e.api_key) {
            if let Hold::UpTo(ms) = hold(e)
                && us > (ms.saturating_add(HELD_LATE_MS)).saturating_mul(1000)
            {
                if self.late.len() < MAX_SLOW_KEPT {
                    self.late.push((e.api_key, one(), ms, e.broker));
                } else {
                    self.late_more += 1;
                }
            }
            return;
        }
        let key = (e.api_key, e.broker);
        if !self.keys.contains_key(&key) && self.keys.len() >= MAX_SLOW_KEYS {
            return;
        }
        let k = self.keys.entry(key).or_default();
        k.hist.record(us);
        if us >= SLOW_FLOOR_MS * 1000 {
            if k.kept.len() < MAX_SLOW_KEPT {
                k.kept.push(one());
            } else {
                k.more += 1;
            }
        }
    }

    fn findings(&self, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let mut keys: Vec<_> = self.keys.iter().collect();
        keys.sort_by_key(|((a, b), _)| (*a, *b));
        for ((api, broker), k) in &keys {
            if k.hist.count() < SLOW_MIN_SAMPLES {
                continue;
            }
            let Some(median) = k.hist.percentile(0.5) else {
                continue;
            };
            let limit = (median * SLOW_FACTOR).max(median + SLOW_FLOOR_MS * 1000);
            let slow: Vec<&SlowOne> = k.kept.iter().filter(|s| s.us > limit).collect();
            if slow.is_empty() {
                continue;
            }
            let mut f = Finding::new(Severity::Warning, "slow_responses", String::new());
            let max = slow.iter().map(|s| s.us).max().unwrap_or(0);
            for s in &slow {
                f.frame(s.frame);
                f.at(s.ts);
                f.stream(s.stream);
                f.client(&s.client);
            }
            f.broker(*broker);
            f.count = slow.len() as u64;
            let at_least = if k.more > 0 { "at least " } else { "" };
            f.title = format!(
                "{at_least}{} of {} {} responses from {} took over {} (up to {}), against a median of {}",
                f.count,
                k.hist.count(),
                api.name(),
                broker,
                duration(limit),
                duration(max),
                duration(median)
            );
            f.details.push(format!(
                "slow = more than {SLOW_FACTOR}× the median of {} on this broker and at least {SLOW_FLOOR_MS} ms above it",
                api.name()
            ));
            out.push(f);
        }
        // A broker slow throughout, against the others.
        let mut apis: BTreeMap<ApiKey, Vec<(SocketAddr, &SlowKey)>> = BTreeMap::new();
        for ((api, broker), k) in &keys {
            if k.hist.count() >= SLOW_MIN_SAMPLES {
                apis.entry(*api).or_default().push((*broker, k));
            }
        }
        for (api, brokers) in &apis {
            if brokers.len() < 2 {
                continue;
            }
            // The others' median for each broker from one total (merging
            // the others for each broker would be quadratic in brokers),
            // their extremes from the extremes before and after it.
            let mut total = Total::default();
            for (_, k) in brokers {
                total.add(&k.hist);
            }
            let extremes = |k: &SlowKey| {
                (
                    k.hist.min().unwrap_or(i64::MAX),
                    k.hist.max().unwrap_or(i64::MIN),
                )
            };
            let both = |(a, b): (i64, i64), (c, d): (i64, i64)| (a.min(c), b.max(d));
            let mut after = vec![(i64::MAX, i64::MIN); brokers.len() + 1];
            for (i, (_, k)) in brokers.iter().enumerate().rev() {
                after[i] = both(after[i + 1], extremes(k));
            }
            let mut before = (i64::MAX, i64::MIN);
            for (i, (b, k)) in brokers.iter().enumerate() {
                let (min, max) = both(before, after.get(i + 1).copied().unwrap_or(before));
                before = both(before, extremes(k));
                let (Some(m), Some(mo)) = (
                    k.hist.percentile(0.5),
                    total.percentile_without(&k.hist, 0.5, min, max),
                ) else {
                    continue;
                };
                if m >= mo * SLOW_FACTOR && m >= mo + SLOW_FLOOR_MS * 1000 {
                    let mut f = Finding::new(
                        Severity::Warning,
                        "slow_broker",
                        format!(
                            "broker {b} answers {} in {} (median of {}), {}× slower than the other brokers ({})",
                            api.name(),
                            duration(m),
                            k.hist.count(),
                            m / mo.max(1),
                            duration(mo)
                        ),
                    );
                    f.count = k.hist.count();
                    f.broker(*b);
                    for s in k.kept.iter().take(MAX_FRAMES) {
                        f.frame(s.frame);
                        f.at(s.ts);
                        f.client(&s.client);
                    }
                    out.push(f);
                }
            }
        }
        // Long polls answered well after their wait.
        let mut late: BTreeMap<(ApiKey, SocketAddr), Vec<&Late>> = BTreeMap::new();
        for l in &self.late {
            late.entry((l.0, l.3)).or_default().push(l);
        }
        for ((api, broker), v) in late {
            let mut f = Finding::new(Severity::Warning, "slow_responses", String::new());
            let max = v.iter().map(|l| l.1.us).max().unwrap_or(0);
            for l in &v {
                f.frame(l.1.frame);
                f.at(l.1.ts);
                f.stream(l.1.stream);
                f.client(&l.1.client);
            }
            f.broker(broker);
            f.count = v.len() as u64;
            f.title = format!(
                "{} {} response{} from {} came more than {} s after the request's own wait expired (up to {})",
                f.count,
                api.name(),
                plural_suffix(f.count),
                broker,
                HELD_LATE_MS / 1000,
                duration(max)
            );
            out.push(f);
        }
    }
}

// ---------------------------------------------------------------- throttle

/// (client, broker) pairs whose throttling is tracked.
pub const MAX_THROTTLE_KEYS: usize = 1024;

#[derive(Default)]
struct Throttled {
    f: Option<Finding>,
    total_ms: i64,
    max_ms: i64,
    apis: BTreeMap<ApiKey, u64>,
}

/// `throttled` (Warning): responses with `throttleTimeMs` > 0, per client
/// and broker: the broker's quotas (produce/fetch byte rate, request
/// percentage) held the client back, for that long in total.
#[derive(Default)]
pub struct Throttle {
    keys: BTreeMap<(String, SocketAddr), Throttled>,
}

impl Detector for Throttle {
    fn exchange(&mut self, e: &Exchange, cx: &Context<'_>) {
        let Some(ms) = e
            .response_body
            .as_deref()
            .and_then(Body::view)
            .and_then(|v| throttle_time_ms(e.api_key, v))
            .map(i64::from)
        else {
            return;
        };
        if ms <= 0 {
            return;
        }
        let key = (client_key(e), e.broker);
        if !self.keys.contains_key(&key) && self.keys.len() >= MAX_THROTTLE_KEYS {
            return;
        }
        let t = self.keys.entry(key).or_default();
        let f =
            t.f.get_or_insert_with(|| Finding::new(Severity::Warning, "throttled", String::new()));
        f.count += 1;
        f.frame(e.response.map_or(e.request.frame, |r| r.frame));
        f.at(e.request.ts);
        f.stream(e.stream);
        f.client(&client_key(e));
        f.broker(e.broker);
        for tp in topics_of(e, cx.names).iter().take(4) {
            f.topic(tp);
        }
        t.total_ms = t.total_ms.saturating_add(ms);
        t.max_ms = t.max_ms.max(ms);
        *t.apis.entry(e.api_key).or_default() += 1;
    }

    fn findings(&self, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        for ((client, broker), t) in &self.keys {
            let Some(mut f) = t.f.clone() else { continue };
            f.title = format!(
                "client {client} was throttled by {broker} {} time{} ({}): {} ms in total, up to {} ms at once",
                f.count,
                plural_suffix(f.count),
                api_counts(&t.apis),
                t.total_ms,
                t.max_ms
            );
            f.details.push(
                "the broker's quotas (client.id or user byte-rate / request-rate) delayed these responses and told the client to back off".to_string(),
            );
            out.push(f);
        }
    }
}

// ------------------------------------------------------------ other errors

/// (API, code) pairs tracked by the catch-all.
pub const MAX_ERROR_KEYS: usize = 512;

/// `error_response`: error codes no other family explains (not in
/// [`CLAIMED_CODES`]), one finding per API and code: Error when Kafka's
/// clients do not retry the code (the application sees it), Warning when
/// they do.
#[derive(Default)]
pub struct OtherErrors {
    keys: BTreeMap<(ApiKey, i16), Finding>,
}

impl Detector for OtherErrors {
    fn exchange(&mut self, e: &Exchange, cx: &Context<'_>) {
        let mut seen: Vec<i16> = Vec::new();
        for r in &e.errors {
            if r.code == 0 || seen.contains(&r.code) || claimed(e.api_key, r.code) {
                continue;
            }
            seen.push(r.code);
            let key = (e.api_key, r.code);
            if !self.keys.contains_key(&key) && self.keys.len() >= MAX_ERROR_KEYS {
                continue;
            }
            let code = ErrorCode(r.code);
            let f = self.keys.entry(key).or_insert_with(|| {
                let sev = if code.is_retriable() {
                    Severity::Warning
                } else {
                    Severity::Error
                };
                Finding::new(sev, "error_response", String::new())
            });
            f.count += 1;
            f.frame(e.response.map_or(e.request.frame, |r| r.frame));
            f.at(e.request.ts);
            f.stream(e.stream);
            f.client(&client_key(e));
            f.broker(e.broker);
            if let Some(g) = group_of(e) {
                f.group(&g);
            }
            for t in topics_of(e, cx.names).iter().take(4) {
                f.topic(t);
            }
        }
    }

    fn findings(&self, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        for ((api, code), f) in &self.keys {
            let mut f = f.clone();
            let c = ErrorCode(*code);
            f.title = format!(
                "{} answered {} {} time{} (clients {}; brokers {})",
                api.name(),
                c,
                f.count,
                plural_suffix(f.count),
                f.clients.join(", "),
                join_brokers(&f.brokers)
            );
            if let Some(info) = c.info() {
                f.details.push(format!(
                    "{}: {} ({})",
                    info.name,
                    info.message,
                    if info.retriable {
                        "retriable: clients retry it"
                    } else {
                        "not retriable: the application sees it"
                    }
                ));
            }
            out.push(f);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::analysis::TopicNames;
    use crate::capture::PacketRef;
    use crate::kafka::schema::MessageKind;
    use crate::present::short_clock as hms;
    use crate::session::{ErrorRef, MessageInfo};
    use std::sync::Arc;

    const PRODUCE: i16 = ApiKey::PRODUCE.0;
    const LIST_OFFSETS: i16 = ApiKey::LIST_OFFSETS.0;
    const METADATA: i16 = ApiKey::METADATA.0;
    const LEAVE_GROUP: i16 = ApiKey::LEAVE_GROUP.0;
    const API_VERSIONS: i16 = ApiKey::API_VERSIONS.0;

    pub fn ts(ms: i64) -> Timestamp {
        Timestamp::new(1_700_000_000 + ms / 1000, ((ms % 1000) * 1_000_000) as u32)
    }

    pub fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// An exchange built by hand (for the unit tests only; the golden tests
    /// use recorded captures).
    pub fn ex(
        stream: u64,
        api: i16,
        ver: i16,
        client: &str,
        broker: u16,
        req_ms: i64,
        resp_ms: Option<i64>,
    ) -> Exchange {
        let frame = req_ms as u64 + 1;
        Exchange {
            stream,
            client: addr(40000 + stream as u16),
            broker: addr(broker),
            api_key: ApiKey(api),
            api_version: ver,
            correlation_id: 1,
            client_id: Some(Arc::from(client)),
            request: MessageInfo {
                frame,
                first_frame: frame,
                ts: ts(req_ms),
                size: 10,
                lost_bytes: 0,
            },
            response: resp_ms.map(|r| MessageInfo {
                frame: r as u64 + 2,
                first_frame: r as u64 + 2,
                ts: ts(r),
                size: 10,
                lost_bytes: 0,
            }),
            status: if resp_ms.is_some() {
                Status::Ok
            } else {
                Status::NoResponse(NoResponseReason::ConnectionClosed)
            },
            errors: Vec::new(),
            request_body: None,
            response_body: None,
            capture: 0,
            broker_side: None,
        }
    }

    /// A body decoded from real encoded bytes.
    pub fn body(api: ApiKey, ver: i16, kind: MessageKind, bytes: &[u8]) -> Option<Box<Body>> {
        let opts = crate::session::DecodeOptions {
            records: crate::kafka::records::RecordsMode::None,
            limits: Default::default(),
            show_secrets: false,
        };
        Some(Box::new(crate::session::decode_body(
            api, ver, kind, bytes, true, &opts,
        )))
    }

    pub fn close(stream: u64, ms: i64, reason: CloseReason) -> Event {
        Event {
            at: PacketRef {
                frame: ms as u64 + 3,
                ts: ts(ms),
            },
            stream: Some(stream),
            kind: EventKind::ConnectionClose {
                reason,
                requests: 1,
                responses: 0,
                unanswered: 1,
                client_packets: 3,
                broker_packets: 3,
            },
        }
    }

    pub fn run(d: &mut dyn Detector, items: &[Either]) -> Vec<Finding> {
        let names = TopicNames::new();
        let cx = Context { names: &names };
        for i in items {
            match i {
                Either::E(e) => d.exchange(e, &cx),
                Either::V(v) => d.event(v, &cx),
            }
        }
        let mut out = Vec::new();
        d.findings(&cx, &mut out);
        out
    }

    pub enum Either {
        E(Exchange),
        V(Event),
    }

    #[test]
    fn claimed_codes() {
        let c = |api, code: ErrorCode| claimed(api, code.0);
        assert!(c(ApiKey::METADATA, ErrorCode::LEADER_NOT_AVAILABLE));
        assert!(c(ApiKey::PRODUCE, ErrorCode::REQUEST_TIMED_OUT));
        assert!(!c(ApiKey::METADATA, ErrorCode::REQUEST_TIMED_OUT));
        assert!(c(
            ApiKey::DESCRIBE_CONFIGS,
            ErrorCode::TOPIC_AUTHORIZATION_FAILED
        ));
        assert!(c(
            ApiKey::INIT_PRODUCER_ID,
            ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        ));
        assert!(!c(ApiKey::PRODUCE, ErrorCode::NOT_ENOUGH_REPLICAS));
    }

    #[test]
    fn hms_and_dur() {
        assert_eq!(hms(ts(1_500)), "22:13:21.500");
        assert_eq!(duration(1_500_000), "1.5 s");
        assert_eq!(duration(2_500), "2 ms");
        assert_eq!(duration(12), "12 µs");
    }

    #[test]
    fn metadata_cut_at_exit_is_quiet_but_stalled_is_timeout() {
        // A Metadata sent 1 ms before the client closed (exit): quiet.
        let mut d = NoResponse::default();
        let mut e = ex(1, METADATA, 12, "c", 9092, 1000, None);
        let f = run(
            &mut d,
            &[
                Either::E(e.clone()),
                Either::V(close(1, 1001, CloseReason::Fin)),
            ],
        );
        assert!(f.is_empty(), "{f:?}");
        // The same, but the client sent another request after: lost.
        let mut d = NoResponse::default();
        let later = ex(2, METADATA, 12, "c", 9093, 2000, Some(2001));
        let f = run(
            &mut d,
            &[
                Either::E(ex(2, METADATA, 12, "c", 9093, 500, Some(501))),
                Either::E(e.clone()),
                Either::V(close(1, 1001, CloseReason::Reset)),
                Either::E(later),
            ],
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, "request_lost");
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].title.contains("1 reset"), "{}", f[0].title);
        // A later request only on a new connection (another process with
        // the same client id): quiet.
        let mut d = NoResponse::default();
        let f = run(
            &mut d,
            &[
                Either::E(e.clone()),
                Either::V(close(1, 1001, CloseReason::Reset)),
                Either::E(ex(3, LIST_OFFSETS, 7, "c", 9093, 2000, Some(2001))),
            ],
        );
        assert!(f.is_empty(), "{f:?}");
        // Unanswered for 5 s, then closed: timeout.
        let mut d = NoResponse::default();
        e.request.ts = ts(0);
        let f = run(
            &mut d,
            &[Either::E(e), Either::V(close(1, 5000, CloseReason::Fin))],
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, "request_timeout");
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].frames, vec![1001]);
    }

    #[test]
    fn capture_end_within_the_timeout_is_quiet() {
        let mut d = NoResponse::default();
        let mut e = ex(1, METADATA, 12, "c", 9092, 0, None);
        e.status = Status::NoResponse(NoResponseReason::CaptureEnded);
        let f = run(
            &mut d,
            &[
                Either::E(e.clone()),
                Either::V(close(1, 20_000, CloseReason::CaptureEnd)),
            ],
        );
        assert!(f.is_empty());
        let mut d = NoResponse::default();
        let f = run(
            &mut d,
            &[
                Either::E(e),
                Either::V(close(1, 40_000, CloseReason::CaptureEnd)),
            ],
        );
        assert_eq!(f[0].code, "no_response_at_capture_end");
    }

    #[test]
    fn slow_against_the_median() {
        let mut d = Slow::default();
        let mut items = Vec::new();
        for i in 0..20 {
            items.push(Either::E(ex(
                1,
                METADATA,
                12,
                "c",
                9092,
                i * 10,
                Some(i * 10 + 1),
            )));
        }
        // 2 s Metadata: slow; 50 ms: above 10× but under the floor.
        items.push(Either::E(ex(1, METADATA, 12, "c", 9092, 1000, Some(3000))));
        items.push(Either::E(ex(1, METADATA, 12, "c", 9092, 4000, Some(4050))));
        let f = run(&mut d, &items);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].code, "slow_responses");
        assert_eq!(f[0].count, 1);
        assert_eq!(f[0].frames, vec![1001]);
    }

    #[test]
    fn too_few_samples_no_norm() {
        let mut d = Slow::default();
        let items: Vec<_> = (0..5)
            .map(|i| Either::E(ex(1, LEAVE_GROUP, 1, "c", 9092, i * 10, Some(i * 10 + 1))))
            .chain([Either::E(ex(1, LEAVE_GROUP, 1, "c", 9092, 100, Some(2100)))])
            .collect();
        assert!(run(&mut d, &items).is_empty());
    }

    #[test]
    fn throttled_from_response_body() {
        // Metadata v1 response: throttle none in v1… use ApiVersions v1:
        // errorCode 0, apiKeys [] (int32 0), throttleTimeMs 250.
        let bytes = [0, 0, 0, 0, 0, 0, 0, 0, 0, 250];
        let mut e = ex(1, API_VERSIONS, 1, "c", 9092, 0, Some(1));
        e.response_body = body(ApiKey::API_VERSIONS, 1, MessageKind::Response, &bytes);
        let mut d = Throttle::default();
        let f = run(&mut d, &[Either::E(e.clone()), Either::E(e)]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, "throttled");
        assert_eq!(f[0].count, 2);
        assert!(f[0].title.contains("500 ms in total"), "{}", f[0].title);
    }

    /// `m` encoded at version `v` by the `kafka-protocol` crate.
    pub fn encode<T: kafka_protocol::protocol::Encodable>(m: &T, v: i16) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        m.encode(&mut out, v).unwrap();
        out.to_vec()
    }

    #[test]
    fn hold_from_request_bodies() {
        use kafka_protocol::messages as kp;
        let with = |api: ApiKey, v: i16, bytes: &[u8]| {
            let mut e = ex(1, api.0, v, "c", 9092, 0, Some(1));
            e.request_body = body(api, v, MessageKind::Request, bytes);
            hold(&e)
        };
        let fetch = encode(&kp::FetchRequest::default().with_max_wait_ms(500), 12);
        assert_eq!(with(ApiKey::FETCH, 12, &fetch), Hold::UpTo(500));
        // JoinGroup: the rebalance timeout (v1+), the session timeout in v0.
        let join = kp::JoinGroupRequest::default()
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(60_000);
        let v5 = encode(&join, 5);
        assert_eq!(with(ApiKey::JOIN_GROUP, 5, &v5), Hold::UpTo(60_000));
        let v0 = encode(&join.with_rebalance_timeout_ms(-1), 0);
        assert_eq!(with(ApiKey::JOIN_GROUP, 0, &v0), Hold::UpTo(10_000));
        // No body to read: unbounded.
        assert_eq!(with(ApiKey::JOIN_GROUP, 0, &[]), Hold::Unbounded);
        let produce = encode(
            &kp::ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(30_000),
            9,
        );
        assert_eq!(with(ApiKey::PRODUCE, 9, &produce), Hold::UpTo(30_000));
        // A negative timeout holds nothing; other APIs are not held.
        let create = encode(&kp::CreateTopicsRequest::default().with_timeout_ms(-5), 7);
        assert_eq!(with(ApiKey::CREATE_TOPICS, 7, &create), Hold::UpTo(0));
        assert_eq!(with(ApiKey::SYNC_GROUP, 5, &[]), Hold::Unbounded);
        assert_eq!(with(ApiKey::METADATA, 12, &[]), Hold::No);
    }

    #[test]
    fn unclaimed_error_caught() {
        let mut e = ex(1, PRODUCE, 9, "p", 9092, 0, Some(1));
        e.status = Status::Error;
        e.errors = vec![
            ErrorRef {
                code: ErrorCode::NOT_ENOUGH_REPLICAS.0,
                name: "NOT_ENOUGH_REPLICAS",
                path: "responses[0].partitionResponses[0].errorCode".into(),
            },
            ErrorRef {
                code: ErrorCode::NOT_LEADER_OR_FOLLOWER.0,
                name: "NOT_LEADER_OR_FOLLOWER",
                path: "x".into(),
            },
        ];
        let mut d = OtherErrors::default();
        let f = run(&mut d, &[Either::E(e)]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(
            f[0].title
                .starts_with("Produce answered NOT_ENOUGH_REPLICAS 1 time")
        );
    }

    #[test]
    fn pending_is_bounded() {
        let mut p = Pending::default();
        let names = TopicNames::new();
        let cx = Context { names: &names };
        let e = ex(1, METADATA, 12, "c", 9092, 0, None);
        for _ in 0..(MAX_PENDING_PER_STREAM + 10) {
            p.push(Unanswered::of(&e, NoResponseReason::ConnectionClosed, &cx));
        }
        assert_eq!(p.len, MAX_PENDING_PER_STREAM);
    }
}
