//! SYN floods and SYN cookies (RFC 4987) between two endpoints on virtual time: a
//! client connects during a flood of spoofed SYNs that fills the listener's queue;
//! cookies are checked (forged, stale) and carry what the handshake negotiated
//! (MSS, window scaling, SACK, timestamps, the MPTCP key).

mod support;

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;

use braid_proto::endpoint::{Connection, ConnectionId, EndpointConfig, EndpointEvent};
use braid_proto::mptcp::Phase;
use braid_proto::seq::SeqNum;
use braid_proto::tcp::{emit_segment, SegmentOut, TcpEvent};
use braid_proto::time::{Duration, Instant};
use braid_proto::wire::mptcp::{MpCapable, MpCapableFlags, MpCapableVariant, MptcpOption};
use braid_proto::wire::tcp_option::{TcpOption, TcpOptions};
use braid_proto::wire::{ChecksumCheck, IpRepr, TcpFlags, TcpRepr};
use support::{addr, tcp_fields, Pair};

const CLIENT: &str = "10.0.0.1:40000";
const SERVER: &str = "10.0.0.2:5001";

/// The flood of the hardening issue: 20,000 SYNs in 1.7 s.
const FLOOD_SYNS: u64 = 20_000;
const FLOOD_SPACING: Duration = Duration::from_micros(85);

/// Spoofed sources, 10.9.0.0/16: nobody there answers a SYN-ACK.
fn spoofed(i: u64) -> SocketAddr {
    let ip = Ipv4Addr::new(10, 9, (i >> 8) as u8, i as u8);
    SocketAddr::new(IpAddr::V4(ip), 1024 + (i % 60_000) as u16)
}

fn is_spoofed(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.octets()[..2] == [10, 9])
}

fn destination(packet: &[u8]) -> IpAddr {
    IpRepr::parse(packet).expect("IP").0.dst_addr()
}

/// A SYN as Linux sends one: MSS, SACK-permitted, timestamps, window scale, and
/// MP_CAPABLE when `mptcp`.
fn linux_syn(src: SocketAddr, dst: SocketAddr, isn: u32, tsval: u32, mptcp: bool) -> Vec<u8> {
    let mut options = vec![
        TcpOption::MaxSegmentSize(1460),
        TcpOption::SackPermitted,
        TcpOption::Timestamps { tsval, tsecr: 0 },
        TcpOption::WindowScale(7),
    ];
    if mptcp {
        options.push(TcpOption::Mptcp(MptcpOption::MpCapable(MpCapable {
            flags: MpCapableFlags(MpCapableFlags::HMAC_SHA256),
            variant: MpCapableVariant::Syn,
        })));
    }
    segment(src, dst, isn, 0, TcpFlags::SYN, &options)
}

fn segment(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    options: &[TcpOption<'_>],
) -> Vec<u8> {
    let seg = SegmentOut {
        seq: SeqNum(seq),
        ack: SeqNum(ack),
        flags,
        window: 64240,
        options: Default::default(),
        payload: [&[], &[]],
        stream_offset: 0,
        retransmission: false,
    };
    let mut buf = vec![0u8; 200];
    let len = emit_segment(&mut buf, src, dst, &seg, options);
    buf.truncate(len);
    buf
}

/// The `i`-th SYN of a flood: every other one offers MPTCP.
fn flood_syn(i: u64) -> Vec<u8> {
    let mix = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    linux_syn(
        spoofed(i),
        addr(SERVER),
        (mix >> 32) as u32,
        mix as u32,
        i % 2 == 0,
    )
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8 ^ seed).collect()
}

fn read_all(c: &mut Connection, buf: &mut [u8], into: &mut Vec<u8>) {
    loop {
        let n = c.read(buf);
        if n == 0 {
            return;
        }
        into.extend_from_slice(&buf[..n]);
    }
}

fn connected(events: &[EndpointEvent], id: ConnectionId) -> bool {
    events.iter().any(|e| {
        matches!(e, EndpointEvent::Connection { connection, event: TcpEvent::Connected }
            if *connection == id)
    })
}

/// `up` from the client and `down` from the server at once; both close when done and
/// read everything, until both connections are gone. Returns what each received.
fn exchange(pair: &mut Pair, client: ConnectionId, up: &[u8], down: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut client_received, mut server_received) = (Vec::new(), Vec::new());
    let (mut up_written, mut down_written) = (0, 0);
    let (mut client_closed, mut server_closed) = (false, false);
    let mut buf = vec![0u8; 65536];
    let server = pair.accepted().expect("accepted");
    // Long enough for TIME-WAIT (60 s) to end.
    let deadline = pair.now + Duration::from_secs(120);
    pair.run_until(deadline, |p| {
        if let Some(c) = p.endpoints[0].connection_mut(client) {
            up_written += c.write(&up[up_written..]);
            if up_written == up.len() && !client_closed {
                c.close();
                client_closed = true;
            }
            read_all(c, &mut buf, &mut client_received);
        }
        if let Some(c) = p.endpoints[1].connection_mut(server) {
            down_written += c.write(&down[down_written..]);
            if down_written == down.len() && !server_closed {
                c.close();
                server_closed = true;
            }
            read_all(c, &mut buf, &mut server_received);
        }
        p.endpoints[0].connection(client).is_none() && p.endpoints[1].connection(server).is_none()
    });
    assert!(
        pair.endpoints[0].connection(client).is_none()
            && pair.endpoints[1].connection(server).is_none(),
        "both ends closed"
    );
    (client_received, server_received)
}

/// A client with `client_config` connects 0.5 s into the flood; returns the pair
/// and the client's connection once the flood is over, and how long connecting took.
fn connect_during_flood(client_config: EndpointConfig) -> (Pair, ConnectionId, Duration) {
    let mut pair = Pair::with_configs(
        client_config,
        EndpointConfig::default(),
        Duration::from_millis(10),
    );
    // SYN-ACKs to spoofed sources go nowhere.
    pair.drop = Box::new(|dir, _, packet| dir == 1 && is_spoofed(destination(packet)));
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    let connect_at = Instant::from_millis(500);
    let mut client = None;
    let mut connected_at = None;
    for i in 0..FLOOD_SYNS {
        let at = Instant::ZERO + Duration::from_micros(FLOOD_SPACING.as_micros() * i);
        pair.run_until(at, |p| {
            if let (Some(id), None) = (client, connected_at) {
                if connected(&p.events[0], id) {
                    connected_at = Some(p.now);
                }
            }
            false
        });
        if client.is_none() && at >= connect_at {
            client = Some(
                pair.endpoints[0]
                    .connect(at, addr(CLIENT), addr(SERVER))
                    .unwrap(),
            );
        }
        pair.endpoints[1].handle(at, &flood_syn(i));
    }
    let client = client.expect("connected during the flood");
    let stats = *pair.endpoints[1].stats();
    // Every SYN after the first 256 found the queue full, the client's too.
    assert_eq!(stats.syn_queue_overflows, FLOOD_SYNS - 256 + 1, "{stats:?}");
    assert_eq!(
        stats.syn_cookies_sent, stats.syn_queue_overflows,
        "{stats:?}"
    );
    let deadline = connect_at + Duration::from_secs(5);
    pair.run_until(deadline, |p| {
        connected_at.is_none() && connected(&p.events[0], client) && {
            connected_at = Some(p.now);
            true
        }
    });
    let took = connected_at.expect("connected") - connect_at;
    (pair, client, took)
}

#[test]
fn rfc4987_an_mptcp_client_connects_within_a_second_during_a_20000_syn_flood() {
    let (mut pair, client, took) = connect_during_flood(EndpointConfig::default());
    println!("MPTCP client connected {took} after its SYN, during the flood");
    assert!(took < Duration::from_secs(1), "took {took}");
    assert_eq!(pair.endpoints[1].stats().syn_cookies_accepted, 1);
    let server = pair.accepted().expect("accepted");
    let (c, s) = (
        pair.endpoints[0]
            .connection(client)
            .unwrap()
            .as_mptcp()
            .expect("MPTCP"),
        pair.endpoints[1]
            .connection(server)
            .unwrap()
            .as_mptcp()
            .expect("MPTCP"),
    );
    assert_eq!(c.remote_key(), Some(s.local_key().key));
    assert_eq!(s.remote_key(), Some(c.local_key().key));
    let (up, down) = (pattern(1_000_000, 1), pattern(500_000, 2));
    let (client_received, server_received) = exchange(&mut pair, client, &up, &down);
    assert!(server_received == up, "upload differs");
    assert!(client_received == down, "download differs");
}

#[test]
fn rfc4987_a_plain_tcp_client_connects_within_a_second_during_a_20000_syn_flood() {
    let mut config = EndpointConfig::default();
    config.mptcp.enabled = false;
    let (mut pair, client, took) = connect_during_flood(config);
    println!("TCP client connected {took} after its SYN, during the flood");
    assert!(took < Duration::from_secs(1), "took {took}");
    assert!(pair.endpoints[0]
        .connection(client)
        .unwrap()
        .as_tcp()
        .is_some());
    let (up, down) = (pattern(700_000, 3), pattern(300_000, 4));
    let (client_received, server_received) = exchange(&mut pair, client, &up, &down);
    assert!(server_received == up, "upload differs");
    assert!(client_received == down, "download differs");
}

#[test]
fn rfc4987_half_open_entries_of_a_flood_are_pruned_after_two_syn_ack_retries_down_to_half_the_queue(
) {
    let mut pair = Pair::new(EndpointConfig::default(), Duration::from_millis(10));
    let syn_acks = Rc::new(RefCell::new(0u32));
    let counted = syn_acks.clone();
    pair.drop = Box::new(move |dir, _, packet| {
        let to_spoofed = dir == 1 && is_spoofed(destination(packet));
        if to_spoofed && tcp_fields(packet).2.syn() {
            *counted.borrow_mut() += 1;
        }
        to_spoofed
    });
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    for i in 0..300 {
        pair.endpoints[1].handle(pair.now, &flood_syn(i));
    }
    pair.run_until(Instant::from_millis(6_900), |_| false);
    assert_eq!(pair.endpoints[1].stats().half_open_pruned, 0);
    assert_eq!(pair.endpoints[1].connection_ids().count(), 256);
    // SYN-ACK at 0, retries at 1 s and 3 s; at 7 s, gone (127 s without pressure)
    // until the queue is no more than half full: the others get their third retry.
    pair.run_until(Instant::from_millis(7_100), |_| false);
    let stats = pair.endpoints[1].stats();
    assert_eq!(stats.half_open_pruned, 128);
    assert_eq!(pair.endpoints[1].connection_ids().count(), 128);
    assert_eq!(stats.syn_cookies_sent, 300 - 256);
    assert_eq!(
        *syn_acks.borrow(),
        256 * 3 + 128 + (300 - 256),
        "three each, a fourth for those left, one per cookie"
    );
}

#[test]
fn without_pressure_half_open_entries_get_every_syn_ack_retry() {
    let mut pair = Pair::new(EndpointConfig::default(), Duration::from_millis(10));
    pair.drop = Box::new(|dir, _, packet| dir == 1 && is_spoofed(destination(packet)));
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    // Half the queue: no pressure.
    for i in 0..128 {
        pair.endpoints[1].handle(pair.now, &flood_syn(i));
    }
    pair.run_until(Instant::from_millis(60_000), |_| false);
    assert_eq!(pair.endpoints[1].stats().half_open_pruned, 0);
    assert_eq!(pair.endpoints[1].connection_ids().count(), 128);
}

/// Packets as the link saw them: (direction, packet), in the order sent.
type PacketLog = Rc<RefCell<Vec<(usize, Vec<u8>)>>>;

/// A server that answers every SYN with a cookie (a queue of none), the packets
/// each way logged.
struct CookiePair {
    pair: Pair,
    log: PacketLog,
}

fn cookie_pair(client: EndpointConfig) -> CookiePair {
    let server = EndpointConfig {
        syn_backlog: 0,
        ..Default::default()
    };
    let mut pair = Pair::with_configs(client, server, Duration::from_millis(10));
    let log = Rc::new(RefCell::new(Vec::new()));
    let kept = log.clone();
    pair.drop = Box::new(move |dir, _, packet| {
        kept.borrow_mut().push((dir, packet.to_vec()));
        false
    });
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    CookiePair { pair, log }
}

fn options_of(packet: &[u8]) -> Vec<TcpOption<'static>> {
    let (_, payload) = IpRepr::parse(packet).unwrap();
    let tcp = TcpRepr::parse(payload.payload, ChecksumCheck::Skip).unwrap();
    TcpOptions::new(tcp.options)
        .flatten()
        .filter_map(|o| match o {
            TcpOption::MaxSegmentSize(m) => Some(TcpOption::MaxSegmentSize(m)),
            TcpOption::WindowScale(s) => Some(TcpOption::WindowScale(s)),
            TcpOption::SackPermitted => Some(TcpOption::SackPermitted),
            TcpOption::Timestamps { tsval, tsecr } => Some(TcpOption::Timestamps { tsval, tsecr }),
            TcpOption::Sack(b) => Some(TcpOption::Sack(b)),
            _ => None,
        })
        .collect()
}

fn window_field(packet: &[u8]) -> u16 {
    let (_, payload) = IpRepr::parse(packet).unwrap();
    TcpRepr::parse(payload.payload, ChecksumCheck::Skip)
        .unwrap()
        .window
}

#[test]
fn rfc4987_cookies_only_when_the_queue_is_full() {
    let config = EndpointConfig {
        syn_backlog: 1,
        ..Default::default()
    };
    let mut pair = Pair::with_configs(EndpointConfig::default(), config, Duration::from_millis(10));
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    pair.endpoints[1].handle(pair.now, &flood_syn(1));
    assert_eq!(pair.endpoints[1].stats().syn_cookies_sent, 0);
    pair.endpoints[1].handle(pair.now, &flood_syn(2));
    assert_eq!(pair.endpoints[1].stats().syn_cookies_sent, 1);
    assert_eq!(
        pair.endpoints[1].connection_ids().count(),
        1,
        "a cookie keeps nothing"
    );
}

#[test]
fn rfc4987_s3_6_a_cookie_connection_has_the_options_the_syn_asked_for() {
    // The client's MSS is 1400: the cookie carries 1380, the largest table value
    // below. Plain TCP, so that segment sizes are the MSS less timestamps.
    let mut client = EndpointConfig::default();
    client.mptcp.enabled = false;
    client.tcp.mss = 1400;
    let mut c = cookie_pair(client);
    let pair = &mut c.pair;
    // Lose the client's second data segment, so that the server has SACK to send.
    let mut data_segments = 0;
    let log = c.log.clone();
    pair.drop = Box::new(move |dir, _, packet| {
        log.borrow_mut().push((dir, packet.to_vec()));
        if dir == 0 && tcp_fields(packet).3 > 0 {
            data_segments += 1;
            return data_segments == 2;
        }
        false
    });
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    pair.run_until(Instant::from_millis(100), |_| false);
    assert_eq!(pair.endpoints[1].stats().syn_cookies_accepted, 1);
    let server = pair.accepted().expect("accepted");
    let tcp = pair.endpoints[1]
        .connection(server)
        .unwrap()
        .as_tcp()
        .unwrap();
    // Timestamps on: 12 octets of every segment are theirs.
    assert_eq!(tcp.effective_mss(), 1380 - 12);
    // The client's window scale (7 for its 6 MiB buffer) is known: its 128 KiB
    // window reads as such, not as the 1 KiB of the bare field.
    assert!(tcp.peer_window() >= 100_000, "{}", tcp.peer_window());
    let (up, down) = (pattern(200_000, 5), pattern(200_000, 6));
    let (client_received, server_received) = exchange(pair, client, &up, &down);
    assert!(
        server_received == up && client_received == down,
        "data differs"
    );
    let log = c.log.borrow();
    let from_server: Vec<&Vec<u8>> = log
        .iter()
        .filter(|(d, _)| *d == 1)
        .map(|(_, p)| p)
        .collect();
    let syn_ack = options_of(from_server[0]);
    assert!(syn_ack.contains(&TcpOption::WindowScale(7)), "{syn_ack:?}");
    assert!(syn_ack.contains(&TcpOption::SackPermitted), "{syn_ack:?}");
    let after: Vec<Vec<TcpOption>> = from_server[1..].iter().map(|p| options_of(p)).collect();
    assert!(
        after
            .iter()
            .all(|o| o.iter().any(|o| matches!(o, TcpOption::Timestamps { .. }))),
        "every segment carries timestamps"
    );
    assert!(
        after
            .iter()
            .any(|o| o.iter().any(|o| matches!(o, TcpOption::Sack(_)))),
        "the lost segment drew SACK blocks"
    );
    // Scaled windows: the field is the window shifted by 7.
    assert!(from_server[1..].iter().all(|p| window_field(p) < 0x8000));
    // The server's data segments: at most the MSS the cookie carried, less timestamps.
    let largest = from_server.iter().map(|p| tcp_fields(p).3).max().unwrap();
    assert_eq!(largest, 1380 - 12);
}

#[test]
fn rfc4987_s3_6_without_timestamps_a_cookie_carries_neither_window_scaling_nor_sack() {
    let mut client = EndpointConfig::default();
    client.mptcp.enabled = false;
    client.tcp.timestamps = false;
    let mut c = cookie_pair(client);
    let pair = &mut c.pair;
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    pair.run_until(Instant::from_millis(100), |_| false);
    assert_eq!(pair.endpoints[1].stats().syn_cookies_accepted, 1);
    let (up, down) = (pattern(300_000, 7), pattern(100_000, 8));
    let (client_received, server_received) = exchange(pair, client, &up, &down);
    assert!(
        server_received == up && client_received == down,
        "data differs"
    );
    let log = c.log.borrow();
    let syn_ack = log
        .iter()
        .find(|(d, _)| *d == 1)
        .map(|(_, p)| options_of(p))
        .unwrap();
    assert_eq!(syn_ack, vec![TcpOption::MaxSegmentSize(1460)]);
    assert!(
        log.iter()
            .filter(|(d, _)| *d == 1)
            .all(|(_, p)| options_of(p)
                .iter()
                .all(|o| matches!(o, TcpOption::MaxSegmentSize(_)))),
        "no timestamps, no SACK"
    );
}

#[test]
fn rfc8684_s3_1_an_mp_capable_cookie_connection_is_mptcp_with_the_right_keys_and_takes_a_join() {
    let mut client = EndpointConfig::default();
    client.mptcp.path_manager.endpoints = vec!["10.0.0.3,subflow".parse().unwrap()];
    client.mptcp.path_manager.assign_ids();
    let mut c = cookie_pair(client);
    let pair = &mut c.pair;
    pair.rate = 5_000_000;
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    let up = pattern(2_000_000, 9);
    let (mut written, mut received) = (0, Vec::new());
    let mut buf = vec![0u8; 65536];
    pair.run_until(Instant::from_millis(30_000), |p| {
        let c = p.endpoints[0].connection_mut(client).unwrap();
        written += c.write(&up[written..]);
        if let Some(server) = p.accepted() {
            read_all(
                p.endpoints[1].connection_mut(server).unwrap(),
                &mut buf,
                &mut received,
            );
        }
        received.len() == up.len()
    });
    assert!(received == up, "upload differs");
    assert_eq!(pair.endpoints[1].stats().syn_cookies_accepted, 1);
    let server = pair.accepted().unwrap();
    let s = pair.endpoints[1]
        .connection(server)
        .unwrap()
        .as_mptcp()
        .expect("MPTCP");
    let c = pair.endpoints[0]
        .connection(client)
        .unwrap()
        .as_mptcp()
        .unwrap();
    assert_eq!(s.phase(), Phase::Established);
    assert_eq!(c.remote_key(), Some(s.local_key().key));
    assert_eq!(s.remote_key(), Some(c.local_key().key));
    assert_eq!(
        s.stats().joins_accepted,
        1,
        "the join found the cookie's token"
    );
    assert_eq!(s.subflows().count(), 2);
    assert!(s
        .subflows()
        .all(|f| f.tcp().stats().bytes_received > 100_000));
}

/// The client's cookie handshake with its third ACK held back: the ACK, and the
/// pair (the client established, the server with nothing).
fn held_third_ack() -> (CookiePair, ConnectionId, Vec<u8>) {
    let mut c = cookie_pair(EndpointConfig::default());
    let held: Rc<RefCell<Option<Vec<u8>>>> = Rc::new(RefCell::new(None));
    let keep = held.clone();
    let log = c.log.clone();
    c.pair.drop = Box::new(move |dir, _, packet| {
        log.borrow_mut().push((dir, packet.to_vec()));
        let (_, _, flags, _) = tcp_fields(packet);
        let third_ack = dir == 0 && flags.ack() && !flags.syn() && keep.borrow().is_none();
        if third_ack {
            *keep.borrow_mut() = Some(packet.to_vec());
        }
        third_ack
    });
    let client = c.pair.endpoints[0]
        .connect(c.pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    c.pair.run_until(Instant::from_millis(100), |_| false);
    assert_eq!(c.pair.endpoints[1].stats().syn_cookies_sent, 1);
    assert!(c.pair.endpoints[1].connection_ids().next().is_none());
    let ack = held.borrow().clone().expect("a third ACK");
    c.pair.drop = Box::new(|_, _, _| false);
    (c, client, ack)
}

/// Whether the server's next packet is a RST.
fn next_is_rst(pair: &mut Pair) -> bool {
    let mut buf = vec![0u8; 2000];
    let len = pair.endpoints[1]
        .poll_transmit(pair.now, &mut buf)
        .expect("a packet");
    tcp_fields(&buf[..len]).2.rst()
}

#[test]
fn rfc4987_s3_6_a_held_third_ack_is_accepted_within_the_cookie_age() {
    let (mut c, _, ack) = held_third_ack();
    let pair = &mut c.pair;
    pair.run_until(Instant::from_millis(100_000), |_| false);
    pair.endpoints[1].handle(pair.now, &ack);
    assert_eq!(pair.endpoints[1].stats().syn_cookies_accepted, 1);
    assert!(pair.endpoints[1].connection_ids().next().is_some());
}

#[test]
fn rfc4987_s3_6_a_stale_third_ack_creates_nothing_and_gets_a_rst() {
    let (mut c, _, ack) = held_third_ack();
    let pair = &mut c.pair;
    // Three cookie periods later, with cookies still being sent (a flood goes on).
    pair.run_until(Instant::from_millis((64 * 3 + 10) * 1000), |_| false);
    pair.endpoints[1].handle(pair.now, &flood_syn(1));
    let mut buf = vec![0u8; 2000];
    while pair.endpoints[1]
        .poll_transmit(pair.now, &mut buf)
        .is_some()
    {}
    pair.endpoints[1].handle(pair.now, &ack);
    let stats = pair.endpoints[1].stats();
    assert_eq!(
        (stats.syn_cookies_accepted, stats.syn_cookies_rejected),
        (0, 1)
    );
    assert!(pair.endpoints[1].connection_ids().next().is_none());
    assert!(next_is_rst(pair));
}

#[test]
fn rfc4987_s3_6_forged_third_acks_create_nothing_and_get_a_rst() {
    let (mut c, _, ack) = held_third_ack();
    let pair = &mut c.pair;
    let (seq, ack_number, _, _) = tcp_fields(&ack);
    let forgeries = [
        // Another cookie value.
        support::forge(&ack, seq, ack_number ^ 0x0100_0000, TcpFlags::ACK),
        support::forge(&ack, seq, ack_number.wrapping_add(1), TcpFlags::ACK),
        // The cookie of another SYN (the peer's ISN is in the MAC).
        support::forge(&ack, seq.wrapping_add(1), ack_number, TcpFlags::ACK),
        // From another source.
        segment(
            spoofed(5),
            addr(SERVER),
            seq,
            ack_number,
            TcpFlags::ACK,
            &[],
        ),
    ];
    for (i, forged) in forgeries.iter().enumerate() {
        pair.endpoints[1].handle(pair.now, forged);
        assert!(
            pair.endpoints[1].connection_ids().next().is_none(),
            "forgery {i}"
        );
        assert!(next_is_rst(pair), "forgery {i}");
    }
    let stats = pair.endpoints[1].stats();
    assert_eq!(
        (stats.syn_cookies_accepted, stats.syn_cookies_rejected),
        (0, 4)
    );
}

#[test]
fn rfc8684_s3_1_a_cookie_third_ack_echoing_another_key_is_plain_tcp() {
    let (mut c, _, ack) = held_third_ack();
    let pair = &mut c.pair;
    // Rewrite the echoed key (the last 8 octets of the MP_CAPABLE option).
    let (ip, payload) = IpRepr::parse(&ack).unwrap();
    let tcp = TcpRepr::parse(payload.payload, ChecksumCheck::Skip).unwrap();
    let mut options = tcp.options.to_vec();
    let at = options
        .windows(2)
        .position(|w| w[0] == 30 && w[1] == 20)
        .expect("MP_CAPABLE with both keys");
    options[at + 19] ^= 1;
    let forged = TcpRepr {
        options: &options,
        ..tcp
    };
    let mut packet = vec![0u8; ip.buffer_len() + forged.buffer_len()];
    let ip = IpRepr::new(ip.src_addr(), ip.dst_addr(), 6, forged.buffer_len());
    ip.emit(&mut packet);
    forged.emit(&mut packet[ip.buffer_len()..], ip.src_addr(), ip.dst_addr());
    pair.endpoints[1].handle(pair.now, &packet);
    let stats = pair.endpoints[1].stats();
    assert_eq!(stats.syn_cookies_accepted, 1);
    assert_eq!(stats.mptcp_third_ack_fallbacks, 1);
    let id = pair.endpoints[1]
        .connection_ids()
        .next()
        .expect("a connection");
    assert!(pair.endpoints[1].connection(id).unwrap().as_tcp().is_some());
}
