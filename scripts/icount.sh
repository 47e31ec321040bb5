#!/usr/bin/env bash
# Instructions per hot check, counted by callgrind: deterministic where timings are not (this
# machine has no cycle counters for perf, and criterion's spread between runs is 20-40%).
# Builds scripts/icount/main.rs against each engine source tree given (default: this one) and
# prints, per check kind, the instructions of one check, averaged over N checks.
#
#   scripts/icount.sh                      # this tree
#   git worktree add /tmp/old 93c1771 && scripts/icount.sh /tmp/old .   # before and after
#
# Needs valgrind (installed if missing, as root). N defaults to 10000 (ICOUNT_CHECKS).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
n="${ICOUNT_CHECKS:-10000}"
trees=("$@")
[ ${#trees[@]} -gt 0 ] || trees=("$here")
if ! command -v valgrind >/dev/null; then
  apt-get update -qq && apt-get install -y -qq valgrind >/dev/null
fi
kinds="caller_id caller_id_substitute agent_pause recording feature_code permission"
for tree in "${trees[@]}"; do
  tree="$(cd "$tree" && pwd)"
  work="$(mktemp -d)"
  mkdir -p "$work/src"
  cp "$here/scripts/icount/main.rs" "$work/src/main.rs"
  # The same generated platform for every tree: this one's generator.
  cp "$here/benches/support/platform.rs" "$work/src/platform.rs"
  cp "$tree/Cargo.lock" "$work/Cargo.lock"
  features=""
  grep -q '_paused: bool' "$tree/src/decide.rs" && features="--features paused-arg"
  cat > "$work/Cargo.toml" <<TOML
[package]
name = "icount"
version = "0.0.0"
edition = "2024"
publish = false
[dependencies]
callgate = { path = "$tree" }
[features]
paused-arg = []
[profile.release]
debug = "line-tables-only"
[workspace]
TOML
  # One target dir per tree, beside this tree's, so a rerun rebuilds only what changed.
  target="$here/target/icount/$(echo "$tree" | md5sum | cut -c1-8)"
  (cd "$work" && CARGO_TARGET_DIR="$target" cargo build --release --quiet $features)
  echo "# $tree ($(git -C "$tree" rev-parse --short HEAD 2>/dev/null || echo '?')): instructions per check, mean of $n"
  for kind in $kinds; do
    total=$(valgrind --tool=callgrind --toggle-collect='icount::run*' --callgrind-out-file=/dev/null \
      "$target/release/icount" "$kind" "$n" 2>&1 | awk '/Collected/ {print $4}')
    if [ -z "$total" ]; then
      echo "icount: callgrind gave no count for $kind (run it by hand to see why)" >&2
      exit 1
    fi
    printf '%-22s %6d\n' "$kind" $((total / n))
  done
  rm -rf "$work"
done
