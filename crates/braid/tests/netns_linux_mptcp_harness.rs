//! The harness of the MPTCP interop tests, proved without braid: the Linux kernel's
//! MPTCP against itself, client namespace to server namespace over the veth paths of
//! `braid_testkit::netns::Topology`. If these fail, an interop test that uses the same
//! helpers cannot be trusted to blame braid.
//!
//! What each test shows works: transfers over MPTCP with SHA-256 at both ends (IPv4 and
//! IPv6), the kernel's counters, `subflow` and `signal` endpoints (MP_JOIN, ADD_ADDR),
//! DSS checksums, TCPOPTSTRIP of option 30 (fallback), the three ways Linux sends
//! MP_FASTCLOSE, and blocking a path.
//!
//! Needs root; skipped otherwise (fails instead with `BRAID_REQUIRE_NETNS=1`).

mod netns;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use braid_testkit::lab::{netns_available, serial, spawn_in, wait};
use braid_testkit::linux_mptcp::{self, Close, Pattern, Receive};
use braid_testkit::netns::{EndpointFlag, Hook, TcpSegments, Topology};
use braid_testkit::peer::{linux_client, linux_server, mptcp_counters, PeerOutcome, PeerPlan};
use netns::TIME_LIMIT;

const PORT: u16 = 5001;
const CLIENT_SEED: u64 = 0xc11e;
const SERVER_SEED: u64 = 0x5e7e;
const MIB: u64 = 1 << 20;

fn setup(test: &str, paths: u8) -> Option<(std::sync::MutexGuard<'static, ()>, Topology)> {
    if !netns_available(test) {
        return None;
    }
    let guard = serial();
    Some((guard, Topology::new(paths).expect("build the namespaces")))
}

/// Runs `client` against `server` (a server in the server namespace on `server_addr`,
/// a client in the client namespace), and returns both outcomes.
fn run_pair(
    topo: &Topology,
    server_addr: SocketAddr,
    client_local: Option<SocketAddr>,
    server: PeerPlan,
    client: PeerPlan,
) -> (PeerOutcome, PeerOutcome) {
    run_pair_listening(topo, server_addr, server_addr, client_local, server, client)
}

/// [`run_pair`] with a server that listens on `listen` (the wildcard address, say)
/// while the client connects to `server_addr`.
fn run_pair_listening(
    topo: &Topology,
    listen: SocketAddr,
    server_addr: SocketAddr,
    client_local: Option<SocketAddr>,
    server: PeerPlan,
    client: PeerPlan,
) -> (PeerOutcome, PeerOutcome) {
    let deadline = Instant::now() + TIME_LIMIT;
    let server_rx = linux_server(&topo.server, listen, server).expect("start the server");
    let client_rx = linux_client(&topo.client, client_local, server_addr, client);
    let nothing = || String::new();
    let client = wait(&client_rx, deadline, "the Linux client", &nothing);
    let server = wait(&server_rx, deadline, "the Linux server", &nothing);
    (server, client)
}

/// Both directions carried `size` bytes, and each end received what the other sent.
fn assert_transfer(server: &PeerOutcome, client: &PeerOutcome, size: u64) {
    let s = server.exchange.as_ref().expect("the server's exchange");
    let c = client.exchange.as_ref().expect("the client's exchange");
    assert_eq!((s.sent, c.sent), (size, size));
    assert_eq!(s.received, size, "bytes the server received");
    assert_eq!(c.received, size, "bytes the client received");
    assert_eq!(s.received_sha, Pattern::sha256(CLIENT_SEED, size));
    assert_eq!(c.received_sha, Pattern::sha256(SERVER_SEED, size));
    assert_eq!((s.received_sha, c.received_sha), (c.sent_sha, s.sent_sha));
}

fn plans(size: u64) -> (PeerPlan, PeerPlan) {
    (
        PeerPlan::new(size, SERVER_SEED),
        PeerPlan::new(size, CLIENT_SEED),
    )
}

fn single_subflow(test: &str, v6: bool) {
    let Some((_serial, topo)) = setup(test, 2) else {
        return;
    };
    let size = 8 * MIB;
    let path = &topo.paths[0];
    let server_ip: IpAddr = if v6 {
        path.server_ip6.into()
    } else {
        path.server_ip.into()
    };
    let (server_plan, client_plan) = plans(size);
    let (server, client) = run_pair(
        &topo,
        SocketAddr::new(server_ip, PORT),
        None,
        server_plan,
        client_plan,
    );
    assert_transfer(&server, &client, size);
    assert!(server.mptcp && client.mptcp, "both sockets are MPTCP");
    for (who, end) in [("server", &server), ("client", &client)] {
        let info = end.info_before.as_ref().expect("MPTCP_INFO");
        assert!(
            !info.fallback() && info.remote_key_received(),
            "{who}: {info:?}"
        );
        assert_eq!(info.subflows, 0, "{who}: one subflow, no joins: {info:?}");
        // Counted only while the initial subflow is established: 0 after the FINs.
        assert_eq!(info.subflows_total, Some(1), "{who}: {info:?}");
        let info = end.info_after.as_ref().expect("MPTCP_INFO");
        assert_eq!(info.bytes_received, size, "{who}: {info:?}");
        assert!(!info.csum_enabled, "{who}: checksums are off by default");
    }
    let expected_local: IpAddr = if v6 {
        path.client_ip6.into()
    } else {
        path.client_ip.into()
    };
    assert_eq!(
        client.local.ip(),
        expected_local,
        "the connected route's source"
    );

    let s = mptcp_counters(&topo.server);
    let c = mptcp_counters(&topo.client);
    let msg = format!("server {:?}\nclient {:?}", s.nonzero(), c.nonzero());
    assert_eq!(s.get("MPCapableSYNRX"), 1, "{msg}");
    assert_eq!(s.get("MPCapableACKRX"), 1, "{msg}");
    assert_eq!(c.get("MPCapableSYNTX"), 1, "{msg}");
    assert_eq!(c.get("MPCapableSYNACKRX"), 1, "{msg}");
    for counters in [&s, &c] {
        for name in [
            "MPCapableFallbackACK",
            "MPCapableFallbackSYNACK",
            "MPJoinSynRx",
            "MPJoinSynTx",
            "AddAddr",
            "MPFastcloseRx",
            "MPFastcloseTx",
            "MPRstRx",
            "DataCsumErr",
        ] {
            assert_eq!(counters.get(name), 0, "{name}: {msg}");
        }
    }
}

/// (a) One subflow over IPv4: 8 MiB each way, MP_CAPABLE counted at both ends.
#[test]
fn single_subflow_ipv4() {
    single_subflow("single_subflow_ipv4", false);
}

/// (a) The same over IPv6 (fd00:1::1 -> fd00:1::2).
#[test]
fn single_subflow_ipv6() {
    single_subflow("single_subflow_ipv6", true);
}

/// (b) A `subflow` endpoint on c2 in the client namespace: the client's kernel joins a
/// second subflow from 10.0.2.1, bound to c2, to the server's 10.0.1.2 (through the
/// per-path default route), and both subflows carry data.
#[test]
fn subflow_endpoint_joins_a_second_subflow() {
    let Some((_serial, topo)) = setup("subflow_endpoint_joins_a_second_subflow", 2) else {
        return;
    };
    let c2 = &topo.paths[1];
    topo.client
        .mptcp_endpoint_add(
            c2.client_ip.into(),
            Some(&c2.client_dev),
            &[EndpointFlag::Subflow],
            None,
        )
        .expect("add the subflow endpoint");
    let shown = topo.client.mptcp_endpoints().unwrap();
    assert!(
        shown.contains("10.0.2.1") && shown.contains("subflow"),
        "{shown}"
    );
    let before = topo.client.link_stats().unwrap();

    let size = 8 * MIB;
    let (server_plan, client_plan) = plans(size);
    let (server, client) = run_pair(
        &topo,
        SocketAddr::new(topo.paths[0].server_ip.into(), PORT),
        None,
        server_plan,
        client_plan.wait_subflows(1),
    );
    assert_transfer(&server, &client, size);
    let info = client.info_before.as_ref().expect("MPTCP_INFO");
    assert_eq!(
        (info.subflows, info.subflows_total),
        (1, Some(2)),
        "{info:?}"
    );

    let s = mptcp_counters(&topo.server);
    let c = mptcp_counters(&topo.client);
    let msg = format!("server {:?}\nclient {:?}", s.nonzero(), c.nonzero());
    assert_eq!(s.get("MPJoinSynRx"), 1, "{msg}");
    assert_eq!(s.get("MPJoinAckRx"), 1, "{msg}");
    assert_eq!(c.get("MPJoinSynTx"), 1, "{msg}");
    assert_eq!(c.get("MPJoinSynAckRx"), 1, "{msg}");
    assert_eq!(
        s.get("MPJoinAckHMacFailure") + c.get("MPJoinSynAckHMacFailure"),
        0
    );

    // The join left by c2: data went both ways over it (the handshake alone is a few
    // hundred bytes).
    let after = topo.client.link_stats().unwrap();
    let c2_tx = after["c2"].tx_bytes - before["c2"].tx_bytes;
    let c2_rx = after["c2"].rx_bytes - before["c2"].rx_bytes;
    eprintln!("c2 carried {c2_tx} bytes out and {c2_rx} in of {size} each way");
    assert!(c2_tx > 0 && c2_rx > 0, "c2: {c2_tx} out, {c2_rx} in");
}

/// (c) A `signal` endpoint on s2 in the server namespace, and a client that accepts
/// one ADD_ADDR: the server announces 10.0.2.2, the client echoes it and joins a
/// subflow to it. An ADD_ADDR without a port announces the connection's own port:
/// the join's SYN goes to 10.0.2.2:5001, so the server must listen on the wildcard
/// address (a listener bound to 10.0.1.2 answers it with a RST).
#[test]
fn signal_endpoint_is_announced_echoed_and_joined() {
    let Some((_serial, topo)) = setup("signal_endpoint_is_announced_echoed_and_joined", 2) else {
        return;
    };
    let s2 = &topo.paths[1];
    topo.server
        .mptcp_endpoint_add(
            s2.server_ip.into(),
            Some(&s2.server_dev),
            &[EndpointFlag::Signal],
            None,
        )
        .expect("add the signal endpoint");
    topo.client.mptcp_limits(2, 1).expect("accept one ADD_ADDR");

    let size = 8 * MIB;
    let (server_plan, client_plan) = plans(size);
    let (server, client) = run_pair_listening(
        &topo,
        SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), PORT),
        SocketAddr::new(topo.paths[0].server_ip.into(), PORT),
        None,
        server_plan,
        client_plan.wait_subflows(1),
    );
    assert_transfer(&server, &client, size);
    let info = client.info_before.as_ref().expect("MPTCP_INFO");
    assert_eq!(info.add_addr_accepted, 1, "{info:?}");
    let info = server.info_after.as_ref().expect("MPTCP_INFO");
    assert_eq!(info.add_addr_signal, 1, "{info:?}");

    let s = mptcp_counters(&topo.server);
    let c = mptcp_counters(&topo.client);
    let msg = format!("server {:?}\nclient {:?}", s.nonzero(), c.nonzero());
    assert_eq!(s.get("AddAddrTx"), 1, "{msg}");
    assert_eq!(c.get("AddAddr"), 1, "{msg}");
    assert_eq!(c.get("EchoAddTx"), 1, "{msg}");
    let echoes = topo
        .server
        .wait_mptcp_counter("EchoAdd", 1, Duration::from_secs(5))
        .unwrap();
    assert_eq!(echoes, 1, "{msg}");
    assert_eq!(s.get("MPJoinSynRx"), 1, "{msg}");
    assert_eq!(s.get("MPJoinAckRx"), 1, "{msg}");
    assert_eq!(s.get("AddAddrDrop") + c.get("AddAddrDrop"), 0, "{msg}");
}

/// (c) A `signal` endpoint with a port: ADD_ADDR carries it, and the server's kernel
/// listens there for the join.
#[test]
fn signal_endpoint_with_a_port() {
    let Some((_serial, topo)) = setup("signal_endpoint_with_a_port", 2) else {
        return;
    };
    let s2 = &topo.paths[1];
    topo.server
        .mptcp_endpoint_add(
            s2.server_ip.into(),
            Some(&s2.server_dev),
            &[EndpointFlag::Signal],
            Some(10100),
        )
        .expect("add the signal endpoint");
    topo.client.mptcp_limits(2, 1).unwrap();
    let (server_plan, client_plan) = plans(MIB);
    let (server, client) = run_pair(
        &topo,
        SocketAddr::new(topo.paths[0].server_ip.into(), PORT),
        None,
        server_plan,
        client_plan.wait_subflows(1),
    );
    assert_transfer(&server, &client, MIB);
    let s = mptcp_counters(&topo.server);
    let c = mptcp_counters(&topo.client);
    let msg = format!("server {:?}\nclient {:?}", s.nonzero(), c.nonzero());
    assert_eq!(c.get("PortAdd"), 1, "{msg}");
    assert_eq!(s.get("MPJoinPortSynRx"), 1, "{msg}");
    assert_eq!(s.get("MPJoinPortAckRx"), 1, "{msg}");
}

/// `net.mptcp.checksum_enabled` on one side: both ends use DSS checksums.
#[test]
fn checksums_when_one_side_asks() {
    let Some((_serial, topo)) = setup("checksums_when_one_side_asks", 1) else {
        return;
    };
    topo.client.mptcp_checksum(true).unwrap();
    assert_eq!(
        topo.client
            .sysctl_read("net.mptcp.checksum_enabled")
            .unwrap(),
        "1"
    );
    assert_eq!(
        topo.server
            .sysctl_read("net.mptcp.checksum_enabled")
            .unwrap(),
        "0",
        "sysctls are per namespace"
    );
    let (server_plan, client_plan) = plans(4 * MIB);
    let (server, client) = run_pair(
        &topo,
        SocketAddr::new(topo.paths[0].server_ip.into(), PORT),
        None,
        server_plan,
        client_plan,
    );
    assert_transfer(&server, &client, 4 * MIB);
    for end in [&server, &client] {
        assert!(end.info_after.as_ref().unwrap().csum_enabled);
    }
    let s = mptcp_counters(&topo.server);
    let c = mptcp_counters(&topo.client);
    assert_eq!(s.get("DataCsumErr") + c.get("DataCsumErr"), 0);
}

/// (d) TCPOPTSTRIP of option 30 from the client's SYN, as it leaves the client
/// namespace: the server sees plain TCP, the client falls back when the SYN-ACK has no
/// MP_CAPABLE (`MPCapableFallbackSYNACK`), and the bytes still arrive intact.
#[test]
fn mp_capable_stripped_from_syn_falls_back() {
    let Some((_serial, topo)) = setup("mp_capable_stripped_from_syn_falls_back", 1) else {
        return;
    };
    let rules = topo
        .client
        .strip_mptcp_from_syn()
        .expect("TCPOPTSTRIP rule");
    let size = 8 * MIB;
    let (server_plan, client_plan) = plans(size);
    let (server, client) = run_pair(
        &topo,
        SocketAddr::new(topo.paths[0].server_ip.into(), PORT),
        None,
        server_plan,
        client_plan,
    );
    assert_transfer(&server, &client, size);
    assert!(!server.mptcp, "the server accepted a plain TCP connection");
    assert!(client.mptcp, "the client's socket stays an MPTCP one");
    assert!(client.info_after.is_err(), "{:?}", client.info_after);
    assert!(
        topo.client.iptables_packets(&rules[0]).unwrap() >= 1,
        "SYNs stripped"
    );
    assert_eq!(topo.client.iptables_packets(&rules[1]).unwrap(), 0);

    let s = mptcp_counters(&topo.server);
    let c = mptcp_counters(&topo.client);
    let msg = format!("server {:?}\nclient {:?}", s.nonzero(), c.nonzero());
    assert_eq!(c.get("MPCapableSYNTX"), 1, "{msg}");
    assert_eq!(c.get("MPCapableFallbackSYNACK"), 1, "{msg}");
    assert_eq!(s.get("MPCapableSYNRX"), 0, "{msg}");
    assert_eq!(s.get("MPCapableFallbackACK"), 0, "{msg}");

    // Without the rule, the next connection is MPTCP again.
    topo.client.iptables_delete(&rules).unwrap();
    let (server_plan, client_plan) = plans(MIB);
    let (server, client) = run_pair(
        &topo,
        SocketAddr::new(topo.paths[0].server_ip.into(), PORT),
        None,
        server_plan,
        client_plan,
    );
    assert_transfer(&server, &client, MIB);
    assert!(server.mptcp);
    assert_eq!(mptcp_counters(&topo.server).get("MPCapableSYNRX"), 1);
}

/// (d) Option 30 stripped from the server's SYN-ACK instead: the server saw
/// MP_CAPABLE, and falls back when the third ACK has none (`MPCapableFallbackACK`).
#[test]
fn mp_capable_stripped_from_syn_ack_falls_back_at_both_ends() {
    let Some((_serial, topo)) = setup(
        "mp_capable_stripped_from_syn_ack_falls_back_at_both_ends",
        1,
    ) else {
        return;
    };
    topo.server
        .strip_tcp_option(30, TcpSegments::SynAck, Hook::Outgoing)
        .expect("TCPOPTSTRIP rule");
    let size = 8 * MIB;
    let (server_plan, client_plan) = plans(size);
    let (server, client) = run_pair(
        &topo,
        SocketAddr::new(topo.paths[0].server_ip.into(), PORT),
        None,
        server_plan,
        client_plan,
    );
    assert_transfer(&server, &client, size);
    assert!(client.info_after.is_err() && server.info_after.is_err());
    let s = mptcp_counters(&topo.server);
    let c = mptcp_counters(&topo.client);
    let msg = format!("server {:?}\nclient {:?}", s.nonzero(), c.nonzero());
    assert_eq!(s.get("MPCapableSYNRX"), 1, "{msg}");
    assert_eq!(s.get("MPCapableFallbackACK"), 1, "{msg}");
    assert_eq!(c.get("MPCapableFallbackSYNACK"), 1, "{msg}");
    assert_eq!(s.get("MPCapableACKRX"), 0, "{msg}");
}

/// The three ways a Linux client sends MP_FASTCLOSE (see `linux_mptcp`'s docs), each
/// seen by the server as a reset and counted at both ends.
#[test]
fn mp_fastclose_triggers() {
    let Some((_serial, topo)) = setup("mp_fastclose_triggers", 1) else {
        return;
    };
    let server_addr = SocketAddr::new(topo.paths[0].server_ip.into(), PORT);
    let cases: [(&str, PeerPlan, PeerPlan); 3] = [
        (
            "SO_LINGER 0",
            PeerPlan::new(0, SERVER_SEED).exchange(|e| e.shutdown_write(false)),
            PeerPlan::new(MIB, CLIENT_SEED)
                .exchange(|e| e.shutdown_write(false).receive(Receive::Nothing))
                .close(Close::LingerZero),
        ),
        (
            "connect(AF_UNSPEC)",
            PeerPlan::new(0, SERVER_SEED).exchange(|e| e.shutdown_write(false)),
            PeerPlan::new(MIB, CLIENT_SEED)
                .exchange(|e| e.shutdown_write(false).receive(Receive::Nothing))
                .close(Close::Disconnect),
        ),
        (
            // One write of 1000 bytes, one segment: after the first byte is read, 999
            // are unread when the client closes.
            "unread data",
            PeerPlan::new(1000, SERVER_SEED).exchange(|e| e.shutdown_write(false)),
            PeerPlan::new(0, CLIENT_SEED)
                .exchange(|e| e.shutdown_write(false).receive(Receive::Exactly(1))),
        ),
    ];
    for (n, (what, server_plan, client_plan)) in cases.into_iter().enumerate() {
        let (server, client) = run_pair(&topo, server_addr, None, server_plan, client_plan);
        client.exchange.as_ref().expect("the client's exchange");
        let err = server.exchange.as_ref().expect_err(what);
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::ConnectionReset,
            "{what}: {err}"
        );
        let s = mptcp_counters(&topo.server);
        let c = mptcp_counters(&topo.client);
        let msg = format!("{what}: server {:?}\nclient {:?}", s.nonzero(), c.nonzero());
        let n = n as u64 + 1;
        assert_eq!(c.get("MPFastcloseTx"), n, "{msg}");
        assert_eq!(s.get("MPFastcloseRx"), n, "{msg}");
        assert_eq!(c.get("MPRstTx"), n, "{msg}");
    }
}

/// `abort` (SO_LINGER 0 and AF_UNSPEC together) sends one MP_FASTCLOSE, not two.
#[test]
fn abort_sends_one_mp_fastclose() {
    let Some((_serial, topo)) = setup("abort_sends_one_mp_fastclose", 1) else {
        return;
    };
    let server_addr = SocketAddr::new(topo.paths[0].server_ip.into(), PORT);
    let server = linux_server(
        &topo.server,
        server_addr,
        PeerPlan::new(0, SERVER_SEED).exchange(|e| e.shutdown_write(false)),
    )
    .unwrap();
    let client = spawn_in(&topo.client, "aborting-client", move || {
        let stream = linux_mptcp::mptcp_connect(None, server_addr, Duration::from_secs(5))?;
        linux_mptcp::exchange(
            &stream,
            &linux_mptcp::ExchangeOptions::new(MIB, CLIENT_SEED)
                .shutdown_write(false)
                .receive(Receive::Nothing),
        )?;
        linux_mptcp::abort(stream)
    });
    let deadline = Instant::now() + TIME_LIMIT;
    wait(&client, deadline, "the client", &String::new);
    let server = wait(&server, deadline, "the server", &String::new);
    assert!(server.exchange.is_err());
    let c = mptcp_counters(&topo.client);
    assert_eq!(c.get("MPFastcloseTx"), 1, "{:?}", c.nonzero());
    assert_eq!(mptcp_counters(&topo.server).get("MPFastcloseRx"), 1);
}

/// `block_path` drops everything on a path, from the moment it is called until
/// `unblock_path`: a connection over the blocked path cannot start, then can; with two
/// subflows, the transfer survives one path going silent after the join.
#[test]
fn blocking_a_path() {
    let Some((_serial, topo)) = setup("blocking_a_path", 2) else {
        return;
    };
    let server_addr = SocketAddr::new(topo.paths[0].server_ip.into(), PORT);
    topo.block_path(0).unwrap();
    let connect = spawn_in(&topo.client, "blocked-client", move || {
        linux_mptcp::mptcp_connect(None, server_addr, Duration::from_millis(300))
    });
    let err = connect
        .recv_timeout(Duration::from_secs(5))
        .unwrap()
        .expect_err("no connection while the path is blocked");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(topo.blocked_packets(0).unwrap() >= 1);
    assert_eq!(topo.blocked_packets(1).unwrap_or(0), 0);
    topo.unblock_path(0).unwrap();
    assert!(topo.blocked_packets(0).is_err(), "the rules are gone");

    // Two subflows; path 2 goes silent once the join is done.
    let c2 = &topo.paths[1];
    topo.client
        .mptcp_endpoint_add(
            c2.client_ip.into(),
            Some(&c2.client_dev),
            &[EndpointFlag::Subflow],
            None,
        )
        .unwrap();
    let size = 8 * MIB;
    let deadline = Instant::now() + TIME_LIMIT;
    let server = linux_server(&topo.server, server_addr, PeerPlan::new(size, SERVER_SEED))
        .expect("start the server");
    let client = spawn_in(&topo.client, "linux-client", move || {
        let stream = linux_mptcp::mptcp_connect(None, server_addr, Duration::from_secs(5))?;
        linux_mptcp::wait_for_subflows(&stream, 1, Duration::from_secs(5))?;
        Ok(stream)
    });
    let stream = wait(&client, deadline, "the client's join", &String::new);
    topo.block_path(1).unwrap();
    let started = Instant::now();
    let client = spawn_in(&topo.client, "linux-client", move || {
        linux_mptcp::exchange(
            &stream,
            &linux_mptcp::ExchangeOptions::new(size, CLIENT_SEED).timeout(Duration::from_secs(20)),
        )
    });
    let client = wait(&client, deadline, "the client's exchange", &String::new);
    let server = wait(&server, deadline, "the server", &String::new);
    eprintln!(
        "8 MiB each way with path 2 blocked: {:?}, {} packets dropped",
        started.elapsed(),
        topo.blocked_packets(1).unwrap()
    );
    let server_ex = server.exchange.expect("the server's exchange");
    assert_eq!(server_ex.received_sha, client.sent_sha);
    assert_eq!(client.received_sha, server_ex.sent_sha);
    assert_eq!((client.received, server_ex.received), (size, size));
    assert!(topo.blocked_packets(1).unwrap() >= 1);
}

/// Linux against Linux with 5% loss each way on path 1 and a join over path 2: the
/// setup of `netns_path_failures::five_percent_loss_on_first_subflows_path_*`, where
/// Linux as braid's server delivers misplaced bytes about once in 20 runs. An
/// experiment, not part of the suite: `BRAID_RUNS=N` repeats it N times (fresh
/// namespaces each), every transfer checked by SHA-256.
#[test]
#[ignore = "an experiment for issue 18's 5% loss corruption; run by hand with BRAID_RUNS"]
fn linux_against_linux_with_5_percent_loss_on_path_1() {
    let runs: u32 = std::env::var("BRAID_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .min(200);
    for run in 0..runs {
        let Some((_serial, topo)) = setup("linux_against_linux_with_5_percent_loss_on_path_1", 2)
        else {
            return;
        };
        topo.one_segment_per_packet().expect("gso_max_segs 1");
        let rules = topo
            .drop_randomly_on_path(0, 0.05)
            .expect("iptables statistic");
        let c2 = &topo.paths[1];
        topo.client
            .mptcp_endpoint_add(
                c2.client_ip.into(),
                Some(&c2.client_dev),
                &[EndpointFlag::Subflow],
                None,
            )
            .expect("add the subflow endpoint");
        let (server_plan, client_plan) = (
            PeerPlan::new(2 * MIB, SERVER_SEED),
            PeerPlan::new(4 * MIB, CLIENT_SEED),
        );
        let (server, client) = run_pair(
            &topo,
            SocketAddr::new(topo.paths[0].server_ip.into(), PORT),
            None,
            server_plan,
            client_plan,
        );
        let s = server.exchange.as_ref().expect("the server's exchange");
        let c = client.exchange.as_ref().expect("the client's exchange");
        assert_eq!(
            (s.received, s.received_sha),
            (4 * MIB, Pattern::sha256(CLIENT_SEED, 4 * MIB)),
            "run {run}: what the server received; server {:?}",
            mptcp_counters(&topo.server).nonzero()
        );
        assert_eq!(
            (c.received, c.received_sha),
            (2 * MIB, Pattern::sha256(SERVER_SEED, 2 * MIB)),
            "run {run}: what the client received"
        );
        let dropped: u64 = rules
            .iter()
            .map(|r| topo.client.iptables_packets(r).unwrap_or(0))
            .sum();
        eprintln!("run {run}: intact, {dropped} packets dropped on path 1");
    }
}
