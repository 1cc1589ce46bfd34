//! Scenarios described in Rust: the setters and the ready-made networks give what the
//! same scenario in TOML gives, and go through the same validation.

mod common;

use std::path::Path as FsPath;

use braid_proto::sched::SchedulerKind;
use braid_proto::time::Duration;
use braid_sim::scenario::multipath::{Competitor, Multipath, Path, ToServer};
use braid_sim::scenario::spec::{
    Action, App, Cc, Connection, Direction, Host, Link, LinkParams, Mptcp, MptcpLimits, Reorder,
    ScenarioSpec, ScheduleEntry, State, Stop, Tcp, Verify,
};
use braid_sim::scenario::units::{Rate, Size};
use braid_sim::scenario::Scenario;
use common::{ms, SUBFLOW};

fn example(name: &str) -> Scenario {
    let path = FsPath::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/scenarios")
        .join(name);
    Scenario::load(path).unwrap_or_else(|e| panic!("{e}"))
}

fn buffers() -> Tcp {
    Tcp::default()
        .send_buffer(Size::mib(4))
        .recv_buffer(Size::mib(4))
}

#[test]
fn the_handover_example_is_a_multipath_network_through_a_router() {
    let notified = |at: u64, state: State| {
        ScheduleEntry::at(Duration::from_secs(at))
            .state(state)
            .notify(true)
    };
    let wifi = Link::default()
        .rate(Rate::mbit(50))
        .delay(ms(10))
        .queue(Size::kb(250))
        .schedule(notified(4, State::Down))
        .schedule(notified(8, State::Up));
    let cell = Link::default()
        .rate(Rate::mbit(20))
        .delay(ms(30))
        .queue(Size::kb(300));
    let network = Multipath {
        client: Host::new("phone"),
        paths: vec![
            Path::new("wifi", wifi).endpoint(SUBFLOW),
            Path::new("cell", cell).endpoint(SUBFLOW),
        ],
        to_server: ToServer::router(),
    };
    let spec = ScenarioSpec::new("handover")
        .seed(1)
        .duration(Duration::from_secs(60))
        .bin(ms(100))
        .tcp(buffers());
    let upload = Connection::new(
        "phone",
        "10.0.9.2",
        App::Bulk {
            bytes: Size::mb(64),
        },
    )
    .name("upload")
    .server_app(App::Sink {
        verify: Some(Verify::Sha256),
    });
    let built = Scenario::from_spec(network.add_to(spec).connection(upload)).unwrap();
    assert_eq!(built, example("handover.toml"));
}

#[test]
fn the_shared_bottleneck_example_is_a_multipath_network_with_a_competitor() {
    let access = || Link::default().rate(Rate::mbit(100)).delay(ms(5));
    let network = Multipath {
        client: Host::new("client")
            .tcp(Tcp::default().cc(Cc::Lia))
            .mptcp(Mptcp::default().limits(MptcpLimits::default().subflows(2))),
        paths: vec![
            Path::new("p1", access().name("path1")),
            Path::new("p2", access().name("path2")).endpoint(SUBFLOW),
        ],
        to_server: ToServer::Router {
            address: ToServer::ADDRESS,
            wan: Link::default()
                .name("bottleneck")
                .rate(Rate::mbit(20))
                .delay(ms(10))
                .queue(Size::kb(100)),
            competitors: vec![Competitor {
                host: Host::new("single")
                    .tcp(Tcp::default().cc(Cc::Newreno))
                    .mptcp(Mptcp::default().enabled(false)),
                address: "10.0.3.1".parse().unwrap(),
                access: access().name("access"),
            }],
        },
    };
    let spec = ScenarioSpec::new("shared-bottleneck")
        .seed(1)
        .duration(Duration::from_secs(60))
        .bin(Duration::from_secs(1))
        .tcp(buffers());
    let bulk = |client: &str, port: u16| {
        Connection::new(
            client,
            "10.0.9.2",
            App::Bulk {
                bytes: Size::mb(20),
            },
        )
        .port(port)
    };
    let spec = network
        .add_to(spec)
        .connection(bulk("client", 5001).name("mptcp"))
        .connection(bulk("single", 5002).name("tcp"));
    assert_eq!(
        Scenario::from_spec(spec).unwrap(),
        example("shared-bottleneck.toml")
    );
}

#[test]
fn a_direct_network_links_each_path_to_a_server_address_of_its_own() {
    let network = Multipath {
        client: Host::new("client"),
        paths: vec![
            Path::new("one", Link::default().rate(Rate::mbit(10))),
            Path::new("two", Link::default().rate(Rate::mbit(10))).endpoint(SUBFLOW),
        ],
        to_server: ToServer::Direct,
    };
    let spec = network
        .add_to(ScenarioSpec::new("direct"))
        .connection(Connection::new(
            "client",
            "10.0.1.2",
            App::Bulk {
                bytes: Size::kb(500),
            },
        ));
    let text = r#"
        name = "direct"
        [[host]]
        name = "client"
        routing = "source"
        route = [{ to = "default", interface = "one" }]
        mptcp = { endpoints = ["10.0.2.1,subflow"] }
        interface = [{ name = "one", addresses = ["10.0.1.1"] }, { name = "two", addresses = ["10.0.2.1"] }]
        [[host]]
        name = "server"
        routing = "destination"
        route = [{ to = "10.0.1.1", interface = "one" }, { to = "10.0.2.1", interface = "two" }]
        interface = [{ name = "one", addresses = ["10.0.1.2"] }, { name = "two", addresses = ["10.0.2.2"] }]
        [[link]]
        name = "one"
        between = ["client:one", "server:one"]
        rate = "10Mbit"
        [[link]]
        name = "two"
        between = ["client:two", "server:two"]
        rate = "10Mbit"
        [[connection]]
        client = "client"
        server = "10.0.1.2"
        app = { type = "bulk", bytes = "500KB" }
    "#;
    assert_eq!(spec, ScenarioSpec::from_toml(text).unwrap());
    let scenario = Scenario::from_spec(spec).unwrap();
    let report = scenario.run(&Default::default()).unwrap().report;
    let client = report.connections[0].client.as_ref().unwrap();
    assert_eq!(client.mptcp.as_ref().unwrap().subflows.len(), 2);
    // Each subflow's segments come back over its own path.
    for link in ["one", "two"] {
        let back = report
            .links
            .iter()
            .find(|l| l.name == link && l.from == "server")
            .unwrap();
        assert!(back.stats.delivered.packets > 0, "{link}");
    }
}

#[test]
fn setters_fill_the_fields_a_file_gives() {
    let text = r#"
        name = "lossy"
        seed = 3
        stop = "deadline"
        host = [
          { name = "client", addresses = ["10.0.0.1"] },
          { name = "server", addresses = ["10.0.0.2"] },
        ]
        [tcp]
        cc = "newreno"
        delayed_ack = "off"
        initial_rto = "500ms"
        [mptcp]
        scheduler = "blest"
        [[link]]
        between = ["client", "server"]
        rate = "20Mbit"
        loss = 0.01
        reorder = { probability = 0.02, delay = "3ms" }
        reverse = { rate = "5Mbit" }
        schedule = [{ at = "1s", state = "down" }, { at = "2s", rate = "1Mbit", direction = "forward" }]
        [[connection]]
        client = "client"
        server = "server"
        port = 80
        start = "100ms"
        app = { type = "scripted", actions = [{ at = "0s", action = "write", bytes = "1MB" }, { at = "1s", action = "abort" }] }
    "#;
    let spec = ScenarioSpec::new("lossy")
        .seed(3)
        .stop(Stop::Deadline)
        .tcp(
            Tcp::default()
                .cc(Cc::Newreno)
                .delayed_ack(None)
                .initial_rto(ms(500)),
        )
        .mptcp(Mptcp::default().scheduler(SchedulerKind::Blest))
        .host(Host::new("client").address("10.0.0.1".parse().unwrap()))
        .host(Host::new("server").address("10.0.0.2".parse().unwrap()))
        .link(
            Link::between("client", "server")
                .rate(Rate::mbit(20))
                .loss(0.01)
                .reorder(Reorder::new(0.02, ms(3)))
                .reverse(LinkParams::default().rate(Rate::mbit(5)))
                .schedule(ScheduleEntry::at(Duration::from_secs(1)).state(State::Down))
                .schedule(
                    ScheduleEntry::at(Duration::from_secs(2))
                        .rate(Rate::mbit(1))
                        .direction(Direction::Forward),
                ),
        )
        .connection(
            Connection::new(
                "client",
                "server",
                App::Scripted {
                    actions: vec![
                        Action::write(Duration::ZERO, Size::mb(1)),
                        Action::abort(Duration::from_secs(1)),
                    ],
                },
            )
            .port(80)
            .start(ms(100)),
        );
    assert_eq!(spec, ScenarioSpec::from_toml(text).unwrap());
}

#[test]
fn values_made_in_rust_are_validated_as_a_files_are() {
    let two_hosts = ScenarioSpec::new("bad")
        .host(Host::new("a").address("10.0.0.1".parse().unwrap()))
        .host(Host::new("b").address("10.0.0.2".parse().unwrap()));
    let error = |spec: ScenarioSpec| Scenario::from_spec(spec).unwrap_err().to_string();
    assert_eq!(
        error(two_hosts.clone().link(Link::between("a", "b").loss(1.5))),
        "link[0].loss: probability 1.5 is outside [0, 1]"
    );
    assert_eq!(
        error(two_hosts.clone().link(Link::between("a", "c"))),
        "link[0].between[1]: no host named \"c\" (hosts: a, b)"
    );
    let echo = App::Echo {};
    assert_eq!(
        error(
            two_hosts
                .link(Link::between("a", "b"))
                .connection(Connection::new("a", "b", echo))
        ),
        "connection[0].server_app: needed: a client \"echo\" has no usual server (give `server_app = { type = ... }`)"
    );
}

#[test]
fn every_example_scenario_written_back_as_toml_reads_as_the_same_spec() {
    let dir = FsPath::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        let spec = ScenarioSpec::from_toml(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let text = spec.to_toml();
        let again = ScenarioSpec::from_toml(&text)
            .unwrap_or_else(|e| panic!("{}: {e}\n{text}", file.display()));
        assert_eq!(again, spec, "{}:\n{text}", file.display());
        Scenario::from_spec(again).unwrap();
    }
}

#[test]
fn a_spec_made_in_rust_written_as_toml_reads_back_equal() {
    let lossy = Link::default()
        .rate(Rate::UNLIMITED)
        .delay(Duration::from_micros(12_345))
        .loss(0.012_345_678_9)
        .burst_loss(braid_sim::scenario::spec::BurstLoss::new(0.01, 0.3))
        .reorder(Reorder::new(0.05, ms(3)))
        .schedule(ScheduleEntry::at(ms(1500)).state(State::Down).notify(true))
        .schedule(ScheduleEntry::at(ms(2500)).state(State::Up).notify(true))
        .middlebox(braid_sim::scenario::spec::Middlebox::corrupt_once(
            3,
            Direction::Forward,
        ));
    let network = Multipath {
        client: Host::new("phone").tcp(Tcp::default().delayed_ack(None)),
        paths: vec![
            Path::new("wifi", lossy),
            Path::new("cell", Link::default().rate(Rate::mbit(20))).endpoint(SUBFLOW),
        ],
        to_server: ToServer::Direct,
    };
    let spec = network
        .add_to(ScenarioSpec::new("rust").seed(7).stop(Stop::Finished))
        .mptcp(
            Mptcp::default()
                .scheduler(SchedulerKind::Blest)
                .checksums(true),
        )
        .connection(
            Connection::new(
                "phone",
                "10.0.1.2",
                App::Scripted {
                    actions: vec![Action::write(ms(0), Size::bytes(0)), Action::close(ms(10))],
                },
            )
            .server_app(App::Sink {
                verify: Some(Verify::Sha256),
            }),
        );
    let text = spec.to_toml();
    assert_eq!(ScenarioSpec::from_toml(&text).unwrap(), spec, "{text}");
    Scenario::from_spec(spec).unwrap();
}
