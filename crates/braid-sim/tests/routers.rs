//! `[[router]]` in scenario files: links meet at a router, which forwards by its
//! routes, so that several paths can share one bottleneck link.

use braid_sim::report::Integrity;
use braid_sim::scenario::{RunOptions, Scenario};

/// Two clients behind router r1, whose "wan" link to the server they share.
const TWO_CLIENTS: &str = r#"
duration = "20s"
[[host]]
name = "a"
addresses = ["10.0.1.1"]
[[host]]
name = "b"
addresses = ["10.0.2.1"]
[[host]]
name = "server"
addresses = ["10.0.9.2"]

[[router]]
name = "r1"
interfaces = ["a", "b", "wan"]
route = [
  { to = "10.0.1.0/24", interface = "a" },
  { to = "10.0.2.0/24", interface = 1 },
  { to = "default", interface = "wan" },
]

[[link]]
name = "la"
between = ["a", "r1:a"]
rate = "100Mbit"
delay = "2ms"
[[link]]
name = "lb"
between = ["b", "r1:b"]
rate = "100Mbit"
delay = "2ms"
[[link]]
name = "wan"
between = ["r1:wan", "server"]
rate = "10Mbit"
delay = "5ms"

[[connection]]
name = "from-a"
client = "a"
server = "server"
app = { type = "bulk", bytes = "2MB" }
[[connection]]
name = "from-b"
client = "b"
server = "server"
port = 5002
app = { type = "bulk", bytes = "2MB" }
"#;

#[test]
fn two_hosts_share_the_link_behind_a_router() {
    let scenario = Scenario::from_toml(TWO_CLIENTS).unwrap();
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
    let scenario = Scenario::from_toml(TWO_CLIENTS).unwrap();
    let built = scenario.build(1);
    assert_eq!(built.routers.len(), 1);
    assert_eq!(built.routers[0].1, "r1");
    assert!(built.pcap_names.contains(&"wan.r1-server.pcap".to_string()));
    assert!(built.pcap_names.contains(&"la.a-r1.pcap".to_string()));
}

#[track_caller]
fn rejects(toml: &str, expected: &str) {
    let text = Scenario::from_toml(toml)
        .expect_err("the scenario should be rejected")
        .to_string();
    assert!(
        text.contains(expected),
        "expected {expected:?} in the error, got {text:?}"
    );
}

#[test]
fn router_mistakes_are_named() {
    let with = |from: &str, to: &str| TWO_CLIENTS.replace(from, to);
    rejects(
        &with("name = \"r1\"", "name = \"a\""),
        "router[0].name: another host or router is named \"a\"",
    );
    rejects(
        &with("interfaces = [\"a\", \"b\", \"wan\"]", "interfaces = []"),
        "router[0].interfaces: a router needs interfaces",
    );
    rejects(
        &with(
            "interfaces = [\"a\", \"b\", \"wan\"]",
            "interfaces = [\"a\", \"a\", \"wan\"]",
        ),
        "router[0].interfaces[1]: router \"r1\" already has an interface \"a\"",
    );
    rejects(
        &with("interface = \"wan\" }", "interface = \"lan\" }"),
        "router[0].route[2].interface: router \"r1\" has no interface \"lan\"",
    );
    rejects(
        &with("interface = 1 }", "interface = 3 }"),
        "router[0].route[1].interface: router \"r1\" has no interface 3 (it has 3)",
    );
    rejects(
        &with("between = [\"a\", \"r1:a\"]", "between = [\"a\", \"r1\"]"),
        "link[0].between[1]: router \"r1\" has 3 interfaces: name one (\"r1:a\")",
    );
    rejects(
        &with("between = [\"a\", \"r1:a\"]", "between = [\"a\", \"r2:a\"]"),
        "no host or router named \"r2\" (hosts: a, b, server; routers: r1)",
    );
    rejects(
        &with("client = \"a\"", "client = \"r1\""),
        "connection[0].client: \"r1\" is a router: connections run between hosts",
    );
}

#[test]
fn paths_through_routers_are_checked() {
    // No route to the server: the path dies at the router.
    rejects(
        &TWO_CLIENTS.replace("  { to = \"default\", interface = \"wan\" },\n", ""),
        "connection[0]: router \"r1\" has no route to 10.0.9.2",
    );
    // No route back to a but the default: the replies go back to the server.
    rejects(
        &TWO_CLIENTS.replace("  { to = \"10.0.1.0/24\", interface = \"a\" },\n", ""),
        "connection[0]: packets to 10.0.1.1 from server:eth0 reach host \"server\" (through router r1)",
    );
    // b's replies routed to a's interface: they reach the wrong host.
    rejects(
        &TWO_CLIENTS.replace(
            "{ to = \"10.0.2.0/24\", interface = 1 }",
            "{ to = \"10.0.2.0/24\", interface = \"a\" }",
        ),
        "connection[1]: packets to 10.0.2.1 from server:eth0 reach host \"a\" (through router r1)",
    );
    // Two routers pointing at each other.
    let looped = TWO_CLIENTS
        .replace(
            "  { to = \"default\", interface = \"wan\" },",
            "  { to = \"default\", interface = \"wan\" },\n  { to = \"10.0.9.0/24\", interface = \"up\" },",
        )
        .replace(
            "interfaces = [\"a\", \"b\", \"wan\"]",
            "interfaces = [\"a\", \"b\", \"wan\", \"up\"]",
        )
        + r#"
[[router]]
name = "r2"
interfaces = ["down"]
route = [{ to = "default", interface = "down" }]
[[link]]
name = "loop"
between = ["r1:up", "r2:down"]
"#;
    rejects(
        &looped,
        "connection[0]: packets to 10.0.9.2 from a:eth0 loop: router r1 -> r2 -> r1",
    );
}
