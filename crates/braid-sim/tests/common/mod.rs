//! What several of these tests share.
// Each test crate uses some of it.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;

use braid_proto::pm::EndpointFlags;
use braid_proto::time::Duration;
use braid_sim::scenario::spec::{Host, Link, ScenarioSpec};

pub const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
pub const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

/// A client's endpoint that opens a subflow once the connection is up.
pub const SUBFLOW: EndpointFlags = EndpointFlags {
    signal: false,
    subflow: true,
    backup: false,
    fullmesh: false,
};

pub fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

pub fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// A scenario named "test" with hosts "client" ([`CLIENT`]) and "server"
/// ([`SERVER`]), and `link` between them.
pub fn two_hosts(link: Link) -> ScenarioSpec {
    ScenarioSpec::new("test")
        .host(Host::new("client").address(CLIENT))
        .host(Host::new("server").address(SERVER))
        .link(Link {
            between: Some(vec!["client".to_string(), "server".to_string()]),
            ..link
        })
}

/// Whether tshark can be run; without it, tests that need it pass with a note, unless
/// BRAID_REQUIRE_TSHARK=1 asks for them to fail.
pub fn tshark_available() -> bool {
    if Command::new("tshark").arg("--version").output().is_ok() {
        return true;
    }
    if std::env::var_os("BRAID_REQUIRE_TSHARK").is_some_and(|v| v == "1") {
        panic!("tshark is not installed and BRAID_REQUIRE_TSHARK=1: apt-get install -y tshark");
    }
    eprintln!("tshark not installed: skipping (set BRAID_REQUIRE_TSHARK=1 to fail instead)");
    false
}

/// The `fields` of every packet of the capture file at `path`, as tshark decodes them
/// with the preferences `options` (`-o`).
pub fn tshark_fields(path: &Path, fields: &[&str], options: &[&str]) -> Vec<Vec<String>> {
    let mut tshark = Command::new("tshark");
    tshark.arg("-n").arg("-r").arg(path).args(["-T", "fields"]);
    for field in fields {
        tshark.args(["-e", field]);
    }
    for option in options {
        tshark.args(["-o", option]);
    }
    let out = tshark.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}
