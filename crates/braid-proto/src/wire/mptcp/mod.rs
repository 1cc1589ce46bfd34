//! MPTCP v1 option (TCP option kind 30) and its suboptions, RFC 8684 §3.
//!
//! Each suboption type parses from the whole option (kind and length bytes included)
//! and emits the same. Lengths select the variant where RFC 8684 lets them; a length
//! that matches no variant is `WireError::BadLength`, which the caller treats as an
//! option to ignore, not as a bad packet. Subtypes this crate does not know, and
//! MP_CAPABLE of a version other than 1, are kept as [`UnknownMptcp`] bytes.
//!
//! Reserved bits are written as zero, as RFC 8684 asks of senders, and ignored on
//! receipt: a parse of a valid option followed by an emit gives back the same bytes.

mod addr;
mod capable;
mod control;
mod dss;
mod join;

pub use addr::{AddAddr, AddrIdList, RemoveAddr};
pub use capable::{MpCapable, MpCapableFlags, MpCapableVariant};
pub use control::{MpFail, MpFastclose, MpPrio, MpTcpRst, MpTcpRstFlags, MpTcpRstReason};
pub use dss::{Dss, DssMapping, SeqField};
pub use join::{MpJoin, JOIN_ACK_HMAC_LEN};

use super::bytes::ensure_len;
use super::WireError;

/// TCP option kind assigned to MPTCP (RFC 8684 §3).
pub const OPTION_KIND: u8 = 30;

/// The 4-bit MPTCP option subtypes (RFC 8684 §7.2, "MPTCP Option Subtypes").
pub mod subtype {
    pub const MP_CAPABLE: u8 = 0x0;
    pub const MP_JOIN: u8 = 0x1;
    pub const DSS: u8 = 0x2;
    pub const ADD_ADDR: u8 = 0x3;
    pub const REMOVE_ADDR: u8 = 0x4;
    pub const MP_PRIO: u8 = 0x5;
    pub const MP_FAIL: u8 = 0x6;
    pub const MP_FASTCLOSE: u8 = 0x7;
    pub const MP_TCPRST: u8 = 0x8;
    pub const MP_EXPERIMENTAL: u8 = 0xf;
}

/// One MPTCP option, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MptcpOption<'a> {
    MpCapable(MpCapable),
    MpJoin(MpJoin),
    Dss(Dss),
    AddAddr(AddAddr),
    RemoveAddr(RemoveAddr),
    MpPrio(MpPrio),
    MpFail(MpFail),
    MpFastclose(MpFastclose),
    MpTcpRst(MpTcpRst),
    Unknown(UnknownMptcp<'a>),
}

/// An MPTCP option this crate does not interpret: an unknown subtype, or
/// MP_CAPABLE of another version (the stack reads `version()` to fall back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownMptcp<'a> {
    /// Everything after the kind and length bytes; never empty.
    pub body: &'a [u8],
}

impl UnknownMptcp<'_> {
    pub fn subtype(&self) -> u8 {
        self.body[0] >> 4
    }

    /// The low nibble of the subtype byte: the version, for MP_CAPABLE.
    pub fn version(&self) -> u8 {
        self.body[0] & 0x0f
    }
}

impl<'a> MptcpOption<'a> {
    /// Parses one whole MPTCP option: `bytes[0]` is kind 30 and `bytes[1]` its length,
    /// equal to `bytes.len()`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, WireError> {
        let body = header(bytes, 3, "MPTCP option")?;
        let subtype = body[0] >> 4;
        Ok(match subtype {
            subtype::MP_CAPABLE if body[0] & 0x0f == capable::VERSION => {
                MptcpOption::MpCapable(MpCapable::parse(bytes)?)
            }
            subtype::MP_JOIN => MptcpOption::MpJoin(MpJoin::parse(bytes)?),
            subtype::DSS => MptcpOption::Dss(Dss::parse(bytes)?),
            subtype::ADD_ADDR => MptcpOption::AddAddr(AddAddr::parse(bytes)?),
            subtype::REMOVE_ADDR => MptcpOption::RemoveAddr(RemoveAddr::parse(bytes)?),
            subtype::MP_PRIO => MptcpOption::MpPrio(MpPrio::parse(bytes)?),
            subtype::MP_FAIL => MptcpOption::MpFail(MpFail::parse(bytes)?),
            subtype::MP_FASTCLOSE => MptcpOption::MpFastclose(MpFastclose::parse(bytes)?),
            subtype::MP_TCPRST => MptcpOption::MpTcpRst(MpTcpRst::parse(bytes)?),
            _ => MptcpOption::Unknown(UnknownMptcp { body }),
        })
    }

    /// The option's length on the wire, kind and length bytes included.
    pub fn buffer_len(&self) -> usize {
        match self {
            MptcpOption::MpCapable(o) => o.buffer_len(),
            MptcpOption::MpJoin(o) => o.buffer_len(),
            MptcpOption::Dss(o) => o.buffer_len(),
            MptcpOption::AddAddr(o) => o.buffer_len(),
            MptcpOption::RemoveAddr(o) => o.buffer_len(),
            MptcpOption::MpPrio(o) => o.buffer_len(),
            MptcpOption::MpFail(_) => MpFail::LEN,
            MptcpOption::MpFastclose(_) => MpFastclose::LEN,
            MptcpOption::MpTcpRst(_) => MpTcpRst::LEN,
            MptcpOption::Unknown(o) => 2 + o.body.len(),
        }
    }

    /// Writes the option at the start of `buf` and returns its length.
    ///
    /// # Panics
    /// If `buf` is shorter than [`buffer_len`](Self::buffer_len): a caller bug.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        match self {
            MptcpOption::MpCapable(o) => o.emit(buf),
            MptcpOption::MpJoin(o) => o.emit(buf),
            MptcpOption::Dss(o) => o.emit(buf),
            MptcpOption::AddAddr(o) => o.emit(buf),
            MptcpOption::RemoveAddr(o) => o.emit(buf),
            MptcpOption::MpPrio(o) => o.emit(buf),
            MptcpOption::MpFail(o) => o.emit(buf),
            MptcpOption::MpFastclose(o) => o.emit(buf),
            MptcpOption::MpTcpRst(o) => o.emit(buf),
            MptcpOption::Unknown(o) => {
                let len = 2 + o.body.len();
                buf[0] = OPTION_KIND;
                buf[1] = len as u8;
                buf[2..len].copy_from_slice(o.body);
                len
            }
        }
    }

    /// The 4-bit subtype this option carries on the wire.
    pub fn subtype(&self) -> u8 {
        match self {
            MptcpOption::MpCapable(_) => subtype::MP_CAPABLE,
            MptcpOption::MpJoin(_) => subtype::MP_JOIN,
            MptcpOption::Dss(_) => subtype::DSS,
            MptcpOption::AddAddr(_) => subtype::ADD_ADDR,
            MptcpOption::RemoveAddr(_) => subtype::REMOVE_ADDR,
            MptcpOption::MpPrio(_) => subtype::MP_PRIO,
            MptcpOption::MpFail(_) => subtype::MP_FAIL,
            MptcpOption::MpFastclose(_) => subtype::MP_FASTCLOSE,
            MptcpOption::MpTcpRst(_) => subtype::MP_TCPRST,
            MptcpOption::Unknown(o) => o.subtype(),
        }
    }

    /// The RFC 8684 name of the subtype, as tools print it.
    pub fn name(&self) -> &'static str {
        subtype_name(self.subtype())
    }
}

/// The RFC 8684 name of an MPTCP subtype number.
pub fn subtype_name(subtype: u8) -> &'static str {
    match subtype {
        subtype::MP_CAPABLE => "MP_CAPABLE",
        subtype::MP_JOIN => "MP_JOIN",
        subtype::DSS => "DSS",
        subtype::ADD_ADDR => "ADD_ADDR",
        subtype::REMOVE_ADDR => "REMOVE_ADDR",
        subtype::MP_PRIO => "MP_PRIO",
        subtype::MP_FAIL => "MP_FAIL",
        subtype::MP_FASTCLOSE => "MP_FASTCLOSE",
        subtype::MP_TCPRST => "MP_TCPRST",
        subtype::MP_EXPERIMENTAL => "MP_EXPERIMENTAL",
        _ => "unknown",
    }
}

/// Checks the kind/length framing of a whole option and returns the bytes after the
/// length byte. `min_len` counts the kind and length bytes.
fn header<'a>(bytes: &'a [u8], min_len: usize, what: &'static str) -> Result<&'a [u8], WireError> {
    ensure_len(bytes, 2)?;
    let len = bytes[1] as usize;
    if bytes[0] != OPTION_KIND || len != bytes.len() || len < min_len {
        return Err(WireError::BadLength { what, length: len });
    }
    Ok(&bytes[2..])
}

/// Writes kind, length and the subtype byte (subtype in the high nibble).
fn emit_header(buf: &mut [u8], len: usize, subtype: u8, low_nibble: u8) {
    buf[0] = OPTION_KIND;
    buf[1] = len as u8;
    buf[2] = subtype << 4 | (low_nibble & 0x0f);
}

#[cfg(test)]
mod tests;
