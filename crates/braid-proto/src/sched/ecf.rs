//! ECF, Earliest Completion First (Lim, Nahum, Towsley, Gibbens: "ECF: An MPTCP
//! Path Scheduler to Manage Heterogeneous Paths", CoNEXT 2017).
//!
//! When the fastest subflow has no room, a slower one with room is used only if the
//! data waiting would not finish sooner by waiting for the fast one: with k segments
//! waiting, the fast subflow needs about (1 + k / cwnd_fast) of its RTTs, the slow
//! one at least one of its own.

use super::{candidates, rtt_key, SchedContext, Scheduler, SubflowInfo};
use crate::tcp::SubflowId;

/// ECF over the lowest-RTT order.
#[derive(Debug, Clone, Copy)]
pub struct Ecf {
    /// Hysteresis once waiting (β in the paper).
    pub beta: f64,
    waiting: bool,
}

impl Default for Ecf {
    fn default() -> Self {
        Ecf {
            beta: 0.25,
            waiting: false,
        }
    }
}

impl Scheduler for Ecf {
    fn pick(&mut self, subflows: &[SubflowInfo], ctx: &SchedContext) -> Option<SubflowId> {
        let mut ordered: Vec<&SubflowInfo> = candidates(subflows).collect();
        ordered.sort_by_key(|s| rtt_key(s));
        let fastest = *ordered.first()?;
        if fastest.room > 0 {
            self.waiting = false;
            return Some(fastest.id);
        }
        let slow = ordered.iter().find(|s| s.room > 0)?;
        let (Some(rtt_fast), Some(rtt_slow)) = (fastest.rtt(), slow.rtt()) else {
            return Some(slow.id);
        };
        let (rtt_f, rtt_s) = (rtt_fast.as_micros() as f64, rtt_slow.as_micros() as f64);
        let mss = f64::from(fastest.mss.max(1));
        let k = ctx.waiting as f64 / mss;
        let cwnd_f = (fastest.cwnd as f64 / mss).max(1.0);
        let cwnd_s = (slow.cwnd as f64 / f64::from(slow.mss.max(1))).max(1.0);
        let n = 1.0 + k / cwnd_f;
        let hysteresis = if self.waiting { 1.0 + self.beta } else { 1.0 };
        if n * rtt_f < hysteresis * rtt_s {
            // Waiting for the fast subflow finishes no later than using the slow
            // one, unless the slow one could move its share within two fast RTTs.
            if (k / cwnd_s) * rtt_s >= 2.0 * rtt_f {
                self.waiting = true;
                return None;
            }
        }
        self.waiting = false;
        Some(slow.id)
    }

    fn name(&self) -> &'static str {
        "ecf"
    }
}
