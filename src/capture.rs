//! Stage 1: packets in.
//!
//! A [`PacketSource`] yields captured packets (frame number, timestamp, link
//! type, bytes) from a pcap or pcapng file, a pcap stream on stdin, or a live
//! interface. [`link::decode`] turns one packet's bytes into a [`link::TcpSegment`]
//! (or says why it cannot: not TCP, an IP fragment, truncated by the snaplen,
//! malformed); [`defrag`] reassembles IP fragments into datagrams that
//! `link::decode` then decodes as raw IP.
//!
//! Contract: nothing here panics on any input bytes; a damaged file yields the
//! packets read so far and then a [`CaptureError`] that the caller reports as an
//! event. libpcap is used in [`live`] only; [`queue`] is the bounded queue
//! between the thread that reads libpcap and the analysis.

pub mod defrag;
pub mod file;
pub mod link;
pub mod live;
pub mod queue;

use std::fmt;

/// A capture timestamp: seconds and nanoseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub secs: i64,
    /// Always `< 1_000_000_000`.
    pub nanos: u32,
}

impl Timestamp {
    pub const fn new(secs: i64, nanos: u32) -> Self {
        Timestamp {
            secs: secs + (nanos / 1_000_000_000) as i64,
            nanos: nanos % 1_000_000_000,
        }
    }

    /// The wall clock now (live capture: letting time pass without packets).
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::new(
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        )
    }

    /// Nanoseconds since the epoch.
    pub fn as_nanos(self) -> i128 {
        self.secs as i128 * 1_000_000_000 + self.nanos as i128
    }

    /// `self - earlier` in nanoseconds (negative when `earlier` is later).
    pub fn nanos_since(self, earlier: Timestamp) -> i128 {
        self.as_nanos() - earlier.as_nanos()
    }

    /// `self - earlier` in whole microseconds, rounded toward zero.
    pub fn micros_since(self, earlier: Timestamp) -> i64 {
        let d = self.nanos_since(earlier) / 1000;
        d.clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    /// RFC 3339 in UTC with nine fractional digits: `2026-11-23T12:34:56.123456789Z`.
    pub fn rfc3339(self) -> String {
        let mut out = Vec::with_capacity(30);
        self.write_rfc3339(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// [`Timestamp::rfc3339`] appended to `out`, without formatting
    /// machinery (it is written for every message exported).
    pub fn write_rfc3339(self, out: &mut Vec<u8>) {
        let days = self.secs.div_euclid(86_400);
        let sod = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        if !(0..=9999).contains(&y) {
            let s = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
                y,
                m,
                d,
                sod / 3600,
                (sod % 3600) / 60,
                sod % 60,
                self.nanos
            );
            out.extend_from_slice(s.as_bytes());
            return;
        }
        // Digits written right to left into their place in the template.
        fn put(b: &mut [u8], mut v: u64) {
            for c in b.iter_mut().rev() {
                *c = b'0' + (v % 10) as u8;
                v /= 10;
            }
        }
        let mut b = *b"0000-00-00T00:00:00.000000000Z";
        put(&mut b[0..4], y as u64);
        put(&mut b[5..7], u64::from(m));
        put(&mut b[8..10], u64::from(d));
        put(&mut b[11..13], (sod / 3600) as u64);
        put(&mut b[14..16], ((sod % 3600) / 60) as u64);
        put(&mut b[17..19], (sod % 60) as u64);
        put(&mut b[20..29], u64::from(self.nanos));
        out.extend_from_slice(&b);
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

/// Where in the capture something happened: the 1-based packet number that
/// Wireshark shows, and that packet's timestamp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PacketRef {
    pub frame: u64,
    pub ts: Timestamp,
}

/// A link-layer header type, as the `LINKTYPE_*` numbers of pcap/pcapng.
/// A newtype rather than an enum: unknown types are kept and reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u16);

impl LinkType {
    /// BSD loopback: a 4-byte address family in the host's byte order.
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP (v4 or v6, told by the version nibble).
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// The name pcap uses, without the `LINKTYPE_` prefix, or `LINKTYPE_<n>`.
    pub fn name(self) -> String {
        match self {
            LinkType::NULL => "NULL".into(),
            LinkType::ETHERNET => "ETHERNET".into(),
            LinkType::RAW => "RAW".into(),
            LinkType::LOOP => "LOOP".into(),
            LinkType::LINUX_SLL => "LINUX_SLL".into(),
            LinkType::IPV4 => "IPV4".into(),
            LinkType::IPV6 => "IPV6".into(),
            LinkType::LINUX_SLL2 => "LINUX_SLL2".into(),
            LinkType(n) => format!("LINKTYPE_{n}"),
        }
    }
}

/// One captured packet, borrowed from the source until the next call.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// 1-based packet number in the capture (Wireshark's frame number).
    pub frame: u64,
    pub ts: Timestamp,
    pub link_type: LinkType,
    /// The captured bytes (possibly fewer than `orig_len`: snaplen).
    pub data: &'a [u8],
    /// The packet's length on the wire.
    pub orig_len: u32,
}

impl Packet<'_> {
    pub fn at(&self) -> PacketRef {
        PacketRef {
            frame: self.frame,
            ts: self.ts,
        }
    }
}

/// What kind of input a source reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceFormat {
    Pcap,
    PcapNg,
    Live,
}

impl SourceFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceFormat::Pcap => "pcap",
            SourceFormat::PcapNg => "pcapng",
            SourceFormat::Live => "live",
        }
    }
}

/// Packet counters of a live capture: the kernel's (through libpcap) and
/// kwire's own packet queue's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropStats {
    /// Packets the filter accepted (including those then dropped).
    pub received: u64,
    /// Dropped by the kernel because the capture buffer was full
    /// (`--buffer-size`).
    pub dropped: u64,
    /// Dropped by the interface or its driver.
    pub if_dropped: u64,
    /// Read from the kernel, then dropped because kwire's packet queue was
    /// full: the analysis was behind (`--queue-bytes`, `--queue-packets`).
    pub queue_dropped: u64,
}

impl DropStats {
    /// Whether any packet was lost.
    pub fn any(&self) -> bool {
        self.dropped > 0 || self.if_dropped > 0 || self.queue_dropped > 0
    }
}

/// Why a source could not be opened or stopped early.
///
/// Each message is whole: it says its I/O error itself, which is therefore
/// not also its [`std::error::Error::source`] (a report walking the chain
/// would say it twice: `x.pcap: No such file or directory (os error 2): No
/// such file or directory (os error 2)`).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: {error}")]
    Open { path: String, error: std::io::Error },
    #[error("{0}: not a pcap or pcapng capture")]
    NotACapture(String),
    /// The file is damaged at a byte offset; packets before it were delivered.
    #[error("damaged capture at byte {offset}: {reason}")]
    Corrupt { offset: u64, reason: String },
    /// The file ends in the middle of a packet or block.
    #[error("capture ends in the middle of a packet at byte {offset}")]
    Truncated { offset: u64 },
    #[error("read error: {0}")]
    Io(std::io::Error),
    #[error("live capture: {0}")]
    Live(String),
}

impl From<std::io::Error> for CaptureError {
    fn from(e: std::io::Error) -> Self {
        CaptureError::Io(e)
    }
}

/// What [`PacketSource::poll_packet`] found.
pub enum Next<'a> {
    Packet(Packet<'a>),
    /// Nothing arrived for a while (live capture only).
    Idle,
    /// The input ended or the capture was stopped.
    End,
}

/// A source of captured packets.
///
/// `next_packet` returns `Ok(None)` at the end. An `Err` after the source was
/// opened means the rest of the input is unreadable; the caller reports it and
/// stops. Frame numbers count every packet read, including ones later found
/// unusable, so they match Wireshark's (live: every packet handed to the
/// analysis; dropped ones are counted in [`DropStats`]).
pub trait PacketSource {
    /// The next packet, waiting for it; `None` at the end of the input (or
    /// when a live capture is stopped).
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError>;
    /// The next packet, or [`Next::Idle`] when a live capture has had none
    /// for a short while (so that a caller can let time pass: expire idle
    /// connections, read drop counters). Files never idle.
    fn poll_packet(&mut self) -> Result<Next<'_>, CaptureError> {
        Ok(match self.next_packet()? {
            Some(p) => Next::Packet(p),
            None => Next::End,
        })
    }
    fn format(&self) -> SourceFormat;
    /// Link types of the interfaces seen so far (pcapng may add more later).
    fn link_types(&self) -> Vec<LinkType>;
    /// Drop counters so far (live capture only).
    fn drop_stats(&mut self) -> Option<DropStats> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_epoch_and_leap_days() {
        assert_eq!(
            Timestamp::new(0, 0).rfc3339(),
            "1970-01-01T00:00:00.000000000Z"
        );
        // 2024-02-29T23:59:59.5Z
        assert_eq!(
            Timestamp::new(1_709_251_199, 500_000_000).rfc3339(),
            "2024-02-29T23:59:59.500000000Z"
        );
        assert_eq!(
            Timestamp::new(1_795_473_032, 883_115_000).rfc3339(),
            "2026-11-23T22:30:32.883115000Z"
        );
        // Before the epoch.
        assert_eq!(
            Timestamp::new(-1, 0).rfc3339(),
            "1969-12-31T23:59:59.000000000Z"
        );
        // Years of more than four digits.
        assert_eq!(
            Timestamp::new(253_402_300_800, 7).rfc3339(),
            "10000-01-01T00:00:00.000000007Z"
        );
    }

    #[test]
    fn timestamp_normalises_nanos_and_subtracts() {
        let a = Timestamp::new(10, 1_500_000_000);
        assert_eq!(a, Timestamp::new(11, 500_000_000));
        assert_eq!(a.micros_since(Timestamp::new(11, 0)), 500_000);
        assert_eq!(Timestamp::new(11, 0).micros_since(a), -500_000);
    }
}
