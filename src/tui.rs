//! The terminal UI: a timeline of exchanges, connections, consumer-group
//! flows, an exchange's detail (tree, hex, records) and statistics, for a
//! capture file or live traffic.

pub mod detail;
pub mod theme;
