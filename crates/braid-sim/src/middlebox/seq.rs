//! Shifting sequence numbers, as a firewall that randomises initial sequence numbers
//! does.

use std::net::{IpAddr, SocketAddr};

use braid_proto::time::Instant;
use braid_proto::wire::tcp_option::kind::SACK;

use super::packet::{edit_tcp_header, for_each_option, FlowKey, TcpInfo};
use super::Middlebox;
use crate::rng::{derive_seed, domain};

/// Adds an offset to the sequence numbers of each direction of every TCP connection,
/// and subtracts it where the other side refers to them: its acknowledgment number
/// (when ACK is set) and its SACK blocks. Both ends see consistent sequence spaces
/// that differ by the offset, as behind an ISN-randomising firewall. MPTCP must not
/// care: DSS mappings carry subflow sequence numbers relative to the initial one
/// (RFC 8684 §3.3.1).
///
/// The offset of a direction is a keyed hash of the seed and that direction's 4-tuple
/// (never 0), so the box keeps no state and needs no SYN: it rewrites connections
/// already under way, and two instances with the same seed, one on each link of a
/// path, act as a single box. [`SeqRewriter::with_offset`] uses one fixed offset for
/// every direction instead.
///
/// Sequence and acknowledgment numbers and SACK blocks (found by the option framing
/// alone) are rewritten in place and the checksum is updated incrementally. Nothing
/// else is touched: timestamps, and MPTCP options, stay as they are.
#[derive(Debug, Clone)]
pub struct SeqRewriter {
    seed: u64,
    fixed: Option<u32>,
    /// TCP segments rewritten.
    pub packets_rewritten: u64,
}

impl SeqRewriter {
    /// Offsets drawn from `seed` (in a scenario, derived from the scenario seed).
    pub fn new(seed: u64) -> Self {
        SeqRewriter {
            seed,
            fixed: None,
            packets_rewritten: 0,
        }
    }

    /// The same offset for every direction of every connection.
    pub fn with_offset(offset: u32) -> Self {
        SeqRewriter {
            seed: 0,
            fixed: Some(offset),
            packets_rewritten: 0,
        }
    }

    /// What is added to the sequence numbers of segments from `src` to `dst`.
    pub fn offset(&self, src: SocketAddr, dst: SocketAddr) -> u32 {
        if let Some(offset) = self.fixed {
            return offset;
        }
        // Each end as words: family, address (one or two words), port.
        let mut words = [0u64; 8];
        let mut n = 0;
        for end in [src, dst] {
            let (family, hi, lo) = match end.ip() {
                IpAddr::V4(a) => (4, 0, u64::from(u32::from(a))),
                IpAddr::V6(a) => {
                    let a = u128::from(a);
                    (6, (a >> 64) as u64, a as u64)
                }
            };
            words[n..n + 4].copy_from_slice(&[family, hi, lo, u64::from(end.port())]);
            n += 4;
        }
        let hash = words[..n]
            .iter()
            .fold(self.seed, |h, w| derive_seed(h, domain::MIDDLEBOX, *w));
        match (hash >> 32) as u32 {
            0 => 1,
            offset => offset,
        }
    }

    fn flow_offset(&self, flow: FlowKey) -> u32 {
        self.offset(flow.src, flow.dst)
    }
}

impl Middlebox for SeqRewriter {
    fn process(&mut self, _now: Instant, mut packet: Vec<u8>, out: &mut Vec<Vec<u8>>) {
        if let Some(tcp) = TcpInfo::parse(&packet) {
            let flow = tcp.flow();
            let ours = self.flow_offset(flow);
            let theirs = self.flow_offset(flow.reversed());
            edit_tcp_header(&mut packet[tcp.range()], |segment| {
                segment.set_seq_number(tcp.seq.wrapping_add(ours));
                if tcp.flags.ack() {
                    segment.set_ack_number(tcp.ack.wrapping_sub(theirs));
                }
                // RFC 2018 §3: SACK blocks are in the other side's sequence space.
                for_each_option(segment.options_mut(), |kind, option| {
                    if kind != SACK {
                        return;
                    }
                    for edge in option[2..].chunks_exact_mut(4) {
                        let value = u32::from_be_bytes([edge[0], edge[1], edge[2], edge[3]]);
                        edge.copy_from_slice(&value.wrapping_sub(theirs).to_be_bytes());
                    }
                });
            });
            self.packets_rewritten += 1;
        }
        out.push(packet);
    }
}
