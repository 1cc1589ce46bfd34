//! The soak: seeded scenarios drawn at random, each judged by one oracle.
//!
//! Shared by the CI test `tests/soak.rs` (a few hundred seeds) and the example
//! `examples/soak.rs` (`scripts/soak.sh`: ten thousand), which include this file with
//! `#[path]`, so that it stays test scaffolding, out of braid-sim's public API.
//!
//! [`draw`] turns a seed into a scenario: a multihomed client with one to three paths
//! (straight to a server with an address per path, or through a router), each path
//! with a random rate, delay, jitter, Bernoulli and Gilbert-Elliott loss, reordering,
//! duplication, MTU, queue and a schedule of outages and flaps (some told to the hosts
//! as interface events, some on one direction only, and non-first paths may fail for
//! good); at most one middlebox (option stripping on the SYN, SYN-ACK, third ACK or
//! from a data segment on, any TCP option kind stripped, segment splitting or
//! coalescing, NAT, sequence rewriting, a payload rewrite) on one path or on the
//! router's link to the server; a random congestion controller, scheduler, DSS
//! checksums or not, and now and then a server without MPTCP; and a transfer each way
//! of a random size, zero included, closed at random moments.
//!
//! [`judge`] applies the oracle, per direction and per end:
//!
//! - what the reader got is a prefix of what the writer wrote, checked by SHA-256
//!   against the writer's pattern over the delivered length (never corrupt, never
//!   more than written);
//! - and either the whole stream arrived, both ends saw the end of stream
//!   (FIN / DATA_FIN, the application's EOF) within [`EOF_BOUND`] and closed within
//!   [`CLOSE_BOUND`] of simulated time after the reference moment (the later of the
//!   last byte delivered either way and the last scheduled link change), and the run
//!   ended with every connection closed before the deadline: [`Verdict::Pass`]. A run
//!   goes on past the point where every connection is closed or in TIME-WAIT until
//!   each end has reported `Closed` to its application (an MPTCP connection that fell
//!   back reports it only once TIME-WAIT is over), within the bound;
//! - or the connection ended with one of the errors documented in
//!   [`documented_errors`] for what was drawn: [`Verdict::Documented`];
//! - anything else is a [`Verdict::Failure`] of a [`FailureKind`]: a panic, a run
//!   still open at the deadline (or stuck, or over the event budget), a connection
//!   that never came up, corrupt or excess bytes, a stream cut short, an undocumented
//!   error, a missing or late end of stream, a late close.
//!
//! Documented outcomes, explicitly:
//!
//! - A payload rewrite with DSS checksums off, or with a server that does not speak
//!   MPTCP (plain TCP has no DSS checksum), changes bytes that TCP's checksum (fixed
//!   by the middlebox) cannot catch and MPTCP does not check: the stream may differ
//!   from what was written, by design (RFC 8684 §3.3.1). Expected: the right
//!   length, end of stream and close in time; the digest may differ
//!   ([`Verdict::Documented`], "undetectable payload rewrite").
//! - A middlebox that removes MPTCP options mid-connection (`strip_mptcp` on every
//!   segment or from a data segment on, `strip_option` of kind 30), or changes
//!   payload under DSS checksums, or merges segments (which breaks DSS mappings): RFC
//!   8684 §3.7 has the connection fall back to TCP when it can, and reset the subflow
//!   or the connection (MP_TCPRST, MP_FASTCLOSE, RST) when it cannot. Accepted: the
//!   connection ends with `Reset`, `Aborted`, `ProtocolError` or `Refused` (its
//!   last subflow refused with MP_TCPRST) at either end, or `TimedOut` (every
//!   subflow reset, none came back within the close timeout, or the DATA_FIN never
//!   acknowledged), having delivered a prefix, without hanging.
//!   Any other way of ending is judged as usual.
//! - A notified outage (`notify`) removes the interface's addresses from the
//!   endpoint, which resets the subflows using them (REMOVE_ADDR). It must be
//!   survived, the first path's too: a connection left without subflows waits for
//!   one (the close timeout, 60 s), and the client opens the lost subflows again when
//!   the address is back.
//! - Nothing else may end in an error: every outage ends (within 5 s, several
//!   seconds apart), the first path always comes back, loss is below 100%, so a
//!   connection must complete; TCP gives up only after 15 retransmissions (many
//!   minutes).

// Each includer uses part of it.
#![allow(dead_code)]

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use braid_proto::pm::{EndpointFlags, PmEndpoint};
use braid_proto::sched::SchedulerKind;
use braid_proto::time::{Duration, Instant};
use braid_sim::apps::Pattern;
use braid_sim::report::{Outcome, Report, SideReport};
use braid_sim::rng::SimRng;
use braid_sim::scenario::multipath::{Multipath, Path, ToServer, SERVER};
use braid_sim::scenario::spec::{
    Action, App, BurstLoss, Cc, Connection, Direction, DownPolicy, Host, Link, LinkParams,
    Middlebox, Mptcp, Reorder, ScenarioSpec, ScheduleEntry, State, Stop, StripOn, Tcp,
};
use braid_sim::scenario::units::{Rate, Size};
use braid_sim::scenario::{Built, Scenario};
use sha2::{Digest, Sha256};

/// End of stream must be seen this long at most after the reference moment.
pub const EOF_BOUND: Duration = Duration::from_secs(30);
/// Both ends must have closed this long at most after the reference moment (Linux
/// gives an orphaned FIN-WAIT 60 s; twice that is generous).
pub const CLOSE_BOUND: Duration = Duration::from_secs(120);
/// The scenario's deadline: far beyond any transfer drawn, so that a run still open
/// at the deadline is stuck, not slow.
pub const DEADLINE: Duration = Duration::from_secs(900);
/// Events one run may take; a run that needs more is looping.
pub const MAX_EVENTS: u64 = 20_000_000;

/// The client's host name.
pub const CLIENT: &str = "client";

/// One drawn scenario and what the judge needs to know of it.
#[derive(Debug, Clone)]
pub struct Draw {
    pub seed: u64,
    pub spec: ScenarioSpec,
    /// Bytes the client's and the server's applications write.
    pub upload: u64,
    pub download: u64,
    /// The latest scheduled link change.
    pub last_change: Duration,
    /// What the draw holds that may end in a documented error.
    pub hazard: Hazard,
    /// One line: what was drawn.
    pub summary: String,
}

/// What a draw holds that may end in a documented outcome (see the module
/// documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hazard {
    /// Payload rewritten with DSS checksums off, or on a connection that is plain TCP
    /// (the server does not speak MPTCP): the bytes may differ.
    pub undetectable_rewrite: bool,
    /// MPTCP options removed mid-connection, payload rewritten under checksums, or
    /// segments merged: the connection may be reset when it cannot fall back.
    pub middlebox_reset: bool,
    /// The first path's interface goes down and the hosts are told: its address,
    /// that of the initial subflow, is removed and comes back. The connection must
    /// survive it (the client opens the lost subflow again when the address is back).
    pub initial_address_removed: bool,
}

impl Hazard {
    /// Whether the connection may end with an error.
    pub fn may_end_in_error(self) -> bool {
        self.middlebox_reset
    }
}

/// The outcome of one seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Ended as documented for what was drawn (see the module documentation).
    Documented(String),
    Failure {
        kind: FailureKind,
        detail: String,
    },
}

/// What went wrong, for grouping seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureKind {
    /// The core (or the simulator) panicked.
    Panic,
    /// The deadline came with a connection still open.
    Hang,
    /// The simulator had nothing left to do, with a connection still open.
    Stuck,
    /// Over [`MAX_EVENTS`].
    EventBudget,
    /// The server never saw the connection, or the client's connect failed.
    NeverConnected,
    /// Bytes delivered that the writer did not write at that offset.
    Corrupt,
    /// More bytes delivered than written.
    Excess,
    /// The connection ended, without error, before the whole stream arrived.
    Truncated,
    /// The connection ended with an error the draw does not allow.
    UnexpectedError,
    /// Everything arrived, but an end never saw the end of stream.
    NoEof,
    /// The end of stream came after [`EOF_BOUND`].
    LateEof,
    /// An end closed after [`CLOSE_BOUND`].
    LateClose,
    /// An application wrote less than it was told to, though nothing ended in error.
    Unwritten,
}

impl FailureKind {
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Panic => "panic",
            FailureKind::Hang => "hang",
            FailureKind::Stuck => "stuck",
            FailureKind::EventBudget => "event_budget",
            FailureKind::NeverConnected => "never_connected",
            FailureKind::Corrupt => "corrupt",
            FailureKind::Excess => "excess",
            FailureKind::Truncated => "truncated",
            FailureKind::UnexpectedError => "unexpected_error",
            FailureKind::NoEof => "no_eof",
            FailureKind::LateEof => "late_eof",
            FailureKind::LateClose => "late_close",
            FailureKind::Unwritten => "unwritten",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Pass => f.write_str("pass"),
            Verdict::Documented(why) => write!(f, "documented: {why}"),
            Verdict::Failure { kind, detail } => write!(f, "FAIL {}: {detail}", kind.name()),
        }
    }
}

// ---- drawing ----

/// A uniform draw in [lo, hi].
fn between(rng: &mut SimRng, lo: u64, hi: u64) -> u64 {
    lo + rng.up_to(hi - lo)
}

/// A log-uniform draw in [lo, hi] (lo > 0).
fn log_between(rng: &mut SimRng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + rng.unit() * (hi.ln() - lo.ln())).exp()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A probability rounded to 6 decimals, so that the scenario file reads well.
fn prob(p: f64) -> f64 {
    (p * 1e6).round() / 1e6
}

/// Bytes one application writes: zero, a few, some, or a lot.
fn transfer_size(rng: &mut SimRng) -> u64 {
    match rng.up_to(99) {
        0..=14 => 0,
        15..=39 => between(rng, 1, 10_000),
        40..=79 => between(rng, 10_001, 300_000),
        _ => between(rng, 300_001, 2_000_000),
    }
}

/// A path's schedule: nothing, an outage, flaps, or (not on the first path) a
/// failure for good.
fn schedule(rng: &mut SimRng, first_path: bool, notes: &mut Vec<String>) -> Vec<ScheduleEntry> {
    let mut entries = Vec::new();
    let direction = if rng.chance(0.2) {
        Some(if rng.chance(0.5) {
            Direction::Forward
        } else {
            Direction::Reverse
        })
    } else {
        None
    };
    // Interface events go to both ends of a duplex link, so never on one direction.
    let notify = direction.is_none() && rng.chance(0.3);
    let entry = |at: Duration, state: State| {
        let mut e = ScheduleEntry::at(at).state(state);
        if let Some(d) = direction {
            e = e.direction(d);
        }
        if notify {
            e = e.notify(true);
        }
        e
    };
    match rng.up_to(99) {
        0..=54 => {}
        55..=79 => {
            let down = between(rng, 50, 4_000);
            let length = between(rng, 50, 5_000);
            entries.push(entry(ms(down), State::Down));
            entries.push(entry(ms(down + length), State::Up));
            notes.push(format!("outage {down}+{length}ms"));
        }
        80..=94 => {
            let mut at = between(rng, 50, 2_000);
            let flaps = between(rng, 2, 6);
            for _ in 0..flaps {
                let down = between(rng, 20, 500);
                entries.push(entry(ms(at), State::Down));
                entries.push(entry(ms(at + down), State::Up));
                at += down + between(rng, 50, 1_000);
            }
            notes.push(format!("{flaps} flaps"));
        }
        _ if !first_path => {
            let at = between(rng, 100, 5_000);
            entries.push(entry(ms(at), State::Down));
            notes.push(format!("fails for good at {at}ms"));
        }
        _ => {}
    }
    if !entries.is_empty() {
        if let Some(d) = direction {
            notes.push(format!("{d:?} only").to_lowercase());
        }
        if notify {
            notes.push("notified".into());
        }
    }
    entries
}

/// A path's link: its parameters and schedule (middleboxes are added later).
fn path_link(rng: &mut SimRng, first_path: bool, notes: &mut Vec<String>) -> Link {
    let rate = log_between(rng, 2.0, 100.0);
    let delay = between(rng, 1, 80);
    let mut link = Link::default()
        .rate(Rate::kbit((rate * 1000.0) as u64))
        .delay(ms(delay));
    notes.push(format!("{rate:.1}Mbit {delay}ms"));
    if rng.chance(0.2) {
        let jitter = between(rng, 100, 5_000);
        link = link.jitter(Duration::from_micros(jitter));
        notes.push(format!("jitter {jitter}us"));
    }
    if rng.chance(0.5) {
        let loss = prob(log_between(rng, 1e-4, 0.03));
        link = link.loss(loss);
        notes.push(format!("loss {loss}"));
    }
    if rng.chance(0.15) {
        let (p, r) = (
            prob(log_between(rng, 1e-3, 0.02)),
            prob(between(rng, 20, 60) as f64 / 100.0),
        );
        link = link.burst_loss(BurstLoss::new(p, r));
        notes.push(format!("burst loss p={p} r={r}"));
    }
    if rng.chance(0.15) {
        let p = prob(log_between(rng, 5e-3, 0.05));
        let d = between(rng, 1, 20);
        link = link.reorder(Reorder::new(p, ms(d)));
        notes.push(format!("reorder {p} by {d}ms"));
    }
    if rng.chance(0.1) {
        let p = prob(log_between(rng, 1e-3, 0.03));
        link = link.duplicate(p);
        notes.push(format!("duplicate {p}"));
    }
    if rng.chance(0.2) {
        let mtu = [576, 1000, 1280, 1400][rng.up_to(3) as usize];
        link = link.mtu(mtu);
        notes.push(format!("mtu {mtu}"));
    }
    if rng.chance(0.25) {
        let queue = between(rng, 20_000, 300_000);
        link = link.queue(Size::bytes(queue));
        notes.push(format!("queue {queue}"));
    }
    if rng.chance(0.15) {
        let reverse = log_between(rng, 2.0, 100.0);
        link = link.reverse(LinkParams::default().rate(Rate::kbit((reverse * 1000.0) as u64)));
        notes.push(format!("reverse {reverse:.1}Mbit"));
    }
    if rng.chance(0.2) {
        link = link.down_policy(DownPolicy::Hold);
        notes.push("down: hold".into());
    }
    for entry in schedule(rng, first_path, notes) {
        link = link.schedule(entry);
    }
    link
}

/// The hazard of a middlebox that may reset the connection.
const RESETS: Hazard = Hazard {
    undetectable_rewrite: false,
    middlebox_reset: true,
    initial_address_removed: false,
};

fn random_direction(rng: &mut SimRng) -> Option<Direction> {
    match rng.up_to(2) {
        0 => None,
        1 => Some(Direction::Forward),
        _ => Some(Direction::Reverse),
    }
}

/// At most one middlebox; `nat_inside` is the client's address on the link it goes
/// on (None on the router's link, where NAT is not drawn). Returns the middlebox, the
/// hazard it brings, and whether it needs a jumbo MTU (coalescing).
fn middlebox(
    rng: &mut SimRng,
    nat_inside: Option<(IpAddr, IpAddr)>,
    checksums: bool,
) -> Option<(Middlebox, Hazard, bool)> {
    let direction = random_direction(rng);
    let drawn = match rng.up_to(99) {
        0..=39 => return None,
        40..=49 => {
            let on = [StripOn::Syn, StripOn::SynAck, StripOn::ThirdAck][rng.up_to(2) as usize];
            let m = Middlebox::StripMptcp {
                on,
                segment: None,
                max_flows: None,
                direction,
            };
            (m, Hazard::default(), false)
        }
        50..=57 => {
            let (on, segment) = if rng.chance(0.7) {
                (StripOn::FromDataSegment, Some(between(rng, 1, 200)))
            } else {
                (StripOn::All, None)
            };
            let m = Middlebox::StripMptcp {
                on,
                segment,
                max_flows: None,
                direction,
            };
            (m, RESETS, false)
        }
        58..=63 => {
            // SACK-permitted, SACK, timestamps, window scale, or MPTCP itself.
            let kind = [4u8, 5, 8, 3, 30][rng.up_to(4) as usize];
            let hazard = if kind == 30 {
                RESETS
            } else {
                Hazard::default()
            };
            (Middlebox::StripOption { kind, direction }, hazard, false)
        }
        64..=71 => {
            let max_payload = Size::bytes(between(rng, 100, 1_000));
            (
                Middlebox::Split {
                    max_payload,
                    direction,
                },
                Hazard::default(),
                false,
            )
        }
        72..=79 => {
            let m = Middlebox::Coalesce {
                max_payload: Size::bytes(between(rng, 2_000, 8_000)),
                hold: Duration::from_micros(between(rng, 200, 10_000)).into(),
                max_flows: None,
                direction,
            };
            (m, RESETS, true)
        }
        80..=87 => {
            let offset = if rng.chance(0.5) {
                None
            } else {
                Some(between(rng, 1, u64::from(u32::MAX)) as u32)
            };
            // One box on both directions: it must fix the ACKs of the other.
            (
                Middlebox::SeqRewrite {
                    offset,
                    direction: None,
                },
                Hazard::default(),
                false,
            )
        }
        88..=93 => {
            let (inside, outside) = nat_inside?;
            let ports = rng.chance(0.5).then(|| {
                let first = between(rng, 1_024, 60_000) as u16;
                [first, first + between(rng, 0, 100) as u16]
            });
            let m = Middlebox::Nat {
                inside: inside.to_string(),
                outside: outside.to_string(),
                ports,
                max_mappings: None,
            };
            (m, Hazard::default(), false)
        }
        _ => {
            let m = Middlebox::corrupt_once(
                between(rng, 1, 100),
                direction.unwrap_or(Direction::Forward),
            );
            let hazard = if checksums {
                RESETS
            } else {
                Hazard {
                    undetectable_rewrite: true,
                    ..Hazard::default()
                }
            };
            (m, hazard, false)
        }
    };
    Some(drawn)
}

/// An application writing `bytes` at `write_at`, closing at `close_at`.
fn scripted(bytes: u64, write_at: Duration, close_at: Duration) -> App {
    App::Scripted {
        actions: vec![
            Action::write(write_at, Size::bytes(bytes)),
            Action::close(close_at),
        ],
    }
}

/// The scenario of `seed`.
pub fn draw(seed: u64) -> Draw {
    let mut rng = SimRng::new(braid_sim::rng::derive_seed(seed, 0x50a4, 0));
    let mut notes = Vec::new();
    let paths_n = match rng.up_to(99) {
        0..=39 => 1,
        40..=84 => 2,
        _ => 3,
    };
    let direct = rng.chance(0.5);
    let checksums = rng.chance(0.25);
    notes.push(format!(
        "{paths_n} path(s) {}",
        if direct { "direct" } else { "via router" }
    ));
    let mut links: Vec<Link> = Vec::new();
    for i in 0..paths_n {
        let mut path_notes = Vec::new();
        links.push(path_link(&mut rng, i == 0, &mut path_notes));
        notes.push(format!("p{i}: {}", path_notes.join(", ")));
    }
    let initial_address_removed = links[0]
        .schedule
        .iter()
        .any(|e| e.state == Some(State::Down) && e.notify == Some(true));
    // The middlebox: on a path, or on the router's link to the server.
    let mut wan = Link::default();
    let on_wan = !direct && rng.chance(0.2);
    let target = rng.up_to(paths_n as u64 - 1) as usize;
    let nat = (!on_wan).then(|| {
        let inside = IpAddr::V4(Multipath::client_address(target));
        let [a, b, c, _] = Multipath::client_address(target).octets();
        (inside, IpAddr::from([a, b, c, 99]))
    });
    let mut hazard = Hazard {
        initial_address_removed,
        ..Hazard::default()
    };
    // A NAT's outside address, for the server's route back to it.
    let mut nat_outside = None;
    let mut payload_rewrite = false;
    if let Some((m, h, jumbo)) = middlebox(&mut rng, nat, checksums) {
        payload_rewrite = matches!(m, Middlebox::PayloadRewrite { .. });
        if let Middlebox::Nat { outside, .. } = &m {
            nat_outside = Some(outside.clone());
        }
        hazard.undetectable_rewrite = h.undetectable_rewrite;
        hazard.middlebox_reset = h.middlebox_reset;
        let link = if on_wan { &mut wan } else { &mut links[target] };
        if jumbo {
            link.mtu = Some(9000);
        }
        notes.push(format!(
            "middlebox on {}: {m:?}",
            if on_wan {
                "wan".to_string()
            } else {
                format!("p{target}")
            }
        ));
        *link = link.clone().middlebox(m);
    }
    let mut paths = Vec::new();
    for (i, link) in links.into_iter().enumerate() {
        let mut path = Path::new(format!("p{i}"), link);
        if i > 0 {
            let backup = rng.chance(0.2);
            path = path.endpoint(EndpointFlags {
                subflow: true,
                backup,
                ..EndpointFlags::default()
            });
            if backup {
                notes.push(format!("p{i} backup"));
            }
        }
        paths.push(path);
    }
    let to_server = if direct {
        ToServer::Direct
    } else {
        ToServer::Router {
            address: ToServer::ADDRESS,
            wan,
            competitors: Vec::new(),
        }
    };
    let server_address = if direct {
        Multipath::direct_server_address(0)
    } else {
        ToServer::ADDRESS
    };
    let network = Multipath {
        client: Host::new(CLIENT),
        paths,
        to_server,
    };

    let cc = [Cc::Cubic, Cc::Newreno, Cc::Lia, Cc::Olia, Cc::Balia][rng.up_to(4) as usize];
    let scheduler = [
        SchedulerKind::LowestRtt,
        SchedulerKind::LowestRtt,
        SchedulerKind::Blest,
        SchedulerKind::Ecf,
        SchedulerKind::Redundant,
        SchedulerKind::RoundRobin,
    ][rng.up_to(5) as usize];
    let mut tcp = Tcp::default().cc(cc);
    if rng.chance(0.05) {
        tcp = tcp.sack(false);
        notes.push("no SACK".into());
    }
    if rng.chance(0.05) {
        tcp = tcp.timestamps(false);
        notes.push("no timestamps".into());
    }
    notes.push(format!("{cc} {}", scheduler.name()));
    if checksums {
        notes.push("checksums".into());
    }
    let mptcp = Mptcp::default().checksums(checksums).scheduler(scheduler);
    let mut spec = network.add_to(
        ScenarioSpec::new(format!("soak-{seed}"))
            .seed(seed)
            .duration(DEADLINE)
            .stop(Stop::Finished)
            .tcp(tcp)
            .mptcp(mptcp),
    );
    // The server: now and then without MPTCP; with a direct network, now and then
    // announcing its other addresses.
    let server = spec
        .hosts
        .iter_mut()
        .find(|h| h.name == SERVER)
        .expect("the network has a server");
    if let (true, Some(outside)) = (direct, nat_outside) {
        // Answers to the NAT's outside address go back over the NAT's path (the
        // router of the other topology routes the path's whole /24 so).
        *server = server.clone().route(outside, format!("p{target}"));
    }
    if rng.chance(0.05) {
        server.mptcp = Some(Mptcp::default().enabled(false));
        notes.push("server without MPTCP".into());
        // Plain TCP has no DSS checksum: a rewritten payload goes through unseen.
        hazard.undetectable_rewrite |= payload_rewrite;
    } else if direct && paths_n > 1 && rng.chance(0.3) {
        let mut m = Mptcp::default();
        for i in 1..paths_n {
            m = m.endpoint(PmEndpoint {
                id: 0,
                addr: IpAddr::V4(Multipath::direct_server_address(i)),
                port: None,
                flags: EndpointFlags {
                    signal: true,
                    ..EndpointFlags::default()
                },
            });
        }
        server.mptcp = Some(m);
        notes.push("server signals".into());
    }

    let upload = transfer_size(&mut rng);
    let download = transfer_size(&mut rng);
    let late = |rng: &mut SimRng| {
        if rng.chance(0.3) {
            ms(between(rng, 1, 2_000))
        } else {
            Duration::ZERO
        }
    };
    let connection = if download == 0 && rng.chance(0.4) {
        notes.push(format!("bulk {upload} up, sink"));
        Connection::new(
            CLIENT,
            server_address.to_string(),
            App::Bulk {
                bytes: Size::bytes(upload),
            },
        )
    } else {
        let (w1, c1, w2, c2) = (
            late(&mut rng),
            late(&mut rng),
            late(&mut rng),
            late(&mut rng),
        );
        notes.push(format!(
            "{upload} up (write {}ms close {}ms), {download} down (write {}ms close {}ms)",
            w1.as_millis(),
            (w1.max(c1)).as_millis(),
            w2.as_millis(),
            (w2.max(c2)).as_millis()
        ));
        Connection::new(
            CLIENT,
            server_address.to_string(),
            scripted(upload, w1, w1.max(c1)),
        )
        .server_app(scripted(download, w2, w2.max(c2)))
    };
    let start = if rng.chance(0.3) {
        ms(between(&mut rng, 1, 1_000))
    } else {
        Duration::ZERO
    };
    spec = spec.connection(connection.name("soak").start(start));
    let last_change = spec
        .links
        .iter()
        .flat_map(|l| &l.schedule)
        .map(|e| e.at.0)
        .max()
        .unwrap_or(Duration::ZERO);
    Draw {
        seed,
        spec,
        upload,
        download,
        last_change,
        hazard,
        summary: notes.join("; "),
    }
}

// ---- running and judging ----

/// What one seed gave.
#[derive(Debug)]
pub struct SeedRun {
    pub draw: Draw,
    pub verdict: Verdict,
    /// The run's report, unless it panicked.
    pub report: Option<Report>,
}

/// Draws seed `seed`, runs it (a panic is caught and becomes the verdict) and
/// judges it.
pub fn run_seed(seed: u64) -> SeedRun {
    let draw = draw(seed);
    let scenario = Scenario::from_spec(draw.spec.clone())
        .unwrap_or_else(|e| panic!("seed {seed} draws an invalid scenario: {e}"));
    let result = catch_unwind(AssertUnwindSafe(|| run(&scenario, seed)));
    match result {
        Ok(report) => {
            let verdict = judge(&draw, &report);
            SeedRun {
                draw,
                verdict,
                report: Some(report),
            }
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic without a message".into());
            SeedRun {
                draw,
                verdict: Verdict::Failure {
                    kind: FailureKind::Panic,
                    detail: message,
                },
                report: None,
            }
        }
    }
}

/// Runs one seed as [`run_seed`] does and writes a pcap of every link into `dir`
/// (named as `braid sim --pcap` names them): the exact run, for reading in tshark.
pub fn capture_seed(seed: u64, dir: &std::path::Path) -> std::io::Result<Report> {
    let draw = draw(seed);
    let scenario = Scenario::from_spec(draw.spec).map_err(std::io::Error::other)?;
    std::fs::create_dir_all(dir)?;
    run_with(&scenario, seed, |built| {
        for (i, &(id, _)) in built.links.iter().enumerate() {
            let file = std::fs::File::create(dir.join(&built.pcap_names[i]))?;
            built.sim.capture_to(
                id,
                std::io::BufWriter::new(file),
                braid_sim::pcap::DEFAULT_SNAPLEN,
            )?;
        }
        Ok(())
    })
}

/// Runs a scenario as `braid sim` does, but with [`MAX_EVENTS`] as the event budget.
fn run(scenario: &Scenario, seed: u64) -> Report {
    run_with(scenario, seed, |_| Ok(())).expect("no captures to write")
}

fn run_with(
    scenario: &Scenario,
    seed: u64,
    prepare: impl FnOnce(&mut Built) -> std::io::Result<()>,
) -> std::io::Result<Report> {
    let mut built = scenario.build(seed);
    prepare(&mut built)?;
    let deadline = Instant::ZERO + scenario.duration;
    let mut events = 0u64;
    let outcome = loop {
        if built.finished() && closed_everywhere(&built) {
            break Outcome::Completed;
        }
        match built.sim.next_event() {
            Some(t) if t <= deadline => {
                if events >= MAX_EVENTS {
                    break Outcome::EventLimit;
                }
                built.sim.step();
                events += 1;
            }
            None => break Outcome::Idle,
            _ => {
                built.sim.run_until(deadline);
                break Outcome::Deadline;
            }
        }
    };
    built.sim.flush_captures()?;
    Ok(built.report(&scenario.name, outcome, &[]))
}

/// Whether every application has heard that its connection closed, or lost it.
fn closed_everywhere(built: &Built) -> bool {
    (0..built.hosts.len()).all(|h| {
        built
            .host(h)
            .connections()
            .all(|r| r.closed_at.is_some() || !r.attached)
    })
}

/// SHA-256, in hex, of the first `len` bytes of the stream `from` writes to `to`.
fn pattern_digest(from: SocketAddr, to: SocketAddr, len: u64) -> String {
    let pattern = Pattern::for_stream(from, to);
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut offset = 0;
    while offset < len {
        let n = (len - offset).min(buf.len() as u64) as usize;
        pattern.fill(offset, &mut buf[..n]);
        sha.update(&buf[..n]);
        offset += n as u64;
    }
    sha.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn fail(kind: FailureKind, detail: impl Into<String>) -> Verdict {
    Verdict::Failure {
        kind,
        detail: detail.into(),
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("reports write socket addresses")
}

fn secs(us: u64) -> String {
    format!("{:.3}s", us as f64 / 1e6)
}

/// The close reasons that may end the connection, given what was drawn (see the
/// module documentation): `Reset` at the end that received the RST (or
/// MP_FASTCLOSE), `ProtocolError` at the end that detected the interference and
/// reset, `Aborted` at an end that reset for its application, `TimedOut` at an end
/// left without a working subflow or an acknowledgment of its DATA_FIN, `Refused` at
/// an end whose last subflow the peer refused (MP_TCPRST).
pub fn documented_errors(hazard: Hazard) -> &'static [&'static str] {
    if hazard.may_end_in_error() {
        &["Reset", "Aborted", "ProtocolError", "TimedOut", "Refused"]
    } else {
        &[]
    }
}

/// One end, briefly: state, close reason, EOF, protocol.
fn describe(side: &SideReport) -> String {
    format!(
        "{} {} {}{}{}",
        side.host,
        side.protocol,
        side.state,
        side.close_reason
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default(),
        side.peer_finished_us
            .map(|t| format!(" eof@{}", secs(t)))
            .unwrap_or_else(|| " no-eof".into()),
    )
}

/// The oracle (see the module documentation).
pub fn judge(draw: &Draw, report: &Report) -> Verdict {
    // Across a NAT the report cannot pair the two ends: find each by its host.
    let sides: Vec<&SideReport> = report
        .connections
        .iter()
        .flat_map(|c| c.client.iter().chain(c.server.iter()))
        .collect();
    let client = sides.iter().find(|s| s.host == CLIENT).copied();
    let server = sides.iter().find(|s| s.host == SERVER).copied();
    let failures = report
        .hosts
        .iter()
        .flat_map(|h| &h.connect_failures)
        .map(|f| f.error.clone())
        .collect::<Vec<_>>();
    let ends = format!(
        "{}; {}",
        client.map_or("client absent".into(), describe),
        server.map_or("server absent".into(), describe)
    );
    match report.outcome {
        Outcome::Completed => {}
        Outcome::Deadline => {
            return fail(
                FailureKind::Hang,
                format!("open at the deadline {}: {ends}", secs(report.end_us)),
            )
        }
        Outcome::Idle => {
            return fail(
                FailureKind::Stuck,
                format!("nothing to do at {}: {ends}", secs(report.end_us)),
            )
        }
        Outcome::EventLimit => {
            return fail(
                FailureKind::EventBudget,
                format!(
                    "{} events by {}: {ends}",
                    report.events,
                    secs(report.end_us)
                ),
            )
        }
    }
    let allowed = documented_errors(draw.hazard);
    let (Some(client), Some(server)) = (client, server) else {
        if let Some(reason) = client.and_then(|c| c.close_reason.as_deref()) {
            // The handshake cannot survive its source address going away: there is
            // no MPTCP connection yet to join.
            if draw.hazard.initial_address_removed || allowed.contains(&reason) {
                return Verdict::Documented(format!(
                    "the initial subflow's address removed, ended with {reason} before \
                     the handshake completed"
                ));
            }
        }
        return fail(FailureKind::NeverConnected, format!("{ends} {failures:?}"));
    };

    // Never corrupt, never more than written: a prefix of the writer's pattern.
    let mut digests_differ = Vec::new();
    for (writer, reader) in [(client, server), (server, client)] {
        if reader.bytes_delivered > writer.bytes_written {
            return fail(
                FailureKind::Excess,
                format!(
                    "{} read {} bytes, {} wrote {}; {ends}",
                    reader.host, reader.bytes_delivered, writer.host, writer.bytes_written
                ),
            );
        }
        let expected = pattern_digest(
            addr(&writer.local),
            addr(&writer.remote),
            reader.bytes_delivered,
        );
        if expected != reader.sha256_delivered {
            digests_differ.push(format!(
                "{} -> {}: {} bytes delivered differ from what was written",
                writer.host, reader.host, reader.bytes_delivered
            ));
        }
    }
    if !digests_differ.is_empty() && !draw.hazard.undetectable_rewrite {
        return fail(
            FailureKind::Corrupt,
            format!("{}; {ends}", digests_differ.join("; ")),
        );
    }

    let errors: Vec<&str> = [client, server]
        .iter()
        .filter_map(|s| s.close_reason.as_deref())
        .filter(|r| *r != "Finished")
        .collect();
    if !errors.is_empty() {
        if errors.iter().all(|e| allowed.contains(e)) {
            return Verdict::Documented(format!(
                "a middlebox that may force a reset, ended with {errors:?}: delivered a \
                 prefix ({} of {} up, {} of {} down)",
                server.bytes_delivered, draw.upload, client.bytes_delivered, draw.download
            ));
        }
        return fail(
            FailureKind::UnexpectedError,
            format!(
                "{errors:?} ({} of {} up, {} of {} down); {ends}",
                server.bytes_delivered, draw.upload, client.bytes_delivered, draw.download
            ),
        );
    }

    for (side, planned) in [(client, draw.upload), (server, draw.download)] {
        if side.bytes_written != planned {
            return fail(
                FailureKind::Unwritten,
                format!(
                    "{} wrote {} of {planned} bytes; {ends}",
                    side.host, side.bytes_written
                ),
            );
        }
    }
    for (writer, reader) in [(client, server), (server, client)] {
        if reader.bytes_delivered < writer.bytes_written {
            return fail(
                FailureKind::Truncated,
                format!(
                    "{} got {} of {} bytes and the connection ended without error; {ends}",
                    reader.host, reader.bytes_delivered, writer.bytes_written
                ),
            );
        }
    }

    // The reference moment: the last byte delivered either way, or the last link
    // change, or the connection's start.
    let reference = [
        client.last_delivery_us,
        server.last_delivery_us,
        Some(draw.last_change.as_micros()),
        client.established_us,
        server.established_us,
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(0);
    for side in [client, server] {
        let Some(eof) = side.peer_finished_us else {
            return fail(
                FailureKind::NoEof,
                format!("{} never saw the end of stream; {ends}", side.host),
            );
        };
        if eof > reference + EOF_BOUND.as_micros() {
            return fail(
                FailureKind::LateEof,
                format!(
                    "{} saw the end of stream at {}, {} after {}; {ends}",
                    side.host,
                    secs(eof),
                    secs(eof - reference),
                    secs(reference)
                ),
            );
        }
        match side.closed_us {
            Some(closed) if closed <= reference + CLOSE_BOUND.as_micros() => {}
            closed => {
                return fail(
                    FailureKind::LateClose,
                    format!(
                        "{} closed at {}, reference {}; {ends}",
                        side.host,
                        closed.map_or("never".into(), secs),
                        secs(reference)
                    ),
                )
            }
        }
    }
    if !digests_differ.is_empty() {
        return Verdict::Documented(format!(
            "undetectable payload rewrite (checksums off): {}",
            digests_differ.join("; ")
        ));
    }
    Verdict::Pass
}

/// Seeds that fail on the current core, by kind: what a summary lists.
#[derive(Debug, Default)]
pub struct Tally {
    pub runs: u64,
    pub passed: u64,
    pub documented: Vec<(u64, String)>,
    pub failures: std::collections::BTreeMap<FailureKind, Vec<(u64, String)>>,
}

impl Tally {
    pub fn add(&mut self, seed: u64, verdict: &Verdict) {
        self.runs += 1;
        match verdict {
            Verdict::Pass => self.passed += 1,
            Verdict::Documented(why) => self.documented.push((seed, why.clone())),
            Verdict::Failure { kind, detail } => self
                .failures
                .entry(*kind)
                .or_default()
                .push((seed, detail.clone())),
        }
    }

    pub fn failed(&self) -> u64 {
        self.failures.values().map(|v| v.len() as u64).sum()
    }

    /// The summary: counts by outcome, and per failure kind its seeds (the smallest
    /// first, with its detail).
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} seeds: {} passed, {} documented errors, {} failed\n",
            self.runs,
            self.passed,
            self.documented.len(),
            self.failed()
        );
        for (kind, seeds) in &self.failures {
            let mut list: Vec<u64> = seeds.iter().map(|(s, _)| *s).collect();
            list.sort_unstable();
            let smallest = seeds.iter().min_by_key(|(s, _)| *s).expect("not empty");
            s += &format!(
                "  {} ({}): smallest seed {}: {}\n    seeds: {}\n",
                kind.name(),
                seeds.len(),
                smallest.0,
                smallest.1,
                list.iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        // Documented outcomes by their reason, numbers left out.
        let mut reasons: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
        for (seed, why) in &self.documented {
            let reason: String = why
                .split(['(', ':'])
                .next()
                .unwrap_or(why)
                .trim()
                .to_string();
            reasons.entry(reason).or_default().push(*seed);
        }
        for (reason, mut seeds) in reasons {
            seeds.sort_unstable();
            s += &format!(
                "  documented, {reason} ({}): {}\n",
                seeds.len(),
                seeds
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        s
    }
}
