//! The subflows of one connection, addressed by [`SubflowId`]: adding them, finding
//! them, and the questions asked of all of them at once.

use crate::cc::CongestionControl;
use crate::mptcp::subflow::{Handshake, Subflow};
use crate::tcp::{SubflowId, TcpState, TcpStats};
use crate::time::Instant;

/// Every subflow a connection has had, the first one first.
#[derive(Debug)]
pub(crate) struct SubflowSet {
    /// Ordered by id, which is the order they appeared in.
    list: Vec<Subflow>,
    next_id: u32,
    /// Where [`transmit_order`](Self::transmit_order) starts, a position in `list`:
    /// after the subflow that last sent, for fairness between subflows.
    tx_cursor: usize,
}

impl SubflowSet {
    /// A set holding the first subflow, which must have id 0.
    pub(crate) fn new(first: Subflow) -> Self {
        debug_assert_eq!(first.id, SubflowId(0));
        SubflowSet {
            list: vec![first],
            next_id: 1,
            tx_cursor: 0,
        }
    }

    /// The id the next subflow gets (and its congestion controller key).
    pub(crate) fn next_id(&self) -> SubflowId {
        SubflowId(self.next_id)
    }

    /// Adds a subflow made with [`next_id`](Self::next_id).
    pub(crate) fn push(&mut self, subflow: Subflow) -> SubflowId {
        debug_assert_eq!(subflow.id, self.next_id());
        self.next_id += 1;
        let id = subflow.id;
        self.list.push(subflow);
        id
    }

    pub(crate) fn get(&self, id: SubflowId) -> Option<&Subflow> {
        self.list.iter().find(|s| s.id == id)
    }

    pub(crate) fn get_mut(&mut self, id: SubflowId) -> Option<&mut Subflow> {
        self.list.iter_mut().find(|s| s.id == id)
    }

    /// The first subflow (id 0), while it exists: the one MP_CAPABLE opened, which
    /// carries a fallen-back stream.
    pub(crate) fn first(&self) -> Option<&Subflow> {
        self.list.first().filter(|s| s.id == SubflowId(0))
    }

    pub(crate) fn first_mut(&mut self) -> Option<&mut Subflow> {
        self.list.first_mut().filter(|s| s.id == SubflowId(0))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Subflow> {
        self.list.iter()
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Subflow> {
        self.list.iter_mut()
    }

    pub(crate) fn ids(&self) -> Vec<SubflowId> {
        self.list.iter().map(|s| s.id).collect()
    }

    /// Subflows the connection still counts: not yet over (RFC 8684 §3.2's limits
    /// apply to these).
    pub(crate) fn live(&self) -> usize {
        self.list.iter().filter(|s| !s.ended).count()
    }

    /// Whether a subflow was ever joined (either way): the stream then can no longer
    /// fall back to plain TCP (§3.7).
    pub(crate) fn ever_joined(&self) -> bool {
        self.next_id > 1
    }

    /// Removes the subflows that are over and have nothing left to send (their data
    /// was handed on and the path manager told when they ended); returns their
    /// 4-tuples, for the endpoint to forget. Subflows in TIME-WAIT stay until it
    /// expires: they guard their 4-tuple.
    pub(crate) fn reap(&mut self) -> Vec<(std::net::SocketAddr, std::net::SocketAddr)> {
        let mut gone = Vec::new();
        self.list.retain(|s| {
            let done = s.ended && s.tcp.is_done();
            if done {
                gone.push((s.tcp.local(), s.tcp.remote()));
            }
            !done
        });
        self.tx_cursor = self.tx_cursor.min(self.list.len());
        gone
    }

    /// Whether subflow `id` is the only one that can carry data.
    pub(crate) fn alone(&self, id: SubflowId) -> bool {
        !self.list.iter().any(|s| s.id != id && s.is_usable())
    }

    /// Whether another subflow than `id` carries data and is not failing.
    pub(crate) fn others_working(&self, id: SubflowId) -> bool {
        self.list
            .iter()
            .any(|s| s.id != id && s.is_usable() && !s.stale)
    }

    pub(crate) fn usable_count(&self) -> usize {
        self.list.iter().filter(|s| s.is_usable()).count()
    }

    /// The first usable subflow, to carry a segment without data.
    pub(crate) fn first_usable_mut(&mut self) -> Option<&mut Subflow> {
        self.list.iter_mut().find(|s| s.is_usable())
    }

    /// Joins we answered whose handshake is still under way.
    pub(crate) fn pending_joins(&self) -> usize {
        self.list
            .iter()
            .filter(|s| matches!(s.handshake, Handshake::JoinSynAckSent { .. }))
            .filter(|s| s.tcp.state() != TcpState::Closed)
            .count()
    }

    /// The ids of every subflow, starting after the one that last sent.
    pub(crate) fn transmit_order(&self) -> impl Iterator<Item = SubflowId> + '_ {
        let n = self.list.len();
        let start = self.tx_cursor % n.max(1);
        (0..n).map(move |k| self.list[(start + k) % n].id)
    }

    /// Subflow `id` sent a segment: the next round starts after it.
    pub(crate) fn sent_on(&mut self, id: SubflowId) {
        if let Some(i) = self.list.iter().position(|s| s.id == id) {
            self.tx_cursor = i + 1;
        }
    }

    /// The earliest timer of any subflow: its TCP connection's, or the resend of
    /// a join's third ACK.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.list
            .iter()
            .flat_map(|s| [s.tcp.poll_timeout(), s.join_ack_resend_at()])
            .flatten()
            .min()
    }

    /// Runs the subflows' timers that are due.
    pub(crate) fn handle_timeouts(&mut self, now: Instant, cc: &mut dyn CongestionControl) {
        for s in &mut self.list {
            if s.tcp.poll_timeout().is_some_and(|t| t <= now) {
                s.tcp.handle_timeout(now, cc);
            }
            s.resend_join_ack(now);
        }
    }

    /// TCP counters summed over the subflows.
    pub(crate) fn tcp_stats(&self) -> TcpStats {
        let mut sum = TcpStats::default();
        for s in &self.list {
            sum.accumulate(s.tcp.stats());
        }
        sum
    }

    /// Every subflow's TCP connection is over (TIME-WAIT ends by itself).
    pub(crate) fn all_over(&self) -> bool {
        self.list.iter().all(|s| !s.is_lingering())
    }

    /// Every subflow's TCP connection has nothing left to send.
    pub(crate) fn all_done(&self) -> bool {
        self.list.iter().all(|s| s.tcp.is_done())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::NewReno;
    use crate::mptcp::mapping::{MappingConfig, MappingReceiver};
    use crate::sched::sharing::{PathState, SharingParams};
    use crate::seq::SeqNum;
    use crate::tcp::{TcpConfig, TcpConnection};

    fn subflow(id: u32, handshake: Handshake) -> Subflow {
        let mut cc = NewReno::new();
        let local = format!("10.0.{id}.1:4000").parse().unwrap();
        let tcp = TcpConnection::connect(
            TcpConfig::default(),
            local,
            "10.0.9.2:80".parse().unwrap(),
            SeqNum(1),
            0,
            &mut cc,
            SubflowId(id),
            Instant::ZERO,
        );
        let rx = MappingReceiver::new(MappingConfig::new(false));
        Subflow::new(
            SubflowId(id),
            tcp,
            handshake,
            rx,
            PathState::new(&SharingParams::DEFAULT),
        )
    }

    fn join() -> Handshake {
        Handshake::JoinSynAckSent {
            local_nonce: 1,
            peer_nonce: 2,
            truncated_hmac: 3,
        }
    }

    #[test]
    fn subflows_are_found_by_id_in_the_order_they_came() {
        let mut set = SubflowSet::new(subflow(0, Handshake::Capable));
        assert_eq!(set.next_id(), SubflowId(1));
        let id = set.push(subflow(1, join()));
        assert_eq!(id, SubflowId(1));
        assert_eq!(set.ids(), [SubflowId(0), SubflowId(1)]);
        assert_eq!(set.get(SubflowId(1)).map(|s| s.id), Some(SubflowId(1)));
        assert!(set.get(SubflowId(7)).is_none());
        assert_eq!(set.first().map(|s| s.id), Some(SubflowId(0)));
        assert_eq!(set.pending_joins(), 1, "a join still in its handshake");
    }

    #[test]
    fn transmission_starts_after_the_subflow_that_last_sent() {
        let mut set = SubflowSet::new(subflow(0, Handshake::Capable));
        set.push(subflow(1, join()));
        set.push(subflow(2, join()));
        let order = |set: &SubflowSet| set.transmit_order().map(|id| id.0).collect::<Vec<_>>();
        assert_eq!(order(&set), [0, 1, 2]);
        set.sent_on(SubflowId(1));
        assert_eq!(order(&set), [2, 0, 1]);
        set.sent_on(SubflowId(2));
        assert_eq!(order(&set), [0, 1, 2]);
    }

    #[test]
    fn subflows_in_their_handshake_carry_no_data() {
        let set = SubflowSet::new(subflow(0, Handshake::Capable));
        assert_eq!(set.usable_count(), 0, "SYN-SENT");
        assert!(set.alone(SubflowId(0)));
        assert!(!set.others_working(SubflowId(0)));
        assert_eq!(set.live(), 1);
        assert!(!set.ever_joined());
    }
}
