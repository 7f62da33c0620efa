//! What the UI keeps of each exchange: a compact row (what the timeline,
//! the filter and the export need) plus the bodies' bytes, decoded again
//! when the user opens the detail. Decoded trees are not kept: they are
//! several times larger than the bytes they come from.
//!
//! Memory is bounded twice: body bytes by a total budget (oldest bodies are
//! let go first, and the detail then says so), exchanges by a count (the
//! oldest tenth is let go when it is reached, as a live tail wants). Both
//! are counted and shown.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::analysis::stats::throttle_time_ms;
use crate::analysis::topics::{TopicNames, group_of, topics_of};
use crate::capture::Timestamp;
use crate::kafka::ApiKey;
use crate::session::describe::describe;
use crate::session::{Body, ErrorRef, Event, EventKind, Exchange, MessageInfo, Status};

/// Limits of what the UI keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreLimits {
    /// Exchanges kept; when reached, the oldest tenth is let go.
    pub max_exchanges: usize,
    /// Events kept (gaps, resyncs, …); the oldest tenth is let go likewise.
    pub max_events: usize,
    /// Body bytes kept over all exchanges, for the detail; oldest first let
    /// go beyond it.
    pub max_body_bytes: usize,
    /// Bytes kept of one body (a larger one is kept cut, and its detail
    /// decodes what was kept).
    pub max_message_bytes: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            max_exchanges: 2_000_000,
            max_events: 200_000,
            max_body_bytes: 512 << 20,
            max_message_bytes: 4 << 20,
        }
    }
}

/// One exchange as the UI keeps it.
#[derive(Clone, Debug)]
pub struct Item {
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
    /// Every error code in the response, with its path.
    pub errors: Box<[ErrorRef]>,
    /// The distinct non-zero codes, for filters.
    pub codes: Box<[i16]>,
    /// `throttleTimeMs` of the response, when above 0.
    pub throttle_ms: Option<i32>,
    /// The one-line summary (`session::describe`).
    pub summary: Box<str>,
    pub topics: Box<[String]>,
    pub group: Option<Box<str>>,
    /// The request body's bytes (after the header), for the detail.
    pub request_bytes: Option<Box<[u8]>>,
    pub response_bytes: Option<Box<[u8]>>,
    /// Whether the kept bytes are the whole body.
    pub request_whole: bool,
    pub response_whole: bool,
    /// What free text searches, lower-cased once (`filter::lower_search_text`).
    pub search: Box<str>,
    /// The same exchange as a capture nearer the broker saw it (several
    /// captures read as one).
    pub broker_side: Option<Box<crate::session::BrokerSide>>,
}

/// How an exchange is highlighted: the one model of [`crate::session::Outcome`].
pub use crate::session::Outcome as Severity;

impl Item {
    /// Response time in microseconds, when answered (none when the
    /// response was stamped before its request).
    pub fn latency_us(&self) -> Option<i64> {
        self.response
            .map(|r| r.ts.micros_since(self.request.ts))
            .filter(|&us| us >= 0)
    }

    /// The latency split into the broker's time and the network's, when a
    /// capture nearer the broker saw the exchange answered too.
    pub fn split_us(&self) -> Option<(i64, i64)> {
        self.broker_side.as_ref()?.split_us(self.latency_us())
    }

    /// Whether the exchange's errors are all retriable (not a negotiation).
    pub fn retriable(&self) -> bool {
        self.severity() == Severity::Retriable
    }

    /// How the exchange ended ([`crate::session::Outcome`]).
    pub fn severity(&self) -> Severity {
        Severity::of(
            self.api_key,
            self.api_version,
            self.status,
            &self.codes,
            self.throttle_ms.is_some(),
        )
    }

    /// Whether the capture lost part of either message.
    pub fn damaged(&self) -> bool {
        self.request.lost_bytes > 0 || self.response.is_some_and(|r| r.lost_bytes > 0)
    }

    /// Heap bytes this item holds (bodies included).
    pub fn heap_bytes(&self) -> usize {
        self.errors.len() * std::mem::size_of::<ErrorRef>()
            + self.errors.iter().map(|e| e.path.capacity()).sum::<usize>()
            + self.codes.len() * 2
            + self.summary.len()
            + self.topics.len() * std::mem::size_of::<String>()
            + self.topics.iter().map(|t| t.capacity()).sum::<usize>()
            + self.group.as_ref().map_or(0, |g| g.len())
            + self.search.len()
            + self
                .broker_side
                .as_ref()
                .map_or(0, |_| std::mem::size_of::<crate::session::BrokerSide>())
            + self.body_bytes()
    }

    fn body_bytes(&self) -> usize {
        self.request_bytes.as_ref().map_or(0, |b| b.len())
            + self.response_bytes.as_ref().map_or(0, |b| b.len())
    }
}

/// An event shown in the timeline.
#[derive(Clone, Debug)]
pub struct EventItem {
    pub frame: u64,
    pub ts: Timestamp,
    pub stream: Option<u64>,
    pub kind: &'static str,
    pub text: Box<str>,
}

/// Which events the timeline shows in line: trouble, not routine opens
/// and closes.
pub fn shown_in_timeline(e: &EventKind) -> bool {
    match e {
        EventKind::ConnectionOpen { .. } | EventKind::SaslToken { .. } => false,
        EventKind::ConnectionClose {
            reason, unanswered, ..
        } => *reason == crate::tcp::CloseReason::Reset || *unanswered > 0,
        _ => true,
    }
}

/// A row of the timeline: an exchange or an event, by index in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row {
    Exchange(u64),
    Event(u64),
}

/// Exchanges and events kept for the UI.
///
/// Indexes are stable: the n-th exchange ever added keeps index n, also
/// after older ones are let go ([`Store::exchange`] then returns `None`).
#[derive(Debug)]
pub struct Store {
    limits: StoreLimits,
    items: std::collections::VecDeque<Item>,
    /// Index of `items[0]`.
    first: u64,
    events: std::collections::VecDeque<EventItem>,
    first_event: u64,
    /// Rows in request-frame order.
    rows: Vec<(u64, Row)>,
    /// Exchange indexes whose bodies are kept, oldest first.
    bodies: std::collections::VecDeque<u64>,
    body_bytes: usize,
    heap_bytes: usize,
    /// Exchanges and events let go to stay within the limits.
    pub evicted_exchanges: u64,
    pub evicted_events: u64,
    /// Bodies let go to stay within the byte budget.
    pub evicted_bodies: u64,
    /// Bodies kept cut at `max_message_bytes`.
    pub cut_bodies: u64,
    /// Bumped when rows are let go or inserted out of order: views holding
    /// positions must rebuild them.
    pub generation: u64,
}

impl Store {
    pub fn new(limits: StoreLimits) -> Store {
        Store {
            limits,
            items: Default::default(),
            first: 0,
            events: Default::default(),
            first_event: 0,
            rows: Vec::new(),
            bodies: Default::default(),
            body_bytes: 0,
            heap_bytes: 0,
            evicted_exchanges: 0,
            evicted_events: 0,
            evicted_bodies: 0,
            cut_bodies: 0,
            generation: 0,
        }
    }

    pub fn limits(&self) -> &StoreLimits {
        &self.limits
    }

    /// Make the UI's item of `e`. Its bodies' bytes are taken from
    /// `Body::bytes` (the session keeps them when asked).
    pub fn item(&mut self, e: &Exchange, names: &TopicNames) -> Item {
        let mut codes: Vec<i16> = Vec::new();
        for er in &e.errors {
            if er.code != 0 && !codes.contains(&er.code) {
                codes.push(er.code);
            }
        }
        let throttle_ms = e
            .response_body
            .as_deref()
            .and_then(Body::view)
            .and_then(|v| throttle_time_ms(e.api_key, v))
            .filter(|&t| t > 0);
        let max = self.limits.max_message_bytes;
        let mut take = |b: Option<&Body>, lost: bool| -> (Option<Box<[u8]>>, bool) {
            let Some(bytes) = b.map(|b| &b.bytes[..]) else {
                return (None, false);
            };
            if bytes.len() > max {
                self.cut_bodies += 1;
                (Some(bytes[..max].into()), false)
            } else {
                (Some(bytes.into()), !lost)
            }
        };
        let (request_bytes, request_whole) =
            take(e.request_body.as_deref(), e.request.lost_bytes > 0);
        let (response_bytes, response_whole) = take(
            e.response_body.as_deref(),
            e.response.is_some_and(|r| r.lost_bytes > 0),
        );
        let mut item = Item {
            stream: e.stream,
            client: e.client,
            broker: e.broker,
            api_key: e.api_key,
            api_version: e.api_version,
            correlation_id: e.correlation_id,
            client_id: e.client_id.clone(),
            request: e.request,
            response: e.response,
            status: e.status,
            errors: e.errors.clone().into_boxed_slice(),
            codes: codes.into_boxed_slice(),
            throttle_ms,
            summary: describe(e).into_boxed_str(),
            topics: topics_of(e, names).into_boxed_slice(),
            group: group_of(e).map(String::into_boxed_str),
            request_bytes,
            response_bytes,
            request_whole,
            response_whole,
            search: Box::from(""),
            broker_side: e.broker_side.clone(),
        };
        item.search = crate::tui::filter::lower_search_text(&item).into_boxed_str();
        item
    }

    /// Add an exchange; returns its index.
    pub fn push(&mut self, item: Item) -> u64 {
        if self.items.len() >= self.limits.max_exchanges.max(1) {
            self.evict_exchanges();
        }
        let index = self.first + self.items.len() as u64;
        let frame = item.request.frame;
        let body = item.body_bytes();
        self.heap_bytes += item.heap_bytes();
        self.items.push_back(item);
        if body > 0 {
            self.body_bytes += body;
            self.bodies.push_back(index);
            self.trim_bodies();
        }
        self.insert_row(frame, Row::Exchange(index));
        index
    }

    /// Add an event; returns its index.
    pub fn push_event(&mut self, e: &Event) -> u64 {
        if self.events.len() >= self.limits.max_events.max(1) {
            let n = (self.events.len() / 10).max(1);
            self.events.drain(..n);
            self.first_event += n as u64;
            self.evicted_events += n as u64;
            let first = self.first_event;
            self.rows
                .retain(|(_, r)| !matches!(r, Row::Event(i) if *i < first));
            self.generation += 1;
        }
        let index = self.first_event + self.events.len() as u64;
        let text = crate::export::text::event_detail(e);
        self.events.push_back(EventItem {
            frame: e.at.frame,
            ts: e.at.ts,
            stream: e.stream,
            kind: e.kind.type_name(),
            text: text.into_boxed_str(),
        });
        self.insert_row(e.at.frame, Row::Event(index));
        index
    }

    fn insert_row(&mut self, frame: u64, row: Row) {
        // Rows arrive nearly in order (an exchange is complete when its
        // response is): insert from the end.
        let mut at = self.rows.len();
        while at > 0 && self.rows[at - 1].0 > frame {
            at -= 1;
        }
        if at != self.rows.len() {
            self.generation += 1;
        }
        self.rows.insert(at, (frame, row));
    }

    fn evict_exchanges(&mut self) {
        let n = (self.items.len() / 10).max(1);
        for it in self.items.drain(..n) {
            self.heap_bytes -= it.heap_bytes();
            self.body_bytes -= it.body_bytes();
        }
        self.first += n as u64;
        self.evicted_exchanges += n as u64;
        let first = self.first;
        while self.bodies.front().is_some_and(|&i| i < first) {
            self.bodies.pop_front();
        }
        self.rows
            .retain(|(_, r)| !matches!(r, Row::Exchange(i) if *i < first));
        self.generation += 1;
    }

    fn trim_bodies(&mut self) {
        while self.body_bytes > self.limits.max_body_bytes {
            let Some(i) = self.bodies.pop_front() else {
                break;
            };
            let Some(pos) = i.checked_sub(self.first) else {
                continue;
            };
            if let Some(it) = self.items.get_mut(pos as usize) {
                let b = it.body_bytes();
                self.body_bytes -= b;
                self.heap_bytes -= b;
                it.request_bytes = None;
                it.response_bytes = None;
                self.evicted_bodies += 1;
            }
        }
    }

    /// The exchange at `index`, unless let go.
    pub fn exchange(&self, index: u64) -> Option<&Item> {
        self.items
            .get(usize::try_from(index.checked_sub(self.first)?).ok()?)
    }

    /// Change the exchange at `index` (its heap bytes counted again; its
    /// bodies' bytes must stay as they are).
    pub fn update(&mut self, index: u64, f: impl FnOnce(&mut Item)) {
        let Some(i) = index
            .checked_sub(self.first)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return;
        };
        let Some(it) = self.items.get_mut(i) else {
            return;
        };
        let before = it.heap_bytes();
        f(it);
        self.heap_bytes = self.heap_bytes.saturating_sub(before) + it.heap_bytes();
    }

    pub fn event(&self, index: u64) -> Option<&EventItem> {
        self.events
            .get(usize::try_from(index.checked_sub(self.first_event)?).ok()?)
    }

    /// Every row (exchanges and events) in frame order.
    pub fn rows(&self) -> &[(u64, Row)] {
        &self.rows
    }

    /// Exchanges kept, oldest first, with their indexes.
    pub fn exchanges(&self) -> impl Iterator<Item = (u64, &Item)> {
        self.items
            .iter()
            .enumerate()
            .map(|(i, it)| (self.first + i as u64, it))
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Index the next exchange will get.
    pub fn next_index(&self) -> u64 {
        self.first + self.items.len() as u64
    }

    /// Body bytes held.
    pub fn body_bytes(&self) -> usize {
        self.body_bytes
    }

    /// Heap bytes held by items (bodies included), not counting the rows
    /// and the items themselves.
    pub fn heap_bytes(&self) -> usize {
        self.heap_bytes
    }

    /// Bytes held in all: items (the slots allocated, used or not), their
    /// heap, rows, the body index and events.
    pub fn memory(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<Item>()
            + self.heap_bytes
            + self.rows.capacity() * std::mem::size_of::<(u64, Row)>()
            + self.bodies.capacity() * std::mem::size_of::<u64>()
            + self.events.capacity() * std::mem::size_of::<EventItem>()
            + self.events.iter().map(|e| e.text.len()).sum::<usize>()
    }
}

impl crate::tui::filter::Subject for Item {
    fn api_key(&self) -> i16 {
        self.api_key.0
    }
    fn api_version(&self) -> i16 {
        self.api_version
    }
    fn correlation_id(&self) -> i32 {
        self.correlation_id
    }
    fn stream(&self) -> u64 {
        self.stream
    }
    fn client(&self) -> SocketAddr {
        self.client
    }
    fn broker(&self) -> SocketAddr {
        self.broker
    }
    fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }
    fn topics(&self) -> &[String] {
        &self.topics
    }
    fn group(&self) -> Option<&str> {
        self.group.as_deref()
    }
    fn error_codes(&self) -> &[i16] {
        &self.codes
    }
    fn retriable(&self) -> bool {
        Item::retriable(self)
    }
    fn negotiation(&self) -> bool {
        self.severity() == Severity::Negotiation
    }
    fn malformed(&self) -> bool {
        self.status == Status::Malformed
    }
    fn throttle_ms(&self) -> Option<i64> {
        self.throttle_ms.map(i64::from)
    }
    fn answered(&self) -> bool {
        self.response.is_some()
    }
    fn no_response(&self) -> bool {
        matches!(self.status, Status::NoResponse(_))
    }
    fn latency_us(&self) -> Option<i64> {
        Item::latency_us(self)
    }
    fn split_us(&self) -> Option<(i64, i64)> {
        Item::split_us(self)
    }
    fn frames(&self) -> (u64, Option<u64>) {
        (self.request.frame, self.response.map(|r| r.frame))
    }
    fn text(&self) -> &str {
        &self.summary
    }
    fn search_text(&self) -> Option<&str> {
        Some(&self.search)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::errors::ErrorCode;
    use crate::session::Body;

    fn body(bytes: usize) -> Box<Body> {
        Box::new(Body::of_bytes(&vec![7; bytes]))
    }

    fn exchange(frame: u64, bytes: usize) -> Exchange {
        let info = MessageInfo {
            frame,
            first_frame: frame,
            ts: Timestamp::new(frame as i64, 0),
            size: bytes as u32,
            lost_bytes: 0,
        };
        Exchange {
            stream: 0,
            client: "127.0.0.1:1".parse().unwrap(),
            broker: "127.0.0.1:9092".parse().unwrap(),
            api_key: ApiKey(18),
            api_version: 0,
            correlation_id: frame as i32,
            client_id: None,
            request: info,
            response: None,
            status: Status::Ok,
            errors: Vec::new(),
            request_body: Some(body(bytes)),
            response_body: None,
            capture: 0,
            broker_side: None,
        }
    }

    fn push(s: &mut Store, frame: u64, bytes: usize) -> u64 {
        let names = TopicNames::new();
        let it = s.item(&exchange(frame, bytes), &names);
        s.push(it)
    }

    #[test]
    fn body_budget_lets_oldest_bodies_go() {
        let mut s = Store::new(StoreLimits {
            max_body_bytes: 1000,
            ..StoreLimits::default()
        });
        for f in 1..=10 {
            push(&mut s, f, 300);
        }
        assert!(s.body_bytes() <= 1000);
        assert_eq!(s.evicted_bodies, 7);
        assert!(s.exchange(0).unwrap().request_bytes.is_none());
        assert!(s.exchange(9).unwrap().request_bytes.is_some());
        assert_eq!(s.len(), 10, "exchanges stay");
    }

    #[test]
    fn a_body_over_the_message_limit_is_kept_cut() {
        let mut s = Store::new(StoreLimits {
            max_message_bytes: 100,
            ..StoreLimits::default()
        });
        let i = push(&mut s, 1, 250);
        let it = s.exchange(i).unwrap();
        assert_eq!(it.request_bytes.as_ref().unwrap().len(), 100);
        assert!(!it.request_whole);
        assert_eq!(s.cut_bodies, 1);
    }

    #[test]
    fn exchange_limit_lets_the_oldest_tenth_go_and_indexes_stay() {
        let mut s = Store::new(StoreLimits {
            max_exchanges: 100,
            ..StoreLimits::default()
        });
        for f in 1..=150 {
            push(&mut s, f, 10);
        }
        assert!(s.len() <= 100);
        assert!(s.evicted_exchanges >= 50);
        assert!(s.exchange(0).is_none());
        let last = s.next_index() - 1;
        assert_eq!(s.exchange(last).unwrap().request.frame, 150);
        // Rows only name exchanges still held, in frame order.
        let frames: Vec<u64> = s.rows().iter().map(|(f, _)| *f).collect();
        assert!(frames.windows(2).all(|w| w[0] <= w[1]));
        for (_, r) in s.rows() {
            let Row::Exchange(i) = r else { continue };
            assert!(s.exchange(*i).is_some());
        }
        // Memory accounting follows what is held.
        let held: usize = s.exchanges().map(|(_, it)| it.heap_bytes()).sum();
        assert_eq!(held, s.heap_bytes());
    }

    /// `m` encoded at version `v` by the `kafka-protocol` crate.
    fn encode<T: kafka_protocol::protocol::Encodable>(m: &T, v: i16) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        m.encode(&mut out, v).unwrap();
        out.to_vec()
    }

    #[test]
    fn throttle_and_severity_from_the_response() {
        use crate::analysis::stats::tests::exchange;
        use kafka_protocol::messages as kp;
        let names = TopicNames::new();
        let mut s = Store::new(StoreLimits::default());
        let q = encode(&kp::ProduceRequest::default().with_acks(1), 7);
        let r = encode(
            &kp::ProduceResponse::default().with_throttle_time_ms(250),
            7,
        );
        let it = s.item(
            &exchange(ApiKey::PRODUCE.0, 7, 1, None, Some(&q), Some(&r), Some(5)),
            &names,
        );
        assert_eq!(it.throttle_ms, Some(250));
        assert_eq!(it.severity(), Severity::Throttled);
        // No throttle: not throttled.
        let r = encode(&kp::ProduceResponse::default(), 7);
        let it = s.item(
            &exchange(ApiKey::PRODUCE.0, 7, 1, None, Some(&q), Some(&r), Some(5)),
            &names,
        );
        assert_eq!((it.throttle_ms, it.severity()), (None, Severity::Ok));
        // An ApiVersions version negotiation is the protocol's: no error.
        let q = encode(&kp::ApiVersionsRequest::default(), 3);
        let r = encode(
            &kp::ApiVersionsResponse::default().with_error_code(ErrorCode::UNSUPPORTED_VERSION.0),
            0,
        );
        let it = s.item(
            &exchange(
                ApiKey::API_VERSIONS.0,
                3,
                1,
                None,
                Some(&q),
                Some(&r),
                Some(5),
            ),
            &names,
        );
        assert_eq!(*it.codes, [ErrorCode::UNSUPPORTED_VERSION.0]);
        assert_eq!(it.severity(), Severity::Negotiation);
    }

    #[test]
    fn rows_arriving_out_of_order_are_placed_by_frame() {
        let mut s = Store::new(StoreLimits::default());
        push(&mut s, 10, 1);
        let g = s.generation;
        push(&mut s, 5, 1);
        assert!(s.generation > g, "views must rebuild");
        let frames: Vec<u64> = s.rows().iter().map(|(f, _)| *f).collect();
        assert_eq!(frames, [5, 10]);
    }
}
