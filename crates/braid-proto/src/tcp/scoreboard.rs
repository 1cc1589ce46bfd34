//! The sender's SACK scoreboard and loss detection: RFC 6675 (conservative SACK-based
//! loss recovery), with the RTO handling of its §5.1.
//!
//! Offsets are `u64` relative to the first data byte (ISN + 1 is offset 0); the caller
//! maps sequence numbers to offsets. Ranges are half-open `[start, end)`. Where RFC
//! 6675 names the highest octet of something (HighACK, HighData, HighRxt, RescueRxt,
//! RecoveryPoint), this module stores one past it, so that `high_ack` is SND.UNA and
//! `high_data` is SND.NXT (SND.MAX for a caller that rewinds SND.NXT after a timeout).
//!
//! Implemented:
//! - §3 the scoreboard: SACKed ranges above HighACK, merged, in a `BTreeMap`, capped
//!   at `max_ranges` (beyond it the highest ranges are forgotten: SACK information is
//!   advisory, so forgetting is safe, only less efficient).
//! - §4 `Update()` ([`on_ack`](Scoreboard::on_ack)), `IsLost()`
//!   ([`is_lost`](Scoreboard::is_lost)), `SetPipe()` ([`pipe`](Scoreboard::pipe)),
//!   `NextSeg()` rules 1 to 5 ([`next_seg`](Scoreboard::next_seg)).
//! - §5 steps (1), (2), (4.1), (4.3) ([`should_enter_recovery`],
//!   [`enter_recovery`]), (A) (recovery ends in `on_ack`), (C.2) and RescueRxt
//!   ([`record`](Scoreboard::record)).
//! - §5.1 retransmission timeouts ([`reset_on_rto`](Scoreboard::reset_on_rto)).
//! - RFC 2883 D-SACK recognition, and detection of a receiver reneging on SACKed data
//!   (RFC 2018 §8).
//!
//! Left to the caller: counting DupAcks (RFC 6675 §2), cwnd and ssthresh (§5 (4.2),
//! the congestion controller), limited transmit (§5 (3)), the loop of §5 (C).
//!
//! Departures, each to match what the code can know or what Linux does:
//! - `IsLost()` counts "discontiguous SACKed sequences" as SACKed *ranges*: the
//!   scoreboard keeps bytes, not segment boundaries. Full-sized segments are caught by
//!   the byte rule; many small SACKed segments are caught by the DupAcks rule of §5 (1).
//! - `SetPipe()` (b) counts octets actually retransmitted (tracked ranges) rather than
//!   every octet at or below HighRxt: octets NextSeg skipped are not counted, the
//!   rescue retransmission of rule (4) is.
//! - After a timeout, SACK information is kept and every unSACKed octet below the new
//!   RecoveryPoint is lost, so `next_seg` retransmits them in order, skipping SACKed
//!   data (Linux's behaviour; §5.1 leaves the choice open, see `reset_on_rto`).
//!
//! [`should_enter_recovery`]: Scoreboard::should_enter_recovery
//! [`enter_recovery`]: Scoreboard::enter_recovery

use std::collections::BTreeMap;

/// RFC 6675 §2: "DupThresh: The number of duplicate acknowledgments required to
/// trigger a fast retransmission. Per \[RFC5681\], this threshold is defined to be 3".
pub const DUP_THRESH: u32 = 3;

/// Default cap on SACKed ranges remembered.
pub const DEFAULT_MAX_RANGES: usize = 1024;

/// What an acknowledgment changed; see [`Scoreboard::on_ack`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckSummary {
    /// How far the cumulative acknowledgment (SND.UNA) moved.
    pub newly_acked_cum: u64,
    /// Bytes SACKed by this ACK that were not SACKed before.
    pub newly_sacked: u64,
    /// Bytes the peer newly reported received, cumulatively or by SACK: cumulatively
    /// acknowledged bytes that were SACKed earlier are not counted again. What a
    /// congestion controller's "bytes acked" should be.
    pub newly_delivered: u64,
    /// RFC 2883 §4: the first block reported data received twice, below the
    /// cumulative ACK or inside the second block. It is not used as SACK information.
    pub dsack: Option<(u64, u64)>,
    /// Blocks ignored: not within (`cum_ack`, `high_data`], empty, or reaching down to
    /// data already acknowledged. The D-SACK block is not counted.
    pub ignored_blocks: usize,
    /// The cumulative ACK stopped at or inside data the peer had SACKed: it discarded
    /// data it reported (RFC 2018 §8 allows it). All SACK information was dropped.
    pub reneged: bool,
    /// More than `max_ranges` SACKed ranges: the highest were forgotten.
    pub sack_overflow: bool,
    /// RFC 6675 §5 (A): fast recovery ended (RecoveryPoint cumulatively acknowledged).
    pub recovery_ended: bool,
    /// The recovery after a timeout ended (its RecoveryPoint cumulatively acknowledged):
    /// a new fast recovery may start again (RFC 6675 §5.1).
    pub rto_recovery_ended: bool,
    /// The ACK acknowledged data never sent (beyond `high_data`); nothing was changed.
    /// RFC 9293 §3.10.7.4: such an ACK is answered with an ACK and dropped.
    pub acks_unsent: bool,
}

/// Which NextSeg rule chose a segment, which says how to send and record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextSegRule {
    /// Rule (1): a retransmission of data considered lost (or, after a timeout, of
    /// unSACKed data below the RTO's RecoveryPoint).
    Lost,
    /// Rule (2): new data from `high_data`; the caller advances `high_data`.
    NewData,
    /// Rule (3): a retransmission of unSACKed data not yet considered lost, the "last
    /// resort" that keeps the ACK clock going.
    LastResort,
    /// Rule (4): the one rescue retransmission per recovery, which includes the highest
    /// unSACKed octet and does not move HighRxt.
    Rescue,
}

/// A segment to send: `[start, end)`, at most SMSS long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextSeg {
    pub start: u64,
    pub end: u64,
    pub rule: NextSegRule,
}

impl NextSeg {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether this resends data already sent once.
    pub fn is_retransmission(&self) -> bool {
        self.rule != NextSegRule::NewData
    }
}

/// Disjoint, non-touching half-open ranges, with their total length.
#[derive(Debug, Clone, Default)]
struct RangeSet {
    map: BTreeMap<u64, u64>,
    bytes: u64,
}

impl RangeSet {
    /// Adds `[start, end)`, merging with what it overlaps or touches; returns how many
    /// of its bytes were not in the set.
    fn insert(&mut self, start: u64, end: u64) -> u64 {
        if start >= end {
            return 0;
        }
        let touching: Vec<(u64, u64)> = self
            .map
            .range(..=end)
            .rev()
            .take_while(|(_, &e)| e >= start)
            .map(|(&s, &e)| (s, e))
            .collect();
        let (mut s, mut e, mut overlap) = (start, end, 0);
        for (rs, re) in touching {
            overlap += re.min(end).saturating_sub(rs.max(start));
            s = s.min(rs);
            e = e.max(re);
            self.map.remove(&rs);
            self.bytes -= re - rs;
        }
        self.map.insert(s, e);
        self.bytes += e - s;
        (end - start) - overlap
    }

    /// Drops everything below `x`; returns the bytes dropped.
    fn remove_below(&mut self, x: u64) -> u64 {
        let mut removed = 0;
        while let Some((&s, &e)) = self.map.first_key_value() {
            if s >= x {
                break;
            }
            self.map.remove(&s);
            if e <= x {
                removed += e - s;
            } else {
                removed += x - s;
                self.map.insert(x, e);
                break;
            }
        }
        self.bytes -= removed;
        removed
    }

    /// The range holding `x`.
    fn containing(&self, x: u64) -> Option<(u64, u64)> {
        self.map
            .range(..=x)
            .next_back()
            .filter(|(_, &e)| e > x)
            .map(|(&s, &e)| (s, e))
    }

    /// Bytes of the set within `[a, b)`.
    fn overlap(&self, a: u64, b: u64) -> u64 {
        self.map
            .range(..b)
            .rev()
            .take_while(|(_, &e)| e > a)
            .map(|(&s, &e)| e.min(b) - s.max(a))
            .sum()
    }

    /// The smallest offset at or after `x` not in the set.
    fn first_gap_from(&self, x: u64) -> u64 {
        self.containing(x).map_or(x, |(_, e)| e)
    }

    /// Start of the first range at or after `x`.
    fn next_start_from(&self, x: u64) -> Option<u64> {
        self.map.range(x..).next().map(|(&s, _)| s)
    }

    fn last(&self) -> Option<(u64, u64)> {
        self.map.last_key_value().map(|(&s, &e)| (s, e))
    }

    fn pop_last(&mut self) -> Option<(u64, u64)> {
        let (s, e) = self.map.pop_last()?;
        self.bytes -= e - s;
        Some((s, e))
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
    }
}

/// The SACK scoreboard of one TCP sender.
#[derive(Debug, Clone)]
pub struct Scoreboard {
    high_ack: u64,
    sacked: RangeSet,
    /// Octets retransmitted and not yet cumulatively acknowledged, since the last RTO.
    retransmitted: RangeSet,
    /// One past RFC 6675's HighRxt; at or below `high_ack` when nothing was resent.
    high_rxt: u64,
    /// One past RescueRxt.
    rescue_rxt: Option<u64>,
    /// One past RecoveryPoint while in fast recovery.
    recovery_point: Option<u64>,
    /// One past the RecoveryPoint set by the last timeout, until it is acknowledged.
    rto_recovery_point: Option<u64>,
    dup_thresh: u32,
    max_ranges: usize,
}

impl Default for Scoreboard {
    fn default() -> Self {
        Scoreboard::new()
    }
}

impl Scoreboard {
    /// An empty scoreboard at offset 0, DupThresh 3, [`DEFAULT_MAX_RANGES`].
    pub fn new() -> Self {
        Scoreboard::with_max_ranges(DEFAULT_MAX_RANGES)
    }

    /// As [`new`](Self::new) with an explicit cap (at least 1) on the SACKed ranges
    /// and on the retransmitted ranges remembered.
    pub fn with_max_ranges(max_ranges: usize) -> Self {
        Scoreboard {
            high_ack: 0,
            sacked: RangeSet::default(),
            retransmitted: RangeSet::default(),
            high_rxt: 0,
            rescue_rxt: None,
            recovery_point: None,
            rto_recovery_point: None,
            dup_thresh: DUP_THRESH,
            max_ranges: max_ranges.max(1),
        }
    }

    /// Changes DupThresh (RFC 6675 §2 defers to updates of RFC 5681, e.g. a
    /// reordering-adaptive threshold). At least 1.
    pub fn set_dup_thresh(&mut self, dup_thresh: u32) {
        self.dup_thresh = dup_thresh.max(1);
    }

    pub fn dup_thresh(&self) -> u32 {
        self.dup_thresh
    }

    /// RFC 6675 §4 `Update()`: records an ACK's cumulative acknowledgment `cum_ack`
    /// and its SACK blocks (as received, first block first). `high_data` is one past
    /// the highest offset sent. Call for every ACK, old ones included: their SACK
    /// blocks still inform.
    ///
    /// RFC 6675 §4: "SACKed data MUST NOT be removed from the TCP's retransmission
    /// buffer until the data is cumulatively acknowledged": the caller drops data from
    /// its send buffer by `newly_acked_cum` only.
    pub fn on_ack(
        &mut self,
        cum_ack: u64,
        sack_blocks: &[(u64, u64)],
        high_data: u64,
    ) -> AckSummary {
        let mut sum = AckSummary::default();
        if cum_ack > high_data {
            sum.acks_unsent = true;
            return sum;
        }

        // RFC 2883 §5: a first SACK block below the cumulative ACK, or contained in the
        // second SACK block, reports duplicate data (a D-SACK).
        if let Some(&(l, r)) = sack_blocks.first() {
            let below = r <= cum_ack;
            let inside_second = sack_blocks
                .get(1)
                .is_some_and(|&(l2, r2)| l2 <= l && r <= r2);
            if l < r && (below || inside_second) {
                sum.dsack = Some((l, r));
            }
        }

        if cum_ack > self.high_ack {
            // The receiver holds every byte below cum_ack and, by its earlier SACKs,
            // [s, e). A cum_ack in [s, e) says it no longer holds byte cum_ack.
            let reneged = self.sacked.containing(cum_ack).is_some();
            let was_sacked = self.sacked.remove_below(cum_ack);
            self.retransmitted.remove_below(cum_ack);
            sum.newly_acked_cum = cum_ack - self.high_ack;
            sum.newly_delivered = sum.newly_acked_cum - was_sacked;
            self.high_ack = cum_ack;
            if reneged {
                sum.reneged = true;
                self.sacked.clear();
            }
        }

        let floor = cum_ack.max(self.high_ack);
        let skip = usize::from(sum.dsack.is_some());
        for &(l, r) in &sack_blocks[skip..] {
            // A block starting at or below what is acknowledged would contradict the
            // cumulative ACK; one ending beyond what was sent is bogus.
            if l <= floor || l >= r || r > high_data {
                sum.ignored_blocks += 1;
                continue;
            }
            sum.newly_sacked += self.sacked.insert(l, r);
        }
        while self.sacked.len() > self.max_ranges {
            self.sacked.pop_last();
            sum.sack_overflow = true;
        }
        sum.newly_delivered += sum.newly_sacked;

        // RFC 6675 §5 (A): "An incoming cumulative ACK for a sequence number greater
        // than RecoveryPoint signals the end of loss recovery ... Any information
        // contained in the scoreboard for sequence numbers greater than the new value
        // of HighACK SHOULD NOT be cleared when leaving the loss recovery phase."
        if self.recovery_point.is_some_and(|rp| self.high_ack >= rp) {
            self.recovery_point = None;
            self.rescue_rxt = None;
            sum.recovery_ended = true;
        }
        if self
            .rto_recovery_point
            .is_some_and(|rp| self.high_ack >= rp)
        {
            self.rto_recovery_point = None;
            sum.rto_recovery_ended = true;
        }
        sum
    }

    /// Every unSACKed octet below this offset (and at or above `high_ack`) is lost.
    ///
    /// RFC 6675 §4 `IsLost()`: "The routine returns true when either DupThresh
    /// discontiguous SACKed sequences have arrived above 'SeqNum' or more than
    /// (DupThresh - 1) * SMSS bytes with sequence numbers greater than 'SeqNum' have
    /// been SACKed." For an unSACKed octet both counts only grow as it moves down, so
    /// lost octets form a prefix, ending at the start of the SACKed range where the
    /// counts, taken from the top, first pass the thresholds: at most DupThresh ranges
    /// are visited.
    fn lost_frontier(&self, smss: u64) -> u64 {
        let byte_threshold = u64::from(self.dup_thresh - 1).saturating_mul(smss);
        let mut frontier = self.high_ack;
        let (mut count, mut bytes) = (0u32, 0u64);
        for (&s, &e) in self.sacked.map.iter().rev() {
            count += 1;
            bytes += e - s;
            if count >= self.dup_thresh || bytes > byte_threshold {
                frontier = s;
                break;
            }
        }
        match self.rto_recovery_point {
            Some(rp) => frontier.max(rp),
            None => frontier,
        }
    }

    /// RFC 6675 §4 `IsLost(seq)`, plus every unSACKed octet below the RecoveryPoint of a
    /// timeout not yet recovered from. SACKed and acknowledged octets are not lost.
    pub fn is_lost(&self, seq: u64, smss: u64) -> bool {
        seq >= self.high_ack
            && seq < self.lost_frontier(smss)
            && self.sacked.containing(seq).is_none()
    }

    /// RFC 6675 §4 `SetPipe()`: bytes in flight, for each unSACKed octet in
    /// `[high_ack, high_data)`: "(a) If IsLost (S1) returns false: Pipe is incremented
    /// by 1 octet." and "(b) If S1 <= HighRxt: Pipe is incremented by 1 octet", (b)
    /// here meaning that S1 was retransmitted (see the module documentation).
    pub fn pipe(&self, high_data: u64, smss: u64) -> u64 {
        if high_data <= self.high_ack {
            return 0;
        }
        let x = self.lost_frontier(smss).clamp(self.high_ack, high_data);
        let not_lost = (high_data - x) - self.sacked.overlap(x, high_data);
        let retransmitted: u64 = self
            .retransmitted
            .map
            .iter()
            .map(|(&s, &e)| (s.max(self.high_ack), e.min(high_data)))
            .filter(|(s, e)| s < e)
            .map(|(s, e)| (e - s) - self.sacked.overlap(s, e))
            .sum();
        not_lost + retransmitted
    }

    /// RFC 6675 §4 `NextSeg()`: the next segment to send, of at most `smss` bytes.
    /// `sendable_new` is how many bytes of new data from `high_data` are available and
    /// allowed by the peer's window (0 if none); congestion control (cwnd - pipe) is
    /// the caller's to check before asking. `None` is rule (5): send nothing.
    ///
    /// Rules (3) and (4) apply only in fast recovery. After sending what this returns,
    /// call [`record`](Self::record).
    pub fn next_seg(&self, high_data: u64, sendable_new: u64, smss: u64) -> Option<NextSeg> {
        let smss = smss.max(1);
        let frontier = self.lost_frontier(smss);
        // (1.a) "S2 is greater than HighRxt": the first unSACKed octet after it.
        let s2 = self.sacked.first_gap_from(self.high_rxt.max(self.high_ack));
        let hole_end = |s: u64| self.sacked.next_start_from(s).unwrap_or(high_data);

        // (1) "If there exists a smallest unSACKed sequence number 'S2' that meets the
        // following three criteria for determining loss, the sequence range of one
        // segment of up to SMSS octets starting with S2 MUST be returned." (1.b), "S2
        // is less than the highest octet covered by any received SACK", is implied by
        // (1.c) IsLost(S2), except for octets lost to a timeout.
        if s2 < frontier && s2 < high_data {
            let end = (s2 + smss).min(hole_end(s2)).min(frontier);
            return Some(NextSeg {
                start: s2,
                end,
                rule: NextSegRule::Lost,
            });
        }

        // (2) "If no sequence number 'S2' per rule (1) exists but there exists
        // available unsent data and the receiver's advertised window allows, the
        // sequence range of one segment of up to SMSS octets of previously unsent data
        // starting with sequence number HighData+1 MUST be returned."
        if sendable_new > 0 {
            return Some(NextSeg {
                start: high_data,
                end: high_data + smss.min(sendable_new),
                rule: NextSegRule::NewData,
            });
        }

        // Rules (3) and (4) belong to fast recovery.
        self.recovery_point?;

        // (3) "If the conditions for rules (1) and (2) fail, but there exists an
        // unSACKed sequence number 'S3' that meets the criteria for detecting loss given
        // in steps (1.a) and (1.b) above (specifically excluding step (1.c)), then one
        // segment of up to SMSS octets starting with S3 SHOULD be returned."
        let top = self.sacked.last();
        if top.is_some_and(|(top_start, _)| s2 < top_start) {
            return Some(NextSeg {
                start: s2,
                end: (s2 + smss).min(hole_end(s2)),
                rule: NextSegRule::LastResort,
            });
        }

        // (4) "If the conditions for (1), (2), and (3) fail, but there exists
        // outstanding unSACKed data, we provide the opportunity for a single "rescue"
        // retransmission per entry into loss recovery. If HighACK is greater than
        // RescueRxt (or RescueRxt is undefined), then one segment of up to SMSS octets
        // that MUST include the highest outstanding unSACKed sequence number SHOULD be
        // returned".
        let rescue_allowed = self.rescue_rxt.is_none_or(|r| self.high_ack > r);
        if rescue_allowed && self.high_ack < high_data {
            // Ranges start above high_ack, so `top_start - 1` does not underflow.
            let highest = match top {
                Some((top_start, top_end)) if top_end >= high_data => top_start - 1,
                _ => high_data - 1,
            };
            let hole_start = self
                .sacked
                .map
                .range(..=highest)
                .next_back()
                .map_or(self.high_ack, |(_, &e)| e);
            return Some(NextSeg {
                start: (highest + 1).saturating_sub(smss).max(hole_start),
                end: highest + 1,
                rule: NextSegRule::Rescue,
            });
        }

        // (5) "NextSeg () MUST indicate failure, and no segment is returned."
        None
    }

    /// Records the transmission of a segment [`next_seg`](Self::next_seg) returned.
    pub fn record(&mut self, seg: &NextSeg) {
        match seg.rule {
            NextSegRule::Lost | NextSegRule::LastResort => {
                self.mark_retransmitted(seg.start, seg.end)
            }
            NextSegRule::Rescue => self.mark_rescue(seg.start, seg.end),
            NextSegRule::NewData => {}
        }
    }

    /// Records a retransmission of `[start, end)`, whatever chose it (NextSeg, the
    /// retransmission timer, a probe). RFC 6675 §5 (C.2): "HighRxt MUST be set to the
    /// highest sequence number of the retransmitted segment unless NextSeg () rule (4)
    /// was invoked for this retransmission."
    pub fn mark_retransmitted(&mut self, start: u64, end: u64) {
        self.note_retransmission(start, end);
        self.high_rxt = self.high_rxt.max(end);
    }

    /// Records the rescue retransmission of rule (4): "RescueRxt set to RecoveryPoint.
    /// HighRxt MUST NOT be updated."
    pub fn mark_rescue(&mut self, start: u64, end: u64) {
        self.note_retransmission(start, end);
        self.rescue_rxt = Some(self.recovery_point.unwrap_or(end));
    }

    fn note_retransmission(&mut self, start: u64, end: u64) {
        self.retransmitted.insert(start.max(self.high_ack), end);
        // Over the cap, merge the two highest ranges: counting the gap between them
        // as retransmitted overestimates pipe, the safe direction.
        while self.retransmitted.len() > self.max_ranges {
            let (_, e) = self.retransmitted.pop_last().expect("over the cap");
            let (s, _) = self.retransmitted.pop_last().expect("cap is at least 1");
            self.retransmitted.insert(s, e);
        }
    }

    /// RFC 6675 §5 steps (1) and (2), for a caller that has just counted a duplicate
    /// ACK: "(1) If DupAcks >= DupThresh, go to step (4)." "(2) If DupAcks < DupThresh
    /// but IsLost (HighACK + 1) returns true ... go to step (4)." False while already
    /// recovering, or after a timeout until its RecoveryPoint is acknowledged (§5.1).
    pub fn should_enter_recovery(&self, dup_acks: u32, smss: u64) -> bool {
        self.recovery_point.is_none()
            && self.rto_recovery_point.is_none()
            && (dup_acks >= self.dup_thresh || self.is_lost(self.high_ack, smss))
    }

    /// Enters fast recovery (RFC 6675 §5 step (4)) and returns the segment to
    /// retransmit at once, already recorded. "(4.1) RecoveryPoint = HighData". "(4.3)
    /// Retransmit the first data segment presumed dropped -- the segment starting with
    /// sequence number HighACK + 1. To prevent repeated retransmission of the same data
    /// or a premature rescue retransmission, set both HighRxt and RescueRxt to the
    /// highest sequence number in the retransmitted segment."
    ///
    /// `None`, changing nothing, when already in recovery, when a timeout's
    /// RecoveryPoint is not yet acknowledged (§5.1: "a new recovery phase ... MUST NOT
    /// be initiated until HighACK is greater than or equal to the new value of
    /// RecoveryPoint"), or when nothing is outstanding. Step (4.2), the congestion
    /// response, is the caller's.
    pub fn enter_recovery(&mut self, high_data: u64, smss: u64) -> Option<NextSeg> {
        if self.recovery_point.is_some()
            || self.rto_recovery_point.is_some()
            || self.high_ack >= high_data
        {
            return None;
        }
        self.recovery_point = Some(high_data);
        let start = self.high_ack;
        let hole_end = self.sacked.next_start_from(start).unwrap_or(high_data);
        let end = (start + smss.max(1)).min(hole_end);
        self.note_retransmission(start, end);
        self.high_rxt = end;
        self.rescue_rxt = Some(end);
        Some(NextSeg {
            start,
            end,
            rule: NextSegRule::Lost,
        })
    }

    /// The retransmission timer fired. RFC 6675 §5.1: "If an RTO occurs during loss
    /// recovery as specified in this document, RecoveryPoint MUST be set to HighData.
    /// Further, the new value of RecoveryPoint MUST be preserved and the loss recovery
    /// algorithm outlined in this document MUST be terminated."
    ///
    /// Every unSACKed octet below `high_data` is now lost and none counts as
    /// retransmitted, so pipe drops to what is sent afterwards, and `next_seg`
    /// retransmits from `high_ack` on (RFC 2018 §5: "The data sender MUST retransmit
    /// the segment at the left edge of the window after a retransmit timeout"),
    /// skipping SACKed data.
    ///
    /// SACK information is kept. RFC 2018 §5 says a sender "SHOULD turn off all of the
    /// SACKed bits" after a timeout, in case the receiver reneged; RFC 6675 §5.1 notes
    /// that "as long as robust tests for reneging are present, an implementation can
    /// retain and use SACK information across a timeout event". `on_ack` has such a
    /// test (and then drops everything), as Linux does.
    pub fn reset_on_rto(&mut self, high_data: u64) {
        self.recovery_point = None;
        self.rescue_rxt = None;
        self.rto_recovery_point = (high_data > self.high_ack).then_some(high_data);
        self.high_rxt = self.high_ack;
        self.retransmitted.clear();
    }

    /// SND.UNA: one past RFC 6675's HighACK.
    pub fn high_ack(&self) -> u64 {
        self.high_ack
    }

    /// Bytes SACKed above `high_ack`.
    pub fn sacked_bytes(&self) -> u64 {
        self.sacked.bytes
    }

    /// The SACKed ranges, in order.
    pub fn sacked_ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.sacked.map.iter().map(|(&s, &e)| (s, e))
    }

    /// One past the highest SACKed octet.
    pub fn highest_sacked(&self) -> Option<u64> {
        self.sacked.last().map(|(_, e)| e)
    }

    /// Bytes retransmitted and not yet cumulatively acknowledged (SACKed ones included).
    pub fn retransmitted_bytes(&self) -> u64 {
        self.retransmitted.bytes
    }

    /// One past RFC 6675's HighRxt (at or below `high_ack` when nothing was resent).
    pub fn high_rxt(&self) -> u64 {
        self.high_rxt
    }

    /// In fast recovery (RFC 6675 §5 step (4) to (A)).
    pub fn in_recovery(&self) -> bool {
        self.recovery_point.is_some()
    }

    /// One past RecoveryPoint, in fast recovery.
    pub fn recovery_point(&self) -> Option<u64> {
        self.recovery_point
    }

    /// After a timeout, until its RecoveryPoint is acknowledged.
    pub fn in_rto_recovery(&self) -> bool {
        self.rto_recovery_point.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u64 = 1000;

    fn seg(start: u64, end: u64, rule: NextSegRule) -> Option<NextSeg> {
        Some(NextSeg { start, end, rule })
    }

    #[test]
    fn rfc6675_s4_update_records_cumulative_and_selective_acks() {
        let mut sb = Scoreboard::new();
        let s = sb.on_ack(1000, &[(2000, 3000)], 10_000);
        assert_eq!(s.newly_acked_cum, 1000);
        assert_eq!(s.newly_sacked, 1000);
        assert_eq!(s.newly_delivered, 2000);
        assert_eq!((sb.high_ack(), sb.sacked_bytes()), (1000, 1000));
        // The same information again is nothing new.
        let s = sb.on_ack(1000, &[(2000, 3000)], 10_000);
        assert_eq!(s, AckSummary::default());
        // Overlapping and touching blocks merge.
        let s = sb.on_ack(1000, &[(2500, 4000), (5000, 6000), (4000, 4500)], 10_000);
        assert_eq!(s.newly_sacked, 1000 + 1000 + 500);
        assert_eq!(
            sb.sacked_ranges().collect::<Vec<_>>(),
            vec![(2000, 4500), (5000, 6000)]
        );
        assert_eq!(sb.highest_sacked(), Some(6000));
    }

    #[test]
    fn rfc6675_s4_sacked_data_cumulatively_acked_is_not_delivered_twice() {
        let mut sb = Scoreboard::new();
        sb.on_ack(0, &[(1000, 3000)], 5000);
        let s = sb.on_ack(3000, &[], 5000);
        assert_eq!(s.newly_acked_cum, 3000);
        assert_eq!(s.newly_delivered, 1000);
        assert_eq!(sb.sacked_bytes(), 0);
        // A cumulative ACK into the middle of nothing SACKed.
        sb.on_ack(3000, &[(4000, 5000)], 5000);
        let s = sb.on_ack(3500, &[(4000, 5000)], 5000);
        assert_eq!((s.newly_delivered, sb.sacked_bytes()), (500, 1000));
    }

    #[test]
    fn rfc2018_s3_blocks_outside_the_outstanding_window_are_ignored() {
        let mut sb = Scoreboard::new();
        let s = sb.on_ack(
            1000,
            &[(500, 1500), (3000, 2000), (9000, 11_000), (1000, 1200)],
            10_000,
        );
        // Straddles cum_ack; reversed; beyond high_data; starts at cum_ack.
        assert_eq!(s.ignored_blocks, 4);
        assert_eq!(sb.sacked_bytes(), 0);
        assert_eq!(s.dsack, None);
        // An ACK of unsent data changes nothing.
        let s = sb.on_ack(20_000, &[(2000, 3000)], 10_000);
        assert!(s.acks_unsent);
        assert_eq!((sb.high_ack(), sb.sacked_bytes()), (1000, 0));
    }

    #[test]
    fn rfc2018_s3_old_acks_still_carry_sack_information() {
        let mut sb = Scoreboard::new();
        sb.on_ack(2000, &[], 10_000);
        // Reordered: an older ACK arrives after a newer one.
        let s = sb.on_ack(1000, &[(5000, 6000), (1500, 2500)], 10_000);
        assert_eq!(s.newly_acked_cum, 0);
        assert_eq!(s.newly_sacked, 1000);
        assert_eq!(s.ignored_blocks, 1, "reaches down to acknowledged data");
        assert_eq!(sb.high_ack(), 2000);
    }

    #[test]
    fn rfc2883_s4_dsack_below_the_cumulative_ack() {
        let mut sb = Scoreboard::new();
        let s = sb.on_ack(3000, &[(1000, 2000), (4000, 5000)], 10_000);
        assert_eq!(s.dsack, Some((1000, 2000)));
        assert_eq!(s.ignored_blocks, 0);
        assert_eq!(sb.sacked_bytes(), 1000);
    }

    #[test]
    fn rfc2883_s4_dsack_inside_the_second_block() {
        let mut sb = Scoreboard::new();
        let s = sb.on_ack(1000, &[(4000, 4500), (4000, 6000)], 10_000);
        assert_eq!(s.dsack, Some((4000, 4500)));
        assert_eq!((s.newly_sacked, s.ignored_blocks), (2000, 0));
        // A first block that is not inside the second is ordinary SACK information.
        let s = sb.on_ack(1000, &[(7000, 8000), (4000, 6000)], 10_000);
        assert_eq!(s.dsack, None);
        assert_eq!(s.newly_sacked, 1000);
    }

    #[test]
    fn rfc2018_s8_reneging_drops_sack_information() {
        let mut sb = Scoreboard::new();
        sb.on_ack(0, &[(2000, 3000), (5000, 6000)], 10_000);
        // The cumulative ACK stops inside what the receiver had SACKed.
        let s = sb.on_ack(2500, &[], 10_000);
        assert!(s.reneged);
        assert_eq!(sb.sacked_bytes(), 0);
        assert_eq!(s.newly_delivered, 2000, "the 500 SACKed bytes are not new");
        // Or exactly at its start.
        sb.on_ack(2500, &[(4000, 5000)], 10_000);
        assert!(sb.on_ack(4000, &[], 10_000).reneged);
        // Ending exactly at a range's end is normal.
        sb.on_ack(4000, &[(4500, 5000)], 10_000);
        assert!(!sb.on_ack(5000, &[], 10_000).reneged);
    }

    #[test]
    fn rfc6675_s3_the_scoreboard_is_bounded() {
        let mut sb = Scoreboard::with_max_ranges(4);
        sb.on_ack(0, &[(1000, 1100), (2000, 2100), (3000, 3100)], 100_000);
        let s = sb.on_ack(0, &[(4000, 4100), (5000, 5100), (6000, 6100)], 100_000);
        assert!(s.sack_overflow);
        assert_eq!(
            sb.sacked_ranges().collect::<Vec<_>>(),
            vec![(1000, 1100), (2000, 2100), (3000, 3100), (4000, 4100)]
        );
        assert_eq!(sb.sacked_bytes(), 400);
        // A hostile receiver SACKing every other byte.
        let mut sb = Scoreboard::new();
        for i in 0..10_000u64 {
            sb.on_ack(0, &[(1 + 2 * i, 2 + 2 * i)], 1 << 20);
        }
        assert_eq!(sb.sacked_ranges().count(), DEFAULT_MAX_RANGES);
    }

    #[test]
    fn rfc6675_s4_is_lost_after_dupthresh_discontiguous_sacked_ranges() {
        let mut sb = Scoreboard::new();
        sb.on_ack(0, &[(2000, 2100), (3000, 3100)], 10_000);
        assert!(!sb.is_lost(0, MSS), "two ranges, 200 bytes");
        sb.on_ack(0, &[(4000, 4100)], 10_000);
        assert!(sb.is_lost(0, MSS));
        assert!(sb.is_lost(1999, MSS));
        assert!(!sb.is_lost(2000, MSS), "SACKed octets are not lost");
        assert!(!sb.is_lost(2100, MSS), "only two ranges above");
        assert!(!sb.is_lost(9000, MSS));
    }

    #[test]
    fn rfc6675_s4_is_lost_after_more_than_dupthresh_minus_one_smss_sacked() {
        let mut sb = Scoreboard::new();
        sb.on_ack(0, &[(1000, 3000)], 10_000);
        assert!(!sb.is_lost(0, MSS), "exactly 2 * SMSS is not more than");
        sb.on_ack(0, &[(3000, 3001)], 10_000);
        assert!(sb.is_lost(0, MSS));
        assert!(sb.is_lost(999, MSS));
        // Acknowledged octets are not lost.
        sb.on_ack(500, &[], 10_000);
        assert!(!sb.is_lost(499, MSS));
        assert!(sb.is_lost(500, MSS));
    }

    #[test]
    fn rfc6675_s2_dupthresh_is_configurable() {
        let mut sb = Scoreboard::new();
        sb.on_ack(0, &[(2000, 2100), (3000, 3100), (4000, 4100)], 10_000);
        sb.set_dup_thresh(4);
        assert!(!sb.is_lost(0, MSS));
        assert!(!sb.should_enter_recovery(3, MSS));
        assert!(sb.should_enter_recovery(4, MSS));
    }

    #[test]
    fn rfc6675_s4_set_pipe_counts_unsacked_unlost_octets_and_retransmissions() {
        let mut sb = Scoreboard::new();
        assert_eq!(sb.pipe(10_000, MSS), 10_000, "nothing known: all in flight");
        // Ten segments; the first two lost, the next three SACKed.
        sb.on_ack(0, &[(2000, 5000)], 10_000);
        assert!(sb.is_lost(1000, MSS));
        assert_eq!(sb.pipe(10_000, MSS), 5000);
        let first = sb.enter_recovery(10_000, MSS).unwrap();
        assert_eq!(
            first,
            NextSeg {
                start: 0,
                end: 1000,
                rule: NextSegRule::Lost
            }
        );
        assert_eq!(sb.pipe(10_000, MSS), 6000);
        // A retransmission that gets SACKed leaves the pipe.
        sb.on_ack(0, &[(500, 1000), (2000, 5000)], 10_000);
        assert_eq!(sb.pipe(10_000, MSS), 5500);
        assert_eq!(sb.pipe(0, MSS), 0);
    }

    #[test]
    fn rfc6675_s4_set_pipe_counts_octets_resent_before_being_lost_twice() {
        // "Note that octets retransmitted without being considered lost are counted
        // twice by the above mechanism."
        let mut sb = Scoreboard::new();
        sb.on_ack(0, &[(5000, 6000)], 10_000);
        sb.enter_recovery(10_000, MSS).unwrap();
        assert!(!sb.is_lost(0, MSS));
        assert_eq!(sb.pipe(10_000, MSS), 9000 + 1000);
    }

    #[test]
    fn rfc6675_s5_steps_1_and_2_decide_entry_into_recovery() {
        let mut sb = Scoreboard::new();
        sb.on_ack(0, &[(1000, 1100)], 10_000);
        assert!(!sb.should_enter_recovery(2, MSS));
        assert!(sb.should_enter_recovery(3, MSS), "(1) DupAcks >= DupThresh");
        sb.on_ack(0, &[(2000, 4100)], 10_000);
        assert!(sb.should_enter_recovery(1, MSS), "(2) IsLost(HighACK + 1)");
        sb.enter_recovery(10_000, MSS).unwrap();
        assert!(!sb.should_enter_recovery(5, MSS), "already recovering");
        assert_eq!(sb.enter_recovery(10_000, MSS), None);
    }

    #[test]
    fn rfc6675_s4_next_seg_rule_1_retransmits_lost_holes_in_order() {
        let mut sb = Scoreboard::new();
        // Holes [0, 1000), [2000, 2500), [4000, 6000); SACKed above each.
        sb.on_ack(0, &[(1000, 2000), (2500, 4000), (6000, 9000)], 10_000);
        let first = sb.enter_recovery(10_000, MSS).unwrap();
        assert_eq!((first.start, first.end), (0, 1000));
        assert_eq!((sb.high_rxt(), sb.recovery_point()), (1000, Some(10_000)));
        let next = sb.next_seg(10_000, 0, MSS);
        assert_eq!(
            next,
            seg(2000, 2500, NextSegRule::Lost),
            "clipped to the hole"
        );
        sb.record(&next.unwrap());
        // (1.a): above HighRxt only.
        assert_eq!(
            sb.next_seg(10_000, 0, MSS),
            seg(4000, 5000, NextSegRule::Lost)
        );
        sb.record(&seg(4000, 5000, NextSegRule::Lost).unwrap());
        assert_eq!(
            sb.next_seg(10_000, 0, MSS),
            seg(5000, 6000, NextSegRule::Lost)
        );
        sb.record(&seg(5000, 6000, NextSegRule::Lost).unwrap());
        // [9000, 10000) is not lost: nothing SACKed above it. Rule (2) comes next.
        assert_eq!(
            sb.next_seg(10_000, 300, MSS),
            seg(10_000, 10_300, NextSegRule::NewData)
        );
        assert_eq!(
            sb.next_seg(10_000, 5000, MSS),
            seg(10_000, 11_000, NextSegRule::NewData)
        );
    }

    #[test]
    fn rfc6675_s4_next_seg_rule_3_resends_unsacked_data_below_the_highest_sack() {
        let mut sb = Scoreboard::new();
        // Two SACKed ranges of one segment each: nothing is lost per IsLost.
        sb.on_ack(0, &[(5000, 6000), (8000, 9000)], 10_000);
        sb.enter_recovery(10_000, MSS).unwrap();
        let mut sent = vec![];
        while let Some(s) = sb.next_seg(10_000, 0, MSS) {
            if s.rule != NextSegRule::LastResort {
                break;
            }
            sb.record(&s);
            sent.push((s.start, s.end));
        }
        assert_eq!(
            sent,
            vec![
                (1000, 2000),
                (2000, 3000),
                (3000, 4000),
                (4000, 5000),
                (6000, 7000),
                (7000, 8000)
            ]
        );
        // Rule (4) waits until HighACK passes RescueRxt (the first retransmission).
        assert_eq!(sb.next_seg(10_000, 0, MSS), None);
        // Rule (3) is not used outside recovery.
        let mut sb = Scoreboard::new();
        sb.on_ack(0, &[(5000, 6000)], 10_000);
        assert_eq!(sb.next_seg(10_000, 0, MSS), None);
    }

    #[test]
    fn rfc6675_s4_next_seg_rule_4_sends_one_rescue_retransmission() {
        let mut sb = Scoreboard::new();
        // Lost: [0, 2000); tail [5000, 10000) unacknowledged, nothing above it.
        sb.on_ack(0, &[(2000, 5000)], 10_000);
        sb.enter_recovery(10_000, MSS).unwrap();
        let s = sb.next_seg(10_000, 0, MSS).unwrap();
        assert_eq!((s.start, s.end, s.rule), (1000, 2000, NextSegRule::Lost));
        sb.record(&s);
        assert_eq!(
            sb.next_seg(10_000, 0, MSS),
            None,
            "RescueRxt not passed yet"
        );
        let a = sb.on_ack(5000, &[], 10_000);
        assert!(!a.recovery_ended);
        let rescue = sb.next_seg(10_000, 0, MSS);
        assert_eq!(rescue, seg(9000, 10_000, NextSegRule::Rescue));
        sb.record(&rescue.unwrap());
        assert_eq!(sb.high_rxt(), 2000, "HighRxt MUST NOT be updated");
        assert_eq!(sb.next_seg(10_000, 0, MSS), None, "one rescue per recovery");
        assert_eq!(sb.pipe(10_000, MSS), 5000 + 1000);
    }

    #[test]
    fn rfc6675_s4_rescue_covers_the_highest_unsacked_octet_below_a_sacked_tail() {
        let mut sb = Scoreboard::new();
        sb.on_ack(0, &[(9500, 10_000)], 10_000);
        sb.enter_recovery(10_000, MSS).unwrap();
        // Rule (3) walks the unSACKed data below the SACK.
        let mut last = None;
        while let Some(s) = sb.next_seg(10_000, 0, MSS) {
            assert_eq!(s.rule, NextSegRule::LastResort);
            sb.record(&s);
            last = Some((s.start, s.end));
        }
        assert_eq!(last, Some((9000, 9500)), "clipped to the hole");
        // Once HighACK passes RescueRxt, the rescue ends just below the SACKed tail.
        sb.on_ack(1500, &[(9500, 10_000)], 10_000);
        assert_eq!(
            sb.next_seg(10_000, 0, MSS),
            seg(8500, 9500, NextSegRule::Rescue)
        );
        // And stays within its hole.
        let mut sb = Scoreboard::new();
        sb.on_ack(0, &[(300, 5000), (5500, 10_000)], 10_000);
        assert_eq!(sb.enter_recovery(10_000, MSS).map(|s| s.end), Some(300));
        assert_eq!(
            sb.next_seg(10_000, 0, MSS),
            seg(5000, 5500, NextSegRule::Lost)
        );
        sb.record(&seg(5000, 5500, NextSegRule::Lost).unwrap());
        sb.on_ack(5000, &[(5500, 10_000)], 10_000);
        assert_eq!(
            sb.next_seg(10_000, 0, MSS),
            seg(5000, 5500, NextSegRule::Rescue)
        );
    }

    #[test]
    fn rfc6675_s5_a_recovery_ends_when_the_recovery_point_is_acknowledged() {
        let mut sb = Scoreboard::new();
        sb.on_ack(0, &[(1000, 4000)], 6000);
        sb.enter_recovery(6000, MSS).unwrap();
        // New data sent during recovery: HighData moves past RecoveryPoint.
        sb.on_ack(0, &[(1000, 4000), (7000, 8000)], 8000);
        assert!(!sb.on_ack(4000, &[(7000, 8000)], 8000).recovery_ended);
        let s = sb.on_ack(6000, &[(7000, 8000)], 8000);
        assert!(s.recovery_ended);
        assert!(!sb.in_recovery());
        assert_eq!(
            sb.sacked_ranges().collect::<Vec<_>>(),
            vec![(7000, 8000)],
            "SACK information above HighACK SHOULD NOT be cleared"
        );
        assert!(
            sb.enter_recovery(8000, MSS).is_some(),
            "a new recovery may start"
        );
    }

    #[test]
    fn rfc6675_s5_1_timeout_makes_every_unsacked_octet_lost_and_keeps_sacks() {
        let mut sb = Scoreboard::new();
        sb.on_ack(0, &[(2000, 3000), (6000, 7000)], 10_000);
        sb.enter_recovery(10_000, MSS).unwrap();
        sb.mark_retransmitted(1000, 2000);
        sb.reset_on_rto(10_000);
        assert!(!sb.in_recovery());
        assert!(sb.in_rto_recovery());
        assert_eq!(sb.retransmitted_bytes(), 0);
        assert_eq!(sb.sacked_bytes(), 2000, "SACK information kept");
        for seq in [0, 1999, 3000, 5999, 7000, 9999] {
            assert!(sb.is_lost(seq, MSS), "{seq}");
        }
        assert!(!sb.is_lost(2500, MSS));
        assert_eq!(sb.pipe(10_000, MSS), 0);
        // Retransmission from the left edge, in order, skipping SACKed data, before
        // any new data.
        let mut sent = vec![];
        while let Some(s) = sb.next_seg(10_000, 1_000_000, MSS) {
            if s.rule == NextSegRule::NewData {
                break;
            }
            assert_eq!(s.rule, NextSegRule::Lost);
            sb.record(&s);
            sent.push((s.start, s.end));
        }
        assert_eq!(
            sent,
            vec![
                (0, 1000),
                (1000, 2000),
                (3000, 4000),
                (4000, 5000),
                (5000, 6000),
                (7000, 8000),
                (8000, 9000),
                (9000, 10_000)
            ]
        );
        assert_eq!(sb.pipe(10_000, MSS), 8000);
        // §5.1: no new recovery until the RTO's RecoveryPoint is acknowledged.
        assert!(!sb.should_enter_recovery(10, MSS));
        assert_eq!(sb.enter_recovery(10_000, MSS), None);
        assert!(!sb.on_ack(9000, &[], 12_000).rto_recovery_ended);
        let s = sb.on_ack(10_000, &[], 12_000);
        assert!(s.rto_recovery_ended);
        assert!(!sb.is_lost(10_000, MSS));
        assert!(sb.enter_recovery(12_000, MSS).is_some());
    }

    #[test]
    fn rfc6675_s5_1_timeout_with_nothing_outstanding_is_harmless() {
        let mut sb = Scoreboard::new();
        sb.on_ack(5000, &[], 5000);
        sb.reset_on_rto(5000);
        assert!(!sb.in_rto_recovery());
        assert_eq!(sb.next_seg(5000, 0, MSS), None);
        assert_eq!(sb.enter_recovery(5000, MSS), None);
    }

    #[test]
    fn retransmitted_ranges_stay_bounded() {
        let mut sb = Scoreboard::with_max_ranges(3);
        for i in 0..10 {
            sb.mark_retransmitted(i * 100, i * 100 + 10);
        }
        // Merged from the top: over-counting, never under-counting.
        assert!(sb.retransmitted_bytes() >= 100);
        assert_eq!(sb.retransmitted.len(), 3);
    }

    /// An octet-by-octet model of RFC 6675 §4, straight from the text.
    struct Model {
        high_ack: u64,
        sacked: Vec<bool>,
        retransmitted: Vec<bool>,
    }

    impl Model {
        fn is_lost(&self, seq: u64, smss: u64) -> bool {
            if seq < self.high_ack || self.sacked[seq as usize] {
                return false;
            }
            let above = &self.sacked[seq as usize + 1..];
            let bytes = above.iter().filter(|&&b| b).count() as u64;
            let runs = above
                .iter()
                .enumerate()
                .filter(|&(i, &b)| b && (i == 0 || !above[i - 1]))
                .count() as u32;
            runs >= DUP_THRESH || bytes > u64::from(DUP_THRESH - 1) * smss
        }

        fn pipe(&self, high_data: u64, smss: u64) -> u64 {
            (self.high_ack..high_data)
                .filter(|&s| !self.sacked[s as usize])
                .map(|s| {
                    u64::from(!self.is_lost(s, smss)) + u64::from(self.retransmitted[s as usize])
                })
                .sum()
        }
    }

    #[test]
    fn rfc6675_s4_matches_an_octet_model_under_random_acks() {
        const N: u64 = 400;
        const SMSS: u64 = 20;
        let mut x: u64 = 99;
        let mut next = |m: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        for _ in 0..30 {
            let mut sb = Scoreboard::new();
            let mut m = Model {
                high_ack: 0,
                sacked: vec![false; N as usize + 1],
                retransmitted: vec![false; N as usize + 1],
            };
            for _ in 0..40 {
                let cum = if next(4) == 0 {
                    m.high_ack + next(N - m.high_ack + 1) / 4
                } else {
                    m.high_ack
                };
                let mut blocks = vec![];
                for _ in 0..next(4) {
                    let l = cum + 1 + next(N - cum);
                    let r = (l + 1 + next(60)).min(N);
                    if l < r {
                        blocks.push((l, r));
                    }
                }
                // A first block inside the second is taken for a D-SACK and skipped,
                // which the model need not know: the second block covers it.
                let s = sb.on_ack(cum, &blocks, N);
                let reneged = cum > m.high_ack && m.sacked[cum as usize];
                assert_eq!(s.reneged, reneged);
                if reneged {
                    m.sacked.iter_mut().for_each(|b| *b = false);
                }
                m.high_ack = m.high_ack.max(cum);
                for i in 0..m.high_ack as usize {
                    m.sacked[i] = false;
                    m.retransmitted[i] = false;
                }
                for &(l, r) in &blocks {
                    (l..r).for_each(|i| m.sacked[i as usize] = true);
                }
                if next(3) == 0 {
                    let l = m.high_ack + next(N - m.high_ack + 1);
                    let r = (l + next(30)).min(N);
                    sb.mark_retransmitted(l, r);
                    (l..r).for_each(|i| m.retransmitted[i as usize] = true);
                }
                let sacked: u64 = m.sacked.iter().filter(|&&b| b).count() as u64;
                assert_eq!(sb.sacked_bytes(), sacked);
                for seq in 0..N {
                    assert_eq!(sb.is_lost(seq, SMSS), m.is_lost(seq, SMSS), "seq {seq}");
                }
                assert_eq!(sb.pipe(N, SMSS), m.pipe(N, SMSS));
                // NextSeg rule (1) returns the smallest lost octet above HighRxt.
                let want = (sb.high_rxt().max(m.high_ack)..N).find(|&s| m.is_lost(s, SMSS));
                let got = sb
                    .next_seg(N, 0, SMSS)
                    .filter(|s| s.rule == NextSegRule::Lost);
                assert_eq!(got.map(|s| s.start), want);
                if let Some(s) = got {
                    assert!((s.start..s.end).all(|i| m.is_lost(i, SMSS)));
                    assert!(s.len() <= SMSS && !s.is_empty());
                }
            }
        }
    }
}
