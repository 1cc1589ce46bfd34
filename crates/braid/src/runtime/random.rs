//! The stack's random values: ChaCha20 seeded from the operating system.
//!
//! On a real network, MPTCP keys and nonces, the secret behind ISNs, timestamp
//! offsets and SYN cookies, and ephemeral ports must be unpredictable (the core's
//! `braid_proto::rng` says which and why). The core takes its generator as a trait
//! object; here it is ChaCha20 (RustCrypto's `chacha20`, the generator behind `rand`'s
//! `StdRng`) with a 256-bit seed from `getrandom`, never the simulator's seeded one.

use std::fmt;
use std::io;

use braid_proto::endpoint::{Endpoint, EndpointConfig};
use braid_proto::rng::RandomSource;
use chacha20::rand_core::{Rng, SeedableRng};
use chacha20::ChaCha20Rng;

/// A cryptographically secure generator seeded by the operating system.
pub(crate) struct OsSeededChaCha(ChaCha20Rng);

impl OsSeededChaCha {
    pub(crate) fn new() -> io::Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| {
            io::Error::other(format!(
                "the operating system's random number generator failed: {e}"
            ))
        })?;
        Ok(OsSeededChaCha(ChaCha20Rng::from_seed(seed)))
    }
}

impl fmt::Debug for OsSeededChaCha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Its state is a secret.
        f.write_str("OsSeededChaCha(..)")
    }
}

impl RandomSource for OsSeededChaCha {
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    fn fill_bytes(&mut self, out: &mut [u8]) {
        self.0.fill_bytes(out);
    }
}

/// The endpoint of a stack on a real network: its random values from
/// [`OsSeededChaCha`].
pub(crate) fn network_endpoint(config: EndpointConfig) -> io::Result<Endpoint> {
    Ok(Endpoint::with_random_source(
        config,
        Box::new(OsSeededChaCha::new()?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use braid_proto::seq::SeqNum;
    use braid_proto::tcp::{emit_segment, SegmentOut};
    use braid_proto::time::Instant;
    use braid_proto::wire::mptcp::{MpCapable, MpCapableFlags, MpCapableVariant, MptcpOption};
    use braid_proto::wire::tcp_option::{TcpOption, TcpOptions};
    use braid_proto::wire::{ChecksumCheck, IpRepr, TcpFlags, TcpRepr};
    use std::net::SocketAddr;

    const SERVER: &str = "10.0.0.2:5001";

    /// The listener's answers to `n` MP_CAPABLE SYNs from distinct clients: the
    /// SYN-ACKs' (ISN, MPTCP key), in order.
    fn syn_acks(endpoint: &mut Endpoint, n: u16) -> Vec<(u32, u64)> {
        let server: SocketAddr = SERVER.parse().unwrap();
        endpoint.listen(server).unwrap();
        let capable = TcpOption::Mptcp(MptcpOption::MpCapable(MpCapable {
            flags: MpCapableFlags(MpCapableFlags::HMAC_SHA256),
            variant: MpCapableVariant::Syn,
        }));
        let mut out = Vec::new();
        let mut buf = vec![0u8; 2000];
        for i in 0..n {
            let client = SocketAddr::new([10, 0, 1, 1].into(), 10_000 + i);
            let syn = SegmentOut {
                seq: SeqNum(u32::from(i)),
                ack: SeqNum(0),
                flags: TcpFlags::SYN,
                window: 65535,
                options: Default::default(),
                payload: [&[], &[]],
                stream_offset: 0,
                retransmission: false,
            };
            let len = emit_segment(&mut buf, client, server, &syn, &[capable]);
            let now = Instant::from_millis(u64::from(i));
            endpoint.handle(now, &buf[..len]);
            let len = endpoint.poll_transmit(now, &mut buf).expect("a SYN-ACK");
            let (_, payload) = IpRepr::parse(&buf[..len]).unwrap();
            let tcp = TcpRepr::parse(payload.payload, ChecksumCheck::Skip).unwrap();
            let key = TcpOptions::new(tcp.options)
                .flatten()
                .find_map(|o| match o {
                    TcpOption::Mptcp(MptcpOption::MpCapable(MpCapable {
                        variant: MpCapableVariant::SynAck { sender_key },
                        ..
                    })) => Some(sender_key),
                    _ => None,
                })
                .expect("MP_CAPABLE");
            out.push((tcp.seq_number, key));
        }
        out
    }

    #[test]
    fn the_attack_predicts_xoshiro_outputs_drawn_1_to_4_apart() {
        use braid_proto::rng::SeededRng;
        for gap in 1..=4 {
            let mut r = SeededRng::new(gap);
            let outputs: Vec<u64> = (0..8)
                .map(|_| {
                    let out = r.next_u64();
                    for _ in 1..gap {
                        r.next_u64();
                    }
                    out
                })
                .collect();
            assert!(xoshiro::predicts(&outputs), "gap {gap}");
        }
    }

    #[test]
    fn keys_read_from_syn_acks_do_not_reveal_the_next_one() {
        // The attack works: on the seeded generator, six keys give the state and
        // every later key.
        let seeded = syn_acks(&mut Endpoint::new(EndpointConfig::default(), 7), 8);
        let keys: Vec<u64> = seeded.iter().map(|&(_, k)| k).collect();
        assert!(
            xoshiro::predicts(&keys),
            "the seeded generator's keys are predictable"
        );
        // It does not on the stack's endpoint, whatever the spacing of draws.
        let network = syn_acks(&mut network_endpoint(EndpointConfig::default()).unwrap(), 8);
        let keys: Vec<u64> = network.iter().map(|&(_, k)| k).collect();
        assert!(!xoshiro::predicts(&keys), "keys {keys:x?}");
    }

    #[test]
    fn keys_and_isns_of_the_stack_look_random() {
        let answers = syn_acks(
            &mut network_endpoint(EndpointConfig::default()).unwrap(),
            2000,
        );
        let keys: Vec<u64> = answers.iter().map(|&(_, k)| k).collect();
        let isns: Vec<u64> = answers.iter().map(|&(i, _)| u64::from(i)).collect();
        for (name, values, bits) in [("keys", &keys, 64), ("ISNs", &isns, 32)] {
            let distinct: std::collections::HashSet<_> = values.iter().collect();
            assert_eq!(distinct.len(), values.len(), "{name} repeat");
            // Every bit is set in about half of them: 2000 draws put a fair bit
            // within 40% to 60% with odds of 1 - 10^-18.
            for bit in 0..bits {
                let set = values.iter().filter(|v| *v >> bit & 1 == 1).count();
                assert!(
                    (800..=1200).contains(&set),
                    "{name}: bit {bit} set {set} times"
                );
            }
        }
        // Two stacks: two secrets, other ISNs for the same 4-tuples at the same times.
        let other = syn_acks(&mut network_endpoint(EndpointConfig::default()).unwrap(), 4);
        assert_ne!(other[..4], answers[..4]);
    }

    #[test]
    fn the_generator_is_not_printed() {
        let random = OsSeededChaCha::new().unwrap();
        assert_eq!(format!("{random:?}"), "OsSeededChaCha(..)");
    }

    /// Recovering xoshiro256**'s state from its outputs: the output function is
    /// invertible (each output gives the second state word) and the state update is
    /// linear over GF(2), so 256 independent bits of observed words are 256 linear
    /// equations in the 256 bits of the state.
    mod xoshiro {
        /// A bit of the state as a combination of the first state's 256 bits.
        type Combination = [u64; 4];
        /// The state, each bit a combination.
        type Symbolic = [[Combination; 64]; 4];

        fn xor(a: &mut [Combination; 64], b: &[Combination; 64]) {
            for (x, y) in a.iter_mut().zip(b) {
                for k in 0..4 {
                    x[k] ^= y[k];
                }
            }
        }

        fn shl(a: &[Combination; 64], n: usize) -> [Combination; 64] {
            let mut out = [[0; 4]; 64];
            out[n..].copy_from_slice(&a[..64 - n]);
            out
        }

        fn rotl(a: &[Combination; 64], n: usize) -> [Combination; 64] {
            let mut out = [[0; 4]; 64];
            for (i, bit) in a.iter().enumerate() {
                out[(i + n) % 64] = *bit;
            }
            out
        }

        /// xoshiro256**'s state update, on symbols.
        fn step(s: &mut Symbolic) {
            let t = shl(&s[1], 17);
            let (s0, s1) = (s[0], s[1]);
            xor(&mut s[2], &s0);
            xor(&mut s[3], &s1);
            let s2 = s[2];
            xor(&mut s[1], &s2);
            let s3 = s[3];
            xor(&mut s[0], &s3);
            xor(&mut s[2], &t);
            s[3] = rotl(&s[3], 45);
        }

        fn inverse(a: u64) -> u64 {
            // Newton's iteration for odd `a`: each step doubles the correct bits.
            let mut x = a;
            for _ in 0..6 {
                x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
            }
            x
        }

        /// The second state word behind output `out`: out = rotl(s1 * 5, 7) * 9.
        fn second_word(out: u64) -> u64 {
            out.wrapping_mul(inverse(9))
                .rotate_right(7)
                .wrapping_mul(inverse(5))
        }

        fn output(s: &[u64; 4]) -> u64 {
            s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9)
        }

        fn advance(s: &mut [u64; 4]) {
            let t = s[1] << 17;
            s[2] ^= s[0];
            s[3] ^= s[1];
            s[1] ^= s[2];
            s[0] ^= s[3];
            s[2] ^= t;
            s[3] = s[3].rotate_left(45);
        }

        /// The state before the first of `observed`, outputs `gap` draws apart, if
        /// the equations they give determine it.
        fn solve(observed: &[u64], gap: usize) -> Option<[u64; 4]> {
            let mut sym: Symbolic = [[[0; 4]; 64]; 4];
            for (w, word) in sym.iter_mut().enumerate() {
                for (b, bit) in word.iter_mut().enumerate() {
                    let i = w * 64 + b;
                    bit[i / 64] = 1 << (i % 64);
                }
            }
            let mut rows: Vec<(Combination, bool)> = Vec::new();
            for (n, &out) in observed.iter().enumerate() {
                if n > 0 {
                    for _ in 0..gap {
                        step(&mut sym);
                    }
                }
                let s1 = second_word(out);
                for (b, bit) in sym[1].iter().enumerate() {
                    rows.push((*bit, s1 >> b & 1 == 1));
                }
            }
            // Gauss-Jordan elimination over GF(2).
            let mut pivots = Vec::new();
            let mut r = 0;
            for col in 0..256 {
                let has = |row: &(Combination, bool)| row.0[col / 64] >> (col % 64) & 1 == 1;
                let Some(p) = (r..rows.len()).find(|&i| has(&rows[i])) else {
                    return None; // not determined
                };
                rows.swap(r, p);
                let pivot = rows[r];
                for (i, row) in rows.iter_mut().enumerate() {
                    if i != r && has(row) {
                        for k in 0..4 {
                            row.0[k] ^= pivot.0[k];
                        }
                        row.1 ^= pivot.1;
                    }
                }
                pivots.push(col);
                r += 1;
            }
            // Leftover equations must hold: otherwise these were not xoshiro outputs.
            if rows[r..].iter().any(|row| row.1) {
                return None;
            }
            let mut state = [0u64; 4];
            for (i, &col) in pivots.iter().enumerate() {
                if rows[i].1 {
                    state[col / 64] |= 1 << (col % 64);
                }
            }
            Some(state)
        }

        /// Whether the first six of `keys`, taken as xoshiro256** outputs 1 to 4
        /// draws apart, predict the ones after.
        pub fn predicts(keys: &[u64]) -> bool {
            let (known, later) = keys.split_at(6);
            (1..=4).any(|gap| {
                let Some(mut state) = solve(known, gap) else {
                    return false;
                };
                for _ in 0..(known.len() - 1) * gap {
                    advance(&mut state);
                }
                later.iter().all(|&key| {
                    for _ in 0..gap {
                        advance(&mut state);
                    }
                    output(&state) == key
                })
            })
        }
    }
}
