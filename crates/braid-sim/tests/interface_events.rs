//! Interface events (`notify = true` on a link's schedule): the hosts at the link's
//! ends are told that their interface went down or came back, and their MPTCP
//! connections react at once (REMOVE_ADDR, subflows reset, data moved; endpoints
//! restored). Also the `[mptcp]` scheduler key.

mod common;

use std::net::{IpAddr, SocketAddr};

use braid_proto::sched::SchedulerKind;
use braid_proto::time::{Duration, Instant};
use braid_sim::host::{Host, InterfaceEvent};
use braid_sim::report::{Integrity, Report, SideReport};
use braid_sim::scenario::multipath::{Multipath, Path, ToServer};
use braid_sim::scenario::spec::{
    self, App, Connection, Link, Mptcp, ScenarioSpec, ScheduleEntry, State, Tcp, Verify,
};
use braid_sim::scenario::units::{Rate, Size};
use braid_sim::scenario::{RunOptions, Scenario};
use common::{ms, secs, SUBFLOW};

/// A phone with Wi-Fi and cellular behind router r1, uploading to a server with one
/// address. `wifi` and `cell` are the two links' schedules.
fn network(wifi: Vec<ScheduleEntry>, cell: Vec<ScheduleEntry>) -> ScenarioSpec {
    let link = |mbit: u64, delay_ms: u64, schedule: Vec<ScheduleEntry>| Link {
        schedule,
        ..Link::default().rate(Rate::mbit(mbit)).delay(ms(delay_ms))
    };
    let network = Multipath {
        client: spec::Host::new("phone"),
        paths: vec![
            Path::new("wifi", link(20, 10, wifi)).endpoint(SUBFLOW),
            Path::new("cell", link(10, 30, cell)).endpoint(SUBFLOW),
        ],
        to_server: ToServer::router(),
    };
    let spec = ScenarioSpec::new("events").seed(1).duration(secs(30)).tcp(
        Tcp::default()
            .send_buffer(Size::mib(1))
            .recv_buffer(Size::mib(1)),
    );
    let upload = Connection::new(
        "phone",
        "10.0.9.2",
        App::Bulk {
            bytes: Size::mb(20),
        },
    )
    .name("upload")
    .server_app(App::Sink {
        verify: Some(Verify::Sha256),
    });
    network.add_to(spec).connection(upload)
}

fn scenario(spec: ScenarioSpec) -> Scenario {
    Scenario::from_spec(spec).unwrap_or_else(|e| panic!("{e}"))
}

/// The link goes down or comes back at `at`, and the hosts at its ends are told.
fn notified(at: Duration, state: State) -> ScheduleEntry {
    ScheduleEntry::at(at).state(state).notify(true)
}

/// The same, the hosts not told.
fn unnotified(at: Duration, state: State) -> ScheduleEntry {
    ScheduleEntry::at(at).state(state)
}

fn run(s: &Scenario) -> Report {
    s.run(&RunOptions::default()).unwrap().report
}

fn phone(r: &Report) -> &SideReport {
    r.connections[0].client.as_ref().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn notify_plans_interface_events_on_the_hosts_at_the_link_ends() {
    let wifi = vec![
        notified(secs(2), State::Down),
        notified(secs(3), State::Up),
        unnotified(secs(4), State::Down),
    ];
    let s = scenario(network(wifi, vec![]));
    let phone = &s.hosts[0];
    assert_eq!(
        phone.interface_events,
        [
            InterfaceEvent {
                at: Instant::from_millis(2000),
                interface: 0,
                up: false
            },
            InterfaceEvent {
                at: Instant::from_millis(3000),
                interface: 0,
                up: true
            },
        ],
        "only entries with notify, and only the host's end (r1 is a router)"
    );
    assert!(s.hosts[1].interface_events.is_empty());
}

#[test]
fn a_link_down_event_moves_the_data_at_once_and_a_silent_one_after_a_timeout() {
    let told = run(&scenario(network(
        vec![notified(secs(2), State::Down)],
        vec![],
    )));
    let silent = run(&scenario(network(
        vec![unnotified(secs(2), State::Down)],
        vec![],
    )));
    for r in [&told, &silent] {
        let c = &r.connections[0];
        assert_eq!(c.protocol, "mptcp");
        assert_eq!(c.upload.integrity, Integrity::Intact);
        assert_eq!(c.upload.bytes_delivered, 20_000_000);
    }
    // Told: the Wi-Fi subflow is reset at 2 s exactly, with REMOVE_ADDR to the server,
    // and its data is reinjected on cellular then.
    let m = phone(&told).mptcp.as_ref().unwrap();
    let wifi = &m.subflows[0];
    assert!(wifi.local.starts_with("10.0.1.1:"), "{wifi:?}");
    assert_eq!(wifi.closed_us, Some(2_000_000), "{wifi:?}");
    assert_eq!(wifi.rto_count, 0, "no timeout was needed: {wifi:?}");
    let server = told.connections[0].server.as_ref().unwrap();
    assert_eq!(
        server.mptcp.as_ref().unwrap().counters.remove_addr_received,
        1
    );
    assert!(m.events.iter().any(|e| e.at_us == 2_000_000
        && matches!(e.event, braid_sim::host::MptcpEvent::Reinjected { .. })));
    // Silent: the subflow stays, and finds out from its retransmission timer.
    let m = phone(&silent).mptcp.as_ref().unwrap();
    assert!(m.subflows[0].rto_count > 0, "{:?}", m.subflows[0]);
    assert_eq!(
        silent.connections[0]
            .server
            .as_ref()
            .unwrap()
            .mptcp
            .as_ref()
            .unwrap()
            .counters
            .remove_addr_received,
        0
    );
    // ... and moves the data only then: a retransmission timeout (at least 200 ms
    // after a segment sent just before the outage) later.
    let first_reinjection = m
        .events
        .iter()
        .find(|e| matches!(e.event, braid_sim::host::MptcpEvent::Reinjected { .. }))
        .expect("data moved to cellular")
        .at_us;
    assert!(first_reinjection > 2_150_000, "{first_reinjection}");
}

#[test]
fn an_interface_that_comes_back_gets_its_endpoint_back_and_joins_again() {
    // Cellular (not the initial subflow's address) goes away and comes back: a new
    // MP_JOIN from it, with the same address id.
    let cell = vec![
        notified(secs(1), State::Down),
        notified(ms(1500), State::Up),
    ];
    let r = run(&scenario(network(vec![], cell)));
    let c = &r.connections[0];
    assert_eq!(c.upload.integrity, Integrity::Intact);
    let m = phone(&r).mptcp.as_ref().unwrap();
    let cell: Vec<_> = m
        .subflows
        .iter()
        .filter(|f| f.local.starts_with("10.0.2.1:"))
        .collect();
    assert_eq!(cell.len(), 2, "{:#?}", m.subflows);
    assert_eq!(cell[0].closed_us, Some(1_000_000));
    assert!(cell[1].opened_us >= 1_500_000, "{:?}", cell[1]);
    assert_eq!(cell[1].local_id, cell[0].local_id);
    assert!(cell[1].established_us.is_some());
    assert!(cell[1].bytes_sent > 1_000_000, "{:?}", cell[1]);
}

#[test]
fn the_initial_subflows_interface_that_comes_back_joins_again_under_id_zero() {
    // Wi-Fi (the initial subflow's address, and the faster path) goes away for 3 s
    // and comes back: a new MP_JOIN from it, under address id 0 (RFC 8684 §3.4.1),
    // which then carries most of what is left of the transfer. Queues of 100 KB, so
    // that the paths' RTTs stay near their base ones (20 and 60 ms).
    let wifi = vec![notified(secs(2), State::Down), notified(secs(5), State::Up)];
    let mut spec = network(wifi, vec![]);
    for link in &mut spec.links[..2] {
        link.queue = Some(Size::kb(100));
    }
    spec.connections[0].app = App::Bulk {
        bytes: Size::mb(40),
    };
    let r = run(&scenario(spec));
    let c = &r.connections[0];
    assert_eq!(c.upload.integrity, Integrity::Intact);
    assert_eq!(c.upload.bytes_delivered, 40_000_000);
    let m = phone(&r).mptcp.as_ref().unwrap();
    let wifi: Vec<_> = m
        .subflows
        .iter()
        .filter(|f| f.local.starts_with("10.0.1.1:"))
        .collect();
    assert_eq!(wifi.len(), 2, "{:#?}", m.subflows);
    assert_eq!(wifi[0].handshake, "mp_capable");
    assert_eq!(wifi[0].closed_us, Some(2_000_000), "{:?}", wifi[0]);
    let back = wifi[1];
    assert_eq!(back.handshake, "mp_join", "{back:?}");
    assert_eq!((back.local_id, back.remote_id), (0, 0), "{back:?}");
    assert!(back.opened_us >= 5_000_000, "{back:?}");
    let established = back.established_us.expect("the join got through");
    assert!(established < 5_200_000, "{back:?}");
    // Wi-Fi's join against what cellular sent once Wi-Fi was back (about 2:1, the
    // paths' rates).
    let cell_flow = phone(&r)
        .subflows
        .iter()
        .find(|f| f.local.starts_with("10.0.2.1:"))
        .unwrap();
    let bin = cell_flow.sent_series.width().as_micros();
    let cell_after: u64 = cell_flow
        .sent_series
        .bytes()
        .iter()
        .skip((5_000_000 / bin) as usize)
        .sum();
    assert!(
        back.bytes_sent > 15_000_000 && back.bytes_sent > 3 * cell_after / 2,
        "Wi-Fi's join sent {} bytes, cellular {cell_after} after 5 s",
        back.bytes_sent
    );
}

#[test]
fn the_host_restores_exactly_the_endpoints_it_removed() {
    let wifi = vec![notified(secs(1), State::Down), notified(secs(2), State::Up)];
    let s = scenario(network(wifi, vec![]));
    let before = s.hosts[0].endpoint.mptcp.path_manager.endpoints.clone();
    let mut built = s.build(1);
    built.sim.run_until(Instant::from_millis(1500));
    let host = built.host(0);
    assert!(!host.interface_is_up(0));
    assert!(host.interface_is_up(1));
    let during = &host.endpoint().config().mptcp.path_manager.endpoints;
    assert!(
        during.iter().all(|e| e.addr != ip("10.0.1.1")),
        "{during:?}"
    );
    built.sim.run_until(Instant::from_millis(2500));
    let host = built.host(0);
    assert!(host.interface_is_up(0));
    let mut after = host
        .endpoint()
        .config()
        .mptcp
        .path_manager
        .endpoints
        .clone();
    after.sort_by_key(|e| e.id);
    let mut before = before;
    before.sort_by_key(|e| e.id);
    assert_eq!(after, before);
}

#[test]
fn interface_events_can_be_planned_on_a_host_directly() {
    let s = scenario(network(vec![], vec![]));
    let mut built = s.build(1);
    let phone = built.hosts[0];
    built
        .sim
        .node_mut::<Host>(phone)
        .interface_event_at(InterfaceEvent {
            at: Instant::from_millis(1000),
            interface: 1,
            up: false,
        });
    built.sim.run_until(Instant::from_millis(999));
    assert!(built.host(0).interface_is_up(1));
    built.sim.run_until(Instant::from_millis(1000));
    assert!(!built.host(0).interface_is_up(1));
    let outcome = built.run(Duration::from_secs(30), true);
    let r = built.report("events", outcome, &[]);
    let m = phone_side(&r);
    let cell = m
        .subflows
        .iter()
        .find(|f| f.local.starts_with("10.0.2.1:"))
        .unwrap();
    assert_eq!(cell.closed_us, Some(1_000_000));
    let _ = SocketAddr::new(ip("10.0.9.2"), 5001);
}

fn phone_side(r: &Report) -> &braid_sim::report::MptcpReport {
    phone(r).mptcp.as_ref().unwrap()
}

#[test]
fn the_scheduler_and_buffer_autotuning_are_set_per_host() {
    let mut spec = network(vec![], vec![]);
    // A preset, by its name.
    let aggregate = Mptcp {
        scheduler: Some("aggregate".to_string()),
        ..Mptcp::default()
    };
    spec.mptcp = Some(aggregate.send_autotune(true));
    spec.hosts[1].mptcp = Some(
        Mptcp::default()
            .scheduler(SchedulerKind::RoundRobin)
            .receive_autotune(true)
            .send_autotune(false),
    );
    let s = scenario(spec);
    assert_eq!(s.hosts[0].endpoint.mptcp.scheduler, SchedulerKind::Blest);
    let (phone, server) = (&s.hosts[0].endpoint.mptcp, &s.hosts[1].endpoint.mptcp);
    assert!(phone.send_autotune && !phone.receive_autotune);
    assert!(!server.send_autotune && server.receive_autotune);
    assert_eq!(
        s.hosts[1].endpoint.mptcp.scheduler,
        SchedulerKind::RoundRobin
    );
}

#[track_caller]
fn rejects(spec: ScenarioSpec, expected: &str) {
    let e = Scenario::from_spec(spec)
        .expect_err("should be rejected")
        .to_string();
    assert!(e.contains(expected), "expected {expected:?} in {e:?}");
}

#[test]
fn bad_notify_entries_and_schedulers_say_what_to_fix() {
    let wifi = |entry: ScheduleEntry| network(vec![entry], vec![]);
    rejects(
        wifi(ScheduleEntry::at(secs(1)).notify(true).rate(Rate::mbit(1))),
        "link[0].schedule[0].notify: tells the hosts at the link's ends that their interface went down or came back: give `state` too",
    );
    rejects(
        wifi(notified(secs(1), State::Down).direction(spec::Direction::Forward)),
        "link[0].schedule[0].direction: an interface goes down in both directions: leave out `direction` with `notify`",
    );
    let spare = Link::one_way("server", "phone:cell")
        .name("spare")
        .schedule(notified(secs(1), State::Down));
    rejects(
        network(vec![], vec![]).link(spare),
        "needs a duplex link (`between`)",
    );
    let mut bad = network(vec![], vec![]);
    bad.mptcp = Some(Mptcp {
        scheduler: Some("fastest".to_string()),
        ..Mptcp::default()
    });
    rejects(
        bad,
        "mptcp.scheduler: unknown scheduler \"fastest\": expected one of lowest-rtt, blest",
    );
}
