//! Segment arrival: RFC 9293 §3.10.7, with RFC 5961's defences, RFC 7323's PAWS
//! and the acknowledgment processing of RFC 5681 / RFC 6675.

use super::connection::{AckDue, CloseReason, SegmentIn, TcpConnection, TcpEvent, TcpState};
use crate::cc::{AckEvent, CongestionControl};
use crate::seq::SeqNum;
use crate::time::Instant;

/// What became of a segment, and what the owner of the connection must do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentVerdict {
    /// The segment passed RFC 9293 §3.10.7's checks (with RFC 5961's and PAWS) and
    /// was processed: what it carries for other layers (MPTCP options) may be acted
    /// on. An acceptable RST closed the connection.
    Accepted,
    /// Not acceptable: outside the window, older than PAWS allows, a RST or SYN
    /// answered with a challenge ACK, an ACK of data never sent, or nothing the
    /// state takes. Dropped (perhaps answered with an ACK): nothing it carries may
    /// be acted on.
    Unacceptable,
    /// Answer with a RST built from the segment (RFC 9293 §3.10.7.1 rules), as if no
    /// connection existed: an unacceptable ACK in SYN-SENT or SYN-RECEIVED. Nothing
    /// it carries may be acted on.
    Reset,
}

impl SegmentVerdict {
    /// Whether TCP took the segment, so that its options may be acted on.
    pub fn accepted(self) -> bool {
        self == SegmentVerdict::Accepted
    }
}

impl TcpConnection {
    /// Processes one segment addressed to this connection.
    pub fn handle_segment(
        &mut self,
        now: Instant,
        seg: &SegmentIn<'_>,
        cc: &mut dyn CongestionControl,
    ) -> SegmentVerdict {
        self.stats.segments_received += 1;
        self.last_received = now;
        if let Some(k) = self.config.keepalive {
            // RFC 9293 §3.8.4: probes start after `idle` without a segment from the peer.
            self.keepalive_sent = 0;
            self.keepalive_at = Some(now + k.idle);
        }
        match self.state {
            TcpState::Closed => SegmentVerdict::Unacceptable,
            TcpState::SynSent => self.on_syn_sent(now, seg, cc),
            _ => self.on_synchronized(now, seg, cc),
        }
    }

    /// RFC 9293 §3.10.7.3, SYN-SENT.
    fn on_syn_sent(
        &mut self,
        now: Instant,
        seg: &SegmentIn<'_>,
        cc: &mut dyn CongestionControl,
    ) -> SegmentVerdict {
        let ack = seg.flags.ack().then(|| self.own_offset(seg.ack));
        // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the RST bit
        // is set, if so drop the segment and return)".
        if let Some(ack) = ack {
            if ack == 0 || ack > self.snd_max {
                return if seg.flags.rst() {
                    SegmentVerdict::Unacceptable
                } else {
                    SegmentVerdict::Reset
                };
            }
        }
        if seg.flags.rst() {
            // Only a RST that acknowledges our SYN refuses the connection.
            if ack.is_some() {
                self.enter_closed(CloseReason::Refused);
                return SegmentVerdict::Accepted;
            }
            return SegmentVerdict::Unacceptable;
        }
        if !seg.flags.syn() {
            return SegmentVerdict::Unacceptable;
        }
        self.irs = Some(seg.seq);
        self.negotiate(&seg.options);
        cc.add_subflow(self.cc_id, self.effective_mss(), now);
        if let Some((tsval, _)) = seg.options.timestamps {
            self.ts_recent = tsval;
        }
        // The SYN's window is never scaled (RFC 7323 §2.2).
        self.snd_wnd = seg.window as u64;
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = 0;
        match ack {
            Some(ack) => {
                self.on_syn_acked(now, ack);
                self.snd_wl2 = ack;
                self.state = TcpState::Established;
                self.events.push_back(TcpEvent::Connected);
                self.ack_due = AckDue::Now;
            }
            None => {
                // Simultaneous open (RFC 9293 §3.5, figure 8).
                self.state = TcpState::SynReceived;
                self.syn_due = true;
            }
        }
        SegmentVerdict::Accepted
    }

    fn on_syn_acked(&mut self, now: Instant, ack: u64) {
        self.syn_acked = true;
        self.take_rtt_sample(now, ack);
        self.snd_una = ack;
        self.snd_nxt = self.snd_nxt.max(ack);
        self.sent.retain(|s| s.end > ack);
        self.retries = 0;
        self.rtt.reset_backoff();
        self.rto_at = None;
    }

    /// RFC 9293 §3.10.7.4, every state after SYN-SENT.
    fn on_synchronized(
        &mut self,
        now: Instant,
        seg: &SegmentIn<'_>,
        cc: &mut dyn CongestionControl,
    ) -> SegmentVerdict {
        // RFC 7323 §5.3 (PAWS): a segment older than the last timestamp seen is a
        // duplicate from a previous wrap of the sequence space.
        if self.ts_enabled && !seg.flags.rst() {
            if let Some((tsval, _)) = seg.options.timestamps {
                if (tsval.wrapping_sub(self.ts_recent) as i32) < 0 {
                    self.stats.paws_drops += 1;
                    if self.may_answer_unacceptable(now, seg) {
                        self.ack_due = AckDue::Now;
                    }
                    return SegmentVerdict::Unacceptable;
                }
            }
        }
        let start = self.peer_offset(seg.seq);
        if self.state == TcpState::SynReceived && seg.flags.syn() && seg.flags.ack() && start == 0 {
            return self.on_simultaneous_open(now, seg);
        }
        let len = seg.seq_len() as u64;
        let rcv_nxt = self.rcv_nxt();
        let rcv_wnd = self.rcv_adv.max(rcv_nxt + self.recv.window()) - rcv_nxt;
        // RCV.NXT =< offset < RCV.NXT + RCV.WND, modulo 2^64 as RFC 9293 §3.4 compares
        // modulo 2^32: a sequence number just before the peer's ISN widens to an
        // offset "below 0", near 2^64.
        let in_window = |offset: u64| offset.wrapping_sub(rcv_nxt) < rcv_wnd;
        // First check: is the segment in the window (the four cases of §3.10.7.4)?
        let acceptable = match (len, rcv_wnd) {
            (0, 0) => start == rcv_nxt,
            (0, _) => in_window(start),
            // A zero window still takes ACKs (and the probe's octet is dropped).
            (_, 0) => start == rcv_nxt,
            (_, _) => in_window(start) || in_window(start.wrapping_add(len - 1)),
        };
        if !acceptable {
            self.stats.unacceptable_segments += 1;
            if !seg.flags.rst() {
                if self.may_answer_unacceptable(now, seg) {
                    self.ack_due = AckDue::Now;
                }
                if self.state == TcpState::TimeWait && seg.flags.fin() {
                    self.time_wait_at = Some(now + self.config.time_wait);
                }
            }
            return SegmentVerdict::Unacceptable;
        }
        // Second: RST. RFC 5961 §3.2: only an exact match resets; anything else in
        // the window earns a challenge ACK.
        if seg.flags.rst() {
            if start == rcv_nxt {
                let reason = match self.state {
                    TcpState::Closing | TcpState::LastAck | TcpState::TimeWait => {
                        CloseReason::Finished
                    }
                    _ => CloseReason::Reset,
                };
                if self.close_reason.is_none() {
                    self.enter_closed(reason);
                } else {
                    self.state = TcpState::Closed;
                    self.time_wait_at = None;
                }
                return SegmentVerdict::Accepted;
            }
            self.send_challenge_ack();
            return SegmentVerdict::Unacceptable;
        }
        // Fourth: SYN. RFC 5961 §4: a SYN in a synchronized state gets a challenge
        // ACK; in SYN-RECEIVED a repeat of the peer's SYN means our SYN-ACK was lost.
        if seg.flags.syn() {
            if self.state == TcpState::SynReceived && start == 0 {
                self.syn_due = true;
            } else {
                self.send_challenge_ack();
            }
            return SegmentVerdict::Unacceptable;
        }
        // Fifth: ACK.
        if !seg.flags.ack() {
            return SegmentVerdict::Unacceptable;
        }
        // The octets at and before the peer's SYN (offset 0) are none of its data: an
        // acceptable segment that starts there reaches the window, and only what
        // follows them is processed (RFC 9293 §3.10.7.4 trims to the window).
        let trimmed;
        let (seg, start) = if (start as i64) < 1 {
            let before_data = 1u64.wrapping_sub(start) as usize;
            trimmed = SegmentIn {
                seq: self.peer_seq(1),
                payload: seg.payload.get(before_data..).unwrap_or_default(),
                ..*seg
            };
            (&trimmed, 1)
        } else {
            (seg, start)
        };
        let ack = self.own_offset(seg.ack);
        if self.state == TcpState::SynReceived {
            if ack == 0 || ack > self.snd_max {
                return SegmentVerdict::Reset;
            }
            self.on_syn_acked(now, ack);
            self.state = TcpState::Established;
            self.events.push_back(TcpEvent::Connected);
            self.snd_wnd = (seg.window as u64) << self.snd_wscale;
            self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
            self.snd_wl1 = start;
            self.snd_wl2 = ack;
        }
        // RFC 5961 §5.2: ACKs of data never sent, or far older than the window,
        // are answered with an ACK and dropped. Compared modulo 2^64: an ACK number
        // just before our ISS widens to an offset "below 0", near 2^64.
        let ahead_of_una = ack.wrapping_sub(self.snd_una) as i64;
        if ahead_of_una > (self.snd_max - self.snd_una) as i64
            || ahead_of_una < -(self.max_snd_wnd.max(1) as i64)
        {
            if self.may_answer_unacceptable(now, seg) {
                self.send_challenge_ack();
            }
            return SegmentVerdict::Unacceptable;
        }
        // An old ACK from before our ISS acknowledges nothing, as one of the ISS
        // itself (offset 0) does.
        let ack = if (ack as i64) < 0 { 0 } else { ack };
        self.on_ack(now, seg, start, ack, cc);
        match self.state {
            TcpState::FinWait1 if self.fin_acked() => self.enter_fin_wait_2(now),
            TcpState::Closing if self.fin_acked() => self.enter_time_wait(now),
            TcpState::LastAck if self.fin_acked() => {
                self.enter_closed(CloseReason::Finished);
                return SegmentVerdict::Accepted;
            }
            TcpState::TimeWait if seg.flags.fin() => {
                // A retransmitted FIN: acknowledge it and restart the 2·MSL wait.
                self.ack_due = AckDue::Now;
                self.time_wait_at = Some(now + self.config.time_wait);
            }
            _ => {}
        }
        // Seventh: segment text. Eighth: FIN.
        if matches!(
            self.state,
            TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
        ) {
            self.on_data(now, seg, start);
        }
        SegmentVerdict::Accepted
    }

    /// A SYN-ACK in SYN-RECEIVED: both sides sent SYN at once (RFC 9293 §3.5,
    /// figure 8). Its SYN repeats one already taken, so the sequence check would
    /// refuse it; its ACK completes the handshake (as Linux accepts it).
    fn on_simultaneous_open(&mut self, now: Instant, seg: &SegmentIn<'_>) -> SegmentVerdict {
        let ack = self.own_offset(seg.ack);
        if ack == 0 || ack > self.snd_max {
            return SegmentVerdict::Reset;
        }
        self.on_syn_acked(now, ack);
        self.state = TcpState::Established;
        self.events.push_back(TcpEvent::Connected);
        // A SYN's window is never scaled (RFC 7323 §2.2).
        self.snd_wnd = seg.window as u64;
        self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
        self.snd_wl2 = ack;
        self.ack_due = AckDue::Now;
        SegmentVerdict::Accepted
    }

    /// Whether to answer a segment dropped as unacceptable (out of the window, too
    /// old for PAWS, or acknowledging what was never sent) with an ACK. Two ends out
    /// of step (a forged segment gave one of them octets the other never sent)
    /// answer each other's ACKs so, forever: an ACK loop (RFC 5961 §7 asks for
    /// throttling). A segment that carries nothing is answered at most once per
    /// `unacceptable_ack_interval`, as Linux does; one with data, SYN or FIN always
    /// is, since loops are made of pure ACKs.
    fn may_answer_unacceptable(&mut self, now: Instant, seg: &SegmentIn<'_>) -> bool {
        if seg.seq_len() > 0 {
            return true;
        }
        let interval = self.config.unacceptable_ack_interval;
        if self
            .last_unacceptable_ack
            .is_some_and(|last| now < last + interval)
        {
            self.stats.unacceptable_acks_skipped += 1;
            return false;
        }
        self.last_unacceptable_ack = Some(now);
        true
    }

    fn send_challenge_ack(&mut self) {
        self.stats.challenge_acks += 1;
        self.challenge_due = true;
    }

    /// Our FIN was sent and is acknowledged.
    pub(super) fn fin_acked(&self) -> bool {
        self.fin_offset().is_some_and(|fin| self.snd_una > fin)
    }

    /// Acknowledgment processing (RFC 9293 §3.10.7.4 fifth check; RFC 5681; RFC 6675).
    fn on_ack(
        &mut self,
        now: Instant,
        seg: &SegmentIn<'_>,
        start: u64,
        ack: u64,
        cc: &mut dyn CongestionControl,
    ) {
        if let Some((tsval, _)) = seg.options.timestamps.filter(|_| self.ts_enabled) {
            self.return_delay.on_segment(self.ts_now(now), tsval);
        }
        let prior_in_flight = self.pipe();
        let mut acked = 0;
        let mut rtt_sample = None;
        if ack > self.snd_una {
            acked = ack - self.snd_una;
            rtt_sample = self.take_rtt_sample(now, ack);
            let data_acked = ack.min(self.data_end()).saturating_sub(self.send_start);
            if data_acked > 0 {
                self.send.ack(data_acked as usize);
                self.send_start += data_acked;
                // Boundaries at or below what is acknowledged constrain nothing more.
                self.boundaries = self.boundaries.split_off(&(ack + 1));
                self.events.push_back(TcpEvent::Writable);
            }
            self.snd_una = ack;
            self.snd_nxt = self.snd_nxt.max(ack);
            self.retries = 0;
            self.persist_backoff = 0;
            self.rtt.reset_backoff();
            // RFC 6298 §5.2-5.3: stop the timer when everything is acknowledged,
            // restart it otherwise.
            if self.snd_una >= self.snd_max {
                self.rto_at = None;
            } else {
                self.arm_rto(now);
            }
        }
        // SACK blocks, in scoreboard offsets: the first data octet is 0 there, 1 here.
        let mut blocks = [(0u64, 0u64); 4];
        let mut n = 0;
        if self.sack_enabled {
            if let Some(sack) = seg.options.sack {
                for b in sack.as_slice() {
                    let left = self.own_offset(SeqNum(b.left));
                    let right = self.own_offset(SeqNum(b.right));
                    if 1 <= left && left < right {
                        blocks[n] = (left - 1, right - 1);
                        n += 1;
                    }
                }
            }
        }
        // An ACK of our ISS (offset 0) acknowledges not even the SYN: for the
        // scoreboard it is as old as one of the SYN.
        let summary = self
            .scoreboard
            .on_ack(ack.saturating_sub(1), &blocks[..n], self.snd_max - 1);
        if summary.dsack.is_some() {
            self.stats.dsack_received += 1;
        }
        if summary.recovery_ended || summary.rto_recovery_ended {
            self.fast_rexmit = None;
            self.retransmissions.clear();
            self.relost.clear();
            cc.on_recovery_end(self.cc_id, now);
        } else {
            self.detect_lost_retransmissions();
        }

        // RFC 9293 §3.10.7.4: update the send window from newer segments only, and
        // not from an old ACK ("If SND.UNA =< SEG.ACK =< SND.NXT, the send window
        // should be updated"; `snd_una` already took a newer ACK).
        let newer = self.snd_wl1 < start || (self.snd_wl1 == start && self.snd_wl2 <= ack);
        if newer && ack >= self.snd_una {
            self.snd_wnd = (seg.window as u64) << self.snd_wscale;
            self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
            self.snd_wl1 = start;
            self.snd_wl2 = ack;
        }
        if self.snd_wnd > 0 {
            self.persist_at = None;
        }

        // Loss detection: RFC 6675 §5 steps (1)-(4); without SACK the same steps
        // reduce to RFC 5681 §3.2 fast retransmit on three duplicate ACKs.
        let is_dupack = acked == 0
            && seg.payload.is_empty()
            && !seg.flags.fin()
            && self.snd_max > self.snd_una
            && ack == self.snd_una;
        if acked > 0 {
            self.dupacks = 0;
        } else if is_dupack {
            self.dupacks += 1;
        }
        let smss = self.mss_now() as u64;
        if (is_dupack || summary.newly_sacked > 0)
            && self.scoreboard.should_enter_recovery(self.dupacks, smss)
        {
            if let Some(first) = self.scoreboard.enter_recovery(self.snd_max - 1, smss) {
                self.rexmit_due = Some((first.start + 1, first.end + 1));
                self.stats.fast_recoveries += 1;
                cc.on_congestion_event(self.cc_id, now, prior_in_flight);
            }
        } else if !self.sack_enabled && acked > 0 && self.scoreboard.in_recovery() {
            // RFC 6582 §3.2 step 3: without SACK, a partial ACK shows the next hole.
            self.fast_rexmit = Some(self.snd_una);
        }
        if summary.newly_delivered > 0 {
            // RFC 7661: growth is only earned by a sender that used its window.
            let unsent = self.data_end() > self.snd_nxt;
            let app_limited = !unsent && prior_in_flight + smss < cc.cwnd(self.cc_id);
            cc.on_ack(
                self.cc_id,
                now,
                AckEvent {
                    acked: summary.newly_delivered,
                    prior_in_flight,
                    rtt: rtt_sample,
                    srtt: self.rtt.srtt().unwrap_or(self.config.initial_rto),
                    in_recovery: self.in_recovery(),
                    app_limited,
                },
            );
        }
    }

    /// RFC 6675 resends a hole once per episode; a lost retransmission then waits for
    /// the RTO. Like RACK (RFC 8985 §6.2), braid infers that a retransmission was
    /// lost when something sent after it was delivered: a later retransmission, or
    /// data beyond what had been sent when it went out. Then it is resent.
    fn detect_lost_retransmissions(&mut self) {
        let delivered = |c: &TcpConnection, start: u64, end: u64| {
            end <= c.snd_una
                || c.scoreboard
                    .sacked_ranges()
                    .any(|(s, e)| s < start && end <= e + 1)
        };
        let highest_delivered = self
            .scoreboard
            .highest_sacked()
            .map_or(self.snd_una, |h| h + 1)
            .max(self.snd_una);
        let last_delivered = self
            .retransmissions
            .iter()
            .rposition(|r| delivered(self, r.start, r.end));
        let mut kept = std::collections::VecDeque::new();
        for (i, r) in std::mem::take(&mut self.retransmissions)
            .into_iter()
            .enumerate()
        {
            if delivered(self, r.start, r.end) {
                continue;
            }
            let overtaken =
                last_delivered.is_some_and(|last| i < last) || highest_delivered > r.sent_up_to;
            if overtaken {
                self.relost.push_back((r.start, r.end));
            } else {
                kept.push_back(r);
            }
        }
        self.retransmissions = kept;
    }

    /// Takes an RTT sample from the newest segment `ack` covers that was sent only
    /// once (RFC 6298 §3, Karn's algorithm), and forgets the segments it covers.
    fn take_rtt_sample(&mut self, now: Instant, ack: u64) -> Option<crate::time::Duration> {
        let mut sample = None;
        while let Some(front) = self.sent.front() {
            if front.end > ack {
                break;
            }
            sample = (!front.retransmitted).then(|| now - front.at);
            self.sent.pop_front();
        }
        if let Some(rtt) = sample {
            self.rtt.on_sample(rtt);
            self.stats.rtt_samples += 1;
        }
        sample
    }

    /// Receive-buffer auto-tuning, after Linux's dynamic right-sizing: once per RTT,
    /// let the buffer hold twice what arrived in the last RTT (plus half again while
    /// the sender is still speeding up), within `recv_buffer`. The window thus stays
    /// ahead of the sender without committing the maximum to every connection.
    fn tune_receive_buffer(&mut self, now: Instant, arrived: usize) {
        self.rcv_space_bytes += arrived as u64;
        let rtt = self
            .receive_rtt()
            .unwrap_or(self.config.initial_rto)
            .max(crate::time::Duration::from_millis(1));
        if now < self.rcv_space_at + rtt {
            return;
        }
        let want = (self.rcv_space_bytes * 3) as usize;
        let capacity = self.recv.capacity();
        if want > capacity && capacity < self.config.recv_buffer {
            self.recv.set_capacity(want.min(self.config.recv_buffer));
        }
        self.rcv_space_at = now;
        self.rcv_space_bytes = 0;
    }

    /// A receive RTT sample from a full-sized data segment's TSecr, once per echoed
    /// TSval (millisecond ticks, so at least 1 ms), smoothed with gain 1/8.
    fn measure_receive_rtt(&mut self, now: Instant, seg: &SegmentIn<'_>) {
        let Some((_, tsecr)) = seg.options.timestamps else {
            return;
        };
        if !self.ts_enabled
            || tsecr == 0
            || tsecr == self.rcv_rtt_tsecr
            || seg.payload.len() < self.effective_mss() as usize
        {
            return;
        }
        let ticks = self.ts_now(now).wrapping_sub(tsecr);
        // An echo from the future or older than a minute is no sample.
        if (ticks as i32) < 0 || ticks > 60_000 {
            return;
        }
        self.rcv_rtt_tsecr = tsecr;
        let sample = crate::time::Duration::from_millis(u64::from(ticks.max(1)));
        self.rcv_rtt = Some(match self.rcv_rtt {
            None => sample,
            Some(rtt) => {
                let micros = (rtt.as_micros() * 7 + sample.as_micros()) / 8;
                crate::time::Duration::from_micros(micros)
            }
        });
    }

    /// Seventh and eighth checks: segment text and FIN.
    fn on_data(&mut self, now: Instant, seg: &SegmentIn<'_>, start: u64) {
        let rcv_nxt = self.rcv_nxt();
        if !seg.payload.is_empty() {
            self.measure_receive_rtt(now, seg);
            // Data octet k of the peer's stream is at offset k + 1.
            self.tune_receive_buffer(now, seg.payload.len());
            let outcome = self.recv.insert(start - 1, seg.payload);
            self.stats.bytes_received += seg.payload.len() as u64;
            if outcome.newly_readable > 0 {
                self.events.push_back(TcpEvent::Readable);
            }
            // RFC 5681 §4.2: ACK out-of-order segments, and those filling a hole, at
            // once; otherwise at least every second full-sized segment.
            if start != rcv_nxt
                || self.recv.has_out_of_order()
                || outcome.newly_readable > seg.payload.len()
            {
                self.ack_due = AckDue::Now;
            } else {
                self.bytes_since_ack += seg.payload.len();
                if self.bytes_since_ack >= 2 * self.effective_mss() as usize
                    || self.config.delayed_ack.is_none()
                {
                    self.ack_due = AckDue::Now;
                } else if self.ack_due == AckDue::No {
                    self.ack_due = AckDue::Delayed;
                    if let Some(delay) = self.config.delayed_ack {
                        self.delack_at.get_or_insert(now + delay);
                    }
                }
            }
        }
        // RFC 7323 §4.3: TS.Recent follows segments that start at or before the
        // last ACK we sent.
        if let Some((tsval, _)) = seg.options.timestamps {
            if start <= self.last_ack_sent && (tsval.wrapping_sub(self.ts_recent) as i32) >= 0 {
                self.ts_recent = tsval;
            }
        }
        if seg.flags.fin() && !self.peer_fin_consumed {
            // Segments are processed in sequence: the FIN the stream reaches first
            // is the peer's. One recorded out of order gives way to an earlier one,
            // and counts for nothing once the stream went past it (as the data it
            // ended would have); neither happens unless a FIN was forged.
            let fin = start + seg.payload.len() as u64;
            let reached = self.rcv_nxt();
            let recorded = self.peer_fin.filter(|&f| f >= reached);
            self.peer_fin = match recorded {
                Some(f) => Some(f.min(fin)),
                None => (fin >= reached).then_some(fin),
            };
        }
        if let Some(fin) = self.peer_fin {
            if !self.peer_fin_consumed && self.rcv_nxt() == fin {
                self.peer_fin_consumed = true;
                self.ack_due = AckDue::Now;
                self.events.push_back(TcpEvent::PeerFinished);
                match self.state {
                    TcpState::Established => self.state = TcpState::CloseWait,
                    TcpState::FinWait1 if self.fin_acked() => self.enter_time_wait(now),
                    TcpState::FinWait1 => self.state = TcpState::Closing,
                    TcpState::FinWait2 => self.enter_time_wait(now),
                    _ => {}
                }
            }
        }
    }
}
