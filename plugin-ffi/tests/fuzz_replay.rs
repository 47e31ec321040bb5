//! Replays the committed inputs of the `ffi_calls` fuzz target on stable, through the very
//! invariant checks the fuzz target runs (`fuzz/src/ffi.rs`, included here by `#[path]`):
//! arbitrary strings, NULLs and buffer lengths through the C ABI.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test binary: a broken invariant is a failed test"
)]

/// The C library, by the name the shared invariants use.
use callgate_ffi as capi;

#[path = "../../fuzz/src/ffi.rs"]
mod ffi;
#[path = "../../fuzz/src/replay.rs"]
mod replay;

use std::path::Path;

#[test]
fn ffi_calls_corpus_holds_every_invariant() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    replay::replay(&dir, "ffi_calls", ffi::check_ffi);
}
