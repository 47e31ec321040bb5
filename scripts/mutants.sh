#!/usr/bin/env bash
# Mutation testing of the engine's decision rules: cargo-mutants mutates src/decide.rs,
# src/catalog.rs, src/dial.rs (emergency and dial-string rules) and the reach rules of
# src/table/ (reach.rs whole; from index.rs and compiled.rs: contains, the queue/number/owner
# lookups, emergency matching), and runs only the engine's decision tests against each mutant
# (reference_model, seeds, decisions, properties). Prints caught / missed / unviable /
# timeout; the missed mutants (the ones no test notices) are listed in
# target/mutants/mutants.out/missed.txt (OUT=dir/mutants.out to put them elsewhere).
#
#   scripts/mutants.sh                 # everything above (long: hours on 2 cores)
#   scripts/mutants.sh src/catalog.rs  # one file
#   TIMEOUT=120 JOBS=1 scripts/mutants.sh
#   RE='reach_of' scripts/mutants.sh src/table/reach.rs   # only mutants whose name matches RE
#   TESTS='seeds decisions' scripts/mutants.sh      # other test targets (space-separated)
#   SHARD=0/24 scripts/mutants.sh                   # one 24th of the mutants (a sample)
#   ITERATE=1 scripts/mutants.sh                    # skip mutants an earlier run in OUT caught
#
# cargo-mutants builds in its own copy of the tree (with its own target dir), so it never
# touches the working tree or the shared target dir. Built with the `mutants` profile
# (opt-level 1, incremental: `PROFILE=release` for the release build).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo mutants --version >/dev/null 2>&1; then
  echo "installing cargo-mutants" >&2
  cargo install --locked cargo-mutants
fi

timeout="${TIMEOUT:-300}"
jobs="${JOBS:-1}"
out="${OUT:-target/mutants/mutants.out}"
read -r -a tests <<< "${TESTS:-reference_model seeds decisions properties}"
# The engine's own unit tests too (`--lib`): some rules are pinned there (dial.rs's tables).
test_args=(--lib)
for t in "${tests[@]}"; do test_args+=(--test "$t"); done
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  files=(src/decide.rs src/catalog.rs src/table/reach.rs src/table/index.rs src/table/compiled.rs src/dial.rs)
fi

args=()
for f in "${files[@]}"; do args+=(--file "$f"); done
# In src/table/ only the reach rules are in question, not the index or the DashMap plumbing.
default_re='^src/(decide|catalog|dial)\.rs|^src/table/reach\.rs|^src/table/(index|compiled)\.rs.*(contains|CompiledTenant::(queue|number|owner_of))'
args+=(--re "${RE:-$default_re}")
[ -n "${SHARD:-}" ] && args+=(--shard "$SHARD")
[ -n "${ITERATE:-}" ] && args+=(--iterate)
# Debug impls are noise.
args+=(--exclude-re 'impl (std::fmt::)?Debug|fmt::Debug')

status=0
cargo mutants --package callgate --profile "${PROFILE:-mutants}" --timeout "$timeout" --jobs "$jobs" \
  --output "$(dirname "$out")" "${args[@]}" -- "${test_args[@]}" || status=$?

count() { if [ -f "$out/$1.txt" ]; then grep -c . "$out/$1.txt" || true; else echo 0; fi; }
echo "caught:   $(count caught)"
echo "missed:   $(count missed)"
echo "unviable: $(count unviable)"
echo "timeout:  $(count timeout)"
[ -s "$out/missed.txt" ] && { echo "missed mutants:"; cat "$out/missed.txt"; }
# cargo-mutants exits 2 when some mutants were missed, 3 on timeouts: pass that on.
exit "$status"
