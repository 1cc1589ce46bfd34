//! [`PmEvent`]: what the path manager reports, so that a program can follow a
//! connection's paths, or decide them itself ([`PmMode::Userspace`](super::PmMode)),
//! as Linux's `mptcp_pm` netlink events let mptcpd do (MPTCP_EVENT_ESTABLISHED,
//! MPTCP_EVENT_ANNOUNCED, MPTCP_EVENT_REMOVED, MPTCP_EVENT_SUB_ESTABLISHED,
//! MPTCP_EVENT_SUB_CLOSED, ...).
//!
//! Events report what the connection, the peer and the network did. A command's own
//! effects are not echoed back, except through what follows from them (a commanded
//! subflow is reported when it is established and when it closes).

use std::net::{IpAddr, SocketAddr};

/// Events queued at most; when the queue is full the oldest is dropped and counted
/// ([`PathManager::dropped_events`](super::PathManager::dropped_events)). Enough for
/// every address and subflow a connection may have to change at once, several times.
pub const MAX_EVENTS: usize = 64;

/// Something that happened to the connection's paths.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PmEvent {
    /// The MPTCP connection is established over its initial subflow.
    Established {
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// A subflow finished its MP_JOIN handshake, ours or the peer's. `backup`: the
    /// flag ours was opened with (or last set), or for the peer's join our address's
    /// backup flag (what our SYN-ACK carried).
    SubflowEstablished {
        local: SocketAddr,
        remote: SocketAddr,
        local_id: u8,
        remote_id: u8,
        backup: bool,
    },
    /// A subflow the path manager knew closed: `failed` when it was reset or timed
    /// out (or never got through its handshake) rather than closed in order. Also
    /// sent for subflows whose establishment was never reported.
    SubflowClosed {
        local: SocketAddr,
        remote: SocketAddr,
        failed: bool,
    },
    /// The peer announced an address (ADD_ADDR). `port: None` means the initial
    /// subflow's port (RFC 8684 §3.4.1). Reported whether or not the built-in policy
    /// takes it; a resend of an address already taken under the same id is not.
    AddressAnnounced {
        id: u8,
        addr: IpAddr,
        port: Option<u16>,
    },
    /// The peer removed its address `id` (REMOVE_ADDR); subflows to it are being
    /// closed.
    AddressRemoved { id: u8 },
    /// The peer echoed our announcement of `id`.
    AnnounceEchoed { id: u8 },
    /// Our announcement of `id` was resent as often as allowed without an echo; it
    /// is not sent again.
    AnnounceUnanswered { id: u8 },
    /// A local address appeared (`add_local_address`) under our id `id` (0: the
    /// initial subflow's address).
    LocalAddressAdded {
        id: u8,
        addr: IpAddr,
        port: Option<u16>,
    },
    /// A local address went away (`remove_local_address`); one event per id of ours
    /// on it.
    LocalAddressRemoved { id: u8, addr: IpAddr },
}
