//! The plain-text listing of `kwire list`: one line per exchange, with
//! events (gaps, resyncs, orphans...) as lines starting with `!` and
//! connections opening/closing as `+`/`-`, and a closing `#` summary. Meant
//! for reading and for grep/awk.
//!
//! Lines are in the order of their first column, the frame they begin at
//! (an exchange's request, an event's packet), within a window of capture
//! time ([`order`]); a line later than that is listed when it completes,
//! after a `listing_order` line saying so, and the summary counts them.
//! With no window ([`TextWriter::order`] `None`) lines are in the order the
//! analysis completes them, as `kwire export` writes records.
//!
//! Exchange line columns: request frame, time (UTC), stream, client →
//! broker, client id, API and version, correlation id, latency, status
//! (`ok`, the error names, or why there was no response), then what the
//! exchange carried ([`crate::session::describe`]).

use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::Arc;

use crate::capture::Timestamp;
use crate::kafka::schema::json::V4Text;
use crate::present::{count, noun, push_status, write_clock, write_latency};
use crate::session::{
    Event, EventKind, Exchange, PacketIssue, Record, RecordSink, Render, Summary,
};

pub mod order;

/// Writes the listing.
pub struct TextWriter<W: Write> {
    out: W,
    /// Also list connection open/close lines.
    pub connections: bool,
    pub flush_each: bool,
    /// Lines held to be listed in frame order (`None`: as they complete).
    pub order: Option<order::Reorder>,
    /// The window of `order`, for the `listing_order` line.
    order_window_secs: f64,
    /// Lines listed out of frame order (see [`order`]).
    late: u64,
    line: String,
    /// An out-of-sync line held back: when framing is found again at once
    /// (a gap that ended on a message boundary), neither line is news.
    held: Option<Event>,
}

impl<W: Write> TextWriter<W> {
    /// A listing in frame order within [`order::DEFAULT_WINDOW_SECS`].
    pub fn new(out: W) -> Self {
        TextWriter {
            out,
            connections: true,
            flush_each: false,
            order: Some(order::Reorder::new(
                order::DEFAULT_WINDOW_SECS,
                order::MAX_HELD_LINES,
            )),
            order_window_secs: order::DEFAULT_WINDOW_SECS,
            late: 0,
            line: String::new(),
            held: None,
        }
    }

    /// Hold lines for `secs` of capture time to list them in frame order;
    /// 0: list them as they complete.
    pub fn order_window(mut self, secs: f64) -> Self {
        self.order = (secs > 0.0).then(|| order::Reorder::new(secs, order::MAX_HELD_LINES));
        self.order_window_secs = secs;
        self
    }
}

/// `ip:port` as `SocketAddr`'s `Display` writes it; IPv4 without the
/// formatter.
fn push_endpoint(out: &mut String, a: &std::net::SocketAddr) {
    match a {
        std::net::SocketAddr::V4(v4) => out.push_str(V4Text::of(v4).as_str()),
        std::net::SocketAddr::V6(_) => {
            let _ = write!(out, "{a}");
        }
    }
}

/// Pad what was written to `out` since `start` with blanks to `width`
/// characters: after it (`left`), or before it.
fn pad(out: &mut String, start: usize, width: usize, left: bool) {
    let n = out.get(start..).map_or(0, |s| s.chars().count());
    if n >= width {
        return;
    }
    if left {
        out.extend(std::iter::repeat_n(' ', width - n));
    } else {
        out.insert_str(start, &" ".repeat(width - n));
    }
}

/// A line's head, as `{:>7} {} s{:<3}` would write frame, clock and
/// stream (`-` for none).
fn push_head(line: &mut String, frame: u64, ts: Timestamp, stream: Option<u64>) {
    let at = line.len();
    line.push_str(itoa::Buffer::new().format(frame));
    pad(line, at, 7, false);
    line.push(' ');
    write_clock(line, ts);
    line.push_str(" s");
    let at = line.len();
    match stream {
        Some(s) => line.push_str(itoa::Buffer::new().format(s)),
        None => line.push('-'),
    }
    pad(line, at, 3, true);
}

fn exchange_line(line: &mut String, e: &Exchange) {
    // As `{:>7} {} s{:<3} {} → {}  {:<16} {:<28} #{:<6} {:>8}  {}` would
    // write it, without a string per column.
    push_head(line, e.request.frame, e.request.ts, Some(e.stream));
    line.push(' ');
    push_endpoint(line, &e.client);
    line.push_str(" → ");
    push_endpoint(line, &e.broker);
    line.push_str("  ");
    let at = line.len();
    line.push_str(e.client_id.as_deref().unwrap_or("-"));
    pad(line, at, 16, true);
    line.push(' ');
    let at = line.len();
    match e.api_key.info() {
        Some(a) => line.push_str(a.name),
        None => {
            let _ = write!(line, "{}", e.api_key);
        }
    }
    line.push_str(" v");
    line.push_str(itoa::Buffer::new().format(e.api_version));
    pad(line, at, 28, true);
    line.push_str(" #");
    let at = line.len();
    line.push_str(itoa::Buffer::new().format(e.correlation_id));
    pad(line, at, 6, true);
    line.push(' ');
    let at = line.len();
    match e.latency_us() {
        Some(us) => write_latency(line, us),
        None if e.response_first() => line.push_str("resp<req"),
        None => line.push('-'),
    }
    pad(line, at, 8, false);
    line.push_str("  ");
    push_status(line, e.api_key, e.api_version, e.status, &e.errors);
    if e.request.lost_bytes > 0 || e.response.is_some_and(|r| r.lost_bytes > 0) {
        line.push_str(" [damaged]");
    }
    // Seen at both ends: the latency split into the broker's time and the
    // network's.
    if let Some((b, n)) = e.split_us() {
        line.push_str("  [broker ");
        write_latency(line, b);
        line.push_str(" + network ");
        write_latency(line, n);
        line.push(']');
    }
    let summary = crate::session::describe::describe(e);
    if !summary.is_empty() {
        line.push_str("  ");
        line.push_str(&summary);
    }
}

/// What an event says after its type (`4096 bytes to_client (lost)`), for
/// a view that shows frame, time and type in columns of its own.
pub fn event_detail(e: &Event) -> String {
    let mut line = String::new();
    event_line(&mut line, e);
    let mut head = String::new();
    push_head(&mut head, e.at.frame, e.at.ts, e.stream);
    // The head, a blank, a one-character mark, a blank and the type.
    let mark = line
        .get(head.len() + 1..)
        .and_then(|r| r.chars().next())
        .map_or(1, char::len_utf8);
    let skip = head.len() + 2 + mark + e.kind.type_name().len();
    line.get(skip..).unwrap_or("").trim_start().to_string()
}

fn event_line(line: &mut String, e: &Event) {
    let head = |line: &mut String, mark: char| {
        push_head(line, e.at.frame, e.at.ts, e.stream);
        line.push(' ');
        line.push(mark);
        line.push(' ');
        line.push_str(e.kind.type_name());
    };
    match &e.kind {
        EventKind::ConnectionOpen {
            client,
            broker,
            detected_by,
            ..
        } => {
            head(line, '+');
            line.push(' ');
            push_endpoint(line, client);
            line.push_str(" → ");
            push_endpoint(line, broker);
            line.push_str(" (by ");
            line.push_str(detected_by.as_str());
            line.push(')');
        }
        EventKind::ConnectionClose {
            reason,
            requests,
            unanswered,
            ..
        } => {
            head(line, '-');
            line.push(' ');
            line.push_str(reason.as_str());
            line.push_str(" after ");
            line.push_str(itoa::Buffer::new().format(*requests));
            line.push_str(noun(*requests, " request, ", " requests, "));
            line.push_str(itoa::Buffer::new().format(*unanswered));
            line.push_str(" unanswered");
        }
        EventKind::Gap {
            direction,
            bytes,
            cause,
        } => {
            head(line, '!');
            let _ = write!(
                line,
                " {bytes} bytes {} ({})",
                direction.as_str(),
                cause.as_str()
            );
        }
        EventKind::OutOfSync {
            direction, cause, ..
        } => {
            head(line, '!');
            let _ = write!(line, " {} ({})", direction.as_str(), cause.as_str());
        }
        EventKind::Resync {
            direction, skipped, ..
        } => {
            head(line, '!');
            let _ = write!(
                line,
                " {} after skipping {skipped} bytes",
                direction.as_str()
            );
        }
        EventKind::OrphanResponse {
            correlation_id,
            size,
            ..
        } => {
            head(line, '!');
            let _ = write!(line, " #{correlation_id} ({size} bytes)");
        }
        EventKind::DuplicateCorrelationId {
            correlation_id,
            first_frame,
        } => {
            head(line, '!');
            let _ = write!(line, " #{correlation_id} (first in frame {first_frame})");
        }
        EventKind::FrameTooLarge {
            direction,
            size,
            limit,
        } => {
            head(line, '!');
            let _ = write!(line, " {} {size} bytes > {limit}", direction.as_str());
        }
        EventKind::MalformedHeader {
            direction, reason, ..
        } => {
            head(line, '!');
            let _ = write!(line, " {}: {reason}", direction.as_str());
        }
        EventKind::MessageLost { direction, size } => {
            head(line, '!');
            let _ = write!(line, " {} {size} bytes", direction.as_str());
        }
        EventKind::UnknownApi {
            api_key,
            api_version,
        } => {
            head(line, '!');
            let _ = write!(line, " key {api_key} v{api_version}");
        }
        EventKind::SaslToken { direction, size } => {
            head(line, ' ');
            let _ = write!(line, " {} {size} bytes", direction.as_str());
        }
        EventKind::DecodeError {
            direction,
            api_key,
            api_version,
            reason,
            offset,
            path,
        } => {
            head(line, '!');
            let _ = write!(
                line,
                " {} {} v{api_version}: {reason} at byte {offset} {path}",
                direction.as_str(),
                crate::kafka::ApiKey(*api_key)
            );
        }
        EventKind::Limit { limit, value } => {
            head(line, '!');
            let _ = write!(line, " {} ({value})", limit.as_str());
            if let Some(o) = limit.option() {
                let _ = write!(line, ", raise with {o}");
            }
        }
        EventKind::Packet { issue } => {
            head(line, '!');
            let _ = write!(line, " {}", issue.as_str());
            match issue {
                PacketIssue::FragmentIncomplete {
                    reason,
                    first_frame,
                    fragments,
                    bytes,
                } => {
                    let _ = write!(
                        line,
                        ": {}, {fragments} fragments, {bytes} bytes from frame {first_frame}",
                        reason.as_str()
                    );
                }
                PacketIssue::FragmentOverlap {
                    conflict,
                    first_frame,
                } => {
                    let _ = write!(
                        line,
                        ": {}, datagram from frame {first_frame} (first copy kept)",
                        conflict.as_str()
                    );
                }
                PacketIssue::Malformed(why) => {
                    let _ = write!(line, ": {why}");
                }
                PacketIssue::UnsupportedLink(lt) => {
                    let _ = write!(line, ": {}", lt.name());
                }
                PacketIssue::Truncated => {}
            }
        }
        EventKind::CaptureError { message } => {
            head(line, '!');
            let _ = write!(line, " {message}");
        }
        EventKind::Drops(d) => {
            head(line, '!');
            let _ = write!(
                line,
                " received {} dropped {} (interface {}, kwire's queue {})",
                d.received, d.dropped, d.if_dropped, d.queue_dropped
            );
        }
        EventKind::RetransmissionMismatch {
            direction,
            offset,
            bytes,
            kept,
        } => {
            head(line, '!');
            let _ = write!(
                line,
                " {} {bytes} bytes differ at offset {offset}; kept the {} copy",
                direction.as_str(),
                match kept {
                    crate::tcp::Kept::First => "first captured",
                    crate::tcp::Kept::Last => "in-order",
                }
            );
        }
        EventKind::TimeJump {
            stamped,
            clock,
            accepted,
        } => {
            head(line, '!');
            if *accepted {
                let _ = write!(line, " clock moved from {clock} to {stamped}");
            } else {
                let _ = write!(line, " stamped {stamped}, taken as {clock}");
            }
        }
        EventKind::Tls(t) => {
            let mark = if t.decrypted()
                || t.info.keys == crate::tls::KeyState::Unknown && t.info.server_answered
            {
                '·'
            } else {
                '!'
            };
            head(line, mark);
            let _ = write!(line, " {} → {}", t.client, t.server);
            match t.version_name() {
                Some(v) => {
                    line.push(' ');
                    line.push_str(v);
                }
                None => line.push_str(" TLS"),
            }
            if let Some(c) = t.info.cipher {
                line.push(' ');
                match crate::tls::cipher_name(c) {
                    Some(n) => line.push_str(n),
                    None => {
                        let _ = write!(line, "0x{c:04x}");
                    }
                }
            }
            if let Some(sni) = &t.info.sni {
                line.push_str(" sni=");
                line.push_str(sni);
            }
            if !t.info.alpn.is_empty() {
                line.push_str(" alpn=");
                line.push_str(&t.info.alpn.join(","));
            }
            if let Some(c) = &t.info.server_cert {
                let _ = write!(line, " cert \"{}\"", c.subject);
                if let Some(na) = c.not_after {
                    let day = crate::capture::Timestamp::new(na, 0).rfc3339();
                    let _ = write!(line, " until {}", day.get(..10).unwrap_or(&day));
                }
            }
            match t.unread_reason() {
                None => {
                    let _ = write!(line, ", decrypted {} bytes", t.info.decrypted_bytes);
                }
                Some(why) => {
                    let _ = write!(line, ", not read: {why}");
                }
            }
            // close_notify is how TLS ends a connection: not news.
            for a in t.info.alerts.iter().filter(|a| a.description != 0) {
                let _ = write!(
                    line,
                    "; {} alert {} from the {}",
                    if a.level == 2 { "fatal" } else { "warning" },
                    a.name,
                    if a.from == t.client_dir {
                        "client"
                    } else {
                        "server"
                    }
                );
            }
            if t.decrypt_failures > 0 {
                let _ = write!(
                    line,
                    "; {} failed to decrypt",
                    count(t.decrypt_failures, "record", "records")
                );
            }
            if t.resyncs > 0 {
                let _ = write!(
                    line,
                    "; resynchronised {} after losses",
                    match t.resyncs {
                        1 => "once".to_string(),
                        n => format!("{n} times"),
                    }
                );
            }
        }
    }
}

fn summary_line(line: &mut String, s: &Summary) {
    let _ = write!(
        line,
        "# {}, {} ({} Kafka), {} ({} answered, {} unanswered), {}",
        count(s.packets, "packet", "packets"),
        count(s.connections, "connection", "connections"),
        s.kafka_connections,
        count(s.exchanges, "exchange", "exchanges"),
        s.answered,
        s.unanswered,
        count(s.orphans, "orphan response", "orphan responses")
    );
    let notable: Vec<String> = s
        .events
        .iter()
        .filter(|(k, _)| !k.starts_with("connection_"))
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if !notable.is_empty() {
        let _ = write!(line, "; events: {}", notable.join(", "));
    }
    if !s.limits.is_empty() {
        let hits: Vec<String> = s
            .limits
            .iter()
            .map(|(l, n)| format!("{} {n}", l.as_str()))
            .collect();
        let _ = write!(line, "; limits hit: {}", hits.join(", "));
    }
    if s.time_jumps > 0 {
        let _ = write!(line, "; {}", count(s.time_jumps, "time jump", "time jumps"));
    }
    let f = &s.ip_fragments;
    if f.fragments > 0 {
        let _ = write!(
            line,
            "; {}, {} reassembled",
            count(f.fragments, "IP fragment", "IP fragments"),
            count(f.reassembled, "datagram", "datagrams")
        );
        if f.incomplete > 0 {
            let _ = write!(line, ", {} incomplete", f.incomplete);
        }
        if f.overlap_mismatches > 0 {
            let _ = write!(
                line,
                ", {}",
                count(
                    f.overlap_mismatches,
                    "overlap mismatch",
                    "overlap mismatches"
                )
            );
        }
    }
    if let Some(d) = s.drops {
        let _ = write!(line, "; {}", drops(&d));
    }
}

/// A live capture's drop counters in words (the summary line; `kwire stats`
/// and `kwire diagnose` say it too).
pub fn drops(d: &crate::capture::DropStats) -> String {
    format!(
        "packets dropped: kernel {} of {} received, interface {}, queue {}",
        d.dropped, d.received, d.if_dropped, d.queue_dropped
    )
}

/// The listing's line of an exchange, newline included (what
/// [`TextWriter`] writes for it, rendered on any thread); other records are
/// the writer's own (what it writes for them depends on what came before).
pub struct Lines;

impl Render for Lines {
    fn render(&self, r: &Record, out: &mut Vec<u8>) -> bool {
        let Record::Exchange(e) = r else {
            return false;
        };
        let mut line = String::new();
        exchange_line(&mut line, e);
        line.push('\n');
        out.extend_from_slice(line.as_bytes());
        true
    }
}

impl<W: Write> RecordSink for TextWriter<W> {
    fn record(&mut self, r: Record) -> io::Result<()> {
        self.record_rendered(r, None)
    }

    fn tick(&mut self, now: Timestamp) -> io::Result<()> {
        if let Some(o) = &mut self.order {
            o.advance(now);
        }
        if self.release()? && self.flush_each {
            self.out.flush()?;
        }
        Ok(())
    }

    fn renderer(&self) -> Option<Arc<dyn Render>> {
        Some(Arc::new(Lines))
    }

    fn record_rendered(&mut self, r: Record, rendered: Option<&[u8]>) -> io::Result<()> {
        if let Some(held) = self.held.take() {
            let resynced_at_once = matches!(
                (&held.kind, &r),
                (EventKind::OutOfSync { direction: d1, .. }, Record::Event(e))
                    if e.stream == held.stream
                        && matches!(e.kind, EventKind::Resync { direction: d2, skipped: 0, .. } if d2 == *d1)
            );
            if resynced_at_once {
                return Ok(());
            }
            self.write(Record::Event(held), None)?;
        }
        if let Record::Event(e) = &r
            && matches!(e.kind, EventKind::OutOfSync { .. })
        {
            self.held = Some(e.clone());
            return Ok(());
        }
        self.write(r, rendered)
    }
}

/// Where a record's line goes in the listing: the frame and time it
/// begins at, its stream, and when it completed.
fn place(r: &Record) -> Option<(u64, Timestamp, Option<u64>, Timestamp)> {
    match r {
        Record::Exchange(e) => {
            let done = e.response.map_or(e.request.ts, |r| r.ts.max(e.request.ts));
            Some((e.request.frame, e.request.ts, Some(e.stream), done))
        }
        Record::Event(e) => Some((e.at.frame, e.at.ts, e.stream, e.at.ts)),
        Record::Capture(_) | Record::Summary(_) => None,
    }
}

impl<W: Write> TextWriter<W> {
    /// List the held lines that are due; whether any was.
    fn release(&mut self) -> io::Result<bool> {
        let Some(o) = &mut self.order else {
            return Ok(false);
        };
        let mut any = false;
        while let Some(h) = o.next_due() {
            self.out.write_all(&h.line)?;
            any = true;
        }
        Ok(any)
    }

    /// List `line` of `r` now, or hold it for its turn.
    fn put(&mut self, r: &Record, line: &[u8]) -> io::Result<()> {
        let (Some(o), Some((frame, begun, stream, done))) = (&mut self.order, place(r)) else {
            return self.out.write_all(line);
        };
        o.advance(done);
        match o.offer(frame, begun, line.to_vec()) {
            Ok(()) => {
                self.release()?;
            }
            Err((line, listed)) => {
                self.late += 1;
                if self.late == 1 {
                    let mut notice = String::new();
                    push_head(&mut notice, frame, begun, stream);
                    let _ = writeln!(
                        notice,
                        " ! listing_order frame {frame} completed after frame {listed} was \
                         listed: lines held over {}s or past {} lines are listed as they \
                         complete (raise with --order-window)",
                        self.order_window_secs,
                        order::MAX_HELD_LINES
                    );
                    self.out.write_all(notice.as_bytes())?;
                }
                self.out.write_all(&line)?;
            }
        }
        Ok(())
    }

    /// Write `r`'s line: `rendered` when [`Lines`] rendered it already.
    fn write(&mut self, r: Record, rendered: Option<&[u8]>) -> io::Result<()> {
        if let Some(line) = rendered {
            self.put(&r, line)?;
            if self.flush_each {
                self.out.flush()?;
            }
            return Ok(());
        }
        self.line.clear();
        match &r {
            Record::Capture(c) => {
                let links: Vec<String> = c.link_types.iter().map(|l| l.name()).collect();
                let _ = write!(
                    self.line,
                    "# {} ({}, {})",
                    c.source,
                    c.format.as_str(),
                    if links.is_empty() {
                        "-".to_string()
                    } else {
                        links.join(",")
                    }
                );
                for (k, m) in c.merged.iter().enumerate() {
                    let _ = write!(
                        self.line,
                        "\n#   capture {k}: {}: {}",
                        m.source,
                        crate::present::capture_clock(&m.clock)
                    );
                }
            }
            Record::Exchange(e) => exchange_line(&mut self.line, e),
            Record::Event(e) => {
                let conn = matches!(
                    e.kind,
                    EventKind::ConnectionOpen { .. } | EventKind::ConnectionClose { .. }
                );
                if conn && !self.connections {
                    return Ok(());
                }
                event_line(&mut self.line, e);
            }
            Record::Summary(s) => {
                // The end: every line held goes first.
                if let Some(o) = &mut self.order {
                    while let Some(h) = o.pop() {
                        self.out.write_all(&h.line)?;
                    }
                }
                summary_line(&mut self.line, s);
                if self.late > 0 {
                    let _ = write!(
                        self.line,
                        "; {} listed out of frame order",
                        count(self.late, "line", "lines")
                    );
                }
            }
        }
        self.line.push('\n');
        let line = std::mem::take(&mut self.line);
        let put = self.put(&r, line.as_bytes());
        self.line = line;
        put?;
        if self.flush_each || matches!(r, Record::Summary(_)) {
            self.out.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::present::{clock, latency};

    #[test]
    fn latency_units() {
        assert_eq!(latency(164), "164µs");
        assert_eq!(latency(1_500), "1.5ms");
        assert_eq!(latency(2_345_678), "2.35s");
        // Found by fuzzing: timestamps far apart.
        assert!(latency(i64::MIN).ends_with('s'));
        assert!(latency(i64::MAX).ends_with('s'));
    }

    #[test]
    fn endpoints_as_display_writes_them() {
        for a in [
            "127.0.0.1:9092",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "[::1]:9092",
        ] {
            let addr: std::net::SocketAddr = a.parse().unwrap();
            let mut s = String::new();
            push_endpoint(&mut s, &addr);
            assert_eq!(s, addr.to_string());
        }
    }

    #[test]
    fn clock_is_utc_micros() {
        assert_eq!(
            clock(Timestamp::new(1_795_473_032, 883_115_123)),
            "22:30:32.883115"
        );
    }
}
