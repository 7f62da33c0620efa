//! Stage 2½: TLS between TCP reassembly and Kafka framing.
//!
//! A [`TlsConn`] is fed the in-order bytes and gaps of both directions of one
//! TCP connection that began with a ClientHello ([`TlsConn::is_client_hello`]).
//! It splits each direction into TLS records, follows the handshake in the
//! clear (ClientHello: random, SNI, ALPN; ServerHello: random, version,
//! cipher suite), looks the session's secrets up in an NSS [`KeyLog`], and
//! hands the decrypted application data to the caller as [`TlsOut::Plain`],
//! stamped with the packet that completed the record. Everything else it
//! sees becomes a [`TlsEvent`] or a field of [`TlsInfo`].
//!
//! Decrypted: TLS 1.2 (`CLIENT_RANDOM` master secrets) with AES-128/256-GCM,
//! ChaCha20-Poly1305 and AES-CBC with HMAC-SHA1/SHA256/SHA384 (MAC-then-encrypt,
//! or Encrypt-then-MAC when negotiated); TLS 1.3 (traffic secrets) with
//! TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 and
//! TLS_CHACHA20_POLY1305_SHA256, KeyUpdate included. Not decrypted (reported):
//! other suites and versions, TLS 1.3 0-RTT early data.
//!
//! Contract: pure (no I/O but the key log's files, no threads), no panic on
//! any input bytes. Memory per connection is bounded by named limits: one
//! record in progress per direction ([`MAX_CIPHERTEXT_LEN`] + header), one
//! handshake message per direction ([`MAX_HANDSHAKE_MSG_LEN`]), a scratch
//! record, [`MAX_ALERTS`] alerts and [`MAX_ALPN`] protocol names. Plaintext
//! is lent to the callback and not kept.
//!
//! Losses: after a gap the partial record is dropped and the direction
//! resynchronises at the next plausible record header ([`TlsEvent::Resync`]);
//! as AEAD nonces and MACs depend on the record sequence number, the first
//! records after the gap are tried with sequence numbers up to
//! [`MAX_SEQ_SKIP`] beyond the fewest records the gap can have held.

pub mod crypto;
pub mod keylog;
mod names;

use crate::capture::PacketRef;
use crate::tcp::Dir;
use crypto::{RecordCipher, Suite};
use keylog::{Label, RANDOM_LEN};

pub use keylog::{KeyLog, MIN_RELOAD_INTERVAL};
pub use names::{alert_name, cipher_name};

/// Bytes of a record header: type, version, length.
pub const RECORD_HEADER_LEN: usize = 5;
/// Largest plaintext of one record (RFC 8446 §5.1: 2^14).
pub const MAX_PLAINTEXT_LEN: usize = 1 << 14;
/// Largest protected record body (RFC 5246 §6.2.3: 2^14 + 2048).
pub const MAX_CIPHERTEXT_LEN: usize = (1 << 14) + 2048;
/// Largest handshake message kept for parsing (certificate chains included);
/// larger ones are skipped.
pub const MAX_HANDSHAKE_MSG_LEN: usize = 1 << 16;
/// Alerts kept in [`TlsInfo::alerts`] (all are still reported as events).
pub const MAX_ALERTS: usize = 16;
/// ALPN protocol names kept in [`TlsInfo::alpn`].
pub const MAX_ALPN: usize = 16;
/// Most bytes a [`TlsConn`] holds ([`TlsConn::buffered_bytes`]): a record
/// and a handshake message per direction, and the scratch record.
pub const MAX_BUFFERED: usize =
    2 * (RECORD_HEADER_LEN + MAX_CIPHERTEXT_LEN + 4 + MAX_HANDSHAKE_MSG_LEN) + MAX_CIPHERTEXT_LEN;
/// After a loss, sequence numbers tried beyond the fewest records lost.
pub const MAX_SEQ_SKIP: u64 = 64;

/// Record content types (RFC 8446 §5.1).
const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;
const HEARTBEAT: u8 = 24;

/// Handshake message types.
const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;
const HS_ENCRYPTED_EXTENSIONS: u8 = 8;
const HS_CERTIFICATE: u8 = 11;
const HS_FINISHED: u8 = 20;
const HS_KEY_UPDATE: u8 = 24;

/// Extension types.
const EXT_ENCRYPT_THEN_MAC: u16 = 22;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// Protocol versions.
const TLS12: u16 = 0x0303;
const TLS13: u16 = 0x0304;

/// A ServerHello with this random is a HelloRetryRequest (RFC 8446 §4.1.3).
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// An alert seen on the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertInfo {
    /// 1 warning, 2 fatal.
    pub level: u8,
    pub description: u8,
    /// [`alert_name`] of `description`.
    pub name: &'static str,
    pub from: Dir,
    /// Sent protected (decrypted by kwire) rather than in the clear.
    pub encrypted: bool,
}

/// The server's certificate (the first of its chain): in the clear in TLS
/// 1.2, decrypted with the handshake keys in TLS 1.3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// The subject distinguished name.
    pub subject: String,
    /// notAfter, in seconds since the Unix epoch.
    pub not_after: Option<i64>,
}

/// Whether the session's secrets are at hand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyState {
    /// No ServerHello seen yet.
    #[default]
    Unknown,
    Found,
    /// The key log has no secrets for the ClientHello random.
    Missing,
    /// The negotiated cipher suite (or version) is not one kwire decrypts.
    Unsupported(u16),
}

/// What is known of a TLS session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// The negotiated version: 0x0303 TLS 1.2, 0x0304 TLS 1.3 (from the
    /// ServerHello's supported_versions).
    pub version: Option<u16>,
    /// The cipher suite the server chose.
    pub cipher: Option<u16>,
    /// The server name the client asked for.
    pub sni: Option<String>,
    /// ALPN: the protocols the client offered until the server selects one,
    /// then only the one it selected (ServerHello in TLS 1.2,
    /// EncryptedExtensions in TLS 1.3).
    pub alpn: Vec<String>,
    pub keys: KeyState,
    /// A ClientHello was parsed.
    pub handshake_seen: bool,
    /// A ServerHello was parsed.
    pub server_answered: bool,
    /// The first [`MAX_ALERTS`] alerts.
    pub alerts: Vec<AlertInfo>,
    /// The server's certificate, when its Certificate message was read.
    pub server_cert: Option<CertInfo>,
    /// Records seen, both directions.
    pub records: u64,
    /// Application data bytes delivered as [`TlsOut::Plain`].
    pub decrypted_bytes: u64,
    /// Protected records that could not be decrypted (no keys, unsupported
    /// suite, or failed authentication).
    pub undecryptable_records: u64,
}

/// Noteworthy things seen on a TLS connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsEvent {
    /// Both sides' Finished messages were decrypted.
    HandshakeDone,
    /// The key log has no secrets for this session (reported once).
    KeysMissing,
    /// The server chose a suite kwire cannot decrypt.
    UnsupportedCipher(u16),
    /// The server chose a version kwire cannot decrypt (before TLS 1.2).
    UnsupportedVersion(u16),
    /// The client sent TLS 1.3 0-RTT data, which is not decrypted.
    EarlyData,
    Alert(AlertInfo),
    /// A record did not authenticate with the session's keys.
    DecryptFailed,
    /// After lost or unrecognised bytes, a record header was found again,
    /// `skipped` bytes later.
    Resync {
        skipped: u64,
    },
    /// A record header announced a body larger than [`MAX_CIPHERTEXT_LEN`].
    RecordTooLarge(usize),
    /// The direction's first bytes are not a TLS record.
    NotTls,
    /// A handshake message larger than [`MAX_HANDSHAKE_MSG_LEN`] was skipped.
    HandshakeTooLarge(usize),
}

impl TlsEvent {
    /// One line for humans.
    pub fn describe(&self) -> String {
        match self {
            TlsEvent::HandshakeDone => "TLS handshake done".into(),
            TlsEvent::KeysMissing => "no TLS secrets in the key log for this session".into(),
            TlsEvent::UnsupportedCipher(c) => format!(
                "TLS cipher suite {} (0x{c:04x}) cannot be decrypted",
                cipher_name(*c).unwrap_or("unknown")
            ),
            TlsEvent::UnsupportedVersion(v) => {
                format!("TLS version 0x{v:04x} cannot be decrypted")
            }
            TlsEvent::EarlyData => "TLS 1.3 early data (0-RTT) not decrypted".into(),
            TlsEvent::Alert(a) => format!(
                "TLS {} alert {} ({}){}",
                if a.level == 2 { "fatal" } else { "warning" },
                a.name,
                a.description,
                if a.encrypted { ", encrypted" } else { "" }
            ),
            TlsEvent::DecryptFailed => "TLS record failed to decrypt".into(),
            TlsEvent::Resync { skipped } => {
                format!("TLS records resynchronised after skipping {skipped} bytes")
            }
            TlsEvent::RecordTooLarge(n) => {
                format!("TLS record of {n} bytes exceeds {MAX_CIPHERTEXT_LEN}")
            }
            TlsEvent::NotTls => "not a TLS record".into(),
            TlsEvent::HandshakeTooLarge(n) => {
                format!(
                    "TLS handshake message of {n} bytes skipped (limit {MAX_HANDSHAKE_MSG_LEN})"
                )
            }
        }
    }
}

/// What a [`TlsConn`] hands back.
#[derive(Debug)]
pub enum TlsOut<'a> {
    /// Decrypted application data of `dir`; `at` is the packet that
    /// completed the record.
    Plain {
        dir: Dir,
        data: &'a [u8],
        at: PacketRef,
    },
    Event {
        dir: Dir,
        at: PacketRef,
        event: TlsEvent,
    },
}

/// Which keys protect a direction's records (TLS 1.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Epoch {
    #[default]
    Clear,
    Handshake,
    Application,
}

/// One direction's record layer.
#[derive(Debug, Default)]
struct DirState {
    /// The record in progress: header, then body.
    rec: Vec<u8>,
    /// Looking for a record header after a loss or bad bytes.
    scanning: bool,
    /// Bytes discarded while scanning.
    skipped: u64,
    /// A record header was ever accepted in this direction.
    ever_synced: bool,
    not_tls_reported: bool,
    /// A handshake message in progress.
    hs: Vec<u8>,
    /// Bytes of an oversized handshake message still to skip.
    hs_skip: usize,
    /// Records are protected from here on (TLS 1.2: after
    /// ChangeCipherSpec; TLS 1.3: after the ServerHello).
    encrypted: bool,
    epoch: Epoch,
    cipher: Option<RecordCipher>,
    /// TLS 1.2: the cipher ChangeCipherSpec switches to.
    pending: Option<RecordCipher>,
    /// Sequence number of the next protected record.
    seq: u64,
    /// After a loss: the fewest records lost; sequence numbers from
    /// `seq + min` are tried.
    seq_search: Option<u64>,
    /// TLS 1.3: the current traffic secret (for KeyUpdate) and the
    /// application secret the Finished switches to.
    secret: Vec<u8>,
    app_secret: Vec<u8>,
    finished: bool,
    /// The record found by a resync did not open with any sequence number
    /// tried: perhaps not a record boundary, so scan on.
    false_sync: bool,
}

/// The TLS layer of one TCP connection.
#[derive(Debug)]
pub struct TlsConn {
    client: Dir,
    info: TlsInfo,
    client_random: Option<[u8; RANDOM_LEN]>,
    server_random: Option<[u8; RANDOM_LEN]>,
    suite: Option<Suite>,
    etm: bool,
    early_data_offered: bool,
    early_data_reported: bool,
    keys_missing_reported: bool,
    done_reported: bool,
    dirs: [DirState; 2],
    /// Plaintext of the record being opened.
    scratch: Vec<u8>,
}

impl TlsConn {
    /// `Some(true)` when `data` (the first bytes one side sent) begins a TLS
    /// handshake record holding a ClientHello (content type 22, record
    /// version 0x0300..=0x0304, a length from 4 to [`MAX_PLAINTEXT_LEN`],
    /// handshake type 1); `Some(false)` when it cannot; `None` when more
    /// bytes are needed to tell (at most 6 are).
    pub fn is_client_hello(data: &[u8]) -> Option<bool> {
        type Check<'c> = &'c dyn Fn(&[u8]) -> bool;
        let checks: [Check<'_>; 5] = [
            &|d| d.first() == Some(&HANDSHAKE),
            &|d| d.get(1) == Some(&3),
            &|d| d.get(2).is_some_and(|&m| m <= 4),
            &|d| match d.get(3..5) {
                Some(&[a, b]) => {
                    (4..=MAX_PLAINTEXT_LEN).contains(&usize::from(u16::from_be_bytes([a, b])))
                }
                _ => false,
            },
            &|d| d.get(5) == Some(&HS_CLIENT_HELLO),
        ];
        // Bytes each check needs.
        let needs = [1, 2, 3, 5, 6];
        for (check, need) in checks.iter().zip(needs) {
            if data.len() < need {
                return None;
            }
            if !check(data) {
                return Some(false);
            }
        }
        Some(true)
    }

    /// A connection whose ClientHello came from `client`.
    pub fn new(client: Dir) -> TlsConn {
        TlsConn {
            client,
            info: TlsInfo::default(),
            client_random: None,
            server_random: None,
            suite: None,
            etm: false,
            early_data_offered: false,
            early_data_reported: false,
            keys_missing_reported: false,
            done_reported: false,
            dirs: [DirState::default(), DirState::default()],
            scratch: Vec::new(),
        }
    }

    /// The direction that sent the ClientHello.
    pub fn client(&self) -> Dir {
        self.client
    }

    /// What is known of the session.
    pub fn info(&self) -> &TlsInfo {
        &self.info
    }

    /// Bytes in use now (records and handshake messages in progress, the
    /// scratch record): at most [`MAX_BUFFERED`].
    pub fn used_bytes(&self) -> usize {
        self.dirs
            .iter()
            .map(|d| d.rec.len() + d.hs.len())
            .sum::<usize>()
            + self.scratch.len()
    }

    /// Bytes held now, as allocated (what the memory budget counts): the
    /// buffers of [`used_bytes`](Self::used_bytes) with their spare room.
    pub fn buffered_bytes(&self) -> usize {
        self.dirs
            .iter()
            .map(|d| d.rec.capacity() + d.hs.capacity())
            .sum::<usize>()
            + self.scratch.capacity()
    }

    /// In-order bytes of `dir`. Decrypted application data goes to `out` as
    /// [`TlsOut::Plain`] with the packet that completed its record (`at` of
    /// the call that completed it); anomalies as [`TlsOut::Event`].
    pub fn data(
        &mut self,
        dir: Dir,
        data: &[u8],
        at: PacketRef,
        keys: &mut KeyLog,
        out: &mut dyn FnMut(TlsOut<'_>),
    ) {
        let mut rest = data;
        while !rest.is_empty() {
            let d = &mut self.dirs[dir.index()];
            if d.scanning {
                rest = self.scan(dir, rest, at, out);
                continue;
            }
            let d = &mut self.dirs[dir.index()];
            let want = if d.rec.len() < RECORD_HEADER_LEN {
                RECORD_HEADER_LEN - d.rec.len()
            } else {
                let len = usize::from(u16::from_be_bytes([d.rec[3], d.rec[4]]));
                (RECORD_HEADER_LEN + len).saturating_sub(d.rec.len())
            };
            let take = want.min(rest.len());
            let (now, later) = rest.split_at(take);
            d.rec.extend_from_slice(now);
            rest = later;
            if d.rec.len() == RECORD_HEADER_LEN && want == take {
                // A header just completed: judge it.
                let Some(h) = header_of(&d.rec) else {
                    continue;
                };
                let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
                if !(CHANGE_CIPHER_SPEC..=HEARTBEAT).contains(&h[0]) || h[1] != 3 {
                    if !d.ever_synced && !d.not_tls_reported {
                        d.not_tls_reported = true;
                        out(TlsOut::Event {
                            dir,
                            at,
                            event: TlsEvent::NotTls,
                        });
                    }
                    self.start_scan(dir, true);
                    continue;
                }
                if len > MAX_CIPHERTEXT_LEN {
                    out(TlsOut::Event {
                        dir,
                        at,
                        event: TlsEvent::RecordTooLarge(len),
                    });
                    self.start_scan(dir, true);
                    continue;
                }
                d.ever_synced = true;
                if len > 0 {
                    continue;
                }
            }
            let d = &mut self.dirs[dir.index()];
            if d.rec.len() >= RECORD_HEADER_LEN && take == want {
                let rec = std::mem::take(&mut d.rec);
                self.record(dir, &rec, at, keys, out);
                let d = &mut self.dirs[dir.index()];
                if d.rec.is_empty() {
                    // Keep the allocation for the next record.
                    d.rec = rec;
                    d.rec.clear();
                }
            }
        }
    }

    /// `len` bytes of `dir` lost: the partial record is dropped and the
    /// direction resynchronises at the next plausible record header
    /// ([`TlsEvent::Resync`] when found).
    pub fn gap(&mut self, dir: Dir, len: u64, at: PacketRef, out: &mut dyn FnMut(TlsOut<'_>)) {
        // Nothing to report yet: the resync is reported when found.
        let _ = (at, out);
        let d = &mut self.dirs[dir.index()];
        d.hs.clear();
        d.hs_skip = 0;
        if d.encrypted {
            // At least this many whole records were lost.
            let min = len / (RECORD_HEADER_LEN + MAX_CIPHERTEXT_LEN) as u64;
            let prev = d.seq_search.unwrap_or(0);
            d.seq_search = Some(prev.saturating_add(min));
        }
        self.start_scan(dir, false);
    }

    /// Drops the record in progress and scans for a header from the byte
    /// after its first (`bad_header`) or from the next byte to come.
    fn start_scan(&mut self, dir: Dir, bad_header: bool) {
        let d = &mut self.dirs[dir.index()];
        let mut held = std::mem::take(&mut d.rec);
        if bad_header && !held.is_empty() {
            held.remove(0);
            d.skipped = d.skipped.saturating_add(1);
        } else {
            d.skipped = d.skipped.saturating_add(held.len() as u64);
            held.clear();
        }
        d.rec = held;
        d.scanning = true;
    }

    /// Scanning: consumes bytes of `data` until a plausible header is held
    /// (then leaves scanning and reports the resync); returns the rest.
    fn scan<'d>(
        &mut self,
        dir: Dir,
        data: &'d [u8],
        at: PacketRef,
        out: &mut dyn FnMut(TlsOut<'_>),
    ) -> &'d [u8] {
        let negotiated = self.info.version.is_some();
        let d = &mut self.dirs[dir.index()];
        let mut rest = data;
        loop {
            while d.rec.len() >= RECORD_HEADER_LEN {
                if plausible_header(&d.rec, negotiated, d.encrypted) {
                    d.scanning = false;
                    d.ever_synced = true;
                    let skipped = std::mem::take(&mut d.skipped);
                    out(TlsOut::Event {
                        dir,
                        at,
                        event: TlsEvent::Resync { skipped },
                    });
                    // The header is held; its body follows in `rest`. A
                    // header held in full with an empty body is a record.
                    return rest;
                }
                d.rec.remove(0);
                d.skipped = d.skipped.saturating_add(1);
            }
            let Some((&b, tail)) = rest.split_first() else {
                return rest;
            };
            d.rec.push(b);
            rest = tail;
        }
    }

    /// One whole record (header and body).
    fn record(
        &mut self,
        dir: Dir,
        rec: &[u8],
        at: PacketRef,
        keys: &mut KeyLog,
        out: &mut dyn FnMut(TlsOut<'_>),
    ) {
        let Some(header) = header_of(rec) else {
            return;
        };
        let body = rec.get(RECORD_HEADER_LEN..).unwrap_or_default();
        self.info.records += 1;
        let ty = header[0];
        let di = dir.index();
        let tls13 = self.info.version == Some(TLS13);
        if ty == CHANGE_CIPHER_SPEC {
            // TLS 1.3 sends it for middlebox compatibility only.
            if !tls13 && self.info.version.is_some() {
                let d = &mut self.dirs[di];
                d.encrypted = true;
                d.seq = 0;
                d.cipher = d.pending.take();
            }
            return;
        }
        if !self.dirs[di].encrypted {
            match ty {
                HANDSHAKE => self.handshake(dir, body, at, keys, out),
                ALERT => self.alerts(dir, body, false, at, out),
                APPLICATION_DATA => {
                    self.info.undecryptable_records += 1;
                    if dir == self.client
                        && self.early_data_offered
                        && !self.info.server_answered
                        && !self.early_data_reported
                    {
                        self.early_data_reported = true;
                        out(TlsOut::Event {
                            dir,
                            at,
                            event: TlsEvent::EarlyData,
                        });
                    }
                }
                _ => {}
            }
            return;
        }
        if self.dirs[di].cipher.is_none() && self.info.keys == KeyState::Missing {
            // The key log may have grown since (a live capture).
            self.install_keys(keys, dir, at, out);
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let opened = self
            .open(dir, &header, body, &mut scratch)
            .or_else(|| self.open_late_tls13(dir, &header, body, &mut scratch));
        match opened {
            Some(inner) => self.plaintext(dir, inner, &scratch, at, keys, out),
            None => {
                self.info.undecryptable_records += 1;
                if self.dirs[di].cipher.is_some() {
                    out(TlsOut::Event {
                        dir,
                        at,
                        event: TlsEvent::DecryptFailed,
                    });
                }
            }
        }
        scratch.clear();
        self.scratch = scratch;
        if std::mem::take(&mut self.dirs[di].false_sync) {
            self.start_scan(dir, false);
        }
    }

    /// TLS 1.3 whose keys were found after part of the handshake went by
    /// undecrypted (a key log written while a live capture runs): the
    /// direction may be past its Finished without kwire having seen it, so
    /// a record the handshake keys do not open is tried with the
    /// application keys, from their first record (sequence numbers 0 to
    /// [`MAX_SEQ_SKIP`]); when it opens, the direction is in the
    /// application epoch from there on.
    fn open_late_tls13(
        &mut self,
        dir: Dir,
        header: &[u8; 5],
        body: &[u8],
        buf: &mut Vec<u8>,
    ) -> Option<u8> {
        let suite = self.suite.filter(|s| s.tls13)?;
        let d = &mut self.dirs[dir.index()];
        if d.epoch != Epoch::Handshake || d.app_secret.is_empty() || d.cipher.is_none() {
            return None;
        }
        let app = RecordCipher::tls13(suite, &d.app_secret)?;
        for s in 0..=MAX_SEQ_SKIP {
            if let Some(o) = app.open(s, header, body, buf) {
                d.epoch = Epoch::Application;
                d.finished = true;
                d.secret = std::mem::take(&mut d.app_secret);
                d.cipher = Some(app);
                d.seq = s.saturating_add(1);
                d.seq_search = None;
                d.false_sync = false;
                return Some(o.content_type);
            }
        }
        None
    }

    /// Decrypts a protected record into `buf`; the inner content type.
    fn open(&mut self, dir: Dir, header: &[u8; 5], body: &[u8], buf: &mut Vec<u8>) -> Option<u8> {
        let d = &mut self.dirs[dir.index()];
        let Some(c) = d.cipher.as_ref() else {
            d.seq = d.seq.saturating_add(1);
            return None;
        };
        let Some(min) = d.seq_search else {
            let r = c.open(d.seq, header, body, buf);
            d.seq = d.seq.saturating_add(1);
            return r.map(|o| o.content_type);
        };
        let first = d.seq.saturating_add(min);
        let last = first.saturating_add(MAX_SEQ_SKIP);
        let hint = c
            .explicit_seq_hint(body)
            .filter(|s| (d.seq..=last).contains(s));
        for s in hint.into_iter().chain(first..=last) {
            if let Some(o) = c.open(s, header, body, buf) {
                d.seq = s.saturating_add(1);
                d.seq_search = None;
                return Some(o.content_type);
            }
        }
        // Perhaps not a record at all; the next one may tell.
        d.seq_search = Some(min.saturating_add(1));
        d.false_sync = true;
        None
    }

    /// A decrypted record's content.
    fn plaintext(
        &mut self,
        dir: Dir,
        ty: u8,
        data: &[u8],
        at: PacketRef,
        keys: &mut KeyLog,
        out: &mut dyn FnMut(TlsOut<'_>),
    ) {
        match ty {
            APPLICATION_DATA => {
                self.info.decrypted_bytes += data.len() as u64;
                if !data.is_empty() {
                    out(TlsOut::Plain { dir, data, at });
                }
            }
            HANDSHAKE => self.handshake(dir, data, at, keys, out),
            ALERT => self.alerts(dir, data, true, at, out),
            _ => {}
        }
    }

    fn alerts(
        &mut self,
        dir: Dir,
        body: &[u8],
        encrypted: bool,
        at: PacketRef,
        out: &mut dyn FnMut(TlsOut<'_>),
    ) {
        for pair in body.chunks_exact(2) {
            let (Some(&level), Some(&description)) = (pair.first(), pair.get(1)) else {
                continue;
            };
            let a = AlertInfo {
                level,
                description,
                name: alert_name(description),
                from: dir,
                encrypted,
            };
            if self.info.alerts.len() < MAX_ALERTS {
                self.info.alerts.push(a.clone());
            }
            out(TlsOut::Event {
                dir,
                at,
                event: TlsEvent::Alert(a),
            });
        }
    }

    /// Handshake-protocol bytes of `dir` (in the clear or decrypted).
    fn handshake(
        &mut self,
        dir: Dir,
        mut bytes: &[u8],
        at: PacketRef,
        keys: &mut KeyLog,
        out: &mut dyn FnMut(TlsOut<'_>),
    ) {
        loop {
            let d = &mut self.dirs[dir.index()];
            if d.hs_skip > 0 {
                let n = d.hs_skip.min(bytes.len());
                d.hs_skip -= n;
                bytes = bytes.get(n..).unwrap_or_default();
            }
            // Fill the 4-byte message header, then the body.
            let want = match d.hs.get(1..4) {
                Some(l) => {
                    let len = usize::from(l[0]) << 16 | usize::from(l[1]) << 8 | usize::from(l[2]);
                    if len > MAX_HANDSHAKE_MSG_LEN {
                        d.hs_skip = len.saturating_sub(d.hs.len() - 4);
                        d.hs.clear();
                        out(TlsOut::Event {
                            dir,
                            at,
                            event: TlsEvent::HandshakeTooLarge(len),
                        });
                        continue;
                    }
                    (4 + len).saturating_sub(d.hs.len())
                }
                None => 4 - d.hs.len(),
            };
            if bytes.is_empty() && want > 0 {
                return;
            }
            let n = want.min(bytes.len());
            d.hs.extend_from_slice(bytes.get(..n).unwrap_or_default());
            bytes = bytes.get(n..).unwrap_or_default();
            if d.hs.len() >= 4 && n == want && want_complete(&d.hs) {
                let msg = std::mem::take(&mut d.hs);
                self.message(dir, &msg, at, keys, out);
                let d = &mut self.dirs[dir.index()];
                if d.hs.is_empty() {
                    d.hs = msg;
                    d.hs.clear();
                }
            }
        }
    }

    /// One whole handshake message (4-byte header included).
    fn message(
        &mut self,
        dir: Dir,
        msg: &[u8],
        at: PacketRef,
        keys: &mut KeyLog,
        out: &mut dyn FnMut(TlsOut<'_>),
    ) {
        use tls_parser::{TlsMessage, TlsMessageHandshake};
        let Some(&ty) = msg.first() else {
            return;
        };
        let body = msg.get(4..).unwrap_or_default();
        match ty {
            HS_CLIENT_HELLO if dir == self.client => {
                let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)))) =
                    tls_parser::parse_tls_message_handshake(msg)
                else {
                    return;
                };
                let Ok(random) = <[u8; RANDOM_LEN]>::try_from(ch.random) else {
                    return;
                };
                self.client_random = Some(random);
                self.info.handshake_seen = true;
                let exts = ch
                    .ext
                    .and_then(|e| tls_parser::parse_tls_client_hello_extensions(e).ok())
                    .map(|(_, v)| v)
                    .unwrap_or_default();
                self.info.alpn.clear();
                for e in exts {
                    match e {
                        tls_parser::TlsExtension::SNI(names) => {
                            if let Some((_, n)) = names.iter().find(|(t, _)| t.0 == 0) {
                                self.info.sni = Some(String::from_utf8_lossy(n).into_owned());
                            }
                        }
                        tls_parser::TlsExtension::ALPN(protos) => {
                            self.info.alpn = protos
                                .iter()
                                .take(MAX_ALPN)
                                .map(|p| String::from_utf8_lossy(p).into_owned())
                                .collect();
                        }
                        tls_parser::TlsExtension::EarlyData(_) => self.early_data_offered = true,
                        _ => {}
                    }
                }
            }
            HS_SERVER_HELLO if dir != self.client => {
                let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ServerHello(sh)))) =
                    tls_parser::parse_tls_message_handshake(msg)
                else {
                    return;
                };
                let Ok(random) = <[u8; RANDOM_LEN]>::try_from(sh.random) else {
                    return;
                };
                let exts = sh
                    .ext
                    .and_then(|e| tls_parser::parse_tls_server_hello_extensions(e).ok())
                    .map(|(_, v)| v)
                    .unwrap_or_default();
                let mut version = sh.version.0;
                // Walked by hand too: tls-parser stops at the first
                // extension it cannot parse.
                for (ty, data) in raw_extensions(sh.ext.unwrap_or_default()) {
                    match ty {
                        EXT_ENCRYPT_THEN_MAC => self.etm = true,
                        EXT_SUPPORTED_VERSIONS => {
                            if let Some(&[a, b]) = data.get(..2) {
                                version = u16::from_be_bytes([a, b]);
                            }
                        }
                        _ => {}
                    }
                }
                for e in exts {
                    match e {
                        tls_parser::TlsExtension::SupportedVersions(v) => {
                            if let Some(v) = v.first() {
                                version = v.0;
                            }
                        }
                        tls_parser::TlsExtension::ALPN(protos) => {
                            if let Some(p) = protos.first() {
                                self.info.alpn = vec![String::from_utf8_lossy(p).into_owned()];
                            }
                        }
                        tls_parser::TlsExtension::EncryptThenMac => self.etm = true,
                        _ => {}
                    }
                }
                self.info.version = Some(version);
                self.info.cipher = Some(sh.cipher.0);
                if random == HELLO_RETRY_RANDOM {
                    // A second ClientHello follows; keys come with the
                    // real ServerHello.
                    return;
                }
                self.server_random = Some(random);
                self.info.server_answered = true;
                self.setup(keys, dir, at, out);
            }
            HS_ENCRYPTED_EXTENSIONS if dir != self.client => {
                let Some(exts) = body.get(2..) else {
                    return;
                };
                if let Ok((_, exts)) = tls_parser::parse_tls_extensions(exts) {
                    for e in exts {
                        if let tls_parser::TlsExtension::ALPN(protos) = e
                            && let Some(p) = protos.first()
                        {
                            self.info.alpn = vec![String::from_utf8_lossy(p).into_owned()];
                        }
                    }
                }
            }
            HS_CERTIFICATE if dir != self.client && self.info.server_cert.is_none() => {
                let tls13 = self.info.version == Some(TLS13);
                self.info.server_cert = server_certificate(body, tls13);
            }
            HS_FINISHED => {
                let tls13 = self.info.version == Some(TLS13);
                let suite = self.suite;
                let d = &mut self.dirs[dir.index()];
                d.finished = true;
                if tls13 && d.epoch == Epoch::Handshake {
                    d.epoch = Epoch::Application;
                    d.secret = std::mem::take(&mut d.app_secret);
                    d.cipher = suite.and_then(|s| RecordCipher::tls13(s, &d.secret));
                    d.seq = 0;
                    d.seq_search = None;
                }
                if self.dirs.iter().all(|d| d.finished) && !self.done_reported {
                    self.done_reported = true;
                    out(TlsOut::Event {
                        dir,
                        at,
                        event: TlsEvent::HandshakeDone,
                    });
                }
            }
            HS_KEY_UPDATE => {
                let suite = self.suite;
                let d = &mut self.dirs[dir.index()];
                if d.epoch == Epoch::Application
                    && let Some(s) = suite
                    && let Some(next) = RecordCipher::next_secret(s, &d.secret)
                {
                    d.cipher = RecordCipher::tls13(s, &next);
                    d.secret = next;
                    d.seq = 0;
                    d.seq_search = None;
                }
            }
            _ => {}
        }
    }

    /// After the ServerHello: the suite, then the keys.
    fn setup(
        &mut self,
        keys: &mut KeyLog,
        dir: Dir,
        at: PacketRef,
        out: &mut dyn FnMut(TlsOut<'_>),
    ) {
        let (Some(version), Some(cipher)) = (self.info.version, self.info.cipher) else {
            return;
        };
        let event = |event| TlsOut::Event { dir, at, event };
        if version != TLS12 && version != TLS13 {
            self.info.keys = KeyState::Unsupported(cipher);
            out(event(TlsEvent::UnsupportedVersion(version)));
            return;
        }
        if version == TLS13 {
            // Both directions are protected from here on.
            for d in &mut self.dirs {
                d.encrypted = true;
                d.epoch = Epoch::Handshake;
                d.seq = 0;
            }
        }
        match crypto::suite(cipher).filter(|s| s.tls13 == (version == TLS13)) {
            Some(s) => self.suite = Some(s),
            None => {
                self.info.keys = KeyState::Unsupported(cipher);
                out(event(TlsEvent::UnsupportedCipher(cipher)));
                return;
            }
        }
        self.install_keys(keys, dir, at, out);
    }

    /// Looks the secrets up and installs the ciphers (reporting
    /// [`TlsEvent::KeysMissing`] the first time they are not found).
    fn install_keys(
        &mut self,
        keys: &mut KeyLog,
        dir: Dir,
        at: PacketRef,
        out: &mut dyn FnMut(TlsOut<'_>),
    ) {
        let (Some(suite), Some(cr)) = (self.suite, self.client_random) else {
            return;
        };
        let ok = if suite.tls13 {
            self.install_tls13(keys, suite, &cr)
        } else {
            self.install_tls12(keys, suite, &cr)
        };
        if ok.is_some() {
            self.info.keys = KeyState::Found;
        } else {
            self.info.keys = KeyState::Missing;
            if !self.keys_missing_reported {
                self.keys_missing_reported = true;
                out(TlsOut::Event {
                    dir,
                    at,
                    event: TlsEvent::KeysMissing,
                });
            }
        }
    }

    fn install_tls12(
        &mut self,
        keys: &mut KeyLog,
        suite: Suite,
        cr: &[u8; RANDOM_LEN],
    ) -> Option<()> {
        let sr = self.server_random?;
        let master = keys.lookup(Label::ClientRandom, cr)?;
        let (c, s) = RecordCipher::tls12(suite, &master, cr, &sr, self.etm)?;
        let ci = self.client.index();
        for (i, rc) in [(ci, c), (1 - ci, s)] {
            let d = &mut self.dirs[i];
            // Past its ChangeCipherSpec already (keys found late): the
            // sequence number counted the records since.
            if d.encrypted {
                d.cipher = Some(rc);
            } else {
                d.pending = Some(rc);
            }
        }
        Some(())
    }

    fn install_tls13(
        &mut self,
        keys: &mut KeyLog,
        suite: Suite,
        cr: &[u8; RANDOM_LEN],
    ) -> Option<()> {
        let chts = keys.lookup(Label::ClientHandshakeTrafficSecret, cr)?;
        let shts = keys.lookup(Label::ServerHandshakeTrafficSecret, cr)?;
        let cts = keys.lookup(Label::ClientTrafficSecret0, cr)?;
        let sts = keys.lookup(Label::ServerTrafficSecret0, cr)?;
        let ci = self.client.index();
        for (i, hs, app) in [(ci, chts, cts), (1 - ci, shts, sts)] {
            let d = &mut self.dirs[i];
            if d.epoch == Epoch::Application {
                d.cipher = RecordCipher::tls13(suite, &app);
                d.secret = app;
            } else {
                d.cipher = RecordCipher::tls13(suite, &hs);
                d.secret = hs;
                d.app_secret = app;
            }
            d.cipher.as_ref()?;
        }
        Some(())
    }
}

/// (type, data) of each extension of a hello's extension block (without
/// its length prefix), up to the first that does not fit.
fn raw_extensions(mut ext: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let &[t0, t1, l0, l1, ..] = ext else {
            return None;
        };
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let data = ext.get(4..4usize.checked_add(len)?)?;
        ext = ext.get(4 + len..)?;
        Some((u16::from_be_bytes([t0, t1]), data))
    })
}

/// The first 5 bytes of `rec` as a header.
fn header_of(rec: &[u8]) -> Option<[u8; RECORD_HEADER_LEN]> {
    rec.get(..RECORD_HEADER_LEN)?.try_into().ok()
}

/// `hs` holds a whole handshake message.
fn want_complete(hs: &[u8]) -> bool {
    match hs.get(1..4) {
        Some(l) => {
            let len = usize::from(l[0]) << 16 | usize::from(l[1]) << 8 | usize::from(l[2]);
            hs.len() == 4 + len
        }
        None => false,
    }
}

/// Whether a record may start at `h` (at least 5 bytes) while scanning.
/// `negotiated`: the version is known, so records carry 0x0303;
/// `encrypted`: the direction's records are protected.
fn plausible_header(h: &[u8], negotiated: bool, encrypted: bool) -> bool {
    let Some(&[ty, major, minor, l0, l1]) = h.get(..RECORD_HEADER_LEN) else {
        return false;
    };
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    if !(CHANGE_CIPHER_SPEC..=APPLICATION_DATA).contains(&ty) || major != 3 || len == 0 {
        return false;
    }
    if len > MAX_CIPHERTEXT_LEN {
        return false;
    }
    if negotiated {
        if minor != 3 {
            return false;
        }
    } else if !(1..=3).contains(&minor) {
        return false;
    }
    match ty {
        CHANGE_CIPHER_SPEC => len == 1,
        APPLICATION_DATA if encrypted => len > crypto::AEAD_TAG_LEN,
        _ => true,
    }
}

#[cfg(test)]
mod tests;

/// The leaf certificate of a Certificate handshake message body (TLS 1.2:
/// a 3-byte list length, then 3-byte-length entries; TLS 1.3: a request
/// context first, and extensions after each entry): its subject and
/// notAfter. `None` when it does not parse.
fn server_certificate(body: &[u8], tls13: bool) -> Option<CertInfo> {
    let u24 = |b: &[u8]| -> Option<usize> {
        let b = b.get(..3)?;
        Some((usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    };
    let mut rest = body;
    if tls13 {
        let ctx = usize::from(*rest.first()?);
        rest = rest.get(1 + ctx..)?;
    }
    // The list's length, then the first entry's.
    rest = rest.get(3..)?;
    let len = u24(rest)?;
    let der = rest.get(3..3 + len)?;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(CertInfo {
        subject: cert.subject().to_string(),
        not_after: Some(cert.validity().not_after.timestamp()),
    })
}
