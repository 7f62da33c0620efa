//! Retry loops, on any API: a client sending the same request over and over,
//! each answered with the same error code, without getting anywhere.
//!
//! A *run* is the requests of one client (its client id) to one API that
//! were answered with the same error code, one after the other, with no
//! progress between them. Progress is a response without error to that API
//! (the retry worked), or, for the APIs of a group member (Heartbeat,
//! OffsetCommit, SyncGroup…), the member joining again (a JoinGroup or
//! SyncGroup answered without error: the rejoin Kafka asks for after
//! UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION or REBALANCE_IN_PROGRESS). A run
//! of at least [`LOOP_MIN_ATTEMPTS`] requests is a loop. Its period is the
//! median time between attempts; whether the client backs off comes from
//! the first and the last intervals.
//!
//! What a loop means is decided with what else is known: a loop whose
//! error the broker should not have sent (a protocol deviation, see
//! [`super::conformance`]) is folded into that deviation's finding, which
//! then names the loop as its consequence; other loops are `retry_loop`
//! findings of their own, an error when the last run never got anywhere
//! before the capture ended, a warning when the client got through.
//!
//! ApiVersions answered UNSUPPORTED_VERSION is the bootstrap family's
//! (`apiversions_loop`), and not counted here.
//!
//! Contract: state is bounded by [`MAX_TRACKED`] (client, API) pairs and
//! [`MAX_LOOPS`] loops; past them new pairs are not followed.

use foldhash::HashMap;
use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::analysis::histogram::Histogram;
use crate::analysis::topics::{group_of, topics_of};
use crate::capture::Timestamp;
use crate::kafka::ApiKey;
use crate::kafka::errors::ErrorCode;
use crate::session::{Exchange, Status};

use super::requests::client_key;
use super::{Context, Finding, MAX_FRAMES, MAX_NAMES, Severity, push_bounded};
use crate::present::duration;

/// Requests answered with the same error, one after the other with no
/// progress, that make a loop. Kafka's clients retry a retriable error a
/// few times (`retries`, with `retry.backoff.ms` 100 ms growing to
/// `retry.backoff.max.ms` 1 s): ten in a row is past any healthy
/// recovery.
pub const LOOP_MIN_ATTEMPTS: u64 = 10;
/// A loop retrying faster than this (median interval) does not back off at
/// all: Kafka's clients wait `retry.backoff.ms`, 100 ms by default, between
/// attempts.
pub const NO_BACKOFF_MS: i64 = 50;
/// A loop backs off when its last intervals are this many times its first.
pub const BACKOFF_GROWTH: f64 = 1.5;
/// (client, API) pairs followed.
pub const MAX_TRACKED: usize = 16_384;
/// Loops kept (client, API, error code).
pub const MAX_LOOPS: usize = 1024;
/// Intervals averaged at each end of a run to tell a backoff.
const EDGE: usize = 3;

/// One run of the same error.
#[derive(Clone)]
struct Run {
    code: i16,
    attempts: u64,
    versions: (i16, i16),
    first: Timestamp,
    last: Timestamp,
    intervals: Histogram,
    /// The first [`EDGE`] intervals (µs), and the last ones (a ring).
    head: Vec<i64>,
    tail: Vec<i64>,
    frames: Vec<u64>,
    streams: Vec<u64>,
    brokers: Vec<SocketAddr>,
    group: Option<String>,
    topics: Vec<String>,
}

impl Run {
    fn new(e: &Exchange, code: i16) -> Run {
        Run {
            code,
            attempts: 0,
            versions: (e.api_version, e.api_version),
            first: e.request.ts,
            last: e.request.ts,
            intervals: Histogram::new(),
            head: Vec::new(),
            tail: Vec::new(),
            frames: Vec::new(),
            streams: Vec::new(),
            brokers: Vec::new(),
            group: None,
            topics: Vec::new(),
        }
    }

    fn add(&mut self, e: &Exchange, cx: &Context<'_>) {
        if self.attempts > 0 {
            let gap = e.request.ts.micros_since(self.last).max(0);
            self.intervals.record(gap);
            if self.head.len() < EDGE {
                self.head.push(gap);
            }
            if self.tail.len() == EDGE {
                self.tail.remove(0);
            }
            self.tail.push(gap);
        }
        self.attempts += 1;
        self.versions = (
            self.versions.0.min(e.api_version),
            self.versions.1.max(e.api_version),
        );
        self.last = self.last.max(e.request.ts);
        if self.frames.len() < MAX_FRAMES {
            self.frames
                .push(e.response.map_or(e.request.frame, |r| r.frame));
        }
        push_bounded(&mut self.streams, e.stream, MAX_NAMES);
        push_bounded(&mut self.brokers, e.broker, MAX_NAMES);
        if self.group.is_none() {
            self.group = group_of(e);
        }
        if self.topics.is_empty() {
            self.topics = topics_of(e, cx.names).into_iter().take(4).collect();
        }
    }
}

/// How a loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A later request of the API got through (or the member rejoined).
    Recovered,
    /// The client went on to another error code.
    Changed,
    /// Still failing when the capture ended.
    Open,
}

/// A retry loop, as the conformance family and the findings read it.
#[derive(Clone)]
pub struct Loop {
    pub client: String,
    pub api: ApiKey,
    pub code: i16,
    /// Runs long enough to be a loop, and their requests.
    pub runs: u64,
    pub attempts: u64,
    /// Lowest and highest request version seen.
    pub versions: (i16, i16),
    pub first: Timestamp,
    pub last: Timestamp,
    /// The last run's outcome.
    pub outcome: Outcome,
    intervals: Histogram,
    head: Vec<i64>,
    tail: Vec<i64>,
    pub frames: Vec<u64>,
    pub streams: Vec<u64>,
    pub brokers: Vec<SocketAddr>,
    pub group: Option<String>,
    pub topics: Vec<String>,
}

/// How a loop paces its attempts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// Median interval below [`NO_BACKOFF_MS`].
    NoBackoff { period_us: i64 },
    /// About the same wait each time.
    Fixed { period_us: i64 },
    /// Waits that grow from `from_us` to `to_us`.
    BacksOff { from_us: i64, to_us: i64 },
}

fn mean(v: &[i64]) -> i64 {
    if v.is_empty() {
        0
    } else {
        v.iter().sum::<i64>() / v.len() as i64
    }
}

impl Loop {
    /// The median time between attempts (µs).
    pub fn period_us(&self) -> i64 {
        self.intervals.percentile(0.5).unwrap_or(0)
    }

    pub fn pace(&self) -> Pace {
        let period_us = self.period_us();
        let (from, to) = (mean(&self.head), mean(&self.tail));
        if from > 0 && to as f64 >= from as f64 * BACKOFF_GROWTH {
            Pace::BacksOff {
                from_us: from,
                to_us: to,
            }
        } else if period_us < NO_BACKOFF_MS * 1000 {
            Pace::NoBackoff { period_us }
        } else {
            Pace::Fixed { period_us }
        }
    }

    /// `every 301 ms without backing off`, `backing off from 100 ms to 1.0 s`.
    pub fn pace_text(&self) -> String {
        match self.pace() {
            Pace::NoBackoff { period_us } => {
                format!("every {}, with no backoff at all", duration(period_us))
            }
            Pace::Fixed { period_us } => {
                format!(
                    "every {} (a fixed wait that does not grow)",
                    duration(period_us)
                )
            }
            Pace::BacksOff { from_us, to_us } => {
                format!(
                    "backing off from {} to {}",
                    duration(from_us),
                    duration(to_us)
                )
            }
        }
    }

    /// `JoinGroup v1`, `Metadata v5–v9`.
    pub fn request_text(&self) -> String {
        let (lo, hi) = self.versions;
        if lo == hi {
            format!("{} v{lo}", self.api.name())
        } else {
            format!("{} v{lo}–v{hi}", self.api.name())
        }
    }

    /// `sent JoinGroup v1 107 times in 32.1 s, every 301 ms …, each answered
    /// MEMBER_ID_REQUIRED`: what the client did.
    pub fn story(&self) -> String {
        let span = self.last.micros_since(self.first).max(0);
        let runs = if self.runs > 1 {
            format!(" in {} runs", self.runs)
        } else {
            String::new()
        };
        format!(
            "{} sent {} {} times{runs} over {}, {}, each answered {}",
            self.client,
            self.request_text(),
            self.attempts,
            duration(span),
            self.pace_text(),
            ErrorCode(self.code)
        )
    }

    /// How it ended, as a clause.
    pub fn outcome_text(&self) -> &'static str {
        match self.outcome {
            Outcome::Recovered => "it got through in the end",
            Outcome::Changed => "then the error changed",
            Outcome::Open => "it never got through before the capture ended",
        }
    }
}

/// The APIs a member's successful rejoin (JoinGroup or SyncGroup answered
/// without error) counts as progress for.
fn rejoin_clears(api: ApiKey) -> bool {
    matches!(
        api,
        ApiKey::HEARTBEAT
            | ApiKey::OFFSET_COMMIT
            | ApiKey::OFFSET_FETCH
            | ApiKey::SYNC_GROUP
            | ApiKey::JOIN_GROUP
            | ApiKey::TXN_OFFSET_COMMIT
            | ApiKey::LEAVE_GROUP
    )
}

/// The code a failed exchange is counted under: its first non-zero one.
fn failure_code(e: &Exchange) -> Option<i16> {
    e.response?;
    e.errors.iter().map(|r| r.code).find(|&c| c != 0)
}

/// Follows runs and keeps the loops.
#[derive(Default)]
pub struct Retries {
    runs: HashMap<(String, ApiKey), Run>,
    loops: BTreeMap<(String, ApiKey, i16), Loop>,
}

impl Retries {
    pub fn exchange(&mut self, e: &Exchange, cx: &Context<'_>) {
        if e.response.is_none() || matches!(e.status, Status::NoResponseExpected) {
            return;
        }
        let client = client_key(e);
        match failure_code(e) {
            Some(code) => {
                if e.api_key == ApiKey::API_VERSIONS && code == ErrorCode::UNSUPPORTED_VERSION.0 {
                    return;
                }
                let key = (client, e.api_key);
                if let Some(r) = self.runs.get(&key)
                    && r.code != code
                {
                    let r = self.runs.remove(&key);
                    self.close(&key, r, Outcome::Changed);
                }
                if !self.runs.contains_key(&key) && self.runs.len() >= MAX_TRACKED {
                    return;
                }
                let run = self.runs.entry(key).or_insert_with(|| Run::new(e, code));
                run.add(e, cx);
            }
            None => {
                let key = (client, e.api_key);
                let r = self.runs.remove(&key);
                self.close(&key, r, Outcome::Recovered);
                if matches!(e.api_key, ApiKey::JOIN_GROUP | ApiKey::SYNC_GROUP) {
                    let cleared: Vec<(String, ApiKey)> = self
                        .runs
                        .keys()
                        .filter(|(c, a)| *c == key.0 && rejoin_clears(*a))
                        .cloned()
                        .collect();
                    for k in cleared {
                        let r = self.runs.remove(&k);
                        self.close(&k, r, Outcome::Recovered);
                    }
                }
            }
        }
    }

    fn close(&mut self, key: &(String, ApiKey), run: Option<Run>, outcome: Outcome) {
        let Some(run) = run else { return };
        if run.attempts < LOOP_MIN_ATTEMPTS {
            return;
        }
        let k = (key.0.clone(), key.1, run.code);
        if !self.loops.contains_key(&k) && self.loops.len() >= MAX_LOOPS {
            return;
        }
        let l = self.loops.entry(k).or_insert_with(|| Loop {
            client: key.0.clone(),
            api: key.1,
            code: run.code,
            runs: 0,
            attempts: 0,
            versions: run.versions,
            first: run.first,
            last: run.last,
            outcome,
            intervals: Histogram::new(),
            head: run.head.clone(),
            tail: Vec::new(),
            frames: Vec::new(),
            streams: Vec::new(),
            brokers: Vec::new(),
            group: run.group.clone(),
            topics: run.topics.clone(),
        });
        l.runs += 1;
        l.attempts += run.attempts;
        l.versions = (
            l.versions.0.min(run.versions.0),
            l.versions.1.max(run.versions.1),
        );
        l.first = l.first.min(run.first);
        l.last = l.last.max(run.last);
        l.outcome = outcome;
        l.intervals.merge(&run.intervals);
        l.tail = run.tail;
        for f in run.frames {
            if l.frames.len() < MAX_FRAMES {
                l.frames.push(f);
            }
        }
        for s in run.streams {
            push_bounded(&mut l.streams, s, MAX_NAMES);
        }
        for b in run.brokers {
            push_bounded(&mut l.brokers, b, MAX_NAMES);
        }
    }

    /// Every loop so far: those closed, and the runs still open that are
    /// long enough (as [`Outcome::Open`]).
    pub fn loops(&self) -> Vec<Loop> {
        let mut all = Retries {
            runs: HashMap::default(),
            loops: self.loops.clone(),
        };
        for (k, r) in &self.runs {
            all.close(k, Some(r.clone()), Outcome::Open);
        }
        all.loops.into_values().collect()
    }
}

/// A loop as a `retry_loop` finding of its own.
pub fn finding(l: &Loop) -> Finding {
    let sev = if l.outcome == Outcome::Recovered {
        Severity::Warning
    } else {
        Severity::Error
    };
    let mut f = Finding::new(
        sev,
        "retry_loop",
        format!("{}; {}: a retry loop", l.story(), l.outcome_text()),
    );
    f.count = l.attempts;
    f.retried = Some((l.api, l.code));
    fill(&mut f, l);
    let code = ErrorCode(l.code);
    if let Some(info) = code.info() {
        f.details.push(format!(
            "{}: {} ({})",
            info.name,
            info.message,
            if info.retriable {
                "retriable: the client retries it, but the same answer keeps coming"
            } else {
                "not retriable: the client should have stopped or surfaced it to the application"
            }
        ));
    } else {
        f.details.push(format!(
            "code {} is not a Kafka error code: the client cannot know what it means",
            l.code
        ));
    }
    if let Some(hint) = cause_hint(l.api, code) {
        f.details.push(format!("likely cause: {hint}"));
    }
    f
}

/// The loop's frames, connections, brokers, group, topics and times.
pub fn fill(f: &mut Finding, l: &Loop) {
    for &fr in &l.frames {
        f.frame(fr);
    }
    for &s in &l.streams {
        f.stream(s);
    }
    for &b in &l.brokers {
        f.broker(b);
    }
    f.client(&l.client);
    if let Some(g) = &l.group {
        f.group(g);
    }
    for t in &l.topics {
        f.topic(t);
    }
    f.at(l.first);
    f.at(l.last);
}

/// What usually keeps a client answering the same error, for the codes
/// where one thing usually does.
fn cause_hint(api: ApiKey, code: ErrorCode) -> Option<&'static str> {
    Some(match code {
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION => {
            "the topic does not exist on this cluster (deleted, misspelt, or auto-creation off: `auto.create.topics.enable`)"
        }
        ErrorCode::UNKNOWN_MEMBER_ID | ErrorCode::ILLEGAL_GENERATION => {
            "the coordinator no longer knows this member (its session expired, or the group was rebalanced without it): the client must rejoin with JoinGroup, not retry"
        }
        ErrorCode::REBALANCE_IN_PROGRESS if api != ApiKey::JOIN_GROUP => {
            "the group is rebalancing and the member does not rejoin: it should send JoinGroup"
        }
        ErrorCode::MEMBER_ID_REQUIRED => {
            "the client does not send the member id the broker assigned in its next JoinGroup (KIP-394)"
        }
        ErrorCode::COORDINATOR_NOT_AVAILABLE
        | ErrorCode::NOT_COORDINATOR
        | ErrorCode::COORDINATOR_LOAD_IN_PROGRESS => {
            "the group coordinator is moving or loading: look for a broker restart or an unhealthy __consumer_offsets partition"
        }
        ErrorCode::NOT_LEADER_OR_FOLLOWER | ErrorCode::LEADER_NOT_AVAILABLE => {
            "the client's metadata stays stale, or the partition has no leader: check the brokers' ISR and the client's metadata refreshes"
        }
        ErrorCode::TOPIC_AUTHORIZATION_FAILED
        | ErrorCode::GROUP_AUTHORIZATION_FAILED
        | ErrorCode::CLUSTER_AUTHORIZATION_FAILED => {
            "the principal lacks an ACL; retrying cannot help"
        }
        ErrorCode::UNSUPPORTED_VERSION => {
            "the client sends a version the broker does not support, ignoring its ApiVersions answer"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::TopicNames;
    use crate::analysis::findings::requests::tests::ex;
    use crate::session::ErrorRef;

    fn failed(mut e: Exchange, code: i16) -> Exchange {
        e.status = Status::Error;
        e.errors = vec![ErrorRef {
            code,
            name: ErrorCode(code).name(),
            path: "errorCode".into(),
        }];
        e
    }

    fn feed(r: &mut Retries, es: &[Exchange]) {
        let names = TopicNames::new();
        let cx = Context { names: &names };
        for e in es {
            r.exchange(e, &cx);
        }
    }

    const JOIN: i16 = ApiKey::JOIN_GROUP.0;
    const HB: i16 = ApiKey::HEARTBEAT.0;
    const MIR: i16 = ErrorCode::MEMBER_ID_REQUIRED.0;

    #[test]
    fn a_steady_loop_that_never_ends() {
        let mut r = Retries::default();
        let es: Vec<Exchange> = (0..12)
            .map(|i| failed(ex(1, JOIN, 1, "c", 9092, i * 300, Some(i * 300 + 1)), MIR))
            .collect();
        feed(&mut r, &es);
        let l = r.loops();
        assert_eq!(l.len(), 1);
        assert_eq!((l[0].attempts, l[0].outcome), (12, Outcome::Open));
        assert_eq!(l[0].pace(), Pace::Fixed { period_us: 300_000 });
        let f = finding(&l[0]);
        assert_eq!(f.severity, Severity::Error);
        assert!(
            f.title.starts_with(
                "c sent JoinGroup v1 12 times over 3.3 s, every 300 ms (a fixed wait that does not grow), each answered MEMBER_ID_REQUIRED"
            ),
            "{}",
            f.title
        );
    }

    #[test]
    fn short_runs_and_recoveries() {
        let mut r = Retries::default();
        // 9 failures, a success, 9 failures: no loop.
        let mut es: Vec<Exchange> = (0..9)
            .map(|i| failed(ex(1, HB, 3, "c", 9092, i * 10, Some(i * 10 + 1)), 27))
            .collect();
        es.push(ex(1, HB, 3, "c", 9092, 100, Some(101)));
        es.extend((0..9).map(|i| failed(ex(1, HB, 3, "c", 9092, 200 + i, Some(201 + i)), 27)));
        feed(&mut r, &es);
        assert!(r.loops().is_empty());
        // A rejoin clears a Heartbeat run: 10 failures, then JoinGroup ok.
        let mut r = Retries::default();
        let mut es: Vec<Exchange> = (0..10)
            .map(|i| failed(ex(1, HB, 3, "c", 9092, i * 10, Some(i * 10 + 1)), 27))
            .collect();
        es.push(ex(1, JOIN, 5, "c", 9092, 500, Some(501)));
        feed(&mut r, &es);
        let l = r.loops();
        assert_eq!((l.len(), l[0].outcome), (1, Outcome::Recovered));
        assert_eq!(finding(&l[0]).severity, Severity::Warning);
        assert_eq!(l[0].pace(), Pace::NoBackoff { period_us: 10_000 });
    }

    #[test]
    fn backoff_is_told() {
        let mut r = Retries::default();
        let mut t = 0;
        let mut es = Vec::new();
        for i in 0..12 {
            es.push(failed(ex(1, 3, 9, "c", 9092, t, Some(t + 1)), 3));
            t += 100 * (1 << i.min(4));
        }
        feed(&mut r, &es);
        let l = r.loops();
        assert!(
            matches!(l[0].pace(), Pace::BacksOff { .. }),
            "{:?}",
            l[0].pace()
        );
    }

    #[test]
    fn apiversions_negotiation_is_not_a_loop() {
        let mut r = Retries::default();
        let es: Vec<Exchange> = (0..20)
            .map(|i| failed(ex(i, 18, 3, "c", 9092, i as i64, Some(i as i64 + 1)), 35))
            .collect();
        feed(&mut r, &es);
        assert!(r.loops().is_empty());
    }
}
