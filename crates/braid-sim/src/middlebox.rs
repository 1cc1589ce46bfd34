//! Middleboxes: per-link stages that see every packet before the link's queue.
//!
//! A [`Middlebox`] takes one packet and pushes zero, one or several packets out: it can
//! drop, rewrite or split. It can also hold packets (to merge them, or delay them) and
//! release them later from a timer ([`Middlebox::poll_timeout`] and
//! [`Middlebox::handle_timeout`]). A [`Chain`] runs stages in order; what a stage
//! releases from a timer goes through the stages after it.
//!
//! Like links, middleboxes own no clock, so they can later sit in a real packet path.
//! Here are the generic ones; the MPTCP-specific ones (rewrite sequence numbers or
//! addresses, coalesce segments) build on the same trait.

use std::any::Any;
use std::mem;

use braid_proto::time::Instant;
use braid_proto::wire::{ip_protocol, Checksum, IpRepr, TcpSegment, TCP_MIN_HEADER_LEN};

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
        if self.kind <= 1 {
            return 0;
        }
        let Some(tcp) = tcp_range(packet) else {
            return 0;
        };
        let mut segment = TcpSegment::new_unchecked(&mut packet[tcp]);
        if segment.check_len().is_err() {
            return 0;
        }
        let before = Checksum::new().add_bytes(segment.options()).sum();
        let stripped = nop_out(segment.options_mut(), self.kind);
        if stripped == 0 {
            return 0;
        }
        let after = Checksum::new().add_bytes(segment.options()).sum();
        // RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), here over the whole option block
        // (it starts at an even offset, so its 16-bit words are the checksum's).
        let checksum = Checksum::new()
            .add_u16(!segment.checksum())
            .add_u16(!before)
            .add_u16(after)
            .finish();
        segment.set_checksum(checksum);
        stripped
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

/// Where the TCP segment of an unfragmented IP packet lies in it.
fn tcp_range(packet: &[u8]) -> Option<std::ops::Range<usize>> {
    let (_, upper) = IpRepr::parse(packet).ok()?;
    if upper.protocol != ip_protocol::TCP
        || upper.fragment
        || upper.payload.len() < TCP_MIN_HEADER_LEN
    {
        return None;
    }
    // `payload` borrows from `packet`: its offset is the distance between the two.
    let start = upper.payload.as_ptr() as usize - packet.as_ptr() as usize;
    Some(start..start + upper.payload.len())
}

/// Overwrites each option of `kind` in `block` with NOPs; returns how many.
fn nop_out(block: &mut [u8], kind: u8) -> usize {
    const EOL: u8 = 0;
    const NOP: u8 = 1;
    let mut at = 0;
    let mut stripped = 0;
    while at < block.len() {
        match block[at] {
            EOL => break,
            NOP => at += 1,
            k => {
                let Some(&len) = block.get(at + 1) else { break };
                let len = usize::from(len);
                if len < 2 || at + len > block.len() {
                    break;
                }
                if k == kind {
                    block[at..at + len].fill(NOP);
                    stripped += 1;
                }
                at += len;
            }
        }
    }
    stripped
}

#[cfg(test)]
mod tests;
