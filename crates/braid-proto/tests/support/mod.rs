//! Two endpoints joined by a simple link on virtual time: the quinn-proto style of
//! test, for the engine alone. Richer networks are braid-sim's.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;

use braid_proto::endpoint::{ConnectionId, Endpoint, EndpointConfig, EndpointEvent};
use braid_proto::time::{Duration, Instant};

/// A packet in flight, due at `at`, to endpoint `to` (0 or 1).
struct InFlight {
    at: Instant,
    to: usize,
    packet: Vec<u8>,
}

/// Decides, per packet (direction, index, bytes), whether the link drops it.
pub type DropRule = Box<dyn FnMut(usize, u64, &[u8]) -> bool>;

/// Rewrites a packet (direction, index, bytes) on its way.
pub type MangleRule = Box<dyn FnMut(usize, u64, &mut [u8])>;

/// Two endpoints and a link with a one-way delay and an optional drop rule.
pub struct Pair {
    pub now: Instant,
    pub endpoints: [Endpoint; 2],
    pub delay: Duration,
    /// Bytes per second each way; 0 is unlimited.
    pub rate: u64,
    link_free: [Instant; 2],
    in_flight: VecDeque<InFlight>,
    /// Decides, per packet (direction, index), whether to drop it.
    pub drop: DropRule,
    /// Rewrites packets (direction, index, packet) before they leave: a middlebox.
    pub mangle: MangleRule,
    sent: [u64; 2],
    pub delivered: [u64; 2],
    pub events: [Vec<EndpointEvent>; 2],
    /// Wakes the loop at least this often even when nothing is due, for tests that
    /// change the network at given times while the endpoints wait on nothing.
    pub tick: Option<Duration>,
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

impl Pair {
    pub fn new(config: EndpointConfig, delay: Duration) -> Self {
        Self::with_configs(config.clone(), config, delay)
    }

    /// Endpoints with different settings: `client` is endpoint 0.
    pub fn with_configs(client: EndpointConfig, server: EndpointConfig, delay: Duration) -> Self {
        Pair {
            now: Instant::ZERO,
            endpoints: [Endpoint::new(client, 1), Endpoint::new(server, 2)],
            delay,
            rate: 0,
            link_free: [Instant::ZERO; 2],
            in_flight: VecDeque::new(),
            drop: Box::new(|_, _, _| false),
            mangle: Box::new(|_, _, _| {}),
            sent: [0; 2],
            delivered: [0; 2],
            events: [Vec::new(), Vec::new()],
            tick: None,
        }
    }

    /// Moves packets and time until nothing is due before `deadline`, or `stop`
    /// returns true. Bounded by the deadline.
    pub fn run_until(&mut self, deadline: Instant, mut stop: impl FnMut(&mut Pair) -> bool) {
        let mut buf = vec![0u8; 65536];
        loop {
            self.flush(&mut buf);
            if stop(self) {
                return;
            }
            // What the application did in `stop` may have produced packets.
            self.flush(&mut buf);
            let next_packet = self.in_flight.front().map(|p| p.at);
            let next_timer = self.endpoints.iter().filter_map(|e| e.poll_timeout()).min();
            let next_tick = self.tick.map(|t| self.now + t);
            let Some(next) = [next_packet, next_timer, next_tick]
                .into_iter()
                .flatten()
                .min()
            else {
                // Idle: time passes to the deadline.
                self.now = self.now.max(deadline);
                return;
            };
            if next > deadline {
                self.now = deadline;
                return;
            }
            self.now = self.now.max(next);
            if next_packet == Some(next) {
                let p = self.in_flight.pop_front().unwrap();
                self.delivered[p.to] += 1;
                self.endpoints[p.to].handle(self.now, &p.packet);
            } else {
                for e in &mut self.endpoints {
                    if e.poll_timeout().is_some_and(|t| t <= self.now) {
                        e.handle_timeout(self.now);
                    }
                }
            }
        }
    }

    /// Takes every packet and event both endpoints have ready.
    fn flush(&mut self, buf: &mut [u8]) {
        for from in 0..2 {
            while let Some(len) = self.endpoints[from].poll_transmit(self.now, buf) {
                let n = self.sent[from];
                self.sent[from] += 1;
                (self.mangle)(from, n, &mut buf[..len]);
                if (self.drop)(from, n, &buf[..len]) {
                    continue;
                }
                let start = self.link_free[from].max(self.now);
                let tx = Duration::from_micros(
                    (len as u64 * 1_000_000).checked_div(self.rate).unwrap_or(0),
                );
                self.link_free[from] = start + tx;
                let at = start + tx + self.delay;
                let pos = self
                    .in_flight
                    .iter()
                    .position(|p| p.at > at)
                    .unwrap_or(self.in_flight.len());
                self.in_flight.insert(
                    pos,
                    InFlight {
                        at,
                        to: 1 - from,
                        packet: buf[..len].to_vec(),
                    },
                );
            }
            while let Some(e) = self.endpoints[from].poll_event() {
                self.events[from].push(e);
            }
        }
    }

    pub fn accepted(&self) -> Option<ConnectionId> {
        self.events[1].iter().find_map(|e| match e {
            EndpointEvent::Accepted { connection, .. } => Some(*connection),
            _ => None,
        })
    }
}

/// The TCP header fields of a packet the endpoints sent: (seq, ack, flags, payload length).
pub fn tcp_fields(packet: &[u8]) -> (u32, u32, braid_proto::wire::TcpFlags, usize) {
    let (_, payload) = braid_proto::wire::IpRepr::parse(packet).expect("IP");
    let tcp =
        braid_proto::wire::TcpRepr::parse(payload.payload, braid_proto::wire::ChecksumCheck::Skip)
            .expect("TCP");
    (tcp.seq_number, tcp.ack_number, tcp.flags, tcp.payload.len())
}

/// A drop rule for the data of direction 0: drops, once each, the segments whose
/// first payload octet (counted from 0) falls in `range`.
pub fn drop_data_once(range: std::ops::Range<u64>) -> DropRule {
    let mut isn = None;
    let mut dropped = std::collections::BTreeSet::new();
    Box::new(move |dir, _, packet| {
        if dir != 0 {
            return false;
        }
        let (seq, _, flags, len) = tcp_fields(packet);
        if flags.syn() {
            isn = Some(seq);
            return false;
        }
        let Some(isn) = isn else { return false };
        if len == 0 {
            return false;
        }
        let offset = seq.wrapping_sub(isn).wrapping_sub(1) as u64;
        if range.contains(&offset) && dropped.insert(offset) {
            return true;
        }
        false
    })
}

/// A copy of `packet` (IP + TCP from the endpoints) with new seq, ack and flags, no
/// payload, and correct checksums.
pub fn forge(packet: &[u8], seq: u32, ack: u32, flags: braid_proto::wire::TcpFlags) -> Vec<u8> {
    use braid_proto::wire::{ip_protocol, ChecksumCheck, IpRepr, TcpRepr};
    let (ip, payload) = IpRepr::parse(packet).expect("IP");
    let tcp = TcpRepr::parse(payload.payload, ChecksumCheck::Skip).expect("TCP");
    let forged = TcpRepr {
        seq_number: seq,
        ack_number: ack,
        flags,
        payload: &[],
        ..tcp
    };
    let ip = IpRepr::new(
        ip.src_addr(),
        ip.dst_addr(),
        ip_protocol::TCP,
        forged.buffer_len(),
    );
    let mut out = vec![0u8; ip.buffer_len() + forged.buffer_len()];
    ip.emit(&mut out);
    let at = ip.buffer_len();
    forged.emit(&mut out[at..], ip.src_addr(), ip.dst_addr());
    out
}

/// Flips a payload byte of an IPv4 TCP segment and fixes the TCP checksum, as a
/// rewriting middlebox would: TCP accepts it, only a DSS checksum can tell. Returns
/// whether the segment had a payload.
pub fn corrupt_payload(packet: &mut [u8]) -> bool {
    use braid_proto::wire::TcpSegment;
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let src = std::net::IpAddr::from([packet[12], packet[13], packet[14], packet[15]]);
    let dst = std::net::IpAddr::from([packet[16], packet[17], packet[18], packet[19]]);
    let mut tcp = TcpSegment::new_unchecked(&mut packet[ihl..]);
    if tcp.payload_mut().is_empty() {
        return false;
    }
    tcp.payload_mut()[0] ^= 0xff;
    tcp.fill_checksum(src, dst);
    true
}

/// A segment to forge from a packet the endpoints sent: its addresses, with these
/// fields.
pub struct Forged<'a> {
    pub seq: u32,
    pub ack: u32,
    pub flags: braid_proto::wire::TcpFlags,
    pub options: Vec<braid_proto::wire::tcp_option::TcpOption<'a>>,
    /// A raw option block appended after `options` (for malformed options).
    pub raw_options: &'a [u8],
    pub payload: &'a [u8],
}

/// A segment with `template`'s addresses, ports and window, and `forged`'s fields;
/// checksums correct.
pub fn forge_segment(template: &[u8], forged: Forged<'_>) -> Vec<u8> {
    use braid_proto::wire::option_packer::pack_options;
    use braid_proto::wire::{ip_protocol, ChecksumCheck, IpRepr, TcpRepr};
    let (ip, payload) = IpRepr::parse(template).expect("IP");
    let tcp = TcpRepr::parse(payload.payload, ChecksumCheck::Skip).expect("TCP");
    let mut block = [0u8; 40];
    let packed = pack_options(&forged.options, 40, &mut block);
    assert!(packed.all_fitted(), "options fit");
    let mut options = block[..packed.len].to_vec();
    options.extend_from_slice(forged.raw_options);
    while options.len() % 4 != 0 {
        options.push(0);
    }
    let repr = TcpRepr {
        seq_number: forged.seq,
        ack_number: forged.ack,
        flags: forged.flags,
        options: &options,
        payload: forged.payload,
        ..tcp
    };
    let ip = IpRepr::new(
        ip.src_addr(),
        ip.dst_addr(),
        ip_protocol::TCP,
        repr.buffer_len(),
    );
    let mut out = vec![0u8; ip.buffer_len() + repr.buffer_len()];
    ip.emit(&mut out);
    let at = ip.buffer_len();
    repr.emit(&mut out[at..], ip.src_addr(), ip.dst_addr());
    out
}

/// The MPTCP options of a packet the endpoints sent.
pub fn mptcp_options_of(packet: &[u8]) -> Vec<braid_proto::wire::mptcp::MptcpOption<'_>> {
    use braid_proto::wire::{ChecksumCheck, IpRepr, TcpRepr};
    let Ok((_, payload)) = IpRepr::parse(packet) else {
        return Vec::new();
    };
    let Ok(tcp) = TcpRepr::parse(payload.payload, ChecksumCheck::Skip) else {
        return Vec::new();
    };
    braid_proto::wire::tcp_option::mptcp_options(tcp.options).collect()
}
