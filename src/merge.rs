//! Several captures read as one: one per host, as fleets capture them
//! (`kwire export client.pcap broker.pcap`).
//!
//! 1. **Clocks** ([`clock`]): each capture is read once for the TCP
//!    segments it shares with the others; how far each clock is from the
//!    first capture's follows from them ([`plan`]).
//! 2. **One time line**: the captures are read again side by side, each
//!    packet taken in order of its time on the first capture's clock
//!    ([`Interleave`]) and numbered in that order (the frame numbers of the
//!    merged capture `kwire merge` writes). Each capture has its own
//!    analysis ([`crate::session::Analyzer`]): a connection seen at both
//!    ends is two connections, one per vantage point.
//! 3. **One set of exchanges** ([`pair::Merger`]): an exchange both
//!    captures saw (same connection, correlation id and API) is folded into
//!    one: the client's side (the one that saw the request first) with the
//!    broker's side beside it, so that the client's latency splits into the
//!    broker's time and the network's. Connection indexes are made unique
//!    (`stream × captures + capture`).
//!
//! Bounded: the clock samples ([`clock::MAX_SYNC_SEGMENTS`]), the records
//! held while their match may still come ([`MAX_MERGE_HELD`], a `limit`
//! event when reached), and the memory budget, shared out among the
//! captures' analyses.

pub mod clock;
pub mod pair;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use foldhash::{HashMap, HashMapExt};

use crate::capture::file::FileSource;
use crate::capture::link::{self, Decoded};
use crate::capture::{CaptureError, LinkType, Packet, PacketSource, Timestamp};
use crate::session::{
    Analyzer, CaptureClock, CaptureInfo, ClockFrom, MergedCapture, Record, RecordSink,
    SessionConfig, Summary,
};
use crate::tcp::TcpConfig;

pub use pair::Merger;

/// Captures read as one, at most.
pub const MAX_CAPTURES: usize = 64;

/// Records held at once while a second capture's view of an exchange may
/// still come: beyond it the oldest goes on unmatched (a `limit` event).
pub const MAX_MERGE_HELD: usize = 65_536;

/// Body bytes held at once by those records: beyond it the oldest goes on
/// unmatched too (a `limit` event), so that large messages cannot pile up.
pub const MAX_MERGE_HELD_BYTES: usize = 256 << 20;

/// How long after an exchange completed a second capture's view of it may
/// complete (plus the clock offset's error): the network's one-way time
/// between the two vantage points, with room.
pub const MERGE_WINDOW_NS: i128 = 2_000_000_000;

/// The clocks of several captures, and which connections are the same
/// behind NAT: what reading them as one needs.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub clocks: Vec<CaptureClock>,
    /// A capture's connection (its index, then client and server in
    /// address order) that another capture saw under other addresses: the
    /// first capture's addresses for it.
    pub aliases: HashMap<(u16, SocketAddr, SocketAddr), (SocketAddr, SocketAddr)>,
}

impl Plan {
    /// The widest error of the offsets, ns.
    pub fn error_ns(&self) -> i128 {
        self.clocks.iter().map(|c| c.error_ns).max().unwrap_or(0)
    }
}

/// Read each capture for the segments it shares with the others, and set
/// their clocks against the first one's.
pub fn plan(paths: &[String]) -> Result<Plan, CaptureError> {
    plan_counting(paths, &std::sync::atomic::AtomicU64::new(0))
}

/// [`plan`], with the bytes read of all the files so far in `read` (for a
/// progress display).
pub fn plan_counting(
    paths: &[String],
    read: &std::sync::atomic::AtomicU64,
) -> Result<Plan, CaptureError> {
    /// Packets between updates of `read`.
    const EVERY: u32 = 4096;
    let mut samples = Vec::with_capacity(paths.len());
    let mut before = 0u64;
    for p in paths {
        let mut src = FileSource::open(p)?;
        let bytes = src.bytes_read();
        let mut seg = clock::Segments::default();
        let mut n = 0u32;
        // A damaged file gives the segments read before the damage; the
        // analysis reports the damage.
        while let Ok(Some(pkt)) = src.next_packet() {
            if let Decoded::Tcp(s) = link::decode(pkt.link_type, pkt.data) {
                seg.observe(pkt.ts, &s);
            }
            n += 1;
            if n >= EVERY {
                n = 0;
                read.store(before + bytes.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        before += bytes.load(Ordering::Relaxed);
        read.store(before, Ordering::Relaxed);
        samples.push(seg);
    }
    Ok(plan_from(&samples))
}

/// [`plan`] from the captures' samples: compare every pair, then set the
/// clocks outward from the first capture along the pairs that share the
/// most segments (a maximum spanning tree).
pub fn plan_from(samples: &[clock::Segments]) -> Plan {
    let n = samples.len();
    let mut est: HashMap<(usize, usize), (clock::Offset, clock::ConnMatch)> = HashMap::new();
    for i in 0..n {
        for j in i + 1..n {
            if let (Some(a), Some(b)) = (samples.get(i), samples.get(j))
                && let Some(e) = clock::estimate(a, b)
            {
                est.insert((i, j), e);
            }
        }
    }
    let mut clocks = vec![
        CaptureClock {
            from: ClockFrom::Unknown,
            ..CaptureClock::default()
        };
        n
    ];
    if let Some(c) = clocks.first_mut() {
        c.from = ClockFrom::Reference;
    }
    let mut set = vec![false; n];
    if let Some(s) = set.first_mut() {
        *s = true;
    }
    let mut aliases = HashMap::new();
    loop {
        // The strongest link from a set capture to one not yet set.
        let mut best: Option<(usize, usize, u64)> = None;
        for (&(i, j), (off, _)) in &est {
            let (from, to) = match (set.get(i), set.get(j)) {
                (Some(true), Some(false)) => (i, j),
                (Some(false), Some(true)) => (j, i),
                _ => continue,
            };
            if best.is_none_or(|(_, _, s)| off.shared > s) {
                best = Some((from, to, off.shared));
            }
        }
        let Some((from, to, _)) = best else { break };
        let key = (from.min(to), from.max(to));
        let Some((off, matched)) = est.get(&key) else {
            break;
        };
        // `off` is how far key.1's clock is ahead of key.0's (at
        // `off.at_ns`, drifting by `off.drift_ppb`).
        let (ahead, drift) = if from < to {
            (off.offset_ns, off.drift_ppb)
        } else {
            (-off.offset_ns, -off.drift_ppb)
        };
        let base = clocks.get(from).copied().unwrap_or_default();
        if let Some(c) = clocks.get_mut(to) {
            *c = CaptureClock {
                offset_ns: base.offset_at(off.at_ns) + ahead,
                drift_ppb: base.drift_ppb.saturating_add(drift),
                at_ns: off.at_ns,
                error_ns: base.error_ns + off.error_ns,
                shared_segments: off.shared,
                shared_connections: off.connections,
                compared_with: Some(from as u16),
                from: if off.inconsistent {
                    ClockFrom::Rough
                } else {
                    ClockFrom::Segments
                },
            };
        }
        if let Some(s) = set.get_mut(to) {
            *s = true;
        }
        // The same connection under other addresses (NAT): named as the
        // capture set first names it.
        for &(a, b) in matched {
            let (mine, theirs) = if from < to { (a, b) } else { (b, a) };
            if mine == theirs {
                continue;
            }
            let name = aliases
                .get(&(from as u16, mine.0, mine.1))
                .copied()
                .unwrap_or(mine);
            if aliases.len() < clock::MAX_SYNC_CONNECTIONS {
                aliases.insert((to as u16, theirs.0, theirs.1), name);
            }
        }
    }
    Plan { clocks, aliases }
}

/// One capture's next packet, copied out of its source so that the
/// captures' heads can be compared.
struct Head {
    frame: u64,
    /// On the first capture's clock.
    ts: Timestamp,
    link_type: LinkType,
    data: Vec<u8>,
    orig_len: u32,
}

/// Packets of several captures in order of their time on the first
/// capture's clock.
pub struct Interleave {
    sources: Vec<Box<dyn PacketSource>>,
    clocks: Vec<CaptureClock>,
    heads: Vec<Option<Head>>,
    /// Buffers of heads taken, for the next ones.
    spare: Vec<Vec<u8>>,
    ended: Vec<bool>,
    /// The capture whose head the last call lent out.
    taken: Option<usize>,
    /// Errors that ended a capture early, by capture.
    pub errors: Vec<Option<String>>,
    frame: u64,
}

/// One packet of [`Interleave`]: which capture, its own frame number
/// there, and the packet as the merged capture has it.
pub struct Merged<'a> {
    pub capture: usize,
    pub original_frame: u64,
    pub packet: Packet<'a>,
}

/// A timestamp moved back by `ns` (saturating at the representable range).
pub fn shift(ts: Timestamp, ns: i128) -> Timestamp {
    let t = ts.as_nanos().saturating_sub(ns);
    let secs = t.div_euclid(1_000_000_000);
    let nanos = t.rem_euclid(1_000_000_000) as u32;
    Timestamp::new(
        secs.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
        nanos,
    )
}

impl Interleave {
    /// The captures with their clocks (each capture's timestamps are moved
    /// back by its offset at that time).
    pub fn new(sources: Vec<Box<dyn PacketSource>>, clocks: Vec<CaptureClock>) -> Self {
        let n = sources.len();
        Interleave {
            sources,
            clocks,
            heads: (0..n).map(|_| None).collect(),
            spare: vec![Vec::new(); n],
            ended: vec![false; n],
            taken: None,
            errors: vec![None; n],
            frame: 0,
        }
    }

    fn fill(&mut self) {
        for k in 0..self.sources.len() {
            if self.ended.get(k) != Some(&false) || self.heads.get(k).is_some_and(Option::is_some) {
                continue;
            }
            let clock = self.clocks.get(k).copied().unwrap_or_default();
            let mut data = self
                .spare
                .get_mut(k)
                .map(std::mem::take)
                .unwrap_or_default();
            let Some(src) = self.sources.get_mut(k) else {
                continue;
            };
            let head = match src.next_packet() {
                Ok(Some(p)) => {
                    data.clear();
                    data.extend_from_slice(p.data);
                    Some(Head {
                        frame: p.frame,
                        ts: shift(p.ts, clock.offset_of_own(p.ts.as_nanos())),
                        link_type: p.link_type,
                        data,
                        orig_len: p.orig_len,
                    })
                }
                Ok(None) => None,
                Err(e) => {
                    if let Some(slot) = self.errors.get_mut(k) {
                        *slot = Some(e.to_string());
                    }
                    None
                }
            };
            if head.is_none()
                && let Some(e) = self.ended.get_mut(k)
            {
                *e = true;
            }
            if let Some(h) = self.heads.get_mut(k) {
                *h = head;
            }
        }
    }

    /// The next packet of all the captures, earliest first (ties: the
    /// capture given first); `None` when all have ended.
    pub fn next_merged(&mut self) -> Option<Merged<'_>> {
        if let Some(k) = self.taken.take()
            && let Some(h) = self.heads.get_mut(k).and_then(Option::take)
            && let Some(s) = self.spare.get_mut(k)
        {
            *s = h.data;
        }
        self.fill();
        let k = self
            .heads
            .iter()
            .enumerate()
            .filter_map(|(k, h)| h.as_ref().map(|h| (h.ts, k)))
            .min()?
            .1;
        self.taken = Some(k);
        self.frame += 1;
        let h = self.heads.get(k)?.as_ref()?;
        Some(Merged {
            capture: k,
            original_frame: h.frame,
            packet: Packet {
                frame: self.frame,
                ts: h.ts,
                link_type: h.link_type,
                data: &h.data,
                orig_len: h.orig_len,
            },
        })
    }
}

/// One capture's records, handed to the merger after each packet.
#[derive(Default)]
struct Tap(Vec<Record>);

impl RecordSink for Tap {
    fn record(&mut self, r: Record) -> std::io::Result<()> {
        self.0.push(r);
        Ok(())
    }
}

/// The capture record of several captures read as one.
pub fn merged_info(infos: &[CaptureInfo], plan: &Plan) -> CaptureInfo {
    let mut link_types: Vec<LinkType> = Vec::new();
    for i in infos {
        for l in &i.link_types {
            if !link_types.contains(l) {
                link_types.push(*l);
            }
        }
    }
    CaptureInfo {
        source: infos
            .iter()
            .map(|i| i.source.as_str())
            .collect::<Vec<_>>()
            .join(" + "),
        format: infos
            .first()
            .map_or(crate::capture::SourceFormat::Pcap, |i| i.format),
        link_types,
        filter: None,
        merged: infos
            .iter()
            .enumerate()
            .map(|(k, i)| MergedCapture {
                source: i.source.clone(),
                format: i.format,
                link_types: i.link_types.clone(),
                clock: plan.clocks.get(k).copied().unwrap_or_default(),
            })
            .collect(),
    }
}

/// Read several captures as one into `sink`: each through its own
/// analysis, packets in order of their time on the first capture's clock,
/// the exchanges two captures saw folded into one ([`Merger`]). Stops
/// reading when `stop` is set. The records `sink` gets are what one
/// capture's analysis gives, with the merged capture record first
/// ([`merged_info`]) and the merged summary last.
pub fn drive<S: RecordSink>(
    inputs: Vec<(Box<dyn PacketSource>, CaptureInfo)>,
    plan: &Plan,
    tcp: TcpConfig,
    session: SessionConfig,
    sink: S,
    stop: &AtomicBool,
) -> std::io::Result<(S, Summary)> {
    let n = inputs.len().max(1);
    let per = SessionConfig {
        max_memory: (session.max_memory / n).max(1),
        ..session
    };
    let infos: Vec<CaptureInfo> = inputs.iter().map(|(_, i)| i.clone()).collect();
    let window = MERGE_WINDOW_NS + 2 * plan.error_ns().max(0);
    let mut merger = Merger::new(sink, n, plan.aliases.clone(), window);
    merger.begin(merged_info(&infos, plan))?;
    let mut analyzers = Vec::with_capacity(n);
    let mut sources = Vec::with_capacity(n);
    for (src, info) in inputs {
        let mut a = Analyzer::new(tcp.clone(), per.clone(), Tap::default());
        a.begin(info)?;
        analyzers.push(a);
        sources.push(src);
    }
    let clocks = (0..n)
        .map(|k| plan.clocks.get(k).copied().unwrap_or_default())
        .collect();
    let mut il = Interleave::new(sources, clocks);
    for (k, a) in analyzers.iter_mut().enumerate() {
        merger.take(k, &mut a.sink_mut().0)?;
    }
    while !stop.load(Ordering::Relaxed) {
        let Some(m) = il.next_merged() else { break };
        let k = m.capture;
        let now = m.packet.ts;
        let Some(a) = analyzers.get_mut(k) else {
            continue;
        };
        a.packet(&m.packet)?;
        merger.take(k, &mut a.sink_mut().0)?;
        merger.advance(now)?;
    }
    for (k, a) in analyzers.into_iter().enumerate() {
        let mut a = a;
        if let Some(Some(e)) = il.errors.get(k) {
            a.capture_error(e.clone());
        }
        let (mut tap, _) = a.finish()?;
        merger.take(k, &mut tap.0)?;
    }
    merger.finish()
}

/// Several capture files opened to be read as one, their clocks set.
pub struct Captures {
    pub inputs: Vec<(Box<dyn PacketSource>, CaptureInfo)>,
    pub plan: Plan,
    /// Bytes read of each file so far (for a progress display).
    pub read: Vec<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    /// The files' sizes added up, when every one is a regular file.
    pub total: Option<u64>,
}

impl Captures {
    /// Read the files' shared segments ([`plan`]), then open them again
    /// for the analysis. Files only (each is read twice; `-` cannot be).
    pub fn open(paths: &[String]) -> Result<Captures, CaptureError> {
        Captures::with_plan(paths, plan(paths)?)
    }

    /// Open the files for the analysis, their clocks set by `plan`.
    pub fn with_plan(paths: &[String], plan: Plan) -> Result<Captures, CaptureError> {
        let mut inputs = Vec::with_capacity(paths.len());
        let mut read = Vec::with_capacity(paths.len());
        let mut total = Some(0u64);
        for p in paths {
            let src = FileSource::open(p)?;
            read.push(src.bytes_read());
            let size = std::fs::metadata(p)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len());
            total = total.zip(size).map(|(t, s)| t + s);
            let info = CaptureInfo {
                source: p.clone(),
                format: src.format(),
                link_types: src.link_types(),
                filter: None,
                merged: Vec::new(),
            };
            inputs.push((Box::new(src) as Box<dyn PacketSource>, info));
        }
        Ok(Captures {
            inputs,
            plan,
            read,
            total,
        })
    }

    /// Read them as one into `sink` ([`drive`]).
    pub fn drive<S: RecordSink>(
        self,
        tcp: TcpConfig,
        session: SessionConfig,
        sink: S,
        stop: &AtomicBool,
    ) -> std::io::Result<(S, Summary)> {
        drive(self.inputs, &self.plan, tcp, session, sink, stop)
    }
}
