//! Wire formats: zero-copy views over packet bytes and typed `Repr`s.
//!
//! Every header and option follows one shape (after smoltcp): a `Repr` type with
//! `parse(&[u8]) -> Result<Repr, WireError>`, `buffer_len()` and
//! `emit(&self, &mut [u8])`. Checksums are computed at emit. Parsing never panics,
//! whatever the input; a `Repr` that parsed from bytes emits exactly those bytes.

mod error;

pub use error::WireError;
pub mod mptcp;
pub mod option_packer;
pub mod tcp_option;
