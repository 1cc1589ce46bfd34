//! One subflow of an MPTCP connection: its TCP connection, its handshake (MP_CAPABLE
//! or MP_JOIN), the data sequence mappings of what it sends and receives, and what
//! its TCP connection reported since the connection last looked.

use std::collections::VecDeque;

use crate::mptcp::mapping::{Delivery, MappingError, MappingReceiver};
use crate::sched::sharing::PathState;
use crate::tcp::{CloseReason, SubflowId, TcpConnection, TcpEvent};
use crate::time::{Duration, Instant};
use crate::wire::mptcp::{MpTcpRstReason, JOIN_ACK_HMAC_LEN};

/// How a subflow came to be, and how far its MPTCP handshake got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// The first subflow (MP_CAPABLE, RFC 8684 §3.1).
    Capable,
    /// We sent an MP_JOIN SYN with this nonce (§3.2).
    JoinSynSent { local_nonce: u32 },
    /// The SYN-ACK's HMAC verified: our third ACK carries `hmac` until the peer's
    /// fourth ACK acknowledges it, and goes again at `resend_at` (it has gone again
    /// `resends` times) while none comes.
    JoinAckSent {
        hmac: [u8; JOIN_ACK_HMAC_LEN],
        resend_at: Instant,
        resends: u32,
    },
    /// We answered an MP_JOIN SYN and wait for the third ACK's HMAC.
    JoinSynAckSent {
        local_nonce: u32,
        peer_nonce: u32,
        truncated_hmac: u64,
    },
    /// A joined subflow, authenticated both ways.
    Joined,
}

impl Handshake {
    /// The MPTCP handshake is over: the subflow may carry data.
    pub fn is_complete(self) -> bool {
        matches!(self, Handshake::Capable | Handshake::Joined)
    }
}

/// A range of this subflow's stream mapped to data sequence numbers (§3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxMapping {
    /// Stream offset of the first byte (0 is the first payload byte; the relative
    /// subflow sequence number is one more).
    pub offset: u64,
    pub len: u16,
    pub dsn: u64,
    pub checksum: Option<u16>,
    /// Sent as the infinite mapping (data-level length 0, RFC 8684 §3.7): from its
    /// first byte on, the subflow carries the stream as plain TCP.
    pub infinite: bool,
    /// When it was mapped: about when it was sent, as the scheduler maps no more
    /// than the congestion window takes.
    pub mapped_at: Instant,
}

impl TxMapping {
    pub fn end(&self) -> u64 {
        self.offset + u64::from(self.len)
    }

    /// The relative subflow sequence number of the first byte, as the DSS carries it.
    pub fn ssn(&self) -> u32 {
        (self.offset + 1) as u32
    }

    /// Whether the peer's DATA_ACK `data_una` covers all of it.
    fn data_acked(&self, data_una: u64) -> bool {
        data_una.wrapping_sub(self.dsn.wrapping_add(u64::from(self.len))) < 1 << 63
    }

    /// Whether it holds DSN `dsn`.
    pub fn covers_dsn(&self, dsn: u64) -> bool {
        dsn.wrapping_sub(self.dsn) < u64::from(self.len)
    }
}

/// What the subflow's TCP connection reported ([`TcpEvent`]s) that the MPTCP layer
/// has not acted on yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TcpNews {
    /// The TCP handshake completed.
    pub connected: bool,
    /// The peer acknowledged data.
    pub acked: bool,
    /// The retransmission timer fired.
    pub timed_out: bool,
    /// It is over for the connection (closed, reset, or in TIME-WAIT).
    pub closed: Option<CloseReason>,
}

/// An MPTCP subflow.
#[derive(Debug)]
pub struct Subflow {
    pub(crate) id: SubflowId,
    pub(crate) tcp: TcpConnection,
    pub(crate) handshake: Handshake,
    /// Our address id for the local address, and the peer's for the remote one.
    pub(crate) local_id: u8,
    pub(crate) remote_id: u8,
    /// We asked the peer to use this subflow only as a backup (MP_JOIN B flag or
    /// MP_PRIO).
    pub(crate) backup: bool,
    /// The peer asked us to use it only as a backup (§3.3.8).
    pub(crate) peer_backup: bool,
    /// An MP_PRIO to send with our current `backup` flag.
    pub(crate) prio_due: bool,
    /// Receives this subflow's DSS mappings and in-order bytes.
    pub(crate) rx: MappingReceiver,
    /// Relative subflow sequence number of the next byte read from `tcp`.
    rx_ssn: u32,
    /// The peer's FIN reached the subflow's stream, and whether it was passed to
    /// `rx`.
    peer_fin: bool,
    rx_fin: bool,
    /// What we sent on it, oldest first; dropped once acknowledged at both levels.
    pub(crate) tx: VecDeque<TxMapping>,
    /// A retransmission timeout fired and nothing was acknowledged since: the
    /// scheduler avoids it while another subflow works.
    pub(crate) stale: bool,
    pub(crate) news: TcpNews,
    /// What the scheduling heuristics know of its path.
    pub(crate) path: PathState,
    /// Why we reset it, carried in MP_TCPRST on our RST (§3.6).
    pub(crate) reset_reason: Option<MpTcpRstReason>,
    /// Why the peer reset it, and whether it said the error is temporary (the T
    /// flag of its MP_TCPRST).
    pub(crate) peer_reset_reason: Option<MpTcpRstReason>,
    pub(crate) peer_reset_transient: bool,
    /// Its end was handled (data reinjected, path manager told).
    pub(crate) ended: bool,
    /// Stream offset up to which its mappings were handed to other subflows.
    handed_on: u64,
}

impl Subflow {
    pub(crate) fn new(
        id: SubflowId,
        tcp: TcpConnection,
        handshake: Handshake,
        rx: MappingReceiver,
        path: PathState,
    ) -> Self {
        Subflow {
            id,
            tcp,
            handshake,
            local_id: 0,
            remote_id: 0,
            backup: false,
            peer_backup: false,
            prio_due: false,
            rx,
            rx_ssn: 1,
            peer_fin: false,
            rx_fin: false,
            tx: VecDeque::new(),
            stale: false,
            news: TcpNews::default(),
            path,
            reset_reason: None,
            peer_reset_reason: None,
            peer_reset_transient: false,
            ended: false,
            handed_on: 0,
        }
    }

    pub fn id(&self) -> SubflowId {
        self.id
    }

    /// Its TCP connection: addresses, state, RTT, counters.
    pub fn tcp(&self) -> &TcpConnection {
        &self.tcp
    }

    pub fn handshake(&self) -> Handshake {
        self.handshake
    }

    /// Our address id for its local address.
    pub fn local_id(&self) -> u8 {
        self.local_id
    }

    /// The peer's address id for its remote address.
    pub fn remote_id(&self) -> u8 {
        self.remote_id
    }

    /// We asked the peer to use it only as a backup.
    pub fn backup(&self) -> bool {
        self.backup
    }

    /// The peer asked us to use it only as a backup.
    pub fn peer_backup(&self) -> bool {
        self.peer_backup
    }

    /// The MP_TCPRST reason of our reset, if we reset it.
    pub fn reset_reason(&self) -> Option<MpTcpRstReason> {
        self.reset_reason
    }

    /// The MP_TCPRST reason of the peer's reset, if it sent one.
    pub fn peer_reset_reason(&self) -> Option<MpTcpRstReason> {
        self.peer_reset_reason
    }

    /// A retransmission timeout fired and nothing was acknowledged since.
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// The connection is done with it: it ended, its data was handed to the other
    /// subflows and the path manager was told.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// What we mapped on it and the peer has not acknowledged at both levels, oldest
    /// first.
    pub fn sent_mappings(&self) -> impl Iterator<Item = &TxMapping> {
        self.tx.iter()
    }

    /// May carry data: its handshake is complete and it can still send.
    pub fn is_usable(&self) -> bool {
        self.handshake.is_complete()
            && self.tcp.state().can_send()
            && self.tcp.state().is_synchronized()
            && self.reset_reason.is_none()
    }

    /// Still exchanging segments though its connection is over: closing, or open
    /// (a late join). TIME-WAIT ends by itself.
    pub(crate) fn is_lingering(&self) -> bool {
        !matches!(
            self.tcp.state(),
            crate::tcp::TcpState::Closed | crate::tcp::TcpState::TimeWait
        )
    }

    /// When the third ACK of a join we opened goes again, while the fourth ACK has
    /// not come.
    pub(crate) fn join_ack_resend_at(&self) -> Option<Instant> {
        match self.handshake {
            Handshake::JoinAckSent { resend_at, .. } => Some(resend_at),
            _ => None,
        }
    }

    /// RFC 8684 §3.2: the subflow of a join we opened carries no data until the
    /// peer's fourth ACK shows that our third ACK (the HMAC) arrived. That ACK is a
    /// pure ACK, which TCP never retransmits, and the peer answers only what it
    /// receives: so the third ACK goes again on the subflow's retransmission
    /// timeout, backed off, until an answer comes. After as many resends as a SYN
    /// gets (`syn_retries`), the subflow is reset.
    pub(crate) fn resend_join_ack(&mut self, now: Instant) {
        let Handshake::JoinAckSent {
            hmac,
            resend_at,
            resends,
        } = self.handshake
        else {
            return;
        };
        if resend_at > now {
            return;
        }
        if resends >= self.tcp.config().syn_retries {
            tracing::debug!(
                local = %self.tcp.local(),
                remote = %self.tcp.remote(),
                resends,
                "no fourth ACK for our MP_JOIN third ACK: subflow reset"
            );
            self.reset_reason = Some(MpTcpRstReason::Unspecified);
            self.tcp.abort();
            return;
        }
        self.tcp.request_pure_ack();
        let resends = resends + 1;
        self.handshake = Handshake::JoinAckSent {
            hmac,
            resend_at: now + join_ack_backoff(self.tcp.rto(), resends, self.tcp.config().max_rto),
            resends,
        };
    }

    /// Takes what its TCP connection reported into [`TcpNews`].
    pub(crate) fn take_tcp_events(&mut self) {
        while let Some(event) = self.tcp.poll_event() {
            match event {
                TcpEvent::Connected => self.news.connected = true,
                TcpEvent::Writable => self.news.acked = true,
                TcpEvent::RetransmissionTimeout => self.news.timed_out = true,
                TcpEvent::PeerFinished => self.peer_fin = true,
                TcpEvent::Closed(reason) => self.news.closed = Some(reason),
                TcpEvent::Readable => {}
            }
        }
    }

    /// The mapping covering stream offset `offset` of what we sent.
    pub(crate) fn tx_mapping_at(&self, offset: u64) -> Option<&TxMapping> {
        mapping_at(&self.tx, offset)
    }

    /// The stream offset where the next mapping starts: every byte written is mapped.
    pub(crate) fn tx_end(&self) -> u64 {
        self.tcp.bytes_written()
    }

    /// Forgets mappings acknowledged both by the subflow and at data level.
    pub(crate) fn prune_tx(&mut self, data_una: u64) {
        let acked = self.tcp.bytes_acked();
        while let Some(m) = self.tx.front() {
            if m.end() <= acked && m.data_acked(data_una) {
                self.tx.pop_front();
            } else {
                break;
            }
        }
    }

    /// Writes `bytes` (one or two slices of the data-level send buffer) as one
    /// mapping of DSNs from `dsn`, and ends a segment where it ends (§3.3.1). The
    /// caller checked that the send buffer has room.
    pub(crate) fn map(
        &mut self,
        now: Instant,
        dsn: u64,
        bytes: [&[u8]; 2],
        checksum: impl FnOnce(u32, u16) -> Option<u16>,
        infinite: bool,
    ) -> u16 {
        let offset = self.tx_end();
        let written = self.tcp.write(bytes[0]) + self.tcp.write(bytes[1]);
        debug_assert_eq!(written, bytes[0].len() + bytes[1].len(), "room was checked");
        let len = written as u16;
        let ssn = (offset + 1) as u32;
        self.tx.push_back(TxMapping {
            offset,
            len,
            dsn,
            checksum: checksum(ssn, len),
            infinite,
            mapped_at: now,
        });
        self.tcp.mark_segment_boundary();
        len
    }

    /// The DSN ranges of what it carried since it last handed data on and the peer
    /// did not DATA_ACK (`data_una`), for other subflows to send again (§3.3.6).
    /// Each range is handed on once: a subflow reset and then seen ended, or timing
    /// out again, hands on only what was mapped to it since.
    pub(crate) fn hand_on(&mut self, data_una: u64) -> Vec<(u64, u64)> {
        let from = std::mem::replace(&mut self.handed_on, self.tcp.bytes_written());
        self.tx
            .iter()
            .filter(|m| m.offset >= from && !m.data_acked(data_una))
            .map(|m| (m.dsn, u64::from(m.len)))
            .collect()
    }

    /// Reads the subflow's in-order bytes into the mapping receiver, which hands
    /// data-level chunks to `out`.
    pub(crate) fn drain(
        &mut self,
        scratch: &mut [u8],
        out: &mut impl FnMut(Delivery<'_>),
    ) -> Result<(), MappingError> {
        loop {
            let n = self.tcp.read(scratch);
            if n == 0 {
                return Ok(());
            }
            let ssn = self.rx_ssn;
            self.rx_ssn = ssn.wrapping_add(n as u32);
            self.rx.on_data(ssn, &scratch[..n], out)?;
        }
    }

    /// The peer's FIN arrived and every byte before it was read, but the mapping
    /// receiver has not been told yet.
    pub(crate) fn fin_pending(&self) -> bool {
        self.peer_fin && !self.rx_fin && self.tcp.readable() == 0
    }

    /// Passes the peer's FIN to the mapping receiver once every byte before it was
    /// drained.
    pub(crate) fn drain_fin(
        &mut self,
        out: &mut impl FnMut(Delivery<'_>),
    ) -> Result<(), MappingError> {
        if self.peer_fin && !self.rx_fin && self.tcp.readable() == 0 {
            self.rx_fin = true;
            self.rx.on_fin(out)?;
        }
        Ok(())
    }
}

/// How long the third ACK of a join waits for the fourth after its `resends`-th
/// resend: the subflow's RTO, doubled for each resend, as TCP backs off its
/// retransmissions, up to the largest RTO.
pub(crate) fn join_ack_backoff(rto: Duration, resends: u32, max_rto: Duration) -> Duration {
    let factor = 1u64.checked_shl(resends).unwrap_or(u64::MAX);
    rto.saturating_mul(factor).min(max_rto)
}

/// The mapping of `tx` (ordered by offset) that covers stream offset `offset`.
pub(crate) fn mapping_at(tx: &VecDeque<TxMapping>, offset: u64) -> Option<&TxMapping> {
    let i = tx.partition_point(|m| m.end() <= offset);
    tx.get(i).filter(|m| m.offset <= offset)
}
