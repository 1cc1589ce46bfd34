//! A scenario as Rust values: what a scenario file says, key for key.
//!
//! Reading TOML fills these types (every table is closed to unknown keys, so that a
//! misspelt key is an error, not a silent default); so do their setters, in Rust, and
//! ready-made networks such as [`super::multipath::Multipath`]. Either way
//! [`super::Scenario::from_spec`] validates them into a [`super::Scenario`]. A field
//! left `None` takes the default the crate documentation gives for its key.
//!
//! Names, link and connection ends (`"host"`, `"host:interface"` or an address), route
//! prefixes and `ip mptcp` endpoints stay text, as in a file, so that a mistake is
//! reported under its field whichever way it came; the setters take them typed where
//! there is a type ([`IpAddr`], [`PmEndpoint`], [`SchedulerKind`]).
//!
//! ```
//! use braid_proto::time::Duration;
//! use braid_sim::scenario::spec::{App, Connection, Host, Link, ScenarioSpec, Tcp};
//! use braid_sim::scenario::units::{Rate, Size};
//! use braid_sim::scenario::Scenario;
//!
//! let spec = ScenarioSpec::new("example")
//!     .duration(Duration::from_secs(10))
//!     .tcp(Tcp::default().recv_buffer(Size::kib(256)))
//!     .host(Host::new("a").address("10.0.0.1".parse().unwrap()))
//!     .host(Host::new("b").address("10.0.0.2".parse().unwrap()))
//!     .link(
//!         Link::between("a", "b")
//!             .rate(Rate::mbit(10))
//!             .delay(Duration::from_millis(5)),
//!     )
//!     .connection(Connection::new("a", "b", App::Bulk { bytes: Size::kb(100) }));
//! let scenario = Scenario::from_spec(spec).unwrap();
//! assert_eq!(scenario.links.len(), 2, "one per direction");
//! ```

use std::fmt;
use std::net::IpAddr;

use braid_proto::pm::PmEndpoint;
use braid_proto::sched::SchedulerKind;
use braid_proto::time::Duration;
use serde::{Deserialize, Serialize};

use super::units::{DurationValue, Probability, Rate, Size, Toggle};
pub use crate::apps::Verify;
pub use crate::host::Routing;
pub use crate::link::DownPolicy;

/// Setters for optional fields: `field(value)` sets the field to `Some(value.into())`.
macro_rules! setters {
    ($ty:ident { $($field:ident: $arg:ty,)* }) => {
        impl $ty {
            $(
                #[doc = concat!("Sets `", stringify!($field), "`.")]
                pub fn $field(mut self, value: $arg) -> Self {
                    self.$field = Some(value.into());
                    self
                }
            )*
        }
    };
}

/// A whole scenario: the top-level keys of a file and its `[[host]]`, `[[router]]`,
/// `[[link]]` and `[[connection]]` tables, in order.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    pub name: Option<String>,
    pub description: Option<String>,
    pub seed: Option<u64>,
    pub duration: Option<DurationValue>,
    pub stop: Option<Stop>,
    pub bin: Option<DurationValue>,
    pub tcp: Option<Tcp>,
    pub mptcp: Option<Mptcp>,
    #[serde(default, rename = "host")]
    pub hosts: Vec<Host>,
    #[serde(default, rename = "router")]
    pub routers: Vec<Router>,
    #[serde(default, rename = "link")]
    pub links: Vec<Link>,
    #[serde(default, rename = "connection")]
    pub connections: Vec<Connection>,
}

impl ScenarioSpec {
    /// A scenario named `name`, with nothing in it yet and every setting at its
    /// default.
    pub fn new(name: impl Into<String>) -> Self {
        ScenarioSpec {
            name: Some(name.into()),
            ..ScenarioSpec::default()
        }
    }

    pub fn host(mut self, host: Host) -> Self {
        self.hosts.push(host);
        self
    }

    pub fn router(mut self, router: Router) -> Self {
        self.routers.push(router);
        self
    }

    pub fn link(mut self, link: Link) -> Self {
        self.links.push(link);
        self
    }

    pub fn connection(mut self, connection: Connection) -> Self {
        self.connections.push(connection);
        self
    }
}

setters!(ScenarioSpec {
    description: impl Into<String>,
    seed: u64,
    duration: Duration,
    stop: Stop,
    bin: Duration,
    tcp: Tcp,
    mptcp: Mptcp,
});

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// Stop once every connection has finished (or at the deadline).
    Finished,
    /// Always run to the deadline.
    Deadline,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
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

impl Cc {
    /// Its name in a scenario file.
    pub fn name(self) -> &'static str {
        match self {
            Cc::Cubic => "cubic",
            Cc::Newreno => "newreno",
            Cc::Lia => "lia",
            Cc::Olia => "olia",
            Cc::Balia => "balia",
        }
    }
}

impl fmt::Display for Cc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// The `[tcp]` table (global) or a host's `tcp = { ... }` (overriding it key by key).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tcp {
    pub cc: Option<Cc>,
    pub mss: Option<u16>,
    pub send_buffer: Option<Size>,
    pub recv_buffer: Option<Size>,
    pub initial_recv_buffer: Option<Size>,
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

setters!(Tcp {
    cc: Cc,
    mss: u16,
    send_buffer: Size,
    recv_buffer: Size,
    initial_recv_buffer: Size,
    window_scaling: bool,
    timestamps: bool,
    sack: bool,
    nagle: bool,
    initial_rto: Duration,
    min_rto: Duration,
    max_rto: Duration,
    syn_retries: u32,
    data_retries: u32,
    time_wait: Duration,
    max_ooo_ranges: usize,
    max_connections: usize,
    syn_backlog: usize,
    accept_backlog: usize,
});

impl Tcp {
    /// Sets `delayed_ack`: how long an ACK may wait, or `None` for none.
    pub fn delayed_ack(mut self, delay: Option<Duration>) -> Self {
        self.delayed_ack = Some(delay.map_or(Toggle::Off, |d| Toggle::On(d.into())));
        self
    }

    /// Sets `keepalive`, or turns it off with `None`.
    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
        self.keepalive = Some(keepalive.map_or(Toggle::Off, Toggle::On));
        self
    }
}

/// The `[mptcp]` table (global) or a host's `mptcp = { ... }` (overriding it key by
/// key; `limits` key by key too).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mptcp {
    pub enabled: Option<bool>,
    pub checksums: Option<bool>,
    pub max_subflows: Option<usize>,
    pub max_mapping: Option<Size>,
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
    /// How long a connection that lost every subflow waits for one to come back
    /// (`MptcpConfig::close_timeout`, 60 s by default).
    pub close_timeout: Option<DurationValue>,
}

setters!(Mptcp {
    enabled: bool,
    checksums: bool,
    max_subflows: usize,
    max_mapping: Size,
    limits: MptcpLimits,
    join_announced: bool,
    add_addr_timeout: Duration,
    add_addr_retransmissions: u8,
    send_autotune: bool,
    receive_autotune: bool,
    close_timeout: Duration,
});

impl Mptcp {
    /// Adds an endpoint (`ip mptcp endpoint add`).
    pub fn endpoint(mut self, endpoint: PmEndpoint) -> Self {
        self.endpoints
            .get_or_insert_with(Vec::new)
            .push(endpoint.to_string());
        self
    }

    /// Sets `scheduler`.
    pub fn scheduler(mut self, scheduler: SchedulerKind) -> Self {
        self.scheduler = Some(scheduler.name().to_string());
        self
    }
}

/// `ip mptcp limits`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MptcpLimits {
    pub subflows: Option<u8>,
    pub add_addr_accepted: Option<u8>,
}

setters!(MptcpLimits {
    subflows: u8,
    add_addr_accepted: u8,
});

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Keepalive {
    pub idle: DurationValue,
    pub interval: DurationValue,
    pub probes: u32,
}

impl Keepalive {
    pub fn new(idle: Duration, interval: Duration, probes: u32) -> Self {
        Keepalive {
            idle: idle.into(),
            interval: interval.into(),
            probes,
        }
    }
}

/// A `[[host]]`: its addresses (on interfaces), routes and settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub name: String,
    /// Shorthand: one interface per address, named eth0, eth1, ...
    pub addresses: Option<Vec<String>>,
    /// Or interfaces spelt out (not both).
    #[serde(rename = "interface")]
    pub interfaces: Option<Vec<Interface>>,
    #[serde(default, rename = "route")]
    pub routes: Vec<Route>,
    pub routing: Option<Routing>,
    pub tcp: Option<Tcp>,
    pub mptcp: Option<Mptcp>,
}

impl Host {
    /// A host named `name`, with no address yet.
    pub fn new(name: impl Into<String>) -> Self {
        Host {
            name: name.into(),
            ..Host::default()
        }
    }

    /// Adds `address` on an interface of its own, named eth0, eth1, ... in order (the
    /// `addresses` shorthand; not together with [`Host::interface`]).
    pub fn address(mut self, address: IpAddr) -> Self {
        self.addresses
            .get_or_insert_with(Vec::new)
            .push(address.to_string());
        self
    }

    /// Adds an interface named `name` with `addresses`.
    pub fn interface(
        mut self,
        name: impl Into<String>,
        addresses: impl IntoIterator<Item = IpAddr>,
    ) -> Self {
        self.interfaces
            .get_or_insert_with(Vec::new)
            .push(Interface {
                name: Some(name.into()),
                addresses: addresses.into_iter().map(|a| a.to_string()).collect(),
            });
        self
    }

    /// Adds a route: destinations in `to` (`"10.0.2.0/24"`, an address, or
    /// `"default"`) leave by `interface` (its name or number).
    pub fn route(mut self, to: impl Into<String>, interface: impl Into<InterfaceRef>) -> Self {
        self.routes.push(Route::new(to, interface));
        self
    }
}

setters!(Host {
    routing: Routing,
    tcp: Tcp,
    mptcp: Mptcp,
});

/// A `[[router]]`: named interfaces and routes, no addresses.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Router {
    pub name: String,
    /// Interface names, numbered from 0 in this order.
    pub interfaces: Vec<String>,
    #[serde(default, rename = "route")]
    pub routes: Vec<Route>,
}

impl Router {
    /// A router named `name` with these interfaces, and no route yet.
    pub fn new(
        name: impl Into<String>,
        interfaces: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Router {
            name: name.into(),
            interfaces: interfaces.into_iter().map(Into::into).collect(),
            routes: Vec::new(),
        }
    }

    /// Adds a route, as [`Host::route`].
    pub fn route(mut self, to: impl Into<String>, interface: impl Into<InterfaceRef>) -> Self {
        self.routes.push(Route::new(to, interface));
        self
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    pub name: Option<String>,
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// "10.0.2.0/24", an address (a host route), or "default".
    pub to: String,
    /// The interface: its name, or its number.
    pub interface: InterfaceRef,
}

impl Route {
    fn new(to: impl Into<String>, interface: impl Into<InterfaceRef>) -> Self {
        Route {
            to: to.into(),
            interface: interface.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum InterfaceRef {
    Index(usize),
    Name(String),
}

impl From<usize> for InterfaceRef {
    fn from(index: usize) -> Self {
        InterfaceRef::Index(index)
    }
}

impl From<&str> for InterfaceRef {
    fn from(name: &str) -> Self {
        InterfaceRef::Name(name.to_string())
    }
}

impl From<String> for InterfaceRef {
    fn from(name: String) -> Self {
        InterfaceRef::Name(name)
    }
}

/// Gilbert-Elliott loss: `p` from good to bad, `r` back; in the good state packets
/// are lost with `loss_good` (default 0), in the bad one with `loss_bad` (default 1).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BurstLoss {
    pub p: Probability,
    pub r: Probability,
    pub loss_good: Option<Probability>,
    pub loss_bad: Option<Probability>,
}

impl BurstLoss {
    /// Gilbert's model: every packet lost in the bad state, none in the good one.
    pub fn new(p: f64, r: f64) -> Self {
        BurstLoss {
            p: p.into(),
            r: r.into(),
            loss_good: None,
            loss_bad: None,
        }
    }
}

/// `probability` of a packet being held back `delay` longer than the others.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reorder {
    pub probability: Probability,
    pub delay: DurationValue,
}

impl Reorder {
    pub fn new(probability: f64, delay: Duration) -> Self {
        Reorder {
            probability: probability.into(),
            delay: delay.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Up,
    Down,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Both,
    Forward,
    Reverse,
}

/// Declares a struct with the link parameters as optional fields (and setters), plus
/// `extra` fields, and a method returning the parameters alone. (serde's `flatten`
/// would do, but not together with `deny_unknown_fields`.)
macro_rules! with_link_params {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident: $t:ty,)* }) => {
        $(#[$m])*
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
            pub rate: Option<Rate>,
            pub delay: Option<DurationValue>,
            pub jitter: Option<DurationValue>,
            pub loss: Option<Probability>,
            pub burst_loss: Option<Toggle<BurstLoss>>,
            pub reorder: Option<Toggle<Reorder>>,
            pub duplicate: Option<Probability>,
            pub queue: Option<Size>,
            pub mtu: Option<usize>,
            pub down_policy: Option<DownPolicy>,
        }

        #[allow(dead_code)] // not every struct the macro declares needs it
        impl $name {
            /// The link parameters alone.
            pub(crate) fn params(&self) -> LinkParams {
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

        setters!($name {
            rate: Rate,
            delay: Duration,
            jitter: Duration,
            loss: f64,
            burst_loss: BurstLoss,
            reorder: Reorder,
            duplicate: f64,
            queue: Size,
            mtu: usize,
            down_policy: DownPolicy,
        });
    };
}

with_link_params! {
    /// Link parameters, each optional: a direction's overrides, or the result of
    /// merging.
    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct LinkParams {}
}

with_link_params! {
    /// A `[[link]]`: duplex (`between`) or one-way (`from`, `to`), its parameters,
    /// schedule and middleboxes.
    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
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
        #[serde(default, rename = "middlebox")]
        pub middleboxes: Vec<Middlebox>,
    }
}

impl Link {
    /// A duplex link between two interfaces, each a host or router with one
    /// interface, `"name:interface"`, or an address of a host.
    pub fn between(a: impl Into<String>, b: impl Into<String>) -> Self {
        Link {
            between: Some(vec![a.into(), b.into()]),
            ..Link::default()
        }
    }

    /// A link in one direction only.
    pub fn one_way(from: impl Into<String>, to: impl Into<String>) -> Self {
        Link {
            from: Some(from.into()),
            to: Some(to.into()),
            ..Link::default()
        }
    }

    /// Adds a schedule entry.
    pub fn schedule(mut self, entry: ScheduleEntry) -> Self {
        self.schedule.push(entry);
        self
    }

    /// Adds a middlebox after those already there.
    pub fn middlebox(mut self, middlebox: Middlebox) -> Self {
        self.middleboxes.push(middlebox);
        self
    }
}

setters!(Link {
    name: impl Into<String>,
    forward: LinkParams,
    reverse: LinkParams,
});

with_link_params! {
    /// A change to a link at a time: its state, its parameters, or both.
    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
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

impl ScheduleEntry {
    /// An entry at `at` that changes nothing yet.
    pub fn at(at: Duration) -> Self {
        ScheduleEntry {
            at: at.into(),
            ..ScheduleEntry::default()
        }
    }
}

setters!(ScheduleEntry {
    direction: Direction,
    state: State,
    notify: bool,
});

impl LinkParams {
    /// `self`, with the fields `over` sets replaced.
    pub(crate) fn merged(&self, over: &LinkParams) -> LinkParams {
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
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
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
        max_payload: Size,
        direction: Option<Direction>,
    },
    Coalesce {
        max_payload: Size,
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

impl Middlebox {
    /// A `payload_rewrite` that flips the first payload byte of the `segment`-th data
    /// segment (from 1) going `direction`, and no other segment: a corruption that only
    /// MPTCP's DSS checksum can tell.
    pub fn corrupt_once(segment: u64, direction: Direction) -> Self {
        Middlebox::PayloadRewrite {
            segment: Some(segment),
            contains: None,
            xor: None,
            offset: None,
            replace: None,
            times: Some(1),
            max_flows: None,
            direction: Some(direction),
        }
    }
}

/// A `[[connection]]`: a client's application connecting to a server's.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    pub name: Option<String>,
    /// A host, `"host:interface"`, or an address; the server likewise.
    pub client: String,
    pub server: String,
    pub port: Option<u16>,
    pub client_port: Option<u16>,
    pub start: Option<DurationValue>,
    pub app: App,
    pub server_app: Option<App>,
}

impl Connection {
    /// `client` running `app`, connecting to `server` at the start of the run; the
    /// server runs the usual peer of `app`.
    pub fn new(client: impl Into<String>, server: impl Into<String>, app: App) -> Self {
        Connection {
            name: None,
            client: client.into(),
            server: server.into(),
            port: None,
            client_port: None,
            start: None,
            app,
            server_app: None,
        }
    }
}

setters!(Connection {
    name: impl Into<String>,
    port: u16,
    client_port: u16,
    start: Duration,
    server_app: App,
});

/// An application, at either end of a connection.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum App {
    Bulk {
        bytes: Size,
    },
    Sink {
        verify: Option<Verify>,
    },
    Echo {},
    RequestResponse {
        request: Size,
        response: Size,
        count: Option<u64>,
    },
    Responder {
        request: Size,
        response: Size,
    },
    Scripted {
        actions: Vec<Action>,
    },
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Write,
    Close,
    Abort,
}

/// A step of a scripted application.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub at: DurationValue,
    pub action: ActionKind,
    pub bytes: Option<Size>,
}

impl Action {
    pub fn write(at: Duration, bytes: Size) -> Self {
        Action {
            at: at.into(),
            action: ActionKind::Write,
            bytes: Some(bytes),
        }
    }

    pub fn close(at: Duration) -> Self {
        Action {
            at: at.into(),
            action: ActionKind::Close,
            bytes: None,
        }
    }

    pub fn abort(at: Duration) -> Self {
        Action {
            at: at.into(),
            action: ActionKind::Abort,
            bytes: None,
        }
    }
}
