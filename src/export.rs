//! Stage 5: output.
//!
//! [`ndjson`] writes every record as one JSON object per line (the format is
//! specified there and in `docs/ndjson.md`); [`parquet`] writes one Parquet
//! row per exchange for analytics engines (`docs/parquet.md`); [`text`]
//! writes the readable one-line-per-exchange listing of `kwire list`;
//! [`report`] writes the self-contained HTML page of `kwire report`.

pub mod ndjson;
pub mod parquet;
pub mod pcapng;
pub mod prometheus;
pub mod report;
pub mod stats;
pub mod text;
