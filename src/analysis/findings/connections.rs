//! Connections: brokers that went down or stopped answering (connections
//! refused and cut, requests left hanging; when, and whether the broker came
//! back) and reconnect storms.
//!
//! Contract: no panic whatever the exchanges and events hold, in whatever
//! order (a close of an unknown connection is ignored); every table has a
//! named limit.

use foldhash::HashMap;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use crate::capture::Timestamp;
use crate::session::{DetectedBy, Event, EventKind, Exchange, NoResponseReason, Status};
use crate::tcp::CloseReason;

use super::requests::{Pending, STALL_MS, Unanswered, client_key};
use super::{About, Context, Detector, Finding, MAX_FRAMES, Severity};
use crate::present::short_clock as hms;
use crate::present::{duration, plural_suffix};

/// This family's detectors.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    vec![Box::new(Outages::default()), Box::new(Storms::default())]
}

/// A connection reset with no request on it within this long of its first
/// packet was refused (SYN answered by RST: nothing listening). A refusal
/// takes one round trip; a second covers any network.
pub const REFUSED_WITHIN_MS: i64 = 1_000;
/// Connections to a broker that ended this long before its first refusal
/// or stalled request were cut by the same outage: when a broker process
/// dies its sockets close at once, and clients reconnect within their
/// backoff (librdkafka `reconnect.backoff.ms` 100 ms, Java 50 ms), so the
/// refusals follow the cut well within a second.
pub const CUT_LEAD_MS: i64 = 1_000;
/// Connections tracked (open ones, and recently closed ones per broker).
pub const MAX_CONNS: usize = 65_536;
/// Brokers tracked.
pub const MAX_BROKERS: usize = 1024;
/// Recent closes remembered per broker (to find the cut ones).
pub const MAX_RECENT_CLOSES: usize = 64;
/// Outage episodes kept per broker.
pub const MAX_EPISODES: usize = 64;

#[derive(Clone, Copy, Debug)]
struct Conn {
    broker: SocketAddr,
    open: Timestamp,
    requests: u64,
}

#[derive(Clone, Copy, Debug)]
struct Close {
    ts: Timestamp,
    frame: u64,
    stream: u64,
    unanswered: u64,
    taken: bool,
}

#[derive(Clone, Debug, Default)]
struct Episode {
    start: Timestamp,
    last_failure: Timestamp,
    refused: u64,
    cut: u64,
    cut_unanswered: u64,
    stalled: u64,
    first_refused: Option<Timestamp>,
    last_refused: Option<Timestamp>,
    back: Option<(Timestamp, u64)>,
    frames: Vec<u64>,
    streams: Vec<u64>,
    clients: Vec<String>,
    /// A response from the broker was seen before this episode.
    served_before: bool,
}

impl Episode {
    fn frame(&mut self, f: u64) {
        if self.frames.len() < MAX_FRAMES && !self.frames.contains(&f) {
            self.frames.push(f);
        }
    }
    fn stream(&mut self, s: u64) {
        if self.streams.len() < MAX_FRAMES && !self.streams.contains(&s) {
            self.streams.push(s);
        }
    }
}

#[derive(Default)]
struct Broker {
    recent: VecDeque<Close>,
    current: Option<Episode>,
    done: Vec<Episode>,
    served: bool,
    /// How it was taken for a broker when no connection to it was
    /// confirmed as Kafka (`--port`, a response, a known endpoint).
    unconfirmed: Option<DetectedBy>,
    /// A connection to it was confirmed as Kafka.
    confirmed: bool,
}

impl Broker {
    /// A failure at `ts`: refused connect or stalled request.
    fn failure(&mut self, ts: Timestamp) -> &mut Episode {
        if self.current.as_ref().is_some_and(|e| e.back.is_some()) {
            let e = self.current.take().unwrap_or_default();
            self.finish(e);
        }
        let served = self.served;
        let recent = &mut self.recent;
        let e = self.current.get_or_insert_with(|| {
            let mut e = Episode {
                start: ts,
                last_failure: ts,
                served_before: served,
                ..Episode::default()
            };
            for c in recent.iter_mut() {
                if !c.taken && ts.micros_since(c.ts) <= CUT_LEAD_MS * 1000 {
                    c.taken = true;
                    e.cut += 1;
                    e.cut_unanswered += c.unanswered;
                    e.start = e.start.min(c.ts);
                    e.frame(c.frame);
                    e.stream(c.stream);
                }
            }
            e
        });
        e.last_failure = e.last_failure.max(ts);
        e
    }

    fn finish(&mut self, e: Episode) {
        if self.done.len() < MAX_EPISODES {
            self.done.push(e);
        }
    }
}

/// `broker_down` (Error): a broker that refused connections or left
/// requests hanging (more than [`STALL_MS`] past their hold), with the
/// connections cut just before ([`CUT_LEAD_MS`]) or during it; when it
/// started, and when (the first response after) it came back, or that it
/// had not by the end of the capture. A broker that refused every
/// connection of the capture is said so.
#[derive(Default)]
pub struct Outages {
    conns: HashMap<u64, Conn>,
    brokers: HashMap<SocketAddr, Broker>,
    pending: Pending,
}

impl Outages {
    fn broker(&mut self, b: SocketAddr) -> Option<&mut Broker> {
        if !self.brokers.contains_key(&b) && self.brokers.len() >= MAX_BROKERS {
            return None;
        }
        Some(self.brokers.entry(b).or_default())
    }
}

impl Detector for Outages {
    fn exchange(&mut self, e: &Exchange, cx: &Context<'_>) {
        if let Some(c) = self.conns.get_mut(&e.stream) {
            c.requests += 1;
        }
        if let Status::NoResponse(reason) = e.status
            && !matches!(
                reason,
                NoResponseReason::ResponseLostInCapture
                    | NoResponseReason::RequestIncomplete
                    | NoResponseReason::Evicted
                    | NoResponseReason::InFlightLimit
                    | NoResponseReason::ConnectionReused
            )
        {
            self.pending.push(Unanswered::of(e, reason, cx));
        }
        let Some(r) = e.response else { return };
        let Some(b) = self.broker(e.broker) else {
            return;
        };
        b.served = true;
        if let Some(ep) = &mut b.current
            && ep.back.is_none()
            && r.ts > ep.last_failure
        {
            ep.back = Some((r.ts, r.frame));
            ep.frame(r.frame);
        }
    }

    fn event(&mut self, ev: &Event, _cx: &Context<'_>) {
        match &ev.kind {
            EventKind::ConnectionOpen {
                broker,
                detected_by,
                ..
            } => {
                if let Some(b) = self.broker(*broker) {
                    if detected_by.unconfirmed() {
                        b.unconfirmed.get_or_insert(*detected_by);
                    } else {
                        b.confirmed = true;
                    }
                }
                if let Some(s) = ev.stream
                    && (self.conns.len() < MAX_CONNS || self.conns.contains_key(&s))
                {
                    self.conns.insert(
                        s,
                        Conn {
                            broker: *broker,
                            open: ev.at.ts,
                            requests: 0,
                        },
                    );
                }
            }
            EventKind::ConnectionClose {
                reason,
                requests,
                responses,
                unanswered,
                ..
            } => {
                let Some(s) = ev.stream else { return };
                let conn = self.conns.remove(&s);
                let hanging = self.pending.close(ev);
                let Some(conn) = conn else { return };
                let Some(b) = self.broker(conn.broker) else {
                    return;
                };
                let refused = *reason == CloseReason::Reset
                    && *requests == 0
                    && *responses == 0
                    && conn.requests == 0
                    && ev.at.ts.micros_since(conn.open) <= REFUSED_WITHIN_MS * 1000;
                if refused {
                    let ep = b.failure(ev.at.ts);
                    ep.refused += 1;
                    ep.first_refused.get_or_insert(ev.at.ts);
                    ep.last_refused = Some(ev.at.ts);
                    ep.frame(ev.at.frame);
                    ep.stream(s);
                    return;
                }
                // Requests that hung past their hold.
                let mut stalled = Vec::new();
                if let Some((v, end, _, _)) = hanging {
                    for u in v {
                        if u.overdue_us(end).is_some_and(|o| o > STALL_MS * 1000) {
                            stalled.push(u);
                        }
                    }
                }
                if !stalled.is_empty() {
                    let ts = ev.at.ts;
                    let ep = b.failure(ts);
                    ep.stalled += stalled.len() as u64;
                    for u in &stalled {
                        ep.start = ep.start.min(u.ts);
                        ep.frame(u.frame);
                        ep.stream(u.stream);
                        if ep.clients.len() < MAX_FRAMES && !ep.clients.contains(&u.client) {
                            ep.clients.push(u.client.clone());
                        }
                    }
                    // Its requests are counted as stalled, not the
                    // connection as cut.
                    return;
                }
                if matches!(
                    reason,
                    CloseReason::CaptureEnd | CloseReason::Evicted | CloseReason::Reused
                ) {
                    return;
                }
                // An established connection ended: cut, if an outage is on
                // (or starts within CUT_LEAD_MS).
                if let Some(ep) = &mut b.current
                    && ep.back.is_none()
                {
                    ep.cut += 1;
                    ep.cut_unanswered += unanswered;
                    ep.frame(ev.at.frame);
                    ep.stream(s);
                    return;
                }
                if b.recent.len() >= MAX_RECENT_CLOSES {
                    b.recent.pop_front();
                }
                b.recent.push_back(Close {
                    ts: ev.at.ts,
                    frame: ev.at.frame,
                    stream: s,
                    unanswered: *unanswered,
                    taken: false,
                });
            }
            _ => {}
        }
    }

    fn findings(&self, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let mut brokers: Vec<_> = self.brokers.iter().collect();
        brokers.sort_by_key(|(b, _)| **b);
        for (addr, b) in brokers {
            for ep in b.done.iter().chain(b.current.iter()) {
                if ep.refused == 0 && ep.stalled == 0 {
                    continue;
                }
                let mut what = Vec::new();
                if ep.cut > 0 {
                    let lost = if ep.cut_unanswered > 0 {
                        format!(
                            " ({} request{} unanswered)",
                            ep.cut_unanswered,
                            plural_suffix(ep.cut_unanswered)
                        )
                    } else {
                        String::new()
                    };
                    what.push(format!(
                        "{} connection{} cut{lost}",
                        ep.cut,
                        plural_suffix(ep.cut)
                    ));
                }
                if ep.refused > 0 {
                    what.push(format!(
                        "{} connection attempt{} refused",
                        ep.refused,
                        plural_suffix(ep.refused)
                    ));
                }
                if ep.stalled > 0 {
                    what.push(format!(
                        "{} request{} left unanswered past {} s",
                        ep.stalled,
                        plural_suffix(ep.stalled),
                        STALL_MS / 1000
                    ));
                }
                let title = match ep.back {
                    Some((t, f)) => format!(
                        "broker {addr} was down from {} to {} ({}): {}; it came back at {} (frame {f})",
                        hms(ep.start),
                        hms(t),
                        duration(t.micros_since(ep.start)),
                        what.join(", "),
                        hms(t)
                    ),
                    None if !ep.served_before && ep.stalled == 0 => format!(
                        "broker {addr} refused every connection of the capture: {} from {} to {}; nothing was listening",
                        what.join(", "),
                        hms(ep.start),
                        hms(ep.last_failure)
                    ),
                    None if !ep.served_before && !b.served => format!(
                        "broker {addr} never answered in the capture: {} from {} to {}",
                        what.join(", "),
                        hms(ep.start),
                        hms(ep.last_failure)
                    ),
                    None => format!(
                        "broker {addr} went down at {}: {}; it had not come back when the capture ended (last failure at {})",
                        hms(ep.start),
                        what.join(", "),
                        hms(ep.last_failure)
                    ),
                };
                let mut f = Finding::new(Severity::Error, "broker_down", title);
                f.count = ep.refused + ep.cut + ep.stalled;
                f.frames = ep.frames.clone();
                f.streams = ep.streams.clone();
                f.clients = ep.clients.clone();
                f.broker(*addr);
                f.at(ep.start);
                f.at(ep.back.map_or(ep.last_failure, |b| b.0));
                // Connections cut up to CUT_LEAD_MS (whole seconds) before it
                // count as its.
                const _: () = assert!(CUT_LEAD_MS % 1000 == 0);
                let lead = Timestamp {
                    secs: ep.start.secs - CUT_LEAD_MS / 1000,
                    nanos: ep.start.nanos,
                };
                f.about(About::Outage {
                    broker: *addr,
                    first: lead,
                    last: ep.back.map_or(ep.last_failure, |b| b.0),
                });
                if let (Some(a), Some(z)) = (ep.first_refused, ep.last_refused) {
                    f.details.push(format!(
                        "connections refused (SYN answered by RST) from {} to {}",
                        hms(a),
                        hms(z)
                    ));
                }
                if let (Some(by), false) = (b.unconfirmed, b.confirmed) {
                    f.details.push(format!(
                        "{addr} was never seen answering Kafka: it is taken for a broker {}",
                        match by {
                            DetectedBy::Refusals =>
                                "because clients kept trying it and it refused every attempt",
                            DetectedBy::Unanswered =>
                                "because clients sent it Kafka requests and it never answered one",
                            _ => "by its port, one Kafka commonly listens on",
                        }
                    ));
                }
                if ep.cut > 0 {
                    f.details.push(format!(
                        "connections that ended within {} s before the first refusal or during the outage count as cut by it",
                        CUT_LEAD_MS / 1000
                    ));
                }
                out.push(f);
            }
        }
    }
}

/// This many short connections from one client to one broker within
/// [`STORM_WINDOW_MS`] is a reconnect storm: a client keeps one connection
/// per broker for its life (plus, at most, a bootstrap connection and one to
/// its group coordinator), so five fresh ones in a minute means connections
/// are being cycled.
pub const STORM_MIN: usize = 5;
/// See [`STORM_MIN`].
pub const STORM_WINDOW_MS: i64 = 60_000;
/// A connection that lasted less than this is short (a client's
/// connections normally live as long as the client: minutes to days).
pub const SHORT_MS: i64 = 10_000;
/// (client, broker) pairs tracked for storms.
pub const MAX_STORM_KEYS: usize = 4096;
/// Short connections remembered per (client, broker).
pub const MAX_SHORT: usize = 1024;

/// A broker a client stormed: its address, the most short connections in
/// one window, all its short connections.
type StormAt<'a> = (SocketAddr, usize, &'a Vec<Short>);

#[derive(Clone, Copy, Debug)]
struct Short {
    open: Timestamp,
    frame: u64,
    stream: u64,
}

/// `reconnect_storm` (Warning): per client, brokers to which it opened at
/// least [`STORM_MIN`] short connections (lived under [`SHORT_MS`], carried
/// at least one request) within [`STORM_WINDOW_MS`]. Refused connections
/// are not counted here (they are the broker's outage).
#[derive(Default)]
pub struct Storms {
    /// stream → (client, broker, open ts, open frame), learnt from the
    /// open event and the first exchange.
    conns: HashMap<u64, (Option<String>, SocketAddr, Timestamp, u64)>,
    short: BTreeMap<(String, SocketAddr), Vec<Short>>,
}

impl Detector for Storms {
    fn exchange(&mut self, e: &Exchange, _cx: &Context<'_>) {
        if let Some(c) = self.conns.get_mut(&e.stream)
            && c.0.is_none()
        {
            c.0 = Some(client_key(e));
        }
    }

    fn event(&mut self, ev: &Event, _cx: &Context<'_>) {
        match &ev.kind {
            EventKind::ConnectionOpen { broker, .. } => {
                if let Some(s) = ev.stream
                    && self.conns.len() < MAX_CONNS
                {
                    self.conns.insert(s, (None, *broker, ev.at.ts, ev.at.frame));
                }
            }
            EventKind::ConnectionClose { reason, .. } => {
                let Some(s) = ev.stream else { return };
                let Some((Some(client), broker, open, frame)) = self.conns.remove(&s) else {
                    return;
                };
                if matches!(
                    reason,
                    CloseReason::CaptureEnd | CloseReason::Evicted | CloseReason::Reused
                ) || ev.at.ts.micros_since(open) >= SHORT_MS * 1000
                {
                    return;
                }
                let key = (client, broker);
                if !self.short.contains_key(&key) && self.short.len() >= MAX_STORM_KEYS {
                    return;
                }
                let v = self.short.entry(key).or_default();
                if v.len() < MAX_SHORT {
                    v.push(Short {
                        open,
                        frame,
                        stream: s,
                    });
                }
            }
            _ => {}
        }
    }

    fn findings(&self, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let mut per_client: BTreeMap<&str, Vec<StormAt<'_>>> = BTreeMap::new();
        for ((client, broker), v) in &self.short {
            let mut v2: Vec<&Short> = v.iter().collect();
            v2.sort_by_key(|s| s.open);
            // Most short connections opened within any window.
            let mut best = 0;
            let mut lo = 0;
            for hi in 0..v2.len() {
                while v2[hi].open.micros_since(v2[lo].open) > STORM_WINDOW_MS * 1000 {
                    lo += 1;
                }
                best = best.max(hi - lo + 1);
            }
            if best >= STORM_MIN {
                per_client
                    .entry(client.as_str())
                    .or_default()
                    .push((*broker, best, v));
            }
        }
        for (client, brokers) in per_client {
            let total: usize = brokers.iter().map(|b| b.2.len()).sum();
            let peak = brokers.iter().map(|b| b.1).max().unwrap_or(0);
            let mut f = Finding::new(Severity::Warning, "reconnect_storm", String::new());
            f.client(client);
            let mut all: Vec<&Short> = brokers.iter().flat_map(|b| b.2.iter()).collect();
            all.sort_by_key(|s| s.open);
            for s in &all {
                f.frame(s.frame);
                f.stream(s.stream);
                f.at(s.open);
            }
            for b in &brokers {
                f.broker(b.0);
            }
            let span = match (f.first, f.last) {
                (Some(a), Some(z)) => z.micros_since(a),
                _ => 0,
            };
            f.count = total as u64;
            f.title = format!(
                "client {client} opened {total} short-lived connections to {} over {} (up to {peak} to one broker within {} s): a reconnect storm",
                if brokers.len() == 1 {
                    brokers[0].0.to_string()
                } else {
                    format!("{} brokers", brokers.len())
                },
                duration(span),
                STORM_WINDOW_MS / 1000
            );
            f.details.push(format!(
                "short-lived: closed within {} s of opening, after at least one request",
                SHORT_MS / 1000
            ));
            out.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::requests::tests::{Either, addr, close, ex, run, ts};
    use super::*;
    use crate::capture::PacketRef;
    use crate::session::DetectedBy;

    fn open(stream: u64, broker: u16, ms: i64) -> Event {
        Event {
            at: PacketRef {
                frame: ms as u64 + 10,
                ts: ts(ms),
            },
            stream: Some(stream),
            kind: EventKind::ConnectionOpen {
                client: addr(40000 + stream as u16),
                broker: addr(broker),
                handshake_seen: true,
                detected_by: DetectedBy::KnownBroker,
            },
        }
    }

    fn refused(stream: u64, ms: i64) -> Event {
        Event {
            at: PacketRef {
                frame: ms as u64 + 11,
                ts: ts(ms),
            },
            stream: Some(stream),
            kind: EventKind::ConnectionClose {
                reason: CloseReason::Reset,
                requests: 0,
                responses: 0,
                unanswered: 0,
                client_packets: 3,
                broker_packets: 3,
            },
        }
    }

    #[test]
    fn down_then_back() {
        let items = vec![
            Either::V(open(0, 9092, 0)),
            Either::E(ex(0, 3, 12, "c", 9092, 10, Some(11))),
            Either::V(close(0, 1000, CloseReason::Fin)),
            Either::V(open(1, 9092, 1100)),
            Either::V(refused(1, 1100)),
            Either::V(open(2, 9092, 1500)),
            Either::V(refused(2, 1500)),
            Either::V(open(3, 9092, 3000)),
            Either::E(ex(3, 18, 3, "c", 9092, 3000, Some(3001))),
        ];
        let f = run(&mut Outages::default(), &items);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].code, "broker_down");
        assert_eq!(f[0].count, 3);
        assert_eq!(
            f[0].title,
            "broker 127.0.0.1:9092 was down from 22:13:21.000 to 22:13:23.001 (2.0 s): 1 connection cut (1 request unanswered), 2 connection attempts refused; it came back at 22:13:23.001 (frame 3003)"
        );
        assert_eq!(f[0].frames, vec![1003, 1111, 1511, 3003]);
    }

    #[test]
    fn never_up() {
        let items: Vec<_> = (0..3)
            .flat_map(|i| {
                [
                    Either::V(open(i, 9092, i as i64 * 100)),
                    Either::V(refused(i, i as i64 * 100)),
                ]
            })
            .collect();
        let f = run(&mut Outages::default(), &items);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].title.starts_with(
                "broker 127.0.0.1:9092 refused every connection of the capture: 3 connection attempts refused"
            ),
            "{}",
            f[0].title
        );
    }

    #[test]
    fn exit_closes_are_not_an_outage() {
        let items = vec![
            Either::V(open(0, 9092, 0)),
            Either::E(ex(0, 3, 12, "c", 9092, 10, Some(11))),
            Either::V(close(0, 1000, CloseReason::Fin)),
            Either::V(open(1, 9093, 0)),
            Either::V(close(1, 1000, CloseReason::Reset)),
        ];
        assert!(run(&mut Outages::default(), &items).is_empty());
    }

    #[test]
    fn storm() {
        let mut items = Vec::new();
        for i in 0..6u64 {
            let t = i as i64 * 1000;
            items.push(Either::V(open(i, 9092, t)));
            items.push(Either::E(ex(i, 18, 4, "py", 9092, t + 1, Some(t + 2))));
            items.push(Either::V(close(i, t + 3, CloseReason::Fin)));
        }
        let f = run(&mut Storms::default(), &items);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, "reconnect_storm");
        assert_eq!(f[0].count, 6);
        // Four: not a storm.
        let f = run(&mut Storms::default(), &items[..12]);
        assert!(f.is_empty());
    }
}
