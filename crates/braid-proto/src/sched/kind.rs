//! Choosing a scheduler by name, and the presets named after Apple's MPTCP service
//! types.

use std::fmt;
use std::str::FromStr;

use super::{Blest, Ecf, LowestRtt, Redundant, RoundRobin, Scheduler};

/// A scheduler, by name (`lowest-rtt`, `blest`, `ecf`, `redundant`, `round-robin`)
/// or preset (`handover`, `interactive`, `aggregate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchedulerKind {
    #[default]
    LowestRtt,
    Blest,
    Ecf,
    Redundant,
    RoundRobin,
}

impl SchedulerKind {
    pub const NAMES: &'static str =
        "lowest-rtt, blest, ecf, redundant, round-robin, handover, interactive, aggregate";

    /// A fresh scheduler of this kind.
    pub fn build(self) -> Box<dyn Scheduler> {
        match self {
            SchedulerKind::LowestRtt => Box::new(LowestRtt),
            SchedulerKind::Blest => Box::new(Blest::default()),
            SchedulerKind::Ecf => Box::new(Ecf::default()),
            SchedulerKind::Redundant => Box::new(Redundant),
            SchedulerKind::RoundRobin => Box::new(RoundRobin::default()),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SchedulerKind::LowestRtt => "lowest-rtt",
            SchedulerKind::Blest => "blest",
            SchedulerKind::Ecf => "ecf",
            SchedulerKind::Redundant => "redundant",
            SchedulerKind::RoundRobin => "round-robin",
        }
    }
}

impl fmt::Display for SchedulerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scheduler {0:?}: expected one of {names}", names = SchedulerKind::NAMES)]
pub struct SchedulerKindError(pub String);

impl FromStr for SchedulerKind {
    type Err = SchedulerKindError;

    /// The presets follow Apple's service types: `handover` keeps to the best path
    /// and moves when it fails (lowest-RTT with backups), `interactive` favours
    /// latency (ECF, which avoids slow paths for short transfers), `aggregate` uses
    /// every path for throughput (BLEST, which avoids window blocking).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "lowest-rtt" | "default" | "handover" => SchedulerKind::LowestRtt,
            "blest" | "aggregate" => SchedulerKind::Blest,
            "ecf" | "interactive" => SchedulerKind::Ecf,
            "redundant" => SchedulerKind::Redundant,
            "round-robin" => SchedulerKind::RoundRobin,
            other => return Err(SchedulerKindError(other.to_string())),
        })
    }
}
