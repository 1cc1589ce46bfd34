//! Segments leaving the connection: the scheduler maps data onto subflows, and each
//! segment gets the MPTCP options its subflow's state calls for.

use crate::cc::CongestionControl;
use crate::crypto;
use crate::endpoint::emit_segment;
use crate::mptcp::connection::{MptcpConnection, Phase, Signal};
use crate::mptcp::subflow::{mapping_at, Handshake, Subflow, TxMapping};
use crate::sched::{SchedContext, SubflowInfo};
use crate::tcp::SegmentOut;
use crate::time::{Duration, Instant};
use crate::wire::mptcp::{
    Dss, DssMapping, MpCapable, MpCapableFlags, MpCapableVariant, MpFail, MpFastclose, MpJoin,
    MpPrio, MpTcpRst, MpTcpRstFlags, MptcpOption, SeqField,
};
use crate::wire::tcp_option::TcpOption;

/// Most chunks mapped in one call to the scheduler: bounds the work per packet.
const MAX_CHUNKS_PER_POLL: usize = 64;

/// The fewest segments' worth of data a subflow is given at once (less only at the
/// end of what the application wrote).
const MIN_CHUNK_SEGMENTS: u64 = 4;

/// How long after the peer's window last stopped us subflows keep to their share of
/// it: long enough that holding them to it, which keeps the window from filling,
/// does not switch itself off.
const WINDOW_SHORT_MEMORY: Duration = Duration::from_secs(3);

/// How long the window's left edge may stand still, in RTTs of the slowest subflow
/// and at least [`STUCK_LEFT_EDGE_MIN`], before part of the window
/// is kept free ([`MptcpConnection::hold_back_while_stuck`]).
const STUCK_LEFT_EDGE_RTTS: u64 = 2;
const STUCK_LEFT_EDGE_MIN: Duration = Duration::from_millis(10);

/// The connection-level facts a segment's MPTCP options depend on.
struct Context<'a> {
    phase: Phase,
    client: bool,
    capable_acked: bool,
    checksums: bool,
    local_key: u64,
    local_idsn: u64,
    remote_key: Option<u64>,
    data_ack: u64,
    /// The DATA_FIN's DSN, while it is owed to the peer.
    data_fin: Option<u64>,
    fastclose: bool,
    signals: &'a mut std::collections::VecDeque<Signal>,
    mp_fail: &'a mut Option<u64>,
}

impl MptcpConnection {
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
        if self.phase == Phase::Fallback && self.sender.data_fin_ready() {
            // Plain TCP: the application's close is the subflow's FIN, even when
            // nothing else happens on the connection any more.
            if let Some(s) = self.subflows.first_mut() {
                s.tcp.close();
            }
        }
        if self.phase == Phase::Established
            && self.data_fin_sent_at.is_none()
            && self.sender.data_fin_ready()
            && !self.sender.all_acked()
        {
            // The application closed since the last segment: a pure ACK carries the
            // DATA_FIN if no data segment will.
            self.request_window_update();
        }
        let data_fin = self
            .sender
            .data_fin_dsn()
            .filter(|_| self.sender.data_fin_ready() && !self.sender.all_acked());
        let n = self.subflows.len();
        let start = self.tx_cursor % n.max(1);
        let mut ctx = Context {
            phase: self.phase,
            client: self.client,
            capable_acked: self.capable_acked,
            checksums: self.checksums,
            local_key: self.local_key.key,
            local_idsn: self.local_key.idsn,
            remote_key: self.remote_key,
            data_ack: self.receiver.data_ack(),
            data_fin,
            fastclose: self.fastclose,
            signals: &mut self.signals,
            mp_fail: &mut self.mp_fail_due,
        };
        for k in 0..n {
            let i = (start + k) % n;
            let s = &mut self.subflows[i];
            let (local, remote) = (s.tcp.local(), s.tcp.remote());
            let Some(seg) = s.tcp.poll_transmit(now, cc) else {
                continue;
            };
            options.clear();
            seg.options.to_options(options);
            let Subflow {
                handshake,
                tx,
                backup,
                local_id,
                prio_due,
                reset_reason,
                ..
            } = s;
            let view = SubflowView {
                handshake: *handshake,
                tx,
                backup: *backup,
                local_id: *local_id,
                prio_due,
                reset_reason: *reset_reason,
                first: i == 0,
            };
            add_mptcp_options(&mut ctx, view, &seg, options);
            if ctx.data_fin.is_some() && seg.payload_len() == 0 && !seg.flags.syn() {
                self.data_fin_sent_at.get_or_insert(now);
            }
            let len = emit_segment(buf, local, remote, &seg, options);
            let s = &mut self.subflows[i];
            let rtt = s.tcp.srtt().unwrap_or_default();
            s.delivery.on_sent(now, s.tcp.bytes_sent_once(), rtt);
            self.tx_cursor = i + 1;
            return Some(len);
        }
        None
    }

    /// Maps data onto the subflows the scheduler picks, each up to its free
    /// congestion window (§3.3.1: each chunk is one DSS mapping).
    fn schedule(&mut self, now: Instant, cc: &mut dyn CongestionControl) {
        if self.phase == Phase::Handshake || self.closed.is_some() {
            return;
        }
        let nagle = self.subflows.first().is_some_and(|s| s.tcp.config().nagle);
        for s in &mut self.subflows {
            if let Some(rtt) = s.tcp.srtt() {
                s.delivery.update(now, s.tcp.bytes_acked(), rtt);
            }
        }
        self.hold_back_while_stuck(now);
        let window_lasts = self.shared_window_lasts(now);
        let mut infos = std::mem::take(&mut self.sched_scratch);
        for _ in 0..MAX_CHUNKS_PER_POLL {
            let new_bytes = self.written_dsn_end().wrapping_sub(self.sender.data_nxt());
            if self.sender.reinject_pending() == 0 && new_bytes == 0 {
                break;
            }
            // Nagle at the data level (RFC 9293 §3.7.4): less than a segment of new
            // data waits while data is unacknowledged, unless the application closed.
            // Each chunk becomes its own mapping and segment, so the subflows' Nagle
            // cannot gather small writes.
            let mss = self
                .subflows
                .iter()
                .map(|s| u64::from(s.tcp.effective_mss()))
                .min()
                .unwrap_or(536);
            let in_flight = self.sender.data_una() != self.sender.data_nxt();
            if nagle
                && self.sender.reinject_pending() == 0
                && new_bytes < mss
                && in_flight
                && self.sender.data_fin_dsn().is_none()
            {
                break;
            }
            infos.clear();
            let any_fresh = self.subflows.iter().any(|s| s.is_usable() && !s.stale);
            for s in &self.subflows {
                // RFC 6675's pipe, not everything unacknowledged: in recovery the
                // subflow may send new data as lost segments leave the pipe.
                let in_use = s.tcp.pipe() + s.tcp.unsent();
                let mut cwnd = cc.cwnd(s.tcp.cc_id());
                // Schedulers see the capped window: it is all the subflow may use.
                if let Some(window_lasts) = window_lasts {
                    let return_queueing = s.tcp.return_queueing().unwrap_or_default();
                    let cap = s.tcp.min_rtt().and_then(|min_rtt| {
                        s.delivery.in_flight_cap(
                            min_rtt,
                            return_queueing,
                            s.tcp.effective_mss(),
                            window_lasts,
                        )
                    });
                    cwnd = cwnd.min(cap.unwrap_or(u64::MAX));
                }
                let usable = s.is_usable()
                    && (self.phase != Phase::Fallback || s.id.0 == 0)
                    && (!s.stale || !any_fresh);
                infos.push(SubflowInfo {
                    id: s.id,
                    srtt: s.tcp.srtt(),
                    min_rtt: s.tcp.min_rtt(),
                    room: cwnd
                        .saturating_sub(in_use)
                        .min(s.tcp.send_capacity() as u64),
                    cwnd,
                    in_flight: in_use,
                    mss: s.tcp.effective_mss(),
                    backup: s.backup || s.peer_backup,
                    usable,
                });
            }
            let ctx = SchedContext {
                waiting: self
                    .written_dsn_end()
                    .wrapping_sub(self.sender.data_nxt())
                    .saturating_add(self.sender.reinject_pending()),
                send_window: self
                    .sender
                    .window_edge()
                    .saturating_sub(self.sender.data_una()),
            };
            let Some(id) = self.scheduler.pick(&infos, &ctx) else {
                break;
            };
            let Some(i) = self.index_of(id) else {
                break;
            };
            let max = self.chunk_limit(i, infos[i].room);
            let Some((dsn, len)) = self.sender.next_chunk(max, usize::MAX) else {
                // The peer's window is full.
                self.window_full_at = Some(now);
                if self.scheduler.opportunistic_reinjection()
                    && self.reinject_blocking_data(i, &infos, now, cc)
                {
                    continue;
                }
                break;
            };
            let infinite = std::mem::take(&mut self.infinite_mapping_due);
            self.map_chunk(now, i, dsn, len, infinite);
            if self.scheduler.redundant() && !infinite {
                // The same bytes on every other usable subflow with room: the first
                // copy to arrive is used, the others are duplicates at data level.
                for (j, info) in infos.iter().enumerate() {
                    let fits = self.subflows[j].tcp.send_capacity() >= len;
                    if j != i && info.usable && info.room > 0 && fits {
                        self.map_chunk(now, j, dsn, len, false);
                    }
                }
            }
            if infinite {
                // Everything from it on is plain TCP on this subflow.
                self.fall_back();
            }
        }
        self.sched_scratch = infos;
    }

    /// How long the peer's largest window lasts at the sum of the subflows' delivery
    /// rates, if they should keep to their share of it
    /// ([`in_flight_cap`](crate::mptcp::delivery::DeliveryRate::in_flight_cap)): it
    /// has stopped the scheduler lately, more than one regular subflow shares it, and
    /// it is large enough for them to add up at all (about the sum of their rates
    /// times the longest minimum RTT; with less, data on the slower path only blocks
    /// the window, and the faster path had better take all of it).
    fn shared_window_lasts(&self, now: Instant) -> Option<Duration> {
        let blocked_lately = self
            .window_full_at
            .is_some_and(|t| now.saturating_duration_since(t) < WINDOW_SHORT_MEMORY);
        let mut regular = 0;
        let mut rate_sum: u64 = 0;
        let mut rtt_max = Duration::ZERO;
        for s in &self.subflows {
            if s.is_usable() && !s.backup && !s.peer_backup {
                regular += 1;
                rate_sum = rate_sum.saturating_add(s.delivery.bytes_per_second());
                rtt_max = rtt_max.max(s.tcp.min_rtt().unwrap_or(Duration::ZERO));
            }
        }
        let needed = rate_sum.saturating_mul(rtt_max.as_micros()) / 1_000_000;
        let window = self.sender.largest_window();
        (blocked_lately && regular > 1 && window >= needed / 4 * 3)
            .then(|| Duration::from_micros(window.saturating_mul(1_000_000) / rate_sum.max(1)))
    }

    /// Keeps half of the peer's window free of new data while the window's left
    /// edge has not moved for [`STUCK_LEFT_EDGE_RTTS`] of the slowest subflow's RTT
    /// (at least [`STUCK_LEFT_EDGE_MIN`]) and more than one subflow is usable: the
    /// peer then holds the rest out of order, and a Linux receiver counts that at
    /// its buffers' true size, not in window bytes. Once over its buffer it moves
    /// nothing more from its subflows to the connection, the retransmission that
    /// would fill the hole included, and the connection stalls for good. Seen in the
    /// netns interop tests (a path goes silent mid-upload, 1 run in about 10): braid
    /// had filled Linux's 2.07 MB window; 1.81 MB out of order took 2,529,088
    /// bytes of a 2,524,846-byte buffer. Linux sizes its window for the ratio of
    /// data to buffer it measured (about 0.82); out of order it got 0.72, and 0.64
    /// in another run (1420-byte segments not coalesced), so keeping an eighth, then
    /// a quarter, free still stalled; with half, 40 runs of 40 passed.
    fn hold_back_while_stuck(&mut self, now: Instant) {
        let una = self.sender.data_una();
        if una != self.left_edge_since.0 {
            self.left_edge_since = (una, now);
        }
        let usable = self.subflows.iter().filter(|s| s.is_usable()).count();
        let rtt_max = self.tuning_rtt_max(false).unwrap_or(Duration::ZERO);
        let patience = rtt_max
            .saturating_mul(STUCK_LEFT_EDGE_RTTS)
            .max(STUCK_LEFT_EDGE_MIN);
        let stuck = una != self.sender.data_nxt()
            && now.saturating_duration_since(self.left_edge_since.1) > patience;
        let reserve = if stuck && usable > 1 {
            self.sender.largest_window() / 2
        } else {
            0
        };
        self.sender.hold_back(reserve);
    }

    /// The most subflow `i`, with `room` bytes of congestion window free, is given
    /// at once: whole segments, so that mappings end where segments do. A sliver of
    /// window still gets a segment's worth, and a mapping of several segments
    /// survives a middlebox that coalesces a few of them (§3.3.1).
    fn chunk_limit(&self, i: usize, room: u64) -> usize {
        let mss = u64::from(self.subflows[i].tcp.effective_mss());
        let whole = |n: u64| (n / mss).max(1) * mss;
        whole(room.max(MIN_CHUNK_SEGMENTS * mss))
            .min(whole(u64::from(self.config.max_mapping)))
            .min(self.subflows[i].tcp.send_capacity() as u64) as usize
    }

    /// Opportunistic reinjection and penalisation (Raiciu et al., "How Hard Can It
    /// Be?", NSDI 2012, §4.2): the peer's window is full and subflow `fast` has room,
    /// but the window's left edge, the oldest byte not DATA_ACKed, is still on its way
    /// over a slower subflow. That subflow is penalised ([`Self::penalise_queued`]),
    /// and if a copy on `fast` should be acknowledged before the original (one RTT of
    /// `fast` from now against one RTT of the slow subflow after the original was
    /// mapped, or the slow subflow is repairing losses), the mapping holding the
    /// left edge goes again on `fast`. Copies that could not win only cost
    /// bandwidth: on two equal paths they were 2% of what was sent. Returns whether
    /// a copy was mapped.
    fn reinject_blocking_data(
        &mut self,
        fast: usize,
        infos: &[SubflowInfo],
        now: Instant,
        cc: &mut dyn CongestionControl,
    ) -> bool {
        let data_una = self.sender.data_una();
        if self.opportunistic_at == Some(data_una) || self.phase != Phase::Established {
            return false;
        }
        let covers = |m: &TxMapping| data_una.wrapping_sub(m.dsn) < u64::from(m.len) && !m.infinite;
        if self.subflows[fast].tx.iter().any(covers) {
            return false;
        }
        // The slow subflow holding it, if its copy has not reached the peer's subflow
        // yet (if it has, the DATA_ACK is on its way and a copy gains nothing).
        let Some((slow, mapping)) = self.subflows.iter().enumerate().find_map(|(j, s)| {
            let m = s.tx.iter().find(|m| covers(m))?;
            let offset = m.offset + data_una.wrapping_sub(m.dsn);
            (j != fast && s.is_usable() && offset >= s.tcp.bytes_acked()).then_some((j, *m))
        }) else {
            return false;
        };
        let (Some(slow_rtt), Some(fast_rtt)) = (infos[slow].rtt(), infos[fast].rtt()) else {
            return false;
        };
        if slow_rtt <= fast_rtt {
            return false;
        }
        self.penalise_queued(slow, &infos[slow], now, cc);
        // A copy only if it should open the window sooner: its DATA_ACK, one RTT of
        // `fast` from now, before the original's, one RTT of `slow` after it left,
        // or later still if `slow` is repairing losses.
        let repairing = self.subflows[slow].tcp.in_recovery() || self.subflows[slow].stale;
        if !repairing && now + fast_rtt >= mapping.mapped_at + slow_rtt {
            return false;
        }
        let rest = mapping
            .dsn
            .wrapping_add(u64::from(mapping.len))
            .wrapping_sub(data_una);
        let len = (rest as usize).min(self.chunk_limit(fast, infos[fast].room));
        if len == 0 {
            return false;
        }
        self.map_chunk(now, fast, data_una, len, false);
        self.opportunistic_at = Some(data_una);
        self.stats.opportunistic_bytes += len as u64;
        true
    }

    /// Halves subflow `slow`'s window so that it holds less of the shared window, at
    /// most once per its RTT and only while it has a standing queue (smoothed RTT a
    /// quarter, or 5 ms, above its minimum and the queueing its ACKs meet on the
    /// way back, which a smaller window cannot drain; counting it, a server
    /// uploading over 15+5 Mbit/s at 1/25 ms penalised its slow path 28 times and
    /// starved it while the client's upload filled that path's other direction):
    /// a smaller window then drains the queue
    /// without costing throughput. Without the queue rule, repeated halvings starved
    /// a cellular path with no queue to drain (Wi-Fi + cellular at RTT_max·Σbw: 59.8%
    /// of the link sum against 81.7%).
    fn penalise_queued(
        &mut self,
        slow: usize,
        info: &SubflowInfo,
        now: Instant,
        cc: &mut dyn CongestionControl,
    ) {
        let s = &mut self.subflows[slow];
        let rtt = info.srtt.unwrap_or_default();
        let min_rtt = info.min_rtt.unwrap_or(rtt);
        // Only its own queue: the one its ACKs wait in is the other direction's.
        let return_queueing = s.tcp.return_queueing().unwrap_or_default();
        let queued = rtt.saturating_sub(min_rtt + return_queueing)
            > Duration::from_micros(min_rtt.as_micros() / 4).max(Duration::from_millis(5));
        if queued
            && s.penalised_at
                .is_none_or(|t| now.saturating_duration_since(t) >= rtt)
        {
            s.penalised_at = Some(now);
            cc.penalise(s.tcp.cc_id(), now, s.tcp.pipe());
            self.stats.penalties += 1;
        }
    }

    /// Writes DSNs `dsn..dsn + len` into subflow `i`'s send buffer as one mapping,
    /// ending a segment where it ends.
    fn map_chunk(&mut self, now: Instant, i: usize, dsn: u64, len: usize, infinite: bool) {
        let (a, b) = self.sender.bytes(dsn, len);
        let s = &mut self.subflows[i];
        let offset = s.tx_end();
        let written = s.tcp.write(a) + s.tcp.write(b);
        debug_assert_eq!(written, len, "room was checked");
        let len = written as u16;
        let mapping = TxMapping {
            offset,
            len,
            dsn,
            checksum: None,
            infinite,
            mapped_at: now,
        };
        // §3.7: an infinite mapping's checksum field is present but zero.
        let checksum = self.checksums.then(|| {
            if infinite {
                0
            } else {
                crypto::dss_checksum(dsn, mapping.ssn(), len, [a, b])
            }
        });
        s.tx.push_back(TxMapping {
            checksum,
            ..mapping
        });
        s.tcp.mark_segment_boundary();
    }

    /// The DSN just past the last byte the application wrote.
    fn written_dsn_end(&self) -> u64 {
        self.sender
            .data_una()
            .wrapping_add(self.sender.buffered() as u64)
    }
}

/// What of a subflow its segment's options depend on.
struct SubflowView<'a> {
    handshake: Handshake,
    tx: &'a std::collections::VecDeque<TxMapping>,
    backup: bool,
    local_id: u8,
    prio_due: &'a mut bool,
    reset_reason: Option<crate::wire::mptcp::MpTcpRstReason>,
    first: bool,
}

/// Adds the MPTCP options of one segment, before any SACK blocks so that the
/// packer trims SACK rather than drop them.
fn add_mptcp_options(
    ctx: &mut Context<'_>,
    s: SubflowView<'_>,
    seg: &SegmentOut<'_>,
    options: &mut Vec<TcpOption<'static>>,
) {
    let mut at = options
        .iter()
        .position(|o| matches!(o, TcpOption::Sack(_)))
        .unwrap_or(options.len());
    let mut push = |o: MptcpOption<'static>| {
        options.insert(at, TcpOption::Mptcp(o));
        at += 1;
    };
    if ctx.phase == Phase::Fallback {
        // §3.7: the segments of the infinite mapping carry it, retransmissions
        // included, so that the peer learns where plain TCP starts; then nothing.
        let infinite = s.tx_mapping(seg.stream_offset).filter(|m| m.infinite);
        if let (Some(m), true) = (infinite, seg.payload_len() > 0) {
            push(MptcpOption::Dss(Dss {
                data_ack: Some(SeqField::U64(ctx.data_ack)),
                mapping: Some(DssMapping {
                    dsn: SeqField::U64(m.dsn),
                    ssn: m.ssn(),
                    data_level_length: 0,
                    checksum: m.checksum,
                }),
                data_fin: false,
            }));
        }
        return;
    }
    let flags = MpCapableFlags(
        MpCapableFlags::HMAC_SHA256
            | if ctx.checksums {
                MpCapableFlags::CHECKSUM_REQUIRED
            } else {
                0
            },
    );
    if seg.flags.rst() {
        if let (true, Some(receiver_key)) = (ctx.fastclose, ctx.remote_key) {
            push(MptcpOption::MpFastclose(MpFastclose { receiver_key }));
        } else if let Some(reason) = s.reset_reason {
            push(MptcpOption::MpTcpRst(MpTcpRst {
                flags: MpTcpRstFlags::default(),
                reason,
            }));
        }
        return;
    }
    if seg.flags.syn() {
        match (s.handshake, seg.flags.ack()) {
            (Handshake::Capable, false) => push(MptcpOption::MpCapable(MpCapable {
                flags,
                variant: MpCapableVariant::Syn,
            })),
            (Handshake::Capable, true) => push(MptcpOption::MpCapable(MpCapable {
                flags,
                variant: MpCapableVariant::SynAck {
                    sender_key: ctx.local_key,
                },
            })),
            (Handshake::JoinSynSent { local_nonce }, false) => {
                push(MptcpOption::MpJoin(MpJoin::Syn {
                    backup: s.backup,
                    addr_id: s.local_id,
                    token: ctx.remote_key.map_or(0, crypto::token),
                    nonce: local_nonce,
                }))
            }
            (
                Handshake::JoinSynAckSent {
                    local_nonce,
                    truncated_hmac,
                    ..
                },
                true,
            ) => push(MptcpOption::MpJoin(MpJoin::SynAck {
                backup: s.backup,
                addr_id: s.local_id,
                truncated_hmac,
                nonce: local_nonce,
            })),
            _ => {}
        }
        return;
    }
    let Some(remote_key) = ctx.remote_key else {
        return;
    };
    if let Handshake::JoinAckSent { hmac } = s.handshake {
        // §3.2: the third ACK, repeated until the fourth ACK arrives.
        push(MptcpOption::MpJoin(MpJoin::Ack { hmac }));
        return;
    }
    let payload = seg.payload_len() > 0;
    let mapping = if payload {
        s.tx_mapping(seg.stream_offset)
    } else {
        None
    };
    if ctx.client && s.first && !ctx.capable_acked {
        // §3.1: the third ACK's keys are repeated until the peer shows it got them;
        // the first data carries them with its data-level length.
        match mapping {
            None if !payload => {
                push(MptcpOption::MpCapable(MpCapable {
                    flags,
                    variant: MpCapableVariant::Ack {
                        sender_key: ctx.local_key,
                        receiver_key: remote_key,
                    },
                }));
                return;
            }
            Some(m) if m.offset == 0 && m.dsn == ctx.local_idsn.wrapping_add(1) => {
                push(MptcpOption::MpCapable(MpCapable {
                    flags,
                    variant: MpCapableVariant::AckWithData {
                        sender_key: ctx.local_key,
                        receiver_key: remote_key,
                        data_level_length: m.len,
                        checksum: m.checksum,
                    },
                }));
                return;
            }
            _ => {}
        }
    }
    if !payload && ctx.data_fin.is_none() {
        // A pure ACK with a signal carries the signal instead of the DATA_ACK when
        // both would not fit (an IPv6 ADD_ADDR takes 30 octets); the next segment
        // acknowledges.
        if let Some(signal) = ctx.signals.pop_front() {
            push_signal(&mut push, signal);
            return;
        }
    }
    let mut dss = Dss {
        data_ack: Some(SeqField::U64(ctx.data_ack)),
        mapping: mapping.map(|m| DssMapping {
            dsn: SeqField::U64(m.dsn),
            ssn: m.ssn(),
            data_level_length: if m.infinite { 0 } else { m.len },
            checksum: m.checksum,
        }),
        data_fin: false,
    };
    if let (false, Some(fin)) = (payload, ctx.data_fin) {
        // §3.3.3: a DATA_FIN on a segment without data has subflow sequence number
        // 0 and data-level length 1.
        dss.data_fin = true;
        dss.mapping = Some(DssMapping {
            dsn: SeqField::U64(fin),
            ssn: 0,
            data_level_length: 1,
            checksum: ctx
                .checksums
                .then(|| crypto::dss_checksum(fin, 0, 1, std::iter::empty())),
        });
    }
    push(MptcpOption::Dss(dss));
    if payload {
        return;
    }
    // Signals ride on segments without data, where there is room for them.
    if std::mem::take(s.prio_due) {
        push(MptcpOption::MpPrio(MpPrio {
            backup: s.backup,
            addr_id: None,
        }));
    }
    if let Some(dsn) = ctx.mp_fail.take() {
        push(MptcpOption::MpFail(MpFail { dsn }));
    }
}

fn push_signal(push: &mut impl FnMut(MptcpOption<'static>), signal: Signal) {
    match signal {
        Signal::AddAddr(a) => push(MptcpOption::AddAddr(a)),
        Signal::RemoveAddr(r) => push(MptcpOption::RemoveAddr(r)),
    }
}

impl SubflowView<'_> {
    fn tx_mapping(&self, offset: u64) -> Option<TxMapping> {
        mapping_at(self.tx, offset).copied()
    }
}
