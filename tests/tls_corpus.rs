//! TLS decryption over real captures, read with kwire's own capture and TCP
//! stages: `../shared/corpus/aiokafka_tansu_tls12` (aiokafka over TLS 1.2,
//! ECDHE-RSA-AES256-GCM-SHA384, checked against tshark's view with the key
//! log) and the captures under `samples/tls/` (recorded with
//! `samples/tls/record.py`: the client's and server's plaintext is known).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use kwire::capture::PacketSource;
use kwire::capture::file::FileSource;
use kwire::capture::link::{Decoded, decode};
use kwire::capture::{PacketRef, Timestamp};
use kwire::tcp::{
    CloseReason, ConnInfo, Dir, GapCause, Interest, Reassembler, StreamSink, TcpConfig, TcpEvent,
};
use kwire::tls::{KeyLog, KeyState, TlsConn, TlsEvent, TlsInfo, TlsOut};

/// One connection as the TLS layer saw it.
#[derive(Default)]
struct Conn {
    tls: Option<TlsConn>,
    /// Bytes held until [`TlsConn::is_client_hello`] can tell.
    head: Vec<u8>,
    not_tls: bool,
    plain: [Vec<u8>; 2],
    /// (stream offset of the end of each delivery, its frame), per direction.
    ends: [Vec<(usize, u64)>; 2],
    events: Vec<(Dir, TlsEvent)>,
}

struct Sink {
    keys: KeyLog,
    conns: Vec<Conn>,
    ids: HashMap<u64, usize>,
}

impl Sink {
    fn conn(&mut self, c: &ConnInfo) -> &mut Conn {
        let n = self.conns.len();
        let i = *self.ids.entry(c.id.0).or_insert(n);
        if i == n {
            self.conns.push(Conn::default());
        }
        &mut self.conns[i]
    }
}

fn feed(conn: &mut Conn, keys: &mut KeyLog, dir: Dir, data: &[u8], at: PacketRef) {
    let Conn {
        tls,
        plain,
        ends,
        events,
        ..
    } = conn;
    if let Some(t) = tls {
        t.data(dir, data, at, keys, &mut |o| match o {
            TlsOut::Plain { dir, data, at } => {
                let p = &mut plain[dir.index()];
                p.extend_from_slice(data);
                ends[dir.index()].push((p.len(), at.frame));
            }
            TlsOut::Event { dir, event, .. } => events.push((dir, event)),
        });
    }
}

impl StreamSink for Sink {
    fn on_open(&mut self, _: &ConnInfo, _: PacketRef) -> Interest {
        Interest::Keep
    }
    fn on_data(&mut self, c: &ConnInfo, dir: Dir, data: &[u8], at: PacketRef) -> Interest {
        let mut keys = std::mem::take(&mut self.keys);
        let conn = self.conn(c);
        if conn.tls.is_none() && !conn.not_tls {
            conn.head.extend_from_slice(data);
            match TlsConn::is_client_hello(&conn.head) {
                Some(true) => {
                    conn.tls = Some(TlsConn::new(dir));
                    let head = std::mem::take(&mut conn.head);
                    feed(conn, &mut keys, dir, &head, at);
                }
                Some(false) => conn.not_tls = true,
                None => {}
            }
        } else {
            feed(conn, &mut keys, dir, data, at);
        }
        self.keys = keys;
        Interest::Keep
    }
    fn on_gap(&mut self, c: &ConnInfo, dir: Dir, len: u64, _: GapCause, at: PacketRef) {
        let conn = self.conn(c);
        if let Some(t) = &mut conn.tls {
            let events = &mut conn.events;
            t.gap(dir, len, at, &mut |o| {
                if let TlsOut::Event { dir, event, .. } = o {
                    events.push((dir, event));
                }
            });
        }
    }
    fn on_close(&mut self, _: &ConnInfo, _: CloseReason, _: PacketRef) {}
    fn on_event(&mut self, _: &ConnInfo, _: TcpEvent, _: PacketRef) {}
}

/// Reads `pcap` through kwire's capture and TCP stages into TLS connections.
fn decrypt(pcap: &Path, keys: &Path) -> Vec<Conn> {
    let mut keys = KeyLog::new(vec![keys.to_path_buf()]);
    keys.load().unwrap();
    assert!(!keys.is_empty());
    let mut sink = Sink {
        keys,
        conns: Vec::new(),
        ids: HashMap::new(),
    };
    let mut src = FileSource::open(pcap.to_str().unwrap()).unwrap();
    let link = src.link_types()[0];
    let mut tcp = Reassembler::new(TcpConfig::default());
    let mut last = PacketRef {
        frame: 0,
        ts: Timestamp::new(0, 0),
    };
    while let Some(p) = src.next_packet().unwrap() {
        last = p.at();
        if let Decoded::Tcp(seg) = decode(link, p.data) {
            tcp.segment(&seg, last, &mut sink);
        }
    }
    tcp.finish(last, &mut sink);
    sink.conns.into_iter().filter(|c| c.tls.is_some()).collect()
}

fn info(c: &Conn) -> &TlsInfo {
    c.tls.as_ref().unwrap().info()
}

/// Kafka frames of one direction's plaintext: (frame number of the packet
/// that completed it, api key or 0, correlation id), and whether the bytes
/// split into whole frames.
fn kafka_frames(c: &Conn, dir: Dir, request: bool) -> (Vec<(u64, i16, i32)>, bool) {
    let p = &c.plain[dir.index()];
    let ends = &c.ends[dir.index()];
    let mut out = Vec::new();
    let mut off = 0;
    while off + 4 <= p.len() {
        let size = u32::from_be_bytes(p[off..off + 4].try_into().unwrap()) as usize;
        let end = off + 4 + size;
        if end > p.len() || size < 8 {
            return (out, false);
        }
        let body = &p[off + 4..end];
        let (key, corr) = if request {
            (
                i16::from_be_bytes([body[0], body[1]]),
                i32::from_be_bytes(body[4..8].try_into().unwrap()),
            )
        } else {
            (0, i32::from_be_bytes(body[0..4].try_into().unwrap()))
        };
        let frame = ends.iter().find(|(e, _)| *e >= end).unwrap().1;
        out.push((frame, key, corr));
        off = end;
    }
    (out, off == p.len())
}

#[test]
fn aiokafka_tansu_tls12_matches_tshark() {
    let dir = common::corpus_dir();
    let conns = decrypt(
        &dir.join("aiokafka_tansu_tls12.pcap"),
        &dir.join("aiokafka_tansu_tls12.keys"),
    );
    assert!(!conns.is_empty());
    let mut requests = BTreeSet::new();
    let mut responses = BTreeSet::new();
    for c in &conns {
        let i = info(c);
        assert_eq!(i.version, Some(0x0303));
        assert_eq!(i.cipher, Some(0xC030), "ECDHE-RSA-AES256-GCM-SHA384");
        assert_eq!(i.keys, KeyState::Found);
        assert_eq!(i.undecryptable_records, 0);
        assert!(
            !c.events
                .iter()
                .any(|(_, e)| matches!(e, TlsEvent::DecryptFailed | TlsEvent::KeysMissing)),
            "{:?}",
            c.events
        );
        assert!(c.events.iter().any(|(_, e)| *e == TlsEvent::HandshakeDone));
        // The SYNs are captured: A is the client, the side of the ClientHello.
        let client = Dir::AtoB;
        // The client's plaintext starts with an ApiVersions request.
        let p = &c.plain[client.index()];
        assert!(p.len() > 12);
        assert_eq!(i16::from_be_bytes([p[4], p[5]]), 18, "ApiVersions");
        let (reqs, whole) = kafka_frames(c, client, true);
        assert!(whole, "the client's plaintext is whole Kafka frames");
        requests.extend(reqs);
        let (resps, whole) = kafka_frames(c, client.reverse(), false);
        assert!(whole, "the server's plaintext is whole Kafka frames");
        responses.extend(resps.into_iter().map(|(f, _, corr)| (f, corr)));
    }
    let rows = std::fs::read_to_string(dir.join("aiokafka_tansu_tls12.tshark.tsv")).unwrap();
    let mut want_req = BTreeSet::new();
    let mut want_resp = BTreeSet::new();
    for line in rows.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let frame: u64 = f[0].parse().unwrap();
        let corr: i32 = f[9].parse().unwrap();
        if !f[6].is_empty() {
            want_req.insert((frame, f[6].parse::<i16>().unwrap(), corr));
        } else if !f[7].is_empty() {
            want_resp.insert((frame, corr));
        }
    }
    assert_eq!(requests, want_req);
    assert_eq!(responses, want_resp);
    let all: Vec<u8> = conns.iter().flat_map(|c| c.plain.concat()).collect();
    assert!(
        all.windows(9).any(|w| w == b"aio-admin"),
        "client ids in clear"
    );
    // The produced values are in gzip-compressed batches: not in clear, but
    // in the gzip streams of the plaintext.
    assert!(!all.windows(7).any(|w| w == b"aio msg"));
    let mut found = 0;
    for (i, _) in all
        .windows(3)
        .enumerate()
        .filter(|(_, w)| *w == [0x1f, 0x8b, 8])
    {
        let mut text = Vec::new();
        let mut gz = flate2::read::GzDecoder::new(&all[i..]);
        let _ = std::io::Read::read_to_end(&mut gz, &mut text);
        if text.windows(7).any(|w| w == b"aio msg") {
            found += 1;
        }
    }
    assert!(found > 0, "gzip batches holding `aio msg` values");
}

/// A capture of `samples/tls/record.py`: the plaintext equals what the
/// client and the server sent, byte for byte.
fn check_sample(name: &str, version: u16, cipher: u16) {
    let dir = common::samples_dir().join("tls");
    let conns = decrypt(
        &dir.join(format!("{name}.pcap")),
        &dir.join(format!("{name}.keys")),
    );
    assert_eq!(conns.len(), 1);
    let c = &conns[0];
    let i = info(c);
    assert_eq!(i.version, Some(version), "{name}");
    assert_eq!(i.cipher, Some(cipher), "{name}");
    assert_eq!(i.keys, KeyState::Found, "{name}");
    assert_eq!(i.sni.as_deref(), Some("broker.example"));
    assert_eq!(i.undecryptable_records, 0, "{name}: {:?}", c.events);
    assert!(c.events.iter().any(|(_, e)| *e == TlsEvent::HandshakeDone));
    let client = std::fs::read(dir.join(format!("{name}.client"))).unwrap();
    let server = std::fs::read(dir.join(format!("{name}.server"))).unwrap();
    assert!(
        c.plain[Dir::AtoB.index()] == client,
        "{name}: client plaintext"
    );
    assert!(
        c.plain[Dir::BtoA.index()] == server,
        "{name}: server plaintext"
    );
}

#[test]
fn tls13_aes128gcm_sample() {
    check_sample("tls13_aes128gcm", 0x0304, 0x1301);
}

#[test]
fn tls13_chacha20_sample() {
    check_sample("tls13_chacha20", 0x0304, 0x1303);
}

#[test]
fn tls12_chacha20_sample() {
    check_sample("tls12_chacha20", 0x0303, 0xCCA8);
}

#[test]
fn tls12_cbc_sha_encrypt_then_mac_sample() {
    check_sample("tls12_cbc_sha_etm", 0x0303, 0xC013);
}

#[test]
fn tls12_cbc_sha384_mac_then_encrypt_sample() {
    check_sample("tls12_cbc_sha384_mte", 0x0303, 0xC028);
}
