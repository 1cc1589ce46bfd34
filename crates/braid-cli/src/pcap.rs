//! `braid pcap`: decode a capture, MPTCP first.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::Result;
use braid::capture::{
    decode, AddressRemoval, CaptureReader, Connection, ConnectionReport, ConnectionTracker,
    Decoded, Fallback, Subflow, SubflowKind,
};
use braid_proto::wire::mptcp::MpTcpRstReason;

pub struct Output {
    pub json: bool,
    pub connections: bool,
}

pub fn run(path: &Path, output: Output) -> Result<()> {
    let reader = CaptureReader::open(path)?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut tracker = ConnectionTracker::new();
    let mut first_time = None;
    let mut malformed = 0u64;
    // A capture cut short (tcpdump killed mid-write) still holds every frame before
    // the cut: report those, then fail with the reader's error.
    let mut read_error = None;
    for packet in reader {
        let packet = match packet {
            Ok(packet) => packet,
            Err(e) => {
                read_error = Some(e);
                break;
            }
        };
        let frame = packet.index + 1;
        let segment = match decode(&packet.ip) {
            Ok(Decoded::Tcp(segment)) => segment,
            Ok(Decoded::NotTcp { .. }) => continue,
            Err(e) => {
                malformed += 1;
                if !output.connections && !output.json {
                    writeln!(out, "{frame:>6} malformed packet: {e}")?;
                }
                continue;
            }
        };
        if output.connections {
            tracker.add(frame, &segment);
            continue;
        }
        let start = *first_time.get_or_insert(packet.timestamp);
        let time = packet.timestamp.saturating_sub(start).as_secs_f64();
        if output.json {
            let mut value = serde_json::json!({ "frame": frame, "time": time });
            value
                .as_object_mut()
                .expect("object")
                .extend(segment.to_json().as_object().cloned().unwrap_or_default());
            // As an io::Error, so that main can tell a closed pipe from a failure.
            serde_json::to_writer(&mut out, &value).map_err(io::Error::from)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{frame:>6} {time:>10.6} {}", segment.terse())?;
        }
    }
    if output.connections {
        let report = tracker.finish();
        if output.json {
            serde_json::to_writer_pretty(&mut out, &report).map_err(io::Error::from)?;
            writeln!(out)?;
        } else {
            write_report(&mut out, &report)?;
        }
    }
    if malformed > 0 && (output.connections || output.json) {
        eprintln!("braid: {malformed} packets could not be decoded as IP/TCP");
    }
    out.flush()?;
    match read_error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

fn hex64(v: Option<u64>) -> String {
    v.map_or_else(|| "unknown".into(), |v| format!("0x{v:016x}"))
}

fn hex32(v: Option<u32>) -> String {
    v.map_or_else(|| "unknown".into(), |v| format!("0x{v:08x}"))
}

fn verdict(valid: Option<bool>) -> &'static str {
    match valid {
        Some(true) => ", HMAC ok",
        Some(false) => ", HMAC WRONG",
        None => "",
    }
}

fn write_report(out: &mut impl Write, report: &ConnectionReport) -> io::Result<()> {
    if report.connections.is_empty() && report.unattributed_subflows.is_empty() {
        writeln!(out, "no MPTCP connection in the capture")?;
    } else if report.connections.is_empty() {
        // MPTCP is there, but neither an MP_CAPABLE nor an MP_JOIN SYN.
        writeln!(out, "no MPTCP handshake in the capture")?;
    }
    for (i, c) in report.connections.iter().enumerate() {
        write_connection(out, i + 1, c)?;
    }
    for s in &report.unattributed_subflows {
        writeln!(out, "MPTCP subflow without its handshake in the capture:")?;
        write_subflow(out, 0, s)?;
    }
    if report.plain_tcp_connections > 0 {
        writeln!(
            out,
            "plain TCP connections (no MPTCP option on the SYN): {}",
            report.plain_tcp_connections
        )?;
    }
    Ok(())
}

fn write_connection(out: &mut impl Write, n: usize, c: &Connection) -> io::Result<()> {
    let first = c.subflows.first();
    let endpoints = first.map_or_else(String::new, |s| {
        format!(" {} -> {}", s.initiator, s.responder)
    });
    writeln!(out, "MPTCP connection {n}:{endpoints}")?;
    if let Some(token) = c.join_token {
        writeln!(
            out,
            "  handshake not in the capture; joins sent to token 0x{token:08x}"
        )?;
    } else {
        writeln!(
            out,
            "  client key {}  token {}",
            hex64(c.client_key),
            hex32(c.client_token)
        )?;
        writeln!(
            out,
            "  server key {}  token {}",
            hex64(c.server_key),
            hex32(c.server_token)
        )?;
    }
    if c.key_mismatch {
        writeln!(
            out,
            "  WARNING: the MP_CAPABLE ACK echoed a server key other than the SYN-ACK's"
        )?;
    }
    let checksums = match c.checksums {
        Some(true) => "on",
        Some(false) => "off",
        None => "unknown",
    };
    writeln!(out, "  DSS checksums: {checksums}")?;
    match c.fallback {
        Some(Fallback::NoMpCapableInSynAck { frame }) => writeln!(
            out,
            "  fallback to TCP: the SYN-ACK (frame {frame}) carried no MP_CAPABLE: the peer does not speak MPTCP or a middlebox removed it"
        )?,
        Some(Fallback::InfiniteMapping { frame }) => {
            writeln!(out, "  fallback to TCP: infinite mapping at frame {frame}")?
        }
        Some(Fallback::MpFail { frame }) => writeln!(out, "  MP_FAIL (checksum failure) at frame {frame}")?,
        None => {}
    }
    writeln!(out, "  subflows: {}", c.subflows.len())?;
    for (i, s) in c.subflows.iter().enumerate() {
        write_subflow(out, i + 1, s)?;
    }
    for a in &c.announced {
        let by = a.by.map_or("?", |h| h.name());
        let port = a.port.map_or_else(String::new, |p| format!(" port {p}"));
        let echoed = if a.echoed { ", echoed" } else { ", not echoed" };
        let removed = if a.removed { ", later removed" } else { "" };
        writeln!(
            out,
            "  ADD_ADDR by {by}: id {} {}{port} (frame {}{}{echoed}{removed})",
            a.addr_id,
            a.addr,
            a.frame,
            verdict(a.hmac_valid)
        )?;
    }
    for &AddressRemoval {
        by,
        addr_id: id,
        frame,
    } in &c.removed
    {
        writeln!(
            out,
            "  REMOVE_ADDR by {}: id {id} (frame {frame})",
            by.map_or("?", |h| h.name())
        )?;
    }
    if !c.data_fin_from.is_empty() {
        let hosts: Vec<_> = c.data_fin_from.iter().map(|h| h.name()).collect();
        writeln!(out, "  DATA_FIN from {}", hosts.join(" and "))?;
    }
    if let Some(host) = c.fastclose_from {
        writeln!(out, "  MP_FASTCLOSE from {}", host.name())?;
    }
    Ok(())
}

fn write_subflow(out: &mut impl Write, n: usize, s: &Subflow) -> io::Result<()> {
    let kind = match s.kind {
        SubflowKind::Initial => "initial",
        SubflowKind::Join => "join",
        SubflowKind::Unknown => "seen mid-stream",
    };
    let by = s
        .opened_by
        .map_or_else(String::new, |h| format!(" by {}", h.name()));
    let id = |id: Option<u8>| id.map_or_else(|| "?".to_string(), |i| i.to_string());
    let mut backup = Vec::new();
    if s.initiator_backup {
        backup.push("initiator");
    }
    if s.responder_backup {
        backup.push("responder");
    }
    let backup = if backup.is_empty() {
        "no".to_string()
    } else {
        format!("yes (asked by {})", backup.join(", "))
    };
    let label = if n > 0 {
        format!("    {n}. ")
    } else {
        "    ".to_string()
    };
    writeln!(
        out,
        "{label}{} <-> {}  {kind}{by}, address ids {}/{}, backup {backup}{}",
        s.initiator,
        s.responder,
        id(s.initiator_addr_id),
        id(s.responder_addr_id),
        verdict(s.join_hmacs_valid)
    )?;
    let reset = match (s.reset, s.reset_reason) {
        (_, Some(code)) => format!(
            ", reset (MP_TCPRST reason {code}: {})",
            MpTcpRstReason::from_code(code).name()
        ),
        (true, None) => ", reset".to_string(),
        _ => String::new(),
    };
    writeln!(
        out,
        "       {} packets, {} payload bytes, first frame {}{reset}",
        s.packets, s.payload_bytes, s.first_frame
    )?;
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    for p in &s.priority_changes {
        let side = if p.from_initiator {
            "initiator"
        } else {
            "responder"
        };
        let by =
            p.by.map_or_else(|| side.to_string(), |h| format!("{} ({side})", h.name()));
        writeln!(
            out,
            "       MP_PRIO by {by} at frame {}: backup {} -> {}",
            p.frame,
            yes_no(p.was_backup),
            yes_no(p.backup)
        )?;
    }
    Ok(())
}
