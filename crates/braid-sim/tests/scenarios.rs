//! Hosts running braid-proto endpoints and applications, built from scenarios.

mod common;

use std::path::{Path, PathBuf};

use braid_proto::endpoint::EndpointConfig;
use braid_proto::time::{Duration, Instant};
use braid_sim::host::Host;
use braid_sim::nodes::{ConstantRateSender, Flow};
use braid_sim::report::{ConnectionReport, Integrity, Outcome, Report};
use braid_sim::scenario::spec::{
    self, Action, App, Cc, Connection, Link, Reorder, ScenarioSpec, ScheduleEntry, State, Stop,
    Tcp, Verify,
};
use braid_sim::scenario::units::{Rate, Size};
use braid_sim::scenario::{Capture, RunOptions, RunResult, Scenario};
use braid_sim::{LinkConfig, Simulator};
use common::{ms, secs, tshark_available, tshark_fields, two_hosts};

/// [`two_hosts`] for a minute, `link` named "path".
fn test_network(link: Link) -> ScenarioSpec {
    two_hosts(link.name("path")).duration(secs(60))
}

fn run(spec: ScenarioSpec, seed: Option<u64>) -> RunResult {
    let scenario = Scenario::from_spec(spec).unwrap_or_else(|e| panic!("{e}"));
    scenario
        .run(&RunOptions {
            seed,
            capture: Capture::Memory,
        })
        .unwrap()
}

/// A connection from the client to the server running `app`.
fn upload(app: App) -> Connection {
    Connection::new("client", "server", app)
}

fn bulk(bytes: Size) -> Connection {
    upload(App::Bulk { bytes })
}

fn only(report: &Report) -> &ConnectionReport {
    assert_eq!(report.connections.len(), 1, "{:#?}", report.connections);
    &report.connections[0]
}

/// The TCP flags of every packet of a pcap (LINKTYPE_RAW, IPv4).
fn tcp_flags(pcap: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let len = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let packet = &pcap[at + 16..at + 16 + len];
        let ihl = usize::from(packet[0] & 0x0f) * 4;
        if packet[9] == 6 {
            out.push(packet[ihl + 13]);
        }
        at += 16 + len;
    }
    out
}

const RST: u8 = 0x04;

#[test]
fn bulk_10mb_over_100mbit_10ms_arrives_whole() {
    let link = Link::default().rate(Rate::mbit(100)).delay(ms(10));
    let sink = App::Sink {
        verify: Some(Verify::Sha256),
    };
    let spec = test_network(link).connection(bulk(Size::mb(10)).name("bulk").server_app(sink));
    let r = run(spec, Some(7)).report;
    assert_eq!(r.outcome, Outcome::Completed);
    let c = only(&r);
    let (client, server) = (c.client.as_ref().unwrap(), c.server.as_ref().unwrap());
    assert_eq!(c.upload.bytes_written, 10_000_000);
    assert_eq!(c.upload.bytes_delivered, 10_000_000);
    assert_eq!(client.sha256_written, server.sha256_delivered);
    assert_eq!(c.upload.integrity, Integrity::Intact);
    let goodput = c.upload.goodput_bps.unwrap();
    assert!(
        goodput > 0.0 && goodput <= 100e6,
        "goodput {goodput} bit/s over a 100 Mbit/s link"
    );
    // Completion is at least the transfer time at line rate plus a handshake.
    let completion = c.upload.completion_us.unwrap();
    assert!(completion >= 800_000 + 20_000, "{completion}");
    assert_eq!(client.close_reason.as_deref(), Some("Finished"));
    assert_eq!(server.close_reason.as_deref(), Some("Finished"));
    // The client's SYN left at 0 and reached the server after the link's delay.
    assert_eq!(client.syn_us, 0);
    assert!(server.syn_us >= 10_000);
    // Throughput over time adds up, per connection and per subflow.
    assert_eq!(server.delivered_series.total().bytes, 10_000_000);
    let subflow = &server.subflows[0];
    assert_eq!(
        subflow.received_series.total().bytes,
        subflow.received.bytes
    );
    assert!(subflow.received.bytes >= 10_000_000);
    assert_eq!(
        client.subflows[0].sent.bytes, client.tcp.bytes_sent,
        "payload bytes on the wire are what the engine says it sent"
    );
    // The stall metric is set and no larger than the transfer.
    let gap = c.upload.max_gap_us.unwrap();
    assert!(gap > 0 && gap < completion, "{gap}");
    assert_eq!(c.upload.stalled_at_end_us, None);
    assert_eq!(c.download.bytes_written, 0);
    assert_eq!(c.download.integrity, Integrity::Intact);
    assert_eq!(c.download.goodput_bps, None);
}

/// Everything random at once, so that a seed has something to decide.
fn lossy_scenario() -> ScenarioSpec {
    let link = Link::default()
        .rate(Rate::mbit(20))
        .delay(ms(15))
        .jitter(ms(2))
        .loss(0.01)
        .reorder(Reorder::new(0.02, ms(3)))
        .duplicate(0.005)
        .queue(Size::kb(60))
        .schedule(ScheduleEntry::at(ms(600)).state(State::Down))
        .schedule(ScheduleEntry::at(ms(700)).state(State::Up));
    let exchanges = App::RequestResponse {
        request: Size::bytes(300),
        response: Size::kb(20),
        count: Some(20),
    };
    test_network(link)
        .connection(bulk(Size::mb(2)).name("up"))
        .connection(upload(exchanges).name("rr").port(80).start(ms(100)))
}

#[test]
fn same_scenario_and_seed_give_identical_pcaps_and_metrics() {
    let a = run(lossy_scenario(), Some(42));
    let b = run(lossy_scenario(), Some(42));
    assert_eq!(a.pcaps.len(), 2);
    assert!(a.pcaps.iter().all(|(_, bytes)| bytes.len() > 100_000));
    assert_eq!(a.pcaps, b.pcaps, "captures differ between identical runs");
    assert_eq!(a.report.to_json(), b.report.to_json());
    // Something random did happen, and the run still got everything through.
    let link = &a.report.links[0].stats;
    assert!(link.dropped_loss.packets > 0 && link.duplicated.packets > 0);
    for c in &a.report.connections {
        assert_eq!(c.upload.integrity, Integrity::Intact, "{}", c.name);
        assert_eq!(c.download.integrity, Integrity::Intact, "{}", c.name);
        assert!(c.upload.retransmitted_segments > 0 || c.name == "rr");
    }
    // Another seed, other packets.
    let c = run(lossy_scenario(), Some(43));
    assert_ne!(a.pcaps[0].1, c.pcaps[0].1);
    assert_ne!(a.report.to_json(), c.report.to_json());
}

#[test]
fn the_scenario_seed_is_the_default() {
    let a = run(lossy_scenario().seed(42), None);
    let b = run(lossy_scenario(), Some(42));
    assert_eq!(a.report.seed, 42);
    assert_eq!(a.pcaps, b.pcaps);
}

#[test]
fn request_response_completes_every_exchange() {
    let exchanges = App::RequestResponse {
        request: Size::bytes(200),
        response: Size::bytes(3000),
        count: Some(10),
    };
    let link = Link::default().rate(Rate::mbit(10)).delay(ms(5));
    let spec = test_network(link).connection(upload(exchanges).name("rpc").port(8080));
    let r = run(spec, None).report;
    assert_eq!(r.outcome, Outcome::Completed);
    let c = only(&r);
    assert_eq!(c.upload.bytes_delivered, 2_000);
    assert_eq!(c.download.bytes_delivered, 30_000);
    assert_eq!(c.upload.integrity, Integrity::Intact);
    assert_eq!(c.download.integrity, Integrity::Intact);
    let client = c.client.as_ref().unwrap();
    let server = c.server.as_ref().unwrap();
    assert_eq!(client.app, "request_response");
    assert_eq!(server.app, "responder");
    assert_eq!(server.local, "10.0.0.2:8080");
    let app = &client.app_report;
    assert_eq!(app.exchanges, Some(10));
    assert_eq!(app.exchanges_planned, Some(10));
    // Each exchange takes at least a round trip (10 ms) plus serialisation.
    assert!(app.latency_min_us.unwrap() >= 10_000, "{app:?}");
    assert!(app.latency_min_us <= app.latency_mean_us);
    assert!(app.latency_mean_us <= app.latency_max_us);
    assert_eq!(server.app_report.exchanges, Some(10));
}

#[test]
fn echo_returns_every_byte() {
    let link = Link::default().rate(Rate::mbit(50)).delay(ms(2));
    let echo = bulk(Size::mib(1))
        .name("echo")
        .port(7)
        .server_app(App::Echo {});
    let r = run(test_network(link).connection(echo), None).report;
    assert_eq!(r.outcome, Outcome::Completed);
    let c = only(&r);
    assert_eq!(c.upload.bytes_delivered, 1 << 20);
    assert_eq!(c.download.bytes_written, 1 << 20);
    assert_eq!(c.download.bytes_delivered, 1 << 20);
    assert_eq!(c.upload.integrity, Integrity::Intact);
    assert_eq!(c.download.integrity, Integrity::Intact);
    // What came back is what went out.
    let client = c.client.as_ref().unwrap();
    assert_eq!(client.sha256_written, client.sha256_delivered);
    assert_eq!(c.server.as_ref().unwrap().app, "echo");
}

#[test]
fn scripted_abort_resets_the_peer() {
    let script = App::Scripted {
        actions: vec![
            Action::write(Duration::ZERO, Size::mb(1)),
            Action::abort(ms(300)),
        ],
    };
    let link = Link::default().rate(Rate::mbit(10)).delay(ms(10));
    let result = run(
        test_network(link).connection(upload(script).name("aborted")),
        None,
    );
    let r = &result.report;
    assert_eq!(r.outcome, Outcome::Completed);
    let c = only(r);
    let client = c.client.as_ref().unwrap();
    let server = c.server.as_ref().unwrap();
    assert_eq!(client.close_reason.as_deref(), Some("Aborted"));
    assert_eq!(server.close_reason.as_deref(), Some("Reset"));
    assert_eq!(client.closed_us, Some(300_000));
    // The RST crosses the link: the server hears of it one delay later, or more.
    assert!(server.closed_us.unwrap() >= 310_000);
    // 1 MB does not cross 10 Mbit/s in 300 ms: the stream was cut short.
    assert_eq!(c.upload.integrity, Integrity::Incomplete);
    assert!(c.upload.bytes_delivered > 0 && c.upload.bytes_delivered < 1_000_000);
    assert_eq!(client.app_report.actions_done, Some(2));
    // On the wire: exactly one RST, from the client.
    let (to_server, to_client) = (&result.pcaps[0].1, &result.pcaps[1].1);
    assert_eq!(result.pcaps[0].0, "path.client-server.pcap");
    let rsts = |p: &[u8]| tcp_flags(p).iter().filter(|&&f| f & RST != 0).count();
    assert_eq!(rsts(to_server), 1);
    assert_eq!(rsts(to_client), 0);
}

#[test]
fn scripted_writes_then_close_end_cleanly() {
    let script = App::Scripted {
        actions: vec![
            Action::write(ms(10), Size::bytes(1000)),
            Action::write(ms(200), Size::bytes(500)),
            Action::close(ms(200)),
        ],
    };
    let link = Link::default().rate(Rate::mbit(10)).delay(ms(1));
    let r = run(test_network(link).connection(upload(script)), None).report;
    assert_eq!(r.outcome, Outcome::Completed);
    let c = only(&r);
    assert_eq!(c.name, "conn0");
    assert_eq!(c.upload.bytes_delivered, 1_500);
    assert_eq!(c.upload.integrity, Integrity::Intact);
    // Nothing arrives between the two writes: the largest gap is about 190 ms.
    let gap = c.upload.max_gap_us.unwrap();
    assert!((185_000..=200_000).contains(&gap), "{gap}");
    assert_eq!(
        c.server.as_ref().unwrap().close_reason.as_deref(),
        Some("Finished")
    );
}

#[test]
fn a_link_outage_is_the_largest_delivery_gap() {
    let link = Link::default()
        .rate(Rate::mbit(20))
        .delay(ms(10))
        .schedule(ScheduleEntry::at(ms(300)).state(State::Down))
        .schedule(ScheduleEntry::at(ms(1300)).state(State::Up));
    let r = run(test_network(link).connection(bulk(Size::mb(4))), None).report;
    assert_eq!(r.outcome, Outcome::Completed);
    let c = only(&r);
    assert_eq!(c.upload.integrity, Integrity::Intact);
    let gap = c.upload.max_gap_us.unwrap();
    assert!(gap >= 1_000_000, "a one-second outage, a gap of {gap} us");
    let end = c.upload.max_gap_end_us.unwrap();
    assert!(
        end > 1_300_000,
        "the gap ends after the link is back: {end}"
    );
    assert!(c.upload.rto_count >= 1);
    assert!(r.links[0].stats.dropped_down.packets > 0);
}

#[test]
fn download_runs_from_server_to_client() {
    let download = upload(App::Sink { verify: None }).server_app(App::Bulk {
        bytes: Size::kb(500),
    });
    let link = Link::default().rate(Rate::mbit(10)).delay(ms(5));
    let r = run(test_network(link).connection(download), None).report;
    let c = only(&r);
    assert_eq!(r.outcome, Outcome::Completed);
    assert_eq!(c.download.bytes_delivered, 500_000);
    assert_eq!(c.download.integrity, Integrity::Intact);
    assert_eq!(
        c.client.as_ref().unwrap().app_report.pattern_errors,
        Some(0)
    );
    assert!(c.download.goodput_bps.unwrap() <= 10e6);
}

#[test]
fn tcp_features_off_still_transfer() {
    let tcp = Tcp::default()
        .cc(Cc::Newreno)
        .sack(false)
        .timestamps(false)
        .window_scaling(false)
        .nagle(false)
        .delayed_ack(None)
        .recv_buffer(Size::kib(64));
    let link = Link::default().rate(Rate::mbit(10)).delay(ms(5)).loss(0.01);
    let spec = test_network(link).tcp(tcp).connection(bulk(Size::kb(300)));
    let r = run(spec, Some(3)).report;
    let c = only(&r);
    assert_eq!(r.outcome, Outcome::Completed);
    assert_eq!(c.upload.integrity, Integrity::Intact);
    assert!(c.upload.retransmitted_segments > 0);
}

#[test]
fn ipv6_hosts_fit_their_segments_in_the_mtu() {
    let spec = ScenarioSpec::new("ipv6")
        .duration(secs(20))
        .host(spec::Host::new("a").address("fd00::1".parse().unwrap()))
        .host(spec::Host::new("b").address("fd00::2".parse().unwrap()))
        .link(
            Link::between("a", "b")
                .rate(Rate::mbit(10))
                .delay(ms(1))
                .mtu(1280),
        )
        .connection(Connection::new(
            "a",
            "b",
            App::Bulk {
                bytes: Size::kb(200),
            },
        ));
    let scenario = Scenario::from_spec(spec).unwrap();
    assert_eq!(scenario.hosts[0].endpoint.tcp.mss, 1280 - 60);
    let r = scenario.run(&RunOptions::default()).unwrap().report;
    let c = only(&r);
    assert_eq!(c.upload.integrity, Integrity::Intact);
    assert_eq!(r.links[0].stats.dropped_mtu.packets, 0);
    assert_eq!(
        c.client.as_ref().unwrap().local.split(']').next(),
        Some("[fd00::1")
    );
}

#[test]
fn packets_leave_by_the_interface_of_their_source_address() {
    let ip = |a: &str| a.parse().unwrap();
    let spec = ScenarioSpec::new("two-links")
        .duration(secs(20))
        .host(
            spec::Host::new("client")
                .address(ip("10.0.1.1"))
                .address(ip("10.0.2.1"))
                .route("10.0.2.0/24", "eth1")
                .route("default", 0),
        )
        .host(
            spec::Host::new("server")
                .address(ip("10.0.1.2"))
                .address(ip("10.0.2.2")),
        )
        .link(
            Link::between("client:eth0", "server:eth0")
                .name("one")
                .rate(Rate::mbit(10)),
        )
        .link(
            Link::between("10.0.2.1", "10.0.2.2")
                .name("two")
                .rate(Rate::mbit(10)),
        )
        .connection(
            Connection::new(
                "client",
                "10.0.2.2",
                App::Bulk {
                    bytes: Size::kb(100),
                },
            )
            .name("via-two"),
        )
        .connection(
            Connection::new(
                "client:eth0",
                "server:eth0",
                App::Bulk {
                    bytes: Size::kb(50),
                },
            )
            .name("via-one")
            .start(ms(10)),
        );
    let r = run(spec, None).report;
    assert_eq!(r.outcome, Outcome::Completed);
    let names: Vec<&str> = r.connections.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["via-two", "via-one"]);
    let via_two = &r.connections[0];
    assert!(via_two
        .client
        .as_ref()
        .unwrap()
        .local
        .starts_with("10.0.2.1:"));
    assert_eq!(via_two.upload.integrity, Integrity::Intact);
    assert_eq!(r.connections[1].upload.integrity, Integrity::Intact);
    // Each link carried its own connection's bytes and nothing of the other's.
    let carried = |link: usize| r.links[link].stats.delivered.bytes;
    assert!(
        carried(0) > 50_000 && carried(0) < 100_000,
        "{}",
        carried(0)
    );
    assert!(
        carried(2) > 100_000 && carried(2) < 150_000,
        "{}",
        carried(2)
    );
    for h in &r.hosts {
        assert_eq!(h.stats.no_interface.packets, 0);
        assert_eq!(h.stats.not_ours.packets, 0);
    }
}

#[test]
fn connections_to_one_port_share_the_listener() {
    let mut spec = test_network(Link::default().rate(Rate::mbit(10)));
    for i in 0..3 {
        let connection = bulk(Size::kb(100 * (i + 1)))
            .name(format!("c{i}"))
            .start(ms(i * 5));
        spec = spec.connection(connection);
    }
    let r = run(spec, None).report;
    assert_eq!(r.outcome, Outcome::Completed);
    for (i, c) in r.connections.iter().enumerate() {
        assert_eq!(c.name, format!("c{i}"));
        assert_eq!(c.upload.bytes_delivered, 100_000 * (i as u64 + 1));
        assert_eq!(c.upload.integrity, Integrity::Intact);
        // Each sink checked its own stream's pattern.
        assert_eq!(
            c.server.as_ref().unwrap().app_report.pattern_errors,
            Some(0)
        );
    }
}

#[test]
fn the_deadline_cuts_a_long_transfer_short() {
    let spec = test_network(Link::default().rate(Rate::mbit(1)))
        .duration(secs(1))
        .connection(bulk(Size::mb(1)));
    let r = run(spec, None).report;
    assert_eq!(r.outcome, Outcome::Deadline);
    assert_eq!(r.end_us, 1_000_000);
    let c = only(&r);
    assert_eq!(c.upload.integrity, Integrity::Incomplete);
    assert!(c.upload.bytes_delivered > 50_000 && c.upload.bytes_delivered < 130_000);
    // Data was still arriving when the run ended.
    assert!(c.upload.stalled_at_end_us.unwrap() < 100_000);
}

#[test]
fn a_link_that_never_comes_back_is_a_stall_at_the_end() {
    let link = Link::default()
        .rate(Rate::mbit(1))
        .schedule(ScheduleEntry::at(ms(500)).state(State::Down));
    let spec = test_network(link)
        .duration(secs(3))
        .connection(bulk(Size::mb(1)));
    let r = run(spec, None).report;
    assert_eq!(r.outcome, Outcome::Deadline);
    let c = only(&r);
    assert_eq!(c.upload.integrity, Integrity::Incomplete);
    let last = c.upload.last_delivery_us.unwrap();
    assert!(last <= 500_000, "{last}");
    assert_eq!(c.upload.stalled_at_end_us, Some(3_000_000 - last));
    assert!(c.upload.max_gap_us.unwrap() < 100_000);
}

#[test]
fn stop_deadline_runs_to_the_end() {
    let spec = test_network(Link::default())
        .duration(secs(2))
        .stop(Stop::Deadline)
        .connection(bulk(Size::kb(1)));
    let r = run(spec, None).report;
    assert_eq!(r.outcome, Outcome::Deadline);
    assert_eq!(r.end_us, 2_000_000);
    assert_eq!(only(&r).upload.integrity, Integrity::Intact);
}

#[test]
fn a_host_drops_packets_for_addresses_it_does_not_own() {
    let mut sim = Simulator::new(1);
    // UDP test packets from 10.0.0.1 to 10.0.0.2, to a host that owns 10.0.0.9.
    let tx = sim.add_node(
        ConstantRateSender::new(0, Flow::example(), 100, Duration::from_millis(1)).count(5),
    );
    let mut host = Host::new("h", EndpointConfig::default(), 1);
    host.add_interface(["10.0.0.9".parse().unwrap()]);
    let h = sim.add_node(host);
    sim.add_link((tx, 0), (h, 0), LinkConfig::new());
    sim.run_until(Instant::from_millis(100));
    let host = sim.node::<Host>(h);
    assert_eq!(host.stats().received.packets, 5);
    assert_eq!(host.stats().not_ours.packets, 5);
    assert_eq!(host.endpoint().stats().packets_in, 0);
    assert_eq!(
        host.stats().sent.packets,
        0,
        "no RST for someone else's packets"
    );
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/scenarios")
}

#[test]
fn example_scenarios_parse_and_run() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("examples/scenarios exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("two-hosts-bulk.toml")),
        "{files:?}"
    );
    for file in &files {
        let scenario = Scenario::load(file).unwrap_or_else(|e| panic!("{e}"));
        let r = scenario.run(&RunOptions::default()).unwrap().report;
        assert_eq!(r.outcome, Outcome::Completed, "{}", file.display());
        assert!(!r.connections.is_empty(), "{}", file.display());
        for c in &r.connections {
            assert!(c.client.is_some() && c.server.is_some(), "{}", c.name);
            for t in [&c.upload, &c.download] {
                assert_ne!(
                    t.integrity,
                    Integrity::Corrupt,
                    "{}: {}",
                    file.display(),
                    c.name
                );
            }
        }
    }
}

#[test]
fn the_bulk_example_moves_its_10_mb() {
    let scenario = Scenario::load(examples_dir().join("two-hosts-bulk.toml")).unwrap();
    assert_eq!(scenario.name, "two-hosts-bulk");
    let r = scenario.run(&RunOptions::default()).unwrap().report;
    let c = only(&r);
    assert_eq!(c.upload.bytes_delivered, 10_000_000);
    assert_eq!(c.upload.integrity, Integrity::Intact);
}

#[test]
fn tshark_reads_the_tcp_captures() {
    if !tshark_available() {
        return;
    }
    let link = Link::default().rate(Rate::mbit(10)).delay(ms(5)).loss(0.02);
    let result = run(test_network(link).connection(bulk(Size::kb(200))), Some(5));
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("braid-sim-scenarios-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, (name, bytes)) in result.pcaps.iter().enumerate() {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let fields = ["tcp.srcport", "tcp.len", "tcp.checksum.status"];
        let rows = tshark_fields(&path, &fields, &["tcp.check_checksum:TRUE"]);
        let link = &result.report.links[i];
        assert_eq!(rows.len() as u64, link.stats.delivered.packets, "{name}");
        // Every segment decodes as TCP with a good checksum.
        assert!(
            rows.iter().all(|r| r.len() == 3 && r[2] == "1"),
            "{name}: {rows:?}"
        );
        let payload: u64 = rows.iter().map(|r| r[1].parse::<u64>().unwrap()).sum();
        let c = only(&result.report);
        let receiver = if i == 0 { &c.server } else { &c.client };
        assert_eq!(
            payload,
            receiver.as_ref().unwrap().subflows[0].received.bytes
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn hosts_run_applications_without_a_scenario_file() {
    use braid_sim::apps::{BulkSender, Sink, Verify};
    use braid_sim::report::Collect;
    use braid_sim::rng::domain;

    let mut sim = Simulator::new(9);
    let mut client = Host::new(
        "client",
        EndpointConfig::default(),
        sim.seed_for(domain::NODE, 0),
    );
    client.add_interface(["10.0.0.1".parse().unwrap()]);
    let mut server = Host::new(
        "server",
        EndpointConfig::default(),
        sim.seed_for(domain::NODE, 1),
    );
    server.add_interface(["10.0.0.2".parse().unwrap()]);
    server
        .listen("10.0.0.2:80".parse().unwrap(), || {
            Box::new(Sink::new(Verify::Pattern))
        })
        .unwrap();
    let (c, s) = (sim.add_node(client), sim.add_node(server));
    let (up, down) = sim.add_duplex(
        (c, 0),
        (s, 0),
        LinkConfig::new()
            .rate_bps(10_000_000)
            .delay(Duration::from_millis(5)),
    );
    sim.run_until(Instant::from_millis(10));
    // Between runs, through node_mut: port 0 picks an ephemeral port, the unspecified
    // address the only one the host has.
    let now = sim.now();
    let id = sim
        .node_mut::<Host>(c)
        .connect(
            now,
            "0.0.0.0:0".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            Box::new(BulkSender::new(300_000)),
        )
        .unwrap();
    sim.run_until(Instant::from_millis(2_000));

    let host = sim.node::<Host>(c);
    let record = host.connection(id).unwrap();
    assert!(record.local.to_string().starts_with("10.0.0.1:"));
    assert_eq!(record.syn_at, Instant::from_millis(10));
    assert_eq!(record.sent.bytes, 300_000);
    assert!(host.app::<BulkSender>(id).unwrap().finished_writing());
    assert!(host.app::<Sink>(id).is_none(), "not a sink");
    let server = sim.node::<Host>(s);
    let accepted = server.connections().next().unwrap();
    assert_eq!(accepted.received.bytes, 300_000);
    assert_eq!(accepted.received.sha256(), record.sent.sha256());
    assert_eq!(server.app::<Sink>(accepted.id).unwrap().pattern_errors(), 0);
    assert!(sim.node::<Host>(c).is_finished() && server.is_finished());

    let report = Report::collect(
        &sim,
        &Collect {
            scenario: "by hand",
            seed: 9,
            outcome: Outcome::Deadline,
            hosts: &[c, s],
            links: &[(up, "l".into()), (down, "l".into())],
            pcaps: &[],
        },
    );
    let only = only(&report);
    assert_eq!(only.name, format!("client:{}", record.local));
    assert_eq!(only.upload.integrity, Integrity::Intact);
    assert_eq!(report.links[0].from, "client");
}

#[test]
fn the_format_documented_in_the_crate_docs_is_valid() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let mut toml = String::new();
    let mut inside = false;
    for line in lib.lines() {
        let line = line.strip_prefix("//!").unwrap_or(line);
        let line = line.strip_prefix(' ').unwrap_or(line);
        match (inside, line.trim()) {
            (false, "```toml") => inside = true,
            (true, "```") => break,
            (true, _) => {
                toml.push_str(line);
                toml.push('\n');
            }
            _ => {}
        }
    }
    assert!(toml.contains("[[connection]]"), "no TOML block found");
    let scenario = Scenario::from_toml(&toml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scenario.name, "example");
    assert_eq!(scenario.links.len(), 2);
    // Forward: down, up, a rate, down, up; reverse: down, up, down, up.
    assert_eq!(scenario.links[0].schedule.len(), 5);
    assert_eq!(scenario.links[1].schedule.len(), 4);
    // The entries with `notify` tell the hosts at both ends.
    for h in &scenario.hosts {
        let events: Vec<bool> = h.interface_events.iter().map(|e| e.up).collect();
        assert_eq!(events, [false, true], "host {}", h.name);
    }
    let r = scenario.run(&RunOptions::default()).unwrap().report;
    assert_eq!(r.outcome, Outcome::Completed);
    assert_eq!(only(&r).upload.integrity, Integrity::Intact);
}
