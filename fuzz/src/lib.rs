//! callgate's fuzz targets' invariants: one module per target family. Each module is also
//! included by `#[path]` from the stable replay tests (`tests/fuzz_replay.rs`,
//! `daemon/tests/fuzz_replay.rs`), so the fuzzers and the replays check the same things.

pub mod directory;
pub mod feed;
pub mod ffi;
pub mod http;
pub mod replay;
pub mod sip;

/// The C library (`libcallgate`), by the name `ffi` refers to it.
pub use libcallgate as capi;
