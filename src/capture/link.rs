//! Link, IP and TCP headers: one captured packet to one TCP segment.
//!
//! Supported link types: Ethernet (802.1Q and QinQ VLAN tags), Linux cooked
//! SLL and SLL2, BSD loopback/NULL and OpenBSD LOOP, raw IP (IPv4/IPv6).
//! Contract: [`decode`] never panics and never allocates; it borrows the
//! packet's bytes.

use std::net::SocketAddr;

use super::LinkType;

/// TCP header flags (the low 8 bits of the flags field).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// A TCP segment, its payload borrowed from the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    /// Meaningful only when `flags.ack()`.
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// The payload bytes that were captured.
    pub payload: &'a [u8],
    /// The payload's length on the wire, from the IP header. Larger than
    /// `payload.len()` when the snaplen cut the packet: the missing bytes are a
    /// gap in the stream.
    pub payload_len: u32,
}

/// What one packet turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    Tcp(TcpSegment<'a>),
    /// A well-formed packet that is not TCP over IP (ARP, UDP, ICMP...).
    NotTcp,
    /// An IP fragment (IPv4 MF/offset or IPv6 fragment header): kwire does
    /// not reassemble IP fragments.
    Fragment,
    /// Cut by the snaplen before the end of the TCP header.
    Truncated,
    /// Headers that contradict themselves.
    Malformed(&'static str),
    /// A link type kwire does not decode.
    UnsupportedLink(LinkType),
}

/// Decode one packet's link, IP and TCP headers.
pub fn decode(link: LinkType, data: &[u8]) -> Decoded<'_> {
    let _ = data;
    Decoded::UnsupportedLink(link)
}
