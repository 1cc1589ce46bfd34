//! braid: Multipath TCP (RFC 8684) in userspace.
//!
//! Today this crate holds [`capture`], the capture analysis behind `braid pcap`. The
//! runtime that drives `braid-proto` over a TUN device comes with the TCP issue.

pub mod capture;
