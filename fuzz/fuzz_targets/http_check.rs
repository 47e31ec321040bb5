//! Fuzz target `http_check`: the invariants are in `callgate_fuzz::http::check_http`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| callgate_fuzz::http::check_http(data));
