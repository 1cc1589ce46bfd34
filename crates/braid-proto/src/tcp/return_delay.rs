//! How long segments from the peer now queue on their way to us, from its
//! timestamps (RFC 7323 TSval).
//!
//! Our clock at arrival minus the peer's clock at sending is the one-way delay plus
//! a constant offset between the clocks; its lowest value is the delay with no
//! queue, so anything above it is queueing on the return path (LEDBAT's one-way
//! delay measurement, RFC 6817 §3.1). A sender cannot shorten that queue, which
//! the other direction's data builds, so whatever limits its own queue by time has
//! to leave it out.

use crate::time::Duration;

/// Smoothing of the queueing delay: the RTT estimator's gain (RFC 6298).
const GAIN_SHIFT: u32 = 3;

#[derive(Debug, Clone, Default)]
pub struct ReturnDelay {
    /// The lowest arrival-minus-TSval seen, in millisecond ticks (wrapping: only
    /// differences between such values mean anything).
    base: Option<u32>,
    /// Smoothed queueing delay above `base`, microseconds.
    smoothed_micros: Option<u64>,
}

impl ReturnDelay {
    /// A segment stamped `tsval` by the peer arrived at `arrival` (our timestamp
    /// clock, milliseconds).
    pub fn on_segment(&mut self, arrival: u32, tsval: u32) {
        let transit = arrival.wrapping_sub(tsval);
        let base = *self.base.get_or_insert(transit);
        let above = transit.wrapping_sub(base) as i32;
        let queued_ms = if above < 0 {
            self.base = Some(transit);
            0
        } else {
            u64::from(above.unsigned_abs())
        };
        let sample = queued_ms * 1000;
        self.smoothed_micros = Some(match self.smoothed_micros {
            None => sample,
            Some(s) => s - (s >> GAIN_SHIFT) + (sample >> GAIN_SHIFT),
        });
    }

    /// The smoothed queueing delay on the path from the peer (`None` before a
    /// timestamped segment arrived).
    pub fn queueing(&self) -> Option<Duration> {
        self.smoothed_micros.map(Duration::from_micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queueing_is_the_delay_above_the_lowest_and_clock_offsets_cancel() {
        let mut d = ReturnDelay::default();
        // The peer's clock is far ahead of ours (wrapping), the path takes 20 ms.
        let offset = 4_000_000_000u32;
        let sent = |ms: u32| ms.wrapping_add(offset);
        d.on_segment(1020, sent(1000));
        assert_eq!(d.queueing(), Some(Duration::ZERO));
        // 30 ms of queue, repeatedly: the smoothed value converges on it.
        for k in 0..64 {
            d.on_segment(2050 + k, sent(2000 + k));
        }
        let q = d.queueing().unwrap().as_micros();
        assert!((29_000..=30_000).contains(&q), "{q} µs");
        // A faster segment lowers the base: the path had 10 ms of queue all along,
        // so the same 50 ms transit now reads as 40 ms of queue.
        d.on_segment(3010, sent(3000));
        for k in 0..64 {
            d.on_segment(4050 + k, sent(4000 + k));
        }
        let q = d.queueing().unwrap().as_micros();
        assert!((39_000..=40_000).contains(&q), "{q} µs");
    }
}
