//! IPv6 fixed header (RFC 8200 §3) and a walk over extension headers (RFC 8200 §4).

use core::net::Ipv6Addr;
use core::ops::Range;

use super::bytes::{
    ensure_len, get_u16_at, ipv6_at, set_ipv6_at, set_u16_at, set_u32_at, u16_at, u32_at,
};
use super::ip::ip_protocol;
use super::WireError;

/// Length of the IPv6 fixed header.
pub const IPV6_HEADER_LEN: usize = 40;

/// Most extension headers [`Ipv6UpperLayer::find`] walks before giving up. RFC 8200
/// §4.1 allows each at most once (Destination Options twice), so a real chain is
/// short; the bound keeps hostile input cheap.
pub const IPV6_MAX_EXT_HEADERS: usize = 8;

mod field {
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

const FLOW_LABEL_MASK: u32 = 0x000f_ffff;

/// A zero-copy view of an IPv6 packet.
///
/// [`Ipv6Packet::new_checked`] guarantees that every accessor is in bounds. With
/// [`Ipv6Packet::new_unchecked`] the fixed-field accessors panic if the buffer is
/// shorter than 40 bytes; `payload` never panics and clamps to the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buffer` without checking it (see the type's documentation).
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wraps `buffer` after [`Ipv6Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the version and that the fixed header and the payload length fit the
    /// buffer. The buffer may be longer (link padding).
    ///
    /// Jumbograms (RFC 2675, payload length 0 with a Jumbo Payload option) are not
    /// supported: payload length 0 means an empty payload.
    pub fn check_len(&self) -> Result<(), WireError> {
        ensure_len(self.bytes(), IPV6_HEADER_LEN)?;
        if self.version() != 6 {
            return Err(WireError::Malformed {
                what: "IPv6 version",
            });
        }
        ensure_len(
            self.bytes(),
            IPV6_HEADER_LEN + usize::from(self.payload_len()),
        )
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Version, traffic class and flow label.
    fn first_word(&self) -> u32 {
        u32_at(self.bytes(), field::VER_TC_FLOW)
    }

    /// Version nibble.
    pub fn version(&self) -> u8 {
        self.bytes()[field::VER_TC_FLOW] >> 4
    }

    /// Traffic class: DSCP (upper six bits) and ECN (lower two).
    pub fn traffic_class(&self) -> u8 {
        (self.first_word() >> 20) as u8
    }

    /// Differentiated services code point (RFC 2474).
    pub fn dscp(&self) -> u8 {
        self.traffic_class() >> 2
    }

    /// ECN codepoint (RFC 3168 §5).
    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 0x03
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        self.first_word() & FLOW_LABEL_MASK
    }

    /// Length of everything after the fixed header, extension headers included.
    pub fn payload_len(&self) -> u16 {
        u16_at(self.bytes(), field::PAYLOAD_LEN)
    }

    /// Type of the header after the fixed header.
    pub fn next_header(&self) -> u8 {
        self.bytes()[field::NEXT_HEADER]
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.bytes()[field::HOP_LIMIT]
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        ipv6_at(self.bytes(), field::SRC)
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        ipv6_at(self.bytes(), field::DST)
    }

    fn payload_range(&self) -> Range<usize> {
        let len = self.bytes().len();
        let start = IPV6_HEADER_LEN.min(len);
        let payload_len = get_u16_at(self.bytes(), field::PAYLOAD_LEN).map_or(0, usize::from);
        let end = (IPV6_HEADER_LEN + payload_len).clamp(start, len);
        start..end
    }

    /// Everything after the fixed header, up to the payload length.
    pub fn payload(&self) -> &[u8] {
        &self.bytes()[self.payload_range()]
    }

    /// Walks the extension headers to the upper-layer header.
    pub fn upper_layer(&self) -> Result<Ipv6UpperLayer, WireError> {
        Ipv6UpperLayer::find(self.next_header(), self.payload())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    fn bytes_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    fn set_first_word(&mut self, word: u32) {
        set_u32_at(self.bytes_mut(), field::VER_TC_FLOW, word);
    }

    /// Sets the version nibble.
    pub fn set_version(&mut self, version: u8) {
        let word = (self.first_word() & 0x0fff_ffff) | (u32::from(version & 0x0f) << 28);
        self.set_first_word(word);
    }

    /// Sets the traffic class.
    pub fn set_traffic_class(&mut self, value: u8) {
        let word = (self.first_word() & 0xf00f_ffff) | (u32::from(value) << 20);
        self.set_first_word(word);
    }

    /// Sets the flow label (20 bits).
    pub fn set_flow_label(&mut self, value: u32) {
        debug_assert!(value <= FLOW_LABEL_MASK);
        let word = (self.first_word() & !FLOW_LABEL_MASK) | (value & FLOW_LABEL_MASK);
        self.set_first_word(word);
    }

    /// Sets the payload length.
    pub fn set_payload_len(&mut self, value: u16) {
        set_u16_at(self.bytes_mut(), field::PAYLOAD_LEN, value);
    }

    /// Sets the next header.
    pub fn set_next_header(&mut self, value: u8) {
        self.bytes_mut()[field::NEXT_HEADER] = value;
    }

    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, value: u8) {
        self.bytes_mut()[field::HOP_LIMIT] = value;
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        set_ipv6_at(self.bytes_mut(), field::SRC, addr);
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        set_ipv6_at(self.bytes_mut(), field::DST, addr);
    }

    /// The payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.payload_range();
        &mut self.bytes_mut()[range]
    }
}

/// The IPv6 fixed header, parsed. Extension headers, if any, are part of the payload;
/// see [`Ipv6UpperLayer::find`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    pub src_addr: Ipv6Addr,
    pub dst_addr: Ipv6Addr,
    /// Type of the header after the fixed header: an extension header or the
    /// upper-layer protocol.
    pub next_header: u8,
    /// Bytes after the fixed header, extension headers included.
    pub payload_len: usize,
    pub hop_limit: u8,
    /// DSCP and ECN.
    pub traffic_class: u8,
    /// 20-bit flow label.
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// A header as braid sends them: hop limit 64, traffic class and flow label 0.
    pub fn new(
        src_addr: Ipv6Addr,
        dst_addr: Ipv6Addr,
        next_header: u8,
        payload_len: usize,
    ) -> Self {
        Ipv6Repr {
            src_addr,
            dst_addr,
            next_header,
            payload_len,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        }
    }

    /// Parses the fixed header. Returns it and the payload (extension headers
    /// included, up to the payload length; link padding after it is ignored).
    pub fn parse(packet: &[u8]) -> Result<(Self, &[u8]), WireError> {
        let view = Ipv6Packet::new_checked(packet)?;
        let payload_len = usize::from(view.payload_len());
        let repr = Ipv6Repr {
            src_addr: view.src_addr(),
            dst_addr: view.dst_addr(),
            next_header: view.next_header(),
            payload_len,
            hop_limit: view.hop_limit(),
            traffic_class: view.traffic_class(),
            flow_label: view.flow_label(),
        };
        Ok((
            repr,
            &packet[IPV6_HEADER_LEN..IPV6_HEADER_LEN + payload_len],
        ))
    }

    /// Bytes [`Ipv6Repr::emit`] writes: the fixed header only.
    pub fn buffer_len(&self) -> usize {
        IPV6_HEADER_LEN
    }

    /// Header plus payload.
    pub fn total_len(&self) -> usize {
        IPV6_HEADER_LEN + self.payload_len
    }

    /// Writes the fixed header into `buf[..40]`; the payload goes after it.
    ///
    /// # Panics
    ///
    /// If `buf` is shorter than 40 bytes, the payload length exceeds 65535 or the flow
    /// label exceeds 20 bits: all caller bugs.
    pub fn emit(&self, buf: &mut [u8]) {
        let payload_len = u16::try_from(self.payload_len).expect("IPv6 payload length over 65535");
        assert!(
            self.flow_label <= FLOW_LABEL_MASK,
            "IPv6 flow label over 20 bits"
        );
        let mut p = Ipv6Packet::new_unchecked(&mut buf[..IPV6_HEADER_LEN]);
        p.set_first_word((6 << 28) | (u32::from(self.traffic_class) << 20) | self.flow_label);
        p.set_payload_len(payload_len);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
    }
}

/// Where the upper-layer header starts, after any extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6UpperLayer {
    /// The upper-layer protocol (e.g. 6 for TCP); 59 (No Next Header) if the chain
    /// says nothing follows, or a header that cannot be walked (e.g. ESP).
    pub protocol: u8,
    /// Offset of the upper-layer header from the start of the IPv6 payload, i.e. the
    /// total length of the extension headers.
    pub offset: usize,
    /// The Fragment header, if there was one.
    pub fragment: Option<Ipv6Fragment>,
}

/// The fields of an IPv6 Fragment header (RFC 8200 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Fragment {
    /// Fragment offset in units of 8 bytes.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
    pub identification: u32,
}

impl Ipv6Fragment {
    /// Whether this is part of a larger packet. RFC 8200 §4.5: a Fragment header with
    /// offset 0 and M = 0 (an atomic fragment) holds a whole packet.
    pub fn is_fragment(&self) -> bool {
        self.more || self.offset != 0
    }
}

impl Ipv6UpperLayer {
    /// Walks the extension headers in `payload` (the bytes after the fixed header),
    /// starting from the fixed header's `next_header`. Stops at the first header that
    /// is not a known extension header, and after a Fragment header with a non-zero
    /// offset, since the rest of the chain is then in the first fragment.
    ///
    /// Errors: truncated extension headers, Hop-by-Hop Options anywhere but first
    /// (RFC 8200 §4.1), more than [`IPV6_MAX_EXT_HEADERS`] headers.
    pub fn find(next_header: u8, payload: &[u8]) -> Result<Self, WireError> {
        let mut protocol = next_header;
        let mut offset = 0;
        let mut fragment = None;
        for index in 0..=IPV6_MAX_EXT_HEADERS {
            let rest = &payload[offset..];
            let len = match protocol {
                // RFC 8200 §4.3: the Hop-by-Hop Options header, when present, must
                // immediately follow the IPv6 header.
                ip_protocol::HOPOPTS if index != 0 => {
                    return Err(WireError::Malformed {
                        what: "IPv6 Hop-by-Hop Options header not first",
                    })
                }
                // RFC 8200 §4.3-4.6 and RFC 6564 §4 (Mobility, HIP, Shim6 use the same
                // format): length in 8-octet units, not counting the first 8 octets.
                ip_protocol::HOPOPTS
                | ip_protocol::ROUTING
                | ip_protocol::DSTOPTS
                | ip_protocol::MOBILITY
                | ip_protocol::HIP
                | ip_protocol::SHIM6 => {
                    let hdr_ext_len = *rest.get(1).ok_or(ext_truncated(payload, offset + 2))?;
                    (usize::from(hdr_ext_len) + 1) * 8
                }
                // RFC 4302 §2.2: AH's length is in 4-octet units, minus 2.
                ip_protocol::AH => {
                    let len = *rest.get(1).ok_or(ext_truncated(payload, offset + 2))?;
                    (usize::from(len) + 2) * 4
                }
                // RFC 8200 §4.5: the Fragment header is 8 bytes.
                ip_protocol::FRAGMENT => 8,
                _ => {
                    return Ok(Ipv6UpperLayer {
                        protocol,
                        offset,
                        fragment,
                    })
                }
            };
            if rest.len() < len {
                return Err(ext_truncated(payload, offset + len));
            }
            if protocol == ip_protocol::FRAGMENT {
                let word = u16_at(rest, 2);
                let frag = Ipv6Fragment {
                    offset: word >> 3,
                    more: word & 1 != 0,
                    identification: u32_at(rest, 4),
                };
                fragment = Some(frag);
                if frag.offset != 0 {
                    return Ok(Ipv6UpperLayer {
                        protocol: rest[0],
                        offset: offset + len,
                        fragment,
                    });
                }
            }
            protocol = rest[0];
            offset += len;
        }
        Err(WireError::Malformed {
            what: "IPv6 extension header chain too long",
        })
    }
}

fn ext_truncated(payload: &[u8], needed: usize) -> WireError {
    WireError::Truncated {
        needed,
        available: payload.len(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The SYN of ipv6-add-addr-join.pcap (Linux 6.18), TCP checksum completed.
    pub(crate) const SYN: [u8; 84] = [
        0x60, 0x0f, 0xa7, 0x63, 0x00, 0x2c, 0x06, 0x40, 0xde, 0xad, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xde, 0xad, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xd3, 0x5e, 0x13, 0x89, 0xb7,
        0x53, 0x94, 0xd6, 0x00, 0x00, 0x00, 0x00, 0xb0, 0x02, 0xfd, 0x20, 0x80, 0x8a, 0x00, 0x00,
        0x02, 0x04, 0x05, 0xa0, 0x04, 0x02, 0x08, 0x0a, 0x8e, 0x72, 0x1c, 0x78, 0x00, 0x00, 0x00,
        0x00, 0x01, 0x03, 0x03, 0x0a, 0x1e, 0x04, 0x01, 0x01,
    ];

    #[test]
    fn view_fields() {
        let p = Ipv6Packet::new_checked(&SYN[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0);
        assert_eq!(p.flow_label(), 0xfa763);
        assert_eq!(p.payload_len(), 44);
        assert_eq!(p.next_header(), 6);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), "dead:1::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst_addr(), "dead:1::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.payload(), &SYN[40..]);
        assert_eq!(
            p.upper_layer().unwrap(),
            Ipv6UpperLayer {
                protocol: 6,
                offset: 0,
                fragment: None
            }
        );
    }

    #[test]
    fn parse_and_round_trip() {
        let (repr, payload) = Ipv6Repr::parse(&SYN).unwrap();
        assert_eq!(payload, &SYN[40..]);
        assert_eq!(repr.flow_label, 0xfa763);
        let mut out = [0u8; 84];
        repr.emit(&mut out);
        out[40..].copy_from_slice(payload);
        assert_eq!(out, SYN);
    }

    #[test]
    fn truncated_at_every_length() {
        for len in 0..SYN.len() {
            assert!(Ipv6Packet::new_checked(&SYN[..len]).is_err(), "{len}");
            assert!(Ipv6Repr::parse(&SYN[..len]).is_err(), "{len}");
        }
        let mut padded = SYN.to_vec();
        padded.push(0);
        assert_eq!(Ipv6Repr::parse(&padded).unwrap().1, &SYN[40..]);
    }

    #[test]
    fn wrong_version() {
        let mut p = SYN;
        p[0] = 0x40;
        assert_eq!(
            Ipv6Repr::parse(&p).unwrap_err(),
            WireError::Malformed {
                what: "IPv6 version"
            }
        );
    }

    #[test]
    fn traffic_class_and_setters() {
        let mut buf = [0u8; 40];
        let repr = Ipv6Repr {
            traffic_class: 0xa5,
            flow_label: 0xfffff,
            hop_limit: 1,
            ..Ipv6Repr::new(Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED, 59, 0)
        };
        repr.emit(&mut buf);
        let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!((p.traffic_class(), p.dscp(), p.ecn()), (0xa5, 0xa5 >> 2, 1));
        assert_eq!(Ipv6Repr::parse(&buf).unwrap().0, repr);
        let mut p = Ipv6Packet::new_unchecked(&mut buf[..]);
        p.set_traffic_class(0x12);
        p.set_flow_label(0x34567);
        p.set_hop_limit(7);
        p.set_src_addr(Ipv6Addr::UNSPECIFIED);
        p.set_dst_addr(Ipv6Addr::LOCALHOST);
        let (r, _) = Ipv6Repr::parse(&buf).unwrap();
        assert_eq!(
            (r.traffic_class, r.flow_label, r.hop_limit),
            (0x12, 0x34567, 7)
        );
        assert_eq!(
            (r.src_addr, r.dst_addr),
            (Ipv6Addr::UNSPECIFIED, Ipv6Addr::LOCALHOST)
        );
    }

    #[test]
    #[should_panic]
    fn emit_into_short_buffer_panics() {
        let (repr, _) = Ipv6Repr::parse(&SYN).unwrap();
        repr.emit(&mut [0u8; 39]);
    }

    /// Hop-by-Hop (8 bytes of PadN), Destination Options (16 bytes), Routing (8 bytes),
    /// atomic Fragment header, then TCP.
    fn chain() -> Vec<u8> {
        let mut c = Vec::new();
        c.extend_from_slice(&[ip_protocol::DSTOPTS, 0, 1, 4, 0, 0, 0, 0]);
        c.extend_from_slice(&[ip_protocol::ROUTING, 1, 1, 12, 0, 0, 0, 0]);
        c.extend_from_slice(&[0; 8]);
        c.extend_from_slice(&[ip_protocol::FRAGMENT, 0, 4, 0, 0, 0, 0, 0]);
        c.extend_from_slice(&[ip_protocol::TCP, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]);
        c.extend_from_slice(b"tcp header here");
        c
    }

    #[test]
    fn rfc8200_4_walks_extension_headers() {
        let c = chain();
        let upper = Ipv6UpperLayer::find(ip_protocol::HOPOPTS, &c).unwrap();
        assert_eq!(upper.protocol, ip_protocol::TCP);
        assert_eq!(upper.offset, 40);
        let frag = upper.fragment.unwrap();
        assert_eq!(frag.identification, 0xdead_beef);
        assert!(!frag.is_fragment());
        for len in 0..40 {
            assert!(
                matches!(
                    Ipv6UpperLayer::find(ip_protocol::HOPOPTS, &c[..len]),
                    Err(WireError::Truncated { .. })
                ),
                "{len}"
            );
        }
        // At exactly 40 bytes the chain is complete; TCP starts at the end.
        assert_eq!(
            Ipv6UpperLayer::find(ip_protocol::HOPOPTS, &c[..40])
                .unwrap()
                .offset,
            40
        );
    }

    #[test]
    fn rfc8200_4_3_hop_by_hop_must_be_first() {
        let c = [
            ip_protocol::HOPOPTS,
            0,
            1,
            4,
            0,
            0,
            0,
            0,
            6,
            0,
            1,
            4,
            0,
            0,
            0,
            0,
        ];
        assert!(Ipv6UpperLayer::find(ip_protocol::DSTOPTS, &c).is_err());
        let upper = Ipv6UpperLayer::find(ip_protocol::HOPOPTS, &c[8..]).unwrap();
        assert_eq!((upper.protocol, upper.offset), (6, 8));
    }

    #[test]
    fn rfc8200_4_5_non_first_fragment_stops_the_walk() {
        // Offset 185 (x8 = 1480 bytes), M = 1.
        let c = [ip_protocol::TCP, 0, 0x05, 0xc9, 0, 0, 0, 1, 0xaa, 0xbb];
        let upper = Ipv6UpperLayer::find(ip_protocol::FRAGMENT, &c).unwrap();
        assert_eq!(upper.protocol, ip_protocol::TCP);
        assert_eq!(upper.offset, 8);
        let frag = upper.fragment.unwrap();
        assert_eq!(
            (frag.offset, frag.more, frag.identification),
            (185, true, 1)
        );
        assert!(frag.is_fragment());
    }

    #[test]
    fn no_next_header_and_ah() {
        let ah = [
            ip_protocol::NONE,
            4,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        let upper = Ipv6UpperLayer::find(ip_protocol::AH, &ah).unwrap();
        assert_eq!((upper.protocol, upper.offset), (ip_protocol::NONE, 24));
    }

    #[test]
    fn chain_length_is_bounded() {
        let mut c = Vec::new();
        for _ in 0..IPV6_MAX_EXT_HEADERS {
            c.extend_from_slice(&[ip_protocol::DSTOPTS, 0, 1, 4, 0, 0, 0, 0]);
        }
        c.extend_from_slice(&[0; 20]);
        // The last of the chain names another Destination Options header, which the
        // zeros after it provide: one header over the limit.
        assert!(Ipv6UpperLayer::find(ip_protocol::DSTOPTS, &c).is_err());
        // Exactly the limit, then TCP.
        let last = (IPV6_MAX_EXT_HEADERS - 1) * 8;
        c[last] = ip_protocol::TCP;
        let upper = Ipv6UpperLayer::find(ip_protocol::DSTOPTS, &c).unwrap();
        assert_eq!(upper.offset, IPV6_MAX_EXT_HEADERS * 8);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = Ipv6Repr::parse(&data);
            if let Ok(p) = Ipv6Packet::new_checked(&data[..]) {
                let _ = (p.payload(), p.upper_layer(), p.traffic_class(), p.flow_label());
            }
            let _ = Ipv6Packet::new_unchecked(&data[..]).payload();
        }

        #[test]
        fn random_chains_never_panic(
            next in any::<u8>(),
            data in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            if let Ok(upper) = Ipv6UpperLayer::find(next, &data) {
                prop_assert!(upper.offset <= data.len());
            }
        }

        #[test]
        fn random_chains_of_ext_headers_never_panic(
            kinds in proptest::collection::vec(
                prop::sample::select(vec![0u8, 43, 44, 51, 60, 135, 6]), 1..12),
            lens in proptest::collection::vec(0u8..4, 12),
            tail in 0usize..64,
        ) {
            let mut data = Vec::new();
            for (i, kind) in kinds.iter().enumerate().skip(1) {
                let start = data.len();
                data.push(*kind);
                data.push(lens[i]);
                data.resize(start + 8 * (usize::from(lens[i]) + 1), 0);
            }
            data.resize(data.len() + tail, 0);
            if let Ok(upper) = Ipv6UpperLayer::find(kinds[0], &data) {
                prop_assert!(upper.offset <= data.len());
            }
        }

        #[test]
        fn emit_then_parse(
            src in any::<u128>(), dst in any::<u128>(), next_header in any::<u8>(),
            payload_len in 0usize..2000, hop_limit in any::<u8>(),
            traffic_class in any::<u8>(), flow_label in 0u32..0x10_0000,
        ) {
            let repr = Ipv6Repr {
                src_addr: src.into(), dst_addr: dst.into(), next_header, payload_len,
                hop_limit, traffic_class, flow_label,
            };
            let mut buf = vec![0u8; repr.total_len()];
            repr.emit(&mut buf);
            let (parsed, payload) = Ipv6Repr::parse(&buf).unwrap();
            prop_assert_eq!(parsed, repr);
            prop_assert_eq!(payload.len(), payload_len);
        }
    }
}
