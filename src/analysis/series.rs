//! Time series of exchanges: requests, problems, bytes and latency per
//! time bucket, over all exchanges and broken down by API and by broker.
//! The TUI's Charts view draws them (over the exchanges its timeline
//! shows) and `kwire report` charts them (over the whole capture); neither
//! is needed here: an exchange comes in as a [`Sample`].
//!
//! What holds:
//! * **Each sample counts once.** [`Series::add`] takes one exchange; the
//!   work is linear in the exchanges, never a rescan.
//! * **Bounded memory.** At most [`MAX_BUCKETS`] buckets per lane, and at
//!   most [`MAX_KEYS`] APIs and as many brokers get a lane of their own (the
//!   rest share an "other" lane). A bucket's latency sketch is a fixed
//!   [`SKETCH_SLOTS`] counters, allocated once it holds a latency; its error
//!   names are at most [`MAX_ERROR_NAMES`], its problem frames at most
//!   [`MAX_PROBLEM_FRAMES`].
//! * **Buckets merge, they do not grow.** A bucket covers a fixed stretch
//!   of wall-clock time, aligned on multiples of its width since the epoch;
//!   widths climb the ladder [`WIDTHS`] (each a multiple of the one before),
//!   starting at 1 ms. When the data spans more than [`MAX_BUCKETS`]
//!   buckets, neighbours merge into buckets of the next width.
//! * **Hostile timestamps.** Time may go backwards (a sample earlier than
//!   every bucket extends the range at the front) or jump by years (the
//!   width climbs until the span fits, past the ladder by doubling); nothing
//!   here panics, and arithmetic is in `i128` nanoseconds, which holds any
//!   `Timestamp`.
//! * **A bucket belongs to its request's time.** An exchange counts in the
//!   bucket of its request's timestamp; its latency too.

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::capture::Timestamp;
use crate::kafka::ApiKey;
use crate::kafka::errors::ErrorCode;
use crate::session::{ErrorRef, Exchange, Outcome, Status};

/// Most buckets a lane holds; past it, buckets merge into wider ones.
pub const MAX_BUCKETS: usize = 240;
/// APIs (and brokers) with a lane of their own; more share "other".
pub const MAX_KEYS: usize = 16;
/// Error names a bucket counts by name; more are counted as "others".
pub const MAX_ERROR_NAMES: usize = 4;
/// Request frames of problems a bucket keeps (the first ones).
pub const MAX_PROBLEM_FRAMES: usize = 8;

/// One exchange as the series count it.
#[derive(Clone, Copy, Debug)]
pub struct Sample<'a> {
    /// The request's time and frame.
    pub ts: Timestamp,
    pub frame: u64,
    pub api_key: ApiKey,
    pub broker: SocketAddr,
    /// Request and response sizes.
    pub bytes: u64,
    /// Response time, when answered (and not stamped before its request).
    pub latency_us: Option<i64>,
    /// A problem (`Outcome::is_problem`: retriable and fatal errors,
    /// unanswered requests, malformed responses; not a negotiation, not a
    /// throttle).
    pub problem: bool,
    /// No response came.
    pub no_response: bool,
    /// The response did not decode.
    pub malformed: bool,
    /// The distinct non-zero error codes of the response.
    pub codes: &'a [i16],
}

/// The distinct non-zero codes of `errors`, into `out` (cleared first).
pub fn distinct_codes(errors: &[ErrorRef], out: &mut Vec<i16>) {
    out.clear();
    for er in errors {
        if er.code != 0 && !out.contains(&er.code) {
            out.push(er.code);
        }
    }
}

impl<'a> Sample<'a> {
    /// The sample of a session exchange; `codes` its distinct non-zero
    /// codes ([`distinct_codes`]).
    pub fn of_exchange(e: &Exchange, codes: &'a [i16]) -> Sample<'a> {
        // A throttle does not make a problem: `false` for it.
        let outcome = Outcome::of(e.api_key, e.api_version, e.status, codes, false);
        Sample {
            ts: e.request.ts,
            frame: e.request.frame,
            api_key: e.api_key,
            broker: e.broker,
            bytes: u64::from(e.request.size) + e.response.map_or(0, |r| u64::from(r.size)),
            latency_us: e
                .response
                .map(|r| r.ts.micros_since(e.request.ts))
                .filter(|&us| us >= 0),
            problem: outcome.is_problem(),
            no_response: e.response.is_none(),
            malformed: e.status == Status::Malformed,
            codes,
        }
    }
}

const MS: i128 = 1_000_000;
/// Bucket widths in nanoseconds, finest first: each is a whole multiple of
/// the one before, so that merging never splits a bucket. Past the last,
/// widths double.
pub const WIDTHS: [i128; 15] = [
    MS,
    2 * MS,
    10 * MS,
    20 * MS,
    100 * MS,
    200 * MS,
    1000 * MS,
    2000 * MS,
    10_000 * MS,
    20_000 * MS,
    60_000 * MS,
    120_000 * MS,
    600_000 * MS,
    1_200_000 * MS,
    3_600_000 * MS,
];

/// Counters of the latency sketch: one for 0 µs, then [`SKETCH_SUB`] per
/// power of two up to 2^32 µs (71 minutes; longer ones share the last).
pub const SKETCH_SLOTS: usize = 1 + SKETCH_SUB * 32;
/// Slots per power of two: a slot is a quarter of its lower bound wide, so
/// the middle of a slot is within 12.5% of any latency in it.
pub const SKETCH_SUB: usize = 4;

/// A latency distribution of fixed size (see [`SKETCH_SLOTS`]): cheap
/// enough to keep one per bucket and lane. Minimum and maximum are exact,
/// and a percentile never leaves them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sketch {
    slots: [u32; SKETCH_SLOTS],
    count: u64,
    min: i64,
    max: i64,
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch {
            slots: [0; SKETCH_SLOTS],
            count: 0,
            min: i64::MAX,
            max: i64::MIN,
        }
    }
}

fn slot_of(us: i64) -> usize {
    if us < 1 {
        return 0;
    }
    let v = us.min((1 << 32) - 1) as u64;
    let e = 63 - v.leading_zeros() as usize; // 0..=31
    let frac = (((v - (1 << e)) * SKETCH_SUB as u64) >> e) as usize; // 0..SUB
    1 + e * SKETCH_SUB + frac.min(SKETCH_SUB - 1)
}

/// The middle of slot `i` in µs.
fn slot_middle(i: usize) -> f64 {
    if i == 0 {
        return 0.0;
    }
    let e = (i - 1) / SKETCH_SUB;
    let frac = (i - 1) % SKETCH_SUB;
    let lo = (1u64 << e) as f64;
    let w = lo / SKETCH_SUB as f64;
    lo + w * frac as f64 + w / 2.0
}

impl Sketch {
    pub fn record(&mut self, us: i64) {
        // Counts saturate: a bucket holds at most the store's exchanges.
        let s = &mut self.slots[slot_of(us)];
        *s = s.saturating_add(1);
        self.count = self.count.saturating_add(1);
        self.min = self.min.min(us);
        self.max = self.max.max(us);
    }

    pub fn merge(&mut self, other: &Sketch) {
        for (a, b) in self.slots.iter_mut().zip(other.slots.iter()) {
            *a = a.saturating_add(*b);
        }
        self.count = self.count.saturating_add(other.count);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The `q` quantile (0..=1) in µs, within 12.5% and never outside the
    /// exact minimum and maximum; `None` when empty.
    pub fn percentile(&self, q: f64) -> Option<i64> {
        if self.count == 0 {
            return None;
        }
        let total: u64 = self.slots.iter().map(|&c| u64::from(c)).sum();
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        // The extremes are known exactly (the p99 of up to 100 is the
        // maximum).
        if rank >= total {
            return Some(self.max);
        }
        let mut seen = 0u64;
        for (i, &c) in self.slots.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                let v = slot_middle(i).round() as i64;
                return Some(v.clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

/// What made an exchange a problem, as the readout names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    Code(i16),
    NoResponse,
    Malformed,
}

impl Problem {
    pub fn name(self) -> &'static str {
        match self {
            Problem::Code(c) => ErrorCode(c).name(),
            Problem::NoResponse => "no response",
            Problem::Malformed => "malformed response",
        }
    }
}

/// The error names of a bucket, the first [`MAX_ERROR_NAMES`] seen by
/// name, the others counted together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorNames {
    named: Vec<(Problem, u64)>,
    pub others: u64,
}

impl ErrorNames {
    fn add(&mut self, p: Problem, n: u64) {
        if let Some(e) = self.named.iter_mut().find(|(q, _)| *q == p) {
            e.1 = e.1.saturating_add(n);
        } else if self.named.len() < MAX_ERROR_NAMES {
            self.named.push((p, n));
        } else {
            self.others = self.others.saturating_add(n);
        }
    }

    fn merge(&mut self, other: &ErrorNames) {
        for &(p, n) in &other.named {
            self.add(p, n);
        }
        self.others = self.others.saturating_add(other.others);
    }

    /// The names counted, most frequent first.
    pub fn top(&self) -> Vec<(Problem, u64)> {
        let mut v = self.named.clone();
        v.sort_by_key(|e| std::cmp::Reverse(e.1));
        v
    }
}

/// One stretch of time of one lane.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    pub requests: u64,
    /// Exchanges with a problem (`Outcome::is_problem`: retriable and
    /// fatal errors, unanswered requests, malformed responses; not a
    /// negotiation, not a throttle).
    pub problems: u64,
    /// Request and response sizes.
    pub bytes: u64,
    latency: Option<Box<Sketch>>,
    /// Request frames of the first and last exchange counted.
    frames: Option<(u64, u64)>,
    pub errors: ErrorNames,
    /// Request frames of the first problems (at most
    /// [`MAX_PROBLEM_FRAMES`], in the order counted; merged buckets keep
    /// the lowest).
    pub problem_frames: Vec<u64>,
}

impl Bucket {
    fn add(&mut self, it: &Sample) {
        self.requests = self.requests.saturating_add(1);
        self.bytes = self.bytes.saturating_add(it.bytes);
        if let Some(us) = it.latency_us {
            self.latency.get_or_insert_default().record(us);
        }
        let f = it.frame;
        self.frames = Some(match self.frames {
            None => (f, f),
            Some((a, b)) => (a.min(f), b.max(f)),
        });
        if it.problem {
            self.problems = self.problems.saturating_add(1);
            if self.problem_frames.len() < MAX_PROBLEM_FRAMES {
                self.problem_frames.push(f);
            }
            if it.no_response {
                self.errors.add(Problem::NoResponse, 1);
            }
            if it.malformed {
                self.errors.add(Problem::Malformed, 1);
            }
            for &c in it.codes {
                self.errors.add(Problem::Code(c), 1);
            }
        }
    }

    pub fn merge(&mut self, o: &Bucket) {
        self.requests = self.requests.saturating_add(o.requests);
        self.problems = self.problems.saturating_add(o.problems);
        self.bytes = self.bytes.saturating_add(o.bytes);
        if let Some(l) = &o.latency {
            self.latency.get_or_insert_default().merge(l);
        }
        self.frames = match (self.frames, o.frames) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (x, None) => x,
            (None, y) => y,
        };
        self.errors.merge(&o.errors);
        if !o.problem_frames.is_empty() {
            self.problem_frames.extend_from_slice(&o.problem_frames);
            self.problem_frames.sort_unstable();
            self.problem_frames.dedup();
            self.problem_frames.truncate(MAX_PROBLEM_FRAMES);
        }
    }

    /// The 99th percentile latency in µs, when something was answered.
    pub fn p99(&self) -> Option<i64> {
        self.latency.as_ref().and_then(|s| s.percentile(0.99))
    }

    /// Request frames of the first and last exchange in the bucket.
    pub fn frames(&self) -> Option<(u64, u64)> {
        self.frames
    }
}

/// Buckets of one series, aligned with the [`Series`]' range.
#[derive(Clone, Debug, Default)]
struct Lane {
    total: u64,
    buckets: VecDeque<Bucket>,
}

impl Lane {
    fn with_len(len: usize) -> Lane {
        Lane {
            total: 0,
            buckets: std::iter::repeat_with(Bucket::default).take(len).collect(),
        }
    }
}

/// Lanes per key (an API, a broker), at most [`MAX_KEYS`], and the rest.
#[derive(Clone, Debug)]
struct Breakdown<K> {
    keys: Vec<(K, Lane)>,
    other: Lane,
}

impl<K: Copy + PartialEq> Breakdown<K> {
    fn new() -> Self {
        Breakdown {
            keys: Vec::new(),
            other: Lane::default(),
        }
    }

    fn lane(&mut self, k: K, len: usize) -> &mut Lane {
        match self.keys.iter().position(|(q, _)| *q == k) {
            Some(p) => &mut self.keys[p].1,
            None if self.keys.len() < MAX_KEYS => {
                self.keys.push((k, Lane::with_len(len)));
                let last = self.keys.len() - 1;
                &mut self.keys[last].1
            }
            None => &mut self.other,
        }
    }

    fn lanes_mut(&mut self) -> impl Iterator<Item = &mut Lane> {
        self.keys
            .iter_mut()
            .map(|(_, l)| l)
            .chain(std::iter::once(&mut self.other))
    }
}

/// How the exchanges are broken down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Split {
    #[default]
    All,
    Api,
    Broker,
}

impl Split {
    pub fn next(self) -> Split {
        match self {
            Split::All => Split::Api,
            Split::Api => Split::Broker,
            Split::Broker => Split::All,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Split::All => "all",
            Split::Api => "by API",
            Split::Broker => "by broker",
        }
    }
}

/// How model buckets are shown: `per_column` consecutive buckets (aligned
/// on multiples of it) in each of `columns` columns, the first being group
/// `first` (group `g` covers `[g·per_column·width, (g+1)·per_column·width)`
/// ns since the epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub per_column: i128,
    pub first: i128,
    pub columns: usize,
    /// Nanoseconds per model bucket.
    pub width: i128,
}

impl Window {
    /// Nanoseconds a column covers.
    pub fn column_ns(&self) -> i128 {
        self.width.saturating_mul(self.per_column)
    }

    /// Start of column `c` in ns since the epoch.
    pub fn start_of(&self, c: usize) -> i128 {
        (self.first + c as i128).saturating_mul(self.column_ns())
    }

    /// The column holding time `ns`, clamped into the window.
    pub fn column_of(&self, ns: i128) -> usize {
        let g = ns.div_euclid(self.column_ns().max(1));
        let c = (g - self.first).clamp(0, self.columns.saturating_sub(1) as i128);
        c as usize
    }
}

/// A series shown: its label and one bucket per column.
#[derive(Clone, Debug)]
pub struct Shown {
    pub label: String,
    pub total: u64,
    pub columns: Vec<Bucket>,
}

/// The time series of the timeline's rows. See the module doc.
#[derive(Clone, Debug)]
pub struct Series {
    /// Index into [`WIDTHS`] (past its end: doublings of the last).
    step: usize,
    width: i128,
    /// Absolute index (time / width) of the first bucket.
    start: i128,
    len: usize,
    all: Lane,
    apis: Breakdown<ApiKey>,
    brokers: Breakdown<SocketAddr>,
}

impl Default for Series {
    fn default() -> Self {
        Series::new()
    }
}

/// Nanoseconds since the epoch of `t`.
pub fn nanos(t: Timestamp) -> i128 {
    t.as_nanos()
}

/// The timestamp `ns` nanoseconds after the epoch (clamped to what a
/// `Timestamp` holds).
pub fn timestamp(ns: i128) -> Timestamp {
    let secs = ns.div_euclid(1_000_000_000);
    let secs = secs.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    Timestamp::new(secs, ns.rem_euclid(1_000_000_000) as u32)
}

impl Series {
    pub fn new() -> Series {
        Series {
            step: 0,
            width: WIDTHS[0],
            start: 0,
            len: 0,
            all: Lane::default(),
            apis: Breakdown::new(),
            brokers: Breakdown::new(),
        }
    }

    /// Count one exchange.
    pub fn add(&mut self, it: &Sample) {
        let ns = nanos(it.ts);
        let Some(pos) = self.position(ns) else {
            return;
        };
        let len = self.len;
        let lanes = [
            &mut self.all,
            self.apis.lane(it.api_key, len),
            self.brokers.lane(it.broker, len),
        ];
        for lane in lanes {
            lane.total = lane.total.saturating_add(1);
            if let Some(b) = lane.buckets.get_mut(pos) {
                b.add(it);
            }
        }
    }

    /// The position of time `ns` among the buckets, making room for it
    /// (extending the range, merging buckets).
    fn position(&mut self, ns: i128) -> Option<usize> {
        if self.len == 0 {
            self.start = ns.div_euclid(self.width);
            self.resize_back(1);
            return Some(0);
        }
        let mut idx = ns.div_euclid(self.width);
        let mut end = self.start + self.len as i128 - 1;
        // Climb the widths until the span from the first bucket to the last
        // (this one included) fits.
        while idx.max(end) - idx.min(self.start) + 1 > MAX_BUCKETS as i128 {
            self.widen();
            idx = ns.div_euclid(self.width);
            end = self.start + self.len as i128 - 1;
        }
        if idx < self.start {
            self.resize_front((self.start - idx) as usize);
        } else if idx > end {
            self.resize_back((idx - end) as usize);
        }
        usize::try_from(idx - self.start).ok()
    }

    fn each_lane(&mut self, mut f: impl FnMut(&mut Lane)) {
        f(&mut self.all);
        self.apis.lanes_mut().for_each(&mut f);
        self.brokers.lanes_mut().for_each(&mut f);
    }

    fn resize_front(&mut self, n: usize) {
        self.each_lane(|l| {
            for _ in 0..n {
                l.buckets.push_front(Bucket::default());
            }
        });
        self.start -= n as i128;
        self.len += n;
    }

    fn resize_back(&mut self, n: usize) {
        self.each_lane(|l| {
            for _ in 0..n {
                l.buckets.push_back(Bucket::default());
            }
        });
        self.len += n;
    }

    /// Go to the next width, merging buckets into it.
    fn widen(&mut self) {
        self.step += 1;
        let next = match WIDTHS.get(self.step) {
            Some(&w) => w,
            None => self.width.saturating_mul(2),
        };
        let factor = (next / self.width).max(1);
        let start = self.start;
        let new_start = start.div_euclid(factor);
        let new_len = ((start + self.len as i128 - 1).div_euclid(factor) - new_start + 1) as usize;
        self.each_lane(|l| {
            let mut merged: VecDeque<Bucket> = std::iter::repeat_with(Bucket::default)
                .take(new_len)
                .collect();
            for (i, b) in l.buckets.drain(..).enumerate() {
                let at = ((start + i as i128).div_euclid(factor) - new_start) as usize;
                if let Some(m) = merged.get_mut(at) {
                    m.merge(&b);
                }
            }
            l.buckets = merged;
        });
        self.width = next;
        self.start = new_start;
        self.len = new_len;
    }

    /// Nanoseconds per bucket.
    pub fn width(&self) -> i128 {
        self.width
    }

    /// Buckets per lane.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Exchanges counted.
    pub fn exchanges(&self) -> u64 {
        self.all.total
    }

    /// Time of the start of the first bucket and of the end of the last,
    /// in ns since the epoch.
    pub fn span(&self) -> Option<(i128, i128)> {
        (self.len > 0).then(|| {
            (
                self.start.saturating_mul(self.width),
                (self.start + self.len as i128).saturating_mul(self.width),
            )
        })
    }

    /// The buckets in `columns` columns (at least 1): the whole range,
    /// consecutive buckets shown together when it is wider than that; or,
    /// when `newest` (a live tail), one bucket per column and the newest
    /// `columns` of them.
    pub fn window(&self, columns: usize, newest: bool) -> Window {
        let columns = columns.max(1) as i128;
        let w = Window {
            per_column: 1,
            first: self.start,
            columns: 0,
            width: self.width,
        };
        if self.len == 0 {
            return w;
        }
        let end = self.start + self.len.max(1) as i128 - 1;
        let mut k = if newest {
            1
        } else {
            ((self.len as i128 + columns - 1) / columns).max(1)
        };
        let groups = |k: i128| end.div_euclid(k) - self.start.div_euclid(k) + 1;
        while !newest && groups(k) > columns {
            k += 1;
        }
        let first = if newest {
            self.start.max(end - columns + 1)
        } else {
            self.start.div_euclid(k)
        };
        Window {
            per_column: k,
            first,
            columns: (end.div_euclid(k) - first + 1).clamp(0, columns) as usize,
            width: self.width,
        }
    }

    fn columns_of(&self, lane: &Lane, w: &Window) -> Vec<Bucket> {
        let mut out: Vec<Bucket> = std::iter::repeat_with(Bucket::default)
            .take(w.columns)
            .collect();
        for (i, b) in lane.buckets.iter().enumerate() {
            let g = (self.start + i as i128).div_euclid(w.per_column.max(1)) - w.first;
            if let Ok(g) = usize::try_from(g)
                && let Some(c) = out.get_mut(g)
            {
                c.merge(b);
            }
        }
        out
    }

    /// All exchanges, one bucket per column of `w`.
    pub fn all(&self, w: &Window) -> Vec<Bucket> {
        self.columns_of(&self.all, w)
    }

    /// The series of `split`, at most `max` of them (at least 1): the
    /// busiest keys, and, when there are more (or some never had a lane),
    /// one "other" summing the rest. Busiest first, "other" last.
    pub fn shown(&self, split: Split, max: usize, w: &Window) -> Vec<Shown> {
        let max = max.max(1);
        let mut keyed: Vec<(String, &Lane)> = match split {
            Split::All => {
                return vec![Shown {
                    label: "all".into(),
                    total: self.all.total,
                    columns: self.all(w),
                }];
            }
            Split::Api => self
                .apis
                .keys
                .iter()
                .map(|(k, l)| (k.name().to_string(), l))
                .collect(),
            Split::Broker => self
                .brokers
                .keys
                .iter()
                .map(|(k, l)| (k.to_string(), l))
                .collect(),
        };
        let other = match split {
            Split::Api => &self.apis.other,
            _ => &self.brokers.other,
        };
        keyed.sort_by(|a, b| b.1.total.cmp(&a.1.total).then(a.0.cmp(&b.0)));
        let needs_other = other.total > 0 || keyed.len() > max;
        let own = if needs_other { max - 1 } else { keyed.len() };
        let mut out: Vec<Shown> = keyed
            .iter()
            .take(own)
            .map(|(label, l)| Shown {
                label: label.clone(),
                total: l.total,
                columns: self.columns_of(l, w),
            })
            .collect();
        if needs_other {
            let mut rest = self.columns_of(other, w);
            let mut total = other.total;
            for (_, l) in keyed.iter().skip(own) {
                total += l.total;
                for (c, b) in rest.iter_mut().zip(self.columns_of(l, w)) {
                    c.merge(&b);
                }
            }
            out.push(Shown {
                label: "other".into(),
                total,
                columns: rest,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{MessageInfo, NoResponseReason};

    fn at(ms: i64) -> Timestamp {
        timestamp(i128::from(ms) * MS + 1_700_000_000_000 * MS)
    }

    fn info(frame: u64, ts: Timestamp) -> MessageInfo {
        MessageInfo {
            frame,
            first_frame: frame,
            ts,
            size: 100,
            lost_bytes: 0,
        }
    }

    /// An exchange of `api` to broker port `port` at `ms` (after a fixed
    /// epoch), answered after `lat_us` with the error `code` (0: none).
    fn item(frame: u64, ms: i64, api: i16, port: u16, lat_us: i64, code: i16) -> Exchange {
        let req = info(frame, at(ms));
        let resp = info(
            frame + 1,
            timestamp(nanos(req.ts) + i128::from(lat_us) * 1000),
        );
        Exchange {
            stream: 0,
            client: "127.0.0.1:5000".parse().unwrap(),
            broker: SocketAddr::from(([127, 0, 0, 1], port)),
            api_key: ApiKey(api),
            api_version: 9,
            correlation_id: 1,
            client_id: None,
            request: req,
            response: Some(resp),
            status: if code == 0 { Status::Ok } else { Status::Error },
            errors: (code != 0)
                .then(|| ErrorRef {
                    path: "errorCode".into(),
                    code,
                    name: ErrorCode(code).name(),
                })
                .into_iter()
                .collect(),
            request_body: None,
            response_body: None,
            capture: 0,
            broker_side: None,
        }
    }

    /// Count `e` as `kwire report` does.
    trait AddExchange {
        fn add_exchange(&mut self, e: &Exchange);
    }

    impl AddExchange for Series {
        fn add_exchange(&mut self, e: &Exchange) {
            let mut codes = Vec::new();
            distinct_codes(&e.errors, &mut codes);
            self.add(&Sample::of_exchange(e, &codes));
        }
    }

    const PRODUCE: i16 = 0;
    const METADATA: i16 = 3;
    const API_VERSIONS: i16 = 18;
    const NOT_LEADER: i16 = 6;

    #[test]
    fn sketch_is_within_its_bound() {
        let mut s = Sketch::default();
        assert_eq!(s.percentile(0.99), None);
        for us in [1i64, 7, 63, 64, 1000, 12_345, 5_000_000, 1 << 40] {
            let mut one = Sketch::default();
            one.record(us);
            // One value: exact (clamped to min and max).
            assert_eq!(one.percentile(0.5), Some(us));
            s.record(us);
        }
        let mut s = Sketch::default();
        for us in 1..=1000 {
            s.record(us);
        }
        let p = s.percentile(0.99).unwrap();
        assert!((p - 990).abs() as f64 <= 990.0 * 0.125, "{p}");
        // Negative latencies (hostile timestamps) land in the first slot,
        // reported as 0.
        s.record(-5);
        assert_eq!(s.percentile(0.0), Some(0));
    }

    #[test]
    fn buckets_count_requests_problems_bytes_and_frames() {
        let mut s = Series::new();
        s.add_exchange(&item(10, 0, PRODUCE, 9092, 100, 0));
        s.add_exchange(&item(12, 0, PRODUCE, 9092, 300, NOT_LEADER));
        s.add_exchange(&item(14, 0, METADATA, 9093, 200, 0));
        assert_eq!(s.len(), 1);
        assert_eq!(s.width(), MS);
        let w = s.window(10, false);
        let all = s.all(&w);
        assert_eq!(all.len(), 1);
        let b = &all[0];
        assert_eq!((b.requests, b.problems, b.bytes), (3, 1, 600));
        assert_eq!(b.frames(), Some((10, 14)));
        assert_eq!(b.p99(), Some(300));
        assert_eq!(b.errors.top(), vec![(Problem::Code(NOT_LEADER), 1)]);
        assert_eq!(b.problem_frames, vec![12]);
    }

    #[test]
    fn problem_frames_are_bounded_and_merged_lowest_first() {
        let mut s = Series::new();
        // 20 errors 10 ms apart: 200 ms in 1 ms buckets, then 500 ms
        // later more, so that buckets merge.
        for i in 0..20u64 {
            s.add_exchange(&item(100 - i, i as i64 * 10, PRODUCE, 9092, 10, NOT_LEADER));
        }
        s.add_exchange(&item(500, 5000, PRODUCE, 9092, 10, NOT_LEADER));
        let all = s.all(&s.window(1, false));
        assert_eq!(all[0].problems, 21);
        assert_eq!(all[0].problem_frames.len(), MAX_PROBLEM_FRAMES);
        assert_eq!(all[0].problem_frames, (81..=88).collect::<Vec<u64>>());
    }

    #[test]
    fn negotiation_is_not_a_problem_and_no_response_is() {
        let mut s = Series::new();
        // ApiVersions answered UNSUPPORTED_VERSION (35): the negotiation.
        let mut neg = item(1, 0, API_VERSIONS, 9092, 50, 35);
        neg.api_version = 3;
        s.add_exchange(&neg);
        let mut lost = item(3, 0, PRODUCE, 9092, 0, 0);
        lost.response = None;
        lost.status = Status::NoResponse(NoResponseReason::ConnectionClosed);
        s.add_exchange(&lost);
        let all = s.all(&s.window(10, false));
        assert_eq!((all[0].requests, all[0].problems), (2, 1));
        assert_eq!(all[0].errors.top(), vec![(Problem::NoResponse, 1)]);
        // The unanswered one has no latency: p99 is the negotiation's.
        assert_eq!(all[0].p99(), Some(50));
        // A response that does not decode is a problem too.
        let mut bad = item(5, 0, PRODUCE, 9092, 70, 0);
        bad.status = Status::Malformed;
        s.add_exchange(&bad);
        let all = s.all(&s.window(10, false));
        assert_eq!(all[0].problems, 2);
        assert!(all[0].errors.top().contains(&(Problem::Malformed, 1)));
    }

    #[test]
    fn span_picks_the_width_and_buckets_merge_instead_of_growing() {
        let mut s = Series::new();
        // 21 s of one exchange every 10 ms.
        for i in 0..2100 {
            s.add_exchange(&item(i, i as i64 * 10, PRODUCE, 9092, 100, 0));
        }
        assert_eq!(s.width(), 100 * MS, "21 s in at most 240 buckets");
        assert!(s.len() <= MAX_BUCKETS);
        assert_eq!(s.len(), 210);
        assert_eq!(s.exchanges(), 2100);
        let all = s.all(&s.window(MAX_BUCKETS, false));
        assert!(all.iter().all(|b| b.requests == 10), "merged, not lost");
        assert_eq!(all.iter().map(|b| b.requests).sum::<u64>(), 2100);
        // Merged buckets keep their first and last frames.
        assert_eq!(all[0].frames(), Some((0, 9)));
        assert_eq!(all[209].frames(), Some((2090, 2099)));
    }

    #[test]
    fn a_window_groups_buckets_to_fit_the_columns() {
        let mut s = Series::new();
        for i in 0..2100 {
            s.add_exchange(&item(i, i as i64 * 10, PRODUCE, 9092, 100, 0));
        }
        let w = s.window(70, false);
        // 210 buckets: 3 a column, or 4 when the first group is cut short
        // (groups are aligned on multiples of their width).
        assert!((3..=4).contains(&w.per_column), "{w:?}");
        assert!(w.columns <= 70 && w.columns >= 53, "{w:?}");
        assert!(s.window(70, false).columns <= 70);
        let all = s.all(&w);
        assert_eq!(all.iter().map(|b| b.requests).sum::<u64>(), 2100);
        // The column of a time and the start of a column agree.
        for c in 0..w.columns {
            assert_eq!(w.column_of(w.start_of(c)), c);
        }
        // A live tail: the newest 70 buckets, one per column.
        let tail = s.window(70, true);
        assert_eq!((tail.per_column, tail.columns), (1, 70));
        let cols = s.all(&tail);
        assert_eq!(cols[69].frames(), Some((2090, 2099)));
    }

    #[test]
    fn breakdown_keeps_the_busiest_and_sums_the_rest() {
        let mut s = Series::new();
        // API k has k+1 exchanges, for 20 APIs (more than MAX_KEYS).
        let mut frame = 0;
        for api in 0..20i16 {
            for _ in 0..=api {
                s.add_exchange(&item(frame, 0, api, 9092, 10, 0));
                frame += 2;
            }
        }
        let w = s.window(10, false);
        let shown = s.shown(Split::Api, 5, &w);
        assert_eq!(shown.len(), 5);
        // APIs 0..16 have lanes (the first seen); 16..20 went to "other".
        // The busiest with a lane are 15, 14, 13, 12.
        let totals: Vec<u64> = shown.iter().map(|s| s.total).collect();
        assert_eq!(&totals[..4], &[16, 15, 14, 13]);
        assert_eq!(shown[4].label, "other");
        let all: u64 = (1..=20).sum();
        assert_eq!(totals.iter().sum::<u64>(), all);
        let cols: u64 = shown.iter().map(|s| s.columns[0].requests).sum();
        assert_eq!(cols, all);
        // Brokers: one, no "other".
        let b = s.shown(Split::Broker, 5, &w);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].label, "127.0.0.1:9092");
        assert_eq!(s.shown(Split::All, 5, &w)[0].total, all);
    }

    #[test]
    fn empty_and_one_exchange() {
        let s = Series::new();
        assert!(s.is_empty());
        assert_eq!(s.span(), None);
        let w = s.window(80, false);
        assert_eq!(w.columns, 0);
        assert!(s.all(&w).is_empty());
        assert!(s.shown(Split::Api, 5, &w).is_empty());

        let mut s = Series::new();
        s.add_exchange(&item(4, 0, PRODUCE, 9092, 100, 0));
        let w = s.window(80, false);
        assert_eq!(w.columns, 1);
        assert_eq!(s.all(&w)[0].requests, 1);
        assert_eq!(w.column_of(0), 0);
        assert_eq!(w.column_of(i128::MAX), 0);
    }

    #[test]
    fn time_going_backwards_or_jumping_stays_bounded() {
        let mut s = Series::new();
        s.add_exchange(&item(1, 1000, PRODUCE, 9092, 100, 0));
        // Earlier: extends the range at the front.
        s.add_exchange(&item(2, 900, PRODUCE, 9092, 100, 0));
        assert_eq!(s.width(), MS);
        assert_eq!(s.len(), 101);
        assert_eq!(s.all(&s.window(200, false))[0].frames(), Some((2, 2)));
        // Far earlier (the epoch) and far later (centuries): the width
        // climbs, the buckets stay bounded, every exchange is counted.
        let mut early = item(3, 0, PRODUCE, 9092, 100, 0);
        early.request.ts = Timestamp::new(0, 0);
        s.add_exchange(&early);
        let mut late = item(4, 0, PRODUCE, 9092, 100, 0);
        late.request.ts = Timestamp::new(i64::MAX, 999_999_999);
        s.add_exchange(&late);
        let mut before = item(5, 0, PRODUCE, 9092, 100, 0);
        before.request.ts = Timestamp::new(i64::MIN, 0);
        s.add_exchange(&before);
        assert!(s.len() <= MAX_BUCKETS, "{}", s.len());
        assert_eq!(s.exchanges(), 5);
        let cols = s.all(&s.window(MAX_BUCKETS, false));
        assert_eq!(cols.iter().map(|b| b.requests).sum::<u64>(), 5);
        // A response before its request: no latency, no panic.
        let mut odd = item(6, 0, PRODUCE, 9092, -5, 0);
        odd.request.ts = Timestamp::new(i64::MAX, 0);
        s.add_exchange(&odd);
        assert_eq!(s.exchanges(), 6);
    }
}
