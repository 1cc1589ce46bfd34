//! What happens to an MPTCP connection, as events for programs that watch it (the
//! simulator's records, monitors), in the order it happened. The application's own
//! stream events are [`TcpEvent`](crate::tcp::TcpEvent)s.

use std::net::IpAddr;

use crate::mptcp::state::FallbackCause;
use crate::tcp::{CloseReason, SubflowId};

/// Something that happened to an MPTCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MptcpEvent {
    /// Both keys are known: MPTCP proper (RFC 8684 §3.1).
    Established,
    /// A subflow appeared: the first one, a join we opened, or a join we answered.
    SubflowOpened { subflow: SubflowId },
    /// Its MPTCP handshake completed (for a join, once the HMACs verified).
    SubflowEstablished { subflow: SubflowId },
    /// Its retransmission timer fired; `count` is its timeouts so far.
    SubflowTimeout { subflow: SubflowId, count: u64 },
    /// It is over for the connection: closed, reset, or timed out.
    SubflowClosed {
        subflow: SubflowId,
        reason: CloseReason,
    },
    /// The peer asked for the subflow to be used only as a backup, or no longer
    /// (MP_PRIO, §3.3.8).
    PeerPriority { subflow: SubflowId, backup: bool },
    /// Data was queued again for other subflows (§3.3.6).
    Reinjected { bytes: u64 },
    /// The peer announced an address (ADD_ADDR with a valid HMAC, §3.4.1).
    AddressAnnounced {
        id: u8,
        addr: IpAddr,
        port: Option<u16>,
    },
    /// The peer withdrew address ids (REMOVE_ADDR, §3.4.2).
    AddressRemoved { id: u8 },
    /// The connection continues as plain TCP (§3.7).
    Fallback { cause: FallbackCause },
}
