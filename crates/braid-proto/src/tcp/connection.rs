//! One TCP connection (RFC 9293): state, buffers and timers, with no I/O.
//!
//! The owner feeds it segments ([`TcpConnection::handle_segment`]) and timeouts, and
//! drains segments to send ([`TcpConnection::poll_transmit`]) and events. Congestion
//! control is passed in on each call rather than owned, so that one controller can
//! serve every subflow of an MPTCP connection (see [`crate::cc`]).
//!
//! Sequence numbers are handled as 64-bit offsets in sequence space from the initial
//! sequence number (the SYN is offset 0, the first data octet 1), so that nothing
//! wraps inside the engine; [`SeqNum`] appears only at the edges.
//!
//! Segment arrival is in `input.rs`, segment building in `output.rs`, timers in
//! `timers.rs`.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::ops::Bound;

use super::config::TcpConfig;
use super::options::{ReceivedOptions, SendOptions};
use super::recv_buffer::RecvBuffer;
use super::return_delay::ReturnDelay;
use super::rtt::RttEstimator;
use super::scoreboard::Scoreboard;
use super::send_buffer::SendBuffer;
use crate::cc::CongestionControl;
use crate::seq::{widen, SeqNum};
use crate::tcp::SubflowId;
use crate::time::{Duration, Instant};
use crate::wire::{TcpFlags, TcpRepr};

/// RFC 9293 §3.3.2 connection states. LISTEN belongs to the endpoint, and CLOSED is
/// where every connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpState {
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
    Closed,
}

impl TcpState {
    /// After the three-way handshake: RFC 9293's "synchronized" states.
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            TcpState::SynSent | TcpState::SynReceived | TcpState::Closed
        )
    }

    /// The application may still send data.
    pub fn can_send(self) -> bool {
        matches!(
            self,
            TcpState::SynSent | TcpState::SynReceived | TcpState::Established | TcpState::CloseWait
        )
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Both sides sent FIN and saw it acknowledged.
    Finished,
    /// The peer refused the connection: RST in answer to our SYN.
    Refused,
    /// The peer reset the connection.
    Reset,
    /// Retransmissions, SYN retries or keepalive probes went unanswered, or an
    /// orphaned connection waited in FIN-WAIT-2 longer than `fin_wait_2_timeout`.
    TimedOut,
    /// The application aborted it (we sent RST).
    Aborted,
    /// We reset it because the peer, or a middlebox on the path, broke the protocol:
    /// an MPTCP connection whose last subflow was reset for a mapping error, options
    /// stripped mid-stream or a failed checksum.
    ProtocolError,
}

/// RFC 9293 §3.7.1: the MSS assumed of a peer that sends no MSS option (IPv4).
pub const DEFAULT_MSS: u32 = 536;

/// What the application should hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpEvent {
    /// The handshake completed.
    Connected,
    /// New data can be read.
    Readable,
    /// The peer acknowledged data: send buffer space became free.
    Writable,
    /// The retransmission timer fired (RFC 6298 §5.4): nothing was acknowledged for
    /// an RTO; what was in flight is being sent again.
    RetransmissionTimeout,
    /// The peer sent FIN: after the buffered data, reads return end of stream.
    PeerFinished,
    /// The connection is over; it may still linger in TIME-WAIT for the endpoint.
    Closed(CloseReason),
}

/// Counters, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpStats {
    pub segments_sent: u64,
    pub segments_received: u64,
    pub bytes_sent: u64,
    pub bytes_retransmitted: u64,
    pub bytes_received: u64,
    pub retransmitted_segments: u64,
    pub fast_recoveries: u64,
    pub timeouts: u64,
    pub zero_window_probes: u64,
    pub keepalive_probes: u64,
    pub challenge_acks: u64,
    pub paws_drops: u64,
    pub unacceptable_segments: u64,
    /// Unacceptable segments left unanswered, within `unacceptable_ack_interval` of
    /// the last ACK that answered one.
    pub unacceptable_acks_skipped: u64,
    pub rtt_samples: u64,
    pub dsack_received: u64,
}

impl TcpStats {
    /// Adds another connection's counters to these.
    pub fn accumulate(&mut self, other: &TcpStats) {
        let TcpStats {
            segments_sent,
            segments_received,
            bytes_sent,
            bytes_retransmitted,
            bytes_received,
            retransmitted_segments,
            fast_recoveries,
            timeouts,
            zero_window_probes,
            keepalive_probes,
            challenge_acks,
            paws_drops,
            unacceptable_segments,
            unacceptable_acks_skipped,
            rtt_samples,
            dsack_received,
        } = *other;
        self.segments_sent += segments_sent;
        self.segments_received += segments_received;
        self.bytes_sent += bytes_sent;
        self.bytes_retransmitted += bytes_retransmitted;
        self.bytes_received += bytes_received;
        self.retransmitted_segments += retransmitted_segments;
        self.fast_recoveries += fast_recoveries;
        self.timeouts += timeouts;
        self.zero_window_probes += zero_window_probes;
        self.keepalive_probes += keepalive_probes;
        self.challenge_acks += challenge_acks;
        self.paws_drops += paws_drops;
        self.unacceptable_segments += unacceptable_segments;
        self.unacceptable_acks_skipped += unacceptable_acks_skipped;
        self.rtt_samples += rtt_samples;
        self.dsack_received += dsack_received;
    }
}

/// A received segment, as the engine needs it.
#[derive(Debug, Clone, Copy)]
pub struct SegmentIn<'a> {
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub flags: TcpFlags,
    pub window: u16,
    pub options: ReceivedOptions,
    pub payload: &'a [u8],
}

impl<'a> SegmentIn<'a> {
    pub fn from_repr(repr: &TcpRepr<'a>) -> Self {
        SegmentIn {
            seq: SeqNum(repr.seq_number),
            ack: SeqNum(repr.ack_number),
            flags: repr.flags,
            window: repr.window,
            options: ReceivedOptions::parse(repr.options),
            payload: repr.payload,
        }
    }

    /// SEG.LEN: payload plus one for each of SYN and FIN (RFC 9293 §3.4).
    pub fn seq_len(&self) -> u32 {
        self.payload.len() as u32 + self.flags.syn() as u32 + self.flags.fin() as u32
    }
}

/// A segment to send. The payload is borrowed from the send buffer, in at most two
/// pieces (it is a ring).
#[derive(Debug, Clone, Copy)]
pub struct SegmentOut<'a> {
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub flags: TcpFlags,
    pub window: u16,
    pub options: SendOptions,
    pub payload: [&'a [u8]; 2],
    /// Where the payload starts in the stream the application wrote (0 is the first
    /// byte), for the layer that maps it to data sequence numbers.
    pub stream_offset: u64,
    /// Payload sent before: a retransmission.
    pub retransmission: bool,
}

impl SegmentOut<'_> {
    pub fn payload_len(&self) -> usize {
        self.payload[0].len() + self.payload[1].len()
    }
}

/// Whether and how urgently an ACK is owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AckDue {
    No,
    /// Delayed: one full-sized segment is unacknowledged (RFC 5681 §4.2).
    Delayed,
    Now,
}

/// A retransmission in a recovery episode, watched for loss.
#[derive(Debug, Clone, Copy)]
pub(super) struct Retransmission {
    pub start: u64,
    pub end: u64,
    /// SND.MAX when it was sent: data beyond was sent after it.
    pub sent_up_to: u64,
}

/// One transmission of a range of sequence space, for RTT samples (Karn's rule:
/// none from retransmissions, RFC 6298 §3).
#[derive(Debug, Clone, Copy)]
pub(super) struct Sent {
    pub end: u64,
    pub at: Instant,
    pub retransmitted: bool,
}

/// One TCP connection.
#[derive(Debug)]
pub struct TcpConnection {
    pub(super) config: TcpConfig,
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    pub(super) cc_id: SubflowId,
    pub(super) state: TcpState,
    pub(super) close_reason: Option<CloseReason>,

    // Send side; offsets in our sequence space (SYN = 0).
    pub(super) iss: SeqNum,
    pub(super) snd_una: u64,
    pub(super) snd_nxt: u64,
    /// Highest offset ever sent, plus one.
    pub(super) snd_max: u64,
    /// The peer's window, scaled, measured from `snd_una` (RFC 9293 SND.WND).
    pub(super) snd_wnd: u64,
    pub(super) max_snd_wnd: u64,
    /// Offsets of the segment that last updated the window (SND.WL1, SND.WL2).
    pub(super) snd_wl1: u64,
    pub(super) snd_wl2: u64,
    /// Largest payload per segment: the peer's MSS less our options.
    pub(super) peer_mss: u32,
    pub(super) send: SendBuffer,
    /// Offset of the send buffer's first byte.
    pub(super) send_start: u64,
    /// The application closed its side: FIN goes after the buffered data.
    pub(super) fin_queued: bool,
    /// Offsets no segment may span (see [`TcpConnection::mark_segment_boundary`]).
    pub(super) boundaries: BTreeSet<u64>,
    pub(super) syn_acked: bool,

    // Receive side; offsets in the peer's sequence space (its SYN = 0).
    pub(super) irs: Option<SeqNum>,
    pub(super) recv: RecvBuffer,
    /// Offset of the peer's FIN, once seen.
    pub(super) peer_fin: Option<u64>,
    pub(super) peer_fin_consumed: bool,
    /// Right edge of the window last advertised (never moved left, RFC 9293 §3.8.6.2.2).
    pub(super) rcv_adv: u64,
    pub(super) bytes_since_ack: usize,
    /// Receive auto-tuning: bytes arrived since `rcv_space_at`.
    pub(super) rcv_space_bytes: u64,
    pub(super) rcv_space_at: Instant,
    /// The RTT as the receiving side sees it ([`Self::receive_rtt`]).
    pub(super) rcv_rtt: Option<Duration>,
    /// The TSecr of the last receive RTT sample: one sample per echoed TSval.
    pub(super) rcv_rtt_tsecr: u32,
    /// Queueing on the path from the peer ([`Self::return_queueing`]).
    pub(super) return_delay: ReturnDelay,
    pub(super) ack_due: AckDue,

    // Negotiated options.
    pub(super) snd_wscale: u8,
    pub(super) rcv_wscale: u8,
    pub(super) ts_enabled: bool,
    pub(super) sack_enabled: bool,
    pub(super) ts_recent: u32,
    pub(super) ts_offset: u32,
    pub(super) last_ack_sent: u64,

    // RTT, loss recovery and congestion.
    pub(super) rtt: RttEstimator,
    pub(super) sent: VecDeque<Sent>,
    pub(super) scoreboard: Scoreboard,
    pub(super) dupacks: u32,
    /// Retransmissions of the current recovery episode, in the order sent.
    pub(super) retransmissions: VecDeque<Retransmission>,
    /// Retransmissions found lost, to send again.
    pub(super) relost: VecDeque<(u64, u64)>,
    /// The fast retransmission chosen on entering recovery (RFC 6675 §5 (4.3)).
    pub(super) rexmit_due: Option<(u64, u64)>,
    /// Without SACK: the segment to retransmit next (RFC 5681 §3.2 fast retransmit,
    /// RFC 6582 partial ACKs).
    pub(super) fast_rexmit: Option<u64>,

    // Timers.
    pub(super) rto_at: Option<Instant>,
    pub(super) retries: u32,
    pub(super) delack_at: Option<Instant>,
    pub(super) persist_at: Option<Instant>,
    pub(super) persist_backoff: u32,
    pub(super) probe_due: bool,
    /// The sender SWS override timeout fired: a small segment may go.
    pub(super) sws_override: bool,
    pub(super) keepalive_at: Option<Instant>,
    pub(super) keepalive_sent: u32,
    pub(super) keepalive_due: bool,
    pub(super) time_wait_at: Option<Instant>,
    /// When an orphaned connection in FIN-WAIT-2 gives up on the peer's FIN.
    pub(super) fin_wait_2_at: Option<Instant>,
    /// The owner let go of the connection ([`TcpConnection::orphan`]).
    pub(super) orphaned: bool,
    pub(super) last_received: Instant,

    // Control segments owed.
    pub(super) syn_due: bool,
    pub(super) rst_due: bool,
    pub(super) challenge_due: bool,
    /// When an ACK last answered an unacceptable segment that carried nothing.
    pub(super) last_unacceptable_ack: Option<Instant>,
    pub(super) window_update_due: bool,
    /// Set by the layer above: the most we advertise (MPTCP's connection-level
    /// window, RFC 8684 §3.3.4), whatever this subflow's own buffer has room for.
    pub(super) window_limit: Option<u64>,
    /// The layer above has a signal for a segment without data: send one first.
    pub(super) pure_ack_due: bool,

    pub(super) events: VecDeque<TcpEvent>,
    pub(super) stats: TcpStats,
}

/// The smallest shift that fits `buffer` in a 16-bit window, capped at 14
/// (RFC 7323 §2.3).
fn window_shift(buffer: usize) -> u8 {
    let mut shift = 0;
    while shift < 14 && (buffer >> shift) > 0xffff {
        shift += 1;
    }
    shift
}

impl TcpConnection {
    fn new(
        config: TcpConfig,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
        ts_offset: u32,
        cc_id: SubflowId,
        now: Instant,
    ) -> Self {
        let recv = RecvBuffer::with_max_ranges(
            config.initial_recv_buffer.min(config.recv_buffer),
            config.max_ooo_ranges,
        );
        let rtt = RttEstimator::new(config.initial_rto, config.min_rto, config.max_rto);
        let send = SendBuffer::new(config.send_buffer);
        let rcv_wscale = if config.window_scaling {
            window_shift(config.recv_buffer)
        } else {
            0
        };
        TcpConnection {
            local,
            remote,
            cc_id,
            state: TcpState::Closed,
            close_reason: None,
            iss,
            snd_una: 0,
            snd_nxt: 0,
            snd_max: 0,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: 0,
            snd_wl2: 0,
            peer_mss: DEFAULT_MSS,
            send,
            send_start: 1,
            fin_queued: false,
            boundaries: BTreeSet::new(),
            syn_acked: false,
            irs: None,
            recv,
            peer_fin: None,
            peer_fin_consumed: false,
            rcv_adv: 0,
            bytes_since_ack: 0,
            rcv_space_bytes: 0,
            rcv_space_at: now,
            rcv_rtt: None,
            rcv_rtt_tsecr: 0,
            return_delay: ReturnDelay::default(),
            ack_due: AckDue::No,
            snd_wscale: 0,
            rcv_wscale,
            ts_enabled: false,
            sack_enabled: false,
            ts_recent: 0,
            ts_offset,
            last_ack_sent: 0,
            rtt,
            sent: VecDeque::new(),
            scoreboard: Scoreboard::new(),
            dupacks: 0,
            rexmit_due: None,
            retransmissions: VecDeque::new(),
            relost: VecDeque::new(),
            fast_rexmit: None,
            rto_at: None,
            retries: 0,
            delack_at: None,
            persist_at: None,
            persist_backoff: 0,
            probe_due: false,
            sws_override: false,
            keepalive_at: None,
            keepalive_sent: 0,
            keepalive_due: false,
            time_wait_at: None,
            fin_wait_2_at: None,
            orphaned: false,
            last_received: now,
            syn_due: false,
            rst_due: false,
            challenge_due: false,
            last_unacceptable_ack: None,
            window_update_due: false,
            window_limit: None,
            pure_ack_due: false,
            events: VecDeque::new(),
            stats: TcpStats::default(),
            config,
        }
    }

    /// Opens a connection actively: the SYN goes out at the next `poll_transmit`.
    /// `iss` should be unpredictable (RFC 9293 §3.4.1, RFC 6528) and `ts_offset`
    /// random per connection (RFC 7323 §7.1); the endpoint derives both from its
    /// secret (`crate::secrets`).
    #[allow(clippy::too_many_arguments)]
    pub fn connect(
        config: TcpConfig,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
        ts_offset: u32,
        cc: &mut dyn CongestionControl,
        cc_id: SubflowId,
        now: Instant,
    ) -> Self {
        let mut c = Self::new(config, local, remote, iss, ts_offset, cc_id, now);
        c.state = TcpState::SynSent;
        c.syn_due = true;
        c.peer_mss = c.config.mss as u32;
        cc.add_subflow(cc_id, c.effective_mss(), now);
        c
    }

    /// Answers a SYN that a listener accepted: the SYN-ACK goes out at the next
    /// `poll_transmit`.
    #[allow(clippy::too_many_arguments)]
    pub fn accept(
        config: TcpConfig,
        local: SocketAddr,
        remote: SocketAddr,
        syn: &SegmentIn<'_>,
        iss: SeqNum,
        ts_offset: u32,
        cc: &mut dyn CongestionControl,
        cc_id: SubflowId,
        now: Instant,
    ) -> Self {
        let mut c = Self::new(config, local, remote, iss, ts_offset, cc_id, now);
        c.state = TcpState::SynReceived;
        c.syn_due = true;
        c.irs = Some(syn.seq);
        c.negotiate(&syn.options);
        // The SYN's window is never scaled (RFC 7323 §2.2).
        c.snd_wnd = syn.window as u64;
        c.max_snd_wnd = c.snd_wnd;
        if let Some((tsval, _)) = syn.options.timestamps {
            c.ts_recent = tsval;
        }
        cc.add_subflow(cc_id, c.effective_mss(), now);
        c
    }

    /// A connection a listener makes from a SYN cookie's third ACK (RFC 4987 §3.6):
    /// as [`accept`](Self::accept) with the SYN the cookie describes, and the SYN-ACK
    /// already sent, at a time nobody kept (so the handshake gives no RTT sample).
    /// [`handle_segment`](Self::handle_segment) then takes the third ACK.
    #[allow(clippy::too_many_arguments)]
    pub fn accept_from_cookie(
        config: TcpConfig,
        local: SocketAddr,
        remote: SocketAddr,
        syn: &SegmentIn<'_>,
        iss: SeqNum,
        ts_offset: u32,
        cc: &mut dyn CongestionControl,
        cc_id: SubflowId,
        now: Instant,
    ) -> Self {
        let mut c = Self::accept(config, local, remote, syn, iss, ts_offset, cc, cc_id, now);
        c.syn_due = false;
        c.snd_nxt = 1;
        c.snd_max = 1;
        c
    }

    /// Applies the options of the peer's SYN (RFC 7323 §2.2, §3.2; RFC 2018 §2).
    pub(super) fn negotiate(&mut self, o: &ReceivedOptions) {
        self.peer_mss = o
            .mss
            .map_or(DEFAULT_MSS, u32::from)
            .min(self.config.mss as u32)
            .max(64);
        match o.window_scale {
            Some(shift) if self.config.window_scaling => {
                // RFC 7323 §2.3: a shift over 14 is used as 14.
                self.snd_wscale = shift.min(14);
            }
            _ => {
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        self.ts_enabled = self.config.timestamps && o.timestamps.is_some();
        self.sack_enabled = self.config.sack && o.sack_permitted;
    }

    /// Payload octets per full-sized segment: the MSS less the options every data
    /// segment carries (timestamps, and what the layer above reserved).
    pub fn effective_mss(&self) -> u32 {
        let options =
            if self.ts_enabled { 12 } else { 0 } + self.config.reserved_option_space as u32;
        self.peer_mss.saturating_sub(options).max(1)
    }

    /// Payload octets a segment sent now may carry: [`effective_mss`] less the SACK
    /// blocks it will carry too (RFC 9293 §3.7.1: data shrinks by the options sent).
    ///
    /// [`effective_mss`]: TcpConnection::effective_mss
    pub(super) fn mss_now(&self) -> u32 {
        let blocks = self.sack_blocks_to_send() as u32;
        let sack = if blocks > 0 { 4 + 8 * blocks } else { 0 };
        self.effective_mss().saturating_sub(sack).max(1)
    }

    /// SACK blocks an ACK sent now carries: one per out-of-order range, as many as
    /// fit beside timestamps (RFC 2018 §3).
    pub(super) fn sack_blocks_to_send(&self) -> usize {
        if !self.sack_enabled {
            return 0;
        }
        let max = if self.ts_enabled { 3 } else { 4 };
        self.recv.out_of_order_ranges().min(max)
    }

    pub fn state(&self) -> TcpState {
        self.state
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason
    }

    pub fn local(&self) -> SocketAddr {
        self.local
    }

    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    pub fn stats(&self) -> &TcpStats {
        &self.stats
    }

    pub fn config(&self) -> &TcpConfig {
        &self.config
    }

    pub fn cc_id(&self) -> SubflowId {
        self.cc_id
    }

    /// The smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// The lowest RTT measured on this connection.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.rtt.min_rtt()
    }

    /// The RTT as the receiving side sees it, for sizing its receive buffer: the
    /// time from an ACK to the data its timestamp comes back on (RFC 7323 §4.1's
    /// RTTM from the data receiver's side; Linux's tcp_rcv_rtt_measure_ts). A side
    /// that only receives has no other RTT sample after the handshake, whose RTT had
    /// none of the queue the transfer builds. Falls back to the smoothed RTT
    /// without timestamps.
    pub fn receive_rtt(&self) -> Option<Duration> {
        self.rcv_rtt.or_else(|| self.rtt.srtt())
    }

    /// How much longer than at best segments from the peer, ACKs included, now take
    /// to arrive: the queue on the return path, from the peer's timestamps
    /// (`None` without them).
    pub fn return_queueing(&self) -> Option<Duration> {
        self.return_delay.queueing()
    }

    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// Bytes sent and not yet acknowledged (SYN and FIN count one each).
    pub fn bytes_in_flight(&self) -> u64 {
        self.snd_nxt.max(self.snd_max).saturating_sub(self.snd_una)
    }

    /// RFC 6675 `pipe`: an estimate of the bytes in the network.
    pub fn pipe(&self) -> u64 {
        if self.syn_acked {
            self.scoreboard
                .pipe(self.snd_max - 1, self.effective_mss() as u64)
        } else {
            self.bytes_in_flight()
        }
    }

    /// In loss recovery, fast or after a timeout.
    pub fn in_recovery(&self) -> bool {
        self.scoreboard.in_recovery() || self.scoreboard.in_rto_recovery()
    }

    /// Writes as much of `data` as the send buffer takes.
    pub fn write(&mut self, data: &[u8]) -> usize {
        if !self.state.can_send() || self.fin_queued {
            return 0;
        }
        self.send.write(data)
    }

    /// Free space in the send buffer.
    pub fn send_capacity(&self) -> usize {
        if !self.state.can_send() || self.fin_queued {
            0
        } else {
            self.send.free()
        }
    }

    /// Bytes written and not yet acknowledged.
    pub fn send_queued(&self) -> usize {
        self.send.len()
    }

    /// Makes the end of the data written so far a segment boundary: no segment, first
    /// transmission or retransmission, carries bytes from both sides of it. The MPTCP
    /// layer marks the end of each DSS mapping so that every segment lies within one
    /// mapping (RFC 8684 §3.3.1), as a segment carries at most one DSS option.
    pub fn mark_segment_boundary(&mut self) {
        let end = self.data_end();
        if end > self.snd_una {
            self.boundaries.insert(end);
        }
    }

    /// Where a segment's payload starts in the stream the application wrote (0 is
    /// the first byte written), for the layer that maps it: `None` for the SYN.
    pub fn data_offset(&self, seq: SeqNum) -> Option<u64> {
        self.own_offset(seq).checked_sub(1)
    }

    /// The first boundary after `offset`, if any.
    pub(super) fn boundary_after(&self, offset: u64) -> Option<u64> {
        self.boundaries
            .range((Bound::Excluded(offset), Bound::Unbounded))
            .next()
            .copied()
    }

    /// Caps the window we advertise (never above what this connection's buffer takes):
    /// an MPTCP subflow advertises the connection-level window (RFC 8684 §3.3.4).
    pub fn set_window_limit(&mut self, limit: Option<u64>) {
        self.window_limit = limit;
    }

    /// Sends an ACK at the next `poll_transmit` even if none is owed, e.g. to carry
    /// a signal of the layer above or a window update it made.
    pub fn request_ack(&mut self) {
        if self.state.is_synchronized() {
            self.window_update_due = true;
        }
    }

    /// Sends a segment without data at the next `poll_transmit`, before any data:
    /// for a signal of the layer above that does not fit beside a data mapping
    /// (MPTCP's ADD_ADDR, REMOVE_ADDR, MP_PRIO ride on pure ACKs, as in Linux).
    pub fn request_pure_ack(&mut self) {
        if self.state.is_synchronized() {
            self.pure_ack_due = true;
        }
    }

    /// The peer's window as this segment advertises it, scaled (it is measured
    /// from the segment's acknowledgment number; MPTCP reads it from the DATA_ACK).
    pub fn scaled_window(&self, seg: &SegmentIn<'_>) -> u64 {
        if seg.flags.syn() {
            seg.window as u64
        } else {
            (seg.window as u64) << self.snd_wscale
        }
    }

    /// The peer's current window, scaled (RFC 9293 SND.WND).
    pub fn peer_window(&self) -> u64 {
        self.snd_wnd
    }

    /// Bytes written and never sent yet.
    pub fn unsent(&self) -> u64 {
        self.data_end()
            .saturating_sub(self.snd_nxt.max(self.snd_max).max(1))
    }

    /// Stream bytes written so far, acknowledged or not.
    pub fn bytes_written(&self) -> u64 {
        self.data_end() - 1
    }

    /// Stream bytes sent at least once (RFC 9293's highest SND.NXT; the SYN
    /// excluded), acknowledged or not.
    pub fn bytes_sent_once(&self) -> u64 {
        self.snd_max
            .max(self.snd_nxt)
            .min(self.data_end())
            .saturating_sub(1)
    }

    /// Stream bytes the peer acknowledged (the SYN excluded).
    pub fn bytes_acked(&self) -> u64 {
        self.snd_una.min(self.data_end()).saturating_sub(1)
    }

    /// Reads received data. Returns 0 when nothing is buffered; see
    /// [`TcpConnection::is_read_closed`] to tell the end of the stream.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = self.recv.read(buf);
        // RFC 9293 §3.8.6.2.2 (receiver SWS avoidance) and Linux's rule: announce
        // the space reading freed only when the window the peer knows has fallen
        // to half the buffer or less and would at least double. Otherwise the next
        // ACK carries it.
        // Under the layer above's window limit (MPTCP), the limit bounds both.
        if n > 0 && self.state.is_synchronized() {
            let limit = self.window_limit.unwrap_or(u64::MAX);
            let remaining = self.rcv_adv.saturating_sub(self.rcv_nxt());
            let now_open = self.recv.window().min(limit);
            let largest = (self.recv.capacity() as u64).min(limit);
            if 2 * remaining <= largest && now_open >= 2 * remaining.max(1) {
                self.window_update_due = true;
            }
        }
        n
    }

    /// Bytes ready to read.
    pub fn readable(&self) -> usize {
        self.recv.readable()
    }

    /// The peer finished sending and every byte was read.
    pub fn is_read_closed(&self) -> bool {
        self.peer_fin_consumed && self.recv.readable() == 0
    }

    /// Closes our sending side: FIN follows the buffered data (RFC 9293 §3.10.4).
    ///
    /// Before the handshake completes, the FIN waits for it, as RFC 9293 has
    /// SYN-RECEIVED do; [`TcpConnection::abort`] gives up instead.
    pub fn close(&mut self) {
        if self.state.can_send() {
            self.fin_queued = true;
        }
    }

    /// The owner lets go of the connection: it will neither read nor write any more
    /// (Linux: close() of the socket, as against shutdown()). Unread data is lost,
    /// and the peer learns it by a RST (RFC 1122 §4.2.2.13); otherwise our side
    /// closes as with [`TcpConnection::close`], and a wait in FIN-WAIT-2 for the
    /// peer's FIN lasts at most [`TcpConfig::fin_wait_2_timeout`].
    pub fn orphan(&mut self, now: Instant) {
        if self.recv.readable() > 0 {
            self.abort();
            return;
        }
        self.close();
        self.orphaned = true;
        if self.state == TcpState::FinWait2 {
            self.enter_fin_wait_2(now);
        }
    }

    /// Whether the owner let go of the connection ([`TcpConnection::orphan`]).
    pub fn is_orphaned(&self) -> bool {
        self.orphaned
    }

    /// Aborts: RST to the peer, buffers dropped (RFC 9293 §3.10.5).
    pub fn abort(&mut self) {
        if self.state.is_synchronized() || self.state == TcpState::SynReceived {
            self.rst_due = true;
        }
        self.enter_closed(CloseReason::Aborted);
    }

    pub fn poll_event(&mut self) -> Option<TcpEvent> {
        self.events.pop_front()
    }

    /// The connection is over and has nothing left to send: its owner may drop it.
    ///
    /// Data received and not yet read keeps a connection that ended normally: the
    /// application still gets it. A reset or abort discards it (RFC 9293 §3.10.7.4).
    pub fn is_done(&self) -> bool {
        let keeps_data = matches!(self.close_reason, Some(CloseReason::Finished) | None)
            && self.recv.readable() > 0
            && !self.orphaned;
        self.state == TcpState::Closed && !self.rst_due && !keeps_data
    }

    pub(super) fn enter_closed(&mut self, reason: CloseReason) {
        if self.state == TcpState::Closed {
            return;
        }
        self.state = TcpState::Closed;
        self.close_reason = Some(reason);
        self.rto_at = None;
        self.delack_at = None;
        self.persist_at = None;
        self.keepalive_at = None;
        self.time_wait_at = None;
        self.fin_wait_2_at = None;
        self.events.push_back(TcpEvent::Closed(reason));
    }

    /// Our FIN is acknowledged and the peer's has not come: an orphaned connection
    /// waits for it at most `fin_wait_2_timeout`.
    pub(super) fn enter_fin_wait_2(&mut self, now: Instant) {
        self.state = TcpState::FinWait2;
        if self.orphaned && self.fin_wait_2_at.is_none() {
            self.fin_wait_2_at = Some(now + self.config.fin_wait_2_timeout);
        }
    }

    pub(super) fn enter_time_wait(&mut self, now: Instant) {
        self.state = TcpState::TimeWait;
        self.rto_at = None;
        self.persist_at = None;
        self.keepalive_at = None;
        self.fin_wait_2_at = None;
        self.time_wait_at = Some(now + self.config.time_wait);
        if self.close_reason.is_none() {
            self.close_reason = Some(CloseReason::Finished);
            self.events
                .push_back(TcpEvent::Closed(CloseReason::Finished));
        }
    }

    /// The peer's sequence space offset of RCV.NXT.
    pub(super) fn rcv_nxt(&self) -> u64 {
        1 + self.recv.contiguous_end() + self.peer_fin_consumed as u64
    }

    /// Converts a peer sequence number to an offset, near RCV.NXT.
    pub(super) fn peer_offset(&self, seq: SeqNum) -> u64 {
        let irs = self.irs.expect("peer offsets exist once its SYN is known");
        widen(seq.0.wrapping_sub(irs.0), self.rcv_nxt())
    }

    /// Converts one of our sequence numbers (an ACK from the peer) to an offset,
    /// near SND.UNA.
    pub(super) fn own_offset(&self, seq: SeqNum) -> u64 {
        widen(seq.0.wrapping_sub(self.iss.0), self.snd_una)
    }

    pub(super) fn own_seq(&self, offset: u64) -> SeqNum {
        self.iss + offset as u32
    }

    pub(super) fn peer_seq(&self, offset: u64) -> SeqNum {
        self.irs.unwrap_or_default() + offset as u32
    }

    /// Offset of the end of the data the application wrote (where FIN goes).
    pub(super) fn data_end(&self) -> u64 {
        self.send_start + self.send.len() as u64
    }

    /// Offset just past the FIN, if the FIN is queued.
    pub(super) fn fin_offset(&self) -> Option<u64> {
        self.fin_queued.then(|| self.data_end())
    }

    /// TSval for a segment sent now: a millisecond clock (RFC 7323 §5.4 wants
    /// 1 ms to 1 s per tick), offset per connection.
    pub(super) fn ts_now(&self, now: Instant) -> u32 {
        ((now.as_micros() / 1_000) as u32).wrapping_add(self.ts_offset)
    }

    /// Time to the next zero-window probe: the RTO, doubled per unanswered probe,
    /// within the RTO ceiling.
    pub(super) fn persist_interval(&self) -> Duration {
        self.rtt
            .rto()
            .saturating_mul(1 << self.persist_backoff.min(10))
            .min(self.config.max_rto)
    }

    pub(super) fn arm_rto(&mut self, now: Instant) {
        self.rto_at = Some(now + self.rtt.rto());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7323_s2_3_window_shift_fits_the_buffer() {
        assert_eq!(window_shift(65535), 0);
        assert_eq!(window_shift(65536), 1);
        assert_eq!(window_shift(6 << 20), 7);
        assert_eq!(window_shift(usize::MAX), 14);
    }
}
