//! CUBIC (RFC 9438), per subflow (uncoupled), with optional HyStart++ (RFC 9406)
//! for the first slow start.
//!
//! Windows are kept in bytes as `f64` (one platform gives one answer, which is all
//! the simulator needs); the RFC's formulas, written in segments, are applied by
//! converting with the subflow's MSS. As in [`super::NewReno`], the engine does fast
//! recovery by RFC 6675's `pipe`: at a congestion event cwnd drops to its new value at
//! once and is held while [`AckEvent::in_recovery`] is set.

use std::collections::BTreeMap;

use super::hystart::{AckTrainThreshold, HyStart, SlowStartStep};
use super::new_reno::initial_window;
use super::slow_start::{AckUse, SlowStart};
use super::{AckEvent, CongestionControl};
use crate::tcp::SubflowId;
use crate::time::{Duration, Instant};

/// RFC 9438 §4.1.1: C, in segments per second cubed.
const C: f64 = 0.4;
/// RFC 9438 §4.1.1: beta_cubic, the multiplicative decrease factor.
const BETA: f64 = 0.7;
/// RFC 9438 §4.1.1: alpha_cubic = 3 * (1 - beta_cubic) / (1 + beta_cubic), the
/// additive increase of the Reno-friendly estimate, in segments per RTT.
const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// Options of [`Cubic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CubicConfig {
    /// RFC 9438 §4.7: lower W_max when a flow loses before regaining its previous
    /// W_max, releasing bandwidth to newer flows. Default: on.
    pub fast_convergence: bool,
    /// RFC 9406 HyStart++ in the first slow start of each subflow: leave slow start
    /// when the round-trip time grows, before the queue overflows. Off, slow start is
    /// RFC 5681's (with RFC 3465 byte counting) until the first loss. Default: on.
    pub hystart_plus_plus: bool,
    /// With HyStart++, also leave the first slow start on the ACK-train signal of
    /// Linux's HyStart (see cc/hystart.rs). A sender that does
    /// not pace sends slow start's rounds in bursts, so the bottleneck's queue
    /// drains between them and the round-minimum RTT that HyStart++ watches may not
    /// grow until cwnd is far past what the path holds (docs/tuning.md). Default: on.
    pub hystart_ack_train: bool,
    /// How long a round's ACK train must last, against the smallest RTT sample, for
    /// the ACK-train signal to end slow start. Default:
    /// [`AckTrainThreshold::HalfMinRtt`], Linux's for a sender that does not pace
    /// (tcp_cubic.c, hystart_update), which plain TCP connections get;
    /// [`CubicConfig::mptcp`] takes [`AckTrainThreshold::MinRtt`].
    ///
    /// Where braid's CUBIC departs from Linux's, and why:
    /// - MPTCP connections take the whole minimum RTT, chosen on the MPTCP
    ///   benchmarks when the signal was added (docs/tuning.md has the figures, and
    ///   today's, which favour half).
    /// - Linux adds to the minimum RTT, before halving it, a cushion of up to 1 ms
    ///   for TSO and GRO batching; braid adds none, whichever the threshold.
    ///
    /// Plain TCP keeps Linux's value: on single paths it is as good or better
    /// (docs/tuning.md, "HyStart's ACK-train threshold"). The endpoint chooses when
    /// it makes a connection's controller: MPTCP when it connects with MPTCP on, or
    /// takes a SYN offering MP_CAPABLE v1 with MPTCP on; a connection that falls
    /// back to TCP later keeps the MPTCP value.
    pub hystart_ack_train_threshold: AckTrainThreshold,
}

impl Default for CubicConfig {
    fn default() -> Self {
        CubicConfig {
            fast_convergence: true,
            hystart_plus_plus: true,
            hystart_ack_train: true,
            hystart_ack_train_threshold: AckTrainThreshold::HalfMinRtt,
        }
    }
}

impl CubicConfig {
    /// The options of an MPTCP connection's controller: the defaults, but the ACK
    /// train must last the whole minimum RTT (see
    /// [`hystart_ack_train_threshold`](Self::hystart_ack_train_threshold)).
    pub fn mptcp() -> Self {
        CubicConfig {
            hystart_ack_train_threshold: AckTrainThreshold::MinRtt,
            ..CubicConfig::default()
        }
    }
}

/// Uncoupled CUBIC: each subflow has its own window and its own cubic curve.
#[derive(Debug, Default)]
pub struct Cubic {
    config: CubicConfig,
    subflows: BTreeMap<SubflowId, CubicState>,
}

impl Cubic {
    /// CUBIC with the default [`CubicConfig`] (fast convergence and HyStart++ on).
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_config(config: CubicConfig) -> Self {
        Cubic {
            config,
            subflows: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> CubicConfig {
        self.config
    }
}

#[derive(Debug, Clone)]
struct CubicState {
    /// SMSS, bytes.
    mss: f64,
    /// Bytes. Fractional: the per-ACK increments of §4.3-4.5 are fractions of a byte.
    cwnd: f64,
    ssthresh: u64,
    /// W_max (§4.1.2), bytes; 0 while undefined (before the first congestion event
    /// and after a timeout, §4.8).
    w_max: f64,
    /// cwnd_prior (§4.1.2), bytes: cwnd when ssthresh was last set.
    cwnd_prior: f64,
    /// K (§4.2), seconds.
    k: f64,
    /// W_est (§4.3), bytes.
    w_est: f64,
    /// t_epoch (§4.1.2): the start of the current congestion avoidance stage, set by
    /// its first ACK; `None` outside congestion avoidance.
    epoch_start: Option<Instant>,
    /// When the sender became application-limited in congestion avoidance: that time
    /// is not part of t (§4.2, §5.8).
    app_limited_since: Option<Instant>,
    /// Slow start outside HyStart: RFC 5681's, with RFC 3465 byte counting.
    slow_start: SlowStart,
    /// Bytes acknowledged so far: with the bytes in flight, HyStart++'s round marker.
    delivered: u64,
    /// Present during the first slow start if HyStart++ is on.
    hystart: Option<HyStart>,
}

impl CubicState {
    fn new(mss: u32, config: &CubicConfig) -> Self {
        CubicState {
            mss: f64::from(mss.max(1)),
            cwnd: initial_window(mss) as f64,
            // RFC 5681 §3.1: the initial ssthresh is arbitrarily high.
            ssthresh: u64::MAX,
            w_max: 0.0,
            cwnd_prior: 0.0,
            k: 0.0,
            w_est: 0.0,
            epoch_start: None,
            app_limited_since: None,
            slow_start: SlowStart::default(),
            delivered: 0,
            hystart: config.hystart_plus_plus.then(|| {
                HyStart::new(
                    config
                        .hystart_ack_train
                        .then_some(config.hystart_ack_train_threshold),
                )
            }),
        }
    }

    fn ssthresh_f(&self) -> f64 {
        self.ssthresh as f64
    }

    /// RFC 9438 §4.2, Figure 1: W_cubic(t) = C * (t - K)^3 + W_max, in bytes.
    fn w_cubic(&self, t: f64) -> f64 {
        C * (t - self.k).powi(3) * self.mss + self.w_max
    }

    fn on_ack(&mut self, now: Instant, ack: &AckEvent) {
        let delivered_before = self.delivered;
        self.delivered = self.delivered.saturating_add(ack.acked);
        // RFC 6675 / RFC 6582: no growth during fast recovery. After a timeout, slow
        // start from one segment (§4.8, RFC 5681 §3.1), recovery or not.
        match self.slow_start.admit(ack) {
            AckUse::NothingNew | AckUse::HeldInRecovery => return,
            AckUse::AppLimited => {
                // RFC 9438 §5.8: CUBIC does not increase cwnd while the flow is
                // application-limited, and §4.2: t does not include those periods.
                if self.epoch_start.is_some() && self.app_limited_since.is_none() {
                    self.app_limited_since = Some(now);
                }
                return;
            }
            AckUse::Grow => {}
        }
        if let Some(since) = self.app_limited_since.take() {
            if let Some(start) = self.epoch_start.as_mut() {
                *start += now - since;
            }
        }
        let mut acked = ack.acked as f64;
        if self.cwnd < self.ssthresh_f() {
            // RFC 9438 §4.10: slow start while cwnd < ssthresh.
            let left = if self.hystart.is_some() {
                self.hystart_slow_start(now, delivered_before, ack)
            } else {
                self.standard_slow_start(ack.acked)
            };
            match left {
                Some(left) if left > 0.0 => acked = left,
                _ => return,
            }
        }
        self.congestion_avoidance(now, acked, ack.srtt);
    }

    /// RFC 5681 §3.1 slow start with RFC 3465 byte counting, stopping at ssthresh.
    /// Returns the bytes left for congestion avoidance if it reached ssthresh.
    fn standard_slow_start(&mut self, acked: u64) -> Option<f64> {
        // cwnd is whole bytes here: this slow start begins at the initial window or,
        // after a timeout, at one segment, and byte counting adds whole bytes. Only
        // Conservative Slow Start and congestion avoidance make fractions, and they
        // end at a whole ssthresh or a timeout's one segment.
        debug_assert_eq!(self.cwnd.fract(), 0.0);
        let mut cwnd = self.cwnd as u64;
        let left = self
            .slow_start
            .grow(&mut cwnd, self.ssthresh, self.mss as u64, acked);
        self.cwnd = cwnd as f64;
        left.map(|left| left as f64)
    }

    /// One ACK in the first slow start with HyStart on ([`HyStart::on_ack`]).
    /// Returns the bytes left for congestion avoidance if slow start ended.
    fn hystart_slow_start(
        &mut self,
        now: Instant,
        delivered_before: u64,
        ack: &AckEvent,
    ) -> Option<f64> {
        let h = self.hystart.as_mut()?;
        match h.on_ack(now, delivered_before, ack, self.cwnd, self.mss) {
            SlowStartStep::Grow(increase) => {
                self.cwnd += increase;
                None
            }
            SlowStartStep::Leave => {
                // Congestion avoidance with ssthresh = cwnd. RFC 9438 §4.10: no loss,
                // so W_max is undefined (the next epoch takes K = 0 and W_max =
                // cwnd_epoch) and cwnd_prior = cwnd.
                self.hystart = None;
                self.ssthresh = self.cwnd as u64;
                self.cwnd = self.ssthresh_f();
                self.cwnd_prior = self.cwnd;
                self.w_max = 0.0;
                Some(ack.acked as f64)
            }
        }
    }

    /// RFC 9438 §4.2-4.5 on one ACK in congestion avoidance.
    fn congestion_avoidance(&mut self, now: Instant, acked: f64, srtt: Duration) {
        let epoch_start = match self.epoch_start {
            Some(start) => start,
            None => self.start_epoch(now),
        };
        let t = (now - epoch_start).as_secs_f64();
        // §4.3: W_est = W_est + alpha_cubic * segments_acked / cwnd, with alpha_cubic
        // 1 once W_est has reached cwnd_prior (Reno's own AIMD(1, 0.5) rate).
        let alpha = if self.w_est >= self.cwnd_prior {
            1.0
        } else {
            ALPHA
        };
        self.w_est += alpha * acked * self.mss / self.cwnd;
        if self.w_cubic(t) < self.w_est {
            // §4.3: the Reno-friendly region, cwnd = W_est. (cwnd may already be above
            // W_est after growing toward W_cubic(t + RTT); an ACK never shrinks it.)
            self.cwnd = self.cwnd.max(self.w_est);
        } else {
            // §4.2: target = W_cubic(t + RTT), RTT the smoothed RTT, clamped to
            // [cwnd, 1.5 * cwnd]; §4.4 (concave, cwnd < W_max) and §4.5 (convex):
            // cwnd += (target - cwnd) / cwnd per segment acknowledged.
            let target = self
                .w_cubic(t + srtt.as_secs_f64())
                .clamp(self.cwnd, 1.5 * self.cwnd);
            self.cwnd += (target - self.cwnd) / self.cwnd * acked;
        }
    }

    /// The first ACK of a congestion avoidance stage.
    fn start_epoch(&mut self, now: Instant) -> Instant {
        self.epoch_start = Some(now);
        self.app_limited_since = None;
        let cwnd_epoch = self.cwnd;
        if self.w_max > cwnd_epoch {
            // §4.2, Figure 2: K = cubic_root((W_max - cwnd_epoch) / C).
            self.k = ((self.w_max - cwnd_epoch) / self.mss / C).cbrt();
        } else {
            // §4.8 (after a timeout) and §4.10 (slow start left without a loss): K = 0
            // and W_max = cwnd_epoch. The same when W_max is below cwnd_epoch for
            // another reason, so the curve starts at cwnd_epoch and grows convexly.
            self.w_max = cwnd_epoch;
            self.k = 0.0;
        }
        // §4.3: W_est starts at cwnd_epoch.
        self.w_est = cwnd_epoch;
        now
    }

    fn on_congestion_event(&mut self, config: &CubicConfig, in_flight: u64) {
        // RFC 9406 §4.2: loss ends HyStart++, the loss response is CUBIC's.
        self.hystart = None;
        self.slow_start.on_congestion_event();
        let cwnd = self.cwnd;
        // §4.7: with fast convergence, a flow that loses before regaining its previous
        // W_max remembers a lower one, W_max = cwnd * (1 + beta_cubic) / 2.
        self.w_max = if config.fast_convergence && cwnd < self.w_max {
            cwnd * (1.0 + BETA) / 2.0
        } else {
            cwnd
        };
        // §4.6, Figure 5: ssthresh = flight_size * beta_cubic, cwnd_prior = cwnd,
        // cwnd = max(ssthresh, 2) on loss, ssthresh = max(ssthresh, 2) segments.
        self.cwnd_prior = cwnd;
        self.ssthresh = self.beta_flight(in_flight);
        self.cwnd = self.ssthresh_f();
        self.epoch_start = None;
        self.app_limited_since = None;
    }

    fn on_retransmission_timeout(&mut self, in_flight: u64) {
        self.hystart = None;
        // §4.8: cwnd as Reno (RFC 5681 §3.1: the loss window, one segment) but
        // ssthresh with beta_cubic as in §4.6. RFC 5681 §3.1: ssthresh is held when
        // the segment has already been retransmitted by the timer.
        if self.slow_start.on_timeout() {
            self.cwnd_prior = self.cwnd;
            self.ssthresh = self.beta_flight(in_flight);
        }
        // §4.8: the first congestion avoidance stage after a timeout takes K = 0 and
        // W_max = cwnd_epoch (see start_epoch).
        self.w_max = 0.0;
        self.cwnd = self.mss;
        self.epoch_start = None;
        self.app_limited_since = None;
    }

    /// max(flight_size * beta_cubic, 2*SMSS), bytes, in integers (beta_cubic = 7/10)
    /// so that whole windows give whole results.
    fn beta_flight(&self, in_flight: u64) -> u64 {
        let reduced = (u128::from(in_flight) * 7 / 10) as u64;
        reduced.max(2 * self.mss as u64)
    }
}

impl CongestionControl for Cubic {
    fn add_subflow(&mut self, id: SubflowId, mss: u32, _now: Instant) {
        self.subflows.insert(id, CubicState::new(mss, &self.config));
    }

    fn remove_subflow(&mut self, id: SubflowId) {
        self.subflows.remove(&id);
    }

    fn on_ack(&mut self, id: SubflowId, now: Instant, ack: AckEvent) {
        if let Some(s) = self.subflows.get_mut(&id) {
            s.on_ack(now, &ack);
        }
    }

    fn on_congestion_event(&mut self, id: SubflowId, _now: Instant, in_flight: u64) {
        if let Some(s) = self.subflows.get_mut(&id) {
            s.on_congestion_event(&self.config, in_flight);
        }
    }

    fn on_recovery_end(&mut self, id: SubflowId, _now: Instant) {
        // After fast recovery the congestion avoidance stage, and t, start at the next
        // ACK; after a timeout, slow start continues.
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
        self.subflows.get(&id).map_or(0, |s| s.cwnd as u64)
    }

    fn ssthresh(&self, id: SubflowId) -> u64 {
        self.subflows.get(&id).map_or(u64::MAX, |s| s.ssthresh)
    }

    fn name(&self) -> &'static str {
        "cubic"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1_000;
    const M: u64 = MSS as u64;
    const A: SubflowId = SubflowId(1);
    const B: SubflowId = SubflowId(2);

    fn plain() -> CubicConfig {
        CubicConfig {
            hystart_plus_plus: false,
            hystart_ack_train: false,
            ..CubicConfig::default()
        }
    }

    fn cubic(config: CubicConfig) -> Cubic {
        let mut cc = Cubic::with_config(config);
        cc.add_subflow(A, MSS, Instant::ZERO);
        cc
    }

    fn ack(acked: u64, in_flight: u64, rtt: Duration) -> AckEvent {
        AckEvent {
            acked,
            prior_in_flight: in_flight,
            rtt: Some(rtt),
            srtt: rtt,
            in_recovery: false,
            app_limited: false,
        }
    }

    /// One round trip of `rtt`: the window at its start acknowledged in MSS-sized
    /// ACKs spread evenly over the round, each ACK's sample `rtt`.
    fn round(cc: &mut Cubic, id: SubflowId, now: &mut Instant, rtt: Duration) {
        let window = cc.cwnd(id);
        let acks = window.div_ceil(M);
        let start = *now;
        let mut left = window;
        for i in 1..=acks {
            let bytes = left.min(M);
            left -= bytes;
            let t = start + Duration::from_micros(rtt.as_micros() * i / acks);
            cc.on_ack(id, t, ack(bytes, cc.cwnd(id), rtt));
        }
        *now = start + rtt;
    }

    fn state(cc: &Cubic, id: SubflowId) -> &CubicState {
        &cc.subflows[&id]
    }

    const RTT_100MS: Duration = Duration::from_millis(100);
    const RTT_20MS: Duration = Duration::from_millis(20);

    /// Slow start from the initial window to `rounds` doublings, then a loss with the
    /// whole window in flight, and the end of its recovery: the start of congestion
    /// avoidance, with `now` at the recovery's end.
    fn after_first_loss(config: CubicConfig, rounds: usize, rtt: Duration) -> (Cubic, Instant) {
        let mut cc = cubic(config);
        let mut now = Instant::ZERO;
        for _ in 0..rounds {
            round(&mut cc, A, &mut now, rtt);
        }
        let window = cc.cwnd(A);
        cc.on_congestion_event(A, now, window);
        now += rtt;
        cc.on_recovery_end(A, now);
        (cc, now)
    }

    /// W_cubic(t) for the current epoch, in bytes, t since the epoch's first ACK.
    fn w_cubic_now(cc: &Cubic, now: Instant) -> f64 {
        let s = state(cc, A);
        s.w_cubic((now - s.epoch_start.unwrap()).as_secs_f64())
    }

    #[test]
    fn rfc6928_initial_window() {
        let mut cc = Cubic::new();
        cc.add_subflow(A, 1_000, Instant::ZERO);
        cc.add_subflow(B, 1_460, Instant::ZERO);
        assert_eq!((cc.cwnd(A), cc.cwnd(B)), (10_000, 14_600));
        assert_eq!(cc.ssthresh(A), u64::MAX);
        assert_eq!(cc.name(), "cubic");
        assert_eq!(cc.config(), CubicConfig::default());
    }

    #[test]
    fn rfc9438_s4_10_standard_slow_start_doubles_per_rtt() {
        let mut cc = cubic(plain());
        let mut now = Instant::ZERO;
        let mut seen = vec![cc.cwnd(A) / M];
        for _ in 0..5 {
            round(&mut cc, A, &mut now, RTT_100MS);
            seen.push(cc.cwnd(A) / M);
        }
        assert_eq!(seen, [10, 20, 40, 80, 160, 320]);
        assert_eq!(cc.cwnd(A), 320 * M);
        // RFC 3465 byte counting: a stretch ACK adds at most 2 segments.
        cc.on_ack(A, now, ack(5 * M, 320 * M, RTT_100MS));
        assert_eq!(cc.cwnd(A), 322 * M);
    }

    #[test]
    fn rfc9438_s4_6_multiplicative_decrease() {
        let (cc, _) = after_first_loss(plain(), 5, RTT_100MS);
        let s = state(&cc, A);
        // ssthresh = cwnd = 0.7 * flight_size; W_max = cwnd_prior = cwnd before.
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (224 * M, 224 * M));
        assert_eq!((s.w_max, s.cwnd_prior), (320_000.0, 320_000.0));

        // ssthresh follows flight_size, not cwnd; W_max is cwnd.
        let mut cc = cubic(plain());
        cc.on_congestion_event(A, Instant::ZERO, 4_000);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (2_800, 2_800));
        assert_eq!(state(&cc, A).w_max, 10_000.0);
        // Never below 2 segments.
        cc.on_congestion_event(A, Instant::ZERO, 1_000);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (2 * M, 2 * M));
    }

    #[test]
    fn rfc9438_s4_6_window_held_during_recovery() {
        let mut cc = cubic(plain());
        cc.on_congestion_event(A, Instant::ZERO, 10 * M);
        let mut in_recovery = ack(M, 10 * M, RTT_20MS);
        in_recovery.in_recovery = true;
        for i in 0..100 {
            cc.on_ack(A, Instant::from_millis(i), in_recovery);
        }
        assert_eq!(cc.cwnd(A), 7 * M);
        assert!(state(&cc, A).epoch_start.is_none());
    }

    #[test]
    fn rfc9438_s4_2_window_grows_cubically_toward_w_max() {
        // At 100 ms, with W_max = 320 segments, CUBIC is out of the Reno-friendly
        // region: cwnd follows W_cubic(t) = C (t - K)^3 + W_max, K = cbrt(0.3 * 320 / C).
        let (mut cc, mut now) = after_first_loss(plain(), 5, RTT_100MS);
        let mut previous = cc.cwnd(A);
        let mut increments = Vec::new();
        for _ in 0..60 {
            round(&mut cc, A, &mut now, RTT_100MS);
            let cwnd = cc.cwnd(A);
            // Within a fifth of a segment of the curve at every round.
            let curve = w_cubic_now(&cc, now);
            assert!(
                (cwnd as f64 - curve).abs() < 0.2 * M as f64,
                "{cwnd} vs {curve}"
            );
            increments.push(cwnd - previous);
            previous = cwnd;
        }
        let s = state(&cc, A);
        assert!((s.k - 240f64.cbrt()).abs() < 1e-9);
        assert!((s.k - 6.2145).abs() < 1e-4);
        // §4.4, concave: below W_max, each round adds less than the one before.
        assert!(increments.windows(2).all(|w| w[1] < w[0]), "{increments:?}");
        assert!(cc.cwnd(A) < 320 * M);
        // Pinned: cwnd after 1 s, 3 s and 6 s of congestion avoidance.
        let (mut cc, mut now) = after_first_loss(plain(), 5, RTT_100MS);
        let mut at = Vec::new();
        for r in 1..=60 {
            round(&mut cc, A, &mut now, RTT_100MS);
            if [10, 30, 60].contains(&r) {
                at.push(cc.cwnd(A) / M);
            }
        }
        assert_eq!(at, [263, 306, 319]);
    }

    #[test]
    fn rfc9438_s4_2_regains_w_max_about_k_seconds_after_loss() {
        let (mut cc, mut now) = after_first_loss(plain(), 5, RTT_100MS);
        let start = now;
        while cc.cwnd(A) < 320 * M {
            round(&mut cc, A, &mut now, RTT_100MS);
        }
        let k = state(&cc, A).k;
        let regained = (now - start).as_secs_f64();
        // The epoch starts at the first ACK of the first round, so cwnd reaches W_max
        // within a round or two of K.
        assert!(
            (regained - k).abs() <= 0.2,
            "regained at {regained} s, K = {k} s"
        );
        assert_eq!(now - start, Duration::from_millis(6_300));
    }

    #[test]
    fn rfc9438_s4_5_convex_growth_beyond_w_max() {
        let (mut cc, mut now) = after_first_loss(plain(), 5, RTT_100MS);
        let start = now;
        let mut previous = 0;
        let mut increments = Vec::new();
        for r in 1..=120 {
            round(&mut cc, A, &mut now, RTT_100MS);
            if r > 64 {
                increments.push(cc.cwnd(A) - previous);
            }
            previous = cc.cwnd(A);
        }
        // Beyond W_max the increments grow: the convex region probes for more.
        assert!(
            increments.windows(2).all(|w| w[1] >= w[0]),
            "{increments:?}"
        );
        // 12 s in, t - K = 5.79 s: W_max + 0.4 * 5.79^3 = 397.6 segments.
        assert_eq!(now - start, Duration::from_secs(12));
        let curve = w_cubic_now(&cc, now);
        assert!((cc.cwnd(A) as f64 - curve).abs() < 0.2 * M as f64);
        assert_eq!(cc.cwnd(A) / M, 397);
    }

    #[test]
    fn rfc9438_s4_3_reno_friendly_region_at_short_rtt() {
        // At 20 ms, W_max = 80 segments: K = cbrt(0.3 * 80 / 0.4) = 3.9 s, but Reno
        // would regain 24 segments in 24 / alpha_cubic = 45 RTTs = 0.9 s. CUBIC is in
        // the Reno-friendly region and follows W_est instead of the curve.
        let (mut cc, mut now) = after_first_loss(plain(), 3, RTT_20MS);
        assert_eq!(cc.cwnd(A), 56 * M);
        let start = now;
        for _ in 0..20 {
            round(&mut cc, A, &mut now, RTT_20MS);
            let s = state(&cc, A);
            assert!(w_cubic_now(&cc, now) < s.w_est);
            assert_eq!(s.cwnd, s.w_est);
        }
        // alpha_cubic = 0.9 / 1.7 = 0.529 segments per RTT: 56 + 20 * 0.529 = 66.6.
        assert!((ALPHA - 0.9 / 1.7).abs() < 1e-15);
        let cwnd = cc.cwnd(A) as f64 / M as f64;
        assert!((cwnd - (56.0 + 20.0 * ALPHA)).abs() < 0.2, "{cwnd}");
        assert_eq!(cc.cwnd(A) / M, 66);
        // W_max = cwnd_prior = 80 segments is regained after about 45 RTTs, long before K.
        while cc.cwnd(A) < 80 * M {
            round(&mut cc, A, &mut now, RTT_20MS);
        }
        let regained = now - start;
        assert_eq!(regained, Duration::from_millis(920));
        assert!(regained.as_secs_f64() < state(&cc, A).k / 4.0);
        // Once W_est >= cwnd_prior, alpha_cubic = 1: one segment per RTT, like Reno.
        let before = cc.cwnd(A);
        for _ in 0..10 {
            round(&mut cc, A, &mut now, RTT_20MS);
        }
        let grown = (cc.cwnd(A) - before) as f64 / M as f64;
        assert!((grown - 10.0).abs() < 0.2, "{grown}");
    }

    #[test]
    fn rfc9438_s4_7_fast_convergence() {
        for fast_convergence in [true, false] {
            let config = CubicConfig {
                fast_convergence,
                ..plain()
            };
            let (mut cc, mut now) = after_first_loss(config, 5, RTT_100MS);
            for _ in 0..20 {
                round(&mut cc, A, &mut now, RTT_100MS);
            }
            // A second loss before W_max = 320 segments was regained.
            let before = state(&cc, A).cwnd;
            let flight = cc.cwnd(A);
            assert_eq!(flight / M, 289);
            cc.on_congestion_event(A, now, flight);
            let s = state(&cc, A);
            let w_max = if fast_convergence {
                // W_max = cwnd * (1 + beta_cubic) / 2 = 0.85 * 289.99 segments.
                assert_eq!((s.w_max / M as f64) as u64, 246);
                before * 0.85
            } else {
                before
            };
            assert_eq!(s.w_max, w_max);
            assert_eq!(s.cwnd_prior, before);
            assert_eq!(
                (cc.cwnd(A), cc.ssthresh(A)),
                (flight * 7 / 10, flight * 7 / 10)
            );
            // The next epoch's K follows W_max: cbrt((W_max - cwnd_epoch) / C).
            now += RTT_100MS;
            cc.on_recovery_end(A, now);
            round(&mut cc, A, &mut now, RTT_100MS);
            let k = ((w_max - (flight * 7 / 10) as f64) / M as f64 / C).cbrt();
            assert_eq!(state(&cc, A).k, k);
            let expected_k = if fast_convergence { 4.773 } else { 6.014 };
            assert!((k - expected_k).abs() < 0.01, "K = {k}");
        }
        // A loss above the previous W_max is not slowed: W_max = cwnd.
        let (mut cc, mut now) = after_first_loss(plain(), 5, RTT_100MS);
        for _ in 0..70 {
            round(&mut cc, A, &mut now, RTT_100MS);
        }
        let before = state(&cc, A).cwnd;
        assert!(before > 320_000.0);
        cc.on_congestion_event(A, now, cc.cwnd(A));
        assert_eq!(state(&cc, A).w_max, before);
    }

    #[test]
    fn rfc9438_s4_8_timeout() {
        let mut cc = cubic(plain());
        let mut now = Instant::ZERO;
        for _ in 0..5 {
            round(&mut cc, A, &mut now, RTT_100MS);
        }
        cc.on_retransmission_timeout(A, now, 320 * M);
        // cwnd to one segment as Reno; ssthresh by beta_cubic.
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (M, 224 * M));
        // Later timeouts of the same segment keep ssthresh.
        cc.on_retransmission_timeout(A, now, M);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (M, 224 * M));
        // Slow start with L = 1 segment (RFC 3465 §2.3) up to ssthresh.
        cc.on_ack(A, now, ack(4 * M, M, RTT_100MS));
        assert_eq!(cc.cwnd(A), 2 * M);
        // ACKs of the recovery episode the timeout began drive slow start too.
        let mut in_recovery = ack(M, M, RTT_100MS);
        in_recovery.in_recovery = true;
        cc.on_ack(A, now, in_recovery);
        cc.on_ack(A, now, in_recovery);
        assert_eq!(cc.cwnd(A), 4 * M);
        cc.on_recovery_end(A, now);
        let mut seen = Vec::new();
        for _ in 0..7 {
            round(&mut cc, A, &mut now, RTT_100MS);
            seen.push(cc.cwnd(A) / M);
        }
        assert_eq!(seen, [8, 16, 32, 64, 128, 224, 224]);
        // The first congestion avoidance stage after it: K = 0, W_max = cwnd_epoch =
        // 224 segments, W_est from cwnd_epoch.
        let s = state(&cc, A);
        assert_eq!((s.k, s.w_max), (0.0, 224_000.0));
        // From cwnd_epoch the curve is convex and slow to start; the Reno-friendly
        // estimate leads (alpha_cubic while W_est < cwnd_prior = 320 segments).
        for _ in 0..10 {
            round(&mut cc, A, &mut now, RTT_100MS);
        }
        let s = state(&cc, A);
        assert_eq!(s.cwnd, s.w_est);
        // 224 + alpha_cubic per round: 229.3 segments after 10 rounds.
        assert_eq!(cc.cwnd(A) / M, 229);
    }

    #[test]
    fn rfc9438_s5_8_application_limited_time_is_not_in_t() {
        let (mut cc, mut now) = after_first_loss(plain(), 5, RTT_100MS);
        let (mut reference, mut reference_now) = after_first_loss(plain(), 5, RTT_100MS);
        for _ in 0..20 {
            round(&mut cc, A, &mut now, RTT_100MS);
            round(&mut reference, A, &mut reference_now, RTT_100MS);
        }
        let held = cc.cwnd(A);
        // Ten seconds of application-limited ACKs: no growth...
        for i in 0..100 {
            let mut limited = ack(10 * M, 10 * M, RTT_100MS);
            limited.app_limited = true;
            cc.on_ack(A, now + Duration::from_millis(100 * i), limited);
        }
        now += Duration::from_secs(10);
        assert_eq!(cc.cwnd(A), held);
        // ...and the curve resumes where it stopped, not 10 s further along it.
        for _ in 0..20 {
            round(&mut cc, A, &mut now, RTT_100MS);
            round(&mut reference, A, &mut reference_now, RTT_100MS);
        }
        let (cwnd, expected) = (cc.cwnd(A), reference.cwnd(A));
        assert!(cwnd.abs_diff(expected) < M / 100, "{cwnd} vs {expected}");
        // 40 rounds (4 s) of congestion avoidance: W_cubic(4 s) = 315.6 segments.
        assert_eq!(cwnd / M, 315);
    }

    /// HyStart++ alone, without Linux HyStart's ACK train.
    fn hystart_plus_plus_only() -> CubicConfig {
        CubicConfig {
            hystart_ack_train: false,
            ..CubicConfig::default()
        }
    }

    #[test]
    fn rfc9406_hystart_plus_plus_constant_rtt_is_standard_slow_start() {
        let mut cc = cubic(hystart_plus_plus_only());
        let mut now = Instant::ZERO;
        for _ in 0..6 {
            round(&mut cc, A, &mut now, RTT_20MS);
        }
        assert_eq!(cc.cwnd(A), 640 * M);
        let h = state(&cc, A).hystart.as_ref().unwrap();
        assert_eq!(h.css_baseline_min_rtt, None);
    }

    /// Slow start with HyStart++ at 20 ms for 4 rounds (10 -> 160 segments), then
    /// the queue builds: every later round's RTT is 30 ms.
    fn hystart_with_rtt_step(config: CubicConfig) -> (Cubic, Instant) {
        let mut cc = cubic(config);
        let mut now = Instant::ZERO;
        for _ in 0..4 {
            round(&mut cc, A, &mut now, RTT_20MS);
        }
        assert_eq!(cc.cwnd(A), 160 * M);
        (cc, now)
    }

    #[test]
    fn rfc9406_hystart_plus_plus_rtt_increase_ends_slow_start() {
        let rtt = Duration::from_millis(30);
        let (mut cc, mut now) = hystart_with_rtt_step(hystart_plus_plus_only());
        // 30 ms >= 20 ms + max(4 ms, min(20 ms / 8, 16 ms)): after N_RTT_SAMPLE = 8
        // ACKs of the round, CSS starts; the other 152 grow cwnd a quarter as fast.
        round(&mut cc, A, &mut now, rtt);
        assert_eq!(cc.cwnd(A), 168 * M + 152 * M / 4);
        let h = state(&cc, A).hystart.as_ref().unwrap();
        assert_eq!(h.css_baseline_min_rtt, Some(rtt));
        assert_eq!(cc.ssthresh(A), u64::MAX);
        // CSS: cwnd * 1.25 per round for the rounds that complete its CSS_ROUNDS.
        let mut seen = vec![cc.cwnd(A)];
        for _ in 0..4 {
            round(&mut cc, A, &mut now, rtt);
            seen.push(cc.cwnd(A));
        }
        assert_eq!(seen, [206_000, 257_500, 321_875, 402_343, 502_929]);
        // The first ACK of the fifth round after CSS began ends it: ssthresh = cwnd,
        // and RFC 9438 §4.10: cwnd_prior = cwnd, K = 0, W_max = cwnd_epoch.
        cc.on_ack(A, now, ack(M, cc.cwnd(A), rtt));
        let s = state(&cc, A);
        assert!(s.hystart.is_none());
        assert_eq!(cc.ssthresh(A), 502_929);
        assert_eq!(s.cwnd_prior, 502_929.0);
        assert_eq!((s.k, s.w_max, s.epoch_start), (0.0, 502_929.0, Some(now)));
        // Congestion avoidance from there, Reno-friendly at first (W_est leads).
        round(&mut cc, A, &mut now, rtt);
        assert!(cc.cwnd(A) > 502_929 && cc.cwnd(A) < 502_929 + 2 * M);
    }

    /// `acks` one-segment ACKs `spacing` apart from `now`, each with sample `rtt`:
    /// a round whose segments cross a bottleneck back to back.
    fn ack_train(cc: &mut Cubic, now: &mut Instant, acks: u64, spacing: Duration, rtt: Duration) {
        for _ in 0..acks {
            *now += spacing;
            cc.on_ack(A, *now, ack(M, cc.cwnd(A), rtt));
        }
    }

    /// Four rounds of slow start at 20 ms (10 -> 160 segments) whose ACKs come back
    /// 100 us apart: trains of at most 8 ms, shorter than half the RTT.
    fn slow_start_in_short_trains(config: CubicConfig) -> (Cubic, Instant) {
        let mut cc = cubic(config);
        let mut now = Instant::ZERO;
        for _ in 0..4 {
            let start = now;
            let window = cc.cwnd(A) / M;
            ack_train(
                &mut cc,
                &mut now,
                window,
                Duration::from_micros(100),
                RTT_20MS,
            );
            now = start + RTT_20MS;
        }
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (160 * M, u64::MAX));
        (cc, now)
    }

    #[test]
    fn linux_hystart_ack_train_longer_than_half_the_min_rtt_ends_slow_start() {
        // Plain TCP's threshold, Linux's: 160 segments at 120 us each take 19.2 ms to
        // cross the bottleneck, more than half the 20 ms minimum RTT. The RTT samples
        // do not grow (the queue drained between bursts), so only the train can
        // tell. The round's first ACK starts it; the ACK 10.08 ms later (the 85th,
        // cwnd 160 + 84 segments) ends it.
        let (mut cc, mut now) = slow_start_in_short_trains(CubicConfig::default());
        ack_train(&mut cc, &mut now, 160, Duration::from_micros(120), RTT_20MS);
        let s = state(&cc, A);
        assert!(s.hystart.is_none());
        assert_eq!(cc.ssthresh(A), 244 * M);
        assert_eq!(s.cwnd_prior, 244_000.0);
        // The same train under MPTCP's threshold, the whole minimum RTT: no signal.
        let (mut cc, mut now) = slow_start_in_short_trains(CubicConfig::mptcp());
        ack_train(&mut cc, &mut now, 160, Duration::from_micros(120), RTT_20MS);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (320 * M, u64::MAX));
        // A train within half the minimum RTT is no signal for plain TCP either.
        let (mut cc, mut now) = slow_start_in_short_trains(CubicConfig::default());
        ack_train(&mut cc, &mut now, 160, Duration::from_micros(60), RTT_20MS);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (320 * M, u64::MAX));
    }

    #[test]
    fn mptcp_ack_train_longer_than_the_min_rtt_ends_slow_start() {
        let (mut cc, mut now) = hystart_with_rtt_step(CubicConfig::mptcp());
        // 160 segments at 150 us each take 24 ms to cross the bottleneck, longer than
        // the 20 ms minimum RTT. The round's first ACK starts the train; the ACK
        // 20.15 ms later (the 135th, cwnd 160 + 134 segments) ends it.
        ack_train(&mut cc, &mut now, 160, Duration::from_micros(150), RTT_20MS);
        let s = state(&cc, A);
        assert!(s.hystart.is_none());
        assert_eq!(cc.ssthresh(A), 294 * M);
        assert_eq!(s.cwnd_prior, 294_000.0);
        // Congestion avoidance from 294 segments: the other 25 ACKs add < 1 segment.
        assert!(
            cc.cwnd(A) >= 294 * M && cc.cwnd(A) < 295 * M,
            "{}",
            cc.cwnd(A)
        );
    }

    #[test]
    fn linux_hystart_ack_train_broken_by_a_gap_or_too_short_is_no_signal() {
        // ACKs 2.5 ms apart are no train: slow start goes on.
        for config in [CubicConfig::default(), CubicConfig::mptcp()] {
            let (mut cc, mut now) = slow_start_in_short_trains(config);
            ack_train(
                &mut cc,
                &mut now,
                160,
                Duration::from_micros(2_500),
                RTT_20MS,
            );
            assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (320 * M, u64::MAX));
        }
        // Evenly spaced ACKs over 20 ms rounds are trains just short of the RTT: no
        // signal under MPTCP's threshold.
        let (mut cc, mut now) = hystart_with_rtt_step(CubicConfig::mptcp());
        ack_train(&mut cc, &mut now, 160, Duration::from_micros(120), RTT_20MS);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (320 * M, u64::MAX));
        // Below 16 segments the train is not looked at: 10 ACKs 1.5 ms apart on a
        // 10 ms path outlast the RTT.
        for config in [CubicConfig::default(), CubicConfig::mptcp()] {
            let mut cc = cubic(config);
            let mut now = Instant::ZERO;
            ack_train(
                &mut cc,
                &mut now,
                10,
                Duration::from_micros(1_500),
                Duration::from_millis(10),
            );
            assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (20 * M, u64::MAX));
        }
        // Switched off, the long train of the first test is no signal either.
        let (mut cc, mut now) = slow_start_in_short_trains(hystart_plus_plus_only());
        ack_train(&mut cc, &mut now, 160, Duration::from_micros(150), RTT_20MS);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (320 * M, u64::MAX));
    }

    #[test]
    fn rfc9406_hystart_plus_plus_spurious_exit_resumes_slow_start() {
        let (mut cc, mut now) = hystart_with_rtt_step(hystart_plus_plus_only());
        round(&mut cc, A, &mut now, Duration::from_millis(30));
        assert_eq!(cc.cwnd(A), 206 * M);
        // The RTT falls back below the CSS baseline: back to slow start.
        round(&mut cc, A, &mut now, RTT_20MS);
        let h = state(&cc, A).hystart.as_ref().unwrap();
        assert_eq!(h.css_baseline_min_rtt, None);
        // 8 ACKs at a quarter (2 segments), then 198 at full rate.
        assert_eq!(cc.cwnd(A), 206 * M + 2 * M + 198 * M);
        round(&mut cc, A, &mut now, RTT_20MS);
        assert_eq!(cc.cwnd(A), 2 * 406 * M);
    }

    #[test]
    fn rfc9406_hystart_plus_plus_switched_off() {
        let mut cc = cubic(plain());
        let mut now = Instant::ZERO;
        for _ in 0..4 {
            round(&mut cc, A, &mut now, RTT_20MS);
        }
        for _ in 0..2 {
            round(&mut cc, A, &mut now, Duration::from_millis(30));
        }
        assert_eq!(cc.cwnd(A), 640 * M);
        assert!(state(&cc, A).hystart.is_none());
    }

    #[test]
    fn rfc9406_loss_ends_hystart_plus_plus() {
        let (mut cc, now) = hystart_with_rtt_step(hystart_plus_plus_only());
        cc.on_congestion_event(A, now, 160 * M);
        let s = state(&cc, A);
        assert!(s.hystart.is_none());
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (112 * M, 112 * M));
        assert_eq!(s.w_max, 160_000.0);
    }

    #[test]
    fn subflows_are_independent() {
        let mut cc = Cubic::with_config(plain());
        let mut now_a = Instant::ZERO;
        let mut now_b = Instant::ZERO;
        cc.add_subflow(A, MSS, now_a);
        cc.add_subflow(B, 1_460, now_b);
        for _ in 0..5 {
            round(&mut cc, A, &mut now_a, RTT_100MS);
        }
        round(&mut cc, B, &mut now_b, RTT_20MS);
        assert_eq!((cc.cwnd(A), cc.cwnd(B)), (320 * M, 29_200));
        cc.on_congestion_event(A, now_a, 320 * M);
        assert_eq!((cc.cwnd(B), cc.ssthresh(B)), (29_200, u64::MAX));
        assert_eq!(state(&cc, B).w_max, 0.0);
        cc.on_retransmission_timeout(B, now_b, 29_200);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (224 * M, 224 * M));
        assert_eq!((cc.cwnd(B), cc.ssthresh(B)), (1_460, 20_440));
        // Each on its own clock and RTT.
        for _ in 0..10 {
            round(&mut cc, A, &mut now_a, RTT_100MS);
            round(&mut cc, B, &mut now_b, RTT_20MS);
        }
        let (mut alone, mut now) = after_first_loss(plain(), 5, RTT_100MS);
        for _ in 0..10 {
            round(&mut alone, A, &mut now, RTT_100MS);
        }
        assert_eq!(cc.cwnd(A), alone.cwnd(A));
        assert_eq!(cc.cwnd(A) / M, 263);
        // Removed or unknown: no window, events ignored.
        cc.remove_subflow(B);
        assert_eq!((cc.cwnd(B), cc.ssthresh(B)), (0, u64::MAX));
        cc.on_ack(B, now_b, ack(M, M, RTT_20MS));
        cc.on_congestion_event(B, now_b, M);
        cc.on_retransmission_timeout(B, now_b, M);
        cc.on_recovery_end(B, now_b);
        assert_eq!(cc.cwnd(B), 0);
        assert_eq!(cc.cwnd(A), alone.cwnd(A));
    }

    #[test]
    fn usable_as_a_trait_object() {
        let mut cc: Box<dyn CongestionControl> = Box::new(Cubic::new());
        cc.add_subflow(A, MSS, Instant::ZERO);
        cc.on_ack(A, Instant::ZERO, ack(M, M, RTT_20MS));
        assert_eq!(cc.cwnd(A), 11 * M);
    }
}
