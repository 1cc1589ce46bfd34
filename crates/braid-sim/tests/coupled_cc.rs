//! Coupled congestion control at a shared bottleneck (RFC 6356 §2's "do no harm").
//!
//! examples/scenarios/shared-bottleneck.toml, run to its end: one MPTCP connection
//! with two subflows and one single-path TCP connection share a 20 Mbit/s link: both
//! of the MPTCP client's paths and the TCP host's path meet at router r1, whose link
//! to the server is the bottleneck (queue 100 KB, about 1.3 bandwidth-delay
//! products). Every path has the same round-trip time (30 ms), so
//! the fair outcome is half each. Uncoupled controllers give the two subflows two
//! TCPs' worth; LIA, OLIA and BALIA should give the connection about one.
//!
//! ```text
//!   client p1 10.0.1.1 ──100 Mbit/s, 5 ms──┐
//!   client p2 10.0.2.1 ──100 Mbit/s, 5 ms──┤ r1 ══20 Mbit/s, 10 ms══ server 10.0.9.2
//!   single    10.0.3.1 ──100 Mbit/s, 5 ms──┘
//! ```
//!
//! Shares are measured on what the server's applications received from 10 s to 60 s
//! (after slow start). The table the tests print (`cargo test -p braid-sim --test
//! coupled_cc -- --nocapture`), at the time of writing:
//!
//! | MPTCP controller | competing TCP | MPTCP share |
//! |------------------|---------------|-------------|
//! | cubic            | cubic         | 69.9 %      |
//! | newreno          | newreno       | 63.1 %      |
//! | lia              | newreno       | 48.9 %      |
//! | olia             | newreno       | 52.0 %      |
//! | balia            | newreno       | 47.5 %      |
//!
//! The coupled controllers are measured against Reno, the TCP that RFC 6356 (and OLIA
//! and BALIA after it) define fairness against.

use std::path::Path;

use braid_sim::report::Report;
use braid_sim::scenario::spec::{App, Cc, ScenarioSpec, Stop, Tcp};
use braid_sim::scenario::units::Size;
use braid_sim::scenario::{RunOptions, Scenario};

/// The example's network, the MPTCP client running `mptcp_cc` and the TCP host
/// `tcp_cc`, each sending as much as it can for the whole minute.
fn shared_bottleneck(mptcp_cc: Cc, tcp_cc: Cc) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/scenarios/shared-bottleneck.toml");
    let mut spec = ScenarioSpec::from_toml(&std::fs::read_to_string(path).unwrap()).unwrap();
    spec.stop = Some(Stop::Deadline);
    for (host, cc) in spec.hosts.iter_mut().zip([mptcp_cc, tcp_cc]) {
        host.tcp = Some(Tcp::default().cc(cc));
    }
    for c in &mut spec.connections {
        c.app = App::Bulk { bytes: Size::gb(2) };
    }
    Scenario::from_spec(spec).unwrap()
}

/// Seconds left out at the start of the run.
const WARM_UP: usize = 10;
const BOTTLENECK_BPS: f64 = 20e6;

struct Shares {
    /// Mbit/s received from the MPTCP connection and from the TCP one.
    mptcp: f64,
    tcp: f64,
    /// Bytes each MPTCP subflow sent.
    subflows: Vec<u64>,
}

impl Shares {
    fn mptcp_share(&self) -> f64 {
        self.mptcp / (self.mptcp + self.tcp)
    }
}

fn run(mptcp_cc: Cc, tcp_cc: Cc) -> Shares {
    let scenario = shared_bottleneck(mptcp_cc, tcp_cc);
    let report = scenario.run(&RunOptions::default()).unwrap().report;
    let received = |report: &Report, name: &str| -> u64 {
        let c = report.connections.iter().find(|c| c.name == name).unwrap();
        let server = c.server.as_ref().expect("the server end");
        server.delivered_series.bytes().iter().skip(WARM_UP).sum()
    };
    let secs = scenario.duration.as_secs_f64() - WARM_UP as f64;
    let mbit = |bytes: u64| bytes as f64 * 8.0 / secs / 1e6;
    let mptcp = report
        .connections
        .iter()
        .find(|c| c.name == "mptcp")
        .unwrap();
    let client = mptcp.client.as_ref().unwrap();
    assert_eq!(client.protocol, "mptcp");
    let shares = Shares {
        mptcp: mbit(received(&report, "mptcp")),
        tcp: mbit(received(&report, "tcp")),
        subflows: client.subflows.iter().map(|s| s.sent.bytes).collect(),
    };
    println!(
        "| {mptcp_cc:<8} | {tcp_cc:<8} | MPTCP {:5.2} Mbit/s, TCP {:5.2} Mbit/s | MPTCP share {:4.1} % |",
        shares.mptcp,
        shares.tcp,
        100.0 * shares.mptcp_share()
    );
    // The link stays busy whatever the controllers, and both subflows carry data.
    assert!(
        (shares.mptcp + shares.tcp) * 1e6 > 0.9 * BOTTLENECK_BPS,
        "{} + {} Mbit/s",
        shares.mptcp,
        shares.tcp
    );
    assert_eq!(shares.subflows.len(), 2);
    let total: u64 = shares.subflows.iter().sum();
    for &s in &shares.subflows {
        assert!(s * 20 > total, "subflows sent {:?}", shares.subflows);
    }
    shares
}

/// The issue's target for coupled controllers: 50 ± 10 %.
#[track_caller]
fn fair(shares: &Shares) {
    let share = shares.mptcp_share();
    assert!(
        (0.40..=0.60).contains(&share),
        "MPTCP share {:.1} %",
        100.0 * share
    );
}

#[test]
fn uncoupled_cubic_takes_two_shares() {
    let shares = run(Cc::Cubic, Cc::Cubic);
    assert!(shares.mptcp_share() > 0.6, "{:.3}", shares.mptcp_share());
}

#[test]
fn uncoupled_reno_takes_more_than_half() {
    let shares = run(Cc::Newreno, Cc::Newreno);
    assert!(shares.mptcp_share() > 0.58, "{:.3}", shares.mptcp_share());
}

#[test]
fn rfc6356_lia_takes_one_share() {
    fair(&run(Cc::Lia, Cc::Newreno));
}

#[test]
fn olia_takes_one_share() {
    fair(&run(Cc::Olia, Cc::Newreno));
}

#[test]
fn balia_takes_one_share() {
    fair(&run(Cc::Balia, Cc::Newreno));
}
