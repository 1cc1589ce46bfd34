//! Schedulers: which subflow carries the next data.
//!
//! A scheduler sees a snapshot of the connection's subflows and of the data waiting,
//! and names the subflow that gets the next chunk, or none when the chunk should
//! wait (no room anywhere, or a faster subflow will soon have room). It decides
//! nothing else: the MPTCP connection sizes the chunk (the chosen subflow's free
//! congestion window, in whole segments) and maps it. A redundant scheduler also has
//! the connection copy each chunk onto every other usable subflow with room.
//!
//! Backup semantics (RFC 8684 §3.3.8) are common to all: backup subflows carry data
//! only while no regular subflow is usable.

mod blest;
mod ecf;
mod kind;
pub mod sharing;

pub use blest::Blest;
pub use ecf::Ecf;
pub use kind::{SchedulerKind, SchedulerKindError};

use crate::tcp::SubflowId;
use crate::time::Duration;

/// What a scheduler knows of one subflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubflowInfo {
    pub id: SubflowId,
    /// Smoothed RTT, once measured.
    pub srtt: Option<Duration>,
    /// The lowest RTT measured: the path's own delay, without queues.
    pub min_rtt: Option<Duration>,
    /// Bytes the subflow may still take now: congestion window less the bytes it has
    /// in flight or queued.
    pub room: u64,
    /// Congestion window, bytes.
    pub cwnd: u64,
    /// Bytes in flight (RFC 6675 pipe) plus written and not yet sent.
    pub in_flight: u64,
    /// Payload bytes per segment.
    pub mss: u32,
    /// Backup, by our choice or at the peer's request (RFC 8684 §3.3.8): used only
    /// when no regular subflow can carry data.
    pub backup: bool,
    /// Established at the MPTCP level and not failing: may carry data at all.
    pub usable: bool,
}

impl SubflowInfo {
    /// The round-trip time the next segment sent on this subflow should see: its
    /// smoothed RTT, or, while nothing is in flight on it, its minimum RTT. An idle
    /// subflow's queue has drained, and its smoothed RTT, last updated when it was
    /// busy, describes a queue that is gone; ranking by it would keep the subflow
    /// idle for good once another one takes the whole connection-level window.
    pub fn rtt(&self) -> Option<Duration> {
        if self.in_flight == 0 {
            self.min_rtt.or(self.srtt)
        } else {
            self.srtt
        }
    }
}

/// The connection-level facts a scheduler may weigh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedContext {
    /// Bytes written by the application and not yet mapped onto any subflow.
    pub waiting: u64,
    /// The peer's connection-level receive window still open to new data.
    pub send_window: u64,
}

/// Picks the subflow for the next chunk of data.
pub trait Scheduler: std::fmt::Debug + Send {
    fn pick(&mut self, subflows: &[SubflowInfo], ctx: &SchedContext) -> Option<SubflowId>;

    /// Every chunk also goes on each other usable subflow with room.
    fn redundant(&self) -> bool {
        false
    }

    /// When the peer's window is full and the subflow picked has room, the data
    /// holding the window's left edge is sent again on it if a slower subflow has it,
    /// and that subflow is penalised (see `MptcpConnection`'s scheduling).
    fn opportunistic_reinjection(&self) -> bool {
        false
    }

    fn name(&self) -> &'static str;
}

/// The subflows that may carry data now: the regular usable ones, or the usable
/// backups when no regular one is usable (RFC 8684 §3.3.8).
pub fn candidates(subflows: &[SubflowInfo]) -> impl Iterator<Item = &SubflowInfo> {
    let any_regular = subflows.iter().any(|s| s.usable && !s.backup);
    subflows
        .iter()
        .filter(move |s| s.usable && s.backup != any_regular)
}

/// Orders subflows by [`SubflowInfo::rtt`], unmeasured ones last.
fn rtt_key(s: &SubflowInfo) -> (bool, Option<Duration>, u32) {
    let rtt = s.rtt();
    (rtt.is_none(), rtt, s.id.0)
}

/// Linux's default: the usable subflow with the lowest RTT ([`SubflowInfo::rtt`])
/// that has room, among regular subflows while any is usable, else among backups. A
/// subflow not yet measured ranks after measured ones. With opportunistic
/// reinjection and penalisation (Raiciu et al., NSDI 2012): a slow subflow whose data
/// blocks the window does not leave the fast one idle.
#[derive(Debug, Clone, Copy, Default)]
pub struct LowestRtt;

impl Scheduler for LowestRtt {
    fn pick(&mut self, subflows: &[SubflowInfo], _: &SchedContext) -> Option<SubflowId> {
        candidates(subflows)
            .filter(|s| s.room > 0)
            .min_by_key(|s| rtt_key(s))
            .map(|s| s.id)
    }

    fn opportunistic_reinjection(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "lowest-rtt"
    }
}

/// Each subflow in turn, skipping those without room.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobin {
    last: Option<SubflowId>,
}

impl Scheduler for RoundRobin {
    fn pick(&mut self, subflows: &[SubflowInfo], _: &SchedContext) -> Option<SubflowId> {
        let ready: Vec<SubflowId> = candidates(subflows)
            .filter(|s| s.room > 0)
            .map(|s| s.id)
            .collect();
        let next = match self.last {
            Some(last) => ready
                .iter()
                .copied()
                .find(|id| id.0 > last.0)
                .or_else(|| ready.first().copied()),
            None => ready.first().copied(),
        }?;
        self.last = Some(next);
        Some(next)
    }

    fn name(&self) -> &'static str {
        "round-robin"
    }
}

/// Every chunk on every usable subflow (the lowest-RTT one first): the fastest copy
/// wins, for latency at the cost of capacity.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redundant;

impl Scheduler for Redundant {
    fn pick(&mut self, subflows: &[SubflowInfo], ctx: &SchedContext) -> Option<SubflowId> {
        LowestRtt.pick(subflows, ctx)
    }

    fn redundant(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "redundant"
    }
}

#[cfg(test)]
mod tests;
