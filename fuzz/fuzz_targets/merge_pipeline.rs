//! Several captures read as one ([`kwire::merge`]) on hostile captures: the
//! input is a pcap or pcapng file, read as the first capture; the second is
//! the same bytes cut short at a point the first input byte chooses (the
//! two then share a prefix of their traffic: clocks found, exchanges
//! folded). The clocks are set from both ([`merge::plan_from`]), then both
//! are read as one into a checking sink.
//!
//! Checks: no panic, hang or runaway allocation; every record passes the
//! common checker's record checks; the capture record lists both captures,
//! the reference first; the merged summary adds up: exchanges = each
//! capture's exchanges − those folded (paired) − late second views,
//! `paired` ≤ the fewer of the two, every packet counted once per capture.
#![no_main]

mod common;

use std::io::Cursor;

use common::Checker;
use kwire::capture::PacketSource;
use kwire::capture::file::FileSource;
use kwire::capture::link::{self, Decoded};
use kwire::merge::{self, clock::Segments};
use kwire::session::{CaptureInfo, ClockFrom, Record, RecordSink};
use libfuzzer_sys::fuzz_target;

fn open(bytes: &[u8]) -> Option<FileSource> {
    FileSource::from_reader("fuzz", Box::new(Cursor::new(bytes.to_vec()))).ok()
}

/// The segments of a capture, for its clock.
fn sample(bytes: &[u8]) -> Option<(Segments, u64)> {
    let mut src = open(bytes)?;
    let mut seg = Segments::default();
    let mut packets = 0;
    while let Ok(Some(p)) = src.next_packet() {
        packets += 1;
        if let Decoded::Tcp(s) = link::decode(p.link_type, p.data) {
            seg.observe(p.ts, &s);
        }
    }
    Some((seg, packets))
}

/// The common checks on each record, and the capture record kept.
struct Sink {
    checker: Checker,
    capture: Option<CaptureInfo>,
}

impl RecordSink for Sink {
    fn record(&mut self, r: Record) -> std::io::Result<()> {
        if let Record::Capture(c) = &r {
            self.capture = Some(c.clone());
        }
        self.checker.record(r)
    }
}

fuzz_target!(|data: &[u8]| {
    let cut = data.len() * usize::from(data.first().copied().unwrap_or(0)) / 255;
    let (a, b) = (data, data.get(..cut).unwrap_or(data));
    let (Some((sa, pa)), Some((sb, pb))) = (sample(a), sample(b)) else {
        return;
    };
    let plan = merge::plan_from(&[sa, sb]);
    assert_eq!(plan.clocks.len(), 2);
    assert_eq!(plan.clocks[0].from, ClockFrom::Reference);
    assert_eq!(plan.clocks[0].offset_ns, 0);
    let mut inputs: Vec<(Box<dyn PacketSource>, CaptureInfo)> = Vec::new();
    for bytes in [a, b] {
        let Some(src) = open(bytes) else { return };
        let info = CaptureInfo {
            source: "fuzz".into(),
            format: src.format(),
            link_types: src.link_types(),
            filter: None,
            merged: Vec::new(),
        };
        inputs.push((Box::new(src), info));
    }
    let (tcp, session) = (common::pipeline_tcp(), common::pipeline_session());
    let sink = Sink {
        checker: Checker::new(true),
        capture: None,
    };
    let never = std::sync::atomic::AtomicBool::new(false);
    let (sink, s) = merge::drive(inputs, &plan, tcp, session, sink, &never).unwrap();
    let c = sink.capture.expect("a capture record");
    assert_eq!(c.merged.len(), 2);
    let m = s.merge.as_ref().expect("a merged summary");
    assert_eq!(m.packets, vec![pa, pb], "{m:?}");
    assert_eq!(s.packets, pa + pb);
    let seen: u64 = m.seen.iter().sum();
    assert!(
        m.paired <= m.seen.iter().copied().min().unwrap_or(0),
        "{m:?}"
    );
    assert_eq!(s.exchanges, seen - m.paired - m.late, "{s:?}");
    assert!(s.answered + s.unanswered <= s.exchanges, "{s:?}");
});
