//! The scenario file as written: serde structures that mirror the TOML, every table
//! closed to unknown keys so that a misspelt key is an error, not a silent default.
//! [`super::validate`] turns them into a [`super::Scenario`].

use serde::Deserialize;

use super::units::{DurationValue, Probability, RateValue, SizeValue, Toggle};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub name: Option<String>,
    pub description: Option<String>,
    pub seed: Option<u64>,
    pub duration: Option<DurationValue>,
    pub stop: Option<Stop>,
    pub bin: Option<DurationValue>,
    pub tcp: Option<Tcp>,
    pub mptcp: Option<Mptcp>,
    #[serde(default)]
    pub host: Vec<Host>,
    #[serde(default)]
    pub router: Vec<Router>,
    #[serde(default)]
    pub link: Vec<Link>,
    #[serde(default)]
    pub connection: Vec<Connection>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// Stop once every connection has finished (or at the deadline).
    Finished,
    /// Always run to the deadline.
    Deadline,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Cc {
    Cubic,
    #[serde(alias = "new_reno", alias = "reno")]
    Newreno,
    /// RFC 6356 coupled ("Linked Increases").
    Lia,
    Olia,
    Balia,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tcp {
    pub cc: Option<Cc>,
    pub mss: Option<u16>,
    pub send_buffer: Option<SizeValue>,
    pub recv_buffer: Option<SizeValue>,
    pub initial_recv_buffer: Option<SizeValue>,
    pub window_scaling: Option<bool>,
    pub timestamps: Option<bool>,
    pub sack: Option<bool>,
    pub nagle: Option<bool>,
    pub delayed_ack: Option<Toggle<DurationValue>>,
    pub initial_rto: Option<DurationValue>,
    pub min_rto: Option<DurationValue>,
    pub max_rto: Option<DurationValue>,
    pub syn_retries: Option<u32>,
    pub data_retries: Option<u32>,
    pub time_wait: Option<DurationValue>,
    pub keepalive: Option<Toggle<Keepalive>>,
    pub max_ooo_ranges: Option<usize>,
    pub max_connections: Option<usize>,
    pub syn_backlog: Option<usize>,
    pub accept_backlog: Option<usize>,
}

/// The `[mptcp]` table (global) or a host's `mptcp = { ... }` (overriding it key by
/// key; `limits` key by key too).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mptcp {
    pub enabled: Option<bool>,
    pub checksums: Option<bool>,
    pub max_subflows: Option<usize>,
    pub max_mapping: Option<SizeValue>,
    /// `"ADDR,signal|subflow|backup|fullmesh[,port=N][,id=N]"`, as braid-proto's
    /// `PmEndpoint` parses them. Only in a host's table: they are its addresses.
    pub endpoints: Option<Vec<String>>,
    pub limits: Option<MptcpLimits>,
    pub join_announced: Option<bool>,
    pub add_addr_timeout: Option<DurationValue>,
    pub add_addr_retransmissions: Option<u8>,
    /// `"lowest-rtt"`, `"blest"`, ... or a preset, as braid-proto's `SchedulerKind`
    /// parses them.
    pub scheduler: Option<String>,
    /// Buffer auto-tuning across subflows (`MptcpConfig::send_autotune`,
    /// `receive_autotune`; both off by default).
    pub send_autotune: Option<bool>,
    pub receive_autotune: Option<bool>,
}

/// `ip mptcp limits`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MptcpLimits {
    pub subflows: Option<u8>,
    pub add_addr_accepted: Option<u8>,
}

/// How a host picks the interface a packet leaves by.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Routing {
    /// By the source address (a policy routing table per address).
    Source,
    /// By `route` on the destination address (one main table).
    Destination,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keepalive {
    pub idle: DurationValue,
    pub interval: DurationValue,
    pub probes: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub name: String,
    /// Shorthand: one interface per address, named eth0, eth1, ...
    pub addresses: Option<Vec<String>>,
    pub interface: Option<Vec<Interface>>,
    #[serde(default)]
    pub route: Vec<Route>,
    pub routing: Option<Routing>,
    pub tcp: Option<Tcp>,
    pub mptcp: Option<Mptcp>,
}

/// A `[[router]]`: named interfaces and routes, no addresses.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Router {
    pub name: String,
    /// Interface names, numbered from 0 in this order.
    pub interfaces: Vec<String>,
    #[serde(default)]
    pub route: Vec<Route>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    pub name: Option<String>,
    pub addresses: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// "10.0.2.0/24", an address (a host route), or "default".
    pub to: String,
    /// The interface: its name, or its number.
    pub interface: InterfaceRef,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum InterfaceRef {
    Index(usize),
    Name(String),
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurstLoss {
    pub p: Probability,
    pub r: Probability,
    pub loss_good: Option<Probability>,
    pub loss_bad: Option<Probability>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reorder {
    pub probability: Probability,
    pub delay: DurationValue,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DownPolicy {
    Drop,
    Hold,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Up,
    Down,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Both,
    Forward,
    Reverse,
}

/// Declares a struct with the link parameters as optional fields, plus `extra` fields,
/// and a method returning the parameters alone. (serde's `flatten` would do, but not
/// together with `deny_unknown_fields`.)
macro_rules! with_link_params {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident: $t:ty,)* }) => {
        $(#[$m])*
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
            pub rate: Option<RateValue>,
            pub delay: Option<DurationValue>,
            pub jitter: Option<DurationValue>,
            pub loss: Option<Probability>,
            pub burst_loss: Option<Toggle<BurstLoss>>,
            pub reorder: Option<Toggle<Reorder>>,
            pub duplicate: Option<Probability>,
            pub queue: Option<SizeValue>,
            pub mtu: Option<usize>,
            pub down_policy: Option<DownPolicy>,
        }

        #[allow(dead_code)] // not every struct the macro declares needs it
        impl $name {
            pub fn params(&self) -> LinkParams {
                LinkParams {
                    rate: self.rate,
                    delay: self.delay,
                    jitter: self.jitter,
                    loss: self.loss,
                    burst_loss: self.burst_loss,
                    reorder: self.reorder,
                    duplicate: self.duplicate,
                    queue: self.queue,
                    mtu: self.mtu,
                    down_policy: self.down_policy,
                }
            }
        }
    };
}

with_link_params! {
    /// Link parameters, each optional: a direction's overrides, or the result of
    /// merging.
    #[derive(Debug, Clone, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct LinkParams {}
}

with_link_params! {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Link {
        pub name: Option<String>,
        /// Duplex: both directions, the same parameters unless overridden.
        pub between: Option<Vec<String>>,
        /// One direction only.
        pub from: Option<String>,
        pub to: Option<String>,
        /// Overrides for `between[0] -> between[1]`.
        pub forward: Option<LinkParams>,
        /// Overrides for `between[1] -> between[0]`.
        pub reverse: Option<LinkParams>,
        #[serde(default)]
        pub schedule: Vec<ScheduleEntry>,
        /// Stages packets cross before the link's queue, in order.
        #[serde(default)]
        pub middlebox: Vec<Middlebox>,
    }
}

with_link_params! {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ScheduleEntry {
        pub at: DurationValue,
        pub direction: Option<Direction>,
        pub state: Option<State>,
        /// With `state`: the hosts at the link's ends are told (their interface on
        /// it loses its addresses, and gets them back).
        pub notify: Option<bool>,
    }
}

impl LinkParams {
    /// `self`, with the fields `over` sets replaced.
    pub fn merged(&self, over: &LinkParams) -> LinkParams {
        LinkParams {
            rate: over.rate.or(self.rate),
            delay: over.delay.or(self.delay),
            jitter: over.jitter.or(self.jitter),
            loss: over.loss.or(self.loss),
            burst_loss: over.burst_loss.or(self.burst_loss),
            reorder: over.reorder.or(self.reorder),
            duplicate: over.duplicate.or(self.duplicate),
            queue: over.queue.or(self.queue),
            mtu: over.mtu.or(self.mtu),
            down_policy: over.down_policy.or(self.down_policy),
        }
    }
}

/// Which segments `strip_mptcp` strips.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StripOn {
    Syn,
    SynAck,
    ThirdAck,
    FromDataSegment,
    All,
}

/// A middlebox on a link (see `crate::middlebox`). `direction` says which direction of
/// a duplex link gets it (default both: one stage per direction, but one box for
/// `seq_rewrite` and `nat`, which need both directions).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Middlebox {
    StripOption {
        kind: u8,
        direction: Option<Direction>,
    },
    StripMptcp {
        on: StripOn,
        /// With `on = "from_data_segment"`: the first data segment stripped, from 1.
        segment: Option<u64>,
        max_flows: Option<usize>,
        direction: Option<Direction>,
    },
    Split {
        max_payload: SizeValue,
        direction: Option<Direction>,
    },
    Coalesce {
        max_payload: SizeValue,
        hold: DurationValue,
        max_flows: Option<usize>,
        direction: Option<Direction>,
    },
    SeqRewrite {
        /// A fixed offset; default: per direction, drawn from the scenario seed.
        offset: Option<u32>,
        direction: Option<Direction>,
    },
    Nat {
        inside: String,
        outside: String,
        /// `[first, last]`: translate source ports into this range.
        ports: Option<[u16; 2]>,
        max_mappings: Option<usize>,
    },
    PayloadRewrite {
        /// The n-th data segment of each flow, from 1.
        segment: Option<u64>,
        /// Or data segments containing these bytes.
        contains: Option<String>,
        /// XOR mask of the byte at `offset`; default 0xff.
        xor: Option<u8>,
        offset: Option<usize>,
        /// Or replace `contains` with these bytes (same length).
        replace: Option<String>,
        times: Option<u64>,
        max_flows: Option<usize>,
        direction: Option<Direction>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    pub name: Option<String>,
    pub client: String,
    pub server: String,
    pub port: Option<u16>,
    pub client_port: Option<u16>,
    pub start: Option<DurationValue>,
    pub app: App,
    pub server_app: Option<App>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Verify {
    Pattern,
    Sha256,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum App {
    Bulk {
        bytes: SizeValue,
    },
    Sink {
        verify: Option<Verify>,
    },
    Echo {},
    RequestResponse {
        request: SizeValue,
        response: SizeValue,
        count: Option<u64>,
    },
    Responder {
        request: SizeValue,
        response: SizeValue,
    },
    Scripted {
        actions: Vec<Action>,
    },
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Write,
    Close,
    Abort,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub at: DurationValue,
    pub action: ActionKind,
    pub bytes: Option<SizeValue>,
}
