//! Replays the committed fuzz inputs of the engine-side target (`directory`)
//! on stable, through the very invariant checks the fuzz targets run (`fuzz/src/`, included
//! here by `#[path]`): `cargo test` needs no nightly, and every crash the fuzzers found stays
//! fixed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test binary: a broken invariant is a failed test"
)]

#[path = "../fuzz/src/directory.rs"]
mod directory;
#[path = "../fuzz/src/replay.rs"]
mod replay;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

#[test]
fn directory_corpus_holds_every_invariant() {
    replay::replay(&fuzz_dir(), "directory", directory::check_directory);
}

#[test]
fn the_directory_check_accepts_the_demo_and_refuses_nothing_silently() {
    // The demo directory is accepted and every emergency call in it is allowed.
    let demo =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo.yaml")).unwrap();
    directory::check_directory(&demo);
    // Refusals of every kind say why.
    for text in [
        "",
        "tenants: [",
        "tenants: [{id: \"\"}]",
        "{\"tenants\": 1}",
        "- a\n- b",
    ] {
        directory::check_directory(text.as_bytes());
    }
}
