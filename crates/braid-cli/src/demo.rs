//! `braid demo`: Multipath TCP over Wi-Fi and cellular, in the simulator, explained.
//!
//! A phone with two interfaces uploads to a server for a fixed time over one MPTCP
//! connection; Wi-Fi drops out for a few seconds in the middle. Everything printed
//! about the run (throughput per path, totals, the timeline) is measured from the
//! simulation's report and the connection's own event log: only the setup (rates,
//! delays, when Wi-Fi goes down and comes back) is given. The simulator runs on
//! virtual time, so a run takes well under the simulated time, needs no privileges,
//! and the same seed gives the same output byte for byte.

use std::any::Any;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{bail, Context, Result};
use braid_cli::waiting_sink::{server_sink, start_upload};
use braid_proto::pm::EndpointFlags;
use braid_proto::time::{Duration, Instant};
use braid_sim::apps::Application;
use braid_sim::host::{MptcpEvent, Socket};
use braid_sim::report::text::{bytes, micros, rate, table};
use braid_sim::report::{ConnectionReport, Integrity, Outcome, Report, SideReport};
use braid_sim::scenario::multipath::{self, Multipath, ToServer};
use braid_sim::scenario::spec::{Host, Link, ScenarioSpec, ScheduleEntry, State, Tcp};
use braid_sim::scenario::units::{Rate, Size};
use braid_sim::scenario::{Scenario, ScenarioError};
use braid_sim::LinkChange;
use serde_json::{json, Value};

pub struct Options {
    pub seed: u64,
    pub json: bool,
}

/// The default seed: `braid demo` prints the same thing every time.
pub const DEFAULT_SEED: u64 = 1;

/// Wi-Fi goes down, and comes back, at these seconds.
const WIFI_DOWN_S: u64 = 8;
const WIFI_UP_S: u64 = 12;
/// The phone writes for this long, then closes.
const SEND_FOR: Duration = Duration::from_secs(20);
/// The run ends at the latest here, finished or not.
const DEADLINE: Duration = Duration::from_secs(45);
/// Resolution of the measurements the timeline is derived from.
const BIN: Duration = Duration::from_millis(100);
const PORT: u16 = 5201;

const PHONE_WIFI: Ipv4Addr = Multipath::client_address(0);
const PHONE_CELL: Ipv4Addr = Multipath::client_address(1);
const SERVER_WIFI: Ipv4Addr = Multipath::direct_server_address(0);
const SERVER_CELL: Ipv4Addr = Multipath::direct_server_address(1);

/// The network (see the braid-sim crate documentation, "Scenarios in Rust"). The
/// connection is opened by [`simulate`], with an application that sends for a fixed
/// time, which scenarios have no key for.
fn scenario() -> Result<Scenario, ScenarioError> {
    let [wifi, cell] = paths();
    let wifi_link = Link::default()
        .rate(Rate::mbit(wifi.rate_mbit))
        .delay(Duration::from_millis(wifi.delay_ms))
        .queue(Size::kb(250))
        .schedule(ScheduleEntry::at(Duration::from_secs(WIFI_DOWN_S)).state(State::Down))
        .schedule(ScheduleEntry::at(Duration::from_secs(WIFI_UP_S)).state(State::Up));
    let cell_link = Link::default()
        .rate(Rate::mbit(cell.rate_mbit))
        .delay(Duration::from_millis(cell.delay_ms))
        // The radio adds up to 2 ms, never reordering.
        .jitter(Duration::from_millis(2))
        .queue(Size::kb(300));
    // The phone joins from its cellular address once connected; the server answers
    // each subflow over the path it came by.
    let join = EndpointFlags {
        subflow: true,
        ..EndpointFlags::default()
    };
    let network = Multipath {
        client: Host::new("phone"),
        paths: vec![
            multipath::Path::new("wifi", wifi_link),
            multipath::Path::new("cellular", cell_link).endpoint(join),
        ],
        to_server: ToServer::Direct,
    };
    let spec = ScenarioSpec::new("demo").bin(BIN).duration(DEADLINE).tcp(
        Tcp::default()
            .send_buffer(Size::mib(4))
            .recv_buffer(Size::mib(4)),
    );
    Scenario::from_spec(network.add_to(spec))
}

/// Writes as fast as the connection takes data until `until`, then closes.
struct TimedSender {
    until: Instant,
    closed: bool,
}

impl Application for TimedSender {
    fn name(&self) -> &'static str {
        "timed_bulk"
    }

    fn run(&mut self, s: &mut Socket<'_>) {
        s.drain();
        if self.closed {
            return;
        }
        if s.now() < self.until {
            s.write_pattern(u64::MAX);
        } else {
            s.close();
            self.closed = true;
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (!self.closed).then_some(self.until)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A path: its name, the phone's address on it, and its link.
struct Path {
    name: &'static str,
    phone: IpAddr,
    rate_mbit: u64,
    delay_ms: u64,
}

impl Path {
    /// The rate and delay as a scenario file writes them.
    fn rate(&self) -> String {
        format!("{}Mbit", self.rate_mbit)
    }

    fn delay(&self) -> String {
        format!("{}ms", self.delay_ms)
    }
}

fn paths() -> [Path; 2] {
    [
        Path {
            name: "Wi-Fi",
            phone: PHONE_WIFI.into(),
            rate_mbit: 50,
            delay_ms: 10,
        },
        Path {
            name: "cellular",
            phone: PHONE_CELL.into(),
            rate_mbit: 20,
            delay_ms: 30,
        },
    ]
}

/// One moment of the timeline.
struct Moment {
    at_us: u64,
    kind: &'static str,
    text: String,
}

/// What the demo measured.
struct Demo {
    seed: u64,
    report: Report,
    /// Payload bytes the server received per bin, per path (in [`paths`] order).
    per_path: Vec<Vec<u64>>,
    /// The server application's waits for data of 10 ms or more: (end, length), µs.
    waits: Vec<(u64, u64)>,
    /// When Wi-Fi went down and came back, from the link's schedule.
    outages: Vec<(u64, Option<u64>)>,
    timeline: Vec<Moment>,
}

pub fn run(options: Options) -> Result<()> {
    let demo = simulate(options.seed)?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if options.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&demo.to_json())?)?;
    } else {
        out.write_all(demo.to_text().as_bytes())?;
    }
    out.flush()?;
    Ok(())
}

fn simulate(seed: u64) -> Result<Demo> {
    let scenario = scenario().context("the demo's scenario")?;
    let mut built = scenario.build(seed);
    start_upload(
        &mut built,
        SocketAddr::new(PHONE_WIFI.into(), 0),
        SocketAddr::new(SERVER_WIFI.into(), PORT),
        Duration::from_millis(10),
        Box::new(TimedSender {
            until: Instant::ZERO + SEND_FOR,
            closed: false,
        }),
    )?;
    let outcome = built.run(scenario.duration, true);
    let report = built.report(&scenario.name, outcome, &[]);
    let waits = server_sink(&built)
        .map(|a| {
            a.waits()
                .iter()
                .map(|&(start, end)| (end.as_micros(), (end - start).as_micros()))
                .collect()
        })
        .unwrap_or_default();
    if report.connections.len() != 1 {
        bail!(
            "expected one connection, the simulation has {}",
            report.connections.len()
        );
    }
    let outages = scenario
        .links
        .iter()
        .filter(|l| l.name == "wifi")
        .take(1)
        .flat_map(|l| outages(&l.schedule))
        .collect();
    let mut demo = Demo {
        seed,
        report,
        waits,
        per_path: Vec::new(),
        outages,
        timeline: Vec::new(),
    };
    demo.per_path = paths().iter().map(|p| demo.received_on(p.phone)).collect();
    demo.timeline = demo.derive_timeline();
    Ok(demo)
}

/// (down, up) pairs of a link's schedule, in microseconds.
fn outages(schedule: &[(Instant, LinkChange)]) -> Vec<(u64, Option<u64>)> {
    let mut out: Vec<(u64, Option<u64>)> = Vec::new();
    for (at, change) in schedule {
        match change {
            LinkChange::Down => out.push((at.as_micros(), None)),
            LinkChange::Up => {
                if let Some(last) = out.last_mut().filter(|o| o.1.is_none()) {
                    last.1 = Some(at.as_micros());
                }
            }
            _ => {}
        }
    }
    out
}

fn mbps(bytes: u64, over: Duration) -> f64 {
    bytes as f64 * 8.0 / over.as_secs_f64() / 1e6
}

fn bin_index(us: u64) -> usize {
    (us / BIN.as_micros()) as usize
}

impl Demo {
    fn connection(&self) -> &ConnectionReport {
        &self.report.connections[0]
    }

    fn phone(&self) -> Option<&SideReport> {
        self.connection().client.as_ref()
    }

    fn server(&self) -> Option<&SideReport> {
        self.connection().server.as_ref()
    }

    /// Payload bytes the server received per bin from the phone's address `ip`, over
    /// every subflow from it.
    fn received_on(&self, ip: IpAddr) -> Vec<u64> {
        let mut out = Vec::new();
        for f in self.server().map(|s| s.subflows.as_slice()).unwrap_or(&[]) {
            if f.remote.parse::<SocketAddr>().is_ok_and(|a| a.ip() == ip) {
                let b = f.received_series.bytes();
                if out.len() < b.len() {
                    out.resize(b.len(), 0);
                }
                for (o, x) in out.iter_mut().zip(b) {
                    *o += x;
                }
            }
        }
        out
    }

    fn path_bytes(&self, path: usize, from_us: u64, to_us: u64) -> u64 {
        let (a, b) = (bin_index(from_us), bin_index(to_us));
        self.per_path[path].iter().take(b).skip(a).sum()
    }

    /// The phone's subflow ids on each path.
    fn subflow_path(&self, id: u32) -> Option<usize> {
        let m = self.phone()?.mptcp.as_ref()?;
        let s = m.subflows.iter().find(|s| s.id == id)?;
        let ip = s.local.parse::<SocketAddr>().ok()?.ip();
        paths().iter().position(|p| p.phone == ip)
    }

    fn derive_timeline(&self) -> Vec<Moment> {
        let mut t = Vec::new();
        let names = paths().map(|p| p.name);
        let Some(phone) = self.phone() else {
            return t;
        };
        let server = self.server();
        t.push(Moment {
            at_us: phone.syn_us,
            kind: "syn",
            text: format!(
                "the phone opens the connection over Wi-Fi: SYN with MP_CAPABLE, {} -> {}",
                phone.local, phone.remote
            ),
        });
        let m = phone.mptcp.as_ref();
        match (phone.established_us, m) {
            (Some(at), Some(m)) if m.phase != "fallback" => t.push(Moment {
                at_us: at,
                kind: "established",
                text: "handshake done: both ends speak MPTCP and know each other's keys; \
                       data flows over Wi-Fi"
                    .into(),
            }),
            (Some(at), _) => t.push(Moment {
                at_us: at,
                kind: "established",
                text: "connected, but as plain TCP: the server did not take up MPTCP".into(),
            }),
            (None, _) => t.push(Moment {
                at_us: phone.syn_us,
                kind: "failed",
                text: "the connection was never established".into(),
            }),
        }
        if let Some(at) = m.and_then(|m| m.fallback_us) {
            t.push(Moment {
                at_us: at,
                kind: "fallback",
                text: "MPTCP fell back to plain TCP on one path".into(),
            });
        }
        // Subflows: joins, and subflows that ended before the connection did.
        let end_us = phone.closed_us.unwrap_or(self.report.end_us);
        for s in m.map(|m| m.subflows.as_slice()).unwrap_or(&[]) {
            let path = self
                .subflow_path(s.id)
                .map_or("an unknown path", |p| names[p]);
            if s.handshake == "mp_join" {
                t.push(Moment {
                    at_us: s.opened_us,
                    kind: "join",
                    text: format!(
                        "the phone adds a second path: MP_JOIN from its {path} address, {} -> {}",
                        s.local, s.remote
                    ),
                });
                match s.established_us {
                    Some(at) => t.push(Moment {
                        at_us: at,
                        kind: "joined",
                        text: format!(
                            "{path} subflow established (join HMACs checked): both paths carry data"
                        ),
                    }),
                    None => t.push(Moment {
                        at_us: s.opened_us,
                        kind: "join_failed",
                        text: format!("the {path} subflow never came up"),
                    }),
                }
            }
            if let Some(closed) = s.closed_us.filter(|&c| c + 1_000_000 < end_us) {
                let why = s
                    .reset_reason
                    .clone()
                    .or_else(|| s.close_reason.clone())
                    .unwrap_or_else(|| "closed".into());
                t.push(Moment {
                    at_us: closed,
                    kind: "subflow_closed",
                    text: format!("the {path} subflow ends ({why})"),
                });
            }
        }
        for &(down, up) in &self.outages {
            self.outage_moments(&mut t, down, up, end_us);
        }
        t.push(Moment {
            at_us: SEND_FOR.as_micros(),
            kind: "close",
            text: "the phone stops writing and closes: DATA_FIN after the last byte".into(),
        });
        if let Some(s) = server {
            match (s.last_delivery_us, self.connection().upload.integrity) {
                (Some(last), Integrity::Intact) => t.push(Moment {
                    at_us: last,
                    kind: "delivered",
                    text: format!(
                        "the last byte reaches the server: all {} delivered",
                        bytes(s.bytes_delivered)
                    ),
                }),
                (last, _) => t.push(Moment {
                    at_us: last.unwrap_or(self.report.end_us),
                    kind: "incomplete",
                    text: format!(
                        "the server got {} of the {} sent{}",
                        bytes(s.bytes_delivered),
                        bytes(phone.bytes_written),
                        if self.report.outcome == Outcome::Completed {
                            ""
                        } else {
                            ", and the transfer was still going at the end of the run"
                        }
                    ),
                }),
            }
        }
        if let Some(closed) = phone.closed_us {
            t.push(Moment {
                at_us: closed,
                kind: "closed",
                text: format!(
                    "connection closed ({})",
                    phone.close_reason.as_deref().unwrap_or("closed")
                ),
            });
        }
        t.sort_by_key(|m| m.at_us);
        t
    }

    /// What happened around one Wi-Fi outage, from the event log and the per-path
    /// series.
    fn outage_moments(&self, t: &mut Vec<Moment>, down: u64, up: Option<u64>, end_us: u64) {
        let Some(m) = self.phone().and_then(|p| p.mptcp.as_ref()) else {
            return;
        };
        let wifi = paths().iter().position(|p| p.name == "Wi-Fi");
        let cell = paths().iter().position(|p| p.name == "cellular");
        let (Some(wifi), Some(cell)) = (wifi, cell) else {
            return;
        };
        let until = up.unwrap_or(end_us);
        t.push(Moment {
            at_us: down,
            kind: "wifi_down",
            text: "Wi-Fi goes down: everything sent on it from now on is lost".into(),
        });
        let on_wifi = |id: u32| self.subflow_path(id) == Some(wifi);
        // The first retransmission timeouts of the Wi-Fi subflow, and what was
        // reinjected with them.
        let timeouts: Vec<(u64, u64)> = m
            .events
            .iter()
            .filter_map(|e| match e.event {
                MptcpEvent::Timeout { subflow, count } if on_wifi(subflow) && e.at_us >= down => {
                    Some((e.at_us, count))
                }
                _ => None,
            })
            .collect();
        let reinjected_by = |to: u64| -> u64 {
            m.events
                .iter()
                .filter(|e| e.at_us >= down && e.at_us <= to)
                .map(|e| match e.event {
                    MptcpEvent::Reinjected { bytes } => bytes,
                    _ => 0,
                })
                .sum()
        };
        if let Some(&(at, _)) = timeouts.first() {
            let moved = reinjected_by(at);
            t.push(Moment {
                at_us: at,
                kind: "wifi_timeout",
                text: if moved > 0 {
                    format!(
                        "no acknowledgments over Wi-Fi for a retransmission timeout: MPTCP \
                         sends the {} the Wi-Fi subflow had in flight again over cellular",
                        bytes(moved)
                    )
                } else {
                    "no acknowledgments over Wi-Fi: its retransmission timer fires".into()
                },
            });
        }
        // Failover: the server's application gets data again, over cellular alone.
        let first_wait = self
            .waits
            .iter()
            .find(|&&(end, _)| end > down && end <= until)
            .copied();
        let from = first_wait.map_or(down, |(end, _)| end);
        let carried = self.path_bytes(cell, from, until);
        let wifi_carried = self.path_bytes(wifi, from, until);
        let span = Duration::from_micros(until.saturating_sub(from).max(1));
        if carried > 0 {
            t.push(Moment {
                at_us: from,
                kind: "failover",
                text: format!(
                    "failover done: {}; {} carries the transfer at {:.1} Mbit/s until Wi-Fi is back",
                    match first_wait {
                        Some((_, wait)) => format!(
                            "the server's application, which waited {} for the data lost on \
                             Wi-Fi, gets data again",
                            micros(wait)
                        ),
                        None => "the server's application never waited 10ms or more".into(),
                    },
                    if wifi_carried == 0 { "cellular alone" } else { "cellular" },
                    mbps(carried, span)
                ),
            });
        } else {
            t.push(Moment {
                at_us: down,
                kind: "no_failover",
                text: "no data arrived over cellular while Wi-Fi was down".into(),
            });
        }
        // Later waits while Wi-Fi is down.
        let later: Vec<(u64, u64)> = self
            .waits
            .iter()
            .filter(|&&(end, wait)| end > from && end <= until && wait >= 100_000)
            .copied()
            .collect();
        if let Some(&(end, wait)) = later
            .iter()
            .max_by_key(|&&(end, wait)| (wait, std::cmp::Reverse(end)))
        {
            t.push(Moment {
                at_us: end,
                kind: "stall",
                text: format!(
                    "the server's application had to wait again{}: the longest wait, {}, ends here",
                    if later.len() > 1 {
                        format!(
                            " ({} waits of 100ms or more while Wi-Fi is down)",
                            later.len()
                        )
                    } else {
                        String::new()
                    },
                    micros(wait)
                ),
            });
        }
        let Some(up) = up else {
            return;
        };
        t.push(Moment {
            at_us: up,
            kind: "wifi_up",
            text: "Wi-Fi is back".into(),
        });
        // Recovery: Wi-Fi carries data again, then gets back to its earlier rate.
        let before_from = down.saturating_sub(4_000_000).max(2_000_000).min(down);
        let before = mbps(
            self.path_bytes(wifi, before_from, down),
            Duration::from_micros(down.saturating_sub(before_from).max(1)),
        );
        let bins = &self.per_path[wifi];
        let again = (bin_index(up)..bins.len()).find(|&b| bins[b] > 0);
        match again {
            Some(b) => {
                let at = b as u64 * BIN.as_micros();
                let timer = timeouts
                    .iter()
                    .find(|&&(t, _)| t >= up && t <= at + BIN.as_micros());
                let during = timeouts.iter().filter(|&&(t, _)| t < up).count();
                t.push(Moment {
                    at_us: timer.map_or(at, |&(t, _)| t),
                    kind: "wifi_again",
                    text: match timer {
                        Some(_) => format!(
                            "the Wi-Fi subflow's retransmission timer, backed off after {during} \
                             timeouts during the outage, fires again and finds the path working: \
                             Wi-Fi carries data again"
                        ),
                        None => "Wi-Fi carries data again".into(),
                    },
                });
                // The first whole second at 80% of the rate before the outage.
                let window = per_second();
                let rate_from = |k: usize| -> f64 {
                    let sum: u64 = bins.iter().skip(k).take(window).sum();
                    mbps(sum, Duration::from_secs(1))
                };
                let stop = bin_index(SEND_FOR.as_micros()).min(bins.len());
                let full = (b..stop.saturating_sub(window - 1))
                    .find(|&k| before > 0.0 && rate_from(k) >= 0.8 * before);
                match full {
                    Some(k) => t.push(Moment {
                        at_us: k as u64 * BIN.as_micros(),
                        kind: "recovered",
                        text: format!(
                            "recovered: over the next second Wi-Fi carries {:.1} Mbit/s, {:.0}% of \
                             its {:.1} Mbit/s before the outage",
                            rate_from(k),
                            100.0 * rate_from(k) / before,
                            before
                        ),
                    }),
                    None if stop >= window => {
                        let last = rate_from(stop - window);
                        t.push(Moment {
                            at_us: SEND_FOR.as_micros(),
                            kind: "not_recovered",
                            text: format!(
                                "Wi-Fi has not got back to its earlier rate: {:.1} Mbit/s over \
                                 the last second of sending, against {:.1} Mbit/s before the \
                                 outage",
                                last, before
                            ),
                        });
                    }
                    None => {}
                }
            }
            None => t.push(Moment {
                at_us: up,
                kind: "wifi_unused",
                text: "Wi-Fi carried no more data after it came back".into(),
            }),
        }
    }

    // ---- output ----

    fn to_text(&self) -> String {
        let mut o = String::new();
        let [wifi, cell] = paths();
        o.push_str("braid demo: Multipath TCP (RFC 8684) over Wi-Fi and cellular, simulated\n\n");
        o.push_str(&format!(
            "A phone uploads to a server over one MPTCP connection. It has two paths:\n\
             \x20 {:<9} {:>8}, {} one way (phone {}, server {})\n\
             \x20 {:<9} {:>8}, {} one way (phone {}, server {})\n\
             The connection starts on Wi-Fi; once it is up, the phone adds the cellular\n\
             path to it (MP_JOIN). MPTCP's scheduler puts each piece of data on the path\n\
             with the shortest round trip that has room for it. The phone sends as fast as\n\
             it can for {}s, and Wi-Fi drops out from {}s to {}s. Everything below is\n\
             measured in the simulation (virtual time, seed {}; the same seed gives the\n\
             same output).\n\n",
            wifi.name,
            wifi.rate().replace("Mbit", " Mbit/s"),
            wifi.delay(),
            PHONE_WIFI,
            SERVER_WIFI,
            cell.name,
            cell.rate().replace("Mbit", " Mbit/s"),
            cell.delay(),
            PHONE_CELL,
            SERVER_CELL,
            SEND_FOR.as_micros() / 1_000_000,
            WIFI_DOWN_S,
            WIFI_UP_S,
            self.seed
        ));
        o.push_str(&self.chart());
        o.push('\n');
        o.push_str("What happened\n");
        for m in &self.timeline {
            let mut lines = wrap(&m.text, 66).into_iter();
            o.push_str(&format!(
                "  {:>8}  {}\n",
                seconds(m.at_us),
                lines.next().unwrap_or_default()
            ));
            for line in lines {
                o.push_str(&format!("  {:>8}  {line}\n", ""));
            }
        }
        o.push('\n');
        o.push_str(&self.totals_text());
        o
    }

    /// How many seconds (whole or not) the throughput series cover.
    fn measured_seconds(&self) -> usize {
        self.per_path
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .div_ceil(per_second())
    }

    /// Throughput per second and path, as a table with a bar.
    fn chart(&self) -> String {
        let names = paths().map(|p| p.name);
        let secs = self.measured_seconds();
        let mut rows = vec![vec![
            "  second".to_string(),
            names[0].to_string(),
            names[1].to_string(),
            "total".to_string(),
        ]];
        for s in 0..secs {
            let v: Vec<f64> = (0..self.per_path.len())
                .map(|p| {
                    let from = s as u64 * 1_000_000;
                    mbps(
                        self.path_bytes(p, from, from + 1_000_000),
                        Duration::from_secs(1),
                    )
                })
                .collect();
            let total: f64 = v.iter().sum();
            let mut bar = "#".repeat((v[0] / 2.0).round() as usize);
            bar.push_str(&"=".repeat((v[1] / 2.0).round() as usize));
            let from = s as u64 * 1_000_000;
            let down = self
                .outages
                .iter()
                .any(|&(d, u)| d < from + 1_000_000 && u.is_none_or(|u| u > from));
            if down {
                bar.push_str("   (Wi-Fi down)");
            }
            rows.push(vec![
                format!("  {:>2}-{:<2}", s, s + 1),
                format!("{:>5.1}", v[0]),
                format!("{:>8.1}", v[1]),
                format!("{total:>5.1}"),
                format!(" {bar}"),
            ]);
        }
        format!(
            "Data arriving at the server over each path, Mbit/s per second of the run\n\
             (bars: one # per 2 Mbit/s over {}, one = per 2 Mbit/s over {})\n{}",
            names[0],
            names[1],
            table(&rows)
        )
    }

    fn totals_text(&self) -> String {
        let c = self.connection();
        let u = &c.upload;
        let mut o = String::from("Totals\n");
        let per_path: Vec<String> = paths()
            .iter()
            .zip(&self.per_path)
            .map(|(p, s)| format!("{} over {}", bytes(s.iter().sum()), p.name))
            .collect();
        o.push_str(&format!(
            "  sent       {}; {} delivered, the last byte {} after the first SYN\n",
            bytes(u.bytes_written),
            bytes(u.bytes_delivered),
            u.completion_us.map_or("-".into(), seconds),
        ));
        o.push_str(&format!(
            "  goodput    {} ({})\n",
            u.goodput_bps.map_or("-".into(), rate),
            per_path.join(", "),
        ));
        let (Some(phone), Some(server)) = (self.phone(), self.server()) else {
            o.push_str("  the server never accepted the connection\n");
            return o;
        };
        o.push_str(&format!(
            "  SHA-256    sent     {}\n             received {}\n  data       {}\n",
            phone.sha256_written,
            server.sha256_delivered,
            match u.integrity {
                Integrity::Intact => "intact: every byte arrived, in order, unchanged",
                Integrity::Incomplete => "INCOMPLETE: not every byte arrived",
                Integrity::Corrupt => "CORRUPT: what arrived is not what was sent",
            }
        ));
        let reinjected = phone
            .mptcp
            .as_ref()
            .map_or(0, |m| m.counters.reinjected_bytes);
        o.push_str(&format!(
            "  repairs    {} retransmitted, {} retransmission timeouts, {} sent again\n             on the other path\n",
            bytes(u.retransmitted_bytes),
            u.rto_count,
            bytes(reinjected),
        ));
        if let Some(m) = &phone.mptcp {
            let rows: Vec<Vec<String>> = m
                .subflows
                .iter()
                .map(|s| {
                    vec![
                        format!(
                            "  subflow {} {}",
                            s.id,
                            self.subflow_path(s.id).map_or("?", |p| paths()[p].name)
                        ),
                        format!("{} -> {}", s.local, s.remote),
                        format!("{} sent", bytes(s.bytes_sent)),
                        format!("{} RTOs", s.rto_count),
                        format!("srtt {}", s.srtt_us.map_or("-".into(), micros)),
                    ]
                })
                .collect();
            o.push_str(&table(&rows));
        }
        o.push_str(&format!(
            "  simulated  {} of virtual time, {} events ({})\n",
            seconds(self.report.end_us),
            self.report.events,
            match self.report.outcome {
                Outcome::Completed => "finished",
                Outcome::Deadline => "stopped at the deadline",
                Outcome::Idle => "stuck: nothing left to happen",
                Outcome::EventLimit => "stopped at the event limit",
            }
        ));
        o
    }

    fn to_json(&self) -> Value {
        let names = paths().map(|p| p.name);
        let secs = self.measured_seconds();
        let per_second: Vec<Value> = (0..secs)
            .map(|s| {
                let from = s as u64 * 1_000_000;
                let v: Vec<f64> = (0..self.per_path.len())
                    .map(|p| {
                        mbps(
                            self.path_bytes(p, from, from + 1_000_000),
                            Duration::from_secs(1),
                        )
                    })
                    .collect();
                json!({
                    "start_s": s,
                    "wifi_mbps": v[0],
                    "cellular_mbps": v[1],
                    "total_mbps": v.iter().sum::<f64>(),
                })
            })
            .collect();
        let u = &self.connection().upload;
        json!({
            "seed": self.seed,
            "setup": {
                "paths": paths().iter().map(|p| json!({
                    "name": p.name,
                    "rate": p.rate(),
                    "one_way_delay": p.delay(),
                    "phone": p.phone.to_string(),
                })).collect::<Vec<_>>(),
                "send_for_us": SEND_FOR.as_micros(),
                "wifi_outages": self.outages.iter().map(|&(d, u)| json!({"down_us": d, "up_us": u})).collect::<Vec<_>>(),
            },
            "path_names": names,
            "per_second": per_second,
            "server_waits": self.waits.iter().map(|&(end, wait)| json!({
                "end_us": end, "wait_us": wait,
            })).collect::<Vec<_>>(),
            "timeline": self.timeline.iter().map(|m| json!({
                "at_us": m.at_us,
                "kind": m.kind,
                "text": m.text,
            })).collect::<Vec<_>>(),
            "totals": {
                "protocol": self.connection().protocol,
                "bytes_sent": u.bytes_written,
                "bytes_delivered": u.bytes_delivered,
                "bytes_per_path": paths().iter().zip(&self.per_path).map(|(p, s)| json!({
                    "path": p.name, "bytes": s.iter().sum::<u64>()
                })).collect::<Vec<_>>(),
                "completion_us": u.completion_us,
                "goodput_bps": u.goodput_bps,
                "integrity": u.integrity,
                "sha256_sent": self.phone().map(|p| p.sha256_written.clone()),
                "sha256_received": self.server().map(|s| s.sha256_delivered.clone()),
                "retransmitted_bytes": u.retransmitted_bytes,
                "rto_count": u.rto_count,
            },
            "report": self.report,
        })
    }
}

fn per_second() -> usize {
    (1_000_000 / BIN.as_micros()) as usize
}

/// `text` cut into lines of at most `width` characters, at spaces (a longer word
/// stands alone).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Microseconds as seconds with millisecond precision: `"8.213s"`.
fn seconds(us: u64) -> String {
    format!("{}.{:03}s", us / 1_000_000, us % 1_000_000 / 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_wrap_at_the_width() {
        assert_eq!(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
        assert_eq!(wrap("averylongword x", 4), ["averylongword", "x"]);
        assert!(wrap("", 10).is_empty());
    }

    #[test]
    fn outages_pair_downs_with_ups() {
        let at = |s: u64| Instant::from_micros(s * 1_000_000);
        let schedule = [
            (at(8), LinkChange::Down),
            (at(9), LinkChange::Rate(Some(1))),
            (at(12), LinkChange::Up),
            (at(20), LinkChange::Down),
        ];
        assert_eq!(
            outages(&schedule),
            [(8_000_000, Some(12_000_000)), (20_000_000, None)]
        );
    }

    #[test]
    fn seconds_keep_milliseconds() {
        assert_eq!(seconds(8_198_605), "8.198s");
        assert_eq!(seconds(0), "0.000s");
    }
}
