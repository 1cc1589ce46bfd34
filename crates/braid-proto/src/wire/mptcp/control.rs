//! Subflow and connection control: MP_PRIO (RFC 8684 §3.3.8), MP_FASTCLOSE (§3.5),
//! MP_TCPRST (§3.6) and MP_FAIL (§3.7).
//!
//! ```text
//!  MP_PRIO      (3): Kind | Length | Subtype | (rsv) |B|   [+ Address ID, RFC 6824 only]
//!  MP_FASTCLOSE (12): Kind | Length | Subtype | (reserved 12) | Option Receiver's Key (64)
//!  MP_TCPRST    (4): Kind | Length | Subtype |U|V|W|T| Reason
//!  MP_FAIL      (12): Kind | Length | Subtype | (reserved 12) | Data Sequence Number (64)
//! ```

use super::{emit_header, header, subtype};
use crate::wire::bytes::{set_u64_at, u64_at};
use crate::wire::WireError;

/// Changes the sender's priority for the subflow it travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpPrio {
    pub backup: bool,
    /// Only in the RFC 6824 (version 0) form, which named the address; RFC 8684
    /// dropped it. Kept so that such options parse and re-emit as received.
    pub addr_id: Option<u8>,
}

impl MpPrio {
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let body = header(bytes, 3, "MP_PRIO")?;
        let addr_id = match bytes.len() {
            3 => None,
            4 => Some(bytes[3]),
            length => {
                return Err(WireError::BadLength {
                    what: "MP_PRIO",
                    length,
                })
            }
        };
        Ok(MpPrio {
            backup: body[0] & 0x01 != 0,
            addr_id,
        })
    }

    pub fn buffer_len(&self) -> usize {
        3 + self.addr_id.map_or(0, |_| 1)
    }

    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        emit_header(buf, len, subtype::MP_PRIO, self.backup as u8);
        if let Some(id) = self.addr_id {
            buf[3] = id;
        }
        len
    }
}

/// Parses the shared layout of MP_FAIL and MP_FASTCLOSE: 12 reserved bits and a
/// 64-bit value.
fn parse_u64_option(bytes: &[u8], what: &'static str) -> Result<u64, WireError> {
    header(bytes, 12, what)?;
    if bytes.len() != 12 {
        return Err(WireError::BadLength {
            what,
            length: bytes.len(),
        });
    }
    Ok(u64_at(bytes, 4))
}

fn emit_u64_option(buf: &mut [u8], subtype: u8, value: u64) -> usize {
    emit_header(buf, 12, subtype, 0);
    buf[3] = 0;
    set_u64_at(buf, 4, value);
    12
}

/// Reports a checksum failure at a data sequence number (§3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpFail {
    pub dsn: u64,
}

impl MpFail {
    pub const LEN: usize = 12;

    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        Ok(MpFail {
            dsn: parse_u64_option(bytes, "MP_FAIL")?,
        })
    }

    pub fn emit(&self, buf: &mut [u8]) -> usize {
        emit_u64_option(buf, subtype::MP_FAIL, self.dsn)
    }
}

/// Closes the whole connection at once; the key proves the sender knows it (§3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpFastclose {
    pub receiver_key: u64,
}

impl MpFastclose {
    pub const LEN: usize = 12;

    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        Ok(MpFastclose {
            receiver_key: parse_u64_option(bytes, "MP_FASTCLOSE")?,
        })
    }

    pub fn emit(&self, buf: &mut [u8]) -> usize {
        emit_u64_option(buf, subtype::MP_FASTCLOSE, self.receiver_key)
    }
}

/// The U, V, W and T flags of MP_TCPRST. Only T has a meaning in RFC 8684.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MpTcpRstFlags(pub u8);

impl MpTcpRstFlags {
    /// T: the error is transient; the subflow may be tried again (§3.6).
    pub const TRANSIENT: u8 = 0x01;

    pub fn transient(self) -> bool {
        self.0 & Self::TRANSIENT != 0
    }
}

/// Why a subflow was reset: the MP_TCPRST reason codes of RFC 8684 §3.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpTcpRstReason {
    Unspecified,
    MptcpSpecific,
    LackOfResources,
    AdministrativelyProhibited,
    TooMuchOutstandingData,
    UnacceptablePerformance,
    MiddleboxInterference,
    /// A code not assigned by RFC 8684, kept as received.
    Other(u8),
}

impl MpTcpRstReason {
    pub fn code(self) -> u8 {
        match self {
            MpTcpRstReason::Unspecified => 0x00,
            MpTcpRstReason::MptcpSpecific => 0x01,
            MpTcpRstReason::LackOfResources => 0x02,
            MpTcpRstReason::AdministrativelyProhibited => 0x03,
            MpTcpRstReason::TooMuchOutstandingData => 0x04,
            MpTcpRstReason::UnacceptablePerformance => 0x05,
            MpTcpRstReason::MiddleboxInterference => 0x06,
            MpTcpRstReason::Other(code) => code,
        }
    }

    pub fn from_code(code: u8) -> Self {
        match code {
            0x00 => MpTcpRstReason::Unspecified,
            0x01 => MpTcpRstReason::MptcpSpecific,
            0x02 => MpTcpRstReason::LackOfResources,
            0x03 => MpTcpRstReason::AdministrativelyProhibited,
            0x04 => MpTcpRstReason::TooMuchOutstandingData,
            0x05 => MpTcpRstReason::UnacceptablePerformance,
            0x06 => MpTcpRstReason::MiddleboxInterference,
            code => MpTcpRstReason::Other(code),
        }
    }

    /// A short name for logs and tools.
    pub fn name(self) -> &'static str {
        match self {
            MpTcpRstReason::Unspecified => "unspecified",
            MpTcpRstReason::MptcpSpecific => "mptcp-error",
            MpTcpRstReason::LackOfResources => "no-resources",
            MpTcpRstReason::AdministrativelyProhibited => "prohibited",
            MpTcpRstReason::TooMuchOutstandingData => "too-much-outstanding-data",
            MpTcpRstReason::UnacceptablePerformance => "unacceptable-performance",
            MpTcpRstReason::MiddleboxInterference => "middlebox-interference",
            MpTcpRstReason::Other(_) => "other",
        }
    }
}

/// Carried on a RST to say why the subflow was reset (§3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpTcpRst {
    pub flags: MpTcpRstFlags,
    pub reason: MpTcpRstReason,
}

impl MpTcpRst {
    pub const LEN: usize = 4;

    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let body = header(bytes, 4, "MP_TCPRST")?;
        if bytes.len() != Self::LEN {
            return Err(WireError::BadLength {
                what: "MP_TCPRST",
                length: bytes.len(),
            });
        }
        Ok(MpTcpRst {
            flags: MpTcpRstFlags(body[0] & 0x0f),
            reason: MpTcpRstReason::from_code(body[1]),
        })
    }

    pub fn emit(&self, buf: &mut [u8]) -> usize {
        emit_header(buf, Self::LEN, subtype::MP_TCPRST, self.flags.0);
        buf[3] = self.reason.code();
        Self::LEN
    }
}
