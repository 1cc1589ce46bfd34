//! MPTCP in scenario files: the `[mptcp]` table, source and destination routing, and
//! examples/scenarios/mptcp-two-paths.toml, whose client joins from its cellular
//! address and aggregates both paths.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use braid_proto::time::Duration;
use braid_sim::host::MptcpEvent;
use braid_sim::report::{self, ConnectionReport, Integrity, Outcome, Report, SideReport};
use braid_sim::scenario::spec::{Direction, Middlebox, Route, ScenarioSpec};
use braid_sim::scenario::{RunOptions, Scenario, ScenarioError};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/scenarios/mptcp-two-paths.toml")
}

fn run(scenario: &Scenario) -> Report {
    scenario.run(&RunOptions::default()).unwrap().report
}

fn only(r: &Report) -> &ConnectionReport {
    assert_eq!(r.connections.len(), 1, "{:#?}", r.connections);
    &r.connections[0]
}

fn side(c: &ConnectionReport, client: bool) -> &SideReport {
    if client { &c.client } else { &c.server }.as_ref().unwrap()
}

fn link<'a>(r: &'a Report, name: &str, from: &str) -> &'a report::LinkReport {
    r.links
        .iter()
        .find(|l| l.name == name && l.from == from)
        .unwrap_or_else(|| panic!("no link {name} from {from}"))
}

/// The highest rate, in bits per second, that the two links' client->server
/// directions delivered together over any whole second.
fn peak_aggregate(r: &Report) -> f64 {
    let a = link(r, "wifi", "client").delivered_series.bytes();
    let b = link(r, "cell", "client").delivered_series.bytes();
    let bin = link(r, "wifi", "client").delivered_series.width();
    let per_second = (1_000_000 / bin.as_micros()) as usize;
    let sum: Vec<u64> = (0..a.len().max(b.len()))
        .map(|i| a.get(i).unwrap_or(&0) + b.get(i).unwrap_or(&0))
        .collect();
    sum.windows(per_second)
        .map(|w| w.iter().sum::<u64>() as f64 * 8.0)
        .fold(0.0, f64::max)
}

/// The example with plain TCP only, over the path of `client` -> `server`.
fn single_path_tcp(client: &str, server: &str) -> f64 {
    let mut s = Scenario::load(example()).unwrap();
    for h in &mut s.hosts {
        h.endpoint.mptcp.enabled = false;
    }
    let c = &mut s.connections[0];
    c.local = SocketAddr::new(client.parse().unwrap(), 0);
    c.remote = SocketAddr::new(server.parse().unwrap(), c.remote.port());
    let r = run(&s);
    let c = only(&r);
    assert_eq!(c.protocol, "tcp");
    assert_eq!(c.upload.integrity, Integrity::Intact);
    c.upload.goodput_bps.unwrap()
}

#[test]
fn the_two_path_example_joins_from_the_cellular_address_and_uses_both_paths() {
    let scenario = Scenario::load(example()).unwrap();
    let r = run(&scenario);
    assert_eq!(r.outcome, Outcome::Completed);
    let c = only(&r);
    assert_eq!(c.protocol, "mptcp");

    // SHA-256 of what the client wrote is that of what the server read.
    assert_eq!(c.upload.bytes_delivered, 40_000_000);
    assert_eq!(c.upload.integrity, Integrity::Intact);
    let (client, server) = (side(c, true), side(c, false));
    assert_eq!(client.sha256_written, server.sha256_delivered);
    assert_eq!(server.app_report.pattern_errors, None, "verify = sha256");

    // Two subflows at each end: MP_CAPABLE over Wi-Fi, MP_JOIN from 10.0.2.1 to the
    // server's initial address.
    let m = client.mptcp.as_ref().unwrap();
    assert_eq!(m.phase, "established");
    assert_eq!(m.max_established, 2);
    assert_eq!(m.subflows.len(), 2);
    let (first, join) = (&m.subflows[0], &m.subflows[1]);
    assert_eq!(first.handshake, "mp_capable");
    assert!(first.local.starts_with("10.0.1.1:"), "{}", first.local);
    assert_eq!(first.remote, "10.0.1.2:5001");
    assert_eq!(join.handshake, "mp_join");
    assert!(join.local.starts_with("10.0.2.1:"), "{}", join.local);
    assert_eq!(join.remote, "10.0.1.2:5001");
    assert_eq!((join.local_id, join.remote_id), (1, 0));
    assert!(!join.backup && !join.peer_backup);
    assert_eq!(m.counters.subflows_opened, 1);
    assert_eq!(m.counters.fallbacks, 0);
    assert_eq!(m.counters.protocol_errors, 0);
    // The join comes once the connection is established, and both subflows carry a
    // good share of the data.
    assert!(join.established_us.unwrap() > first.established_us.unwrap());
    for s in &m.subflows {
        assert!(
            s.bytes_sent > 4_000_000,
            "subflow {} carried {} bytes",
            s.id,
            s.bytes_sent
        );
        assert_eq!(s.close_reason.as_deref(), Some("Finished"), "{s:?}");
    }
    let established: Vec<u32> = m
        .events
        .iter()
        .filter_map(|e| match e.event {
            MptcpEvent::SubflowEstablished { subflow } => Some(subflow),
            _ => None,
        })
        .collect();
    assert_eq!(established, [0, 1]);

    let sm = server.mptcp.as_ref().unwrap();
    assert_eq!(sm.counters.joins_accepted, 1);
    assert_eq!(sm.subflows.len(), 2);
    assert_eq!(sm.subflows[1].remote, join.local);
    // What the join carried arrived (retransmissions are counted once received).
    assert!(sm.subflows[1].bytes_received > 4_000_000);
    assert!(sm.subflows[1].bytes_received <= join.bytes_sent);
    assert_eq!(server.subflows.len(), 2, "wire records of both subflows");

    // Each subflow stays on its own path both ways: the client routes by source
    // address, the server by destination.
    assert_eq!(
        link(&r, "cell", "client").stats.offered.packets,
        join.segments_sent
    );
    assert_eq!(
        link(&r, "wifi", "client").stats.offered.packets,
        first.segments_sent
    );
    assert_eq!(
        link(&r, "cell", "server").stats.offered.packets,
        sm.subflows[1].segments_sent
    );
    assert_eq!(
        link(&r, "wifi", "server").stats.offered.packets,
        sm.subflows[0].segments_sent
    );
    for h in &r.hosts {
        assert_eq!(h.stats.no_interface.packets, 0);
        assert_eq!(h.stats.not_ours.packets, 0);
    }

    // Each path's throughput over time, and both at once for a while.
    let wifi = &link(&r, "wifi", "client").delivered_series;
    let cell = &link(&r, "cell", "client").delivered_series;
    let both = wifi
        .bytes()
        .iter()
        .zip(cell.bytes())
        .filter(|(a, b)| **a > 0 && **b > 0)
        .count();
    assert!(both >= 30, "both paths busy in only {both} bins of 100 ms");

    // Faster than either path alone, measured on the same links with plain TCP, and
    // at its best faster than the better link can go.
    let goodput = c.upload.goodput_bps.unwrap();
    let over_wifi = single_path_tcp("10.0.1.1", "10.0.1.2");
    let over_cell = single_path_tcp("10.0.2.1", "10.0.2.2");
    assert!(
        goodput > over_wifi && goodput > over_cell,
        "MPTCP {goodput:.0} bit/s, TCP over Wi-Fi {over_wifi:.0}, over cellular {over_cell:.0}"
    );
    let peak = peak_aggregate(&r);
    assert!(peak > 55e6, "both paths together peaked at {peak:.0} bit/s");

    // The text rendering names both subflows and the join.
    let text = report::text::mptcp(&r);
    assert!(text.contains("MP_JOIN"), "{text}");
    assert!(text.contains(&join.local), "{text}");
    let chart = report::text::link_throughput(&r, Duration::from_secs(1));
    assert!(
        chart.contains("wifi client->server") && chart.contains("cell client->server"),
        "{chart}"
    );
}

#[test]
fn the_two_path_example_is_deterministic() {
    let scenario = Scenario::load(example()).unwrap();
    let mut short = scenario.clone();
    short.duration = Duration::from_secs(2);
    let (a, b) = (run(&short), run(&short));
    assert_eq!(a, b);
    assert_eq!(a.to_json(), b.to_json());
    let other = short
        .run(&RunOptions {
            seed: Some(2),
            ..RunOptions::default()
        })
        .unwrap()
        .report;
    assert_ne!(a.to_json(), other.to_json(), "the seed changes something");
}

/// A client with two addresses and a server with two, linked pairwise; `server`
/// and `client` add keys to the hosts.
fn two_paths(client: &str, server: &str, bytes: &str) -> String {
    format!(
        r#"
duration = "20s"
[[host]]
name = "client"
addresses = ["10.0.1.1", "10.0.2.1"]
route = [{{ to = "default", interface = 0 }}]
{client}
[[host]]
name = "server"
addresses = ["10.0.1.2", "10.0.2.2"]
{server}
[[link]]
name = "one"
between = ["client:eth0", "server:eth0"]
rate = "10Mbit"
delay = "5ms"
[[link]]
name = "two"
between = ["client:eth1", "server:eth1"]
rate = "10Mbit"
delay = "5ms"
[[connection]]
client = "client"
server = "10.0.1.2"
app = {{ type = "bulk", bytes = "{bytes}" }}
"#
    )
}

#[test]
fn a_server_routing_by_source_answers_a_join_over_the_other_path() {
    // Without destination routing, the server's replies to the join leave by the
    // interface of their source, 10.0.1.2: over link "one", not "two".
    let toml = two_paths(r#"mptcp = { endpoints = ["10.0.2.1,subflow"] }"#, "", "2MB");
    let r = run(&Scenario::from_toml(&toml).unwrap());
    let c = only(&r);
    assert_eq!(c.upload.integrity, Integrity::Intact);
    let server = side(c, false).mptcp.as_ref().unwrap();
    assert_eq!(server.subflows.len(), 2);
    assert_eq!(link(&r, "two", "server").stats.offered.packets, 0);
    assert_eq!(
        link(&r, "one", "server").stats.offered.packets,
        server.subflows[0].segments_sent + server.subflows[1].segments_sent
    );

    // With it, they go back over link "two".
    let toml = two_paths(
        r#"mptcp = { endpoints = ["10.0.2.1,subflow"] }"#,
        r#"routing = "destination"
route = [{ to = "10.0.2.0/24", interface = 1 }, { to = "10.0.1.0/24", interface = 0 }]"#,
        "2MB",
    );
    let r = run(&Scenario::from_toml(&toml).unwrap());
    let server = side(only(&r), false).mptcp.as_ref().unwrap();
    assert_eq!(
        link(&r, "two", "server").stats.offered.packets,
        server.subflows[1].segments_sent
    );
}

#[test]
fn mptcp_settings_reach_every_host_and_hosts_override_them() {
    let toml = two_paths(
        r#"mptcp = { checksums = false, endpoints = ["10.0.2.1,subflow,backup", "10.0.1.1,signal,id=7"], limits = { subflows = 4 } }"#,
        r#"mptcp = { max_subflows = 3, join_announced = false }"#,
        "1MB",
    )
    .replace(
        "duration = \"20s\"",
        "duration = \"20s\"\n[mptcp]\nchecksums = true\nmax_mapping = \"8KiB\"\nlimits = { subflows = 1, add_addr_accepted = 2 }\nadd_addr_timeout = \"500ms\"\nadd_addr_retransmissions = 1",
    );
    let s = Scenario::from_toml(&toml).unwrap_or_else(|e| panic!("{e}"));
    let (client, server) = (&s.hosts[0].endpoint.mptcp, &s.hosts[1].endpoint.mptcp);
    assert!(client.enabled && !client.checksums && client.max_mapping == 8192);
    assert!(server.checksums && server.max_subflows == 3);
    assert_eq!(client.max_subflows, 8);
    let pm = &client.path_manager;
    assert_eq!((pm.limits.subflows, pm.limits.add_addr_accepted), (4, 2));
    assert!(pm.join_announced && !server.path_manager.join_announced);
    assert_eq!(pm.add_addr_timeout, Duration::from_millis(500));
    assert_eq!(pm.add_addr_retransmissions, 1);
    let eps: Vec<String> = pm.endpoints.iter().map(ToString::to_string).collect();
    assert_eq!(
        eps,
        ["10.0.2.1,subflow,backup,id=1", "10.0.1.1,signal,id=7"]
    );
    assert!(server.path_manager.endpoints.is_empty());

    // A backup join: the server sees the B flag; checksums are used since the server
    // asks for them.
    let r = run(&s);
    let c = only(&r);
    assert_eq!(c.upload.integrity, Integrity::Intact);
    let cm = side(c, true).mptcp.as_ref().unwrap();
    assert!(cm.checksums);
    assert!(cm.subflows[1].backup);
    let sm = side(c, false).mptcp.as_ref().unwrap();
    assert!(sm.subflows[1].peer_backup);
}

#[test]
fn mptcp_off_gives_plain_tcp() {
    let toml = two_paths(
        r#"mptcp = { enabled = false, endpoints = ["10.0.2.1,subflow"] }"#,
        "",
        "500KB",
    );
    let r = run(&Scenario::from_toml(&toml).unwrap());
    let c = only(&r);
    assert_eq!(c.protocol, "tcp");
    assert!(side(c, true).mptcp.is_none() && side(c, false).mptcp.is_none());
    assert_eq!(c.upload.integrity, Integrity::Intact);
    assert_eq!(link(&r, "two", "client").stats.offered.packets, 0);
    assert_eq!(report::text::mptcp(&r), "");
}

fn error(toml: &str) -> String {
    match Scenario::from_toml(toml) {
        Err(e @ ScenarioError::Invalid { .. }) | Err(e @ ScenarioError::Syntax { .. }) => {
            e.to_string()
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("accepted:\n{toml}"),
    }
}

#[test]
fn mptcp_mistakes_name_the_field_and_the_fix() {
    let client = |m: &str| two_paths(&format!("mptcp = {m}"), "", "1MB");
    let cases = [
        (
            client(r#"{ endpoints = ["10.0.2.1,subflw"] }"#),
            vec![
                "host[0].mptcp.endpoints[0]",
                "unknown endpoint flag 'subflw'",
            ],
        ),
        (
            client(r#"{ endpoints = ["10.0.2.1,subflow", "nowhere"] }"#),
            vec![
                "host[0].mptcp.endpoints[1]",
                "'nowhere' is not an IP address",
            ],
        ),
        (
            client(r#"{ endpoints = ["10.0.9.1,subflow"] }"#),
            vec![
                "host[0].mptcp.endpoints[0]",
                "10.0.9.1 is not an address of this host",
                "10.0.1.1, 10.0.2.1",
            ],
        ),
        (
            client(r#"{ endpoints = ["10.0.2.1,subflow,port=5000"] }"#),
            vec!["host[0].mptcp.endpoints[0]", "signal-only"],
        ),
        (
            client(r#"{ endpoints = ["10.0.2.1,subflow", "10.0.2.1,backup"] }"#),
            vec!["host[0].mptcp.endpoints[1]", "listed twice"],
        ),
        (
            client(r#"{ endpoints = ["10.0.2.1,subflow,id=3", "10.0.1.1,signal,id=3"] }"#),
            vec!["host[0].mptcp.endpoints[1]", "both have id 3"],
        ),
        (
            client(r#"{ limits = { subflows = 9 } }"#),
            vec!["host[0].mptcp.limits.subflows", "above the maximum of 8"],
        ),
        (
            client(r#"{ max_subflows = 0 }"#),
            vec!["host[0].mptcp.max_subflows", "at least 1"],
        ),
        (
            client(r#"{ max_mapping = "64KiB" }"#),
            vec!["host[0].mptcp.max_mapping", "1 to 65535"],
        ),
        (
            client(r#"{ subflows = 2 }"#),
            vec!["unknown field `subflows`"],
        ),
        (
            "[mptcp]\nendpoints = [\"10.0.2.1,subflow\"]\n".to_string(),
            vec!["mptcp.endpoints", "that host's table"],
        ),
        (
            "[mptcp]\nlimits = { add_addr_accepted = 20 }\n".to_string(),
            vec!["mptcp.limits.add_addr_accepted", "above the maximum"],
        ),
        (
            two_paths("routing = \"policy\"", "", "1MB"),
            vec!["unknown variant `policy`", "source", "destination"],
        ),
    ];
    for (toml, wanted) in cases {
        let e = error(&toml);
        for w in wanted {
            assert!(e.contains(w), "{e:?} lacks {w:?}");
        }
    }
}

/// RFC 8684's aggregation, as Linux's selftest simult_flows.sh measures it: a transfer
/// over two paths finishes near the sum of their rates.
#[test]
fn two_paths_aggregate_to_85_percent_of_their_sum() {
    let r = run(&Scenario::load(example()).unwrap());
    let goodput = only(&r).upload.goodput_bps.unwrap();
    assert!(goodput > 0.85 * 70e6, "{goodput:.0} bit/s");
}

#[test]
fn two_paths_without_receive_autotuning_complete() {
    let mut s = Scenario::load(example()).unwrap();
    for h in &mut s.hosts {
        h.endpoint.tcp.initial_recv_buffer = h.endpoint.tcp.recv_buffer;
    }
    let r = run(&s);
    assert_eq!(r.outcome, Outcome::Completed);
    assert_eq!(only(&r).upload.integrity, Integrity::Intact);
}

/// The two-path example, to change before running.
fn example_spec() -> ScenarioSpec {
    ScenarioSpec::from_toml(&std::fs::read_to_string(example()).unwrap()).unwrap()
}

/// The two-path example with a NAT on the cellular path: the client's 10.0.2.1 and
/// its ports become 192.0.2.1 and others on the way to the server.
fn behind_nat() -> Scenario {
    let mut spec = example_spec();
    spec.links[1].middleboxes.push(Middlebox::Nat {
        inside: "10.0.2.1".to_string(),
        outside: "192.0.2.1".to_string(),
        ports: Some([40000, 40999]),
        max_mappings: None,
    });
    // The server answers the NAT's address over cellular.
    spec.hosts[1].routes.push(Route {
        to: "192.0.2.0/24".to_string(),
        interface: "cell".into(),
    });
    Scenario::from_spec(spec).unwrap()
}

#[test]
fn rfc8684_s3_2_a_join_through_a_nat_works_the_token_names_the_connection() {
    let r = run(&behind_nat());
    let c = only(&r);
    assert_eq!(c.upload.integrity, Integrity::Intact);
    assert_eq!(r.outcome, Outcome::Completed);
    let server = side(c, false).mptcp.as_ref().unwrap();
    assert_eq!(server.counters.joins_accepted, 1);
    // The server knows the join by the NAT's address; the address id the client
    // gave (1) still names the path.
    let join = &server.subflows[1];
    let remote: SocketAddr = join.remote.parse().unwrap();
    assert_eq!(remote.ip().to_string(), "192.0.2.1");
    assert!((40000..=40999).contains(&remote.port()), "{remote}");
    assert_eq!(join.remote_id, 1);
    assert!(join.bytes_received > 4_000_000, "{join:?}");
}

#[test]
fn rfc8684_s3_7_a_checksum_failure_on_one_of_two_subflows_resets_it_and_the_other_carries_on() {
    let mut spec = example_spec();
    spec.mptcp = spec.mptcp.map(|m| m.checksums(true));
    let corrupt = Middlebox::corrupt_once(200, Direction::Forward);
    spec.links[1].middleboxes.push(corrupt);
    let r = run(&Scenario::from_spec(spec).unwrap());
    let c = only(&r);
    assert_eq!(c.upload.integrity, Integrity::Intact);
    assert_eq!(c.upload.bytes_delivered, 40_000_000);
    let server = side(c, false).mptcp.as_ref().unwrap();
    assert_eq!(server.counters.checksum_failures, 1);
    assert_eq!(
        server.counters.mp_fail_sent, 0,
        "no MP_FAIL with another subflow"
    );
    let client = side(c, true).mptcp.as_ref().unwrap();
    assert_eq!(client.counters.mp_tcprst_received, 1);
    assert_eq!(
        client.subflows[1].peer_reset_reason.as_deref(),
        Some("MiddleboxInterference"),
        "{:?}",
        client.subflows[1]
    );
    assert!(client.counters.reinjected_bytes > 0);
}
