#!/usr/bin/env bash
# The fleet run: one Postgres, DAEMONS daemons on it (each with its feed socket), REPLICAS
# libcallgate replicas in one process spread over those sockets, one tenant of BIG users and
# SMALL tenants of 1,000 users; then REVOKE one-user revocations through daemon 0's admin API,
# alternating between the big tenant and the small ones, each timed from the API's answer to
# the last replica's denial (plugin-ffi/examples/fleet.rs).
#
#   scripts/fleet.sh                     # 20 daemons, 200 replicas, 1 × 20,000 + 50 × 1,000 users
#   DAEMONS=4 REPLICAS=20 BIG=100000 SMALL=100 scripts/fleet.sh
#
# Run as root (Postgres runs as the `postgres` user). Every replica holds the whole platform,
# so memory is REPLICAS × the platform's compiled size: size BIG/SMALL to the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
DAEMONS=${DAEMONS:-20}
REPLICAS=${REPLICAS:-200}
BIG=${BIG:-20000}
SMALL=${SMALL:-50}
REVOKE=${REVOKE:-100}

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x "$PGBIN/initdb" ]] || { echo "fleet.sh: no PostgreSQL server (apt-get install postgresql)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "fleet.sh: run as root (Postgres runs as user postgres)" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || true

cargo build --release -q -p callgate-daemon
cargo build --release -q -p callgate-ffi --example fleet
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN=$TARGET/release/callgate

T=$(mktemp -d /tmp/callgate-fleet.XXXXXX)
chmod 755 "$T"
base=$(( 20000 + RANDOM % 20000 ))
PGPORT=$base
PGURL="postgres://postgres@127.0.0.1:$PGPORT/callgate"
pg_ctl() { runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T/pg/data" "$@"; }
cleanup() {
  local rc=$?
  for f in "$T"/daemon-*.pid; do [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pg_ctl -m immediate -w stop >/dev/null 2>&1 || true
  if (( rc == 0 )) && [[ -z ${FLEET_KEEP:-} ]]; then rm -rf "$T"; else echo "fleet.sh: logs kept in $T" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

mkdir -p "$T/pg/sock"; chown -R postgres:postgres "$T/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$T/pg/data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync >"$T/pg/initdb.log" 2>&1
pg_ctl -l "$T/pg/postgres.log" -w -t 60 -o "-p $PGPORT -k $T/pg/sock -c listen_addresses=127.0.0.1 -c max_connections=$(( DAEMONS * 10 + 50 ))" start >/dev/null
"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres callgate
log "postgres on :$PGPORT"

python3 scripts/gen_platform.py "$T/platform.json" "1x$BIG" "${SMALL}x1000"
/usr/bin/time -f "%e s, peak %M KB" -o "$T/import.time" "$BIN" --db "$PGURL" import "$T/platform.json" >/dev/null
log "imported 1 × $BIG + $SMALL × 1,000 users in $(cat "$T/import.time")"
TOKEN=$("$BIN" --db "$PGURL" token fleet | tail -1)

sockets=()
for i in $(seq 0 $(( DAEMONS - 1 ))); do
  http=$(( base + 1 + 2 * i )); sip=$(( http + 1 ))
  "$BIN" --db "$PGURL" serve --http "127.0.0.1:$http" --sip "127.0.0.1:$sip" --feed "$T/feed-$i.sock" \
    >"$T/daemon-$i.log" 2>&1 &
  echo $! >"$T/daemon-$i.pid"
  sockets+=("$T/feed-$i.sock")
done
for i in $(seq 0 $(( DAEMONS - 1 ))); do
  http=$(( base + 1 + 2 * i ))
  for _ in $(seq 1200); do curl -sf "http://127.0.0.1:$http/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$http/readyz" >/dev/null || { echo "fleet.sh: daemon $i never became ready" >&2; exit 1; }
done
rss=0; for f in "$T"/daemon-*.pid; do rss=$(( rss + $(ps -o rss= -p "$(cat "$f")") )); done
log "$DAEMONS daemons ready, $(( rss / DAEMONS / 1024 )) MiB resident each on average"

# Revocations: every other one in the big tenant (t0000), the rest spread over small tenants.
revocations=()
for i in $(seq 0 $(( REVOKE - 1 ))); do
  if (( i % 2 == 0 )); then
    revocations+=("t0000/u$(( 7 + i * 13 ))")
  else
    revocations+=("$(printf 't%04d' $(( 1 + (i * 7) % SMALL )))/u$(( 11 + i ))")
  fi
done
"$TARGET/release/examples/fleet" "127.0.0.1:$(( base + 1 ))" "$TOKEN" "$REPLICAS" "${sockets[@]}" -- "${revocations[@]}" \
  >"$T/revocations.tsv"
