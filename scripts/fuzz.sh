#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets/) for SECONDS each (default 60), one at a
# time in one process (the machine is shared), and prints executions per target. Needs the
# nightly toolchain; installs cargo-fuzz if missing.
#
#   scripts/fuzz.sh              # every target, 60 s each
#   scripts/fuzz.sh 300          # every target, 5 minutes each
#   TARGETS='sip_datagram http_check' scripts/fuzz.sh 120
#   SANITIZER=address scripts/fuzz.sh   # default `none`: the targets are safe Rust, and
#                                       # unsanitized runs are several times faster
#   MAX_LEN=20000 scripts/fuzz.sh       # largest input tried (default 8192 bytes)
#   STOP_AT_FIRST=1 scripts/fuzz.sh     # stop a target at its first finding; by default
#                                       # libFuzzer's fork mode goes on (-ignore_crashes) and
#                                       # saves every one, so an open regression among the
#                                       # seeds doesn't stop the run
#
# The committed seeds (fuzz/corpus/<target>/, fuzz/regressions/<target>/) are read, never
# written: what a run learns goes to fuzz/target/corpus/<target>/ (kept between runs, not
# committed; minimise into the committed corpus with `cargo fuzz cmin` when it is worth it).
# A crash or broken invariant is saved under fuzz/artifacts/<target>/: minimise it with
# `cargo +nightly fuzz tmin <target> <file>`, commit it under fuzz/regressions/<target>/, and
# the stable replay tests (tests/fuzz_replay.rs, daemon/tests/fuzz_replay.rs) keep it fixed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
sanitizer="${SANITIZER:-none}"
max_len="${MAX_LEN:-8192}"
mode=()
[[ -z "${STOP_AT_FIRST:-}" ]] && mode=(-fork=1 -ignore_crashes=1)

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "the nightly toolchain is needed: rustup toolchain install nightly" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz" >&2
  cargo install --locked cargo-fuzz
fi

if [[ -n "${TARGETS:-}" ]]; then
  read -r -a targets <<< "$TARGETS"
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

# Built once, then each target's binary is run directly: the same build for every target,
# however long the run (`cargo fuzz run` would rebuild whenever a source changed meanwhile).
cargo +nightly fuzz build -s "$sanitizer"
triple="$(rustc +nightly -vV | sed -n 's/^host: //p')"
bin="fuzz/target/$triple/release"

mkdir -p fuzz/target/logs
failed=()
summary=()
for t in "${targets[@]}"; do
  work="fuzz/target/corpus/$t"
  mkdir -p "$work" "fuzz/artifacts/$t"
  seeds=("fuzz/corpus/$t")
  [[ -d "fuzz/regressions/$t" ]] && seeds+=("fuzz/regressions/$t")
  log="fuzz/target/logs/$t.log"
  echo "== $t: ${seconds}s" >&2
  status=0
  before=$(find "fuzz/artifacts/$t" -type f | wc -l)
  "$bin/$t" "$work" "${seeds[@]}" \
    -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" "${mode[@]}" >"$log" 2>&1 || status=$?
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | tail -1 | grep -o '[0-9]*$' || true)
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | tail -1 | grep -o '[0-9]*$' || true)
  # Fork mode prints no final stats: its last `#N: … exec/s: R` line says as much.
  [[ -z "$execs" ]] && execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#' || true)
  [[ -z "$rate" && "$execs" =~ ^[0-9]+$ ]] && rate=$((execs / seconds))
  crashes=$(find "fuzz/artifacts/$t" -type f | wc -l)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo "?")
  corpus=$(find "$work" -type f | wc -l)
  if [[ $status -ne 0 || $crashes -gt $before ]]; then
    failed+=("$t")
    verdict="FAILED (see $log, fuzz/artifacts/$t/)"
  else
    verdict="ok"
  fi
  summary+=("$(printf '%-14s %12s execs %8s exec/s  cov %6s  corpus %6s  artifacts %3s  %s' \
    "$t" "${execs:-?}" "${rate:-?}" "$cov" "$corpus" "$crashes" "$verdict")")
done

printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "targets that found something: ${failed[*]}" >&2
  exit 1
fi
