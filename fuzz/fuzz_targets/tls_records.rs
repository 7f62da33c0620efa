//! TLS record streams of one connection: arbitrary bytes, cut into chunks
//! and gaps for both directions, into a `tls::TlsConn` with a small fixed
//! key log (TLS 1.2 and 1.3 secrets for the client random 0x11 * 32).
//!
//! ```text
//! ops, 2 bytes each plus data:
//!   o0: bit 0 server->client; bit 1 a gap of o1 * 97 bytes (no data follows)
//!   o1: length; that many data bytes follow
//! ```
//!
//! Checks: no panic; the bytes held stay within `tls::MAX_BUFFERED`; every
//! plaintext delivery is at most `MAX_PLAINTEXT_LEN` + 256 bytes.
#![no_main]

use kwire::capture::{PacketRef, Timestamp};
use kwire::tcp::Dir;
use kwire::tls::{KeyLog, MAX_BUFFERED, MAX_CIPHERTEXT_LEN, TlsConn, TlsOut};
use libfuzzer_sys::fuzz_target;

const KEYS: &str = "\
CLIENT_RANDOM 1111111111111111111111111111111111111111111111111111111111111111 \
000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f
CLIENT_HANDSHAKE_TRAFFIC_SECRET 1111111111111111111111111111111111111111111111111111111111111111 \
0101010101010101010101010101010101010101010101010101010101010101
SERVER_HANDSHAKE_TRAFFIC_SECRET 1111111111111111111111111111111111111111111111111111111111111111 \
0202020202020202020202020202020202020202020202020202020202020202
CLIENT_TRAFFIC_SECRET_0 1111111111111111111111111111111111111111111111111111111111111111 \
0303030303030303030303030303030303030303030303030303030303030303
SERVER_TRAFFIC_SECRET_0 1111111111111111111111111111111111111111111111111111111111111111 \
0404040404040404040404040404040404040404040404040404040404040404
";

fuzz_target!(|data: &[u8]| {
    let mut keys = KeyLog::from_text(KEYS);
    let mut conn = TlsConn::new(Dir::AtoB);
    let mut rest = data;
    let mut frame = 0;
    let mut sink = |o: TlsOut<'_>| {
        if let TlsOut::Plain { data, .. } = o {
            assert!(data.len() <= MAX_CIPHERTEXT_LEN);
        }
    };
    while let [o0, o1, tail @ ..] = rest {
        frame += 1;
        let at = PacketRef {
            frame,
            ts: Timestamp::new(0, 0),
        };
        let dir = if o0 & 1 == 0 { Dir::AtoB } else { Dir::BtoA };
        if o0 & 2 != 0 {
            conn.gap(dir, u64::from(*o1) * 97, at, &mut sink);
            rest = tail;
        } else {
            let n = usize::from(*o1).min(tail.len());
            let (chunk, after) = tail.split_at(n);
            conn.data(dir, chunk, at, &mut keys, &mut sink);
            rest = after;
        }
        assert!(conn.used_bytes() <= MAX_BUFFERED);
    }
    let _ = conn.info().clone();
});
