//! OLIA, the "Opportunistic Linked Increases Algorithm" of Khalili, Gast, Popovic and
//! Le Boudec ("MPTCP is not Pareto-optimal: performance issues and a possible
//! solution", IEEE/ACM Transactions on Networking 21(5), 2013;
//! draft-khalili-mptcp-congestion-control).
//!
//! For each ACK on path r, in congestion avoidance, w_r (in packets) grows by
//!
//! ```text
//! (w_r / rtt_r^2) / (sum_p w_p / rtt_p)^2  +  alpha_r / w_r
//! ```
//!
//! where, with l_r the bytes acknowledged on r between its last two losses or since
//! its last loss (whichever is larger), R the connection's paths, B the presumed best
//! paths (largest `l_r / rtt_r^2`) and M the paths with the largest window:
//!
//! ```text
//! alpha_r = 1 / (|R| * |B \ M|)   if r is in B \ M
//!         = -1 / (|R| * |M|)      if r is in M and B \ M is not empty
//!         = 0                     otherwise
//! ```
//!
//! The first term is LIA's equilibrium without its min(); the second moves window
//! from the largest paths to the best ones when they differ, which makes OLIA Pareto
//! optimal where LIA is not. Slow start and the halving on loss are Reno's (see
//! [`super::coupled`]). With one path, B = M and alpha is 0: Reno's `1 / w`.
//!
//! braid keeps windows in bytes: per byte acknowledged the window grows by
//! `MSS_r * [(W_r / rtt_r^2) / (sum_p W_p / rtt_p)^2 + alpha_r / W_r]`, the same
//! increase in segments (exact when the paths share one MSS). A negative increase
//! lowers the window by whole segments, never below two.

use super::coupled::{coupled_controller, total_rate, Path, Rule};

/// OLIA's formulas.
#[derive(Debug, Default)]
pub(super) struct OliaRule;

/// alpha_r of `paths[me]` (see the module documentation).
pub(super) fn alpha(paths: &[Path], me: usize) -> f64 {
    let quality = |p: &Path| p.delivered / (p.rtt * p.rtt);
    let best = paths.iter().map(quality).fold(0.0, f64::max);
    let max_cwnd = paths.iter().map(|p| p.cwnd).fold(0.0, f64::max);
    let in_b = |p: &Path| quality(p) >= best;
    let in_m = |p: &Path| p.cwnd >= max_cwnd;
    let b_not_m = paths.iter().filter(|p| in_b(p) && !in_m(p)).count();
    let m = paths.iter().filter(|p| in_m(p)).count();
    let n = paths.len() as f64;
    let p = &paths[me];
    if b_not_m == 0 {
        0.0
    } else if in_b(p) && !in_m(p) {
        1.0 / (n * b_not_m as f64)
    } else if in_m(p) {
        -1.0 / (n * m as f64)
    } else {
        0.0
    }
}

impl Rule for OliaRule {
    const NAME: &'static str = "olia";

    fn increase(paths: &[Path], me: usize, mss: f64) -> f64 {
        let p = &paths[me];
        let sum = total_rate(paths);
        mss * ((p.cwnd / (p.rtt * p.rtt)) / (sum * sum) + alpha(paths, me) / p.cwnd)
    }
}

coupled_controller!(
    /// OLIA (Khalili et al., 2013): LIA's coupled increase without its min(), plus
    /// a term that shifts window from the largest subflows to the best ones.
    Olia,
    OliaRule
);

#[cfg(test)]
mod tests {
    use super::super::coupled::testing::*;
    use super::*;
    use crate::cc::CongestionControl;
    use crate::time::Instant;

    /// A: 10 MSS at 10 ms, B: 20 MSS at 40 ms, with these inter-loss byte counts.
    fn two_paths(l_a: u64, l_b: u64) -> super::super::coupled::Coupled<OliaRule> {
        let mut cc = state::<OliaRule>(&[(A, 10, MS10), (B, 20, MS40)]);
        cc.subflows.get_mut(&A).unwrap().between_losses = l_a;
        cc.subflows.get_mut(&B).unwrap().between_losses = l_b;
        cc
    }

    #[test]
    fn olia_alpha_best_path_without_the_largest_window() {
        // Equal l: A is best (l / 10^2 > l / 40^2); B has the largest window. B \ M =
        // {A}: alpha_A = 1 / (2 * 1), alpha_B = -1 / (2 * 1).
        let cc = two_paths(100_000, 100_000);
        let (paths, me) = cc.view(A, Instant::ZERO).unwrap();
        assert_eq!(alpha(&paths, me), 0.5);
        let (paths, me) = cc.view(B, Instant::ZERO).unwrap();
        assert_eq!(alpha(&paths, me), -0.5);
        // B best as well as largest: B \ M is empty, alpha is 0 for both.
        let cc = two_paths(100_000, 2_000_000);
        for id in [A, B] {
            let (paths, me) = cc.view(id, Instant::ZERO).unwrap();
            assert_eq!(alpha(&paths, me), 0.0);
        }
        // l is the larger of "since the last loss" and "between the last two".
        let mut cc = two_paths(100_000, 100_000);
        cc.subflows.get_mut(&B).unwrap().since_loss = 2_000_000;
        let (paths, me) = cc.view(A, Instant::ZERO).unwrap();
        assert_eq!(alpha(&paths, me), 0.0);
    }

    #[test]
    fn olia_increase_per_ack_on_two_subflows() {
        // In segments and milliseconds (the formula is free of both units):
        // sum w/rtt = 10/10 + 20/40 = 1.5.
        // A: (10 / 100) / 2.25 + 0.5 / 10 per MSS acknowledged.
        // B: (20 / 1600) / 2.25 - 0.5 / 20: negative, B gives window up.
        let m = M as f64;
        let mut cc = two_paths(100_000, 100_000);
        let on_a = one_ack_credit(&mut cc, A);
        assert!(close(on_a, m * (0.1 / 2.25 + 0.05)), "{on_a}");
        let on_b = one_ack_credit(&mut cc, B);
        assert!(close(on_b, m * (0.0125 / 2.25 - 0.025)), "{on_b}");
        assert!(on_b < 0.0);
        // With alpha 0 only the first term is left.
        let mut cc = two_paths(100_000, 2_000_000);
        let on_a = one_ack_credit(&mut cc, A);
        assert!(close(on_a, m * 0.1 / 2.25), "{on_a}");
    }

    #[test]
    fn olia_moves_window_to_the_best_path_and_never_below_two_segments() {
        let mut cc = two_paths(100_000, 100_000);
        cc.subflows.get_mut(&B).unwrap().cwnd = 3 * M;
        cc.subflows.get_mut(&B).unwrap().ssthresh = 3 * M;
        cc.subflows.get_mut(&A).unwrap().cwnd = 2 * M;
        cc.subflows.get_mut(&A).unwrap().ssthresh = 2 * M;
        // B (largest window, worse path) loses window as it is acknowledged ...
        let mut acks = 0;
        while cc.cwnd(B) == 3 * M {
            cc.on_ack(B, Instant::ZERO, ack(M, MS40));
            acks += 1;
        }
        assert_eq!((cc.cwnd(B), acks), (2 * M, 8));
        // ... and at two segments (now the windows are equal, alpha is 0, it grows
        // again, then shrinks again) it never goes lower.
        for _ in 0..500 {
            cc.on_ack(B, Instant::ZERO, ack(M, MS40));
            assert!(cc.cwnd(B) >= 2 * M);
        }
    }

    #[test]
    fn olia_loss_intervals() {
        let mut cc = Olia::new();
        cc.add_subflow(A, MSS, Instant::ZERO);
        for _ in 0..30 {
            cc.on_ack(A, Instant::ZERO, ack(M, MS10));
        }
        let s = &cc.0.subflows[&A];
        assert_eq!((s.since_loss, s.between_losses), (30 * M, 0));
        cc.on_congestion_event(A, Instant::ZERO, 40 * M);
        let s = &cc.0.subflows[&A];
        assert_eq!((s.since_loss, s.between_losses), (0, 30 * M));
        // A loss right after a loss (no progress) keeps the last interval; so does a
        // timeout backing off.
        cc.on_congestion_event(A, Instant::ZERO, 40 * M);
        cc.on_ack(A, Instant::ZERO, ack(5 * M, MS10));
        cc.on_retransmission_timeout(A, Instant::ZERO, 20 * M);
        cc.on_retransmission_timeout(A, Instant::ZERO, M);
        let s = &cc.0.subflows[&A];
        assert_eq!((s.since_loss, s.between_losses), (0, 5 * M));
    }

    #[test]
    fn loss_response_is_reno() {
        let mut cc = two_paths(100_000, 100_000);
        cc.on_congestion_event(B, Instant::ZERO, 20 * M);
        assert_eq!((cc.cwnd(B), cc.ssthresh(B)), (10 * M, 10 * M));
        cc.on_congestion_event(A, Instant::ZERO, 3 * M);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (2 * M, 2 * M));
        cc.on_retransmission_timeout(A, Instant::ZERO, 10 * M);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (M, 5 * M));
    }
}
