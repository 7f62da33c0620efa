//! Live capture from an interface through libpcap (the only module that
//! touches libpcap).
//!
//! The capture is opened in immediate mode and non-blocking: `next_packet`
//! waits for the capture's descriptor with `poll(2)` for at most 100 ms at a
//! time, so a stop request is seen within about that long. (libpcap's own
//! read timeout cannot do this: on Linux it keeps waiting while no packet
//! arrives, and elsewhere its timer may only start with the first packet.)
//! Packets are filtered in the kernel (BPF, `tcp` unless told otherwise) and
//! borrowed from libpcap's buffer until the next call. Timestamps have microsecond precision (the
//! `pcap` crate cannot tell whether a nanosecond request was honoured).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{
    CaptureError, DropStats, LinkType, Next, Packet, PacketSource, SourceFormat, Timestamp,
};

/// How long one wait for packets lasts: how long a stop request may wait.
const READ_TIMEOUT_MS: i32 = 100;

/// Options for a live capture.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub interface: String,
    /// A BPF filter expression; `None` captures all TCP.
    pub bpf: Option<String>,
    pub snaplen: i32,
    pub promisc: bool,
    /// Kernel buffer size in bytes.
    pub buffer_size: i32,
    /// Set from another thread (e.g. a Ctrl-C handler) to end the capture:
    /// `next_packet` then returns `Ok(None)` within its read timeout.
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

pub struct LiveSource {
    cap: pcap::Capture<pcap::Active>,
    interface: String,
    link: LinkType,
    stop: Arc<AtomicBool>,
    /// The descriptor to wait on, when libpcap has one.
    #[cfg(unix)]
    fd: std::os::fd::RawFd,
    frame: u64,
    /// libpcap's counters are 32-bit and wrap: the last values read, and
    /// the totals built from their increments.
    last_stats: (u32, u32, u32),
    stats: DropStats,
}

/// libpcap's message, on one line (some span several).
fn message(e: &pcap::Error) -> String {
    let text = match e {
        pcap::Error::PcapError(s) => s.clone(),
        e => e.to_string(),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Why opening `interface` failed, in words a user can act on.
fn open_error(interface: &str, e: &pcap::Error) -> CaptureError {
    let msg = message(e);
    let lower = msg.to_ascii_lowercase();
    let text = if lower.contains("permission") || lower.contains("not permitted") {
        format!(
            "{interface}: You don't have permission to capture on that device ({msg}); \
             run as root or give the program CAP_NET_RAW and CAP_NET_ADMIN"
        )
    } else if lower.contains("no such device") || lower.contains("doesn't exist") {
        format!("{interface}: no such interface ({msg})")
    } else if msg.is_empty() {
        format!("{interface}: cannot open the interface")
    } else {
        format!("{interface}: {msg}")
    };
    CaptureError::Live(text)
}

/// libpcap reports `DLT_` values, which differ from the `LINKTYPE_` values
/// of files for raw IP (and OpenBSD's loopback).
fn link_type_of_dlt(dlt: i32) -> LinkType {
    match dlt {
        12 if cfg!(target_os = "openbsd") => LinkType::LOOP,
        12 | 14 => LinkType::RAW,
        n => LinkType(u16::try_from(n).unwrap_or(u16::MAX)),
    }
}

impl LiveSource {
    pub fn open(opts: &LiveOptions) -> Result<LiveSource, CaptureError> {
        let interface = opts.interface.as_str();
        let mut cap = pcap::Capture::from_device(interface)
            .map_err(|e| open_error(interface, &e))?
            .snaplen(opts.snaplen)
            .immediate_mode(true)
            .timeout(READ_TIMEOUT_MS);
        // Linux's "any" pseudo-device cannot be promiscuous; asking makes
        // libpcap warn, which the `pcap` crate turns into an error.
        if opts.promisc && interface != "any" {
            cap = cap.promisc(true);
        }
        if opts.buffer_size > 0 {
            cap = cap.buffer_size(opts.buffer_size);
        }
        let mut cap = cap
            .open()
            .and_then(|cap| cap.setnonblock())
            .map_err(|e| open_error(interface, &e))?;
        let filter = opts.bpf.as_deref().unwrap_or("tcp");
        cap.filter(filter, true).map_err(|e| {
            CaptureError::Live(format!(
                "{interface}: bad filter expression \"{filter}\": {}",
                message(&e)
            ))
        })?;
        let link = link_type_of_dlt(cap.get_datalink().0);
        #[cfg(unix)]
        let fd = std::os::fd::AsRawFd::as_raw_fd(&cap);
        Ok(LiveSource {
            cap,
            interface: interface.to_string(),
            link,
            stop: opts.stop.clone(),
            #[cfg(unix)]
            fd,
            frame: 0,
            last_stats: (0, 0, 0),
            stats: DropStats::default(),
        })
    }
}

/// Wait until a packet may be ready on `fd`, or [`READ_TIMEOUT_MS`] passed.
#[cfg(unix)]
fn wait(fd: std::os::fd::RawFd, interface: &str) -> Result<(), CaptureError> {
    {
        if fd < 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
            return Ok(());
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `pfd` is one valid `pollfd`, and the count says one.
        let r = unsafe { libc::poll(&mut pfd, 1, READ_TIMEOUT_MS) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(CaptureError::Live(format!("{interface}: {e}")));
            }
        }
        Ok(())
    }
}

#[cfg(not(unix))]
fn wait(_fd: i32, _interface: &str) -> Result<(), CaptureError> {
    std::thread::sleep(std::time::Duration::from_millis(1));
    Ok(())
}

/// A libpcap packet as a [`Packet`].
fn convert<'a>(frame: u64, link: LinkType, packet: pcap::Packet<'a>) -> Packet<'a> {
    let ts = packet.header.ts;
    let micros = u64::try_from(ts.tv_usec).unwrap_or(0);
    // `time_t` is 32 bits on some targets.
    #[allow(clippy::useless_conversion)]
    let secs = i64::from(ts.tv_sec);
    Packet {
        frame,
        ts: Timestamp::new(
            secs + (micros / 1_000_000) as i64,
            (micros % 1_000_000) as u32 * 1000,
        ),
        link_type: link,
        data: packet.data,
        orig_len: packet.header.len,
    }
}

impl PacketSource for LiveSource {
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        let packet = loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let cap: *mut pcap::Capture<pcap::Active> = &mut self.cap;
            // SAFETY: `cap` is `&mut self.cap`, exclusively ours for as long
            // as `&mut self` (the packet's lifetime). Each iteration makes
            // one `&mut` from it, and an iteration that goes round again
            // holds nothing borrowed from it (a timeout borrows nothing). The
            // pointer only works around the borrow checker refusing a borrow
            // returned from one iteration of a loop and retaken in the next
            // (NLL "problem case #3", rust-lang/rust#54663), which Polonius
            // accepts.
            match unsafe { &mut *cap }.next_packet() {
                Ok(p) => break p,
                // Non-blocking: nothing buffered now.
                Err(pcap::Error::TimeoutExpired) => wait(self.fd, &self.interface)?,
                Err(e) => {
                    return Err(CaptureError::Live(format!(
                        "{}: {}",
                        self.interface,
                        message(&e)
                    )));
                }
            }
        };
        self.frame += 1;
        Ok(Some(convert(self.frame, self.link, packet)))
    }

    fn poll_packet(&mut self) -> Result<Next<'_>, CaptureError> {
        if self.stop.load(Ordering::Relaxed) {
            return Ok(Next::End);
        }
        match self.cap.next_packet() {
            Ok(p) => {
                self.frame += 1;
                Ok(Next::Packet(convert(self.frame, self.link, p)))
            }
            Err(pcap::Error::TimeoutExpired) => {
                wait(self.fd, &self.interface)?;
                Ok(Next::Idle)
            }
            Err(e) => Err(CaptureError::Live(format!(
                "{}: {}",
                self.interface,
                message(&e)
            ))),
        }
    }

    fn format(&self) -> SourceFormat {
        SourceFormat::Live
    }

    fn link_types(&self) -> Vec<LinkType> {
        vec![self.link]
    }

    fn drop_stats(&mut self) -> Option<DropStats> {
        let s = self.cap.stats().ok()?;
        let (received, dropped, if_dropped) = self.last_stats;
        self.stats.received += u64::from(s.received.wrapping_sub(received));
        self.stats.dropped += u64::from(s.dropped.wrapping_sub(dropped));
        self.stats.if_dropped += u64::from(s.if_dropped.wrapping_sub(if_dropped));
        self.last_stats = (s.received, s.dropped, s.if_dropped);
        Some(self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(interface: &str, bpf: Option<&str>) -> LiveOptions {
        LiveOptions {
            interface: interface.to_string(),
            bpf: bpf.map(str::to_string),
            snaplen: 262_144,
            promisc: false,
            buffer_size: 4 << 20,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    #[test]
    fn dlt_values_become_linktypes() {
        assert_eq!(link_type_of_dlt(1), LinkType::ETHERNET);
        assert_eq!(link_type_of_dlt(113), LinkType::LINUX_SLL);
        assert_eq!(link_type_of_dlt(276), LinkType::LINUX_SLL2);
        if !cfg!(target_os = "openbsd") {
            assert_eq!(link_type_of_dlt(12), LinkType::RAW);
        }
    }

    #[test]
    fn unknown_interface_is_one_clear_line() {
        match LiveSource::open(&options("kwire-no-such-if0", None)) {
            Err(CaptureError::Live(msg)) => {
                assert!(msg.starts_with("kwire-no-such-if0: "), "{msg}");
                assert!(!msg.contains('\n'), "{msg}");
            }
            Err(e) => panic!("expected Live, got {e:?}"),
            Ok(_) => panic!("opened a nonexistent interface"),
        }
    }

    /// Needs capture rights on `lo`; skipped without them.
    #[test]
    fn loopback_stop_and_bad_filter() {
        // Port 1 on loopback: nothing should be talking there.
        let opts = options("lo", Some("tcp port 1 and tcp port 2"));
        let mut src = match LiveSource::open(&opts) {
            Ok(src) => src,
            Err(e) => {
                println!("skipping live test: {e}");
                return;
            }
        };
        assert_eq!(src.link_types(), vec![LinkType::ETHERNET]);
        // No packet arrives (the filter matches nothing); a stop request
        // must still end the wait promptly.
        let stop = opts.stop.clone();
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            stop.store(true, Ordering::Relaxed);
        });
        let started = std::time::Instant::now();
        assert!(matches!(src.next_packet(), Ok(None)));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        stopper.join().unwrap();
        assert!(src.drop_stats().is_some());

        match LiveSource::open(&options("lo", Some("tcp port"))) {
            Err(CaptureError::Live(msg)) => {
                assert!(
                    msg.starts_with("lo: bad filter expression \"tcp port\": "),
                    "{msg}"
                );
                assert!(!msg.contains('\n'), "{msg}");
            }
            Err(e) => panic!("expected Live, got {e:?}"),
            Ok(_) => panic!("accepted a bad filter"),
        }
    }
}
