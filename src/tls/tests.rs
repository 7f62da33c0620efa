//! A synthetic TLS 1.3 session (TLS_AES_128_GCM_SHA256, secrets of our own
//! choosing, records sealed here with aes-gcm), and small byte constants.

use super::crypto::{Hash, hkdf_expand_label};
use super::*;
use aes_gcm::Aes128Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce};

const CR: [u8; 32] = [0x11; 32];
const SR: [u8; 32] = [0x22; 32];
const CHTS: [u8; 32] = [1; 32];
const SHTS: [u8; 32] = [2; 32];
const CTS0: [u8; 32] = [3; 32];
const STS0: [u8; 32] = [4; 32];

fn at(frame: u64) -> PacketRef {
    PacketRef {
        frame,
        ts: crate::capture::Timestamp::new(0, 0),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn keylog() -> KeyLog {
    let r = hex(&CR);
    KeyLog::from_text(&format!(
        "# test\nCLIENT_HANDSHAKE_TRAFFIC_SECRET {r} {}\nSERVER_HANDSHAKE_TRAFFIC_SECRET {r} {}\n\
         CLIENT_TRAFFIC_SECRET_0 {r} {}\nSERVER_TRAFFIC_SECRET_0 {r} {}\n",
        hex(&CHTS),
        hex(&SHTS),
        hex(&CTS0),
        hex(&STS0)
    ))
}

fn record(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![ty, 3, 3];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

fn hs_msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let l = body.len() as u32;
    let mut m = vec![ty, (l >> 16) as u8, (l >> 8) as u8, l as u8];
    m.extend_from_slice(body);
    m
}

fn ext(ty: u16, body: &[u8]) -> Vec<u8> {
    let mut e = ty.to_be_bytes().to_vec();
    e.extend_from_slice(&(body.len() as u16).to_be_bytes());
    e.extend_from_slice(body);
    e
}

fn client_hello() -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&CR);
    b.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    let name = b"broker.example";
    let mut sni = ((name.len() + 3) as u16).to_be_bytes().to_vec();
    sni.push(0);
    sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni.extend_from_slice(name);
    let mut exts = ext(0, &sni);
    exts.extend(ext(16, &[0, 6, 5, b'k', b'a', b'f', b'k', b'a']));
    exts.extend(ext(43, &[2, 3, 4]));
    b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    b.extend(exts);
    let mut r = hs_msg(1, &b);
    r = {
        let mut rec = vec![22, 3, 1];
        rec.extend_from_slice(&(r.len() as u16).to_be_bytes());
        rec.append(&mut r);
        rec
    };
    r
}

fn server_hello() -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&SR);
    b.extend_from_slice(&[0, 0x13, 0x01, 0]);
    let exts = ext(43, &[3, 4]);
    b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    b.extend(exts);
    record(22, &hs_msg(2, &b))
}

/// A TLS 1.3 record of inner type `ty` sealed with `secret` at `seq`.
fn seal(secret: &[u8], seq: u64, ty: u8, content: &[u8]) -> Vec<u8> {
    let key = hkdf_expand_label(Hash::Sha256, secret, b"key", b"", 16).unwrap();
    let iv = hkdf_expand_label(Hash::Sha256, secret, b"iv", b"", 12).unwrap();
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&iv);
    for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
        *n ^= s;
    }
    let mut buf = content.to_vec();
    buf.push(ty);
    buf.extend_from_slice(&[0, 0]); // padding
    let len = (buf.len() + 16) as u16;
    let header = [23, 3, 3, (len >> 8) as u8, len as u8];
    let a = Aes128Gcm::new_from_slice(&key).unwrap();
    let n = Nonce::<Aes128Gcm>::try_from(&nonce[..]).unwrap();
    let tag = a
        .encrypt_inout_detached(&n, &header, buf.as_mut_slice().into())
        .unwrap();
    let mut r = header.to_vec();
    r.extend_from_slice(&buf);
    r.extend_from_slice(&tag);
    r
}

/// A Kafka-like frame of `n` bytes.
fn frame(i: u8, n: usize) -> Vec<u8> {
    let mut f = (n as u32).to_be_bytes().to_vec();
    f.extend((0..n).map(|k| i.wrapping_mul(31).wrapping_add(k as u8)));
    f
}

struct Session {
    client: Vec<Vec<u8>>,
    server: Vec<Vec<u8>>,
    client_plain: Vec<Vec<u8>>,
    server_plain: Vec<Vec<u8>>,
}

fn session() -> Session {
    let finished = hs_msg(20, &[0xaa; 32]);
    let mut ee_fin = hs_msg(8, &[0, 0]);
    ee_fin.extend_from_slice(&finished);
    let mut client = vec![
        client_hello(),
        record(20, &[1]),
        seal(&CHTS, 0, 22, &finished),
    ];
    let mut server = vec![
        server_hello(),
        record(20, &[1]),
        seal(&SHTS, 0, 22, &ee_fin),
    ];
    let mut client_plain = Vec::new();
    let mut server_plain = Vec::new();
    for i in 0..4u8 {
        let f = frame(i, 40 + 300 * usize::from(i));
        client.push(seal(&CTS0, u64::from(i), 23, &f));
        client_plain.push(f);
        let g = frame(100 + i, 20 + 100 * usize::from(i));
        server.push(seal(&STS0, u64::from(i), 23, &g));
        server_plain.push(g);
    }
    // KeyUpdate, then a record under the next secret.
    client.push(seal(&CTS0, 4, 22, &hs_msg(24, &[0])));
    let next = hkdf_expand_label(Hash::Sha256, &CTS0, b"traffic upd", b"", 32).unwrap();
    let f = frame(9, 77);
    client.push(seal(&next, 0, 23, &f));
    client_plain.push(f);
    Session {
        client,
        server,
        client_plain,
        server_plain,
    }
}

#[derive(Default, Debug)]
struct Got {
    plain: [Vec<u8>; 2],
    /// (dir, frame, len) of each plaintext delivery.
    deliveries: Vec<(Dir, u64, usize)>,
    events: Vec<(Dir, TlsEvent)>,
}

impl Got {
    fn sink(&mut self) -> impl FnMut(TlsOut<'_>) + '_ {
        |o| match o {
            TlsOut::Plain { dir, data, at } => {
                self.plain[dir.index()].extend_from_slice(data);
                self.deliveries.push((dir, at.frame, data.len()));
            }
            TlsOut::Event { dir, event, .. } => self.events.push((dir, event)),
        }
    }
}

/// Feeds the session: client hello, server flight, client rest, server
/// rest, each direction's bytes in chunks of `chunk`.
fn run(s: &Session, chunk: usize, keys: &mut KeyLog) -> (TlsConn, Got) {
    let mut conn = TlsConn::new(Dir::AtoB);
    let mut got = Got::default();
    let mut frame = 0;
    let steps: [(Dir, Vec<u8>); 4] = [
        (Dir::AtoB, s.client[0].clone()),
        (Dir::BtoA, s.server[..3].concat()),
        (Dir::AtoB, s.client[1..].concat()),
        (Dir::BtoA, s.server[3..].concat()),
    ];
    for (dir, bytes) in steps {
        for c in bytes.chunks(chunk) {
            frame += 1;
            conn.data(dir, c, at(frame), keys, &mut got.sink());
        }
    }
    (conn, got)
}

#[test]
fn tls13_session_decrypts() {
    let s = session();
    let (conn, got) = run(&s, usize::MAX, &mut keylog());
    assert_eq!(got.plain[0], s.client_plain.concat());
    assert_eq!(got.plain[1], s.server_plain.concat());
    assert!(
        got.events
            .iter()
            .any(|(_, e)| *e == TlsEvent::HandshakeDone)
    );
    assert!(
        !got.events
            .iter()
            .any(|(_, e)| *e == TlsEvent::DecryptFailed),
        "{:?}",
        got.events
    );
    let i = conn.info();
    assert_eq!(i.version, Some(0x0304));
    assert_eq!(i.cipher, Some(0x1301));
    assert_eq!(i.sni.as_deref(), Some("broker.example"));
    assert_eq!(i.alpn, vec!["kafka".to_string()]);
    assert_eq!(i.keys, KeyState::Found);
    assert!(i.handshake_seen && i.server_answered);
    assert_eq!(i.undecryptable_records, 0);
    assert_eq!(
        i.decrypted_bytes,
        got.plain.iter().map(|p| p.len() as u64).sum::<u64>()
    );
}

/// The output does not depend on how the bytes were split.
#[test]
fn chunking_does_not_matter() {
    let s = session();
    let (_, whole) = run(&s, usize::MAX, &mut keylog());
    for chunk in [1, 2, 3, 5, 7, 64, 1000] {
        let (_, got) = run(&s, chunk, &mut keylog());
        assert_eq!(got.plain, whole.plain, "chunk {chunk}");
        assert_eq!(got.events, whole.events, "chunk {chunk}");
        let lens: Vec<_> = got.deliveries.iter().map(|d| (d.0, d.2)).collect();
        let want: Vec<_> = whole.deliveries.iter().map(|d| (d.0, d.2)).collect();
        assert_eq!(lens, want, "chunk {chunk}");
    }
    // Byte by byte, each record is delivered with the frame of its last byte.
    let (_, got) = run(&s, 1, &mut keylog());
    let first_app_frame =
        (s.client[0].len() + s.server[..3].concat().len() + s.client[1..4].concat().len()) as u64;
    assert_eq!(
        got.deliveries[0],
        (Dir::AtoB, first_app_frame, s.client_plain[0].len())
    );
}

#[test]
fn keys_missing_is_reported_once() {
    let s = session();
    let (conn, got) = run(&s, 100, &mut KeyLog::from_text(""));
    assert!(got.plain.iter().all(Vec::is_empty));
    let missing = got
        .events
        .iter()
        .filter(|(_, e)| *e == TlsEvent::KeysMissing)
        .count();
    assert_eq!(missing, 1);
    assert_eq!(conn.info().keys, KeyState::Missing);
    // Every protected record: 1 + 5 + 1 from the client, 1 + 4 from the server.
    assert_eq!(conn.info().undecryptable_records, 12);
    assert!(
        !got.events
            .iter()
            .any(|(_, e)| *e == TlsEvent::DecryptFailed)
    );
}

#[test]
fn gap_resyncs_and_finds_the_sequence_number() {
    let s = session();
    let mut keys = keylog();
    let mut conn = TlsConn::new(Dir::AtoB);
    let mut got = Got::default();
    conn.data(Dir::AtoB, &s.client[0], at(1), &mut keys, &mut got.sink());
    conn.data(
        Dir::BtoA,
        &s.server[..3].concat(),
        at(2),
        &mut keys,
        &mut got.sink(),
    );
    // Client: CCS, Finished, app 0 whole; app 1: 3 bytes, then lost with
    // app 2 and the first 2 bytes of app 3; then the rest.
    conn.data(
        Dir::AtoB,
        &s.client[1..4].concat(),
        at(3),
        &mut keys,
        &mut got.sink(),
    );
    conn.data(
        Dir::AtoB,
        &s.client[4][..3],
        at(4),
        &mut keys,
        &mut got.sink(),
    );
    let lost = s.client[4].len() - 3 + s.client[5].len() + 2;
    conn.gap(Dir::AtoB, lost as u64, at(5), &mut got.sink());
    conn.data(
        Dir::AtoB,
        &s.client[6][2..],
        at(6),
        &mut keys,
        &mut got.sink(),
    );
    conn.data(
        Dir::AtoB,
        &s.client[7..].concat(),
        at(7),
        &mut keys,
        &mut got.sink(),
    );
    assert!(
        got.events
            .iter()
            .any(|(_, e)| matches!(e, TlsEvent::Resync { .. })),
        "{:?}",
        got.events
    );
    assert!(
        !got.events
            .iter()
            .any(|(_, e)| *e == TlsEvent::DecryptFailed)
    );
    // app 0, then (after app 3 is skipped) the KeyUpdate is decrypted at
    // seq 4 and the last record under the next secret.
    let want = [s.client_plain[0].clone(), s.client_plain[4].clone()].concat();
    assert_eq!(got.plain[0], want);
}

#[test]
fn client_hello_detection() {
    let ch = client_hello();
    assert_eq!(TlsConn::is_client_hello(&ch), Some(true));
    for n in 0..6 {
        assert_eq!(TlsConn::is_client_hello(&ch[..n]), None, "prefix {n}");
    }
    assert_eq!(TlsConn::is_client_hello(&ch[..6]), Some(true));
    // A Kafka request (size prefix), an HTTP request, a ServerHello.
    assert_eq!(TlsConn::is_client_hello(&[0, 0, 0, 19, 0, 18]), Some(false));
    assert_eq!(TlsConn::is_client_hello(b"GET / HTTP/1.1"), Some(false));
    assert_eq!(TlsConn::is_client_hello(&server_hello()), Some(false));
    // Bad version, zero and oversized lengths.
    assert_eq!(TlsConn::is_client_hello(&[22, 3, 9, 0, 50, 1]), Some(false));
    assert_eq!(TlsConn::is_client_hello(&[22, 3, 1, 0, 0, 1]), Some(false));
    assert_eq!(
        TlsConn::is_client_hello(&[22, 3, 1, 0xff, 0xff, 1]),
        Some(false)
    );
    assert_eq!(TlsConn::is_client_hello(&[22, 2]), Some(false));
}

#[test]
fn alerts_not_tls_and_oversized_records() {
    let mut keys = KeyLog::from_text("");
    let mut conn = TlsConn::new(Dir::AtoB);
    let mut got = Got::default();
    conn.data(
        Dir::AtoB,
        &client_hello(),
        at(1),
        &mut keys,
        &mut got.sink(),
    );
    // Server: a fatal handshake_failure alert in the clear.
    conn.data(
        Dir::BtoA,
        &[21, 3, 3, 0, 2, 2, 40],
        at(2),
        &mut keys,
        &mut got.sink(),
    );
    let a = &conn.info().alerts[0];
    assert_eq!(
        (a.level, a.description, a.name),
        (2, 40, "handshake_failure")
    );
    assert_eq!((a.from, a.encrypted), (Dir::BtoA, false));
    assert!(matches!(&got.events[0].1, TlsEvent::Alert(_)));

    let mut conn = TlsConn::new(Dir::AtoB);
    let mut got = Got::default();
    conn.data(
        Dir::BtoA,
        b"HTTP/1.1 400 Bad",
        at(1),
        &mut keys,
        &mut got.sink(),
    );
    assert_eq!(got.events, vec![(Dir::BtoA, TlsEvent::NotTls)]);

    let mut conn = TlsConn::new(Dir::AtoB);
    let mut got = Got::default();
    conn.data(
        Dir::AtoB,
        &client_hello(),
        at(1),
        &mut keys,
        &mut got.sink(),
    );
    conn.data(
        Dir::AtoB,
        &[23, 3, 3, 0xff, 0xff, 0],
        at(2),
        &mut keys,
        &mut got.sink(),
    );
    assert_eq!(
        got.events,
        vec![(Dir::AtoB, TlsEvent::RecordTooLarge(0xffff))]
    );
    for e in &got.events {
        assert!(!e.1.describe().is_empty());
    }
}

/// Truncated at every offset and with every byte flipped: no panic.
#[test]
fn damaged_sessions_do_not_panic() {
    let s = session();
    let client = s.client.concat();
    let server = s.server.concat();
    for cut in (0..client.len()).step_by(7) {
        let mut c = client.clone();
        c[cut] ^= 0x5a;
        let mut conn = TlsConn::new(Dir::AtoB);
        let mut keys = keylog();
        let mut sink = |_: TlsOut<'_>| {};
        conn.data(Dir::AtoB, &c[..cut.max(1)], at(1), &mut keys, &mut sink);
        conn.data(Dir::BtoA, &server, at(2), &mut keys, &mut sink);
        conn.data(Dir::AtoB, &c[cut.max(1)..], at(3), &mut keys, &mut sink);
        conn.gap(Dir::AtoB, 17, at(4), &mut sink);
        conn.data(Dir::AtoB, &c, at(5), &mut keys, &mut sink);
    }
}

/// The `tls_records` fuzz target's checks, over pseudo-random chunks, gaps
/// and byte flips of the synthetic session (cargo-fuzz needs nightly
/// tooling; this runs with the unit tests).
#[test]
fn random_damage_stays_bounded() {
    let s = session();
    let streams = [s.client.concat(), s.server.concat()];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..200 {
        let mut conn = TlsConn::new(Dir::AtoB);
        let mut keys = keylog();
        let mut sink = |o: TlsOut<'_>| {
            if let TlsOut::Plain { data, .. } = o {
                assert!(data.len() <= MAX_PLAINTEXT_LEN + 256);
            }
        };
        let mut pos = [0usize; 2];
        let mut bytes = streams.clone();
        for _ in 0..(next() % 8) {
            let d = (next() % 2) as usize;
            let i = (next() as usize) % bytes[d].len();
            bytes[d][i] ^= (next() % 255 + 1) as u8;
        }
        while pos[0] < bytes[0].len() || pos[1] < bytes[1].len() {
            let d = (next() % 2) as usize;
            let dir = if d == 0 { Dir::AtoB } else { Dir::BtoA };
            let n = ((next() % 3000) as usize).min(bytes[d].len() - pos[d]);
            if next() % 10 == 0 {
                conn.gap(dir, n as u64, at(1), &mut sink);
            } else {
                conn.data(
                    dir,
                    &bytes[d][pos[d]..pos[d] + n],
                    at(1),
                    &mut keys,
                    &mut sink,
                );
            }
            pos[d] += n;
            assert!(conn.used_bytes() <= MAX_BUFFERED);
        }
    }
}

/// TLS 1.3 with a key log that gets the session's secrets only after the
/// handshake went by (a live capture; the file is written as the peer
/// makes them): the application records are read from there on.
#[test]
fn tls13_keys_found_after_the_handshake() {
    let s = session();
    let dir = std::env::temp_dir().join(format!("kwire-late-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("late.keys");
    std::fs::write(&path, "").unwrap();
    let mut keys = KeyLog::new(vec![path.clone()]);
    keys.load().unwrap();
    let mut conn = TlsConn::new(Dir::AtoB);
    let mut got = Got::default();
    // The hello, the server's flight and the client's Finished: no keys yet.
    conn.data(Dir::AtoB, &s.client[0], at(1), &mut keys, &mut got.sink());
    conn.data(
        Dir::BtoA,
        &s.server[..3].concat(),
        at(2),
        &mut keys,
        &mut got.sink(),
    );
    conn.data(
        Dir::AtoB,
        &s.client[1..3].concat(),
        at(3),
        &mut keys,
        &mut got.sink(),
    );
    // Now the secrets are written, and the application data follows.
    let r = hex(&CR);
    std::fs::write(
        &path,
        format!(
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET {r} {}\nSERVER_HANDSHAKE_TRAFFIC_SECRET {r} {}\n\
             CLIENT_TRAFFIC_SECRET_0 {r} {}\nSERVER_TRAFFIC_SECRET_0 {r} {}\n",
            hex(&CHTS),
            hex(&SHTS),
            hex(&CTS0),
            hex(&STS0)
        ),
    )
    .unwrap();
    std::thread::sleep(MIN_RELOAD_INTERVAL * 2);
    conn.data(
        Dir::AtoB,
        &s.client[3..].concat(),
        at(4),
        &mut keys,
        &mut got.sink(),
    );
    conn.data(
        Dir::BtoA,
        &s.server[3..].concat(),
        at(5),
        &mut keys,
        &mut got.sink(),
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(got.plain[0], s.client_plain.concat());
    assert_eq!(got.plain[1], s.server_plain.concat());
    assert_eq!(conn.info().keys, KeyState::Found);
}
