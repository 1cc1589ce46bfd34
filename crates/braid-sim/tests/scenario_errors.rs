//! A scenario file that cannot run says which field is wrong and why, on one line.

use std::path::Path;

use braid_sim::scenario::{Scenario, ScenarioError};

const HOSTS: &str = r#"
[[host]]
name = "a"
addresses = ["10.0.0.1"]
[[host]]
name = "b"
addresses = ["10.0.0.2"]
"#;

const LINK: &str = r#"
[[link]]
between = ["a", "b"]
"#;

/// The error of `toml`, which must be one line.
fn error(toml: &str) -> String {
    let e = Scenario::from_toml(toml).expect_err("the scenario should be rejected");
    let text = e.to_string();
    assert!(!text.contains('\n'), "not one line: {text:?}");
    text
}

#[track_caller]
fn rejects(toml: &str, expected: &str) {
    let text = error(toml);
    assert!(
        text.contains(expected),
        "expected {expected:?} in the error, got {text:?}"
    );
}

#[test]
fn toml_and_type_errors_name_the_line() {
    rejects("duration = \"1s\n", "line 1, column");
    rejects(
        &format!("{HOSTS}\n[[link]]\nbetween = [\"a\", \"b\"]\nrat = \"1Mbit\"\n"),
        "line 11, column 1: unknown field `rat`",
    );
    rejects("duration = \"10 parsecs\"", "unknown unit \"parsecs\"");
    rejects("duration = 10", "duration 10 needs a unit");
    rejects(
        &format!("{HOSTS}{LINK}rate = \"fast\""),
        "rate \"fast\" does not start with a number",
    );
    rejects(
        &format!("{HOSTS}{LINK}loss = 1.5"),
        "probability 1.5 is outside [0, 1]",
    );
    rejects(&format!("{HOSTS}{LINK}loss = \"150%\""), "outside [0, 1]");
    rejects(
        &format!("{HOSTS}{LINK}down_policy = \"keep\""),
        "unknown variant `keep`",
    );
    rejects(
        &format!(
            "{HOSTS}{LINK}[[connection]]\nclient = \"a\"\nserver = \"b\"\napp = {{ type = \"bulkk\" }}\n"
        ),
        "unknown variant `bulkk`, expected one of `bulk`",
    );
    rejects(
        &format!(
            "{HOSTS}{LINK}[[connection]]\nclient = \"a\"\nserver = \"b\"\napp = {{ type = \"bulk\", byte = 1 }}\n"
        ),
        "unknown field `byte`",
    );
    rejects("[tcp]\ncc = \"bbr\"\n", "unknown variant `bbr`");
}

#[test]
fn invalid_scenarios_name_the_field() {
    let cases: &[(&str, &str)] = &[
        (
            "[[host]]\nname = \"a b\"\naddresses = [\"10.0.0.1\"]\n",
            "host[0].name: \"a b\": a name may only hold",
        ),
        (
            "[[host]]\nname = \"a\"\naddresses = [\"10.0.0.300\"]\n",
            "host[0].addresses[0]: \"10.0.0.300\" is not an IP address",
        ),
        (
            "[[host]]\nname = \"a\"\n",
            "host[0]: a host needs addresses",
        ),
        (
            "[[host]]\nname = \"a\"\naddresses = [\"10.0.0.1\"]\n[[host]]\nname = \"b\"\naddresses = [\"10.0.0.1\"]\n",
            "host[1].addresses[0]: 10.0.0.1 is already an address of host \"a\"",
        ),
        (
            "[[host]]\nname = \"a\"\naddresses = [\"10.0.0.1\"]\n[[host]]\nname = \"a\"\naddresses = [\"10.0.0.2\"]\n",
            "host[1].name: another host is named \"a\"",
        ),
        (
            "[[host]]\nname = \"a\"\naddresses = [\"10.0.0.1\"]\nroute = [{ to = \"10.0.0.0/33\", interface = 0 }]\n",
            "host[0].route[0].to: \"10.0.0.0/33\": prefix length must be 0 to 32",
        ),
        (
            "[[host]]\nname = \"a\"\naddresses = [\"10.0.0.1\"]\nroute = [{ to = \"default\", interface = \"wlan0\" }]\n",
            "host[0].route[0].interface: host \"a\" has no interface \"wlan0\"",
        ),
        (
            "[tcp]\ndelayed_ack = \"2s\"\n",
            "tcp.delayed_ack: 2.000s must be more than 0 and at most 500ms",
        ),
        (
            "[tcp]\nmin_rto = \"3min\"\n",
            "tcp.min_rto: min_rto (180.000s) is more than max_rto (120.000s)",
        ),
        (
            "[[host]]\nname = \"a\"\naddresses = [\"10.0.0.1\"]\ntcp = { send_buffer = 0 }\n",
            "host[0].tcp.send_buffer: must be more than 0 bytes",
        ),
        ("duration = \"0s\"\n", "duration: must be longer than zero"),
    ];
    for (toml, expected) in cases {
        let text = error(toml);
        assert!(
            text.contains(expected),
            "expected {expected:?}, got {text:?}"
        );
    }
}

#[test]
fn invalid_links_name_the_field() {
    let cases: &[(&str, &str)] = &[
        (
            "[[link]]\nbetween = [\"a\", \"c\"]\n",
            "link[0].between[1]: no host named \"c\" (hosts: a, b)",
        ),
        (
            "[[link]]\nbetween = [\"a\"]\n",
            "link[0].between: needs exactly two ends, not 1",
        ),
        (
            "[[link]]\nfrom = \"a\"\n",
            "link[0]: give either `between = [A, B]` (both directions) or `from` and `to`",
        ),
        (
            "[[link]]\nbetween = [\"a\", \"b\"]\n[[link]]\nfrom = \"a\"\nto = \"b\"\n",
            "link[1]: interface a:eth0 already has a link leaving it (\"link0\")",
        ),
        (
            "[[link]]\nbetween = [\"a:eth3\", \"b\"]\n",
            "link[0].between[0]: host \"a\" has no interface \"eth3\"",
        ),
        (
            "[[link]]\nbetween = [\"a\", \"10.9.9.9\"]\n",
            "link[0].between[1]: no host has the address 10.9.9.9",
        ),
        (
            "[[link]]\nbetween = [\"a\", \"b\"]\nmtu = 40\n",
            "link[0].mtu: 40 is not between 68 and 65535",
        ),
        (
            "[[link]]\nbetween = [\"a\", \"b\"]\nschedule = [{ at = \"1s\" }]\n",
            "link[0].schedule[0]: changes nothing",
        ),
        (
            "[[link]]\nfrom = \"a\"\nto = \"b\"\nschedule = [{ at = \"1s\", state = \"down\", direction = \"reverse\" }]\n",
            "link[0].schedule[0].direction: a one-way link has no reverse direction",
        ),
        (
            "[[link]]\nfrom = \"a\"\nto = \"b\"\nreverse = { rate = \"1Mbit\" }\n",
            "link[0]: `forward` and `reverse` are for duplex links",
        ),
    ];
    for (rest, expected) in cases {
        let text = error(&format!("{HOSTS}{rest}"));
        assert!(
            text.contains(expected),
            "expected {expected:?}, got {text:?}"
        );
    }
    rejects(
        &format!(
            "duration = \"1s\"\n{HOSTS}[[link]]\nbetween = [\"a\", \"b\"]\nschedule = [{{ at = \"2s\", state = \"down\" }}]\n"
        ),
        "link[0].schedule[0].at: 2.000s is after the end of the run (1.000s)",
    );
}

#[test]
fn invalid_connections_name_the_field() {
    let conn = |body: &str| format!("{HOSTS}{LINK}[[connection]]\n{body}\n");
    let cases: &[(&str, &str)] = &[
        (
            "client = \"a\"\nserver = \"nobody\"\napp = { type = \"bulk\", bytes = 1 }",
            "connection[0].server: no host named \"nobody\"",
        ),
        (
            "client = \"a\"\nserver = \"a\"\napp = { type = \"bulk\", bytes = 1 }",
            "connection[0]: client and server are both host \"a\"",
        ),
        (
            "client = \"a\"\nserver = \"b\"\napp = { type = \"sink\" }",
            "connection[0].server_app: needed: a client \"sink\" has no usual server",
        ),
        (
            "client = \"a\"\nserver = \"b\"\nport = 0\napp = { type = \"bulk\", bytes = 1 }",
            "connection[0].port: must not be 0",
        ),
        (
            "client = \"a\"\nserver = \"b\"\nstart = \"2min\"\napp = { type = \"bulk\", bytes = 1 }",
            "connection[0].start: 120.000s is after the end of the run (60.000s)",
        ),
        (
            "client = \"a\"\nserver = \"b\"\napp = { type = \"request_response\", request = 0, response = 10 }",
            "connection[0].app.request: must be at least 1 byte",
        ),
        (
            "client = \"a\"\nserver = \"b\"\napp = { type = \"request_response\", request = 1, response = 10, count = 0 }",
            "connection[0].app.count: must be at least 1",
        ),
        (
            "client = \"a\"\nserver = \"b\"\napp = { type = \"scripted\", actions = [{ at = \"1s\", action = \"write\" }] }",
            "connection[0].app.actions[0].bytes: a write needs `bytes`",
        ),
        (
            "client = \"a\"\nserver = \"b\"\napp = { type = \"scripted\", actions = [{ at = \"1s\", action = \"close\", bytes = 3 }] }",
            "connection[0].app.actions[0].bytes: only a write takes `bytes`",
        ),
        (
            "client = \"a\"\nserver = \"b\"\napp = { type = \"scripted\", actions = [] }",
            "connection[0].app.actions: a script needs actions",
        ),
    ];
    for (body, expected) in cases {
        let text = error(&conn(body));
        assert!(
            text.contains(expected),
            "expected {expected:?}, got {text:?}"
        );
    }
}

#[test]
fn connections_need_a_link_each_way() {
    let toml = format!(
        "{HOSTS}[[link]]\nfrom = \"a\"\nto = \"b\"\n[[connection]]\nclient = \"a\"\nserver = \"b\"\napp = {{ type = \"bulk\", bytes = 1 }}\n"
    );
    let text = error(&toml);
    assert!(
        text.contains("connection[0]: no link from b:eth0 to a:eth0"),
        "{text}"
    );
}

#[test]
fn a_multihomed_host_needs_its_address_named() {
    let toml = r#"
[[host]]
name = "a"
addresses = ["10.0.1.1", "10.0.2.1"]
[[host]]
name = "b"
addresses = ["10.0.1.2", "10.0.2.2"]
[[link]]
between = ["a:eth0", "b:eth0"]
[[link]]
between = ["a:1", "b:1"]
[[connection]]
client = "a"
server = "b"
app = { type = "bulk", bytes = 1 }
"#;
    rejects(
        toml,
        "connection[0].server: \"b\" has 2 addresses: name one (\"10.0.1.2\", \"10.0.2.2\")",
    );
    rejects(
        &toml.replace("server = \"b\"", "server = \"10.0.2.2\""),
        "connection[0].client: host \"a\" has several addresses and no route to 10.0.2.2",
    );
    rejects(
        &toml.replace("between = [\"a:1\", \"b:1\"]", "between = [\"a\", \"b:1\"]"),
        "link[1].between[0]: host \"a\" has 2 interfaces: name one (\"a:eth0\")",
    );
    // Named, it is valid.
    Scenario::from_toml(&toml.replace(
        "client = \"a\"\nserver = \"b\"",
        "client = \"a:eth1\"\nserver = \"b:eth1\"",
    ))
    .unwrap();
}

#[test]
fn listeners_are_shared_only_with_one_application() {
    let toml = format!(
        "{HOSTS}{LINK}
[[connection]]
client = \"a\"
server = \"b\"
app = {{ type = \"bulk\", bytes = 1 }}
[[connection]]
client = \"a\"
server = \"b\"
app = {{ type = \"request_response\", request = 1, response = 1 }}
"
    );
    rejects(
        &toml,
        "connection[1].server_app: differs from that of connection[0], which listens on 10.0.0.2:5001 too",
    );
    // Another port, no conflict.
    Scenario::from_toml(&toml.replacen(
        "app = { type = \"request_response\"",
        "port = 80\napp = { type = \"request_response\"",
        1,
    ))
    .unwrap();
}

#[test]
fn load_names_the_file() {
    let missing = Path::new("/nonexistent/scenario.toml");
    let e = Scenario::load(missing).unwrap_err();
    assert!(matches!(e, ScenarioError::Read { .. }));
    let text = e.to_string();
    assert!(
        text.starts_with("cannot read /nonexistent/scenario.toml: "),
        "{text}"
    );
    let dir = std::env::temp_dir().join(format!("braid-sim-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[[link]]\nbetween = [\"x\", \"y\"]\n").unwrap();
    let text = Scenario::load(&path).unwrap_err().to_string();
    assert_eq!(
        text,
        format!(
            "{}: link[0].between[0]: no host named \"x\" (hosts: none)",
            path.display()
        )
    );
    std::fs::remove_dir_all(&dir).ok();
}
