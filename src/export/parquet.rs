//! Parquet: one row per exchange, for analytics engines (DuckDB, Spark,
//! Trino, pandas...). The schema, column by column, is `docs/parquet.md`
//! ([`SCHEMA`] is its text); this module is its implementation and must stay
//! in step with it.
//!
//! Contract:
//! * **One row per exchange**, in the order kwire completes them (NDJSON's
//!   order; `seq` numbers them from 0). Events, findings and the summary are
//!   not rows: the capture header and the summary go, as their NDJSON
//!   objects, into the file's key-value metadata (`kwire.capture`,
//!   `kwire.summary`).
//! * **Streams in bounded memory**: rows are held column by column until
//!   [`ROW_GROUP_ROWS`] rows or about [`ROW_GROUP_BYTES`] bytes, then written
//!   as one row group; a capture of any length holds one row group at a
//!   time. Per row, the lists are bounded where they are made (error codes by
//!   the decoder, topics by [`MAX_TOPICS_PER_EXCHANGE`], partitions by
//!   [`MAX_PARTITIONS_PER_EXCHANGE`]).
//! * **A complete file only at the end**: Parquet's footer (the schema and
//!   where the row groups are) is written by [`ParquetWriter::finish`], so
//!   the output must be a file (no pipe) and readers see nothing before. A
//!   live capture stopped by Ctrl-C or `--duration` ends the analysis
//!   normally, and the file is finished.
//! * **No panic** on any exchange: values that do not fit a column's type
//!   (a frame number over 2^63) are clamped.
//!
//! Columns are written through `parquet`'s column writers (no arrow):
//! pages Snappy-compressed, dictionary-encoded where it pays, with
//! statistics, as every engine reads them.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use ::parquet::basic::Compression;
use ::parquet::data_type::{BoolType, ByteArray, ByteArrayType, DataType, Int32Type, Int64Type};
use ::parquet::errors::ParquetError;
use ::parquet::file::metadata::KeyValue;
use ::parquet::file::properties::WriterProperties;
use ::parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use ::parquet::schema::parser::parse_message_type;

use crate::analysis::TopicNames;
use crate::analysis::stats::throttle_time_ms;
use crate::analysis::topics::{MAX_TOPICS_PER_EXCHANGE, topics_of};
use crate::analysis::traffic::{MAX_PARTITIONS_PER_EXCHANGE, traffic_of};
use crate::capture::Timestamp;
use crate::session::{Body, Exchange, MessageInfo, Outcome, Record, RecordSink, Status};

/// Version of the Parquet schema (`kwire.format_version` in the file's
/// metadata); bumped when a column is removed or changes meaning.
pub const FORMAT_VERSION: u32 = 1;

/// Most rows of one row group: the rows held in memory before they are
/// written (a few hundred bytes each, without their lists).
pub const ROW_GROUP_ROWS: usize = 65_536;

/// Most bytes (about: strings, list elements and 8 per value) held before
/// the rows are written as a row group, whatever their number: rows with
/// long lists (a Fetch naming thousands of partitions) end a group early.
pub const ROW_GROUP_BYTES: usize = 32 << 20;

/// The schema, in Parquet's message-type notation. `docs/parquet.md` says
/// what each column holds.
pub const SCHEMA: &str = "
message kwire_exchange {
  required int64 seq;
  required int64 stream;
  required binary client (STRING);
  required binary client_ip (STRING);
  required int32 client_port;
  required binary broker (STRING);
  required binary broker_ip (STRING);
  required int32 broker_port;
  optional binary client_id (STRING);
  required int32 api_key (INTEGER(16,true));
  required binary api_name (STRING);
  required int32 api_version (INTEGER(16,true));
  required int32 correlation_id;
  required int64 request_ts (TIMESTAMP(MICROS,true));
  required int64 request_frame;
  required int64 request_first_frame;
  required int64 request_size;
  required int64 request_lost_bytes;
  optional int64 response_ts (TIMESTAMP(MICROS,true));
  optional int64 response_frame;
  optional int64 response_first_frame;
  optional int64 response_size;
  optional int64 response_lost_bytes;
  optional int64 latency_us;
  required boolean response_first;
  required binary status (STRING);
  optional binary reason (STRING);
  required binary outcome (STRING);
  required group error_codes (LIST) {
    repeated group list { required int32 element (INTEGER(16,true)); }
  }
  required group error_names (LIST) {
    repeated group list { required binary element (STRING); }
  }
  required group error_paths (LIST) {
    repeated group list { required binary element (STRING); }
  }
  optional int32 throttle_time_ms;
  required group topics (LIST) {
    repeated group list { required binary element (STRING); }
  }
  required group partitions (LIST) {
    repeated group list {
      required group element {
        required binary topic (STRING);
        optional binary topic_id (STRING);
        required int32 partition_index;
        optional int32 error_code (INTEGER(16,true));
        required int64 batches;
        required int64 records;
        required int64 bytes;
      }
    }
  }
  required int64 partitions_dropped;
  required int64 batches_produced;
  required int64 records_produced;
  required int64 record_bytes_produced;
  required int64 batches_fetched;
  required int64 records_fetched;
  required int64 record_bytes_fetched;
}
";

/// One leaf column's values held for the row group being built, with their
/// definition and repetition levels (Dremel's: how many of the optional or
/// repeated fields above a value are there; whether a value starts a new
/// row or continues its list). A required flat column uses neither.
#[derive(Default)]
struct Leaf<T> {
    values: Vec<T>,
    def: Vec<i16>,
    rep: Vec<i16>,
}

impl<T> Leaf<T> {
    fn req(&mut self, v: T) {
        self.values.push(v);
    }

    /// An optional value (definition level 1 when there, 0 when null).
    fn opt(&mut self, v: Option<T>) {
        self.def.push(i16::from(v.is_some()));
        self.values.extend(v);
    }

    /// A required list of required elements: an empty list is one level
    /// pair (0, 0) without a value; each element has definition level 1 and
    /// repetition level 0 for the first, 1 for the rest.
    fn list(&mut self, items: impl IntoIterator<Item = T>) {
        let mut n = 0;
        for v in items {
            self.rep.push(i16::from(n > 0));
            self.def.push(1);
            self.values.push(v);
            n += 1;
        }
        if n == 0 {
            self.rep.push(0);
            self.def.push(0);
        }
    }

    /// One field of a list of structs: `items` has one entry per element,
    /// `None` for a null optional field (definition level 1: the element is
    /// there, the field not) and `Some` for a value (its level is
    /// `max_def`: 1 for a required field, 2 for an optional one).
    fn list_field(&mut self, items: impl IntoIterator<Item = Option<T>>, max_def: i16) {
        let mut n = 0;
        for v in items {
            self.rep.push(i16::from(n > 0));
            self.def.push(if v.is_some() { max_def } else { 1 });
            self.values.extend(v);
            n += 1;
        }
        if n == 0 {
            self.rep.push(0);
            self.def.push(0);
        }
    }

    fn clear(&mut self) {
        self.values.clear();
        self.def.clear();
        self.rep.clear();
    }
}

/// The rows of the row group being built, one [`Leaf`] per leaf column, in
/// [`SCHEMA`]'s order (the order [`Columns::write`] writes them in).
#[derive(Default)]
struct Columns {
    rows: usize,
    /// About the bytes held (see [`ROW_GROUP_BYTES`]).
    bytes: usize,
    seq: Leaf<i64>,
    stream: Leaf<i64>,
    client: Leaf<ByteArray>,
    client_ip: Leaf<ByteArray>,
    client_port: Leaf<i32>,
    broker: Leaf<ByteArray>,
    broker_ip: Leaf<ByteArray>,
    broker_port: Leaf<i32>,
    client_id: Leaf<ByteArray>,
    api_key: Leaf<i32>,
    api_name: Leaf<ByteArray>,
    api_version: Leaf<i32>,
    correlation_id: Leaf<i32>,
    request_ts: Leaf<i64>,
    request_frame: Leaf<i64>,
    request_first_frame: Leaf<i64>,
    request_size: Leaf<i64>,
    request_lost_bytes: Leaf<i64>,
    response_ts: Leaf<i64>,
    response_frame: Leaf<i64>,
    response_first_frame: Leaf<i64>,
    response_size: Leaf<i64>,
    response_lost_bytes: Leaf<i64>,
    latency_us: Leaf<i64>,
    response_first: Leaf<bool>,
    status: Leaf<ByteArray>,
    reason: Leaf<ByteArray>,
    outcome: Leaf<ByteArray>,
    error_codes: Leaf<i32>,
    error_names: Leaf<ByteArray>,
    error_paths: Leaf<ByteArray>,
    throttle_time_ms: Leaf<i32>,
    topics: Leaf<ByteArray>,
    p_topic: Leaf<ByteArray>,
    p_topic_id: Leaf<ByteArray>,
    p_partition: Leaf<i32>,
    p_error_code: Leaf<i32>,
    p_batches: Leaf<i64>,
    p_records: Leaf<i64>,
    p_bytes: Leaf<i64>,
    partitions_dropped: Leaf<i64>,
    batches_produced: Leaf<i64>,
    records_produced: Leaf<i64>,
    record_bytes_produced: Leaf<i64>,
    batches_fetched: Leaf<i64>,
    records_fetched: Leaf<i64>,
    record_bytes_fetched: Leaf<i64>,
}

/// Microseconds since the epoch (clamped to `i64`).
fn micros(t: Timestamp) -> i64 {
    (t.as_nanos() / 1000).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// A count as Parquet's signed INT64 (clamped).
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn text(s: &str) -> ByteArray {
    ByteArray::from(s.as_bytes().to_vec())
}

/// An endpoint's `ip:port`, its ip and its port.
fn endpoint(a: SocketAddr) -> (ByteArray, ByteArray, i32) {
    (
        text(&a.to_string()),
        text(&a.ip().to_string()),
        i32::from(a.port()),
    )
}

/// Fixed bytes of a row without its strings and lists (about 8 per column).
const ROW_BYTES: usize = 8 * 48;

impl Columns {
    /// Add `e` as a row; `seq` is its place in the export, `names` the topic
    /// names known when it is written.
    fn push(&mut self, e: &Exchange, seq: u64, names: &TopicNames) {
        // Endpoints and names are short; the client id is the one string a
        // client chooses freely.
        let start = ROW_BYTES + e.client_id.as_deref().map_or(0, str::len);
        self.seq.req(int(seq));
        self.stream.req(int(e.stream));
        let (c, ip, port) = endpoint(e.client);
        self.client.req(c);
        self.client_ip.req(ip);
        self.client_port.req(port);
        let (b, ip, port) = endpoint(e.broker);
        self.broker.req(b);
        self.broker_ip.req(ip);
        self.broker_port.req(port);
        self.client_id.opt(e.client_id.as_deref().map(text));
        self.api_key.req(i32::from(e.api_key.0));
        self.api_name.req(text(e.api_key.name()));
        self.api_version.req(i32::from(e.api_version));
        self.correlation_id.req(e.correlation_id);
        self.request_ts.req(micros(e.request.ts));
        self.request_frame.req(int(e.request.frame));
        self.request_first_frame.req(int(e.request.first_frame));
        self.request_size.req(i64::from(e.request.size));
        self.request_lost_bytes.req(int(e.request.lost_bytes));
        let r: Option<&MessageInfo> = e.response.as_ref();
        self.response_ts.opt(r.map(|r| micros(r.ts)));
        self.response_frame.opt(r.map(|r| int(r.frame)));
        self.response_first_frame.opt(r.map(|r| int(r.first_frame)));
        self.response_size.opt(r.map(|r| i64::from(r.size)));
        self.response_lost_bytes.opt(r.map(|r| int(r.lost_bytes)));
        self.latency_us.opt(e.latency_us());
        self.response_first.req(e.response_first());
        self.status.req(text(e.status.as_str()));
        self.reason.opt(match e.status {
            Status::NoResponse(why) => Some(text(why.as_str())),
            _ => None,
        });
        let throttle = e
            .response_body
            .as_deref()
            .and_then(Body::view)
            .and_then(|v| throttle_time_ms(e.api_key, v));
        let codes: Vec<i16> = e.errors.iter().map(|r| r.code).collect();
        let outcome = Outcome::of(
            e.api_key,
            e.api_version,
            e.status,
            &codes,
            throttle.is_some_and(|t| t > 0),
        );
        self.outcome.req(text(outcome.as_str()));
        self.error_codes.list(codes.iter().map(|&c| i32::from(c)));
        self.error_names.list(e.errors.iter().map(|r| text(r.name)));
        self.error_paths
            .list(e.errors.iter().map(|r| text(&r.path)));
        self.throttle_time_ms.opt(throttle);
        let topics = topics_of(e, names);
        debug_assert!(topics.len() <= MAX_TOPICS_PER_EXCHANGE);
        self.topics.list(topics.iter().map(|t| text(t)));
        let t = traffic_of(e, names);
        debug_assert!(t.partitions.len() <= MAX_PARTITIONS_PER_EXCHANGE);
        let ps = &t.partitions;
        self.p_topic
            .list_field(ps.iter().map(|p| Some(text(&p.topic))), 1);
        self.p_topic_id
            .list_field(ps.iter().map(|p| p.topic_id.as_deref().map(text)), 2);
        self.p_partition
            .list_field(ps.iter().map(|p| Some(p.partition)), 1);
        self.p_error_code
            .list_field(ps.iter().map(|p| p.error_code.map(i32::from)), 2);
        self.p_batches
            .list_field(ps.iter().map(|p| Some(int(p.records.batches))), 1);
        self.p_records
            .list_field(ps.iter().map(|p| Some(int(p.records.records))), 1);
        self.p_bytes
            .list_field(ps.iter().map(|p| Some(int(p.records.bytes))), 1);
        self.partitions_dropped.req(int(t.partitions_dropped));
        self.batches_produced.req(int(t.produced.batches));
        self.records_produced.req(int(t.produced.records));
        self.record_bytes_produced.req(int(t.produced.bytes));
        self.batches_fetched.req(int(t.fetched.batches));
        self.records_fetched.req(int(t.fetched.records));
        self.record_bytes_fetched.req(int(t.fetched.bytes));
        self.rows += 1;
        // Lists: 8 bytes per element and its levels, plus their strings.
        let listed = codes.len() + topics.len() + ps.len() * 7;
        let strings: usize = e
            .errors
            .iter()
            .map(|r| r.name.len() + r.path.len())
            .sum::<usize>()
            + topics.iter().map(String::len).sum::<usize>()
            + ps.iter().map(|p| p.topic.len() + 36).sum::<usize>();
        self.bytes = self.bytes.saturating_add(start + listed * 12 + strings);
    }

    fn full(&self) -> bool {
        self.rows >= ROW_GROUP_ROWS || self.bytes >= ROW_GROUP_BYTES
    }

    /// Write the rows held as one row group (none: nothing), and let them go.
    fn write<W: Write + Send>(
        &mut self,
        file: &mut SerializedFileWriter<W>,
    ) -> Result<(), ParquetError> {
        if self.rows == 0 {
            return Ok(());
        }
        let mut rg = file.next_row_group()?;
        let g = &mut rg;
        leaf::<Int64Type, _>(g, &self.seq)?;
        leaf::<Int64Type, _>(g, &self.stream)?;
        leaf::<ByteArrayType, _>(g, &self.client)?;
        leaf::<ByteArrayType, _>(g, &self.client_ip)?;
        leaf::<Int32Type, _>(g, &self.client_port)?;
        leaf::<ByteArrayType, _>(g, &self.broker)?;
        leaf::<ByteArrayType, _>(g, &self.broker_ip)?;
        leaf::<Int32Type, _>(g, &self.broker_port)?;
        leaf::<ByteArrayType, _>(g, &self.client_id)?;
        leaf::<Int32Type, _>(g, &self.api_key)?;
        leaf::<ByteArrayType, _>(g, &self.api_name)?;
        leaf::<Int32Type, _>(g, &self.api_version)?;
        leaf::<Int32Type, _>(g, &self.correlation_id)?;
        leaf::<Int64Type, _>(g, &self.request_ts)?;
        leaf::<Int64Type, _>(g, &self.request_frame)?;
        leaf::<Int64Type, _>(g, &self.request_first_frame)?;
        leaf::<Int64Type, _>(g, &self.request_size)?;
        leaf::<Int64Type, _>(g, &self.request_lost_bytes)?;
        leaf::<Int64Type, _>(g, &self.response_ts)?;
        leaf::<Int64Type, _>(g, &self.response_frame)?;
        leaf::<Int64Type, _>(g, &self.response_first_frame)?;
        leaf::<Int64Type, _>(g, &self.response_size)?;
        leaf::<Int64Type, _>(g, &self.response_lost_bytes)?;
        leaf::<Int64Type, _>(g, &self.latency_us)?;
        leaf::<BoolType, _>(g, &self.response_first)?;
        leaf::<ByteArrayType, _>(g, &self.status)?;
        leaf::<ByteArrayType, _>(g, &self.reason)?;
        leaf::<ByteArrayType, _>(g, &self.outcome)?;
        leaf::<Int32Type, _>(g, &self.error_codes)?;
        leaf::<ByteArrayType, _>(g, &self.error_names)?;
        leaf::<ByteArrayType, _>(g, &self.error_paths)?;
        leaf::<Int32Type, _>(g, &self.throttle_time_ms)?;
        leaf::<ByteArrayType, _>(g, &self.topics)?;
        leaf::<ByteArrayType, _>(g, &self.p_topic)?;
        leaf::<ByteArrayType, _>(g, &self.p_topic_id)?;
        leaf::<Int32Type, _>(g, &self.p_partition)?;
        leaf::<Int32Type, _>(g, &self.p_error_code)?;
        leaf::<Int64Type, _>(g, &self.p_batches)?;
        leaf::<Int64Type, _>(g, &self.p_records)?;
        leaf::<Int64Type, _>(g, &self.p_bytes)?;
        leaf::<Int64Type, _>(g, &self.partitions_dropped)?;
        leaf::<Int64Type, _>(g, &self.batches_produced)?;
        leaf::<Int64Type, _>(g, &self.records_produced)?;
        leaf::<Int64Type, _>(g, &self.record_bytes_produced)?;
        leaf::<Int64Type, _>(g, &self.batches_fetched)?;
        leaf::<Int64Type, _>(g, &self.records_fetched)?;
        leaf::<Int64Type, _>(g, &self.record_bytes_fetched)?;
        // A column left unwritten would be an error here (the schema's
        // leaves and these calls are one list).
        rg.close()?;
        self.clear();
        Ok(())
    }

    fn clear(&mut self) {
        let Columns { rows, bytes, .. } = self;
        *rows = 0;
        *bytes = 0;
        macro_rules! clear {
            ($($f:ident),* $(,)?) => { $(self.$f.clear();)* };
        }
        clear!(
            seq,
            stream,
            client,
            client_ip,
            client_port,
            broker,
            broker_ip,
            broker_port,
            client_id,
            api_key,
            api_name,
            api_version,
            correlation_id,
            request_ts,
            request_frame,
            request_first_frame,
            request_size,
            request_lost_bytes,
            response_ts,
            response_frame,
            response_first_frame,
            response_size,
            response_lost_bytes,
            latency_us,
            response_first,
            status,
            reason,
            outcome,
            error_codes,
            error_names,
            error_paths,
            throttle_time_ms,
            topics,
            p_topic,
            p_topic_id,
            p_partition,
            p_error_code,
            p_batches,
            p_records,
            p_bytes,
            partitions_dropped,
            batches_produced,
            records_produced,
            record_bytes_produced,
            batches_fetched,
            records_fetched,
            record_bytes_fetched,
        );
    }
}

/// Write the next leaf column of the row group from `l`: its levels as its
/// place in the schema has them (none for a required flat column).
fn leaf<T: DataType, W: Write + Send>(
    rg: &mut SerializedRowGroupWriter<'_, W>,
    l: &Leaf<T::T>,
) -> Result<(), ParquetError> {
    let Some(mut col) = rg.next_column()? else {
        return Err(ParquetError::General(
            "kwire: more columns written than the schema has".into(),
        ));
    };
    let w = col.typed::<T>();
    let d = w.get_descriptor();
    let def = (d.max_def_level() > 0).then_some(&l.def[..]);
    let rep = (d.max_rep_level() > 0).then_some(&l.rep[..]);
    w.write_batch(&l.values, def, rep)?;
    col.close()
}

fn io_error(e: ParquetError) -> io::Error {
    match e {
        ParquetError::External(inner) => match inner.downcast::<io::Error>() {
            Ok(io) => *io,
            Err(other) => io::Error::other(other),
        },
        e => io::Error::other(e),
    }
}

/// Writes exchanges as Parquet rows to `W` (a file: see the module doc).
pub struct ParquetWriter<W: Write + Send> {
    out: Option<SerializedFileWriter<W>>,
    rows: Columns,
    names: TopicNames,
    seq: u64,
}

impl<W: Write + Send> ParquetWriter<W> {
    /// A writer of [`SCHEMA`] into `out`; the file's first bytes (Parquet's
    /// magic) are written now.
    pub fn new(out: W) -> io::Result<Self> {
        let schema = parse_message_type(SCHEMA).map_err(io_error)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("kwire {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(vec![KeyValue::new(
                "kwire.format_version".into(),
                FORMAT_VERSION.to_string(),
            )]))
            .build();
        let out =
            SerializedFileWriter::new(out, Arc::new(schema), Arc::new(props)).map_err(io_error)?;
        Ok(ParquetWriter {
            out: Some(out),
            rows: Columns::default(),
            names: TopicNames::new(),
            seq: 0,
        })
    }

    /// Write the rows held and the footer; the file is complete. Returns
    /// the output, flushed.
    pub fn finish(mut self) -> io::Result<W> {
        let Some(mut out) = self.out.take() else {
            return Err(io::Error::other("parquet writer already finished"));
        };
        self.rows.write(&mut out).map_err(io_error)?;
        let mut w = out.into_inner().map_err(io_error)?;
        w.flush()?;
        Ok(w)
    }

    fn file(&mut self) -> io::Result<&mut SerializedFileWriter<W>> {
        self.out
            .as_mut()
            .ok_or_else(|| io::Error::other("parquet writer already finished"))
    }

    fn metadata(&mut self, key: &str, r: &Record) -> io::Result<()> {
        let v = crate::export::ndjson::to_json(r).to_string();
        self.file()?
            .append_key_value_metadata(KeyValue::new(key.into(), v));
        Ok(())
    }
}

impl<W: Write + Send> RecordSink for ParquetWriter<W> {
    fn record(&mut self, r: Record) -> io::Result<()> {
        match &r {
            Record::Capture(_) => self.metadata("kwire.capture", &r),
            Record::Summary(_) => self.metadata("kwire.summary", &r),
            Record::Event(_) => Ok(()),
            Record::Exchange(e) => {
                self.names.observe(e);
                self.rows.push(e, self.seq, &self.names);
                self.seq += 1;
                if self.rows.full() {
                    let ParquetWriter { out, rows, .. } = self;
                    let out = out
                        .as_mut()
                        .ok_or_else(|| io::Error::other("parquet writer already finished"))?;
                    rows.write(out).map_err(io_error)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::tests::{
        batch, exchange, fetch_request, fetch_response, produce_request, produce_response,
    };
    use crate::session::{ErrorRef, NoResponseReason};
    use ::parquet::file::reader::{FileReader, SerializedFileReader};
    use ::parquet::record::{Field, Row};
    use serde_json::{Value, json};

    /// A row as JSON, for comparing (lists as arrays, structs as objects).
    fn field(f: &Field) -> Value {
        match f {
            Field::Null => Value::Null,
            Field::Bool(b) => json!(b),
            Field::Short(v) => json!(v),
            Field::Int(v) => json!(v),
            Field::Long(v) | Field::TimestampMicros(v) => json!(v),
            Field::Str(s) => json!(s),
            Field::Group(r) => row(r),
            Field::ListInternal(l) => Value::Array(l.elements().iter().map(field).collect()),
            other => panic!("a type kwire does not write: {other:?}"),
        }
    }

    fn row(r: &Row) -> Value {
        Value::Object(
            r.get_column_iter()
                .map(|(k, v)| (k.clone(), field(v)))
                .collect(),
        )
    }

    /// Write `exchanges` (and a summary-less end) and read the file back.
    fn round_trip(exchanges: &[Exchange]) -> (Vec<Value>, usize) {
        let mut w = ParquetWriter::new(Vec::new()).unwrap();
        for e in exchanges {
            w.record(Record::Exchange(Box::new(e.clone()))).unwrap();
        }
        let bytes = bytes::Bytes::from(w.finish().unwrap());
        let r = SerializedFileReader::new(bytes).unwrap();
        let groups = r.metadata().num_row_groups();
        let rows = r
            .get_row_iter(None)
            .unwrap()
            .map(|x| row(&x.unwrap()))
            .collect();
        (rows, groups)
    }

    /// Every column as written: nulls where there is no response, empty
    /// lists, lists of several, partitions as structs with their optional
    /// fields null or not, timestamps in microseconds.
    #[test]
    fn rows_read_back_as_written() {
        let q = produce_request(&[
            ("orders", &[(0, &[batch(0, 3, false)][..]), (1, &[][..])]),
            ("events", &[(2, &[batch(0, 1, false)][..])]),
        ]);
        let r = produce_response(&[("orders", &[(0, 0), (1, 6)])], 0);
        let produce = exchange(0, 3, 10, Some("p-1"), Some(&q), Some(&r), Some(500));
        let q = fetch_request(&[("orders", &[0])]);
        let r = fetch_response(&[("orders", &[(0, 0, &[batch(0, 2, false)][..])])], 25);
        let fetch = exchange(1, 4, 20, None, Some(&q), Some(&r), Some(800));
        let mut lost = exchange(3, 1, 30, Some("c"), None, None, None);
        lost.status = Status::NoResponse(NoResponseReason::ConnectionReset);
        let (rows, groups) = round_trip(&[produce, fetch, lost]);
        assert_eq!(groups, 1);
        assert_eq!(rows.len(), 3);

        let p = &rows[0];
        assert_eq!(p["seq"], 0);
        assert_eq!(p["client"], "127.0.0.1:5000");
        assert_eq!(p["broker_ip"], "127.0.0.1");
        assert_eq!(p["broker_port"], 9092);
        assert_eq!(p["client_id"], "p-1");
        assert_eq!(
            (p["api_key"].clone(), p["api_name"].clone()),
            (json!(0), json!("Produce"))
        );
        assert_eq!(p["api_version"], 3);
        assert_eq!(p["correlation_id"], 10);
        // exchange(): the request at frame * 1 ms after 1,700,000,000 s.
        assert_eq!(p["request_ts"], 1_700_000_000_010_000i64);
        assert_eq!(p["response_ts"], 1_700_000_000_010_500i64);
        assert_eq!(p["latency_us"], 500);
        assert_eq!(
            (p["request_frame"].clone(), p["response_frame"].clone()),
            (json!(10), json!(11))
        );
        assert_eq!(
            (p["request_size"].clone(), p["response_size"].clone()),
            (json!(96), json!(46))
        );
        assert_eq!(p["status"], "error");
        assert_eq!(p["outcome"], "retriable");
        assert_eq!(p["reason"], Value::Null);
        assert_eq!(p["error_codes"], json!([6]));
        assert_eq!(p["error_names"], json!(["NOT_LEADER_OR_FOLLOWER"]));
        assert_eq!(p["throttle_time_ms"], 0);
        assert_eq!(p["topics"], json!(["orders", "events"]));
        assert_eq!(
            p["partitions"],
            json!([
                {"topic": "orders", "topic_id": null, "partition_index": 0, "error_code": 0,
                 "batches": 1, "records": 3, "bytes": 69},
                {"topic": "orders", "topic_id": null, "partition_index": 1, "error_code": 6,
                 "batches": 0, "records": 0, "bytes": 0},
                {"topic": "events", "topic_id": null, "partition_index": 2, "error_code": null,
                 "batches": 1, "records": 1, "bytes": 69},
            ])
        );
        assert_eq!(
            (
                p["records_produced"].clone(),
                p["batches_produced"].clone(),
                p["record_bytes_produced"].clone()
            ),
            (json!(4), json!(2), json!(138))
        );
        assert_eq!(p["records_fetched"], 0);

        let f = &rows[1];
        assert_eq!(f["client_id"], Value::Null);
        assert_eq!(f["status"], "ok");
        assert_eq!(f["outcome"], "throttled");
        assert_eq!(f["throttle_time_ms"], 25);
        assert_eq!(f["error_codes"], json!([]));
        assert_eq!(f["records_fetched"], 2);

        let l = &rows[2];
        assert_eq!(l["status"], "no_response");
        assert_eq!(l["reason"], "connection_reset");
        assert_eq!(l["outcome"], "unanswered");
        for k in [
            "response_ts",
            "response_frame",
            "response_size",
            "latency_us",
            "throttle_time_ms",
        ] {
            assert_eq!(l[k], Value::Null, "{k}");
        }
        assert_eq!(l["topics"], json!([]));
        assert_eq!(l["partitions"], json!([]));
    }

    /// A negotiation's expected answer is an outcome of its own; several
    /// errors keep their order, names and paths.
    #[test]
    fn outcomes_and_error_lists() {
        let mut neg = exchange(18, 3, 1, Some("c"), None, Some(&[0, 35]), Some(10));
        neg.status = Status::Error;
        neg.errors = vec![ErrorRef {
            code: 35,
            name: "UNSUPPORTED_VERSION",
            path: "errorCode".into(),
        }];
        let mut many = exchange(3, 9, 2, Some("c"), None, None, Some(10));
        many.status = Status::Error;
        many.errors = [(3, "a"), (29, "b"), (3, "c")]
            .iter()
            .map(|&(code, path)| ErrorRef {
                code,
                name: crate::kafka::errors::ErrorCode(code).name(),
                path: path.into(),
            })
            .collect();
        let (rows, _) = round_trip(&[neg, many]);
        assert_eq!(rows[0]["outcome"], "negotiation");
        assert_eq!(rows[1]["outcome"], "fatal");
        assert_eq!(rows[1]["error_codes"], json!([3, 29, 3]));
        assert_eq!(rows[1]["error_paths"], json!(["a", "b", "c"]));
        assert_eq!(
            rows[1]["error_names"],
            json!([
                "UNKNOWN_TOPIC_OR_PARTITION",
                "TOPIC_AUTHORIZATION_FAILED",
                "UNKNOWN_TOPIC_OR_PARTITION"
            ])
        );
    }

    /// Rows go out in row groups of at most ROW_GROUP_ROWS, and of about
    /// ROW_GROUP_BYTES when rows are large: memory holds one group.
    #[test]
    fn row_groups_are_bounded() {
        let e = exchange(3, 1, 1, Some("c"), None, None, Some(5));
        let mut w = ParquetWriter::new(Vec::new()).unwrap();
        for _ in 0..ROW_GROUP_ROWS + 1 {
            w.record(Record::Exchange(Box::new(e.clone()))).unwrap();
            assert!(w.rows.rows <= ROW_GROUP_ROWS);
        }
        let r = SerializedFileReader::new(bytes::Bytes::from(w.finish().unwrap())).unwrap();
        let sizes: Vec<i64> = r
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect();
        assert_eq!(sizes, vec![ROW_GROUP_ROWS as i64, 1]);

        // Client ids of 1 MiB: a group ends at about ROW_GROUP_BYTES.
        let mut big = e.clone();
        big.client_id = Some(Arc::from("x".repeat(1 << 20)));
        let n = ROW_GROUP_BYTES / (1 << 20) + 3;
        let mut w = ParquetWriter::new(Vec::new()).unwrap();
        for _ in 0..n {
            w.record(Record::Exchange(Box::new(big.clone()))).unwrap();
            assert!(w.rows.bytes < ROW_GROUP_BYTES + (2 << 20));
        }
        let r = SerializedFileReader::new(bytes::Bytes::from(w.finish().unwrap())).unwrap();
        assert_eq!(r.metadata().num_row_groups(), 2);
        assert_eq!(r.metadata().file_metadata().num_rows(), n as i64);
    }

    /// The capture and the summary go into the footer; events are no rows.
    #[test]
    fn metadata_and_no_rows() {
        use crate::capture::SourceFormat;
        use crate::session::CaptureInfo;
        let mut w = ParquetWriter::new(Vec::new()).unwrap();
        w.record(Record::Capture(CaptureInfo {
            source: "x.pcap".into(),
            format: SourceFormat::Pcap,
            link_types: Vec::new(),
            filter: None,
            merged: Vec::new(),
        }))
        .unwrap();
        w.record(Record::Summary(Box::default())).unwrap();
        let r = SerializedFileReader::new(bytes::Bytes::from(w.finish().unwrap())).unwrap();
        let kv: Vec<(String, String)> = r
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .unwrap()
            .iter()
            .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
            .collect();
        let get = |key: &str| kv.iter().find(|k| k.0 == key).map(|k| k.1.clone());
        assert_eq!(get("kwire.format_version").as_deref(), Some("1"));
        let c: Value = serde_json::from_str(&get("kwire.capture").unwrap()).unwrap();
        assert_eq!(c["source"], "x.pcap");
        let s: Value = serde_json::from_str(&get("kwire.summary").unwrap()).unwrap();
        assert_eq!(s["type"], "summary");
        assert_eq!(r.metadata().file_metadata().num_rows(), 0);
    }

    /// Values beyond a column's type are clamped, not a panic.
    #[test]
    fn extreme_values() {
        let mut e = exchange(3, 1, 1, None, None, None, Some(5));
        e.request.frame = u64::MAX;
        e.request.ts = Timestamp::new(i64::MAX, 999_999_999);
        e.stream = u64::MAX;
        let (rows, _) = round_trip(&[e]);
        assert_eq!(rows[0]["request_frame"], i64::MAX);
        assert_eq!(rows[0]["request_ts"], i64::MAX);
        assert_eq!(rows[0]["stream"], i64::MAX);
        assert_eq!(rows[0]["latency_us"], Value::Null);
    }
}
