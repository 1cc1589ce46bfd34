//! Network address (and port) translation.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use braid_proto::time::Instant;
use braid_proto::wire::{Ipv4Packet, Ipv6Packet, TcpSegment};

use super::packet::{adjust, edit_tcp_header, sum, FlowTable, TcpInfo};
use super::Middlebox;

/// Translates one inside address to an outside address: TCP packets from `inside`
/// leave with source `outside`, and TCP packets to `outside` come back with
/// destination `inside`. Peers only ever see `outside`; MPTCP copes because subflows
/// are joined by token and addresses named by address id (RFC 8684 §3.2, §3.4.1), not
/// by the addresses a peer sees.
///
/// With [`Nat::with_ports`] source ports are translated too: each inside port gets an
/// outside port from the range, the same for every destination (endpoint-independent
/// mapping, RFC 4787), kept in a bounded table (the least recently used mapping is
/// forgotten to make room). A packet to `outside` on a port with no mapping is dropped
/// and counted. Without it the box has no state.
///
/// The NAT must see both directions: put one instance on both links of a path with
/// [`super::Shared`] (without port translation, two instances with the same addresses
/// also do). IPv4 header checksums are recomputed; TCP checksums are updated
/// incrementally for the address (pseudo-header) and port. Packets that are not TCP,
/// or are fragments, pass untouched.
#[derive(Debug, Clone)]
pub struct Nat {
    inside: IpAddr,
    outside: IpAddr,
    ports: Option<PortMap>,
    /// Packets from inside translated.
    pub translated_out: u64,
    /// Packets to outside translated back.
    pub translated_in: u64,
    /// Packets to outside dropped: no mapping for their port.
    pub dropped_unmapped: u64,
}

#[derive(Debug, Clone)]
struct PortMap {
    range: RangeInclusive<u16>,
    /// Where the search for a free port starts.
    next: u16,
    /// Inside port -> outside port.
    by_inside: FlowTable<u16, u16>,
    /// Outside port -> inside port.
    by_outside: BTreeMap<u16, u16>,
}

impl PortMap {
    fn outside_port(&mut self, inside: u16) -> u16 {
        if let Some(&mut port) = self.by_inside.get_mut(&inside) {
            return port;
        }
        let size = usize::from(self.range.end() - self.range.start()) + 1;
        if self.by_outside.len() >= size {
            // Every port is taken: forget the least recently used mapping.
            if let Some((_, port)) = self.by_inside.pop_oldest() {
                self.by_outside.remove(&port);
            }
        }
        let mut port = self.next;
        while self.by_outside.contains_key(&port) {
            port = self.after(port);
        }
        self.next = self.after(port);
        if let Some((_, forgotten)) = self.by_inside.insert(inside, port) {
            self.by_outside.remove(&forgotten);
        }
        self.by_outside.insert(port, inside);
        port
    }

    fn after(&self, port: u16) -> u16 {
        if port >= *self.range.end() {
            *self.range.start()
        } else {
            port + 1
        }
    }
}

impl Nat {
    /// A usual bound of the port mapping table ([`Nat::with_ports`]).
    pub const DEFAULT_MAX_MAPPINGS: usize = 4096;

    /// # Panics
    ///
    /// If the two addresses are of different families: a caller bug.
    pub fn new(inside: IpAddr, outside: IpAddr) -> Self {
        assert_eq!(
            inside.is_ipv4(),
            outside.is_ipv4(),
            "Nat: inside and outside addresses of different families"
        );
        Nat {
            inside,
            outside,
            ports: None,
            translated_out: 0,
            translated_in: 0,
            dropped_unmapped: 0,
        }
    }

    /// Translates source ports to ports of `range`, at most `max_mappings` at once
    /// (and never more than the range holds).
    ///
    /// # Panics
    ///
    /// If the range is empty or `max_mappings` is 0: caller bugs.
    pub fn with_ports(mut self, range: RangeInclusive<u16>, max_mappings: usize) -> Self {
        assert!(!range.is_empty(), "Nat: empty port range");
        let size = usize::from(range.end() - range.start()) + 1;
        self.ports = Some(PortMap {
            next: *range.start(),
            range,
            by_inside: FlowTable::new(max_mappings.min(size)),
            by_outside: BTreeMap::new(),
        });
        self
    }

    pub fn inside(&self) -> IpAddr {
        self.inside
    }

    pub fn outside(&self) -> IpAddr {
        self.outside
    }

    /// The outside port of an inside port, if mapped (with port translation), or the
    /// port itself (without).
    pub fn mapping(&self, inside_port: u16) -> Option<u16> {
        match &self.ports {
            Some(map) => map.by_inside.get(&inside_port).copied(),
            None => Some(inside_port),
        }
    }

    /// Port mappings forgotten to make room.
    pub fn mappings_evicted(&self) -> u64 {
        self.ports.as_ref().map_or(0, |m| m.by_inside.evicted)
    }
}

#[derive(Clone, Copy)]
enum End {
    Src,
    Dst,
}

/// Rewrites the source or destination address and port of a TCP packet; fixes the
/// IPv4 header checksum and, incrementally, the TCP checksum.
fn rewrite(packet: &mut [u8], tcp: &TcpInfo, end: End, addr: IpAddr, port: u16) {
    let old = match end {
        End::Src => tcp.src,
        End::Dst => tcp.dst,
    };
    // `addr` is of the packet's family: `old` matched an address of the NAT's family.
    match addr {
        IpAddr::V4(a) => {
            let mut ip = Ipv4Packet::new_unchecked(&mut *packet);
            match end {
                End::Src => ip.set_src_addr(a),
                End::Dst => ip.set_dst_addr(a),
            }
            ip.fill_checksum();
        }
        IpAddr::V6(a) => {
            let mut ip = Ipv6Packet::new_unchecked(&mut *packet);
            match end {
                End::Src => ip.set_src_addr(a),
                End::Dst => ip.set_dst_addr(a),
            }
        }
    }
    let octets = |a: IpAddr| match a {
        IpAddr::V4(a) => sum(&a.octets()),
        IpAddr::V6(a) => sum(&a.octets()),
    };
    // The addresses are in the TCP pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1).
    let mut segment = TcpSegment::new_unchecked(&mut packet[tcp.range()]);
    let checksum = adjust(segment.checksum(), octets(old), octets(addr));
    segment.set_checksum(checksum);
    edit_tcp_header(&mut packet[tcp.range()], |segment| match end {
        End::Src => segment.set_src_port(port),
        End::Dst => segment.set_dst_port(port),
    });
}

impl Middlebox for Nat {
    fn process(&mut self, _now: Instant, mut packet: Vec<u8>, out: &mut Vec<Vec<u8>>) {
        let Some(tcp) = TcpInfo::parse(&packet) else {
            out.push(packet);
            return;
        };
        if tcp.src == self.inside {
            let port = match &mut self.ports {
                Some(map) => map.outside_port(tcp.src_port),
                None => tcp.src_port,
            };
            rewrite(&mut packet, &tcp, End::Src, self.outside, port);
            self.translated_out += 1;
        } else if tcp.dst == self.outside {
            let port = match &mut self.ports {
                Some(map) => match map.by_outside.get(&tcp.dst_port) {
                    Some(&port) => {
                        map.by_inside.get_mut(&port); // in use
                        port
                    }
                    None => {
                        self.dropped_unmapped += 1;
                        return;
                    }
                },
                None => tcp.dst_port,
            };
            rewrite(&mut packet, &tcp, End::Dst, self.inside, port);
            self.translated_in += 1;
        }
        out.push(packet);
    }
}
