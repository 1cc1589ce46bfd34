//! IPv4 or IPv6, dispatched on the version nibble.

use core::net::IpAddr;

use super::{Checksum, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, Ipv6UpperLayer, WireError};

/// IANA protocol numbers (the IPv4 Protocol and IPv6 Next Header fields).
pub mod ip_protocol {
    /// IPv6 Hop-by-Hop Options (RFC 8200 §4.3).
    pub const HOPOPTS: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    /// IPv6 Routing header (RFC 8200 §4.4).
    pub const ROUTING: u8 = 43;
    /// IPv6 Fragment header (RFC 8200 §4.5).
    pub const FRAGMENT: u8 = 44;
    /// Encapsulating Security Payload (RFC 4303).
    pub const ESP: u8 = 50;
    /// Authentication Header (RFC 4302).
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    /// IPv6 No Next Header (RFC 8200 §4.7).
    pub const NONE: u8 = 59;
    /// IPv6 Destination Options (RFC 8200 §4.6).
    pub const DSTOPTS: u8 = 60;
    /// Mobility header (RFC 6275).
    pub const MOBILITY: u8 = 135;
    /// Host Identity Protocol (RFC 7401).
    pub const HIP: u8 = 139;
    /// Shim6 (RFC 5533).
    pub const SHIM6: u8 = 140;
}

/// A zero-copy view of an IPv4 or IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpPacket<T> {
    Ipv4(Ipv4Packet<T>),
    Ipv6(Ipv6Packet<T>),
}

impl<T: AsRef<[u8]>> IpPacket<T> {
    /// Checks the buffer as IPv4 or IPv6 according to its version nibble.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        match version_of(buffer.as_ref())? {
            4 => Ipv4Packet::new_checked(buffer).map(IpPacket::Ipv4),
            _ => Ipv6Packet::new_checked(buffer).map(IpPacket::Ipv6),
        }
    }

    /// 4 or 6.
    pub fn version(&self) -> u8 {
        match self {
            IpPacket::Ipv4(_) => 4,
            IpPacket::Ipv6(_) => 6,
        }
    }

    /// Source address.
    pub fn src_addr(&self) -> IpAddr {
        match self {
            IpPacket::Ipv4(p) => p.src_addr().into(),
            IpPacket::Ipv6(p) => p.src_addr().into(),
        }
    }

    /// Destination address.
    pub fn dst_addr(&self) -> IpAddr {
        match self {
            IpPacket::Ipv4(p) => p.dst_addr().into(),
            IpPacket::Ipv6(p) => p.dst_addr().into(),
        }
    }

    /// TTL or hop limit.
    pub fn hop_limit(&self) -> u8 {
        match self {
            IpPacket::Ipv4(p) => p.ttl(),
            IpPacket::Ipv6(p) => p.hop_limit(),
        }
    }

    /// The upper-layer protocol and its bytes, after IPv6 extension headers. For a
    /// fragment these are not a whole upper-layer packet; see [`IpPayload::fragment`].
    pub fn upper_layer(&self) -> Result<IpPayload<'_>, WireError> {
        match self {
            IpPacket::Ipv4(p) => Ok(IpPayload {
                protocol: p.protocol(),
                ext_headers: &[],
                payload: p.payload(),
                fragment: p.is_fragment(),
            }),
            IpPacket::Ipv6(p) => ipv6_payload(p.next_header(), p.payload()),
        }
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        match self {
            IpPacket::Ipv4(p) => p.into_inner(),
            IpPacket::Ipv6(p) => p.into_inner(),
        }
    }
}

/// An IPv4 or IPv6 header, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpRepr<'a> {
    Ipv4(Ipv4Repr<'a>),
    Ipv6(Ipv6Repr),
}

/// What an IP packet carries, after IPv6 extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPayload<'a> {
    /// Upper-layer protocol (e.g. [`ip_protocol::TCP`]).
    pub protocol: u8,
    /// IPv6 extension headers between the fixed header and `payload`; empty for
    /// IPv4.
    pub ext_headers: &'a [u8],
    /// The upper-layer bytes.
    pub payload: &'a [u8],
    /// The packet is a fragment of a larger one, so `payload` is not a whole
    /// upper-layer packet (and, for a non-first fragment, does not start with its
    /// header). braid does not reassemble: such packets are dropped.
    pub fragment: bool,
}

impl IpRepr<'static> {
    /// A header as braid sends them (see [`Ipv4Repr::new`], [`Ipv6Repr::new`]).
    ///
    /// # Panics
    ///
    /// If `src` and `dst` are of different families: a caller bug.
    pub fn new(src: IpAddr, dst: IpAddr, protocol: u8, payload_len: usize) -> Self {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                IpRepr::Ipv4(Ipv4Repr::new(s, d, protocol, payload_len))
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                IpRepr::Ipv6(Ipv6Repr::new(s, d, protocol, payload_len))
            }
            _ => panic!("IpRepr::new: source and destination of different families"),
        }
    }
}

impl<'a> IpRepr<'a> {
    /// Parses an IPv4 or IPv6 packet according to its version nibble, and walks IPv6
    /// extension headers to the upper layer. IPv4 header checksums are verified.
    ///
    /// The `IpRepr` covers the header that [`IpRepr::emit`] writes; the packet is
    /// that header, then `ext_headers`, then `payload`.
    pub fn parse(packet: &'a [u8]) -> Result<(Self, IpPayload<'a>), WireError> {
        match version_of(packet)? {
            4 => {
                let (repr, payload) = Ipv4Repr::parse(packet)?;
                let upper = IpPayload {
                    protocol: repr.protocol,
                    ext_headers: &[],
                    payload,
                    fragment: repr.is_fragment(),
                };
                Ok((IpRepr::Ipv4(repr), upper))
            }
            _ => {
                let (repr, payload) = Ipv6Repr::parse(packet)?;
                Ok((IpRepr::Ipv6(repr), ipv6_payload(repr.next_header, payload)?))
            }
        }
    }

    /// 4 or 6.
    pub fn version(&self) -> u8 {
        match self {
            IpRepr::Ipv4(_) => 4,
            IpRepr::Ipv6(_) => 6,
        }
    }

    /// Source address.
    pub fn src_addr(&self) -> IpAddr {
        match self {
            IpRepr::Ipv4(r) => r.src_addr.into(),
            IpRepr::Ipv6(r) => r.src_addr.into(),
        }
    }

    /// Destination address.
    pub fn dst_addr(&self) -> IpAddr {
        match self {
            IpRepr::Ipv4(r) => r.dst_addr.into(),
            IpRepr::Ipv6(r) => r.dst_addr.into(),
        }
    }

    /// The header's protocol / next header field (for IPv6, possibly an extension
    /// header).
    pub fn next_header(&self) -> u8 {
        match self {
            IpRepr::Ipv4(r) => r.protocol,
            IpRepr::Ipv6(r) => r.next_header,
        }
    }

    /// TTL or hop limit.
    pub fn hop_limit(&self) -> u8 {
        match self {
            IpRepr::Ipv4(r) => r.ttl,
            IpRepr::Ipv6(r) => r.hop_limit,
        }
    }

    /// Bytes after the header (for IPv6, extension headers included).
    pub fn payload_len(&self) -> usize {
        match self {
            IpRepr::Ipv4(r) => r.payload_len,
            IpRepr::Ipv6(r) => r.payload_len,
        }
    }

    /// Bytes [`IpRepr::emit`] writes: the header only.
    pub fn buffer_len(&self) -> usize {
        match self {
            IpRepr::Ipv4(r) => r.buffer_len(),
            IpRepr::Ipv6(r) => r.buffer_len(),
        }
    }

    /// Header plus payload.
    pub fn total_len(&self) -> usize {
        self.buffer_len() + self.payload_len()
    }

    /// Writes the header into `buf[..self.buffer_len()]`.
    ///
    /// # Panics
    ///
    /// As [`Ipv4Repr::emit`] and [`Ipv6Repr::emit`]: on caller bugs.
    pub fn emit(&self, buf: &mut [u8]) {
        match self {
            IpRepr::Ipv4(r) => r.emit(buf),
            IpRepr::Ipv6(r) => r.emit(buf),
        }
    }

    /// The pseudo-header sum that starts an upper-layer checksum over `upper_len`
    /// bytes of `protocol` (RFC 9293 §3.1, RFC 8200 §8.1).
    ///
    /// RFC 8200 §8.1 wants the final destination when a Routing header is present;
    /// at the final destination that is the destination address, which is used here.
    pub fn pseudo_header(&self, protocol: u8, upper_len: usize) -> Checksum {
        match self {
            // The IPv4 length field is 16 bits and an IPv4 packet cannot carry more.
            IpRepr::Ipv4(r) => {
                Checksum::ipv4_pseudo_header(r.src_addr, r.dst_addr, protocol, upper_len as u16)
            }
            IpRepr::Ipv6(r) => {
                Checksum::ipv6_pseudo_header(r.src_addr, r.dst_addr, protocol, upper_len as u32)
            }
        }
    }
}

fn version_of(packet: &[u8]) -> Result<u8, WireError> {
    let first = packet.first().ok_or(WireError::Truncated {
        needed: 1,
        available: 0,
    })?;
    match first >> 4 {
        v @ (4 | 6) => Ok(v),
        v => Err(WireError::UnknownIpVersion(v)),
    }
}

fn ipv6_payload(next_header: u8, payload: &[u8]) -> Result<IpPayload<'_>, WireError> {
    let upper = Ipv6UpperLayer::find(next_header, payload)?;
    let (ext_headers, payload) = payload.split_at(upper.offset);
    Ok(IpPayload {
        protocol: upper.protocol,
        ext_headers,
        payload,
        fragment: upper.fragment.is_some_and(|f| f.is_fragment()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ChecksumCheck, ChecksumStatus, TcpRepr, TcpSegment};
    use core::net::{Ipv4Addr, Ipv6Addr};
    use proptest::prelude::*;

    const V4_SYN: [u8; 64] = crate::wire::ipv4::tests::SYN;
    const V6_SYN: [u8; 84] = crate::wire::ipv6::tests::SYN;

    #[test]
    fn dispatch_v4() {
        let (repr, upper) = IpRepr::parse(&V4_SYN).unwrap();
        assert_eq!(repr.version(), 4);
        assert_eq!(repr.src_addr(), IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)));
        assert_eq!(repr.dst_addr(), IpAddr::V4(Ipv4Addr::new(10, 0, 1, 2)));
        assert_eq!(upper.protocol, ip_protocol::TCP);
        assert_eq!(upper.payload, &V4_SYN[20..]);
        assert!(!upper.fragment && upper.ext_headers.is_empty());
        // The pseudo-header starts the TCP checksum: the whole sum verifies.
        let sum = repr.pseudo_header(upper.protocol, upper.payload.len());
        assert_eq!(sum.add_bytes(upper.payload).finish(), 0);
        let view = IpPacket::new_checked(&V4_SYN[..]).unwrap();
        assert_eq!(view.upper_layer().unwrap(), upper);
        assert_eq!(
            (view.version(), view.src_addr(), view.hop_limit()),
            (4, repr.src_addr(), 64)
        );
    }

    #[test]
    fn dispatch_v6() {
        let (repr, upper) = IpRepr::parse(&V6_SYN).unwrap();
        assert_eq!(repr.version(), 6);
        assert_eq!(repr.dst_addr(), "dead:1::2".parse::<IpAddr>().unwrap());
        assert_eq!(upper.protocol, ip_protocol::TCP);
        assert_eq!(upper.payload, &V6_SYN[40..]);
        let sum = repr.pseudo_header(upper.protocol, upper.payload.len());
        assert_eq!(sum.add_bytes(upper.payload).finish(), 0);
        let view = IpPacket::new_checked(&V6_SYN[..]).unwrap();
        assert_eq!(view.upper_layer().unwrap(), upper);
        assert_eq!(view.dst_addr(), repr.dst_addr());
    }

    #[test]
    fn unknown_version() {
        for first in [0x00, 0x50, 0x70, 0xf0] {
            let mut p = V4_SYN;
            p[0] = first | 5;
            assert_eq!(
                IpRepr::parse(&p).unwrap_err(),
                WireError::UnknownIpVersion(first >> 4)
            );
            assert!(IpPacket::new_checked(&p[..]).is_err());
        }
        assert!(matches!(
            IpRepr::parse(&[]),
            Err(WireError::Truncated { .. })
        ));
    }

    #[test]
    fn v6_with_extension_headers() {
        // The SYN behind a Destination Options header (8 bytes of padding).
        let mut p = V6_SYN[..40].to_vec();
        p[4..6].copy_from_slice(&(44u16 + 8).to_be_bytes());
        p[6] = ip_protocol::DSTOPTS;
        p.extend_from_slice(&[ip_protocol::TCP, 0, 1, 4, 0, 0, 0, 0]);
        p.extend_from_slice(&V6_SYN[40..]);
        let (repr, upper) = IpRepr::parse(&p).unwrap();
        assert_eq!(repr.next_header(), ip_protocol::DSTOPTS);
        assert_eq!(upper.protocol, ip_protocol::TCP);
        assert_eq!(upper.ext_headers.len(), 8);
        assert_eq!(upper.payload, &V6_SYN[40..]);
        let check = ChecksumCheck::Verify {
            src: repr.src_addr(),
            dst: repr.dst_addr(),
        };
        assert!(TcpRepr::parse(upper.payload, check).is_ok());
        // Round trip: header, extension headers, payload.
        let mut out = vec![0u8; repr.total_len()];
        repr.emit(&mut out);
        out[40..48].copy_from_slice(upper.ext_headers);
        out[48..].copy_from_slice(upper.payload);
        assert_eq!(out, p);
    }

    #[test]
    fn fragments_are_flagged() {
        let mut p = V4_SYN;
        let mut v = Ipv4Packet::new_unchecked(&mut p[..]);
        v.set_more_frags(true);
        v.fill_checksum();
        assert!(IpRepr::parse(&p).unwrap().1.fragment);
        // IPv6 atomic fragment: not a fragment.
        let mut q = V6_SYN[..40].to_vec();
        q[4..6].copy_from_slice(&(44u16 + 8).to_be_bytes());
        q[6] = ip_protocol::FRAGMENT;
        q.extend_from_slice(&[ip_protocol::TCP, 0, 0, 0, 0, 0, 0, 7]);
        q.extend_from_slice(&V6_SYN[40..]);
        let (_, upper) = IpRepr::parse(&q).unwrap();
        assert!(!upper.fragment);
        assert_eq!(upper.payload, &V6_SYN[40..]);
        q[42..44].copy_from_slice(&[0, 1]); // M = 1
        assert!(IpRepr::parse(&q).unwrap().1.fragment);
    }

    #[test]
    fn new_then_emit() {
        let src: IpAddr = "dead:2::1".parse().unwrap();
        let dst: IpAddr = "dead:2::2".parse().unwrap();
        let repr = IpRepr::new(src, dst, ip_protocol::TCP, 3);
        let mut buf = vec![0u8; repr.total_len()];
        repr.emit(&mut buf);
        buf[40..].copy_from_slice(b"abc");
        let (parsed, upper) = IpRepr::parse(&buf).unwrap();
        assert_eq!(parsed, repr);
        assert_eq!(upper.payload, b"abc");
        let v4 = IpRepr::new(
            Ipv4Addr::LOCALHOST.into(),
            Ipv4Addr::BROADCAST.into(),
            17,
            0,
        );
        assert_eq!(v4.buffer_len(), 20);
    }

    #[test]
    #[should_panic]
    fn new_with_mixed_families_panics() {
        let _ = IpRepr::new(Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into(), 6, 0);
    }

    /// Reads the IP packets of a classic pcap file with link type RAW (101).
    fn pcap_packets(data: &[u8]) -> Vec<&[u8]> {
        assert_eq!(&data[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
        assert_eq!(u32::from_le_bytes(data[20..24].try_into().unwrap()), 101);
        let mut packets = Vec::new();
        let mut at = 24;
        while at + 16 <= data.len() {
            let incl = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
            packets.push(&data[at + 16..at + 16 + incl]);
            at += 16 + incl;
        }
        assert_eq!(at, data.len());
        packets
    }

    /// Every packet of the Linux captures parses, its TCP checksum is complete or
    /// (sent by the capturing host with offload) partial, and it emits back to the
    /// same bytes once the checksum field is put back.
    #[test]
    fn linux_captures_parse_and_round_trip() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures");
        let mut files = 0;
        let mut partial = 0;
        let mut total = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "pcap") {
                continue;
            }
            files += 1;
            let data = std::fs::read(&path).unwrap();
            for (i, packet) in pcap_packets(&data).into_iter().enumerate() {
                let ctx = format!("{} packet {}", path.display(), i + 1);
                let (ip, upper) = IpRepr::parse(packet).expect(&ctx);
                assert_eq!(upper.protocol, ip_protocol::TCP, "{ctx}");
                assert!(!upper.fragment, "{ctx}");
                let tcp = TcpRepr::parse(upper.payload, ChecksumCheck::Skip).expect(&ctx);
                let view = TcpSegment::new_checked(upper.payload).unwrap();
                match view.checksum_status(ip.src_addr(), ip.dst_addr()) {
                    ChecksumStatus::Valid => {}
                    ChecksumStatus::Partial => partial += 1,
                    ChecksumStatus::Invalid => panic!("{ctx}: bad TCP checksum"),
                }
                let mut out = vec![0u8; ip.total_len()];
                ip.emit(&mut out);
                let at = ip.buffer_len() + upper.ext_headers.len();
                out[ip.buffer_len()..at].copy_from_slice(upper.ext_headers);
                tcp.emit(&mut out[at..], ip.src_addr(), ip.dst_addr());
                let emitted = TcpSegment::new_checked(&out[at..]).unwrap();
                assert_eq!(
                    emitted.checksum_status(ip.src_addr(), ip.dst_addr()),
                    ChecksumStatus::Valid,
                    "{ctx}"
                );
                out[at + 16..at + 18].copy_from_slice(&view.checksum().to_be_bytes());
                assert_eq!(&out[..], &packet[..ip.total_len()], "{ctx}");
                total += 1;
            }
        }
        assert!(files >= 9 && total > 3000, "{files} files, {total} packets");
        assert!(partial > 0);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok((ip, upper)) = IpRepr::parse(&data) {
                let _ = ip.pseudo_header(upper.protocol, upper.payload.len());
                let check = ChecksumCheck::Verify { src: ip.src_addr(), dst: ip.dst_addr() };
                let _ = TcpRepr::parse(upper.payload, check);
                let _ = TcpRepr::parse(upper.payload, ChecksumCheck::Skip);
            }
            if let Ok(p) = IpPacket::new_checked(&data[..]) {
                let _ = (p.upper_layer(), p.src_addr(), p.dst_addr(), p.hop_limit());
            }
        }

        /// Random bytes behind a valid IPv4 or IPv6 header, so that the TCP parser
        /// and the extension-header walk see more than the first bytes.
        #[test]
        fn random_payloads_never_panic(
            v6 in any::<bool>(),
            next_header in prop::sample::select(vec![0u8, 6, 43, 44, 51, 60]),
            data in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let (src, dst): (IpAddr, IpAddr) = if v6 {
                (Ipv6Addr::LOCALHOST.into(), Ipv6Addr::UNSPECIFIED.into())
            } else {
                (Ipv4Addr::LOCALHOST.into(), Ipv4Addr::BROADCAST.into())
            };
            let repr = IpRepr::new(src, dst, next_header, data.len());
            let mut buf = vec![0u8; repr.total_len()];
            repr.emit(&mut buf);
            buf[repr.buffer_len()..].copy_from_slice(&data);
            if let Ok((ip, upper)) = IpRepr::parse(&buf) {
                let check = ChecksumCheck::Verify { src: ip.src_addr(), dst: ip.dst_addr() };
                let _ = TcpRepr::parse(upper.payload, check);
                let _ = TcpRepr::parse(upper.payload, ChecksumCheck::Skip);
            }
        }
    }
}
