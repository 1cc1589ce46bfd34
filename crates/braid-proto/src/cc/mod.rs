//! Congestion control: one controller per connection, seeing all of its subflows.
//!
//! A plain TCP connection is a connection of one subflow. Uncoupled algorithms
//! ([`NewReno`], [`Cubic`]) keep independent state per subflow and ignore the others;
//! coupled ones ([`Lia`] of RFC 6356, [`Olia`], [`Balia`]) read the windows and RTTs of
//! all of a connection's subflows, so that an MPTCP connection takes no more than one
//! TCP at a bottleneck its subflows share. With one subflow, the coupled ones are
//! NewReno. The TCP engine calls the controller at the events below and sends no more
//! than [`CongestionControl::cwnd`] bytes beyond what it believes is in the network.

use crate::tcp::SubflowId;
use crate::time::{Duration, Instant};

mod balia;
mod coupled;
mod cubic;
mod hystart;
mod lia;
mod new_reno;
mod olia;
mod slow_start;

pub use balia::Balia;
pub use cubic::{Cubic, CubicConfig};
pub use hystart::AckTrainThreshold;
pub use lia::Lia;
pub use new_reno::{initial_window, NewReno};
pub use olia::Olia;

/// What the TCP engine tells the controller about an acknowledgment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckEvent {
    /// Bytes newly acknowledged, cumulatively or by SACK.
    pub acked: u64,
    /// Bytes in flight before this acknowledgment was processed.
    pub prior_in_flight: u64,
    /// An RTT sample taken from this acknowledgment, if it gave one.
    pub rtt: Option<Duration>,
    /// The smoothed RTT after this acknowledgment.
    pub srtt: Duration,
    /// True while the subflow is in loss recovery: RFC 5681/6675 hold cwnd there.
    /// A recovery begun by a retransmission timeout is the exception: there cwnd
    /// grows by slow start from one segment (RFC 5681 §3.1, RFC 6675 §5.1), and the
    /// controllers do so whatever this flag says, until `on_recovery_end` or the
    /// next congestion event.
    pub in_recovery: bool,
    /// True if the sender was not using the window it had (application-limited,
    /// RFC 7661's non-validated phase: for instance less than half of cwnd was in
    /// flight, or the send buffer ran empty, when the acknowledged data was sent).
    /// Controllers do not grow cwnd on such ACKs (RFC 7661 §4.3), and CUBIC leaves
    /// the time out of its curve (RFC 9438 §4.2, §5.8). `false` when unsure.
    pub app_limited: bool,
}

/// A congestion controller for the subflows of one connection.
pub trait CongestionControl: std::fmt::Debug + Send {
    /// A subflow starts, with its sender MSS (bytes of payload per segment).
    fn add_subflow(&mut self, id: SubflowId, mss: u32, now: Instant);

    /// The subflow is gone; forget its state.
    fn remove_subflow(&mut self, id: SubflowId);

    /// New data was acknowledged.
    fn on_ack(&mut self, id: SubflowId, now: Instant, ack: AckEvent);

    /// Loss was detected by duplicate ACKs or SACK (RFC 6675 / RFC 5681 fast
    /// retransmit): the start of one recovery episode, called once per episode.
    fn on_congestion_event(&mut self, id: SubflowId, now: Instant, in_flight: u64);

    /// Recovery ended: every segment outstanding at its start was acknowledged.
    fn on_recovery_end(&mut self, id: SubflowId, now: Instant);

    /// The retransmission timer fired (RFC 5681 §3.1: cwnd to one segment).
    fn on_retransmission_timeout(&mut self, id: SubflowId, now: Instant, in_flight: u64);

    /// The MPTCP scheduler penalises the subflow: its data held the connection-level
    /// window's left edge while a faster subflow waited (Raiciu et al., "How Hard Can
    /// It Be? Designing and Implementing a Deployable Multipath TCP", NSDI 2012,
    /// §4.2). The subflow backs off as it would after a loss, so that it keeps less
    /// of the shared window in its queue; no recovery follows.
    fn penalise(&mut self, id: SubflowId, now: Instant, in_flight: u64) {
        self.on_congestion_event(id, now, in_flight);
        self.on_recovery_end(id, now);
    }

    /// The congestion window, in bytes.
    fn cwnd(&self, id: SubflowId) -> u64;

    /// The slow-start threshold, in bytes (`u64::MAX` before the first loss).
    fn ssthresh(&self, id: SubflowId) -> u64;

    /// The algorithm's name, for logs and metrics.
    fn name(&self) -> &'static str;
}
