//! pcap and pcapng files, and a pcap/pcapng stream on stdin.

use std::io::Read;

use super::{CaptureError, LinkType, Packet, PacketSource, SourceFormat};

/// Reads pcap (both byte orders, micro- and nanosecond timestamps) and pcapng
/// (several interfaces and link types) from any reader, streaming with a
/// bounded buffer.
pub struct FileSource {
    _reader: Box<dyn Read + Send>,
}

impl FileSource {
    /// Open a file by path, or stdin when `path` is `-`.
    pub fn open(path: &str) -> Result<FileSource, CaptureError> {
        Err(CaptureError::NotACapture(path.to_string()))
    }

    /// Read a capture from any byte stream.
    pub fn from_reader(
        name: &str,
        reader: Box<dyn Read + Send>,
    ) -> Result<FileSource, CaptureError> {
        let _ = reader;
        Err(CaptureError::NotACapture(name.to_string()))
    }
}

impl PacketSource for FileSource {
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        Ok(None)
    }
    fn format(&self) -> SourceFormat {
        SourceFormat::Pcap
    }
    fn link_types(&self) -> Vec<LinkType> {
        Vec::new()
    }
}
