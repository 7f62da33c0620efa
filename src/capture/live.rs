//! Live capture from an interface through libpcap (the only module that
//! touches libpcap).

use super::{CaptureError, DropStats, LinkType, Packet, PacketSource, SourceFormat};

/// Options for a live capture.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub interface: String,
    /// A BPF filter expression; `None` captures all TCP.
    pub bpf: Option<String>,
    pub snaplen: i32,
    pub promisc: bool,
    /// Kernel buffer size in bytes.
    pub buffer_size: i32,
    /// Set from another thread (e.g. a Ctrl-C handler) to end the capture:
    /// `next_packet` then returns `Ok(None)` within its read timeout.
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

pub struct LiveSource {}

impl LiveSource {
    pub fn open(opts: &LiveOptions) -> Result<LiveSource, CaptureError> {
        Err(CaptureError::Live(format!(
            "{}: not implemented",
            opts.interface
        )))
    }
}

impl PacketSource for LiveSource {
    fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        Ok(None)
    }
    fn format(&self) -> SourceFormat {
        SourceFormat::Live
    }
    fn link_types(&self) -> Vec<LinkType> {
        Vec::new()
    }
    fn drop_stats(&mut self) -> Option<DropStats> {
        None
    }
}
