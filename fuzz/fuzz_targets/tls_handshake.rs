//! The ClientHello/ServerHello parsing path of `tls::TlsConn`: the input is
//! cut in two (at the offset its first byte gives) into a ClientHello body
//! and a ServerHello body, each wrapped in a well-formed handshake message
//! and record, then an application data record follows in each direction.
//! `TlsConn::is_client_hello` is also asked about the raw input.
//!
//! Checks: no panic; the SNI and ALPN kept are bounded.
#![no_main]

use kwire::capture::{PacketRef, Timestamp};
use kwire::tcp::Dir;
use kwire::tls::{KeyLog, MAX_ALPN, TlsConn, TlsOut};
use libfuzzer_sys::fuzz_target;

fn record(ty: u8, body: &[u8]) -> Vec<u8> {
    let body = &body[..body.len().min(1 << 14)];
    let mut r = vec![ty, 3, 3];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

fn handshake(ty: u8, body: &[u8]) -> Vec<u8> {
    let body = &body[..body.len().min((1 << 14) - 4)];
    let l = body.len() as u32;
    let mut m = vec![ty, (l >> 16) as u8, (l >> 8) as u8, l as u8];
    m.extend_from_slice(body);
    record(22, &m)
}

fuzz_target!(|data: &[u8]| {
    let _ = TlsConn::is_client_hello(data);
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(rest.len());
    let (ch, sh) = rest.split_at(cut);
    let mut keys = KeyLog::from_text(
        "CLIENT_RANDOM 0000000000000000000000000000000000000000000000000000000000000000 00ff\n",
    );
    let mut conn = TlsConn::new(Dir::AtoB);
    let at = PacketRef {
        frame: 1,
        ts: Timestamp::new(0, 0),
    };
    let mut sink = |_: TlsOut<'_>| {};
    conn.data(Dir::AtoB, &handshake(1, ch), at, &mut keys, &mut sink);
    conn.data(Dir::BtoA, &handshake(2, sh), at, &mut keys, &mut sink);
    conn.data(Dir::BtoA, &record(20, &[1]), at, &mut keys, &mut sink);
    conn.data(Dir::AtoB, &record(23, &[0; 40]), at, &mut keys, &mut sink);
    conn.data(Dir::BtoA, &record(23, sh), at, &mut keys, &mut sink);
    let info = conn.info();
    assert!(info.alpn.len() <= MAX_ALPN);
});
