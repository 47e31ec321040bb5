//! Fuzz target `sip_stream`: the invariants are in `callgate_fuzz::sip::check_stream`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| callgate_fuzz::sip::check_stream(data));
