#!/usr/bin/env bash
# Four doors, one answer: asks the engine, the daemon's HTTP API, its SIP door and the C
# library (a replica over the feed) the same generated questions about N generated
# directories, 64 questions each, and stops at the first disagreement, showing it (the
# questions that disagreed, every door's answer, the shrunk directory).
#
#   scripts/differential.sh [N]     # default 10000 directories (640,000 questions)
#
# PROPTEST_RNG_SEED=S repeats a run (proptest prints the seed of a failing one).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10000}"
case "$n" in
  ''|*[!0-9]*) echo "usage: $0 [N directories, default 10000]" >&2; exit 2 ;;
esac
DIFFERENTIAL_CASES="$n" cargo test --release -p callgate-ffi --test differential -- --nocapture four_doors_give_one_answer
