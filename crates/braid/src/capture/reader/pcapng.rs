//! pcapng files: sections of typed blocks, with per-interface link types, snap lengths and
//! timestamp resolutions that packet blocks refer to by interface id.

use std::io::Read;
use std::time::Duration;

use super::{CaptureError, CaptureReader, Endian, Format, Frame, LinkType, MAX_RECORD_LEN};

/// pcapng block types.
pub(super) const PCAPNG_SECTION_HEADER: u32 = 0x0A0D_0D0A;
const PCAPNG_INTERFACE_DESCRIPTION: u32 = 1;
const PCAPNG_OBSOLETE_PACKET: u32 = 2;
const PCAPNG_SIMPLE_PACKET: u32 = 3;
const PCAPNG_ENHANCED_PACKET: u32 = 6;
/// Byte-order magic in a section header, as stored by a big-endian writer.
const PCAPNG_BYTE_ORDER_MAGIC: [u8; 4] = [0x1A, 0x2B, 0x3C, 0x4D];

/// pcapng interface description options we interpret.
const OPT_END_OF_OPTIONS: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// Units per second of pcapng timestamps: `10^n` or `2^n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TsResolution {
    Decimal(u8),
    Binary(u8),
}

impl TsResolution {
    /// The pcapng default when an interface has no `if_tsresol` option: microseconds.
    const DEFAULT: Self = Self::Decimal(6);

    fn from_option(value: u8) -> Self {
        if value & 0x80 == 0 {
            Self::Decimal(value)
        } else {
            Self::Binary(value & 0x7F)
        }
    }

    /// Converts a timestamp in these units to a duration, exactly for any exponent.
    fn to_duration(self, units: u64) -> Duration {
        let per_second: Option<u128> = match self {
            Self::Decimal(exp) => 10u128.checked_pow(u32::from(exp)),
            Self::Binary(exp) => 1u128.checked_shl(u32::from(exp)),
        };
        // Units too fine to fit in u128 make any u64 count far below one nanosecond.
        let Some(per_second) = per_second else {
            return Duration::ZERO;
        };
        let units = u128::from(units);
        // Both quotients are bounded by their dividend's range, so the casts are lossless:
        // seconds <= units <= u64::MAX and nanos < 1e9 because rem < per_second.
        let seconds = (units / per_second) as u64;
        let nanos = ((units % per_second) * 1_000_000_000 / per_second) as u32;
        Duration::new(seconds, nanos)
    }
}

/// What a pcapng interface description block says about the frames that reference it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Interface {
    link_type: LinkType,
    snap_len: u32,
    resolution: TsResolution,
    /// `if_tsoffset`: seconds to add to every timestamp.
    offset_seconds: i64,
}

impl<R: Read> CaptureReader<R> {
    /// Reads blocks until one holds a packet; `Ok(None)` at a clean end of the input.
    pub(super) fn next_pcapng_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        loop {
            let mut block_type = [0u8; 4];
            let got = self.read_into(&mut block_type)?;
            if got == 0 {
                return Ok(None);
            }
            if got < block_type.len() {
                return Err(self.truncated());
            }
            if let Some(frame) = self.read_pcapng_block(&block_type)? {
                return Ok(Some(frame));
            }
        }
    }

    /// Reads the rest of a pcapng block whose type has been read; returns its frame if it is
    /// a packet block, and records section and interface blocks in the reader state.
    pub(super) fn read_pcapng_block(
        &mut self,
        block_type: &[u8; 4],
    ) -> Result<Option<Frame>, CaptureError> {
        let mut length_bytes = [0u8; 4];
        if self.read_into(&mut length_bytes)? < length_bytes.len() {
            return Err(self.truncated());
        }
        // The section header is a palindrome; its byte-order magic says how to read the rest.
        let is_section_header = u32::from_be_bytes(*block_type) == PCAPNG_SECTION_HEADER;
        let mut prefix = Vec::new();
        let endian = if is_section_header {
            let mut byte_order = [0u8; 4];
            if self.read_into(&mut byte_order)? < byte_order.len() {
                return Err(self.truncated());
            }
            prefix.extend_from_slice(&byte_order);
            if byte_order == PCAPNG_BYTE_ORDER_MAGIC {
                Endian::Big
            } else if u32::from_le_bytes(byte_order) == u32::from_be_bytes(PCAPNG_BYTE_ORDER_MAGIC)
            {
                Endian::Little
            } else {
                return Err(self.malformed("pcapng section header has an invalid byte-order magic"));
            }
        } else {
            match self.format {
                Format::PcapNg { endian, .. } => endian,
                Format::Pcap { .. } => return Ok(None),
            }
        };
        let block_type = endian.u32_at(block_type, 0).unwrap_or_default();
        let total_len = endian.u32_at(&length_bytes, 0).unwrap_or_default();
        if total_len < 12 || total_len % 4 != 0 || total_len > MAX_RECORD_LEN {
            return Err(self.malformed(format!(
                "pcapng block of type {block_type:#x} has invalid length {total_len}"
            )));
        }
        // Body plus the trailing copy of the length; the prefix is already read.
        let rest_len = total_len - 8 - prefix.len() as u32;
        let rest = self.read_exactly(rest_len)?;
        let mut body = prefix;
        body.extend_from_slice(&rest);
        let trailer_at = body.len().saturating_sub(4);
        if endian.u32_at(&body, trailer_at) != Some(total_len) {
            return Err(self.malformed(format!(
                "pcapng block of type {block_type:#x} ends with a length that differs from its start"
            )));
        }
        body.truncate(trailer_at);

        match block_type {
            PCAPNG_SECTION_HEADER => {
                self.parse_section_header(&body, endian)?;
                Ok(None)
            }
            PCAPNG_INTERFACE_DESCRIPTION => {
                let interface = self.parse_interface_description(&body, endian)?;
                if let Format::PcapNg { interfaces, .. } = &mut self.format {
                    interfaces.push(interface);
                }
                Ok(None)
            }
            PCAPNG_ENHANCED_PACKET | PCAPNG_OBSOLETE_PACKET => {
                self.parse_packet_block(body, endian, block_type).map(Some)
            }
            PCAPNG_SIMPLE_PACKET => self.parse_simple_packet(body, endian).map(Some),
            _ => Ok(None),
        }
    }

    fn parse_section_header(&mut self, body: &[u8], endian: Endian) -> Result<(), CaptureError> {
        let (Some(major), Some(minor)) = (endian.u16_at(body, 4), endian.u16_at(body, 6)) else {
            return Err(self.malformed("pcapng section header is too short"));
        };
        if major != 1 {
            return Err(self.malformed(format!("unsupported pcapng version {major}.{minor}")));
        }
        // Interface numbering restarts with every section.
        self.format = Format::PcapNg {
            endian,
            interfaces: Vec::new(),
        };
        Ok(())
    }

    fn parse_interface_description(
        &self,
        body: &[u8],
        endian: Endian,
    ) -> Result<Interface, CaptureError> {
        let (Some(link_type), Some(snap_len)) = (endian.u16_at(body, 0), endian.u32_at(body, 4))
        else {
            return Err(self.malformed("pcapng interface description block is too short"));
        };
        let mut interface = Interface {
            link_type: LinkType(u32::from(link_type)),
            snap_len,
            resolution: TsResolution::DEFAULT,
            offset_seconds: 0,
        };
        let mut offset = 8;
        while offset < body.len() {
            let (Some(code), Some(len)) =
                (endian.u16_at(body, offset), endian.u16_at(body, offset + 2))
            else {
                return Err(self.malformed("pcapng interface option is cut short"));
            };
            if code == OPT_END_OF_OPTIONS {
                break;
            }
            let value_start = offset + 4;
            let Some(value) = body.get(value_start..value_start + usize::from(len)) else {
                return Err(self.malformed(format!(
                    "pcapng interface option {code} runs past the end of its block"
                )));
            };
            match (code, value) {
                (OPT_IF_TSRESOL, &[resolution]) => {
                    interface.resolution = TsResolution::from_option(resolution)
                }
                (OPT_IF_TSOFFSET, _) => {
                    if let Some(seconds) = endian.i64_at(value, 0) {
                        interface.offset_seconds = seconds;
                    }
                }
                _ => {}
            }
            offset = value_start + padded_to_4(usize::from(len));
        }
        Ok(interface)
    }

    /// Parses an enhanced (type 6) or obsolete (type 2) packet block; their layouts differ
    /// only in the width of the interface id.
    fn parse_packet_block(
        &self,
        body: Vec<u8>,
        endian: Endian,
        block_type: u32,
    ) -> Result<Frame, CaptureError> {
        let interface_id = if block_type == PCAPNG_OBSOLETE_PACKET {
            endian.u16_at(&body, 0).map(u32::from)
        } else {
            endian.u32_at(&body, 0)
        };
        let fields = (
            interface_id,
            endian.u32_at(&body, 4),
            endian.u32_at(&body, 8),
            endian.u32_at(&body, 12),
            endian.u32_at(&body, 16),
        );
        let (Some(interface_id), Some(high), Some(low), Some(captured_len), Some(original_len)) =
            fields
        else {
            return Err(self.malformed("pcapng packet block is too short"));
        };
        let data = 20..(captured_len as usize).saturating_add(20);
        if data.end > body.len() {
            return Err(self.malformed(format!(
                "pcapng packet block claims {captured_len} captured bytes but holds {}",
                body.len() - 20
            )));
        }
        let interface = self.interface(interface_id)?;
        let units = (u64::from(high) << 32) | u64::from(low);
        Ok(Frame {
            link_type: interface.link_type,
            interface: interface_id,
            timestamp: apply_offset(
                interface.resolution.to_duration(units),
                interface.offset_seconds,
            ),
            original_len,
            buffer: body,
            data,
        })
    }

    /// Parses a simple packet block: interface 0, no timestamp, and a captured length that
    /// must be inferred from the original length and the snap length.
    fn parse_simple_packet(&self, body: Vec<u8>, endian: Endian) -> Result<Frame, CaptureError> {
        let Some(original_len) = endian.u32_at(&body, 0) else {
            return Err(self.malformed("pcapng simple packet block is too short"));
        };
        let interface = self.interface(0)?;
        let mut captured_len = original_len as usize;
        if interface.snap_len != 0 {
            captured_len = captured_len.min(interface.snap_len as usize);
        }
        // The block may end with padding; never read past it.
        captured_len = captured_len.min(body.len() - 4);
        Ok(Frame {
            link_type: interface.link_type,
            interface: 0,
            timestamp: Duration::ZERO,
            original_len,
            buffer: body,
            data: 4..4 + captured_len,
        })
    }

    fn interface(&self, id: u32) -> Result<Interface, CaptureError> {
        let interfaces = match &self.format {
            Format::PcapNg { interfaces, .. } => interfaces.as_slice(),
            Format::Pcap { .. } => &[],
        };
        interfaces.get(id as usize).copied().ok_or_else(|| {
            self.malformed(format!(
                "packet refers to interface {id}, which no interface description block defines"
            ))
        })
    }
}

fn padded_to_4(len: usize) -> usize {
    len.div_ceil(4) * 4
}

/// Applies a pcapng `if_tsoffset`, clamping instead of overflowing on absurd values.
fn apply_offset(timestamp: Duration, offset_seconds: i64) -> Duration {
    let offset = Duration::from_secs(offset_seconds.unsigned_abs());
    if offset_seconds >= 0 {
        timestamp.saturating_add(offset)
    } else {
        timestamp.saturating_sub(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_resolutions_convert_exactly() {
        let micros = TsResolution::DEFAULT.to_duration(1_700_000_000_123_456);
        assert_eq!(micros, Duration::new(1_700_000_000, 123_456_000));
        let nanos = TsResolution::Decimal(9).to_duration(1_700_000_000_123_456_789);
        assert_eq!(nanos, Duration::new(1_700_000_000, 123_456_789));
        let seconds = TsResolution::Decimal(0).to_duration(42);
        assert_eq!(seconds, Duration::from_secs(42));
        // Finer than a nanosecond: sub-nanosecond digits are dropped.
        let picos = TsResolution::Decimal(12).to_duration(1_500_000_000_001);
        assert_eq!(picos, Duration::new(1, 500_000_000));
    }

    #[test]
    fn binary_resolutions_convert_exactly() {
        // 2^-10 s units: 3.5 s is 3584 units.
        assert_eq!(
            TsResolution::from_option(0x80 | 10).to_duration(3584),
            Duration::new(3, 500_000_000)
        );
        assert_eq!(
            TsResolution::Binary(32).to_duration((7 << 32) | (1 << 31)),
            Duration::new(7, 500_000_000)
        );
    }

    #[test]
    fn extreme_resolutions_do_not_overflow() {
        for exp in 0..=127u8 {
            for units in [0, 1, u64::MAX] {
                let _ = TsResolution::Decimal(exp).to_duration(units);
                let _ = TsResolution::Binary(exp).to_duration(units);
            }
        }
        assert_eq!(
            TsResolution::Decimal(0).to_duration(u64::MAX),
            Duration::from_secs(u64::MAX)
        );
        assert_eq!(
            TsResolution::Decimal(127).to_duration(u64::MAX),
            Duration::ZERO
        );
    }

    #[test]
    fn offsets_clamp() {
        let t = Duration::from_secs(10);
        assert_eq!(apply_offset(t, 5), Duration::from_secs(15));
        assert_eq!(apply_offset(t, -5), Duration::from_secs(5));
        assert_eq!(apply_offset(t, i64::MIN), Duration::ZERO);
        assert_eq!(apply_offset(Duration::MAX, i64::MAX), Duration::MAX);
    }
}
