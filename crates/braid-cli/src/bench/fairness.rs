//! `braid bench fairness`: an MPTCP connection and a TCP connection share one
//! bottleneck; what share does MPTCP take?
//!
//! The network of braid-sim's `Multipath::shared_bottleneck`, as in
//! crates/braid-sim/tests/coupled_cc.rs and examples/scenarios/shared-bottleneck.toml:
//! the MPTCP client's paths (two, or
//! three) and the TCP host's path each have a 100 Mbit/s, 5 ms link to router r1,
//! whose 20 Mbit/s, 10 ms link (queue 100 KB, about 1.3 bandwidth-delay products)
//! to the server is the bottleneck they all queue at. Every path has the same
//! round-trip time, so a fair MPTCP connection gets half. Both transfers run for
//! 60 s; shares are measured on what the server's applications received from 10 s on
//! (after slow start).
//!
//! The MPTCP client runs each congestion controller; the TCP connection runs CUBIC
//! against CUBIC and Reno against the others (Reno is what RFC 6356, OLIA and BALIA
//! define fairness against). Uncoupled controllers are expected to take about one
//! TCP share per subflow; LIA, OLIA and BALIA about one in all.

use anyhow::{bail, Context, Result};
use braid_proto::time::Duration;
use braid_sim::report::Report;
use braid_sim::scenario::multipath::{Multipath, SERVER};
use braid_sim::scenario::spec::{
    App, Cc, Connection, Host, Link, Mptcp, MptcpLimits, ScenarioSpec, Stop, Tcp,
};
use braid_sim::scenario::units::{Rate, Size};
use braid_sim::scenario::{Scenario, ScenarioError};
use serde_json::{json, Value};

use super::aggregation::subflow_lines;
use super::plot::{self, Plot};
use super::{mbit, parallel_map, percent, simulate, Suite, SuiteResult, Target};

/// The MPTCP connection's congestion controllers, in table order.
pub const CONTROLLERS: [Cc; 5] = [Cc::Cubic, Cc::Newreno, Cc::Lia, Cc::Olia, Cc::Balia];
/// Those that must be fair.
pub const COUPLED: [Cc; 3] = [Cc::Lia, Cc::Olia, Cc::Balia];
/// Subflow counts of the MPTCP connection.
pub const SUBFLOWS: [usize; 2] = [2, 3];
/// Seconds left out at the start.
pub const WARM_UP_S: usize = 10;
const DURATION_S: usize = 60;
const BOTTLENECK_BPS: f64 = 20e6;

/// One run's setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    pub subflows: usize,
    pub cc: Cc,
}

impl Case {
    /// The controller of the competing TCP connection.
    pub fn tcp_cc(&self) -> Cc {
        if self.cc == Cc::Cubic {
            Cc::Cubic
        } else {
            Cc::Newreno
        }
    }
}

pub fn cases() -> Vec<Case> {
    SUBFLOWS
        .iter()
        .flat_map(|&subflows| CONTROLLERS.iter().map(move |&cc| Case { subflows, cc }))
        .collect()
}

/// The scenario of a case.
pub fn scenario(case: &Case) -> Result<Scenario, ScenarioError> {
    let extra_subflows = u8::try_from(case.subflows - 1).expect("a few subflows");
    let client = Host::new("client")
        .tcp(Tcp::default().cc(case.cc))
        .mptcp(Mptcp::default().limits(MptcpLimits::default().subflows(extra_subflows)));
    let single = Host::new("single")
        .tcp(Tcp::default().cc(case.tcp_cc()))
        .mptcp(Mptcp::default().enabled(false));
    let access = Link::default()
        .rate(Rate::mbit(100))
        .delay(Duration::from_millis(5));
    let bottleneck = Link::default()
        .rate(Rate::mbit(20))
        .delay(Duration::from_millis(10))
        .queue(Size::kb(100));
    let network = Multipath::shared_bottleneck(client, case.subflows, access, bottleneck, single);
    let bulk = |client: &str, port: u16| {
        let bytes = Size::gb(2);
        Connection::new(client, SERVER, App::Bulk { bytes }).port(port)
    };
    let spec = ScenarioSpec::new("fairness")
        .duration(Duration::from_secs(DURATION_S as u64))
        .stop(Stop::Deadline)
        .bin(Duration::from_secs(1))
        .tcp(
            Tcp::default()
                .send_buffer(Size::mib(4))
                .recv_buffer(Size::mib(4)),
        );
    let spec = network
        .add_to(spec)
        .connection(bulk("client", 5001).name("mptcp"))
        .connection(bulk("single", 5002).name("tcp"));
    Scenario::from_spec(spec)
}

/// One run's results.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub case: Case,
    /// Goodput after the warm-up, bits per second.
    pub mptcp_bps: f64,
    pub tcp_bps: f64,
    /// Payload bytes each MPTCP subflow sent.
    pub subflow_bytes: Vec<u64>,
    pub report: Report,
}

impl RunResult {
    /// MPTCP's share of what both received.
    pub fn share(&self) -> f64 {
        self.mptcp_bps / (self.mptcp_bps + self.tcp_bps)
    }
}

pub fn run_one(case: &Case, seed: u64) -> Result<RunResult> {
    let report = simulate(scenario(case), seed)?;
    let received = |name: &str| -> Result<f64> {
        let c = report
            .connections
            .iter()
            .find(|c| c.name == name)
            .with_context(|| format!("no connection {name} in the report"))?;
        let server = c.server.as_ref().context("the server end")?;
        let bytes: u64 = server.delivered_series.bytes().iter().skip(WARM_UP_S).sum();
        Ok(bytes as f64 * 8.0 / (DURATION_S - WARM_UP_S) as f64)
    };
    let (mptcp_bps, tcp_bps) = (received("mptcp")?, received("tcp")?);
    let m = report
        .connections
        .iter()
        .find(|c| c.name == "mptcp")
        .and_then(|c| c.client.as_ref())
        .context("the MPTCP client")?;
    if m.protocol != "mptcp" {
        bail!("the MPTCP connection ran as {}", m.protocol);
    }
    let subflow_bytes: Vec<u64> = m.subflows.iter().map(|s| s.sent.bytes).collect();
    if subflow_bytes.len() != case.subflows {
        bail!(
            "{} subflows instead of {}",
            subflow_bytes.len(),
            case.subflows
        );
    }
    Ok(RunResult {
        case: *case,
        mptcp_bps,
        tcp_bps,
        subflow_bytes,
        report,
    })
}

pub fn run(seed: u64) -> Result<SuiteResult> {
    let cases = cases();
    let results: Vec<RunResult> = parallel_map(&cases, |c| run_one(c, seed))
        .into_iter()
        .collect::<Result<_>>()?;
    Ok(SuiteResult {
        suite: Suite::Fairness,
        text: text(&results, seed),
        json: json!({ "runs": results.iter().map(run_json).collect::<Vec<_>>() }),
        targets: targets(&results),
        plots: results.iter().map(plot).collect(),
    })
}

pub fn targets(results: &[RunResult]) -> Vec<Target> {
    let coupled: Vec<&RunResult> = results
        .iter()
        .filter(|r| COUPLED.contains(&r.case.cc))
        .collect();
    if coupled.is_empty() {
        return Vec::new();
    }
    let describe = |r: &RunResult| {
        format!(
            "{} with {} subflows {}",
            r.case.cc,
            r.case.subflows,
            percent(r.share())
        )
    };
    let bad: Vec<String> = coupled
        .iter()
        .filter(|r| !(0.40..=0.60).contains(&r.share()))
        .map(|r| describe(r))
        .collect();
    vec![Target {
        what: "MPTCP's share within 50 ± 10% with LIA, OLIA and BALIA (2 and 3 subflows)".into(),
        met: bad.is_empty(),
        measured: if bad.is_empty() {
            coupled
                .iter()
                .map(|r| describe(r))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            format!("outside: {}", bad.join(", "))
        },
    }]
}

fn text(results: &[RunResult], seed: u64) -> String {
    let mut o = format!(
        "Fairness (seed {seed}): one MPTCP connection and one TCP connection share a\n\
         20 Mbit/s bottleneck (every path 30 ms RTT) for {DURATION_S} s; goodput from {WARM_UP_S} s on.\n\
         The TCP connection runs CUBIC against CUBIC, Reno against the others.\n\n"
    );
    let mut rows = vec![vec![
        "subflows".to_string(),
        "MPTCP cc".to_string(),
        "TCP cc".to_string(),
        "MPTCP".to_string(),
        "TCP".to_string(),
        "MPTCP share".to_string(),
        "bytes per subflow".to_string(),
    ]];
    for r in results {
        rows.push(vec![
            r.case.subflows.to_string(),
            r.case.cc.to_string(),
            r.case.tcp_cc().to_string(),
            format!("{} Mbit/s", mbit(r.mptcp_bps)),
            format!("{} Mbit/s", mbit(r.tcp_bps)),
            percent(r.share()),
            r.subflow_bytes
                .iter()
                .map(|&b| braid_sim::report::text::bytes(b))
                .collect::<Vec<_>>()
                .join(" / "),
        ]);
    }
    o.push_str(&braid_sim::report::text::table(&rows));
    o
}

fn run_json(r: &RunResult) -> Value {
    json!({
        "subflows": r.case.subflows,
        "mptcp_cc": r.case.cc.name(),
        "tcp_cc": r.case.tcp_cc().name(),
        "mptcp_goodput_bps": r.mptcp_bps,
        "tcp_goodput_bps": r.tcp_bps,
        "mptcp_share": r.share(),
        "link_utilisation": (r.mptcp_bps + r.tcp_bps) / BOTTLENECK_BPS,
        "subflow_bytes_sent": r.subflow_bytes,
    })
}

fn plot(r: &RunResult) -> (String, String) {
    let name = format!("fairness-{}subflows-{}.svg", r.case.subflows, r.case.cc);
    let p = Plot {
        title: format!(
            "fairness: MPTCP ({} subflows, {}) and TCP ({}) at a 20 Mbit/s bottleneck",
            r.case.subflows,
            r.case.cc,
            r.case.tcp_cc()
        ),
        subtitle: format!(
            "from {WARM_UP_S} s: MPTCP {} Mbit/s, TCP {} Mbit/s, MPTCP share {}",
            mbit(r.mptcp_bps),
            mbit(r.tcp_bps),
            percent(r.share())
        ),
        bin_s: 1.0,
        // The TCP host is at 10.0.100.1 (`Multipath::COMPETITOR`), path p at 10.0.p.1.
        lines: subflow_lines(&r.report, |a| {
            let ip = a.split(':').next().unwrap_or(a);
            match ip.split('.').nth(2) {
                Some("100") => "single path".to_string(),
                Some(p) => format!("path{p}"),
                None => ip.to_string(),
            }
        }),
        markers: vec![(WARM_UP_S as f64, "measured from here".into())],
    };
    (name, plot::svg(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_is_valid() {
        for c in cases() {
            let s = scenario(&c).unwrap_or_else(|e| panic!("{c:?}: {e}"));
            assert_eq!(s.hosts[0].interfaces.len(), c.subflows);
            assert_eq!(
                s.hosts[0].endpoint.mptcp.path_manager.endpoints.len(),
                c.subflows - 1
            );
        }
    }
}
