//! Simple nodes for testing links and the simulator itself, independent of the TCP
//! engine: a constant-rate sender, a counting sink, an echo server and a ping-pong
//! client. They exchange UDP datagrams over IPv4 whose payload starts with a sequence
//! number and the virtual time the datagram was sent (see [`TestPacket`]), so a
//! receiver can measure one-way delay, loss, reordering and duplication exactly.

use core::net::{IpAddr, Ipv4Addr};
use std::collections::{BTreeSet, VecDeque};

use braid_proto::time::{Duration, Instant};
use braid_proto::wire::{ip_protocol, Checksum, IpRepr, Ipv4Repr};

use crate::metrics::Counter;
use crate::node::Node;

/// UDP header length.
const UDP_HEADER_LEN: usize = 8;

/// IPv4 header, UDP header, sequence number and send time: the smallest test packet.
pub const TEST_HEADER_LEN: usize = 20 + UDP_HEADER_LEN + 16;

/// Addresses and ports of a test flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
}

impl Flow {
    /// 10.0.0.1:5000 -> 10.0.0.2:9 (discard).
    pub fn example() -> Self {
        Flow {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            src_port: 5000,
            dst_port: 9,
        }
    }
}

/// A test datagram, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestPacket {
    pub flow: Flow,
    pub seq: u64,
    pub sent_at: Instant,
    /// The whole IP packet's length.
    pub len: usize,
}

impl TestPacket {
    /// Writes the packet into `buf` (replacing its contents), `len` bytes long (at least
    /// [`TEST_HEADER_LEN`]), zero-padded, with valid IPv4 and UDP checksums. The IPv4
    /// identification is the low 16 bits of `seq`, which makes captures easy to read.
    pub fn write(&self, buf: &mut Vec<u8>) {
        let len = self.len.max(TEST_HEADER_LEN);
        buf.clear();
        buf.resize(len, 0);
        let mut ip = Ipv4Repr::new(self.flow.src, self.flow.dst, ip_protocol::UDP, len - 20);
        ip.identification = self.seq as u16;
        ip.emit(buf);
        let udp = &mut buf[20..];
        let udp_len = udp.len() as u16;
        udp[0..2].copy_from_slice(&self.flow.src_port.to_be_bytes());
        udp[2..4].copy_from_slice(&self.flow.dst_port.to_be_bytes());
        udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
        udp[8..16].copy_from_slice(&self.seq.to_be_bytes());
        udp[16..24].copy_from_slice(&self.sent_at.as_micros().to_be_bytes());
        let sum =
            Checksum::ipv4_pseudo_header(self.flow.src, self.flow.dst, ip_protocol::UDP, udp_len)
                .add_bytes(udp)
                .finish();
        // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
        let sum = if sum == 0 { 0xffff } else { sum };
        udp[6..8].copy_from_slice(&sum.to_be_bytes());
    }

    /// Reads a test packet; `None` if `packet` is not an IPv4 UDP datagram long enough.
    pub fn parse(packet: &[u8]) -> Option<TestPacket> {
        let (ip, upper) = IpRepr::parse(packet).ok()?;
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (ip.src_addr(), ip.dst_addr()) else {
            return None;
        };
        let udp = upper.payload;
        if upper.protocol != ip_protocol::UDP || upper.fragment || udp.len() < UDP_HEADER_LEN + 16 {
            return None;
        }
        let u16_at = |i: usize| u16::from_be_bytes([udp[i], udp[i + 1]]);
        let u64_at = |i: usize| u64::from_be_bytes(udp[i..i + 8].try_into().expect("8 bytes"));
        Some(TestPacket {
            flow: Flow {
                src,
                dst,
                src_port: u16_at(0),
                dst_port: u16_at(2),
            },
            seq: u64_at(8),
            sent_at: Instant::from_micros(u64_at(16)),
            len: packet.len(),
        })
    }
}

/// Sends test packets of a fixed size at a fixed interval on one interface, from a
/// start time, until a count or a stop time is reached (or forever).
#[derive(Debug, Clone)]
pub struct ConstantRateSender {
    iface: usize,
    flow: Flow,
    packet_len: usize,
    interval: Duration,
    next_at: Instant,
    remaining: Option<u64>,
    stop_at: Option<Instant>,
    next_seq: u64,
    /// What was sent so far.
    pub sent: Counter,
}

impl ConstantRateSender {
    /// One packet of `packet_len` bytes every `interval`, from time zero, forever.
    pub fn new(iface: usize, flow: Flow, packet_len: usize, interval: Duration) -> Self {
        ConstantRateSender {
            iface,
            flow,
            packet_len: packet_len.max(TEST_HEADER_LEN),
            interval: interval.max(Duration::from_micros(1)),
            next_at: Instant::ZERO,
            remaining: None,
            stop_at: None,
            next_seq: 0,
            sent: Counter::default(),
        }
    }

    /// Paced to `bits_per_sec` of IP packets (the interval is rounded down to whole
    /// microseconds, so the rate is at least that).
    pub fn with_rate(iface: usize, flow: Flow, packet_len: usize, bits_per_sec: u64) -> Self {
        let micros = (packet_len as u128 * 8 * 1_000_000 / u128::from(bits_per_sec.max(1))) as u64;
        Self::new(iface, flow, packet_len, Duration::from_micros(micros))
    }

    /// First packet at `at`.
    pub fn start_at(mut self, at: Instant) -> Self {
        self.next_at = at;
        self
    }

    /// Stop after `n` packets.
    pub fn count(mut self, n: u64) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Send nothing at or after `at`.
    pub fn stop_at(mut self, at: Instant) -> Self {
        self.stop_at = Some(at);
        self
    }

    fn active(&self) -> bool {
        self.remaining != Some(0) && self.stop_at.is_none_or(|s| self.next_at < s)
    }
}

impl Node for ConstantRateSender {
    fn handle_packet(&mut self, _now: Instant, _iface: usize, _packet: &[u8]) {}

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<usize> {
        if !self.active() || now < self.next_at {
            return None;
        }
        TestPacket {
            flow: self.flow,
            seq: self.next_seq,
            sent_at: now,
            len: self.packet_len,
        }
        .write(buf);
        self.next_seq += 1;
        self.next_at += self.interval;
        if let Some(r) = &mut self.remaining {
            *r -= 1;
        }
        self.sent.add(buf.len());
        Some(self.iface)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.active().then_some(self.next_at)
    }

    fn handle_timeout(&mut self, _now: Instant) {}
}

/// One arrival, as a [`CountingSink`] records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    pub at: Instant,
    pub iface: usize,
    pub seq: u64,
    pub len: usize,
}

/// Counts what arrives; for test packets (of one flow) also duplicates, reordering and
/// one-way delay. Optionally keeps every arrival.
#[derive(Debug, Clone, Default)]
pub struct CountingSink {
    /// Every packet received.
    pub received: Counter,
    /// Packets that were not test packets.
    pub other: u64,
    /// Test packets whose sequence number had been seen before.
    pub duplicates: u64,
    /// Test packets that arrived after one with a higher sequence number.
    pub reordered: u64,
    pub first_arrival: Option<Instant>,
    pub last_arrival: Option<Instant>,
    pub min_delay: Option<Duration>,
    pub max_delay: Option<Duration>,
    highest: Option<u64>,
    seen: BTreeSet<u64>,
    arrivals: Option<Vec<Arrival>>,
}

impl CountingSink {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps a record of every test packet's arrival.
    pub fn recording() -> Self {
        CountingSink {
            arrivals: Some(Vec::new()),
            ..Self::default()
        }
    }

    /// The arrivals kept by a [`CountingSink::recording`] sink.
    pub fn arrivals(&self) -> &[Arrival] {
        self.arrivals.as_deref().unwrap_or(&[])
    }

    /// Distinct test packets received.
    pub fn unique(&self) -> u64 {
        self.seen.len() as u64
    }
}

impl Node for CountingSink {
    fn handle_packet(&mut self, now: Instant, iface: usize, packet: &[u8]) {
        self.received.add(packet.len());
        self.first_arrival.get_or_insert(now);
        self.last_arrival = Some(now);
        let Some(t) = TestPacket::parse(packet) else {
            self.other += 1;
            return;
        };
        if !self.seen.insert(t.seq) {
            self.duplicates += 1;
        }
        match self.highest {
            Some(h) if t.seq < h => self.reordered += 1,
            _ => self.highest = Some(t.seq),
        }
        let delay = now - t.sent_at;
        self.min_delay = Some(self.min_delay.map_or(delay, |d| d.min(delay)));
        self.max_delay = Some(self.max_delay.map_or(delay, |d| d.max(delay)));
        if let Some(a) = &mut self.arrivals {
            a.push(Arrival {
                at: now,
                iface,
                seq: t.seq,
                len: packet.len(),
            });
        }
    }

    fn poll_transmit(&mut self, _now: Instant, _buf: &mut Vec<u8>) -> Option<usize> {
        None
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _now: Instant) {}
}

/// Sends every UDP datagram (IPv4 or IPv6) back where it came from, at once, on the
/// interface it arrived on: addresses and ports swapped, which changes no checksum.
#[derive(Debug, Clone, Default)]
pub struct Echo {
    pending: VecDeque<(usize, Vec<u8>)>,
    /// Datagrams echoed.
    pub echoed: Counter,
    /// Packets ignored (not UDP).
    pub ignored: u64,
}

impl Echo {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Node for Echo {
    fn handle_packet(&mut self, _now: Instant, iface: usize, packet: &[u8]) {
        let Ok((ip, upper)) = IpRepr::parse(packet) else {
            self.ignored += 1;
            return;
        };
        if upper.protocol != ip_protocol::UDP || upper.fragment || upper.payload.len() < 4 {
            self.ignored += 1;
            return;
        }
        let mut reply = packet.to_vec();
        let (addr_at, addr_len) = match ip {
            IpRepr::Ipv4(_) => (12, 4),
            IpRepr::Ipv6(_) => (8, 16),
        };
        let (src, dst) = reply[addr_at..addr_at + 2 * addr_len].split_at_mut(addr_len);
        src.swap_with_slice(dst);
        let udp_at = upper.payload.as_ptr() as usize - packet.as_ptr() as usize;
        let (sport, dport) = reply[udp_at..udp_at + 4].split_at_mut(2);
        sport.swap_with_slice(dport);
        self.echoed.add(reply.len());
        self.pending.push_back((iface, reply));
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<usize> {
        let (iface, reply) = self.pending.pop_front()?;
        buf.extend_from_slice(&reply);
        Some(iface)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _now: Instant) {}
}

/// Ping-pong: sends a test packet, waits for its echo (see [`Echo`]), records the
/// round-trip time and sends the next at once; after `timeout` without an answer the
/// ping counts as lost and the next goes out.
#[derive(Debug, Clone)]
pub struct PingPong {
    iface: usize,
    flow: Flow,
    len: usize,
    count: u64,
    timeout: Duration,
    next_seq: u64,
    next_send: Option<Instant>,
    outstanding: Option<(u64, Instant)>,
    /// Sequence number and round-trip time of each answered ping.
    pub rtts: Vec<(u64, Duration)>,
    /// Pings that went unanswered within the timeout.
    pub lost: u64,
}

impl PingPong {
    /// `count` pings of `len` bytes, the first at time zero.
    pub fn new(iface: usize, flow: Flow, len: usize, count: u64, timeout: Duration) -> Self {
        PingPong {
            iface,
            flow,
            len,
            count,
            timeout,
            next_seq: 0,
            next_send: (count > 0).then_some(Instant::ZERO),
            outstanding: None,
            rtts: Vec::new(),
            lost: 0,
        }
    }

    /// Whether every ping was answered or given up on.
    pub fn done(&self) -> bool {
        self.next_send.is_none() && self.outstanding.is_none()
    }

    fn next_or_done(&mut self, now: Instant) {
        self.next_send = (self.next_seq < self.count).then_some(now);
    }
}

impl Node for PingPong {
    fn handle_packet(&mut self, now: Instant, _iface: usize, packet: &[u8]) {
        let Some(t) = TestPacket::parse(packet) else {
            return;
        };
        if self.outstanding.is_some_and(|(seq, _)| seq == t.seq) && t.flow.dst == self.flow.src {
            self.outstanding = None;
            self.rtts.push((t.seq, now - t.sent_at));
            self.next_or_done(now);
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<usize> {
        if self.outstanding.is_some() || self.next_send.is_none_or(|t| t > now) {
            return None;
        }
        TestPacket {
            flow: self.flow,
            seq: self.next_seq,
            sent_at: now,
            len: self.len,
        }
        .write(buf);
        self.outstanding = Some((self.next_seq, now));
        self.next_seq += 1;
        self.next_send = None;
        Some(self.iface)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        match self.outstanding {
            Some((_, sent)) => Some(sent + self.timeout),
            None => self.next_send,
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if let Some((_, sent)) = self.outstanding {
            if now >= sent + self.timeout {
                self.outstanding = None;
                self.lost += 1;
                self.next_or_done(now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_packets_round_trip_with_valid_checksums() {
        let t = TestPacket {
            flow: Flow::example(),
            seq: 0x1_0002,
            sent_at: Instant::from_micros(123_456),
            len: 100,
        };
        let mut buf = vec![0xee; 3];
        t.write(&mut buf);
        assert_eq!(buf.len(), 100);
        assert_eq!(TestPacket::parse(&buf), Some(t));
        // Identification is the low bits of the sequence number.
        assert_eq!(&buf[4..6], &[0, 2]);
        let udp = &buf[20..];
        let sum = Checksum::ipv4_pseudo_header(t.flow.src, t.flow.dst, ip_protocol::UDP, 80)
            .add_bytes(udp)
            .finish();
        assert_eq!(sum, 0);
        // Too small a length is raised to the minimum.
        TestPacket { len: 1, ..t }.write(&mut buf);
        assert_eq!(buf.len(), TEST_HEADER_LEN);
        assert_eq!(TestPacket::parse(&buf).unwrap().seq, t.seq);
    }

    #[test]
    fn echo_swaps_ends_and_keeps_checksums() {
        let t = TestPacket {
            flow: Flow::example(),
            seq: 9,
            sent_at: Instant::ZERO,
            len: 60,
        };
        let mut buf = Vec::new();
        t.write(&mut buf);
        let mut echo = Echo::new();
        echo.handle_packet(Instant::ZERO, 3, &buf);
        let mut out = Vec::new();
        assert_eq!(echo.poll_transmit(Instant::ZERO, &mut out), Some(3));
        let back = TestPacket::parse(&out).expect("valid IPv4 header checksum");
        assert_eq!(back.flow.src, t.flow.dst);
        assert_eq!(back.flow.dst_port, t.flow.src_port);
        let sum = Checksum::ipv4_pseudo_header(back.flow.src, back.flow.dst, ip_protocol::UDP, 40)
            .add_bytes(&out[20..])
            .finish();
        assert_eq!(sum, 0);
        echo.handle_packet(Instant::ZERO, 0, &[1, 2, 3]);
        assert_eq!(echo.ignored, 1);
    }
}
