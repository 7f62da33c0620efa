//! A pcapng writer: packets out as a capture file again (`kwire merge`).
//!
//! The format is draft-ietf-opsawg-pcapng. One section, written little
//! endian: a Section Header Block (section length unknown, `shb_userappl`
//! `"kwire <version>"`), then an Interface Description Block per
//! [`PcapngWriter::add_interface`] and an Enhanced Packet Block per
//! [`PcapngWriter::packet`], in the order called. Every block is padded to
//! 32 bits and carries its total length at both ends; an option list, when
//! there is one, ends with `opt_endofopt` (an EPB without a comment has no
//! options, and so no list, as editcap does). Interfaces say
//! `if_tsresol` = 9: timestamps are whole nanoseconds since the epoch, the
//! same unit as [`Timestamp`], so a packet read back by
//! [`crate::capture::file::FileSource`] has the timestamp it was written with.
//!
//! Contract: nothing here panics. What cannot be written as pcapng is an
//! [`io::Error`] of kind [`io::ErrorKind::InvalidInput`] before any byte of
//! the block is written: a packet for an interface not added, a block longer
//! than a 32-bit length can say (packet data of about 4 GiB), an option
//! value longer than 65,535 bytes (a name, description or comment). Times
//! outside what pcapng can say are clamped: before the epoch to the epoch,
//! after 2554 to the last nanosecond a 64-bit count reaches.
//!
//! The writer does not judge the packets: data longer than the interface's
//! snaplen, or than `orig_len`, is written as given (a reader may cut a
//! packet to its interface's snaplen: give the largest the sources had).
//!
//! Buffers: each block is built in a buffer the writer keeps and reuses, and
//! handed to the output with one `write_all`; wrap a file in a
//! [`std::io::BufWriter`] to write many small blocks per system call. After
//! an error from the output, part of a block may have been written: the file
//! is then not valid pcapng.

use std::io::{self, Write};

use crate::capture::{LinkType, Timestamp};

const SHB_TYPE: u32 = 0x0a0d_0d0a;
const IDB_TYPE: u32 = 1;
const EPB_TYPE: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;

const OPT_ENDOFOPT: u16 = 0;
const OPT_COMMENT: u16 = 1;
const OPT_SHB_USERAPPL: u16 = 4;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_DESCRIPTION: u16 = 3;
const OPT_IF_TSRESOL: u16 = 9;
/// `if_tsresol`: 10^-9 s.
const TSRESOL_NANOS: u8 = 9;

/// Block type, block total length (leading and trailing).
const BLOCK_FRAME: usize = 12;
/// Enhanced Packet Block fields before the data: interface id, timestamp
/// (two halves), captured length, original length.
const EPB_FIXED: usize = 20;

/// Writes one pcapng section: interfaces, then packets on them.
pub struct PcapngWriter<W: Write> {
    out: W,
    /// Interfaces added so far (their ids are `0..interfaces`).
    interfaces: u32,
    /// The block being built, reused.
    buf: Vec<u8>,
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the Section Header Block (little endian; shb_userappl option `"kwire <version>"`).
    pub fn new(out: W) -> io::Result<Self> {
        let mut w = PcapngWriter {
            out,
            interfaces: 0,
            buf: Vec::with_capacity(256),
        };
        let userappl = concat!("kwire ", env!("CARGO_PKG_VERSION"));
        let mut body = Vec::with_capacity(48);
        body.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes()); // major version
        body.extend_from_slice(&0u16.to_le_bytes()); // minor version
        body.extend_from_slice(&(-1i64).to_le_bytes()); // section length: not known
        put_option(&mut body, OPT_SHB_USERAPPL, userappl.as_bytes())?;
        put_option(&mut body, OPT_ENDOFOPT, &[])?;
        w.write_block(SHB_TYPE, &[&body])?;
        Ok(w)
    }

    /// An Interface Description Block: link type, snaplen, if_name, if_description,
    /// if_tsresol = 9 (nanoseconds). Returns the interface id (0, 1, ...).
    ///
    /// An empty `name` or `description` is left out rather than written
    /// empty. `snaplen` 0 means no limit, as pcapng has it.
    pub fn add_interface(
        &mut self,
        link: LinkType,
        snaplen: u32,
        name: &str,
        description: &str,
    ) -> io::Result<u32> {
        let id = self.interfaces;
        let next = id
            .checked_add(1)
            .ok_or_else(|| invalid("too many pcapng interfaces"))?;
        let mut body = Vec::with_capacity(8 + name.len() + description.len() + 24);
        body.extend_from_slice(&link.0.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes()); // reserved
        body.extend_from_slice(&snaplen.to_le_bytes());
        if !name.is_empty() {
            put_option(&mut body, OPT_IF_NAME, name.as_bytes())?;
        }
        if !description.is_empty() {
            put_option(&mut body, OPT_IF_DESCRIPTION, description.as_bytes())?;
        }
        put_option(&mut body, OPT_IF_TSRESOL, &[TSRESOL_NANOS])?;
        put_option(&mut body, OPT_ENDOFOPT, &[])?;
        self.write_block(IDB_TYPE, &[&body])?;
        self.interfaces = next;
        Ok(id)
    }

    /// An Enhanced Packet Block: timestamp in ns since the epoch (negative times are clamped to 0),
    /// captured bytes, original length, and an optional opt_comment (UTF-8; shown by Wireshark as the packet comment).
    pub fn packet(
        &mut self,
        iface: u32,
        ts: Timestamp,
        data: &[u8],
        orig_len: u32,
        comment: Option<&str>,
    ) -> io::Result<()> {
        if iface >= self.interfaces {
            return Err(invalid(format!(
                "packet on pcapng interface {iface}, but {} were added",
                self.interfaces
            )));
        }
        let caplen = u32::try_from(data.len())
            .map_err(|_| invalid(format!("packet of {} bytes is too long", data.len())))?;
        let t = u64::try_from(ts.as_nanos().max(0)).unwrap_or(u64::MAX);
        let mut fixed = [0u8; EPB_FIXED];
        let fields = [iface, (t >> 32) as u32, t as u32, caplen, orig_len];
        for (slot, v) in fixed.chunks_exact_mut(4).zip(fields) {
            slot.copy_from_slice(&v.to_le_bytes());
        }
        let mut options = Vec::new();
        if let Some(c) = comment {
            put_option(&mut options, OPT_COMMENT, c.as_bytes())?;
            put_option(&mut options, OPT_ENDOFOPT, &[])?;
        }
        let data_pad = zeros(padding(data.len()));
        self.write_block(EPB_TYPE, &[&fixed, data, data_pad, &options])
    }

    /// Flush and give back the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }

    /// One block: type, total length, the body's parts (each already padded
    /// to 32 bits but the last), total length again. The length is checked
    /// before anything is written.
    fn write_block(&mut self, block_type: u32, parts: &[&[u8]]) -> io::Result<()> {
        let body = parts
            .iter()
            .try_fold(0usize, |n, p| n.checked_add(p.len()))
            .ok_or_else(|| invalid("pcapng block too long"))?;
        let len = block_total_len(body)?.to_le_bytes();
        self.buf.clear();
        // A packet of megabytes goes to the output as it is, not copied.
        let big = body > 1 << 16;
        self.buf.extend_from_slice(&block_type.to_le_bytes());
        self.buf.extend_from_slice(&len);
        if big {
            self.out.write_all(&self.buf)?;
            for p in parts {
                self.out.write_all(p)?;
            }
            self.buf.clear();
        } else {
            for p in parts {
                self.buf.extend_from_slice(p);
            }
        }
        self.buf.extend_from_slice(zeros(padding(body)));
        self.buf.extend_from_slice(&len);
        self.out.write_all(&self.buf)
    }
}

/// The total length of a block whose body has `body` bytes: framing and
/// padding added, or an error when 32 bits cannot say it.
fn block_total_len(body: usize) -> io::Result<u32> {
    body.checked_add(padding(body))
        .and_then(|n| n.checked_add(BLOCK_FRAME))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            invalid(format!(
                "pcapng block of {body} bytes, more than a block's 32-bit length can say"
            ))
        })
}

/// Bytes of zeros that bring `n` to a multiple of 4.
fn padding(n: usize) -> usize {
    (4 - n % 4) % 4
}

/// `n` (at most 3) zero bytes of padding.
fn zeros(n: usize) -> &'static [u8] {
    static ZEROS: [u8; 3] = [0; 3];
    ZEROS.get(..n).unwrap_or_default()
}

/// Append one option: code, length, value padded to 32 bits.
fn put_option(out: &mut Vec<u8>, code: u16, value: &[u8]) -> io::Result<()> {
    let len = u16::try_from(value.len()).map_err(|_| {
        invalid(format!(
            "pcapng option of {} bytes, more than the maximum of {}",
            value.len(),
            u16::MAX
        ))
    })?;
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(value);
    out.extend_from_slice(zeros(padding(value.len())));
    Ok(())
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::capture::file::FileSource;
    use crate::capture::{PacketSource, SourceFormat};

    /// A packet as kwire reads it back: link type, timestamp, data, orig_len.
    type ReadBack = (LinkType, Timestamp, Vec<u8>, u32);

    fn read_back(bytes: Vec<u8>) -> (Vec<LinkType>, Vec<ReadBack>) {
        let mut src = FileSource::from_reader("written", Box::new(Cursor::new(bytes))).unwrap();
        assert_eq!(src.format(), SourceFormat::PcapNg);
        let mut packets = Vec::new();
        let mut frame = 0;
        while let Some(p) = src.next_packet().unwrap() {
            frame += 1;
            assert_eq!(p.frame, frame);
            packets.push((p.link_type, p.ts, p.data.to_vec(), p.orig_len));
        }
        (src.link_types(), packets)
    }

    /// A block as the bytes say it: type, body (between the lengths).
    struct RawBlock {
        block_type: u32,
        body: Vec<u8>,
    }

    fn le32(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    fn le16(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
    }

    /// Walk the file block by block, checking the framing of each: a length
    /// of at least 12, a multiple of 4, the same at both ends.
    fn blocks(file: &[u8]) -> Vec<RawBlock> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < file.len() {
            let len = le32(file, at + 4) as usize;
            assert!(
                len >= 12 && len.is_multiple_of(4),
                "block at {at}: length {len}"
            );
            assert_eq!(le32(file, at + len - 4) as usize, len, "block at {at}");
            out.push(RawBlock {
                block_type: le32(file, at),
                body: file[at + 8..at + len - 4].to_vec(),
            });
            at += len;
        }
        assert_eq!(at, file.len());
        out
    }

    /// The options of a list: (code, value), checking padding and that the
    /// list ends with opt_endofopt exactly at the end of the block.
    fn options(mut b: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            let (code, len) = (le16(b, 0), le16(b, 2) as usize);
            if code == OPT_ENDOFOPT {
                assert_eq!(len, 0);
                assert_eq!(b.len(), 4, "bytes after opt_endofopt");
                return out;
            }
            let padded = len.div_ceil(4) * 4;
            assert!(b[4 + len..4 + padded].iter().all(|&z| z == 0));
            out.push((code, b[4..4 + len].to_vec()));
            b = &b[4 + padded..];
        }
    }

    /// Two interfaces of different link types, packets of every padding on
    /// each, with and without comments: kwire reads back each packet's link
    /// type, timestamp to the nanosecond, bytes and original length.
    #[test]
    fn round_trip_through_file_source() {
        let mut w = PcapngWriter::new(Vec::new()).unwrap();
        let eth = w
            .add_interface(LinkType::ETHERNET, 65535, "eth0", "broker side")
            .unwrap();
        let sll = w
            .add_interface(LinkType::LINUX_SLL, 262_144, "any", "")
            .unwrap();
        assert_eq!((eth, sll), (0, 1));
        let mut want = Vec::new();
        for n in 0..9usize {
            let (iface, link) = if n % 2 == 0 {
                (eth, LinkType::ETHERNET)
            } else {
                (sll, LinkType::LINUX_SLL)
            };
            let ts = Timestamp::new(1_700_000_000 + n as i64, 123_456_789 + n as u32);
            let data: Vec<u8> = (0..n as u8).map(|b| b.wrapping_mul(37)).collect();
            let orig_len = n as u32 + 1000 * (n as u32 % 2);
            let comment = format!("frame {} ✓", n + 1);
            let comment = (n % 3 != 0).then_some(comment.as_str());
            w.packet(iface, ts, &data, orig_len, comment).unwrap();
            want.push((link, ts, data, orig_len));
        }
        // Bigger than the writer's own buffer: written around it.
        let big: Vec<u8> = (0..100_003u32).map(|i| i as u8).collect();
        let ts = Timestamp::new(1_800_000_000, 999_999_999);
        w.packet(sll, ts, &big, 100_003, Some("big")).unwrap();
        want.push((LinkType::LINUX_SLL, ts, big, 100_003));

        let (links, got) = read_back(w.finish().unwrap());
        assert_eq!(links, [LinkType::ETHERNET, LinkType::LINUX_SLL]);
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "packet {}", i + 1);
        }
    }

    /// The bytes themselves: block types in order, framing, the section
    /// header's fields and options, the interfaces' options (empty strings
    /// left out), the packet blocks' fields, padding and comment.
    #[test]
    fn blocks_follow_the_spec() {
        let mut w = PcapngWriter::new(Vec::new()).unwrap();
        w.add_interface(LinkType::ETHERNET, 1500, "eth0", "the broker")
            .unwrap();
        w.add_interface(LinkType::RAW, 0, "", "").unwrap();
        let ts = Timestamp::new(1_700_000_000, 42);
        w.packet(1, ts, b"abcde", 60, Some("hi")).unwrap();
        w.packet(0, ts, b"abcd", 4, None).unwrap();
        let file = w.finish().unwrap();
        assert_eq!(file[..4], [0x0a, 0x0d, 0x0d, 0x0a]);
        let b = blocks(&file);
        let types: Vec<u32> = b.iter().map(|b| b.block_type).collect();
        assert_eq!(types, [SHB_TYPE, IDB_TYPE, IDB_TYPE, EPB_TYPE, EPB_TYPE]);

        // Section header: byte-order magic, version 1.0, length unknown.
        let shb = &b[0].body;
        assert_eq!(shb[..4], [0x4d, 0x3c, 0x2b, 0x1a]);
        assert_eq!((le16(shb, 4), le16(shb, 6)), (1, 0));
        assert_eq!(shb[8..16], [0xff; 8]);
        let want = format!("kwire {}", env!("CARGO_PKG_VERSION"));
        assert_eq!(options(&shb[16..]), [(OPT_SHB_USERAPPL, want.into_bytes())]);

        let idb = &b[1].body;
        assert_eq!((le16(idb, 0), le16(idb, 2), le32(idb, 4)), (1, 0, 1500));
        assert_eq!(
            options(&idb[8..]),
            [
                (OPT_IF_NAME, b"eth0".to_vec()),
                (OPT_IF_DESCRIPTION, b"the broker".to_vec()),
                (OPT_IF_TSRESOL, vec![9]),
            ]
        );
        let idb = &b[2].body;
        assert_eq!((le16(idb, 0), le32(idb, 4)), (101, 0));
        assert_eq!(options(&idb[8..]), [(OPT_IF_TSRESOL, vec![9])]);

        // 1_700_000_000_000_000_042 ns, split into 32-bit halves.
        let t = 1_700_000_000_000_000_042u64;
        let epb = &b[3].body;
        let fields: Vec<u32> = (0..5).map(|i| le32(epb, 4 * i)).collect();
        assert_eq!(fields, [1, (t >> 32) as u32, t as u32, 5, 60]);
        assert_eq!(epb[20..28], *b"abcde\0\0\0");
        assert_eq!(options(&epb[28..]), [(OPT_COMMENT, b"hi".to_vec())]);
        // No comment: no option list at all, not even opt_endofopt.
        let epb = &b[4].body;
        assert_eq!(epb.len(), 20 + 4);
        assert_eq!(le32(epb, 0), 0);
        assert_eq!(epb[20..], *b"abcd");
    }

    /// Before the epoch is the epoch; past what 64 bits of nanoseconds
    /// count (2554) is their last.
    #[test]
    fn timestamps_out_of_range_are_clamped() {
        let mut w = PcapngWriter::new(Vec::new()).unwrap();
        w.add_interface(LinkType::RAW, 0, "", "").unwrap();
        for ts in [
            Timestamp::new(-1, 5),
            Timestamp::new(0, 0),
            Timestamp::new(i64::MAX, 999_999_999),
            Timestamp::new(18_446_744_073, 709_551_615),
        ] {
            w.packet(0, ts, &[], 0, None).unwrap();
        }
        let (_, got) = read_back(w.finish().unwrap());
        let ts: Vec<Timestamp> = got.iter().map(|p| p.1).collect();
        let last = Timestamp::new(18_446_744_073, 709_551_615);
        assert_eq!(ts, [Timestamp::new(0, 0), Timestamp::new(0, 0), last, last]);
    }

    fn kind<T: std::fmt::Debug>(r: io::Result<T>) -> io::ErrorKind {
        r.unwrap_err().kind()
    }

    /// What pcapng cannot say is refused before a byte of the block is
    /// written, and the writer goes on: a packet on an interface not added,
    /// an option longer than 65,535 bytes.
    #[test]
    fn what_cannot_be_written_is_invalid_input() {
        let mut w = PcapngWriter::new(Vec::new()).unwrap();
        let at = |w: &PcapngWriter<Vec<u8>>| w.out.len();
        let before = at(&w);
        let e = w.packet(0, Timestamp::default(), b"x", 1, None);
        assert_eq!(kind(e), io::ErrorKind::InvalidInput);
        let long = "x".repeat(65_536);
        let e = w.add_interface(LinkType::ETHERNET, 0, &long, "");
        assert_eq!(kind(e), io::ErrorKind::InvalidInput);
        let e = w.add_interface(LinkType::ETHERNET, 0, "eth0", &long);
        assert_eq!(kind(e), io::ErrorKind::InvalidInput);
        assert_eq!(at(&w), before);
        // The refused interfaces took no id.
        assert_eq!(w.add_interface(LinkType::RAW, 0, "", "").unwrap(), 0);
        let before = at(&w);
        let e = w.packet(1, Timestamp::default(), b"x", 1, None);
        assert_eq!(kind(e), io::ErrorKind::InvalidInput);
        let e = w.packet(u32::MAX, Timestamp::default(), b"x", 1, None);
        assert_eq!(kind(e), io::ErrorKind::InvalidInput);
        let e = w.packet(0, Timestamp::default(), b"x", 1, Some(&long));
        assert_eq!(kind(e), io::ErrorKind::InvalidInput);
        assert_eq!(at(&w), before);
        // The longest comment an option holds is written.
        let longest = &long[1..];
        w.packet(0, Timestamp::new(1, 0), b"x", 1, Some(longest))
            .unwrap();
        let (_, got) = read_back(w.finish().unwrap());
        assert_eq!(
            got,
            [(LinkType::RAW, Timestamp::new(1, 0), b"x".to_vec(), 1)]
        );
    }

    /// A block whose total length does not fit in 32 bits (packet data of
    /// about 4 GiB, which a test does not allocate) is refused.
    #[test]
    fn block_length_must_fit_32_bits() {
        let max_body = u32::MAX as usize - 3 - BLOCK_FRAME; // 4-aligned
        assert_eq!(block_total_len(max_body).unwrap(), u32::MAX - 3);
        assert_eq!(block_total_len(0).unwrap(), 12);
        assert_eq!(block_total_len(5).unwrap(), 20);
        for body in [max_body + 1, u32::MAX as usize, usize::MAX] {
            assert_eq!(kind(block_total_len(body)), io::ErrorKind::InvalidInput);
        }
    }

    /// An output that fails is an error from the call, not a panic.
    #[test]
    fn output_errors_are_returned() {
        struct Full(usize);
        impl Write for Full {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::StorageFull, "full"));
                }
                let n = b.len().min(self.0);
                self.0 -= n;
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        assert!(PcapngWriter::new(Full(10)).is_err());
        let mut w = PcapngWriter::new(Full(100)).unwrap();
        assert!(w.add_interface(LinkType::RAW, 0, "lo", "").is_ok());
        assert!(
            w.packet(0, Timestamp::default(), &[0; 200], 200, None)
                .is_err()
        );
    }
}
