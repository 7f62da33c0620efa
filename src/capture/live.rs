//! Live capture from an interface through libpcap (the only module that
//! touches libpcap).
//!
//! Two threads. A reading thread (`kwire-pcap`) owns the libpcap handle and
//! does nothing but copy packets into the bounded [`queue`](super::queue)
//! and read the kernel's drop counters; [`LiveSource`], on the caller's
//! thread, takes batches from the queue and lends their packets out. A slow
//! analysis thus never holds up the kernel's buffer: when the queue is full,
//! packets are dropped and counted there ([`DropStats::queue_dropped`]).
//!
//! The capture is not in immediate mode: on Linux libpcap then uses
//! TPACKET_V3, whose ring holds variable-sized packets in 256 KiB blocks that
//! the kernel hands over when full or after [`BLOCK_TIMEOUT_MS`], so one
//! wake-up reads many packets and a large snaplen costs no buffer space.
//! (Immediate mode uses TPACKET_V2's fixed-size slots, each as large as the
//! largest packet, 64 KiB on `lo`: a 16 MiB buffer then holds ~250 packets.)
//! The handle is non-blocking and the reading thread waits for its descriptor
//! with `poll(2)` for at most [`WAIT`], so a stop request is seen within
//! about that long (libpcap's own read timeout cannot do this: on Linux it
//! keeps waiting while no packet arrives, and elsewhere its timer may only
//! start with the first packet); reading then goes on for `DRAIN`, until
//! the kernel has handed over what it captured before the request. Packets
//! are filtered in the kernel (BPF, `tcp` unless told otherwise). Timestamps have microsecond precision (the
//! `pcap` crate cannot tell whether a nanosecond request was honoured).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::queue::{Batch, Consumer, Producer, QueueLimits, Recv, queue};
use super::{
    CaptureError, DropStats, LinkType, Next, Packet, PacketSource, SourceFormat, Timestamp,
};

/// Longest wait for packets, on either thread: how long a stop request, or
/// an idle tick, may wait.
pub const WAIT: Duration = Duration::from_millis(100);

/// libpcap's read timeout: on Linux, how long the kernel holds a block of
/// packets that is not full before handing it over (the delay added to a
/// packet when traffic is light).
pub const BLOCK_TIMEOUT_MS: i32 = 50;

/// The largest snaplen libpcap takes (and tcpdump's default).
pub const MAX_SNAPLEN: u32 = 262_144;

/// `--snaplen`: whole packets. Not 65,535: a packet on `lo` (MTU 65,536)
/// or one merged by the NIC or the kernel (GRO/GSO: up to 64 KiB of payload
/// plus headers) is longer, and a cut packet is a gap in the Kafka stream.
/// With TPACKET_V3 a large snaplen reserves nothing per packet.
pub const DEFAULT_SNAPLEN: u32 = MAX_SNAPLEN;

/// `--buffer-size`: the kernel's ring. 64 MiB holds ~0.5 s of a saturated
/// 1 Gb/s link, or seconds of 100,000 small packets per second, while the
/// reading thread is not scheduled.
pub const DEFAULT_BUFFER_SIZE: u32 = 64 << 20;

/// `--queue-bytes`: packet data waiting for the analysis; 64 MiB holds
/// ~450 ms of 100,000 full-size (1,500-byte) packets per second.
pub const DEFAULT_QUEUE_BYTES: usize = 64 << 20;

/// `--queue-packets`: packets waiting for the analysis: 2.6 s at 100,000
/// packets per second. With [`DEFAULT_QUEUE_BYTES`] the byte limit binds
/// for packets of 256 bytes or more (a small Produce request on the wire is
/// about that), this one for smaller packets, whose per-packet cost it
/// bounds.
pub const DEFAULT_QUEUE_PACKETS: usize = 262_144;

/// Most packets copied in one libpcap call (one batch handed over).
const BATCH_PACKETS: usize = 4096;

/// How often the reading thread reads the kernel's counters.
const STATS_INTERVAL: Duration = Duration::from_millis(250);

/// Options for a live capture.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub interface: String,
    /// A BPF filter expression; `None` captures all TCP.
    pub bpf: Option<String>,
    /// Bytes kept of each packet (1 to [`MAX_SNAPLEN`]).
    pub snaplen: u32,
    pub promisc: bool,
    /// Kernel buffer size in bytes; 0 leaves libpcap's default (2 MiB).
    pub buffer_size: u32,
    /// The queue between the reading thread and the analysis.
    pub queue: QueueLimits,
    /// Set from another thread (e.g. a Ctrl-C handler) to end the capture:
    /// the source then delivers what was captured until then and ends,
    /// within about [`WAIT`] and a block's timeout.
    pub stop: Arc<AtomicBool>,
}

impl LiveOptions {
    /// Capture all TCP on `interface` with the default limits.
    pub fn new(interface: &str, stop: Arc<AtomicBool>) -> Self {
        LiveOptions {
            interface: interface.to_string(),
            bpf: None,
            snaplen: DEFAULT_SNAPLEN,
            promisc: false,
            buffer_size: DEFAULT_BUFFER_SIZE,
            queue: QueueLimits {
                max_bytes: DEFAULT_QUEUE_BYTES,
                max_packets: DEFAULT_QUEUE_PACKETS,
            },
            stop,
        }
    }
}

/// A live capture: packets read by its own thread, taken from the queue.
pub struct LiveSource {
    rx: Consumer,
    /// The batch being lent out, and its next packet.
    batch: Batch,
    pos: usize,
    link: LinkType,
    frame: u64,
    /// The reading thread closed the queue and everything was taken.
    ended: bool,
    thread: Option<JoinHandle<()>>,
}

/// What [`LiveSource::ready`] found.
enum Ready {
    /// `batch[pos]` is the next packet.
    Packet,
    Idle,
    End,
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
        // The names to choose from, as libpcap knows them (a few).
        let names: Vec<String> = pcap::Device::list()
            .unwrap_or_default()
            .into_iter()
            .map(|d| d.name)
            .take(12)
            .collect();
        if names.is_empty() {
            format!("{interface}: no such interface ({msg})")
        } else {
            format!(
                "{interface}: no such interface ({msg}); the interfaces: {}",
                names.join(", ")
            )
        }
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

/// Open and activate the capture, non-blocking, with its filter.
fn open_capture(opts: &LiveOptions) -> Result<pcap::Capture<pcap::Active>, CaptureError> {
    let interface = opts.interface.as_str();
    if opts.snaplen == 0 || opts.snaplen > MAX_SNAPLEN {
        return Err(CaptureError::Live(format!(
            "{interface}: snaplen {} is not between 1 and {MAX_SNAPLEN}",
            opts.snaplen
        )));
    }
    let buffer_size = i32::try_from(opts.buffer_size).map_err(|_| {
        CaptureError::Live(format!(
            "{interface}: buffer size {} is over libpcap's limit of {} bytes",
            opts.buffer_size,
            i32::MAX
        ))
    })?;
    // Immediate mode stays off (libpcap's default): see the module's notes.
    let mut cap = pcap::Capture::from_device(interface)
        .map_err(|e| open_error(interface, &e))?
        .snaplen(opts.snaplen as i32)
        .timeout(BLOCK_TIMEOUT_MS);
    // Linux's "any" pseudo-device cannot be promiscuous; asking makes
    // libpcap warn, which the `pcap` crate turns into an error.
    if opts.promisc && interface != "any" {
        cap = cap.promisc(true);
    }
    if buffer_size > 0 {
        cap = cap.buffer_size(buffer_size);
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
    Ok(cap)
}

/// libpcap's counters are 32-bit and wrap: the last values read, and the
/// totals built from their increments.
#[derive(Default)]
struct Counters {
    last: (u32, u32, u32),
    total: DropStats,
}

impl Counters {
    fn read(&mut self, cap: &mut pcap::Capture<pcap::Active>) -> Option<DropStats> {
        let s = cap.stats().ok()?;
        let (received, dropped, if_dropped) = self.last;
        self.total.received += u64::from(s.received.wrapping_sub(received));
        self.total.dropped += u64::from(s.dropped.wrapping_sub(dropped));
        self.total.if_dropped += u64::from(s.if_dropped.wrapping_sub(if_dropped));
        self.last = (s.received, s.dropped, s.if_dropped);
        Some(self.total)
    }
}

/// A libpcap timestamp.
fn timestamp(ts: &libc::timeval) -> Timestamp {
    let micros = u64::try_from(ts.tv_usec).unwrap_or(0);
    // `time_t` is 32 bits on some targets.
    #[allow(clippy::useless_conversion)]
    let secs = i64::from(ts.tv_sec);
    Timestamp::new(
        secs + (micros / 1_000_000) as i64,
        (micros % 1_000_000) as u32 * 1000,
    )
}

/// After a stop request, how long the reading thread goes on reading: the
/// kernel hands over the block being filled within [`BLOCK_TIMEOUT_MS`], so
/// the packets captured before the request are all read.
const DRAIN: Duration = Duration::from_millis(2 * BLOCK_TIMEOUT_MS as u64);

/// The reading thread: copy packets into the queue until stopped (by the
/// user, then after [`DRAIN`]; or at once when the source is dropped) or
/// libpcap fails; then publish the final counters and close the queue.
fn read(mut cap: pcap::Capture<pcap::Active>, mut q: Producer, opts: &LiveOptions) {
    #[cfg(unix)]
    let fd = std::os::fd::AsRawFd::as_raw_fd(&cap);
    #[cfg(not(unix))]
    let fd = -1;
    let interface = opts.interface.as_str();
    let mut counters = Counters::default();
    let mut last_stats = Instant::now();
    let mut drain_until: Option<Instant> = None;
    let error = loop {
        if q.abandoned() {
            break None;
        }
        if drain_until.is_none() && opts.stop.load(Ordering::Relaxed) {
            drain_until = Some(Instant::now() + DRAIN);
        }
        // The last pass reads what the kernel handed over by now.
        let last = drain_until.is_some_and(|t| Instant::now() >= t);
        let got = cap.dispatch(Some(BATCH_PACKETS), |p| {
            q.offer(timestamp(&p.header.ts), p.header.len, p.data);
        });
        q.flush();
        match got {
            Ok(0) if last => break None,
            Ok(0) => {
                let left =
                    drain_until.map_or(WAIT, |t| t.saturating_duration_since(Instant::now()));
                if let Err(e) = wait(fd, left.min(WAIT), interface) {
                    break Some(e);
                }
            }
            Ok(_) => {}
            Err(e) => break Some(CaptureError::Live(format!("{interface}: {}", message(&e)))),
        }
        if last_stats.elapsed() >= STATS_INTERVAL {
            last_stats = Instant::now();
            if let Some(s) = counters.read(&mut cap) {
                q.set_kernel_stats(s);
            }
        }
    };
    if let Some(s) = counters.read(&mut cap) {
        q.set_kernel_stats(s);
    }
    q.close(error);
}

/// Wait until a packet may be ready on `fd`, or `timeout` passed.
#[cfg(unix)]
fn wait(fd: std::os::fd::RawFd, timeout: Duration, interface: &str) -> Result<(), CaptureError> {
    if fd < 0 {
        std::thread::sleep(Duration::from_millis(1));
        return Ok(());
    }
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `pfd` is one valid `pollfd`, and the count says one.
    let r = unsafe { libc::poll(&mut pfd, 1, ms) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(CaptureError::Live(format!("{interface}: {e}")));
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn wait(_fd: i32, _timeout: Duration, _interface: &str) -> Result<(), CaptureError> {
    std::thread::sleep(Duration::from_millis(1));
    Ok(())
}

impl LiveSource {
    /// Open the capture (on its reading thread) and start reading. Returns
    /// once the capture is open, or with the one-line reason it is not.
    pub fn open(opts: &LiveOptions) -> Result<LiveSource, CaptureError> {
        let (producer, consumer) = queue(opts.queue);
        let (opened_tx, opened_rx) = sync_channel(1);
        let opts = opts.clone();
        let thread = std::thread::Builder::new()
            .name("kwire-pcap".into())
            .spawn(move || match open_capture(&opts) {
                Ok(cap) => {
                    let link = link_type_of_dlt(cap.get_datalink().0);
                    let _ = opened_tx.send(Ok(link));
                    read(cap, producer, &opts);
                }
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                }
            })
            .map_err(|e| CaptureError::Live(format!("cannot start the capture thread: {e}")))?;
        let opened = opened_rx.recv();
        let link = match opened {
            Ok(Ok(link)) => link,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(CaptureError::Live("the capture thread ended".into()));
            }
        };
        Ok(LiveSource {
            rx: consumer,
            batch: Batch::default(),
            pos: 0,
            link,
            frame: 0,
            ended: false,
            thread: Some(thread),
        })
    }

    /// Make the next packet ready, waiting at most [`WAIT`] for a batch.
    fn ready(&mut self) -> Result<Ready, CaptureError> {
        while self.pos >= self.batch.len() {
            if self.ended {
                return Ok(Ready::End);
            }
            match self.rx.recv(WAIT) {
                Recv::Batch(b) => {
                    let done = std::mem::replace(&mut self.batch, b);
                    self.rx.recycle(done);
                    self.pos = 0;
                }
                Recv::Idle => return Ok(Ready::Idle),
                Recv::Closed(error) => {
                    self.ended = true;
                    if let Some(e) = error {
                        return Err(e);
                    }
                }
            }
        }
        Ok(Ready::Packet)
    }

    /// Lend the packet [`ready`](Self::ready) found.
    fn take(&mut self) -> Option<Packet<'_>> {
        let (ts, orig_len, data) = self.batch.get(self.pos)?;
        self.pos += 1;
        self.frame += 1;
        Some(Packet {
            frame: self.frame,
            ts,
            link_type: self.link,
            data,
            orig_len,
        })
    }
}

impl PacketSource for LiveSource {
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        loop {
            match self.ready()? {
                Ready::Packet => return Ok(self.take()),
                Ready::Idle => {}
                Ready::End => return Ok(None),
            }
        }
    }

    fn poll_packet(&mut self) -> Result<Next<'_>, CaptureError> {
        Ok(match self.ready()? {
            Ready::Packet => self.take().map_or(Next::Idle, Next::Packet),
            Ready::Idle => Next::Idle,
            Ready::End => Next::End,
        })
    }

    fn format(&self) -> SourceFormat {
        SourceFormat::Live
    }

    fn link_types(&self) -> Vec<LinkType> {
        vec![self.link]
    }

    /// The kernel's counters as the reading thread last read them (every
    /// quarter second, and when it stops), with the queue's drops.
    fn drop_stats(&mut self) -> Option<DropStats> {
        Some(self.rx.drop_stats())
    }
}

impl Drop for LiveSource {
    /// Stop the reading thread and wait for it (within [`WAIT`] or so: it
    /// never waits on the queue).
    fn drop(&mut self) {
        self.rx.abandon();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(interface: &str, bpf: Option<&str>) -> LiveOptions {
        LiveOptions {
            bpf: bpf.map(str::to_string),
            buffer_size: 4 << 20,
            ..LiveOptions::new(interface, Arc::new(AtomicBool::new(false)))
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

    /// The TCP flags of an Ethernet/IPv4 packet.
    fn tcp_flags(data: &[u8]) -> Option<u8> {
        let ip = data.get(14..)?;
        if ip.first()? >> 4 != 4 {
            return None;
        }
        ip.get(usize::from(ip[0] & 0x0f) * 4 + 13).copied()
    }

    /// A short conversation through `listener`: connect, a message each
    /// way, close.
    fn converse(listener: &std::net::TcpListener) {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 5];
        c.write_all(b"hello").unwrap();
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"world").unwrap();
        c.read_exact(&mut buf).unwrap();
    }

    /// Real packets through the reading thread and the queue: all of a
    /// conversation, numbered from 1, in order; with a queue that has no
    /// room, all dropped and counted. No timing: each step waits for what
    /// it needs. Needs capture rights on `lo`; skipped without them.
    #[test]
    fn loopback_packets_in_order_and_queue_drops_counted() {
        const FIN: u8 = 0x01;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let bpf = format!("tcp port {}", listener.local_addr().unwrap().port());
        let opts = options("lo", Some(&bpf));
        let mut src = match LiveSource::open(&opts) {
            Ok(src) => src,
            Err(e) => {
                println!("skipping live test: {e}");
                return;
            }
        };
        converse(&listener);
        let (mut frames, mut fins, mut last_ts) = (Vec::new(), 0, Timestamp::default());
        while fins < 2 {
            let p = src.next_packet().unwrap().expect("the capture goes on");
            assert_eq!(p.link_type, LinkType::ETHERNET);
            assert!(p.ts >= last_ts, "timestamps out of order");
            last_ts = p.ts;
            frames.push(p.frame);
            if tcp_flags(p.data).is_some_and(|f| f & FIN != 0) {
                fins += 1;
            }
        }
        assert!(frames.len() >= 7, "{frames:?}");
        assert_eq!(frames, (1..=frames.len() as u64).collect::<Vec<_>>());
        assert_eq!(src.drop_stats().unwrap().queue_dropped, 0);

        // No room in the queue: the next conversation is dropped, counted.
        let full = LiveOptions {
            queue: QueueLimits {
                max_bytes: 1 << 20,
                max_packets: 0,
            },
            ..options("lo", Some(&bpf))
        };
        let mut dropping = LiveSource::open(&full).unwrap();
        converse(&listener);
        while dropping.drop_stats().unwrap().queue_dropped < 7 {
            assert!(matches!(dropping.poll_packet(), Ok(Next::Idle)));
        }
        // Dropped while its thread reads: the thread stops, no stop needed.
        drop(dropping);

        // The first source saw the second conversation too, numbered on.
        let mut fins = 0;
        while fins < 2 {
            let p = src.next_packet().unwrap().expect("the capture goes on");
            frames.push(p.frame);
            if tcp_flags(p.data).is_some_and(|f| f & FIN != 0) {
                fins += 1;
            }
        }
        assert_eq!(frames, (1..=frames.len() as u64).collect::<Vec<_>>());
        // A stop request ends it.
        opts.stop.store(true, Ordering::Relaxed);
        while src.next_packet().unwrap().is_some() {}
        assert!(matches!(src.poll_packet(), Ok(Next::End)));
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
