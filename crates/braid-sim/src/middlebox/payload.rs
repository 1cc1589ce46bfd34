//! Changing payload bytes behind TCP's back.

use braid_proto::time::Instant;
use braid_proto::wire::TcpSegment;

use super::packet::{adjust, sum, FlowKey, FlowTable, TcpInfo};
use super::Middlebox;

/// Which data segments (segments with payload) a [`PayloadRewriter`] changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Select {
    /// The `n`-th data segment of each flow (one direction of a 4-tuple), `n` from 1,
    /// retransmissions counted.
    NthDataSegment(u64),
    /// Data segments whose payload contains these bytes.
    Contains(Vec<u8>),
    /// Every data segment.
    Every,
}

/// What a [`PayloadRewriter`] does to a selected payload. The length never changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    /// XORs the byte at `offset` (the last byte, if the payload is shorter) with
    /// `mask`.
    Xor { offset: usize, mask: u8 },
    /// Replaces each occurrence of `from` (left to right, not overlapping) with `to`,
    /// of the same length.
    Replace { from: Vec<u8>, to: Vec<u8> },
}

/// Changes the payload of selected data segments and fixes the TCP checksum
/// (incrementally, RFC 1624), so TCP accepts the corrupted data and only MPTCP's DSS
/// checksum (RFC 8684 §3.3.1) can notice: it is what makes a receiver send MP_FAIL or
/// fall back (§3.7).
///
/// [`PayloadRewriter::times`] limits how many segments are changed in all. A segment
/// the rewrite would leave as it was (no occurrence of `from`) does not count.
#[derive(Debug, Clone)]
pub struct PayloadRewriter {
    select: Select,
    rewrite: Rewrite,
    remaining: Option<u64>,
    /// Data segments seen per flow, for [`Select::NthDataSegment`].
    counts: FlowTable<FlowKey, u64>,
    /// Segments changed.
    pub rewritten: u64,
}

impl PayloadRewriter {
    /// Default bound of the flow table ([`Select::NthDataSegment`]).
    pub const DEFAULT_MAX_FLOWS: usize = 65_536;

    /// # Panics
    ///
    /// On `NthDataSegment(0)`, an empty `Contains` pattern, a zero XOR mask, an empty
    /// `from` or `from` and `to` of different lengths: caller bugs.
    pub fn new(select: Select, rewrite: Rewrite) -> Self {
        match &select {
            Select::NthDataSegment(0) => panic!("PayloadRewriter: segments count from 1"),
            Select::Contains(p) if p.is_empty() => panic!("PayloadRewriter: empty pattern"),
            _ => {}
        }
        match &rewrite {
            Rewrite::Xor { mask: 0, .. } => panic!("PayloadRewriter: XOR with 0 changes nothing"),
            Rewrite::Replace { from, to } => assert!(
                !from.is_empty() && from.len() == to.len(),
                "PayloadRewriter: replace a non-empty pattern with one of the same length"
            ),
            Rewrite::Xor { .. } => {}
        }
        PayloadRewriter {
            select,
            rewrite,
            remaining: None,
            counts: FlowTable::new(Self::DEFAULT_MAX_FLOWS),
            rewritten: 0,
        }
    }

    /// Changes at most `n` segments, then lets everything through.
    pub fn times(mut self, n: u64) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Counts data segments of at most `n` flows (at least 1).
    pub fn with_max_flows(mut self, n: usize) -> Self {
        self.counts = FlowTable::new(n.max(1));
        self
    }

    fn selected(&mut self, tcp: &TcpInfo, payload: &[u8]) -> bool {
        match &self.select {
            Select::Every => true,
            Select::Contains(pattern) => find(payload, pattern, 0).is_some(),
            Select::NthDataSegment(n) => {
                let seen = self.counts.get_or_insert_with(tcp.flow(), || 0);
                *seen = seen.saturating_add(1);
                *seen == *n
            }
        }
    }

    /// Rewrites `payload` in place; returns whether anything changed.
    fn apply(&self, payload: &mut [u8]) -> bool {
        match &self.rewrite {
            Rewrite::Xor { offset, mask } => {
                let at = (*offset).min(payload.len() - 1);
                payload[at] ^= mask;
                true
            }
            Rewrite::Replace { from, to } => {
                let mut changed = false;
                let mut at = 0;
                while let Some(i) = find(payload, from, at) {
                    payload[i..i + from.len()].copy_from_slice(to);
                    changed |= from != to;
                    at = i + from.len();
                }
                changed
            }
        }
    }
}

/// The first occurrence of `pattern` in `haystack` at or after `from`.
fn find(haystack: &[u8], pattern: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(pattern.len())
        .position(|w| w == pattern)
        .map(|i| i + from)
}

impl Middlebox for PayloadRewriter {
    fn process(&mut self, _now: Instant, mut packet: Vec<u8>, out: &mut Vec<Vec<u8>>) {
        if let Some(tcp) = TcpInfo::parse(&packet).filter(|t| t.payload_len() > 0) {
            let range = tcp.payload_range();
            if self.selected(&tcp, &packet[range.clone()]) && self.remaining != Some(0) {
                // The payload starts at an even offset of the segment (the header is
                // whole 32-bit words), so its sum is the checksum's.
                let before = sum(&packet[range.clone()]);
                if self.apply(&mut packet[range.clone()]) {
                    let after = sum(&packet[range]);
                    let mut segment = TcpSegment::new_unchecked(&mut packet[tcp.range()]);
                    let checksum = adjust(segment.checksum(), before, after);
                    segment.set_checksum(checksum);
                    self.rewritten += 1;
                    if let Some(n) = &mut self.remaining {
                        *n -= 1;
                    }
                }
            }
        }
        out.push(packet);
    }
}
