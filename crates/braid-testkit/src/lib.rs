//! Test and benchmark support for braid: network namespace labs and a Linux MPTCP peer.
//! Not published; the crates of this workspace use it as a dev-dependency.
//!
//! - [`netns`]: namespaces, the two-namespace layout of the interop tests
//!   ([`Topology`]: braid's TUN side and a Linux side joined by one veth pair per
//!   path), the kernel's MPTCP limits, endpoints and counters, iptables middleboxes.
//! - [`lab`]: what every namespace test does around that: skip without root (fail
//!   with `BRAID_REQUIRE_NETNS=1`), one lab at a time ([`Lab`]), threads inside a
//!   namespace with bounded waits.
//! - [`linux_mptcp`]: the kernel's MPTCP through `IPPROTO_MPTCP` sockets, exchanges
//!   checked by SHA-256, the ways Linux ends a connection.
//! - [`peer`]: a Linux server or client thread in a namespace that carries out a plan.
//!
//! docs/network-lab.md in the repository explains the layout; scripts/netns-lab.sh
//! builds the same layout by hand. A two-path lab with a Linux MPTCP server in it:
//!
//! ```no_run
//! use braid_testkit::netns::EndpointFlag;
//! use braid_testkit::peer::{linux_server, PeerPlan};
//! use braid_testkit::Lab;
//!
//! let Some(lab) = Lab::new("my_test", 2) else {
//!     return; // skipped: not root
//! };
//! // The server announces its second address (ADD_ADDR) and accepts joins.
//! lab.server.mptcp_limits(8, 8).unwrap();
//! lab.server
//!     .mptcp_endpoint_add(lab.paths[1].server_ip.into(), None, &[EndpointFlag::Signal], None)
//!     .unwrap();
//! let server = linux_server(&lab.server, "0.0.0.0:5001".parse().unwrap(), PeerPlan::new(1 << 20, 7))
//!     .unwrap();
//! // braid: a Stack on a TUN device in `lab.client` owning paths[0].braid_ip and
//! // paths[1].braid_ip, connecting to paths[0].server_ip port 5001.
//! # drop(server);
//! ```

pub mod lab;
pub mod linux_mptcp;
pub mod netns;
pub mod peer;

pub use lab::Lab;
pub use netns::Topology;
