//! The entry point of the core, after quinn-proto's `Endpoint`: IP packets in and
//! out, timers, events, and the table of connections.
//!
//! ```text
//! handle(now, packet)              one IP packet in
//! poll_transmit(now, buf)          one IP packet out, until None
//! poll_timeout() / handle_timeout(now)
//! poll_event()                     accepted connections and connection events
//! ```
//!
//! It demultiplexes by 4-tuple and MP_JOIN SYNs by token (RFC 8684 §3.2), runs
//! listeners with a bounded queue of half-open connections (SYN cookies when it is
//! full, `syn_cookie.rs`), opens the subflows MPTCP connections ask for, and answers
//! segments that belong to no connection with RST (RFC 9293 §3.10.7.1). Every limit
//! is in [`EndpointConfig`].
//!
//! Its random values come from a [`RandomSource`] (see [`crate::rng`] for which must
//! be unpredictable and why): [`Endpoint::new`] seeds the deterministic one, for
//! simulations and tests; a stack on a real network hands a cryptographically
//! secure one to [`Endpoint::with_random_source`].

mod connection;
mod mptcp;
mod syn_cookie;
#[cfg(test)]
mod tests;

pub use connection::Connection;
pub use mptcp::JoinSyn;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::ops::Bound;

use thiserror::Error;

use crate::cc::{CongestionControl, Cubic, CubicConfig, NewReno};
use crate::mptcp::keys::TokenTable;
use crate::mptcp::{MptcpConfig, MptcpEvent, SegmentOptions};
use crate::rng::{RandomSource, SeededRng};
use crate::secrets::EndpointSecret;
use crate::seq::SeqNum;
use crate::tcp::SubflowId;
use crate::tcp::{
    emit_control, emit_segment, SegmentIn, SegmentVerdict, TcpConfig, TcpConnection, TcpEvent,
};
use crate::time::Instant;
use crate::wire::mptcp::MpTcpRstReason;
use crate::wire::tcp_option::TcpOption;
use crate::wire::{ip_protocol, IpRepr, TcpFlags, TcpRepr};

/// RSTs owed to stray segments that wait to be sent; beyond, strays are dropped
/// unanswered. Each `poll_transmit` sends one, so the queue drains as fast as the
/// stack sends; the bound only matters under a flood of stray segments.
const MAX_PENDING_RESETS: usize = 1024;

/// Cookie SYN-ACKs that wait to be sent, bounded for the same reason as RSTs: beyond,
/// SYNs that find the queue full are dropped as they were without cookies.
const MAX_PENDING_COOKIE_SYN_ACKS: usize = 1024;

/// Which congestion controller new connections get: one per connection, shared by
/// all of an MPTCP connection's subflows (see [`crate::cc`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CcAlgorithm {
    /// RFC 5681 / RFC 6582 Reno per subflow, uncoupled.
    NewReno,
    /// RFC 9438 CUBIC per subflow, uncoupled.
    #[default]
    Cubic,
    /// RFC 6356 Linked Increases: coupled, fair to TCP at a shared bottleneck.
    Lia,
    /// OLIA (Khalili et al.): coupled, Pareto-optimal variant of LIA.
    Olia,
    /// BALIA (Peng et al.): coupled, balances TCP-friendliness and responsiveness.
    Balia,
}

impl CcAlgorithm {
    /// The controller of a new connection, MPTCP or plain TCP.
    fn build(self, mptcp: bool) -> Box<dyn CongestionControl> {
        match self {
            CcAlgorithm::NewReno => Box::new(NewReno::new()),
            CcAlgorithm::Cubic if mptcp => Box::new(Cubic::with_config(CubicConfig::mptcp())),
            CcAlgorithm::Cubic => Box::new(Cubic::new()),
            CcAlgorithm::Lia => Box::new(crate::cc::Lia::new()),
            CcAlgorithm::Olia => Box::new(crate::cc::Olia::new()),
            CcAlgorithm::Balia => Box::new(crate::cc::Balia::new()),
        }
    }
}

/// Limits and defaults of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    pub tcp: TcpConfig,
    pub mptcp: MptcpConfig,
    pub congestion_control: CcAlgorithm,
    /// Connections in any state, half-open ones included.
    pub max_connections: usize,
    /// Half-open (SYN-RECEIVED) connections per listener; SYNs beyond are dropped.
    pub syn_backlog: usize,
    /// Established connections per listener not yet taken by the application.
    pub accept_backlog: usize,
    /// Answer SYNs that find the half-open queue full with SYN cookies (RFC 4987
    /// §3.6) rather than dropping them, so that a SYN flood does not lock clients
    /// out (Linux's default, net.ipv4.tcp_syncookies = 1).
    pub syn_cookies: bool,
    /// SYN-ACK retransmissions a half-open connection gets while its listener's
    /// queue is more than half full; at the next timeout it is dropped, making room
    /// sooner than the TCP engine's `syn_retries` would. 2, as Linux's pruning of
    /// request sockets lowers tcp_synack_retries to under pressure: with a 1 s
    /// initial RTO an entry lives 7 s instead of 127 s.
    pub syn_ack_retries_under_pressure: u32,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            tcp: TcpConfig::default(),
            mptcp: MptcpConfig::default(),
            congestion_control: CcAlgorithm::default(),
            max_connections: 4096,
            syn_backlog: 256,
            accept_backlog: 128,
            syn_cookies: true,
            syn_ack_retries_under_pressure: 2,
        }
    }
}

/// A connection's handle in its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// What the endpoint reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointEvent {
    /// A listener completed a handshake: the connection is ready for the application.
    /// Its addresses come along: it may end (a RST) before the application takes it,
    /// and then the endpoint no longer has it.
    Accepted {
        listener: SocketAddr,
        connection: ConnectionId,
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// Something happened on a connection.
    Connection {
        connection: ConnectionId,
        event: TcpEvent,
    },
    /// Something happened to an MPTCP connection's subflows, addresses or mode.
    Mptcp {
        connection: ConnectionId,
        event: MptcpEvent,
    },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum EndpointError {
    #[error("{0} is already in use")]
    AddressInUse(SocketAddr),
    #[error("too many connections (limit {0})")]
    TooManyConnections(usize),
    #[error("local and remote addresses are of different families")]
    AddressFamilyMismatch,
}

/// Packets and segments the endpoint counted, by what became of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    pub packets_in: u64,
    pub packets_out: u64,
    /// Not IP, not TCP, fragmented, or malformed.
    pub malformed: u64,
    pub bad_checksum: u64,
    pub not_tcp: u64,
    pub resets_sent: u64,
    pub syn_queue_overflows: u64,
    pub accept_queue_overflows: u64,
    pub connection_limit_drops: u64,
    /// MP_JOIN SYNs refused: unknown token, connection not ready, or subflow limit.
    pub joins_refused: u64,
    /// SYNs with an MP_CAPABLE of another version (0: RFC 6824), answered as plain
    /// TCP. A higher version's SYN is answered with version 1 (RFC 8684 §3.1).
    pub mptcp_version_fallbacks: u64,
    /// SYNs whose MP_CAPABLE lacks the H flag (HMAC-SHA256) or sets the B flag,
    /// answered as plain TCP (RFC 8684 §3.1).
    pub mptcp_flag_fallbacks: u64,
    /// Connections whose SYN offered MPTCP but whose third ACK did not echo our key:
    /// plain TCP (RFC 8684 §3.1).
    pub mptcp_third_ack_fallbacks: u64,
    /// Passive opens left as TCP because no key with a free token was found
    /// before the SYN-ACK, or (SYN cookies) the key's token was taken meanwhile.
    pub mptcp_token_collisions: u64,
    /// SYN-ACKs carrying a SYN cookie: SYNs that found the half-open queue full.
    pub syn_cookies_sent: u64,
    /// Connections made from a valid cookie in a third ACK.
    pub syn_cookies_accepted: u64,
    /// ACKs to a listener that sent cookies lately that held no valid cookie (forged,
    /// stale, or stray): answered with RST.
    pub syn_cookies_rejected: u64,
    /// Half-open connections dropped early because their listener's queue was more
    /// than half full ([`EndpointConfig::syn_ack_retries_under_pressure`]).
    pub half_open_pruned: u64,
}

#[derive(Debug)]
struct Listener {
    half_open: usize,
    unaccepted: usize,
    /// When it last answered a SYN with a cookie: ACKs may bring cookies back until
    /// [`syn_cookie::COOKIE_LIFETIME`] later.
    cookies_sent_at: Option<Instant>,
}

impl Listener {
    /// More than half of the half-open queue is taken: entries that go unanswered
    /// are pruned early (see [`EndpointConfig::syn_ack_retries_under_pressure`]).
    fn under_pressure(&self, syn_backlog: usize) -> bool {
        self.half_open * 2 > syn_backlog
    }
}

#[derive(Debug)]
struct Slot {
    conn: Connection,
    /// A half-open connection whose SYN offered MPTCP: the key our SYN-ACK carries.
    /// Nothing else of MPTCP exists until the third ACK echoes it (RFC 8684 §3.1).
    offer: Option<mptcp::PassiveOffer>,
    cc: Box<dyn CongestionControl>,
    /// The listener that accepted it, while it is half-open or unaccepted.
    listener: Option<SocketAddr>,
    established: bool,
    /// Timeouts while half-open: SYN-ACK retransmissions.
    syn_ack_timeouts: u32,
}

/// A RST owed to a segment that matched no connection.
#[derive(Debug, Clone, Copy)]
struct PendingReset {
    src: SocketAddr,
    dst: SocketAddr,
    seq: SeqNum,
    ack: Option<SeqNum>,
    /// Carried as MP_TCPRST (RFC 8684 §3.6) when MPTCP refused the segment.
    reason: Option<MpTcpRstReason>,
}

/// A TCP endpoint: every connection of one network stack.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    random: Box<dyn RandomSource>,
    /// Drawn from `random` once: ISNs, timestamp offsets, SYN cookies.
    secret: EndpointSecret,
    listeners: HashMap<SocketAddr, Listener>,
    // Ordered, so that transmission order does not depend on hashing.
    connections: BTreeMap<ConnectionId, Slot>,
    /// Every subflow's 4-tuple (local, remote); plain TCP connections are subflow 0.
    by_tuple: HashMap<(SocketAddr, SocketAddr), (ConnectionId, SubflowId)>,
    /// Tokens of MPTCP connections, for MP_JOIN SYNs (RFC 8684 §3.2).
    tokens: TokenTable<ConnectionId>,
    next_id: u64,
    resets: VecDeque<PendingReset>,
    /// Cookie SYN-ACKs, as packets: they belong to no connection.
    cookie_syn_acks: VecDeque<Vec<u8>>,
    events: VecDeque<EndpointEvent>,
    /// Where the next `poll_transmit` starts looking, for fairness between connections.
    cursor: Option<ConnectionId>,
    stats: EndpointStats,
    options: Vec<TcpOption<'static>>,
}

impl Endpoint {
    /// An endpoint whose random values (keys, nonces, the secret behind ISNs and
    /// cookies, ports) come from the deterministic generator seeded with `seed`: same
    /// seed, same run. For simulations and tests only; on a real network they must
    /// be unpredictable ([`Endpoint::with_random_source`]).
    pub fn new(config: EndpointConfig, seed: u64) -> Self {
        Self::with_random_source(config, Box::new(SeededRng::new(seed)))
    }

    /// An endpoint whose random values come from `random`: on a real network, a
    /// cryptographically secure generator seeded by the operating system.
    pub fn with_random_source(config: EndpointConfig, mut random: Box<dyn RandomSource>) -> Self {
        let secret = EndpointSecret::new(random.as_mut());
        Endpoint {
            random,
            secret,
            listeners: HashMap::new(),
            connections: BTreeMap::new(),
            by_tuple: HashMap::new(),
            tokens: TokenTable::new(config.max_connections),
            next_id: 0,
            resets: VecDeque::new(),
            cookie_syn_acks: VecDeque::new(),
            events: VecDeque::new(),
            cursor: None,
            stats: EndpointStats::default(),
            options: Vec::new(),
            config,
        }
    }

    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    pub fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// Accepts connections to `addr` (an unspecified IP listens on every address).
    pub fn listen(&mut self, addr: SocketAddr) -> Result<(), EndpointError> {
        if self.listeners.contains_key(&addr) {
            return Err(EndpointError::AddressInUse(addr));
        }
        self.listeners.insert(
            addr,
            Listener {
                half_open: 0,
                unaccepted: 0,
                cookies_sent_at: None,
            },
        );
        Ok(())
    }

    pub fn unlisten(&mut self, addr: SocketAddr) {
        self.listeners.remove(&addr);
    }

    /// Opens a connection from `local` to `remote`; the SYN leaves at the next
    /// `poll_transmit`.
    pub fn connect(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<ConnectionId, EndpointError> {
        if local.is_ipv4() != remote.is_ipv4() {
            return Err(EndpointError::AddressFamilyMismatch);
        }
        if self.by_tuple.contains_key(&(local, remote)) {
            return Err(EndpointError::AddressInUse(local));
        }
        if self.connections.len() >= self.config.max_connections {
            return Err(EndpointError::TooManyConnections(
                self.config.max_connections,
            ));
        }
        let mptcp = self.config.mptcp.enabled;
        let mut cc = self.config.congestion_control.build(mptcp);
        let (iss, ts_offset) = self.initial_sequence(now, local, remote);
        let tcp = TcpConnection::connect(
            self.subflow_tcp_config(mptcp),
            local,
            remote,
            iss,
            ts_offset,
            cc.as_mut(),
            SubflowId(0),
            now,
        );
        if !mptcp {
            return Ok(self.insert(Connection::Tcp(tcp), cc, None, true));
        }
        let id = ConnectionId(self.next_id);
        let key = self
            .tokens
            .new_key(self.random.as_mut(), id)
            .map_err(|_| EndpointError::TooManyConnections(self.config.max_connections))?;
        let conn = crate::mptcp::MptcpConnection::connect(self.mptcp_config(), key, tcp);
        Ok(self.insert(Connection::Mptcp(Box::new(conn)), cc, None, true))
    }

    /// The ISN (RFC 6528) and timestamp offset of a connection or subflow.
    fn initial_sequence(
        &self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> (SeqNum, u32) {
        (
            self.secret.isn(now, local, remote),
            self.secret.timestamp_offset(local, remote),
        )
    }

    /// MPTCP settings for a new connection, the starting window filled in.
    pub(super) fn mptcp_config(&self) -> MptcpConfig {
        let mut config = self.config.mptcp.clone();
        config
            .initial_window
            .get_or_insert(self.config.tcp.initial_recv_buffer);
        config
    }

    /// TCP settings of a connection or subflow: MPTCP ones keep room for the DSS.
    fn subflow_tcp_config(&self, mptcp: bool) -> TcpConfig {
        let mut tcp = self.config.tcp.clone();
        if mptcp {
            tcp.reserved_option_space = tcp
                .reserved_option_space
                .max(crate::mptcp::config::DSS_OPTION_SPACE);
            // A subflow advertises the connection-level window, which may exceed
            // what its own auto-tuning would have grown to: its buffer must take that
            // much (it is drained at once; memory is allocated as data arrives).
            tcp.initial_recv_buffer = tcp.recv_buffer;
        }
        tcp
    }

    /// A port not used by any connection from `ip`, for an active open: drawn at
    /// random (RFC 6056 §3.3.1, its algorithm 1) from Linux's default
    /// ip_local_port_range.
    pub fn ephemeral_port(&mut self, ip: std::net::IpAddr) -> u16 {
        loop {
            let port = 32768 + self.random.below(60999 - 32768 + 1) as u16;
            let local = SocketAddr::new(ip, port);
            if !self.by_tuple.keys().any(|(l, _)| *l == local)
                && !self.listeners.contains_key(&local)
            {
                return port;
            }
        }
    }

    fn insert(
        &mut self,
        conn: Connection,
        cc: Box<dyn CongestionControl>,
        listener: Option<SocketAddr>,
        established: bool,
    ) -> ConnectionId {
        let id = ConnectionId(self.next_id);
        self.next_id += 1;
        self.by_tuple
            .insert((conn.local(), conn.remote()), (id, SubflowId(0)));
        self.connections.insert(
            id,
            Slot {
                conn,
                offer: None,
                cc,
                listener,
                established,
                syn_ack_timeouts: 0,
            },
        );
        id
    }

    pub fn connection(&self, id: ConnectionId) -> Option<&Connection> {
        self.connections.get(&id).map(|s| &s.conn)
    }

    /// The connection, for reads, writes and close.
    pub fn connection_mut(&mut self, id: ConnectionId) -> Option<&mut Connection> {
        self.connections.get_mut(&id).map(|s| &mut s.conn)
    }

    /// The application took an accepted connection: it leaves the accept queue.
    pub fn accepted(&mut self, id: ConnectionId) {
        if let Some(slot) = self.connections.get_mut(&id) {
            if let Some(listener) = slot.listener.take() {
                if let Some(l) = self.listeners.get_mut(&listener) {
                    l.unaccepted = l.unaccepted.saturating_sub(1);
                }
            }
        }
    }

    /// The congestion window of a connection, for metrics.
    pub fn cwnd(&self, id: ConnectionId) -> Option<u64> {
        self.connections.get(&id).map(|s| s.cc.cwnd(SubflowId(0)))
    }

    pub fn connection_ids(&self) -> impl Iterator<Item = ConnectionId> + '_ {
        self.connections.keys().copied()
    }

    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        self.events.pop_front()
    }

    /// A local address appeared: new connections may use it as `endpoint` says, and
    /// existing MPTCP connections open subflows from it or announce it.
    pub fn add_local_address(&mut self, now: Instant, mut endpoint: crate::pm::PmEndpoint) {
        let pm = &mut self.config.mptcp.path_manager;
        pm.endpoints.retain(|e| e.addr != endpoint.addr);
        if endpoint.id == 0 {
            endpoint.id = (1..=255)
                .find(|id| !pm.endpoints.iter().any(|e| e.id == *id))
                .unwrap_or(255);
        }
        pm.endpoints.push(endpoint);
        self.for_each_mptcp(now, |c| c.add_local_address(now, endpoint));
    }

    /// A local address went away: MPTCP connections announce its removal and reset
    /// the subflows that use it, moving their data to the others.
    pub fn remove_local_address(&mut self, now: Instant, addr: std::net::IpAddr) {
        self.config
            .mptcp
            .path_manager
            .endpoints
            .retain(|e| e.addr != addr);
        self.for_each_mptcp(now, |c| c.remove_local_address(now, addr));
    }

    /// A local address that has no path manager endpoint is usable again (its
    /// interface came back): MPTCP connections may open again the subflows they
    /// lost with it.
    pub fn local_address_back(&mut self, now: Instant, addr: std::net::IpAddr) {
        self.for_each_mptcp(now, |c| c.local_address_back(now, addr));
    }

    /// Makes a local address a backup path or a regular one (MP_PRIO on the
    /// subflows that use it, RFC 8684 §3.3.8).
    pub fn set_address_backup(&mut self, now: Instant, addr: std::net::IpAddr, backup: bool) {
        for e in &mut self.config.mptcp.path_manager.endpoints {
            if e.addr == addr {
                e.flags.backup = backup;
            }
        }
        self.for_each_mptcp(now, |c| c.set_address_backup(addr, backup));
    }

    /// Runs `f` on every MPTCP connection, then what follows its activity (subflows
    /// to open, events).
    fn for_each_mptcp(
        &mut self,
        now: Instant,
        mut f: impl FnMut(&mut crate::mptcp::MptcpConnection),
    ) {
        let ids: Vec<ConnectionId> = self.connections.keys().copied().collect();
        for id in ids {
            if let Some(Connection::Mptcp(c)) = self.connections.get_mut(&id).map(|s| &mut s.conn) {
                f(c);
            }
            self.after_activity(now, id);
        }
    }

    /// The next path manager event of any MPTCP connection (see
    /// [`crate::pm::PmEvent`]), for programs that make path decisions themselves.
    pub fn poll_pm_event(&mut self) -> Option<(ConnectionId, crate::pm::PmEvent)> {
        self.connections
            .iter_mut()
            .find_map(|(&id, slot)| match &mut slot.conn {
                Connection::Mptcp(c) => c.poll_pm_event().map(|e| (id, e)),
                Connection::Tcp(_) => None,
            })
    }

    /// Runs a path manager command on MPTCP connection `id` (see
    /// [`crate::pm::PathManager`]: `open_subflow`, `announce`, `remove_address`,
    /// `close_subflow`, `set_backup_id`); `None` if it is not an MPTCP connection.
    pub fn pm_command<R>(
        &mut self,
        now: Instant,
        id: ConnectionId,
        command: impl FnOnce(&mut crate::pm::PathManager) -> R,
    ) -> Option<R> {
        let result = match self.connections.get_mut(&id).map(|s| &mut s.conn) {
            Some(Connection::Mptcp(c)) => c.pm_command(command),
            _ => return None,
        };
        self.after_activity(now, id);
        Some(result)
    }

    /// Takes one IP packet from the network.
    pub fn handle(&mut self, now: Instant, packet: &[u8]) {
        self.stats.packets_in += 1;
        let Ok((ip, payload)) = IpRepr::parse(packet) else {
            self.stats.malformed += 1;
            return;
        };
        if payload.protocol != ip_protocol::TCP || payload.fragment {
            self.stats.not_tcp += 1;
            return;
        }
        let (src_ip, dst_ip) = (ip.src_addr(), ip.dst_addr());
        let check = crate::wire::ChecksumCheck::Verify {
            src: src_ip,
            dst: dst_ip,
        };
        let repr = match TcpRepr::parse(payload.payload, check) {
            Ok(repr) => repr,
            Err(crate::wire::WireError::BadChecksum { .. }) => {
                self.stats.bad_checksum += 1;
                return;
            }
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        let src = SocketAddr::new(src_ip, repr.src_port);
        let dst = SocketAddr::new(dst_ip, repr.dst_port);
        let seg = SegmentIn::from_repr(&repr);
        let options = SegmentOptions::parse(repr.options);
        if let Some(&(id, subflow)) = self.by_tuple.get(&(dst, src)) {
            let slot = self.connections.get_mut(&id).expect("table and map agree");
            let verdict = match &mut slot.conn {
                Connection::Tcp(c) => c.handle_segment(now, &seg, slot.cc.as_mut()),
                Connection::Mptcp(c) => {
                    c.handle_segment(now, subflow, &seg, &options, slot.cc.as_mut())
                }
            };
            if verdict == SegmentVerdict::Reset {
                self.queue_reset(dst, src, &seg, None);
            }
            if verdict.accepted() {
                self.finish_passive_open(now, id, &seg, &options);
            }
            self.after_activity(now, id);
            return;
        }
        if seg.flags.contains(TcpFlags::SYN) && !seg.flags.ack() && !seg.flags.rst() {
            if let Some(join) = mptcp::join_syn(&options) {
                self.on_join_syn(now, dst, src, &seg, join);
                return;
            }
            if let Some(listener) = self.listener_for(dst) {
                self.on_syn(now, listener, dst, src, &seg, &options);
                return;
            }
        }
        if seg.flags.ack() && !seg.flags.syn() && !seg.flags.rst() {
            if let Some(listener) = self.cookie_listener(now, dst) {
                if self.accept_syn_cookie(now, listener, dst, src, &seg, &options) {
                    return;
                }
            }
        }
        self.queue_reset(dst, src, &seg, None);
    }

    /// Events, subflows to open, and the end of a connection after it did something.
    /// A connection that ended stays until the next `poll_transmit`, so that its
    /// owner can read its last state (counters, close reason) after the call that
    /// ended it.
    fn after_activity(&mut self, now: Instant, id: ConnectionId) {
        self.forget_released_subflows(id);
        self.open_requested_subflows(now, id);
        self.collect_events(id);
    }

    /// The 4-tuples of subflows an MPTCP connection removed are free again.
    fn forget_released_subflows(&mut self, id: ConnectionId) {
        if let Some(Connection::Mptcp(c)) = self.connections.get_mut(&id).map(|s| &mut s.conn) {
            while let Some(tuple) = c.poll_released_subflow() {
                self.by_tuple.remove(&tuple);
            }
        }
    }

    fn listener_for(&self, dst: SocketAddr) -> Option<SocketAddr> {
        if self.listeners.contains_key(&dst) {
            return Some(dst);
        }
        let any = if dst.is_ipv4() {
            SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), dst.port())
        } else {
            SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), dst.port())
        };
        self.listeners.contains_key(&any).then_some(any)
    }

    fn on_syn(
        &mut self,
        now: Instant,
        listener: SocketAddr,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &SegmentIn<'_>,
        options: &SegmentOptions,
    ) {
        let l = self.listeners.get(&listener).expect("found above");
        let queue_full = l.half_open >= self.config.syn_backlog;
        if queue_full {
            self.stats.syn_queue_overflows += 1;
            if !self.config.syn_cookies {
                // A SYN flood must not take every slot: drop, the peer retries.
                return;
            }
        }
        if l.unaccepted >= self.config.accept_backlog {
            self.stats.accept_queue_overflows += 1;
            return;
        }
        if queue_full {
            self.send_syn_cookie(now, listener, local, remote, seg, options);
            return;
        }
        if self.connections.len() >= self.config.max_connections {
            self.stats.connection_limit_drops += 1;
            return;
        }
        let id = ConnectionId(self.next_id);
        let offer = match mptcp::capable_syn(options) {
            mptcp::CapableOffer::V1 { checksums } if self.config.mptcp.enabled => {
                // RFC 8684 §3.1: a key whose token no connection of ours has, held
                // for this one from the SYN-ACK that announces it.
                match self.tokens.new_key(self.random.as_mut(), id) {
                    Ok(key) => Some(mptcp::PassiveOffer {
                        key,
                        // Checksums if either side asks; our SYN-ACK says so.
                        checksums: checksums || self.config.mptcp.checksums,
                        syn_window: u64::from(seg.window),
                        no_joins_here: !self.config.mptcp.allow_join_initial_address,
                    }),
                    Err(_) => {
                        self.stats.mptcp_token_collisions += 1;
                        None
                    }
                }
            }
            mptcp::CapableOffer::OtherVersion => {
                self.stats.mptcp_version_fallbacks += 1;
                None
            }
            mptcp::CapableOffer::UnusableFlags => {
                self.stats.mptcp_flag_fallbacks += 1;
                None
            }
            _ => None,
        };
        let mptcp = offer.is_some();
        let mut cc = self.config.congestion_control.build(mptcp);
        let (iss, ts_offset) = self.initial_sequence(now, local, remote);
        let tcp = TcpConnection::accept(
            self.subflow_tcp_config(mptcp),
            local,
            remote,
            seg,
            iss,
            ts_offset,
            cc.as_mut(),
            SubflowId(0),
            now,
        );
        self.listeners
            .get_mut(&listener)
            .expect("found above")
            .half_open += 1;
        let inserted = self.insert(Connection::Tcp(tcp), cc, Some(listener), false);
        debug_assert_eq!(inserted, id, "the key was registered for this id");
        if let Some(slot) = self.connections.get_mut(&id) {
            slot.offer = offer;
        }
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection gets RST, never a RST.
    fn queue_reset(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &SegmentIn<'_>,
        reason: Option<MpTcpRstReason>,
    ) {
        if seg.flags.rst() {
            return;
        }
        let reset = if seg.flags.ack() {
            PendingReset {
                src: local,
                dst: remote,
                seq: seg.ack,
                ack: None,
                reason,
            }
        } else {
            PendingReset {
                src: local,
                dst: remote,
                seq: SeqNum(0),
                ack: Some(seg.seq + seg.seq_len()),
                reason,
            }
        };
        // Bounded: a flood of stray segments cannot grow the queue without limit.
        if self.resets.len() < MAX_PENDING_RESETS {
            self.resets.push_back(reset);
        }
    }

    fn collect_events(&mut self, id: ConnectionId) {
        let Some(slot) = self.connections.get_mut(&id) else {
            return;
        };
        while let Some(event) = slot.conn.poll_event() {
            if event == TcpEvent::Connected && !slot.established {
                slot.established = true;
                if let Some(listener) = slot.listener {
                    if let Some(l) = self.listeners.get_mut(&listener) {
                        l.half_open = l.half_open.saturating_sub(1);
                        l.unaccepted += 1;
                    }
                    self.events.push_back(EndpointEvent::Accepted {
                        listener,
                        connection: id,
                        local: slot.conn.local(),
                        remote: slot.conn.remote(),
                    });
                    continue;
                }
            }
            if let TcpEvent::Closed(_) = event {
                if !slot.established {
                    if let Some(listener) = slot.listener {
                        if let Some(l) = self.listeners.get_mut(&listener) {
                            l.half_open = l.half_open.saturating_sub(1);
                        }
                        // A half-open connection nobody saw: no event.
                        continue;
                    }
                }
            }
            self.events.push_back(EndpointEvent::Connection {
                connection: id,
                event,
            });
        }
        // After the stream's events: an accepted connection is announced first.
        if let Connection::Mptcp(c) = &mut slot.conn {
            while let Some(event) = c.poll_mptcp_event() {
                self.events.push_back(EndpointEvent::Mptcp {
                    connection: id,
                    event,
                });
            }
        }
    }

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.connections
            .values()
            .filter_map(|s| s.conn.poll_timeout())
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<ConnectionId> = self
            .connections
            .iter()
            .filter(|(_, s)| s.conn.poll_timeout().is_some_and(|t| t <= now))
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            if self.prune_half_open(id) {
                continue;
            }
            let slot = self.connections.get_mut(&id).expect("listed above");
            slot.conn.handle_timeout(now, slot.cc.as_mut());
            self.after_activity(now, id);
        }
    }

    /// A half-open connection whose timer is due: counts the SYN-ACK retransmission
    /// it is about to make, or, if its listener is under pressure and it has had its
    /// retransmissions, drops it (no RST, as Linux: the SYN may have been spoofed).
    fn prune_half_open(&mut self, id: ConnectionId) -> bool {
        let Some(slot) = self.connections.get_mut(&id) else {
            return false;
        };
        let half_open = !slot.established && slot.conn.state() == crate::tcp::TcpState::SynReceived;
        let (Some(listener), true) = (slot.listener, half_open) else {
            return false;
        };
        let Some(l) = self.listeners.get_mut(&listener) else {
            return false;
        };
        if l.under_pressure(self.config.syn_backlog)
            && slot.syn_ack_timeouts >= self.config.syn_ack_retries_under_pressure
        {
            l.half_open = l.half_open.saturating_sub(1);
            self.stats.half_open_pruned += 1;
            self.remove(id);
            return true;
        }
        slot.syn_ack_timeouts += 1;
        false
    }

    /// Writes the next IP packet to send into `buf` (which must hold the largest
    /// packet: MSS + 120 octets is enough) and returns its length.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if let Some(r) = self.resets.pop_front() {
            self.stats.resets_sent += 1;
            self.stats.packets_out += 1;
            let flags = if r.ack.is_some() {
                TcpFlags::RST | TcpFlags::ACK
            } else {
                TcpFlags::RST
            };
            self.options.clear();
            if let Some(reason) = r.reason {
                self.options.push(mptcp::tcprst(reason));
            }
            return Some(emit_control(
                buf,
                r.src,
                r.dst,
                r.seq,
                r.ack.unwrap_or_default(),
                flags,
                &self.options,
            ));
        }
        if let Some(packet) = self.cookie_syn_acks.pop_front() {
            self.stats.packets_out += 1;
            buf[..packet.len()].copy_from_slice(&packet);
            return Some(packet.len());
        }
        // Round-robin from the connection after the last one that sent (whether or
        // not it still exists), then up to it; no allocation per packet.
        let mut options = std::mem::take(&mut self.options);
        let sent = match self.cursor {
            Some(c) => poll_range(
                &mut self.connections,
                (Bound::Excluded(c), Bound::Unbounded),
                now,
                buf,
                &mut options,
            )
            .or_else(|| {
                poll_range(
                    &mut self.connections,
                    (Bound::Unbounded, Bound::Included(c)),
                    now,
                    buf,
                    &mut options,
                )
            }),
            None => poll_range(
                &mut self.connections,
                (Bound::Unbounded, Bound::Unbounded),
                now,
                buf,
                &mut options,
            ),
        };
        self.options = options;
        let Some((id, len)) = sent else {
            // Quiet: drop the connections that are over and have nothing left to
            // send (one that sent its last segment is dropped just after, in `reap`).
            let done: Vec<ConnectionId> = self
                .connections
                .iter()
                .filter(|(_, s)| s.conn.is_done())
                .map(|(&id, _)| id)
                .collect();
            for id in done {
                self.remove(id);
            }
            return None;
        };
        self.cursor = Some(id);
        self.stats.packets_out += 1;
        self.after_activity(now, id);
        self.reap(id);
        Some(len)
    }

    /// Drops a connection that is over and has nothing left to send.
    fn reap(&mut self, id: ConnectionId) {
        if self.connections.get(&id).is_some_and(|s| s.conn.is_done()) {
            self.remove(id);
        }
    }

    fn remove(&mut self, id: ConnectionId) {
        if let Some(slot) = self.connections.remove(&id) {
            self.by_tuple.retain(|_, (c, _)| *c != id);
            if let Connection::Mptcp(m) = &slot.conn {
                self.tokens.remove(m.local_key().token);
            }
            // A half-open connection's key held its token.
            if let Some(offer) = slot.offer {
                self.tokens.remove(offer.key.token);
            }
        }
    }
}

/// The first connection in `range` with a segment to send: emits it into `buf` and
/// returns the connection and the packet's length.
fn poll_range(
    connections: &mut BTreeMap<ConnectionId, Slot>,
    range: (Bound<ConnectionId>, Bound<ConnectionId>),
    now: Instant,
    buf: &mut [u8],
    options: &mut Vec<TcpOption<'static>>,
) -> Option<(ConnectionId, usize)> {
    for (&id, slot) in connections.range_mut(range) {
        match &mut slot.conn {
            Connection::Tcp(conn) => {
                let (src, dst) = (conn.local(), conn.remote());
                if let Some(seg) = conn.poll_transmit(now, slot.cc.as_mut()) {
                    options.clear();
                    seg.options.to_options(options);
                    if let (Some(offer), true) = (&slot.offer, seg.flags.syn()) {
                        options.push(offer.syn_ack_option());
                    }
                    return Some((id, emit_segment(buf, src, dst, &seg, options)));
                }
            }
            Connection::Mptcp(conn) => {
                if let Some(len) = conn.poll_transmit(now, slot.cc.as_mut(), options, buf) {
                    return Some((id, len));
                }
            }
        }
    }
    None
}
