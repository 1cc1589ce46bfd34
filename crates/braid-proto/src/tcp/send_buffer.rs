//! The sender's buffer: bytes the application wrote that the peer has not yet
//! acknowledged.
//!
//! Offset 0 is always the oldest unacknowledged byte (SND.UNA); the caller maps
//! sequence numbers to offsets (`seq.since(snd_una)`). Data stays here until it is
//! cumulatively acknowledged, SACKed or not: RFC 2018 §8: "the sender MUST NOT discard
//! data before it is acknowledged by the Acknowledgment Number field in the TCP
//! header", as a receiver may renege on what it SACKed.
//!
//! A ring buffer: acknowledging is O(1), copies are `copy_from_slice`, and storage
//! grows by doubling up to the capacity, so a large configured capacity costs memory
//! only once it is used.

use super::ring::{Ring, MIN_ALLOC};

#[derive(Debug, Clone)]
pub struct SendBuffer {
    ring: Ring,
    len: usize,
    capacity: usize,
}

impl SendBuffer {
    /// An empty buffer that will hold at most `capacity` bytes. Allocates nothing yet.
    pub fn new(capacity: usize) -> Self {
        SendBuffer {
            ring: Ring::default(),
            len: 0,
            capacity,
        }
    }

    /// Appends as much of `data` as fits and returns how much that was.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        self.ring.reserve(self.len + n, self.len, self.capacity);
        self.ring.write_at(self.len, &data[..n]);
        self.len += n;
        n
    }

    /// Bytes held: written and not yet acknowledged.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes [`write`](Self::write) would accept now.
    pub fn free(&self) -> usize {
        self.capacity.saturating_sub(self.len)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes of memory allocated for data: at most the capacity, except after the
    /// capacity was lowered below [`len`](Self::len), until acknowledgments drain it.
    pub fn allocated(&self) -> usize {
        self.ring.allocated()
    }

    /// Changes the capacity (send-buffer auto-tuning). Held data is never dropped: when
    /// the new capacity is below [`len`](Self::len), writes are refused until
    /// acknowledgments bring it under. Memory beyond the new capacity is released as
    /// soon as the data held fits in it.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        self.release_excess();
    }

    /// After the capacity was lowered, gives back the storage beyond it once the data
    /// held fits: one reallocation per shrink.
    fn release_excess(&mut self) {
        if self.len <= self.capacity && self.ring.allocated() > self.capacity {
            let size = self.len.max(self.capacity.min(MIN_ALLOC));
            self.ring.resize(size, self.len);
        }
    }

    /// Drops `n` bytes from the front: the peer acknowledged them. O(1). More than
    /// [`len`](Self::len) is a caller bug (an ACK of unsent data must be rejected
    /// before it gets here); it drops everything. Returns the bytes dropped.
    pub fn ack(&mut self, n: usize) -> usize {
        debug_assert!(n <= self.len, "ack of {n} bytes with {} held", self.len);
        let n = n.min(self.len);
        self.ring.advance(n);
        self.len -= n;
        if self.len == 0 {
            // Keeps later writes contiguous in storage.
            self.ring.reset_head();
        }
        self.release_excess();
        n
    }

    /// Bytes `[offset, offset + len)` from the front, as one or two slices (two when
    /// the range wraps around the ring). Truncated to the bytes held.
    pub fn slices(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        if offset >= self.len {
            return (&[], &[]);
        }
        self.ring.slices(offset, len.min(self.len - offset))
    }

    /// Copies bytes from `offset` into `dst`; returns how many (fewer than `dst.len()`
    /// when the buffer holds fewer).
    pub fn copy_out(&self, offset: usize, dst: &mut [u8]) -> usize {
        let (a, b) = self.slices(offset, dst.len());
        dst[..a.len()].copy_from_slice(a);
        dst[a.len()..a.len() + b.len()].copy_from_slice(b);
        a.len() + b.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    fn contents(b: &SendBuffer) -> Vec<u8> {
        let mut out = vec![0; b.len()];
        assert_eq!(b.copy_out(0, &mut out), b.len());
        out
    }

    #[test]
    fn write_accepts_up_to_free_space() {
        let mut b = SendBuffer::new(10);
        assert!(b.is_empty());
        assert_eq!(b.allocated(), 0, "nothing allocated before the first write");
        assert_eq!(b.write(b"hello"), 5);
        assert_eq!(b.write(b"world!!"), 5);
        assert_eq!(b.write(b"x"), 0);
        assert_eq!((b.len(), b.free(), b.capacity()), (10, 0, 10));
        assert_eq!(contents(&b), b"helloworld");
        assert_eq!(b.allocated(), 10, "never beyond capacity");
    }

    #[test]
    fn rfc9293_s3_10_7_4_ack_drops_acknowledged_bytes_from_the_front() {
        let mut b = SendBuffer::new(100);
        b.write(b"abcdefgh");
        assert_eq!(b.ack(3), 3);
        assert_eq!(contents(&b), b"defgh");
        assert_eq!(b.free(), 95);
        assert_eq!(b.ack(5), 5);
        assert!(b.is_empty());
        assert_eq!(b.slices(0, 10), (&[][..], &[][..]));
    }

    #[test]
    fn slices_split_where_the_ring_wraps() {
        let mut b = SendBuffer::new(8);
        b.write(b"abcdef");
        b.ack(4);
        b.write(b"ghijkl");
        // Storage is 8 bytes: "ef" at 4..6, "gh" at 6..8, "ijkl" at 0..4.
        assert_eq!(b.slices(0, 8), (&b"efgh"[..], &b"ijkl"[..]));
        assert_eq!(b.slices(1, 2), (&b"fg"[..], &[][..]));
        assert_eq!(
            b.slices(5, 100),
            (&b"jkl"[..], &[][..]),
            "truncated to what is held"
        );
        assert_eq!(b.slices(3, 3), (&b"h"[..], &b"ij"[..]));
        let mut out = [0u8; 4];
        assert_eq!(b.copy_out(2, &mut out), 4);
        assert_eq!(&out, b"ghij");
        let mut out = [0u8; 10];
        assert_eq!(b.copy_out(6, &mut out), 2);
        assert_eq!(&out[..2], b"kl");
        assert_eq!(b.copy_out(8, &mut out), 0);
    }

    #[test]
    fn storage_grows_by_doubling_not_to_capacity() {
        let mut b = SendBuffer::new(1 << 24);
        b.write(&[7; 100]);
        assert_eq!(b.allocated(), MIN_ALLOC);
        b.write(&vec![8; MIN_ALLOC]);
        assert_eq!(b.allocated(), 2 * MIN_ALLOC);
        b.write(&vec![9; 3 * MIN_ALLOC]);
        assert_eq!(b.allocated(), 4 * MIN_ALLOC + 100);
        assert_eq!(b.len(), 4 * MIN_ALLOC + 100);
    }

    #[test]
    fn growth_preserves_wrapped_contents() {
        let data = pattern(20_000, 3);
        let mut b = SendBuffer::new(1 << 20);
        b.write(&data[..3_000]);
        b.ack(2_500);
        b.write(&data[3_000..4_000]); // wraps in the 4096-byte ring
        b.write(&data[4_000..]); // forces a relinearising growth
        assert_eq!(contents(&b), &data[2_500..]);
    }

    #[test]
    fn raising_the_capacity_keeps_wrapped_contents() {
        // Storage as large as the capacity, wrapped, then the capacity raised (send
        // auto-tuning): the next write relinearises without losing or reordering.
        let data = pattern(100_000, 5);
        let mut b = SendBuffer::new(10_000);
        assert_eq!(b.write(&data[..10_000]), 10_000);
        assert_eq!(b.allocated(), 10_000);
        b.ack(7_000);
        assert_eq!(b.write(&data[10_000..16_000]), 6_000);
        assert_eq!(b.slices(0, 9_000).1.len(), 6_000, "wrapped");
        b.set_capacity(60_000);
        assert_eq!(b.free(), 51_000);
        assert_eq!(contents(&b), &data[7_000..16_000]);
        assert_eq!(b.write(&data[16_000..]), 51_000);
        assert_eq!(contents(&b), &data[7_000..67_000]);
        b.ack(50_000);
        assert_eq!(b.write(&data[67_000..]), 33_000);
        assert_eq!(contents(&b), &data[57_000..]);
    }

    #[test]
    fn set_capacity_never_drops_unacknowledged_data() {
        let mut b = SendBuffer::new(1 << 20);
        let data = pattern(50_000, 1);
        b.write(&data);
        b.set_capacity(10_000);
        assert_eq!(b.len(), 50_000);
        assert_eq!(b.free(), 0);
        assert_eq!(b.write(b"more"), 0);
        assert_eq!(contents(&b), data);
        b.ack(45_000);
        assert_eq!(b.free(), 5_000);
        b.set_capacity(8_000);
        assert!(b.allocated() <= 8_000, "shrinking releases memory");
        assert_eq!(contents(&b), &data[45_000..]);
        b.set_capacity(1_000);
        assert_eq!(b.allocated(), 5_000, "kept while the data does not fit");
        b.ack(4_500);
        assert_eq!(b.allocated(), 1_000, "released once it fits");
        assert_eq!(contents(&b), &data[49_500..]);
        b.set_capacity(1 << 20);
        assert_eq!(b.write(&data), 50_000);
        assert_eq!(b.len(), 50_500);
    }

    #[test]
    fn zero_capacity_accepts_nothing() {
        let mut b = SendBuffer::new(0);
        assert_eq!(b.write(b"x"), 0);
        assert_eq!(b.ack(0), 0);
        assert_eq!(b.slices(0, 1), (&[][..], &[][..]));
    }

    #[test]
    fn matches_a_model_over_many_operations() {
        // A deterministic LCG stands in for a property test.
        let mut model: std::collections::VecDeque<u8> = Default::default();
        let mut b = SendBuffer::new(10_000);
        let mut x: u64 = 42;
        let mut next = |m: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        for step in 0..5_000u32 {
            match next(4) {
                0 | 1 => {
                    let data = pattern(next(3_000) as usize, step as u8);
                    let n = b.write(&data);
                    assert_eq!(n, data.len().min(10_000 - model.len()));
                    model.extend(&data[..n]);
                }
                2 => {
                    let n = next(model.len() as u64 + 1) as usize;
                    b.ack(n);
                    model.drain(..n);
                }
                _ => {
                    let off = next(model.len() as u64 + 1) as usize;
                    let mut out = vec![0; next(4_000) as usize];
                    let n = b.copy_out(off, &mut out);
                    let want: Vec<u8> = model.iter().skip(off).take(out.len()).copied().collect();
                    assert_eq!(&out[..n], &want[..]);
                }
            }
            assert_eq!(b.len(), model.len());
            if step % 1_000 == 0 {
                b.set_capacity(10_000 - (step as usize % 3));
                b.set_capacity(10_000);
            }
        }
    }
}
