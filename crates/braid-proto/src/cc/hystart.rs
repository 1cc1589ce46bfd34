//! Leaving the first slow start before the bottleneck queue overflows: RFC 9406
//! HyStart++ (rounds whose minimum RTT grows, then Conservative Slow Start) and the
//! ACK-train signal of Linux's HyStart (tcp_cubic.c). [`super::Cubic`] uses them.

use super::AckEvent;
use crate::time::{Duration, Instant};

// RFC 9406 §4.3: HyStart++ constants.
const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
const MIN_RTT_DIVISOR: u64 = 8;
const N_RTT_SAMPLE: u32 = 8;
const CSS_GROWTH_DIVISOR: f64 = 4.0;
const CSS_ROUNDS: u32 = 5;
/// RFC 9406 §4.3: L for a sender that does not pace, in segments.
const L_SEGMENTS: f64 = 8.0;
/// Linux's HyStart (tcp_cubic.c): the ACK-train test starts at a window of
/// hystart_low_window segments, and ACKs more than hystart_ack_delta_us apart break
/// a train.
const ACK_TRAIN_LOW_WINDOW_SEGMENTS: f64 = 16.0;
const ACK_TRAIN_SPACING: Duration = Duration::from_millis(2);

/// How long the ACKs of one slow-start round must keep arriving as a train before
/// that signal ends slow start, against the smallest RTT sample so far. Where braid
/// departs from Linux here, and why, is said at
/// [`CubicConfig::hystart_ack_train_threshold`](super::CubicConfig::hystart_ack_train_threshold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckTrainThreshold {
    /// Half the minimum RTT: Linux's, for a sender that does not pace; plain TCP's.
    HalfMinRtt,
    /// The whole minimum RTT: MPTCP's.
    MinRtt,
}

impl AckTrainThreshold {
    fn of(self, min_rtt: Duration) -> Duration {
        match self {
            AckTrainThreshold::HalfMinRtt => min_rtt.checked_div(2).unwrap_or(Duration::ZERO),
            AckTrainThreshold::MinRtt => min_rtt,
        }
    }
}

/// What one ACK in slow start does to the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum SlowStartStep {
    /// cwnd grows by this many bytes.
    Grow(f64),
    /// Slow start is over: congestion avoidance with ssthresh = cwnd.
    Leave,
}

/// RFC 9406 §4.2 state. RFC 9406 ends a round when the ACK covers SND.NXT as it was
/// at the round's start; the controller sees no sequence numbers, so it marks the
/// same point in bytes: delivered + in flight at the round's first ACK.
#[derive(Debug, Clone, Default)]
pub(super) struct HyStart {
    window_end: Option<u64>,
    /// `None` is the RFC's infinity.
    last_round_min_rtt: Option<Duration>,
    current_round_min_rtt: Option<Duration>,
    rtt_sample_count: u32,
    /// Present during Conservative Slow Start.
    pub(super) css_baseline_min_rtt: Option<Duration>,
    css_rounds: u32,
    /// The ACK train is watched with this threshold (`CubicConfig::hystart_ack_train`
    /// on): when this round's first ACK arrived, the last ACK that continued its
    /// train, and the smallest RTT sample seen.
    ack_train: Option<AckTrainThreshold>,
    round_start: Option<Instant>,
    train_last_ack: Option<Instant>,
    delay_min: Option<Duration>,
}

impl HyStart {
    pub(super) fn new(ack_train: Option<AckTrainThreshold>) -> Self {
        HyStart {
            ack_train,
            ..HyStart::default()
        }
    }

    /// RFC 9406 §4.2 (and the ACK train) on one ACK in the first slow start, with
    /// `delivered_before` the bytes acknowledged before it and `cwnd`, `mss` in bytes.
    pub(super) fn on_ack(
        &mut self,
        now: Instant,
        delivered_before: u64,
        ack: &AckEvent,
        cwnd: f64,
        mss: f64,
    ) -> SlowStartStep {
        if let (Some(rtt), Some(_)) = (ack.rtt, self.ack_train) {
            self.delay_min = Some(self.delay_min.map_or(rtt, |m| m.min(rtt)));
        }
        if self.window_end.is_none_or(|end| delivered_before >= end) {
            // A new round: its end is what is sent by now, SND.NXT in bytes.
            self.window_end = Some(delivered_before.saturating_add(ack.prior_in_flight));
            if self.ack_train.is_some() {
                self.round_start = Some(now);
                self.train_last_ack = Some(now);
            }
            self.last_round_min_rtt = self.current_round_min_rtt;
            self.current_round_min_rtt = None;
            self.rtt_sample_count = 0;
            if self.css_baseline_min_rtt.is_some() {
                self.css_rounds += 1;
                if self.css_rounds >= CSS_ROUNDS {
                    // CSS_ROUNDS rounds of CSS.
                    return SlowStartStep::Leave;
                }
            }
        }
        if self.css_baseline_min_rtt.is_none()
            && cwnd >= ACK_TRAIN_LOW_WINDOW_SEGMENTS * mss
            && self.ack_train_fills_the_pipe(now)
        {
            return SlowStartStep::Leave;
        }
        // cwnd += min(N, L*SMSS), divided by CSS_GROWTH_DIVISOR during CSS.
        let mut increase = (ack.acked as f64).min(L_SEGMENTS * mss);
        if self.css_baseline_min_rtt.is_some() {
            increase /= CSS_GROWTH_DIVISOR;
        }
        if let Some(rtt) = ack.rtt {
            self.current_round_min_rtt =
                Some(self.current_round_min_rtt.map_or(rtt, |m| m.min(rtt)));
            self.rtt_sample_count += 1;
        }
        if self.rtt_sample_count >= N_RTT_SAMPLE {
            self.watch_round_min_rtt();
        }
        SlowStartStep::Grow(increase)
    }

    /// RFC 9406 §4.2 once a round has N_RTT_SAMPLE samples: a round minimum RTT that
    /// grew by RttThresh starts CSS; one that fell back below CSS's baseline ends it.
    fn watch_round_min_rtt(&mut self) {
        let Some(current) = self.current_round_min_rtt else {
            return;
        };
        match self.css_baseline_min_rtt {
            None => {
                let Some(last) = self.last_round_min_rtt else {
                    return;
                };
                // RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR,
                // MAX_RTT_THRESH)).
                let thresh = (last.checked_div(MIN_RTT_DIVISOR))
                    .unwrap_or(Duration::ZERO)
                    .min(MAX_RTT_THRESH)
                    .max(MIN_RTT_THRESH);
                if current >= last + thresh {
                    self.css_baseline_min_rtt = Some(current);
                    self.css_rounds = 0;
                }
            }
            Some(baseline) => {
                // The exit was spurious: slow start resumes.
                if current < baseline {
                    self.css_baseline_min_rtt = None;
                }
            }
        }
    }

    /// The ACK-train signal of Linux's HyStart (tcp_cubic.c, hystart_update): ACKs
    /// of this round arriving no more than ACK_TRAIN_SPACING apart for longer than
    /// the threshold mean the window the round began with takes that long to cross
    /// the bottleneck. With what the train acknowledged meanwhile, cwnd is then at
    /// least the bandwidth-delay product (threshold half the minimum RTT) or twice
    /// it (the whole minimum RTT), and what slow start adds beyond the
    /// bandwidth-delay product only queues.
    fn ack_train_fills_the_pipe(&mut self, now: Instant) -> bool {
        let (Some(threshold), Some(start), Some(last), Some(delay_min)) = (
            self.ack_train,
            self.round_start,
            self.train_last_ack,
            self.delay_min,
        ) else {
            return false;
        };
        if now - last > ACK_TRAIN_SPACING {
            return false;
        }
        self.train_last_ack = Some(now);
        now - start > threshold.of(delay_min)
    }
}
