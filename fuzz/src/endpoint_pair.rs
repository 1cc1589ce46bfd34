//! The endpoint under fire: a live MPTCP client–server pair (two subflows established,
//! data flowing both ways) into which arbitrary segments are injected, at any time,
//! interleaved with the normal exchange.
//!
//! [`check_endpoint_pair`] reads a program from the fuzzer's bytes: network steps,
//! time jumps, application writes, closes and aborts, packets dropped, duplicated or
//! held back, address events, and above all injected segments, built as a peer or a
//! middlebox could send them: well-formed IPv4/TCP headers (checksums right, or now
//! and then wrong) around fuzzer-chosen flags, sequence and acknowledgment numbers
//! (near the connection's real ones, taken from what the endpoints sent, or
//! arbitrary), windows, option blocks (MSS, window scale, SACK, timestamps, unknown
//! kinds, and every MPTCP option built with braid-proto's wire types: MP_CAPABLE,
//! MP_JOIN, DSS with arbitrary or nearly right DATA_ACK, DSN, SSN and length,
//! ADD_ADDR, REMOVE_ADDR, MP_PRIO, MP_FAIL, MP_FASTCLOSE, MP_TCPRST, unknown
//! subtypes) and payload, on the pair's 4-tuples or others, to either endpoint.
//!
//! Oracles, after every step of the program:
//!
//! - nothing panics (the fuzzer and proptest see a panic);
//! - what each application read is a prefix of what its peer wrote (every byte
//!   checked against the writer's pattern at its offset, never more than written),
//!   unless injected data could legitimately have become part of the stream. TCP and
//!   MPTCP do not authenticate data: in-window payload is taken as the subflow's
//!   bytes (the first copy wins), and a plausible DSS mapping places them. So once a
//!   segment with payload or with a DSS mapping (or MP_CAPABLE with data) has been
//!   injected, the prefix check is off for the rest of the run. Injected payload is
//!   still made of the writer's own bytes under a DSS naming their offset ("honest")
//!   as often as of raw bytes, to reach the mapping code with plausible input;
//!   segments without payload or mapping (ACKs, DATA_ACKs, RSTs, FINs, signals)
//!   must never make a receiver deliver a wrong byte;
//! - memory is bounded: each endpoint's connections (listener backlogs included) and
//!   each connection's subflows, readable and queued bytes stay under the
//!   configured limits.
//!
//! With `BRAID_FUZZ_LIVENESS=1` a last oracle runs after the program: both
//! applications close, nothing more is injected, and after ten minutes of virtual
//! time every connection has ended or is in TIME-WAIT (a hang is a failure). It is
//! off by default because the current core fails it often (the soak,
//! `scripts/soak.sh`, measures that), which would keep the fuzzer from looking
//! further.
//!
//! `crates/braid-proto/tests/endpoint_never_panics.rs` runs the same program with
//! proptest in the normal test suite; `fuzz_targets/endpoint_pair.rs` with libFuzzer.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use braid_proto::endpoint::{ConnectionId, Endpoint, EndpointConfig, EndpointEvent};
use braid_proto::mptcp::Phase;
use braid_proto::pm::{EndpointFlags, PmEndpoint};
use braid_proto::time::{Duration, Instant};
use braid_proto::wire::mptcp::{
    AddAddr, AddrIdList, Dss, DssMapping, MpCapable, MpCapableFlags, MpCapableVariant, MpFail,
    MpFastclose, MpJoin, MpPrio, MpTcpRst, MpTcpRstFlags, MpTcpRstReason, MptcpOption, RemoveAddr,
    SeqField, JOIN_ACK_HMAC_LEN,
};
use braid_proto::wire::tcp_option::{SackBlock, SackBlocks, TcpOption};
use braid_proto::wire::{
    ip_protocol, ChecksumCheck, IpRepr, TcpFlags, TcpRepr, TCP_MAX_OPTIONS_LEN,
};

/// With `BRAID_FUZZ_TRACE` set, the program prints what it does (to replay a
/// finding: see the ignored test `replay` in
/// `crates/braid-proto/tests/endpoint_never_panics.rs`).
macro_rules! trace {
    ($($arg:tt)*) => {
        if std::env::var_os("BRAID_FUZZ_TRACE").is_some() {
            eprintln!($($arg)*);
        }
    };
}

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The client's second address: a `subflow` endpoint, so a second subflow joins.
const CLIENT_2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 5001;
const ONE_WAY: Duration = Duration::from_millis(5);
/// Bounds of the program, so that one input stays fast.
const MAX_OPS: usize = 200;
const MAX_STEPS_PER_OP: usize = 2_000;
/// Connections per endpoint the limits allow: the pair's, plus the listener's
/// half-open and unaccepted backlogs that injected SYNs may fill.
const SYN_BACKLOG: usize = 8;
const ACCEPT_BACKLOG: usize = 8;
const MAX_CONNECTIONS: usize = 32;

/// The fuzzer's bytes, read front to back; zeros once they run out.
struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((&b, rest)) => {
                self.bytes = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        (u64::from(self.u32()) << 32) | u64::from(self.u32())
    }

    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A small signed offset, mostly within a few segments.
    fn delta(&mut self) -> i64 {
        let raw = i64::from(self.u16() as i16);
        match self.u8() % 4 {
            0 => 0,
            1 => raw.signum(),
            2 => raw / 16,
            _ => raw,
        }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.bytes.len());
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        head
    }
}

/// The byte at `offset` of the stream whose pattern key is `key`: a function of the
/// offset, so that any byte can be checked where it stands.
fn pattern_byte(key: u64, offset: u64) -> u8 {
    let mut x = (offset / 8 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ key;
    x ^= x >> 31;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 29;
    x.to_le_bytes()[(offset % 8) as usize]
}

fn pattern(key: u64, offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| pattern_byte(key, offset + i))
        .collect()
}

/// What the endpoints sent on one direction of a 4-tuple.
#[derive(Debug, Clone, Copy, Default)]
struct Flow {
    /// The sequence number of its SYN, once seen.
    isn: Option<u32>,
    /// The sequence number after its last segment.
    next_seq: u32,
    /// Its last acknowledgment number.
    ack: u32,
}

struct InFlight {
    at: Instant,
    to: usize,
    packet: Vec<u8>,
}

/// One application: the stream it writes (pattern `key`) and what it read.
#[derive(Debug, Default)]
struct App {
    conn: Option<ConnectionId>,
    written: u64,
    read: u64,
    closed: bool,
}

struct Pair {
    now: Instant,
    endpoints: [Endpoint; 2],
    in_flight: Vec<InFlight>,
    flows: BTreeMap<(SocketAddr, SocketAddr), Flow>,
    apps: [App; 2],
    /// The prefix oracle no longer holds (see the module documentation).
    tainted: bool,
    buf: Vec<u8>,
}

fn key_of(side: usize) -> u64 {
    [0x00c1_1e47, 0x005e_47e4][side]
}

fn config(checksums: bool, client: bool) -> EndpointConfig {
    let mut c = EndpointConfig::default();
    c.mptcp.checksums = checksums;
    c.syn_backlog = SYN_BACKLOG;
    c.accept_backlog = ACCEPT_BACKLOG;
    c.max_connections = MAX_CONNECTIONS;
    // Buffers small enough that the oracle's bound means something and a program
    // fills them.
    c.tcp.send_buffer = 256 * 1024;
    c.tcp.recv_buffer = 256 * 1024;
    c.tcp.initial_recv_buffer = 64 * 1024;
    if client {
        c.mptcp.path_manager.endpoints = vec![PmEndpoint {
            id: 0,
            addr: IpAddr::V4(CLIENT_2),
            port: None,
            flags: EndpointFlags {
                subflow: true,
                ..EndpointFlags::default()
            },
        }];
        c.mptcp.path_manager.assign_ids();
    }
    c
}

impl Pair {
    /// The pair with both subflows established and data flowing both ways.
    fn new(checksums: bool) -> Self {
        let mut pair = Pair {
            now: Instant::ZERO,
            endpoints: [
                Endpoint::new(config(checksums, true), 1),
                Endpoint::new(config(checksums, false), 2),
            ],
            in_flight: Vec::new(),
            flows: BTreeMap::new(),
            apps: [App::default(), App::default()],
            tainted: false,
            buf: vec![0u8; 65536],
        };
        pair.endpoints[1]
            .listen(SocketAddr::new(SERVER.into(), PORT))
            .expect("a fresh endpoint listens");
        let client = pair.endpoints[0]
            .connect(
                pair.now,
                SocketAddr::new(CLIENT.into(), 40000),
                SocketAddr::new(SERVER.into(), PORT),
            )
            .expect("a fresh endpoint connects");
        pair.apps[0].conn = Some(client);
        for side in 0..2 {
            pair.write(side, 40_000);
        }
        for _ in 0..2_000 {
            if !pair.step() {
                break;
            }
            if pair.two_subflows() && pair.apps.iter().all(|a| a.read > 10_000) {
                break;
            }
        }
        assert!(pair.two_subflows(), "setup: the second subflow joins");
        pair
    }

    fn two_subflows(&self) -> bool {
        self.apps[0]
            .conn
            .and_then(|c| self.endpoints[0].connection(c))
            .and_then(|c| c.as_mptcp())
            .is_some_and(|m| {
                m.subflows()
                    .filter(|s| s.tcp().state().is_synchronized())
                    .count()
                    == 2
            })
    }

    /// Sends what the endpoints have, notes what they sent, and takes their events.
    fn flush(&mut self) {
        for from in 0..2 {
            while let Some(len) = self.endpoints[from].poll_transmit(self.now, &mut self.buf) {
                let packet = self.buf[..len].to_vec();
                self.note_sent(&packet);
                self.enqueue(self.now + ONE_WAY, 1 - from, packet);
            }
            while let Some(event) = self.endpoints[from].poll_event() {
                if let EndpointEvent::Accepted {
                    connection, remote, ..
                } = event
                {
                    self.endpoints[from].accepted(connection);
                    if from == 1
                        && self.apps[1].conn.is_none()
                        && remote == SocketAddr::new(CLIENT.into(), 40000)
                    {
                        self.apps[1].conn = Some(connection);
                    }
                }
            }
        }
    }

    fn enqueue(&mut self, at: Instant, to: usize, packet: Vec<u8>) {
        let pos = self.in_flight.partition_point(|p| p.at <= at);
        self.in_flight.insert(pos, InFlight { at, to, packet });
    }

    fn note_sent(&mut self, packet: &[u8]) {
        let Ok((ip, payload)) = IpRepr::parse(packet) else {
            return;
        };
        let Ok(tcp) = TcpRepr::parse(payload.payload, ChecksumCheck::Skip) else {
            return;
        };
        let src = SocketAddr::new(ip.src_addr(), tcp.src_port);
        let dst = SocketAddr::new(ip.dst_addr(), tcp.dst_port);
        let flow = self.flows.entry((src, dst)).or_default();
        if tcp.flags.syn() {
            flow.isn = Some(tcp.seq_number);
        }
        let len =
            tcp.payload.len() as u32 + u32::from(tcp.flags.syn()) + u32::from(tcp.flags.fin());
        flow.next_seq = tcp.seq_number.wrapping_add(len);
        flow.ack = tcp.ack_number;
    }

    /// One event: the next packet due or the next timer. False when nothing is left.
    fn step(&mut self) -> bool {
        self.flush();
        let next_packet = self.in_flight.first().map(|p| p.at);
        let next_timer = self.endpoints.iter().filter_map(|e| e.poll_timeout()).min();
        let Some(next) = [next_packet, next_timer].into_iter().flatten().min() else {
            return false;
        };
        self.now = self.now.max(next);
        if next_packet == Some(next) {
            let p = self.in_flight.remove(0);
            self.endpoints[p.to].handle(self.now, &p.packet);
        } else {
            for e in &mut self.endpoints {
                if e.poll_timeout().is_some_and(|t| t <= self.now) {
                    e.handle_timeout(self.now);
                }
            }
        }
        self.flush();
        self.read_all();
        true
    }

    fn write(&mut self, side: usize, len: usize) {
        let Some(conn) = self.apps[side]
            .conn
            .and_then(|c| self.endpoints[side].connection_mut(c))
        else {
            return;
        };
        let data = pattern(key_of(side), self.apps[side].written, len);
        self.apps[side].written += conn.write(&data) as u64;
    }

    /// Reads everything both applications can, checking every byte.
    fn read_all(&mut self) {
        for side in 0..2 {
            let Some(conn) = self.apps[side]
                .conn
                .and_then(|c| self.endpoints[side].connection_mut(c))
            else {
                continue;
            };
            loop {
                let n = conn.read(&mut self.buf);
                if n == 0 {
                    break;
                }
                let (offset, peer) = (self.apps[side].read, 1 - side);
                self.apps[side].read += n as u64;
                if self.tainted {
                    continue;
                }
                assert!(
                    self.apps[side].read <= self.apps[peer].written,
                    "endpoint {side} read {} bytes, its peer wrote {} (MPTCP phase {:?})",
                    self.apps[side].read,
                    self.apps[peer].written,
                    conn.as_mptcp().map(|m| m.phase())
                );
                let key = key_of(peer);
                if let Some(i) =
                    (0..n).find(|&i| self.buf[i] != pattern_byte(key, offset + i as u64))
                {
                    let at = offset + i as u64;
                    let got = &self.buf[i..n.min(i + 16)];
                    let source = (0..self.apps[peer].written)
                        .find(|&o| pattern(key, o, got.len()) == got)
                        .map_or("bytes the peer never wrote".to_string(), |o| {
                            format!("the peer's bytes from offset {o}")
                        });
                    let phase = conn.as_mptcp().map(|m| m.phase());
                    panic!(
                        "endpoint {side} read a byte at stream offset {at} that its peer did \
                         not write there: {source} (read {n} bytes from offset {offset}; \
                         MPTCP phase {phase:?})"
                    );
                }
            }
        }
    }

    /// The memory oracle.
    fn check_bounds(&self) {
        for (side, e) in self.endpoints.iter().enumerate() {
            let count = e.connection_ids().count();
            assert!(
                count <= MAX_CONNECTIONS,
                "endpoint {side} holds {count} connections"
            );
            let tcp = &e.config().tcp;
            for id in e.connection_ids() {
                let c = e.connection(id).expect("listed");
                assert!(
                    c.readable() <= tcp.recv_buffer + tcp.send_buffer,
                    "endpoint {side} connection {id:?}: {} bytes readable",
                    c.readable()
                );
                assert!(
                    c.send_queued() <= tcp.send_buffer,
                    "endpoint {side} connection {id:?}: {} bytes queued to send",
                    c.send_queued()
                );
                if let Some(m) = c.as_mptcp() {
                    let subflows = m.subflows().count();
                    assert!(
                        subflows <= 2 * e.config().mptcp.max_subflows,
                        "endpoint {side} connection {id:?} keeps {subflows} subflows"
                    );
                    for s in m.subflows() {
                        assert!(
                            s.tcp().readable() <= tcp.recv_buffer,
                            "endpoint {side} subflow holds {} bytes",
                            s.tcp().readable()
                        );
                    }
                }
            }
        }
    }

    /// The addresses of endpoint `side`.
    fn owns(side: usize, ip: IpAddr) -> bool {
        match side {
            0 => ip == IpAddr::V4(CLIENT) || ip == IpAddr::V4(CLIENT_2),
            _ => ip == IpAddr::V4(SERVER),
        }
    }

    /// The MPTCP view of endpoint `side`'s connection: its key and IDSN, and the
    /// peer's key.
    fn keys(&self, side: usize) -> Option<(u64, u64, Option<u64>)> {
        let m = self.apps[side]
            .conn
            .and_then(|c| self.endpoints[side].connection(c))
            .and_then(|c| c.as_mptcp())?;
        Some((m.local_key().key, m.local_key().idsn, m.remote_key()))
    }

    fn mptcp_established(&self, side: usize) -> bool {
        self.apps[side]
            .conn
            .and_then(|c| self.endpoints[side].connection(c))
            .and_then(|c| c.as_mptcp())
            .is_some_and(|m| m.phase() == Phase::Established)
    }
}

/// A segment to inject, being built.
struct Forged {
    to: usize,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    options: Vec<u8>,
    payload: Vec<u8>,
}

impl Forged {
    /// Appends an option if it fits in the 40 octets.
    fn push(&mut self, option: &TcpOption<'_>) {
        let mut scratch = [0u8; 64];
        let len = option.emit(&mut scratch);
        if self.options.len() + len <= TCP_MAX_OPTIONS_LEN {
            self.options.extend_from_slice(&scratch[..len]);
        }
    }

    fn packet(&self, bad_checksum: bool) -> Vec<u8> {
        let tcp = TcpRepr {
            src_port: self.src.port(),
            dst_port: self.dst.port(),
            seq_number: self.seq,
            ack_number: self.ack,
            flags: self.flags,
            window: self.window,
            urgent_ptr: 0,
            options: &self.options,
            payload: &self.payload,
        };
        let ip = IpRepr::new(
            self.src.ip(),
            self.dst.ip(),
            ip_protocol::TCP,
            tcp.buffer_len(),
        );
        let mut out = vec![0u8; ip.buffer_len() + tcp.buffer_len()];
        ip.emit(&mut out);
        let at = ip.buffer_len();
        tcp.emit(&mut out[at..], self.src.ip(), self.dst.ip());
        if bad_checksum {
            out[at + 16] ^= 0x5a;
        }
        out
    }
}

/// A 64-bit DSN near the data `side` has written: its IDSN + 1 + an offset near
/// what it wrote, or arbitrary.
fn dsn_near(pair: &Pair, side: usize, input: &mut Input<'_>) -> u64 {
    match (input.u8() % 3, pair.keys(side)) {
        (0, _) | (_, None) => input.u64(),
        (_, Some((_, idsn, _))) => idsn
            .wrapping_add(1)
            .wrapping_add(pair.apps[side].written)
            .wrapping_add_signed(input.delta()),
    }
}

fn seq_field(value: u64, input: &mut Input<'_>) -> SeqField {
    if input.bool() {
        SeqField::U64(value)
    } else {
        SeqField::U32(value as u32)
    }
}

/// One MPTCP option for a segment from `from` to `to`, or `None` for an option of
/// an unknown subtype (or MP_CAPABLE of another version), which the caller writes
/// as bytes. Sets `mapping` when it carries a DSS mapping or MP_CAPABLE with data.
fn mptcp_option(
    pair: &Pair,
    from: usize,
    to: usize,
    input: &mut Input<'_>,
    mapping: &mut bool,
) -> Option<MptcpOption<'static>> {
    let key = |side: usize, input: &mut Input<'_>| {
        if input.bool() {
            pair.keys(side).map_or(0, |k| k.0)
        } else {
            input.u64()
        }
    };
    Some(match input.u8() % 10 {
        0 => {
            let flags = MpCapableFlags(input.u8());
            let variant = match input.u8() % 4 {
                0 => MpCapableVariant::Syn,
                1 => MpCapableVariant::SynAck {
                    sender_key: key(from, input),
                },
                2 => MpCapableVariant::Ack {
                    sender_key: key(from, input),
                    receiver_key: key(to, input),
                },
                _ => {
                    *mapping = true;
                    MpCapableVariant::AckWithData {
                        sender_key: key(from, input),
                        receiver_key: key(to, input),
                        data_level_length: input.u16(),
                        checksum: input.bool().then(|| input.u16()),
                    }
                }
            };
            MptcpOption::MpCapable(MpCapable { flags, variant })
        }
        1 => MptcpOption::MpJoin(match input.u8() % 3 {
            0 => MpJoin::Syn {
                backup: input.bool(),
                addr_id: input.u8(),
                token: if input.bool() {
                    pair.keys(to).map_or(0, |k| braid_proto::crypto::token(k.0))
                } else {
                    input.u32()
                },
                nonce: input.u32(),
            },
            1 => MpJoin::SynAck {
                backup: input.bool(),
                addr_id: input.u8(),
                truncated_hmac: input.u64(),
                nonce: input.u32(),
            },
            _ => {
                let mut hmac = [0u8; JOIN_ACK_HMAC_LEN];
                for b in &mut hmac {
                    *b = input.u8();
                }
                MpJoin::Ack { hmac }
            }
        }),
        2 => {
            let data_ack = match input.u8() % 3 {
                0 => None,
                _ => Some(seq_field(dsn_near(pair, to, input), input)),
            };
            let with_mapping = input.u8() % 3 == 0;
            let dss_mapping = with_mapping.then(|| DssMapping {
                dsn: seq_field(dsn_near(pair, from, input), input),
                ssn: input.u32() % 200_000,
                data_level_length: input.u16(),
                checksum: input.bool().then(|| input.u16()),
            });
            *mapping |= with_mapping;
            MptcpOption::Dss(Dss {
                data_ack,
                mapping: dss_mapping,
                data_fin: with_mapping && input.bool(),
            })
        }
        3 => MptcpOption::AddAddr(AddAddr {
            addr_id: input.u8(),
            addr: match input.u8() % 4 {
                0 => IpAddr::V4(CLIENT_2),
                1 => IpAddr::V4(Ipv4Addr::from(input.u32())),
                2 => IpAddr::V6(std::net::Ipv6Addr::from(
                    (u128::from(input.u64()) << 64) | u128::from(input.u64()),
                )),
                _ => IpAddr::V4(SERVER),
            },
            port: input.bool().then(|| input.u16()),
            truncated_hmac: input.bool().then(|| input.u64()),
        }),
        4 => {
            let n = 1 + usize::from(input.u8() % 4);
            let ids: Vec<u8> = (0..n).map(|_| input.u8() % 4).collect();
            MptcpOption::RemoveAddr(RemoveAddr {
                addr_ids: AddrIdList::new(&ids).expect("1 to 4 ids"),
            })
        }
        5 => MptcpOption::MpPrio(MpPrio {
            backup: input.bool(),
            addr_id: input.bool().then(|| input.u8()),
        }),
        6 => MptcpOption::MpFail(MpFail {
            dsn: dsn_near(pair, from, input),
        }),
        7 => MptcpOption::MpFastclose(MpFastclose {
            receiver_key: key(to, input),
        }),
        8 => MptcpOption::MpTcpRst(MpTcpRst {
            flags: MpTcpRstFlags(input.u8() & 0x0f),
            reason: MpTcpRstReason::from_code(input.u8()),
        }),
        _ => return None,
    })
}

/// Builds a segment from the input and hands it to its endpoint.
fn inject(pair: &mut Pair, input: &mut Input<'_>) {
    let to = usize::from(input.u8() & 1);
    let from = 1 - to;
    // A 4-tuple the peer uses towards `to`, or one nobody uses.
    let known: Vec<(SocketAddr, SocketAddr)> = pair
        .flows
        .keys()
        .filter(|(src, dst)| Pair::owns(to, dst.ip()) && Pair::owns(from, src.ip()))
        .copied()
        .collect();
    let choice = usize::from(input.u8());
    let (src, dst) = if !known.is_empty() && choice % 4 != 0 {
        known[choice % known.len()]
    } else {
        let src_ip = if Pair::owns(from, IpAddr::V4(CLIENT_2)) && input.bool() {
            CLIENT_2
        } else if from == 0 {
            CLIENT
        } else {
            SERVER
        };
        let dst_ip = match to {
            0 if input.bool() => CLIENT_2,
            0 => CLIENT,
            _ => SERVER,
        };
        let dst_port = if to == 1 && input.bool() {
            PORT
        } else {
            input.u16()
        };
        (
            SocketAddr::new(src_ip.into(), input.u16()),
            SocketAddr::new(dst_ip.into(), dst_port),
        )
    };
    let flow = pair.flows.get(&(src, dst)).copied().unwrap_or_default();
    let back = pair.flows.get(&(dst, src)).copied().unwrap_or_default();
    let seq = match input.u8() % 4 {
        0 => flow.next_seq,
        1 => flow.next_seq.wrapping_add_signed(input.delta() as i32),
        2 => flow
            .isn
            .unwrap_or(0)
            .wrapping_add_signed(input.delta() as i32),
        _ => input.u32(),
    };
    let ack = match input.u8() % 3 {
        0 => back.next_seq,
        1 => back.next_seq.wrapping_add_signed(input.delta() as i32),
        _ => input.u32(),
    };
    let flags = TcpFlags::from_bits_truncate(match input.u8() % 4 {
        0 => u16::from(input.u8()) | if input.bool() { 0x100 } else { 0 },
        // The common shapes: ACK, ACK+PSH, RST, FIN+ACK.
        1 => 0x010,
        2 => [0x018, 0x004, 0x014, 0x011, 0x002, 0x012][usize::from(input.u8() % 6)],
        _ => 0x010,
    });
    let mut forged = Forged {
        to,
        src,
        dst,
        seq,
        ack,
        flags,
        window: input.u16(),
        options: Vec::new(),
        payload: Vec::new(),
    };
    let mut mapping = false;
    for _ in 0..input.u8() % 5 {
        let option = match input.u8() % 8 {
            0 => TcpOption::MaxSegmentSize(input.u16()),
            1 => TcpOption::WindowScale(input.u8() % 16),
            2 => TcpOption::SackPermitted,
            3 => {
                let n = 1 + usize::from(input.u8() % 3);
                let blocks: Vec<SackBlock> = (0..n)
                    .map(|_| {
                        let left = back.next_seq.wrapping_add_signed(input.delta() as i32);
                        SackBlock {
                            left,
                            right: left.wrapping_add(u32::from(input.u16())),
                        }
                    })
                    .collect();
                TcpOption::Sack(SackBlocks::new(&blocks).expect("1 to 3 blocks"))
            }
            4 => TcpOption::Timestamps {
                tsval: input.u32(),
                tsecr: input.u32(),
            },
            5 => {
                let len = usize::from(input.u8() % 8);
                let kind = input.u8();
                let data: &'static [u8] = &[0xa5; 8][..len];
                if kind <= 1 {
                    TcpOption::NoOperation
                } else {
                    TcpOption::Unknown { kind, data }
                }
            }
            _ => match mptcp_option(pair, from, to, input, &mut mapping) {
                Some(option) => TcpOption::Mptcp(option),
                None => {
                    // Kind 30 with any body: an unknown subtype, another version.
                    let len = usize::from(input.u8() % 12) + 1;
                    let body = input.take(len).to_vec();
                    let mut raw = vec![30, body.len() as u8 + 2];
                    raw.extend_from_slice(&body);
                    if forged.options.len() + raw.len() <= TCP_MAX_OPTIONS_LEN {
                        forged.options.extend_from_slice(&raw);
                    }
                    continue;
                }
            },
        };
        forged.push(&option);
    }
    if input.u8() % 16 == 15 {
        // Raw option bytes: whatever framing the input gives.
        let n = usize::from(input.u8()) % (TCP_MAX_OPTIONS_LEN + 1);
        forged.options = input.take(n).to_vec();
        forged.options.truncate(TCP_MAX_OPTIONS_LEN);
    }
    match input.u8() % 8 {
        0 | 1 if pair.mptcp_established(from) && pair.mptcp_established(to) => {
            // Honest data: the writer's own bytes at the offset the DSS names.
            let Some((_, idsn, _)) = pair.keys(from) else {
                return;
            };
            let written = pair.apps[from].written;
            let offset = written.saturating_add_signed(input.delta()).min(written);
            let len = usize::from(input.u16() % 1400 + 1);
            forged.payload = pattern(key_of(from), offset, len);
            let dsn = idsn.wrapping_add(1).wrapping_add(offset);
            let ssn = forged
                .seq
                .wrapping_sub(flow.isn.unwrap_or(0).wrapping_add(1));
            let checksum = pair.keys(from).and_then(|_| {
                checksums_on(pair).then(|| {
                    braid_proto::crypto::dss_checksum(
                        dsn,
                        ssn,
                        len as u16,
                        [forged.payload.as_slice()],
                    )
                })
            });
            forged.options.clear();
            forged.push(&TcpOption::Mptcp(MptcpOption::Dss(Dss {
                data_ack: Some(SeqField::U64(dsn_near(pair, to, input))),
                mapping: Some(DssMapping {
                    dsn: SeqField::U64(dsn),
                    ssn,
                    data_level_length: len as u16,
                    checksum,
                }),
                data_fin: false,
            })));
            pair.tainted = true;
        }
        2 => {
            let len = usize::from(input.u16() % 1500 + 1);
            forged.payload = input.take(len).to_vec();
            pair.tainted |= !forged.payload.is_empty();
        }
        _ => {}
    }
    pair.tainted |= mapping;
    trace!(
        "{:>10} inject to {to}: {} -> {} seq {} ({:+} from next) ack {} ({:+}) flags {:?} \
         win {} options {:?} payload {} bytes{}",
        pair.now.as_micros(),
        forged.src,
        forged.dst,
        forged.seq,
        forged.seq.wrapping_sub(flow.next_seq) as i32,
        forged.ack,
        forged.ack.wrapping_sub(back.next_seq) as i32,
        forged.flags,
        forged.window,
        braid_proto::wire::tcp_option::TcpOptions::new(&forged.options).collect::<Vec<_>>(),
        forged.payload.len(),
        if pair.tainted { " (tainted)" } else { "" }
    );
    let packet = forged.packet(input.u8() == 0xff);
    let at = pair.now;
    pair.enqueue(at, forged.to, packet);
}

fn checksums_on(pair: &Pair) -> bool {
    pair.apps[0]
        .conn
        .and_then(|c| pair.endpoints[0].connection(c))
        .and_then(|c| c.as_mptcp())
        .is_some_and(|m| m.checksums())
}

/// Fuzz target `endpoint_pair`: see the module documentation.
pub fn check_endpoint_pair(data: &[u8]) {
    let mut input = Input { bytes: data };
    let mut pair = Pair::new(input.u8() & 1 == 1);
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        let op = input.u8() % 16;
        trace!("{:>10} op {op}", pair.now.as_micros());
        match op {
            0..=2 => {
                for _ in 0..1 + usize::from(input.u8() % 64) {
                    if !pair.step() {
                        break;
                    }
                }
            }
            3 => {
                // Time passes: up to a few seconds of events.
                let until = pair.now + Duration::from_millis(u64::from(input.u16() % 5_000));
                for _ in 0..MAX_STEPS_PER_OP {
                    let next = [
                        pair.in_flight.first().map(|p| p.at),
                        pair.endpoints.iter().filter_map(|e| e.poll_timeout()).min(),
                    ]
                    .into_iter()
                    .flatten()
                    .min();
                    if next.is_none_or(|t| t > until) || !pair.step() {
                        break;
                    }
                }
                pair.now = pair.now.max(until);
            }
            4 => {
                let side = usize::from(input.u8() & 1);
                let len = usize::from(input.u16());
                trace!("           write {len} at {side}");
                pair.write(side, len);
            }
            5 => {
                let side = usize::from(input.u8() & 1);
                let abort = input.u8() == 0xff;
                trace!(
                    "           {} {side}",
                    if abort { "abort" } else { "close" }
                );
                if let Some(c) = pair.apps[side]
                    .conn
                    .and_then(|c| pair.endpoints[side].connection_mut(c))
                {
                    if abort {
                        c.abort();
                    } else {
                        c.close();
                    }
                    pair.apps[side].closed = true;
                }
            }
            6 => {
                // The network: lose, duplicate or delay a packet in flight.
                if !pair.in_flight.is_empty() {
                    let i = usize::from(input.u8()) % pair.in_flight.len();
                    let what = input.u8() % 3;
                    trace!("           packet {i} in flight: {what} (drop, duplicate, delay)");
                    match what {
                        0 => {
                            pair.in_flight.remove(i);
                        }
                        1 => {
                            let p = &pair.in_flight[i];
                            let (at, to, packet) = (p.at, p.to, p.packet.clone());
                            pair.enqueue(at, to, packet);
                        }
                        _ => {
                            let p = pair.in_flight.remove(i);
                            let at = p.at + Duration::from_millis(u64::from(input.u8()));
                            pair.enqueue(at, p.to, p.packet);
                        }
                    }
                }
            }
            7 => {
                // The client's second address goes, comes back, or changes priority.
                let now = pair.now;
                let addr = IpAddr::V4(CLIENT_2);
                let event = input.u8() % 3;
                trace!("           address event {event} (remove, add, backup)");
                match event {
                    0 => pair.endpoints[0].remove_local_address(now, addr),
                    1 => pair.endpoints[0].add_local_address(
                        now,
                        PmEndpoint {
                            id: 0,
                            addr,
                            port: None,
                            flags: EndpointFlags {
                                subflow: true,
                                ..EndpointFlags::default()
                            },
                        },
                    ),
                    _ => pair.endpoints[0].set_address_backup(now, addr, input.bool()),
                }
            }
            8 => {
                // Not even TCP: raw bytes as an IP packet.
                let len = usize::from(input.u8());
                let packet = input.take(len).to_vec();
                let to = usize::from(input.u8() & 1);
                let now = pair.now;
                pair.endpoints[to].handle(now, &packet);
            }
            _ => inject(&mut pair, &mut input),
        }
        pair.flush();
        pair.read_all();
        pair.check_bounds();
    }
    if std::env::var_os("BRAID_FUZZ_LIVENESS").is_some() {
        check_liveness(&mut pair);
    }
}

/// Both applications close; ten minutes of virtual time later every connection has
/// ended or waits in TIME-WAIT.
fn check_liveness(pair: &mut Pair) {
    for side in 0..2 {
        if let Some(c) = pair.apps[side]
            .conn
            .and_then(|c| pair.endpoints[side].connection_mut(c))
        {
            c.close();
        }
    }
    let until = pair.now + Duration::from_secs(600);
    for _ in 0..200_000 {
        // What the closes made due: without this a pair with nothing in flight and
        // no timer ended the check before its FINs left.
        pair.flush();
        let next = [
            pair.in_flight.first().map(|p| p.at),
            pair.endpoints.iter().filter_map(|e| e.poll_timeout()).min(),
        ]
        .into_iter()
        .flatten()
        .min();
        if next.is_none_or(|t| t > until) || !pair.step() {
            break;
        }
        pair.check_bounds();
    }
    for (side, e) in pair.endpoints.iter().enumerate() {
        for id in e.connection_ids() {
            let c = e.connection(id).expect("listed");
            let state = c.state();
            assert!(
                matches!(
                    state,
                    braid_proto::tcp::TcpState::TimeWait | braid_proto::tcp::TcpState::Closed
                ) || pair.apps[side].conn != Some(id),
                "endpoint {side}: the pair's connection is still {state:?} ten minutes \
                 after both ends closed"
            );
        }
    }
}
