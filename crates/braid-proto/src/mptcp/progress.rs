//! What follows any activity: subflows that ended or stalled, data-level
//! acknowledgments in fallback, the DATA_FIN exchange and the connection's end
//! (RFC 8684 §3.3.3), and events for the application.

use crate::mptcp::connection::{MptcpConnection, Phase};
use crate::tcp::{CloseReason, TcpEvent, TcpState};
use crate::time::{Duration, Instant};

impl MptcpConnection {
    pub(super) fn after_activity(&mut self, now: Instant) {
        self.watch_subflows();
        if self.phase == Phase::Fallback {
            self.fallback_data_ack();
        }
        let data_una = self.sender.data_una();
        for s in &mut self.subflows {
            s.prune_tx(data_una);
        }
        self.arm_data_rto(now);
        self.autotune_receive(now);
        self.autotune_send(now);
        if let Some(rtt) = self.subflows.first().and_then(|s| s.tcp.srtt()) {
            // ADD_ADDR resends follow the path's RTT.
            self.pm.on_rtt_sample(rtt);
        }
        self.run_path_manager(now);
        if !self.signals.is_empty() || self.mp_fail_due.is_some() {
            // A signal the last pure ACK had no room for.
            self.request_signal_ack();
        }
        self.close_progress(now);
        self.update_window_limits();
        self.report();
    }

    /// Subflows that ended, or whose retransmission timer fired, hand their data to
    /// the others (§3.3.6: data is retransmitted at the data level on another subflow
    /// when a subflow fails).
    fn watch_subflows(&mut self) {
        for i in 0..self.subflows.len() {
            let s = &mut self.subflows[i];
            while s.tcp.poll_event().is_some() {}
            let acked = s.tcp.bytes_acked();
            if acked > s.acked_seen {
                s.acked_seen = acked;
                s.stale = false;
            }
            let timeouts = s.tcp.stats().timeouts;
            let timed_out = timeouts > s.timeouts_seen;
            s.timeouts_seen = timeouts;
            if timed_out && s.is_usable() {
                s.stale = true;
            }
            let ended = s.tcp.state() == TcpState::Closed && !s.ended;
            if ended {
                s.ended = true;
                self.cc_removals.push(s.id);
                // A subflow the peer refused with MP_TCPRST is not retried unless it
                // said the error is transient (RFC 8684 §3.6, the T flag); any other
                // failure (reset without reason, timeout) may be.
                let refused = s.peer_reset_reason.is_some() && !s.peer_reset_transient;
                let failed = s.tcp.close_reason() != Some(CloseReason::Finished) && !refused;
                let (local, remote) = (s.tcp.local(), s.tcp.remote());
                self.pm.on_subflow_closed(local, remote, failed);
            }
            let others = self
                .subflows
                .iter()
                .enumerate()
                .any(|(j, o)| j != i && o.is_usable() && !o.stale);
            if (ended || timed_out) && others {
                self.reinject_from(i);
            }
        }
    }

    /// Receive-window auto-tuning across subflows (after Linux's dynamic
    /// right-sizing): every RTT of the slowest usable subflow, the window grows to
    /// twice what arrived in order during it, plus some segments, never shrinking and
    /// never past the buffer. Twice RTT_max × the rate keeps every path busy while
    /// the slow one's data is still on its way.
    fn autotune_receive(&mut self, now: Instant) {
        if !self.config.receive_autotune {
            self.rcv_target = self.receiver.capacity() as u64;
            return;
        }
        let Some(rtt_max) = self.tuning_rtt_max(true) else {
            return;
        };
        let ack = self.receiver.data_ack();
        let Some((start, ack_then)) = self.rcv_sample else {
            self.rcv_sample = Some((now, ack));
            return;
        };
        if now < start + rtt_max {
            return;
        }
        let delivered = ack.wrapping_sub(ack_then);
        let wanted = 2 * delivered + self.tuning_headroom();
        let capacity = self.receiver.capacity() as u64;
        if wanted > self.rcv_target {
            self.rcv_target = wanted.min(capacity);
        }
        self.rcv_sample = Some((now, ack));
    }

    /// Send-buffer auto-tuning across subflows (after Linux's tcp_sndbuf_expand): the
    /// connection-level send buffer starts small and, every RTT of the slowest usable
    /// subflow, grows to twice RTT_max × the sum of the subflows' delivery rates
    /// (what they got acknowledged during it), plus some segments, never shrinking
    /// and never past the configured send buffer ([`DataSender::autotune`]). Off,
    /// the connection made the whole buffer available from the start.
    ///
    /// [`DataSender::autotune`]: crate::mptcp::data::DataSender::autotune
    fn autotune_send(&mut self, now: Instant) {
        if !self.config.send_autotune {
            return;
        }
        let Some(rtt_max) = self.tuning_rtt_max(false) else {
            return;
        };
        let delivered = self.subflows.iter().map(|s| s.tcp.bytes_acked()).sum();
        let headroom = self.tuning_headroom();
        self.sender.autotune(now, rtt_max, delivered, headroom);
    }

    /// The largest RTT of the usable subflows, once the connection is past its
    /// handshake: buffer auto-tuning's interval, and the unit of patience with a
    /// stuck left edge. The sending side's smoothed RTT,
    /// or for the receive buffer the RTT the receiving side measures
    /// ([`TcpConnection::receive_rtt`]; a side that only receives has no other).
    ///
    /// [`TcpConnection::receive_rtt`]: crate::tcp::TcpConnection::receive_rtt
    pub(super) fn tuning_rtt_max(&self, receiving: bool) -> Option<Duration> {
        if self.phase == Phase::Handshake {
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

    /// What auto-tuning adds to twice the bytes of one RTT_max: 16 segments.
    fn tuning_headroom(&self) -> u64 {
        let mss = self
            .subflows
            .first()
            .map_or(1460, |s| u64::from(s.tcp.effective_mss()));
        16 * mss
    }

    /// Keeps the data-level retransmission timer running while data is
    /// unacknowledged, restarting it whenever DATA_ACK moves.
    fn arm_data_rto(&mut self, now: Instant) {
        let una = self.sender.data_una();
        let outstanding = una != self.sender.data_nxt();
        if self.phase != Phase::Established || !outstanding || self.closed.is_some() {
            self.data_rto_at = None;
            self.data_rto_backoff = 0;
            return;
        }
        if una != self.data_una_seen || self.data_rto_at.is_none() {
            if una != self.data_una_seen {
                self.data_rto_backoff = 0;
            }
            self.data_una_seen = una;
            self.data_rto_at = Some(now + self.data_rto());
        }
    }

    /// Twice the largest RTO of the usable subflows, doubled per expiry without
    /// progress (bounded): long enough that the subflows' own recovery goes first.
    fn data_rto(&self) -> Duration {
        let base = self
            .subflows
            .iter()
            .filter(|s| s.is_usable())
            .map(|s| s.tcp.rto())
            .max()
            .unwrap_or(Duration::from_secs(1));
        let backoff = 1u64 << self.data_rto_backoff.min(6);
        Duration::from_micros((2 * base.as_micros() * backoff).min(60_000_000))
    }

    /// The data-level timer fired: the oldest unacknowledged data is mapped again
    /// onto whichever subflow the scheduler picks, so a mapping lost in the network
    /// (or a subflow that silently stopped) cannot stall the connection.
    pub(super) fn on_data_rto(&mut self, now: Instant) {
        let una = self.sender.data_una();
        let len = u64::from(self.config.max_mapping);
        self.stats.reinjected_bytes += self.sender.reinject(una, len);
        self.stats.data_level_timeouts += 1;
        self.data_rto_backoff += 1;
        self.data_rto_at = Some(now + self.data_rto());
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
        let mut dsn = match s.tx_mapping_at(acked) {
            Some(m) => m.dsn.wrapping_add(acked - m.offset),
            None => self.sender.data_nxt(),
        };
        let fin_acked = matches!(
            s.tcp.state(),
            TcpState::FinWait2 | TcpState::TimeWait | TcpState::Closing | TcpState::Closed
        ) && s
            .tcp
            .close_reason()
            .is_none_or(|r| r == CloseReason::Finished);
        if fin_acked && self.sender.data_fin_ready() {
            dsn = self.sender.data_nxt().wrapping_add(1);
        }
        let window = s.tcp.peer_window().max(u64::from(u32::MAX));
        self.sender.on_data_ack(dsn, window);
    }

    fn close_progress(&mut self, now: Instant) {
        if self.closed.is_some() {
            return;
        }
        match self.phase {
            Phase::Handshake => {
                if let Some(s) = self.subflows.first() {
                    if s.tcp.state() == TcpState::Closed {
                        let reason = s.tcp.close_reason().unwrap_or(CloseReason::Reset);
                        self.finish(reason);
                    }
                }
            }
            Phase::Fallback => {
                let s = &mut self.subflows[0];
                if self.sender.data_fin_ready() {
                    s.tcp.close();
                }
                if s.tcp.state() == TcpState::Closed {
                    let reason = s.tcp.close_reason().unwrap_or(CloseReason::Finished);
                    self.finish(reason);
                }
            }
            Phase::Established => {
                let fin_owed = self.sender.data_fin_ready() && !self.sender.all_acked();
                if fin_owed {
                    let retry = self.data_fin_retry_at().is_some_and(|t| t <= now);
                    if self.data_fin_sent_at.is_none() || retry {
                        self.data_fin_sent_at = None;
                        self.request_window_update();
                    }
                }
                let peer_done = self
                    .receiver
                    .data_fin_dsn()
                    .is_some_and(|fin| self.receiver.data_ack() == fin.wrapping_add(1));
                let we_done = self.sender.data_fin_dsn().is_some() && self.sender.all_acked();
                if peer_done && we_done && !self.subflows_closing {
                    // §3.3.3: both DATA_FINs acknowledged; the subflows close.
                    self.subflows_closing = true;
                    for s in &mut self.subflows {
                        s.tcp.close();
                    }
                }
                let all_closed = self
                    .subflows
                    .iter()
                    .all(|s| s.tcp.state() == TcpState::Closed);
                // TIME-WAIT subflows are over for the connection (they only guard
                // their 4-tuple).
                let all_over = self
                    .subflows
                    .iter()
                    .all(|s| matches!(s.tcp.state(), TcpState::Closed | TcpState::TimeWait));
                if self.subflows_closing && all_over {
                    self.finish(CloseReason::Finished);
                } else if all_closed {
                    // Every path failed before the end.
                    let reason = self
                        .subflows
                        .iter()
                        .filter_map(|s| s.tcp.close_reason())
                        .find(|&r| r != CloseReason::Finished)
                        .unwrap_or(CloseReason::Reset);
                    self.finish(reason);
                }
            }
        }
    }

    /// When an unacknowledged DATA_FIN is sent again: one RTO of the slowest usable
    /// subflow after it was last sent.
    pub(super) fn data_fin_retry_at(&self) -> Option<Instant> {
        let sent = self.data_fin_sent_at?;
        if !self.sender.data_fin_ready() || self.sender.all_acked() {
            return None;
        }
        let rto = self
            .subflows
            .iter()
            .filter(|s| s.is_usable())
            .map(|s| s.tcp.rto())
            .max()?;
        Some(sent + rto)
    }

    /// Connection events for the application.
    fn report(&mut self) {
        let readable = self.receiver.readable();
        if readable > self.readable_reported {
            self.events.push_back(TcpEvent::Readable);
        }
        self.readable_reported = readable;
        if self.write_blocked && self.send_capacity() > 0 {
            self.write_blocked = false;
            self.events.push_back(TcpEvent::Writable);
        }
        if !self.peer_fin_reported && self.receiver.data_fin_dsn().is_some() {
            let fin = self.receiver.data_fin_dsn().unwrap_or_default();
            if self.receiver.data_ack() == fin.wrapping_add(1) {
                self.peer_fin_reported = true;
                self.events.push_back(TcpEvent::PeerFinished);
            }
        }
    }
}
