#!/usr/bin/env bash
# Runs callgate's whole test suite on a fresh Debian machine with Rust: installs the real
# peers the tests talk to (sipp, Kamailio with its Python 3, SQLite and secsipid modules, the sqlite3
# CLI, PostgreSQL, a C compiler, valgrind, systemd for systemd-analyze, prometheus for
# promtool) when they are
# missing, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v sipp >/dev/null || need+=(sip-tester)
command -v kamailio >/dev/null || need+=(kamailio)
kamailio_modules=/usr/lib/x86_64-linux-gnu/kamailio/modules
[ -e $kamailio_modules/app_python3.so ] || need+=(kamailio-python3-modules)
[ -e $kamailio_modules/db_sqlite.so ] || need+=(kamailio-sqlite-modules)
[ -e $kamailio_modules/secsipid.so ] || need+=(kamailio-secsipid-modules)
command -v sqlite3 >/dev/null || need+=(sqlite3)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v cc >/dev/null || need+=(gcc)
command -v valgrind >/dev/null || need+=(valgrind)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v promtool >/dev/null || need+=(prometheus)
command -v pkg-config >/dev/null || need+=(pkg-config)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing test peers: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The code as written: formatted, and clean of every clippy lint the workspace sets (the
# unwrap/expect/panic/indexing bans included), before anything runs.
cargo fmt --all --check
cargo clippy --workspace --all-targets --release --locked -- -D warnings
# Every doc comment's links resolve, crate by crate (the daemon's binary, `callgate`, has no
# docs of its own: rustdoc would write them where the engine's go).
for crate in callgate callgate-wire callgate-daemon callgate-ffi; do
  RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --release --locked --quiet -p "$crate"
done

cargo test --workspace --release --locked

# The Debian package as an operator installs it: built, unpacked and checked, its unit
# verified, a C program built against it with pkg-config run against its daemon.
scripts/check-package.sh
