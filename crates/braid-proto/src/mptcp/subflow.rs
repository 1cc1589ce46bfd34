//! One subflow of an MPTCP connection: its TCP connection, its handshake (MP_CAPABLE
//! or MP_JOIN), and the data sequence mappings of what it sends and receives.

use std::collections::VecDeque;

use crate::cc::SubflowId;
use crate::mptcp::delivery::DeliveryRate;
use crate::mptcp::mapping::MappingReceiver;
use crate::tcp::TcpConnection;
use crate::time::Instant;
use crate::wire::mptcp::{MpTcpRstReason, JOIN_ACK_HMAC_LEN};

/// How a subflow came to be, and how far its MPTCP handshake got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// The first subflow (MP_CAPABLE, RFC 8684 §3.1).
    Capable,
    /// We sent an MP_JOIN SYN with this nonce (§3.2).
    JoinSynSent { local_nonce: u32 },
    /// The SYN-ACK's HMAC verified: our third ACK carries `hmac` until the peer's
    /// fourth ACK acknowledges it.
    JoinAckSent { hmac: [u8; JOIN_ACK_HMAC_LEN] },
    /// We answered an MP_JOIN SYN and wait for the third ACK's HMAC.
    JoinSynAckSent {
        local_nonce: u32,
        peer_nonce: u32,
        truncated_hmac: u64,
    },
    /// A joined subflow, authenticated both ways.
    Joined,
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
}

/// An MPTCP subflow.
#[derive(Debug)]
pub struct Subflow {
    pub id: SubflowId,
    pub tcp: TcpConnection,
    pub handshake: Handshake,
    /// Our address id for the local address, and the peer's for the remote one.
    pub local_id: u8,
    pub remote_id: u8,
    /// We asked the peer to use this subflow only as a backup (MP_JOIN B flag or
    /// MP_PRIO).
    pub backup: bool,
    /// The peer asked us to use it only as a backup (§3.3.8).
    pub peer_backup: bool,
    /// An MP_PRIO to send with our current `backup` flag.
    pub prio_due: bool,
    /// Receives this subflow's DSS mappings and in-order bytes.
    pub rx: MappingReceiver,
    /// Relative subflow sequence number of the next byte read from `tcp`.
    pub rx_ssn: u32,
    /// The subflow's FIN was passed to `rx`.
    pub rx_fin: bool,
    /// What we sent on it, oldest first; dropped once acknowledged at both levels.
    pub tx: VecDeque<TxMapping>,
    /// A retransmission timeout fired and nothing was acknowledged since: the
    /// scheduler avoids it while another subflow works.
    pub stale: bool,
    /// When the scheduler last penalised it: at most once per its RTT.
    pub penalised_at: Option<Instant>,
    /// How fast it has been delivering: bounds its share of a short window.
    pub delivery: DeliveryRate,
    pub timeouts_seen: u64,
    pub acked_seen: u64,
    /// Why we reset it, carried in MP_TCPRST on our RST (§3.6).
    pub reset_reason: Option<MpTcpRstReason>,
    /// Why the peer reset it.
    pub peer_reset_reason: Option<MpTcpRstReason>,
    /// The peer's MP_TCPRST had the T flag: the error is temporary, try again later.
    pub peer_reset_transient: bool,
    /// Its end was handled (data reinjected, path manager told).
    pub ended: bool,
    /// Stream offset up to which its mappings were queued for reinjection
    /// (`MptcpConnection::reinject_from`).
    pub handed_on: u64,
    /// Reported to the application as established.
    pub announced: bool,
}

impl Subflow {
    pub fn new(
        id: SubflowId,
        tcp: TcpConnection,
        handshake: Handshake,
        rx: MappingReceiver,
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
            rx_fin: false,
            tx: VecDeque::new(),
            stale: false,
            penalised_at: None,
            delivery: DeliveryRate::default(),
            timeouts_seen: 0,
            acked_seen: 0,
            reset_reason: None,
            peer_reset_reason: None,
            peer_reset_transient: false,
            ended: false,
            handed_on: 0,
            announced: false,
        }
    }

    /// May carry data: its handshake is complete and it can still send.
    pub fn is_usable(&self) -> bool {
        matches!(self.handshake, Handshake::Capable | Handshake::Joined)
            && self.tcp.state().can_send()
            && self.tcp.state().is_synchronized()
            && self.reset_reason.is_none()
    }

    /// The mapping covering stream offset `offset` of what we sent.
    pub fn tx_mapping_at(&self, offset: u64) -> Option<&TxMapping> {
        mapping_at(&self.tx, offset)
    }

    /// The stream offset where the next mapping starts: every byte written is mapped.
    pub fn tx_end(&self) -> u64 {
        self.tcp.bytes_written()
    }

    /// Forgets mappings acknowledged both by the subflow and at data level.
    pub fn prune_tx(&mut self, data_una: u64) {
        let acked = self.tcp.bytes_acked();
        while let Some(m) = self.tx.front() {
            let data_acked = data_una.wrapping_sub(m.dsn.wrapping_add(u64::from(m.len))) < 1 << 63;
            if m.end() <= acked && data_acked {
                self.tx.pop_front();
            } else {
                break;
            }
        }
    }
}

/// The mapping of `tx` (ordered by offset) that covers stream offset `offset`.
pub(super) fn mapping_at(tx: &VecDeque<TxMapping>, offset: u64) -> Option<&TxMapping> {
    let i = tx.partition_point(|m| m.end() <= offset);
    tx.get(i).filter(|m| m.offset <= offset)
}
