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
pub mod stats;
pub mod topics;

pub use topics::TopicNames;
