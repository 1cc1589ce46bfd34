//! Commands: a program's own decisions, carried out as the same [`PmAction`]s the
//! built-in policy emits (Linux's userspace path manager commands: MPTCP_PM_CMD_
//! SUBFLOW_CREATE, ANNOUNCE, REMOVE, SUBFLOW_DESTROY, SET_FLAGS).
//!
//! Each command is checked first and refused with a [`PmCommandError`] that says what
//! is wrong; nothing is done then. Commands work in both modes. In
//! [`PmMode::Kernel`] they stay within `limits` like the policy's own decisions, and a
//! commanded subflow that fails is re-created like the policy's; in
//! [`PmMode::Userspace`] the limits are the program's business, but never more than
//! [`MAX_LIMIT`] extra subflows.

use std::net::{IpAddr, SocketAddr};

use thiserror::Error;

use super::config::{EndpointFlags, PmEndpoint, PmMode, MAX_ENDPOINTS, MAX_LIMIT};
use super::manager::{
    same_family, same_ip, same_socket, Announcement, PathManager, PmAction, SubflowSelector,
    TrackedSubflow,
};
use crate::time::Instant;

/// Why a command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PmCommandError {
    #[error("the MPTCP connection is not established yet: wait for PmEvent::Established")]
    NotEstablished,
    #[error("{addr} is unspecified or multicast: give a unicast address")]
    UnusableAddress { addr: IpAddr },
    #[error("peer address {remote} has port 0: give the port the peer listens on (its initial subflow's, or the one it announced)")]
    ZeroRemotePort { remote: SocketAddr },
    #[error(
        "announced port 0 for {addr}: leave the port out (None) to mean the initial subflow's port"
    )]
    ZeroAnnouncedPort { addr: IpAddr },
    #[error("{local} and {remote} are of different address families: a subflow needs IPv4 (or IPv6) at both ends")]
    FamilyMismatch {
        local: SocketAddr,
        remote: SocketAddr,
    },
    #[error("id 0 belongs to the initial subflow's address: give {addr} an id in 1..=255")]
    ReservedIdZero { addr: IpAddr },
    #[error("{addr} is our address id {known}, not {given}: use id {known}")]
    LocalIdMismatch { addr: IpAddr, given: u8, known: u8 },
    #[error("local address id {id} belongs to {other} already: pick an id no other address has")]
    LocalIdInUse { id: u8, other: IpAddr },
    #[error("{MAX_ENDPOINTS} local addresses are known already, the most allowed: remove one (remove_address) first")]
    TooManyAddresses,
    #[error("the peer's address id {id} is {known}, not {given}: use {known} with id {id}, or {given} with the id the peer announced it under")]
    RemoteIdMismatch {
        id: u8,
        given: SocketAddr,
        known: SocketAddr,
    },
    #[error("{remote} is the peer's address id {known}, not {given}: use id {known}")]
    RemoteAddressIdMismatch {
        remote: SocketAddr,
        given: u8,
        known: u8,
    },
    #[error("a subflow from {local} to {remote} exists already (or is being opened): one subflow per pair of addresses")]
    DuplicateSubflow { local: IpAddr, remote: SocketAddr },
    #[error("{limit} extra subflows are open or opening already, {}", limit_hint(.mode))]
    SubflowLimit { limit: u8, mode: PmMode },
    #[error("{addr} is the initial subflow's address, which the peer knows already as id 0: announce other addresses")]
    InitialAddress { addr: IpAddr },
    #[error("address id {id} is announced already (its echo is awaited or came): remove_address({id}) first to announce it anew")]
    AlreadyAnnounced { id: u8 },
    #[error("no local address has id {id} (none announced, configured or used by a subflow under it): use an id from the events or the configuration")]
    UnknownAddressId { id: u8 },
    #[error("no open subflow from {local} to {remote}: use the addresses of PmEvent::SubflowEstablished (with the local port)")]
    UnknownSubflow {
        local: SocketAddr,
        remote: SocketAddr,
    },
}

fn limit_hint(mode: &PmMode) -> &'static str {
    match mode {
        PmMode::Kernel => {
            "the limit set by limits.subflows: close one first, or raise the limit (at most 8)"
        }
        PmMode::Userspace => "the most a connection may have: close one first",
    }
}

impl PathManager {
    /// Opens a subflow (MP_JOIN) from `local` (port 0: any free port) to `remote`, as
    /// [`PmAction::OpenSubflow`]. `local_id` must be the id `local`'s address has
    /// (0 for the initial subflow's, also after it was removed: opening from it
    /// brings it back), or a free id for a new address, which is then
    /// recorded as ours; `remote_id` must agree with what the peer announced, if it
    /// announced `remote`. Refused before establishment, for a pair of addresses that
    /// has a subflow already, and beyond the limit (`limits.subflows` in
    /// [`PmMode::Kernel`], [`MAX_LIMIT`] in [`PmMode::Userspace`]).
    pub fn open_subflow(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        local_id: u8,
        remote_id: u8,
        backup: bool,
    ) -> Result<(), PmCommandError> {
        if !self.established {
            return Err(PmCommandError::NotEstablished);
        }
        check_unicast(local.ip())?;
        check_unicast(remote.ip())?;
        if remote.port() == 0 {
            return Err(PmCommandError::ZeroRemotePort { remote });
        }
        if !same_family(local.ip(), remote.ip()) {
            return Err(PmCommandError::FamilyMismatch { local, remote });
        }
        let new_address = match self.local_id_for(local.ip()) {
            Some(known) if known != local_id => {
                return Err(PmCommandError::LocalIdMismatch {
                    addr: local.ip(),
                    given: local_id,
                    known,
                })
            }
            Some(_) => false,
            None => {
                self.check_new_local_id(local.ip(), local_id)?;
                true
            }
        };
        if let Some(known) = self.remotes.iter().find(|r| r.id == remote_id) {
            if !same_socket(known.addr, remote) {
                return Err(PmCommandError::RemoteIdMismatch {
                    id: remote_id,
                    given: remote,
                    known: known.addr,
                });
            }
        } else if let Some(known) = self.remotes.iter().find(|r| same_socket(r.addr, remote)) {
            return Err(PmCommandError::RemoteAddressIdMismatch {
                remote,
                given: remote_id,
                known: known.id,
            });
        }
        if self.pair_is_live(local.ip(), remote) {
            return Err(PmCommandError::DuplicateSubflow {
                local: local.ip(),
                remote,
            });
        }
        let limit = match self.config.mode {
            PmMode::Kernel => self.config.limits.subflows,
            PmMode::Userspace => MAX_LIMIT,
        };
        if self.extra_subflows() >= usize::from(limit) {
            return Err(PmCommandError::SubflowLimit {
                limit,
                mode: self.config.mode,
            });
        }
        if new_address {
            self.insert_endpoint(PmEndpoint {
                id: local_id,
                addr: local.ip(),
                port: None,
                flags: EndpointFlags::default(),
            });
        }
        if same_ip(local.ip(), self.initial_local.ip()) {
            // The initial subflow's address, removed before: in use again, as id 0
            // (a failure of this subflow is re-created like any other).
            self.initial_local_removed = false;
        }
        self.push_open(local, remote, local_id, remote_id, backup);
        Ok(())
    }

    /// Announces our address `addr` (with `port`: accept joins there too) under `id`
    /// (ADD_ADDR), as [`PmAction::Announce`], at once; it is resent like the policy's
    /// announcements until echoed ([`PmEvent::AnnounceEchoed`](super::PmEvent)) or
    /// given up ([`PmEvent::AnnounceUnanswered`](super::PmEvent)). A new address is
    /// recorded as ours. Refused before establishment (ADD_ADDR's HMAC needs both
    /// keys), for id 0 and the initial subflow's address, for an id or address that
    /// disagrees with one we have, and for an announcement awaiting or having its
    /// echo.
    pub fn announce(
        &mut self,
        now: Instant,
        id: u8,
        addr: IpAddr,
        port: Option<u16>,
    ) -> Result<(), PmCommandError> {
        self.note_time(now);
        if !self.established {
            return Err(PmCommandError::NotEstablished);
        }
        check_unicast(addr)?;
        if port == Some(0) {
            return Err(PmCommandError::ZeroAnnouncedPort { addr });
        }
        let candidate = PmEndpoint {
            id,
            addr,
            port,
            flags: EndpointFlags {
                signal: true,
                ..EndpointFlags::default()
            },
        };
        if self.is_initial_local(&candidate) && !self.initial_local_removed {
            return Err(PmCommandError::InitialAddress { addr });
        }
        if id == 0 {
            return Err(PmCommandError::ReservedIdZero { addr });
        }
        let index = match self
            .locals
            .iter()
            .position(|l| l.endpoint.same_address(&candidate))
        {
            Some(index) => {
                let local = &self.locals[index];
                if local.endpoint.id != id {
                    return Err(PmCommandError::LocalIdMismatch {
                        addr,
                        given: id,
                        known: local.endpoint.id,
                    });
                }
                if matches!(
                    local.announcement,
                    Announcement::Outstanding { .. } | Announcement::Echoed
                ) {
                    return Err(PmCommandError::AlreadyAnnounced { id });
                }
                index
            }
            None => {
                self.check_new_local_id(addr, id)?;
                self.insert_endpoint(candidate)
                    .ok_or(PmCommandError::TooManyAddresses)?
            }
        };
        self.send_announcement(index, now);
        Ok(())
    }

    /// Withdraws our address `id` (0: the initial subflow's): REMOVE_ADDR if the peer
    /// knows it (announced, or used by subflows), its subflows closed, the address
    /// forgotten, nothing re-created from it. Like `ip mptcp endpoint delete id`; in
    /// [`PmMode::Kernel`] freed places go to other endpoints.
    pub fn remove_address(&mut self, id: u8) -> Result<(), PmCommandError> {
        let endpoints: Vec<PmEndpoint> = self
            .locals
            .iter()
            .filter(|l| self.wire_id(&l.endpoint) == id)
            .map(|l| l.endpoint)
            .collect();
        let announced = self
            .locals
            .iter()
            .any(|l| self.wire_id(&l.endpoint) == id && l.announcement.was_sent());
        let has_subflows = self
            .subflows
            .iter()
            .any(|s| s.is_live() && s.local_id == id);
        let initial = id == 0 && !self.initial_local_removed;
        if endpoints.is_empty() && !has_subflows && !initial {
            return Err(PmCommandError::UnknownAddressId { id });
        }
        if announced || has_subflows || (initial && self.established) {
            self.actions
                .push_back(PmAction::RemoveAddress { ids: vec![id] });
        }
        self.close_where(|s| s.local_id == id);
        self.locals
            .retain(|l| !endpoints.iter().any(|e| e.same_address(&l.endpoint)));
        self.retries.retain(|r| r.local_id != id);
        if id == 0 {
            self.initial_local_removed = true;
        }
        self.progress(None);
        Ok(())
    }

    /// Closes one subflow, as [`PmAction::CloseSubflows`] with
    /// [`SubflowSelector::Exact`]; it is not re-created. `local` with its port, as
    /// [`PmEvent::SubflowEstablished`](super::PmEvent) gave it; a subflow still in
    /// its handshake (local port 0 here) is closed once established.
    pub fn close_subflow(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<(), PmCommandError> {
        let exact = |s: &TrackedSubflow| {
            s.is_live() && same_socket(s.local, local) && same_socket(s.remote, remote)
        };
        let pending = |s: &TrackedSubflow| {
            s.is_live()
                && !s.established
                && s.local.port() == 0
                && same_ip(s.local.ip(), local.ip())
                && same_socket(s.remote, remote)
        };
        let Some(index) = self
            .subflows
            .iter()
            .position(exact)
            .or_else(|| self.subflows.iter().position(pending))
        else {
            return Err(PmCommandError::UnknownSubflow { local, remote });
        };
        let subflow = self.subflows[index];
        self.subflows[index].closing = true;
        self.trim_closing();
        if subflow.local.port() != 0 {
            self.actions.push_back(PmAction::CloseSubflows {
                which: SubflowSelector::Exact {
                    local: subflow.local,
                    remote: subflow.remote,
                },
            });
        }
        self.forget_retry(local.ip(), remote);
        self.progress(None);
        Ok(())
    }

    /// Marks the subflows from our address `local_id` as backup or not (MP_PRIO), as
    /// [`PmAction::SetBackup`]; the address's flag applies to its later subflows.
    /// [`set_backup`](Self::set_backup) does the same by address.
    pub fn set_backup_id(&mut self, local_id: u8, backup: bool) -> Result<(), PmCommandError> {
        let mut known = false;
        for index in 0..self.locals.len() {
            if self.wire_id(&self.locals[index].endpoint) == local_id {
                self.locals[index].endpoint.flags.backup = backup;
                known = true;
            }
        }
        for retry in self.retries.iter_mut().filter(|r| r.local_id == local_id) {
            retry.backup = backup;
        }
        let mut live = false;
        for subflow in self.subflows.iter_mut() {
            if subflow.is_live() && subflow.local_id == local_id {
                subflow.backup = backup;
                live = true;
            }
        }
        if !known && !live {
            return Err(PmCommandError::UnknownAddressId { id: local_id });
        }
        if live {
            self.actions
                .push_back(PmAction::SetBackup { local_id, backup });
        }
        Ok(())
    }

    // ---------------------------------------------------------------- helpers

    /// Our id for the address `ip`: 0 for the initial subflow's (removed or not: RFC
    /// 8684 §3.4.1 keeps id 0 for it, and Linux reuses it when the address comes
    /// back), an endpoint's otherwise (one without a port first).
    fn local_id_for(&self, ip: IpAddr) -> Option<u8> {
        if same_ip(ip, self.initial_local.ip()) {
            return Some(0);
        }
        let on_ip = || self.locals.iter().filter(|l| same_ip(l.endpoint.addr, ip));
        on_ip()
            .find(|l| l.endpoint.port.is_none())
            .or_else(|| on_ip().next())
            .map(|l| self.wire_id(&l.endpoint))
    }

    /// May a new address of ours take `id`?
    fn check_new_local_id(&self, addr: IpAddr, id: u8) -> Result<(), PmCommandError> {
        if id == 0 {
            return Err(PmCommandError::ReservedIdZero { addr });
        }
        if let Some(other) = self.locals.iter().find(|l| l.endpoint.id == id) {
            return Err(PmCommandError::LocalIdInUse {
                id,
                other: other.endpoint.addr,
            });
        }
        if self.locals.len() >= MAX_ENDPOINTS {
            return Err(PmCommandError::TooManyAddresses);
        }
        Ok(())
    }

    /// Closes the live subflows `select` picks: by address where it picks all of an
    /// address's subflows (which also reaches those still in their handshake), one by
    /// one otherwise.
    fn close_where(&mut self, select: impl Fn(&TrackedSubflow) -> bool) {
        let live: Vec<TrackedSubflow> = self
            .subflows
            .iter()
            .filter(|s| s.is_live())
            .copied()
            .collect();
        let mut addrs: Vec<IpAddr> = Vec::new();
        for s in live.iter().filter(|s| select(s)) {
            if !addrs.iter().any(|&a| same_ip(a, s.local.ip())) {
                addrs.push(s.local.ip());
            }
        }
        for addr in addrs {
            let from_addr = || live.iter().filter(|s| same_ip(s.local.ip(), addr));
            if from_addr().all(&select) {
                self.actions.push_back(PmAction::CloseSubflows {
                    which: SubflowSelector::LocalAddr(addr),
                });
            } else {
                for s in from_addr().filter(|s| select(s)) {
                    self.actions.push_back(PmAction::CloseSubflows {
                        which: SubflowSelector::Exact {
                            local: s.local,
                            remote: s.remote,
                        },
                    });
                }
            }
        }
        self.mark_closing(select);
    }
}

fn check_unicast(addr: IpAddr) -> Result<(), PmCommandError> {
    if addr.is_unspecified() || addr.is_multicast() {
        return Err(PmCommandError::UnusableAddress { addr });
    }
    Ok(())
}
