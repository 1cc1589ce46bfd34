//! A pcap or pcapng file through `CaptureReader`, every packet it yields through the
//! `packet` checks, all with one connection tracker.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|file: &[u8]| braid_fuzz::check_capture(file));
