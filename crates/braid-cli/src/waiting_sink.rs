//! A server application for the simulated runs of `braid demo` and `braid bench
//! handover`: a [`Sink`] that also notes how long the application waited between
//! deliveries, which is what a user feels when a path fails.

use std::any::Any;

use braid_proto::time::{Duration, Instant};
use braid_sim::apps::{AppReport, Application, Sink, Verify};
use braid_sim::host::Socket;

/// Waits noted at most: the runs are bounded, and so is the memory.
const MAX_WAITS: usize = 100_000;

/// A [`Sink`] that notes every wait of at least `min_wait` between two deliveries.
pub struct WaitingSink {
    sink: Sink,
    min_wait: Duration,
    last: Option<Instant>,
    /// (start, end) of each wait, at most [`MAX_WAITS`].
    waits: Vec<(Instant, Instant)>,
}

impl WaitingSink {
    pub fn new(verify: Verify, min_wait: Duration) -> Self {
        WaitingSink {
            sink: Sink::new(verify),
            min_wait,
            last: None,
            waits: Vec::new(),
        }
    }

    /// The sink underneath: what it verified.
    pub fn sink(&self) -> &Sink {
        &self.sink
    }

    /// Every wait noted, as (start, end), in order.
    pub fn waits(&self) -> &[(Instant, Instant)] {
        &self.waits
    }
}

impl Application for WaitingSink {
    fn name(&self) -> &'static str {
        "sink"
    }

    fn run(&mut self, s: &mut Socket<'_>) {
        let before = s.bytes_received();
        self.sink.run(s);
        if s.bytes_received() > before {
            let now = s.now();
            if let Some(last) = self.last {
                if now - last >= self.min_wait && self.waits.len() < MAX_WAITS {
                    self.waits.push((last, now));
                }
            }
            self.last = Some(now);
        }
    }

    fn report(&self) -> AppReport {
        self.sink.report()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
