//! One TCP connection as a sans-IO state machine ([`TcpConnection`]), and its data
//! structures: the RTT estimator and retransmission timeout, the send and receive
//! buffers, and the SACK scoreboard. Nothing here reads a clock: callers pass `now`.

mod config;
mod connection;
mod emit;
mod input;
mod options;
mod output;
pub mod recv_buffer;
mod return_delay;
mod ring;
pub mod rtt;
pub mod scoreboard;
pub mod send_buffer;
mod timers;

pub use config::{Keepalive, TcpConfig};
pub use connection::{
    CloseReason, SegmentIn, SegmentOut, TcpConnection, TcpEvent, TcpState, TcpStats, DEFAULT_MSS,
};
pub use emit::{emit_control, emit_segment};
pub use input::SegmentVerdict;
pub use options::{ReceivedOptions, SendOptions};

/// Which subflow of its connection a TCP connection is: 0 for the first (and for
/// plain TCP), then one per MP_JOIN in the order they appear. The congestion
/// controller, shared by a connection's subflows, keys its state by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubflowId(pub u32);
