//! What the path manager is told: local endpoints with their flags, and limits.
//!
//! The shapes follow `ip mptcp endpoint` and `ip mptcp limits` (Linux's in-kernel path
//! manager, net/mptcp/pm_kernel.c), so a Linux configuration reads across one to one:
//! `ip mptcp endpoint add 10.0.2.1 subflow backup` is `"10.0.2.1,subflow,backup"`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use thiserror::Error;

use crate::time::Duration;

/// The largest value of either limit, and the most endpoints: Linux's
/// `MPTCP_PM_ADDR_MAX` (pm_kernel.c rejects larger limits and a ninth endpoint).
pub const MAX_LIMIT: u8 = 8;

/// The most local endpoints a configuration may hold (Linux's `MPTCP_PM_ADDR_MAX`).
pub const MAX_ENDPOINTS: usize = MAX_LIMIT as usize;

/// braid's default ADD_ADDR retransmission interval, and the ceiling of the RTT-based
/// one.
///
/// Linux's `net.mptcp.add_addr_timeout` defaults to 120 s (TCP_RTO_MAX); recent kernels
/// treat it as a ceiling over the subflows' RTO. Before any RTT sample braid uses RFC
/// 6298's initial RTO of 1 s, TCP's timeout before any sample: a lost ADD_ADDR then
/// delays the extra paths by a second instead of two minutes, and a needless resend
/// costs one option on one ACK (the peer treats it as a duplicate). With samples
/// ([`PathManager::on_rtt_sample`](super::PathManager::on_rtt_sample)) the interval is
/// [`ADD_ADDR_RTT_FACTOR`] × RTT, at least [`MIN_ADD_ADDR_TIMEOUT`], at most this.
pub const DEFAULT_ADD_ADDR_TIMEOUT: Duration = Duration::from_secs(1);

/// The RTT-based ADD_ADDR resend interval is this many smoothed RTTs (then bounded by
/// [`MIN_ADD_ADDR_TIMEOUT`] and `add_addr_timeout`).
///
/// The echo comes back one RTT after the ADD_ADDR leaves, on an ACK the peer sends at
/// once, so anything well above one RTT only waits on queueing. Three is RFC 6298's
/// RTO after the first sample (SRTT + 4 × RTTVAR with RTTVAR = RTT / 2), the bound
/// Linux's own ADD_ADDR timer now follows (the subflows' RTO); two would resend
/// needlessly whenever a bulk transfer's queue inflates the RTT, the very moment an
/// address tends to be announced.
pub const ADD_ADDR_RTT_FACTOR: u64 = 3;

/// The shortest RTT-based ADD_ADDR resend interval: Linux's TCP_RTO_MIN (200 ms), so
/// that on a LAN delayed ACKs and scheduling jitter do not trigger resends.
pub const MIN_ADD_ADDR_TIMEOUT: Duration = Duration::from_millis(200);

/// How long after a failure a subflow is first re-created (doubled after each failed
/// re-creation, up to [`DEFAULT_RECREATE_MAX_DELAY`]).
pub const DEFAULT_RECREATE_DELAY: Duration = Duration::from_secs(1);

/// The longest wait between re-creations of a failed subflow.
pub const DEFAULT_RECREATE_MAX_DELAY: Duration = Duration::from_secs(60);

/// Re-creations of a failed subflow, without one getting established, before giving
/// up: with the default delays 1, 2, 4, 8, 16, 32, 60 and 60 s, about three minutes
/// of outage bridged.
pub const DEFAULT_RECREATE_ATTEMPTS: u8 = 8;

/// Linux's default `net.mptcp.add_addr_timeout`.
pub const LINUX_ADD_ADDR_TIMEOUT: Duration = Duration::from_secs(120);

/// How many times an unechoed ADD_ADDR is resent: Linux's `ADD_ADDR_RETRANS_MAX`
/// (net/mptcp/pm.c), so at most four transmissions in all.
pub const DEFAULT_ADD_ADDR_RETRANSMISSIONS: u8 = 3;

/// The flags of an `ip mptcp endpoint`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EndpointFlags {
    /// Announce the address to the peer (ADD_ADDR).
    pub signal: bool,
    /// Open one extra subflow from the address (a client, once established).
    pub subflow: bool,
    /// Subflows from the address are backups (MP_JOIN B flag, MP_PRIO).
    pub backup: bool,
    /// Open subflows from the address to every peer address, not just the initial one.
    pub fullmesh: bool,
}

/// One local address the path manager may use or announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PmEndpoint {
    /// Our address id for it, 1..=255; 0 means "not assigned yet" here, since the
    /// initial subflow's address is always id 0 (RFC 8684 §3.4.1). See
    /// [`PmConfig::assign_ids`].
    pub id: u8,
    pub addr: IpAddr,
    /// A port to announce with the address (signal-only endpoints, as in Linux).
    pub port: Option<u16>,
    pub flags: EndpointFlags,
}

/// `ip mptcp limits`: how far one connection may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PmLimits {
    /// Extra subflows beyond the initial one, opened by us or accepted from the peer.
    /// Linux default 2, at most [`MAX_LIMIT`].
    pub subflows: u8,
    /// Peer addresses (ADD_ADDR) remembered at once. Linux default 0, at most
    /// [`MAX_LIMIT`].
    pub add_addr_accepted: u8,
}

impl PmLimits {
    /// Linux's defaults: 2 extra subflows, no announced address accepted.
    pub const fn linux_defaults() -> Self {
        PmLimits {
            subflows: 2,
            add_addr_accepted: 0,
        }
    }
}

/// braid's defaults: Linux's, except that announced addresses are accepted (up to the
/// maximum), so a braid client uses the extra addresses a server announces.
impl Default for PmLimits {
    fn default() -> Self {
        PmLimits {
            subflows: 2,
            add_addr_accepted: MAX_LIMIT,
        }
    }
}

/// The path manager's whole configuration, shared by every connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PmConfig {
    pub endpoints: Vec<PmEndpoint>,
    pub limits: PmLimits,
    /// Open subflows, from the initial local address, to addresses the peer announces
    /// even without a `fullmesh` endpoint. Linux with `add_addr_accepted` above 0 does
    /// this too, from whatever source address its routing picks; `false` only
    /// remembers such addresses (for fullmesh endpoints added later). Default true.
    pub join_announced: bool,
    /// Interval between transmissions of an ADD_ADDR the peer has not echoed; zero
    /// sends each once. Default [`DEFAULT_ADD_ADDR_TIMEOUT`].
    pub add_addr_timeout: Duration,
    /// Resends of an unechoed ADD_ADDR before moving on to the next.
    /// Default [`DEFAULT_ADD_ADDR_RETRANSMISSIONS`].
    pub add_addr_retransmissions: u8,
    /// Who decides: the built-in policy (default) or a program through events and
    /// commands.
    pub mode: PmMode,
    /// Re-create a subflow we opened (or a client's initial one) that failed (reset or
    /// timed out), to the same addresses with the same ids, after a backoff; not one
    /// to an address the peer announced, which waits for the address to be announced
    /// again (RFC 8684 §3.4.1). Linux's
    /// in-kernel path manager does not; default true, false in
    /// [`linux_defaults`](Self::linux_defaults). Only in [`PmMode::Kernel`].
    pub recreate_failed: bool,
    /// Wait before the first re-creation, doubled after each that fails too. Default
    /// [`DEFAULT_RECREATE_DELAY`]; must not be zero.
    pub recreate_delay: Duration,
    /// Longest wait between re-creations. Default [`DEFAULT_RECREATE_MAX_DELAY`].
    pub recreate_max_delay: Duration,
    /// Re-creations of one subflow without success before giving up (0: none). An
    /// established re-creation starts the count again. Default
    /// [`DEFAULT_RECREATE_ATTEMPTS`].
    pub recreate_attempts: u8,
}

/// Who decides which subflows and addresses a connection uses.
///
/// Events ([`PathManager::poll_event`](super::PathManager::poll_event)) and commands
/// ([`PathManager::open_subflow`](super::PathManager::open_subflow) and the others)
/// work in both modes; the mode says whether the built-in policy acts too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum PmMode {
    /// The built-in policy, after Linux's in-kernel path manager: endpoints and limits
    /// decide. Commands add to it, within the same limits.
    #[default]
    Kernel,
    /// A program decides, as with Linux's userspace path manager (mptcpd over the
    /// `mptcp_pm` netlink family): nothing is opened, announced, re-created or
    /// withdrawn unless commanded. The protocol's own duties remain: ADD_ADDR is
    /// resent until echoed, subflows to addresses the peer removes are closed, and
    /// the peer's joins are taken while `limits.subflows` allows (they cannot wait
    /// for a program's answer). Commanded subflows are bounded by [`MAX_LIMIT`] only,
    /// not by `limits`.
    Userspace,
}

impl Default for PmConfig {
    fn default() -> Self {
        PmConfig {
            endpoints: Vec::new(),
            limits: PmLimits::default(),
            join_announced: true,
            add_addr_timeout: DEFAULT_ADD_ADDR_TIMEOUT,
            add_addr_retransmissions: DEFAULT_ADD_ADDR_RETRANSMISSIONS,
            mode: PmMode::Kernel,
            recreate_failed: true,
            recreate_delay: DEFAULT_RECREATE_DELAY,
            recreate_max_delay: DEFAULT_RECREATE_MAX_DELAY,
            recreate_attempts: DEFAULT_RECREATE_ATTEMPTS,
        }
    }
}

impl PmConfig {
    /// Linux's in-kernel defaults: limits 2 and 0, ADD_ADDR resent every 120 s (at
    /// most; sooner with RTT samples, as in recent kernels), failed subflows left
    /// closed.
    pub fn linux_defaults() -> Self {
        PmConfig {
            endpoints: Vec::new(),
            limits: PmLimits::linux_defaults(),
            join_announced: false,
            add_addr_timeout: LINUX_ADD_ADDR_TIMEOUT,
            add_addr_retransmissions: DEFAULT_ADD_ADDR_RETRANSMISSIONS,
            mode: PmMode::Kernel,
            recreate_failed: false,
            recreate_delay: DEFAULT_RECREATE_DELAY,
            recreate_max_delay: DEFAULT_RECREATE_MAX_DELAY,
            recreate_attempts: DEFAULT_RECREATE_ATTEMPTS,
        }
    }

    /// Checks the rules `ip mptcp` enforces, plus unique nonzero ids.
    pub fn validate(&self) -> Result<(), PmConfigError> {
        for (limit, value) in [
            ("subflows", self.limits.subflows),
            ("add_addr_accepted", self.limits.add_addr_accepted),
        ] {
            if value > MAX_LIMIT {
                return Err(PmConfigError::LimitTooHigh { limit, value });
            }
        }
        if self.recreate_delay == Duration::ZERO {
            return Err(PmConfigError::ZeroRecreateDelay);
        }
        if self.recreate_delay > self.recreate_max_delay {
            return Err(PmConfigError::RecreateDelayAboveMax {
                delay: self.recreate_delay,
                max: self.recreate_max_delay,
            });
        }
        if self.endpoints.len() > MAX_ENDPOINTS {
            return Err(PmConfigError::TooManyEndpoints {
                count: self.endpoints.len(),
            });
        }
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            endpoint.validate()?;
            if endpoint.id == 0 {
                return Err(PmConfigError::UnassignedId {
                    addr: endpoint.addr,
                });
            }
            for earlier in &self.endpoints[..i] {
                if earlier.id == endpoint.id {
                    return Err(PmConfigError::DuplicateId {
                        id: endpoint.id,
                        first: earlier.addr,
                        second: endpoint.addr,
                    });
                }
                if earlier.same_address(endpoint) {
                    return Err(PmConfigError::DuplicateAddress {
                        addr: endpoint.addr,
                        port: endpoint.port,
                    });
                }
            }
        }
        Ok(())
    }

    /// Gives every endpoint with id 0 the lowest id no other endpoint has, in list
    /// order (1, 2, ... when none was given). Ids run out only past 255 endpoints,
    /// which [`validate`](Self::validate) rejects anyway; such endpoints keep id 0.
    pub fn assign_ids(&mut self) {
        for i in 0..self.endpoints.len() {
            if self.endpoints[i].id != 0 {
                continue;
            }
            if let Some(id) = lowest_free_id(self.endpoints.iter().map(|e| e.id)) {
                self.endpoints[i].id = id;
            }
        }
    }
}

/// The lowest id in 1..=255 not among `taken`.
pub(crate) fn lowest_free_id(taken: impl Iterator<Item = u8>) -> Option<u8> {
    let mut used = [false; 256];
    for id in taken {
        used[usize::from(id)] = true;
    }
    (1..=u8::MAX).find(|&id| !used[usize::from(id)])
}

impl PmEndpoint {
    /// Checks one endpoint on its own: the flag and port rules of `ip mptcp endpoint
    /// add` (pm_kernel.c, `mptcp_pm_nl_add_addr_doit`) and a usable address. Id 0 is
    /// allowed here (unassigned); [`PmConfig::validate`] rejects it.
    pub fn validate(&self) -> Result<(), PmConfigError> {
        if self.addr.is_unspecified() || self.addr.is_multicast() {
            return Err(PmConfigError::UnusableAddress { addr: self.addr });
        }
        if let Some(port) = self.port {
            if port == 0 {
                return Err(PmConfigError::ZeroPort { addr: self.addr });
            }
            // A port means "accept joins here too", which Linux ties to signal-only.
            if !self.flags.signal || self.flags.subflow {
                return Err(PmConfigError::PortNeedsSignalOnly { addr: self.addr });
            }
        }
        if self.flags.signal && self.flags.fullmesh {
            return Err(PmConfigError::SignalWithFullmesh { addr: self.addr });
        }
        Ok(())
    }

    /// Same address and port (IPv4-mapped IPv6 counts as IPv4).
    pub(crate) fn same_address(&self, other: &PmEndpoint) -> bool {
        self.addr.to_canonical() == other.addr.to_canonical() && self.port == other.port
    }
}

/// A configuration `ip mptcp` would refuse, or one braid cannot use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PmConfigError {
    #[error("limits.{limit} is {value}, above the maximum of {MAX_LIMIT}: set it to {MAX_LIMIT} or less")]
    LimitTooHigh { limit: &'static str, value: u8 },
    #[error("{count} endpoints configured, at most {MAX_ENDPOINTS} are allowed: remove some")]
    TooManyEndpoints { count: usize },
    #[error("endpoint {addr} has id 0, which belongs to the initial subflow: give it id=1..255 or call PmConfig::assign_ids()")]
    UnassignedId { addr: IpAddr },
    #[error("endpoints {first} and {second} both have id {id}: give each endpoint its own id")]
    DuplicateId {
        id: u8,
        first: IpAddr,
        second: IpAddr,
    },
    #[error("endpoint {} is listed twice: merge the flags into one endpoint", show_addr(.addr, .port))]
    DuplicateAddress { addr: IpAddr, port: Option<u16> },
    #[error("endpoint {addr} has a port but is not signal-only: a port is allowed only with `signal` and without `subflow`")]
    PortNeedsSignalOnly { addr: IpAddr },
    #[error("endpoint {addr} has port 0: leave the port out instead")]
    ZeroPort { addr: IpAddr },
    #[error("endpoint {addr} has both signal and fullmesh, which Linux refuses: drop one of them")]
    SignalWithFullmesh { addr: IpAddr },
    #[error(
        "endpoint address {addr} is unspecified or multicast: use a unicast address of this host"
    )]
    UnusableAddress { addr: IpAddr },
    #[error("recreate_delay is zero, which would re-open a failed subflow at once, again and again: give at least a few milliseconds (default 1s), or set recreate_failed = false")]
    ZeroRecreateDelay,
    #[error("recreate_delay {delay} is above recreate_max_delay {max}: raise the maximum or lower the delay")]
    RecreateDelayAboveMax { delay: Duration, max: Duration },
}

fn show_addr(addr: &IpAddr, port: &Option<u16>) -> String {
    match port {
        Some(port) => format!("{addr} port {port}"),
        None => addr.to_string(),
    }
}

/// Why an `--endpoint` string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PmEndpointParseError {
    #[error("empty endpoint: expected ADDR[,signal|subflow|backup|fullmesh...][,port=N][,id=N], e.g. 10.0.2.1,subflow")]
    Empty,
    #[error(
        "'{0}' is not an IP address: start the endpoint with one, e.g. 10.0.2.1 or 2001:db8::1"
    )]
    BadAddress(String),
    #[error("empty field between commas in '{0}': remove the extra comma")]
    EmptyField(String),
    #[error("unknown endpoint flag '{0}': use signal, subflow, backup, fullmesh, port=N or id=N")]
    UnknownFlag(String),
    #[error("'{0}' is given twice: give each flag or option once")]
    Repeated(String),
    #[error("port '{0}' is not a number in 1..=65535")]
    BadPort(String),
    #[error("id '{0}' is not a number in 1..=255 (id 0 is the initial subflow's; leave id out to have one assigned)")]
    BadId(String),
    #[error(transparent)]
    Invalid(#[from] PmConfigError),
}

/// Parses `ADDR[,FLAG]...[,port=N][,id=N]` with the flags of `ip mptcp endpoint add`
/// (signal, subflow, backup, fullmesh), e.g. `10.0.2.1,subflow,backup` or
/// `10.0.3.1,signal,port=10100,id=5`. Without `id=` the id is 0, "unassigned".
impl FromStr for PmEndpoint {
    type Err = PmEndpointParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Err(PmEndpointParseError::Empty);
        }
        let mut fields = s.split(',').map(str::trim);
        let addr_text = fields.next().unwrap_or_default();
        if addr_text.is_empty() {
            return Err(PmEndpointParseError::EmptyField(s.to_string()));
        }
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| PmEndpointParseError::BadAddress(addr_text.to_string()))?;
        let mut endpoint = PmEndpoint {
            id: 0,
            addr,
            port: None,
            flags: EndpointFlags::default(),
        };
        let mut id_given = false;
        for field in fields {
            let repeated = || PmEndpointParseError::Repeated(field.to_string());
            let flag = match field {
                "" => return Err(PmEndpointParseError::EmptyField(s.to_string())),
                "signal" => &mut endpoint.flags.signal,
                "subflow" => &mut endpoint.flags.subflow,
                "backup" => &mut endpoint.flags.backup,
                "fullmesh" => &mut endpoint.flags.fullmesh,
                _ => {
                    if let Some(value) = field.strip_prefix("port=") {
                        if endpoint.port.is_some() {
                            return Err(PmEndpointParseError::Repeated("port".into()));
                        }
                        let port = value
                            .parse::<u16>()
                            .ok()
                            .filter(|&port| port != 0)
                            .ok_or_else(|| PmEndpointParseError::BadPort(value.to_string()))?;
                        endpoint.port = Some(port);
                    } else if let Some(value) = field.strip_prefix("id=") {
                        if id_given {
                            return Err(PmEndpointParseError::Repeated("id".into()));
                        }
                        endpoint.id = value
                            .parse::<u8>()
                            .ok()
                            .filter(|&id| id != 0)
                            .ok_or_else(|| PmEndpointParseError::BadId(value.to_string()))?;
                        id_given = true;
                    } else {
                        return Err(PmEndpointParseError::UnknownFlag(field.to_string()));
                    }
                    continue;
                }
            };
            if *flag {
                return Err(repeated());
            }
            *flag = true;
        }
        endpoint.validate()?;
        Ok(endpoint)
    }
}

/// The [`FromStr`] form; id 0 (unassigned) is left out.
impl fmt::Display for PmEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)?;
        let flags = [
            (self.flags.signal, "signal"),
            (self.flags.subflow, "subflow"),
            (self.flags.backup, "backup"),
            (self.flags.fullmesh, "fullmesh"),
        ];
        for (set, name) in flags {
            if set {
                write!(f, ",{name}")?;
            }
        }
        if let Some(port) = self.port {
            write!(f, ",port={port}")?;
        }
        if self.id != 0 {
            write!(f, ",id={}", self.id)?;
        }
        Ok(())
    }
}
