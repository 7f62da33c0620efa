//! Link, IP and TCP headers: one captured packet to one TCP segment.
//!
//! Supported link types: Ethernet (802.1Q and QinQ VLAN tags), Linux cooked
//! SLL and SLL2, BSD loopback/NULL and OpenBSD LOOP, raw IP (IPv4/IPv6).
//! Contract: [`decode`] never panics and never allocates; it borrows the
//! packet's bytes.
//!
//! Lengths: the IP header says how long the packet is; bytes captured beyond
//! that (Ethernet padding to 60 bytes, a trailing FCS) are not payload, and
//! bytes missing from it (a snaplen cut) make `payload` shorter than
//! `payload_len`. A total length of 0 (IPv4) or a payload length of 0 (IPv6)
//! is what a capture of a segmentation-offloaded (TSO/GSO) packet shows; the
//! captured length is used instead, as Wireshark does.
//!
//! IP fragments of a TCP datagram (IPv4 MF/offset, an IPv6 Fragment header
//! that is not atomic) come out as [`Decoded::Fragment`], an [`IpFragment`]
//! for [`super::defrag`] to reassemble; the reassembled datagram is decoded
//! by [`decode`] again as raw IP.
//!
//! The IPv4, IPv6, IPv6 Fragment and TCP headers are read with `etherparse`'s
//! header slices; the link layers and other IPv6 extension headers are walked
//! by hand.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use etherparse::{Ipv4HeaderSlice, Ipv6FragmentHeaderSlice, Ipv6HeaderSlice, TcpHeaderSlice, err};

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

/// One fragment of an IP datagram carrying TCP, its data borrowed from the
/// packet. Fragments of one datagram share `src`, `dst`, `id` and
/// `protocol` (RFC 791; RFC 8200 section 4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpFragment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The IPv4 identification (16 bits) or the IPv6 Fragment header's.
    pub id: u32,
    /// The IPv4 protocol, or the IPv6 Fragment header's next header: the
    /// first header of the reassembled payload.
    pub protocol: u8,
    /// Where `data` goes in the reassembled payload, in bytes (a multiple
    /// of 8).
    pub offset: u32,
    /// More fragments follow (MF / M flag); the last one has it clear.
    pub more: bool,
    /// The fragment's data as captured, never beyond the IP length.
    pub data: &'a [u8],
    /// The data's length according to the IP header: larger than
    /// `data.len()` when the snaplen cut the packet.
    pub data_len: u32,
}

/// What one packet turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    Tcp(TcpSegment<'a>),
    /// A well-formed packet that is not TCP over IP (ARP, UDP, ICMP...).
    NotTcp,
    /// A fragment of an IP datagram that carries TCP (IPv4 MF/offset, or an
    /// IPv6 Fragment header that is not atomic).
    Fragment(IpFragment<'a>),
    /// Cut by the snaplen before the end of the TCP header.
    Truncated,
    /// Headers that contradict themselves.
    Malformed(&'static str),
    /// A link type kwire does not decode.
    UnsupportedLink(LinkType),
}

/// VLAN tags (802.1Q, 802.1ad, pre-standard QinQ) accepted in one frame.
const MAX_VLAN_TAGS: usize = 8;
/// IPv6 extension headers walked before giving up.
const MAX_IPV6_EXT_HEADERS: usize = 8;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;

const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_AH: u8 = 51;
const IPPROTO_DSTOPTS: u8 = 60;
const IPPROTO_MOBILITY: u8 = 135;
const IPPROTO_HIP: u8 = 139;
const IPPROTO_SHIM6: u8 = 140;

/// BSD address families for IPv4 and IPv6 (IPv6 differs between BSDs:
/// NetBSD/OpenBSD 24, FreeBSD 28, macOS 30).
const AF_INET: u32 = 2;
const AF_INET6_BSD: u32 = 24;
const AF_INET6_FREEBSD: u32 = 28;
const AF_INET6_DARWIN: u32 = 30;

/// Decode one packet's link, IP and TCP headers.
pub fn decode(link: LinkType, data: &[u8]) -> Decoded<'_> {
    match link {
        LinkType::ETHERNET => ethernet(data),
        // Linux cooked v1: packet type, ARPHRD, address length, 8-byte
        // address, protocol.
        LinkType::LINUX_SLL => match (data.get(16..), be16(data, 14)) {
            (Some(rest), Some(proto)) => ether_type(proto, rest),
            _ => Decoded::Truncated,
        },
        // Linux cooked v2: protocol, reserved, interface index, ARPHRD, packet
        // type, address length, 8-byte address.
        LinkType::LINUX_SLL2 => match (data.get(20..), be16(data, 0)) {
            (Some(rest), Some(proto)) => ether_type(proto, rest),
            _ => Decoded::Truncated,
        },
        LinkType::NULL => match (data.get(4..), data.first_chunk::<4>()) {
            // The capturing host's byte order, which the file does not record.
            (Some(rest), Some(af)) => match address_family(u32::from_le_bytes(*af))
                .or_else(|| address_family(u32::from_be_bytes(*af)))
            {
                Some(ethertype) => ether_type(ethertype, rest),
                None => Decoded::NotTcp,
            },
            _ => Decoded::Truncated,
        },
        LinkType::LOOP => match (data.get(4..), data.first_chunk::<4>()) {
            (Some(rest), Some(af)) => match address_family(u32::from_be_bytes(*af)) {
                Some(ethertype) => ether_type(ethertype, rest),
                None => Decoded::NotTcp,
            },
            _ => Decoded::Truncated,
        },
        LinkType::RAW | LinkType::IPV4 | LinkType::IPV6 => raw_ip(data),
        _ => Decoded::UnsupportedLink(link),
    }
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// A loopback address family as the Ethertype of the same protocol.
fn address_family(af: u32) -> Option<u16> {
    match af {
        AF_INET => Some(ETHERTYPE_IPV4),
        AF_INET6_BSD | AF_INET6_FREEBSD | AF_INET6_DARWIN => Some(ETHERTYPE_IPV6),
        _ => None,
    }
}

fn ethernet(data: &[u8]) -> Decoded<'_> {
    let Some(mut ethertype) = be16(data, 12) else {
        return Decoded::Truncated;
    };
    let mut offset = 14;
    let mut tags = 0;
    while matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
    ) {
        if tags == MAX_VLAN_TAGS {
            return Decoded::Malformed("too many VLAN tags");
        }
        // A tag is 2 bytes of priority/VLAN id, then the next Ethertype.
        let Some(next) = be16(data, offset + 2) else {
            return Decoded::Truncated;
        };
        ethertype = next;
        offset += 4;
        tags += 1;
    }
    match data.get(offset..) {
        Some(rest) => ether_type(ethertype, rest),
        None => Decoded::Truncated,
    }
}

fn ether_type(ethertype: u16, rest: &[u8]) -> Decoded<'_> {
    match ethertype {
        ETHERTYPE_IPV4 => ipv4(rest),
        ETHERTYPE_IPV6 => ipv6(rest),
        _ => Decoded::NotTcp,
    }
}

fn raw_ip(data: &[u8]) -> Decoded<'_> {
    match data.first().map(|b| b >> 4) {
        None => Decoded::Truncated,
        Some(4) => ipv4(data),
        Some(6) => ipv6(data),
        Some(_) => Decoded::Malformed("IP version is neither 4 nor 6"),
    }
}

fn ipv4(ip: &[u8]) -> Decoded<'_> {
    let h = match Ipv4HeaderSlice::from_slice(ip) {
        Ok(h) => h,
        Err(err::ipv4::HeaderSliceError::Len(_)) => return Decoded::Truncated,
        Err(err::ipv4::HeaderSliceError::Content(err::ipv4::HeaderError::UnexpectedVersion {
            ..
        })) => return Decoded::Malformed("IPv4 packet with another version number"),
        Err(err::ipv4::HeaderSliceError::Content(_)) => {
            return Decoded::Malformed("IPv4 header length below 20 bytes");
        }
    };
    let header_len = h.slice().len();
    let total_len = match usize::from(h.total_len()) {
        0 => ip.len(), // TSO
        n if n < header_len => {
            return Decoded::Malformed("IPv4 total length smaller than its header");
        }
        n => n,
    };
    if h.protocol().0 != IPPROTO_TCP {
        return Decoded::NotTcp;
    }
    let end = total_len.min(ip.len());
    let Some(segment) = ip.get(header_len..end) else {
        return Decoded::Truncated;
    };
    if h.more_fragments() || h.fragments_offset().value() != 0 {
        return Decoded::Fragment(IpFragment {
            src: IpAddr::V4(Ipv4Addr::from(h.source())),
            dst: IpAddr::V4(Ipv4Addr::from(h.destination())),
            id: u32::from(h.identification()),
            protocol: IPPROTO_TCP,
            offset: u32::from(h.fragments_offset().value()) * 8,
            more: h.more_fragments(),
            data: segment,
            // At most 65,535: `total_len` is a u16 or the captured length.
            data_len: u32::try_from(total_len - header_len).unwrap_or(u32::MAX),
        });
    }
    tcp(
        IpAddr::V4(Ipv4Addr::from(h.source())),
        IpAddr::V4(Ipv4Addr::from(h.destination())),
        segment,
        total_len - header_len,
    )
}

fn ipv6(ip: &[u8]) -> Decoded<'_> {
    let h = match Ipv6HeaderSlice::from_slice(ip) {
        Ok(h) => h,
        Err(err::ipv6::HeaderSliceError::Len(_)) => return Decoded::Truncated,
        Err(err::ipv6::HeaderSliceError::Content(_)) => {
            return Decoded::Malformed("IPv6 packet with another version number");
        }
    };
    const HEADER_LEN: usize = 40;
    let end = match usize::from(h.payload_length()) {
        // TSO/GSO or a jumbogram: the captured bytes are all there is to know.
        0 => ip.len(),
        n => HEADER_LEN + n,
    };
    // `Err` when `n` bytes from `at` are not within the packet.
    let need = |at: usize, n: usize| -> Result<(), Decoded<'static>> {
        if at + n > end {
            Err(Decoded::Malformed(
                "IPv6 extension headers longer than the payload length",
            ))
        } else if at + n > ip.len() {
            Err(Decoded::Truncated)
        } else {
            Ok(())
        }
    };
    let mut next = h.next_header().0;
    let mut at = HEADER_LEN;
    for _ in 0..=MAX_IPV6_EXT_HEADERS {
        let len = match next {
            IPPROTO_TCP => {
                let segment = ip.get(at..end.min(ip.len())).unwrap_or_default();
                return tcp(
                    IpAddr::V6(Ipv6Addr::from(h.source())),
                    IpAddr::V6(Ipv6Addr::from(h.destination())),
                    segment,
                    end - at,
                );
            }
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS | IPPROTO_MOBILITY
            | IPPROTO_HIP | IPPROTO_SHIM6 => {
                if let Err(d) = need(at, 2) {
                    return d;
                }
                (usize::from(ip[at + 1]) + 1) * 8
            }
            IPPROTO_AH => {
                if let Err(d) = need(at, 2) {
                    return d;
                }
                (usize::from(ip[at + 1]) + 2) * 4
            }
            IPPROTO_FRAGMENT => {
                if let Err(d) = need(at, 8) {
                    return d;
                }
                let Ok(f) = Ipv6FragmentHeaderSlice::from_slice(&ip[at..]) else {
                    return Decoded::Truncated;
                };
                // An "atomic fragment" (offset 0, no more fragments, RFC 6946)
                // carries a whole packet: decode through it.
                if f.is_fragmenting_payload() {
                    return match f.next_header().0 {
                        IPPROTO_TCP | IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS
                        | IPPROTO_AH | IPPROTO_MOBILITY | IPPROTO_HIP | IPPROTO_SHIM6 => {
                            let data_at = at + 8;
                            Decoded::Fragment(IpFragment {
                                src: IpAddr::V6(Ipv6Addr::from(h.source())),
                                dst: IpAddr::V6(Ipv6Addr::from(h.destination())),
                                id: f.identification(),
                                protocol: f.next_header().0,
                                offset: u32::from(f.fragment_offset().value()) * 8,
                                more: f.more_fragments(),
                                data: ip.get(data_at..end.min(ip.len())).unwrap_or_default(),
                                data_len: u32::try_from(end - data_at).unwrap_or(u32::MAX),
                            })
                        }
                        _ => Decoded::NotTcp,
                    };
                }
                8
            }
            // ESP, No Next Header, UDP, ICMPv6...
            _ => return Decoded::NotTcp,
        };
        if let Err(d) = need(at, len) {
            return d;
        }
        next = ip[at];
        at += len;
    }
    Decoded::Malformed("too many IPv6 extension headers")
}

/// `segment`: the captured bytes of the TCP segment, never beyond the IP
/// length; `declared`: the segment's length according to the IP header.
fn tcp(src: IpAddr, dst: IpAddr, segment: &[u8], declared: usize) -> Decoded<'_> {
    const SHORT: &str = "IP length shorter than the TCP header";
    let t = match TcpHeaderSlice::from_slice(segment) {
        Ok(t) => t,
        Err(err::tcp::HeaderSliceError::Content(_)) => {
            return Decoded::Malformed("TCP data offset below 5");
        }
        Err(err::tcp::HeaderSliceError::Len(e)) => {
            // Everything the IP header declares was captured, or it declares
            // too little: the headers contradict each other. Otherwise the
            // snaplen cut the header.
            return if segment.len() >= declared || declared < e.required_len {
                Decoded::Malformed(SHORT)
            } else {
                Decoded::Truncated
            };
        }
    };
    let header = t.slice();
    let Some(payload_len) = declared.checked_sub(header.len()) else {
        return Decoded::Malformed(SHORT);
    };
    Decoded::Tcp(TcpSegment {
        src: SocketAddr::new(src, t.source_port()),
        dst: SocketAddr::new(dst, t.destination_port()),
        seq: t.sequence_number(),
        ack: t.acknowledgment_number(),
        flags: TcpFlags(header[13]),
        window: t.window_size(),
        payload: segment.get(header.len()..).unwrap_or_default(),
        payload_len: u32::try_from(payload_len).unwrap_or(u32::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- packet builders -------------------------------------------------

    const CLIENT4: [u8; 4] = [10, 0, 0, 1];
    const BROKER4: [u8; 4] = [10, 0, 0, 2];
    const CLIENT6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const BROKER6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    /// A Kafka ApiVersions request header fragment, as a payload.
    const PAYLOAD: &[u8] = b"\x00\x00\x00\x16\x00\x12\x00\x03\x00\x00\x00\x01";

    /// TCP header 40000 -> 9092, seq 1000, ack 2000, PSH|ACK, window 512,
    /// with `opts` bytes of options (NOPs, a multiple of 4), then `payload`.
    fn tcp_segment(opts: usize, payload: &[u8]) -> Vec<u8> {
        let mut t = vec![
            0x9c,
            0x40, // src port 40000
            0x23,
            0x84, // dst port 9092
            0,
            0,
            0x03,
            0xe8, // seq 1000
            0,
            0,
            0x07,
            0xd0, // ack 2000
            0,    // data offset, set below
            TcpFlags::PSH | TcpFlags::ACK,
            0x02,
            0x00, // window 512
            0,
            0, // checksum
            0,
            0, // urgent pointer
        ];
        t[12] = (((20 + opts) / 4) as u8) << 4;
        t.extend(std::iter::repeat_n(1u8, opts)); // NOP options
        t.extend_from_slice(payload);
        t
    }

    /// IPv4 header (with `opts` bytes of options) around `l4`.
    fn ipv4_packet(proto: u8, opts: usize, flags_frag: u16, l4: &[u8]) -> Vec<u8> {
        let hl = 20 + opts;
        let total = (hl + l4.len()) as u16;
        let mut p = vec![0x40 | (hl / 4) as u8, 0];
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0x12, 0x34]); // identification
        p.extend_from_slice(&flags_frag.to_be_bytes());
        p.extend_from_slice(&[64, proto, 0, 0]); // ttl, protocol, checksum
        p.extend_from_slice(&CLIENT4);
        p.extend_from_slice(&BROKER4);
        p.extend(std::iter::repeat_n(1u8, opts)); // NOP options
        p.extend_from_slice(l4);
        p
    }

    fn ipv4_tcp() -> Vec<u8> {
        ipv4_packet(
            IPPROTO_TCP,
            0,
            0x4000, /* DF */
            &tcp_segment(0, PAYLOAD),
        )
    }

    /// IPv6 header; `exts` are already-encoded extension headers.
    fn ipv6_packet(next: u8, exts: &[u8], l4: &[u8]) -> Vec<u8> {
        let plen = (exts.len() + l4.len()) as u16;
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&plen.to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&CLIENT6);
        p.extend_from_slice(&BROKER6);
        p.extend_from_slice(exts);
        p.extend_from_slice(l4);
        p
    }

    fn ipv6_tcp() -> Vec<u8> {
        ipv6_packet(IPPROTO_TCP, &[], &tcp_segment(12, PAYLOAD))
    }

    /// Ethernet with the given VLAN tag Ethertypes before `ethertype`.
    fn ethernet_frame(tags: &[u16], ethertype: u16, l3: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]; // dst, src MAC
        for (i, tag) in tags.iter().enumerate() {
            f.extend_from_slice(&tag.to_be_bytes());
            f.extend_from_slice(&(100 + i as u16).to_be_bytes()); // VLAN id
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(l3);
        f
    }

    fn sll_frame(proto: u16, l3: &[u8]) -> Vec<u8> {
        let mut f = vec![0, 0, 0x03, 0x04, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0]; // type, ARPHRD_LOOPBACK, addr
        f.extend_from_slice(&proto.to_be_bytes());
        f.extend_from_slice(l3);
        f
    }

    fn sll2_frame(proto: u16, l3: &[u8]) -> Vec<u8> {
        let mut f = proto.to_be_bytes().to_vec();
        f.extend_from_slice(&[0, 0]); // reserved
        f.extend_from_slice(&1u32.to_be_bytes()); // ifindex
        f.extend_from_slice(&[0x03, 0x04, 0, 6]); // ARPHRD, packet type, addr len
        f.extend_from_slice(&[0; 8]); // address
        f.extend_from_slice(l3);
        f
    }

    fn with_prefix(prefix: [u8; 4], l3: &[u8]) -> Vec<u8> {
        let mut f = prefix.to_vec();
        f.extend_from_slice(l3);
        f
    }

    fn expect_tcp(d: Decoded<'_>) -> TcpSegment<'_> {
        match d {
            Decoded::Tcp(s) => s,
            other => panic!("expected TCP, got {other:?}"),
        }
    }

    fn check_v4(d: Decoded<'_>) {
        let s = expect_tcp(d);
        assert_eq!(s.src, "10.0.0.1:40000".parse().unwrap());
        assert_eq!(s.dst, "10.0.0.2:9092".parse().unwrap());
        assert_eq!((s.seq, s.ack, s.window), (1000, 2000, 512));
        assert!(s.flags.ack() && !s.flags.syn() && !s.flags.fin() && !s.flags.rst());
        assert_eq!(s.payload, PAYLOAD);
        assert_eq!(s.payload_len, PAYLOAD.len() as u32);
    }

    fn check_v6(d: Decoded<'_>) {
        let s = expect_tcp(d);
        assert_eq!(s.src, "[2001:db8::1]:40000".parse().unwrap());
        assert_eq!(s.dst, "[2001:db8::2]:9092".parse().unwrap());
        assert_eq!(s.payload, PAYLOAD);
        assert_eq!(s.payload_len, PAYLOAD.len() as u32);
    }

    /// One valid frame per link type and IP version.
    fn valid_frames() -> Vec<(LinkType, Vec<u8>)> {
        vec![
            (LinkType::ETHERNET, ethernet_frame(&[], 0x0800, &ipv4_tcp())),
            (
                LinkType::ETHERNET,
                ethernet_frame(&[0x88a8, 0x8100, 0x9100], 0x86dd, &ipv6_tcp()),
            ),
            (LinkType::LINUX_SLL, sll_frame(0x0800, &ipv4_tcp())),
            (LinkType::LINUX_SLL2, sll2_frame(0x86dd, &ipv6_tcp())),
            (LinkType::NULL, with_prefix([2, 0, 0, 0], &ipv4_tcp())),
            (LinkType::NULL, with_prefix([0, 0, 0, 30], &ipv6_tcp())),
            (LinkType::LOOP, with_prefix([0, 0, 0, 2], &ipv4_tcp())),
            (LinkType::RAW, ipv4_tcp()),
            (LinkType::RAW, ipv6_tcp()),
            (LinkType::IPV4, ipv4_tcp()),
            (LinkType::IPV6, ipv6_tcp()),
        ]
    }

    // ---- link layers -----------------------------------------------------

    #[test]
    fn ethernet_plain_and_tagged() {
        check_v4(decode(
            LinkType::ETHERNET,
            &ethernet_frame(&[], 0x0800, &ipv4_tcp()),
        ));
        // 802.1ad outer, 802.1Q inner.
        check_v4(decode(
            LinkType::ETHERNET,
            &ethernet_frame(&[0x88a8, 0x8100], 0x0800, &ipv4_tcp()),
        ));
        // Old QinQ 0x9100 and a single 802.1Q tag, IPv6 inside.
        check_v6(decode(
            LinkType::ETHERNET,
            &ethernet_frame(&[0x9100, 0x8100], 0x86dd, &ipv6_tcp()),
        ));
        check_v6(decode(
            LinkType::ETHERNET,
            &ethernet_frame(&[0x8100], 0x86dd, &ipv6_tcp()),
        ));
        // Too many tags.
        let tags = [0x8100; MAX_VLAN_TAGS + 1];
        assert_eq!(
            decode(
                LinkType::ETHERNET,
                &ethernet_frame(&tags, 0x0800, &ipv4_tcp())
            ),
            Decoded::Malformed("too many VLAN tags")
        );
        // ARP is not TCP.
        assert_eq!(
            decode(LinkType::ETHERNET, &ethernet_frame(&[], 0x0806, &[0; 28])),
            Decoded::NotTcp
        );
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        // A bare ACK: 14 + 20 + 20 = 54 bytes, padded to 60 on the wire.
        let ack = ipv4_packet(IPPROTO_TCP, 0, 0x4000, &tcp_segment(0, &[]));
        let mut frame = ethernet_frame(&[], 0x0800, &ack);
        frame.extend_from_slice(&[0; 6]);
        let s = expect_tcp(decode(LinkType::ETHERNET, &frame));
        assert_eq!(s.payload, b"");
        assert_eq!(s.payload_len, 0);
        // Same with a 4-byte FCS after a payload.
        let mut frame = ethernet_frame(&[], 0x0800, &ipv4_tcp());
        frame.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        check_v4(decode(LinkType::ETHERNET, &frame));
        // And for IPv6.
        let mut frame = ethernet_frame(&[], 0x86dd, &ipv6_tcp());
        frame.extend_from_slice(&[0; 4]);
        check_v6(decode(LinkType::ETHERNET, &frame));
    }

    #[test]
    fn linux_cooked() {
        check_v4(decode(LinkType::LINUX_SLL, &sll_frame(0x0800, &ipv4_tcp())));
        check_v6(decode(LinkType::LINUX_SLL, &sll_frame(0x86dd, &ipv6_tcp())));
        check_v4(decode(
            LinkType::LINUX_SLL2,
            &sll2_frame(0x0800, &ipv4_tcp()),
        ));
        check_v6(decode(
            LinkType::LINUX_SLL2,
            &sll2_frame(0x86dd, &ipv6_tcp()),
        ));
        assert_eq!(
            decode(LinkType::LINUX_SLL2, &sll2_frame(0x0806, &[0; 28])),
            Decoded::NotTcp
        );
        assert_eq!(decode(LinkType::LINUX_SLL, &[0; 15]), Decoded::Truncated);
        assert_eq!(decode(LinkType::LINUX_SLL2, &[0; 19]), Decoded::Truncated);
    }

    #[test]
    fn bsd_loopback_both_byte_orders() {
        // NULL: the capturing host's order, so both are accepted.
        check_v4(decode(
            LinkType::NULL,
            &with_prefix([2, 0, 0, 0], &ipv4_tcp()),
        ));
        check_v4(decode(
            LinkType::NULL,
            &with_prefix([0, 0, 0, 2], &ipv4_tcp()),
        ));
        for af in [24u32, 28, 30] {
            check_v6(decode(
                LinkType::NULL,
                &with_prefix(af.to_le_bytes(), &ipv6_tcp()),
            ));
            check_v6(decode(
                LinkType::NULL,
                &with_prefix(af.to_be_bytes(), &ipv6_tcp()),
            ));
        }
        assert_eq!(
            decode(LinkType::NULL, &with_prefix([7, 0, 0, 0], &ipv4_tcp())),
            Decoded::NotTcp
        );
        // LOOP: network order only.
        check_v4(decode(
            LinkType::LOOP,
            &with_prefix([0, 0, 0, 2], &ipv4_tcp()),
        ));
        check_v6(decode(
            LinkType::LOOP,
            &with_prefix([0, 0, 0, 24], &ipv6_tcp()),
        ));
        assert_eq!(
            decode(LinkType::LOOP, &with_prefix([2, 0, 0, 0], &ipv4_tcp())),
            Decoded::NotTcp
        );
        assert_eq!(decode(LinkType::LOOP, &[0, 0, 0]), Decoded::Truncated);
    }

    #[test]
    fn raw_ip_by_version_nibble() {
        check_v4(decode(LinkType::RAW, &ipv4_tcp()));
        check_v6(decode(LinkType::RAW, &ipv6_tcp()));
        check_v4(decode(LinkType::IPV4, &ipv4_tcp()));
        check_v6(decode(LinkType::IPV6, &ipv6_tcp()));
        assert_eq!(decode(LinkType::RAW, &[]), Decoded::Truncated);
        assert!(matches!(
            decode(LinkType::RAW, &[0x50; 40]),
            Decoded::Malformed(_)
        ));
    }

    #[test]
    fn unknown_link_is_reported() {
        assert_eq!(
            decode(LinkType(147), &ipv4_tcp()),
            Decoded::UnsupportedLink(LinkType(147))
        );
    }

    // ---- IPv4 ------------------------------------------------------------

    #[test]
    fn ipv4_options_and_tcp_options_are_skipped() {
        let p = ipv4_packet(IPPROTO_TCP, 8, 0, &tcp_segment(20, PAYLOAD));
        check_v4(decode(LinkType::RAW, &p));
    }

    fn expect_fragment(d: Decoded<'_>) -> IpFragment<'_> {
        match d {
            Decoded::Fragment(f) => f,
            other => panic!("expected a fragment, got {other:?}"),
        }
    }

    #[test]
    fn ipv4_fragments() {
        let seg = tcp_segment(0, PAYLOAD);
        // More fragments, offset 0: the data is the TCP header and payload.
        let p = ipv4_packet(IPPROTO_TCP, 0, 0x2000, &seg);
        let f = expect_fragment(decode(LinkType::RAW, &p));
        assert_eq!(f.src, IpAddr::V4(Ipv4Addr::from(CLIENT4)));
        assert_eq!(f.dst, IpAddr::V4(Ipv4Addr::from(BROKER4)));
        assert_eq!((f.id, f.protocol, f.offset, f.more), (0x1234, 6, 0, true));
        assert_eq!(f.data, &seg[..]);
        assert_eq!(f.data_len, seg.len() as u32);
        // A later, last fragment (offset 185 * 8), with IP options: the data
        // starts after them.
        let p = ipv4_packet(IPPROTO_TCP, 4, 185, &seg);
        let f = expect_fragment(decode(LinkType::RAW, &p));
        assert_eq!((f.offset, f.more), (1480, false));
        assert_eq!(f.data, &seg[..]);
        // Cut by the snaplen: the captured data is shorter than declared.
        let f = expect_fragment(decode(LinkType::RAW, &p[..24 + 10]));
        assert_eq!(f.data, &seg[..10]);
        assert_eq!(f.data_len, seg.len() as u32);
        // A fragmented UDP datagram is simply not TCP.
        let p = ipv4_packet(17, 0, 0x2000, &[0; 16]);
        assert_eq!(decode(LinkType::RAW, &p), Decoded::NotTcp);
    }

    #[test]
    fn ipv4_lengths() {
        // Total length smaller than the IP header.
        let mut p = ipv4_tcp();
        p[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert!(matches!(decode(LinkType::RAW, &p), Decoded::Malformed(_)));
        // Total length covering only part of the TCP header.
        p[2..4].copy_from_slice(&30u16.to_be_bytes());
        assert!(matches!(decode(LinkType::RAW, &p), Decoded::Malformed(_)));
        // IHL below 5.
        let mut p = ipv4_tcp();
        p[0] = 0x44;
        assert!(matches!(decode(LinkType::RAW, &p), Decoded::Malformed(_)));
        // TCP data offset below 5.
        let mut p = ipv4_tcp();
        p[20 + 12] = 0x40;
        assert!(matches!(decode(LinkType::RAW, &p), Decoded::Malformed(_)));
        // Total length 0 (TSO): the captured length is used.
        let mut p = ipv4_tcp();
        p[2..4].copy_from_slice(&[0, 0]);
        check_v4(decode(LinkType::RAW, &p));
        // Not TCP.
        let p = ipv4_packet(17, 0, 0, &[0; 16]);
        assert_eq!(decode(LinkType::RAW, &p), Decoded::NotTcp);
        // An Ethertype of IPv4 over an IPv6 packet.
        assert!(matches!(
            decode(
                LinkType::ETHERNET,
                &ethernet_frame(&[], 0x0800, &ipv6_tcp())
            ),
            Decoded::Malformed(_)
        ));
    }

    #[test]
    fn snaplen_cut_payload_is_shorter_than_declared() {
        let p = ipv4_tcp();
        // Keep the headers and 5 payload bytes.
        let cut = &p[..40 + 5];
        let s = expect_tcp(decode(LinkType::RAW, cut));
        assert_eq!(s.payload, &PAYLOAD[..5]);
        assert_eq!(s.payload_len, PAYLOAD.len() as u32);
        // Cut inside the TCP header.
        assert_eq!(decode(LinkType::RAW, &p[..30]), Decoded::Truncated);
        let p = ipv6_tcp();
        let s = expect_tcp(decode(LinkType::RAW, &p[..40 + 32 + 3]));
        assert_eq!(s.payload, &PAYLOAD[..3]);
        assert_eq!(s.payload_len, PAYLOAD.len() as u32);
    }

    // ---- IPv6 ------------------------------------------------------------

    #[test]
    fn ipv6_extension_headers() {
        // Hop-by-hop (8 bytes: next=routing, len 0, PadN), routing (16
        // bytes: next=dest opts, len 1), destination options (8 bytes:
        // next=TCP), then TCP.
        let mut exts = vec![IPPROTO_ROUTING, 0, 1, 4, 0, 0, 0, 0];
        exts.extend_from_slice(&[IPPROTO_DSTOPTS, 1, 0, 0, 0, 0, 0, 0]);
        exts.extend_from_slice(&[0; 8]);
        exts.extend_from_slice(&[IPPROTO_TCP, 0, 1, 4, 0, 0, 0, 0]);
        let p = ipv6_packet(IPPROTO_HOPOPTS, &exts, &tcp_segment(12, PAYLOAD));
        check_v6(decode(LinkType::RAW, &p));
        // Just hop-by-hop.
        let p = ipv6_packet(
            IPPROTO_HOPOPTS,
            &[IPPROTO_TCP, 0, 1, 4, 0, 0, 0, 0],
            &tcp_segment(0, PAYLOAD),
        );
        check_v6(decode(LinkType::RAW, &p));
        // UDP after hop-by-hop.
        let p = ipv6_packet(IPPROTO_HOPOPTS, &[17, 0, 1, 4, 0, 0, 0, 0], &[0; 8]);
        assert_eq!(decode(LinkType::RAW, &p), Decoded::NotTcp);
        // An extension header running past the payload length.
        let p = ipv6_packet(IPPROTO_HOPOPTS, &[IPPROTO_TCP, 9, 1, 4, 0, 0, 0, 0], &[]);
        assert!(matches!(decode(LinkType::RAW, &p), Decoded::Malformed(_)));
        // Too many extension headers.
        let exts: Vec<u8> = (0..=MAX_IPV6_EXT_HEADERS)
            .flat_map(|_| [IPPROTO_DSTOPTS, 0, 1, 4, 0, 0, 0, 0])
            .collect();
        let p = ipv6_packet(IPPROTO_DSTOPTS, &exts, &tcp_segment(0, PAYLOAD));
        assert_eq!(
            decode(LinkType::RAW, &p),
            Decoded::Malformed("too many IPv6 extension headers")
        );
    }

    #[test]
    fn ipv6_fragment_header() {
        let seg = tcp_segment(12, PAYLOAD);
        // First fragment: next header TCP, offset 0, M=1, identification 9.
        let p = ipv6_packet(IPPROTO_FRAGMENT, &[IPPROTO_TCP, 0, 0, 1, 0, 0, 0, 9], &seg);
        let f = expect_fragment(decode(LinkType::RAW, &p));
        assert_eq!(f.src, IpAddr::V6(Ipv6Addr::from(CLIENT6)));
        assert_eq!(f.dst, IpAddr::V6(Ipv6Addr::from(BROKER6)));
        assert_eq!((f.id, f.protocol, f.offset, f.more), (9, 6, 0, true));
        assert_eq!(f.data, &seg[..]);
        assert_eq!(f.data_len, seg.len() as u32);
        // Later fragment: offset 100 (0x0320 >> 3 = 100 units of 8), M=0,
        // identification 0x01020309, after a hop-by-hop header.
        let mut exts = vec![IPPROTO_FRAGMENT, 0, 1, 4, 0, 0, 0, 0];
        exts.extend_from_slice(&[IPPROTO_DSTOPTS, 0, 0x03, 0x20, 1, 2, 3, 9]);
        let p = ipv6_packet(IPPROTO_HOPOPTS, &exts, &seg);
        let f = expect_fragment(decode(LinkType::RAW, &p));
        assert_eq!(
            (f.id, f.protocol, f.offset, f.more),
            (0x0102_0309, 60, 800, false)
        );
        assert_eq!(f.data, &seg[..]);
        // Atomic fragment (offset 0, M=0): a whole packet.
        let p = ipv6_packet(IPPROTO_FRAGMENT, &[IPPROTO_TCP, 0, 0, 0, 0, 0, 0, 9], &seg);
        check_v6(decode(LinkType::RAW, &p));
        // Fragmented UDP.
        let p = ipv6_packet(IPPROTO_FRAGMENT, &[17, 0, 0, 1, 0, 0, 0, 9], &[0; 8]);
        assert_eq!(decode(LinkType::RAW, &p), Decoded::NotTcp);
        // Cut within the fragment header, and within the data.
        let p = ipv6_packet(IPPROTO_FRAGMENT, &[IPPROTO_TCP, 0, 0, 1, 0, 0, 0, 9], &seg);
        assert_eq!(decode(LinkType::RAW, &p[..45]), Decoded::Truncated);
        let f = expect_fragment(decode(LinkType::RAW, &p[..48 + 5]));
        assert_eq!(f.data, &seg[..5]);
        assert_eq!(f.data_len, seg.len() as u32);
    }

    #[test]
    fn ipv6_payload_length_zero_uses_captured_length() {
        let mut p = ipv6_tcp();
        p[4..6].copy_from_slice(&[0, 0]);
        check_v6(decode(LinkType::RAW, &p));
    }

    // ---- robustness ------------------------------------------------------

    #[test]
    fn truncated_at_every_offset() {
        for (link, frame) in valid_frames() {
            // The payload starts after the last header; cuts before it are
            // Truncated, cuts after it give a shorter payload.
            let payload_at = frame.len() - PAYLOAD.len();
            for cut in 0..frame.len() {
                let d = decode(link, &frame[..cut]);
                if cut < payload_at {
                    assert_eq!(d, Decoded::Truncated, "{link:?} cut at {cut}");
                } else {
                    let s = expect_tcp(d);
                    assert_eq!(s.payload, &PAYLOAD[..cut - payload_at]);
                    assert_eq!(s.payload_len, PAYLOAD.len() as u32);
                }
            }
        }
    }

    /// Numerical Recipes' LCG: enough randomness to poke every branch.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) as u32
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let links = [
            LinkType::ETHERNET,
            LinkType::LINUX_SLL,
            LinkType::LINUX_SLL2,
            LinkType::NULL,
            LinkType::LOOP,
            LinkType::RAW,
            LinkType::IPV4,
            LinkType::IPV6,
            LinkType(9999),
        ];
        let mut rng = Lcg(0x006b_7769_7265);
        let mut buf = [0u8; 256];
        for link in links {
            for _ in 0..5000 {
                let len = rng.next() as usize % buf.len();
                for b in &mut buf[..len] {
                    *b = rng.next() as u8;
                }
                let _ = decode(link, &buf[..len]);
            }
        }
        // Valid frames with a few random bytes changed reach deeper.
        for (link, frame) in valid_frames() {
            for _ in 0..5000 {
                let mut f = frame.clone();
                for _ in 0..1 + rng.next() % 4 {
                    let at = rng.next() as usize % f.len();
                    f[at] = rng.next() as u8;
                }
                let len = rng.next() as usize % (f.len() + 1);
                match decode(link, &f[..len]) {
                    Decoded::Tcp(s) => {
                        assert!(s.payload.len() as u64 <= u64::from(s.payload_len));
                    }
                    Decoded::Fragment(frag) => {
                        assert!(frag.data.len() as u64 <= u64::from(frag.data_len));
                        assert_eq!(frag.offset % 8, 0);
                    }
                    _ => {}
                }
            }
        }
    }
}
