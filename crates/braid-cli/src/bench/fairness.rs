//! `braid bench fairness`: an MPTCP connection and a TCP connection share one
//! bottleneck; what share does MPTCP take?
//!
//! The network of crates/braid-sim/tests/coupled_cc.rs and
//! examples/scenarios/shared-bottleneck.toml: the MPTCP client's paths (two, or
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
use braid_sim::report::Report;
use braid_sim::scenario::{RunOptions, Scenario};
use serde_json::{json, Value};

use super::aggregation::subflow_lines;
use super::plot::{self, Plot};
use super::{mbit, parallel_map, percent, Suite, SuiteResult, Target};

/// The MPTCP connection's congestion controllers, in table order.
pub const CONTROLLERS: [&str; 5] = ["cubic", "newreno", "lia", "olia", "balia"];
/// Those that must be fair.
pub const COUPLED: [&str; 3] = ["lia", "olia", "balia"];
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
    pub cc: &'static str,
}

impl Case {
    /// The controller of the competing TCP connection.
    pub fn tcp_cc(&self) -> &'static str {
        if self.cc == "cubic" {
            "cubic"
        } else {
            "newreno"
        }
    }
}

pub fn cases() -> Vec<Case> {
    SUBFLOWS
        .iter()
        .flat_map(|&subflows| CONTROLLERS.iter().map(move |&cc| Case { subflows, cc }))
        .collect()
}

/// The scenario of a case, in `braid sim`'s format.
pub fn scenario_toml(case: &Case) -> String {
    let n = case.subflows;
    let interfaces: String = (1..=n)
        .map(|i| format!("[[host.interface]]\nname = \"p{i}\"\naddresses = [\"10.0.{i}.1\"]\n"))
        .collect();
    let endpoints: Vec<String> = (2..=n).map(|i| format!("\"10.0.{i}.1,subflow\"")).collect();
    let router_ifaces: Vec<String> = (1..=n)
        .map(|i| format!("\"p{i}\""))
        .chain(["\"single\"".to_string(), "\"wan\"".to_string()])
        .collect();
    let routes: String = (1..=n)
        .map(|i| format!("  {{ to = \"10.0.{i}.0/24\", interface = \"p{i}\" }},\n"))
        .collect();
    let links: String = (1..=n)
        .map(|i| {
            format!(
                "[[link]]\nname = \"path{i}\"\nbetween = [\"client:p{i}\", \"r1:p{i}\"]\nrate = \"100Mbit\"\ndelay = \"5ms\"\n\n"
            )
        })
        .collect();
    format!(
        r#"name = "fairness"
duration = "{DURATION_S}s"
stop = "deadline"
bin = "1s"

[tcp]
send_buffer = "4MiB"
recv_buffer = "4MiB"

[[host]]
name = "client"
routing = "source"
route = [{{ to = "default", interface = "p1" }}]
tcp = {{ cc = "{cc}" }}
mptcp = {{ endpoints = [{endpoints}], limits = {{ subflows = {extra} }} }}
{interfaces}
[[host]]
name = "single"
addresses = ["10.0.100.1"]
tcp = {{ cc = "{tcp_cc}" }}
mptcp = {{ enabled = false }}

[[host]]
name = "server"
addresses = ["10.0.200.2"]

[[router]]
name = "r1"
interfaces = [{router_ifaces}]
route = [
{routes}  {{ to = "10.0.100.0/24", interface = "single" }},
  {{ to = "10.0.200.0/24", interface = "wan" }},
]

{links}[[link]]
name = "access"
between = ["single", "r1:single"]
rate = "100Mbit"
delay = "5ms"

[[link]]
name = "bottleneck"
between = ["r1:wan", "server"]
rate = "20Mbit"
delay = "10ms"
queue = "100KB"

[[connection]]
name = "mptcp"
client = "client"
server = "10.0.200.2"
port = 5001
app = {{ type = "bulk", bytes = "2GB" }}

[[connection]]
name = "tcp"
client = "single"
server = "10.0.200.2"
port = 5002
app = {{ type = "bulk", bytes = "2GB" }}
"#,
        cc = case.cc,
        tcp_cc = case.tcp_cc(),
        endpoints = endpoints.join(", "),
        extra = n - 1,
        router_ifaces = router_ifaces.join(", "),
    )
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
    let scenario = Scenario::from_toml(&scenario_toml(case)).context("the benchmark's scenario")?;
    let report = scenario
        .run(&RunOptions {
            seed: Some(seed),
            ..RunOptions::default()
        })
        .context("running the simulation")?
        .report;
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
        "mptcp_cc": r.case.cc,
        "tcp_cc": r.case.tcp_cc(),
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
            let toml = scenario_toml(&c);
            let s = Scenario::from_toml(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
            assert_eq!(s.hosts[0].interfaces.len(), c.subflows);
        }
    }
}
