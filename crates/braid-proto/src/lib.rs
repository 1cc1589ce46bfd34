//! braid-proto: the sans-IO core of braid's Multipath TCP (RFC 8684).
//!
//! No I/O, no clock, no threads: callers hand in bytes and time and take bytes out.
//! Today: [`wire`], the packet and option formats, and [`crypto`], MPTCP's keys,
//! tokens, HMACs and checksums. See ARCHITECTURE.md for what comes next.
#![forbid(unsafe_code)]

pub mod cc;
pub mod crypto;
pub mod endpoint;
pub mod mptcp;
pub mod pm;
pub mod rng;
pub mod sched;
pub mod secrets;
pub mod seq;
pub mod tcp;
pub mod time;
pub mod wire;
