//! Sharing a short connection-level window between subflows: the scheduling
//! heuristics that are policy, not RFC 8684 mechanism, in one place with one set of
//! parameters ([`SharingParams`]). docs/tuning.md tells how each value was found.
//!
//! When the peer's receive window is what limits a connection, every byte one
//! subflow holds in flight is a byte another cannot send, and any queue a subflow
//! keeps delays the window's left edge by as much. Loss-based congestion control
//! grows the preferred (lowest-RTT) subflow's queue until its RTT matches the slower
//! path's, so the slower path would get window only in between. Four heuristics
//! keep the paths adding up:
//!
//! - **In-flight cap** ([`DeliveryRate::in_flight_cap`]): while the window is short,
//!   each subflow holds about its bandwidth-delay product plus a small queue of its
//!   own. Beyond about twice its BDP a queue adds no throughput (the argument behind
//!   BBR's in-flight cap: Cardwell et al., "BBR: Congestion-Based Congestion
//!   Control", ACM Queue 2016).
//! - **Penalisation and opportunistic reinjection** (Raiciu et al., "How Hard Can It
//!   Be? Designing and Implementing a Deployable Multipath TCP", NSDI 2012, §4.2):
//!   when the window is full and a fast subflow has room while the window's left
//!   edge waits on a slower one, the slow one's window is reduced and the blocking
//!   data may be sent again on the fast one ([`WindowSharing::should_penalise`],
//!   [`copy_should_win`]).
//! - **Hold-back while the left edge is stuck** ([`WindowSharing::hold_back`]): new
//!   data keeps part of the peer's window free while the oldest unacknowledged byte
//!   has not moved for a while. A Linux receiver counts out-of-order data at its
//!   buffers' true size and, once over its buffer, moves nothing more to the
//!   connection, the retransmission that would fill the hole included.

mod delivery;

pub use delivery::DeliveryRate;

use crate::time::{Duration, Instant};

/// The tuned values of the sharing heuristics. Each field says why it exists and
/// where its value comes from; docs/tuning.md has the measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharingParams {
    /// How long after the peer's window last stopped the scheduler the subflows keep
    /// to their share of it: long enough that holding them to it, which keeps the
    /// window from filling, does not switch itself off. Measured (`braid bench
    /// aggregation`).
    pub window_short_memory: Duration,
    /// Sharing applies only when the largest window offered covers this fraction
    /// `(numerator, denominator)` of Σ rates × the longest minimum RTT: with less,
    /// data on the slower path only blocks the window and the faster path had
    /// better take all of it. Measured.
    pub min_window_coverage: (u64, u64),
    /// Delivery-rate samples kept; the estimate is the largest, so a few slow
    /// intervals (nothing to send, no window) do not lower it. BBR's bandwidth
    /// filter spans ten round trips (Cardwell et al. 2016).
    pub rate_samples: usize,
    /// The shortest interval a rate sample covers: shorter ones measure ACK bursts
    /// (delayed ACKs, ACKs queued behind the other direction's data), not the path.
    /// Measured.
    pub rate_min_interval: Duration,
    /// Send-time checkpoints kept per subflow, and how many per RTT: 128 at 32 per
    /// RTT cover four RTTs, more than a rate sample reaches back. A memory bound.
    pub send_checkpoints: usize,
    pub send_checkpoints_per_rtt: u64,
    /// Queue a subflow may keep beyond its bandwidth-delay product, at least: a
    /// path's RTT also carries delayed-ACK timers and ACK queueing its own window
    /// cannot remove. Measured.
    pub min_queue_allowance: Duration,
    /// Queue a subflow may always keep, however short the window: a cap of exactly
    /// the BDP would stop the rate estimate from ever rising.
    pub min_queue_slack: Duration,
    /// How much `(numerator, denominator)` of the time the peer's window lasts one
    /// path's round trip may take: a loss holds the left edge for about one and a
    /// half of the path's RTTs (three duplicate ACKs, then the retransmission's way
    /// out), and the window has to last that long for the others to keep sending.
    /// Reasoned, then measured against 1/2, 3/5, 3/4 and 1.
    pub window_share_per_path: (u64, u64),
    /// The fewest segments a cap allows: a subflow is never throttled below the
    /// initial window (RFC 6928).
    pub min_cap_segments: u64,
    /// The left edge counts as stuck after this many RTTs of the slowest usable
    /// subflow without moving, and at least `stuck_min`. Measured against Linux.
    pub stuck_rtts: u64,
    pub stuck_min: Duration,
    /// The fraction `(numerator, denominator)` of the peer's largest window kept
    /// free of new data while the left edge is stuck. Measured against Linux
    /// receivers (an eighth and a quarter still stalled them).
    pub stuck_hold_back: (u64, u64),
    /// A subflow is penalised only while its smoothed RTT shows a standing queue of
    /// its own: more than its minimum RTT divided by this, and more than
    /// `penalty_queue_min`, above its minimum RTT and its ACKs' queueing. Without
    /// the queue rule, repeated halvings starved paths with no queue to drain.
    /// Measured.
    pub penalty_queue_divisor: u64,
    pub penalty_queue_min: Duration,
    /// The fewest segments' worth of data a subflow is given at once (less only at
    /// the end of what the application wrote): a mapping of several segments
    /// survives a middlebox that coalesces a few of them (RFC 8684 §3.3.1), and
    /// each mapping costs a DSS.
    pub min_chunk_segments: u64,
}

impl SharingParams {
    /// The defaults, usable in constants.
    pub const DEFAULT: SharingParams = SharingParams {
        window_short_memory: Duration::from_secs(3),
        min_window_coverage: (3, 4),
        rate_samples: 10,
        rate_min_interval: Duration::from_millis(10),
        send_checkpoints: 128,
        send_checkpoints_per_rtt: 32,
        min_queue_allowance: Duration::from_millis(10),
        min_queue_slack: Duration::from_millis(5),
        window_share_per_path: (2, 3),
        min_cap_segments: 10,
        stuck_rtts: 2,
        stuck_min: Duration::from_millis(10),
        stuck_hold_back: (1, 2),
        penalty_queue_divisor: 4,
        penalty_queue_min: Duration::from_millis(5),
        min_chunk_segments: 4,
    };
}

impl Default for SharingParams {
    fn default() -> Self {
        SharingParams::DEFAULT
    }
}

/// What the sharing heuristics know of one subflow.
#[derive(Debug, Clone)]
pub struct PathState {
    pub delivery: DeliveryRate,
    /// When it was last penalised: at most once per its RTT.
    penalised_at: Option<Instant>,
}

impl PathState {
    pub fn new(params: &SharingParams) -> Self {
        PathState {
            delivery: DeliveryRate::new(params),
            penalised_at: None,
        }
    }
}

/// What a subflow looks like to [`WindowSharing::window_lasts`].
#[derive(Debug, Clone, Copy)]
pub struct PathRate {
    /// Usable and neither side's backup.
    pub regular: bool,
    pub bytes_per_second: u64,
    pub min_rtt: Option<Duration>,
}

/// The connection's state of the sharing heuristics.
#[derive(Debug, Clone)]
pub struct WindowSharing {
    params: SharingParams,
    /// When the peer's window last stopped the scheduler.
    window_full_at: Option<Instant>,
    /// The window's left edge (data_una) and when it last moved.
    left_edge_since: (u64, Instant),
    /// The left edge last sent again opportunistically: once is enough for each.
    opportunistic_at: Option<u64>,
}

impl WindowSharing {
    pub fn new(params: SharingParams) -> Self {
        WindowSharing {
            params,
            window_full_at: None,
            left_edge_since: (0, Instant::ZERO),
            opportunistic_at: None,
        }
    }

    pub fn params(&self) -> &SharingParams {
        &self.params
    }

    /// The peer's window just stopped the scheduler.
    pub fn window_full(&mut self, now: Instant) {
        self.window_full_at = Some(now);
    }

    /// How long the peer's largest window lasts at the sum of the regular subflows'
    /// delivery rates, if they should keep to their share of it: it has stopped the
    /// scheduler within [`SharingParams::window_short_memory`], more than one
    /// regular subflow shares it, and it covers
    /// [`SharingParams::min_window_coverage`] of Σ rates × the longest minimum RTT.
    pub fn window_lasts(
        &self,
        now: Instant,
        paths: impl IntoIterator<Item = PathRate>,
        largest_window: u64,
    ) -> Option<Duration> {
        let blocked_lately = self
            .window_full_at
            .is_some_and(|t| now.saturating_duration_since(t) < self.params.window_short_memory);
        let mut regular = 0;
        let mut rate_sum: u64 = 0;
        let mut rtt_max = Duration::ZERO;
        for p in paths.into_iter().filter(|p| p.regular) {
            regular += 1;
            rate_sum = rate_sum.saturating_add(p.bytes_per_second);
            rtt_max = rtt_max.max(p.min_rtt.unwrap_or(Duration::ZERO));
        }
        let needed = rate_sum.saturating_mul(rtt_max.as_micros()) / 1_000_000;
        let (share, of) = self.params.min_window_coverage;
        (blocked_lately && regular > 1 && largest_window >= needed / of * share).then(|| {
            Duration::from_micros(largest_window.saturating_mul(1_000_000) / rate_sum.max(1))
        })
    }

    /// The bytes of the peer's window new data should keep free: a fraction of the
    /// largest window ([`SharingParams::stuck_hold_back`]) once the left edge
    /// `data_una` has not moved for [`SharingParams::stuck_rtts`] × `rtt_max` (at
    /// least [`SharingParams::stuck_min`]) with data outstanding and more than one
    /// subflow usable; else none.
    pub fn hold_back(
        &mut self,
        now: Instant,
        data_una: u64,
        data_nxt: u64,
        usable: usize,
        rtt_max: Duration,
        largest_window: u64,
    ) -> u64 {
        if data_una != self.left_edge_since.0 {
            self.left_edge_since = (data_una, now);
        }
        let patience = rtt_max
            .saturating_mul(self.params.stuck_rtts)
            .max(self.params.stuck_min);
        let stuck = data_una != data_nxt
            && now.saturating_duration_since(self.left_edge_since.1) > patience;
        if stuck && usable > 1 {
            let (share, of) = self.params.stuck_hold_back;
            largest_window.saturating_mul(share) / of.max(1)
        } else {
            0
        }
    }

    /// Whether the left edge `data_una` may be sent again opportunistically: once
    /// per left edge.
    pub fn may_copy(&self, data_una: u64) -> bool {
        self.opportunistic_at != Some(data_una)
    }

    /// The left edge `data_una` was sent again.
    pub fn copied(&mut self, data_una: u64) {
        self.opportunistic_at = Some(data_una);
    }

    /// Whether a subflow holding the window's left edge is penalised now (and notes
    /// it if so): at most once per its smoothed RTT, and only while that RTT shows
    /// a standing queue of its own (see [`SharingParams::penalty_queue_divisor`]).
    /// Its ACKs' queueing behind the other direction's data (`return_queueing`) is
    /// not its own: a smaller window cannot drain it.
    pub fn should_penalise(
        &self,
        path: &mut PathState,
        now: Instant,
        srtt: Option<Duration>,
        min_rtt: Option<Duration>,
        return_queueing: Duration,
    ) -> bool {
        let rtt = srtt.unwrap_or_default();
        let min_rtt = min_rtt.unwrap_or(rtt);
        let threshold =
            Duration::from_micros(min_rtt.as_micros() / self.params.penalty_queue_divisor.max(1))
                .max(self.params.penalty_queue_min);
        let queued = rtt.saturating_sub(min_rtt + return_queueing) > threshold;
        let due = path
            .penalised_at
            .is_none_or(|t| now.saturating_duration_since(t) >= rtt);
        if queued && due {
            path.penalised_at = Some(now);
        }
        queued && due
    }
}

/// Whether a copy of the window's left edge on the fast subflow should open the
/// window sooner than the original on the slow one: the copy's DATA_ACK, one RTT
/// of the fast subflow from `now`, before the original's, one RTT of the slow one
/// after it was mapped (`mapped_at`), or later still when the slow subflow is
/// repairing losses. Copies that could not win only cost bandwidth.
pub fn copy_should_win(
    now: Instant,
    fast_rtt: Duration,
    mapped_at: Instant,
    slow_rtt: Duration,
    slow_repairing: bool,
) -> bool {
    slow_repairing || now + fast_rtt < mapped_at + slow_rtt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn path(rate: u64, min_rtt_ms: u64) -> PathRate {
        PathRate {
            regular: true,
            bytes_per_second: rate,
            min_rtt: Some(Duration::from_millis(min_rtt_ms)),
        }
    }

    #[test]
    fn the_window_is_shared_only_after_it_stopped_the_scheduler_lately() {
        let mut s = WindowSharing::new(SharingParams::DEFAULT);
        let paths = [path(1_000_000, 10), path(1_000_000, 50)];
        assert_eq!(s.window_lasts(at(0), paths, 200_000), None);
        s.window_full(at(0));
        // 200 kB at 2 MB/s lasts 100 ms.
        assert_eq!(
            s.window_lasts(at(1000), paths, 200_000),
            Some(Duration::from_millis(100))
        );
        assert_eq!(s.window_lasts(at(3000), paths, 200_000), None, "forgotten");
    }

    #[test]
    fn a_window_too_small_for_both_paths_or_one_path_is_not_shared() {
        let mut s = WindowSharing::new(SharingParams::DEFAULT);
        s.window_full(at(0));
        let paths = [path(1_000_000, 10), path(1_000_000, 50)];
        // Σ rates × 50 ms = 100 kB; three quarters of it is needed.
        assert!(s.window_lasts(at(1), paths, 75_000).is_some());
        assert!(s.window_lasts(at(1), paths, 74_000).is_none());
        assert!(s
            .window_lasts(at(1), [path(1_000_000, 10)], 1 << 20)
            .is_none());
        let backup = PathRate {
            regular: false,
            ..path(1_000_000, 50)
        };
        assert!(s
            .window_lasts(at(1), [path(1_000_000, 10), backup], 1 << 20)
            .is_none());
    }

    #[test]
    fn half_the_window_is_held_back_once_the_left_edge_is_stuck() {
        let mut s = WindowSharing::new(SharingParams::DEFAULT);
        let rtt = Duration::from_millis(20);
        assert_eq!(s.hold_back(at(0), 100, 200, 2, rtt, 1000), 0);
        // Two RTTs are 40 ms: not yet stuck at 40 ms, stuck after.
        assert_eq!(s.hold_back(at(40), 100, 200, 2, rtt, 1000), 0);
        assert_eq!(s.hold_back(at(41), 100, 200, 2, rtt, 1000), 500);
        assert_eq!(s.hold_back(at(41), 100, 200, 1, rtt, 1000), 0, "one path");
        assert_eq!(s.hold_back(at(42), 150, 200, 2, rtt, 1000), 0, "it moved");
        assert_eq!(s.hold_back(at(99), 200, 200, 2, rtt, 1000), 0, "all acked");
    }

    #[test]
    fn only_a_standing_queue_of_its_own_earns_a_penalty_once_per_rtt() {
        let s = WindowSharing::new(SharingParams::DEFAULT);
        let mut p = PathState::new(&SharingParams::DEFAULT);
        let ms = Duration::from_millis;
        // 40 ms of min RTT: a queue must exceed 10 ms.
        assert!(!s.should_penalise(&mut p, at(0), Some(ms(50)), Some(ms(40)), ms(0)));
        assert!(!s.should_penalise(&mut p, at(0), Some(ms(70)), Some(ms(40)), ms(20)));
        assert!(s.should_penalise(&mut p, at(0), Some(ms(60)), Some(ms(40)), ms(0)));
        assert!(!s.should_penalise(&mut p, at(59), Some(ms(60)), Some(ms(40)), ms(0)));
        assert!(s.should_penalise(&mut p, at(60), Some(ms(60)), Some(ms(40)), ms(0)));
    }

    #[test]
    fn a_copy_must_arrive_before_the_original_unless_that_is_being_repaired() {
        let ms = Duration::from_millis;
        assert!(copy_should_win(at(10), ms(10), at(0), ms(30), false));
        assert!(!copy_should_win(at(20), ms(10), at(0), ms(30), false));
        assert!(copy_should_win(at(20), ms(10), at(0), ms(30), true));
    }
}
