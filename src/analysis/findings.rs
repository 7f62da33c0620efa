//! Findings: what went wrong, in plain words, with counts, the connections,
//! groups and topics involved and the frames to look at, most severe first.
//!
//! A [`Diagnoser`] is fed every exchange and event in the order the
//! analyzer emits them (as the TUI and `kwire diagnose` both do) and can
//! state its findings at any time (a live view asks repeatedly; a file asks
//! once at the end). Each family of findings is a [`Detector`] in a module
//! of its own; each keeps bounded state (named limits) whatever the input.

mod auth;
mod bootstrap;
mod capture;
mod conformance;
mod connections;
mod efficiency;
mod ends;
mod groups;
mod lag;
mod metadata;
mod producer;
mod requests;
mod retries;
mod tls;

use std::net::SocketAddr;

use serde_json::{Value as Json, json};

use crate::capture::Timestamp;
use crate::kafka::ApiKey;
use crate::session::{Event, Exchange, Summary};

use super::topics::TopicNames;

/// Frames listed per finding (the first ones; `count` says how many).
pub const MAX_FRAMES: usize = 20;
/// Connections, groups, topics, clients, brokers listed per finding.
pub const MAX_NAMES: usize = 20;

/// How bad a finding is. Ordered: `Error` is the most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Normal behaviour worth knowing (a membership change, a negotiation).
    Info,
    /// Something a Kafka engineer would look at (slow responses, retries
    /// that succeeded, throttling).
    Warning,
    /// Something failed for the client (never connected, requests lost,
    /// fatal errors, a broker that stopped answering).
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    /// A stable identifier of the kind of finding (`apiversions_loop`,
    /// `rebalance`, `throttled`…): for scripts and tests.
    pub code: &'static str,
    /// One sentence in plain words, with the numbers:
    /// `client py-stuck retried ApiVersions v3 27 times on 27 connections;
    /// the broker answered UNSUPPORTED_VERSION each time and the client
    /// never sent another request`.
    pub title: String,
    /// Further lines (what to check, per-item breakdowns).
    pub details: Vec<String>,
    /// How many times it happened (exchanges, connections, rebalances…).
    pub count: u64,
    /// The frames to look at, first ones first (at most [`MAX_FRAMES`]).
    pub frames: Vec<u64>,
    /// The connections (TCP stream indexes) involved.
    pub streams: Vec<u64>,
    pub groups: Vec<String>,
    pub topics: Vec<String>,
    /// Client ids.
    pub clients: Vec<String>,
    pub brokers: Vec<SocketAddr>,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    /// For a retry loop: its API and error code (what folding it into the
    /// finding that explains it goes by; not exported).
    pub(crate) retried: Option<(ApiKey, i16)>,
    /// The events the finding tells of (at most [`MAX_NAMES`]): findings
    /// telling of the same event are folded into one story.
    pub about: Vec<About>,
}

/// How [`Finding::absorb`]'s callers introduce a finding told in another.
const FOLDED: &[&str] = &["the same outage: ", "the same rebalance: ", "also: "];

/// An event a finding tells of, as data: what it says of the event can be
/// checked against what other findings say of it.
#[derive(Clone, Debug, PartialEq)]
pub enum About {
    /// A group's move from generation (KIP-848: group epoch) `from` to `to`
    /// (`None`: not seen to end before the capture did), and whether members
    /// joined or left in it.
    Rebalance {
        group: String,
        from: i32,
        to: Option<i32>,
        membership_change: bool,
    },
    /// A broker not answering (connections refused or cut, requests left
    /// unanswered) from `first` to `last`.
    Outage {
        broker: SocketAddr,
        first: Timestamp,
        last: Timestamp,
    },
}

impl About {
    /// `self` and `other` are the same event: the same rebalance of the same
    /// group, or overlapping outages of the same broker.
    pub fn same_event(&self, other: &About) -> bool {
        match (self, other) {
            (
                About::Rebalance {
                    group, from, to, ..
                },
                About::Rebalance {
                    group: g,
                    from: f,
                    to: t,
                    ..
                },
            ) => group == g && from == f && to == t,
            (
                About::Outage {
                    broker,
                    first,
                    last,
                },
                About::Outage {
                    broker: b,
                    first: f,
                    last: l,
                },
            ) => broker == b && first <= l && f <= last,
            _ => false,
        }
    }

    fn to_json(&self) -> Json {
        match self {
            About::Rebalance {
                group,
                from,
                to,
                membership_change,
            } => json!({
                "rebalance": {"group": group, "from": from, "to": to, "membership_change": membership_change}
            }),
            About::Outage {
                broker,
                first,
                last,
            } => json!({
                "outage": {"broker": broker.to_string(), "first_ts": first.rfc3339(), "last_ts": last.rfc3339()}
            }),
        }
    }
}

impl Finding {
    /// A finding with nothing but its severity, code and title.
    pub fn new(severity: Severity, code: &'static str, title: impl Into<String>) -> Finding {
        Finding {
            severity,
            code,
            title: title.into(),
            details: Vec::new(),
            count: 0,
            frames: Vec::new(),
            streams: Vec::new(),
            groups: Vec::new(),
            topics: Vec::new(),
            clients: Vec::new(),
            brokers: Vec::new(),
            first: None,
            last: None,
            retried: None,
            about: Vec::new(),
        }
    }

    /// Tell `f` as part of this finding's story: its title as a detail
    /// (`what: title`), its frames, names and events added, the worse
    /// severity kept.
    pub fn absorb(&mut self, f: Finding, what: &str) {
        self.details.push(format!("{what}: {}", f.title));
        // What was folded into `f` stays told.
        let told = |d: &&String| FOLDED.iter().any(|p| d.starts_with(p));
        self.details.extend(f.details.iter().filter(told).cloned());
        self.severity = self.severity.max(f.severity);
        for x in f.frames {
            self.frame(x);
        }
        self.frames.sort_unstable();
        for s in f.streams {
            self.stream(s);
        }
        for g in &f.groups {
            self.group(g);
        }
        for t in &f.topics {
            self.topic(t);
        }
        for c in &f.clients {
            self.client(c);
        }
        for b in f.brokers {
            self.broker(b);
        }
        for t in f.first.into_iter().chain(f.last) {
            self.at(t);
        }
        for a in f.about {
            self.about(a);
        }
    }

    /// Note an event it tells of (an outage overlapping one it tells of
    /// already widens that one).
    pub fn about(&mut self, a: About) {
        if let About::Outage { first, last, .. } = &a
            && let Some(About::Outage {
                first: f, last: l, ..
            }) = self.about.iter_mut().find(|b| b.same_event(&a))
        {
            *f = (*f).min(*first);
            *l = (*l).max(*last);
            return;
        }
        push_unique(&mut self.about, a);
    }

    /// Add a frame (kept if fewer than [`MAX_FRAMES`]).
    pub fn frame(&mut self, f: u64) {
        if self.frames.len() < MAX_FRAMES && !self.frames.contains(&f) {
            self.frames.push(f);
        }
    }

    /// Note a time it happened.
    pub fn at(&mut self, ts: Timestamp) {
        if self.first.is_none_or(|f| ts < f) {
            self.first = Some(ts);
        }
        if self.last.is_none_or(|l| ts > l) {
            self.last = Some(ts);
        }
    }

    pub fn stream(&mut self, s: u64) {
        push_unique(&mut self.streams, s);
    }
    pub fn group(&mut self, g: &str) {
        push_unique_str(&mut self.groups, g);
    }
    pub fn topic(&mut self, t: &str) {
        push_unique_str(&mut self.topics, t);
    }
    pub fn client(&mut self, c: &str) {
        push_unique_str(&mut self.clients, c);
    }
    pub fn broker(&mut self, b: SocketAddr) {
        push_unique(&mut self.brokers, b);
    }

    /// The finding as an NDJSON record (`"type": "finding"`; see
    /// docs/ndjson.md).
    pub fn to_json(&self) -> Json {
        let mut j = json!({
            "type": "finding",
            "severity": self.severity.as_str(),
            "code": self.code,
            "title": self.title,
            "details": self.details,
            "count": self.count,
            "frames": self.frames,
            "streams": self.streams,
            "groups": self.groups,
            "topics": self.topics,
            "clients": self.clients,
            "brokers": self.brokers.iter().map(|b| b.to_string()).collect::<Vec<_>>(),
            "first_ts": self.first.map(|t| t.rfc3339()),
            "last_ts": self.last.map(|t| t.rfc3339()),
        });
        if !self.about.is_empty() {
            j["about"] = self.about.iter().map(About::to_json).collect();
        }
        j
    }
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    push_bounded(v, x, MAX_NAMES);
}

/// Add `x` to `v` unless it is there or `v` holds `max` already.
pub(super) fn push_bounded<T: PartialEq>(v: &mut Vec<T>, x: T, max: usize) {
    if v.len() < max && !v.contains(&x) {
        v.push(x);
    }
}

fn push_unique_str(v: &mut Vec<String>, x: &str) {
    if v.len() < MAX_NAMES && !v.iter().any(|s| s == x) {
        v.push(x.to_string());
    }
}

/// What detectors may consult besides the exchange itself.
pub struct Context<'a> {
    pub names: &'a TopicNames,
}

/// One family of findings.
pub trait Detector: Send {
    /// Take the capture record (the first).
    fn capture(&mut self, _c: &crate::session::CaptureInfo) {}
    /// Take an exchange (in the order the analyzer emits them: by response,
    /// roughly by time).
    fn exchange(&mut self, e: &Exchange, cx: &Context<'_>);
    /// Take an event (connection open/close, gaps…).
    fn event(&mut self, _ev: &Event, _cx: &Context<'_>) {}
    /// Take the analyzer's summary (the capture ended): exact counts of
    /// what events were capped for.
    fn summary(&mut self, _s: &Summary) {}
    /// State what was found so far.
    fn findings(&self, cx: &Context<'_>, out: &mut Vec<Finding>);
}

/// Every detector, fed together.
pub struct Diagnoser {
    names: TopicNames,
    /// Where the capture lost traffic: its own findings, and cautions on
    /// the others.
    damage: capture::Damage,
    detectors: Vec<Box<dyn Detector>>,
}

impl Default for Diagnoser {
    fn default() -> Self {
        Diagnoser::new()
    }
}

impl Diagnoser {
    /// Every detector kwire has.
    pub fn new() -> Diagnoser {
        Diagnoser {
            names: TopicNames::new(),
            damage: capture::Damage::default(),
            detectors: all_detectors(),
        }
    }

    /// The capture record (several captures read as one: their clocks).
    pub fn observe_capture(&mut self, c: &crate::session::CaptureInfo) {
        for d in &mut self.detectors {
            d.capture(c);
        }
    }

    pub fn observe_exchange(&mut self, e: &Exchange) {
        self.names.observe(e);
        let cx = Context { names: &self.names };
        for d in &mut self.detectors {
            d.exchange(e, &cx);
        }
    }

    pub fn observe_event(&mut self, ev: &Event) {
        self.damage.event(ev);
        let cx = Context { names: &self.names };
        for d in &mut self.detectors {
            d.event(ev, &cx);
        }
    }

    pub fn observe_summary(&mut self, s: &Summary) {
        for d in &mut self.detectors {
            d.summary(s);
        }
    }

    /// Everything found so far, most severe first (then most frequent,
    /// then earliest).
    pub fn findings(&self) -> Vec<Finding> {
        let cx = Context { names: &self.names };
        let mut out = Vec::new();
        for d in &self.detectors {
            d.findings(&cx, &mut out);
        }
        self.damage.findings(&mut out);
        fold_consequences(&mut out);
        self.damage.annotate(&mut out);
        // Topics named by id before the capture named them (a Fetch seen
        // before the Metadata that tells its name) are said with the name.
        for f in &mut out {
            rename_ids(f, &self.names);
        }
        out.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.count.cmp(&a.count))
                .then(a.first.cmp(&b.first))
        });
        out
    }
}

/// A finding's `id:…` topic labels, rewritten with the names the capture
/// gave those ids later; topics listed twice (by id and by name) once.
fn rename_ids(f: &mut Finding, names: &TopicNames) {
    if let Some(t) = names.rename_ids(&f.title) {
        f.title = t;
    }
    for d in &mut f.details {
        if let Some(t) = names.rename_ids(d) {
            *d = t;
        }
    }
    let mut topics: Vec<String> = Vec::with_capacity(f.topics.len());
    for t in f.topics.drain(..) {
        let t = names.rename_ids(&t).unwrap_or(t);
        if !topics.contains(&t) {
            topics.push(t);
        }
    }
    f.topics = topics;
}

/// Findings that are the consequence of another are folded into it: a
/// client stuck at bootstrap or at authentication (an ApiVersions loop, a
/// bootstrap that never completes, a login that fails) reconnects over and
/// over, so its reconnect storm is said as a detail of that finding, not as
/// a finding of its own (so is the storm of a client that opens a
/// connection per request: the habit, with its advice, tells it); likewise a
/// retry loop whose error another family
/// explains for the same client (a login refused, a topic unknown, a member
/// fenced) is told in that finding, with its count and pace.
fn fold_consequences(out: &mut Vec<Finding>) {
    // (consequence, cause) pairs.
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for i in 0..out.len() {
        let f = &out[i];
        if f.clients.is_empty() {
            continue;
        }
        let causes: &[&str] = match (f.code, f.retried) {
            ("reconnect_storm", _) => &[
                "apiversions_loop",
                "bootstrap_incomplete",
                "auth_failed",
                "auth_mechanism",
                "connection_per_request",
                "protocol_malformed",
                "protocol_null",
                "protocol_error_code",
            ],
            ("retry_loop", Some((api, _))) => loop_causes(api),
            _ => continue,
        };
        // A cause is a warning or worse, but for a client that opens a
        // connection per request, whose storm is that habit (advice).
        let cause = (0..out.len()).find(|&c| {
            c != i
                && causes.contains(&out[c].code)
                && (out[c].severity >= Severity::Warning || out[c].code == "connection_per_request")
                && f.clients.iter().all(|x| out[c].clients.contains(x))
        });
        if let Some(c) = cause {
            pairs.push((i, c));
        }
    }
    for &(i, c) in &pairs {
        let line = format!("as a consequence: {}", out[i].title);
        let sev = out[i].severity;
        let cause = &mut out[c];
        cause.details.push(line);
        cause.severity = cause.severity.max(sev);
    }
    let mut index = 0;
    out.retain(|_| {
        let keep = !pairs.iter().any(|&(i, _)| i == index);
        index += 1;
        keep
    });
    fold_same_events(out);
}

/// Findings that tell of the same events (the same rebalance, the same
/// outage: [`About::same_event`]) are one story: a finding every event of
/// which another tells is said as a detail of that other, which takes the
/// worse severity. Of two findings telling of the same events, the more
/// severe (then the more frequent, then the first stated) tells the story.
fn fold_same_events(out: &mut Vec<Finding>) {
    let covers = |j: &Finding, i: &Finding| {
        !i.about.is_empty()
            && i.about
                .iter()
                .all(|a| j.about.iter().any(|b| a.same_event(b)))
    };
    let rank = |f: &Finding, at: usize| (f.severity, f.count, std::cmp::Reverse(at));
    // Findings by what their events are of (a group, a broker): only those
    // sharing one can tell of the same event.
    let key = |a: &About| match a {
        About::Rebalance { group, .. } => format!("g {group}"),
        About::Outage { broker, .. } => format!("b {broker}"),
    };
    let mut by_key: std::collections::HashMap<String, Vec<usize>> = Default::default();
    for (i, f) in out.iter().enumerate() {
        for a in &f.about {
            let v = by_key.entry(key(a)).or_default();
            if v.last() != Some(&i) {
                v.push(i);
            }
        }
    }
    let mut folded = vec![false; out.len()];
    // Until nothing folds: a story folded into another carries what was
    // folded into it.
    let mut changed = true;
    while changed {
        changed = false;
        for i in 0..out.len() {
            let Some(first) = out[i].about.first().filter(|_| !folded[i]) else {
                continue;
            };
            let target = by_key[&key(first)].iter().copied().find(|&j| {
                j != i
                    && !folded[j]
                    && covers(&out[j], &out[i])
                    && (!covers(&out[i], &out[j]) || rank(&out[j], j) > rank(&out[i], i))
            });
            let Some(j) = target else { continue };
            folded[i] = true;
            changed = true;
            let f = std::mem::replace(&mut out[i], Finding::new(Severity::Info, "", ""));
            let what = match f.about.first() {
                Some(About::Outage { .. }) => "the same outage",
                _ => "the same rebalance",
            };
            out[j].absorb(f, what);
        }
    }
    let mut index = 0;
    out.retain(|_| {
        let keep = !folded[index];
        index += 1;
        keep
    });
}

/// The findings that explain a retry loop on `api` when they concern the
/// same client.
fn loop_causes(api: ApiKey) -> &'static [&'static str] {
    match api {
        ApiKey::SASL_HANDSHAKE | ApiKey::SASL_AUTHENTICATE => &["auth_failed", "auth_mechanism"],
        ApiKey::METADATA => &[
            "unknown_topic",
            "authorization_failed",
            "not_leader",
            "leader_not_available",
        ],
        ApiKey::JOIN_GROUP
        | ApiKey::SYNC_GROUP
        | ApiKey::HEARTBEAT
        | ApiKey::LEAVE_GROUP
        | ApiKey::OFFSET_COMMIT
        | ApiKey::OFFSET_FETCH
        | ApiKey::FIND_COORDINATOR
        | ApiKey::CONSUMER_GROUP_HEARTBEAT => &[
            "member_fenced",
            "member_dropped",
            "group_error",
            "coordinator_unavailable",
            "coordinator_moved",
            "commit_rejected",
            "authorization_failed",
        ],
        ApiKey::PRODUCE
        | ApiKey::INIT_PRODUCER_ID
        | ApiKey::ADD_PARTITIONS_TO_TXN
        | ApiKey::ADD_OFFSETS_TO_TXN
        | ApiKey::END_TXN
        | ApiKey::TXN_OFFSET_COMMIT => &[
            "produce_failed",
            "produce_retries",
            "producer_fenced",
            "producer_sequence_error",
            "message_too_large",
            "transaction_error",
            "not_leader",
            "unknown_topic",
            "authorization_failed",
        ],
        ApiKey::FETCH | ApiKey::LIST_OFFSETS | ApiKey::OFFSET_FOR_LEADER_EPOCH => &[
            "fetch_offset_out_of_range",
            "not_leader",
            "unknown_topic",
            "stale_leader_epoch",
            "authorization_failed",
        ],
        _ => &[],
    }
}

/// A sink that diagnoses what passes through it: every record goes on to
/// `inner`; just before the summary, `on_findings` gets the findings.
pub struct Diagnosing<S, F> {
    pub inner: S,
    pub diagnoser: Diagnoser,
    on_findings: F,
}

impl<S, F> Diagnosing<S, F>
where
    S: crate::session::RecordSink,
    F: FnMut(&mut S, &[Finding]) -> std::io::Result<()>,
{
    pub fn new(inner: S, on_findings: F) -> Self {
        Diagnosing {
            inner,
            diagnoser: Diagnoser::new(),
            on_findings,
        }
    }
}

impl<S, F> crate::session::RecordSink for Diagnosing<S, F>
where
    S: crate::session::RecordSink,
    F: FnMut(&mut S, &[Finding]) -> std::io::Result<()>,
{
    fn record(&mut self, r: crate::session::Record) -> std::io::Result<()> {
        self.observe(&r)?;
        self.inner.record(r)
    }

    fn renderer(&self) -> Option<std::sync::Arc<dyn crate::session::Render>> {
        self.inner.renderer()
    }

    fn record_rendered(
        &mut self,
        r: crate::session::Record,
        rendered: Option<&[u8]>,
    ) -> std::io::Result<()> {
        self.observe(&r)?;
        self.inner.record_rendered(r, rendered)
    }
}

impl<S, F> Diagnosing<S, F>
where
    S: crate::session::RecordSink,
    F: FnMut(&mut S, &[Finding]) -> std::io::Result<()>,
{
    /// Look at a record before it goes on; at the summary, hand over the
    /// findings.
    fn observe(&mut self, r: &crate::session::Record) -> std::io::Result<()> {
        use crate::session::Record;
        match r {
            Record::Exchange(e) => self.diagnoser.observe_exchange(e),
            Record::Event(ev) => self.diagnoser.observe_event(ev),
            Record::Summary(s) => {
                self.diagnoser.observe_summary(s);
                let found = self.diagnoser.findings();
                (self.on_findings)(&mut self.inner, &found)?;
            }
            Record::Capture(c) => self.diagnoser.observe_capture(c),
        }
        Ok(())
    }
}

/// A finding as plain text: a line with the severity and title, then its
/// details, frames and what it involves, indented.
pub fn to_text(f: &Finding) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let mark = match f.severity {
        Severity::Error => "✗ ERROR  ",
        Severity::Warning => "! WARNING",
        Severity::Info => "· info   ",
    };
    let _ = writeln!(o, "{mark} {}", f.title);
    for d in &f.details {
        let _ = writeln!(o, "           {d}");
    }
    if !f.frames.is_empty() {
        let frames: Vec<String> = f.frames.iter().map(u64::to_string).collect();
        let more = if f.count > f.frames.len() as u64 && f.frames.len() == MAX_FRAMES {
            " …"
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "           {}: {}{more}",
            crate::present::noun(frames.len() as u64, "frame", "frames"),
            frames.join(" ")
        );
    }
    let mut involved = Vec::new();
    if !f.groups.is_empty() {
        involved.push(format!("groups {}", f.groups.join(", ")));
    }
    if !f.topics.is_empty() {
        involved.push(format!("topics {}", f.topics.join(", ")));
    }
    if !f.clients.is_empty() {
        involved.push(format!("clients {}", f.clients.join(", ")));
    }
    if !f.brokers.is_empty() {
        let b: Vec<String> = f.brokers.iter().map(|b| b.to_string()).collect();
        involved.push(format!("brokers {}", b.join(", ")));
    }
    if !f.streams.is_empty() {
        let s: Vec<String> = f.streams.iter().map(|s| format!("s{s}")).collect();
        involved.push(format!("connections {}", s.join(" ")));
    }
    if !involved.is_empty() {
        let _ = writeln!(o, "           {}", involved.join("; "));
    }
    o
}

fn all_detectors() -> Vec<Box<dyn Detector>> {
    [
        capture::detectors(),
        bootstrap::detectors(),
        auth::detectors(),
        requests::detectors(),
        connections::detectors(),
        metadata::detectors(),
        groups::detectors(),
        lag::detectors(),
        producer::detectors(),
        tls::detectors(),
        conformance::detectors(),
        efficiency::detectors(),
        ends::detectors(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(sev: Severity, code: &'static str, client: &str) -> Finding {
        let mut x = Finding::new(sev, code, format!("{code} of {client}"));
        x.client(client);
        x
    }

    #[test]
    fn a_storm_of_connections_per_request_is_told_with_the_advice() {
        let mut out = vec![
            f(Severity::Warning, "reconnect_storm", "a"),
            f(Severity::Info, "connection_per_request", "a"),
        ];
        fold_consequences(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].code, out[0].severity),
            ("connection_per_request", Severity::Warning)
        );
        assert_eq!(out[0].details, ["as a consequence: reconnect_storm of a"]);
    }

    #[test]
    fn a_storm_caused_by_a_bootstrap_loop_is_folded_into_it() {
        let mut out = vec![
            f(Severity::Warning, "reconnect_storm", "a"),
            f(Severity::Error, "apiversions_loop", "a"),
            f(Severity::Warning, "reconnect_storm", "b"),
        ];
        fold_consequences(&mut out);
        let codes: Vec<&str> = out.iter().map(|x| x.code).collect();
        assert_eq!(codes, ["apiversions_loop", "reconnect_storm"]);
        assert_eq!(out[0].details, ["as a consequence: reconnect_storm of a"]);
        assert_eq!(out[1].clients, ["b"], "another client's storm stays");
    }

    #[test]
    fn findings_sort_most_severe_then_most_frequent() {
        let mut d = Diagnoser {
            names: TopicNames::new(),
            damage: capture::Damage::default(),
            detectors: Vec::new(),
        };
        assert!(d.findings().is_empty());
        d.detectors = all_detectors();
        assert!(d.findings().is_empty(), "nothing seen, nothing found");
    }
}
