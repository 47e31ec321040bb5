#!/usr/bin/env bash
# Compares the engine with the reference model (tests/model/reference.rs) on N generated
# directories, 64 generated questions each: `scripts/model-check.sh 50000` asks 3.2 million.
#
#   scripts/model-check.sh [N]           # the gate: stops at the first disagreement and shows
#                                        # it (question, both answers, shrunk directory)
#   scripts/model-check.sh N --survey    # counts every kind of disagreement over all N
#                                        # directories, with the smallest example of each
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10000}"
case "$n" in
  ''|*[!0-9]*) echo "usage: $0 [N directories, default 10000] [--survey]" >&2; exit 2 ;;
esac
if [ "${2:-}" = "--survey" ]; then
  PROPTEST_CASES="$n" cargo test --release --test reference_model -- --ignored --nocapture survey_disagreements
else
  PROPTEST_CASES="$n" cargo test --release --test reference_model -- --nocapture the_engine_decides_as_the_reference_model
fi
