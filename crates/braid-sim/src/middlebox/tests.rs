use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::cell::RefCell;
use std::rc::Rc;

use braid_proto::wire::{ip_protocol, IpRepr, TcpFlags, TcpRepr, TcpSegment};

use super::*;

/// Where the TCP segment of a packet lies in it.
fn tcp_range(packet: &[u8]) -> std::ops::Range<usize> {
    TcpInfo::parse(packet).expect("a TCP packet").range()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A Linux MPTCP SYN's option block: MSS, SACK-permitted, timestamps, NOP, window
/// scale, MP_CAPABLE (kind 30, 12 bytes).
fn syn_options() -> Vec<u8> {
    hex("020405b40402080a1c2d3e4f00000000010303071e0c0181a1b2c3d4e5f60718")
}

fn tcp_packet(src: IpAddr, dst: IpAddr, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq_number: 0x0102_0304,
        ack_number: 0,
        flags: TcpFlags::SYN,
        window: 64240,
        urgent_ptr: 0,
        options,
        payload,
    };
    let ip = IpRepr::new(src, dst, ip_protocol::TCP, tcp.buffer_len());
    let mut packet = vec![0; ip.total_len()];
    ip.emit(&mut packet);
    tcp.emit(&mut packet[ip.buffer_len()..], src, dst);
    packet
}

fn v4() -> (IpAddr, IpAddr) {
    (
        Ipv4Addr::new(10, 0, 1, 1).into(),
        Ipv4Addr::new(10, 0, 1, 2).into(),
    )
}

fn v6() -> (IpAddr, IpAddr) {
    (
        "2001:db8::1".parse::<Ipv6Addr>().unwrap().into(),
        "2001:db8::2".parse::<Ipv6Addr>().unwrap().into(),
    )
}

fn tcp_checksum_ok(packet: &[u8], src: IpAddr, dst: IpAddr) -> bool {
    let range = tcp_range(packet);
    TcpSegment::new_unchecked(&packet[range]).verify_checksum(src, dst)
}

fn run(m: &mut impl Middlebox, packet: Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    m.process(Instant::ZERO, packet, &mut out);
    out
}

#[test]
fn strips_the_mptcp_option_and_keeps_the_checksum_valid() {
    for (src, dst) in [v4(), v6()] {
        let packet = tcp_packet(src, dst, &syn_options(), b"");
        let mut strip = StripTcpOption::new(30);
        let out = run(&mut strip, packet.clone());
        assert_eq!(out.len(), 1);
        let stripped = &out[0];
        assert_eq!(stripped.len(), packet.len());
        let range = tcp_range(stripped);
        let seg = TcpSegment::new_unchecked(&stripped[range.clone()]);
        let mut expected = syn_options();
        expected[20..32].fill(1);
        assert_eq!(seg.options(), &expected[..]);
        assert!(tcp_checksum_ok(stripped, src, dst));
        // The incremental update gives what a full recomputation gives.
        let mut recomputed = stripped.clone();
        TcpSegment::new_unchecked(&mut recomputed[range]).fill_checksum(src, dst);
        assert_eq!(&recomputed, stripped);
        // Everything outside the option is untouched.
        let differing = packet.iter().zip(stripped).filter(|(a, b)| a != b).count();
        assert!(differing <= 12 + 2, "{differing} bytes changed");
        assert_eq!((strip.packets_stripped, strip.options_stripped), (1, 1));
    }
}

#[test]
fn strips_every_occurrence_and_works_with_payload_of_odd_length() {
    let (src, dst) = v4();
    // Two MPTCP options (a DSS with only a DATA_ACK, and an MP_PRIO) around a NOP.
    let options = hex("1e0820010000000a011e0350");
    let mut options = options;
    options.resize(12, 0);
    let packet = tcp_packet(src, dst, &options, b"hello");
    let mut strip = StripTcpOption::new(30);
    let out = run(&mut strip, packet);
    let seg_range = tcp_range(&out[0]);
    let seg = TcpSegment::new_unchecked(&out[0][seg_range]);
    assert_eq!(seg.options(), &[1u8; 12][..]);
    assert_eq!(seg.payload(), b"hello");
    assert!(tcp_checksum_ok(&out[0], src, dst));
    assert_eq!(strip.options_stripped, 2);
}

#[test]
fn leaves_other_packets_alone() {
    let (src, dst) = v4();
    let mut strip = StripTcpOption::new(30);
    // No option of that kind.
    let plain = tcp_packet(src, dst, &hex("020405b4"), b"");
    assert_eq!(run(&mut strip, plain.clone()), vec![plain]);
    // Not TCP.
    let ip = IpRepr::new(src, dst, ip_protocol::UDP, 8);
    let mut udp = vec![0; ip.total_len()];
    ip.emit(&mut udp);
    assert_eq!(run(&mut strip, udp.clone()), vec![udp]);
    // Not IP at all.
    assert_eq!(run(&mut strip, vec![0xff; 3]), vec![vec![0xff; 3]]);
    // Broken option framing ends the walk before the MPTCP option.
    let broken = tcp_packet(src, dst, &hex("0201001e0c0181a1b2c3d4e5f6071800"), b"");
    assert_eq!(run(&mut strip, broken.clone()), vec![broken]);
    assert_eq!(strip.packets_stripped, 0);
    // NOP and EOL are not strippable.
    let with_nops = tcp_packet(src, dst, &syn_options(), b"");
    assert_eq!(
        run(&mut StripTcpOption::new(1), with_nops.clone()),
        vec![with_nops]
    );
}

#[test]
fn a_wrong_checksum_stays_wrong() {
    let (src, dst) = v4();
    let mut packet = tcp_packet(src, dst, &syn_options(), b"");
    let range = tcp_range(&packet);
    packet[range.start + 16] ^= 0x5a;
    assert!(!tcp_checksum_ok(&packet, src, dst));
    let out = run(&mut StripTcpOption::new(30), packet);
    assert!(!tcp_checksum_ok(&out[0], src, dst));
}

/// Splits every packet in two halves (not valid IP; the chain does not care).
struct Split;

impl Middlebox for Split {
    fn process(&mut self, _now: Instant, packet: Vec<u8>, out: &mut Vec<Vec<u8>>) {
        let half = packet.len() / 2;
        out.push(packet[..half].to_vec());
        out.push(packet[half..].to_vec());
    }
}

/// Holds packets until `release_at`, then lets them all go.
struct HoldUntil {
    release_at: Instant,
    held: Vec<Vec<u8>>,
}

impl Middlebox for HoldUntil {
    fn process(&mut self, now: Instant, packet: Vec<u8>, out: &mut Vec<Vec<u8>>) {
        if now >= self.release_at {
            out.push(packet);
        } else {
            self.held.push(packet);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (!self.held.is_empty()).then_some(self.release_at)
    }

    fn handle_timeout(&mut self, _now: Instant, out: &mut Vec<Vec<u8>>) {
        out.append(&mut self.held);
    }
}

#[test]
fn chain_runs_stages_in_order_and_releases_held_packets_downstream() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let seen_by_tap = Rc::clone(&seen);
    let mut chain = Chain::new();
    chain.push(HoldUntil {
        release_at: Instant::from_millis(5),
        held: Vec::new(),
    });
    chain.push(Split);
    chain.push(DropIf::new(|_, p: &[u8]| p.first() == Some(&0xdd)));
    chain.push(Tap::new(move |now, p: &[u8]| {
        seen_by_tap.borrow_mut().push((now, p.to_vec()))
    }));
    assert_eq!(chain.len(), 4);

    let mut out = Vec::new();
    chain.process(Instant::ZERO, vec![1, 2, 0xdd, 4], &mut out);
    assert!(out.is_empty());
    assert_eq!(chain.poll_timeout(), Some(Instant::from_millis(5)));

    chain.handle_timeout(Instant::from_millis(5), &mut out);
    assert_eq!(out, vec![vec![1, 2]]);
    assert_eq!(chain.poll_timeout(), None);
    assert_eq!(
        *seen.borrow(),
        vec![(Instant::from_millis(5), vec![1u8, 2])]
    );
    let drop_if = chain
        .get::<DropIf<fn(Instant, &[u8]) -> bool>>(2)
        .map(|d| d.dropped);
    // A closure's type cannot be named; the stage is found by its own type only.
    assert_eq!(drop_if, None);
    assert!(chain.get::<Split>(1).is_some());
    assert!(chain.get::<Split>(0).is_none());

    out.clear();
    chain.process(Instant::from_millis(6), vec![0xdd, 0, 7, 8], &mut out);
    assert_eq!(out, vec![vec![7, 8]]);
}

mod coalesce;
mod nat;
mod payload;
mod seq;
mod sim;
mod split;
mod strip_mptcp;

/// A TCP segment to build test packets from: 40000 -> 80, ACK, seq 1000, ack 5000,
/// window 500, no options, no payload, until told otherwise.
#[derive(Debug, Clone)]
struct Seg {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    options: Vec<u8>,
    payload: Vec<u8>,
}

impl Seg {
    fn new((src, dst): (IpAddr, IpAddr)) -> Seg {
        Seg {
            src,
            dst,
            sport: 40000,
            dport: 80,
            seq: 1000,
            ack: 5000,
            flags: TcpFlags::ACK,
            window: 500,
            options: Vec::new(),
            payload: Vec::new(),
        }
    }

    fn flags(mut self, flags: TcpFlags) -> Seg {
        self.flags = flags;
        self
    }

    fn seq(mut self, seq: u32) -> Seg {
        self.seq = seq;
        self
    }

    fn ack(mut self, ack: u32) -> Seg {
        self.ack = ack;
        self
    }

    fn window(mut self, window: u16) -> Seg {
        self.window = window;
        self
    }

    fn ports(mut self, sport: u16, dport: u16) -> Seg {
        (self.sport, self.dport) = (sport, dport);
        self
    }

    fn options(mut self, options: &[u8]) -> Seg {
        self.options = options.to_vec();
        self
    }

    fn payload(mut self, payload: &[u8]) -> Seg {
        self.payload = payload.to_vec();
        self
    }

    /// The same 4-tuple the other way.
    fn reversed(mut self) -> Seg {
        (self.src, self.dst) = (self.dst, self.src);
        (self.sport, self.dport) = (self.dport, self.sport);
        self
    }

    fn packet(&self) -> Vec<u8> {
        let tcp = TcpRepr {
            src_port: self.sport,
            dst_port: self.dport,
            seq_number: self.seq,
            ack_number: self.ack,
            flags: self.flags,
            window: self.window,
            urgent_ptr: 0,
            options: &self.options,
            payload: &self.payload,
        };
        let ip = IpRepr::new(self.src, self.dst, ip_protocol::TCP, tcp.buffer_len());
        let mut packet = vec![0; ip.total_len()];
        ip.emit(&mut packet);
        tcp.emit(&mut packet[ip.buffer_len()..], self.src, self.dst);
        packet
    }
}

/// A packet read back as a [`Seg`], after checking that it is one whole IP packet
/// with a valid IPv4 header checksum (if IPv4) and a valid TCP checksum.
fn parse(packet: &[u8]) -> Seg {
    let (ip, upper) = IpRepr::parse(packet).expect("a valid IP packet");
    assert_eq!(ip.total_len(), packet.len(), "IP length");
    let check = braid_proto::wire::ChecksumCheck::Verify {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
    };
    let tcp = TcpRepr::parse(upper.payload, check).expect("a TCP segment, checksum valid");
    Seg {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        sport: tcp.src_port,
        dport: tcp.dst_port,
        seq: tcp.seq_number,
        ack: tcp.ack_number,
        flags: tcp.flags,
        window: tcp.window,
        options: tcp.options.to_vec(),
        payload: tcp.payload.to_vec(),
    }
}

impl PartialEq for Seg {
    fn eq(&self, other: &Seg) -> bool {
        self.packet() == other.packet()
    }
}

/// An option block as a data segment of Linux MPTCP has it: NOP, NOP, timestamps, and
/// a DSS with a DATA_ACK and a mapping with checksum (20 bytes).
fn dss_options() -> Vec<u8> {
    hex("0101080a1c2d3e4f5a6b7c8d1e14200500000001000000640000000103e8abcd")
}

/// A UDP packet, and bytes that are not IP: what TCP middleboxes pass untouched.
fn not_tcp() -> Vec<Vec<u8>> {
    let (src, dst) = v4();
    let ip = IpRepr::new(src, dst, ip_protocol::UDP, 8);
    let mut udp = vec![0; ip.total_len()];
    ip.emit(&mut udp);
    vec![udp, vec![0xff; 3], Vec::new()]
}

/// Runs each packet through `m` at time zero, collecting what comes out.
fn run_all(m: &mut impl Middlebox, packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for p in packets {
        m.process(Instant::ZERO, p.clone(), &mut out);
    }
    out
}

/// Flips a bit of the TCP checksum field.
fn corrupt_checksum(packet: &mut [u8]) {
    let range = tcp_range(packet);
    packet[range.start + 16] ^= 0x10;
}
