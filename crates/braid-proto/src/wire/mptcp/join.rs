//! MP_JOIN, RFC 8684 §3.2.
//!
//! ```text
//!  SYN     (12): Kind | Length | Subtype | rsv |B| Address ID | Receiver's Token (32) | Sender's Random Number (32)
//!  SYN-ACK (16): Kind | Length | Subtype | rsv |B| Address ID | Sender's Truncated HMAC (64) | Sender's Random Number (32)
//!  ACK     (24): Kind | Length | Subtype | (reserved 12) | Sender's HMAC (160)
//! ```

use super::{emit_header, header, subtype};
use crate::wire::bytes::{set_u32_at, set_u64_at, u32_at, u64_at};
use crate::wire::WireError;

/// Bit in the subtype byte's low nibble: the sender wants this subflow as a backup.
const BACKUP: u8 = 0x01;

/// Length of the HMAC carried in the third ACK: the leftmost 160 bits of HMAC-SHA256.
pub const JOIN_ACK_HMAC_LEN: usize = 20;

/// An MP_JOIN option, one variant per handshake message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpJoin {
    Syn {
        backup: bool,
        addr_id: u8,
        token: u32,
        nonce: u32,
    },
    SynAck {
        backup: bool,
        addr_id: u8,
        truncated_hmac: u64,
        nonce: u32,
    },
    Ack {
        hmac: [u8; JOIN_ACK_HMAC_LEN],
    },
}

impl MpJoin {
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let body = header(bytes, 12, "MP_JOIN")?;
        let backup = body[0] & BACKUP != 0;
        Ok(match bytes.len() {
            12 => MpJoin::Syn {
                backup,
                addr_id: bytes[3],
                token: u32_at(bytes, 4),
                nonce: u32_at(bytes, 8),
            },
            16 => MpJoin::SynAck {
                backup,
                addr_id: bytes[3],
                truncated_hmac: u64_at(bytes, 4),
                nonce: u32_at(bytes, 12),
            },
            24 => {
                let mut hmac = [0u8; JOIN_ACK_HMAC_LEN];
                hmac.copy_from_slice(&bytes[4..24]);
                MpJoin::Ack { hmac }
            }
            length => {
                return Err(WireError::BadLength {
                    what: "MP_JOIN",
                    length,
                })
            }
        })
    }

    pub fn buffer_len(&self) -> usize {
        match self {
            MpJoin::Syn { .. } => 12,
            MpJoin::SynAck { .. } => 16,
            MpJoin::Ack { .. } => 24,
        }
    }

    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        match *self {
            MpJoin::Syn {
                backup,
                addr_id,
                token,
                nonce,
            } => {
                emit_header(buf, len, subtype::MP_JOIN, if backup { BACKUP } else { 0 });
                buf[3] = addr_id;
                set_u32_at(buf, 4, token);
                set_u32_at(buf, 8, nonce);
            }
            MpJoin::SynAck {
                backup,
                addr_id,
                truncated_hmac,
                nonce,
            } => {
                emit_header(buf, len, subtype::MP_JOIN, if backup { BACKUP } else { 0 });
                buf[3] = addr_id;
                set_u64_at(buf, 4, truncated_hmac);
                set_u32_at(buf, 12, nonce);
            }
            MpJoin::Ack { hmac } => {
                emit_header(buf, len, subtype::MP_JOIN, 0);
                buf[3] = 0;
                buf[4..24].copy_from_slice(&hmac);
            }
        }
        len
    }
}
