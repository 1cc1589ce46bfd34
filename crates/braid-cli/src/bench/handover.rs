//! `braid bench handover`: the path carrying the data fails mid-transfer.
//!
//! A phone uploads 40 MB over Wi-Fi (50 Mbit/s, 10 ms one way, 250 KB queue) and
//! cellular (20 Mbit/s, 30 ms, 300 KB) through router r1 to a server with one
//! address (examples/scenarios/handover.toml is the same network). The connection
//! starts on Wi-Fi, the path every scheduler prefers; Wi-Fi goes down at 3 s and
//! comes back at 6 s, in two ways:
//!
//! - `link-down event`: the phone is told (`notify = true` on the link's schedule):
//!   it removes its Wi-Fi address from its MPTCP stack at once and restores it when
//!   Wi-Fi returns, as Linux does when NetworkManager or mptcpd deletes and re-adds
//!   the endpoint of an address that vanished;
//! - `silent`: the link just drops everything; the phone finds out from missing
//!   acknowledgments.
//!
//! Each runs with every scheduler and three path manager settings: braid's default
//! (`ip mptcp endpoint` 10.0.1.1 and 10.0.2.1, both `subflow`), `backup` (10.0.2.1
//! a backup endpoint: cellular carries data only when Wi-Fi cannot), and
//! `linux-defaults` (`PmConfig::linux_defaults()` with the same endpoints: limits 2
//! and 0, announced addresses not joined, ADD_ADDR resent every 120 s, and failed
//! subflows not re-created, which is what matters here).
//!
//! Measured at the server's application: the handover gap, the longest time between
//! two deliveries that ends within a second of the failure (time to notice a silent
//! failure and resend what Wi-Fi lost; later waits are congestion on cellular alone,
//! which TCP over cellular would have too); the longest wait while Wi-Fi is down and
//! over the whole transfer; and bytes lost (written less delivered, with the SHA-256
//! of both ends compared). With a link-down event the handover gap is compared with
//! the surviving path's RTT: the phone's smoothed RTT of its cellular subflow when the
//! gap ended (queueing included; its base RTT is 60 ms), plus 50 ms.

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::{Context, Result};
use braid_proto::pm::{EndpointFlags, PmConfig};
use braid_proto::sched::SchedulerKind;
use braid_proto::time::{Duration, Instant};
use braid_sim::apps::BulkSender;

use crate::waiting_sink::{server_sink, start_upload};
use braid_sim::report::{Integrity, Report};
use braid_sim::scenario::multipath::{Multipath, Path, ToServer};
use braid_sim::scenario::spec::{Host, Link, Mptcp, ScenarioSpec, ScheduleEntry, State, Tcp};
use braid_sim::scenario::units::{Rate, Size};
use braid_sim::scenario::Scenario;
use serde_json::{json, Value};

use super::aggregation::{subflow_lines, SCHEDULERS};
use super::plot::{self, Plot};
use super::{mbit, parallel_map, slug, Suite, SuiteResult, Target, SUBFLOW};

/// When Wi-Fi goes down and comes back.
pub const FAIL_AT: Duration = Duration::from_secs(3);
pub const BACK_AT: Duration = Duration::from_secs(6);
/// The phone's upload.
pub const BYTES: u64 = 40_000_000;
/// The run ends at the latest here.
const DEADLINE: Duration = Duration::from_secs(120);
/// The handover gap is the longest wait that ends this long after the failure:
/// enough to notice a silent failure (retransmission timeouts) and resend what was
/// lost, not so long that congestion on cellular alone, later, counts.
pub const WINDOW: Duration = Duration::from_secs(1);
/// How often the cellular subflow's srtt is sampled in that window.
const SAMPLE: Duration = Duration::from_millis(5);
/// Cellular's round trip without queueing.
pub const CELL_BASE_RTT: Duration = Duration::from_millis(60);
const PORT: u16 = 5001;
const PHONE_WIFI: Ipv4Addr = Multipath::client_address(0);
const PHONE_CELL: Ipv4Addr = Multipath::client_address(1);
const SERVER: Ipv4Addr = ToServer::ADDRESS;

/// How the phone learns of the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Told at once: its Wi-Fi address goes away (and comes back).
    LinkDown,
    /// Not told: packets are just lost.
    Silent,
}

impl Failure {
    pub const ALL: [Failure; 2] = [Failure::LinkDown, Failure::Silent];

    pub fn name(self) -> &'static str {
        match self {
            Failure::LinkDown => "link-down event",
            Failure::Silent => "silent",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Failure::LinkDown => "event",
            Failure::Silent => "silent",
        }
    }
}

/// The path manager settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmSetting {
    Default,
    Backup,
    LinuxDefaults,
}

impl PmSetting {
    pub const ALL: [PmSetting; 3] = [
        PmSetting::Default,
        PmSetting::Backup,
        PmSetting::LinuxDefaults,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PmSetting::Default => "default",
            PmSetting::Backup => "backup",
            PmSetting::LinuxDefaults => "linux-defaults",
        }
    }
}

/// One run's setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    pub scheduler: SchedulerKind,
    pub pm: PmSetting,
    pub failure: Failure,
}

/// Every case, in table order.
pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for failure in Failure::ALL {
        for pm in PmSetting::ALL {
            for scheduler in SCHEDULERS {
                out.push(Case {
                    scheduler,
                    pm,
                    failure,
                });
            }
        }
    }
    out
}

/// The network of a case, with `PmConfig::linux_defaults()` on both hosts for
/// [`PmSetting::LinuxDefaults`] (their endpoints kept). The connection is opened in
/// code, with an application that notes every wait.
pub fn scenario(case: &Case) -> Result<Scenario> {
    let mut s = Scenario::from_spec(spec(case)).context("the benchmark's scenario")?;
    if case.pm == PmSetting::LinuxDefaults {
        for h in &mut s.hosts {
            let pm = &mut h.endpoint.mptcp.path_manager;
            *pm = PmConfig {
                endpoints: std::mem::take(&mut pm.endpoints),
                ..PmConfig::linux_defaults()
            };
        }
    }
    Ok(s)
}

/// The network of a case but for the path manager settings of
/// [`PmSetting::LinuxDefaults`] (see [`scenario`]).
fn spec(case: &Case) -> ScenarioSpec {
    let wifi_change = |at: Duration, state: State| {
        let entry = ScheduleEntry::at(at).state(state);
        match case.failure {
            Failure::LinkDown => entry.notify(true),
            Failure::Silent => entry,
        }
    };
    let wifi = Link::default()
        .rate(Rate::mbit(50))
        .delay(Duration::from_millis(10))
        .queue(Size::kb(250))
        .schedule(wifi_change(FAIL_AT, State::Down))
        .schedule(wifi_change(BACK_AT, State::Up));
    let cell = Link::default()
        .rate(Rate::mbit(20))
        .delay(Duration::from_millis(30))
        .queue(Size::kb(300));
    let cell_endpoint = match case.pm {
        PmSetting::Backup => EndpointFlags {
            backup: true,
            ..SUBFLOW
        },
        _ => SUBFLOW,
    };
    let network = Multipath {
        client: Host::new("phone"),
        paths: vec![
            Path::new("wifi", wifi).endpoint(SUBFLOW),
            Path::new("cell", cell).endpoint(cell_endpoint),
        ],
        to_server: ToServer::router(),
    };
    network.add_to(
        ScenarioSpec::new("handover")
            .duration(DEADLINE)
            .bin(Duration::from_millis(100))
            .tcp(
                Tcp::default()
                    .send_buffer(Size::mib(4))
                    .recv_buffer(Size::mib(4)),
            )
            .mptcp(Mptcp::default().scheduler(case.scheduler)),
    )
}

/// One run's results.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub case: Case,
    /// The longest wait of the server's application that ended within [`WINDOW`]
    /// of the failure: (start, end).
    pub handover_gap: Option<(Instant, Instant)>,
    /// The longest wait that ended while Wi-Fi was down or went on when it went
    /// down or came back.
    pub outage_gap: Option<Duration>,
    /// The longest wait over the whole transfer.
    pub max_gap: Option<Duration>,
    /// The phone's smoothed RTT of its cellular subflow just before Wi-Fi failed,
    /// and when the handover gap ended (sampled every 5 ms).
    pub srtt_before: Option<Duration>,
    pub srtt_at_gap_end: Option<Duration>,
    pub bytes_written: u64,
    pub bytes_delivered: u64,
    pub intact: bool,
    pub pattern_errors: u64,
    pub goodput_bps: Option<f64>,
    pub completion_us: Option<u64>,
    pub reinjected_bytes: u64,
    pub report: Report,
}

impl RunResult {
    pub fn gap(&self) -> Option<Duration> {
        self.handover_gap.map(|(a, b)| b - a)
    }

    pub fn bytes_lost(&self) -> u64 {
        self.bytes_written.saturating_sub(self.bytes_delivered)
    }

    /// The handover target: the surviving path's RTT (the cellular subflow's srtt
    /// when the gap ended) plus 50 ms with a link-down event, 1 s silently.
    pub fn gap_limit(&self) -> Duration {
        match self.case.failure {
            Failure::LinkDown => {
                self.srtt_at_gap_end
                    .or(self.srtt_before)
                    .unwrap_or(CELL_BASE_RTT)
                    + Duration::from_millis(50)
            }
            Failure::Silent => Duration::from_secs(1),
        }
    }

    pub fn meets_targets(&self) -> bool {
        self.gap().is_some_and(|g| g <= self.gap_limit()) && self.bytes_lost() == 0 && self.intact
    }
}

/// Runs one case.
pub fn run_one(case: &Case, seed: u64) -> Result<RunResult> {
    let scenario = scenario(case)?;
    let mut built = scenario.build(seed);
    start_upload(
        &mut built,
        SocketAddr::new(PHONE_WIFI.into(), 0),
        SocketAddr::new(SERVER.into(), PORT),
        Duration::from_millis(1),
        Box::new(BulkSender::new(BYTES)),
    )?;
    let fail = Instant::ZERO + FAIL_AT;
    let back = Instant::ZERO + BACK_AT;
    let cell_srtt = |built: &braid_sim::scenario::Built| {
        built
            .host(0)
            .connections()
            .filter_map(|r| r.mptcp.as_ref())
            .flat_map(|m| &m.subflows)
            .filter(|s| s.local.ip() == PHONE_CELL && s.closed_at.is_none())
            .find_map(|s| s.srtt)
    };
    built.sim.run_until(fail - Duration::from_micros(1));
    let srtt_before = cell_srtt(&built);
    // The cellular subflow's srtt every few milliseconds of the handover window.
    let mut srtt_samples = Vec::new();
    let mut t = fail;
    while t <= fail + WINDOW {
        built.sim.run_until(t);
        srtt_samples.push((t, cell_srtt(&built)));
        t += SAMPLE;
    }
    let outcome = built.run(scenario.duration, true);
    let report = built.report(&scenario.name, outcome, &[]);
    let app = server_sink(&built).context("the server never accepted the upload")?;
    let longest = |keep: &dyn Fn(Instant, Instant) -> bool| {
        app.waits()
            .iter()
            .filter(|&&(start, end)| keep(start, end))
            .max_by_key(|&&(start, end)| (end - start, std::cmp::Reverse(start)))
            .copied()
    };
    let handover_gap = longest(&|_, end| end > fail && end <= fail + WINDOW);
    let outage_gap = longest(&|start, end| end > fail && start < back);
    // The srtt when the handover gap ended: the last sample at or before its end.
    let srtt_at_gap_end = handover_gap.and_then(|(_, end)| {
        srtt_samples
            .iter()
            .take_while(|(t, _)| *t <= end)
            .last()
            .and_then(|s| s.1)
    });
    let c = report
        .connections
        .first()
        .context("the run has no connection")?;
    let phone_side = c.client.as_ref().context("no phone end in the report")?;
    Ok(RunResult {
        case: *case,
        handover_gap,
        outage_gap: outage_gap.map(|(a, b)| b - a),
        max_gap: c.upload.max_gap_us.map(Duration::from_micros),
        srtt_before,
        srtt_at_gap_end,
        bytes_written: c.upload.bytes_written,
        bytes_delivered: c.upload.bytes_delivered,
        intact: c.upload.integrity == Integrity::Intact,
        pattern_errors: app.sink().pattern_errors(),
        goodput_bps: c.upload.goodput_bps,
        completion_us: c.upload.completion_us,
        reinjected_bytes: phone_side
            .mptcp
            .as_ref()
            .map_or(0, |m| m.counters.reinjected_bytes),
        report,
    })
}

pub fn run(seed: u64) -> Result<SuiteResult> {
    let cases = cases();
    let results: Vec<RunResult> = parallel_map(&cases, |c| run_one(c, seed))
        .into_iter()
        .collect::<Result<_>>()?;
    Ok(SuiteResult {
        suite: Suite::Handover,
        text: text(&results, seed),
        json: json!({ "runs": results.iter().map(run_json).collect::<Vec<_>>() }),
        targets: targets(&results),
        plots: results.iter().map(plot).collect(),
    })
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.0} ms", d.as_secs_f64() * 1e3))
}

pub fn targets(results: &[RunResult]) -> Vec<Target> {
    let mut out = Vec::new();
    for failure in Failure::ALL {
        let runs: Vec<&RunResult> = results
            .iter()
            .filter(|r| r.case.failure == failure)
            .collect();
        if runs.is_empty() {
            continue;
        }
        let bad: Vec<String> = runs
            .iter()
            .filter(|r| r.gap().is_none_or(|g| g > r.gap_limit()))
            .map(|r| {
                format!(
                    "{}/{}: {} > {}",
                    r.case.scheduler,
                    r.case.pm.name(),
                    ms(r.gap()),
                    ms(Some(r.gap_limit()))
                )
            })
            .collect();
        let worst = runs.iter().filter_map(|r| r.gap()).max();
        out.push(Target {
            what: match failure {
                Failure::LinkDown => "handover gap with a link-down event ≤ the surviving (cellular) subflow's srtt when the gap ended + 50 ms, every scheduler and path manager setting".to_string(),
                Failure::Silent => "handover gap of a silent failure ≤ 1 s, every scheduler and path manager setting".to_string(),
            },
            met: bad.is_empty(),
            measured: if bad.is_empty() {
                format!("longest {} over {} runs", ms(worst), runs.len())
            } else {
                format!("{} of {} runs over: {}", bad.len(), runs.len(), bad.join("; "))
            },
        });
    }
    let lost: Vec<String> = results
        .iter()
        .filter(|r| r.bytes_lost() > 0 || !r.intact || r.pattern_errors > 0)
        .map(|r| {
            format!(
                "{}/{}/{}: {} bytes lost",
                r.case.scheduler,
                r.case.pm.name(),
                r.case.failure.name(),
                r.bytes_lost()
            )
        })
        .collect();
    out.push(Target {
        what: "0 bytes lost (SHA-256 of what the phone wrote = of what the server read)".into(),
        met: lost.is_empty(),
        measured: if lost.is_empty() {
            format!("intact in all {} runs", results.len())
        } else {
            lost.join("; ")
        },
    });
    out
}

fn text(results: &[RunResult], seed: u64) -> String {
    let mut o = format!(
        "Handover (seed {seed}): a phone uploads {} MB over Wi-Fi (50 Mbit/s, 10 ms) and\n\
         cellular (20 Mbit/s, 30 ms); Wi-Fi fails at {}s and returns at {}s. \"gap\": the\n\
         server application's longest wait ending within 1 s of the failure; \"limit\":\n\
         the target (the cellular subflow's srtt when the gap ended + 50 ms with a\n\
         link-down event, 1 s silently); then its longest wait while Wi-Fi was down and\n\
         over the whole transfer, bytes lost, bytes resent on cellular.\n\n",
        BYTES / 1_000_000,
        FAIL_AT.as_micros() / 1_000_000,
        BACK_AT.as_micros() / 1_000_000,
    );
    let mut rows = vec![vec![
        "failure".to_string(),
        "path manager".to_string(),
        "scheduler".to_string(),
        "gap".to_string(),
        "limit".to_string(),
        "cell srtt before/after".to_string(),
        "outage max gap".to_string(),
        "max gap".to_string(),
        "lost".to_string(),
        "reinjected".to_string(),
        "goodput".to_string(),
        "done at".to_string(),
    ]];
    for r in results {
        rows.push(vec![
            r.case.failure.name().to_string(),
            r.case.pm.name().to_string(),
            r.case.scheduler.name().to_string(),
            format!(
                "{}{}",
                ms(r.gap()),
                if r.gap().is_some_and(|g| g <= r.gap_limit()) {
                    ""
                } else {
                    " *"
                }
            ),
            ms(Some(r.gap_limit())),
            format!("{} / {}", ms(r.srtt_before), ms(r.srtt_at_gap_end)),
            ms(r.outage_gap),
            ms(r.max_gap),
            format!(
                "{} B{}",
                r.bytes_lost(),
                if r.intact { "" } else { " NOT INTACT" }
            ),
            braid_sim::report::text::bytes(r.reinjected_bytes),
            r.goodput_bps
                .map_or("-".into(), |g| format!("{} Mbit/s", mbit(g))),
            r.completion_us
                .map_or("-".into(), |us| format!("{:.2}s", us as f64 / 1e6)),
        ]);
    }
    o.push_str(&braid_sim::report::text::table(&rows));
    o.push_str("* over the limit\n");
    o
}

fn run_json(r: &RunResult) -> Value {
    json!({
        "scheduler": r.case.scheduler.name(),
        "path_manager": r.case.pm.name(),
        "failure": r.case.failure.name(),
        "handover_gap_us": r.gap().map(|d| d.as_micros()),
        "handover_gap_start_us": r.handover_gap.map(|g| g.0.as_micros()),
        "handover_gap_end_us": r.handover_gap.map(|g| g.1.as_micros()),
        "gap_limit_us": r.gap_limit().as_micros(),
        "cell_srtt_before_failure_us": r.srtt_before.map(|d| d.as_micros()),
        "cell_srtt_at_gap_end_us": r.srtt_at_gap_end.map(|d| d.as_micros()),
        "outage_max_gap_us": r.outage_gap.map(|d| d.as_micros()),
        "max_gap_us": r.max_gap.map(|d| d.as_micros()),
        "bytes_written": r.bytes_written,
        "bytes_delivered": r.bytes_delivered,
        "bytes_lost": r.bytes_lost(),
        "intact": r.intact,
        "pattern_errors": r.pattern_errors,
        "reinjected_bytes": r.reinjected_bytes,
        "goodput_bps": r.goodput_bps,
        "completion_us": r.completion_us,
        "meets_targets": r.meets_targets(),
    })
}

fn plot(r: &RunResult) -> (String, String) {
    let name = format!(
        "{}.svg",
        slug(&[
            "handover",
            r.case.failure.slug(),
            r.case.pm.name(),
            r.case.scheduler.name()
        ])
    );
    let p = Plot {
        title: format!(
            "handover, {}: {} path manager, {}",
            r.case.failure.name(),
            r.case.pm.name(),
            r.case.scheduler
        ),
        subtitle: format!(
            "gap {} (limit {}), {} bytes lost, goodput {} Mbit/s",
            ms(r.gap()),
            ms(Some(r.gap_limit())),
            r.bytes_lost(),
            r.goodput_bps.map_or("-".into(), mbit)
        ),
        bin_s: 0.1,
        lines: subflow_lines(&r.report, |a| {
            if a.starts_with(&PHONE_CELL.to_string()) {
                "cellular".to_string()
            } else {
                "Wi-Fi".to_string()
            }
        }),
        markers: vec![
            (FAIL_AT.as_secs_f64(), "Wi-Fi down".into()),
            (BACK_AT.as_secs_f64(), "Wi-Fi up".into()),
        ],
    };
    (name, plot::svg(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_defaults_are_linux_defaults() {
        let case = Case {
            scheduler: SchedulerKind::LowestRtt,
            pm: PmSetting::LinuxDefaults,
            failure: Failure::Silent,
        };
        let s = scenario(&case).unwrap();
        assert_eq!(s.hosts[0].endpoint.mptcp.path_manager.endpoints.len(), 2);
        for h in &s.hosts {
            let pm = &h.endpoint.mptcp.path_manager;
            let expected = PmConfig {
                endpoints: pm.endpoints.clone(),
                ..PmConfig::linux_defaults()
            };
            assert_eq!(*pm, expected, "host {}", h.name);
        }
    }

    #[test]
    fn every_scenario_is_valid() {
        for c in cases() {
            let s = scenario(&c).unwrap();
            assert_eq!(s.hosts[0].endpoint.mptcp.scheduler, c.scheduler);
            let events = s.hosts[0].interface_events.len();
            assert_eq!(events, if c.failure == Failure::LinkDown { 2 } else { 0 });
            let endpoints = &s.hosts[0].endpoint.mptcp.path_manager.endpoints;
            let backup = endpoints.iter().any(|e| e.flags.backup);
            assert_eq!(backup, c.pm == PmSetting::Backup);
        }
    }
}
