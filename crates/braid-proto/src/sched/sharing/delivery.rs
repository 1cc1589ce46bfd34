//! How fast a subflow delivers: a windowed-maximum delivery rate, the measurement the
//! in-flight cap of [`super`] is built on.
//!
//! A rate sample divides the bytes acknowledged over an interval by the longer of
//! the time their ACKs took to arrive and the time the bytes took to leave (BBR's
//! delivery rate, draft-cheng-iccrg-delivery-rate-estimation §3.3): when both
//! directions carry data, ACKs wait behind the other direction's queue and then
//! arrive in bursts, which ACK timing alone mistakes for a faster path.

use std::collections::VecDeque;

use super::SharingParams;
use crate::time::{Duration, Instant};

/// A windowed-maximum estimate of a subflow's delivery rate, from its cumulative
/// acknowledged bytes sampled once per RTT and the times those bytes were sent.
#[derive(Debug, Clone)]
pub struct DeliveryRate {
    /// Samples kept, the shortest interval one covers, and the send-time
    /// checkpoints kept and their spacing ([`SharingParams`]).
    samples_kept: usize,
    min_interval: Duration,
    checkpoints_kept: usize,
    checkpoints_per_rtt: u64,
    /// Where the current sample started: time and bytes acknowledged then.
    start: Option<(Instant, u64)>,
    /// Bytes per second of the last `samples_kept` intervals, oldest first.
    samples: VecDeque<u64>,
    /// `(t, n)`: by time `t` the first `n` bytes of the subflow's stream had been
    /// sent, oldest first, at most `checkpoints_kept`.
    sent: VecDeque<(Instant, u64)>,
    /// Whether checkpoints have been dropped from the front of `sent`.
    sent_truncated: bool,
}

impl Default for DeliveryRate {
    fn default() -> Self {
        DeliveryRate::new(&SharingParams::default())
    }
}

impl DeliveryRate {
    pub fn new(params: &SharingParams) -> Self {
        DeliveryRate {
            samples_kept: params.rate_samples.max(1),
            min_interval: params.rate_min_interval,
            checkpoints_kept: params.send_checkpoints.max(1),
            checkpoints_per_rtt: params.send_checkpoints_per_rtt.max(1),
            start: None,
            samples: VecDeque::new(),
            sent: VecDeque::new(),
            sent_truncated: false,
        }
    }

    /// Notes that the first `sent` bytes of the subflow's stream have left by `now`
    /// (`rtt`: its smoothed RTT, which spaces the checkpoints).
    pub fn on_sent(&mut self, now: Instant, sent: u64, rtt: Duration) {
        let spacing = Duration::from_micros(rtt.as_micros() / self.checkpoints_per_rtt)
            .max(Duration::from_millis(1));
        match self.sent.back_mut() {
            Some(&mut (_, n)) if n >= sent => {}
            // Within one spacing of the last checkpoint: it moves forward instead,
            // so send times are known to that precision.
            Some((t, n)) if now.saturating_duration_since(*t) < spacing => *n = sent,
            _ => {
                if self.sent.len() == self.checkpoints_kept {
                    self.sent.pop_front();
                    self.sent_truncated = true;
                }
                self.sent.push_back((now, sent));
            }
        }
    }

    /// When the first `bytes` bytes had all been sent, as far as the checkpoints
    /// tell (`None` if they no longer reach back that far).
    fn sent_by(&self, bytes: u64) -> Option<Instant> {
        let i = self.sent.partition_point(|&(_, n)| n < bytes);
        let &(t, _) = self.sent.get(i)?;
        (i > 0 || !self.sent_truncated || bytes == 0).then_some(t)
    }

    /// Notes that `acked` bytes (cumulative) are acknowledged at `now`; a sample
    /// closes once `interval` (the subflow's RTT) has passed since the last one.
    pub fn update(&mut self, now: Instant, acked: u64, interval: Duration) {
        let Some((t0, a0)) = self.start else {
            self.start = Some((now, acked));
            return;
        };
        let elapsed = now.saturating_duration_since(t0);
        if elapsed < interval.max(self.min_interval) {
            return;
        }
        // The bytes cannot have arrived faster than they left.
        let send_span = match (self.sent_by(a0), self.sent_by(acked)) {
            (Some(s0), Some(s1)) => s1.saturating_duration_since(s0),
            _ => Duration::ZERO,
        };
        let micros = elapsed.max(send_span).as_micros().max(1);
        let rate = acked.saturating_sub(a0).saturating_mul(1_000_000) / micros;
        if self.samples.len() == self.samples_kept {
            self.samples.pop_front();
        }
        self.samples.push_back(rate);
        self.start = Some((now, acked));
    }

    /// The best recent delivery rate, bytes per second (0 before the first sample).
    pub fn bytes_per_second(&self) -> u64 {
        self.samples.iter().copied().max().unwrap_or(0)
    }

    /// The most a subflow delivering at this rate should hold in flight: enough
    /// for the time its data takes to come back with no queue of its own (its
    /// minimum RTT plus `return_queueing`, what its ACKs now wait behind the other
    /// direction's data, which it cannot shorten), plus a queue of its own of one
    /// minimum RTT (at least [`SharingParams::min_queue_allowance`]), but not beyond
    /// [`SharingParams::window_share_per_path`] of `window_lasts`, the time the
    /// peer's window lasts at the subflows' summed rate (yet
    /// [`SharingParams::min_queue_slack`] of queue always); never below
    /// [`SharingParams::min_cap_segments`]. `None` until a rate has been measured.
    ///
    /// Whatever queue a subflow keeps delays the window's left edge by as much, so
    /// a path whose RTT is close to what the window covers must keep close to its
    /// bandwidth-delay product.
    pub fn in_flight_cap(
        &self,
        params: &SharingParams,
        min_rtt: Duration,
        return_queueing: Duration,
        mss: u32,
        window_lasts: Duration,
    ) -> Option<u64> {
        let rate = self.bytes_per_second();
        if rate == 0 {
            return None;
        }
        let round_trip = min_rtt + return_queueing;
        let (share, of) = params.window_share_per_path;
        let window_share = window_lasts
            .saturating_mul(share)
            .checked_div(of)
            .unwrap_or(window_lasts);
        let own_queue = min_rtt.max(params.min_queue_allowance).min(
            window_share
                .saturating_sub(round_trip)
                .max(params.min_queue_slack),
        );
        let span = round_trip + own_queue;
        let bytes = rate.saturating_mul(span.as_micros()) / 1_000_000;
        Some(bytes.max(params.min_cap_segments * u64::from(mss)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1448;
    const P: SharingParams = SharingParams::DEFAULT;
    /// A window that lasts longer than any cap here.
    const LONG: Duration = Duration::from_secs(10);
    /// ACKs that come back without queueing.
    const NO_QUEUE: Duration = Duration::ZERO;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn no_cap_before_a_rate_is_measured() {
        let mut rate = DeliveryRate::default();
        assert_eq!(
            rate.in_flight_cap(&P, Duration::from_millis(50), NO_QUEUE, MSS, LONG),
            None
        );
        rate.update(at(0), 0, Duration::from_millis(50));
        rate.update(at(20), 10_000, Duration::from_millis(50));
        assert_eq!(
            rate.bytes_per_second(),
            0,
            "the first interval has not closed"
        );
        assert_eq!(
            rate.in_flight_cap(&P, Duration::from_millis(50), NO_QUEUE, MSS, LONG),
            None
        );
    }

    #[test]
    fn the_cap_is_twice_the_bandwidth_delay_product() {
        // 1.25 MB/s (10 Mbit/s) over a 50 ms path: BDP 62.5 kB, cap 125 kB.
        let mut rate = DeliveryRate::default();
        rate.update(at(0), 0, Duration::from_millis(50));
        rate.update(at(50), 62_500, Duration::from_millis(50));
        assert_eq!(rate.bytes_per_second(), 1_250_000);
        assert_eq!(
            rate.in_flight_cap(&P, Duration::from_millis(50), NO_QUEUE, MSS, LONG),
            Some(125_000)
        );
    }

    #[test]
    fn a_path_keeps_little_more_than_its_bdp_when_the_window_covers_little_more() {
        // 1.25 MB/s over a 50 ms path (BDP 62.5 kB) sharing a window that lasts
        // 52 ms, 80 ms and 200 ms at the subflows' summed rate.
        let mut rate = DeliveryRate::default();
        rate.update(at(0), 0, Duration::from_millis(50));
        rate.update(at(50), 62_500, Duration::from_millis(50));
        let cap = |lasts_ms| {
            rate.in_flight_cap(
                &P,
                Duration::from_millis(50),
                NO_QUEUE,
                MSS,
                Duration::from_millis(lasts_ms),
            )
        };
        // At least 5 ms of queue: 1.25 MB/s × 55 ms.
        assert_eq!(cap(52), Some(68_750));
        assert_eq!(cap(80), Some(68_750));
        // The round trip with its queue takes two thirds of the window's time.
        assert_eq!(cap(120), Some(100_000));
        // Never more than twice the BDP.
        assert_eq!(cap(200), Some(125_000));
    }

    #[test]
    fn a_short_path_keeps_ten_milliseconds_of_queue_and_the_initial_window() {
        let mut rate = DeliveryRate::default();
        rate.update(at(0), 0, Duration::from_millis(10));
        rate.update(at(10), 12_500, Duration::from_millis(10));
        // 1.25 MB/s × (2 ms + 10 ms) = 15 kB, the initial window is 14.48 kB.
        assert_eq!(
            rate.in_flight_cap(&P, Duration::from_millis(2), NO_QUEUE, MSS, LONG),
            Some(15_000)
        );
        // A slow path: never below ten segments.
        let mut slow = DeliveryRate::default();
        slow.update(at(0), 0, Duration::from_millis(10));
        slow.update(at(10), 100, Duration::from_millis(10));
        assert_eq!(
            slow.in_flight_cap(&P, Duration::from_millis(2), NO_QUEUE, MSS, LONG),
            Some(10 * u64::from(MSS))
        );
    }

    #[test]
    fn the_queue_acks_wait_in_is_allowed_for_but_not_counted_as_the_subflows_own() {
        // 1.25 MB/s over a 10 ms path whose ACKs wait 20 ms behind the other
        // direction's data: 30 ms of round trip and 10 ms of queue of its own.
        let mut rate = DeliveryRate::default();
        rate.update(at(0), 0, Duration::from_millis(10));
        rate.update(at(40), 50_000, Duration::from_millis(10));
        let min_rtt = Duration::from_millis(10);
        let acks_wait = Duration::from_millis(20);
        let cap = |lasts_ms| {
            rate.in_flight_cap(&P, min_rtt, acks_wait, MSS, Duration::from_millis(lasts_ms))
        };
        assert_eq!(cap(10_000), Some(50_000));
        // A window lasting 45 ms leaves 30 ms for the round trip: 5 ms of queue.
        assert_eq!(cap(45), Some(43_750));
    }

    #[test]
    fn acks_arriving_in_a_burst_do_not_raise_the_rate_above_the_sending_rate() {
        // 20 kB sent over 40 ms (500 kB/s); their ACKs were held in a queue and
        // arrive within 10 ms.
        let mut rate = DeliveryRate::default();
        let rtt = Duration::from_millis(10);
        for ms in 0..=40 {
            rate.on_sent(at(ms), ms * 500, rtt);
        }
        rate.update(at(50), 0, rtt);
        rate.update(at(60), 20_000, rtt);
        assert_eq!(rate.bytes_per_second(), 500_000);
        // The same burst without send times: ACK timing alone says 2 MB/s.
        let mut acks_only = DeliveryRate::default();
        acks_only.update(at(50), 0, rtt);
        acks_only.update(at(60), 20_000, rtt);
        assert_eq!(acks_only.bytes_per_second(), 2_000_000);
    }

    #[test]
    fn send_times_older_than_the_checkpoints_reach_are_unknown() {
        let mut rate = DeliveryRate::default();
        let rtt = Duration::from_millis(1);
        for k in 0..(P.send_checkpoints as u64 + 10) {
            rate.on_sent(at(k), (k + 1) * 1000, rtt);
        }
        assert_eq!(rate.sent_by(1000), None, "dropped from the front");
        assert_eq!(rate.sent_by(20_000), Some(at(19)));
        // Within one spacing the last checkpoint moves forward.
        let mut coarse = DeliveryRate::default();
        coarse.on_sent(at(0), 1000, Duration::from_millis(320));
        coarse.on_sent(at(5), 2000, Duration::from_millis(320));
        assert_eq!(coarse.sent_by(2000), Some(at(0)));
        coarse.on_sent(at(10), 3000, Duration::from_millis(320));
        assert_eq!(coarse.sent_by(3000), Some(at(10)));
    }

    #[test]
    fn the_estimate_is_the_best_of_the_last_ten_intervals() {
        let mut rate = DeliveryRate::default();
        let rtt = Duration::from_millis(20);
        let mut acked = 0;
        rate.update(at(0), acked, rtt);
        // One fast interval, then slow ones (nothing to send, or no window).
        acked += 40_000;
        rate.update(at(20), acked, rtt);
        assert_eq!(rate.bytes_per_second(), 2_000_000);
        for k in 2..=10 {
            acked += 2_000;
            rate.update(at(20 * k), acked, rtt);
            assert_eq!(rate.bytes_per_second(), 2_000_000, "interval {k}");
        }
        // Ten slow intervals later the fast one has aged out.
        acked += 2_000;
        rate.update(at(220), acked, rtt);
        assert_eq!(rate.bytes_per_second(), 100_000);
    }

    #[test]
    fn bursts_shorter_than_ten_milliseconds_are_not_samples() {
        // A 2 ms path whose ACKs come in bursts: a sample closes only after 10 ms.
        let mut rate = DeliveryRate::default();
        let rtt = Duration::from_millis(2);
        rate.update(at(0), 0, rtt);
        rate.update(at(2), 30_000, rtt);
        assert_eq!(rate.bytes_per_second(), 0);
        rate.update(at(10), 30_000, rtt);
        assert_eq!(rate.bytes_per_second(), 3_000_000);
    }
}
