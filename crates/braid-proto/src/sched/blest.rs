//! BLEST (Ferlin, Alay, Mehani, Boreli: "BLEST: Blocking Estimation-based MPTCP
//! Scheduler for Heterogeneous Networks", IFIP Networking 2016).
//!
//! Data sent on a slow subflow can block the connection-level window: while it
//! travels, the fast subflow may fill the rest of the peer's window and then wait
//! for it. Before using a slower subflow, BLEST estimates what the fast one could
//! send during one RTT of the slow one and leaves the slow one idle when that, with
//! what the slow one already has in flight, would not fit in the window.

use super::{candidates, rtt_key, SchedContext, Scheduler, SubflowInfo};
use crate::tcp::SubflowId;

/// BLEST over the lowest-RTT order.
#[derive(Debug, Clone, Copy)]
pub struct Blest {
    /// Scales the estimate (λ in the paper): above 1 errs towards waiting.
    pub lambda: f64,
}

impl Default for Blest {
    fn default() -> Self {
        Blest { lambda: 1.2 }
    }
}

impl Scheduler for Blest {
    fn pick(&mut self, subflows: &[SubflowInfo], ctx: &SchedContext) -> Option<SubflowId> {
        let mut ordered: Vec<&SubflowInfo> = candidates(subflows).collect();
        ordered.sort_by_key(|s| rtt_key(s));
        let fastest = *ordered.first()?;
        if fastest.room > 0 {
            return Some(fastest.id);
        }
        let slow = ordered.iter().find(|s| s.room > 0)?;
        let (Some(rtt_fast), Some(rtt_slow)) = (fastest.rtt(), slow.rtt()) else {
            return Some(slow.id);
        };
        let ratio = rtt_slow.as_micros() as f64 / rtt_fast.as_micros().max(1) as f64;
        // Segments per fast RTT grow by one per round in congestion avoidance.
        let cwnd_segments = fastest.cwnd as f64 / f64::from(fastest.mss.max(1));
        let fast_bytes = f64::from(fastest.mss) * (cwnd_segments + (ratio - 1.0) / 2.0) * ratio;
        let slow_bytes = (slow.in_flight + u64::from(slow.mss)) as f64;
        if fast_bytes * self.lambda + slow_bytes > ctx.send_window as f64 {
            // The slow subflow would hold back the window the fast one needs.
            return None;
        }
        Some(slow.id)
    }

    fn name(&self) -> &'static str {
        "blest"
    }
}
