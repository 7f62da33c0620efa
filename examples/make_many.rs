//! Make a capture with many exchanges for the UI's benchmarks from real
//! ones: one "copy" is the inputs played one after the other (each starting
//! a second after the previous one ended), and the copy is repeated until
//! the output holds at least MIN_EXCHANGES exchanges. Copy K lives on its
//! own addresses (127.0.0.1 becomes 127.K/256.K%256.1, both ends, IPv4 and
//! TCP checksums adjusted as RFC 1624 says) and after copy K-1 in time, so
//! every copy's connections are new ones and the traffic is the inputs'
//! traffic: the clients' and brokers' own bytes, group flows, errors and
//! all.
//!
//! usage: cargo run --release --example make_many -- OUT.pcap MIN_EXCHANGES IN.pcap...
//! Inputs: classic pcaps with Ethernet/IPv4 packets (the corpus').
//! Prints the copies made and the exchanges they hold.

use std::io::{BufWriter, Write};

use kwire::capture::file::FileSource;
use kwire::capture::{LinkType, PacketSource};
use kwire::session::{self, CaptureInfo, Record, SessionConfig};
use kwire::tcp::TcpConfig;

/// One input: its packets (time since its first packet in ns, bytes,
/// length on the wire), its length in time and its exchanges.
struct Input {
    packets: Vec<(i128, Vec<u8>, u32)>,
    span_ns: i128,
    exchanges: u64,
}

fn read(path: &str, link: &mut Option<LinkType>) -> anyhow::Result<Input> {
    let mut src = FileSource::open(path)?;
    let lt = src.link_types()[0];
    anyhow::ensure!(
        lt == LinkType::ETHERNET && link.is_none_or(|l| l == lt),
        "{path}: Ethernet inputs only"
    );
    *link = Some(lt);
    let mut packets = Vec::new();
    let mut first = None;
    while let Some(p) = src.next_packet()? {
        let t = p.ts.as_nanos();
        let t0 = *first.get_or_insert(t);
        packets.push((t - t0, p.data.to_vec(), p.orig_len));
    }
    anyhow::ensure!(!packets.is_empty(), "{path}: no packets");
    let span_ns = packets.iter().map(|p| p.0).max().unwrap_or(0);
    // Count its exchanges as kwire reads it.
    let mut src = FileSource::open(path)?;
    let info = CaptureInfo {
        source: path.to_string(),
        format: src.format(),
        link_types: src.link_types(),
        filter: None,
        merged: Vec::new(),
    };
    let sink = |_: Record| Ok(());
    let (_, summary) = session::run(
        &mut src,
        info,
        TcpConfig::default(),
        SessionConfig::default(),
        sink,
    )?;
    Ok(Input {
        packets,
        span_ns,
        exchanges: summary.exchanges,
    })
}

/// The one's-complement checksum `sum` after the 16-bit words `old`
/// became `new` (RFC 1624, eqn. 3). A checksum that was wrong stays as
/// wrong as it was.
fn adjust(sum: u16, old: &[u8], new: &[u8]) -> u16 {
    let mut acc = u32::from(!sum);
    for (o, n) in old.chunks(2).zip(new.chunks(2)) {
        acc += u32::from(!u16::from_be_bytes([o[0], o[1]]));
        acc += u32::from(u16::from_be_bytes([n[0], n[1]]));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Move an Ethernet/IPv4 packet to copy `k`'s addresses: the second and
/// third octets of both addresses.
fn readdress(d: &mut [u8], k: u32) {
    const IP: usize = 14;
    if d.len() < IP + 20 || d[12..14] != [0x08, 0x00] || d[IP] >> 4 != 4 {
        return;
    }
    let ihl = usize::from(d[IP] & 0x0f) * 4;
    let old: [u8; 8] = d[IP + 12..IP + 20].try_into().unwrap();
    let mut new = old;
    for a in [0, 4] {
        new[a + 1] = (k >> 8) as u8;
        new[a + 2] = k as u8;
    }
    d[IP + 12..IP + 20].copy_from_slice(&new);
    let ip_sum = u16::from_be_bytes([d[IP + 10], d[IP + 11]]);
    d[IP + 10..IP + 12].copy_from_slice(&adjust(ip_sum, &old, &new).to_be_bytes());
    // TCP's checksum covers the addresses too (pseudo-header), when the
    // header is captured and this is the first fragment.
    let tcp = IP + ihl;
    let first_fragment = u16::from_be_bytes([d[IP + 6], d[IP + 7]]) & 0x1fff == 0;
    if d[IP + 9] == 6 && first_fragment && d.len() >= tcp + 18 {
        let s = u16::from_be_bytes([d[tcp + 16], d[tcp + 17]]);
        d[tcp + 16..tcp + 18].copy_from_slice(&adjust(s, &old, &new).to_be_bytes());
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() >= 4,
        "usage: make_many OUT.pcap MIN_EXCHANGES IN.pcap..."
    );
    let min: u64 = args[2].parse()?;
    let mut link = None;
    let inputs: Vec<Input> = args[3..]
        .iter()
        .map(|p| read(p, &mut link))
        .collect::<anyhow::Result<_>>()?;
    let per_copy: u64 = inputs.iter().map(|i| i.exchanges).sum();
    anyhow::ensure!(per_copy > 0, "the inputs hold no exchange");
    let copies = min.div_ceil(per_copy).max(1);
    anyhow::ensure!(copies <= 65_536, "more than 65536 copies needed");
    // Where each input starts within a copy, and a copy's length.
    let second = 1_000_000_000i128;
    let mut starts = Vec::new();
    let mut copy_ns = 0i128;
    for i in &inputs {
        starts.push(copy_ns);
        copy_ns += i.span_ns + second;
    }
    // A round number of seconds after the Unix epoch of 2024-01-01.
    let base = 1_704_067_200 * second;

    let mut out = BufWriter::new(std::fs::File::create(&args[1])?);
    // pcap header: little endian, microseconds, snaplen 262144.
    out.write_all(&0xa1b2c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&[0; 8])?;
    out.write_all(&262_144u32.to_le_bytes())?;
    out.write_all(&u32::from(link.unwrap_or(LinkType::ETHERNET).0).to_le_bytes())?;
    let mut packets = 0u64;
    for k in 0..copies as u32 {
        for (input, start) in inputs.iter().zip(&starts) {
            for (t, data, orig) in &input.packets {
                let mut d = data.clone();
                readdress(&mut d, k);
                let ts = base + i128::from(k) * copy_ns + start + t;
                out.write_all(&((ts / second) as u32).to_le_bytes())?;
                out.write_all(&(((ts % second) / 1000) as u32).to_le_bytes())?;
                out.write_all(&(d.len() as u32).to_le_bytes())?;
                out.write_all(&orig.to_le_bytes())?;
                out.write_all(&d)?;
                packets += 1;
            }
        }
    }
    out.flush()?;
    println!(
        "{}: {copies} copies of {per_copy} exchanges ({}), {packets} packets, {} exchanges",
        args[1],
        inputs
            .iter()
            .zip(&args[3..])
            .map(|(i, p)| format!("{p}: {}", i.exchanges))
            .collect::<Vec<_>>()
            .join(", "),
        copies * per_copy
    );
    Ok(())
}
