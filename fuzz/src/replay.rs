//! Replays a fuzz target's committed inputs (`fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/`) through its invariant check on stable, for `cargo test`.
//! Shared by every `*fuzz_replay.rs` test, which include this file by `#[path]`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// Runs `check` on every committed input of `target` under `fuzz_dir`; fails naming each
/// input that broke an invariant. Returns how many inputs ran.
pub fn replay(fuzz_dir: &Path, target: &str, check: fn(&[u8])) -> usize {
    let mut inputs = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = fuzz_dir.join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() {
                inputs.push(path);
            }
        }
    }
    inputs.sort();
    assert!(!inputs.is_empty(), "no committed inputs for `{target}`");
    let mut failed = Vec::new();
    for path in &inputs {
        let data = std::fs::read(path).expect("a committed input reads");
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| check(&data))) {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_default();
            failed.push(format!("{}: {why}", path.display()));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} `{target}` inputs broke an invariant:\n{}",
        failed.len(),
        inputs.len(),
        failed.join("\n")
    );
    inputs.len()
}
