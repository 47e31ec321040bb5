#!/usr/bin/env bash
# Mutation testing of the engine's decision rules: cargo-mutants mutates src/decide.rs,
# src/catalog.rs and the reach rules of src/table.rs (reach, reach_of, user_site, contains,
# queue/number lookups), and runs only the engine's decision tests against each mutant
# (reference_model, seeds, decisions, properties). Prints caught / missed / unviable /
# timeout; the missed mutants (the ones no test notices) are listed in mutants.out/missed.txt.
#
#   scripts/mutants.sh                 # everything above (long: hours on 2 cores)
#   scripts/mutants.sh src/catalog.rs  # one file
#   TIMEOUT=120 JOBS=1 scripts/mutants.sh
#
# cargo-mutants builds in its own copy of the tree (with its own target dir), so it never
# touches the working tree or the shared target dir; `--profile release` as the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo mutants --version >/dev/null 2>&1; then
  echo "installing cargo-mutants" >&2
  cargo install --locked cargo-mutants
fi

timeout="${TIMEOUT:-300}"
jobs="${JOBS:-1}"
out="${OUT:-mutants.out}"
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  files=(src/decide.rs src/catalog.rs src/table.rs)
fi

args=()
for f in "${files[@]}"; do args+=(--file "$f"); done
# In table.rs only the reach rules are in question, not the index or the DashMap plumbing.
args+=(--re '^src/(decide|catalog|dial)\.rs|^src/table\.rs.*(reach|user_site|contains|fn queue|fn number|is_emergency|owner_of)')
# Constructors of the lint-denied kind and Debug impls are noise.
args+=(--exclude-re 'impl (std::fmt::)?Debug|fmt::Debug')

status=0
cargo mutants --package callgate --profile release --timeout "$timeout" --jobs "$jobs" \
  --output "$(dirname "$out")" "${args[@]}" \
  -- --test reference_model --test seeds --test decisions --test properties || status=$?

count() { if [ -f "$out/$1.txt" ]; then grep -c . "$out/$1.txt" || true; else echo 0; fi; }
echo "caught:   $(count caught)"
echo "missed:   $(count missed)"
echo "unviable: $(count unviable)"
echo "timeout:  $(count timeout)"
[ -s "$out/missed.txt" ] && { echo "missed mutants:"; cat "$out/missed.txt"; }
# cargo-mutants exits 2 when some mutants were missed, 3 on timeouts: pass that on.
exit "$status"
