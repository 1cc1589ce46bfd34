//! The metrics of a run, ready to print or serialise (serde; JSON through
//! [`Report::to_json`]).
//!
//! Times are integers in microseconds of virtual time (fields ending in `_us`), rates in
//! bits per second, sizes in bytes: a report is exact and the same on every run of a
//! scenario and seed.
//!
//! - Per connection ([`ConnectionReport`]): both ends ([`SideReport`]) and both
//!   directions ([`TransferReport`]): bytes written and delivered, **goodput** (bytes
//!   delivered to the application × 8 / time from the client's first SYN to the last
//!   byte delivered), **retransmitted bytes and segments** and **RTOs** of the sending
//!   end, the **largest gap between two consecutive deliveries** to the application
//!   (the longest stall), and integrity (SHA-256 of what was written against SHA-256 of
//!   what was delivered, and the sink's pattern check).
//! - Per end: delivered bytes per bin (the connection's throughput over time) and,
//!   per subflow (4-tuple; every subflow of an MPTCP connection), TCP payload bytes
//!   each way per bin.
//! - Per connection and end, whether it ran MPTCP (`protocol`: `"mptcp"`,
//!   `"fallback"` or `"tcp"`) and, for MPTCP ([`MptcpReport`]): every subflow it had
//!   ([`MptcpSubflowReport`]: addresses, address ids, backup flags, TCP counters,
//!   smoothed RTT, state and why it closed), how many subflows were established over
//!   the run, the MPTCP counters ([`MptcpCounters`]: joins, ADD_ADDR, fallbacks,
//!   reinjected bytes, protocol errors, ...) and the log of what happened
//!   ([`MptcpEventReport`]).
//! - Per link direction ([`LinkReport`]): counters and delivered bytes per bin, so a
//!   scenario with one link per path shows each path's throughput over time.
//!
//! [`text`] renders the MPTCP part for people.

use braid_proto::mptcp::{MptcpStats, Phase};
use braid_proto::time::Instant;
use serde::Serialize;

use crate::apps::AppReport;
use crate::host::{
    ConnectFailure, ConnectionRecord, FlowRecord, Host, HostStats, MptcpEvent, MptcpRecord, Role,
    SubflowRecord,
};
use crate::link::LinkStats;
use crate::metrics::{Counter, Series};
use crate::sim::{LinkId, NodeId, RunOutcome, Simulator};

pub mod text;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every connection finished (closed or in TIME-WAIT) and nothing was planned.
    Completed,
    /// The deadline came first.
    Deadline,
    /// Nothing was left to do before everything finished (a connection stuck).
    Idle,
    /// The simulator's event limit came first.
    EventLimit,
}

impl From<RunOutcome> for Outcome {
    fn from(o: RunOutcome) -> Self {
        match o {
            RunOutcome::Deadline => Outcome::Deadline,
            RunOutcome::Idle => Outcome::Idle,
            RunOutcome::EventLimit => Outcome::EventLimit,
        }
    }
}

/// Everything measured in one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub outcome: Outcome,
    /// Virtual time at the end of the run.
    pub end_us: u64,
    /// Simulator events processed.
    pub events: u64,
    pub connections: Vec<ConnectionReport>,
    pub links: Vec<LinkReport>,
    pub hosts: Vec<HostReport>,
}

impl Report {
    /// Pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serialises")
    }
}

/// Whether a stream arrived whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Integrity {
    /// Every byte written was delivered, and the SHA-256 digests (and pattern check)
    /// agree. Also a stream with nothing written and nothing delivered.
    Intact,
    /// Fewer bytes delivered than written, none found wrong.
    Incomplete,
    /// Bytes delivered that were not written: a digest or pattern mismatch, or more
    /// bytes than were written.
    Corrupt,
}

/// One direction of a connection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferReport {
    /// Host names of the writer and the reader.
    pub from: String,
    pub to: String,
    pub bytes_written: u64,
    pub bytes_delivered: u64,
    /// `bytes_delivered * 8 / (last delivery - client's first SYN)`; `None` when
    /// nothing was delivered.
    pub goodput_bps: Option<f64>,
    /// From the client's first SYN to the last byte delivered.
    pub completion_us: Option<u64>,
    pub first_delivery_us: Option<u64>,
    pub last_delivery_us: Option<u64>,
    /// The largest gap between two consecutive deliveries, and when it ended.
    pub max_gap_us: Option<u64>,
    pub max_gap_end_us: Option<u64>,
    /// For a transfer that did not complete: the time from its last delivery (or the
    /// client's first SYN, if nothing was delivered) to the end of the run, a stall
    /// that `max_gap_us` does not see.
    pub stalled_at_end_us: Option<u64>,
    /// Retransmissions of the writer's end (it sends this direction's data).
    pub retransmitted_bytes: u64,
    pub retransmitted_segments: u64,
    pub rto_count: u64,
    pub integrity: Integrity,
}

/// One connection, both ends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionReport {
    /// The scenario's connection name, or the client's host and address.
    pub name: String,
    /// `"mptcp"`, `"fallback"` (MPTCP that fell back to TCP at either end) or `"tcp"`.
    pub protocol: String,
    pub client: Option<SideReport>,
    pub server: Option<SideReport>,
    /// Client to server.
    pub upload: TransferReport,
    /// Server to client.
    pub download: TransferReport,
}

/// The TCP engine's counters of one end, as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcpReport {
    pub segments_sent: u64,
    pub segments_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub retransmitted_bytes: u64,
    pub retransmitted_segments: u64,
    pub rto_count: u64,
    pub fast_recoveries: u64,
    pub srtt_us: Option<u64>,
    pub cwnd: Option<u64>,
}

/// One 4-tuple as its host saw it on the wire: TCP segments (`packets`) and payload
/// bytes (`bytes`) each way.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubflowReport {
    pub local: String,
    pub remote: String,
    pub first_seen_us: u64,
    pub sent: Counter,
    pub received: Counter,
    /// Payload bytes sent per bin.
    pub sent_series: Series,
    /// Payload bytes received per bin: the subflow's throughput over time.
    pub received_series: Series,
}

impl SubflowReport {
    fn new(f: &FlowRecord) -> Self {
        SubflowReport {
            local: f.local.to_string(),
            remote: f.remote.to_string(),
            first_seen_us: f.first_seen.as_micros(),
            sent: f.sent,
            received: f.received,
            sent_series: f.sent_series.clone(),
            received_series: f.received_series.clone(),
        }
    }
}

/// One end of a connection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SideReport {
    pub host: String,
    pub role: Role,
    pub app: String,
    pub local: String,
    pub remote: String,
    /// Final TCP state, as last seen ("Closed" once the endpoint dropped it).
    pub state: String,
    pub close_reason: Option<String>,
    pub syn_us: u64,
    pub established_us: Option<u64>,
    pub peer_finished_us: Option<u64>,
    pub closed_us: Option<u64>,
    pub bytes_written: u64,
    pub sha256_written: String,
    pub bytes_delivered: u64,
    pub sha256_delivered: String,
    pub first_delivery_us: Option<u64>,
    pub last_delivery_us: Option<u64>,
    pub max_gap_us: Option<u64>,
    pub max_gap_end_us: Option<u64>,
    /// Bytes delivered to the application per bin.
    pub delivered_series: Series,
    /// `"mptcp"`, `"fallback"` or `"tcp"`, as this end ran it.
    pub protocol: String,
    /// For MPTCP, summed over the subflows.
    pub tcp: TcpReport,
    /// What the host saw on the wire of each of the connection's 4-tuples: one for
    /// TCP, one per subflow for MPTCP (in the order of [`MptcpReport::subflows`]).
    pub subflows: Vec<SubflowReport>,
    pub mptcp: Option<MptcpReport>,
    pub app_report: AppReport,
}

/// An MPTCP connection at one end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MptcpReport {
    /// `"handshake"`, `"established"` or `"fallback"`, as last seen.
    pub phase: String,
    pub fallback_us: Option<u64>,
    /// DSS checksums in use.
    pub checksums: bool,
    /// Every subflow, in the order they appeared.
    pub subflows: Vec<MptcpSubflowReport>,
    /// The most subflows established at once.
    pub max_established: usize,
    /// The number of established subflows each time it changed.
    pub established_over_time: Vec<SubflowCount>,
    pub counters: MptcpCounters,
    /// What happened, in order (bounded; `events_dropped` counts the rest).
    pub events: Vec<MptcpEventReport>,
    pub events_dropped: u64,
}

/// How many subflows were established from `at_us` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SubflowCount {
    pub at_us: u64,
    pub established: usize,
}

/// An [`MptcpEvent`] and when it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MptcpEventReport {
    pub at_us: u64,
    #[serde(flatten)]
    pub event: MptcpEvent,
}

/// One subflow of an MPTCP connection, at one end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MptcpSubflowReport {
    /// Its number within the connection; 0 is the first subflow.
    pub id: u32,
    pub local: String,
    pub remote: String,
    /// `"mp_capable"` (the first subflow) or `"mp_join"`.
    pub handshake: String,
    /// Address ids: ours for `local`, the peer's for `remote`.
    pub local_id: u8,
    pub remote_id: u8,
    /// We asked the peer to use it only as a backup; the peer asked us.
    pub backup: bool,
    pub peer_backup: bool,
    pub opened_us: u64,
    pub established_us: Option<u64>,
    pub closed_us: Option<u64>,
    /// TCP state as last seen, and why it closed.
    pub state: String,
    pub close_reason: Option<String>,
    /// MP_TCPRST reasons: of our reset, of the peer's.
    pub reset_reason: Option<String>,
    pub peer_reset_reason: Option<String>,
    /// Payload bytes sent (retransmissions included) and received in sequence.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub segments_sent: u64,
    pub segments_received: u64,
    pub retransmitted_bytes: u64,
    pub retransmitted_segments: u64,
    pub rto_count: u64,
    pub srtt_us: Option<u64>,
}

impl MptcpSubflowReport {
    fn new(s: &SubflowRecord) -> Self {
        MptcpSubflowReport {
            id: s.id,
            local: s.local.to_string(),
            remote: s.remote.to_string(),
            handshake: if s.join { "mp_join" } else { "mp_capable" }.to_string(),
            local_id: s.local_id,
            remote_id: s.remote_id,
            backup: s.backup,
            peer_backup: s.peer_backup,
            opened_us: s.opened_at.as_micros(),
            established_us: s.established_at.map(Instant::as_micros),
            closed_us: s.closed_at.map(Instant::as_micros),
            state: format!("{:?}", s.state),
            close_reason: s.close_reason.map(|c| format!("{c:?}")),
            reset_reason: s.reset_reason.map(|r| format!("{r:?}")),
            peer_reset_reason: s.peer_reset_reason.map(|r| format!("{r:?}")),
            bytes_sent: s.stats.bytes_sent,
            bytes_received: s.stats.bytes_received,
            segments_sent: s.stats.segments_sent,
            segments_received: s.stats.segments_received,
            retransmitted_bytes: s.stats.bytes_retransmitted,
            retransmitted_segments: s.stats.retransmitted_segments,
            rto_count: s.stats.timeouts,
            srtt_us: s.srtt.map(|d| d.as_micros()),
        }
    }
}

/// braid-proto's [`MptcpStats`] of one connection, serialized as one number per
/// counter under the names [`MptcpStats::counters`] gives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MptcpCounters(pub MptcpStats);

impl std::ops::Deref for MptcpCounters {
    type Target = MptcpStats;

    fn deref(&self) -> &MptcpStats {
        &self.0
    }
}

impl Serialize for MptcpCounters {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let counters = self.0.counters();
        let mut map = serializer.serialize_map(Some(counters.len()))?;
        for (name, value) in counters {
            map.serialize_entry(name, &value)?;
        }
        map.end()
    }
}

impl MptcpReport {
    fn new(m: &MptcpRecord) -> Self {
        MptcpReport {
            phase: match m.phase {
                Phase::Handshake => "handshake",
                Phase::Established => "established",
                Phase::Fallback => "fallback",
            }
            .to_string(),
            fallback_us: m.fallback_at.map(Instant::as_micros),
            checksums: m.checksums,
            subflows: m.subflows.iter().map(MptcpSubflowReport::new).collect(),
            max_established: m.established.iter().map(|&(_, n)| n).max().unwrap_or(0),
            established_over_time: m
                .established
                .iter()
                .map(|&(t, n)| SubflowCount {
                    at_us: t.as_micros(),
                    established: n,
                })
                .collect(),
            counters: MptcpCounters(m.stats),
            events: m
                .events
                .iter()
                .map(|&(t, event)| MptcpEventReport {
                    at_us: t.as_micros(),
                    event,
                })
                .collect(),
            events_dropped: m.events_dropped,
        }
    }
}

impl SideReport {
    /// The report of one connection record of `host`.
    pub fn new(host: &Host, r: &ConnectionRecord) -> Self {
        let s = &r.stats;
        let app_report = host.app_dyn(r.id).map(|a| a.report()).unwrap_or_default();
        SideReport {
            host: host.name().to_string(),
            role: r.role,
            app: r.app.to_string(),
            local: r.local.to_string(),
            remote: r.remote.to_string(),
            state: format!("{:?}", r.state),
            close_reason: r.close_reason.map(|c| format!("{c:?}")),
            syn_us: r.syn_at.as_micros(),
            established_us: r.established_at.map(Instant::as_micros),
            peer_finished_us: r.peer_finished_at.map(Instant::as_micros),
            closed_us: r.closed_at.map(Instant::as_micros),
            bytes_written: r.sent.bytes,
            sha256_written: r.sent.sha256(),
            bytes_delivered: r.received.bytes,
            sha256_delivered: r.received.sha256(),
            first_delivery_us: r.received.first_at.map(Instant::as_micros),
            last_delivery_us: r.received.last_at.map(Instant::as_micros),
            max_gap_us: r.received.max_gap.map(|(g, _)| g.as_micros()),
            max_gap_end_us: r.received.max_gap.map(|(_, t)| t.as_micros()),
            delivered_series: r.received.series.clone(),
            protocol: r.protocol().to_string(),
            tcp: TcpReport {
                segments_sent: s.segments_sent,
                segments_received: s.segments_received,
                bytes_sent: s.bytes_sent,
                bytes_received: s.bytes_received,
                retransmitted_bytes: s.bytes_retransmitted,
                retransmitted_segments: s.retransmitted_segments,
                rto_count: s.timeouts,
                fast_recoveries: s.fast_recoveries,
                srtt_us: r.srtt.map(|d| d.as_micros()),
                cwnd: r.cwnd,
            },
            subflows: match &r.mptcp {
                Some(m) => m
                    .subflows
                    .iter()
                    .filter_map(|s| host.flow(s.local, s.remote))
                    .map(SubflowReport::new)
                    .collect(),
                None => host
                    .flow(r.local, r.remote)
                    .map(SubflowReport::new)
                    .into_iter()
                    .collect(),
            },
            mptcp: r.mptcp.as_ref().map(MptcpReport::new),
            app_report,
        }
    }
}

/// One host: counters and planned connects that failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostReport {
    pub name: String,
    pub stats: HostStats,
    pub connect_failures: Vec<ConnectFailure>,
}

/// One direction of a link.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkReport {
    /// The link's name; both directions of a duplex link share it.
    pub name: String,
    /// Host names of the two ends.
    pub from: String,
    pub to: String,
    /// What the host sent into the link (before middleboxes).
    pub sent: Counter,
    pub stats: LinkStats,
    /// Bytes delivered per bin.
    pub delivered_series: Series,
    /// File name of the link's capture, when captured to a directory.
    pub pcap: Option<String>,
}

/// Names of what [`Report::collect`] reports on.
#[derive(Debug, Clone)]
pub struct Collect<'a> {
    pub scenario: &'a str,
    pub seed: u64,
    pub outcome: Outcome,
    /// The hosts, in the order their reports should appear.
    pub hosts: &'a [NodeId],
    /// The links with their names.
    pub links: &'a [(LinkId, String)],
    /// Capture file names, by position in `links`.
    pub pcaps: &'a [Option<String>],
}

impl Report {
    /// Gathers the report of a run from its hosts and links. Connections are paired
    /// by 4-tuple: a client record of one host with the server record of another.
    /// They come in the order the clients opened them (host by host); a server record
    /// without its client (a connection from elsewhere) comes last.
    pub fn collect(sim: &Simulator, c: &Collect<'_>) -> Report {
        let hosts: Vec<&Host> = c.hosts.iter().map(|&id| sim.node::<Host>(id)).collect();
        let mut servers: Vec<(usize, &ConnectionRecord, bool)> = hosts
            .iter()
            .enumerate()
            .flat_map(|(h, host)| {
                host.connections()
                    .filter(|r| r.role == Role::Server)
                    .map(move |r| (h, r, false))
            })
            .collect();
        let mut connections = Vec::new();
        for (h, host) in hosts.iter().enumerate() {
            for r in host.connections().filter(|r| r.role == Role::Client) {
                let server = servers
                    .iter_mut()
                    .find(|(_, s, used)| !used && s.local == r.remote && s.remote == r.local)
                    .map(|entry| {
                        entry.2 = true;
                        (hosts[entry.0], entry.1)
                    });
                let name = r
                    .label
                    .clone()
                    .unwrap_or_else(|| format!("{}:{}", hosts[h].name(), r.local));
                connections.push(pair(name, Some((host, r)), server, sim.now()));
            }
        }
        for (h, r, used) in servers {
            if !used {
                let name = format!("{}:{}<-{}", hosts[h].name(), r.local, r.remote);
                connections.push(pair(name, None, Some((hosts[h], r)), sim.now()));
            }
        }
        let links = c
            .links
            .iter()
            .enumerate()
            .map(|(i, (id, name))| {
                let ((from, _), (to, _)) = sim.link_ends(*id);
                let host_name = |n: NodeId| {
                    c.hosts
                        .iter()
                        .position(|&h| h == n)
                        .map_or_else(|| format!("node{}", n.index()), |i| hosts[i].name().into())
                };
                LinkReport {
                    name: name.clone(),
                    from: host_name(from),
                    to: host_name(to),
                    sent: sim.link_sent(*id),
                    stats: *sim.link_stats(*id),
                    delivered_series: sim.link_series(*id).clone(),
                    pcap: c.pcaps.get(i).cloned().flatten(),
                }
            })
            .collect();
        Report {
            scenario: c.scenario.to_string(),
            seed: c.seed,
            outcome: c.outcome,
            end_us: sim.now().as_micros(),
            events: sim.events_processed(),
            connections,
            links,
            hosts: hosts
                .iter()
                .map(|h| HostReport {
                    name: h.name().to_string(),
                    stats: *h.stats(),
                    connect_failures: h.failures().to_vec(),
                })
                .collect(),
        }
    }
}

fn pair(
    name: String,
    client: Option<(&Host, &ConnectionRecord)>,
    server: Option<(&Host, &ConnectionRecord)>,
    end: Instant,
) -> ConnectionReport {
    let syn = client.or(server).map(|(_, r)| r.syn_at);
    let side = |s: Option<(&Host, &ConnectionRecord)>| s.map(|(h, r)| SideReport::new(h, r));
    let pattern_errors = |s: Option<(&Host, &ConnectionRecord)>| {
        s.and_then(|(h, r)| h.app_dyn(r.id))
            .and_then(|a| a.report().pattern_errors)
            .unwrap_or(0)
    };
    let transfer = |w: Option<(&Host, &ConnectionRecord)>,
                    d: Option<(&Host, &ConnectionRecord)>| {
        let name = |s: Option<(&Host, &ConnectionRecord)>| {
            s.map_or_else(String::new, |(h, _)| h.name().to_string())
        };
        let written = w.map_or(0, |(_, r)| r.sent.bytes);
        let delivered = d.map_or(0, |(_, r)| r.received.bytes);
        let last = d.and_then(|(_, r)| r.received.last_at);
        let completion = match (last, syn) {
            (Some(l), Some(s)) if delivered > 0 => Some(l - s),
            _ => None,
        };
        let goodput = completion.map(|c| {
            let secs = c.as_secs_f64();
            if secs > 0.0 {
                delivered as f64 * 8.0 / secs
            } else {
                0.0
            }
        });
        let digests_agree = match (w, d) {
            (Some((_, a)), Some((_, b))) => a.sent.sha256() == b.received.sha256(),
            _ => written == 0 && delivered == 0,
        };
        let integrity = if delivered > written || pattern_errors(d) > 0 {
            Integrity::Corrupt
        } else if delivered < written {
            Integrity::Incomplete
        } else if digests_agree {
            Integrity::Intact
        } else {
            Integrity::Corrupt
        };
        let stats = w.map(|(_, r)| r.stats).unwrap_or_default();
        let received = d.map(|(_, r)| &r.received);
        TransferReport {
            from: name(w),
            to: name(d),
            bytes_written: written,
            bytes_delivered: delivered,
            goodput_bps: goodput,
            completion_us: completion.map(|c| c.as_micros()),
            first_delivery_us: received.and_then(|r| r.first_at).map(Instant::as_micros),
            last_delivery_us: last.map(Instant::as_micros),
            max_gap_us: received.and_then(|r| r.max_gap).map(|(g, _)| g.as_micros()),
            max_gap_end_us: received.and_then(|r| r.max_gap).map(|(_, t)| t.as_micros()),
            stalled_at_end_us: (integrity == Integrity::Incomplete)
                .then(|| last.or(syn).map(|t| (end - t).as_micros()))
                .flatten(),
            retransmitted_bytes: stats.bytes_retransmitted,
            retransmitted_segments: stats.retransmitted_segments,
            rto_count: stats.timeouts,
            integrity,
        }
    };
    let protocol = |s: Option<(&Host, &ConnectionRecord)>| s.map(|(_, r)| r.protocol());
    let protocol = match (protocol(client), protocol(server)) {
        (Some("fallback"), _) | (_, Some("fallback")) => "fallback",
        (Some(p), _) | (None, Some(p)) => p,
        (None, None) => "tcp",
    };
    ConnectionReport {
        name,
        protocol: protocol.to_string(),
        upload: transfer(client, server),
        download: transfer(server, client),
        client: side(client),
        server: side(server),
    }
}
