//! Building segments: what to send next, within the peer's window and the
//! congestion window (RFC 9293 §3.8, RFC 5681, RFC 6675 §5).

use super::connection::{AckDue, Retransmission, SegmentOut, Sent, TcpConnection, TcpState};
use super::options::SendOptions;
use crate::cc::CongestionControl;
use crate::time::Instant;
use crate::wire::tcp_option::{SackBlock, SackBlocks};
use crate::wire::TcpFlags;

/// What a data-bearing segment covers, decided before it is built.
struct Plan {
    start: u64,
    len: u64,
    fin: bool,
    retransmission: bool,
}

impl TcpConnection {
    /// The next segment to send, if any. Call it until it returns `None` after every
    /// input (segment, timeout, application call).
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        cc: &mut dyn CongestionControl,
    ) -> Option<SegmentOut<'_>> {
        if self.rst_due {
            self.rst_due = false;
            // RFC 9293 §3.10.5: an abort sends RST with SEG.SEQ = SND.NXT.
            let seq = self.own_seq(self.snd_nxt);
            return Some(self.segment(
                now,
                seq,
                TcpFlags::RST | TcpFlags::ACK,
                SendOptions::default(),
                None,
                false,
            ));
        }
        match self.state {
            TcpState::Closed => return None,
            TcpState::SynSent | TcpState::SynReceived => return self.poll_syn(now),
            _ => {}
        }
        if std::mem::take(&mut self.pure_ack_due) {
            let seq = self.own_seq(self.snd_nxt);
            return Some(self.ack_segment(now, seq));
        }
        if self.state != TcpState::TimeWait {
            if let Some(plan) = self.plan_data(now, cc) {
                return Some(self.data_segment(now, plan));
            }
            if self.probe_due {
                self.probe_due = false;
                self.stats.zero_window_probes += 1;
                // RFC 9293 §3.8.6.1 probes a zero window; like Linux, braid sends
                // an ACK for an octet already acknowledged, which the peer must
                // answer with its current window and which consumes no sequence space.
                let seq = self.own_seq(self.snd_una - 1);
                return Some(self.ack_segment(now, seq));
            }
            if self.keepalive_due {
                self.keepalive_due = false;
                self.stats.keepalive_probes += 1;
                // RFC 9293 §3.8.4: a probe with SEG.SEQ = SND.NXT - 1 draws an ACK.
                let seq = self.own_seq(self.snd_nxt.saturating_sub(1));
                return Some(self.ack_segment(now, seq));
            }
        }
        if self.ack_due == AckDue::Now || self.challenge_due || self.window_update_due {
            let seq = self.own_seq(self.snd_nxt);
            return Some(self.ack_segment(now, seq));
        }
        None
    }

    /// SYN or SYN-ACK, when one is owed.
    fn poll_syn(&mut self, now: Instant) -> Option<SegmentOut<'_>> {
        if !self.syn_due {
            return None;
        }
        self.syn_due = false;
        let active = self.state == TcpState::SynSent;
        let c = &self.config;
        // A SYN offers what we support; a SYN-ACK only what the peer offered too
        // (RFC 7323 §2.2, §3.2; RFC 2018 §2).
        let options = SendOptions {
            mss: Some(c.mss),
            window_scale: (c.window_scaling
                && (active || self.snd_wscale > 0 || self.rcv_wscale > 0))
                .then_some(self.rcv_wscale),
            sack_permitted: c.sack && (active || self.sack_enabled),
            timestamps: (c.timestamps && (active || self.ts_enabled))
                .then(|| (self.ts_now(now), self.ts_recent)),
            sack: None,
        };
        self.snd_nxt = 1;
        self.snd_max = self.snd_max.max(1);
        let retransmitted = self.retries > 0;
        self.sent.clear();
        self.sent.push_back(Sent {
            end: 1,
            at: now,
            retransmitted,
        });
        if self.rto_at.is_none() {
            self.arm_rto(now);
        }
        let flags = if active {
            TcpFlags::SYN
        } else {
            TcpFlags::SYN | TcpFlags::ACK
        };
        Some(self.segment(now, self.iss, flags, options, None, retransmitted))
    }

    /// Decides the next data (or FIN) segment: retransmissions first, then new data.
    fn plan_data(&mut self, now: Instant, cc: &mut dyn CongestionControl) -> Option<Plan> {
        let mss = self.mss_now() as u64;
        let cwnd = cc.cwnd(self.cc_id);
        let data_end = self.data_end();
        let fin = self.fin_offset();
        // Sequence space that can be sent at all: data, and the FIN after it.
        let seq_end = fin.map_or(data_end, |f| f + 1);

        // Ranges chosen for retransmission may have been acknowledged since, by ACKs
        // handled before this poll: `retransmission` then skips them.
        // The fast retransmission of RFC 6675 §5 (4.3), chosen on entering recovery.
        if let Some((start, end)) = self.rexmit_due.take() {
            if let Some(plan) = self.retransmission(start, end) {
                return Some(plan);
            }
        }
        // Retransmissions found lost (see `detect_lost_retransmissions`).
        while let Some((start, end)) = self.relost.pop_front() {
            if let Some(plan) = self.retransmission(start, end) {
                return Some(plan);
            }
        }
        // Without SACK, the next hole after a partial ACK (RFC 6582 §3.2).
        if let Some(at) = self.fast_rexmit.take() {
            let at = at.max(self.snd_una);
            if at < self.snd_max {
                let end = (at + mss).min(self.snd_max);
                self.scoreboard.mark_retransmitted(at - 1, end - 1);
                if let Some(plan) = self.retransmission(at, end) {
                    return Some(plan);
                }
            }
        }
        // In recovery, RFC 6675 §5 (C): while cwnd - pipe >= 1 SMSS, send what
        // NextSeg() says, lost data before new data.
        if self.in_recovery() && cwnd >= self.pipe() + mss {
            let window_end = self.snd_una + self.snd_wnd;
            let sendable_new = seq_end.min(window_end).saturating_sub(self.snd_max);
            if let Some(next) = self
                .scoreboard
                .next_seg(self.snd_max - 1, sendable_new, mss)
            {
                if next.is_retransmission() {
                    self.scoreboard.record(&next);
                    if let Some(plan) = self.retransmission(next.start + 1, next.end + 1) {
                        return Some(plan);
                    }
                }
            }
        }

        // New data.
        if self.snd_nxt >= seq_end {
            return None;
        }
        let in_flight = self.pipe();
        let window_end = self.snd_una + self.snd_wnd;
        // Up to the next boundary: what lies beyond it needs a segment of its own.
        let boundary = self.boundary_after(self.snd_nxt).unwrap_or(u64::MAX);
        let available = data_end.min(boundary).saturating_sub(self.snd_nxt);
        let by_window = window_end.saturating_sub(self.snd_nxt);
        // RFC 3042 limited transmit: each of the first two duplicate ACKs lets one
        // new segment out beyond cwnd, so that a small window still gathers the
        // three duplicates fast retransmit needs.
        let limited_transmit = if self.in_recovery() {
            0
        } else {
            self.dupacks.min(2) as u64 * mss
        };
        let by_cwnd = (cwnd + limited_transmit).saturating_sub(in_flight);
        let len = available.min(mss).min(by_window).min(by_cwnd);
        let sends_fin =
            fin.is_some() && self.snd_nxt + len == data_end && self.snd_nxt + len <= window_end;
        if len == 0 && !sends_fin {
            if by_window == 0
                && available > 0
                && self.bytes_in_flight() == 0
                && self.persist_at.is_none()
            {
                // RFC 9293 §3.8.6.1: probe a zero window on a timer.
                self.persist_at = Some(now + self.persist_interval());
            }
            return None;
        }
        if len < mss && !sends_fin {
            // Nagle (RFC 9293 §3.7.4): hold a small segment while data is unacknowledged,
            // unless it is short because the layer above ended a unit there (an MPTCP
            // mapping): nothing would join it.
            let ends_unit = len == available && self.snd_nxt + len == boundary;
            if self.config.nagle && self.bytes_in_flight() > 0 && !ends_unit {
                return None;
            }
            // Sender SWS avoidance (RFC 9293 §3.8.6.2.1): wait for a useful window
            // unless this is all the data there is, or the override timeout (the
            // persist timer here) fired.
            let window_limited = len < available && len < self.max_snd_wnd / 2 && by_cwnd > len;
            if window_limited && !std::mem::take(&mut self.sws_override) {
                if self.bytes_in_flight() == 0 && self.persist_at.is_none() {
                    self.persist_at = Some(now + self.persist_interval());
                }
                return None;
            }
        }
        Some(Plan {
            start: self.snd_nxt,
            len,
            fin: sends_fin,
            retransmission: self.snd_nxt < self.snd_max,
        })
    }

    /// A plan to resend `[start, end)` of sequence space (which may hold the FIN).
    /// A plan to resend what is still unacknowledged of `[start, end)` in sequence
    /// space (which may hold the FIN), or `None` if all of it was acknowledged.
    fn retransmission(&self, start: u64, end: u64) -> Option<Plan> {
        let start = start.max(self.snd_una);
        // Never larger than a segment may be now, whatever size the range was chosen at,
        // and never across a boundary the layer above set.
        let end = end
            .min(start + self.mss_now() as u64)
            .min(self.snd_max)
            .min(self.boundary_after(start).unwrap_or(u64::MAX));
        if start >= end {
            return None;
        }
        let data_end = self.data_end();
        let fin = self.fin_offset().is_some_and(|f| start <= f && f < end);
        Some(Plan {
            start,
            len: end.min(data_end).saturating_sub(start),
            fin,
            retransmission: true,
        })
    }

    fn data_segment(&mut self, now: Instant, plan: Plan) -> SegmentOut<'_> {
        let end = plan.start + plan.len + plan.fin as u64;
        if plan.retransmission {
            self.stats.retransmitted_segments += 1;
            self.stats.bytes_retransmitted += plan.len;
            // Karn: no RTT sample from anything resent. Log entries are contiguous
            // from SND.UNA, so each starts where the previous one ended.
            let mut entry_start = self.snd_una;
            for s in self.sent.iter_mut() {
                if s.end > plan.start && entry_start < end {
                    s.retransmitted = true;
                }
                entry_start = s.end;
            }
            if self.in_recovery() {
                self.retransmissions.push_back(Retransmission {
                    start: plan.start,
                    end,
                    sent_up_to: self.snd_max,
                });
            }
        }
        if end > self.snd_max {
            self.sent.push_back(Sent {
                end,
                at: now,
                retransmitted: plan.retransmission,
            });
        }
        if !plan.retransmission {
            self.snd_nxt = self.snd_nxt.max(end);
        }
        self.snd_max = self.snd_max.max(end);
        self.stats.bytes_sent += plan.len;
        if self.rto_at.is_none() {
            self.arm_rto(now);
        }
        if plan.fin {
            match self.state {
                TcpState::Established => self.state = TcpState::FinWait1,
                TcpState::CloseWait => self.state = TcpState::LastAck,
                _ => {}
            }
        }
        let mut flags = TcpFlags::ACK;
        if plan.fin {
            flags |= TcpFlags::FIN;
        }
        if plan.len > 0 && plan.start + plan.len == self.data_end() {
            flags |= TcpFlags::PSH;
        }
        let seq = self.own_seq(plan.start);
        let range =
            (plan.len > 0).then(|| ((plan.start - self.send_start) as usize, plan.len as usize));
        let options = self.ack_options(now);
        self.segment(now, seq, flags, options, range, plan.retransmission)
    }

    fn ack_segment(&mut self, now: Instant, seq: crate::seq::SeqNum) -> SegmentOut<'_> {
        let options = self.ack_options(now);
        self.segment(now, seq, TcpFlags::ACK, options, None, false)
    }

    /// Timestamps and SACK blocks for a segment that carries an ACK.
    fn ack_options(&self, now: Instant) -> SendOptions {
        let mut options = SendOptions::default();
        if self.ts_enabled {
            options.timestamps = Some((self.ts_now(now), self.ts_recent));
        }
        if self.sack_enabled && self.recv.has_out_of_order() {
            // RFC 2018 §4: the block with the latest segment first. With timestamps
            // three blocks fit.
            let max = self.sack_blocks_to_send();
            let mut blocks = [SackBlock::default(); 4];
            let mut n = 0;
            for (start, end) in self.recv.sack_blocks(max) {
                // Receive offsets count data octets from 0; sequence space from the SYN.
                blocks[n] = SackBlock {
                    left: self.peer_seq(start + 1).0,
                    right: self.peer_seq(end + 1).0,
                };
                n += 1;
            }
            options.sack = SackBlocks::new(&blocks[..n]);
        }
        options
    }

    /// Fills in ACK, window and bookkeeping common to every segment.
    fn segment(
        &mut self,
        now: Instant,
        seq: crate::seq::SeqNum,
        flags: TcpFlags,
        options: SendOptions,
        payload: Option<(usize, usize)>,
        retransmission: bool,
    ) -> SegmentOut<'_> {
        let _ = now;
        self.stats.segments_sent += 1;
        let rcv_nxt = self.rcv_nxt();
        let window = if flags.syn() {
            // RFC 7323 §2.2: the window of a SYN is not scaled.
            self.recv.window().min(0xffff)
        } else {
            let open = match self.window_limit {
                Some(limit) => self.recv.window().min(limit),
                None => self.recv.window(),
            };
            // Never move the right edge left (RFC 9293 §3.8.6.2.2). Under a limit
            // the limit is what the peer reads: MPTCP's edge moves at data level.
            self.rcv_adv = self.rcv_adv.max(rcv_nxt + open);
            let advertised = match self.window_limit {
                Some(_) => open,
                None => self.rcv_adv - rcv_nxt,
            };
            (advertised >> self.rcv_wscale).min(0xffff)
        };
        if flags.ack() {
            self.last_ack_sent = rcv_nxt;
            self.ack_due = AckDue::No;
            self.delack_at = None;
            self.bytes_since_ack = 0;
            self.challenge_due = false;
            self.window_update_due = false;
        }
        let ack = if flags.ack() {
            self.peer_seq(rcv_nxt)
        } else {
            crate::seq::SeqNum(0)
        };
        let payload = match payload {
            Some((offset, len)) => {
                let (a, b) = self.send.slices(offset, len);
                [a, b]
            }
            None => [&[][..], &[][..]],
        };
        let stream_offset = self.own_offset(seq).saturating_sub(1);
        SegmentOut {
            stream_offset,
            seq,
            ack,
            flags,
            window: window as u16,
            options,
            payload,
            retransmission,
        }
    }
}
