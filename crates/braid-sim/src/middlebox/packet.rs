//! What the TCP middleboxes share: where a packet's TCP segment lies and its fields,
//! flows, a bounded flow table, and checksum arithmetic.
//!
//! Every middlebox here edits packets in place where it can, and fixes checksums
//! incrementally (RFC 1624) when it does: a correct checksum stays correct and a wrong
//! one stays wrong, as in a real middlebox that never verifies. The two that build new
//! segments (the splitter and the coalescer) only touch segments whose checksum they
//! have verified, and compute the new checksums in full.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use braid_proto::wire::{
    ip_protocol, Checksum, ChecksumStatus, IpRepr, Ipv4Packet, Ipv6Packet, TcpFlags, TcpSegment,
    IPV6_HEADER_LEN, TCP_MIN_HEADER_LEN,
};

/// Offset of the checksum field in the TCP header.
const TCP_CHECKSUM: Range<usize> = 16..18;

/// One direction of a TCP 4-tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct FlowKey {
    pub src: SocketAddr,
    pub dst: SocketAddr,
}

impl FlowKey {
    /// The other direction of the same 4-tuple.
    pub fn reversed(self) -> FlowKey {
        FlowKey {
            src: self.dst,
            dst: self.src,
        }
    }
}

/// The TCP segment of an unfragmented IP packet (IPv4, or IPv6 after its extension
/// headers), with the header fields the middleboxes look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TcpInfo {
    /// 4 or 6.
    pub version: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Where the segment (header and payload) lies in the packet.
    pub start: usize,
    pub end: usize,
    /// TCP header length, options included.
    pub header_len: usize,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
}

impl TcpInfo {
    /// `None` for what is not TCP, an IP fragment, or does not parse (IPv4 header
    /// checksum included): the middleboxes pass such packets untouched.
    pub fn parse(packet: &[u8]) -> Option<TcpInfo> {
        let (ip, upper) = IpRepr::parse(packet).ok()?;
        if upper.protocol != ip_protocol::TCP
            || upper.fragment
            || upper.payload.len() < TCP_MIN_HEADER_LEN
        {
            return None;
        }
        // `payload` borrows from `packet`: its offset is the distance between the two.
        let start = upper.payload.as_ptr() as usize - packet.as_ptr() as usize;
        let segment = TcpSegment::new_checked(upper.payload).ok()?;
        Some(TcpInfo {
            version: ip.version(),
            src: ip.src_addr(),
            dst: ip.dst_addr(),
            start,
            end: start + upper.payload.len(),
            header_len: segment.header_len(),
            src_port: segment.src_port(),
            dst_port: segment.dst_port(),
            seq: segment.seq_number(),
            ack: segment.ack_number(),
            flags: segment.flags(),
        })
    }

    pub fn flow(&self) -> FlowKey {
        FlowKey {
            src: SocketAddr::new(self.src, self.src_port),
            dst: SocketAddr::new(self.dst, self.dst_port),
        }
    }

    /// The segment, header and payload.
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    /// The payload.
    pub fn payload_range(&self) -> Range<usize> {
        self.start + self.header_len..self.end
    }

    pub fn payload_len(&self) -> usize {
        self.end - self.start - self.header_len
    }

    /// Whether the TCP checksum is correct (not merely partial).
    pub fn checksum_valid(&self, packet: &[u8]) -> bool {
        TcpSegment::new_unchecked(&packet[self.range()]).checksum_status(self.src, self.dst)
            == ChecksumStatus::Valid
    }
}

/// The folded one's complement sum of `bytes`, which must start at an even offset of
/// the checksummed data.
pub(crate) fn sum(bytes: &[u8]) -> u16 {
    Checksum::new().add_bytes(bytes).sum()
}

/// RFC 1624 eqn. 3: the checksum `checksum` after data that summed to `before` (16-bit
/// aligned) was replaced by data that sums to `after`: HC' = ~(~HC + ~m + m').
pub(crate) fn adjust(checksum: u16, before: u16, after: u16) -> u16 {
    Checksum::new()
        .add_u16(!checksum)
        .add_u16(!before)
        .add_u16(after)
        .finish()
}

/// The sum of the TCP header `segment[..header_len]` without its checksum field.
fn header_sum(segment: &[u8], header_len: usize) -> u16 {
    Checksum::new()
        .add_bytes(&segment[..TCP_CHECKSUM.start])
        .add_bytes(&segment[TCP_CHECKSUM.end..header_len])
        .sum()
}

/// Runs `edit` on the TCP header of `segment` (header and payload) and updates the
/// checksum incrementally for whatever it changed in the header (the checksum field
/// itself excepted). `edit` must not change the header length.
pub(crate) fn edit_tcp_header<R>(
    segment: &mut [u8],
    edit: impl FnOnce(&mut TcpSegment<&mut [u8]>) -> R,
) -> R {
    let header_len = TcpSegment::new_unchecked(&*segment).header_len();
    let before = header_sum(segment, header_len);
    let result = edit(&mut TcpSegment::new_unchecked(&mut *segment));
    debug_assert_eq!(
        TcpSegment::new_unchecked(&*segment).header_len(),
        header_len,
        "the header length changed"
    );
    let after = header_sum(segment, header_len);
    if before != after {
        let mut view = TcpSegment::new_unchecked(segment);
        let checksum = adjust(view.checksum(), before, after);
        view.set_checksum(checksum);
    }
    result
}

/// Sets the IP length fields of `packet` (IPv4 total length and header checksum, or
/// IPv6 payload length) to its length, after its TCP segment was resized.
pub(crate) fn fix_ip_length(packet: &mut [u8], version: u8) {
    let len = packet.len();
    if version == 4 {
        let mut ip = Ipv4Packet::new_unchecked(packet);
        ip.set_total_len(len as u16);
        ip.fill_checksum();
    } else {
        Ipv6Packet::new_unchecked(packet).set_payload_len((len - IPV6_HEADER_LEN) as u16);
    }
}

/// Overwrites each option of `kind` in an option block with NOPs, walking the block by
/// its framing alone (RFC 9293 §3.1: kind, length, a stop at EOL or broken framing);
/// returns how many.
pub(crate) fn nop_out(block: &mut [u8], kind: u8) -> usize {
    let mut stripped = 0;
    for_each_option(block, |k, option| {
        if k == kind {
            option.fill(NOP);
            stripped += 1;
        }
    });
    stripped
}

const EOL: u8 = 0;
const NOP: u8 = 1;

/// Calls `f(kind, option bytes)` for each option of the block other than NOP and EOL,
/// by framing alone; stops at EOL or broken framing.
pub(crate) fn for_each_option(block: &mut [u8], mut f: impl FnMut(u8, &mut [u8])) {
    let mut at = 0;
    while at < block.len() {
        match block[at] {
            EOL => break,
            NOP => at += 1,
            kind => {
                let Some(&len) = block.get(at + 1) else { break };
                let len = usize::from(len);
                if len < 2 || at + len > block.len() {
                    break;
                }
                f(kind, &mut block[at..at + len]);
                at += len;
            }
        }
    }
}

/// Strips every TCP option of `kind` from the packet, in place, fixing the checksum
/// incrementally; returns how many were removed. NOP and EOL are never stripped.
pub(crate) fn strip_option(packet: &mut [u8], tcp: &TcpInfo, kind: u8) -> usize {
    if kind <= NOP {
        return 0;
    }
    edit_tcp_header(&mut packet[tcp.range()], |segment| {
        nop_out(segment.options_mut(), kind)
    })
}

/// A table with at most `capacity` entries that forgets the least recently used one
/// to make room. Ordered maps throughout, so nothing depends on hashing.
#[derive(Clone)]
pub(crate) struct FlowTable<K, V> {
    entries: BTreeMap<K, (V, u64)>,
    /// Last use -> key, to find the least recently used entry.
    by_use: BTreeMap<u64, K>,
    clock: u64,
    capacity: usize,
    /// Entries forgotten to make room.
    pub evicted: u64,
}

impl<K, V> std::fmt::Debug for FlowTable<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowTable")
            .field("entries", &self.entries.len())
            .field("capacity", &self.capacity)
            .field("evicted", &self.evicted)
            .finish()
    }
}

impl<K: Ord + Copy, V> FlowTable<K, V> {
    /// # Panics
    ///
    /// If `capacity` is 0: a caller bug.
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "a flow table needs room for one entry");
        FlowTable {
            entries: BTreeMap::new(),
            by_use: BTreeMap::new(),
            clock: 0,
            capacity,
            evicted: 0,
        }
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(v, _)| v)
    }

    /// The entry, marked as used now.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let (value, used) = self.entries.get_mut(key)?;
        self.by_use.remove(used);
        self.clock += 1;
        *used = self.clock;
        self.by_use.insert(self.clock, *key);
        Some(value)
    }

    /// Inserts or replaces the entry, marked as used now; returns the entry forgotten
    /// to make room, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<(K, V)> {
        self.clock += 1;
        if let Some((_, used)) = self.entries.insert(key, (value, self.clock)) {
            self.by_use.remove(&used);
            self.by_use.insert(self.clock, key);
            return None;
        }
        self.by_use.insert(self.clock, key);
        if self.entries.len() <= self.capacity {
            return None;
        }
        let (_, oldest) = self.by_use.pop_first()?;
        let (value, _) = self.entries.remove(&oldest)?;
        self.evicted += 1;
        Some((oldest, value))
    }

    /// The entry, inserted with `make` if missing; marked as used now.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        if self.entries.contains_key(&key) {
            return self.get_mut(&key).expect("present");
        }
        self.insert(key, make());
        self.get_mut(&key).expect("just inserted")
    }

    /// Removes and returns the least recently used entry.
    pub fn pop_oldest(&mut self) -> Option<(K, V)> {
        let (_, key) = self.by_use.pop_first()?;
        let (value, _) = self.entries.remove(&key)?;
        self.evicted += 1;
        Some((key, value))
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let (value, used) = self.entries.remove(key)?;
        self.by_use.remove(&used);
        Some(value)
    }
}
