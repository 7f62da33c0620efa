//! The `kwire` command line.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use kwire::analysis::Report;
use kwire::analysis::findings::{self, Diagnosing, Finding, Severity};
use kwire::analysis::metrics::{FindingsFrom, Metered, Shared};
use kwire::capture::defrag::DefragConfig;
use kwire::capture::file::FileSource;
use kwire::capture::live::{self, LiveOptions, LiveSource};
use kwire::capture::queue::QueueLimits;
use kwire::capture::{PacketSource, SourceFormat};
use kwire::export::ndjson::NdjsonWriter;
use kwire::export::text::TextWriter;
use kwire::kafka::records::{RecordLimits, RecordsMode};
use kwire::progress::{self, Progress};
use kwire::session::{self, CaptureInfo, RecordSink, SessionConfig, Sources};
use kwire::tcp::TcpConfig;

/// mimalloc: records are allocated on the analysis thread and freed on the
/// render and sink threads; the system allocator makes such cross-thread
/// frees contend. Built without transparent huge pages: with them the
/// resident memory was twice what kwire holds (67 MB instead of 40 on a
/// 4 MB Metadata response).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Read Apache Kafka traffic off the wire and explain it.
///
/// kwire finds Kafka connections on any port by their traffic, reassembles
/// TCP, matches every response to its request, and decodes every body of
/// every API key and version (records, embedded consumer protocol, SASL with
/// secrets masked), with every error code by name.
///
/// `kwire CAPTURE` opens the terminal UI when stdout is a terminal, and
/// prints the listing otherwise.
///
/// A file run that lasts over a second shows its progress on stderr when
/// that is a terminal (bytes read, share of the file, rate, time left),
/// cleared when it ends; `--quiet` turns it off.
#[derive(Parser)]
#[command(
    name = "kwire",
    // The package version, and in release builds the commit (build.rs).
    version = env!("KWIRE_VERSION"),
    propagate_version = true,
    args_conflicts_with_subcommands = true,
    subcommand_required = false,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// A capture to open in the UI (or list, when stdout is not a
    /// terminal); several (one per host) are read as one.
    #[arg(value_name = "CAPTURE", num_args = 1..)]
    captures: Vec<String>,
    /// Nothing on stderr but errors: no progress (shown for a file run
    /// longer than a second when stderr is a terminal: bytes read, share of
    /// the file, rate, time left), no warnings.
    #[arg(short = 'q', long, global = true)]
    quiet: bool,
    /// With CAPTURE: decrypt TLS with this NSS key log (repeatable; the
    /// commands take `--keylog` themselves).
    #[arg(long = "keylog", value_name = "FILE", requires = "captures")]
    keylogs: Vec<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// The terminal UI: timeline, connections, consumer-group flows,
    /// exchange detail and statistics, for a capture file or live traffic.
    Tui(TuiArgs),
    /// One readable line per Kafka exchange (status with error names, and
    /// what it carried), with events and a summary.
    List(ListArgs),
    /// Every exchange and event as NDJSON (see docs/ndjson.md), then the
    /// findings; or, with `--format parquet -o FILE`, one Parquet row per
    /// exchange for analytics engines (see docs/parquet.md).
    Export(ExportArgs),
    /// What went wrong, in plain words: findings most severe first, with
    /// counts, what they involve and the frames to look at.
    Diagnose(ReportArgs),
    /// Per API counts and latency percentiles, errors by API and code,
    /// records and bytes per topic and partition, per client id and per
    /// connection.
    Stats(ReportArgs),
    /// One self-contained HTML page for an incident ticket: findings,
    /// charts over time, consumer-group ladders, per client and API tables.
    ///
    /// The capture's summary and health, the findings, requests/s, p99
    /// latency and errors/s over time (all, by API, by broker), error
    /// bursts, each consumer group's ladder, and tables per client, broker
    /// and API. The page loads nothing (inline style and SVG), opens in any browser,
    /// and stays within a few megabytes whatever the capture (long sections
    /// say how many rows they leave out). Several captures (one per host)
    /// are read as one.
    Report(HtmlReportArgs),
    /// Prometheus metrics at http://ADDR/metrics (`--metrics ADDR`) of a
    /// long-running live capture, keeping nothing per exchange: requests,
    /// errors, latencies per API, client id and broker, the capture's
    /// health (not the findings: `--metrics` on the other commands has
    /// them). With a capture file, served while it is read.
    Monitor(MonitorArgs),
    /// Several captures (one per host) written as one pcapng file, on the
    /// first capture's clock.
    ///
    /// Packets in order of their time on the first capture's clock, the
    /// others' clocks set from the TCP segments they share: the frame
    /// numbers the other commands give for several captures are this
    /// file's. Each packet's comment names its capture and frame there.
    Merge(MergeArgs),
}

#[derive(Args)]
struct MergeArgs {
    /// The capture files, the first one's clock the reference.
    #[arg(value_name = "CAPTURE", required = true, num_args = 2..)]
    captures: Vec<String>,
    /// The pcapng file to write.
    #[arg(short = 'o', long, value_name = "FILE", required = true)]
    output: String,
}

#[derive(Args)]
struct HtmlReportArgs {
    #[command(flatten)]
    input: Input,
    /// Write the page to FILE (required; `-o -` writes it to stdout).
    #[arg(short = 'o', long, value_name = "FILE", required = true)]
    output: String,
}

#[derive(Args)]
struct MonitorArgs {
    #[command(flatten)]
    input: Input,
}

#[derive(Args)]
struct ReportArgs {
    #[command(flatten)]
    input: Input,
    /// JSON instead of text (diagnose: one `finding` object per line, as in
    /// `kwire export`; stats: one object).
    #[arg(long)]
    json: bool,
    /// `text`, `json` (as --json) or, for stats, `prometheus` (the metrics
    /// that --metrics serves, in Prometheus' text format, for
    /// node_exporter's textfile collector; see docs/metrics.md).
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json", "prometheus"], conflicts_with = "json")]
    format: Option<String>,
}

#[derive(Args)]
struct ListArgs {
    #[command(flatten)]
    input: Input,
    /// Leave out connection open/close lines.
    #[arg(long)]
    no_connections: bool,
    /// Lines are listed in frame order (an exchange at its request's frame),
    /// each held until this much capture time has passed since it began
    /// (and at most 100,000 held); a live listing lags by it. A line that
    /// completes later (a response slower than this, requests still
    /// unanswered at the end) is listed when it completes, and the listing
    /// says so. 0: every line as it completes, the order of `kwire export`.
    /// Default: 10 for a file, 1 live.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    order_window: Option<f64>,
}

/// `kwire tui`'s options alone, to fill in their defaults for `kwire CAPTURE`.
#[derive(Parser)]
struct TuiDefaults {
    #[command(flatten)]
    args: TuiArgs,
}

#[derive(Args)]
struct TuiArgs {
    #[command(flatten)]
    input: Input,
    /// Exchanges the UI holds; beyond it the oldest tenth is let go (a
    /// long live session keeps its newest exchanges).
    #[arg(long, value_name = "N", default_value_t = 2_000_000)]
    ui_max_exchanges: usize,
    /// Body bytes the UI holds for the detail view; beyond it the oldest
    /// bodies are let go (their exchanges stay). K/M/G suffixes.
    #[arg(long, value_name = "BYTES", default_value = "512M", value_parser = parse_size)]
    ui_max_body_bytes: u64,
    /// No colours (also with the NO_COLOR environment variable).
    #[arg(long)]
    no_color: bool,
}

#[derive(Args)]
struct ExportArgs {
    #[command(flatten)]
    input: Input,
    /// Write to FILE instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<String>,
    /// `ndjson`: every exchange, event and finding, one JSON object per
    /// line (docs/ndjson.md). `parquet`: one row per exchange (times,
    /// endpoints, client id, API, status, error codes, topics, partitions,
    /// sizes, records), for DuckDB, Spark, Trino... (docs/parquet.md); needs
    /// `-o FILE`, complete when kwire ends (Ctrl-C included).
    #[arg(long, value_name = "FORMAT", default_value = "ndjson", value_parser = ["ndjson", "parquet"])]
    format: String,
}

#[derive(Args)]
struct Input {
    /// A pcap or pcapng file, or `-` for a capture on stdin
    /// (`tcpdump -w - | kwire export -`). Several files (one per host:
    /// client and broker side) are read as one: their clocks set against
    /// the first one's from the TCP segments they share, an exchange seen
    /// at both ends shown once with the broker's and the network's time.
    #[arg(value_name = "CAPTURE", required_unless_present = "interface", num_args = 1..)]
    captures: Vec<String>,
    /// Capture live from this interface (needs capture permission).
    #[arg(short = 'i', long, value_name = "IFACE", conflicts_with = "captures")]
    interface: Option<String>,
    /// Live capture: serve Prometheus metrics at http://ADDR/metrics while
    /// capturing (`127.0.0.1:9464`; port 0 picks one, said on stderr):
    /// requests, errors, latencies per API, client id and broker, the
    /// capture's health, findings (docs/metrics.md).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
    /// BPF filter for live capture (default: tcp).
    #[arg(long, value_name = "EXPR", conflicts_with = "captures")]
    bpf: Option<String>,
    /// Stop a live capture after this many seconds (default: until Ctrl-C).
    #[arg(long, value_name = "SECS", value_parser = parse_secs, conflicts_with = "captures")]
    duration: Option<f64>,
    /// Live capture: the kernel's buffer (libpcap's ring), where packets
    /// wait for kwire's reading thread; packets that arrive while it is
    /// full are dropped by the kernel (reported). 0: libpcap's default (2M).
    /// K/M/G suffixes.
    #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = parse_size, conflicts_with = "captures")]
    buffer_size: u64,
    /// Live capture: bytes kept of each packet, at most 256K (whole
    /// packets). Less cuts Kafka messages: the bytes cut are reported as
    /// gaps.
    #[arg(long, value_name = "BYTES", default_value = "256K", value_parser = parse_size, conflicts_with = "captures")]
    snaplen: u64,
    /// Live capture: packet data read from the kernel and waiting for the
    /// analysis; beyond it packets are dropped (reported). K/M/G suffixes.
    #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = parse_size, conflicts_with = "captures")]
    queue_bytes: u64,
    /// Live capture: packets read from the kernel and waiting for the
    /// analysis; beyond it packets are dropped (reported).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 262_144,
        conflicts_with = "captures"
    )]
    queue_packets: usize,
    /// Treat this port as Kafka whatever the traffic looks like (repeatable).
    /// Without it, Kafka is recognised on any port from its traffic; refused
    /// attempts and requests nobody answers are still reported (unconfirmed).
    #[arg(short = 'p', long = "port", value_name = "PORT")]
    ports: Vec<u16>,
    /// Largest Kafka message decoded; larger ones are skipped and reported.
    /// Accepts K/M/G suffixes (KiB, MiB, GiB).
    #[arg(long, value_name = "BYTES", default_value = "100M", value_parser = parse_size)]
    max_frame_size: u64,
    /// Most TCP connections tracked at once (least recently active evicted).
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    max_flows: usize,
    /// Out-of-order bytes buffered per connection direction before a hole is
    /// given up as lost.
    #[arg(long, value_name = "BYTES", default_value = "4M", value_parser = parse_size)]
    max_ooo_bytes: u64,
    /// Out-of-order segments (holes) buffered per connection direction
    /// before the oldest hole is given up as lost.
    #[arg(long, value_name = "N", default_value_t = 256)]
    max_ooo_segments: usize,
    /// Most bytes kwire holds while reading, over all connections:
    /// out-of-order TCP bytes, messages in progress, responses waiting for
    /// their request, requests waiting for their response. When it is full,
    /// the connections holding the most let go first (reported as a `limit`
    /// event, in the summary's `memory`, and by `kwire diagnose`).
    #[arg(long, value_name = "BYTES", default_value = "1G", value_parser = parse_size)]
    max_memory: u64,
    /// A packet stamped this many seconds or more away from the capture
    /// clock is a time jump: reported, and (unless the packets after it
    /// agree) processed at the clock's time, so it cannot expire
    /// connections or distort latencies.
    #[arg(long, value_name = "SECS", default_value_t = 3600.0, value_parser = parse_secs)]
    max_time_jump: f64,
    /// Seconds without packets after which a connection is closed.
    #[arg(long, value_name = "SECS", default_value_t = 300.0, value_parser = parse_secs)]
    idle_timeout: f64,
    /// Threads: 1 runs everything on one; with more, the analysis
    /// (capture, TCP, Kafka) runs on one, the rendering of output lines on
    /// N-1 others, and findings, statistics and writing on one more. The
    /// output is the same whatever the number. Default: the cores.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// IP fragments buffered while their datagrams are reassembled; beyond
    /// it the oldest datagram in progress is given up (and reported).
    #[arg(long, value_name = "BYTES", default_value = "16M", value_parser = parse_size)]
    max_fragment_bytes: u64,
    /// Seconds after its first fragment that an IP datagram still missing
    /// fragments is given up (and reported).
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = parse_secs)]
    fragment_timeout: f64,
    /// Requests awaiting a response per connection (librdkafka's own
    /// default allows 1,000,000); they also count in --max-memory.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    max_in_flight: usize,
    /// Records in Produce and Fetch: `none` (the records' size only),
    /// `meta` (each batch's header: offsets, timestamps, record count,
    /// sizes, producer id and epoch, compression, transactional and control
    /// flags, its CRC checked; records are neither decompressed nor read,
    /// but for a transaction's COMMIT/ABORT markers and old magic 0/1
    /// message sets, whose compressed wrappers are) or `full` (also every
    /// record: offset, timestamp, key, value and headers, keys and values
    /// as UTF-8 text when valid, else base64, each cut at
    /// --max-payload-bytes). The UI's detail view decodes records in full
    /// whatever this says.
    #[arg(long, value_name = "MODE", default_value = "meta", value_parser = ["none", "meta", "full"])]
    records: String,
    /// Bytes kept of each record key, value or header value with
    /// `--records full`.
    #[arg(long, value_name = "BYTES", default_value = "1K", value_parser = parse_size)]
    max_payload_bytes: u64,
    /// Most bytes one compressed batch may decompress to (batches are
    /// decompressed with `--records full`; with `meta` only magic 0/1
    /// wrappers).
    #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = parse_size)]
    max_decompressed_bytes: u64,
    /// Most records decoded over the whole capture (with `--records full`;
    /// with `meta` only COMMIT/ABORT markers and magic 0/1 messages are);
    /// later messages show their batches' headers only (reported once).
    #[arg(long, value_name = "N", default_value_t = session::DEFAULT_MAX_CAPTURE_RECORDS)]
    max_capture_records: u64,
    /// Most bytes decompressed over the whole capture; later compressed
    /// batches are not decompressed (reported once).
    #[arg(long, value_name = "BYTES", default_value = "16G", value_parser = parse_size)]
    max_capture_decompressed: u64,
    /// Headers only: do not decode request and response bodies. Error
    /// codes are in the bodies: an answered exchange then shows `ok`, and
    /// nothing is known of records, topics or what it carried (findings
    /// that need them find nothing).
    #[arg(long)]
    no_bodies: bool,
    /// Show secrets (SASL passwords, SCRAM proofs and server signatures,
    /// OAUTHBEARER tokens; SCRAM salted passwords in
    /// AlterUserScramCredentials; delegation-token HMACs) instead of
    /// masking them as ***.
    #[arg(long)]
    show_secrets: bool,
    /// Decrypt TLS with the secrets of this NSS key log file (repeatable):
    /// what SSLKEYLOGFILE, librdkafka's ssl.keylog.location, Go's
    /// KeyLogWriter and Python's keylog_filename write. TLS 1.2 (AES-GCM,
    /// ChaCha20-Poly1305, AES-CBC) and TLS 1.3 are read on any port; the
    /// file is read again when a session's keys are missing (a live
    /// capture's key log grows).
    #[arg(long = "keylog", value_name = "FILE")]
    keylogs: Vec<std::path::PathBuf>,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let unit = s[i..].to_ascii_lowercase();
            let m = match unit.trim_end_matches('b').trim_end_matches('i') {
                "" => 1,
                "k" => 1 << 10,
                "m" => 1 << 20,
                "g" => 1 << 30,
                _ => return Err(format!("unknown unit in {s:?} (use K, M or G)")),
            };
            (&s[..i], m)
        }
        None => (s, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a size: {s:?}"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("too large: {s:?}"))
}

/// Most seconds an option takes: ten years (in nanoseconds, far inside
/// `u64`; `Duration` panics on what does not fit).
const MAX_SECS: f64 = 315_360_000.0;

fn parse_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("not a number of seconds: {s:?}"))?;
    if !(0.0..=MAX_SECS).contains(&v) {
        return Err(format!(
            "{s:?} is not between 0 and {MAX_SECS} seconds (ten years)"
        ));
    }
    Ok(v)
}

impl Input {
    /// The live capture's options from the command line; starts the
    /// `--duration` timer, which sets `stop`.
    fn live_options(&self, iface: &str, stop: Arc<AtomicBool>) -> Result<LiveOptions> {
        if self.snaplen == 0 || self.snaplen > u64::from(live::MAX_SNAPLEN) {
            bail!("--snaplen must be between 1 and 256K (262144)");
        }
        // libpcap takes an int.
        let buffer_size = match u32::try_from(self.buffer_size) {
            Ok(b) if b <= i32::MAX as u32 => b,
            _ => bail!("--buffer-size must be under 2G"),
        };
        if let Some(secs) = self.duration {
            let s = stop.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs_f64(secs.max(0.0)));
                s.store(true, Ordering::SeqCst);
            });
        }
        Ok(LiveOptions {
            bpf: self.bpf.clone(),
            snaplen: self.snaplen as u32,
            buffer_size,
            queue: QueueLimits {
                max_bytes: usize::try_from(self.queue_bytes).unwrap_or(usize::MAX),
                max_packets: self.queue_packets,
            },
            ..LiveOptions::new(iface, stop)
        })
    }

    fn capture_info(&self, src: &dyn PacketSource, source: String) -> CaptureInfo {
        let live = src.format() == SourceFormat::Live;
        CaptureInfo {
            source,
            format: src.format(),
            link_types: src.link_types(),
            filter: live.then(|| self.bpf.clone().unwrap_or_else(|| "tcp".into())),
            merged: Vec::new(),
        }
    }

    /// Opens the source on the UI's analysis thread. Live: stopped after
    /// `--duration` (the UI stays open with what was captured).
    fn opener(&self) -> Result<kwire::tui::run::Opener> {
        if let Some(iface) = &self.interface {
            let opts = self.live_options(iface, Arc::new(AtomicBool::new(false)))?;
            let filter = Some(self.bpf.clone().unwrap_or_else(|| "tcp".into()));
            return Ok(Box::new(move || {
                let src = LiveSource::open(&opts)?;
                let info = CaptureInfo {
                    source: opts.interface.clone(),
                    format: SourceFormat::Live,
                    link_types: src.link_types(),
                    filter,
                    merged: Vec::new(),
                };
                Ok(Sources::One(Box::new(src), info))
            }));
        }
        if self.captures.len() > 1 {
            let paths = self.merged_paths()?;
            return Ok(Box::new(move || {
                Ok(Sources::Many(kwire::merge::Captures::open(&paths)?))
            }));
        }
        let path = self.capture();
        Ok(Box::new(move || {
            let src = FileSource::open(&path)?;
            let info = CaptureInfo {
                source: path.clone(),
                format: src.format(),
                link_types: src.link_types(),
                filter: None,
                merged: Vec::new(),
            };
            Ok(Sources::One(Box::new(src), info))
        }))
    }

    /// The one capture file (`-`: stdin).
    fn capture(&self) -> String {
        self.captures.first().cloned().unwrap_or_else(|| "-".into())
    }

    /// Several captures to read as one: files (each is read twice), at
    /// most [`kwire::merge::MAX_CAPTURES`].
    fn merged_paths(&self) -> Result<Vec<String>> {
        if self.captures.iter().any(|p| p == "-") {
            Usage {
                message: "several captures are read as files: `-` (stdin) cannot be one of them"
                    .into(),
                hint: Some("save the piped capture to a file first".into()),
            }
            .exit()
        }
        if self.captures.len() > kwire::merge::MAX_CAPTURES {
            Usage {
                message: format!(
                    "{} captures: at most {} are read as one",
                    self.captures.len(),
                    kwire::merge::MAX_CAPTURES
                ),
                hint: None,
            }
            .exit()
        }
        Ok(self.captures.clone())
    }

    fn configs(&self) -> Result<(TcpConfig, SessionConfig)> {
        let tcp = TcpConfig {
            max_flows: self.max_flows.max(1),
            max_ooo_bytes: usize::try_from(self.max_ooo_bytes).unwrap_or(usize::MAX),
            max_ooo_segments: self.max_ooo_segments.max(1),
            idle_timeout_ns: (self.idle_timeout.max(0.0) * 1e9) as u64,
            ..TcpConfig::default()
        };
        if !self.keylogs.is_empty() {
            let mut keys = kwire::tls::KeyLog::new(self.keylogs.clone());
            keys.load()?;
            if keys.is_empty() {
                eprintln!(
                    "kwire: warning: no TLS secrets in {}",
                    self.keylogs
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        if self.max_frame_size > i32::MAX as u64 {
            bail!("--max-frame-size cannot exceed 2 GiB (Kafka sizes are int32)");
        }
        let records = match self.records.as_str() {
            "none" => RecordsMode::None,
            "full" => RecordsMode::Full,
            _ => RecordsMode::Meta,
        };
        let record_limits = RecordLimits {
            // Batch CRCs are checked whenever records are decoded: a batch
            // that does not verify is a deviation `diagnose` reports
            // (`protocol_records`). CRC-32C runs at memory speed.
            verify_crc: records != RecordsMode::None,
            max_payload_bytes: usize::try_from(self.max_payload_bytes).unwrap_or(usize::MAX),
            max_decompressed_bytes: usize::try_from(self.max_decompressed_bytes)
                .unwrap_or(usize::MAX),
            ..RecordLimits::default()
        };
        let session = SessionConfig {
            kafka_ports: self.ports.clone(),
            max_frame_size: self.max_frame_size as u32,
            max_in_flight: self.max_in_flight.max(1),
            decode_bodies: !self.no_bodies,
            threads: self
                .threads
                .unwrap_or_else(session::pipeline::default_threads)
                .max(1),
            records,
            record_limits,
            max_capture_records: self.max_capture_records,
            max_capture_decompressed_bytes: self.max_capture_decompressed,
            show_secrets: self.show_secrets,
            keylogs: self.keylogs.clone(),
            max_memory: usize::try_from(self.max_memory).unwrap_or(usize::MAX),
            max_time_jump_ns: (self.max_time_jump.max(0.0) * 1e9) as u64,
            defrag: DefragConfig {
                max_bytes: usize::try_from(self.max_fragment_bytes).unwrap_or(usize::MAX),
                timeout_ns: (self.fragment_timeout.max(0.0) * 1e9) as u64,
                ..DefragConfig::default()
            },
            ..SessionConfig::default()
        };
        Ok((tcp, session))
    }

    /// Open the source; the error message is the one line the user sees.
    /// Live: until Ctrl-C or `--duration`. A file also gives what its
    /// progress watches.
    fn open(&self) -> Result<(Box<dyn PacketSource>, CaptureInfo, Option<Watch>)> {
        let mut watch = None;
        let (src, name): (Box<dyn PacketSource>, String) = match &self.interface {
            Some(iface) => {
                let stop = Arc::new(AtomicBool::new(false));
                let s = stop.clone();
                ctrlc::set_handler(move || s.store(true, Ordering::SeqCst))
                    .context("cannot install the Ctrl-C handler")?;
                let opts = self.live_options(iface, stop)?;
                (Box::new(LiveSource::open(&opts)?), iface.clone())
            }
            None => {
                let path = self.capture();
                let path = path.as_str();
                let src = FileSource::open(path)?;
                // A regular file's size; stdin or a pipe has none.
                let total = (path != "-")
                    .then(|| std::fs::metadata(path).ok())
                    .flatten()
                    .filter(|m| m.is_file())
                    .map(|m| m.len());
                watch = Some(Watch {
                    read: src.bytes_read(),
                    total,
                });
                (Box::new(src), path.to_string())
            }
        };
        let info = self.capture_info(src.as_ref(), name);
        Ok((src, info, watch))
    }
}

/// What a file run's progress watches: the bytes read, and the file's size.
struct Watch {
    read: Arc<AtomicU64>,
    total: Option<u64>,
}

/// Analyse `input` into `sink`, counted into the `--metrics` endpoint when
/// one is asked for (with the findings from `findings`). A file run shows
/// its progress when `progress` (see [`progress::wanted`]).
fn analyze<S: RecordSink + Send>(
    input: &Input,
    sink: S,
    progress: bool,
    findings: FindingsFrom<S>,
) -> Result<io::Result<S>> {
    match metrics_endpoint(input, false)? {
        None => run(input, sink, progress),
        Some(shared) => {
            let metered = Metered::new(sink, shared, findings);
            Ok(run(input, metered, progress)?.map(|m| m.inner))
        }
    }
}

/// Start the `--metrics` endpoint when one is asked for: the metrics the
/// run is to feed. Only for a live capture unless `file_ok` (a file is read
/// in seconds: `kwire stats --format prometheus` writes its metrics).
fn metrics_endpoint(input: &Input, file_ok: bool) -> Result<Option<Arc<Shared>>> {
    let Some(addr) = &input.metrics else {
        return Ok(None);
    };
    if input.interface.is_none() && !file_ok {
        Usage {
            message: "--metrics serves a live capture: use it with -i IFACE".into(),
            hint: Some(
                "for a capture file, `kwire stats --format prometheus FILE` writes the same metrics"
                    .into(),
            ),
        }
        .exit()
    }
    let shared = Shared::new();
    let ep = kwire::export::prometheus::serve::start(addr, shared.clone())?;
    // Said whatever --quiet says: with port 0 it is the only way to know.
    eprintln!(
        "kwire: metrics at http://{}{}",
        ep.addr,
        kwire::export::prometheus::serve::PATH
    );
    Ok(Some(shared))
}

/// Analyse `input` into `sink`, with the file's progress when `progress`.
fn run<S: RecordSink + Send>(input: &Input, sink: S, progress: bool) -> Result<io::Result<S>> {
    let (tcp, session) = input.configs()?;
    let (sources, watch) = if input.interface.is_none() && input.captures.len() > 1 {
        let paths = input.merged_paths()?;
        // The first reading (the clocks) has its own progress.
        let total: Option<u64> = paths
            .iter()
            .map(|p| {
                std::fs::metadata(p)
                    .ok()
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
            })
            .sum();
        let read = Arc::new(AtomicU64::new(0));
        let shown = progress.then(|| Progress::start(read.clone(), total, progress::delay()));
        let plan = kwire::merge::plan_counting(&paths, &read);
        if let Some(p) = shown {
            p.finish();
        }
        let c = kwire::merge::Captures::with_plan(&paths, plan?)?;
        let watch = (c.read.clone(), c.total);
        (Sources::Many(c), Some(watch))
    } else {
        let (src, info, watch) = input.open()?;
        (
            Sources::One(src, info),
            watch.map(|w| (vec![w.read], w.total)),
        )
    };
    let shown = watch
        .filter(|_| progress)
        .map(|(read, total)| Progress::start_many(read, total, progress::delay()));
    let never = AtomicBool::new(false);
    let ran = session::pipeline::drive_threads(sources, tcp, session, sink, &never, |_| {});
    let r = ran.map(|(s, _)| s);
    if let Some(p) = shown {
        p.finish();
    }
    Ok(r)
}

/// Whether a file run of a command shows its progress; `streams` when the
/// command writes its output to stdout as it reads.
fn progress_wanted(quiet: bool, streams: bool) -> bool {
    progress::wanted(
        io::stderr().is_terminal(),
        quiet,
        streams && io::stdout().is_terminal(),
    )
}

/// A closed pipe (`kwire export x | head`) is a normal way to stop reading.
fn finish_output(r: io::Result<()>) -> Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("cannot write output"),
    }
}

fn tui(a: &TuiArgs) -> Result<()> {
    use kwire::tui::app::{AppOptions, Mode};
    use kwire::tui::store::StoreLimits;

    if !io::stdout().is_terminal() {
        bail!("the UI needs a terminal (use `kwire list` or `kwire export` in scripts)");
    }
    let (tcp, session) = a.input.configs()?;
    let limits = StoreLimits {
        max_exchanges: a.ui_max_exchanges.max(1),
        max_body_bytes: usize::try_from(a.ui_max_body_bytes).unwrap_or(usize::MAX),
        ..StoreLimits::default()
    };
    let export = session::DecodeOptions {
        records: session.records,
        limits: session.record_limits.clone(),
        show_secrets: session.show_secrets,
    };
    let decode = session::DecodeOptions {
        records: RecordsMode::Full,
        limits: RecordLimits {
            verify_crc: true,
            ..session.record_limits.clone()
        },
        ..export.clone()
    };
    let mut theme = kwire::tui::theme::Theme::from_env();
    if a.no_color {
        theme.color = false;
    }
    let live = a.input.interface.is_some();
    let stop = Arc::new(AtomicBool::new(false));
    let opener = a.input.opener()?;
    let metrics = metrics_endpoint(&a.input, false)?;
    // The capture's own message is the one line the user sees.
    let feeder = kwire::tui::run::start_metered(opener, tcp, session, live, stop, metrics)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let opts = AppOptions {
        theme,
        limits,
        groups: Default::default(),
        decode,
        export,
        mode: if live { Mode::Live } else { Mode::File },
    };
    kwire::tui::run::run(opts, feeder).context("terminal error")
}

/// A mistake on the command line: said as every error is, and the exit
/// status is 2 (clap's, as for any usage error; a run that fails is 1).
struct Usage {
    message: String,
    hint: Option<String>,
}

impl Usage {
    fn exit(self) -> ! {
        let mut err = io::stderr().lock();
        let _ = writeln!(err, "kwire: error: {}", self.message);
        if let Some(h) = self.hint {
            let _ = writeln!(err, "  hint: {h}");
        }
        std::process::exit(2)
    }
}

/// The commands, as typed (`help` too), for suggestions.
fn command_names() -> Vec<String> {
    use clap::CommandFactory;
    let mut names: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    names.push("help".into());
    names
}

/// The command `word` was probably meant to be: the one it begins, or one
/// at most two edits away (a letter left out, added, changed or two
/// swapped) that is not mostly edits (`ls` → `list`, not `x` → `tui`).
fn did_you_mean<'a>(word: &str, names: &'a [String]) -> Option<&'a str> {
    let w = word.to_ascii_lowercase();
    let prefixed: Vec<&String> = names.iter().filter(|n| n.starts_with(&w)).collect();
    if w.len() >= 2
        && let [only] = prefixed.as_slice()
    {
        return Some(only.as_str());
    }
    names
        .iter()
        .map(|n| (strsim::damerau_levenshtein(&w, n), n))
        .filter(|&(d, n)| d <= 2 && d < n.len() && d <= w.len() / 2 + 1)
        .min_by_key(|&(d, _)| d)
        .map(|(_, n)| n.as_str())
}

/// Look at the word where a command or a capture goes, before clap does:
/// `kwire CAPTURE` takes a bare path there, so clap cannot tell a mistyped
/// command from a capture (`kwire lst x.pcap` would be "the subcommand
/// 'x.pcap' cannot be used with '[CAPTURE]'"). A word that is neither a
/// command nor an existing file, and is close to a command, is a mistyped
/// command; one followed by more words is no command either. Returns the
/// command named, if any (for the hint of a later usage error).
fn check_command_word(args: &[std::ffi::OsString]) -> Result<Option<String>, Usage> {
    let names = command_names();
    let mut words = args.iter().skip(1).map(|a| a.to_string_lossy());
    let mut after_help = false;
    while let Some(a) = words.next() {
        match a.as_ref() {
            "-q" | "--quiet" => continue,
            "--keylog" => {
                words.next();
                continue;
            }
            s if s.starts_with("--keylog=") => continue,
            // Clap's to handle (`--help`, `-V`, `--`, a mistyped option).
            s if s.starts_with('-') && s != "-" => return Ok(None),
            _ => {}
        }
        if names.iter().any(|n| *n == a) {
            if a == "help" && !after_help {
                after_help = true;
                continue;
            }
            return Ok(Some(a.into_owned()));
        }
        if after_help {
            return Err(Usage {
                message: match did_you_mean(&a, &names) {
                    Some(n) => format!("no such command '{a}'; did you mean '{n}'?"),
                    None => format!("no such command '{a}'"),
                },
                hint: Some(format!("the commands: {}", names.join(", "))),
            });
        }
        if a == "-" || std::path::Path::new(a.as_ref()).exists() {
            return Ok(None);
        }
        if let Some(n) = did_you_mean(&a, &names) {
            return Err(Usage {
                message: format!("no such command or file '{a}'; did you mean '{n}'?"),
                hint: None,
            });
        }
        if words.any(|w| !w.starts_with('-')) {
            return Err(Usage {
                message: format!("no such command or file '{a}'"),
                hint: Some(format!(
                    "the commands: {}; `kwire CAPTURE` takes one capture",
                    names.join(", ")
                )),
            });
        }
        return Ok(None);
    }
    Ok(None)
}

/// Clap's error as kwire says errors: one line, and at most one hint (the
/// values an option takes, a similar option, or where the help is) instead
/// of clap's usage block.
fn usage_of(e: &clap::Error, command: Option<&str>) -> Usage {
    let text = e.render().to_string();
    let mut lines = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid command line");
    let mut message = first.strip_prefix("error: ").unwrap_or(first).to_string();
    let rest: Vec<&str> = lines.collect();
    let mut hint = None;
    if message.ends_with(':') && rest.first().is_some_and(|r| r.starts_with("<CAPTURE")) {
        // Clap names the positional alone; `-i` would do as well.
        message = match command {
            Some(_) => {
                "no capture: give a pcap or pcapng file, `-` for one on stdin, \
                        or `-i IFACE` to capture live"
            }
            None => "no capture: give a pcap or pcapng file",
        }
        .to_string();
    } else if message.ends_with(':') {
        // "the following required arguments were not provided:", a list.
        message.push(' ');
        message.push_str(&rest.join(", "));
    } else if let Some(h) = rest.first() {
        let h = h.trim_start_matches('[').trim_end_matches(']');
        let h = h.strip_prefix("tip: ").unwrap_or(h);
        // "to pass '--x' as a value, use '-- --x'" rarely is what was meant.
        if !h.starts_with("to pass ") {
            hint = Some(h.to_string());
        }
    }
    if message.contains("cannot be used with '[CAPTURE]") && !message.contains("--interface") {
        hint = Some("an option of a live capture, with -i IFACE".into());
    }
    let hint = hint.or_else(|| {
        Some(match command {
            Some(c) => format!("see 'kwire {c} --help'"),
            None => "see 'kwire --help'".to_string(),
        })
    });
    Usage { message, hint }
}

/// The command line, or the process ends: help and version on stdout
/// (status 0), help when nothing was given, a usage error as [`Usage`].
fn parse_cli() -> Cli {
    use clap::error::ErrorKind;
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let command = check_command_word(&args).unwrap_or_else(|u| u.exit());
    match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
            _ => usage_of(&e, command.as_deref()).exit(),
        },
    }
}

fn main_inner() -> Result<()> {
    let cli = parse_cli();
    let command = match cli.command {
        Some(c) => c,
        None => {
            if cli.captures.is_empty() {
                Usage {
                    message: "no capture and no command".into(),
                    hint: Some("see 'kwire --help'".into()),
                }
                .exit()
            };
            // Every option at its default, but the key logs.
            let mut argv: Vec<std::ffi::OsString> = vec!["kwire".into()];
            for k in &cli.keylogs {
                argv.push("--keylog".into());
                argv.push(k.into());
            }
            // A capture named like an option is still the capture.
            argv.push("--".into());
            argv.extend(cli.captures.iter().map(Into::into));
            let a = TuiDefaults::parse_from(argv).args;
            if io::stdout().is_terminal() {
                Command::Tui(a)
            } else {
                Command::List(ListArgs {
                    input: a.input,
                    no_connections: false,
                    order_window: None,
                })
            }
        }
    };
    let quiet = cli.quiet;
    match command {
        Command::Tui(a) => tui(&a),
        Command::List(a) => {
            let live = a.input.interface.is_some();
            let out = BufWriter::with_capacity(1 << 16, io::stdout());
            use kwire::export::text::order::{DEFAULT_WINDOW_SECS, LIVE_WINDOW_SECS};
            let window = a.order_window.unwrap_or(if live {
                LIVE_WINDOW_SECS
            } else {
                DEFAULT_WINDOW_SECS
            });
            let mut w = TextWriter::new(out).order_window(window);
            w.connections = !a.no_connections;
            w.flush_each = live || io::stdout().is_terminal();
            let progress = progress_wanted(quiet, true);
            let r = analyze(&a.input, w, progress, FindingsFrom::own())?
                .and_then(|mut w| w_flush(&mut w));
            finish_output(r)
        }
        Command::Diagnose(a) if a.format.as_deref() == Some("prometheus") => Usage {
            message: "--format prometheus is kwire stats' (the findings are in it)".into(),
            hint: Some("kwire stats --format prometheus CAPTURE".into()),
        }
        .exit(),
        Command::Diagnose(a) => diagnose(&a, quiet),
        Command::Stats(a) if a.format.as_deref() == Some("prometheus") => {
            stats_prometheus(&a.input, quiet)
        }
        Command::Stats(a) => stats(&a, quiet),
        Command::Export(a) if a.format == "parquet" => export_parquet(&a, quiet),
        Command::Report(a) => html_report(&a, quiet),
        Command::Monitor(a) => monitor(&a.input),
        Command::Merge(a) => merge(&a, quiet),
        Command::Export(a) => {
            let live = a.input.interface.is_some();
            let out: Box<dyn Write + Send> = match &a.output {
                Some(p) => Box::new(
                    std::fs::File::create(p).with_context(|| format!("cannot create {p}"))?,
                ),
                None => Box::new(io::stdout()),
            };
            let mut w = NdjsonWriter::new(BufWriter::with_capacity(1 << 16, out));
            w.flush_each = live;
            // The findings come just before the summary.
            let sink = Diagnosing::new(w, |w: &mut NdjsonWriter<_>, found: &[Finding]| {
                found.iter().try_for_each(|f| w.write_value(&f.to_json()))
            });
            let progress = progress_wanted(quiet, a.output.is_none());
            let r = analyze(
                &a.input,
                sink,
                progress,
                FindingsFrom::Inner(|s| &s.diagnoser),
            )?
            .and_then(|s| s.inner.into_inner().flush());
            finish_output(r)
        }
    }
}

/// `kwire export --format parquet -o FILE`: Parquet's footer, written at
/// the end, says where everything is, so the output is a file, not a pipe.
fn export_parquet(a: &ExportArgs, quiet: bool) -> Result<()> {
    use kwire::export::parquet::ParquetWriter;
    let Some(path) = a.output.as_deref().filter(|p| *p != "-") else {
        Usage {
            message: "--format parquet writes a file: give it with -o FILE".into(),
            hint: Some(
                "Parquet's footer is written last and readers seek to it; stdout cannot hold it"
                    .into(),
            ),
        }
        .exit()
    };
    let file = std::fs::File::create(path).with_context(|| format!("cannot create {path}"))?;
    let w = ParquetWriter::new(BufWriter::with_capacity(1 << 16, file))
        .with_context(|| format!("cannot write {path}"))?;
    let progress = progress_wanted(quiet, false);
    let r = analyze(&a.input, w, progress, FindingsFrom::own())?.and_then(|w| w.finish().map(drop));
    r.with_context(|| format!("cannot write {path}"))
}

/// Analyse for `stats` and `diagnose`, which write when the reading is
/// done: packets a live capture lost are also said on stderr (unless
/// `quiet`: their first line says it too).
fn report(input: &Input, quiet: bool) -> Result<Report> {
    let progress = progress_wanted(quiet, false);
    let found = FindingsFrom::Inner(|r: &Report| &r.diagnoser);
    let r = analyze(input, Report::default(), progress, found)?.context("analysis stopped")?;
    warn_drops(&r, quiet);
    Ok(r)
}

/// Packets a live capture lost, on stderr (unless `quiet`).
fn warn_drops(r: &Report, quiet: bool) {
    if let Some(d) = r.summary.as_ref().and_then(|s| s.drops)
        && d.any()
        && !quiet
    {
        let _ = writeln!(
            io::stderr(),
            "kwire: warning: {}; the results are incomplete",
            kwire::export::text::drops(&d)
        );
    }
}

/// `kwire merge`: several captures written as one pcapng file.
fn merge(a: &MergeArgs, quiet: bool) -> Result<()> {
    use kwire::export::pcapng::PcapngWriter;
    use kwire::merge::{Interleave, plan};
    if a.captures.iter().any(|p| p == "-") || a.captures.len() > kwire::merge::MAX_CAPTURES {
        Usage {
            message: format!(
                "kwire merge reads 2 to {} capture files (not stdin)",
                kwire::merge::MAX_CAPTURES
            ),
            hint: None,
        }
        .exit()
    }
    let plan = plan(&a.captures)?;
    let mut sources: Vec<Box<dyn PacketSource>> = Vec::new();
    for p in &a.captures {
        sources.push(Box::new(FileSource::open(p)?));
    }
    let file =
        std::fs::File::create(&a.output).with_context(|| format!("cannot create {}", a.output))?;
    let mut w = PcapngWriter::new(BufWriter::with_capacity(1 << 16, file))?;
    let mut il = Interleave::new(sources, plan.clocks.clone());
    // One interface per capture and link type.
    let mut ifaces: std::collections::HashMap<(usize, u16), u32> = Default::default();
    let mut comment = String::new();
    let written = (|| -> io::Result<u64> {
        let mut n = 0u64;
        while let Some(m) = il.next_merged() {
            let key = (m.capture, m.packet.link_type.0);
            let id = match ifaces.get(&key) {
                Some(&i) => i,
                None => {
                    let name = a.captures.get(m.capture).map_or("", String::as_str);
                    let i = w.add_interface(
                        m.packet.link_type,
                        kwire::capture::live::MAX_SNAPLEN,
                        &format!("capture {}", m.capture),
                        name,
                    )?;
                    ifaces.insert(key, i);
                    i
                }
            };
            comment.clear();
            let name = a.captures.get(m.capture).map_or("", String::as_str);
            comment.push_str(name);
            comment.push_str(" frame ");
            comment.push_str(itoa::Buffer::new().format(m.original_frame));
            w.packet(
                id,
                m.packet.ts,
                m.packet.data,
                m.packet.orig_len,
                Some(&comment),
            )?;
            n += 1;
        }
        Ok(n)
    })();
    let n = written.with_context(|| format!("cannot write {}", a.output))?;
    w.finish()
        .and_then(|mut b| b.flush())
        .with_context(|| format!("cannot write {}", a.output))?;
    for (k, e) in il.errors.iter().enumerate() {
        if let Some(e) = e {
            eprintln!(
                "kwire: warning: {}: {e}",
                a.captures.get(k).map_or("", String::as_str)
            );
        }
    }
    if !quiet {
        for (k, c) in plan.clocks.iter().enumerate() {
            eprintln!(
                "kwire: capture {k}: {}: {}",
                a.captures.get(k).map_or("", String::as_str),
                kwire::present::capture_clock(c)
            );
        }
        eprintln!(
            "kwire: wrote {} to {}",
            kwire::present::count(n, "packet", "packets"),
            a.output
        );
    }
    Ok(())
}

/// `kwire report`: the page is written once the capture is read.
fn html_report(a: &HtmlReportArgs, quiet: bool) -> Result<()> {
    use kwire::export::report::{self, Gathered};
    let progress = progress_wanted(quiet, false);
    let found = FindingsFrom::Inner(|g: &Gathered| &g.report.diagnoser);
    let g = analyze(&a.input, Gathered::default(), progress, found)?.context("analysis stopped")?;
    warn_drops(&g.report, quiet);
    let opts = report::Options {
        generator: format!("kwire {}", env!("KWIRE_VERSION")),
    };
    let page = report::render(&g, &opts);
    if a.output == "-" {
        let mut out = io::stdout().lock();
        return finish_output(out.write_all(page.as_bytes()).and_then(|()| out.flush()));
    }
    std::fs::write(&a.output, page).with_context(|| format!("cannot write {}", a.output))
}

fn diagnose(a: &ReportArgs, quiet: bool) -> Result<()> {
    let r = report(&a.input, quiet)?;
    let found = r.diagnoser.findings();
    let mut out = BufWriter::new(io::stdout().lock());
    let res = if a.json || a.format.as_deref() == Some("json") {
        found.iter().try_for_each(|f| {
            serde_json::to_writer(&mut out, &f.to_json())?;
            out.write_all(b"\n")
        })
    } else {
        (|| {
            let count = |s| found.iter().filter(|f| f.severity == s).count();
            let ex = r.summary.as_ref().map_or(0, |s| s.exchanges);
            use kwire::present::count as n;
            write!(
                out,
                "# {}: {}; {}: {}, {}, {} info",
                r.source,
                n(ex, "exchange", "exchanges"),
                n(found.len() as u64, "finding", "findings"),
                n(count(Severity::Error) as u64, "error", "errors"),
                n(count(Severity::Warning) as u64, "warning", "warnings"),
                count(Severity::Info)
            )?;
            match r.summary.as_ref().and_then(|s| s.drops) {
                Some(d) => writeln!(out, "; {}", kwire::export::text::drops(&d))?,
                None => writeln!(out)?,
            }
            if found.is_empty() {
                writeln!(out, "nothing wrong found")?;
            }
            for f in &found {
                write!(out, "{}", findings::to_text(f))?;
            }
            Ok(())
        })()
    };
    finish_output(res.and_then(|()| out.flush()))
}

fn stats(a: &ReportArgs, quiet: bool) -> Result<()> {
    let r = report(&a.input, quiet)?;
    let mut out = BufWriter::new(io::stdout().lock());
    let summary = r.summary.as_ref();
    let drops = summary.and_then(|s| s.drops);
    let res = if a.json || a.format.as_deref() == Some("json") {
        let mut v = kwire::export::stats::to_json(&r.stats, &r.conns);
        // A live capture's drop counters (null for a file).
        v["drops"] = drops.map_or(serde_json::Value::Null, |d| {
            kwire::export::ndjson::drops(&d)
        });
        serde_json::to_writer_pretty(&mut out, &v)
            .map_err(io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
    } else {
        let tables = kwire::export::stats::tables(&r.stats, Some(&r.conns));
        (|| {
            if let (Some(d), Some(s)) = (drops, summary) {
                let drops = kwire::export::text::drops(&d);
                let packets = kwire::present::count(s.packets, "packet", "packets");
                writeln!(out, "# {}: {packets}; {drops}\n", r.source)?;
            }
            write!(out, "{}", kwire::export::stats::to_text(&tables))
        })()
    };
    finish_output(res.and_then(|()| out.flush()))
}

/// `kwire stats --format prometheus`: the metrics `--metrics` serves,
/// written once the capture is read (live: also served meanwhile).
fn stats_prometheus(input: &Input, quiet: bool) -> Result<()> {
    let shared = metrics_endpoint(input, false)?.unwrap_or_else(Shared::new);
    let sink = Metered::new(
        |_: kwire::session::Record| Ok(()),
        shared.clone(),
        FindingsFrom::own(),
    );
    run(input, sink, progress_wanted(quiet, false))?.context("analysis stopped")?;
    let text = kwire::export::prometheus::to_text(&shared.lock());
    let mut out = io::stdout().lock();
    finish_output(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// `kwire monitor`: only the metrics, served until the capture ends
/// (Ctrl-C, `--duration`, or a file's end).
fn monitor(input: &Input) -> Result<()> {
    if input.metrics.is_none() {
        Usage {
            message: "kwire monitor needs --metrics ADDR (where to serve the metrics)".into(),
            hint: Some("e.g. kwire monitor -i eth0 --metrics 127.0.0.1:9464".into()),
        }
        .exit()
    }
    let shared = metrics_endpoint(input, true)?.context("no metrics endpoint")?;
    // No findings: the detectors keep history that grows (within their
    // limits) with the traffic; monitor keeps only what does not.
    let sink = Metered::new(
        |_: kwire::session::Record| Ok(()),
        shared,
        FindingsFrom::Nowhere,
    );
    run(input, sink, false)?.context("analysis stopped")?;
    Ok(())
}

fn w_flush<W: Write>(_w: &mut TextWriter<W>) -> io::Result<()> {
    // TextWriter flushes after the summary.
    Ok(())
}

/// An error and its causes on one line, each said once: a message that
/// already ends with its cause's text (`x.pcap: No such file or directory
/// (os error 2)`) is not followed by that cause again.
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(text.as_str()) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A line after the error that says what to do about it, for the errors a
/// user can act on and whose message does not say it already.
fn hint_for(e: &anyhow::Error) -> Option<&'static str> {
    use kwire::capture::CaptureError;
    match e.downcast_ref::<CaptureError>()? {
        CaptureError::NotACapture(_) => Some(
            "kwire reads pcap and pcapng files, as tcpdump -w, dumpcap and Wireshark write them \
             (decompress a .gz first)",
        ),
        _ => None,
    }
}

fn main() -> ExitCode {
    match main_inner() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut err = io::stderr().lock();
            let _ = writeln!(err, "kwire: error: {}", one_line(&e));
            if let Some(h) = hint_for(&e) {
                let _ = writeln!(err, "  hint: {h}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command line's live-capture defaults are the library's.
    #[test]
    fn live_defaults_match_the_library() {
        let cli = Cli::try_parse_from(["kwire", "list", "-i", "lo"]).unwrap();
        let Some(Command::List(a)) = cli.command else {
            panic!("not list")
        };
        let opts = a
            .input
            .live_options("lo", Arc::new(AtomicBool::new(false)))
            .unwrap();
        let lib = LiveOptions::new("lo", opts.stop.clone());
        assert_eq!(opts.snaplen, lib.snaplen);
        assert_eq!(opts.buffer_size, lib.buffer_size);
        assert_eq!(opts.queue, lib.queue);
        assert_eq!(opts.bpf, None);
    }
}
