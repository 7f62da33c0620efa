//! Correlation on hand-built Kafka byte streams: pipelined requests,
//! duplicate correlation ids, orphan responses, `acks=0` produce requests,
//! the reasons a request went unanswered, oversize messages and unknown API
//! keys. Each stream is fed as real packets through the whole pipeline.

mod common;

use std::net::SocketAddr;

use common::*;
use kwire::capture::Timestamp;
use kwire::session::{EventKind, Exchange, NoResponseReason, Record, SessionConfig, Status};

/// A request: Metadata v1 (header v1), client id "t", an empty topic list.
fn request(key: i16, version: i16, corr: i32, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(key.to_be_bytes());
    b.extend(version.to_be_bytes());
    b.extend(corr.to_be_bytes());
    b.extend(1i16.to_be_bytes());
    b.push(b't');
    b.extend(body);
    let mut v = (b.len() as u32).to_be_bytes().to_vec();
    v.extend(b);
    v
}

fn metadata(corr: i32) -> Vec<u8> {
    request(3, 1, corr, &[0, 0, 0, 0])
}

/// A response of `body_len` zero bytes: from 12, a whole Metadata v1 body
/// (no broker, controller 0, no topic); fewer is one that ends early.
fn response(corr: i32, body_len: usize) -> Vec<u8> {
    let mut b = corr.to_be_bytes().to_vec();
    b.extend(std::iter::repeat_n(0u8, body_len));
    let mut v = (b.len() as u32).to_be_bytes().to_vec();
    v.extend(b);
    v
}

fn run(conns: &[Conn], cfg: SessionConfig, tail: &[(Timestamp, Vec<u8>)]) -> Vec<Record> {
    let mut packets = build(conns, &|_, _, len| vec![len]);
    packets.extend_from_slice(tail);
    run_packets(&packets, cfg).0
}

fn ex(recs: &[Record]) -> Vec<&Exchange> {
    exchanges(recs)
}

fn events<'a>(recs: &'a [Record], ty: &str) -> Vec<&'a EventKind> {
    recs.iter()
        .filter_map(|r| match r {
            Record::Event(e) if e.kind.type_name() == ty => Some(&e.kind),
            _ => None,
        })
        .collect()
}

fn c(port: u16) -> SocketAddr {
    SocketAddr::from(([10, 1, 0, 1], port))
}

fn b() -> SocketAddr {
    SocketAddr::from(([10, 1, 0, 2], 9092))
}

#[test]
fn pipelined_requests_pair_in_order() {
    let mut client = Vec::new();
    for corr in 1..=3 {
        client.extend(metadata(corr));
    }
    let mut server = Vec::new();
    for corr in 1..=3 {
        server.extend(response(corr, 20 + corr as usize));
    }
    let recs = run(
        &[Conn {
            client: c(40000),
            server: b(),
            runs: vec![(true, client), (false, server)],
        }],
        SessionConfig::default(),
        &[],
    );
    let e = ex(&recs);
    assert_eq!(e.len(), 3);
    for (i, x) in e.iter().enumerate() {
        assert_eq!(x.correlation_id, i as i32 + 1);
        assert_eq!(x.status, Status::Ok);
        assert_eq!(x.response.unwrap().size, 4 + 21 + i as u32);
        assert_eq!(x.client_id.as_deref(), Some("t"));
    }
}

#[test]
fn duplicates_orphans_and_acks_zero() {
    let mut client = metadata(1);
    client.extend(metadata(5));
    client.extend(metadata(5));
    // Produce v3 with a null transactional id and acks=0: no response comes.
    client.extend(request(
        0,
        3,
        6,
        &[0xff, 0xff, 0, 0, 0, 0, 0x75, 0x30, 0, 0, 0, 0],
    ));
    let mut server = response(1, 12);
    server.extend(response(5, 12));
    server.extend(response(5, 13));
    server.extend(response(99, 4)); // never asked for
    let recs = run(
        &[Conn {
            client: c(40001),
            server: b(),
            runs: vec![(true, client), (false, server)],
        }],
        SessionConfig::default(),
        &[],
    );
    let e = ex(&recs);
    let fives: Vec<_> = e.iter().filter(|x| x.correlation_id == 5).collect();
    assert_eq!(fives.len(), 2);
    assert!(fives.iter().all(|x| x.status == Status::Ok));
    // First in, first answered.
    assert!(fives[0].request.frame <= fives[1].request.frame);
    assert_eq!(fives[0].response.unwrap().size, 16);
    assert_eq!(fives[1].response.unwrap().size, 17);
    assert_eq!(events(&recs, "duplicate_correlation_id").len(), 1);
    let produce = e.iter().find(|x| x.correlation_id == 6).unwrap();
    assert_eq!(produce.status, Status::NoResponseExpected);
    let orphans = events(&recs, "orphan_response");
    assert_eq!(orphans.len(), 1);
    assert!(matches!(
        orphans[0],
        EventKind::OrphanResponse {
            correlation_id: 99,
            ..
        }
    ));
}

#[test]
fn unanswered_requests_say_why() {
    // Closed with FIN (the builder ends every connection with FINs).
    let closed = Conn {
        client: c(40002),
        server: b(),
        runs: vec![
            (true, metadata(1)),
            (false, response(1, 4)),
            (true, metadata(2)),
        ],
    };
    let recs = run(&[closed], SessionConfig::default(), &[]);
    let e = ex(&recs);
    assert_eq!(e.len(), 2);
    assert_eq!(
        e[1].status,
        Status::NoResponse(NoResponseReason::ConnectionClosed)
    );
    // The capture ends with the connection open: drop the FINs.
    let open = Conn {
        client: c(40003),
        server: b(),
        runs: vec![
            (true, metadata(1)),
            (false, response(1, 4)),
            (true, metadata(2)),
        ],
    };
    let packets: Vec<_> = build(&[open], &|_, _, len| vec![len])
        .into_iter()
        .filter(|(_, p)| p[33] & FIN == 0)
        .collect();
    let (recs, _) = run_packets(&packets, SessionConfig::default());
    let e = ex(&recs);
    assert_eq!(
        e[1].status,
        Status::NoResponse(NoResponseReason::CaptureEnded)
    );
    // Reset: a RST from the broker after the second request.
    let reset = Conn {
        client: c(40004),
        server: b(),
        runs: vec![
            (true, metadata(1)),
            (false, response(1, 4)),
            (true, metadata(2)),
        ],
    };
    let mut packets: Vec<_> = build(std::slice::from_ref(&reset), &|_, _, len| vec![len])
        .into_iter()
        .filter(|(_, p)| p[33] & FIN == 0)
        .collect();
    let last_ts = packets.last().unwrap().0;
    // Broker's next sequence: ISN 5000 + 1 + response length.
    let seq = 5001 + response(1, 4).len() as u32;
    packets.push((
        last_ts,
        packet(reset.server, reset.client, seq, 0, 0x04, &[]),
    ));
    let (recs, _) = run_packets(&packets, SessionConfig::default());
    let e = ex(&recs);
    assert_eq!(
        e[1].status,
        Status::NoResponse(NoResponseReason::ConnectionReset)
    );
}

#[test]
fn oversize_messages_are_skipped_and_framing_kept() {
    let mut client = metadata(1);
    client.extend(request(3, 1, 2, &vec![0u8; 5000]));
    client.extend(metadata(3));
    let mut server = response(1, 12);
    server.extend(response(2, 6000));
    server.extend(response(3, 12));
    let cfg = SessionConfig {
        max_frame_size: 1000,
        ..SessionConfig::default()
    };
    let recs = run(
        &[Conn {
            client: c(40005),
            server: b(),
            runs: vec![(true, client), (false, server)],
        }],
        cfg,
        &[],
    );
    let too_large = events(&recs, "frame_too_large");
    assert_eq!(too_large.len(), 2, "{recs:?}");
    let e = ex(&recs);
    let answered: Vec<i32> = e
        .iter()
        .filter(|x| x.status == Status::Ok)
        .map(|x| x.correlation_id)
        .collect();
    assert_eq!(answered, vec![1, 3]);
    assert!(events(&recs, "out_of_sync").is_empty());
}

#[test]
fn unknown_api_keys_are_kept() {
    let mut client = metadata(1);
    client.extend(request(999, 0, 2, &[1, 2, 3]));
    let mut server = response(1, 4);
    server.extend(response(2, 4));
    let recs = run(
        &[Conn {
            client: c(40006),
            server: b(),
            runs: vec![(true, client), (false, server)],
        }],
        SessionConfig::default(),
        &[],
    );
    let e = ex(&recs);
    assert_eq!(e.len(), 2);
    assert_eq!(e[1].api_key.0, 999);
    assert_eq!(e[1].api_key.name(), "Unknown");
    assert_eq!(e[1].status, Status::Ok);
    assert_eq!(events(&recs, "unknown_api").len(), 1);
}

/// A framed raw SASL token (SaslHandshake v0 flow).
fn token(bytes: &[u8]) -> Vec<u8> {
    let mut v = (bytes.len() as u32).to_be_bytes().to_vec();
    v.extend(bytes);
    v
}

#[test]
fn legacy_sasl_tokens_are_not_kafka_messages() {
    // SaslHandshake v0 for PLAIN, answered with error 0 and the mechanisms.
    let handshake = request(17, 0, 2, &[0, 5, b'P', b'L', b'A', b'I', b'N']);
    let mut hs_resp = 2i32.to_be_bytes().to_vec();
    hs_resp.extend([0, 0, 0, 0, 0, 1, 0, 5, b'P', b'L', b'A', b'I', b'N']);
    let mut hs_resp_framed = (hs_resp.len() as u32).to_be_bytes().to_vec();
    hs_resp_framed.extend(hs_resp);
    let secret = b"s3cr3t-pa55";
    let mut plain = b"\0alice\0".to_vec();
    plain.extend(secret);
    let conn = Conn {
        client: c(40007),
        server: b(),
        runs: vec![
            (true, metadata(1)),
            (false, response(1, 12)),
            (true, handshake),
            (false, hs_resp_framed),
            (true, token(&plain)),
            (false, token(&[])), // the broker's empty reply
            (true, metadata(3)),
            (false, response(3, 12)),
        ],
    };
    let recs = run(&[conn], SessionConfig::default(), &[]);
    let e = ex(&recs);
    let apis: Vec<(i16, i32, Status)> = e
        .iter()
        .map(|x| (x.api_key.0, x.correlation_id, x.status))
        .collect();
    assert_eq!(
        apis,
        vec![(3, 1, Status::Ok), (17, 2, Status::Ok), (3, 3, Status::Ok)]
    );
    let tokens = events(&recs, "sasl_token");
    assert_eq!(tokens.len(), 2, "{recs:?}");
    for ty in [
        "orphan_response",
        "out_of_sync",
        "malformed_header",
        "unknown_api",
    ] {
        assert!(events(&recs, ty).is_empty(), "{ty}: {recs:?}");
    }
    // The token's bytes (a password) are not exported.
    let json: String = recs
        .iter()
        .map(|r| kwire::export::ndjson::to_json(r).to_string())
        .collect();
    assert!(!json.contains("s3cr3t"));
}
