#!/usr/bin/env bash
# Compares the engine with the reference model (tests/model/reference.rs) on N generated
# directories, 64 generated questions each: `scripts/model-check.sh 50000` asks 3.2 million.
# Prints how many questions agreed and how long it took; on a disagreement, the question,
# both answers and the (shrunk) directory.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10000}"
case "$n" in
  ''|*[!0-9]*) echo "usage: $0 [N directories, default 10000]" >&2; exit 2 ;;
esac
PROPTEST_CASES="$n" cargo test --release --test reference_model -- --nocapture
