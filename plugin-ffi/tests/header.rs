//! `include/callgate.h` is what cbindgen makes of the source: regenerates it and fails on any
//! difference. `CALLGATE_BLESS=1 cargo test -p callgate-ffi --test header` rewrites it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::Path;

#[test]
fn the_committed_header_matches_the_source() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let fresh = String::from_utf8(fresh).expect("UTF-8 header");
    let path = crate_dir.join("include/callgate.h");
    if std::env::var_os("CALLGATE_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write include/callgate.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != fresh {
        let first = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "include/callgate.h is out of date (first difference at line {}); regenerate it with \
             `CALLGATE_BLESS=1 cargo test -p callgate-ffi --test header` and commit it",
            first + 1
        );
    }
}
