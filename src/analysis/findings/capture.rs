//! The capture itself: what kwire could not follow, and why. Every limit
//! kwire hit (flows evicted, holes given up, the memory budget, records not
//! decompressed…) becomes a finding that says what was lost and which option
//! raises the limit; packets stamped far from their neighbours and kernel
//! drops likewise. These are not the client's faults, but a reader must know
//! them before trusting the other findings.
//!
//! Contract: no panic, whatever the events; state is one entry per limit
//! kind (a fixed set) plus a few counters. Limit events are capped by the
//! analyzer ([`MAX_LIMIT_EVENTS`] per limit), so the counts come from the
//! summary when it is seen, and from the events until then.

use std::collections::BTreeMap;

use crate::capture::{DropStats, Timestamp};
use crate::session::{Event, EventKind, Exchange, Limit, MAX_LIMIT_EVENTS, Summary};
use crate::tcp::Kept;

use super::{Context, Detector, Finding, Severity};
use crate::present::plural_suffix;

/// This family's detectors.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    vec![Box::new(CaptureHealth::default())]
}

/// Kernel drops below this share of the packets received are a warning;
/// above it, an error (the capture is missing much of the traffic).
pub const DROPS_ERROR_PERCENT: f64 = 1.0;

#[derive(Clone, Debug, Default)]
struct Hits {
    /// Events seen.
    events: u64,
    /// From the summary: every hit.
    total: Option<u64>,
    value: u64,
    frames: Vec<u64>,
    streams: Vec<u64>,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

#[derive(Default)]
struct CaptureHealth {
    limits: BTreeMap<Limit, Hits>,
    jumps: Hits,
    accepted_jumps: u64,
    /// The first stray stamp: (frame, stamped, taken as).
    first_jump: Option<(u64, Timestamp, Timestamp)>,
    drops: Option<DropStats>,
    mismatches: Hits,
    /// Mismatches where the first copy was kept, and where the in-order one was.
    kept: [u64; 2],
    summary: Option<Summary>,
    /// The capture could not be read to its end: where, and why.
    cut: Option<(Event, String)>,
}

fn note(h: &mut Hits, ev: &Event) {
    h.events += 1;
    if h.frames.len() < super::MAX_FRAMES && !h.frames.contains(&ev.at.frame) {
        h.frames.push(ev.at.frame);
    }
    if let Some(s) = ev.stream
        && h.streams.len() < super::MAX_NAMES
        && !h.streams.contains(&s)
    {
        h.streams.push(s);
    }
    h.first = Some(h.first.map_or(ev.at.ts, |f| f.min(ev.at.ts)));
    h.last = Some(h.last.map_or(ev.at.ts, |l| l.max(ev.at.ts)));
}

fn finding_of(h: &Hits, f: &mut Finding) {
    for &fr in &h.frames {
        f.frame(fr);
    }
    for &s in &h.streams {
        f.stream(s);
    }
    if let Some(t) = h.first {
        f.at(t);
    }
    if let Some(t) = h.last {
        f.at(t);
    }
}

/// What the summary says was let go to the memory budget.
fn memory_details(s: &Summary, out: &mut Vec<String>) {
    let m = &s.memory;
    out.push(format!(
        "peak {} of the {} budget; full {} time{}, {} connection{} let go of state",
        bytes(m.peak_bytes),
        bytes(m.max_memory),
        m.full,
        plural_suffix(m.full),
        m.connections_shed,
        plural_suffix(m.connections_shed)
    ));
    let sh = &m.shed;
    let mut what = Vec::new();
    if sh.frame_bytes > 0 {
        what.push(format!(
            "{} of messages in progress (those messages are marked damaged)",
            bytes(sh.frame_bytes)
        ));
    }
    if sh.response_bytes > 0 {
        what.push(format!(
            "{} of responses waiting for their request (paired undecoded)",
            bytes(sh.response_bytes)
        ));
    }
    if sh.request_bodies > 0 {
        what.push(format!(
            "{} decoded request bod{} awaiting a response",
            sh.request_bodies,
            if sh.request_bodies == 1 { "y" } else { "ies" }
        ));
    }
    if sh.requests > 0 {
        what.push(format!(
            "{} request{} in flight given up (`memory_limit`)",
            sh.requests,
            plural_suffix(sh.requests)
        ));
    }
    if !what.is_empty() {
        out.push(format!("let go of: {}", what.join("; ")));
    }
}

/// `1.5 MiB`.
pub fn bytes(n: u64) -> String {
    const K: f64 = 1024.0;
    let f = n as f64;
    if f >= K * K * K {
        format!("{:.1} GiB", f / (K * K * K))
    } else if f >= K * K {
        format!("{:.1} MiB", f / (K * K))
    } else if f >= K {
        format!("{:.1} KiB", f / K)
    } else {
        format!("{n} B")
    }
}

impl Detector for CaptureHealth {
    fn exchange(&mut self, _e: &Exchange, _cx: &Context<'_>) {}

    fn event(&mut self, ev: &Event, _cx: &Context<'_>) {
        match &ev.kind {
            EventKind::Limit { limit, value } => {
                let h = self.limits.entry(*limit).or_default();
                h.value = *value;
                note(h, ev);
            }
            EventKind::TimeJump {
                stamped,
                clock,
                accepted,
            } => {
                note(&mut self.jumps, ev);
                if *accepted {
                    self.accepted_jumps += 1;
                } else if self.first_jump.is_none() {
                    self.first_jump = Some((ev.at.frame, *stamped, *clock));
                }
            }
            EventKind::Drops(d) => self.drops = Some(*d),
            EventKind::CaptureError { message } if self.cut.is_none() => {
                self.cut = Some((ev.clone(), message.clone()));
            }
            EventKind::RetransmissionMismatch { kept, .. } => {
                note(&mut self.mismatches, ev);
                self.kept[usize::from(*kept == Kept::Last)] += 1;
            }
            _ => {}
        }
    }

    fn summary(&mut self, s: &Summary) {
        for (limit, n) in &s.limits {
            self.limits.entry(*limit).or_default().total = Some(*n);
        }
        self.jumps.total = Some(s.time_jumps);
        self.mismatches.total = Some(s.retransmission_mismatches);
        if s.drops.is_some() {
            self.drops = s.drops;
        }
        self.summary = Some(s.clone());
    }

    fn findings(&self, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        if let Some((ev, message)) = &self.cut {
            // A capture cut short (a file still being written, `head -c`, a
            // disk that filled): everything after is unknown, and what was
            // in flight looks unanswered.
            let mut f = Finding::new(
                Severity::Warning,
                "capture_truncated",
                format!(
                    "the capture ends early: {message} (after frame {}); nothing after it is analysed",
                    ev.at.frame
                ),
            );
            f.details.push(
                "requests in flight at that point show as unanswered (capture_end), and findings about the end of the capture (a broker that had not come back, lag at the end) may only mean that the capture stopped"
                    .to_string(),
            );
            f.count = 1;
            f.frames.push(ev.at.frame);
            f.at(ev.at.ts);
            out.push(f);
        }
        for (limit, h) in &self.limits {
            // Packet-event caps only shorten the output: no finding.
            if *limit == Limit::MaxPacketEvents {
                continue;
            }
            let n = h.total.unwrap_or(h.events).max(h.events);
            let at_least = if h.total.is_none() && h.events >= MAX_LIMIT_EVENTS {
                "at least "
            } else {
                ""
            };
            let raise = match limit.option() {
                Some(o) => format!("; raise it with {o} (now {})", h.value),
                None => format!(" (a fixed limit: {})", h.value),
            };
            let severity = match limit {
                Limit::MaxDecompressedBytes
                | Limit::MaxRecords
                | Limit::MaxCaptureRecords
                | Limit::MaxCaptureDecompressedBytes
                | Limit::MaxKnownBrokers => Severity::Warning,
                _ => Severity::Error,
            };
            let mut f = Finding::new(
                severity,
                limit_code(*limit),
                format!(
                    "kwire reached its {} limit {at_least}{n} time{}: {}",
                    limit.as_str(),
                    plural_suffix(n),
                    limit.gives_up()
                ),
            );
            f.count = n;
            f.details.push(format!("what follows is incomplete{raise}"));
            if *limit == Limit::MaxMemory
                && let Some(s) = &self.summary
            {
                memory_details(s, &mut f.details);
            }
            finding_of(h, &mut f);
            out.push(f);
        }
        let jumps = self.jumps.total.unwrap_or(self.jumps.events);
        if jumps > 0 {
            let stray = jumps.saturating_sub(self.accepted_jumps);
            let mut f = Finding::new(
                Severity::Warning,
                "time_jump",
                format!(
                    "{jumps} packet{} stamped far from the packets around {}: {stray} stray stamp{} processed at the capture's time, {} jump{} the clock followed",
                    plural_suffix(jumps),
                    if jumps == 1 { "it" } else { "them" },
                    plural_suffix(stray),
                    self.accepted_jumps,
                    plural_suffix(self.accepted_jumps)
                ),
            );
            f.count = jumps;
            if let Some((frame, stamped, clock)) = self.first_jump {
                f.details.push(format!(
                    "frame {frame} is stamped {stamped} but came between packets of {clock}; it expired nothing and no latency uses its stamp"
                ));
            }
            f.details.push(
                "the capture's clock or the tool that wrote it misbehaved (see --max-time-jump)"
                    .to_string(),
            );
            finding_of(&self.jumps, &mut f);
            out.push(f);
        }
        let mismatches = self
            .mismatches
            .total
            .unwrap_or(0)
            .max(self.mismatches.events);
        if mismatches > 0 {
            let mut f = Finding::new(
                Severity::Warning,
                "retransmission_mismatch",
                format!(
                    "{mismatches} retransmitted segment{} carried bytes different from the copy captured before: something rewrote them in flight, or the capture mixed two streams",
                    plural_suffix(mismatches)
                ),
            );
            f.count = mismatches;
            f.details.push(format!(
                "of those seen: {} kept the first copy captured (the later one was discarded), {} the in-order segment (the earlier buffered copy was discarded)",
                self.kept[0], self.kept[1]
            ));
            finding_of(&self.mismatches, &mut f);
            out.push(f);
        }
        if let Some(d) = self.drops
            && (d.dropped > 0 || d.if_dropped > 0 || d.queue_dropped > 0)
        {
            let lost = d.dropped + d.if_dropped + d.queue_dropped;
            let seen = d.received.max(1);
            let pct = lost as f64 * 100.0 / (seen + lost) as f64;
            let severity = if pct >= DROPS_ERROR_PERCENT {
                Severity::Error
            } else {
                Severity::Warning
            };
            let mut f = Finding::new(
                severity,
                "capture_drops",
                format!(
                    "the capture lost {lost} packet{} ({pct:.1} %) before kwire saw them: gaps, orphans and unanswered requests may be the capture's, not the traffic's",
                    plural_suffix(lost)
                ),
            );
            f.count = lost;
            f.details.push(format!(
                "received {}, dropped by the kernel {} (raise --buffer-size), by the interface {}, by kwire's packet queue {} (the analysis fell behind: raise --queue-bytes / --queue-packets)",
                d.received, d.dropped, d.if_dropped, d.queue_dropped
            ));
            out.push(f);
        }
    }
}

/// Connections with holes followed by [`Damage`].
pub const MAX_DAMAGED_STREAMS: usize = 4096;

/// A connection seen from one side only needs at least this many segments
/// from that side: a request sent just before the capture ended may not
/// have been acknowledged yet.
pub const ONE_SIDED_MIN_SEGMENTS: u64 = 4;

/// Holes in one connection's capture.
#[derive(Clone, Copy, Debug, Default)]
struct Holes {
    gaps: u64,
    bytes: u64,
    first_frame: u64,
    orphans: u64,
    /// Only one side's packets were captured: which side is missing.
    missing: Option<Side>,
}

/// A side of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Client,
    Broker,
}

/// Where the capture itself lost traffic: holes in connections (segments
/// never captured, cut by the snaplen, given up), responses whose request
/// the capture does not have, packets dropped. (A capture cut short is
/// `capture_truncated`, of [`CaptureHealth`].) Told as
/// findings of their own (`capture_gaps`, `capture_mid_stream`: context,
/// information), and as a caution on every warning and error whose evidence
/// they touch ([`Damage::annotate`]): a request "unanswered" on a connection
/// whose response bytes the capture lost says nothing of the broker.
#[derive(Default)]
pub(crate) struct Damage {
    streams: BTreeMap<u64, Holes>,
    /// Past [`MAX_DAMAGED_STREAMS`]: counted only.
    gaps: u64,
    bytes: u64,
    orphans: u64,
    frames: Vec<u64>,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    dropped: u64,
    /// Connections captured from one side only.
    one_sided: u64,
}

impl Damage {
    pub(crate) fn event(&mut self, ev: &Event) {
        let (gap, orphan) = match &ev.kind {
            EventKind::ConnectionClose {
                requests,
                client_packets,
                broker_packets,
                ..
            } => {
                let missing = if *broker_packets == 0
                    && *requests > 0
                    && *client_packets >= ONE_SIDED_MIN_SEGMENTS
                {
                    Side::Broker
                } else if *client_packets == 0 && *broker_packets >= ONE_SIDED_MIN_SEGMENTS {
                    Side::Client
                } else {
                    return;
                };
                if let Some(st) = ev.stream
                    && (self.streams.contains_key(&st) || self.streams.len() < MAX_DAMAGED_STREAMS)
                {
                    let h = self.streams.entry(st).or_insert(Holes {
                        first_frame: ev.at.frame,
                        ..Holes::default()
                    });
                    h.missing = Some(missing);
                }
                self.one_sided += 1;
                return;
            }
            EventKind::Gap { bytes, .. } => (Some(*bytes), false),
            EventKind::OrphanResponse { .. } => (None, true),
            EventKind::Drops(d) => {
                self.dropped = d.dropped + d.if_dropped + d.queue_dropped;
                return;
            }
            _ => return,
        };
        if let Some(b) = gap {
            self.gaps += 1;
            self.bytes = self.bytes.saturating_add(b);
        }
        if orphan {
            self.orphans += 1;
        }
        if self.frames.len() < super::MAX_FRAMES && !self.frames.contains(&ev.at.frame) {
            self.frames.push(ev.at.frame);
        }
        self.first = Some(self.first.map_or(ev.at.ts, |f| f.min(ev.at.ts)));
        self.last = Some(self.last.map_or(ev.at.ts, |l| l.max(ev.at.ts)));
        let Some(st) = ev.stream else { return };
        if !self.streams.contains_key(&st) && self.streams.len() >= MAX_DAMAGED_STREAMS {
            return;
        }
        let h = self.streams.entry(st).or_insert(Holes {
            first_frame: ev.at.frame,
            ..Holes::default()
        });
        if let Some(b) = gap {
            h.gaps += 1;
            h.bytes = h.bytes.saturating_add(b);
        }
        if orphan {
            h.orphans += 1;
        }
    }

    pub(crate) fn findings(&self, out: &mut Vec<Finding>) {
        let holed: Vec<(&u64, &Holes)> = self.streams.iter().filter(|(_, h)| h.gaps > 0).collect();
        if self.gaps > 0 {
            let conns = holed.len() as u64;
            let orphans: u64 = holed.iter().map(|(_, h)| h.orphans).sum();
            let mut f = Finding::new(
                Severity::Info,
                "capture_gaps",
                format!(
                    "the capture is missing {} in {} hole{} on {conns} connection{}: bytes the receiver acknowledged or the snaplen cut, which kwire never saw",
                    bytes(self.bytes),
                    self.gaps,
                    plural_suffix(self.gaps),
                    plural_suffix(conns)
                ),
            );
            f.count = self.gaps;
            if orphans > 0 {
                f.details.push(format!(
                    "{orphans} response{} lost {} request to them (orphan_response)",
                    plural_suffix(orphans),
                    if orphans == 1 { "its" } else { "their" }
                ));
            }
            f.details.push(
                "messages that span a hole are marked damaged; findings about these connections say so".to_string(),
            );
            for (st, h) in &holed {
                f.stream(**st);
                f.frame(h.first_frame);
            }
            if let Some(t) = self.first {
                f.at(t);
            }
            out.push(f);
        }
        if self.one_sided > 0 {
            let sided: Vec<(&u64, &Holes)> = self
                .streams
                .iter()
                .filter(|(_, h)| h.missing.is_some())
                .collect();
            let no_broker = sided
                .iter()
                .filter(|(_, h)| h.missing == Some(Side::Broker))
                .count();
            let what = match (no_broker, sided.len() - no_broker) {
                (_, 0) => "only the clients' packets, not even the brokers' acknowledgements",
                (0, _) => "only the brokers' packets, none of the clients'",
                _ => "one side's packets only",
            };
            let mut f = Finding::new(
                Severity::Warning,
                "capture_one_sided",
                format!(
                    "on {} connection{} the capture has {what}: it saw one direction of the traffic (asymmetric routing, a capture filter on one address, a one-way mirror port), so whatever was answered there is unknown",
                    self.one_sided,
                    plural_suffix(self.one_sided)
                ),
            );
            f.count = self.one_sided;
            f.details.push(
                "requests on these connections show as unanswered and their brokers as silent: that says nothing of the brokers; capture both directions (e.g. on the client host, or `tcp port 9092` without a host filter)".to_string(),
            );
            for (st, h) in &sided {
                f.stream(**st);
                f.frame(h.first_frame);
            }
            out.push(f);
        }
        let mid: Vec<(&u64, &Holes)> = self
            .streams
            .iter()
            .filter(|(_, h)| h.gaps == 0 && h.orphans > 0)
            .collect();
        if !mid.is_empty() {
            let n: u64 = mid.iter().map(|(_, h)| h.orphans).sum();
            let mut f = Finding::new(
                Severity::Info,
                "capture_mid_stream",
                format!(
                    "{n} response{} on {} connection{} came without {} request: the capture started after {} sent (connections already open), so {} latency and content are unknown",
                    plural_suffix(n),
                    mid.len(),
                    plural_suffix(mid.len() as u64),
                    if n == 1 { "its" } else { "their" },
                    if n == 1 { "it was" } else { "they were" },
                    if n == 1 { "its" } else { "their" },
                ),
            );
            f.count = n;
            for (st, h) in &mid {
                f.stream(**st);
                f.frame(h.first_frame);
            }
            out.push(f);
        }
    }

    /// Add a caution to every warning and error (but the capture's own)
    /// whose connections the capture lost bytes of, or, when packets were
    /// dropped or the capture was cut short, to every one.
    pub(crate) fn annotate(&self, out: &mut [Finding]) {
        for f in out.iter_mut() {
            if f.severity == Severity::Info || own_code(f.code) {
                continue;
            }
            let hit: Vec<(u64, &Holes)> = f
                .streams
                .iter()
                .filter_map(|s| self.streams.get(s).filter(|h| h.gaps > 0).map(|h| (*s, h)))
                .collect();
            let sided: Vec<String> = f
                .streams
                .iter()
                .filter(|s| self.streams.get(s).is_some_and(|h| h.missing.is_some()))
                .take(super::MAX_NAMES)
                .map(|s| format!("s{s}"))
                .collect();
            if !sided.is_empty() {
                f.details.push(format!(
                    "caution: the capture has one side only of {}: this may be the capture's blind spot, not the traffic (capture_one_sided)",
                    sided.join(", ")
                ));
            }
            if !hit.is_empty() {
                let lost: u64 = hit.iter().map(|(_, h)| h.bytes).sum();
                let conns: Vec<String> = hit
                    .iter()
                    .take(super::MAX_NAMES)
                    .map(|(s, h)| format!("s{s} (frame {})", h.first_frame))
                    .collect();
                f.details.push(format!(
                    "caution: the capture lost {} on {}: part of this may be the capture's loss, not the traffic's (capture_gaps)",
                    bytes(lost),
                    conns.join(", ")
                ));
            }
            if self.dropped > 0 {
                f.details.push(format!(
                    "caution: the capture dropped {} packet{}: part of this may be the capture's loss (capture_drops)",
                    self.dropped,
                    plural_suffix(self.dropped)
                ));
            }
        }
    }
}

/// The capture family's own codes (never cautioned about the capture).
fn own_code(code: &str) -> bool {
    code.starts_with("capture_")
        || code.starts_with("limit_")
        || matches!(code, "time_jump" | "retransmission_mismatch")
}

/// The finding code of a limit: `limit_` and its name.
pub fn limit_code(l: Limit) -> &'static str {
    match l {
        Limit::MaxFlows => "limit_max_flows",
        Limit::MaxOooBytes => "limit_max_ooo_bytes",
        Limit::MaxOooSegments => "limit_max_ooo_segments",
        Limit::MaxMemory => "limit_max_memory",
        Limit::MaxInFlight => "limit_max_in_flight",
        Limit::MaxEarlyResponses => "limit_max_early_responses",
        Limit::MaxCandidateRecords => "limit_max_candidate_records",
        Limit::MaxUnresolvedRecords => "limit_max_unresolved_records",
        Limit::MaxKnownBrokers => "limit_max_known_brokers",
        Limit::MaxPacketEvents => "limit_max_packet_events",
        Limit::MaxDecompressedBytes => "limit_max_decompressed_bytes",
        Limit::MaxRecords => "limit_max_records",
        Limit::MaxCaptureRecords => "limit_max_capture_records",
        Limit::MaxCaptureDecompressedBytes => "limit_max_capture_decompressed_bytes",
        Limit::MaxMergeHeld => "limit_max_merge_held",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::topics::TopicNames;
    use crate::capture::PacketRef;

    fn ev(frame: u64, kind: EventKind) -> Event {
        Event {
            at: PacketRef {
                frame,
                ts: Timestamp::new(1_700_000_000 + frame as i64, 0),
            },
            stream: Some(frame),
            kind,
        }
    }

    fn run(d: &CaptureHealth) -> Vec<Finding> {
        let names = TopicNames::new();
        let mut out = Vec::new();
        d.findings(&Context { names: &names }, &mut out);
        out
    }

    #[test]
    fn a_limit_is_one_finding_with_the_summary_count_and_the_option() {
        let names = TopicNames::new();
        let cx = Context { names: &names };
        let mut d = CaptureHealth::default();
        for i in 0..MAX_LIMIT_EVENTS {
            let kind = EventKind::Limit {
                limit: Limit::MaxFlows,
                value: 10,
            };
            d.event(&ev(i + 1, kind), &cx);
        }
        let f = run(&d);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, "limit_max_flows");
        assert!(f[0].title.contains("at least 10 times"), "{}", f[0].title);
        let mut s = Summary::default();
        s.limits.insert(Limit::MaxFlows, 200_000);
        d.summary(&s);
        let f = run(&d);
        assert_eq!(f[0].count, 200_000);
        assert!(f[0].title.contains("200000 times"), "{}", f[0].title);
        assert!(
            f[0].details[0].contains("--max-flows"),
            "{:?}",
            f[0].details
        );
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].frames.len(), MAX_LIMIT_EVENTS as usize);
    }

    #[test]
    fn every_limit_but_the_event_cap_has_a_code_and_words() {
        for l in Limit::ALL {
            assert!(limit_code(l).ends_with(l.as_str()));
            assert!(!l.gives_up().is_empty());
        }
    }

    #[test]
    fn stray_stamps_and_drops_are_said() {
        let names = TopicNames::new();
        let cx = Context { names: &names };
        let mut d = CaptureHealth::default();
        let kind = EventKind::TimeJump {
            stamped: Timestamp::new(2_000_000_000, 0),
            clock: Timestamp::new(1_700_000_000, 0),
            accepted: false,
        };
        d.event(&ev(7, kind), &cx);
        let drops = DropStats {
            received: 900,
            dropped: 100,
            ..DropStats::default()
        };
        d.event(&ev(8, EventKind::Drops(drops)), &cx);
        let f = run(&d);
        let codes: Vec<&str> = f.iter().map(|f| f.code).collect();
        assert_eq!(codes, ["time_jump", "capture_drops"]);
        assert!(f[0].details[0].contains("frame 7"), "{:?}", f[0].details);
        assert_eq!(f[1].severity, Severity::Error);
        assert!(f[1].title.contains("10.0 %"), "{}", f[1].title);
    }
}
