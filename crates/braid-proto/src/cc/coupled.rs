//! What the coupled controllers (LIA, OLIA, BALIA) share: Reno's per-subflow
//! machinery, and the view across subflows that their increase formulas read.
//!
//! RFC 6356 §3 changes only the increase of congestion avoidance: "The slow start,
//! fast retransmit, and fast recovery algorithms, as well as the multiplicative
//! decrease of the congestion avoidance state are the same as in standard TCP". OLIA
//! and BALIA keep the same frame (BALIA changes the decrease too). So each subflow
//! here is a [`super::NewReno`] subflow (RFC 5681 slow start with RFC 3465 byte
//! counting, the window held in fast recovery, the loss window after a timeout, no
//! growth while application-limited) whose congestion-avoidance growth comes from a
//! [`Rule`]: bytes of window per byte acknowledged, computed from every coupled
//! subflow's window and smoothed RTT.
//!
//! Windows stay whole bytes and move by whole segments, as in Reno's RFC 3465 byte
//! counting: each ACK adds `acked * increase` to a fractional credit, and cwnd gains
//! (or, for OLIA's negative terms, loses) one MSS each time the credit reaches one MSS.
//! With one subflow every rule's increase is `MSS / cwnd`, and the windows are those
//! of NewReno.
//!
//! Which subflows are coupled: those whose smoothed RTT is known and that had new data
//! acknowledged recently (within `max(4 * srtt, 1 s)`), plus the subflow being
//! acknowledged. Linux's coupled controllers likewise count only established subflows
//! with an RTT; the recency rule also drops subflows that died without the MPTCP layer
//! calling [`CongestionControl::remove_subflow`] and idle ones, whose windows say
//! nothing about the paths in use. When the acknowledged subflow's own RTT is unknown
//! (a zero `srtt`), it takes the smallest known RTT of the others, or all RTTs are
//! taken equal when none is known; every formula depends only on ratios of RTTs, so
//! this is well defined, and no division is ever by zero.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use super::new_reno::{half_flight, initial_window};
use super::slow_start::{AckUse, SlowStart};
use super::{AckEvent, CongestionControl};
use crate::tcp::SubflowId;
use crate::time::{Duration, Instant};

/// A subflow drops out of the coupling after this many of its smoothed RTTs without
/// new data acknowledged ...
const STALE_RTTS: u64 = 4;
/// ... and at least this long.
const STALE_MIN: Duration = Duration::from_secs(1);

/// A credit within this fraction of a segment of a whole segment counts as one: the
/// per-ACK terms are fractions whose sum over a window is one MSS in exact arithmetic,
/// and floating-point sums land a hair either side of it.
const CREDIT_TOLERANCE: f64 = 1e-9;

/// One coupled subflow as the formulas see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Path {
    /// cwnd, bytes.
    pub cwnd: f64,
    /// Smoothed RTT, microseconds (never zero: see the module documentation).
    pub rtt: f64,
    /// OLIA's l_r: bytes acknowledged since the last loss or between the last two
    /// losses, whichever is larger.
    pub delivered: f64,
}

/// A coupled algorithm's formulas.
pub(super) trait Rule: Default + std::fmt::Debug + Send {
    const NAME: &'static str;

    /// Bytes of cwnd gained by `paths[me]` per byte acknowledged in congestion
    /// avoidance (negative for a decrease); `mss` is that subflow's, in bytes.
    fn increase(paths: &[Path], me: usize, mss: f64) -> f64;

    /// The slow-start threshold after a congestion event on `paths[me]` with
    /// `in_flight` bytes in flight. Default: Reno's `max(FlightSize / 2, 2*SMSS)`
    /// (RFC 5681 §3.2 eq. 4).
    fn reduced(paths: &[Path], me: usize, in_flight: u64, mss: u64) -> u64 {
        let _ = (paths, me);
        half_flight(in_flight, mss)
    }
}

/// `sum_i cwnd_i / rtt_i`: the paths' total rate, bytes per microsecond.
pub(super) fn total_rate(paths: &[Path]) -> f64 {
    paths.iter().map(|p| p.cwnd / p.rtt).sum()
}

/// `max_i cwnd_i / rtt_i`.
pub(super) fn max_rate(paths: &[Path]) -> f64 {
    paths.iter().map(|p| p.cwnd / p.rtt).fold(0.0, f64::max)
}

/// Reno's state of one subflow, plus what the coupling reads.
#[derive(Debug, Clone)]
pub(super) struct Subflow {
    pub mss: u64,
    pub cwnd: u64,
    pub ssthresh: u64,
    /// Congestion-avoidance growth not yet a whole segment, bytes (negative after
    /// OLIA's decreasing terms).
    pub credit: f64,
    /// The smoothed RTT of the last ACK with a non-zero one.
    pub srtt: Option<Duration>,
    /// When new data was last acknowledged.
    pub last_ack: Option<Instant>,
    /// OLIA's l1: bytes acknowledged since the last loss.
    pub since_loss: u64,
    /// OLIA's l2: bytes acknowledged between the last two losses.
    pub between_losses: u64,
    slow_start: SlowStart,
}

impl Subflow {
    fn new(mss: u32) -> Self {
        Subflow {
            mss: u64::from(mss.max(1)),
            cwnd: initial_window(mss),
            // RFC 5681 §3.1: the initial ssthresh SHOULD be arbitrarily high.
            ssthresh: u64::MAX,
            credit: 0.0,
            srtt: None,
            last_ack: None,
            since_loss: 0,
            between_losses: 0,
            slow_start: SlowStart::default(),
        }
    }

    /// Whether the subflow takes part in the coupling at `now`.
    fn coupled_at(&self, now: Instant) -> bool {
        match (self.srtt, self.last_ack) {
            (Some(srtt), Some(at)) => now - at <= srtt.saturating_mul(STALE_RTTS).max(STALE_MIN),
            _ => false,
        }
    }

    /// Reno on one ACK up to congestion avoidance: returns the bytes left for
    /// congestion avoidance, `None` when the window may not grow or slow start used
    /// the whole ACK.
    fn left_for_congestion_avoidance(&mut self, now: Instant, ack: &AckEvent) -> Option<u64> {
        let use_of_ack = self.slow_start.admit(ack);
        if use_of_ack == AckUse::NothingNew {
            return None;
        }
        self.last_ack = Some(now);
        self.since_loss = self.since_loss.saturating_add(ack.acked);
        if use_of_ack != AckUse::Grow {
            return None;
        }
        self.slow_start
            .grow(&mut self.cwnd, self.ssthresh, self.mss, ack.acked)
            .filter(|&left| left > 0)
    }

    /// Adds `bytes` (possibly negative) of congestion-avoidance growth: cwnd moves by
    /// whole segments, never below 2*SMSS, and saturates rather than overflows.
    fn grow(&mut self, bytes: f64) {
        if !bytes.is_finite() {
            return;
        }
        let mss = self.mss as f64;
        let tolerance = CREDIT_TOLERANCE * mss;
        self.credit += bytes;
        if self.credit + tolerance >= mss {
            let steps = ((self.credit + tolerance) / mss).floor();
            self.credit = (self.credit - steps * mss).max(0.0);
            // `as` saturates: an absurd credit gives u64::MAX segments, not a wrap.
            let add = (steps as u64).saturating_mul(self.mss);
            self.cwnd = self.cwnd.saturating_add(add);
        } else if self.credit - tolerance <= -mss {
            let floor = 2 * self.mss;
            let steps = ((tolerance - self.credit) / mss).floor();
            self.credit = (self.credit + steps * mss).min(0.0);
            let cut = (steps as u64).saturating_mul(self.mss);
            let lowered = self.cwnd.saturating_sub(cut).max(floor);
            if lowered >= self.cwnd {
                // Already at the floor: nothing left to take.
                self.credit = 0.0;
            }
            self.cwnd = lowered.min(self.cwnd);
            // A window given up in congestion avoidance stays given up: ssthresh
            // follows it down, or slow start would take it straight back.
            self.ssthresh = self.ssthresh.min(self.cwnd);
        }
    }

    /// OLIA's inter-loss distances: a loss after some progress starts a new interval.
    fn note_loss(&mut self) {
        if self.since_loss > 0 {
            self.between_losses = self.since_loss;
            self.since_loss = 0;
        }
    }

    fn on_congestion_event(&mut self, ssthresh: u64) {
        // RFC 5681 §3.2 step 2 / RFC 6582 §3.2 step 2 with the rule's ssthresh; as in
        // NewReno, cwnd = ssthresh at once and the engine paces recovery by `pipe`.
        self.note_loss();
        self.ssthresh = ssthresh;
        self.cwnd = ssthresh;
        self.credit = 0.0;
        self.slow_start.on_congestion_event();
    }

    fn on_retransmission_timeout(&mut self, ssthresh: u64) {
        // RFC 5681 §3.1: ssthresh from the flight, held when the same segment times
        // out again; cwnd becomes the loss window, one segment.
        if self.slow_start.on_timeout() {
            self.note_loss();
            self.ssthresh = ssthresh;
        }
        self.cwnd = self.mss;
        self.credit = 0.0;
    }
}

/// A coupled controller: Reno subflows whose congestion avoidance follows `R`.
#[derive(Debug, Default)]
pub(super) struct Coupled<R> {
    pub subflows: BTreeMap<SubflowId, Subflow>,
    rule: PhantomData<R>,
}

impl<R: Rule> Coupled<R> {
    /// The coupled paths seen from `me` at `now`, and `me`'s index among them;
    /// `None` if `me` is unknown.
    pub fn view(&self, me: SubflowId, now: Instant) -> Option<(Vec<Path>, usize)> {
        let mut paths = Vec::with_capacity(self.subflows.len());
        let mut index = None;
        for (&id, s) in &self.subflows {
            if id != me && !s.coupled_at(now) {
                continue;
            }
            if id == me {
                index = Some(paths.len());
            }
            paths.push(Path {
                cwnd: s.cwnd.max(1) as f64,
                // Filled in below when unknown.
                rtt: s.srtt.map_or(0.0, |d| d.as_micros() as f64),
                delivered: s.since_loss.max(s.between_losses) as f64,
            });
        }
        let index = index?;
        if paths[index].rtt <= 0.0 {
            // RTT unknown: the smallest known one, or all equal (see the module docs).
            paths[index].rtt = paths
                .iter()
                .map(|p| p.rtt)
                .filter(|&r| r > 0.0)
                .fold(f64::INFINITY, f64::min);
            if !paths[index].rtt.is_finite() {
                paths[index].rtt = 1.0;
            }
        }
        Some((paths, index))
    }

    fn reduced(&self, id: SubflowId, now: Instant, in_flight: u64) -> Option<u64> {
        let s = self.subflows.get(&id)?;
        let (paths, me) = self.view(id, now)?;
        Some(R::reduced(&paths, me, in_flight, s.mss).max(2 * s.mss))
    }
}

impl<R: Rule> CongestionControl for Coupled<R> {
    fn add_subflow(&mut self, id: SubflowId, mss: u32, _now: Instant) {
        self.subflows.insert(id, Subflow::new(mss));
    }

    fn remove_subflow(&mut self, id: SubflowId) {
        self.subflows.remove(&id);
    }

    fn on_ack(&mut self, id: SubflowId, now: Instant, ack: AckEvent) {
        let Some(s) = self.subflows.get_mut(&id) else {
            return;
        };
        if ack.srtt > Duration::ZERO {
            s.srtt = Some(ack.srtt);
        }
        let Some(acked) = s.left_for_congestion_avoidance(now, &ack) else {
            return;
        };
        let mss = s.mss as f64;
        let Some((paths, me)) = self.view(id, now) else {
            return;
        };
        // No ACK moves the window by more than the bytes it acknowledges (slow
        // start's pace): a bound on the formulas, never reached in practice.
        let bytes =
            (acked as f64 * R::increase(&paths, me, mss)).clamp(-(acked as f64), acked as f64);
        if let Some(s) = self.subflows.get_mut(&id) {
            s.grow(bytes);
        }
    }

    fn on_congestion_event(&mut self, id: SubflowId, now: Instant, in_flight: u64) {
        let Some(ssthresh) = self.reduced(id, now, in_flight) else {
            return;
        };
        if let Some(s) = self.subflows.get_mut(&id) {
            s.on_congestion_event(ssthresh);
        }
    }

    fn on_recovery_end(&mut self, id: SubflowId, _now: Instant) {
        if let Some(s) = self.subflows.get_mut(&id) {
            s.slow_start.on_recovery_end();
        }
    }

    fn on_retransmission_timeout(&mut self, id: SubflowId, now: Instant, in_flight: u64) {
        let Some(ssthresh) = self.reduced(id, now, in_flight) else {
            return;
        };
        if let Some(s) = self.subflows.get_mut(&id) {
            s.on_retransmission_timeout(ssthresh);
        }
    }

    fn cwnd(&self, id: SubflowId) -> u64 {
        self.subflows.get(&id).map_or(0, |s| s.cwnd)
    }

    fn ssthresh(&self, id: SubflowId) -> u64 {
        self.subflows.get(&id).map_or(u64::MAX, |s| s.ssthresh)
    }

    fn name(&self) -> &'static str {
        R::NAME
    }
}

/// Declares a public controller type wrapping `Coupled<$rule>`.
macro_rules! coupled_controller {
    ($(#[$meta:meta])* $name:ident, $rule:ty) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        pub struct $name(pub(super) super::coupled::Coupled<$rule>);

        impl $name {
            pub fn new() -> Self {
                Self::default()
            }
        }

        impl super::CongestionControl for $name {
            fn add_subflow(&mut self, id: crate::tcp::SubflowId, mss: u32, now: crate::time::Instant) {
                self.0.add_subflow(id, mss, now)
            }
            fn remove_subflow(&mut self, id: crate::tcp::SubflowId) {
                self.0.remove_subflow(id)
            }
            fn on_ack(&mut self, id: crate::tcp::SubflowId, now: crate::time::Instant, ack: super::AckEvent) {
                self.0.on_ack(id, now, ack)
            }
            fn on_congestion_event(&mut self, id: crate::tcp::SubflowId, now: crate::time::Instant, in_flight: u64) {
                self.0.on_congestion_event(id, now, in_flight)
            }
            fn on_recovery_end(&mut self, id: crate::tcp::SubflowId, now: crate::time::Instant) {
                self.0.on_recovery_end(id, now)
            }
            fn on_retransmission_timeout(&mut self, id: crate::tcp::SubflowId, now: crate::time::Instant, in_flight: u64) {
                self.0.on_retransmission_timeout(id, now, in_flight)
            }
            fn cwnd(&self, id: crate::tcp::SubflowId) -> u64 {
                self.0.cwnd(id)
            }
            fn ssthresh(&self, id: crate::tcp::SubflowId) -> u64 {
                self.0.ssthresh(id)
            }
            fn name(&self) -> &'static str {
                self.0.name()
            }
        }
    };
}
pub(super) use coupled_controller;

/// Test support shared by the three controllers' tests.
#[cfg(test)]
pub(super) mod testing {
    use super::*;

    pub const MSS: u32 = 1_460;
    pub const M: u64 = MSS as u64;
    pub const A: SubflowId = SubflowId(1);
    pub const B: SubflowId = SubflowId(2);
    pub const MS10: Duration = Duration::from_millis(10);
    pub const MS40: Duration = Duration::from_millis(40);

    /// Equal but for floating-point rounding.
    pub fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    pub fn ack(acked: u64, srtt: Duration) -> AckEvent {
        AckEvent {
            acked,
            prior_in_flight: acked,
            rtt: Some(srtt),
            srtt,
            in_recovery: false,
            app_limited: false,
        }
    }

    /// A hand-made state: subflows with these (cwnd in segments, srtt) in congestion
    /// avoidance (ssthresh = cwnd), each seen acknowledged at time zero.
    pub fn state<R: Rule>(paths: &[(SubflowId, u64, Duration)]) -> Coupled<R> {
        let mut cc = Coupled::<R>::default();
        for &(id, segments, srtt) in paths {
            cc.add_subflow(id, MSS, Instant::ZERO);
            let s = cc.subflows.get_mut(&id).unwrap();
            s.cwnd = segments * M;
            s.ssthresh = segments * M;
            s.srtt = Some(srtt);
            s.last_ack = Some(Instant::ZERO);
        }
        cc
    }

    /// The credit one ACK of one MSS adds on `id` at time zero.
    pub fn one_ack_credit<R: Rule>(cc: &mut Coupled<R>, id: SubflowId) -> f64 {
        let srtt = cc.subflows[&id].srtt.unwrap_or(Duration::ZERO);
        let before = (cc.subflows[&id].cwnd, cc.subflows[&id].credit);
        cc.on_ack(id, Instant::ZERO, ack(M, srtt));
        let s = &cc.subflows[&id];
        (s.cwnd as f64 - before.0 as f64) + s.credit - before.1
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::cc::{Balia, Lia, NewReno, Olia};

    /// One of each coupled controller, without subflows.
    fn every_rule() -> [Box<dyn CongestionControl>; 3] {
        [
            Box::new(Lia::new()),
            Box::new(Olia::new()),
            Box::new(Balia::new()),
        ]
    }

    /// Drives the same single-subflow history through NewReno and `cc`: slow start,
    /// congestion avoidance in ACKs of one and two segments, a loss and its recovery,
    /// a timeout, an application-limited ACK; returns both windows after every event.
    fn against_reno(cc: &mut dyn CongestionControl) -> (Vec<u64>, Vec<u64>) {
        fn both(
            reno: &mut NewReno,
            cc: &mut dyn CongestionControl,
            seen: &mut (Vec<u64>, Vec<u64>),
            f: impl Fn(&mut dyn CongestionControl),
        ) {
            f(reno);
            f(cc);
            seen.0.push(reno.cwnd(A));
            seen.1.push(cc.cwnd(A));
        }
        let mut reno = NewReno::new();
        let rtt = Duration::from_millis(30);
        let mut seen = (Vec::new(), Vec::new());
        both(&mut reno, cc, &mut seen, |c| {
            c.add_subflow(A, MSS, Instant::ZERO)
        });
        let mut now = Instant::ZERO;
        for round in 0..40u64 {
            now += rtt;
            let window = reno.cwnd(A);
            let mut left = window;
            while left > 0 {
                // MSS-sized ACKs, and delayed (2 MSS) ACKs every third round.
                let bytes = left.min(if round % 3 == 0 { 2 * M } else { M });
                left -= bytes;
                both(&mut reno, cc, &mut seen, |c| {
                    c.on_ack(A, now, ack(bytes, rtt))
                });
            }
            match round {
                6 => both(&mut reno, cc, &mut seen, |c| {
                    c.on_congestion_event(A, now, window)
                }),
                7 => both(&mut reno, cc, &mut seen, |c| c.on_recovery_end(A, now)),
                20 => both(&mut reno, cc, &mut seen, |c| {
                    c.on_retransmission_timeout(A, now, window)
                }),
                30 => {
                    let mut limited = ack(M, rtt);
                    limited.app_limited = true;
                    both(&mut reno, cc, &mut seen, |c| c.on_ack(A, now, limited));
                }
                _ => {}
            }
        }
        seen
    }

    #[test]
    fn rfc6356_s3_every_rule_with_one_subflow_is_reno() {
        for mut cc in every_rule() {
            let (reno, coupled) = against_reno(cc.as_mut());
            assert_eq!(reno, coupled, "{}", cc.name());
        }
    }

    #[test]
    fn unknown_and_absurd_rtts_never_divide_by_zero_in_any_rule() {
        // A with a zero smoothed RTT, B with one of a microsecond, and ACKs of every
        // byte there is after the longest RTT there is, on either subflow.
        for absurd_on in [A, B] {
            for mut cc in every_rule() {
                let name = cc.name();
                cc.add_subflow(A, MSS, Instant::ZERO);
                cc.add_subflow(B, MSS, Instant::ZERO);
                cc.on_congestion_event(A, Instant::ZERO, 20 * M);
                // Nothing in flight: the floor of two segments.
                cc.on_congestion_event(B, Instant::ZERO, 0);
                assert_eq!(cc.cwnd(B), 2 * M, "{name}");
                for _ in 0..200 {
                    cc.on_ack(A, Instant::ZERO, ack(M, Duration::ZERO));
                    cc.on_ack(B, Instant::ZERO, ack(M, Duration::from_micros(1)));
                    cc.on_ack(absurd_on, Instant::ZERO, ack(u64::MAX, Duration::MAX));
                }
                for id in [A, B] {
                    assert!(cc.cwnd(id) >= 2 * M, "{name}: {}", cc.cwnd(id));
                }
                cc.on_congestion_event(A, Instant::ZERO, u64::MAX);
                cc.on_congestion_event(B, Instant::ZERO, u64::MAX);
                for id in [A, B] {
                    assert!(cc.cwnd(id) >= 2 * M, "{name}: {}", cc.cwnd(id));
                }
                // An unknown subflow has no window and its events are ignored.
                let unknown = SubflowId(9);
                cc.on_ack(unknown, Instant::ZERO, ack(M, MS10));
                cc.on_congestion_event(unknown, Instant::ZERO, M);
                assert_eq!(cc.cwnd(unknown), 0, "{name}");
            }
        }
    }

    #[test]
    fn every_rule_is_named() {
        let names = every_rule().map(|cc| cc.name());
        assert_eq!(names, ["lia", "olia", "balia"]);
    }

    /// A rule that returns a fixed increase, to test the credit mechanics alone.
    #[derive(Debug, Default)]
    struct Fixed;
    impl Rule for Fixed {
        const NAME: &'static str = "fixed";
        fn increase(_: &[Path], _: usize, _: f64) -> f64 {
            -0.5
        }
    }

    #[test]
    fn negative_growth_stops_at_two_segments() {
        let ms = Duration::from_millis(10);
        let mut cc = state::<Fixed>(&[(A, 4, ms)]);
        // Each MSS acknowledged takes half an MSS: 4 -> 3 -> 2, then no lower, and
        // ssthresh follows (no slow start back up).
        for _ in 0..20 {
            cc.on_ack(A, Instant::ZERO, ack(M, ms));
        }
        assert_eq!((cc.cwnd(A), cc.ssthresh(A)), (2 * M, 2 * M));
        assert!(cc.subflows[&A].credit > -(M as f64));
    }

    #[test]
    fn credit_never_overflows_the_window() {
        let ms = Duration::from_millis(10);
        let mut cc = state::<Fixed>(&[(A, 4, ms)]);
        let s = cc.subflows.get_mut(&A).unwrap();
        s.cwnd = u64::MAX - 10;
        s.grow(f64::MAX);
        assert_eq!(s.cwnd, u64::MAX);
        s.grow(f64::NAN);
        s.grow(f64::INFINITY);
        assert_eq!(s.cwnd, u64::MAX);
        s.grow(-f64::MAX);
        assert_eq!(s.cwnd, 2 * M);
    }

    #[test]
    fn stale_and_rtt_less_subflows_are_left_out() {
        let ms = Duration::from_millis(10);
        let mut cc = state::<Fixed>(&[(A, 10, ms), (B, 20, ms)]);
        let (paths, me) = cc.view(A, Instant::ZERO).unwrap();
        assert_eq!((paths.len(), me), (2, 0));
        // B acknowledged nothing for more than max(4 * srtt, 1 s): out.
        let later = Instant::ZERO + Duration::from_millis(1_001);
        let (paths, me) = cc.view(A, later).unwrap();
        assert_eq!((paths.len(), me), (1, 0));
        // A subflow with no RTT yet is out, unless it is the one acknowledged, which
        // takes the smallest known RTT.
        cc.add_subflow(SubflowId(3), MSS, Instant::ZERO);
        let (paths, _) = cc.view(A, Instant::ZERO).unwrap();
        assert_eq!(paths.len(), 2);
        let (paths, me) = cc.view(SubflowId(3), Instant::ZERO).unwrap();
        assert_eq!((paths.len(), me), (3, 2));
        assert_eq!(paths[2].rtt, 10_000.0);
        assert!(cc.view(SubflowId(9), Instant::ZERO).is_none());
    }
}
