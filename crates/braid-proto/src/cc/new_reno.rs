//! NewReno: RFC 5681 slow start and congestion avoidance with RFC 3465 byte
//! counting, and the RFC 6582 window response to loss, per subflow (uncoupled).
//!
//! The controller only keeps `cwnd` and `ssthresh`. Fast recovery itself (which
//! segments to retransmit, how much may be sent during recovery) belongs to the TCP
//! engine, which counts what is in the network with RFC 6675's `pipe` instead of
//! inflating cwnd by one segment per duplicate ACK: at a congestion event this
//! controller sets `cwnd = ssthresh` straight away, holds it while
//! [`AckEvent::in_recovery`] is set, and grows it again once recovery has ended.

use std::collections::BTreeMap;

use super::slow_start::{AckUse, SlowStart};
use super::{AckEvent, CongestionControl};
use crate::tcp::SubflowId;
use crate::time::Instant;

/// RFC 6928 §2: the initial window, `min(10*MSS, max(2*MSS, 14600))` bytes.
pub fn initial_window(mss: u32) -> u64 {
    let mss = u64::from(mss.max(1));
    (10 * mss).min((2 * mss).max(14_600))
}

/// RFC 5681's loss response, `max(FlightSize / 2, 2*SMSS)` (eq. 4).
pub(super) fn half_flight(in_flight: u64, mss: u64) -> u64 {
    (in_flight / 2).max(2 * mss)
}

/// Uncoupled NewReno: each subflow has its own window, as if it were a TCP
/// connection of its own.
#[derive(Debug, Default)]
pub struct NewReno {
    subflows: BTreeMap<SubflowId, RenoState>,
}

#[derive(Debug, Clone)]
struct RenoState {
    mss: u64,
    cwnd: u64,
    ssthresh: u64,
    /// RFC 3465 §2.1: bytes acknowledged in congestion avoidance since cwnd last grew.
    bytes_acked: u64,
    slow_start: SlowStart,
}

impl RenoState {
    fn new(mss: u32) -> Self {
        RenoState {
            mss: u64::from(mss.max(1)),
            cwnd: initial_window(mss),
            // RFC 5681 §3.1: the initial ssthresh SHOULD be arbitrarily high.
            ssthresh: u64::MAX,
            bytes_acked: 0,
            slow_start: SlowStart::default(),
        }
    }

    fn on_ack(&mut self, ack: &AckEvent) {
        if self.slow_start.admit(ack) != AckUse::Grow {
            return;
        }
        let Some(acked) = self
            .slow_start
            .grow(&mut self.cwnd, self.ssthresh, self.mss, ack.acked)
        else {
            return;
        };
        // RFC 5681 §3.1 congestion avoidance: cwnd grows by about SMSS*SMSS/cwnd per
        // ACK, one SMSS per window of data. RFC 3465 §2.1 counts it in bytes: once
        // bytes_acked reaches cwnd, take cwnd from it and add SMSS to cwnd.
        self.bytes_acked = self.bytes_acked.saturating_add(acked);
        if self.bytes_acked >= self.cwnd {
            self.bytes_acked -= self.cwnd;
            self.cwnd = self.cwnd.saturating_add(self.mss);
        }
    }

    fn on_congestion_event(&mut self, in_flight: u64) {
        // RFC 5681 §3.2 step 2 (eq. 4) and RFC 6582 §3.2 step 2:
        // ssthresh = max(FlightSize / 2, 2*SMSS). Step 3's cwnd = ssthresh + 3*SMSS
        // and its per-duplicate-ACK inflation are left to the engine's `pipe`
        // (RFC 6675), so cwnd is set to ssthresh here, which is also the value
        // RFC 6582 §3.2 step 6 deflates it to when recovery ends.
        self.ssthresh = half_flight(in_flight, self.mss);
        self.cwnd = self.ssthresh;
        self.bytes_acked = 0;
        self.slow_start.on_congestion_event();
    }

    fn on_retransmission_timeout(&mut self, in_flight: u64) {
        // RFC 5681 §3.1: on a timeout, ssthresh = max(FlightSize / 2, 2*SMSS)
        // (eq. 4), unless the segment has already been retransmitted by the timer,
        // in which case ssthresh is held; cwnd becomes the loss window, one segment.
        if self.slow_start.on_timeout() {
            self.ssthresh = half_flight(in_flight, self.mss);
        }
        self.cwnd = self.mss;
        self.bytes_acked = 0;
    }
}

impl NewReno {
    pub fn new() -> Self {
        Self::default()
    }
}

impl CongestionControl for NewReno {
    fn add_subflow(&mut self, id: SubflowId, mss: u32, _now: Instant) {
        self.subflows.insert(id, RenoState::new(mss));
    }

    fn remove_subflow(&mut self, id: SubflowId) {
        self.subflows.remove(&id);
    }

    fn on_ack(&mut self, id: SubflowId, _now: Instant, ack: AckEvent) {
        if let Some(s) = self.subflows.get_mut(&id) {
            s.on_ack(&ack);
        }
    }

    fn on_congestion_event(&mut self, id: SubflowId, _now: Instant, in_flight: u64) {
        if let Some(s) = self.subflows.get_mut(&id) {
            s.on_congestion_event(in_flight);
        }
    }

    fn on_recovery_end(&mut self, id: SubflowId, _now: Instant) {
        // After fast recovery cwnd already equals the episode's ssthresh (see
        // on_congestion_event).
        if let Some(s) = self.subflows.get_mut(&id) {
            s.slow_start.on_recovery_end();
        }
    }

    fn on_retransmission_timeout(&mut self, id: SubflowId, _now: Instant, in_flight: u64) {
        if let Some(s) = self.subflows.get_mut(&id) {
            s.on_retransmission_timeout(in_flight);
        }
    }

    fn cwnd(&self, id: SubflowId) -> u64 {
        self.subflows.get(&id).map_or(0, |s| s.cwnd)
    }

    fn ssthresh(&self, id: SubflowId) -> u64 {
        self.subflows.get(&id).map_or(u64::MAX, |s| s.ssthresh)
    }

    fn name(&self) -> &'static str {
        "newreno"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    const MSS: u32 = 1460;
    const M: u64 = MSS as u64;
    const A: SubflowId = SubflowId(1);
    const B: SubflowId = SubflowId(2);
    const SRTT: Duration = Duration::from_millis(20);

    fn ack(acked: u64, in_flight: u64) -> AckEvent {
        AckEvent {
            acked,
            prior_in_flight: in_flight,
            rtt: Some(SRTT),
            srtt: SRTT,
            in_recovery: false,
            app_limited: false,
        }
    }

    fn reno() -> NewReno {
        let mut cc = NewReno::new();
        cc.add_subflow(A, MSS, Instant::ZERO);
        cc
    }

    /// One round trip: the window at its start is acknowledged in MSS-sized ACKs,
    /// spread over the round (the last one partial if cwnd is not a multiple of MSS).
    fn round(cc: &mut NewReno, id: SubflowId, mss: u64, now: &mut Instant) {
        let window = cc.cwnd(id);
        let acks = window.div_ceil(mss);
        let start = *now;
        let mut left = window;
        for i in 1..=acks {
            let bytes = left.min(mss);
            left -= bytes;
            let t = start + Duration::from_micros(SRTT.as_micros() * i / acks);
            cc.on_ack(id, t, ack(bytes, cc.cwnd(id)));
        }
        *now = start + SRTT;
    }

    #[test]
    fn rfc6928_initial_window() {
        // min(10*MSS, max(2*MSS, 14600))
        assert_eq!(initial_window(536), 5_360);
        assert_eq!(initial_window(1_000), 10_000);
        assert_eq!(initial_window(1_460), 14_600);
        assert_eq!(initial_window(1_500), 14_600);
        assert_eq!(initial_window(8_960), 17_920);
        let cc = reno();
        assert_eq!(cc.cwnd(A), 14_600);
        // RFC 5681 §3.1: the initial ssthresh is arbitrarily high.
        assert_eq!(cc.ssthresh(A), u64::MAX);
        assert_eq!(cc.name(), "newreno");
    }

    #[test]
    fn rfc5681_s3_1_slow_start_doubles_per_rtt() {
        let mut cc = reno();
        let mut now = Instant::ZERO;
        let mut seen = vec![cc.cwnd(A) / M];
        for _ in 0..5 {
            round(&mut cc, A, M, &mut now);
            seen.push(cc.cwnd(A) / M);
        }
        assert_eq!(seen, [10, 20, 40, 80, 160, 320]);
        assert_eq!(cc.cwnd(A), 320 * M);
    }

    #[test]
    fn rfc3465_s2_3_slow_start_byte_counting_limit_is_two_segments() {
        let mut cc = reno();
        // A stretch ACK of 4 segments adds L = 2*SMSS, not 4.
        cc.on_ack(A, Instant::ZERO, ack(4 * M, 10 * M));
        assert_eq!(cc.cwnd(A), 12 * M);
        // A partial segment adds exactly what it acknowledges (byte counting).
        cc.on_ack(A, Instant::ZERO, ack(100, 10 * M));
        assert_eq!(cc.cwnd(A), 12 * M + 100);
        // Nothing acknowledged (a duplicate ACK): nothing added.
        cc.on_ack(A, Instant::ZERO, ack(0, 10 * M));
        assert_eq!(cc.cwnd(A), 12 * M + 100);
    }

    #[test]
    fn rfc5681_s3_1_slow_start_stops_at_ssthresh() {
        let mut cc = reno();
        cc.on_congestion_event(A, Instant::ZERO, 30 * M);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (15 * M, 15 * M));
        cc.on_retransmission_timeout(A, Instant::ZERO, 0);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (M, 2 * M));
        // From 1 MSS towards ssthresh = 2 MSS: an ACK of 1.5 MSS reaches 2 MSS and the
        // 0.5 MSS left over is counted in congestion avoidance, not slow start.
        cc.on_ack(A, Instant::ZERO, ack(M + M / 2, M));
        assert_eq!(cc.cwnd(A), 2 * M);
        cc.on_ack(A, Instant::ZERO, ack(M + M / 2, 2 * M));
        // bytes_acked = 0.5 + 1.5 = 2 MSS = cwnd: one SMSS added.
        assert_eq!(cc.cwnd(A), 3 * M);
    }

    #[test]
    fn rfc5681_s3_1_congestion_avoidance_adds_one_mss_per_rtt() {
        let mut cc = reno();
        let mut now = Instant::ZERO;
        for _ in 0..3 {
            round(&mut cc, A, M, &mut now);
        }
        assert_eq!(cc.cwnd(A), 80 * M);
        cc.on_congestion_event(A, now, 80 * M);
        cc.on_recovery_end(A, now);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (40 * M, 40 * M));
        let mut seen = Vec::new();
        for _ in 0..10 {
            round(&mut cc, A, M, &mut now);
            seen.push(cc.cwnd(A) / M);
        }
        assert_eq!(seen, [41, 42, 43, 44, 45, 46, 47, 48, 49, 50]);
        // Exactly one SMSS per window, no byte lost to rounding.
        assert_eq!(cc.cwnd(A), 50 * M);
    }

    #[test]
    fn rfc5681_s3_1_congestion_avoidance_is_byte_counted_whatever_the_ack_size() {
        // The same window acknowledged in ACKs of 1 byte, 1 MSS or 2 MSS (delayed
        // ACKs) grows cwnd by the same SMSS.
        for ack_size in [1, M, 2 * M, 3 * M] {
            let mut cc = reno();
            cc.on_congestion_event(A, Instant::ZERO, 40 * M);
            let mut left = 20 * M;
            while left > 0 {
                let bytes = left.min(ack_size);
                left -= bytes;
                cc.on_ack(A, Instant::ZERO, ack(bytes, 20 * M));
            }
            assert_eq!(cc.cwnd(A), 21 * M, "ACKs of {ack_size} bytes");
        }
    }

    #[test]
    fn rfc5681_s3_2_congestion_event_halves_flight_size() {
        let mut cc = reno();
        cc.on_congestion_event(A, Instant::ZERO, 101 * M + 1);
        assert_eq!(cc.ssthresh(A), 73_730);
        assert_eq!(cc.cwnd(A), cc.ssthresh(A));
        // Never below 2*SMSS.
        cc.on_congestion_event(A, Instant::ZERO, M);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (2 * M, 2 * M));
    }

    #[test]
    fn rfc6582_s3_2_window_held_during_recovery() {
        let mut cc = reno();
        cc.on_congestion_event(A, Instant::ZERO, 60 * M);
        assert_eq!(cc.cwnd(A), 30 * M);
        let mut in_recovery = ack(M, 60 * M);
        in_recovery.in_recovery = true;
        for _ in 0..100 {
            cc.on_ack(A, Instant::ZERO, in_recovery);
        }
        assert_eq!(cc.cwnd(A), 30 * M);
        cc.on_recovery_end(A, Instant::ZERO);
        assert_eq!(cc.cwnd(A), 30 * M);
        // Congestion avoidance from there.
        for _ in 0..30 {
            cc.on_ack(A, Instant::ZERO, ack(M, 30 * M));
        }
        assert_eq!(cc.cwnd(A), 31 * M);
    }

    #[test]
    fn rfc5681_s3_1_timeout_sets_loss_window() {
        let mut cc = reno();
        let mut now = Instant::ZERO;
        round(&mut cc, A, M, &mut now);
        round(&mut cc, A, M, &mut now);
        assert_eq!(cc.cwnd(A), 40 * M);
        cc.on_retransmission_timeout(A, now, 40 * M);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (M, 20 * M));
        // Backed-off timeouts of the same segment keep ssthresh.
        cc.on_retransmission_timeout(A, now, M);
        cc.on_retransmission_timeout(A, now, M);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (M, 20 * M));
        // Slow start again: 1, 2, 4, 8, 16, then 20 (ssthresh), then +1 per RTT.
        let mut seen = Vec::new();
        for _ in 0..7 {
            round(&mut cc, A, M, &mut now);
            seen.push(cc.cwnd(A) / M);
        }
        assert_eq!(seen, [2, 4, 8, 16, 20, 21, 22]);
        // New data was acknowledged since: the next timeout is a new one.
        cc.on_retransmission_timeout(A, now, 22 * M);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (M, 11 * M));
    }

    #[test]
    fn rfc5681_s3_1_slow_start_after_timeout_even_in_recovery() {
        // The engine keeps a recovery episode open after a timeout (RFC 6675 §5.1)
        // and flags its ACKs in_recovery: cwnd grows by slow start all the same.
        let mut cc = reno();
        cc.on_retransmission_timeout(A, Instant::ZERO, 40 * M);
        let mut in_recovery = ack(M, M);
        in_recovery.in_recovery = true;
        for expected in [2, 3, 4, 5] {
            cc.on_ack(A, Instant::ZERO, in_recovery);
            assert_eq!(cc.cwnd(A), expected * M);
        }
        cc.on_recovery_end(A, Instant::ZERO);
        cc.on_ack(A, Instant::ZERO, ack(M, M));
        assert_eq!(cc.cwnd(A), 6 * M);
        // A fast recovery after that holds cwnd again.
        cc.on_congestion_event(A, Instant::ZERO, 6 * M);
        cc.on_ack(A, Instant::ZERO, in_recovery);
        assert_eq!(cc.cwnd(A), 3 * M);
    }

    #[test]
    fn rfc3465_s2_3_one_segment_limit_in_slow_start_after_timeout() {
        let mut cc = reno();
        cc.on_retransmission_timeout(A, Instant::ZERO, 40 * M);
        // The ACK after a timeout often covers much that was sent before it: L = 1*SMSS.
        cc.on_ack(A, Instant::ZERO, ack(10 * M, M));
        assert_eq!(cc.cwnd(A), 2 * M);
        cc.on_ack(A, Instant::ZERO, ack(3 * M, 2 * M));
        assert_eq!(cc.cwnd(A), 3 * M);
    }

    #[test]
    fn rfc7661_s4_3_no_growth_while_application_limited() {
        let mut cc = reno();
        let mut limited = ack(M, 2 * M);
        limited.app_limited = true;
        for _ in 0..50 {
            cc.on_ack(A, Instant::ZERO, limited);
        }
        assert_eq!(cc.cwnd(A), initial_window(MSS));
        cc.on_ack(A, Instant::ZERO, ack(M, 10 * M));
        assert_eq!(cc.cwnd(A), initial_window(MSS) + M);
    }

    #[test]
    fn subflows_are_independent() {
        let mut cc = NewReno::new();
        let mut now = Instant::ZERO;
        cc.add_subflow(A, MSS, now);
        cc.add_subflow(B, 1_000, now);
        assert_eq!((cc.cwnd(A), cc.cwnd(B)), (14_600, 10_000));
        round(&mut cc, A, M, &mut now);
        round(&mut cc, A, M, &mut now);
        assert_eq!((cc.cwnd(A), cc.cwnd(B)), (40 * M, 10_000));
        cc.on_congestion_event(B, now, 10_000);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (40 * M, u64::MAX));
        assert_eq!((cc.cwnd(B), cc.ssthresh(B)), (5_000, 5_000));
        cc.on_retransmission_timeout(A, now, 40 * M);
        assert_eq!((cc.cwnd(B), cc.ssthresh(B)), (5_000, 5_000));
        round(&mut cc, B, 1_000, &mut now);
        assert_eq!((cc.cwnd(A), cc.cwnd(B)), (M, 6_000));
        // A removed or unknown subflow has no window and ignores events.
        cc.remove_subflow(A);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (0, u64::MAX));
        cc.on_ack(A, now, ack(M, M));
        cc.on_congestion_event(A, now, M);
        cc.on_retransmission_timeout(A, now, M);
        cc.on_recovery_end(A, now);
        assert_eq!(cc.cwnd(A), 0);
        assert_eq!(cc.cwnd(B), 6_000);
        // Adding it again starts afresh.
        cc.add_subflow(A, MSS, now);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (14_600, u64::MAX));
    }

    #[test]
    fn usable_as_a_trait_object() {
        let mut cc: Box<dyn CongestionControl> = Box::new(NewReno::new());
        cc.add_subflow(A, MSS, Instant::ZERO);
        cc.on_ack(A, Instant::ZERO, ack(M, M));
        assert_eq!(cc.cwnd(A), 11 * M);
    }
}
