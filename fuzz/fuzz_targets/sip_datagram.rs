//! Fuzz target `sip_datagram`: the invariants are in `callgate_fuzz::sip::check_datagram`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| callgate_fuzz::sip::check_datagram(data));
