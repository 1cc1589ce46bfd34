//! A server application for the simulated runs of `braid demo` and `braid bench
//! handover`: a [`Sink`] that also notes how long the application waited between
//! deliveries, which is what a user feels when a path fails.

use std::any::Any;
use std::net::SocketAddr;

use anyhow::{Context, Result};
use braid_proto::time::{Duration, Instant};
use braid_sim::apps::{AppReport, Application, Sink, Verify};
use braid_sim::host::{Host, Socket};
use braid_sim::scenario::Built;

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

/// Starts a phone's upload as `braid demo` and `braid bench handover` run it: host 1
/// (the server) listens on `remote` with a [`WaitingSink`] that checks the pattern
/// and notes waits of at least `min_wait`; host 0 (the phone) connects from `local`
/// with `app`.
pub fn start_upload(
    built: &mut Built,
    local: SocketAddr,
    remote: SocketAddr,
    min_wait: Duration,
    app: Box<dyn Application>,
) -> Result<()> {
    let (phone, server) = (built.hosts[0], built.hosts[1]);
    built
        .sim
        .node_mut::<Host>(server)
        .listen(remote, move || {
            Box::new(WaitingSink::new(Verify::Pattern, min_wait))
        })
        .context("listening on the server")?;
    built
        .sim
        .node_mut::<Host>(phone)
        .connect(Instant::ZERO, local, remote, app)
        .context("connecting from the phone")?;
    Ok(())
}

/// The [`WaitingSink`] of the upload [`start_upload`] started, once the server
/// accepted it.
pub fn server_sink(built: &Built) -> Option<&WaitingSink> {
    let host = built.sim.node::<Host>(built.hosts[1]);
    host.connections()
        .find_map(|r| host.app::<WaitingSink>(r.id))
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
