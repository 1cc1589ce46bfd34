//! One TCP connection as a sans-IO state machine ([`TcpConnection`]), and its data
//! structures: the RTT estimator and retransmission timeout, the send and receive
//! buffers, and the SACK scoreboard. Nothing here reads a clock: callers pass `now`.

mod config;
mod connection;
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
    CloseReason, SegmentIn, SegmentOut, TcpConnection, TcpEvent, TcpState, TcpStats,
};
pub use input::SegmentVerdict;
pub use options::{ReceivedOptions, SendOptions};
