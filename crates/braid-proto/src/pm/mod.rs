//! The path manager: which subflows an MPTCP connection opens, and which addresses it
//! announces, decided as a pure policy after Linux's in-kernel path manager
//! (`ip mptcp endpoint` / `ip mptcp limits`; net/mptcp/pm_kernel.c).
//!
//! One [`PathManager`] per connection. The connection reports events (established,
//! ADD_ADDR / echo / REMOVE_ADDR received, subflows up and down, local addresses
//! appearing and vanishing) and drains [`PmAction`]s with
//! [`poll_action`](PathManager::poll_action): open a subflow, announce or remove an
//! address, close subflows, change a backup flag. No I/O, no clock: the only timer,
//! ADD_ADDR retransmission, runs on the `Instant`s handed in
//! ([`poll_timeout`](PathManager::poll_timeout) /
//! [`handle_timeout`](PathManager::handle_timeout)).
//!
//! [`PmConfig`] holds the endpoints and limits, as Linux's are per network namespace.
//! braid departs from Linux's defaults in one place: it accepts announced addresses
//! (`add_addr_accepted` 8, not 0), and resends ADD_ADDR after 1 s rather than 120 s;
//! [`PmConfig::linux_defaults`] gives Linux's. Where the policy itself differs, it is
//! because braid has no routing table to ask: a join to an announced address starts
//! from the initial local address (Linux lets routing pick the source), a server does
//! not use `subflow` endpoints (Linux tries, towards a client port nobody listens
//! on), and an accepted address is remembered even when no subflow to it could be
//! opened.

mod config;
mod manager;

pub use config::{
    EndpointFlags, PmConfig, PmConfigError, PmEndpoint, PmEndpointParseError, PmLimits,
    DEFAULT_ADD_ADDR_RETRANSMISSIONS, DEFAULT_ADD_ADDR_TIMEOUT, LINUX_ADD_ADDR_TIMEOUT,
    MAX_ENDPOINTS, MAX_LIMIT,
};
pub use manager::{PathManager, PmAction, Role, SubflowSelector};

#[cfg(test)]
mod tests;
