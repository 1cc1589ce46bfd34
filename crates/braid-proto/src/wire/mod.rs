//! Wire formats: zero-copy views over packet bytes and typed `Repr`s.
//!
//! Every header and option follows one shape (after smoltcp): a `Repr` type with
//! `parse(&[u8]) -> Result<Repr, WireError>`, `buffer_len()` and
//! `emit(&self, &mut [u8])`. Checksums are computed at emit. Parsing never panics,
//! whatever the input; a `Repr` that parsed from bytes emits exactly those bytes.

mod bytes;
mod checksum;
mod error;
mod ip;
mod ipv4;
mod ipv6;
pub mod mptcp;
pub mod option_packer;
mod tcp;
pub mod tcp_option;

pub use checksum::{Checksum, ChecksumCheck, ChecksumStatus};
pub use error::WireError;
pub use ip::{ip_protocol, IpPacket, IpPayload, IpRepr};
pub use ipv4::{Ipv4Packet, Ipv4Repr, IPV4_MAX_HEADER_LEN, IPV4_MIN_HEADER_LEN};
pub use ipv6::{
    Ipv6Fragment, Ipv6Packet, Ipv6Repr, Ipv6UpperLayer, IPV6_HEADER_LEN, IPV6_MAX_EXT_HEADERS,
};
pub use tcp::{
    TcpFlags, TcpRepr, TcpSegment, TCP_MAX_HEADER_LEN, TCP_MAX_OPTIONS_LEN, TCP_MIN_HEADER_LEN,
};
