//! pcap and pcapng files, and a pcap/pcapng stream on stdin.
//!
//! Streaming: `pcap-parser`'s reader keeps a 1 MiB buffer that grows
//! (doubling, never shrinking) only when one block does not fit, up to 256
//! MiB; a block or record declaring more than that is reported as damage, and
//! the buffer only grows as bytes actually arrive, so a length field alone
//! never makes it allocate. Reading a packet allocates nothing.
//!
//! Packet blocks (pcap records; pcapng Enhanced, Simple and obsolete Packet
//! Blocks) are read in place without allocating; section headers and
//! interface descriptions go through `pcap-parser`'s block parsers; other
//! pcapng blocks are skipped. The [`Packet`] returned borrows the buffer; its
//! bytes are consumed at the start of the next call.
//!
//! Endings: a clean end gives `Ok(None)`; an end in the middle of a record or
//! block gives [`CaptureError::Truncated`] after every complete packet was
//! delivered; a block whose lengths contradict themselves gives
//! [`CaptureError::Corrupt`]. After an error, `next_packet` returns
//! `Ok(None)`.
//!
//! Simple Packet Blocks carry no timestamp: they get the previous packet's
//! (or the epoch when there is none).
//!
//! Progress: [`FileSource::bytes_read`] is a count, shared with another
//! thread, of the bytes taken from the input so far; it is updated once per
//! read of the input (one buffer refill, about a MiB), never per packet.

use std::io::{self, Cursor, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapNGReader};

use super::{CaptureError, LinkType, Packet, PacketSource, SourceFormat, Timestamp};

/// The reader's buffer at first: big enough for many packets per `read`.
const INITIAL_BUFFER: usize = 1 << 20;
/// The largest pcapng block or pcap record accepted, and so the largest the
/// buffer grows.
const MAX_BLOCK: usize = 256 << 20;
/// libpcap's largest snaplen: a pcap record longer than this (and than the
/// file's snaplen) is garbage, as libpcap and Wireshark judge it.
const PCAP_MAX_SNAPLEN: usize = 262_144;
/// Interfaces accepted in one pcapng section.
const MAX_INTERFACES: usize = 65_536;

const SHB_BYTES: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const BOM_BE: [u8; 4] = [0x1a, 0x2b, 0x3c, 0x4d];
const BOM_LE: [u8; 4] = [0x4d, 0x3c, 0x2b, 0x1a];
const SHB_TYPE: u32 = 0x0a0d_0d0a;
const IDB_TYPE: u32 = 1;
const PB_TYPE: u32 = 2; // obsolete Packet Block
const SPB_TYPE: u32 = 3;
const EPB_TYPE: u32 = 6;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// Reads pcap (both byte orders, micro- and nanosecond timestamps) and pcapng
/// (several interfaces and link types) from any reader, streaming with a
/// bounded buffer.
pub struct FileSource {
    reader: Box<dyn PcapReaderIterator + Send>,
    kind: Kind,
    /// Buffer size now (the trait does not tell).
    capacity: usize,
    /// Byte offset in the input of `reader.data()[0]`.
    offset: u64,
    /// Bytes of the packet returned last, consumed on the next call.
    pending: usize,
    frame: u64,
    /// The first packet, found while opening so `link_types` is known early.
    primed: Option<Result<Option<Found>, CaptureError>>,
    done: bool,
    link_types: Vec<LinkType>,
    /// The last `io::Error` of the input, which `pcap-parser` reduces to
    /// `ReadError`.
    io_error: Arc<Mutex<Option<io::Error>>>,
    /// Bytes read from the input so far (see [`FileSource::bytes_read`]).
    bytes_read: Arc<AtomicU64>,
}

enum Kind {
    Pcap {
        big_endian: bool,
        /// 1000 for microsecond files, 1 for nanosecond ones.
        nanos_per_unit: u64,
        /// 16, or 24 in the "modified" (Kuznetzov) format.
        record_header: usize,
        max_caplen: usize,
        link: LinkType,
    },
    PcapNg {
        big_endian: bool,
        interfaces: Vec<Interface>,
        last_ts: Timestamp,
    },
}

#[derive(Clone, Copy)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    resolution: Resolution,
    /// `if_tsoffset`: seconds added to every timestamp.
    ts_offset: i64,
}

/// A pcapng interface's timestamp unit (`if_tsresol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Resolution {
    units_per_sec: u64,
    /// `1e9 / units_per_sec` when that is exact, else 0.
    nanos_per_unit: u64,
}

impl Resolution {
    /// `None` when the unit does not fit in 64 bits.
    fn from_tsresol(v: u8) -> Option<Resolution> {
        let units_per_sec = if v & 0x80 == 0 {
            10u64.checked_pow(u32::from(v))?
        } else {
            1u64.checked_shl(u32::from(v & 0x7f))?
        };
        let nanos_per_unit = if 1_000_000_000 % units_per_sec == 0 {
            1_000_000_000 / units_per_sec
        } else {
            0
        };
        Some(Resolution {
            units_per_sec,
            nanos_per_unit,
        })
    }

    /// The timestamp `t` units after the epoch, plus `offset` seconds,
    /// truncated to the nanosecond.
    fn timestamp(self, t: u64, offset: i64) -> Timestamp {
        let secs = t / self.units_per_sec;
        let frac = t % self.units_per_sec;
        let nanos = if self.nanos_per_unit != 0 {
            frac * self.nanos_per_unit
        } else {
            (u128::from(frac) * 1_000_000_000 / u128::from(self.units_per_sec)) as u64
        };
        let secs = (i128::from(secs) + i128::from(offset)).clamp(i64::MIN.into(), i64::MAX.into());
        Timestamp::new(secs as i64, nanos as u32)
    }
}

/// A complete packet at the start of the buffer.
#[derive(Clone, Copy, Debug)]
struct Found {
    start: usize,
    end: usize,
    /// Bytes to consume after delivering it (the whole block or record).
    len: usize,
    ts: Timestamp,
    link: LinkType,
    orig_len: u32,
}

fn u32_at(data: &[u8], at: usize, big_endian: bool) -> u32 {
    let b = data
        .get(at..at + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok());
    let b = b.unwrap_or_default();
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

fn u16_at(data: &[u8], at: usize, big_endian: bool) -> u16 {
    let b = data
        .get(at..at + 2)
        .and_then(|b| <[u8; 2]>::try_from(b).ok());
    let b = b.unwrap_or_default();
    if big_endian {
        u16::from_be_bytes(b)
    } else {
        u16::from_le_bytes(b)
    }
}

/// The input, remembering the last real I/O error, retrying interrupted
/// reads (a Ctrl-C handler must not end a stdin capture with an error) and
/// counting the bytes read.
struct InputReader {
    inner: Box<dyn Read + Send>,
    error: Arc<Mutex<Option<io::Error>>>,
    read: Arc<AtomicU64>,
}

impl Read for InputReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let kind = e.kind();
                    if let Ok(mut slot) = self.error.lock() {
                        *slot = Some(e);
                    }
                    return Err(kind.into());
                }
                Ok(n) => {
                    // One relaxed add per read of the input (a buffer
                    // refill), for a progress display on another thread.
                    self.read.fetch_add(n as u64, Ordering::Relaxed);
                    return Ok(n);
                }
            }
        }
    }
}

/// Read until `buf` holds `n` bytes or the input ends.
fn read_up_to(reader: &mut impl Read, buf: &mut Vec<u8>, n: usize) -> io::Result<()> {
    let want = n.saturating_sub(buf.len()) as u64;
    reader.by_ref().take(want).read_to_end(buf)?;
    Ok(())
}

impl FileSource {
    /// Open a file by path, or stdin when `path` is `-`.
    pub fn open(path: &str) -> Result<FileSource, CaptureError> {
        let reader: Box<dyn Read + Send> = if path == "-" {
            Box::new(io::stdin())
        } else {
            let file = std::fs::File::open(path).map_err(|error| CaptureError::Open {
                path: path.to_string(),
                error,
            })?;
            Box::new(file)
        };
        // Reading the first bytes fails for a directory, say: an open error.
        FileSource::from_reader(path, reader).map_err(|e| match e {
            CaptureError::Io(error) => CaptureError::Open {
                path: path.to_string(),
                error,
            },
            e => e,
        })
    }

    /// Read a capture from any byte stream.
    ///
    /// Reads the file header, and the pcapng blocks before the first packet
    /// so that [`PacketSource::link_types`] is known at once: on a pipe this
    /// waits for the first packet (or the end).
    pub fn from_reader(
        name: &str,
        reader: Box<dyn Read + Send>,
    ) -> Result<FileSource, CaptureError> {
        FileSource::with_capacity(name, reader, INITIAL_BUFFER)
    }

    fn with_capacity(
        name: &str,
        reader: Box<dyn Read + Send>,
        capacity: usize,
    ) -> Result<FileSource, CaptureError> {
        let io_error = Arc::new(Mutex::new(None));
        let bytes_read = Arc::new(AtomicU64::new(0));
        let mut input = InputReader {
            inner: reader,
            error: io_error.clone(),
            read: bytes_read.clone(),
        };
        let not_a_capture = || CaptureError::NotACapture(name.to_string());
        let corrupt_at_0 = |reason: &str| CaptureError::Corrupt {
            offset: 0,
            reason: reason.to_string(),
        };
        let io_err = |e: io::Error| {
            let stashed = io_error.lock().ok().and_then(|mut slot| slot.take());
            CaptureError::Io(stashed.unwrap_or(e))
        };

        // `pcap-parser`'s readers parse the file header from what their first
        // `read` returns; a pipe may return a few bytes at a time, so the
        // header is read here and handed over in front of the rest.
        let mut prefix = Vec::with_capacity(64);
        read_up_to(&mut input, &mut prefix, 4).map_err(io_err)?;
        let Some(&magic) = prefix.first_chunk::<4>() else {
            return Err(not_a_capture());
        };
        let (format, header_len) = if magic == SHB_BYTES {
            read_up_to(&mut input, &mut prefix, 12).map_err(io_err)?;
            let big_endian = match prefix.get(8..12) {
                Some(b) if b == BOM_BE => true,
                Some(b) if b == BOM_LE => false,
                Some(_) => return Err(not_a_capture()),
                None => return Err(CaptureError::Truncated { offset: 0 }),
            };
            let len = u32_at(&prefix, 4, big_endian) as usize;
            if len < 28 || !len.is_multiple_of(4) || len > MAX_BLOCK {
                return Err(corrupt_at_0("invalid section header block length"));
            }
            (SourceFormat::PcapNg, len)
        } else {
            match u32::from_le_bytes(magic) {
                0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0xa1b2_cd34 => {
                    (SourceFormat::Pcap, 24)
                }
                _ => return Err(not_a_capture()),
            }
        };
        read_up_to(&mut input, &mut prefix, header_len).map_err(io_err)?;
        if prefix.len() < header_len {
            return Err(CaptureError::Truncated { offset: 0 });
        }

        let capacity = capacity.max(header_len * 2);
        let input = Cursor::new(prefix).chain(input);
        let mut reader: Box<dyn PcapReaderIterator + Send> = match format {
            SourceFormat::PcapNg => match PcapNGReader::new(capacity, input) {
                Ok(r) => Box::new(r),
                Err(_) => return Err(corrupt_at_0("invalid section header block")),
            },
            _ => match LegacyPcapReader::new(capacity, input) {
                Ok(r) => Box::new(r),
                Err(_) => return Err(not_a_capture()),
            },
        };

        let mut link_types = Vec::new();
        let kind = match format {
            SourceFormat::PcapNg => Kind::PcapNg {
                big_endian: false, // set by the section header, read next
                interfaces: Vec::new(),
                last_ts: Timestamp::default(),
            },
            _ => {
                let header = match reader.next() {
                    Ok((_, PcapBlockOwned::LegacyHeader(h))) => h,
                    _ => return Err(not_a_capture()),
                };
                let link = LinkType((header.network.0 as u32 & 0xffff) as u16);
                link_types.push(link);
                let snaplen = header.snaplen as usize;
                let kind = Kind::Pcap {
                    big_endian: header.is_bigendian(),
                    nanos_per_unit: if header.is_nanosecond_precision() {
                        1
                    } else {
                        1000
                    },
                    record_header: if header.is_modified_format() { 24 } else { 16 },
                    max_caplen: snaplen.clamp(PCAP_MAX_SNAPLEN, MAX_BLOCK - 24),
                    link,
                };
                reader.consume_noshift(header.size());
                kind
            }
        };
        let offset = reader.consumed() as u64;
        let mut source = FileSource {
            reader,
            kind,
            capacity,
            offset,
            pending: 0,
            frame: 0,
            primed: None,
            done: false,
            link_types,
            io_error,
            bytes_read,
        };
        let first = source.advance();
        // A damaged first block is reported by the first `next_packet`, like
        // any later one; a file that is nothing but a header is fine.
        source.primed = Some(first);
        Ok(source)
    }

    /// The count of bytes read from the input so far, for another thread to
    /// watch (a progress display): it runs ahead of the packets delivered by
    /// at most the reader's buffer, and equals the input's size once the
    /// input has been read to its end. Updated once per read of the input,
    /// with a relaxed atomic add: it costs the reading nothing measurable.
    pub fn bytes_read(&self) -> Arc<AtomicU64> {
        self.bytes_read.clone()
    }

    fn corrupt(&self, reason: impl Into<String>) -> CaptureError {
        CaptureError::Corrupt {
            offset: self.offset,
            reason: reason.into(),
        }
    }

    fn read_error(&self) -> CaptureError {
        let stashed = self.io_error.lock().ok().and_then(|mut slot| slot.take());
        CaptureError::Io(stashed.unwrap_or_else(|| io::Error::other("read error")))
    }

    fn consume(&mut self, n: usize) {
        // No shift: `refill` moves what is left to the front anyway, when
        // little is left.
        self.reader.consume_noshift(n);
        self.offset += n as u64;
    }

    /// Make the buffer hold at least `n` bytes (`n <= MAX_BLOCK`); `false`
    /// when the input ends first.
    fn fill(&mut self, n: usize) -> Result<bool, CaptureError> {
        loop {
            let have = self.reader.data().len();
            if have >= n {
                return Ok(true);
            }
            if self.reader.reader_exhausted() {
                return Ok(false);
            }
            if have >= self.capacity {
                // Full of one unfinished block: grow as its bytes arrive.
                let new = (self.capacity * 2).min(MAX_BLOCK);
                if new <= self.capacity || !self.reader.grow(new) {
                    return Err(self.corrupt(format!("block of {n} bytes does not fit")));
                }
                self.capacity = new;
            }
            if self.reader.refill().is_err() {
                return Err(self.read_error());
            }
        }
    }

    /// At the end of the input: clean if nothing is left over.
    fn end_of_input(&self) -> Result<Option<Found>, CaptureError> {
        if self.reader.data().is_empty() {
            Ok(None)
        } else {
            Err(CaptureError::Truncated {
                offset: self.offset,
            })
        }
    }

    /// Find the next complete packet at the start of the buffer, consuming
    /// the blocks before it.
    fn advance(&mut self) -> Result<Option<Found>, CaptureError> {
        match self.kind {
            Kind::Pcap { .. } => self.advance_pcap(),
            Kind::PcapNg { .. } => self.advance_pcapng(),
        }
    }

    fn advance_pcap(&mut self) -> Result<Option<Found>, CaptureError> {
        let Kind::Pcap {
            big_endian: be,
            nanos_per_unit,
            record_header,
            max_caplen,
            link,
        } = self.kind
        else {
            return Ok(None);
        };
        if !self.fill(record_header)? {
            return self.end_of_input();
        }
        let d = self.reader.data();
        let ts_sec = u32_at(d, 0, be);
        let ts_frac = u32_at(d, 4, be);
        let caplen = u32_at(d, 8, be) as usize;
        let orig_len = u32_at(d, 12, be);
        if caplen > max_caplen {
            return Err(self.corrupt(format!(
                "packet record of {caplen} bytes, more than the maximum of {max_caplen}"
            )));
        }
        let len = record_header + caplen;
        if !self.fill(len)? {
            return Err(CaptureError::Truncated {
                offset: self.offset,
            });
        }
        let nanos = u64::from(ts_frac) * nanos_per_unit;
        let secs = i64::from(ts_sec) + (nanos / 1_000_000_000) as i64;
        Ok(Some(Found {
            start: record_header,
            end: len,
            len,
            ts: Timestamp::new(secs, (nanos % 1_000_000_000) as u32),
            link,
            orig_len,
        }))
    }

    fn advance_pcapng(&mut self) -> Result<Option<Found>, CaptureError> {
        loop {
            if !self.fill(8)? {
                return self.end_of_input();
            }
            let Kind::PcapNg { big_endian, .. } = self.kind else {
                return Ok(None);
            };
            // A section header says its byte order after its length.
            let be = if self.reader.data().starts_with(&SHB_BYTES) {
                if !self.fill(12)? {
                    return self.end_of_input();
                }
                match self.reader.data().get(8..12) {
                    Some(b) if b == BOM_BE => true,
                    Some(b) if b == BOM_LE => false,
                    _ => {
                        return Err(self.corrupt("section header with an unknown byte-order magic"));
                    }
                }
            } else {
                big_endian
            };
            let d = self.reader.data();
            let block_type = u32_at(d, 0, be);
            let len = u32_at(d, 4, be) as usize;
            if len < 12 || !len.is_multiple_of(4) {
                return Err(self.corrupt(format!("pcapng block length {len} is invalid")));
            }
            if len > MAX_BLOCK {
                return Err(self.corrupt(format!(
                    "pcapng block of {len} bytes, more than the maximum of {MAX_BLOCK}"
                )));
            }
            if !self.fill(len)? {
                return Err(CaptureError::Truncated {
                    offset: self.offset,
                });
            }
            let d = self.reader.data();
            if u32_at(d, len - 4, be) as usize != len {
                return Err(
                    self.corrupt("pcapng block's trailing length differs from its leading length")
                );
            }
            match block_type {
                SHB_TYPE => self.section_header(len)?,
                IDB_TYPE => self.interface_description(len)?,
                EPB_TYPE | PB_TYPE => return self.packet_block(block_type, len, be).map(Some),
                SPB_TYPE => return self.simple_packet_block(len, be).map(Some),
                _ => self.consume(len),
            }
        }
    }

    fn section_header(&mut self, len: usize) -> Result<(), CaptureError> {
        let parsed = match self.reader.next() {
            Ok((_, PcapBlockOwned::NG(Block::SectionHeader(shb)))) => {
                Ok((shb.big_endian(), shb.major_version))
            }
            _ => Err("invalid section header block"),
        };
        let (big_endian, major) = parsed.map_err(|r| self.corrupt(r))?;
        if major != 1 {
            return Err(self.corrupt(format!("pcapng version {major} is not supported")));
        }
        if let Kind::PcapNg {
            big_endian: be,
            interfaces,
            ..
        } = &mut self.kind
        {
            *be = big_endian;
            interfaces.clear();
        }
        self.consume(len);
        Ok(())
    }

    fn interface_description(&mut self, len: usize) -> Result<(), CaptureError> {
        let Kind::PcapNg { big_endian, .. } = self.kind else {
            return Ok(());
        };
        let parsed = match self.reader.next() {
            Ok((_, PcapBlockOwned::NG(Block::InterfaceDescription(idb)))) => {
                // `pcap-parser` reads `if_tsoffset` little-endian whatever the
                // section's byte order, and refuses binary `if_tsresol`: read
                // both options here.
                let mut tsresol = 6;
                let mut ts_offset = 0;
                for opt in &idb.options {
                    match opt.code.0 {
                        0 => break,
                        OPT_IF_TSRESOL if opt.len >= 1 => {
                            tsresol = opt.value().first().copied().unwrap_or(6);
                        }
                        OPT_IF_TSOFFSET if opt.len == 8 => {
                            if let Some(b) = opt.value().first_chunk::<8>() {
                                ts_offset = if big_endian {
                                    i64::from_be_bytes(*b)
                                } else {
                                    i64::from_le_bytes(*b)
                                };
                            }
                        }
                        _ => {}
                    }
                }
                Ok((idb.linktype.0, idb.snaplen, tsresol, ts_offset))
            }
            _ => Err("invalid interface description block"),
        };
        let (link, snaplen, tsresol, ts_offset) = parsed.map_err(|r| self.corrupt(r))?;
        let Some(resolution) = Resolution::from_tsresol(tsresol) else {
            return Err(self.corrupt(format!(
                "interface timestamp resolution {tsresol:#04x} is not supported"
            )));
        };
        let link = LinkType(link as u16);
        let interface = Interface {
            link,
            snaplen,
            resolution,
            ts_offset,
        };
        let too_many = match &mut self.kind {
            Kind::PcapNg { interfaces, .. } if interfaces.len() < MAX_INTERFACES => {
                interfaces.push(interface);
                false
            }
            _ => true,
        };
        if too_many {
            return Err(self.corrupt("too many interfaces"));
        }
        if !self.link_types.contains(&link) {
            self.link_types.push(link);
        }
        self.consume(len);
        Ok(())
    }

    /// An Enhanced Packet Block, or the obsolete Packet Block (the same
    /// layout, with a 16-bit interface id and a drop count).
    fn packet_block(
        &mut self,
        block_type: u32,
        len: usize,
        be: bool,
    ) -> Result<Found, CaptureError> {
        const DATA: usize = 28;
        if len < DATA + 4 {
            return Err(self.corrupt("packet block too short"));
        }
        let d = self.reader.data();
        let if_id = if block_type == PB_TYPE {
            u32::from(u16_at(d, 8, be))
        } else {
            u32_at(d, 8, be)
        };
        let t = u64::from(u32_at(d, 12, be)) << 32 | u64::from(u32_at(d, 16, be));
        let caplen = u32_at(d, 20, be) as usize;
        let orig_len = u32_at(d, 24, be);
        if caplen > len - DATA - 4 {
            return Err(self.corrupt(format!(
                "packet's captured length {caplen} exceeds its block"
            )));
        }
        let Kind::PcapNg {
            interfaces,
            last_ts,
            ..
        } = &mut self.kind
        else {
            return Err(self.corrupt("packet block outside pcapng"));
        };
        let Some(iface) = interfaces.get(if_id as usize).copied() else {
            let n = interfaces.len();
            return Err(self.corrupt(format!(
                "packet for interface {if_id}, but the section describes {n}"
            )));
        };
        let ts = iface.resolution.timestamp(t, iface.ts_offset);
        *last_ts = ts;
        Ok(Found {
            start: DATA,
            end: DATA + caplen,
            len,
            ts,
            link: iface.link,
            orig_len,
        })
    }

    fn simple_packet_block(&mut self, len: usize, be: bool) -> Result<Found, CaptureError> {
        const DATA: usize = 12;
        if len < DATA + 4 {
            return Err(self.corrupt("simple packet block too short"));
        }
        let orig_len = u32_at(self.reader.data(), 8, be);
        let Kind::PcapNg {
            interfaces,
            last_ts,
            ..
        } = &self.kind
        else {
            return Err(self.corrupt("packet block outside pcapng"));
        };
        let Some(iface) = interfaces.first().copied() else {
            return Err(self.corrupt("simple packet block before any interface description"));
        };
        // Captured: the original length, cut by the snaplen, within the block.
        let mut caplen = (orig_len as usize).min(len - DATA - 4);
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen as usize);
        }
        Ok(Found {
            start: DATA,
            end: DATA + caplen,
            len,
            ts: *last_ts,
            link: iface.link,
            orig_len,
        })
    }
}

impl PacketSource for FileSource {
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        if self.pending > 0 {
            let n = std::mem::take(&mut self.pending);
            self.consume(n);
        }
        if self.done {
            return Ok(None);
        }
        let found = match self.primed.take() {
            Some(first) => first,
            None => self.advance(),
        };
        let found = match found {
            Ok(Some(found)) => found,
            Ok(None) => {
                self.done = true;
                return Ok(None);
            }
            Err(e) => {
                self.done = true;
                return Err(e);
            }
        };
        self.frame += 1;
        self.pending = found.len;
        let data = self.reader.data().get(found.start..found.end);
        Ok(Some(Packet {
            frame: self.frame,
            ts: found.ts,
            link_type: found.link,
            data: data.unwrap_or_default(),
            orig_len: found.orig_len,
        }))
    }

    fn format(&self) -> SourceFormat {
        match self.kind {
            Kind::Pcap { .. } => SourceFormat::Pcap,
            Kind::PcapNg { .. } => SourceFormat::PcapNg,
        }
    }

    fn link_types(&self) -> Vec<LinkType> {
        self.link_types.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- capture builders ------------------------------------------------
    //
    // Each builder returns the file as a list of blocks (the pcap file header
    // and records, or pcapng blocks), so tests know where records end.

    /// What a test expects of one packet.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Expect {
        frame: u64,
        ts: Timestamp,
        link: LinkType,
        data: Vec<u8>,
        orig_len: u32,
    }

    fn w32(out: &mut Vec<u8>, v: u32, be: bool) {
        out.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
    }

    fn w16(out: &mut Vec<u8>, v: u16, be: bool) {
        out.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
    }

    /// Classic pcap: header, then records `(secs, fraction, data, orig_len)`.
    fn pcap_blocks(
        be: bool,
        nanos: bool,
        link: u32,
        records: &[(u32, u32, &[u8], u32)],
    ) -> Vec<Vec<u8>> {
        let mut header = Vec::new();
        w32(
            &mut header,
            if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 },
            be,
        );
        w16(&mut header, 2, be);
        w16(&mut header, 4, be);
        w32(&mut header, 0, be); // thiszone
        w32(&mut header, 0, be); // sigfigs
        w32(&mut header, 65535, be); // snaplen
        w32(&mut header, link, be);
        let mut blocks = vec![header];
        for &(secs, frac, data, orig) in records {
            let mut r = Vec::new();
            w32(&mut r, secs, be);
            w32(&mut r, frac, be);
            w32(&mut r, data.len() as u32, be);
            w32(&mut r, orig, be);
            r.extend_from_slice(data);
            blocks.push(r);
        }
        blocks
    }

    /// A pcapng block: type, length, body padded to 4, length.
    fn ng_block(be: bool, block_type: u32, body: &[u8]) -> Vec<u8> {
        let padded = body.len().div_ceil(4) * 4;
        let len = (12 + padded) as u32;
        let mut b = Vec::new();
        w32(&mut b, block_type, be);
        w32(&mut b, len, be);
        b.extend_from_slice(body);
        b.resize(8 + padded, 0);
        w32(&mut b, len, be);
        b
    }

    fn ng_option(be: bool, code: u16, value: &[u8]) -> Vec<u8> {
        let mut o = Vec::new();
        w16(&mut o, code, be);
        w16(&mut o, value.len() as u16, be);
        o.extend_from_slice(value);
        o.resize(4 + value.len().div_ceil(4) * 4, 0);
        o
    }

    fn shb(be: bool) -> Vec<u8> {
        let mut body = Vec::new();
        w32(&mut body, 0x1a2b_3c4d, be);
        w16(&mut body, 1, be);
        w16(&mut body, 0, be);
        body.extend_from_slice(&[0xff; 8]); // section length: unknown
        body.extend(ng_option(be, 4, b"kwire test")); // shb_userappl
        body.extend(ng_option(be, 0, b""));
        ng_block(be, SHB_TYPE, &body)
    }

    fn idb(
        be: bool,
        link: u16,
        snaplen: u32,
        tsresol: Option<u8>,
        tsoffset: Option<i64>,
    ) -> Vec<u8> {
        let mut body = Vec::new();
        w16(&mut body, link, be);
        w16(&mut body, 0, be);
        w32(&mut body, snaplen, be);
        body.extend(ng_option(be, 2, b"eth0")); // if_name
        if let Some(r) = tsresol {
            body.extend(ng_option(be, OPT_IF_TSRESOL, &[r]));
        }
        if let Some(o) = tsoffset {
            let v = if be { o.to_be_bytes() } else { o.to_le_bytes() };
            body.extend(ng_option(be, OPT_IF_TSOFFSET, &v));
        }
        body.extend(ng_option(be, 0, b""));
        ng_block(be, IDB_TYPE, &body)
    }

    fn epb(be: bool, if_id: u32, ts: u64, data: &[u8], orig: u32, with_options: bool) -> Vec<u8> {
        let mut body = Vec::new();
        w32(&mut body, if_id, be);
        w32(&mut body, (ts >> 32) as u32, be);
        w32(&mut body, ts as u32, be);
        w32(&mut body, data.len() as u32, be);
        w32(&mut body, orig, be);
        body.extend_from_slice(data);
        body.resize(20 + data.len().div_ceil(4) * 4, 0);
        if with_options {
            body.extend(ng_option(be, 2, &[0, 0, 0, 1])); // epb_flags
            body.extend(ng_option(be, 1, b"a comment"));
            body.extend(ng_option(be, 0, b""));
        }
        ng_block(be, EPB_TYPE, &body)
    }

    fn spb(be: bool, data: &[u8], orig: u32) -> Vec<u8> {
        let mut body = Vec::new();
        w32(&mut body, orig, be);
        body.extend_from_slice(data);
        ng_block(be, SPB_TYPE, &body)
    }

    /// The obsolete Packet Block.
    fn pb(be: bool, if_id: u16, ts: u64, data: &[u8], orig: u32) -> Vec<u8> {
        let mut body = Vec::new();
        w16(&mut body, if_id, be);
        w16(&mut body, 0, be); // drops
        w32(&mut body, (ts >> 32) as u32, be);
        w32(&mut body, ts as u32, be);
        w32(&mut body, data.len() as u32, be);
        w32(&mut body, orig, be);
        body.extend_from_slice(data);
        ng_block(be, PB_TYPE, &body)
    }

    /// Bytes of `n` that differ per packet.
    fn bytes(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
            .collect()
    }

    /// A source over `bytes`, with a small buffer so that tests exercise
    /// refills and growth (and run fast).
    fn source(bytes: &[u8]) -> Result<FileSource, CaptureError> {
        FileSource::with_capacity("test", Box::new(Cursor::new(bytes.to_vec())), 256)
    }

    /// Read everything: the packets, and how it ended.
    fn read_all(src: &mut FileSource) -> (Vec<Expect>, Result<(), CaptureError>) {
        let mut out = Vec::new();
        loop {
            match src.next_packet() {
                Ok(Some(p)) => out.push(Expect {
                    frame: p.frame,
                    ts: p.ts,
                    link: p.link_type,
                    data: p.data.to_vec(),
                    orig_len: p.orig_len,
                }),
                Ok(None) => return (out, Ok(())),
                Err(e) => {
                    // After an error, the source stays ended.
                    assert!(matches!(src.next_packet(), Ok(None)));
                    return (out, Err(e));
                }
            }
        }
    }

    fn read_ok(bytes: &[u8]) -> (FileSource, Vec<Expect>) {
        let mut src = source(bytes).expect("open");
        let (packets, end) = read_all(&mut src);
        end.expect("clean end");
        (src, packets)
    }

    // ---- pcap ------------------------------------------------------------

    fn pcap_records() -> Vec<(u32, u32, Vec<u8>, u32)> {
        vec![
            (1_700_000_000, 123_456, bytes(60, 1), 60),
            (1_700_000_001, 999_999, bytes(1514, 2), 1514),
            (1_700_000_001, 0, bytes(0, 3), 0),
            (1_700_000_002, 5, bytes(96, 4), 4000), // snaplen cut
        ]
    }

    fn pcap_file(be: bool, nanos: bool) -> (Vec<Vec<u8>>, Vec<Expect>) {
        let records = pcap_records();
        let refs: Vec<_> = records
            .iter()
            .map(|(s, f, d, o)| (*s, *f, d.as_slice(), *o))
            .collect();
        let blocks = pcap_blocks(be, nanos, 1, &refs);
        let expect = records
            .iter()
            .enumerate()
            .map(|(i, (s, f, d, o))| Expect {
                frame: i as u64 + 1,
                ts: Timestamp::new(i64::from(*s), if nanos { *f } else { *f * 1000 }),
                link: LinkType::ETHERNET,
                data: d.clone(),
                orig_len: *o,
            })
            .collect();
        (blocks, expect)
    }

    #[test]
    fn pcap_both_byte_orders_and_resolutions() {
        for be in [false, true] {
            for nanos in [false, true] {
                let (blocks, expect) = pcap_file(be, nanos);
                let (src, packets) = read_ok(&blocks.concat());
                assert_eq!(packets, expect, "be={be} nanos={nanos}");
                assert_eq!(src.format(), SourceFormat::Pcap);
                assert_eq!(src.link_types(), vec![LinkType::ETHERNET]);
            }
        }
    }

    #[test]
    fn pcap_header_only_and_link_type_fcs_bits() {
        // LINKTYPE_LINUX_SLL2 with FCS bits set in the upper half.
        let blocks = pcap_blocks(false, false, 0x1000_0000 | 276, &[]);
        let (src, packets) = read_ok(&blocks.concat());
        assert!(packets.is_empty());
        assert_eq!(src.link_types(), vec![LinkType::LINUX_SLL2]);
    }

    #[test]
    fn pcap_microsecond_overflow_carries_into_seconds() {
        let blocks = pcap_blocks(false, false, 1, &[(10, 2_500_000, b"x", 1)]);
        let (_, packets) = read_ok(&blocks.concat());
        assert_eq!(packets[0].ts, Timestamp::new(12, 500_000_000));
    }

    #[test]
    fn pcap_oversized_record_is_corrupt() {
        let (mut blocks, _) = pcap_file(false, false);
        // Record 3's captured length becomes 300000, beyond the snaplen and
        // libpcap's maximum.
        blocks[3][8..12].copy_from_slice(&300_000u32.to_le_bytes());
        let mut src = source(&blocks.concat()).unwrap();
        let (packets, end) = read_all(&mut src);
        assert_eq!(packets.len(), 2);
        let offset = (blocks[0].len() + blocks[1].len() + blocks[2].len()) as u64;
        match end {
            Err(CaptureError::Corrupt { offset: o, .. }) => assert_eq!(o, offset),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    // ---- pcapng ----------------------------------------------------------

    /// Two sections' worth: interface 0 Ethernet in microseconds (default
    /// resolution), interface 1 raw IP in nanoseconds with a 100 s offset,
    /// interface 2 Linux SLL2 in 1/1024 s; EPBs (one with options), an SPB,
    /// an obsolete PB, a name resolution block and a custom block to skip.
    fn pcapng_file(be: bool) -> (Vec<Vec<u8>>, Vec<Expect>) {
        let d: Vec<Vec<u8>> = (0..6).map(|i| bytes(40 + i * 13, i as u8)).collect();
        let blocks = vec![
            shb(be),
            idb(be, 1, 0, None, None),
            idb(be, 101, 0, Some(9), Some(100)),
            epb(be, 0, 1_700_000_000_123_456, &d[0], 40, false),
            ng_block(be, 4, &[0, 0, 0, 0]), // name resolution: end of records
            epb(be, 1, 1_700_000_000_987_654_321, &d[1], 1000, true),
            idb(be, 276, 0, Some(0x80 | 10), None),
            epb(
                be,
                2,
                (1_700_000_000 << 10) | 512,
                &d[2],
                d[2].len() as u32,
                false,
            ),
            ng_block(be, 0x0000_0bad, &[0, 0, 0x7e, 0x9b, 1, 2, 3]), // custom
            spb(be, &d[3], d[3].len() as u32),
            pb(be, 1, 1_700_000_003_000_000_001, &d[4], d[4].len() as u32),
            // A second section: interfaces start again.
            shb(be),
            idb(be, 113, 0, Some(3), None),
            epb(be, 0, 1_700_000_004_250, &d[5], d[5].len() as u32, false),
        ];
        let e = |frame, secs, nanos, link, i: usize, orig_len| Expect {
            frame,
            ts: Timestamp::new(secs, nanos),
            link: LinkType(link),
            data: d[i].clone(),
            orig_len,
        };
        let expect = vec![
            e(1, 1_700_000_000, 123_456_000, 1, 0, 40),
            e(2, 1_700_000_100, 987_654_321, 101, 1, 1000),
            e(3, 1_700_000_000, 500_000_000, 276, 2, d[2].len() as u32),
            // The SPB: interface 0, the previous packet's timestamp.
            e(4, 1_700_000_000, 500_000_000, 1, 3, d[3].len() as u32),
            e(5, 1_700_000_103, 1, 101, 4, d[4].len() as u32),
            e(6, 1_700_000_004, 250_000_000, 113, 5, d[5].len() as u32),
        ];
        (blocks, expect)
    }

    #[test]
    fn pcapng_interfaces_resolutions_and_byte_orders() {
        for be in [false, true] {
            let (blocks, expect) = pcapng_file(be);
            let (src, packets) = read_ok(&blocks.concat());
            assert_eq!(packets, expect, "be={be}");
            assert_eq!(src.format(), SourceFormat::PcapNg);
            assert_eq!(
                src.link_types(),
                vec![LinkType(1), LinkType(101), LinkType(276), LinkType(113)]
            );
        }
    }

    #[test]
    fn pcapng_link_types_known_after_open() {
        let (blocks, _) = pcapng_file(false);
        let src = source(&blocks.concat()).unwrap();
        assert_eq!(src.link_types(), vec![LinkType(1), LinkType(101)]);
    }

    #[test]
    fn pcapng_sections_may_change_byte_order() {
        let (le, le_expect) = pcapng_file(false);
        let (be, _) = pcapng_file(true);
        let mut bytes = le.concat();
        bytes.extend(be.concat());
        let (_, packets) = read_ok(&bytes);
        assert_eq!(packets.len(), 12);
        assert_eq!(packets[..6], le_expect[..]);
        assert_eq!(packets[6].frame, 7);
        assert_eq!(packets[6].data, le_expect[0].data);
    }

    #[test]
    fn pcapng_simple_packet_block_is_cut_by_snaplen() {
        let blocks = [
            shb(false),
            idb(false, 1, 64, None, None),
            spb(false, &bytes(64, 9), 1500),
        ];
        let (_, packets) = read_ok(&blocks.concat());
        assert_eq!(packets[0].data, bytes(64, 9));
        assert_eq!(packets[0].orig_len, 1500);
        assert_eq!(packets[0].ts, Timestamp::default());
    }

    #[test]
    fn pcapng_damage_mid_file() {
        let (blocks, _) = pcapng_file(false);
        let offset_of = |i: usize| blocks[..i].iter().map(Vec::len).sum::<usize>() as u64;
        type Damage = fn(&mut Vec<u8>);
        let cases: Vec<(usize, Damage, usize)> = vec![
            // Trailing length differs from the leading one.
            (5, |b: &mut Vec<u8>| *b.last_mut().unwrap() ^= 4, 1),
            // Length not a multiple of 4.
            (5, |b: &mut Vec<u8>| b[4] += 1, 1),
            // Length below 12.
            (
                5,
                |b: &mut Vec<u8>| b[4..8].copy_from_slice(&8u32.to_le_bytes()),
                1,
            ),
            // Packet for an interface that does not exist.
            (7, |b: &mut Vec<u8>| b[8] = 9, 2),
            // Captured length beyond the block.
            (
                7,
                |b: &mut Vec<u8>| b[20..24].copy_from_slice(&999u32.to_le_bytes()),
                2,
            ),
            // Unsupported timestamp resolution.
            (6, |b: &mut Vec<u8>| b[28] = 20, 2),
            // Length over the 256 MiB cap.
            (
                5,
                |b: &mut Vec<u8>| b[4..8].copy_from_slice(&0xffff_fff0u32.to_le_bytes()),
                1,
            ),
        ];
        for (i, (block, damage, delivered)) in cases.into_iter().enumerate() {
            let mut blocks = blocks.clone();
            damage(&mut blocks[block]);
            let mut src = source(&blocks.concat()).unwrap();
            let (packets, end) = read_all(&mut src);
            assert_eq!(packets.len(), delivered, "case {i}");
            match end {
                Err(CaptureError::Corrupt { offset, .. }) => {
                    assert_eq!(offset, offset_of(block), "case {i}")
                }
                other => panic!("case {i}: expected Corrupt, got {other:?}"),
            }
        }
    }

    #[test]
    fn epb_options_do_not_matter() {
        let blocks = [
            shb(true),
            idb(true, 1, 0, None, None),
            epb(true, 0, 5, b"abc", 3, true),
        ];
        let (_, packets) = read_ok(&blocks.concat());
        assert_eq!(packets[0].data, b"abc");
        assert_eq!(packets[0].ts, Timestamp::new(0, 5000));
    }

    // ---- opening ---------------------------------------------------------

    #[test]
    fn not_a_capture() {
        for bytes in [
            &b""[..],
            b"GET / HTTP/1.1\r\n",
            b"\xa1",
            b"\x0a\x0d\x0d\x0a\0\0\0\x1c\x12\x34\x56\x78",
        ] {
            match source(bytes) {
                Err(CaptureError::NotACapture(name)) => assert_eq!(name, "test"),
                Err(e) => panic!("{bytes:?}: expected NotACapture, got {e:?}"),
                Ok(_) => panic!("{bytes:?}: expected NotACapture, got a source"),
            }
        }
    }

    #[test]
    fn open_reports_path() {
        match FileSource::open("/nonexistent/kwire.pcap") {
            Err(e @ CaptureError::Open { .. }) => {
                assert!(
                    e.to_string().starts_with("/nonexistent/kwire.pcap: "),
                    "{e}"
                )
            }
            Err(e) => panic!("expected Open, got {e:?}"),
            Ok(_) => panic!("expected an error"),
        }
        // A directory opens but cannot be read.
        assert!(matches!(
            FileSource::open("/"),
            Err(CaptureError::Open { .. })
        ));
    }

    #[test]
    fn open_reads_a_file() {
        let (blocks, expect) = pcapng_file(false);
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, &blocks.concat()).unwrap();
        let mut src = FileSource::open(f.path().to_str().unwrap()).unwrap();
        let (packets, end) = read_all(&mut src);
        end.unwrap();
        assert_eq!(packets, expect);
    }

    /// Returns at most `step` bytes per read, like a pipe, then fails if
    /// asked to.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        step: usize,
        fail_at_end: bool,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at == self.data.len() && self.fail_at_end {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "gone"));
            }
            let n = buf.len().min(self.step).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    #[test]
    fn short_reads_and_small_buffers_give_the_same_packets() {
        let (ng, ng_expect) = pcapng_file(true);
        let (pcap, pcap_expect) = pcap_file(false, true);
        for (bytes, expect) in [(ng.concat(), ng_expect), (pcap.concat(), pcap_expect)] {
            for step in [1, 3, 7, 64, 4096] {
                for capacity in [16, 100, 1 << 20] {
                    let reader = Trickle {
                        data: bytes.clone(),
                        at: 0,
                        step,
                        fail_at_end: false,
                    };
                    let mut src =
                        FileSource::with_capacity("t", Box::new(reader), capacity).unwrap();
                    let (packets, end) = read_all(&mut src);
                    end.unwrap();
                    assert_eq!(packets, expect, "step {step} capacity {capacity}");
                }
            }
        }
    }

    /// The progress count ends at the input's size, whatever the reads'
    /// sizes, and never runs ahead of what was read.
    #[test]
    fn bytes_read_counts_the_input() {
        let (blocks, expect) = pcap_file(false, false);
        let data = blocks.concat();
        for step in [1, 7, 50, 4096] {
            let reader = Trickle {
                data: data.clone(),
                at: 0,
                step,
                fail_at_end: false,
            };
            let mut src = FileSource::with_capacity("t", Box::new(reader), 256).unwrap();
            let count = src.bytes_read();
            let mut last = count.load(Ordering::Relaxed);
            // Opening read the header and the first packet.
            assert!(last >= 24, "step {step}: {last}");
            let mut packets = 0;
            while let Some(_p) = src.next_packet().unwrap() {
                let now = count.load(Ordering::Relaxed);
                assert!(now >= last && now <= data.len() as u64, "step {step}");
                last = now;
                packets += 1;
            }
            assert_eq!(packets, expect.len());
            assert_eq!(
                count.load(Ordering::Relaxed),
                data.len() as u64,
                "step {step}"
            );
        }
    }

    #[test]
    fn read_errors_are_reported_after_the_packets() {
        let (blocks, expect) = pcap_file(false, false);
        let reader = Trickle {
            data: blocks.concat(),
            at: 0,
            step: 50,
            fail_at_end: true,
        };
        let mut src = FileSource::from_reader("t", Box::new(reader)).unwrap();
        let (packets, end) = read_all(&mut src);
        assert_eq!(packets, expect);
        match end {
            Err(CaptureError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
            other => panic!("expected Io, got {other:?}"),
        }
    }

    // ---- damage ----------------------------------------------------------

    /// Cut the file at every offset: a prefix of the packets, then a clean
    /// end exactly at record boundaries, else Truncated or Corrupt.
    fn check_every_cut(blocks: &[Vec<u8>], expect: &[Expect]) {
        let bytes = blocks.concat();
        let boundaries: Vec<usize> = blocks
            .iter()
            .scan(0, |at, b| {
                *at += b.len();
                Some(*at)
            })
            .collect();
        for cut in 0..bytes.len() {
            let mut src = match source(&bytes[..cut]) {
                Ok(src) => src,
                Err(CaptureError::NotACapture(_) | CaptureError::Truncated { offset: 0 }) => {
                    assert!(cut < boundaries[0], "cut {cut}");
                    continue;
                }
                Err(e) => panic!("cut {cut}: {e:?}"),
            };
            let (packets, end) = read_all(&mut src);
            assert_eq!(packets[..], expect[..packets.len()], "cut {cut}");
            match end {
                Ok(()) => assert!(boundaries.contains(&cut), "cut {cut}: clean end mid-record"),
                Err(CaptureError::Truncated { offset }) => {
                    assert!(!boundaries.contains(&cut), "cut {cut}");
                    assert!(
                        boundaries.contains(&(offset as usize)),
                        "cut {cut}: offset {offset}"
                    );
                }
                Err(e) => panic!("cut {cut}: {e:?}"),
            }
        }
    }

    #[test]
    fn truncated_at_every_offset() {
        for be in [false, true] {
            let (blocks, expect) = pcap_file(be, false);
            check_every_cut(&blocks, &expect);
            let (blocks, expect) = pcapng_file(be);
            check_every_cut(&blocks, &expect);
        }
    }

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) as u32
        }
    }

    #[test]
    fn random_damage_never_panics_or_hangs() {
        let mut rng = Lcg(0x0070_6361_7067);
        let (ng_le, _) = pcapng_file(false);
        let (ng_be, _) = pcapng_file(true);
        let (pcap, _) = pcap_file(true, true);
        for file in [ng_le.concat(), ng_be.concat(), pcap.concat()] {
            for _ in 0..3000 {
                let mut f = file.clone();
                for _ in 0..1 + rng.next() % 8 {
                    let at = rng.next() as usize % f.len();
                    f[at] = rng.next() as u8;
                }
                if let Ok(mut src) = source(&f) {
                    let mut n = 0;
                    while let Ok(Some(_)) = src.next_packet() {
                        n += 1;
                        assert!(n <= f.len());
                    }
                }
            }
        }
        // Garbage after a valid header.
        for header in [&ng_le[0], &pcap[0]] {
            for _ in 0..3000 {
                let mut f = header.clone();
                let len = rng.next() as usize % 300;
                f.extend((0..len).map(|_| rng.next() as u8));
                if let Ok(mut src) = source(&f) {
                    while let Ok(Some(_)) = src.next_packet() {}
                }
            }
        }
    }

    #[test]
    fn timestamp_resolutions() {
        let r = |v| Resolution::from_tsresol(v).unwrap();
        assert_eq!(r(6).timestamp(1_500_001, 0), Timestamp::new(1, 500_001_000));
        assert_eq!(r(9).timestamp(1_000_000_007, -1), Timestamp::new(0, 7));
        // 10^-12: truncated to the nanosecond.
        assert_eq!(r(12).timestamp(2_000_000_001_999, 0), Timestamp::new(2, 1));
        // 2^-20.
        assert_eq!(
            r(0x80 | 20).timestamp(3 << 19, 0),
            Timestamp::new(1, 500_000_000)
        );
        // 10^19 fits in 64 bits; 10^20 and 2^64 do not.
        assert!(Resolution::from_tsresol(19).is_some());
        assert!(Resolution::from_tsresol(20).is_none());
        assert!(Resolution::from_tsresol(0x80 | 64).is_none());
        // The largest values saturate rather than overflow.
        let t = r(0).timestamp(u64::MAX, i64::MAX);
        assert_eq!(t.secs, i64::MAX);
    }

    /// The corpus, when present, parses to the packet counts `capinfos` gives.
    #[test]
    fn corpus_packet_counts() {
        let dir = std::path::Path::new("/work/shared/corpus");
        let expected = [
            ("bulk_mtu1500.pcap", 14564),
            ("confluent_basic.pcap", 826),
            ("confluent_basic_mtu1500.pcap", 737),
            ("errors_mtu1500.pcap", 281),
            ("kafka_python.pcap", 112),
            ("kafka_python_apiversions_loop.pcap", 270),
            ("kafka_python_legacy.pcap", 79),
            ("kcat.pcap", 124),
            ("kip848.pcap", 409),
            ("transactions.pcap", 167),
        ];
        for (name, count) in expected {
            let path = dir.join(name);
            if !path.exists() {
                println!("skipping {}: not present", path.display());
                continue;
            }
            let mut src = FileSource::open(path.to_str().unwrap()).unwrap();
            let mut n = 0u64;
            while let Some(p) = src.next_packet().unwrap() {
                n += 1;
                assert_eq!(p.frame, n);
                assert!(p.data.len() <= p.orig_len as usize);
            }
            assert_eq!(n, count, "{name}");
        }
    }
}
