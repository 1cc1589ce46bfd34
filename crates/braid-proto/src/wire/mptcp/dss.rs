//! Data Sequence Signal, RFC 8684 §3.3.
//!
//! ```text
//!  Kind | Length | Subtype | (reserved 7) |F|m|M|a|A|
//!  Data ACK (4 or 8 octets, if A)
//!  Data Sequence Number (4 or 8 octets, if M) | Subflow Sequence Number (4, if M)
//!  Data-Level Length (2, if M) | Checksum (2, if M and checksums are in use)
//! ```

use super::{emit_header, header, subtype};
use crate::wire::bytes::{set_u16_at, set_u32_at, set_u64_at, u16_at, u32_at, u64_at};
use crate::wire::WireError;

const DATA_ACK_PRESENT: u8 = 0x01; // A
const DATA_ACK_8: u8 = 0x02; // a
const MAPPING_PRESENT: u8 = 0x04; // M
const DSN_8: u8 = 0x08; // m
const DATA_FIN: u8 = 0x10; // F

/// A data sequence number as sent: the low 32 bits, or all 64 (RFC 8684 §3.3).
/// Expanding a 32-bit value to 64 bits needs connection state, so it stays as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqField {
    U32(u32),
    U64(u64),
}

impl SeqField {
    fn len(self) -> usize {
        match self {
            SeqField::U32(_) => 4,
            SeqField::U64(_) => 8,
        }
    }

    /// The value as sent, zero-extended.
    pub fn raw(self) -> u64 {
        match self {
            SeqField::U32(v) => v as u64,
            SeqField::U64(v) => v,
        }
    }

    fn emit(self, buf: &mut [u8]) -> usize {
        match self {
            SeqField::U32(v) => set_u32_at(buf, 0, v),
            SeqField::U64(v) => set_u64_at(buf, 0, v),
        }
        self.len()
    }
}

/// A DSS mapping: `data_level_length` octets starting at data sequence number `dsn`
/// are carried at relative subflow sequence number `ssn` (RFC 8684 §3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DssMapping {
    pub dsn: SeqField,
    /// Relative to the subflow's initial sequence number (0 is the SYN).
    pub ssn: u32,
    /// Octets covered, including one for a DATA_FIN; 0 is the infinite mapping (§3.7).
    pub data_level_length: u16,
    /// Present exactly when the connection negotiated DSS checksums.
    pub checksum: Option<u16>,
}

impl DssMapping {
    /// RFC 8684 §3.3.1: a Data-Level Length of 0 marks an "infinite mapping", used
    /// when falling back to regular TCP.
    pub fn is_infinite(&self) -> bool {
        self.data_level_length == 0
    }
}

/// A DSS option: a DATA_ACK, a mapping, DATA_FIN, or any mix of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dss {
    pub data_ack: Option<SeqField>,
    pub mapping: Option<DssMapping>,
    /// F: the mapping's last octet in data sequence space is the DATA_FIN (§3.3.3).
    pub data_fin: bool,
}

impl Dss {
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        header(bytes, 4, "DSS")?;
        let flags = bytes[3];
        let field_len = |present: u8, wide: u8| match (flags & present != 0, flags & wide != 0) {
            (false, _) => 0,
            (true, false) => 4,
            (true, true) => 8,
        };
        let ack_len = field_len(DATA_ACK_PRESENT, DATA_ACK_8);
        let dsn_len = field_len(MAPPING_PRESENT, DSN_8);
        let without_checksum = 4 + ack_len + if dsn_len > 0 { dsn_len + 6 } else { 0 };
        // The checksum's presence is told only by the length (§3.3): it follows a
        // mapping when the connection negotiated checksums.
        let has_checksum = match bytes.len() {
            n if n == without_checksum => false,
            n if n == without_checksum + 2 && dsn_len > 0 => true,
            length => {
                return Err(WireError::BadLength {
                    what: "DSS",
                    length,
                })
            }
        };
        let seq_field = |at: usize, len: usize| match len {
            4 => SeqField::U32(u32_at(bytes, at)),
            _ => SeqField::U64(u64_at(bytes, at)),
        };
        let data_ack = (ack_len > 0).then(|| seq_field(4, ack_len));
        let mapping = (dsn_len > 0).then(|| {
            let at = 4 + ack_len;
            let rest = at + dsn_len;
            DssMapping {
                dsn: seq_field(at, dsn_len),
                ssn: u32_at(bytes, rest),
                data_level_length: u16_at(bytes, rest + 4),
                checksum: has_checksum.then(|| u16_at(bytes, rest + 6)),
            }
        });
        Ok(Dss {
            data_ack,
            mapping,
            data_fin: flags & DATA_FIN != 0,
        })
    }

    pub fn buffer_len(&self) -> usize {
        4 + self.data_ack.map_or(0, SeqField::len)
            + self.mapping.map_or(0, |m| {
                m.dsn.len() + 6 + if m.checksum.is_some() { 2 } else { 0 }
            })
    }

    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        emit_header(buf, len, subtype::DSS, 0);
        let mut flags = 0;
        let mut at = 4;
        if let Some(ack) = self.data_ack {
            flags |= DATA_ACK_PRESENT;
            if let SeqField::U64(_) = ack {
                flags |= DATA_ACK_8;
            }
            at += ack.emit(&mut buf[at..]);
        }
        if let Some(m) = self.mapping {
            flags |= MAPPING_PRESENT;
            if let SeqField::U64(_) = m.dsn {
                flags |= DSN_8;
            }
            at += m.dsn.emit(&mut buf[at..]);
            set_u32_at(buf, at, m.ssn);
            set_u16_at(buf, at + 4, m.data_level_length);
            at += 6;
            if let Some(checksum) = m.checksum {
                set_u16_at(buf, at, checksum);
                at += 2;
            }
        }
        if self.data_fin {
            flags |= DATA_FIN;
        }
        buf[3] = flags;
        debug_assert_eq!(at, len);
        len
    }
}
