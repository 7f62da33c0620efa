//! Stage 5: output.
//!
//! [`ndjson`] writes every record as one JSON object per line (the format is
//! specified there and in `docs/ndjson.md`); [`text`] writes the readable
//! one-line-per-exchange listing of `kwire list`.

pub mod ndjson;
pub mod prometheus;
pub mod stats;
pub mod text;
