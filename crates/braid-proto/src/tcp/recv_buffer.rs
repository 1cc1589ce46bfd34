//! The receiver's buffer: in-order data the application has not read, and the
//! out-of-order data held for reassembly.
//!
//! Offsets are `u64` from the start of the stream (offset 0 is the byte after the
//! SYN); the caller maps sequence numbers to offsets and back. Every byte held lies in
//! `[read_offset, read_offset + capacity)` and is stored at its place in one ring, so
//! memory is bounded by the capacity, out-of-order bytes are copied once, and filling
//! a hole makes everything behind it readable without moving it. The ranges of
//! out-of-order data are kept apart, in a map capped at `max_ranges` entries so that a
//! flood of tiny segments cannot grow it.
//!
//! Advertised window. [`window`](RecvBuffer::window) is the free space: capacity
//! minus everything held. The caller must not move the advertised right edge
//! left (RFC 9293 §3.8.6: shrinking the window "is strongly discouraged"), so it
//! advertises `max(window(), old_right_edge - rcv_nxt)`; the buffer accepts data up to
//! `read_offset + capacity`, which is never left of any edge so advertised unless the
//! capacity was reduced.

use std::collections::BTreeMap;

use super::ring::{Ring, MIN_ALLOC};

/// Default cap on distinct out-of-order ranges. Linux keeps no count but charges each
/// queued segment its buffer overhead; a count is simpler and as effective.
pub const DEFAULT_MAX_RANGES: usize = 64;

/// What [`RecvBuffer::insert`] did with a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InsertOutcome {
    /// Bytes that became readable (in order): RCV.NXT advances by this much.
    pub newly_readable: usize,
    /// Bytes not held before, in order or not. Zero means the segment brought nothing.
    pub stored: usize,
    /// The first stretch of the segment that was already held (below RCV.NXT or in the
    /// out-of-order data), for a D-SACK block (RFC 2883 §4).
    pub duplicate: Option<(u64, u64)>,
    /// Bytes cut off because they lay beyond `read_offset + capacity`.
    pub beyond_window: usize,
    /// The segment would have started a new out-of-order range while `max_ranges` were
    /// already held, so it was dropped whole. The peer will retransmit it.
    pub dropped_range_limit: bool,
}

#[derive(Debug, Clone, Copy)]
struct OutOfOrder {
    end: u64,
    /// When data last arrived in this range: orders SACK blocks (RFC 2018 §4).
    stamp: u64,
}

#[derive(Debug, Clone)]
pub struct RecvBuffer {
    ring: Ring,
    /// Offset of ring position 0: the next byte the application reads.
    read_offset: u64,
    /// In-order bytes not yet read: `contiguous_end() - read_offset`.
    unread: usize,
    /// Out-of-order ranges, keyed by start: each starts after `contiguous_end()`, and
    /// no two overlap or touch.
    ranges: BTreeMap<u64, OutOfOrder>,
    ooo_bytes: usize,
    capacity: usize,
    max_ranges: usize,
    next_stamp: u64,
}

impl RecvBuffer {
    /// An empty buffer at offset 0, holding at most `capacity` bytes and
    /// [`DEFAULT_MAX_RANGES`] out-of-order ranges. Allocates nothing yet.
    pub fn new(capacity: usize) -> Self {
        RecvBuffer::with_max_ranges(capacity, DEFAULT_MAX_RANGES)
    }

    /// As [`new`](Self::new), with an explicit cap on out-of-order ranges (0 disables
    /// out-of-order queueing: only in-order data is kept).
    pub fn with_max_ranges(capacity: usize, max_ranges: usize) -> Self {
        RecvBuffer {
            ring: Ring::default(),
            read_offset: 0,
            unread: 0,
            ranges: BTreeMap::new(),
            ooo_bytes: 0,
            capacity,
            max_ranges,
            next_stamp: 0,
        }
    }

    /// Stores a segment's payload that starts at stream offset `offset`.
    ///
    /// Bytes below [`contiguous_end`](Self::contiguous_end) are duplicates and are
    /// dropped, as are bytes at or beyond `read_offset + capacity` (RFC 9293 §3.10.7.4:
    /// "Segments with higher beginning sequence numbers SHOULD be held for later
    /// processing", and only within the window). What is left is stored once, where
    /// it belongs; bytes already held out of order are kept, not overwritten.
    pub fn insert(&mut self, offset: u64, data: &[u8]) -> InsertOutcome {
        let mut out = InsertOutcome::default();
        let seg_end = offset.saturating_add(data.len() as u64);
        let rcv_nxt = self.contiguous_end();
        let win_end = self.read_offset.saturating_add(self.capacity as u64);
        if offset < rcv_nxt && seg_end > offset {
            out.duplicate = Some((offset, seg_end.min(rcv_nxt)));
        }
        out.beyond_window = seg_end.saturating_sub(win_end.max(offset)) as usize;
        let start = offset.max(rcv_nxt);
        let end = seg_end.min(win_end);
        if start >= end {
            return out;
        }

        // Out-of-order ranges overlapping or touching [start, end), in order.
        let mut touching: Vec<(u64, u64)> = self
            .ranges
            .range(..=end)
            .rev()
            .take_while(|(_, r)| r.end >= start)
            .map(|(&s, r)| (s, r.end))
            .collect();
        touching.reverse();
        if touching.is_empty() && start > rcv_nxt && self.ranges.len() >= self.max_ranges {
            out.dropped_range_limit = true;
            return out;
        }

        let extent = self.extent();
        self.ring.reserve(
            (end - self.read_offset) as usize,
            extent,
            self.capacity.max(extent),
        );
        // Copy only into the gaps between held ranges.
        let mut cursor = start;
        for &(s, e) in touching.iter().chain([(end, end)].iter()) {
            if s > cursor {
                let gap = &data[(cursor - offset) as usize..(s.min(end) - offset) as usize];
                self.ring
                    .write_at((cursor - self.read_offset) as usize, gap);
                out.stored += gap.len();
            }
            if out.duplicate.is_none() && s < end && e > start {
                out.duplicate = Some((s.max(start), e.min(end)));
            }
            cursor = cursor.max(e);
        }

        // Merge into one range; it holds the newest segment (RFC 2018 §4).
        let merged_start = touching.first().map_or(start, |&(s, _)| s.min(start));
        let merged_end = touching.last().map_or(end, |&(_, e)| e.max(end));
        for (s, _) in &touching {
            self.ranges.remove(s);
        }
        self.ooo_bytes += out.stored;
        if merged_start == rcv_nxt {
            // RFC 9293 §3.10.7.4: the receiver "advances RCV.NXT over the data
            // accepted", here the segment and the out-of-order data it makes contiguous.
            let n = (merged_end - merged_start) as usize;
            self.ooo_bytes -= n;
            self.unread += n;
            out.newly_readable = n;
        } else {
            self.next_stamp += 1;
            self.ranges.insert(
                merged_start,
                OutOfOrder {
                    end: merged_end,
                    stamp: self.next_stamp,
                },
            );
        }
        out
    }

    /// Copies readable bytes into `dst`, consuming them; returns how many.
    pub fn read(&mut self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.unread);
        if n == 0 {
            return 0;
        }
        self.ring.copy_out(0, &mut dst[..n]);
        self.ring.advance(n);
        self.read_offset += n as u64;
        self.unread -= n;
        if self.extent() == 0 {
            self.ring.reset_head();
        }
        self.release_excess();
        n
    }

    /// In-order bytes ready for [`read`](Self::read).
    pub fn readable(&self) -> usize {
        self.unread
    }

    /// The next in-order offset expected: RCV.NXT, relative.
    pub fn contiguous_end(&self) -> u64 {
        self.read_offset + self.unread as u64
    }

    /// The offset of the next byte [`read`](Self::read) returns.
    pub fn read_offset(&self) -> u64 {
        self.read_offset
    }

    /// Free space: capacity minus in-order unread and out-of-order bytes. The basis
    /// of the advertised window (see the module documentation on shrinking).
    pub fn window(&self) -> u64 {
        self.capacity.saturating_sub(self.unread + self.ooo_bytes) as u64
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn max_ranges(&self) -> usize {
        self.max_ranges
    }

    /// Bytes of memory allocated for data: at most the capacity, except after the
    /// capacity was lowered below the unread in-order bytes, until they are read.
    pub fn allocated(&self) -> usize {
        self.ring.allocated()
    }

    /// Changes the capacity (receive-buffer auto-tuning). In-order data is never
    /// dropped, as it has been acknowledged. Out-of-order data beyond the new
    /// `read_offset + capacity` is dropped, which reneges on any SACK sent for it
    /// (RFC 2018 §8 allows it; the sender keeps such data until cumulatively
    /// acknowledged). Returns the out-of-order bytes dropped.
    pub fn set_capacity(&mut self, capacity: usize) -> usize {
        self.capacity = capacity;
        let limit = self.read_offset.saturating_add(capacity as u64);
        let mut dropped = 0;
        while let Some(mut last) = self.ranges.last_entry() {
            let start = *last.key();
            let end = last.get().end;
            if end <= limit {
                break;
            }
            if start >= limit {
                dropped += (end - start) as usize;
                last.remove();
            } else {
                dropped += (end - limit) as usize;
                last.get_mut().end = limit;
            }
        }
        self.ooo_bytes -= dropped;
        self.release_excess();
        dropped
    }

    /// After the capacity was lowered, gives back the storage beyond it once the data
    /// held fits: one reallocation per shrink.
    fn release_excess(&mut self) {
        let extent = self.extent();
        if extent <= self.capacity && self.ring.allocated() > self.capacity {
            let size = extent.max(self.capacity.min(MIN_ALLOC));
            self.ring.resize(size, extent);
        }
    }

    pub fn has_out_of_order(&self) -> bool {
        !self.ranges.is_empty()
    }

    /// Out-of-order bytes held.
    pub fn out_of_order_bytes(&self) -> usize {
        self.ooo_bytes
    }

    /// Distinct out-of-order ranges held.
    pub fn out_of_order_ranges(&self) -> usize {
        self.ranges.len()
    }

    /// Up to `max` out-of-order ranges `(start, end)` for SACK blocks, most recent
    /// first. RFC 2018 §4: "The first SACK block ... MUST specify the contiguous block
    /// of data containing the segment which triggered this ACK, unless that segment
    /// advanced the Acknowledgment Number field in the header", and the rest repeat
    /// "the most recently reported SACK blocks". Recency here is when data last
    /// arrived in a range, as Linux orders them. No allocation; O(max × ranges).
    pub fn sack_blocks(&self, max: usize) -> SackBlockIter<'_> {
        SackBlockIter {
            ranges: &self.ranges,
            below: u64::MAX,
            remaining: max,
        }
    }

    /// Bytes from ring position 0 that must survive a reallocation.
    fn extent(&self) -> usize {
        match self.ranges.last_key_value() {
            Some((_, r)) => (r.end - self.read_offset) as usize,
            None => self.unread,
        }
    }
}

/// Out-of-order ranges in decreasing recency; see [`RecvBuffer::sack_blocks`].
#[derive(Debug, Clone)]
pub struct SackBlockIter<'a> {
    ranges: &'a BTreeMap<u64, OutOfOrder>,
    /// Stamps are unique; the next block is the newest strictly older than this.
    below: u64,
    remaining: usize,
}

impl Iterator for SackBlockIter<'_> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        if self.remaining == 0 {
            return None;
        }
        let (start, r) = self
            .ranges
            .iter()
            .filter(|(_, r)| r.stamp < self.below)
            .max_by_key(|(_, r)| r.stamp)?;
        self.below = r.stamp;
        self.remaining -= 1;
        Some((*start, r.end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(range: std::ops::Range<u64>) -> Vec<u8> {
        range.map(|i| (i % 251) as u8).collect()
    }

    fn insert(b: &mut RecvBuffer, range: std::ops::Range<u64>) -> InsertOutcome {
        b.insert(range.start, &bytes(range))
    }

    fn read_all(b: &mut RecvBuffer) -> Vec<u8> {
        let mut out = vec![0; b.readable()];
        assert_eq!(b.read(&mut out), out.len());
        out
    }

    fn blocks(b: &RecvBuffer, max: usize) -> Vec<(u64, u64)> {
        b.sack_blocks(max).collect()
    }

    #[test]
    fn rfc9293_s3_10_7_4_in_order_data_is_readable_at_once() {
        let mut b = RecvBuffer::new(1000);
        let o = insert(&mut b, 0..100);
        assert_eq!((o.newly_readable, o.stored, o.duplicate), (100, 100, None));
        assert_eq!(
            (b.readable(), b.contiguous_end(), b.window()),
            (100, 100, 900)
        );
        assert_eq!(read_all(&mut b), bytes(0..100));
        assert_eq!((b.read_offset(), b.window()), (100, 1000));
        assert!(!b.has_out_of_order());
    }

    #[test]
    fn rfc9293_s3_10_7_4_out_of_order_data_is_held_until_the_hole_fills() {
        let mut b = RecvBuffer::new(1000);
        let o = insert(&mut b, 200..300);
        assert_eq!((o.newly_readable, o.stored), (0, 100));
        assert_eq!((b.readable(), b.contiguous_end()), (0, 0));
        assert_eq!(
            b.window(),
            900,
            "out-of-order bytes count against the window"
        );
        insert(&mut b, 100..200);
        assert_eq!(b.out_of_order_ranges(), 1, "touching ranges merge");
        let o = insert(&mut b, 0..100);
        assert_eq!((o.newly_readable, o.stored), (300, 100));
        assert_eq!(b.contiguous_end(), 300);
        assert_eq!(b.out_of_order_bytes(), 0);
        assert_eq!(read_all(&mut b), bytes(0..300));
    }

    #[test]
    fn rfc2883_s4_duplicates_are_trimmed_and_reported() {
        let mut b = RecvBuffer::new(1000);
        insert(&mut b, 0..100);
        let o = insert(&mut b, 50..150);
        assert_eq!(o.duplicate, Some((50, 100)));
        assert_eq!((o.newly_readable, o.stored), (50, 50));
        let o = insert(&mut b, 0..10);
        assert_eq!((o.duplicate, o.stored), (Some((0, 10)), 0));
        // A duplicate of out-of-order data.
        insert(&mut b, 300..400);
        let o = insert(&mut b, 250..350);
        assert_eq!((o.duplicate, o.stored), (Some((300, 350)), 50));
        assert_eq!(read_all(&mut b), bytes(0..150));
        // Empty segments are neither stored nor duplicates.
        assert_eq!(b.insert(20, &[]), InsertOutcome::default());
    }

    #[test]
    fn overlapping_segments_keep_the_bytes_already_held() {
        let mut b = RecvBuffer::new(1000);
        b.insert(10, b"AAAA");
        b.insert(20, b"BBBB");
        let o = b.insert(8, b"xxxxxxxxxxxxxxxxxx"); // 8..26, spans both
        assert_eq!(o.stored, 18 - 8);
        assert_eq!(o.duplicate, Some((10, 14)), "first duplicate stretch");
        assert_eq!(b.out_of_order_ranges(), 1);
        b.insert(0, b"01234567");
        let mut out = [0; 26];
        assert_eq!(b.read(&mut out), 26);
        assert_eq!(&out, b"01234567xxAAAAxxxxxxBBBBxx");
    }

    #[test]
    fn rfc9293_s3_10_7_4_data_beyond_the_window_is_trimmed() {
        let mut b = RecvBuffer::new(100);
        let o = insert(&mut b, 50..150);
        assert_eq!((o.stored, o.beyond_window), (50, 50));
        let o = insert(&mut b, 200..300);
        assert_eq!((o.stored, o.beyond_window), (0, 100));
        let o = insert(&mut b, 0..50);
        assert_eq!(o.newly_readable, 100);
        assert_eq!(b.window(), 0);
        let o = insert(&mut b, 100..101);
        assert_eq!((o.stored, o.beyond_window), (0, 1));
        let mut out = [0; 30];
        b.read(&mut out);
        assert_eq!(b.window(), 30);
        assert_eq!(
            insert(&mut b, 100..200).stored,
            30,
            "the window slides on read"
        );
        assert!(b.allocated() <= 100);
    }

    #[test]
    fn rfc2018_s4_first_block_holds_the_latest_segment() {
        let mut b = RecvBuffer::new(10_000);
        insert(&mut b, 1000..1100);
        insert(&mut b, 2000..2100);
        insert(&mut b, 3000..3100);
        assert_eq!(
            blocks(&b, 4),
            vec![(3000, 3100), (2000, 2100), (1000, 1100)]
        );
        // A segment extending the oldest block moves it to the front.
        insert(&mut b, 1100..1200);
        assert_eq!(
            blocks(&b, 4),
            vec![(1000, 1200), (3000, 3100), (2000, 2100)]
        );
        assert_eq!(blocks(&b, 2), vec![(1000, 1200), (3000, 3100)]);
        assert_eq!(blocks(&b, 0), vec![]);
        // RFC 2883 §4: a duplicate inside a block also makes it the first.
        insert(&mut b, 2000..2050);
        assert_eq!(blocks(&b, 1), vec![(2000, 2100)]);
    }

    #[test]
    fn rfc2018_s4_a_segment_that_advances_rcv_nxt_leaves_the_order_alone() {
        let mut b = RecvBuffer::new(10_000);
        insert(&mut b, 100..200);
        insert(&mut b, 500..600);
        insert(&mut b, 300..400);
        let o = insert(&mut b, 0..100);
        assert_eq!(o.newly_readable, 200);
        assert_eq!(blocks(&b, 4), vec![(300, 400), (500, 600)]);
        // Bridging two blocks yields one, first.
        insert(&mut b, 400..500);
        assert_eq!(blocks(&b, 4), vec![(300, 600)]);
        insert(&mut b, 200..300);
        assert_eq!(blocks(&b, 4), vec![]);
        assert_eq!(b.contiguous_end(), 600);
        assert_eq!(read_all(&mut b), bytes(0..600));
    }

    #[test]
    fn a_flood_of_tiny_segments_is_capped() {
        let mut b = RecvBuffer::with_max_ranges(1 << 20, 8);
        let mut dropped = 0;
        for i in 0..1000u64 {
            let o = insert(&mut b, 10 + i * 2..11 + i * 2);
            dropped += usize::from(o.dropped_range_limit);
        }
        assert_eq!(b.out_of_order_ranges(), 8);
        assert_eq!(dropped, 992);
        assert_eq!(b.out_of_order_bytes(), 8);
        // Data joining an existing range, or in order, is still taken.
        assert!(!insert(&mut b, 11..12).dropped_range_limit);
        assert_eq!(b.out_of_order_ranges(), 7);
        let o = insert(&mut b, 0..10);
        assert_eq!(o.newly_readable, 13);
        assert_eq!(b.out_of_order_ranges(), 6);
    }

    #[test]
    fn zero_max_ranges_keeps_only_in_order_data() {
        let mut b = RecvBuffer::with_max_ranges(1000, 0);
        assert!(insert(&mut b, 10..20).dropped_range_limit);
        assert_eq!(insert(&mut b, 0..10).newly_readable, 10);
    }

    #[test]
    fn memory_is_bounded_by_capacity_and_grows_on_demand() {
        let mut b = RecvBuffer::new(1 << 20);
        insert(&mut b, 0..1000);
        assert_eq!(b.allocated(), MIN_ALLOC);
        insert(&mut b, 500_000..501_000);
        assert!(b.allocated() >= 501_000 && b.allocated() <= 1 << 20);
        insert(&mut b, (1 << 20) - 10..(1 << 20) + 10);
        assert_eq!(b.allocated(), 1 << 20);
    }

    #[test]
    fn set_capacity_keeps_in_order_data_and_drops_out_of_order_beyond() {
        let mut b = RecvBuffer::new(100_000);
        insert(&mut b, 0..10_000);
        insert(&mut b, 20_000..30_000);
        insert(&mut b, 50_000..60_000);
        assert_eq!(b.set_capacity(25_000), 5_000 + 10_000);
        assert_eq!(b.out_of_order_bytes(), 5_000);
        assert_eq!(blocks(&b, 4), vec![(20_000, 25_000)]);
        assert!(b.allocated() <= 25_000);
        assert_eq!(b.set_capacity(5_000), 5_000);
        assert!(!b.has_out_of_order());
        assert_eq!(b.window(), 0);
        assert_eq!(b.readable(), 10_000, "acknowledged data survives");
        assert_eq!(insert(&mut b, 10_000..10_100).beyond_window, 100);
        assert_eq!(b.allocated(), 25_000, "kept while the data does not fit");
        assert_eq!(read_all(&mut b), bytes(0..10_000));
        assert_eq!(b.allocated(), 4_096, "released once the data fits");
        assert_eq!(b.window(), 5_000);
        assert_eq!(insert(&mut b, 10_000..20_000).newly_readable, 5_000);
        assert_eq!(read_all(&mut b), bytes(10_000..15_000));
    }

    #[test]
    fn matches_a_model_under_random_segments() {
        // A deterministic LCG stands in for a property test: segments of a known
        // stream arrive in random order, overlapping, beyond the window, repeated.
        let stream = bytes(0..200_000);
        let mut b = RecvBuffer::with_max_ranges(20_000, 16);
        let mut x: u64 = 7;
        let mut next = |m: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        let mut received = Vec::new();
        let mut held = std::collections::BTreeSet::new();
        while received.len() < 150_000 {
            let start = if next(4) == 0 {
                b.contiguous_end().saturating_sub(next(1_500))
            } else {
                b.read_offset() + next(25_000)
            };
            let len = 1 + next(3_000);
            let end = (start + len).min(stream.len() as u64);
            let before = b.contiguous_end();
            let o = b.insert(start, &stream[start as usize..end as usize]);
            assert_eq!(b.contiguous_end(), before + o.newly_readable as u64);
            let win_end = b.read_offset() + 20_000;
            for i in start.max(before)..end.min(win_end) {
                if !o.dropped_range_limit {
                    held.insert(i);
                }
            }
            held.retain(|&i| i >= b.contiguous_end());
            assert_eq!(b.out_of_order_bytes(), held.len());
            assert!(b.out_of_order_ranges() <= 16);
            assert!(b.readable() + b.out_of_order_bytes() <= 20_000);
            let blocks: Vec<_> = b.sack_blocks(usize::MAX).collect();
            assert_eq!(blocks.len(), b.out_of_order_ranges());
            for &(s, e) in &blocks {
                assert!(s > b.contiguous_end() && s < e);
                assert!((s..e).all(|i| held.contains(&i)));
            }
            if next(3) == 0 {
                let mut out = vec![0; next(15_000) as usize];
                let n = b.read(&mut out);
                received.extend_from_slice(&out[..n]);
            }
        }
        assert_eq!(received, stream[..received.len()]);
    }
}
