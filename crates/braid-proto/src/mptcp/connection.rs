//! The MPTCP connection (RFC 8684): one byte stream over a set of subflows.
//!
//! [`MptcpConnection`] owns its subflows (each a [`TcpConnection`] with the MPTCP
//! state of [`Subflow`]), the data-level sender and receiver, and the path manager.
//! The endpoint hands it each segment of its subflows (`mptcp/input.rs`) and
//! asks it for segments to send (`mptcp/output.rs`); opening the subflows the
//! path manager wants is the endpoint's job (it owns ports and the 4-tuple table), so
//! the connection only queues [`SubflowRequest`]s.
//!
//! Without MPTCP on the path (the peer or a middlebox dropped the option) the
//! connection *falls back* (§3.7): one subflow carries the stream as plain TCP, and
//! the same data-level machinery runs with an implicit mapping, so the application
//! sees no difference.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use crate::cc::{CongestionControl, SubflowId};
use crate::mptcp::config::MptcpConfig;
use crate::mptcp::data::{DataReceiver, DataSender};
use crate::mptcp::keys::LocalKey;
use crate::mptcp::mapping::{MappingConfig, MappingReceiver};
use crate::mptcp::subflow::{Handshake, Subflow, TxMapping};
use crate::pm::{PathManager, Role};
use crate::sched::Scheduler;
use crate::tcp::{CloseReason, TcpConnection, TcpEvent, TcpState, TcpStats};
use crate::time::Instant;
use crate::wire::mptcp::{AddAddr, MpTcpRstReason, RemoveAddr};

/// Where the connection is at the data level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// MP_CAPABLE sent or received; the peer's key is not known yet.
    Handshake,
    /// Keys exchanged: MPTCP proper.
    Established,
    /// Plain TCP on one subflow (§3.7).
    Fallback,
}

/// A subflow the path manager wants; the endpoint opens it with
/// [`MptcpConnection::add_join_subflow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubflowRequest {
    /// Port 0: the endpoint picks one.
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub local_id: u8,
    pub remote_id: u8,
    pub backup: bool,
}

/// Counters of one connection: what it did and what it refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MptcpStats {
    pub subflows_opened: u64,
    pub joins_accepted: u64,
    pub joins_rejected: u64,
    /// Join handshakes that failed an HMAC check (§3.2).
    pub bad_join_hmacs: u64,
    pub add_addr_sent: u64,
    pub add_addr_received: u64,
    pub add_addr_bad_hmac: u64,
    pub add_addr_echoes_received: u64,
    pub remove_addr_received: u64,
    pub mp_prio_received: u64,
    pub mp_fail_sent: u64,
    pub mp_fail_received: u64,
    pub fastclose_sent: u64,
    pub fastclose_received: u64,
    pub mp_tcprst_received: u64,
    pub checksum_failures: u64,
    /// Fallbacks to plain TCP, by cause.
    pub fallback_no_mp_capable: u64,
    pub fallback_no_dss: u64,
    pub fallback_checksum: u64,
    pub infinite_mappings_received: u64,
    /// Bytes queued again on other subflows (§3.3.6).
    pub reinjected_bytes: u64,
    /// Bytes sent again on a faster subflow because a slower one's copy held the
    /// peer's window (opportunistic reinjection), and the penalties that came with it.
    pub opportunistic_bytes: u64,
    pub penalties: u64,
    /// Expiries of the data-level retransmission timer.
    pub data_level_timeouts: u64,
    /// Protocol errors that reset a subflow (mapping conflicts, data beyond the
    /// DATA_FIN, ...).
    pub protocol_errors: u64,
}

/// An address announcement waiting for a segment to carry it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Signal {
    AddAddr(AddAddr),
    RemoveAddr(RemoveAddr),
}

/// One MPTCP connection.
#[derive(Debug)]
pub struct MptcpConnection {
    pub(super) config: MptcpConfig,
    pub(super) client: bool,
    pub(super) phase: Phase,
    pub(super) local_key: LocalKey,
    pub(super) remote_key: Option<u64>,
    /// DSS checksums in use (either side asked, §3.1).
    pub(super) checksums: bool,
    /// Client: the peer showed it has our MP_CAPABLE third ACK (a DSS arrived), so
    /// we stop repeating it (§3.1).
    pub(super) capable_acked: bool,
    pub(super) subflows: Vec<Subflow>,
    pub(super) next_subflow: u32,
    pub(super) sender: DataSender,
    pub(super) receiver: DataReceiver,
    pub(super) scheduler: Box<dyn Scheduler>,
    pub(super) pm: PathManager,
    pub(super) requests: VecDeque<SubflowRequest>,
    /// ADD_ADDR / REMOVE_ADDR to send, oldest first.
    pub(super) signals: VecDeque<Signal>,
    /// An MP_FAIL to send, with the DSN where the failure starts (§3.7).
    pub(super) mp_fail_due: Option<u64>,
    /// The peer's MP_FAIL asks for an infinite mapping: the next chunk mapped
    /// carries it, and the connection falls back behind it (§3.7).
    pub(super) infinite_mapping_due: bool,
    /// We reset the connection with MP_FASTCLOSE (§3.5).
    pub(super) fastclose: bool,
    /// The DATA_FIN was put on a segment at least once.
    pub(super) data_fin_sent_at: Option<Instant>,
    pub(super) events: VecDeque<TcpEvent>,
    pub(super) connected: bool,
    pub(super) peer_fin_reported: bool,
    pub(super) subflows_closing: bool,
    pub(super) closed: Option<CloseReason>,
    pub(super) stats: MptcpStats,
    /// Scratch space for moving subflow bytes to the data level, allocated on first
    /// use.
    pub(super) scratch: Vec<u8>,
    pub(super) sched_scratch: Vec<crate::sched::SubflowInfo>,
    /// The window's left edge (data_una) last sent again opportunistically: once is
    /// enough for each.
    pub(super) opportunistic_at: Option<u64>,
    /// When the peer's window last stopped the scheduler.
    pub(super) window_full_at: Option<Instant>,
    /// The window's left edge (data_una) and when it last moved.
    pub(super) left_edge_since: (u64, Instant),
    /// The subflow `poll_transmit` asks first, for fairness between subflows.
    pub(super) tx_cursor: usize,
    /// Readable bytes last reported with [`TcpEvent::Readable`].
    pub(super) readable_reported: usize,
    /// A write found the send buffer full: [`TcpEvent::Writable`] is owed once
    /// acknowledgments make room.
    pub(super) write_blocked: bool,
    /// Receive auto-tuning: the window we let the peer use, and the measurement
    /// interval in progress (start, DATA_ACK then).
    pub(super) rcv_target: u64,
    pub(super) rcv_sample: Option<(Instant, u64)>,
    /// Subflows that ended, to be taken out of the congestion controller.
    pub(super) cc_removals: Vec<SubflowId>,
    /// The data-level retransmission timer (§3.3.6): when DATA_ACK stops moving,
    /// the oldest unacknowledged data goes out again, with a new mapping.
    pub(super) data_rto_at: Option<Instant>,
    pub(super) data_rto_backoff: u32,
    pub(super) data_una_seen: u64,
}

/// The data-level receiver for a peer with `idsn`. Out-of-order ranges are the norm
/// at data level (each subflow fills its own stretch of the sequence space, the slow
/// one behind), so the cap on them follows the buffer: one range per few segments'
/// worth of it, never fewer than a subflow's.
pub(super) fn data_receiver(idsn: u64, capacity: usize) -> DataReceiver {
    let ranges = (capacity / 4096).max(crate::tcp::recv_buffer::DEFAULT_MAX_RANGES);
    DataReceiver::with_max_ranges(idsn, capacity, ranges)
}

/// Mapping limits for a subflow whose receive window reaches `recv_capacity`: the
/// peer may send a window's worth of data beyond a hole, each segment with its own
/// mapping, and all of them must be kept (Linux keeps them with each segment).
pub(super) fn mapping_config(checksums: bool, recv_capacity: usize) -> MappingConfig {
    let mut config = MappingConfig::new(checksums);
    config.max_mappings = config.max_mappings.max(recv_capacity / 1024);
    config
}

impl MptcpConnection {
    pub(super) fn new_mapping_receiver(&self) -> MappingReceiver {
        MappingReceiver::new(mapping_config(self.checksums, self.receiver.capacity()))
    }

    fn new(
        config: MptcpConfig,
        client: bool,
        local_key: LocalKey,
        tcp: TcpConnection,
        initial_window: u64,
    ) -> Self {
        let send_capacity = tcp.config().send_buffer;
        let recv_capacity = tcp.config().recv_buffer;
        let role = if client { Role::Client } else { Role::Server };
        let pm = PathManager::new(config.path_manager.clone(), role, tcp.local(), tcp.remote());
        let checksums = config.checksums;
        let rx = MappingReceiver::new(mapping_config(checksums, recv_capacity));
        MptcpConnection {
            client,
            phase: Phase::Handshake,
            local_key,
            remote_key: None,
            checksums,
            capable_acked: false,
            subflows: vec![Subflow::new(SubflowId(0), tcp, Handshake::Capable, rx)],
            next_subflow: 1,
            sender: {
                let mut sender = DataSender::new(local_key.idsn, send_capacity, initial_window);
                if !config.send_autotune {
                    // The whole configured buffer from the start, as before tuning.
                    sender.grow_capacity(send_capacity);
                }
                sender
            },
            // Replaced once the peer's key, and so its IDSN, is known.
            receiver: data_receiver(0, recv_capacity),
            scheduler: config.scheduler.build(),
            pm,
            requests: VecDeque::new(),
            signals: VecDeque::new(),
            mp_fail_due: None,
            infinite_mapping_due: false,
            fastclose: false,
            data_fin_sent_at: None,
            events: VecDeque::new(),
            connected: false,
            peer_fin_reported: false,
            subflows_closing: false,
            closed: None,
            stats: MptcpStats::default(),
            scratch: Vec::new(),
            sched_scratch: Vec::new(),
            opportunistic_at: None,
            window_full_at: None,
            left_edge_since: (0, Instant::ZERO),
            tx_cursor: 0,
            readable_reported: 0,
            write_blocked: false,
            cc_removals: Vec::new(),
            rcv_target: config
                .initial_window
                .unwrap_or(recv_capacity)
                .min(recv_capacity) as u64,
            rcv_sample: None,
            data_rto_at: None,
            data_rto_backoff: 0,
            data_una_seen: 0,
            config,
        }
    }

    /// An active open: `tcp` is the first subflow, in SYN-SENT; its SYN will carry
    /// MP_CAPABLE.
    pub fn connect(config: MptcpConfig, local_key: LocalKey, tcp: TcpConnection) -> Self {
        Self::new(config, true, local_key, tcp, 0)
    }

    /// A passive open: `tcp` answered a SYN that carried MP_CAPABLE, whose A flag
    /// was `peer_wants_checksums`.
    pub fn accept(
        config: MptcpConfig,
        local_key: LocalKey,
        tcp: TcpConnection,
        peer_wants_checksums: bool,
        syn_window: u64,
    ) -> Self {
        let mut c = Self::new(config, false, local_key, tcp, syn_window);
        c.checksums |= peer_wants_checksums;
        c.subflows[0].rx = c.new_mapping_receiver();
        c
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn local_key(&self) -> &LocalKey {
        &self.local_key
    }

    pub fn remote_key(&self) -> Option<u64> {
        self.remote_key
    }

    /// The peer's token: how our MP_JOIN SYNs name the connection.
    pub fn remote_token(&self) -> Option<u32> {
        self.remote_key.map(crate::crypto::token)
    }

    pub fn checksums(&self) -> bool {
        self.checksums
    }

    pub fn stats(&self) -> &MptcpStats {
        &self.stats
    }

    pub fn is_client(&self) -> bool {
        self.client
    }

    /// The subflows, first one first.
    pub fn subflows(&self) -> impl Iterator<Item = &Subflow> {
        self.subflows.iter()
    }

    pub fn subflow(&self, id: SubflowId) -> Option<&Subflow> {
        self.subflows.iter().find(|s| s.id == id)
    }

    pub(super) fn index_of(&self, id: SubflowId) -> Option<usize> {
        self.subflows.iter().position(|s| s.id == id)
    }

    /// The first subflow's addresses: the connection's, as the application knows it.
    /// The first subflow is never removed, so it is always there.
    pub fn local(&self) -> SocketAddr {
        self.subflows[0].tcp.local()
    }

    pub fn remote(&self) -> SocketAddr {
        self.subflows[0].tcp.remote()
    }

    /// TCP counters summed over the subflows that still exist.
    pub fn tcp_stats(&self) -> TcpStats {
        let mut sum = TcpStats::default();
        for s in &self.subflows {
            sum.accumulate(s.tcp.stats());
        }
        sum
    }

    /// Writes as much of `data` as the connection-level send buffer takes.
    pub fn write(&mut self, data: &[u8]) -> usize {
        if self.closed.is_some() {
            return 0;
        }
        let n = self.sender.write(data);
        self.write_blocked |= n < data.len();
        n
    }

    pub fn send_capacity(&self) -> usize {
        if self.closed.is_some() || self.sender.data_fin_dsn().is_some() {
            0
        } else {
            self.sender.free()
        }
    }

    /// Bytes written and not yet acknowledged at data level.
    pub fn send_queued(&self) -> usize {
        self.sender.buffered()
    }

    /// Bytes handed to the subflows and not yet acknowledged at data level: from
    /// the window's left edge (data_una) to the next new byte.
    pub fn sent_unacknowledged(&self) -> u64 {
        self.sender.data_nxt().wrapping_sub(self.sender.data_una())
    }

    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let before = self.window_to_advertise();
        let n = self.receiver.read(buf);
        self.readable_reported = self.receiver.readable();
        // Announce the space reading freed when the window the peer knows has
        // fallen to half the (auto-tuned) buffer or less (as the subflows do for TCP).
        let largest = self.rcv_target.min(self.receiver.capacity() as u64);
        if n > 0 && 2 * before <= largest && self.window_to_advertise() >= 2 * before.max(1) {
            self.request_window_update();
        }
        n
    }

    pub fn readable(&self) -> usize {
        self.receiver.readable()
    }

    /// The peer sent its DATA_FIN and every byte before it was read.
    pub fn is_read_closed(&self) -> bool {
        self.receiver.is_finished()
    }

    /// Closes our sending side: the DATA_FIN follows the data written (§3.3.3).
    pub fn close(&mut self) {
        if self.closed.is_some() {
            return;
        }
        // Before the handshake ends too: the data and the DATA_FIN (or, after a
        // fallback, the FIN) follow it.
        self.sender.close();
    }

    /// Aborts the connection: MP_FASTCLOSE on every subflow's RST (§3.5).
    pub fn abort(&mut self) {
        if self.closed.is_some() {
            return;
        }
        self.fastclose = self.phase == Phase::Established;
        if self.fastclose {
            self.stats.fastclose_sent += 1;
        }
        for s in &mut self.subflows {
            s.tcp.abort();
        }
        self.finish(CloseReason::Aborted);
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closed
    }

    pub fn poll_event(&mut self) -> Option<TcpEvent> {
        self.events.pop_front()
    }

    /// The next subflow the path manager wants opened.
    pub fn poll_subflow_request(&mut self) -> Option<SubflowRequest> {
        self.requests.pop_front()
    }

    /// The connection's state in TCP's terms, for code written for TCP.
    pub fn state(&self) -> TcpState {
        if self.closed.is_some() {
            return TcpState::Closed;
        }
        if self.phase == Phase::Fallback {
            return self
                .subflows
                .first()
                .map_or(TcpState::Closed, |s| s.tcp.state());
        }
        if !self.connected {
            return if self.client {
                TcpState::SynSent
            } else {
                TcpState::SynReceived
            };
        }
        match (
            self.sender.data_fin_dsn().is_some(),
            self.receiver.data_fin_dsn().is_some(),
        ) {
            (false, false) => TcpState::Established,
            (true, false) => TcpState::FinWait1,
            (false, true) => TcpState::CloseWait,
            (true, true) => TcpState::LastAck,
        }
    }

    /// Over, with nothing left to send: the endpoint may drop it.
    pub fn is_done(&self) -> bool {
        let keeps_data =
            matches!(self.closed, Some(CloseReason::Finished)) && self.receiver.readable() > 0;
        self.closed.is_some() && !keeps_data && self.subflows.iter().all(|s| s.tcp.is_done())
    }

    pub(super) fn finish(&mut self, reason: CloseReason) {
        if self.closed.is_none() {
            self.closed = Some(reason);
            self.events.push_back(TcpEvent::Closed(reason));
        }
    }

    /// Sends a window update on one usable subflow.
    pub(super) fn request_window_update(&mut self) {
        if let Some(s) = self.subflows.iter_mut().find(|s| s.is_usable()) {
            s.tcp.request_ack();
        }
    }

    /// Sends a pure ACK on one usable subflow, for a signal that waits in `signals`
    /// (or another one that rides on segments without data).
    pub(super) fn request_signal_ack(&mut self) {
        if let Some(s) = self.subflows.iter_mut().find(|s| s.is_usable()) {
            s.tcp.request_pure_ack();
        }
    }

    /// The connection-level receive window: the free buffer space, as if the buffer
    /// were only as large as the auto-tuned target.
    fn window_to_advertise(&self) -> u64 {
        let unused = (self.receiver.capacity() as u64).saturating_sub(self.rcv_target);
        self.receiver.window().saturating_sub(unused)
    }

    /// The subflows' advertised window follows the connection-level one (§3.3.4).
    pub(super) fn update_window_limits(&mut self) {
        // In fallback too: the subflow hands its bytes to the data level at once, so
        // its own buffer is always empty and only the data level's space counts.
        let window = self.window_to_advertise();
        let limit = match self.phase {
            Phase::Established | Phase::Fallback => Some(window),
            Phase::Handshake => None,
        };
        for s in &mut self.subflows {
            s.tcp.set_window_limit(limit);
        }
    }

    /// Adds a subflow the endpoint opened for a [`SubflowRequest`]: `tcp` is in
    /// SYN-SENT and its SYN will carry MP_JOIN with `nonce`.
    pub fn add_join_subflow(
        &mut self,
        tcp: TcpConnection,
        request: &SubflowRequest,
        nonce: u32,
    ) -> SubflowId {
        let id = SubflowId(self.next_subflow);
        self.next_subflow += 1;
        let rx = self.new_mapping_receiver();
        let mut s = Subflow::new(id, tcp, Handshake::JoinSynSent { local_nonce: nonce }, rx);
        s.local_id = request.local_id;
        s.remote_id = request.remote_id;
        s.backup = request.backup;
        self.stats.subflows_opened += 1;
        self.subflows.push(s);
        id
    }

    /// The id the next subflow gets (and its congestion controller key).
    pub fn next_subflow_id(&self) -> SubflowId {
        SubflowId(self.next_subflow)
    }

    /// Adds a subflow for an MP_JOIN SYN the endpoint matched to this connection by
    /// token: `tcp` answered it, and its SYN-ACK carries our HMAC and `local_nonce`
    /// (RFC 8684 §3.2).
    pub fn accept_join(
        &mut self,
        tcp: TcpConnection,
        join: &crate::endpoint::JoinSyn,
        local_nonce: u32,
    ) -> SubflowId {
        let id = SubflowId(self.next_subflow);
        self.next_subflow += 1;
        let remote_key = self.remote_key.unwrap_or_default();
        // §3.2: HMAC(Key-B || Key-A, R-B || R-A), B being us.
        let truncated_hmac = crate::crypto::join_syn_ack_hmac(
            self.local_key.key,
            remote_key,
            local_nonce,
            join.nonce,
        );
        let local_ip = tcp.local().ip();
        let local_id = self.local_address_id(local_ip);
        let rx = self.new_mapping_receiver();
        let mut s = Subflow::new(
            id,
            tcp,
            Handshake::JoinSynAckSent {
                local_nonce,
                peer_nonce: join.nonce,
                truncated_hmac,
            },
            rx,
        );
        s.local_id = local_id;
        s.remote_id = join.addr_id;
        s.peer_backup = join.backup;
        self.subflows.push(s);
        id
    }

    /// Our address id for `ip`: 0 for the first subflow's, else the path manager
    /// endpoint's.
    fn local_address_id(&self, ip: IpAddr) -> u8 {
        if self
            .subflows
            .first()
            .is_some_and(|s| s.tcp.local().ip() == ip)
        {
            return 0;
        }
        self.config
            .path_manager
            .endpoints
            .iter()
            .find(|e| e.addr == ip)
            .map_or(0, |e| e.id)
    }

    /// Whether the path manager takes another joining subflow.
    pub fn may_accept_join(&self) -> bool {
        // Joins still in their handshake count too: several SYNs at once must not
        // overshoot the limit (they would be reset once established).
        let pending = self
            .subflows
            .iter()
            .filter(|s| matches!(s.handshake, Handshake::JoinSynAckSent { .. }))
            .filter(|s| s.tcp.state() != TcpState::Closed)
            .count();
        let limit = usize::from(self.config.path_manager.limits.subflows);
        self.pm.may_accept_join() && self.pm.extra_subflows() + pending < limit
    }

    /// Whether another subflow may be added, in either direction.
    pub fn may_add_subflow(&self) -> bool {
        self.phase == Phase::Established
            && self.closed.is_none()
            && !self.subflows_closing
            && self.subflows.len() < self.config.max_subflows
    }

    /// The application's handle on the choice of subflows.
    pub fn set_scheduler(&mut self, scheduler: Box<dyn Scheduler>) {
        self.scheduler = scheduler;
    }

    /// Marks subflows from local address id `local_id` as backup or not, and tells
    /// the peer with MP_PRIO (§3.3.8).
    pub fn set_backup(&mut self, local_id: u8, backup: bool) {
        for s in self.subflows.iter_mut().filter(|s| s.local_id == local_id) {
            if s.backup != backup {
                s.backup = backup;
                s.prio_due = true;
                s.tcp.request_pure_ack();
            }
        }
    }

    /// A local address appeared (an interface came up): the path manager may open
    /// subflows from it or announce it.
    pub fn add_local_address(&mut self, now: Instant, endpoint: crate::pm::PmEndpoint) {
        self.pm.add_local_address(now, endpoint);
        self.run_path_manager(now);
    }

    /// A local address went away: REMOVE_ADDR for it, and its subflows are reset
    /// (their data moves to the others).
    pub fn remove_local_address(&mut self, now: Instant, addr: IpAddr) {
        self.pm.remove_local_address(addr);
        self.run_path_manager(now);
    }

    /// Marks a local address as backup or not, like `ip mptcp endpoint change ADDR
    /// backup`: MP_PRIO on its subflows (§3.3.8).
    pub fn set_address_backup(&mut self, now: Instant, addr: IpAddr, backup: bool) {
        self.pm.set_backup(addr, backup);
        self.run_path_manager(now);
    }

    /// The next event of the path manager (subflows up and down, addresses announced
    /// and removed...), for a program that makes path decisions itself.
    pub fn poll_pm_event(&mut self) -> Option<crate::pm::PmEvent> {
        self.pm.poll_event()
    }

    /// Runs a command on the path manager (open a subflow, announce an address...;
    /// in `PmMode::Userspace` nothing happens otherwise) and carries out what it
    /// decided.
    pub fn pm_command<R>(
        &mut self,
        now: Instant,
        command: impl FnOnce(&mut PathManager) -> R,
    ) -> R {
        let result = command(&mut self.pm);
        self.run_path_manager(now);
        result
    }

    /// A subflow request the endpoint could not open (no free port, address family,
    /// 4-tuple in use): the path manager stops counting it.
    pub fn subflow_request_failed(&mut self, request: &SubflowRequest) {
        self.pm
            .on_subflow_closed(request.local, request.remote, true);
    }

    /// Path manager actions, carried out.
    pub(super) fn run_path_manager(&mut self, now: Instant) {
        use crate::pm::{PmAction, SubflowSelector};
        while let Some(action) = self.pm.poll_action() {
            match action {
                PmAction::OpenSubflow {
                    local,
                    remote,
                    local_id,
                    remote_id,
                    backup,
                } => {
                    if self.may_add_subflow() {
                        self.requests.push_back(SubflowRequest {
                            local,
                            remote,
                            local_id,
                            remote_id,
                            backup,
                        });
                    } else {
                        // Not opened: the path manager must not count it as pending.
                        self.pm.on_subflow_closed(local, remote, true);
                    }
                }
                PmAction::Announce { id, addr, port } => {
                    let Some(remote_key) = self.remote_key else {
                        continue;
                    };
                    let hmac = crate::crypto::add_addr_hmac(
                        self.local_key.key,
                        remote_key,
                        id,
                        addr,
                        port,
                    );
                    self.stats.add_addr_sent += 1;
                    self.signals.push_back(Signal::AddAddr(AddAddr {
                        addr_id: id,
                        addr,
                        port,
                        truncated_hmac: Some(hmac),
                    }));
                    self.request_signal_ack();
                }
                PmAction::RemoveAddress { ids } => {
                    for chunk in ids.chunks(crate::wire::mptcp::AddrIdList::CAPACITY) {
                        if let Some(addr_ids) = crate::wire::mptcp::AddrIdList::new(chunk) {
                            self.signals
                                .push_back(Signal::RemoveAddr(RemoveAddr { addr_ids }));
                        }
                    }
                    self.request_signal_ack();
                }
                PmAction::CloseSubflows { which } => {
                    let ids: Vec<SubflowId> = self
                        .subflows
                        .iter()
                        .filter(|s| match &which {
                            SubflowSelector::RemoteIds(ids) => ids.contains(&s.remote_id),
                            SubflowSelector::LocalAddr(ip) => s.tcp.local().ip() == *ip,
                            SubflowSelector::Exact { local, remote } => {
                                s.tcp.local() == *local && s.tcp.remote() == *remote
                            }
                        })
                        .map(|s| s.id)
                        .collect();
                    for id in ids {
                        self.reset_subflow(id, MpTcpRstReason::AdministrativelyProhibited);
                    }
                }
                PmAction::SetBackup { local_id, backup } => self.set_backup(local_id, backup),
            }
        }
        let _ = now;
    }

    /// Resets one subflow, moving its unacknowledged data to the others.
    pub(super) fn reset_subflow(&mut self, id: SubflowId, reason: MpTcpRstReason) {
        let Some(i) = self.index_of(id) else {
            return;
        };
        let s = &mut self.subflows[i];
        if s.tcp.state() == TcpState::Closed {
            return;
        }
        s.reset_reason = Some(reason);
        s.tcp.abort();
        self.reinject_from(i);
    }

    /// Queues everything subflow `i` carried and the peer did not DATA_ACK for
    /// another subflow (§3.3.6), once: a subflow reset and then seen ended, or timing
    /// out again, hands on only what was mapped to it since. (Queueing the same
    /// ranges again re-sent them, and past the queue's range limit the gaps between
    /// them too: other subflows' data, ahead of what was lost. With Wi-Fi going down
    /// under `braid bench handover` that put 1.2 MB of copies on cellular.)
    pub(super) fn reinject_from(&mut self, i: usize) {
        let data_una = self.sender.data_una();
        let s = &mut self.subflows[i];
        let from = std::mem::replace(&mut s.handed_on, s.tcp.bytes_written());
        let not_data_acked = |m: &&TxMapping| {
            let end = m.dsn.wrapping_add(u64::from(m.len));
            end.wrapping_sub(data_una) < 1 << 63
        };
        let mappings = s.tx.iter().filter(|m| m.offset >= from);
        let pending: Vec<(u64, u64)> = mappings
            .filter(not_data_acked)
            .map(|m| (m.dsn, u64::from(m.len)))
            .collect();
        for (dsn, len) in pending {
            self.stats.reinjected_bytes += self.sender.reinject(dsn, len);
        }
    }

    /// Takes subflows that ended out of the (shared) congestion controller, so that
    /// coupled algorithms stop counting them.
    pub(super) fn release_ended_subflows(&mut self, cc: &mut dyn CongestionControl) {
        for id in self.cc_removals.drain(..) {
            cc.remove_subflow(id);
        }
    }

    /// Time of the next timer of the path manager or any subflow.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let subflows = self.subflows.iter().filter_map(|s| s.tcp.poll_timeout());
        subflows
            .chain(self.pm.poll_timeout())
            .chain(self.data_fin_retry_at())
            .chain(self.data_rto_at)
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant, cc: &mut dyn CongestionControl) {
        for s in &mut self.subflows {
            if s.tcp.poll_timeout().is_some_and(|t| t <= now) {
                s.tcp.handle_timeout(now, cc);
            }
        }
        if self.pm.poll_timeout().is_some_and(|t| t <= now) {
            self.pm.handle_timeout(now);
        }
        if self.data_rto_at.is_some_and(|t| t <= now) {
            self.on_data_rto(now);
        }
        self.after_activity(now);
        self.release_ended_subflows(cc);
    }
}

impl TcpStats {
    /// Adds another connection's counters to these.
    pub fn accumulate(&mut self, other: &TcpStats) {
        let TcpStats {
            segments_sent,
            segments_received,
            bytes_sent,
            bytes_retransmitted,
            bytes_received,
            retransmitted_segments,
            fast_recoveries,
            timeouts,
            zero_window_probes,
            keepalive_probes,
            challenge_acks,
            paws_drops,
            unacceptable_segments,
            rtt_samples,
            dsack_received,
        } = *other;
        self.segments_sent += segments_sent;
        self.segments_received += segments_received;
        self.bytes_sent += bytes_sent;
        self.bytes_retransmitted += bytes_retransmitted;
        self.bytes_received += bytes_received;
        self.retransmitted_segments += retransmitted_segments;
        self.fast_recoveries += fast_recoveries;
        self.timeouts += timeouts;
        self.zero_window_probes += zero_window_probes;
        self.keepalive_probes += keepalive_probes;
        self.challenge_acks += challenge_acks;
        self.paws_drops += paws_drops;
        self.unacceptable_segments += unacceptable_segments;
        self.rtt_samples += rtt_samples;
        self.dsack_received += dsack_received;
    }
}
