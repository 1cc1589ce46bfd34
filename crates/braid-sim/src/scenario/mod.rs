//! Scenarios: hosts, links, TCP settings and applications, in TOML or as Rust values
//! ([`spec`], and the ready-made network of [`multipath`]), validated into a
//! [`Scenario`] that builds a [`Simulator`] and runs it into a [`Report`].
//!
//! The format is described in the crate documentation ([`crate`], "Scenario files" and
//! "Scenarios in Rust") and shown, commented, in `examples/scenarios/` at the root of
//! the repository.
//!
//! ```
//! use braid_sim::scenario::{RunOptions, Scenario};
//!
//! let scenario = Scenario::from_toml(r#"
//!     duration = "10s"
//!     [[host]]
//!     name = "a"
//!     addresses = ["10.0.0.1"]
//!     [[host]]
//!     name = "b"
//!     addresses = ["10.0.0.2"]
//!     [[link]]
//!     between = ["a", "b"]
//!     rate = "10Mbit"
//!     delay = "5ms"
//!     [[connection]]
//!     client = "a"
//!     server = "b"
//!     app = { type = "bulk", bytes = "100KB" }
//! "#).unwrap();
//! let result = scenario.run(&RunOptions::default()).unwrap();
//! let upload = &result.report.connections[0].upload;
//! assert_eq!(upload.bytes_delivered, 100_000);
//! assert_eq!(upload.integrity, braid_sim::report::Integrity::Intact);
//! ```

mod middlebox;
pub mod multipath;
pub mod spec;
#[cfg(test)]
pub(crate) mod testing;
pub mod units;

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufWriter};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use braid_proto::endpoint::{CcAlgorithm, EndpointConfig};
use braid_proto::mptcp::MptcpConfig;
use braid_proto::pm::{PmConfigError, PmEndpoint};
use braid_proto::sched::SchedulerKind;
use braid_proto::tcp::Keepalive;
use braid_proto::time::{Duration, Instant};
use thiserror::Error;

use crate::apps::{AppSpec, ScriptAction};
use crate::host::{Host, InterfaceEvent, Routing};
use crate::link::{GilbertElliott, LinkChange, LinkConfig, Reorder};
use crate::pcap::DEFAULT_SNAPLEN;
use crate::report::{Collect, Outcome, Report};
use crate::rng::domain;
use crate::router::Router;
use crate::sim::{LinkId, NodeId, SimConfig, Simulator};
use spec::{InterfaceRef, LinkParams, ScenarioSpec};
use units::Toggle;

pub use middlebox::{MiddleboxPlan, MiddleboxSpec};

/// The default run length when a file gives none.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(60);

/// The server port when a connection names none.
pub const DEFAULT_PORT: u16 = 5001;

/// A scenario file that could not be used.
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read {}: {error}", path.display())]
    Read { path: PathBuf, error: io::Error },
    /// Not valid TOML, or a key or value of the wrong kind.
    #[error("{}{}{message}", file_prefix(file), location(*line, *column))]
    Syntax {
        file: Option<PathBuf>,
        line: usize,
        column: usize,
        message: String,
    },
    /// Well-formed, but not a scenario that can run: `field` is the key at fault, as a
    /// path (`link[0].between[1]`).
    #[error("{}{field}: {message}", file_prefix(file))]
    Invalid {
        file: Option<PathBuf>,
        field: String,
        message: String,
    },
}

fn file_prefix(file: &Option<PathBuf>) -> String {
    file.as_ref()
        .map(|f| format!("{}: ", f.display()))
        .unwrap_or_default()
}

fn location(line: usize, column: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!("line {line}, column {column}: ")
    }
}

impl ScenarioError {
    fn with_file(mut self, path: &Path) -> Self {
        match &mut self {
            ScenarioError::Syntax { file, .. } | ScenarioError::Invalid { file, .. } => {
                *file = Some(path.to_path_buf());
            }
            ScenarioError::Read { .. } => {}
        }
        self
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        file: None,
        field: field.into(),
        message: message.into(),
    }
}

/// One interface of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfacePlan {
    pub name: String,
    pub addresses: Vec<IpAddr>,
}

/// A route: destinations in `prefix/len` use interface `iface`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutePlan {
    pub prefix: IpAddr,
    pub len: u8,
    pub iface: usize,
}

/// A host of a validated scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPlan {
    pub name: String,
    pub interfaces: Vec<InterfacePlan>,
    pub routes: Vec<RoutePlan>,
    /// How packets pick their interface.
    pub routing: Routing,
    /// TCP and MPTCP settings (`[tcp]` and `[mptcp]` merged with the host's own).
    pub endpoint: EndpointConfig,
    /// Its interfaces going down and coming back (link schedule entries with
    /// `notify = true`), in time order.
    pub interface_events: Vec<InterfaceEvent>,
}

/// A router of a validated scenario (see [`crate::router`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterPlan {
    pub name: String,
    /// Interface names; links attach to their numbers.
    pub interfaces: Vec<String>,
    pub routes: Vec<RoutePlan>,
}

/// One direction of a link: from (node, interface) to (node, interface). Nodes are
/// numbered hosts first, then routers: node `hosts.len() + i` is router `i`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkPlan {
    /// The link's name (shared by both directions of a duplex link).
    pub name: String,
    pub from: (usize, usize),
    pub to: (usize, usize),
    pub config: LinkConfig,
    pub schedule: Vec<(Instant, LinkChange)>,
    /// The direction's middleboxes, in order, before its queue.
    pub middleboxes: Vec<MiddleboxPlan>,
}

/// A connection of a validated scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionPlan {
    pub name: String,
    /// Client host, and its address (port 0: an ephemeral port).
    pub client: usize,
    pub local: SocketAddr,
    pub server: usize,
    pub remote: SocketAddr,
    pub start: Instant,
    pub app: AppSpec,
    pub server_app: AppSpec,
}

/// A validated scenario. Its fields may be changed before running (tests shorten the
/// duration or change a link); [`Scenario::run`] does not validate again.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    /// The seed when [`RunOptions::seed`] gives none.
    pub seed: u64,
    /// The deadline of the run.
    pub duration: Duration,
    /// Stop before the deadline once every connection has finished.
    pub stop_when_finished: bool,
    /// Width of the bins of every throughput series.
    pub bin: Duration,
    pub hosts: Vec<HostPlan>,
    pub routers: Vec<RouterPlan>,
    pub links: Vec<LinkPlan>,
    pub connections: Vec<ConnectionPlan>,
}

/// Where the packets each link direction delivers are captured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Capture {
    #[default]
    None,
    /// In memory, returned in [`RunResult::pcaps`].
    Memory,
    /// One file per link direction in this directory (created if missing), named
    /// `LINK.FROM-TO.pcap`.
    Directory(PathBuf),
}

/// How to run a scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    pub capture: Capture,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub report: Report,
    /// With [`Capture::Memory`]: each link direction's capture file name and bytes, in
    /// link order.
    pub pcaps: Vec<(String, Vec<u8>)>,
}

/// A scenario built into a simulator, ready to run or to be changed first.
pub struct Built {
    pub sim: Simulator,
    /// Node of each host, in scenario order.
    pub hosts: Vec<NodeId>,
    /// Node of each router, in scenario order, with its name.
    pub routers: Vec<(NodeId, String)>,
    /// Each link direction, in scenario order, with the link's name.
    pub links: Vec<(LinkId, String)>,
    /// The capture file name of each link direction.
    pub pcap_names: Vec<String>,
    pub seed: u64,
}

impl fmt::Debug for Built {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Built")
            .field("sim", &self.sim)
            .field("hosts", &self.hosts)
            .finish()
    }
}

impl Scenario {
    /// Reads and validates a scenario file. Errors name the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| ScenarioError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Scenario::from_toml(&text).map_err(|e| e.with_file(path))
    }

    /// Parses and validates a scenario.
    pub fn from_toml(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::from_spec(ScenarioSpec::from_toml(text)?)
    }

    /// Validates a scenario described in Rust, or read from a file. Errors name the
    /// field at fault as the file's key would be (`link[0].between[1]`).
    pub fn from_spec(spec: ScenarioSpec) -> Result<Scenario, ScenarioError> {
        validate(spec)
    }

    /// Builds the simulator: hosts with their listeners and planned connects, links
    /// with their schedules.
    pub fn build(&self, seed: u64) -> Built {
        let mut sim = Simulator::with_config(SimConfig {
            seed,
            metrics_bin: self.bin,
            ..SimConfig::default()
        });
        let mut hosts = Vec::new();
        for (i, h) in self.hosts.iter().enumerate() {
            let host_seed = sim.seed_for(domain::NODE, i as u64);
            let mut host =
                Host::new(h.name.clone(), h.endpoint.clone(), host_seed).with_bin(self.bin);
            for iface in &h.interfaces {
                host.add_interface(iface.addresses.iter().copied());
            }
            for r in &h.routes {
                host.add_route(r.prefix, r.len, r.iface);
            }
            host.set_routing(h.routing);
            for &e in &h.interface_events {
                host.interface_event_at(e);
            }
            hosts.push(host);
        }
        let mut listening = BTreeMap::new();
        for c in &self.connections {
            if listening.insert((c.server, c.remote), ()).is_none() {
                hosts[c.server]
                    .listen_spec(c.remote, c.server_app.clone())
                    .expect("validated: a local address, listened on once");
            }
            hosts[c.client].connect_at(
                c.start,
                c.local,
                c.remote,
                c.app.clone(),
                Some(c.name.clone()),
            );
        }
        let hosts: Vec<NodeId> = hosts.into_iter().map(|h| sim.add_node(h)).collect();
        let routers: Vec<(NodeId, String)> = self
            .routers
            .iter()
            .map(|r| {
                let mut router = Router::new(r.name.clone(), r.interfaces.len());
                for route in &r.routes {
                    router.add_route(route.prefix, route.len, route.iface);
                }
                (sim.add_node(router), r.name.clone())
            })
            .collect();
        let nodes: Vec<NodeId> = hosts
            .iter()
            .copied()
            .chain(routers.iter().map(|r| r.0))
            .collect();
        let mut links = Vec::new();
        let mut pcap_names = Vec::new();
        let mut shared = middlebox::SharedStages::default();
        for l in &self.links {
            let id = sim.add_link(
                (nodes[l.from.0], l.from.1),
                (nodes[l.to.0], l.to.1),
                l.config.clone(),
            );
            for m in &l.middleboxes {
                middlebox::add(&mut sim, id, m, &mut shared);
            }
            for (at, change) in &l.schedule {
                sim.schedule(id, *at, change.clone());
            }
            links.push((id, l.name.clone()));
            pcap_names.push(format!(
                "{}.{}-{}.pcap",
                l.name,
                self.node_name(l.from.0),
                self.node_name(l.to.0)
            ));
        }
        Built {
            sim,
            hosts,
            routers,
            links,
            pcap_names,
            seed,
        }
    }

    /// The name of node `node` of a [`LinkPlan`]: a host, or a router after them.
    pub fn node_name(&self, node: usize) -> &str {
        match self.hosts.get(node) {
            Some(h) => &h.name,
            None => &self.routers[node - self.hosts.len()].name,
        }
    }

    /// Builds and runs the scenario, captures as asked, and reports.
    pub fn run(&self, options: &RunOptions) -> io::Result<RunResult> {
        let seed = options.seed.unwrap_or(self.seed);
        let mut built = self.build(seed);
        let mut file_names = vec![None; built.links.len()];
        match &options.capture {
            Capture::None => {}
            Capture::Memory => {
                for &(id, _) in &built.links {
                    built.sim.capture(id);
                }
            }
            Capture::Directory(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))
                })?;
                for (i, &(id, _)) in built.links.iter().enumerate() {
                    let name = &built.pcap_names[i];
                    let path = dir.join(name);
                    let file = std::fs::File::create(&path).map_err(|e| {
                        io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))
                    })?;
                    built
                        .sim
                        .capture_to(id, BufWriter::new(file), DEFAULT_SNAPLEN)?;
                    file_names[i] = Some(name.clone());
                }
            }
        }
        let outcome = built.run(self.duration, self.stop_when_finished);
        if let Capture::Directory(dir) = &options.capture {
            built.sim.flush_captures()?;
            for (i, &(id, _)) in built.links.iter().enumerate() {
                if let Some(e) = built.sim.capture_error(id) {
                    let path = dir.join(&built.pcap_names[i]);
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot write {}: {e}", path.display()),
                    ));
                }
            }
        }
        let mut report = built.report(&self.name, outcome, &file_names);
        let order: BTreeMap<&str, usize> = self
            .connections
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), i))
            .collect();
        report
            .connections
            .sort_by_key(|c| order.get(c.name.as_str()).copied().unwrap_or(usize::MAX));
        let pcaps = match options.capture {
            Capture::Memory => built
                .links
                .iter()
                .zip(&built.pcap_names)
                .map(|(&(id, _), name)| {
                    (
                        name.clone(),
                        built.sim.pcap(id).unwrap_or_default().to_vec(),
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(RunResult { report, pcaps })
    }
}

impl ScenarioSpec {
    /// Parses a scenario, not validating it yet (see [`Scenario::from_spec`]).
    pub fn from_toml(text: &str) -> Result<ScenarioSpec, ScenarioError> {
        toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| line_column(text, s.start))
                .unwrap_or((0, 0));
            ScenarioError::Syntax {
                file: None,
                line,
                column,
                message: one_line(e.message()),
            }
        })
    }
}

impl ScenarioSpec {
    /// The scenario as a file: [`ScenarioSpec::from_toml`] reads it back to an equal
    /// spec, so a scenario made in Rust (a generated one, say) can be saved and run
    /// again with `braid sim`.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("every scenario value has a TOML form")
    }
}

impl Built {
    /// Runs until `duration` of virtual time, or, with `stop_when_finished`, until
    /// every host has finished (see [`Host::is_finished`]).
    pub fn run(&mut self, duration: Duration, stop_when_finished: bool) -> Outcome {
        let deadline = Instant::ZERO + duration;
        let limit = self.sim.config().max_events_per_run;
        let mut count = 0u64;
        loop {
            if stop_when_finished && self.finished() {
                return Outcome::Completed;
            }
            match self.sim.next_event() {
                Some(t) if t <= deadline => {
                    if count >= limit {
                        return Outcome::EventLimit;
                    }
                    self.sim.step();
                    count += 1;
                }
                None if stop_when_finished => return Outcome::Idle,
                _ => {
                    self.sim.run_until(deadline);
                    return Outcome::Deadline;
                }
            }
        }
    }

    /// Whether every host has finished.
    pub fn finished(&self) -> bool {
        self.hosts
            .iter()
            .all(|&h| self.sim.node::<Host>(h).is_finished())
    }

    /// The host of scenario host `index`.
    pub fn host(&self, index: usize) -> &Host {
        self.sim.node::<Host>(self.hosts[index])
    }

    /// The report of the run so far.
    pub fn report(&self, scenario: &str, outcome: Outcome, pcaps: &[Option<String>]) -> Report {
        let mut report = Report::collect(
            &self.sim,
            &Collect {
                scenario,
                seed: self.seed,
                outcome,
                hosts: &self.hosts,
                links: &self.links,
                pcaps,
            },
        );
        // Link ends at routers are named after them (the report knows only hosts).
        for (l, &(id, _)) in report.links.iter_mut().zip(&self.links) {
            let ((from, _), (to, _)) = self.sim.link_ends(id);
            for (end, node) in [(&mut l.from, from), (&mut l.to, to)] {
                if let Some((_, name)) = self.routers.iter().find(|r| r.0 == node) {
                    end.clone_from(name);
                }
            }
        }
        report
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---- validation ----

/// Where a link end or a connection end points: a node (a host, or a router after
/// the hosts) and perhaps one of its interfaces or addresses.
#[derive(Debug, Clone, Copy)]
struct Place {
    host: usize,
    iface: Option<usize>,
    address: Option<IpAddr>,
}

/// The names of hosts and routers, their interfaces and addresses.
struct Names<'a> {
    hosts: &'a [HostPlan],
    routers: &'a [RouterPlan],
    by_name: BTreeMap<&'a str, usize>,
    by_address: BTreeMap<IpAddr, (usize, usize)>,
}

impl<'a> Names<'a> {
    fn new(hosts: &'a [HostPlan], routers: &'a [RouterPlan]) -> Self {
        let by_name = hosts
            .iter()
            .map(|h| h.name.as_str())
            .chain(routers.iter().map(|r| r.name.as_str()))
            .enumerate()
            .map(|(i, name)| (name, i))
            .collect();
        let mut by_address = BTreeMap::new();
        for (h, host) in hosts.iter().enumerate() {
            for (i, iface) in host.interfaces.iter().enumerate() {
                for &a in &iface.addresses {
                    by_address.insert(a, (h, i));
                }
            }
        }
        Names {
            hosts,
            routers,
            by_name,
            by_address,
        }
    }

    fn is_router(&self, node: usize) -> bool {
        node >= self.hosts.len()
    }

    fn name(&self, node: usize) -> &'a str {
        match self.hosts.get(node) {
            Some(h) => &h.name,
            None => &self.routers[node - self.hosts.len()].name,
        }
    }

    fn kind(&self, node: usize) -> &'static str {
        if self.is_router(node) {
            "router"
        } else {
            "host"
        }
    }

    fn interface_names(&self, node: usize) -> Vec<&'a str> {
        match self.hosts.get(node) {
            Some(h) => h.interfaces.iter().map(|i| i.name.as_str()).collect(),
            None => self.routers[node - self.hosts.len()]
                .interfaces
                .iter()
                .map(String::as_str)
                .collect(),
        }
    }

    /// "host", "host:interface" (name or number), the same for a router, or an
    /// address (of a host).
    fn place(&self, field: &str, spec: &str) -> Result<Place, ScenarioError> {
        if let Ok(a) = spec.parse::<IpAddr>() {
            let &(host, iface) = self
                .by_address
                .get(&a)
                .ok_or_else(|| invalid(field, format!("no host has the address {a}")))?;
            return Ok(Place {
                host,
                iface: Some(iface),
                address: Some(a),
            });
        }
        let (host_name, iface_name) = match spec.split_once(':') {
            Some((h, i)) => (h, Some(i)),
            None => (spec, None),
        };
        let &host = self.by_name.get(host_name).ok_or_else(|| {
            let list = |names: Vec<&str>| {
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            };
            let hosts = list(self.hosts.iter().map(|h| h.name.as_str()).collect());
            let message = if self.routers.is_empty() {
                format!("no host named \"{host_name}\" (hosts: {hosts})")
            } else {
                let routers = list(self.routers.iter().map(|r| r.name.as_str()).collect());
                format!(
                    "no host or router named \"{host_name}\" (hosts: {hosts}; routers: {routers})"
                )
            };
            invalid(field, message)
        })?;
        let interfaces = self.interface_names(host);
        let iface = match iface_name {
            None => None,
            Some(n) => Some(
                interfaces
                    .iter()
                    .position(|&i| i == n)
                    .or_else(|| n.parse::<usize>().ok().filter(|&i| i < interfaces.len()))
                    .ok_or_else(|| {
                        invalid(
                            field,
                            format!(
                                "{} \"{host_name}\" has no interface \"{n}\"",
                                self.kind(host)
                            ),
                        )
                    })?,
            ),
        };
        Ok(Place {
            host,
            iface,
            address: None,
        })
    }

    /// A place that must be one interface (a link end).
    fn interface(&self, field: &str, spec: &str) -> Result<(usize, usize), ScenarioError> {
        let p = self.place(field, spec)?;
        let interfaces = self.interface_names(p.host);
        match p.iface {
            Some(i) => Ok((p.host, i)),
            None if interfaces.len() == 1 => Ok((p.host, 0)),
            None => Err(invalid(
                field,
                format!(
                    "{} \"{spec}\" has {} interfaces: name one (\"{spec}:{}\")",
                    self.kind(p.host),
                    interfaces.len(),
                    interfaces[0]
                ),
            )),
        }
    }

    fn iface_label(&self, (node, iface): (usize, usize)) -> String {
        format!("{}:{}", self.name(node), self.interface_names(node)[iface])
    }

    /// A place that must be a host (a connection end).
    fn host_place(&self, field: &str, spec: &str) -> Result<Place, ScenarioError> {
        let p = self.place(field, spec)?;
        if self.is_router(p.host) {
            return Err(invalid(
                field,
                format!(
                    "\"{}\" is a router: connections run between hosts",
                    self.name(p.host)
                ),
            ));
        }
        Ok(p)
    }
}

fn check_name(field: &str, name: &str) -> Result<(), ScenarioError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(invalid(
            field,
            format!("\"{name}\": a name may only hold letters, digits, '-', '_' and '.'"),
        ));
    }
    Ok(())
}

/// One direction of a link being validated: from and to (host, interface), its
/// parameters, and which direction of the link's section it is.
type LinkDirection = ((usize, usize), (usize, usize), LinkParams, spec::Direction);

fn validate(file: ScenarioSpec) -> Result<Scenario, ScenarioError> {
    let name = file.name.unwrap_or_else(|| "scenario".to_string());
    check_name("name", &name)?;
    let duration = file.duration.map_or(DEFAULT_DURATION, |d| d.0);
    if duration == Duration::ZERO {
        return Err(invalid("duration", "must be longer than zero"));
    }
    let bin = file.bin.map_or(Duration::from_millis(100), |d| d.0);
    if bin == Duration::ZERO {
        return Err(invalid("bin", "must be longer than zero"));
    }
    let global_tcp = file.tcp.unwrap_or_default();
    // Checked on its own too, so that a mistake there is named even without hosts.
    endpoint_config(&global_tcp, "tcp", false)?;
    let global_mptcp = file.mptcp.unwrap_or_default();
    if global_mptcp.endpoints.is_some() {
        return Err(invalid(
            "mptcp.endpoints",
            "endpoints are addresses of one host: give them in that host's table (`mptcp = { endpoints = [...] }` under its [[host]])",
        ));
    }
    mptcp_config(&global_mptcp, "mptcp", &[])?;

    let (mut hosts, explicit_mss) = validate_hosts(&file.hosts, &global_tcp, &global_mptcp)?;
    let routers = validate_routers(&file.routers, &hosts)?;
    let Links {
        links,
        interface_events,
    } = validate_links(&file.links, &hosts, &routers, duration)?;
    for (h, event) in interface_events {
        let events = &mut hosts[h].interface_events;
        let index = events.partition_point(|e| e.at <= event.at);
        events.insert(index, event);
    }
    let connections = validate_connections(&file.connections, &hosts, &routers, &links, duration)?;

    // The MSS a host advertises, unless set: what fits the smallest MTU of its links.
    for (h, host) in hosts.iter_mut().enumerate() {
        if explicit_mss[h] {
            continue;
        }
        let mtu = links
            .iter()
            .filter(|l| l.from.0 == h || l.to.0 == h)
            .map(|l| l.config.mtu)
            .min();
        if let Some(mtu) = mtu {
            let v6 = host
                .interfaces
                .iter()
                .flat_map(|i| &i.addresses)
                .any(|a| a.is_ipv6());
            let overhead = if v6 { 40 } else { 20 } + 20;
            let mss = mtu.saturating_sub(overhead).clamp(64, 1460);
            host.endpoint.tcp.mss = mss as u16;
        }
    }

    Ok(Scenario {
        name,
        description: file.description,
        seed: file.seed.unwrap_or(0),
        duration,
        stop_when_finished: file.stop != Some(spec::Stop::Deadline),
        bin,
        hosts,
        routers,
        links,
        connections,
    })
}

/// The routers: names unique among hosts and routers, interfaces, routes.
fn validate_routers(
    file_routers: &[spec::Router],
    hosts: &[HostPlan],
) -> Result<Vec<RouterPlan>, ScenarioError> {
    let mut routers: Vec<RouterPlan> = Vec::new();
    for (r, router) in file_routers.iter().enumerate() {
        let field = format!("router[{r}]");
        check_name(&format!("{field}.name"), &router.name)?;
        let taken = hosts.iter().any(|h| h.name == router.name)
            || routers.iter().any(|x| x.name == router.name);
        if taken {
            return Err(invalid(
                format!("{field}.name"),
                format!("another host or router is named \"{}\"", router.name),
            ));
        }
        if router.interfaces.is_empty() {
            return Err(invalid(
                format!("{field}.interfaces"),
                "a router needs interfaces: `interfaces = [\"a\", \"b\"]`",
            ));
        }
        for (i, name) in router.interfaces.iter().enumerate() {
            let ifield = format!("{field}.interfaces[{i}]");
            check_name(&ifield, name)?;
            if router.interfaces[..i].contains(name) {
                return Err(invalid(
                    ifield,
                    format!(
                        "router \"{}\" already has an interface \"{name}\"",
                        router.name
                    ),
                ));
            }
        }
        if router.routes.is_empty() {
            return Err(invalid(
                format!("{field}.route"),
                "a router needs routes: `route = [{ to = \"10.0.1.0/24\", interface = \"a\" }]`",
            ));
        }
        let mut routes = Vec::new();
        for (k, route) in router.routes.iter().enumerate() {
            let rfield = format!("{field}.route[{k}]");
            let iface =
                match &route.interface {
                    InterfaceRef::Index(i) if *i < router.interfaces.len() => *i,
                    InterfaceRef::Name(n) => router
                        .interfaces
                        .iter()
                        .position(|x| x == n)
                        .ok_or_else(|| {
                            invalid(
                                format!("{rfield}.interface"),
                                format!("router \"{}\" has no interface \"{n}\"", router.name),
                            )
                        })?,
                    InterfaceRef::Index(i) => {
                        return Err(invalid(
                            format!("{rfield}.interface"),
                            format!(
                                "router \"{}\" has no interface {i} (it has {})",
                                router.name,
                                router.interfaces.len()
                            ),
                        ))
                    }
                };
            for (prefix, len) in parse_prefix(&format!("{rfield}.to"), &route.to)? {
                routes.push(RoutePlan { prefix, len, iface });
            }
        }
        routers.push(RouterPlan {
            name: router.name.clone(),
            interfaces: router.interfaces.clone(),
            routes,
        });
    }
    Ok(routers)
}

/// The hosts, and for each whether its MSS was set.
fn validate_hosts(
    file_hosts: &[spec::Host],
    global_tcp: &spec::Tcp,
    global_mptcp: &spec::Mptcp,
) -> Result<(Vec<HostPlan>, Vec<bool>), ScenarioError> {
    let mut hosts: Vec<HostPlan> = Vec::new();
    let mut explicit_mss = Vec::new();
    let mut owners: BTreeMap<IpAddr, String> = BTreeMap::new();
    for (h, host) in file_hosts.iter().enumerate() {
        let field = format!("host[{h}]");
        check_name(&format!("{field}.name"), &host.name)?;
        if hosts.iter().any(|x| x.name == host.name) {
            return Err(invalid(
                format!("{field}.name"),
                format!("another host is named \"{}\"", host.name),
            ));
        }
        let raw: Vec<(String, Option<String>, Vec<String>)> =
            match (&host.addresses, &host.interfaces) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        &field,
                        "give either `addresses` or `[[host.interface]]` tables, not both",
                    ))
                }
                (None, None) => {
                    return Err(invalid(
                        &field,
                        "a host needs addresses: `addresses = [\"10.0.0.1\"]`",
                    ))
                }
                (Some(addrs), None) => addrs
                    .iter()
                    .enumerate()
                    .map(|(i, a)| (format!("{field}.addresses[{i}]"), None, vec![a.clone()]))
                    .collect(),
                (None, Some(ifaces)) => ifaces
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        (
                            format!("{field}.interface[{i}]"),
                            f.name.clone(),
                            f.addresses.clone(),
                        )
                    })
                    .collect(),
            };
        if raw.is_empty() {
            return Err(invalid(&field, "a host needs at least one address"));
        }
        let mut interfaces: Vec<InterfacePlan> = Vec::new();
        for (i, (ifield, iname, addrs)) in raw.into_iter().enumerate() {
            let iname = iname.unwrap_or_else(|| format!("eth{i}"));
            check_name(&format!("{ifield}.name"), &iname)?;
            if interfaces.iter().any(|x| x.name == iname) {
                return Err(invalid(
                    format!("{ifield}.name"),
                    format!(
                        "host \"{}\" already has an interface \"{iname}\"",
                        host.name
                    ),
                ));
            }
            if addrs.is_empty() {
                return Err(invalid(&ifield, "an interface needs at least one address"));
            }
            let mut addresses = Vec::new();
            for (k, a) in addrs.iter().enumerate() {
                let afield = if ifield.contains(".interface[") {
                    format!("{ifield}.addresses[{k}]")
                } else {
                    ifield.clone()
                };
                let ip: IpAddr = a
                    .parse()
                    .map_err(|_| invalid(&afield, format!("\"{a}\" is not an IP address")))?;
                if ip.is_unspecified() || ip.is_multicast() {
                    return Err(invalid(&afield, format!("{ip} cannot be a host's address")));
                }
                if let Some(other) = owners.insert(ip, host.name.clone()) {
                    return Err(invalid(
                        &afield,
                        format!("{ip} is already an address of host \"{other}\""),
                    ));
                }
                addresses.push(ip);
            }
            interfaces.push(InterfacePlan {
                name: iname,
                addresses,
            });
        }
        let mut routes = Vec::new();
        for (r, route) in host.routes.iter().enumerate() {
            let rfield = format!("{field}.route[{r}]");
            let iface =
                match &route.interface {
                    InterfaceRef::Index(i) if *i < interfaces.len() => *i,
                    InterfaceRef::Name(n) => interfaces
                        .iter()
                        .position(|x| &x.name == n)
                        .ok_or_else(|| {
                            invalid(
                                format!("{rfield}.interface"),
                                format!("host \"{}\" has no interface \"{n}\"", host.name),
                            )
                        })?,
                    InterfaceRef::Index(i) => {
                        return Err(invalid(
                            format!("{rfield}.interface"),
                            format!(
                                "host \"{}\" has no interface {i} (it has {})",
                                host.name,
                                interfaces.len()
                            ),
                        ))
                    }
                };
            for (prefix, len) in parse_prefix(&format!("{rfield}.to"), &route.to)? {
                routes.push(RoutePlan { prefix, len, iface });
            }
        }
        let tcp = merge_tcp(global_tcp, host.tcp.as_ref());
        explicit_mss.push(tcp.mss.is_some());
        let mut endpoint = endpoint_config(&tcp, &format!("{field}.tcp"), host.tcp.is_some())?;
        let mptcp = merge_mptcp(global_mptcp, host.mptcp.as_ref());
        let section = if host.mptcp.is_some() {
            format!("{field}.mptcp")
        } else {
            "mptcp".to_string()
        };
        let addresses: Vec<IpAddr> = interfaces
            .iter()
            .flat_map(|i| i.addresses.iter().copied())
            .collect();
        endpoint.mptcp = mptcp_config(&mptcp, &section, &addresses).map_err(|e| match e {
            ScenarioError::Invalid {
                field: f, message, ..
            } => invalid(f, format!("{message} (host \"{}\")", host.name)),
            e => e,
        })?;
        hosts.push(HostPlan {
            name: host.name.clone(),
            interfaces,
            routes,
            routing: host.routing.unwrap_or_default(),
            endpoint,
            interface_events: Vec::new(),
        });
    }
    Ok((hosts, explicit_mss))
}

/// What [`validate_links`] makes of the `[[link]]`s.
struct Links {
    /// Each direction of each link.
    links: Vec<LinkPlan>,
    /// (host, event): the interface events that schedule entries with `notify`
    /// plan.
    interface_events: Vec<(usize, InterfaceEvent)>,
}

fn validate_links(
    file_links: &[spec::Link],
    hosts: &[HostPlan],
    routers: &[RouterPlan],
    duration: Duration,
) -> Result<Links, ScenarioError> {
    let names = Names::new(hosts, routers);
    let mut links: Vec<LinkPlan> = Vec::new();
    let mut leaving: BTreeMap<(usize, usize), String> = BTreeMap::new();
    let mut link_names: Vec<String> = Vec::new();
    let mut host_addresses = BTreeMap::new();
    for h in hosts {
        for iface in &h.interfaces {
            for a in &iface.addresses {
                host_addresses.insert(*a, h.name.clone());
            }
        }
    }
    let mut next_middlebox = 0;
    let mut interface_events = Vec::new();
    for (l, link) in file_links.iter().enumerate() {
        let field = format!("link[{l}]");
        let name = link.name.clone().unwrap_or_else(|| format!("link{l}"));
        check_name(&format!("{field}.name"), &name)?;
        if link_names.contains(&name) {
            return Err(invalid(
                format!("{field}.name"),
                format!("another link is named \"{name}\""),
            ));
        }
        link_names.push(name.clone());
        let base = link.params();
        let mut directions: Vec<LinkDirection> = Vec::new();
        match (&link.between, &link.from, &link.to) {
            (Some(ends), None, None) => {
                if ends.len() != 2 {
                    return Err(invalid(
                        format!("{field}.between"),
                        format!("needs exactly two ends, not {}", ends.len()),
                    ));
                }
                let a = names.interface(&format!("{field}.between[0]"), &ends[0])?;
                let b = names.interface(&format!("{field}.between[1]"), &ends[1])?;
                let fwd = base.merged(link.forward.as_ref().unwrap_or(&LinkParams::default()));
                let rev = base.merged(link.reverse.as_ref().unwrap_or(&LinkParams::default()));
                directions.push((a, b, fwd, spec::Direction::Forward));
                directions.push((b, a, rev, spec::Direction::Reverse));
            }
            (None, Some(from), Some(to)) => {
                if link.forward.is_some() || link.reverse.is_some() {
                    return Err(invalid(
                        &field,
                        "`forward` and `reverse` are for duplex links (`between`); a one-way link takes its parameters directly",
                    ));
                }
                let a = names.interface(&format!("{field}.from"), from)?;
                let b = names.interface(&format!("{field}.to"), to)?;
                directions.push((a, b, base.clone(), spec::Direction::Forward));
            }
            _ => {
                return Err(invalid(
                    &field,
                    "give either `between = [A, B]` (both directions) or `from` and `to` (one direction)",
                ))
            }
        }
        // A router's interfaces have no addresses.
        let addresses_of = |(h, i): (usize, usize)| {
            hosts
                .get(h)
                .map_or_else(Vec::new, |h| h.interfaces[i].addresses.clone())
        };
        let facts = middlebox::LinkFacts {
            duplex: link.between.is_some(),
            end_addresses: [addresses_of(directions[0].0), addresses_of(directions[0].1)].concat(),
            host_addresses: &host_addresses,
        };
        let declared = middlebox::validate(&field, &link.middleboxes, &facts, &mut next_middlebox)?;
        let ends = [directions[0].0, directions[0].1];
        for (s, entry) in link.schedule.iter().enumerate() {
            if entry.notify == Some(true) {
                let sfield = format!("{field}.schedule[{s}]");
                interface_events.extend(notify_events(&sfield, entry, link, hosts, ends)?);
            }
        }
        for (from, to, params, dir) in directions {
            if from.0 == to.0 {
                return Err(invalid(
                    &field,
                    format!(
                        "both ends are on {} \"{}\"",
                        names.kind(from.0),
                        names.name(from.0)
                    ),
                ));
            }
            if let Some(other) = leaving.insert(from, name.clone()) {
                return Err(invalid(
                    &field,
                    format!(
                        "interface {} already has a link leaving it (\"{other}\"); one link per interface and direction",
                        names.iface_label(from)
                    ),
                ));
            }
            let config = link_config(&field, &params)?;
            let mut schedule = Vec::new();
            for (s, entry) in link.schedule.iter().enumerate() {
                let sfield = format!("{field}.schedule[{s}]");
                let applies = match (entry.direction, link.between.is_some()) {
                    (None | Some(spec::Direction::Both), _) => true,
                    (Some(spec::Direction::Reverse), false) => {
                        return Err(invalid(
                            format!("{sfield}.direction"),
                            "a one-way link has no reverse direction",
                        ))
                    }
                    (Some(d), _) => d == dir,
                };
                let at = entry.at.0;
                if at > duration {
                    return Err(invalid(
                        format!("{sfield}.at"),
                        format!("{at} is after the end of the run ({duration})"),
                    ));
                }
                let changes = link_changes(&sfield, entry)?;
                if changes.is_empty() {
                    return Err(invalid(
                        &sfield,
                        "changes nothing: give `state` or a link parameter",
                    ));
                }
                if applies {
                    schedule.extend(changes.into_iter().map(|c| (Instant::ZERO + at, c)));
                }
            }
            let mut middleboxes = Vec::new();
            for (m, d) in declared.iter().enumerate() {
                if d.direction == spec::Direction::Both || d.direction == dir {
                    let mfield = format!("{field}.middlebox[{m}]");
                    middlebox::check_mtu(&mfield, &d.plan, config.mtu)?;
                    middleboxes.push(d.plan.clone());
                }
            }
            links.push(LinkPlan {
                name: name.clone(),
                from,
                to,
                config,
                schedule,
                middleboxes,
            });
        }
    }

    Ok(Links {
        links,
        interface_events,
    })
}

/// The interface events of a schedule entry with `notify = true`: its state change,
/// for each host interface at an end of the link, as (host, event).
fn notify_events(
    sfield: &str,
    entry: &spec::ScheduleEntry,
    link: &spec::Link,
    hosts: &[HostPlan],
    ends: [(usize, usize); 2],
) -> Result<Vec<(usize, InterfaceEvent)>, ScenarioError> {
    let Some(state) = entry.state else {
        return Err(invalid(
            format!("{sfield}.notify"),
            "tells the hosts at the link's ends that their interface went down or came back: give `state` too",
        ));
    };
    if link.between.is_none() {
        return Err(invalid(
            format!("{sfield}.notify"),
            "needs a duplex link (`between`): an interface goes down in both directions",
        ));
    }
    if matches!(
        entry.direction,
        Some(spec::Direction::Forward | spec::Direction::Reverse)
    ) {
        return Err(invalid(
            format!("{sfield}.direction"),
            "an interface goes down in both directions: leave out `direction` with `notify`",
        ));
    }
    let host_ends: Vec<(usize, usize)> = ends.into_iter().filter(|e| e.0 < hosts.len()).collect();
    if host_ends.is_empty() {
        return Err(invalid(
            format!("{sfield}.notify"),
            "neither end of the link is a host: only hosts have addresses to lose",
        ));
    }
    let up = state == spec::State::Up;
    Ok(host_ends
        .into_iter()
        .map(|(host, interface)| {
            let at = Instant::ZERO + entry.at.0;
            (host, InterfaceEvent { at, interface, up })
        })
        .collect())
}

/// The connections, each with its two addresses and applications.
fn validate_connections(
    file_connections: &[spec::Connection],
    hosts: &[HostPlan],
    routers: &[RouterPlan],
    links: &[LinkPlan],
    duration: Duration,
) -> Result<Vec<ConnectionPlan>, ScenarioError> {
    let names = Names::new(hosts, routers);
    let mut connections: Vec<ConnectionPlan> = Vec::new();
    let mut listeners: BTreeMap<(usize, SocketAddr), (usize, AppSpec)> = BTreeMap::new();
    for (c, conn) in file_connections.iter().enumerate() {
        let field = format!("connection[{c}]");
        let name = conn.name.clone().unwrap_or_else(|| format!("conn{c}"));
        check_name(&format!("{field}.name"), &name)?;
        if connections.iter().any(|x| x.name == name) {
            return Err(invalid(
                format!("{field}.name"),
                format!("another connection is named \"{name}\""),
            ));
        }
        let port = conn.port.unwrap_or(DEFAULT_PORT);
        if port == 0 {
            return Err(invalid(format!("{field}.port"), "must not be 0"));
        }
        if conn.client_port == Some(0) {
            return Err(invalid(
                format!("{field}.client_port"),
                "must not be 0 (leave it out for an ephemeral port)",
            ));
        }
        let server = names.host_place(&format!("{field}.server"), &conn.server)?;
        let client = names.host_place(&format!("{field}.client"), &conn.client)?;
        if server.host == client.host {
            return Err(invalid(
                &field,
                format!(
                    "client and server are both host \"{}\"",
                    hosts[server.host].name
                ),
            ));
        }
        let server_ip =
            pick_server_address(hosts, &format!("{field}.server"), &conn.server, server)?;
        let client_ip = pick_client_address(
            hosts,
            &format!("{field}.client"),
            &conn.client,
            client,
            server_ip,
        )?;
        // A path each way: from the interface of each address, by links and routers,
        // to the other host.
        let client_iface = hosts[client.host]
            .interfaces
            .iter()
            .position(|i| i.addresses.contains(&client_ip))
            .expect("picked from the host");
        let server_iface = hosts[server.host]
            .interfaces
            .iter()
            .position(|i| i.addresses.contains(&server_ip))
            .expect("picked from the host");
        for (from, to, dst) in [
            (
                (client.host, client_iface),
                (server.host, server_iface),
                server_ip,
            ),
            (
                (server.host, server_iface),
                (client.host, client_iface),
                client_ip,
            ),
        ] {
            trace(&names, links, from, to, dst).map_err(|m| invalid(&field, m))?;
        }
        let start = conn.start.map_or(Duration::ZERO, |d| d.0);
        if start > duration {
            return Err(invalid(
                format!("{field}.start"),
                format!("{start} is after the end of the run ({duration})"),
            ));
        }
        let app = app_spec(&format!("{field}.app"), &conn.app, duration)?;
        let server_app = match &conn.server_app {
            Some(a) => app_spec(&format!("{field}.server_app"), a, duration)?,
            None => app.default_server().ok_or_else(|| {
                invalid(
                    format!("{field}.server_app"),
                    format!(
                        "needed: a client \"{}\" has no usual server (give `server_app = {{ type = ... }}`)",
                        app.name()
                    ),
                )
            })?,
        };
        let remote = SocketAddr::new(server_ip, port);
        match listeners.get(&(server.host, remote)) {
            Some((other, spec)) if *spec != server_app => {
                return Err(invalid(
                    format!("{field}.server_app"),
                    format!(
                        "differs from that of connection[{other}], which listens on {remote} too: give this one another `port`"
                    ),
                ))
            }
            Some(_) => {}
            None => {
                listeners.insert((server.host, remote), (c, server_app.clone()));
            }
        }
        let local = SocketAddr::new(client_ip, conn.client_port.unwrap_or(0));
        if local.port() != 0
            && connections
                .iter()
                .any(|x| x.local == local && x.remote == remote)
        {
            return Err(invalid(
                format!("{field}.client_port"),
                format!("another connection already goes from {local} to {remote}"),
            ));
        }
        connections.push(ConnectionPlan {
            name,
            client: client.host,
            local,
            server: server.host,
            remote,
            start: Instant::ZERO + start,
            app,
            server_app,
        });
    }

    Ok(connections)
}

/// Follows packets to `dst` from interface `from`: over the link leaving it, and on
/// through routers by their routes, until they reach a host. `Ok` if that host is
/// `to`'s (on any of its interfaces: hosts take packets for any of their addresses);
/// else what goes wrong on the way.
fn trace(
    names: &Names<'_>,
    links: &[LinkPlan],
    from: (usize, usize),
    to: (usize, usize),
    dst: IpAddr,
) -> Result<(), String> {
    let no_link = || {
        let (a, b) = (names.iface_label(from), names.iface_label(to));
        format!("no link from {a} to {b}: add one (`between = [\"{a}\", \"{b}\"]`)")
    };
    let mut at = from;
    let mut hops = Vec::new();
    loop {
        let Some(link) = links.iter().find(|l| l.from == at) else {
            return Err(if hops.is_empty() {
                no_link()
            } else {
                format!("no link leaves {}", names.iface_label(at))
            });
        };
        let node = link.to.0;
        if node == to.0 {
            return Ok(());
        }
        if !names.is_router(node) {
            return Err(if hops.is_empty() {
                no_link()
            } else {
                format!(
                    "packets to {dst} from {} reach host \"{}\" (through router {})",
                    names.iface_label(from),
                    names.name(node),
                    hops.join(", ")
                )
            });
        }
        let router = &names.routers[node - names.hosts.len()];
        if hops.contains(&router.name) {
            hops.push(router.name.clone());
            return Err(format!(
                "packets to {dst} from {} loop: router {}",
                names.iface_label(from),
                hops.join(" -> ")
            ));
        }
        hops.push(router.name.clone());
        let out = router
            .routes
            .iter()
            .filter(|r| crate::host::prefix_matches(r.prefix, r.len, dst))
            .fold(None::<&RoutePlan>, |best, r| match best {
                Some(b) if b.len >= r.len => Some(b),
                _ => Some(r),
            })
            .map(|r| r.iface)
            .ok_or_else(|| format!("router \"{}\" has no route to {dst}", router.name))?;
        at = (node, out);
    }
}

fn parse_prefix(field: &str, s: &str) -> Result<Vec<(IpAddr, u8)>, ScenarioError> {
    if s == "default" {
        return Ok(vec![
            (IpAddr::from([0, 0, 0, 0]), 0),
            (IpAddr::from([0u16; 8]), 0),
        ]);
    }
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| {
        invalid(
            field,
            format!("\"{s}\" is not a prefix like \"10.0.0.0/24\""),
        )
    })?;
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    let len =
        match len {
            None => bits,
            Some(l) => l.parse::<u8>().ok().filter(|&l| l <= bits).ok_or_else(|| {
                invalid(field, format!("\"{s}\": prefix length must be 0 to {bits}"))
            })?,
        };
    Ok(vec![(ip, len)])
}

fn pick_server_address(
    hosts: &[HostPlan],
    field: &str,
    spec: &str,
    p: Place,
) -> Result<IpAddr, ScenarioError> {
    if let Some(a) = p.address {
        return Ok(a);
    }
    let h = &hosts[p.host];
    let candidates: Vec<IpAddr> = match p.iface {
        Some(i) => h.interfaces[i].addresses.clone(),
        None => h
            .interfaces
            .iter()
            .flat_map(|i| i.addresses.clone())
            .collect(),
    };
    match candidates.as_slice() {
        [a] => Ok(*a),
        _ => Err(invalid(
            field,
            format!(
                "\"{spec}\" has {} addresses: name one ({})",
                candidates.len(),
                candidates
                    .iter()
                    .map(|a| format!("\"{a}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

fn pick_client_address(
    hosts: &[HostPlan],
    field: &str,
    spec: &str,
    p: Place,
    server: IpAddr,
) -> Result<IpAddr, ScenarioError> {
    let family = |a: &IpAddr| a.is_ipv4() == server.is_ipv4();
    if let Some(a) = p.address {
        if !family(&a) {
            return Err(invalid(
                field,
                format!("{a} and the server's {server} are of different IP versions"),
            ));
        }
        return Ok(a);
    }
    let h = &hosts[p.host];
    if let Some(i) = p.iface {
        return h.interfaces[i]
            .addresses
            .iter()
            .copied()
            .find(family)
            .ok_or_else(|| {
                invalid(
                    field,
                    format!(
                        "interface \"{spec}\" has no address of the same IP version as {server}"
                    ),
                )
            });
    }
    // As the host will choose: a route, else the only candidate.
    let mut probe = Host::new("probe", EndpointConfig::default(), 0);
    for iface in &h.interfaces {
        probe.add_interface(iface.addresses.iter().copied());
    }
    for r in &h.routes {
        probe.add_route(r.prefix, r.len, r.iface);
    }
    probe.source_for(server).ok_or_else(|| {
        invalid(
            field,
            format!(
                "host \"{spec}\" has several addresses and no route to {server}: name an interface (\"{spec}:{}\") or add a route",
                h.interfaces[0].name
            ),
        )
    })
}

fn merge_tcp(global: &spec::Tcp, host: Option<&spec::Tcp>) -> spec::Tcp {
    let Some(h) = host else {
        return global.clone();
    };
    let g = global;
    spec::Tcp {
        cc: h.cc.or(g.cc),
        mss: h.mss.or(g.mss),
        send_buffer: h.send_buffer.or(g.send_buffer),
        recv_buffer: h.recv_buffer.or(g.recv_buffer),
        initial_recv_buffer: h.initial_recv_buffer.or(g.initial_recv_buffer),
        window_scaling: h.window_scaling.or(g.window_scaling),
        timestamps: h.timestamps.or(g.timestamps),
        sack: h.sack.or(g.sack),
        nagle: h.nagle.or(g.nagle),
        delayed_ack: h.delayed_ack.or(g.delayed_ack),
        initial_rto: h.initial_rto.or(g.initial_rto),
        min_rto: h.min_rto.or(g.min_rto),
        max_rto: h.max_rto.or(g.max_rto),
        syn_retries: h.syn_retries.or(g.syn_retries),
        data_retries: h.data_retries.or(g.data_retries),
        time_wait: h.time_wait.or(g.time_wait),
        keepalive: h.keepalive.or(g.keepalive),
        max_ooo_ranges: h.max_ooo_ranges.or(g.max_ooo_ranges),
        max_connections: h.max_connections.or(g.max_connections),
        syn_backlog: h.syn_backlog.or(g.syn_backlog),
        accept_backlog: h.accept_backlog.or(g.accept_backlog),
    }
}

fn merge_mptcp(global: &spec::Mptcp, host: Option<&spec::Mptcp>) -> spec::Mptcp {
    let Some(h) = host else {
        return global.clone();
    };
    let g = global;
    let limits = match (g.limits, h.limits) {
        (None, None) => None,
        (g, h) => {
            let (g, h) = (g.unwrap_or_default(), h.unwrap_or_default());
            Some(spec::MptcpLimits {
                subflows: h.subflows.or(g.subflows),
                add_addr_accepted: h.add_addr_accepted.or(g.add_addr_accepted),
            })
        }
    };
    spec::Mptcp {
        enabled: h.enabled.or(g.enabled),
        checksums: h.checksums.or(g.checksums),
        max_subflows: h.max_subflows.or(g.max_subflows),
        max_mapping: h.max_mapping.or(g.max_mapping),
        endpoints: h.endpoints.clone().or_else(|| g.endpoints.clone()),
        limits,
        join_announced: h.join_announced.or(g.join_announced),
        add_addr_timeout: h.add_addr_timeout.or(g.add_addr_timeout),
        add_addr_retransmissions: h.add_addr_retransmissions.or(g.add_addr_retransmissions),
        scheduler: h.scheduler.clone().or_else(|| g.scheduler.clone()),
        send_autotune: h.send_autotune.or(g.send_autotune),
        receive_autotune: h.receive_autotune.or(g.receive_autotune),
        close_timeout: h.close_timeout.or(g.close_timeout),
    }
}

/// The MPTCP configuration of merged `[mptcp]` settings; errors name `section` (the
/// global table or the host's). `addresses` are the host's: every endpoint must be
/// one of them.
fn mptcp_config(
    m: &spec::Mptcp,
    section: &str,
    addresses: &[IpAddr],
) -> Result<MptcpConfig, ScenarioError> {
    let f = |key: &str| format!("{section}.{key}");
    let mut c = MptcpConfig::default();
    if let Some(v) = m.enabled {
        c.enabled = v;
    }
    if let Some(v) = m.checksums {
        c.checksums = v;
    }
    if let Some(v) = m.max_subflows {
        if v == 0 {
            return Err(invalid(
                f("max_subflows"),
                "must be at least 1 (the first subflow counts); set `enabled = false` for plain TCP",
            ));
        }
        c.max_subflows = v;
    }
    if let Some(v) = m.max_mapping {
        c.max_mapping = u16::try_from(v.0).ok().filter(|&n| n > 0).ok_or_else(|| {
            invalid(
                f("max_mapping"),
                format!(
                    "{} bytes: give 1 to 65535 (a DSS data-level length is 16 bits)",
                    v.0
                ),
            )
        })?;
    }
    let pm = &mut c.path_manager;
    if let Some(limits) = m.limits {
        if let Some(v) = limits.subflows {
            pm.limits.subflows = v;
        }
        if let Some(v) = limits.add_addr_accepted {
            pm.limits.add_addr_accepted = v;
        }
    }
    if let Some(v) = m.join_announced {
        pm.join_announced = v;
    }
    if let Some(d) = m.add_addr_timeout {
        pm.add_addr_timeout = d.0;
    }
    if let Some(v) = m.add_addr_retransmissions {
        pm.add_addr_retransmissions = v;
    }
    if let Some(v) = m.send_autotune {
        c.send_autotune = v;
    }
    if let Some(v) = m.receive_autotune {
        c.receive_autotune = v;
    }
    if let Some(d) = m.close_timeout {
        c.close_timeout = d.0;
    }
    if let Some(name) = &m.scheduler {
        c.scheduler = name
            .parse::<SchedulerKind>()
            .map_err(|e| invalid(f("scheduler"), e.to_string()))?;
    }
    for (i, text) in m.endpoints.iter().flatten().enumerate() {
        let efield = f(&format!("endpoints[{i}]"));
        let endpoint: PmEndpoint = text
            .parse()
            .map_err(|e| invalid(&efield, format!("\"{text}\": {e}")))?;
        if !addresses
            .iter()
            .any(|a| a.to_canonical() == endpoint.addr.to_canonical())
        {
            return Err(invalid(
                &efield,
                format!(
                    "{} is not an address of this host (its addresses: {}): an endpoint is a local address",
                    endpoint.addr,
                    addresses
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        pm.endpoints.push(endpoint);
    }
    pm.assign_ids();
    pm.validate().map_err(|e| {
        let key = match e {
            PmConfigError::LimitTooHigh { limit, .. } => format!("limits.{limit}"),
            PmConfigError::DuplicateId { second, .. } => endpoint_field(m, second),
            PmConfigError::DuplicateAddress { addr, .. } => endpoint_field(m, addr),
            _ => "endpoints".to_string(),
        };
        invalid(f(&key), e.to_string())
    })?;
    Ok(c)
}

/// `endpoints[i]` of the last endpoint naming `addr`, or `endpoints`.
fn endpoint_field(m: &spec::Mptcp, addr: IpAddr) -> String {
    m.endpoints
        .as_deref()
        .unwrap_or_default()
        .iter()
        .rposition(|t| t.parse::<PmEndpoint>().is_ok_and(|e| e.addr == addr))
        .map_or_else(|| "endpoints".to_string(), |i| format!("endpoints[{i}]"))
}

/// The endpoint configuration of merged TCP settings. Errors name `host_field` when
/// the host overrides something, else the global `tcp` table.
fn endpoint_config(
    t: &spec::Tcp,
    host_field: &str,
    host_has_tcp: bool,
) -> Result<EndpointConfig, ScenarioError> {
    let section = if host_has_tcp { host_field } else { "tcp" };
    let f = |key: &str| format!("{section}.{key}");
    let mut e = EndpointConfig::default();
    if let Some(cc) = t.cc {
        e.congestion_control = match cc {
            spec::Cc::Cubic => CcAlgorithm::Cubic,
            spec::Cc::Newreno => CcAlgorithm::NewReno,
            spec::Cc::Lia => CcAlgorithm::Lia,
            spec::Cc::Olia => CcAlgorithm::Olia,
            spec::Cc::Balia => CcAlgorithm::Balia,
        };
    }
    let c = &mut e.tcp;
    if let Some(mss) = t.mss {
        if mss < 64 {
            return Err(invalid(f("mss"), format!("{mss} is below 64")));
        }
        c.mss = mss;
    }
    let size = |v: Option<units::Size>, key: &str| -> Result<Option<usize>, ScenarioError> {
        match v {
            None => Ok(None),
            Some(s) if s.0 == 0 => Err(invalid(f(key), "must be more than 0 bytes")),
            Some(s) => usize::try_from(s.0)
                .map(Some)
                .map_err(|_| invalid(f(key), "too large")),
        }
    };
    if let Some(v) = size(t.send_buffer, "send_buffer")? {
        c.send_buffer = v;
    }
    if let Some(v) = size(t.recv_buffer, "recv_buffer")? {
        c.recv_buffer = v;
    }
    if let Some(v) = size(t.initial_recv_buffer, "initial_recv_buffer")? {
        c.initial_recv_buffer = v;
    }
    if c.initial_recv_buffer > c.recv_buffer {
        if t.initial_recv_buffer.is_some() {
            return Err(invalid(
                f("initial_recv_buffer"),
                format!(
                    "{} is more than recv_buffer ({})",
                    c.initial_recv_buffer, c.recv_buffer
                ),
            ));
        }
        c.initial_recv_buffer = c.recv_buffer;
    }
    if let Some(v) = t.window_scaling {
        c.window_scaling = v;
    }
    if let Some(v) = t.timestamps {
        c.timestamps = v;
    }
    if let Some(v) = t.sack {
        c.sack = v;
    }
    if let Some(v) = t.nagle {
        c.nagle = v;
    }
    match t.delayed_ack {
        None => {}
        Some(Toggle::Off) => c.delayed_ack = None,
        Some(Toggle::On(d)) => {
            // RFC 9293 §3.8.6.3: an ACK is not delayed more than 0.5 s.
            if d.0 > Duration::from_millis(500) || d.0 == Duration::ZERO {
                return Err(invalid(
                    f("delayed_ack"),
                    format!(
                        "{} must be more than 0 and at most 500ms (RFC 9293 §3.8.6.3), or \"off\"",
                        d.0
                    ),
                ));
            }
            c.delayed_ack = Some(d.0);
        }
    }
    if let Some(d) = t.initial_rto {
        c.initial_rto = d.0;
    }
    if let Some(d) = t.min_rto {
        c.min_rto = d.0;
    }
    if let Some(d) = t.max_rto {
        c.max_rto = d.0;
    }
    for (key, d) in [("initial_rto", c.initial_rto), ("min_rto", c.min_rto)] {
        if d == Duration::ZERO {
            return Err(invalid(f(key), "must be longer than zero"));
        }
    }
    if c.min_rto > c.max_rto {
        return Err(invalid(
            f(if t.min_rto.is_some() {
                "min_rto"
            } else {
                "max_rto"
            }),
            format!(
                "min_rto ({}) is more than max_rto ({})",
                c.min_rto, c.max_rto
            ),
        ));
    }
    if let Some(v) = t.syn_retries {
        c.syn_retries = v;
    }
    if let Some(v) = t.data_retries {
        c.data_retries = v;
    }
    if let Some(d) = t.time_wait {
        c.time_wait = d.0;
    }
    match t.keepalive {
        None => {}
        Some(Toggle::Off) => c.keepalive = None,
        Some(Toggle::On(k)) => {
            if k.idle.0 == Duration::ZERO || k.interval.0 == Duration::ZERO {
                return Err(invalid(
                    f("keepalive"),
                    "idle and interval must be longer than zero",
                ));
            }
            c.keepalive = Some(Keepalive {
                idle: k.idle.0,
                interval: k.interval.0,
                probes: k.probes,
            });
        }
    }
    if let Some(v) = t.max_ooo_ranges {
        c.max_ooo_ranges = v;
    }
    for (key, v, target) in [
        ("max_connections", t.max_connections, &mut e.max_connections),
        ("syn_backlog", t.syn_backlog, &mut e.syn_backlog),
        ("accept_backlog", t.accept_backlog, &mut e.accept_backlog),
    ] {
        if let Some(v) = v {
            if v == 0 {
                return Err(invalid(f(key), "must be at least 1"));
            }
            *target = v;
        }
    }
    Ok(e)
}

fn check_mtu(field: &str, mtu: usize) -> Result<usize, ScenarioError> {
    // RFC 791: every IPv4 link carries 68 octets; nothing exceeds 65535.
    if !(68..=65_535).contains(&mtu) {
        return Err(invalid(field, format!("{mtu} is not between 68 and 65535")));
    }
    Ok(mtu)
}

fn burst(b: spec::BurstLoss) -> GilbertElliott {
    GilbertElliott {
        p: b.p.0,
        r: b.r.0,
        loss_good: b.loss_good.map_or(0.0, |p| p.0),
        loss_bad: b.loss_bad.map_or(1.0, |p| p.0),
    }
}

fn reorder(r: spec::Reorder) -> Reorder {
    Reorder {
        probability: r.probability.0,
        extra_delay: r.delay.0,
    }
}

/// Checks the probabilities among link parameters: reading a file checks them too,
/// but values made in Rust are checked only here.
fn check_probabilities(field: &str, p: &LinkParams) -> Result<(), ScenarioError> {
    let mut all = vec![("loss", p.loss), ("duplicate", p.duplicate)];
    if let Some(Toggle::On(b)) = p.burst_loss {
        all.extend([
            ("burst_loss.p", Some(b.p)),
            ("burst_loss.r", Some(b.r)),
            ("burst_loss.loss_good", b.loss_good),
            ("burst_loss.loss_bad", b.loss_bad),
        ]);
    }
    if let Some(Toggle::On(r)) = p.reorder {
        all.push(("reorder.probability", Some(r.probability)));
    }
    for (key, value) in all {
        if let Some(p) = value {
            units::check_probability(p.0).map_err(|e| invalid(format!("{field}.{key}"), e))?;
        }
    }
    Ok(())
}

fn link_config(field: &str, p: &LinkParams) -> Result<LinkConfig, ScenarioError> {
    check_probabilities(field, p)?;
    let mut c = LinkConfig::new();
    if let Some(r) = p.rate {
        c.rate_bps = r.0;
    }
    if let Some(d) = p.delay {
        c.delay = d.0;
    }
    if let Some(j) = p.jitter {
        c.jitter = j.0;
    }
    if let Some(l) = p.loss {
        c.loss = l.0;
    }
    if let Some(Toggle::On(b)) = p.burst_loss {
        c.burst_loss = Some(burst(b));
    }
    if let Some(Toggle::On(r)) = p.reorder {
        c.reorder = Some(reorder(r));
    }
    if let Some(d) = p.duplicate {
        c.duplicate = d.0;
    }
    if let Some(q) = p.queue {
        c.queue_bytes =
            usize::try_from(q.0).map_err(|_| invalid(format!("{field}.queue"), "too large"))?;
    }
    if let Some(m) = p.mtu {
        c.mtu = check_mtu(&format!("{field}.mtu"), m)?;
    }
    if let Some(d) = p.down_policy {
        c.down_policy = d;
    }
    Ok(c)
}

fn link_changes(field: &str, e: &spec::ScheduleEntry) -> Result<Vec<LinkChange>, ScenarioError> {
    check_probabilities(field, &e.params())?;
    let mut out = Vec::new();
    if let Some(s) = e.state {
        out.push(match s {
            spec::State::Up => LinkChange::Up,
            spec::State::Down => LinkChange::Down,
        });
    }
    if let Some(r) = e.rate {
        out.push(LinkChange::Rate(r.0));
    }
    if let Some(d) = e.delay {
        out.push(LinkChange::Delay(d.0));
    }
    if let Some(j) = e.jitter {
        out.push(LinkChange::Jitter(j.0));
    }
    if let Some(l) = e.loss {
        out.push(LinkChange::Loss(l.0));
    }
    if let Some(b) = e.burst_loss {
        out.push(LinkChange::BurstLoss(match b {
            Toggle::Off => None,
            Toggle::On(b) => Some(burst(b)),
        }));
    }
    if let Some(r) = e.reorder {
        out.push(LinkChange::Reorder(match r {
            Toggle::Off => None,
            Toggle::On(r) => Some(reorder(r)),
        }));
    }
    if let Some(d) = e.duplicate {
        out.push(LinkChange::Duplicate(d.0));
    }
    if let Some(q) = e.queue {
        out.push(LinkChange::QueueBytes(
            usize::try_from(q.0).map_err(|_| invalid(format!("{field}.queue"), "too large"))?,
        ));
    }
    if let Some(m) = e.mtu {
        out.push(LinkChange::Mtu(check_mtu(&format!("{field}.mtu"), m)?));
    }
    if let Some(p) = e.down_policy {
        out.push(LinkChange::DownPolicy(p));
    }
    Ok(out)
}

fn app_spec(field: &str, app: &spec::App, duration: Duration) -> Result<AppSpec, ScenarioError> {
    let positive = |key: &str, v: u64| {
        if v == 0 {
            Err(invalid(format!("{field}.{key}"), "must be at least 1 byte"))
        } else {
            Ok(v)
        }
    };
    Ok(match app {
        spec::App::Bulk { bytes } => AppSpec::Bulk { bytes: bytes.0 },
        spec::App::Sink { verify } => AppSpec::Sink {
            verify: verify.unwrap_or_default(),
        },
        spec::App::Echo {} => AppSpec::Echo,
        spec::App::RequestResponse {
            request,
            response,
            count,
        } => {
            let count = count.unwrap_or(1);
            if count == 0 {
                return Err(invalid(format!("{field}.count"), "must be at least 1"));
            }
            AppSpec::RequestResponse {
                request: positive("request", request.0)?,
                response: positive("response", response.0)?,
                count,
            }
        }
        spec::App::Responder { request, response } => AppSpec::Responder {
            request: positive("request", request.0)?,
            response: positive("response", response.0)?,
        },
        spec::App::Scripted { actions } => {
            if actions.is_empty() {
                return Err(invalid(
                    format!("{field}.actions"),
                    "a script needs actions",
                ));
            }
            let mut out = Vec::new();
            for (i, a) in actions.iter().enumerate() {
                let afield = format!("{field}.actions[{i}]");
                if a.at.0 > duration {
                    return Err(invalid(
                        format!("{afield}.at"),
                        format!("{} is after the end of the run ({duration})", a.at.0),
                    ));
                }
                let action = match (a.action, a.bytes) {
                    (spec::ActionKind::Write, Some(b)) => ScriptAction::Write(b.0),
                    (spec::ActionKind::Write, None) => {
                        return Err(invalid(format!("{afield}.bytes"), "a write needs `bytes`"))
                    }
                    (_, Some(_)) => {
                        return Err(invalid(
                            format!("{afield}.bytes"),
                            "only a write takes `bytes`",
                        ))
                    }
                    (spec::ActionKind::Close, None) => ScriptAction::Close,
                    (spec::ActionKind::Abort, None) => ScriptAction::Abort,
                };
                out.push((Instant::ZERO + a.at.0, action));
            }
            AppSpec::Scripted { actions: out }
        }
    })
}
