//! Middleboxes: per-link stages that see every packet before the link's queue.
//!
//! A [`Middlebox`] takes one packet and pushes zero, one or several packets out: it can
//! drop, rewrite or split. It can also hold packets (to merge them, or delay them) and
//! release them later from a timer ([`Middlebox::poll_timeout`] and
//! [`Middlebox::handle_timeout`]). A [`Chain`] runs stages in order; what a stage
//! releases from a timer goes through the stages after it.
//!
//! Like links, middleboxes own no clock, so they can later sit in a real packet path.
//!
//! Generic stages: [`DropIf`], [`Tap`], [`StripTcpOption`]. The middleboxes MPTCP has
//! to survive (RFC 8684 §3.7, and the test plan), all on raw IPv4 and IPv6 packets:
//!
//! | stage               | does                                                        |
//! |---------------------|-------------------------------------------------------------|
//! | [`StripMptcp`]      | strips option 30 from SYNs, SYN-ACKs, third ACKs, or mid-stream ([`Which`]) |
//! | [`SegmentSplitter`] | cuts segments with more payload than N bytes into several    |
//! | [`SegmentCoalescer`]| merges in-sequence data segments, keeping the first one's options |
//! | [`SeqRewriter`]     | shifts sequence numbers per direction (ISN randomising firewall) |
//! | [`Nat`]             | rewrites an inside address (and port) to an outside one      |
//! | [`PayloadRewriter`] | changes payload bytes and fixes the TCP checksum            |
//!
//! They keep IP and TCP checksums valid: in-place edits update the TCP checksum
//! incrementally (RFC 1624), so a wrong checksum stays wrong; new segments (split or
//! merged) are made only from segments whose checksum was right. Packets a stage has no
//! business with (not TCP, IP fragments, unparseable) pass untouched. Per-flow state is
//! keyed by 4-tuple and bounded; the least recently used flow is forgotten first.
//!
//! Links are one-way. A stage that must see both directions of a connection (a [`Nat`]
//! with port translation) goes on both links of a path as one instance, through
//! [`Shared`]:
//!
//! ```
//! # use braid_sim::middlebox::{Nat, Shared};
//! # use braid_sim::{nodes, LinkConfig, Simulator};
//! # let mut sim = Simulator::new(1);
//! # let a = sim.add_node(nodes::CountingSink::new());
//! # let b = sim.add_node(nodes::CountingSink::new());
//! let (ab, ba) = sim.add_duplex((a, 0), (b, 0), LinkConfig::new());
//! let nat = Shared::new(Nat::new("10.0.1.1".parse().unwrap(), "192.0.2.1".parse().unwrap()));
//! sim.add_middlebox(ab, nat.clone());
//! sim.add_middlebox(ba, nat.clone());
//! assert_eq!(nat.borrow().translated_out, 0);
//! ```

use std::any::Any;
use std::cell::{Ref, RefCell, RefMut};
use std::mem;
use std::rc::Rc;

use braid_proto::time::Instant;

mod coalesce;
mod nat;
mod packet;
mod payload;
mod seq;
mod split;
mod strip;

pub use coalesce::SegmentCoalescer;
pub use nat::Nat;
pub use payload::{PayloadRewriter, Rewrite, Select};
pub use seq::SeqRewriter;
pub use split::SegmentSplitter;
pub use strip::{StripMptcp, Which};

use packet::TcpInfo;

/// A stage on a link. See the module documentation.
pub trait Middlebox {
    /// Processes one packet (an IP packet), pushing what comes out onto `out`: nothing
    /// to drop it, the packet (perhaps rewritten) to pass it, several to split it.
    fn process(&mut self, now: Instant, packet: Vec<u8>, out: &mut Vec<Vec<u8>>);

    /// When this stage next wants [`Middlebox::handle_timeout`] (it holds packets).
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Called at or after [`Middlebox::poll_timeout`]; pushes released packets.
    fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        let _ = (now, out);
    }
}

/// A middlebox that can be looked at again after it was boxed (see [`Chain::get`]).
trait AnyMiddlebox: Middlebox {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<M: Middlebox + 'static> AnyMiddlebox for M {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Middleboxes in order. Reuses its buffers, so passing packets through allocates
/// nothing beyond what the stages themselves allocate.
#[derive(Default)]
pub struct Chain {
    stages: Vec<Box<dyn AnyMiddlebox>>,
    scratch: Vec<Vec<u8>>,
    scratch_next: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("stages", &self.stages.len())
            .finish()
    }
}

impl Chain {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a stage after the others.
    pub fn push(&mut self, middlebox: impl Middlebox + 'static) {
        self.stages.push(Box::new(middlebox));
    }

    pub fn len(&self) -> usize {
        self.stages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Stage `index`, if it is an `M`.
    pub fn get<M: Middlebox + 'static>(&self, index: usize) -> Option<&M> {
        self.stages.get(index)?.as_any().downcast_ref()
    }

    /// Stage `index`, mutably, if it is an `M`.
    pub fn get_mut<M: Middlebox + 'static>(&mut self, index: usize) -> Option<&mut M> {
        self.stages.get_mut(index)?.as_any_mut().downcast_mut()
    }

    /// Runs `packet` through every stage; pushes what comes out of the last onto `out`.
    pub fn process(&mut self, now: Instant, packet: Vec<u8>, out: &mut Vec<Vec<u8>>) {
        let mut batch = mem::take(&mut self.scratch);
        batch.push(packet);
        self.run_from(0, now, batch, out);
    }

    /// The earliest timer of any stage.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.stages.iter().filter_map(|s| s.poll_timeout()).min()
    }

    /// Fires every stage whose timer is due, in stage order; what a stage releases
    /// goes through the stages after it, then onto `out`.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        for i in 0..self.stages.len() {
            if self.stages[i].poll_timeout().is_some_and(|t| t <= now) {
                let mut batch = mem::take(&mut self.scratch);
                self.stages[i].handle_timeout(now, &mut batch);
                self.run_from(i + 1, now, batch, out);
            }
        }
    }

    fn run_from(
        &mut self,
        first: usize,
        now: Instant,
        mut batch: Vec<Vec<u8>>,
        out: &mut Vec<Vec<u8>>,
    ) {
        for stage in &mut self.stages[first..] {
            if batch.is_empty() {
                break;
            }
            let mut next = mem::take(&mut self.scratch_next);
            for packet in batch.drain(..) {
                stage.process(now, packet, &mut next);
            }
            self.scratch_next = mem::replace(&mut batch, next);
        }
        out.append(&mut batch);
        self.scratch = batch;
    }
}

/// Drops the packets a predicate selects, and counts them.
pub struct DropIf<F> {
    predicate: F,
    /// Packets dropped so far.
    pub dropped: u64,
}

impl<F: FnMut(Instant, &[u8]) -> bool> DropIf<F> {
    pub fn new(predicate: F) -> Self {
        DropIf {
            predicate,
            dropped: 0,
        }
    }
}

impl<F: FnMut(Instant, &[u8]) -> bool> Middlebox for DropIf<F> {
    fn process(&mut self, now: Instant, packet: Vec<u8>, out: &mut Vec<Vec<u8>>) {
        if (self.predicate)(now, &packet) {
            self.dropped += 1;
        } else {
            out.push(packet);
        }
    }
}

/// Shows every packet to a closure and passes it on unchanged.
pub struct Tap<F> {
    observer: F,
}

impl<F: FnMut(Instant, &[u8])> Tap<F> {
    pub fn new(observer: F) -> Self {
        Tap { observer }
    }
}

impl<F: FnMut(Instant, &[u8])> Middlebox for Tap<F> {
    fn process(&mut self, now: Instant, packet: Vec<u8>, out: &mut Vec<Vec<u8>>) {
        (self.observer)(now, &packet);
        out.push(packet);
    }
}

/// Removes every TCP option of one kind, as Linux's `iptables -j TCPOPTSTRIP` does:
/// the option's bytes become NOPs, so the header keeps its length, and the checksum is
/// updated incrementally (RFC 1624), so a correct checksum stays correct and a wrong one
/// stays wrong. `StripTcpOption::new(30)` is the classic MPTCP-hostile middlebox.
///
/// Packets that are not TCP, are IP fragments, or do not parse go through untouched,
/// as do the NOP (1) and EOL (0) kinds. The option block is walked by its framing
/// alone (RFC 9293 §3.1): kind, length, and a stop at EOL or broken framing.
#[derive(Debug, Clone)]
pub struct StripTcpOption {
    kind: u8,
    /// Segments in which at least one option was stripped.
    pub packets_stripped: u64,
    /// Options stripped.
    pub options_stripped: u64,
}

impl StripTcpOption {
    pub fn new(kind: u8) -> Self {
        StripTcpOption {
            kind,
            packets_stripped: 0,
            options_stripped: 0,
        }
    }

    pub fn kind(&self) -> u8 {
        self.kind
    }

    /// Strips the options in place; returns how many were removed.
    pub fn strip(&self, packet: &mut [u8]) -> usize {
        match TcpInfo::parse(packet) {
            Some(tcp) => packet::strip_option(packet, &tcp, self.kind),
            None => 0,
        }
    }
}

impl Middlebox for StripTcpOption {
    fn process(&mut self, _now: Instant, mut packet: Vec<u8>, out: &mut Vec<Vec<u8>>) {
        let n = self.strip(&mut packet);
        if n > 0 {
            self.packets_stripped += 1;
            self.options_stripped += n as u64;
        }
        out.push(packet);
    }
}

/// One middlebox on several links (both directions of a path): clones are handles to
/// the same instance. Each link's chain runs it on its own packets, so it sees
/// everything that crosses the path, in order.
///
/// Only for stages that hold no packets: a held packet would leave on whichever link
/// fires the timer. Look inside with [`Shared::borrow`], or find the stage in a chain
/// as a `Shared<M>`.
pub struct Shared<M>(Rc<RefCell<M>>);

impl<M> Shared<M> {
    pub fn new(middlebox: M) -> Self {
        Shared(Rc::new(RefCell::new(middlebox)))
    }

    /// The middlebox, to read its counters.
    pub fn borrow(&self) -> Ref<'_, M> {
        self.0.borrow()
    }

    pub fn borrow_mut(&self) -> RefMut<'_, M> {
        self.0.borrow_mut()
    }
}

impl<M> Clone for Shared<M> {
    fn clone(&self) -> Self {
        Shared(Rc::clone(&self.0))
    }
}

impl<M: std::fmt::Debug> std::fmt::Debug for Shared<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Shared").field(&*self.0.borrow()).finish()
    }
}

impl<M: Middlebox> Middlebox for Shared<M> {
    fn process(&mut self, now: Instant, packet: Vec<u8>, out: &mut Vec<Vec<u8>>) {
        self.0.borrow_mut().process(now, packet, out);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.0.borrow().poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        self.0.borrow_mut().handle_timeout(now, out);
    }
}

#[cfg(test)]
mod tests;
