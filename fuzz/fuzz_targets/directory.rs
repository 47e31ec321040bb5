//! Fuzz target `directory`: the invariants are in `callgate_fuzz::directory::check_directory`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| callgate_fuzz::directory::check_directory(data));
