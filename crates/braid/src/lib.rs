//! braid: Multipath TCP (RFC 8684) in userspace.
//!
//! [`capture`] is the capture analysis behind `braid pcap`; [`runtime`] drives a
//! `braid-proto` endpoint over a TUN device behind tokio-shaped sockets.

pub mod capture;
pub mod runtime;
