//! How kwire says things, in every text it writes (the listing, the
//! statistics, the diagnosis, the UI): times, durations, sizes, counts with
//! their nouns, who a client is, and how an exchange ended. One place, so
//! that a latency or a status reads the same in `list`, `diagnose` and the
//! terminal UI.

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::capture::Timestamp;
use crate::kafka::ApiKey;
use crate::kafka::errors::ErrorCode;
use crate::session::{ErrorRef, Status};

// ------------------------------------------------------------------ time

/// `HH:MM:SS.micros` of a timestamp (UTC).
pub fn clock(t: Timestamp) -> String {
    let mut s = String::with_capacity(15);
    write_clock(&mut s, t);
    s
}

/// `HH:MM:SS.millis` of a timestamp (UTC): [`clock`] where room is short.
pub fn short_clock(t: Timestamp) -> String {
    let mut s = clock(t);
    s.truncate(12);
    s
}

/// [`clock`], written at the end of `out`.
pub fn write_clock(out: &mut String, t: Timestamp) {
    // As `{:02}:{:02}:{:02}.{:06}` would write it.
    let sod = t.secs.rem_euclid(86_400) as u64;
    push_zero_padded(out, sod / 3600, 2);
    out.push(':');
    push_zero_padded(out, (sod % 3600) / 60, 2);
    out.push(':');
    push_zero_padded(out, sod % 60, 2);
    out.push('.');
    push_zero_padded(out, u64::from(t.nanos / 1000), 6);
}

/// `v` in decimal, zeros before it up to `width` digits (`{:0width$}`).
pub fn push_zero_padded(out: &mut String, v: u64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(v);
    out.extend(std::iter::repeat_n('0', width.saturating_sub(digits.len())));
    out.push_str(digits);
}

/// A latency in the unit a reader expects.
pub fn latency(us: i64) -> String {
    let mut s = String::new();
    write_latency(&mut s, us);
    s
}

/// [`latency`], written at the end of `out`.
pub fn write_latency(out: &mut String, us: i64) {
    // `unsigned_abs`: hostile timestamps can make the difference i64::MIN.
    let _ = if us.unsigned_abs() < 1000 {
        write!(out, "{us}µs")
    } else if us.unsigned_abs() < 1_000_000 {
        write!(out, "{:.1}ms", us as f64 / 1000.0)
    } else {
        write!(out, "{:.2}s", us as f64 / 1_000_000.0)
    };
}

/// A signed span in seconds to the microsecond: `0.000093`, `-1.250000`
/// (times relative to another).
pub fn seconds(ns: i128) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let ns = ns.unsigned_abs();
    format!(
        "{sign}{}.{:06}",
        ns / 1_000_000_000,
        (ns % 1_000_000_000) / 1000
    )
}

/// How a capture read with others had its clock set: `clock 3.700000 s
/// ahead of capture 0 (±50µs, 1234 segments both saw)`, `the reference
/// clock`, `no traffic shared with the others: clock taken as it is`.
pub fn capture_clock(c: &crate::session::CaptureClock) -> String {
    use crate::session::ClockFrom;
    let with = c.compared_with.map_or(0, u64::from);
    let (dir, off) = if c.offset_ns >= 0 {
        ("ahead of", c.offset_ns)
    } else {
        ("behind", -c.offset_ns)
    };
    let err = latency((c.error_ns / 1000).clamp(0, i128::from(i64::MAX)) as i64);
    let segs = count(c.shared_segments, "segment", "segments");
    match c.from {
        ClockFrom::Reference => "the reference clock".into(),
        ClockFrom::Unknown => "no traffic shared with the others: clock taken as it is".into(),
        ClockFrom::Segments if c.drift_ppb != 0 => format!(
            "clock {} s {dir} capture {with}'s at first, running {} ppm {} (±{err}, {segs} both saw)",
            seconds(off),
            format_args!("{:.1}", c.drift_ppb.unsigned_abs() as f64 / 1000.0),
            if c.drift_ppb > 0 { "fast" } else { "slow" },
        ),
        ClockFrom::Segments => format!(
            "clock {} s {dir} capture {with}'s (±{err}, {segs} both saw)",
            seconds(off)
        ),
        ClockFrom::Rough => format!(
            "clock about {} s {dir} capture {with}'s (±{err}, {segs} both saw, bounds disagree: clocks drifting, or traffic one way only)",
            seconds(off)
        ),
    }
}

/// A duration in prose: `850 µs`, `46 ms`, `2.3 s` (a negative one, from
/// hostile timestamps, is `0 µs`). [`latency`] is the compact form for
/// columns.
pub fn duration(us: i64) -> String {
    let us = us.max(0);
    if us < 1000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{} ms", us / 1000)
    } else {
        format!("{:.1} s", us as f64 / 1e6)
    }
}

/// A positive rate per second the short way: `12/s`, `1.5/s`, `0.10/s`,
/// `2.3k/s` (charts' scales and readouts; callers say a zero their way).
pub fn rate(per_sec: f64) -> String {
    let r = per_sec;
    if r >= 1000.0 {
        format!("{:.1}k/s", r / 1000.0)
    } else if r >= 10.0 {
        format!("{r:.0}/s")
    } else if r >= 1.0 {
        format!("{r:.1}/s")
    } else {
        format!("{r:.2}/s")
    }
}

// ----------------------------------------------------------------- sizes

/// A byte count the short way: `812B`, `14.2K`, `3.1M`, `1.2G`.
pub fn bytes(n: u64) -> String {
    let f = n as f64;
    if n < 1024 {
        format!("{n}B")
    } else if n < 1 << 20 {
        format!("{:.1}K", f / 1024.0)
    } else if n < 1 << 30 {
        format!("{:.1}M", f / (1u64 << 20) as f64)
    } else {
        format!("{:.1}G", f / (1u64 << 30) as f64)
    }
}

// ---------------------------------------------------------------- counts

/// `n` and the noun that agrees with it: `count(1, "error", "errors")` is
/// `1 error`, `count(0, ..)` is `0 errors`.
pub fn count<N: Count>(n: N, one: &str, many: &str) -> String {
    format!("{n} {}", noun(n, one, many))
}

/// The noun that agrees with `n`.
pub fn noun<'a, N: Count>(n: N, one: &'a str, many: &'a str) -> &'a str {
    if n == N::from(1) { one } else { many }
}

/// A count of any integer type.
pub trait Count: Copy + PartialEq + From<u8> + std::fmt::Display {}

impl<N: Copy + PartialEq + From<u8> + std::fmt::Display> Count for N {}

/// `s` when `n` calls for a plural noun: `format!("{n} request{}",
/// plural_suffix(n))`.
pub fn plural_suffix(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `once`, `twice`, `3 times`.
pub fn times(n: u64) -> String {
    match n {
        1 => "once".to_string(),
        2 => "twice".to_string(),
        n => format!("{n} times"),
    }
}

// --------------------------------------------------------------- clients

/// Who a client is in a sentence: its client id, or its address when it
/// sent none (or an empty one).
pub fn client_label(client_id: Option<&str>, addr: SocketAddr) -> String {
    match client_id {
        Some(c) if !c.is_empty() => c.to_string(),
        _ => addr.to_string(),
    }
}

// ---------------------------------------------------------------- status

/// The distinct error names of an exchange, with a count when repeated:
/// `NOT_LEADER_OR_FOLLOWER×2,UNKNOWN_TOPIC_OR_PARTITION`.
pub fn error_names(errors: &[ErrorRef]) -> String {
    let mut out = String::new();
    push_error_names(&mut out, errors);
    out
}

/// [`error_names`], written at the end of `out`.
pub fn push_error_names(out: &mut String, errors: &[ErrorRef]) {
    let mut names: Vec<(&str, usize)> = Vec::new();
    for er in errors {
        match names.iter_mut().find(|(n, _)| *n == er.name) {
            Some((_, c)) => *c += 1,
            None => names.push((er.name, 1)),
        }
    }
    for (i, (n, c)) in names.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(n);
        if *c > 1 {
            out.push('×');
            out.push_str(itoa::Buffer::new().format(*c));
        }
    }
}

/// How an exchange of `api` at `version` ended, as the listing and the UI
/// say it: `ok`, the error names (`UNSUPPORTED_VERSION (negotiation)` when
/// they are a negotiation's expected answers, see
/// [`crate::session::Outcome`]), `no response (connection reset)`, `no
/// response expected (acks=0)`.
pub fn status_text(api: ApiKey, version: i16, status: Status, errors: &[ErrorRef]) -> String {
    let mut out = String::new();
    push_status(&mut out, api, version, status, errors);
    out
}

/// [`status_text`], written at the end of `out`.
pub fn push_status(
    out: &mut String,
    api: ApiKey,
    version: i16,
    status: Status,
    errors: &[ErrorRef],
) {
    match status {
        Status::NoResponse(why) => {
            out.push_str("no response (");
            out.push_str(&why.as_str().replace('_', " "));
            out.push(')');
        }
        Status::NoResponseExpected => out.push_str("no response expected (acks=0)"),
        Status::Malformed => out.push_str("malformed response"),
        Status::Error => {
            push_error_names(out, errors);
            if !errors.is_empty()
                && errors
                    .iter()
                    .all(|r| crate::session::expected_answer(api, version, ErrorCode(r.code)))
            {
                out.push_str(" (negotiation)");
            }
        }
        s => out.push_str(s.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees() {
        assert_eq!(count(0u64, "error", "errors"), "0 errors");
        assert_eq!(count(1u32, "error", "errors"), "1 error");
        assert_eq!(count(2u8, "batch", "batches"), "2 batches");
        assert_eq!(noun(1u64, "frame", "frames"), "frame");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(-5), "0 µs");
        assert_eq!(duration(850), "850 µs");
        assert_eq!(duration(46_100), "46 ms");
        assert_eq!(duration(2_340_000), "2.3 s");
        assert_eq!(latency(275), "275µs");
        assert_eq!(latency(3_500), "3.5ms");
        assert!(latency(i64::MIN).ends_with('s'));
        assert_eq!(seconds(93_000), "0.000093");
        assert_eq!(seconds(-1_250_000_000), "-1.250000");
    }

    #[test]
    fn counts_and_labels() {
        assert_eq!(times(1), "once");
        assert_eq!(times(2), "twice");
        assert_eq!(times(7), "7 times");
        assert_eq!(plural_suffix(1), "");
        assert_eq!(plural_suffix(0), "s");
        assert_eq!(bytes(812), "812B");
        assert_eq!(bytes(14_541), "14.2K");
        let a: SocketAddr = "10.0.0.7:5123".parse().unwrap();
        assert_eq!(client_label(Some("billing-1"), a), "billing-1");
        assert_eq!(client_label(Some(""), a), "10.0.0.7:5123");
        assert_eq!(client_label(None, a), "10.0.0.7:5123");
    }

    #[test]
    fn clocks() {
        let t = Timestamp {
            secs: 86_400 * 3 + 3600 + 61,
            nanos: 411_123_000,
        };
        assert_eq!(clock(t), "01:01:01.411123");
        assert_eq!(short_clock(t), "01:01:01.411");
    }
}
