//! Consumer-group trouble, classic and KIP-848: rebalance storms, members
//! that stopped heartbeating, rejected commits, fenced members,
//! coordinator moves and loading; normal membership changes as
//! information.
//!
//! Built on [`Groups`], the incremental model of every group's
//! generations, members and steps: this detector feeds it and reads it
//! when asked for findings. A *rebalance* is a move from one generation
//! (KIP-848: group epoch) seen to the next; each is classified by who
//! joined and who departed between the two:
//!
//! - a member in the new generation that was not in the old one and sent
//!   a join (JoinGroup, ConsumerGroupHeartbeat with epoch 0) *joined*;
//! - a member of the old generation missing from the new one *left
//!   cleanly* when it sent LeaveGroup (or epoch -1/-2); it *left late* when
//!   that leave was answered with an error (the coordinator removed it
//!   later: the leave is never a signal to rejoin); else it *vanished*:
//!   the coordinator removed it, after its session timeout when its last
//!   sign of life is at least [`SESSION_TOLERANCE`] × `sessionTimeoutMs`
//!   (from its JoinGroup; [`DEFAULT_SESSION_TIMEOUT_MS`] when not seen)
//!   before the new generation;
//! - with the same members on both sides, the rebalance was asked for by
//!   a member (it rejoined on its own: a subscription or topic metadata
//!   change, normal) unless the coordinator told members to rejoin first
//!   (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
//!   FENCED_MEMBER_EPOCH to a member of the old generation): then nothing
//!   in the capture explains it.
//!
//! Joins, clean leaves and voluntary rejoins are normal membership changes
//! (info), unless there are [`STORM_REBALANCES`] or more within
//! [`STORM_WINDOW_US`] (a storm: warning). Vanished members and
//! unexplained rebalances are warnings. Heartbeat (or commit)
//! REBALANCE_IN_PROGRESS and ILLEGAL_GENERATION during a normal membership
//! change are the coordinator's ordinary rejoin signal and are folded into
//! the information, not raised.
//!
//! Each rebalance is classified once, here, and every finding about it
//! carries that view ([`About::Rebalance`]); a group's rebalance findings
//! are told as one story, and the Diagnoser folds findings about the same
//! rebalance (a rejected commit, a fenced member) into it.
//!
//! Contract: never panics; memory is that of [`Groups`] (bounded by its
//! [`GroupLimits`](crate::analysis::groups::GroupLimits)) plus at most
//! [`MAX_SESSION_TIMEOUTS`] remembered session timeouts.

use foldhash::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::capture::Timestamp;
use crate::kafka::ApiKey;
use crate::kafka::errors::ErrorCode;
use crate::kafka::schema::MessageKind;
use crate::kafka::schema::views::{JoinGroupRequest, JoinGroupResponse};
use crate::session::Exchange;

use super::super::groups::{GroupFlow, GroupProtocolKind, Groups, Step, StepKind, view_of};
use super::{About, Context, Detector, Finding, Severity};
use crate::present::{duration, times};

/// Rebalances within [`STORM_WINDOW_US`] that make a storm. One member
/// restarting costs two rebalances (it leaves, it joins); a healthy group
/// settles after one or two. Five in a minute is more than two restarts'
/// worth: members keep joining and leaving or being thrown out
/// (`max.poll.interval.ms` exceeded, session timeouts), and an eager group
/// stops consuming at every one.
pub const STORM_REBALANCES: usize = 5;
/// The window [`STORM_REBALANCES`] is counted in: one minute.
pub const STORM_WINDOW_US: i64 = 60_000_000;
/// The broker's default session timeout (`session.timeout.ms` since Kafka
/// 3.0, `group.consumer.session.timeout.ms` for KIP-848), used when the
/// member's JoinGroup was not captured or the protocol does not carry it.
pub const DEFAULT_SESSION_TIMEOUT_MS: i64 = 45_000;
/// A member silent for at least this fraction of its session timeout
/// before the generation that dropped it timed out; the coordinator checks
/// expiry against heartbeats it received, which the capture saw a little
/// earlier or later.
pub const SESSION_TOLERANCE: f64 = 0.8;
/// Session timeouts remembered (group, member).
pub const MAX_SESSION_TIMEOUTS: usize = 100_000;

/// Connections remembered (for the streams a finding lists).
pub const MAX_CONNECTIONS: usize = 65_536;

/// The findings that tell of a group's rebalances (folded into one story
/// per group).
const STORIES: &[&str] = &[
    "rebalance_storm",
    "membership_change",
    "rebalance_unexplained",
    "member_timed_out",
    "member_dropped",
    "leave_refused",
];

/// This family's detectors.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    vec![Box::new(GroupTrouble::default())]
}

/// The detector: the groups model, plus what it does not keep.
#[derive(Debug, Default)]
pub struct GroupTrouble {
    groups: Groups,
    seen: usize,
    /// (group, member id) → `sessionTimeoutMs` from its JoinGroup.
    session_ms: HashMap<(String, String), i64>,
    /// (client, broker) → the stream of the latest connection between
    /// them: steps carry addresses, findings list streams.
    streams: HashMap<(SocketAddr, SocketAddr), u64>,
    /// The latest time seen: where the capture ends so far.
    end: Option<Timestamp>,
}

impl GroupTrouble {
    fn saw(&mut self, ts: Timestamp) {
        if self.end.is_none_or(|e| ts > e) {
            self.end = Some(ts);
        }
    }
}

impl Detector for GroupTrouble {
    fn exchange(&mut self, e: &Exchange, cx: &Context<'_>) {
        self.groups.observe(self.seen, e, cx.names);
        self.seen = self.seen.saturating_add(1);
        self.saw(e.response.map_or(e.request.ts, |r| r.ts));
        let pair = (e.client, e.broker);
        if self.streams.len() < MAX_CONNECTIONS || self.streams.contains_key(&pair) {
            self.streams.insert(pair, e.stream);
        }
        if e.api_key == ApiKey::JOIN_GROUP
            && let Some(q) = e
                .request_body
                .as_deref()
                .and_then(|b| view_of(b, e.api_key, MessageKind::Request))
                .map(JoinGroupRequest)
            && let Some(ms) = q.session_timeout_ms()
            && let Some(group) = q.group_id()
        {
            let member = q.member_id().filter(|m| !m.is_empty()).or_else(|| {
                e.response_body
                    .as_deref()
                    .and_then(|b| view_of(b, e.api_key, MessageKind::Response))
                    .map(JoinGroupResponse)
                    .and_then(|r| r.member_id())
                    .filter(|m| !m.is_empty())
            });
            if let Some(m) = member {
                let key = (group.to_string(), m.to_string());
                if self.session_ms.len() < MAX_SESSION_TIMEOUTS
                    || self.session_ms.contains_key(&key)
                {
                    self.session_ms.insert(key, i64::from(ms));
                }
            }
        }
    }

    fn event(&mut self, ev: &crate::session::Event, _cx: &Context<'_>) {
        self.saw(ev.at.ts);
    }

    fn findings(&self, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        for flow in self.groups.iter() {
            let a = Analysis {
                flow,
                session_ms: &self.session_ms,
                streams: &self.streams,
                end: self.end,
            };
            a.run(out);
        }
    }
}

/// How a member left between two generations.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Departure {
    /// LeaveGroup, or ConsumerGroupHeartbeat epoch -1/-2.
    Clean,
    /// Silent for its session timeout: the coordinator expired it.
    TimedOut { silent_us: i64, session_ms: i64 },
    /// Removed sooner: it did not rejoin the rebalance in time.
    Dropped { silent_us: i64 },
    /// It asked to leave, but the coordinator answered its leave (`api`,
    /// request `frame`) with `code` and removed it only `waited_us` later
    /// (its session timed out, or it had already been removed): it left,
    /// late.
    LeaveRefused {
        api: &'static str,
        code: &'static str,
        frame: u64,
        waited_us: i64,
    },
}

/// One rebalance: the move from generation `prev` to `next`.
#[derive(Debug)]
struct Rebalance {
    prev: i32,
    next: i32,
    /// When the new generation was first seen, and where.
    ts: Timestamp,
    frame: u64,
    joined: Vec<String>,
    departed: Vec<(String, Departure)>,
    /// Errors telling members of `prev` to rejoin, before `next`: (frame, ts,
    /// api step label, code name).
    told: Vec<(u64, &'static str, &'static str)>,
}

impl Rebalance {
    fn membership_change(&self) -> bool {
        !self.joined.is_empty() || !self.departed.is_empty()
    }
    /// Nothing but joins, leaves (refused ones included: the member asked
    /// to go), or a member rejoining on its own.
    fn normal(&self) -> bool {
        self.departed
            .iter()
            .all(|(_, d)| matches!(d, Departure::Clean | Departure::LeaveRefused { .. }))
            && (self.membership_change() || self.told.is_empty())
    }

    /// What findings say of it, as data.
    fn about(&self, group: &str) -> About {
        About::Rebalance {
            group: group.to_string(),
            from: self.prev,
            to: Some(self.next),
            membership_change: self.membership_change(),
        }
    }
}

/// A code telling a member to rejoin (or that it is no longer one).
fn rejoin_signal(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::REBALANCE_IN_PROGRESS
            | ErrorCode::ILLEGAL_GENERATION
            | ErrorCode::UNKNOWN_MEMBER_ID
            | ErrorCode::FENCED_MEMBER_EPOCH
            | ErrorCode::STALE_MEMBER_EPOCH
    )
}

fn is_coordinator_code(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
            | ErrorCode::COORDINATOR_NOT_AVAILABLE
            | ErrorCode::NOT_COORDINATOR
    )
}

/// Another consumer uses the member's `group.instance.id` (static
/// membership).
fn instance_conflict(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::FENCED_INSTANCE_ID | ErrorCode::UNRELEASED_INSTANCE_ID
    )
}

fn is_join(s: &Step) -> bool {
    matches!(
        s.kind,
        StepKind::Join { .. }
            | StepKind::ConsumerHeartbeat {
                request_epoch: 0,
                ..
            }
    )
}

fn is_leave(s: &Step) -> bool {
    matches!(
        s.kind,
        StepKind::Leave { .. }
            | StepKind::ConsumerHeartbeat {
                request_epoch: ..=-1,
                ..
            }
    )
}

fn is_commit(s: &Step) -> bool {
    matches!(s.kind, StepKind::OffsetCommit { .. })
}

fn api_of(s: &Step) -> &'static str {
    match &s.kind {
        StepKind::FindCoordinator { .. } => "FindCoordinator",
        StepKind::Join { .. } => "JoinGroup",
        StepKind::Sync { .. } => "SyncGroup",
        StepKind::Heartbeat => "Heartbeat",
        StepKind::Leave { .. } => "LeaveGroup",
        StepKind::OffsetCommit {
            transactional: true,
            ..
        } => "TxnOffsetCommit",
        StepKind::OffsetCommit { .. } => "OffsetCommit",
        StepKind::OffsetFetch { .. } => "OffsetFetch",
        StepKind::ConsumerHeartbeat { .. } => "ConsumerGroupHeartbeat",
        StepKind::Other(name) => name,
    }
}

fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [init @ .., last] => format!("{}, and {last}", init.join(", ")),
    }
}

/// `a joined (generation 3) and left (generation 4)`: the subject is not
/// repeated when consecutive parts share it.
fn prose(parts: &[(String, String)]) -> String {
    let mut items = Vec::new();
    let mut prev: Option<&str> = None;
    for (who, what) in parts {
        if prev == Some(who.as_str()) {
            items.push(what.clone());
        } else {
            items.push(format!("{who} {what}"));
        }
        prev = Some(who);
    }
    list(&items)
}

/// `Heartbeat REBALANCE_IN_PROGRESS ×2, OffsetCommit ILLEGAL_GENERATION`.
fn tally(signals: &[(u64, &str, &str)]) -> Vec<String> {
    let mut by: Vec<(&str, &str, u64)> = Vec::new();
    for (_, api, code) in signals {
        match by.iter_mut().find(|(a, c, _)| a == api && c == code) {
            Some((_, _, k)) => *k += 1,
            None => by.push((api, code, 1)),
        }
    }
    by.iter()
        .map(|(a, c, k)| {
            if *k > 1 {
                format!("{a} {c} ×{k}")
            } else {
                format!("{a} {c}")
            }
        })
        .collect()
}

/// One group, read for findings.
struct Analysis<'a> {
    flow: &'a GroupFlow,
    session_ms: &'a HashMap<(String, String), i64>,
    streams: &'a HashMap<(SocketAddr, SocketAddr), u64>,
    end: Option<Timestamp>,
}

impl Analysis<'_> {
    fn run(&self, out: &mut Vec<Finding>) {
        let start = out.len();
        self.run_all(out);
        self.one_story(start, out);
        for f in &mut out[start..] {
            f.frames.sort_unstable();
        }
    }

    /// The group's rebalances told as one story: when several findings
    /// (from `start`) tell of its rebalances (normal ones, unexplained ones,
    /// members that timed out or were refused their leave), the most severe
    /// tells the story and the others are said in it.
    fn one_story(&self, start: usize, out: &mut Vec<Finding>) {
        let stories: Vec<usize> = (start..out.len())
            .filter(|&i| STORIES.contains(&out[i].code) && !out[i].about.is_empty())
            .collect();
        let Some(&main) = stories
            .iter()
            .max_by_key(|&&i| (out[i].severity, out[i].count, std::cmp::Reverse(i)))
        else {
            return;
        };
        for &i in stories.iter().rev() {
            if i == main {
                continue;
            }
            let f = out.remove(i);
            let main = if i < main { main - 1 } else { main };
            let same = f
                .about
                .iter()
                .all(|a| out[main].about.iter().any(|b| a.same_event(b)));
            let what = if same { "the same rebalance" } else { "also" };
            out[main].absorb(f, what);
        }
    }

    fn run_all(&self, out: &mut Vec<Finding>) {
        let rebalances = self.rebalances();
        self.rebalance_findings(&rebalances, out);
        self.silent_members(&rebalances, out);
        self.late_leaves(&rebalances, out);
        self.commits(&rebalances, out);
        self.fenced(&rebalances, out);
        self.coordinator(out);
        self.other_errors(out);
    }

    fn base(&self, severity: Severity, code: &'static str, title: String) -> Finding {
        let mut f = Finding::new(severity, code, title);
        f.group(&self.flow.group_id);
        f
    }

    /// A member by client id when that is unambiguous, else by member id.
    fn who(&self, member: &str) -> String {
        let Some(m) = self.flow.member(member) else {
            return member.to_string();
        };
        match &m.client_id {
            Some(c)
                if self
                    .flow
                    .members
                    .iter()
                    .filter(|x| x.client_id.as_ref() == Some(c))
                    .count()
                    == 1 =>
            {
                c.clone()
            }
            Some(c) => format!("{c} ({member})"),
            None => member.to_string(),
        }
    }

    /// The step's connection: its stream (when known) and broker.
    fn conn(&self, f: &mut Finding, s: &Step) {
        if let Some(&stream) = self.streams.get(&(s.client, s.broker)) {
            f.stream(stream);
        }
        f.broker(s.broker);
    }

    fn note_member(&self, f: &mut Finding, member: &str) {
        if let Some(c) = self.flow.member(member).and_then(|m| m.client_id.as_ref()) {
            f.client(c);
        }
    }

    fn steps_of<'s>(&'s self, member: &'s str) -> impl Iterator<Item = &'s Step> + 's {
        self.flow
            .steps
            .iter()
            .filter(move |s| s.member.as_deref() == Some(member))
    }

    /// The step's member had left (LeaveGroup, epoch -1/-2) before it: an
    /// answer to a request sent while shutting down.
    fn left_before(&self, s: &Step) -> bool {
        s.member.as_deref().is_some_and(|m| {
            self.steps_of(m)
                .any(|x| is_leave(x) && x.ts < s.ts && x.error.is_none())
        })
    }

    /// `member` sent a join in `(from, to]`.
    fn joined_between(&self, member: &str, from: Timestamp, to: Timestamp) -> bool {
        self.steps_of(member)
            .any(|s| is_join(s) && s.ts > from && s.ts <= to)
    }

    fn session_of(&self, member: &str) -> i64 {
        self.session_ms
            .get(&(self.flow.group_id.clone(), member.to_string()))
            .copied()
            .filter(|ms| *ms > 0)
            .unwrap_or(DEFAULT_SESSION_TIMEOUT_MS)
    }

    /// The member's last sign of life before `ts`.
    fn last_seen_before(&self, member: &str, ts: Timestamp) -> Option<Timestamp> {
        self.steps_of(member)
            .filter(|s| s.ts < ts)
            .map(|s| if s.last_ts < ts { s.last_ts } else { s.ts })
            .max()
    }

    fn departure(&self, member: &str, from: Timestamp, to: Timestamp) -> Departure {
        if self
            .steps_of(member)
            .any(|s| is_leave(s) && s.ts <= to && s.error.is_none())
        {
            return Departure::Clean;
        }
        // A leave answered with an error still says the member went; the
        // coordinator removed it later.
        if let Some(l) = self
            .steps_of(member)
            .filter(|s| is_leave(s) && s.ts <= to)
            .last()
        {
            return Departure::LeaveRefused {
                api: api_of(l),
                code: l.error.map_or("", |(_, n)| n),
                frame: l.frame,
                waited_us: to.micros_since(l.ts),
            };
        }
        let last = self.last_seen_before(member, to).unwrap_or(from);
        let silent_us = to.micros_since(last);
        let session_ms = self.session_of(member);
        if silent_us as f64 >= SESSION_TOLERANCE * session_ms as f64 * 1000.0 {
            Departure::TimedOut {
                silent_us,
                session_ms,
            }
        } else {
            Departure::Dropped { silent_us }
        }
    }

    fn rebalances(&self) -> Vec<Rebalance> {
        let gens = &self.flow.generations;
        let mut out = Vec::new();
        for i in 1..gens.len() {
            let (prev, next) = (&gens[i - 1], &gens[i]);
            let mut joined = Vec::new();
            for m in &next.members {
                if prev.members.contains(m) {
                    continue;
                }
                // Back after skipping an epoch, without joining again: not
                // a join.
                let earlier = gens[..i - 1].iter().rev().find(|g| g.members.contains(m));
                match earlier {
                    Some(g) if !self.joined_between(m, g.ts, next.ts) => {}
                    _ => joined.push(m.clone()),
                }
            }
            let mut departed = Vec::new();
            for m in &prev.members {
                if next.members.contains(m) {
                    continue;
                }
                // Skipped this epoch but still a member later.
                let later = gens[i + 1..].iter().find(|g| g.members.contains(m));
                if let Some(g) = later
                    && !self.joined_between(m, prev.ts, g.ts)
                {
                    continue;
                }
                departed.push((m.clone(), (prev.ts, next.ts)));
            }
            let told: Vec<(u64, &'static str, &'static str, Timestamp)> = self
                .flow
                .steps
                .iter()
                .filter(|s| {
                    s.ts >= prev.ts
                        && s.ts < next.ts
                        && s.generation.is_none_or(|g| g <= prev.id)
                        && s.member
                            .as_deref()
                            .is_some_and(|m| prev.members.iter().any(|x| x == m))
                        && s.error.is_some_and(|(c, _)| rejoin_signal(ErrorCode(c)))
                        && !is_leave(s)
                        && !self.left_before(s)
                })
                .map(|s| (s.frame, api_of(s), s.error.map_or("", |(_, n)| n), s.ts))
                .collect();
            // The coordinator noticed the departure when it first told the
            // others to rejoin; else when the new generation formed.
            let noticed = told.iter().map(|t| t.3).min().unwrap_or(next.ts);
            let departed = departed
                .into_iter()
                .map(|(m, (from, _))| {
                    let d = self.departure(&m, from, noticed.min(next.ts));
                    (m, d)
                })
                .collect();
            let told = told.into_iter().map(|(f, a, n, _)| (f, a, n)).collect();
            out.push(Rebalance {
                prev: prev.id,
                next: next.id,
                ts: next.ts,
                frame: next.frame,
                joined,
                departed,
                told,
            });
        }
        out
    }

    /// The rebalance a step at `ts` belongs to: the first one whose new
    /// generation is seen after it.
    fn rebalance_at<'r>(
        &self,
        rebalances: &'r [Rebalance],
        ts: Timestamp,
    ) -> Option<&'r Rebalance> {
        rebalances.iter().find(|r| r.ts >= ts)
    }

    /// Another member joined or left around `ts` with no new generation seen
    /// yet (the capture ends during the rebalance).
    fn change_pending(&self, since: Timestamp) -> bool {
        self.flow.steps.iter().any(|s| {
            s.ts >= since
                && (is_leave(s)
                    || matches!(s.kind, StepKind::Join { rejoin: false, .. })
                    || matches!(
                        s.kind,
                        StepKind::ConsumerHeartbeat {
                            request_epoch: 0,
                            ..
                        }
                    ))
        })
    }

    /// A step at `ts` happened during a normal membership change.
    fn during_normal_change(&self, rebalances: &[Rebalance], s: &Step) -> bool {
        match self.rebalance_at(rebalances, s.ts) {
            Some(r) => r.normal() && r.membership_change(),
            None => {
                let since = self
                    .flow
                    .current_generation()
                    .map_or(s.ts, |g| g.ts.min(s.ts));
                self.change_pending(since)
            }
        }
    }

    /// What happened in a rebalance, one part per member: `billing-2
    /// joined (generation 3)`.
    fn describe(&self, r: &Rebalance, unit: &str) -> Vec<(String, String)> {
        let mut parts = Vec::new();
        let g = r.next;
        for m in &r.joined {
            parts.push((self.who(m), format!("joined ({unit} {g})")));
        }
        for (m, d) in &r.departed {
            parts.push((
                self.who(m),
                match d {
                    Departure::Clean => format!("left ({unit} {g})"),
                    Departure::LeaveRefused {
                        api,
                        code,
                        frame,
                        waited_us,
                    } => format!(
                        "left ({unit} {g}, {} after its {api} of frame {frame} was answered {code})",
                        duration(*waited_us)
                    ),
                    Departure::TimedOut { silent_us, .. } => format!(
                        "timed out after {} silent ({unit} {g})",
                        duration(*silent_us)
                    ),
                    Departure::Dropped { silent_us } => format!(
                        "was dropped without leaving, {} after its last request ({unit} {g})",
                        duration(*silent_us)
                    ),
                },
            ));
        }
        if parts.is_empty() {
            let prev_ts = self.flow.generation(r.prev).map_or(r.ts, |x| x.ts);
            let first = self
                .flow
                .steps
                .iter()
                .find(|s| is_join(s) && s.ts > prev_ts && s.ts <= r.ts)
                .and_then(|s| s.member.as_deref())
                .map_or_else(|| "the members".to_string(), |m| self.who(m));
            if r.told.is_empty() {
                parts.push((
                    first,
                    format!(
                        "rejoined on its own ({unit} {g}: a subscription or topic metadata change)"
                    ),
                ));
            } else {
                parts.push((first, format!("rejoined when told to ({unit} {g})")));
            }
        }
        parts
    }

    fn rebalance_findings(&self, rebalances: &[Rebalance], out: &mut Vec<Finding>) {
        if rebalances.is_empty() {
            return;
        }
        let unit = if self.flow.kind == GroupProtocolKind::Consumer {
            "epoch"
        } else {
            "generation"
        };
        // The most rebalances within any window.
        let mut most = 0;
        for (i, r) in rebalances.iter().enumerate() {
            let n = rebalances[i..]
                .iter()
                .take_while(|x| x.ts.micros_since(r.ts) < STORM_WINDOW_US)
                .count();
            most = most.max(n);
        }
        let span = rebalances[rebalances.len() - 1]
            .ts
            .micros_since(rebalances[0].ts);
        let group = &self.flow.group_id;
        let normal: Vec<&Rebalance> = rebalances.iter().filter(|r| r.normal()).collect();
        if most >= STORM_REBALANCES {
            let joins: usize = rebalances.iter().map(|r| r.joined.len()).sum();
            let leaves: usize = rebalances.iter().map(|r| r.departed.len()).sum();
            let mut f = self.base(
                Severity::Warning,
                "rebalance_storm",
                format!(
                    "group {group} rebalanced {} times in {} (up to {most} within a minute): members joined {} and left {}; consumption pauses at every rebalance",
                    rebalances.len(),
                    duration(span),
                    times(joins as u64),
                    times(leaves as u64),
                ),
            );
            f.count = rebalances.len() as u64;
            for r in rebalances {
                f.about(r.about(group));
                f.frame(r.frame);
                f.at(r.ts);
                for m in r.joined.iter().chain(r.departed.iter().map(|(m, _)| m)) {
                    self.note_member(&mut f, m);
                }
                f.details.push(format!(
                    "{unit} {} → {}: {}",
                    r.prev,
                    r.next,
                    prose(&self.describe(r, unit))
                ));
            }
            f.details.push(format!(
                "a storm is {STORM_REBALANCES} or more rebalances within a minute; static membership (group.instance.id) avoids rebalances on restarts"
            ));
            out.push(f);
            return;
        }
        if !normal.is_empty() {
            let mut parts = Vec::new();
            for r in &normal {
                parts.extend(self.describe(r, unit));
            }
            let n = normal.len() as u64;
            let when = if n > 1 {
                let span = normal[normal.len() - 1].ts.micros_since(normal[0].ts);
                format!(" in {}", duration(span))
            } else {
                String::new()
            };
            // Leaves the coordinator refused: the member went, but its
            // partitions waited for the coordinator to remove it.
            let refused: Vec<(&String, &Departure)> = normal
                .iter()
                .flat_map(|r| r.departed.iter())
                .filter(|(_, d)| matches!(d, Departure::LeaveRefused { .. }))
                .map(|(m, d)| (m, d))
                .collect();
            let (severity, tail) = if refused.is_empty() {
                if normal.iter().all(|r| r.membership_change()) {
                    (Severity::Info, "normal membership changes")
                } else {
                    (Severity::Info, "normal rebalances")
                }
            } else {
                (
                    Severity::Warning,
                    "membership changes, a leave among them refused: the group waited for the coordinator to remove the member",
                )
            };
            let mut f = self.base(
                severity,
                "membership_change",
                format!(
                    "group {group} rebalanced {}{when}: {}; {tail}",
                    times(n),
                    prose(&parts)
                ),
            );
            f.count = n;
            for (m, d) in refused {
                if let Departure::LeaveRefused {
                    api,
                    code,
                    frame,
                    waited_us,
                } = d
                {
                    let session_ms = self.session_of(m);
                    let why = if *waited_us as f64 >= SESSION_TOLERANCE * session_ms as f64 * 1000.0
                    {
                        format!("when its session timed out (sessionTimeoutMs {session_ms})")
                    } else {
                        "before its session timeout".to_string()
                    };
                    f.details.push(format!(
                        "{}'s {api} (frame {frame}) was answered {code}: the coordinator did not take it as a leave and removed the member {} later, {why}; its partitions were not consumed meanwhile",
                        self.who(m),
                        duration(*waited_us)
                    ));
                }
            }
            for r in &normal {
                f.about(r.about(group));
                f.frame(r.frame);
                f.at(r.ts);
                for m in &r.joined {
                    self.note_member(&mut f, m);
                    if let Some(s) = self.steps_of(m).find(|s| is_join(s) && s.ts <= r.ts) {
                        f.frame(s.frame);
                    }
                }
                for (m, _) in &r.departed {
                    self.note_member(&mut f, m);
                    if let Some(s) = self.steps_of(m).find(|s| is_leave(s)) {
                        f.frame(s.frame);
                    }
                }
                if !r.told.is_empty() {
                    let frames: Vec<String> = r.told.iter().map(|t| t.0.to_string()).collect();
                    f.details.push(format!(
                        "{unit} {} → {}: {} (frame{} {}): the coordinator's ordinary rejoin signal",
                        r.prev,
                        r.next,
                        tally(&r.told).join(", "),
                        if frames.len() == 1 { "" } else { "s" },
                        frames.join(", ")
                    ));
                }
            }
            out.push(f);
        }
        // Rebalances with the same members that the coordinator started.
        let unexplained: Vec<&Rebalance> = rebalances
            .iter()
            .filter(|r| !r.membership_change() && !r.told.is_empty())
            .collect();
        let pending = self.pending_unexplained(rebalances);
        if !unexplained.is_empty() || !pending.is_empty() {
            let n = unexplained.len() as u64 + u64::from(!pending.is_empty());
            let mut signals: Vec<(u64, &str, &str)> = Vec::new();
            for r in &unexplained {
                signals.extend(r.told.iter().copied());
            }
            signals.extend(pending.iter().copied());
            let codes = tally(&signals);
            let gens: Vec<String> = unexplained
                .iter()
                .map(|r| format!("{} → {}", r.prev, r.next))
                .collect();
            let mut title = format!(
                "group {group} rebalanced {} with no member joining or leaving; members were told to rejoin ({})",
                times(n),
                codes.join(", ")
            );
            if !gens.is_empty() {
                let _ = write!(title, "; {unit}s {}", gens.join(", "));
            }
            if !pending.is_empty() {
                title.push_str("; the last one had not finished when the capture ended");
            }
            let mut f = self.base(Severity::Warning, "rebalance_unexplained", title);
            f.count = n;
            for r in &unexplained {
                f.about(r.about(group));
            }
            if !pending.is_empty()
                && let Some(cur) = self.flow.current_generation()
            {
                f.about(About::Rebalance {
                    group: group.clone(),
                    from: cur.id,
                    to: None,
                    membership_change: false,
                });
            }
            for (fr, _, _) in &signals {
                f.frame(*fr);
            }
            for r in &unexplained {
                f.frame(r.frame);
                f.at(r.ts);
            }
            for s in &self.flow.steps {
                if signals.iter().any(|(fr, _, _)| *fr == s.frame) {
                    f.at(s.ts);
                    self.conn(&mut f, s);
                    if let Some(m) = s.member.as_deref() {
                        self.note_member(&mut f, m);
                    }
                }
            }
            f.details.push(
                "something outside the capture started these rebalances: a member not captured, a change of the subscribed topics' partitions, or the coordinator (a restart, a migration)"
                    .to_string(),
            );
            out.push(f);
        }
    }

    /// Rejoin signals after the last generation seen, with no member
    /// joining or leaving since: a rebalance the capture does not see end.
    fn pending_unexplained(
        &self,
        rebalances: &[Rebalance],
    ) -> Vec<(u64, &'static str, &'static str)> {
        let Some(cur) = self.flow.current_generation() else {
            return Vec::new();
        };
        if rebalances.last().is_some_and(|r| r.ts > cur.ts) {
            return Vec::new();
        }
        let signals: Vec<(u64, &'static str, &'static str)> = self
            .flow
            .steps
            .iter()
            .filter(|s| {
                s.ts >= cur.ts
                    && s.generation.is_none_or(|g| g >= cur.id)
                    && s.error.is_some_and(|(c, _)| rejoin_signal(ErrorCode(c)))
                    && !is_leave(s)
                    && !self.left_before(s)
            })
            .map(|s| (s.frame, api_of(s), s.error.map_or("", |(_, n)| n)))
            .collect();
        if signals.is_empty() || self.change_pending(cur.ts) {
            return Vec::new();
        }
        signals
    }

    /// Members that stopped without leaving: dropped by a later generation,
    /// or silent past their session timeout at the end of the capture.
    fn silent_members(&self, rebalances: &[Rebalance], out: &mut Vec<Finding>) {
        let group = &self.flow.group_id;
        for r in rebalances {
            for (m, d) in &r.departed {
                let (silent_us, what) = match d {
                    Departure::Clean | Departure::LeaveRefused { .. } => continue,
                    Departure::TimedOut {
                        silent_us,
                        session_ms,
                    } => (
                        *silent_us,
                        format!(
                            "its session timed out (sessionTimeoutMs {session_ms}): it crashed, hung or lost its network"
                        ),
                    ),
                    Departure::Dropped { silent_us } => (
                        *silent_us,
                        "it was removed before its session timeout: it did not rejoin the rebalance in time (max.poll.interval.ms or rebalance timeout)".to_string(),
                    ),
                };
                let code = match d {
                    Departure::TimedOut { .. } => "member_timed_out",
                    _ => "member_dropped",
                };
                let mut f = self.base(
                    Severity::Warning,
                    code,
                    format!(
                        "member {} of group {group} stopped heartbeating without leaving; the coordinator removed it after {} of silence and the group moved to generation {} without it: {what}",
                        self.who(m),
                        duration(silent_us),
                        r.next
                    ),
                );
                f.count = 1;
                f.about(r.about(group));
                let parts = self.describe(r, "generation");
                if parts.len() > 1 {
                    f.details.push(format!(
                        "generation {} → {}: {}",
                        r.prev,
                        r.next,
                        prose(&parts)
                    ));
                }
                self.note_member(&mut f, m);
                if let Some(last) = self.steps_of(m).filter(|s| s.ts < r.ts).last() {
                    f.frame(last.last_frame);
                    f.at(last.last_ts);
                    self.conn(&mut f, last);
                }
                f.frame(r.frame);
                f.at(r.ts);
                out.push(f);
            }
        }
        // Silent at the end of the capture, still a member.
        let Some(end) = self.end else {
            return;
        };
        for m in &self.flow.members {
            if m.left
                || rebalances
                    .iter()
                    .any(|r| r.departed.iter().any(|(x, _)| *x == m.member_id))
                    && self
                        .flow
                        .current_generation()
                        .is_some_and(|g| !g.members.contains(&m.member_id))
            {
                continue;
            }
            if m.generation.is_none() {
                continue;
            }
            let session_ms = self.session_of(&m.member_id);
            let silent_us = end.micros_since(m.last_ts);
            if (silent_us as f64) < session_ms as f64 * 1000.0 {
                continue;
            }
            let mut f = self.base(
                Severity::Warning,
                "member_timed_out",
                format!(
                    "member {} of group {group} stopped heartbeating without leaving {} before the capture ended, longer than its session timeout ({session_ms} ms): the coordinator will have removed it",
                    self.who(&m.member_id),
                    duration(silent_us)
                ),
            );
            f.count = 1;
            self.note_member(&mut f, &m.member_id);
            f.frame(m.last_frame);
            f.at(m.last_ts);
            out.push(f);
        }
    }

    fn commits(&self, rebalances: &[Rebalance], out: &mut Vec<Finding>) {
        // (code, normal) → steps
        let mut by: Vec<((ErrorCode, bool), Vec<&Step>)> = Vec::new();
        for s in &self.flow.steps {
            let Some((code, _)) = s.error else { continue };
            let code = ErrorCode(code);
            if !is_commit(s)
                || !matches!(
                    code,
                    ErrorCode::ILLEGAL_GENERATION
                        | ErrorCode::UNKNOWN_MEMBER_ID
                        | ErrorCode::REBALANCE_IN_PROGRESS
                        | ErrorCode::FENCED_INSTANCE_ID
                        | ErrorCode::FENCED_MEMBER_EPOCH
                        | ErrorCode::STALE_MEMBER_EPOCH
                )
            {
                continue;
            }
            let normal =
                code != ErrorCode::FENCED_INSTANCE_ID && self.during_normal_change(rebalances, s);
            match by.iter_mut().find(|(k, _)| *k == (code, normal)) {
                Some((_, v)) => v.push(s),
                None => by.push(((code, normal), vec![s])),
            }
        }
        let group = &self.flow.group_id;
        let current = self.flow.current_generation().map(|g| g.id);
        for ((code, normal), steps) in by {
            let name = code.name();
            let n: u64 = steps.iter().map(|s| u64::from(s.count)).sum();
            let mut whos: Vec<String> = Vec::new();
            let mut gens: Vec<i32> = Vec::new();
            for s in &steps {
                if let Some(m) = s.member.as_deref() {
                    let w = self.who(m);
                    if !whos.contains(&w) {
                        whos.push(w);
                    }
                }
                if let Some(g) = s.generation
                    && !gens.contains(&g)
                {
                    gens.push(g);
                }
            }
            let api = api_of(steps[0]);
            let from = if whos.is_empty() {
                String::new()
            } else {
                format!(" from {}", list(&whos))
            };
            let gen_list: Vec<String> = gens.iter().map(i32::to_string).collect();
            let gen_text = match (gens.as_slice(), current) {
                ([], _) => String::new(),
                ([g], Some(c)) if *g == c => format!(" (generation {g}, the latest seen)"),
                ([g], Some(c)) => format!(" (generation {g}, group now at {c})"),
                (_, Some(c)) => format!(" (generations {}, group now at {c})", gen_list.join(", ")),
                (_, None) => format!(" (generations {})", gen_list.join(", ")),
            };
            let count = if n > 1 {
                format!(" {}", times(n))
            } else {
                String::new()
            };
            let (severity, tail) = if code == ErrorCode::FENCED_INSTANCE_ID {
                (
                    Severity::Error,
                    "; another consumer uses the same group.instance.id",
                )
            } else if normal {
                (
                    Severity::Info,
                    " during membership changes, as expected; offsets consumed since the previous commit may be read again",
                )
            } else {
                (
                    Severity::Warning,
                    "; the offsets were not stored: the member must rejoin, and records since its previous commit may be consumed twice",
                )
            };
            let mut f = self.base(
                severity,
                "commit_rejected",
                format!("{api}{from} in group {group} rejected with {name}{count}{gen_text}{tail}"),
            );
            f.count = n;
            for s in &steps {
                if let Some(a) = self.about_at(rebalances, s.ts) {
                    f.about(a);
                }
                f.frame(s.frame);
                f.at(s.ts);
                self.conn(&mut f, s);
                if let Some(m) = s.member.as_deref() {
                    self.note_member(&mut f, m);
                }
            }
            out.push(f);
        }
    }

    /// The rebalance a step at `ts` is part of, as findings say it: the
    /// first whose new generation is seen after it, else the one the
    /// capture does not see end.
    fn about_at(&self, rebalances: &[Rebalance], ts: Timestamp) -> Option<About> {
        if let Some(r) = self.rebalance_at(rebalances, ts) {
            return Some(r.about(&self.flow.group_id));
        }
        let cur = self.flow.current_generation()?;
        Some(About::Rebalance {
            group: self.flow.group_id.clone(),
            from: cur.id,
            to: None,
            membership_change: self.change_pending(cur.ts),
        })
    }

    /// Leaves the coordinator refused after the last generation seen: the
    /// member went, and the capture ended before a generation without it.
    fn late_leaves(&self, rebalances: &[Rebalance], out: &mut Vec<Finding>) {
        let Some(cur) = self.flow.current_generation() else {
            return;
        };
        let group = &self.flow.group_id;
        let leaves: Vec<&Step> = self
            .flow
            .steps
            .iter()
            .filter(|s| is_leave(s) && s.error.is_some() && s.ts >= cur.ts && !self.left_before(s))
            .collect();
        if leaves.is_empty() {
            return;
        }
        let leaving: Vec<&str> = leaves.iter().filter_map(|s| s.member.as_deref()).collect();
        // Others stay, and wait for the coordinator to remove the member.
        let others = cur.members.iter().any(|m| !leaving.contains(&m.as_str()));
        let what: Vec<String> = leaves
            .iter()
            .map(|s| {
                let who = s
                    .member
                    .as_deref()
                    .map_or_else(|| s.client.to_string(), |m| self.who(m));
                format!(
                    "{who} ({} {}, frame {})",
                    api_of(s),
                    s.error.map_or("", |(_, n)| n),
                    s.frame
                )
            })
            .collect();
        let mut f = self.base(
            if others {
                Severity::Warning
            } else {
                Severity::Info
            },
            "leave_refused",
            format!(
                "the coordinator of group {group} refused the leave of {}: the member went, but the coordinator removes it only when its session times out; the capture ended first",
                list(&what)
            ),
        );
        f.count = leaves.len() as u64;
        if let Some(a) = self.about_at(rebalances, cur.ts.max(leaves[0].ts)) {
            f.about(a);
        }
        for s in &leaves {
            f.frame(s.frame);
            f.at(s.ts);
            self.conn(&mut f, s);
            if let Some(m) = s.member.as_deref() {
                self.note_member(&mut f, m);
            }
        }
        if others {
            f.details.push(
                "the members that stay wait for that rebalance: the leaving member's partitions are not consumed meanwhile".to_string(),
            );
        }
        out.push(f);
    }

    /// Membership requests answered "you are not a member (any more)".
    fn fenced(&self, rebalances: &[Rebalance], out: &mut Vec<Finding>) {
        let group = &self.flow.group_id;
        for s in &self.flow.steps {
            let Some((code, name)) = s.error else {
                continue;
            };
            let code = ErrorCode(code);
            let membership = matches!(
                s.kind,
                StepKind::Heartbeat | StepKind::Sync { .. } | StepKind::Join { .. }
            ) && matches!(
                code,
                ErrorCode::UNKNOWN_MEMBER_ID
                    | ErrorCode::ILLEGAL_GENERATION
                    | ErrorCode::FENCED_INSTANCE_ID
            ) || matches!(s.kind, StepKind::ConsumerHeartbeat { .. })
                && matches!(
                    code,
                    ErrorCode::UNKNOWN_MEMBER_ID
                        | ErrorCode::FENCED_MEMBER_EPOCH
                        | ErrorCode::STALE_MEMBER_EPOCH
                        | ErrorCode::UNRELEASED_INSTANCE_ID
                        | ErrorCode::FENCED_INSTANCE_ID
                );
            if !membership {
                continue;
            }
            let api = api_of(s);
            let who = s
                .member
                .as_deref()
                .map_or_else(|| s.client.to_string(), |m| self.who(m));
            let gen_text = s
                .generation
                .map(|g| {
                    format!(
                        " ({} {g})",
                        if matches!(s.kind, StepKind::ConsumerHeartbeat { .. }) {
                            "epoch"
                        } else {
                            "generation"
                        }
                    )
                })
                .unwrap_or_default();
            // After the member's own LeaveGroup: a shutdown race.
            let own_leave = s.member.as_deref().and_then(|m| {
                self.steps_of(m)
                    .find(|x| is_leave(x) && x.ts < s.ts && x.error.is_none())
            });
            let mut f = if let Some(l) = own_leave {
                let mut f = self.base(
                    Severity::Info,
                    "member_fenced",
                    format!(
                        "{api} from {who} in group {group} answered {name}{gen_text} after the member had already left (LeaveGroup frame {}): a shutdown race, harmless",
                        l.frame
                    ),
                );
                f.frame(l.frame);
                f
            } else {
                let rejoin = self.flow.steps.iter().find(|x| {
                    x.ts > s.ts && is_join(x) && x.client == s.client && x.error.is_none()
                });
                let severity = if instance_conflict(code) {
                    Severity::Error
                } else {
                    Severity::Warning
                };
                let after = match rejoin {
                    Some(j) => format!("; it rejoined (frame {})", j.frame),
                    None => "; no rejoin seen".to_string(),
                };
                let why = if instance_conflict(code) {
                    ": another consumer uses the same group.instance.id"
                } else {
                    ": the coordinator no longer counts it as a member (session expired or a newer generation); it loses its partitions"
                };
                let mut f = self.base(
                    severity,
                    "member_fenced",
                    format!(
                        "{api} from {who} in group {group} answered {name}{gen_text}{why}{after}"
                    ),
                );
                if let Some(j) = rejoin {
                    f.frame(j.frame);
                }
                if let Some(a) = self.about_at(rebalances, s.ts) {
                    f.about(a);
                }
                f
            };
            f.count = u64::from(s.count);
            let first = f.frames.clone();
            f.frames.clear();
            f.frame(s.frame);
            for x in first {
                f.frame(x);
            }
            f.at(s.ts);
            self.conn(&mut f, s);
            if let Some(m) = s.member.as_deref() {
                self.note_member(&mut f, m);
            }
            out.push(f);
        }
    }

    fn coordinator(&self, out: &mut Vec<Finding>) {
        let group = &self.flow.group_id;
        let mut counts: Vec<(&'static str, &'static str, u64)> = Vec::new();
        let mut f = self.base(Severity::Warning, "coordinator_unavailable", String::new());
        let mut open: Option<Timestamp> = None;
        let mut outages = 0u64;
        let mut longest = 0i64;
        // The step that ended the longest outage, and whether the last one ended.
        let mut worst: Option<&Step> = None;
        for s in &self.flow.steps {
            match s.error {
                Some((code, name)) if is_coordinator_code(ErrorCode(code)) => {
                    let api = api_of(s);
                    match counts.iter_mut().find(|(a, n, _)| *a == api && *n == name) {
                        Some((_, _, k)) => *k += u64::from(s.count),
                        None => counts.push((api, name, u64::from(s.count))),
                    }
                    f.count += u64::from(s.count);
                    f.frame(s.frame);
                    f.at(s.ts);
                    self.conn(&mut f, s);
                    f.broker(s.broker);
                    if let Some(m) = s.member.as_deref() {
                        self.note_member(&mut f, m);
                    }
                    if open.is_none() {
                        open = Some(s.ts);
                        outages += 1;
                    }
                }
                _ => {
                    if let Some(t) = open
                        && s.response_frame.is_some()
                        && !matches!(s.kind, StepKind::FindCoordinator { .. })
                    {
                        let lasted = s.ts.micros_since(t);
                        if worst.is_none() || lasted > longest {
                            longest = lasted;
                            worst = Some(s);
                        }
                        open = None;
                    }
                }
            }
        }
        if f.count > 0 {
            let what: Vec<String> = counts
                .iter()
                .map(|(a, n, k)| {
                    if *k > 1 {
                        format!("{a} {n} ×{k}")
                    } else {
                        format!("{a} {n}")
                    }
                })
                .collect();
            let mut title = format!(
                "group {group} could not reach its coordinator{}: {}",
                if outages > 1 {
                    format!(" {}", times(outages))
                } else {
                    String::new()
                },
                what.join(", ")
            );
            match (open, worst) {
                (None, Some(r)) if outages == 1 => {
                    let _ = write!(
                        title,
                        "; {} answered {} after the first error (frame {})",
                        api_of(r),
                        duration(longest),
                        r.frame
                    );
                    f.frame(r.frame);
                }
                (None, Some(r)) => {
                    let _ = write!(
                        title,
                        "; each time a coordinator answered again, after {} at worst ({}, frame {})",
                        duration(longest),
                        api_of(r),
                        r.frame
                    );
                    f.frame(r.frame);
                }
                _ => {
                    title.push_str("; no coordinator answered by the end of the capture");
                    f.severity = Severity::Error;
                }
            }
            f.title = title;
            f.details.push(
                "NOT_COORDINATOR: the broker asked is not (or no longer) the coordinator; COORDINATOR_NOT_AVAILABLE: no coordinator yet (offsets topic partition without a leader, broker starting); COORDINATOR_LOAD_IN_PROGRESS: the new coordinator is still loading the group's offsets after a move".to_string(),
            );
            out.push(f);
        }
        // Coordinator moves.
        if self.flow.coordinators.len() >= 2 {
            let brokers: Vec<String> = self
                .flow
                .coordinators
                .iter()
                .map(ToString::to_string)
                .collect();
            let mut f = self.base(
                Severity::Info,
                "coordinator_moved",
                format!(
                    "the coordinator of group {group} moved {}: {}",
                    times((self.flow.coordinators.len() - 1) as u64),
                    brokers.join(" → ")
                ),
            );
            f.count = (self.flow.coordinators.len() - 1) as u64;
            for b in self.flow.coordinators.iter().skip(1) {
                f.broker(*b);
                if let Some(s) = self.flow.steps.iter().find(|s| {
                    s.broker == *b
                        && s.response_frame.is_some()
                        && !matches!(s.kind, StepKind::FindCoordinator { .. })
                        && !s
                            .error
                            .is_some_and(|(c, _)| is_coordinator_code(ErrorCode(c)))
                }) {
                    f.frame(s.frame);
                    f.at(s.ts);
                }
            }
            f.details.push(
                "a coordinator moves when the leader of the group's __consumer_offsets partition changes: a broker restarted or partitions were reassigned".to_string(),
            );
            out.push(f);
        }
    }

    /// Group errors no other finding covers.
    fn other_errors(&self, out: &mut Vec<Finding>) {
        let mut by: Vec<((&'static str, ErrorCode), Finding)> = Vec::new();
        let group = &self.flow.group_id;
        for s in &self.flow.steps {
            let Some((code, name)) = s.error else {
                continue;
            };
            let code = ErrorCode(code);
            // MEMBER_ID_REQUIRED: JoinGroup v4+ asks a new member to come
            // back with the id it is given (KIP-394): part of every join,
            // not an error.
            let covered = code == ErrorCode::MEMBER_ID_REQUIRED
                || is_coordinator_code(code)
                || rejoin_signal(code)
                || instance_conflict(code)
                || name.ends_with("_AUTHORIZATION_FAILED");
            if covered {
                continue;
            }
            let api = api_of(s);
            let key = (api, code);
            let i = match by.iter().position(|(k, _)| *k == key) {
                Some(i) => i,
                None => {
                    let severity = if code.is_retriable() {
                        Severity::Warning
                    } else {
                        Severity::Error
                    };
                    by.push((key, self.base(severity, "group_error", String::new())));
                    by.len() - 1
                }
            };
            let f = &mut by[i].1;
            f.count += u64::from(s.count);
            f.frame(s.frame);
            f.at(s.ts);
            self.conn(f, s);
            if let Some(m) = s.member.as_deref() {
                self.note_member(f, m);
            }
        }
        for ((api, code), mut f) in by {
            let name = code.name();
            let from = if f.clients.is_empty() {
                String::new()
            } else {
                format!(" from {}", f.clients.join(", "))
            };
            f.title = format!(
                "{api}{from} in group {group} answered {name} {}",
                times(f.count)
            );
            if let Some(info) = code.info() {
                f.details.push(format!("{name}: {}", info.message));
            }
            out.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_as_prose() {
        assert_eq!(list(&[]), "");
        assert_eq!(list(&["a".into()]), "a");
        assert_eq!(list(&["a".into(), "b".into()]), "a and b");
        assert_eq!(list(&["a".into(), "b".into(), "c".into()]), "a, b, and c");
        assert_eq!(times(2), "twice");
        let parts = [
            ("b-2".to_string(), "joined (generation 3)".to_string()),
            ("b-2".to_string(), "left (generation 4)".to_string()),
            ("b-3".to_string(), "joined (generation 5)".to_string()),
        ];
        assert_eq!(
            prose(&parts),
            "b-2 joined (generation 3), left (generation 4), and b-3 joined (generation 5)"
        );
        let t = tally(&[
            (1, "Heartbeat", "X"),
            (2, "Heartbeat", "X"),
            (3, "OffsetCommit", "Y"),
        ]);
        assert_eq!(t, ["Heartbeat X ×2", "OffsetCommit Y"]);
    }

    #[test]
    fn signals() {
        assert!(rejoin_signal(ErrorCode::REBALANCE_IN_PROGRESS));
        assert!(!rejoin_signal(ErrorCode::NOT_COORDINATOR));
        assert!(is_coordinator_code(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS));
        assert!(instance_conflict(ErrorCode::UNRELEASED_INSTANCE_ID));
        assert!(!instance_conflict(ErrorCode::MEMBER_ID_REQUIRED));
    }
}
