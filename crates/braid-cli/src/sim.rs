//! `braid sim`: run a simulation scenario and print its metrics.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use braid_sim::report::{ConnectionReport, Integrity, Report, SideReport, TransferReport};
use braid_sim::scenario::{Capture, RunOptions, Scenario};

pub struct Options {
    pub seed: Option<u64>,
    pub json: bool,
    pub pcap: Option<PathBuf>,
}

pub fn run(file: &Path, options: Options) -> Result<()> {
    let scenario = Scenario::load(file)?;
    let capture = match &options.pcap {
        Some(dir) => Capture::Directory(dir.clone()),
        None => Capture::None,
    };
    let result = scenario
        .run(&RunOptions {
            seed: options.seed,
            capture,
        })
        .with_context(|| format!("running {}", file.display()))?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if options.json {
        writeln!(out, "{}", result.report.to_json())?;
    } else {
        write_table(&mut out, &result.report, options.pcap.as_deref())?;
        let mptcp = braid_sim::report::text::mptcp(&result.report);
        if !mptcp.is_empty() {
            writeln!(out)?;
            write!(out, "{mptcp}")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Bytes with a decimal unit.
fn bytes(n: u64) -> String {
    let units = [(1e9, "GB"), (1e6, "MB"), (1e3, "kB")];
    for (scale, unit) in units {
        if n as f64 >= scale {
            return format!("{:.2} {unit}", n as f64 / scale);
        }
    }
    format!("{n} B")
}

fn rate(bps: f64) -> String {
    let units = [(1e9, "Gbit/s"), (1e6, "Mbit/s"), (1e3, "kbit/s")];
    for (scale, unit) in units {
        if bps >= scale {
            return format!("{:.2} {unit}", bps / scale);
        }
    }
    format!("{bps:.0} bit/s")
}

fn micros(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.3}s", us as f64 / 1e6)
    } else if us >= 1_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{us}us")
    }
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "-".to_string(), f)
}

fn integrity(i: Integrity) -> &'static str {
    match i {
        Integrity::Intact => "intact",
        Integrity::Incomplete => "incomplete",
        Integrity::Corrupt => "CORRUPT",
    }
}

/// Rows of cells, printed with each column as wide as its widest cell.
fn table(out: &mut impl Write, rows: &[Vec<String>]) -> io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn transfer_row(name: &str, t: &TransferReport) -> Vec<String> {
    vec![
        name.to_string(),
        format!("{}->{}", t.from, t.to),
        bytes(t.bytes_written),
        bytes(t.bytes_delivered),
        opt(t.goodput_bps, rate),
        opt(t.completion_us, micros),
        match (t.max_gap_us, t.stalled_at_end_us) {
            (gap, Some(stall)) => format!("{} (+{} at end)", opt(gap, micros), micros(stall)),
            (gap, None) => opt(gap, micros),
        },
        format!(
            "{} / {}",
            t.retransmitted_segments,
            bytes(t.retransmitted_bytes)
        ),
        t.rto_count.to_string(),
        integrity(t.integrity).to_string(),
    ]
}

fn app_results(s: &SideReport) -> String {
    let r = &s.app_report;
    let mut parts = Vec::new();
    if let Some(e) = r.pattern_errors {
        match r.first_error_offset {
            Some(at) => parts.push(format!("pattern errors {e} (first at byte {at})")),
            None => parts.push(format!("pattern errors {e}")),
        }
    }
    if let Some(n) = r.exchanges {
        match r.exchanges_planned {
            Some(p) => parts.push(format!("exchanges {n}/{p}")),
            None => parts.push(format!("answered {n}")),
        }
    }
    if let (Some(min), Some(mean), Some(max)) =
        (r.latency_min_us, r.latency_mean_us, r.latency_max_us)
    {
        parts.push(format!(
            "latency min/mean/max {}/{}/{}",
            micros(min),
            micros(mean),
            micros(max)
        ));
    }
    if let (Some(done), Some(planned)) = (r.actions_done, r.actions_planned) {
        parts.push(format!("actions {done}/{planned}"));
    }
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(", ")
    }
}

fn side_row(c: &ConnectionReport, end: &str, s: &SideReport) -> Vec<String> {
    vec![
        c.name.clone(),
        end.to_string(),
        s.host.clone(),
        s.local.clone(),
        s.app.clone(),
        s.state.clone(),
        s.close_reason.clone().unwrap_or_else(|| "-".into()),
        opt(s.tcp.srtt_us, micros),
        opt(s.tcp.cwnd, bytes),
        app_results(s),
    ]
}

fn write_table(out: &mut impl Write, r: &Report, pcap_dir: Option<&Path>) -> io::Result<()> {
    writeln!(
        out,
        "scenario {}  seed {}  {} at {}  ({} events)",
        r.scenario,
        r.seed,
        match r.outcome {
            braid_sim::report::Outcome::Completed => "completed",
            braid_sim::report::Outcome::Deadline => "deadline reached",
            braid_sim::report::Outcome::Idle => "stuck (nothing left to happen)",
            braid_sim::report::Outcome::EventLimit => "event limit reached",
        },
        micros(r.end_us),
        r.events
    )?;
    writeln!(out)?;
    if r.connections.is_empty() {
        writeln!(out, "no connections")?;
    } else {
        let mut rows = vec![[
            "connection",
            "direction",
            "written",
            "delivered",
            "goodput",
            "completion",
            "max gap",
            "retransmitted",
            "RTOs",
            "integrity",
        ]
        .map(String::from)
        .to_vec()];
        for c in &r.connections {
            rows.push(transfer_row(&c.name, &c.upload));
            rows.push(transfer_row(&c.name, &c.download));
        }
        table(out, &rows)?;
        writeln!(out)?;
        let mut rows = vec![[
            "connection",
            "end",
            "host",
            "address",
            "app",
            "state",
            "closed",
            "srtt",
            "cwnd",
            "results",
        ]
        .map(String::from)
        .to_vec()];
        for c in &r.connections {
            if let Some(s) = &c.client {
                rows.push(side_row(c, "client", s));
            }
            if let Some(s) = &c.server {
                rows.push(side_row(c, "server", s));
            }
        }
        table(out, &rows)?;
    }
    if !r.links.is_empty() {
        writeln!(out)?;
        let mut rows = vec![[
            "link",
            "direction",
            "delivered",
            "dropped queue/loss/mtu/down",
            "max queue",
            "capture",
        ]
        .map(String::from)
        .to_vec()];
        for l in &r.links {
            let s = &l.stats;
            rows.push(vec![
                l.name.clone(),
                format!("{}->{}", l.from, l.to),
                format!("{} pkts, {}", s.delivered.packets, bytes(s.delivered.bytes)),
                format!(
                    "{}/{}/{}/{}",
                    s.dropped_queue.packets,
                    s.dropped_loss.packets,
                    s.dropped_mtu.packets,
                    s.dropped_down.packets
                ),
                bytes(s.max_queue_bytes as u64),
                match (&l.pcap, pcap_dir) {
                    (Some(name), Some(dir)) => dir.join(name).display().to_string(),
                    _ => "-".to_string(),
                },
            ]);
        }
        table(out, &rows)?;
    }
    for h in &r.hosts {
        for f in &h.connect_failures {
            writeln!(
                out,
                "{}: connect{} to {} at {} failed: {}",
                h.name,
                f.label
                    .as_ref()
                    .map(|l| format!(" ({l})"))
                    .unwrap_or_default(),
                f.remote,
                micros(f.at_us),
                f.error
            )?;
        }
    }
    Ok(())
}
