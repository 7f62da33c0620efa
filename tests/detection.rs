//! Kafka is recognised from its traffic on any port, and nothing else is
//! taken for Kafka: HTTP, TLS, SSH, PostgreSQL, Redis, a length-prefixed
//! binary protocol, and random bytes, each with and without the handshake
//! captured, give no Kafka connection and no exchange, while real Kafka
//! connections replayed on ports 80 and 443 among them are found in full.

mod common;

use std::net::SocketAddr;

use common::*;
use kwire::capture::Timestamp;
use kwire::session::{EventKind, Record, SessionConfig};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn addr(host: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, host], port))
}

fn conn(client: SocketAddr, server: SocketAddr, runs: Vec<(bool, Vec<u8>)>) -> Conn {
    Conn {
        client,
        server,
        runs,
    }
}

/// A conversation: its server port and its runs of (from client, bytes).
type Conversation = (u16, Vec<(bool, Vec<u8>)>);

/// Conversations of other protocols.
fn other_protocols(rng: &mut Rng) -> Vec<Conversation> {
    let mut v = Vec::new();
    // HTTP/1.1 keep-alive.
    let mut http = Vec::new();
    for i in 0..5 {
        http.push((
            true,
            format!("GET /api/v1/items/{i} HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n")
                .into_bytes(),
        ));
        let body = "x".repeat(100 + i * 37);
        http.push((
            false,
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        ));
    }
    v.push((80, http));
    // TLS: handshake records then application data, as the record layer
    // frames them (type, version, 2-byte length).
    let mut tls = Vec::new();
    let record = |t: u8, body: Vec<u8>| {
        let mut r = vec![t, 3, 3, (body.len() >> 8) as u8, body.len() as u8];
        r.extend(body);
        r
    };
    let mut hello = vec![1, 0, 1, 0xfc, 3, 3];
    hello.extend(rng.bytes(506));
    tls.push((true, {
        let mut r = vec![0x16, 3, 1, 2, 0];
        r.extend(hello);
        r
    }));
    tls.push((false, record(0x16, rng.bytes(90))));
    tls.push((false, record(0x14, vec![1])));
    for _ in 0..6 {
        tls.push((true, record(0x17, rng.bytes(300))));
        tls.push((false, record(0x17, rng.bytes(1200))));
    }
    v.push((443, tls));
    // SSH banners then binary packets.
    let mut ssh = vec![
        (false, b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".to_vec()),
        (true, b"SSH-2.0-OpenSSH_9.2p1\r\n".to_vec()),
    ];
    for _ in 0..4 {
        ssh.push((true, rng.bytes(200)));
        ssh.push((false, rng.bytes(400)));
    }
    v.push((22, ssh));
    // PostgreSQL: the startup message reads as Metadata v0.
    let mut pg = Vec::new();
    let startup = b"\x00\x03\x00\x00user\x00postgres\x00database\x00app\x00\x00";
    let mut m = ((startup.len() + 4) as u32).to_be_bytes().to_vec();
    m.extend(startup);
    pg.push((true, m));
    pg.push((false, b"R\x00\x00\x00\x08\x00\x00\x00\x00S\x00\x00\x00\x16application_name\x00\x00Z\x00\x00\x00\x05I".to_vec()));
    pg.push((true, b"Q\x00\x00\x00\x0dselect 1;\x00".to_vec()));
    pg.push((false, b"T\x00\x00\x00\x21\x00\x01?column?\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x00".to_vec()));
    v.push((5432, pg));
    // Redis.
    let mut redis = Vec::new();
    for i in 0..10 {
        redis.push((
            true,
            format!("*2\r\n$3\r\nGET\r\n$5\r\nkey:{i}\r\n").into_bytes(),
        ));
        redis.push((false, format!("$6\r\nvalue{i}\r\n").into_bytes()));
    }
    v.push((6379, redis));
    // A binary protocol with 4-byte big-endian length prefixes (like Kafka's)
    // and a request id echoed back, but other contents.
    let mut lp = Vec::new();
    for id in 1u32..20 {
        let mut body = vec![0x7f, 0x01];
        body.extend(id.to_be_bytes());
        body.extend(rng.bytes(30 + (id as usize * 13) % 200));
        let mut req = (body.len() as u32).to_be_bytes().to_vec();
        req.extend(body);
        lp.push((true, req));
        let mut resp_body = id.to_be_bytes().to_vec();
        resp_body.extend(rng.bytes(50));
        let mut resp = (resp_body.len() as u32).to_be_bytes().to_vec();
        resp.extend(resp_body);
        lp.push((false, resp));
    }
    v.push((7000, lp));
    // Random bytes, many connections, many sizes.
    for i in 0..60u16 {
        let mut r = Vec::new();
        for j in 0..(1 + i % 7) {
            r.push((
                j % 2 == 0,
                rng.bytes(1 + ((i as usize * 97 + j as usize * 31) % 3000)),
            ));
        }
        v.push((10_000 + i, r));
    }
    v
}

#[test]
fn other_protocols_are_not_kafka() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let convs = other_protocols(&mut rng);
    let conns: Vec<Conn> = convs
        .into_iter()
        .enumerate()
        .map(|(i, (port, runs))| conn(addr(1, 40_000 + i as u16), addr(2, port), runs))
        .collect();
    let packets = build(&conns, &|_, _, len| vec![len]);
    let (recs, summary) = run_packets(&packets, SessionConfig::default());
    assert_eq!(summary.connections, conns.len() as u64);
    assert_eq!(summary.kafka_connections, 0, "{recs:?}");
    assert_eq!(summary.exchanges, 0);
    assert!(recs.iter().all(|r| !matches!(r, Record::Exchange(_))));

    // The same conversations joined mid-stream (no handshake), in small
    // segments: still nothing.
    let mid: Vec<(Timestamp, Vec<u8>)> = build(&conns, &|_, _, len| {
        let mut v = vec![536; len / 536];
        if len % 536 != 0 {
            v.push(len % 536);
        }
        v
    })
    .into_iter()
    .filter(|(_, p)| p[33] & SYN == 0)
    .collect();
    let (_, summary) = run_packets(&mid, SessionConfig::default());
    assert_eq!(summary.kafka_connections, 0);
    assert_eq!(summary.exchanges, 0);
}

#[test]
fn kafka_is_found_on_any_port_among_other_traffic() {
    let mut rng = Rng(7);
    let mut conns: Vec<Conn> = other_protocols(&mut rng)
        .into_iter()
        .enumerate()
        .map(|(i, (port, runs))| conn(addr(1, 40_000 + i as u16), addr(2, port), runs))
        .collect();
    // Real Kafka connections (kafka-python's), moved to ports 80 and 443.
    let kafka = streams("kafka_python");
    let mut expected = 0;
    for (i, k) in kafka.into_iter().enumerate() {
        let port = if i % 2 == 0 { 80 } else { 443 };
        let requests = k
            .runs
            .iter()
            .filter(|(c, _)| *c)
            .map(|(_, b)| b.len())
            .sum::<usize>();
        assert!(requests > 0);
        conns.insert(
            i * 3,
            conn(
                addr(3, 50_000 + i as u16),
                addr(4 + (i % 3) as u8, port),
                k.runs,
            ),
        );
        expected += 1;
    }
    let packets = build(&conns, &|_, _, len| vec![len]);
    let (recs, summary) = run_packets(&packets, SessionConfig::default());
    assert_eq!(summary.kafka_connections, expected);
    let (want, _) = analyze(&corpus_dir().join("kafka_python.pcap"), &[]);
    assert_eq!(summary.exchanges, exchanges(&want).len() as u64);
    assert_eq!(summary.answered, summary.exchanges);
    for r in &recs {
        if let Record::Event(e) = r
            && let EventKind::ConnectionOpen { broker, .. } = e.kind
        {
            assert!(matches!(broker.port(), 80 | 443), "{broker}");
        }
    }
}

#[test]
fn port_hint_forces_kafka_without_any_answer() {
    // Requests only (the broker's side was not captured): not confirmed by
    // traffic, yet Kafka's requests (known versions, a client id, ApiVersions
    // first): reported as Kafka unconfirmed (`unanswered`) at the end;
    // confirmed with --port.
    let kafka = streams("kafka_python");
    let k = &kafka[0];
    let runs: Vec<(bool, Vec<u8>)> = k.runs.iter().filter(|(c, _)| *c).cloned().collect();
    let n = runs.len();
    let c = conn(k.client, k.server, runs);
    let packets = build(std::slice::from_ref(&c), &|_, _, len| vec![len]);
    let (recs, summary) = run_packets(&packets, SessionConfig::default());
    assert_eq!(summary.kafka_connections, 1);
    assert!(summary.exchanges >= n as u64, "{recs:?}");
    assert_eq!(summary.answered, 0);
    assert!(recs.iter().any(|r| matches!(
        r,
        Record::Event(e) if matches!(
            e.kind,
            EventKind::ConnectionOpen { detected_by: kwire::session::DetectedBy::Unanswered, .. }
        )
    )));
    let cfg = SessionConfig {
        kafka_ports: vec![k.server.port()],
        ..SessionConfig::default()
    };
    let (recs, summary) = run_packets(&packets, cfg);
    assert_eq!(summary.kafka_connections, 1);
    assert!(summary.exchanges >= n as u64, "{recs:?}");
    assert_eq!(summary.answered, 0);
}
