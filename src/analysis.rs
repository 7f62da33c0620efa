//! What the exchanges add up to: topic names, consumer-group flows,
//! connections and statistics. Built incrementally, one exchange or event at
//! a time, so that a live view and a file share the code; read by the TUI,
//! `kwire stats` and the findings.
//!
//! Everything here is bounded: per-key tables have named limits, and latency
//! distributions are histograms of fixed size.

pub mod connections;
pub mod findings;
pub mod groups;
pub mod histogram;
pub mod metrics;
pub mod series;
pub mod stats;
pub mod topics;
pub mod traffic;

pub use topics::TopicNames;

use crate::session::{Record, RecordSink, Summary};

/// What `kwire stats` and `kwire diagnose` gather from a capture, fed every
/// record in order: the findings, the statistics, the connections and the
/// topic names, with the capture's name and, at the end, its summary.
#[derive(Default)]
pub struct Report {
    pub diagnoser: findings::Diagnoser,
    pub stats: stats::Stats,
    pub conns: connections::Connections,
    pub names: TopicNames,
    pub summary: Option<Summary>,
    pub source: String,
}

impl Report {
    /// Count one exchange in the findings, topic names (first: what it
    /// names serves itself), statistics and connections.
    pub fn observe_exchange(&mut self, e: &crate::session::Exchange) {
        self.diagnoser.observe_exchange(e);
        self.names.observe(e);
        self.stats.observe(e, &self.names);
        self.conns.observe_exchange(e);
    }
}

impl RecordSink for Report {
    fn record(&mut self, r: Record) -> std::io::Result<()> {
        match r {
            Record::Capture(c) => {
                self.diagnoser.observe_capture(&c);
                self.source = c.source;
            }
            Record::Exchange(e) => self.observe_exchange(&e),
            Record::Event(ev) => {
                self.diagnoser.observe_event(&ev);
                self.stats.observe_event(&ev);
                self.conns.observe_event(&ev);
            }
            Record::Summary(s) => {
                self.diagnoser.observe_summary(&s);
                self.summary = Some(*s);
            }
        }
        Ok(())
    }
}
