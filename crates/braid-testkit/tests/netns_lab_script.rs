//! scripts/netns-lab.sh builds the layout docs/network-lab.md describes, twice without
//! harm, and deletes all of it. Needs root and `ping` (Debian package iputils-ping);
//! skipped without root, failed instead with `BRAID_REQUIRE_NETNS=1`.

use std::path::PathBuf;
use std::process::{Command, Output};

use braid_testkit::lab::{netns_available, serial};

const PATHS: u8 = 2;
// Not the defaults, so that the options are what makes the layout.
const LINK_NET: &str = "10.40";
const BRAID_NET: &str = "10.41";

/// The script with this test's namespace names and networks.
struct LabScript {
    client: String,
    server: String,
}

impl LabScript {
    fn new() -> LabScript {
        // Names of braid-testkit's pattern (prefix, process id, one more word): if this
        // process is killed, the next test that makes a namespace deletes them.
        let pid = std::process::id();
        LabScript {
            client: format!("braidtest-{pid}-labclient"),
            server: format!("braidtest-{pid}-labserver"),
        }
    }

    fn run(&self, command: &str) -> Output {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/netns-lab.sh");
        Command::new(&script)
            .args(["--client", &self.client, "--server", &self.server])
            .args(["--paths", &PATHS.to_string()])
            .args(["--link-net", LINK_NET, "--braid-net", BRAID_NET])
            .arg(command)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()))
    }

    fn run_ok(&self, command: &str) -> String {
        let out = self.run(command);
        assert!(
            out.status.success(),
            "netns-lab.sh {command} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for LabScript {
    /// `down` even when an assertion failed midway.
    fn drop(&mut self) {
        let _ = self.run("down");
    }
}

/// `ip ARGS`, which must succeed; its output.
fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn namespaces() -> Vec<String> {
    ip(&["netns", "list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// One ping from the client namespace out of `dev` to `addr` must be answered.
fn ping(ns: &str, dev: &str, addr: &str) {
    let out = Command::new("ip")
        .args([
            "netns", "exec", ns, "ping", "-c", "1", "-W", "2", "-I", dev, addr,
        ])
        .output()
        .expect("run ip netns exec ping");
    assert!(
        out.status.success(),
        "ping {addr} by {dev} failed (no `ping`? Debian package iputils-ping):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_lab_script_builds_two_paths_that_carry_packets_and_removes_them() {
    if !netns_available("the_lab_script_builds_two_paths_that_carry_packets_and_removes_them") {
        return;
    }
    let _turn = serial();
    let lab = LabScript::new();
    lab.run_ok("up");
    // Again: nothing doubles, nothing fails.
    lab.run_ok("up");
    let names = namespaces();
    assert!(
        names.contains(&lab.client) && names.contains(&lab.server),
        "{names:?}"
    );

    let (client, server) = (lab.client.as_str(), lab.server.as_str());
    let rules = ip(&["-n", client, "rule", "show"]);
    for n in 1..=PATHS {
        let rule = format!("from {BRAID_NET}.{n}.1 lookup {n}");
        assert_eq!(
            rules.matches(&rule).count(),
            1,
            "rule `{rule}` once:\n{rules}"
        );
        let table = ip(&["-n", client, "route", "show", "table", &n.to_string()]);
        assert!(
            table.contains(&format!("default via {LINK_NET}.{n}.2 dev c{n}")),
            "table {n}:\n{table}"
        );
        let back = ip(&["-n", server, "route", "show"]);
        assert!(
            back.contains(&format!(
                "{BRAID_NET}.{n}.0/24 via {LINK_NET}.{n}.1 dev s{n}"
            )),
            "the server's route back to braid's path {n}:\n{back}"
        );
        ping(client, &format!("c{n}"), &format!("{LINK_NET}.{n}.2"));
        ping(client, &format!("c{n}"), &format!("fd00:{n}::2"));
    }
    // What braid sends from its path-2 address leaves by path 2, whatever the
    // destination: as if it came out of braid's TUN device.
    let route = ip(&[
        "-n",
        client,
        "route",
        "get",
        &format!("{LINK_NET}.1.2"),
        "from",
        &format!("{BRAID_NET}.2.1"),
        "iif",
        "lo",
    ]);
    assert!(route.contains("dev c2"), "{route}");
    let endpoints = ip(&["-n", server, "mptcp", "endpoint", "show"]);
    assert!(
        endpoints.contains(&format!("{LINK_NET}.2.2")) && endpoints.contains("signal"),
        "{endpoints}"
    );
    let limits = ip(&["-n", server, "mptcp", "limits", "show"]);
    assert!(limits.contains("subflows 8"), "{limits}");
    assert!(lab.run_ok("status").contains(&format!("{LINK_NET}.1.2/24")));

    lab.run_ok("down");
    let names = namespaces();
    assert!(
        !names.contains(&lab.client) && !names.contains(&lab.server),
        "{names:?}"
    );
    assert!(
        !lab.run("status").status.success(),
        "status of a lab that is down"
    );
}
