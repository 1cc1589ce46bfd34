//! The listener's choices that need its insides to test: which MPTCP key a SYN-ACK
//! announces when a token is taken, and the secret behind cookies.

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::{ConnectionId, Endpoint, EndpointConfig};
use crate::rng::{RandomSource, SeededRng};
use crate::seq::SeqNum;
use crate::tcp::{emit_segment, SegmentOut};
use crate::time::Instant;
use crate::wire::mptcp::{MpCapable, MpCapableFlags, MpCapableVariant, MptcpOption};
use crate::wire::tcp_option::{TcpOption, TcpOptions};
use crate::wire::{ChecksumCheck, IpRepr, TcpFlags, TcpRepr};

const CLIENT: &str = "10.0.0.1:40000";
const SERVER: &str = "10.0.0.2:5001";
const CLIENT_KEY: u64 = 0x1111_2222_3333_4444;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Values given in order, then a seeded generator's.
#[derive(Debug)]
struct Scripted {
    values: VecDeque<u64>,
    then: SeededRng,
}

impl RandomSource for Scripted {
    fn next_u64(&mut self) -> u64 {
        self.values
            .pop_front()
            .unwrap_or_else(|| self.then.next_u64())
    }
}

/// An endpoint whose secret takes the first four values and whose first keys are
/// `keys`.
fn endpoint_drawing(config: EndpointConfig, keys: &[u64]) -> Endpoint {
    let values = [1, 2, 3, 4].iter().chain(keys).copied().collect();
    Endpoint::with_random_source(
        config,
        Box::new(Scripted {
            values,
            then: SeededRng::new(1),
        }),
    )
}

fn capable(variant: MpCapableVariant) -> TcpOption<'static> {
    TcpOption::Mptcp(MptcpOption::MpCapable(MpCapable {
        flags: MpCapableFlags(MpCapableFlags::HMAC_SHA256),
        variant,
    }))
}

fn packet(seq: u32, ack: u32, flags: TcpFlags, options: &[TcpOption<'_>]) -> Vec<u8> {
    let seg = SegmentOut {
        seq: SeqNum(seq),
        ack: SeqNum(ack),
        flags,
        window: 65535,
        options: Default::default(),
        payload: [&[], &[]],
        stream_offset: 0,
        retransmission: false,
    };
    let mut buf = vec![0u8; 200];
    let len = emit_segment(&mut buf, addr(CLIENT), addr(SERVER), &seg, options);
    buf.truncate(len);
    buf
}

/// The SYN-ACK's ISN and MP_CAPABLE key.
fn syn_ack(endpoint: &mut Endpoint, now: Instant) -> (u32, Option<u64>) {
    let mut buf = vec![0u8; 200];
    let len = endpoint.poll_transmit(now, &mut buf).expect("a SYN-ACK");
    let (_, payload) = IpRepr::parse(&buf[..len]).unwrap();
    let tcp = TcpRepr::parse(payload.payload, ChecksumCheck::Skip).unwrap();
    assert!(tcp.flags.syn() && tcp.flags.ack());
    let key = TcpOptions::new(tcp.options)
        .flatten()
        .find_map(|o| match o {
            TcpOption::Mptcp(MptcpOption::MpCapable(MpCapable {
                variant: MpCapableVariant::SynAck { sender_key },
                ..
            })) => Some(sender_key),
            _ => None,
        });
    (tcp.seq_number, key)
}

/// Completes the handshake with a third ACK echoing `key`: the server's connection.
fn third_ack(endpoint: &mut Endpoint, now: Instant, isn: u32, key: u64) -> ConnectionId {
    let ack = capable(MpCapableVariant::Ack {
        sender_key: CLIENT_KEY,
        receiver_key: key,
    });
    endpoint.handle(
        now,
        &packet(1001, isn.wrapping_add(1), TcpFlags::ACK, &[ack]),
    );
    let id = endpoint.connection_ids().next().expect("a connection");
    while endpoint.poll_event().is_some() {}
    id
}

#[test]
fn rfc8684_s3_1_a_listener_whose_key_token_is_taken_picks_another_before_the_syn_ack() {
    let (taken, free) = (0xaaaa_0000_0000_0001, 0xbbbb_0000_0000_0002);
    let mut server = endpoint_drawing(EndpointConfig::default(), &[taken, free]);
    server
        .tokens
        .register_key(taken, ConnectionId(999))
        .unwrap();
    server.listen(addr(SERVER)).unwrap();
    let now = Instant::from_millis(10);
    server.handle(
        now,
        &packet(1000, 0, TcpFlags::SYN, &[capable(MpCapableVariant::Syn)]),
    );
    let (isn, key) = syn_ack(&mut server, now);
    assert_eq!(
        key,
        Some(free),
        "the SYN-ACK announces a key with a free token"
    );
    // The token is held for the half-open connection: a join naming it is refused.
    assert_eq!(
        server.tokens.lookup(crate::crypto::token(free)),
        Some(ConnectionId(0))
    );
    let id = third_ack(&mut server, now, isn, free);
    let m = server.connection(id).unwrap().as_mptcp().expect("MPTCP");
    assert_eq!(m.local_key().key, free);
    assert_eq!(server.stats().mptcp_token_collisions, 0);
}

#[test]
fn a_half_open_connection_that_ends_frees_its_token() {
    let mut server = endpoint_drawing(EndpointConfig::default(), &[7]);
    server.listen(addr(SERVER)).unwrap();
    let now = Instant::from_millis(10);
    server.handle(
        now,
        &packet(1000, 0, TcpFlags::SYN, &[capable(MpCapableVariant::Syn)]),
    );
    let (isn, _) = syn_ack(&mut server, now);
    assert!(server.tokens.contains(crate::crypto::token(7)));
    server.handle(now, &packet(1001, isn.wrapping_add(1), TcpFlags::RST, &[]));
    // An ended connection stays for its owner to read until the next poll.
    assert!(server.poll_transmit(now, &mut [0; 1500]).is_none());
    assert!(server.connection_ids().next().is_none());
    assert!(
        server.tokens.is_empty(),
        "the token went with the connection"
    );
}

#[test]
fn rfc8684_s3_1_a_cookie_syn_ack_skips_keys_whose_token_is_taken() {
    let config = EndpointConfig {
        syn_backlog: 0,
        ..Default::default()
    };
    let mut server = Endpoint::new(config, 3);
    server.listen(addr(SERVER)).unwrap();
    let now = Instant::from_millis(10);
    let cookie = super::syn_cookie::make(
        &server.secret,
        now,
        addr(SERVER),
        addr(CLIENT),
        SeqNum(1000),
        None,
    );
    let key = |attempt| {
        server
            .secret
            .cookie_mptcp_key(addr(SERVER), addr(CLIENT), cookie, attempt)
    };
    let (first, second) = (key(0), key(1));
    server
        .tokens
        .register_key(first, ConnectionId(999))
        .unwrap();
    server.handle(
        now,
        &packet(1000, 0, TcpFlags::SYN, &[capable(MpCapableVariant::Syn)]),
    );
    let (isn, announced) = syn_ack(&mut server, now);
    assert_eq!(isn, cookie.0);
    assert_eq!(announced, Some(second));
    assert_eq!(server.tokens.len(), 1, "a cookie holds no token");
    let id = third_ack(&mut server, now, isn, second);
    let m = server.connection(id).unwrap().as_mptcp().expect("MPTCP");
    assert_eq!(m.local_key().key, second);
    assert_eq!(server.stats().syn_cookies_accepted, 1);
}

#[test]
fn a_cookie_syn_ack_offers_no_mptcp_when_every_key_collides() {
    let config = EndpointConfig {
        syn_backlog: 0,
        ..Default::default()
    };
    let mut server = Endpoint::new(config, 3);
    server.listen(addr(SERVER)).unwrap();
    let now = Instant::from_millis(10);
    let cookie = super::syn_cookie::make(
        &server.secret,
        now,
        addr(SERVER),
        addr(CLIENT),
        SeqNum(1000),
        None,
    );
    for attempt in 0..super::syn_cookie::COOKIE_KEY_TRIES {
        let key = server
            .secret
            .cookie_mptcp_key(addr(SERVER), addr(CLIENT), cookie, attempt);
        server
            .tokens
            .register_key(key, ConnectionId(900 + u64::from(attempt)))
            .unwrap();
    }
    server.handle(
        now,
        &packet(1000, 0, TcpFlags::SYN, &[capable(MpCapableVariant::Syn)]),
    );
    let (_, announced) = syn_ack(&mut server, now);
    assert_eq!(announced, None);
    assert_eq!(server.stats().mptcp_token_collisions, 1);
}

#[test]
fn the_seeded_endpoint_repeats_itself_and_seeds_differ() {
    let isn_and_key = |seed| {
        let mut server = Endpoint::new(EndpointConfig::default(), seed);
        server.listen(addr(SERVER)).unwrap();
        let now = Instant::from_millis(10);
        server.handle(
            now,
            &packet(1000, 0, TcpFlags::SYN, &[capable(MpCapableVariant::Syn)]),
        );
        syn_ack(&mut server, now)
    };
    assert_eq!(isn_and_key(5), isn_and_key(5));
    assert_ne!(isn_and_key(5), isn_and_key(6));
}
