//! Merging consecutive data segments, as a coalescing middlebox (or a careless GRO)
//! does.

use std::collections::BTreeMap;

use braid_proto::time::{Duration, Instant};
use braid_proto::wire::{TcpFlags, TcpSegment};

use super::packet::{fix_ip_length, FlowKey, TcpInfo};
use super::Middlebox;

/// Merges consecutive in-sequence data segments of a flow into one segment of at most
/// `max_payload` bytes of payload, keeping the TCP options of the FIRST segment.
///
/// This is what breaks MPTCP's DSS mappings (RFC 8684 §3.3.1, §3.7): the receiver sees
/// one segment whose DSS option maps only the first segment's bytes, followed by
/// bytes no mapping covers; with DSS checksums the mismatch is detected.
///
/// Which segments merge. A *data segment* has payload, a correct TCP checksum and the
/// flags ACK, or ACK and PSH, nothing else (no SYN, FIN, RST, URG, ECE, CWR). A data
/// segment without PSH and under the limit is held. The next segment of the same flow
/// (one direction of a 4-tuple) is appended to it if it is a data segment whose
/// sequence number is where the held payload ends and the sum stays within the limit;
/// the merged segment takes its acknowledgment number and window (the latest) and, if
/// it has PSH, its PSH. Everything else is unchanged from the first segment: IP header,
/// sequence number, options, timestamps included.
///
/// When held data leaves. At once when a PSH segment is appended or the limit is
/// reached; before any other packet of the same flow (so a flow's packets keep their
/// order); `hold` after the first of them arrived ([`Middlebox::poll_timeout`]), so
/// nothing is held forever; and when a new flow needs room beyond
/// [`SegmentCoalescer::with_max_flows`] (the one due first leaves). Packets of other
/// flows are not held back by a flow's held data.
///
/// A merged segment gets new IP lengths and a new TCP checksum. It is larger than
/// what was sent: the link's MTU still applies to it.
#[derive(Debug, Clone)]
pub struct SegmentCoalescer {
    max_payload: usize,
    hold: Duration,
    max_flows: usize,
    held: BTreeMap<FlowKey, Held>,
    /// Segments appended to an earlier one (so no longer on the wire on their own).
    pub segments_absorbed: u64,
    /// Merged segments sent (each made of at least two).
    pub merged_sent: u64,
}

#[derive(Debug, Clone)]
struct Held {
    /// The first segment's packet, with the payload of the others appended.
    packet: Vec<u8>,
    /// The first segment.
    first: TcpInfo,
    /// Sequence number just after the held payload.
    next_seq: u32,
    segments: u64,
    deadline: Instant,
}

impl Held {
    fn payload_len(&self) -> usize {
        self.packet.len() - self.first.start - self.first.header_len
    }
}

impl SegmentCoalescer {
    /// Default bound on the flows with a segment held at once.
    pub const DEFAULT_MAX_FLOWS: usize = 1024;

    /// # Panics
    ///
    /// If `max_payload` is 0 or over 65,000 bytes (an IP packet holds 65,535): a
    /// caller bug.
    pub fn new(max_payload: usize, hold: Duration) -> Self {
        assert!(
            (1..=65_000).contains(&max_payload),
            "SegmentCoalescer: max_payload must be 1 to 65000 bytes"
        );
        SegmentCoalescer {
            max_payload,
            hold,
            max_flows: Self::DEFAULT_MAX_FLOWS,
            held: BTreeMap::new(),
            segments_absorbed: 0,
            merged_sent: 0,
        }
    }

    /// Holds segments of at most `n` flows at once (at least 1).
    pub fn with_max_flows(mut self, n: usize) -> Self {
        self.max_flows = n.max(1);
        self
    }

    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    pub fn hold(&self) -> Duration {
        self.hold
    }

    /// Flows with a segment held now.
    pub fn flows_held(&self) -> usize {
        self.held.len()
    }

    fn is_data(tcp: &TcpInfo, packet: &[u8]) -> bool {
        let flags = tcp.flags;
        (flags == TcpFlags::ACK || flags == TcpFlags::ACK | TcpFlags::PSH)
            && tcp.payload_len() > 0
            && tcp.checksum_valid(packet)
    }

    /// Sends what `flow` holds.
    fn release(&mut self, flow: &FlowKey, out: &mut Vec<Vec<u8>>) {
        let Some(mut held) = self.held.remove(flow) else {
            return;
        };
        if held.segments > 1 {
            let first = held.first;
            fix_ip_length(&mut held.packet, first.version);
            TcpSegment::new_unchecked(&mut held.packet[first.start..])
                .fill_checksum(first.src, first.dst);
            self.merged_sent += 1;
        }
        out.push(held.packet);
    }
}

impl Middlebox for SegmentCoalescer {
    fn process(&mut self, now: Instant, packet: Vec<u8>, out: &mut Vec<Vec<u8>>) {
        let Some(tcp) = TcpInfo::parse(&packet) else {
            out.push(packet);
            return;
        };
        let flow = tcp.flow();
        let data = Self::is_data(&tcp, &packet);
        let len = tcp.payload_len();
        if let Some(held) = self.held.get_mut(&flow) {
            let fits = held.payload_len() + len <= self.max_payload
                && held.packet.len() + len <= usize::from(u16::MAX);
            if data && tcp.seq == held.next_seq && fits {
                let new = TcpSegment::new_unchecked(&packet[tcp.range()]);
                let window = new.window();
                held.packet.extend_from_slice(new.payload());
                let mut merged = TcpSegment::new_unchecked(&mut held.packet[held.first.start..]);
                merged.set_ack_number(tcp.ack);
                merged.set_window(window);
                if tcp.flags.psh() {
                    merged.set_flags(held.first.flags | TcpFlags::PSH);
                }
                held.next_seq = held.next_seq.wrapping_add(len as u32);
                held.segments += 1;
                self.segments_absorbed += 1;
                if tcp.flags.psh() || held.payload_len() == self.max_payload {
                    self.release(&flow, out);
                }
                return;
            }
            self.release(&flow, out);
        }
        if data && !tcp.flags.psh() && len < self.max_payload {
            if self.held.len() >= self.max_flows {
                let due = self
                    .held
                    .iter()
                    .min_by_key(|(flow, held)| (held.deadline, **flow))
                    .map(|(flow, _)| *flow);
                if let Some(due) = due {
                    self.release(&due, out);
                }
            }
            self.held.insert(
                flow,
                Held {
                    packet,
                    first: tcp,
                    next_seq: tcp.seq.wrapping_add(len as u32),
                    segments: 1,
                    deadline: now + self.hold,
                },
            );
            return;
        }
        out.push(packet);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.held.values().map(|h| h.deadline).min()
    }

    fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        let mut due: Vec<(Instant, FlowKey)> = self
            .held
            .iter()
            .filter(|(_, h)| h.deadline <= now)
            .map(|(flow, h)| (h.deadline, *flow))
            .collect();
        // The longest held first; ties in flow order.
        due.sort_unstable();
        for (_, flow) in &due {
            self.release(flow, out);
        }
    }
}
