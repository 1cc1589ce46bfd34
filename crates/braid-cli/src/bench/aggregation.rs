//! `braid bench aggregation`: one MPTCP connection over two paths, goodput as a
//! fraction of the sum of the paths' rates.
//!
//! The cases are Linux's selftest net/mptcp/simult_flows.sh as docs/design.md records it
//! (two paths of 10+10 and 15+5 Mbit/s, one-way delays 0/0, 1/25 and 25/1 ms, 16 MiB
//! each way at once over one connection) and a phone's Wi-Fi (50 Mbit/s, 10 ms) and
//! cellular (20 Mbit/s, 30 ms), also with 1% loss on cellular (32 MiB upload). Each
//! runs at three receive buffer sizes, set on both ends (`recv_buffer` and
//! `initial_recv_buffer`, so no auto-tuning: the MPTCP connection-level window is the
//! buffer):
//!
//! - max-BDP: the largest single-path bandwidth-delay product,
//! - RTT_max·Σbw: the largest round-trip time times the sum of the rates, the tight
//!   bound for aggregation,
//! - 2·RTT_max·Σbw: the usual rule,
//!
//! with round-trip times of twice the one-way delays, and never less than 64 KiB (about
//! the receive window Linux starts with), which only the 0/0 ms cases reach. Every
//! scheduler runs each, and so does TCP over each path alone (MPTCP off): the best of
//! the two is the "best single path" MPTCP should never fall below.
//!
//! The network: the client's two interfaces each have a link to router r1, whose
//! unlimited link leads to the server (one address), as Linux's test has its middle
//! namespace. Links keep the simulator's default queue (1000 packets, netem's
//! default limit) for simult_flows, and the demo's (250 KB, 300 KB) for Wi-Fi and
//! cellular.

use anyhow::{bail, Context, Result};
use braid_proto::sched::SchedulerKind;
use braid_proto::time::Duration;
use braid_sim::report::{Integrity, Report, SideReport};
use braid_sim::scenario::multipath::{Multipath, Path, ToServer};
use braid_sim::scenario::spec::{App, Connection, Host, Link, Mptcp, ScenarioSpec, Tcp, Verify};
use braid_sim::scenario::units::{Rate, Size};
use braid_sim::scenario::{Scenario, ScenarioError};
use serde_json::{json, Value};

use super::plot::{self, Line, Plot};
use super::{mbit, parallel_map, percent, simulate, slug, Suite, SuiteResult, Target, SUBFLOW};

/// Every scheduler, in table order.
pub const SCHEDULERS: [SchedulerKind; 5] = [
    SchedulerKind::LowestRtt,
    SchedulerKind::Blest,
    SchedulerKind::Ecf,
    SchedulerKind::Redundant,
    SchedulerKind::RoundRobin,
];

/// The smallest receive buffer used.
pub const MIN_BUFFER: u64 = 64 * 1024;

const MIB: u64 = 1024 * 1024;

/// The plots average this many 100 ms bins into one point.
const PLOT_BINS: usize = 5;

/// Which family a case belongs to: the targets differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    SimultFlows,
    WifiCellular,
}

/// Two paths and a transfer.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub name: String,
    /// A short name for files.
    pub slug: String,
    pub family: Family,
    /// Rates in Mbit/s, one-way delays in ms, loss probabilities, queues (None: the
    /// simulator's default), of path 1 and path 2 (both directions alike).
    pub rates_mbit: [u64; 2],
    pub delays_ms: [u64; 2],
    pub loss: [f64; 2],
    pub queues: [Option<Size>; 2],
    /// Bytes the client sends, and the server, at once.
    pub up_bytes: u64,
    pub down_bytes: u64,
}

impl Case {
    /// The sum of the paths' rates, bits per second.
    pub fn link_sum_bps(&self) -> f64 {
        (self.rates_mbit[0] + self.rates_mbit[1]) as f64 * 1e6
    }

    fn bdp(&self, path: usize) -> f64 {
        self.rates_mbit[path] as f64 * 1e6 / 8.0 * self.rtt_s(path)
    }

    fn rtt_s(&self, path: usize) -> f64 {
        2.0 * self.delays_ms[path] as f64 / 1e3
    }

    pub fn path_names(&self) -> [&'static str; 2] {
        match self.family {
            Family::SimultFlows => ["path1", "path2"],
            Family::WifiCellular => ["wifi", "cell"],
        }
    }
}

/// The receive buffer rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buffer {
    MaxBdp,
    RttMaxSum,
    TwoRttMaxSum,
}

impl Buffer {
    pub const ALL: [Buffer; 3] = [Buffer::MaxBdp, Buffer::RttMaxSum, Buffer::TwoRttMaxSum];

    /// A short name for files.
    pub fn slug(self) -> &'static str {
        match self {
            Buffer::MaxBdp => "maxbdp",
            Buffer::RttMaxSum => "rttsum",
            Buffer::TwoRttMaxSum => "2rttsum",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Buffer::MaxBdp => "max-BDP",
            Buffer::RttMaxSum => "RTT_max·Σbw",
            Buffer::TwoRttMaxSum => "2·RTT_max·Σbw",
        }
    }

    /// The buffer for `case`, bytes.
    pub fn bytes(self, case: &Case) -> u64 {
        let rtt_max = case.rtt_s(0).max(case.rtt_s(1));
        let sum = case.link_sum_bps() / 8.0;
        let b = match self {
            Buffer::MaxBdp => case.bdp(0).max(case.bdp(1)),
            Buffer::RttMaxSum => rtt_max * sum,
            Buffer::TwoRttMaxSum => 2.0 * rtt_max * sum,
        };
        (b.round() as u64).max(MIN_BUFFER)
    }
}

/// What carries the transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Mptcp(SchedulerKind),
    /// Plain TCP over path 0 or 1 alone.
    Tcp(usize),
}

impl Transport {
    pub fn name(self, case: &Case) -> String {
        match self {
            Transport::Mptcp(s) => s.name().to_string(),
            Transport::Tcp(p) => format!("tcp-{}", case.path_names()[p]),
        }
    }
}

/// The cases, in table order.
pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for rates in [[10, 10], [15, 5]] {
        for delays in [[0, 0], [1, 25], [25, 1]] {
            out.push(Case {
                name: format!(
                    "{}+{} Mbit/s, {}/{} ms",
                    rates[0], rates[1], delays[0], delays[1]
                ),
                slug: format!(
                    "simult-{}+{}-{}-{}ms",
                    rates[0], rates[1], delays[0], delays[1]
                ),
                family: Family::SimultFlows,
                rates_mbit: rates,
                delays_ms: delays,
                loss: [0.0, 0.0],
                queues: [None, None],
                up_bytes: 16 * MIB,
                down_bytes: 16 * MIB,
            });
        }
    }
    for (loss, name, slug) in [
        (0.0, "Wi-Fi + cellular", "wifi-cell"),
        (
            0.01,
            "Wi-Fi + cellular, 1% loss on cellular",
            "wifi-cell-loss1",
        ),
    ] {
        out.push(Case {
            name: name.to_string(),
            slug: slug.to_string(),
            family: Family::WifiCellular,
            rates_mbit: [50, 20],
            delays_ms: [10, 30],
            loss: [0.0, loss],
            queues: [Some(Size::kb(250)), Some(Size::kb(300))],
            up_bytes: 32 * MIB,
            down_bytes: 0,
        });
    }
    out
}

/// The scenario of one run.
pub fn scenario(
    case: &Case,
    buffer: Buffer,
    transport: Transport,
) -> Result<Scenario, ScenarioError> {
    let buf = Size::bytes(buffer.bytes(case));
    let (mptcp, scheduler, client) = match transport {
        Transport::Mptcp(s) => (true, s, "client".to_string()),
        Transport::Tcp(p) => (
            false,
            SchedulerKind::LowestRtt,
            Multipath::client_address(p).to_string(),
        ),
    };
    let paths = (0..2)
        .map(|p| {
            let mut link = Link::default()
                .rate(Rate::mbit(case.rates_mbit[p]))
                .delay(Duration::from_millis(case.delays_ms[p]));
            if case.loss[p] > 0.0 {
                link = link.loss(case.loss[p]);
            }
            link.queue = case.queues[p];
            let path = Path::new(case.path_names()[p], link);
            // The second path joins once the connection is up.
            if p == 1 {
                path.endpoint(SUBFLOW)
            } else {
                path
            }
        })
        .collect();
    let network = Multipath {
        client: Host::new("client"),
        paths,
        to_server: ToServer::router(),
    };
    let server_app = if case.down_bytes > 0 {
        App::Bulk {
            bytes: Size::bytes(case.down_bytes),
        }
    } else {
        App::Sink {
            verify: Some(Verify::Sha256),
        }
    };
    let transfer = Connection::new(
        client,
        ToServer::ADDRESS.to_string(),
        App::Bulk {
            bytes: Size::bytes(case.up_bytes),
        },
    )
    .name("transfer")
    .server_app(server_app);
    let spec = ScenarioSpec::new("aggregation")
        .duration(Duration::from_secs(600))
        .bin(Duration::from_millis(100))
        .tcp(
            Tcp::default()
                .send_buffer(Size::mib(4))
                .recv_buffer(buf)
                .initial_recv_buffer(buf),
        )
        .mptcp(Mptcp::default().enabled(mptcp).scheduler(scheduler));
    Scenario::from_spec(network.add_to(spec).connection(transfer))
}

/// One run's results.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub transport: Transport,
    pub buffer: Buffer,
    pub buffer_bytes: u64,
    /// Goodput of each direction that carried data, bits per second.
    pub up_bps: f64,
    pub down_bps: Option<f64>,
    /// The slower direction as a fraction of the sum of the paths' rates.
    pub fraction: f64,
    pub report: Report,
}

/// Runs one case with one buffer and transport.
pub fn run_one(case: &Case, buffer: Buffer, transport: Transport, seed: u64) -> Result<RunResult> {
    let report = simulate(scenario(case, buffer, transport), seed)?;
    let c = report
        .connections
        .first()
        .context("the run has no connection")?;
    let what = format!(
        "{} / {} / {}",
        case.name,
        buffer.name(),
        transport.name(case)
    );
    for (t, dir) in [(&c.upload, "upload"), (&c.download, "download")] {
        if t.integrity != Integrity::Intact {
            bail!(
                "{what}: the {dir} arrived {:?}: {} of {} bytes",
                t.integrity,
                t.bytes_delivered,
                t.bytes_written
            );
        }
    }
    let expected = if matches!(transport, Transport::Mptcp(_)) {
        "mptcp"
    } else {
        "tcp"
    };
    if c.protocol != expected {
        bail!("{what}: ran as {}, not {expected}", c.protocol);
    }
    let up_bps = c.upload.goodput_bps.unwrap_or(0.0);
    let down_bps = (case.down_bytes > 0).then(|| c.download.goodput_bps.unwrap_or(0.0));
    let slower = down_bps.map_or(up_bps, |d| d.min(up_bps));
    Ok(RunResult {
        transport,
        buffer,
        buffer_bytes: buffer.bytes(case),
        up_bps,
        down_bps,
        fraction: slower / case.link_sum_bps(),
        report,
    })
}

/// Every run of one case and buffer: the schedulers, then TCP over each path.
pub fn transports() -> Vec<Transport> {
    SCHEDULERS
        .iter()
        .map(|&s| Transport::Mptcp(s))
        .chain([Transport::Tcp(0), Transport::Tcp(1)])
        .collect()
}

/// The results of one case and buffer.
pub struct Row<'a> {
    pub case: &'a Case,
    pub buffer: Buffer,
    pub runs: Vec<RunResult>,
}

impl Row<'_> {
    pub fn mptcp(&self, s: SchedulerKind) -> Option<&RunResult> {
        self.runs
            .iter()
            .find(|r| r.transport == Transport::Mptcp(s))
    }

    /// The better of TCP over either path alone.
    pub fn best_single(&self) -> Option<&RunResult> {
        self.runs
            .iter()
            .filter(|r| matches!(r.transport, Transport::Tcp(_)))
            .max_by(|a, b| a.fraction.total_cmp(&b.fraction))
    }
}

pub fn run(seed: u64) -> Result<SuiteResult> {
    let cases = cases();
    let mut jobs = Vec::new();
    for (c, _) in cases.iter().enumerate() {
        for b in Buffer::ALL {
            for t in transports() {
                jobs.push((c, b, t));
            }
        }
    }
    let results = parallel_map(&jobs, |&(c, b, t)| run_one(&cases[c], b, t, seed));
    let mut rows: Vec<Row> = Vec::new();
    for (&(c, b, _), r) in jobs.iter().zip(results) {
        let r = r?;
        match rows.last_mut() {
            Some(row) if std::ptr::eq(row.case, &cases[c]) && row.buffer == b => row.runs.push(r),
            _ => rows.push(Row {
                case: &cases[c],
                buffer: b,
                runs: vec![r],
            }),
        }
    }
    let targets = targets(&rows);
    Ok(SuiteResult {
        suite: Suite::Aggregation,
        text: text(&rows, seed),
        json: to_json(&rows),
        targets,
        plots: rows.iter().flat_map(plots).collect(),
    })
}

/// The targets, judged on the default scheduler (lowest-RTT).
pub fn targets(rows: &[Row]) -> Vec<Target> {
    let default = SchedulerKind::LowestRtt;
    let mut out = Vec::new();
    let two = |r: &&Row| r.buffer == Buffer::TwoRttMaxSum;
    let simult: Vec<(String, f64)> = rows
        .iter()
        .filter(two)
        .filter(|r| r.case.family == Family::SimultFlows)
        .filter_map(|r| Some((r.case.name.clone(), r.mptcp(default)?.fraction)))
        .collect();
    if !simult.is_empty() {
        let worst = simult
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("not empty");
        out.push(Target {
            what: format!(
                "simult_flows cases at 2·RTT_max·Σbw, {default}: at least 95% of the link sum"
            ),
            met: simult.iter().all(|s| s.1 >= 0.95),
            measured: format!(
                "{} (lowest: {} in {})",
                simult
                    .iter()
                    .map(|s| percent(s.1))
                    .collect::<Vec<_>>()
                    .join(", "),
                percent(worst.1),
                worst.0
            ),
        });
    }
    for r in rows
        .iter()
        .filter(two)
        .filter(|r| r.case.family == Family::WifiCellular && r.case.loss == [0.0, 0.0])
    {
        if let Some(m) = r.mptcp(default) {
            out.push(Target {
                what: format!(
                    "{} at 2·RTT_max·Σbw, {default}: at least 90% of the link sum",
                    r.case.name
                ),
                met: m.fraction >= 0.90,
                measured: format!(
                    "{} ({} of {} Mbit/s)",
                    percent(m.fraction),
                    mbit(m.up_bps),
                    mbit(r.case.link_sum_bps())
                ),
            });
        }
    }
    let mut below = Vec::new();
    let mut checked = 0;
    for r in rows {
        if let (Some(m), Some(best)) = (r.mptcp(default), r.best_single()) {
            checked += 1;
            if m.fraction < best.fraction {
                below.push(format!(
                    "{} at {}: {} < {} ({})",
                    r.case.name,
                    r.buffer.name(),
                    percent(m.fraction),
                    percent(best.fraction),
                    best.transport.name(r.case)
                ));
            }
        }
    }
    out.push(Target {
        what: format!("never below the best single path at any buffer ≥ max-BDP, {default}"),
        met: below.is_empty(),
        measured: if below.is_empty() {
            format!("at or above it in all {checked} case/buffer pairs")
        } else {
            format!(
                "below in {} of {checked}: {}",
                below.len(),
                below.join("; ")
            )
        },
    });
    out
}

fn kib(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    }
}

fn text(rows: &[Row], seed: u64) -> String {
    let mut o = format!(
        "Aggregation (seed {seed}): goodput of one MPTCP connection over two paths, as a\n\
         percentage of the sum of the paths' rates. simult_flows cases move 16 MiB each\n\
         way at once (the slower direction is shown); Wi-Fi + cellular uploads 32 MiB.\n\
         \"best TCP\": TCP over the better path alone. * marks MPTCP below it.\n\n"
    );
    let mut table = vec![{
        let mut h = vec![
            "case".to_string(),
            "receive buffer".to_string(),
            "best TCP".to_string(),
        ];
        h.extend(SCHEDULERS.iter().map(|s| s.name().to_string()));
        h
    }];
    for r in rows {
        let best = r.best_single().map_or(0.0, |b| b.fraction);
        let mut cells = vec![
            r.case.name.clone(),
            format!("{} {}", r.buffer.name(), kib(r.buffer.bytes(r.case))),
            r.best_single().map_or("-".into(), |b| percent(b.fraction)),
        ];
        for s in SCHEDULERS {
            cells.push(r.mptcp(s).map_or("-".into(), |m| {
                format!(
                    "{}{}",
                    percent(m.fraction),
                    if m.fraction < best { "*" } else { "" }
                )
            }));
        }
        table.push(cells);
    }
    o.push_str(&braid_sim::report::text::table(&table));
    o
}

fn to_json(rows: &[Row]) -> Value {
    json!({
        "cases": rows.iter().map(|r| json!({
            "case": r.case.name,
            "family": match r.case.family {
                Family::SimultFlows => "simult_flows",
                Family::WifiCellular => "wifi_cellular",
            },
            "rates_mbit": r.case.rates_mbit,
            "one_way_delays_ms": r.case.delays_ms,
            "loss": r.case.loss,
            "up_bytes": r.case.up_bytes,
            "down_bytes": r.case.down_bytes,
            "link_sum_bps": r.case.link_sum_bps(),
            "buffer": r.buffer.name(),
            "buffer_bytes": r.buffer.bytes(r.case),
            "best_single_path": r.best_single().map(|b| b.transport.name(r.case)),
            "runs": r.runs.iter().map(|m| run_json(r.case, m)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn run_json(case: &Case, m: &RunResult) -> Value {
    let c = &m.report.connections[0];
    let subflows: Vec<Value> = c
        .client
        .as_ref()
        .and_then(|s| s.mptcp.as_ref())
        .map(|mp| {
            mp.subflows
                .iter()
                .map(|s| {
                    json!({
                        "local": s.local, "remote": s.remote,
                        "bytes_sent": s.bytes_sent,
                        "retransmitted_bytes": s.retransmitted_bytes,
                        "rto_count": s.rto_count,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "transport": m.transport.name(case),
        "mptcp": matches!(m.transport, Transport::Mptcp(_)),
        "up_goodput_bps": m.up_bps,
        "down_goodput_bps": m.down_bps,
        "fraction_of_link_sum": m.fraction,
        "up_completion_us": c.upload.completion_us,
        "down_completion_us": c.download.completion_us,
        "up_max_gap_us": c.upload.max_gap_us,
        "retransmitted_bytes": c.upload.retransmitted_bytes + c.download.retransmitted_bytes,
        "rto_count": c.upload.rto_count + c.download.rto_count,
        "client_subflows": subflows,
    })
}

/// The path a subflow's client address belongs to.
fn path_of(case: &Case, addr: &str) -> &'static str {
    let names = case.path_names();
    if addr.starts_with("10.0.2.1:") {
        names[1]
    } else {
        names[0]
    }
}

/// Per-subflow throughput lines of a report: upload (what the server received on
/// each subflow) solid, download (what the client received) dashed. `path` names
/// the path of a client address; with several connections, lines carry the
/// connection's name too.
pub fn subflow_lines(report: &Report, path: impl Fn(&str) -> String) -> Vec<Line> {
    let mut lines = Vec::new();
    let several = report.connections.len() > 1;
    for c in &report.connections {
        let sides: [(&Option<SideReport>, bool); 2] = [(&c.server, false), (&c.client, true)];
        for (side, download) in sides {
            let Some(side) = side else { continue };
            for f in &side.subflows {
                if f.received.bytes == 0 {
                    continue;
                }
                let client_addr = if download { &f.local } else { &f.remote };
                let dir = if download { "down" } else { "up" };
                let label = if several {
                    format!("{}: {} {dir}", c.name, path(client_addr))
                } else {
                    format!("{} {dir}", path(client_addr))
                };
                // A later subflow on the same path (one re-created) gets a number.
                let same = lines
                    .iter()
                    .filter(|l: &&Line| {
                        l.label == label || l.label.starts_with(&format!("{label} #"))
                    })
                    .count();
                let label = if same > 0 {
                    format!("{label} #{}", same + 1)
                } else {
                    label
                };
                lines.push(Line::from_series(label, &f.received_series, download));
            }
        }
    }
    lines
}

fn plots(row: &Row) -> Vec<(String, String)> {
    row.runs
        .iter()
        .map(|m| {
            let name = format!(
                "{}.svg",
                slug(&[
                    "aggregation",
                    &row.case.slug,
                    row.buffer.slug(),
                    &m.transport.name(row.case),
                ])
            );
            let p = Plot {
                title: format!(
                    "{}: {} ({}), {}",
                    row.case.name,
                    row.buffer.name(),
                    kib(m.buffer_bytes),
                    m.transport.name(row.case)
                ),
                subtitle: format!(
                    "goodput up {} Mbit/s{}: {} of the {} Mbit/s link sum",
                    mbit(m.up_bps),
                    m.down_bps
                        .map_or(String::new(), |d| format!(", down {} Mbit/s", mbit(d))),
                    percent(m.fraction),
                    mbit(row.case.link_sum_bps())
                ),
                bin_s: 0.1 * PLOT_BINS as f64,
                lines: subflow_lines(&m.report, |a| path_of(row.case, a).to_string())
                    .into_iter()
                    .map(|l| l.coarser(PLOT_BINS))
                    .collect(),
                markers: Vec::new(),
            };
            (name, plot::svg(&p))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_follow_the_rules() {
        let cases = cases();
        let c = cases
            .iter()
            .find(|c| c.name == "10+10 Mbit/s, 1/25 ms")
            .unwrap();
        // RTTs 2 and 50 ms: max-BDP 10 Mbit/s x 50 ms = 62.5 kB, raised to 64 KiB.
        assert_eq!(Buffer::MaxBdp.bytes(c), MIN_BUFFER);
        assert_eq!(Buffer::RttMaxSum.bytes(c), 125_000);
        assert_eq!(Buffer::TwoRttMaxSum.bytes(c), 250_000);
        let w = cases.iter().find(|c| c.name == "Wi-Fi + cellular").unwrap();
        assert_eq!(Buffer::MaxBdp.bytes(w), 150_000);
        assert_eq!(Buffer::RttMaxSum.bytes(w), 525_000);
        assert_eq!(Buffer::TwoRttMaxSum.bytes(w), 1_050_000);
    }

    #[test]
    fn every_scenario_is_valid() {
        for c in cases() {
            for b in Buffer::ALL {
                for t in transports() {
                    let s = scenario(&c, b, t).unwrap_or_else(|e| panic!("{}: {e}", c.name));
                    let client = &s.hosts[0].endpoint;
                    assert_eq!(client.mptcp.enabled, matches!(t, Transport::Mptcp(_)));
                    assert_eq!(client.tcp.recv_buffer as u64, b.bytes(&c));
                    if let Transport::Tcp(p) = t {
                        let local = s.connections[0].local.ip();
                        assert_eq!(local, Multipath::client_address(p));
                    }
                }
            }
        }
    }
}
