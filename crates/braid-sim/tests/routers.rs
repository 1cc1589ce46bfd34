//! Routers in scenarios (`[[router]]` in files): links meet at a router, which
//! forwards by its routes, so that several paths can share one bottleneck link.

mod common;

use braid_sim::report::Integrity;
use braid_sim::scenario::spec::{App, Connection, Host, Link, Router, ScenarioSpec};
use braid_sim::scenario::units::{Rate, Size};
use braid_sim::scenario::{RunOptions, Scenario};
use common::{ms, secs};

/// Two clients behind router r1, whose "wan" link to the server they share.
fn two_clients() -> ScenarioSpec {
    let ip = |a: &str| a.parse().unwrap();
    let access = |host: &str| {
        Link::between(host, format!("r1:{host}"))
            .rate(Rate::mbit(100))
            .delay(ms(2))
    };
    let upload = |client: &str| {
        let bytes = Size::mb(2);
        Connection::new(client, "server", App::Bulk { bytes }).name(format!("from-{client}"))
    };
    ScenarioSpec::new("two-clients")
        .duration(secs(20))
        .host(Host::new("a").address(ip("10.0.1.1")))
        .host(Host::new("b").address(ip("10.0.2.1")))
        .host(Host::new("server").address(ip("10.0.9.2")))
        .router(
            Router::new("r1", ["a", "b", "wan"])
                .route("10.0.1.0/24", "a")
                .route("10.0.2.0/24", 1)
                .route("default", "wan"),
        )
        .link(access("a").name("la"))
        .link(access("b").name("lb"))
        .link(
            Link::between("r1:wan", "server")
                .name("wan")
                .rate(Rate::mbit(10))
                .delay(ms(5)),
        )
        .connection(upload("a"))
        .connection(upload("b").port(5002))
}

fn two_clients_scenario() -> Scenario {
    Scenario::from_spec(two_clients()).unwrap()
}

#[test]
fn two_hosts_share_the_link_behind_a_router() {
    let scenario = two_clients_scenario();
    assert_eq!(scenario.routers.len(), 1);
    assert_eq!(scenario.node_name(3), "r1");
    let report = scenario.run(&RunOptions::default()).unwrap().report;
    for c in &report.connections {
        assert_eq!(c.upload.integrity, Integrity::Intact, "{}", c.name);
        assert_eq!(c.upload.bytes_delivered, 2_000_000);
    }
    // Both transfers crossed the one 10 Mbit/s link: together at most its rate.
    let wan = report
        .links
        .iter()
        .find(|l| l.name == "wan" && l.from == "r1")
        .expect("link ends at routers are named after them");
    assert_eq!(wan.to, "server");
    assert!(wan.stats.delivered.bytes > 4_000_000);
    let last = report
        .connections
        .iter()
        .filter_map(|c| c.upload.completion_us)
        .max()
        .unwrap();
    assert!(last as f64 > 4e6 * 8.0 / 10e6 * 1e6, "{last} us");
}

#[test]
fn router_captures_are_named_after_the_router() {
    let built = two_clients_scenario().build(1);
    assert_eq!(built.routers.len(), 1);
    assert_eq!(built.routers[0].1, "r1");
    assert!(built.pcap_names.contains(&"wan.r1-server.pcap".to_string()));
    assert!(built.pcap_names.contains(&"la.a-r1.pcap".to_string()));
}

/// `two_clients` changed by `change` is rejected with `expected`.
#[track_caller]
fn rejects(change: impl FnOnce(&mut ScenarioSpec), expected: &str) {
    let mut spec = two_clients();
    change(&mut spec);
    let text = Scenario::from_spec(spec)
        .expect_err("the scenario should be rejected")
        .to_string();
    assert!(
        text.contains(expected),
        "expected {expected:?} in the error, got {text:?}"
    );
}

#[test]
fn router_mistakes_are_named() {
    rejects(
        |s| s.routers[0].name = "a".to_string(),
        "router[0].name: another host or router is named \"a\"",
    );
    rejects(
        |s| s.routers[0].interfaces.clear(),
        "router[0].interfaces: a router needs interfaces",
    );
    rejects(
        |s| s.routers[0].interfaces[1] = "a".to_string(),
        "router[0].interfaces[1]: router \"r1\" already has an interface \"a\"",
    );
    rejects(
        |s| s.routers[0].routes[2].interface = "lan".into(),
        "router[0].route[2].interface: router \"r1\" has no interface \"lan\"",
    );
    rejects(
        |s| s.routers[0].routes[1].interface = 3.into(),
        "router[0].route[1].interface: router \"r1\" has no interface 3 (it has 3)",
    );
    let first_link_to = |to: &'static str| {
        move |s: &mut ScenarioSpec| s.links[0].between = Some(vec!["a".into(), to.into()])
    };
    rejects(
        first_link_to("r1"),
        "link[0].between[1]: router \"r1\" has 3 interfaces: name one (\"r1:a\")",
    );
    rejects(
        first_link_to("r2:a"),
        "no host or router named \"r2\" (hosts: a, b, server; routers: r1)",
    );
    rejects(
        |s| s.connections[0].client = "r1".to_string(),
        "connection[0].client: \"r1\" is a router: connections run between hosts",
    );
}

#[test]
fn paths_through_routers_are_checked() {
    // No route to the server: the path dies at the router.
    rejects(
        |s| s.routers[0].routes.retain(|r| r.to != "default"),
        "connection[0]: router \"r1\" has no route to 10.0.9.2",
    );
    // No route back to a but the default: the replies go back to the server.
    rejects(
        |s| {
            s.routers[0].routes.remove(0);
        },
        "connection[0]: packets to 10.0.1.1 from server:eth0 reach host \"server\" (through router r1)",
    );
    // b's replies routed to a's interface: they reach the wrong host.
    rejects(
        |s| s.routers[0].routes[1].interface = "a".into(),
        "connection[1]: packets to 10.0.2.1 from server:eth0 reach host \"a\" (through router r1)",
    );
    // Two routers pointing at each other.
    let looped = |s: &mut ScenarioSpec| {
        let r1 = &mut s.routers[0];
        r1.interfaces.push("up".to_string());
        *r1 = r1.clone().route("10.0.9.0/24", "up");
        s.routers
            .push(Router::new("r2", ["down"]).route("default", "down"));
        s.links.push(Link::between("r1:up", "r2:down").name("loop"));
    };
    rejects(
        looped,
        "connection[0]: packets to 10.0.9.2 from a:eth0 loop: router r1 -> r2 -> r1",
    );
}
