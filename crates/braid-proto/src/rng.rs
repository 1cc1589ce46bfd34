//! Where the core's random values come from: a [`RandomSource`] the owner of the
//! endpoint hands in.
//!
//! Two implementations, one per kind of owner:
//! - [`SeededRng`] here, deterministic: same seed, same run, byte for byte. The
//!   simulator and the tests use it; its outputs can be predicted from a few of them,
//!   so it must never face a real network.
//! - A cryptographically secure generator seeded by the operating system: the runtime
//!   (`braid::runtime`) implements the trait with ChaCha20 seeded from `getrandom`.
//!   The core itself stays free of that dependency.
//!
//! # Which values must be unpredictable, and why
//!
//! An attacker who can guess these can act on connections it cannot see:
//! - MPTCP keys (RFC 8684 §2.1, §5, citing RFC 4086): the key authenticates MP_JOIN
//!   (the HMACs) and MP_FASTCLOSE, and its hash is the token that names the
//!   connection. Guessing a key means joining or closing someone else's connection.
//! - MP_JOIN nonces (RFC 8684 §3.2): they make each join's HMAC fresh; predictable
//!   ones let a captured handshake be replayed.
//! - Initial sequence numbers (RFC 9293 §3.4.1, RFC 6528): an off-path attacker who
//!   can guess one can inject data or a RST into the connection. braid computes them
//!   as RFC 6528 §3 says, a 4-microsecond clock plus a keyed hash of the 4-tuple
//!   under a secret drawn once from this source (see `crate::secrets`), so they also
//!   advance with time for a 4-tuple reused after TIME-WAIT.
//! - Timestamp offsets (RFC 7323 §7.1; Linux since 4.10 uses one per connection):
//!   TSvals from a shared clock reveal the host's uptime and let an observer tell
//!   which connections come from the same host. Also a keyed hash of the 4-tuple, so
//!   that a SYN cookie's connection can recompute the offset its SYN-ACK used.
//! - The secret of those keyed hashes and of SYN cookies (RFC 4987 §3.6): whoever
//!   knows it can forge cookies and predict every ISN.
//! - Ephemeral ports (RFC 6056 §3.2, algorithm 1): a random port is one more field an
//!   off-path attacker must guess.
//!
//! xoshiro256** ([`SeededRng`]) is fast and statistically strong but not any of that:
//! its output function is invertible and its state update linear, so a handful of
//! outputs (keys read from SYN-ACKs) give its state and every later output.

use std::fmt;

/// A generator of uniformly distributed bits, as the endpoint needs them.
pub trait RandomSource: fmt::Debug + Send {
    fn next_u64(&mut self) -> u64;

    /// 32 bits; by default the high half of [`next_u64`](Self::next_u64).
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Fills `out` with random bytes.
    fn fill_bytes(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    /// A uniformly distributed value in `0..bound` (`bound` > 0), without modulo bias.
    fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "empty range");
        let zone = u64::MAX - (u64::MAX - bound + 1) % bound;
        loop {
            let v = self.next_u64();
            if v <= zone {
                return v % bound;
            }
        }
    }
}

/// The deterministic generator: xoshiro256** (Blackman and Vigna), seeded through
/// SplitMix64 as its authors recommend. For simulations and tests only (see the
/// module's documentation).
#[derive(Debug, Clone)]
pub struct SeededRng {
    s: [u64; 4],
}

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        SeededRng {
            s: [next(), next(), next(), next()],
        }
    }
}

impl RandomSource for SeededRng {
    fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_four(seed: u64) -> Vec<u64> {
        let mut r = SeededRng::new(seed);
        (0..4).map(|_| r.next_u64()).collect()
    }

    #[test]
    fn same_seed_same_sequence_and_different_seeds_differ() {
        assert_eq!(first_four(7), first_four(7));
        assert_ne!(first_four(7), first_four(8));
    }

    #[test]
    fn the_seeded_sequence_is_pinned() {
        // The simulator's outputs depend on these draws: a change here changes every
        // simulated run, which must be deliberate.
        let mut r = SeededRng::new(1);
        assert_eq!(r.next_u64(), 0xb3f2_af6d_0fc7_10c5);
        assert_eq!(r.next_u32(), 0x853b_5596);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = SeededRng::new(1);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let v = r.below(10);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn fill_bytes_takes_whole_words_in_order() {
        let mut a = SeededRng::new(3);
        let mut b = SeededRng::new(3);
        let mut out = [0u8; 12];
        a.fill_bytes(&mut out);
        assert_eq!(out[..8], b.next_u64().to_le_bytes());
        assert_eq!(out[8..], b.next_u64().to_le_bytes()[..4]);
    }
}
