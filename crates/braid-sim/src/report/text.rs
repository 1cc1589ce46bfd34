//! Text renderings of a [`Report`] for people: the MPTCP section (per connection and
//! end: subflows, counters, how many subflows were established over the run) and the
//! throughput of each link direction over time, plus the number formats and the
//! table layout they use.
//!
//! ```
//! use braid_sim::report::text;
//!
//! assert_eq!(text::bytes(1_500_000), "1.50 MB");
//! assert_eq!(text::rate(49_200_000.0), "49.20 Mbit/s");
//! assert_eq!(text::micros(6_504_000), "6.504s");
//! let rows = vec![vec!["a".to_string(), "bb".into()], vec!["ccc".into(), "d".into()]];
//! assert_eq!(text::table(&rows), "a    bb\nccc  d\n");
//! ```

use std::fmt::Write as _;

use braid_proto::time::{Duration, Instant};

use super::{ConnectionReport, MptcpReport, Report, SideReport};

/// Bytes with a decimal unit: `"1.50 MB"`.
pub fn bytes(n: u64) -> String {
    let units = [(1e9, "GB"), (1e6, "MB"), (1e3, "kB")];
    for (scale, unit) in units {
        if n as f64 >= scale {
            return format!("{:.2} {unit}", n as f64 / scale);
        }
    }
    format!("{n} B")
}

/// Bits per second with a decimal unit: `"49.20 Mbit/s"`.
pub fn rate(bps: f64) -> String {
    let units = [(1e9, "Gbit/s"), (1e6, "Mbit/s"), (1e3, "kbit/s")];
    for (scale, unit) in units {
        if bps >= scale {
            return format!("{:.2} {unit}", bps / scale);
        }
    }
    format!("{bps:.0} bit/s")
}

/// A time in microseconds: `"6.504s"`, `"20.0ms"`, `"750us"`.
pub fn micros(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.3}s", us as f64 / 1e6)
    } else if us >= 1_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{us}us")
    }
}

/// Rows of cells, each column as wide as its widest cell, two spaces apart, every
/// line ending in a newline.
pub fn table(rows: &[Vec<String>]) -> String {
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
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "-".to_string(), f)
}

/// The MPTCP section of a report: for each connection that ran MPTCP (fallen back or
/// not), each end's subflows, counters and established subflows over time. Empty when
/// no connection did.
pub fn mptcp(report: &Report) -> String {
    let mut out = String::new();
    for c in &report.connections {
        let sides = [("client", &c.client), ("server", &c.server)];
        if !sides
            .iter()
            .any(|(_, s)| s.as_ref().is_some_and(|s| s.mptcp.is_some()))
        {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&connection_header(c));
        for (end, side) in sides {
            if let Some(side) = side {
                out.push_str(&side_section(end, side));
            }
        }
    }
    out
}

fn connection_header(c: &ConnectionReport) -> String {
    let most = [&c.client, &c.server]
        .iter()
        .filter_map(|s| s.as_ref()?.mptcp.as_ref())
        .map(|m| m.max_established)
        .max()
        .unwrap_or(0);
    format!(
        "connection {}: {}, at most {most} subflow{} established at once\n",
        c.name,
        match c.protocol.as_str() {
            "mptcp" => "MPTCP",
            "fallback" => "MPTCP, fell back to TCP",
            _ => "TCP",
        },
        if most == 1 { "" } else { "s" },
    )
}

fn side_section(end: &str, side: &SideReport) -> String {
    let Some(m) = &side.mptcp else {
        return format!("  {end} ({}): plain TCP\n", side.host);
    };
    let mut out = format!(
        "  {end} ({}): phase {}{}{}\n",
        side.host,
        m.phase,
        m.fallback_us
            .map(|t| format!(" since {}", micros(t)))
            .unwrap_or_default(),
        if m.checksums { ", DSS checksums" } else { "" },
    );
    let mut rows = vec![[
        "subflow", "path", "ids", "backup", "via", "sent", "received", "retrans", "RTOs", "srtt",
        "up", "state",
    ]
    .map(String::from)
    .to_vec()];
    for s in &m.subflows {
        let backup = match (s.backup, s.peer_backup) {
            (false, false) => "-",
            (true, false) => "ours",
            (false, true) => "peer's",
            (true, true) => "both",
        };
        let up = match (s.established_us, s.closed_us) {
            (Some(a), Some(b)) => format!("{}-{}", micros(a), micros(b)),
            (Some(a), None) => format!("{}-", micros(a)),
            (None, _) => "never".to_string(),
        };
        let mut state = s.state.clone();
        if let Some(r) = &s.close_reason {
            let _ = write!(state, " ({r})");
        }
        if let Some(r) = &s.reset_reason {
            let _ = write!(state, ", we reset: {r}");
        }
        if let Some(r) = &s.peer_reset_reason {
            let _ = write!(state, ", peer reset: {r}");
        }
        rows.push(vec![
            s.id.to_string(),
            format!("{} -> {}", s.local, s.remote),
            format!("{}/{}", s.local_id, s.remote_id),
            backup.to_string(),
            if s.handshake == "mp_join" {
                "MP_JOIN"
            } else {
                "MP_CAPABLE"
            }
            .to_string(),
            bytes(s.bytes_sent),
            bytes(s.bytes_received),
            format!(
                "{} / {}",
                s.retransmitted_segments,
                bytes(s.retransmitted_bytes)
            ),
            s.rto_count.to_string(),
            opt(s.srtt_us, micros),
            up,
            state,
        ]);
    }
    for line in table(&rows).lines() {
        let _ = writeln!(out, "    {line}");
    }
    let _ = writeln!(out, "    {}", counters(m));
    let _ = writeln!(
        out,
        "    established subflows: {}",
        if m.established_over_time.is_empty() {
            "none".to_string()
        } else {
            m.established_over_time
                .iter()
                .map(|c| format!("{} at {}", c.established, micros(c.at_us)))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    out
}

fn counters(m: &MptcpReport) -> String {
    let c = &m.counters;
    let mut parts = vec![
        format!(
            "joins: {} opened, {} accepted, {} refused",
            c.subflows_opened, c.joins_accepted, c.joins_rejected
        ),
        format!(
            "ADD_ADDR: {} sent, {} received",
            c.add_addr_sent, c.add_addr_received
        ),
        format!("fallbacks: {}", c.fallbacks),
        format!("reinjected: {}", bytes(c.reinjected_bytes)),
        format!("protocol errors: {}", c.protocol_errors),
    ];
    if c.opportunistic_bytes > 0 || c.penalties > 0 {
        parts.push(format!(
            "opportunistic reinjection: {} ({} penalties)",
            bytes(c.opportunistic_bytes),
            c.penalties
        ));
    }
    for (name, v) in [
        ("bad join HMACs", c.bad_join_hmacs),
        ("bad ADD_ADDR HMACs", c.add_addr_bad_hmac),
        ("REMOVE_ADDR received", c.remove_addr_received),
        ("MP_PRIO received", c.mp_prio_received),
        ("MP_FAIL sent", c.mp_fail_sent),
        ("MP_FAIL received", c.mp_fail_received),
        ("MP_FASTCLOSE sent", c.fastclose_sent),
        ("MP_FASTCLOSE received", c.fastclose_received),
        ("MP_TCPRST received", c.mp_tcprst_received),
        ("checksum failures", c.checksum_failures),
        ("infinite mappings received", c.infinite_mappings_received),
    ] {
        if v > 0 {
            parts.push(format!("{name}: {v}"));
        }
    }
    if m.events_dropped > 0 {
        parts.push(format!("events not logged: {}", m.events_dropped));
    }
    parts.join("; ")
}

/// Each link direction's delivered throughput in Mbit/s per `step` (a multiple of the
/// report's bin width, rounded up to one), one column per direction that delivered
/// anything, up to the end of the run. Empty when no link delivered anything.
pub fn link_throughput(report: &Report, step: Duration) -> String {
    let links: Vec<_> = report
        .links
        .iter()
        .filter(|l| l.delivered_series.total().bytes > 0)
        .collect();
    let Some(first) = links.first() else {
        return String::new();
    };
    let bin = first.delivered_series.width();
    let per = (step.as_micros() / bin.as_micros()).max(1) as usize;
    let width = Duration::from_micros(bin.as_micros() * per as u64);
    let end = Instant::from_micros(report.end_us);
    let rows_count = report.end_us.div_ceil(width.as_micros()) as usize;
    let mut header = vec!["time".to_string()];
    header.extend(
        links
            .iter()
            .map(|l| format!("{} {}->{}", l.name, l.from, l.to)),
    );
    let mut rows = vec![header];
    for r in 0..rows_count {
        let start = r as u64 * width.as_micros();
        let mut row = vec![format!("{}", micros(start))];
        for l in &links {
            let b: u64 = l
                .delivered_series
                .bins_until(end)
                .skip(r * per)
                .take(per)
                .map(|b| b.bytes)
                .sum();
            row.push(format!("{:.1}", b as f64 * 8.0 / width.as_secs_f64() / 1e6));
        }
        rows.push(row);
    }
    format!(
        "throughput per link direction, Mbit/s per {}:\n{}",
        micros(width.as_micros()),
        table(&rows)
    )
}
