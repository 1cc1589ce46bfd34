//! A simulated host: one braid-proto [`Endpoint`], interfaces that own IP addresses,
//! and [`Application`]s on its connections.
//!
//! # Interfaces and routes
//!
//! Interfaces are numbered from 0 in the order they are added (the simulator's links
//! attach to these numbers) and each owns one or more addresses. [`Routing`] says which
//! interface a packet leaves by:
//!
//! - [`Routing::Source`] (the default): the interface that owns its source address, as
//!   on a multihomed host with one policy routing table per address (Linux's
//!   `ip rule add from ADDR table N` with a default route in each table). This is how
//!   an MPTCP client is set up: a subflow from the cellular address leaves by the
//!   cellular interface whatever its destination.
//! - [`Routing::Destination`]: the longest prefix among [`Host::add_route`]s that
//!   matches the destination, as with one main routing table; the source address's
//!   interface when no route matches. This is how a server is usually set up: replies
//!   to a client's second address go back over the path they came by, even when the
//!   subflow was opened to the server's first address.
//!
//! A packet whose source no interface owns is handed to the simulator on
//! [`NO_INTERFACE`], which counts it as unrouted. Packets that arrive for an address
//! the host does not own are dropped and counted ([`HostStats::not_ours`]); an address
//! of another interface is accepted (the weak host model of Linux).
//!
//! Routes also choose the source address of a connection opened without one: the
//! longest prefix among [`Host::add_route`]s that matches the destination names the
//! interface, and its first address of the destination's family is the source. Without
//! a matching route, a host whose interfaces hold exactly one address of that family
//! uses it.
//!
//! # Interface events
//!
//! An operating system tells its MPTCP path manager when an interface loses its
//! addresses or gets them back (Linux: an address removed or added through netlink,
//! which mptcpd or NetworkManager turn into `ip mptcp endpoint` changes).
//! [`Host::interface_event_at`] plans such an event (a scenario link's schedule entry
//! with `notify = true` plans one on the host at each end of the link). When an
//! interface goes down, the host calls `Endpoint::remove_local_address` for each of its
//! addresses: MPTCP connections send REMOVE_ADDR for them and reset their subflows,
//! moving their data to the others. When it comes back, each address that had a path
//! manager endpoint gets it back, flags and id included (`Endpoint::add_local_address`),
//! so `subflow` and `signal` endpoints act again; an address without one stays a plain
//! address, usable by new connections as it always was, and connections may open
//! again the subflows they lost with it (`Endpoint::local_address_back`). The host keeps owning the
//! addresses throughout: what a down interface carries is the link's business.
//!
//! # Applications
//!
//! [`Host::connect`] (now) and [`Host::connect_at`] (planned) open connections with an
//! application; [`Host::listen`] builds one for each connection a listener accepts.
//! After every event (a packet, a timer, a planned connect) the host takes the
//! endpoint's events and then runs every application whose connection still exists,
//! in the order they were created; applications with a timer of their own (scripted
//! actions) are also run when it comes, through [`Node::poll_timeout`].
//!
//! # What is recorded
//!
//! For each connection an application ran on, a [`ConnectionRecord`]: addresses, the
//! time of the first SYN (sent, or received by a server), handshake and close times
//! and reason, the engine's counters ([`TcpStats`], as last seen: a connection the
//! endpoint drops after its last segment keeps the counters from just before it), and
//! both streams as the application saw them: bytes, SHA-256, and for the incoming one
//! the delivery times (first, last, the largest gap between two deliveries) and
//! delivered bytes per bin. For an MPTCP connection, an [`MptcpRecord`] too: its
//! phase, MPTCP counters, every subflow it had ([`SubflowRecord`]: addresses and
//! address ids, backup flags, TCP counters, when it was opened, established and
//! closed, and why), how many subflows were established over time, and a bounded log
//! of what happened ([`MptcpEvent`]: subflows opening, established, timing out and
//! closing, data reinjected, fallback), each at the virtual time the host saw it. For
//! each 4-tuple seen on the wire a [`FlowRecord`]: TCP segments and payload bytes each
//! way, per bin: the subflow's throughput over time.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use braid_proto::endpoint::Connection;
use braid_proto::endpoint::{ConnectionId, Endpoint, EndpointConfig, EndpointError, EndpointEvent};
use braid_proto::mptcp::{Handshake, MptcpConnection, MptcpStats, Phase};
use braid_proto::pm::PmEndpoint;
use braid_proto::tcp::{CloseReason, TcpEvent, TcpState, TcpStats};
use braid_proto::time::{Duration, Instant};
use braid_proto::wire::mptcp::MpTcpRstReason;
use braid_proto::wire::{ip_protocol, IpRepr};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::apps::{AppSpec, Application, Pattern};
use crate::metrics::{Counter, Series};
use crate::node::Node;

/// The interface reported for a packet whose source address no interface owns; the
/// simulator has no link there and counts the packet as unrouted.
pub const NO_INTERFACE: usize = usize::MAX;

/// Most 4-tuples a host keeps [`FlowRecord`]s for; packets of further tuples are
/// counted in [`HostStats::untracked`] only.
pub const MAX_FLOWS: usize = 4096;

/// Scratch space for pattern writes and discarded reads.
const CHUNK: usize = 64 * 1024;

/// Most [`MptcpEvent`]s kept per connection; later ones are only counted
/// ([`MptcpRecord::events_dropped`]).
pub const MAX_MPTCP_EVENTS: usize = 1024;

/// How a host picks the interface a packet leaves by (see the module documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Routing {
    /// By the interface owning the source address: a policy routing table per address.
    #[default]
    Source,
    /// By the routes on the destination (longest prefix); by the source address when
    /// none matches.
    Destination,
}

/// An interface of a host going down or coming back, told to its endpoint at `at`
/// (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfaceEvent {
    pub at: Instant,
    /// The interface's number.
    pub interface: usize,
    /// Back up (its addresses return), or down (they go).
    pub up: bool,
}

/// Which end opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Client,
    Server,
}

/// Why a connection could not be opened.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HostError {
    #[error("no route from this host to {0}")]
    NoRoute(IpAddr),
    #[error("{0} is not an address of this host")]
    NotLocal(IpAddr),
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
}

/// A planned connect that failed when its time came.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConnectFailure {
    pub at_us: u64,
    pub label: Option<String>,
    pub remote: String,
    pub error: String,
}

/// Packet counters of a host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct HostStats {
    /// Packets delivered to the host (all of them, ours or not).
    pub received: Counter,
    /// Packets the host sent.
    pub sent: Counter,
    /// Arrived for an address the host does not own: dropped.
    pub not_ours: Counter,
    /// Sent from an address no interface owns: unrouted.
    pub no_interface: Counter,
    /// Packets of 4-tuples beyond [`MAX_FLOWS`].
    pub untracked: u64,
}

/// One stream as an application wrote it.
#[derive(Debug, Clone)]
pub struct OutgoingStream {
    pub bytes: u64,
    sha: Sha256,
    pattern: Pattern,
}

impl OutgoingStream {
    fn new(pattern: Pattern) -> Self {
        OutgoingStream {
            bytes: 0,
            sha: Sha256::new(),
            pattern,
        }
    }

    fn record(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        self.sha.update(data);
    }

    /// SHA-256 of every byte written so far, in hex.
    pub fn sha256(&self) -> String {
        hex(&self.sha.clone().finalize())
    }
}

/// One stream as an application read it.
#[derive(Debug, Clone)]
pub struct IncomingStream {
    /// Bytes delivered to the application.
    pub bytes: u64,
    pub first_at: Option<Instant>,
    pub last_at: Option<Instant>,
    /// The largest time between two consecutive deliveries, and when it ended.
    pub max_gap: Option<(Duration, Instant)>,
    /// Bytes delivered per bin.
    pub series: Series,
    sha: Sha256,
    pattern: Pattern,
}

impl IncomingStream {
    fn new(pattern: Pattern, bin: Duration) -> Self {
        IncomingStream {
            bytes: 0,
            first_at: None,
            last_at: None,
            max_gap: None,
            series: Series::new(bin),
            sha: Sha256::new(),
            pattern,
        }
    }

    fn record(&mut self, now: Instant, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if let Some(last) = self.last_at {
            let gap = now - last;
            if self.max_gap.is_none_or(|(g, _)| gap > g) {
                self.max_gap = Some((gap, now));
            }
        }
        self.first_at.get_or_insert(now);
        self.last_at = Some(now);
        self.bytes += data.len() as u64;
        self.series.record(now, data.len());
        self.sha.update(data);
    }

    /// SHA-256 of every byte delivered so far, in hex.
    pub fn sha256(&self) -> String {
        hex(&self.sha.clone().finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// What the host knows of one connection an application ran on.
#[derive(Debug, Clone)]
pub struct ConnectionRecord {
    pub id: ConnectionId,
    pub role: Role,
    /// The name given to [`Host::connect_at`] (a scenario's connection name).
    pub label: Option<String>,
    /// The application's name.
    pub app: &'static str,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The first SYN: sent by a client, received by a server.
    pub syn_at: Instant,
    pub established_at: Option<Instant>,
    /// When the peer's FIN was seen.
    pub peer_finished_at: Option<Instant>,
    pub closed_at: Option<Instant>,
    pub close_reason: Option<CloseReason>,
    /// As last seen in the endpoint (`Closed` once it is gone).
    pub state: TcpState,
    pub stats: TcpStats,
    pub srtt: Option<Duration>,
    pub cwnd: Option<u64>,
    /// Whether the endpoint still has the connection.
    pub attached: bool,
    pub sent: OutgoingStream,
    pub received: IncomingStream,
    /// For an MPTCP connection (one that offered or accepted MP_CAPABLE, fallen back
    /// or not): its subflows and counters. `None` for plain TCP.
    pub mptcp: Option<MptcpRecord>,
}

/// What the host saw of an MPTCP connection, as last observed.
#[derive(Debug, Clone, PartialEq)]
pub struct MptcpRecord {
    pub phase: Phase,
    /// When the connection was first seen in [`Phase::Fallback`].
    pub fallback_at: Option<Instant>,
    /// DSS checksums in use.
    pub checksums: bool,
    pub stats: MptcpStats,
    /// Every subflow the connection had, in the order they appeared.
    pub subflows: Vec<SubflowRecord>,
    /// The number of established subflows each time it changed: (when, how many).
    pub established: Vec<(Instant, usize)>,
    /// What happened, in order, at most [`MAX_MPTCP_EVENTS`].
    pub events: Vec<(Instant, MptcpEvent)>,
    pub events_dropped: u64,
}

/// Something that happened to an MPTCP connection, as its host saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum MptcpEvent {
    /// A subflow appeared: the first one, a join we opened, or a join we answered.
    SubflowOpened { subflow: u32 },
    /// Its handshake completed (for a join, once its HMACs verified).
    SubflowEstablished { subflow: u32 },
    /// Its retransmission timer fired (`count`: its timeouts so far).
    Timeout { subflow: u32, count: u64 },
    /// Data was queued again for other subflows (RFC 8684 §3.3.6).
    Reinjected { bytes: u64 },
    /// It closed, was reset, or went away with its connection.
    SubflowClosed { subflow: u32 },
    /// The connection fell back to plain TCP (§3.7).
    Fallback,
}

/// One subflow of an MPTCP connection, as last observed.
#[derive(Debug, Clone, PartialEq)]
pub struct SubflowRecord {
    /// Its number within the connection (0 is the first subflow).
    pub id: u32,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Opened by MP_JOIN (else by MP_CAPABLE: the first subflow).
    pub join: bool,
    /// Our address id for the local address, and the peer's for the remote one.
    pub local_id: u8,
    pub remote_id: u8,
    /// We asked the peer to use it only as a backup.
    pub backup: bool,
    /// The peer asked us to use it only as a backup.
    pub peer_backup: bool,
    pub opened_at: Instant,
    pub established_at: Option<Instant>,
    pub closed_at: Option<Instant>,
    pub state: TcpState,
    pub close_reason: Option<CloseReason>,
    /// The MP_TCPRST reason of our reset, and of the peer's.
    pub reset_reason: Option<MpTcpRstReason>,
    pub peer_reset_reason: Option<MpTcpRstReason>,
    pub stats: TcpStats,
    pub srtt: Option<Duration>,
}

impl SubflowRecord {
    fn is_established(&self) -> bool {
        self.established_at.is_some() && self.closed_at.is_none()
    }
}

impl MptcpRecord {
    fn new() -> Self {
        MptcpRecord {
            phase: Phase::Handshake,
            fallback_at: None,
            checksums: false,
            stats: MptcpStats::default(),
            subflows: Vec::new(),
            established: Vec::new(),
            events: Vec::new(),
            events_dropped: 0,
        }
    }

    fn established_count(&self) -> usize {
        self.subflows.iter().filter(|s| s.is_established()).count()
    }

    fn push(&mut self, now: Instant, event: MptcpEvent) {
        if self.events.len() < MAX_MPTCP_EVENTS {
            self.events.push((now, event));
        } else {
            self.events_dropped += 1;
        }
    }

    /// Refreshes what it knows of the connection's state (phase, counters, each
    /// subflow's TCP state and counters). What happened, and when, comes from the
    /// connection's events ([`on_event`](Self::on_event)).
    fn observe(&mut self, m: &MptcpConnection) {
        self.phase = m.phase();
        self.checksums = m.checksums();
        self.stats = *m.stats();
        for s in m.subflows() {
            let Some(r) = self.subflows.iter_mut().find(|r| r.id == s.id().0) else {
                continue;
            };
            r.local_id = s.local_id();
            r.remote_id = s.remote_id();
            r.backup = s.backup();
            r.peer_backup = s.peer_backup();
            r.state = s.tcp().state();
            r.close_reason = s.tcp().close_reason().or(r.close_reason);
            r.reset_reason = s.reset_reason().or(r.reset_reason);
            r.peer_reset_reason = s.peer_reset_reason().or(r.peer_reset_reason);
            r.stats = *s.tcp().stats();
            r.srtt = s.tcp().srtt().or(r.srtt);
        }
    }

    /// Records what the connection reported at `now`.
    fn on_event(
        &mut self,
        now: Instant,
        m: &MptcpConnection,
        event: braid_proto::mptcp::MptcpEvent,
    ) {
        use braid_proto::mptcp::MptcpEvent as Core;
        let before = self.established_count();
        match event {
            Core::SubflowOpened { subflow } => {
                let Some(s) = m.subflow(subflow) else {
                    return;
                };
                self.subflows.push(SubflowRecord {
                    id: subflow.0,
                    local: s.tcp().local(),
                    remote: s.tcp().remote(),
                    join: s.handshake() != Handshake::Capable,
                    local_id: s.local_id(),
                    remote_id: s.remote_id(),
                    backup: s.backup(),
                    peer_backup: s.peer_backup(),
                    opened_at: now,
                    established_at: None,
                    closed_at: None,
                    state: TcpState::Closed,
                    close_reason: None,
                    reset_reason: None,
                    peer_reset_reason: None,
                    stats: TcpStats::default(),
                    srtt: None,
                });
                self.push(now, MptcpEvent::SubflowOpened { subflow: subflow.0 });
            }
            Core::SubflowEstablished { subflow } => {
                let Some(r) = self.subflows.iter_mut().find(|r| r.id == subflow.0) else {
                    return;
                };
                if r.established_at.is_none() {
                    r.established_at = Some(now);
                    self.push(now, MptcpEvent::SubflowEstablished { subflow: subflow.0 });
                }
            }
            Core::SubflowTimeout { subflow, count } => {
                let subflow = subflow.0;
                self.push(now, MptcpEvent::Timeout { subflow, count });
            }
            Core::SubflowClosed { subflow, reason } => {
                let Some(r) = self.subflows.iter_mut().find(|r| r.id == subflow.0) else {
                    return;
                };
                r.close_reason.get_or_insert(reason);
                if r.closed_at.is_none() {
                    r.closed_at = Some(now);
                    self.push(now, MptcpEvent::SubflowClosed { subflow: subflow.0 });
                }
            }
            Core::Reinjected { bytes } => match self.events.last_mut() {
                // One entry per moment, however many ranges were queued.
                Some((t, MptcpEvent::Reinjected { bytes: b })) if *t == now => *b += bytes,
                _ => self.push(now, MptcpEvent::Reinjected { bytes }),
            },
            Core::Fallback { .. } => {
                if self.fallback_at.is_none() {
                    self.fallback_at = Some(now);
                    self.push(now, MptcpEvent::Fallback);
                }
            }
            Core::Established
            | Core::PeerPriority { .. }
            | Core::AddressAnnounced { .. }
            | Core::AddressRemoved { .. } => {}
        }
        self.note_established(now, before);
    }

    /// The endpoint dropped the connection: every subflow is closed.
    fn detach(&mut self, now: Instant) {
        let before = self.established_count();
        for i in 0..self.subflows.len() {
            let r = &mut self.subflows[i];
            if r.closed_at.is_none() {
                r.closed_at = Some(now);
                r.state = TcpState::Closed;
                let subflow = r.id;
                self.push(now, MptcpEvent::SubflowClosed { subflow });
            }
        }
        self.note_established(now, before);
    }

    fn note_established(&mut self, now: Instant, before: usize) {
        let after = self.established_count();
        if after == before && !(self.established.is_empty() && after > 0) {
            return;
        }
        match self.established.last_mut() {
            Some((t, n)) if *t == now => *n = after,
            _ => self.established.push((now, after)),
        }
    }
}

impl ConnectionRecord {
    fn new(
        id: ConnectionId,
        role: Role,
        app: &'static str,
        local: SocketAddr,
        remote: SocketAddr,
        syn_at: Instant,
        bin: Duration,
    ) -> Self {
        ConnectionRecord {
            id,
            role,
            label: None,
            app,
            local,
            remote,
            syn_at,
            established_at: None,
            peer_finished_at: None,
            closed_at: None,
            close_reason: None,
            state: TcpState::Closed,
            stats: TcpStats::default(),
            srtt: None,
            cwnd: None,
            attached: true,
            sent: OutgoingStream::new(Pattern::for_stream(local, remote)),
            received: IncomingStream::new(Pattern::for_stream(remote, local), bin),
            mptcp: None,
        }
    }

    fn observe(&mut self, endpoint: &Endpoint) {
        if let Some(c) = endpoint.connection(self.id) {
            self.state = c.state();
            self.stats = c.stats();
            self.srtt = c.srtt().or(self.srtt);
            // A subflow over for its connection leaves the congestion controller
            // (a window of 0): keep the window it last had.
            self.cwnd = endpoint.cwnd(self.id).filter(|&w| w > 0).or(self.cwnd);
            if let Some(m) = c.as_mptcp() {
                self.mptcp.get_or_insert_with(MptcpRecord::new).observe(m);
            }
        }
    }

    /// Records an event of its MPTCP connection.
    fn on_mptcp_event(
        &mut self,
        now: Instant,
        endpoint: &Endpoint,
        event: braid_proto::mptcp::MptcpEvent,
    ) {
        if let Some(m) = endpoint.connection(self.id).and_then(Connection::as_mptcp) {
            let record = self.mptcp.get_or_insert_with(MptcpRecord::new);
            record.on_event(now, m, event);
            record.observe(m);
        }
    }

    /// Subflows recorded so far.
    fn subflows_known(&self) -> usize {
        self.mptcp.as_ref().map_or(0, |m| m.subflows.len())
    }

    /// The endpoint dropped the connection.
    fn detach(&mut self, now: Instant) {
        self.attached = false;
        self.state = TcpState::Closed;
        if let Some(m) = &mut self.mptcp {
            m.detach(now);
        }
    }

    /// Whether the connection speaks MPTCP: "mptcp", "fallback" (MPTCP that fell
    /// back to TCP) or "tcp".
    pub fn protocol(&self) -> &'static str {
        match &self.mptcp {
            None => "tcp",
            Some(m) if m.phase == Phase::Fallback => "fallback",
            Some(_) => "mptcp",
        }
    }
}

/// What the host saw of one 4-tuple on the wire: TCP segments (packets) and payload
/// bytes (bytes) each way, in total and per bin. For plain TCP, one per connection;
/// for MPTCP, one per subflow.
#[derive(Debug, Clone)]
pub struct FlowRecord {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub first_seen: Instant,
    pub sent: Counter,
    pub received: Counter,
    pub sent_series: Series,
    pub received_series: Series,
}

/// The view of its connection an application gets: reads and writes go to the TCP
/// connection and are recorded.
pub struct Socket<'a> {
    now: Instant,
    conn: &'a mut Connection,
    record: &'a mut ConnectionRecord,
    scratch: &'a mut Vec<u8>,
}

impl Socket<'_> {
    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn local(&self) -> SocketAddr {
        self.record.local
    }

    pub fn remote(&self) -> SocketAddr {
        self.record.remote
    }

    pub fn role(&self) -> Role {
        self.record.role
    }

    pub fn state(&self) -> TcpState {
        self.conn.state()
    }

    /// Reads into `buf`; 0 when nothing is buffered.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = self.conn.read(buf);
        self.record.received.record(self.now, &buf[..n]);
        n
    }

    /// Reads everything buffered, handing each piece to `f` with its stream offset;
    /// returns the bytes read.
    pub fn read_all(&mut self, mut f: impl FnMut(u64, &[u8])) -> u64 {
        self.scratch.resize(CHUNK, 0);
        let mut total = 0;
        loop {
            let offset = self.record.received.bytes;
            let n = self.conn.read(self.scratch);
            if n == 0 {
                return total;
            }
            self.record.received.record(self.now, &self.scratch[..n]);
            f(offset, &self.scratch[..n]);
            total += n as u64;
        }
    }

    /// Reads and discards everything buffered; returns the bytes read.
    pub fn drain(&mut self) -> u64 {
        self.read_all(|_, _| {})
    }

    /// Writes as much of `data` as the send buffer takes.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = self.conn.write(data);
        self.record.sent.record(&data[..n]);
        n
    }

    /// Writes up to `max` bytes of the stream's [`Pattern`], continuing from what was
    /// written so far; returns how many the send buffer took.
    pub fn write_pattern(&mut self, max: u64) -> u64 {
        let mut total = 0;
        while total < max {
            let room = self.conn.send_capacity().min(CHUNK);
            let n = room.min(usize::try_from(max - total).unwrap_or(usize::MAX));
            if n == 0 {
                break;
            }
            self.scratch.resize(n, 0);
            self.record
                .sent
                .pattern
                .fill(self.record.sent.bytes, &mut self.scratch[..n]);
            let written = self.conn.write(&self.scratch[..n]);
            self.record.sent.record(&self.scratch[..written]);
            total += written as u64;
            if written < n {
                break;
            }
        }
        total
    }

    /// The pattern the peer's applications write: what [`crate::apps::Sink`] checks.
    pub fn incoming_pattern(&self) -> Pattern {
        self.record.received.pattern
    }

    /// Bytes written so far.
    pub fn bytes_sent(&self) -> u64 {
        self.record.sent.bytes
    }

    /// Bytes read so far.
    pub fn bytes_received(&self) -> u64 {
        self.record.received.bytes
    }

    pub fn readable(&self) -> usize {
        self.conn.readable()
    }

    pub fn send_capacity(&self) -> usize {
        self.conn.send_capacity()
    }

    /// The peer finished and everything was read.
    pub fn is_read_closed(&self) -> bool {
        self.conn.is_read_closed()
    }

    /// Closes the sending side: FIN after the buffered data.
    pub fn close(&mut self) {
        self.conn.close();
    }

    /// RST to the peer, buffers dropped.
    pub fn abort(&mut self) {
        self.conn.abort();
    }
}

struct AppSlot {
    app: Box<dyn Application>,
    record: ConnectionRecord,
}

struct Planned {
    at: Instant,
    local: SocketAddr,
    remote: SocketAddr,
    app: AppSpec,
    label: Option<String>,
}

struct Route {
    prefix: IpAddr,
    len: u8,
    iface: usize,
}

type AppFactory = Box<dyn FnMut() -> Box<dyn Application>>;

/// A simulated host. See the module documentation.
pub struct Host {
    name: String,
    endpoint: Endpoint,
    interfaces: Vec<Vec<IpAddr>>,
    owner: BTreeMap<IpAddr, usize>,
    routes: Vec<Route>,
    routing: Routing,
    listeners: BTreeMap<SocketAddr, AppFactory>,
    planned: Vec<Planned>,
    /// Interface events still to come, in time order.
    interface_events: Vec<InterfaceEvent>,
    /// Interfaces that are down, with each address removed and its path manager
    /// endpoint (if it had one), to restore when they come back.
    down: BTreeMap<usize, Vec<(IpAddr, Option<PmEndpoint>)>>,
    slots: Vec<AppSlot>,
    by_id: BTreeMap<ConnectionId, usize>,
    by_tuple: BTreeMap<(SocketAddr, SocketAddr), usize>,
    flows: BTreeMap<(SocketAddr, SocketAddr), FlowRecord>,
    events: VecDeque<EndpointEvent>,
    failures: Vec<ConnectFailure>,
    /// Set when events are left for a timer at once (see `poll_transmit`).
    wake: Option<Instant>,
    bin: Duration,
    max_packet: usize,
    scratch: Vec<u8>,
    stats: HostStats,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("name", &self.name)
            .field("interfaces", &self.interfaces)
            .field("connections", &self.slots.len())
            .finish()
    }
}

/// How many times one `poll_transmit` call may run the applications again because
/// sending produced endpoint events (a connection closing after its RST went out).
const MAX_REDRIVES: usize = 4;

impl Host {
    /// A host with no interfaces whose endpoint draws from `seed` (take it from
    /// [`crate::Simulator::seed_for`] with [`crate::rng::domain::NODE`]).
    pub fn new(name: impl Into<String>, config: EndpointConfig, seed: u64) -> Self {
        // The largest packet: an IPv6 header, a TCP header with full options, an MSS.
        let max_packet = usize::from(config.tcp.mss) + 40 + 60 + 64;
        Host {
            name: name.into(),
            endpoint: Endpoint::new(config, seed),
            interfaces: Vec::new(),
            owner: BTreeMap::new(),
            routes: Vec::new(),
            routing: Routing::Source,
            listeners: BTreeMap::new(),
            planned: Vec::new(),
            interface_events: Vec::new(),
            down: BTreeMap::new(),
            slots: Vec::new(),
            by_id: BTreeMap::new(),
            by_tuple: BTreeMap::new(),
            flows: BTreeMap::new(),
            events: VecDeque::new(),
            failures: Vec::new(),
            wake: None,
            bin: Duration::from_millis(100),
            max_packet,
            scratch: Vec::new(),
            stats: HostStats::default(),
        }
    }

    /// Width of the bins of the throughput series (default 100 ms).
    ///
    /// # Panics
    ///
    /// If `bin` is zero.
    pub fn with_bin(mut self, bin: Duration) -> Self {
        assert!(bin > Duration::ZERO, "Host::with_bin: zero width");
        self.bin = bin;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds an interface owning `addresses`; returns its number.
    ///
    /// # Panics
    ///
    /// If an address already belongs to an interface: a caller bug.
    pub fn add_interface(&mut self, addresses: impl IntoIterator<Item = IpAddr>) -> usize {
        let iface = self.interfaces.len();
        let addresses: Vec<IpAddr> = addresses.into_iter().collect();
        for &a in &addresses {
            let previous = self.owner.insert(a, iface);
            assert!(
                previous.is_none(),
                "Host::add_interface: {a} is already assigned"
            );
        }
        self.interfaces.push(addresses);
        iface
    }

    /// The addresses of each interface.
    pub fn interfaces(&self) -> &[Vec<IpAddr>] {
        &self.interfaces
    }

    /// The interface owning `addr`.
    pub fn interface_of(&self, addr: IpAddr) -> Option<usize> {
        self.owner.get(&addr).copied()
    }

    /// Routes destinations in `prefix/len` through interface `iface` (for the choice
    /// of a source address; see the module documentation).
    pub fn add_route(&mut self, prefix: IpAddr, len: u8, iface: usize) {
        self.routes.push(Route { prefix, len, iface });
    }

    /// How packets pick their interface (default [`Routing::Source`]).
    pub fn set_routing(&mut self, routing: Routing) {
        self.routing = routing;
    }

    pub fn routing(&self) -> Routing {
        self.routing
    }

    /// The longest-prefix route to `dst`.
    fn route_to(&self, dst: IpAddr) -> Option<&Route> {
        self.routes
            .iter()
            .filter(|r| prefix_matches(r.prefix, r.len, dst))
            .max_by_key(|r| r.len)
    }

    /// The interface a packet from `src` to `dst` leaves by, under the host's
    /// [`Routing`]; `None` when no interface owns `src`.
    pub fn egress(&self, src: IpAddr, dst: IpAddr) -> Option<usize> {
        let own = self.owner.get(&src).copied()?;
        match self.routing {
            Routing::Source => Some(own),
            Routing::Destination => Some(
                self.route_to(dst)
                    .map(|r| r.iface)
                    .filter(|&i| i < self.interfaces.len())
                    .unwrap_or(own),
            ),
        }
    }

    /// The source address for a connection to `dst`.
    pub fn source_for(&self, dst: IpAddr) -> Option<IpAddr> {
        let same_family = |a: &&IpAddr| a.is_ipv4() == dst.is_ipv4();
        let best = self.route_to(dst);
        if let Some(r) = best {
            return self
                .interfaces
                .get(r.iface)?
                .iter()
                .find(same_family)
                .copied();
        }
        let mut all = self.interfaces.iter().flatten().filter(same_family);
        match (all.next(), all.next()) {
            (Some(&a), None) => Some(a),
            _ => None,
        }
    }

    /// The endpoint, to look at.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The endpoint, to act on directly (connections opened here run no application).
    pub fn endpoint_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    pub fn stats(&self) -> &HostStats {
        &self.stats
    }

    /// Planned connects that failed.
    pub fn failures(&self) -> &[ConnectFailure] {
        &self.failures
    }

    /// Accepts connections to `addr`, running an application from `make` on each.
    pub fn listen(
        &mut self,
        addr: SocketAddr,
        make: impl FnMut() -> Box<dyn Application> + 'static,
    ) -> Result<(), HostError> {
        if !addr.ip().is_unspecified() && !self.owner.contains_key(&addr.ip()) {
            return Err(HostError::NotLocal(addr.ip()));
        }
        self.endpoint.listen(addr)?;
        self.listeners.insert(addr, Box::new(make));
        Ok(())
    }

    /// [`Host::listen`] with an application built from `spec` for each connection.
    pub fn listen_spec(&mut self, addr: SocketAddr, spec: AppSpec) -> Result<(), HostError> {
        self.listen(addr, move || spec.build())
    }

    /// Opens a connection now from `local` to `remote` with `app` on it. Port 0 in
    /// `local` takes an ephemeral port; an unspecified IP takes the source address the
    /// routes give.
    pub fn connect(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        app: Box<dyn Application>,
    ) -> Result<ConnectionId, HostError> {
        let id = self.open(now, local, remote, app, None)?;
        self.drive(now);
        Ok(id)
    }

    /// Plans a connection at `at` (see [`Host::connect`]) with an application built
    /// from `spec`. `label` names it in reports. A failure is kept in
    /// [`Host::failures`].
    pub fn connect_at(
        &mut self,
        at: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        spec: AppSpec,
        label: Option<String>,
    ) {
        let index = self.planned.partition_point(|p| p.at <= at);
        self.planned.insert(
            index,
            Planned {
                at,
                local,
                remote,
                app: spec,
                label,
            },
        );
    }

    /// Plans an interface event (see the module documentation). Events at the same
    /// instant apply in the order they were planned.
    ///
    /// # Panics
    ///
    /// If the host has no interface `event.interface`: a caller bug.
    pub fn interface_event_at(&mut self, event: InterfaceEvent) {
        assert!(
            event.interface < self.interfaces.len(),
            "Host::interface_event_at: no interface {}",
            event.interface
        );
        let index = self.interface_events.partition_point(|e| e.at <= event.at);
        self.interface_events.insert(index, event);
    }

    /// Whether interface `iface` is up, as the host's endpoint was last told.
    pub fn interface_is_up(&self, iface: usize) -> bool {
        !self.down.contains_key(&iface)
    }

    /// Applies the interface events due at `now`.
    fn apply_interface_events(&mut self, now: Instant) {
        let due = self.interface_events.partition_point(|e| e.at <= now);
        for e in self.interface_events.drain(..due).collect::<Vec<_>>() {
            if e.up {
                for (addr, endpoint) in self.down.remove(&e.interface).unwrap_or_default() {
                    match endpoint {
                        Some(endpoint) => {
                            debug_assert_eq!(endpoint.addr, addr);
                            self.endpoint.add_local_address(now, endpoint);
                        }
                        None => self.endpoint.local_address_back(now, addr),
                    }
                }
            } else if !self.down.contains_key(&e.interface) {
                let removed: Vec<(IpAddr, Option<PmEndpoint>)> = self.interfaces[e.interface]
                    .iter()
                    .map(|&addr| {
                        let endpoint = self
                            .endpoint
                            .config()
                            .mptcp
                            .path_manager
                            .endpoints
                            .iter()
                            .find(|p| p.addr == addr)
                            .copied();
                        (addr, endpoint)
                    })
                    .collect();
                for &(addr, _) in &removed {
                    self.endpoint.remove_local_address(now, addr);
                }
                self.down.insert(e.interface, removed);
            }
        }
    }

    fn open(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        app: Box<dyn Application>,
        label: Option<String>,
    ) -> Result<ConnectionId, HostError> {
        let ip = if local.ip().is_unspecified() {
            self.source_for(remote.ip())
                .ok_or(HostError::NoRoute(remote.ip()))?
        } else {
            local.ip()
        };
        if !self.owner.contains_key(&ip) {
            return Err(HostError::NotLocal(ip));
        }
        let port = match local.port() {
            0 => self.endpoint.ephemeral_port(ip),
            p => p,
        };
        let local = SocketAddr::new(ip, port);
        let id = self.endpoint.connect(now, local, remote)?;
        let mut record =
            ConnectionRecord::new(id, Role::Client, app.name(), local, remote, now, self.bin);
        record.label = label;
        record.observe(&self.endpoint);
        self.add_slot(AppSlot { app, record });
        Ok(id)
    }

    fn add_slot(&mut self, slot: AppSlot) {
        let index = self.slots.len();
        self.by_id.insert(slot.record.id, index);
        self.by_tuple
            .insert((slot.record.local, slot.record.remote), index);
        register_subflows(&mut self.by_tuple, index, &slot.record, 0);
        self.slots.push(slot);
    }

    fn start_planned(&mut self, now: Instant) {
        let due = self.planned.partition_point(|p| p.at <= now);
        for p in self.planned.drain(..due).collect::<Vec<_>>() {
            let app = p.app.build();
            if let Err(e) = self.open(now, p.local, p.remote, app, p.label.clone()) {
                self.failures.push(ConnectFailure {
                    at_us: now.as_micros(),
                    label: p.label,
                    remote: p.remote.to_string(),
                    error: e.to_string(),
                });
            }
        }
    }

    /// Records of the connections applications ran on, in the order they were made.
    pub fn connections(&self) -> impl Iterator<Item = &ConnectionRecord> {
        self.slots.iter().map(|s| &s.record)
    }

    /// The record of connection `id`.
    pub fn connection(&self, id: ConnectionId) -> Option<&ConnectionRecord> {
        self.by_id.get(&id).map(|&i| &self.slots[i].record)
    }

    /// The application on connection `id`, as its own type.
    pub fn app<A: Application>(&self, id: ConnectionId) -> Option<&A> {
        let slot = &self.slots[*self.by_id.get(&id)?];
        slot.app.as_any().downcast_ref()
    }

    /// The application on connection `id`, as a trait object.
    pub fn app_dyn(&self, id: ConnectionId) -> Option<&dyn Application> {
        Some(self.slots[*self.by_id.get(&id)?].app.as_ref())
    }

    /// What was seen on the wire for each 4-tuple, by (local, remote).
    pub fn flows(&self) -> impl Iterator<Item = &FlowRecord> {
        self.flows.values()
    }

    /// The wire record of one 4-tuple.
    pub fn flow(&self, local: SocketAddr, remote: SocketAddr) -> Option<&FlowRecord> {
        self.flows.get(&(local, remote))
    }

    /// Nothing more will happen here without the peers: no planned connects, no
    /// application timers, and every connection closed or in TIME-WAIT.
    pub fn is_finished(&self) -> bool {
        self.planned.is_empty()
            && self.wake.is_none()
            && self
                .slots
                .iter()
                .all(|s| !s.record.attached || s.app.poll_timeout().is_none())
            && self.endpoint.connection_ids().all(|id| {
                self.endpoint
                    .connection(id)
                    .is_none_or(|c| matches!(c.state(), TcpState::Closed | TcpState::TimeWait))
            })
    }

    // ---- the event loop ----

    /// Takes the endpoint's events, then runs every application.
    fn drive(&mut self, now: Instant) {
        self.collect_events();
        while let Some(event) = self.events.pop_front() {
            self.on_event(now, event);
        }
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if !slot.record.attached {
                continue;
            }
            let Some(conn) = self.endpoint.connection_mut(slot.record.id) else {
                slot.record.detach(now);
                continue;
            };
            let mut socket = Socket {
                now,
                conn,
                record: &mut slot.record,
                scratch: &mut self.scratch,
            };
            slot.app.run(&mut socket);
            let known = slot.record.subflows_known();
            slot.record.observe(&self.endpoint);
            register_subflows(&mut self.by_tuple, index, &slot.record, known);
        }
    }

    /// Takes the endpoint's events; returns whether any wait for [`drive`](Self::drive).
    fn collect_events(&mut self) -> bool {
        while let Some(e) = self.endpoint.poll_event() {
            self.events.push_back(e);
        }
        !self.events.is_empty()
    }

    fn on_event(&mut self, now: Instant, event: EndpointEvent) {
        match event {
            EndpointEvent::Accepted {
                listener,
                connection,
                ..
            } => {
                let Some(make) = self.listeners.get_mut(&listener) else {
                    return;
                };
                let app = make();
                let Some(conn) = self.endpoint.connection(connection) else {
                    return;
                };
                let (local, remote) = (conn.local(), conn.remote());
                let syn_at = self
                    .flows
                    .get(&(local, remote))
                    .map_or(now, |f| f.first_seen);
                let mut record = ConnectionRecord::new(
                    connection,
                    Role::Server,
                    app.name(),
                    local,
                    remote,
                    syn_at,
                    self.bin,
                );
                record.established_at = Some(now);
                record.observe(&self.endpoint);
                self.endpoint.accepted(connection);
                self.add_slot(AppSlot { app, record });
            }
            EndpointEvent::Connection { connection, event } => {
                let Some(&i) = self.by_id.get(&connection) else {
                    return;
                };
                let r = &mut self.slots[i].record;
                match event {
                    TcpEvent::Connected => {
                        r.established_at.get_or_insert(now);
                    }
                    TcpEvent::PeerFinished => {
                        r.peer_finished_at.get_or_insert(now);
                    }
                    TcpEvent::Closed(reason) => {
                        r.closed_at.get_or_insert(now);
                        r.close_reason.get_or_insert(reason);
                    }
                    TcpEvent::Readable | TcpEvent::Writable | TcpEvent::RetransmissionTimeout => {}
                }
            }
            EndpointEvent::Mptcp { connection, event } => {
                let Some(&i) = self.by_id.get(&connection) else {
                    return;
                };
                let record = &mut self.slots[i].record;
                let known = record.subflows_known();
                record.on_mptcp_event(now, &self.endpoint, event);
                register_subflows(&mut self.by_tuple, i, record, known);
            }
        }
    }

    /// Records at once the MPTCP events of connections that have a record (what
    /// sending a segment set off, at the moment it was sent); the rest wait for
    /// [`drive`](Self::drive), in order.
    fn take_mptcp_events(&mut self, now: Instant) {
        while let Some(e) = self.endpoint.poll_event() {
            match e {
                EndpointEvent::Mptcp { connection, .. }
                    if self.events.is_empty() && self.by_id.contains_key(&connection) =>
                {
                    self.on_event(now, e)
                }
                _ => self.events.push_back(e),
            }
        }
    }

    /// The addresses and ports of a TCP packet, whether it carries SYN, and its payload
    /// length; `None` for anything else.
    fn tcp_tuple(packet: &[u8]) -> Option<(SocketAddr, SocketAddr, usize)> {
        let (ip, upper) = IpRepr::parse(packet).ok()?;
        let tcp = upper.payload;
        if upper.protocol != ip_protocol::TCP || upper.fragment || tcp.len() < 20 {
            return None;
        }
        let src_port = u16::from_be_bytes([tcp[0], tcp[1]]);
        let dst_port = u16::from_be_bytes([tcp[2], tcp[3]]);
        let header = usize::from(tcp[12] >> 4) * 4;
        let payload = tcp.len().saturating_sub(header);
        Some((
            SocketAddr::new(ip.src_addr(), src_port),
            SocketAddr::new(ip.dst_addr(), dst_port),
            payload,
        ))
    }

    fn flow_mut(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<&mut FlowRecord> {
        let key = (local, remote);
        if !self.flows.contains_key(&key) {
            if self.flows.len() >= MAX_FLOWS {
                self.stats.untracked += 1;
                return None;
            }
            self.flows.insert(
                key,
                FlowRecord {
                    local,
                    remote,
                    first_seen: now,
                    sent: Counter::default(),
                    received: Counter::default(),
                    sent_series: Series::new(self.bin),
                    received_series: Series::new(self.bin),
                },
            );
        }
        self.flows.get_mut(&key)
    }

    /// Refreshes the record of the connection on this 4-tuple, if an application runs
    /// on it.
    fn observe_tuple(&mut self, local: SocketAddr, remote: SocketAddr) {
        if let Some(&i) = self.by_tuple.get(&(local, remote)) {
            let r = &mut self.slots[i].record;
            if r.attached {
                let known = r.subflows_known();
                r.observe(&self.endpoint);
                register_subflows(&mut self.by_tuple, i, &self.slots[i].record, known);
            }
        }
    }
}

/// Maps the 4-tuples of the subflows `record` gained (past the first `known`) to its
/// slot, so that their packets refresh it.
fn register_subflows(
    by_tuple: &mut BTreeMap<(SocketAddr, SocketAddr), usize>,
    index: usize,
    record: &ConnectionRecord,
    known: usize,
) {
    if let Some(m) = &record.mptcp {
        for s in m.subflows.iter().skip(known) {
            by_tuple.insert((s.local, s.remote), index);
        }
    }
}

/// Whether `addr` is in `prefix/len` (false across IP versions).
pub(crate) fn prefix_matches(prefix: IpAddr, len: u8, addr: IpAddr) -> bool {
    let (p, a, bits): (u128, u128, u8) = match (prefix, addr) {
        (IpAddr::V4(p), IpAddr::V4(a)) => (u32::from(p).into(), u32::from(a).into(), 32),
        (IpAddr::V6(p), IpAddr::V6(a)) => (u128::from(p), u128::from(a), 128),
        _ => return false,
    };
    let len = len.min(bits);
    if len == 0 {
        return true;
    }
    let shift = u32::from(bits - len);
    (p >> shift) == (a >> shift)
}

impl Node for Host {
    fn handle_packet(&mut self, now: Instant, _iface: usize, packet: &[u8]) {
        self.stats.received.add(packet.len());
        let dst = match IpRepr::parse(packet) {
            Ok((ip, _)) => Some(ip.dst_addr()),
            Err(_) => None,
        };
        if dst.is_some_and(|d| !self.owner.contains_key(&d)) {
            self.stats.not_ours.add(packet.len());
            return;
        }
        if let Some((src, dst, payload)) = Self::tcp_tuple(packet) {
            if let Some(f) = self.flow_mut(now, dst, src) {
                f.received.add(payload);
                f.received_series.record(now, payload);
            }
            // The endpoint may drop the connection on this segment (RST, last ACK):
            // keep its counters from just before.
            self.observe_tuple(dst, src);
        }
        self.endpoint.handle(now, packet);
        self.drive(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<usize> {
        for round in 0..=MAX_REDRIVES {
            buf.resize(self.max_packet, 0);
            if let Some(len) = self.endpoint.poll_transmit(now, buf) {
                buf.truncate(len);
                self.stats.sent.add(len);
                if let Some((src, dst, payload)) = Self::tcp_tuple(buf) {
                    if let Some(f) = self.flow_mut(now, src, dst) {
                        f.sent.add(payload);
                        f.sent_series.record(now, payload);
                    }
                    self.observe_tuple(src, dst);
                }
                self.take_mptcp_events(now);
                let iface = IpRepr::parse(buf)
                    .ok()
                    .and_then(|(ip, _)| self.egress(ip.src_addr(), ip.dst_addr()));
                return Some(iface.unwrap_or_else(|| {
                    self.stats.no_interface.add(len);
                    NO_INTERFACE
                }));
            }
            buf.clear();
            // Sending may have finished a connection (its RST went out): let the
            // applications hear of it, then look again.
            if !self.collect_events() {
                return None;
            }
            if round == MAX_REDRIVES {
                // Enough for one poll: the events wait for a timer at once.
                self.wake = Some(now);
                return None;
            }
            self.drive(now);
        }
        None
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        let apps = self
            .slots
            .iter()
            .filter(|s| s.record.attached)
            .filter_map(|s| s.app.poll_timeout())
            .min();
        let planned = self.planned.first().map(|p| p.at);
        let interface = self.interface_events.first().map(|e| e.at);
        [
            self.endpoint.poll_timeout(),
            apps,
            planned,
            interface,
            self.wake,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.wake = None;
        self.apply_interface_events(now);
        self.endpoint.handle_timeout(now);
        self.start_planned(now);
        self.drive(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_match_by_leading_bits() {
        assert!(prefix_matches(ip("10.0.0.0"), 8, ip("10.1.2.3")));
        assert!(!prefix_matches(ip("10.0.0.0"), 16, ip("10.1.2.3")));
        assert!(prefix_matches(ip("0.0.0.0"), 0, ip("192.0.2.1")));
        assert!(!prefix_matches(ip("0.0.0.0"), 0, ip("::1")));
        assert!(prefix_matches(ip("fd00::"), 8, ip("fd12::1")));
        assert!(prefix_matches(ip("10.0.0.1"), 32, ip("10.0.0.1")));
    }

    #[test]
    fn source_address_comes_from_routes_or_the_only_candidate() {
        let mut h = Host::new("h", EndpointConfig::default(), 1);
        let a = h.add_interface([ip("10.0.1.1"), ip("fd00:1::1")]);
        assert_eq!(h.source_for(ip("192.0.2.1")), Some(ip("10.0.1.1")));
        assert_eq!(h.source_for(ip("fd00:2::2")), Some(ip("fd00:1::1")));
        let b = h.add_interface([ip("10.0.2.1")]);
        // Two IPv4 candidates and no route: no choice.
        assert_eq!(h.source_for(ip("192.0.2.1")), None);
        h.add_route(ip("10.0.2.0"), 24, b);
        h.add_route(ip("0.0.0.0"), 0, a);
        assert_eq!(h.source_for(ip("10.0.2.9")), Some(ip("10.0.2.1")));
        assert_eq!(h.source_for(ip("192.0.2.1")), Some(ip("10.0.1.1")));
        assert_eq!(h.interface_of(ip("10.0.2.1")), Some(b));
    }
}
