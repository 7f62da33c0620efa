//! The terminal UI: a timeline of exchanges, connections, consumer-group
//! flows, an exchange's detail (tree, hex, records) and statistics, for a
//! capture file or live traffic.
//!
//! ```text
//! run      terminal, capture thread → bounded channel → UI thread
//! app      state and keys: records in, frames out (no terminal: testable)
//! store    what is kept per exchange (compact rows + body bytes, bounded)
//! series   time series of the timeline's rows, for the Charts view
//! view/*   one module per view; detail: tree + hex of one exchange
//! keys     the key table (dispatch and help both read it)
//! filter   the `/` filter language
//! theme    colours and glyphs, NO_COLOR
//! ```

pub mod app;
pub mod detail;
pub mod filter;
pub mod keys;
pub mod run;
pub mod series;
pub mod store;
pub mod theme;
pub mod view;
