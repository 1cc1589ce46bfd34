//! A router: a node that forwards IP packets by destination, so that links can meet.
//!
//! Links join two interfaces. Without routers every path is one link, and two paths
//! never share anything; a [`Router`] joins several links, so that the paths of
//! different hosts, or the subflows of one MPTCP connection, cross one bottleneck
//! link (the link leaving the router) and share its queue.
//!
//! A router owns no addresses and runs no stack. Each packet that arrives on any
//! interface leaves by the interface of the longest prefix among its routes that
//! matches the destination (IPv4 and IPv6), at once: the links around it model every
//! delay and queue. As RFC 1812 has routers do, it discards IPv4 headers whose
//! checksum is wrong (§5.2.2) and decrements the IPv4 TTL (updating the checksum
//! incrementally, RFC 1624) or the IPv6 hop limit, dropping a packet whose TTL would
//! reach zero (§5.3.1); it sends no ICMP. Packets with no route, and packets that are
//! not IP it can read, are dropped too. Each drop is counted ([`RouterStats`]).
//!
//! ```
//! use braid_proto::time::{Duration, Instant};
//! use braid_sim::router::Router;
//! use braid_sim::{nodes, LinkConfig, Simulator};
//!
//! let mut sim = Simulator::new(1);
//! let tx = sim.add_node(nodes::ConstantRateSender::new(
//!     0, nodes::Flow::example(), 1500, Duration::from_millis(1)).count(10));
//! let mut router = Router::new("r1", 2);
//! router.add_route("10.0.0.0".parse().unwrap(), 24, 1);
//! let r = sim.add_node(router);
//! let rx = sim.add_node(nodes::CountingSink::new());
//! sim.add_link((tx, 0), (r, 0), LinkConfig::new());
//! sim.add_link((r, 1), (rx, 0), LinkConfig::new().rate_bps(1_000_000));
//! sim.run_until(Instant::from_millis(200));
//! assert_eq!(sim.node::<nodes::CountingSink>(rx).received.packets, 10);
//! assert_eq!(sim.node::<Router>(r).stats().forwarded.packets, 10);
//! ```

use std::collections::VecDeque;
use std::net::IpAddr;

use braid_proto::time::Instant;
use braid_proto::wire::IpRepr;

use crate::host::prefix_matches;
use crate::metrics::Counter;
use crate::node::Node;

/// What a router did with the packets it received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RouterStats {
    /// Sent on by a route.
    pub forwarded: Counter,
    /// No route matched the destination: dropped.
    pub no_route: Counter,
    /// The TTL or hop limit would have reached zero: dropped.
    pub ttl_expired: Counter,
    /// Not an IP packet it could read: dropped.
    pub malformed: Counter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Route {
    prefix: IpAddr,
    len: u8,
    iface: usize,
}

/// A router. See the module documentation.
#[derive(Debug, Clone)]
pub struct Router {
    name: String,
    interfaces: usize,
    routes: Vec<Route>,
    /// Packets to send, with their interface: filled by `handle_packet` and emptied by
    /// the `poll_transmit` calls the simulator makes right after it.
    queue: VecDeque<(usize, Vec<u8>)>,
    stats: RouterStats,
}

impl Router {
    /// A router with interfaces `0..interfaces` and no routes.
    pub fn new(name: impl Into<String>, interfaces: usize) -> Self {
        Router {
            name: name.into(),
            interfaces,
            routes: Vec::new(),
            queue: VecDeque::new(),
            stats: RouterStats::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn interfaces(&self) -> usize {
        self.interfaces
    }

    /// Destinations in `prefix/len` leave by interface `iface` (a route to an
    /// interface the router does not have drops what it matches).
    pub fn add_route(&mut self, prefix: IpAddr, len: u8, iface: usize) {
        self.routes.push(Route { prefix, len, iface });
    }

    /// The interface packets to `dst` leave by: the longest matching prefix, the
    /// first of equally long ones.
    pub fn route(&self, dst: IpAddr) -> Option<usize> {
        let mut best: Option<&Route> = None;
        for r in self
            .routes
            .iter()
            .filter(|r| prefix_matches(r.prefix, r.len, dst))
        {
            if best.is_none_or(|b| r.len > b.len) {
                best = Some(r);
            }
        }
        best.map(|r| r.iface).filter(|&i| i < self.interfaces)
    }

    pub fn stats(&self) -> &RouterStats {
        &self.stats
    }
}

/// RFC 1624 eq. 3: the checksum `sum` after a 16-bit word of the data went from
/// `old` to `new`: `~(~HC + ~m + m')`.
fn checksum_update(sum: u16, old: u16, new: u16) -> u16 {
    let mut acc = u32::from(!sum) + u32::from(!old) + u32::from(new);
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Decrements the TTL (IPv4, with its header checksum) or hop limit (IPv6) of
/// `packet`, which `IpRepr::parse` accepted. `false` if it would reach zero.
fn decrement_ttl(packet: &mut [u8]) -> bool {
    match packet[0] >> 4 {
        4 => {
            let ttl = packet[8];
            if ttl <= 1 {
                return false;
            }
            let old = u16::from_be_bytes([packet[8], packet[9]]);
            packet[8] = ttl - 1;
            let new = u16::from_be_bytes([packet[8], packet[9]]);
            let sum = u16::from_be_bytes([packet[10], packet[11]]);
            packet[10..12].copy_from_slice(&checksum_update(sum, old, new).to_be_bytes());
            true
        }
        _ => {
            let hops = packet[7];
            if hops <= 1 {
                return false;
            }
            packet[7] = hops - 1;
            true
        }
    }
}

impl Node for Router {
    fn handle_packet(&mut self, _now: Instant, _iface: usize, packet: &[u8]) {
        let Ok((ip, _)) = IpRepr::parse(packet) else {
            self.stats.malformed.add(packet.len());
            return;
        };
        let Some(out) = self.route(ip.dst_addr()) else {
            self.stats.no_route.add(packet.len());
            return;
        };
        let mut forwarded = packet.to_vec();
        if !decrement_ttl(&mut forwarded) {
            self.stats.ttl_expired.add(packet.len());
            return;
        }
        self.stats.forwarded.add(packet.len());
        self.queue.push_back((out, forwarded));
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<usize> {
        let (iface, packet) = self.queue.pop_front()?;
        buf.extend_from_slice(&packet);
        Some(iface)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _now: Instant) {}
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use braid_proto::wire::{ip_protocol, Ipv4Packet, Ipv4Repr, Ipv6Repr};

    use super::*;

    fn v4(dst: &str, ttl: u8) -> Vec<u8> {
        let mut ip = Ipv4Repr::new(
            Ipv4Addr::new(10, 0, 1, 1),
            dst.parse().unwrap(),
            ip_protocol::UDP,
            8,
        );
        ip.ttl = ttl;
        let mut buf = vec![0; 28];
        ip.emit(&mut buf);
        buf
    }

    fn router() -> Router {
        let mut r = Router::new("r", 3);
        r.add_route("10.0.0.0".parse().unwrap(), 8, 0);
        r.add_route("10.0.2.0".parse().unwrap(), 24, 1);
        r.add_route("fd00::".parse().unwrap(), 16, 2);
        r
    }

    fn forward(r: &mut Router, packet: &[u8]) -> Option<(usize, Vec<u8>)> {
        r.handle_packet(Instant::ZERO, 0, packet);
        let mut buf = Vec::new();
        let iface = r.poll_transmit(Instant::ZERO, &mut buf)?;
        assert!(r.poll_transmit(Instant::ZERO, &mut buf).is_none());
        Some((iface, buf))
    }

    #[test]
    fn longest_prefix_wins() {
        let r = router();
        assert_eq!(r.route("10.0.2.7".parse().unwrap()), Some(1));
        assert_eq!(r.route("10.0.3.7".parse().unwrap()), Some(0));
        assert_eq!(r.route("fd00::1".parse().unwrap()), Some(2));
        assert_eq!(r.route("192.0.2.1".parse().unwrap()), None);
        assert_eq!(r.route(IpAddr::V6(Ipv6Addr::LOCALHOST)), None);
        // A route to a missing interface is no route.
        let mut r = Router::new("r", 1);
        r.add_route("0.0.0.0".parse().unwrap(), 0, 4);
        assert_eq!(r.route("10.0.2.7".parse().unwrap()), None);
    }

    #[test]
    fn rfc1812_s5_3_1_ttl_decremented_and_checksum_kept_valid() {
        let mut r = router();
        let (iface, out) = forward(&mut r, &v4("10.0.2.9", 64)).unwrap();
        assert_eq!(iface, 1);
        let ip = Ipv4Packet::new_checked(&out[..]).unwrap();
        assert_eq!(ip.ttl(), 63);
        assert!(ip.verify_checksum());
        // TTL 1 would reach 0: dropped.
        assert!(forward(&mut r, &v4("10.0.2.9", 1)).is_none());
        assert_eq!(r.stats().ttl_expired.packets, 1);
        // RFC 1812 §5.2.2: a header with a wrong checksum is discarded.
        let mut bad = v4("10.0.2.9", 64);
        bad[10] ^= 0x55;
        assert!(forward(&mut r, &bad).is_none());
        assert_eq!(r.stats().malformed.packets, 1);
        assert_eq!(r.stats().forwarded.packets, 1);
    }

    #[test]
    fn ipv6_hop_limit_and_drops() {
        let mut r = router();
        let mut ip = Ipv6Repr::new(
            "fd01::1".parse().unwrap(),
            "fd00::9".parse().unwrap(),
            ip_protocol::UDP,
            8,
        );
        ip.hop_limit = 2;
        let mut packet = vec![0; 48];
        ip.emit(&mut packet);
        let (iface, out) = forward(&mut r, &packet).unwrap();
        assert_eq!((iface, out[7]), (2, 1));
        assert!(forward(&mut r, &out).is_none());
        assert_eq!(r.stats().ttl_expired.packets, 1);
        assert!(forward(&mut r, &v4("192.0.2.1", 64)).is_none());
        assert_eq!(r.stats().no_route.packets, 1);
        assert!(forward(&mut r, &[0x45, 0, 0]).is_none());
        assert_eq!(r.stats().malformed.packets, 1);
    }

    #[test]
    fn checksum_update_matches_a_full_recomputation() {
        for ttl in [2u8, 17, 64, 128, 255] {
            let mut p = v4("10.0.2.9", ttl);
            assert!(decrement_ttl(&mut p));
            let mut again = p.clone();
            Ipv4Packet::new_unchecked(&mut again[..]).fill_checksum();
            assert_eq!(p, again, "ttl {ttl}");
        }
    }
}
