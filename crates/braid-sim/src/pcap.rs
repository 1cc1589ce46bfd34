//! Classic pcap output (the libpcap format, microsecond timestamps).
//!
//! Records are raw IP packets (`LINKTYPE_RAW`, 101: IPv4 or IPv6 by the version
//! nibble) stamped with virtual time, so a capture depends on the scenario and its seed
//! alone: the same run gives the same bytes.

use std::io::{self, Write};

use braid_proto::time::Instant;

/// `LINKTYPE_RAW`: each record is an IPv4 or IPv6 packet, no link-layer header.
pub const LINKTYPE_RAW: u32 = 101;

/// The default snapshot length: whole packets (the largest IP packet without jumbo
/// payloads).
pub const DEFAULT_SNAPLEN: u32 = 65_535;

const MAGIC_MICROS: u32 = 0xa1b2_c3d4;

/// Writes a pcap stream: the 24-byte file header at creation, then a 16-byte record
/// header and the (possibly truncated) packet per record. All fields little-endian.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    snaplen: u32,
    records: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header. Records keep at most `snaplen` bytes of each packet.
    pub fn new(mut out: W, snaplen: u32) -> io::Result<Self> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes()); // version 2.4
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay zero: timestamps are UTC-less virtual time.
        header[16..20].copy_from_slice(&snaplen.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter {
            out,
            snaplen,
            records: 0,
        })
    }

    /// Appends one packet seen at `at`.
    pub fn write_packet(&mut self, at: Instant, packet: &[u8]) -> io::Result<()> {
        let micros = at.as_micros();
        // Seconds are 32 bits in the format: virtual time past 136 years wraps.
        let secs = (micros / 1_000_000) as u32;
        let frac = (micros % 1_000_000) as u32;
        let orig_len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let incl_len = orig_len.min(self.snaplen);
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&secs.to_le_bytes());
        header[4..8].copy_from_slice(&frac.to_le_bytes());
        header[8..12].copy_from_slice(&incl_len.to_le_bytes());
        header[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(&packet[..incl_len as usize])?;
        self.records += 1;
        Ok(())
    }

    /// Records written.
    pub fn records(&self) -> u64 {
        self.records
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Flushes and returns the output.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let mut w = PcapWriter::new(Vec::new(), 8).unwrap();
        w.write_packet(Instant::from_micros(3_000_042), &[0x45; 10])
            .unwrap();
        let bytes = w.into_inner().unwrap();
        assert_eq!(
            &bytes[..24],
            &[
                0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 101, 0, 0,
                0
            ]
        );
        assert_eq!(
            &bytes[24..40],
            &[3, 0, 0, 0, 42, 0, 0, 0, 8, 0, 0, 0, 10, 0, 0, 0]
        );
        assert_eq!(&bytes[40..], &[0x45; 8]);
    }
}
