//! Sequence numbers: TCP's wrapping 32-bit ones and MPTCP's 64-bit data sequence
//! numbers, with the expansion of a 32-bit DSN to 64 bits.

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A TCP sequence number. Comparisons follow RFC 9293 §3.4: modulo 2^32, `a < b`
/// when `b` is less than 2^31 ahead of `a`. Only numbers within 2^31 of each other
/// compare meaningfully, which the window sizes TCP allows guarantee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// The distance from `earlier` to `self`, if `self` is not before `earlier`.
    pub fn since(self, earlier: SeqNum) -> Option<u32> {
        (self >= earlier).then(|| self.0.wrapping_sub(earlier.0))
    }

    /// Signed distance `self - other`.
    pub fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    pub fn max(self, other: SeqNum) -> SeqNum {
        if self >= other {
            self
        } else {
            other
        }
    }

    pub fn min(self, other: SeqNum) -> SeqNum {
        if self <= other {
            self
        } else {
            other
        }
    }

    /// `start <= self < end`, in sequence space.
    pub fn in_range(self, start: SeqNum, end: SeqNum) -> bool {
        start <= self && self < end
    }
}

impl PartialOrd for SeqNum {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Serial-number order. Not transitive across more than half the space: do not sort
/// sequence numbers that may be 2^31 apart.
impl Ord for SeqNum {
    fn cmp(&self, other: &Self) -> Ordering {
        self.diff(*other).cmp(&0)
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    fn add(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }
}

impl Add<usize> for SeqNum {
    type Output = SeqNum;
    fn add(self, n: usize) -> SeqNum {
        SeqNum(self.0.wrapping_add(n as u32))
    }
}

impl AddAssign<u32> for SeqNum {
    fn add_assign(&mut self, n: u32) {
        *self = *self + n;
    }
}

impl AddAssign<usize> for SeqNum {
    fn add_assign(&mut self, n: usize) {
        *self = *self + n;
    }
}

impl Sub<u32> for SeqNum {
    type Output = SeqNum;
    fn sub(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(n))
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Widens the low 32 bits of a 64-bit sequence number to the value nearest
/// `reference`. TCP offsets are widened so from the 32-bit numbers on the wire, and
/// so is a 32-bit DSN (RFC 8684 §3.3: the receiver "must be able to infer" the full
/// number from the data it has seen; no peer has 2^31 octets in flight).
pub fn widen(low: u32, reference: u64) -> u64 {
    let candidate = (reference & !0xffff_ffff) | u64::from(low);
    let distance = |c: u64| c.wrapping_sub(reference) as i64;
    [
        candidate.wrapping_sub(1 << 32),
        candidate,
        candidate.wrapping_add(1 << 32),
    ]
    .into_iter()
    .min_by_key(|&c| distance(c).unsigned_abs())
    .expect("three candidates")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9293_s3_4_comparisons_wrap() {
        let a = SeqNum(u32::MAX - 10);
        let b = a + 20u32;
        assert_eq!(b, SeqNum(9));
        assert!(a < b);
        assert!(b > a, "order is antisymmetric");
        assert_eq!(b.since(a), Some(20));
        assert_eq!(a.since(b), None);
        assert_eq!(a.diff(b), -20);
        assert!(SeqNum(5).in_range(a, b));
        assert!(!b.in_range(a, b));
        assert_eq!(a.max(b), b);
    }

    #[test]
    fn rfc8684_s3_3_32_bit_numbers_widen_near_the_reference() {
        assert_eq!(widen(5, 0x1_0000_0000), 0x1_0000_0005);
        // Just past a 2^32 boundary, seen from just before it.
        assert_eq!(widen(3, 0x1_ffff_fff0), 0x2_0000_0003);
        // Slightly old data, seen from just past the boundary.
        assert_eq!(widen(0xffff_fff0, 0x2_0000_0003), 0x1_ffff_fff0);
        assert_eq!(widen(7, 2), 7);
        // Wraps at the top of the 64-bit space.
        assert_eq!(widen(2, u64::MAX - 1), 2);
    }
}
