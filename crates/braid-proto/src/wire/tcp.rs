//! TCP header (RFC 9293 §3.1).
//!
//! Options are carried as the raw, padded option block: `tcp_option` gives them
//! meaning, so that this layer round-trips whatever a peer or middlebox sent.

use core::fmt;
use core::net::IpAddr;
use core::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign, Not, Range};

use super::bytes::{ensure_len, set_u16_at, set_u32_at, u16_at, u32_at};
use super::ip::ip_protocol;
use super::{Checksum, ChecksumCheck, ChecksumStatus, WireError};

/// Length of a TCP header without options.
pub const TCP_MIN_HEADER_LEN: usize = 20;
/// Largest TCP header: the data offset is four bits of 32-bit words.
pub const TCP_MAX_HEADER_LEN: usize = 60;
/// Most option bytes a TCP header can hold.
pub const TCP_MAX_OPTIONS_LEN: usize = TCP_MAX_HEADER_LEN - TCP_MIN_HEADER_LEN;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const OFFSET_FLAGS: usize = 12;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// The 12 bits after the data offset: four reserved bits and the eight control bits
/// (RFC 9293 §3.1).
///
/// The reserved bits are kept, not cleared, so that parse then emit reproduces a
/// segment exactly; RFC 9293 §3.1 says a receiver must ignore them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u16);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x001);
    pub const SYN: TcpFlags = TcpFlags(0x002);
    pub const RST: TcpFlags = TcpFlags(0x004);
    pub const PSH: TcpFlags = TcpFlags(0x008);
    pub const ACK: TcpFlags = TcpFlags(0x010);
    pub const URG: TcpFlags = TcpFlags(0x020);
    /// ECN-Echo (RFC 3168 §6.1).
    pub const ECE: TcpFlags = TcpFlags(0x040);
    /// Congestion Window Reduced (RFC 3168 §6.1).
    pub const CWR: TcpFlags = TcpFlags(0x080);
    /// The four reserved bits ("Rsrvd" in RFC 9293 §3.1). The lowest, 0x100, was the
    /// historic NS bit (RFC 3540) and is AccECN's AE bit.
    pub const RESERVED: TcpFlags = TcpFlags(0xf00);
    /// Every bit of the field.
    pub const ALL: TcpFlags = TcpFlags(0xfff);

    const NAMES: [(TcpFlags, &'static str); 8] = [
        (TcpFlags::FIN, "FIN"),
        (TcpFlags::SYN, "SYN"),
        (TcpFlags::RST, "RST"),
        (TcpFlags::PSH, "PSH"),
        (TcpFlags::ACK, "ACK"),
        (TcpFlags::URG, "URG"),
        (TcpFlags::ECE, "ECE"),
        (TcpFlags::CWR, "CWR"),
    ];

    /// No flags.
    pub const fn empty() -> Self {
        TcpFlags(0)
    }

    /// The flags in the low 12 bits of `bits`; higher bits are dropped.
    pub const fn from_bits_truncate(bits: u16) -> Self {
        TcpFlags(bits & TcpFlags::ALL.0)
    }

    /// The flags as the low 12 bits of a `u16`.
    pub const fn bits(self) -> u16 {
        self.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// `self` with the flags of `other` added.
    pub const fn union(self, other: TcpFlags) -> Self {
        TcpFlags(self.0 | other.0)
    }

    /// `self` without the flags of `other`.
    pub const fn difference(self, other: TcpFlags) -> Self {
        TcpFlags(self.0 & !other.0)
    }

    pub fn insert(&mut self, other: TcpFlags) {
        self.0 |= other.0;
    }

    pub fn remove(&mut self, other: TcpFlags) {
        self.0 &= !other.0;
    }

    /// Inserts or removes `other`.
    pub fn set(&mut self, other: TcpFlags, value: bool) {
        if value {
            self.insert(other);
        } else {
            self.remove(other);
        }
    }

    pub const fn fin(self) -> bool {
        self.contains(TcpFlags::FIN)
    }

    pub const fn syn(self) -> bool {
        self.contains(TcpFlags::SYN)
    }

    pub const fn rst(self) -> bool {
        self.contains(TcpFlags::RST)
    }

    pub const fn psh(self) -> bool {
        self.contains(TcpFlags::PSH)
    }

    pub const fn ack(self) -> bool {
        self.contains(TcpFlags::ACK)
    }

    pub const fn urg(self) -> bool {
        self.contains(TcpFlags::URG)
    }

    pub const fn ece(self) -> bool {
        self.contains(TcpFlags::ECE)
    }

    pub const fn cwr(self) -> bool {
        self.contains(TcpFlags::CWR)
    }

    /// The four reserved bits, as a number from 0 to 15.
    pub const fn reserved(self) -> u8 {
        (self.0 >> 8) as u8
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        self.union(rhs)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.insert(rhs);
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl BitAndAssign for TcpFlags {
    fn bitand_assign(&mut self, rhs: TcpFlags) {
        self.0 &= rhs.0;
    }
}

impl Not for TcpFlags {
    type Output = TcpFlags;
    /// The complement within the 12 bits of the field.
    fn not(self) -> TcpFlags {
        TcpFlags(!self.0 & TcpFlags::ALL.0)
    }
}

/// `SYN|ACK`, reserved bits as `RSV(0x1)`, no flags as `-`.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            let s = if first { "" } else { "|" };
            first = false;
            f.write_str(s)
        };
        for (flag, name) in TcpFlags::NAMES {
            if self.contains(flag) {
                sep(f)?;
                f.write_str(name)?;
            }
        }
        if self.reserved() != 0 {
            sep(f)?;
            write!(f, "RSV({:#x})", self.reserved())?;
        }
        if self.is_empty() {
            f.write_str("-")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TcpFlags({self})")
    }
}

/// A zero-copy view of a TCP segment: the IP payload, header then data.
///
/// [`TcpSegment::new_checked`] guarantees that every accessor is in bounds. With
/// [`TcpSegment::new_unchecked`] the fixed-field accessors panic if the buffer is
/// shorter than 20 bytes; `options` and `payload` never panic and clamp to the
/// buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpSegment<T> {
    /// Wraps `buffer` without checking it (see the type's documentation).
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpSegment { buffer }
    }

    /// Wraps `buffer` after [`TcpSegment::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let segment = Self::new_unchecked(buffer);
        segment.check_len()?;
        Ok(segment)
    }

    /// Checks that the fixed header fits, the data offset is at least 5 and the
    /// header it gives fits.
    pub fn check_len(&self) -> Result<(), WireError> {
        ensure_len(self.bytes(), TCP_MIN_HEADER_LEN)?;
        let header_len = self.header_len();
        // RFC 9293 §3.1: the data offset counts 32-bit words; the fixed header alone
        // is five.
        if header_len < TCP_MIN_HEADER_LEN {
            return Err(WireError::BadLength {
                what: "TCP header (data offset)",
                length: header_len,
            });
        }
        ensure_len(self.bytes(), header_len)
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn src_port(&self) -> u16 {
        u16_at(self.bytes(), field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        u16_at(self.bytes(), field::DST_PORT)
    }

    pub fn seq_number(&self) -> u32 {
        u32_at(self.bytes(), field::SEQ)
    }

    pub fn ack_number(&self) -> u32 {
        u32_at(self.bytes(), field::ACK)
    }

    /// Header length in bytes (data offset times 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.bytes()[field::OFFSET_FLAGS] >> 4) * 4
    }

    /// Control bits and reserved bits.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags::from_bits_truncate(u16_at(self.bytes(), field::OFFSET_FLAGS))
    }

    pub fn fin(&self) -> bool {
        self.flags().fin()
    }

    pub fn syn(&self) -> bool {
        self.flags().syn()
    }

    pub fn rst(&self) -> bool {
        self.flags().rst()
    }

    pub fn psh(&self) -> bool {
        self.flags().psh()
    }

    /// The ACK control bit (the acknowledgment number is [`TcpSegment::ack_number`]).
    pub fn ack(&self) -> bool {
        self.flags().ack()
    }

    pub fn urg(&self) -> bool {
        self.flags().urg()
    }

    pub fn ece(&self) -> bool {
        self.flags().ece()
    }

    pub fn cwr(&self) -> bool {
        self.flags().cwr()
    }

    /// The window field, unscaled.
    pub fn window(&self) -> u16 {
        u16_at(self.bytes(), field::WINDOW)
    }

    pub fn checksum(&self) -> u16 {
        u16_at(self.bytes(), field::CHECKSUM)
    }

    pub fn urgent_ptr(&self) -> u16 {
        u16_at(self.bytes(), field::URGENT)
    }

    /// Header length without panicking on a short buffer (for the clamped ranges).
    fn header_len_or_zero(&self) -> usize {
        self.bytes()
            .get(field::OFFSET_FLAGS)
            .map_or(0, |b| usize::from(b >> 4) * 4)
    }

    fn options_range(&self) -> Range<usize> {
        let len = self.bytes().len();
        let end = self.header_len_or_zero().min(len);
        TCP_MIN_HEADER_LEN.min(end)..end
    }

    /// The option block, padding included.
    pub fn options(&self) -> &[u8] {
        &self.bytes()[self.options_range()]
    }

    /// The data after the header.
    pub fn payload(&self) -> &[u8] {
        let start = self.header_len_or_zero().min(self.bytes().len());
        &self.bytes()[start..]
    }

    /// What the checksum field holds, given the IP addresses of the packet.
    /// Addresses of different families give `Invalid`.
    pub fn checksum_status(&self, src: IpAddr, dst: IpAddr) -> ChecksumStatus {
        let bytes = self.bytes();
        let Some(pseudo) = u32::try_from(bytes.len())
            .ok()
            .and_then(|len| Checksum::pseudo_header(src, dst, ip_protocol::TCP, len))
        else {
            return ChecksumStatus::Invalid;
        };
        // RFC 9293 §3.1: the checksum is the one's complement of the one's complement
        // sum of the pseudo-header, header and data; with it in place the sum
        // complements to zero.
        if pseudo.add_bytes(bytes).finish() == 0 {
            return ChecksumStatus::Valid;
        }
        // Linux with checksum offload stores the folded pseudo-header sum and lets
        // the device finish; 0 and 0xffff are both zero in one's complement.
        let field = self.checksum();
        let partial = pseudo.sum();
        if field == partial
            || (field == 0 && partial == 0xffff)
            || (field == 0xffff && partial == 0)
        {
            ChecksumStatus::Partial
        } else {
            ChecksumStatus::Invalid
        }
    }

    /// Whether the checksum is correct, given the IP addresses of the packet.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        self.checksum_status(src, dst) == ChecksumStatus::Valid
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpSegment<T> {
    fn bytes_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    pub fn set_src_port(&mut self, value: u16) {
        set_u16_at(self.bytes_mut(), field::SRC_PORT, value);
    }

    pub fn set_dst_port(&mut self, value: u16) {
        set_u16_at(self.bytes_mut(), field::DST_PORT, value);
    }

    pub fn set_seq_number(&mut self, value: u32) {
        set_u32_at(self.bytes_mut(), field::SEQ, value);
    }

    pub fn set_ack_number(&mut self, value: u32) {
        set_u32_at(self.bytes_mut(), field::ACK, value);
    }

    /// Sets the header length in bytes; it must be a multiple of 4, 20 to 60.
    pub fn set_header_len(&mut self, len: usize) {
        debug_assert!(len % 4 == 0 && (TCP_MIN_HEADER_LEN..=TCP_MAX_HEADER_LEN).contains(&len));
        let b = &mut self.bytes_mut()[field::OFFSET_FLAGS];
        *b = (*b & 0x0f) | (((len / 4) as u8) << 4);
    }

    /// Sets the control and reserved bits.
    pub fn set_flags(&mut self, flags: TcpFlags) {
        let word = u16_at(self.bytes(), field::OFFSET_FLAGS);
        set_u16_at(
            self.bytes_mut(),
            field::OFFSET_FLAGS,
            (word & 0xf000) | flags.bits(),
        );
    }

    pub fn set_window(&mut self, value: u16) {
        set_u16_at(self.bytes_mut(), field::WINDOW, value);
    }

    pub fn set_checksum(&mut self, value: u16) {
        set_u16_at(self.bytes_mut(), field::CHECKSUM, value);
    }

    pub fn set_urgent_ptr(&mut self, value: u16) {
        set_u16_at(self.bytes_mut(), field::URGENT, value);
    }

    /// The option block, mutable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let range = self.options_range();
        &mut self.bytes_mut()[range]
    }

    /// The data after the header, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len_or_zero().min(self.bytes().len());
        &mut self.bytes_mut()[start..]
    }

    /// Computes and writes the checksum over the whole buffer and the pseudo-header
    /// of `src` and `dst`.
    ///
    /// # Panics
    ///
    /// If `src` and `dst` are of different families, or the buffer is over 4 GiB:
    /// caller bugs.
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) {
        self.set_checksum(0);
        let len = u32::try_from(self.bytes().len()).expect("TCP segment over 4 GiB");
        let checksum = Checksum::pseudo_header(src, dst, ip_protocol::TCP, len)
            .expect("TCP checksum: source and destination of different families")
            .add_bytes(self.bytes())
            .finish();
        self.set_checksum(checksum);
    }
}

/// A TCP segment, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq_number: u32,
    pub ack_number: u32,
    /// Control bits, and the reserved bits as received.
    pub flags: TcpFlags,
    /// Window field, unscaled.
    pub window: u16,
    pub urgent_ptr: u16,
    /// The raw option block. Emit pads it with zeros (End of Option List) to a
    /// multiple of 4; it must be at most 40 bytes.
    pub options: &'a [u8],
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Parses a segment, the whole IP payload. With [`ChecksumCheck::Verify`] a
    /// wrong checksum is an error; addresses of different families are too.
    pub fn parse(segment: &'a [u8], check: ChecksumCheck) -> Result<Self, WireError> {
        let view = TcpSegment::new_checked(segment)?;
        if let ChecksumCheck::Verify { src, dst } = check {
            let len = u32::try_from(segment.len()).map_err(|_| WireError::BadLength {
                what: "TCP segment",
                length: segment.len(),
            })?;
            let pseudo = Checksum::pseudo_header(src, dst, ip_protocol::TCP, len).ok_or(
                WireError::Malformed {
                    what: "TCP pseudo-header (address families differ)",
                },
            )?;
            // RFC 9293 §3.10.7.1 (SEGMENT ARRIVES): a segment that fails the checksum
            // is discarded.
            if pseudo.add_bytes(segment).finish() != 0 {
                return Err(WireError::BadChecksum { what: "TCP" });
            }
        }
        let header_len = view.header_len();
        Ok(TcpRepr {
            src_port: view.src_port(),
            dst_port: view.dst_port(),
            seq_number: view.seq_number(),
            ack_number: view.ack_number(),
            flags: view.flags(),
            window: view.window(),
            urgent_ptr: view.urgent_ptr(),
            options: &segment[TCP_MIN_HEADER_LEN..header_len],
            payload: &segment[header_len..],
        })
    }

    /// Header length in bytes, options padded to a multiple of 4.
    pub fn header_len(&self) -> usize {
        TCP_MIN_HEADER_LEN + self.options.len().next_multiple_of(4)
    }

    /// Bytes [`TcpRepr::emit`] writes: header and payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Sequence space the segment occupies (SEG.LEN, RFC 9293 §3.4): the payload, plus
    /// one each for SYN and FIN.
    pub fn seq_len(&self) -> usize {
        self.payload.len() + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }

    /// Writes the segment into `buf[..self.buffer_len()]` with its checksum over the
    /// pseudo-header of `src` and `dst`.
    ///
    /// # Panics
    ///
    /// If `buf` is shorter than [`TcpRepr::buffer_len`], the options exceed 40 bytes
    /// or `src` and `dst` are of different families: all caller bugs.
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) {
        assert!(
            self.options.len() <= TCP_MAX_OPTIONS_LEN,
            "TCP options longer than 40 bytes"
        );
        let header_len = self.header_len();
        let mut s = TcpSegment::new_unchecked(&mut buf[..header_len + self.payload.len()]);
        s.set_src_port(self.src_port);
        s.set_dst_port(self.dst_port);
        s.set_seq_number(self.seq_number);
        s.set_ack_number(self.ack_number);
        set_u16_at(s.bytes_mut(), field::OFFSET_FLAGS, 0);
        s.set_header_len(header_len);
        s.set_flags(self.flags);
        s.set_window(self.window);
        s.set_urgent_ptr(self.urgent_ptr);
        let (options, pad) = s.options_mut().split_at_mut(self.options.len());
        options.copy_from_slice(self.options);
        // RFC 9293 §3.1: the header padding is composed of zeros.
        pad.fill(0);
        s.payload_mut().copy_from_slice(self.payload);
        s.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn v4(a: u8, b: u8) -> (IpAddr, IpAddr) {
        (
            Ipv4Addr::new(10, 0, a, 1).into(),
            Ipv4Addr::new(10, 0, b, 2).into(),
        )
    }

    fn v6() -> (IpAddr, IpAddr) {
        ("dead:1::1".parse().unwrap(), "dead:1::2".parse().unwrap())
    }

    /// TCP part of the IPv4 SYN of single-subflow.pcap, checksum completed (0x3777).
    fn v4_syn() -> Vec<u8> {
        crate::wire::ipv4::tests::SYN[20..].to_vec()
    }

    /// checksum-echo.pcap frame 345, 10.0.1.2 -> 10.0.2.1: ACK with one byte of data
    /// (odd length) and a DSS option, checksum completed (0x5d93).
    fn v4_data() -> Vec<u8> {
        hex("1389834da89e9f54343ce5c5f01000405d9300000101080a7d9280f38f6eed6d1e1c200fc24bed21d0825f8010b51a61cc9419e0000000010001ee7200")
    }

    /// TCP part of the IPv6 SYN of ipv6-add-addr-join.pcap, checksum completed.
    fn v6_syn() -> Vec<u8> {
        crate::wire::ipv6::tests::SYN[40..].to_vec()
    }

    /// The IPv6 SYN-ACK that answers it (dead:1::2 -> dead:1::1), checksum completed.
    fn v6_syn_ack() -> Vec<u8> {
        hex("1389d35e63f9a3b2b75394d7d012fb04a2120000020405a00402080a0540e8c18e721c780103030a1e0c010183cbac0ce84eb29d")
    }

    fn verify((src, dst): (IpAddr, IpAddr)) -> ChecksumCheck {
        ChecksumCheck::Verify { src, dst }
    }

    #[test]
    fn view_fields() {
        let bytes = v4_syn();
        let s = TcpSegment::new_checked(&bytes[..]).unwrap();
        assert_eq!((s.src_port(), s.dst_port()), (34790, 5001));
        assert_eq!(s.seq_number(), 0x8115_f143);
        assert_eq!(s.ack_number(), 0);
        assert_eq!(s.header_len(), 44);
        assert_eq!(s.flags(), TcpFlags::SYN);
        assert!(s.syn() && !s.ack() && !s.fin() && !s.rst() && !s.psh());
        assert!(!s.urg() && !s.ece() && !s.cwr());
        assert_eq!(s.window(), 64240);
        assert_eq!(s.checksum(), 0x3777);
        assert_eq!(s.urgent_ptr(), 0);
        assert_eq!(s.options(), &bytes[20..44]);
        assert_eq!(s.options()[..4], [2, 4, 0x05, 0xb4]); // MSS 1460
        assert!(s.payload().is_empty());
        let (src, dst) = v4(1, 1);
        assert!(s.verify_checksum(src, dst));
    }

    #[test]
    fn rfc9293_3_1_checksums_from_captures_verify() {
        for (bytes, addrs) in [
            (v4_syn(), v4(1, 1)),
            (
                v4_data(),
                (
                    Ipv4Addr::new(10, 0, 1, 2).into(),
                    Ipv4Addr::new(10, 0, 2, 1).into(),
                ),
            ),
            (v6_syn(), v6()),
            (v6_syn_ack(), (v6().1, v6().0)),
        ] {
            let repr = TcpRepr::parse(&bytes, verify(addrs)).unwrap();
            // Emit computes the same checksum and reproduces the segment.
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut out, addrs.0, addrs.1);
            assert_eq!(out, bytes);
        }
    }

    #[test]
    fn data_segment_fields() {
        let bytes = v4_data();
        let repr = TcpRepr::parse(&bytes, ChecksumCheck::Skip).unwrap();
        assert_eq!(repr.flags, TcpFlags::ACK);
        assert_eq!(repr.window, 64);
        assert_eq!(repr.options.len(), 40);
        assert_eq!(repr.payload, &[0]);
        assert_eq!(repr.seq_len(), 1);
        assert_eq!(repr.header_len(), 60);
    }

    #[test]
    fn rfc9293_3_1_corruption_is_detected() {
        let bytes = v4_data();
        let addrs = (
            Ipv4Addr::new(10, 0, 1, 2).into(),
            Ipv4Addr::new(10, 0, 2, 1).into(),
        );
        for i in 0..bytes.len() {
            for bit in [0x01, 0x80] {
                let mut bad = bytes.clone();
                bad[i] ^= bit;
                let err = TcpRepr::parse(&bad, verify(addrs));
                // A flip in the data offset may also make the header not fit.
                assert!(err.is_err(), "byte {i}");
                // Without verification the checksum does not matter.
                if i != 12 {
                    assert!(TcpRepr::parse(&bad, ChecksumCheck::Skip).is_ok());
                }
            }
        }
        // The pseudo-header is covered: wrong addresses fail.
        assert_eq!(
            TcpRepr::parse(&bytes, verify(v4(1, 1))).unwrap_err(),
            WireError::BadChecksum { what: "TCP" }
        );
        assert_eq!(
            TcpSegment::new_unchecked(&bytes[..]).checksum_status(v4(1, 1).0, v4(1, 1).1),
            ChecksumStatus::Invalid
        );
    }

    #[test]
    fn mixed_families_are_an_error_not_a_panic() {
        let bytes = v4_syn();
        let check = ChecksumCheck::Verify {
            src: v4(1, 1).0,
            dst: v6().1,
        };
        assert!(matches!(
            TcpRepr::parse(&bytes, check),
            Err(WireError::Malformed { .. })
        ));
        let s = TcpSegment::new_unchecked(&bytes[..]);
        assert_eq!(
            s.checksum_status(v4(1, 1).0, v6().1),
            ChecksumStatus::Invalid
        );
    }

    #[test]
    fn partial_checksum_of_local_captures() {
        // As captured: the field holds the pseudo-header sum (0x1635) for offload.
        let mut bytes = v4_syn();
        bytes[16..18].copy_from_slice(&[0x16, 0x35]);
        let (src, dst) = v4(1, 1);
        let s = TcpSegment::new_checked(&bytes[..]).unwrap();
        assert_eq!(s.checksum_status(src, dst), ChecksumStatus::Partial);
        assert!(!s.verify_checksum(src, dst));
        assert!(TcpRepr::parse(&bytes, verify((src, dst))).is_err());
        assert!(TcpRepr::parse(&bytes, ChecksumCheck::Skip).is_ok());
        let mut v6_bytes = v6_syn();
        v6_bytes[16..18].copy_from_slice(&[0xbd, 0x92]);
        let s = TcpSegment::new_checked(&v6_bytes[..]).unwrap();
        assert_eq!(s.checksum_status(v6().0, v6().1), ChecksumStatus::Partial);
    }

    #[test]
    fn truncated_at_every_length() {
        for bytes in [v4_syn(), v4_data(), v6_syn_ack()] {
            let header_len = TcpSegment::new_unchecked(&bytes[..]).header_len();
            for len in 0..header_len {
                assert!(TcpSegment::new_checked(&bytes[..len]).is_err(), "{len}");
                assert!(
                    TcpRepr::parse(&bytes[..len], ChecksumCheck::Skip).is_err(),
                    "{len}"
                );
                assert!(
                    TcpRepr::parse(&bytes[..len], verify(v6())).is_err(),
                    "{len}"
                );
            }
            // Shorter payloads still parse without verification, and fail it.
            for len in header_len..bytes.len() {
                assert!(TcpRepr::parse(&bytes[..len], ChecksumCheck::Skip).is_ok());
            }
        }
    }

    #[test]
    fn rfc9293_3_1_data_offset_is_checked() {
        let mut bytes = v4_syn();
        for offset in 0..5u8 {
            bytes[12] = offset << 4 | (bytes[12] & 0x0f);
            assert_eq!(
                TcpRepr::parse(&bytes, ChecksumCheck::Skip).unwrap_err(),
                WireError::BadLength {
                    what: "TCP header (data offset)",
                    length: usize::from(offset) * 4
                }
            );
        }
        bytes[12] = 0xc0; // 48 bytes of header in a 44-byte segment.
        assert_eq!(
            TcpRepr::parse(&bytes, ChecksumCheck::Skip).unwrap_err(),
            WireError::Truncated {
                needed: 48,
                available: 44
            }
        );
        bytes[12] = 0x50;
        let repr = TcpRepr::parse(&bytes, ChecksumCheck::Skip).unwrap();
        assert!(repr.options.is_empty());
        assert_eq!(repr.payload.len(), 24);
    }

    #[test]
    fn reserved_bits_round_trip() {
        let mut bytes = v6_syn_ack();
        bytes[12] |= 0x0f;
        let s = TcpSegment::new_unchecked(&bytes[..]);
        let (src, dst) = (v6().1, v6().0);
        let mut fixed = bytes.clone();
        TcpSegment::new_unchecked(&mut fixed[..]).fill_checksum(src, dst);
        let repr = TcpRepr::parse(&fixed, verify((src, dst))).unwrap();
        assert_eq!(repr.flags.reserved(), 0xf);
        assert_eq!(
            repr.flags & !TcpFlags::RESERVED,
            TcpFlags::SYN | TcpFlags::ACK
        );
        assert_eq!(s.flags(), repr.flags);
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut out, src, dst);
        assert_eq!(out, fixed);
    }

    #[test]
    fn emit_pads_options_and_carries_payload() {
        let (src, dst) = v6();
        let repr = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq_number: 3,
            ack_number: 4,
            flags: TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN,
            window: 5,
            urgent_ptr: 6,
            options: &[1, 1, 4, 2, 1],
            payload: b"odd",
        };
        assert_eq!(repr.header_len(), 28);
        assert_eq!(repr.buffer_len(), 31);
        assert_eq!(repr.seq_len(), 4);
        let mut out = [0xaau8; 40];
        repr.emit(&mut out, src, dst);
        assert_eq!(out[31..], [0xaa; 9], "nothing written past buffer_len");
        let parsed = TcpRepr::parse(&out[..31], verify((src, dst))).unwrap();
        assert_eq!(parsed.options, &[1, 1, 4, 2, 1, 0, 0, 0]);
        assert_eq!(parsed.payload, b"odd");
        assert_eq!(
            TcpRepr {
                options: repr.options,
                ..parsed
            },
            repr
        );
    }

    #[test]
    #[should_panic]
    fn emit_into_short_buffer_panics() {
        let bytes = v4_syn();
        let repr = TcpRepr::parse(&bytes, ChecksumCheck::Skip).unwrap();
        let (src, dst) = v4(1, 1);
        repr.emit(&mut [0u8; 43], src, dst);
    }

    #[test]
    #[should_panic]
    fn emit_with_long_options_panics() {
        let repr = TcpRepr {
            options: &[1; 41],
            ..TcpRepr::default()
        };
        let (src, dst) = v4(1, 1);
        repr.emit(&mut [0u8; 64], src, dst);
    }

    #[test]
    #[should_panic]
    fn emit_with_mixed_families_panics() {
        let (src, _) = v4(1, 1);
        TcpRepr::default().emit(&mut [0u8; 20], src, v6().1);
    }

    #[test]
    fn setters() {
        let mut bytes = v4_syn();
        let (src, dst) = v4(1, 1);
        let mut s = TcpSegment::new_unchecked(&mut bytes[..]);
        s.set_src_port(80);
        s.set_dst_port(443);
        s.set_seq_number(7);
        s.set_ack_number(8);
        s.set_flags(TcpFlags::RST | TcpFlags::ACK);
        s.set_window(9);
        s.set_urgent_ptr(10);
        s.options_mut()[0] = 1;
        s.fill_checksum(src, dst);
        let repr = TcpRepr::parse(&bytes, verify((src, dst))).unwrap();
        assert_eq!((repr.src_port, repr.dst_port), (80, 443));
        assert_eq!((repr.seq_number, repr.ack_number), (7, 8));
        assert_eq!((repr.window, repr.urgent_ptr), (9, 10));
        assert_eq!(repr.flags, TcpFlags::RST | TcpFlags::ACK);
        assert_eq!(repr.options[0], 1);
        assert_eq!(repr.header_len(), 44);
    }

    #[test]
    fn flags_api() {
        let mut f = TcpFlags::SYN | TcpFlags::ACK;
        assert!(f.contains(TcpFlags::SYN) && f.syn() && f.ack() && !f.fin());
        assert!(f.intersects(TcpFlags::SYN | TcpFlags::FIN));
        assert!(!f.contains(TcpFlags::SYN | TcpFlags::FIN));
        f.set(TcpFlags::ECE, true);
        f.remove(TcpFlags::SYN);
        assert_eq!(f, TcpFlags::ACK | TcpFlags::ECE);
        f |= TcpFlags::from_bits_truncate(0xf100);
        assert_eq!(f.bits(), 0x150);
        assert_eq!(f.reserved(), 1);
        assert_eq!(format!("{f}"), "ACK|ECE|RSV(0x1)");
        assert_eq!(format!("{:?}", TcpFlags::empty()), "TcpFlags(-)");
        assert_eq!((!TcpFlags::ALL).bits(), 0);
        assert_eq!(
            f.difference(TcpFlags::RESERVED),
            TcpFlags::ACK | TcpFlags::ECE
        );
        let all = TcpFlags::NAMES
            .iter()
            .fold(TcpFlags::empty(), |a, (f, _)| a | *f);
        assert_eq!(all | TcpFlags::RESERVED, TcpFlags::ALL);
        assert_eq!(format!("{all}"), "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR");
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            let (src, dst) = v4(1, 1);
            let _ = TcpRepr::parse(&data, ChecksumCheck::Skip);
            let _ = TcpRepr::parse(&data, verify((src, dst)));
            let _ = TcpRepr::parse(&data, verify(v6()));
            if let Ok(s) = TcpSegment::new_checked(&data[..]) {
                let _ = (s.options(), s.payload(), s.flags(), s.checksum_status(src, dst));
            }
            let s = TcpSegment::new_unchecked(&data[..]);
            let _ = (s.options(), s.payload());
        }

        #[test]
        fn emit_then_parse(
            v6_family in any::<bool>(),
            ports in any::<(u16, u16)>(), seq in any::<u32>(), ack in any::<u32>(),
            flags in any::<u16>(), window in any::<u16>(), urgent in any::<u16>(),
            options in proptest::collection::vec(any::<u8>(), 0..11).prop_map(|v| {
                let n = v.len() * 4; v.into_iter().cycle().take(n).collect::<Vec<u8>>()
            }),
            payload in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let (src, dst) = if v6_family { v6() } else { v4(1, 2) };
            let repr = TcpRepr {
                src_port: ports.0, dst_port: ports.1, seq_number: seq, ack_number: ack,
                flags: TcpFlags::from_bits_truncate(flags), window, urgent_ptr: urgent,
                options: &options, payload: &payload,
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut buf, src, dst);
            prop_assert_eq!(TcpRepr::parse(&buf, verify((src, dst))).unwrap(), repr);
        }
    }
}
