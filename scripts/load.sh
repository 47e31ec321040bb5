#!/usr/bin/env bash
# Load-tests callgate's SIP endpoint with sipp and, in the same run on the same cores,
# Kamailio as a stateless redirect server answering the same INVITEs from an htable, so the
# two can be compared. Loopback only; every run is bounded in calls and time.
#
#   scripts/load.sh                     # RATES="5000 10000 20000" DURATION=10
#   RATES="2000" DURATION=5 scripts/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RATES=${RATES:-"5000 10000 20000"}
DURATION=${DURATION:-10}
for tool in sipp kamailio python3; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install sip-tester kamailio python3" >&2; exit 1; }
done
cargo build --release -q -p callgate-daemon
BIN=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/callgate

T=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT

"$BIN" serve --db "sqlite://$T/callgate.db" --demo --sip 127.0.0.1:15070 --http 127.0.0.1:18070 2>"$T/callgate.log" &
pids+=($!)
kamailio -f examples/kamailio/redirect-htable.cfg -DD -E -w "$T" -P "$T/kamailio.pid" -Y "$T" -m 128 -M 16 \
  -A LISTEN_PORT=15062 2>"$T/kamailio.log" &
pids+=($!)
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:18070/readyz >/dev/null 2>&1 && break
  sleep 0.1
done
sleep 1

run() { # name port rate
  local name=$1 port=$2 rate=$3 calls=$(( $3 * DURATION ))
  local dir="$T/$name-$rate"; mkdir -p "$dir"
  ( cd "$dir" && sipp -sf "$OLDPWD/examples/sipp/uac_load.xml" -inf "$OLDPWD/examples/sipp/load_demo.csv" \
      -i 127.0.0.1 -p $((16000 + RANDOM % 2000)) -r "$rate" -m "$calls" -l $(( rate * 2 )) -nostdin \
      -timeout $(( DURATION * 3 + 10 ))s -trace_stat -stf stat.csv -fd 1 -trace_rtt -rtt_freq 1000 \
      127.0.0.1:"$port" >/dev/null 2>&1 || true )
  python3 - "$dir" "$name" "$rate" <<'PY'
import csv, glob, sys
d, name, rate = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = list(csv.reader(open(f"{d}/stat.csv"), delimiter=";"))
head, last = rows[0], rows[-1]
col = lambda n: last[head.index(n)]
ok, failed = int(col("SuccessfulCall(C)")), int(col("FailedCall(C)"))
elapsed = col("ElapsedTime(C)")
h, m, s = elapsed.split(":")[:3]
secs = int(h) * 3600 + int(m) * 60 + float(s)
times = []
for f in glob.glob(f"{d}/*_rtt.csv"):
    for r in list(csv.reader(open(f), delimiter=";"))[1:]:
        try: times.append(float(r[1]))
        except (ValueError, IndexError): pass
times.sort()
pct = lambda p: times[min(len(times) - 1, int(len(times) * p))] if times else float("nan")
print(f"| {name} | {rate} | {ok/secs if secs else 0:,.0f} | {ok} | {failed} | {pct(0.5):.2f} | {pct(0.99):.2f} |")
PY
}

echo "| server | offered INVITE/s | answered/s | calls ok | failed | p50 ms | p99 ms |"
echo "|---|---|---|---|---|---|---|"
for rate in $RATES; do
  run callgate 15070 "$rate"
  run kamailio-htable 15062 "$rate"
done
