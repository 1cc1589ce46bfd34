//! How fast each subflow delivers, and how much of the shared window it may hold.
//!
//! When the peer's receive window is what limits a connection, every byte one
//! subflow holds in flight is a byte another cannot send. Loss-based congestion
//! control grows a subflow's window until its bottleneck queue overflows, so the
//! subflow the scheduler prefers (lowest RTT) grows a queue until its RTT matches
//! the slower path's, and the slower path gets window only in between: 10+10 Mbit/s
//! at 1 and 25 ms one way used the 25 ms path 70% of the time. Beyond about twice
//! its bandwidth-delay product a subflow's queue adds no throughput (the argument
//! behind BBR's in-flight cap: Cardwell et al., "BBR: Congestion-Based Congestion
//! Control", ACM Queue 2016), so while the window is short the scheduler holds each
//! subflow to that much.

use crate::time::{Duration, Instant};

/// Rate samples kept: the estimate is the largest of them, so a few slow intervals
/// (the application or the window had nothing for the subflow) do not lower it.
const SAMPLES: usize = 10;

/// The shortest interval a sample covers: shorter ones measure ACK bursts (delayed
/// ACKs, ACKs queued behind the other direction's data), not the path.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// In-flight data a subflow may hold beyond its bandwidth-delay product, at least:
/// a path's RTT also carries the ACKs' queueing behind the other direction's data
/// and delayed-ACK timers, which its own window cannot remove.
const MIN_QUEUE_ALLOWANCE: Duration = Duration::from_millis(10);

/// Queue a subflow may always keep beyond its bandwidth-delay product, however
/// short the window: a cap of exactly the BDP would stop the rate estimate from
/// ever rising.
const MIN_QUEUE_SLACK: Duration = Duration::from_millis(5);

/// The fewest segments a cap allows: a subflow is never throttled below its
/// initial window (RFC 6928).
const MIN_CAP_SEGMENTS: u64 = 10;

/// A windowed-maximum estimate of a subflow's delivery rate, from its cumulative
/// acknowledged bytes sampled once per RTT.
#[derive(Debug, Clone, Default)]
pub struct DeliveryRate {
    /// Where the current sample started: time and bytes acknowledged then.
    start: Option<(Instant, u64)>,
    /// Bytes per second of the last [`SAMPLES`] intervals, newest at `next - 1`.
    samples: [u64; SAMPLES],
    next: usize,
}

impl DeliveryRate {
    /// Notes that `acked` bytes (cumulative) are acknowledged at `now`; a sample
    /// closes once `interval` (the subflow's RTT) has passed since the last one.
    pub fn update(&mut self, now: Instant, acked: u64, interval: Duration) {
        let Some((t0, a0)) = self.start else {
            self.start = Some((now, acked));
            return;
        };
        let elapsed = now.saturating_duration_since(t0);
        if elapsed < interval.max(MIN_INTERVAL) {
            return;
        }
        let micros = elapsed.as_micros().max(1);
        let rate = acked.saturating_sub(a0).saturating_mul(1_000_000) / micros;
        self.samples[self.next] = rate;
        self.next = (self.next + 1) % SAMPLES;
        self.start = Some((now, acked));
    }

    /// The best recent delivery rate, bytes per second (0 before the first sample).
    pub fn bytes_per_second(&self) -> u64 {
        self.samples.iter().copied().max().unwrap_or(0)
    }

    /// The most a subflow delivering at this rate over a path of minimum RTT
    /// `min_rtt` should hold in flight: twice its bandwidth-delay product, with at
    /// least [`MIN_QUEUE_ALLOWANCE`] of queue, but for no longer than
    /// `window_lasts`, the time the peer's window lasts at the subflows' summed rate
    /// (at least [`MIN_QUEUE_SLACK`] beyond the minimum RTT); never below
    /// [`MIN_CAP_SEGMENTS`].
    /// Whatever queue a subflow keeps delays the window's left edge by as much, so
    /// a path whose RTT is close to what the window covers must keep close to its
    /// bandwidth-delay product: without that limit the 25 ms path of 15+5 Mbit/s
    /// at 1/25 ms held two BDPs of a 122 KiB window and blocked the other. `None`
    /// until a rate has been measured.
    pub fn in_flight_cap(
        &self,
        min_rtt: Duration,
        mss: u32,
        window_lasts: Duration,
    ) -> Option<u64> {
        let rate = self.bytes_per_second();
        if rate == 0 {
            return None;
        }
        let twice_bdp = min_rtt + min_rtt.max(MIN_QUEUE_ALLOWANCE);
        let span = twice_bdp.min(window_lasts.max(min_rtt + MIN_QUEUE_SLACK));
        let bytes = rate.saturating_mul(span.as_micros()) / 1_000_000;
        Some(bytes.max(MIN_CAP_SEGMENTS * u64::from(mss)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1448;
    /// A window that lasts longer than any cap here.
    const LONG: Duration = Duration::from_secs(10);

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn no_cap_before_a_rate_is_measured() {
        let mut rate = DeliveryRate::default();
        assert_eq!(
            rate.in_flight_cap(Duration::from_millis(50), MSS, LONG),
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
            rate.in_flight_cap(Duration::from_millis(50), MSS, LONG),
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
            rate.in_flight_cap(Duration::from_millis(50), MSS, LONG),
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
                Duration::from_millis(50),
                MSS,
                Duration::from_millis(lasts_ms),
            )
        };
        // At least 5 ms of queue: 1.25 MB/s × 55 ms.
        assert_eq!(cap(52), Some(68_750));
        assert_eq!(cap(80), Some(100_000));
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
            rate.in_flight_cap(Duration::from_millis(2), MSS, LONG),
            Some(15_000)
        );
        // A slow path: never below ten segments.
        let mut slow = DeliveryRate::default();
        slow.update(at(0), 0, Duration::from_millis(10));
        slow.update(at(10), 100, Duration::from_millis(10));
        assert_eq!(
            slow.in_flight_cap(Duration::from_millis(2), MSS, LONG),
            Some(10 * u64::from(MSS))
        );
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
