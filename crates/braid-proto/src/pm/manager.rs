//! [`PathManager`]: one connection's path policy, after Linux's in-kernel path manager
//! (net/mptcp/pm_kernel.c and pm.c).
//!
//! It keeps three small tables, all bounded by the limits: our endpoints (with what
//! each has done: announced, opened its subflow), the peer's addresses (its initial
//! one, id 0, and those it announced and we accepted), and the subflows (the initial
//! one, those we asked for and those the peer opened). Every extra subflow in the table
//! counts against `limits.subflows`, whether pending, established, ours or the peer's;
//! it stops counting when it closes or when we ask for it to be closed, as in Linux.
//! Subflows we asked to close stay in the table, uncounted, until their closing is
//! reported, so that a late report is not taken for a newer subflow between the same
//! addresses.
//!
//! A fourth table holds re-creations of failed subflows: one per pair of local and
//! peer address, waiting out its backoff, waiting for a place under the limit, or
//! re-created and waiting to be established (which clears it). Removing either
//! address removes it.
//!
//! Two timers run on the `Instant`s handed in: ADD_ADDR resends (each due a resend
//! interval after the last transmission, the interval following the latest RTT
//! sample) and re-creations. Calls that carry no time (a subflow closing, an echo)
//! leave work "due now": [`PathManager::poll_timeout`] then reports the latest time
//! seen, and the next `handle_timeout` starts the backoff or sends the announcement.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use super::config::{
    lowest_free_id, PmConfig, PmEndpoint, PmMode, ADD_ADDR_RTT_FACTOR, MAX_ENDPOINTS, MAX_LIMIT,
    MIN_ADD_ADDR_TIMEOUT,
};
use super::events::{PmEvent, MAX_EVENTS};
use crate::time::{Duration, Instant};

/// Subflows kept after we asked for them to be closed, waiting for the report of
/// their closing: more than the limits allow at once, so only a caller that never
/// reports closings makes the oldest fall out.
const MAX_CLOSING_SUBFLOWS: usize = 4 * MAX_LIMIT as usize;

/// Re-creations remembered at once: more than there are subflows under the limits,
/// so only failures of many different pairs in a row make the oldest fall out.
const MAX_RETRIES: usize = 4 * MAX_LIMIT as usize;

/// Which side of the connection we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We opened the connection: `subflow` endpoints open extra subflows.
    Client,
    /// We accepted it: `subflow` endpoints are not used, since a join towards the
    /// client's initial address and port meets no listener there.
    Server,
}

/// Something the connection should do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PmAction {
    /// Open a subflow (MP_JOIN) from `local` (port 0: any free port) to `remote`.
    /// `local_id` is our address id for it, `remote_id` the peer's (0 for its initial
    /// address); `backup` sets the MP_JOIN B flag.
    OpenSubflow {
        local: SocketAddr,
        remote: SocketAddr,
        local_id: u8,
        remote_id: u8,
        backup: bool,
    },
    /// Send ADD_ADDR for our address `id`. Resends of the same announcement come as
    /// further `Announce` actions until the peer echoes it.
    Announce {
        id: u8,
        addr: IpAddr,
        port: Option<u16>,
    },
    /// Send REMOVE_ADDR for these ids of ours (on a subflow that stays open).
    RemoveAddress { ids: Vec<u8> },
    /// Close (RST or FIN, the connection's choice) the subflows `which` selects. They
    /// no longer count against the limits; report their closing as for any subflow.
    CloseSubflows { which: SubflowSelector },
    /// Send MP_PRIO with this backup flag on every subflow from our address `local_id`.
    SetBackup { local_id: u8, backup: bool },
    /// Our address `id` is back before its REMOVE_ADDR could go out: drop that
    /// REMOVE_ADDR (the peer must not close the subflows that use it again).
    KeepAddress { id: u8 },
}

/// Which subflows a [`PmAction::CloseSubflows`] means.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubflowSelector {
    /// Those towards a peer address with one of these ids (the peer removed them).
    RemoteIds(Vec<u8>),
    /// Those from this local address (it went away), the initial subflow included.
    LocalAddr(IpAddr),
    /// Exactly this one.
    Exact {
        local: SocketAddr,
        remote: SocketAddr,
    },
}

/// One MPTCP connection's path manager: events in, [`PmAction`]s and [`PmEvent`]s
/// out.
#[derive(Debug, Clone)]
pub struct PathManager {
    pub(super) config: PmConfig,
    role: Role,
    pub(super) initial_local: SocketAddr,
    initial_remote: SocketAddr,
    pub(super) established: bool,
    /// The initial subflow's address went away (`remove_local_address`, or
    /// `remove_address(0)`): nothing is opened from it until it comes back
    /// (`add_local_address` with an endpoint on it), as id 0 again.
    pub(super) initial_local_removed: bool,
    /// Our ids whose REMOVE_ADDR we asked for: if the address comes back first, the
    /// withdrawal is cancelled ([`PmAction::KeepAddress`]).
    withdrawn_ids: Vec<u8>,
    pub(super) locals: Vec<LocalEndpoint>,
    pub(super) remotes: Vec<RemoteAddress>,
    pub(super) subflows: Vec<TrackedSubflow>,
    pub(super) retries: Vec<Retry>,
    /// The latest time handed in: what `poll_timeout` reports when work is due now.
    latest_now: Instant,
    /// The next announcement may go, but the event that allowed it carried no time;
    /// `handle_timeout` sends it.
    announce_due: bool,
    /// The latest smoothed RTT handed in (`on_rtt_sample`).
    rtt: Option<Duration>,
    failed_subflows: u64,
    recreated_subflows: u64,
    pub(super) actions: VecDeque<PmAction>,
    events: VecDeque<PmEvent>,
    dropped_events: u64,
}

#[derive(Debug, Clone)]
pub(super) struct LocalEndpoint {
    pub(super) endpoint: PmEndpoint,
    /// The `subflow` rule has used this endpoint, or it is the initial subflow's
    /// address while that address is in use (Linux's `mptcp_mpc_endpoint_setup`).
    /// Linux never uses an endpoint twice per connection; a failed subflow comes back
    /// through a re-creation instead. An endpoint removed and added again is new.
    subflow_used: bool,
    pub(super) announcement: Announcement,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Announcement {
    NotYet,
    /// Sent and not echoed; resent a resend interval after `sent_at` (never when
    /// `add_addr_timeout` is zero).
    Outstanding {
        sent_at: Instant,
        resends: u8,
    },
    Echoed,
    /// Resent as often as allowed without an echo; the next one went ahead.
    Unanswered,
}

impl Announcement {
    pub(super) fn was_sent(self) -> bool {
        self != Announcement::NotYet
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct RemoteAddress {
    pub(super) id: u8,
    /// With the port resolved: an ADD_ADDR without one means the initial port.
    pub(super) addr: SocketAddr,
    /// Subflows towards it were considered (on receipt, or at establishment).
    join_considered: bool,
    /// A join we opened to it failed: none is tried again until the peer announces
    /// it again (RFC 8684 §3.4.1).
    join_failed: bool,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct TrackedSubflow {
    /// Port 0 until a subflow we asked for is established.
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    pub(super) local_id: u8,
    pub(super) remote_id: u8,
    pub(super) established: bool,
    /// The MP_CAPABLE subflow: not counted against `limits.subflows`.
    pub(super) initial: bool,
    /// We asked for it (policy, command or re-creation), rather than the peer.
    pub(super) ours: bool,
    /// The backup flag it was opened with, or last set (MP_PRIO).
    pub(super) backup: bool,
    /// We asked for it to be closed: not counted, and no longer a path.
    pub(super) closing: bool,
}

impl TrackedSubflow {
    pub(super) fn is_live(&self) -> bool {
        !self.closing
    }

    /// A live subflow that counts against `limits.subflows`.
    pub(super) fn is_extra(&self) -> bool {
        !self.initial && !self.closing
    }
}

/// A failed subflow to open again, between the same addresses with the same ids.
#[derive(Debug, Clone, Copy)]
pub(super) struct Retry {
    /// Port 0: any free port, as for every subflow we open.
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    pub(super) local_id: u8,
    pub(super) remote_id: u8,
    pub(super) backup: bool,
    /// Re-creations made since the pair was last established.
    attempts: u8,
    state: RetryState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RetryState {
    /// The subflow failed during a call without time: the next `handle_timeout`
    /// starts the wait.
    Arming {
        delay: Duration,
    },
    Waiting {
        until: Instant,
    },
    /// Due, but the limit left no place: re-created when one frees.
    Blocked,
    /// Re-created; waiting for it to be established or to fail.
    Reopened,
    /// Closed because its local address went away: re-created as soon as the
    /// address is back (a link that went down and came up again), without backoff.
    AddressGone,
}

impl PathManager {
    /// A path manager for a connection between `initial_local` and `initial_remote`.
    ///
    /// `config` should have passed [`PmConfig::validate`]; here, limits above the
    /// maximum are lowered to it, a zero `recreate_delay` is taken as 1 ms and a
    /// smaller `recreate_max_delay` as `recreate_delay`, endpoints without an id get
    /// one, and endpoints that are invalid, repeat an id or address, or come after the
    /// eighth are left out. In [`PmMode::Userspace`] the endpoints only give ids and
    /// backup flags to our addresses; their `signal`, `subflow` and `fullmesh` flags
    /// are not acted on.
    pub fn new(
        config: PmConfig,
        role: Role,
        initial_local: SocketAddr,
        initial_remote: SocketAddr,
    ) -> Self {
        let mut config = config;
        config.limits.subflows = config.limits.subflows.min(MAX_LIMIT);
        config.limits.add_addr_accepted = config.limits.add_addr_accepted.min(MAX_LIMIT);
        config.recreate_delay = config.recreate_delay.max(Duration::from_millis(1));
        config.recreate_max_delay = config.recreate_max_delay.max(config.recreate_delay);
        let endpoints = std::mem::take(&mut config.endpoints);
        let mut manager = PathManager {
            config,
            role,
            initial_local,
            initial_remote,
            established: false,
            initial_local_removed: false,
            withdrawn_ids: Vec::new(),
            locals: Vec::new(),
            remotes: vec![RemoteAddress {
                id: 0,
                addr: initial_remote,
                join_considered: true,
                join_failed: false,
            }],
            subflows: vec![TrackedSubflow {
                local: initial_local,
                remote: initial_remote,
                local_id: 0,
                remote_id: 0,
                established: true,
                initial: true,
                ours: role == Role::Client,
                backup: false,
                closing: false,
            }],
            retries: Vec::new(),
            latest_now: Instant::ZERO,
            announce_due: false,
            rtt: None,
            failed_subflows: 0,
            recreated_subflows: 0,
            actions: VecDeque::new(),
            events: VecDeque::new(),
            dropped_events: 0,
        };
        for endpoint in endpoints {
            manager.insert_endpoint(endpoint);
        }
        manager
    }

    /// The MPTCP connection is established (MP_CAPABLE done, not fallen back): start
    /// announcing and opening subflows. Later calls do nothing.
    pub fn on_established(&mut self, now: Instant) {
        self.note_time(now);
        if self.established {
            return;
        }
        self.established = true;
        self.emit(PmEvent::Established {
            local: self.initial_local,
            remote: self.initial_remote,
        });
        if !self.is_kernel() {
            return;
        }
        let initial_backup = self.backup_of(self.initial_local.ip());
        for subflow in self.subflows.iter_mut().filter(|s| s.initial) {
            subflow.backup = initial_backup;
        }
        // Linux (`mptcp_mpc_endpoint_setup`): the endpoint of the initial subflow's
        // address is in use already, and its backup flag goes out as MP_PRIO.
        if let Some(local) = self
            .locals
            .iter()
            .find(|l| self.is_initial_local(&l.endpoint))
        {
            if local.endpoint.flags.backup {
                self.actions.push_back(PmAction::SetBackup {
                    local_id: 0,
                    backup: true,
                });
            }
        }
        self.progress(Some(now));
    }

    /// The peer announced an address (ADD_ADDR, HMAC verified). Echoing it is the
    /// connection's job and happens whatever is decided here (RFC 8684 §3.4.1: every
    /// ADD_ADDR is acknowledged by an echo; Linux echoes even those it ignores).
    ///
    /// Reported as [`PmEvent::AddressAnnounced`] unless it repeats an address
    /// remembered under the same id (a resend). Remembered within the limits
    /// ([`PmMode::Kernel`]) or up to [`MAX_LIMIT`] addresses ([`PmMode::Userspace`],
    /// where nothing is joined unless commanded).
    pub fn on_add_addr(&mut self, now: Instant, id: u8, ip: IpAddr, port: Option<u16>) {
        self.note_time(now);
        // RFC 8684 §3.4.1: a port left out means the port of the initial subflow.
        let addr = SocketAddr::new(ip, port.unwrap_or(self.initial_remote.port()));
        // Id 0 is the peer's initial address, which we know already; Linux ignores an
        // id 0 announcing anything else.
        if id == 0 {
            return;
        }
        if let Some(known) = self
            .remotes
            .iter_mut()
            .find(|r| r.id == id && same_socket(r.addr, addr))
        {
            // A resend, or the address announced again after a join to it failed:
            // then it may be joined again (RFC 8684 §3.4.1).
            if std::mem::take(&mut known.join_failed) {
                known.join_considered = false;
                self.progress(Some(now));
            }
            return;
        }
        self.emit(PmEvent::AddressAnnounced { id, addr: ip, port });
        // A second address for an id we have, or a second id for an address we
        // have: nothing new.
        if self
            .remotes
            .iter()
            .any(|r| r.id == id || same_socket(r.addr, addr))
        {
            return;
        }
        let room = if self.is_kernel() {
            // Linux accepts announcements only while both limits leave room.
            self.accepted_addresses() < usize::from(self.config.limits.add_addr_accepted)
                && self.config.limits.subflows > 0
        } else {
            self.accepted_addresses() < usize::from(MAX_LIMIT)
        };
        if !room {
            return;
        }
        self.remotes.push(RemoteAddress {
            id,
            addr,
            join_considered: false,
            join_failed: false,
        });
        self.progress(Some(now));
    }

    /// The peer echoed our ADD_ADDR for `id`: stop resending it and let the next
    /// announcement go (from the next `handle_timeout`, as this call carries no time).
    /// The caller checks that the echo names the address announced under `id`
    /// ([`announced_address`](Self::announced_address)).
    ///
    /// The first echo of each announcement is reported as [`PmEvent::AnnounceEchoed`].
    pub fn on_add_addr_echo(&mut self, id: u8) {
        let Some(local) = self
            .locals
            .iter_mut()
            .find(|l| l.endpoint.id == id && l.announcement.was_sent())
        else {
            return;
        };
        let before = local.announcement;
        local.announcement = Announcement::Echoed;
        if before != Announcement::Echoed {
            self.emit(PmEvent::AnnounceEchoed { id });
        }
        if matches!(before, Announcement::Outstanding { .. }) {
            self.progress(None);
        }
    }

    /// The peer removed addresses (REMOVE_ADDR): close the subflows to them, forget
    /// them (re-creations towards them included), and free their places in
    /// `limits.add_addr_accepted`. Id 0 removes the peer's initial address. In both
    /// modes (RFC 8684 §3.4.2: subflows using a removed address are closed); each id
    /// is reported once as [`PmEvent::AddressRemoved`].
    pub fn on_remove_addr(&mut self, ids: &[u8]) {
        let mut closed = Vec::new();
        let mut seen = Vec::new();
        for &id in ids {
            if seen.contains(&id) {
                continue;
            }
            seen.push(id);
            self.emit(PmEvent::AddressRemoved { id });
            if self.mark_closing(|s| s.remote_id == id) {
                closed.push(id);
            }
            self.remotes.retain(|r| r.id != id);
            self.retries.retain(|r| r.remote_id != id);
        }
        if !closed.is_empty() {
            self.actions.push_back(PmAction::CloseSubflows {
                which: SubflowSelector::RemoteIds(closed),
            });
        }
        self.progress(None);
    }

    /// A subflow finished its MP_JOIN handshake, ours or the peer's: reported as
    /// [`PmEvent::SubflowEstablished`] (unless we asked for it to close), and a
    /// re-creation of the pair has succeeded (its backoff starts again).
    pub fn on_subflow_established(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        local_id: u8,
        remote_id: u8,
    ) {
        if let Some(index) = self.find_subflow(local, remote) {
            // Ours, now with its port (kept while closing, for the closing report).
            let ours = &mut self.subflows[index];
            let was_established = ours.established;
            ours.local = local;
            ours.established = true;
            let ours = *ours;
            if ours.closing {
                // Asked to close before the connection had opened it, so the request
                // found nothing: now it can be named.
                if !was_established {
                    self.actions.push_back(PmAction::CloseSubflows {
                        which: SubflowSelector::Exact { local, remote },
                    });
                }
                return;
            }
            let tracked = &mut self.subflows[index];
            tracked.local_id = local_id;
            tracked.remote_id = remote_id;
            self.forget_retry(local.ip(), remote);
            if !was_established {
                self.emit(PmEvent::SubflowEstablished {
                    local,
                    remote,
                    local_id,
                    remote_id,
                    backup: ours.backup,
                });
            }
            return;
        }
        // The peer's join. `may_accept_join` should have kept us within the limit; if
        // several joins were let in at once, those beyond it are closed.
        if self.extra_subflows() >= usize::from(self.config.limits.subflows) {
            self.actions.push_back(PmAction::CloseSubflows {
                which: SubflowSelector::Exact { local, remote },
            });
            return;
        }
        let backup = self.backup_of(local.ip());
        self.subflows.push(TrackedSubflow {
            local,
            remote,
            local_id,
            remote_id,
            established: true,
            initial: false,
            ours: false,
            backup,
            closing: false,
        });
        self.emit(PmEvent::SubflowEstablished {
            local,
            remote,
            local_id,
            remote_id,
            backup,
        });
    }

    /// A subflow closed (`failed`: reset or timed out rather than closed in order),
    /// reported as [`PmEvent::SubflowClosed`]. Its place is free again, which lets
    /// endpoints the limit held back open theirs (Linux's
    /// `mptcp_pm_subflow_check_next`). With `recreate_failed` ([`PmMode::Kernel`]), a
    /// failed subflow we opened to the peer's initial address, or a client's initial
    /// one, is opened again after a backoff (see [`PmConfig::recreate_delay`]); one to
    /// an address the peer announced only when it is announced again; a subflow we
    /// asked to close never.
    pub fn on_subflow_closed(&mut self, local: SocketAddr, remote: SocketAddr, failed: bool) {
        let Some(index) = self.find_subflow(local, remote) else {
            return;
        };
        let closed = self.subflows.remove(index);
        self.emit(PmEvent::SubflowClosed {
            local,
            remote,
            failed,
        });
        if closed.closing {
            // Its place was freed when we asked for it to close.
            return;
        }
        if failed {
            self.failed_subflows += 1;
            let announced = self
                .remotes
                .iter_mut()
                .find(|r| closed.ours && closed.remote_id != 0 && r.id == closed.remote_id);
            if let Some(remote) = announced {
                // §3.4.1: a failed join to an announced address is not tried again
                // until the address is announced again; re-creation with backoff is
                // for subflows to the peer's initial address.
                remote.join_failed = true;
                self.forget_retry(closed.local.ip(), closed.remote);
            } else if self.may_recreate(&closed) {
                self.schedule_retry(&closed);
            } else {
                self.forget_retry(closed.local.ip(), closed.remote);
            }
        } else {
            self.forget_retry(closed.local.ip(), closed.remote);
        }
        self.progress(None);
    }

    /// May the joining SYN that just arrived open another subflow? Linux counts the
    /// peer's joins against the same `subflows` limit, and takes none before the
    /// connection is established.
    pub fn may_accept_join(&self) -> bool {
        self.established && self.extra_subflows() < usize::from(self.config.limits.subflows)
    }

    /// A local address appeared (or was configured at run time, like `ip mptcp
    /// endpoint add` on a live connection). Id 0 gets the lowest free id. Ignored if
    /// the endpoint is invalid, its address and port are already an endpoint, or
    /// there are [`MAX_ENDPOINTS`] already; otherwise reported as
    /// [`PmEvent::LocalAddressAdded`], and in [`PmMode::Userspace`] only recorded.
    ///
    /// The initial subflow's address, removed and now back, is id 0 again; its
    /// endpoint is used like a new one (a `subflow` endpoint opens a join from it).
    pub fn add_local_address(&mut self, now: Instant, endpoint: PmEndpoint) {
        self.note_time(now);
        if let Some(index) = self.insert_endpoint(endpoint) {
            let endpoint = self.locals[index].endpoint;
            if self.is_initial_local(&endpoint) && self.initial_local_removed {
                // The initial subflow's address is back (a link-down event is over).
                // Its subflow is gone; the endpoint, new, acts like any other: a
                // `subflow` one opens a join from it. RFC 8684 §3.4.1 keeps id 0 for
                // this address, and Linux reuses it (`mpc_endpoint_id`, the id 0
                // bit made available again by `mptcp_nl_remove_id_zero_address`).
                self.initial_local_removed = false;
            }
            self.keep_address(self.wire_id(&endpoint));
            if endpoint.flags.subflow {
                // The endpoint opens its subflow itself; re-creating what the
                // address lost as well would open it twice.
                self.retries.retain(|r| {
                    !(r.state == RetryState::AddressGone && same_ip(r.local.ip(), endpoint.addr))
                });
            }
            self.emit(PmEvent::LocalAddressAdded {
                id: self.wire_id(&endpoint),
                addr: endpoint.addr,
                port: endpoint.port,
            });
            self.progress(Some(now));
        }
    }

    /// A local address that is not an endpoint is back: the initial subflow's, after
    /// its interface went down and came up again. Nothing new is opened from it;
    /// subflows lost when it went away are re-created (see `recreate_failed`).
    pub fn local_address_back(&mut self, now: Instant, addr: IpAddr) {
        self.note_time(now);
        if same_ip(addr, self.initial_local.ip()) && self.initial_local_removed {
            self.initial_local_removed = false;
            self.keep_address(0);
            self.emit(PmEvent::LocalAddressAdded {
                id: 0,
                addr,
                port: None,
            });
        }
        self.progress(Some(now));
    }

    /// A local address went away. Our ids on it that the peer knows (announced, or
    /// used by subflows) go out in REMOVE_ADDR, then its subflows close; id 0 when it
    /// is the initial subflow's address (Linux: `mptcp_nl_remove_subflow_and_signal_addr`
    /// and `mptcp_nl_remove_id_zero_address`). Freed places go to other endpoints;
    /// nothing is re-created from the address. Each of our ids on it is reported as
    /// [`PmEvent::LocalAddressRemoved`]; in [`PmMode::Userspace`] that is all (the
    /// program withdraws it with [`remove_address`](Self::remove_address)). The
    /// address may come back through [`add_local_address`](Self::add_local_address).
    pub fn remove_local_address(&mut self, addr: IpAddr) {
        let mut removed: Vec<u8> = Vec::new();
        for local in self
            .locals
            .iter()
            .filter(|l| same_ip(l.endpoint.addr, addr))
        {
            let id = self.wire_id(&local.endpoint);
            if !removed.contains(&id) {
                removed.push(id);
            }
        }
        if same_ip(addr, self.initial_local.ip())
            && !self.initial_local_removed
            && !removed.contains(&0)
        {
            removed.push(0);
        }
        for &id in &removed {
            self.emit(PmEvent::LocalAddressRemoved { id, addr });
        }
        if !self.is_kernel() {
            return;
        }
        if same_ip(addr, self.initial_local.ip()) {
            self.initial_local_removed = true;
        }
        self.await_address(addr);
        let has_subflows = self
            .subflows
            .iter()
            .any(|s| s.is_live() && same_ip(s.local.ip(), addr));
        let mut ids = Vec::new();
        for local in self
            .locals
            .iter()
            .filter(|l| same_ip(l.endpoint.addr, addr))
        {
            let id = self.wire_id(&local.endpoint);
            if (local.announcement.was_sent() || has_subflows) && !ids.contains(&id) {
                ids.push(id);
            }
        }
        if has_subflows && same_ip(addr, self.initial_local.ip()) && !ids.contains(&0) {
            ids.push(0);
        }
        self.locals.retain(|l| !same_ip(l.endpoint.addr, addr));
        if !ids.is_empty() {
            for &id in &ids {
                if !self.withdrawn_ids.contains(&id) {
                    self.withdrawn_ids.push(id);
                }
            }
            self.actions.push_back(PmAction::RemoveAddress { ids });
        }
        if self.mark_closing(|s| same_ip(s.local.ip(), addr)) {
            self.actions.push_back(PmAction::CloseSubflows {
                which: SubflowSelector::LocalAddr(addr),
            });
        }
        self.progress(None);
    }

    /// Marks subflows from `addr` as backup or not (MP_PRIO), like `ip mptcp endpoint
    /// change ADDR backup|nobackup`; the endpoint's flag applies to later subflows
    /// (re-creations included). A command as much as a hook: the same in both modes.
    pub fn set_backup(&mut self, addr: IpAddr, backup: bool) {
        for local in self.locals.iter_mut() {
            if same_ip(local.endpoint.addr, addr) {
                local.endpoint.flags.backup = backup;
            }
        }
        for retry in self.retries.iter_mut() {
            if same_ip(retry.local.ip(), addr) {
                retry.backup = backup;
            }
        }
        let mut local_ids: Vec<u8> = Vec::new();
        for subflow in self.subflows.iter_mut() {
            if subflow.is_live() && same_ip(subflow.local.ip(), addr) {
                subflow.backup = backup;
                if !local_ids.contains(&subflow.local_id) {
                    local_ids.push(subflow.local_id);
                }
            }
        }
        for local_id in local_ids {
            self.actions
                .push_back(PmAction::SetBackup { local_id, backup });
        }
    }

    /// The next thing to do, in the order decided.
    pub fn poll_action(&mut self) -> Option<PmAction> {
        self.actions.pop_front()
    }

    /// The next event, oldest first. Events are queued in both modes, at most
    /// [`MAX_EVENTS`] of them: when full, the oldest is dropped and counted
    /// ([`dropped_events`](Self::dropped_events)).
    pub fn poll_event(&mut self) -> Option<PmEvent> {
        self.events.pop_front()
    }

    /// Events dropped because nobody polled them in time.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// A smoothed RTT of the connection (the first subflow's): ADD_ADDR resends then
    /// wait [`ADD_ADDR_RTT_FACTOR`] × `rtt`, at least [`MIN_ADD_ADDR_TIMEOUT`] and at
    /// most `add_addr_timeout`, instead of `add_addr_timeout`. The latest sample
    /// counts, for announcements already outstanding too.
    pub fn on_rtt_sample(&mut self, rtt: Duration) {
        self.rtt = Some(rtt);
    }

    /// How long an unechoed ADD_ADDR waits before it is resent; `None` when
    /// `add_addr_timeout` is zero (each is sent once).
    pub fn add_addr_resend_timeout(&self) -> Option<Duration> {
        let ceiling = self.config.add_addr_timeout;
        if ceiling == Duration::ZERO {
            return None;
        }
        Some(match self.rtt {
            Some(rtt) => rtt
                .saturating_mul(ADD_ADDR_RTT_FACTOR)
                .max(MIN_ADD_ADDR_TIMEOUT)
                .min(ceiling),
            None => ceiling,
        })
    }

    /// When `handle_timeout` must next be called: an ADD_ADDR resend or a
    /// re-creation, or (an instant already reached) work that became due during a
    /// call without time.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let arming = self
            .retries
            .iter()
            .any(|r| matches!(r.state, RetryState::Arming { .. }));
        if self.announce_due || arming {
            return Some(self.latest_now);
        }
        let timeout = self.add_addr_resend_timeout();
        let resends = self.locals.iter().filter_map(|l| match l.announcement {
            Announcement::Outstanding { sent_at, .. } => timeout.map(|t| sent_at + t),
            _ => None,
        });
        let retries = self.retries.iter().filter_map(|r| match r.state {
            RetryState::Waiting { until } => Some(until),
            _ => None,
        });
        resends.chain(retries).min()
    }

    /// Resends an unechoed ADD_ADDR whose time has come, or gives up on it after
    /// `add_addr_retransmissions` resends and announces the next address (as Linux's
    /// `mptcp_pm_add_timer` does once `ADD_ADDR_RETRANS_MAX` is reached); starts the
    /// backoff of subflows that failed since the last call, and re-creates those
    /// whose wait is over.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.note_time(now);
        let max_resends = self.config.add_addr_retransmissions;
        let mut unanswered = Vec::new();
        if let Some(timeout) = self.add_addr_resend_timeout() {
            for local in self.locals.iter_mut() {
                let Announcement::Outstanding { sent_at, resends } = local.announcement else {
                    continue;
                };
                if sent_at + timeout > now {
                    continue;
                }
                // RFC 8684 §3.4.1: ADD_ADDR travels unreliably (on ACKs), hence the
                // echo; without it the announcement is sent again.
                let mut resends = resends;
                if resends < max_resends {
                    self.actions.push_back(PmAction::Announce {
                        id: local.endpoint.id,
                        addr: local.endpoint.addr,
                        port: local.endpoint.port,
                    });
                    resends += 1;
                }
                local.announcement = if resends >= max_resends {
                    unanswered.push(local.endpoint.id);
                    Announcement::Unanswered
                } else {
                    Announcement::Outstanding {
                        sent_at: now,
                        resends,
                    }
                };
            }
        }
        for id in unanswered {
            self.emit(PmEvent::AnnounceUnanswered { id });
        }
        for retry in self.retries.iter_mut() {
            if let RetryState::Arming { delay } = retry.state {
                retry.state = RetryState::Waiting { until: now + delay };
            }
        }
        self.progress(Some(now));
    }

    /// Extra subflows counted against `limits.subflows` (pending ones included).
    pub fn extra_subflows(&self) -> usize {
        self.subflows.iter().filter(|s| s.is_extra()).count()
    }

    /// Peer addresses accepted from ADD_ADDR and not removed since.
    pub fn accepted_addresses(&self) -> usize {
        self.remotes.iter().filter(|r| r.id != 0).count()
    }

    /// The peer address known under `id` (0: its initial address, until removed).
    pub fn remote_address(&self, id: u8) -> Option<SocketAddr> {
        self.remotes.iter().find(|r| r.id == id).map(|r| r.addr)
    }

    /// The address and port announced under our `id`, if announced: what an echo
    /// must carry (RFC 8684 §3.4.1).
    pub fn announced_address(&self, id: u8) -> Option<(IpAddr, Option<u16>)> {
        self.locals
            .iter()
            .find(|l| l.endpoint.id == id && l.announcement.was_sent())
            .map(|l| (l.endpoint.addr, l.endpoint.port))
    }

    /// Our address id for `addr`, for the peer's joins to it: 0 for the initial
    /// subflow's address, the endpoint's id otherwise, `None` if it is neither.
    pub fn local_address_id(&self, addr: IpAddr) -> Option<u8> {
        if same_ip(addr, self.initial_local.ip()) {
            return Some(0);
        }
        self.locals
            .iter()
            .find(|l| same_ip(l.endpoint.addr, addr))
            .map(|l| l.endpoint.id)
    }

    /// Whether subflows from `addr` are backups (an endpoint with the backup flag):
    /// the B flag for the peer's joins to it (Linux's `mptcp_pm_nl_is_backup`).
    pub fn is_backup_address(&self, addr: IpAddr) -> bool {
        self.backup_of(addr)
    }

    /// Subflows reported closed with `failed` set.
    pub fn failed_subflows(&self) -> u64 {
        self.failed_subflows
    }

    /// Failed subflows opened again (each re-creation counts).
    pub fn recreated_subflows(&self) -> u64 {
        self.recreated_subflows
    }

    /// Failed subflows waiting to be re-created, or re-created and not yet
    /// established: (local address with port 0, peer address).
    pub fn pending_recreations(&self) -> impl Iterator<Item = (SocketAddr, SocketAddr)> + '_ {
        self.retries.iter().map(|r| (r.local, r.remote))
    }

    /// The mode the path manager runs in.
    pub fn mode(&self) -> PmMode {
        self.config.mode
    }

    /// The endpoints in use, with the ids they were given.
    pub fn local_endpoints(&self) -> impl Iterator<Item = &PmEndpoint> {
        self.locals.iter().map(|l| &l.endpoint)
    }

    // ---------------------------------------------------------------- internals

    pub(super) fn note_time(&mut self, now: Instant) {
        self.latest_now = self.latest_now.max(now);
    }

    pub(super) fn is_kernel(&self) -> bool {
        self.config.mode == PmMode::Kernel
    }

    /// Queues an event, dropping the oldest when the queue is full.
    pub(super) fn emit(&mut self, event: PmEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
            self.dropped_events += 1;
        }
        self.events.push_back(event);
    }

    /// Adds an endpoint if it fits; its index if added.
    pub(super) fn insert_endpoint(&mut self, endpoint: PmEndpoint) -> Option<usize> {
        let mut endpoint = endpoint;
        if endpoint.validate().is_err()
            || self.locals.len() >= MAX_ENDPOINTS
            || self
                .locals
                .iter()
                .any(|l| l.endpoint.same_address(&endpoint))
        {
            return None;
        }
        if endpoint.id == 0 || self.locals.iter().any(|l| l.endpoint.id == endpoint.id) {
            endpoint.id = lowest_free_id(self.locals.iter().map(|l| l.endpoint.id))?;
        }
        // Linux (`mptcp_mpc_endpoint_setup`): the endpoint of the initial subflow's
        // address is in use already, unless that address went away.
        let subflow_used = self.is_initial_local(&endpoint) && !self.initial_local_removed;
        self.locals.push(LocalEndpoint {
            endpoint,
            subflow_used,
            announcement: Announcement::NotYet,
        });
        Some(self.locals.len() - 1)
    }

    /// Does whatever the current state allows, in Linux's order
    /// (`mptcp_pm_create_subflow_or_signal_addr`): announce, then open subflows;
    /// then re-create failed subflows whose wait is over, in the places left. Only the
    /// built-in policy ([`PmMode::Kernel`]) acts.
    pub(super) fn progress(&mut self, now: Option<Instant>) {
        if !self.established || !self.is_kernel() {
            return;
        }
        self.announce_next(now);
        if self.role == Role::Client {
            self.open_endpoint_subflows();
        }
        self.join_announced_addresses();
        self.reopen_due_retries();
    }

    /// Whether a failed subflow is opened again: the policy's option, for subflows
    /// we opened (a server's initial subflow goes to the client's ephemeral port,
    /// where nobody listens for joins, so only a client's), between addresses still
    /// in use.
    fn may_recreate(&self, closed: &TrackedSubflow) -> bool {
        self.is_kernel()
            && self.established
            && self.config.recreate_failed
            && self.config.recreate_attempts > 0
            && closed.ours
            && self.local_usable(closed.local.ip())
            && self.remote_known(closed.remote_id, closed.remote)
    }

    /// Cancels the withdrawal of our address `id`, if one was asked for.
    fn keep_address(&mut self, id: u8) {
        if let Some(at) = self.withdrawn_ids.iter().position(|&w| w == id) {
            self.withdrawn_ids.swap_remove(at);
            self.actions.push_back(PmAction::KeepAddress { id });
        }
    }

    /// Our subflows from `addr`, about to close because the address went away, and
    /// their pending re-creations, wait for the address to come back when the
    /// re-creation policy is on (a connection whose only path went down for a while
    /// then goes on: break-before-make, RFC 8684 §3.3.3); otherwise they are forgotten.
    fn await_address(&mut self, addr: IpAddr) {
        let recreating = self.is_kernel()
            && self.established
            && self.config.recreate_failed
            && self.config.recreate_attempts > 0;
        if !recreating {
            self.retries.retain(|r| !same_ip(r.local.ip(), addr));
            return;
        }
        for retry in self.retries.iter_mut() {
            if same_ip(retry.local.ip(), addr) {
                retry.state = RetryState::AddressGone;
            }
        }
        let lost: Vec<TrackedSubflow> = self
            .subflows
            .iter()
            .filter(|s| s.is_live() && s.ours && same_ip(s.local.ip(), addr))
            .copied()
            .collect();
        for closed in lost {
            if self.retry_index(addr, closed.remote).is_some() {
                continue;
            }
            self.push_retry(&closed, 0, RetryState::AddressGone);
        }
    }

    /// Queues the re-creation of `closed`'s pair, the oldest one dropped when
    /// [`MAX_RETRIES`] are queued.
    fn push_retry(&mut self, closed: &TrackedSubflow, attempts: u8, state: RetryState) {
        if self.retries.len() >= MAX_RETRIES {
            self.retries.remove(0);
        }
        self.retries.push(Retry {
            local: SocketAddr::new(closed.local.ip(), 0),
            remote: closed.remote,
            local_id: closed.local_id,
            remote_id: closed.remote_id,
            backup: closed.backup,
            attempts,
            state,
        });
    }

    /// Starts (or continues) the backoff of a failed subflow's pair: the wait doubles
    /// with each re-creation that failed, and after `recreate_attempts` of them the
    /// pair is given up.
    fn schedule_retry(&mut self, closed: &TrackedSubflow) {
        let ip = closed.local.ip();
        let index = self.retry_index(ip, closed.remote);
        let attempts = index.map_or(0, |i| self.retries[i].attempts);
        if let Some(i) = index {
            self.retries.remove(i);
        }
        if attempts >= self.config.recreate_attempts {
            return;
        }
        let factor = 1u64.checked_shl(u32::from(attempts)).unwrap_or(u64::MAX);
        let delay = self
            .config
            .recreate_delay
            .saturating_mul(factor)
            .min(self.config.recreate_max_delay);
        self.push_retry(closed, attempts, RetryState::Arming { delay });
    }

    fn retry_index(&self, local: IpAddr, remote: SocketAddr) -> Option<usize> {
        self.retries
            .iter()
            .position(|r| same_ip(r.local.ip(), local) && same_socket(r.remote, remote))
    }

    /// The pair is established, closed in order or given up: no re-creation, and the
    /// next failure starts the backoff afresh.
    pub(super) fn forget_retry(&mut self, local: IpAddr, remote: SocketAddr) {
        if let Some(i) = self.retry_index(local, remote) {
            self.retries.remove(i);
        }
    }

    /// Re-creates the failed subflows whose wait is over (by the latest time seen),
    /// while the limit leaves places; those without a place wait for one. A pair that
    /// has a subflow again, or whose addresses went away, is dropped.
    fn reopen_due_retries(&mut self) {
        let mut i = 0;
        while i < self.retries.len() {
            let retry = self.retries[i];
            let due = match retry.state {
                RetryState::Waiting { until } => until <= self.latest_now,
                RetryState::Blocked => true,
                RetryState::AddressGone => self.local_usable(retry.local.ip()),
                RetryState::Arming { .. } | RetryState::Reopened => false,
            };
            if !due {
                i += 1;
                continue;
            }
            if self.pair_is_live(retry.local.ip(), retry.remote)
                || !self.local_usable(retry.local.ip())
                || !self.remote_known(retry.remote_id, retry.remote)
                || !same_family(retry.local.ip(), retry.remote.ip())
            {
                self.retries.remove(i);
                continue;
            }
            if self.room_for_subflows() == 0 {
                self.retries[i].state = RetryState::Blocked;
                i += 1;
                continue;
            }
            self.retries[i].attempts = retry.attempts.saturating_add(1);
            self.retries[i].state = RetryState::Reopened;
            self.recreated_subflows += 1;
            self.push_open(
                retry.local,
                retry.remote,
                retry.local_id,
                retry.remote_id,
                retry.backup,
            );
            i += 1;
        }
    }

    /// Is `ip` one of our addresses: the initial subflow's (until removed) or an
    /// endpoint's?
    pub(super) fn local_usable(&self, ip: IpAddr) -> bool {
        (same_ip(ip, self.initial_local.ip()) && !self.initial_local_removed)
            || self.locals.iter().any(|l| same_ip(l.endpoint.addr, ip))
    }

    /// Does the peer still have `addr` under `id`?
    fn remote_known(&self, id: u8, addr: SocketAddr) -> bool {
        self.remotes
            .iter()
            .any(|r| r.id == id && same_socket(r.addr, addr))
    }

    /// Is there a live subflow from `local` to `remote` (pending ones included)?
    pub(super) fn pair_is_live(&self, local: IpAddr, remote: SocketAddr) -> bool {
        self.subflows
            .iter()
            .any(|s| s.is_live() && same_ip(s.local.ip(), local) && same_socket(s.remote, remote))
    }

    /// Tracks a subflow we ask for, counted against the limits, and asks for it.
    pub(super) fn push_open(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        local_id: u8,
        remote_id: u8,
        backup: bool,
    ) {
        self.subflows.push(TrackedSubflow {
            local,
            remote,
            local_id,
            remote_id,
            established: false,
            initial: false,
            ours: true,
            backup,
            closing: false,
        });
        self.actions.push_back(PmAction::OpenSubflow {
            local,
            remote,
            local_id,
            remote_id,
            backup,
        });
    }

    /// Announces the next `signal` endpoint if none is awaiting its echo. Linux sends
    /// one ADD_ADDR at a time, the next after the echo (or the last resend).
    fn announce_next(&mut self, now: Option<Instant>) {
        self.announce_due = false;
        if self
            .locals
            .iter()
            .any(|l| matches!(l.announcement, Announcement::Outstanding { .. }))
        {
            return;
        }
        let Some(index) = self.locals.iter().position(|l| {
            l.endpoint.flags.signal
                && l.announcement == Announcement::NotYet
                && !self.is_initial_local(&l.endpoint)
        }) else {
            return;
        };
        let Some(now) = now else {
            self.announce_due = true;
            return;
        };
        self.send_announcement(index, now);
    }

    /// Sends the announcement of `locals[index]` and starts its resend timer.
    pub(super) fn send_announcement(&mut self, index: usize, now: Instant) {
        let local = &mut self.locals[index];
        local.announcement = Announcement::Outstanding {
            sent_at: now,
            resends: 0,
        };
        self.actions.push_back(PmAction::Announce {
            id: local.endpoint.id,
            addr: local.endpoint.addr,
            port: local.endpoint.port,
        });
    }

    /// The `subflow` rule (a client's): each unused `subflow` endpoint opens one
    /// subflow to the peer's initial address, or with `fullmesh` one to every known
    /// peer address, while `limits.subflows` allows.
    fn open_endpoint_subflows(&mut self) {
        for index in 0..self.locals.len() {
            if self.room_for_subflows() == 0 {
                return;
            }
            // The initial address's endpoint counts as used while that address is
            // in use (see `insert_endpoint`): its subflow exists, or comes back
            // through a re-creation.
            let local = &self.locals[index];
            if !local.endpoint.flags.subflow || local.subflow_used {
                continue;
            }
            let endpoint = local.endpoint;
            // Used even if no peer address suits it, as in Linux.
            self.locals[index].subflow_used = true;
            let targets: Vec<RemoteAddress> = if endpoint.flags.fullmesh {
                self.remotes.clone()
            } else {
                self.remotes.iter().copied().filter(|r| r.id == 0).collect()
            };
            let source = SocketAddr::new(endpoint.addr, 0);
            let local_id = self.wire_id(&endpoint);
            for remote in targets {
                self.try_open(source, local_id, remote, endpoint.flags.backup);
            }
        }
    }

    /// Subflows to peer addresses not yet considered: from every `fullmesh` endpoint,
    /// or else (`join_announced`, Linux's "any local address") from the initial
    /// local address. Linux does this on receipt only, so an address that found no
    /// room is not joined later.
    fn join_announced_addresses(&mut self) {
        for index in 0..self.remotes.len() {
            if self.remotes[index].join_considered {
                continue;
            }
            self.remotes[index].join_considered = true;
            let remote = self.remotes[index];
            let mut sources: Vec<(SocketAddr, u8, bool)> = self
                .locals
                .iter()
                .filter(|l| {
                    l.endpoint.flags.fullmesh && same_family(l.endpoint.addr, remote.addr.ip())
                })
                .map(|l| {
                    let e = &l.endpoint;
                    (SocketAddr::new(e.addr, 0), self.wire_id(e), e.flags.backup)
                })
                .collect();
            if sources.is_empty() && self.config.join_announced && !self.initial_local_removed {
                let ip = self.initial_local.ip();
                sources.push((SocketAddr::new(ip, 0), 0, self.backup_of(ip)));
            }
            for (source, local_id, backup) in sources {
                self.try_open(source, local_id, remote, backup);
            }
        }
    }

    /// Opens `source` -> `remote` unless the limit is reached, the families differ,
    /// or a subflow already joins the same local address to the same peer address.
    fn try_open(&mut self, source: SocketAddr, local_id: u8, remote: RemoteAddress, backup: bool) {
        if self.room_for_subflows() == 0
            || !same_family(source.ip(), remote.addr.ip())
            || self.pair_is_live(source.ip(), remote.addr)
        {
            return;
        }
        self.push_open(source, remote.addr, local_id, remote.id, backup);
    }

    fn room_for_subflows(&self) -> usize {
        usize::from(self.config.limits.subflows).saturating_sub(self.extra_subflows())
    }

    /// A subflow by its addresses. One we asked for has local port 0 until it is
    /// established; among several candidates the exact match wins, then the older
    /// (closing) one, whose report is due first.
    pub(super) fn find_subflow(&self, local: SocketAddr, remote: SocketAddr) -> Option<usize> {
        let exact =
            |s: &TrackedSubflow| same_socket(s.local, local) && same_socket(s.remote, remote);
        let unported = |s: &TrackedSubflow| {
            !s.established
                && s.local.port() == 0
                && same_ip(s.local.ip(), local.ip())
                && same_socket(s.remote, remote)
        };
        let position = |matches: &dyn Fn(&TrackedSubflow) -> bool, closing: bool| {
            self.subflows
                .iter()
                .position(|s| s.closing == closing && matches(s))
        };
        position(&exact, false)
            .or_else(|| position(&exact, true))
            .or_else(|| position(&unported, true))
            .or_else(|| position(&unported, false))
    }

    /// Marks the live subflows `select` picks as closing; true if there were any.
    pub(super) fn mark_closing(&mut self, select: impl Fn(&TrackedSubflow) -> bool) -> bool {
        let mut any = false;
        for subflow in self.subflows.iter_mut() {
            if subflow.is_live() && select(subflow) {
                subflow.closing = true;
                any = true;
            }
        }
        self.trim_closing();
        any
    }

    /// Keeps at most [`MAX_CLOSING_SUBFLOWS`] subflows waiting for their closing
    /// report.
    pub(super) fn trim_closing(&mut self) {
        let closing = self.subflows.iter().filter(|s| s.closing).count();
        if closing > MAX_CLOSING_SUBFLOWS {
            // The oldest closing subflows come first in the table.
            let mut excess = closing - MAX_CLOSING_SUBFLOWS;
            self.subflows.retain(|s| {
                let drop = s.closing && excess > 0;
                excess -= usize::from(drop);
                !drop
            });
        }
    }

    /// The endpoint on the initial subflow's address (Linux's `mpc_endpoint_id`).
    pub(super) fn is_initial_local(&self, endpoint: &PmEndpoint) -> bool {
        same_ip(endpoint.addr, self.initial_local.ip())
            && endpoint
                .port
                .is_none_or(|port| port == self.initial_local.port())
    }

    /// The id the peer knows an endpoint by: 0 on the initial subflow's address.
    pub(super) fn wire_id(&self, endpoint: &PmEndpoint) -> u8 {
        if self.is_initial_local(endpoint) {
            0
        } else {
            endpoint.id
        }
    }

    pub(super) fn backup_of(&self, addr: IpAddr) -> bool {
        self.locals
            .iter()
            .any(|l| same_ip(l.endpoint.addr, addr) && l.endpoint.flags.backup)
    }
}

/// Addresses compared with IPv4-mapped IPv6 as IPv4, as Linux's
/// `mptcp_addresses_equal` does.
pub(super) fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

pub(super) fn same_socket(a: SocketAddr, b: SocketAddr) -> bool {
    same_ip(a.ip(), b.ip()) && a.port() == b.port()
}

/// A subflow needs both ends in one family (Linux's `mptcp_pm_addr_families_match`).
pub(super) fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical().is_ipv4() == b.to_canonical().is_ipv4()
}
