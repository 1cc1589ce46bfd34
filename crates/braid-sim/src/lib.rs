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
#![forbid(unsafe_code)]

pub mod link;
pub mod metrics;
pub mod middlebox;
pub mod node;
pub mod nodes;
pub mod pcap;
pub mod rng;
pub mod sim;

pub use link::{DropCause, GilbertElliott, Link, LinkChange, LinkConfig, LinkStats, Verdict};
pub use metrics::{Counter, Series};
pub use middlebox::{Chain, Middlebox};
pub use node::Node;
pub use sim::{LinkId, NodeId, RunOutcome, SimConfig, Simulator};
