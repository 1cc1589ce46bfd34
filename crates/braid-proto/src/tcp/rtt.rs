//! Round-trip time estimation and the retransmission timeout (RFC 6298), with Linux's
//! 200 ms floor instead of RFC 6298's 1 s.
//!
//! The estimator only does arithmetic on samples; choosing which samples are valid is
//! the caller's job:
//!
//! - Karn's algorithm. RFC 6298 §3: "RTT samples MUST NOT be made using segments that
//!   were retransmitted (and thus for which it is ambiguous whether the reply was for
//!   the first instance of the packet or a later instance)." The one exception is an
//!   RTT taken from the timestamp option (RFC 7323 §4), whose echo names the
//!   transmission it answers.
//! - RFC 6298 §5.7: if the timer expired while awaiting the SYN's acknowledgment, the
//!   RTO must be 3 s when data transmission begins. As no sample exists then (the SYN
//!   was retransmitted, so Karn's rule forbids one), build a new estimator with an
//!   initial RTO of 3 s.
//!
//! Times are microseconds ([`Duration`]); the clock granularity G is therefore 1 µs.

use crate::time::Duration;

/// RFC 6298 §2.1: "Until a round-trip time (RTT) measurement has been made for a
/// segment sent between the sender and receiver, the sender SHOULD set RTO <- 1 second".
pub const DEFAULT_INITIAL_RTO: Duration = Duration::from_secs(1);

/// Linux's `TCP_RTO_MIN`. RFC 6298 §2.4 says 1 s, but notes the floor is a
/// conservative choice; every deployed stack uses less, and 1 s would make braid
/// recover far slower than the kernel it interoperates with.
pub const DEFAULT_MIN_RTO: Duration = Duration::from_millis(200);

/// Linux's `TCP_RTO_MAX`. RFC 6298 §2.5: "A maximum value MAY be placed on RTO
/// provided it is at least 60 seconds."
pub const DEFAULT_MAX_RTO: Duration = Duration::from_secs(120);

/// Clock granularity G of RFC 6298 §2: our clock ticks in microseconds.
pub const CLOCK_GRANULARITY: Duration = Duration::from_micros(1);

/// RFC 6298 §2: K = 4.
const K: u64 = 4;

/// The RTT estimator and retransmission timer value of one TCP subflow.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    /// RTO from the samples, clamped, before backoff.
    base_rto: Duration,
    /// Number of doublings since the last reset (RFC 6298 §5.5).
    backoffs: u32,
    min_rtt: Option<Duration>,
    latest: Option<Duration>,
    min_rto: Duration,
    max_rto: Duration,
}

impl Default for RttEstimator {
    /// Linux's values: 1 s initial, 200 ms floor, 120 s ceiling.
    fn default() -> Self {
        RttEstimator::new(DEFAULT_INITIAL_RTO, DEFAULT_MIN_RTO, DEFAULT_MAX_RTO)
    }
}

impl RttEstimator {
    /// An estimator with no samples. `initial_rto` is clamped to `[min_rto, max_rto]`.
    ///
    /// # Panics
    /// If `min_rto > max_rto` (a configuration bug).
    pub fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        assert!(
            min_rto <= max_rto,
            "min_rto {min_rto} exceeds max_rto {max_rto}"
        );
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            base_rto: initial_rto.max(min_rto).min(max_rto),
            backoffs: 0,
            min_rtt: None,
            latest: None,
            min_rto,
            max_rto,
        }
    }

    /// Feeds one RTT measurement, which the caller has checked against Karn's rule.
    ///
    /// Recomputes the RTO and clears any backoff: RFC 6298 §5: "once a new RTT
    /// measurement is obtained ... the computations outlined in Section 2 are
    /// performed, including the computation of RTO, which may result in "collapsing"
    /// RTO back down after it has been subject to exponential back off (rule 5.5)."
    pub fn on_sample(&mut self, rtt: Duration) {
        let r = rtt.as_micros();
        match self.srtt {
            None => {
                // RFC 6298 §2.2: "SRTT <- R" and "RTTVAR <- R/2".
                self.srtt = Some(rtt);
                self.rttvar = Duration::from_micros(r / 2);
            }
            Some(srtt) => {
                let srtt = srtt.as_micros();
                // RFC 6298 §2.3: "RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|
                // SRTT <- (1 - alpha) * SRTT + alpha * R'" with alpha = 1/8 and
                // beta = 1/4, RTTVAR updated first as it uses the old SRTT.
                // u128: no sample, however absurd, overflows.
                let err = u128::from(srtt.abs_diff(r));
                let rttvar = (3 * u128::from(self.rttvar.as_micros()) + err) / 4;
                let srtt = (7 * u128::from(srtt) + u128::from(r)) / 8;
                self.rttvar = Duration::from_micros(rttvar as u64);
                self.srtt = Some(Duration::from_micros(srtt as u64));
            }
        }
        // RFC 6298 §2.2/2.3: "RTO <- SRTT + max (G, K*RTTVAR)".
        let srtt = self.srtt.unwrap_or(rtt);
        let rto = srtt + CLOCK_GRANULARITY.max(self.rttvar.saturating_mul(K));
        // RFC 6298 §2.4 (floor, here Linux's) and §2.5 (ceiling).
        self.base_rto = rto.max(self.min_rto).min(self.max_rto);
        self.backoffs = 0;
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
        self.latest = Some(rtt);
    }

    /// The retransmission timeout to arm now, backoff included.
    pub fn rto(&self) -> Duration {
        let factor = 1u64.checked_shl(self.backoffs).unwrap_or(u64::MAX);
        self.base_rto.saturating_mul(factor).min(self.max_rto)
    }

    /// The timer expired. RFC 6298 §5.5: "The host MUST set RTO <- RTO * 2 ("back off
    /// the timer"). The maximum value discussed in (2.5) above may be used to provide
    /// an upper bound to this doubling operation."
    pub fn backoff(&mut self) {
        self.backoffs = self.backoffs.saturating_add(1);
    }

    /// Undoes the backoff without a sample, for a caller that gets proof of progress
    /// (new data acknowledged) but no valid RTT measurement under Karn's rule.
    /// [`on_sample`](Self::on_sample) already resets it.
    pub fn reset_backoff(&mut self) {
        self.backoffs = 0;
    }

    /// How many times the timer has backed off since the last reset: the count of
    /// consecutive timeouts that RFC 9293 §3.8.3 thresholds R1 and R2 are checked against.
    pub fn backoffs(&self) -> u32 {
        self.backoffs
    }

    /// Smoothed RTT, `None` before the first sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// RTT variation, `None` before the first sample.
    pub fn rttvar(&self) -> Option<Duration> {
        self.srtt.map(|_| self.rttvar)
    }

    /// The smallest sample ever fed (all-time, not windowed: the estimator has no clock,
    /// so it cannot age samples out). A route change to a longer path is not reflected.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// The most recent sample.
    pub fn latest(&self) -> Option<Duration> {
        self.latest
    }

    pub fn min_rto(&self) -> Duration {
        self.min_rto
    }

    pub fn max_rto(&self) -> Duration {
        self.max_rto
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn rfc6298_s2_1_initial_rto_is_one_second() {
        let e = RttEstimator::default();
        assert_eq!(e.rto(), ms(1_000));
        assert_eq!(e.srtt(), None);
        assert_eq!(e.rttvar(), None);
        assert_eq!(e.min_rtt(), None);
        assert_eq!(e.latest(), None);
    }

    #[test]
    fn rfc6298_s2_2_first_sample_sets_srtt_and_half_rttvar() {
        let mut e = RttEstimator::default();
        e.on_sample(ms(100));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), Some(ms(50)));
        // 100 + 4 * 50.
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn rfc6298_s2_3_later_samples_use_alpha_one_eighth_beta_one_quarter() {
        let mut e = RttEstimator::default();
        e.on_sample(ms(100));
        e.on_sample(ms(180));
        // RTTVAR = 3/4 * 50 + 1/4 * |100 - 180| = 37.5 + 20 = 57.5 ms (old SRTT used).
        assert_eq!(e.rttvar(), Some(Duration::from_micros(57_500)));
        // SRTT = 7/8 * 100 + 1/8 * 180 = 110 ms.
        assert_eq!(e.srtt(), Some(ms(110)));
        assert_eq!(e.rto(), ms(110 + 230));
        assert_eq!(e.latest(), Some(ms(180)));
        assert_eq!(e.min_rtt(), Some(ms(100)));
    }

    #[test]
    fn rfc6298_s2_3_converges_on_a_steady_rtt() {
        let mut e = RttEstimator::default();
        for _ in 0..200 {
            e.on_sample(ms(40));
        }
        assert_eq!(e.srtt(), Some(ms(40)));
        assert_eq!(e.rttvar(), Some(Duration::ZERO));
        // The floor, not SRTT + G.
        assert_eq!(e.rto(), DEFAULT_MIN_RTO);
    }

    #[test]
    fn rfc6298_s2_2_clock_granularity_bounds_the_variance_term() {
        let mut e = RttEstimator::new(ms(1_000), Duration::ZERO, ms(60_000));
        for _ in 0..200 {
            e.on_sample(ms(40));
        }
        assert_eq!(e.rto(), ms(40) + CLOCK_GRANULARITY);
    }

    #[test]
    fn rfc6298_s2_4_rto_is_floored_at_min_rto() {
        let mut e = RttEstimator::default();
        e.on_sample(Duration::from_micros(10));
        assert_eq!(e.rto(), ms(200));
        e.on_sample(Duration::ZERO);
        assert_eq!(e.rto(), ms(200));
    }

    #[test]
    fn rfc6298_s2_5_rto_is_capped_at_max_rto() {
        let mut e = RttEstimator::default();
        e.on_sample(Duration::from_secs(100));
        assert_eq!(e.rto(), DEFAULT_MAX_RTO);
        // Absurd samples neither overflow nor escape the cap.
        e.on_sample(Duration::MAX);
        e.on_sample(Duration::MAX);
        assert_eq!(e.rto(), DEFAULT_MAX_RTO);
        let mut e = RttEstimator::new(ms(500_000), ms(200), ms(60_000));
        assert_eq!(e.rto(), ms(60_000), "initial RTO clamped too");
        e.on_sample(Duration::MAX);
        assert_eq!(e.rto(), ms(60_000));
    }

    #[test]
    fn rfc6298_s5_5_backoff_doubles_up_to_the_maximum() {
        let mut e = RttEstimator::default();
        e.on_sample(ms(100));
        assert_eq!(e.rto(), ms(300));
        e.backoff();
        assert_eq!(e.rto(), ms(600));
        e.backoff();
        assert_eq!(e.rto(), ms(1_200));
        for _ in 0..100 {
            e.backoff();
        }
        assert_eq!(e.rto(), DEFAULT_MAX_RTO);
        // Counting goes on past the cap, for the caller's R1/R2 thresholds.
        assert_eq!(e.backoffs(), 102);
        e.reset_backoff();
        assert_eq!(e.rto(), ms(300));
        assert_eq!(e.backoffs(), 0);
    }

    #[test]
    fn rfc6298_s5_5_backoff_applies_before_any_sample() {
        let mut e = RttEstimator::default();
        e.backoff();
        e.backoff();
        assert_eq!(e.rto(), ms(4_000));
    }

    #[test]
    fn rfc6298_s5_a_new_sample_collapses_the_backed_off_rto() {
        let mut e = RttEstimator::default();
        e.on_sample(ms(100));
        e.backoff();
        e.backoff();
        assert_eq!(e.rto(), ms(1_200));
        e.on_sample(ms(100));
        // RTTVAR = 3/4 * 50 = 37.5 ms; RTO = 100 + 150.
        assert_eq!(e.rto(), ms(250));
        assert_eq!(e.backoffs(), 0);
    }

    #[test]
    fn rfc6298_s5_7_syn_timeout_uses_a_three_second_estimator() {
        let e = RttEstimator::new(Duration::from_secs(3), DEFAULT_MIN_RTO, DEFAULT_MAX_RTO);
        assert_eq!(e.rto(), Duration::from_secs(3));
    }

    #[test]
    fn min_rtt_is_the_all_time_minimum() {
        let mut e = RttEstimator::default();
        for r in [50, 30, 70, 40] {
            e.on_sample(ms(r));
        }
        assert_eq!(e.min_rtt(), Some(ms(30)));
        assert_eq!(e.latest(), Some(ms(40)));
    }

    #[test]
    #[should_panic(expected = "exceeds max_rto")]
    fn rejects_a_floor_above_the_ceiling() {
        RttEstimator::new(ms(1_000), ms(2_000), ms(1_000));
    }
}
