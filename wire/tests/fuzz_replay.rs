//! Replays the committed fuzz inputs of the `feed_frames` target on stable, through the very
//! invariant check the fuzz target runs (`fuzz/src/feed.rs`, included here by `#[path]`):
//! `cargo test` needs no nightly, and every crash the fuzzer found stays fixed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test binary: a broken invariant is a failed test"
)]

#[path = "../../fuzz/src/feed.rs"]
mod feed;
#[path = "../../fuzz/src/replay.rs"]
mod replay;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn feed_frames_corpus_holds_every_invariant() {
    replay::replay(&fuzz_dir(), "feed_frames", feed::check_feed);
}

#[test]
fn the_feed_check_catches_a_frame_length_judged_wrongly() {
    // A prefix one past the limit is refused, the limit itself is not.
    let over = u32::try_from(callgate_wire::feed::MAX_FRAME + 1)
        .unwrap()
        .to_be_bytes();
    feed::check_feed(&over);
    let at = u32::try_from(callgate_wire::feed::MAX_FRAME)
        .unwrap()
        .to_be_bytes();
    feed::check_feed(&at);
}
