//! Address signalling: ADD_ADDR (RFC 8684 §3.4.1) and REMOVE_ADDR (§3.4.2).
//!
//! ```text
//!  ADD_ADDR:    Kind | Length | Subtype | (rsv) |E| Address ID |
//!               Address (4 or 16) | Port (2, optional) | Truncated HMAC (8, unless E)
//!  REMOVE_ADDR: Kind | Length | Subtype | (rsv) | Address ID | ... one octet per id
//! ```

use std::fmt;
use std::net::IpAddr;

use super::{emit_header, header, subtype};
use crate::wire::bytes::{
    ipv4_at, ipv6_at, set_ipv4_at, set_ipv6_at, set_u16_at, set_u64_at, u16_at, u64_at,
};
use crate::wire::WireError;

/// E: this ADD_ADDR echoes one received, and so carries no HMAC (§3.4.1).
const ECHO: u8 = 0x01;

/// An address announcement, or the echo that acknowledges one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddAddr {
    pub addr_id: u8,
    pub addr: IpAddr,
    pub port: Option<u16>,
    /// The rightmost 64 bits of the HMAC; `None` in an echo (E flag set).
    pub truncated_hmac: Option<u64>,
}

impl AddAddr {
    pub fn is_echo(&self) -> bool {
        self.truncated_hmac.is_none()
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let body = header(bytes, 8, "ADD_ADDR")?;
        let echo = body[0] & ECHO != 0;
        // Every combination of family, port and HMAC has its own length.
        let (addr_len, has_port, has_hmac) = match bytes.len() {
            8 => (4, false, false),
            10 => (4, true, false),
            16 => (4, false, true),
            18 => (4, true, true),
            20 => (16, false, false),
            22 => (16, true, false),
            28 => (16, false, true),
            30 => (16, true, true),
            length => {
                return Err(WireError::BadLength {
                    what: "ADD_ADDR",
                    length,
                })
            }
        };
        if echo == has_hmac {
            return Err(WireError::Malformed {
                what: "ADD_ADDR echo flag disagrees with its length",
            });
        }
        let addr_end = 4 + addr_len;
        let addr = match addr_len {
            4 => IpAddr::V4(ipv4_at(bytes, 4)),
            _ => IpAddr::V6(ipv6_at(bytes, 4)),
        };
        let port = has_port.then(|| u16_at(bytes, addr_end));
        let hmac_at = addr_end + if has_port { 2 } else { 0 };
        let truncated_hmac = has_hmac.then(|| u64_at(bytes, hmac_at));
        Ok(AddAddr {
            addr_id: bytes[3],
            addr,
            port,
            truncated_hmac,
        })
    }

    pub fn buffer_len(&self) -> usize {
        let addr_len = match self.addr {
            IpAddr::V4(_) => 4,
            IpAddr::V6(_) => 16,
        };
        4 + addr_len + self.port.map_or(0, |_| 2) + self.truncated_hmac.map_or(0, |_| 8)
    }

    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        emit_header(
            buf,
            len,
            subtype::ADD_ADDR,
            if self.is_echo() { ECHO } else { 0 },
        );
        buf[3] = self.addr_id;
        let mut at = 4;
        match self.addr {
            IpAddr::V4(a) => {
                set_ipv4_at(buf, at, a);
                at += 4;
            }
            IpAddr::V6(a) => {
                set_ipv6_at(buf, at, a);
                at += 16;
            }
        }
        if let Some(port) = self.port {
            set_u16_at(buf, at, port);
            at += 2;
        }
        if let Some(hmac) = self.truncated_hmac {
            set_u64_at(buf, at, hmac);
        }
        len
    }
}

/// A non-empty list of address ids, as many as fit in the TCP option space.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AddrIdList {
    len: u8,
    // Unused tail entries stay zero, so derived equality compares the list alone.
    ids: [u8; AddrIdList::CAPACITY],
}

impl AddrIdList {
    /// 40 octets of TCP option space less kind, length and subtype.
    pub const CAPACITY: usize = 37;

    /// A list of `ids`; `None` if it is empty or longer than [`Self::CAPACITY`].
    pub fn new(ids: &[u8]) -> Option<Self> {
        if ids.is_empty() || ids.len() > Self::CAPACITY {
            return None;
        }
        let mut list = AddrIdList {
            len: ids.len() as u8,
            ids: [0; Self::CAPACITY],
        };
        list.ids[..ids.len()].copy_from_slice(ids);
        Some(list)
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.ids[..self.len as usize]
    }
}

impl fmt::Debug for AddrIdList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// Withdraws addresses; the receiver closes the subflows that use them (§3.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoveAddr {
    pub addr_ids: AddrIdList,
}

impl RemoveAddr {
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        header(bytes, 4, "REMOVE_ADDR")?;
        let addr_ids = AddrIdList::new(&bytes[3..]).ok_or(WireError::BadLength {
            what: "REMOVE_ADDR",
            length: bytes.len(),
        })?;
        Ok(RemoveAddr { addr_ids })
    }

    pub fn buffer_len(&self) -> usize {
        3 + self.addr_ids.as_slice().len()
    }

    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        emit_header(buf, len, subtype::REMOVE_ADDR, 0);
        buf[3..len].copy_from_slice(self.addr_ids.as_slice());
        len
    }
}
