//! Write captures shaped like the production and hostile traffic of issue 9,
//! to try kwire on them as a user would (`/usr/bin/time -v kwire diagnose
//! OUT.pcap`): the shapes `tests/production.rs` checks at small scale, at
//! full scale.
//!
//! usage: cargo run --release --example make_hostile -- SHAPE OUT.pcap [N]
//!
//! | shape | what |
//! |---|---|
//! | `descending` | one connection carrying an N-byte request (default 4 MiB) in 64-byte segments sent in descending order, then its response |
//! | `partial` | N flows (default 65,536), each holding a partial 32 KiB request that never completes |
//! | `flows` | N flows (default 200,000) that stay open with one request each (past `--max-flows` they are evicted) |
//! | `in-flight` | one connection with N requests (default 100,000) sent before any response |
//! | `time-jump` | 1,000 short conversations with one packet stamped 10 years ahead, one at 0 and one at the largest time |
//!
//! Packets are IPv4 (link type RAW); Kafka messages are ApiVersions v0.

use std::io::{BufWriter, Write};
use std::net::Ipv4Addr;

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

struct Out<W: Write> {
    w: W,
}

impl<W: Write> Out<W> {
    fn new(mut w: W) -> std::io::Result<Self> {
        // Classic pcap header, microseconds, snaplen 262144, LINKTYPE_RAW.
        w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        w.write_all(&2u16.to_le_bytes())?;
        w.write_all(&4u16.to_le_bytes())?;
        w.write_all(&[0; 8])?;
        w.write_all(&262_144u32.to_le_bytes())?;
        w.write_all(&101u32.to_le_bytes())?;
        Ok(Out { w })
    }

    fn packet(&mut self, secs: u32, usecs: u32, data: &[u8]) -> std::io::Result<()> {
        self.w.write_all(&secs.to_le_bytes())?;
        self.w.write_all(&usecs.to_le_bytes())?;
        self.w.write_all(&(data.len() as u32).to_le_bytes())?;
        self.w.write_all(&(data.len() as u32).to_le_bytes())?;
        self.w.write_all(data)
    }
}

fn ip(host: u32) -> Ipv4Addr {
    Ipv4Addr::from(10u32 << 24 | host)
}

/// IPv4 + TCP; checksums are left zero (kwire does not check them).
fn tcp(
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let total = 40 + payload.len();
    let mut p = Vec::with_capacity(total);
    p.extend([
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ]);
    p.extend(src.0.octets());
    p.extend(dst.0.octets());
    p.extend(src.1.to_be_bytes());
    p.extend(dst.1.to_be_bytes());
    p.extend(seq.to_be_bytes());
    p.extend(ack.to_be_bytes());
    p.extend([0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    p.extend(payload);
    p
}

fn request(corr: i32, body: usize) -> Vec<u8> {
    let mut m = Vec::with_capacity(14 + body);
    m.extend(18i16.to_be_bytes());
    m.extend(0i16.to_be_bytes());
    m.extend(corr.to_be_bytes());
    m.extend(4i16.to_be_bytes());
    m.extend(b"host");
    m.resize(m.len() + body, 0);
    let mut f = (m.len() as u32).to_be_bytes().to_vec();
    f.extend(m);
    f
}

fn response(corr: i32) -> Vec<u8> {
    let mut f = 10u32.to_be_bytes().to_vec();
    f.extend(corr.to_be_bytes());
    f.extend([0, 0, 0, 0, 0, 0]);
    f
}

/// A connection being written: client and broker sequence numbers.
struct Flow {
    c: (Ipv4Addr, u16),
    b: (Ipv4Addr, u16),
    cs: u32,
    bs: u32,
}

impl Flow {
    fn open<W: Write>(
        o: &mut Out<W>,
        t: u32,
        c: (Ipv4Addr, u16),
        b: (Ipv4Addr, u16),
    ) -> std::io::Result<Flow> {
        o.packet(t, 0, &tcp(c, b, 100, 0, SYN, &[]))?;
        o.packet(t, 1, &tcp(b, c, 900, 101, SYN | ACK, &[]))?;
        o.packet(t, 2, &tcp(c, b, 101, 901, ACK, &[]))?;
        Ok(Flow {
            c,
            b,
            cs: 101,
            bs: 901,
        })
    }
    fn send<W: Write>(
        &mut self,
        o: &mut Out<W>,
        t: (u32, u32),
        bytes: &[u8],
    ) -> std::io::Result<()> {
        o.packet(
            t.0,
            t.1,
            &tcp(self.c, self.b, self.cs, self.bs, ACK | PSH, bytes),
        )?;
        self.cs = self.cs.wrapping_add(bytes.len() as u32);
        Ok(())
    }
    fn answer<W: Write>(
        &mut self,
        o: &mut Out<W>,
        t: (u32, u32),
        bytes: &[u8],
    ) -> std::io::Result<()> {
        o.packet(
            t.0,
            t.1,
            &tcp(self.b, self.c, self.bs, self.cs, ACK | PSH, bytes),
        )?;
        self.bs = self.bs.wrapping_add(bytes.len() as u32);
        Ok(())
    }
}

const T0: u32 = 1_764_000_000;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(shape), Some(path)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: make_hostile SHAPE OUT.pcap [N]");
    };
    let n: Option<u64> = args.get(3).map(|s| s.parse()).transpose()?;
    let mut o = Out::new(BufWriter::new(std::fs::File::create(path)?))?;
    let broker = (ip(1), 9092);
    match shape.as_str() {
        "descending" => {
            let size = n.unwrap_or(4 << 20) as usize;
            let mut f = Flow::open(&mut o, T0, (ip(2), 40000), broker)?;
            let req = request(1, size);
            let base = f.cs;
            let chunks: Vec<(usize, &[u8])> = req
                .chunks(64)
                .enumerate()
                .map(|(i, c)| (i * 64, c))
                .collect();
            for (off, c) in chunks.iter().rev() {
                f.cs = base.wrapping_add(*off as u32);
                f.send(&mut o, (T0 + 1, 0), c)?;
            }
            f.cs = base.wrapping_add(req.len() as u32);
            f.answer(&mut o, (T0 + 1, 500), &response(1))?;
        }
        "partial" => {
            let flows = n.unwrap_or(65_536) as u32;
            for i in 0..flows {
                let c = (ip(100 + i), 40000);
                let t = T0 + i / 1000;
                let mut f = Flow::open(&mut o, t, c, broker)?;
                let req = request(1, 32 << 10);
                f.send(&mut o, (t, 10), &req[..(30 << 10)])?;
            }
        }
        "flows" => {
            let flows = n.unwrap_or(200_000) as u32;
            for i in 0..flows {
                let c = (ip(100 + i), 40000);
                let t = T0 + i / 1000;
                let mut f = Flow::open(&mut o, t, c, broker)?;
                f.send(&mut o, (t, 10), &request(1, 0))?;
                if i == 0 {
                    f.answer(&mut o, (t, 20), &response(1))?;
                    f.send(&mut o, (t, 30), &request(2, 0))?;
                }
            }
        }
        "in-flight" => {
            let reqs = n.unwrap_or(100_000) as i32;
            let mut f = Flow::open(&mut o, T0, (ip(2), 40000), broker)?;
            for c in 0..reqs {
                f.send(&mut o, (T0 + 1, (c % 1_000_000) as u32), &request(c, 0))?;
            }
            for c in 0..reqs {
                f.answer(&mut o, (T0 + 2, (c % 1_000_000) as u32), &response(c))?;
            }
        }
        "time-jump" => {
            let convs = n.unwrap_or(1_000) as u32;
            for i in 0..convs {
                let t = T0 + i;
                let mut f = Flow::open(&mut o, t, (ip(100 + i), 40000), broker)?;
                let stamp = match i {
                    300 => (T0 + 10 * 365 * 86_400, 0),
                    500 => (0, 0),
                    700 => (u32::MAX, 999_999),
                    _ => (t, 100),
                };
                f.send(&mut o, (t, 50), &request(1, 0))?;
                f.answer(&mut o, stamp, &response(1))?;
            }
        }
        other => anyhow::bail!("unknown shape {other}"),
    }
    o.w.flush()?;
    Ok(())
}
