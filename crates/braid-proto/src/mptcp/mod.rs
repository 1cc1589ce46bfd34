//! The MPTCP connection layer (RFC 8684), built piece by piece.
//!
//! - [`mapping`]: the receiver's half of the data sequence mapping (§3.3.1): one
//!   [`mapping::MappingReceiver`] per subflow turns in-order subflow bytes and the DSS
//!   mappings seen with them into data-level chunks, checks DSS checksums, and switches
//!   to fallback on an infinite mapping (§3.7).
//! - [`data`]: connection-level reassembly, DATA_ACK, window and DATA_FIN (§3.3):
//!   [`data::DataReceiver`] and [`data::DataSender`].
//! - [`keys`]: local keys with token collision avoidance, and the token table that
//!   MP_JOIN SYNs are looked up in (§3.1, §3.2).

pub mod config;
pub mod connection;
pub mod data;
mod delivery;
mod input;
pub mod keys;
pub mod mapping;
mod output;
mod progress;
pub mod subflow;

pub use config::MptcpConfig;
pub use connection::{MptcpConnection, MptcpStats, Phase, SubflowRequest};
