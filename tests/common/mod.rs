//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod tmux;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use std::net::SocketAddr;

use kwire::capture::file::FileSource;
use kwire::capture::link::{Decoded, decode};
use kwire::capture::{LinkType, Packet, SourceFormat};
use kwire::capture::{PacketRef, PacketSource, Timestamp};
use kwire::session::{self, Analyzer, CaptureInfo, Exchange, Record, SessionConfig, Summary};
use kwire::tcp::TcpConfig;
use kwire::tcp::{
    CloseReason, ConnInfo, Dir, GapCause, Interest, Reassembler, StreamSink, TcpEvent,
};

/// `../shared` beside the repository, or `$KWIRE_SHARED`.
pub fn shared_dir() -> PathBuf {
    if let Ok(d) = std::env::var("KWIRE_SHARED") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// The corpus of real captures; the tests need it (CI has it beside the clone).
pub fn corpus_dir() -> PathBuf {
    let d = shared_dir().join("corpus");
    assert!(
        d.join("README.md").exists(),
        "corpus not found at {} (set KWIRE_SHARED to the shared/ directory)",
        d.display()
    );
    d
}

pub fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// Names of the corpus captures (without extension), sorted, Kafka over
/// TLS included: [`analyze`] decrypts a capture with the `.keys` key log
/// beside it.
pub fn corpus_captures() -> Vec<String> {
    all_corpus_captures()
}

/// Names of the corpus captures in the clear (no `.keys` key log beside).
pub fn plaintext_captures() -> Vec<String> {
    all_corpus_captures()
        .into_iter()
        .filter(|n| !corpus_dir().join(format!("{n}.keys")).exists())
        .collect()
}

/// Corpus captures of Kafka over TLS (with a `.keys` key log).
pub fn encrypted_captures() -> Vec<String> {
    all_corpus_captures()
        .into_iter()
        .filter(|n| corpus_dir().join(format!("{n}.keys")).exists())
        .collect()
}

fn all_corpus_captures() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            if p.extension()? != "pcap" {
                return None;
            }
            Some(p.file_stem()?.to_string_lossy().into_owned())
        })
        .collect();
    v.sort();
    v
}

/// Run the pipeline over packets (link type RAW, as `build` makes them),
/// numbered from 1: every record, and the summary.
pub fn run_packets(packets: &[(Timestamp, Vec<u8>)], cfg: SessionConfig) -> (Vec<Record>, Summary) {
    let mut recs = Vec::new();
    let sink = |r: Record| {
        recs.push(r);
        Ok(())
    };
    let mut a = Analyzer::new(TcpConfig::default(), cfg, sink);
    a.begin(CaptureInfo {
        source: "synthetic".into(),
        format: SourceFormat::Pcap,
        link_types: vec![LinkType::RAW],
        filter: None,
        merged: Vec::new(),
    })
    .unwrap();
    for (i, (ts, data)) in packets.iter().enumerate() {
        a.packet(&Packet {
            frame: i as u64 + 1,
            ts: *ts,
            link_type: LinkType::RAW,
            data,
            orig_len: data.len() as u32,
        })
        .unwrap();
    }
    let (_, summary) = a.finish().unwrap();
    (recs, summary)
}

/// Every finding of a capture, as `kwire diagnose` states them.
pub fn diagnose(path: &Path, ports: &[u16]) -> Vec<kwire::analysis::findings::Finding> {
    findings_of(&analyze(path, ports).0)
}

/// The broker ports recorded beside a capture (`X.ports` for `X.pcap`).
pub fn ports_of(pcap: &Path) -> Vec<u16> {
    std::fs::read_to_string(pcap.with_extension("ports"))
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

/// The findings of `dir/name.pcap`, with the broker ports recorded beside it.
pub fn diagnose_recorded(dir: &Path, name: &str) -> Vec<kwire::analysis::findings::Finding> {
    let pcap = dir.join(format!("{name}.pcap"));
    diagnose(&pcap, &ports_of(&pcap))
}

/// The findings of records, fed to a Diagnoser in their order.
pub fn findings_of(records: &[Record]) -> Vec<kwire::analysis::findings::Finding> {
    let mut d = kwire::analysis::findings::Diagnoser::new();
    for r in records {
        match r {
            Record::Exchange(e) => d.observe_exchange(e),
            Record::Event(ev) => d.observe_event(ev),
            _ => {}
        }
    }
    d.findings()
}

/// The key log beside a capture (`X.keys` for `X.pcap`), if there is one.
pub fn keys_of(path: &Path) -> Option<PathBuf> {
    let k = path.with_extension("keys");
    k.exists().then_some(k)
}

/// Run the library pipeline over a capture file (decrypting TLS with the
/// key log beside it, if any).
pub fn analyze(path: &Path, ports: &[u16]) -> (Vec<Record>, Summary) {
    analyze_with(path, ports, keys_of(path).into_iter().collect())
}

/// [`analyze`] with the key logs given (none: TLS is not decrypted).
pub fn analyze_with(path: &Path, ports: &[u16], keylogs: Vec<PathBuf>) -> (Vec<Record>, Summary) {
    let mut src = FileSource::open(path.to_str().unwrap()).expect("open capture");
    let info = CaptureInfo {
        source: path.display().to_string(),
        format: src.format(),
        link_types: src.link_types(),
        filter: None,
        merged: Vec::new(),
    };
    let session = SessionConfig {
        kafka_ports: ports.to_vec(),
        keylogs,
        ..SessionConfig::default()
    };
    let mut records = Vec::new();
    let sink = |r: Record| {
        records.push(r);
        Ok(())
    };
    let (_, summary) = session::run(&mut src, info, TcpConfig::default(), session, sink).unwrap();
    (records, summary)
}

pub fn exchanges(records: &[Record]) -> Vec<&Exchange> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Exchange(e) => Some(&**e),
            _ => None,
        })
        .collect()
}

/// One row of a `.tshark.tsv` reference table.
#[derive(Clone, Debug, Default)]
pub struct TsharkRow {
    pub frame: u64,
    pub stream: u64,
    pub src_port: u16,
    pub dst_port: u16,
    pub request_key: Option<i16>,
    pub response_key: Option<i16>,
    pub api_version: Option<i16>,
    pub correlation_id: Option<i32>,
    pub request_frame: Option<u64>,
}

fn first<T: std::str::FromStr>(s: &str) -> Option<T> {
    s.split(',').next().filter(|x| !x.is_empty())?.parse().ok()
}

/// Parse a tshark table; a frame holding several PDUs gives several rows.
pub fn read_tsv(path: &Path) -> Vec<TsharkRow> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (f, st, sp, dp, rk, pk, v, c, rf) = (
        col("frame.number"),
        col("tcp.stream"),
        col("tcp.srcport"),
        col("tcp.dstport"),
        col("kafka.request_key"),
        col("kafka.response_key"),
        col("kafka.api_version"),
        col("kafka.correlation_id"),
        col("kafka.request_frame"),
    );
    let mut rows = Vec::new();
    for line in lines {
        let cells: Vec<&str> = line.split('\t').collect();
        let get = |i: usize| cells.get(i).copied().unwrap_or("");
        // Several PDUs in one frame: the per-PDU columns are comma lists.
        let n = get(c).split(',').count().max(get(rk).split(',').count());
        for k in 0..n {
            let nth = |i: usize| get(i).split(',').nth(k).unwrap_or("").to_string();
            rows.push(TsharkRow {
                frame: get(f).parse().unwrap(),
                stream: get(st).parse().unwrap(),
                src_port: get(sp).parse().unwrap(),
                dst_port: get(dp).parse().unwrap(),
                request_key: first(&nth(rk)),
                response_key: first(&nth(pk)),
                api_version: first(&nth(v)),
                correlation_id: first(&nth(c)),
                request_frame: first(&nth(rf)),
            });
        }
    }
    rows
}

/// Read all packets of a capture: (frame, ts, bytes).
pub fn read_packets(path: &Path) -> Vec<(u64, Timestamp, Vec<u8>)> {
    let mut src = FileSource::open(path.to_str().unwrap()).unwrap();
    let mut v = Vec::new();
    while let Ok(Some(p)) = src.next_packet() {
        v.push((p.frame, p.ts, p.data.to_vec()));
    }
    v
}

/// Map each packet of `damaged` to the frame number of the identical packet
/// in `original` (same timestamp and bytes; a truncated copy maps too).
pub fn frame_map(original: &Path, damaged: &Path) -> HashMap<u64, u64> {
    let mut by_ts: HashMap<Timestamp, Vec<(u64, Vec<u8>)>> = HashMap::new();
    for (f, ts, data) in read_packets(original) {
        by_ts.entry(ts).or_default().push((f, data));
    }
    let mut map = HashMap::new();
    for (f, ts, data) in read_packets(damaged) {
        if let Some(cands) = by_ts.get(&ts)
            && let Some((of, _)) = cands.iter().find(|(_, d)| d.starts_with(&data))
        {
            map.insert(f, *of);
        }
    }
    map
}

/// Run `../shared/corpus-tools/mangle.py IN OUT MODE SEED`.
pub fn mangle(input: &Path, output: &Path, mode: &str, seed: u64) {
    let tool = shared_dir().join("corpus-tools/mangle.py");
    let st = std::process::Command::new("python3")
        .arg(&tool)
        .arg(input)
        .arg(output)
        .arg(mode)
        .arg(seed.to_string())
        .status()
        .expect("python3 runs mangle.py");
    assert!(st.success(), "mangle.py {mode} failed");
}

/// A connection's bytes as runs of one direction, in arrival order.
pub struct Conn {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub runs: Vec<(bool, Vec<u8>)>, // (from client, bytes)
}

#[derive(Default)]
struct Collect {
    conns: Vec<Conn>,
}

impl StreamSink for Collect {
    fn on_open(&mut self, c: &ConnInfo, _at: PacketRef) -> Interest {
        assert!(c.handshake_seen);
        self.conns.push(Conn {
            client: c.a,
            server: c.b,
            runs: Vec::new(),
        });
        Interest::Keep
    }
    fn on_data(&mut self, c: &ConnInfo, dir: Dir, data: &[u8], _at: PacketRef) -> Interest {
        let conn = &mut self.conns[c.id.0 as usize];
        let from_client = dir == Dir::AtoB;
        match conn.runs.last_mut() {
            Some((d, bytes)) if *d == from_client => bytes.extend_from_slice(data),
            _ => conn.runs.push((from_client, data.to_vec())),
        }
        Interest::Keep
    }
    fn on_gap(&mut self, _: &ConnInfo, _: Dir, _: u64, _: GapCause, _: PacketRef) {
        panic!("the source capture has no gaps");
    }
    fn on_close(&mut self, _: &ConnInfo, _: CloseReason, _: PacketRef) {}
    fn on_event(&mut self, _: &ConnInfo, _: TcpEvent, _: PacketRef) {}
}

pub fn streams(name: &str) -> Vec<Conn> {
    let path = corpus_dir().join(format!("{name}.pcap"));
    let mut src = FileSource::open(path.to_str().unwrap()).unwrap();
    let mut tcp = Reassembler::new(TcpConfig::default());
    let mut sink = Collect::default();
    while let Some(p) = src.next_packet().unwrap() {
        if let Decoded::Tcp(seg) = decode(p.link_type, p.data) {
            tcp.segment(&seg, p.at(), &mut sink);
        }
    }
    tcp.finish(PacketRef::default(), &mut sink);
    sink.conns
}

/// An IPv4+TCP packet (link type RAW); checksums are not checked by kwire.
pub fn packet(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let (SocketAddr::V4(s), SocketAddr::V4(d)) = (src, dst) else {
        panic!("IPv4 only")
    };
    let total = 40 + payload.len();
    let mut p = Vec::with_capacity(total);
    p.extend([
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ]);
    p.extend(s.ip().octets());
    p.extend(d.ip().octets());
    p.extend(s.port().to_be_bytes());
    p.extend(d.port().to_be_bytes());
    p.extend(seq.to_be_bytes());
    p.extend(ack.to_be_bytes());
    p.extend([0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    p.extend(payload);
    p
}

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const PSH: u8 = 0x08;
pub const FIN: u8 = 0x01;

/// Build the packets of all connections, cutting run `r` of every connection
/// with `cut(conn, run, len) -> segment lengths`. Each run's packets share a
/// timestamp so that latencies do not depend on the cut.
pub fn build(
    conns: &[Conn],
    cut: &dyn Fn(usize, usize, usize) -> Vec<usize>,
) -> Vec<(Timestamp, Vec<u8>)> {
    let mut out = Vec::new();
    let mut t = 1_700_000_000i64;
    for (ci, c) in conns.iter().enumerate() {
        let (mut cs, mut ss) = (1000u32, 5000u32);
        let push = |out: &mut Vec<(Timestamp, Vec<u8>)>, t: i64, p: Vec<u8>| {
            out.push((Timestamp::new(t, 0), p))
        };
        push(&mut out, t, packet(c.client, c.server, cs, 0, SYN, &[]));
        push(
            &mut out,
            t,
            packet(c.server, c.client, ss, cs + 1, SYN | ACK, &[]),
        );
        cs += 1;
        ss += 1;
        push(&mut out, t, packet(c.client, c.server, cs, ss, ACK, &[]));
        for (ri, (from_client, bytes)) in c.runs.iter().enumerate() {
            t += 1;
            let mut off = 0;
            for len in cut(ci, ri, bytes.len()) {
                let chunk = &bytes[off..off + len];
                off += len;
                let p = if *from_client {
                    let p = packet(c.client, c.server, cs, ss, ACK | PSH, chunk);
                    cs = cs.wrapping_add(len as u32);
                    p
                } else {
                    let p = packet(c.server, c.client, ss, cs, ACK | PSH, chunk);
                    ss = ss.wrapping_add(len as u32);
                    p
                };
                push(&mut out, t, p);
            }
            assert_eq!(off, bytes.len());
        }
        t += 1;
        push(
            &mut out,
            t,
            packet(c.client, c.server, cs, ss, FIN | ACK, &[]),
        );
        push(
            &mut out,
            t,
            packet(c.server, c.client, ss, cs + 1, FIN | ACK, &[]),
        );
    }
    out
}

/// The mock broker built by `scripts/setup --test` (or `$KWIRE_MOCKBROKER`).
pub fn mockbroker() -> Option<PathBuf> {
    let p = std::env::var("KWIRE_MOCKBROKER")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/mockbroker"));
    p.exists().then_some(p)
}

/// What a live test needs besides its own tools: the mock broker, a real
/// client (python3 with confluent_kafka) and capture permission on `lo`.
/// `Err` says why this machine cannot run it.
pub fn live_ready() -> Result<PathBuf, String> {
    use std::process::{Command, Stdio};
    let mock =
        mockbroker().ok_or("no mock broker (run scripts/setup --test or set KWIRE_MOCKBROKER)")?;
    if !Command::new("python3")
        .args(["-c", "import confluent_kafka"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        return Err("python3 cannot import confluent_kafka".into());
    }
    let probe = Command::new(env!("CARGO_BIN_EXE_kwire"))
        .args(["export", "-i", "lo", "--duration", "0.2"])
        .output()
        .map_err(|e| e.to_string())?;
    if !probe.status.success() {
        return Err(format!(
            "cannot capture on lo: {}",
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    Ok(mock)
}

/// librdkafka's mock cluster of three brokers, stopped (quit, then killed)
/// however the test ends.
pub struct MockCluster {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    out: std::io::BufReader<std::process::ChildStdout>,
    /// `host:port,host:port,host:port`
    pub bootstrap: String,
    pub ports: Vec<u16>,
}

impl MockCluster {
    pub fn start(mock: &Path) -> MockCluster {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut child = Command::new(mock)
            .arg("3")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let bootstrap = line
            .strip_prefix("bootstrap ")
            .expect("mock prints its bootstrap servers")
            .trim()
            .to_string();
        let ports = bootstrap
            .split(',')
            .map(|hp| hp.rsplit(':').next().unwrap().parse().unwrap())
            .collect();
        MockCluster {
            child,
            stdin,
            out,
            bootstrap,
            ports,
        }
    }

    /// Send a command (`topic live 2 1`) and check it answers `ok`.
    pub fn cmd(&mut self, cmd: &str) {
        use std::io::{BufRead, Write};
        writeln!(self.stdin, "{cmd}").unwrap();
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ok", "mock answered {line:?} to {cmd:?}");
    }

    /// A BPF filter for the cluster's ports: `tcp and (port a or port b …)`.
    pub fn bpf(&self) -> String {
        let ports: Vec<String> = self.ports.iter().map(|p| format!("port {p}")).collect();
        format!("tcp and ({})", ports.join(" or "))
    }
}

impl Drop for MockCluster {
    fn drop(&mut self) {
        use std::io::Write;
        let _ = writeln!(self.stdin, "quit");
        let t0 = std::time::Instant::now();
        while t0.elapsed() < std::time::Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Charts view as a test reads it from the screen's text.
pub mod charts {
    /// Height in eighths of a row of a bar glyph (`▁` 1 … `█` 8).
    fn eighths(c: char) -> Option<u32> {
        " ▁▂▃▄▅▆▇█".chars().position(|g| g == c).map(|p| p as u32)
    }

    /// The rows of the chart whose title contains `title`: the lines from
    /// the one after its title to the next title or the axis.
    fn plot_rows<'a>(screen: &'a str, title: &str) -> Vec<&'a str> {
        let lines: Vec<&str> = screen.lines().collect();
        let Some(start) = lines.iter().position(|l| l.contains(title)) else {
            return Vec::new();
        };
        lines[start + 1..]
            .iter()
            .take_while(|l| l.contains('┤') || l.contains('│'))
            .copied()
            .collect()
    }

    /// Column (0 = the first plot column) of the axis' `▲`, the cursor.
    pub fn cursor(screen: &str) -> Option<usize> {
        let axis = screen.lines().find(|l| l.contains('└'))?;
        let chars: Vec<char> = axis.chars().collect();
        let origin = chars.iter().position(|&c| c == '└')?;
        let at = chars.iter().position(|&c| c == '▲')?;
        at.checked_sub(origin + 1)
    }

    /// Bar heights (eighths, summed over rows) per plot column of the chart
    /// titled `title`.
    pub fn heights(screen: &str, title: &str) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for row in plot_rows(screen, title) {
            let chars: Vec<char> = row.chars().collect();
            let Some(axis) = chars.iter().position(|&c| c == '┤' || c == '│') else {
                continue;
            };
            for (i, c) in chars[axis + 1..].iter().enumerate() {
                if out.len() <= i {
                    out.resize(i + 1, 0);
                }
                out[i] += eighths(*c).unwrap_or(0);
            }
        }
        out
    }

    /// The column of the tallest bar of the chart titled `title` (the
    /// first, when several are as tall).
    pub fn peak(screen: &str, title: &str) -> Option<usize> {
        let h = heights(screen, title);
        let max = *h.iter().max()?;
        (max > 0)
            .then(|| h.iter().position(|&v| v == max))
            .flatten()
    }
}
