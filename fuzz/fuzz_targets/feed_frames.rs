//! Fuzz target `feed_frames`: the invariants are in `callgate_fuzz::feed::check_feed`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| callgate_fuzz::feed::check_feed(data));
