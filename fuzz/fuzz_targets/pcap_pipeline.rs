//! The whole pipeline on a whole capture file: the input bytes are a pcap or
//! pcapng file, read by `FileSource::from_reader` and run through
//! `session::run` into a sink that checks every record and writes it as
//! NDJSON and as the text listing.
//!
//! Checks: no panic, hang or runaway allocation; packets come with strictly
//! increasing frame numbers and normalised timestamps; every record is a JSON
//! object whose string "type" names it; the capture record is first and the
//! summary last; the summary agrees with the records (answered <= exchanges,
//! ...) and counts every packet the source delivered. The records also go
//! through `kwire diagnose`'s detectors, whose findings are checked (a title,
//! bounded lists) and written as text and JSON.
//!
//! Inputs of odd length are analysed with the seed captures' broker ports
//! given (`--port`), even ones with detection from the traffic alone, so both
//! paths of the session layer are fuzzed; bit 1 of the length chooses the
//! records mode (`meta` or `full`).
#![no_main]

mod common;

use std::io::Cursor;

use common::{Checker, SEED_BROKER_PORTS};
use kwire::analysis::findings::{Diagnosing, Finding, MAX_FRAMES, MAX_NAMES, to_text};
use kwire::capture::file::FileSource;
use kwire::capture::{CaptureError, LinkType, Packet, PacketSource, SourceFormat};
use kwire::kafka::records::RecordsMode;
use kwire::session::{self, CaptureInfo, SessionConfig};
use libfuzzer_sys::fuzz_target;

/// Counts the packets a source delivers and checks their frame numbers.
struct Counting<'a> {
    inner: &'a mut FileSource,
    packets: u64,
    last_frame: u64,
}

impl PacketSource for Counting<'_> {
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        let r = self.inner.next_packet();
        if let Ok(Some(p)) = &r {
            self.packets += 1;
            assert!(
                p.frame > self.last_frame,
                "frame numbers go {} then {}",
                self.last_frame,
                p.frame
            );
            self.last_frame = p.frame;
            assert!(p.ts.nanos < 1_000_000_000, "{:?}", p.ts);
        }
        r
    }
    fn format(&self) -> SourceFormat {
        self.inner.format()
    }
    fn link_types(&self) -> Vec<LinkType> {
        self.inner.link_types()
    }
}

fuzz_target!(|data: &[u8]| {
    let reader = Box::new(Cursor::new(data.to_vec()));
    let Ok(mut src) = FileSource::from_reader("fuzz", reader) else {
        return;
    };
    let info = CaptureInfo {
        source: "fuzz".into(),
        format: src.format(),
        link_types: src.link_types(),
        filter: None,
        merged: Vec::new(),
    };
    let tcp = common::pipeline_tcp();
    let session = SessionConfig {
        kafka_ports: if !data.len().is_multiple_of(2) {
            SEED_BROKER_PORTS.to_vec()
        } else {
            Vec::new()
        },
        records: if (data.len() / 2).is_multiple_of(2) {
            RecordsMode::Meta
        } else {
            RecordsMode::Full
        },
        ..common::pipeline_session()
    };
    let mut counting = Counting {
        inner: &mut src,
        packets: 0,
        last_frame: 0,
    };
    let sink = Diagnosing::new(Checker::new(true), |_: &mut Checker, found: &[Finding]| {
        for f in found {
            assert!(!f.title.is_empty(), "{f:?}");
            assert!(f.frames.len() <= MAX_FRAMES, "{f:?}");
            assert!(f.streams.len() <= MAX_NAMES, "{f:?}");
            let _ = to_text(f);
            let _ = f.to_json();
        }
        Ok(())
    });
    let (diagnosing, summary) =
        session::run(&mut counting, info, tcp, session, sink).expect("the sink never fails");
    diagnosing.inner.finish(&summary, Some(counting.packets));
});
