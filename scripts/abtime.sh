#!/usr/bin/env bash
# Wall-clock time of each hot check, engine tree A against engine tree B, in one process
# (scripts/abtime/main.rs): the same generated platform, the two engines run in alternating
# short bursts, and the per-round ratio B/A reported as quartiles. Adjacent bursts see the
# same machine, so the ratio is steadier than criterion's figures from two separate runs.
#
#   git worktree add /tmp/old 93c1771 && scripts/abtime.sh /tmp/old .          # 1,000,000 users
#   ABTIME_TENANTS=1 scripts/abtime.sh /tmp/old . caller_id                    # 1,000 users
#
# ABTIME_ROUNDS (default 200) rounds per check; ABTIME_ORDER=ba builds B's table first.
# Each tree's engine package is copied and renamed (engine_a, engine_b) so one binary can
# link both; the harness is pinned to one core when taskset is there.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -ge 2 ] || { echo "usage: $0 TREE_A TREE_B [kind…]" >&2; exit 2; }
a="$(cd "$1" && pwd)"; b="$(cd "$2" && pwd)"; shift 2
tenants="${ABTIME_TENANTS:-1000}"
rounds="${ABTIME_ROUNDS:-200}"
work="$here/target/abtime/harness"
rm -rf "$work/src"
mkdir -p "$work/src"
cp "$here/scripts/abtime/main.rs" "$work/src/main.rs"
# The same generated platform for both trees: this one's generator.
for side in a b; do
  mkdir -p "$work/src/plat_$side"
  cp "$here/benches/support/platform.rs" "$work/src/plat_$side/platform.rs"
done
features=()
for side in a b; do
  tree="${!side}"
  # Beside the harness, not in it: each is a workspace root of its own.
  engine="$here/target/abtime/engine_$side"
  # Copied with their times, so a rerun rebuilds only an engine whose files changed.
  mkdir -p "$engine"
  rm -rf "$engine/src"
  cp -a "$tree/src" "$engine/src"
  # The engine's package alone, renamed; the workspace's dependency table kept for inheritance.
  sed -e "0,/^name = \"callgate\"/s//name = \"engine_$side\"/" \
      -e 's/^members = .*/members = ["."]/' \
      -e '/^\[\[bench\]\]/,/^$/d' -e '/^\[dev-dependencies\]/,/^$/d' \
      "$tree/Cargo.toml" > "$engine/Cargo.toml.new"
  if cmp -s "$engine/Cargo.toml.new" "$engine/Cargo.toml"; then rm "$engine/Cargo.toml.new"
  else mv "$engine/Cargo.toml.new" "$engine/Cargo.toml"; fi
  grep -q '_paused: bool' "$tree/src/decide.rs" && features+=("$side-paused-arg")
done
mkdir -p "$work"
cat > "$work/Cargo.toml" <<TOML
[package]
name = "abtime"
version = "0.0.0"
edition = "2024"
publish = false
[dependencies]
engine_a = { path = "../engine_a" }
engine_b = { path = "../engine_b" }
[features]
a-paused-arg = []
b-paused-arg = []
[profile.release]
debug = "line-tables-only"
[workspace]
TOML
# The dependency versions this tree locks, for both engines.
cp "$here/Cargo.lock" "$work/Cargo.lock"
feature_flag=""
[ ${#features[@]} -gt 0 ] && feature_flag="--features=$(IFS=,; echo "${features[*]}")"
(cd "$work" && CARGO_TARGET_DIR="$here/target/abtime/target" cargo build --release --quiet $feature_flag)
echo "# a = $a ($(git -C "$a" rev-parse --short HEAD 2>/dev/null || echo '?')), b = $b ($(git -C "$b" rev-parse --short HEAD 2>/dev/null || echo '?'))"
pin=(); command -v taskset >/dev/null && pin=(taskset -c 1)
"${pin[@]}" "$here/target/abtime/target/release/abtime" "$tenants" "$rounds" "$@"
