//! The bytes after an MPTCP option's kind (30) and length octets, through
//! `MptcpOption::parse`; what parses must emit as many octets and parse back equal.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| braid_fuzz::check_mptcp_body(body));
