//! Prometheus metrics: what the exchanges, events and the summary add up
//! to, as counters that only grow, a latency histogram per API and broker,
//! the capture's health and the findings by code and severity. Fed one
//! record at a time ([`Metrics::observe`]) and, live, the summary so far at
//! every tick ([`crate::session::RecordSink::progress`]); written by
//! [`crate::export::prometheus`] in the text exposition format, served by
//! `--metrics ADDR` and `kwire monitor`, and written by
//! `kwire stats --format prometheus`.
//!
//! Contract:
//! * **Bounded, whatever the wire says**: no state per exchange. Counters
//!   are kept per (API, client id, broker) up to [`MAX_SERIES`], with at
//!   most [`MAX_CLIENT_IDS`] client ids and [`MAX_BROKERS`] brokers named;
//!   latencies per (API, broker) up to [`MAX_LATENCY_SERIES`], error codes
//!   per (API, broker, code) up to [`MAX_ERROR_SERIES`]. What does not fit
//!   is counted under the label value [`OTHER`] (a series per API at most,
//!   so the tables stay bounded by the APIs Kafka defines) and the folding
//!   itself is counted by label ([`Metrics::overflow`]): reported, never
//!   lost. Client ids are cut at [`MAX_LABEL_LEN`] bytes. API keys Kafka
//!   does not define share the API label `Unknown`, error codes it does not
//!   define `UNKNOWN_ERROR_CODE`. The only per-connection state is the
//!   negotiations awaiting their completion ([`MAX_PENDING_NEGOTIATIONS`]
//!   connections), let go when the connection closes.
//! * **Monotonic**: every counter only grows (Prometheus' `rate` needs it),
//!   so an exchange is counted once, when it completes. A negotiation's
//!   expected answer (ApiVersions UNSUPPORTED_VERSION, JoinGroup v4+
//!   MEMBER_ID_REQUIRED) is a negotiation, not an error; one the client
//!   never completes on its connection counts as an error when the
//!   connection closes (as `kwire stats` counts it), and stays counted as a
//!   negotiation too.
//! * **The same numbers as `kwire stats --json`**: requests, errors,
//!   malformed responses, unanswered requests and bytes per API, and error
//!   codes per API and code (the exchanges carrying each), follow the
//!   definitions of [`super::stats`].
//! * **No panic**.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use foldhash::HashMap;

use super::findings::{Diagnoser, Finding, Severity};
use super::stats::MAX_PENDING_NEGOTIATIONS;
use crate::capture::DropStats;
use crate::kafka::ApiKey;
use crate::kafka::errors::ErrorCode;
use crate::session::{Event, EventKind, Exchange, Record, RecordSink, Render, Status, Summary};

/// Most (API, client id, broker) series of the request counters; an
/// exchange of a new one beyond it is counted in its API's series of
/// client id and broker [`OTHER`].
pub const MAX_SERIES: usize = 2000;
/// Most client ids named in labels; later ones are [`OTHER`].
pub const MAX_CLIENT_IDS: usize = 200;
/// Most brokers (`host:port`) named in labels; later ones are [`OTHER`].
pub const MAX_BROKERS: usize = 100;
/// Most (API, broker) latency histograms (each [`LE_BOUNDS`] + 1
/// counters); beyond it, the API's histogram of broker [`OTHER`].
pub const MAX_LATENCY_SERIES: usize = 500;
/// Most (API, broker, error code) counters; beyond it, broker [`OTHER`].
pub const MAX_ERROR_SERIES: usize = 1000;
/// Longest client id kept in a label, in bytes (cut at a character
/// boundary).
pub const MAX_LABEL_LEN: usize = 128;
/// The label value of what the limits folded together.
pub const OTHER: &str = "other";
/// The API label of API keys Kafka does not define.
pub const UNKNOWN_API: &str = "Unknown";
/// How often the findings are stated again for a live endpoint, at most
/// (stating them walks every detector's state; only a scrape asks).
pub const FINDINGS_REFRESH: Duration = Duration::from_secs(5);

/// `le` bounds per power of two of the latency histograms.
pub const LE_PER_OCTAVE: usize = 2;
/// The first power of two (µs) with `le` bounds: 2^5 = 32 µs.
const LE_FIRST_EXP: u32 = 5;
/// The last bound: 2^32 µs (71 minutes), the end of kwire's tracked range.
const LE_LAST_EXP: u32 = 32;
/// Number of finite `le` bounds.
pub const LE_BOUNDS: usize = (LE_LAST_EXP - LE_FIRST_EXP) as usize * LE_PER_OCTAVE + 1;

/// The finite `le` bounds of the latency histograms, in microseconds:
/// `2^e` and `1.5 × 2^e` from 32 µs to 2^32 µs. Each is where a bucket of
/// kwire's own histogram ([`crate::analysis::histogram`]) starts (a test
/// checks it), so a count `≤ le` is exactly what kwire's histogram holds
/// below that edge: the exposition keeps kwire's layout, every 32nd
/// boundary of it (57 series per histogram instead of 2,112).
pub const LE_US: [i64; LE_BOUNDS] = le_bounds();

const fn le_bounds() -> [i64; LE_BOUNDS] {
    let mut out = [0i64; LE_BOUNDS];
    let mut i = 0;
    let mut e = LE_FIRST_EXP;
    while e < LE_LAST_EXP {
        let mut k = 0;
        while k < LE_PER_OCTAVE {
            out[i] = (1i64 << e) + (k as i64) * ((1i64 << e) / LE_PER_OCTAVE as i64);
            i += 1;
            k += 1;
        }
        e += 1;
    }
    out[i] = 1i64 << LE_LAST_EXP;
    out
}

/// A label value: a name, or [`OTHER`] for what a limit folded.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Label {
    Name(Arc<str>),
    Other,
}

impl Label {
    pub fn as_str(&self) -> &str {
        match self {
            Label::Name(n) => n,
            Label::Other => OTHER,
        }
    }
}

/// The API of a series: a key Kafka defines, or [`UNKNOWN_API`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Api(Option<ApiKey>);

impl Api {
    fn of(k: ApiKey) -> Api {
        Api(k.info().is_some().then_some(k))
    }

    pub fn name(self) -> &'static str {
        self.0.map_or(UNKNOWN_API, ApiKey::name)
    }
}

/// (API, client id, broker).
pub type SeriesKey = (Api, Label, Label);

/// The counters of one (API, client id, broker).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub requests: u64,
    /// Answered with a non-zero error code, negotiations aside (and the
    /// negotiations never completed, at their connection's close).
    pub errors: u64,
    /// Answered with a negotiation's expected answer.
    pub negotiations: u64,
    /// Answered with a body that does not decode.
    pub malformed: u64,
    /// Given up on (no response: closed, reset, timed out, capture ended…).
    pub unanswered: u64,
    /// Size prefix + 4, of requests and of responses.
    pub request_bytes: u64,
    pub response_bytes: u64,
}

/// Latencies of one (API, broker): counts between the [`LE_US`] bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Latency {
    /// `slots[i]`: latencies below `LE_US[i]` and not below the bound
    /// before; the last slot, those at or above the last bound.
    slots: [u64; LE_BOUNDS + 1],
    pub count: u64,
    /// Microseconds (saturating).
    pub sum_us: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            slots: [0; LE_BOUNDS + 1],
            count: 0,
            sum_us: 0,
        }
    }
}

impl Latency {
    fn record(&mut self, us: i64) {
        let us = us.max(0);
        let slot = LE_US.partition_point(|&b| b <= us);
        self.slots[slot] += 1;
        self.count += 1;
        self.sum_us = self.sum_us.saturating_add(us as u64);
    }

    /// `(le in µs, latencies ≤ le)` for each finite bound, cumulative; the
    /// `+Inf` bucket is [`Latency::count`].
    pub fn cumulative(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        LE_US
            .iter()
            .zip(self.slots.iter())
            .scan(0u64, |acc, (&le, &n)| {
                *acc += n;
                Some((le, *acc))
            })
    }
}

/// What a live capture's health is, from the summary so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Health {
    /// Whether a summary has been seen (a live capture's first tick, or a
    /// file's end).
    pub known: bool,
    pub packets: u64,
    pub bytes: u64,
    pub truncated_packets: u64,
    pub connections: u64,
    pub kafka_connections: u64,
    pub orphans: u64,
    /// Every event by `type`, the ones not written because their kind hit
    /// its cap included.
    pub events: BTreeMap<&'static str, u64>,
    /// Every hit of each limit (by its name).
    pub limits: BTreeMap<&'static str, u64>,
    /// A live capture's drop counters.
    pub drops: Option<DropStats>,
    pub memory_peak_bytes: u64,
    pub memory_max_bytes: u64,
}

/// The metrics model. See the module doc.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    series: HashMap<SeriesKey, Counters>,
    latency: HashMap<(Api, Label), Latency>,
    errors: HashMap<(Api, Label, i16), u64>,
    clients: HashMap<Arc<str>, Label>,
    brokers: HashMap<SocketAddr, Label>,
    /// Connections' negotiation answers not yet followed by a success of
    /// that API there: (API key, the series to count the error in).
    pending: HashMap<u64, Vec<(ApiKey, SeriesKey)>>,
    /// Kafka connections open now (opened minus closed).
    open: i64,
    /// Bytes lost in gaps on Kafka connections (`gap` events).
    gap_bytes: u64,
    health: Health,
    /// Findings stated last: (code, severity) → how many.
    findings: BTreeMap<(&'static str, Severity), u64>,
    /// Observations folded into [`OTHER`], by the label (or table) whose
    /// limit did it.
    overflow: BTreeMap<&'static str, u64>,
}

/// The label value of a client id, cut at [`MAX_LABEL_LEN`].
fn client_label(c: &str) -> Arc<str> {
    if c.len() <= MAX_LABEL_LEN {
        return Arc::from(c);
    }
    let mut end = MAX_LABEL_LEN;
    while !c.is_char_boundary(end) {
        end -= 1;
    }
    Arc::from(&c[..end])
}

/// The code's label: codes Kafka does not define share one.
fn code_key(code: i16) -> i16 {
    if ErrorCode(code).info().is_some() {
        code
    } else {
        i16::MIN
    }
}

/// The name of an error-code key (a code Kafka defines, or `i16::MIN` for
/// all the others: `UNKNOWN_ERROR_CODE`).
pub fn code_name(key: i16) -> &'static str {
    ErrorCode(key).name()
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Take one record.
    pub fn observe(&mut self, r: &Record) {
        match r {
            Record::Exchange(e) => self.observe_exchange(e),
            Record::Event(ev) => self.observe_event(ev),
            Record::Summary(s) => self.observe_summary(s),
            Record::Capture(_) => {}
        }
    }

    fn fold(&mut self, what: &'static str) {
        *self.overflow.entry(what).or_default() += 1;
    }

    fn client(&mut self, id: Option<&str>) -> Label {
        let id = id.unwrap_or("");
        if let Some(l) = self.clients.get(id) {
            return l.clone();
        }
        if self.clients.len() >= MAX_CLIENT_IDS {
            self.fold("client_id");
            return Label::Other;
        }
        let name = client_label(id);
        let l = Label::Name(name.clone());
        self.clients.insert(Arc::from(id), l.clone());
        l
    }

    fn broker(&mut self, b: SocketAddr) -> Label {
        if let Some(l) = self.brokers.get(&b) {
            return l.clone();
        }
        if self.brokers.len() >= MAX_BROKERS {
            self.fold("broker");
            return Label::Other;
        }
        let l = Label::Name(Arc::from(b.to_string()));
        self.brokers.insert(b, l.clone());
        l
    }

    /// The key under which an exchange of `key` is counted: itself when
    /// the table has it or room for it, else its API's [`OTHER`] series.
    fn series_key(&mut self, key: SeriesKey) -> SeriesKey {
        if self.series.contains_key(&key) || self.series.len() < MAX_SERIES {
            return key;
        }
        self.fold("series");
        (key.0, Label::Other, Label::Other)
    }

    /// Take one exchange.
    pub fn observe_exchange(&mut self, e: &Exchange) {
        let api = Api::of(e.api_key);
        let client = self.client(e.client_id.as_deref());
        let broker = self.broker(e.broker);
        let key = self.series_key((api, client, broker.clone()));
        let negotiation = e.negotiation();
        {
            let c = self.series.entry(key.clone()).or_default();
            c.requests += 1;
            c.request_bytes += u64::from(e.request.size) + 4;
            if let Some(r) = &e.response {
                c.response_bytes += u64::from(r.size) + 4;
            }
            match e.status {
                Status::Ok | Status::NoResponseExpected => {}
                Status::Error if negotiation => c.negotiations += 1,
                Status::Error => c.errors += 1,
                Status::Malformed => c.malformed += 1,
                Status::NoResponse(_) => c.unanswered += 1,
            }
        }

        if let Some(us) = e.latency_us() {
            let mut k = (api, broker.clone());
            if !self.latency.contains_key(&k) && self.latency.len() >= MAX_LATENCY_SERIES {
                self.fold("latency_series");
                k.1 = Label::Other;
            }
            self.latency.entry(k).or_default().record(us);
        }

        // Error codes: each exchange once per code it carries.
        let mut codes: Vec<i16> = e.errors.iter().map(|r| code_key(r.code)).collect();
        codes.sort_unstable();
        codes.dedup();
        for code in codes {
            let mut k = (api, broker.clone(), code);
            if !self.errors.contains_key(&k) && self.errors.len() >= MAX_ERROR_SERIES {
                self.fold("error_series");
                k.1 = Label::Other;
            }
            *self.errors.entry(k).or_default() += 1;
        }

        // Negotiations followed to their completion, as `kwire stats` does.
        if negotiation {
            if self.pending.contains_key(&e.stream) || self.pending.len() < MAX_PENDING_NEGOTIATIONS
            {
                self.pending
                    .entry(e.stream)
                    .or_default()
                    .push((e.api_key, key));
            }
        } else if e.status == Status::Ok
            && let Some(p) = self.pending.get_mut(&e.stream)
        {
            p.retain(|(k, _)| *k != e.api_key);
            if p.is_empty() {
                self.pending.remove(&e.stream);
            }
        }
    }

    /// Take one event.
    pub fn observe_event(&mut self, ev: &Event) {
        match &ev.kind {
            EventKind::ConnectionOpen { .. } => self.open += 1,
            EventKind::ConnectionClose { .. } => {
                self.open -= 1;
                // Negotiations the client never completed there failed.
                if let Some(s) = ev.stream {
                    for (_, key) in self.pending.remove(&s).unwrap_or_default() {
                        self.series.entry(key).or_default().errors += 1;
                    }
                }
            }
            EventKind::Gap { bytes, .. } => self.gap_bytes = self.gap_bytes.saturating_add(*bytes),
            _ => {}
        }
    }

    /// Take the summary: a live capture's so far, or a file's at its end.
    pub fn observe_summary(&mut self, s: &Summary) {
        let mut events = s.events.clone();
        for (k, n) in &s.suppressed_events {
            *events.entry(k).or_default() += n;
        }
        self.health = Health {
            known: true,
            packets: s.packets,
            bytes: s.bytes,
            truncated_packets: s.truncated_packets,
            connections: s.connections,
            kafka_connections: s.kafka_connections,
            orphans: s.orphans,
            events,
            limits: s.limits.iter().map(|(l, n)| (l.as_str(), *n)).collect(),
            drops: s.drops,
            memory_peak_bytes: s.memory.peak_bytes,
            memory_max_bytes: s.memory.max_memory,
        };
    }

    /// Take the findings as stated now (replacing the last ones).
    pub fn set_findings(&mut self, found: &[Finding]) {
        self.findings.clear();
        for f in found {
            *self.findings.entry((f.code, f.severity)).or_default() += 1;
        }
    }

    /// Request counters, by API name, client id and broker.
    pub fn series(&self) -> Vec<(&SeriesKey, &Counters)> {
        let mut v: Vec<_> = self.series.iter().collect();
        v.sort_by(|a, b| sort_key(a.0).cmp(&sort_key(b.0)));
        v
    }

    /// Latency histograms, by API name and broker.
    pub fn latencies(&self) -> Vec<(&(Api, Label), &Latency)> {
        let mut v: Vec<_> = self.latency.iter().collect();
        v.sort_by(|a, b| (a.0.0.name(), &a.0.1).cmp(&(b.0.0.name(), &b.0.1)));
        v
    }

    /// Exchanges per (API, broker, error-code key), by API name, broker
    /// and code name.
    pub fn errors(&self) -> Vec<(&(Api, Label, i16), u64)> {
        let mut v: Vec<_> = self.errors.iter().map(|(k, n)| (k, *n)).collect();
        v.sort_by(|a, b| {
            (a.0.0.name(), &a.0.1, code_name(a.0.2)).cmp(&(b.0.0.name(), &b.0.1, code_name(b.0.2)))
        });
        v
    }

    /// Kafka connections open now.
    pub fn open_connections(&self) -> u64 {
        self.open.max(0) as u64
    }

    /// Bytes lost in gaps on Kafka connections.
    pub fn gap_bytes(&self) -> u64 {
        self.gap_bytes
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Findings stated last: (code, severity) → how many.
    pub fn findings(&self) -> &BTreeMap<(&'static str, Severity), u64> {
        &self.findings
    }

    /// Observations folded into [`OTHER`], by the limit's label: `client_id`
    /// ([`MAX_CLIENT_IDS`]), `broker` ([`MAX_BROKERS`]), `series`
    /// ([`MAX_SERIES`]), `latency_series` ([`MAX_LATENCY_SERIES`]),
    /// `error_series` ([`MAX_ERROR_SERIES`]).
    pub fn overflow(&self) -> &BTreeMap<&'static str, u64> {
        &self.overflow
    }
}

fn sort_key(k: &SeriesKey) -> (&'static str, &Label, &Label) {
    (k.0.name(), &k.1, &k.2)
}

/// The metrics shared between the thread that feeds them and the one that
/// serves them.
#[derive(Default)]
pub struct Shared {
    metrics: Mutex<Metrics>,
    /// A scrape asked for the findings since they were last stated.
    findings_wanted: AtomicBool,
}

impl Shared {
    pub fn new() -> Arc<Shared> {
        Arc::new(Shared::default())
    }

    /// The metrics, locked (held briefly: the feeding thread waits).
    pub fn lock(&self) -> MutexGuard<'_, Metrics> {
        // A panic while holding it leaves counters that are still counters.
        self.metrics.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A scrape wants the findings: the feeding thread states them again
    /// when [`FINDINGS_REFRESH`] has passed since it last did.
    pub fn want_findings(&self) {
        self.findings_wanted.store(true, Ordering::Relaxed);
    }
}

/// Where a [`Metered`] sink gets its findings.
pub enum FindingsFrom<S> {
    /// A diagnoser of its own, fed every record (for sinks without one).
    Own(Box<Diagnoser>),
    /// The inner sink's diagnoser (`kwire export`'s, `stats`'s).
    Inner(fn(&S) -> &Diagnoser),
    /// None.
    Nowhere,
}

impl<S> FindingsFrom<S> {
    /// A diagnoser of its own.
    pub fn own() -> Self {
        FindingsFrom::Own(Box::default())
    }
}

/// A sink that counts what passes through it into [`Shared`] metrics, then
/// hands every record on to `inner` (rendered ahead where `inner` renders:
/// the output is unchanged). The findings are stated at the summary, and
/// while a live capture runs when a scrape asked and [`FINDINGS_REFRESH`]
/// has passed.
pub struct Metered<S> {
    pub inner: S,
    shared: Arc<Shared>,
    findings: FindingsFrom<S>,
    stated: Option<Instant>,
}

impl<S: RecordSink> Metered<S> {
    pub fn new(inner: S, shared: Arc<Shared>, findings: FindingsFrom<S>) -> Self {
        Metered {
            inner,
            shared,
            findings,
            stated: None,
        }
    }

    /// Count `r`, feed the diagnoser of our own.
    fn observe(&mut self, r: &Record) {
        if let FindingsFrom::Own(d) = &mut self.findings {
            match r {
                Record::Exchange(e) => d.observe_exchange(e),
                Record::Event(ev) => d.observe_event(ev),
                Record::Summary(s) => d.observe_summary(s),
                Record::Capture(c) => d.observe_capture(c),
            }
        }
        self.shared.lock().observe(r);
    }

    /// State the findings now (`force`: the summary), or when a scrape
    /// asked and they are older than [`FINDINGS_REFRESH`].
    fn state_findings(&mut self, force: bool) {
        if !force {
            if !self.shared.findings_wanted.load(Ordering::Relaxed) {
                return;
            }
            if self.stated.is_some_and(|t| t.elapsed() < FINDINGS_REFRESH) {
                return;
            }
        }
        let found = match &self.findings {
            FindingsFrom::Own(d) => d.findings(),
            FindingsFrom::Inner(of) => of(&self.inner).findings(),
            FindingsFrom::Nowhere => return,
        };
        self.stated = Some(Instant::now());
        self.shared.findings_wanted.store(false, Ordering::Relaxed);
        self.shared.lock().set_findings(&found);
    }
}

impl<S: RecordSink> RecordSink for Metered<S> {
    fn record(&mut self, r: Record) -> std::io::Result<()> {
        self.record_rendered(r, None)
    }

    fn renderer(&self) -> Option<Arc<dyn Render>> {
        self.inner.renderer()
    }

    fn record_rendered(&mut self, r: Record, rendered: Option<&[u8]>) -> std::io::Result<()> {
        self.observe(&r);
        let last = matches!(r, Record::Summary(_));
        match rendered {
            Some(_) => self.inner.record_rendered(r, rendered)?,
            None => self.inner.record(r)?,
        }
        self.state_findings(last);
        Ok(())
    }

    fn tick(&mut self, now: crate::capture::Timestamp) -> std::io::Result<()> {
        self.inner.tick(now)?;
        self.state_findings(false);
        Ok(())
    }

    fn progress(&mut self, so_far: &Summary) -> std::io::Result<()> {
        self.shared.lock().observe_summary(so_far);
        self.inner.progress(so_far)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::histogram;
    use crate::capture::{PacketRef, Timestamp};
    use crate::session::{ErrorRef, MessageInfo, NoResponseReason};

    fn msg(frame: u64, us: i64, size: u32) -> MessageInfo {
        MessageInfo {
            frame,
            first_frame: frame,
            ts: Timestamp::new(1000 + us / 1_000_000, (us % 1_000_000) as u32 * 1000),
            size,
            lost_bytes: 0,
        }
    }

    fn exchange(
        api: ApiKey,
        client: Option<&str>,
        broker: u16,
        latency_us: Option<i64>,
    ) -> Exchange {
        Exchange {
            stream: 1,
            client: "10.0.0.1:5000".parse().unwrap(),
            broker: SocketAddr::from(([10, 0, 0, 2], broker)),
            api_key: api,
            api_version: 3,
            correlation_id: 1,
            client_id: client.map(Arc::from),
            request: msg(1, 0, 96),
            response: latency_us.map(|l| msg(2, l, 196)),
            status: if latency_us.is_some() {
                Status::Ok
            } else {
                Status::NoResponse(NoResponseReason::CaptureEnded)
            },
            errors: Vec::new(),
            request_body: None,
            response_body: None,
            capture: 0,
            broker_side: None,
        }
    }

    fn err(code: i16) -> ErrorRef {
        ErrorRef {
            code,
            name: ErrorCode(code).name(),
            path: "errorCode".into(),
        }
    }

    fn close(stream: u64) -> Event {
        Event {
            at: PacketRef::default(),
            stream: Some(stream),
            kind: EventKind::ConnectionClose {
                reason: crate::tcp::CloseReason::Fin,
                requests: 0,
                responses: 0,
                unanswered: 0,
                client_packets: 0,
                broker_packets: 0,
            },
        }
    }

    #[test]
    fn le_bounds_are_edges_of_kwires_histogram() {
        for (i, &b) in LE_US.iter().enumerate() {
            // The last bound is where the last bucket ends.
            let edge = match b {
                histogram::MAX_TRACKED_US => {
                    let (start, width) = histogram::bucket_bounds(histogram::BUCKETS - 1);
                    start + width
                }
                _ => histogram::bucket_bounds(histogram::bucket_index(b)).0,
            };
            assert_eq!(edge, b, "bound {i} ({b} µs) is no bucket edge");
            if i > 0 {
                assert!(b > LE_US[i - 1]);
            }
        }
        assert_eq!(LE_US[0], 32);
        assert_eq!(LE_US[1], 48);
        assert_eq!(LE_US[LE_BOUNDS - 1], histogram::MAX_TRACKED_US);
    }

    #[test]
    fn latencies_fall_below_their_bound_cumulatively() {
        let mut l = Latency::default();
        for us in [0, 31, 32, 47, 48, 1_000_000, i64::MAX, -5] {
            l.record(us);
        }
        let cum: Vec<(i64, u64)> = l.cumulative().collect();
        // le=32 µs holds 0, 31 and the negative one (a response stamped
        // first has no latency upstream; here clamped to 0).
        assert_eq!(cum[0], (32, 3));
        assert_eq!(cum[1], (48, 5));
        let at_1s = cum.iter().find(|(le, _)| *le > 1_000_000).unwrap();
        assert_eq!(at_1s.1, 7);
        assert_eq!(cum.last().unwrap().1, 7, "i64::MAX is only in +Inf");
        assert_eq!(l.count, 8);
        assert_eq!(l.sum_us, 1_000_158 + i64::MAX as u64);
        l.record(i64::MAX);
        assert_eq!(l.sum_us, u64::MAX, "saturated");
    }

    #[test]
    fn counts_per_series_with_errors_and_unanswered() {
        let mut m = Metrics::new();
        m.observe_exchange(&exchange(ApiKey::METADATA, Some("a"), 9092, Some(500)));
        let mut e = exchange(ApiKey::PRODUCE, Some("a"), 9092, Some(2000));
        e.status = Status::Error;
        e.errors = vec![err(6), err(6), err(7)];
        m.observe_exchange(&e);
        m.observe_exchange(&exchange(ApiKey::PRODUCE, None, 9093, None));
        let s = m.series();
        assert_eq!(s.len(), 3);
        let (k, c) = s[1];
        assert_eq!(
            (k.0.name(), k.1.as_str(), k.2.as_str()),
            ("Produce", "", "10.0.0.2:9093")
        );
        assert_eq!((c.requests, c.unanswered, c.response_bytes), (1, 1, 0));
        let (_, c) = s[2];
        assert_eq!(
            (c.requests, c.errors, c.request_bytes, c.response_bytes),
            (1, 1, 100, 200)
        );
        // Codes once per exchange each.
        let errs: Vec<(&str, u64)> = m
            .errors()
            .iter()
            .map(|(k, n)| (code_name(k.2), *n))
            .collect();
        assert_eq!(
            errs,
            [("NOT_LEADER_OR_FOLLOWER", 1), ("REQUEST_TIMED_OUT", 1)]
        );
        assert_eq!(m.latencies().len(), 2);
    }

    #[test]
    fn hostile_labels_are_bounded_and_the_overflow_counted() {
        let mut m = Metrics::new();
        let long = "x".repeat(1000) + "é";
        for i in 0..(MAX_CLIENT_IDS + 50) {
            let id = format!("{long}{i}");
            let port = 1000 + (i % (MAX_BROKERS + 20)) as u16;
            let mut e = exchange(ApiKey(i as i16 + 5000), Some(&id), port, Some(i as i64));
            e.status = Status::Error;
            e.errors = vec![err(-(i as i16) - 100)];
            m.observe_exchange(&e);
        }
        assert!(m.clients.len() <= MAX_CLIENT_IDS && m.brokers.len() <= MAX_BROKERS);
        assert!(m.series.len() <= MAX_SERIES);
        assert_eq!(m.overflow()["client_id"], 50);
        // Ports 1100..1119 come after the first 100: 20 exchanges in each of
        // the two rounds of ports that reach them.
        assert_eq!(m.overflow()["broker"], 40);
        // Unknown API keys and codes share one label each.
        assert!(m.series().iter().all(|(k, _)| k.0.name() == UNKNOWN_API));
        assert!(
            m.errors()
                .iter()
                .all(|(k, _)| code_name(k.2) == "UNKNOWN_ERROR_CODE")
        );
        assert!(
            m.series()
                .iter()
                .all(|(k, _)| k.1.as_str().len() <= MAX_LABEL_LEN)
        );
        let total: u64 = m.series().iter().map(|(_, c)| c.requests).sum();
        assert_eq!(total, (MAX_CLIENT_IDS + 50) as u64, "nothing lost");
    }

    #[test]
    fn the_series_table_folds_into_the_apis_other_series() {
        let mut m = Metrics::new();
        for i in 0..(MAX_SERIES + 10) {
            let c = format!("c{}", i % MAX_CLIENT_IDS);
            let b = 1 + (i / MAX_CLIENT_IDS) as u16;
            m.observe_exchange(&exchange(ApiKey::FETCH, Some(&c), b, Some(10)));
        }
        assert_eq!(m.series.len(), MAX_SERIES + 1);
        assert_eq!(m.overflow()["series"], 10);
        let other = m
            .series
            .get(&(Api::of(ApiKey::FETCH), Label::Other, Label::Other));
        assert_eq!(other.map(|c| c.requests), Some(10));
    }

    #[test]
    fn a_negotiation_never_completed_is_an_error_at_close() {
        let mut m = Metrics::new();
        let mut neg = exchange(ApiKey::API_VERSIONS, Some("py"), 9092, Some(100));
        neg.status = Status::Error;
        neg.errors = vec![err(ErrorCode::UNSUPPORTED_VERSION.0)];
        m.observe_exchange(&neg);
        let c = *m.series()[0].1;
        assert_eq!((c.errors, c.negotiations), (0, 1));
        m.observe_event(&close(1));
        let c = *m.series()[0].1;
        assert_eq!((c.errors, c.negotiations), (1, 1));
        // Completed: stays a negotiation.
        m.observe_exchange(&neg);
        m.observe_exchange(&exchange(ApiKey::API_VERSIONS, Some("py"), 9092, Some(100)));
        m.observe_event(&close(1));
        let c = *m.series()[0].1;
        assert_eq!((c.requests, c.errors, c.negotiations), (3, 1, 2));
        assert!(m.pending.is_empty());
    }

    #[test]
    fn summary_events_count_the_suppressed_ones_too() {
        let mut m = Metrics::new();
        let mut s = Summary::default();
        s.events.insert("limit", 10);
        s.suppressed_events.insert("limit", 5);
        s.limits.insert(crate::session::Limit::MaxFlows, 15);
        s.packets = 7;
        m.observe_summary(&s);
        let h = m.health();
        assert!(h.known);
        assert_eq!(h.events["limit"], 15);
        assert_eq!(h.limits["max_flows"], 15);
        assert_eq!(h.packets, 7);
    }

    #[test]
    fn findings_are_counted_by_code_and_severity() {
        let mut m = Metrics::new();
        let f = |s, c| Finding::new(s, c, "t");
        m.set_findings(&[
            f(Severity::Error, "not_leader"),
            f(Severity::Error, "not_leader"),
            f(Severity::Info, "transactions"),
        ]);
        assert_eq!(m.findings()[&("not_leader", Severity::Error)], 2);
        m.set_findings(&[]);
        assert!(m.findings().is_empty());
    }
}
