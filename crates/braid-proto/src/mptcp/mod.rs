//! MPTCP (RFC 8684): one byte stream over a set of TCP subflows.
//!
//! Start here. [`MptcpConnection`] (connection.rs) owns the parts below and is
//! where they meet; each part has one job and its own tests.
//!
//! ```text
//! MptcpConnection
//!   state      ConnState: Handshake | Established { remote key } | Fallback { cause }
//!   subflows   SubflowSet: each Subflow = TcpConnection + handshake + mappings
//!   data       DataLevel: DataSender / DataReceiver, window, data-level timer, DATA_FIN
//!   signals    Signals: ADD_ADDR / REMOVE_ADDR / MP_FAIL waiting to go out
//!   scheduling Scheduling: the Scheduler and the window-sharing policy (sched::sharing)
//!   pm         PathManager (crate::pm): which subflows to open, what to announce
//!   lifecycle  Lifecycle: open / closing subflows / closed, the application's events
//! ```
//!
//! A segment's path: the endpoint parses its MPTCP options once
//! ([`options::SegmentOptions`]) and hands both to
//! [`MptcpConnection::handle_segment`]. The subflow's TCP connection takes the
//! segment first (MPTCP acts only on what TCP accepted) and reports what happened
//! as events ([`TcpEvent`](crate::tcp::TcpEvent)): the handshake completing runs
//! handshake.rs's checks; then the options' signals are acted on (DATA_ACK to the
//! sender, mappings to the subflow's [`mapping::MappingReceiver`], addresses to the
//! path manager), and the subflow's in-order bytes move through its mapping receiver
//! to the data level's reassembly. Finally `settle` runs the reactions to the
//! subflows' news (a timeout or an end hands their data to other subflows), timers,
//! the path manager's actions and the connection's end.
//!
//! Going out, `poll_transmit` has [`scheduling`] map waiting data onto subflows
//! (one DSS mapping per chunk), asks each subflow's TCP connection for a segment,
//! and [`writer::write_options`], a pure function, adds the segment's MPTCP options.
//!
//! Without MPTCP on the path (the peer or a middlebox dropped the option) the
//! connection *falls back* (§3.7): one subflow carries the stream as plain TCP, and
//! the same data-level machinery runs with an implicit mapping, so the application
//! sees no difference.
//!
//! The building blocks below the parts:
//! - [`mapping`]: the receiver's half of the data sequence mapping (§3.3.1): turns a
//!   subflow's in-order bytes and DSS mappings into data-level chunks, checks DSS
//!   checksums, and switches to fallback on an infinite mapping (§3.7).
//! - [`data`]: connection-level reassembly, DATA_ACK, window and DATA_FIN (§3.3).
//! - [`keys`]: local keys with token collision avoidance, and the token table that
//!   MP_JOIN SYNs are looked up in (§3.1, §3.2).

pub mod config;
mod connection;
pub mod data;
mod data_level;
mod events;
mod handshake;
pub mod keys;
mod lifecycle;
pub mod mapping;
pub mod options;
mod scheduling;
mod signals;
mod state;
mod stats;
mod subflow;
mod subflows;
mod writer;

pub use config::MptcpConfig;
pub use connection::{MptcpConnection, SubflowRequest};
pub use events::MptcpEvent;
pub use options::SegmentOptions;
pub use state::{FallbackCause, Phase};
pub use stats::MptcpStats;
pub use subflow::{Handshake, Subflow, TxMapping};
