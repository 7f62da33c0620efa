//! Consumer lag from the wire: per consumer (client id), topic and
//! partition, each Fetch's position against the response's high watermark
//! (its last stable offset for `read_committed`) over time; OffsetCommit
//! progress per group and partition; OFFSET_OUT_OF_RANGE on Fetch and what
//! the consumer did next.
//!
//! Lag is Kafka's own `records-lag`: the offset the consumer can read up to
//! (high watermark, or last stable offset under `read_committed`) minus its
//! position once the fetch is consumed (the fetch offset, moved past the
//! last complete batch the response returned). A consumer that keeps up
//! reaches 0 whenever it has read everything; one that falls behind never
//! does, and its lag grows.
//!
//! State is bounded: [`MAX_PARTITIONS_TRACKED`] (consumer, partition) pairs,
//! [`MAX_COMMITS_TRACKED`] (group, partition) pairs, [`MAX_GROUPS`] client
//! → group links, [`MAX_OUT_OF_RANGE`] out-of-range events per partition;
//! beyond them new keys are counted, not kept.

use foldhash::HashMap;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::capture::Timestamp;
use crate::kafka::ApiKey;
use crate::kafka::errors::ErrorCode;
use crate::kafka::records::{Batch, RecordSet};
use crate::kafka::schema::views::{
    FetchRequest, FetchResponse, OffsetCommitRequest, OffsetCommitResponse,
};
use crate::session::{Exchange, Status};

use super::producer::{client_label, record_set};
use super::{Context, Detector, Finding, Severity};
use crate::analysis::topics::group_of;
use crate::present::count;

/// (consumer, topic, partition) pairs followed.
pub const MAX_PARTITIONS_TRACKED: usize = 10_000;
/// (group, topic, partition) commit histories followed.
pub const MAX_COMMITS_TRACKED: usize = 10_000;
/// Client id → group links remembered.
pub const MAX_GROUPS: usize = 10_000;
/// OFFSET_OUT_OF_RANGE answers kept per partition (more are counted).
pub const MAX_OUT_OF_RANGE: usize = 8;
/// Detail lines per finding.
pub const MAX_DETAILS: usize = 20;

/// Fewest fetch answers before a partition's lag is judged: fewer are a
/// start-up transient (a consumer starting from the earliest offset begins
/// with all the backlog as lag).
pub const LAG_MIN_FETCHES: u64 = 5;
/// Shortest span of fetches before a partition's lag is judged: several of
/// the consumer's `fetch.max.wait.ms` (500 ms by default in both the Java
/// client and librdkafka), so a burst of production is not a trend.
pub const LAG_MIN_SPAN_NS: i128 = 5_000_000_000;
/// Lag at the end at least this many times the lag at the start, never
/// having caught up, is growing: the consumer reads slower than the
/// partition is written.
pub const LAG_GROWTH_FACTOR: i64 = 2;
/// Consecutive commits at the same offset, while the consumer's fetched
/// position is past it, before a group's commits are said to have stopped.
/// Auto-commit runs every `auto.commit.interval.ms` (5 s by default), so
/// three such commits span ten seconds of no progress.
pub const COMMIT_STALL_MIN_COMMITS: u64 = 3;
/// Shortest span of the same-offset commits for a stall.
pub const COMMIT_STALL_MIN_SPAN_NS: i128 = 10_000_000_000;

/// Fetch's `isolationLevel` for `read_committed`.
const READ_COMMITTED: i8 = 1;

const OFFSET_OUT_OF_RANGE: i16 = ErrorCode::OFFSET_OUT_OF_RANGE.0;

/// This family's detectors.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    vec![Box::new(Lag::default())]
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    client: Arc<str>,
    topic: Arc<str>,
    partition: i64,
}

/// One fetch answer for one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sample {
    ts: Timestamp,
    frame: u64,
    fetch_offset: i64,
    /// The position once the returned batches are consumed.
    position: i64,
    high_watermark: i64,
    /// What the consumer may read up to: the high watermark, or the last
    /// stable offset under read_committed.
    ceiling: i64,
    lag: i64,
}

#[derive(Clone, Debug)]
struct OutOfRange {
    frame: u64,
    ts: Timestamp,
    offset: i64,
    log_start: i64,
    high_watermark: i64,
    /// The next offset the consumer fetched this partition from.
    next: Option<(i64, u64)>,
}

#[derive(Clone, Debug)]
struct PartLag {
    fetches: u64,
    read_committed: bool,
    first: Sample,
    last: Sample,
    max: Sample,
    /// Answers after which the consumer had read everything.
    caught_up: u64,
    /// When it first caught up after the lag peaked.
    caught_up_after_max: Option<Sample>,
    out_of_range: Vec<OutOfRange>,
    more_out_of_range: u64,
    streams: Vec<u64>,
    broker: SocketAddr,
}

#[derive(Clone, Debug)]
struct Commit {
    client: Arc<str>,
    commits: u64,
    first: (Timestamp, u64, i64),
    last: (Timestamp, u64, i64),
    /// The first of the consecutive commits at `last`'s offset, and how many.
    same_since: (Timestamp, u64),
    same_count: u64,
    /// The committing client's fetched position at the last commit.
    position_at_last: Option<i64>,
    high_watermark_at_last: Option<i64>,
    stream: u64,
}

/// (group, topic, partition).
type CommitKey = (Arc<str>, Arc<str>, i64);

/// Consumer lag and commit progress.
#[derive(Default)]
pub struct Lag {
    parts: HashMap<Key, PartLag>,
    commits: HashMap<CommitKey, Commit>,
    groups: HashMap<Arc<str>, Arc<str>>,
    dropped: u64,
    /// OFFSET_OUT_OF_RANGE answers whose next fetch is not yet seen.
    oor_waiting: usize,
}

/// The offset after the last complete batch of `set`.
fn end_of(set: &RecordSet) -> Option<i64> {
    set.batches
        .iter()
        .filter_map(|b| match b {
            Batch::V2(rb) => rb
                .base_offset
                .checked_add(i64::from(rb.last_offset_delta))?
                .checked_add(1),
            Batch::Legacy(m) => m
                .messages
                .last()
                .map_or(m.offset, |inner| inner.offset)
                .checked_add(1),
        })
        .max()
}

impl Lag {
    fn fetch(&mut self, e: &Exchange, cx: &Context<'_>, client: &Arc<str>) {
        let (Some(req), Some(resp)) = (e.request_body.as_deref(), e.response_body.as_deref())
        else {
            return;
        };
        if !matches!(e.status, Status::Ok | Status::Error) {
            return;
        }
        let q = req.view().map(FetchRequest);
        let read_committed = q.and_then(|q| q.isolation_level()) == Some(READ_COMMITTED);
        // What the request asked for: (topic, partition) → fetch offset (a
        // topic's label made once for all its partitions).
        let mut asked: Vec<(Arc<str>, i64, i64)> = Vec::new();
        for t in q.and_then(|q| q.topics()).into_iter().flatten() {
            let Some(topic) = cx.names.label(t.topic(), t.topic_id()) else {
                continue;
            };
            let topic: Arc<str> = Arc::from(topic);
            for p in t.partitions().into_iter().flatten() {
                if let (Some(i), Some(o)) = (p.partition(), p.fetch_offset()) {
                    asked.push((topic.clone(), i64::from(i), o));
                }
            }
        }
        // Offsets this request asks for again: what followed an
        // OFFSET_OUT_OF_RANGE (looked up only while one waits for it).
        if self.oor_waiting > 0 {
            for (topic, i, o) in &asked {
                let key = Key {
                    client: client.clone(),
                    topic: topic.clone(),
                    partition: *i,
                };
                if let Some(pl) = self.parts.get_mut(&key) {
                    for oor in &mut pl.out_of_range {
                        if oor.next.is_none() && e.request.frame > oor.frame && *o != oor.offset {
                            oor.next = Some((*o, e.request.frame));
                            self.oor_waiting = self.oor_waiting.saturating_sub(1);
                        }
                    }
                }
            }
        }
        let responses = resp.view().map(FetchResponse).and_then(|r| r.responses());
        for t in responses.into_iter().flatten() {
            let Some(label) = cx.names.label(t.topic(), t.topic_id()) else {
                continue;
            };
            // The request's own label when it asked for the topic.
            let topic: Arc<str> = match asked.iter().find(|(n, ..)| **n == *label) {
                Some((n, ..)) => n.clone(),
                None => Arc::from(label),
            };
            for p in t.partitions().into_iter().flatten() {
                let Some(partition) = p.partition_index().map(i64::from) else {
                    continue;
                };
                let key = Key {
                    client: client.clone(),
                    topic: topic.clone(),
                    partition,
                };
                let code = p.error_code().unwrap_or(0);
                let hw = p.high_watermark().unwrap_or(-1);
                let tracked = self.parts.len();
                let known = self.parts.get_mut(&key);
                let fetch_offset = asked
                    .iter()
                    .find(|(n, i, _)| **n == *topic && *i == partition)
                    .map(|x| x.2)
                    // An incremental fetch session leaves partitions out
                    // of the request: the consumer is where it was.
                    .or_else(|| known.as_ref().map(|pl| pl.last.position));
                let Some(fetch_offset) = fetch_offset else {
                    continue;
                };
                if known.is_none() {
                    if code == 0 && hw >= 0 {
                        if tracked >= MAX_PARTITIONS_TRACKED {
                            self.dropped += 1;
                            continue;
                        }
                    } else if code != OFFSET_OUT_OF_RANGE {
                        continue;
                    }
                }
                if code == OFFSET_OUT_OF_RANGE {
                    let oor = OutOfRange {
                        frame: e.request.frame,
                        ts: e.request.ts,
                        offset: fetch_offset,
                        log_start: p.log_start_offset().unwrap_or(-1),
                        high_watermark: hw,
                        next: None,
                    };
                    let s = Sample {
                        ts: e.request.ts,
                        frame: e.request.frame,
                        fetch_offset,
                        position: fetch_offset,
                        high_watermark: hw,
                        ceiling: hw,
                        lag: 0,
                    };
                    let pl = match known {
                        Some(pl) => pl,
                        None => {
                            if tracked >= MAX_PARTITIONS_TRACKED {
                                self.dropped += 1;
                                continue;
                            }
                            let mut pl = PartLag::new(s, read_committed, e);
                            // Not a lag sample.
                            pl.fetches = 0;
                            pl.caught_up = 0;
                            self.parts.entry(key).or_insert(pl)
                        }
                    };
                    if pl.out_of_range.len() < MAX_OUT_OF_RANGE {
                        pl.out_of_range.push(oor);
                        self.oor_waiting += 1;
                    } else {
                        pl.more_out_of_range += 1;
                    }
                    continue;
                }
                if code != 0 || hw < 0 {
                    continue;
                }
                let lso = p.last_stable_offset().unwrap_or(-1);
                let ceiling = if read_committed && lso >= 0 { lso } else { hw };
                let end = record_set(resp, p.records()).and_then(end_of);
                let position = end.map_or(fetch_offset, |x| x.max(fetch_offset));
                let s = Sample {
                    ts: e.request.ts,
                    frame: e.request.frame,
                    fetch_offset,
                    position,
                    high_watermark: hw,
                    ceiling,
                    lag: (ceiling - position).max(0),
                };
                match known {
                    Some(pl) => pl.add(s, e),
                    None => {
                        self.parts.insert(key, PartLag::new(s, read_committed, e));
                    }
                }
            }
        }
    }

    fn offset_commit(&mut self, e: &Exchange, cx: &Context<'_>, client: &Arc<str>) {
        let (Some(req), Some(resp)) = (e.request_body.as_deref(), e.response_body.as_deref())
        else {
            return;
        };
        let q = req.view().map(OffsetCommitRequest);
        let Some(group) = q.and_then(|q| q.group_id()) else {
            return;
        };
        let group: Arc<str> = Arc::from(group);
        // Only commits the broker accepted: the (topic, partition) pairs it
        // answered with an error.
        let mut failed: Vec<(String, i32)> = Vec::new();
        let answered = resp
            .view()
            .map(OffsetCommitResponse)
            .and_then(|r| r.topics());
        for rt in answered.into_iter().flatten() {
            let Some(topic) = cx.names.label(rt.name(), rt.topic_id()) else {
                continue;
            };
            for rp in rt.partitions().into_iter().flatten() {
                if let Some(i) = rp.partition_index()
                    && rp.error_code().unwrap_or(0) != 0
                {
                    failed.push((topic.clone(), i));
                }
            }
        }
        for t in q.and_then(|q| q.topics()).into_iter().flatten() {
            let Some(topic) = cx.names.label(t.name(), t.topic_id()) else {
                continue;
            };
            let topic: Arc<str> = Arc::from(topic);
            for p in t.partitions().into_iter().flatten() {
                let (Some(i), Some(off)) = (p.partition_index(), p.committed_offset()) else {
                    continue;
                };
                let failed = failed.iter().any(|(n, fi)| **n == *topic && *fi == i);
                let i = i64::from(i);
                if failed || off < 0 {
                    continue;
                }
                let fetched = self.parts.get(&Key {
                    client: client.clone(),
                    topic: topic.clone(),
                    partition: i,
                });
                let position = fetched.map(|pl| pl.last.position);
                let hw = fetched.map(|pl| pl.last.ceiling);
                let now = (e.request.ts, e.request.frame, off);
                let key = (group.clone(), topic.clone(), i);
                let full = self.commits.len() >= MAX_COMMITS_TRACKED;
                match self.commits.get_mut(&key) {
                    Some(c) => {
                        c.commits += 1;
                        if c.last.2 == off {
                            c.same_count += 1;
                        } else {
                            c.same_since = (e.request.ts, e.request.frame);
                            c.same_count = 1;
                        }
                        c.last = now;
                        c.client = client.clone();
                        c.position_at_last = position;
                        c.high_watermark_at_last = hw;
                        c.stream = e.stream;
                    }
                    None if full => self.dropped += 1,
                    None => {
                        self.commits.insert(
                            key,
                            Commit {
                                client: client.clone(),
                                commits: 1,
                                first: now,
                                last: now,
                                same_since: (e.request.ts, e.request.frame),
                                same_count: 1,
                                position_at_last: position,
                                high_watermark_at_last: hw,
                                stream: e.stream,
                            },
                        );
                    }
                }
            }
        }
    }
}

impl PartLag {
    fn new(s: Sample, read_committed: bool, e: &Exchange) -> PartLag {
        PartLag {
            fetches: 1,
            read_committed,
            first: s,
            last: s,
            max: s,
            caught_up: u64::from(s.lag == 0),
            caught_up_after_max: None,
            out_of_range: Vec::new(),
            more_out_of_range: 0,
            streams: vec![e.stream],
            broker: e.broker,
        }
    }

    fn add(&mut self, s: Sample, e: &Exchange) {
        if self.fetches == 0 {
            // The first lag sample after an out-of-range answer.
            self.first = s;
            self.max = s;
        }
        self.fetches += 1;
        self.last = s;
        self.broker = e.broker;
        if s.lag > self.max.lag {
            self.max = s;
            self.caught_up_after_max = None;
        }
        if s.lag == 0 {
            self.caught_up += 1;
            if self.caught_up_after_max.is_none() && self.max.lag > 0 {
                self.caught_up_after_max = Some(s);
            }
        }
        if !self.streams.contains(&e.stream) && self.streams.len() < MAX_DETAILS {
            self.streams.push(e.stream);
        }
    }

    fn span_ns(&self) -> i128 {
        self.last.ts.nanos_since(self.first.ts)
    }

    /// Judged at all: enough answers over enough time.
    fn judged(&self) -> bool {
        self.fetches >= LAG_MIN_FETCHES && self.span_ns() >= LAG_MIN_SPAN_NS
    }

    fn growing(&self) -> bool {
        self.judged()
            && self.caught_up == 0
            && self.last.lag > self.first.lag
            && self.last.lag >= self.first.lag.saturating_mul(LAG_GROWTH_FACTOR)
    }

    /// Behind all along and not moving at all.
    fn stuck(&self) -> bool {
        self.judged()
            && self.caught_up == 0
            && self.last.position == self.first.position
            && self.last.lag > 0
    }
}

fn secs(ns: i128) -> String {
    format!("{:.1} s", ns as f64 / 1e9)
}

impl Detector for Lag {
    fn exchange(&mut self, e: &Exchange, cx: &Context<'_>) {
        let client = client_label(e);
        match e.api_key {
            ApiKey::FETCH => self.fetch(e, cx, &client),
            ApiKey::OFFSET_COMMIT => self.offset_commit(e, cx, &client),
            _ => {}
        }
        // Which group a client belongs to, for the findings' groups.
        if matches!(
            e.api_key,
            ApiKey::OFFSET_COMMIT
                | ApiKey::OFFSET_FETCH
                | ApiKey::JOIN_GROUP
                | ApiKey::HEARTBEAT
                | ApiKey::SYNC_GROUP
                | ApiKey::CONSUMER_GROUP_HEARTBEAT
        ) && let Some(g) = group_of(e)
            && (self.groups.contains_key(&client) || self.groups.len() < MAX_GROUPS)
        {
            self.groups.insert(client, Arc::from(g));
        }
    }

    fn findings(&self, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let mut keys: Vec<&Key> = self.parts.keys().collect();
        keys.sort();
        // By client: growing, stuck, and the summary.
        let mut by_client: BTreeMap<&Arc<str>, Vec<(&Key, &PartLag)>> = BTreeMap::new();
        for k in keys {
            by_client
                .entry(&k.client)
                .or_default()
                .push((k, &self.parts[k]));
        }
        for (client, parts) in &by_client {
            let group = self.groups.get(*client);
            let new = |sev, code| {
                let mut f = Finding::new(sev, code, "");
                f.client(client);
                if let Some(g) = group {
                    f.group(g);
                }
                f
            };
            let mut growing = new(Severity::Warning, "consumer_lag_growing");
            let mut stuck = new(Severity::Warning, "consumer_stuck");
            let mut info = new(Severity::Info, "consumer_lag");
            let mut oor = new(Severity::Warning, "fetch_offset_out_of_range");
            let mut oor_skipped = 0i64;
            let mut oor_reread = 0i64;
            let mut worst: Option<(&Key, &PartLag)> = None;
            let mut behind_at_end = 0u64;
            for &(k, pl) in parts {
                let name = format!("{}-{}", k.topic, k.partition);
                let add = |f: &mut Finding, pl: &PartLag| {
                    f.topic(&k.topic);
                    for s in &pl.streams {
                        f.stream(*s);
                    }
                    f.broker(pl.broker);
                    f.at(pl.first.ts);
                    f.at(pl.last.ts);
                };
                for o in &pl.out_of_range {
                    oor.count += 1;
                    add(&mut oor, pl);
                    oor.frame(o.frame);
                    oor.at(o.ts);
                    let then = match o.next {
                        Some((n, fr)) if n < o.offset => {
                            oor.frame(fr);
                            oor_reread += o.offset - n;
                            format!(
                                "the consumer reset to offset {n} (frame {fr}): {} read again",
                                count((o.offset - n) as u64, "record", "records")
                            )
                        }
                        Some((n, fr)) => {
                            oor.frame(fr);
                            oor_skipped += n - o.offset;
                            format!(
                                "the consumer jumped to offset {n} (frame {fr}): {} skipped, never read",
                                count((n - o.offset) as u64, "record", "records")
                            )
                        }
                        None => "the consumer did not fetch it again in the capture".to_string(),
                    };
                    if oor.details.len() < MAX_DETAILS {
                        oor.details.push(format!(
                            "{name}: fetch at offset {} (frame {}) answered OFFSET_OUT_OF_RANGE; the broker reported log start {}, high watermark {}; {then}",
                            o.offset, o.frame, o.log_start, o.high_watermark
                        ));
                    }
                }
                if pl.fetches == 0 {
                    continue;
                }
                let line = format!(
                    "{name}: {} over {}: lag {} at frame {}, peak {} at frame {}, {} at frame {} (position {}, {} {}){}",
                    count(pl.fetches, "fetch", "fetches"),
                    secs(pl.span_ns()),
                    pl.first.lag,
                    pl.first.frame,
                    pl.max.lag,
                    pl.max.frame,
                    pl.last.lag,
                    pl.last.frame,
                    pl.last.position,
                    if pl.read_committed {
                        "last stable offset"
                    } else {
                        "high watermark"
                    },
                    pl.last.ceiling,
                    match pl.caught_up_after_max {
                        Some(s) => format!(", caught up at frame {}", s.frame),
                        None => String::new(),
                    }
                );
                if pl.growing() {
                    growing.count += 1;
                    add(&mut growing, pl);
                    growing.frame(pl.first.frame);
                    growing.frame(pl.last.frame);
                    if growing.details.len() < MAX_DETAILS {
                        growing.details.push(line);
                    }
                } else if pl.stuck() {
                    stuck.count += 1;
                    add(&mut stuck, pl);
                    stuck.frame(pl.first.frame);
                    stuck.frame(pl.last.frame);
                    if stuck.details.len() < MAX_DETAILS {
                        stuck.details.push(line);
                    }
                } else if pl.max.lag > 0 {
                    info.count += 1;
                    add(&mut info, pl);
                    if info.details.len() < MAX_DETAILS {
                        info.details.push(line);
                    }
                    if worst.is_none_or(|(_, w)| pl.max.lag > w.max.lag) {
                        worst = Some((k, pl));
                    }
                    if pl.last.lag > 0 {
                        behind_at_end += 1;
                    }
                }
            }
            if growing.count > 0 {
                let (first, last) = parts
                    .iter()
                    .filter(|(_, pl)| pl.growing())
                    .fold((0i64, 0i64), |a, (_, pl)| {
                        (a.0 + pl.first.lag, a.1 + pl.last.lag)
                    });
                growing.title = format!(
                    "consumer {client} is falling behind on {}: lag grew from {first} to {last} records and never reached 0 — it reads slower than the partitions are written",
                    count(growing.count, "partition", "partitions")
                );
                out.push(growing);
            }
            if stuck.count > 0 {
                stuck.title = format!(
                    "consumer {client} made no progress on {}: it fetched the same offset throughout while records were waiting",
                    count(stuck.count, "partition", "partitions")
                );
                out.push(stuck);
            }
            if oor.count > 0 {
                if oor_skipped > 0 {
                    oor.severity = Severity::Error;
                }
                oor.title = format!(
                    "consumer {client} fetched outside the log: OFFSET_OUT_OF_RANGE ×{}{}",
                    oor.count,
                    if oor_skipped > 0 {
                        format!(
                            "; its offset reset skipped {}",
                            count(oor_skipped as u64, "record", "records")
                        )
                    } else if oor_reread > 0 {
                        format!(
                            "; its offset reset (auto.offset.reset) made it read {} again",
                            count(oor_reread as u64, "record", "records")
                        )
                    } else {
                        String::new()
                    }
                );
                out.push(oor);
            }
            if let Some((k, w)) = worst {
                info.frame(w.max.frame);
                if let Some(s) = w.caught_up_after_max {
                    info.frame(s.frame);
                }
                info.title = format!(
                    "consumer {client}: lag peaked at {} on {}-{} (frame {}); {}",
                    count(w.max.lag as u64, "record", "records"),
                    k.topic,
                    k.partition,
                    w.max.frame,
                    if behind_at_end == 0 {
                        format!(
                            "{} caught up",
                            if info.count == 1 {
                                "it".to_string()
                            } else if info.count == 2 {
                                "both partitions".to_string()
                            } else {
                                format!("all {} partitions", info.count)
                            }
                        )
                    } else {
                        format!(
                            "{} still behind at the last fetch",
                            count(behind_at_end, "partition", "partitions")
                        )
                    }
                );
                out.push(info);
            }
        }
        // Commits that stopped advancing.
        let mut commits: Vec<(&CommitKey, &Commit)> = self.commits.iter().collect();
        commits.sort_by(|a, b| a.0.cmp(b.0));
        let mut by_group: BTreeMap<&Arc<str>, Finding> = BTreeMap::new();
        for ((group, topic, partition), c) in commits {
            let Some(pos) = c.position_at_last else {
                continue;
            };
            let span = c.last.0.nanos_since(c.same_since.0);
            if c.same_count < COMMIT_STALL_MIN_COMMITS
                || span < COMMIT_STALL_MIN_SPAN_NS
                || pos <= c.last.2
            {
                continue;
            }
            let f = by_group.entry(group).or_insert_with(|| {
                let mut f = Finding::new(Severity::Warning, "offset_commit_stalled", "");
                f.group(group);
                f
            });
            f.count += 1;
            f.topic(topic);
            f.client(&c.client);
            f.stream(c.stream);
            f.frame(c.same_since.1);
            f.frame(c.last.1);
            f.at(c.same_since.0);
            f.at(c.last.0);
            if f.details.len() < MAX_DETAILS {
                f.details.push(format!(
                    "{topic}-{partition}: {} at offset {} from frame {} to frame {} ({}), while {} had fetched to {}{}; {} commits in all since frame {} (offset {})",
                    count(c.same_count, "commit", "commits"),
                    c.last.2,
                    c.same_since.1,
                    c.last.1,
                    secs(span),
                    c.client,
                    pos,
                    c.high_watermark_at_last
                        .map(|h| format!(" (high watermark {h})"))
                        .unwrap_or_default(),
                    c.commits,
                    c.first.1,
                    c.first.2,
                ));
            }
        }
        for (group, mut f) in by_group {
            f.title = format!(
                "group {group} kept committing the same offsets on {} while its consumer read further: a restart would read those records again",
                count(f.count, "partition", "partitions")
            );
            out.push(f);
        }
        let _ = self.dropped;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ts: i64, lag: i64, position: i64) -> Sample {
        Sample {
            ts: Timestamp::new(ts, 0),
            frame: ts as u64,
            fetch_offset: position,
            position,
            high_watermark: position + lag,
            ceiling: position + lag,
            lag,
        }
    }

    fn part(samples: &[Sample]) -> PartLag {
        let mut pl = PartLag {
            fetches: 1,
            read_committed: false,
            first: samples[0],
            last: samples[0],
            max: samples[0],
            caught_up: u64::from(samples[0].lag == 0),
            caught_up_after_max: None,
            out_of_range: Vec::new(),
            more_out_of_range: 0,
            streams: Vec::new(),
            broker: "127.0.0.1:9092".parse().unwrap(),
        };
        for x in &samples[1..] {
            pl.fetches += 1;
            pl.last = *x;
            if x.lag > pl.max.lag {
                pl.max = *x;
            }
            if x.lag == 0 {
                pl.caught_up += 1;
            }
        }
        pl
    }

    #[test]
    fn growing_needs_time_fetches_and_growth() {
        let g: Vec<Sample> = (0..6).map(|i| s(i * 2, 10 + i * 10, i * 5)).collect();
        assert!(part(&g).growing());
        // Too short a span.
        let short: Vec<Sample> = (0..6).map(|i| s(i / 2, 10 + i * 10, i)).collect();
        assert!(!part(&short).growing());
        // Caught up once: not growing.
        let mut c = g.clone();
        c[2].lag = 0;
        assert!(!part(&c).growing());
        // Steady small lag: not growing, and moving: not stuck.
        let steady: Vec<Sample> = (0..6).map(|i| s(i * 2, 3, i * 5)).collect();
        assert!(!part(&steady).growing());
        assert!(!part(&steady).stuck());
        // Same position all along with records waiting: stuck.
        let st: Vec<Sample> = (0..6).map(|i| s(i * 2, 4, 7)).collect();
        assert!(part(&st).stuck());
    }
}
