#!/usr/bin/env bash
# The enterprise-scale run: generates a platform directory (JSON: every user with an
# extension and a DID, 20 queues of 50 agents per tenant, a mix of built-in roles), imports it
# into a fresh SQLite store with the release binary, starts `callgate serve` on it, and times
# one-user DELETEs through the admin API (the answer comes once the store has committed and
# the local table has applied the change).
#
#   scripts/enterprise.sh 1 100000     # one tenant of 100,000 users
#   scripts/enterprise.sh 1000 1000    # 1,000 tenants of 1,000 users
#
# Prints the import's time and peak memory, the time until the daemon answers, its resident
# memory, and min / median / max of DELETES (default 20) one-user deletes and as many
# one-user PUTs (a user suspended) in tenant t0000.
set -euo pipefail
cd "$(dirname "$0")/.."
tenants="${1:-1}"
users="${2:-100000}"
deletes="${DELETES:-20}"
work="$(mktemp -d)"
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release -p callgate-daemon >&2
bin=target/release/callgate
python3 scripts/gen_platform.py "$tenants" "$users" "$work/platform.json"
db="sqlite://$work/store.db"
/usr/bin/time -f "import: %e s, peak %M KB" "$bin" --db "$db" import "$work/platform.json"
token="$("$bin" --db "$db" token ops | tail -1)"
port=$((20000 + RANDOM % 20000))
start=$(date +%s.%N)
"$bin" --db "$db" serve --http "127.0.0.1:$port" --sip "127.0.0.1:$((port + 1))" >"$work/serve.log" 2>&1 &
pid=$!
until curl -s -o /dev/null "127.0.0.1:$port/v1/check/caller-id"; do sleep 0.05; done
echo "serve: answering after $(echo "$(date +%s.%N) - $start" | bc) s, $(ps -o rss= -p "$pid") KB resident"
for i in $(seq 1 "$deletes"); do
  curl -s -o /dev/null -w "%{time_total}\n" -X DELETE -H "Authorization: Bearer $token" \
    "127.0.0.1:$port/v1/tenants/t0000/users/u$((i * 7))"
done | sort -n | awk '{a[NR]=$1} END {printf "one-user DELETE: min %.1f ms, median %.1f ms, max %.1f ms (%d)\n", a[1]*1000, a[int((NR+1)/2)]*1000, a[NR]*1000, NR}'
for i in $(seq 1 "$deletes"); do
  curl -s -o /dev/null -w "%{time_total}\n" -X PUT -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d '{"role":"basic_user","status":"suspended"}' \
    "127.0.0.1:$port/v1/tenants/t0000/users/u$((i * 7 + 3))"
done | sort -n | awk '{a[NR]=$1} END {printf "one-user PUT (suspend): min %.1f ms, median %.1f ms, max %.1f ms (%d)\n", a[1]*1000, a[int((NR+1)/2)]*1000, a[NR]*1000, NR}'
