//! Seeded randomness: every random decision in a simulation comes from here.
//!
//! A scenario has one seed. Each consumer (a link, a host, a middlebox) derives its own
//! seed from it with [`derive_seed`] and a `(domain, index)` pair, so adding a link does
//! not change the draws of the others. Inside a link each random feature (loss, burst
//! loss, duplication, reordering, jitter) has its own stream, so turning jitter on does
//! not change which packets are lost.
//!
//! Draws use PCG-64 (`rand_pcg::Pcg64`, the XSL-RR 128/64 LCG, whose output sequence is
//! fixed by its specification) and convert its `u64` outputs here rather than through
//! `rand`'s distributions, whose algorithms have changed between releases. A pinned
//! count in a test therefore depends on the seed alone.

use rand_core::Rng;
use rand_pcg::Pcg64;

/// Domains for [`derive_seed`], so that seeds for different kinds of consumers never
/// collide. Hosts and scenario code may define their own above [`domain::USER`].
pub mod domain {
    /// One simulated link direction; the index is the link's id.
    pub const LINK: u64 = 1;
    /// One node; the index is the node's id.
    pub const NODE: u64 = 2;
    /// One middlebox; the index is chosen by whoever builds it.
    pub const MIDDLEBOX: u64 = 3;
    /// First domain free for other uses.
    pub const USER: u64 = 0x100;
}

/// SplitMix64's finaliser: a bijection of `u64` with good avalanche.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// The seed of consumer `index` in `domain`, derived from a scenario seed.
///
/// Stable: the same inputs give the same seed in every version of braid-sim (tests pin
/// counts that depend on it).
pub const fn derive_seed(seed: u64, domain: u64, index: u64) -> u64 {
    let a = mix(seed.wrapping_add(GOLDEN));
    let b = mix(a ^ domain.wrapping_mul(GOLDEN).wrapping_add(1));
    mix(b ^ index.wrapping_mul(0xd6e8_feb8_6659_fd93).wrapping_add(2))
}

/// A deterministic random number generator (PCG-64) with the few draws the simulator
/// needs.
#[derive(Debug, Clone)]
pub struct SimRng(Pcg64);

impl SimRng {
    /// A generator seeded from `seed`.
    pub fn new(seed: u64) -> Self {
        let hi = mix(seed ^ 0x5851_f42d_4c95_7f2d);
        let lo = mix(hi ^ seed.wrapping_add(GOLDEN));
        let state = (u128::from(hi) << 64) | u128::from(lo);
        SimRng(Pcg64::new(state, u128::from(mix(seed))))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A uniform draw in `[0, 1)` with 53 bits of precision.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`. Draws nothing when `p <= 0` (or is NaN), so a feature
    /// that is off consumes no randomness.
    pub fn chance(&mut self, p: f64) -> bool {
        if p.is_nan() || p <= 0.0 {
            return false;
        }
        self.unit() < p
    }

    /// A uniform draw in `[0, max]`.
    ///
    /// Lemire's multiply-shift without rejection: the bias is below `max / 2^64`,
    /// immaterial for delays in microseconds.
    pub fn up_to(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let span = u128::from(max) + 1;
        ((u128::from(self.next_u64()) * span) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_seeds_are_stable_and_distinct() {
        // Pinned: tests elsewhere pin counts that depend on these.
        assert_eq!(
            derive_seed(1, domain::LINK, 0),
            derive_seed(1, domain::LINK, 0)
        );
        let seeds: Vec<u64> = (0..64).map(|i| derive_seed(42, domain::LINK, i)).collect();
        let mut sorted = seeds.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), seeds.len());
        assert_ne!(
            derive_seed(42, domain::LINK, 3),
            derive_seed(42, domain::NODE, 3)
        );
        assert_ne!(
            derive_seed(42, domain::LINK, 3),
            derive_seed(43, domain::LINK, 3)
        );
    }

    #[test]
    fn same_seed_same_stream() {
        let mut a = SimRng::new(7);
        let mut b = SimRng::new(7);
        let mut c = SimRng::new(8);
        let xs: Vec<u64> = (0..16).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..16).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..16).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn draws_stay_in_range() {
        let mut r = SimRng::new(1);
        for _ in 0..10_000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(r.up_to(5) <= 5);
        }
        assert_eq!(r.up_to(0), 0);
        assert!(!r.chance(0.0));
        assert!(!r.chance(f64::NAN));
        assert!(r.chance(1.0));
    }

    #[test]
    fn up_to_covers_the_range_evenly() {
        let mut r = SimRng::new(3);
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[r.up_to(3) as usize] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
    }
}
