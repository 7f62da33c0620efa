//! Several captures read as one ([`crate::merge`]): how their clocks were
//! set, and where the latency of exchanges seen at both ends goes.
//!
//! * `captures_merged` (info): the captures, each one's clock against the
//!   first's with its error, and how many exchanges both ends saw.
//! * `capture_clock_unknown` (warning): a capture that shares no TCP segment
//!   with any other: its clock is taken as it is, and none of its exchanges
//!   can be matched (captures of different traffic, or of the same traffic
//!   through a proxy that opens its own connections).
//! * `capture_clock_rough` (warning): the bounds the shared segments set
//!   disagree (the clocks drifted apart during the captures, or traffic
//!   was seen one way only): the offset is a median, times across captures
//!   are rough.
//! * `merge_unmatched` (warning): views of exchanges passed on before a
//!   second capture's view could be matched (the merge's limit): some are
//!   counted twice.
//! * `latency_network` / `latency_broker` (info): over the exchanges seen
//!   answered at both ends, with at least [`MIN_SPLIT`] of them, where the
//!   client's median latency goes: the network's share (both ways between
//!   the two capture points, with the hosts' stacks) or the broker's, when
//!   one of them takes at least [`DOMINANT_PCT`] %, per API.

use std::collections::BTreeMap;

use super::{Context, Detector, Finding, Severity};
use crate::analysis::histogram::SplitLatency;
use crate::kafka::ApiKey;
use crate::present::{capture_clock, count, latency};
use crate::session::{CaptureInfo, ClockFrom, Exchange, Summary};

/// Exchanges seen answered at both ends before their split is told.
pub const MIN_SPLIT: u64 = 5;

/// The share (%) of the median latency that makes the network or the
/// broker the one the time goes to.
pub const DOMINANT_PCT: i64 = 70;

/// Exchanges of an API before its p99 is told beside its median.
const P99_FROM: u64 = 10;

/// APIs told apart (more go under the total only).
const MAX_APIS: usize = 128;

#[derive(Default)]
struct Split {
    latency: SplitLatency,
    first_frame: Option<u64>,
}

impl Split {
    fn add(&mut self, e: &Exchange, l: i64, b: i64, n: i64) {
        self.latency.record(l, b, n);
        self.first_frame.get_or_insert(e.request.frame);
    }
}

#[derive(Default)]
struct Ends {
    capture: Option<CaptureInfo>,
    total: Split,
    apis: BTreeMap<i16, Split>,
    summary: Option<Summary>,
}

pub fn detectors() -> Vec<Box<dyn Detector>> {
    vec![Box::new(Ends::default())]
}

impl Detector for Ends {
    fn capture(&mut self, c: &CaptureInfo) {
        if !c.merged.is_empty() {
            self.capture = Some(c.clone());
        }
    }

    fn exchange(&mut self, e: &Exchange, _cx: &Context<'_>) {
        let (Some(l), Some((b, n))) = (e.latency_us(), e.split_us()) else {
            return;
        };
        self.total.add(e, l, b, n);
        if self.apis.len() < MAX_APIS || self.apis.contains_key(&e.api_key.0) {
            self.apis.entry(e.api_key.0).or_default().add(e, l, b, n);
        }
    }

    fn summary(&mut self, s: &Summary) {
        if s.merge.is_some() {
            self.summary = Some(s.clone());
        }
    }

    fn findings(&self, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some(c) = &self.capture else { return };
        let merge = self.summary.as_ref().and_then(|s| s.merge.as_ref());
        let paired = merge.map_or(self.total.latency.count(), |m| m.paired);
        let name = |k: usize| c.merged.get(k).map_or("?", |m| m.source.as_str());
        let mut f = Finding::new(
            Severity::Info,
            "captures_merged",
            format!(
                "{} read as one: {} seen at both ends, each shown once with the broker's and the network's time",
                count(c.merged.len() as u64, "capture", "captures"),
                count(paired, "exchange", "exchanges"),
            ),
        );
        for (k, m) in c.merged.iter().enumerate() {
            let seen = merge.and_then(|m| m.seen.get(k)).copied().unwrap_or(0);
            f.details.push(format!(
                "capture {k} ({}): {}; {} seen",
                m.source,
                capture_clock(&m.clock),
                count(seen, "exchange", "exchanges")
            ));
        }
        f.count = paired;
        out.push(f);

        for (k, m) in c.merged.iter().enumerate() {
            let (code, title) = match m.clock.from {
                ClockFrom::Unknown => (
                    "capture_clock_unknown",
                    format!(
                        "capture {k} ({}) shares no TCP segment with the others: its clock is taken as it is and none of its exchanges can be matched",
                        name(k)
                    ),
                ),
                ClockFrom::Rough => (
                    "capture_clock_rough",
                    format!(
                        "capture {k} ({})'s clock could only be set roughly: {}",
                        name(k),
                        capture_clock(&m.clock)
                    ),
                ),
                ClockFrom::Reference | ClockFrom::Segments => continue,
            };
            let mut f = Finding::new(Severity::Warning, code, title);
            f.details.push(
                "captures of different traffic, of one side only, or of the same traffic through a proxy that opens its own connections share none".into(),
            );
            f.count = 1;
            out.push(f);
        }

        if let Some(m) = merge
            && m.released_early > 0
        {
            let mut f = Finding::new(
                Severity::Warning,
                "merge_unmatched",
                format!(
                    "{} passed on before a second capture's view could be matched (over {} held): some exchanges seen at both ends are counted twice",
                    count(m.released_early, "record was", "records were"),
                    crate::merge::MAX_MERGE_HELD
                ),
            );
            f.count = m.released_early;
            out.push(f);
        }

        self.split_finding(out);
    }
}

impl Ends {
    /// Where the median latency goes, over all and per API.
    fn split_finding(&self, out: &mut Vec<Finding>) {
        let t = &self.total.latency;
        if t.count() < MIN_SPLIT {
            return;
        }
        let Some((c, b, n)) = t.at(0.5) else {
            return;
        };
        let share = |part: i64| part.saturating_mul(100) / c.max(1);
        let (code, whose) = if share(n) >= DOMINANT_PCT {
            (
                "latency_network",
                "the network between the two capture points",
            )
        } else if share(b) >= DOMINANT_PCT {
            ("latency_broker", "the broker")
        } else {
            ("latency_split", "both")
        };
        let mut f = Finding::new(
            Severity::Info,
            code,
            format!(
                "median latency {} at the client = {} at the broker + {} on the network ({} % network), over {} seen at both ends: the time goes to {whose}",
                latency(c),
                latency(b),
                latency(n),
                share(n).clamp(0, 100),
                count(t.count(), "exchange", "exchanges"),
            ),
        );
        for (&k, s) in &self.apis {
            let Some((c, b, n)) = s.latency.at(0.5) else {
                continue;
            };
            let mut line = format!(
                "{}: {} = broker {} + network {} ({}",
                ApiKey(k).name(),
                latency(c),
                latency(b),
                latency(n),
                count(s.latency.count(), "exchange", "exchanges"),
            );
            // A tail worth telling apart from the median.
            if s.latency.count() >= P99_FROM {
                let (c, b, n) = s.latency.at(0.99).unwrap_or((c, b, n));
                line.push_str(&format!(
                    "; p99 {} = broker {} + network {}",
                    latency(c),
                    latency(b),
                    latency(n),
                ));
            }
            line.push(')');
            f.details.push(line);
            if let Some(fr) = s.first_frame {
                f.frame(fr);
            }
        }
        f.frames.sort_unstable();
        f.count = t.count();
        out.push(f);
    }
}
