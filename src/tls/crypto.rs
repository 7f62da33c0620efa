//! Key derivation and record protection, on RustCrypto primitives (nothing
//! hand-written below HMAC/HKDF/AEAD/CBC): the TLS 1.2 PRF (RFC 5246 §5),
//! HKDF-Expand-Label (RFC 8446 §7.1), and opening one record.
//!
//! Every function returns `None` rather than panicking on bad lengths.

use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, KeyIvInit};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};

/// AEAD tag length of every supported AEAD.
pub const AEAD_TAG_LEN: usize = 16;
/// TLS 1.2 AES-GCM explicit nonce length (RFC 5288).
pub const GCM_EXPLICIT_NONCE_LEN: usize = 8;
/// Per-record nonce length of every supported AEAD.
pub const NONCE_LEN: usize = 12;
/// AES block (and CBC IV) length.
pub const AES_BLOCK_LEN: usize = 16;

/// The hash behind a PRF, HKDF or record MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha256,
    Sha384,
}

impl Hash {
    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        }
    }
}

/// HMAC of the concatenation of `parts`.
pub fn hmac(hash: Hash, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + hmac::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let Ok(mut m) = <M as hmac::KeyInit>::new_from_slice(key) else {
            return Vec::new();
        };
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().to_vec()
    }
    match hash {
        Hash::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        Hash::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
        Hash::Sha384 => run::<Hmac<sha2::Sha384>>(key, parts),
    }
}

/// The TLS 1.2 PRF: `P_hash(secret, label + seed)` cut to `len` bytes
/// (RFC 5246 §5).
pub fn prf(hash: Hash, secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    // A(1) = HMAC(secret, label + seed)
    let mut a = hmac(hash, secret, &[label, seed]);
    while out.len() < len {
        if a.is_empty() {
            break;
        }
        out.extend_from_slice(&hmac(hash, secret, &[&a, label, seed]));
        a = hmac(hash, secret, &[&a]);
    }
    out.truncate(len);
    out
}

/// HKDF-Expand-Label(secret, label, context, len) of TLS 1.3 (RFC 8446 §7.1).
pub fn hkdf_expand_label(
    hash: Hash,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    len: usize,
) -> Option<Vec<u8>> {
    const PREFIX: &[u8] = b"tls13 ";
    let out_len = u16::try_from(len).ok()?;
    let label_len = u8::try_from(PREFIX.len().checked_add(label.len())?).ok()?;
    let ctx_len = u8::try_from(context.len()).ok()?;
    let mut info = Vec::with_capacity(4 + label_len as usize + context.len());
    info.extend_from_slice(&out_len.to_be_bytes());
    info.push(label_len);
    info.extend_from_slice(PREFIX);
    info.extend_from_slice(label);
    info.push(ctx_len);
    info.extend_from_slice(context);
    let mut okm = vec![0; len];
    match hash {
        Hash::Sha256 => hkdf::Hkdf::<sha2::Sha256>::from_prk(secret)
            .ok()?
            .expand(&info, &mut okm)
            .ok()?,
        Hash::Sha384 => hkdf::Hkdf::<sha2::Sha384>::from_prk(secret)
            .ok()?
            .expand(&info, &mut okm)
            .ok()?,
        Hash::Sha1 => return None,
    }
    Some(okm)
}

/// The bulk cipher of a suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bulk {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
    Aes128Cbc,
    Aes256Cbc,
}

impl Bulk {
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Bulk::Aes128Gcm | Bulk::Aes128Cbc => 16,
            Bulk::Aes256Gcm | Bulk::ChaCha20Poly1305 | Bulk::Aes256Cbc => 32,
        }
    }
    /// TLS 1.2 fixed IV length from the key block (RFC 5246 §6.3: only
    /// AEAD suites take one).
    pub fn fixed_iv_len_12(self) -> usize {
        match self {
            Bulk::Aes128Gcm | Bulk::Aes256Gcm => 4,
            Bulk::ChaCha20Poly1305 => NONCE_LEN,
            Bulk::Aes128Cbc | Bulk::Aes256Cbc => 0,
        }
    }
}

/// What kwire knows of a cipher suite it can decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suite {
    pub bulk: Bulk,
    /// TLS 1.2 record MAC (CBC suites only).
    pub mac: Option<Hash>,
    /// TLS 1.2 PRF hash, or the TLS 1.3 HKDF hash.
    pub prf: Hash,
    pub tls13: bool,
}

/// The suite parameters of `id`, `None` when kwire cannot decrypt it.
pub fn suite(id: u16) -> Option<Suite> {
    use Bulk::*;
    let (bulk, mac, prf, tls13) = match id {
        0x1301 => (Aes128Gcm, None, Hash::Sha256, true),
        0x1302 => (Aes256Gcm, None, Hash::Sha384, true),
        0x1303 => (ChaCha20Poly1305, None, Hash::Sha256, true),
        0x009C | 0x009E | 0xC02B | 0xC02F | 0x00A8 | 0x00AA | 0x00AC => {
            (Aes128Gcm, None, Hash::Sha256, false)
        }
        0x009D | 0x009F | 0xC02C | 0xC030 | 0x00A9 | 0x00AB | 0x00AD => {
            (Aes256Gcm, None, Hash::Sha384, false)
        }
        0xCCA8..=0xCCAE => (ChaCha20Poly1305, None, Hash::Sha256, false),
        0x002F | 0x0033 | 0xC009 | 0xC013 | 0x008C | 0xC035 => {
            (Aes128Cbc, Some(Hash::Sha1), Hash::Sha256, false)
        }
        0x0035 | 0x0039 | 0xC00A | 0xC014 | 0x008D | 0xC036 => {
            (Aes256Cbc, Some(Hash::Sha1), Hash::Sha256, false)
        }
        0x003C | 0x0067 | 0xC023 | 0xC027 | 0x00AE | 0xC037 => {
            (Aes128Cbc, Some(Hash::Sha256), Hash::Sha256, false)
        }
        0x003D | 0x006B => (Aes256Cbc, Some(Hash::Sha256), Hash::Sha256, false),
        0xC024 | 0xC028 | 0x00AF | 0xC038 => (Aes256Cbc, Some(Hash::Sha384), Hash::Sha384, false),
        _ => return None,
    };
    Some(Suite {
        bulk,
        mac,
        prf,
        tls13,
    })
}

enum Engine {
    Aes128Gcm(Box<Aes128Gcm>),
    Aes256Gcm(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
    Cbc {
        key: Vec<u8>,
        mac_key: Vec<u8>,
        mac: Hash,
        etm: bool,
    },
}

/// One direction's record protection: keys and the record layout.
pub struct RecordCipher {
    engine: Engine,
    /// TLS 1.2 GCM salt (4 bytes) or the full 12-byte IV (ChaCha, TLS 1.3).
    iv: Vec<u8>,
    tls13: bool,
}

impl std::fmt::Debug for RecordCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordCipher")
            .field("tls13", &self.tls13)
            .finish_non_exhaustive()
    }
}

/// An opened record: the real content type and its plaintext (in the
/// caller's scratch buffer).
pub struct Opened {
    pub content_type: u8,
}

impl RecordCipher {
    fn aead(bulk: Bulk, key: &[u8]) -> Option<Engine> {
        Some(match bulk {
            Bulk::Aes128Gcm => Engine::Aes128Gcm(Box::new(Aes128Gcm::new_from_slice(key).ok()?)),
            Bulk::Aes256Gcm => Engine::Aes256Gcm(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
            Bulk::ChaCha20Poly1305 => {
                Engine::ChaCha(Box::new(ChaCha20Poly1305::new_from_slice(key).ok()?))
            }
            Bulk::Aes128Cbc | Bulk::Aes256Cbc => return None,
        })
    }

    /// TLS 1.3 keys from a traffic secret (RFC 8446 §7.3).
    pub fn tls13(suite: Suite, secret: &[u8]) -> Option<RecordCipher> {
        let key = hkdf_expand_label(suite.prf, secret, b"key", b"", suite.bulk.key_len())?;
        let iv = hkdf_expand_label(suite.prf, secret, b"iv", b"", NONCE_LEN)?;
        Some(RecordCipher {
            engine: Self::aead(suite.bulk, &key)?,
            iv,
            tls13: true,
        })
    }

    /// The next TLS 1.3 traffic secret after a KeyUpdate.
    pub fn next_secret(suite: Suite, secret: &[u8]) -> Option<Vec<u8>> {
        hkdf_expand_label(
            suite.prf,
            secret,
            b"traffic upd",
            b"",
            suite.prf.output_len(),
        )
    }

    /// The TLS 1.2 (client, server) ciphers from the master secret and the
    /// hello randoms (RFC 5246 §6.3). `etm`: Encrypt-then-MAC negotiated.
    pub fn tls12(
        suite: Suite,
        master: &[u8],
        client_random: &[u8],
        server_random: &[u8],
        etm: bool,
    ) -> Option<(RecordCipher, RecordCipher)> {
        let mac_len = suite.mac.map_or(0, Hash::output_len);
        let key_len = suite.bulk.key_len();
        let iv_len = suite.bulk.fixed_iv_len_12();
        let total = 2 * (mac_len + key_len + iv_len);
        let mut seed = Vec::with_capacity(64);
        seed.extend_from_slice(server_random);
        seed.extend_from_slice(client_random);
        let kb = prf(suite.prf, master, b"key expansion", &seed, total);
        if kb.len() != total {
            return None;
        }
        let mut parts = [0usize; 6];
        let lens = [mac_len, mac_len, key_len, key_len, iv_len, iv_len];
        let mut off = 0;
        for (p, l) in parts.iter_mut().zip(lens) {
            *p = off;
            off += l;
        }
        let slice = |i: usize| kb.get(parts[i]..parts[i] + lens[i]);
        let make = |mac_key: &[u8], key: &[u8], iv: &[u8]| -> Option<RecordCipher> {
            let engine = match (suite.bulk, suite.mac) {
                (Bulk::Aes128Cbc | Bulk::Aes256Cbc, Some(mac)) => Engine::Cbc {
                    key: key.to_vec(),
                    mac_key: mac_key.to_vec(),
                    mac,
                    etm,
                },
                (bulk, _) => Self::aead(bulk, key)?,
            };
            Some(RecordCipher {
                engine,
                iv: iv.to_vec(),
                tls13: false,
            })
        };
        let client = make(slice(0)?, slice(2)?, slice(4)?)?;
        let server = make(slice(1)?, slice(3)?, slice(5)?)?;
        Some((client, server))
    }

    /// Opens one record (`header`: its 5 bytes; `body`: the rest) protected
    /// with sequence number `seq`; the plaintext is left in `out`.
    pub fn open(
        &self,
        seq: u64,
        header: &[u8; 5],
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Option<Opened> {
        out.clear();
        let [ty, v0, v1, _, _] = *header;
        if self.tls13 {
            let nonce = xor_nonce(&self.iv, seq)?;
            let ct_len = body.len().checked_sub(AEAD_TAG_LEN)?;
            self.aead_open(&nonce, header, body, ct_len, out)?;
            // Inner plaintext: content, the real type, then zeros.
            let end = out.iter().rposition(|&b| b != 0)?;
            let content_type = *out.get(end)?;
            out.truncate(end);
            return Some(Opened { content_type });
        }
        let aad = |plain_len: usize| -> Option<[u8; 13]> {
            let l = u16::try_from(plain_len).ok()?.to_be_bytes();
            let s = seq.to_be_bytes();
            Some([
                s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], ty, v0, v1, l[0], l[1],
            ])
        };
        match &self.engine {
            Engine::Aes128Gcm(_) | Engine::Aes256Gcm(_) => {
                let explicit = body.get(..GCM_EXPLICIT_NONCE_LEN)?;
                let rest = body.get(GCM_EXPLICIT_NONCE_LEN..)?;
                let ct_len = rest.len().checked_sub(AEAD_TAG_LEN)?;
                let mut nonce = [0u8; NONCE_LEN];
                nonce.get_mut(..4)?.copy_from_slice(self.iv.get(..4)?);
                nonce.get_mut(4..)?.copy_from_slice(explicit);
                self.aead_open(&nonce, &aad(ct_len)?, rest, ct_len, out)?;
            }
            Engine::ChaCha(_) => {
                let nonce = xor_nonce(&self.iv, seq)?;
                let ct_len = body.len().checked_sub(AEAD_TAG_LEN)?;
                self.aead_open(&nonce, &aad(ct_len)?, body, ct_len, out)?;
            }
            Engine::Cbc {
                key,
                mac_key,
                mac,
                etm,
            } => {
                let mac_len = mac.output_len();
                let (enc, tag) = if *etm {
                    let n = body.len().checked_sub(mac_len)?;
                    let (enc, tag) = (body.get(..n)?, body.get(n..)?);
                    let want = hmac(*mac, mac_key, &[&aad(enc.len())?, enc]);
                    if want != tag {
                        return None;
                    }
                    (enc, None)
                } else {
                    (body, Some(()))
                };
                let iv = enc.get(..AES_BLOCK_LEN)?;
                let ct = enc.get(AES_BLOCK_LEN..)?;
                if ct.is_empty() || !ct.len().is_multiple_of(AES_BLOCK_LEN) {
                    return None;
                }
                out.extend_from_slice(ct);
                let ok = match key.len() {
                    16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
                        .ok()?
                        .decrypt_padded::<NoPadding>(out)
                        .is_ok(),
                    32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
                        .ok()?
                        .decrypt_padded::<NoPadding>(out)
                        .is_ok(),
                    _ => false,
                };
                if !ok {
                    return None;
                }
                // Padding: `pad` bytes of value `pad`, then `pad` itself.
                let pad = usize::from(*out.last()?);
                let unpadded = out.len().checked_sub(pad + 1)?;
                if out.get(unpadded..)?.iter().any(|&b| usize::from(b) != pad) {
                    return None;
                }
                out.truncate(unpadded);
                if tag.is_some() {
                    let n = out.len().checked_sub(mac_len)?;
                    let want = hmac(*mac, mac_key, &[&aad(n)?, out.get(..n)?]);
                    if want.as_slice() != out.get(n..)? {
                        return None;
                    }
                    out.truncate(n);
                }
            }
        }
        Some(Opened { content_type: ty })
    }

    fn aead_open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ct_and_tag: &[u8],
        ct_len: usize,
        out: &mut Vec<u8>,
    ) -> Option<()> {
        fn run<A: AeadInOut>(
            a: &A,
            nonce: &[u8],
            aad: &[u8],
            ct: &[u8],
            tag: &[u8],
            out: &mut Vec<u8>,
        ) -> Option<()> {
            let nonce = Nonce::<A>::try_from(nonce).ok()?;
            let tag = Tag::<A>::try_from(tag).ok()?;
            out.clear();
            out.extend_from_slice(ct);
            a.decrypt_inout_detached(&nonce, aad, out.as_mut_slice().into(), &tag)
                .ok()
        }
        let ct = ct_and_tag.get(..ct_len)?;
        let tag = ct_and_tag.get(ct_len..)?;
        let r = match &self.engine {
            Engine::Aes128Gcm(a) => run(a.as_ref(), nonce, aad, ct, tag, out),
            Engine::Aes256Gcm(a) => run(a.as_ref(), nonce, aad, ct, tag, out),
            Engine::ChaCha(a) => run(a.as_ref(), nonce, aad, ct, tag, out),
            Engine::Cbc { .. } => None,
        };
        if r.is_none() {
            out.clear();
        }
        r
    }

    /// The TLS 1.2 GCM explicit nonce of a record read as a sequence number
    /// (OpenSSL and others send the sequence number there): a first guess
    /// after a loss.
    pub fn explicit_seq_hint(&self, body: &[u8]) -> Option<u64> {
        match self.engine {
            Engine::Aes128Gcm(_) | Engine::Aes256Gcm(_) if !self.tls13 => {
                let b = body.get(..GCM_EXPLICIT_NONCE_LEN)?;
                Some(u64::from_be_bytes(b.try_into().ok()?))
            }
            _ => None,
        }
    }
}

/// `iv` xor the big-endian sequence number left-padded to 12 bytes.
fn xor_nonce(iv: &[u8], seq: u64) -> Option<[u8; NONCE_LEN]> {
    let mut n: [u8; NONCE_LEN] = iv.try_into().ok()?;
    for (b, s) in n.iter_mut().skip(NONCE_LEN - 8).zip(seq.to_be_bytes()) {
        *b ^= s;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The P_SHA256 vector from the IETF TLS WG list (msg03416).
    #[test]
    fn prf_sha256_known_vector() {
        let out = prf(
            Hash::Sha256,
            &hex("9bbe436ba940f017b17652849a71db35"),
            b"test label",
            &hex("a0ba9f936cda311827a6f796ffd5198c"),
            100,
        );
        assert_eq!(
            out,
            hex(
                "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a\
                 6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab\
                 4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701\
                 87347b66"
            )
        );
    }

    /// RFC 8448 §3: the server handshake traffic key and IV from
    /// server_handshake_traffic_secret (TLS_AES_128_GCM_SHA256).
    #[test]
    fn hkdf_expand_label_rfc8448() {
        let s = hex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38");
        let key = hkdf_expand_label(Hash::Sha256, &s, b"key", b"", 16).unwrap();
        let iv = hkdf_expand_label(Hash::Sha256, &s, b"iv", b"", 12).unwrap();
        assert_eq!(key, hex("3fce516009c21727d0f2e4e86ee403bc"));
        assert_eq!(iv, hex("5d313eb2671276ee13000b30"));
        let c = hex("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21");
        let key = hkdf_expand_label(Hash::Sha256, &c, b"key", b"", 16).unwrap();
        let iv = hkdf_expand_label(Hash::Sha256, &c, b"iv", b"", 12).unwrap();
        assert_eq!(key, hex("dbfaa693d1762c5b666af5d950258d01"));
        assert_eq!(iv, hex("5bd3c71b836e0b76bb73265f"));
        // A secret shorter than the hash is refused, not a panic.
        assert!(hkdf_expand_label(Hash::Sha256, &[1, 2], b"key", b"", 16).is_none());
    }

    #[test]
    fn nonce_xor() {
        let iv = [0xffu8; 12];
        let n = xor_nonce(&iv, 1).unwrap();
        assert_eq!(n[11], 0xfe);
        assert_eq!(&n[..11], &[0xff; 11]);
        assert!(xor_nonce(&[0; 4], 1).is_none());
    }
}
