//! Make a large capture for benchmarks from a real one: the input's packets
//! repeated COPIES times, each copy on its own addresses (127.0.K.1, so its
//! connections are new ones) and shifted in time after the previous copy.
//!
//! usage: cargo run --release --example make_bulk -- IN.pcap OUT.pcap COPIES
//! Input: a classic pcap with Ethernet/IPv4 packets (the corpus' bulk_mtu1500).

use std::io::{BufWriter, Write};

use kwire::capture::PacketSource;
use kwire::capture::file::FileSource;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 4, "usage: make_bulk IN.pcap OUT.pcap COPIES");
    let copies: u8 = args[3].parse()?;
    let mut packets = Vec::new();
    let mut src = FileSource::open(&args[1])?;
    let link = src.link_types()[0];
    while let Some(p) = src.next_packet()? {
        packets.push((p.ts, p.data.to_vec(), p.orig_len));
    }
    anyhow::ensure!(!packets.is_empty(), "no packets");
    let span = packets.last().unwrap().0.secs - packets[0].0.secs + 1;
    let mut out = BufWriter::new(std::fs::File::create(&args[2])?);
    // pcap header: little endian, microseconds, snaplen 262144.
    out.write_all(&0xa1b2c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&[0; 8])?;
    out.write_all(&262_144u32.to_le_bytes())?;
    out.write_all(&u32::from(link.0).to_le_bytes())?;
    for k in 0..copies {
        for (ts, data, orig) in &packets {
            let mut d = data.clone();
            // Ethernet + IPv4: put the copy number in both addresses' third octet.
            if d.len() >= 34 && d[12..14] == [0x08, 0x00] {
                d[14 + 12 + 2] = k;
                d[14 + 16 + 2] = k;
            }
            let secs = ts.secs + i64::from(k) * span;
            out.write_all(&(secs as u32).to_le_bytes())?;
            out.write_all(&(ts.nanos / 1000).to_le_bytes())?;
            out.write_all(&(d.len() as u32).to_le_bytes())?;
            out.write_all(&orig.to_le_bytes())?;
            out.write_all(&d)?;
        }
    }
    out.flush()?;
    Ok(())
}
