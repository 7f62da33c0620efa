//! The record codecs: gzip, snappy, lz4 and zstd, each bounded.
//!
//! Kafka compresses a whole RecordBatch's records (magic 2), or a wrapper
//! message's value holding an inner message set (magic 0/1). The formats as
//! the clients write them:
//!
//! * **gzip** (`1`): one or more gzip members (RFC 1952), via `flate2`.
//! * **snappy** (`2`): either a raw snappy block, or the *xerial* framing that
//!   Java clients write (`snappy-java`'s `SnappyOutputStream`): the magic
//!   `\x82SNAPPY\x00`, `version:int32`, `compatible:int32`, then repeated
//!   `[length:int32][raw snappy block]`. librdkafka reads both; so do we.
//!   Blocks go through `snap::raw`.
//! * **lz4** (`3`): the LZ4 *frame* format. Magic 0 message sets were written
//!   with a broken frame-descriptor checksum (Kafka hashed the magic number
//!   too, KAFKA-3160), so the frame is parsed here, the header checksum is
//!   accepted in either form, and blocks go through `lz4_flex::block`
//!   (linked blocks get the previous 64 KiB as dictionary).
//! * **zstd** (`4`): one or more zstd frames via the pure-Rust `ruzstd`.
//!
//! Contract: [`decompress`] never panics, never writes more than `limit`
//! bytes into `out`, and never allocates from a size declared in the input
//! without first checking it against both the limit and what the input could
//! possibly expand to. On any error `out` keeps the bytes decoded before it,
//! so a caller can still read the records that came through.

use std::io::Read;

use thiserror::Error;

/// A compression codec id: the low three bits of the batch attributes.
/// Unknown ids are kept, not rejected (style point 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Compression(pub u8);

impl Compression {
    pub const NONE: Compression = Compression(0);
    pub const GZIP: Compression = Compression(1);
    pub const SNAPPY: Compression = Compression(2);
    pub const LZ4: Compression = Compression(3);
    pub const ZSTD: Compression = Compression(4);

    /// Kafka's name for the codec (`compression.type`), or `"unknown"`.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "none",
            1 => "gzip",
            2 => "snappy",
            3 => "lz4",
            4 => "zstd",
            _ => "unknown",
        }
    }
}

/// Why decompression stopped early.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CodecError {
    /// The output reached the limit before the stream ended; `out` holds
    /// exactly `limit` bytes (or fewer when the codec cannot cut a block).
    #[error("decompressed size exceeds the limit of {limit} bytes")]
    LimitExceeded { limit: usize },
    /// The stream is corrupt or truncated.
    #[error("{0}")]
    Corrupt(String),
    /// The codec id is not one Kafka defines.
    #[error("unknown compression codec {}", .0.0)]
    Unsupported(Compression),
}

fn corrupt(msg: impl Into<String>) -> CodecError {
    CodecError::Corrupt(msg.into())
}

/// Decompress `input` with `codec` into `out` (cleared first), producing at
/// most `limit` bytes. Non-fatal findings (a checksum that does not verify,
/// bytes after the last frame) are pushed onto `warnings`.
pub fn decompress(
    codec: Compression,
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
    warnings: &mut Vec<String>,
) -> Result<(), CodecError> {
    out.clear();
    match codec {
        Compression::NONE => {
            if input.len() > limit {
                out.extend_from_slice(&input[..limit]);
                return Err(CodecError::LimitExceeded { limit });
            }
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::GZIP => gzip(input, limit, out, warnings),
        Compression::SNAPPY => snappy(input, limit, out),
        Compression::LZ4 => lz4(input, limit, out, warnings),
        Compression::ZSTD => zstd(input, limit, out, warnings),
        other => Err(CodecError::Unsupported(other)),
    }
}

/// Copy a reader into `out` until it ends or `out` reaches `limit`. Growth
/// follows the bytes actually produced and never passes `limit`.
fn read_bounded(r: &mut impl Read, out: &mut Vec<u8>, limit: usize) -> Result<(), CodecError> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(corrupt("stream ends early"));
            }
            Err(e) => return Err(corrupt(e.to_string())),
        };
        let room = limit - out.len();
        let take = n.min(room);
        if out.capacity() - out.len() < take {
            // Double, but never reserve past the limit.
            let want = (out.capacity() * 2).max(out.len() + take).min(limit);
            out.reserve_exact(want - out.len());
        }
        out.extend_from_slice(&buf[..take]);
        if n > room {
            return Err(CodecError::LimitExceeded { limit });
        }
    }
}

// ---------------------------------------------------------------- gzip

fn gzip(
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
    warnings: &mut Vec<String>,
) -> Result<(), CodecError> {
    let mut rest = input;
    let mut members = 0;
    // Concatenated members decode as one stream (as java.util.zip's
    // GZIPInputStream does); anything else after a member is reported.
    while members == 0 || rest.starts_with(&[0x1f, 0x8b]) {
        let mut dec = flate2::bufread::GzDecoder::new(rest);
        read_bounded(&mut dec, out, limit)?;
        rest = dec.into_inner();
        members += 1;
    }
    if !rest.is_empty() {
        warnings.push(format!("{} bytes after the gzip stream", rest.len()));
    }
    Ok(())
}

// ---------------------------------------------------------------- snappy

const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";

/// A snappy block cannot expand by more than this (a 3-byte copy tag makes
/// 64 bytes); larger declared sizes are corrupt, and are refused before any
/// allocation.
const SNAPPY_MAX_RATIO: usize = 22;

fn snappy(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    if !input.starts_with(XERIAL_MAGIC) {
        return snappy_block(input, limit, out);
    }
    // magic, version:int32, compatible:int32
    if input.len() < 16 {
        return Err(corrupt("xerial snappy header cut short"));
    }
    let mut rest = &input[16..];
    while !rest.is_empty() {
        let Some(len) = rest.get(..4) else {
            return Err(corrupt("xerial snappy block length cut short"));
        };
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        rest = &rest[4..];
        if len < 0 || len as usize > rest.len() {
            return Err(corrupt(format!(
                "xerial snappy block of {len} bytes with {} left",
                rest.len()
            )));
        }
        let (block, after) = rest.split_at(len as usize);
        snappy_block(block, limit, out)?;
        rest = after;
    }
    Ok(())
}

/// Append one raw snappy block to `out`.
fn snappy_block(block: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let n = snap::raw::decompress_len(block).map_err(|e| corrupt(format!("snappy: {e}")))?;
    if n > block.len().saturating_mul(SNAPPY_MAX_RATIO) {
        return Err(corrupt(format!(
            "snappy block of {} bytes declares {n} bytes",
            block.len()
        )));
    }
    if n > limit - out.len() {
        return Err(CodecError::LimitExceeded { limit });
    }
    if n == 0 {
        // An empty block (a lone zero length byte) is valid and empty.
        return Ok(());
    }
    let start = out.len();
    out.resize(start + n, 0);
    match snap::raw::Decoder::new().decompress(block, &mut out[start..]) {
        Ok(got) if got == n => Ok(()),
        Ok(got) => {
            out.truncate(start);
            Err(corrupt(format!("snappy block made {got} of {n} bytes")))
        }
        Err(e) => {
            out.truncate(start);
            Err(corrupt(format!("snappy: {e}")))
        }
    }
}

// ---------------------------------------------------------------- lz4

const LZ4_MAGIC: u32 = 0x184D_2204;
/// An LZ4 sequence makes at most ~255 bytes per input byte.
const LZ4_MAX_RATIO: usize = 255;
const LZ4_WINDOW: usize = 64 * 1024;

fn xxh32(data: &[u8]) -> u32 {
    twox_hash::XxHash32::oneshot(0, data)
}

fn u32_le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn lz4(
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
    warnings: &mut Vec<String>,
) -> Result<(), CodecError> {
    let mut pos = 0;
    let mut frames = 0;
    while pos < input.len() {
        let Some(magic) = u32_le(input, pos) else {
            warnings.push(format!("{} bytes after the lz4 frame", input.len() - pos));
            break;
        };
        if (0x184D_2A50..=0x184D_2A5F).contains(&magic) {
            // A skippable frame: magic, size:u32 LE, data.
            let size = u32_le(input, pos + 4).ok_or_else(|| corrupt("lz4 skippable frame cut"))?;
            let end = (pos + 8)
                .checked_add(size as usize)
                .filter(|&e| e <= input.len())
                .ok_or_else(|| corrupt("lz4 skippable frame cut short"))?;
            pos = end;
            continue;
        }
        if magic != LZ4_MAGIC {
            if frames == 0 {
                return Err(corrupt(format!("not an lz4 frame (magic {magic:#010x})")));
            }
            warnings.push(format!("{} bytes after the lz4 frame", input.len() - pos));
            break;
        }
        pos = lz4_frame(input, pos, limit, out, warnings)?;
        frames += 1;
    }
    if frames == 0 && input.is_empty() {
        return Err(corrupt("empty lz4 input"));
    }
    Ok(())
}

/// Decode the frame starting at `start` (its magic); returns where it ends.
fn lz4_frame(
    input: &[u8],
    start: usize,
    limit: usize,
    out: &mut Vec<u8>,
    warnings: &mut Vec<String>,
) -> Result<usize, CodecError> {
    let cut = || corrupt("lz4 frame cut short");
    let flg = *input.get(start + 4).ok_or_else(cut)?;
    let bd = *input.get(start + 5).ok_or_else(cut)?;
    if flg >> 6 != 0b01 {
        return Err(corrupt(format!("lz4 frame version {}", flg >> 6)));
    }
    let independent = flg & 0x20 != 0;
    let block_checksum = flg & 0x10 != 0;
    let content_size = flg & 0x08 != 0;
    let content_checksum = flg & 0x04 != 0;
    let dict_id = flg & 0x01 != 0;
    let block_max = match (bd >> 4) & 0x7 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        n => return Err(corrupt(format!("lz4 block size id {n}"))),
    };
    let desc_end = start + 6 + if content_size { 8 } else { 0 } + if dict_id { 4 } else { 0 };
    let hc = *input.get(desc_end).ok_or_else(cut)?;
    // The standard checksum covers FLG..the last descriptor byte; Kafka's
    // magic 0 writers hashed from the magic number (KAFKA-3160).
    let standard = (xxh32(&input[start + 4..desc_end]) >> 8) as u8;
    let kafka_v0 = (xxh32(&input[start..desc_end]) >> 8) as u8;
    if hc != standard && hc != kafka_v0 {
        warnings.push(format!(
            "lz4 frame header checksum {hc:#04x} matches neither {standard:#04x} nor Kafka's magic-0 {kafka_v0:#04x}"
        ));
    }
    let frame_out_start = out.len();
    let mut pos = desc_end + 1;
    loop {
        let size = u32_le(input, pos).ok_or_else(cut)?;
        pos += 4;
        if size == 0 {
            break; // EndMark
        }
        let stored = size & 0x8000_0000 != 0;
        let len = (size & 0x7fff_ffff) as usize;
        if len > block_max {
            return Err(corrupt(format!(
                "lz4 block of {len} bytes exceeds the frame's {block_max}"
            )));
        }
        let block = input.get(pos..pos + len).ok_or_else(cut)?;
        pos += len;
        if block_checksum {
            let sum = u32_le(input, pos).ok_or_else(cut)?;
            pos += 4;
            if sum != xxh32(block) {
                warnings.push("lz4 block checksum does not verify".to_string());
            }
        }
        let room = limit - out.len();
        if stored {
            let take = len.min(room);
            out.extend_from_slice(&block[..take]);
            if len > room {
                return Err(CodecError::LimitExceeded { limit });
            }
            continue;
        }
        // Decompress straight into `out`'s tail; the bytes before it are the
        // dictionary for linked blocks. The tail is sized by what the block
        // could possibly make, the frame's block size and the limit.
        let possible = len.saturating_mul(LZ4_MAX_RATIO).min(block_max);
        let cap = possible.min(room);
        let at = out.len();
        out.resize(at + cap, 0);
        let (before, tail) = out.split_at_mut(at);
        let dict: &[u8] = if independent {
            &[]
        } else {
            let frame_bytes = &before[frame_out_start..];
            &frame_bytes[frame_bytes.len().saturating_sub(LZ4_WINDOW)..]
        };
        match lz4_flex::block::decompress_into_with_dict(block, tail, dict) {
            Ok(n) => out.truncate(at + n),
            Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) if cap < possible => {
                out.truncate(at);
                return Err(CodecError::LimitExceeded { limit });
            }
            Err(e) => {
                out.truncate(at);
                return Err(corrupt(format!("lz4 block: {e}")));
            }
        }
    }
    if content_checksum {
        let sum = u32_le(input, pos).ok_or_else(cut)?;
        pos += 4;
        if sum != xxh32(&out[frame_out_start..]) {
            warnings.push("lz4 content checksum does not verify".to_string());
        }
    }
    if content_size {
        let declared =
            u64::from_le_bytes(input[start + 6..start + 14].try_into().unwrap_or([0; 8]));
        if declared != (out.len() - frame_out_start) as u64 {
            warnings.push(format!(
                "lz4 frame declares {declared} bytes, holds {}",
                out.len() - frame_out_start
            ));
        }
    }
    Ok(pos)
}

// ---------------------------------------------------------------- zstd

fn zstd(
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
    warnings: &mut Vec<String>,
) -> Result<(), CodecError> {
    use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
    use ruzstd::decoding::{FrameDecoder, StreamingDecoder};

    // The window is the memory a frame may ask for. ruzstd grows its buffer
    // with the output, not from the declared window, but a frame whose window
    // exceeds what we would ever produce is refused up front.
    let max_window = (limit as u64).max(8 << 20);
    let mut rest = input;
    let mut frames = 0;
    while !rest.is_empty() {
        let mut dec = FrameDecoder::new();
        dec.set_max_window_size(max_window);
        let mut src = rest;
        match StreamingDecoder::new_with_decoder(&mut src, &mut dec) {
            Ok(mut s) => {
                read_bounded(&mut s, out, limit)?;
            }
            Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                length,
                ..
            })) => {
                // `src` is past the skippable frame's 8-byte header.
                let length = length as usize;
                if length > src.len() {
                    return Err(corrupt("zstd skippable frame cut short"));
                }
                rest = &src[length..];
                continue;
            }
            Err(e) if frames > 0 => {
                warnings.push(format!("{} bytes after the zstd frame ({e})", rest.len()));
                return Ok(());
            }
            Err(e) => return Err(corrupt(format!("zstd: {e}"))),
        }
        if let (Some(want), Some(got)) =
            (dec.get_checksum_from_data(), dec.get_calculated_checksum())
            && want != got
        {
            warnings.push("zstd content checksum does not verify".to_string());
        }
        if !dec.is_finished() {
            return Err(corrupt("zstd frame cut short"));
        }
        frames += 1;
        rest = src;
    }
    if frames == 0 {
        return Err(corrupt("empty zstd input"));
    }
    Ok(())
}
