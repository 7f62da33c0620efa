//! NSS key log files (`SSLKEYLOGFILE`, Python's `keylog_filename`,
//! librdkafka's `ssl.keylog.location`): one secret per line,
//! `LABEL <client_random hex> <secret hex>`, `#` comments.
//!
//! Lines that cannot be parsed are skipped and counted, never an error: a
//! key log written while it is read may end in half a line.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A lookup miss looks at the files' lengths at most this often (wall
/// time), and re-reads them when one changed: a key log that grows during a
/// live capture is picked up (a client writes a session's secrets as it
/// makes them, about when its ServerHello is captured), without a look at
/// the files for every record of a connection whose keys are not there.
pub const MIN_RELOAD_INTERVAL: Duration = Duration::from_millis(50);

/// Most secrets kept (over all files); lines beyond are counted as bad.
pub const MAX_KEYLOG_ENTRIES: usize = 1 << 20;

/// Longest secret accepted, in bytes (SHA-384 secrets are 48).
pub const MAX_SECRET_LEN: usize = 64;

/// Length of a ClientHello random, the key of every line.
pub const RANDOM_LEN: usize = 32;

/// The key log labels kwire uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Label {
    /// TLS 1.2 and older: the master secret.
    ClientRandom,
    ClientHandshakeTrafficSecret,
    ServerHandshakeTrafficSecret,
    ClientTrafficSecret0,
    ServerTrafficSecret0,
}

impl Label {
    fn parse(s: &str) -> Option<Label> {
        Some(match s {
            "CLIENT_RANDOM" => Label::ClientRandom,
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => Label::ClientHandshakeTrafficSecret,
            "SERVER_HANDSHAKE_TRAFFIC_SECRET" => Label::ServerHandshakeTrafficSecret,
            "CLIENT_TRAFFIC_SECRET_0" => Label::ClientTrafficSecret0,
            "SERVER_TRAFFIC_SECRET_0" => Label::ServerTrafficSecret0,
            _ => return None,
        })
    }
}

/// Labels of valid lines that kwire has no use for (not counted as bad).
const IGNORED_LABELS: &[&str] = &[
    "CLIENT_EARLY_TRAFFIC_SECRET",
    "EARLY_EXPORTER_SECRET",
    "EXPORTER_SECRET",
    "RSA",
];

/// NSS key log material, from one or more files (or text, for tests).
#[derive(Debug, Default)]
pub struct KeyLog {
    paths: Vec<PathBuf>,
    secrets: HashMap<(Label, [u8; RANDOM_LEN]), Vec<u8>>,
    bad_lines: u64,
    /// File lengths at the last read, to tell whether a reload can help.
    lengths: Vec<Option<u64>>,
    last_reload: Option<Instant>,
    reloads: u64,
}

impl KeyLog {
    /// A key log over `paths`; nothing is read until [`KeyLog::load`].
    pub fn new(paths: Vec<PathBuf>) -> KeyLog {
        KeyLog {
            paths,
            ..KeyLog::default()
        }
    }

    /// Reads every file; the error names the file that could not be read.
    /// Secrets read before are kept (files only grow).
    pub fn load(&mut self) -> std::io::Result<()> {
        let mut lengths = Vec::with_capacity(self.paths.len());
        let mut texts = Vec::with_capacity(self.paths.len());
        for p in &self.paths {
            let bytes = std::fs::read(p).map_err(|e| {
                std::io::Error::new(e.kind(), format!("key log {}: {e}", p.display()))
            })?;
            lengths.push(Some(bytes.len() as u64));
            texts.push(bytes);
        }
        self.bad_lines = 0;
        for t in texts {
            self.add_text(&String::from_utf8_lossy(&t));
        }
        self.lengths = lengths;
        self.last_reload = Some(Instant::now());
        Ok(())
    }

    /// A key log holding the lines of `text` (no files).
    pub fn from_text(text: &str) -> KeyLog {
        let mut k = KeyLog::default();
        k.add_text(text);
        k
    }

    /// No secret known.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Secrets known.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Lines that were neither a comment, blank, nor a usable secret (at
    /// the last read).
    pub fn bad_lines(&self) -> u64 {
        self.bad_lines
    }

    /// Times the files were re-read after a lookup miss.
    pub fn reloads(&self) -> u64 {
        self.reloads
    }

    fn add_text(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if !self.add_line(line) {
                self.bad_lines += 1;
            }
        }
    }

    fn add_line(&mut self, line: &str) -> bool {
        let mut it = line.split_ascii_whitespace();
        let (Some(label), Some(random), Some(secret), None) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return false;
        };
        let Some(label) = Label::parse(label) else {
            return IGNORED_LABELS.contains(&label);
        };
        let Some(random) = unhex(random).and_then(|r| <[u8; RANDOM_LEN]>::try_from(r).ok()) else {
            return false;
        };
        let Some(secret) = unhex(secret).filter(|s| !s.is_empty() && s.len() <= MAX_SECRET_LEN)
        else {
            return false;
        };
        if self.secrets.len() >= MAX_KEYLOG_ENTRIES && !self.secrets.contains_key(&(label, random))
        {
            return false;
        }
        self.secrets.insert((label, random), secret);
        true
    }

    /// The secret `label` for the connection whose ClientHello random is
    /// `random`, without reloading.
    pub fn get(&self, label: Label, random: &[u8; RANDOM_LEN]) -> Option<&[u8]> {
        self.secrets.get(&(label, *random)).map(Vec::as_slice)
    }

    /// [`KeyLog::get`], re-reading the files on a miss when
    /// [`MIN_RELOAD_INTERVAL`] has passed since the last read and a file's
    /// length changed.
    pub fn lookup(&mut self, label: Label, random: &[u8; RANDOM_LEN]) -> Option<Vec<u8>> {
        if let Some(s) = self.get(label, random) {
            return Some(s.to_vec());
        }
        self.maybe_reload();
        self.get(label, random).map(<[u8]>::to_vec)
    }

    fn maybe_reload(&mut self) {
        if self.paths.is_empty() {
            return;
        }
        let now = Instant::now();
        if self
            .last_reload
            .is_some_and(|t| now.duration_since(t) < MIN_RELOAD_INTERVAL)
        {
            return;
        }
        self.last_reload = Some(now);
        let lengths: Vec<Option<u64>> = self
            .paths
            .iter()
            .map(|p| std::fs::metadata(p).ok().map(|m| m.len()))
            .collect();
        if lengths == self.lengths {
            return;
        }
        self.reloads += 1;
        // A file that vanished keeps what was read from it.
        let _ = self.load();
    }
}

/// Lower- or upper-case hex to bytes; `None` for odd lengths or other
/// characters.
fn unhex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks_exact(2)
        .map(|p| {
            let hi = (*p.first()? as char).to_digit(16)?;
            let lo = (*p.get(1)? as char).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const R1: &str = "fc1b4c47334816b5ad874f583ed0c9e9046f561ac490a36cffc6dd6abe87d0f0";

    #[test]
    fn parses_lines_and_counts_bad_ones() {
        let text = format!(
            "# comment\n\n   \nCLIENT_RANDOM {R1} 0011aa\nEXPORTER_SECRET {R1} 00\n\
             CLIENT_RANDOM {R1}\nCLIENT_RANDOM zz 00\nNOT_A_LABEL {R1} 00\n\
             SERVER_TRAFFIC_SECRET_0 {R1} ABCD\nCLIENT_RANDOM {R1} 0g\n"
        );
        let k = KeyLog::from_text(&text);
        assert_eq!(k.len(), 2);
        assert_eq!(k.bad_lines(), 4);
        let r: [u8; 32] = unhex(R1).unwrap().try_into().unwrap();
        assert_eq!(
            k.get(Label::ClientRandom, &r),
            Some(&[0x00, 0x11, 0xaa][..])
        );
        assert_eq!(
            k.get(Label::ServerTrafficSecret0, &r),
            Some(&[0xab, 0xcd][..])
        );
        assert_eq!(k.get(Label::ClientTrafficSecret0, &r), None);
        assert!(!k.is_empty());
        assert!(KeyLog::from_text("# nothing\n").is_empty());
    }

    #[test]
    fn load_names_the_file_and_reload_follows_growth() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.keys");
        let err = KeyLog::new(vec![missing.clone()]).load().unwrap_err();
        assert!(err.to_string().contains("nope.keys"), "{err}");

        let p = dir.path().join("k.keys");
        std::fs::write(&p, "# empty so far\n").unwrap();
        let mut k = KeyLog::new(vec![p.clone()]);
        k.load().unwrap();
        assert!(k.is_empty());
        std::fs::write(&p, format!("CLIENT_RANDOM {R1} 01\n")).unwrap();
        let r: [u8; 32] = unhex(R1).unwrap().try_into().unwrap();
        // Within MIN_RELOAD_INTERVAL of the load: no reload.
        assert_eq!(k.lookup(Label::ClientRandom, &r), None);
        k.last_reload = Instant::now().checked_sub(MIN_RELOAD_INTERVAL);
        assert_eq!(k.lookup(Label::ClientRandom, &r), Some(vec![1]));
        assert_eq!(k.reloads(), 1);
    }
}
