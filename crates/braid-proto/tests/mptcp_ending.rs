//! How MPTCP connections end whatever happens to their paths (RFC 8684 §3.3.3,
//! §3.3.6): the DATA_FIN reaches the peer, the subflows close, a window update lost
//! cannot deadlock the sender, and a connection that loses every subflow waits for
//! one to come back before it gives up. Each transfer checks every byte and that both
//! ends saw the end of the stream within a bound.

mod support;

use std::net::IpAddr;

use braid_proto::endpoint::{Connection, ConnectionId, EndpointConfig, EndpointEvent};
use braid_proto::mptcp::MptcpConnection;
use braid_proto::tcp::{CloseReason, TcpEvent};
use braid_proto::time::{Duration, Instant};
use braid_proto::wire::IpRepr;
use support::{addr, Pair};

const CLIENT: &str = "10.0.0.1:40000";
const SECOND: &str = "10.0.0.3";
const SERVER: &str = "10.0.0.2:5001";

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8 ^ seed).collect()
}

fn with_endpoints(endpoints: &[&str]) -> EndpointConfig {
    let mut config = EndpointConfig::default();
    config.mptcp.path_manager.endpoints = endpoints.iter().map(|e| e.parse().unwrap()).collect();
    config.mptcp.path_manager.assign_ids();
    config
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The source and destination addresses of a packet.
fn ips(packet: &[u8]) -> (IpAddr, IpAddr) {
    let (ip, _) = IpRepr::parse(packet).expect("IP");
    (ip.src_addr(), ip.dst_addr())
}

/// What a transfer saw, end to end.
#[derive(Debug, Default)]
struct Ends {
    client_received: Vec<u8>,
    server_received: Vec<u8>,
    /// When each end saw the other's end of stream (its last byte read).
    client_saw_end: Option<Instant>,
    server_saw_end: Option<Instant>,
    client_reason: Option<CloseReason>,
    server_reason: Option<CloseReason>,
    /// When the client finished writing and closed.
    client_closed_at: Option<Instant>,
}

/// Runs an exchange until both ends saw the end of the stream and the endpoints
/// dropped the connection, or `deadline`: the client writes `up` and closes, the
/// server writes `down` and closes once it saw the client's end. `step` runs after
/// every step, to break paths or bring them back.
fn exchange(
    pair: &mut Pair,
    client: ConnectionId,
    up: &[u8],
    down: &[u8],
    deadline: Duration,
    step: impl FnMut(&mut Pair, &Ends),
) -> Ends {
    exchange_in_order(pair, client, up, down, deadline, Order::ClientFirst, step)
}

/// [`exchange`] during which the client's address 10.0.0.1 goes away once the server
/// has more than `gone_after` bytes, and `back` brings it back `outage` later.
fn exchange_across_an_outage(
    pair: &mut Pair,
    client: ConnectionId,
    (up, down): (&[u8], &[u8]),
    gone_after: usize,
    outage: Duration,
    back: impl Fn(&mut Pair),
) -> Ends {
    let mut gone_at = None;
    let mut is_back = false;
    let x = exchange(pair, client, up, down, Duration::from_secs(60), |p, x| {
        let now = p.now;
        match gone_at {
            None if x.server_received.len() > gone_after => {
                p.endpoints[0].remove_local_address(now, ip("10.0.0.1"));
                gone_at = Some(now);
            }
            Some(t) if !is_back && now >= t + outage => {
                back(p);
                is_back = true;
            }
            _ => {}
        }
    });
    assert!(is_back, "the address came back before the end");
    x
}

/// Who closes first.
#[derive(Clone, Copy, PartialEq)]
enum Order {
    /// The client once it wrote everything; the server once it saw the client's end.
    ClientFirst,
    /// The server once it wrote everything; the client once the server's subflows
    /// are all half closed (FIN-WAIT-2): the server then sends nothing unprompted.
    ServerFirst,
}

fn exchange_in_order(
    pair: &mut Pair,
    client: ConnectionId,
    up: &[u8],
    down: &[u8],
    deadline: Duration,
    order: Order,
    mut step: impl FnMut(&mut Pair, &Ends),
) -> Ends {
    let mut x = Ends::default();
    let (mut up_written, mut down_written) = (0, 0);
    let mut server_closed = false;
    let mut buf = vec![0u8; 65536];
    let deadline = pair.now + deadline;
    pair.run_until(deadline, |p| {
        let server_half_closed = p
            .accepted()
            .and_then(|server| mptcp(p, 1, server))
            .is_some_and(|m| {
                m.subflows()
                    .all(|s| s.tcp().state() == braid_proto::tcp::TcpState::FinWait2)
            });
        if let Some(c) = p.endpoints[0].connection_mut(client) {
            up_written += c.write(&up[up_written..]);
            let client_may_close = order == Order::ClientFirst || server_half_closed;
            if up_written == up.len() && client_may_close && x.client_closed_at.is_none() {
                c.close();
                x.client_closed_at = Some(p.now);
            }
            read_into(c, &mut buf, &mut x.client_received);
            if c.is_read_closed() {
                x.client_saw_end.get_or_insert(p.now);
            }
        }
        x.client_reason = x.client_reason.or(closed_reason(p, 0, client));
        if let Some(server) = p.accepted() {
            if let Some(c) = p.endpoints[1].connection_mut(server) {
                down_written += c.write(&down[down_written..]);
                read_into(c, &mut buf, &mut x.server_received);
                if c.is_read_closed() {
                    x.server_saw_end.get_or_insert(p.now);
                }
                let server_may_close = order == Order::ServerFirst || x.server_saw_end.is_some();
                if down_written == down.len() && server_may_close && !server_closed {
                    c.close();
                    server_closed = true;
                }
            }
            x.server_reason = x.server_reason.or(closed_reason(p, 1, server));
        }
        step(p, &x);
        x.client_saw_end.is_some()
            && x.server_saw_end.is_some()
            && p.endpoints
                .iter()
                .all(|e| e.connection_ids().next().is_none())
    });
    x
}

/// The reason connection `id` of endpoint `side` ended, from the endpoint's events.
fn closed_reason(pair: &Pair, side: usize, id: ConnectionId) -> Option<CloseReason> {
    pair.events[side].iter().find_map(|e| match *e {
        EndpointEvent::Connection {
            connection,
            event: TcpEvent::Closed(reason),
        } if connection == id => Some(reason),
        _ => None,
    })
}

fn read_into(c: &mut Connection, buf: &mut [u8], into: &mut Vec<u8>) {
    loop {
        let n = c.read(buf);
        if n == 0 {
            return;
        }
        into.extend_from_slice(&buf[..n]);
    }
}

fn mptcp(pair: &Pair, side: usize, id: ConnectionId) -> Option<&MptcpConnection> {
    pair.endpoints[side]
        .connection(id)
        .and_then(Connection::as_mptcp)
}

fn pair_with(client: EndpointConfig, delay_ms: u64) -> (Pair, ConnectionId) {
    pair_between(client, EndpointConfig::default(), delay_ms)
}

fn pair_between(
    client: EndpointConfig,
    server: EndpointConfig,
    delay_ms: u64,
) -> (Pair, ConnectionId) {
    let mut pair = Pair::with_configs(client, server, Duration::from_millis(delay_ms));
    pair.rate = 5_000_000;
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    let client = pair.endpoints[0]
        .connect(Instant::ZERO, addr(CLIENT), addr(SERVER))
        .unwrap();
    (pair, client)
}

fn assert_both_ends(x: &Ends, up: &[u8], down: &[u8], within: Duration) {
    assert!(
        x.server_received == up,
        "upload: {} of {} bytes",
        x.server_received.len(),
        up.len()
    );
    assert!(
        x.client_received == down,
        "download: {} of {} bytes",
        x.client_received.len(),
        down.len()
    );
    let closed = x.client_closed_at.expect("the client closed");
    let server_end = x
        .server_saw_end
        .expect("the server never saw the end of the stream");
    let client_end = x
        .client_saw_end
        .expect("the client never saw the end of the stream");
    assert!(
        server_end <= closed + within && client_end <= closed + within,
        "ends seen at {server_end:?} (server) and {client_end:?} (client), {within:?} after {closed:?} at most"
    );
    assert_eq!(x.client_reason, Some(CloseReason::Finished));
    assert_eq!(x.server_reason, Some(CloseReason::Finished));
}

#[test]
fn rfc8684_s3_3_3_an_empty_request_ends_at_once() {
    // The client writes nothing and closes at once; the server answers nothing. The
    // client's DATA_FIN must not wait behind the MP_CAPABLE it repeats until the
    // server shows it has the keys: that server never sends a DSS of its own first.
    let (mut pair, client) = pair_with(EndpointConfig::default(), 10);
    let x = exchange(
        &mut pair,
        client,
        &[],
        &[],
        Duration::from_secs(10),
        |_, _| {},
    );
    assert_both_ends(&x, &[], &[], Duration::from_millis(200));
}

#[test]
fn rfc8684_s3_3_3_an_empty_response_ends_at_once() {
    let (mut pair, client) = pair_with(EndpointConfig::default(), 10);
    let up = pattern(50_000, 1);
    let x = exchange(
        &mut pair,
        client,
        &up,
        &[],
        Duration::from_secs(10),
        |_, _| {},
    );
    assert_both_ends(&x, &up, &[], Duration::from_millis(300));
}

#[test]
fn rfc8684_s3_3_3_a_data_fin_on_an_empty_segment_is_acknowledged_by_a_peer_that_finished() {
    // The server sends its response and closes; once its DATA_FIN is acknowledged
    // its subflows are half closed (FIN-WAIT-2) and it sends nothing unprompted. The
    // client's DATA_FIN, later, rides on pure ACKs, which TCP never acknowledges: the
    // server must still answer it with a DATA_ACK.
    let (mut pair, client) = two_subflows();
    let up = pattern(20_000, 7);
    let down = pattern(300_000, 8);
    let x = exchange_in_order(
        &mut pair,
        client,
        &up,
        &down,
        Duration::from_secs(30),
        Order::ServerFirst,
        |_, _| {},
    );
    assert_both_ends(&x, &up, &down, Duration::from_millis(200));
}

#[test]
fn rfc8684_s3_7_a_connection_that_fell_back_ends_as_tcp_does() {
    // The server has no MPTCP. The client's connection, plain TCP now, reports its
    // end when its TCP does (entering TIME-WAIT), and as finished: the subflow's
    // TIME-WAIT expiring later must not turn it into a reset.
    let mut plain = EndpointConfig::default();
    plain.mptcp.enabled = false;
    let mut pair = Pair::with_configs(EndpointConfig::default(), plain, Duration::from_millis(10));
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    let client = pair.endpoints[0]
        .connect(Instant::ZERO, addr(CLIENT), addr(SERVER))
        .unwrap();
    let up = pattern(30_000, 9);
    let down = pattern(40_000, 10);
    let x = exchange(
        &mut pair,
        client,
        &up,
        &down,
        Duration::from_secs(120),
        |_, _| {},
    );
    assert_both_ends(&x, &up, &down, Duration::from_millis(200));
}

/// A client with a second address: it joins from it once the server has shown it
/// has the keys (its first DSS, when data flows).
fn two_subflows() -> (Pair, ConnectionId) {
    pair_with(with_endpoints(&[&format!("{SECOND},subflow")]), 10)
}

fn usable_subflows(pair: &Pair, client: ConnectionId) -> usize {
    mptcp(pair, 0, client).map_or(0, |m| m.subflows().filter(|s| s.is_usable()).count())
}

#[test]
fn rfc8684_s3_3_3_the_data_fin_reaches_the_peer_when_the_first_path_dies_silently() {
    // Once the upload is written, the first path drops everything, without any
    // interface event: the DATA_FIN must reach the server over the second subflow,
    // not only over a subflow that will never deliver it.
    let (mut pair, client) = two_subflows();
    let up = pattern(300_000, 2);
    let first = ip("10.0.0.1");
    let x = {
        let dead = std::rc::Rc::new(std::cell::Cell::new(false));
        let flag = dead.clone();
        pair.drop = Box::new(move |_, _, packet| {
            let (src, dst) = ips(packet);
            flag.get() && (src == first || dst == first)
        });
        let mut joined = false;
        let x = exchange(
            &mut pair,
            client,
            &up,
            &[],
            Duration::from_secs(30),
            |p, x| {
                joined |= usable_subflows(p, client) == 2;
                if x.client_closed_at.is_some() && joined {
                    dead.set(true);
                }
            },
        );
        assert!(joined, "the second subflow joined");
        x
    };
    assert!(
        x.server_received == up,
        "upload differs: {} of {} bytes by {:?}",
        x.server_received.len(),
        up.len(),
        pair.now
    );
    let closed = x.client_closed_at.unwrap();
    let end = x.server_saw_end.expect("the server never saw the DATA_FIN");
    assert!(
        end <= closed + Duration::from_secs(2),
        "DATA_FIN seen {:?} after close",
        end - closed
    );
}

#[test]
fn rfc8684_s3_3_3_a_lost_data_fin_is_sent_again() {
    // The first three segments that carry the client's DATA_FIN are lost.
    let (mut pair, client) = pair_with(EndpointConfig::default(), 10);
    let mut lost = 0;
    pair.drop = Box::new(move |dir, _, packet| {
        let carries_fin = support::mptcp_options_of(packet)
            .iter()
            .any(|o| matches!(o, braid_proto::wire::mptcp::MptcpOption::Dss(d) if d.data_fin));
        if dir == 0 && carries_fin && lost < 3 {
            lost += 1;
            return true;
        }
        false
    });
    let up = pattern(100_000, 3);
    let x = exchange(
        &mut pair,
        client,
        &up,
        &[],
        Duration::from_secs(30),
        |_, _| {},
    );
    assert_both_ends(&x, &up, &[], Duration::from_secs(5));
}

#[test]
fn rfc9293_s3_8_6_1_a_lost_window_update_cannot_deadlock_the_sender() {
    // The server reads nothing for two seconds, so the client fills the window;
    // the window updates of the server's first reads are all lost. Without a probe
    // of the closed window nothing would move again.
    let mut server = EndpointConfig::default();
    server.tcp.recv_buffer = 200_000;
    server.tcp.initial_recv_buffer = 200_000;
    let (mut pair, client) = pair_between(EndpointConfig::default(), server, 10);
    let up = pattern(4_000_000, 4);
    let reading_at = Instant::ZERO + Duration::from_secs(2);
    let updates_lost_until = reading_at + Duration::from_millis(100);
    let clock = std::rc::Rc::new(std::cell::Cell::new(Instant::ZERO));
    let now = clock.clone();
    pair.drop = Box::new(move |dir, _, _| {
        dir == 1 && (reading_at..updates_lost_until).contains(&now.get())
    });
    let mut written = 0;
    let mut received = Vec::new();
    let mut buf = vec![0u8; 65536];
    // Until the server reads, the client fills the window (the harness jumps to the
    // deadline once nothing is due); then the server reads.
    pair.run_until(reading_at, |p| {
        if let Some(c) = p.endpoints[0].connection_mut(client) {
            written += c.write(&up[written..]);
        }
        false
    });
    pair.run_until(Instant::ZERO + Duration::from_secs(60), |p| {
        clock.set(p.now);
        if let Some(c) = p.endpoints[0].connection_mut(client) {
            written += c.write(&up[written..]);
        }
        if let Some(c) = p.accepted().and_then(|s| p.endpoints[1].connection_mut(s)) {
            read_into(c, &mut buf, &mut received);
        }
        received.len() == up.len()
    });
    assert!(
        received == up,
        "{} of {} bytes arrived",
        received.len(),
        up.len()
    );
    assert!(
        pair.now < reading_at + Duration::from_secs(10),
        "took until {:?}",
        pair.now
    );
}

#[test]
fn rfc8684_s3_3_3_once_our_data_fin_is_acknowledged_the_subflows_close() {
    // The client uploads and closes; the server goes on sending for a while. The
    // client's subflows close (FIN) as soon as its DATA_FIN is acknowledged, and the
    // server's data still arrives over them.
    let (mut pair, client) = two_subflows();
    let up = pattern(100_000, 5);
    let down = pattern(2_000_000, 6);
    let mut half_closed_while_receiving = false;
    let x = exchange(
        &mut pair,
        client,
        &up,
        &down,
        Duration::from_secs(60),
        |p, x| {
            let Some(m) = mptcp(p, 0, client) else { return };
            let receiving = x.client_received.len() < 2_000_000;
            let all_fin_sent = m.subflows().all(|s| {
                matches!(
                    s.tcp().state(),
                    braid_proto::tcp::TcpState::FinWait1 | braid_proto::tcp::TcpState::FinWait2
                )
            });
            half_closed_while_receiving |=
                receiving && all_fin_sent && x.client_received.len() > 100_000;
        },
    );
    assert_both_ends(&x, &up, &down, Duration::from_secs(10));
    assert!(
        half_closed_while_receiving,
        "the client's subflows stayed open after its DATA_FIN was acknowledged"
    );
}

#[test]
fn rfc8684_s3_3_3_a_connection_that_lost_every_subflow_is_resumed_by_a_new_one() {
    // The client's only address goes away mid-upload (its subflow is reset) and
    // comes back two seconds later: the connection waited, the client joins again
    // from it, and the upload completes intact (break-before-make).
    let (mut pair, client) = pair_with(EndpointConfig::default(), 10);
    // No timer runs while the only path is gone: the loop wakes up to bring it back.
    pair.tick = Some(Duration::from_millis(100));
    let up = pattern(2_000_000, 7);
    let x = exchange_across_an_outage(
        &mut pair,
        client,
        (&up, &[]),
        500_000,
        Duration::from_secs(2),
        |p| {
            let endpoint = "10.0.0.1,subflow".parse().unwrap();
            p.endpoints[0].add_local_address(p.now, endpoint);
        },
    );
    if std::env::var("DEBUG_ENDING").is_ok() {
        for side in 0..2 {
            for e in &pair.events[side] {
                if !matches!(e, EndpointEvent::Connection { .. }) {
                    eprintln!("{side}: {e:?}");
                }
            }
        }
        eprintln!(
            "client {:?}",
            pair.endpoints[0].connection(client).map(|c| c.state())
        );
        eprintln!(
            "stats {:?} {:?}",
            pair.endpoints[0].stats(),
            pair.endpoints[1].stats()
        );
    }
    assert_both_ends(&x, &up, &[], Duration::from_secs(30));
}

#[test]
fn rfc8684_s3_3_3_the_only_path_back_without_an_endpoint_resumes_the_connection() {
    // As above, but the address is the initial one and no endpoint is configured on
    // it (a client with one interface): its coming back alone re-creates the subflow
    // as a join with id 0, and the transfer completes in both directions.
    let (mut pair, client) = pair_with(EndpointConfig::default(), 10);
    // No timer runs while the only path is gone: the loop wakes up to bring it back.
    pair.tick = Some(Duration::from_millis(100));
    let up = pattern(1_000_000, 11);
    let down = pattern(1_000_000, 12);
    let x = exchange_across_an_outage(
        &mut pair,
        client,
        (&up, &down),
        300_000,
        Duration::from_secs(3),
        |p| p.endpoints[0].local_address_back(p.now, ip("10.0.0.1")),
    );
    assert_both_ends(&x, &up, &down, Duration::from_secs(30));
    assert_eq!(x.client_reason, Some(CloseReason::Finished));
}

#[test]
fn rfc8684_s3_3_3_without_any_subflow_the_connection_ends_after_the_close_timeout() {
    let mut config = EndpointConfig::default();
    config.mptcp.close_timeout = Duration::from_secs(5);
    let (mut pair, client) = pair_with(config, 10);
    let up = pattern(2_000_000, 8);
    let mut gone_at = None;
    let x = exchange(
        &mut pair,
        client,
        &up,
        &[],
        Duration::from_secs(30),
        |p, x| {
            if gone_at.is_none() && x.server_received.len() > 500_000 {
                let now = p.now;
                p.endpoints[0].remove_local_address(now, ip("10.0.0.1"));
                gone_at = Some(now);
            }
        },
    );
    let gone_at = gone_at.expect("the address went away");
    assert!(
        up.starts_with(&x.server_received),
        "what arrived is not a prefix"
    );
    assert!(x.server_received.len() < up.len());
    // The client ends when its close timeout expires, not before.
    let reason = x.client_reason.expect("the client's connection ended");
    assert_ne!(reason, CloseReason::Finished);
    assert!(
        pair.now >= gone_at + Duration::from_secs(5),
        "ended at {:?}",
        pair.now
    );
}

#[test]
fn a_path_that_flaps_twenty_times_is_joined_again_every_time() {
    // The second address goes away and comes back twenty times during an upload;
    // every time it comes back the client joins from it again, ended subflows are
    // removed (they do not count against the limits), and every byte arrives.
    let (mut pair, client) = two_subflows();
    let up = pattern(40_000_000, 9);
    let mut flaps = 0;
    let mut changed_at = Instant::ZERO;
    let mut most_subflows = 0;
    let mut down = false;
    let mut joins_seen = std::collections::BTreeSet::new();
    let x = exchange(
        &mut pair,
        client,
        &up,
        &[],
        Duration::from_secs(120),
        |p, _| {
            let now = p.now;
            let Some(m) = mptcp(p, 0, client) else {
                return;
            };
            most_subflows = most_subflows.max(m.subflows().count());
            let second: Vec<_> = m
                .subflows()
                .filter(|s| s.is_usable() && s.tcp().local().ip() == ip(SECOND))
                .map(|s| s.id())
                .collect();
            joins_seen.extend(second.iter().copied());
            let settled = now >= changed_at + Duration::from_millis(100);
            if !down && !second.is_empty() && flaps < 20 && settled {
                p.endpoints[0].remove_local_address(now, ip(SECOND));
                flaps += 1;
                down = true;
                changed_at = now;
            } else if down && settled {
                let endpoint = format!("{SECOND},subflow").parse().unwrap();
                p.endpoints[0].add_local_address(now, endpoint);
                down = false;
                changed_at = now;
            }
        },
    );
    assert_eq!(flaps, 20, "flapped {flaps} times before the upload ended");
    // The first join, then one after each flap.
    assert_eq!(joins_seen.len(), 21, "joins: {joins_seen:?}");
    assert!(
        most_subflows <= 3,
        "ended subflows kept: {most_subflows} at once"
    );
    assert_both_ends(&x, &up, &[], Duration::from_secs(10));
}

#[test]
fn rfc8684_s3_3_3_a_data_fin_nobody_acknowledges_is_given_up_after_the_close_timeout() {
    // The server vanishes once it has the client's whole stream: nothing it sends
    // arrives any more. The client's DATA_FIN rides on pure ACKs, which TCP never
    // retransmits on its own; the connection must still end, with MP_FASTCLOSE, once
    // the close timeout has passed since the DATA_FIN first went out.
    let (mut pair, client) = pair_with(EndpointConfig::default(), 10);
    let vanished = std::rc::Rc::new(std::cell::Cell::new(false));
    let gone = vanished.clone();
    pair.drop = Box::new(move |from, _, _| from == 1 && gone.get());
    let up = pattern(200_000, 13);
    let mut ended_at = None;
    let x = exchange(
        &mut pair,
        client,
        &up,
        &[],
        Duration::from_secs(120),
        |p, x| {
            if x.server_saw_end.is_some() {
                vanished.set(true);
            }
            if x.client_reason.is_some() {
                ended_at.get_or_insert(p.now);
            }
        },
    );
    assert_eq!(x.server_received, up);
    assert_eq!(x.client_reason, Some(CloseReason::TimedOut));
    assert!(
        pair.endpoints[0].connection(client).is_none(),
        "the client's connection is gone"
    );
    // Given up 60 s after the DATA_FIN first left (right after the close), not
    // before, and not much after.
    let closed = x.client_closed_at.expect("the client closed");
    let ended = ended_at.expect("the client's connection ended");
    assert!(
        ended >= closed + Duration::from_secs(60) && ended <= closed + Duration::from_secs(61),
        "ended at {ended:?}, closed at {closed:?}"
    );
}

#[test]
fn rfc8684_s3_3_3_a_repeated_data_fin_is_acknowledged_after_the_end() {
    // The DATA_ACK for the server's DATA_FIN is lost on the way back, with every
    // segment from the client for a while: the client has finished, and must still
    // acknowledge the DATA_FIN the server repeats, or the server never ends.
    let (mut pair, client) = pair_with(EndpointConfig::default(), 10);
    let blackout = std::rc::Rc::new(std::cell::Cell::new(None::<Instant>));
    let window = blackout.clone();
    let clock = std::rc::Rc::new(std::cell::Cell::new(Instant::ZERO));
    let now = clock.clone();
    pair.drop = Box::new(move |from, _, _| {
        from == 0
            && window
                .get()
                .is_some_and(|t| now.get() < t + Duration::from_secs(2))
    });
    let up = pattern(100_000, 14);
    let down = pattern(100_000, 15);
    let x = exchange(
        &mut pair,
        client,
        &up,
        &down,
        Duration::from_secs(60),
        |p, x| {
            clock.set(p.now);
            if x.client_saw_end.is_some() && blackout.get().is_none() {
                blackout.set(Some(p.now));
            }
        },
    );
    assert!(blackout.get().is_some());
    assert_both_ends(&x, &up, &down, Duration::from_secs(30));
}

#[test]
fn rfc8684_s3_7_a_connection_that_fell_back_outlives_its_address_going_away() {
    // The server does not speak MPTCP: the connection is plain TCP. Its address going
    // away for a moment (a link down, then up) must not reset it, as it would not
    // reset a TCP connection: the transfer completes.
    let mut server = EndpointConfig::default();
    server.mptcp.enabled = false;
    let mut pair = Pair::with_configs(EndpointConfig::default(), server, Duration::from_millis(10));
    pair.rate = 5_000_000;
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    let client = pair.endpoints[0]
        .connect(Instant::ZERO, addr(CLIENT), addr(SERVER))
        .unwrap();
    let up = pattern(1_000_000, 16);
    let x = exchange_across_an_outage(
        &mut pair,
        client,
        (&up, &[]),
        200_000,
        Duration::from_millis(100),
        |p| p.endpoints[0].local_address_back(p.now, ip("10.0.0.1")),
    );
    assert_both_ends(&x, &up, &[], Duration::from_secs(30));
}

#[test]
fn rfc8684_s3_3_3_subflows_that_cannot_finish_closing_are_reset_after_the_linger_timeout() {
    // Both ends saw the other's end of stream, then the path dies for good: the
    // subflows' FINs and their ACKs are lost and they would wait forever. The
    // connection ends as finished, and the subflows are reset, once the linger
    // timeout (60 s) has passed.
    let (mut pair, client) = pair_with(EndpointConfig::default(), 10);
    let dead = std::rc::Rc::new(std::cell::Cell::new(false));
    let path = dead.clone();
    pair.drop = Box::new(move |_, _, _| path.get());
    let up = pattern(100_000, 17);
    let down = pattern(100_000, 18);
    let mut dead_at = None;
    let x = exchange(
        &mut pair,
        client,
        &up,
        &down,
        Duration::from_secs(120),
        |p, x| {
            if x.client_saw_end.is_some() && x.server_saw_end.is_some() && dead_at.is_none() {
                dead.set(true);
                dead_at = Some(p.now);
            }
        },
    );
    let dead_at = dead_at.expect("the path died after both ends");
    assert_eq!(x.client_received, down);
    assert_eq!(x.server_received, up);
    // Finished, not failed: the stream was complete at both ends.
    assert_eq!(x.client_reason, Some(CloseReason::Finished));
    assert_eq!(x.server_reason, Some(CloseReason::Finished));
    // Both endpoints let go of the connection within the linger timeout and the
    // TIME-WAIT that may follow it.
    assert!(
        pair.endpoints
            .iter()
            .all(|e| e.connection_ids().next().is_none()),
        "connections left at {:?}, the path died at {dead_at:?}",
        pair.now
    );
    assert!(
        pair.now <= dead_at + Duration::from_secs(61),
        "ended at {:?}, the path died at {dead_at:?}",
        pair.now
    );
}
