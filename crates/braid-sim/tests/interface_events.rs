//! Interface events (`notify = true` on a link's schedule): the hosts at the link's
//! ends are told that their interface went down or came back, and their MPTCP
//! connections react at once (REMOVE_ADDR, subflows reset, data moved; endpoints
//! restored). Also the `[mptcp]` scheduler key.

use std::net::{IpAddr, SocketAddr};

use braid_proto::sched::SchedulerKind;
use braid_proto::time::{Duration, Instant};
use braid_sim::host::{Host, InterfaceEvent};
use braid_sim::report::{Integrity, Report, SideReport};
use braid_sim::scenario::{RunOptions, Scenario};

/// A phone with Wi-Fi and cellular behind router r1, uploading to a server with one
/// address. `SCHEDULE` is the Wi-Fi or cellular link's schedule.
const NETWORK: &str = r#"
name = "events"
seed = 1
duration = "30s"

[tcp]
send_buffer = "1MiB"
recv_buffer = "1MiB"

[[host]]
name = "phone"
routing = "source"
route = [{ to = "default", interface = "wifi" }]
mptcp = { endpoints = ["10.0.1.1,subflow", "10.0.2.1,subflow"] }
[[host.interface]]
name = "wifi"
addresses = ["10.0.1.1"]
[[host.interface]]
name = "cell"
addresses = ["10.0.2.1"]

[[host]]
name = "server"
addresses = ["10.0.9.2"]

[[router]]
name = "r1"
interfaces = ["wifi", "cell", "wan"]
route = [
  { to = "10.0.1.0/24", interface = "wifi" },
  { to = "10.0.2.0/24", interface = "cell" },
  { to = "default", interface = "wan" },
]

[[link]]
name = "wifi"
between = ["phone:wifi", "r1:wifi"]
rate = "20Mbit"
delay = "10ms"
WIFI_SCHEDULE

[[link]]
name = "cell"
between = ["phone:cell", "r1:cell"]
rate = "10Mbit"
delay = "30ms"
CELL_SCHEDULE

[[link]]
name = "wan"
between = ["r1:wan", "server"]

[[connection]]
name = "upload"
client = "phone"
server = "10.0.9.2"
app = { type = "bulk", bytes = "20MB" }
server_app = { type = "sink", verify = "sha256" }
"#;

fn network(wifi: &str, cell: &str) -> Scenario {
    let text = NETWORK
        .replace("WIFI_SCHEDULE", wifi)
        .replace("CELL_SCHEDULE", cell);
    Scenario::from_toml(&text).unwrap_or_else(|e| panic!("{e}"))
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
    let s = network(
        r#"schedule = [{ at = "2s", state = "down", notify = true }, { at = "3s", state = "up", notify = true }, { at = "4s", state = "down" }]"#,
        "",
    );
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
    let told = run(&network(
        r#"schedule = [{ at = "2s", state = "down", notify = true }]"#,
        "",
    ));
    let silent = run(&network(
        r#"schedule = [{ at = "2s", state = "down" }]"#,
        "",
    ));
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
    let s = network(
        "",
        r#"schedule = [{ at = "1s", state = "down", notify = true }, { at = "1500ms", state = "up", notify = true }]"#,
    );
    let r = run(&s);
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
    let text = NETWORK
        .replace(
            "WIFI_SCHEDULE",
            r#"queue = "100KB"
schedule = [{ at = "2s", state = "down", notify = true }, { at = "5s", state = "up", notify = true }]"#,
        )
        .replace("CELL_SCHEDULE", r#"queue = "100KB""#)
        .replace(r#"bytes = "20MB""#, r#"bytes = "40MB""#);
    let s = Scenario::from_toml(&text).unwrap_or_else(|e| panic!("{e}"));
    let r = run(&s);
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
    let s = network(
        r#"schedule = [{ at = "1s", state = "down", notify = true }, { at = "2s", state = "up", notify = true }]"#,
        "",
    );
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
    let s = network("", "");
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
    let text = NETWORK
        .replace("WIFI_SCHEDULE", "")
        .replace("CELL_SCHEDULE", "")
        .replace(
            "[tcp]",
            "[mptcp]\nscheduler = \"aggregate\"\nsend_autotune = true\n\n[tcp]",
        )
        .replace(
            r#"name = "server""#,
            "name = \"server\"\nmptcp = { scheduler = \"round-robin\", receive_autotune = true, send_autotune = false }",
        );
    let s = Scenario::from_toml(&text).unwrap();
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
fn rejects(wifi_schedule: &str, expected: &str) {
    let text = NETWORK
        .replace("WIFI_SCHEDULE", wifi_schedule)
        .replace("CELL_SCHEDULE", "");
    let e = Scenario::from_toml(&text)
        .expect_err("should be rejected")
        .to_string();
    assert!(e.contains(expected), "expected {expected:?} in {e:?}");
}

#[test]
fn bad_notify_entries_and_schedulers_say_what_to_fix() {
    rejects(
        r#"schedule = [{ at = "1s", notify = true, rate = "1Mbit" }]"#,
        "link[0].schedule[0].notify: tells the hosts at the link's ends that their interface went down or came back: give `state` too",
    );
    rejects(
        r#"schedule = [{ at = "1s", state = "down", notify = true, direction = "forward" }]"#,
        "link[0].schedule[0].direction: an interface goes down in both directions: leave out `direction` with `notify`",
    );
    let one_way = NETWORK
        .replace("WIFI_SCHEDULE", "")
        .replace("CELL_SCHEDULE", "")
        .replace(
            "[[link]]\nname = \"wan\"\nbetween = [\"r1:wan\", \"server\"]",
            "[[link]]\nname = \"wan\"\nbetween = [\"r1:wan\", \"server\"]\n\n[[link]]\nname = \"spare\"\nfrom = \"server\"\nto = \"phone:cell\"\nschedule = [{ at = \"1s\", state = \"down\", notify = true }]",
        );
    let e = Scenario::from_toml(&one_way)
        .expect_err("one-way")
        .to_string();
    assert!(e.contains("needs a duplex link (`between`)"), "{e}");
    let bad = NETWORK
        .replace("WIFI_SCHEDULE", "")
        .replace("CELL_SCHEDULE", "")
        .replace("[tcp]", "[mptcp]\nscheduler = \"fastest\"\n\n[tcp]");
    let e = Scenario::from_toml(&bad)
        .expect_err("scheduler")
        .to_string();
    assert!(
        e.contains(
            "mptcp.scheduler: unknown scheduler \"fastest\": expected one of lowest-rtt, blest"
        ),
        "{e}"
    );
}
