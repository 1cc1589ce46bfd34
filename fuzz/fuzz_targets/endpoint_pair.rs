//! A live MPTCP client–server pair, two subflows established and data flowing, with
//! arbitrary segments injected into either endpoint at any time (see
//! `src/endpoint_pair.rs` for the program the bytes encode and the oracles).
#![no_main]

#[path = "../src/endpoint_pair.rs"]
mod endpoint_pair;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| endpoint_pair::check_endpoint_pair(data));
