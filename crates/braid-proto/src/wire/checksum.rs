//! The Internet checksum (RFC 1071): a 16-bit one's complement sum.
//!
//! One accumulator serves every checksum braid computes: the IPv4 header checksum
//! (RFC 791), the TCP checksum over its IPv4 or IPv6 pseudo-header (RFC 9293 §3.1,
//! RFC 8200 §8.1) and the MPTCP DSS checksum (RFC 8684 §3.3.1), which sums a
//! pseudo-header of DSN, subflow sequence number and data-level length followed by the
//! mapped payload.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Bytes summed per inner block: the 32-bit words of a block cannot overflow the
/// 64-bit block sum (2^20 / 4 words of at most 2^32 - 1 each).
const BLOCK: usize = 1 << 20;

/// A running Internet checksum.
///
/// Adds behave as if all data were one contiguous byte stream: slices of odd length
/// may be added in sequence and give the same result as a single add of their
/// concatenation (RFC 1071 §2 (A) and (B): the sum is associative and independent of
/// byte order, so only the parity of the split matters). Integers are added as their
/// big-endian bytes.
///
/// ```
/// # use braid_proto::wire::Checksum;
/// let whole = Checksum::new().add_bytes(b"hello world").finish();
/// let split = Checksum::new().add_bytes(b"hel").add_bytes(b"lo world").finish();
/// assert_eq!(whole, split);
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct Checksum {
    /// Congruent modulo 0xffff to the one's complement sum of the data so far. Adds
    /// carry end-around in 64 bits; 2^64 - 1 is a multiple of 0xffff, so that keeps
    /// the congruence.
    sum: u64,
    /// An odd number of bytes has been added: the next byte is the low-order byte of
    /// a 16-bit word.
    odd: bool,
}

impl Checksum {
    /// An empty sum.
    pub const fn new() -> Self {
        Checksum { sum: 0, odd: false }
    }

    /// Adds `bytes` as the next bytes of the stream.
    pub fn add_bytes(mut self, bytes: &[u8]) -> Self {
        let mut s = fold(sum_words(bytes));
        if self.odd {
            // RFC 1071 §2 (B): the sum is byte-order independent; data starting at an
            // odd offset sums to the byte-swapped sum of the same data at an even one.
            s = s.swap_bytes();
        }
        self.sum = add_carry(self.sum, u64::from(s));
        self.odd ^= bytes.len() % 2 == 1;
        self
    }

    /// Adds `value` as its two big-endian bytes.
    pub fn add_u16(self, value: u16) -> Self {
        self.add_word(u64::from(value), &value.to_be_bytes())
    }

    /// Adds `value` as its four big-endian bytes.
    pub fn add_u32(self, value: u32) -> Self {
        self.add_word(u64::from(value), &value.to_be_bytes())
    }

    /// Adds `value` as its eight big-endian bytes.
    pub fn add_u64(self, value: u64) -> Self {
        self.add_word(value, &value.to_be_bytes())
    }

    fn add_word(mut self, value: u64, bytes: &[u8]) -> Self {
        if self.odd {
            return self.add_bytes(bytes);
        }
        // An even number of bytes at an even offset: their big-endian value is
        // congruent to the sum of their 16-bit words.
        self.sum = add_carry(self.sum, value);
        self
    }

    /// Appends the sum `other`, taken over the bytes that follow `self`'s, as if they
    /// had been added here.
    pub fn combine(mut self, other: Checksum) -> Self {
        let s = other.sum();
        let s = if self.odd { s.swap_bytes() } else { s };
        self.sum = add_carry(self.sum, u64::from(s));
        self.odd ^= other.odd;
        self
    }

    /// Whether an odd number of bytes has been added so far.
    pub fn is_odd(&self) -> bool {
        self.odd
    }

    /// The folded 16-bit one's complement sum, not yet complemented.
    ///
    /// A trailing odd byte counts as the high-order byte of a word padded with zero
    /// (RFC 1071 §1).
    pub fn sum(&self) -> u16 {
        fold(self.sum)
    }

    /// The checksum to put on the wire: the one's complement of [`Checksum::sum`].
    ///
    /// Summing a region that already holds a correct checksum finishes to 0.
    pub fn finish(&self) -> u16 {
        !self.sum()
    }

    /// The IPv4 pseudo-header: source, destination, zero, protocol, upper-layer length
    /// (RFC 9293 §3.1; also UDP, RFC 768).
    pub fn ipv4_pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> Self {
        Checksum::new()
            .add_bytes(&src.octets())
            .add_bytes(&dst.octets())
            .add_u16(u16::from(protocol))
            .add_u16(length)
    }

    /// The IPv6 pseudo-header: source, destination, 32-bit upper-layer packet length,
    /// three zero bytes, next header (RFC 8200 §8.1).
    pub fn ipv6_pseudo_header(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> Self {
        Checksum::new()
            .add_bytes(&src.octets())
            .add_bytes(&dst.octets())
            .add_u32(length)
            .add_u32(u32::from(next_header))
    }

    /// The pseudo-header for either family, or `None` if `src` and `dst` are of
    /// different families.
    ///
    /// For IPv4 the length field is 16 bits; a `length` above 65535 cannot occur in a
    /// valid IPv4 packet and is summed as a 32-bit value.
    pub fn pseudo_header(src: IpAddr, dst: IpAddr, protocol: u8, length: u32) -> Option<Self> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => Some(
                Checksum::new()
                    .add_bytes(&s.octets())
                    .add_bytes(&d.octets())
                    .add_u16(u16::from(protocol))
                    .add_u32(length),
            ),
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                Some(Checksum::ipv6_pseudo_header(s, d, protocol, length))
            }
            _ => None,
        }
    }
}

/// How a parser treats a checksum it could verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumCheck {
    /// Verify against the pseudo-header built from these addresses.
    Verify { src: IpAddr, dst: IpAddr },
    /// Do not verify: the checksum may be absent or partial, e.g. in captures of
    /// locally generated traffic whose checksum the NIC was to fill in.
    Skip,
}

/// What a checksum field holds, as far as can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumStatus {
    /// The checksum is correct.
    Valid,
    /// The field holds only the folded pseudo-header sum, not complemented: Linux's
    /// CHECKSUM_PARTIAL, left for checksum offload to complete. Seen in captures taken
    /// on the sending host.
    Partial,
    /// Neither: the segment is corrupt.
    Invalid,
}

/// `a + b` with the carry out of bit 63 added back in.
#[inline]
fn add_carry(a: u64, b: u64) -> u64 {
    let (s, carry) = a.overflowing_add(b);
    // No overflow here: if `carry`, `s` is at most 2^64 - 2.
    s + u64::from(carry)
}

/// Folds a 64-bit end-around-carry sum to 16 bits. Non-zero sums stay non-zero, so
/// negative zero (0xffff) is kept apart from positive zero as RFC 1071 requires.
#[inline]
fn fold(s: u64) -> u16 {
    let s = (s & 0xffff_ffff) + (s >> 32); // < 2^33
    let s = (s & 0xffff) + (s >> 16); // < 2^17 + 2^16
    let s = (s & 0xffff) + (s >> 16); // <= 0x10001
    let s = (s & 0xffff) + (s >> 16); // <= 0xffff
    s as u16
}

/// Sums `bytes` as big-endian 16-bit words starting at an even offset, a trailing odd
/// byte padded with zero. The result is congruent modulo 0xffff to that sum.
fn sum_words(bytes: &[u8]) -> u64 {
    let mut total = 0u64;
    for block in bytes.chunks(BLOCK) {
        // A 32-bit word is congruent to the sum of its two 16-bit halves modulo
        // 0xffff (2^16 = 1), so 32-bit words can be summed directly; independent adds
        // without carries let the compiler vectorise this loop.
        let mut acc = 0u64;
        let mut words = block.chunks_exact(4);
        for w in &mut words {
            acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
        }
        let rest = words.remainder();
        let mut tail = [0u8; 4];
        tail[..rest.len()].copy_from_slice(rest);
        acc += u64::from(u32::from_be_bytes(tail));
        total = add_carry(total, acc);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 1071 done the slow, obvious way: 16-bit words, end-around carry.
    fn reference(data: &[u8]) -> u16 {
        let mut sum = 0u32;
        for pair in data.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            sum += u32::from(word);
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
        let c = Checksum::new().add_bytes(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
        assert_eq!(c.sum(), 0xddf2);
        assert_eq!(c.finish(), !0xddf2);
    }

    #[test]
    fn empty_and_zero() {
        assert_eq!(Checksum::new().sum(), 0);
        assert_eq!(Checksum::new().finish(), 0xffff);
        assert_eq!(Checksum::new().add_bytes(&[0; 7]).finish(), 0xffff);
        // Negative zero stays negative zero.
        assert_eq!(Checksum::new().add_u16(0xffff).sum(), 0xffff);
        assert_eq!(
            Checksum::new().add_u64(u64::MAX).add_u64(u64::MAX).sum(),
            0xffff
        );
    }

    #[test]
    fn odd_splits_match_contiguous() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1001).collect();
        let whole = Checksum::new().add_bytes(&data).finish();
        assert_eq!(whole, reference(&data));
        for split in 0..data.len() {
            let (a, b) = data.split_at(split);
            assert_eq!(
                Checksum::new().add_bytes(a).add_bytes(b).finish(),
                whole,
                "{split}"
            );
        }
    }

    #[test]
    fn integers_are_big_endian_bytes_at_any_parity() {
        for prefix in [&[][..], &[0xab][..], &[0xab, 0xcd, 0xef][..]] {
            let base = Checksum::new().add_bytes(prefix);
            let v = 0x0123_4567_89ab_cdefu64;
            assert_eq!(
                base.add_u64(v).finish(),
                base.add_bytes(&v.to_be_bytes()).finish()
            );
            assert_eq!(
                base.add_u32(0xfedc_ba98).finish(),
                base.add_bytes(&[0xfe, 0xdc, 0xba, 0x98]).finish()
            );
            assert_eq!(
                base.add_u16(0x8001).finish(),
                base.add_bytes(&[0x80, 0x01]).finish()
            );
        }
    }

    #[test]
    fn combine_equals_sequential_adds() {
        let a = b"abcde";
        let b = b"fghijkl";
        let seq = Checksum::new().add_bytes(a).add_bytes(b);
        let comb = Checksum::new()
            .add_bytes(a)
            .combine(Checksum::new().add_bytes(b));
        assert_eq!(seq.finish(), comb.finish());
        assert_eq!(seq.is_odd(), comb.is_odd());
        // The parity carries on correctly after a combine.
        assert_eq!(seq.add_u16(0x1234).finish(), comb.add_u16(0x1234).finish());
    }

    #[test]
    fn ipv4_pseudo_header_matches_bytes() {
        let src = Ipv4Addr::new(10, 0, 1, 1);
        let dst = Ipv4Addr::new(10, 0, 1, 2);
        let bytes = [10, 0, 1, 1, 10, 0, 1, 2, 0, 6, 0, 44];
        let expect = Checksum::new().add_bytes(&bytes).sum();
        assert_eq!(Checksum::ipv4_pseudo_header(src, dst, 6, 44).sum(), expect);
        let generic = Checksum::pseudo_header(src.into(), dst.into(), 6, 44).unwrap();
        assert_eq!(generic.sum(), expect);
        // The sum a Linux sender leaves in a CHECKSUM_PARTIAL SYN (single-subflow.pcap).
        assert_eq!(expect, 0x1635);
    }

    #[test]
    fn ipv6_pseudo_header_matches_bytes() {
        let src: Ipv6Addr = "dead:1::1".parse().unwrap();
        let dst: Ipv6Addr = "dead:1::2".parse().unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&[0, 0, 0, 44, 0, 0, 0, 6]);
        let expect = Checksum::new().add_bytes(&bytes).sum();
        assert_eq!(Checksum::ipv6_pseudo_header(src, dst, 6, 44).sum(), expect);
        let generic = Checksum::pseudo_header(src.into(), dst.into(), 6, 44).unwrap();
        assert_eq!(generic.sum(), expect);
        assert!(Checksum::pseudo_header(src.into(), Ipv4Addr::LOCALHOST.into(), 6, 4).is_none());
    }

    /// RFC 8684 §3.3.1: the DSS checksum covers a pseudo-header of the 64-bit DSN, the
    /// 32-bit relative subflow sequence number, the 16-bit data-level length and a
    /// zero 16-bit checksum field, then the payload. Values from checksum-echo.pcap
    /// frame 345 (Linux 6.18, one byte of payload, checksum 0xee72).
    #[test]
    fn rfc8684_3_3_1_dss_checksum_from_capture() {
        let c = Checksum::new()
            .add_u64(0x10b5_1a61_cc94_19e0)
            .add_u32(1)
            .add_u16(1)
            .add_u16(0)
            .add_bytes(&[0x00]);
        assert_eq!(c.finish(), 0xee72);
    }

    proptest! {
        #[test]
        fn matches_reference(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            prop_assert_eq!(Checksum::new().add_bytes(&data).finish(), reference(&data));
        }

        #[test]
        fn any_split_matches(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
            cuts.sort_unstable();
            let mut c = Checksum::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([data.len()]) {
                c = c.add_bytes(&data[start..cut]);
                start = cut;
            }
            prop_assert_eq!(c.finish(), reference(&data));
            prop_assert_eq!(c.is_odd(), data.len() % 2 == 1);
        }
    }
}
