//! Counters and time series.
//!
//! Every link keeps [`crate::link::LinkStats`] (counters of [`Counter`]s); the simulator
//! also bins each link's delivered bytes into a [`Series`] so that per-path throughput
//! over time can be plotted or asserted on. The bins are on the virtual clock, so they
//! are exact and the same on every run.

use std::ops::{Add, AddAssign};

use braid_proto::time::{Duration, Instant};
use serde::ser::{Serialize, SerializeStruct, Serializer};

/// Packets and the bytes they held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}

impl Counter {
    /// Counts one packet of `bytes` bytes.
    pub fn add(&mut self, bytes: usize) {
        self.packets += 1;
        self.bytes += bytes as u64;
    }
}

impl Add for Counter {
    type Output = Counter;
    fn add(self, other: Counter) -> Counter {
        Counter {
            packets: self.packets + other.packets,
            bytes: self.bytes + other.bytes,
        }
    }
}

impl AddAssign for Counter {
    fn add_assign(&mut self, other: Counter) {
        *self = *self + other;
    }
}

/// One bin of a [`Series`]: what happened in `[start, start + width)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bin {
    pub start: Instant,
    pub width: Duration,
    pub packets: u64,
    pub bytes: u64,
}

impl Bin {
    /// Average rate over the bin, in bits per second.
    pub fn bits_per_sec(&self) -> f64 {
        if self.width == Duration::ZERO {
            return 0.0;
        }
        self.bytes as f64 * 8.0 / self.width.as_secs_f64()
    }
}

/// Packets and bytes per fixed-width interval of virtual time, from time zero.
///
/// A record at `t` falls in bin `t / width`: the bins are half-open, `[k*w, (k+1)*w)`.
/// Memory grows with the time of the last record (16 bytes per bin), not with traffic.
///
/// Serialised as `{"bin_us": WIDTH, "bytes": [...], "packets": [...]}`, the bins from
/// time zero up to the last one with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    width: Duration,
    packets: Vec<u64>,
    bytes: Vec<u64>,
}

impl Series {
    /// An empty series of bins `width` wide.
    ///
    /// # Panics
    ///
    /// If `width` is zero: a caller bug.
    pub fn new(width: Duration) -> Self {
        assert!(width > Duration::ZERO, "Series::new: zero bin width");
        Series {
            width,
            packets: Vec::new(),
            bytes: Vec::new(),
        }
    }

    /// Counts one packet of `bytes` bytes at `at`.
    pub fn record(&mut self, at: Instant, bytes: usize) {
        let index = (at.as_micros() / self.width.as_micros()) as usize;
        if index >= self.bytes.len() {
            self.bytes.resize(index + 1, 0);
            self.packets.resize(index + 1, 0);
        }
        self.bytes[index] += bytes as u64;
        self.packets[index] += 1;
    }

    /// The bin width.
    pub fn width(&self) -> Duration {
        self.width
    }

    /// Number of bins, up to and including the last one with a record.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Bytes per bin.
    pub fn bytes(&self) -> &[u64] {
        &self.bytes
    }

    /// Packets per bin.
    pub fn packets(&self) -> &[u64] {
        &self.packets
    }

    /// Bin `index`; bins after the last record are empty.
    pub fn bin(&self, index: usize) -> Bin {
        Bin {
            start: Instant::from_micros(index as u64 * self.width.as_micros()),
            width: self.width,
            packets: self.packets.get(index).copied().unwrap_or(0),
            bytes: self.bytes.get(index).copied().unwrap_or(0),
        }
    }

    /// The bins in time order, up to the last one with a record.
    pub fn bins(&self) -> impl Iterator<Item = Bin> + '_ {
        (0..self.len()).map(|i| self.bin(i))
    }

    /// The bins that start before `end`, empty ones included: a series padded or cut
    /// to a run's length.
    pub fn bins_until(&self, end: Instant) -> impl Iterator<Item = Bin> + '_ {
        let n = end.as_micros().div_ceil(self.width.as_micros()) as usize;
        (0..n).map(|i| self.bin(i))
    }

    /// Everything recorded.
    pub fn total(&self) -> Counter {
        Counter {
            packets: self.packets.iter().sum(),
            bytes: self.bytes.iter().sum(),
        }
    }
}

impl Serialize for Series {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Series", 3)?;
        s.serialize_field("bin_us", &self.width.as_micros())?;
        s.serialize_field("bytes", &self.bytes)?;
        s.serialize_field("packets", &self.packets)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_serialises_its_bins() {
        let mut s = Series::new(Duration::from_millis(10));
        s.record(Instant::from_millis(25), 100);
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"bin_us":10000,"bytes":[0,0,100],"packets":[0,0,1]}"#
        );
    }

    #[test]
    fn bins_are_half_open() {
        let mut s = Series::new(Duration::from_millis(100));
        s.record(Instant::from_micros(0), 10);
        s.record(Instant::from_micros(99_999), 10);
        s.record(Instant::from_millis(100), 5);
        s.record(Instant::from_millis(350), 1);
        assert_eq!(s.bytes(), &[20, 5, 0, 1]);
        assert_eq!(s.packets(), &[2, 1, 0, 1]);
        assert_eq!(
            s.total(),
            Counter {
                packets: 4,
                bytes: 26
            }
        );
        let b = s.bin(1);
        assert_eq!(b.start, Instant::from_millis(100));
        assert_eq!(b.bits_per_sec(), 5.0 * 8.0 * 10.0);
        assert_eq!(s.bins_until(Instant::from_millis(601)).count(), 7);
        assert_eq!(
            s.bins_until(Instant::from_millis(600))
                .last()
                .unwrap()
                .bytes,
            0
        );
    }
}
