//! Cutting segments into smaller ones, as a resegmenting middlebox or TSO does.

use braid_proto::time::Instant;
use braid_proto::wire::{TcpFlags, TcpSegment};

use super::packet::{fix_ip_length, TcpInfo};
use super::Middlebox;

/// Splits every TCP segment with more than `max_payload` bytes of payload into
/// segments of `max_payload` bytes (the last one shorter), in order.
///
/// Each piece repeats the IP header (IPv6 extension headers included) and the TCP
/// header with all its options, so an MPTCP DSS mapping arrives once per piece, each
/// covering all of them (RFC 8684 §3.3.1 allows a mapping to span segments). Sequence
/// numbers advance by the bytes before each piece; FIN and PSH stay on the last piece
/// only; IP lengths and both checksums are computed for each piece.
///
/// Left whole: segments within the limit, SYNs (their sequence space starts with the
/// SYN), RSTs, segments with URG (the urgent pointer is relative to the sequence
/// number), and segments whose TCP checksum is wrong (a box that cannot verify them
/// cannot make right ones).
#[derive(Debug, Clone)]
pub struct SegmentSplitter {
    max_payload: usize,
    /// Segments split.
    pub segments_split: u64,
    /// Segments made by splitting.
    pub pieces: u64,
}

impl SegmentSplitter {
    /// # Panics
    ///
    /// If `max_payload` is 0: a caller bug.
    pub fn new(max_payload: usize) -> Self {
        assert!(
            max_payload > 0,
            "SegmentSplitter: max_payload must be at least 1"
        );
        SegmentSplitter {
            max_payload,
            segments_split: 0,
            pieces: 0,
        }
    }

    pub fn max_payload(&self) -> usize {
        self.max_payload
    }
}

impl Middlebox for SegmentSplitter {
    fn process(&mut self, _now: Instant, packet: Vec<u8>, out: &mut Vec<Vec<u8>>) {
        let Some(tcp) = TcpInfo::parse(&packet) else {
            out.push(packet);
            return;
        };
        let untouchable = TcpFlags::SYN | TcpFlags::RST | TcpFlags::URG;
        if tcp.payload_len() <= self.max_payload
            || tcp.flags.intersects(untouchable)
            || !tcp.checksum_valid(&packet)
        {
            out.push(packet);
            return;
        }
        let headers = &packet[..tcp.start + tcp.header_len];
        let payload = &packet[tcp.payload_range()];
        let count = payload.len().div_ceil(self.max_payload);
        for (i, chunk) in payload.chunks(self.max_payload).enumerate() {
            let mut piece = Vec::with_capacity(headers.len() + chunk.len());
            piece.extend_from_slice(headers);
            piece.extend_from_slice(chunk);
            fix_ip_length(&mut piece, tcp.version);
            let mut segment = TcpSegment::new_unchecked(&mut piece[tcp.start..]);
            let offset = (i * self.max_payload) as u32;
            segment.set_seq_number(tcp.seq.wrapping_add(offset));
            if i + 1 < count {
                segment.set_flags(tcp.flags.difference(TcpFlags::FIN | TcpFlags::PSH));
            }
            segment.fill_checksum(tcp.src, tcp.dst);
            out.push(piece);
        }
        self.segments_split += 1;
        self.pieces += count as u64;
    }
}
