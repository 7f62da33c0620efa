//! Connection attempts nobody accepts are news without `--port`: a client
//! whose broker is down leaves only SYNs answered by RST in a capture. An
//! endpoint that refused at least `MIN_REFUSALS` attempts and accepted
//! none, or one on a port Kafka commonly listens on, is taken for a broker
//! (unconfirmed: `detected_by` says how); fewer refusals on another port,
//! or an endpoint that accepted some other connection, stay unreported.

mod common;

use std::net::SocketAddr;

use common::*;
use kwire::capture::Timestamp;
use kwire::session::{
    DetectedBy, EventKind, KAFKA_COMMON_PORTS, MIN_REFUSALS, Record, SessionConfig,
};

const RST: u8 = 0x04;

fn addr(host: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, host], port))
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::new(1_700_000_000 + ms / 1000, (ms % 1000) as u32 * 1_000_000)
}

/// `n` attempts from successive client ports to `server`, each SYN
/// answered by RST+ACK 1 ms later, 100 ms apart, from `start_ms`.
fn refused(server: SocketAddr, n: u16, start_ms: i64) -> Vec<(Timestamp, Vec<u8>)> {
    let mut v = Vec::new();
    for i in 0..n {
        let client = addr(1, 40000 + i);
        let t = start_ms + i64::from(i) * 100;
        v.push((ts(t), packet(client, server, 1000, 0, SYN, &[])));
        v.push((ts(t + 1), packet(server, client, 0, 1001, RST | ACK, &[])));
    }
    v
}

/// A connection accepted by `server` that carries a line of text (not
/// Kafka) and ends with FINs.
fn accepted(server: SocketAddr, start_ms: i64) -> Vec<(Timestamp, Vec<u8>)> {
    let client = addr(1, 50000);
    let line = b"HELLO there, not kafka\r\n";
    let n = line.len() as u32;
    vec![
        (ts(start_ms), packet(client, server, 1000, 0, SYN, &[])),
        (
            ts(start_ms + 1),
            packet(server, client, 5000, 1001, SYN | ACK, &[]),
        ),
        (
            ts(start_ms + 2),
            packet(client, server, 1001, 5001, ACK | PSH, line),
        ),
        (
            ts(start_ms + 3),
            packet(server, client, 5001, 1001 + n, ACK | PSH, line),
        ),
        (
            ts(start_ms + 4),
            packet(client, server, 1001 + n, 5001 + n, FIN | ACK, &[]),
        ),
        (
            ts(start_ms + 5),
            packet(server, client, 5001 + n, 1002 + n, FIN | ACK, &[]),
        ),
    ]
}

/// The `detected_by` of every connection opened, in order.
fn opened(packets: &[(Timestamp, Vec<u8>)]) -> Vec<DetectedBy> {
    let (records, _) = run_packets(packets, SessionConfig::default());
    records
        .iter()
        .filter_map(|r| match r {
            Record::Event(e) => match &e.kind {
                EventKind::ConnectionOpen { detected_by, .. } => Some(*detected_by),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn an_endpoint_that_refuses_every_attempt_is_taken_for_a_broker() {
    let server = addr(2, 36905);
    let n = MIN_REFUSALS as u16 + 2;
    assert_eq!(
        opened(&refused(server, n, 0)),
        vec![DetectedBy::Refusals; n as usize]
    );
}

#[test]
fn fewer_refusals_on_another_port_are_not_kafka() {
    let server = addr(2, 36905);
    assert!(opened(&refused(server, MIN_REFUSALS as u16 - 1, 0)).is_empty());
}

#[test]
fn one_refusal_on_a_common_kafka_port_is_enough() {
    for port in KAFKA_COMMON_PORTS {
        assert_eq!(
            opened(&refused(addr(2, port), 1, 0)),
            vec![DetectedBy::CommonPort],
            "port {port}"
        );
    }
}

#[test]
fn an_endpoint_that_accepted_something_else_is_not_a_dead_broker() {
    let server = addr(2, 36905);
    let mut p = accepted(server, 0);
    p.extend(refused(server, MIN_REFUSALS as u16 + 2, 1000));
    assert!(opened(&p).is_empty());
}
