//! The event loop on a virtual clock.
//!
//! A [`Simulator`] holds nodes ([`Node`]) and one-way links between their interfaces.
//! Each link is a [`Chain`] of middleboxes in front of a [`Link`]. The simulator keeps
//! one pending event per thing that can act on its own: a node's timer, a link's next
//! arrival or transmission end or scheduled change, a chain's timer. It processes them
//! in time order; events at the same instant in the order they were scheduled (a
//! sequence number, never a hash order). So a scenario and its seed fix every event,
//! every packet byte and every timestamp.
//!
//! Each event is one of:
//! - a node's timer: `handle_timeout`, then the node's transmits;
//! - a link's event: at most one packet comes out and goes to the node at the far end
//!   (`handle_packet`, then that node's transmits);
//! - a chain's timer: released packets go on into the link;
//! - a node poll, after the node was added or borrowed with [`Simulator::node_mut`]:
//!   its transmits only.
//!
//! A node's transmits are drained at once (up to [`SimConfig::max_transmits_per_poll`]
//! per event), each packet through its link's chain into the link, and then the node is
//! asked for its next timeout. Every run is bounded: by a deadline and by
//! [`SimConfig::max_events_per_run`].

use std::any::Any;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::{self, Write};
use std::mem;

use braid_proto::time::{Duration, Instant};

use crate::link::{Link, LinkChange, LinkConfig, LinkStats};
use crate::metrics::{Counter, Series};
use crate::middlebox::{Chain, Middlebox};
use crate::node::Node;
use crate::pcap::{PcapWriter, DEFAULT_SNAPLEN};
use crate::rng::{derive_seed, domain};

/// A node of a [`Simulator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(usize);

impl NodeId {
    /// Nodes are numbered from 0 in the order they were added.
    pub fn index(self) -> usize {
        self.0
    }
}

/// A one-way link of a [`Simulator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(usize);

impl LinkId {
    /// Links are numbered from 0 in the order they were added; the index also picks
    /// the link's random seed.
    pub fn index(self) -> usize {
        self.0
    }
}

/// Settings of a simulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// The scenario seed; every random stream derives from it.
    pub seed: u64,
    /// Width of the bins of the per-link delivered-bytes series.
    pub metrics_bin: Duration,
    /// Most events one call of a `run_*` method processes before it gives up.
    pub max_events_per_run: u64,
    /// Most packets taken from one node per event; a node with more is polled again
    /// in a later event at the same instant.
    pub max_transmits_per_poll: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            metrics_bin: Duration::from_millis(100),
            max_events_per_run: 100_000_000,
            max_transmits_per_poll: 65_536,
        }
    }
}

/// Why a `run_*` call returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// The deadline was reached; the clock stands at it.
    Deadline,
    /// No event is pending (only from [`Simulator::run_until_idle`]); the clock stands
    /// at the last event.
    Idle,
    /// [`SimConfig::max_events_per_run`] events were processed first.
    EventLimit,
}

/// Something that can have an event pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Entity {
    Timer(usize),
    Poll(usize),
    Link(usize),
    Chain(usize),
}

/// The pending event of an entity: valid while `seq` matches the heap entry's.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    at: Option<Instant>,
    seq: u64,
}

/// A node that can be looked at as its own type again (see [`Simulator::node`]).
trait AnyNode: Node {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<N: Node + 'static> AnyNode for N {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

struct NodeSlot {
    node: Box<dyn AnyNode>,
    timer: Slot,
    poll_pending: bool,
    unrouted: Counter,
}

enum Capture {
    Memory(PcapWriter<Vec<u8>>),
    Stream {
        writer: PcapWriter<Box<dyn Write>>,
        error: Option<io::Error>,
    },
}

impl Capture {
    fn record(&mut self, at: Instant, packet: &[u8]) {
        match self {
            // Writing to a Vec cannot fail.
            Capture::Memory(w) => w.write_packet(at, packet).expect("write to memory"),
            Capture::Stream { writer, error } => {
                if error.is_none() {
                    if let Err(e) = writer.write_packet(at, packet) {
                        *error = Some(e);
                    }
                }
            }
        }
    }
}

struct LinkSlot {
    from: (NodeId, usize),
    to: (NodeId, usize),
    link: Link,
    chain: Chain,
    link_event: Slot,
    chain_event: Slot,
    sent: Counter,
    series: Series,
    capture: Option<Capture>,
}

/// Buffers kept for reuse at most; beyond, delivered packets are freed.
const POOL_LIMIT: usize = 1024;

/// The discrete-event simulator. See the module documentation.
pub struct Simulator {
    config: SimConfig,
    now: Instant,
    nodes: Vec<NodeSlot>,
    links: Vec<LinkSlot>,
    /// (node, interface) -> the link that leaves it.
    routes: BTreeMap<(usize, usize), usize>,
    events: BinaryHeap<Reverse<(Instant, u64, Entity)>>,
    seq: u64,
    processed: u64,
    pool: Vec<Vec<u8>>,
    scratch: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("now", &self.now)
            .field("seed", &self.config.seed)
            .field("nodes", &self.nodes.len())
            .field("links", &self.links.len())
            .field("processed", &self.processed)
            .finish()
    }
}

impl Simulator {
    /// An empty simulation at time zero with the default [`SimConfig`] and `seed`.
    pub fn new(seed: u64) -> Self {
        Self::with_config(SimConfig {
            seed,
            ..SimConfig::default()
        })
    }

    pub fn with_config(config: SimConfig) -> Self {
        Simulator {
            config,
            now: Instant::ZERO,
            nodes: Vec::new(),
            links: Vec::new(),
            routes: BTreeMap::new(),
            events: BinaryHeap::new(),
            seq: 0,
            processed: 0,
            pool: Vec::new(),
            scratch: Vec::new(),
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// A seed for consumer `index` of `domain` (see [`crate::rng`]), derived from the
    /// scenario seed. Hosts take theirs from here (`domain::NODE`, their node index) so
    /// that their keys and initial sequence numbers follow the scenario seed.
    pub fn seed_for(&self, domain: u64, index: u64) -> u64 {
        derive_seed(self.config.seed, domain, index)
    }

    /// Events processed since the start.
    pub fn events_processed(&self) -> u64 {
        self.processed
    }

    // ---- nodes ----

    /// Adds a node; it is polled for transmits at the current time.
    pub fn add_node(&mut self, node: impl Node + 'static) -> NodeId {
        let id = self.nodes.len();
        self.nodes.push(NodeSlot {
            node: Box::new(node),
            timer: Slot::default(),
            poll_pending: false,
            unrouted: Counter::default(),
        });
        self.request_poll(id);
        NodeId(id)
    }

    /// The node `id`, as its own type.
    ///
    /// # Panics
    ///
    /// If there is no such node or it is not an `N`: caller bugs.
    pub fn node<N: Node + 'static>(&self, id: NodeId) -> &N {
        self.nodes[id.0]
            .node
            .as_any()
            .downcast_ref()
            .unwrap_or_else(|| panic!("node {} is not a {}", id.0, std::any::type_name::<N>()))
    }

    /// The node `id`, mutably, to act on it between runs (open a connection, write
    /// data). The node is polled for transmits and its timeout at the current time, as
    /// the next event.
    ///
    /// # Panics
    ///
    /// As [`Simulator::node`].
    pub fn node_mut<N: Node + 'static>(&mut self, id: NodeId) -> &mut N {
        self.request_poll(id.0);
        self.nodes[id.0]
            .node
            .as_any_mut()
            .downcast_mut()
            .unwrap_or_else(|| panic!("node {} is not a {}", id.0, std::any::type_name::<N>()))
    }

    /// Packets node `id` sent on interfaces that have no link.
    pub fn unrouted(&self, id: NodeId) -> Counter {
        self.nodes[id.0].unrouted
    }

    // ---- links ----

    /// Adds a one-way link from interface `from.1` of node `from.0` to interface
    /// `to.1` of node `to.0`. Its random streams come from the scenario seed and the
    /// link's index, so adding a link does not change the others' draws.
    ///
    /// # Panics
    ///
    /// If a node does not exist or `from` already has a link: caller bugs.
    pub fn add_link(
        &mut self,
        from: (NodeId, usize),
        to: (NodeId, usize),
        config: LinkConfig,
    ) -> LinkId {
        assert!(
            from.0 .0 < self.nodes.len() && to.0 .0 < self.nodes.len(),
            "add_link: no such node"
        );
        let index = self.links.len();
        let previous = self.routes.insert((from.0 .0, from.1), index);
        assert!(
            previous.is_none(),
            "add_link: node {} interface {} already has a link",
            from.0 .0,
            from.1
        );
        let seed = self.seed_for(domain::LINK, index as u64);
        self.links.push(LinkSlot {
            from,
            to,
            link: Link::new(config, seed),
            chain: Chain::new(),
            link_event: Slot::default(),
            chain_event: Slot::default(),
            sent: Counter::default(),
            series: Series::new(self.config.metrics_bin),
            capture: None,
        });
        LinkId(index)
    }

    /// Two links, `a -> b` then `b -> a`, with the same parameters.
    pub fn add_duplex(
        &mut self,
        a: (NodeId, usize),
        b: (NodeId, usize),
        config: LinkConfig,
    ) -> (LinkId, LinkId) {
        let ab = self.add_link(a, b, config.clone());
        let ba = self.add_link(b, a, config);
        (ab, ba)
    }

    /// Appends a middlebox to the link's chain (the chain runs before the queue).
    pub fn add_middlebox(&mut self, link: LinkId, middlebox: impl Middlebox + 'static) {
        self.links[link.0].chain.push(middlebox);
        self.reschedule_chain(link.0);
    }

    /// Middlebox `index` of the link's chain, as its own type.
    ///
    /// # Panics
    ///
    /// If there is no such middlebox or it is not an `M`.
    pub fn middlebox<M: Middlebox + 'static>(&self, link: LinkId, index: usize) -> &M {
        self.links[link.0].chain.get(index).unwrap_or_else(|| {
            panic!(
                "link {} middlebox {index} is not a {}",
                link.0,
                std::any::type_name::<M>()
            )
        })
    }

    /// Middlebox `index` of the link's chain, mutably.
    ///
    /// # Panics
    ///
    /// As [`Simulator::middlebox`].
    pub fn middlebox_mut<M: Middlebox + 'static>(&mut self, link: LinkId, index: usize) -> &mut M {
        self.wake_link(link.0);
        self.links[link.0].chain.get_mut(index).unwrap_or_else(|| {
            panic!(
                "link {} middlebox {index} is not a {}",
                link.0,
                std::any::type_name::<M>()
            )
        })
    }

    /// Schedules a change of the link at `at` (at the current time if `at` has passed).
    pub fn schedule(&mut self, link: LinkId, at: Instant, change: LinkChange) {
        let at = at.max(self.now);
        self.links[link.0].link.schedule(at, change);
        self.reschedule_link(link.0);
    }

    /// The link model: parameters, state, counters.
    pub fn link(&self, link: LinkId) -> &Link {
        &self.links[link.0].link
    }

    /// The link model, mutably (e.g. [`Link::apply`] a change now). The link is looked
    /// at again at the current time, as the next event.
    pub fn link_mut(&mut self, link: LinkId) -> &mut Link {
        self.wake_link(link.0);
        &mut self.links[link.0].link
    }

    /// The link's counters.
    pub fn link_stats(&self, link: LinkId) -> &LinkStats {
        self.links[link.0].link.stats()
    }

    /// What nodes sent into the link, before its middleboxes.
    pub fn link_sent(&self, link: LinkId) -> Counter {
        self.links[link.0].sent
    }

    /// Bytes and packets the link delivered, per [`SimConfig::metrics_bin`].
    pub fn link_series(&self, link: LinkId) -> &Series {
        &self.links[link.0].series
    }

    /// The link's ends: (node, interface) it leaves and (node, interface) it reaches.
    pub fn link_ends(&self, link: LinkId) -> ((NodeId, usize), (NodeId, usize)) {
        let l = &self.links[link.0];
        (l.from, l.to)
    }

    /// All links, in index order.
    pub fn link_ids(&self) -> impl Iterator<Item = LinkId> {
        (0..self.links.len()).map(LinkId)
    }

    // ---- captures ----

    /// Captures, in memory, every packet the link delivers, stamped with the time it
    /// arrives (see [`Simulator::pcap`]). Whole packets; replaces an earlier capture.
    pub fn capture(&mut self, link: LinkId) {
        let writer = PcapWriter::new(Vec::new(), DEFAULT_SNAPLEN).expect("write to memory");
        self.links[link.0].capture = Some(Capture::Memory(writer));
    }

    /// Captures the link's deliveries to `out`, keeping `snaplen` bytes of each.
    /// A write error stops the capture (see [`Simulator::capture_error`]), not the
    /// simulation.
    pub fn capture_to(
        &mut self,
        link: LinkId,
        out: impl Write + 'static,
        snaplen: u32,
    ) -> io::Result<()> {
        let writer = PcapWriter::new(Box::new(out) as Box<dyn Write>, snaplen)?;
        self.links[link.0].capture = Some(Capture::Stream {
            writer,
            error: None,
        });
        Ok(())
    }

    /// The bytes of an in-memory capture so far: a complete pcap file.
    pub fn pcap(&self, link: LinkId) -> Option<&[u8]> {
        match &self.links[link.0].capture {
            Some(Capture::Memory(w)) => Some(w.get_ref()),
            _ => None,
        }
    }

    /// The error that stopped a streamed capture.
    pub fn capture_error(&self, link: LinkId) -> Option<&io::Error> {
        match &self.links[link.0].capture {
            Some(Capture::Stream { error, .. }) => error.as_ref(),
            _ => None,
        }
    }

    /// Flushes streamed captures.
    pub fn flush_captures(&mut self) -> io::Result<()> {
        for l in &mut self.links {
            if let Some(Capture::Stream {
                writer,
                error: None,
            }) = &mut l.capture
            {
                writer.flush()?;
            }
        }
        Ok(())
    }

    // ---- running ----

    /// When the next event is due, if any.
    pub fn next_event(&mut self) -> Option<Instant> {
        self.peek().map(|(t, _, _)| t)
    }

    /// Processes one event; returns its time, or `None` if nothing is pending.
    pub fn step(&mut self) -> Option<Instant> {
        let (at, _, entity) = self.peek()?;
        self.events.pop();
        self.process(at, entity);
        Some(at)
    }

    /// Runs every event due at or before `deadline`, then sets the clock to it.
    pub fn run_until(&mut self, deadline: Instant) -> RunOutcome {
        self.run(deadline, false)
    }

    /// [`Simulator::run_until`] `now + duration`.
    pub fn run_for(&mut self, duration: Duration) -> RunOutcome {
        self.run(self.now + duration, false)
    }

    /// Runs until nothing is pending, or until `deadline` if that comes first.
    pub fn run_until_idle(&mut self, deadline: Instant) -> RunOutcome {
        self.run(deadline, true)
    }

    fn run(&mut self, deadline: Instant, stop_when_idle: bool) -> RunOutcome {
        let mut count = 0;
        loop {
            match self.peek() {
                None if stop_when_idle => return RunOutcome::Idle,
                Some((at, _, entity)) if at <= deadline => {
                    if count >= self.config.max_events_per_run {
                        return RunOutcome::EventLimit;
                    }
                    count += 1;
                    self.events.pop();
                    self.process(at, entity);
                }
                _ => {
                    self.now = self.now.max(deadline);
                    return RunOutcome::Deadline;
                }
            }
        }
    }

    /// The earliest valid event, stale entries discarded.
    fn peek(&mut self) -> Option<(Instant, u64, Entity)> {
        while let Some(&Reverse(top)) = self.events.peek() {
            if self.is_current(top.1, top.2) {
                return Some(top);
            }
            self.events.pop();
        }
        None
    }

    fn is_current(&self, seq: u64, entity: Entity) -> bool {
        let slot = match entity {
            Entity::Timer(i) => self.nodes[i].timer,
            Entity::Poll(i) => return self.nodes[i].poll_pending,
            Entity::Link(j) => self.links[j].link_event,
            Entity::Chain(j) => self.links[j].chain_event,
        };
        slot.at.is_some() && slot.seq == seq
    }

    fn push(&mut self, at: Instant, entity: Entity) -> u64 {
        self.seq += 1;
        self.events.push(Reverse((at, self.seq, entity)));
        self.seq
    }

    fn process(&mut self, at: Instant, entity: Entity) {
        debug_assert!(at >= self.now, "event in the past");
        self.now = at;
        self.processed += 1;
        match entity {
            Entity::Timer(i) => {
                self.nodes[i].timer.at = None;
                self.nodes[i].node.handle_timeout(at);
                self.after_node(i);
            }
            Entity::Poll(i) => {
                self.nodes[i].poll_pending = false;
                self.after_node(i);
            }
            Entity::Link(j) => {
                self.links[j].link_event.at = None;
                if let Some(packet) = self.links[j].link.poll(at) {
                    self.deliver(j, packet);
                }
                self.reschedule_link(j);
            }
            Entity::Chain(j) => {
                self.links[j].chain_event.at = None;
                let mut out = mem::take(&mut self.scratch);
                self.links[j].chain.handle_timeout(at, &mut out);
                for packet in out.drain(..) {
                    self.links[j].link.offer(at, packet);
                }
                self.scratch = out;
                self.reschedule_link(j);
                self.reschedule_chain(j);
            }
        }
    }

    /// A packet came out of link `j`: record it and hand it to the far end.
    fn deliver(&mut self, j: usize, packet: Vec<u8>) {
        let now = self.now;
        let l = &mut self.links[j];
        l.series.record(now, packet.len());
        if let Some(c) = &mut l.capture {
            c.record(now, &packet);
        }
        let (NodeId(to), iface) = l.to;
        self.nodes[to].node.handle_packet(now, iface, &packet);
        self.recycle(packet);
        self.after_node(to);
    }

    /// Drains node `i`'s transmits into its links, then refreshes its timer.
    fn after_node(&mut self, i: usize) {
        let now = self.now;
        let mut drained = false;
        for _ in 0..self.config.max_transmits_per_poll {
            let mut buf = self.pool.pop().unwrap_or_default();
            buf.clear();
            match self.nodes[i].node.poll_transmit(now, &mut buf) {
                Some(iface) => self.send(i, iface, buf),
                None => {
                    self.recycle(buf);
                    drained = true;
                    break;
                }
            }
        }
        if !drained {
            self.request_poll(i);
        }
        let timeout = self.nodes[i].node.poll_timeout();
        let slot = self.nodes[i].timer;
        if let Some(slot) = self.reschedule(slot, timeout, Entity::Timer(i)) {
            self.nodes[i].timer = slot;
        }
    }

    /// One packet from node `i` on `iface`: through the chain into the link.
    fn send(&mut self, i: usize, iface: usize, packet: Vec<u8>) {
        let Some(&j) = self.routes.get(&(i, iface)) else {
            self.nodes[i].unrouted.add(packet.len());
            self.recycle(packet);
            return;
        };
        let now = self.now;
        let l = &mut self.links[j];
        l.sent.add(packet.len());
        if l.chain.is_empty() {
            l.link.offer(now, packet);
        } else {
            let mut out = mem::take(&mut self.scratch);
            l.chain.process(now, packet, &mut out);
            for p in out.drain(..) {
                l.link.offer(now, p);
            }
            self.scratch = out;
            self.reschedule_chain(j);
        }
        self.reschedule_link(j);
    }

    fn recycle(&mut self, mut packet: Vec<u8>) {
        if self.pool.len() < POOL_LIMIT {
            packet.clear();
            self.pool.push(packet);
        }
    }

    fn request_poll(&mut self, i: usize) {
        if !self.nodes[i].poll_pending {
            self.nodes[i].poll_pending = true;
            self.push(self.now, Entity::Poll(i));
        }
    }

    /// Makes link `j` and its chain look again at the current time.
    fn wake_link(&mut self, j: usize) {
        let seq = self.push(self.now, Entity::Link(j));
        self.links[j].link_event = Slot {
            at: Some(self.now),
            seq,
        };
        let seq = self.push(self.now, Entity::Chain(j));
        self.links[j].chain_event = Slot {
            at: Some(self.now),
            seq,
        };
    }

    fn reschedule_link(&mut self, j: usize) {
        let next = self.links[j].link.next_event();
        let slot = self.links[j].link_event;
        if let Some(slot) = self.reschedule(slot, next, Entity::Link(j)) {
            self.links[j].link_event = slot;
        }
    }

    fn reschedule_chain(&mut self, j: usize) {
        let next = self.links[j].chain.poll_timeout();
        let slot = self.links[j].chain_event;
        if let Some(slot) = self.reschedule(slot, next, Entity::Chain(j)) {
            self.links[j].chain_event = slot;
        }
    }

    /// The entity's new slot if its event time changed (a time already passed means
    /// now); the old heap entry goes stale.
    fn reschedule(&mut self, slot: Slot, next: Option<Instant>, entity: Entity) -> Option<Slot> {
        let next = next.map(|t| t.max(self.now));
        if slot.at == next {
            return None;
        }
        Some(match next {
            Some(at) => Slot {
                at: Some(at),
                seq: self.push(at, entity),
            },
            None => Slot { at: None, seq: 0 },
        })
    }
}

#[cfg(test)]
mod tests;
