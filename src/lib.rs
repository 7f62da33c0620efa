//! kwire: read Apache Kafka traffic off the wire and explain it.
//!
//! The crate is a pipeline, one module per stage, each depending only on the
//! stages before it:
//!
//! ```text
//! capture  packets from pcap/pcapng files, stdin or a live interface; link/IP/TCP headers
//!    ↓
//! tcp      per-connection, per-direction reassembly into ordered byte streams, gaps
//!    ↓
//! tls      (TLS connections) records, handshake, decryption with an NSS key log
//!    ↓
//! kafka    framing, request/response headers, the API table, plausibility checks
//!    ↓
//! session  Kafka detection, correlation of responses to requests, events → records
//!    ↓
//! merge    (several captures) clocks set against each other, one time line,
//!          an exchange seen at both ends folded into one
//!    ↓
//! export   NDJSON and the plain-text listing
//! ```
//!
//! Beside `export`, the other front ends: `tui` (the terminal UI) and
//! `progress` (a file run's progress on stderr, for the command line).
//!
//! The core (`tcp`, `kafka`, `session`) is pure: it takes bytes and timestamps
//! and never touches libpcap, threads or terminals. Wire input is hostile: no
//! stage panics, allocates in proportion to a length read off the wire, or
//! buffers without a named limit.

pub mod analysis;
pub mod capture;
pub mod export;
pub mod kafka;
pub mod merge;
pub mod present;
pub mod progress;
pub mod session;
pub mod tcp;
pub mod tls;
pub mod tui;
