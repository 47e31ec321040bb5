#!/usr/bin/env bash
# Builds callgate's Debian package with cargo-deb (installed first if missing): the release
# daemon and libcallgate (.so, .a), then the .deb from `[package.metadata.deb]` in
# daemon/Cargo.toml. Prints the package's path, size and contents.
#
#   scripts/package.sh            # target/debian/callgate_<version>-1_<arch>.deb
#
# Debug line tables are stripped from the packaged binaries (the release profile keeps them
# for backtraces and profiling in the workspace).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo deb --version >/dev/null 2>&1; then
    echo "installing cargo-deb" >&2
    cargo install --locked cargo-deb --version 3.8.0
fi

cargo build --release -p callgate-daemon -p callgate-ffi --bin callgate --lib
# The man page and completions, from the binary's own clap definitions.
gen=target/release/gen
mkdir -p "$gen"
target/release/callgate manpage >"$gen/callgate.1"
target/release/callgate completions bash >"$gen/callgate.bash"
target/release/callgate completions zsh >"$gen/_callgate"
target/release/callgate completions fish >"$gen/callgate.fish"
deb=$(cargo deb -p callgate-daemon --no-build --strip --no-dbgsym --no-separate-debug-symbols \
    | tail -n 1)
if [ ! -f "$deb" ]; then
    echo "cargo deb did not report a package (got: \`$deb\`)" >&2
    exit 1
fi

echo "$deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb"
dpkg-deb --contents "$deb"
