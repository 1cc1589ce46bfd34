//! FIN-WAIT-2 of a connection whose owner let go of it (`TcpConnection::orphan`): it
//! waits `TcpConfig::fin_wait_2_timeout` for the peer's FIN, then aborts. A connection
//! still held, a half-closed TCP stream or an MPTCP subflow whose data level still
//! receives, waits as long as the peer sends. Two braid endpoints on virtual time.

mod support;

use braid_proto::endpoint::{ConnectionId, EndpointConfig, EndpointEvent};
use braid_proto::mptcp::MptcpEvent;
use braid_proto::tcp::{CloseReason, SubflowId, TcpEvent, TcpState};
use braid_proto::time::{Duration, Instant};
use support::{addr, Pair};

const CLIENT: &str = "10.0.0.1:40000";
const SERVER: &str = "10.0.0.2:80";

fn config(mptcp: bool) -> EndpointConfig {
    let mut config = EndpointConfig::default();
    config.mptcp.enabled = mptcp;
    config
}

/// A pair with the client's connection established and accepted by the server at
/// one second.
fn established(config: EndpointConfig) -> (Pair, ConnectionId, ConnectionId) {
    let mut pair = Pair::new(config, Duration::from_millis(10));
    pair.endpoints[1].listen(addr(SERVER)).unwrap();
    let client = pair.endpoints[0]
        .connect(pair.now, addr(CLIENT), addr(SERVER))
        .unwrap();
    pair.run_until(Instant::from_millis(1_000), |_| false);
    let server = pair.accepted().expect("accepted");
    (pair, client, server)
}

fn closes(pair: &Pair, side: usize, id: ConnectionId) -> Vec<CloseReason> {
    pair.events[side]
        .iter()
        .filter_map(|e| match e {
            EndpointEvent::Connection {
                connection,
                event: TcpEvent::Closed(reason),
            } if *connection == id => Some(*reason),
            _ => None,
        })
        .collect()
}

fn state(pair: &Pair, side: usize, id: ConnectionId) -> Option<TcpState> {
    pair.endpoints[side].connection(id).map(|c| c.state())
}

fn orphan(pair: &mut Pair, side: usize, id: ConnectionId) {
    let now = pair.now;
    pair.endpoints[side]
        .connection_mut(id)
        .and_then(|c| c.as_tcp_mut())
        .expect("a plain TCP connection")
        .orphan(now);
}

fn read_all(pair: &mut Pair, side: usize, id: ConnectionId, into: &mut Vec<u8>) {
    let mut buf = [0u8; 4096];
    if let Some(c) = pair.endpoints[side].connection_mut(id) {
        loop {
            let n = c.read(&mut buf);
            if n == 0 {
                break;
            }
            into.extend_from_slice(&buf[..n]);
        }
    }
}

#[test]
fn an_orphaned_connection_waits_in_fin_wait_2_for_the_default_timeout_then_resets() {
    // The server's application never closes: it stays in CLOSE-WAIT.
    let (mut pair, client, server) = established(config(false));
    assert_eq!(
        pair.endpoints[0].config().tcp.fin_wait_2_timeout,
        Duration::from_secs(60),
        "Linux's tcp_fin_timeout"
    );
    orphan(&mut pair, 0, client);
    assert!(pair.endpoints[0]
        .connection(client)
        .and_then(|c| c.as_tcp())
        .is_some_and(|c| c.is_orphaned()));
    // The FIN is acknowledged one round trip later (20 ms): FIN-WAIT-2 from then.
    pair.run_until(Instant::from_millis(1_100), |_| false);
    assert_eq!(state(&pair, 0, client), Some(TcpState::FinWait2));
    assert_eq!(state(&pair, 1, server), Some(TcpState::CloseWait));
    pair.run_until(Instant::from_millis(60_900), |_| false);
    assert_eq!(state(&pair, 0, client), Some(TcpState::FinWait2));
    assert!(closes(&pair, 0, client).is_empty());
    pair.run_until(Instant::from_millis(61_100), |_| false);
    assert_eq!(closes(&pair, 0, client), vec![CloseReason::TimedOut]);
    assert_eq!(state(&pair, 0, client), None, "the endpoint dropped it");
    assert_eq!(
        closes(&pair, 1, server),
        vec![CloseReason::Reset],
        "the peer learns by a RST"
    );
}

#[test]
fn the_fin_wait_2_timeout_is_configurable() {
    let mut config = config(false);
    config.tcp.fin_wait_2_timeout = Duration::from_secs(5);
    let (mut pair, client, _) = established(config);
    orphan(&mut pair, 0, client);
    pair.run_until(Instant::from_millis(5_900), |_| false);
    assert_eq!(state(&pair, 0, client), Some(TcpState::FinWait2));
    pair.run_until(Instant::from_millis(6_100), |_| false);
    assert_eq!(closes(&pair, 0, client), vec![CloseReason::TimedOut]);
}

#[test]
fn orphaned_in_fin_wait_2_the_timeout_runs_from_then() {
    let (mut pair, client, _) = established(config(false));
    pair.endpoints[0].connection_mut(client).unwrap().close();
    pair.run_until(Instant::from_millis(100_000), |_| false);
    assert_eq!(state(&pair, 0, client), Some(TcpState::FinWait2));
    orphan(&mut pair, 0, client);
    pair.run_until(Instant::from_millis(159_900), |_| false);
    assert_eq!(state(&pair, 0, client), Some(TcpState::FinWait2));
    pair.run_until(Instant::from_millis(160_100), |_| false);
    assert_eq!(closes(&pair, 0, client), vec![CloseReason::TimedOut]);
}

#[test]
fn an_orphaned_connection_whose_peer_closes_in_time_finishes() {
    let (mut pair, client, server) = established(config(false));
    orphan(&mut pair, 0, client);
    pair.run_until(Instant::from_millis(30_000), |_| false);
    pair.endpoints[1].connection_mut(server).unwrap().close();
    pair.run_until(Instant::from_millis(31_000), |_| false);
    assert_eq!(state(&pair, 0, client), Some(TcpState::TimeWait));
    assert_eq!(closes(&pair, 0, client), vec![CloseReason::Finished]);
    // TIME-WAIT's own 60 s, not the FIN-WAIT-2 timeout, ends it: no RST.
    pair.run_until(Instant::from_millis(95_000), |_| false);
    assert_eq!(state(&pair, 0, client), None);
    assert_eq!(closes(&pair, 0, client), vec![CloseReason::Finished]);
    assert_eq!(closes(&pair, 1, server), vec![CloseReason::Finished]);
}

#[test]
fn a_half_closed_connection_waits_in_fin_wait_2_as_long_as_the_peer_sends() {
    let (mut pair, client, server) = established(config(false));
    pair.endpoints[0].connection_mut(client).unwrap().close();
    pair.run_until(Instant::from_millis(200_000), |_| false);
    assert_eq!(state(&pair, 0, client), Some(TcpState::FinWait2));
    let server_conn = pair.endpoints[1].connection_mut(server).unwrap();
    assert_eq!(server_conn.write(b"late reply"), 10);
    server_conn.close();
    pair.run_until(Instant::from_millis(201_000), |_| false);
    let mut received = Vec::new();
    read_all(&mut pair, 0, client, &mut received);
    assert_eq!(received, b"late reply");
    assert_eq!(state(&pair, 0, client), Some(TcpState::TimeWait));
    assert_eq!(closes(&pair, 0, client), vec![CloseReason::Finished]);
}

#[test]
fn rfc1122_s4_2_2_13_orphaning_with_unread_data_resets() {
    let (mut pair, client, server) = established(config(false));
    pair.endpoints[1]
        .connection_mut(server)
        .unwrap()
        .write(b"unread");
    pair.run_until(Instant::from_millis(1_100), |_| false);
    assert_eq!(pair.endpoints[0].connection(client).unwrap().readable(), 6);
    orphan(&mut pair, 0, client);
    pair.run_until(Instant::from_millis(1_200), |_| false);
    assert_eq!(closes(&pair, 0, client), vec![CloseReason::Aborted]);
    assert_eq!(closes(&pair, 1, server), vec![CloseReason::Reset]);
}

#[test]
fn rfc8684_s3_3_3_mptcp_subflows_closed_by_the_data_level_wait_as_long_as_the_peer_sends() {
    // The client's application closes: its DATA_FIN is acknowledged and its subflows
    // send FIN (RFC 8684 §3.3.3), while the server's data still comes in over them.
    // Nobody orphaned them, so the FIN-WAIT-2 timeout does not apply.
    let (mut pair, client, server) = established(config(true));
    assert!(pair.endpoints[0].connection(client).unwrap().is_mptcp());
    pair.endpoints[0].connection_mut(client).unwrap().close();
    pair.run_until(Instant::from_millis(200_000), |_| false);
    let subflow_states: Vec<TcpState> = pair.endpoints[0]
        .connection(client)
        .and_then(|c| c.as_mptcp())
        .expect("the MPTCP connection")
        .subflows()
        .map(|s| s.tcp().state())
        .collect();
    assert_eq!(subflow_states, vec![TcpState::FinWait2]);
    let subflow_events: Vec<&MptcpEvent> = pair.events[0]
        .iter()
        .filter_map(|e| match e {
            EndpointEvent::Mptcp { event, .. } => Some(event),
            _ => None,
        })
        .filter(|e| {
            matches!(
                e,
                MptcpEvent::SubflowOpened { .. } | MptcpEvent::SubflowClosed { .. }
            )
        })
        .collect();
    assert_eq!(
        subflow_events,
        vec![&MptcpEvent::SubflowOpened {
            subflow: SubflowId(0)
        }],
        "the first subflow, never closed nor replaced"
    );
    let server_conn = pair.endpoints[1].connection_mut(server).unwrap();
    assert_eq!(server_conn.write(b"late reply"), 10);
    server_conn.close();
    pair.run_until(Instant::from_millis(201_000), |_| false);
    let mut received = Vec::new();
    read_all(&mut pair, 0, client, &mut received);
    assert_eq!(received, b"late reply");
    assert!(pair.endpoints[0]
        .connection(client)
        .unwrap()
        .is_read_closed());
}
