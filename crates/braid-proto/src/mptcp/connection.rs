//! [`MptcpConnection`]: one byte stream over a set of subflows (RFC 8684), composed
//! of the parts listed in [`super`]. This file is where they meet: segments in,
//! segments out, timers, the reactions that follow each, and the application's
//! stream calls.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use crate::cc::CongestionControl;
use crate::crypto;
use crate::mptcp::config::MptcpConfig;
use crate::mptcp::data::{DataReceiver, DataSender};
use crate::mptcp::data_level::{DataLevel, DeliveryOutcome, DeliverySink};
use crate::mptcp::events::MptcpEvent;
use crate::mptcp::handshake::{self, Keys};
use crate::mptcp::keys::LocalKey;
use crate::mptcp::lifecycle::Lifecycle;
use crate::mptcp::mapping::{mp_capable_mapping, MappingConfig, MappingReceiver};
use crate::mptcp::options::SegmentOptions;
use crate::mptcp::scheduling::{ScheduleState, Scheduled, Scheduling, MAX_CHUNKS_PER_POLL};
use crate::mptcp::signals::Signals;
use crate::mptcp::state::{ConnState, FallbackCause, KeyEcho, Phase};
use crate::mptcp::stats::MptcpStats;
use crate::mptcp::subflow::{Handshake, Subflow};
use crate::mptcp::subflows::SubflowSet;
use crate::mptcp::writer::{self, ConnectionView, SegmentView, SubflowView};
use crate::pm::{PathManager, PmAction, Role, SubflowSelector};
use crate::sched::sharing::PathState;
use crate::sched::Scheduler;
use crate::tcp::{
    emit_segment, CloseReason, SegmentIn, SegmentVerdict, SubflowId, TcpConnection, TcpEvent,
    TcpState, TcpStats,
};
use crate::time::{Duration, Instant};
use crate::wire::mptcp::{AddAddr, DssMapping, MpTcpRstReason, SeqField};
use crate::wire::tcp_option::TcpOption;

/// What buffer auto-tuning adds to twice a round trip's bytes, in segments: Linux's
/// tcp_rcv_space_adjust adds 16 × advmss the same way.
const AUTOTUNE_HEADROOM_SEGMENTS: u64 = 16;

/// The data-level timer's base when no subflow is usable to give an RTO: RFC
/// 6298's initial RTO.
const DATA_TIMER_BASE_WITHOUT_RTT: Duration = Duration::from_secs(1);

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

/// One MPTCP connection.
#[derive(Debug)]
pub struct MptcpConnection {
    config: MptcpConfig,
    client: bool,
    /// The first subflow's addresses: the connection's, as the application knows
    /// it, whichever subflows come and go.
    addresses: (SocketAddr, SocketAddr),
    /// Subflows' TCP settings (Nagle is applied at the data level).
    nagle: bool,
    local_key: LocalKey,
    /// DSS checksums in use (either side asked, §3.1).
    checksums: bool,
    state: ConnState,
    subflows: SubflowSet,
    data: DataLevel,
    signals: Signals,
    scheduling: Scheduling,
    pm: PathManager,
    /// Subflows the path manager wants opened, for the endpoint.
    requests: VecDeque<SubflowRequest>,
    lifecycle: Lifecycle,
    events: VecDeque<MptcpEvent>,
    stats: MptcpStats,
    /// Subflows that ended, to be taken out of the (shared) congestion controller.
    cc_removals: Vec<SubflowId>,
    /// 4-tuples of subflows removed, for the endpoint to forget.
    released: Vec<(SocketAddr, SocketAddr)>,
    /// Why the last subflow that failed did: the connection's reason if no subflow
    /// comes back.
    last_failure: Option<CloseReason>,
    /// Retransmission timeouts of our first SYN (an active open's), for the fallback
    /// to plain SYNs.
    syn_timeouts: u32,
    /// The peer's SYN-ACK had the C flag (§3.1): it takes no subflow to the address
    /// and port the first subflow goes to.
    no_joins_to_peer_initial_address: bool,
}

/// The data-level receiver for a peer with `idsn`. Out-of-order ranges are the norm
/// at data level (each subflow fills its own stretch of the sequence space, the slow
/// one behind), so the cap on them follows the buffer: one range per few segments'
/// worth of it, never fewer than a subflow's.
fn data_receiver(idsn: u64, capacity: usize) -> DataReceiver {
    /// Bytes of buffer per out-of-order range allowed.
    const BYTES_PER_RANGE: usize = 4096;
    let ranges = (capacity / BYTES_PER_RANGE).max(crate::tcp::recv_buffer::DEFAULT_MAX_RANGES);
    DataReceiver::with_max_ranges(idsn, capacity, ranges)
}

impl MptcpConnection {
    fn new(
        config: MptcpConfig,
        client: bool,
        local_key: LocalKey,
        tcp: TcpConnection,
        initial_window: u64,
        checksums: bool,
    ) -> Self {
        let send_capacity = tcp.config().send_buffer;
        let recv_capacity = tcp.config().recv_buffer;
        let role = if client { Role::Client } else { Role::Server };
        let pm = PathManager::new(config.path_manager.clone(), role, tcp.local(), tcp.remote());
        let rx = MappingReceiver::new(MappingConfig::for_receive_window(checksums, recv_capacity));
        let path = PathState::new(&config.sharing);
        let mut sender = DataSender::new(local_key.idsn, send_capacity, initial_window);
        if !config.send_autotune {
            sender.grow_capacity(send_capacity);
        }
        // Replaced once the peer's key, and so its IDSN, is known.
        let receiver = data_receiver(0, recv_capacity);
        let rcv_target = config
            .initial_window
            .unwrap_or(recv_capacity)
            .min(recv_capacity) as u64;
        let addresses = (tcp.local(), tcp.remote());
        let nagle = tcp.config().nagle;
        let mut first = Subflow::new(SubflowId(0), tcp, Handshake::Capable, rx, path);
        // A passive open's first subflow completed its TCP handshake before the
        // connection existed: that is the third ACK, which `complete_passive_open`
        // handles; what else the segment brought (data, a FIN) stays news.
        first.take_tcp_events();
        first.news.connected = false;
        let mut events = VecDeque::new();
        events.push_back(MptcpEvent::SubflowOpened {
            subflow: SubflowId(0),
        });
        MptcpConnection {
            client,
            addresses,
            nagle,
            local_key,
            checksums,
            state: ConnState::Handshake,
            subflows: SubflowSet::new(first),
            data: DataLevel::new(sender, receiver, rcv_target),
            signals: Signals::default(),
            scheduling: Scheduling::new(config.scheduler.build(), config.sharing),
            pm,
            requests: VecDeque::new(),
            lifecycle: Lifecycle::new(),
            events,
            stats: MptcpStats::default(),
            cc_removals: Vec::new(),
            released: Vec::new(),
            last_failure: None,
            syn_timeouts: 0,
            no_joins_to_peer_initial_address: false,
            config,
        }
    }

    /// An active open: `tcp` is the first subflow, in SYN-SENT; its SYN will carry
    /// MP_CAPABLE.
    pub fn connect(config: MptcpConfig, local_key: LocalKey, tcp: TcpConnection) -> Self {
        let checksums = config.checksums;
        Self::new(config, true, local_key, tcp, 0, checksums)
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
        let checksums = config.checksums || peer_wants_checksums;
        Self::new(config, false, local_key, tcp, syn_window, checksums)
    }

    // ---- Segments in -------------------------------------------------------------

    /// Handles one segment of subflow `id`, whose MPTCP options the endpoint parsed.
    pub fn handle_segment(
        &mut self,
        now: Instant,
        id: SubflowId,
        seg: &SegmentIn<'_>,
        options: &SegmentOptions,
        cc: &mut dyn CongestionControl,
    ) -> SegmentVerdict {
        let Some(s) = self.subflows.get_mut(id) else {
            return SegmentVerdict::Accepted;
        };
        let was_synchronized = s.tcp.state().is_synchronized();
        let verdict = s.tcp.handle_segment(now, seg, cc);
        s.take_tcp_events();
        let connected = std::mem::take(&mut s.news.connected);
        let acked_data = s.news.acked;
        // What TCP did not accept (out of window, PAWS, challenge ACK...) carries no
        // MPTCP signal either: RFC 8684 §3.4.2, §5 and RFC 5961.
        if verdict.accepted() {
            if seg.flags.rst() {
                // §3.5, §3.6, only on a RST exactly at RCV.NXT (RFC 5961 §3.2).
                self.on_reset_options(id, options);
            } else if self.lifecycle.is_closed() {
                self.acknowledge_data_fin_again(id, options);
            } else {
                self.on_accepted_segment(
                    now,
                    id,
                    seg,
                    options,
                    connected,
                    was_synchronized,
                    acked_data,
                );
            }
        }
        self.settle(now);
        self.release_ended_subflows(cc);
        verdict
    }

    /// The MPTCP side of a segment TCP accepted: the handshakes, the options'
    /// signals, and the subflow's new in-order bytes.
    #[allow(clippy::too_many_arguments)]
    fn on_accepted_segment(
        &mut self,
        now: Instant,
        id: SubflowId,
        seg: &SegmentIn<'_>,
        options: &SegmentOptions,
        connected: bool,
        was_synchronized: bool,
        acked_data: bool,
    ) {
        let Some(s) = self.subflows.get_mut(id) else {
            return;
        };
        if connected {
            match s.handshake {
                Handshake::Capable if self.client => self.on_syn_ack(now, id, options),
                Handshake::JoinSynSent { .. } => self.on_syn_ack(now, id, options),
                _ => self.on_third_ack(now, id, options),
            }
        } else if let Handshake::JoinAckSent { .. } = s.handshake {
            if !seg.flags.syn() && s.tcp.state().is_synchronized() {
                // RFC 8684 §3.2: the fourth ACK; the subflow may carry data.
                s.handshake = Handshake::Joined;
                self.join_established(id);
            }
        } else if s.handshake == Handshake::Joined
            && matches!(options.join, Some(crate::wire::mptcp::MpJoin::Ack { .. }))
        {
            // §3.2: the initiator repeats its third ACK until our fourth ACK comes
            // through: that one was lost.
            s.tcp.request_ack();
        } else if self.state.is_established()
            && was_synchronized
            && !seg.flags.syn()
            && !options.any()
        {
            self.options_missing(id, !seg.payload.is_empty(), acked_data);
        }
        if self.subflows.get(id).is_some() {
            self.on_signals(now, id, options, seg);
            self.drain(id, seg, options);
        }
    }

    /// The endpoint made this connection on the third ACK of its first subflow
    /// (whose TCP already took the segment): the segment's MPTCP options and data are
    /// handled as if the connection had existed since the SYN.
    pub fn complete_passive_open(
        &mut self,
        now: Instant,
        seg: &SegmentIn<'_>,
        options: &SegmentOptions,
    ) {
        let first = SubflowId(0);
        self.events
            .push_back(MptcpEvent::SubflowEstablished { subflow: first });
        self.on_third_ack(now, first, options);
        self.on_signals(now, first, options, seg);
        self.drain(first, seg, options);
        self.settle(now);
    }

    /// Whether the peer may not have MPTCP after all: a client before the server
    /// showed it has our key (its first DSS or ADD_ADDR, RFC 8684 §3.1). Until then a
    /// server whose third ACK lost its MP_CAPABLE answers as plain TCP, and that is
    /// fallback, not interference (Linux: "fully established").
    fn may_fall_back_on_missing_options(&self) -> bool {
        self.client && self.state.is_established() && !self.state.keys_acked()
    }

    /// RFC 8684 §3.7: once MPTCP runs, every segment carries an MPTCP option (Linux
    /// puts a DSS on each). An accepted segment without any, on the first subflow of
    /// a client whose server has not shown it has our key, means the server fell
    /// back (its third ACK lost MP_CAPABLE): so do we, when the segment carries data,
    /// acknowledges ours, or answers while our DATA_FIN waits for its DATA_ACK (an
    /// empty request). Anywhere else, data without options is a middlebox
    /// stripping them, and following the stream from there could put the peer's
    /// data-level retransmissions in the wrong place: the subflow is reset. Pure
    /// ACKs without options are ignored: a forged one would otherwise turn the
    /// connection into plain TCP.
    fn options_missing(&mut self, id: SubflowId, with_data: bool, acked_data: bool) {
        let first = id == SubflowId(0);
        let our_fin_waits = self.data.data_fin_owed().is_some();
        if first
            && self.may_fall_back_on_missing_options()
            && self.subflows.alone(id)
            && (with_data || acked_data || our_fin_waits)
        {
            self.stats.fallback_no_dss += 1;
            self.fall_back(FallbackCause::NoDss);
        } else if with_data {
            self.stats.middlebox_resets += 1;
            self.reset_subflow(id, MpTcpRstReason::MiddleboxInterference);
        }
    }

    /// MP_FASTCLOSE and MP_TCPRST ride on RSTs.
    fn on_reset_options(&mut self, id: SubflowId, options: &SegmentOptions) {
        if options
            .fastclose
            .is_some_and(|f| f.receiver_key == self.local_key.key)
        {
            self.on_fastclose();
        }
        if let Some(r) = options.tcprst {
            self.stats.mp_tcprst_received += 1;
            if let Some(s) = self.subflows.get_mut(id) {
                s.peer_reset_reason = Some(r.reason);
                s.peer_reset_transient = r.flags.transient();
            }
        }
    }

    /// RFC 8684 §3.5: the peer gave up on the connection; every subflow is reset.
    fn on_fastclose(&mut self) {
        self.stats.fastclose_received += 1;
        for s in self.subflows.iter_mut() {
            s.tcp.abort();
        }
        self.lifecycle.finish(CloseReason::Reset, false);
    }

    /// The connection's keys, once the peer's is known.
    fn keys(&self) -> Option<Keys> {
        self.state.remote_key().map(|remote| Keys {
            local: self.local_key.key,
            remote,
        })
    }

    /// The SYN-ACK of a subflow we opened.
    fn on_syn_ack(&mut self, now: Instant, id: SubflowId, options: &SegmentOptions) {
        let Some(s) = self.subflows.get(id) else {
            return;
        };
        match s.handshake {
            Handshake::Capable => {
                self.events
                    .push_back(MptcpEvent::SubflowEstablished { subflow: id });
                if self.state.is_fallback() {
                    // Our last SYNs went without MP_CAPABLE (`on_syn_timeout`): plain
                    // TCP, even if this SYN-ACK answers an earlier SYN with it; our
                    // third ACK without it makes the server fall back too (§3.1).
                    self.lifecycle.connected();
                    return;
                }
                match handshake::syn_ack_capable(options) {
                    Some(reply) => {
                        // RFC 8684 §3.1: checksums are used if either host asks.
                        self.checksums |= reply.checksums;
                        self.no_joins_to_peer_initial_address = reply.no_joins_to_source;
                        self.keys_known(now, reply.key);
                    }
                    None => {
                        // §3.1: no MP_CAPABLE on the SYN-ACK: plain TCP.
                        self.stats.fallback_no_mp_capable += 1;
                        self.fall_back(FallbackCause::NoMpCapable);
                    }
                }
            }
            Handshake::JoinSynSent { local_nonce } => {
                let verified = self
                    .keys()
                    .and_then(|keys| handshake::verify_join_syn_ack(options, keys, local_nonce));
                match verified {
                    Some(reply) => {
                        let s = self.subflows.get_mut(id).expect("found above");
                        s.peer_backup = reply.backup;
                        s.remote_id = reply.addr_id;
                        s.handshake = Handshake::JoinAckSent {
                            hmac: reply.third_ack_hmac,
                            resend_at: now + s.tcp.rto(),
                            resends: 0,
                        };
                    }
                    None => {
                        // §3.2: a SYN-ACK whose HMAC does not verify ends the subflow
                        // with a RST; no MP_JOIN at all is the same failure.
                        self.stats.bad_join_hmacs += 1;
                        let s = self.subflows.get(id).expect("found above");
                        tracing::debug!(
                            local = %s.tcp.local(),
                            remote = %s.tcp.remote(),
                            "MP_JOIN SYN-ACK without a valid HMAC: subflow reset"
                        );
                        self.reset_subflow(id, MpTcpRstReason::MptcpSpecific);
                    }
                }
            }
            _ => {}
        }
    }

    /// The third ACK of a subflow we accepted.
    fn on_third_ack(&mut self, now: Instant, id: SubflowId, options: &SegmentOptions) {
        let Some(s) = self.subflows.get(id) else {
            return;
        };
        match s.handshake {
            Handshake::Capable => match handshake::third_ack_key(options, self.local_key.key) {
                Some(remote_key) => self.keys_known(now, remote_key),
                None => {
                    // §3.1: a third ACK without MP_CAPABLE means a middlebox in the
                    // way: continue as plain TCP.
                    self.stats.fallback_no_mp_capable += 1;
                    self.fall_back(FallbackCause::NoMpCapable);
                }
            },
            Handshake::JoinSynAckSent {
                local_nonce,
                peer_nonce,
                ..
            } => {
                let verified = self.keys().is_some_and(|keys| {
                    handshake::verify_join_third_ack(options, keys, peer_nonce, local_nonce)
                });
                if verified {
                    let s = self.subflows.get_mut(id).expect("found above");
                    s.handshake = Handshake::Joined;
                    // The fourth ACK tells the initiator the subflow is ready.
                    s.tcp.request_ack();
                    self.join_established(id);
                } else {
                    self.stats.bad_join_hmacs += 1;
                    tracing::debug!(
                        local = %s.tcp.local(),
                        remote = %s.tcp.remote(),
                        "MP_JOIN third ACK without a valid HMAC: subflow reset"
                    );
                    self.reset_subflow(id, MpTcpRstReason::MptcpSpecific);
                }
            }
            _ => {}
        }
    }

    fn join_established(&mut self, id: SubflowId) {
        let Some(s) = self.subflows.get(id) else {
            return;
        };
        let (local, remote, local_id, remote_id) =
            (s.tcp.local(), s.tcp.remote(), s.local_id, s.remote_id);
        if !self.client {
            self.stats.joins_accepted += 1;
        }
        self.events
            .push_back(MptcpEvent::SubflowEstablished { subflow: id });
        self.pm
            .on_subflow_established(local, remote, local_id, remote_id);
    }

    /// Both keys are known: MPTCP is on (§3.1).
    fn keys_known(&mut self, now: Instant, remote_key: u64) {
        self.state = ConnState::Established {
            remote_key,
            key_echo: if self.client {
                KeyEcho::Unsent
            } else {
                KeyEcho::Acked
            },
        };
        let capacity = self.data.receiver.capacity();
        self.data.receiver = data_receiver(crypto::idsn(remote_key), capacity);
        let rx = self.new_mapping_receiver();
        if let Some(first) = self.subflows.first_mut() {
            first.rx = rx;
            let window = first.tcp.peer_window();
            let una = self.data.sender.data_una();
            self.data.sender.on_data_ack(una, window);
        }
        self.lifecycle.connected();
        self.events.push_back(MptcpEvent::Established);
        if !self.client {
            self.pm.on_established(now);
        }
    }

    fn new_mapping_receiver(&self) -> MappingReceiver {
        MappingReceiver::new(MappingConfig::for_receive_window(
            self.checksums,
            self.data.receiver.capacity(),
        ))
    }

    /// Falls back to plain TCP on the first subflow (§3.7): its bytes are the
    /// stream from where the data level stands.
    /// The stream cannot go on safely: every subflow is reset and the connection
    /// ends in error.
    fn protocol_failure(&mut self) {
        for id in self.subflows.ids() {
            self.reset_subflow(id, MpTcpRstReason::MptcpSpecific);
        }
        self.lifecycle.finish(CloseReason::ProtocolError, false);
    }

    fn fall_back(&mut self, cause: FallbackCause) {
        if self.state.is_fallback() {
            return;
        }
        if self.subflows.first().is_none() {
            // Only the first subflow can carry a plain TCP stream.
            self.protocol_failure();
            return;
        }
        let was_established = self.state.fall_back(cause);
        self.stats.fallbacks += 1;
        self.events.push_back(MptcpEvent::Fallback { cause });
        self.checksums = false;
        // Only one subflow can carry a plain TCP stream.
        for id in self.subflows.ids().into_iter().skip(1) {
            self.reset_subflow(id, MpTcpRstReason::MiddleboxInterference);
        }
        if !was_established {
            // Otherwise the peer's bytes keep their mappings until it falls back
            // too; from the first unmapped byte on, they continue the stream (see
            // `drain`).
            let capacity = self.data.receiver.capacity();
            self.data.receiver = data_receiver(0, capacity);
            let first = self.subflows.first_mut().expect("checked above");
            first.rx = MappingReceiver::new(MappingConfig::for_receive_window(false, capacity));
            let window = first.tcp.peer_window();
            self.anchor_plain_tcp(0, 1);
            let una = self.data.sender.data_una();
            self.data.sender.on_data_ack(una, window);
        }
        let syn_sent = self
            .subflows
            .first()
            .is_some_and(|s| s.tcp.state() == TcpState::SynSent);
        if !syn_sent {
            // Before the SYN-ACK (plain SYNs, `on_syn_timeout`) the connection works
            // once it comes.
            self.lifecycle.connected();
        }
    }

    /// RFC 8684 §3.7: a middlebox may drop SYNs that carry options it does not
    /// know. After [`MptcpConfig::syn_retransmissions_before_fallback`] MP_CAPABLE
    /// SYNs went unanswered, the connection falls back before its SYN-ACK: the next
    /// SYNs go without MP_CAPABLE, as Linux's do.
    fn on_syn_timeout(&mut self) {
        self.syn_timeouts += 1;
        let Some(limit) = self.config.syn_retransmissions_before_fallback else {
            return;
        };
        let syn_sent = self
            .subflows
            .first()
            .is_some_and(|s| s.tcp.state() == TcpState::SynSent);
        if self.syn_timeouts > limit && syn_sent && self.state.phase() == Phase::Handshake {
            self.stats.fallback_syn_unanswered += 1;
            tracing::debug!(
                local = %self.addresses.0,
                remote = %self.addresses.1,
                syns = self.syn_timeouts,
                "MP_CAPABLE SYNs unanswered: plain SYNs from now on"
            );
            self.fall_back(FallbackCause::SynUnanswered);
        }
    }

    /// Maps the first subflow's bytes from relative sequence number `ssn` on to the
    /// stream from `dsn`: the implicit infinite mapping of plain TCP (§3.7).
    fn anchor_plain_tcp(&mut self, ssn: u32, dsn: u64) {
        let Some(s) = self.subflows.first_mut() else {
            return;
        };
        if s.rx.is_fallback() {
            return;
        }
        let infinite = DssMapping {
            dsn: SeqField::U64(dsn),
            ssn,
            data_level_length: 0,
            // With checksums negotiated the field is there, zero (§3.7).
            checksum: s.rx.config().checksums.then_some(0),
        };
        let mut sink = DeliverySink::new(&mut self.data.receiver, &mut self.stats);
        let result =
            s.rx.on_mapping(&infinite, false, dsn, &mut |d| sink.accept(d));
        if result.is_err() || sink.outcome.protocol_error {
            self.stats.protocol_errors += 1;
        }
    }

    /// DSS, ADD_ADDR, REMOVE_ADDR, MP_PRIO, MP_FAIL and MP_FASTCLOSE on a segment.
    fn on_signals(
        &mut self,
        now: Instant,
        id: SubflowId,
        options: &SegmentOptions,
        seg: &SegmentIn<'_>,
    ) {
        if let (ConnState::Fallback { cause, .. }, Some(f)) = (self.state, options.fail) {
            if cause == FallbackCause::Checksum {
                // §3.7: the peer did not get our answer to its MP_FAIL.
                self.stats.mp_fail_received += 1;
                self.signals.answer_fail(f.dsn);
                self.request_signal_ack();
            }
        }
        let ConnState::Established {
            remote_key,
            key_echo,
        } = self.state
        else {
            return;
        };
        if key_echo != KeyEcho::Acked && (options.dss.is_some() || options.add_addr.is_some()) {
            // The server has our keys (§3.1: stop repeating them), and joins will
            // find the connection: Linux, too, waits for this before opening
            // subflows. An ADD_ADDR's HMAC needs our key.
            self.state.set_key_echo(KeyEcho::Acked);
            self.pm.on_established(now);
        }
        if let Some(c) = options.capable {
            // §3.1: the first data may come with MP_CAPABLE instead of a DSS.
            if let crate::wire::mptcp::MpCapableVariant::AckWithData {
                sender_key,
                data_level_length,
                checksum,
                ..
            } = c.variant
            {
                if sender_key == remote_key && id == SubflowId(0) {
                    let mapping =
                        mp_capable_mapping(crypto::idsn(remote_key), data_level_length, checksum);
                    self.deliver_mapping(id, &mapping, false);
                }
            }
        }
        if let Some(dss) = options.dss {
            if let Some(ack) = dss.data_ack {
                let ack = match ack {
                    SeqField::U64(v) => v,
                    SeqField::U32(low) => crate::seq::widen(low, self.data.sender.data_una()),
                };
                if let Some(s) = self.subflows.get(id) {
                    let window = s.tcp.scaled_window(seg);
                    self.data.sender.on_data_ack(ack, window);
                }
            }
            if let Some(mapping) = dss.mapping {
                self.deliver_mapping(id, &mapping, dss.data_fin);
            }
            if dss.data_fin && seg.payload.is_empty() {
                // §3.3.3: a DATA_FIN is acknowledged at the data level. TCP does
                // not acknowledge a segment without data, so we ask for the ACK
                // that carries the DATA_ACK, for a repeat too (ours may be lost).
                if let Some(s) = self.subflows.get_mut(id) {
                    s.tcp.request_ack();
                }
            }
        }
        if let Some(a) = options.add_addr {
            self.on_add_addr(now, a, remote_key);
        }
        if let Some(r) = options.remove_addr {
            self.stats.remove_addr_received += 1;
            for &addr_id in r.addr_ids.as_slice() {
                self.events
                    .push_back(MptcpEvent::AddressRemoved { id: addr_id });
            }
            self.pm.on_remove_addr(r.addr_ids.as_slice());
        }
        if let Some(p) = options.prio {
            // §3.3.8: the peer wants this subflow used as a backup, or not.
            self.stats.mp_prio_received += 1;
            if let Some(s) = self.subflows.get_mut(id) {
                s.peer_backup = p.backup;
                self.events.push_back(MptcpEvent::PeerPriority {
                    subflow: id,
                    backup: p.backup,
                });
            }
        }
        if let Some(f) = options.fail {
            self.stats.mp_fail_received += 1;
            self.on_mp_fail(id, f.dsn);
        }
        if options
            .fastclose
            .is_some_and(|f| f.receiver_key == self.local_key.key)
        {
            self.on_fastclose();
        }
    }

    fn on_add_addr(&mut self, now: Instant, a: AddAddr, remote_key: u64) {
        match a.truncated_hmac {
            Some(hmac) => {
                // §3.4.1: the HMAC is keyed by the announcer's key first.
                let expected = crypto::add_addr_hmac(
                    remote_key,
                    self.local_key.key,
                    a.addr_id,
                    a.addr,
                    a.port,
                );
                if hmac != expected {
                    self.stats.add_addr_bad_hmac += 1;
                    return;
                }
                self.stats.add_addr_received += 1;
                self.events.push_back(MptcpEvent::AddressAnnounced {
                    id: a.addr_id,
                    addr: a.addr,
                    port: a.port,
                });
                self.pm.on_add_addr(now, a.addr_id, a.addr, a.port);
                self.signals.echo(a);
                self.request_signal_ack();
            }
            None => {
                self.stats.add_addr_echoes_received += 1;
                self.pm.on_add_addr_echo(a.addr_id);
            }
        }
    }

    fn deliver_mapping(&mut self, id: SubflowId, mapping: &DssMapping, data_fin: bool) {
        let Some(s) = self.subflows.get_mut(id) else {
            return;
        };
        let reference = self.data.receiver.data_ack();
        let mut sink = DeliverySink::new(&mut self.data.receiver, &mut self.stats);
        let result =
            s.rx.on_mapping(mapping, data_fin, reference, &mut |d| sink.accept(d));
        let mut outcome = sink.outcome;
        outcome.protocol_error |= result.is_err();
        self.after_delivery(id, outcome);
    }

    /// Moves the subflow's in-order bytes to the data level.
    fn drain(&mut self, id: SubflowId, seg: &SegmentIn<'_>, options: &SegmentOptions) {
        let mut scratch = self.data.take_scratch();
        let Some(s) = self.subflows.get_mut(id) else {
            self.data.put_scratch(scratch);
            return;
        };
        let mut sink = DeliverySink::new(&mut self.data.receiver, &mut self.stats);
        let result = s.drain(&mut scratch, &mut |d| sink.accept(d));
        let mut outcome = sink.outcome;
        outcome.protocol_error |= result.is_err();
        self.data.put_scratch(scratch);
        // §3.7: data with no mapping while no mapping covers it, on the first
        // subflow of a client whose server has not shown it has our key: the server
        // answers as plain TCP. Elsewhere the bytes wait for their mapping (within
        // the mapping receiver's bounds).
        let held = self.subflows.get(id).map_or(0, |s| s.rx.held_bytes());
        if self.may_fall_back_on_missing_options()
            && id == SubflowId(0)
            && !seg.payload.is_empty()
            && !options.maps_data()
            && held > 0
            && self.subflows.alone(id)
        {
            self.stats.fallback_no_dss += 1;
            self.fall_back(FallbackCause::NoDss);
        }
        let anchor = self
            .subflows
            .first()
            .filter(|first| self.state.is_fallback() && id == first.id)
            .filter(|first| {
                // Bytes without a mapping, or the peer's FIN after every mapped byte
                // (we fell back, on the peer's MP_FAIL say, while it sent nothing):
                // either way plain TCP continues where the data level stands.
                first.rx.waiting_for_mapping()
                    || (first.fin_pending() && first.rx.held_bytes() == 0)
            })
            .map(|first| {
                first
                    .rx
                    .next_ssn()
                    .wrapping_sub(first.rx.held_bytes() as u32)
            });
        if let Some(ssn) = anchor {
            // After our fallback the peer's bytes run on without mappings: they
            // continue the stream where the data level stands.
            let dsn = self.data.receiver.data_ack();
            self.anchor_plain_tcp(ssn, dsn);
        }
        if let Some(s) = self.subflows.get_mut(id) {
            let mut sink = DeliverySink::new(&mut self.data.receiver, &mut self.stats);
            let result = s.drain_fin(&mut |d| sink.accept(d));
            outcome.merge(sink.outcome);
            outcome.protocol_error |= result.is_err();
        }
        self.after_delivery(id, outcome);
    }

    fn after_delivery(&mut self, id: SubflowId, outcome: DeliveryOutcome) {
        if outcome.infinite_mapping {
            if outcome.infinite_mapping_gap || id != SubflowId(0) || self.subflows.ever_joined() {
                // §3.7: only the first subflow of a connection that never had
                // another can continue as plain TCP, from where the data stands.
                self.stats.protocol_errors += 1;
                self.protocol_failure();
                return;
            }
            // §3.7: the peer fell back; so do we. It answers our MP_FAIL too.
            self.signals.mp_fail_answered();
            self.fall_back(FallbackCause::InfiniteMapping);
        }
        if let Some(dsn) = outcome.checksum_failed_at {
            self.on_bad_checksum(id, dsn);
        } else if outcome.protocol_error {
            self.stats.protocol_errors += 1;
            self.reset_subflow(id, MpTcpRstReason::MptcpSpecific);
        }
    }

    /// Whether the stream could still continue as plain TCP on one subflow (RFC 8684
    /// §3.7): the connection never had another subflow, and nothing was sent twice
    /// at the data level (the subflow's bytes are then the stream in order). Linux
    /// has the same rule ("allow_infinite_fallback").
    fn infinite_fallback_allowed(&self) -> bool {
        !self.subflows.ever_joined()
            && self.stats.reinjected_bytes == 0
            && self.stats.opportunistic_bytes == 0
    }

    /// RFC 8684 §3.7: a mapping we received failed its checksum. With other subflows
    /// the bad one is reset (MP_TCPRST "middlebox interference"). Alone, we send
    /// MP_FAIL with the failed mapping's DSN and discard what follows until the
    /// peer's infinite mapping says where plain TCP resumes; if the connection ever
    /// had another subflow it cannot fall back, and the subflow is reset instead.
    fn on_bad_checksum(&mut self, id: SubflowId, dsn: u64) {
        if self.subflows.alone(id) && !self.subflows.ever_joined() {
            self.signals.fail(dsn);
            self.stats.mp_fail_sent += 1;
            self.request_signal_ack();
        } else {
            self.reset_subflow(id, MpTcpRstReason::MiddleboxInterference);
        }
    }

    /// RFC 8684 §3.7: the peer's checksum of our mapping at `dsn` failed. If the
    /// stream can fall back, we answer with MP_FAIL (Linux waits for it, and resets
    /// the subflow without it), send everything from `dsn` again behind an infinite
    /// mapping and continue as plain TCP. Otherwise (other subflows, or data sent
    /// twice, which the subflow's bytes could not express in order) the subflow is
    /// reset and its data goes to the others.
    fn on_mp_fail(&mut self, id: SubflowId, dsn: u64) {
        if self.signals.awaiting_fail_answer() {
            // The answer to our own MP_FAIL: nothing more to do than for the
            // infinite mapping that comes with it.
            self.signals.mp_fail_answered();
            return;
        }
        // The failed mapping lies in what was sent and not acknowledged.
        let unacked = dsn.wrapping_sub(self.data.sender.data_una()) < 1 << 63;
        let sent = dsn.wrapping_sub(self.data.sender.data_nxt()) >= 1 << 63;
        if self.subflows.alone(id) && self.infinite_fallback_allowed() && unacked && sent {
            self.stats.fallback_checksum += 1;
            self.signals.answer_fail(dsn);
            self.request_signal_ack();
            let end = self.data.sender.data_nxt();
            let queued = self.data.sender.reinject(dsn, end.wrapping_sub(dsn));
            self.reinjected(queued);
            self.signals.infinite_mapping();
        } else {
            self.reset_subflow(id, MpTcpRstReason::MiddleboxInterference);
        }
    }

    // ---- Segments out ------------------------------------------------------------

    /// Writes the next IP packet of any subflow into `buf` and returns its length.
    /// `options` is scratch space, kept by the caller to avoid allocating.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        cc: &mut dyn CongestionControl,
        options: &mut Vec<TcpOption<'static>>,
        buf: &mut [u8],
    ) -> Option<usize> {
        self.schedule(now, cc);
        self.update_window_limits();
        if self.state.is_fallback() && self.data.sender.data_fin_ready() {
            // Plain TCP: the application's close is the subflow's FIN, even when
            // nothing else happens on the connection any more.
            if let Some(first) = self.subflows.first_mut() {
                first.tcp.close();
            }
        }
        if self.state.is_established()
            && self.data.data_fin_sent_at().is_none()
            && self.data.data_fin_owed().is_some()
        {
            // The application closed since the last segment: pure ACKs carry the
            // DATA_FIN.
            self.send_data_fin();
        }
        let view = ConnectionView {
            fallback: self.state.is_fallback(),
            client: self.client,
            key_echo: self.state.key_echo(),
            checksums: self.checksums,
            local_key: self.local_key.key,
            local_idsn: self.local_key.idsn,
            remote_key: self.state.remote_key(),
            data_ack: self.data.receiver.data_ack(),
            // After a fallback the subflow's FIN ends the stream.
            data_fin: self
                .data
                .data_fin_owed()
                .filter(|_| self.state.is_established()),
            fastclose: self.lifecycle.fastclose(),
            signal: self.signals.next_address_signal(),
            mp_fail: self.signals.mp_fail_due(now, self.signal_rto()),
        };
        let order: Vec<SubflowId> = self.subflows.transmit_order().collect();
        for id in order {
            let s = self.subflows.get_mut(id).expect("listed above");
            let (local, remote) = (s.tcp.local(), s.tcp.remote());
            let Some(seg) = s.tcp.poll_transmit(now, cc) else {
                continue;
            };
            options.clear();
            seg.options.to_options(options);
            let subflow = SubflowView {
                handshake: s.handshake,
                tx: &s.tx,
                backup: s.backup,
                local_id: s.local_id,
                prio_due: s.prio_due,
                reset_reason: s.reset_reason,
                first: id == SubflowId(0),
            };
            let segment = SegmentView {
                syn: seg.flags.syn(),
                ack: seg.flags.ack(),
                rst: seg.flags.rst(),
                payload_len: seg.payload_len(),
                stream_offset: seg.stream_offset,
            };
            let taken = writer::write_options(&view, &subflow, &segment, options);
            let len = emit_segment(buf, local, remote, &seg, options);
            let s = self.subflows.get_mut(id).expect("listed above");
            s.prio_due &= !taken.prio;
            if view.data_fin.is_some() && taken.keys && segment.payload_len == 0 {
                // The segment carried the third ACK's keys instead: the next one
                // carries the DATA_FIN.
                s.tcp.request_pure_ack();
            }
            let rtt = s.tcp.srtt().unwrap_or_default();
            s.path.delivery.on_sent(now, s.tcp.bytes_sent_once(), rtt);
            if taken.signal {
                self.signals.address_signal_sent();
            }
            if taken.mp_fail {
                self.signals.mp_fail_sent(now);
            }
            if taken.data_fin {
                self.data.data_fin_sent(now);
            }
            if taken.keys && self.state.key_echo() == Some(KeyEcho::Unsent) {
                self.state.set_key_echo(KeyEcho::Sent);
            }
            self.subflows.sent_on(id);
            return Some(len);
        }
        None
    }

    /// Maps data onto the subflows (see [`Scheduling::schedule`]), falling back
    /// behind an infinite mapping when one goes out.
    fn schedule(&mut self, now: Instant, cc: &mut dyn CongestionControl) {
        if self.state.phase() == Phase::Handshake || self.lifecycle.is_closed() {
            return;
        }
        let mut budget = MAX_CHUNKS_PER_POLL;
        loop {
            let state = ScheduleState {
                established: self.state.is_established(),
                fallback: self.state.is_fallback(),
                checksums: self.checksums,
                max_mapping: self.config.max_mapping,
                nagle: self.nagle,
                peer_finished: self.data.peer_finished(),
            };
            let mut infinite_due = self.signals.take_infinite_mapping();
            let outcome = self.scheduling.schedule(
                now,
                state,
                &mut self.subflows,
                &mut self.data.sender,
                cc,
                &mut infinite_due,
                &mut self.stats,
                &mut budget,
            );
            if infinite_due {
                self.signals.infinite_mapping();
            }
            match outcome {
                Scheduled::Done => return,
                // Everything from it on is plain TCP on this subflow.
                Scheduled::InfiniteMapped => self.fall_back(FallbackCause::Checksum),
            }
        }
    }

    /// The subflows' advertised window follows the connection-level one (§3.3.4).
    fn update_window_limits(&mut self) {
        // In fallback too: the subflow hands its bytes to the data level at once, so
        // its own buffer is always empty and only the data level's space counts.
        let limit = match self.state.phase() {
            Phase::Established | Phase::Fallback => Some(self.data.window_to_advertise()),
            Phase::Handshake => None,
        };
        for s in self.subflows.iter_mut() {
            s.tcp.set_window_limit(limit);
        }
    }

    /// Sends a window update on one usable subflow.
    fn request_window_update(&mut self) {
        if let Some(s) = self.subflows.first_usable_mut() {
            s.tcp.request_ack();
        }
    }

    /// Sends a pure ACK on one usable subflow, for a signal that rides on segments
    /// without data.
    fn request_signal_ack(&mut self) {
        if let Some(s) = self.subflows.first_usable_mut() {
            s.tcp.request_pure_ack();
        }
    }

    // ---- Timers ------------------------------------------------------------------

    /// Time of the next timer of the path manager, any subflow or the data level.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.subflows
            .poll_timeout()
            .into_iter()
            .chain(self.pm.poll_timeout())
            .chain(self.data.data_fin_retry_at(self.data_fin_rto()))
            .chain(self.data.data_fin_give_up_at(self.config.close_timeout))
            .chain(self.data.timer_at())
            .chain(self.signals.mp_fail_resend_at(self.signal_rto()))
            .chain(
                self.lifecycle
                    .paths_lost_since()
                    .map(|t| t + self.config.close_timeout),
            )
            .chain(
                self.lifecycle
                    .lingering_since()
                    .filter(|_| self.subflows.iter().any(|s| s.is_lingering()))
                    .map(|t| t + self.config.subflow_linger_timeout),
            )
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant, cc: &mut dyn CongestionControl) {
        // In SYN-SENT the retransmission timer is the only one that runs.
        let syn_timeout = self.client
            && self.subflows.first().is_some_and(|s| {
                s.tcp.state() == TcpState::SynSent && s.tcp.poll_timeout().is_some_and(|t| t <= now)
            });
        self.subflows.handle_timeouts(now, cc);
        if syn_timeout {
            self.on_syn_timeout();
        }
        if self.pm.poll_timeout().is_some_and(|t| t <= now) {
            self.pm.handle_timeout(now);
        }
        if self.data.timer_at().is_some_and(|t| t <= now) {
            // §3.3.6: DATA_ACK stopped moving; the oldest data goes out again on
            // whichever subflow the scheduler picks.
            let base = self.data_timer_base();
            let queued = self
                .data
                .on_timer(now, u64::from(self.config.max_mapping), base);
            self.reinjected(queued);
            self.stats.data_level_timeouts += 1;
        }
        self.settle(now);
        self.release_ended_subflows(cc);
    }

    /// How long an unanswered signal waits before it goes again: the RTO of the
    /// first usable subflow (MP_FAIL travels on the only one).
    fn signal_rto(&self) -> Duration {
        self.subflows
            .iter()
            .find(|s| s.is_usable())
            .map_or(DATA_TIMER_BASE_WITHOUT_RTT, |s| s.tcp.rto())
    }

    /// The largest RTO of the usable subflows.
    fn largest_usable_rto(&self) -> Option<Duration> {
        self.subflows
            .iter()
            .filter(|s| s.is_usable())
            .map(|s| s.tcp.rto())
            .max()
    }

    fn data_timer_base(&self) -> Duration {
        self.largest_usable_rto()
            .unwrap_or(DATA_TIMER_BASE_WITHOUT_RTT)
    }

    // ---- After every entry: the reactions, in order -----------------------------

    /// What follows any activity, in this order: removing subflows that ended
    /// before, subflows' news (ends, timeouts,
    /// progress), data-level acknowledgments in fallback, freeing acknowledged
    /// mappings, the data-level timer, buffer auto-tuning, the path manager, signals
    /// still waiting, the connection's end, the advertised window, and the
    /// application's events.
    fn settle(&mut self, now: Instant) {
        // Subflows that ended in an earlier call go; one that ends in this call
        // stays until the next, so that its owner can read how it ended.
        let gone = self.subflows.reap();
        self.released.extend(gone);
        self.react_to_subflows();
        if self.state.is_fallback() {
            self.fallback_data_ack();
        }
        let data_una = self.data.sender.data_una();
        for s in self.subflows.iter_mut() {
            s.prune_tx(data_una);
        }
        // Data-level retransmission waits until the peer has shown it speaks MPTCP
        // (a DSS or ADD_ADDR from it, §3.1): a server that took our third ACK for
        // plain TCP (a middlebox stripped its MP_CAPABLE) would append the bytes sent
        // again to its stream. TCP retransmits the subflow's own bytes meanwhile.
        let running =
            self.state.is_established() && self.state.keys_acked() && !self.lifecycle.is_closed();
        let base = self.data_timer_base();
        self.data.arm_timer(now, running, base);
        self.autotune_receive(now);
        self.autotune_send(now);
        if let Some(rtt) = self.subflows.first().and_then(|s| s.tcp.srtt()) {
            // ADD_ADDR resends follow the path's RTT.
            self.pm.on_rtt_sample(rtt);
        }
        self.run_path_manager();
        if self.signals.pending(now, self.signal_rto()) {
            // A signal the last pure ACK had no room for, or an MP_FAIL unanswered.
            self.request_signal_ack();
        }
        self.close_progress(now);
        self.update_window_limits();
        let readable = self.data.receiver.readable();
        let writable = self.send_capacity();
        let peer_finished = self.data.peer_finished();
        self.lifecycle.report(readable, writable, peer_finished);
    }

    /// Acts on what every subflow's TCP connection reported.
    fn react_to_subflows(&mut self) {
        for id in self.subflows.ids() {
            self.react_to_subflow(id);
        }
    }

    /// Acts on what subflow `id`'s TCP connection reported: progress clears its
    /// staleness; a retransmission timeout or its end hands its data to the other
    /// subflows (§3.3.6: data is retransmitted at the data level on another subflow
    /// when a subflow fails); its end is also reported to the path manager and its
    /// congestion state released.
    fn react_to_subflow(&mut self, id: SubflowId) {
        let Some(s) = self.subflows.get_mut(id) else {
            return;
        };
        s.take_tcp_events();
        let news = std::mem::take(&mut s.news);
        if news.acked {
            s.stale = false;
        }
        if news.timed_out {
            self.events.push_back(MptcpEvent::SubflowTimeout {
                subflow: id,
                count: s.tcp.stats().timeouts,
            });
            if s.is_usable() {
                s.stale = true;
            }
        }
        let ended = news.closed.is_some() && !s.ended;
        if let (true, Some(reason)) = (ended, news.closed) {
            s.ended = true;
            self.cc_removals.push(id);
            // A subflow the peer refused with MP_TCPRST is not retried unless it
            // said the error is transient (RFC 8684 §3.6, the T flag); any other
            // failure (reset without reason, timeout) may be.
            let refused = s.peer_reset_reason.is_some() && !s.peer_reset_transient;
            let failed = s.tcp.close_reason() != Some(CloseReason::Finished) && !refused;
            let closed_by_policy =
                s.reset_reason == Some(MpTcpRstReason::AdministrativelyProhibited);
            if reason != CloseReason::Finished && !closed_by_policy {
                // A subflow we reset failed for a protocol reason, not because the
                // application aborted. One the path manager closed (its address went
                // away) did not fail.
                self.last_failure = Some(match reason {
                    CloseReason::Aborted if s.reset_reason.is_some() => CloseReason::ProtocolError,
                    reason => reason,
                });
            }
            let (local, remote) = (s.tcp.local(), s.tcp.remote());
            self.events.push_back(MptcpEvent::SubflowClosed {
                subflow: id,
                reason,
            });
            self.pm.on_subflow_closed(local, remote, failed);
        }
        if (ended || news.timed_out) && self.subflows.others_working(id) {
            self.reinject_from(id);
        }
    }

    /// In fallback the subflow's acknowledgments stand for DATA_ACKs: the one
    /// subflow carries the stream in order.
    fn fallback_data_ack(&mut self) {
        let Some(s) = self.subflows.first() else {
            return;
        };
        let acked = s.tcp.bytes_acked();
        if s.tx.iter().any(|m| m.infinite && m.offset > acked) {
            // Bytes before an infinite mapping (sent after a checksum failure) were
            // discarded by the peer: only what follows it acknowledges data.
            return;
        }
        let sender = &mut self.data.sender;
        let mut dsn = match s.tx_mapping_at(acked) {
            Some(m) => m.dsn.wrapping_add(acked - m.offset),
            None => sender.data_nxt(),
        };
        let fin_acked = matches!(
            s.tcp.state(),
            TcpState::FinWait2 | TcpState::TimeWait | TcpState::Closing | TcpState::Closed
        ) && s
            .tcp
            .close_reason()
            .is_none_or(|r| r == CloseReason::Finished);
        if fin_acked && sender.data_fin_ready() {
            dsn = sender.data_nxt().wrapping_add(1);
        }
        let window = s.tcp.peer_window().max(u64::from(u32::MAX));
        sender.on_data_ack(dsn, window);
    }

    /// Receive-window auto-tuning across subflows, when configured.
    fn autotune_receive(&mut self, now: Instant) {
        if !self.config.receive_autotune {
            self.data.offer_whole_buffer();
            return;
        }
        let Some(rtt_max) = self.tuning_rtt_max(true) else {
            return;
        };
        let headroom = self.tuning_headroom();
        self.data.autotune_receive(now, rtt_max, headroom);
    }

    /// Send-buffer auto-tuning across subflows (after Linux's tcp_sndbuf_expand),
    /// when configured: see [`DataSender::autotune`].
    fn autotune_send(&mut self, now: Instant) {
        if !self.config.send_autotune {
            return;
        }
        let Some(rtt_max) = self.tuning_rtt_max(false) else {
            return;
        };
        let delivered = self.subflows.iter().map(|s| s.tcp.bytes_acked()).sum();
        let headroom = self.tuning_headroom();
        self.data.sender.autotune(now, rtt_max, delivered, headroom);
    }

    /// The largest RTT of the usable subflows, once the connection is past its
    /// handshake: buffer auto-tuning's interval. The sending side's smoothed RTT,
    /// or for the receive buffer the RTT the receiving side measures
    /// ([`TcpConnection::receive_rtt`]; a side that only receives has no other).
    fn tuning_rtt_max(&self, receiving: bool) -> Option<Duration> {
        if self.state.phase() == Phase::Handshake {
            return None;
        }
        self.subflows
            .iter()
            .filter(|s| s.is_usable())
            .filter_map(|s| {
                if receiving {
                    s.tcp.receive_rtt()
                } else {
                    s.tcp.srtt()
                }
            })
            .max()
    }

    /// What auto-tuning adds to twice the bytes of one RTT_max.
    fn tuning_headroom(&self) -> u64 {
        let mss = self
            .subflows
            .iter()
            .map(|s| s.tcp.effective_mss())
            .max()
            .unwrap_or(crate::tcp::DEFAULT_MSS);
        AUTOTUNE_HEADROOM_SEGMENTS * u64::from(mss)
    }

    fn close_progress(&mut self, now: Instant) {
        if self.lifecycle.is_closed() {
            return;
        }
        match self.state.phase() {
            Phase::Handshake => {
                let reason = match self.subflows.first() {
                    Some(s) if s.tcp.state() != TcpState::Closed => return,
                    Some(s) => s.tcp.close_reason().unwrap_or(CloseReason::Reset),
                    None => CloseReason::Reset,
                };
                self.lifecycle.finish(reason, false);
            }
            Phase::Fallback => {
                let fin_ready = self.data.sender.data_fin_ready();
                let reason = match self.subflows.first_mut() {
                    Some(s) => {
                        if fin_ready {
                            s.tcp.close();
                        }
                        // As plain TCP does, the end is reported on entering
                        // TIME-WAIT; the subflow stays until it expires.
                        match s.tcp.close_reason() {
                            Some(reason) => reason,
                            None => return,
                        }
                    }
                    None => CloseReason::Reset,
                };
                self.lifecycle.finish(reason, false);
            }
            Phase::Established => {
                if self
                    .data
                    .data_fin_give_up_at(self.config.close_timeout)
                    .is_some_and(|t| t <= now)
                {
                    // Nothing acknowledged our DATA_FIN for the close timeout: the
                    // peer is gone (Linux fast-closes an orphaned connection after
                    // net.mptcp.close_timeout too).
                    self.reset_all(CloseReason::TimedOut);
                    return;
                }
                if self.data.data_fin_owed().is_some() {
                    let retry = self
                        .data
                        .data_fin_retry_at(self.data_fin_rto())
                        .is_some_and(|t| t <= now);
                    if self.data.data_fin_sent_at().is_none() || retry {
                        self.data.resend_data_fin();
                        self.send_data_fin();
                    }
                }
                if self.data.we_finished() {
                    // §3.3.3: once our DATA_FIN is acknowledged, the subflows close
                    // with FINs; the peer's data still comes in over them. So does a
                    // subflow that joins later, once its handshake is over.
                    self.lifecycle.close_subflows();
                    for s in self.subflows.iter_mut() {
                        if s.handshake.is_complete() && s.tcp.state().can_send() {
                            s.tcp.close();
                        }
                    }
                }
                if self.lifecycle.closing_subflows() && self.data.peer_finished() {
                    // §3.3.3: both DATA_FINs are acknowledged, the stream is complete;
                    // the connection ends when its subflows have closed, within a
                    // bounded time.
                    if self.subflows.all_over() || self.reset_lingering_subflows(now) {
                        self.lifecycle.finish(CloseReason::Finished, false);
                    }
                } else if self.subflows.live() == 0 {
                    self.without_subflows(now);
                } else {
                    self.lifecycle.paths_back();
                }
            }
        }
    }

    /// Every subflow is over before the end: the connection waits
    /// [`MptcpConfig::close_timeout`] for a subflow to join it or to be opened again
    /// (break-before-make, RFC 8684 §3.3.3's "the connection may be resumed"), then
    /// ends with the reason the last subflow failed for, or as timed out when none
    /// failed (the path manager closed them all, their addresses gone).
    fn without_subflows(&mut self, now: Instant) {
        let since = self.lifecycle.paths_lost(now);
        if now.saturating_duration_since(since) >= self.config.close_timeout {
            let reason = self.last_failure.unwrap_or(CloseReason::TimedOut);
            self.lifecycle.finish(reason, false);
        }
    }

    /// The connection is over, but the peer repeats its DATA_FIN: our DATA_ACK was
    /// lost. Acknowledged again, as TCP in TIME-WAIT acknowledges a repeated FIN
    /// (RFC 9293 §3.10.7.4), or the peer would never finish.
    fn acknowledge_data_fin_again(&mut self, id: SubflowId, options: &SegmentOptions) {
        let repeated = options
            .dss
            .as_ref()
            .is_some_and(|dss| dss.data_fin && self.data.peer_finished());
        if let (true, Some(s)) = (repeated, self.subflows.get_mut(id)) {
            s.tcp.request_ack();
        }
    }

    /// Both DATA_FINs are through; a subflow still closing after
    /// [`MptcpConfig::subflow_linger_timeout`] is reset (its peer's FIN or RST was
    /// lost, or its path is dead). Returns whether every subflow is over now.
    fn reset_lingering_subflows(&mut self, now: Instant) -> bool {
        // A join still in its handshake can carry nothing now: reset at once (its
        // SYN-ACK may have come from a middlebox that stripped MP_JOIN and a peer
        // that took it for a new TCP connection, which the RST ends too).
        for s in self.subflows.iter_mut() {
            if !s.handshake.is_complete() && s.tcp.state() != TcpState::Closed {
                s.reset_reason = Some(MpTcpRstReason::AdministrativelyProhibited);
                s.tcp.abort();
            }
        }
        let lingering: Vec<SubflowId> = self
            .subflows
            .iter()
            .filter(|s| s.is_lingering())
            .map(|s| s.id)
            .collect();
        if lingering.is_empty() {
            return true;
        }
        let since = self.lifecycle.lingering(now);
        if now.saturating_duration_since(since) < self.config.subflow_linger_timeout {
            return false;
        }
        for id in lingering {
            if let Some(s) = self.subflows.get_mut(id) {
                s.tcp.abort();
            }
        }
        true
    }

    /// Sends the DATA_FIN on a pure ACK on every usable subflow (Linux too sends it on
    /// each): a path that silently failed cannot keep it from the peer.
    fn send_data_fin(&mut self) {
        for s in self.subflows.iter_mut().filter(|s| s.is_usable()) {
            s.tcp.request_ack();
        }
    }

    /// The retransmission timeout the DATA_FIN is resent after: the smallest RTO of
    /// the usable subflows that are not failing (of all usable ones if every one is).
    fn data_fin_rto(&self) -> Option<Duration> {
        let usable = || self.subflows.iter().filter(|s| s.is_usable());
        usable()
            .filter(|s| !s.stale)
            .map(|s| s.tcp.rto())
            .min()
            .or_else(|| usable().map(|s| s.tcp.rto()).min())
    }

    // ---- Subflows ---------------------------------------------------------------

    /// Resets one subflow, moving its unacknowledged data to the others.
    fn reset_subflow(&mut self, id: SubflowId, reason: MpTcpRstReason) {
        let Some(s) = self.subflows.get_mut(id) else {
            return;
        };
        if s.tcp.state() == TcpState::Closed {
            return;
        }
        s.reset_reason = Some(reason);
        s.tcp.abort();
        self.reinject_from(id);
        self.react_to_subflow(id);
    }

    /// Queues everything subflow `id` carried and the peer did not DATA_ACK for
    /// another subflow (§3.3.6), once (see [`Subflow::hand_on`]).
    fn reinject_from(&mut self, id: SubflowId) {
        let data_una = self.data.sender.data_una();
        let Some(s) = self.subflows.get_mut(id) else {
            return;
        };
        let mut queued = 0;
        for (dsn, len) in s.hand_on(data_una) {
            queued += self.data.sender.reinject(dsn, len);
        }
        self.reinjected(queued);
    }

    /// `bytes` were queued to go out again.
    fn reinjected(&mut self, bytes: u64) {
        if bytes > 0 {
            self.stats.reinjected_bytes += bytes;
            self.events.push_back(MptcpEvent::Reinjected { bytes });
        }
    }

    /// Takes subflows that ended out of the (shared) congestion controller, so that
    /// coupled algorithms stop counting them.
    fn release_ended_subflows(&mut self, cc: &mut dyn CongestionControl) {
        for id in self.cc_removals.drain(..) {
            cc.remove_subflow(id);
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
        let id = self.subflows.next_id();
        let rx = self.new_mapping_receiver();
        let path = PathState::new(self.scheduling.params());
        let handshake = Handshake::JoinSynSent { local_nonce: nonce };
        let mut s = Subflow::new(id, tcp, handshake, rx, path);
        s.local_id = request.local_id;
        s.remote_id = request.remote_id;
        s.backup = request.backup;
        self.stats.subflows_opened += 1;
        self.events
            .push_back(MptcpEvent::SubflowOpened { subflow: id });
        self.subflows.push(s)
    }

    /// The id the next subflow gets (and its congestion controller key).
    pub fn next_subflow_id(&self) -> SubflowId {
        self.subflows.next_id()
    }

    /// Adds a subflow for an MP_JOIN SYN the endpoint matched to this connection by
    /// token: `tcp` answered it, and its SYN-ACK carries our HMAC and `local_nonce`
    /// (RFC 8684 §3.2). `None` (the endpoint refuses the join) while the peer's key
    /// is not known.
    pub fn accept_join(
        &mut self,
        tcp: TcpConnection,
        join: &crate::endpoint::JoinSyn,
        local_nonce: u32,
    ) -> Option<SubflowId> {
        let keys = self.keys()?;
        let id = self.subflows.next_id();
        let local_id = self.local_address_id(tcp.local().ip());
        let rx = self.new_mapping_receiver();
        let path = PathState::new(self.scheduling.params());
        let handshake = Handshake::JoinSynAckSent {
            local_nonce,
            peer_nonce: join.nonce,
            truncated_hmac: handshake::join_syn_ack_hmac(keys, local_nonce, join.nonce),
        };
        let mut s = Subflow::new(id, tcp, handshake, rx, path);
        s.local_id = local_id;
        s.remote_id = join.addr_id;
        s.peer_backup = join.backup;
        self.events
            .push_back(MptcpEvent::SubflowOpened { subflow: id });
        Some(self.subflows.push(s))
    }

    /// The endpoint refused a join for this connection (subflow limits).
    pub fn join_refused(&mut self) {
        self.stats.joins_rejected += 1;
    }

    /// Our address id for `ip`: 0 for the first subflow's, else the path manager
    /// endpoint's.
    fn local_address_id(&self, ip: IpAddr) -> u8 {
        if self.addresses.0.ip() == ip {
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
        let pending = self.subflows.pending_joins();
        let limit = usize::from(self.config.path_manager.limits.subflows);
        self.pm.may_accept_join() && self.pm.extra_subflows() + pending < limit
    }

    /// Whether another subflow may be added, in either direction.
    pub fn may_add_subflow(&self) -> bool {
        // Once our DATA_FIN is acknowledged the peer's data may still need a path
        // (its only one may have been lost): subflows may come until both ends
        // finished.
        let both_finished = self.data.we_finished() && self.data.peer_finished();
        self.state.is_established()
            && !self.lifecycle.is_closed()
            && !both_finished
            && self.subflows.live() < self.config.max_subflows
    }

    /// The application's handle on the choice of subflows.
    pub fn set_scheduler(&mut self, scheduler: Box<dyn Scheduler>) {
        self.scheduling.set_scheduler(scheduler);
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

    // ---- The path manager --------------------------------------------------------

    /// A local address appeared (an interface came up): the path manager may open
    /// subflows from it or announce it.
    pub fn add_local_address(&mut self, now: Instant, endpoint: crate::pm::PmEndpoint) {
        self.pm.add_local_address(now, endpoint);
        self.run_path_manager();
        self.settle(now);
    }

    /// A local address without a path manager endpoint is back (its interface came
    /// up again): subflows lost with it may be opened again.
    pub fn local_address_back(&mut self, now: Instant, addr: IpAddr) {
        self.pm.local_address_back(now, addr);
        self.run_path_manager();
        self.settle(now);
    }

    /// A local address went away: REMOVE_ADDR for it, and its subflows are reset
    /// (their data moves to the others).
    pub fn remove_local_address(&mut self, now: Instant, addr: IpAddr) {
        if self.state.is_fallback() {
            // Plain TCP now (§3.7): no REMOVE_ADDR to send and no other subflow to
            // move to; like any TCP connection it outlives its address going away
            // for a while (a link down and up again).
            return;
        }
        self.pm.remove_local_address(addr);
        self.run_path_manager();
        // Settling starts the close timeout when no subflow is left.
        self.settle(now);
    }

    /// Marks a local address as backup or not, like `ip mptcp endpoint change ADDR
    /// backup`: MP_PRIO on its subflows (§3.3.8).
    pub fn set_address_backup(&mut self, addr: IpAddr, backup: bool) {
        self.pm.set_backup(addr, backup);
        self.run_path_manager();
        self.react_to_subflows();
    }

    /// The next event of the path manager (subflows up and down, addresses announced
    /// and removed...), for a program that makes path decisions itself.
    pub fn poll_pm_event(&mut self) -> Option<crate::pm::PmEvent> {
        self.pm.poll_event()
    }

    /// Runs a command on the path manager (open a subflow, announce an address...;
    /// in `PmMode::Userspace` nothing happens otherwise) and carries out what it
    /// decided.
    pub fn pm_command<R>(&mut self, command: impl FnOnce(&mut PathManager) -> R) -> R {
        let result = command(&mut self.pm);
        self.run_path_manager();
        self.react_to_subflows();
        result
    }

    /// A subflow request the endpoint could not open (no free port, address family,
    /// 4-tuple in use): the path manager stops counting it.
    pub fn subflow_request_failed(&mut self, request: &SubflowRequest) {
        self.pm
            .on_subflow_closed(request.local, request.remote, true);
    }

    /// Path manager actions, carried out.
    fn run_path_manager(&mut self) {
        while let Some(action) = self.pm.poll_action() {
            match action {
                PmAction::OpenSubflow {
                    local,
                    remote,
                    local_id,
                    remote_id,
                    backup,
                } => {
                    self.signals.cancel_removal(local_id);
                    if remote == self.addresses.1 && self.no_joins_to_peer_initial_address {
                        // §3.1, the C flag: a join there would be refused. Not a
                        // failure: the path manager does not try again.
                        self.pm.on_subflow_closed(local, remote, false);
                    } else if self.may_add_subflow() {
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
                    self.signals.cancel_removal(id);
                    let Some(remote_key) = self.state.remote_key() else {
                        continue;
                    };
                    self.stats.add_addr_sent += 1;
                    self.signals
                        .announce(self.local_key.key, remote_key, id, addr, port);
                    self.request_signal_ack();
                }
                PmAction::RemoveAddress { ids } => {
                    self.signals.remove(&ids);
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
                PmAction::KeepAddress { id } => self.signals.cancel_removal(id),
            }
        }
    }

    /// The next subflow the path manager wants opened.
    pub fn poll_subflow_request(&mut self) -> Option<SubflowRequest> {
        self.requests.pop_front()
    }

    /// The 4-tuple of a subflow the connection no longer has, for the endpoint to
    /// forget (and reuse).
    pub fn poll_released_subflow(&mut self) -> Option<(SocketAddr, SocketAddr)> {
        self.released.pop()
    }

    // ---- The application's stream ------------------------------------------------

    /// Writes as much of `data` as the connection-level send buffer takes.
    pub fn write(&mut self, data: &[u8]) -> usize {
        if self.lifecycle.is_closed() {
            return 0;
        }
        let n = self.data.sender.write(data);
        if n < data.len() {
            self.lifecycle.write_blocked();
        }
        n
    }

    pub fn send_capacity(&self) -> usize {
        if self.lifecycle.is_closed() || self.data.sender.data_fin_dsn().is_some() {
            0
        } else {
            self.data.sender.free()
        }
    }

    /// Bytes written and not yet acknowledged at data level.
    pub fn send_queued(&self) -> usize {
        self.data.sender.buffered()
    }

    /// Bytes handed to the subflows and not yet acknowledged at data level: from
    /// the window's left edge (data_una) to the next new byte.
    pub fn sent_unacknowledged(&self) -> u64 {
        self.data
            .sender
            .data_nxt()
            .wrapping_sub(self.data.sender.data_una())
    }

    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let (n, announce) = self.data.read(buf);
        self.lifecycle.read(self.data.receiver.readable());
        if announce {
            self.request_window_update();
        }
        n
    }

    pub fn readable(&self) -> usize {
        self.data.receiver.readable()
    }

    /// The peer sent its DATA_FIN and every byte before it was read.
    pub fn is_read_closed(&self) -> bool {
        self.data.receiver.is_finished()
    }

    /// Closes our sending side: the DATA_FIN follows the data written (§3.3.3).
    pub fn close(&mut self) {
        if self.lifecycle.is_closed() {
            return;
        }
        // Before the handshake ends too: the data and the DATA_FIN (or, after a
        // fallback, the FIN) follow it.
        self.data.sender.close();
    }

    /// Aborts the connection: MP_FASTCLOSE on every subflow's RST (§3.5).
    pub fn abort(&mut self) {
        if self.lifecycle.is_closed() {
            return;
        }
        self.reset_all(CloseReason::Aborted);
        self.react_to_subflows();
    }

    /// Ends the connection at once for `reason`: every subflow reset, with
    /// MP_FASTCLOSE once MPTCP is established (§3.5).
    fn reset_all(&mut self, reason: CloseReason) {
        let fastclose = self.state.is_established();
        if fastclose {
            self.stats.fastclose_sent += 1;
        }
        for s in self.subflows.iter_mut() {
            s.tcp.abort();
        }
        self.lifecycle.finish(reason, fastclose);
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.lifecycle.close_reason()
    }

    /// The application's next stream event.
    pub fn poll_event(&mut self) -> Option<TcpEvent> {
        self.lifecycle.poll_event()
    }

    /// The next MPTCP event (subflows coming and going, addresses, fallback).
    pub fn poll_mptcp_event(&mut self) -> Option<MptcpEvent> {
        self.events.pop_front()
    }

    /// The connection's state in TCP's terms, for code written for TCP.
    pub fn state(&self) -> TcpState {
        if self.lifecycle.is_closed() {
            return TcpState::Closed;
        }
        if self.state.is_fallback() {
            return self
                .subflows
                .first()
                .map_or(TcpState::Closed, |s| s.tcp.state());
        }
        if !self.lifecycle.is_connected() {
            return if self.client {
                TcpState::SynSent
            } else {
                TcpState::SynReceived
            };
        }
        match (
            self.data.sender.data_fin_dsn().is_some(),
            self.data.receiver.data_fin_dsn().is_some(),
        ) {
            (false, false) => TcpState::Established,
            (true, false) => TcpState::FinWait1,
            (false, true) => TcpState::CloseWait,
            (true, true) => TcpState::LastAck,
        }
    }

    /// Over, with nothing left to send: the endpoint may drop it.
    pub fn is_done(&self) -> bool {
        let keeps_data = self.lifecycle.close_reason() == Some(CloseReason::Finished)
            && self.data.receiver.readable() > 0;
        self.lifecycle.is_closed() && !keeps_data && self.subflows.all_done()
    }

    // ---- What it is ---------------------------------------------------------------

    pub fn phase(&self) -> Phase {
        self.state.phase()
    }

    pub fn local_key(&self) -> &LocalKey {
        &self.local_key
    }

    pub fn remote_key(&self) -> Option<u64> {
        self.state.remote_key()
    }

    /// The peer's token: how our MP_JOIN SYNs name the connection.
    pub fn remote_token(&self) -> Option<u32> {
        self.state.remote_key().map(crypto::token)
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
        self.subflows.get(id)
    }

    /// The first subflow's addresses: the connection's, as the application knows it
    /// (they stay when that subflow is gone).
    pub fn local(&self) -> SocketAddr {
        self.addresses.0
    }

    pub fn remote(&self) -> SocketAddr {
        self.addresses.1
    }

    /// TCP counters summed over the subflows.
    pub fn tcp_stats(&self) -> TcpStats {
        self.subflows.tcp_stats()
    }
}
