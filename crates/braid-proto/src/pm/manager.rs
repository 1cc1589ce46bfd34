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

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use super::config::{lowest_free_id, PmConfig, PmEndpoint, MAX_ENDPOINTS, MAX_LIMIT};
use crate::time::Instant;

/// Subflows kept after we asked for them to be closed, waiting for the report of
/// their closing: more than the limits allow at once, so only a caller that never
/// reports closings makes the oldest fall out.
const MAX_CLOSING_SUBFLOWS: usize = 4 * MAX_LIMIT as usize;

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

/// One MPTCP connection's path manager: events in, [`PmAction`]s out.
#[derive(Debug, Clone)]
pub struct PathManager {
    config: PmConfig,
    role: Role,
    initial_local: SocketAddr,
    initial_remote: SocketAddr,
    established: bool,
    locals: Vec<LocalEndpoint>,
    remotes: Vec<RemoteAddress>,
    subflows: Vec<TrackedSubflow>,
    /// The latest time handed in: what `poll_timeout` reports when work is due now.
    latest_now: Instant,
    /// The next announcement may go, but the event that allowed it carried no time;
    /// `handle_timeout` sends it.
    announce_due: bool,
    failed_subflows: u64,
    actions: VecDeque<PmAction>,
}

#[derive(Debug, Clone)]
struct LocalEndpoint {
    endpoint: PmEndpoint,
    /// The `subflow` rule has used this endpoint. Linux never uses an endpoint twice
    /// per connection, so a failed subflow is not recreated.
    subflow_used: bool,
    announcement: Announcement,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Announcement {
    NotYet,
    /// Sent and not echoed; resent at `resend_at` (never when the timeout is zero).
    Outstanding {
        resend_at: Option<Instant>,
        resends: u8,
    },
    Echoed,
    /// Resent as often as allowed without an echo; the next one went ahead.
    Unanswered,
}

impl Announcement {
    fn was_sent(self) -> bool {
        self != Announcement::NotYet
    }
}

#[derive(Debug, Clone, Copy)]
struct RemoteAddress {
    id: u8,
    /// With the port resolved: an ADD_ADDR without one means the initial port.
    addr: SocketAddr,
    /// Subflows towards it were considered (on receipt, or at establishment).
    join_considered: bool,
}

#[derive(Debug, Clone, Copy)]
struct TrackedSubflow {
    /// Port 0 until a subflow we asked for is established.
    local: SocketAddr,
    remote: SocketAddr,
    local_id: u8,
    remote_id: u8,
    established: bool,
    /// The MP_CAPABLE subflow: not counted against `limits.subflows`.
    initial: bool,
    /// We asked for it to be closed: not counted, and no longer a path.
    closing: bool,
}

impl TrackedSubflow {
    fn is_live(&self) -> bool {
        !self.closing
    }

    /// A live subflow that counts against `limits.subflows`.
    fn is_extra(&self) -> bool {
        !self.initial && !self.closing
    }
}

impl PathManager {
    /// A path manager for a connection between `initial_local` and `initial_remote`.
    ///
    /// `config` should have passed [`PmConfig::validate`]; here, limits above the
    /// maximum are lowered to it, endpoints without an id get one, and endpoints that
    /// are invalid, repeat an id or address, or come after the eighth are left out.
    pub fn new(
        config: PmConfig,
        role: Role,
        initial_local: SocketAddr,
        initial_remote: SocketAddr,
    ) -> Self {
        let mut config = config;
        config.limits.subflows = config.limits.subflows.min(MAX_LIMIT);
        config.limits.add_addr_accepted = config.limits.add_addr_accepted.min(MAX_LIMIT);
        let endpoints = std::mem::take(&mut config.endpoints);
        let mut manager = PathManager {
            config,
            role,
            initial_local,
            initial_remote,
            established: false,
            locals: Vec::new(),
            remotes: vec![RemoteAddress {
                id: 0,
                addr: initial_remote,
                join_considered: true,
            }],
            subflows: vec![TrackedSubflow {
                local: initial_local,
                remote: initial_remote,
                local_id: 0,
                remote_id: 0,
                established: true,
                initial: true,
                closing: false,
            }],
            latest_now: Instant::ZERO,
            announce_due: false,
            failed_subflows: 0,
            actions: VecDeque::new(),
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
    pub fn on_add_addr(&mut self, now: Instant, id: u8, addr: IpAddr, port: Option<u16>) {
        self.note_time(now);
        // RFC 8684 §3.4.1: a port left out means the port of the initial subflow.
        let addr = SocketAddr::new(addr, port.unwrap_or(self.initial_remote.port()));
        // Id 0 is the peer's initial address, which we know already; Linux ignores an
        // id 0 announcing anything else.
        if id == 0 {
            return;
        }
        // A resent announcement, or a second id for an address we have: nothing new.
        if self
            .remotes
            .iter()
            .any(|r| r.id == id || same_socket(r.addr, addr))
        {
            return;
        }
        // Linux accepts announcements only while both limits leave room.
        if self.accepted_addresses() >= usize::from(self.config.limits.add_addr_accepted)
            || self.config.limits.subflows == 0
        {
            return;
        }
        self.remotes.push(RemoteAddress {
            id,
            addr,
            join_considered: false,
        });
        self.progress(Some(now));
    }

    /// The peer echoed our ADD_ADDR for `id`: stop resending it and let the next
    /// announcement go (from the next `handle_timeout`, as this call carries no time).
    /// The caller checks that the echo names the address announced under `id`
    /// ([`announced_address`](Self::announced_address)).
    pub fn on_add_addr_echo(&mut self, id: u8) {
        let Some(local) = self
            .locals
            .iter_mut()
            .find(|l| l.endpoint.id == id && l.announcement.was_sent())
        else {
            return;
        };
        let was_outstanding = matches!(local.announcement, Announcement::Outstanding { .. });
        local.announcement = Announcement::Echoed;
        if was_outstanding {
            self.progress(None);
        }
    }

    /// The peer removed addresses (REMOVE_ADDR): close the subflows to them, forget
    /// them, and free their places in `limits.add_addr_accepted`. Id 0 removes the
    /// peer's initial address.
    pub fn on_remove_addr(&mut self, ids: &[u8]) {
        let mut closed = Vec::new();
        for &id in ids {
            if closed.contains(&id) {
                continue;
            }
            if self.mark_closing(|s| s.remote_id == id) {
                closed.push(id);
            }
            self.remotes.retain(|r| r.id != id);
        }
        if !closed.is_empty() {
            self.actions.push_back(PmAction::CloseSubflows {
                which: SubflowSelector::RemoteIds(closed),
            });
        }
        self.progress(None);
    }

    /// A subflow finished its MP_JOIN handshake, ours or the peer's.
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
            ours.local = local;
            if !ours.closing {
                ours.local_id = local_id;
                ours.remote_id = remote_id;
            }
            ours.established = true;
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
        self.subflows.push(TrackedSubflow {
            local,
            remote,
            local_id,
            remote_id,
            established: true,
            initial: false,
            closing: false,
        });
    }

    /// A subflow closed (`failed`: reset or timed out rather than closed in order).
    /// Its place is free again, which lets endpoints the limit held back open theirs
    /// (Linux's `mptcp_pm_subflow_check_next`); the same subflow is not reopened.
    pub fn on_subflow_closed(&mut self, local: SocketAddr, remote: SocketAddr, failed: bool) {
        let Some(index) = self.find_subflow(local, remote) else {
            return;
        };
        let closed = self.subflows.remove(index);
        if closed.closing {
            // Its place was freed when we asked for it to close.
            return;
        }
        if failed {
            self.failed_subflows += 1;
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
    /// there are [`MAX_ENDPOINTS`] already.
    pub fn add_local_address(&mut self, now: Instant, endpoint: PmEndpoint) {
        self.note_time(now);
        if self.insert_endpoint(endpoint) {
            self.progress(Some(now));
        }
    }

    /// A local address went away. Our ids on it that the peer knows (announced, or
    /// used by subflows) go out in REMOVE_ADDR, then its subflows close; id 0 when it
    /// is the initial subflow's address (Linux: `mptcp_nl_remove_subflow_and_signal_addr`
    /// and `mptcp_nl_remove_id_zero_address`). Freed places go to other endpoints.
    pub fn remove_local_address(&mut self, addr: IpAddr) {
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
    /// change ADDR backup|nobackup`; the endpoint's flag applies to later subflows.
    pub fn set_backup(&mut self, addr: IpAddr, backup: bool) {
        for local in self.locals.iter_mut() {
            if same_ip(local.endpoint.addr, addr) {
                local.endpoint.flags.backup = backup;
            }
        }
        let mut local_ids: Vec<u8> = Vec::new();
        for subflow in &self.subflows {
            if subflow.is_live()
                && same_ip(subflow.local.ip(), addr)
                && !local_ids.contains(&subflow.local_id)
            {
                local_ids.push(subflow.local_id);
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

    /// When `handle_timeout` must next be called: an ADD_ADDR resend, or (an instant
    /// already reached) an announcement that became due during a call without time.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.announce_due {
            return Some(self.latest_now);
        }
        self.locals.iter().find_map(|l| match l.announcement {
            Announcement::Outstanding { resend_at, .. } => resend_at,
            _ => None,
        })
    }

    /// Resends an unechoed ADD_ADDR whose time has come, or gives up on it after
    /// `add_addr_retransmissions` resends and announces the next address (as Linux's
    /// `mptcp_pm_add_timer` does once `ADD_ADDR_RETRANS_MAX` is reached).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.note_time(now);
        let timeout = self.config.add_addr_timeout;
        let max_resends = self.config.add_addr_retransmissions;
        for local in self.locals.iter_mut() {
            let Announcement::Outstanding {
                resend_at: Some(resend_at),
                resends,
            } = local.announcement
            else {
                continue;
            };
            if resend_at > now {
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
                Announcement::Unanswered
            } else {
                Announcement::Outstanding {
                    resend_at: Some(now + timeout),
                    resends,
                }
            };
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

    /// The endpoints in use, with the ids they were given.
    pub fn local_endpoints(&self) -> impl Iterator<Item = &PmEndpoint> {
        self.locals.iter().map(|l| &l.endpoint)
    }

    // ---------------------------------------------------------------- internals

    fn note_time(&mut self, now: Instant) {
        self.latest_now = self.latest_now.max(now);
    }

    /// Adds an endpoint if it fits; true if added.
    fn insert_endpoint(&mut self, endpoint: PmEndpoint) -> bool {
        let mut endpoint = endpoint;
        if endpoint.validate().is_err()
            || self.locals.len() >= MAX_ENDPOINTS
            || self
                .locals
                .iter()
                .any(|l| l.endpoint.same_address(&endpoint))
        {
            return false;
        }
        if endpoint.id == 0 || self.locals.iter().any(|l| l.endpoint.id == endpoint.id) {
            match lowest_free_id(self.locals.iter().map(|l| l.endpoint.id)) {
                Some(id) => endpoint.id = id,
                None => return false,
            }
        }
        self.locals.push(LocalEndpoint {
            endpoint,
            subflow_used: false,
            announcement: Announcement::NotYet,
        });
        true
    }

    /// Does whatever the current state allows, in Linux's order
    /// (`mptcp_pm_create_subflow_or_signal_addr`): announce, then open subflows.
    fn progress(&mut self, now: Option<Instant>) {
        if !self.established {
            return;
        }
        self.announce_next(now);
        if self.role == Role::Client {
            self.open_endpoint_subflows();
        }
        self.join_announced_addresses();
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
        let timeout = self.config.add_addr_timeout;
        let local = &mut self.locals[index];
        local.announcement = Announcement::Outstanding {
            resend_at: (timeout.as_micros() > 0).then(|| now + timeout),
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
            let local = &self.locals[index];
            if !local.endpoint.flags.subflow
                || local.subflow_used
                || self.is_initial_local(&local.endpoint)
            {
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
            if sources.is_empty() && self.config.join_announced {
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
            || self.subflows.iter().any(|s| {
                s.is_live()
                    && same_ip(s.local.ip(), source.ip())
                    && same_socket(s.remote, remote.addr)
            })
        {
            return;
        }
        self.subflows.push(TrackedSubflow {
            local: source,
            remote: remote.addr,
            local_id,
            remote_id: remote.id,
            established: false,
            initial: false,
            closing: false,
        });
        self.actions.push_back(PmAction::OpenSubflow {
            local: source,
            remote: remote.addr,
            local_id,
            remote_id: remote.id,
            backup,
        });
    }

    fn room_for_subflows(&self) -> usize {
        usize::from(self.config.limits.subflows).saturating_sub(self.extra_subflows())
    }

    /// A subflow by its addresses. One we asked for has local port 0 until it is
    /// established; among several candidates the exact match wins, then the older
    /// (closing) one, whose report is due first.
    fn find_subflow(&self, local: SocketAddr, remote: SocketAddr) -> Option<usize> {
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
    fn mark_closing(&mut self, select: impl Fn(&TrackedSubflow) -> bool) -> bool {
        let mut any = false;
        for subflow in self.subflows.iter_mut() {
            if subflow.is_live() && select(subflow) {
                subflow.closing = true;
                any = true;
            }
        }
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
        any
    }

    /// The endpoint on the initial subflow's address (Linux's `mpc_endpoint_id`).
    fn is_initial_local(&self, endpoint: &PmEndpoint) -> bool {
        same_ip(endpoint.addr, self.initial_local.ip())
            && endpoint
                .port
                .is_none_or(|port| port == self.initial_local.port())
    }

    /// The id the peer knows an endpoint by: 0 on the initial subflow's address.
    fn wire_id(&self, endpoint: &PmEndpoint) -> u8 {
        if self.is_initial_local(endpoint) {
            0
        } else {
            endpoint.id
        }
    }

    fn backup_of(&self, addr: IpAddr) -> bool {
        self.locals
            .iter()
            .any(|l| same_ip(l.endpoint.addr, addr) && l.endpoint.flags.backup)
    }
}

/// Addresses compared with IPv4-mapped IPv6 as IPv4, as Linux's
/// `mptcp_addresses_equal` does.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

fn same_socket(a: SocketAddr, b: SocketAddr) -> bool {
    same_ip(a.ip(), b.ip()) && a.port() == b.port()
}

/// A subflow needs both ends in one family (Linux's `mptcp_pm_addr_families_match`).
fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical().is_ipv4() == b.to_canonical().is_ipv4()
}
