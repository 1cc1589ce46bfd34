//! Classic libpcap files: a 24-byte file header, then records with fixed-size headers.

use std::io::Read;
use std::time::Duration;

use super::{
    read_up_to, CaptureError, CaptureReader, Endian, Format, Frame, LinkType, MAX_RECORD_LEN,
};

/// Classic pcap magic numbers as read big-endian from the first four bytes.
pub(super) const PCAP_MICROS: u32 = 0xA1B2_C3D4;
pub(super) const PCAP_NANOS: u32 = 0xA1B2_3C4D;
/// Alexey Kuznetsov's patched libpcap: microseconds, 8 extra bytes per record header.
pub(super) const PCAP_KUZNETSOV: u32 = 0xA1B2_CD34;

impl<R: Read> CaptureReader<R> {
    /// Reads the 20 bytes after a classic pcap magic number.
    pub(super) fn read_pcap_header(
        &mut self,
        endian: Endian,
        magic: u32,
    ) -> Result<Format, CaptureError> {
        let mut header = [0u8; 20];
        if self.read_into(&mut header)? < header.len() {
            return Err(self.truncated());
        }
        let major = endian.u16_at(&header, 0).unwrap_or_default();
        let minor = endian.u16_at(&header, 2).unwrap_or_default();
        if major != 2 {
            return Err(self.malformed(format!("unsupported pcap version {major}.{minor}")));
        }
        // The upper bits of the link type field carry FCS information, not the type.
        let link_type = LinkType(endian.u32_at(&header, 16).unwrap_or_default() & 0xFFFF);
        if !link_type.is_supported() {
            return Err(CaptureError::UnsupportedLinkType {
                origin: self.origin.clone(),
                link_type,
            });
        }
        Ok(Format::Pcap {
            endian,
            nanosecond: magic == PCAP_NANOS,
            record_header_len: if magic == PCAP_KUZNETSOV { 24 } else { 16 },
            link_type,
        })
    }

    pub(super) fn next_pcap_record(&mut self) -> Result<Option<Frame>, CaptureError> {
        let Format::Pcap {
            endian,
            nanosecond,
            record_header_len,
            link_type,
        } = self.format
        else {
            return Ok(None);
        };
        let mut header_buffer = [0u8; 24];
        let header = header_buffer
            .get_mut(..record_header_len)
            .unwrap_or_default();
        let got = read_up_to(&mut self.input, header).map_err(|e| self.io(e))?;
        if got == 0 {
            return Ok(None);
        }
        if got < header.len() {
            return Err(self.truncated());
        }
        let field = |offset| endian.u32_at(header, offset).unwrap_or_default();
        let (seconds, fraction, captured_len, original_len) =
            (field(0), field(4), field(8), field(12));
        if captured_len > MAX_RECORD_LEN {
            return Err(self.malformed(format!(
                "record claims {captured_len} bytes, more than the {MAX_RECORD_LEN}-byte limit"
            )));
        }
        let fraction = if nanosecond {
            Duration::from_nanos(u64::from(fraction))
        } else {
            Duration::from_micros(u64::from(fraction))
        };
        let buffer = self.read_exactly(captured_len)?;
        Ok(Some(Frame {
            link_type,
            interface: 0,
            timestamp: Duration::from_secs(u64::from(seconds)).saturating_add(fraction),
            original_len,
            data: 0..buffer.len(),
            buffer,
        }))
    }
}
