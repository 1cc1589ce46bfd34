//! What a simulated host looks like to the simulator.

use braid_proto::time::Instant;

/// A simulated host, driven after quinn-proto's fashion: the simulator hands it packets
/// and timer expiries, each with the current virtual time, and then drains what it
/// wants to send.
///
/// After every [`Node::handle_packet`] and [`Node::handle_timeout`] (and after the node
/// was added or borrowed mutably through [`crate::Simulator::node_mut`]) the simulator
/// calls [`Node::poll_transmit`] until it returns `None`, then [`Node::poll_timeout`],
/// and calls [`Node::handle_timeout`] when that time comes (at once if it has passed).
/// A node therefore never needs a clock of its own and never waits: it answers at the
/// instant it is asked. Time seen by a node never goes backwards.
///
/// [`crate::host::Host`] wraps a braid-proto `Endpoint` this way: it forwards each
/// method to the endpoint's method of the same name, picks the interface from the packet's source address
/// (one local address per interface, as on a real multihomed host), and runs its
/// applications after each event:
///
/// ```text
/// fn handle_packet(&mut self, now, _iface, packet) { self.endpoint.handle(now, packet); self.run_apps(now) }
/// fn poll_transmit(&mut self, now, buf) -> Option<usize> {
///     buf.resize(MAX_PACKET, 0);
///     let len = self.endpoint.poll_transmit(now, buf)?;
///     buf.truncate(len);
///     self.iface_of(source_address(buf))
/// }
/// fn poll_timeout(&mut self) -> Option<Instant> { min(self.endpoint.poll_timeout(), self.apps_timeout()) }
/// fn handle_timeout(&mut self, now) { self.endpoint.handle_timeout(now); self.run_apps(now) }
/// ```
///
/// Tests drive the applications between runs through
/// [`crate::Simulator::node_mut`], which polls the node again at the current time.
pub trait Node {
    /// One IP packet arrived on interface `iface`.
    fn handle_packet(&mut self, now: Instant, iface: usize, packet: &[u8]);

    /// The next packet to send, if any: the node writes one whole IP packet into `buf`
    /// (empty on entry; its capacity is recycled from earlier packets) and returns the
    /// interface to send it on. A packet on an interface with no link is counted as
    /// unrouted and dropped.
    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<usize>;

    /// When the node next wants [`Node::handle_timeout`], if ever.
    fn poll_timeout(&mut self) -> Option<Instant>;

    /// The time from [`Node::poll_timeout`] has come.
    fn handle_timeout(&mut self, now: Instant);
}
