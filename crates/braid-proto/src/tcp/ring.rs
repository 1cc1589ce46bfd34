//! The byte ring under [`SendBuffer`](super::send_buffer::SendBuffer) and
//! [`RecvBuffer`](super::recv_buffer::RecvBuffer).
//!
//! Positions are offsets from the head. Storage is allocated on demand and grown by
//! doubling, so a connection configured for a large buffer that only ever holds a few
//! kilobytes never pays for the rest. Growing relinearises (the head moves to index 0);
//! nothing else copies.

/// The first allocation: a buffer never holds less unless its limit is smaller.
pub(super) const MIN_ALLOC: usize = 4096;

#[derive(Debug, Clone, Default)]
pub(super) struct Ring {
    buf: Vec<u8>,
    head: usize,
}

impl Ring {
    /// Bytes of storage allocated.
    pub(super) fn allocated(&self) -> usize {
        self.buf.len()
    }

    /// Makes positions `0..needed` addressable, keeping the first `keep` bytes. Grows
    /// by doubling (at least [`MIN_ALLOC`]), never beyond `limit`.
    pub(super) fn reserve(&mut self, needed: usize, keep: usize, limit: usize) {
        if needed <= self.buf.len() {
            return;
        }
        debug_assert!(needed <= limit, "ring asked for more than its limit");
        let size = needed
            .max(self.buf.len().saturating_mul(2))
            .max(MIN_ALLOC)
            .min(limit.max(needed));
        self.resize(size, keep);
    }

    /// Reallocates to exactly `size` bytes (at least `keep`), keeping the first `keep`.
    pub(super) fn resize(&mut self, size: usize, keep: usize) {
        debug_assert!(keep <= size && keep <= self.buf.len());
        let mut buf = vec![0; size];
        let (a, b) = self.slices(0, keep);
        buf[..a.len()].copy_from_slice(a);
        buf[a.len()..keep].copy_from_slice(b);
        self.buf = buf;
        self.head = 0;
    }

    /// Copies `data` to positions `offset..offset + data.len()`, which must be allocated.
    pub(super) fn write_at(&mut self, offset: usize, data: &[u8]) {
        let size = self.buf.len();
        assert!(
            offset + data.len() <= size,
            "write beyond the ring's storage"
        );
        if data.is_empty() {
            return;
        }
        let pos = (self.head + offset) % size;
        let first = data.len().min(size - pos);
        self.buf[pos..pos + first].copy_from_slice(&data[..first]);
        self.buf[..data.len() - first].copy_from_slice(&data[first..]);
    }

    /// Positions `offset..offset + len`, which must be allocated, as up to two slices.
    pub(super) fn slices(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        let size = self.buf.len();
        assert!(offset + len <= size, "read beyond the ring's storage");
        if len == 0 {
            return (&[], &[]);
        }
        let pos = (self.head + offset) % size;
        if pos + len <= size {
            (&self.buf[pos..pos + len], &[])
        } else {
            (&self.buf[pos..], &self.buf[..len - (size - pos)])
        }
    }

    /// Copies positions `offset..offset + dst.len()` into `dst`.
    pub(super) fn copy_out(&self, offset: usize, dst: &mut [u8]) {
        let (a, b) = self.slices(offset, dst.len());
        dst[..a.len()].copy_from_slice(a);
        dst[a.len()..].copy_from_slice(b);
    }

    /// Drops `n` bytes from the head: O(1).
    pub(super) fn advance(&mut self, n: usize) {
        if !self.buf.is_empty() {
            debug_assert!(n <= self.buf.len());
            self.head = (self.head + n) % self.buf.len();
        }
    }

    /// Moves the head to index 0; only valid when nothing is held.
    pub(super) fn reset_head(&mut self) {
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_relinearises_on_growth() {
        let mut r = Ring::default();
        r.reserve(8, 0, 8);
        assert_eq!(r.allocated(), 8);
        r.write_at(0, b"abcdef");
        r.advance(4);
        r.write_at(2, b"ghij"); // positions 2..6 wrap to indices 6,7,0,1
        let (a, b) = r.slices(0, 6);
        assert_eq!((a, b), (&b"efgh"[..], &b"ij"[..]));
        r.reserve(12, 6, 100);
        assert_eq!(
            r.allocated(),
            100,
            "doubling and MIN_ALLOC yield to the limit"
        );
        assert_eq!(r.slices(0, 6), (&b"efghij"[..], &[][..]));
        let mut out = [0; 3];
        r.copy_out(3, &mut out);
        assert_eq!(&out, b"hij");
    }
}
