//! The connection's data level as one part: the sending and receiving halves of the
//! data stream ([`DataSender`], [`DataReceiver`]), the connection-level receive
//! window offered to the peer (§3.3.4) and its auto-tuning, the data-level
//! retransmission timer (§3.3.6), and when the DATA_FIN last went out (§3.3.3).

use crate::mptcp::data::{DataReceiver, DataSender};
use crate::mptcp::mapping::Delivery;
use crate::mptcp::stats::MptcpStats;
use crate::time::{Duration, Instant};

/// Scratch space for moving subflow bytes to the data level: one read of a
/// subflow's receive buffer at a time.
const DRAIN_CHUNK: usize = 64 * 1024;

/// Expiries of the data-level timer without progress that double its interval;
/// beyond, it stays at that multiple.
const DATA_TIMER_MAX_BACKOFF: u32 = 6;

/// The longest interval of the data-level timer, as TCP's RTO is bounded (RFC 6298
/// §2.5 allows a maximum of at least 60 s).
const DATA_TIMER_MAX: Duration = Duration::from_secs(60);

/// The data-level retransmission timer (§3.3.6): when DATA_ACK stops moving, the
/// oldest unacknowledged data goes out again with a new mapping, so a mapping lost
/// in the network or a subflow that silently stopped cannot stall the connection.
#[derive(Debug, Clone, Default)]
struct DataTimer {
    at: Option<Instant>,
    backoff: u32,
    /// DATA_ACK when the timer was last armed.
    una_seen: u64,
}

impl DataTimer {
    /// The interval: twice `base` (the largest RTO of the usable subflows, so that
    /// their own recovery goes first), doubled per expiry without progress.
    fn interval(&self, base: Duration) -> Duration {
        let backoff = 1u64 << self.backoff.min(DATA_TIMER_MAX_BACKOFF);
        Duration::from_micros((2 * base.as_micros() * backoff).min(DATA_TIMER_MAX.as_micros()))
    }
}

/// What handing a subflow's bytes to the data level ran into.
#[derive(Debug, Default)]
pub(crate) struct DeliveryOutcome {
    /// A mapping's checksum failed at this DSN.
    pub checksum_failed_at: Option<u64>,
    /// The peer's infinite mapping took effect (§3.7).
    pub infinite_mapping: bool,
    /// It started past the data received: the bytes between would never come.
    pub infinite_mapping_gap: bool,
    pub protocol_error: bool,
}

impl DeliveryOutcome {
    /// Adds what a later delivery ran into; the first checksum failure counts.
    pub(crate) fn merge(&mut self, later: DeliveryOutcome) {
        self.checksum_failed_at = self.checksum_failed_at.or(later.checksum_failed_at);
        self.infinite_mapping |= later.infinite_mapping;
        self.infinite_mapping_gap |= later.infinite_mapping_gap;
        self.protocol_error |= later.protocol_error;
    }
}

/// Where the data-level chunks of one subflow go: the receiver, and counters.
pub(crate) struct DeliverySink<'a> {
    receiver: &'a mut DataReceiver,
    stats: &'a mut MptcpStats,
    pub outcome: DeliveryOutcome,
}

impl<'a> DeliverySink<'a> {
    pub(crate) fn new(receiver: &'a mut DataReceiver, stats: &'a mut MptcpStats) -> Self {
        DeliverySink {
            receiver,
            stats,
            outcome: DeliveryOutcome::default(),
        }
    }

    pub(crate) fn accept(&mut self, delivery: Delivery<'_>) {
        match delivery {
            Delivery::Data { dsn, bytes } => {
                if self.receiver.on_chunk(dsn, bytes).is_err() {
                    self.outcome.protocol_error = true;
                }
            }
            Delivery::DataFin { dsn } => {
                if self.receiver.on_data_fin(dsn).is_err() {
                    self.outcome.protocol_error = true;
                }
            }
            Delivery::ChecksumFailed { dsn, .. } => {
                self.stats.checksum_failures += 1;
                self.outcome.checksum_failed_at.get_or_insert(dsn);
            }
            Delivery::Fallback { dsn, .. } => {
                // §3.7: the stream continues as plain TCP from `dsn`. Bytes before the
                // data received so far are duplicates (dropped); past it, a gap that
                // nothing would ever fill.
                self.stats.infinite_mappings_received += 1;
                self.outcome.infinite_mapping = true;
                let ahead = dsn.wrapping_sub(self.receiver.data_ack());
                self.outcome.infinite_mapping_gap |= ahead != 0 && ahead < 1 << 63;
            }
            Delivery::Discarded { .. } => {}
        }
    }
}

/// The data level of one connection.
#[derive(Debug)]
pub(crate) struct DataLevel {
    pub sender: DataSender,
    pub receiver: DataReceiver,
    /// The window the peer may use: the receive buffer, or less while auto-tuning
    /// grows it; and the auto-tuning interval in progress (start, DATA_ACK then).
    rcv_target: u64,
    rcv_sample: Option<(Instant, u64)>,
    timer: DataTimer,
    /// When the DATA_FIN was last put on a segment, and how often it was sent again
    /// since (its retransmission backs off).
    data_fin_sent_at: Option<Instant>,
    data_fin_retries: u32,
    /// When our DATA_FIN first went out (resends do not move it).
    data_fin_first_sent_at: Option<Instant>,
    /// Allocated on first use.
    scratch: Vec<u8>,
}

impl DataLevel {
    pub(crate) fn new(sender: DataSender, receiver: DataReceiver, rcv_target: u64) -> Self {
        DataLevel {
            sender,
            receiver,
            rcv_target,
            rcv_sample: None,
            timer: DataTimer::default(),
            data_fin_sent_at: None,
            data_fin_retries: 0,
            data_fin_first_sent_at: None,
            scratch: Vec::new(),
        }
    }

    /// Scratch space for draining a subflow, returned with
    /// [`put_scratch`](Self::put_scratch).
    pub(crate) fn take_scratch(&mut self) -> Vec<u8> {
        let mut scratch = std::mem::take(&mut self.scratch);
        if scratch.is_empty() {
            scratch.resize(DRAIN_CHUNK, 0);
        }
        scratch
    }

    pub(crate) fn put_scratch(&mut self, scratch: Vec<u8>) {
        self.scratch = scratch;
    }

    /// The connection-level receive window: the free buffer space, as if the buffer
    /// were only as large as the auto-tuned target.
    pub(crate) fn window_to_advertise(&self) -> u64 {
        let unused = (self.receiver.capacity() as u64).saturating_sub(self.rcv_target);
        self.receiver.window().saturating_sub(unused)
    }

    /// Reads in-order data for the application. Returns the bytes read and whether
    /// the peer should hear of the space freed: when the window it knows has fallen
    /// to half the (auto-tuned) buffer or less and reading doubled it, as the
    /// subflows do for TCP.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> (usize, bool) {
        let before = self.window_to_advertise();
        let n = self.receiver.read(buf);
        let largest = self.rcv_target.min(self.receiver.capacity() as u64);
        let update =
            n > 0 && 2 * before <= largest && self.window_to_advertise() >= 2 * before.max(1);
        (n, update)
    }

    /// The whole receive buffer is offered: no auto-tuning.
    pub(crate) fn offer_whole_buffer(&mut self) {
        self.rcv_target = self.receiver.capacity() as u64;
    }

    /// Receive-window auto-tuning across subflows (after Linux's dynamic
    /// right-sizing): every `rtt_max` (the largest RTT the receiving subflows
    /// measure), the window grows to twice what arrived in order during it, plus
    /// `headroom`, never shrinking and never past the buffer. Twice RTT_max × the
    /// rate keeps every path busy while the slow one's data is still on its way.
    pub(crate) fn autotune_receive(&mut self, now: Instant, rtt_max: Duration, headroom: u64) {
        let ack = self.receiver.data_ack();
        let Some((start, ack_then)) = self.rcv_sample else {
            self.rcv_sample = Some((now, ack));
            return;
        };
        if now < start + rtt_max {
            return;
        }
        let delivered = ack.wrapping_sub(ack_then);
        let wanted = 2 * delivered + headroom;
        let capacity = self.receiver.capacity() as u64;
        if wanted > self.rcv_target {
            self.rcv_target = wanted.min(capacity);
        }
        self.rcv_sample = Some((now, ack));
    }

    /// Whether data is outstanding: handed to subflows and not DATA_ACKed.
    pub(crate) fn outstanding(&self) -> bool {
        self.sender.data_una() != self.sender.data_nxt()
    }

    /// Keeps the data-level timer running while data is outstanding and `running`
    /// (MPTCP established, not closed), restarting it whenever DATA_ACK moves;
    /// `rto_base` is the largest RTO of the usable subflows.
    pub(crate) fn arm_timer(&mut self, now: Instant, running: bool, rto_base: Duration) {
        let una = self.sender.data_una();
        if !running || !self.outstanding() {
            self.timer.at = None;
            self.timer.backoff = 0;
            return;
        }
        if una != self.timer.una_seen || self.timer.at.is_none() {
            if una != self.timer.una_seen {
                self.timer.backoff = 0;
            }
            self.timer.una_seen = una;
            self.timer.at = Some(now + self.timer.interval(rto_base));
        }
    }

    pub(crate) fn timer_at(&self) -> Option<Instant> {
        self.timer.at
    }

    /// The data-level timer fired: up to `len` bytes from the oldest unacknowledged
    /// one are queued to be mapped again, onto whichever subflow the scheduler
    /// picks. Returns the bytes queued.
    pub(crate) fn on_timer(&mut self, now: Instant, len: u64, rto_base: Duration) -> u64 {
        let una = self.sender.data_una();
        let queued = self.sender.reinject(una, len);
        self.timer.backoff += 1;
        self.timer.at = Some(now + self.timer.interval(rto_base));
        queued
    }

    /// The DSN of our DATA_FIN while it is owed to the peer: the application closed,
    /// every byte before it went out, and it is not acknowledged.
    pub(crate) fn data_fin_owed(&self) -> Option<u64> {
        self.sender
            .data_fin_dsn()
            .filter(|_| self.sender.data_fin_ready() && !self.sender.all_acked())
    }

    pub(crate) fn data_fin_sent_at(&self) -> Option<Instant> {
        self.data_fin_sent_at
    }

    /// The DATA_FIN went out on a segment at `now` (only its first sending counts
    /// until [`resend_data_fin`](Self::resend_data_fin)).
    pub(crate) fn data_fin_sent(&mut self, now: Instant) {
        self.data_fin_sent_at.get_or_insert(now);
        self.data_fin_first_sent_at.get_or_insert(now);
    }

    /// When our DATA_FIN, still unacknowledged, is given up: `timeout` after it
    /// first went out.
    pub(crate) fn data_fin_give_up_at(&self, timeout: Duration) -> Option<Instant> {
        self.data_fin_owed()?;
        Some(self.data_fin_first_sent_at? + timeout)
    }

    /// The DATA_FIN is to be sent again.
    pub(crate) fn resend_data_fin(&mut self) {
        if self.data_fin_sent_at.take().is_some() {
            self.data_fin_retries += 1;
        }
    }

    /// When an unacknowledged DATA_FIN is sent again: `rto` after it was last sent,
    /// doubled per retransmission (as the data-level timer backs off).
    pub(crate) fn data_fin_retry_at(&self, rto: Option<Duration>) -> Option<Instant> {
        let sent = self.data_fin_sent_at?;
        self.data_fin_owed()?;
        let backoff = 1u64 << self.data_fin_retries.min(DATA_TIMER_MAX_BACKOFF);
        let interval =
            Duration::from_micros((rto?.as_micros() * backoff).min(DATA_TIMER_MAX.as_micros()));
        Some(sent + interval)
    }

    /// The peer's DATA_FIN arrived and every byte before it.
    pub(crate) fn peer_finished(&self) -> bool {
        self.receiver
            .data_fin_dsn()
            .is_some_and(|fin| self.receiver.data_ack() == fin.wrapping_add(1))
    }

    /// Our DATA_FIN was sent and acknowledged.
    pub(crate) fn we_finished(&self) -> bool {
        self.sender.data_fin_dsn().is_some() && self.sender.all_acked()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(window: u64) -> DataLevel {
        let sender = DataSender::new(100, 1 << 20, window);
        let receiver = DataReceiver::new(200, 1 << 20);
        DataLevel::new(sender, receiver, 1 << 20)
    }

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn rfc8684_s3_3_6_the_data_level_timer_runs_while_data_is_outstanding() {
        let mut d = level(1 << 20);
        let rto = Duration::from_millis(200);
        d.arm_timer(at(0), true, rto);
        assert_eq!(d.timer_at(), None, "nothing outstanding");
        d.sender.write(&[7; 3000]);
        d.sender.next_chunk(3000, usize::MAX);
        d.arm_timer(at(10), true, rto);
        assert_eq!(d.timer_at(), Some(at(410)), "twice the subflows' RTO");
        d.arm_timer(at(20), true, rto);
        assert_eq!(
            d.timer_at(),
            Some(at(410)),
            "not restarted without progress"
        );
        assert_eq!(d.on_timer(at(410), 1000, rto), 1000);
        assert_eq!(d.timer_at(), Some(at(1210)), "backed off");
        d.sender.on_data_ack(101 + 1000, 1 << 20);
        d.arm_timer(at(500), true, rto);
        assert_eq!(d.timer_at(), Some(at(900)), "DATA_ACK moved: restarted");
        d.arm_timer(at(600), false, rto);
        assert_eq!(d.timer_at(), None, "stopped when not running");
    }

    #[test]
    fn the_data_level_timer_backs_off_to_a_bound() {
        let mut t = DataTimer::default();
        let base = Duration::from_secs(1);
        assert_eq!(t.interval(base), Duration::from_secs(2));
        t.backoff = 3;
        assert_eq!(t.interval(base), Duration::from_secs(16));
        t.backoff = 40;
        assert_eq!(t.interval(base), DATA_TIMER_MAX);
    }

    #[test]
    fn rfc8684_s3_3_3_the_data_fin_is_owed_until_acknowledged_and_retried_after_an_rto() {
        let mut d = level(1 << 20);
        d.sender.write(&[1; 10]);
        d.sender.close();
        assert_eq!(d.data_fin_owed(), None, "data before it not sent yet");
        d.sender.next_chunk(10, usize::MAX);
        let fin = d.data_fin_owed().expect("owed once the data went out");
        assert_eq!(fin, 101 + 10);
        let rto = Some(Duration::from_millis(300));
        assert_eq!(d.data_fin_retry_at(rto), None, "not sent yet");
        d.data_fin_sent(at(5));
        d.data_fin_sent(at(7));
        assert_eq!(d.data_fin_retry_at(rto), Some(at(305)));
        d.sender.on_data_ack(fin + 1, 1 << 20);
        assert_eq!(d.data_fin_owed(), None);
        assert!(d.we_finished());
        assert_eq!(d.data_fin_retry_at(rto), None);
    }

    #[test]
    fn rfc8684_s3_3_4_reading_announces_space_once_the_window_had_halved() {
        let sender = DataSender::new(100, 1 << 20, 1 << 20);
        let mut d = DataLevel::new(sender, DataReceiver::new(200, 4000), 4000);
        d.receiver.on_chunk(201, &[0; 3000]).unwrap();
        let mut buf = [0; 500];
        // 1000 free of 4000: reading 500 does not double it.
        assert_eq!(d.read(&mut buf), (500, false));
        let mut buf = [0; 2500];
        assert_eq!(d.read(&mut buf), (2500, true));
    }

    #[test]
    fn receive_auto_tuning_grows_to_twice_a_round_trip_of_data() {
        let sender = DataSender::new(100, 1 << 20, 1 << 20);
        let mut d = DataLevel::new(sender, DataReceiver::new(200, 1 << 20), 64 * 1024);
        let rtt = Duration::from_millis(50);
        d.autotune_receive(at(0), rtt, 1000);
        d.receiver.on_chunk(201, &[0; 60_000]).unwrap();
        d.autotune_receive(at(49), rtt, 1000);
        assert_eq!(
            d.window_to_advertise(),
            64 * 1024 - 60_000,
            "not a round trip yet"
        );
        d.autotune_receive(at(50), rtt, 1000);
        assert_eq!(d.window_to_advertise(), 121_000 - 60_000);
    }
}
