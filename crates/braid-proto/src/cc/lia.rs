//! LIA, the "Linked Increases" algorithm of RFC 6356: MPTCP's coupled congestion
//! control, as Linux's out-of-tree MPTCP ("coupled") implemented it.
//!
//! RFC 6356 §3 couples only the increase of congestion avoidance. For each ACK on
//! subflow i, cwnd_i grows by (eq. 1)
//!
//! ```text
//! min(alpha * bytes_acked * MSS_i / cwnd_total, bytes_acked * MSS_i / cwnd_i)
//! ```
//!
//! with (eq. 2)
//!
//! ```text
//! alpha = cwnd_total * max_i(cwnd_i / rtt_i^2) / (sum_i(cwnd_i / rtt_i))^2
//! ```
//!
//! The first term gives the connection as a whole the throughput one TCP would get on
//! its best path; the second keeps every subflow from being more aggressive than a TCP
//! on its own path. Slow start, fast retransmit and recovery and the halving on loss
//! are standard TCP's (see [`super::coupled`]). With one subflow alpha is 1 and both
//! terms are Reno's `bytes_acked * MSS / cwnd`.
//!
//! alpha is computed on every ACK from the current windows and smoothed RTTs of the
//! coupled subflows (RFC 6356 §4 lets an implementation compute it less often, to
//! save work; with a handful of subflows there is none worth saving).

use super::coupled::{coupled_controller, max_rate, total_rate, Path, Rule};

/// RFC 6356's formulas.
#[derive(Debug, Default)]
pub(super) struct LiaRule;

/// RFC 6356 §3 eq. 2: `cwnd_total * max_i(cwnd_i / rtt_i^2) / (sum_i cwnd_i / rtt_i)^2`.
pub(super) fn alpha(paths: &[Path]) -> f64 {
    let cwnd_total: f64 = paths.iter().map(|p| p.cwnd).sum();
    let best = paths
        .iter()
        .map(|p| p.cwnd / (p.rtt * p.rtt))
        .fold(0.0, f64::max);
    let sum = total_rate(paths);
    cwnd_total * best / (sum * sum)
}

impl Rule for LiaRule {
    const NAME: &'static str = "lia";

    fn increase(paths: &[Path], me: usize, mss: f64) -> f64 {
        // RFC 6356 §3 eq. 1 per byte acknowledged: min(alpha * MSS_i / cwnd_total,
        // MSS_i / cwnd_i). "In this way, we ensure that any multipath subflow cannot
        // be more aggressive than a TCP flow in the same circumstances" (§3).
        let cwnd_total: f64 = paths.iter().map(|p| p.cwnd).sum();
        let coupled = alpha(paths) * mss / cwnd_total;
        let uncoupled = mss / paths[me].cwnd;
        debug_assert!(max_rate(paths) > 0.0);
        coupled.min(uncoupled)
    }
}

coupled_controller!(
    /// LIA (RFC 6356): Reno subflows whose congestion-avoidance increases are linked
    /// so that an MPTCP connection takes no more than one TCP would at a shared
    /// bottleneck.
    Lia,
    LiaRule
);

#[cfg(test)]
mod tests {
    use super::super::coupled::testing::*;
    use super::super::coupled::Coupled;
    use super::*;
    use crate::cc::CongestionControl;
    use crate::tcp::SubflowId;
    use crate::time::{Duration, Instant};

    const MS100: Duration = Duration::from_millis(100);

    #[test]
    fn rfc6356_s3_eq2_alpha_on_hand_made_states() {
        let p = |cwnd: f64, rtt: f64| Path {
            cwnd,
            rtt,
            delivered: 0.0,
        };
        // Equal RTTs: alpha = cwnd_total * max cwnd / (sum cwnd)^2 = max cwnd / total.
        let equal = [p(10.0, 1.0), p(30.0, 1.0)];
        assert!(close(alpha(&equal), 30.0 / 40.0));
        // cwnd 10 MSS at 10 ms, 20 MSS at 40 ms (in any unit: alpha has none):
        // max(10/100, 20/1600) = 0.1; sum = 1 + 0.5 = 1.5; alpha = 30 * 0.1 / 2.25.
        let mixed = [p(10.0, 10.0), p(20.0, 40.0)];
        assert!(close(alpha(&mixed), 30.0 * 0.1 / 2.25));
        // Scale-free in the RTT unit and in the window unit.
        let scaled = [p(14_600.0, 10_000.0), p(29_200.0, 40_000.0)];
        assert!(close(alpha(&scaled), alpha(&mixed)));
        // One path: 1.
        assert!(close(alpha(&[p(7.0, 3.0)]), 1.0));
    }

    #[test]
    fn rfc6356_s3_eq1_increase_per_ack_on_two_subflows() {
        let m = M as f64;
        // A: 10 MSS at 10 ms, B: 20 MSS at 40 ms: alpha = 4/3 (above), cwnd_total =
        // 30 MSS. Per MSS acknowledged, min(alpha / 30, 1 / cwnd_i) MSS: the coupled
        // term on both (4/90 < 1/20 < 1/10).
        let mut cc = state::<LiaRule>(&[(A, 10, MS10), (B, 20, MS40)]);
        let alpha: f64 = 30.0 * 0.1 / 2.25;
        let on_a = one_ack_credit(&mut cc, A);
        assert!(close(on_a, m * alpha / 30.0), "{on_a}");
        let on_b = one_ack_credit(&mut cc, B);
        assert!(close(on_b, m * alpha / 30.0), "{on_b}");
        // A: 2 MSS at 1 ms, B: 100 MSS at 100 ms. max(2/1, 100/10^4) = 2, sum = 3:
        // alpha = 102 * 2 / 9, alpha / cwnd_total = 2/9. A gets 2/9 MSS per MSS
        // acknowledged (under its own 1/2); on B the second term binds: a subflow is
        // never more aggressive than a TCP on its path, 1/100.
        let mut cc = state::<LiaRule>(&[(A, 2, Duration::from_millis(1)), (B, 100, MS100)]);
        let on_a = one_ack_credit(&mut cc, A);
        assert!(close(on_a, m * 2.0 / 9.0), "{on_a}");
        let on_b = one_ack_credit(&mut cc, B);
        assert!(close(on_b, m / 100.0), "{on_b}");
        // Equal RTTs and windows w: alpha = 1/2, each subflow gets 1/(4w) per MSS.
        let mut cc = state::<LiaRule>(&[(A, 10, MS10), (B, 10, MS10)]);
        let on_a = one_ack_credit(&mut cc, A);
        assert!(close(on_a, m / 40.0), "{on_a}");
    }

    #[test]
    fn rfc6356_s3_coupled_pair_takes_one_tcp_share() {
        // Two subflows of 20 MSS on equal RTTs, each acknowledging its window every
        // RTT: together they grow by half an MSS per RTT (uncoupled Reno: 2), and a
        // loss on one halves only that one, a quarter of the pair. AIMD(1/2, 1/4) has
        // the throughput of one TCP's AIMD(1, 1/2) at the same loss rate.
        let mut cc = state::<LiaRule>(&[(A, 20, MS10), (B, 20, MS10)]);
        let mut now = Instant::ZERO;
        for _ in 0..40 {
            now += MS10;
            for id in [A, B] {
                for _ in 0..cc.cwnd(id) / M {
                    cc.on_ack(id, now, ack(M, MS10));
                }
            }
        }
        let total = (cc.cwnd(A) + cc.cwnd(B)) / M;
        assert!((58..=60).contains(&total), "{total} MSS after 40 RTTs");
    }

    #[test]
    fn rfc6356_s3_loss_response_is_standard_tcp() {
        // RFC 5681 §3.2: ssthresh = max(FlightSize / 2, 2*SMSS), per subflow.
        let mut cc = state::<LiaRule>(&[(A, 40, MS10), (B, 20, MS40)]);
        cc.on_congestion_event(A, Instant::ZERO, 40 * M);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (20 * M, 20 * M));
        assert_eq!(cc.cwnd(B), 20 * M);
        cc.on_congestion_event(A, Instant::ZERO, M);
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (2 * M, 2 * M));
        // A timeout: the loss window, one segment; slow start from there.
        cc.on_retransmission_timeout(B, Instant::ZERO, 20 * M);
        assert_eq!((cc.cwnd(B), cc.ssthresh(B)), (M, 10 * M));
        cc.on_ack(B, Instant::ZERO, ack(M, MS40));
        assert_eq!(cc.cwnd(B), 2 * M);
        // Held during fast recovery.
        cc.on_congestion_event(A, Instant::ZERO, 10 * M);
        let mut held = ack(M, MS10);
        held.in_recovery = true;
        for _ in 0..50 {
            cc.on_ack(A, Instant::ZERO, held);
        }
        assert_eq!(cc.cwnd(A), 5 * M);
    }

    #[test]
    fn unknown_rtts_never_divide_by_zero() {
        let mut cc = Lia::new();
        cc.add_subflow(A, MSS, Instant::ZERO);
        cc.add_subflow(B, MSS, Instant::ZERO);
        // No RTT anywhere: a zero srtt, and B never acknowledged anything.
        cc.on_congestion_event(A, Instant::ZERO, 20 * M);
        for _ in 0..100 {
            cc.on_ack(A, Instant::ZERO, ack(M, Duration::ZERO));
        }
        // Alone in the coupling (B has no RTT): Reno, 10 + 11 + ... + 16 = 91 MSS
        // acknowledged for seven segments more, and 9 toward the eighth.
        assert_eq!(cc.cwnd(A), 17 * M);
        // B's first ACK, RTT still unknown, while A is coupled with a zero RTT too.
        cc.on_congestion_event(B, Instant::ZERO, 20 * M);
        for _ in 0..100 {
            cc.on_ack(B, Instant::ZERO, ack(M, Duration::ZERO));
            cc.on_ack(A, Instant::ZERO, ack(M, Duration::from_micros(1)));
        }
        assert!(cc.cwnd(B) >= 2 * M && cc.cwnd(A) >= 2 * M);
        // Events for unknown subflows are ignored.
        cc.on_ack(SubflowId(7), Instant::ZERO, ack(M, MS10));
        cc.on_congestion_event(SubflowId(7), Instant::ZERO, M);
        cc.on_retransmission_timeout(SubflowId(7), Instant::ZERO, M);
        assert_eq!(cc.cwnd(SubflowId(7)), 0);
    }

    #[test]
    fn extreme_windows_and_rtts_stay_bounded() {
        let mut cc = state::<LiaRule>(&[(A, 2, Duration::from_micros(1)), (B, 2, Duration::MAX)]);
        let s = cc.subflows.get_mut(&B).unwrap();
        s.cwnd = u64::MAX / 2;
        s.ssthresh = u64::MAX / 2;
        for _ in 0..1_000 {
            cc.on_ack(
                A,
                Instant::ZERO,
                ack(u64::MAX / 4, Duration::from_micros(1)),
            );
            cc.on_ack(B, Instant::ZERO, ack(u64::MAX / 4, Duration::MAX));
        }
        assert!(cc.cwnd(A) >= 2 * M && cc.cwnd(B) >= u64::MAX / 2);
        cc.on_congestion_event(B, Instant::ZERO, u64::MAX);
        assert_eq!(cc.cwnd(B), u64::MAX / 2);
        assert_eq!(Coupled::<LiaRule>::default().cwnd(A), 0);
    }

    #[test]
    fn named_and_usable_as_a_trait_object() {
        let mut cc: Box<dyn CongestionControl> = Box::new(Lia::new());
        cc.add_subflow(A, MSS, Instant::ZERO);
        cc.on_ack(A, Instant::ZERO, ack(M, MS10));
        assert_eq!(cc.cwnd(A), 11 * M);
        assert_eq!(cc.name(), "lia");
    }
}
