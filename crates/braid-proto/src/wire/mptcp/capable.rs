//! MP_CAPABLE, RFC 8684 §3.1.
//!
//! ```text
//!  Kind | Length | Subtype | Version | A B C D E F G H |
//!  Option Sender's Key (64, SYN-ACK and ACK)
//!  Option Receiver's Key (64, ACK)
//!  Data-Level Length (16) | Checksum (16, optional)   (ACK with data)
//! ```

use super::{emit_header, header, subtype};
use crate::wire::bytes::{set_u16_at, set_u64_at, u16_at, u64_at};
use crate::wire::WireError;

/// The only MPTCP version this crate speaks (RFC 8684 is version 1).
pub(super) const VERSION: u8 = 1;

/// The eight MP_CAPABLE flag bits A..H. Unassigned bits D..G are kept as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MpCapableFlags(pub u8);

impl MpCapableFlags {
    /// A: the sender requires DSS checksums (RFC 8684 §3.1).
    pub const CHECKSUM_REQUIRED: u8 = 0x80;
    /// B: extensibility, reserved for future use; must be 0 in version 1.
    pub const EXTENSIBILITY: u8 = 0x40;
    /// C: the sender will not accept subflows to its source address (§3.1).
    pub const NO_MORE_SUBFLOWS: u8 = 0x20;
    /// H: HMAC-SHA256 is the crypto algorithm; the only one defined.
    pub const HMAC_SHA256: u8 = 0x01;

    pub fn checksum_required(self) -> bool {
        self.0 & Self::CHECKSUM_REQUIRED != 0
    }
    pub fn extensibility(self) -> bool {
        self.0 & Self::EXTENSIBILITY != 0
    }
    pub fn no_more_subflows(self) -> bool {
        self.0 & Self::NO_MORE_SUBFLOWS != 0
    }
    pub fn hmac_sha256(self) -> bool {
        self.0 & Self::HMAC_SHA256 != 0
    }
}

/// Which of the handshake's messages this MP_CAPABLE is, told by its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpCapableVariant {
    /// On the SYN: no key in version 1 (length 4).
    Syn,
    /// On the SYN-ACK: the listener's key (length 12).
    SynAck { sender_key: u64 },
    /// On the third ACK and until the peer acknowledges it: both keys (length 20).
    Ack { sender_key: u64, receiver_key: u64 },
    /// On the first data segment when the third ACK carried none: both keys and the
    /// mapping's data-level length, with a checksum when checksums are in use
    /// (length 22, or 24 with checksum).
    AckWithData {
        sender_key: u64,
        receiver_key: u64,
        data_level_length: u16,
        checksum: Option<u16>,
    },
}

impl MpCapableVariant {
    /// Both keys, `(sender_key, receiver_key)`, of a third ACK or first data
    /// segment; `None` on the SYN and SYN-ACK.
    pub fn keys(&self) -> Option<(u64, u64)> {
        match *self {
            MpCapableVariant::Ack {
                sender_key,
                receiver_key,
            }
            | MpCapableVariant::AckWithData {
                sender_key,
                receiver_key,
                ..
            } => Some((sender_key, receiver_key)),
            MpCapableVariant::Syn | MpCapableVariant::SynAck { .. } => None,
        }
    }
}

/// An MP_CAPABLE option of version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpCapable {
    pub flags: MpCapableFlags,
    pub variant: MpCapableVariant,
}

impl MpCapable {
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let body = header(bytes, 4, "MP_CAPABLE")?;
        if body[0] != (subtype::MP_CAPABLE << 4 | VERSION) {
            return Err(WireError::Malformed {
                what: "MP_CAPABLE version",
            });
        }
        let flags = MpCapableFlags(body[1]);
        let variant = match bytes.len() {
            4 => MpCapableVariant::Syn,
            12 => MpCapableVariant::SynAck {
                sender_key: u64_at(bytes, 4),
            },
            20 => MpCapableVariant::Ack {
                sender_key: u64_at(bytes, 4),
                receiver_key: u64_at(bytes, 12),
            },
            22 | 24 => MpCapableVariant::AckWithData {
                sender_key: u64_at(bytes, 4),
                receiver_key: u64_at(bytes, 12),
                data_level_length: u16_at(bytes, 20),
                checksum: (bytes.len() == 24).then(|| u16_at(bytes, 22)),
            },
            length => {
                return Err(WireError::BadLength {
                    what: "MP_CAPABLE",
                    length,
                })
            }
        };
        Ok(MpCapable { flags, variant })
    }

    pub fn buffer_len(&self) -> usize {
        match self.variant {
            MpCapableVariant::Syn => 4,
            MpCapableVariant::SynAck { .. } => 12,
            MpCapableVariant::Ack { .. } => 20,
            MpCapableVariant::AckWithData { checksum: None, .. } => 22,
            MpCapableVariant::AckWithData {
                checksum: Some(_), ..
            } => 24,
        }
    }

    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        emit_header(buf, len, subtype::MP_CAPABLE, VERSION);
        buf[3] = self.flags.0;
        match self.variant {
            MpCapableVariant::Syn => {}
            MpCapableVariant::SynAck { sender_key } => set_u64_at(buf, 4, sender_key),
            MpCapableVariant::Ack {
                sender_key,
                receiver_key,
            } => {
                set_u64_at(buf, 4, sender_key);
                set_u64_at(buf, 12, receiver_key);
            }
            MpCapableVariant::AckWithData {
                sender_key,
                receiver_key,
                data_level_length,
                checksum,
            } => {
                set_u64_at(buf, 4, sender_key);
                set_u64_at(buf, 12, receiver_key);
                set_u16_at(buf, 20, data_level_length);
                if let Some(checksum) = checksum {
                    set_u16_at(buf, 22, checksum);
                }
            }
        }
        len
    }

    /// The sender's key, when this variant carries one.
    pub fn sender_key(&self) -> Option<u64> {
        match self.variant {
            MpCapableVariant::Syn => None,
            MpCapableVariant::SynAck { sender_key }
            | MpCapableVariant::Ack { sender_key, .. }
            | MpCapableVariant::AckWithData { sender_key, .. } => Some(sender_key),
        }
    }

    /// The receiver's key, when this variant carries one.
    pub fn receiver_key(&self) -> Option<u64> {
        match self.variant {
            MpCapableVariant::Ack { receiver_key, .. }
            | MpCapableVariant::AckWithData { receiver_key, .. } => Some(receiver_key),
            _ => None,
        }
    }
}
