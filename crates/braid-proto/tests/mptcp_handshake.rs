//! The MPTCP handshakes between two braid endpoints at their edges (RFC 8684 §3.1,
//! §3.2, §3.4, §3.7): MP_JOIN HMACs that do not verify, in either direction; a lost
//! fourth ACK; MP_CAPABLE of a higher version, or without the flags braid needs;
//! SYNs with MP_CAPABLE dropped on the way; the A (checksums) and C (no joins to
//! the initial address) flags; address id 0.

mod support;

use std::cell::RefCell;
use std::rc::Rc;

use braid_proto::endpoint::{Connection, ConnectionId, EndpointConfig};
use braid_proto::mptcp::{Handshake, MptcpConnection};
use braid_proto::time::{Duration, Instant};
use braid_proto::wire::mptcp::{MpCapableFlags, MpJoin, MpTcpRstReason, MptcpOption};
use support::{addr, mptcp_options_of, tcp_fields, Pair};

const CLIENT: &str = "10.0.0.1:40000";
const SERVER: &str = "10.0.0.2:5001";
/// The client's second address, a `subflow` endpoint: it joins from there.
const CLIENT_SECOND_IP: &str = "10.0.0.3";

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
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

fn with_endpoints(endpoints: &[&str]) -> EndpointConfig {
    let mut config = EndpointConfig::default();
    config.mptcp.path_manager.endpoints = endpoints.iter().map(|e| e.parse().unwrap()).collect();
    config.mptcp.path_manager.assign_ids();
    config
}

fn mptcp_of(pair: &Pair, side: usize, id: ConnectionId) -> &MptcpConnection {
    pair.endpoints[side]
        .connection(id)
        .and_then(Connection::as_mptcp)
        .expect("an MPTCP connection")
}

/// A segment one endpoint sent, as the link saw it (after any mangling).
#[derive(Debug, Clone)]
struct Seen {
    from: usize,
    bytes: Vec<u8>,
}

impl Seen {
    fn rst(&self) -> bool {
        tcp_fields(&self.bytes).2.rst()
    }

    fn join(&self) -> Option<MpJoin> {
        mptcp_options_of(&self.bytes)
            .into_iter()
            .find_map(|o| match o {
                MptcpOption::MpJoin(j) => Some(j),
                _ => None,
            })
    }

    fn tcprst(&self) -> Option<MpTcpRstReason> {
        mptcp_options_of(&self.bytes)
            .into_iter()
            .find_map(|o| match o {
                MptcpOption::MpTcpRst(r) => Some(r.reason),
                _ => None,
            })
    }

    /// Whether it travels on a subflow of the client's second address.
    fn on_join(&self) -> bool {
        let (ip, _) = braid_proto::wire::IpRepr::parse(&self.bytes).expect("IP");
        let second: std::net::IpAddr = CLIENT_SECOND_IP.parse().unwrap();
        ip.src_addr() == second || ip.dst_addr() == second
    }
}

/// Every packet the link carried (or dropped), in order.
type Log = Rc<RefCell<Vec<Seen>>>;

/// Records every packet into the returned log; `drop` decides, per packet seen,
/// whether the link loses it.
fn log_packets(pair: &mut Pair, mut drop: impl FnMut(&Seen) -> bool + 'static) -> Log {
    let log: Log = Rc::default();
    let sink = log.clone();
    pair.drop = Box::new(move |from, _, packet| {
        let seen = Seen {
            from,
            bytes: packet.to_vec(),
        };
        let dropped = drop(&seen);
        sink.borrow_mut().push(seen);
        dropped
    });
    log
}

/// Where in an IPv4 TCP segment the endpoints sent its first MPTCP option of
/// `subtype` and `len` octets starts, if it has one.
fn mptcp_option_at(packet: &[u8], subtype: u8, len: u8) -> Option<usize> {
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let options_end = ihl + usize::from(packet[ihl + 12] >> 4) * 4;
    let mut at = ihl + 20;
    while at < options_end {
        match packet[at] {
            0 => return None,
            1 => at += 1,
            kind => {
                let option_len = usize::from(packet[at + 1]);
                if kind == 30 && packet[at + 1] == len && packet[at + 2] >> 4 == subtype {
                    return Some(at);
                }
                at += option_len.max(2);
            }
        }
    }
    None
}

/// Flips a bit of the HMAC of the MP_JOIN option of `len` octets in `packet` and
/// fixes the TCP checksum, as an attacker on the path would; returns whether the
/// packet had such an option. The HMAC starts 4 octets into the option on both the
/// SYN-ACK and the third ACK (§3.2, Figures 6 and 7).
fn corrupt_join_hmac(packet: &mut [u8], len: u8) -> bool {
    let Some(at) = mptcp_option_at(packet, MP_JOIN, len) else {
        return false;
    };
    packet[at + 4] ^= 0x01;
    fix_tcp_checksum(packet);
    true
}

const MP_CAPABLE: u8 = 0;
const MP_JOIN: u8 = 1;

/// Recomputes the TCP checksum of an IPv4 segment after a rewrite.
fn fix_tcp_checksum(packet: &mut [u8]) {
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let src = std::net::IpAddr::from([packet[12], packet[13], packet[14], packet[15]]);
    let dst = std::net::IpAddr::from([packet[16], packet[17], packet[18], packet[19]]);
    braid_proto::wire::TcpSegment::new_unchecked(&mut packet[ihl..]).fill_checksum(src, dst);
}

/// MP_JOIN options of `len` octets: 12 on a SYN, 16 on a SYN-ACK, 24 on a third ACK.
const JOIN_SYN_ACK_LEN: u8 = 16;
const JOIN_ACK_LEN: u8 = 24;

/// A client with a `subflow` endpoint on its second address uploads `bytes`; the
/// first MP_JOIN option of `len` octets that endpoint `from` sends is corrupted on
/// the way. Returns the pair, the log and the two connection ids once the upload
/// arrived.
fn upload_with_one_bad_join_hmac(
    from: usize,
    len: u8,
    bytes: usize,
) -> (Pair, Log, ConnectionId, ConnectionId) {
    let client_config = with_endpoints(&[&format!("{CLIENT_SECOND_IP},subflow")]);
    let mut pair = Pair::with_configs(
        client_config,
        EndpointConfig::default(),
        Duration::from_millis(10),
    );
    pair.rate = 5_000_000;
    let mut corrupted = false;
    pair.mangle = Box::new(move |dir, _, packet| {
        if dir == from && !corrupted {
            corrupted = corrupt_join_hmac(packet, len);
        }
    });
    let log = log_packets(&mut pair, |_| false);
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    let up = pattern(bytes);
    let (mut written, mut received) = (0, Vec::new());
    let mut buf = vec![0u8; 65536];
    pair.run_until(Instant::ZERO + Duration::from_secs(30), |p| {
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
    let server = pair.accepted().expect("accepted");
    (pair, log, client, server)
}

#[test]
fn rfc8684_s3_2_a_join_syn_ack_with_a_bad_hmac_is_reset_by_the_initiator_with_mp_tcprst() {
    let (pair, log, client, server) = upload_with_one_bad_join_hmac(1, JOIN_SYN_ACK_LEN, 1_000_000);
    let log = log.borrow();
    let c = mptcp_of(&pair, 0, client);
    let s = mptcp_of(&pair, 1, server);
    assert_eq!(c.stats().bad_join_hmacs, 1, "{:?}", c.stats());
    assert_eq!(s.stats().bad_join_hmacs, 0);
    // The client answers the bad SYN-ACK with RST and MP_TCPRST; it never sent
    // the third ACK for it.
    let first_synack = log
        .iter()
        .position(|p| p.from == 1 && p.on_join() && p.join().is_some())
        .expect("a join SYN-ACK");
    let answer = log[first_synack + 1..]
        .iter()
        .find(|p| p.from == 0 && p.on_join())
        .expect("the client's answer");
    assert!(answer.rst(), "RST, not the third ACK: {:?}", answer.join());
    assert_eq!(answer.tcprst(), Some(MpTcpRstReason::MptcpSpecific));
    assert_eq!(s.stats().mp_tcprst_received, 1, "{:?}", s.stats());
}

#[test]
fn rfc8684_s3_2_a_third_ack_with_a_bad_hmac_is_reset_by_the_listener_with_mp_tcprst() {
    let (pair, log, client, server) = upload_with_one_bad_join_hmac(0, JOIN_ACK_LEN, 1_000_000);
    let log = log.borrow();
    let c = mptcp_of(&pair, 0, client);
    let s = mptcp_of(&pair, 1, server);
    assert_eq!(s.stats().bad_join_hmacs, 1, "{:?}", s.stats());
    assert_eq!(c.stats().bad_join_hmacs, 0);
    let third_ack = log
        .iter()
        .position(|p| p.from == 0 && matches!(p.join(), Some(MpJoin::Ack { .. })))
        .expect("a third ACK");
    let answer = log[third_ack + 1..]
        .iter()
        .find(|p| p.from == 1 && p.on_join())
        .expect("the server's answer");
    assert!(answer.rst(), "RST, not the fourth ACK");
    assert_eq!(answer.tcprst(), Some(MpTcpRstReason::MptcpSpecific));
    assert_eq!(c.stats().mp_tcprst_received, 1, "{:?}", c.stats());
}

/// A client with a `subflow` endpoint on its second address uploads `bytes` while
/// the link loses the server's packets on that address's subflow that `lose`
/// picks (numbered from 0, SYN-ACK included). Returns the pair, the log, the ids,
/// and when the client's join first counted as established (its fourth ACK came).
fn upload_losing_server_packets_on_the_join(
    mut lose: impl FnMut(u64) -> bool + 'static,
    bytes: usize,
    deadline: Duration,
) -> (Pair, Log, ConnectionId, ConnectionId, Option<Instant>) {
    let client_config = with_endpoints(&[&format!("{CLIENT_SECOND_IP},subflow")]);
    let mut pair = Pair::with_configs(
        client_config,
        EndpointConfig::default(),
        Duration::from_millis(10),
    );
    pair.rate = 5_000_000;
    let mut server_packets_on_join = 0;
    let log = log_packets(&mut pair, move |p| {
        if p.from != 1 || !p.on_join() {
            return false;
        }
        server_packets_on_join += 1;
        lose(server_packets_on_join - 1)
    });
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    let up = pattern(bytes);
    let (mut written, mut received) = (0, Vec::new());
    let mut joined_at = None;
    let mut buf = vec![0u8; 65536];
    pair.run_until(Instant::ZERO + deadline, |p| {
        let now = p.now;
        let c = p.endpoints[0].connection_mut(client).unwrap();
        written += c.write(&up[written..]);
        let joined = c.as_mptcp().is_some_and(|m| {
            m.subflows()
                .any(|s| s.id().0 > 0 && s.handshake() == Handshake::Joined)
        });
        if joined && joined_at.is_none() {
            joined_at = Some(now);
        }
        if let Some(server) = p.accepted() {
            read_all(
                p.endpoints[1].connection_mut(server).unwrap(),
                &mut buf,
                &mut received,
            );
        }
        received.len() == up.len() && joined_at.is_some()
    });
    assert!(received == up, "upload differs");
    let server = pair.accepted().expect("accepted");
    (pair, log, client, server, joined_at)
}

fn third_acks_sent(log: &[Seen]) -> usize {
    log.iter()
        .filter(|p| p.from == 0 && matches!(p.join(), Some(MpJoin::Ack { .. })))
        .count()
}

#[test]
fn rfc8684_s3_2_the_third_ack_goes_again_until_the_fourth_ack_comes() {
    // The server's packet 0 on the join is its SYN-ACK, packet 1 the fourth ACK.
    let (pair, log, client, _, joined_at) =
        upload_losing_server_packets_on_the_join(|n| n == 1, 3_000_000, Duration::from_secs(30));
    let log = log.borrow();
    assert!(
        third_acks_sent(&log) >= 2,
        "the third ACK went again: {}",
        third_acks_sent(&log)
    );
    let c = mptcp_of(&pair, 0, client);
    let join = c.subflows().nth(1).expect("the join");
    assert_eq!(join.handshake(), Handshake::Joined);
    assert!(
        join.tcp().stats().bytes_sent > 100_000,
        "the join carries data once its fourth ACK came: {}",
        join.tcp().stats().bytes_sent
    );
    // The resend waits the subflow's RTO (at least the 200 ms floor) after the
    // first third ACK, about 40 ms into the connection.
    let joined_at = joined_at.expect("joined");
    eprintln!(
        "third ACKs sent: {}; the join established at {joined_at:?}",
        third_acks_sent(&log)
    );
    assert!(
        joined_at > Instant::ZERO + Duration::from_millis(200),
        "{joined_at:?}"
    );
    assert!(
        joined_at < Instant::ZERO + Duration::from_millis(600),
        "{joined_at:?}"
    );
}

#[test]
fn rfc8684_s3_2_without_a_fourth_ack_the_initiator_resets_the_join_after_its_resends() {
    // Every packet of the server on the join after its SYN-ACK is lost.
    let (pair, log, client, _, joined_at) =
        upload_losing_server_packets_on_the_join(|n| n >= 1, 2_000_000, Duration::from_secs(60));
    assert_eq!(joined_at, None, "no fourth ACK came");
    let log = log.borrow();
    let syn_retries = EndpointConfig::default().tcp.syn_retries as usize;
    assert_eq!(third_acks_sent(&log), 1 + syn_retries);
    let reset = log
        .iter()
        .find(|p| p.from == 0 && p.on_join() && p.rst())
        .expect("the initiator reset the join");
    assert_eq!(reset.tcprst(), Some(MpTcpRstReason::Unspecified));
    assert!(
        log.iter()
            .filter(|p| p.from == 0 && p.on_join())
            .all(|p| tcp_fields(&p.bytes).3 == 0),
        "data on a join before its fourth ACK"
    );
    // The path manager counts it as failed (it re-creates it, after a backoff).
    let c = mptcp_of(&pair, 0, client);
    assert!(c
        .subflows()
        .all(|s| s.id().0 == 0 || s.handshake() != Handshake::Joined));
}

/// Connects a client to a server over `pair` and uploads `bytes`; returns the
/// client's and the server's connection ids once the upload arrived, both still
/// open.
fn upload(pair: &mut Pair, bytes: usize) -> (ConnectionId, ConnectionId) {
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    let up = pattern(bytes);
    let (mut written, mut received) = (0, Vec::new());
    let mut buf = vec![0u8; 65536];
    let deadline = pair.now + Duration::from_secs(60);
    pair.run_until(deadline, |p| {
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
    (client, pair.accepted().expect("accepted"))
}

/// Rewrites the MP_CAPABLE option of `len` octets (4: SYN, 12: SYN-ACK) on the
/// first packet endpoint `from` sends with one, with `rewrite(subtype and version
/// octet, flags octet)`.
fn rewrite_capable(
    pair: &mut Pair,
    from: usize,
    len: u8,
    mut rewrite: impl FnMut(&mut u8, &mut u8) + 'static,
) {
    let mut done = false;
    pair.mangle = Box::new(move |dir, _, packet| {
        if dir != from || done {
            return;
        }
        if let Some(at) = mptcp_option_at(packet, MP_CAPABLE, len) {
            let (version, flags) = packet[at + 2..at + 4].split_at_mut(1);
            rewrite(&mut version[0], &mut flags[0]);
            fix_tcp_checksum(packet);
            done = true;
        }
    });
}

fn phase(pair: &Pair, side: usize, id: ConnectionId) -> Option<braid_proto::mptcp::Phase> {
    pair.endpoints[side]
        .connection(id)
        .and_then(Connection::as_mptcp)
        .map(MptcpConnection::phase)
}

#[test]
fn rfc8684_s3_1_a_syn_of_a_higher_version_is_answered_with_version_1() {
    let mut pair = Pair::new(EndpointConfig::default(), Duration::from_millis(10));
    // Version 2 in the SYN's MP_CAPABLE (subtype 0 in the high nibble).
    rewrite_capable(&mut pair, 0, 4, |version, _| *version = 0x02);
    let log = log_packets(&mut pair, |_| false);
    let (client, server) = upload(&mut pair, 200_000);
    let log = log.borrow();
    let syn_ack = log.iter().find(|p| p.from == 1).expect("a SYN-ACK");
    let answer = mptcp_options_of(&syn_ack.bytes);
    assert!(
        matches!(answer[..], [MptcpOption::MpCapable(c)] if c.flags.hmac_sha256()),
        "a version 1 MP_CAPABLE: {answer:?}"
    );
    use braid_proto::mptcp::Phase::Established;
    assert_eq!(phase(&pair, 0, client), Some(Established));
    assert_eq!(phase(&pair, 1, server), Some(Established));
    assert_eq!(pair.endpoints[1].stats().mptcp_version_fallbacks, 0);
}

#[test]
fn rfc8684_s3_1_a_syn_whose_mp_capable_lacks_h_or_sets_b_gets_plain_tcp() {
    let clear_h: fn(&mut u8, &mut u8) = |_, flags| *flags &= !MpCapableFlags::HMAC_SHA256;
    let set_b: fn(&mut u8, &mut u8) = |_, flags| *flags |= MpCapableFlags::EXTENSIBILITY;
    for (what, rewrite) in [("without H", clear_h), ("with B", set_b)] {
        let mut pair = Pair::new(EndpointConfig::default(), Duration::from_millis(10));
        rewrite_capable(&mut pair, 0, 4, rewrite);
        let log = log_packets(&mut pair, |_| false);
        let (client, server) = upload(&mut pair, 200_000);
        let log = log.borrow();
        let syn_ack = log.iter().find(|p| p.from == 1).expect("a SYN-ACK");
        assert!(
            mptcp_options_of(&syn_ack.bytes).is_empty(),
            "{what}: a plain TCP SYN-ACK"
        );
        assert_eq!(pair.endpoints[1].stats().mptcp_flag_fallbacks, 1, "{what}");
        assert!(
            pair.endpoints[1]
                .connection(server)
                .unwrap()
                .as_mptcp()
                .is_none(),
            "{what}: the server runs plain TCP"
        );
        assert_eq!(
            phase(&pair, 0, client),
            Some(braid_proto::mptcp::Phase::Fallback),
            "{what}"
        );
    }
}

#[test]
fn rfc8684_s3_1_a_syn_ack_whose_mp_capable_lacks_h_makes_the_client_fall_back() {
    let mut pair = Pair::new(EndpointConfig::default(), Duration::from_millis(10));
    rewrite_capable(&mut pair, 1, 12, |_, flags| {
        *flags &= !MpCapableFlags::HMAC_SHA256
    });
    let log = log_packets(&mut pair, |_| false);
    let (client, server) = upload(&mut pair, 200_000);
    let c = mptcp_of(&pair, 0, client);
    assert_eq!(c.phase(), braid_proto::mptcp::Phase::Fallback);
    assert_eq!(c.stats().fallback_no_mp_capable, 1);
    // Its third ACK carries no MP_CAPABLE, so the server stays plain TCP.
    let log = log.borrow();
    let third_ack = log
        .iter()
        .filter(|p| p.from == 0)
        .nth(1)
        .expect("third ACK");
    assert!(mptcp_options_of(&third_ack.bytes).is_empty());
    assert!(pair.endpoints[1]
        .connection(server)
        .unwrap()
        .as_mptcp()
        .is_none());
    assert_eq!(pair.endpoints[1].stats().mptcp_third_ack_fallbacks, 1);
}

/// Whether a packet is a SYN (not a SYN-ACK) carrying MP_CAPABLE.
fn mp_capable_syn(p: &Seen) -> bool {
    let flags = tcp_fields(&p.bytes).2;
    flags.syn()
        && !flags.ack()
        && mptcp_options_of(&p.bytes)
            .iter()
            .any(|o| matches!(o, MptcpOption::MpCapable(_)))
}

/// Connects and uploads while the link drops every SYN with MP_CAPABLE, as a
/// firewall that drops SYNs with unknown options would; records when the client
/// connected. `None` if it never did within `deadline`.
fn connect_through_a_firewall_dropping_mptcp_syns(
    config: EndpointConfig,
    deadline: Duration,
) -> (Pair, Log, ConnectionId, Option<Instant>) {
    let mut pair = Pair::new(config, Duration::from_millis(10));
    let log = log_packets(&mut pair, |p| p.from == 0 && mp_capable_syn(p));
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    let mut connected_at = None;
    pair.run_until(Instant::ZERO + deadline, |p| {
        let connected = p.events[0].iter().any(|e| {
            matches!(
                e,
                braid_proto::endpoint::EndpointEvent::Connection {
                    event: braid_proto::tcp::TcpEvent::Connected,
                    ..
                }
            )
        });
        if connected && connected_at.is_none() {
            connected_at = Some(p.now);
        }
        connected_at.is_some()
    });
    (pair, log, client, connected_at)
}

#[test]
fn rfc8684_s3_7_after_two_unanswered_retransmissions_the_syn_goes_without_mp_capable() {
    let (mut pair, log, client, connected_at) = connect_through_a_firewall_dropping_mptcp_syns(
        EndpointConfig::default(),
        Duration::from_secs(30),
    );
    let connected_at = connected_at.expect("connected as plain TCP");
    let syns: Vec<bool> = log
        .borrow()
        .iter()
        .filter(|p| p.from == 0 && tcp_fields(&p.bytes).2.syn())
        .map(mp_capable_syn)
        .collect();
    // The first SYN and two retransmissions (at 1 s and 3 s) carry MP_CAPABLE;
    // the third retransmission (at 7 s) does not, and gets through.
    assert_eq!(syns, [true, true, true, false]);
    eprintln!("connected as plain TCP at {connected_at:?}");
    assert!(connected_at > Instant::ZERO + Duration::from_secs(7));
    assert!(connected_at < Instant::ZERO + Duration::from_millis(7100));
    let c = mptcp_of(&pair, 0, client);
    assert_eq!(c.phase(), braid_proto::mptcp::Phase::Fallback);
    assert_eq!(c.stats().fallback_syn_unanswered, 1);
    assert_eq!(c.stats().fallbacks, 1);
    let (up, down) = (pattern(300_000), pattern(200_000));
    let x = exchange(&mut pair, client, &up, &down);
    assert!(x.0 == down && x.1 == up, "the stream is intact");
    assert_eq!(pair.endpoints[1].stats().mptcp_third_ack_fallbacks, 0);
}

#[test]
fn rfc8684_s3_7_without_a_limit_every_syn_carries_mp_capable() {
    let mut config = EndpointConfig::default();
    config.mptcp.syn_retransmissions_before_fallback = None;
    let (pair, log, client, connected_at) =
        connect_through_a_firewall_dropping_mptcp_syns(config, Duration::from_secs(300));
    assert_eq!(connected_at, None);
    let log = log.borrow();
    let syns = log.iter().filter(|p| p.from == 0).count();
    assert_eq!(syns, 1 + EndpointConfig::default().tcp.syn_retries as usize);
    assert!(log.iter().filter(|p| p.from == 0).all(mp_capable_syn));
    assert!(
        pair.endpoints[0].connection(client).is_none(),
        "the connection timed out"
    );
}

#[test]
fn rfc8684_s3_1_a_late_mp_capable_syn_ack_after_plain_syns_still_gets_plain_tcp() {
    // The server's SYN-ACKs are lost until the client has gone on with plain SYNs;
    // the next SYN-ACK, to the plain retransmission of the same SYN, still carries
    // the MP_CAPABLE the server offered to the first.
    let mut pair = Pair::new(EndpointConfig::default(), Duration::from_millis(10));
    let mut client_syns = 0;
    let log = log_packets(&mut pair, move |p| {
        let flags = tcp_fields(&p.bytes).2;
        if p.from == 0 && flags.syn() {
            client_syns += 1;
        }
        p.from == 1 && flags.syn() && client_syns <= 3
    });
    let (client, server) = upload(&mut pair, 300_000);
    let log = log.borrow();
    let late_syn_ack = log
        .iter()
        .rfind(|p| p.from == 1 && tcp_fields(&p.bytes).2.syn())
        .expect("a SYN-ACK");
    assert!(
        !mptcp_options_of(&late_syn_ack.bytes).is_empty(),
        "the server offered MPTCP"
    );
    let c = mptcp_of(&pair, 0, client);
    assert_eq!(c.phase(), braid_proto::mptcp::Phase::Fallback);
    assert_eq!(c.stats().fallback_syn_unanswered, 1);
    assert!(
        pair.endpoints[1]
            .connection(server)
            .unwrap()
            .as_mptcp()
            .is_none(),
        "the server fell back on the third ACK without MP_CAPABLE"
    );
    assert_eq!(pair.endpoints[1].stats().mptcp_third_ack_fallbacks, 1);
}

/// Sends `up` from the client and `down` from the server; returns what each
/// received (client, server).
fn exchange(pair: &mut Pair, client: ConnectionId, up: &[u8], down: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut up_written, mut down_written) = (0, 0);
    let (mut at_client, mut at_server) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 65536];
    let deadline = pair.now + Duration::from_secs(60);
    pair.run_until(deadline, |p| {
        if let Some(c) = p.endpoints[0].connection_mut(client) {
            up_written += c.write(&up[up_written..]);
            read_all(c, &mut buf, &mut at_client);
        }
        if let Some(s) = p
            .accepted()
            .and_then(|id| p.endpoints[1].connection_mut(id))
        {
            down_written += s.write(&down[down_written..]);
            read_all(s, &mut buf, &mut at_server);
        }
        at_client.len() == down.len() && at_server.len() == up.len()
    });
    (at_client, at_server)
}

/// A server that takes no joins to its initial address (C flag) and announces
/// 10.0.0.4, and a client with a `subflow` endpoint on its second address.
fn pair_with_c_flag() -> Pair {
    let client_config = with_endpoints(&[&format!("{CLIENT_SECOND_IP},subflow")]);
    let mut server_config = with_endpoints(&["10.0.0.4,signal"]);
    server_config.mptcp.allow_join_initial_address = false;
    let mut pair = Pair::with_configs(client_config, server_config, Duration::from_millis(10));
    pair.rate = 5_000_000;
    pair
}

/// The MP_JOIN SYNs in the log, by their destination.
fn join_syns_to(log: &[Seen], to: std::net::SocketAddr) -> usize {
    log.iter()
        .filter(|p| matches!(p.join(), Some(MpJoin::Syn { .. })))
        .filter(|p| {
            let (ip, payload) = braid_proto::wire::IpRepr::parse(&p.bytes).unwrap();
            let port = u16::from_be_bytes([payload.payload[2], payload.payload[3]]);
            std::net::SocketAddr::new(ip.dst_addr(), port) == to
        })
        .count()
}

#[test]
fn rfc8684_s3_1_a_client_sends_no_join_to_an_address_the_c_flag_closed() {
    let mut pair = pair_with_c_flag();
    let log = log_packets(&mut pair, |_| false);
    let (client, server) = upload(&mut pair, 3_000_000);
    let log = log.borrow();
    let syn_ack = log.iter().find(|p| p.from == 1).expect("a SYN-ACK");
    assert!(
        matches!(
            mptcp_options_of(&syn_ack.bytes)[..],
            [MptcpOption::MpCapable(c)] if c.flags.no_more_subflows()
        ),
        "the SYN-ACK sets C"
    );
    assert_eq!(join_syns_to(&log, addr(SERVER)), 0, "no join to {SERVER}");
    let c = mptcp_of(&pair, 0, client);
    let announced = c
        .subflows()
        .find(|s| s.tcp().remote() == addr("10.0.0.4:5001"))
        .expect("the announced address is joined");
    assert_eq!(announced.handshake(), Handshake::Joined);
    assert!(announced.tcp().stats().bytes_sent > 100_000);
    let s = mptcp_of(&pair, 1, server);
    assert_eq!(s.stats().joins_rejected, 0);
}

#[test]
fn rfc8684_s3_1_a_join_to_an_address_the_c_flag_closed_is_refused() {
    let mut pair = pair_with_c_flag();
    // The client does not see the C flag, and joins the initial address anyway.
    rewrite_capable(&mut pair, 1, 12, |_, flags| {
        *flags &= !MpCapableFlags::NO_MORE_SUBFLOWS
    });
    let log = log_packets(&mut pair, |_| false);
    let (_, server) = upload(&mut pair, 1_000_000);
    let log = log.borrow();
    assert!(join_syns_to(&log, addr(SERVER)) >= 1);
    let refusal = log
        .iter()
        .find(|p| p.from == 1 && p.on_join() && p.rst())
        .expect("the join refused");
    assert_eq!(
        refusal.tcprst(),
        Some(MpTcpRstReason::AdministrativelyProhibited)
    );
    assert!(pair.endpoints[1].stats().joins_refused >= 1);
    let s = mptcp_of(&pair, 1, server);
    assert!(s.stats().joins_rejected >= 1);
    assert!(
        s.subflows()
            .all(|sf| sf.tcp().remote().ip().to_string() != CLIENT_SECOND_IP
                || sf.tcp().local() != addr(SERVER)),
        "no subflow from {CLIENT_SECOND_IP} to {SERVER}"
    );
}

#[test]
fn rfc8684_s3_1_checksums_are_used_when_either_side_asks() {
    for (client_asks, server_asks) in [(true, false), (false, true), (false, false)] {
        let (mut c, mut s) = (EndpointConfig::default(), EndpointConfig::default());
        c.mptcp.checksums = client_asks;
        s.mptcp.checksums = server_asks;
        let mut pair = Pair::with_configs(c, s, Duration::from_millis(10));
        let log = log_packets(&mut pair, |_| false);
        let (client, server) = upload(&mut pair, 300_000);
        let case = format!("client asks: {client_asks}, server asks: {server_asks}");
        let log = log.borrow();
        let a_flag = |from: usize| {
            let handshake = log.iter().find(|p| p.from == from).expect("SYN, SYN-ACK");
            match mptcp_options_of(&handshake.bytes)[..] {
                [MptcpOption::MpCapable(c)] => c.flags.checksum_required(),
                ref other => panic!("{case}: {other:?}"),
            }
        };
        assert_eq!(a_flag(0), client_asks, "{case}: the SYN's A flag");
        // The listener's SYN-ACK says what is used.
        assert_eq!(
            a_flag(1),
            client_asks || server_asks,
            "{case}: the SYN-ACK's"
        );
        let used = client_asks || server_asks;
        assert_eq!(mptcp_of(&pair, 0, client).checksums(), used, "{case}");
        assert_eq!(mptcp_of(&pair, 1, server).checksums(), used, "{case}");
        // Every data segment's mapping carries a checksum, or none does.
        let mapped: Vec<bool> = log
            .iter()
            .flat_map(|p| mptcp_options_of(&p.bytes))
            .filter_map(|o| match o {
                MptcpOption::Dss(d) => d.mapping.map(|m| m.checksum.is_some()),
                _ => None,
            })
            .collect();
        assert!(!mapped.is_empty(), "{case}");
        assert!(mapped.iter().all(|&c| c == used), "{case}");
    }
}

#[test]
fn rfc8684_s3_2_the_initial_subflow_is_address_id_0_and_a_join_from_its_address_too() {
    // The server announces 10.0.0.4; the client joins it from its initial address.
    let server_config = with_endpoints(&["10.0.0.4,signal"]);
    let mut pair = Pair::with_configs(
        EndpointConfig::default(),
        server_config,
        Duration::from_millis(10),
    );
    pair.rate = 5_000_000;
    let log = log_packets(&mut pair, |_| false);
    let (client, server) = upload(&mut pair, 2_000_000);
    let (c, s) = (mptcp_of(&pair, 0, client), mptcp_of(&pair, 1, server));
    for m in [c, s] {
        let first = m.subflows().next().expect("the initial subflow");
        assert_eq!((first.local_id(), first.remote_id()), (0, 0));
    }
    let join_syn = log
        .borrow()
        .iter()
        .find_map(|p| match p.join() {
            Some(MpJoin::Syn { addr_id, .. }) => Some(addr_id),
            _ => None,
        })
        .expect("a join");
    assert_eq!(join_syn, 0, "the MP_JOIN SYN names address id 0");
    let joined = c.subflows().nth(1).expect("the join");
    assert_eq!(joined.tcp().local().ip(), addr(CLIENT).ip());
    assert_eq!((joined.local_id(), joined.remote_id()), (0, 1));
    let accepted = s.subflows().nth(1).expect("the join, accepted");
    assert_eq!((accepted.local_id(), accepted.remote_id()), (1, 0));
}

#[test]
fn rfc8684_s3_4_2_removing_the_initial_address_is_remove_addr_0() {
    let client_config = with_endpoints(&[&format!("{CLIENT_SECOND_IP},subflow")]);
    let mut pair = Pair::with_configs(
        client_config,
        EndpointConfig::default(),
        Duration::from_millis(10),
    );
    pair.rate = 5_000_000;
    let log = log_packets(&mut pair, |_| false);
    let (client, server) = upload(&mut pair, 1_000_000);
    let now = pair.now;
    pair.endpoints[0].remove_local_address(now, addr(CLIENT).ip());
    let before = log.borrow().len();
    // The rest of the stream goes over the join.
    let x = exchange(&mut pair, client, &pattern(500_000), &[]);
    assert_eq!(x.1.len(), 500_000);
    let removed: Vec<Vec<u8>> = log.borrow()[before..]
        .iter()
        .flat_map(|p| mptcp_options_of(&p.bytes))
        .filter_map(|o| match o {
            MptcpOption::RemoveAddr(r) => Some(r.addr_ids.as_slice().to_vec()),
            _ => None,
        })
        .collect();
    assert!(
        !removed.is_empty() && removed.iter().all(|ids| ids == &[0]),
        "{removed:?}"
    );
    let s = mptcp_of(&pair, 1, server);
    assert_eq!(s.stats().remove_addr_received, 1);
    assert!(
        s.subflows()
            .all(|sf| sf.remote_id() != 0 || sf.tcp().state() == braid_proto::tcp::TcpState::Closed),
        "the server keeps no subflow from address id 0"
    );
}
