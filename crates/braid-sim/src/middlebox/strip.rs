//! Stripping the MPTCP option from chosen segments: the middleboxes of RFC 8684 §3.7.

use braid_proto::time::Instant;
use braid_proto::wire::tcp_option::kind::MPTCP;

use super::packet::{strip_option, FlowKey, FlowTable, TcpInfo};
use super::Middlebox;

/// Which segments [`StripMptcp`] strips option 30 from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// SYNs without ACK: the initiator's MP_CAPABLE or MP_JOIN. RFC 8684 §3.7: the
    /// connection (or subflow) falls back to, or stays, plain TCP.
    Syn,
    /// SYN-ACKs: the listener's answer.
    SynAck,
    /// The third ACK of each handshake: the first segment without SYN (and without
    /// RST) that the sender of a SYN sends on that 4-tuple after it. Only connections
    /// whose SYN crossed this stage are tracked; RFC 8684 §3.1 has the initiator repeat
    /// MP_CAPABLE on its first data segment, which is left alone.
    ThirdAck,
    /// Every segment of a flow (one direction of a 4-tuple) from its `n`-th data
    /// segment (a segment with payload, retransmissions counted; `n` from 1) on, data
    /// or not: options vanish mid-stream (RFC 8684 §3.7, e.g. after a route change).
    FromDataSegment(u64),
    /// Every segment.
    All,
}

/// Removes the MPTCP option (kind 30) from the segments [`Which`] selects, like
/// [`super::StripTcpOption`] (the bytes become NOPs, the checksum is updated
/// incrementally) but selectively.
///
/// State, for [`Which::ThirdAck`] and [`Which::FromDataSegment`], is per flow and
/// bounded ([`StripMptcp::with_max_flows`]): a forgotten flow starts again as new (a
/// mid-stream stripper would then let options through again).
///
/// ```
/// # use braid_sim::middlebox::{StripMptcp, Which};
/// let strip_syns = StripMptcp::new(Which::Syn);
/// let mid_stream = StripMptcp::new(Which::FromDataSegment(100));
/// # let _ = (strip_syns, mid_stream);
/// ```
#[derive(Debug, Clone)]
pub struct StripMptcp {
    which: Which,
    /// Per flow: data segments seen ([`Which::FromDataSegment`]), or a SYN seen and
    /// the third ACK still to come ([`Which::ThirdAck`], value unused).
    flows: FlowTable<FlowKey, u64>,
    /// Segments in which at least one option was stripped.
    pub packets_stripped: u64,
    /// Options stripped.
    pub options_stripped: u64,
}

impl StripMptcp {
    /// Default bound of the flow table.
    pub const DEFAULT_MAX_FLOWS: usize = 65_536;

    /// # Panics
    ///
    /// On `Which::FromDataSegment(0)` (segments count from 1): a caller bug.
    pub fn new(which: Which) -> Self {
        assert!(
            which != Which::FromDataSegment(0),
            "StripMptcp: data segments count from 1"
        );
        StripMptcp {
            which,
            flows: FlowTable::new(Self::DEFAULT_MAX_FLOWS),
            packets_stripped: 0,
            options_stripped: 0,
        }
    }

    /// Keeps state for at most `n` flows (at least 1).
    pub fn with_max_flows(mut self, n: usize) -> Self {
        self.flows = FlowTable::new(n.max(1));
        self
    }

    pub fn which(&self) -> Which {
        self.which
    }

    /// Flows forgotten to make room.
    pub fn flows_evicted(&self) -> u64 {
        self.flows.evicted
    }

    /// Whether the segment is one to strip; updates the flow state.
    fn select(&mut self, tcp: &TcpInfo) -> bool {
        let (syn, ack, rst) = (tcp.flags.syn(), tcp.flags.ack(), tcp.flags.rst());
        match self.which {
            Which::All => true,
            Which::Syn => syn && !ack,
            Which::SynAck => syn && ack,
            Which::ThirdAck => {
                let flow = tcp.flow();
                if syn {
                    if !ack {
                        self.flows.insert(flow, 0);
                    }
                    false
                } else if self.flows.remove(&flow).is_some() {
                    !rst
                } else {
                    false
                }
            }
            Which::FromDataSegment(n) => {
                let flow = tcp.flow();
                if tcp.payload_len() > 0 {
                    let seen = self.flows.get_or_insert_with(flow, || 0);
                    *seen = seen.saturating_add(1);
                    *seen >= n
                } else {
                    self.flows.get_mut(&flow).is_some_and(|seen| *seen >= n)
                }
            }
        }
    }
}

impl Middlebox for StripMptcp {
    fn process(&mut self, _now: Instant, mut packet: Vec<u8>, out: &mut Vec<Vec<u8>>) {
        if let Some(tcp) = TcpInfo::parse(&packet) {
            if self.select(&tcp) {
                let n = strip_option(&mut packet, &tcp, MPTCP);
                if n > 0 {
                    self.packets_stripped += 1;
                    self.options_stripped += n as u64;
                }
            }
        }
        out.push(packet);
    }
}
