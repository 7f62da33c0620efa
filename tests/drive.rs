//! `session::drive`, the one loop behind every command and the UI, with a
//! scripted source: a live source is ticked while no packet arrives (idle
//! connections expire) and its drop counters reach the caller and the
//! summary; a file is never ticked; a stop request ends the reading. No
//! timing is asserted: the scripted source idles until the driver has
//! ticked, however long that takes.

mod common;

use std::sync::atomic::AtomicBool;

use common::*;
use kwire::capture::{
    CaptureError, DropStats, LinkType, Next, Packet, PacketSource, SourceFormat, Timestamp,
};
use kwire::session::{self, CaptureInfo, EventKind, Record, SessionConfig};
use kwire::tcp::{CloseReason, TcpConfig};

const DROPS: DropStats = DropStats {
    received: 10,
    dropped: 1,
    if_dropped: 0,
    queue_dropped: 2,
};

/// Hands out its packets, then idles until the driver has read its drop
/// counters `ticks_wanted` times (a live driver does so on each tick), then
/// ends.
struct Scripted {
    format: SourceFormat,
    packets: Vec<Vec<u8>>,
    next: usize,
    ts: Timestamp,
    drop_reads: usize,
    ticks_wanted: usize,
    idles: u64,
}

impl Scripted {
    fn new(format: SourceFormat, packets: Vec<Vec<u8>>, ticks_wanted: usize) -> Self {
        Scripted {
            format,
            packets,
            next: 0,
            // Long ago: the first tick finds every connection idle.
            ts: Timestamp::new(1_000_000_000, 0),
            drop_reads: 0,
            ticks_wanted,
            idles: 0,
        }
    }
}

impl PacketSource for Scripted {
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        let i = self.next;
        if i >= self.packets.len() {
            return Ok(None);
        }
        self.next += 1;
        let data = &self.packets[i];
        Ok(Some(Packet {
            frame: i as u64 + 1,
            ts: self.ts,
            link_type: LinkType::RAW,
            data,
            orig_len: data.len() as u32,
        }))
    }

    fn poll_packet(&mut self) -> Result<Next<'_>, CaptureError> {
        if self.next < self.packets.len() {
            return Ok(self.next_packet()?.map_or(Next::End, Next::Packet));
        }
        if self.format == SourceFormat::Live && self.drop_reads < self.ticks_wanted {
            self.idles += 1;
            std::thread::sleep(std::time::Duration::from_millis(5));
            return Ok(Next::Idle);
        }
        Ok(Next::End)
    }

    fn format(&self) -> SourceFormat {
        self.format
    }

    fn link_types(&self) -> Vec<LinkType> {
        vec![LinkType::RAW]
    }

    fn drop_stats(&mut self) -> Option<DropStats> {
        if self.format != SourceFormat::Live {
            return None;
        }
        self.drop_reads += 1;
        Some(DROPS)
    }
}

/// A handshake to port 9092 (Kafka by `--port`), left open.
fn open_connection() -> Vec<Vec<u8>> {
    let c = "10.0.0.1:40000".parse().unwrap();
    let s = "10.0.0.2:9092".parse().unwrap();
    vec![
        packet(c, s, 1000, 0, SYN, &[]),
        packet(s, c, 5000, 1001, SYN | ACK, &[]),
        packet(c, s, 1001, 5001, ACK, &[]),
    ]
}

fn drive(src: &mut Scripted, stop: &AtomicBool) -> (Vec<Record>, Vec<DropStats>) {
    let info = CaptureInfo {
        source: "scripted".into(),
        format: src.format,
        link_types: vec![LinkType::RAW],
        filter: None,
        merged: Vec::new(),
    };
    let session = SessionConfig {
        kafka_ports: vec![9092],
        ..SessionConfig::default()
    };
    let tcp = TcpConfig {
        idle_timeout_ns: 1_000_000_000,
        ..TcpConfig::default()
    };
    let mut records = Vec::new();
    let mut seen = Vec::new();
    let sink = |r: Record| {
        records.push(r);
        Ok(())
    };
    let _ = session::drive(src, info, tcp, session, sink, stop, |d| seen.push(d)).unwrap();
    (records, seen)
}

fn close_reasons(records: &[Record]) -> Vec<CloseReason> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Event(e) => match e.kind {
                EventKind::ConnectionClose { reason, .. } => Some(reason),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn summary_drops(records: &[Record]) -> Option<DropStats> {
    match records.last() {
        Some(Record::Summary(s)) => s.drops,
        _ => panic!("the last record is not the summary"),
    }
}

#[test]
fn a_live_source_is_ticked_while_idle_and_reports_its_drops() {
    let never = AtomicBool::new(false);
    let mut src = Scripted::new(SourceFormat::Live, open_connection(), 1);
    let (records, seen) = drive(&mut src, &never);
    assert!(src.idles > 0);
    // The tick expired the connection (its packets are long past).
    assert_eq!(close_reasons(&records), [CloseReason::Idle]);
    // The counters reached the caller while running, and the end.
    assert_eq!(seen, [DROPS]);
    assert_eq!(summary_drops(&records), Some(DROPS));
    let drop_events: Vec<&DropStats> = records
        .iter()
        .filter_map(|r| match r {
            Record::Event(e) => match &e.kind {
                EventKind::Drops(d) => Some(d),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(drop_events, [&DROPS]);
}

#[test]
fn a_file_is_never_ticked() {
    let never = AtomicBool::new(false);
    let mut src = Scripted::new(SourceFormat::Pcap, open_connection(), 0);
    let (records, seen) = drive(&mut src, &never);
    assert_eq!(close_reasons(&records), [CloseReason::CaptureEnd]);
    assert!(seen.is_empty());
    assert_eq!(summary_drops(&records), None);
}

#[test]
fn a_stop_request_ends_the_reading_with_a_summary() {
    let stop = AtomicBool::new(true);
    // It would idle forever: only the stop request ends it.
    let mut src = Scripted::new(SourceFormat::Live, open_connection(), usize::MAX);
    let (records, _) = drive(&mut src, &stop);
    assert_eq!(src.next, 0, "read after the stop request");
    assert!(matches!(records.first(), Some(Record::Capture(_))));
    assert_eq!(summary_drops(&records), Some(DROPS));
}
