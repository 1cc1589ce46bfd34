//! What every controller does alike before its own rules: whether an ACK may grow
//! the window at all, RFC 5681 §3.1 slow start with RFC 3465 appropriate byte
//! counting, and the bookkeeping a retransmission timeout leaves behind.
//!
//! [`super::NewReno`], [`super::Cubic`] and the coupled controllers each keep one
//! [`SlowStart`] per subflow beside their cwnd and ssthresh, and differ only in what
//! they do with the bytes it leaves for congestion avoidance.

use super::AckEvent;

/// RFC 3465 §2.3: the limit L on the bytes one ACK may add to cwnd in slow start,
/// in segments (2; RFC 5681 §3.1 prefers 1, RFC 3465 allows 2).
const ABC_LIMIT_SEGMENTS: u64 = 2;

/// What an acknowledgment may do to the window, whatever the algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AckUse {
    /// It acknowledged nothing new (a duplicate ACK): nothing changes.
    NothingNew,
    /// RFC 6582 §3.2 / RFC 6675: the window does not grow during fast recovery; the
    /// engine sends by `pipe` against the cwnd set at the congestion event.
    HeldInRecovery,
    /// RFC 7661 §4.3 (and RFC 5681 §3.1, which grows cwnd only while it limits the
    /// sender): a window the sender has not been filling is not validated, and does
    /// not grow.
    AppLimited,
    /// The window may grow by the bytes acknowledged.
    Grow,
}

/// Per-subflow slow-start state: whether the current slow start follows a timeout,
/// and where the subflow stands after one.
#[derive(Debug, Clone, Default)]
pub(super) struct SlowStart {
    /// In the slow start that follows a retransmission timeout (RFC 3465 §2.3: L is
    /// one segment there).
    after_timeout: bool,
    /// A retransmission timeout fired and no new data has been acknowledged since:
    /// a further timeout is the same segment timing out again.
    timeout_backed_off: bool,
    /// The current recovery episode began with a retransmission timeout, not with a
    /// congestion event: its ACKs drive slow start (RFC 5681 §3.1, RFC 6675 §5.1).
    timeout_recovery: bool,
}

impl SlowStart {
    /// Sorts one ACK; any ACK of new data also ends a timeout's back-off.
    pub fn admit(&mut self, ack: &AckEvent) -> AckUse {
        if ack.acked == 0 {
            return AckUse::NothingNew;
        }
        self.timeout_backed_off = false;
        // After a timeout cwnd grows by slow start from one segment, recovery or not.
        if ack.in_recovery && !self.timeout_recovery {
            return AckUse::HeldInRecovery;
        }
        if ack.app_limited {
            return AckUse::AppLimited;
        }
        AckUse::Grow
    }

    /// RFC 5681 §3.1 slow start while `cwnd < ssthresh`, on `acked` bytes of an ACK
    /// that [`admit`](Self::admit) let grow the window. RFC 3465 §2.2: cwnd grows by
    /// the bytes acknowledged; §2.3: by at most L = 2*SMSS per ACK, L = 1*SMSS in the
    /// slow start after a timeout. Slow start stops at ssthresh.
    ///
    /// Returns the bytes left for congestion avoidance once cwnd is at ssthresh (all
    /// of `acked` if it already was, possibly none), `None` while slow start goes on.
    pub fn grow(&mut self, cwnd: &mut u64, ssthresh: u64, mss: u64, acked: u64) -> Option<u64> {
        if *cwnd >= ssthresh {
            return Some(acked);
        }
        let limit = if self.after_timeout {
            mss
        } else {
            ABC_LIMIT_SEGMENTS * mss
        };
        let used = acked.min(ssthresh - *cwnd);
        *cwnd += used.min(limit);
        if *cwnd < ssthresh {
            return None;
        }
        self.after_timeout = false;
        Some(acked - used)
    }

    /// A congestion event (fast retransmit) begins a recovery episode of its own.
    pub fn on_congestion_event(&mut self) {
        self.after_timeout = false;
        self.timeout_recovery = false;
    }

    /// The retransmission timer fired; cwnd is going to one segment. Returns whether
    /// this is a new timeout, for which RFC 5681 §3.1 sets ssthresh from the flight
    /// size; `false` means the segment has already been retransmitted by the timer
    /// and ssthresh is held.
    pub fn on_timeout(&mut self) -> bool {
        let new_timeout = !self.timeout_backed_off;
        self.after_timeout = true;
        self.timeout_backed_off = true;
        self.timeout_recovery = true;
        new_timeout
    }

    /// Recovery ended: after fast recovery congestion avoidance resumes with the next
    /// ACK; after a timeout, slow start simply continues.
    pub fn on_recovery_end(&mut self) {
        self.timeout_recovery = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    const M: u64 = 1_000;

    fn ack(acked: u64) -> AckEvent {
        AckEvent {
            acked,
            prior_in_flight: acked,
            rtt: Some(Duration::from_millis(10)),
            srtt: Duration::from_millis(10),
            in_recovery: false,
            app_limited: false,
        }
    }

    fn in_recovery(acked: u64) -> AckEvent {
        AckEvent {
            in_recovery: true,
            ..ack(acked)
        }
    }

    #[test]
    fn rfc3465_s2_2_slow_start_grows_by_the_bytes_acknowledged() {
        let mut s = SlowStart::default();
        let mut cwnd = 10 * M;
        assert_eq!(s.grow(&mut cwnd, u64::MAX, M, M), None);
        assert_eq!(cwnd, 11 * M);
        // A partial segment counts as what it acknowledges, not as a segment.
        assert_eq!(s.grow(&mut cwnd, u64::MAX, M, 100), None);
        assert_eq!(cwnd, 11 * M + 100);
    }

    #[test]
    fn rfc3465_s2_3_one_ack_adds_at_most_two_segments() {
        let mut s = SlowStart::default();
        let mut cwnd = 10 * M;
        // A stretch ACK of 5 segments adds L = 2*SMSS; the rest is not carried over.
        assert_eq!(s.grow(&mut cwnd, u64::MAX, M, 5 * M), None);
        assert_eq!(cwnd, 12 * M);
        assert_eq!(s.grow(&mut cwnd, u64::MAX, M, 2 * M), None);
        assert_eq!(cwnd, 14 * M);
    }

    #[test]
    fn rfc3465_s2_3_one_segment_limit_after_a_timeout_until_ssthresh() {
        let mut s = SlowStart::default();
        assert!(s.on_timeout());
        let mut cwnd = M;
        // The ACK after a timeout often covers much that was sent before it.
        assert_eq!(s.grow(&mut cwnd, 3 * M, M, 10 * M), None);
        assert_eq!(cwnd, 2 * M);
        // ssthresh reached: the limit is L = 2*SMSS again in any later slow start.
        assert_eq!(s.grow(&mut cwnd, 3 * M, M, 10 * M), Some(9 * M));
        assert_eq!(cwnd, 3 * M);
        let mut cwnd = M;
        assert_eq!(s.grow(&mut cwnd, 10 * M, M, 10 * M), None);
        assert_eq!(cwnd, 3 * M);
        // A congestion event also ends the one-segment limit.
        assert!(!s.on_timeout());
        s.on_congestion_event();
        let mut cwnd = M;
        assert_eq!(s.grow(&mut cwnd, 10 * M, M, 10 * M), None);
        assert_eq!(cwnd, 3 * M);
    }

    #[test]
    fn rfc5681_s3_1_slow_start_stops_at_ssthresh_and_leaves_the_rest() {
        let mut s = SlowStart::default();
        let mut cwnd = 9 * M;
        // 1.5 segments acknowledged, one segment of room: cwnd stops at ssthresh and
        // half a segment is left for congestion avoidance.
        assert_eq!(s.grow(&mut cwnd, 10 * M, M, M + M / 2), Some(M / 2));
        assert_eq!(cwnd, 10 * M);
        // At or above ssthresh, slow start takes nothing.
        assert_eq!(s.grow(&mut cwnd, 10 * M, M, 3 * M), Some(3 * M));
        assert_eq!(cwnd, 10 * M);
        // Reaching ssthresh exactly leaves nothing over, but slow start is done.
        let mut cwnd = 9 * M;
        assert_eq!(s.grow(&mut cwnd, 10 * M, M, M), Some(0));
        assert_eq!(cwnd, 10 * M);
    }

    #[test]
    fn rfc5681_s3_1_ssthresh_is_set_once_per_timed_out_segment() {
        let mut s = SlowStart::default();
        assert!(s.on_timeout());
        // The same segment timing out again (backed off): ssthresh held.
        assert!(!s.on_timeout());
        assert!(!s.on_timeout());
        // Duplicate ACKs acknowledge nothing and change nothing.
        assert_eq!(s.admit(&ack(0)), AckUse::NothingNew);
        assert!(!s.on_timeout());
        // Once new data is acknowledged, the next timeout is a new one.
        assert_eq!(s.admit(&in_recovery(M)), AckUse::Grow);
        assert!(s.on_timeout());
    }

    #[test]
    fn rfc6582_s3_2_window_held_in_fast_recovery_but_not_after_a_timeout() {
        let mut s = SlowStart::default();
        assert_eq!(s.admit(&ack(M)), AckUse::Grow);
        s.on_congestion_event();
        assert_eq!(s.admit(&in_recovery(M)), AckUse::HeldInRecovery);
        // RFC 5681 §3.1, RFC 6675 §5.1: the recovery a timeout begins grows cwnd by
        // slow start, until it ends ...
        s.on_timeout();
        assert_eq!(s.admit(&in_recovery(M)), AckUse::Grow);
        s.on_recovery_end();
        assert_eq!(s.admit(&ack(M)), AckUse::Grow);
        assert_eq!(s.admit(&in_recovery(M)), AckUse::HeldInRecovery);
        // ... or a congestion event begins a fast recovery.
        s.on_timeout();
        s.on_congestion_event();
        assert_eq!(s.admit(&in_recovery(M)), AckUse::HeldInRecovery);
    }

    #[test]
    fn rfc7661_s4_3_application_limited_acks_do_not_grow_the_window() {
        let mut s = SlowStart::default();
        let limited = AckEvent {
            app_limited: true,
            ..ack(M)
        };
        assert_eq!(s.admit(&limited), AckUse::AppLimited);
        // Held in recovery comes first: there nothing grows anyway.
        s.on_congestion_event();
        let both = AckEvent {
            in_recovery: true,
            ..limited
        };
        assert_eq!(s.admit(&both), AckUse::HeldInRecovery);
        // An application-limited ACK still ends a timeout's back-off.
        s.on_timeout();
        s.on_recovery_end();
        assert_eq!(s.admit(&limited), AckUse::AppLimited);
        assert!(s.on_timeout());
    }
}
