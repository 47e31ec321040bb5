//! Fuzz target `ffi_calls`: the invariants are in `callgate_fuzz::ffi::check_ffi`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| callgate_fuzz::ffi::check_ffi(data));
