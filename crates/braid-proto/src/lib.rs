//! braid-proto
#![forbid(unsafe_code)]
pub mod crypto;
pub mod wire;
