//! `export::pcapng` against real captures: every corpus capture rewritten
//! packet by packet through `PcapngWriter`, each packet with the comment
//! `"<file> frame N"`, reads back through kwire's own `FileSource` as the
//! same packets (link type, timestamp to the nanosecond, bytes, original
//! length), and through tshark with the same packet count, timestamps and
//! the comments.
//!
//! Without tshark, the tshark test prints why and passes, unless
//! `KWIRE_REQUIRE_LIVE=1` (as in `scripts/test` and CI), where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use kwire::capture::file::FileSource;
use kwire::capture::{LinkType, PacketSource, SourceFormat, Timestamp};
use kwire::export::pcapng::PcapngWriter;

fn skip_or_fail(reason: &str) {
    if std::env::var("KWIRE_REQUIRE_LIVE").as_deref() == Ok("1") {
        panic!("pcapng writer test cannot run: {reason}");
    }
    eprintln!("SKIPPED pcapng writer test: {reason}");
}

/// One packet as kwire reads it.
#[derive(Debug, PartialEq, Eq)]
struct Pkt {
    frame: u64,
    link: LinkType,
    ts: Timestamp,
    data: Vec<u8>,
    orig_len: u32,
}

fn read_all(path: &Path) -> (SourceFormat, Vec<Pkt>) {
    let mut src = FileSource::open(path.to_str().unwrap()).unwrap();
    let mut v = Vec::new();
    while let Some(p) = src.next_packet().unwrap() {
        v.push(Pkt {
            frame: p.frame,
            link: p.link_type,
            ts: p.ts,
            data: p.data.to_vec(),
            orig_len: p.orig_len,
        });
    }
    (src.format(), v)
}

/// The comment a rewritten packet carries.
fn comment(file: &str, frame: u64) -> String {
    format!("{file} frame {frame}")
}

/// Rewrite the corpus capture `name` into `dir`: an interface per link type
/// (in the order first seen), every packet commented. Returns the new file
/// and the packets of the original.
fn rewrite(name: &str, dir: &Path) -> (PathBuf, Vec<Pkt>) {
    let file = format!("{name}.pcap");
    let (_, packets) = read_all(&corpus_dir().join(&file));
    let out_path = dir.join(format!("{name}.pcapng"));
    let out = std::io::BufWriter::new(std::fs::File::create(&out_path).unwrap());
    let mut w = PcapngWriter::new(out).unwrap();
    let mut ifaces: Vec<(LinkType, u32)> = Vec::new();
    for p in &packets {
        let id = match ifaces.iter().find(|(l, _)| *l == p.link) {
            Some(&(_, id)) => id,
            None => {
                let id = w.add_interface(p.link, 262_144, "lo", &file).unwrap();
                ifaces.push((p.link, id));
                id
            }
        };
        let c = comment(&file, p.frame);
        w.packet(id, p.ts, &p.data, p.orig_len, Some(&c)).unwrap();
    }
    w.finish().unwrap();
    (out_path, packets)
}

/// (a) kwire reads back exactly the packets written.
#[test]
fn kwire_reads_back_every_corpus_capture() {
    let dir = tempfile::tempdir().unwrap();
    for name in corpus_captures() {
        let (path, want) = rewrite(&name, dir.path());
        assert!(!want.is_empty(), "{name}: empty capture");
        let (format, got) = read_all(&path);
        assert_eq!(format, SourceFormat::PcapNg, "{name}");
        assert_eq!(got.len(), want.len(), "{name}: packet count");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{name}: frame {}", w.frame);
        }
    }
}

/// `secs.fraction` as tshark prints `frame.time_epoch`, to a timestamp.
fn parse_epoch(s: &str) -> Option<Timestamp> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos = format!("{frac:0<9}").parse().ok()?;
    Some(Timestamp::new(secs.parse().ok()?, nanos))
}

/// (b) tshark reads the files: as many frames, numbered from 1, each with
/// its comment and its timestamp, and no complaint.
#[test]
fn tshark_reads_comments_and_times() {
    let tshark = Command::new("tshark")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !tshark.is_ok_and(|s| s.success()) {
        skip_or_fail("tshark is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for name in corpus_captures() {
        let (path, want) = rewrite(&name, dir.path());
        let file = format!("{name}.pcap");
        // `frame.comment`: the packet comment's field in tshark 4.0 and
        // later (4.0 also has the `pkt_comment` protocol around it).
        let out = Command::new("tshark")
            .arg("-n")
            .arg("-r")
            .arg(&path)
            .args(["-T", "fields", "-E", "separator=/t"])
            .args(["-e", "frame.number", "-e", "frame.comment"])
            .args(["-e", "frame.time_epoch"])
            .stdin(Stdio::null())
            .output()
            .expect("run tshark");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: tshark failed: {stderr}");
        for bad in ["corrupt", "damaged", "isn't a", "unknown", "invalid"] {
            assert!(
                !stderr.to_lowercase().contains(bad),
                "{name}: tshark says: {stderr}"
            );
        }
        let stdout = String::from_utf8(out.stdout).unwrap();
        let rows: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(rows.len(), want.len(), "{name}: tshark's frame count");
        for (row, p) in rows.iter().zip(&want) {
            let [number, got_comment, epoch] = row.as_slice() else {
                panic!("{name}: tshark row {row:?}");
            };
            assert_eq!(number.parse::<u64>().ok(), Some(p.frame), "{name}");
            assert_eq!(*got_comment, comment(&file, p.frame), "{name}");
            assert_eq!(
                parse_epoch(epoch),
                Some(p.ts),
                "{name}: frame {}: tshark's time {epoch}",
                p.frame
            );
        }
    }
}
