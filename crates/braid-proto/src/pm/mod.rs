//! The path manager: which subflows an MPTCP connection opens, and which addresses it
//! announces, decided as a pure policy after Linux's in-kernel path manager
//! (`ip mptcp endpoint` / `ip mptcp limits`; net/mptcp/pm_kernel.c), or by a program
//! through events and commands, after Linux's userspace path manager.
//!
//! One [`PathManager`] per connection. The connection reports events (established,
//! ADD_ADDR / echo / REMOVE_ADDR received, subflows up and down, local addresses
//! appearing and vanishing, RTT samples) and drains [`PmAction`]s with
//! [`poll_action`](PathManager::poll_action): open a subflow, announce or remove an
//! address, close subflows, change a backup flag. No I/O, no clock: the timers
//! (ADD_ADDR retransmission, re-creation of failed subflows) run on the `Instant`s
//! handed in ([`poll_timeout`](PathManager::poll_timeout) /
//! [`handle_timeout`](PathManager::handle_timeout)).
//!
//! The "enhanced API": whatever the mode, the path manager queues [`PmEvent`]s
//! ([`poll_event`](PathManager::poll_event); bounded, the oldest dropped and counted)
//! and takes commands ([`open_subflow`](PathManager::open_subflow),
//! [`announce`](PathManager::announce), [`remove_address`](PathManager::remove_address),
//! [`close_subflow`](PathManager::close_subflow), [`set_backup`](PathManager::set_backup)
//! / [`set_backup_id`](PathManager::set_backup_id)), checked and refused with a
//! [`PmCommandError`], carried out as the same `PmAction`s. [`PmMode::Kernel`] (the
//! default) runs the built-in policy besides; [`PmMode::Userspace`] leaves every
//! decision to the program.
//!
//! [`PmConfig`] holds the endpoints and limits, as Linux's are per network namespace.
//! braid departs from Linux's defaults in three places: it accepts announced
//! addresses (`add_addr_accepted` 8, not 0); it resends ADD_ADDR after 1 s rather
//! than 120 s before any RTT sample, and after [`ADD_ADDR_RTT_FACTOR`] RTTs (at least
//! [`MIN_ADD_ADDR_TIMEOUT`]) with one; and it re-creates failed subflows with
//! exponential backoff (`recreate_failed`). [`PmConfig::linux_defaults`] gives
//! Linux's. Where the policy itself differs, it is because braid has no routing table
//! to ask: a join to an announced address starts from the initial local address
//! (Linux lets routing pick the source), a server does not use `subflow` endpoints
//! (Linux tries, towards a client port nobody listens on), and an accepted address is
//! remembered even when no subflow to it could be opened.

mod commands;
mod config;
mod events;
mod manager;

pub use commands::PmCommandError;
pub use config::{
    EndpointFlags, PmConfig, PmConfigError, PmEndpoint, PmEndpointParseError, PmLimits, PmMode,
    ADD_ADDR_RTT_FACTOR, DEFAULT_ADD_ADDR_RETRANSMISSIONS, DEFAULT_ADD_ADDR_TIMEOUT,
    DEFAULT_RECREATE_ATTEMPTS, DEFAULT_RECREATE_DELAY, DEFAULT_RECREATE_MAX_DELAY,
    LINUX_ADD_ADDR_TIMEOUT, MAX_ENDPOINTS, MAX_LIMIT, MIN_ADD_ADDR_TIMEOUT,
};
pub use events::{PmEvent, MAX_EVENTS};
pub use manager::{PathManager, PmAction, Role, SubflowSelector};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_api;
#[cfg(test)]
mod tests_recreate;
