//! BALIA, the "Balanced Linked Adaptation" algorithm of Peng, Walid, Hwang and Low
//! ("Multipath TCP: Analysis, Design, and Implementation", IEEE/ACM Transactions on
//! Networking 24(1), 2016; draft-walid-mptcp-congestion-control).
//!
//! With x_r = w_r / rtt_r the rate of path r and alpha_r = max_k x_k / x_r (at least
//! 1; larger on slower paths), for each ACK on path r in congestion avoidance w_r (in
//! packets) grows by
//!
//! ```text
//! x_r / (rtt_r * (sum_k x_k)^2) * (1 + alpha_r) / 2 * (4 + alpha_r) / 5
//! ```
//!
//! and on each loss it shrinks by
//!
//! ```text
//! w_r / 2 * min(alpha_r, 1.5)
//! ```
//!
//! BALIA sits between LIA (friendly to single-path TCP but not responsive) and OLIA:
//! slow paths grow a little faster than LIA's equilibrium and give more back on loss.
//! Slow start and timeouts are Reno's (see [`super::coupled`]). With one path, alpha
//! is 1: Reno's `1 / w` and `w / 2`.
//!
//! braid keeps windows in bytes: per byte acknowledged the window grows by `MSS_r`
//! times the expression above evaluated on windows in bytes, the same increase in
//! segments. The decrease is applied to the flight size, as RFC 5681 §3.2 (eq. 4)
//! does for Reno, and never below two segments: ssthresh = max(FlightSize -
//! FlightSize / 2 * min(alpha_r, 1.5), 2*SMSS).

use super::coupled::{coupled_controller, max_rate, total_rate, Path, Rule};

/// BALIA's formulas.
#[derive(Debug, Default)]
pub(super) struct BaliaRule;

/// alpha_r of `paths[me]`: `max_k x_k / x_r`.
pub(super) fn alpha(paths: &[Path], me: usize) -> f64 {
    let p = &paths[me];
    max_rate(paths) / (p.cwnd / p.rtt)
}

impl Rule for BaliaRule {
    const NAME: &'static str = "balia";

    fn increase(paths: &[Path], me: usize, mss: f64) -> f64 {
        let p = &paths[me];
        let x = p.cwnd / p.rtt;
        let sum = total_rate(paths);
        let a = alpha(paths, me);
        mss * x / (p.rtt * sum * sum) * (1.0 + a) / 2.0 * (4.0 + a) / 5.0
    }

    fn reduced(paths: &[Path], me: usize, in_flight: u64, mss: u64) -> u64 {
        let flight = in_flight as f64;
        let cut = flight / 2.0 * alpha(paths, me).min(1.5);
        // Whole bytes, rounded down as Reno's FlightSize / 2 is, but a rounding error
        // short of a whole byte counts as that byte. `as` saturates.
        ((flight - cut + 1e-6).max(0.0) as u64).max(2 * mss)
    }
}

coupled_controller!(
    /// BALIA (Peng, Walid, Hwang, Low, 2016): coupled increase and decrease that
    /// balance friendliness to single-path TCP against responsiveness.
    Balia,
    BaliaRule
);

#[cfg(test)]
mod tests {
    use super::super::coupled::testing::*;
    use super::*;
    use crate::cc::CongestionControl;
    use crate::time::Instant;

    #[test]
    fn balia_alpha_and_increase_per_ack_on_two_subflows() {
        // A: 10 MSS at 10 ms (x = 1 MSS/ms), B: 20 MSS at 40 ms (x = 0.5): sum 1.5,
        // alpha_A = 1, alpha_B = 2.
        let mut cc = state::<BaliaRule>(&[(A, 10, MS10), (B, 20, MS40)]);
        let (paths, me) = cc.view(A, Instant::ZERO).unwrap();
        assert_eq!(alpha(&paths, me), 1.0);
        let (paths, me) = cc.view(B, Instant::ZERO).unwrap();
        assert_eq!(alpha(&paths, me), 2.0);
        // Per MSS acknowledged, in segments and milliseconds:
        // A: 1 / (10 * 2.25) * (2/2) * (5/5); B: 0.5 / (40 * 2.25) * (3/2) * (6/5).
        let m = M as f64;
        let on_a = one_ack_credit(&mut cc, A);
        assert!(close(on_a, m / 22.5), "{on_a}");
        let on_b = one_ack_credit(&mut cc, B);
        assert!(close(on_b, m * 0.5 / 90.0 * 1.5 * 1.2), "{on_b}");
    }

    #[test]
    fn balia_decrease_on_loss() {
        // A (alpha 1): FlightSize / 2. B (alpha 2, capped at 1.5): FlightSize / 4.
        let mut cc = state::<BaliaRule>(&[(A, 10, MS10), (B, 20, MS40)]);
        cc.on_congestion_event(B, Instant::ZERO, 20 * M);
        assert_eq!((cc.cwnd(B), cc.ssthresh(B)), (5 * M, 5 * M));
        let mut cc = state::<BaliaRule>(&[(A, 10, MS10), (B, 20, MS40)]);
        cc.on_congestion_event(A, Instant::ZERO, 10 * M);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (5 * M, 5 * M));
        // alpha between 1 and 1.5: B at 30 MSS / 40 ms has x = 0.75, alpha 4/3:
        // 24 MSS * (1 - 2/3) = 8 MSS.
        let mut cc = state::<BaliaRule>(&[(A, 10, MS10), (B, 30, MS40)]);
        cc.on_congestion_event(B, Instant::ZERO, 24 * M);
        assert_eq!(cc.cwnd(B), 8 * M);
        // Never below two segments; a timeout is the loss window.
        cc.on_congestion_event(B, Instant::ZERO, 3 * M);
        assert_eq!(cc.cwnd(B), 2 * M);
        cc.on_retransmission_timeout(A, Instant::ZERO, 10 * M);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (M, 5 * M));
    }
}
