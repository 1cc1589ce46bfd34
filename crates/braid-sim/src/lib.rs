//! braid-sim: a deterministic network simulator for braid.
//!
//! A discrete-event engine on a virtual clock ([`Simulator`]) moves IP packets between
//! simulated hosts ([`Node`]) over one-way links ([`Link`]) with rate, delay, jitter,
//! random and bursty loss, a drop-tail queue, reordering, duplication, an MTU and timed
//! changes, behind chains of middleboxes ([`Middlebox`]). Every random decision comes
//! from the scenario seed ([`rng`]); nothing reads a wall clock. The same scenario and
//! seed give the same events, the same packets and the same capture bytes ([`pcap`]),
//! and per-link counters and throughput series ([`metrics`]) are exact.
//!
//! The link and middlebox models own no clock: they take `now` like braid-proto does,
//! so the same code can later shape real packets in real time.
//!
//! On top of the core: [`host::Host`], a node running a braid-proto `Endpoint` with
//! [`apps`] (bulk transfer, sink, echo, request/response, scripted) on its
//! connections; [`router::Router`], a node that forwards by destination so that
//! paths can share a link; [`report`], the metrics of a run (goodput, throughput over
//! time per connection and subflow, retransmissions, RTOs, the longest delivery
//! stall); and [`scenario`], which reads all of it from a TOML file (format below), or
//! takes it as Rust values, and runs it.
//! `examples/scenarios/mptcp-two-paths.toml` is MPTCP over Wi-Fi and cellular.
//! `braid sim FILE` is the command-line front end.
//!
//! ```
//! use braid_proto::time::{Duration, Instant};
//! use braid_sim::{nodes, LinkConfig, Simulator};
//!
//! let mut sim = Simulator::new(1);
//! let tx = sim.add_node(nodes::ConstantRateSender::new(
//!     0, nodes::Flow::example(), 1500, Duration::from_millis(1)).count(10));
//! let rx = sim.add_node(nodes::CountingSink::new());
//! let cfg = LinkConfig::new().rate_bps(10_000_000).delay(Duration::from_millis(10));
//! sim.add_link((tx, 0), (rx, 0), cfg);
//! sim.run_until(Instant::from_millis(100));
//! assert_eq!(sim.node::<nodes::CountingSink>(rx).received.packets, 10);
//! ```
//!
//! # Scenario files
//!
//! A scenario is a TOML file; `examples/scenarios/` at the root of the repository has
//! commented examples. Every table rejects keys it does not know. Values with units
//! are strings: durations `"250us"`, `"10ms"`, `"1.5s"`, `"2min"`; rates `"64kbit"`,
//! `"100Mbit"`, `"1Gbit"` (or a number of bits per second, or `"unlimited"`); sizes
//! `"1500"`, `"64KiB"`, `"10MB"` (or a number of bytes); probabilities `0.01` or
//! `"1%"`. Errors name the line (for TOML and type errors) or the field, as a path like
//! `link[0].between[1]` (for everything else).
//!
//! ```toml
//! name = "example"          # names: letters, digits, '-', '_', '.'
//! seed = 1                  # default seed (`braid sim --seed` overrides it); 0 if absent
//! duration = "30s"          # the deadline; default 60s
//! stop = "finished"         # "finished" (default): stop once every connection has
//!                           # finished; "deadline": always run to the deadline
//! bin = "100ms"             # width of every throughput bin; default 100ms
//!
//! [tcp]                     # TCP settings of every host (each optional)
//! cc = "cubic"              # "cubic", "newreno" ("reno"); coupled: "lia", "olia", "balia"
//! mss = 1460                # default: what fits the smallest MTU of the host's links
//! send_buffer = "4MiB"
//! recv_buffer = "6MiB"
//! initial_recv_buffer = "128KiB"
//! window_scaling = true
//! timestamps = true
//! sack = true
//! nagle = true
//! delayed_ack = "40ms"      # or "off"
//! initial_rto = "1s"
//! min_rto = "200ms"
//! max_rto = "120s"
//! syn_retries = 6
//! data_retries = 15
//! time_wait = "60s"
//! keepalive = "off"         # or { idle = "2h", interval = "75s", probes = 9 }
//! max_ooo_ranges = 64
//! max_connections = 4096
//! syn_backlog = 256
//! accept_backlog = 128
//!
//! [mptcp]                   # MPTCP settings of every host (each optional)
//! enabled = true            # offer and accept MP_CAPABLE; false: plain TCP only
//! checksums = false         # ask for DSS checksums (used when either side asks)
//! max_subflows = 8          # per connection, the first one included
//! max_mapping = "16KiB"     # the largest DSS mapping given to a subflow at once
//! limits = { subflows = 2, add_addr_accepted = 8 }   # `ip mptcp limits set ...`
//! join_announced = true     # open subflows to addresses the peer announces
//! add_addr_timeout = "1s"   # resend an ADD_ADDR the peer has not echoed; "0s": never
//! add_addr_retransmissions = 3
//! scheduler = "lowest-rtt"  # "blest", "ecf", "redundant", "round-robin"; presets
//!                           # "handover", "interactive", "aggregate"
//! send_autotune = false     # grow the send buffer towards 2·RTT_max·Σrate
//! receive_autotune = false  # grow the receive window likewise
//! close_timeout = "60s"     # how long a connection that lost every subflow waits
//!                           # for one to come back before it ends in error
//!
//! [[host]]
//! name = "client"
//! addresses = ["10.0.1.1", "10.0.2.1"]   # one interface per address: eth0, eth1
//! route = [{ to = "10.0.2.0/24", interface = "eth1" },   # source address choice
//!          { to = "default", interface = 0 }]
//! routing = "source"        # or "destination": which interface packets leave by
//! tcp = { nagle = false }   # this host's overrides of [tcp]
//! mptcp = { endpoints = ["10.0.2.1,subflow"], limits = { subflows = 1 } }
//!
//! [[host]]
//! name = "server"
//! [[host.interface]]        # or interfaces spelt out, with names and several addresses
//! name = "wan"
//! addresses = ["10.0.1.2", "fd00::2"]
//!
//! [[router]]                # forwards by destination; owns no addresses
//! name = "r1"               # host and router names are one namespace
//! interfaces = ["lan", "wan"]            # numbered 0, 1, ... in this order
//! route = [{ to = "10.0.1.0/24", interface = "lan" },   # longest prefix wins
//!          { to = "default", interface = 1 }]
//!
//! [[link]]
//! name = "path1"            # default link0, link1, ...
//! between = ["client:eth0", "server"]   # both directions; or from = ..., to = ...
//! rate = "100Mbit"          # default unlimited
//! delay = "10ms"            # one-way propagation delay; default 0
//! jitter = "1ms"            # uniform extra delay, never reordering
//! loss = "0.1%"             # Bernoulli loss
//! burst_loss = { p = 0.01, r = 0.3 }     # Gilbert-Elliott; loss_good = 0, loss_bad = 1
//! reorder = { probability = 0.01, delay = "5ms" }
//! duplicate = 0.0
//! queue = "1500000"         # drop-tail queue in bytes; default 1000 packets of 1500
//! mtu = 1500
//! down_policy = "drop"      # or "hold": what a down link does with its packets
//! reverse = { rate = "10Mbit" }          # per-direction overrides: forward / reverse
//! schedule = [            # any parameter and `state`, in both directions unless
//!   { at = "5s", state = "down" },       # `direction` says "forward" or "reverse"
//!   { at = "6s", state = "up" },
//!   { at = "6s", rate = "50Mbit", direction = "forward" },
//!   { at = "20s", state = "down", notify = true },  # and the hosts are told
//!   { at = "21s", state = "up", notify = true },
//! ]
//! middlebox = [           # stages before the queue, in order (table below)
//!   { type = "strip_mptcp", on = "syn_ack", direction = "reverse" },
//!   { type = "seq_rewrite" },              # both directions: one seeded box
//! ]
//!
//! [[connection]]
//! name = "upload"           # default conn0, conn1, ...
//! client = "client"         # a host, "host:interface", or an address
//! server = "10.0.1.2"       # likewise; a host with several addresses needs one named
//! port = 5001               # server port; default 5001
//! client_port = 40000       # default: an ephemeral port
//! start = "0s"              # when the client connects
//! app = { type = "bulk", bytes = "10MB" }            # the client's application
//! server_app = { type = "sink", verify = "pattern" } # default: the usual peer of `app`
//! ```
//!
//! Link ends name an interface: a host or router with one interface,
//! `"name:interface"` (name or number), or an address of a host. Each interface has at
//! most one link leaving it. A connection needs a path each way, from the interface of
//! each of its two addresses to the other host: a link straight to it, or a link to a
//! router whose routes lead on to it; the file is rejected otherwise, with what goes
//! wrong on the way (no link, no route, a loop, the wrong host). Without
//! `client_port`, the client's source address is the one its routes give, or its only
//! address of the server's IP version.
//!
//! A link going down is, by default, only a link going down: the hosts find out as
//! TCP does, from missing acknowledgments. With `notify = true` (on an entry with
//! `state`, for both directions of a duplex link) each host at an end of the link is
//! also told that its interface there went down or came back, as an operating system
//! tells its path manager: the interface's addresses are removed from the host's
//! endpoint (MPTCP connections send REMOVE_ADDR and move the data of the subflows
//! that used them to the others at once) and, when it comes back, restored with the
//! path manager endpoints they had, so `subflow` and `signal` endpoints act again (see
//! [`host`], "Interface events").
//!
//! Routers (see [`router`]) are how paths meet: links of several hosts, or of several
//! interfaces of one MPTCP host, end at a router, and the one link leaving it towards
//! the server is a bottleneck they share, queue included. A router forwards each
//! packet at once by the longest of its `route` prefixes that matches the destination,
//! decrements the TTL or hop limit, and drops (and counts) what it cannot route. Its
//! link ends appear under its name in the report and in capture names.
//!
//! `cc` picks the congestion controller (see `braid_proto::cc`): `"cubic"` (RFC 9438,
//! the default) and `"newreno"` (RFC 5681) run independently on each subflow, so an
//! MPTCP connection with n subflows through one bottleneck takes about n TCP shares;
//! `"lia"` (RFC 6356), `"olia"` and `"balia"` couple the subflows of a connection so
//! that together they take about one. With one subflow (plain TCP), the coupled
//! controllers behave as `"newreno"`. `examples/scenarios/shared-bottleneck.toml`
//! puts an MPTCP connection and a TCP connection through one bottleneck.
//!
//! Applications (`type`), with the server's default when `server_app` is left out:
//!
//! | type               | keys                                   | server default |
//! |--------------------|----------------------------------------|----------------|
//! | `bulk`             | `bytes`: writes them, then closes       | `sink`         |
//! | `sink`             | `verify`: `"pattern"` (default) or `"sha256"` | needs one |
//! | `echo`             | none: writes back what it reads         | needs one      |
//! | `request_response` | `request`, `response` (sizes), `count` (default 1) | `responder` with the same sizes |
//! | `responder`        | `request`, `response`                   | needs one      |
//! | `scripted`         | `actions = [{ at = "1s", action = "write", bytes = "1MB" }, { at = "2s", action = "close" }, { at = "3s", action = "abort" }]` | `sink` |
//!
//! Connections to the same server address and port share a listener and must ask for
//! the same server application.
//!
//! `routing` says which interface a host's packets leave by (see [`host::Routing`]):
//! `"source"` (the default) sends each packet out of the interface that owns its
//! source address, like Linux policy routing with a table per address (`ip rule add
//! from 10.0.2.1 table 2`); `"destination"` sends it by the host's `route`s on its
//! destination (longest prefix), like a single main table, and by its source when no
//! route matches. A multihomed MPTCP client routes by source, so that a subflow from
//! its second address takes the second path whatever its destination; a server
//! usually routes by destination, so that its answers to that subflow go back the
//! same way even when the subflow was opened to its first address.
//!
//! MPTCP (RFC 8684) is on by default: a connection offers MP_CAPABLE and falls back to
//! TCP when the peer does not answer it. A host's `mptcp` table overrides `[mptcp]`
//! key by key (`limits` too). `endpoints` are only given per host, since they are its
//! own addresses: each is `"ADDR,FLAGS[,port=N][,id=N]"` with the flags of `ip mptcp
//! endpoint add` (`signal`: announce it with ADD_ADDR; `subflow`: a client opens a
//! subflow from it to the peer's address once the connection is established; `backup`:
//! its subflows are backups; `fullmesh`: subflows from it to every address the peer
//! announces), and ids are assigned in order when not given, as `ip mptcp` does. The
//! rules of `ip mptcp` apply (limits at most 8, at most 8 endpoints, a `port` only on
//! signal-only endpoints, no `signal` with `fullmesh`), and each endpoint must be an
//! address of the host.
//!
//! Middleboxes (`type`; see [`middlebox`]) go on a link's packets before its queue, in
//! the order listed. Each takes `direction`: `"both"` (default), `"forward"`
//! (`between[0]` to `between[1]`) or `"reverse"`; `nat` always sees both. A stage on
//! both directions is one instance per direction, except `seq_rewrite` (both draw the
//! same offsets) and `nat` (one box). Each keeps IP and TCP checksums valid.
//!
//! | type              | keys                                      | does |
//! |-------------------|-------------------------------------------|------|
//! | `strip_option`    | `kind`                                    | NOPs out every option of that kind, like `iptables -j TCPOPTSTRIP` |
//! | `strip_mptcp`     | `on`: `"syn"`, `"syn_ack"`, `"third_ack"`, `"all"`, or `"from_data_segment"` with `segment = N`; `max_flows` | NOPs out option 30 on those segments only (RFC 8684 §3.7); from the N-th data segment of a flow on, every segment of it |
//! | `split`           | `max_payload` (size)                      | cuts larger segments into pieces with the same options |
//! | `coalesce`        | `max_payload` (size, plus 100 bytes of headers within the `mtu`), `hold` (duration), `max_flows` | merges in-sequence data segments held at most `hold`, keeping the FIRST one's options (breaks DSS mappings) |
//! | `seq_rewrite`     | `offset` (default: random per direction, from the seed) | adds an offset to sequence numbers, subtracts it from the other side's ACKs and SACK blocks |
//! | `nat`             | `inside`, `outside` (addresses), `ports = [first, last]`, `max_mappings` (with `ports`) | rewrites `inside` to `outside` (and source ports into the range), and back for replies |
//! | `payload_rewrite` | `segment = N` or `contains = "bytes"`; `xor` (default 0xff) at `offset` (default 0), or `replace = "bytes"` (same length as `contains`); `times` | changes payload bytes and fixes the TCP checksum: only MPTCP's DSS checksum can tell |
//!
//! The report pairs a connection's two ends by address, so across a `nat` it shows
//! them as two unpaired ends.
//!
//! The run reports (see [`report`]) per connection and direction: bytes written and
//! delivered, goodput, completion time, the largest gap between two deliveries to the
//! application (and, for a transfer left unfinished, the time since its last delivery),
//! retransmitted bytes and segments, RTOs and integrity (SHA-256 of both ends, and the
//! sink's pattern check); per end and per subflow, throughput over time; for MPTCP,
//! per end, whether it fell back, every subflow (addresses, address ids, backup flags,
//! bytes, retransmissions, RTOs, RTT, how it ended), the number of established subflows
//! over the run, the MPTCP counters (joins, ADD_ADDR, fallbacks, reinjected bytes,
//! protocol errors, ...) and a log of subflow events; per link direction, counters and
//! throughput over time (one series per path when each path is a link). Captures are one pcap per
//! link direction, `LINK.FROM-TO.pcap`, raw IP with virtual timestamps.
//!
//! # Scenarios in Rust
//!
//! The same scenarios can be written as Rust values: [`scenario::spec`] has a type for
//! each table of the format, its keys as fields, and setters that take typed values
//! (rates [`scenario::units::Rate`], sizes [`scenario::units::Size`], durations,
//! addresses, braid-proto's `PmEndpoint` and `SchedulerKind`) rather than text. Reading
//! a file fills the same values ([`scenario::spec::ScenarioSpec::from_toml`]), and
//! [`scenario::Scenario::from_spec`] validates either kind into a scenario, with the same
//! errors, named by the key at fault (`link[0].loss`). [`scenario::multipath`] builds
//! the network most scenarios here use: a multihomed client with a path per interface,
//! each path its own link (rate, delay, loss, queue, schedule, middleboxes), the paths
//! meeting at a router whose link to the server can be a bottleneck shared with other
//! hosts, or each going straight to a server with an address per path.
//!
//! ```
//! use braid_proto::pm::EndpointFlags;
//! use braid_proto::time::Duration;
//! use braid_sim::scenario::multipath::{Multipath, Path, ToServer};
//! use braid_sim::scenario::spec::{App, Connection, Host, Link, ScenarioSpec, ScheduleEntry, State};
//! use braid_sim::scenario::units::{Rate, Size};
//! use braid_sim::scenario::{RunOptions, Scenario};
//!
//! let ms = Duration::from_millis;
//! // Wi-Fi fails for good after 300 ms; the phone also joins from its cellular address.
//! let wifi = Link::default()
//!     .rate(Rate::mbit(50))
//!     .delay(ms(10))
//!     .schedule(ScheduleEntry::at(ms(300)).state(State::Down));
//! let cellular = Link::default().rate(Rate::mbit(20)).delay(ms(30)).loss(0.001);
//! let subflow = EndpointFlags { subflow: true, ..EndpointFlags::default() };
//! let network = Multipath {
//!     client: Host::new("phone"),
//!     paths: vec![Path::new("wifi", wifi), Path::new("cell", cellular).endpoint(subflow)],
//!     to_server: ToServer::router(),
//! };
//! let spec = network
//!     .add_to(ScenarioSpec::new("wifi-fails").duration(Duration::from_secs(20)))
//!     .connection(Connection::new("phone", "10.0.9.2", App::Bulk { bytes: Size::mb(2) }));
//! let run = Scenario::from_spec(spec).unwrap().run(&RunOptions::default()).unwrap();
//! assert_eq!(run.report.connections[0].upload.bytes_delivered, 2_000_000);
//! ```
#![forbid(unsafe_code)]

pub mod apps;
pub mod host;
pub mod link;
pub mod metrics;
pub mod middlebox;
pub mod node;
pub mod nodes;
pub mod pcap;
pub mod report;
pub mod rng;
pub mod router;
pub mod scenario;
pub mod sim;

pub use link::{DropCause, GilbertElliott, Link, LinkChange, LinkConfig, LinkStats, Verdict};
pub use metrics::{Counter, Series};
pub use middlebox::{Chain, Middlebox};
pub use node::Node;
pub use sim::{LinkId, NodeId, RunOutcome, SimConfig, Simulator};
