//! IPv4 header (RFC 791 §3.1).

use core::net::Ipv4Addr;
use core::ops::Range;

use super::bytes::{ensure_len, get_u16_at, ipv4_at, set_ipv4_at, set_u16_at, u16_at};
use super::{Checksum, WireError};

/// Length of an IPv4 header without options.
pub const IPV4_MIN_HEADER_LEN: usize = 20;
/// Largest IPv4 header: IHL is four bits of 32-bit words.
pub const IPV4_MAX_HEADER_LEN: usize = 60;

mod field {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

const FLAG_RESERVED: u16 = 0x8000;
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A zero-copy view of an IPv4 packet.
///
/// [`Ipv4Packet::new_checked`] guarantees that every accessor is in bounds. With
/// [`Ipv4Packet::new_unchecked`] the fixed-field accessors panic if the buffer is
/// shorter than 20 bytes; `options` and `payload` never panic and clamp to the
/// buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` without checking it (see the type's documentation).
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps `buffer` after [`Ipv4Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the version, that IHL >= 5 and that the header and the total length fit
    /// the buffer. The buffer may be longer than the total length (link padding).
    pub fn check_len(&self) -> Result<(), WireError> {
        ensure_len(self.bytes(), IPV4_MIN_HEADER_LEN)?;
        if self.version() != 4 {
            return Err(WireError::Malformed {
                what: "IPv4 version",
            });
        }
        let header_len = self.header_len();
        // RFC 791 §3.1: the minimum value for a correct header is 5.
        if header_len < IPV4_MIN_HEADER_LEN {
            return Err(WireError::BadLength {
                what: "IPv4 header (IHL)",
                length: header_len,
            });
        }
        ensure_len(self.bytes(), header_len)?;
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(WireError::BadLength {
                what: "IPv4 total length",
                length: total_len,
            });
        }
        ensure_len(self.bytes(), total_len)?;
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The flags and fragment offset word.
    fn flags_frag(&self) -> u16 {
        u16_at(self.bytes(), field::FLAGS_FRAG)
    }

    /// Version nibble.
    pub fn version(&self) -> u8 {
        self.bytes()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL times 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.bytes()[field::VER_IHL] & 0x0f) * 4
    }

    /// The former type-of-service byte: DSCP (upper six bits) and ECN (lower two).
    pub fn dscp_ecn(&self) -> u8 {
        self.bytes()[field::TOS]
    }

    /// Differentiated services code point (RFC 2474).
    pub fn dscp(&self) -> u8 {
        self.dscp_ecn() >> 2
    }

    /// ECN codepoint (RFC 3168 §5).
    pub fn ecn(&self) -> u8 {
        self.dscp_ecn() & 0x03
    }

    /// Total length of header and payload in bytes.
    pub fn total_len(&self) -> u16 {
        u16_at(self.bytes(), field::TOTAL_LEN)
    }

    /// Identification field.
    pub fn identification(&self) -> u16 {
        u16_at(self.bytes(), field::IDENT)
    }

    /// The reserved flag bit, which RFC 791 says must be zero.
    pub fn reserved_flag(&self) -> bool {
        self.flags_frag() & FLAG_RESERVED != 0
    }

    /// Don't Fragment.
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }

    /// More Fragments.
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }

    /// Fragment offset in units of 8 bytes.
    pub fn frag_offset(&self) -> u16 {
        self.flags_frag() & FRAG_OFFSET_MASK
    }

    /// Whether this is a fragment of a larger datagram (not a whole one).
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.bytes()[field::TTL]
    }

    /// Protocol of the payload (IANA protocol number).
    pub fn protocol(&self) -> u8 {
        self.bytes()[field::PROTOCOL]
    }

    /// Header checksum field.
    pub fn header_checksum(&self) -> u16 {
        u16_at(self.bytes(), field::CHECKSUM)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        ipv4_at(self.bytes(), field::SRC)
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        ipv4_at(self.bytes(), field::DST)
    }

    /// Header length without panicking on a short buffer (for the clamped ranges).
    fn header_len_or_zero(&self) -> usize {
        self.bytes()
            .get(field::VER_IHL)
            .map_or(0, |b| usize::from(b & 0x0f) * 4)
    }

    fn header_range(&self) -> Range<usize> {
        let len = self.bytes().len();
        let end = self.header_len_or_zero().min(len);
        IPV4_MIN_HEADER_LEN.min(end)..end
    }

    fn payload_range(&self) -> Range<usize> {
        let len = self.bytes().len();
        let start = self.header_len_or_zero().min(len);
        let total_len = get_u16_at(self.bytes(), field::TOTAL_LEN).map_or(0, usize::from);
        let end = total_len.clamp(start, len);
        start..end
    }

    /// The options, as raw bytes including any padding.
    pub fn options(&self) -> &[u8] {
        &self.bytes()[self.header_range()]
    }

    /// The payload: from the end of the header to the total length.
    pub fn payload(&self) -> &[u8] {
        &self.bytes()[self.payload_range()]
    }

    /// Whether the header checksum is correct.
    pub fn verify_checksum(&self) -> bool {
        // RFC 791 §3.1: the checksum field is the 16-bit one's complement of the one's
        // complement sum of all 16-bit words in the header; summing the header with
        // its checksum in place gives zero.
        let end = self.header_len_or_zero().min(self.bytes().len());
        Checksum::new().add_bytes(&self.bytes()[..end]).finish() == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn bytes_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    fn set_flags_frag(&mut self, word: u16) {
        set_u16_at(self.bytes_mut(), field::FLAGS_FRAG, word);
    }

    fn set_flag(&mut self, flag: u16, value: bool) {
        let word = self.flags_frag();
        let word = if value { word | flag } else { word & !flag };
        self.set_flags_frag(word);
    }

    /// Sets the version nibble.
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.bytes_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (version << 4);
    }

    /// Sets the header length in bytes; it must be a multiple of 4, at most 60.
    pub fn set_header_len(&mut self, len: usize) {
        debug_assert!(len % 4 == 0 && len <= IPV4_MAX_HEADER_LEN);
        let b = &mut self.bytes_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) as u8 & 0x0f);
    }

    /// Sets the DSCP and ECN byte.
    pub fn set_dscp_ecn(&mut self, value: u8) {
        self.bytes_mut()[field::TOS] = value;
    }

    /// Sets the total length.
    pub fn set_total_len(&mut self, value: u16) {
        set_u16_at(self.bytes_mut(), field::TOTAL_LEN, value);
    }

    /// Sets the identification field.
    pub fn set_identification(&mut self, value: u16) {
        set_u16_at(self.bytes_mut(), field::IDENT, value);
    }

    /// Sets the reserved flag bit.
    pub fn set_reserved_flag(&mut self, value: bool) {
        self.set_flag(FLAG_RESERVED, value);
    }

    /// Sets Don't Fragment.
    pub fn set_dont_frag(&mut self, value: bool) {
        self.set_flag(FLAG_DF, value);
    }

    /// Sets More Fragments.
    pub fn set_more_frags(&mut self, value: bool) {
        self.set_flag(FLAG_MF, value);
    }

    /// Sets the fragment offset, in units of 8 bytes (13 bits).
    pub fn set_frag_offset(&mut self, value: u16) {
        debug_assert!(value <= FRAG_OFFSET_MASK);
        let word = self.flags_frag();
        let word = (word & !FRAG_OFFSET_MASK) | (value & FRAG_OFFSET_MASK);
        self.set_flags_frag(word);
    }

    /// Sets the time to live.
    pub fn set_ttl(&mut self, value: u8) {
        self.bytes_mut()[field::TTL] = value;
    }

    /// Sets the protocol.
    pub fn set_protocol(&mut self, value: u8) {
        self.bytes_mut()[field::PROTOCOL] = value;
    }

    /// Sets the header checksum field.
    pub fn set_header_checksum(&mut self, value: u16) {
        set_u16_at(self.bytes_mut(), field::CHECKSUM, value);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        set_ipv4_at(self.bytes_mut(), field::SRC, addr);
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        set_ipv4_at(self.bytes_mut(), field::DST, addr);
    }

    /// Computes and writes the header checksum over `header_len` bytes.
    pub fn fill_checksum(&mut self) {
        self.set_header_checksum(0);
        let end = self.header_len().min(self.bytes().len());
        let checksum = Checksum::new().add_bytes(&self.bytes()[..end]).finish();
        self.set_header_checksum(checksum);
    }

    /// The options, mutable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let range = self.header_range();
        &mut self.bytes_mut()[range]
    }

    /// The payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.payload_range();
        &mut self.bytes_mut()[range]
    }
}

/// An IPv4 header, parsed.
///
/// Options are kept as raw bytes so that a parsed header emits exactly as it was
/// received; braid itself sends none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr<'a> {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload (IANA protocol number, e.g. 6 for TCP).
    pub protocol: u8,
    /// Payload length in bytes; the total length field is header plus payload.
    pub payload_len: usize,
    pub ttl: u8,
    /// The former type-of-service byte: DSCP and ECN.
    pub dscp_ecn: u8,
    pub identification: u16,
    /// The reserved flag; kept only so that parse then emit reproduces the bytes.
    pub reserved_flag: bool,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// Fragment offset in units of 8 bytes.
    pub frag_offset: u16,
    /// Raw option bytes. Emit pads them with zeros (End of Option List) to a
    /// multiple of 4.
    pub options: &'a [u8],
}

impl<'a> Ipv4Repr<'a> {
    /// A header as braid sends them: TTL 64, Don't Fragment set (RFC 1191 path MTU
    /// discovery), no options.
    pub fn new(src_addr: Ipv4Addr, dst_addr: Ipv4Addr, protocol: u8, payload_len: usize) -> Self {
        Ipv4Repr {
            src_addr,
            dst_addr,
            protocol,
            payload_len,
            ttl: 64,
            dscp_ecn: 0,
            identification: 0,
            reserved_flag: false,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            options: &[],
        }
    }

    /// Parses an IPv4 packet and verifies its header checksum. Returns the header and
    /// the payload (up to the total length; link padding after it is ignored).
    ///
    /// IPv4 header checksums are always complete, even with checksum offload, so
    /// they are always verified.
    pub fn parse(packet: &'a [u8]) -> Result<(Self, &'a [u8]), WireError> {
        let view = Ipv4Packet::new_checked(packet)?;
        if !view.verify_checksum() {
            return Err(WireError::BadChecksum {
                what: "IPv4 header",
            });
        }
        let header_len = view.header_len();
        let total_len = usize::from(view.total_len());
        let repr = Ipv4Repr {
            src_addr: view.src_addr(),
            dst_addr: view.dst_addr(),
            protocol: view.protocol(),
            payload_len: total_len - header_len,
            ttl: view.ttl(),
            dscp_ecn: view.dscp_ecn(),
            identification: view.identification(),
            reserved_flag: view.reserved_flag(),
            dont_frag: view.dont_frag(),
            more_frags: view.more_frags(),
            frag_offset: view.frag_offset(),
            options: &packet[IPV4_MIN_HEADER_LEN..header_len],
        };
        Ok((repr, &packet[header_len..total_len]))
    }

    /// Header length in bytes, options padded to a multiple of 4.
    pub fn header_len(&self) -> usize {
        IPV4_MIN_HEADER_LEN + self.options.len().next_multiple_of(4)
    }

    /// Bytes [`Ipv4Repr::emit`] writes: the header only.
    pub fn buffer_len(&self) -> usize {
        self.header_len()
    }

    /// Header plus payload: the total length field.
    pub fn total_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Whether this is a fragment of a larger datagram.
    pub fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }

    /// Writes the header, with its checksum, into `buf[..self.buffer_len()]`; the
    /// payload goes after it.
    ///
    /// # Panics
    ///
    /// If `buf` is shorter than [`Ipv4Repr::buffer_len`], the options are longer than
    /// 40 bytes, the total length exceeds 65535 or `frag_offset` exceeds 13 bits:
    /// all caller bugs.
    pub fn emit(&self, buf: &mut [u8]) {
        assert!(
            self.options.len() <= IPV4_MAX_HEADER_LEN - IPV4_MIN_HEADER_LEN,
            "IPv4 options longer than 40 bytes"
        );
        assert!(
            self.frag_offset <= FRAG_OFFSET_MASK,
            "IPv4 fragment offset over 13 bits"
        );
        let header_len = self.header_len();
        let total_len = u16::try_from(self.total_len()).expect("IPv4 total length over 65535");
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..header_len]);
        p.set_version(4);
        p.set_header_len(header_len);
        p.set_dscp_ecn(self.dscp_ecn);
        p.set_total_len(total_len);
        p.set_identification(self.identification);
        let mut flags_frag = self.frag_offset;
        if self.reserved_flag {
            flags_frag |= FLAG_RESERVED;
        }
        if self.dont_frag {
            flags_frag |= FLAG_DF;
        }
        if self.more_frags {
            flags_frag |= FLAG_MF;
        }
        p.set_flags_frag(flags_frag);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
        let options = p.options_mut();
        let (opts, pad) = options.split_at_mut(self.options.len());
        opts.copy_from_slice(self.options);
        // RFC 791 §3.1: the header is padded with zeros to a 32-bit boundary.
        pad.fill(0);
        p.fill_checksum();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The SYN of single-subflow.pcap (Linux 6.18), TCP checksum completed.
    pub(crate) const SYN: [u8; 64] = [
        0x45, 0x00, 0x00, 0x40, 0x96, 0xf5, 0x40, 0x00, 0x40, 0x06, 0x8d, 0xc0, 0x0a, 0x00, 0x01,
        0x01, 0x0a, 0x00, 0x01, 0x02, 0x87, 0xe6, 0x13, 0x89, 0x81, 0x15, 0xf1, 0x43, 0x00, 0x00,
        0x00, 0x00, 0xb0, 0x02, 0xfa, 0xf0, 0x37, 0x77, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04,
        0x02, 0x08, 0x0a, 0x59, 0x32, 0x69, 0x8e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
        0x1e, 0x04, 0x01, 0x01,
    ];

    #[test]
    fn view_fields() {
        let p = Ipv4Packet::new_checked(&SYN[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp_ecn(), 0);
        assert_eq!(p.total_len(), 64);
        assert_eq!(p.identification(), 0x96f5);
        assert!(p.dont_frag() && !p.more_frags() && !p.reserved_flag());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), 6);
        assert_eq!(p.header_checksum(), 0x8dc0);
        assert_eq!(p.src_addr(), Ipv4Addr::new(10, 0, 1, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(10, 0, 1, 2));
        assert!(p.options().is_empty());
        assert_eq!(p.payload(), &SYN[20..]);
        assert!(p.verify_checksum());
    }

    #[test]
    fn parse_and_round_trip() {
        let (repr, payload) = Ipv4Repr::parse(&SYN).unwrap();
        assert_eq!(payload, &SYN[20..]);
        assert_eq!(repr.payload_len, 44);
        assert_eq!(repr.buffer_len(), 20);
        let mut out = [0u8; 64];
        repr.emit(&mut out);
        out[20..].copy_from_slice(payload);
        assert_eq!(out, SYN);
    }

    #[test]
    fn link_padding_is_ignored() {
        let mut padded = SYN.to_vec();
        padded.extend_from_slice(&[0xee; 6]);
        let (_, payload) = Ipv4Repr::parse(&padded).unwrap();
        assert_eq!(payload, &SYN[20..]);
    }

    #[test]
    fn bad_checksum_is_rejected() {
        for byte in [0, 1, 5, 10, 11, 15, 19] {
            let mut bad = SYN;
            bad[byte] ^= 0x01;
            assert!(!Ipv4Packet::new_unchecked(&bad[..]).verify_checksum());
            assert!(Ipv4Repr::parse(&bad).is_err(), "{byte}");
        }
        // The payload is not covered by the header checksum.
        let mut other = SYN;
        other[40] ^= 0xff;
        assert!(Ipv4Repr::parse(&other).is_ok());
    }

    #[test]
    fn truncated_at_every_length() {
        for len in 0..SYN.len() {
            assert!(Ipv4Packet::new_checked(&SYN[..len]).is_err(), "{len}");
            assert!(Ipv4Repr::parse(&SYN[..len]).is_err(), "{len}");
        }
    }

    #[test]
    fn bad_fields_are_rejected() {
        let with = |f: fn(&mut [u8; 64])| {
            let mut p = SYN;
            f(&mut p);
            let mut v = Ipv4Packet::new_unchecked(&mut p[..]);
            v.fill_checksum();
            Ipv4Repr::parse(&p).map(|(_, payload)| payload.len())
        };
        assert_eq!(
            with(|p| p[0] = 0x65).unwrap_err(),
            WireError::Malformed {
                what: "IPv4 version"
            }
        );
        assert!(matches!(
            with(|p| p[0] = 0x44),
            Err(WireError::BadLength { .. })
        ));
        // 40 bytes of options and 4 of payload.
        assert_eq!(with(|p| p[0] = 0x4f), Ok(4));
        assert!(matches!(
            with(|p| {
                p[0] = 0x4f;
                p[3] = 56;
            }),
            Err(WireError::BadLength { .. })
        ));
        let mut long_header = SYN;
        long_header[0] = 0x4f;
        assert_eq!(
            Ipv4Packet::new_checked(&long_header[..40]).unwrap_err(),
            WireError::Truncated {
                needed: 60,
                available: 40
            }
        );
        assert!(matches!(
            with(|p| p[3] = 19),
            Err(WireError::BadLength { .. })
        ));
        assert!(matches!(
            with(|p| p[3] = 65),
            Err(WireError::Truncated { .. })
        ));
        // A header-only packet is fine.
        assert_eq!(with(|p| p[3] = 20), Ok(0));
    }

    #[test]
    fn options_round_trip() {
        // Record Route with room for one address, then End of Option List padding.
        let options = [0x07, 0x07, 0x04, 0, 0, 0, 0, 0];
        let repr = Ipv4Repr {
            identification: 0x1234,
            reserved_flag: true,
            dont_frag: false,
            more_frags: true,
            frag_offset: 0x1abc,
            dscp_ecn: 0xb9,
            ttl: 3,
            options: &options,
            ..Ipv4Repr::new(
                Ipv4Addr::new(192, 0, 2, 1),
                Ipv4Addr::new(198, 51, 100, 7),
                17,
                5,
            )
        };
        assert_eq!(repr.header_len(), 28);
        let mut buf = [0u8; 33];
        repr.emit(&mut buf);
        buf[28..].copy_from_slice(b"hello");
        let (parsed, payload) = Ipv4Repr::parse(&buf).unwrap();
        assert_eq!(parsed, repr);
        assert_eq!(payload, b"hello");
        assert!(parsed.is_fragment());
        let view = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(view.dscp(), 0xb9 >> 2);
        assert_eq!(view.ecn(), 1);
        assert_eq!(view.options(), &options);
    }

    #[test]
    fn unpadded_options_are_padded() {
        let repr = Ipv4Repr {
            options: &[0x01, 0x01, 0x01],
            ..Ipv4Repr::new(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 6, 0)
        };
        assert_eq!(repr.buffer_len(), 24);
        let mut buf = [0xffu8; 24];
        repr.emit(&mut buf);
        let (parsed, _) = Ipv4Repr::parse(&buf).unwrap();
        assert_eq!(parsed.options, &[1, 1, 1, 0]);
    }

    #[test]
    #[should_panic]
    fn emit_into_short_buffer_panics() {
        let (repr, _) = Ipv4Repr::parse(&SYN).unwrap();
        repr.emit(&mut [0u8; 19]);
    }

    #[test]
    fn setters_round_trip() {
        let mut buf = SYN;
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        p.set_src_addr(Ipv4Addr::new(1, 2, 3, 4));
        p.set_dst_addr(Ipv4Addr::new(5, 6, 7, 8));
        p.set_ttl(9);
        p.set_identification(10);
        p.set_frag_offset(11);
        p.set_more_frags(true);
        p.set_dont_frag(false);
        p.set_dscp_ecn(12);
        p.set_protocol(13);
        p.fill_checksum();
        let (repr, _) = Ipv4Repr::parse(&buf).unwrap();
        assert_eq!(repr.src_addr, Ipv4Addr::new(1, 2, 3, 4));
        assert_eq!(repr.dst_addr, Ipv4Addr::new(5, 6, 7, 8));
        assert_eq!(
            (
                repr.ttl,
                repr.identification,
                repr.frag_offset,
                repr.dscp_ecn,
                repr.protocol
            ),
            (9, 10, 11, 12, 13)
        );
        assert!(repr.more_frags && !repr.dont_frag);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = Ipv4Repr::parse(&data);
            if let Ok(p) = Ipv4Packet::new_checked(&data[..]) {
                let _ = (p.options(), p.payload(), p.verify_checksum(), p.is_fragment());
                let _ = (p.dscp(), p.ecn(), p.src_addr(), p.dst_addr(), p.header_checksum());
            }
            // Unchecked views clamp options and payload.
            let p = Ipv4Packet::new_unchecked(&data[..]);
            let _ = (p.options(), p.payload());
        }

        #[test]
        fn emit_then_parse(
            src in any::<u32>(), dst in any::<u32>(), protocol in any::<u8>(),
            payload_len in 0usize..1000, ttl in any::<u8>(), tos in any::<u8>(),
            ident in any::<u16>(), flags in 0u8..8, frag_offset in 0u16..0x2000,
            options in proptest::collection::vec(any::<u8>(), 0..11).prop_map(|v| {
                let n = v.len() * 4; v.into_iter().cycle().take(n).collect::<Vec<u8>>()
            }),
        ) {
            let repr = Ipv4Repr {
                src_addr: src.into(), dst_addr: dst.into(), protocol, payload_len, ttl,
                dscp_ecn: tos, identification: ident, reserved_flag: flags & 4 != 0,
                dont_frag: flags & 2 != 0, more_frags: flags & 1 != 0, frag_offset,
                options: &options,
            };
            let mut buf = vec![0u8; repr.total_len()];
            repr.emit(&mut buf);
            let (parsed, payload) = Ipv4Repr::parse(&buf).unwrap();
            prop_assert_eq!(parsed, repr);
            prop_assert_eq!(payload.len(), payload_len);
        }
    }
}
