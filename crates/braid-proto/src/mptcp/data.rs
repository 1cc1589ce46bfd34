//! The connection-level (data-level) halves of RFC 8684 §3.3, independent of
//! subflows.
//!
//! - [`DataReceiver`] reassembles the data stream in data sequence number (DSN) space
//!   from the chunks every subflow's [`MappingReceiver`](super::mapping::MappingReceiver)
//!   hands up, computes the DATA_ACK (§3.3.2) and the connection-level receive window
//!   (§3.3.4), and tracks the DATA_FIN (§3.3.3).
//! - [`DataSender`] assigns DSNs to the bytes the application wrote, hands out DSN
//!   ranges for subflows to carry (the scheduler picks the subflow), queues ranges for
//!   reinjection on another subflow, and frees data as DATA_ACKs arrive.
//!
//! The first data byte has DSN IDSN + 1 (the IDSN itself stands for the SYN, §3.3.1),
//! so both sides work on `u64` offsets `dsn - (idsn + 1)` (wrapping) and convert back
//! at the API. A DSN whose offset is 2^63 or more is taken to lie before the stream's
//! start: 2^63 bytes are never sent on one connection.
//!
//! Memory is bounded: the receiver by its capacity and its cap on out-of-order ranges
//! ([`RecvBuffer`]), the sender by its capacity and [`DataSender::max_reinject_ranges`].
//! The sender's capacity starts at [`INITIAL_SEND_BUFFER`] and grows, by
//! [`DataSender::autotune`] or [`DataSender::grow_capacity`], up to the bound it was
//! made with.
//! Errors are [`DataError`] values; nothing here panics on peer input.

use std::collections::VecDeque;

use thiserror::Error;

use crate::tcp::recv_buffer::{InsertOutcome, RecvBuffer};
use crate::tcp::send_buffer::SendBuffer;
use crate::time::{Duration, Instant};

/// Default cap on ranges queued for reinjection.
pub const DEFAULT_MAX_REINJECT_RANGES: usize = 64;

/// The send buffer a [`DataSender`] starts with (or its bound, if smaller): the
/// initial windows of a few subflows, twice over (Linux starts a socket at tcp_wmem's
/// 16 KiB and at once expands it to twice the initial window of ten segments).
pub const INITIAL_SEND_BUFFER: usize = 64 * 1024;

/// Offsets at or above this are DSNs before the start of the stream.
const BEFORE_START: u64 = 1 << 63;

/// A data-level event the peer or the caller got wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DataError {
    /// Data at or beyond the DATA_FIN's DSN: the stream ended before it (§3.3.3).
    #[error("data up to DSN {end:#x} beyond the DATA_FIN at DSN {fin_dsn:#x}")]
    DataBeyondFin { end: u64, fin_dsn: u64 },
    /// A second DATA_FIN at another DSN.
    #[error("DATA_FIN at DSN {new:#x} conflicts with the one at DSN {old:#x}")]
    FinConflict { old: u64, new: u64 },
    /// A DATA_FIN below data already received.
    #[error("DATA_FIN at DSN {fin_dsn:#x} below data received up to DSN {received_end:#x}")]
    FinBeforeData { fin_dsn: u64, received_end: u64 },
}

/// Counters of what a [`DataReceiver`] dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataReceiverStats {
    /// Bytes already held when they arrived (e.g. the same data on two subflows).
    pub duplicate_bytes: u64,
    /// Bytes dropped because they lay beyond the receive buffer's reach.
    pub beyond_window_bytes: u64,
    /// Chunks dropped whole because the cap on out-of-order ranges was reached.
    pub range_limit_drops: u64,
}

/// Data-level reassembly: the receiving half of the connection's data stream.
#[derive(Debug, Clone)]
pub struct DataReceiver {
    /// DSN of offset 0: IDSN + 1.
    base: u64,
    buf: RecvBuffer,
    /// Offset of the DATA_FIN, once received.
    fin: Option<u64>,
    /// One past the highest offset ever stored.
    received_end: u64,
    stats: DataReceiverStats,
}

impl DataReceiver {
    /// A receiver for the peer's IDSN holding at most `capacity` bytes (in-order
    /// unread plus out-of-order), with the default cap on out-of-order ranges.
    pub fn new(peer_idsn: u64, capacity: usize) -> Self {
        Self::with_buffer(peer_idsn, RecvBuffer::new(capacity))
    }

    /// As [`new`](Self::new) with an explicit cap on out-of-order ranges.
    pub fn with_max_ranges(peer_idsn: u64, capacity: usize, max_ranges: usize) -> Self {
        Self::with_buffer(peer_idsn, RecvBuffer::with_max_ranges(capacity, max_ranges))
    }

    fn with_buffer(peer_idsn: u64, buf: RecvBuffer) -> Self {
        DataReceiver {
            base: peer_idsn.wrapping_add(1),
            buf,
            fin: None,
            received_end: 0,
            stats: DataReceiverStats::default(),
        }
    }

    fn dsn(&self, offset: u64) -> u64 {
        self.base.wrapping_add(offset)
    }

    /// Stores a chunk occupying DSNs `dsn..dsn + bytes.len()`, from any subflow.
    ///
    /// Chunks may overlap or repeat across subflows (§3.3.1 lets a sender carry the
    /// same data on several subflows); bytes already held are kept, so the first copy
    /// wins. Bytes below DATA_ACK are duplicates; bytes beyond the buffer's reach are
    /// dropped and counted. A chunk reaching past a DATA_FIN is refused whole.
    pub fn on_chunk(&mut self, dsn: u64, bytes: &[u8]) -> Result<InsertOutcome, DataError> {
        let mut offset = dsn.wrapping_sub(self.base);
        let mut bytes = bytes;
        if offset >= BEFORE_START {
            // Starts before the stream: the part before offset 0 is old.
            let skip = (offset.wrapping_neg()).min(bytes.len() as u64) as usize;
            self.stats.duplicate_bytes += skip as u64;
            bytes = &bytes[skip..];
            offset = 0;
        }
        if bytes.is_empty() {
            return Ok(InsertOutcome::default());
        }
        let end = offset.saturating_add(bytes.len() as u64);
        if let Some(fin) = self.fin {
            if end > fin {
                return Err(DataError::DataBeyondFin {
                    end: self.dsn(end),
                    fin_dsn: self.dsn(fin),
                });
            }
        }
        let out = self.buf.insert(offset, bytes);
        if out.dropped_range_limit {
            self.stats.range_limit_drops += 1;
        } else {
            self.stats.beyond_window_bytes += out.beyond_window as u64;
            self.stats.duplicate_bytes += (bytes.len() - out.stored - out.beyond_window) as u64;
            if out.stored > 0 {
                self.received_end = self.received_end.max(end - out.beyond_window as u64);
            }
        }
        Ok(out)
    }

    /// Records the DATA_FIN, which occupies DSN `dsn` (§3.3.3): the stream ends just
    /// before it. A repeat at the same DSN is harmless.
    pub fn on_data_fin(&mut self, dsn: u64) -> Result<(), DataError> {
        let offset = dsn.wrapping_sub(self.base);
        if let Some(old) = self.fin {
            if old != offset {
                return Err(DataError::FinConflict {
                    old: self.dsn(old),
                    new: dsn,
                });
            }
            return Ok(());
        }
        let received_end = self.received_end.max(self.buf.contiguous_end());
        if offset >= BEFORE_START || offset < received_end {
            return Err(DataError::FinBeforeData {
                fin_dsn: dsn,
                received_end: self.dsn(received_end),
            });
        }
        self.fin = Some(offset);
        Ok(())
    }

    /// Copies in-order bytes into `dst`, consuming them; returns how many.
    pub fn read(&mut self, dst: &mut [u8]) -> usize {
        self.buf.read(dst)
    }

    /// In-order bytes ready for [`read`](Self::read).
    pub fn readable(&self) -> usize {
        self.buf.readable()
    }

    /// The DATA_ACK to send: the next DSN expected (§3.3.2). Once every byte before
    /// the DATA_FIN has arrived, it covers the DATA_FIN's DSN too (§3.3.3).
    pub fn data_ack(&self) -> u64 {
        let next = self.buf.contiguous_end();
        let fin = u64::from(self.fin == Some(next));
        self.dsn(next).wrapping_add(fin)
    }

    /// The connection-level receive window: free buffer space, counted from
    /// [`data_ack`](Self::data_ack) and shared by all subflows (§3.3.4). As with TCP,
    /// the caller should not advertise a right edge left of one already advertised.
    pub fn window(&self) -> u64 {
        self.buf.window()
    }

    /// The DSN of the DATA_FIN, once received.
    pub fn data_fin_dsn(&self) -> Option<u64> {
        self.fin.map(|f| self.dsn(f))
    }

    /// Whether every byte up to the DATA_FIN has been received and read.
    pub fn is_finished(&self) -> bool {
        self.fin == Some(self.buf.read_offset())
    }

    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Bytes of memory allocated for data (at most the capacity).
    pub fn allocated(&self) -> usize {
        self.buf.allocated()
    }

    pub fn stats(&self) -> &DataReceiverStats {
        &self.stats
    }
}

/// What [`DataSender::on_data_ack`] did with a DATA_ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataAckVerdict {
    /// Accepted; `newly_acked` DSNs (the DATA_FIN's included) were acknowledged.
    Accepted { newly_acked: u64 },
    /// Below an earlier DATA_ACK (reordered across subflows): acknowledges nothing,
    /// but a right edge further right than any before moved the window.
    Stale,
    /// Beyond anything sent: ignored.
    BeyondSent,
}

/// Counters of DATA_ACKs a [`DataSender`] ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataSenderStats {
    pub stale_acks: u64,
    pub beyond_sent_acks: u64,
}

/// DSN assignment: the sending half of the connection's data stream.
#[derive(Debug, Clone)]
pub struct DataSender {
    /// DSN of offset 0: IDSN + 1.
    base: u64,
    buf: SendBuffer,
    /// Offset of the oldest unacknowledged byte: the buffer's front.
    una: u64,
    /// Offset of the next byte never handed out.
    next: u64,
    /// Offset of the right edge of the peer's window: DATA_ACK + window (§3.3.4).
    edge: u64,
    /// The largest window the peer has offered: what it advertises now shrinks with
    /// the data it holds out of order.
    largest_window: u64,
    /// New data stays this many bytes short of `edge` ([`Self::hold_back`]).
    held_back: u64,
    /// Ranges `[start, end)` of offsets to send again, oldest first.
    reinject: VecDeque<(u64, u64)>,
    max_reinject_ranges: usize,
    /// Whether the application closed: the DATA_FIN follows the last byte written.
    closed: bool,
    /// Whether the DATA_FIN was acknowledged.
    fin_acked: bool,
    /// The most the buffer may grow to: the configured send buffer.
    max_capacity: usize,
    /// Send auto-tuning: the measurement interval in progress (start, the subflows'
    /// delivered bytes then).
    tune_sample: Option<(Instant, u64)>,
    stats: DataSenderStats,
}

impl DataSender {
    /// A sender for the local IDSN that may buffer up to `max_capacity` bytes, with
    /// the peer's receive window as first advertised. It starts with
    /// [`INITIAL_SEND_BUFFER`] (at most `max_capacity`); [`autotune`](Self::autotune)
    /// or [`grow_capacity`](Self::grow_capacity) let it take more.
    pub fn new(local_idsn: u64, max_capacity: usize, initial_peer_window: u64) -> Self {
        DataSender {
            base: local_idsn.wrapping_add(1),
            buf: SendBuffer::new(max_capacity.min(INITIAL_SEND_BUFFER)),
            una: 0,
            next: 0,
            edge: initial_peer_window,
            largest_window: initial_peer_window,
            held_back: 0,
            reinject: VecDeque::new(),
            max_reinject_ranges: DEFAULT_MAX_REINJECT_RANGES,
            closed: false,
            fin_acked: false,
            max_capacity,
            tune_sample: None,
            stats: DataSenderStats::default(),
        }
    }

    /// Raises the buffer's capacity to `target`, never past the bound it was made
    /// with and never lowering it (so never below what is buffered). Returns the
    /// capacity.
    pub fn grow_capacity(&mut self, target: usize) -> usize {
        let target = target.min(self.max_capacity);
        if target > self.buf.capacity() {
            self.buf.set_capacity(target);
        }
        self.buf.capacity()
    }

    /// Send-buffer auto-tuning (after Linux's tcp_sndbuf_expand, across subflows).
    /// `delivered` is a running count of the bytes the subflows got acknowledged,
    /// summed over them; `rtt_max` the largest smoothed RTT of the usable ones. Once
    /// per `rtt_max`, the buffer grows to twice the bytes delivered per `rtt_max`
    /// during the interval, plus `headroom`: RTT_max × Σ of the subflows' delivery
    /// rates is what keeps every subflow busy while the slowest one's round trip
    /// holds the oldest bytes, and twice that lets their windows grow (Linux keeps
    /// twice the congestion window). While the buffer itself is the limit, about all
    /// of it is delivered per round trip, so it about doubles per round trip. It never
    /// shrinks. An interval in which `delivered` went down (a subflow went away)
    /// counts nothing.
    pub fn autotune(&mut self, now: Instant, rtt_max: Duration, delivered: u64, headroom: u64) {
        let Some((start, delivered_then)) = self.tune_sample else {
            self.tune_sample = Some((now, delivered));
            return;
        };
        let elapsed = now.saturating_duration_since(start);
        if elapsed < rtt_max || elapsed == Duration::ZERO {
            return;
        }
        let bytes = delivered.saturating_sub(delivered_then);
        let per_rtt =
            u128::from(bytes) * u128::from(rtt_max.as_micros()) / u128::from(elapsed.as_micros());
        let wanted = (2 * per_rtt).saturating_add(u128::from(headroom));
        self.grow_capacity(usize::try_from(wanted).unwrap_or(usize::MAX));
        self.tune_sample = Some((now, delivered));
    }

    /// Sets the cap on ranges queued for reinjection.
    pub fn set_max_reinject_ranges(&mut self, max: usize) {
        self.max_reinject_ranges = max.max(1);
    }

    pub fn max_reinject_ranges(&self) -> usize {
        self.max_reinject_ranges
    }

    fn dsn(&self, offset: u64) -> u64 {
        self.base.wrapping_add(offset)
    }

    /// Offset one past the last byte written.
    fn written_end(&self) -> u64 {
        self.una + self.buf.len() as u64
    }

    /// Appends as much of `data` as the buffer takes and returns how much. Returns 0
    /// after [`close`](Self::close).
    pub fn write(&mut self, data: &[u8]) -> usize {
        if self.closed {
            return 0;
        }
        self.buf.write(data)
    }

    /// Bytes [`write`](Self::write) would accept now.
    pub fn free(&self) -> usize {
        if self.closed {
            0
        } else {
            self.buf.free()
        }
    }

    /// The next DSN range `(dsn, len)` for a subflow to carry, at most `max_len` and
    /// `subflow_window_allows` bytes: first any range queued by
    /// [`reinject`](Self::reinject), then new data within the peer's connection-level
    /// window (§3.3.4). `None` when there is nothing to send.
    pub fn next_chunk(
        &mut self,
        max_len: usize,
        subflow_window_allows: usize,
    ) -> Option<(u64, usize)> {
        let limit = max_len.min(subflow_window_allows) as u64;
        if limit == 0 {
            return None;
        }
        while let Some((start, end)) = self.reinject.pop_front() {
            let start = start.max(self.una);
            if start >= end {
                continue;
            }
            let len = (end - start).min(limit);
            if start + len < end {
                self.reinject.push_front((start + len, end));
            }
            return Some((self.dsn(start), len as usize));
        }
        let room = self
            .edge
            .saturating_sub(self.held_back)
            .saturating_sub(self.next);
        let len = (self.written_end() - self.next).min(room).min(limit);
        if len == 0 {
            return None;
        }
        let start = self.next;
        self.next += len;
        Some((self.dsn(start), len as usize))
    }

    /// One new byte beyond the peer's closed window, to probe it (RFC 9293 §3.8.6.1
    /// at the data level): when nothing is outstanding and the window is shut, no
    /// DATA_ACK will come to reopen it if the peer's window update was lost. The
    /// subflow carrying it probes as TCP does for a zero window; the byte goes
    /// through once the window opens, or the data-level timer sends it again.
    /// `None` unless the window is closed, nothing is outstanding, and data waits.
    pub fn window_probe(&mut self) -> Option<(u64, usize)> {
        let waiting = self.next < self.written_end();
        let shut = self.edge <= self.next;
        if !(waiting && shut && self.una == self.next) {
            return None;
        }
        let start = self.next;
        self.next += 1;
        Some((self.dsn(start), 1))
    }

    /// Keeps new data `bytes` short of the peer's window's right edge (0: use all of
    /// it); data queued to be sent again is not held back.
    pub fn hold_back(&mut self, bytes: u64) {
        self.held_back = bytes;
    }

    /// Queues DSNs `dsn..dsn + len` to be sent again, e.g. on another subflow when the
    /// one that carried them failed. Only data handed out and not yet acknowledged is
    /// queued; the rest is ignored. Returns the bytes queued.
    pub fn reinject(&mut self, dsn: u64, len: u64) -> u64 {
        let offset = dsn.wrapping_sub(self.base);
        if offset >= BEFORE_START {
            return 0;
        }
        let start = offset.max(self.una);
        let end = offset.saturating_add(len).min(self.next);
        if start >= end {
            return 0;
        }
        if let Some(last) = self.reinject.back_mut() {
            if last.1 == start {
                last.1 = end;
                return end - start;
            }
        }
        if self.reinject.len() >= self.max_reinject_ranges {
            // Full: widen the newest range to cover this one too rather than drop
            // it. Bytes in between go out again (the peer discards duplicates);
            // none is left to the data-level timer.
            let last = self.reinject.back_mut().expect("the limit is at least 1");
            let before = last.1 - last.0;
            last.0 = last.0.min(start);
            last.1 = last.1.max(end);
            return (last.1 - last.0).saturating_sub(before);
        }
        self.reinject.push_back((start, end));
        end - start
    }

    /// Bytes queued for reinjection.
    pub fn reinject_pending(&self) -> u64 {
        self.reinject
            .iter()
            .map(|&(s, e)| e.saturating_sub(s.max(self.una)))
            .sum()
    }

    /// The payload of DSNs `dsn..dsn + len`, as one or two slices, to copy into a
    /// segment carrying that mapping. Empty for data acknowledged or never written.
    pub fn bytes(&self, dsn: u64, len: usize) -> (&[u8], &[u8]) {
        let offset = dsn.wrapping_sub(self.base);
        if offset < self.una || offset >= BEFORE_START {
            return (&[], &[]);
        }
        let Ok(rel) = usize::try_from(offset - self.una) else {
            return (&[], &[]);
        };
        self.buf.slices(rel, len)
    }

    /// Handles a DATA_ACK and the window that came with it (§3.3.2, §3.3.4). Frees the
    /// acknowledged data and moves the window's right edge to DATA_ACK + window, never
    /// left: DATA_ACKs on different subflows may arrive reordered. A DATA_ACK below an
    /// earlier one acknowledges nothing, but its right edge still counts; one beyond
    /// anything sent is ignored.
    pub fn on_data_ack(&mut self, data_ack: u64, peer_window: u64) -> DataAckVerdict {
        let offset = data_ack.wrapping_sub(self.base);
        let fin_sent = self.data_fin_ready();
        let acked_end = self.una + u64::from(self.fin_acked);
        // Offsets of 2^63 or more are DSNs before the stream, hence behind DATA_ACK.
        if offset >= BEFORE_START {
            self.stats.stale_acks += 1;
            return DataAckVerdict::Stale;
        }
        if offset < self.una {
            // RFC 8684 §3.3.5: the sender updates its window whenever DATA_ACK +
            // window grows, whichever DATA_ACK it came with. A subflow with a
            // longer RTT delivers older DATA_ACKs carrying windows offered later.
            self.stats.stale_acks += 1;
            self.move_edge(offset.saturating_add(peer_window));
            return DataAckVerdict::Stale;
        }
        if offset > self.next + u64::from(fin_sent) {
            self.stats.beyond_sent_acks += 1;
            return DataAckVerdict::BeyondSent;
        }
        let data_end = offset.min(self.next);
        let acked = data_end - self.una;
        self.buf.ack(acked as usize);
        self.una = data_end;
        if fin_sent && offset > self.next {
            self.fin_acked = true;
        }
        self.reinject.retain(|&(_, e)| e > data_end);
        self.move_edge(offset.saturating_add(peer_window));
        DataAckVerdict::Accepted {
            newly_acked: self.una + u64::from(self.fin_acked) - acked_end,
        }
    }

    /// Moves the right edge of the peer's window to `edge` if that is further right:
    /// it never moves left (§3.3.5), since a smaller window on one subflow may only
    /// be older news than a larger one seen on another.
    fn move_edge(&mut self, edge: u64) {
        self.edge = self.edge.max(edge);
        self.largest_window = self.largest_window.max(self.edge - self.una);
    }

    /// Closes the stream: a DATA_FIN follows the last byte written and takes one DSN
    /// (§3.3.3).
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// The DSN of the DATA_FIN, once [`close`](Self::close) was called.
    pub fn data_fin_dsn(&self) -> Option<u64> {
        self.closed.then(|| self.dsn(self.written_end()))
    }

    /// Whether the DATA_FIN may be sent now: closed, and every byte before it handed
    /// out. From then on a DATA_ACK may cover it.
    pub fn data_fin_ready(&self) -> bool {
        self.closed && self.next == self.written_end()
    }

    /// Whether everything written (and the DATA_FIN, if closed) was acknowledged.
    pub fn all_acked(&self) -> bool {
        self.buf.is_empty() && (!self.closed || self.fin_acked)
    }

    /// The DSN of the oldest unacknowledged byte.
    pub fn data_una(&self) -> u64 {
        self.dsn(self.una)
    }

    /// The DSN of the next byte never handed out.
    pub fn data_nxt(&self) -> u64 {
        self.dsn(self.next)
    }

    /// The DSN just past the peer's connection-level window.
    pub fn window_edge(&self) -> u64 {
        self.dsn(self.edge)
    }

    /// The largest window the peer has offered (right edge less DATA_ACK).
    pub fn largest_window(&self) -> u64 {
        self.largest_window
    }

    /// Bytes buffered: written and not yet acknowledged.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The buffer's current size: what [`write`](Self::write) may fill.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The most [`capacity`](Self::capacity) may grow to.
    pub fn max_capacity(&self) -> usize {
        self.max_capacity
    }

    pub fn stats(&self) -> &DataSenderStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests;
