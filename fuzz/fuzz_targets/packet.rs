//! One IP packet (from its IPv4 or IPv6 header) through `braid::capture::decode`, every
//! TCP and MPTCP option emitted and parsed back, the renderers and a connection tracker.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|ip: &[u8]| braid_fuzz::check_lone_packet(ip));
