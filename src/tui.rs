//! The terminal UI: a timeline of exchanges, connections, consumer-group
//! flows, an exchange's detail (tree, hex, records) and statistics, for a
//! capture file or live traffic.
//!
//! ```text
//! run      terminal, capture thread → bounded channel → UI thread
//! app      the state and its updates: records, keys, the screen's size
//!          (no terminal, no drawing: testable)
//! store    what is kept per exchange (compact rows + body bytes, bounded)
//! series   time series of the timeline's rows, for the Charts view
//! ladder   a consumer group's flow laid out as lines (built on update)
//! view/*   drawing from `&App`, one module per view (`view::frame` makes a
//!          frame: measure, `App::fit`, draw); detail: tree + hex
//! keys     the key table (dispatch and help both read it)
//! filter   the `/` filter language
//! theme    colours and glyphs, NO_COLOR
//! ```

pub mod app;
pub mod detail;
pub mod filter;
pub mod keys;
pub mod ladder;
pub mod run;
pub mod series;
pub mod store;
pub mod theme;
pub mod view;
