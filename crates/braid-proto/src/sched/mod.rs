//! Schedulers: which subflow carries the next data.
//!
//! A scheduler sees a snapshot of the connection's subflows and names the one that
//! gets the next chunk of data, or none when no subflow may take data now. It decides
//! nothing else: the MPTCP connection sizes the chunk (the chosen subflow's free
//! congestion window) and maps it.

use crate::cc::SubflowId;
use crate::time::Duration;

/// What a scheduler knows of one subflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubflowInfo {
    pub id: SubflowId,
    /// Smoothed RTT, once measured.
    pub srtt: Option<Duration>,
    /// Bytes the subflow may still take now: congestion window less the bytes it has
    /// in flight or queued.
    pub room: u64,
    /// Backup, by our choice or at the peer's request (RFC 8684 §3.3.8): used only
    /// when no regular subflow can carry data.
    pub backup: bool,
    /// Established at the MPTCP level and not failing: may carry data at all.
    pub usable: bool,
}

/// Picks the subflow for the next chunk of data.
pub trait Scheduler: std::fmt::Debug + Send {
    fn pick(&mut self, subflows: &[SubflowInfo]) -> Option<SubflowId>;
}

/// Linux's default: the usable subflow with the lowest smoothed RTT that has room,
/// among regular subflows while any is usable, else among backups. A subflow not yet
/// measured ranks after measured ones.
#[derive(Debug, Clone, Copy, Default)]
pub struct LowestRtt;

impl Scheduler for LowestRtt {
    fn pick(&mut self, subflows: &[SubflowInfo]) -> Option<SubflowId> {
        let any_regular = subflows.iter().any(|s| s.usable && !s.backup);
        subflows
            .iter()
            .filter(|s| s.usable && s.backup != any_regular && s.room > 0)
            .min_by_key(|s| (s.srtt.is_none(), s.srtt, s.id.0))
            .map(|s| s.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: u32, rtt_ms: Option<u64>, room: u64, backup: bool) -> SubflowInfo {
        SubflowInfo {
            id: SubflowId(id),
            srtt: rtt_ms.map(Duration::from_millis),
            room,
            backup,
            usable: true,
        }
    }

    #[test]
    fn lowest_rtt_with_room_wins_and_unmeasured_rank_last() {
        let mut s = LowestRtt;
        let subflows = [
            info(0, Some(30), 1000, false),
            info(1, Some(10), 1000, false),
            info(2, None, 1000, false),
        ];
        assert_eq!(s.pick(&subflows), Some(SubflowId(1)));
        let full = [info(0, Some(30), 1000, false), info(1, Some(10), 0, false)];
        assert_eq!(s.pick(&full), Some(SubflowId(0)));
        let unmeasured = [info(2, None, 10, false), info(3, None, 10, false)];
        assert_eq!(s.pick(&unmeasured), Some(SubflowId(2)));
    }

    #[test]
    fn rfc8684_s3_3_8_backups_only_when_no_regular_subflow_is_usable() {
        let mut s = LowestRtt;
        // A faster backup is not used while a regular subflow exists, even a full one.
        let subflows = [info(0, Some(50), 0, false), info(1, Some(5), 1000, true)];
        assert_eq!(s.pick(&subflows), None);
        let mut failed = subflows;
        failed[0].usable = false;
        assert_eq!(s.pick(&failed), Some(SubflowId(1)));
    }
}
