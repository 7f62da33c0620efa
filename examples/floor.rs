//! The floor of the file benchmarks (`scripts/bench`): a bare `pcap-parser`
//! pass over a capture, touching every packet (the sum of their captured
//! lengths, printed) and nothing else. What reading the file costs, under
//! any analysis of it: kwire's time is reported as a multiple of this one.
//!
//! usage: cargo run --release --example floor -- CAPTURE
//! Prints the packets and their bytes. The reader's buffer is kwire's
//! (1 MiB at first, grown only for a block that does not fit).

use std::fs::File;

use anyhow::{Context, bail};
use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError, create_reader};

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).context("usage: floor CAPTURE")?;
    let file = File::open(&path).with_context(|| format!("cannot open {path}"))?;
    let mut capacity = 1 << 20;
    let mut reader = create_reader(capacity, file).map_err(|e| anyhow::anyhow!("{path}: {e:?}"))?;
    let (mut packets, mut bytes) = (0u64, 0u64);
    loop {
        match reader.next() {
            Ok((len, block)) => {
                let data = match block {
                    PcapBlockOwned::Legacy(p) => Some(p.data.len()),
                    PcapBlockOwned::NG(Block::EnhancedPacket(p)) => Some(p.data.len()),
                    PcapBlockOwned::NG(Block::SimplePacket(p)) => Some(p.data.len()),
                    _ => None,
                };
                if let Some(n) = data {
                    packets += 1;
                    bytes += n as u64;
                }
                reader.consume(len);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if reader.reader_exhausted() {
                    bail!("{path}: truncated");
                }
                reader
                    .refill()
                    .map_err(|e| anyhow::anyhow!("{path}: {e:?}"))?;
            }
            Err(PcapError::BufferTooSmall) if capacity < 256 << 20 => {
                capacity *= 2;
                reader.grow(capacity);
            }
            Err(e) => bail!("{path}: {e:?}"),
        }
    }
    println!("{packets} packets, {bytes} bytes");
    Ok(())
}
