//! Putting data on subflows: the scheduler picks a subflow, and the chunk it gets
//! becomes one DSS mapping in that subflow's send buffer (RFC 8684 §3.3.1). The
//! heuristics that share a short window between subflows are policy and live in
//! [`crate::sched::sharing`]; this file only applies them.

use crate::cc::CongestionControl;
use crate::crypto;
use crate::mptcp::data::DataSender;
use crate::mptcp::stats::MptcpStats;
use crate::mptcp::subflow::{Subflow, TxMapping};
use crate::mptcp::subflows::SubflowSet;
use crate::sched::sharing::{copy_should_win, PathRate, SharingParams, WindowSharing};
use crate::sched::{SchedContext, Scheduler, SubflowInfo};
use crate::tcp::{SubflowId, TcpState};
use crate::time::{Duration, Instant};

/// Most chunks mapped per segment sent: bounds the work per packet.
pub(crate) const MAX_CHUNKS_PER_POLL: usize = 64;

/// How the connection stands, as scheduling needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScheduleState {
    /// MPTCP proper: opportunistic reinjection may copy data.
    pub established: bool,
    /// Fallen back: only the first subflow carries data.
    pub fallback: bool,
    /// DSS checksums are in use.
    pub checksums: bool,
    /// The largest mapping given to a subflow at once.
    pub max_mapping: u16,
    /// Nagle's algorithm, applied at the data level.
    pub nagle: bool,
    /// The peer's DATA_FIN arrived: subflow FINs from it are the end of its
    /// direction (§3.3.3), not a subflow going away.
    pub peer_finished: bool,
}

/// How a round of scheduling ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheduled {
    /// Nothing more to map now.
    Done,
    /// The infinite mapping was mapped: the connection falls back before going on.
    InfiniteMapped,
}

/// The scheduler of one connection and the state of its sharing heuristics.
#[derive(Debug)]
pub(crate) struct Scheduling {
    scheduler: Box<dyn Scheduler>,
    sharing: WindowSharing,
    /// What the scheduler is shown, reused.
    infos: Vec<SubflowInfo>,
}

impl Scheduling {
    pub(crate) fn new(scheduler: Box<dyn Scheduler>, params: SharingParams) -> Self {
        Scheduling {
            scheduler,
            sharing: WindowSharing::new(params),
            infos: Vec::new(),
        }
    }

    pub(crate) fn params(&self) -> &SharingParams {
        self.sharing.params()
    }

    pub(crate) fn set_scheduler(&mut self, scheduler: Box<dyn Scheduler>) {
        self.scheduler = scheduler;
    }

    /// Maps data onto the subflows the scheduler picks, each up to its free
    /// congestion window, at most `budget` chunks. `infinite_due` is taken by the
    /// first chunk mapped, which then carries the infinite mapping.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn schedule(
        &mut self,
        now: Instant,
        state: ScheduleState,
        subflows: &mut SubflowSet,
        sender: &mut DataSender,
        cc: &mut dyn CongestionControl,
        infinite_due: &mut bool,
        stats: &mut MptcpStats,
        budget: &mut usize,
    ) -> Scheduled {
        let nagle = state.nagle;
        for s in subflows.iter_mut() {
            if let Some(rtt) = s.tcp.srtt() {
                s.path.delivery.update(now, s.tcp.bytes_acked(), rtt);
            }
        }
        let rtt_max = subflows
            .iter()
            .filter(|s| s.is_usable())
            .filter_map(|s| s.tcp.srtt())
            .max()
            .unwrap_or(Duration::ZERO);
        let reserve = self.sharing.hold_back(
            now,
            sender.data_una(),
            sender.data_nxt(),
            subflows.usable_count(),
            rtt_max,
            sender.largest_window(),
        );
        sender.hold_back(reserve);
        let paths = subflows.iter().map(|s| PathRate {
            regular: s.is_usable() && !s.backup && !s.peer_backup,
            bytes_per_second: s.path.delivery.bytes_per_second(),
            min_rtt: s.tcp.min_rtt(),
        });
        let window_lasts = self
            .sharing
            .window_lasts(now, paths, sender.largest_window());
        let mut infos = std::mem::take(&mut self.infos);
        let mut outcome = Scheduled::Done;
        while *budget > 0 {
            *budget -= 1;
            let written_end = sender.data_una().wrapping_add(sender.buffered() as u64);
            let new_bytes = written_end.wrapping_sub(sender.data_nxt());
            if sender.reinject_pending() == 0 && new_bytes == 0 {
                break;
            }
            // Nagle at the data level (RFC 9293 §3.7.4): less than a segment of new
            // data waits while data is unacknowledged, unless the application closed.
            // Each chunk becomes its own mapping and segment, so the subflows' Nagle
            // cannot gather small writes.
            let mss = subflows
                .iter()
                .map(|s| u64::from(s.tcp.effective_mss()))
                .min()
                .unwrap_or(u64::from(crate::tcp::DEFAULT_MSS));
            let in_flight = sender.data_una() != sender.data_nxt();
            if nagle
                && sender.reinject_pending() == 0
                && new_bytes < mss
                && in_flight
                && sender.data_fin_dsn().is_none()
            {
                break;
            }
            self.describe(&mut infos, subflows, cc, state, window_lasts);
            let ctx = SchedContext {
                waiting: new_bytes.saturating_add(sender.reinject_pending()),
                send_window: sender.window_edge().saturating_sub(sender.data_una()),
            };
            let Some(id) = self.scheduler.pick(&infos, &ctx) else {
                break;
            };
            let Some(i) = infos.iter().position(|info| info.id == id) else {
                break;
            };
            let Some(subflow) = subflows.get(id) else {
                break;
            };
            let max = self.chunk_limit(subflow, infos[i].room, state.max_mapping);
            let Some((dsn, len)) = sender.next_chunk(max, usize::MAX) else {
                // The peer's window is full.
                self.sharing.window_full(now);
                if let Some((dsn, len)) = sender.window_probe() {
                    stats.window_probes += 1;
                    map_chunk(now, subflows, id, sender, dsn, len, state.checksums, false);
                    break;
                }
                if self.scheduler.opportunistic_reinjection()
                    && state.established
                    && self
                        .reinject_blocking_data(now, i, &infos, state, subflows, sender, cc, stats)
                {
                    continue;
                }
                break;
            };
            let infinite = std::mem::take(infinite_due);
            map_chunk(
                now,
                subflows,
                id,
                sender,
                dsn,
                len,
                state.checksums,
                infinite,
            );
            if self.scheduler.redundant() && !infinite {
                // The same bytes on every other usable subflow with room: the first
                // copy to arrive is used, the others are duplicates at data level.
                for info in &infos {
                    let fits = subflows
                        .get(info.id)
                        .is_some_and(|s| s.tcp.send_capacity() >= len);
                    if info.id != id && info.usable && info.room > 0 && fits {
                        map_chunk(
                            now,
                            subflows,
                            info.id,
                            sender,
                            dsn,
                            len,
                            state.checksums,
                            false,
                        );
                    }
                }
            }
            if infinite {
                outcome = Scheduled::InfiniteMapped;
                break;
            }
        }
        self.infos = infos;
        outcome
    }

    /// What the scheduler sees of each subflow: its window (capped by the sharing
    /// heuristics while the peer's window is short, as that is all it may use), the
    /// room left in it, and whether it may carry data at all.
    fn describe(
        &self,
        infos: &mut Vec<SubflowInfo>,
        subflows: &SubflowSet,
        cc: &dyn CongestionControl,
        state: ScheduleState,
        window_lasts: Option<Duration>,
    ) {
        infos.clear();
        let any_fresh = subflows.iter().any(|s| s.is_usable() && !s.stale);
        let any_open = subflows
            .iter()
            .any(|s| s.is_usable() && s.tcp.state() != TcpState::CloseWait);
        for s in subflows.iter() {
            // RFC 6675's pipe, not everything unacknowledged: in recovery the
            // subflow may send new data as lost segments leave the pipe.
            let in_use = s.tcp.pipe() + s.tcp.unsent();
            let mut cwnd = cc.cwnd(s.tcp.cc_id());
            if let Some(window_lasts) = window_lasts {
                let return_queueing = s.tcp.return_queueing().unwrap_or_default();
                let cap = s.tcp.min_rtt().and_then(|min_rtt| {
                    s.path.delivery.in_flight_cap(
                        self.sharing.params(),
                        min_rtt,
                        return_queueing,
                        s.tcp.effective_mss(),
                        window_lasts,
                    )
                });
                cwnd = cwnd.min(cap.unwrap_or(u64::MAX));
            }
            // A subflow the peer half-closed (its FIN came) before its DATA_FIN is
            // on its way out: new data goes elsewhere while another subflow can
            // take it. After its DATA_FIN, subflow FINs are the end of its
            // direction, and every subflow still carries ours.
            let half_closed = s.tcp.state() == TcpState::CloseWait && !state.peer_finished;
            let usable = s.is_usable()
                && (!state.fallback || s.id == SubflowId(0))
                && (!s.stale || !any_fresh)
                && (!half_closed || !any_open);
            infos.push(SubflowInfo {
                id: s.id,
                srtt: s.tcp.srtt(),
                min_rtt: s.tcp.min_rtt(),
                room: cwnd
                    .saturating_sub(in_use)
                    .min(s.tcp.send_capacity() as u64),
                cwnd,
                in_flight: in_use,
                mss: s.tcp.effective_mss(),
                backup: s.backup || s.peer_backup,
                usable,
            });
        }
    }

    /// The most a subflow with `room` bytes of congestion window free is given at
    /// once: whole segments, so that mappings end where segments do. A sliver of
    /// window still gets [`SharingParams::min_chunk_segments`] segments' worth.
    fn chunk_limit(&self, s: &Subflow, room: u64, max_mapping: u16) -> usize {
        let mss = u64::from(s.tcp.effective_mss());
        let whole = |n: u64| (n / mss).max(1) * mss;
        whole(room.max(self.params().min_chunk_segments * mss))
            .min(whole(u64::from(max_mapping)))
            .min(s.tcp.send_capacity() as u64) as usize
    }

    /// Opportunistic reinjection and penalisation (see [`crate::sched::sharing`]):
    /// the peer's window is full and the subflow `infos[fast]` has room, but the
    /// window's left edge is still on its way over a slower subflow. That subflow
    /// is penalised if it keeps a queue of its own, and the mapping holding the left
    /// edge goes again on the fast one if the copy should arrive first. Returns
    /// whether a copy was mapped.
    #[allow(clippy::too_many_arguments)]
    fn reinject_blocking_data(
        &mut self,
        now: Instant,
        fast: usize,
        infos: &[SubflowInfo],
        state: ScheduleState,
        subflows: &mut SubflowSet,
        sender: &mut DataSender,
        cc: &mut dyn CongestionControl,
        stats: &mut MptcpStats,
    ) -> bool {
        let data_una = sender.data_una();
        if !self.sharing.may_copy(data_una) {
            return false;
        }
        let fast_id = infos[fast].id;
        let covers = |m: &TxMapping| m.covers_dsn(data_una) && !m.infinite;
        if subflows
            .get(fast_id)
            .is_some_and(|s| s.tx.iter().any(covers))
        {
            return false;
        }
        // The slow subflow holding it, if its copy has not reached the peer's subflow
        // yet (if it has, the DATA_ACK is on its way and a copy gains nothing).
        let Some((slow, mapping)) = subflows.iter().enumerate().find_map(|(j, s)| {
            let m = s.tx.iter().find(|m| covers(m))?;
            let offset = m.offset + data_una.wrapping_sub(m.dsn);
            (s.id != fast_id && s.is_usable() && offset >= s.tcp.bytes_acked()).then_some((j, *m))
        }) else {
            return false;
        };
        let (Some(slow_rtt), Some(fast_rtt)) = (infos[slow].rtt(), infos[fast].rtt()) else {
            return false;
        };
        if slow_rtt <= fast_rtt {
            return false;
        }
        let slow_id = infos[slow].id;
        if let Some(s) = subflows.get_mut(slow_id) {
            let return_queueing = s.tcp.return_queueing().unwrap_or_default();
            let info = &infos[slow];
            if self.sharing.should_penalise(
                &mut s.path,
                now,
                info.srtt,
                info.min_rtt,
                return_queueing,
            ) {
                cc.penalise(s.tcp.cc_id(), now, s.tcp.pipe());
                stats.penalties += 1;
            }
        }
        let repairing = subflows
            .get(slow_id)
            .is_some_and(|s| s.tcp.in_recovery() || s.stale);
        if !copy_should_win(now, fast_rtt, mapping.mapped_at, slow_rtt, repairing) {
            return false;
        }
        let rest = mapping
            .dsn
            .wrapping_add(u64::from(mapping.len))
            .wrapping_sub(data_una);
        let Some(fast_subflow) = subflows.get(fast_id) else {
            return false;
        };
        let limit = self.chunk_limit(fast_subflow, infos[fast].room, state.max_mapping);
        let len = (rest as usize).min(limit);
        if len == 0 {
            return false;
        }
        map_chunk(
            now,
            subflows,
            fast_id,
            sender,
            data_una,
            len,
            state.checksums,
            false,
        );
        self.sharing.copied(data_una);
        stats.opportunistic_bytes += len as u64;
        true
    }
}

/// Writes DSNs `dsn..dsn + len` into subflow `id`'s send buffer as one mapping.
#[allow(clippy::too_many_arguments)]
fn map_chunk(
    now: Instant,
    subflows: &mut SubflowSet,
    id: SubflowId,
    sender: &DataSender,
    dsn: u64,
    len: usize,
    checksums: bool,
    infinite: bool,
) {
    let (a, b) = sender.bytes(dsn, len);
    let Some(s) = subflows.get_mut(id) else {
        return;
    };
    // §3.7: an infinite mapping's checksum field is present but zero.
    let checksum = |ssn, len| {
        checksums.then(|| {
            if infinite {
                0
            } else {
                crypto::dss_checksum(dsn, ssn, len, [a, b])
            }
        })
    };
    s.map(now, dsn, [a, b], checksum, infinite);
}
